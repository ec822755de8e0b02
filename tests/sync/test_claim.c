/* Who ends a park.  A task parked on a channel can be woken by a waker
 * from the channel's queue, by its deadline, or by its bound Context; the
 * claim on its park decides which one wins.  A park with neither deadline
 * nor Context has only the queue's waker, which holds the channel lock, so
 * that waker claims it with a plain store instead of a locked instruction
 * (the record is `sole`).  Marking a record sole that is not would let a
 * sender hand its value to a receiver whose deadline had already ended its
 * park: the value lost, the receiver readied twice.
 *
 * Here senders and receivers switch between the four kinds of park (none,
 * deadline, Context, both) on the same channel, with deadlines short
 * enough to race the wakers, on two Ps.  A failed operation is retried, so
 * every value is sent once and must be received exactly once; unbuffered
 * and buffered (buf_wait's records) channels, and a Mutex whose waiters
 * mix rg_mutex_lock with rg_mutex_lock_until.  The release build checks
 * the counts; TSan and ASan check the rest. */
// ctest-timeout: 120
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

enum { SENDERS = 4, RECVERS = 4 };
static long per_sender(void) { return T_SANITIZED ? 1500 : 15000; }

struct race {
	rg_chan *c;
	long n;
	unsigned char *seen;
	_Atomic long timeouts, cancels; /* parks ended by deadline, by Context */
	rg_waitgroup senders, recvers;
};

struct role {
	struct race *x;
	int id;
};

/* One park kind per k: 0 sole, 1 deadline, 2 Context, 3 both.  The
 * deadlines (0-31 us) are of the order of a hand-off, so they fire while
 * a waker holds the record. */
static int64_t kind_deadline(unsigned k, uint32_t r)
{
	return k & 1 ? rg_now() + (int64_t)(r % 32) * 1000 : -1;
}

static rg_ctx *kind_bind(unsigned k, uint32_t r)
{
	if (!(k & 2))
		return NULL;
	rg_ctx *ctx;
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), (int64_t)(r % 32) * 1000, &ctx), 0);
	rg_ctx_bind(ctx);
	return ctx;
}

/* Unbinds and frees the Context; whether it had ended (its timeout). */
static bool kind_unbind(rg_ctx *ctx)
{
	if (!ctx)
		return false;
	rg_ctx_bind(NULL);
	bool ended = rg_ctx_err(ctx) != 0;
	rg_ctx_cancel(ctx);
	rg_ctx_release(ctx);
	return ended;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A failed operation: its deadline or its Context (a Context with a
 * timeout ends with -ETIMEDOUT too) ended the park. */
static void count_fail(struct race *x, int r, bool ctx_ended)
{
	CHECK(r == -ETIMEDOUT || r == -ECANCELED);
	atomic_fetch_add(ctx_ended ? &x->cancels : &x->timeouts, 1);
}

static void sender(void *arg)
{
	struct role *a = arg;
	struct race *x = a->x;
	uint32_t s = 0x9e3779b9u * (uint32_t)(a->id + 1);
	for (long i = 0; i < x->n;) {
		long v = (long)a->id * x->n + i;
		uint32_t r = next_rand(&s);
		unsigned k = r >> 8;
		rg_ctx *ctx = kind_bind(k, r);
		int e = rg_chan_send(x->c, &v, kind_deadline(k, r));
		bool ended = kind_unbind(ctx);
		if (e == 0)
			i++;
		else
			count_fail(x, e, ended);
	}
	rg_waitgroup_done(&x->senders);
}

static void receiver(void *arg)
{
	struct role *a = arg;
	struct race *x = a->x;
	uint32_t s = 0x85ebca6bu * (uint32_t)(a->id + 1);
	for (;;) {
		uint32_t r = next_rand(&s);
		unsigned k = r >> 8;
		long v = -1;
		bool ok = false;
		rg_ctx *ctx = kind_bind(k, r);
		int e = rg_chan_recv(x->c, &v, &ok, kind_deadline(k, r));
		bool ended = kind_unbind(ctx);
		if (e != 0) {
			count_fail(x, e, ended);
			continue;
		}
		if (!ok)
			break;
		CHECK(v >= 0 && v < SENDERS * x->n);
		x->seen[v]++; /* each value once, so each byte has one writer */
	}
	rg_waitgroup_done(&x->recvers);
}

static void chan_race(size_t cap)
{
	struct race x = { .c = rg_chan_make(sizeof(long), cap), .n = per_sender() };
	x.seen = calloc((size_t)(SENDERS * x.n), 1);
	CHECK(x.seen != NULL);
	struct role roles[SENDERS + RECVERS];
	rg_waitgroup_add(&x.senders, SENDERS);
	rg_waitgroup_add(&x.recvers, RECVERS);
	for (int i = 0; i < SENDERS + RECVERS; i++) {
		roles[i] = (struct role){ &x, i < SENDERS ? i : i - SENDERS };
		rg_go(i < SENDERS ? sender : receiver, &roles[i]);
	}
	CHECK_EQ(rg_waitgroup_wait(&x.senders, -1), 0);
	CHECK_EQ(rg_chan_close(x.c), 0);
	CHECK_EQ(rg_waitgroup_wait(&x.recvers, -1), 0);
	long missing = 0, twice = 0;
	for (long v = 0; v < SENDERS * x.n; v++) {
		missing += x.seen[v] == 0;
		twice += x.seen[v] > 1;
	}
	printf("  cap %zu: %ld values, failed by deadline %ld, by Context %ld\n", cap, SENDERS * x.n,
	       atomic_load(&x.timeouts), atomic_load(&x.cancels));
	CHECK_EQ(missing, 0);
	CHECK_EQ(twice, 0);
	/* the races happened: some parks ended by deadline or Context */
	CHECK(atomic_load(&x.timeouts) > 0);
	CHECK(atomic_load(&x.cancels) > 0);
	free(x.seen);
	rg_chan_free(x.c);
}

/* --- a Mutex whose waiters mix the two lock forms ------------------------ */

struct mrace {
	rg_mutex m;
	long count, per;
	_Atomic long timeouts;
	rg_waitgroup wg;
};

static void locker(void *arg)
{
	struct mrace *x = arg;
	uint32_t s = (uint32_t)(uintptr_t)&s | 1;
	for (long i = 0; i < x->per;) {
		uint32_t r = next_rand(&s);
		if (r & 1) {
			rg_mutex_lock(&x->m);
		} else if (rg_mutex_lock_until(&x->m, rg_now() + (int64_t)(r % 16) * 1000) != 0) {
			atomic_fetch_add(&x->timeouts, 1);
			continue;
		}
		x->count++;
		if (r & 4)
			rg_yield(); /* hold it across a switch: waiters park */
		rg_mutex_unlock(&x->m);
		i++;
	}
	rg_waitgroup_done(&x->wg);
}

static void mutex_race(void)
{
	enum { LOCKERS = 8 };
	static struct mrace x;
	x = (struct mrace){ .per = T_SANITIZED ? 2000 : 20000 };
	rg_waitgroup_add(&x.wg, LOCKERS);
	for (int i = 0; i < LOCKERS; i++)
		rg_go(locker, &x);
	CHECK_EQ(rg_waitgroup_wait(&x.wg, -1), 0);
	printf("  mutex: %ld locks, %ld timeouts\n", x.count, atomic_load(&x.timeouts));
	CHECK_EQ(x.count, LOCKERS * x.per);
}

static int main_fn(void *arg)
{
	int64_t t = rg_now();
#define RUN(f) T_RUN(t, f)
	RUN(chan_race(0));
	RUN(chan_race(1));
	RUN(chan_race(4));
	RUN(mutex_race());
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("claim: ok\n");
	return T_PASS;
}
