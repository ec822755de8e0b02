/*
 * sync/mutex.c — Mutex, RWMutex, Cond and Once, after Go's sync/mutex.go,
 * rwmutex.go, cond.go (runtime notifyList) and once.go.
 *
 * Mutex.  One atomic state word and a FIFO queue of parked waiters under a
 * spinlock.  State bits:
 *   LOCKED    held.
 *   WOKEN     an unlocker has woken a waiter (or a spinner announced
 *             itself), which now competes for the lock: further unlocks need
 *             not wake another.
 *   STARVING  starvation mode: the lock passes from the unlocker straight to
 *             the first waiter (LOCKED stays set), and newcomers neither
 *             spin nor grab it but queue at the tail.  STARVING implies
 *             LOCKED.
 *   WAITERS   the queue is not empty (set and cleared under the queue lock,
 *             by CAS/atomic ops since lockers and unlockers read it without
 *             the lock).  A waiter sets it only by a CAS from a LOCKED
 *             state, so the holder's unlock must see it (no lost wake-up).
 *   QLOCK     the queue lock, in the state word so that the unlock that
 *             wakes a waiter can release LOCKED and take QLOCK in one CAS,
 *             and end with one atomic op that releases QLOCK: with a
 *             separate lock word it released LOCKED first and went on
 *             touching the mutex, and once every queued waiter had timed
 *             out, one of them could retry, lock, drop the last reference
 *             to the object holding the mutex and free it in between.  A
 *             waiter takes QLOCK in the CAS that sets WAITERS; its park
 *             releases it.
 * Normal mode: a woken waiter competes with newcomers (which usually win:
 * they are running).  If it loses it goes back to the head of the queue; a
 * waiter that has waited over 1 ms sets STARVING.  An unlocker in
 * starvation mode hands over ownership and clears STARVING if the waiter
 * it woke is the last one or waited less than 1 ms (Go's rules).
 * Timed-out (or cancelled) waiters unlink themselves under the queue lock;
 * unlockers skip waiters whose claim they lose.
 *
 * RWMutex: Go's design exactly — a Mutex serialises writers; readerCount
 * counts readers and goes negative (minus RW_MAX) while a writer is
 * pending, which makes new readers wait; readerWait counts the readers the
 * writer still waits for.  Its two semaphores are counting semaphores
 * (csema) with a FIFO queue.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sync/sync_int.h"

/* ringo/sync.h's inline fast paths use the first four (RG__MUTEX_*). */
#define LOCKED ((uint32_t)RG__MUTEX_LOCKED)
#define WOKEN ((uint32_t)RG__MUTEX_WOKEN)
#define STARVING ((uint32_t)RG__MUTEX_STARVING)
#define WAITERS ((uint32_t)RG__MUTEX_WAITERS)
#define QLOCK 16u
#define STARVE_NS 1000000

struct mutex_impl {
	_Atomic uint32_t state; /* atomic: LOCKED | WOKEN | STARVING | WAITERS | QLOCK */
	uint32_t _pad0;
	rg__waitq q;            /* QLOCK: parked waiters, FIFO; arg = wait start */
	uint64_t _pad;
};
_Static_assert(sizeof(struct mutex_impl) <= sizeof(rg_mutex), "rg_mutex too small");
_Static_assert(offsetof(struct mutex_impl, state) == offsetof(rg_mutex, _state), "rg_mutex._state");

static inline struct mutex_impl *MI(rg_mutex *m) { return (struct mutex_impl *)m; }

/* Takes QLOCK whatever the rest of the state. */
static void qlock_take(struct mutex_impl *m)
{
	uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);
	for (unsigned spins = 0;;) {
		if (!(old & QLOCK)) {
			if (atomic_compare_exchange_weak_explicit(&m->state, &old, old | QLOCK, memory_order_acquire,
			                                          memory_order_relaxed))
				return;
			continue;
		}
		rg__sync_backoff(&spins);
		old = atomic_load_explicit(&m->state, memory_order_relaxed);
	}
}

/* Park's unlock callback: releases QLOCK. */
static bool qlock_release_cb(rg__task *t, void *arg)
{
	(void)t;
	atomic_fetch_and_explicit(&((struct mutex_impl *)arg)->state, ~QLOCK, memory_order_release);
	return true;
}

/* One spin round: 30 pauses (Go's procyield(30)), looking at the state
 * after pauses 1, 3, 7, 15 and 30, and ending early once the lock is free
 * or handed over (STARVING); returns the state last read.  Go's round is
 * blind: with work between lock operations (bench_sync -outside 100) the
 * holder had long unlocked while the spinner sat out its 30 pauses (16-20
 * ns each on the 2-vCPU EPYC VM measured).  A look after every pause was
 * worse where the lock is hot (no work between operations: 23 -> 26-59 ns
 * an operation): each look pulls the line from the holder, which relocks
 * at once.  Spaced looks keep most of the gain there (23 -> 24-31 ns, Go
 * 48-58) and all of it with outside work (50 %: 117 -> 104 ns, Go 103).
 * blind: look only after pause 30 (the caller's choice once a round ended
 * with the lock still held). */
static inline uint32_t spin_round(struct mutex_impl *m, bool blind)
{
	uint32_t s = 0;
	for (int i = 1; i <= 30; i++) {
		rg__cpu_relax();
		if (((i & (i + 1)) || blind) && i != 30)
			continue;
		s = atomic_load_explicit(&m->state, memory_order_relaxed);
		if ((s & (LOCKED | STARVING)) != LOCKED)
			break;
	}
	return s;
}

/*
 * Waiters that are not tasks: a thread outside the runtime, or a task in
 * rg_blocking (neither can park).  They queue as tasks do, with a record
 * whose task is NULL and whose elem points at a futex word on the thread's
 * stack, and sleep on that word.  They polled with sched_yield before, and
 * in starvation mode, where the lock goes from the unlocker straight to
 * the first queued waiter and LOCKED never clears while any is queued, a
 * poller never saw it free: 8 tasks holding a mutex 2 ms at a time took it
 * 1,648 times in 3 s, the thread not once (sync_lock_foreign_starving).
 * The word: FW_WAIT, then FW_CLAIMED by an unlocker (the thread may no
 * longer leave: it waits for FW_DONE, once the unlocker has written
 * handoff and let go of the mutex) or FW_GONE (it timed out first;
 * unlockers skip the record).
 */
enum { FW_WAIT, FW_CLAIMED, FW_GONE, FW_DONE };

static inline _Atomic uint32_t *fw_word(const rg__sudog *sg) { return (_Atomic uint32_t *)sg->elem; }

static void fw_sleep(_Atomic uint32_t *w, uint32_t v, int64_t until)
{
	struct timespec ts, *tp = NULL;
	if (until > 0) {
		int64_t d = until - rg_now();
		if (d <= 0)
			return;
		ts.tv_sec = d / 1000000000;
		ts.tv_nsec = d % 1000000000;
		tp = &ts;
	}
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, v, tp, NULL, 0);
}

/* The unlock callback's part (QLOCK released), then the wait: 0 once
 * claimed and released by an unlocker (sg->handoff says how), or
 * -ETIMEDOUT / the bound Context's error, the record given up (still
 * linked: the caller unlinks it, as a task's timed-out record).  A bound
 * Context (a task in rg_blocking) is looked at every millisecond: no
 * cancel wakes the word. */
static int fw_wait(struct mutex_impl *m, rg__sudog *sg, int64_t deadline, bool use_ctx)
{
	_Atomic uint32_t *w = fw_word(sg);
	atomic_fetch_and_explicit(&m->state, ~QLOCK, memory_order_release);
	for (;;) {
		uint32_t v = atomic_load_explicit(w, memory_order_acquire);
		if (v == FW_DONE)
			return 0;
		int e = 0;
		if (v == FW_WAIT) {
			if (deadline > 0 && rg_now() >= deadline)
				e = -ETIMEDOUT;
			else if (use_ctx)
				e = rg__ctx_bound_err();
			if (e) {
				if (atomic_compare_exchange_strong(w, &v, FW_GONE))
					return e;
				continue; /* claimed meanwhile: wait for FW_DONE */
			}
		}
		int64_t until = deadline;
		if (v == FW_WAIT && use_ctx) {
			int64_t look = rg_now() + 1000000;
			until = until > 0 && until < look ? until : look;
		}
		fw_sleep(w, v, v == FW_WAIT ? until : -1);
	}
}

/* The unlocker, after its last touch of the mutex: the thread may go on
 * (and its record die) from the store; the wake reads nothing of it (a
 * private futex's key is the address alone). */
static void fw_release(rg__sudog *sg)
{
	_Atomic uint32_t *w = fw_word(sg);
	atomic_store_explicit(w, FW_DONE, memory_order_release);
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* rg__waitq_claim for the mutex's queue, which also holds threads'
 * records.  QLOCK held. */
static rg__sudog *mutex_claim(struct mutex_impl *m)
{
	rg__sudog *s;
	while ((s = atomic_load_explicit(&m->q.first, memory_order_relaxed))) {
		rg__waitq_remove(&m->q, s);
		if (s->task) {
			if (rg__sudog_claim(s))
				return s;
		} else {
			uint32_t v = FW_WAIT;
			if (atomic_compare_exchange_strong(fw_word(s), &v, FW_CLAIMED))
				return s;
		}
	}
	return NULL;
}

__attribute__((noinline)) static int mutex_lock_slow(struct mutex_impl *m, int64_t deadline, bool use_ctx)
{
	int64_t wait_start = 0;
	bool starving = false, awoke = false;
	int iter = 0;
	unsigned qspins = 0;
	uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);
	rg__task *self = rg__self_parkable();
	/* Only a caller that will wait may announce itself with WOKEN: one
	 * that gives up instead (deadline 0) would clear it after an unlock
	 * skipped waking a waiter for it.  A caller that is not a task (a
	 * thread outside the runtime, a task in rg_blocking) waits on a futex
	 * (fw_wait). */
	bool may_park = deadline != 0;
	bool blind = false; /* spin_round: look once a round, not five times */
	for (;;) {
		/* Spin while the owner runs elsewhere (not in starvation
		 * mode: there the lock goes to the queue). */
		if (deadline != 0 && (old & (LOCKED | STARVING)) == LOCKED && rg__sync_can_spin(iter)) {
			if (may_park && !awoke && !(old & WOKEN) && (old & WAITERS) &&
			    atomic_compare_exchange_weak(&m->state, &old, old | WOKEN))
				awoke = true;
			old = spin_round(m, blind);
			/* A round that ended with the lock still held: the
			 * holder keeps retaking it (nothing between its
			 * operations), and each look only pulled its line
			 * away.  Look once a round from now on, as Go's blind
			 * procyield(30) (one task per P on one mutex: 16.1 ->
			 * 9.8 ns an operation; docs/sync.md, ninth pass). */
			blind = blind || (old & (LOCKED | STARVING)) == LOCKED;
			iter++;
			continue;
		}
		if (!(old & (LOCKED | STARVING))) {
			uint32_t nw = old | LOCKED;
			if (awoke)
				nw &= ~WOKEN;
			if (atomic_compare_exchange_weak_explicit(&m->state, &old, nw, memory_order_acquire,
			                                          memory_order_relaxed))
				return 0;
			continue;
		}
		if (!may_park)
			return -EAGAIN;
		if (!self) {
			/* not a task: its deadline and Context as a task's
			 * park would see them, before it queues */
			if (deadline > 0 && rg_now() >= deadline)
				return -ETIMEDOUT;
			int e = use_ctx ? rg__ctx_bound_err() : 0;
			if (e)
				return e;
		}
		/* Queue up: one CAS from a LOCKED state takes the queue lock
		 * and sets WAITERS, so the holder's unlock must see it. */
		if (old & QLOCK) {
			rg__sync_backoff(&qspins);
			old = atomic_load_explicit(&m->state, memory_order_relaxed);
			continue;
		}
		uint32_t nw = old | QLOCK | WAITERS;
		if (starving)
			nw |= STARVING;
		if (awoke)
			nw &= ~WOKEN;
		if (!atomic_compare_exchange_weak_explicit(&m->state, &old, nw, memory_order_acquire,
		                                           memory_order_relaxed))
			continue;
		qspins = 0;
		awoke = false;
		rg_ctx *bound = use_ctx && self ? rg__bound_ctx(self) : NULL;
		_Atomic uint32_t fw = FW_WAIT;
		rg__sudog sg = { .task = self };
		if (self) {
			sg.sole = rg__park_sole(bound, deadline);
			sg.ticket = rg__park_prepare_self(self);
		} else {
			sg.elem = (void *)&fw;
		}
		if (wait_start) {
			sg.arg = (uint64_t)wait_start;
			rg__waitq_push_front(&m->q, &sg); /* came back: LIFO */
		} else {
			wait_start = rg_now();
			sg.arg = (uint64_t)wait_start;
			rg__waitq_push(&m->q, &sg);
		}
		int r = self ? rg__park_in(bound, self, RG__WAIT_MUTEX, deadline, sg.ticket, qlock_release_cb, m)
		             : fw_wait(m, &sg, deadline, use_ctx);
		if (r != 0) {
			qlock_take(m);
			if (sg.linked)
				rg__waitq_remove(&m->q, &sg);
			atomic_fetch_and_explicit(&m->state, ~(QLOCK | (rg__waitq_empty(&m->q) ? WAITERS : 0)),
			                          memory_order_release);
			return r;
		}
		if (sg.handoff)
			return 0; /* starvation mode: the lock is ours */
		awoke = true; /* the unlocker set WOKEN for us */
		iter = 0;
		starving = starving || rg_now() - wait_start > STARVE_NS;
		old = atomic_load_explicit(&m->state, memory_order_relaxed);
	}
}

/* The fast paths are ringo/sync.h's rg__mutex_lock_fast and
 * rg__mutex_unlock_fast, shared with the inline copies there.  The lock's
 * bit-test-and-set replaced Go's CAS from 0, which fails while a woken
 * waiter competes (WOKEN) and then takes a second CAS: a running locker
 * retaking the lock meanwhile paid both (one task per P on one mutex: 7.8
 * -> 5.8 ns an operation, with the unlock's WOKEN rule; docs/sync.md,
 * tenth pass). */
void rg_mutex_lock(rg_mutex *mu)
{
	if (__builtin_expect(!rg__mutex_lock_fast(mu), 0))
		mutex_lock_slow(MI(mu), -1, false);
}

void rg__mutex_lock_slow(rg_mutex *mu)
{
	mutex_lock_slow(MI(mu), -1, false);
}

int rg_mutex_lock_until(rg_mutex *mu, int64_t deadline)
{
	return rg__mutex_lock_fast(mu) ? 0 : mutex_lock_slow(MI(mu), deadline, true);
}

bool rg_mutex_trylock(rg_mutex *mu)
{
	struct mutex_impl *m = MI(mu);
	uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);
	while (!(old & (LOCKED | STARVING)))
		if (atomic_compare_exchange_weak_explicit(&m->state, &old, old | LOCKED, memory_order_acquire,
		                                          memory_order_relaxed))
			return true;
	return false;
}

static inline void mutex_unlock_slow_(struct mutex_impl *m, uint32_t old);

/* Counted when made by a thread without a P (sync_int.h). */
__attribute__((noinline)) static void mutex_unlock_slow(struct mutex_impl *m, uint32_t old)
{
	bool pl = rg__pless_wake_begin();
	mutex_unlock_slow_(m, old);
	rg__pless_wake_end(pl);
}

static inline void mutex_unlock_slow_(struct mutex_impl *m, uint32_t old)
{
	bool starving;
	for (unsigned spins = 0;;) {
		if (!(old & LOCKED))
			rg__fatal("sync: unlock of unlocked mutex %p", (void *)m);
		starving = old & STARVING;
		if (!starving && (!(old & WAITERS) || (old & WOKEN))) {
			/* nobody to wake (or a woken one already competes) */
			if (atomic_compare_exchange_weak_explicit(&m->state, &old, old & ~LOCKED, memory_order_release,
			                                          memory_order_relaxed))
				return;
			continue;
		}
		/* To wake the first waiter (or, starving, hand it the lock) we
		 * need the queue lock.  A queuer or a timed-out waiter may hold
		 * it for a moment: wait, still holding LOCKED, so that no wake
		 * is skipped. */
		if (old & QLOCK) {
			rg__sync_backoff(&spins);
			old = atomic_load_explicit(&m->state, memory_order_relaxed);
			continue;
		}
		/* Normal mode: one CAS releases LOCKED, announces the wake
		 * (WOKEN) and takes QLOCK, so the lock is free again as soon
		 * as before.  WAITERS was set with QLOCK free: the queue holds
		 * a record, and its task, live or timed out, can do nothing
		 * more with the mutex until our last op below releases QLOCK:
		 * nobody can free the mutex in between. */
		uint32_t nw = starving ? old | QLOCK : (old & ~LOCKED) | WOKEN | QLOCK;
		if (atomic_compare_exchange_weak_explicit(&m->state, &old, nw, memory_order_acq_rel,
		                                          memory_order_relaxed))
			break;
	}
	rg__sudog *sg = mutex_claim(m);
	rg__task *t = sg ? sg->task : NULL;
	bool empty = rg__waitq_empty(&m->q);
	uint32_t clr = QLOCK | (empty ? WAITERS : 0);
	if (starving) {
		/* LOCKED stays set and passes to the waiter; Go's rules for
		 * leaving the mode.  STARVING cannot change meanwhile (set by
		 * a waiter with QLOCK, cleared by the holder). */
		if (sg) {
			sg->handoff = true;
			if (empty || rg_now() - (int64_t)sg->arg < STARVE_NS)
				clr |= STARVING;
		} else {
			clr |= LOCKED | STARVING;
		}
	} else if (!sg) {
		clr |= WOKEN; /* every queued waiter had timed out */
	}
	/* The last touch: one atomic op.  The waiter runs once readied. */
	atomic_fetch_and_explicit(&m->state, ~clr, memory_order_release);
	if (t)
		rg__ready(t);
	else if (sg)
		fw_release(sg);
}

void rg_mutex_unlock(rg_mutex *mu)
{
	/* Looks first (rg__mutex_unlock_fast): the line is still ours from
	 * the lock, and under contention (waiters queued, or one woken) a CAS
	 * expecting LOCKED alone would fail, a locked instruction for nothing
	 * (tenth pass: 10-21 % on the lock rows). */
	uint32_t seen;
	if (__builtin_expect(!rg__mutex_unlock_fast(mu, &seen), 0))
		mutex_unlock_slow(MI(mu), seen);
}

void rg__mutex_unlock_slow(rg_mutex *mu, uint32_t seen)
{
	mutex_unlock_slow(MI(mu), seen);
}

/* --- counting semaphore (RWMutex's readerSem and writerSem) -------------- */

struct csema {
	rg__spin lock;   /* guards count and q */
	uint32_t count;  /* lock: releases not yet taken */
	rg__waitq q;     /* lock */
};

static void csema_acquire(struct csema *s, int reason)
{
	rg__spin_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		rg__spin_unlock(&s->lock);
		return;
	}
	rg__task *self = rg__self_parkable();
	if (!self) {
		/* outside the runtime: poll */
		for (;;) {
			rg__spin_unlock(&s->lock);
			sched_yield();
			rg__spin_lock(&s->lock);
			if (s->count > 0) {
				s->count--;
				rg__spin_unlock(&s->lock);
				return;
			}
		}
	}
	rg__sudog sg = { .task = self, .sole = true };
	sg.ticket = rg__park_prepare_self(self);
	rg__waitq_push(&s->q, &sg);
	rg__park(reason, -1, rg__spin_unlock_cb, &s->lock);
	/* woken only by a release, which handed us its count */
}

/* n releases (1 for writerSem; n at RWMutex's unlock, for the readers that
 * arrived while it was held): the waiters are taken off the queue in one round of the
 * lock, the surplus is counted for readers not parked yet, and the
 * claimed ones are readied after the unlock, oldest first (as n single
 * releases would: the newest lands in runnext, the rest queue in order). */
static void csema_release_n(struct csema *s, uint32_t n)
{
	bool pl = rg__pless_wake_begin();
	rg__sudog *list = NULL, **tail = &list;
	rg__spin_lock(&s->lock);
	for (; n > 0; n--) {
		rg__sudog *sg = rg__waitq_claim(&s->q);
		if (!sg)
			break;
		*tail = sg; /* claimed: next is ours now */
		tail = &sg->next;
	}
	*tail = NULL;
	s->count += n;
	rg__spin_unlock(&s->lock);
	while (list) {
		rg__sudog *next = list->next; /* the record dies once its task runs */
		rg__ready(list->task);
		list = next;
	}
	rg__pless_wake_end(pl);
}

/* --- RWMutex ----------------------------------------------------------------- */

#define RW_MAX (1 << 30)

struct rw_impl {
	rg_mutex w;                    /* serialises writers */
	struct csema writer_sem;       /* the writer waits for departing readers */
	struct csema reader_sem;       /* readers wait for the writer */
	_Atomic int32_t reader_count;  /* atomic: readers; < 0 while a writer is pending */
	_Atomic int32_t reader_wait;   /* atomic: departing readers the writer waits for */
};
_Static_assert(sizeof(struct rw_impl) <= sizeof(rg_rwmutex), "rg_rwmutex too small");

static inline struct rw_impl *RW(rg_rwmutex *rw) { return (struct rw_impl *)rw; }

void rg_rwmutex_rlock(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	if (atomic_fetch_add_explicit(&rw->reader_count, 1, memory_order_acquire) + 1 < 0)
		csema_acquire(&rw->reader_sem, RG__WAIT_RWMUTEX); /* a writer is pending */
}

bool rg_rwmutex_tryrlock(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	int32_t c = atomic_load_explicit(&rw->reader_count, memory_order_relaxed);
	while (c >= 0)
		if (atomic_compare_exchange_weak_explicit(&rw->reader_count, &c, c + 1, memory_order_acquire,
		                                          memory_order_relaxed))
			return true;
	return false;
}

void rg_rwmutex_runlock(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	int32_t r = atomic_fetch_sub_explicit(&rw->reader_count, 1, memory_order_release) - 1;
	if (r < 0) {
		if (r + 1 == 0 || r + 1 == -RW_MAX)
			rg__fatal("sync: runlock of unlocked rwmutex %p", (void *)x);
		/* a writer is pending: the last departing reader wakes it */
		if (atomic_fetch_sub_explicit(&rw->reader_wait, 1, memory_order_acq_rel) - 1 == 0)
			csema_release_n(&rw->writer_sem, 1);
	}
}

void rg_rwmutex_lock(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	rg_mutex_lock(&rw->w);
	/* announce the writer to readers */
	int32_t r = atomic_fetch_sub_explicit(&rw->reader_count, RW_MAX, memory_order_acq_rel);
	if (r != 0 && atomic_fetch_add_explicit(&rw->reader_wait, r, memory_order_acq_rel) + r != 0)
		csema_acquire(&rw->writer_sem, RG__WAIT_RWMUTEX);
}

bool rg_rwmutex_trylock(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	if (!rg_mutex_trylock(&rw->w))
		return false;
	int32_t z = 0;
	if (!atomic_compare_exchange_strong_explicit(&rw->reader_count, &z, -RW_MAX, memory_order_acquire,
	                                             memory_order_relaxed)) {
		rg_mutex_unlock(&rw->w);
		return false;
	}
	return true;
}

void rg_rwmutex_unlock(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	int32_t r = atomic_fetch_add_explicit(&rw->reader_count, RW_MAX, memory_order_release) + RW_MAX;
	if (r >= RW_MAX)
		rg__fatal("sync: unlock of unlocked rwmutex %p", (void *)x);
	if (r > 0)
		csema_release_n(&rw->reader_sem, (uint32_t)r);
	rg_mutex_unlock(&rw->w);
}

/* A writer's unlock lets readers in (reader_count) before it releases the
 * readers' semaphore and w, as Go's does; a reader that got in may hold
 * the last reference to the memory.  Its last touch is w's unlock (every
 * write to reader_sem comes before it), so waiting until w is released,
 * with an acquire load, orders the free after all of it.  Paid only here:
 * making RUnlock wait out such a tail cost the lock table 16-25 %. */
void rg_rwmutex_destroy(rg_rwmutex *x)
{
	struct rw_impl *rw = RW(x);
	struct mutex_impl *w = MI(&rw->w);
	if (atomic_load_explicit(&rw->reader_count, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&rw->reader_wait, memory_order_relaxed) != 0)
		rg__fatal("sync: destroy of rwmutex %p while it is held or awaited", (void *)x);
	int64_t t0 = 0;
	for (unsigned spins = 0; atomic_load_explicit(&w->state, memory_order_acquire) & (LOCKED | QLOCK);) {
		rg__sync_backoff(&spins);
		if (spins == 64)
			t0 = rg_now();
		else if (spins > 64 && rg_now() - t0 > 1000000000)
			rg__fatal("sync: destroy of rwmutex %p: still write-locked after 1 s (held by a writer?)",
			          (void *)x);
	}
	/* a writer queued on w, or woken by the unlock and about to retry */
	if ((atomic_load_explicit(&w->state, memory_order_relaxed) & (WAITERS | WOKEN)) ||
	    atomic_load_explicit(&rw->reader_count, memory_order_relaxed) != 0)
		rg__fatal("sync: destroy of rwmutex %p while it is held or awaited", (void *)x);
}

/* --- Cond (Go's notifyList: tickets, so a signal is never lost) ------------ */

struct cond_impl {
	rg__spin lock;            /* guards q; wait/notify written under it */
	_Atomic uint32_t wait;    /* lock to write: next ticket */
	_Atomic uint32_t notify;  /* lock to write: next ticket to notify */
	uint32_t _pad;
	rg__waitq q;              /* lock: waiters, arg = ticket */
};
_Static_assert(sizeof(struct cond_impl) <= sizeof(rg_cond), "rg_cond too small");

static inline bool ticket_less(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

void rg_cond_wait(rg_cond *cv, rg_mutex *m)
{
	struct cond_impl *c = (struct cond_impl *)cv;
	if (!rg__self_parkable()) {
		/* Outside the runtime (a foreign thread, rg_blocking): a
		 * spurious wake-up.  Take no ticket: one that is never waited
		 * for would absorb the next rg_cond_signal, and the task
		 * really waiting would not be woken. */
		rg_mutex_unlock(m);
		sched_yield();
		rg_mutex_lock(m);
		return;
	}
	rg__spin_lock(&c->lock);
	uint32_t t = atomic_load_explicit(&c->wait, memory_order_relaxed);
	atomic_store_explicit(&c->wait, t + 1, memory_order_relaxed);
	rg__spin_unlock(&c->lock);
	rg_mutex_unlock(m);
	rg__spin_lock(&c->lock);
	if (ticket_less(t, atomic_load_explicit(&c->notify, memory_order_relaxed))) {
		rg__spin_unlock(&c->lock);
		rg_mutex_lock(m);
		return;
	}
	rg__sudog sg = { .task = rg__self_parkable(), .arg = t, .sole = true };
	sg.ticket = rg__park_prepare_self(sg.task);
	rg__waitq_push(&c->q, &sg);
	rg__park(RG__WAIT_COND, -1, rg__spin_unlock_cb, &c->lock);
	rg_mutex_lock(m);
}

void rg_cond_signal(rg_cond *cv)
{
	struct cond_impl *c = (struct cond_impl *)cv;
	if (atomic_load_explicit(&c->wait, memory_order_relaxed) ==
	    atomic_load_explicit(&c->notify, memory_order_relaxed)) {
		/* nobody waits: Go's fast path (a racing waiter got its
		 * ticket after this call began, so need not be woken) */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load(&c->wait) == atomic_load(&c->notify))
			return;
	}
	bool pl = rg__pless_wake_begin();
	rg__spin_lock(&c->lock);
	uint32_t n = atomic_load_explicit(&c->notify, memory_order_relaxed);
	if (atomic_load_explicit(&c->wait, memory_order_relaxed) == n) {
		rg__spin_unlock(&c->lock);
		rg__pless_wake_end(pl);
		return;
	}
	atomic_store_explicit(&c->notify, n + 1, memory_order_relaxed);
	rg__task *t = NULL;
	for (rg__sudog *s = atomic_load_explicit(&c->q.first, memory_order_relaxed); s; s = s->next)
		if ((uint32_t)s->arg == n) {
			rg__waitq_remove(&c->q, s);
			if (rg__sudog_claim(s))
				t = s->task;
			break;
		}
	rg__spin_unlock(&c->lock);
	if (t)
		rg__ready(t);
	rg__pless_wake_end(pl);
}

void rg_cond_broadcast(rg_cond *cv)
{
	struct cond_impl *c = (struct cond_impl *)cv;
	if (atomic_load(&c->wait) == atomic_load(&c->notify))
		return;
	bool pl = rg__pless_wake_begin();
	rg__spin_lock(&c->lock);
	atomic_store_explicit(&c->notify, atomic_load_explicit(&c->wait, memory_order_relaxed),
	                      memory_order_relaxed);
	rg__sudog *list = NULL, *s;
	while ((s = rg__waitq_claim(&c->q))) {
		s->next = list;
		list = s;
	}
	rg__spin_unlock(&c->lock);
	/* readied oldest first, as one signal each would (the list is
	 * newest-first); the newest lands in runnext and runs first */
	rg__sudog *rev = NULL;
	while (list) {
		rg__sudog *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		rg__sudog *n = rev->next;
		rg__task *t = rev->task;
		rg__ready(t);
		rev = n;
	}
	rg__pless_wake_end(pl);
}

/* --- Once ---------------------------------------------------------------------- */

struct once_impl {
	_Atomic uint32_t done; /* atomic: release after fn returned */
	uint32_t _pad;
	rg_mutex m;            /* serialises the slow path */
};
_Static_assert(sizeof(struct once_impl) <= sizeof(rg_once), "rg_once too small");

/* The fast path returns only once the runner is out of the Once: done is
 * stored before the runner's unlock of m, so a caller that returned on
 * done alone could free the Once (its fn may have dropped the runner's
 * reference) under that unlock.  Once done, a look at m's state (acquire:
 * the runner locked m before it stored done, so the state read is that
 * lock or later) tells whether the runner has released it; while a
 * caller holds m, a newcomer goes through m too, briefly. */
void rg_once_do(rg_once *ov, void (*fn)(void *), void *arg)
{
	struct once_impl *o = (struct once_impl *)ov;
	if (atomic_load_explicit(&o->done, memory_order_acquire) &&
	    !(atomic_load_explicit(&MI(&o->m)->state, memory_order_acquire) & (LOCKED | QLOCK)))
		return;
	rg_mutex_lock(&o->m);
	if (!atomic_load_explicit(&o->done, memory_order_relaxed)) {
		fn(arg);
		atomic_store_explicit(&o->done, 1, memory_order_release);
	}
	rg_mutex_unlock(&o->m);
}
