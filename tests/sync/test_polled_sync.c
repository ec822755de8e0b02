/* Every non-blocking (polled) success path of ringo/sync.h must be an
 * acquire of the operation it observed, as Go's memory model asks of the
 * blocking forms: what a task wrote before a send, a close, a cancel, an
 * unlock, a Done, a release or inside Once's fn is visible to a task whose
 * poll (deadline 0, try*, the select with a default) then succeeds because
 * of it.  test_closed_poll caught one such path that used a relaxed load
 * (rg_chan_recv(0) reporting an unbuffered channel closed); this test
 * covers the bug class: for each path a releaser writes plain (non-atomic)
 * variables and then performs the releasing operation, and a poller spins
 * on the non-blocking form until it succeeds, then reads them.  TSan
 * reports a data race on those variables if a path misses the acquire; a
 * release build on x86-64 passes either way (on aarch64 the stale read is
 * real and the CHECKs may catch it).
 *
 * Each case runs in up to three modes: releaser and poller both tasks;
 * the releaser a thread outside the runtime (where the release does not
 * have to wait); the poller a thread outside the runtime (deadline-0
 * calls are allowed there).  The poller is started first and spins
 * without yielding, so with 2 Ps it holds its own P (or thread) and the
 * release happens on another thread: a switch between tasks on one thread
 * is itself a synchronisation for TSan, and would hide a missing acquire.
 * Nothing but the operation under test orders the releaser before the
 * poller (the flags that pace them, `spinning` and `armed`, go the other
 * way or are relaxed).
 *
 * Checked against the library with each of these acquires made relaxed,
 * one at a time: the closed unbuffered receive (the fixed bug), a
 * buffered slot's stamp on receive and on send, tail in a buffered
 * receive's and send's sight of the close, the Mutex's trylock and lock
 * fast path, the RWMutex's tryrlock and trylock, WaitGroup wait's first
 * load, rg_ctx_err's load of err, Once's fast path: TSan reported a race
 * on this file's variables for each.
 *
 * Not covered: rg_cond (no polled form).  The Context deadline cases
 * have no user write to order (the timer's fire is the release): there
 * the poller makes the Context and TSan checks the library's own handoff
 * from the thread that fired the timer (err, the done channel). */
// ctest-timeout: 120
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL
#define NSLOT 32

/* --- the plain variables under test ------------------------------------- */

static long payload;      /* written by the releaser before its release */
static long slots[NSLOT]; /* one per value sent, or per releaser */
static long crit;         /* counts critical sections, under the lock */

/* --- pacing: never a synchronisation from releaser to poller ------------- */

static _Atomic int spinning; /* poller -> main: in its poll loop */
static _Atomic int armed;    /* relaxed only: the releaser holds the lock */

static void arm(void) { atomic_fetch_add_explicit(&armed, 1, memory_order_relaxed); }

/* The poller spins (it holds its P); a releaser that waits for another
 * (mutex_*_waiter) yields: it shares a P with the one it waits for. */
static void wait_armed_(int n, bool yield)
{
	int64_t t0 = t_mono_();
	while (atomic_load_explicit(&armed, memory_order_relaxed) < n) {
		if (yield)
			rg_self() ? rg_yield() : (void)sched_yield();
		if (t_mono_() - t0 > 20000 * MS) {
			fprintf(stderr, "polled_sync: stuck waiting for the releaser\n");
			abort();
		}
	}
}

static void wait_armed(int n)
{
	atomic_store(&spinning, 1);
	wait_armed_(n, false);
}

static const char *cur_name, *cur_mode;

/* Spins on expr (no yield) until true; aborts after 20 s. */
#define POLL(expr)                                                                 \
	do {                                                                       \
		atomic_store(&spinning, 1);                                        \
		int64_t t0_ = t_mono_();                                           \
		for (unsigned n_ = 1; !(expr); n_++)                               \
			if (!(n_ & 1023) && t_mono_() - t0_ > 20000 * MS) {        \
				fprintf(stderr, "%s (%s): stuck polling %s\n", cur_name, cur_mode, #expr); \
				abort();                                           \
			}                                                          \
	} while (0)

/* A short while, holding what the releaser holds, so that the poller's
 * tries fail a few times first.  rg_sleep sleeps the thread off a task. */
static void pause_short(void) { rg_sleep(MS / 20); }

/* A send or receive that may wait, from a task or from a thread (where a
 * call that would wait returns -EPERM: poll instead). */
static void send_any(rg_chan *c, long v)
{
	int r;
	if (rg_self())
		r = rg_chan_send(c, &v, -1);
	else
		while ((r = rg_chan_send(c, &v, 0)) == -EAGAIN)
			sched_yield();
	CHECK_EQ(r, 0);
}

static long recv_any(rg_chan *c)
{
	long v = -1;
	bool ok = false;
	int r;
	if (rg_self())
		r = rg_chan_recv(c, &v, &ok, -1);
	else
		while ((r = rg_chan_recv(c, &v, &ok, 0)) == -EAGAIN)
			sched_yield();
	CHECK_EQ(r, 0);
	CHECK(ok);
	return v;
}

/* --- the objects, made by each case's setup ------------------------------- */

static rg_chan *ch;       /* the channel under test */
static rg_chan *never;    /* unbuffered, unused: its cases are never ready */
static rg_chan *full;     /* cap 1, kept full: a send case never ready */
static rg_ctx *ctx, *child;
static rg_mutex mu;
static rg_rwmutex rw;
static rg_waitgroup wg;
static rg_sema sem;
static rg_once once;
static long cap_, nval_; /* the case's parameters */

static void decoys_make(void)
{
	never = rg_chan_make(sizeof(long), 0);
	full = rg_chan_make(sizeof(long), 1);
	CHECK(never && full);
	long v = -7;
	CHECK_EQ(rg_chan_send(full, &v, 0), 0);
}

static void decoys_free(void)
{
	rg_chan_free(never);
	rg_chan_free(full);
}

static void sel3(rg_select_case cs[3], rg_chan *c, int dir, long *val)
{
	static long junk = -9;
	cs[0] = (rg_select_case){ .ch = never, .dir = RG_SELECT_RECV, .val = NULL };
	cs[1] = (rg_select_case){ .ch = c, .dir = dir, .val = val };
	cs[2] = (rg_select_case){ .ch = full, .dir = RG_SELECT_SEND, .val = &junk };
}

static void nop(void) {}

/* --- channels -------------------------------------------------------------- */

static void chan_setup(void)
{
	ch = rg_chan_make(sizeof(long), (size_t)cap_);
	CHECK(ch != NULL);
	decoys_make();
}

/* cap_ 1: the poller's send finds it full until the releaser receives */
static void chan_setup_full(void)
{
	chan_setup();
	for (long i = 0; i < cap_; i++)
		CHECK_EQ(rg_chan_send(ch, &i, 0), 0);
}

static void chan_teardown(void)
{
	rg_chan_free(ch);
	decoys_free();
}

/* Buffered: nval_ values (more than cap: the ring laps), each with its
 * slot written before its send. */
static void rel_send_values(int i)
{
	for (long k = 0; k < nval_; k++) {
		slots[k] = 100 + k;
		send_any(ch, k);
	}
}

static void poll_recv_values(void)
{
	for (long k = 0; k < nval_; k++) {
		long v = -1;
		bool ok = false;
		POLL(rg_chan_recv(ch, &v, &ok, 0) == 0);
		CHECK(ok);
		CHECK_EQ(v, k);
		CHECK_EQ(slots[k], 100 + k);
	}
}

/* nval_ values, then the close: the poller drains, then sees it closed. */
static void rel_send_close(int i)
{
	for (long k = 0; k < nval_; k++) {
		slots[k] = 100 + k;
		send_any(ch, k);
	}
	payload = 42;
	CHECK_EQ(rg_chan_close(ch), 0);
}

static void poll_recv_closed(void)
{
	poll_recv_values();
	long v = -1;
	bool ok = true;
	POLL(rg_chan_recv(ch, &v, &ok, 0) == 0);
	CHECK(!ok);
	CHECK_EQ(v, 0);
	CHECK_EQ(payload, 42);
}

/* Unbuffered: the releaser waits in its send; the poller's receive takes
 * the value from it. */
static void rel_send_one(int i)
{
	payload = 42;
	send_any(ch, 7);
}

static void poll_recv_one(void)
{
	long v = -1;
	bool ok = false;
	POLL(rg_chan_recv(ch, &v, &ok, 0) == 0);
	CHECK(ok);
	CHECK_EQ(v, 7);
	CHECK_EQ(payload, 42);
}

/* Unbuffered: the releaser waits in its receive; Go: "a receive from an
 * unbuffered channel is synchronized before the completion of the
 * corresponding send", so what it wrote before is visible to the poller
 * once its send succeeded.  Buffered and full (chan_setup_full): "the kth
 * receive is synchronized before the completion of the k+Cth send". */
static void rel_recv_one(int i)
{
	payload = 42;
	long v = recv_any(ch);
	CHECK(cap_ ? v == 0 : v == 7);
	if (!cap_)
		CHECK_EQ(slots[0], 5); /* the plain direction: send before receive */
}

static void poll_send_one(void)
{
	long v = 7;
	slots[0] = 5;
	POLL(rg_chan_send(ch, &v, 0) == 0);
	CHECK_EQ(payload, 42);
}

/* The close only: a send that reports it (-EPIPE; Go would panic). */
static void rel_close(int i)
{
	payload = 42;
	CHECK_EQ(rg_chan_close(ch), 0);
}

static void poll_send_closed(void)
{
	long v = 7;
	POLL(rg_chan_send(ch, &v, 0) == -EPIPE);
	CHECK_EQ(payload, 42);
}

/* select with a default: three cases, the middle one under test */
static void poll_sel_recv_value(void)
{
	long v = -1;
	rg_select_case cs[3];
	sel3(cs, ch, RG_SELECT_RECV, &v);
	POLL(rg_select(cs, 3, 0) == 1);
	CHECK(cs[1].ok);
	CHECK_EQ(v, 7);
	CHECK_EQ(payload, 42);
}

static void poll_sel_recv_closed(void)
{
	long v = -1;
	rg_select_case cs[3];
	sel3(cs, ch, RG_SELECT_RECV, &v);
	POLL(rg_select(cs, 3, 0) == 1);
	CHECK(!cs[1].ok);
	CHECK_EQ(v, 0);
	CHECK_EQ(payload, 42);
}

static void poll_sel_send(void)
{
	long v = 7;
	rg_select_case cs[3];
	sel3(cs, ch, RG_SELECT_SEND, &v);
	slots[0] = 5;
	POLL(rg_select(cs, 3, 0) == 1);
	CHECK(cs[1].ok);
	CHECK_EQ(payload, 42);
}

static void poll_sel_send_closed(void)
{
	long v = 7;
	rg_select_case cs[3];
	sel3(cs, ch, RG_SELECT_SEND, &v);
	POLL(rg_select(cs, 3, 0) == 1);
	CHECK(!cs[1].ok);
	CHECK_EQ(payload, 42);
}

/* One case and a default: n is the constant 1, so a send goes through
 * ringo/sync.h's inline check first. */
static void poll_sel1_send(void)
{
	long v = 7;
	rg_select_case c = { .ch = ch, .dir = RG_SELECT_SEND, .val = &v };
	slots[0] = 5;
	POLL(rg_select(&c, 1, 0) == 0);
	CHECK(c.ok);
	CHECK_EQ(payload, 42);
}

static void poll_sel1_send_closed(void)
{
	long v = 7;
	rg_select_case c = { .ch = ch, .dir = RG_SELECT_SEND, .val = &v };
	POLL(rg_select(&c, 1, 0) == 0);
	CHECK(!c.ok);
	CHECK_EQ(payload, 42);
}

static void poll_sel1_recv_value(void)
{
	long v = -1;
	rg_select_case c = { .ch = ch, .dir = RG_SELECT_RECV, .val = &v };
	POLL(rg_select(&c, 1, 0) == 0);
	CHECK(c.ok);
	CHECK_EQ(v, 7);
	CHECK_EQ(payload, 42);
}

static void poll_sel1_recv_closed(void)
{
	long v = -1;
	rg_select_case c = { .ch = ch, .dir = RG_SELECT_RECV, .val = &v };
	POLL(rg_select(&c, 1, 0) == 0);
	CHECK(!c.ok);
	CHECK_EQ(v, 0);
	CHECK_EQ(payload, 42);
}

/* --- Context ---------------------------------------------------------------- */

static void ctx_setup(void)
{
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	child = NULL;
	decoys_make();
}

/* the poller watches a child: the cancel reaches it through the tree */
static void ctx_setup_child(void)
{
	ctx_setup();
	if (cap_)
		CHECK_EQ(rg_ctx_with_timeout(ctx, 3600000 * MS, &child), 0); /* a timer child */
	else
		CHECK_EQ(rg_ctx_with_cancel(ctx, &child), 0);
}

static void ctx_teardown(void)
{
	if (child)
		rg_ctx_release(child);
	rg_ctx_release(ctx);
	decoys_free();
}

static rg_ctx *watched(void) { return child ? child : ctx; }

static void rel_cancel(int i)
{
	payload = 42;
	rg_ctx_cancel(ctx);
}

static void poll_ctx_sel1(void)
{
	rg_select_case c = { .ch = rg_ctx_done(watched()), .dir = RG_SELECT_RECV };
	POLL(rg_select(&c, 1, 0) == 0);
	CHECK(!c.ok);
	CHECK_EQ(payload, 42);
}

/* the done channel fetched anew each time: made lazily, maybe after the
 * cancel (then closed before it is published) */
static void poll_ctx_recv(void)
{
	bool ok = true;
	POLL(rg_chan_recv(rg_ctx_done(watched()), NULL, &ok, 0) == 0);
	CHECK(!ok);
	CHECK_EQ(payload, 42);
}

static void poll_ctx_sel3(void)
{
	rg_select_case cs[3];
	sel3(cs, rg_ctx_done(watched()), RG_SELECT_RECV, NULL);
	POLL(rg_select(cs, 3, 0) == 1);
	CHECK(!cs[1].ok);
	CHECK_EQ(payload, 42);
}

static void poll_ctx_err(void)
{
	int e;
	POLL((e = rg_ctx_err(watched())) != 0);
	CHECK_EQ(e, -ECANCELED);
	CHECK_EQ(payload, 42);
	/* and done agrees */
	bool ok = true;
	CHECK_EQ(rg_chan_recv(rg_ctx_done(watched()), NULL, &ok, 0), 0);
	CHECK(!ok);
}

/* The deadline: the poller makes the Context (1 ms) and polls it; the
 * timer fires on another thread (the poller's P is busy spinning). */
static void poll_timeout_sel1(void)
{
	rg_ctx *t;
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), MS, &t), 0);
	rg_select_case c = { .ch = rg_ctx_done(t), .dir = RG_SELECT_RECV };
	POLL(rg_select(&c, 1, 0) == 0);
	CHECK(!c.ok);
	CHECK_EQ(rg_ctx_err(t), -ETIMEDOUT);
	rg_ctx_release(t);
}

static void poll_timeout_err(void)
{
	rg_ctx *t;
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), MS, &t), 0);
	int e;
	POLL((e = rg_ctx_err(t)) != 0);
	CHECK_EQ(e, -ETIMEDOUT);
	bool ok = true;
	CHECK_EQ(rg_chan_recv(rg_ctx_done(t), NULL, &ok, 0), 0);
	CHECK(!ok);
	rg_ctx_release(t);
}

/* --- Mutex -------------------------------------------------------------------- */

static void mutex_setup(void) { memset(&mu, 0, sizeof mu); }

static void mutex_teardown(void)
{
	rg_mutex_lock(&mu);
	CHECK_EQ(crit, cap_ + 1); /* every critical section ran once */
	rg_mutex_unlock(&mu);
}

/* the holder: its writes inside the critical section */
static void rel_mutex_holder(int i)
{
	rg_mutex_lock(&mu);
	arm();
	pause_short();
	if (cap_ > 1)
		rg_sleep(2 * MS); /* let the waiter queue up, and starve */
	crit++;
	payload = 42;
	rg_mutex_unlock(&mu);
}

/* a second locker, queued behind the holder (the unlock's slow path, and
 * after 1 ms starvation mode: the lock is handed to it) */
static void rel_mutex_waiter(int i)
{
	wait_armed_(1, true);
	rg_mutex_lock(&mu);
	CHECK_EQ(payload, 42);
	crit++;
	slots[1] = 1;
	rg_mutex_unlock(&mu);
}

static void rel_mutex(int i)
{
	if (i == 0)
		rel_mutex_holder(i);
	else
		rel_mutex_waiter(i);
}

static void poll_mutex_trylock(void)
{
	wait_armed(1);
	POLL(rg_mutex_trylock(&mu));
	CHECK_EQ(payload, 42);
	CHECK(crit >= 1);
	crit++;
	rg_mutex_unlock(&mu);
}

static void poll_mutex_until0(void)
{
	wait_armed(1);
	int r;
	POLL((r = rg_mutex_lock_until(&mu, 0)) != -EAGAIN);
	CHECK_EQ(r, 0);
	CHECK_EQ(payload, 42);
	CHECK(crit >= 1);
	crit++;
	rg_mutex_unlock(&mu);
}

/* --- RWMutex ------------------------------------------------------------------ */

static void rw_setup(void) { memset(&rw, 0, sizeof rw); }

static void rel_rw_writer(int i)
{
	rg_rwmutex_lock(&rw);
	arm();
	pause_short();
	payload = 42;
	rg_rwmutex_unlock(&rw);
}

/* readers, each writing its own slot under the read lock */
static void rel_rw_reader(int i)
{
	rg_rwmutex_rlock(&rw);
	arm();
	pause_short();
	slots[i] = 100 + i;
	rg_rwmutex_runlock(&rw);
}

static void poll_rw_tryrlock(void)
{
	wait_armed(1);
	POLL(rg_rwmutex_tryrlock(&rw));
	CHECK_EQ(payload, 42);
	rg_rwmutex_runlock(&rw);
}

static void poll_rw_trylock(void)
{
	wait_armed(1);
	POLL(rg_rwmutex_trylock(&rw));
	CHECK_EQ(payload, 42);
	rg_rwmutex_unlock(&rw);
}

static void poll_rw_trylock_readers(void)
{
	wait_armed((int)nval_);
	POLL(rg_rwmutex_trylock(&rw));
	for (int i = 0; i < nval_; i++)
		CHECK_EQ(slots[i], 100 + i);
	rg_rwmutex_unlock(&rw);
}

/* --- WaitGroup ---------------------------------------------------------------- */

static void wg_setup(void)
{
	memset(&wg, 0, sizeof wg);
	rg_waitgroup_add(&wg, nval_);
}

/* releasers 0..nval_-1 each write their slot, then Done; with cap_ set,
 * releaser nval_ is a task blocked in Wait (the last Done wakes it) */
static void rel_wg(int i)
{
	if (i < nval_) {
		slots[i] = 100 + i;
		rg_waitgroup_done(&wg);
		return;
	}
	CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
	for (int k = 0; k < nval_; k++)
		CHECK_EQ(slots[k], 100 + k);
}

static void poll_wg(void)
{
	POLL(rg_waitgroup_wait(&wg, 0) == 0);
	for (int k = 0; k < nval_; k++)
		CHECK_EQ(slots[k], 100 + k);
}

/* --- weighted semaphore ------------------------------------------------------- */

static void sema_setup(void)
{
	rg_sema_init(&sem, nval_);
	CHECK(rg_sema_try_acquire(&sem, nval_)); /* main holds every unit */
}

static void sema_teardown(void) { rg_sema_release(&sem, nval_); }

static void rel_sema(int i)
{
	slots[i] = 100 + i;
	rg_sema_release(&sem, 1);
}

static void poll_sema_try(void)
{
	POLL(rg_sema_try_acquire(&sem, nval_));
	for (int k = 0; k < nval_; k++)
		CHECK_EQ(slots[k], 100 + k);
}

static void poll_sema_acquire0(void)
{
	int r;
	POLL((r = rg_sema_acquire(&sem, nval_, 0)) != -EAGAIN);
	CHECK_EQ(r, 0);
	for (int k = 0; k < nval_; k++)
		CHECK_EQ(slots[k], 100 + k);
}

/* --- Once ------------------------------------------------------------------------ */

static void once_setup(void) { memset(&once, 0, sizeof once); }

static void once_fn(void *arg)
{
	if (cap_) { /* contended: the poller comes while fn runs */
		arm();
		pause_short();
	}
	payload = 42;
}

static void once_fn_second(void *arg)
{
	fprintf(stderr, "polled_sync: Once ran fn twice\n");
	abort();
}

static void rel_once(int i)
{
	rg_once_do(&once, once_fn, NULL);
	if (!cap_)
		arm(); /* done: the poller's call takes the fast path */
}

static void poll_once(void)
{
	wait_armed(1);
	rg_once_do(&once, once_fn_second, NULL);
	CHECK_EQ(payload, 42);
}

/* --- the cases ------------------------------------------------------------------ */

enum {
	REL_TASK = 1,  /* the releasers in task_mask must be tasks (they wait) */
	POLL_TASK = 2, /* the poller must be a task */
	NO_REL_THREAD = 4, /* no releaser: the thread-releaser mode adds nothing */
};

struct pcase {
	const char *name;
	long cap, nval;     /* parameters: cap_, nval_ */
	int nrel;           /* releasers, indexes 0..nrel-1 */
	unsigned task_mask; /* releasers that must be tasks */
	unsigned flags;
	void (*setup)(void);
	void (*release)(int i);
	void (*poll)(void);
	void (*teardown)(void);
};

static const struct pcase cases[] = {
	/* buffered channel: rg_chan_recv(0) gets values (the ring laps) */
	{ "buf1_recv_value", 1, 3, 1, 0, 0, chan_setup, rel_send_values, poll_recv_values, chan_teardown },
	{ "buf8_recv_value", 8, 17, 1, 0, 0, chan_setup, rel_send_values, poll_recv_values, chan_teardown },
	/* ... gets ok=false after the close, empty or after draining */
	{ "buf1_recv_closed", 1, 0, 1, 0, 0, chan_setup, rel_send_close, poll_recv_closed, chan_teardown },
	{ "buf1_recv_closed_drain", 1, 1, 1, 0, 0, chan_setup, rel_send_close, poll_recv_closed, chan_teardown },
	{ "buf8_recv_closed", 8, 0, 1, 0, 0, chan_setup, rel_send_close, poll_recv_closed, chan_teardown },
	{ "buf8_recv_closed_drain", 8, 5, 1, 0, 0, chan_setup, rel_send_close, poll_recv_closed, chan_teardown },
	/* buffered, full: rg_chan_send(0) succeeds once a receive freed room */
	{ "buf1_send_room", 1, 0, 1, 0, 0, chan_setup_full, rel_recv_one, poll_send_one, chan_teardown },
	{ "buf8_send_room", 8, 0, 1, 0, 0, chan_setup_full, rel_recv_one, poll_send_one, chan_teardown },
	/* buffered, full: rg_chan_send(0) reports the close */
	{ "buf1_send_closed", 1, 0, 1, 0, 0, chan_setup_full, rel_close, poll_send_closed, chan_teardown },
	/* unbuffered */
	{ "unbuf_recv_value", 0, 0, 1, 1, 0, chan_setup, rel_send_one, poll_recv_one, chan_teardown },
	{ "unbuf_send_to_receiver", 0, 0, 1, 1, 0, chan_setup, rel_recv_one, poll_send_one, chan_teardown },
	{ "unbuf_recv_closed", 0, 0, 1, 0, 0, chan_setup, rel_close, poll_recv_closed, chan_teardown },
	{ "unbuf_send_closed", 0, 0, 1, 0, 0, chan_setup, rel_close, poll_send_closed, chan_teardown },
	/* select with a default, 3 cases */
	{ "sel3_recv_value_buf", 1, 0, 1, 0, 0, chan_setup, rel_send_one, poll_sel_recv_value, chan_teardown },
	{ "sel3_recv_value_unbuf", 0, 0, 1, 1, 0, chan_setup, rel_send_one, poll_sel_recv_value, chan_teardown },
	{ "sel3_recv_closed_buf", 1, 0, 1, 0, 0, chan_setup, rel_close, poll_sel_recv_closed, chan_teardown },
	{ "sel3_recv_closed_unbuf", 0, 0, 1, 0, 0, chan_setup, rel_close, poll_sel_recv_closed, chan_teardown },
	{ "sel3_send_buf", 1, 0, 1, 0, 0, chan_setup_full, rel_recv_one, poll_sel_send, chan_teardown },
	{ "sel3_send_unbuf", 0, 0, 1, 1, 0, chan_setup, rel_recv_one, poll_sel_send, chan_teardown },
	{ "sel3_send_closed_buf", 1, 0, 1, 0, 0, chan_setup_full, rel_close, poll_sel_send_closed, chan_teardown },
	{ "sel3_send_closed_unbuf", 0, 0, 1, 0, 0, chan_setup, rel_close, poll_sel_send_closed, chan_teardown },
	/* select with a default, 1 case (a send: sync.h's inline check) */
	{ "sel1_send_buf", 1, 0, 1, 0, 0, chan_setup_full, rel_recv_one, poll_sel1_send, chan_teardown },
	{ "sel1_send_unbuf", 0, 0, 1, 1, 0, chan_setup, rel_recv_one, poll_sel1_send, chan_teardown },
	{ "sel1_send_closed_buf", 1, 0, 1, 0, 0, chan_setup_full, rel_close, poll_sel1_send_closed, chan_teardown },
	{ "sel1_send_closed_unbuf", 0, 0, 1, 0, 0, chan_setup, rel_close, poll_sel1_send_closed, chan_teardown },
	{ "sel1_recv_value_buf", 1, 0, 1, 0, 0, chan_setup, rel_send_one, poll_sel1_recv_value, chan_teardown },
	{ "sel1_recv_value_unbuf", 0, 0, 1, 1, 0, chan_setup, rel_send_one, poll_sel1_recv_value, chan_teardown },
	{ "sel1_recv_closed_buf", 1, 0, 1, 0, 0, chan_setup, rel_close, poll_sel1_recv_closed, chan_teardown },
	{ "sel1_recv_closed_unbuf", 0, 0, 1, 0, 0, chan_setup, rel_close, poll_sel1_recv_closed, chan_teardown },
	/* Context: cancel, seen by the one-case select on done, a receive
	 * on done, a 3-case select, rg_ctx_err; on a child (cap 1: a child
	 * with a timer of its own) */
	{ "ctx_cancel_sel1", 0, 0, 1, 0, 0, ctx_setup, rel_cancel, poll_ctx_sel1, ctx_teardown },
	{ "ctx_cancel_recv", 0, 0, 1, 0, 0, ctx_setup, rel_cancel, poll_ctx_recv, ctx_teardown },
	{ "ctx_cancel_sel3", 0, 0, 1, 0, 0, ctx_setup, rel_cancel, poll_ctx_sel3, ctx_teardown },
	{ "ctx_cancel_err", 0, 0, 1, 0, 0, ctx_setup, rel_cancel, poll_ctx_err, ctx_teardown },
	{ "ctx_child_sel1", 0, 0, 1, 0, 0, ctx_setup_child, rel_cancel, poll_ctx_sel1, ctx_teardown },
	{ "ctx_child_err", 0, 0, 1, 0, 0, ctx_setup_child, rel_cancel, poll_ctx_err, ctx_teardown },
	{ "ctx_timerchild_sel1", 1, 0, 1, 0, 0, ctx_setup_child, rel_cancel, poll_ctx_sel1, ctx_teardown },
	{ "ctx_timerchild_err", 1, 0, 1, 0, 0, ctx_setup_child, rel_cancel, poll_ctx_err, ctx_teardown },
	/* Context: the deadline */
	{ "ctx_timeout_sel1", 0, 0, 0, 0, NO_REL_THREAD, nop, NULL, poll_timeout_sel1, nop },
	{ "ctx_timeout_err", 0, 0, 0, 0, NO_REL_THREAD, nop, NULL, poll_timeout_err, nop },
	/* Mutex (cap: critical sections besides the poller's) */
	{ "mutex_trylock", 1, 0, 1, 0, 0, mutex_setup, rel_mutex, poll_mutex_trylock, mutex_teardown },
	{ "mutex_lock_until0", 1, 0, 1, 0, 0, mutex_setup, rel_mutex, poll_mutex_until0, mutex_teardown },
	{ "mutex_trylock_waiter", 2, 0, 2, 0, 0, mutex_setup, rel_mutex, poll_mutex_trylock, mutex_teardown },
	{ "mutex_lock_until0_waiter", 2, 0, 2, 0, 0, mutex_setup, rel_mutex, poll_mutex_until0, mutex_teardown },
	/* RWMutex */
	{ "rw_tryrlock_after_writer", 0, 0, 1, 0, 0, rw_setup, rel_rw_writer, poll_rw_tryrlock, nop },
	{ "rw_trylock_after_writer", 0, 0, 1, 0, 0, rw_setup, rel_rw_writer, poll_rw_trylock, nop },
	{ "rw_trylock_after_readers", 0, 2, 2, 0, 0, rw_setup, rel_rw_reader, poll_rw_trylock_readers, nop },
	/* WaitGroup: 3 Dones; then with a task blocked in Wait as well */
	{ "wg_wait0", 0, 3, 3, 0, 0, wg_setup, rel_wg, poll_wg, nop },
	{ "wg_wait0_waiter", 1, 3, 4, 8, 0, wg_setup, rel_wg, poll_wg, nop },
	/* semaphore of 2 units, released one by one by two releasers */
	{ "sema_try_acquire", 0, 2, 2, 0, 0, sema_setup, rel_sema, poll_sema_try, sema_teardown },
	{ "sema_acquire0", 0, 2, 2, 0, 0, sema_setup, rel_sema, poll_sema_acquire0, sema_teardown },
	/* Once: the second caller after fn returned (fast path), or while
	 * fn runs (cap 1: it waits on Once's mutex) */
	{ "once_done", 0, 0, 1, 0, 0, once_setup, rel_once, poll_once, nop },
	{ "once_contended", 1, 0, 1, 0, 0, once_setup, rel_once, poll_once, nop },
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* --- the harness ------------------------------------------------------------------ */

enum { M_TASKS, M_THREAD_RELEASE, M_THREAD_POLL, M_NMODES };
static const char *const mode_names[M_NMODES] = { "tasks", "thread-release", "thread-poll" };

static const struct pcase *cur;
static rg_waitgroup join = RG_WAITGROUP_INIT;

static void poll_task(void *a)
{
	cur->poll();
	rg_waitgroup_done(&join);
}

static void *poll_thread(void *a)
{
	cur->poll();
	return NULL;
}

static void rel_task(void *a)
{
	cur->release((int)(intptr_t)a);
	rg_waitgroup_done(&join);
}

static void *rel_thread(void *a)
{
	cur->release((int)(intptr_t)a);
	return NULL;
}

static intptr_t join_thread(void *a)
{
	return pthread_join(*(pthread_t *)a, NULL);
}

/* Whether mode applies to pc; false: skipped. */
static bool mode_ok(const struct pcase *pc, int mode)
{
	if (mode == M_THREAD_RELEASE)
		return !(pc->flags & NO_REL_THREAD) && pc->task_mask != (1u << pc->nrel) - 1;
	if (mode == M_THREAD_POLL)
		return !(pc->flags & POLL_TASK);
	return true;
}

static void run_one(const struct pcase *pc, int mode)
{
	cur = pc;
	cur_name = pc->name;
	cur_mode = mode_names[mode];
	cap_ = pc->cap;
	nval_ = pc->nval;
	payload = 0;
	crit = 0;
	memset(slots, 0, sizeof slots);
	atomic_store(&spinning, 0);
	atomic_store(&armed, 0);
	pc->setup();

	pthread_t pt, rt[8];
	bool rthr[8] = { false };
	if (mode == M_THREAD_POLL) {
		CHECK_EQ(pthread_create(&pt, NULL, poll_thread, NULL), 0);
	} else {
		rg_waitgroup_add(&join, 1);
		CHECK(rg_go(poll_task, NULL) > 0);
	}
	/* the poller spins before the release: it is not ordered after it */
	while (!atomic_load(&spinning))
		rg_sleep(MS / 20);
	rg_sleep(MS / 10);
	for (int i = 0; i < pc->nrel; i++) {
		if (mode == M_THREAD_RELEASE && !(pc->task_mask & (1u << i))) {
			rthr[i] = true;
			CHECK_EQ(pthread_create(&rt[i], NULL, rel_thread, (void *)(intptr_t)i), 0);
		} else {
			rg_waitgroup_add(&join, 1);
			CHECK(rg_go(rel_task, (void *)(intptr_t)i) > 0);
		}
	}
	CHECK_EQ(rg_waitgroup_wait(&join, -1), 0);
	if (mode == M_THREAD_POLL)
		CHECK_EQ(rg_blocking(join_thread, &pt), 0);
	for (int i = 0; i < pc->nrel; i++)
		if (rthr[i])
			CHECK_EQ(rg_blocking(join_thread, &rt[i]), 0);
	pc->teardown();
}

static int main_fn(void *arg)
{
	(void)arg;
	if (rg_procs() < 2)
		SKIP("needs 2 Ps");
	int rounds = T_TSAN ? 12 : T_SANITIZED ? 8 : 16;
	int runs = 0;
	for (int c = 0; c < NCASES; c++) {
		CHECK(cases[c].nrel <= 8);
		int64_t t0 = rg_now();
		int modes = 0;
		for (int m = 0; m < M_NMODES; m++) {
			if (!mode_ok(&cases[c], m))
				continue;
			modes++;
			for (int r = 0; r < rounds; r++, runs++)
				run_one(&cases[c], m);
		}
		printf("%-28s %d mode(s) x %d rounds %7.1f ms\n", cases[c].name, modes, rounds,
		       (rg_now() - t0) / 1e6);
	}
	printf("polled_sync: %d cases, %d runs: ok\n", NCASES, runs);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	rg_config cfg = { .procs = 2, .nopin = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return T_PASS;
}
