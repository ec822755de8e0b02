/* A task that overruns its stack dies with one clear line, both on a
 * guarded stack (guard page) and on a canary stack (mapping budget spent). */
// ctest-timeout: 60
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Uses ~128 KiB of a 64 KiB stack, then switches: a guard page or the
 * stack-pointer check catches it at once; failing that, the canary check
 * at the switch does. */
__attribute__((noinline)) static int recurse_then_yield(int n)
{
	volatile char buf[512];
	memset((char *)buf, n, sizeof buf);
	if (n == 0) {
		rg_yield();
		return buf[0];
	}
	int r = recurse_then_yield(n - 1) + buf[n % 512];
	sink = r;
	return r;
}

static void deep(void *arg)
{
	if (arg)
		sink = recurse_then_yield(256);
	else
		sink = recurse(1 << 20);
}

static int main_fn(void *arg)
{
	rg_task_opts o = { .name = "deep-diver" };
	CHECK(rg_go_opts(deep, arg, &o) > 0);
	rg_sleep(2000000000);
	return 0;
}

/* Runs the overflow in a child; returns what it wrote to stderr. */
static void run_child(const char *guards, int moderate, char *out, size_t n)
{
	int pfd[2];
	CHECK_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		if (guards)
			setenv("RINGO_STACK_GUARDS", guards, 1);
		rg_config cfg = { .procs = 1 };
		rg_run(main_fn, (void *)(intptr_t)moderate, &cfg);
		_exit(0); /* must not get here */
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t r;
	while ((r = read(pfd[0], out + got, n - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(pfd[0]);
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	fprintf(stderr, "child (guards=%s) said: %s", guards ? guards : "default", out);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGABRT);
}

int main(void)
{
#if T_SANITIZED
	SKIP("sanitizers own SIGSEGV and stack redzones: overflow checked in plain builds");
#endif
	char out[4096];
	for (int moderate = 0; moderate < 2; moderate++) {
		run_child(NULL, moderate, out, sizeof out);
		CHECK(strstr(out, "ringo: task ") != NULL);
		CHECK(strstr(out, "(deep-diver) overflowed its 64 KiB stack") != NULL);
		run_child("0", moderate, out, sizeof out); /* no guard pages */
		CHECK(strstr(out, "(deep-diver) overflowed its 64 KiB stack") != NULL);
	}
	return T_PASS;
}
