/* rg_ctx_cancel returns only once ctx and every descendant are done, also
 * when another cancel of the same tree is doing the work (sync.h).  Go's
 * cancel cancels the children under the parent's mutex, so a second
 * cancel waits on that mutex until the subtree is done.  ringo's first
 * canceller detaches the children and cancels them from a work list, with
 * no lock held: a second rg_ctx_cancel(A) found A's error set and
 * returned at once, while a descendant still read 0 (found by
 * core_soak_mix; 58 of 60 rounds returned early).
 *
 *   second:   task X cancels A (A -> B -> NK children); task Y, on the
 *             other P, waits for A's error, cancels A itself and at once
 *             reads the last child's error.
 *   deadline: A's own deadline fires (a timer's run, on a scheduler or
 *             sysmon) while Y spins on A's error, then cancels A.
 *   below:    X cancels B (a child of A, with NK children); Y waits for
 *             B's error, then cancels A: A's cancel finds B already being
 *             cancelled by X and must wait for X's work below B.
 *   foreign:  as "second", with Y a thread outside the runtime.
 *   nested:   outside any run, an after-func (run on the cancelling
 *             thread, before that rg_ctx_cancel returns) cancels the root
 *             of the cancel that started it: it must return, not wait
 *             for itself, and find the whole tree done (it runs once that
 *             cancel is complete).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define NK 20000
#define ROUNDS 12

static rg_ctx *A, *B, *K[NK];
static _Atomic int phase; /* 1: go, 2: Y's check done */
static _Atomic int early;
static int mode;
enum { SECOND, DEADLINE, BELOW, FOREIGN };

static void x_task(void *arg)
{
	(void)arg;
	while (atomic_load(&phase) != 1)
		rg_yield();
	rg_ctx_cancel(mode == BELOW ? B : A);
}

static void y_check(void)
{
	rg_ctx *watched = mode == BELOW ? B : A;
	while (rg_ctx_err(watched) == 0)
		;
	rg_ctx_cancel(A);
	if (rg_ctx_err(K[NK - 1]) == 0 || rg_ctx_err(K[0]) == 0 || rg_ctx_err(B) == 0)
		atomic_fetch_add(&early, 1);
	atomic_store(&phase, 2);
}

static void y_task(void *arg)
{
	(void)arg;
	y_check();
}

static void *y_thread(void *arg)
{
	(void)arg;
	y_check();
	return NULL;
}

static void one_round(void)
{
	if (mode == DEADLINE)
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 20000000, &A), 0);
	else
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &A), 0);
	CHECK_EQ(rg_ctx_with_cancel(A, &B), 0);
	for (int i = 0; i < NK; i++)
		CHECK_EQ(rg_ctx_with_cancel(B, &K[i]), 0);
	atomic_store(&phase, 0);
	pthread_t th;
	if (mode == FOREIGN)
		CHECK_EQ(pthread_create(&th, NULL, y_thread, NULL), 0);
	else
		CHECK(rg_go(y_task, NULL) > 0);
	if (mode != DEADLINE)
		CHECK(rg_go(x_task, NULL) > 0);
	rg_sleep(2000000);
	/* not over a 2: in "deadline", Y may be done already (the deadline
	 * can pass while the children are being made, on a loaded machine) */
	int zero = 0;
	atomic_compare_exchange_strong(&phase, &zero, 1);
	while (atomic_load(&phase) != 2)
		rg_sleep(100000);
	if (mode == FOREIGN)
		CHECK_EQ(pthread_join(th, NULL), 0);
	for (int i = 0; i < NK; i++)
		rg_ctx_release(K[i]);
	rg_ctx_release(B);
	rg_ctx_release(A);
}

static int main_task(void *arg)
{
	(void)arg;
	static const char *names[] = { "second", "deadline", "below", "foreign" };
	int failed = 0;
	for (mode = SECOND; mode <= FOREIGN; mode++) {
		atomic_store(&early, 0);
		for (int r = 0; r < ROUNDS; r++)
			one_round();
		if (atomic_load(&early))
			fprintf(stderr, "%s: %d of %d rounds: rg_ctx_cancel(A) returned before every descendant was done\n",
			        names[mode], atomic_load(&early), ROUNDS);
		failed += atomic_load(&early) != 0;
	}
	CHECK_EQ(failed, 0);
	return 0;
}

/* --- nested: a cancel's own after-func, outside any run ---------------- */

static rg_ctx *N_root, *N_a, *N_b;
static int nested_err_b = 1;

static void nested_fn(void *arg)
{
	(void)arg;
	rg_ctx_cancel(N_root); /* the cancel that started this: returns */
	nested_err_b = rg_ctx_err(N_b);
}

static void nested(void)
{
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &N_root), 0);
	CHECK_EQ(rg_ctx_with_cancel(N_root, &N_a), 0);
	CHECK_EQ(rg_ctx_with_cancel(N_root, &N_b), 0);
	/* N_b was made last: the cancel reaches it first (a list's head),
	 * then N_a, whose after-func runs once the root's cancel is done */
	CHECK(rg_ctx_after_func(N_a, nested_fn, NULL) > 0);
	rg_ctx_cancel(N_root);
	CHECK_EQ(rg_ctx_err(N_a), -ECANCELED);
	CHECK_EQ(nested_err_b, -ECANCELED);
	rg_ctx_release(N_b);
	rg_ctx_release(N_a);
	rg_ctx_release(N_root);
}

int main(void)
{
	nested();
	return rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
