/* tests/io/io_test.h — helpers shared by the io tests (header only). */
#ifndef RG_TESTS_IO_TEST_H
#define RG_TESTS_IO_TEST_H
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "check.h"
#include "core/core.h"
#include "ringo.h"
#include "ringo/io.h"

#define MS (1000000LL)

/* A listener on 127.0.0.1 (or ::1) with an ephemeral port; *port set. */
static inline int t_listen(int family, int *port)
{
	struct sockaddr_storage ss;
	int len = rg_sockaddr(family == AF_INET6 ? "::1" : "127.0.0.1", 0, &ss);
	CHECK(len > 0);
	int fd = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 4096, RG_LISTEN_REUSEADDR);
	if (fd < 0)
		return fd;
	socklen_t sl = sizeof ss;
	CHECK(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0);
	*port = family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static inline int t_connect(int family, int port, int64_t deadline)
{
	struct sockaddr_storage ss;
	int len = rg_sockaddr(family == AF_INET6 ? "::1" : "127.0.0.1", port, &ss);
	CHECK(len > 0);
	int fd = rg_socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	int r = rg_connect(fd, (struct sockaddr *)&ss, (socklen_t)len, deadline);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* connect(2) to 127.0.0.1:port outside ringo, bounded to ms: 0 (it went
 * through), or -errno (-ECONNREFUSED: nothing listens there). */
static inline int t_try_connect(int port, int ms)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	struct sockaddr_storage ss;
	int len = rg_sockaddr("127.0.0.1", port, &ss);
	CHECK(len > 0);
	int r = connect(s, (struct sockaddr *)&ss, (socklen_t)len);
	if (r < 0 && errno == EINPROGRESS) {
		struct pollfd pf = { .fd = s, .events = POLLOUT };
		CHECK(poll(&pf, 1, ms) == 1);
		int e = 0;
		socklen_t el = sizeof e;
		CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0);
		r = e ? -e : 0;
	} else if (r < 0) {
		r = -errno;
	}
	close(s);
	return r;
}

/* connect(2) to 127.0.0.1:port outside ringo (a client the runtime does
 * not see). */
static inline int t_plain_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	return fd;
}

/* A pseudo-terminal in raw mode: the master (opened with extra_flags
 * added) in *master, the slave returned; skips the test without ptys. */
static inline int t_pty_open(int extra_flags, int *master)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | extra_flags);
	if (*master < 0) {
		printf("SKIP: no pty (%s)\n", strerror(errno));
		exit(T_SKIP);
	}
	CHECK(grantpt(*master) == 0 && unlockpt(*master) == 0);
	int slave = open(ptsname(*master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(slave >= 0);
	struct termios tio;
	CHECK(tcgetattr(slave, &tio) == 0);
	cfmakeraw(&tio);
	CHECK(tcsetattr(slave, TCSANOW, &tio) == 0);
	return slave;
}

/* Fills a terminal through nb, a non-blocking fd of its own open file,
 * until it is full twice 10 ms apart (a pty moves what it holds to the
 * master's side in the background, which makes room again); from a task.
 * Returns the bytes written. */
static inline size_t t_pty_fill(int nb)
{
	static char junk[4096];
	size_t total = 0;
	for (int full = 0; full < 2;) {
		ssize_t n = write(nb, junk, sizeof junk);
		if (n < 0) {
			CHECK(errno == EAGAIN);
			full++;
			rg_sleep(10 * MS);
			continue;
		}
		full = 0;
		total += (size_t)n;
		CHECK(total < (size_t)64 << 20);
	}
	return total;
}

/* A connected TCP pair over loopback: fds[0] client, fds[1] server side. */
static inline void t_tcp_pair(int family, int fds[2])
{
	int port;
	int l = t_listen(family, &port);
	CHECK(l >= 0);
	fds[0] = t_connect(family, port, -1);
	CHECK(fds[0] >= 0);
	fds[1] = rg_accept(l, NULL, NULL, -1);
	CHECK(fds[1] >= 0);
	rg_close(l); /* stops a multishot accept, if the caller armed one */
}

/* A connected AF_UNIX stream pair (close-on-exec). */
static inline void t_unix_pair(int sp[2])
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
}

/* Closes a pair whose sp[0] must have nothing left to read. */
static inline void t_pair_close_empty(int sp[2])
{
	char c[8];
	CHECK_EQ(rg_recv(sp[0], c, sizeof c, 0, 0), -EAGAIN);
	close(sp[0]);
	close(sp[1]);
}

static inline void t_raise_nofile(rlim_t want)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Open fds, not counting eventfds (each P makes its own lazily). */
static inline int t_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 65536; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		char p[64], l[128];
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t k = readlink(p, l, sizeof l - 1);
		if (k > 0) {
			l[k] = 0;
			if (strstr(l, "eventfd") || strstr(l, "io_uring") || strstr(l, "eventpoll"))
				continue;
		}
		n++;
	}
	return n;
}

static inline int t_run(rg_main_fn fn, int procs)
{
	rg_config c = { .procs = procs, .quiet = 1 };
	return rg_run(fn, NULL, &c);
}

/* Until task id is parked (or gone, or 10 s), for a caller that knows the
 * task's next park is the io call under test: a sleep was not enough on a
 * loaded machine (a cancel meant for the call came before it and ended
 * the call after, or an fd was closed before the task reached rg_recv).
 * The state read orders nothing (wait_reason is not atomic: TSan). */
static inline void t_wait_parked(int64_t id)
{
	for (int64_t end = rg_now() + 10000 * MS; rg_now() < end; rg_sleep(MS / 10)) {
		rg__task *t = rg__task_pin(id);
		if (!t)
			return;
		bool parked = rg__task_state(t) == RG__WAITING;
		rg__task_unpin(t);
		if (parked)
			return;
	}
}

/* A simple task join: counter + spin-sleep. */
static inline void t_wait_count(_Atomic int *c, int want)
{
	while (atomic_load(c) < want)
		rg_sleep(MS / 2);
}
#endif
