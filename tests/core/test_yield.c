/* Yield ping-pong: two tasks on one P alternate strictly with rg_yield
 * (rg_yield goes to the back of the local queue).  And a task that yields
 * while the global queue holds tasks (its P's queue overflowed there)
 * runs again only after all of them, as Go's Gosched. */
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

#define SPAWNED 2000 /* well past a run queue (256): most overflow */
static _Atomic int ran;
static void one(void *arg) { atomic_fetch_add(&ran, 1); }

static int behind_main(void *arg)
{
	CHECK_EQ(rg_procs(), 1);
	for (int i = 0; i < SPAWNED; i++)
		CHECK(rg_go(one, NULL) > 0);
	rg_yield();
	/* put locally, this ran again after the ~256 tasks of the local
	 * queue, with the rest still waiting in the global queue */
	CHECK_EQ(atomic_load(&ran), SPAWNED);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 1 };
	CHECK_EQ(rg_run(behind_main, NULL, &cfg), 0);
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
