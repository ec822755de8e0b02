/* rg_close of an fd other tasks are waiting on.  ringo/io.h: "rg_close
 * does not interrupt calls other tasks are making on the same fd: those
 * keep the open file alive until they complete", and the API and its
 * results are the same on both backends.  Each case parks a task in a
 * call on one end of a pair, rg_closes that fd from another task, checks
 * the call still waits, then lets it complete:
 *
 *   recv     the peer's send succeeds and the waiter gets the byte; once
 *            it has returned the file is gone (the peer sees EOF);
 *   reuse    the closed number is reused at once for a new pair, which
 *            becomes readable: the old waiter must not be woken into the
 *            new file (it took the new file's byte), and the new file's
 *            own reader works meanwhile;
 *   send     a sender blocked on a full socket: the peer drains it, the
 *            send completes on the old file, every byte arrives;
 *   poll     rg_poll(POLLIN) gets the peer's byte;
 *   connect  an AF_UNIX connect waiting for room in a full backlog: room
 *            is made after the close, the connect completes (0);
 *   nofds    no fd left under RLIMIT_NOFILE for the dup the epoll backend
 *            hands a waiter: -EBADF there, never the closed number (which
 *            the next open reuses); io_uring's op needs none;
 *   race     rounds where the peer's byte and the close come at once (the
 *            waiter may be woken before the close and retry after it), the
 *            close made by a task or by a thread outside the runtime: the
 *            waiter always gets its byte.
 * No fd is left behind.  On 1 and 2 Ps; test_close_keeps_file_epoll.c
 * runs it on the epoll backend, where a waiting call held nothing: the
 * close really closed the socket (the peer's send -EPIPE), the waiter slept
 * until its deadline, or was woken by the new file that got the number
 * and read its byte. */
// ctest-timeout: 180
#include <poll.h>
#include <pthread.h>
#include <sys/un.h>

#include "io_test.h"

#define WAIT (5000 * MS) /* a waiting call's deadline: never reached */
#define ROUNDS (T_SANITIZED ? 100 : 300)

enum { W_RECV, W_SEND, W_POLL, W_CONNECT };

/* errno through a call the compiler cannot see into: main moves between
 * Ps' threads at its parks, and an &errno kept from before one reads the
 * old thread's (ringo/core.h) */
static RG__NOIPA int t_errno(void) { return errno; }

struct waiter {
	int kind, fd;
	const void *addr;   /* W_CONNECT */
	socklen_t addrlen;
	size_t len;         /* W_SEND */
	char byte;          /* W_RECV: what it got */
	_Atomic int64_t id, res;
	_Atomic int started, done;
};

static void waiter_fn(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->id, rg_self());
	atomic_store(&w->started, 1);
	int64_t dl = rg_now() + WAIT, r = 0;
	static char out[4096];
	switch (w->kind) {
	case W_RECV: {
		char c = 0;
		r = rg_recv(w->fd, &c, 1, 0, dl);
		w->byte = c;
		break;
	}
	case W_SEND:
		memset(out, 'w', sizeof out);
		r = rg_send(w->fd, out, w->len, 0, dl);
		break;
	case W_POLL:
		r = rg_poll(w->fd, POLLIN, dl);
		break;
	case W_CONNECT:
		r = rg_connect(w->fd, w->addr, w->addrlen, dl);
		break;
	}
	atomic_store(&w->res, r);
	atomic_store(&w->done, 1);
}

/* starts w and returns once it waits in its call */
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
		rg_sleep(MS / 2);
	CHECK(atomic_load(&w->done));
	return atomic_load(&w->res);
}

/* closes fd under w, which must go on waiting */
static void close_under(struct waiter *w, int fd)
{
	CHECK_EQ(rg_close(fd), 0);
	CHECK(fcntl(fd, F_GETFD) == -1 && t_errno() == EBADF); /* the number is free */
	rg_sleep(5 * MS); /* (the P polls: a readiness lost or misrouted shows) */
	if (atomic_load(&w->done))
		printf("%s: the call returned %lld right after the close\n", rg_io_backend(),
		       (long long)atomic_load(&w->res)), fflush(stdout);
	CHECK(!atomic_load(&w->done));
}

/* the peer of a closed end once nothing holds that end's file: EOF (or a
 * reset, when unread bytes went with it) */
static void peer_sees_end(int fd)
{
	char c;
	ssize_t r = rg_recv(fd, &c, 1, 0, rg_now() + WAIT);
	if (r != 0 && r != -ECONNRESET)
		printf("%s: the peer's recv after the call returned: %zd\n", rg_io_backend(), r), fflush(stdout);
	CHECK(r == 0 || r == -ECONNRESET);
}

static void case_recv(void)
{
	int base = t_open_fds(), sp[2];
	t_unix_pair(sp);
	struct waiter w = { .kind = W_RECV, .fd = sp[0] };
	start(&w);
	close_under(&w, sp[0]);
	CHECK_EQ(rg_send(sp[1], "o", 1, 0, rg_now() + WAIT), 1); /* epoll before: -EPIPE */
	CHECK_EQ(finish(&w), 1);                                 /* epoll before: -ETIMEDOUT */
	CHECK_EQ(w.byte, 'o');
	peer_sees_end(sp[1]);
	close(sp[1]);
	CHECK_EQ(t_open_fds(), base);
}

static void send_later_fn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	rg_sleep(5 * MS);
	CHECK_EQ(rg_send(fd, "m", 1, 0, rg_now() + WAIT), 1);
}

static void case_reuse(void)
{
	int base = t_open_fds(), sp[2], np[2];
	t_unix_pair(sp);
	struct waiter w = { .kind = W_RECV, .fd = sp[0] };
	start(&w);
	int n = sp[0];
	CHECK_EQ(rg_close(n), 0);
	/* a new file under the number (the lowest free: usually that one) */
	t_unix_pair(np);
	if (np[1] == n) { /* (a pair is symmetric) */
		np[1] = np[0];
		np[0] = n;
	}
	if (np[0] != n) {
		CHECK_EQ(dup3(np[0], n, O_CLOEXEC), n);
		close(np[0]);
		np[0] = n;
	}
	CHECK_EQ(send(np[1], "n", 1, MSG_DONTWAIT | MSG_NOSIGNAL), 1); /* the new file is readable */
	rg_sleep(5 * MS);
	if (atomic_load(&w.done))
		printf("%s: the old waiter returned %lld with '%c' from the new file\n", rg_io_backend(),
		       (long long)atomic_load(&w.res), w.byte), fflush(stdout);
	CHECK(!atomic_load(&w.done));
	/* the new file's own calls on the number */
	char c = 0;
	CHECK_EQ(rg_recv(n, &c, 1, 0, rg_now() + WAIT), 1);
	CHECK_EQ(c, 'n');
	CHECK(rg_go(send_later_fn, (void *)(intptr_t)np[1]) > 0);
	CHECK_EQ(rg_recv(n, &c, 1, 0, rg_now() + WAIT), 1); /* waits beside the old waiter */
	CHECK_EQ(c, 'm');
	CHECK(!atomic_load(&w.done));
	/* and the old file's */
	CHECK_EQ(rg_send(sp[1], "o", 1, 0, rg_now() + WAIT), 1);
	CHECK_EQ(finish(&w), 1);
	CHECK_EQ(w.byte, 'o');
	peer_sees_end(sp[1]);
	close(sp[1]);
	rg_close(np[0]);
	close(np[1]);
	CHECK_EQ(t_open_fds(), base);
}

static void case_send(void)
{
	int base = t_open_fds(), sp[2];
	t_unix_pair(sp);
	/* fill sp[0]'s way to sp[1] */
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
	struct waiter w = { .kind = W_SEND, .fd = sp[0], .len = 1000 };
	start(&w);
	close_under(&w, sp[0]);
	/* drain: room for the send; then everything and the end */
	static char in[65536];
	size_t got = 0;
	for (;;) {
		ssize_t k = rg_recv(sp[1], in, sizeof in, 0, rg_now() + WAIT);
		CHECK(k >= 0);
		if (k == 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			CHECK(in[i] == (got + (size_t)i < fill ? 0 : 'w'));
		got += (size_t)k;
	}
	int64_t r = finish(&w);
	CHECK(r > 0 && r <= 1000);
	CHECK_EQ(got, fill + (size_t)r);
	close(sp[1]);
	CHECK_EQ(t_open_fds(), base);
}

static void case_poll(void)
{
	int base = t_open_fds(), sp[2];
	t_unix_pair(sp);
	struct waiter w = { .kind = W_POLL, .fd = sp[0] };
	start(&w);
	close_under(&w, sp[0]);
	CHECK_EQ(rg_send(sp[1], "p", 1, 0, rg_now() + WAIT), 1);
	int64_t r = finish(&w);
	CHECK(r > 0 && (r & POLLIN));
	peer_sees_end(sp[1]);
	close(sp[1]);
	CHECK_EQ(t_open_fds(), base);
}

static void case_connect(void)
{
	int base = t_open_fds();
	char path[64];
	snprintf(path, sizeof path, "/tmp/rg_ckf.%d", (int)getpid());
	unlink(path);
	struct sockaddr_storage ss;
	int len = rg_sockaddr(path, 0, &ss);
	CHECK(len > 0);
	int l = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 1, 0);
	CHECK(l >= 0);
	int fill[16], n = 0; /* fill the backlog: nobody accepts */
	for (; n < 16; n++) {
		fill[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		CHECK(fill[n] >= 0);
		if (connect(fill[n], (struct sockaddr *)&ss, (socklen_t)len) != 0) {
			CHECK(t_errno() == EAGAIN);
			close(fill[n]);
			break;
		}
	}
	CHECK(n < 16);
	int s = rg_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0);
	struct waiter w = { .kind = W_CONNECT, .fd = s, .addr = &ss, .addrlen = (socklen_t)len };
	start(&w);
	close_under(&w, s);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* room in the backlog */
	CHECK(a >= 0);
	CHECK_EQ(finish(&w), 0); /* epoll before: -EBADF */
	close(a);
	/* the connection it made is queued behind the other fills: each
	 * sees its end, the connect's too (its file went with the call) */
	for (int i = 1; i < n; i++)
		close(fill[i]);
	int queued = 0;
	while ((a = rg_accept(l, NULL, NULL, 0)) >= 0) {
		peer_sees_end(a);
		close(a);
		queued++;
	}
	CHECK_EQ(a, -EAGAIN);
	CHECK_EQ(queued, n); /* the n - 1 fills left, and the connect's */
	close(fill[0]);
	rg_close(l);
	unlink(path);
	CHECK_EQ(t_open_fds(), base);
}

/* No fd left to hand the waiter (every number under RLIMIT_NOFILE in
 * use): on epoll it must not go on with the closed number, which the next
 * open would reuse -- it returns -EBADF; io_uring's op holds the file
 * without an fd and gets the byte. */
static void case_nofds(void)
{
	int base = t_open_fds(), sp[2];
	t_unix_pair(sp);
	struct waiter w = { .kind = W_RECV, .fd = sp[0] };
	start(&w);
	struct rlimit old, low;
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = (rlim_t)(sp[1] > sp[0] ? sp[1] : sp[0]) + 16;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	int fill[64], nfill = 0; /* every free number under it */
	for (;;) {
		int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (f < 0) {
			CHECK(t_errno() == EMFILE);
			break;
		}
		CHECK(nfill < 64);
		fill[nfill++] = f;
	}
	CHECK_EQ(rg_close(sp[0]), 0);
	bool uring = !strcmp(rg_io_backend(), "io_uring");
	if (uring) {
		rg_sleep(5 * MS);
		CHECK(!atomic_load(&w.done));
		CHECK_EQ(rg_send(sp[1], "o", 1, 0, rg_now() + WAIT), 1);
	}
	int64_t r = finish(&w);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK_EQ(r, uring ? 1 : -EBADF);
	peer_sees_end(sp[1]);
	close(sp[1]);
	CHECK_EQ(t_open_fds(), base);
}

static void *foreign_close(void *arg)
{
	CHECK_EQ(rg_close((int)(intptr_t)arg), 0);
	return NULL;
}

static void case_race(void)
{
	int base = t_open_fds();
	for (int round = 0; round < ROUNDS; round++) {
		int sp[2];
		t_unix_pair(sp);
		struct waiter w = { .kind = W_RECV, .fd = sp[0] };
		start(&w);
		bool send_first = round & 1, foreign = round % 3 == 2;
		if (send_first)
			CHECK_EQ(send(sp[1], "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL), 1);
		if (foreign) {
			/* not joined at once: the join would hold the P */
			pthread_t th;
			CHECK(pthread_create(&th, NULL, foreign_close, (void *)(intptr_t)sp[0]) == 0);
			while (fcntl(sp[0], F_GETFD) != -1)
				rg_yield();
			CHECK(pthread_join(th, NULL) == 0);
		} else {
			CHECK_EQ(rg_close(sp[0]), 0);
		}
		if (!send_first)
			CHECK_EQ(send(sp[1], "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL), 1);
		int64_t r = finish(&w);
		if (r != 1)
			printf("%s, %d P, round %d (%s, closed by %s): rg_recv = %lld\n", rg_io_backend(), rg_procs(),
			       round, send_first ? "sent, then closed" : "closed, then sent",
			       foreign ? "a thread" : "a task", (long long)r), fflush(stdout);
		CHECK_EQ(r, 1);
		CHECK_EQ(w.byte, 'r');
		peer_sees_end(sp[1]);
		close(sp[1]);
	}
	CHECK_EQ(t_open_fds(), base);
}

/* K readers in one rg_recv each on the same fd, woken together by every
 * byte (the others find nothing and wait again): the close comes while
 * some wait, some retry, some link their next wait.  Each call was in
 * flight before the close, so each gets one of the K bytes. */
#define CROWD 8

static void spin_us(int us)
{
	for (int64_t end = rg_now() + us * 1000; rg_now() < end;)
		;
}

static void case_crowd(void)
{
	int base = t_open_fds();
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	for (int round = 0; round < ROUNDS; round++) {
		int sp[2];
		t_unix_pair(sp);
		struct waiter w[CROWD];
		for (int i = 0; i < CROWD; i++) {
			w[i] = (struct waiter){ .kind = W_RECV, .fd = sp[0] };
			start(&w[i]);
		}
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		int close_at = (int)(rnd >> 33) % CROWD;
		bool foreign = (rnd >> 40) & 1;
		pthread_t th;
		for (int i = 0; i < CROWD; i++) {
			if (i == close_at && foreign)
				CHECK(pthread_create(&th, NULL, foreign_close, (void *)(intptr_t)sp[0]) == 0);
			else if (i == close_at)
				CHECK_EQ(rg_close(sp[0]), 0);
			char b = (char)('a' + i);
			CHECK_EQ(send(sp[1], &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL), 1);
			spin_us((int)((rnd >> (i * 4)) & 15));
			if ((rnd >> (i + 48)) & 1)
				rg_yield();
		}
		unsigned seen = 0;
		for (int i = 0; i < CROWD; i++) {
			int64_t r = finish(&w[i]);
			if (r != 1)
				printf("%s, %d P, round %d: reader %d of %d: rg_recv = %lld (closed before byte %d, by %s)\n",
				       rg_io_backend(), rg_procs(), round, i, CROWD, (long long)r, close_at,
				       foreign ? "a thread" : "a task"), fflush(stdout);
			CHECK_EQ(r, 1);
			CHECK(w[i].byte >= 'a' && w[i].byte < 'a' + CROWD);
			seen |= 1u << (w[i].byte - 'a');
		}
		CHECK_EQ(seen, (1u << CROWD) - 1); /* each byte once */
		if (foreign) {
			while (fcntl(sp[0], F_GETFD) != -1)
				rg_yield();
			CHECK(pthread_join(th, NULL) == 0);
		}
		peer_sees_end(sp[1]);
		close(sp[1]);
	}
	CHECK_EQ(t_open_fds(), base);
}

static int main_fn(void *arg)
{
	(void)arg;
	case_recv();
	case_reuse();
	case_send();
	case_poll();
	case_connect();
	case_nofds();
	case_race();
	case_crowd();
	printf("%s, %d P: recv, reuse, send, poll, connect, no fds, %d racing rounds and %d crowds kept their files\n",
	       rg_io_backend(), rg_procs(), ROUNDS, ROUNDS);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 1), 0);
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
