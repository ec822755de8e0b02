/* RINGO_MEMLIMIT from threads without a P inside rg_run: gc.h promises an
 * allocation over the limit returns NULL only after a collection.  Only a
 * task can stop the world, so such a thread asks one to collect for it and
 * waits.  Before that, an rg_blocking section or a foreign thread got NULL
 * at once, with nothing live: after ~65,000 allocations of 1 KiB under
 * 64M (found by the GC review of 2026-12-07; a reproducer in tests/repro/
 * until this test).
 *
 * Each churner allocates far more than the limit in 1 KiB objects and
 * keeps none, but for a window of its last 64 on its own stack (not
 * scanned: the thread's recent ring keeps them), stamped and checked
 * before they are dropped: a collection run by a task for the thread must
 * still honour its ring.  Cases, on 1 P (the main task waits in
 * rg_blocking, so the P is free):
 *   - an rg_blocking section;
 *   - a foreign thread (pthread) started inside rg_run;
 *   - two foreign threads, two rg_blocking sections and a task churning
 *     together (collections shared, and started by the task too);
 *   - inside rg_gc_mutate_begin/end a thread cannot wait for a collection
 *     (the collector waits for its section): NULL, promptly; after the
 *     section the next allocation collects and succeeds;
 *   - the only P's thread blocked on a lock the allocating thread holds:
 *     NULL after 10 s without a collection, not a hang;
 *   - rg_run ends while an rg_blocking section and a foreign thread churn
 *     (a task asked to collect may be discarded): rg_run returns, the
 *     section ends with NULL, nothing hangs. */
// ctest-timeout: 180
// ctest-env: RINGO_MEMLIMIT=64M
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define OBJ 1024
#define WINDOW 64 /* < the ring's 256 */
#define NCHURN (T_SANITIZED ? 150000L : 200000L) /* 150-200 MB */

static _Atomic int next_tag = 1;

/* Allocates n objects of 1 KiB (n < 0: until NULL or *stop), keeping only
 * the last WINDOW.  Returns how many it got before NULL, or -1. */
static long churn(long n, _Atomic int *stop)
{
	uint64_t tag = (uint64_t)atomic_fetch_add(&next_tag, 1) << 32;
	uint64_t *win[WINDOW] = {0};
	for (long i = 0; n < 0 || i < n; i++) {
		if (stop && atomic_load_explicit(stop, memory_order_relaxed))
			return -1;
		uint64_t *o = rg_gc_alloc(OBJ);
		if (!o)
			return i;
		uint64_t *old = win[i % WINDOW];
		if (old) {
			uint64_t want = tag | (uint64_t)(i - WINDOW);
			if (old[0] != want || old[OBJ / 8 - 1] != want)
				fprintf(stderr, "object %ld of %llx: %llx..%llx\n", i - WINDOW,
				        (unsigned long long)(tag >> 32), (unsigned long long)old[0],
				        (unsigned long long)old[OBJ / 8 - 1]);
			CHECK(old[0] == want && old[OBJ / 8 - 1] == want);
		}
		o[0] = o[OBJ / 8 - 1] = tag | (uint64_t)i;
		win[i % WINDOW] = o;
	}
	return -1;
}

static uint64_t num_gc(void)
{
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	return s.num_gc;
}

static void report(const char *who, long n, uint64_t gc0)
{
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	if (n >= 0)
		printf("%s: NULL after %ld allocations of 1 KiB, nothing live; %.1f MiB of pages "
		       "in use, %llu collections meanwhile\n",
		       who, n, s.heap_inuse / 1048576.0, (unsigned long long)(s.num_gc - gc0));
	else
		printf("%s: %ld MB allocated under 64 MiB, %llu collections\n", who,
		       NCHURN * OBJ / 1000000, (unsigned long long)(s.num_gc - gc0));
	fflush(stdout);
}

static intptr_t section(void *arg)
{
	CHECK(rg_proc_id() == -1);
	return churn(NCHURN, arg);
}

static void *thread_churn(void *arg)
{
	return (void *)(intptr_t)churn(NCHURN, arg);
}

static intptr_t join(void *arg)
{
	void *r;
	CHECK_EQ(pthread_join(*(pthread_t *)arg, &r), 0);
	return (intptr_t)r;
}

/* ---- one at a time ---------------------------------------------------- */

static void garbage(long n)
{
	for (long i = 0; i < n; i++)
		CHECK(rg_gc_alloc(OBJ) != NULL);
}

static void case_blocking(void)
{
	garbage(100000); /* the heap at the limit, all of it garbage */
	uint64_t gc0 = num_gc();
	long n = rg_blocking(section, NULL);
	report("rg_blocking", n, gc0);
	CHECK_EQ(n, -1);
	CHECK(num_gc() > gc0);
}

static void case_foreign(void)
{
	garbage(100000);
	uint64_t gc0 = num_gc();
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_churn, NULL), 0);
	long n = rg_blocking(join, &th); /* a pthread_join here would hold the P */
	report("foreign thread", n, gc0);
	CHECK_EQ(n, -1);
	CHECK(num_gc() > gc0);
}

/* ---- together --------------------------------------------------------- */

static _Atomic int sections_left, task_stop, task_done;
static _Atomic long section_result[2];

static void section_task(void *arg)
{
	int k = (int)(intptr_t)arg;
	atomic_store(&section_result[k], rg_blocking(section, NULL));
	atomic_fetch_sub(&sections_left, 1);
}

static void churn_task(void *arg)
{
	(void)arg;
	CHECK_EQ(churn(-1, &task_stop), -1); /* a task collects for itself */
	atomic_store(&task_done, 1);
}

static void case_together(void)
{
	uint64_t gc0 = num_gc();
	atomic_store(&sections_left, 2);
	pthread_t th[2];
	for (int k = 0; k < 2; k++)
		CHECK_EQ(pthread_create(&th[k], NULL, thread_churn, NULL), 0);
	for (int k = 0; k < 2; k++)
		CHECK(rg_go(section_task, (void *)(intptr_t)k) > 0);
	CHECK(rg_go(churn_task, NULL) > 0);
	for (int k = 0; k < 2; k++) {
		long n = rg_blocking(join, &th[k]);
		report("foreign thread, together", n, gc0);
		CHECK_EQ(n, -1);
	}
	while (atomic_load(&sections_left))
		rg_sleep(1000000);
	for (int k = 0; k < 2; k++) {
		report("rg_blocking, together", atomic_load(&section_result[k]), gc0);
		CHECK_EQ(atomic_load(&section_result[k]), -1);
	}
	atomic_store(&task_stop, 1);
	while (!atomic_load(&task_done))
		rg_sleep(1000000);
}

/* ---- a mutation section ------------------------------------------------ */

static intptr_t in_mutate(void *arg)
{
	(void)arg;
	rg_gc_mutate_begin();
	int64_t t0 = rg_now();
	long n = churn(-1, NULL); /* until NULL: it cannot wait in here */
	int64_t dt = rg_now() - t0;
	rg_gc_mutate_end();
	printf("rg_gc_mutate section: NULL after %ld allocations, %.1f ms\n", n, dt / 1e6);
	CHECK(n >= 0);
	void *p = rg_gc_alloc(OBJ); /* out of it: collects */
	CHECK(p != NULL);
	return 0;
}

static void case_mutate(void)
{
	garbage(100000);
	CHECK_EQ(rg_blocking(in_mutate, NULL), 0);
}

/* ---- no P can stop ----------------------------------------------------- */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int holding;

static void *thread_holding(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&held);
	atomic_store(&holding, 1);
	int64_t t0 = rg_now();
	long n = churn(-1, NULL); /* until NULL: no task can collect */
	int64_t dt = rg_now() - t0;
	pthread_mutex_unlock(&held);
	printf("the only P blocked on a lock this thread holds: NULL after %ld allocations, "
	       "%.1f s\n", n, dt / 1e9);
	CHECK(n >= 0);
	CHECK(dt >= 9000000000LL && dt < 60000000000LL); /* the 10 s of patience */
	return NULL;
}

/* The P's thread blocks in pthread_mutex_lock (no safepoint) on a lock a
 * foreign thread holds while it allocates at the limit: the world cannot
 * stop, and the thread's wait for a collection must end (NULL) rather
 * than hang both for ever. */
static void case_no_safepoint(void)
{
	garbage(100000);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_holding, NULL), 0);
	while (!atomic_load(&holding))
		rg_sleep(1000000);
	pthread_mutex_lock(&held);
	pthread_mutex_unlock(&held);
	CHECK_EQ(rg_blocking(join, &th), 0);
	void *p = rg_gc_alloc(OBJ); /* the queued collection was harmless */
	CHECK(p != NULL);
}

static int main_cases(void *arg)
{
	(void)arg;
	case_blocking();
	case_foreign();
	case_together();
	case_mutate();
	case_no_safepoint();
	return 0;
}

/* ---- rg_run ends meanwhile --------------------------------------------- */

static _Atomic int outside_stop;
static _Atomic long end_section_result = -2;

/* (its task, back from the pool after main returned, is discarded: the
 * result is kept here) */
static intptr_t section_forever(void *arg)
{
	(void)arg;
	long n = churn(-1, NULL); /* until NULL: when the run stops */
	atomic_store(&end_section_result, n);
	return n;
}

static void end_section_task(void *arg)
{
	(void)arg;
	rg_blocking(section_forever, NULL);
}

static void *thread_forever(void *arg)
{
	(void)arg;
	/* until the test says so: once rg_run has returned this is the only
	 * living thread that allocated (the pool's have exited), and it
	 * collects by itself */
	return (void *)(intptr_t)churn(-1, &outside_stop);
}

static int main_end(void *arg)
{
	pthread_t *th = arg;
	CHECK_EQ(pthread_create(th, NULL, thread_forever, NULL), 0);
	CHECK(rg_go(end_section_task, NULL) > 0);
	garbage(20000);
	rg_sleep(200 * 1000000LL); /* both churning, through collections */
	return 0;                   /* rg_run waits for the section */
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	rg_config cfg = {.procs = 1, .nopin = 1, .quiet = 1};
	CHECK_EQ(rg_run(main_cases, NULL, &cfg), 0);

	pthread_t th;
	int64_t t0 = rg_now();
	CHECK_EQ(rg_run(main_end, &th, &cfg), 0);
	long n = atomic_load(&end_section_result);
	printf("rg_run ended %.1f ms after it began; the section got NULL after %ld\n",
	       (rg_now() - t0) / 1e6, n);
	CHECK(n >= 0); /* NULL, once the run stopped */
	atomic_store(&outside_stop, 1);
	void *r;
	CHECK_EQ(pthread_join(th, &r), 0);
	return 0;
}
