/* A task that overruns its stack dies with one clear line, both on a
 * guarded stack (guard page) and on a canary stack (mapping budget spent). */
// ctest-timeout: 60
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"

static volatile int sink;

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
		sink = t_dive_(1 << 20);
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

/* Whatever the kernel maps below a canary slab must be safe from a task
 * that overruns the bottom slot: the page under the slab is a guard. */
static int guard_main(void *arg)
{
	(void)arg;
	volatile char here = 0;
	uintptr_t a = (uintptr_t)&here;
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[512];
	uintptr_t prev_lo = 0, prev_hi = 0;
	char prev_perm[8] = "";
	int found = 0;
	while (fgets(line, sizeof line, f)) {
		uintptr_t lo, hi;
		char perm[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3)
			continue;
		if (a >= lo && a < hi) {
			found = 1;
			fprintf(stderr, "stack mapping %lx-%lx %s, below it %lx-%lx %s\n",
			        lo, hi, perm, prev_lo, prev_hi, prev_perm);
			CHECK_EQ(prev_hi, lo);             /* adjacent */
			CHECK(strncmp(prev_perm, "---p", 4) == 0); /* no access */
			break;
		}
		prev_lo = lo, prev_hi = hi;
		memcpy(prev_perm, perm, sizeof perm);
	}
	fclose(f);
	CHECK(found);
	(void)here;
	return 0;
}

int main(void)
{
#if T_SANITIZED
	SKIP("sanitizers own SIGSEGV and stack redzones: overflow checked in plain builds");
#endif
	setenv("RINGO_STACK_GUARDS", "0", 1);
	rg_config cfg = { .procs = 1 };
	CHECK_EQ(rg_run(guard_main, NULL, &cfg), 0);
	unsetenv("RINGO_STACK_GUARDS");

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
