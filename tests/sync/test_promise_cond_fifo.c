/* sync.h: rg_cond_signal "wakes the longest waiter".  Four tasks wait in
 * a known order (each queued before the next starts); four signals, each
 * after the previous waiter has come back, must wake them in that order. */
#include <ringo.h>
#include "check.h"

static rg_mutex mu;
static rg_cond cv;
static int waiting, woke[4], nwoke;

static void waiter(void *arg)
{
	rg_mutex_lock(&mu);
	waiting++;
	rg_cond_wait(&cv, &mu);
	woke[nwoke++] = (int)(intptr_t)arg;
	rg_mutex_unlock(&mu);
}

static int main_task(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 4; i++) {
		rg_go(waiter, (void *)(intptr_t)i);
		for (;;) { /* waiter i is in rg_cond_wait (it released mu there) */
			rg_mutex_lock(&mu);
			int w = waiting;
			rg_mutex_unlock(&mu);
			if (w == i)
				break;
			rg_sleep(100000);
		}
	}
	for (int i = 1; i <= 4; i++) {
		rg_cond_signal(&cv);
		for (;;) {
			rg_mutex_lock(&mu);
			int n = nwoke;
			rg_mutex_unlock(&mu);
			if (n == i)
				break;
			rg_sleep(100000);
		}
	}
	for (int i = 0; i < 4; i++)
		CHECK_EQ(woke[i], i + 1);
	return 0;
}

int main(void)
{
	return rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
