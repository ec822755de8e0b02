/* Helpers shared by the gc adversarial tests (test_adversarial.c,
 * test_adversarial2.c, test_adversarial3.c; the canary helpers with
 * GC_ADV_CANARIES defined): the gc's internal checks, the small helpers the
 * cases use, and the driver that runs each case in a child process of its
 * own, re-executed from the test binary with the case's environment, and
 * kills a case that hangs with its alarm.
 *
 * The including file defines its cases[] table of struct tcase and calls
 * adv_main from main.  Not a test itself (no test_ prefix).
 */
#ifndef RG_TESTS_GC_ADV_H
#define RG_TESTS_GC_ADV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"

bool rg__gc_allocated(const void *p);
int rg__gc_verify(void);

extern char **environ;

#define SAN_SCALE(n) (T_SANITIZED ? (n) / 4 + 1 : (n))

static const rg_config quiet_cfg = {.quiet = 1, .nopin = 1}; /* shared machines */

/* A case body: main(NULL) in one rg_run on procs Ps, quiet; 0 or a CHECK. */
__attribute__((unused)) static int run_quiet(rg_main_fn main, int procs)
{
	rg_config cfg = quiet_cfg;
	cfg.procs = procs;
	CHECK_EQ(rg_run(main, NULL, &cfg), 0);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Wipes dead stack below the caller so stale copies of pointers go. */
__attribute__((noinline)) static void clobber_stack(void)
{
	volatile char buf[16384];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Every byte of [p, p+n) is v.  memcmp in chunks: sanitizers check a
 * call's range at once instead of each byte. */
static bool all_bytes(const void *p, size_t n, unsigned char v)
{
	unsigned char pat[4096];
	memset(pat, v, sizeof pat);
	const unsigned char *c = p;
	for (size_t off = 0; off < n; off += sizeof pat) {
		size_t k = n - off < sizeof pat ? n - off : sizeof pat;
		if (memcmp(c + off, pat, k))
			return false;
	}
	return true;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#ifdef GC_ADV_CANARIES
/* ---- canaries (test_adversarial2.c, test_adversarial3.c) ----------------
 * Needs <ringo/gc.h>.  A canary object: a header word with its own
 * address xor a tag, then the pattern byte; memory handed out again while
 * still reachable shows up as a changed pattern. */
#define CAN_MAGIC 0x6a09e667f3bcc908ull
__attribute__((noinline)) static unsigned char *can_new(size_t size, unsigned char pat)
{
	unsigned char *p = rg_gc_alloc_noscan(size);
	if (!p)
		return NULL;
	CHECK(size >= 16);
	*(uint64_t *)p = (uint64_t)(uintptr_t)p ^ CAN_MAGIC;
	memset(p + 8, pat, size - 8);
	return p;
}

static bool can_ok(const unsigned char *p, size_t size, unsigned char pat)
{
	return *(const uint64_t *)p == ((uint64_t)(uintptr_t)p ^ CAN_MAGIC) &&
	       all_bytes(p + 8, size - 8, pat);
}

/* Garbage that reuses whatever was wrongly freed, filled with 0xee;
 * collections in between. */
__attribute__((noinline)) static void churn(int rounds, int n, size_t size)
{
	for (int r = 0; r < rounds; r++) {
		CHECK_EQ(rg_gc_collect(), 0);
		for (int i = 0; i < n; i++) {
			unsigned char *p = rg_gc_alloc(size);
			CHECK(p);
			memset(p, 0xee, size);
		}
	}
	clobber_stack();
}

/* Until *f reaches v (a minute at most: a hang fails here). */
static void wait_flag(_Atomic int *f, int v)
{
	int64_t end = rg_now() + 60000000000LL;
	while (atomic_load(f) < v) {
		CHECK(rg_now() < end);
		rg_sleep(200000);
	}
}
#endif

/* ---- the driver --------------------------------------------------------- */

struct tcase {
	const char *name;
	int (*fn)(void);
	const char *env; /* "K=V K2=V2" for the child */
	bool found_bug;  /* failed before its fix */
	int timeout_s;
};

/* Runs case c in a child: this binary re-executed as "argv0 <case>", with
 * the environment minus RINGO_GOGC and RINGO_MEMLIMIT (the case decides
 * these) plus c->env.  Returns 0 if it passed or skipped, 1 if not. */
static int adv_run_child(const struct tcase *c, const char *argv0)
{
	char *argv[] = {(char *)argv0, (char *)c->name, NULL};
	size_t ne = 0;
	while (environ[ne])
		ne++;
	char envbuf[256];
	snprintf(envbuf, sizeof envbuf, "%s", c->env);
	char **envp = calloc(ne + 16, sizeof *envp);
	CHECK(envp);
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) /* the case decides these */
		if (strncmp(environ[i], "RINGO_GOGC=", 11) && strncmp(environ[i], "RINGO_MEMLIMIT=", 15))
			envp[k++] = environ[i];
	for (char *tok = strtok(envbuf, " "); tok && k < ne + 15; tok = strtok(NULL, " "))
		envp[k++] = tok;
	envp[k] = NULL;
	int64_t t0 = mono_ns();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	free(envp);
	double secs = (mono_ns() - t0) / 1e9;
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == T_SKIP)) {
		printf("%s %-32s %6.2f s\n", WEXITSTATUS(st) ? "SKIP" : "PASS", c->name, secs);
		return 0;
	}
	printf("FAIL %-32s %6.2f s (%s %d)\n", c->name, secs, WIFEXITED(st) ? "exit" : "signal",
	       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return 1;
}

/* main for an adversarial binary: "argv0 <case>" runs that case in this
 * process under its alarm; with no argument, every case (or RG_ADV_CASE's)
 * RG_ADV_REPEAT times, each in a child. */
static int adv_main(int argc, char **argv, const struct tcase *cases, size_t ncases,
                    const char *argv0)
{
	if (argc > 1) {
		for (size_t i = 0; i < ncases; i++)
			if (!strcmp(argv[1], cases[i].name)) {
				alarm((unsigned)cases[i].timeout_s * (T_SANITIZED ? 3 : 1));
				return cases[i].fn() ? T_FAIL : T_PASS;
			}
		fprintf(stderr, "no case %s\n", argv[1]);
		return T_FAIL;
	}
	const char *only = getenv("RG_ADV_CASE");
	int repeat = getenv("RG_ADV_REPEAT") ? atoi(getenv("RG_ADV_REPEAT")) : 1;
	if (repeat < 1)
		repeat = 1;
	int failed = 0, ran = 0;
	for (size_t i = 0; i < ncases; i++) {
		const struct tcase *c = &cases[i];
		if (only && *only && strcmp(only, c->name))
			continue;
		for (int r = 0; r < repeat; r++) {
			failed += adv_run_child(c, argv0);
			ran++;
		}
		fflush(stdout);
	}
	printf("%d of %d runs failed\n", failed, ran);
	return failed ? T_FAIL : T_PASS;
}

#endif
