/* An object of exactly one arena's pages (8192 pages: a size in
 * (64 MiB - 8 KiB, 64 MiB]) as the heap's first allocation.  Such a size
 * takes the path of spans that fit in one arena, which maps arena 0 when
 * no arena has room; but arena 0's first page is reserved (the heap base,
 * mheap.c's arena_new), so 8191 pages are free there and the request
 * failed as if out of memory.  A task then collected for nothing and
 * retried (the retry mapped arena 1); a thread outside rg_run did the
 * same; a thread without a P inside rg_run (an rg_blocking section), which
 * cannot collect, got NULL with an empty heap and no limit (found by the
 * GC review of 2026-12-07).  Each case runs in a forked child, so that
 * its allocation is the heap's first:
 *   task      from the main task
 *   blocking  from an rg_blocking section
 *   outside   from main(), before any rg_run
 * Checked: the object is there, zeroed at its ends, and no collection ran
 * to get it. */
// ctest-timeout: 60
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define WHOLE ((size_t)64 << 20)

static uint64_t num_gc(void)
{
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	return s.num_gc;
}

/* One arena's pages, twice: the largest and the smallest such size.  The
 * first one may not collect; the second may (the heap is over its goal
 * then). */
static intptr_t whole(void *arg)
{
	(void)arg;
	char *a = rg_gc_alloc_noscan(WHOLE);
	uint64_t n = num_gc();
	char *b = rg_gc_alloc(WHOLE - 8192 + 1);
	printf("  64 MiB: %p (collections before it returned: %llu), 64 MiB - 8191: %p\n",
	       (void *)a, (unsigned long long)n, (void *)b);
	fflush(stdout);
	CHECK(a != NULL);
	CHECK(b != NULL);
	CHECK(a[0] == 0 && a[WHOLE - 1] == 0 && b[0] == 0 && b[WHOLE - 8192] == 0);
	CHECK_EQ(n, 0);
	return 0;
}

static int task_main(void *arg)
{
	return (int)whole(arg);
}

static int blocking_main(void *arg)
{
	return (int)rg_blocking(whole, arg);
}

static void child(int k)
{
	alarm(30);
	rg_config cfg = {.procs = 1, .nopin = 1, .quiet = 1};
	if (k == 0)
		CHECK_EQ(rg_run(task_main, NULL, &cfg), 0);
	else if (k == 1)
		CHECK_EQ(rg_run(blocking_main, NULL, &cfg), 0);
	else
		CHECK_EQ(whole(NULL), 0);
}

int main(void)
{
	static const char *const names[] = {"task", "blocking", "outside"};
	return t_fork_cases(3, child, names) ? T_FAIL : T_PASS;
}
