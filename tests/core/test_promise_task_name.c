/* core.h, rg_task_opts.name: "copied (first 31 bytes); shown ... in the
 * stack-overflow message".  A 40-byte name in a buffer overwritten right
 * after rg_go_opts returns: the overflow line (in a child) shows the
 * name's first 31 bytes, not the overwritten buffer and not all 40. */
// ctest-timeout: 60
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "ringo.h"

static volatile int sink;

__attribute__((noinline)) static int recurse(int n)
{
	volatile char buf[512];
	memset((char *)buf, n, sizeof buf);
	if (n == 0)
		return buf[0];
	int r = recurse(n - 1) + buf[n % 512];
	sink = r;
	return r;
}

static void deep(void *arg)
{
	(void)arg;
	sink = recurse(1 << 20);
}

static int main_fn(void *arg)
{
	(void)arg;
	char name[64] = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
	rg_task_opts o = { .name = name };
	CHECK(rg_go_opts(deep, NULL, &o) > 0);
	memset(name, 'X', sizeof name - 1);
	rg_sleep(2000000000);
	return 0;
}

int main(void)
{
	int pfd[2];
	CHECK_EQ(pipe(pfd), 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		rg_run(main_fn, NULL, &(rg_config){ .procs = 1, .quiet = 1, .nopin = 1 });
		_exit(0); /* must not get here */
	}
	close(pfd[1]);
	char out[4096];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof out - 1 && (r = read(pfd[0], out + got, sizeof out - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = 0;
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	printf("child: %s", out);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(out, "(abcdefghijklmnopqrstuvwxyz01234) overflowed its 64 KiB stack"));
	return T_PASS;
}
