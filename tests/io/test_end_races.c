/* Threads outside the runtime that reach io state while rg_run ends, with
 * the race's window held open: ld --wrap puts a delay (up to 300 ms, or
 * until rg_run has returned) where the OS could preempt the thread.
 *   cancel_noio  rg_cancel stalls after pinning its task, in a run where
 *                no P made an I/O call: nothing waited for it (only a P's
 *                io teardown did), rg_run unmapped the task's stack, and
 *                cancel_mark wrote to it (SIGSEGV every run).
 *   close_acc    rg_close of a listener whose owner waits in the
 *                multishot accept stalls after taking the acceptor out of
 *                the registry, posting it to its home P: the P's io
 *                teardown freed the acceptor and rg_run the P, which the
 *                post then read (ASan: heap-use-after-free every run;
 *                io_uring only).
 * Both found by a review of the day's fixes.  Both now count as
 * cancellers (io/cancel.c), which rg_run's end waits out. */
// ctest-timeout: 60
// ctest-link: -Wl,--wrap=rg__task_pin -Wl,--wrap=rg__io_post
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "io_test.h"

struct rg__task *__real_rg__task_pin(int64_t id);
struct rg__p;
int __real_rg__io_post(struct rg__p *target, void (*fn)(void *), void *arg);

static _Atomic int main_done, run_over;
static __thread int stall_me;
static _Atomic int stalled;

static void stall(void)
{
	if (!stall_me || !atomic_load(&main_done) || atomic_exchange(&stalled, 1))
		return;
	for (int k = 0; k < 300 && !atomic_load(&run_over); k++)
		usleep(1000);
}

struct rg__task *__wrap_rg__task_pin(int64_t id)
{
	struct rg__task *t = __real_rg__task_pin(id);
	if (t)
		stall();
	return t;
}

/* after rg_close took the acceptor, before the home P gets it */
int __wrap_rg__io_post(struct rg__p *target, void (*fn)(void *), void *arg)
{
	stall();
	return __real_rg__io_post(target, fn, arg);
}

/* ---- cancel_noio */

static int64_t g_id;

static void sleeper(void *a) { rg_sleep(3600 * 1000 * MS); }

static int noio_main(void *arg)
{
	g_id = rg_go(sleeper, NULL);
	CHECK(g_id > 0);
	rg_sleep(MS);
	atomic_store(&main_done, 1);
	rg_sleep(5 * MS); /* the canceller pins it meanwhile */
	return 0;
}

static void *canceller(void *arg)
{
	stall_me = 1;
	while (!atomic_load(&main_done))
		sched_yield();
	int r = rg_cancel(g_id);
	CHECK(r == 0 || r == -ESRCH);
	return NULL;
}

/* ---- close_acc */

static int g_lfd;

static void owner(void *arg)
{
	CHECK_EQ(rg_accept(g_lfd, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	rg_accept(g_lfd, NULL, NULL, -1); /* makes the acceptor, parks */
}

static int acc_main(void *arg)
{
	int port;
	g_lfd = t_listen(AF_INET, &port);
	CHECK(g_lfd >= 0);
	int64_t id = rg_go(owner, NULL);
	CHECK(id > 0);
	rg_sleep(5 * MS);
	t_wait_parked(id);
	atomic_store(&main_done, 1);
	rg_sleep(5 * MS); /* the closer is in */
	return 0;
}

static void *closer(void *arg)
{
	stall_me = 1;
	while (!atomic_load(&main_done))
		sched_yield();
	CHECK_EQ(rg_close(g_lfd), 0);
	return NULL;
}

static void one(const char *name, rg_main_fn fn, void *(*thread)(void *))
{
	for (int procs = 1; procs <= 2; procs++) {
		atomic_store(&main_done, 0);
		atomic_store(&run_over, 0);
		atomic_store(&stalled, 0);
		pthread_t th;
		CHECK(pthread_create(&th, NULL, thread, NULL) == 0);
		CHECK_EQ(t_run(fn, procs), 0);
		atomic_store(&run_over, 1);
		CHECK(pthread_join(th, NULL) == 0);
		printf("%s, %d P: ok (the thread %s)\n", name, procs,
		       atomic_load(&stalled) ? "stalled in the window" : "never stalled");
	}
}

int main(void)
{
	const char *only = getenv("RG_CASE"); /* one case by name */
	if (!only || !strcmp(only, "cancel_noio"))
		one("cancel_noio", noio_main, canceller);
	if ((!only || !strcmp(only, "close_acc")) &&
	    strcmp(getenv("RINGO_IO") ? getenv("RINGO_IO") : "", "epoll") != 0)
		one("close_acc", acc_main, closer);
	return T_PASS;
}
