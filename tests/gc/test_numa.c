/* Arenas are placed on the NUMA node of the P that asks: each P allocates
 * large objects and touches them; get_mempolicy says where the pages are.
 * Skipped without libnuma or with a single node. */
// ctest-timeout: 60
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#if __has_include(<numa.h>) && __has_include(<numaif.h>)
#include <numa.h>
#include <numaif.h>
#include <sched.h>

#define PER_P 8
static _Atomic int done, bad, checked;

static void on_p(void *arg)
{
	/* run until this task sits on the P it was made for */
	int want = (int)(intptr_t)arg;
	for (int i = 0; i < 1000 && rg_proc_id() != want; i++)
		rg_yield();
	if (rg_proc_id() == want) {
		int node = numa_node_of_cpu(sched_getcpu());
		for (int i = 0; i < PER_P; i++) {
			unsigned char *p = rg_gc_alloc_noscan(1 << 20);
			CHECK(p);
			memset(p, 1, 1 << 20);
			int where = -1;
			if (get_mempolicy(&where, NULL, 0, p, MPOL_F_NODE | MPOL_F_ADDR) == 0) {
				atomic_fetch_add(&checked, 1);
				if (where != node)
					atomic_fetch_add(&bad, 1);
			}
		}
	}
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	int n = rg_procs();
	for (int i = 0; i < n; i++)
		CHECK(rg_go(on_p, (void *)(intptr_t)i) > 0);
	while (atomic_load(&done) < n)
		rg_sleep(1000000);
	rg_gc_stats st;
	rg_gc_stats_get(&st);
	printf("%d pages checked, %d off-node, arenas on %d nodes\n", atomic_load(&checked),
	       atomic_load(&bad), st.numa_nodes);
	/* preferred, not bound: a full node may spill; allow a little */
	CHECK(atomic_load(&bad) <= atomic_load(&checked) / 4);
	return 0;
}

int main(void)
{
	if (numa_available() < 0 || numa_max_node() < 1)
		SKIP("single NUMA node");
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
#else
int main(void) { SKIP("built without libnuma headers"); }
#endif
