/*
 * sync/sync_int.h — what the files of sync/ share.  Not installed.
 *
 * - rg__spin: the lock of every wait queue (channels, mutexes, contexts).
 *   Held only for a few pointer operations, never across a park (a parking
 *   task hands its release to the scheduler through rg__park's unlock
 *   callback, which runs once the task's context is saved).
 * - rg__sudog: one waiting task in one queue, as Go's sudog.  Blocking
 *   single operations keep it on the task's stack; select takes one per
 *   case from a per-P pool (no allocation in steady state).
 * - rg__park_ctx: rg__park that also ends when the calling task's bound
 *   Context is done (see ctx.c).
 */
#ifndef RG_SYNC_INT_H
#define RG_SYNC_INT_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#define RG__SYNC_IMPL /* the library defines rg_select; no inline copy */
#include "ringo/sync.h"

/* --- spinlock -------------------------------------------------------- */

typedef struct rg__spin {
	_Atomic uint32_t v; /* 0 free, 1 held */
} rg__spin;

void rg__spin_lock_slow(rg__spin *l);

static inline void rg__spin_lock(rg__spin *l)
{
	if (__builtin_expect(!atomic_exchange_explicit(&l->v, 1, memory_order_acquire), 1))
		return;
	rg__spin_lock_slow(l);
}

static inline void rg__spin_unlock(rg__spin *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* One step of waiting for another thread a few instructions away (a
 * claimed slot, a queue lock): pause, and after 64 steps give the CPU up,
 * in case that thread lost its own. */
static inline void rg__sync_backoff(unsigned *n)
{
	if (++*n < 64)
		rg__cpu_relax();
	else
		sched_yield();
}

/* Unlock callback for rg__park: releases the rg__spin given as arg. */
bool rg__spin_unlock_cb(rg__task *t, void *arg);

/* --- wakes from threads without a P ------------------------------------ */

/* A thread of the program's own (or the blocking pool) may wake a parked
 * task at any time while rg_run runs: the task's record, and the waiter
 * record on its stack, are then written from outside the runtime.  If
 * main returns meanwhile rg_run discards that task and unmaps its stack
 * (and sel_at_stop frees its select records): so such an operation counts
 * itself here, seq_cst, from before it reads a queue to after its last
 * ready, and rg_run's end (sel_at_stop, before it frees anything) waits
 * the count out.  An operation that begins after that wait is one that
 * raced rg_run's return: outside the contract ("do not use it after
 * rg_run returned").  Tasks on a P pay one thread-local load. */
extern _Atomic int rg__pless_wakers;

static inline bool rg__pless_wake_begin(void)
{
	/* a runtime thread (one load: only P threads and rg_blocking's
	 * pool set rg__tls_m, and rg_run joins the pool before its stop
	 * hooks; on a P thread with no P no task runs) */
	if (__builtin_expect(rg__tls_m != NULL, 1))
		return false;
	atomic_fetch_add(&rg__pless_wakers, 1);
	return true;
}

static inline void rg__pless_wake_end(bool counted)
{
	if (counted)
		atomic_fetch_sub_explicit(&rg__pless_wakers, 1, memory_order_release);
}

/* rg_run's end: every counted operation has finished. */
void rg__pless_wakers_wait(void);

/* --- waiter records ---------------------------------------------------- */

typedef struct rg__sudog rg__sudog;
struct rg__sudog {
	rg__task *task;       /* the waiting task (const while queued) */
	uint64_t ticket;      /* its park ticket (const while queued) */
	rg__sudog *next;      /* queue lock; also the waker's private list
	                         once claimed */
	rg__sudog *prev;      /* queue lock */
	void *elem;           /* value to send / where to receive; NULL for
	                         elem_size 0 (const while queued) */
	rg_chan *c;           /* channel this record waits on (select) */
	uint64_t arg;         /* per-primitive: weight (sema), ticket (cond),
	                         start time (mutex), buffered case (select) */
	int idx;              /* select case index */
	bool linked;          /* queue lock: in a queue now */
	bool success;         /* written by the winning claimer before ready */
	bool fired;           /* written by the winning claimer before ready */
	bool handoff;         /* mutex: ownership handed over directly */
	bool dup;             /* select: its task has another record on the
	                         same channel, which the claimer unlinks
	                         (const while queued, like task) */
	bool sole;            /* this record's queue is the only way its park
	                         can end (rg__park_sole): claimed with
	                         rg__claim_sole (const while queued) */
};

typedef struct rg__waitq {
	rg__sudog *_Atomic first; /* queue lock to write; read lock-free (relaxed)
	                             by channels' non-blocking fast paths */
	rg__sudog *last;          /* queue lock */
} rg__waitq;

static inline bool rg__waitq_empty(const rg__waitq *q)
{
	return atomic_load_explicit(&((rg__waitq *)q)->first, memory_order_relaxed) == NULL;
}

static inline void rg__waitq_push(rg__waitq *q, rg__sudog *s)
{
	s->next = NULL;
	s->prev = q->last;
	if (q->last)
		q->last->next = s;
	else
		atomic_store_explicit(&q->first, s, memory_order_relaxed);
	q->last = s;
	s->linked = true;
}

static inline void rg__waitq_push_front(rg__waitq *q, rg__sudog *s)
{
	rg__sudog *f = atomic_load_explicit(&q->first, memory_order_relaxed);
	s->prev = NULL;
	s->next = f;
	if (f)
		f->prev = s;
	else
		q->last = s;
	atomic_store_explicit(&q->first, s, memory_order_relaxed);
	s->linked = true;
}

static inline void rg__waitq_remove(rg__waitq *q, rg__sudog *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		atomic_store_explicit(&q->first, s->next, memory_order_relaxed);
	if (s->next)
		s->next->prev = s->prev;
	else
		q->last = s->prev;
	s->next = s->prev = NULL;
	s->linked = false;
}

/* rg__claim for a record taken off its queue, the queue's lock held. */
static inline bool rg__sudog_claim(rg__sudog *s)
{
	if (s->sole) {
		rg__claim_sole(s->task, s->ticket);
		return true;
	}
	return rg__claim(s->task, s->ticket);
}

/* Pops waiters until one whose park this call wins (rg__claim); losers
 * (timed out, cancelled, or a select another case already won) are
 * dropped from the queue and left alone.  NULL when none is left. */
static inline rg__sudog *rg__waitq_claim(rg__waitq *q)
{
	rg__sudog *s;
	while ((s = atomic_load_explicit(&q->first, memory_order_relaxed))) {
		rg__waitq_remove(q, s);
		if (rg__sudog_claim(s))
			return s;
	}
	return NULL;
}

/* Claimed tasks to ready, in batches: a wake-all (close, cancel) readies
 * them behind the run queue with one check for idle Ps per batch
 * (rg__ready_many).  A wake-all of one task goes to runnext as rg__ready
 * would; once a batch has gone, the rest go behind it. */
typedef struct rg__readyq {
	int n;
	bool flushed; /* a batch went already: the rest go behind it */
	rg__task *v[64];
} rg__readyq;

#define RG__READYQ_INIT { 0, false, { NULL } }

static inline void rg__readyq_flush(rg__readyq *q)
{
	if (q->n == 1 && !q->flushed)
		rg__ready(q->v[0]);
	else if (q->n)
		rg__ready_many(q->v, q->n);
	q->flushed = q->flushed || q->n > 0;
	q->n = 0;
}

static inline void rg__readyq_add(rg__readyq *q, rg__task *t)
{
	q->v[q->n++] = t;
	if (q->n == (int)(sizeof q->v / sizeof q->v[0]))
		rg__readyq_flush(q);
}

/* rg_chan_close, with the woken tasks added to q rather than readied. */
int rg__chan_close_q(rg_chan *c, rg__readyq *q);
/* Has c been closed?  (acquire: what the closer wrote before is seen) */
bool rg__chan_closed(rg_chan *c);
/* c is a Context's done channel: its waiters may outlive a run (chan.c,
 * q_fresh; ctx.c, rg__ctx_epoch_now). */
void rg__chan_track_epoch(rg_chan *c);
uint64_t rg__ctx_epoch_now(void);
/* rg_run's end (chan.c's stop hook calls it before it frees anything):
 * Contexts forget discarded waiters, cancels in flight finish first. */
void rg__ctx_at_stop(void);

/* Per-P pool of waiter records, for select.  NULL when out of memory. */
rg__sudog *rg__sudog_get(void);
void rg__sudog_put(rg__sudog *s);

/* --- parking under a Context -------------------------------------------- */

/* As rg__park, but when the calling task runs under a bound Context that
 * can end, the park also ends when it does: the result is then that
 * Context's error (-ECANCELED or -ETIMEDOUT), and the caller must clean up
 * as after a timeout (remove itself from the queue it published in).
 * -EAGAIN as rg__park's. */
int rg__park_ctx_bound(rg_ctx *c, rg__task *self, int reason, int64_t deadline, uint64_t ticket,
                       rg__unlock_fn unlock, void *arg);
/* The task's bound Context, or NULL. */
static inline rg_ctx *rg__bound_ctx(rg__task *self)
{
	return self ? *rg__task_slot(self, RG__TSLOT_CTX) : NULL;
}
/* rg__park_ctx with the bound Context read already (c: rg__bound_ctx(self)),
 * for callers that also need it for `sole`: one slot read per park. */
static inline int rg__park_in(rg_ctx *c, rg__task *self, int reason, int64_t deadline, uint64_t ticket,
                              rg__unlock_fn unlock, void *arg)
{
	/* inline: a task without a bound Context (the common case) parks
	 * without ctx.c's frame */
	if (!c)
		return rg__park(reason, deadline, unlock, arg);
	return rg__park_ctx_bound(c, self, reason, deadline, ticket, unlock, arg);
}
static inline int rg__park_ctx(rg__task *self, int reason, int64_t deadline, uint64_t ticket,
                               rg__unlock_fn unlock, void *arg)
{
	return rg__park_in(rg__bound_ctx(self), self, reason, deadline, ticket, unlock, arg);
}
/* Can only the waker of a record queued now end a park with this
 * deadline under this bound Context (NULL: none)?  Only with neither.  (A
 * record for which it is true is `sole`.) */
static inline bool rg__park_sole(const rg_ctx *bound, int64_t deadline)
{
	return deadline < 0 && !bound;
}
/* The calling task's bound Context error now (0 when none or not done). */
int rg__ctx_bound_err(void);

/* Cheap random numbers for select's poll order (per thread; not kept
 * across a park). */
uint32_t rg__sync_rand(void);

/* Mutex/sema spinning: may a waiter spin (iteration iter) rather than
 * park?  Only with several Ps. */
bool rg__sync_can_spin(int iter);

#endif
