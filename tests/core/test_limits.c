/* rg_run when the address space runs out: -errno and a clear line, never an
 * abort, and the next rg_run works.  Each case runs in a forked child under
 * RLIMIT_AS (the usage at fork plus some headroom):
 *   threads    procs = 1024: P threads (8 MiB stacks each) stop being
 *              created part way.  The threads that had started waited
 *              for ever at a barrier counted for all 1024 and rg_run
 *              aborted ("partial P start is not recoverable").
 *   bigstack   stack_size = 1 GiB with 3 GiB of headroom: a stack slab
 *              (64 guarded or 1024 canary slots: 64 GiB, 1 TiB) cannot be
 *              mapped; the main task aborted ("cannot start the main
 *              task").  Now a slab shrinks to what fits: main runs, and
 *              rg_go says -ENOMEM once no stack fits.
 *   nostack    the same with 512 MiB of headroom: not even main's stack
 *              fits: rg_run returns -ENOMEM.
 *   pool       the first rg_blocking of a run when no thread can be made
 *              (the limit lowered to the usage of the moment, inside the
 *              run): it aborted ("cannot start a blocking-pool thread")
 *              with the task already handed over; now fn runs on the P's
 *              thread.
 * Not under ASan/TSan (their shadow memory needs more address space than
 * any limit here) nor qemu-user (it ignores the guest's RLIMIT_AS). */
// ctest-timeout: 120
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"

static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;
	CHECK(f && fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void limit_as(size_t headroom)
{
	rlim_t lim = (rlim_t)(vm_size() + headroom);
	struct rlimit rl = { lim, lim };
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
}

static int main_7(void *arg) { return 7; }

static void idle(void *arg) { rg_sleep(rg_now() + 200 * 1000000LL); }

/* main with 1 GiB stacks: spawns until no stack fits */
static int main_spawn(void *arg)
{
	int64_t r;
	int n = 0;
	while ((r = rg_go(idle, NULL)) > 0 && n < 64)
		n++;
	printf("  bigstack: %d tasks of 1 GiB besides main, then %lld\n", n, (long long)r);
	CHECK_EQ(r, -ENOMEM);
	return 7;
}

static intptr_t forty_two(void *arg) { return 42; }

static int main_pool(void *arg)
{
	limit_as(64 << 10); /* no room for a thread's stack */
	CHECK_EQ(rg_blocking(forty_two, NULL), 42);
	CHECK_EQ(rg_blocking(forty_two, NULL), 42);
	return 7;
}

static void c_pool(void)
{
	CHECK_EQ(rg_run(main_pool, NULL, &(rg_config){ .procs = 1 }), 7);
}

static void c_threads(void)
{
	limit_as((size_t)1 << 30);
	int r = rg_run(main_7, NULL, &(rg_config){ .procs = 1024, .quiet = true });
	printf("  threads: rg_run(procs = 1024) -> %d\n", r);
	CHECK(r == -EAGAIN || r == -ENOMEM);
	/* all of it let go: two Ps fit */
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .procs = 2 }), 7);
}

static void c_bigstack(void)
{
	limit_as((size_t)3 << 30);
	CHECK_EQ(rg_run(main_spawn, NULL, &(rg_config){ .procs = 2, .stack_size = (size_t)1 << 30 }), 7);
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .procs = 2 }), 7);
}

static void c_nostack(void)
{
	limit_as((size_t)512 << 20);
	int r = rg_run(main_7, NULL, &(rg_config){ .procs = 2, .stack_size = (size_t)1 << 30 });
	printf("  nostack: rg_run -> %d\n", r);
	CHECK_EQ(r, -ENOMEM);
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .procs = 2 }), 7);
}

static void in_child(const char *name, void (*fn)(void))
{
	printf("%s:\n", name);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", name, WTERMSIG(st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("%s: ok\n", name);
}

int main(void)
{
	if (T_SANITIZED || T_EMULATED) {
		printf("SKIP: RLIMIT_AS under sanitizers or qemu-user\n");
		return T_SKIP;
	}
	in_child("threads", c_threads);
	in_child("bigstack", c_bigstack);
	in_child("nostack", c_nostack);
	in_child("pool", c_pool);
	return T_PASS;
}
