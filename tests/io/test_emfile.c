/* Running out of file descriptors is -EMFILE, never an abort.  A server
 * that accepts until RLIMIT_NOFILE is a normal overload; the first I/O
 * call on a P then set up that P's io state, whose eventfd (for cancels
 * from other threads) could not be made, and the process died:
 *   ringo: fatal: io: eventfd: out of file descriptors
 * Each case runs in a forked child (the failure was an abort):
 *   first_io  main uses up every fd, then makes its first I/O calls:
 *             they work (a pipe write and read), a new socket is -EMFILE.
 *   start     rg_run with 0..11 fds left, main making one I/O call: each
 *             run either works or returns -errno after one line.
 * On the epoll backend (no eventfd per P) both held before. */
// ctest-timeout: 60
#include "io_test.h"

static int pfd[2];

static int first_io_main(void *arg)
{
	(void)arg;
	int first = -1, last = -1, fd;
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		if (first < 0)
			first = fd;
		last = fd;
	}
	CHECK_EQ(fd, -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(rg_write(pfd[1], "x", 1, -1), 1);
	char c = 0;
	CHECK_EQ(rg_read(pfd[0], &c, 1, rg_now() + 1000 * MS), 1);
	CHECK_EQ(c, 'x');
	CHECK_EQ(rg_socket(AF_INET, SOCK_STREAM, 0), -EMFILE);
	for (fd = first; fd >= 0 && fd <= last; fd++)
		close(fd);
	CHECK_EQ(rg_write(pfd[1], "y", 1, -1), 1);
	CHECK_EQ(rg_read(pfd[0], &c, 1, -1), 1);
	return 7;
}

static int start_main(void *arg)
{
	(void)arg;
	char c = 0;
	CHECK_EQ(rg_write(pfd[1], "z", 1, -1), 1);
	CHECK_EQ(rg_read(pfd[0], &c, 1, -1), 1);
	return 7;
}

static void limit_fds(rlim_t n)
{
	struct rlimit rl = { n, n };
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void child(int k)
{
	alarm(30);
	CHECK(pipe(pfd) == 0);
	rg_config cfg = { .procs = 2, .nopin = 1, .quiet = 1 };
	if (k == 0) {
		limit_fds(256);
		CHECK_EQ(rg_run(first_io_main, NULL, &cfg), 7);
		return;
	}
	/* start: leave `left` fds free, for left = 0..11 */
	limit_fds(256);
	for (int left = 0; left < 12; left++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			int fd, n = 0;
			while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
				n++;
			for (int i = 0; i < left; i++)
				close(fd = 255 - i);
			int r = rg_run(start_main, NULL, &cfg);
			printf("  %2d fds left: rg_run -> %d\n", left, r);
			fflush(stdout);
			CHECK(r == 7 || (r < 0 && r > -4096));
			_exit(0);
		}
		int st = 0;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("  %2d fds left: child %s %d\n", left, WIFSIGNALED(st) ? "killed by signal" : "exited",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			exit(1);
		}
	}
}

int main(void)
{
	static const char *const names[] = { "first_io", "start" };
	return t_fork_cases(2, child, names) ? T_FAIL : T_PASS;
}
