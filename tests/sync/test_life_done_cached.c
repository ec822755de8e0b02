/* A Context's done channel kept from one rg_run and waited on in the next.
 *
 * A Context with a deadline still pending "stays usable" after rg_run
 * (core.h), and rg_ctx_done returns the same channel, "owned by ctx", every
 * time: a program may keep it (a server object holding ctx and its done
 * channel, made in the first run).  sync/ctx.c forgets the done channel's
 * waiters when they may be discarded tasks (done_fresh, lazily: at the
 * first rg_ctx_done or cancel after a run ended), assuming "no task of
 * this run can hold done's lock meanwhile: it gets the channel only from
 * rg_ctx_done".  A task of the next run that waits on the kept pointer
 * gets past that:
 *   mode 0: no waiter was discarded.  The task parks on done; the cancel
 *           (in the same run) "freshens" the channel first and forgets
 *           it: never woken (waits for ever);
 *   mode 1: receivers were discarded on done in the first run.  The task's
 *           park links its record after the last discarded one, on a
 *           stack rg_run has unmapped: SIGSEGV;
 *   mode 2: as 1, but the discarded ones were selects (records freed by
 *           sel_at_stop): heap-use-after-free under ASan, then as mode 0.
 * Each mode runs in a child process; a waiter not woken within 2 s fails
 * it. */
// ctest-timeout: 60
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_ctx *ctx;
static rg_chan *done, *other;
static int g_mode;
static _Atomic int parked, woken;

static void old_recv(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	rg_chan_recv(done, NULL, NULL, -1);
}

static void old_select(void *arg)
{
	(void)arg;
	rg_select_case cs[2] = { { done, RG_SELECT_RECV, NULL, false }, { other, RG_SELECT_RECV, NULL, false } };
	atomic_fetch_add(&parked, 1);
	rg_select(cs, 2, -1);
}

static int run1(void *arg)
{
	(void)arg;
	other = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 3600 * 1000 * MS, &ctx), 0);
	done = rg_ctx_done(ctx); /* kept */
	if (g_mode > 0) {
		for (int i = 0; i < 4; i++)
			CHECK(rg_go(g_mode == 1 ? old_recv : old_select, NULL) > 0);
		while (atomic_load(&parked) < 4)
			rg_sleep(MS);
		rg_sleep(MS);
	}
	return 0;
}

static void new_waiter(void *arg)
{
	(void)arg;
	bool ok = true;
	atomic_store(&parked, 100);
	CHECK_EQ(rg_chan_recv(done, NULL, &ok, -1), 0); /* <-done, through the kept pointer */
	CHECK(!ok);
	atomic_store(&woken, 1);
}

static int run2(void *arg)
{
	(void)arg;
	CHECK(rg_go(new_waiter, NULL) > 0);
	while (atomic_load(&parked) != 100)
		rg_sleep(MS);
	rg_sleep(5 * MS); /* parked on done */
	rg_ctx_cancel(ctx);
	for (int i = 0; i < 2000 && !atomic_load(&woken); i++)
		rg_sleep(MS);
	if (!atomic_load(&woken)) {
		printf("mode %d: the waiter on the kept done channel was never woken\n", g_mode);
		exit(1);
	}
	return 0;
}

static void child(int mode)
{
	g_mode = mode;
	alarm(20);
	rg_config cfg = { .procs = 2, .quiet = 1 };
	CHECK_EQ(rg_run(run1, NULL, &cfg), 0);
	CHECK_EQ(rg_run(run2, NULL, &cfg), 0);
	rg_ctx_release(ctx);
	rg_chan_free(other);
	exit(0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int failed = t_fork_cases(3, child, NULL);
	printf(failed ? "life_done_cached: FAILED\n" : "life_done_cached: ok\n");
	return failed ? T_FAIL : T_PASS;
}
