/* When io_uring cannot be used, rg_run falls back to the epoll backend and
 * says why in one line: a seccomp filter makes io_uring_setup fail with
 * EPERM (as a container policy would), then sockets, files, deadlines and
 * rg_cancel still work.  RINGO_IO=io_uring then refuses to start. */
// ctest-timeout: 60
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "io_test.h"

static void deny_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static int main_fn(void *arg)
{
	CHECK(rg_io_backend() && strcmp(rg_io_backend(), "epoll") == 0);
	int fds[2];
	t_tcp_pair(AF_INET, fds);
	char buf[8];
	CHECK_EQ(rg_send(fds[0], "ping", 4, 0, -1), 4);
	CHECK_EQ(rg_recv_exact(fds[1], buf, 4, rg_now() + 1000 * MS, NULL), 4);
	int64_t t0 = rg_now();
	CHECK_EQ(rg_recv(fds[1], buf, 1, 0, t0 + 20 * MS), -ETIMEDOUT);
	CHECK(rg_now() - t0 >= 19 * MS);
	CHECK_EQ(rg_poll(fds[1], POLLIN, 0), -EAGAIN);
	char path[64];
	snprintf(path, sizeof path, "io-fallback-%d.tmp", (int)getpid());
	int fd = rg_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, -1);
	CHECK(fd >= 0);
	CHECK_EQ(rg_pwrite(fd, "data", 4, 0, -1), 4);
	CHECK_EQ(rg_fsync(fd, -1), 0);
	CHECK_EQ(rg_pread(fd, buf, 4, 0, -1), 4);
	CHECK(memcmp(buf, "data", 4) == 0);
	rg_close(fd);
	unlink(path);
	close(fds[0]);
	close(fds[1]);
	return 0;
}

static int noop(void *arg) { return 0; }

int main(void)
{
	deny_io_uring();
	/* the probe sees EPERM: epoll, with a line saying why */
	unsetenv("RINGO_IO");
	rg_config c = { .procs = 2 };
	CHECK_EQ(rg_run(main_fn, NULL, &c), 0);
	/* insisting on io_uring fails cleanly */
	setenv("RINGO_IO", "io_uring", 1);
	CHECK_EQ(rg_run(noop, NULL, &c), -EPERM);
	return T_PASS;
}
