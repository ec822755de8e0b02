/* rg_ctx_cancel's waits (sync/ctx.c, run_wait) beside stops of the world.
 * A task that cancels A waits, inside its cancel and without a safepoint,
 * for a thread outside the runtime that is cancelling B (A's child, with
 * NK children of its own, done channels made, after-funcs holding GC
 * objects), while another task collects in a loop: each stop waits for
 * the spinning task, which waits for the thread, which must never wait
 * for the stop.  A hang here (SIGALRM) is a deadlock between the three;
 * every round also checks that the cancel of A returned with B's whole
 * subtree done and every after-func's object intact. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "../check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/sync.h"

#define NK 2000
#define ROUNDS 25

static rg_ctx *A, *B, *K[NK];
static _Atomic int go_foreign, y_done, stop_gc, afters_ran, early;

static void after_fn(void *arg)
{
	long *o = arg;
	CHECK_EQ(*o, 42);
	atomic_fetch_add(&afters_ran, 1);
}

static void *foreign(void *arg)
{
	(void)arg;
	for (int r = 0; r < ROUNDS; r++) {
		while (atomic_load(&go_foreign) != r + 1)
			sched_yield();
		rg_ctx_cancel(B);
	}
	return NULL;
}

static void y_task(void *arg)
{
	(void)arg;
	while (rg_ctx_err(B) == 0)
		rg_yield();
	rg_ctx_cancel(A);
	for (int i = 0; i < NK; i++)
		if (rg_ctx_err(K[i]) == 0) {
			atomic_fetch_add(&early, 1);
			break;
		}
	atomic_store(&y_done, 1);
}

static void gc_task(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_gc)) {
		CHECK_EQ(rg_gc_collect(), 0);
		rg_yield();
	}
	atomic_store(&stop_gc, 2);
}

static int main_task(void *arg)
{
	(void)arg;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, foreign, NULL), 0);
	CHECK(rg_go(gc_task, NULL) > 0);
	for (int r = 0; r < ROUNDS; r++) {
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &A), 0);
		CHECK_EQ(rg_ctx_with_cancel(A, &B), 0);
		for (int i = 0; i < NK; i++) {
			CHECK_EQ(rg_ctx_with_cancel(B, &K[i]), 0);
			CHECK(rg_ctx_done(K[i]) != NULL);
			long *o = rg_gc_alloc(sizeof *o);
			CHECK(o != NULL);
			*o = 42;
			CHECK(rg_ctx_after_func(K[i], after_fn, o) > 0);
		}
		atomic_store(&y_done, 0);
		CHECK(rg_go(y_task, NULL) > 0);
		atomic_store(&go_foreign, r + 1);
		while (!atomic_load(&y_done))
			rg_sleep(200000);
		for (int i = 0; i < NK; i++)
			rg_ctx_release(K[i]);
		rg_ctx_release(B);
		rg_ctx_release(A);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	atomic_store(&stop_gc, 1);
	while (atomic_load(&stop_gc) != 2)
		rg_sleep(1000000);
	for (int i = 0; i < 2000 && atomic_load(&afters_ran) < ROUNDS * NK; i++)
		rg_sleep(1000000);
	CHECK_EQ(atomic_load(&afters_ran), ROUNDS * NK);
	CHECK_EQ(atomic_load(&early), 0);
	return 0;
}

int main(void)
{
	alarm(120); /* a deadlock: SIGALRM, not a ctest timeout */
	return rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
