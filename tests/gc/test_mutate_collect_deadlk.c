/* gc.h: rg_gc_collect "returns ... -EDEADLK inside rg_gc_mutate_begin/end".
 * Outside rg_run, thread A opens a mutate section; thread B calls
 * rg_gc_collect, which takes the outside-work lock and then waits for A's
 * section to end; A then calls rg_gc_collect.  It took the outside-work
 * lock before looking at its own section, so it waited for B, which
 * waited for A: a deadlock (here: SIGALRM after 10 s) instead of -EDEADLK.
 * (TSan reported the lock-order inversion on the single-thread case, in
 * tests/gc/test_promise_recent.c.) */
// ctest-timeout: 60
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "ringo.h"

static _Atomic int b_started, b_result = 1;

static void *collector(void *arg)
{
	(void)arg;
	atomic_store(&b_started, 1);
	atomic_store(&b_result, rg_gc_collect());
	return NULL;
}

static void child(int k)
{
	(void)k;
	alarm(10);
	CHECK(rg_gc_alloc(64)); /* the heap exists */
	rg_gc_mutate_begin();
	pthread_t b;
	CHECK_EQ(pthread_create(&b, NULL, collector, NULL), 0);
	while (!atomic_load(&b_started))
		sched_yield();
	/* let B take the outside-work lock and wait for this section */
	nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	CHECK_EQ(rg_gc_collect(), -EDEADLK);
	rg_gc_mutate_end();
	CHECK_EQ(pthread_join(b, NULL), 0);
	CHECK_EQ(atomic_load(&b_result), 0);
	exit(0);
}

int main(void)
{
	static const char *const names[] = { "collect inside a section while another thread collects" };
	return t_fork_cases(1, child, names) ? T_FAIL : T_PASS;
}
