/* The heap's first span is a large object (over one 64 MiB arena: a
 * storage engine's block cache made first thing).  The span took a run of
 * new arenas starting with arena 0, whose first page is reserved (the heap
 * base, never handed out: stale copies of that address would keep an
 * object there alive).  So the object started at the heap base, arena 0's
 * free count wrapped below zero, the reserved page counted as dirty and
 * the whole object was zeroed: 128 MiB of RAM committed for memory the
 * program never touched, and 100 ms; and once the object was freed, the
 * reserved page went to the next small span.  Each case runs in a forked
 * child, so that its allocation is the heap's first:
 *   task      from the main task: rg_gc_alloc_noscan(128 MiB)
 *   outside   before rg_run, from main(): rg_gc_alloc(96 MiB)
 * Checked: the object is not at the heap base; RSS grew by less than 16
 * MiB (not under sanitizers: their shadow memory counts); after it is
 * dropped and collected (it may live on: a stale copy on a stack is
 * enough), no 8 KiB span starts at the heap base. */
// ctest-timeout: 60
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

uintptr_t rg__heap_lo(void);

static long rss_kib(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f && fscanf(f, "%ld %ld", &size, &res) == 2);
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *keep[256];

/* Allocates in its own frame, so that no copy stays in the caller's. */
__attribute__((noinline)) static void first_large(size_t size, bool noscan)
{
	long before = rss_kib();
	char *volatile p = noscan ? rg_gc_alloc_noscan(size) : rg_gc_alloc(size);
	long grew = rss_kib() - before;
	printf("  first span: %zu MiB at %#lx (heap base %#lx), RSS +%ld KiB\n", size >> 20,
	       (unsigned long)(uintptr_t)p, (unsigned long)rg__heap_lo(), grew);
	fflush(stdout);
	CHECK(p != NULL);
	CHECK((uintptr_t)p != rg__heap_lo());
	CHECK(p[0] == 0 && p[size / 2] == 0 && p[size - 1] == 0);
	if (!T_SANITIZED)
		CHECK(grew < 16 * 1024);
}

static void after(void)
{
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK(rg_gc_root_add(keep, sizeof keep) == 0);
	for (int i = 0; i < 256; i++) {
		keep[i] = rg_gc_alloc_noscan(8192);
		CHECK(keep[i] != NULL);
		CHECK((uintptr_t)keep[i] != rg__heap_lo());
	}
}

static int task_main(void *arg)
{
	(void)arg;
	first_large((size_t)128 << 20, true);
	after();
	return 0;
}

static int nop_main(void *arg)
{
	(void)arg;
	return 0;
}

static void child(int k)
{
	alarm(30);
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	if (k == 0) {
		CHECK_EQ(rg_run(task_main, NULL, &cfg), 0);
	} else {
		first_large((size_t)96 << 20, false);
		after();
		CHECK_EQ(rg_run(nop_main, NULL, &cfg), 0);
	}
}

int main(void)
{
	static const char *const names[] = { "task", "outside" };
	return t_fork_cases(2, child, names) ? T_FAIL : T_PASS;
}
