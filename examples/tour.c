/*
 * examples/tour.c — ringo's runtime in one screen: tasks spread over every
 * CPU by work stealing, sleeps that cost no syscall of their own, a blocking
 * call that does not stall its P, cooperative preemption, and the counters
 * that say what happened.
 *
 *   tour [tasks]      (default 10000)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ringo.h>

#define MAXP 256
static _Atomic long done_on[MAXP];
static _Atomic long started_on[MAXP];
static _Atomic long migrated;
static _Atomic long finished;
static long ntasks = 10000;

static void worker(void *arg)
{
	long i = (long)(intptr_t)arg;
	int p0 = rg_proc_id();
	atomic_fetch_add(&started_on[p0], 1);
	/* some CPU work, with a preemption point */
	volatile unsigned x = (unsigned)i;
	for (int k = 0; k < 20000; k++) {
		x = x * 1103515245u + 12345u;
		if ((k & 1023) == 0)
			rg_preempt_point();
	}
	/* then sleep 1..10 ms */
	rg_sleep(1000000 + (i % 10) * 1000000);
	int p1 = rg_proc_id();
	if (p1 != p0)
		atomic_fetch_add(&migrated, 1);
	atomic_fetch_add(&done_on[p1], 1);
	atomic_fetch_add(&finished, 1);
}

static intptr_t slow_syscall(void *arg)
{
	usleep(50000); /* blocks this thread, not a P */
	return 7;
}

static int tour(void *arg)
{
	int n = rg_procs();
	printf("ringo tour: %d Ps, main is task %lld on P%d\n", n, (long long)rg_self(), rg_proc_id());
	int64_t t0 = rg_now();
	for (long i = 0; i < ntasks; i++)
		if (rg_go(worker, (void *)(intptr_t)i) < 0) {
			fprintf(stderr, "rg_go failed\n");
			return 1;
		}
	int64_t spawned = rg_now();
	intptr_t r = rg_blocking(slow_syscall, NULL);
	printf("a 50 ms blocking call returned %ld after %.1f ms; workers kept running: %ld finished by then\n",
	       (long)r, (rg_now() - spawned) / 1e6, atomic_load(&finished));
	while (atomic_load(&finished) < ntasks)
		rg_sleep(2000000);
	int64_t t1 = rg_now();
	printf("%ld tasks: spawned in %.2f ms, all done in %.1f ms\n", ntasks, (spawned - t0) / 1e6,
	       (t1 - t0) / 1e6);
	for (int p = 0; p < n && p < MAXP; p++)
		printf("  P%d: started %ld tasks, finished %ld\n", p, atomic_load(&started_on[p]),
		       atomic_load(&done_on[p]));
	rg_sched_stats st;
	rg_sched_stats_get(&st);
	printf("%ld tasks resumed on another P after sleeping\n", atomic_load(&migrated));
	printf("scheduler: %llu spawned, %llu exited, %llu stolen, %llu idle-P wake-ups, "
	       "%llu preemption requests, %llu blocking calls, %llu timers fired by an idle P\n",
	       (unsigned long long)st.tasks_spawned, (unsigned long long)st.tasks_exited,
	       (unsigned long long)st.steals, (unsigned long long)st.wakeups,
	       (unsigned long long)st.preempt_requests, (unsigned long long)st.blocking_calls,
	       (unsigned long long)st.timer_steals);
	printf("stacks: %llu with guard pages, %llu with canaries\n",
	       (unsigned long long)st.stacks_guarded, (unsigned long long)st.stacks_canary);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		char *end;
		ntasks = strtol(argv[1], &end, 10);
		if (*end || ntasks < 1 || ntasks > 10000000) {
			fprintf(stderr, "usage: %s [tasks (1..10000000)]\n", argv[0]);
			return 2;
		}
	}
	int r = rg_run(tour, NULL, NULL);
	return r < 0 ? 1 : r;
}
