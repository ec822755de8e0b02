/* select, channels, Context and timers under attack: the cases that
 * sync_select, sync_ctx, sync_claim and the adversarial files before this
 * one do not reach.  `sync_select_adversarial CASE` (or RG_CASE=CASE) runs
 * one case; no argument runs them all, each with 1 P and with 2 Ps
 * (cases that need two Ps skip the 1-P run).
 *
 *   timer_hog          a task sleeps 2 ms on a P whose next task runs 300
 *                      ms without a scheduling point, while the other P
 *                      idles: the sleeper must wake on time.
 *   timer_spin_wait    a task spins (sched_yield) for a flag that a task
 *                      sleeping 1 ms on the same P sets: the sleeper's
 *                      timer must fire although its P never schedules.
 *   done_cancel_race   selects over the done channels of contexts that
 *                      the other P cancels, mixed with a data channel, a
 *                      NULL channel and a closed one: each select returns
 *                      a case that really was ready, done cases only for
 *                      contexts that are done.
 *   deadline_vs_partner a select's deadline (0-30 us) racing a partner's
 *                      send on the other P, unbuffered and buffered: every
 *                      value a send delivered is received exactly once.
 *   two_wakers         a select over 8 channels woken by 8 senders on both
 *                      Ps at once: exactly one value is taken, the others
 *                      stay for the next receive.
 *   close_parked       selects parked on one channel (some with duplicate
 *                      cases) on both Ps, and the channel closed: every
 *                      one returns its case with ok=false.
 *   nil_closed_mix     NULL, closed, full and empty channels in one select,
 *                      with deadlines 0, past and future.
 *   after_func_parent  AfterFuncs on deadline children whose deadline fires
 *                      as the parent is cancelled from the other P: each
 *                      runs once, child and grandchild agree.
 *   wait_deadline_wake WaitGroup and Semaphore waits whose deadline expires
 *                      as Done / release wake them: each returns 0 or
 *                      -ETIMEDOUT consistently with the state.
 *   timers_far_near    tasks with deadlines far in the future (INT64_MAX,
 *                      INT64_MAX - 1, ...; ended by a bound context's
 *                      cancel) and thousands of near ones (1-20 ms) in the
 *                      same heaps: near ones fire in time, never early,
 *                      far ones never.
 *   ctx_select_conserve receivers select on a data channel and their own
 *                      context's done channel (some bound to it) with
 *                      short deadlines while the other P cancels those
 *                      contexts: every value a send delivered is received
 *                      exactly once.
 *   teardown_select    selects (2 and 70 cases) parked, or woken and not
 *                      run, when main returns: after rg_run the channels
 *                      are freed and ASan's leak check finds nothing.
 *   teardown_ctx       a context with a pending deadline, tasks bound to
 *                      it parked (receive, select) when main returns: the
 *                      next rg_run parks a task under it and cancels it,
 *                      and it is released after rg_run (documented as
 *                      usable then): no record of a discarded task is
 *                      touched.
 *
 * Cases that found a bug (each failed every run before its fix, 2026-12-06):
 *   timer_hog, timer_spin_wait  only a timer's own P fired it, between
 *                      tasks: a P stuck in one task held its sleepers
 *                      (fix: sysmon fires a stuck P's due timers).
 *   teardown_select    a select discarded by rg_run leaked its records
 *                      (ASan's leak check).
 *   teardown_ctx       a context outliving rg_run still listed the
 *                      discarded tasks' waiter records: SIGSEGV.
 */
// ctest-timeout: 120
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#include "sync_adv.h"


#define US 1000LL
#define MS 1000000LL
#define SAFETY (5000 * MS) /* only a hang reaches this */
#define ITERS(rel, san) (T_SANITIZED ? (san) : (rel))

static int nprocs;

static void wg_wait(rg_waitgroup *wg)
{
	CHECK_EQ(rg_waitgroup_wait(wg, in(SAFETY)), 0);
}

/* ============================================================ timer_hog */

struct hog {
	_Atomic int64_t late;
	_Atomic int done;
	int64_t hog_ns;
};
static struct hog hog;

static void hog_fn(void *arg)
{
	spin_ns(hog.hog_ns); /* no scheduling point: a CPU-bound task */
	atomic_fetch_add(&hog.done, 1);
}

static void hog_sleeper(void *arg)
{
	/* the hog goes to this P's runnext and runs as soon as we park */
	CHECK(rg_go(hog_fn, NULL) > 0);
	int64_t dl = in(2 * MS);
	CHECK_EQ(rg_sleep_until(dl), 0);
	atomic_store(&hog.late, rg_now() - dl);
	atomic_fetch_add(&hog.done, 1);
}

static void case_timer_hog(void)
{
	if (nprocs < 2)
		return;
	int64_t worst = 0;
	for (int i = 0; i < 3; i++) {
		hog.hog_ns = 300 * MS;
		atomic_store(&hog.done, 0);
		atomic_store(&hog.late, -1);
		CHECK(rg_go(hog_sleeper, NULL) > 0);
		int64_t end = in(SAFETY);
		while (atomic_load(&hog.done) < 2 && rg_now() < end)
			rg_sleep(MS);
		CHECK_EQ(atomic_load(&hog.done), 2);
		int64_t late = atomic_load(&hog.late);
		if (late > worst)
			worst = late;
	}
	printf("  timer_hog: worst lateness %.1f ms (hog 300 ms, lag %.1f ms)\n", worst / 1e6, t_lag_ns() / 1e6);
	/* the other P idles all along: a due timer must not wait for the hog */
	CHECK(worst < 100 * MS + 2 * t_lag_ns());
}

/* timer_spin_wait: a task spins (yielding its thread, as sync/'s own
 * backoff does) for a flag that a task parked with a deadline on the same
 * P sets when it wakes.  Fine as long as that timer fires somewhere; with
 * timers fired only by their own P, the spinner held it forever. */
struct tsw {
	rg_chan *c;
	_Atomic int flag;
	_Atomic int64_t waited;
};
static struct tsw tsw;

static void tsw_sleeper(void *arg)
{
	long v = 1;
	/* readies the spinner into this P's runnext; it runs as we park */
	CHECK_EQ(rg_chan_send(tsw.c, &v, -1), 0);
	rg_sleep(MS);
	atomic_store(&tsw.flag, 1);
}

static void tsw_spinner(void *arg)
{
	long v;
	CHECK(rg_go(tsw_sleeper, NULL) > 0);
	CHECK_EQ(rg_chan_recv(tsw.c, &v, NULL, -1), 0);
	int64_t t0 = rg_now(), end = t0 + 2000 * MS;
	while (!atomic_load(&tsw.flag) && rg_now() < end)
		sched_yield();
	atomic_store(&tsw.waited, rg_now() - t0);
}

static void case_timer_spin_wait(void)
{
	if (nprocs < 2)
		return;
	for (int i = 0; i < 3; i++) {
		memset(&tsw, 0, sizeof tsw);
		tsw.c = rg_chan_make(sizeof(long), 0);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, tsw_spinner, NULL);
		wg_wait(&wg);
		int64_t end = in(SAFETY);
		while (!atomic_load(&tsw.flag) && rg_now() < end)
			rg_sleep(MS);
		if (atomic_load(&tsw.waited) >= 2000 * MS)
			fprintf(stderr, "timer_spin_wait: the sleeper's timer never fired while its P spun\n");
		CHECK(atomic_load(&tsw.waited) < 2000 * MS);
		rg_chan_free(tsw.c);
	}
}

/* ===================================================== done_cancel_race */

#define DCR_CTX 4
struct dcr {
	rg_ctx *ctx[DCR_CTX];
	rg_chan *data, *closed;
	_Atomic int go;
	_Atomic long bad;
};
static struct dcr dcr;

static void dcr_canceller(void *arg)
{
	uint64_t s = (uintptr_t)arg * 7919 + 1;
	while (!atomic_load(&dcr.go))
		rg_yield();
	spin_ns((int64_t)(xs(&s) % 20) * US);
	for (int i = 0; i < DCR_CTX; i++)
		rg_ctx_cancel(dcr.ctx[(i + (int)(xs(&s) % DCR_CTX)) % DCR_CTX]);
}

static void dcr_selector(void *arg)
{
	rg_select_case cs[DCR_CTX + 2];
	long v = 0;
	for (int i = 0; i < DCR_CTX; i++)
		cs[i] = (rg_select_case){ rg_ctx_done(dcr.ctx[i]), RG_SELECT_RECV, NULL, true };
	cs[DCR_CTX] = (rg_select_case){ dcr.data, RG_SELECT_RECV, &v, false };
	cs[DCR_CTX + 1] = (rg_select_case){ NULL, RG_SELECT_SEND, &v, false };
	atomic_store(&dcr.go, 1);
	int r = rg_select(cs, DCR_CTX + 2, in(SAFETY));
	if (r < 0 || r >= DCR_CTX) {
		fprintf(stderr, "done_cancel_race: select returned %d\n", r);
		atomic_fetch_add(&dcr.bad, 1);
		return;
	}
	if (cs[r].ok || rg_ctx_err(dcr.ctx[r]) != -ECANCELED) {
		fprintf(stderr, "done_cancel_race: case %d ok %d err %d\n", r, cs[r].ok, rg_ctx_err(dcr.ctx[r]));
		atomic_fetch_add(&dcr.bad, 1);
	}
}

static void case_done_cancel_race(void)
{
	int iters = ITERS(2000, 200);
	for (int it = 0; it < iters; it++) {
		memset(&dcr, 0, sizeof dcr);
		for (int i = 0; i < DCR_CTX; i++)
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &dcr.ctx[i]), 0);
		dcr.data = rg_chan_make(sizeof(long), it % 2);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, dcr_selector, NULL);
		go_wg(&wg, dcr_selector, NULL);
		go_wg(&wg, dcr_canceller, (void *)(uintptr_t)it);
		wg_wait(&wg);
		CHECK_EQ(atomic_load(&dcr.bad), 0);
		for (int i = 0; i < DCR_CTX; i++)
			rg_ctx_release(dcr.ctx[i]);
		rg_chan_free(dcr.data);
	}
}

/* ================================================== deadline_vs_partner */

struct dvp {
	rg_chan *c;
	_Atomic long sent, recvd, sum_sent, sum_recvd;
	_Atomic int stop;
	int n;
};
static struct dvp dvp;

static void dvp_sender(void *arg)
{
	uint64_t s = 12345;
	for (long i = 1; i <= dvp.n; i++) {
		int64_t dl = in((int64_t)(xs(&s) % 30) * US);
		int r = rg_chan_send(dvp.c, &i, dl);
		if (r == 0) {
			atomic_fetch_add(&dvp.sent, 1);
			atomic_fetch_add(&dvp.sum_sent, i);
		} else {
			CHECK_EQ(r, -ETIMEDOUT);
		}
	}
	atomic_store(&dvp.stop, 1);
}

static void dvp_receiver(void *arg)
{
	uint64_t s = 777;
	rg_chan *never = rg_chan_make(sizeof(long), 0);
	for (;;) {
		long v = 0;
		rg_select_case cs[2] = { { never, RG_SELECT_RECV, &v, false }, { dvp.c, RG_SELECT_RECV, &v, false } };
		int r = rg_select(cs, 2, in((int64_t)(xs(&s) % 30) * US));
		if (r == 1) {
			CHECK(cs[1].ok);
			atomic_fetch_add(&dvp.recvd, 1);
			atomic_fetch_add(&dvp.sum_recvd, v);
			continue;
		}
		CHECK_EQ(r, -ETIMEDOUT);
		if (atomic_load(&dvp.stop) && rg_chan_len(dvp.c) == 0)
			break;
	}
	rg_chan_free(never);
}

static void case_deadline_vs_partner(void)
{
	for (size_t cap = 0; cap <= 2; cap++) {
		memset(&dvp, 0, sizeof dvp);
		dvp.n = ITERS(20000, 2000);
		dvp.c = rg_chan_make(sizeof(long), cap);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, dvp_receiver, NULL);
		go_wg(&wg, dvp_sender, NULL);
		wg_wait(&wg);
		CHECK_EQ(atomic_load(&dvp.sent), atomic_load(&dvp.recvd));
		CHECK_EQ(atomic_load(&dvp.sum_sent), atomic_load(&dvp.sum_recvd));
		rg_chan_free(dvp.c);
	}
}

/* ============================================================ two_wakers */

#define TW_N 8
struct tw {
	rg_chan *c[TW_N];
	_Atomic int go, got, sent;
};
static struct tw tw;

static void tw_sender(void *arg)
{
	int i = (int)(uintptr_t)arg;
	long v = i + 1;
	while (!atomic_load(&tw.go))
		rg_yield();
	if (rg_chan_send(tw.c[i], &v, in(SAFETY)) == 0)
		atomic_fetch_add(&tw.sent, 1);
}

static void tw_selector(void *arg)
{
	rg_select_case cs[TW_N];
	long v[TW_N] = { 0 };
	for (int i = 0; i < TW_N; i++)
		cs[i] = (rg_select_case){ tw.c[i], RG_SELECT_RECV, &v[i], false };
	atomic_store(&tw.go, 1);
	int r = rg_select(cs, TW_N, in(SAFETY));
	CHECK(r >= 0 && r < TW_N);
	CHECK(cs[r].ok);
	CHECK_EQ(v[r], r + 1);
	atomic_fetch_add(&tw.got, 1);
	/* the rest are still there, once each */
	for (int k = 0; k < TW_N - 1; k++) {
		long x = 0;
		int q = rg_select(cs, TW_N, in(SAFETY));
		CHECK(q >= 0 && q < TW_N && q != r);
		x = v[q];
		CHECK_EQ(x, q + 1);
		atomic_fetch_add(&tw.got, 1);
	}
}

static void case_two_wakers(void)
{
	int iters = ITERS(1000, 100);
	for (int it = 0; it < iters; it++) {
		memset(&tw, 0, sizeof tw);
		for (int i = 0; i < TW_N; i++)
			tw.c[i] = rg_chan_make(sizeof(long), (size_t)(it % 3 == 2 && i % 2));
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, tw_selector, NULL);
		for (int i = 0; i < TW_N; i++)
			go_wg(&wg, tw_sender, (void *)(uintptr_t)i);
		wg_wait(&wg);
		CHECK_EQ(atomic_load(&tw.got), TW_N);
		CHECK_EQ(atomic_load(&tw.sent), TW_N);
		for (int i = 0; i < TW_N; i++)
			rg_chan_free(tw.c[i]);
	}
}

/* ========================================================== close_parked */

struct cp {
	rg_chan *c, *c2, *other;
	_Atomic int parked;
	_Atomic long bad;
};
static struct cp cp;

/* kind bit 0: send (on c2, which nobody receives from) rather than
 * receive (on c); bit 1: the same case twice */
static void cp_selector(void *arg)
{
	int kind = (int)(uintptr_t)arg;
	long v = 5, w = 5;
	rg_chan *c = kind & 1 ? cp.c2 : cp.c;
	int dir = kind & 1 ? RG_SELECT_SEND : RG_SELECT_RECV;
	rg_select_case cs[3] = {
		{ cp.other, RG_SELECT_RECV, &w, true },
		{ c, dir, &v, true },
		{ kind & 2 ? c : NULL, dir, &v, true },
	};
	atomic_fetch_add(&cp.parked, 1);
	int r = rg_select(cs, 3, in(SAFETY));
	if ((r != 1 && r != 2) || cs[r].ok || (r == 2 && !(kind & 2)) || (dir == RG_SELECT_RECV && v != 0)) {
		fprintf(stderr, "close_parked: kind %d r %d ok %d v %ld\n", kind, r, r >= 0 ? cs[r].ok : -1, v);
		atomic_fetch_add(&cp.bad, 1);
	}
}

static void case_close_parked(void)
{
	int iters = ITERS(300, 40);
	for (int it = 0; it < iters; it++) {
		memset(&cp, 0, sizeof cp);
		cp.c = rg_chan_make(sizeof(long), (size_t)(it % 2));
		cp.c2 = rg_chan_make(sizeof(long), 0);
		cp.other = rg_chan_make(sizeof(long), 0);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		int n = 16;
		for (int i = 0; i < n; i++)
			go_wg(&wg, cp_selector, (void *)(uintptr_t)(i % 4));
		int64_t end = in(SAFETY);
		while (atomic_load(&cp.parked) < n && rg_now() < end)
			rg_yield();
		spin_ns((it % 5) * 10 * US);
		CHECK_EQ(rg_chan_close(cp.c), 0);
		CHECK_EQ(rg_chan_close(cp.c2), 0);
		wg_wait(&wg);
		CHECK_EQ(atomic_load(&cp.bad), 0);
		rg_chan_free(cp.c);
		rg_chan_free(cp.c2);
		rg_chan_free(cp.other);
	}
}

/* ======================================================== nil_closed_mix */

static void case_nil_closed_mix(void)
{
	rg_chan *closed = rg_chan_make(sizeof(long), 0);
	rg_chan *bclosed = rg_chan_make(sizeof(long), 2);
	rg_chan *full = rg_chan_make(sizeof(long), 1);
	rg_chan *empty = rg_chan_make(sizeof(long), 1);
	long one = 1;
	CHECK_EQ(rg_chan_send(bclosed, &one, 0), 0);
	CHECK_EQ(rg_chan_close(closed), 0);
	CHECK_EQ(rg_chan_close(bclosed), 0);
	CHECK_EQ(rg_chan_send(full, &one, 0), 0);
	int64_t dls[3] = { 0, 1, -1 };
	for (int d = 0; d < 3; d++) {
		int64_t dl = dls[d] == 1 ? rg_now() - MS : dls[d] == -1 ? in(SAFETY) : 0;
		/* only the closed receive can go */
		long v = 9;
		rg_select_case cs[5] = {
			{ NULL, RG_SELECT_RECV, &v, true },
			{ full, RG_SELECT_SEND, &one, true },
			{ closed, RG_SELECT_RECV, &v, true },
			{ empty, RG_SELECT_RECV, &v, true },
			{ NULL, RG_SELECT_SEND, &one, true },
		};
		CHECK_EQ(rg_select(cs, 5, dl), 2);
		CHECK(!cs[2].ok);
		CHECK_EQ(v, 0);
		/* a send on a closed channel is chosen with ok=false */
		rg_select_case cs2[3] = {
			{ NULL, RG_SELECT_RECV, &v, true },
			{ closed, RG_SELECT_SEND, &one, true },
			{ empty, RG_SELECT_RECV, &v, true },
		};
		CHECK_EQ(rg_select(cs2, 3, dl), 1);
		CHECK(!cs2[1].ok);
		/* nothing ready but NULLs and blocked channels */
		rg_select_case cs3[3] = {
			{ NULL, RG_SELECT_RECV, &v, true },
			{ full, RG_SELECT_SEND, &one, true },
			{ empty, RG_SELECT_RECV, &v, true },
		};
		if (d == 0)
			CHECK_EQ(rg_select(cs3, 3, 0), -EAGAIN);
		else if (d == 1)
			CHECK_EQ(rg_select(cs3, 3, dl), -ETIMEDOUT);
		else
			CHECK_EQ(rg_select(cs3, 3, in(MS)), -ETIMEDOUT);
	}
	/* a closed buffered channel drains first */
	long v = 0;
	rg_select_case cb[2] = { { NULL, RG_SELECT_RECV, &v, true }, { bclosed, RG_SELECT_RECV, &v, false } };
	CHECK_EQ(rg_select(cb, 2, 0), 1);
	CHECK(cb[1].ok);
	CHECK_EQ(v, 1);
	CHECK_EQ(rg_select(cb, 2, 0), 1);
	CHECK(!cb[1].ok);
	rg_chan_free(closed);
	rg_chan_free(bclosed);
	rg_chan_free(full);
	rg_chan_free(empty);
}

/* ===================================================== after_func_parent */

struct afp {
	rg_ctx *parent, *child, *grand;
	_Atomic int runs_child, runs_grand;
};
static struct afp afp;

static void afp_child_fn(void *arg) { atomic_fetch_add(&afp.runs_child, 1); }
static void afp_grand_fn(void *arg) { atomic_fetch_add(&afp.runs_grand, 1); }

static void afp_cancel(void *arg)
{
	int64_t at = (int64_t)(intptr_t)arg;
	while (rg_now() < at)
		;
	rg_ctx_cancel(afp.parent);
}

static void case_after_func_parent(void)
{
	int iters = ITERS(2000, 200);
	uint64_t s = 99;
	for (int it = 0; it < iters; it++) {
		memset(&afp, 0, sizeof afp);
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &afp.parent), 0);
		int64_t dl = in(50 * US);
		CHECK_EQ(rg_ctx_with_deadline(afp.parent, dl, &afp.child), 0);
		CHECK_EQ(rg_ctx_with_timeout(afp.child, INT64_MAX, &afp.grand), 0);
		CHECK(rg_ctx_after_func(afp.child, afp_child_fn, NULL) > 0);
		CHECK(rg_ctx_after_func(afp.grand, afp_grand_fn, NULL) > 0);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, afp_cancel, (void *)(intptr_t)(dl - 10 * US + (int64_t)(xs(&s) % 20) * US));
		CHECK_EQ(rg_chan_recv(rg_ctx_done(afp.grand), NULL, NULL, in(SAFETY)), 0);
		int ec = rg_ctx_err(afp.child), eg = rg_ctx_err(afp.grand);
		CHECK(ec == -ECANCELED || ec == -ETIMEDOUT);
		CHECK_EQ(eg, ec);
		wg_wait(&wg);
		int64_t end = in(SAFETY);
		while ((atomic_load(&afp.runs_child) < 1 || atomic_load(&afp.runs_grand) < 1) && rg_now() < end)
			rg_sleep(20 * US);
		rg_sleep(50 * US);
		CHECK_EQ(atomic_load(&afp.runs_child), 1);
		CHECK_EQ(atomic_load(&afp.runs_grand), 1);
		CHECK_EQ(rg_ctx_err(afp.parent), -ECANCELED);
		rg_ctx_release(afp.grand);
		rg_ctx_release(afp.child);
		rg_ctx_release(afp.parent);
	}
}

/* ==================================================== wait_deadline_wake */

struct wdw {
	rg_waitgroup wg;
	rg_sema sema;
	int64_t at;
	_Atomic int ok, timedout;
};
static struct wdw wdw;

static void wdw_waiter(void *arg)
{
	int r = rg_waitgroup_wait(&wdw.wg, wdw.at);
	if (r == 0)
		atomic_fetch_add(&wdw.ok, 1);
	else {
		CHECK_EQ(r, -ETIMEDOUT);
		atomic_fetch_add(&wdw.timedout, 1);
	}
	r = rg_sema_acquire(&wdw.sema, 1, wdw.at + 20 * US);
	if (r == 0) {
		atomic_fetch_add(&wdw.ok, 1);
		rg_sema_release(&wdw.sema, 1);
	} else {
		CHECK_EQ(r, -ETIMEDOUT);
		atomic_fetch_add(&wdw.timedout, 1);
	}
}

static void wdw_waker(void *arg)
{
	while (rg_now() < wdw.at)
		;
	rg_waitgroup_done(&wdw.wg);
	spin_ns(20 * US);
	rg_sema_release(&wdw.sema, 2);
}

static void case_wait_deadline_wake(void)
{
	int iters = ITERS(1000, 100);
	for (int it = 0; it < iters; it++) {
		memset(&wdw, 0, sizeof wdw);
		rg_waitgroup_add(&wdw.wg, 1);
		rg_sema_init(&wdw.sema, 2);
		CHECK(rg_sema_try_acquire(&wdw.sema, 2));
		wdw.at = in(100 * US);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		for (int i = 0; i < 4; i++)
			go_wg(&wg, wdw_waiter, NULL);
		go_wg(&wg, wdw_waker, NULL);
		wg_wait(&wg);
		CHECK_EQ(atomic_load(&wdw.ok) + atomic_load(&wdw.timedout), 8);
		CHECK_EQ(rg_waitgroup_wait(&wdw.wg, 0), 0);
		CHECK(rg_sema_try_acquire(&wdw.sema, 2));
		rg_sema_release(&wdw.sema, 2);
	}
}

/* ======================================================= timers_far_near */

struct tfn {
	rg_chan *never;
	_Atomic long late_max, early, fired_far;
};
static struct tfn tfn;

static void tfn_near(void *arg)
{
	int64_t d = (int64_t)(intptr_t)arg;
	int64_t dl = in(d);
	int r = rg_chan_recv(tfn.never, NULL, NULL, dl);
	CHECK_EQ(r, -ETIMEDOUT);
	int64_t late = rg_now() - dl;
	if (late < 0)
		atomic_fetch_add(&tfn.early, 1);
	long m = atomic_load(&tfn.late_max);
	while (late > m && !atomic_compare_exchange_weak(&tfn.late_max, &m, late))
		;
}

static void tfn_far(void *arg)
{
	int64_t dl = (int64_t)(intptr_t)arg, t0 = rg_now();
	int r = rg_chan_recv(tfn.never, NULL, NULL, dl);
	if (r != -ECANCELED) { /* bound: cancelled at the end */
		fprintf(stderr, "timers_far_near: deadline %lld: %d after %.1f ms\n", (long long)dl, r,
		        (rg_now() - t0) / 1e6);
		atomic_fetch_add(&tfn.fired_far, 1);
	}
}

struct far_arg {
	rg_ctx *ctx;
	int64_t dl;
};
static void tfn_far_bound(void *arg)
{
	struct far_arg *fa = arg;
	rg_ctx_bind(fa->ctx);
	tfn_far((void *)(intptr_t)fa->dl);
	rg_ctx_bind(NULL);
}

static void case_timers_far_near(void)
{
	memset(&tfn, 0, sizeof tfn);
	tfn.never = rg_chan_make(0, 0);
	rg_ctx *stop;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &stop), 0);
	rg_waitgroup wg = RG_WAITGROUP_INIT;
	static const int64_t fars[] = { INT64_MAX, INT64_MAX - 1, INT64_MAX / 2, 3600LL * 1000 * MS };
	struct far_arg fa[4];
	for (int i = 0; i < 4; i++) {
		fa[i] = (struct far_arg){ stop, i == 3 ? in(fars[i]) : fars[i] };
		go_wg(&wg, tfn_far_bound, &fa[i]);
	}
	int n = ITERS(2000, 300);
	uint64_t s = 4242;
	for (int i = 0; i < n; i++)
		go_wg(&wg, tfn_near, (void *)(intptr_t)((int64_t)(1 + xs(&s) % 20) * MS));
	/* near ones must be done well before the far ones are cancelled */
	rg_sleep(200 * MS);
	int64_t late = atomic_load(&tfn.late_max);
	rg_ctx_cancel(stop);
	wg_wait(&wg);
	printf("  timers_far_near: worst lateness %.1f ms (lag %.1f ms)\n", late / 1e6, t_lag_ns() / 1e6);
	CHECK_EQ(atomic_load(&tfn.early), 0);
	CHECK_EQ(atomic_load(&tfn.fired_far), 0);
	CHECK(late < 150 * MS + 2 * t_lag_ns());
	rg_ctx_release(stop);
	rg_chan_free(tfn.never);
}

/* ================================================== ctx_select_conserve */

/* Receivers select on a data channel and the done channel of their own
 * context, some bound to it, with short deadlines, while the other P
 * cancels their contexts and senders send with short deadlines: every
 * value whose send returned 0 is received exactly once. */
struct csc {
	rg_chan *c;
	_Atomic long sent, sum_sent, recvd, sum_recvd;
	_Atomic int senders_left;
	int n;
};
static struct csc csc;

static void csc_sender(void *arg)
{
	uint64_t s = (uintptr_t)arg * 31 + 5;
	for (long i = 1; i <= csc.n; i++) {
		long v = i * 2 + (long)(uintptr_t)arg;
		int r = rg_chan_send(csc.c, &v, xs(&s) % 4 ? in((int64_t)(xs(&s) % 40) * US) : 0);
		if (r == 0) {
			atomic_fetch_add(&csc.sent, 1);
			atomic_fetch_add(&csc.sum_sent, v);
		} else {
			CHECK(r == -ETIMEDOUT || r == -EAGAIN);
		}
		if (i % 64 == 0)
			rg_yield();
	}
	atomic_fetch_sub(&csc.senders_left, 1);
}

struct csc_ctx {
	rg_ctx *ctx;
	_Atomic int stop;
};

static void csc_canceller(void *arg)
{
	struct csc_ctx *cc = arg;
	uint64_t s = 4711;
	while (!atomic_load(&cc->stop)) {
		spin_ns((int64_t)(xs(&s) % 30) * US);
		rg_ctx *c = atomic_exchange((rg_ctx *_Atomic *)&cc->ctx, NULL);
		if (c) {
			rg_ctx_cancel(c);
			rg_ctx_release(c);
		}
		rg_yield();
	}
}

static void csc_receiver(void *arg)
{
	struct csc_ctx *cc = arg;
	uint64_t s = (uintptr_t)cc * 13;
	for (;;) {
		rg_ctx *c;
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), (int64_t)(xs(&s) % 60) * US, &c), 0);
		rg_ctx_retain(c);
		rg_ctx *old = atomic_exchange((rg_ctx *_Atomic *)&cc->ctx, c);
		if (old) {
			rg_ctx_cancel(old);
			rg_ctx_release(old);
		}
		bool bind = xs(&s) % 2;
		if (bind)
			rg_ctx_bind(c);
		for (int k = 0; k < 8; k++) {
			long v = 0;
			rg_select_case cs[3] = {
				{ rg_ctx_done(c), RG_SELECT_RECV, NULL, false },
				{ csc.c, RG_SELECT_RECV, &v, false },
				{ xs(&s) % 2 ? csc.c : NULL, RG_SELECT_RECV, &v, false },
			};
			int r = rg_select(cs, 3, xs(&s) % 3 ? in((int64_t)(xs(&s) % 40) * US) : -1);
			if (r == 1 || r == 2) {
				CHECK(cs[r].ok);
				atomic_fetch_add(&csc.recvd, 1);
				atomic_fetch_add(&csc.sum_recvd, v);
			} else if (r == 0) {
				CHECK(rg_ctx_err(c) != 0);
				break;
			} else {
				CHECK(r == -ETIMEDOUT || r == -ECANCELED);
				if (r == -ECANCELED)
					CHECK(rg_ctx_err(c) != 0);
			}
		}
		if (bind)
			rg_ctx_bind(NULL);
		rg_ctx_release(c);
		if (atomic_load(&csc.senders_left) == 0)
			break;
	}
}

static void case_ctx_select_conserve(void)
{
	for (size_t cap = 0; cap <= 4; cap += cap ? 3 : 1) {
		memset(&csc, 0, sizeof csc);
		csc.n = ITERS(2000, 300);
		csc.c = rg_chan_make(sizeof(long), cap);
		struct csc_ctx cc[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
		rg_waitgroup wg = RG_WAITGROUP_INIT, wgc = RG_WAITGROUP_INIT;
		atomic_store(&csc.senders_left, 2);
		for (int i = 0; i < 3; i++) {
			go_wg(&wg, csc_receiver, &cc[i]);
			go_wg(&wgc, csc_canceller, &cc[i]);
		}
		go_wg(&wg, csc_sender, (void *)(uintptr_t)0);
		go_wg(&wg, csc_sender, (void *)(uintptr_t)1);
		wg_wait(&wg);
		for (int i = 0; i < 3; i++)
			atomic_store(&cc[i].stop, 1);
		wg_wait(&wgc);
		for (int i = 0; i < 3; i++)
			if (cc[i].ctx)
				rg_ctx_release(cc[i].ctx);
		/* what the receivers left */
		long v;
		bool ok;
		while (rg_chan_recv(csc.c, &v, &ok, 0) == 0) {
			atomic_fetch_add(&csc.recvd, 1);
			atomic_fetch_add(&csc.sum_recvd, v);
		}
		CHECK_EQ(atomic_load(&csc.recvd), atomic_load(&csc.sent));
		CHECK_EQ(atomic_load(&csc.sum_recvd), atomic_load(&csc.sum_sent));
		rg_chan_free(csc.c);
	}
}

/* ======================================================= teardown_select */

/* Selects (2 and 70 cases: pooled records and heap scratch) still parked,
 * or woken and not yet run, when main returns are discarded with their
 * tasks; the channels may then be freed ("free its memory only", rg_run).
 * Nothing may leak: ASan's leak check runs right after.  Its own rg_run,
 * from main(), before the others. */
static rg_chan *tds_c[3];

static void tds_selector(void *arg)
{
	int n = (int)(uintptr_t)arg;
	long v;
	rg_select_case cs[70];
	for (int i = 0; i < n; i++)
		cs[i] = (rg_select_case){ tds_c[i % 3], RG_SELECT_RECV, &v, false };
	rg_select(cs, n, -1);
}

static int tds_main(void *arg)
{
	for (int i = 0; i < 3; i++)
		tds_c[i] = rg_chan_make(sizeof(long), 0);
	for (int i = 0; i < 8; i++)
		CHECK(rg_go(tds_selector, (void *)(uintptr_t)(i % 2 ? 2 : 70)) > 0);
	rg_sleep(2 * MS);
	/* wakes one: its task may or may not run before main returns */
	long v = 1;
	CHECK_EQ(rg_chan_send(tds_c[0], &v, 0), 0);
	return 0;
}

static void case_teardown_select_outside(int procs)
{
	rg_config cfg = { .procs = procs, .quiet = 1 };
	CHECK_EQ(rg_run(tds_main, NULL, &cfg), 0);
	for (int i = 0; i < 3; i++)
		rg_chan_free(tds_c[i]);
#if T_LSAN
	CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

static void case_teardown_select(void) { /* runs from main(): see there */ }

/* ========================================================== teardown_ctx */

/* A context with a pending deadline "stays usable" after rg_run (ringo/
 * core.h) and may be released later.  Tasks bound to it were parked
 * under it (a receive, a select) when main returned: their waiter
 * records, on stacks rg_run unmapped, must not be touched when the next
 * rg_run parks another task under it, cancels it, or when it is released.
 * Its own rg_runs, from main(). */
static rg_ctx *tdc_ctx;
static rg_chan *tdc_ch;
static _Atomic int tdc_res;

static void tdc_waiter(void *arg)
{
	rg_ctx_bind(tdc_ctx);
	if ((uintptr_t)arg % 2) {
		rg_chan_recv(tdc_ch, NULL, NULL, -1);
	} else {
		rg_select_case cs[2] = { { tdc_ch, RG_SELECT_RECV, NULL, false }, { NULL, RG_SELECT_RECV, NULL, false } };
		rg_select(cs, 2, -1);
	}
	atomic_store(&tdc_res, 1); /* not reached in the first run */
}

static int tdc_main1(void *arg)
{
	if (!tdc_ch)
		tdc_ch = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 3600 * 1000 * MS, &tdc_ctx), 0);
	for (int i = 0; i < 6; i++)
		CHECK(rg_go(tdc_waiter, (void *)(uintptr_t)i) > 0);
	rg_sleep(2 * MS);
	return 0;
}

static void tdc_waiter2(void *arg)
{
	rg_ctx_bind(tdc_ctx);
	atomic_store(&tdc_res, rg_chan_recv(arg, NULL, NULL, in(SAFETY)));
}

static int tdc_main2(void *arg)
{
	/* a new channel: tdc_ch still lists the discarded tasks, and is not
	 * to be used any more (rg_run) */
	rg_chan *ch = rg_chan_make(0, 0);
	atomic_store(&tdc_res, 1);
	CHECK(rg_go(tdc_waiter2, ch) > 0);
	rg_sleep(2 * MS);
	rg_ctx_cancel(tdc_ctx);
	int64_t end = in(SAFETY);
	while (atomic_load(&tdc_res) == 1 && rg_now() < end)
		rg_sleep(MS);
	CHECK_EQ(atomic_load(&tdc_res), -ECANCELED);
	rg_chan_free(ch);
	return 0;
}

static void case_teardown_ctx_outside(int procs)
{
	rg_config cfg = { .procs = procs, .quiet = 1 };
	atomic_store(&tdc_res, 0);
	CHECK_EQ(rg_run(tdc_main1, NULL, &cfg), 0);
	CHECK_EQ(atomic_load(&tdc_res), 0);
	CHECK_EQ(rg_ctx_err(tdc_ctx), 0);
	CHECK_EQ(rg_run(tdc_main2, NULL, &cfg), 0);
	rg_ctx_release(tdc_ctx);
	rg_chan_free(tdc_ch);
	tdc_ch = NULL;
	/* and released right after the first run */
	CHECK_EQ(rg_run(tdc_main1, NULL, &cfg), 0);
	rg_ctx_release(tdc_ctx);
	rg_chan_free(tdc_ch);
	tdc_ch = NULL;
}

static void case_teardown_ctx(void) { /* runs from main(): see there */ }

/* ================================================================= main */

struct tcase {
	const char *name;
	void (*fn)(void);
};
static const struct tcase cases[] = {
	{ "timer_hog", case_timer_hog },
	{ "timer_spin_wait", case_timer_spin_wait },
	{ "done_cancel_race", case_done_cancel_race },
	{ "deadline_vs_partner", case_deadline_vs_partner },
	{ "two_wakers", case_two_wakers },
	{ "close_parked", case_close_parked },
	{ "nil_closed_mix", case_nil_closed_mix },
	{ "after_func_parent", case_after_func_parent },
	{ "wait_deadline_wake", case_wait_deadline_wake },
	{ "timers_far_near", case_timers_far_near },
	{ "ctx_select_conserve", case_ctx_select_conserve },
	{ "teardown_select", case_teardown_select },
	{ "teardown_ctx", case_teardown_ctx },
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static const char *only;

static int main_fn(void *arg)
{
	nprocs = rg_procs();
	for (int i = 0; i < NCASES; i++) {
		if (only && strcmp(only, cases[i].name) != 0)
			continue;
		int64_t t0 = rg_now();
		cases[i].fn();
		printf("%-24s %8.1f ms\n", cases[i].name, (rg_now() - t0) / 1e6);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	only = argc > 1 ? argv[1] : getenv("RG_CASE");
	if (only && !*only)
		only = NULL;
	if (only) {
		bool found = false;
		for (int i = 0; i < NCASES; i++)
			found |= strcmp(only, cases[i].name) == 0;
		if (!found) {
			fprintf(stderr, "no case %s\n", only);
			return T_FAIL;
		}
	}
	alarm(110); /* a hang fails here, not at ctest's timeout */
	if (!only || strcmp(only, "teardown_select") == 0) {
		case_teardown_select_outside(1);
		case_teardown_select_outside(2);
		printf("%-24s done\n", "teardown_select");
		if (only)
			return T_PASS;
	}
	if (!only || strcmp(only, "teardown_ctx") == 0) {
		case_teardown_ctx_outside(1);
		case_teardown_ctx_outside(2);
		printf("%-24s done\n", "teardown_ctx");
		if (only)
			return T_PASS;
	}
	t_lag_start();
	rg_config one = { .procs = 1, .quiet = 1 }, two = { .procs = 2, .quiet = 1 };
	printf("-- 1 P\n");
	CHECK_EQ(rg_run(main_fn, NULL, &one), 0);
	printf("-- 2 Ps\n");
	CHECK_EQ(rg_run(main_fn, NULL, &two), 0);
	printf("select_adversarial: ok\n");
	return T_PASS;
}
