/* The last touch: once an object's owner has seen, through the object
 * itself, that everyone else is done with it, it frees the object at once,
 * and no other task's call may still be writing to it.  In Go the
 * collector makes this free; in C it is the pattern every user writes:
 *   - receive N results from a "done" channel, free the channel (the
 *     sender whose value came last may still be waking the receiver it saw
 *     waiting: TSan caught that write to the freed lock, 3 runs in 120);
 *   - the same with senders in a select (a select that sends holds the
 *     channel's lock and thaws its ring before the unlock; a woken one
 *     re-locked the fired channel), also one that lists the same send
 *     twice (its other record there is unlinked by the claimer);
 *   - wait on a WaitGroup, free it;
 *   - the last of N holders of a refcounted object unlocks and frees it,
 *     locking with and without deadlines.  (An unlocker whose queued
 *     waiters had all timed out used to release LOCKED and then still
 *     write the mutex; a timed-out waiter retrying could lock, drop the
 *     last reference and free it in between.  That window never showed
 *     here, 60,000+ sanitized iterations at 2 and 3 holders: it is closed
 *     by construction, the unlocker's last touch being one atomic op.)
 *   - a Cond signalled or broadcast under its mutex: the last one out
 *     frees both (the Cond's writes all come before that unlock);
 *   - a weighted Semaphore: the worker that dropped the last reference
 *     takes every unit back and frees it; and a pair kept on the two Ps
 *     (one releasing, one taking every unit as soon as it can), so that
 *     a write after the release's unlock would run beside the free (one
 *     planted in a copy of the library: TSan saw it in 5 runs of 5);
 *   - a Once whose callers drop their references once it returned;
 *   - Contexts: every holder (tasks bound to it parked, a receiver on its
 *     done channel, a spinner on rg_ctx_err, an after-func, the canceller
 *     or the deadline task) releases it; the last reference frees it.
 *   Two cases are disabled, each for a bug it finds (see main_fn): a
 *   WaitGroup freed after a Wait with a deadline, and a Once whose fn
 *   drops the reference of the task that runs it.
 * ASan (quarantine) and TSan (free vs. access) catch a late write; the
 * release build checks the values. */
// ctest-timeout: 120
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define NT 8
static int iters(void) { return T_SANITIZED ? 400 : 4000; }

/* --- a done channel, senders with rg_chan_send or rg_select ------------- */

struct done_arg {
	rg_chan *ch;
	long v;
	int use_select; /* 0: rg_chan_send; 1: select with another channel;
	                   2: select with the same send twice (duplicate) */
};
static rg_chan *never; /* nobody sends on it: makes the select a real one */

static void sender(void *p)
{
	/* a (in the receiver's frame) is reused once the receiver has its
	 * N values, maybe before this call returns: read it first */
	struct done_arg *a = p;
	int mode = a->use_select;
	if (mode) {
		long dummy;
		rg_select_case cs[2] = { { a->ch, RG_SELECT_SEND, &a->v, false },
			                 { never, RG_SELECT_RECV, &dummy, false } };
		if (mode == 2)
			cs[1] = cs[0];
		int r = rg_select(cs, 2, -1);
		CHECK(r == 0 || (mode == 2 && r == 1));
	} else {
		CHECK_EQ(rg_chan_send(a->ch, &a->v, -1), 0);
	}
}

static void done_channel(size_t cap, int use_select)
{
	struct done_arg args[NT];
	for (int it = 0; it < iters(); it++) {
		rg_chan *ch = rg_chan_make(sizeof(long), cap);
		CHECK(ch);
		for (int i = 0; i < NT; i++) {
			args[i] = (struct done_arg){ ch, i + 1, use_select };
			CHECK(rg_go(sender, &args[i]) > 0);
		}
		long sum = 0, v;
		bool ok;
		for (int i = 0; i < NT; i++) {
			CHECK_EQ(rg_chan_recv(ch, &v, &ok, -1), 0);
			CHECK(ok);
			sum += v;
		}
		CHECK_EQ(sum, NT * (NT + 1) / 2);
		rg_chan_free(ch);
	}
}

/* --- a WaitGroup freed after its Wait ------------------------------------- */

static void wg_done(void *p) { rg_waitgroup_done(p); }

static void waitgroup_free(void)
{
	for (int it = 0; it < iters(); it++) {
		rg_waitgroup *wg = malloc(sizeof *wg);
		CHECK(wg);
		*wg = (rg_waitgroup)RG_WAITGROUP_INIT;
		rg_waitgroup_add(wg, NT);
		for (int i = 0; i < NT; i++)
			CHECK(rg_go(wg_done, wg) > 0);
		CHECK_EQ(rg_waitgroup_wait(wg, -1), 0);
		free(wg);
	}
}

/* --- a refcounted object: the last holder unlocks and frees it ---------- */

struct obj {
	rg_mutex mu;
	int refs;
	long work;
};
static _Atomic long freed;

static bool with_deadline; /* lock with short deadlines, retried */

static void lock_it(rg_mutex *mu)
{
	if (!with_deadline) {
		rg_mutex_lock(mu);
		return;
	}
	int r;
	while ((r = rg_mutex_lock_until(mu, rg_now() + 3000)) != 0)
		CHECK_EQ(r, -ETIMEDOUT);
}

static void holder(void *p)
{
	struct obj *o = p;
	for (int k = 0; k < 3; k++) {
		lock_it(&o->mu);
		o->work++;
		if (k == 0)
			rg_yield(); /* holding it: the others queue, unlocks wake */
		rg_mutex_unlock(&o->mu);
		if (k == 1)
			rg_yield();
	}
	lock_it(&o->mu);
	bool last = --o->refs == 0;
	long w = o->work;
	rg_mutex_unlock(&o->mu);
	if (last) {
		CHECK_EQ(w, 3 * NT);
		free(o);
		atomic_fetch_add(&freed, 1);
	}
}

static void mutex_free(bool deadline)
{
	with_deadline = deadline;
	atomic_store(&freed, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct obj *o = malloc(sizeof *o);
		CHECK(o);
		*o = (struct obj){ .mu = RG_MUTEX_INIT, .refs = NT };
		for (int i = 0; i < NT; i++)
			CHECK(rg_go(holder, o) > 0);
		if (it % 16 == 15)
			while (atomic_load(&freed) < it + 1)
				rg_yield();
	}
	while (atomic_load(&freed) < n)
		rg_sleep(100000);
}

/* --- a refcounted object behind an RWMutex: a reader frees it ---------- */

/* The writer drops its reference under the write lock; a reader that gets
 * in the moment the writer's unlock lets readers in (rg_rwmutex_tryrlock
 * in a loop, another P) or one the unlock wakes (rg_rwmutex_rlock, parked
 * behind the writer) may hold the last one, and drops it after its
 * runlock.  As with Go's RWMutex, the writer's unlock still writes the
 * RWMutex after letting readers in: the last holder calls
 * rg_rwmutex_destroy, which waits that out, before it frees the memory.
 * Without that call TSan reported the writer's last write (w's unlock)
 * against the free, 3 runs in 3. */
struct robj {
	rg_rwmutex rw;
	_Atomic int refs;
	_Atomic bool writer_in;
	long work;
};

static void robj_last(struct robj *o)
{
	CHECK_EQ(o->work, 1);
	rg_rwmutex_destroy(&o->rw);
	free(o);
	atomic_fetch_add(&freed, 1);
}

/* A reader drops its reference once it has unlocked (others may still
 * hold the read lock while it is under it). */
static void robj_put(struct robj *o)
{
	if (atomic_fetch_sub(&o->refs, 1) == 1)
		robj_last(o);
}

static void rw_writer(void *p)
{
	struct robj *o = p;
	rg_rwmutex_lock(&o->rw);
	atomic_store(&o->writer_in, true);
	o->work++;
	rg_yield(); /* holding it: the readers queue behind the writer */
	bool last = atomic_fetch_sub(&o->refs, 1) == 1;
	rg_rwmutex_unlock(&o->rw);
	if (last)
		robj_last(o);
}

static void rw_reader(void *p)
{
	struct robj *o = p;
	while (!atomic_load(&o->writer_in))
		rg_yield();
	rg_rwmutex_rlock(&o->rw);
	CHECK_EQ(o->work, 1);
	rg_rwmutex_runlock(&o->rw);
	robj_put(o);
}

static void rw_spinner(void *p)
{
	struct robj *o = p;
	while (!atomic_load(&o->writer_in))
		rg_yield();
	for (int k = 1; !rg_rwmutex_tryrlock(&o->rw); k++)
		if (k % 1024 == 0)
			rg_yield(); /* the writer may wait on this P */
	CHECK_EQ(o->work, 1);
	rg_rwmutex_runlock(&o->rw);
	robj_put(o);
}

static void rwmutex_free(int parked_readers)
{
	atomic_store(&freed, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct robj *o = malloc(sizeof *o);
		CHECK(o);
		*o = (struct robj){ .rw = RG_RWMUTEX_INIT, .refs = 2 + parked_readers };
		CHECK(rg_go(rw_writer, o) > 0);
		for (int i = 0; i < parked_readers; i++)
			CHECK(rg_go(rw_reader, o) > 0);
		CHECK(rg_go(rw_spinner, o) > 0);
		while (atomic_load(&freed) < it + 1)
			rg_yield();
	}
}

/* --- Cond: the last task out frees the mutex and the Cond with it ------- */

/* A token handed around through a Cond, always signalled under the mutex:
 * the signal's writes to the Cond come before the unlock, so whoever locks
 * next may be the last holder and free both.  signal: every waiter waits
 * for the same predicate, one wake per release is enough, and the last
 * worker frees; broadcast: an owner also waits on the Cond, for the
 * workers, and holds the last reference.  Waiters park on the Cond while
 * the holder yields; a broadcast readies several at once (all but the
 * newest in the stealable queue), so woken waiters run on the other P. */
struct cobj {
	rg_mutex mu;
	rg_cond cv;
	int refs;
	int avail; /* tokens */
	long work;
};
static bool cond_bcast;

static void cobj_free(struct cobj *o)
{
	CHECK_EQ(o->work, NT);
	CHECK_EQ(o->avail, 1);
	free(o);
	atomic_fetch_add(&freed, 1);
}

static void cond_worker(void *p)
{
	struct cobj *o = p;
	rg_mutex_lock(&o->mu);
	while (o->avail == 0)
		rg_cond_wait(&o->cv, &o->mu);
	o->avail--;
	o->work++;
	rg_mutex_unlock(&o->mu);
	rg_yield(); /* holding the token: the others wait on the Cond */
	rg_mutex_lock(&o->mu);
	o->avail++;
	bool last = --o->refs == 0;
	if (cond_bcast)
		rg_cond_broadcast(&o->cv);
	else
		rg_cond_signal(&o->cv);
	rg_mutex_unlock(&o->mu);
	if (last)
		cobj_free(o);
}

static void cond_owner(void *p)
{
	struct cobj *o = p;
	rg_mutex_lock(&o->mu);
	while (o->refs > 1)
		rg_cond_wait(&o->cv, &o->mu);
	bool last = --o->refs == 0;
	rg_mutex_unlock(&o->mu);
	CHECK(last);
	cobj_free(o);
}

static void cond_free(bool bcast)
{
	cond_bcast = bcast;
	atomic_store(&freed, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct cobj *o = malloc(sizeof *o);
		CHECK(o);
		*o = (struct cobj){ .mu = RG_MUTEX_INIT, .cv = RG_COND_INIT, .refs = NT + bcast, .avail = 1 };
		if (bcast)
			CHECK(rg_go(cond_owner, o) > 0);
		for (int i = 0; i < NT; i++)
			CHECK(rg_go(cond_worker, o) > 0);
		if (it % 16 == 15)
			while (atomic_load(&freed) < it + 1)
				rg_yield();
	}
	while (atomic_load(&freed) < n)
		rg_sleep(100000);
}

/* --- a weighted Semaphore: the last holder waits for every unit --------- */

/* Each worker takes 1-3 units of 3 (with short deadlines, retried, in
 * mode 1), drops its reference while holding them and releases.  The one
 * that dropped the last knows every other worker is past its acquire and
 * at most inside its release: it takes all 3 units (x/sync/semaphore's
 * "acquire all to wait for the workers"), then frees.  It gets them from a
 * release, granted in the release's critical section (mode 0) or after a
 * timed-out try (mode 1). */
#define SEMA_SIZE 3

struct sobj {
	rg_sema s;
	_Atomic int refs;
	_Atomic int seq;
	_Atomic long work;
	_Atomic int holder_proc; /* sema_pair */
	_Atomic bool held, trying;
};
static int sema_mode;

static void sema_get(rg_sema *s, int64_t n)
{
	if (sema_mode != 1) {
		CHECK_EQ(rg_sema_acquire(s, n, -1), 0);
		return;
	}
	int r;
	while ((r = rg_sema_acquire(s, n, rg_now() + 3000)) != 0)
		CHECK_EQ(r, -ETIMEDOUT);
}

static void sema_worker(void *p)
{
	struct sobj *o = p;
	int64_t w = 1 + atomic_fetch_add(&o->seq, 1) % SEMA_SIZE;
	sema_get(&o->s, w);
	atomic_fetch_add(&o->work, 1);
	rg_yield(); /* holding: the others queue */
	bool last = atomic_fetch_sub(&o->refs, 1) == 1;
	rg_sema_release(&o->s, w);
	if (!last)
		return;
	sema_get(&o->s, SEMA_SIZE);
	CHECK_EQ(atomic_load(&o->work), NT);
	free(o);
	atomic_fetch_add(&freed, 1);
}

static void sema_free(int mode)
{
	sema_mode = mode;
	atomic_store(&freed, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct sobj *o = malloc(sizeof *o);
		CHECK(o);
		memset(o, 0, sizeof *o);
		rg_sema_init(&o->s, SEMA_SIZE);
		atomic_store(&o->refs, NT);
		for (int i = 0; i < NT; i++)
			CHECK(rg_go(sema_worker, o) > 0);
		if (it % 16 == 15)
			while (atomic_load(&freed) < it + 1)
				rg_yield();
	}
	while (atomic_load(&freed) < n)
		rg_sleep(100000);
}

/* The same window, forced: a holder takes all 3 units, drops its
 * reference and releases them, while the other task, spinning on the other
 * P, takes all 3 as soon as it can and frees: with rg_sema_try_acquire
 * (deadline false), or retrying rg_sema_acquire with the deadline "now"
 * (true: it goes round queue, time out, clean up, over and over; the
 * release finds its record live or timed out).  Whatever the release still
 * did after its unlock would run beside the free, with no edge to it.
 * (They make sure they run on different Ps first: see sp_taker.) */
static void nop(void *p) { (void)p; }

static void sp_holder(void *p)
{
	struct sobj *o = p;
	CHECK_EQ(rg_sema_acquire(&o->s, SEMA_SIZE, -1), 0);
	atomic_store(&o->holder_proc, rg_proc_id());
	atomic_store(&o->held, true);
	int64_t t0 = rg_now();
	for (int k = 1; !atomic_load(&o->trying) && rg_now() - t0 < 1000000; k++)
		if (k % 64 == 0) {
			rg_yield();
			atomic_store(&o->holder_proc, rg_proc_id());
		}
	int64_t end = rg_now() + (rg_now() & 2047); /* 0-2 us, not yielding */
	while (rg_now() < end)
		atomic_signal_fence(memory_order_seq_cst);
	atomic_fetch_add(&o->work, 1);
	CHECK(atomic_fetch_sub(&o->refs, 1) == 2);
	rg_sema_release(&o->s, SEMA_SIZE);
}

static void sp_taker(void *p)
{
	struct sobj *o = p;
	for (int k = 1; !atomic_load(&o->held); k++)
		if (k % 64 == 0)
			rg_yield();
	/* A yield wakes no idle P, a spawn does (and the woken one steals one
	 * of us); bounded: the holder stops waiting after 1 ms, and so do we. */
	int64_t t0 = rg_now();
	for (int k = 1; rg_proc_id() == atomic_load(&o->holder_proc) && rg_now() - t0 < 1000000; k++)
		if (k % 64 == 0) {
			CHECK(rg_go(nop, NULL) > 0);
			rg_yield();
		}
	atomic_store(&o->trying, true);
	if (sema_mode) {
		int r;
		while ((r = rg_sema_acquire(&o->s, SEMA_SIZE, rg_now())) != 0)
			CHECK_EQ(r, -ETIMEDOUT);
	} else {
		for (int k = 1; !rg_sema_try_acquire(&o->s, SEMA_SIZE); k++)
			if (k % 1024 == 0)
				rg_yield(); /* the holder may wait on this P */
	}
	CHECK(atomic_fetch_sub(&o->refs, 1) == 1);
	CHECK_EQ(atomic_load(&o->work), 1);
	free(o);
	atomic_fetch_add(&freed, 1);
}

static void sema_pair(bool deadline)
{
	sema_mode = deadline;
	atomic_store(&freed, 0);
	for (int it = 0; it < 400; it++) { /* each up to 2 ms if they share a P */
		struct sobj *o = malloc(sizeof *o);
		CHECK(o);
		memset(o, 0, sizeof *o);
		rg_sema_init(&o->s, SEMA_SIZE);
		atomic_store(&o->refs, 2);
		atomic_store(&o->holder_proc, -1);
		CHECK(rg_go(sp_taker, o) > 0);
		CHECK(rg_go(sp_holder, o) > 0);
		while (atomic_load(&freed) < it + 1)
			rg_yield();
	}
}

/* --- a WaitGroup freed after a Wait with a deadline ----------------------- */

/* The waiter retries short deadlines and frees the WaitGroup as soon as a
 * Wait returns 0, while Dones land on the other P: the last Done can find
 * the waiter timed out, inside its clean-up (holding the WaitGroup's lock,
 * or about to take it) or back in a new try.
 *   mode 0: one Done-er, moved to the waiter's other P before its Done; the
 *           waiter's deadline is "now", so it goes round register, time
 *           out, clean up, over and over, and the Done lands anywhere in
 *           that round;
 *   mode 1: NT Done-ers on both Ps, 2 us deadlines;
 *   mode 2: as 1, and one Done-er first cancels a Context the waiter is
 *           bound to (its park ends by -ECANCELED; it unbinds, goes on). */
struct wgarg {
	rg_waitgroup *wg;
	rg_ctx *cancel; /* NULL, or a Context to cancel before Done (a ref) */
	bool move;      /* first get off the waiter's P */
};
static _Atomic int wg_waiter_proc;

static void wg_done_spin(void *p)
{
	struct wgarg a = *(struct wgarg *)p; /* p dies with the iteration */
	/* yield until a thief has taken us to the other P, waking it with a
	 * spawn (as sp_taker; bounded: if none does, the Done is only less
	 * useful) */
	int64_t t0 = rg_now();
	while (a.move && rg_proc_id() == atomic_load(&wg_waiter_proc) && rg_now() - t0 < 200000) {
		CHECK(rg_go(nop, NULL) > 0);
		rg_yield();
	}
	int64_t end = rg_now() + (rg_now() & 2047); /* 0-2 us */
	while (rg_now() < end)
		atomic_signal_fence(memory_order_seq_cst);
	if (a.cancel) {
		rg_ctx_cancel(a.cancel);
		rg_ctx_release(a.cancel);
	}
	rg_waitgroup_done(a.wg);
}

static void waitgroup_deadline_free(int mode)
{
	struct wgarg args[NT];
	int nd = mode == 0 ? 1 : NT;
	int64_t dl = mode == 0 ? 0 : 2000;
	int n = mode == 0 && T_SANITIZED ? 16 * iters() : iters(); /* 0: cheap rounds */
	for (int it = 0; it < n; it++) {
		rg_waitgroup *wg = malloc(sizeof *wg);
		CHECK(wg);
		*wg = (rg_waitgroup)RG_WAITGROUP_INIT;
		rg_ctx *c = NULL;
		if (mode == 2) {
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &c), 0);
			rg_ctx_retain(c);
			CHECK(rg_ctx_bind(c) == NULL);
		}
		atomic_store(&wg_waiter_proc, rg_proc_id());
		rg_waitgroup_add(wg, nd);
		for (int i = 0; i < nd; i++) {
			args[i] = (struct wgarg){ wg, i == nd / 2 ? c : NULL, mode == 0 };
			CHECK(rg_go(wg_done_spin, &args[i]) > 0);
		}
		int r;
		for (;;) {
			atomic_store(&wg_waiter_proc, rg_proc_id());
			if ((r = rg_waitgroup_wait(wg, rg_now() + dl)) == 0)
				break;
			if (r == -ECANCELED && c)
				rg_ctx_bind(NULL); /* go on without it */
			else
				CHECK_EQ(r, -ETIMEDOUT);
		}
		free(wg);
		if (c) {
			rg_ctx_bind(NULL);
			rg_ctx_release(c);
		}
	}
}

/* --- a Once in a refcounted object ------------------------------------- */

/* NT callers of rg_once_do; fn yields, so some queue on the Once's mutex
 * and later ones find it done.  Each drops its reference after its call
 * returned; the last frees. */
struct oobj {
	rg_once once;
	_Atomic int refs;
	_Atomic bool inited;
	long val;
};

static void oobj_put(struct oobj *o)
{
	if (atomic_fetch_sub(&o->refs, 1) == 1) {
		CHECK_EQ(o->val, 42);
		free(o);
		atomic_fetch_add(&freed, 1);
	}
}

static void once_init(void *p)
{
	struct oobj *o = p;
	rg_yield(); /* others arrive: they queue behind the running fn */
	o->val = 42;
}

static void once_caller(void *p)
{
	struct oobj *o = p;
	rg_once_do(&o->once, once_init, o);
	CHECK_EQ(o->val, 42);
	oobj_put(o);
}

static void once_free(void)
{
	atomic_store(&freed, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct oobj *o = malloc(sizeof *o);
		CHECK(o);
		*o = (struct oobj){ .once = RG_ONCE_INIT, .refs = NT };
		for (int i = 0; i < NT; i++)
			CHECK(rg_go(once_caller, o) > 0);
		if (it % 16 == 15)
			while (atomic_load(&freed) < it + 1)
				rg_yield();
	}
	while (atomic_load(&freed) < n)
		rg_sleep(100000);
}

/* The same with the reference of the task that runs fn dropped in fn, its
 * last use of the object (as a holder drops its reference under a mutex:
 * what fn does comes, for every caller, before rg_once_do returns).  The
 * other caller waits on the other P until fn has run, calls rg_once_do
 * (which finds it done), drops the last reference and frees. */
struct once_call {
	struct oobj *o;
	bool ran;
};

static void once_init_put(void *p)
{
	struct once_call *c = p;
	struct oobj *o = c->o;
	o->val = 42;
	c->ran = true;
	atomic_store(&o->inited, true);
	CHECK(atomic_fetch_sub(&o->refs, 1) > 1); /* the other holds one */
}

static void once_runner(void *p)
{
	struct once_call c = { p, false };
	rg_once_do(&c.o->once, once_init_put, &c);
	if (!c.ran)
		oobj_put(c.o);
}

static void once_observer(void *p)
{
	struct once_call c = { p, false };
	for (int k = 1; !atomic_load(&c.o->inited); k++)
		if (k % 1024 == 0)
			rg_yield(); /* the runner may wait on this P */
	rg_once_do(&c.o->once, once_init_put, &c);
	CHECK(!c.ran);
	oobj_put(c.o);
}

static void once_put_in_fn(void)
{
	atomic_store(&freed, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct oobj *o = malloc(sizeof *o);
		CHECK(o);
		*o = (struct oobj){ .once = RG_ONCE_INIT, .refs = 2 };
		CHECK(rg_go(once_observer, o) > 0);
		CHECK(rg_go(once_runner, o) > 0);
		while (atomic_load(&freed) < it + 1)
			rg_yield();
	}
}

/* --- Contexts released by every holder, one cancelling ------------------ */

/* A cancel context c (mode 1: with a 5-20 us timeout, cancelled by its
 * deadline task), a value context under it and a cancel child under that.
 * Holders, each with its own reference: a task bound to c parked on a
 * channel nobody sends on, one bound to the value context parked on a
 * WaitGroup that never reaches zero, one receiving from the child's done
 * channel, one spinning on rg_ctx_err(c) (it sees the error the moment the
 * canceller stores it, and releases while the canceller still works on c),
 * an after-func, and (mode 0) the canceller, which releases c, or (mode 1)
 * a task that waits for c's done channel and releases.  Whoever drops the
 * last reference frees the context (and its done channel), with the parent
 * chain; ASan and TSan see any touch after that, and LSan a leak. */
static rg_waitgroup forever; /* count 1, never done */
static _Atomic long ctx_ended;
static int ctx_key;

struct cxarg {
	rg_ctx *c;
	int want; /* the error the holder expects */
};

static void cx_end(struct cxarg *a, rg_ctx *c)
{
	CHECK_EQ(rg_ctx_err(c), a->want);
	rg_ctx_release(c);
	atomic_fetch_add(&ctx_ended, 1);
}

static void cx_chan(void *p)
{
	struct cxarg *a = p;
	rg_ctx *c = a->c;
	rg_ctx_bind(c);
	long v;
	CHECK_EQ(rg_chan_recv(never, &v, NULL, -1), a->want);
	rg_ctx_bind(NULL);
	cx_end(a, c);
}

static void cx_wg(void *p)
{
	struct cxarg *a = p;
	rg_ctx *v = a->c;
	CHECK(rg_ctx_value(v, &ctx_key) == &ctx_key);
	rg_ctx_bind(v);
	CHECK_EQ(rg_waitgroup_wait(&forever, -1), a->want);
	rg_ctx_bind(NULL);
	cx_end(a, v);
}

static void cx_done(void *p)
{
	struct cxarg *a = p;
	bool ok = true;
	CHECK_EQ(rg_chan_recv(rg_ctx_done(a->c), NULL, &ok, -1), 0);
	CHECK(!ok);
	cx_end(a, a->c);
}

static void cx_spin(void *p)
{
	struct cxarg *a = p;
	for (int k = 1; !rg_ctx_err(a->c); k++)
		if (k % 1024 == 0)
			rg_yield(); /* the canceller may wait on this P */
	cx_end(a, a->c);
}

static void cx_cancel(void *p)
{
	struct cxarg *a = p;
	rg_yield(); /* let the others park */
	rg_ctx_release(a->c);
	atomic_fetch_add(&ctx_ended, 1);
}

static void cx_after(void *p) { cx_end(p, ((struct cxarg *)p)->c); }

static void ctx_free(int mode)
{
	enum { HOLDERS = 6 };
	static struct cxarg args[16][HOLDERS];
	int want = mode ? -ETIMEDOUT : -ECANCELED;
	atomic_store(&ctx_ended, 0);
	int n = iters();
	for (int it = 0; it < n; it++) {
		struct cxarg *a = args[it % 16];
		rg_ctx *c, *v, *child;
		if (mode)
			CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 5000 + (rg_now() & 16383), &c), 0);
		else
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &c), 0);
		CHECK_EQ(rg_ctx_with_value(c, &ctx_key, &ctx_key, &v), 0);
		CHECK_EQ(rg_ctx_with_cancel(v, &child), 0);
		for (int i = 0; i < HOLDERS; i++)
			a[i] = (struct cxarg){ c, want };
		a[1].c = v;     /* main's reference to v */
		a[2].c = child; /* main's reference to child */
		rg_ctx_retain(c);
		CHECK(rg_go(cx_chan, &a[0]) > 0);
		CHECK(rg_go(cx_wg, &a[1]) > 0);
		CHECK(rg_go(cx_done, &a[2]) > 0);
		rg_ctx_retain(c);
		CHECK(rg_go(cx_spin, &a[3]) > 0);
		rg_ctx_retain(c);
		CHECK(rg_ctx_after_func(c, cx_after, &a[4]) > 0);
		/* main's reference to c: the canceller's (mode 0), or a holder
		 * that waits for the deadline (mode 1) */
		CHECK(rg_go(mode ? cx_done : cx_cancel, &a[5]) > 0);
		if (it % 16 == 15)
			while (atomic_load(&ctx_ended) < (long)(it + 1) * HOLDERS)
				rg_yield();
	}
	while (atomic_load(&ctx_ended) < (long)n * HOLDERS)
		rg_sleep(100000);
}

static int main_fn(void *arg)
{
	never = rg_chan_make(sizeof(long), 0);
	rg_waitgroup_add(&forever, 1);
	int64_t t = rg_now();
#define RUN(f) T_RUN(t, f)
	RUN(done_channel(1, 0));
	RUN(done_channel(NT, 0));
	RUN(done_channel(0, 0));
	RUN(done_channel(1, 1));
	RUN(done_channel(0, 1));
	RUN(done_channel(1, 2));
	RUN(done_channel(0, 2));
	RUN(waitgroup_free());
	RUN(mutex_free(false));
	RUN(mutex_free(true));
	RUN(rwmutex_free(0));
	RUN(rwmutex_free(2));
	RUN(cond_free(false));
	RUN(cond_free(true));
	RUN(sema_free(0));
	RUN(sema_free(1));
	RUN(sema_pair(false));
	RUN(sema_pair(true));
	RUN(waitgroup_deadline_free(0));
	RUN(waitgroup_deadline_free(1));
	RUN(waitgroup_deadline_free(2));
	RUN(once_free());
	RUN(once_put_in_fn());
	RUN(ctx_free(0));
	RUN(ctx_free(1));
	rg_chan_free(never);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("lifetime: ok\n");
	return T_PASS;
}
