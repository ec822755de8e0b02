/* The global queue is not starved by busy local queues: every 61st
 * scheduling tick a P takes from it first.  Two tasks yielding to each
 * other forever keep P0's local queue full; a task readied from a thread
 * without a P (here: returning from rg_blocking) lands on the global queue
 * and must still run promptly.  Before the fix, the fast path and the loop
 * disagreed on which tick was the 61st and it waited forever. */
// ctest-timeout: 60
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"

static _Atomic int stop;
static void spinner(void *arg)
{
	while (!atomic_load(&stop))
		rg_yield();
}

static intptr_t quick(void *arg) { return 1; }

static int main_fn(void *arg)
{
	CHECK(rg_go(spinner, NULL) > 0);
	CHECK(rg_go(spinner, NULL) > 0);
	rg_sleep(1000000);
	int64_t worst = 0;
	for (int i = 0; i < 50; i++) {
		int64_t t0 = rg_now();
		CHECK_EQ(rg_blocking(quick, NULL), 1); /* back via the global queue */
		int64_t el = rg_now() - t0;
		if (el > worst)
			worst = el;
	}
	atomic_store(&stop, 1);
	printf("worst return from the global queue: %lld us\n", (long long)worst / 1000);
	CHECK(worst < 2000000000LL); /* generous: the bug was "never" */
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 1, .quiet = 1 }), 0);
	return T_PASS;
}
