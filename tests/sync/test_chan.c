/* Channels: Go's chan_test.go TestChan (capacities 0..199) and the
 * semantics of sync.h (close, -EPIPE, deadlines, non-blocking forms,
 * element sizes, len/cap). */
// ctest-timeout: 120
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL
#define NCAP (T_SANITIZED ? 40 : 200)

static int64_t in(int64_t ns) { return rg_now() + ns; }

/* --- TestChan ------------------------------------------------------------ */

struct rx {
	rg_chan *c;
	_Atomic int done;
	rg_waitgroup *wg;
};

static void recv_one(void *arg)
{
	struct rx *r = arg;
	long v;
	CHECK_EQ(rg_chan_recv(r->c, &v, NULL, -1), 0);
	atomic_store(&r->done, 1);
	rg_waitgroup_done(r->wg);
}

static void send_one(void *arg)
{
	struct rx *r = arg;
	long v = 0;
	CHECK_EQ(rg_chan_send(r->c, &v, -1), 0);
	atomic_store(&r->done, 1);
	rg_waitgroup_done(r->wg);
}

struct closer {
	rg_chan *c, *done;
};

static void recv_closed(void *arg)
{
	struct closer *x = arg;
	long v = 7;
	bool ok = true;
	CHECK_EQ(rg_chan_recv(x->c, &v, &ok, -1), 0);
	bool good = v == 0 && !ok;
	CHECK_EQ(rg_chan_send(x->done, &good, -1), 0);
}

struct sender {
	rg_chan *c;
	int n;
	rg_waitgroup *wg;
};

static void send_n(void *arg)
{
	struct sender *s = arg;
	for (long i = 0; i < s->n; i++)
		CHECK_EQ(rg_chan_send(s->c, &i, -1), 0);
	rg_waitgroup_done(s->wg);
}

struct counter {
	rg_chan *c;
	int n;
	int counts[1000];
	rg_waitgroup *wg;
};

static void recv_count(void *arg)
{
	struct counter *k = arg;
	for (int i = 0; i < k->n; i++) {
		long v;
		CHECK_EQ(rg_chan_recv(k->c, &v, NULL, -1), 0);
		CHECK(v >= 0 && v < 1000);
		k->counts[v]++;
	}
	rg_waitgroup_done(k->wg);
}

static void test_chan_cap(int cap)
{
	long v;
	bool ok;
	{
		/* receive from an empty channel blocks */
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		struct rx r1 = { c, 0, &wg }, r2 = { c, 0, &wg };
		rg_waitgroup_add(&wg, 2);
		rg_go(recv_one, &r1);
		rg_go(recv_one, &r2);
		rg_sleep(MS);
		CHECK(!atomic_load(&r1.done) && !atomic_load(&r2.done));
		/* non-blocking receive does not block */
		CHECK_EQ(rg_chan_recv(c, &v, NULL, 0), -EAGAIN);
		rg_select_case sc = { c, RG_SELECT_RECV, &v, false };
		CHECK_EQ(rg_select(&sc, 1, 0), -EAGAIN);
		v = 0;
		CHECK_EQ(rg_chan_send(c, &v, -1), 0);
		CHECK_EQ(rg_chan_send(c, &v, -1), 0);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		rg_chan_free(c);
	}
	{
		/* send to a full channel blocks */
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		for (long i = 0; i < cap; i++)
			CHECK_EQ(rg_chan_send(c, &i, -1), 0);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		struct rx s = { c, 0, &wg };
		rg_waitgroup_add(&wg, 1);
		rg_go(send_one, &s);
		rg_sleep(MS);
		CHECK(!atomic_load(&s.done));
		v = 0;
		CHECK_EQ(rg_chan_send(c, &v, 0), -EAGAIN);
		rg_select_case sc = { c, RG_SELECT_SEND, &v, false };
		CHECK_EQ(rg_select(&sc, 1, 0), -EAGAIN);
		CHECK_EQ(rg_chan_recv(c, &v, NULL, -1), 0);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		rg_chan_free(c);
	}
	{
		/* receive 0 from a closed channel, after draining it */
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		for (long i = 0; i < cap; i++)
			CHECK_EQ(rg_chan_send(c, &i, -1), 0);
		CHECK_EQ(rg_chan_close(c), 0);
		for (long i = 0; i < cap; i++) {
			CHECK_EQ(rg_chan_recv(c, &v, &ok, -1), 0);
			CHECK_EQ(v, i);
			CHECK(ok);
		}
		v = 5;
		CHECK_EQ(rg_chan_recv(c, &v, NULL, -1), 0);
		CHECK_EQ(v, 0);
		v = 5;
		ok = true;
		CHECK_EQ(rg_chan_recv(c, &v, &ok, 0), 0);
		CHECK(v == 0 && !ok);
		rg_chan_free(c);
	}
	{
		/* close unblocks receive */
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		rg_chan *done = rg_chan_make(sizeof(bool), 0);
		struct closer x = { c, done };
		rg_go(recv_closed, &x);
		rg_sleep(MS);
		CHECK_EQ(rg_chan_close(c), 0);
		bool good = false;
		CHECK_EQ(rg_chan_recv(done, &good, NULL, -1), 0);
		CHECK(good);
		rg_chan_free(c);
		rg_chan_free(done);
	}
	{
		/* 100 integers arrive uncorrupted, in FIFO order */
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		struct sender s = { c, 100, &wg };
		for (int round = 0; round < 2; round++) {
			rg_waitgroup_add(&wg, 1);
			rg_go(send_n, &s);
			for (long i = 0; i < 100; i++) {
				ok = false;
				CHECK_EQ(rg_chan_recv(c, &v, &ok, -1), 0);
				CHECK(ok);
				CHECK_EQ(v, i);
			}
			CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		}
		rg_chan_free(c);
	}
	{
		/* 4 senders x 1000, 4 receivers: everything arrives once */
		enum { P = 4, L = 1000 };
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		struct sender s = { c, L, &wg };
		static struct counter k[P];
		memset(k, 0, sizeof k);
		rg_waitgroup_add(&wg, 2 * P);
		for (int p = 0; p < P; p++) {
			rg_go(send_n, &s);
			k[p].c = c;
			k[p].n = L;
			k[p].wg = &wg;
			rg_go(recv_count, &k[p]);
		}
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		for (int i = 0; i < L; i++) {
			int sum = 0;
			for (int p = 0; p < P; p++)
				sum += k[p].counts[i];
			CHECK_EQ(sum, P);
		}
		rg_chan_free(c);
	}
	{
		/* len and cap */
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)cap);
		CHECK_EQ(rg_chan_len(c), 0);
		CHECK_EQ(rg_chan_cap(c), cap);
		for (long i = 0; i < cap; i++)
			CHECK_EQ(rg_chan_send(c, &i, -1), 0);
		CHECK_EQ(rg_chan_len(c), cap);
		CHECK_EQ(rg_chan_cap(c), cap);
		rg_chan_free(c);
	}
}

/* --- semantics ------------------------------------------------------------ */

struct blocked {
	rg_chan *c;
	int dir;
	_Atomic int result;
	bool ok;
};

static void blocked_op(void *arg)
{
	struct blocked *b = arg;
	long v = 1;
	int r;
	if (b->dir == RG_SELECT_SEND)
		r = rg_chan_send(b->c, &v, -1);
	else
		r = rg_chan_recv(b->c, &v, &b->ok, -1);
	atomic_store(&b->result, r == 0 ? 1 : r);
}

struct big {
	char bytes[300];
};

/* Parks n tasks in dir on c, checks that they stay parked, closes c and
 * checks that close woke each: receivers with ok=false, senders -EPIPE. */
static void close_wakes(rg_chan *c, int dir, int n)
{
	static struct blocked b[200]; /* > 64: close readies in batches */
	CHECK(n <= 200);
	for (int i = 0; i < n; i++) {
		b[i] = (struct blocked){ c, dir, 0, true };
		rg_go(blocked_op, &b[i]);
	}
	rg_sleep(2 * MS);
	for (int i = 0; i < n; i++)
		CHECK_EQ(atomic_load(&b[i].result), 0);
	CHECK_EQ(rg_chan_close(c), 0);
	for (int i = 0; i < n; i++) {
		while (!atomic_load(&b[i].result))
			rg_sleep(100000);
		if (dir == RG_SELECT_SEND)
			CHECK_EQ(atomic_load(&b[i].result), -EPIPE);
		else
			CHECK(atomic_load(&b[i].result) == 1 && !b[i].ok);
	}
}

static void test_semantics(void)
{
	long v = 3;
	bool ok;
	/* close wakes every waiter: receivers ok=false, senders -EPIPE */
	for (int dir = 0; dir < 2; dir++) {
		rg_chan *c = rg_chan_make(sizeof(long), 0);
		close_wakes(c, dir, 200);
		rg_chan_free(c);
	}
	/* send on closed and second close: -EPIPE, no abort */
	rg_chan *c = rg_chan_make(sizeof(long), 4);
	CHECK_EQ(rg_chan_close(c), 0);
	CHECK_EQ(rg_chan_close(c), -EPIPE);
	CHECK_EQ(rg_chan_send(c, &v, -1), -EPIPE);
	CHECK_EQ(rg_chan_send(c, &v, 0), -EPIPE);
	rg_select_case sc = { c, RG_SELECT_SEND, &v, true };
	CHECK_EQ(rg_select(&sc, 1, -1), 0);
	CHECK(!sc.ok);
	rg_chan_free(c);
	CHECK_EQ(rg_chan_close(NULL), -EINVAL);

	/* deadlines */
	c = rg_chan_make(sizeof(long), 0);
	int64_t t0 = rg_now();
	CHECK_EQ(rg_chan_recv(c, &v, &ok, in(5 * MS)), -ETIMEDOUT);
	CHECK(rg_now() - t0 >= 5 * MS);
	CHECK_EQ(rg_chan_send(c, &v, in(2 * MS)), -ETIMEDOUT);
	CHECK_EQ(rg_chan_send(c, &v, 0), -EAGAIN);
	/* a timed-out waiter is gone: the next sender is not matched with it */
	struct blocked b = { c, RG_SELECT_RECV, 0, false };
	rg_go(blocked_op, &b);
	rg_sleep(MS);
	v = 42;
	CHECK_EQ(rg_chan_send(c, &v, in(100 * MS)), 0);
	while (!atomic_load(&b.result))
		rg_sleep(100000);
	CHECK(b.ok);
	rg_chan_free(c);

	/* NULL channel: never ready */
	CHECK_EQ(rg_chan_send(NULL, &v, 0), -EAGAIN);
	CHECK_EQ(rg_chan_recv(NULL, &v, NULL, in(MS)), -ETIMEDOUT);
	CHECK_EQ(rg_select(NULL, 0, in(MS)), -ETIMEDOUT);
	CHECK_EQ(rg_select(NULL, 0, 0), -EAGAIN);

	/* element size 0 (chan struct{}) and a large element */
	c = rg_chan_make(0, 0);
	rg_chan *c2 = rg_chan_make(0, 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(rg_chan_send(c2, NULL, 0), 0);
	CHECK_EQ(rg_chan_send(c2, NULL, 0), -EAGAIN);
	CHECK_EQ(rg_chan_len(c2), 3);
	CHECK_EQ(rg_chan_recv(c2, NULL, &ok, 0), 0);
	CHECK(ok);
	struct blocked bz = { c, RG_SELECT_RECV, 0, false };
	rg_go(blocked_op, &bz);
	rg_sleep(MS);
	CHECK_EQ(rg_chan_send(c, NULL, -1), 0);
	while (!atomic_load(&bz.result))
		rg_sleep(100000);
	CHECK(bz.ok);
	rg_chan_free(c);
	rg_chan_free(c2);

	c = rg_chan_make(sizeof(struct big), 2);
	struct big x, y;
	for (int i = 0; i < 3; i++) {
		memset(&x, 'a' + i, sizeof x);
		CHECK_EQ(rg_chan_send(c, &x, in(MS)), i < 2 ? 0 : -ETIMEDOUT);
	}
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(rg_chan_recv(c, &y, NULL, 0), 0);
		CHECK(y.bytes[0] == 'a' + i && y.bytes[299] == 'a' + i);
	}
	rg_chan_free(c);
	CHECK(rg_chan_make(8, (size_t)1 << 40) == NULL);
}


/* --- the buffer's lock-free paths ------------------------------------------ */

/* Lost wake-ups between a lock-free send (receive) and a receiver (sender)
 * parking on an empty (full) buffer: two tasks ping-pong a value through
 * two small buffered channels, each side mostly finding the buffer empty
 * and parking while the other's send races with it.  A missed receiver
 * waits out its 10 s bound. */
struct pingb {
	rg_chan *a, *b;
	long n;
	rg_waitgroup wg;
};

static void pong_b(void *arg)
{
	struct pingb *p = arg;
	for (long i = 0; i < p->n; i++) {
		long v = -1;
		bool ok = false;
		CHECK_EQ(rg_chan_recv(p->a, &v, &ok, in(10000 * MS)), 0);
		CHECK(ok && v == i);
		CHECK_EQ(rg_chan_send(p->b, &v, in(10000 * MS)), 0);
	}
	rg_waitgroup_done(&p->wg);
}

/* Fills a cap-n channel faster than the receiver takes it: the sender
 * parks on a full buffer while lock-free receives free slots. */
static void fill_b(void *arg)
{
	struct pingb *p = arg;
	for (long i = 0; i < p->n; i++)
		CHECK_EQ(rg_chan_send(p->a, &i, in(10000 * MS)), 0);
	rg_waitgroup_done(&p->wg);
}

static void test_lost_wakeup(void)
{
	long n = T_SANITIZED ? 3000 : 30000;
	for (int cap = 1; cap <= 4; cap *= 2) {
		struct pingb p = { rg_chan_make(sizeof(long), (size_t)cap), rg_chan_make(sizeof(long), (size_t)cap),
			           n, RG_WAITGROUP_INIT };
		rg_waitgroup_add(&p.wg, 1);
		rg_go(pong_b, &p);
		for (long i = 0; i < n; i++) {
			long v = -1;
			CHECK_EQ(rg_chan_send(p.a, &i, in(10000 * MS)), 0);
			CHECK_EQ(rg_chan_recv(p.b, &v, NULL, in(10000 * MS)), 0);
			CHECK_EQ(v, i);
		}
		CHECK_EQ(rg_waitgroup_wait(&p.wg, -1), 0);

		/* full side, FIFO kept through the parked sender's retries */
		rg_waitgroup_add(&p.wg, 1);
		rg_go(fill_b, &p);
		for (long i = 0; i < n; i++) {
			long v = -1;
			CHECK_EQ(rg_chan_recv(p.a, &v, NULL, in(10000 * MS)), 0);
			CHECK_EQ(v, i);
			if (i % 64 == 0)
				rg_yield();
		}
		CHECK_EQ(rg_waitgroup_wait(&p.wg, -1), 0);
		rg_chan_free(p.a);
		rg_chan_free(p.b);
	}
}

/* close racing with lock-free sends and receives: every value whose send
 * returned 0 is received exactly once, none whose send returned -EPIPE
 * is, and each sender's values arrive in its order. */
enum { CR_SENDERS = 4, CR_RECVERS = 3, CR_MAXV = 1 << 14 };

struct close_race {
	rg_chan *c;
	long sent[CR_SENDERS];
	unsigned char seen[CR_SENDERS][CR_MAXV];
	rg_waitgroup wg;
};

struct cr_arg {
	struct close_race *x;
	int id;
};

static void cr_send(void *arg)
{
	struct cr_arg *a = arg;
	struct close_race *x = a->x;
	long i = 0;
	while (i < CR_MAXV) {
		long v = (long)a->id * CR_MAXV + i;
		/* even senders block, odd ones use select's default */
		int r;
		if (a->id % 2 == 0) {
			r = rg_chan_send(x->c, &v, -1);
		} else {
			rg_select_case sc = { x->c, RG_SELECT_SEND, &v, false };
			r = rg_select(&sc, 1, 0);
			if (r == -EAGAIN) {
				rg_yield();
				continue;
			}
			CHECK_EQ(r, 0);
			r = sc.ok ? 0 : -EPIPE;
		}
		if (r == -EPIPE)
			break;
		CHECK_EQ(r, 0);
		i++;
	}
	x->sent[a->id] = i;
	rg_waitgroup_done(&x->wg);
}

static void cr_recv(void *arg)
{
	struct cr_arg *a = arg;
	struct close_race *x = a->x;
	long last[CR_SENDERS];
	for (int s = 0; s < CR_SENDERS; s++)
		last[s] = -1;
	for (long k = 0;; k++) {
		long v = -1;
		bool ok = false;
		int r = rg_chan_recv(x->c, &v, &ok, k % 3 == 0 ? 0 : -1);
		if (r == -EAGAIN) {
			rg_yield();
			continue;
		}
		CHECK_EQ(r, 0);
		if (!ok) {
			CHECK_EQ(v, 0);
			break;
		}
		int s = (int)(v / CR_MAXV);
		long i = v % CR_MAXV;
		CHECK(s >= 0 && s < CR_SENDERS);
		CHECK(i > last[s]);
		last[s] = i;
		x->seen[s][i]++;
	}
	rg_waitgroup_done(&x->wg);
}

static void test_close_race(void)
{
	static struct close_race x;
	static const int caps[] = { 1, 3, 64 };
	int rounds = T_SANITIZED ? 6 : 30;
	for (int ci = 0; ci < 3; ci++) {
		for (int round = 0; round < rounds; round++) {
			memset(&x, 0, sizeof x);
			x.c = rg_chan_make(sizeof(long), (size_t)caps[ci]);
			struct cr_arg sa[CR_SENDERS], ra[CR_RECVERS];
			rg_waitgroup_add(&x.wg, CR_SENDERS + CR_RECVERS);
			for (int s = 0; s < CR_SENDERS; s++) {
				sa[s] = (struct cr_arg){ &x, s };
				rg_go(cr_send, &sa[s]);
			}
			for (int r = 0; r < CR_RECVERS; r++) {
				ra[r] = (struct cr_arg){ &x, r };
				rg_go(cr_recv, &ra[r]);
			}
			rg_sleep((round % 10) * 20000);
			CHECK_EQ(rg_chan_close(x.c), 0);
			CHECK_EQ(rg_waitgroup_wait(&x.wg, in(10000 * MS)), 0);
			for (int s = 0; s < CR_SENDERS; s++)
				for (long i = 0; i < CR_MAXV; i++)
					CHECK_EQ(x.seen[s][i], i < x.sent[s] ? 1 : 0);
			CHECK_EQ(rg_chan_len(x.c), 0);
			rg_chan_free(x.c);
		}
	}
}

/* close wakes the tasks waiting on a buffered channel: receivers on an
 * empty one get ok=false, senders on a full one -EPIPE. */
static void test_close_buffered_waiters(void)
{
	for (int dir = 0; dir < 2; dir++) {
		rg_chan *c = rg_chan_make(sizeof(long), 2);
		long v = 1;
		if (dir == RG_SELECT_SEND) {
			CHECK_EQ(rg_chan_send(c, &v, 0), 0);
			CHECK_EQ(rg_chan_send(c, &v, 0), 0);
		}
		close_wakes(c, dir, 6);
		if (dir == RG_SELECT_SEND) {
			/* the buffer still drains after close */
			bool ok = false;
			CHECK_EQ(rg_chan_recv(c, &v, &ok, 0), 0);
			CHECK(ok);
			CHECK_EQ(rg_chan_recv(c, &v, &ok, 0), 0);
			CHECK(ok);
			CHECK_EQ(rg_chan_recv(c, &v, &ok, 0), 0);
			CHECK(!ok);
		}
		rg_chan_free(c);
	}
}

/* A task woken to retry on a buffered channel that loses the value (the
 * room) to a task that never waited waits again at the head of the queue,
 * ahead of the tasks that parked after it: Go hands a buffered value
 * straight to the first waiting receiver (room to the first sender), and
 * ringo's woken retry must not let a later waiter pass the first.  Runs
 * on one P, where the order of events is fixed: main wakes the first
 * waiter, takes what woke it itself, lets it fail and park again, then
 * checks which waiter the next value (room) goes to. */
static rg_chan *fq_c;
static _Atomic long fq_got[2];

static void fq_recv(void *arg)
{
	int i = (int)(intptr_t)arg;
	long v = 0;
	bool ok = false;
	CHECK_EQ(rg_chan_recv(fq_c, &v, &ok, -1), 0);
	CHECK(ok);
	atomic_store(&fq_got[i], v);
}

static void fq_send(void *arg)
{
	int i = (int)(intptr_t)arg;
	long v = 100 + i;
	CHECK_EQ(rg_chan_send(fq_c, &v, -1), 0);
	atomic_store(&fq_got[i], 1);
}

static int fair_main(void *arg)
{
	CHECK_EQ(rg_procs(), 1);
	long v, x;
	bool ok;
	/* receivers */
	fq_c = rg_chan_make(sizeof(long), 1);
	for (int i = 0; i < 2; i++) {
		CHECK(rg_go(fq_recv, (void *)(intptr_t)i) > 0);
		rg_yield(); /* it parks on the empty buffer, in order */
	}
	v = 1;
	CHECK_EQ(rg_chan_send(fq_c, &v, 0), 0);    /* wakes receiver 0 */
	CHECK_EQ(rg_chan_recv(fq_c, &x, &ok, 0), 0); /* and takes its value */
	CHECK(ok && x == 1);
	rg_yield(); /* receiver 0 retries, finds nothing, parks again */
	CHECK_EQ(atomic_load(&fq_got[0]), 0);
	v = 2;
	CHECK_EQ(rg_chan_send(fq_c, &v, 0), 0);
	rg_yield();
	CHECK_EQ(atomic_load(&fq_got[0]), 2); /* the first waiter, not the second */
	CHECK_EQ(atomic_load(&fq_got[1]), 0);
	v = 3;
	CHECK_EQ(rg_chan_send(fq_c, &v, 0), 0);
	rg_yield();
	CHECK_EQ(atomic_load(&fq_got[1]), 3);
	rg_chan_free(fq_c);

	/* senders */
	atomic_store(&fq_got[0], 0);
	atomic_store(&fq_got[1], 0);
	fq_c = rg_chan_make(sizeof(long), 1);
	v = 7;
	CHECK_EQ(rg_chan_send(fq_c, &v, 0), 0); /* full */
	for (int i = 0; i < 2; i++) {
		CHECK(rg_go(fq_send, (void *)(intptr_t)i) > 0);
		rg_yield(); /* it parks on the full buffer, in order */
	}
	CHECK_EQ(rg_chan_recv(fq_c, &x, &ok, 0), 0); /* 7; wakes sender 0 */
	CHECK(ok && x == 7);
	v = 8;
	CHECK_EQ(rg_chan_send(fq_c, &v, 0), 0);      /* takes its room */
	rg_yield(); /* sender 0 retries, finds it full, parks again */
	CHECK_EQ(atomic_load(&fq_got[0]), 0);
	CHECK_EQ(rg_chan_recv(fq_c, &x, &ok, 0), 0); /* 8 */
	CHECK(ok && x == 8);
	rg_yield();
	CHECK_EQ(atomic_load(&fq_got[0]), 1); /* the first waiter sent */
	CHECK_EQ(atomic_load(&fq_got[1]), 0);
	CHECK_EQ(rg_chan_recv(fq_c, &x, &ok, 0), 0);
	CHECK(ok && x == 100);
	rg_yield();
	CHECK_EQ(atomic_load(&fq_got[1]), 1);
	CHECK_EQ(rg_chan_recv(fq_c, &x, &ok, 0), 0);
	CHECK(ok && x == 101);
	rg_chan_free(fq_c);
	return 0;
}

static int main_fn(void *arg)
{
	test_semantics();
	test_close_buffered_waiters();
	test_lost_wakeup();
	test_close_race();
	for (int cap = 0; cap < NCAP; cap++)
		test_chan_cap(cap);
	return 0;
}

/* On one P a close wakes its receivers in the order they waited, however
 * many batches that takes: 65 is one batch of 64 and a lone task, which
 * must not jump the batch through runnext. */
enum { ORDERED = 65 };
static rg_chan *ord_ch;
static _Atomic int ord_pos, ord_parked;
static int ord_seen[ORDERED], ord_park[ORDERED];

static void ord_waiter(void *arg)
{
	long v;
	bool ok = true;
	/* one P: nothing runs between this and the park in recv */
	ord_park[atomic_fetch_add(&ord_parked, 1)] = (int)(intptr_t)arg;
	CHECK_EQ(rg_chan_recv(ord_ch, &v, &ok, -1), 0);
	CHECK(!ok);
	ord_seen[atomic_fetch_add(&ord_pos, 1)] = (int)(intptr_t)arg;
}

static int ordered_close_main(void *arg)
{
	CHECK_EQ(rg_procs(), 1);
	ord_ch = rg_chan_make(sizeof(long), 0);
	for (int i = 0; i < ORDERED; i++)
		CHECK(rg_go(ord_waiter, (void *)(intptr_t)i) > 0);
	/* until all have parked: a 2 ms sleep was not enough on a loaded
	 * machine (sysmon fired our timer while the P thread was off its CPU,
	 * and the global queue ran us first: 61 of 65 parked) */
	for (int64_t end = rg_now() + 10000 * MS; atomic_load(&ord_parked) < ORDERED;) {
		CHECK(rg_now() < end);
		rg_sleep(MS);
	}
	CHECK_EQ(rg_chan_close(ord_ch), 0);
	while (atomic_load(&ord_pos) < ORDERED)
		rg_sleep(MS);
	for (int i = 0; i < ORDERED; i++)
		CHECK_EQ(ord_seen[i], ord_park[i]);
	rg_chan_free(ord_ch);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	rg_config one = { .procs = 1, .quiet = 1 };
	CHECK_EQ(rg_run(fair_main, NULL, &one), 0);
	CHECK_EQ(rg_run(ordered_close_main, NULL, &one), 0);
	printf("chan: ok\n");
	return T_PASS;
}
