/* A heap grown only by threads without a P inside rg_run.  Only a task can
 * stop the world, and tasks looked at the goal only in their own
 * allocation slow path: with every task parked, an rg_blocking section or
 * a foreign thread allocating garbage grew the heap without bound (no
 * RINGO_MEMLIMIT: 0 collections, every page of it mapped).  Now such a
 * thread that finds the heap over its goal spawns a task to collect (one
 * at a time) and goes on without waiting.  Cases, on 1 P whose only task
 * waits in rg_blocking:
 *   - an rg_blocking section allocating NBYTES of 1 KiB garbage;
 *   - a foreign thread doing the same;
 *   - 4 foreign threads and 2 sections at once, also inside mutation
 *     sections (the spawn does not wait);
 * each must see collections and keep the mapped heap (heap_sys, which
 * never shrinks) far under what it allocated, and the last 64 objects of
 * each thread, held only on its stack, intact (its ring).  Then rg_run
 * ends while a foreign thread churns (a spawned task may be discarded),
 * and a second rg_run must still collect for such a thread. */
// ctest-timeout: 180
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define OBJ 1024
#define WINDOW 64
#define NCHURN (T_SANITIZED ? 100000L : 300000L) /* 100-300 MB */
/* The mapped heap (all cases: it never shrinks) may not grow past this,
 * far under what one case allocates (before: 320 MiB mapped for 300 MB).
 * The collection comes when the spawned task runs: under load, with 6
 * threads allocating, the heap overshoots its goal by what they allocate
 * meanwhile (128 MiB mapped seen under scripts/stress.sh). */
#define MAX_SYS (256ull << 20)

static _Atomic int next_tag = 1;

/* n objects of 1 KiB (n < 0: until *stop), keeping the last WINDOW,
 * checked before they are dropped; every 16th inside a mutation section
 * when mutate is set. */
static void churn(long n, _Atomic int *stop, bool mutate)
{
	uint64_t tag = (uint64_t)atomic_fetch_add(&next_tag, 1) << 32;
	uint64_t *win[WINDOW] = {0};
	for (long i = 0; n < 0 || i < n; i++) {
		if (stop && atomic_load_explicit(stop, memory_order_relaxed))
			return;
		bool m = mutate && i % 16 == 0;
		if (m)
			rg_gc_mutate_begin();
		uint64_t *o = rg_gc_alloc(OBJ);
		if (m)
			rg_gc_mutate_end();
		CHECK(o != NULL);
		uint64_t *old = win[i % WINDOW];
		if (old) {
			uint64_t want = tag | (uint64_t)(i - WINDOW);
			CHECK(old[0] == want && old[OBJ / 8 - 1] == want);
		}
		o[0] = o[OBJ / 8 - 1] = tag | (uint64_t)i;
		win[i % WINDOW] = o;
	}
}

static void stats(rg_gc_stats *s) { CHECK_EQ(rg_gc_stats_get(s), 0); }

static void report(const char *who, long nthreads, const rg_gc_stats *s0)
{
	rg_gc_stats s;
	stats(&s);
	printf("%s: %ld MB allocated, %llu collections, %.1f MiB mapped, %.1f MiB in use\n", who,
	       nthreads * NCHURN * OBJ / 1000000, (unsigned long long)(s.num_gc - s0->num_gc),
	       s.heap_sys / 1048576.0, s.heap_inuse / 1048576.0);
	CHECK(s.num_gc > s0->num_gc);
	CHECK(s.heap_sys < MAX_SYS);
}

static intptr_t section(void *arg)
{
	CHECK(rg_proc_id() == -1);
	churn(NCHURN, NULL, arg != NULL);
	return 0;
}

static void *thread_churn(void *arg)
{
	churn(NCHURN, NULL, arg != NULL);
	return NULL;
}

static intptr_t join(void *arg)
{
	CHECK_EQ(pthread_join(*(pthread_t *)arg, NULL), 0);
	return 0;
}

static _Atomic int sections_left;

static void section_task(void *arg)
{
	CHECK_EQ(rg_blocking(section, arg), 0);
	atomic_fetch_sub(&sections_left, 1);
}

static int main_cases(void *arg)
{
	(void)arg;
	rg_gc_stats s0;
	stats(&s0);
	CHECK_EQ(rg_blocking(section, NULL), 0);
	report("rg_blocking section", 1, &s0);

	stats(&s0);
	pthread_t th[4];
	CHECK_EQ(pthread_create(&th[0], NULL, thread_churn, NULL), 0);
	CHECK_EQ(rg_blocking(join, &th[0]), 0);
	report("foreign thread", 1, &s0);

	stats(&s0);
	atomic_store(&sections_left, 2);
	for (int k = 0; k < 4; k++)
		CHECK_EQ(pthread_create(&th[k], NULL, thread_churn, (void *)(intptr_t)(k & 1)), 0);
	for (int k = 0; k < 2; k++)
		CHECK(rg_go(section_task, (void *)(intptr_t)k) > 0);
	for (int k = 0; k < 4; k++)
		CHECK_EQ(rg_blocking(join, &th[k]), 0);
	while (atomic_load(&sections_left))
		rg_sleep(1000000);
	report("4 foreign threads and 2 sections", 6, &s0);
	return 0;
}

/* ---- rg_run ends meanwhile, and a second one --------------------------- */

static _Atomic int forever_stop;

static void *thread_forever(void *arg)
{
	(void)arg;
	churn(-1, &forever_stop, false);
	return NULL;
}

static int main_end(void *arg)
{
	CHECK_EQ(pthread_create(arg, NULL, thread_forever, NULL), 0);
	rg_sleep(100 * 1000000LL); /* churning, through collections */
	return 0;
}

static int main_again(void *arg)
{
	(void)arg;
	rg_gc_stats s0;
	stats(&s0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_churn, NULL), 0);
	CHECK_EQ(rg_blocking(join, &th), 0);
	report("foreign thread, next rg_run", 1, &s0);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	rg_config cfg = {.procs = 1, .nopin = 1, .quiet = 1};
	CHECK_EQ(rg_run(main_cases, NULL, &cfg), 0);
	for (int i = 0; i < 5; i++) {
		pthread_t th;
		atomic_store(&forever_stop, 0);
		CHECK_EQ(rg_run(main_end, &th, &cfg), 0);
		atomic_store(&forever_stop, 1);
		CHECK_EQ(pthread_join(th, NULL), 0);
	}
	CHECK_EQ(rg_run(main_again, NULL, &cfg), 0);
	return 0;
}
