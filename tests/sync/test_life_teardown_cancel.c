/* A Context cancelled by a thread outside the runtime while rg_run tears
 * down.
 *
 * A Context is "safe from any task or thread" (sync.h) and rg_run waits
 * for "blocking sections still in progress" (core.h): a function in
 * rg_blocking (mode 0) or a thread of the program's own (mode 1) may
 * cancel a Context at any time, also just after main returned.  rg_run's
 * end runs its stop hooks meanwhile: sel_at_stop frees the records of the
 * selects main left parked, ctx_at_stop moves the epoch that makes a
 * Context forget its done channel's discarded waiters.  A cancel that read
 * the old epoch (done_fresh) before the hooks and closes the done channel
 * after sel_at_stop claims the freed select records: heap-use-after-free
 * (the window of test_life_sysmon_fire.c, opened by user code).
 *
 * Held open with ld --wrap: the canceller cancels once main has returned;
 * its close of the done channel (rg__chan_close_q, called from ctx.c)
 * waits until sel_at_stop (rg__for_each_task, called from chan.c) has
 * freed the records, and sel_at_stop waits until the close has begun.
 * Either wait gives up after 2 s (with the fix, the hooks wait for the
 * cancel instead: it then completes before anything is freed).  Each mode
 * runs in a child process. */
// ctest-timeout: 60
// ctest-link: -Wl,--wrap=rg__chan_close_q -Wl,--wrap=rg__for_each_task
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

struct rg__task;
static rg_ctx *ctx;
static rg_chan *g_done, *other;
static _Atomic int parked, main_returned, in_close, freed, canceller_ready;
static __thread int canceller;
static int g_mode;

static void wait_flag(_Atomic int *f)
{
	for (int i = 0; i < 2000 && !atomic_load(f); i++)
		usleep(1000);
}

int __real_rg__chan_close_q(rg_chan *c, void *q);
int __wrap_rg__chan_close_q(rg_chan *c, void *q)
{
	if (c == g_done && canceller) {
		atomic_store(&in_close, 1);
		wait_flag(&freed);
	}
	return __real_rg__chan_close_q(c, q);
}

void __real_rg__for_each_task(void (*fn)(struct rg__task *, void *), void *arg);
void __wrap_rg__for_each_task(void (*fn)(struct rg__task *, void *), void *arg)
{
	bool ending = atomic_load(&main_returned) && rg_self() == 0 && rg_proc_id() < 0 && !canceller;
	if (ending)
		wait_flag(&in_close);
	__real_rg__for_each_task(fn, arg);
	if (ending)
		atomic_store(&freed, 1);
}

static void cancel_late(void)
{
	atomic_store(&canceller_ready, 1);
	wait_flag(&main_returned);
	usleep(20 * 1000); /* the Ps are leaving */
	canceller = 1;
	rg_ctx_cancel(ctx); /* the work is done: cancel its Context */
	canceller = 0;
}

static intptr_t in_pool(void *arg)
{
	(void)arg;
	cancel_late();
	return 0;
}

static void blocker(void *arg) { rg_blocking(in_pool, arg); }

static void *foreign(void *arg)
{
	(void)arg;
	cancel_late();
	return NULL;
}

static void select_waiter(void *arg)
{
	(void)arg;
	rg_select_case cs[2] = { { g_done, RG_SELECT_RECV, NULL, false },
		                 { other, RG_SELECT_RECV, NULL, false } };
	atomic_fetch_add(&parked, 1);
	rg_select(cs, 2, -1);
}

static int main_fn(void *arg)
{
	(void)arg;
	other = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	g_done = rg_ctx_done(ctx);
	for (int i = 0; i < 8; i++)
		CHECK(rg_go(select_waiter, NULL) > 0);
	if (g_mode == 0)
		CHECK(rg_go(blocker, NULL) > 0);
	while (atomic_load(&parked) < 8 || !atomic_load(&canceller_ready))
		rg_sleep(MS);
	rg_sleep(MS);
	atomic_store(&main_returned, 1);
	return 0;
}

static void child(int mode)
{
	g_mode = mode;
	pthread_t th;
	if (mode == 1)
		CHECK(pthread_create(&th, NULL, foreign, NULL) == 0);
	rg_config cfg = { .procs = 2, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	if (mode == 1)
		pthread_join(th, NULL);
	CHECK_EQ(rg_ctx_err(ctx), -ECANCELED);
	printf("mode %d: in_close %d freed %d\n", mode, atomic_load(&in_close), atomic_load(&freed));
	rg_ctx_release(ctx);
	rg_chan_free(other);
	exit(0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int failed = t_fork_cases(2, child, NULL);
	printf(failed ? "life_teardown_cancel: FAILED\n" : "life_teardown_cancel: ok\n");
	return failed ? T_FAIL : T_PASS;
}
