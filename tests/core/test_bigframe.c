/* A task whose frame is larger than a page (a big local buffer, of which
 * only the start is written, as read(fd, buf, 4096) into char buf[72 KiB]
 * on a 64 KiB stack) must die with the overflow line, as any overflow of a
 * guarded stack.  Compiled without stack-clash probes, the frame jumped the
 * guard page and the write landed in the stack of the task below, which
 * found 4096 bytes of its locals changed, and nothing was reported:
 *   victim saw 4096 damaged bytes of its stack; no overflow reported
 * Now ringo's CMake targets (this test links ringo_static) and pkg-config
 * file compile the user's code with -fstack-clash-protection.  Skipped
 * under sanitizers (they own SIGSEGV). */
// ctest-timeout: 60
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"

static volatile int sink;
static _Atomic int victim_parked, victim_bad = -1;

static void victim(void *arg)
{
	(void)arg;
	volatile unsigned char mark[16384];
	for (size_t i = 0; i < sizeof mark; i++)
		mark[i] = 0xAB;
	atomic_store(&victim_parked, 1);
	rg_sleep(100000000);
	int bad = 0;
	for (size_t i = 0; i < sizeof mark; i++)
		bad += mark[i] != 0xAB;
	atomic_store(&victim_bad, bad);
}

__attribute__((noinline)) static void big_frame(void)
{
	volatile char buf[72 * 1024];
	for (int i = 0; i < 4096; i++)
		buf[i] = 0x11;
	sink = buf[5];
}

static void culprit(void *arg)
{
	(void)arg;
	big_frame();
}

static int main_fn(void *arg)
{
	(void)arg;
	/* consecutive slots of one guarded slab: the culprit's is above */
	CHECK(rg_go(victim, NULL) > 0);
	while (!atomic_load(&victim_parked))
		rg_yield();
	rg_task_opts o = { .name = "big-frame" };
	CHECK(rg_go_opts(culprit, NULL, &o) > 0);
	while (atomic_load(&victim_bad) < 0)
		rg_sleep(1000000);
	fprintf(stderr, "victim saw %d damaged bytes of its stack; no overflow reported\n",
	        (int)atomic_load(&victim_bad));
	return 0;
}

static void child(void)
{
	alarm(30);
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	rg_run(main_fn, NULL, &cfg);
}

int main(void)
{
#if T_SANITIZED
	SKIP("sanitizers own SIGSEGV and stack redzones: overflow checked in plain builds");
#endif
	char out[4096];
	int st = t_fork_stderr(child, out, sizeof out);
	fprintf(stderr, "child said: %s", out);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(out, "(big-frame) overflowed its 64 KiB stack") != NULL);
	return T_PASS;
}
