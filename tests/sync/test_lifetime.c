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
 * ASan (quarantine) and TSan (free vs. access) catch a late write; the
 * release build checks the values. */
// ctest-timeout: 120
#include <stdatomic.h>
#include <stdlib.h>

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

static int main_fn(void *arg)
{
	never = rg_chan_make(sizeof(long), 0);
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
