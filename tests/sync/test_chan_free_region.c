/* Buffered channels of pointers made and freed at once on two Ps.  Each
 * such channel puts its buffer on the collector's region list
 * (rg__gc_region_add); rg_chan_free asked whether it had by reading its
 * region's next link without the list's lock, while another channel's add
 * or removal rewrote that link under the lock (its neighbour in the
 * list): a data race under TSan (found by core_soak_mix's pipelines).
 * Under TSan this reported on every run without the fix. */
// ctest-timeout: 60
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/sync.h"

static _Atomic int done;

static void churn(void *arg)
{
	(void)arg;
	int n = T_SANITIZED ? 20000 : 200000;
	for (int i = 0; i < n; i++) {
		rg_chan *c = rg_chan_make(sizeof(void *), 1 + (size_t)(i % 4));
		CHECK(c);
		void *p = rg_gc_alloc(32);
		CHECK(p);
		CHECK_EQ(rg_chan_send(c, &p, 0), 0);
		if (i % 3 == 0)
			rg_yield();
		rg_chan_free(c);
	}
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		CHECK(rg_go(churn, NULL) > 0);
	while (atomic_load(&done) < 4)
		rg_sleep(1000000);
	return 0;
}

int main(void)
{
	rg_config c = { .procs = 2, .quiet = 1, .nopin = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &c), 0);
	printf("chan_free_region: ok\n");
	return T_PASS;
}
