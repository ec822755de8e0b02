/* RINGO_GOGC=off: no automatic collection however much garbage; explicit
 * ones still run and reclaim it. */
// ctest-timeout: 60
// ctest-env: RINGO_GOGC=off
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

static _Atomic int done;

static void garbage(void *arg)
{
	for (int i = 0; i < 200000; i++)
		CHECK(rg_gc_alloc(128)); /* 25 MiB, several goals' worth */
	atomic_store(&done, 1);
}

static int main_fn(void *arg)
{
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK_EQ(st.gogc, -1);
	CHECK(rg_go(garbage, NULL) > 0);
	while (!atomic_load(&done))
		rg_sleep(1000000);
	rg_sleep(5000000); /* let it exit: its stack is no longer scanned */
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK_EQ(st.num_gc, 0);
	CHECK(st.heap_inuse >= (20u << 20));
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK_EQ(st.num_gc, 1);
	CHECK(st.heap_marked < (1u << 20));
	CHECK(st.heap_alloc < (1u << 20));
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
