/* Tasks go to the global run queue while the heap has no memory: they all
 * run, nothing aborts.
 *
 * The global queue is a ring of pointers that grows with rg__malloc, and
 * a put that could not grow it aborted ("out of memory for the global
 * run queue"): a run queue overflowing, a yield behind the global queue
 * and a poll's completions have nowhere to report a failure.  Now the
 * tasks that do not fit go behind the ring on a list through their own
 * links (core/sched.c, globrunq_put_batch).
 *
 * One P: main, its thread's rg__malloc failing (ld --wrap) or not,
 * spawns tasks without a scheduling point: past 256 the run queue
 * overflows, half of it at a time, into the global queue.  Each task
 * yields a few times (a yield goes behind the global queue while it
 * holds tasks), and main waits for them all.
 *   round 0  failing, no ring yet: every overflow goes to the list;
 *   round 1  memory back, 2,000 tasks: the ring grows to 2,048;
 *   round 2  failing: the ring fills, the rest goes to the list;
 *   round 3  memory back: the ring alone again.
 * Before the change round 0's first overflow aborted. */
// ctest-timeout: 120
// ctest-link: -Wl,--wrap=rg__malloc
#include <stdatomic.h>

#include "check.h"
#include "core/sched_int.h"
#include "ringo.h"
#include "fail_malloc.h"

#define N (T_TSAN ? 5000 : 20000)
#define YIELDS 3

static _Atomic int done;

static void worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < YIELDS; i++)
		rg_yield();
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	(void)arg;
	static const struct {
		int fail, n;
	} rounds[] = { { 1, N }, { 0, 2000 }, { 1, N }, { 0, N } };
	for (int r = 0; r < 4; r++) {
		int n = rounds[r].n;
		atomic_store(&done, 0);
		long failed0 = atomic_load(&failed);
		fail_here = rounds[r].fail;
		for (int i = 0; i < n; i++)
			CHECK(rg_go(worker, NULL) > 0);
		/* one P, no scheduling point since: only this thread wrote them */
		int32_t queued = atomic_load(&rg__sched.gq_size);
		uint32_t spilled = rg__sched.gq_spilled, cap = rg__sched.gq_cap;
		while (atomic_load(&done) < n)
			rg_yield();
		fail_here = 0;
		printf("round %d: %d tasks, %s: %d in the global queue, %u of them behind the ring (%u slots), "
		       "%ld allocations failed\n",
		       r, n, rounds[r].fail ? "rg__malloc failing" : "memory", (int)queued, spilled, cap,
		       atomic_load(&failed) - failed0);
		CHECK(queued > n / 2); /* the overflow went there */
		if (r == 0)
			CHECK_EQ(spilled, (uint32_t)queued);
		if (r == 2)
			CHECK(spilled > 0 && spilled < (uint32_t)queued);
		if (!rounds[r].fail)
			CHECK_EQ(spilled, 0);
		CHECK_EQ(atomic_load(&rg__sched.gq_size), 0);
		CHECK_EQ(rg__sched.gq_spilled, 0);
	}
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	rg_config c = { .procs = 1, .quiet = 1, .nopin = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &c), 0);
	printf("gq_oom: ok\n");
	return T_PASS;
}
