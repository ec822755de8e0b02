/*
 * core/core.h — what core/ offers the rest of the library (io/, sync/, gc/).
 * Not installed.  Public API is in include/ringo/core.h.
 *
 * The park/ready protocol
 * -----------------------
 * A task that must wait publishes itself somewhere (a channel's wait queue,
 * a completion record, a timer) and calls rg__park().  Publishing usually
 * happens under a lock that must be released only after the task's context
 * is saved — otherwise another P could wake it and run it on the stack this
 * P is still using.  So rg__park takes an unlock callback: the scheduler
 * runs it after the switch, on the P, before anything else runs there.
 *
 * Waking is two steps, so that timeouts and several wakers cannot both win:
 *   rg__claim(t, ticket)  wins (true) or loses (false) the right to end the
 *                  park identified by ticket (from rg__park_prepare, stored
 *                  in your waiter record: a stale waker never matches).  Call it while holding the lock under which t was
 *                  published, on a waiter you took off the queue; a loser
 *                  must leave t alone (its deadline fired, or another waker
 *                  won).
 *   rg__ready(t)   makes a claimed task runnable.  Call it after releasing
 *                  your locks ("never ready a task while holding a channel
 *                  lock").  From a P the task goes to that P's runnext and an
 *                  idle P is woken if there is one; from any other thread to
 *                  the global queue.
 * rg__wake(t, ticket) is claim-then-ready for callers that hold no lock.
 * Whichever way, a waker may reach t only once t has switched out: through
 * a record t published under a lock that its unlock callback releases, or
 * that the unlock callback itself published (it runs after the switch).
 * A ticket published before rg__park can be claimed while t still runs,
 * and the ready would then run t on two Ps at once.
 *
 * rg__park returns 0 when woken by rg__ready, -ETIMEDOUT when its deadline
 * fired first, -EAGAIN when the unlock callback returned false (the park was
 * abandoned before anyone could see it: the callback found the condition
 * already met).  After a timeout the task must remove itself from wherever
 * it published itself (under the same lock) before returning: a waker that
 * took it off the queue meanwhile will have lost the claim.
 *
 * Only a task may park.  On a thread of the blocking pool (inside
 * rg_blocking) rg__getp() is NULL and parking is not allowed.
 */
#ifndef RG_CORE_CORE_H
#define RG_CORE_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringo/core.h"

struct io_uring;
struct io_uring_sqe;

typedef struct rg__task rg__task;
typedef struct rg__p rg__p;

/* Why a task waits (task state "waiting"); shown in traces and stats. */
enum rg__wait {
	RG__WAIT_NONE = 0,
	RG__WAIT_SLEEP,
	RG__WAIT_YIELD,     /* not really waiting: between yield and requeue */
	RG__WAIT_IO,
	RG__WAIT_CHAN_SEND,
	RG__WAIT_CHAN_RECV,
	RG__WAIT_SELECT,
	RG__WAIT_MUTEX,
	RG__WAIT_RWMUTEX,
	RG__WAIT_COND,
	RG__WAIT_SEMA,
	RG__WAIT_WAITGROUP,
	RG__WAIT_CTX,
	RG__WAIT_GC,
	RG__WAIT_BLOCKING,  /* moving to or from the blocking pool */
	RG__WAIT_OTHER,
	RG__WAIT_COUNT
};
const char *rg__wait_name(int reason);

/* Task states, as Go's _Grunnable/_Grunning/_Gwaiting/_Gdead. */
enum rg__state { RG__RUNNABLE = 1, RG__RUNNING, RG__WAITING, RG__DEAD };

/* For a function that reads thread-local state, errno included, on
 * behalf of a caller that may have parked (and so moved to another
 * thread) since its own last read: callers must not see into it.  Within
 * one function the compiler keeps what it derived from the thread
 * pointer across calls (aarch64 GCC keeps tpidr_el0 in a register), and
 * glibc's __errno_location is const, so &errno is computed once per
 * function on every architecture: read after a park, it is the old
 * thread's errno.  GCC's noipa also stops it from treating the function
 * as pure; clang has no noipa, and its noinline suffices for this. */
#if defined(__clang__)
#define RG__NOIPA __attribute__((noinline))
#else
#define RG__NOIPA __attribute__((noipa))
#endif

/* The calling task, or NULL on a thread that runs no task. */
rg__task *rg__self(void);
/* The calling thread's P, or NULL (blocking pool, foreign thread). */
rg__p *rg__getp(void);
/* The calling task if it may park (it runs on a P), else NULL: a thread
 * outside the runtime, or a task inside rg_blocking, where rg__park fails
 * with -EPERM without running its unlock callback.  Primitives choose
 * between parking and their foreign-thread behaviour with this, never
 * with rg__self() alone. */
rg__task *rg__self_parkable(void);
int rg__p_index(const rg__p *p);
/* The same, inline, for hot paths (the allocator).  Valid only until the
 * caller next parks or passes a safepoint: the task may then resume on
 * another P.  (The thread's M starts with its P.) */
struct rg__m;
extern __thread struct rg__m *rg__tls_m __attribute__((tls_model("initial-exec")));
static inline rg__p *rg__getp_inline(void)
{
	struct rg__m *m = rg__tls_m;
	return m ? *(rg__p **)m : NULL;
}
int rg__nprocs(void);
/* The run is ending (main returned or could not start): set, seq_cst,
 * before any P leaves its loop; cleared when the next rg_run starts. */
bool rg__run_stopping(void);
rg__p *rg__p_at(int index); /* NULL if out of range or not running */

int64_t rg__task_id(const rg__task *t);
const char *rg__task_name(const rg__task *t);
int rg__task_state(const rg__task *t);
int rg__task_wait_reason(const rg__task *t);

/*
 * The head of every task record: what the hot paths of sync/ and io/ read
 * and write inline.  core/sched_int.h's struct rg__task begins with it (its
 * member h), so a task pointer converts to a pointer to it.  None of these
 * accessors touches a thread-local: they are safe to inline anywhere, even
 * across a park (unlike rg__self, see core/sched.c).
 */
enum rg__tslot { RG__TSLOT_IO, RG__TSLOT_CTX, RG__TSLOT_SEL, RG__TSLOT_COUNT };
/* The park claim word, wake: (ticket << 2) | state. */
enum { RG__CLAIM_ARMED = 0, RG__CLAIM_WOKEN = 1, RG__CLAIM_TIMEDOUT = 2,
       RG__CLAIM_ABANDONED = 3 };
struct rg__task_head {
	/* The park claim: armed by the task (release), claimed by one
	 * waker or its timer with a CAS or, for a sole record, a store
	 * under the lock the record was published under (core.h above). */
	_Atomic uint64_t wake;
	/* io/ (IO): the in-flight operation, a word that the task and
	 * rg_cancel (holding a pin on the task) update only atomically
	 * (io/cancel.c).  sync/ (CTX, SEL): written only by the task itself,
	 * its bound Context and its parked select's records; the stop hook
	 * reads SEL once no P runs.  All cleared by rg__task_alloc. */
	void *tslot[RG__TSLOT_COUNT];
};
static inline struct rg__task_head *rg__task_head(rg__task *t)
{
	return (struct rg__task_head *)(void *)t;
}
static inline void **rg__task_slot(rg__task *t, enum rg__tslot s)
{
	return &rg__task_head(t)->tslot[s];
}

typedef bool (*rg__unlock_fn)(rg__task *t, void *arg);
/* Arms a new park and returns its ticket: store it with your waiter record
 * before publishing.  rg__park arms one itself if you did not. */
uint64_t rg__park_prepare(void);
/* The same for self, the calling task (rg__self_parkable's result, which
 * a primitive has in hand anyway), inline: no call, no thread-local.
 * No fence (it was a seq_cst store, a locked instruction per park): a
 * waker can only claim this ticket after reading it from where the task
 * publishes it, under a lock or with a release store that comes after
 * this one; its acquire makes this store visible too. */
static inline uint64_t rg__park_prepare_self(rg__task *self)
{
	_Atomic uint64_t *w = &rg__task_head(self)->wake;
	uint64_t ticket = (atomic_load_explicit(w, memory_order_relaxed) >> 2) + 1;
	atomic_store_explicit(w, ticket << 2 | RG__CLAIM_ARMED, memory_order_release);
	return ticket;
}
int rg__park(int reason, int64_t deadline, rg__unlock_fn unlock, void *arg);
bool rg__claim(rg__task *t, uint64_t ticket);
/* rg__claim for a park that has one possible waker: no deadline, no
 * Context, no other record, so only whoever holds the lock the task was
 * published under can end it.  A plain store: the lock already makes that
 * waker the only one, and a locked instruction on a line the parked task's
 * P last wrote was a third of a channel hand-off (bench_sync).  Inline. */
static inline void rg__claim_sole(rg__task *t, uint64_t ticket)
{
	atomic_store_explicit(&rg__task_head(t)->wake, ticket << 2 | RG__CLAIM_WOKEN, memory_order_relaxed);
}
void rg__ready(rg__task *t);
/* Readies n claimed tasks behind the P's run queue, in order (FIFO, no
 * runnext: a wake-all should not jump one task ahead), with one check for
 * idle Ps for the lot: a close or a cancel waking thousands. */
void rg__ready_many(rg__task **ts, int n);
bool rg__wake(rg__task *t, uint64_t ticket);
/* Go's sync_runtime_canSpin, for sync/'s Mutex: may a task that found a
 * lock held spin (round iter, from 0) instead of parking?  Only for a few
 * rounds, with more than one P, when some other P is running (the owner
 * may be about to release) and this P's run queue is empty (no one else
 * wants this P). */
bool rg__can_spin(int iter);

/* A runtime timer (Go's timer with a function, not a task).  Exactly one
 * of three settles it: it fires — fn(tm) runs once, at or after `when`, on
 * the scheduler (g0) of the P whose heap holds it, or on sysmon's thread
 * (no P) when that P is stuck in one task, with no lock held — never
 * while the world is stopped for the collector: sysmon starts none while
 * a stop is pending, and a stop waits for one under way.  It must not
 * park, nor wait for a P to act (that stop may have stopped them all);
 * it may take spinlocks, ready tasks, close channels, spawn;
 * rg__rtimer_del removes it first; or rg_run stops first — drop(tm)
 * runs once every P has joined, before the rg__at_stop hooks, and the
 * heaps are freed.  It lives in its owner's record, which must stay valid
 * until it is settled.  One-shot: add it once. */
typedef struct rg__rtimer {
	void (*fn)(struct rg__rtimer *tm);
	void (*drop)(struct rg__rtimer *tm);
	rg__p *p;      /* the heap it went into (set by add, then const) */
	int32_t idx;   /* index in p's heap, -1 once removed (p's lock) */
} rg__rtimer;
/* 0, -ENOMEM, or -ESHUTDOWN when no runtime runs (not started, or
 * stopping).  On a P the timer goes into that P's heap; from a thread
 * without one, into P 0's, and P 0 is woken if the timer is its earliest. */
int rg__rtimer_add(rg__rtimer *tm, int64_t when, void (*fn)(rg__rtimer *tm), void (*drop)(rg__rtimer *tm));
/* true: removed before it fired, neither fn nor drop will run; false: it
 * was settled otherwise (fn or drop has run, runs, or is about to run). */
bool rg__rtimer_del(rg__rtimer *tm);

/* Registers fn (at most a few, once each: from a constructor) to run when
 * rg_run stops, once every P's thread has been joined: no task runs any
 * more, and the tasks left (runnable or parked) are discarded with their
 * stacks, which are unmapped after the hooks return.  For modules that
 * hold references on behalf of such tasks, or point at them (sync/: the
 * after-func tasks not yet run). */
void rg__at_stop(void (*fn)(void));

/* Stop-the-world, for gc/.  rg__stw_stop, called from a task, returns when
 * every other P is stopped between tasks (idle, or at a safepoint: a park,
 * a yield, rg__safepoint); the caller keeps running.  A task that runs
 * without ever reaching one delays it (there is no signal preemption). */
void rg__stw_stop(void);
void rg__stw_start(void);
/* Work a thread without a P does that must not overlap a running runtime
 * (gc/: a collection outside rg_run scans no task, stops no P).
 * rg__outside_begin returns false while rg_run runs (or is starting);
 * true: rg_run starts no P before the matching rg__outside_end. */
bool rg__outside_begin(void);
void rg__outside_end(void);
/* Cheap check; stops here if a STW is pending.  The task may resume on
 * another P (it is requeued like a yield): re-read rg__getp() after it. */
void rg__safepoint(void);
/* During a STW: every task that is not dead (runnable, waiting, in a
 * blocking section), including the caller. */
void rg__for_each_task(void (*fn)(rg__task *t, void *arg), void *arg);
/* The live part of a task's stack: saved stack pointer .. top (its saved
 * callee-saved registers lie inside).  For the caller, from this frame.
 * For a task inside rg_blocking, the part above the blocking call. */
void rg__task_stack_range(rg__task *t, void **lo, void **hi);
/* The range includes the task's record (its argument and per-task slots).
 * Task-local values live apart, in [lo, hi) from this (lo NULL: none). */
void rg__task_tls_range(rg__task *t, void **lo, void **hi);

/* Per-task pointers for other modules: io/ keeps the task's in-flight
 * operation there (for rg_cancel), sync/ the task's bound Context and
 * the records of the select it is parked in (freed by a stop hook if the
 * task is discarded).  rg__task_slot is inline, above. */
/* The live task with this id, pinned: it cannot finish exiting (its record
 * be unmapped, or reused by a later task) until rg__task_unpin.  NULL when
 * no live task has that id, or it has begun to exit.  Hold the pin briefly
 * and never across a park: the exiting task spins for it.  (A bare lookup,
 * as before 2026-12-06, let rg_cancel mark a record that a new task had
 * taken meanwhile, or an unmapped one: io_cancel_id under TSan.) */
rg__task *rg__task_pin(int64_t id);
void rg__task_unpin(rg__task *t);

/* Per-P slots that other modules fill lazily, on the owning P.  The
 * destructor runs on that P when the runtime stops. */
enum rg__slot { RG__SLOT_IO, RG__SLOT_SYNC, RG__SLOT_GC, RG__SLOT_COUNT };
void *rg__p_slot(rg__p *p, enum rg__slot s);
void rg__p_slot_set(rg__p *p, enum rg__slot s, void *v, void (*dtor)(void *));

/* The P's io_uring.  Only the P's own thread may touch it (single issuer).
 * rg__p_sqe never returns NULL: when the SQ is full it submits first.
 * SQEs queued here are submitted with the P's next io_uring_enter (when its
 * run queue is empty or every 61 scheduling ticks): batching is the point.
 * Set user_data to a rg__cqe_handler*; its fn runs on the P for each CQE. */
typedef struct rg__cqe_handler rg__cqe_handler;
struct rg__cqe_handler {
	void (*fn)(rg__cqe_handler *self, int res, unsigned flags);
};
struct io_uring *rg__p_ring(rg__p *p);
struct io_uring_sqe *rg__p_sqe(rg__p *p);
/* Submit now (for callers that cannot wait for the next poll). */
int rg__p_submit(rg__p *p);
/* Every SQE queued on any P before the call has reached the kernel when it
 * returns: the caller's P submits its own, others are waited for (they
 * submit at their next poll, batch or sleep).  rg_close calls it before
 * close(2), so that a call whose SQE is still queued acts on the file it
 * was given, never on a new file that got the number.  Parks when called
 * from a task; no-op without rings. */
void rg__ring_flush_all(void);
/* Ring features found when the P's ring was set up. */
unsigned rg__ring_setup_flags(void);

/* Runtime-internal memory (task records, waiters, channel buffers).  From
 * mimalloc, except in sanitizer builds (libc, so ASan/LSan see it). */
void *rg__malloc(size_t n);
void *rg__calloc(size_t n, size_t size);
void *rg__realloc(void *p, size_t n);
void rg__free(void *p);
void *rg__aligned_alloc(size_t align, size_t n);

/* Spin-wait hint (PAUSE / YIELD) for the library's spin loops. */
static inline void rg__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

/* One line on stderr, "ringo: ...". */
void rg__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void rg__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
