/* RINGO_STACK_GUARDS (README, "Configuration"): how many stacks get guard
 * pages.  Guarded stacks come in slabs of 64 whose mappings are paid for
 * when the slab is made; the budget is spent a slab at a time.  Each carve
 * looked only at the budget left: once it fell below a slab's worth, new
 * stacks went to a canary slab and the current guarded slab's free slots
 * were never used.  RINGO_STACK_GUARDS=128 gave 65 guarded stacks (64 +
 * 1), 100 gave 1; now 128 and 64 (the budget, rounded down to slabs).
 * A value that is not a number is reported and the default kept. */
// ctest-timeout: 60
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"

static void parked(void *arg)
{
	rg_sleep((int64_t)(intptr_t)arg);
}

static int main_task(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) /* all alive at once: no stack reused */
		CHECK(rg_go(parked, (void *)(intptr_t)200000000) > 0);
	rg_sched_stats s;
	rg_sched_stats_get(&s);
	return (int)s.stacks_guarded;
}

int main(void)
{
	rg_config cfg = { .procs = 1, .quiet = 1, .nopin = 1 };
	setenv("RINGO_STACK_GUARDS", "128", 1);
	CHECK_EQ(rg_run(main_task, NULL, &cfg), 128);
	setenv("RINGO_STACK_GUARDS", "100", 1);
	CHECK_EQ(rg_run(main_task, NULL, &cfg), 64);
	setenv("RINGO_STACK_GUARDS", "0", 1);
	CHECK_EQ(rg_run(main_task, NULL, &cfg), 0);
	/* not a number: said so, and the default budget (every one of the
	 * 200 guarded); atol read "abc" as 0, silently */
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	int saved = dup(2);
	dup2(pfd[1], 2);
	close(pfd[1]);
	setenv("RINGO_STACK_GUARDS", "abc", 1);
	int r = rg_run(main_task, NULL, &cfg);
	dup2(saved, 2);
	close(saved);
	char out[512];
	t_read_all(pfd[0], out, sizeof out);
	close(pfd[0]);
	printf("RINGO_STACK_GUARDS=abc: %d guarded; said: %s", r, out);
	CHECK(r >= 200); /* and main's */
	CHECK(strstr(out, "RINGO_STACK_GUARDS=\"abc\" is not a whole number") != NULL);
	return T_PASS;
}
