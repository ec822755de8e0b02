/* An after-func run in place (no rg_run: no task can be made) that
 * cancels an ancestor, while another thread cancels that ancestor.
 *
 * Thread X cancels A (a child of R): A's cancel records X as its runner
 * and runs A's after-func in place, which calls rg_ctx_cancel(R) ("when
 * one part ends, end the group").  Thread Y has cancelled R meanwhile:
 * its walk found A already done, run by X, and waits for X's cancel of A
 * to end.  X's rg_ctx_cancel(R) found R done, run by Y, and waits for Y:
 * each waited for the other, forever (ef59646..d6a411b).  An after-func
 * run in place now runs once its own cancel is complete. */
// ctest-timeout: 60
#include <ringo.h>

#include "../check.h"

static rg_ctx *R, *A;
static _Atomic int a_marked, y_started;

static void after_a(void *arg)
{
	(void)arg;
	atomic_store(&a_marked, 1);
	/* let Y's cancel of R reach A (the race, made certain) */
	while (!atomic_load(&y_started))
		sched_yield();
	for (int i = 0; i < 2000 && !rg_ctx_err(R); i++)
		usleep(100);
	usleep(2000);
	rg_ctx_cancel(R);
}

static void *thread_y(void *arg)
{
	(void)arg;
	while (!atomic_load(&a_marked))
		sched_yield();
	atomic_store(&y_started, 1);
	rg_ctx_cancel(R);
	return NULL;
}

static void on_alarm(int s)
{
	(void)s;
	static const char m[] = "deadlock: rg_ctx_cancel(A) and rg_ctx_cancel(R) wait for each other\n";
	ssize_t n = write(2, m, sizeof m - 1);
	(void)n;
	_exit(T_FAIL);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(20);
	for (int round = 0; round < 20; round++) {
		atomic_store(&a_marked, 0);
		atomic_store(&y_started, 0);
		CHECK(rg_ctx_with_cancel(rg_ctx_background(), &R) == 0);
		CHECK(rg_ctx_with_cancel(R, &A) == 0);
		CHECK(rg_ctx_after_func(A, after_a, NULL) > 0);
		pthread_t y;
		CHECK(pthread_create(&y, NULL, thread_y, NULL) == 0);
		rg_ctx_cancel(A);
		CHECK(pthread_join(y, NULL) == 0);
		CHECK_EQ(rg_ctx_err(A), -ECANCELED);
		CHECK_EQ(rg_ctx_err(R), -ECANCELED);
		rg_ctx_release(A);
		rg_ctx_release(R);
	}
	return T_PASS;
}
