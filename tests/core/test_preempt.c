/* sysmon notices a task that runs > 10 ms without yielding, and
 * rg_preempt_point then lets the other tasks of the P run. */
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"

static _Atomic int other_ran;
static _Atomic int64_t other_at;

static void other(void *arg)
{
	atomic_store(&other_at, rg_now());
	atomic_store(&other_ran, 1);
}

static int main_fn(void *arg)
{
	rg_yield(); /* start a fresh time slice (the P's tick moves) */
	int64_t t0 = rg_now(), end = t0 + 300000000;
	CHECK(rg_go(other, NULL) > 0); /* runnext of this, the only P */
	while (rg_now() < end && !atomic_load(&other_ran))
		rg_preempt_point(); /* a hot loop that cooperates */
	CHECK(atomic_load(&other_ran));
	int64_t waited = atomic_load(&other_at) - t0;
	printf("hogging task was preempted after %lld ms\n", (long long)waited / 1000000);
	CHECK(waited >= 9000000); /* 10 ms after the tick moved, which was before t0 */
	rg_sched_stats st;
	rg_sched_stats_get(&st);
	CHECK(st.preempt_requests >= 1);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 1 }), 0);
	return T_PASS;
}
