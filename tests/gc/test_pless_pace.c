/* Pacing of threads without a P inside rg_run.  A task that allocates
 * past the heap goal collects there and then, so the heap of a program
 * whose tasks allocate stays at its goal.  A thread without a P (an
 * rg_blocking section, a foreign thread) cannot stop the world: it spawns
 * a task to collect (gc_pless_trigger), and the collection comes when
 * that task runs.  Before pacing it went on allocating meanwhile, and on
 * a busy P (here a task that yields every 2 ms, as one under load would)
 * the heap grew many times past its goal.  Now it waits for the
 * collection once the heap is past the goal by a slack (mgc.c, "pacing
 * of threads without a P"), so the heap stays near its goal.
 *
 * Each case keeps LIVE bytes of objects in a root (so the goal is
 * LIVE * (1 + GOGC/100), well over the heap floor), then allocates
 * garbage of 1 KiB from threads without a P on 1 P kept busy by a
 * spinning task, sampling heap_alloc (what the goal is compared with)
 * every 16 allocations: its peak must stay under FACTOR times the goal.
 * Cases: an rg_blocking section on an idle P, then on the busy P; a
 * foreign thread; 2 of each at once beside a task churning too.  Each
 * must also see collections.  Then the wait's bound: a foreign thread
 * allocates while the only P's thread is blocked on a lock it holds (no
 * collection can come): it gives up waiting after its patience, once,
 * and allocates on (a hang before the bound).  No speed is asserted. */
// ctest-timeout: 240
// ctest-env: RINGO_GOGC=50
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define OBJ 1024
#define LIVE_OBJS 8192 /* 8 MiB live: goal ~12 MiB at GOGC=50 */
#define NCHURN (T_SANITIZED ? 50000L : 100000L) /* per thread: 50-100 MB */
/* The peak heap_alloc a case may reach, in goals.  Before pacing: 4.5 to
 * 20 goals here (release; see docs/gc.md).  The slack is an eighth of the
 * goal; the rest is the shared cache's spans and the samples' grain. */
#ifndef FACTOR
#define FACTOR 1.5
#endif

static void **live;
static _Atomic uint64_t peak_alloc, peak_goal, peak_ratio; /* ratio: per mille */
static _Atomic int busy_stop;

static void peak(_Atomic uint64_t *p, uint64_t v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	while (v > old && !atomic_compare_exchange_weak(p, &old, v))
		;
}

static void sample(void)
{
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	peak(&peak_alloc, s.heap_alloc);
	peak(&peak_goal, s.heap_goal);
	peak(&peak_ratio, s.heap_alloc * 1000 / s.heap_goal);
}

/* n objects of 1 KiB of garbage, the last one checked before it is
 * dropped; a sample every 16 */
static void churn(long n)
{
	uint64_t *last = NULL;
	for (long i = 0; i < n; i++) {
		uint64_t *o = rg_gc_alloc(OBJ);
		CHECK(o != NULL);
		if (last)
			CHECK(last[0] == (uint64_t)i - 1 && last[OBJ / 8 - 1] == (uint64_t)i - 1);
		o[0] = o[OBJ / 8 - 1] = (uint64_t)i;
		last = o;
		if (i % 16 == 0)
			sample();
	}
}

/* Keeps the only P busy: spins 2 ms at a time between yields. */
static void busy(void *arg)
{
	(void)arg;
	while (!atomic_load(&busy_stop)) {
		int64_t until = rg_now() + 2000000;
		while (rg_now() < until)
			;
		rg_yield();
	}
	atomic_fetch_sub(&busy_stop, 1);
}

static intptr_t section(void *arg)
{
	(void)arg;
	CHECK(rg_proc_id() == -1);
	churn(NCHURN);
	return 0;
}

static void *thread_churn(void *arg)
{
	(void)arg;
	churn(NCHURN);
	return NULL;
}

static intptr_t join(void *arg)
{
	CHECK_EQ(pthread_join(*(pthread_t *)arg, NULL), 0);
	return 0;
}

static _Atomic int tasks_left;

static void section_task(void *arg)
{
	CHECK_EQ(rg_blocking(section, arg), 0);
	atomic_fetch_sub(&tasks_left, 1);
}

static void task_churn(void *arg)
{
	(void)arg;
	churn(NCHURN);
	atomic_fetch_sub(&tasks_left, 1);
}

static int64_t case_t0;

/* busy: a task keeps the only P busy meanwhile */
static uint64_t begin(rg_gc_stats *s0, bool busy_p)
{
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_gc_stats_get(s0), 0);
	atomic_store(&peak_alloc, 0);
	atomic_store(&peak_goal, s0->heap_goal);
	atomic_store(&peak_ratio, 0);
	case_t0 = rg_now();
	atomic_store(&busy_stop, busy_p ? 0 : -1);
	if (busy_p)
		CHECK(rg_go(busy, NULL) > 0);
	return s0->heap_goal;
}

/* nobj: objects allocated by the case, for the (printed, not checked)
 * time per allocation */
static void end(const char *who, long nobj, const rg_gc_stats *s0)
{
	int64_t dt = rg_now() - case_t0;
	if (!atomic_fetch_add(&busy_stop, 1)) /* (-1: no busy task) */
		while (atomic_load(&busy_stop) > 0)
			rg_sleep(1000000);
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	uint64_t pa = atomic_load(&peak_alloc), pg = atomic_load(&peak_goal);
	double ratio = (double)atomic_load(&peak_ratio) / 1000.0;
	printf("%s: %llu collections, goal %.1f to %.1f MiB, peak heap_alloc %.1f MiB, "
	       "%.2f goals at most, %.1f MiB mapped, %.0f ns per allocation\n",
	       who, (unsigned long long)(s.num_gc - s0->num_gc), s0->heap_goal / 1048576.0,
	       pg / 1048576.0, pa / 1048576.0, ratio, s.heap_sys / 1048576.0,
	       (double)dt / (double)nobj);
	CHECK(s.num_gc > s0->num_gc);
	CHECK(ratio <= FACTOR);
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int holding;

static void *thread_holding(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&held);
	atomic_store(&holding, 1);
	int64_t t0 = rg_now();
	for (long i = 0; i < NCHURN / 2; i++) /* several goals: no collection */
		CHECK(rg_gc_alloc(OBJ) != NULL);
	int64_t dt = rg_now() - t0;
	pthread_mutex_unlock(&held);
	printf("the only P blocked on a lock this thread holds: %ld allocations in %.2f s\n",
	       NCHURN / 2, dt / 1e9);
	/* one wait of the patience (1 s; up to 10 s if this thread woke
	 * late), not one per allocation */
	CHECK(dt >= 900000000LL && dt < 60000000000LL);
	return NULL;
}

/* The P's thread blocks in pthread_mutex_lock (no safepoint) on a lock a
 * foreign thread holds while it allocates past the goal: the spawned task
 * cannot run, and the thread's wait must end. */
static void case_no_safepoint(void)
{
	CHECK_EQ(rg_gc_collect(), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_holding, NULL), 0);
	while (!atomic_load(&holding))
		rg_sleep(1000000);
	pthread_mutex_lock(&held);
	pthread_mutex_unlock(&held);
	CHECK_EQ(rg_blocking(join, &th), 0);
	CHECK(rg_gc_alloc(OBJ) != NULL); /* the queued collection was harmless */
}

static int main_fn(void *arg)
{
	(void)arg;
	live = rg_gc_alloc(LIVE_OBJS * sizeof *live);
	CHECK(live != NULL);
	CHECK_EQ(rg_gc_root_add(&live, sizeof live), 0);
	for (int i = 0; i < LIVE_OBJS; i++)
		CHECK((live[i] = rg_gc_alloc_noscan(OBJ)) != NULL);

	rg_gc_stats s0;
	begin(&s0, false);
	CHECK_EQ(rg_blocking(section, NULL), 0);
	end("rg_blocking section, idle P", NCHURN, &s0);

	begin(&s0, true);
	CHECK_EQ(rg_blocking(section, NULL), 0);
	end("rg_blocking section", NCHURN, &s0);

	begin(&s0, true);
	pthread_t th[2];
	CHECK_EQ(pthread_create(&th[0], NULL, thread_churn, NULL), 0);
	CHECK_EQ(rg_blocking(join, &th[0]), 0);
	end("foreign thread", NCHURN, &s0);

	begin(&s0, true);
	atomic_store(&tasks_left, 3);
	for (int k = 0; k < 2; k++)
		CHECK_EQ(pthread_create(&th[k], NULL, thread_churn, NULL), 0);
	for (int k = 0; k < 2; k++)
		CHECK(rg_go(section_task, NULL) > 0);
	CHECK(rg_go(task_churn, NULL) > 0);
	for (int k = 0; k < 2; k++)
		CHECK_EQ(rg_blocking(join, &th[k]), 0);
	while (atomic_load(&tasks_left))
		rg_sleep(1000000);
	end("2 foreign threads, 2 sections and a task", 5 * NCHURN, &s0);

	for (int i = 0; i < LIVE_OBJS; i++) /* the live set survived */
		CHECK(rg_gc_size(live[i]) >= OBJ);
	case_no_safepoint();
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	rg_config cfg = {.procs = 1, .nopin = 1, .quiet = 1};
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return 0;
}
