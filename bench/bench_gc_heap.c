/* bench_gc_heap — cost of one GC-heap allocation in ringo, per object size,
 * scanned (rg_gc_alloc, like Go's make([]*byte, n/8) and Boehm's GC_malloc)
 * and pointer-free (rg_gc_alloc_noscan, like make([]byte, n) and
 * GC_malloc_atomic), measured the way the peers measure themselves
 * (../shared/peers/c/alloc_c.c and go/micro):
 *
 *   bench_gc_heap [benchtime_ms [size...]]   (default 300 ms, 1..10000;
 *                                             sizes: all five)
 *
 * One iteration allocates one object and stores its address in a global
 * that is a registered root (so the object escapes, and is garbage at the
 * next iteration).  The collector runs as it normally would (RINGO_GOGC,
 * default 100; the heap's minimum goal is 1 MiB, Go's 4 MiB); rg_gc_collect()
 * runs before each measured run, as go_micro runs runtime.GC().  Each case
 * grows its iteration count until one run lasts benchtime; the figure is
 * that run's ns per allocation.  Runs inside rg_run, in one task (RINGO_PROCS
 * picks the number of Ps).  Output, one line per figure:
 *
 *   bench: alloc_ringo_<size> <ns> ns
 *   bench: alloc_ringo_noscan_<size> <ns> ns
 *
 * for sizes 16, 64, 256, 4096 and 65536, then a comment line with the
 * collector's counters.  Exit status 0, or 1 if an allocation failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringo.h"
#include "ringo/gc.h"

static void *volatile sink;
static uint64_t bench_ns = 300000000;
static size_t sizes[16] = {16, 64, 256, 4096, 65536};
static int nsizes = 5;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run(void *(*alloc)(size_t), size_t size, long n)
{
	for (long i = 0; i < n; i++) {
		void *p = alloc(size);
		if (!p)
			return -1;
		sink = p;
	}
	return 0;
}

static double measure(void *(*alloc)(size_t), size_t size)
{
	long n = 1000;
	for (;;) {
		rg_gc_collect();
		uint64_t t0 = now_ns();
		if (run(alloc, size, n) < 0) {
			fprintf(stderr, "bench_gc_heap: allocation of %zu bytes failed\n", size);
			exit(1);
		}
		uint64_t d = now_ns() - t0;
		if (d >= bench_ns || n >= (1L << 32))
			return (double)d / (double)n;
		double next = 1.2 * (double)n * (double)bench_ns / (double)(d + 1);
		if (next > 100.0 * n)
			next = 100.0 * n;
		if (next < 2.0 * n)
			next = 2.0 * n;
		n = (long)next;
	}
}

static int main_fn(void *arg)
{
	rg_gc_root_add((void *)&sink, sizeof sink);
	rg_gc_stats st0, st;
	rg_gc_stats_get(&st0);
	printf("# bench_gc_heap: %d P, benchtime %lu ms, GOGC %d\n", rg_procs(),
	       (unsigned long)(bench_ns / 1000000), st0.gogc);
	fflush(stdout);
	for (int noscan = 0; noscan < 2; noscan++) {
		for (int j = 0; j < nsizes; j++) {
			double ns = measure(noscan ? rg_gc_alloc_noscan : rg_gc_alloc, sizes[j]);
			printf("bench: alloc_ringo_%s%zu %.1f ns\n", noscan ? "noscan_" : "", sizes[j], ns);
			fflush(stdout);
		}
	}
	rg_gc_stats_get(&st);
	printf("# ringo gc: %llu collections, pause max %.3f ms, total %.1f ms, heap sys %.1f MiB\n",
	       (unsigned long long)(st.num_gc - st0.num_gc), st.pause_max_ns / 1e6,
	       (st.pause_total_ns - st0.pause_total_ns) / 1e6, st.heap_sys / 1048576.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		long ms = atol(argv[1]);
		if (ms < 1 || ms > 10000) {
			fprintf(stderr, "usage: bench_gc_heap [benchtime_ms 1..10000 [size...]]\n");
			return 2;
		}
		bench_ns = (uint64_t)ms * 1000000u;
	}
	if (argc > 2) {
		nsizes = 0;
		for (int i = 2; i < argc && nsizes < 16; i++) {
			long v = atol(argv[i]);
			if (v < 1 || v > (1L << 30)) {
				fprintf(stderr, "bench_gc_heap: bad size %s\n", argv[i]);
				return 2;
			}
			sizes[nsizes++] = (size_t)v;
		}
	}
	rg_config cfg = {.quiet = 1};
	int r = rg_run(main_fn, NULL, &cfg);
	return r == 0 ? 0 : 1;
}
