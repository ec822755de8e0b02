/*
 * ringo/sync.h — channels and select, Mutex, RWMutex, WaitGroup, Once,
 * Cond, weighted Semaphore and Context, with Go's semantics.
 *
 * Conventions (see ringo/core.h): >= 0 on success, -errno on failure, errno
 * untouched.  Deadlines are absolute CLOCK_MONOTONIC nanoseconds (rg_now());
 * -1 waits forever, 0 does not block.  Errors of blocking calls:
 *   -EAGAIN     deadline 0 and the operation would have had to wait
 *   -ETIMEDOUT  the deadline passed (or the bound Context's deadline did)
 *   -ECANCELED  the task's bound Context was cancelled (rg_ctx_bind)
 *   -EPIPE      send on a closed channel, or a second close
 * Blocking calls may only be made from a task (elsewhere, a call that
 * would wait returns -EPERM; rg_mutex_lock(_until) waits in the mutex's
 * queue in turn with tasks, asleep on a futex, and rg_rwmutex_*lock,
 * rg_cond_wait and rg_once_do poll with sched_yield).  The lock-like objects
 * (rg_mutex, rg_rwmutex, rg_waitgroup, rg_once, rg_cond, rg_sema) are
 * plain structs: zero them (or use the *_INIT macros) and they are ready
 * (an rg_sema zeroed has size 0: give it one with rg_sema_init);
 * they need no destroy call and may be freed once no task holds or waits
 * on them — a WaitGroup as soon as rg_waitgroup_wait has returned 0 and
 * no other wait on it is in progress (the WaitGroup on the waiter's stack
 * is the normal pattern); an rg_rwmutex after rg_rwmutex_destroy (see
 * there).
 *
 * Thread-local storage moves across any call here that can wait (see
 * ringo/core.h).
 */
#ifndef RINGO_SYNC_H
#define RINGO_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Not API: GCC and Clang callers, C or C++, get the inline fast paths
 * below (rg_select's full check, rg_mutex_lock and rg_mutex_unlock); the
 * library's own files, and other compilers, call the out-of-line copies. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(RG__SYNC_IMPL)
#define RG__SYNC_INLINE 1
#endif

/* --- channels --------------------------------------------------------- */

typedef struct rg_chan rg_chan;

/* A channel of elements of elem_size bytes (0 allowed, at most 1 GiB)
 * with a buffer of cap elements (0: unbuffered; at most UINT32_MAX).  NULL
 * beyond those limits, when out of memory, or when the buffer's size
 * (8 + elem_size rounded up to 8, times cap) overflows size_t. */
RG_API rg_chan *rg_chan_make(size_t elem_size, size_t cap);
/* Frees a channel no task uses any more (none waits on it, none will).
 * An exchange counts as done for both sides once either sees it: after
 * receiving the last value it expects, a task may free the channel even
 * though the sender's call (or select) has not returned yet. */
RG_API void rg_chan_free(rg_chan *ch);

/* Copies elem_size bytes from *v into the channel: handed directly to a
 * waiting receiver if there is one, else into the buffer, else waits.
 * 0, -EPIPE (closed, even while waiting), -EAGAIN, -ETIMEDOUT,
 * -ECANCELED, -EINVAL (v NULL with elem_size > 0).  A NULL channel is
 * never ready (waits until the deadline). */
RG_API int rg_chan_send(rg_chan *ch, const void *v, int64_t deadline);
/* Receives into *out (may be NULL to drop the value).  *ok (may be NULL)
 * is true for a value sent, false once the channel is closed and drained
 * (then *out is zeroed and the result is 0).  0, -EAGAIN, -ETIMEDOUT,
 * -ECANCELED. */
RG_API int rg_chan_recv(rg_chan *ch, void *out, bool *ok, int64_t deadline);
/* Closes: every waiting receiver gets ok=false, every waiting sender
 * -EPIPE; receivers drain the buffer first.  0, or -EPIPE if already
 * closed (-EINVAL for NULL). */
RG_API int rg_chan_close(rg_chan *ch);
RG_API size_t rg_chan_len(const rg_chan *ch); /* buffered elements now */
RG_API size_t rg_chan_cap(const rg_chan *ch);

/* --- select ------------------------------------------------------------ */

enum { RG_SELECT_RECV = 0, RG_SELECT_SEND = 1 };

typedef struct rg_select_case {
	rg_chan *ch;  /* NULL: this case is never ready */
	int dir;      /* RG_SELECT_RECV or RG_SELECT_SEND */
	void *val;    /* send: the value; receive: where to store (or NULL) */
	bool ok;      /* out, for the chosen case.  Receive: as rg_chan_recv's
	                 ok.  Send: true if sent, false if the channel was closed
	                 (Go panics there; ringo reports it) */
} rg_select_case;

/* Waits until one of the n cases can proceed, performs it and returns its
 * index.  When several are ready one is chosen uniformly at random.  A
 * "default" case is deadline 0: -EAGAIN when no case is ready.  -ETIMEDOUT,
 * -ECANCELED as for a channel operation; -EINVAL for a bad case (dir
 * neither RECV nor SEND; a send with val NULL on a channel whose
 * elem_size > 0), n < 0 or n > 65536; -ENOMEM (no memory for the
 * waiter records, or for the scratch that more than 64 cases need).
 * n == 0 (or all channels NULL) waits until the deadline. */
RG_API int rg_select(rg_select_case *cases, int n, int64_t deadline);

/* Not API: what the inline fast path below needs.  The first fields of
 * every channel (sync/chan.c checks its layout against this), read
 * lock-free as in chan.c's own fast paths, and rg_select without them.
 * A buffered channel's ring positions are stamps (lap | index, a lap being
 * 2 * mark); tail also carries mark once the channel is closed.  Changed
 * in this layout (ringo 0.x, not a stable ABI): closed and qcount became
 * tail's mark bit and tail - head, on their own cache lines, the
 * constants moved to the first line and the lock to the second, so code
 * compiled against an older ringo/sync.h must be rebuilt. */
struct rg__chan_head {
	uint32_t cap;         /* const */
	uint32_t _elemsize;
	uint32_t stride;      /* const: bytes per slot */
	uint32_t _pad;
	uint64_t mark;        /* const: the closed bit of tail */
	char *buf;            /* const: cap slots of stride bytes, each an
	                         atomic uint64_t stamp, then the value */
	void *_gc[4];
	uint32_t _lock __attribute__((__aligned__(64)));
	void *recvq_first;    /* atomic: first waiting receiver, or NULL */
	uint64_t tail __attribute__((__aligned__(64))); /* atomic: next send's
	                                                   stamp | mark if closed */
	uint64_t head __attribute__((__aligned__(64))); /* atomic: next receive's
	                                                   stamp (cap > 0 only) */
};
RG_API int rg__select(rg_select_case *cases, int n, int64_t deadline);

#ifdef RG__SYNC_INLINE
#include <errno.h>
/* Go's select { case ch <- v: ... default: } on a full channel, inline
 * (a call costs as much as the check): -EAGAIN when the only case is a
 * send on an open channel with no room (buffered: the slot at tail still
 * holds the previous lap's value, stamp + 2 * mark == tail + 1; receives
 * free slots in order, so that means full) or no waiting receiver
 * (unbuffered).  tail is read first, with acquire, so its value still held
 * when the slot was read: the channel was open and full then, which is all
 * "default" promises (a close in between only drains it).
 * gnu_inline: the out-of-line rg_select stays the library's. */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
rg_select(rg_select_case *cases, int n, int64_t deadline)
{
	/* (val NULL: out of line, which tells a bad case from a full channel) */
	if (__builtin_constant_p(n) && n == 1 && deadline == 0 && cases && cases->ch && cases->val &&
	    cases->dir == RG_SELECT_SEND) {
		struct rg__chan_head *h = (struct rg__chan_head *)cases->ch;
		/* the constants first: read after tail's acquire, they
		 * were loaded twice and in sequence */
		uint64_t mark = h->mark;
		uint32_t cap = h->cap, stride = h->stride;
		const char *buf = h->buf;
		uint64_t t = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
		if (!(t & mark) &&
		    (cap ? __atomic_load_n((const uint64_t *)(buf + (t & (mark - 1)) * stride),
		                           __ATOMIC_RELAXED) + 2 * mark == t + 1
		         : __atomic_load_n(&h->recvq_first, __ATOMIC_RELAXED) == NULL))
			return -EAGAIN;
	}
	return rg__select(cases, n, deadline);
}
#endif

/* --- Mutex -------------------------------------------------------------- */

/* Go's sync.Mutex: a waiter spins briefly while the owner runs on another
 * P, then parks; a waiter that waited over 1 ms switches the mutex to
 * starvation mode, where the unlocker hands ownership to the first waiter.
 * Not recursive; any task may unlock it. */
typedef struct rg_mutex {
	uint32_t _state; /* not API: the word of the fast paths below */
	uint32_t _pad;
	uint64_t _priv[3];
} rg_mutex;
#ifdef __cplusplus
#define RG_MUTEX_INIT {}
#else
#define RG_MUTEX_INIT {0}
#endif

RG_API void rg_mutex_lock(rg_mutex *m);
/* 0, -EAGAIN (deadline 0, locked), -ETIMEDOUT, -ECANCELED (bound ctx). */
RG_API int rg_mutex_lock_until(rg_mutex *m, int64_t deadline);
RG_API bool rg_mutex_trylock(rg_mutex *m);
/* Aborts with "ringo: fatal: sync: unlock of unlocked mutex" if unlocked. */
RG_API void rg_mutex_unlock(rg_mutex *m);

/* Not API: _state's bits (sync/mutex.c describes them) and the rest of
 * the lock and unlock, out of line.  Changed in ringo 0.x (not a stable
 * ABI): code compiled against an older ringo/sync.h must be rebuilt. */
enum { RG__MUTEX_LOCKED = 1, RG__MUTEX_WOKEN = 2, RG__MUTEX_STARVING = 4, RG__MUTEX_WAITERS = 8 };
RG_API void rg__mutex_lock_slow(rg_mutex *m);
RG_API void rg__mutex_unlock_slow(rg_mutex *m, uint32_t seen);

#if defined(__GNUC__) || defined(__clang__)
/* The fast paths' rules, one copy for the inline functions below and for
 * sync/mutex.c's out-of-line ones (gnu_inline and always inlined, so no
 * symbol: an inline rg_mutex_lock may not call a static function).
 * Lock: one atomic bit-test-and-set of LOCKED (lock bts on x86-64), which
 * takes a free mutex whatever its other bits (STARVING implies LOCKED),
 * so a woken waiter or queued ones cost the running locker nothing.  The
 * bool keeps GCC from making it a CAS loop (Clang 14 makes one anyway: a
 * load and a CAS, the same rule).
 * Unlock: one CAS that clears LOCKED when nobody needs waking: no waiter
 * queued, or one already woken (WOKEN), and not in starvation mode; else
 * false, with the state seen in *seen for the slow path. */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) bool rg__mutex_lock_fast(rg_mutex *m)
{
	bool held = __atomic_fetch_or(&m->_state, RG__MUTEX_LOCKED, __ATOMIC_ACQUIRE) & RG__MUTEX_LOCKED;
	return !held;
}

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) bool rg__mutex_unlock_fast(rg_mutex *m, uint32_t *seen)
{
	uint32_t s = __atomic_load_n(&m->_state, __ATOMIC_RELAXED);
	bool done = __builtin_expect((s & (RG__MUTEX_LOCKED | RG__MUTEX_STARVING)) == RG__MUTEX_LOCKED &&
	                                     (s & (RG__MUTEX_WAITERS | RG__MUTEX_WOKEN)) != RG__MUTEX_WAITERS,
	                             1) &&
	            __atomic_compare_exchange_n(&m->_state, &s, s & ~(uint32_t)RG__MUTEX_LOCKED, 0,
	                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	*seen = s;
	return done;
}
#endif

#ifdef RG__SYNC_INLINE
/* Go inlines Lock's and Unlock's fast paths into the caller; so does ringo. */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void rg_mutex_lock(rg_mutex *m)
{
	if (__builtin_expect(!rg__mutex_lock_fast(m), 0))
		rg__mutex_lock_slow(m);
}

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void rg_mutex_unlock(rg_mutex *m)
{
	uint32_t seen;
	if (__builtin_expect(!rg__mutex_unlock_fast(m, &seen), 0))
		rg__mutex_unlock_slow(m, seen);
}
#endif

/* --- RWMutex ------------------------------------------------------------ */

/* Go's sync.RWMutex: many readers or one writer; a writer waiting blocks
 * new readers, so writers are not starved.  A reader must not take the
 * read lock again while it holds it (a waiting writer would deadlock it). */
typedef struct rg_rwmutex {
	uint64_t _priv[16];
} rg_rwmutex;
#define RG_RWMUTEX_INIT {{0}}

RG_API void rg_rwmutex_rlock(rg_rwmutex *rw);
RG_API bool rg_rwmutex_tryrlock(rg_rwmutex *rw);
RG_API void rg_rwmutex_runlock(rg_rwmutex *rw);
RG_API void rg_rwmutex_lock(rg_rwmutex *rw);
RG_API bool rg_rwmutex_trylock(rg_rwmutex *rw);
RG_API void rg_rwmutex_unlock(rg_rwmutex *rw);
/* Call before freeing an rg_rwmutex that a reader may free: a writer's
 * unlock, as Go's, lets readers in and then still writes the RWMutex, so
 * a reader that drops the last reference under the read lock could
 * otherwise free it under the writer's feet.  Waits (briefly) until the
 * last writer's unlock is done; aborts if the RWMutex is still held or
 * awaited.  Not needed when the memory outlives every task using it. */
RG_API void rg_rwmutex_destroy(rg_rwmutex *rw);

/* --- WaitGroup ------------------------------------------------------------ */

typedef struct rg_waitgroup {
	uint64_t _priv[4];
} rg_waitgroup;
#define RG_WAITGROUP_INIT {{0}}

/* Adds delta (may be negative) to the counter; aborts if it goes
 * negative.  When it reaches zero every waiter is released.  As in Go, a
 * new round of Adds begins after the last round's Waits have returned:
 * an Add that takes the counter up from zero while those waiters are
 * still being released aborts ("Add called concurrently with Wait"). */
RG_API void rg_waitgroup_add(rg_waitgroup *wg, int64_t delta);
RG_API void rg_waitgroup_done(rg_waitgroup *wg);
/* 0 once the counter is zero; -EAGAIN, -ETIMEDOUT, -ECANCELED. */
RG_API int rg_waitgroup_wait(rg_waitgroup *wg, int64_t deadline);

/* --- Once ----------------------------------------------------------------- */

typedef struct rg_once {
	uint64_t _priv[5];
} rg_once;
#define RG_ONCE_INIT {{0}}

/* Calls fn(arg) the first time only; every caller returns after it has
 * returned. */
RG_API void rg_once_do(rg_once *o, void (*fn)(void *arg), void *arg);

/* --- Cond ----------------------------------------------------------------- */

typedef struct rg_cond {
	uint64_t _priv[4];
} rg_cond;
#define RG_COND_INIT {{0}}

/* Unlocks m, waits for a signal, locks m again.  As in Go, wake-ups are
 * not tied to a predicate: wait in a loop. */
RG_API void rg_cond_wait(rg_cond *c, rg_mutex *m);
RG_API void rg_cond_signal(rg_cond *c);    /* wakes the longest waiter */
RG_API void rg_cond_broadcast(rg_cond *c); /* wakes every waiter */

/* --- weighted Semaphore (golang.org/x/sync/semaphore) --------------------- */

typedef struct rg_sema {
	uint64_t _priv[5];
} rg_sema;

RG_API void rg_sema_init(rg_sema *s, int64_t size);
/* Acquires n units, FIFO (a large request is not overtaken by small
 * ones).  0, -EAGAIN, -ETIMEDOUT, -ECANCELED, -EINVAL (n < 0 or n >
 * size: could never succeed). */
RG_API int rg_sema_acquire(rg_sema *s, int64_t n, int64_t deadline);
RG_API bool rg_sema_try_acquire(rg_sema *s, int64_t n);
/* Aborts if more is released than held, or if n < 0. */
RG_API void rg_sema_release(rg_sema *s, int64_t n);

/* --- Context ---------------------------------------------------------------- */

/* Go's context.Context.  A context is reference counted: a constructor
 * returns one reference, which the caller gives back with rg_ctx_release
 * (that also cancels it, like calling Go's CancelFunc: always release).
 * A child keeps its parent alive.  rg_ctx_background() is never freed.
 * Every function is safe from any task or thread. */
typedef struct rg_ctx rg_ctx;

RG_API rg_ctx *rg_ctx_background(void);
/* 0, -EINVAL (NULL parent or out), -ENOMEM. */
RG_API int rg_ctx_with_cancel(rg_ctx *parent, rg_ctx **out);
/* The child's deadline is min(deadline, the parent's).  A past deadline
 * gives a context already done with -ETIMEDOUT; so does -1, which here is
 * a time long past, not "forever" as for a blocking call's deadline (a
 * context with no deadline of its own: rg_ctx_with_cancel).  A timeout of
 * 0 or less, likewise.  0, -EINVAL, -ENOMEM, or -ESHUTDOWN: a deadline
 * still to come, asked for while no rg_run is running or while it is
 * stopping (main has returned; its timer needs the runtime's Ps; the
 * context stays usable after rg_run, see there). */
RG_API int rg_ctx_with_deadline(rg_ctx *parent, int64_t deadline, rg_ctx **out);
RG_API int rg_ctx_with_timeout(rg_ctx *parent, int64_t ns, rg_ctx **out);
/* Carries key -> val (compared by address); lookups walk to the root. */
RG_API int rg_ctx_with_value(rg_ctx *parent, const void *key, void *val, rg_ctx **out);

/* Cancels ctx and every descendant (error -ECANCELED); no-op once done
 * and on contexts that cannot be cancelled (background, values).  Returns
 * once ctx and every descendant are done, also when another cancel (a
 * second caller, its deadline, an ancestor's cancel) is doing the work, as
 * Go's does: it then waits for that one (spinning, yielding its P). */
RG_API void rg_ctx_cancel(rg_ctx *ctx);
RG_API void rg_ctx_retain(rg_ctx *ctx);
/* Cancels (as rg_ctx_cancel) if this is a cancellable context, then
 * drops one reference. */
RG_API void rg_ctx_release(rg_ctx *ctx);

/* A channel closed when ctx is done, usable in rg_select; NULL (never
 * ready) for a context that can never be done.  Owned by ctx. */
RG_API rg_chan *rg_ctx_done(rg_ctx *ctx);
/* 0 while not done, then -ECANCELED or -ETIMEDOUT (deadline).  Once it
 * reports an error, a receive on rg_ctx_done(ctx) succeeds.  A descendant
 * may still read 0 for a moment after an ancestor's error shows, while the
 * cancel works down the tree (Go's Err waits on a mutex there); when
 * rg_ctx_cancel returns, all of it is done. */
RG_API int rg_ctx_err(rg_ctx *ctx);
/* Stores the deadline and returns true if ctx has one. */
RG_API bool rg_ctx_deadline(rg_ctx *ctx, int64_t *deadline);
RG_API void *rg_ctx_value(rg_ctx *ctx, const void *key);

/* Runs fn(arg) in a new task once ctx is done (at once if it is already).
 * Where no task can be made then (no rg_run is running, it is stopping,
 * or memory is short) fn runs on the thread that ended ctx, before the
 * call that ended it returns: it is never dropped.  Returns an id > 0 for
 * rg_ctx_after_stop, -ENOMEM, or -EINVAL (ctx or fn NULL). */
RG_API int64_t rg_ctx_after_func(rg_ctx *ctx, void (*fn)(void *arg), void *arg);
/* true if this stopped fn from being run; false if it ran or is running.
 * On a context that can never be done (background, or value contexts
 * over it) fn never runs, and every call says true. */
RG_API bool rg_ctx_after_stop(rg_ctx *ctx, int64_t id);

/* Binds ctx to the calling task (NULL unbinds) and returns the previous
 * binding.  While bound, the task's blocking calls of this header —
 * channel operations and select, rg_mutex_lock_until, rg_waitgroup_wait,
 * rg_sema_acquire — end with rg_ctx_err(ctx) once ctx is done, instead of
 * waiting on.  (Operations that can complete at once still do, and a poll
 * (deadline 0) that finds nothing ready says -EAGAIN, as unbound.)  The
 * task's I/O calls (ringo/io.h) honour it too: see "Context" there.  The
 * caller keeps ctx alive while it is bound; no reference is taken. */
RG_API rg_ctx *rg_ctx_bind(rg_ctx *ctx);
RG_API rg_ctx *rg_ctx_current(void);

#ifdef __cplusplus
}
#endif
#endif
