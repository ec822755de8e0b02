/* A Context with a pending deadline "stays usable" after
 * rg_run and "may be released later" (ringo/core.h, rg_run).  Tasks that
 * waited on its done channel -- Go's `<-ctx.Done()`, a plain receive or a
 * select, NOT bound to the context -- are discarded when main returns, but
 * their waiter records stay linked in the done channel's receive queue:
 * the plain receive's record on its (unmapped or reused) stack, the
 * select's records in memory that sel_at_stop has freed.  Releasing the
 * context after rg_run cancels it, and the cancel closes the done channel,
 * which claims those records: SIGSEGV / heap-use-after-free.  The same
 * happens if the next rg_run cancels the context (mode 1).
 *
 * teardown_ctx (test_select_adversarial.c) covers tasks *bound* to the
 * context (its waiter list, fixed with lists_fresh) but not the done
 * channel, which is the context's own object too.
 *
 * Found by the review of 2026-12-07 (evening).  Each mode runs in a child
 * process; its exit status is the verdict.  Mode 1 also checks that a task
 * of the new run, parked on the same done channel, is woken by the cancel
 * (the stale records are forgotten, not the live ones). */
// ctest-timeout: 60
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_ctx *ctx;
static rg_chan *other;

static void recv_waiter(void *arg)
{
	(void)arg;
	rg_chan_recv(rg_ctx_done(ctx), NULL, NULL, -1); /* <-ctx.Done() */
}

static void select_waiter(void *arg)
{
	(void)arg;
	rg_select_case cs[2] = { { rg_ctx_done(ctx), RG_SELECT_RECV, NULL, false },
		                 { other, RG_SELECT_RECV, NULL, false } };
	rg_select(cs, 2, -1);
}

static int main1(void *arg)
{
	(void)arg;
	other = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 3600 * 1000 * MS, &ctx), 0);
	for (int i = 0; i < 8; i++)
		CHECK(rg_go(i % 2 ? recv_waiter : select_waiter, NULL) > 0);
	rg_sleep(5 * MS);
	return 0; /* the waiters are discarded, parked on ctx's done channel */
}

static _Atomic int live_woken;

static void live_waiter(void *arg)
{
	(void)arg;
	bool ok = true;
	CHECK_EQ(rg_chan_recv(rg_ctx_done(ctx), NULL, &ok, -1), 0);
	CHECK(!ok);
	atomic_store(&live_woken, 1);
}

static int main2(void *arg)
{
	(void)arg;
	int64_t live = rg_go(live_waiter, NULL);
	CHECK(live > 0);
	/* some churn so the discarded stacks and records get reused */
	for (int i = 0; i < 64; i++) {
		rg_chan *c = rg_chan_make(8, 0);
		rg_select_case cs[2] = { { c, RG_SELECT_RECV, NULL, false }, { c, RG_SELECT_SEND, &i, false } };
		CHECK_EQ(rg_select(cs, 2, 0), -EAGAIN);
		rg_chan_free(c);
	}
	rg_sleep(5 * MS); /* live_waiter parks on the done channel */
	rg_ctx_cancel(ctx); /* a cancel in the next run */
	CHECK_EQ(rg_ctx_err(ctx), -ECANCELED);
	for (int i = 0; i < 10000 && !atomic_load(&live_woken); i++)
		rg_sleep(MS);
	CHECK(atomic_load(&live_woken));
	return 0;
}

static void child(int mode, int procs)
{
	rg_config cfg = { .procs = procs, .quiet = 1 };
	CHECK_EQ(rg_run(main1, NULL, &cfg), 0);
	CHECK_EQ(rg_ctx_err(ctx), 0);
	if (mode == 1)
		CHECK_EQ(rg_run(main2, NULL, &cfg), 0);
	rg_ctx_release(ctx); /* documented: may be released after rg_run */
	rg_chan_free(other);
	printf("mode %d procs %d: released\n", mode, procs);
	fflush(stdout);
	exit(0);
}

/* case k: mode k / 2 on k % 2 + 1 Ps */
static void child_case(int k) { child(k / 2, k % 2 + 1); }

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	static const char *const names[] = { "mode 0, 1 P", "mode 0, 2 Ps", "mode 1, 1 P", "mode 1, 2 Ps" };
	int failed = t_fork_cases(4, child_case, names);
	printf(failed ? "ctx_done_teardown: FAILED\n" : "ctx_done_teardown: ok\n");
	return failed ? T_FAIL : T_PASS;
}
