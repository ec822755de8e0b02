/* Socket operations over TCP (IPv4, IPv6) and Unix sockets: accept,
 * connect, recv/send, recvmsg/sendmsg, send_all/recv_exact of several MB,
 * shutdown, rg_poll, deadline 0, and no fd left behind. */
// ctest-timeout: 60
#include <poll.h>
#include <sys/un.h>

#include "io_test.h"

#define BIG (T_SANITIZED ? (1 << 20) : (8 << 20))

struct xfer {
	int fd;
	unsigned char *buf;
	size_t len;
	_Atomic int *done;
};

static void sender(void *arg)
{
	struct xfer *x = arg;
	size_t done = 0;
	CHECK_EQ(rg_send_all(x->fd, x->buf, x->len, -1, &done), x->len);
	CHECK_EQ(done, x->len);
	CHECK_EQ(rg_shutdown(x->fd, SHUT_WR), 0);
	atomic_fetch_add(x->done, 1);
}

static void stream_pair(int fds[2])
{
	/* bulk both ways at once, with pattern check */
	unsigned char *a = malloc(BIG), *b = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		a[i] = (unsigned char)(i * 7 + (i >> 13));
	_Atomic int done = 0;
	struct xfer x = { fds[0], a, BIG, &done };
	CHECK(rg_go(sender, &x) > 0);
	size_t got = 0;
	CHECK_EQ(rg_recv_exact(fds[1], b, BIG, -1, &got), BIG);
	CHECK_EQ(got, BIG);
	CHECK(memcmp(a, b, BIG) == 0);
	/* the sender shut its side down: end of stream */
	CHECK_EQ(rg_recv(fds[1], b, 16, 0, -1), 0);
	CHECK_EQ(rg_recv_exact(fds[1], b, 16, -1, NULL), 0);
	t_wait_count(&done, 1);
	free(a);
	free(b);
}

static void small_ops(int fds[2])
{
	char buf[64];
	/* deadline 0 on an empty socket: -EAGAIN, no wait */
	CHECK_EQ(rg_recv(fds[1], buf, sizeof buf, 0, 0), -EAGAIN);
	CHECK_EQ(rg_poll(fds[1], POLLIN, 0), -EAGAIN);
	CHECK(rg_poll(fds[0], POLLOUT, -1) & POLLOUT);
	CHECK_EQ(rg_send(fds[0], "hello", 5, 0, -1), 5);
	CHECK(rg_poll(fds[1], POLLIN, rg_now() + 1000 * MS) & POLLIN);
	CHECK_EQ(rg_recv(fds[1], buf, sizeof buf, MSG_PEEK, -1), 5);
	CHECK_EQ(rg_recv(fds[1], buf, sizeof buf, 0, 0), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	/* zero-length transfers */
	CHECK_EQ(rg_send(fds[0], buf, 0, 0, -1), 0);
	/* sendmsg / recvmsg with two iovecs each */
	char h1[] = "abc", h2[] = "defgh";
	struct iovec siov[2] = { { h1, 3 }, { h2, 5 } };
	struct msghdr sm = { .msg_iov = siov, .msg_iovlen = 2 };
	CHECK_EQ(rg_sendmsg(fds[1], &sm, 0, -1), 8);
	char r1[4], r2[16];
	struct iovec riov[2] = { { r1, 4 }, { r2, 16 } };
	struct msghdr rm = { .msg_iov = riov, .msg_iovlen = 2 };
	CHECK_EQ(rg_recv_exact(fds[0], r1, 0, -1, NULL), 0);
	ssize_t n = rg_recvmsg(fds[0], &rm, 0, rg_now() + 1000 * MS);
	CHECK(n > 0 && n <= 8);
	size_t have = (size_t)n;
	if (have < 8) /* split delivery: read the rest */
		CHECK_EQ(rg_recv_exact(fds[0], r2 + (have - 4), 8 - have, -1, NULL), (ssize_t)(8 - have));
	CHECK(memcmp(r1, "abcd", 4) == 0 && memcmp(r2, "efgh", 4) == 0);
	/* non-blocking send with deadline 0 and with the deadline path */
	CHECK_EQ(rg_send(fds[0], "x", 1, 0, 0), 1);
	CHECK_EQ(rg_send(fds[0], "y", 1, 0, rg_now() + 1000 * MS), 1);
	CHECK_EQ(rg_recv_exact(fds[1], buf, 2, rg_now() + 1000 * MS, NULL), 2);
	CHECK(buf[0] == 'x' && buf[1] == 'y');
	/* read/write work on sockets too */
	CHECK_EQ(rg_write(fds[0], "rw", 2, -1), 2);
	CHECK_EQ(rg_read(fds[1], buf, 2, -1), 2);
	CHECK(memcmp(buf, "rw", 2) == 0);
}

static void tcp_case(int family)
{
	int fds[2];
	int port;
	int l = t_listen(family, &port);
	CHECK(l >= 0);
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	/* accept with a deadline 0 and nothing pending */
	CHECK_EQ(rg_accept(l, NULL, NULL, 0), -EAGAIN);
	fds[0] = t_connect(family, port, rg_now() + 2000 * MS);
	CHECK(fds[0] >= 0);
	fds[1] = rg_accept(l, (struct sockaddr *)&peer, &pl, rg_now() + 2000 * MS);
	CHECK(fds[1] >= 0);
	CHECK_EQ(peer.ss_family, family);
	CHECK(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
	int one = 1;
	CHECK(setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
	small_ops(fds);
	stream_pair(fds);
	CHECK_EQ(rg_close(fds[0]), 0);
	CHECK_EQ(rg_close(fds[1]), 0);
	CHECK_EQ(rg_close(l), 0);
}

static void unix_case(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/ringo-io-test-%d.sock", (int)getpid());
	unlink(path);
	struct sockaddr_storage ss;
	int len = rg_sockaddr(path, 0, &ss);
	CHECK(len > 0);
	int l = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 16, 0);
	CHECK(l >= 0);
	int c = rg_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(c >= 0);
	CHECK_EQ(rg_connect(c, (struct sockaddr *)&ss, (socklen_t)len, -1), 0);
	int s = rg_accept(l, NULL, NULL, -1);
	CHECK(s >= 0);
	int fds[2] = { c, s };
	small_ops(fds);
	stream_pair(fds);
	rg_close(c);
	rg_close(s);
	rg_close(l);
	unlink(path);
	/* abstract address */
	len = rg_sockaddr("@ringo-io-test", 0, &ss);
	CHECK(len > 0);
	l = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 16, 0);
	CHECK(l >= 0);
	rg_close(l);
	/* socketpair fds work as well */
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	small_ops(sp);
	rg_close(sp[0]);
	rg_close(sp[1]);
}

static int main_fn(void *arg)
{
	int before = t_open_fds();
	const char *be = rg_io_backend();
	CHECK(be != NULL);
	printf("backend %s\n", be);
	tcp_case(AF_INET);
	int port;
	int l6 = t_listen(AF_INET6, &port);
	if (l6 >= 0) {
		rg_close(l6);
		tcp_case(AF_INET6);
	} else {
		printf("no IPv6 loopback (%s): IPv6 case skipped\n", strerror(-l6));
	}
	unix_case();
	struct sockaddr_storage ss;
	CHECK_EQ(rg_sockaddr("not-an-address", 1, &ss), -EINVAL);
	CHECK_EQ(rg_sockaddr("127.0.0.1", 70000, &ss), -EINVAL);
	CHECK(rg_sockaddr("[::1]", 80, &ss) > 0);
	CHECK_EQ(t_open_fds(), before);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_io_backend() == NULL, 1);
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
