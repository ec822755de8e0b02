/* Yield ping-pong: two tasks on one P alternate strictly with rg_yield
 * (rg_yield goes to the back of the local queue). */
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"

#define ROUNDS 100000
static int trace[2 * ROUNDS + 8];
static int pos;

static void player(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		trace[pos++] = me;
		rg_yield();
	}
}

static int main_fn(void *arg)
{
	CHECK_EQ(rg_procs(), 1);
	CHECK(rg_go(player, (void *)0) > 0);
	CHECK(rg_go(player, (void *)1) > 0);
	/* main waits at the back of the queue until both are done */
	while (pos < 2 * ROUNDS)
		rg_sleep(1000000);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	CHECK_EQ(pos, 2 * ROUNDS);
	/* Strict alternation, except where the 61st-tick fairness check or the
	 * main task's wake-ups interleave: allow a handful of repeats. */
	int repeats = 0;
	for (int i = 1; i < pos; i++)
		repeats += trace[i] == trace[i - 1];
	printf("repeats %d of %d\n", repeats, pos);
	CHECK(repeats < pos / 50);
	return T_PASS;
}
