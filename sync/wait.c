/*
 * sync/wait.c — WaitGroup (Go's sync.WaitGroup, with a deadline) and the
 * weighted semaphore (golang.org/x/sync/semaphore: FIFO, so a large
 * request is not starved by small ones).
 */
#include <errno.h>
#include <sched.h>

#include "sync/sync_int.h"

/* --- WaitGroup ------------------------------------------------------------- */

/* One 64-bit state word: counter (high 32 bits, signed), waiters (bits
 * 1..31) and the queue lock (bit 0), as Go keeps counter and waiters
 * together.  The point is the last touch: "wg.Wait() returned, free wg" is
 * the normal pattern, so once the counter is zero nothing may write to the
 * WaitGroup after a waiter can see it.  The Done that reaches zero with
 * waiters takes the lock, claims them all, and its last write to the
 * WaitGroup is the one store that clears waiters and lock together; a
 * waiter returns only on state == 0 (nothing in flight) or once woken. */
#define WG_LOCK 1ull
#define WG_WAITER 2ull
#define WG_WAITERS_MASK 0xfffffffeull
#define WG_COUNT(s) ((int32_t)((s) >> 32))

struct wg_impl {
	_Atomic uint64_t state; /* atomic: counter << 32 | waiters << 1 | lock */
	uint64_t _pad;
	rg__waitq q;            /* state's lock bit: the waiters */
};
_Static_assert(sizeof(struct wg_impl) <= sizeof(rg_waitgroup), "rg_waitgroup too small");

static uint64_t wg_lock(struct wg_impl *wg)
{
	uint64_t s = atomic_load_explicit(&wg->state, memory_order_relaxed);
	for (int i = 0;; i++) {
		if (!(s & WG_LOCK) &&
		    atomic_compare_exchange_weak_explicit(&wg->state, &s, s | WG_LOCK, memory_order_acquire,
		                                          memory_order_relaxed))
			return s | WG_LOCK;
		if (s & WG_LOCK) {
			if (i < 64)
				rg__cpu_relax();
			else
				sched_yield();
			s = atomic_load_explicit(&wg->state, memory_order_relaxed);
		}
	}
}

static void wg_unlock(struct wg_impl *wg)
{
	atomic_fetch_and_explicit(&wg->state, ~WG_LOCK, memory_order_release);
}

static bool wg_unlock_cb(rg__task *t, void *arg)
{
	wg_unlock(arg);
	return true;
}

void rg_waitgroup_add(rg_waitgroup *wgv, int64_t delta)
{
	struct wg_impl *wg = (struct wg_impl *)wgv;
	uint64_t s = atomic_fetch_add_explicit(&wg->state, (uint64_t)delta << 32, memory_order_acq_rel) +
	             ((uint64_t)delta << 32);
	int32_t v = WG_COUNT(s);
	if (v < 0 || delta > INT32_MAX || delta < INT32_MIN)
		rg__fatal("sync: negative WaitGroup counter");
	/* Up from zero with waiters counted: only the Done that reached zero
	 * leaves them there, while it wakes them.  A new round of Adds must
	 * begin after the last round's Waits have returned (Go panics too);
	 * going on, that Done would wake them with the counter above zero,
	 * or leave them to the next zero. */
	if (delta > 0 && v == delta && (s & WG_WAITERS_MASK))
		rg__fatal("sync: WaitGroup misuse: Add called concurrently with Wait");
	if (v > 0 || !(s & WG_WAITERS_MASK))
		return;
	/* Reached zero with waiters: wake them all (counted when made by a
	 * thread without a P, sync_int.h) */
	bool pl = rg__pless_wake_begin();
	s = wg_lock(wg);
	if (WG_COUNT(s) != 0) {
		/* an Add took the counter up again before we had the lock:
		 * the misuse above, and that Add is aborting */
		wg_unlock(wg);
		rg__pless_wake_end(pl);
		return;
	}
	rg__sudog *list = NULL, *w;
	while ((w = rg__waitq_claim(&wg->q))) {
		w->next = list;
		list = w;
	}
	/* the last write to *wg: waiters and lock cleared at once */
	atomic_fetch_and_explicit(&wg->state, ~(WG_WAITERS_MASK | WG_LOCK), memory_order_release);
	while (list) {
		rg__sudog *n = list->next;
		rg__task *t = list->task;
		rg__ready(t);
		list = n;
	}
	rg__pless_wake_end(pl);
}

void rg_waitgroup_done(rg_waitgroup *wg) { rg_waitgroup_add(wg, -1); }

/* A Done brought the counter to zero and is waking waiters: let it finish
 * with *wg before returning (the caller may free it). */
static void wg_wait_release(struct wg_impl *wg)
{
	while (atomic_load_explicit(&wg->state, memory_order_acquire) & (WG_WAITERS_MASK | WG_LOCK))
		rg_yield();
}

int rg_waitgroup_wait(rg_waitgroup *wgv, int64_t deadline)
{
	struct wg_impl *wg = (struct wg_impl *)wgv;
	uint64_t s = atomic_load_explicit(&wg->state, memory_order_acquire);
	if (s == 0)
		return 0;
	if (WG_COUNT(s) == 0) {
		wg_wait_release(wg);
		return 0;
	}
	if (deadline == 0)
		return -EAGAIN;
	rg__task *self = rg__self_parkable();
	if (!self)
		return -EPERM;
	/* Count ourselves a waiter and take the lock in the same CAS that sees
	 * a non-zero counter: a Done that then reaches zero sees the waiter
	 * and comes for it (no lost wake-up). */
	for (int i = 0;; i++) {
		if (WG_COUNT(s) == 0) {
			wg_wait_release(wg);
			return 0;
		}
		if (!(s & WG_LOCK) &&
		    atomic_compare_exchange_weak_explicit(&wg->state, &s, s + WG_WAITER + WG_LOCK,
		                                          memory_order_acquire, memory_order_relaxed))
			break;
		if (s & WG_LOCK) {
			if (i < 64)
				rg__cpu_relax();
			else
				sched_yield();
			s = atomic_load_explicit(&wg->state, memory_order_relaxed);
		}
	}
	rg_ctx *bound = rg__bound_ctx(self);
	rg__sudog sg = { .task = self, .sole = rg__park_sole(bound, deadline) };
	sg.ticket = rg__park_prepare_self(self);
	rg__waitq_push(&wg->q, &sg);
	int r = rg__park_in(bound, self, RG__WAIT_WAITGROUP, deadline, sg.ticket, wg_unlock_cb, wg);
	if (r == 0)
		return 0; /* woken by the Done that reached zero: wg untouched */
	/* Timed out or cancelled.  Still queued, take the record off and our
	 * waiter count back; not queued, a Done claimed it (and lost to the
	 * timer) and clears every count itself.  Leave with one CAS that
	 * only succeeds while the counter is not zero: a Done that reaches
	 * zero between our look and our leaving counted us among the
	 * waiters, and comes to clear the state; giving our count back and
	 * the lock separately let the caller's next Wait see 0 and free wg
	 * under that Done (sync_lifetime: waitgroup_deadline_free). */
	s = wg_lock(wg);
	bool queued = sg.linked;
	if (queued)
		rg__waitq_remove(&wg->q, &sg);
	for (;;) {
		if (WG_COUNT(s) == 0) {
			/* report success, as the next check would have, once
			 * that Done is done with wg */
			wg_unlock(wg);
			wg_wait_release(wg);
			return 0;
		}
		uint64_t nw = (s & ~WG_LOCK) - (queued ? WG_WAITER : 0);
		if (atomic_compare_exchange_weak_explicit(&wg->state, &s, nw, memory_order_release,
		                                          memory_order_relaxed))
			return r;
	}
}

/* --- weighted semaphore ------------------------------------------------------ */

struct wsema {
	rg__spin lock;  /* guards everything below */
	uint32_t _pad;
	int64_t size;   /* const after init */
	int64_t cur;    /* lock: units held */
	rg__waitq q;    /* lock: FIFO waiters, arg = units wanted */
};
_Static_assert(sizeof(struct wsema) <= sizeof(rg_sema), "rg_sema too small");

void rg_sema_init(rg_sema *sv, int64_t size)
{
	memset(sv, 0, sizeof *sv);
	((struct wsema *)sv)->size = size;
}

/* Lock held: grant waiters from the head while they fit; chain the
 * claimed ones on *list. */
static void notify_waiters(struct wsema *s, rg__sudog **list)
{
	rg__sudog *w;
	while ((w = atomic_load_explicit(&s->q.first, memory_order_relaxed))) {
		if (s->size - s->cur < (int64_t)w->arg)
			break; /* FIFO: nobody passes the head */
		rg__waitq_remove(&s->q, w);
		if (!rg__sudog_claim(w))
			continue; /* timed out */
		s->cur += (int64_t)w->arg;
		w->next = *list;
		*list = w;
	}
}

static void ready_list(rg__sudog *list)
{
	while (list) {
		rg__sudog *n = list->next;
		rg__task *t = list->task;
		rg__ready(t);
		list = n;
	}
}

bool rg_sema_try_acquire(rg_sema *sv, int64_t n)
{
	struct wsema *s = (struct wsema *)sv;
	if (n < 0)
		return false;
	rg__spin_lock(&s->lock);
	bool ok = s->size - s->cur >= n && rg__waitq_empty(&s->q);
	if (ok)
		s->cur += n;
	rg__spin_unlock(&s->lock);
	return ok;
}

int rg_sema_acquire(rg_sema *sv, int64_t n, int64_t deadline)
{
	struct wsema *s = (struct wsema *)sv;
	if (n < 0 || n > s->size)
		return -EINVAL;
	rg__spin_lock(&s->lock);
	if (s->size - s->cur >= n && rg__waitq_empty(&s->q)) {
		s->cur += n;
		rg__spin_unlock(&s->lock);
		return 0;
	}
	rg__task *self;
	if (deadline == 0 || !(self = rg__self_parkable())) {
		rg__spin_unlock(&s->lock);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}
	rg_ctx *bound = rg__bound_ctx(self);
	rg__sudog sg = { .task = self, .arg = (uint64_t)n, .sole = rg__park_sole(bound, deadline) };
	sg.ticket = rg__park_prepare_self(self);
	rg__waitq_push(&s->q, &sg);
	int r = rg__park_in(bound, self, RG__WAIT_SEMA, deadline, sg.ticket, rg__spin_unlock_cb, &s->lock);
	if (r == 0)
		return 0; /* granted by a release */
	rg__sudog *list = NULL;
	rg__spin_lock(&s->lock);
	if (sg.linked) {
		bool front = atomic_load_explicit(&s->q.first, memory_order_relaxed) == &sg;
		rg__waitq_remove(&s->q, &sg);
		/* we were blocking the head: others may fit now.  Not only
		 * while a unit is free (x/sync's `s.size > s.cur`): a
		 * zero-weight waiter behind us fits with every unit held, and
		 * nothing else would wake it before an unrelated release
		 * (notify_waiters checks the fit itself). */
		if (front)
			notify_waiters(s, &list);
	}
	rg__spin_unlock(&s->lock);
	ready_list(list);
	return r;
}

void rg_sema_release(rg_sema *sv, int64_t n)
{
	struct wsema *s = (struct wsema *)sv;
	rg__sudog *list = NULL;
	if (n < 0) /* before the subtraction, which could overflow */
		rg__fatal("sync: semaphore release of a negative weight (%lld)", (long long)n);
	bool pl = rg__pless_wake_begin(); /* sync_int.h */
	rg__spin_lock(&s->lock);
	s->cur -= n;
	if (s->cur < 0) {
		rg__spin_unlock(&s->lock);
		rg__fatal("sync: semaphore released more than held");
	}
	notify_waiters(s, &list);
	rg__spin_unlock(&s->lock);
	ready_list(list);
	rg__pless_wake_end(pl);
}
