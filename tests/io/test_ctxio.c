/* I/O calls under a bound Context (rg_ctx_bind): cancelling the context
 * interrupts a blocked rg_recv / rg_read / rg_poll / rg_stream_recv /
 * rg_connect (-ECANCELED) and nothing is lost; a deadline context ends
 * rg_accept, rg_connect and rg_recv with -ETIMEDOUT at its deadline; a cancel racing the data 1000
 * times loses no byte; a cancelled ancestor reaches a task bound to a
 * grandchild; an already ended context fails calls at once without
 * consuming data (but rg_close still closes). */
// ctest-timeout: 120
#include <poll.h>

#include "io_test.h"
#include "ringo/sync.h"

#define PROMPT (2000 * MS) /* "at once" on a loaded 2-CPU machine */

static int g_procs;

static void join_flag(_Atomic int *f)
{
	int64_t t0 = rg_now();
	while (!atomic_load(f)) {
		rg_sleep(MS / 2);
		CHECK(rg_now() - t0 < 10000 * MS);
	}
}

/* ---- a task blocked in one call, bound to a context ---------------------- */

enum { K_RECV, K_READ, K_POLL, K_STREAM, K_ACCEPT, K_CONNECT };

struct victim {
	int fd, kind;
	int64_t deadline;     /* the call's own */
	rg_ctx *ctx;
	struct sockaddr_storage addr; /* K_CONNECT */
	socklen_t addrlen;
	_Atomic int started, finished;
	_Atomic int64_t res, t_end;
	char later[16];       /* what the task's next (unbound) call got */
	_Atomic int64_t later_n;
	char buf[4096];
};

static void victim_fn(void *arg)
{
	struct victim *v = arg;
	CHECK(rg_ctx_bind(v->ctx) == NULL);
	rg_stream *st = NULL;
	if (v->kind == K_STREAM)
		CHECK_EQ(rg_stream_open(&st, v->fd), 0);
	atomic_store(&v->started, 1);
	int64_t r;
	rg_buf b = { 0 };
	switch (v->kind) {
	case K_RECV: r = rg_recv(v->fd, v->buf, sizeof v->buf, 0, v->deadline); break;
	case K_READ: r = rg_read(v->fd, v->buf, sizeof v->buf, v->deadline); break;
	case K_POLL: r = rg_poll(v->fd, POLLIN, v->deadline); break;
	case K_STREAM: r = rg_stream_recv(st, &b, v->deadline); break;
	case K_CONNECT: r = rg_connect(v->fd, (struct sockaddr *)&v->addr, v->addrlen, v->deadline); break;
	default: r = rg_accept(v->fd, NULL, NULL, v->deadline); break;
	}
	atomic_store(&v->t_end, rg_now());
	atomic_store(&v->res, r);
	/* the buffer is ours again: scribble on it */
	memset(v->buf, 0x5a, sizeof v->buf);
	CHECK(rg_ctx_bind(NULL) == v->ctx);
	/* The context's cancel was this call's only: the next call, unbound,
	 * waits for the data that comes later and gets all of it. */
	if (v->kind == K_STREAM) {
		int64_t n = rg_stream_recv(st, &b, rg_now() + 10000 * MS);
		CHECK(n > 0 && n <= (int64_t)sizeof v->later);
		memcpy(v->later, b.data, (size_t)n);
		rg_stream_release(st, &b);
		atomic_store(&v->later_n, n);
		rg_stream_close(st);
	} else if (v->kind != K_ACCEPT && v->kind != K_CONNECT) {
		int64_t n = v->kind == K_POLL ? rg_poll(v->fd, POLLIN, rg_now() + 10000 * MS)
		                              : rg_read(v->fd, v->later, sizeof v->later, rg_now() + 10000 * MS);
		atomic_store(&v->later_n, n);
	}
	atomic_store(&v->finished, 1);
}

static struct victim *victim_start(int fd, int kind, rg_ctx *ctx, int64_t deadline)
{
	struct victim *v = calloc(1, sizeof *v);
	v->fd = fd;
	v->kind = kind;
	v->ctx = ctx;
	v->deadline = deadline;
	CHECK(rg_go(victim_fn, v) > 0);
	while (!atomic_load(&v->started))
		rg_sleep(MS / 2);
	rg_sleep(20 * MS); /* let it block (in the kernel, on io_uring) */
	CHECK(!atomic_load(&v->finished));
	return v;
}

/* Cancel while blocked: -ECANCELED promptly; later data goes whole to the
 * task's next call. */
static void test_cancel_blocked(int kind)
{
	int sp[2];
	if (kind == K_READ)
		CHECK(pipe2(sp, O_CLOEXEC) == 0); /* sp[0] read end, sp[1] write end */
	else
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	rg_ctx *ctx;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	struct victim *v = victim_start(sp[0], kind, ctx, -1);
	int64_t t0 = rg_now();
	rg_ctx_cancel(ctx);
	while (!atomic_load(&v->res))
		rg_sleep(MS / 2);
	CHECK_EQ(atomic_load(&v->res), -ECANCELED);
	CHECK(atomic_load(&v->t_end) - t0 < PROMPT);
	/* nothing was received by the cancelled call: all goes to the next */
	CHECK_EQ(write(sp[1], "later!", 6), 6);
	join_flag(&v->finished);
	if (kind == K_POLL) {
		CHECK(atomic_load(&v->later_n) & POLLIN);
		char buf[16];
		CHECK_EQ(rg_read(sp[0], buf, sizeof buf, rg_now() + 1000 * MS), 6);
		CHECK(memcmp(buf, "later!", 6) == 0);
	} else {
		CHECK_EQ(atomic_load(&v->later_n), 6);
		CHECK(memcmp(v->later, "later!", 6) == 0);
	}
	rg_ctx_release(ctx);
	free(v);
	close(sp[0]);
	close(sp[1]);
}

/* A deadline context ends a blocked rg_accept with -ETIMEDOUT at its
 * deadline (the call's own deadline later, or none); an earlier deadline
 * of the call's own still wins. */
static void test_deadline_accept(void)
{
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	for (int i = 0; i < 3; i++) {
		int64_t tmo = 50 * MS;
		rg_ctx *ctx;
		int64_t t0 = rg_now();
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), i == 2 ? 10000 * MS : tmo, &ctx), 0);
		int64_t own = i == 0 ? -1 : i == 1 ? rg_now() + 10000 * MS : rg_now() + tmo;
		struct victim *v = calloc(1, sizeof *v);
		v->fd = l;
		v->kind = K_ACCEPT;
		v->ctx = ctx;
		v->deadline = own;
		CHECK(rg_go(victim_fn, v) > 0);
		join_flag(&v->finished);
		int64_t took = atomic_load(&v->t_end) - t0;
		CHECK_EQ(atomic_load(&v->res), -ETIMEDOUT);
		CHECK(took >= tmo - MS);
		CHECK(took < tmo + PROMPT);
		if (i == 2) {
			CHECK_EQ(rg_ctx_err(ctx), 0);
		} else { /* the call need not wait for the context's deadline task */
			int64_t t1 = rg_now();
			while (rg_ctx_err(ctx) == 0) {
				rg_sleep(MS / 2);
				CHECK(rg_now() - t1 < PROMPT);
			}
			CHECK_EQ(rg_ctx_err(ctx), -ETIMEDOUT);
		}
		rg_ctx_release(ctx);
		free(v);
	}
	/* the listener still works, unbound */
	int c = t_connect(AF_INET, port, -1);
	CHECK(c >= 0);
	int s = rg_accept(l, NULL, NULL, rg_now() + 1000 * MS);
	CHECK(s >= 0);
	close(c);
	close(s);
	close(l);
}

/* rg_connect to a listener whose accept queue is full waits (the kernel
 * drops the SYNs): a cancel ends it, and so does a deadline context. */
static void test_connect(void)
{
	struct sockaddr_storage ss;
	int len = rg_sockaddr("127.0.0.1", 0, &ss);
	CHECK(len > 0);
	int l = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 1, 0);
	CHECK(l >= 0);
	socklen_t sl = sizeof ss;
	CHECK(getsockname(l, (struct sockaddr *)&ss, &sl) == 0);
	int fill[8], nfill = 0;
	for (;;) { /* fill the accept queue until a connect has to wait */
		CHECK(nfill < 8);
		int fd = rg_socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		int r = rg_connect(fd, (struct sockaddr *)&ss, (socklen_t)len, rg_now() + 100 * MS);
		if (r == -ETIMEDOUT) {
			close(fd);
			break;
		}
		CHECK_EQ(r, 0);
		fill[nfill++] = fd;
	}
	for (int i = 0; i < 2; i++) {
		rg_ctx *ctx;
		int64_t t0 = rg_now();
		if (i == 0)
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
		else
			CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 60 * MS, &ctx), 0);
		struct victim *v = calloc(1, sizeof *v);
		v->fd = rg_socket(AF_INET, SOCK_STREAM, 0);
		CHECK(v->fd >= 0);
		v->kind = K_CONNECT;
		v->ctx = ctx;
		v->deadline = -1;
		v->addr = ss;
		v->addrlen = (socklen_t)len;
		CHECK(rg_go(victim_fn, v) > 0);
		if (i == 0) {
			while (!atomic_load(&v->started))
				rg_sleep(MS / 2);
			rg_sleep(20 * MS);
			CHECK(!atomic_load(&v->finished));
			t0 = rg_now();
			rg_ctx_cancel(ctx);
		}
		join_flag(&v->finished);
		CHECK_EQ(atomic_load(&v->res), i == 0 ? -ECANCELED : -ETIMEDOUT);
		int64_t took = atomic_load(&v->t_end) - t0;
		CHECK(took < (i == 0 ? 0 : 60 * MS) + PROMPT);
		CHECK(i == 0 || took >= 59 * MS);
		close(v->fd);
		free(v);
		rg_ctx_release(ctx);
	}
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(l);
}

/* A deadline context bounds a blocked rg_recv whose own deadline is later. */
static void test_deadline_recv(void)
{
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	rg_ctx *ctx;
	int64_t t0 = rg_now();
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 40 * MS, &ctx), 0);
	rg_ctx_bind(ctx);
	char c;
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, rg_now() + 10000 * MS), -ETIMEDOUT);
	int64_t took = rg_now() - t0;
	CHECK(took >= 39 * MS && took < 40 * MS + PROMPT);
	/* and then the context is done: at once */
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, -1), -ETIMEDOUT);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);
	/* a deadline that passed before the context's task could run: the
	 * call does not wait for the task (1 P: it cannot run meanwhile) */
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 2 * MS, &ctx), 0);
	int64_t until = rg_now() + 3 * MS;
	while (rg_now() < until)
		; /* no yield */
	rg_ctx_bind(ctx);
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, -1), -ETIMEDOUT);
	CHECK_EQ(rg_poll(sp[0], POLLIN, 0), -ETIMEDOUT);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);
	/* nothing was consumed, nothing is pending */
	CHECK_EQ(rg_send(sp[1], "z", 1, 0, -1), 1);
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, rg_now() + 1000 * MS), 1);
	CHECK_EQ(c, 'z');
	close(sp[0]);
	close(sp[1]);
}

/* ---- the cancel races the data ---------------------------------------------- */

/* One racer task for the whole test (on the other P when there are two,
 * once stolen): each round it waits a few microseconds, then sends and
 * cancels the round's context, in either order. */
struct racer {
	int fd;
	_Atomic int round;       /* published last; -1: stop */
	_Atomic int done;        /* the last round finished */
	rg_ctx *ctx;
	int how;
	int64_t delay;
	size_t n;
	const unsigned char *data;
};

static void spin_for(int64_t ns)
{
	int64_t until = rg_now() + ns;
	while (rg_now() < until)
		;
}

static void racer_fn(void *arg)
{
	struct racer *r = arg;
	int last = 0;
	for (;;) {
		int k;
		while ((k = atomic_load(&r->round)) == last)
			rg_yield();
		if (k < 0)
			break;
		last = k;
		spin_for(r->delay);
		if (r->how & 1) {
			rg_ctx_cancel(r->ctx);
			if (r->how & 2)
				spin_for(r->delay / 2);
			CHECK_EQ(rg_send(r->fd, r->data, r->n, 0, -1), (int64_t)r->n);
		} else {
			CHECK_EQ(rg_send(r->fd, r->data, r->n, 0, -1), (int64_t)r->n);
			if (r->how & 2)
				spin_for(r->delay / 2);
			rg_ctx_cancel(r->ctx);
		}
		atomic_store(&r->done, k);
	}
	atomic_store(&r->done, -1);
}

static unsigned char pat(size_t k) { return (unsigned char)(k * 7 % 251); }

static void test_race(void)
{
	enum { N = 1000 };
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	static unsigned char out[N * 64];
	for (size_t k = 0; k < sizeof out; k++)
		out[k] = pat(k);
	size_t sent = 0, got = 0;
	int ndata = 0, ncancel = 0;
	unsigned char buf[64];
	static struct racer r;
	memset(&r, 0, sizeof r);
	r.fd = sp[1];
	CHECK(rg_go(racer_fn, &r) > 0);
	for (int i = 0; i < N; i++) {
		rg_ctx *ctx;
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
		r.ctx = ctx;
		r.how = i & 3;
		r.delay = (int64_t)((unsigned)i * 37u % 60u) * 1000; /* 0..59 us */
		r.n = 1 + (size_t)(i * 13) % 64;
		r.data = out + sent;
		sent += r.n;
		atomic_store(&r.round, i + 1);
		rg_ctx_bind(ctx);
		int64_t n = rg_recv(sp[0], buf, sizeof buf, 0, -1);
		rg_ctx_bind(NULL);
		if (n == -ECANCELED) {
			ncancel++;
		} else {
			CHECK(n > 0 && got + (size_t)n <= sent);
			for (int64_t k = 0; k < n; k++)
				CHECK_EQ(buf[k], pat(got + (size_t)k));
			got += (size_t)n;
			ndata++;
		}
		/* no cancel left behind for the next, unbound call */
		CHECK(rg_poll(sp[0], POLLOUT, 0) > 0);
		while (atomic_load(&r.done) != i + 1)
			rg_yield();
		rg_ctx_release(ctx);
		/* the rest of the round's bytes are there (the next round starts
		 * on an empty socket, so that its recv has to wait) */
		while (got < sent) {
			n = rg_recv(sp[0], buf, sizeof buf, 0, rg_now() + 1000 * MS);
			CHECK(n > 0);
			for (int64_t k = 0; k < n; k++)
				CHECK_EQ(buf[k], pat(got + (size_t)k));
			got += (size_t)n;
		}
	}
	atomic_store(&r.round, -1);
	while (atomic_load(&r.done) != -1)
		rg_yield();
	CHECK_EQ(got, sent);
	CHECK_EQ(rg_recv(sp[0], buf, sizeof buf, 0, 0), -EAGAIN);
	printf("  race (%d P): %d data, %d cancelled, %zu bytes\n", g_procs, ndata, ncancel, got);
	close(sp[0]);
	close(sp[1]);
}

/* ---- a cancelled ancestor ------------------------------------------------------ */

static void test_grandchild(void)
{
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	static const int key = 1;
	rg_ctx *root, *val, *child, *grand;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &root), 0);
	CHECK_EQ(rg_ctx_with_value(root, &key, NULL, &val), 0);
	CHECK_EQ(rg_ctx_with_cancel(val, &child), 0);
	CHECK_EQ(rg_ctx_with_timeout(child, 10000 * MS, &grand), 0);
	struct victim *v = victim_start(sp[0], K_RECV, grand, -1);
	int64_t t0 = rg_now();
	rg_ctx_cancel(root);
	while (!atomic_load(&v->res))
		rg_sleep(MS / 2);
	CHECK_EQ(atomic_load(&v->res), -ECANCELED);
	CHECK(atomic_load(&v->t_end) - t0 < PROMPT);
	CHECK_EQ(rg_ctx_err(grand), -ECANCELED);
	CHECK_EQ(write(sp[1], "later!", 6), 6);
	join_flag(&v->finished);
	CHECK_EQ(atomic_load(&v->later_n), 6);
	free(v);
	rg_ctx_release(grand);
	rg_ctx_release(child);
	rg_ctx_release(val);
	rg_ctx_release(root);
	close(sp[0]);
	close(sp[1]);
}

/* ---- a context that has already ended ------------------------------------------ */

static void test_already_ended(void)
{
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	CHECK_EQ(rg_send(sp[1], "abc", 3, 0, -1), 3);
	for (int i = 0; i < 2; i++) {
		rg_ctx *ctx;
		int want = i == 0 ? -ECANCELED : -ETIMEDOUT;
		if (i == 0) {
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
			rg_ctx_cancel(ctx);
		} else {
			CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), rg_now() - MS, &ctx), 0);
		}
		CHECK_EQ(rg_ctx_err(ctx), want);
		rg_ctx_bind(ctx);
		char c[8];
		int64_t t0 = rg_now();
		/* even calls that would not wait: data is there, room is there */
		CHECK_EQ(rg_recv(sp[0], c, sizeof c, 0, -1), want);
		CHECK_EQ(rg_recv(sp[0], c, sizeof c, 0, 0), want);
		CHECK_EQ(rg_send(sp[1], "x", 1, 0, -1), want);
		CHECK_EQ(rg_poll(sp[0], POLLIN, -1), want);
		CHECK_EQ(rg_accept(l, NULL, NULL, -1), want);
		rg_stream *st;
		CHECK_EQ(rg_stream_open(&st, sp[0]), 0);
		rg_buf b;
		CHECK_EQ(rg_stream_recv(st, &b, -1), want);
		rg_stream_close(st);
		CHECK(rg_now() - t0 < PROMPT);
		/* close is never cut short: the fd goes */
		int fd = dup(sp[0]);
		CHECK(fd >= 0);
		CHECK_EQ(rg_close(fd), 0);
		CHECK(fcntl(fd, F_GETFD) < 0);
		rg_ctx_bind(NULL);
		rg_ctx_release(ctx);
	}
	/* nothing consumed, nothing pending */
	char c[8];
	CHECK_EQ(rg_recv(sp[0], c, sizeof c, 0, rg_now() + 1000 * MS), 3);
	CHECK(memcmp(c, "abc", 3) == 0);
	CHECK_EQ(rg_recv(sp[0], c, sizeof c, 0, 0), -EAGAIN);
	close(l);
	close(sp[0]);
	close(sp[1]);
}

static int main_fn(void *arg)
{
	(void)arg;
	int before = t_open_fds();
	printf("backend %s, %d P\n", rg_io_backend(), g_procs);
	test_cancel_blocked(K_RECV);
	test_cancel_blocked(K_READ);
	test_cancel_blocked(K_POLL);
	test_cancel_blocked(K_STREAM);
	test_deadline_accept();
	test_connect();
	test_deadline_recv();
	test_race();
	test_grandchild();
	test_already_ended();
	CHECK_EQ(t_open_fds(), before);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	g_procs = 1;
	CHECK_EQ(t_run(main_fn, 1), 0);
	g_procs = 2;
	CHECK_EQ(t_run(main_fn, 2), 0);
	printf("ctxio: ok\n");
	return T_PASS;
}
