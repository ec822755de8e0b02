/* rg_ctx_after_func where no task can be made: a Context ended while no
 * rg_run runs (before the first, between two, after the last).  fn then
 * runs on the thread that ended the Context, before that call returns
 * (ringo/sync.h); it is neither lost nor deferred to a later run.  Also:
 * an after-func registered in a run whose Context outlives it. */
#include <ringo.h>
#include <unistd.h>

#include "../check.h"

struct rec {
	_Atomic int ran;
	pid_t tid;
};

static void after_fn(void *arg)
{
	struct rec *r = arg;
	r->tid = gettid();
	atomic_fetch_add(&r->ran, 1);
}

static rg_ctx *kept;

static int main_task(void *arg)
{
	/* registered in this run, ended after it */
	CHECK(rg_ctx_with_cancel(rg_ctx_background(), &kept) == 0);
	CHECK(rg_ctx_after_func(kept, after_fn, arg) > 0);
	/* one ended in the run runs in a task of its own */
	rg_ctx *c;
	struct rec here = { 0 };
	CHECK(rg_ctx_with_cancel(rg_ctx_background(), &c) == 0);
	CHECK(rg_ctx_after_func(c, after_fn, &here) > 0);
	rg_ctx_cancel(c);
	for (int i = 0; i < 10000 && !atomic_load(&here.ran); i++)
		rg_sleep(100000);
	CHECK_EQ(atomic_load(&here.ran), 1);
	rg_ctx_release(c);
	return 0;
}

int main(void)
{
	/* before any run: registered and ended outside */
	struct rec before = { 0 };
	rg_ctx *c;
	CHECK(rg_ctx_with_cancel(rg_ctx_background(), &c) == 0);
	CHECK(rg_ctx_after_func(c, after_fn, &before) > 0);
	CHECK_EQ(atomic_load(&before.ran), 0);
	rg_ctx_cancel(c);
	CHECK_EQ(atomic_load(&before.ran), 1);
	CHECK_EQ(before.tid, gettid());
	/* registered once already done: at once, here */
	struct rec done = { 0 };
	CHECK(rg_ctx_after_func(c, after_fn, &done) > 0);
	CHECK_EQ(atomic_load(&done.ran), 1);
	CHECK_EQ(done.tid, gettid());
	rg_ctx_release(c);

	/* twice: after the first run and after the second */
	for (int run = 0; run < 2; run++) {
		struct rec in_run = { 0 };
		CHECK(rg_run(main_task, &in_run, NULL) == 0);
		CHECK_EQ(atomic_load(&in_run.ran), 0);
		rg_ctx_cancel(kept);
		CHECK_EQ(atomic_load(&in_run.ran), 1);
		CHECK_EQ(in_run.tid, gettid());
		rg_ctx_release(kept);
		CHECK_EQ(atomic_load(&in_run.ran), 1);
	}
	puts("ok");
	return T_PASS;
}
