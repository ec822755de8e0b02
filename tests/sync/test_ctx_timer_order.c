/* A P's timers fire in deadline order, a deadline Context's timer among
 * the parked tasks' deadlines.
 *
 * A task receives on the done channel of a Context with a 100 ms
 * deadline, with a 300 ms deadline of its own.  Had the P (or the whole
 * machine) stalled past both, the pass that finds them due must close
 * the done channel before it times the receive out: the receive returns
 * 0 (done), never -ETIMEDOUT.  Before the fix the pass claimed every due
 * task's timeout under its lock and ran the Context's timer function
 * after, so the receive timed out (sync_ctx, stress at load 15:
 * test_ctx.c's 200 ms Context "not done" after its 5 s safety wait).
 *
 * The stall is made by firing the P's timers from its only task with a
 * `now` 1 s ahead (rg__timers_run, as the scheduler calls it between
 * tasks); the same order is checked for a plain rg_sleep beside them. */
#include <stdatomic.h>

#include "check.h"
#include "core/core.h"
#include "core/sched_int.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

struct waiter {
	rg_ctx *ctx;
	int64_t deadline;
	int result;
	_Atomic int parked;
	rg_waitgroup *wg;
};

static void recv_done(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->parked, 1);
	w->result = rg_chan_recv(rg_ctx_done(w->ctx), NULL, NULL, w->deadline);
	rg_waitgroup_done(w->wg);
}

static int main_fn(void *arg)
{
	for (int round = 0; round < 20; round++) {
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		int64_t t0 = rg_now();
		rg_ctx *ctx;
		CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), t0 + 100 * MS, &ctx), 0);
		/* waiters with deadlines before, at and after the Context's */
		struct waiter w[3] = {
			{ ctx, t0 + 50 * MS, 1, 0, &wg },
			{ ctx, t0 + 300 * MS, 1, 0, &wg },
			{ ctx, t0 + 900 * MS, 1, 0, &wg },
		};
		rg_waitgroup_add(&wg, 3);
		for (int i = 0; i < 3; i++)
			CHECK(rg_go(recv_done, &w[i]) > 0);
		/* one P: the waiters run and park before main runs again */
		rg_yield();
		for (int i = 0; i < 3; i++)
			CHECK(atomic_load(&w[i].parked));
		if (rg_now() - t0 > 40 * MS) { /* the machine stalled for us: again */
			rg_ctx_cancel(ctx);
			CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
			rg_ctx_release(ctx);
			continue;
		}
		rg__timers_run(rg__getp(), t0 + 1000 * MS);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		CHECK_EQ(w[0].result, -ETIMEDOUT); /* its deadline came first */
		CHECK_EQ(w[1].result, 0);
		CHECK_EQ(w[2].result, 0);
		CHECK_EQ(rg_ctx_err(ctx), -ETIMEDOUT);
		rg_ctx_release(ctx);
	}
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 1, .quiet = 1 }), 0);
	return T_PASS;
}
