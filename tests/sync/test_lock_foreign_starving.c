/* Callers of rg_mutex_lock that are not tasks (a thread outside the
 * runtime, a task in rg_blocking) against a mutex in starvation mode.
 *
 * In starvation mode the lock goes from the unlocker straight to the
 * first queued waiter; LOCKED never clears while any is queued.  Such
 * callers polled with sched_yield and never queued, so they never saw it
 * free: with 8 tasks holding the mutex 2 ms at a time, a thread got it 0
 * times in 3 s while the tasks took it ~1,650 times.  They now queue as
 * tasks do and sleep on a futex (sync/mutex.c, fw_wait).
 *   starving    a thread's rg_mutex_lock and rg_mutex_lock_until (3 s)
 *               get the lock in their turn (a few holds), four times;
 *   timeout     with 10 ms holds, a thread's lock_until(20 ms) queued
 *               behind the tasks times out, and the tasks go on (its
 *               record skipped);
 *   blocking    a task in rg_blocking, bound to a Context cancelled
 *               while it is queued: -ECANCELED within a few ms; and one
 *               with no Context gets the lock;
 * with a count of holders that checks mutual exclusion throughout. */
// ctest-timeout: 60
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL
#define HOGS 8

static rg_mutex mu = RG_MUTEX_INIT;
static _Atomic int stop, inside, hogs_out;
static _Atomic int64_t hold_ns = 2 * MS;
static _Atomic long hog_locks;

static void enter(void)
{
	CHECK_EQ(atomic_fetch_add(&inside, 1), 0);
}

static void leave(void)
{
	CHECK_EQ(atomic_fetch_sub(&inside, 1), 1);
}

/* Holds the mutex hold_ns (2 or 10 ms) at a time, no scheduling point
 * inside: waiters wait over 1 ms, which starts starvation mode. */
static void hog(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		rg_mutex_lock(&mu);
		enter();
		for (int64_t t = rg_now(), h = atomic_load(&hold_ns); rg_now() - t < h;)
			;
		atomic_fetch_add(&hog_locks, 1);
		leave();
		rg_mutex_unlock(&mu);
	}
	atomic_fetch_add(&hogs_out, 1);
}

static int64_t lock_as(int how, int64_t deadline)
{
	int64_t t0 = rg_now();
	int r = how ? rg_mutex_lock_until(&mu, deadline) : (rg_mutex_lock(&mu), 0);
	int64_t took = rg_now() - t0;
	if (r == 0) {
		enter();
		leave();
		rg_mutex_unlock(&mu);
	}
	return r ? r : took;
}

static _Atomic int64_t th_res[4];
static _Atomic int th_done;

static void *thread_starving(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		atomic_store(&th_res[i], lock_as(i & 1, rg_now() + 3000 * MS));
	atomic_store(&th_done, 1);
	return NULL;
}

static void *thread_timeout(void *arg)
{
	(void)arg;
	atomic_store(&th_res[0], lock_as(1, rg_now() + 20 * MS));
	atomic_store(&th_done, 1);
	return NULL;
}

static rg_ctx *g_ctx;
static _Atomic int64_t pool_res;

static intptr_t pool_lock(void *arg)
{
	int64_t r = lock_as(1, rg_now() + 5000 * MS);
	atomic_store(&pool_res, r);
	(void)arg;
	return 0;
}

static void pool_task(void *arg)
{
	if (arg)
		rg_ctx_bind(arg);
	rg_blocking(pool_lock, NULL);
	if (arg)
		rg_ctx_bind(NULL);
	atomic_store(&th_done, 1);
}

static void starve_on(int64_t hold)
{
	atomic_store(&hold_ns, hold);
	atomic_store(&stop, 0);
	atomic_store(&hogs_out, 0);
	for (int i = 0; i < HOGS; i++)
		CHECK(rg_go(hog, NULL) > 0);
	rg_sleep(50 * MS); /* the queue forms, starvation mode starts */
}

static void starve_off(void)
{
	atomic_store(&stop, 1);
	while (atomic_load(&hogs_out) < HOGS)
		rg_sleep(MS);
}

static void wait_done(void)
{
	for (int64_t end = rg_now() + 20000 * MS; !atomic_load(&th_done);) {
		CHECK(rg_now() < end);
		rg_sleep(MS);
	}
	atomic_store(&th_done, 0);
}

static int main_fn(void *arg)
{
	(void)arg;
	pthread_t th;

	starve_on(2 * MS);
	CHECK_EQ(pthread_create(&th, NULL, thread_starving, NULL), 0);
	wait_done();
	pthread_join(th, NULL);
	starve_off();
	for (int i = 0; i < 4; i++) {
		int64_t r = atomic_load(&th_res[i]);
		printf("starving: thread's %s took %.1f ms (tasks' locks so far %ld)\n",
		       i & 1 ? "lock_until" : "lock", r / 1e6, atomic_load(&hog_locks));
		CHECK(r >= 0); /* got it: before, -ETIMEDOUT after 3 s */
	}

	/* 10 ms holds: the queue ahead of the thread is ~70 ms long */
	starve_on(10 * MS);
	CHECK_EQ(pthread_create(&th, NULL, thread_timeout, NULL), 0);
	wait_done();
	pthread_join(th, NULL);
	long before = atomic_load(&hog_locks);
	rg_sleep(100 * MS);
	long after = atomic_load(&hog_locks);
	printf("timeout: thread's lock_until(20 ms) = %lld; tasks' locks in the next 100 ms: %ld\n",
	       (long long)atomic_load(&th_res[0]), after - before);
	CHECK_EQ(atomic_load(&th_res[0]), -ETIMEDOUT);
	CHECK(after - before >= 3); /* the tasks went on past its record */

	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &g_ctx), 0);
	CHECK(rg_go(pool_task, g_ctx) > 0);
	rg_sleep(20 * MS); /* queued by now, ~50 ms from its turn */
	int64_t t0 = rg_now();
	rg_ctx_cancel(g_ctx);
	wait_done();
	int64_t late = rg_now() - t0;
	int64_t r = atomic_load(&pool_res);
	printf("blocking: bound Context cancelled: %lld after %.1f ms\n", (long long)r, late / 1e6);
	CHECK_EQ(r, -ECANCELED);
	CHECK(late < 1000 * MS);
	rg_ctx_release(g_ctx);
	CHECK(rg_go(pool_task, NULL) > 0);
	wait_done();
	r = atomic_load(&pool_res);
	printf("blocking: no Context: took %.1f ms\n", r / 1e6);
	CHECK(r >= 0);
	starve_off();
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("lock_foreign_starving: ok\n");
	return T_PASS;
}
