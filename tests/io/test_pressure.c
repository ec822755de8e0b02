/* io/ under pressure (review 2026-12, round 2): many connections, a
 * provided-buffer pool that runs dry, injected faults, cancels at random
 * moments with the fd then closed and its number reused, a tiny ring.
 * Each case runs in its own rg_run, on the backend the binary runs on
 * (test_pressure_epoll.c is the epoll twin), under alarm(): a hang fails
 * the case with SIGALRM, not the ctest timeout.
 *
 *   ring_tiny       rg_config.ring_entries = 1: a call with a deadline
 *                   needs two SQEs (op + LINK_TIMEOUT); it must not spin
 *                   forever making room for them.  Then 64 tasks on a
 *                   2-entry ring.
 *   cq_overflow     400 tasks parked in rg_recv_exact on socketpairs with
 *                   ring_entries 4 (CQ 8), 2 Ps: far more completions at
 *                   once than CQ entries; every byte arrives, in order.
 *   stream_starve_close
 *                   pool of 2 buffers: stream A fills both (pool dry);
 *                   stream B's task waits (starved); A is closed, giving
 *                   both buffers back: B must be re-armed and get its data.
 *   many_echo       500 loopback TCP connections (multishot accept, one
 *                   rg_stream per connection on a 64-buffer pool: -ENOBUFS
 *                   all the time), RINGO_FAULTS short/eagain/enobufs/delay
 *                   on the clients, 2 Ps: every byte echoed once, in order
 *                   (checked byte by byte against a per-connection
 *                   generator).
 *   cancel_reuse    tasks parked in recv / send (full buffer) / poll /
 *                   accept / connect (full backlog) / stream_recv, cancelled
 *                   by rg_cancel or their bound Context at random moments;
 *                   the fd is closed right away (the call may still be in
 *                   flight) and the number reused by a new connection at
 *                   once: the new connection's bytes all arrive, in order,
 *                   to the right reader.
 *   deadline_now    deadline == rg_now() on recv, send, poll, accept,
 *                   stream_recv: -ETIMEDOUT without consuming anything.
 *
 * `test_pressure CASE` runs one case.
 */
// ctest-timeout: 180
#include <poll.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "core/core.h"
#include "io_test.h"
#include "ringo/sync.h"

static bool epoll_be(void) { return strcmp(rg_io_backend(), "epoll") == 0; }

/* a byte stream that both ends can regenerate: byte i of connection c */
static inline uint8_t gen(uint32_t c, uint64_t i)
{
	uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)c << 40);
	z = (z ^ (z >> 29)) * 0xbf58476d1ce4e5b9ull;
	return (uint8_t)(z >> 56);
}

/* xorshift shared by the tasks of both Ps */
static uint32_t rnd32(void)
{
	static _Atomic uint64_t s = 88172645463325252ull;
	uint64_t x = atomic_load_explicit(&s, memory_order_relaxed), n;
	do {
		n = x;
		n ^= n << 13;
		n ^= n >> 7;
		n ^= n << 17;
	} while (!atomic_compare_exchange_weak(&s, &x, n));
	return (uint32_t)(n >> 16);
}

/* ---- ring_tiny ------------------------------------------------------------ */

static _Atomic int g_done;
static _Atomic int g_bad;

static void tiny_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char b[8];
	ssize_t r = rg_recv_exact(fd, b, sizeof b, rg_now() + 5000 * MS, NULL);
	if (r != (ssize_t)sizeof b || memcmp(b, "abcdefgh", 8))
		atomic_fetch_add(&g_bad, 1);
	atomic_fetch_add(&g_done, 1);
}

static int c_ring_tiny(void *arg)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	char b[8];
	/* a deadline: op + LINK_TIMEOUT, two SQEs on a ring of one */
	ssize_t r = rg_recv(sv[0], b, sizeof b, 0, rg_now() + 20 * MS);
	CHECK_EQ(r, -ETIMEDOUT);
	CHECK_EQ(rg_send(sv[1], "x", 1, 0, rg_now() + 1000 * MS), 1);
	CHECK_EQ(rg_recv(sv[0], b, sizeof b, 0, rg_now() + 1000 * MS), 1);
	rg_close(sv[0]);
	rg_close(sv[1]);
	return 0;
}

static int c_ring_small(void *arg)
{
	enum { N = 64 };
	int sv[N][2];
	atomic_store(&g_done, 0);
	atomic_store(&g_bad, 0);
	for (int i = 0; i < N; i++) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) == 0);
		CHECK(rg_go(tiny_reader, (void *)(intptr_t)sv[i][0]) > 0);
	}
	rg_sleep(10 * MS);
	for (int i = 0; i < N; i++)
		CHECK_EQ(rg_send_all(sv[i][1], "abcdefgh", 8, rg_now() + 1000 * MS, NULL), 8);
	t_wait_count(&g_done, N);
	CHECK_EQ(atomic_load(&g_bad), 0);
	for (int i = 0; i < N; i++) {
		rg_close(sv[i][0]);
		rg_close(sv[i][1]);
	}
	return 0;
}

/* ---- cq_overflow -------------------------------------------------------------- */

#define CQ_N (T_SANITIZED ? 150 : 400)
#define CQ_LEN 256

static void cq_reader(void *arg)
{
	intptr_t v = (intptr_t)arg;
	int fd = (int)(v & 0xffff);
	uint32_t c = (uint32_t)(v >> 16);
	uint8_t b[CQ_LEN];
	ssize_t r = rg_recv_exact(fd, b, sizeof b, rg_now() + 20000 * MS, NULL);
	bool ok = r == CQ_LEN;
	for (int i = 0; ok && i < CQ_LEN; i++)
		ok = b[i] == gen(c, (uint64_t)i);
	if (!ok)
		atomic_fetch_add(&g_bad, 1);
	atomic_fetch_add(&g_done, 1);
}

static int c_cq_overflow(void *arg)
{
	static int sv[400][2];
	atomic_store(&g_done, 0);
	atomic_store(&g_bad, 0);
	for (int i = 0; i < CQ_N; i++) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) == 0);
		CHECK(rg_go(cq_reader, (void *)(((intptr_t)i << 16) | sv[i][0])) > 0);
	}
	rg_sleep(50 * MS); /* all parked, their SQEs in the kernel */
	/* every completion at once (plain send: no SQE of ours) */
	uint8_t b[CQ_LEN];
	for (int i = 0; i < CQ_N; i++) {
		for (int k = 0; k < CQ_LEN; k++)
			b[k] = gen((uint32_t)i, (uint64_t)k);
		CHECK_EQ(send(sv[i][1], b, CQ_LEN, MSG_NOSIGNAL), CQ_LEN);
	}
	t_wait_count(&g_done, CQ_N);
	CHECK_EQ(atomic_load(&g_bad), 0);
	for (int i = 0; i < CQ_N; i++) {
		rg_close(sv[i][0]);
		rg_close(sv[i][1]);
	}
	return 0;
}

/* ---- stream_starve_close -------------------------------------------------------- */

/* pool of 2 buffers of 1 KiB (RINGO_BUFRING, set by main for this case) */
#define SS_BSZ 1024

struct sres {
	rg_stream *s;
	_Atomic int state;
	_Atomic int64_t r;
	char data[16];
};

static void ss_reader(void *arg)
{
	struct sres *x = arg;
	rg_buf b;
	atomic_store(&x->state, 1);
	ssize_t r = rg_stream_recv(x->s, &b, rg_now() + 2000 * MS);
	if (r > 0) {
		memcpy(x->data, b.data, (size_t)r < sizeof x->data ? (size_t)r : sizeof x->data);
		rg_stream_release(x->s, &b);
	}
	atomic_store(&x->r, r);
	atomic_store(&x->state, 2);
}

static int c_stream_starve_close(void *arg)
{
	int a[2], b[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
	rg_stream *sa, *sb;
	CHECK_EQ(rg_stream_open(&sa, a[0]), 0);
	CHECK_EQ(rg_stream_open(&sb, b[0]), 0);
	rg_buf buf;
	CHECK_EQ(rg_stream_recv(sa, &buf, 0), -EAGAIN); /* arms A */
	/* three buffers' worth for A: the pool (2) runs dry */
	static char big[3 * SS_BSZ];
	memset(big, 'a', sizeof big);
	CHECK_EQ(send(a[1], big, sizeof big, MSG_NOSIGNAL), (ssize_t)sizeof big);
	rg_sleep(30 * MS);
	/* B waits, starved (io_uring: no buffer to arm it with) */
	struct sres x = { .s = sb };
	CHECK(rg_go(ss_reader, &x) > 0);
	while (atomic_load(&x.state) < 1)
		rg_sleep(MS / 2);
	rg_sleep(20 * MS);
	CHECK_EQ(send(b[1], "hello", 5, MSG_NOSIGNAL), 5);
	rg_sleep(20 * MS);
	/* A goes, never read: both buffers back to the pool */
	rg_stream_close(sa);
	while (atomic_load(&x.state) < 2)
		rg_sleep(MS / 2);
	printf("  starved stream after the other closed: %lld\n", (long long)atomic_load(&x.r));
	CHECK_EQ(atomic_load(&x.r), 5);
	CHECK(memcmp(x.data, "hello", 5) == 0);
	/* and the pool is whole: B gets 2 buffers' worth in 1 KiB pieces */
	CHECK_EQ(send(b[1], big, 2 * SS_BSZ, MSG_NOSIGNAL), 2 * SS_BSZ);
	size_t got = 0;
	while (got < 2 * SS_BSZ) {
		ssize_t r = rg_stream_recv(sb, &buf, rg_now() + 2000 * MS);
		CHECK(r > 0);
		got += (size_t)r;
		rg_stream_release(sb, &buf);
	}
	rg_stream_close(sb);
	rg_close(a[0]);
	rg_close(a[1]);
	rg_close(b[0]);
	rg_close(b[1]);
	return 0;
}

/* ---- many_echo ---------------------------------------------------------------------- */

#define ME_N (T_SANITIZED ? 100 : 500)
#define ME_LEN (T_SANITIZED ? 4096 : 32768)
#define ME_DL (rg_now() + 60000 * MS)

static int g_port;
static _Atomic int g_accepted;
static _Atomic int g_srv_done;

static void me_bad(const char *what, long long v)
{
	if (atomic_fetch_add(&g_bad, 1) < 5)
		fprintf(stderr, "  many_echo: %s: %lld\n", what, v);
}

/* send all of p[0..n), retrying injected -ENOBUFS; sometimes deadline 0
 * (injected -EAGAIN then goes through rg_poll) */
static bool send_some(int fd, const uint8_t *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		bool nb = (rnd32() & 3) == 0;
		ssize_t k = rg_send(fd, p + off, n - off, 0, nb ? 0 : ME_DL);
		if (k == -ENOBUFS)
			continue;
		if (k == -EAGAIN && nb) {
			int pr = rg_poll(fd, POLLOUT, ME_DL);
			if (pr < 0) {
				me_bad("poll", pr);
				return false;
			}
			continue;
		}
		if (k <= 0) {
			me_bad("send", k);
			return false;
		}
		off += (size_t)k;
	}
	return true;
}

static void me_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	rg_stream *s;
	int r = rg_stream_open(&s, fd);
	if (r) {
		me_bad("stream_open", r);
		rg_close(fd);
		atomic_fetch_add(&g_srv_done, 1);
		return;
	}
	for (;;) {
		rg_buf b;
		ssize_t n = rg_stream_recv(s, &b, ME_DL);
		if (n == 0)
			break;
		if (n < 0) {
			me_bad("stream_recv", n);
			break;
		}
		bool ok = send_some(fd, b.data, b.len);
		rg_stream_release(s, &b);
		if (!ok)
			break;
	}
	rg_stream_close(s);
	rg_shutdown(fd, SHUT_WR);
	rg_close(fd);
	atomic_fetch_add(&g_srv_done, 1);
}

static void me_acceptor(void *arg)
{
	int l = (int)(intptr_t)arg;
	for (int i = 0; i < ME_N; i++) {
		int fd = rg_accept(l, NULL, NULL, ME_DL);
		if (fd < 0) {
			me_bad("accept", fd);
			return;
		}
		atomic_fetch_add(&g_accepted, 1);
		CHECK(rg_go(me_conn, (void *)(intptr_t)fd) > 0);
	}
}

struct me_cli {
	uint32_t c;
	int fd;
	_Atomic int rdone;
};

static void me_reader(void *arg)
{
	struct me_cli *k = arg;
	uint8_t b[8192];
	uint64_t got = 0;
	for (;;) {
		size_t want = 1 + rnd32() % sizeof b;
		ssize_t n = rg_recv(k->fd, b, want, 0, ME_DL);
		if (n == -ENOBUFS)
			continue;
		if (n < 0) {
			me_bad("client recv", n);
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (b[i] != gen(k->c, got + (uint64_t)i)) {
				me_bad("byte mismatch at", (long long)(got + (uint64_t)i));
				n = -1;
				break;
			}
		if (n < 0)
			break;
		got += (uint64_t)n;
	}
	if (got != ME_LEN)
		me_bad("echoed bytes", (long long)got);
	atomic_store(&k->rdone, 1);
}

static void me_client(void *arg)
{
	struct me_cli *k = arg;
	int fd;
	/* injected delays and a busy listener: retry a refused connect */
	for (int tries = 0;; tries++) {
		fd = t_connect(AF_INET, g_port, ME_DL);
		if (fd >= 0 || tries > 20)
			break;
		rg_sleep(MS);
	}
	if (fd < 0) {
		me_bad("connect", fd);
		atomic_fetch_add(&g_done, 1);
		return;
	}
	k->fd = fd;
	CHECK(rg_go(me_reader, k) > 0);
	uint8_t b[4096];
	uint64_t off = 0;
	while (off < ME_LEN) {
		size_t n = 1 + rnd32() % sizeof b;
		if (n > ME_LEN - off)
			n = (size_t)(ME_LEN - off);
		for (size_t i = 0; i < n; i++)
			b[i] = gen(k->c, off + i);
		if (!send_some(fd, b, n))
			break;
		off += n;
	}
	rg_shutdown(fd, SHUT_WR);
	while (!atomic_load(&k->rdone))
		rg_sleep(MS);
	rg_close(fd);
	atomic_fetch_add(&g_done, 1);
}

static int c_many_echo(void *arg)
{
	static struct me_cli cli[500];
	atomic_store(&g_done, 0);
	atomic_store(&g_bad, 0);
	atomic_store(&g_accepted, 0);
	atomic_store(&g_srv_done, 0);
	int l = t_listen(AF_INET, &g_port);
	CHECK(l >= 0);
	CHECK(rg_go(me_acceptor, (void *)(intptr_t)l) > 0);
	int64_t t0 = rg_now();
	for (int i = 0; i < ME_N; i++) {
		cli[i].c = (uint32_t)i;
		cli[i].fd = -1;
		atomic_store(&cli[i].rdone, 0);
		CHECK(rg_go(me_client, &cli[i]) > 0);
	}
	while (atomic_load(&g_done) < ME_N || atomic_load(&g_srv_done) < atomic_load(&g_accepted))
		rg_sleep(MS);
	printf("  %d connections x %d bytes echoed in %.0f ms, %d problems\n", ME_N, ME_LEN,
	       (rg_now() - t0) / 1e6, atomic_load(&g_bad));
	CHECK_EQ(atomic_load(&g_bad), 0);
	CHECK_EQ(atomic_load(&g_accepted), ME_N);
	rg_close(l);
	return 0;
}

/* ---- cancel_reuse ------------------------------------------------------------------- */

enum { K_RECV, K_SEND, K_POLL, K_ACCEPT, K_CONNECT, K_STREAM, K_N };
static const char *const kname[K_N] = { "recv", "send", "poll", "accept", "connect", "stream" };

struct cr {
	int kind;
	int fd;
	rg_ctx *ctx;
	struct sockaddr_storage ss;
	socklen_t sl;
	_Atomic int state;
	_Atomic int64_t id;
	_Atomic int64_t r;
};

/* close_parked: io_uring only (the fd goes to the kernel in an SQE,
 * which TSan does not see); on epoll TSan would pair the task's
 * epoll_ctl with our close.  cancel_reuse cancels before it closes:
 * rg_cancel's claim of the published op (acquire) orders them.  Both wait
 * for the task to park in its io call first (t_wait_parked). */
static void cr_task(void *arg)
{
	struct cr *x = arg;
	static char big[65536];
	char b[64];
	int64_t r = 0;
	atomic_store(&x->id, rg_self());
	if (x->ctx)
		rg_ctx_bind(x->ctx);
	atomic_store(&x->state, 1);
	switch (x->kind) {
	case K_RECV:
		r = rg_recv(x->fd, b, sizeof b, 0, -1);
		break;
	case K_SEND:
		r = rg_send(x->fd, big, sizeof big, 0, -1);
		break;
	case K_POLL:
		r = rg_poll(x->fd, POLLIN, -1);
		break;
	case K_ACCEPT:
		/* twice in a row: the second owns a multishot */
		r = rg_accept(x->fd, NULL, NULL, rg_now() + MS / 10);
		if (r == -ETIMEDOUT)
			r = rg_accept(x->fd, NULL, NULL, -1);
		break;
	case K_CONNECT:
		r = rg_connect(x->fd, (struct sockaddr *)&x->ss, x->sl, -1);
		break;
	case K_STREAM: {
		rg_stream *s;
		CHECK_EQ(rg_stream_open(&s, x->fd), 0);
		rg_buf sb;
		r = rg_stream_recv(s, &sb, -1);
		if (r > 0)
			rg_stream_release(s, &sb);
		rg_stream_close(s);
		break;
	}
	}
	if (x->ctx)
		rg_ctx_bind(NULL);
	atomic_store(&x->r, r);
	atomic_store(&x->state, 2);
}

/* a fresh connected pair (numbers likely reused): 4 KiB each way, checked */
static void check_new_pair(uint32_t round)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	uint8_t out[4096], in[4096];
	for (int dir = 0; dir < 2; dir++) {
		for (int i = 0; i < (int)sizeof out; i++)
			out[i] = gen(round * 2 + (uint32_t)dir, (uint64_t)i);
		CHECK_EQ(rg_send_all(sv[dir], out, sizeof out, rg_now() + 2000 * MS, NULL), (ssize_t)sizeof out);
		ssize_t r = rg_recv_exact(sv[1 - dir], in, sizeof in, rg_now() + 2000 * MS, NULL);
		if (r != (ssize_t)sizeof in || memcmp(in, out, sizeof in)) {
			fprintf(stderr, "  round %u: new pair fds %d,%d: got %zd bytes%s\n", round, sv[0], sv[1], r,
			        r == (ssize_t)sizeof in ? ", wrong ones" : "");
			CHECK(0);
		}
	}
	rg_close(sv[0]);
	rg_close(sv[1]);
}

static void fill_sock(int fd)
{
	static char z[65536];
	while (send(fd, z, sizeof z, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
}

#define CR_ROUNDS (T_SANITIZED ? 120 : 600)

static int c_cancel_reuse(void *arg)
{
	int lport = 0;
	int full = t_listen(AF_INET, &lport); /* connect target, its backlog filled below */
	CHECK(full >= 0);
	rg_close(full);
	struct sockaddr_storage fss;
	int fsl = rg_sockaddr("127.0.0.1", 0, &fss);
	full = rg_listen((struct sockaddr *)&fss, (socklen_t)fsl, 1, 0);
	CHECK(full >= 0);
	socklen_t sl = sizeof fss;
	CHECK(getsockname(full, (struct sockaddr *)&fss, &sl) == 0);
	int filler[8];
	for (int i = 0; i < 8; i++) {
		filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(filler[i], (struct sockaddr *)&fss, sl);
	}
	rg_sleep(20 * MS);
	int counts[K_N][3] = { { 0 } };
	for (uint32_t round = 0; round < CR_ROUNDS; round++) {
		struct cr x = { .kind = (int)(rnd32() % K_N) };
		bool in_flight = rnd32() & 1; /* close right after the cancel */
		bool by_ctx = (rnd32() % 3) == 0;
		int peer = -1;
		if (x.kind == K_ACCEPT) {
			x.fd = t_listen(AF_INET, &lport);
		} else if (x.kind == K_CONNECT) {
			x.fd = rg_socket(AF_INET, SOCK_STREAM, 0);
			x.ss = fss;
			x.sl = sl;
		} else {
			int sv[2];
			CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
			x.fd = sv[0];
			peer = sv[1];
			if (x.kind == K_SEND)
				fill_sock(x.fd);
		}
		CHECK(x.fd >= 0);
		if (x.kind == K_STREAM)
			in_flight = false; /* a stream is closed before its fd */
		if (by_ctx)
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &x.ctx), 0);
		CHECK(rg_go(cr_task, &x) > 0);
		while (atomic_load(&x.state) < 1)
			rg_yield();
		if (in_flight) {
			/* parked in its call: a sleep was not enough on a loaded
			 * machine (2026-12-06 CI, epoll: connect and poll entered
			 * their call, the cancel found nothing published and
			 * stayed pending, our close came before their syscall,
			 * which said -EBADF; a caller's race, not a lost cancel) */
			rg_sleep(2 * MS);
			t_wait_parked(atomic_load(&x.id));
		} else {
			uint32_t d = rnd32() % 4;
			if (d == 1)
				rg_yield();
			else if (d == 2)
				rg_sleep(rnd32() % (200 * 1000));
			else if (d == 3)
				rg_sleep(MS);
		}
		if (by_ctx)
			rg_ctx_cancel(x.ctx);
		else
			CHECK(rg_cancel(atomic_load(&x.id)) == 0 || atomic_load(&x.state) == 2);
		if (in_flight) {
			/* the call may still be in the kernel: close the number
			 * now and reuse it at once */
			CHECK_EQ(rg_close(x.fd), 0);
			check_new_pair(round);
		}
		while (atomic_load(&x.state) < 2)
			rg_sleep(MS / 4);
		int64_t r = atomic_load(&x.r);
		bool ok = r == -ECANCELED || (x.kind == K_ACCEPT && in_flight && r == -EBADF);
		if (!ok) {
			fprintf(stderr, "  round %u: %s%s%s returned %lld\n", round, kname[x.kind],
			        by_ctx ? " (ctx)" : "", in_flight ? " (closed)" : "", (long long)r);
			CHECK(0);
		}
		counts[x.kind][in_flight ? 1 : 0]++;
		if (!in_flight) {
			CHECK_EQ(rg_close(x.fd), 0);
			check_new_pair(round);
		}
		/* a cancel pending for this task (its call completed first)
		 * dies with it; ours are fresh tasks */
		if (peer >= 0)
			rg_close(peer);
		if (x.ctx)
			rg_ctx_release(x.ctx);
	}
	for (int k = 0; k < K_N; k++)
		printf("  %-8s cancelled %d times at random, %d in flight then closed\n", kname[k], counts[k][0],
		       counts[k][1]);
	for (int i = 0; i < 8; i++)
		close(filler[i]);
	rg_close(full);
	return 0;
}

/* ---- close_parked (io_uring) ---------------------------------------------------- */

static int c_close_parked(void *arg)
{
	if (epoll_be()) {
		printf("  epoll: a waiter on a closed, reused number may see the new file (docs/io.md)\n");
		return 0;
	}
	for (uint32_t round = 0; round < (T_SANITIZED ? 20 : 100); round++) {
		int sv[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		struct cr x = { .kind = K_RECV, .fd = sv[0] };
		CHECK(rg_go(cr_task, &x) > 0);
		while (atomic_load(&x.state) < 1)
			rg_yield();
		/* 1 P: the task has queued its SQE and parked (maybe not yet
		 * submitted: rg_close must flush it).  2 Ps: it may still be
		 * on its way into rg_recv; a call made after the close is the
		 * caller's race, not the library's: let it get there. */
		if ((round & 1) || rg_procs() > 1)
			t_wait_parked(atomic_load(&x.id));
		CHECK_EQ(rg_close(sv[0]), 0); /* the parked recv keeps the old file */
		check_new_pair(round);
		if (atomic_load(&x.state) != 1)
			fprintf(stderr, "  round %u: the parked recv returned %lld\n", round, (long long)atomic_load(&x.r));
		CHECK_EQ(atomic_load(&x.state), 1);
		CHECK_EQ(rg_send(sv[1], "q", 1, 0, -1), 1);
		while (atomic_load(&x.state) < 2)
			rg_sleep(MS / 4);
		CHECK_EQ(atomic_load(&x.r), 1);
		rg_close(sv[1]);
	}
	return 0;
}

/* ---- deadline_now --------------------------------------------------------------- */

static int c_deadline_now(void *arg)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_EQ(send(sv[1], "abc", 3, 0), 3);
	char b[8];
	CHECK_EQ(rg_recv(sv[0], b, sizeof b, 0, rg_now()), -ETIMEDOUT);
	CHECK_EQ(rg_send(sv[0], "x", 1, 0, rg_now()), -ETIMEDOUT);
	CHECK_EQ(rg_poll(sv[0], POLLIN, rg_now()), -ETIMEDOUT);
	rg_stream *s;
	CHECK_EQ(rg_stream_open(&s, sv[0]), 0);
	rg_buf sb;
	CHECK_EQ(rg_stream_recv(s, &sb, rg_now()), -ETIMEDOUT);
	CHECK_EQ(rg_stream_recv(s, &sb, rg_now() + 2000 * MS), 3);
	CHECK(memcmp(sb.data, "abc", 3) == 0);
	rg_stream_release(s, &sb);
	rg_stream_close(s);
	CHECK_EQ(recv(sv[1], b, sizeof b, MSG_DONTWAIT), -1); /* the "x" never went */
	int port = 0;
	int l = t_listen(AF_INET, &port);
	int c = t_connect(AF_INET, port, -1);
	CHECK(c >= 0);
	rg_sleep(5 * MS);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now()), -ETIMEDOUT);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now()), -ETIMEDOUT);
	int a = rg_accept(l, NULL, NULL, rg_now() + 2000 * MS);
	CHECK(a >= 0);
	rg_close(a);
	rg_close(c);
	rg_close(l);
	rg_close(sv[0]);
	rg_close(sv[1]);
	return 0;
}

/* ---- the table ------------------------------------------------------------------ */

struct tcase {
	const char *name;
	int (*fn)(void *);
	unsigned ring_entries;
	const char *bufring;
	const char *faults;
	unsigned alarm_s;
};

static const struct tcase cases[] = {
	{ "ring_tiny", c_ring_tiny, 1, NULL, NULL, 10 },
	{ "ring_small", c_ring_small, 2, NULL, NULL, 20 },
	{ "cq_overflow", c_cq_overflow, 4, NULL, NULL, 40 },
	{ "stream_starve_close", c_stream_starve_close, 0, "2x1024", NULL, 20 },
	{ "many_echo", c_many_echo, 0, "64x4096", "short:0.3,eagain:0.3,enobufs:0.05,delay:0.01,delay_us:200",
	  100 },
	{ "cancel_reuse", c_cancel_reuse, 0, "16x1024", NULL, 100 },
	{ "close_parked", c_close_parked, 0, NULL, NULL, 40 },
	{ "deadline_now", c_deadline_now, 0, NULL, NULL, 20 },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	t_raise_nofile(8192);
	const char *only = argc > 1 ? argv[1] : NULL;
	bool found = false;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct tcase *c = &cases[i];
		if (only && strcmp(only, c->name))
			continue;
		found = true;
		for (int procs = 1; procs <= 2; procs++) {
			printf("%s, %d P:\n", c->name, procs);
			int64_t t0 = t_mono_();
			if (c->bufring)
				setenv("RINGO_BUFRING", c->bufring, 1);
			if (c->faults)
				setenv("RINGO_FAULTS", c->faults, 1);
			alarm(c->alarm_s * (T_SANITIZED ? 3 : 1));
			rg_config cfg = { .procs = procs, .quiet = 1, .ring_entries = c->ring_entries };
			CHECK_EQ(rg_run(c->fn, NULL, &cfg), 0);
			alarm(0);
			unsetenv("RINGO_BUFRING");
			unsetenv("RINGO_FAULTS");
			printf("%s, %d P: ok (%.0f ms)\n", c->name, procs, (t_mono_() - t0) / 1e6);
		}
	}
	if (!found) {
		fprintf(stderr, "no case named %s\n", only);
		return T_FAIL;
	}
	return T_PASS;
}
