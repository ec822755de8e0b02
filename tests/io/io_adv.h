/* The case driver shared by the io adversarial tests (test_adversarial.c,
 * test_adversarial2.c and their epoll twins).  Not a test itself (no test_
 * prefix).
 *
 * Each case runs in its own rg_run on 1 P, then on 2 Ps, with the case's
 * RINGO_FAULTS if it names some; RG_ADV_CASE=name runs that case only.  A
 * case that found a bug names it for each backend (the including file's
 * comment above its table says what each fix-N was).  Cases that
 * qemu-user cannot run as the kernel would are skipped there (T_EMULATED). */
#ifndef RG_TESTS_IO_ADV_H
#define RG_TESTS_IO_ADV_H

#include "io_test.h"

struct tcase {
	const char *name;
	int (*fn)(void *);
	const char *faults;    /* RINGO_FAULTS for this case's runs */
	const char *bug_uring; /* the bug it found on io_uring (fixed) */
	const char *bug_epoll; /* the same on the epoll backend */
};

/* A case whose syscalls qemu-user translates differently from the kernel,
 * skipped there (T_EMULATED), and why. */
struct tskip {
	const char *name;
	const char *why;
};

static void adv_run_cases(const struct tcase *cases, size_t ncases, const struct tskip *not_qemu, size_t nskip)
{
	const char *only = getenv("RG_ADV_CASE");
	bool epoll_env = getenv("RINGO_IO") && !strcmp(getenv("RINGO_IO"), "epoll");
	for (size_t i = 0; i < ncases; i++) {
		const struct tcase *c = &cases[i];
		if (only && *only && strcmp(only, c->name))
			continue;
		const char *why = NULL;
		for (size_t k = 0; T_EMULATED && k < nskip; k++)
			if (!strcmp(not_qemu[k].name, c->name))
				why = not_qemu[k].why;
		if (why) {
			printf("%s: skipped under qemu-user: %s\n", c->name, why);
			continue;
		}
		const char *bug = epoll_env ? c->bug_epoll : c->bug_uring;
		if (bug)
			printf("%s: found %s\n", c->name, bug);
		for (int procs = 1; procs <= 2; procs++) {
			printf("%s, %d P:\n", c->name, procs);
			fflush(stdout);
			int64_t t0 = rg_now();
			if (c->faults)
				setenv("RINGO_FAULTS", c->faults, 1);
			CHECK_EQ(t_run(c->fn, procs), 0);
			if (c->faults)
				unsetenv("RINGO_FAULTS");
			printf("%s, %d P: ok (%.0f ms)\n", c->name, procs, (rg_now() - t0) / 1e6);
			fflush(stdout);
		}
	}
}

#endif
