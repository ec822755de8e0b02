/* Outside rg_run, a collection runs by itself only while at most one thread
 * without a P allocates (the others' stacks are not scanned); a thread
 * stops counting when it exits.  A thread whose first allocation failed
 * (32 TiB: more than the heap's reserved range) stayed counted after it
 * exited, and no collection ran by itself again: 200 MB of garbage made
 * 0 collections and a 196 MiB heap (found by the gc review). */
// ctest-timeout: 60
#include <pthread.h>
#include <stdio.h>

#include "check.h"
#include "ringo/gc.h"

static void *bad_alloc(void *arg)
{
	return rg_gc_alloc((size_t)1 << 45); /* NULL */
}

static void *good_alloc(void *arg)
{
	return rg_gc_alloc(64); /* counted, then exits: uncounted */
}

/* 100 MB of garbage; returns the collections it caused */
static uint64_t churn(const char *what)
{
	rg_gc_stats s0, s1;
	CHECK_EQ(rg_gc_stats_get(&s0), 0);
	for (int i = 0; i < 100000; i++) {
		volatile char *p = rg_gc_alloc(1024);
		CHECK(p);
		p[0] = 1;
	}
	CHECK_EQ(rg_gc_stats_get(&s1), 0);
	uint64_t n = s1.num_gc - s0.num_gc;
	printf("%s: %llu collections, heap in use %.1f MiB\n", what, (unsigned long long)n,
	       s1.heap_inuse / 1048576.0);
	return n;
}

int main(void)
{
	CHECK(churn("alone") > 0);
	pthread_t th;
	void *r;
	CHECK(pthread_create(&th, NULL, bad_alloc, NULL) == 0);
	CHECK(pthread_join(th, &r) == 0);
	CHECK(r == NULL);
	CHECK(churn("after a thread whose only allocation failed") > 0);
	CHECK(pthread_create(&th, NULL, good_alloc, NULL) == 0);
	CHECK(pthread_join(th, &r) == 0);
	CHECK(r != NULL);
	CHECK(churn("after a thread that allocated") > 0);
	return T_PASS;
}
