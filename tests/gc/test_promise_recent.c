/* gc.h promises no other test checks:
 *   - "The last 256 objects a thread without a task allocated stay alive
 *     regardless": a task's rg_blocking section allocates 256 objects and
 *     hides every pointer (stored complemented, in a global that is no
 *     root); two collections and 200,000 allocations of the same size later
 *     (which would reuse their slots had they been freed) each still holds
 *     its pattern.  (With 2,000 objects, most are overwritten: the check
 *     sees a freed object.)
 *   - rg_gc_collect returns -EDEADLK inside rg_gc_mutate_begin/end (here
 *     outside rg_run, where it would otherwise collect). */
#include <ringo.h>
#include <string.h>
#include "check.h"

enum { N = 256, SZ = 48 };
static _Atomic int phase;
static uintptr_t hidden[N];

static intptr_t alloc_and_hold(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++) {
		unsigned char *o = rg_gc_alloc(SZ);
		CHECK(o);
		memset(o, 0xAB, SZ);
		hidden[i] = ~(uintptr_t)o;
	}
	atomic_store(&phase, 1);
	while (atomic_load(&phase) != 2)
		sched_yield();
	int bad = 0;
	for (int i = 0; i < N; i++) {
		unsigned char *o = (unsigned char *)~hidden[i];
		for (int j = 0; j < SZ; j++)
			if (o[j] != 0xAB) {
				bad++;
				break;
			}
	}
	return bad;
}

static _Atomic intptr_t result = -1;

static void runner(void *arg)
{
	atomic_store(&result, rg_blocking(alloc_and_hold, arg));
}

static int main_task(void *arg)
{
	(void)arg;
	rg_go(runner, NULL);
	while (atomic_load(&phase) != 1)
		rg_sleep(100000);
	for (int round = 0; round < 2; round++) {
		CHECK_EQ(rg_gc_collect(), 0);
		for (int i = 0; i < 100000; i++)
			memset(rg_gc_alloc(SZ), 0, SZ);
	}
	atomic_store(&phase, 2);
	while (atomic_load(&result) < 0)
		rg_sleep(100000);
	CHECK_EQ(atomic_load(&result), 0);
	return 0;
}

int main(void)
{
	rg_gc_mutate_begin();
	CHECK_EQ(rg_gc_collect(), -EDEADLK);
	rg_gc_mutate_end();
	CHECK_EQ(rg_gc_collect(), 0);
	return rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
