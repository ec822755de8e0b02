/* rg_run's end while tasks hop between Ps (io/cancel.c, rg__io_hop).
 *
 * A hop parks the task with an unlock callback that, on the P it leaves,
 * queues a request for the target P and writes the target's eventfd.  At
 * rg_run's end each P left its loop and closed its own eventfd (pio_fini)
 * without waiting for the others: a P still running a hop's callback
 * wrote to an fd the target had closed, or, once the number was reused,
 * to somebody else's file.  TSan saw it once in CI (io_pressure: close in
 * pio_fini against write in hop_post).  Here 8 tasks hop back and forth
 * between 2 Ps when main returns, 200 times; under TSan every run checks
 * the close against the writes.  In other builds the test checks only
 * that every run ends cleanly.
 *
 * io_uring backend only: the epoll backend has no hop (its cancels wake
 * the task directly). */
// ctest-timeout: 120
#include "core/core.h"
#include "core/sched_int.h"
#include "io/io_int.h"
#include "io_test.h"

#define HOPPERS 8

static rg__p *ps[2];
static _Atomic int hops;

static void hopper(void *arg)
{
	(void)arg;
	for (;;) { /* discarded when main returns */
		rg__io_hop(ps[0]);
		rg__io_hop(ps[1]);
		atomic_fetch_add_explicit(&hops, 1, memory_order_relaxed);
	}
}

static _Atomic int p1_ready;

/* Sets up io state on the other P: runs there once stolen. */
static void on_p1(void *arg)
{
	(void)arg;
	while (rg__getp() != ps[1])
		rg_yield();
	rg__io_p_init_once(ps[1]);
	atomic_store(&p1_ready, 1);
}

static int main_fn(void *arg)
{
	int round = (int)(intptr_t)arg;
	ps[0] = rg__getp();
	ps[1] = rg__sched.allp[ps[0] == rg__sched.allp[0] ? 1 : 0];
	rg__io_p_init_once(ps[0]);
	atomic_store(&p1_ready, 0);
	CHECK(rg_go(on_p1, NULL) > 0);
	/* keep this P busy (no scheduling point) so that the other P takes
	 * on_p1 from it */
	int64_t end = rg_now() + 10000 * MS;
	while (!atomic_load(&p1_ready))
		CHECK(rg_now() < end);
	for (int i = 0; i < HOPPERS; i++)
		CHECK(rg_go(hopper, NULL) > 0);
	/* return at various points of the hopping */
	rg_sleep((round % 7) * 100000);
	for (int i = 0; i < round % 3; i++)
		rg_yield();
	return 0;
}

int main(void)
{
	if (getenv("RINGO_IO") && !strcmp(getenv("RINGO_IO"), "epoll"))
		SKIP("no hops on the epoll backend");
	int runs = T_SANITIZED ? 100 : 200;
	for (int r = 0; r < runs; r++) {
		rg_config c = { .procs = 2, .quiet = 1 };
		if (getenv("HOP_DEBUG"))
			fprintf(stderr, "run %d\n", r);
		CHECK_EQ(rg_run(main_fn, (void *)(intptr_t)r, &c), 0);
	}
	printf("%d runs ended mid-hop, %d hops\n", runs, atomic_load(&hops));
	return T_PASS;
}
