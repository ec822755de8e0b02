/*
 * sync/ctx.c — Context, after Go's context/context.go.
 *
 * Three kinds: the background (never done), cancel contexts (WithCancel,
 * WithDeadline, WithTimeout) and value contexts.  Cancellation state lives
 * in cancel contexts only; a value context refers to its nearest cancel
 * ancestor (`owner`), whose error, done channel and waiters it shares.
 *
 * Cancelling a context (under its lock): set err once, detach its
 * children, its after-funcs, the tasks parked under it (rg__park_ctx) and
 * its deadline timer (removed); claim those tasks' parks.  Then,
 * unlocked: close the done channel, ready the claimed tasks, start the
 * after-funcs, and do the same to every detached child with the same
 * error — iteratively, through a worklist, so a deep chain cannot
 * overflow a task's stack.
 *
 * A deadline is a runtime timer (core's rg__rtimer, in the record), not a
 * task: its function cancels the context on the scheduler of the P that
 * made it (or on sysmon's thread, if that P is stuck in one task).  (It was a task parked until the deadline: 4 KiB of stack per
 * pending deadline and a task switch to cancel, which ran late whenever
 * that P's run queue was long: the timer fired on time and readied the
 * task at the queue's tail.)
 *
 * Lifetime: reference counts.  The creator holds one (rg_ctx_release), a
 * child holds one on its parent, a parent's children list holds one on each
 * child (dropped when the child is detached: cancelled, by either side),
 * and an armed deadline timer holds one until it fires or a cancel
 * removes it (rg__rtimer_del: whichever settles the timer drops it).
 *
 * A timer may never fire: rg_run frees the Ps' timer heaps when it stops.
 * It settles the timers left with their drop function (deadline_drop),
 * which disarms the context (a later cancel must not remove the timer
 * from a freed heap) and drops the timer's reference.  After-func records
 * whose task has not run are freed by a hook that rg_run calls then too
 * (the function does not run: Go's main exiting ends such goroutines as
 * well).
 *
 * Parking under a bound context: the unlock callback of rg__park_ctx links
 * a record into the owner's waiters *before* releasing the primitive's
 * lock(s), so the record is published only once the task's context is
 * saved, and is visible to the canceller before any other waker could let
 * the task run on.  If the context is already done it abandons the park.
 * Lock order: a primitive's queue lock, then a context lock; a context lock
 * is never held while taking a channel lock.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "gc/gc_hook.h"
#include "sync/ctx_hook.h"
#include "sync/sync_int.h"

enum { CTX_BG, CTX_CANCEL, CTX_VALUE };

struct ctxwait {
	rg__task *task;        /* const while linked */
	uint64_t ticket;       /* const while linked */
	struct ctxwait *next, *prev; /* owner lock */
	bool linked;           /* owner lock */
	bool fired;            /* written by the canceller that won the claim */
	bool abandoned;        /* written by the unlock callback */
};

struct after {
	int64_t id;
	void (*fn)(void *);
	void *arg;
	struct after *next;    /* owner lock; afters_lock once started */
	struct after *prev;    /* afters_lock, once started */
	/* arg, for the collector: it may be the only reference to a GC
	 * object until fn runs (as rg_go's argument is kept) */
	struct rg__gc_region gc_region;
	bool gc_kept;          /* gc_region added (its links are gc's, written
	                          under gc's lock by its neighbours' removals) */
};

/* Every after record goes this way (it was registered with the
 * collector when made). */
static void after_free(struct after *a)
{
	if (a->gc_kept)
		rg__gc_region_remove(&a->gc_region);
	rg__free(a);
}

struct rg_ctx {
	_Atomic int64_t refs;
	int kind;              /* const */
	bool gc_kept;          /* const: gc_region added (as struct after's) */
	bool timer_armed;      /* lock: timer added, not yet settled */
	rg_ctx *parent;        /* const; a reference */
	rg_ctx *owner;         /* const: nearest cancel ctx (self, ancestor) or NULL */
	int64_t deadline;      /* const: INT64_MAX for none */
	const void *key;       /* const (value kind) */
	void *val;             /* const (value kind) */
	/* key and val, for the collector (value kind): the context may hold
	 * the only reference to a GC object, as Go's WithValue does */
	struct rg__gc_region gc_region;

	rg__spin lock;         /* guards the fields below (cancel kind) */
	_Atomic int err;       /* lock to write; read lock-free, acquire */
	rg_chan *_Atomic done; /* lock to create; read lock-free, acquire */
	rg_ctx *children;      /* lock: children registered here */
	struct ctxwait *waiters; /* lock: tasks parked under this context */
	struct rg__ctx_watch *watches; /* lock: io/ operations watching it */
	struct after *afters;  /* lock */
	/* When a cancel is complete (cancel_tree); next to what a cancel
	 * reads anyway (and filling the holes: 224 bytes, as before them) */
	rg_ctx *cancel_root;   /* lock, with err: the context whose cancel set
	                          err (this one or an ancestor); const after */
	_Atomic bool running;  /* as a cancel's root: set (under lock, with
	                          err) by the cancel that starts here, cleared
	                          by it once its whole work list is done */
	rg__rtimer timer;      /* the deadline's (core.h) */
	uint64_t epoch;        /* lock: ctx_epoch when waiters or watches were
	                          last linked (older: they are stale, see
	                          lists_fresh) */

	/* In the children list of registered_in; guarded by ITS lock. */
	rg_ctx *registered_in;
	rg_ctx *sib_next, *sib_prev;

	rg_ctx *work_next;     /* private to the canceller that detached it */
};

_Static_assert(offsetof(rg_ctx, val) == offsetof(rg_ctx, key) + sizeof(void *),
               "a value context's region covers key and val together");

static rg_ctx background = {
	.refs = INT64_MAX / 2,
	.kind = CTX_BG,
	.deadline = INT64_MAX,
};

static _Atomic int64_t after_ids = 1;

/* After-func records whose task was spawned and has not run: what a
 * stopping runtime must take back (see "Lifetime" above). */
static rg__spin afters_lock;
static struct after *started_afters;
/* Threads between linking a record on started_afters and knowing what
 * became of its rg_go (after_spawn).  Until then the record is not the
 * stop hook's to free: a failed rg_go leaves it to its spawner, which
 * takes it back and runs it.  A thread outside the runtime registering
 * an after-func on a done Context while rg_run stopped had it freed
 * under it so (tests/sync/test_ctx_after_stop_race.c: use after free,
 * then a double free, at once).  Raised before the record is linked, so
 * the hook, which reads it under afters_lock, sees it for every record
 * it finds there whose spawner is not done. */
static _Atomic int after_spawners;

/* rg_runs stopped so far (ctx_at_stop).  Waiter records (rg__park_ctx)
 * and io/'s watches live on their tasks' stacks; when rg_run discards the
 * tasks, a context they were parked under still lists them, and those
 * stacks are unmapped.  Such a context may outlive rg_run (one with a
 * pending deadline is documented usable after it; any is released after
 * it), and its next cancel claimed the records there: SIGSEGV
 * (test_select_adversarial: teardown_ctx).  Every list is stamped with
 * the epoch it was linked in; one from an earlier epoch holds only
 * discarded tasks and is dropped unread. */
static _Atomic uint64_t ctx_epoch;

/* cancel_tree calls between their first reading of ctx_epoch
 * (lists_fresh, the done channels' q_fresh) and the end of their claims
 * and readies (the closes, the waiters').  rg_run's stop hooks run while a thread of the program's
 * own may still cancel (a Context is safe from any thread; sysmon and
 * the blocking sections are done by then).  A cancel that had read the
 * old epoch went on claiming the discarded selects' records that
 * sel_at_stop had freed meanwhile
 * (tests/sync/test_life_teardown_cancel.c, mode 1).
 * rg__ctx_at_stop moves the epoch, then
 * waits these out (Dekker with the count: both seq_cst), before
 * sel_at_stop frees anything. */
static _Atomic int ctx_cancelling;

/* o's lock held: forget waiters and watches linked before the last stop. */
static inline void lists_fresh(rg_ctx *o)
{
	uint64_t e = atomic_load(&ctx_epoch); /* seq_cst: ctx_cancelling */
	if (o->epoch != e) {
		o->waiters = NULL;
		o->watches = NULL;
		o->epoch = e;
	}
}

/* The done channel, made before the last stop, may list tasks rg_run
 * discarded (a receive or select on it, not bound to the context: their
 * records are on unmapped stacks, or select's, freed by sel_at_stop).
 * The channel forgets them itself (chan.c: q_fresh), under its own lock,
 * before it links a waiter or claims one, once ctx_epoch has moved past
 * the one it was stamped with (rg__chan_track_epoch).  It was done here,
 * lazily, at the first rg_ctx_done or cancel after a stop; but a task
 * that kept the channel's pointer from the last run (the context "stays
 * usable") parked on it without either: linked after the discarded
 * records (on an unmapped stack: SIGSEGV), or forgotten with them by the
 * cancel (never woken): tests/sync/test_life_done_cached.c. */
uint64_t rg__ctx_epoch_now(void) { return atomic_load(&ctx_epoch) + 1; /* never 0 */ }

rg_ctx *rg_ctx_background(void) { return &background; }

/* Frees c alone and returns its parent, whose reference the caller now
 * holds and must drop. */
static rg_ctx *ctx_free(rg_ctx *c)
{
	rg_chan *d = atomic_load(&c->done);
	if (d)
		rg_chan_free(d);
	struct after *a = c->afters;
	while (a) {
		struct after *n = a->next;
		after_free(a);
		a = n;
	}
	if (c->gc_kept)
		rg__gc_region_remove(&c->gc_region);
	rg_ctx *p = c->parent;
	rg__free(c);
	return p;
}

/* Iterative: the last reference to the leaf of a chain frees the chain,
 * and ctx_free -> ctx_unref -> ctx_free recursed once per level (a 64 KiB
 * task stack overflowed at a few hundred levels unless the compiler
 * turned the tail calls into jumps: it does at -O2, not at -O0). */
static void ctx_unref(rg_ctx *c)
{
	while (c && c->kind != CTX_BG &&
	       atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		c = ctx_free(c);
}

void rg_ctx_retain(rg_ctx *c)
{
	if (c && c->kind != CTX_BG)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

/* a is in started_afters until its task takes it (or the stop hook frees
 * it); true if the caller took it */
static bool after_take(struct after *a)
{
	rg__spin_lock(&afters_lock);
	bool was = a->prev != a; /* prev == a: taken */
	if (was) {
		if (a->prev)
			a->prev->next = a->next;
		else
			started_afters = a->next;
		if (a->next)
			a->next->prev = a->prev;
		a->prev = a;
	}
	rg__spin_unlock(&afters_lock);
	return was;
}

static void after_tramp(void *arg)
{
	struct after *a = arg;
	if (!after_take(a))
		return; /* cannot happen: the hook runs once no task runs */
	a->fn(a->arg);
	after_free(a);
}

/* Starts a's task; if none can be made (runtime stopping, or not
 * running), a is the caller's to run in place: returns true. */
static bool after_spawn(struct after *a)
{
	/* the default stack: from the P's pool, no system call (a custom
	 * size maps and unmaps one per task) */
	rg_task_opts o = { .name = "ctx.after_func" };
	atomic_fetch_add(&after_spawners, 1);
	rg__spin_lock(&afters_lock);
	a->prev = NULL;
	a->next = started_afters;
	if (started_afters)
		started_afters->prev = a;
	started_afters = a;
	rg__spin_unlock(&afters_lock);
	/* a is not to be touched once its task is spawned (it may have run
	 * and freed it already) */
	bool here = rg_go_opts(after_tramp, a, &o) < 0 && after_take(a);
	atomic_fetch_sub_explicit(&after_spawners, 1, memory_order_release);
	return here;
}

static void after_run_here(struct after *a)
{
	a->fn(a->arg);
	after_free(a);
}

static void after_start(struct after *a)
{
	if (after_spawn(a))
		after_run_here(a);
}

/* rg_run's stop hook (called by sel_at_stop first: the epoch moves, and
 * cancels that read the old one are done, before it frees select
 * records): the after-func tasks still queued are discarded; free their
 * records. */
void rg__ctx_at_stop(void)
{
	atomic_fetch_add(&ctx_epoch, 1);
	while (atomic_load(&ctx_cancelling))
		sched_yield();
	/* only with no spawner in flight (after_spawners): every record
	 * then on the list had its task spawned, and that task was
	 * discarded.  Spawners from now on fail their rg_go and take their
	 * record back themselves. */
	struct after *a;
	for (;;) {
		rg__spin_lock(&afters_lock);
		if (!atomic_load(&after_spawners))
			break;
		rg__spin_unlock(&afters_lock);
		sched_yield();
	}
	a = started_afters;
	started_afters = NULL;
	rg__spin_unlock(&afters_lock);
	while (a) {
		struct after *n = a->next;
		after_free(a);
		a = n;
	}
}

/* Cancel one context: mark it, wake what waits on it (the tasks go to q,
 * readied in batches: a cancel that wakes 10,000 waiters checks for idle
 * Ps once per batch, not once per task), and append its children (each
 * carrying the list's reference) to *work.  root: the cancel's root (c
 * itself, or the ancestor whose cancel detached c), recorded in c.
 * Returns NULL if this call cancelled c, else the root of the cancel
 * that had (c's cancel_root). */
static rg_ctx *cancel_one(rg_ctx *c, int err, rg_ctx *root, rg_ctx **work, rg__readyq *q,
                          struct after **here)
{
	rg__spin_lock(&c->lock);
	if (atomic_load_explicit(&c->err, memory_order_relaxed)) {
		rg_ctx *r = c->cancel_root;
		rg__spin_unlock(&c->lock);
		return r;
	}
	c->cancel_root = root;
	if (c == root)
		atomic_store_explicit(&c->running, true, memory_order_relaxed);
	atomic_store_explicit(&c->err, err, memory_order_release);
	lists_fresh(c);
	/* the children onto *work in one walk (a list of 10,000 is 10,000
	 * cache misses; a second walk after the unlock cost as much again:
	 * bench_sync ctx_cancel_10k_fanout10000, 0.93 -> 0.79 ms).
	 * registered_in cleared under our lock: their own release no longer
	 * touches the sibling links (detach), and only this cancel took the
	 * list. */
	for (rg_ctx *k = c->children, *n; k; k = n) {
		n = k->sib_next;
		k->registered_in = NULL;
		k->sib_next = k->sib_prev = NULL;
		k->work_next = *work;
		*work = k;
	}
	c->children = NULL;
	struct ctxwait *wake = NULL;
	for (struct ctxwait *w = c->waiters, *n; w; w = n) {
		n = w->next;
		w->linked = false;
		if (rg__claim(w->task, w->ticket)) {
			w->fired = true;
			w->next = wake;
			wake = w;
		}
	}
	c->waiters = NULL;
	struct after *afters = c->afters;
	c->afters = NULL;
	struct rg__ctx_watch *watches = c->watches;
	c->watches = NULL;
	for (struct rg__ctx_watch *w = watches; w; w = w->next)
		atomic_store_explicit(&w->state, 2, memory_order_relaxed); /* firing */
	/* the timer's reference is ours to drop if we remove it before it
	 * fires (else its function drops it) */
	bool timer_ref = false;
	if (c->timer_armed) {
		c->timer_armed = false;
		timer_ref = rg__rtimer_del(&c->timer);
	}
	rg_chan *done = atomic_load_explicit(&c->done, memory_order_relaxed);
	rg__spin_unlock(&c->lock);

	if (done)
		rg__chan_close_q(done, q);
	while (wake) {
		/* read both first: the record dies with its task's frame */
		struct ctxwait *n = wake->next;
		rg__task *t = wake->task;
		rg__readyq_add(q, t);
		wake = n;
	}
	if (watches || afters)
		rg__readyq_flush(q); /* woken before the callbacks run, as before */
	while (watches) {
		/* read next first: once fired, the watcher may return */
		struct rg__ctx_watch *n = watches->next;
		watches->fn(watches->arg);
		atomic_store_explicit(&watches->state, 3, memory_order_release);
		watches = n;
	}
	while (afters) {
		struct after *n = afters->next;
		if (after_spawn(afters)) {
			/* run in place, but only once this cancel is complete
			 * (cancel_tree): fn may cancel another context and wait
			 * for its cancel, which may be waiting for this one */
			afters->next = *here;
			*here = afters;
		}
		afters = n;
	}
	if (timer_ref)
		ctx_unref(c); /* the timer's; never the last: the caller holds one */
	return NULL;
}

/* A cancel of many contexts is bound by cache misses: each context, its
 * done channel and the waiter parked there are cold.  A pipeline over the
 * work list: the context two ahead and its channel's lines, then, for the
 * next one (whose channel came in meanwhile), the waiter record the
 * channel points at.  Reads only what stays mapped (contexts and channels
 * the canceller holds through the list's references); the waiter record
 * is only prefetched, never read. */
static void cancel_prefetch(rg_ctx *w1)
{
	if (!w1)
		return;
	rg_ctx *w2 = w1->work_next;
	if (w2) {
		__builtin_prefetch(w2, 1);
		__builtin_prefetch((char *)w2 + 64, 1);
		__builtin_prefetch((char *)w2 + 128, 1);
		rg_chan *d2 = atomic_load_explicit(&w2->done, memory_order_relaxed);
		if (d2) {
			struct rg__chan_head *h = (struct rg__chan_head *)d2;
			__builtin_prefetch(&h->_lock, 1);
			__builtin_prefetch(&h->tail, 1);
		}
	}
	/* acquire: d1 is read below, and a task may have made it just now
	 * (rg_ctx_done publishes it with release) */
	rg_chan *d1 = atomic_load_explicit(&w1->done, memory_order_acquire);
	if (d1) {
		struct rg__chan_head *h = (struct rg__chan_head *)d1;
		void *sg = __atomic_load_n(&h->recvq_first, __ATOMIC_RELAXED);
		if (sg)
			__builtin_prefetch(sg, 1);
	}
}

/* Waits until the cancel rooted at r has done its whole work list.  Never
 * for one the caller runs itself: a cancel calls nothing that cancels (an
 * after-func that no task can be made for runs only once its cancel is
 * complete, cancel_tree).
 *
 * A cancel under way never parks, so the one waited for is running, on
 * another thread, and every chain of waits ends.  That is why `park_ok`
 * is false for a wait made inside a cancel (one that others may be
 * waiting for): it spins and gives up the CPU, not its P.  Were it to
 * yield its P, it could be left parked mid-cancel by a stop of the world
 * while a waiter that cannot park (a timer's function on a scheduler or
 * on sysmon, which the stop waits for: core.h) spun for it: a deadlock.
 * A wait outside any cancel (rg_ctx_cancel finding its context already
 * done) yields its P, so that the P goes on (its timers, its ring: a
 * cancel on another P may be waiting for this P to drain a cancel
 * request, io/cancel.c) and a stop of the world is not held up. */
static void run_wait(rg_ctx *r, bool park_ok)
{
	for (unsigned n = 0; atomic_load_explicit(&r->running, memory_order_acquire); n++) {
		if (n < 64)
			rg__cpu_relax();
		else if (park_ok && rg__self_parkable())
			rg_yield();
		else
			sched_yield();
	}
}

/* Cancels c and its subtree, and returns once all of it is done, as Go's
 * cancel does (it cancels the children while holding c's mutex: a second
 * cancel waits for that mutex).  Here the children are taken off under
 * c's lock and cancelled from a work list with no lock held, so "done"
 * is kept apart: c, as this cancel's root, says it is running until the
 * end, and every context the cancel marks records c as its
 * root.  A cancel that finds its context already done waits for that
 * context's root's cancel to end (tests/sync/test_ctx_cancel_waits.c:
 * rg_ctx_cancel returned early in most rounds).  A child found already
 * done was being cancelled as a root of its own (only the canceller of
 * its parent, this one, detaches it); it is waited for at the end, with
 * its reference kept, so that this cancel, too, ends only with its whole
 * subtree.  Waits point down the tree only, never in a cycle, and a
 * cancel waits only for cancels that are running (run_wait). */
static void cancel_tree(rg_ctx *c, int err)
{
	rg_ctx *work = NULL, *deferred = NULL;
	struct after *here = NULL;
	rg__readyq q = RG__READYQ_INIT;
	/* counted once for the whole tree, up to the last ready (per
	 * context, two locked instructions on one global line each: 10,000
	 * children made 20,000) */
	atomic_fetch_add(&ctx_cancelling, 1); /* before the epoch is read */
	rg_ctx *other = cancel_one(c, err, c, &work, &q, &here);
	while (work) {
		rg_ctx *k = work;
		work = k->work_next;
		cancel_prefetch(work);
		rg_ctx *r = cancel_one(k, err, c, &work, &q, &here);
		if (r && atomic_load_explicit(&r->running, memory_order_acquire)) {
			k->work_next = deferred; /* the list's reference kept */
			deferred = k;
		} else {
			ctx_unref(k); /* the parent list's reference */
		}
	}
	rg__readyq_flush(&q);
	atomic_fetch_sub(&ctx_cancelling, 1); /* no waiter read or readied after */
	while (deferred) {
		rg_ctx *k = deferred;
		deferred = k->work_next;
		run_wait(k->cancel_root, false);
		ctx_unref(k);
	}
	if (other)
		run_wait(other, true);
	else
		atomic_store_explicit(&c->running, false, memory_order_release);
	/* After-funcs that no task could be made for run here, once this
	 * cancel is complete: run inside it, one that cancelled an ancestor
	 * another thread was cancelling waited for that cancel, which waited
	 * for this one (tests/sync/test_ctx_after_inline_cycle.c). */
	while (here) {
		struct after *n = here->next;
		after_run_here(here);
		here = n;
	}
}

/* Detach c from its parent's children list, if still there. */
static void detach(rg_ctx *c)
{
	rg_ctx *o = c->parent ? c->parent->owner : NULL;
	if (!o)
		return;
	bool dropped = false;
	rg__spin_lock(&o->lock);
	if (c->registered_in == o) {
		if (c->sib_prev)
			c->sib_prev->sib_next = c->sib_next;
		else
			o->children = c->sib_next;
		if (c->sib_next)
			c->sib_next->sib_prev = c->sib_prev;
		c->sib_next = c->sib_prev = NULL;
		c->registered_in = NULL;
		dropped = true;
	}
	rg__spin_unlock(&o->lock);
	if (dropped)
		ctx_unref(c);
}

void rg_ctx_cancel(rg_ctx *c)
{
	if (!c || c->kind != CTX_CANCEL)
		return;
	cancel_tree(c, -ECANCELED);
	detach(c);
}

void rg_ctx_release(rg_ctx *c)
{
	if (!c || c->kind == CTX_BG)
		return;
	if (c->kind == CTX_CANCEL)
		rg_ctx_cancel(c);
	ctx_unref(c);
}

static rg_ctx *ctx_new(rg_ctx *parent, int kind)
{
	rg_ctx *c = rg__calloc(1, sizeof *c);
	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->kind = kind;
	c->parent = parent;
	rg_ctx_retain(parent);
	c->deadline = parent->deadline;
	c->owner = kind == CTX_CANCEL ? c : parent->owner;
	return c;
}

/* Register a new cancel context under its parent's owner, or cancel it
 * at once if the owner is done. */
static void propagate(rg_ctx *c)
{
	rg_ctx *o = c->parent->owner;
	if (!o)
		return;
	int err = 0;
	rg__spin_lock(&o->lock);
	err = atomic_load_explicit(&o->err, memory_order_relaxed);
	if (!err) {
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
		c->registered_in = o;
		c->sib_prev = NULL;
		c->sib_next = o->children;
		if (o->children)
			o->children->sib_prev = c;
		o->children = c;
	}
	rg__spin_unlock(&o->lock);
	if (err)
		cancel_tree(c, err);
}

int rg_ctx_with_cancel(rg_ctx *parent, rg_ctx **out)
{
	if (!parent || !out)
		return -EINVAL;
	rg_ctx *c = ctx_new(parent, CTX_CANCEL);
	if (!c)
		return -ENOMEM;
	propagate(c);
	*out = c;
	return 0;
}

static inline rg_ctx *ctx_of_timer(rg__rtimer *tm)
{
	return (rg_ctx *)((char *)tm - offsetof(rg_ctx, timer));
}

/* The deadline timer's function, on a P's scheduler (or sysmon's). */
static void deadline_fire(rg__rtimer *tm)
{
	rg_ctx *c = ctx_of_timer(tm);
	rg__spin_lock(&c->lock);
	bool armed = c->timer_armed; /* false: a cancel got here first */
	c->timer_armed = false;
	rg__spin_unlock(&c->lock);
	if (armed) {
		cancel_tree(c, -ETIMEDOUT);
		detach(c); /* as Go's timer: cancel(true, DeadlineExceeded) */
	}
	ctx_unref(c); /* the timer's */
}

/* rg_run stopped with the timer pending (core.h): disarm, let go. */
static void deadline_drop(rg__rtimer *tm)
{
	rg_ctx *c = ctx_of_timer(tm);
	rg__spin_lock(&c->lock);
	c->timer_armed = false;
	rg__spin_unlock(&c->lock);
	ctx_unref(c); /* the timer's */
}

int rg_ctx_with_deadline(rg_ctx *parent, int64_t deadline, rg_ctx **out)
{
	if (!parent || !out)
		return -EINVAL;
	if (deadline >= parent->deadline)
		return rg_ctx_with_cancel(parent, out); /* the parent's comes first */
	rg_ctx *c = ctx_new(parent, CTX_CANCEL);
	if (!c)
		return -ENOMEM;
	c->deadline = deadline;
	propagate(c);
	*out = c;
	if (deadline <= rg_now()) {
		cancel_tree(c, -ETIMEDOUT);
		detach(c); /* as deadline_fire (Go: cancel(true, DeadlineExceeded)) */
		return 0;
	}
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); /* the timer's */
	/* Under the lock, against a cancel from the parent: it either finds
	 * the timer armed (and removes it) or comes first (and we do not
	 * add it). */
	rg__spin_lock(&c->lock);
	int r = 0;
	if (!atomic_load_explicit(&c->err, memory_order_relaxed)) {
		r = rg__rtimer_add(&c->timer, deadline, deadline_fire, deadline_drop);
		c->timer_armed = r == 0;
	}
	bool armed = c->timer_armed;
	rg__spin_unlock(&c->lock);
	if (!armed)
		ctx_unref(c); /* the timer's, not needed */
	if (r < 0) {
		rg_ctx_release(c);
		*out = NULL;
		return r;
	}
	return 0;
}

int rg_ctx_with_timeout(rg_ctx *parent, int64_t ns, rg_ctx **out)
{
	int64_t now = rg_now();
	int64_t d = ns > INT64_MAX - now ? INT64_MAX - 1 : now + ns;
	return rg_ctx_with_deadline(parent, d, out);
}

int rg_ctx_with_value(rg_ctx *parent, const void *key, void *val, rg_ctx **out)
{
	if (!parent || !out)
		return -EINVAL;
	rg_ctx *c = ctx_new(parent, CTX_VALUE);
	if (!c)
		return -ENOMEM;
	c->key = key;
	c->val = val;
	/* registered only if one of them can be a GC pointer: the regions'
	 * list is one mutex for the process, and a request-scoped value
	 * context per request on every P would queue on it */
	c->gc_kept = rg__gc_may_point(key) || rg__gc_may_point(val);
	if (c->gc_kept)
		rg__gc_region_add(&c->gc_region, &c->key, sizeof c->key + sizeof c->val);
	*out = c;
	return 0;
}

/* The error as sync/ itself sees it: set (under the lock) the moment a
 * canceller wins, before the done channel is closed. */
static int ctx_err_raw(rg_ctx *c)
{
	if (!c || !c->owner)
		return 0;
	return atomic_load_explicit(&c->owner->err, memory_order_acquire);
}

/* Go: "If Done is not yet closed, Err returns nil.  If Done is closed, Err
 * returns a non-nil error."  cancel_one publishes err under the lock (that
 * is how one canceller wins) and closes the done channel just after
 * unlocking (a channel lock is never taken under a context lock), before
 * it wakes anyone or runs a callback; between the two, err said done while
 * a receive on done said not yet (test_ctx_adversarial's err_done_order:
 * 160,000 such sightings in one run).  So an error seen here waits out
 * those few instructions until done shows closed: then both say done, and
 * a task woken by the cancel never sees err unset.  (A done channel made
 * after the cancel is closed before rg_ctx_done publishes it.) */
int rg_ctx_err(rg_ctx *c)
{
	int e = ctx_err_raw(c);
	if (!e)
		return 0;
	rg_chan *d = atomic_load_explicit(&c->owner->done, memory_order_acquire);
	for (unsigned n = 0; d && !rg__chan_closed(d);)
		rg__sync_backoff(&n);
	return e;
}

rg_chan *rg_ctx_done(rg_ctx *c)
{
	if (!c || !c->owner)
		return NULL;
	rg_ctx *o = c->owner;
	rg_chan *d = atomic_load_explicit(&o->done, memory_order_acquire);
	if (d)
		return d;
	rg__spin_lock(&o->lock);
	d = atomic_load_explicit(&o->done, memory_order_relaxed);
	if (!d) {
		d = rg_chan_make(0, 0);
		if (!d)
			rg__fatal("sync: out of memory for a context's done channel");
		rg__chan_track_epoch(d); /* its waiters may outlive a run */
		/* closed before it is published: nobody else can hold it */
		if (atomic_load_explicit(&o->err, memory_order_relaxed))
			rg_chan_close(d);
		atomic_store_explicit(&o->done, d, memory_order_release);
	}
	rg__spin_unlock(&o->lock);
	return d;
}

bool rg_ctx_deadline(rg_ctx *c, int64_t *deadline)
{
	if (!c || c->deadline == INT64_MAX)
		return false;
	if (deadline)
		*deadline = c->deadline;
	return true;
}

void *rg_ctx_value(rg_ctx *c, const void *key)
{
	for (; c; c = c->parent)
		if (c->kind == CTX_VALUE && c->key == key)
			return c->val;
	return NULL;
}

int64_t rg_ctx_after_func(rg_ctx *c, void (*fn)(void *), void *arg)
{
	if (!c || !fn)
		return -EINVAL;
	int64_t id = atomic_fetch_add(&after_ids, 1);
	rg_ctx *o = c->owner;
	if (!o)
		return id; /* never done: never runs */
	struct after *a = rg__malloc(sizeof *a);
	if (!a)
		return -ENOMEM;
	a->id = id;
	a->fn = fn;
	a->arg = arg;
	a->gc_kept = rg__gc_may_point(arg); /* (as a value context's) */
	if (a->gc_kept)
		rg__gc_region_add(&a->gc_region, &a->arg, sizeof a->arg);
	rg__spin_lock(&o->lock);
	if (atomic_load_explicit(&o->err, memory_order_relaxed)) {
		rg__spin_unlock(&o->lock);
		after_start(a);
		return id;
	}
	a->next = o->afters;
	o->afters = a;
	rg__spin_unlock(&o->lock);
	return id;
}

bool rg_ctx_after_stop(rg_ctx *c, int64_t id)
{
	if (!c)
		return false;
	rg_ctx *o = c->owner;
	if (!o)
		/* a context that can never be done: fn was never queued and
		 * will never run, so the stop "stopped" it (Go's stop returns
		 * true; false would tell the caller fn ran or is running, and a
		 * caller waiting for its effect would wait forever).  Unlike Go
		 * a second stop also says true: nothing was recorded. */
		return id > 0;
	struct after *found = NULL;
	rg__spin_lock(&o->lock);
	for (struct after **pp = &o->afters; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			found = *pp;
			*pp = found->next;
			break;
		}
	rg__spin_unlock(&o->lock);
	if (found)
		after_free(found);
	return found != NULL;
}

/* --- binding and parking --------------------------------------------------- */

rg_ctx *rg_ctx_bind(rg_ctx *c)
{
	rg__task *t = rg__self();
	if (!t)
		return NULL;
	void **slot = rg__task_slot(t, RG__TSLOT_CTX);
	rg_ctx *prev = *slot;
	*slot = c;
	return prev;
}

rg_ctx *rg_ctx_current(void)
{
	rg__task *t = rg__self();
	return t ? *rg__task_slot(t, RG__TSLOT_CTX) : NULL;
}

int rg__ctx_bound_err(void)
{
	return ctx_err_raw(rg_ctx_current()); /* the canceller's word is enough here */
}

struct pc_wrap {
	rg__unlock_fn unlock;
	void *arg;
	rg_ctx *owner;
	struct ctxwait *w;
};

static bool pc_unlock(rg__task *t, void *a)
{
	struct pc_wrap *pw = a;
	rg__unlock_fn unlock = pw->unlock;
	void *arg = pw->arg;
	rg_ctx *o = pw->owner;
	struct ctxwait *w = pw->w;
	/* pw and w are on t's stack: valid until t can run, i.e. until the
	 * primitive's lock or the context's lock is released below. */
	rg__spin_lock(&o->lock);
	if (atomic_load_explicit(&o->err, memory_order_relaxed)) {
		rg__spin_unlock(&o->lock);
		w->abandoned = true;
		if (unlock)
			unlock(t, arg);
		return false;
	}
	lists_fresh(o);
	w->prev = NULL;
	w->next = o->waiters;
	if (o->waiters)
		o->waiters->prev = w;
	o->waiters = w;
	w->linked = true;
	rg__spin_unlock(&o->lock);
	return unlock ? unlock(t, arg) : true;
}

int rg__park_ctx_bound(rg_ctx *c, rg__task *t, int reason, int64_t deadline, uint64_t ticket,
                       rg__unlock_fn unlock, void *arg)
{
	rg_ctx *o = c->owner;
	if (!o)
		return rg__park(reason, deadline, unlock, arg);
	struct ctxwait w = { .task = t, .ticket = ticket };
	struct pc_wrap pw = { unlock, arg, o, &w };
	int r = rg__park(reason, deadline, pc_unlock, &pw);
	if (w.abandoned)
		return r == 0 ? 0 : atomic_load_explicit(&o->err, memory_order_acquire);
	if (w.fired)
		return atomic_load_explicit(&o->err, memory_order_acquire);
	rg__spin_lock(&o->lock);
	if (w.linked) {
		if (w.prev)
			w.prev->next = w.next;
		else
			o->waiters = w.next;
		if (w.next)
			w.next->prev = w.prev;
		w.linked = false;
	}
	rg__spin_unlock(&o->lock);
	return r;
}

/* --- the io/ hook (sync/ctx_hook.h) ----------------------------------------- */

int rg__ctx_watch_begin(struct rg__ctx_watch *w, void (*fn)(void *), void *arg)
{
	rg_ctx *c = rg_ctx_current();
	rg_ctx *o = c ? c->owner : NULL;
	w->owner = NULL;
	w->deadline = c ? c->deadline : INT64_MAX;
	atomic_init(&w->state, 0);
	if (!o)
		return 0;
	int err;
	rg__spin_lock(&o->lock);
	err = atomic_load_explicit(&o->err, memory_order_relaxed);
	if (!err) {
		lists_fresh(o);
		w->fn = fn;
		w->arg = arg;
		w->owner = o;
		w->prev = NULL;
		w->next = o->watches;
		if (o->watches)
			o->watches->prev = w;
		o->watches = w;
		atomic_store_explicit(&w->state, 1, memory_order_relaxed);
	}
	rg__spin_unlock(&o->lock);
	return err;
}

int rg__ctx_watch_end(struct rg__ctx_watch *w)
{
	rg_ctx *o = w->owner;
	if (!o)
		return 0;
	rg__spin_lock(&o->lock);
	if (atomic_load_explicit(&w->state, memory_order_relaxed) == 1) {
		if (w->prev)
			w->prev->next = w->next;
		else
			o->watches = w->next;
		if (w->next)
			w->next->prev = w->prev;
		atomic_store_explicit(&w->state, 0, memory_order_relaxed);
		rg__spin_unlock(&o->lock);
		return 0;
	}
	rg__spin_unlock(&o->lock);
	/* detached by a canceller: wait until fn has returned */
	while (atomic_load_explicit(&w->state, memory_order_acquire) != 3)
		rg_yield();
	return atomic_load_explicit(&o->err, memory_order_acquire);
}

/* For tests (TestCancelRemoves): children registered under c's owner plus
 * after-funcs pending on it. */
int rg__ctx_debug_children(rg_ctx *c);
int rg__ctx_debug_children(rg_ctx *c)
{
	rg_ctx *o = c ? c->owner : NULL;
	if (!o)
		return 0;
	int n = 0;
	rg__spin_lock(&o->lock);
	for (rg_ctx *k = o->children; k; k = k->sib_next)
		n++;
	for (struct after *a = o->afters; a; a = a->next)
		n++;
	rg__spin_unlock(&o->lock);
	return n;
}

/* For tests: one line on stderr about c (kind, error, deadline, its
 * timer), to diagnose a context that did not end when it should have. */
void rg__ctx_debug_dump(rg_ctx *c);
void rg__ctx_debug_dump(rg_ctx *c)
{
	if (!c)
		return;
	rg__spin_lock(&c->lock);
	bool armed = c->timer_armed;
	rg__p *tp = c->timer.p;
	int err = atomic_load(&c->err);
	rg__spin_unlock(&c->lock);
	fprintf(stderr, "ctx %p kind %d owner %p err %d deadline %+.3f ms refs %lld armed %d", (void *)c, c->kind,
	        (void *)c->owner, err, c->deadline == INT64_MAX ? 0.0 : (double)(c->deadline - rg_now()) / 1e6,
	        (long long)atomic_load(&c->refs), armed);
	if (armed)
		fprintf(stderr, " timer on P %d", tp ? rg__p_index(tp) : -1);
	if (err)
		fprintf(stderr, " cancel root %p running %d", (void *)c->cancel_root,
		        c->cancel_root ? (int)atomic_load(&c->cancel_root->running) : 0);
	fputc('\n', stderr);
}
