/* rg_gc_collect from a thread without a P inside rg_run (an rg_blocking
 * section, a foreign thread).  It returned -EPERM (its stack cannot be
 * scanned); it now has a task collect for it and waits, as an allocation
 * at RINGO_MEMLIMIT does (gc/mgc.c, "collections asked for by threads
 * without a P").  Cases:
 *   - a section and a foreign thread on 1 P: 0, a collection counted, and
 *     an object dropped from a root before the call is freed by it;
 *   - 2 foreign threads and 2 sections on 2 Ps, each dropping an object of
 *     a size class of its own and collecting, hundreds of times, while the
 *     others' collections run: each call must return after a collection
 *     that began after it (one already marking when it asked may have
 *     marked before the drop: Go's runtime.GC waits for a full cycle);
 *   - inside rg_gc_mutate_begin/end: -EDEADLK at once;
 *   - the only P's thread blocked on a lock the caller holds: -ETIMEDOUT
 *     after 10 s without a collection, not a hang;
 *   - rg_run ending while a section and a foreign thread collect in a
 *     loop: -ESHUTDOWN, rg_run returns. */
// ctest-timeout: 180
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

bool rg__gc_allocated(const void *p);

#define NTHREADS 4
/* roots: each thread's object [k], and an object of the same span that
 * stays [NTHREADS + k] (an anchor: the span is never freed, so its bits
 * can be read after the collection, inside a mutation section) */
static void *volatile slot[2 * NTHREADS];
void *rg__span_of(uintptr_t p);

static uint64_t num_gc(void)
{
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	return s.num_gc;
}

static void root_set(int i, void *o)
{
	rg_gc_mutate_begin();
	slot[i] = o;
	rg_gc_mutate_end();
}

/* Pushes everything this thread allocated before out of its ring of 256
 * recent objects (which a collection keeps alive). */
static void flush_ring(void)
{
	for (int i = 0; i < 300; i++)
		CHECK(rg_gc_alloc_noscan(16) != NULL);
}

/* One round on a thread without a P: an object of size `size` (a class
 * no other thread allocates), held only by root k, dropped in a mutation
 * section, then rg_gc_collect: the object must be gone when it returns.
 * Returns rg_gc_collect's result. */
static int drop_and_collect(int k, size_t size, uint64_t *gc_before)
{
	CHECK(rg_proc_id() == -1);
	void *o;
	for (;;) { /* in the anchor's span */
		o = rg_gc_alloc_noscan(size);
		CHECK(o != NULL);
		if (slot[NTHREADS + k] && rg__span_of((uintptr_t)o) ==
		                              rg__span_of((uintptr_t)slot[NTHREADS + k]))
			break;
		root_set(NTHREADS + k, o);
	}
	root_set(k, o);
	flush_ring();
	root_set(k, NULL);
	uintptr_t hidden = (uintptr_t)o ^ 0x5a5a5a5a; /* (this stack is not scanned anyway) */
	o = NULL;
	uint64_t g0 = num_gc();
	if (gc_before)
		*gc_before = g0;
	int r = rg_gc_collect();
	if (r == 0) {
		CHECK(num_gc() > g0);
		rg_gc_mutate_begin(); /* no collection meanwhile */
		bool live = rg__gc_allocated((void *)(hidden ^ 0x5a5a5a5a));
		rg_gc_mutate_end();
		if (live)
			fprintf(stderr, "thread %d: object of %zu bytes dropped before rg_gc_collect "
			        "still allocated after it\n", k, size);
		CHECK(!live);
	}
	return r;
}

/* An rg_blocking section's fn runs on its task's stack, whose top the
 * collector scans (from where the switch to the pool saved it): its own
 * frames go below a cleared pad first (ASan's spilled locals kept the
 * object otherwise). */
static __attribute__((noinline)) int deep(int k, size_t size, uint64_t *gc_before)
{
	volatile char pad[8192];
	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] = 0;
	int r = drop_and_collect(k, size, gc_before);
	__asm__ volatile("" : : "r"(pad) : "memory");
	return r;
}

/* ---- one at a time, 1 P ------------------------------------------------ */

static intptr_t section_once(void *arg)
{
	(void)arg;
	uint64_t g0;
	int r = deep(0, 3000, &g0);
	printf("rg_blocking section: rg_gc_collect %d, collections %llu -> %llu\n", r,
	       (unsigned long long)g0, (unsigned long long)num_gc());
	return r;
}

static void *thread_once(void *arg)
{
	(void)arg;
	uint64_t g0;
	int r = drop_and_collect(1, 2000, &g0);
	printf("foreign thread: rg_gc_collect %d, collections %llu -> %llu\n", r,
	       (unsigned long long)g0, (unsigned long long)num_gc());
	return (void *)(intptr_t)r;
}

static intptr_t join(void *arg)
{
	void *r;
	CHECK_EQ(pthread_join(*(pthread_t *)arg, &r), 0);
	return (intptr_t)r;
}

static intptr_t in_mutate(void *arg)
{
	(void)arg;
	rg_gc_mutate_begin();
	int r = rg_gc_collect();
	rg_gc_mutate_end();
	return r;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int holding;

static void *thread_holding(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&held);
	atomic_store(&holding, 1);
	usleep(500000); /* the P's thread blocks on held meanwhile */
	int64_t t0 = rg_now();
	int r = rg_gc_collect();
	int64_t dt = rg_now() - t0;
	pthread_mutex_unlock(&held);
	printf("the only P blocked on a lock this thread holds: rg_gc_collect %d after %.1f s\n",
	       r, dt / 1e9);
	CHECK_EQ(r, -ETIMEDOUT);
	CHECK(dt >= 9000000000LL && dt < 60000000000LL); /* the 10 s of patience */
	return NULL;
}

static int main_one(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_blocking(section_once, NULL), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_once, NULL), 0);
	CHECK_EQ(rg_blocking(join, &th), 0);
	CHECK_EQ(rg_blocking(in_mutate, NULL), -EDEADLK);

	/* the P's thread blocks with no safepoint on a lock the caller
	 * holds: the world cannot stop */
	CHECK_EQ(pthread_create(&th, NULL, thread_holding, NULL), 0);
	while (!atomic_load(&holding))
		rg_sleep(1000000);
	pthread_mutex_lock(&held);
	pthread_mutex_unlock(&held);
	CHECK_EQ(rg_blocking(join, &th), 0);
	CHECK_EQ(rg_gc_collect(), 0); /* the queued collection was harmless */
	return 0;
}

/* ---- together, 2 Ps --------------------------------------------------- */

#define ROUNDS (T_SANITIZED ? 150 : 500)
/* classes of several objects a span: 3072, 2048, 1536, 1152 */
static const size_t sizes[NTHREADS] = {3000, 2000, 1500, 1100};
static _Atomic int left;

static void *thread_rounds(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++)
		CHECK_EQ(drop_and_collect(k, sizes[k], NULL), 0);
	return NULL;
}

static intptr_t section_rounds(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++)
		CHECK_EQ(deep(k, sizes[k], NULL), 0);
	return 0;
}

static void section_task(void *arg)
{
	CHECK_EQ(rg_blocking(section_rounds, arg), 0);
	atomic_fetch_sub(&left, 1);
}

static int main_together(void *arg)
{
	(void)arg;
	uint64_t g0 = num_gc();
	int64_t t0 = rg_now();
	pthread_t th[2];
	atomic_store(&left, 2);
	for (int k = 0; k < 2; k++)
		CHECK_EQ(pthread_create(&th[k], NULL, thread_rounds, (void *)(intptr_t)k), 0);
	for (int k = 2; k < 4; k++)
		CHECK(rg_go(section_task, (void *)(intptr_t)k) > 0);
	for (int k = 0; k < 2; k++)
		CHECK_EQ(rg_blocking(join, &th[k]), 0);
	while (atomic_load(&left))
		rg_sleep(1000000);
	printf("together: %d rounds on each of 4 threads, %llu collections, %.1f ms\n", ROUNDS,
	       (unsigned long long)(num_gc() - g0), (rg_now() - t0) / 1e6);
	return 0;
}

/* ---- rg_run ends meanwhile --------------------------------------------- */

static _Atomic int end_section_result = 1, end_thread_shutdown;
static _Atomic long end_section_ok, end_thread_ok;

static intptr_t section_forever(void *arg)
{
	(void)arg;
	int r;
	while ((r = rg_gc_collect()) == 0)
		atomic_fetch_add(&end_section_ok, 1);
	atomic_store(&end_section_result, r);
	return r;
}

static void end_section_task(void *arg)
{
	(void)arg;
	rg_blocking(section_forever, NULL);
}

static _Atomic int outside_stop;

static void *thread_forever(void *arg)
{
	(void)arg;
	/* until told: once rg_run has returned it collects by itself (0) */
	while (!atomic_load(&outside_stop)) {
		int r = rg_gc_collect();
		if (r == -ESHUTDOWN)
			atomic_store(&end_thread_shutdown, 1);
		else
			CHECK_EQ(r, 0);
		atomic_fetch_add(&end_thread_ok, r == 0);
	}
	return NULL;
}

static int main_end(void *arg)
{
	pthread_t *th = arg;
	CHECK_EQ(pthread_create(th, NULL, thread_forever, NULL), 0);
	CHECK(rg_go(end_section_task, NULL) > 0);
	rg_sleep(200 * 1000000LL);
	return 0; /* rg_run waits for the section */
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(rg_gc_root_add((void *)slot, sizeof slot), 0);
	rg_config one = {.procs = 1, .nopin = 1, .quiet = 1};
	CHECK_EQ(rg_run(main_one, NULL, &one), 0);
	rg_config two = {.procs = 2, .nopin = 1, .quiet = 1};
	CHECK_EQ(rg_run(main_together, NULL, &two), 0);

	pthread_t th;
	int64_t t0 = rg_now();
	CHECK_EQ(rg_run(main_end, &th, &one), 0);
	printf("rg_run ended %.1f ms after it began; the section collected %ld times, then %d\n",
	       (rg_now() - t0) / 1e6, atomic_load(&end_section_ok), atomic_load(&end_section_result));
	CHECK_EQ(atomic_load(&end_section_result), -ESHUTDOWN);
	CHECK(atomic_load(&end_section_ok) > 0);
	atomic_store(&outside_stop, 1);
	CHECK_EQ(pthread_join(th, NULL), 0);
	printf("the foreign thread collected %ld times (%s -ESHUTDOWN)\n",
	       atomic_load(&end_thread_ok), atomic_load(&end_thread_shutdown) ? "and got" : "never");
	return 0;
}
