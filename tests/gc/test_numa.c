/* Arenas are placed on the NUMA node of the P that asks.  A task on each
 * P allocates large objects there; a thread pinned to a CPU of *another*
 * node touches them first, so the pages land on the asking P's node only
 * if the arena's policy (mbind) put them there, not by first touch;
 * get_mempolicy says where each page is.  Every node with a P must be
 * checked: a run that checks nothing fails.
 * Skipped without libnuma or with a single node (scripts/numa_qemu.sh
 * runs it on a two-node QEMU guest). */
// ctest-timeout: 60
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#if __has_include(<numa.h>) && __has_include(<numaif.h>)
#include <numa.h>
#include <numaif.h>

#define PER_P 8
#define MAX_NODES 31
#define SIZE (1 << 20)

static _Atomic int claimed[MAX_NODES], done, bad, checked, nodes_checked_mask;
static int nprocs;
static cpu_set_t allowed; /* the process's CPUs, read before rg_run pins its threads */

/* A CPU this process may use on a node other than `node`, or -1. */
static int cpu_off_node(int node)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &allowed) && numa_node_of_cpu(c) >= 0 && numa_node_of_cpu(c) != node)
			return c;
	return -1;
}

static int node_here(void)
{
	int n = numa_node_of_cpu(sched_getcpu());
	CHECK(n >= 0 && n < MAX_NODES);
	return n;
}

struct touch {
	unsigned char **objs;
	const int *cpus;
	int n;
};

/* Touches each object first, from its CPU (moving there first). */
static void *toucher(void *arg)
{
	struct touch *t = arg;
	for (int i = 0; i < t->n; i++) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t->cpus[i], &set);
		CHECK_EQ(pthread_setaffinity_np(pthread_self(), sizeof set, &set), 0);
		CHECK_EQ(sched_getcpu(), t->cpus[i]);
		memset(t->objs[i], 1, SIZE);
	}
	return NULL;
}

static void check_here(void)
{
	unsigned char *objs[PER_P];
	int nodes[PER_P], cpus[PER_P];
	/* the node after each allocation: a large allocation may stop at a
	 * safepoint (a collection) and resume on another P, and allocates
	 * from the P it resumed on; nothing between its return and
	 * sched_getcpu parks */
	for (int i = 0; i < PER_P; i++) {
		objs[i] = rg_gc_alloc_noscan(SIZE);
		CHECK(objs[i]);
		nodes[i] = node_here();
		cpus[i] = cpu_off_node(nodes[i]);
		CHECK(cpus[i] >= 0);
	}
	struct touch t = { objs, cpus, PER_P };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, toucher, &t), 0);
	CHECK_EQ(pthread_join(th, NULL), 0); /* blocks this P briefly: a test */
	for (int i = 0; i < PER_P; i++) {
		int where = -1;
		CHECK_EQ(get_mempolicy(&where, NULL, 0, objs[i], MPOL_F_NODE | MPOL_F_ADDR), 0);
		atomic_fetch_add(&checked, 1);
		if (where != nodes[i])
			atomic_fetch_add(&bad, 1);
		atomic_fetch_or(&nodes_checked_mask, 1 << nodes[i]);
	}
	printf("P%d: %d objects allocated on nodes", rg_proc_id(), PER_P);
	for (int i = 0; i < PER_P; i++)
		printf(" %d", nodes[i]);
	printf(", first touched from nodes");
	for (int i = 0; i < PER_P; i++)
		printf(" %d", numa_node_of_cpu(cpus[i]));
	printf("\n");
}

/* Spins with preemption points, so that while it holds its P the other
 * tasks queued there are stolen by the idle Ps, then checks its node if
 * no task has yet this round. */
static void worker(void *arg)
{
	(void)arg;
	int64_t end = rg_now() + 20 * 1000000;
	while (rg_now() < end)
		rg_preempt_point();
	int z = 0;
	if (atomic_compare_exchange_strong(&claimed[node_here()], &z, 1))
		check_here();
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	(void)arg;
	nprocs = rg_procs();
	/* One P per allowed CPU (the default): every node of those CPUs
	 * has a P to check.  Fewer Ps (RINGO_PROCS): any node will do. */
	int want_mask = 0, n = 0;
	if (nprocs == CPU_COUNT(&allowed)) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &allowed) && numa_node_of_cpu(c) >= 0 && numa_node_of_cpu(c) < MAX_NODES)
				want_mask |= 1 << numa_node_of_cpu(c);
	}
	int64_t t0 = rg_now();
	/* rounds of workers until every wanted node was checked (5 s at most) */
	while (rg_now() - t0 < 5000000000LL) {
		int got = atomic_load(&nodes_checked_mask);
		if (got && (got & want_mask) == want_mask)
			break;
		for (int i = 0; i < MAX_NODES; i++)
			atomic_store(&claimed[i], 0); /* a check may have ended on another node */
		for (int i = 0; i < 4 * nprocs; i++, n++)
			CHECK(rg_go(worker, NULL) > 0);
		while (atomic_load(&done) < n)
			rg_sleep(1000000);
	}
	rg_gc_stats st;
	rg_gc_stats_get(&st);
	printf("%d pages checked, %d off-node, nodes checked 0x%x of 0x%x, arenas on %d nodes\n",
	       atomic_load(&checked), atomic_load(&bad), atomic_load(&nodes_checked_mask), want_mask,
	       st.numa_nodes);
	CHECK_EQ(atomic_load(&nodes_checked_mask) & want_mask, want_mask);
	CHECK(atomic_load(&checked) > 0);
	CHECK(st.numa_nodes >= (want_mask & (want_mask - 1) ? 2 : 1));
	/* preferred, not bound: a full node may spill; allow a little */
	CHECK(atomic_load(&bad) <= atomic_load(&checked) / 4);
	return 0;
}

int main(void)
{
	if (numa_available() < 0 || numa_max_node() < 1)
		SKIP("single NUMA node");
	CHECK_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
#else
int main(void) { SKIP("built without libnuma headers"); }
#endif
