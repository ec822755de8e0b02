/* rg_run returns while tasks on other Ps are still allocating and
 * starting collections.  The main task's return makes the other Ps exit
 * at their next scheduling point; a task that reached a collection in
 * that window used to wait forever in rg__stw_stop for a P that had
 * already exited (gc_blocking under TSan hung so in CI).  Each round
 * starts one churner per P, allocating 4 KiB objects so that a collection
 * starts every few hundred of them, lets them run a moment and returns:
 * a hang runs into the test's timeout. */
// ctest-timeout: 120
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define ROUNDS (T_SANITIZED ? 40 : 200)

static void *_Atomic sink; /* tasks on every P store: atomic */
static _Atomic long allocated;

static void churner(void *arg)
{
	for (;;) {
		for (int i = 0; i < 64; i++) {
			void *o = rg_gc_alloc(4096);
			CHECK(o);
			atomic_store_explicit(&sink, o, memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&allocated, 64, memory_order_relaxed);
		rg_yield();
	}
}

static int main_fn(void *arg)
{
	int round = (int)(intptr_t)arg;
	for (int i = 0; i < 2 * rg_procs(); i++)
		CHECK(rg_go(churner, NULL) > 0);
	/* 0-3 ms: returns at every phase of a collection cycle */
	rg_sleep((int64_t)(round % 4) * 1000000);
	return 0;
}

int main(void)
{
	rg_config cfg = { .quiet = 1 };
	for (int r = 0; r < ROUNDS; r++)
		CHECK_EQ(rg_run(main_fn, (void *)(intptr_t)r, &cfg), 0);
	rg_gc_stats st;
	rg_gc_stats_get(&st);
	printf("%d runs, %ld objects allocated, %llu collections\n", ROUNDS, (long)atomic_load(&allocated),
	       (unsigned long long)st.num_gc);
	CHECK(st.num_gc >= ROUNDS / 4); /* collections did run at shutdown */
	return T_PASS;
}
