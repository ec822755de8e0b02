/* NOT a ctest (not tests/<module>/test_*.c): a reproducer for a Go
 * semantic rg_ctx_cancel does not keep, left unfixed (found by
 * core_soak_mix's Context trees under scripts/stress.sh).
 *
 * sync.h: rg_ctx_cancel "Cancels ctx and every descendant".  Go's cancel
 * cancels the children while holding the parent's mutex, so a second
 * cancel of the same context (or one cancelled by a timer meanwhile)
 * waits on that mutex and returns only once the whole subtree is done.
 * ringo's cancel_tree takes the children off the list under the
 * context's lock, lets go of it and cancels them from a work list: a
 * concurrent rg_ctx_cancel(A) finds A's err set and returns at once,
 * while the first canceller is still below, and a descendant's
 * rg_ctx_err still says 0.
 *
 * Task X cancels A (A -> B -> 20,000 children of B); task Y, on the other
 * P, waits until A is done, cancels A itself and at once reads the last
 * child's error.  Go: always done.  ringo: 0 in most rounds.
 *
 * Build: cc -D_GNU_SOURCE -Iinclude -Itests -I. tests/repro/ctx_cancel_returns_early.c \
 *          out/rel/libringo.a -luring -lnuma -lmimalloc -lpthread -lm
 * Run: ./a.out (prints how many of 20 rounds saw a child not yet done;
 * exit 1 if any). */
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define NK 20000
static rg_ctx *A, *B, *K[NK];
static _Atomic int phase;
static _Atomic int early;

static void canceller(void *arg)
{
	(void)arg;
	while (atomic_load(&phase) != 1)
		rg_yield();
	rg_ctx_cancel(A);
	atomic_store(&phase, 2);
}

static void second(void *arg)
{
	(void)arg;
	while (rg_ctx_err(A) == 0)
		;
	rg_ctx_cancel(A); /* A is done: must every descendant be? */
	if (rg_ctx_err(K[NK - 1]) == 0 || rg_ctx_err(B) == 0)
		atomic_fetch_add(&early, 1);
	atomic_store(&phase, 3);
}

static int main_fn(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &A), 0);
		CHECK_EQ(rg_ctx_with_cancel(A, &B), 0);
		for (int i = 0; i < NK; i++)
			CHECK_EQ(rg_ctx_with_cancel(B, &K[i]), 0);
		atomic_store(&phase, 0);
		CHECK(rg_go(second, NULL) > 0);
		CHECK(rg_go(canceller, NULL) > 0);
		rg_sleep(1000000);
		atomic_store(&phase, 1);
		while (atomic_load(&phase) != 3)
			rg_sleep(100000);
		for (int i = 0; i < NK; i++)
			rg_ctx_release(K[i]);
		rg_ctx_release(B);
		rg_ctx_release(A);
	}
	printf("%d of 20 rounds: rg_ctx_cancel(A) returned with a descendant not done\n",
	       atomic_load(&early));
	return atomic_load(&early) ? 1 : 0;
}

int main(void)
{
	return rg_run(main_fn, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
