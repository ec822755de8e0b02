/* main returning ends the run promptly, with tasks still sleeping, parked
 * far in the future, runnable and spinning-yielding; rg_run can run again. */
#include <stdatomic.h>

#include "check.h"
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif
#include "ringo.h"

static _Atomic int started;
static int nsleep = 1000, nyield = 4; /* fewer under valgrind */

static void long_sleeper(void *arg)
{
	atomic_fetch_add(&started, 1);
	rg_sleep(3600LL * 1000000000);
	CHECK(0 && "must not wake");
}

static void yielder(void *arg)
{
	atomic_fetch_add(&started, 1);
	for (;;)
		rg_yield();
}

static int main_fn(void *arg)
{
	for (int i = 0; i < nsleep; i++)
		CHECK(rg_go(long_sleeper, NULL) > 0);
	for (int i = 0; i < nyield; i++)
		CHECK(rg_go(yielder, NULL) > 0);
	while (atomic_load(&started) < nsleep + nyield)
		rg_sleep(1000000);
	for (int i = 0; i < nsleep; i++)
		CHECK(rg_go(long_sleeper, NULL) > 0); /* runnable, never ran */
	return (int)(intptr_t)arg;
}

int main(void)
{
	if (RUNNING_ON_VALGRIND) {
		nsleep = 100;
		nyield = 1;
	}
	for (int run = 0; run < 3; run++) {
		atomic_store(&started, 0);
		int64_t t0 = rg_now();
		rg_config cfg = { .nopin = run == 2 }; /* the last run unpinned */
		CHECK_EQ(rg_run(main_fn, (void *)(intptr_t)(7 + run), &cfg), 7 + run);
		int64_t el = rg_now() - t0;
		printf("run %d took %lld ms\n", run, (long long)el / 1000000);
		CHECK(el < 60000000000LL); /* a hang is the bug; sanitizers under load are slow */
	}
	CHECK_EQ(rg_go(long_sleeper, NULL), -ESHUTDOWN); /* outside rg_run */
	return T_PASS;
}
