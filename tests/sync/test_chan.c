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

static void test_semantics(void)
{
	long v = 3;
	bool ok;
	/* close wakes every waiter: receivers ok=false, senders -EPIPE */
	for (int dir = 0; dir < 2; dir++) {
		rg_chan *c = rg_chan_make(sizeof(long), 0);
		struct blocked b[8];
		for (int i = 0; i < 8; i++) {
			b[i] = (struct blocked){ c, dir, 0, true };
			rg_go(blocked_op, &b[i]);
		}
		rg_sleep(2 * MS);
		for (int i = 0; i < 8; i++)
			CHECK_EQ(atomic_load(&b[i].result), 0);
		CHECK_EQ(rg_chan_close(c), 0);
		for (int i = 0; i < 8; i++) {
			while (!atomic_load(&b[i].result))
				rg_sleep(100000);
			if (dir == RG_SELECT_SEND)
				CHECK_EQ(atomic_load(&b[i].result), -EPIPE);
			else
				CHECK(atomic_load(&b[i].result) == 1 && !b[i].ok);
		}
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

static int main_fn(void *arg)
{
	test_semantics();
	for (int cap = 0; cap < NCAP; cap++)
		test_chan_cap(cap);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	printf("chan: ok\n");
	return T_PASS;
}
