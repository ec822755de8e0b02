/* Deadline Contexts on runtime timers (core's rg__rtimer), not tasks:
 *   no_task     10,000 pending deadlines spawn no task; 1,000 short ones
 *               all end -ETIMEDOUT, still without a task;
 *   busy_p      a deadline on a P whose run queue holds 50 tasks that each
 *               run 200 us between yields is cancelled within a few slices
 *               (a deadline task readied at the queue's tail ran ~10 ms
 *               late);
 *   foreign     deadlines made by a thread without a P, while the P it
 *               goes to sleeps with no timer of its own (1 and 2 Ps);
 *   stop        rg_run returns with deadlines pending on every P (beside
 *               tasks parked with deadlines of their own, in the same
 *               heaps) and from a foreign thread; they are released after
 *               rg_run, and a second rg_run makes and fires new ones;
 *   churn       contexts made and cancelled by tasks on 2 Ps while their
 *               deadlines fire (cancel against fire: each context ends
 *               once, -ECANCELED or -ETIMEDOUT, and is freed: ASan/LSan).
 * Run one case with: sync_ctx_timer NAME. */
// ctest-timeout: 120
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define US 1000LL
#define MS 1000000LL
#define HOUR (3600 * 1000 * MS)

static const char *only;
static bool want(const char *name) { return !only || !strcmp(only, name); }
static rg_config cfg1 = { .procs = 1, .quiet = 1 };
static rg_config cfg2 = { .procs = 2, .quiet = 1 };

static uint64_t spawned(void)
{
	rg_sched_stats s;
	rg_sched_stats_get(&s);
	return s.tasks_spawned;
}

/* --- no_task ------------------------------------------------------------- */

static int no_task_main(void *arg)
{
	(void)arg;
	enum { LONG_N = 10000, SHORT_N = 1000 };
	rg_ctx **v = calloc(LONG_N, sizeof *v);
	CHECK(v);
	uint64_t s0 = spawned();
	for (int i = 0; i < LONG_N; i++)
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), HOUR + i, &v[i]), 0);
	CHECK_EQ(spawned() - s0, 0);
	for (int i = 0; i < LONG_N; i++) {
		CHECK_EQ(rg_ctx_err(v[i]), 0);
		rg_ctx_release(v[i]);
	}
	for (int i = 0; i < SHORT_N; i++)
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), (1 + i % 5) * MS, &v[i]), 0);
	for (int i = 0; i < SHORT_N; i++) {
		CHECK_EQ(rg_chan_recv(rg_ctx_done(v[i]), NULL, NULL, rg_now() + 10000 * MS), 0);
		CHECK_EQ(rg_ctx_err(v[i]), -ETIMEDOUT);
		rg_ctx_release(v[i]);
	}
	CHECK_EQ(spawned() - s0, 0);
	free(v);
	return 0;
}

/* --- busy_p -------------------------------------------------------------- */

enum { BUSY_TASKS = 50 };
static _Atomic bool busy_stop;
static _Atomic int64_t fired_at;
static rg_waitgroup busy_wg;

static void burn(int64_t ns)
{
	int64_t end = rg_now() + ns;
	while (rg_now() < end)
		;
}

static void busy_task(void *arg)
{
	(void)arg;
	while (!atomic_load(&busy_stop)) {
		burn(200 * US);
		rg_yield();
	}
	rg_waitgroup_done(&busy_wg);
}

static void mark_fired(void *arg)
{
	(void)arg;
	atomic_store(&fired_at, rg_now());
}

static int busy_main(void *arg)
{
	(void)arg;
	t_lag_start();
	int64_t worst = 0;
	for (int round = 0; round < 5; round++) {
		atomic_store(&busy_stop, false);
		atomic_store(&fired_at, 0);
		rg_waitgroup_add(&busy_wg, BUSY_TASKS);
		for (int i = 0; i < BUSY_TASKS; i++)
			CHECK(rg_go(busy_task, NULL) > 0);
		rg_yield(); /* the queue is full of them */
		rg_ctx *c;
		int64_t dl = rg_now() + 20 * MS;
		CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), dl, &c), 0);
		/* runs as soon as the cancel spawns it (the spawner's next) */
		CHECK(rg_ctx_after_func(c, mark_fired, NULL) > 0);
		while (!atomic_load(&fired_at)) {
			burn(200 * US);
			rg_yield();
		}
		int64_t late = atomic_load(&fired_at) - dl;
		CHECK(late >= 0);
		if (late > worst)
			worst = late;
		atomic_store(&busy_stop, true);
		CHECK_EQ(rg_waitgroup_wait(&busy_wg, -1), 0);
		CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
		rg_ctx_release(c);
	}
	int64_t lag = t_lag_ns();
	printf("  busy_p: worst lateness %.2f ms (machine lag %.2f ms; %d tasks x 200 us is %.1f ms)\n",
	       worst / 1e6, lag / 1e6, BUSY_TASKS, BUSY_TASKS * 0.2);
	fflush(stdout); /* the figures survive a failed check */
	/* a few slices of 200 us; the run queue's length is 10 ms */
	CHECK(worst < 4 * MS + 2 * lag);
	return 0;
}

/* --- foreign ------------------------------------------------------------- */

static void *foreign_thread(void *arg)
{
	int64_t *worst = arg;
	for (int i = 0; i < 20; i++) {
		rg_ctx *c;
		int64_t dl = t_mono_() + (2 + i % 3) * MS;
		CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), dl, &c), 0);
		while (rg_ctx_err(c) == 0) {
			CHECK(t_mono_() < dl + 5000 * MS);
			usleep(100);
		}
		CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
		int64_t late = t_mono_() - dl;
		if (late > *worst)
			*worst = late;
		rg_ctx_release(c);
	}
	return NULL;
}

static intptr_t join(void *arg)
{
	return pthread_join(*(pthread_t *)arg, NULL);
}

static int foreign_main(void *arg)
{
	(void)arg;
	t_lag_start();
	int64_t worst = 0;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, foreign_thread, &worst), 0);
	/* every P idle: the timers must wake P 0 */
	CHECK_EQ(rg_blocking(join, &th), 0);
	int64_t lag = t_lag_ns();
	printf("  foreign (%d Ps): worst lateness %.2f ms (machine lag %.2f ms)\n", rg_procs(), worst / 1e6,
	       lag / 1e6);
	CHECK(worst < 200 * MS + 2 * lag);
	return 0;
}

/* --- stop ---------------------------------------------------------------- */

enum { STOP_N = 2000 };
static rg_ctx *stop_v[3 * STOP_N];
static _Atomic int stop_made;

static void stop_maker(void *arg)
{
	int base = (int)(intptr_t)arg;
	for (int i = 0; i < STOP_N; i++)
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), HOUR, &stop_v[base + i]), 0);
	atomic_fetch_add(&stop_made, 1);
	rg_sleep(HOUR); /* a task timer in the same heap, discarded */
}

static void *stop_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < STOP_N; i++)
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), HOUR, &stop_v[2 * STOP_N + i]), 0);
	return NULL;
}

static int stop_main(void *arg)
{
	(void)arg;
	atomic_store(&stop_made, 0);
	rg_task_opts o = { 0 };
	CHECK(rg_go_opts(stop_maker, (void *)0, &o) > 0);
	CHECK(rg_go_opts(stop_maker, (void *)(intptr_t)STOP_N, &o) > 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, stop_thread, NULL), 0);
	CHECK_EQ(rg_blocking(join, &th), 0);
	while (atomic_load(&stop_made) < 2)
		rg_sleep(MS);
	return 0; /* 6,000 deadlines pending, 2 sleepers, on 2 Ps */
}

static int again_main(void *arg)
{
	(void)arg;
	rg_ctx *c;
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 2 * MS, &c), 0);
	CHECK_EQ(rg_chan_recv(rg_ctx_done(c), NULL, NULL, rg_now() + 10000 * MS), 0);
	CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
	rg_ctx_release(c);
	return 0;
}

static void case_stop(void)
{
	CHECK_EQ(rg_run(stop_main, NULL, &cfg2), 0);
	for (int i = 0; i < 3 * STOP_N; i++) {
		CHECK(stop_v[i]);
		CHECK_EQ(rg_ctx_err(stop_v[i]), 0); /* never fired */
		rg_ctx_release(stop_v[i]);
	}
	/* outside rg_run a deadline cannot be armed (an hour away: one
	 * that passes before it is armed, as 1 ms did once under TSan, gives
	 * a context already done, and no error) */
	rg_ctx *c = NULL;
	CHECK(rg_ctx_with_timeout(rg_ctx_background(), HOUR, &c) < 0);
	CHECK(c == NULL);
	CHECK_EQ(rg_run(again_main, NULL, &cfg1), 0);
	CHECK_EQ(rg_run(again_main, NULL, &cfg2), 0);
}

/* --- churn --------------------------------------------------------------- */

enum { CHURN_TASKS = 8 };
static _Atomic long churn_timedout, churn_cancelled;

static void churn_task(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL | 1;
	int n = T_SANITIZED ? 1500 : 6000;
	for (int i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		rg_ctx *c;
		/* deadlines of 0-100 us: many fire while we cancel */
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), (int64_t)(x % 100) * US, &c), 0);
		if (x & 1)
			burn((int64_t)(x >> 8) % 100 * US / 10);
		if (x & 2)
			rg_yield();
		rg_ctx_cancel(c);
		int e = rg_ctx_err(c);
		CHECK(e == -ECANCELED || e == -ETIMEDOUT);
		bool ok = true;
		CHECK_EQ(rg_chan_recv(rg_ctx_done(c), NULL, &ok, 0), 0);
		CHECK(!ok);
		atomic_fetch_add(e == -ETIMEDOUT ? &churn_timedout : &churn_cancelled, 1);
		rg_ctx_release(c);
	}
	rg_waitgroup_done(&busy_wg);
}

static int churn_main(void *arg)
{
	(void)arg;
	rg_waitgroup_add(&busy_wg, CHURN_TASKS);
	for (int i = 0; i < CHURN_TASKS; i++)
		CHECK(rg_go(churn_task, (void *)(uintptr_t)(i + 1)) > 0);
	CHECK_EQ(rg_waitgroup_wait(&busy_wg, -1), 0);
	printf("  churn: %ld timed out, %ld cancelled\n", (long)atomic_load(&churn_timedout),
	       (long)atomic_load(&churn_cancelled));
	CHECK(atomic_load(&churn_timedout) > 0);
	CHECK(atomic_load(&churn_cancelled) > 0);
	return 0;
}

int main(int argc, char **argv)
{
	only = argc > 1 ? argv[1] : NULL;
	if (want("no_task")) {
		CHECK_EQ(rg_run(no_task_main, NULL, &cfg1), 0);
		CHECK_EQ(rg_run(no_task_main, NULL, &cfg2), 0);
		printf("no_task: ok\n");
	}
	if (want("busy_p")) {
		CHECK_EQ(rg_run(busy_main, NULL, &cfg1), 0);
		printf("busy_p: ok\n");
	}
	if (want("foreign")) {
		CHECK_EQ(rg_run(foreign_main, NULL, &cfg1), 0);
		CHECK_EQ(rg_run(foreign_main, NULL, &cfg2), 0);
		printf("foreign: ok\n");
	}
	if (want("stop")) {
		case_stop();
		printf("stop: ok\n");
	}
	if (want("churn")) {
		CHECK_EQ(rg_run(churn_main, NULL, &cfg2), 0);
		printf("churn: ok\n");
	}
	return 0;
}
