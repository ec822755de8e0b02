/*
 * bench/bench_core.c — core scheduler figures, named as in bench/RESULTS.md:
 *   ringo_yield_pingpong_p1      ns per rg_yield, two tasks on one P
 *   ringo_spawn_join_batch10k    ns per task: spawn, run, finish, 10k a batch
 *   ringo_spawn_join_each        ns per spawn + wait for that one task
 *   ringo_task_parked_rss        bytes of RSS per parked task, 1,000,000
 *   ringo_wake_idle_p_p50/_p99   us from readying a task to it running on a
 *                                P that was asleep in io_uring_enter
 * usage: bench_core [-benchtime ms] [-run substring]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched_int.h"
#include "ringo.h"

static int64_t benchtime = 300000000;
static const char *only;

static bool want(const char *name) { return !only || strstr(name, only); }

static void report(const char *name, double v, const char *unit)
{
	printf("bench: %s %.*f %s\n", name, v < 10 ? 2 : 1, v, unit);
	fflush(stdout);
}

/* --- a minimal join: the last finisher wakes the waiting task ------------
 * core.h's rule: a task may be readied only once it has switched out, so the
 * waiter publishes itself from its park's unlock callback (which runs after
 * the switch), never before parking.  The last finisher and that callback
 * then race on `waiter` with seq_cst operations (a Dekker pair with `left`):
 * exactly one of them takes it back, and so either the finisher wakes the
 * waiter or the waiter abandons its park. */
struct join {
	_Atomic long left;
	rg__task *_Atomic waiter;
	uint64_t ticket;
};

static void join_done(struct join *j)
{
	if (atomic_fetch_sub(&j->left, 1) == 1) {
		rg__task *w = atomic_exchange(&j->waiter, NULL);
		if (w)
			rg__wake(w, j->ticket);
	}
}

static bool join_unlock(rg__task *t, void *arg)
{
	struct join *j = arg;
	atomic_store(&j->waiter, t);
	if (atomic_load(&j->left) > 0)
		return true;
	/* everything finished: take ourselves back, unless the last
	 * finisher already did (then it wakes us) */
	return atomic_exchange(&j->waiter, NULL) != t;
}

static void join_wait(struct join *j)
{
	j->ticket = rg__park_prepare(); /* published by join_unlock's store */
	rg__park(RG__WAIT_WAITGROUP, -1, join_unlock, j);
}

static void join_arm(struct join *j, long n)
{
	atomic_store(&j->waiter, NULL);
	atomic_store(&j->left, n);
}

/* --- yield ping-pong --------------------------------------------------- */
static long yield_n;
static struct join yj;
static void yielder(void *arg)
{
	for (long i = 0; i < yield_n; i++)
		rg_yield();
	join_done(&yj);
}

static double run_yield(long n)
{
	yield_n = n;
	join_arm(&yj, 2);
	int64_t t0 = rg_now();
	rg_go(yielder, NULL);
	rg_go(yielder, NULL);
	join_wait(&yj);
	return (double)(rg_now() - t0) / (2.0 * (double)n);
}

/* --- spawn/join -------------------------------------------------------- */
static struct join sj;
static void empty(void *arg) { join_done(&sj); }

static double run_spawn_batch(long n)
{
	int64_t t0 = rg_now();
	long done = 0;
	while (done < n) {
		long b = n - done < 10000 ? n - done : 10000;
		join_arm(&sj, b);
		for (long i = 0; i < b; i++)
			rg_go(empty, NULL);
		join_wait(&sj);
		done += b;
	}
	return (double)(rg_now() - t0) / (double)n;
}

static double run_spawn_each(long n)
{
	int64_t t0 = rg_now();
	for (long i = 0; i < n; i++) {
		join_arm(&sj, 1);
		rg_go(empty, NULL);
		join_wait(&sj);
	}
	return (double)(rg_now() - t0) / (double)n;
}

/* Grow n until one run lasts benchtime, like go test -bench. */
static double measure(double (*fn)(long), long start)
{
	long n = start;
	for (;;) {
		int64_t t0 = rg_now();
		double v = fn(n);
		int64_t el = rg_now() - t0;
		if (el >= benchtime || n >= 1L << 30)
			return v;
		long next = el > 0 ? (long)((double)n * 1.2 * (double)benchtime / (double)el) : n * 100;
		n = next > n * 100 ? n * 100 : next < n + 1 ? n + 1 : next;
	}
}

static double median3(double (*fn)(long), long start)
{
	double v[3];
	for (int i = 0; i < 3; i++)
		v[i] = measure(fn, start);
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (v[j] < v[i]) {
				double x = v[i];
				v[i] = v[j];
				v[j] = x;
			}
	return v[1];
}

/* --- parked RSS -------------------------------------------------------- */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			sscanf(line + 6, "%ld", &v);
	if (f)
		fclose(f);
	return v;
}

static _Atomic long parked;
static int64_t park_until;
static void park_forever(void *arg)
{
	atomic_fetch_add(&parked, 1);
	rg_sleep_until(park_until);
}

/* --- idle P wake latency ------------------------------------------------- */
static _Atomic int64_t woke;
static void wakee(void *arg) { atomic_store(&woke, rg_now()); }

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void wake_latency(void)
{
	if (rg_procs() < 2)
		return;
	enum { ROUNDS = 2000 };
	static int64_t lat[ROUNDS];
	int n = 0;
	for (int r = 0; r < ROUNDS; r++) {
		/* wait until the other P sleeps in its ring.  Which P is the
		 * other one is looked up each round: the sleep below may
		 * resume this task on the other P, and a P fixed once would
		 * then be our own, never asleep (every round waited out its
		 * 100 ms: 200 s). */
		rg__p *other = rg__p_at(rg_proc_id() == 0 ? 1 : 0);
		int64_t give_up = rg_now() + 100000000;
		while (!atomic_load(&other->sleeping) && rg_now() < give_up)
			;
		if (!atomic_load(&other->sleeping))
			continue;
		atomic_store(&woke, 0);
		int64_t t0 = rg_now();
		rg_go(wakee, NULL);
		/* keep this P busy: only the sleeping P can run it */
		while (atomic_load(&woke) == 0 && rg_now() - t0 < 1000000000)
			;
		if (atomic_load(&woke))
			lat[n++] = atomic_load(&woke) - t0;
		rg_sleep(20000); /* let the other P go back to sleep */
	}
	if (n < ROUNDS / 2)
		fprintf(stderr, "bench_core: wake latency: only %d of %d rounds found the other P asleep\n", n, ROUNDS);
	if (!n)
		return;
	qsort(lat, (size_t)n, sizeof lat[0], cmp64);
	report("ringo_wake_idle_p_p50", (double)lat[n / 2] / 1000.0, "us");
	report("ringo_wake_idle_p_p99", (double)lat[n * 99 / 100] / 1000.0, "us");
}

static int bench_main(void *arg)
{
	if (want("ringo_spawn_join_batch10k"))
		report("ringo_spawn_join_batch10k", median3(run_spawn_batch, 10000), "ns");
	if (want("ringo_spawn_join_each"))
		report("ringo_spawn_join_each", median3(run_spawn_each, 1000), "ns");
	if (want("ringo_wake_idle_p"))
		wake_latency();
	if (want("ringo_task_parked_rss")) {
		long n = 1000000;
		long r0 = rss_kib();
		park_until = rg_now() + 3600LL * 1000000000;
		for (long i = 0; i < n; i++)
			rg_go(park_forever, NULL);
		while (atomic_load(&parked) < n)
			rg_sleep(10000000);
		long r1 = rss_kib();
		report("ringo_task_parked_rss", (double)(r1 - r0) * 1024.0 / (double)n, "B");
	}
	return 0;
}

static int p1_main(void *arg)
{
	if (want("ringo_yield_pingpong_p1"))
		report("ringo_yield_pingpong_p1", median3(run_yield, 100000), "ns");
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-benchtime") && i + 1 < argc)
			benchtime = atol(argv[++i]) * 1000000;
		else if (!strcmp(argv[i], "-run") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: %s [-benchtime ms] [-run substring]\n", argv[0]);
			return 2;
		}
	}
	rg_config one = { .procs = 1, .quiet = 1 };
	if (rg_run(p1_main, NULL, &one) < 0)
		return 1;
	rg_config all = { .quiet = 1 };
	return rg_run(bench_main, NULL, &all) < 0;
}
