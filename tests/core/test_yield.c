/* Yield ping-pong: two tasks on one P alternate strictly with rg_yield
 * (rg_yield goes to the back of the local queue).  And a task that yields
 * while the global queue holds tasks (its P's queue overflowed there)
 * runs again only after all of them, as Go's Gosched.  And a task alone
 * on its P, yielding (or preempted) with another P idle, wakes nobody:
 * its own P runs it next, a woken P could only spin and steal it. */
#include <stdatomic.h>

#include "check.h"
#include "core/sched_int.h"
#include "ringo.h"

#define ROUNDS 100000
static int trace[2 * ROUNDS + 8];
static int pos;

static void player(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		trace[pos++] = me;
		rg_yield();
	}
}

static int main_fn(void *arg)
{
	CHECK_EQ(rg_procs(), 1);
	CHECK(rg_go(player, (void *)0) > 0);
	CHECK(rg_go(player, (void *)1) > 0);
	/* main waits at the back of the queue until both are done */
	while (pos < 2 * ROUNDS)
		rg_sleep(1000000);
	return 0;
}

#define SPAWNED 2000 /* well past a run queue (256): most overflow */
static _Atomic int ran;
static void one(void *arg) { atomic_fetch_add(&ran, 1); }

static int behind_main(void *arg)
{
	CHECK_EQ(rg_procs(), 1);
	for (int i = 0; i < SPAWNED; i++)
		CHECK(rg_go(one, NULL) > 0);
	rg_yield();
	/* put locally, this ran again after the ~256 tasks of the local
	 * queue, with the rest still waiting in the global queue */
	CHECK_EQ(atomic_load(&ran), SPAWNED);
	return 0;
}

/* 2 Ps, main the only task: 200,000 yields and 300 ms of preemption
 * points (sysmon flags it every 10-20 ms) wake no P and leave main on
 * its P.  Each used to wake the idle P, which spun up to 800 us and
 * could take main over. */
static int alone_main(void *arg)
{
	CHECK_EQ(rg_procs(), 2);
	rg_sched_stats a, b;
	/* the other P asleep in its ring, no P spinning: nothing but a
	 * wake can bring it to steal main.  Waited for by yielding, not
	 * sleeping: a sleep's timer would wake it (timer stealing) */
	for (int64_t end = rg_now() + 10000 * 1000000LL;;) {
		rg__p *other = rg__sched.allp[1 - rg_proc_id()];
		if (atomic_load(&other->status) == RG__P_IDLE && atomic_load(&rg__sched.nmspinning) == 0)
			break;
		CHECK(rg_now() < end);
		rg_yield();
	}
	rg_sched_stats_get(&a);
	int p = rg_proc_id();
	for (int i = 0; i < 200000; i++)
		rg_yield();
	for (int64_t end = rg_now() + 300 * 1000000LL; rg_now() < end;)
		rg_preempt_point();
	rg_sched_stats_get(&b);
	printf("alone: %llu wake-ups, %llu preemptions, %llu steals, P %d -> %d\n",
	       (unsigned long long)(b.wakeups - a.wakeups),
	       (unsigned long long)(b.preempt_requests - a.preempt_requests),
	       (unsigned long long)(b.steals - a.steals), p, rg_proc_id());
	CHECK(b.preempt_requests - a.preempt_requests >= 3);
	CHECK_EQ(b.wakeups - a.wakeups, 0);
	CHECK_EQ(b.steals - a.steals, 0);
	CHECK_EQ(rg_proc_id(), p);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(alone_main, NULL, &(rg_config){ .procs = 2, .quiet = 1 }), 0);
	rg_config cfg = { .procs = 1 };
	CHECK_EQ(rg_run(behind_main, NULL, &cfg), 0);
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	CHECK_EQ(pos, 2 * ROUNDS);
	/* Strict alternation, except where the 61st-tick fairness check or the
	 * main task's wake-ups interleave: allow a handful of repeats. */
	int repeats = 0;
	for (int i = 1; i < pos; i++)
		repeats += trace[i] == trace[i - 1];
	printf("repeats %d of %d\n", repeats, pos);
	CHECK(repeats < pos / 50);
	return T_PASS;
}
