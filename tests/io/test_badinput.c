/* Bad input gets -errno, never a crash: bad fds, NULL buffers with a
 * length, huge lengths, negative counts and offsets, calls outside a task,
 * and a closed fd reused while an operation on it is in flight; peer
 * resets surface as -ECONNRESET / -EPIPE. */
// ctest-timeout: 60
#include <poll.h>
#include <sys/stat.h>

#include "io_test.h"

static _Atomic int phase;
static _Atomic int64_t res;
static int64_t inflight_tmo; /* set before rg_go */

static void inflight(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	atomic_store(&phase, 1);
	/* fd gets closed (and its number reused) while this waits: the call
	 * keeps the old socket, so it ends by its deadline, not by a crash;
	 * or the peer resets it, which must end it before a long deadline */
	atomic_store(&res, rg_recv(fd, buf, sizeof buf, 0, rg_now() + inflight_tmo));
	atomic_store(&phase, 2);
}

static int main_fn(void *arg)
{
	char buf[64];
	struct iovec iov = { buf, sizeof buf };
	struct statx stx;
	/* bad fds */
	CHECK_EQ(rg_recv(-1, buf, 1, 0, -1), -EBADF);
	CHECK_EQ(rg_send(-5, buf, 1, 0, -1), -EBADF);
	CHECK_EQ(rg_read(9999, buf, 1, -1), -EBADF);
	CHECK_EQ(rg_write(9999, buf, 1, -1), -EBADF);
	CHECK_EQ(rg_pread(9999, buf, 1, 0, -1), -EBADF);
	CHECK_EQ(rg_readv(9999, &iov, 1, -1), -EBADF);
	CHECK_EQ(rg_accept(9999, NULL, NULL, -1), -EBADF);
	CHECK_EQ(rg_poll(-1, POLLIN, -1), -EBADF);
	CHECK(rg_poll(9999, POLLIN, -1) < 0 || (rg_poll(9999, POLLIN, -1) & POLLNVAL));
	CHECK_EQ(rg_close(9999), -EBADF);
	CHECK_EQ(rg_close(-1), -EBADF);
	CHECK_EQ(rg_fsync(9999, -1), -EBADF);
	CHECK_EQ(rg_shutdown(9999, SHUT_RDWR), -EBADF);
	CHECK_EQ(rg_fallocate(9999, 0, 0, 10, -1), -EBADF);
	CHECK_EQ(rg_statx(9999, "", AT_EMPTY_PATH, STATX_SIZE, &stx, -1), -EBADF);
	/* not a socket */
	int pp[2];
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	CHECK_EQ(rg_recv(pp[0], buf, 1, 0, -1), -ENOTSOCK);
	CHECK_EQ(rg_accept(pp[0], NULL, NULL, -1), -ENOTSOCK);
	/* NULL with a length, huge lengths, negative counts/offsets */
	CHECK_EQ(rg_recv(pp[0], NULL, 10, 0, -1), -EFAULT);
	CHECK_EQ(rg_read(pp[0], NULL, 10, -1), -EFAULT);
	CHECK_EQ(rg_write(pp[1], NULL, 1, -1), -EFAULT);
	CHECK_EQ(rg_read(pp[0], buf, (size_t)-1, -1), -EINVAL);
	CHECK_EQ(rg_send_all(pp[1], buf, (size_t)-5, -1, NULL), -EINVAL);
	CHECK_EQ(rg_readv(pp[0], &iov, -1, -1), -EINVAL);
	CHECK_EQ(rg_readv(pp[0], NULL, 2, -1), -EFAULT);
	CHECK_EQ(rg_pread(pp[0], buf, 1, -1, -1), -EINVAL);
	CHECK_EQ(rg_pwrite(pp[1], buf, 1, -10, -1), -EINVAL);
	CHECK_EQ(rg_fallocate(pp[1], 0, 0, -1, -1), -EINVAL);
	CHECK_EQ(rg_recvmsg(pp[0], NULL, 0, -1), -EFAULT);
	CHECK_EQ(rg_statx(AT_FDCWD, NULL, 0, 0, &stx, -1), -EFAULT);
	CHECK_EQ(rg_open(NULL, O_RDONLY, 0, -1), -EFAULT);
	/* a bad pointer the kernel must refuse (not a crash) */
	CHECK_EQ(rg_write(pp[1], (void *)16, 8, -1), -EFAULT);
	close(pp[0]);
	close(pp[1]);
	/* closed fd reused while an operation is in flight */
	int fds[2];
	t_tcp_pair(AF_INET, fds);
	inflight_tmo = 100 * MS;
	CHECK(rg_go(inflight, (void *)(intptr_t)fds[1]) > 0);
	while (atomic_load(&phase) < 1)
		rg_sleep(MS);
	rg_sleep(10 * MS);
	int num = fds[1];
	CHECK_EQ(rg_close(fds[1]), 0);
	int z = rg_open("/dev/zero", O_RDONLY, 0, -1);
	CHECK(z >= 0);
	int reuse = z;
	if (z != num) { /* same number, other file */
		CHECK_EQ(dup2(z, num), num);
		close(z);
		reuse = num;
	}
	while (atomic_load(&phase) < 2)
		rg_sleep(MS);
	CHECK_EQ(atomic_load(&res), -ETIMEDOUT);
	CHECK_EQ(rg_read(reuse, buf, 8, -1), 8);
	close(reuse);
	close(fds[0]);
	/* peer reset: SO_LINGER 0 close sends RST */
	t_tcp_pair(AF_INET, fds);
	struct linger lg = { 1, 0 };
	CHECK(setsockopt(fds[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
	close(fds[0]);
	rg_sleep(10 * MS);
	CHECK_EQ(rg_recv(fds[1], buf, sizeof buf, 0, rg_now() + 1000 * MS), -ECONNRESET);
	ssize_t s = rg_send(fds[1], "x", 1, 0, -1);
	CHECK(s == -EPIPE || s == -ECONNRESET);
	close(fds[1]);
	/* reset while a recv waits */
	t_tcp_pair(AF_INET, fds);
	atomic_store(&phase, 0);
	/* not 100 ms: a P thread descheduled that long (two instances beside
	 * two CPU hogs, ASan) let the deadline pass before the RST came */
	inflight_tmo = 10000 * MS;
	CHECK(rg_go(inflight, (void *)(intptr_t)fds[1]) > 0);
	while (atomic_load(&phase) < 1)
		rg_sleep(MS);
	rg_sleep(10 * MS);
	CHECK(setsockopt(fds[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
	close(fds[0]);
	while (atomic_load(&phase) < 2)
		rg_sleep(MS);
	CHECK_EQ(atomic_load(&res), -ECONNRESET);
	close(fds[1]);
	/* connect refused */
	int port = 0;
	int l = t_listen(AF_INET, &port);
	close(l);
	CHECK_EQ(t_connect(AF_INET, port, rg_now() + 1000 * MS), -ECONNREFUSED);
	return 0;
}

int main(void)
{
	char buf[4];
	/* outside rg_run */
	CHECK_EQ(rg_recv(0, buf, 1, 0, -1), -EPERM);
	CHECK_EQ(rg_read(0, buf, 1, -1), -EPERM);
	CHECK_EQ(t_run(main_fn, 2), 0);
	/* rg_close after rg_run returned: close(2), no Ps to flush */
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	CHECK_EQ(rg_close(pfd[0]), 0);
	CHECK_EQ(rg_close(pfd[1]), 0);
	CHECK_EQ(rg_close(pfd[1]), -EBADF);
	return T_PASS;
}
