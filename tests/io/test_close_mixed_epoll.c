/* rg_close of an fd on which three calls of different kinds wait at once
 * (an rg_recv, an rg_send on a full socket, an rg_poll for input), on
 * the epoll backend, by a task or by a thread outside the runtime, with
 * the number reused at once by a new pair that has a reader of its own
 * waiting on it.  Each old call gets its own dup (io/epoll.c, "calls in
 * flight"): the recv gets the old peer's byte, the send completes on the
 * old file, the poll sees input; the new reader gets the new file's byte,
 * never the old one's; no fd is left behind.  Many rounds, 2 Ps. */
// ctest-timeout: 180
// ctest-env: RINGO_IO=epoll
#include <poll.h>
#include <pthread.h>

#include "io_test.h"

#define WAIT (5000 * MS)
#define ROUNDS (T_SANITIZED ? 60 : 300)

static RG__NOIPA int t_errno(void) { return errno; }

enum { W_RECV, W_SEND, W_POLL };

struct waiter {
	int kind, fd;
	char byte;
	_Atomic int64_t id, res;
	_Atomic int started, done;
};

static void waiter_fn(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->id, rg_self());
	atomic_store(&w->started, 1);
	int64_t dl = rg_now() + WAIT, r = 0;
	static char out[1000];
	switch (w->kind) {
	case W_RECV: {
		char c = 0;
		r = rg_recv(w->fd, &c, 1, 0, dl);
		w->byte = c;
		break;
	}
	case W_SEND:
		memset(out, 'w', sizeof out);
		r = rg_send(w->fd, out, sizeof out, 0, dl);
		break;
	case W_POLL:
		r = rg_poll(w->fd, POLLIN, dl);
		break;
	}
	atomic_store(&w->res, r);
	atomic_store(&w->done, 1);
}

static void start(struct waiter *w)
{
	atomic_store(&w->started, 0);
	atomic_store(&w->done, 0);
	CHECK(rg_go(waiter_fn, w) > 0);
	while (!atomic_load(&w->started))
		rg_yield();
	t_wait_parked(atomic_load(&w->id));
}

static int64_t finish(struct waiter *w)
{
	for (int64_t end = rg_now() + 2 * WAIT; !atomic_load(&w->done) && rg_now() < end;)
		rg_sleep(MS / 10);
	CHECK(atomic_load(&w->done));
	return atomic_load(&w->res);
}

static void *foreign_close(void *arg)
{
	CHECK_EQ(rg_close((int)(intptr_t)arg), 0);
	return NULL;
}

static void one_round(int round)
{
	int base = t_open_fds(), sp[2], np[2];
	t_unix_pair(sp);
	static char junk[4096];
	size_t fill = 0;
	for (;;) {
		ssize_t k = send(sp[0], junk, sizeof junk, MSG_DONTWAIT);
		if (k < 0) {
			CHECK(t_errno() == EAGAIN);
			break;
		}
		fill += (size_t)k;
	}
	struct waiter wr = { .kind = W_RECV, .fd = sp[0] };
	struct waiter ws = { .kind = W_SEND, .fd = sp[0] };
	struct waiter wp = { .kind = W_POLL, .fd = sp[0] };
	start(&wr);
	start(&ws);
	start(&wp);
	int n = sp[0];
	if (round & 1) {
		pthread_t th;
		CHECK_EQ(pthread_create(&th, NULL, foreign_close, (void *)(intptr_t)n), 0);
		CHECK_EQ(pthread_join(th, NULL), 0);
	} else {
		CHECK_EQ(rg_close(n), 0);
	}
	/* the number for a new pair at once, with a reader waiting on it */
	t_unix_pair(np);
	if (np[1] == n) {
		np[1] = np[0];
		np[0] = n;
	}
	if (np[0] != n) {
		CHECK_EQ(dup3(np[0], n, O_CLOEXEC), n);
		close(np[0]);
		np[0] = n;
	}
	struct waiter wn = { .kind = W_RECV, .fd = n };
	start(&wn);
	if (round & 2)
		rg_yield();
	CHECK_EQ(send(np[1], "n", 1, MSG_DONTWAIT | MSG_NOSIGNAL), 1);
	CHECK_EQ(finish(&wn), 1);
	CHECK_EQ(wn.byte, 'n');
	CHECK(!atomic_load(&wr.done));
	/* the old peer: input for the recv and the poll, room for the send */
	/* two bytes: the recv takes one, the other keeps the poll's input
	 * (whichever of them looks first) */
	CHECK_EQ(rg_send(sp[1], "oo", 2, 0, rg_now() + WAIT), 2);
	static char in[65536];
	size_t got = 0;
	int64_t rs = -1;
	for (;;) {
		ssize_t k = rg_recv(sp[1], in, sizeof in, 0, rg_now() + WAIT);
		if (k < 0 && k != -ECONNRESET)
			fprintf(stderr, "round %d: peer recv %zd after %zu of %zu; recv done %d (%lld) send done %d (%lld) poll done %d (%lld)\n",
			        round, k, got, fill + 1000, atomic_load(&wr.done), (long long)atomic_load(&wr.res),
			        atomic_load(&ws.done), (long long)atomic_load(&ws.res), atomic_load(&wp.done),
			        (long long)atomic_load(&wp.res));
		CHECK(k >= 0 || k == -ECONNRESET); /* (a byte left unread) */
		if (k <= 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			CHECK(in[i] == (got + (size_t)i < fill ? 0 : 'w'));
		got += (size_t)k;
		if (got == fill + 1000)
			rs = finish(&ws);
	}
	if (rs < 0)
		rs = finish(&ws);
	CHECK_EQ(rs, 1000);
	CHECK_EQ(got, fill + 1000);
	CHECK_EQ(finish(&wr), 1);
	CHECK_EQ(wr.byte, 'o');
	int64_t rp = finish(&wp);
	if (!(rp > 0 && (rp & POLLIN)))
		fprintf(stderr, "round %d: poll %lld\n", round, (long long)rp);
	CHECK(rp > 0 && (rp & POLLIN));
	close(sp[1]);
	rg_close(np[0]);
	close(np[1]);
	CHECK_EQ(t_open_fds(), base);
}

static int main_fn(void *arg)
{
	(void)arg;
	for (int r = 0; r < ROUNDS; r++)
		one_round(r);
	return 0;
}

int main(void)
{
	return rg_run(main_fn, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
