/* A Context's deadline fired by sysmon while rg_run tears down.
 *
 * A deadline is a runtime timer; when its P is stuck in one task, sysmon
 * fires it on its own thread (core/sysmon.c, check_p -> timers_run_other
 * -> deadline_fire -> cancel_one -> the done channel's close).  rg_run's
 * end stops sysmon only after the stop hooks (core/run.c): sel_at_stop
 * frees the records of every select parked when main returned, and
 * ctx_at_stop moves the epoch that makes a Context forget discarded
 * waiters.  A fire that sysmon began before main returned (its check of
 * `stopping` passed) goes on meanwhile: its cancel had already decided the
 * done channel's waiters were this run's (done_fresh, before the epoch
 * moved), and its close claims the select records sel_at_stop has just
 * freed (heap-use-after-free), and readies the discarded tasks.
 * docs/core.md kept this as "not reproduced: sysmon firing a P's timers
 * between its stopping check and the stop hooks".
 *
 * The window is held open with ld --wrap: rg__chan_close_q (called from
 * ctx.c) sleeps 300 ms when sysmon calls it for our done channel.  One P:
 * the main task spins without a scheduling point past the deadline, so
 * only sysmon can fire it; once sysmon is inside the close, main returns.
 * The discarded tasks: selects on the done channel and another channel
 * (not bound to the Context), plus plain receives. */
// ctest-timeout: 60
// ctest-link: -Wl,--wrap=rg__chan_close_q
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_ctx *ctx;
static rg_chan *g_done, *other;
static _Atomic int entered, parked;

int __real_rg__chan_close_q(rg_chan *c, void *q);
int __wrap_rg__chan_close_q(rg_chan *c, void *q)
{
	if (c == g_done && rg_self() == 0 && rg_proc_id() < 0) { /* sysmon */
		atomic_store(&entered, 1);
		usleep(300 * 1000); /* main returns, rg_run runs its stop hooks */
	}
	return __real_rg__chan_close_q(c, q);
}

static void select_waiter(void *arg)
{
	(void)arg;
	rg_select_case cs[2] = { { g_done, RG_SELECT_RECV, NULL, false },
		                 { other, RG_SELECT_RECV, NULL, false } };
	atomic_fetch_add(&parked, 1);
	rg_select(cs, 2, -1);
}

static void recv_waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	rg_chan_recv(g_done, NULL, NULL, -1);
}

static int main_fn(void *arg)
{
	(void)arg;
	other = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 40 * MS, &ctx), 0);
	g_done = rg_ctx_done(ctx);
	for (int i = 0; i < 8; i++)
		CHECK(rg_go(i % 2 ? recv_waiter : select_waiter, NULL) > 0);
	while (atomic_load(&parked) < 8)
		rg_sleep(MS);
	rg_sleep(MS); /* each is in its park now */
	/* no scheduling point from here: the P cannot fire its own timer */
	int64_t end = rg_now() + 5000 * MS;
	while (!atomic_load(&entered) && rg_now() < end)
		;
	CHECK(atomic_load(&entered)); /* sysmon fired the deadline */
	return 0;                     /* while sysmon is inside the close */
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	rg_config cfg = { .procs = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	CHECK_EQ(rg_ctx_err(ctx), -ETIMEDOUT);
	rg_ctx_release(ctx);
	rg_chan_free(other);
	printf("life_sysmon_fire: ok\n");
	return T_PASS;
}
