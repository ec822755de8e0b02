/* NOT a ctest (not tests/<module>/test_*.c): a reproducer of a gc.h
 * promise a thread without a P does not get inside rg_run, left unfixed
 * because the fix is core's (found by the GC review of 2026-12-07).
 *
 * gc.h: "RINGO_MEMLIMIT ... is a hard limit on heap pages in use: an
 * allocation that would exceed it, after a collection, returns NULL."
 * Inside rg_run only a task can collect (rg__stw_stop is called from a
 * task); an allocation over the limit from a thread without a P (an
 * rg_blocking section, a foreign thread) finds rg__gc_try_reclaim
 * refusing and returns NULL at once, with no collection, however much of
 * the heap is garbage.
 *
 * Here the main task makes 100 MB of garbage under RINGO_MEMLIMIT=64M,
 * then an rg_blocking section allocates 1 KiB objects it drops at once:
 * NULL after ~65,000 of them with 64 MiB of pages in use and nothing
 * live.  Go: a goroutine in a syscall that allocates gets a P back first,
 * and can always collect.
 *
 * A fix needs core/: a collection started by a thread without a P (stop
 * every P, scan every task, scan the caller's own stack as outside
 * rg_run), or a way to ask a P to run one and wait for it (sysmon could:
 * it already acts for Ps stuck in a task).  gc/ would then call it from
 * rg__gc_try_reclaim where it now returns false.
 *
 * Build: cc -D_GNU_SOURCE -Iinclude -Itests -I. tests/repro/pless_memlimit_null.c \
 *          out/rel/libringo.a -luring -lnuma -lmimalloc -lpthread -lm
 * Run: RINGO_MEMLIMIT=64M ./a.out (prints after how many allocations the
 * section got NULL; exit 1 if it did). */
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

static intptr_t section(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200000; i++) /* 200 MB, none of it kept */
		if (!rg_gc_alloc(1024))
			return i;
	return -1;
}

static int main_task(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++) /* garbage, collected or not */
		CHECK(rg_gc_alloc(1024) != NULL);
	intptr_t n = rg_blocking(section, NULL);
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	if (n >= 0)
		printf("rg_blocking: NULL after %ld allocations of 1 KiB, nothing live; "
		       "%.1f MiB of pages in use, %llu collections\n",
		       (long)n, s.heap_inuse / 1048576.0, (unsigned long long)s.num_gc);
	else
		printf("rg_blocking: 200 MB allocated under the limit\n");
	return n >= 0;
}

int main(void)
{
	setenv("RINGO_MEMLIMIT", "64M", 0);
	rg_config cfg = {.procs = 1, .nopin = 1, .quiet = 1};
	return rg_run(main_task, NULL, &cfg);
}
