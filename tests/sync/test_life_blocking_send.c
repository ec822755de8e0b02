/* A blocking section that outlives main sends on a channel.
 *
 * rg_run waits for "blocking sections still in progress (rg_blocking)"
 * (core.h); a function running there may use channels without waiting
 * (deadline 0: "elsewhere, a call that would wait returns -EPERM").  A
 * worker hands its result to a consumer that waits in a select on the
 * results channel and a quit channel.  main returns first: the consumer is
 * discarded, parked.  rg_run's end then ran its stop hooks *before*
 * waiting for the blocking section (core/run.c): sel_at_stop freed the
 * consumer's select records, which the channel still lists, and the
 * worker's send -- made before rg_run returned, on a channel the program
 * never freed -- claimed one: heap-use-after-free (ASan), a write into
 * freed memory otherwise.  Likewise sysmon, stopped after the hooks,
 * could fire a deadline into them (test_life_sysmon_fire.c). */
// ctest-timeout: 60
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_chan *results, *quit;
static _Atomic int parked, main_returned, worker_started;
static _Atomic int send_res = 1;

static intptr_t work(void *arg)
{
	(void)arg;
	atomic_store(&worker_started, 1);
	while (!atomic_load(&main_returned))
		usleep(1000);
	usleep(100 * 1000); /* a long computation; rg_run's end runs meanwhile */
	long v = 42;
	/* the consumer is waiting (as far as the worker can tell): deadline 0 */
	atomic_store(&send_res, rg_chan_send(results, &v, 0));
	return 0;
}

static void worker(void *arg) { rg_blocking(work, arg); }

static void consumer(void *arg)
{
	(void)arg;
	long v;
	rg_select_case cs[2] = { { results, RG_SELECT_RECV, &v, false }, { quit, RG_SELECT_RECV, NULL, false } };
	atomic_fetch_add(&parked, 1);
	rg_select(cs, 2, -1);
}

static int main_fn(void *arg)
{
	(void)arg;
	results = rg_chan_make(sizeof(long), 0);
	quit = rg_chan_make(0, 0);
	CHECK(rg_go(consumer, NULL) > 0);
	CHECK(rg_go(worker, NULL) > 0);
	while (!atomic_load(&parked) || !atomic_load(&worker_started))
		rg_sleep(MS);
	rg_sleep(MS);
	atomic_store(&main_returned, 1);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	rg_config cfg = { .procs = 2, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	/* 0: handed to the (discarded) consumer; -EAGAIN: it was forgotten */
	printf("the worker's send: %d\n", atomic_load(&send_res));
	CHECK(atomic_load(&send_res) == 0 || atomic_load(&send_res) == -EAGAIN);
	rg_chan_free(results);
	rg_chan_free(quit);
	printf("life_blocking_send: ok\n");
	return T_PASS;
}
