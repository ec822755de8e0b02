/* "Every call returns >= 0 or -errno and never sets errno" (README,
 * core.h).  io/'s calls returned the right -errno but left errno set by
 * the system call that failed:
 *   rg_read(pfd[0], b, 1, 0)                 -> -11 errno 11
 *   rg_socket(12345, SOCK_STREAM, 0)         -> -97 errno 97
 *   rg_close(999)                            -> -9 errno 9
 *   rg_listen(1.2.3.4:80)                    -> -99 errno 99
 *   rg_write(pfd[0], "x", 1, 0)              -> -9 errno 9
 * and on the epoll backend (test_errno_epoll.c) also the calls that
 * waited (EAGAIN from the try before the wait) and rg_accept (EINVAL).
 * One P, so that the task stays on the thread whose errno it set; errno
 * is read and written through calls the compiler cannot see into, as
 * ringo/core.h asks of code that parks. */
// ctest-timeout: 60
#include <poll.h>

#include "io_test.h"

#define MARK 4242

static RG__NOIPA void e_set(int v) { errno = v; }
static RG__NOIPA int e_get(void) { return errno; }

static int fails;

#define T(call, want)                                                                   \
	do {                                                                            \
		e_set(MARK);                                                            \
		long long r_ = (long long)(call);                                       \
		int e_ = e_get();                                                       \
		if (r_ != (long long)(want) || e_ != MARK) {                            \
			printf("  %-48s -> %lld (want %lld), errno %d\n", #call, r_,    \
			       (long long)(want), e_);                                  \
			fails++;                                                        \
		}                                                                       \
	} while (0)

/* Any error will do, errno untouched: qemu-user (the aarch64 suite) makes
 * a write to a pipe's read end -EAGAIN where Linux says -EBADF. */
#define T_ERR(call)                                                                     \
	do {                                                                            \
		e_set(MARK);                                                            \
		long long r_ = (long long)(call);                                       \
		int e_ = e_get();                                                       \
		if (r_ >= 0 || e_ != MARK) {                                            \
			printf("  %-48s -> %lld (want < 0), errno %d\n", #call, r_, e_); \
			fails++;                                                        \
		}                                                                       \
	} while (0)

static int main_fn(void *arg)
{
	(void)arg;
	int pfd[2], sv[2];
	char b[8];
	CHECK(pipe(pfd) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T(rg_read(pfd[0], b, 1, 0), -EAGAIN);
	T(rg_read(pfd[0], b, 1, rg_now() + MS), -ETIMEDOUT);
	T(rg_recv(sv[0], b, 1, 0, 0), -EAGAIN);
	T(rg_recv(sv[0], b, 1, 0, rg_now() + MS), -ETIMEDOUT);
	T_ERR(rg_write(pfd[0], "x", 1, 0));
	T(rg_accept(sv[0], NULL, NULL, 0), -EINVAL);
	T(rg_socket(12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
	T(rg_shutdown(pfd[0], SHUT_RDWR), -ENOTSOCK);
	T(rg_close(999), -EBADF);
	struct sockaddr_storage ss;
	int l = rg_sockaddr("192.0.2.1", 80, &ss); /* TEST-NET-1: not ours */
	CHECK(l > 0);
	T(rg_listen((struct sockaddr *)&ss, (socklen_t)l, 16, 0), -EADDRNOTAVAIL);
	/* a refused connect: a port nobody listens on (one we just closed) */
	int port, lfd = t_listen(AF_INET, &port);
	CHECK(lfd >= 0);
	CHECK_EQ(rg_close(lfd), 0);
	l = rg_sockaddr("127.0.0.1", port, &ss);
	int s = rg_socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0);
	T(rg_connect(s, (struct sockaddr *)&ss, (socklen_t)l, rg_now() + 1000 * MS), -ECONNREFUSED);
	CHECK_EQ(rg_close(s), 0);
	/* and the ones that work */
	T(rg_write(pfd[1], "x", 1, -1), 1);
	T(rg_read(pfd[0], b, 1, 0), 1);
	T(rg_close(pfd[0]), 0);
	T(rg_close(pfd[1]), 0);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("%s backend: %d calls changed errno or failed\n", getenv("RINGO_IO") ? getenv("RINGO_IO") : "default",
	       fails);
	return fails ? T_FAIL : T_PASS;
}
