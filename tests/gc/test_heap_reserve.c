/* The GC heap's address range is reserved once, at its first allocation
 * (1 TiB, twice RINGO_MEMLIMIT, or what RLIMIT_AS leaves), and never grows:
 * gc.h did not say so.  Here RLIMIT_AS leaves about 3 GiB when the heap is
 * first used, so the range is 2 GiB: 128 MiB objects (kept alive) run out
 * before 24 of them, with NULL, not a crash; once they are dropped the
 * heap serves them again. */
// ctest-timeout: 60
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

static void *keep[64];

static int main_fn(void *arg)
{
	(void)arg;
	t_limit_as((size_t)3 << 30);
	CHECK(rg_gc_root_add(keep, sizeof keep) == 0);
	int n = 0;
	while (n < 64 && (keep[n] = rg_gc_alloc_noscan((size_t)128 << 20)) != NULL)
		n++;
	rg_gc_stats s;
	CHECK_EQ(rg_gc_stats_get(&s), 0);
	printf("  %d objects of 128 MiB, then NULL; heap_sys %llu MiB\n", n,
	       (unsigned long long)(s.heap_sys >> 20));
	CHECK(n >= 4 && n < 24);
	CHECK(s.heap_sys <= ((uint64_t)2 << 30));
	memset(keep, 0, sizeof keep);
	CHECK_EQ(rg_gc_collect(), 0);
	for (int i = 0; i < n / 2; i++) {
		keep[i] = rg_gc_alloc_noscan((size_t)128 << 20);
		CHECK(keep[i] != NULL);
	}
	return 0;
}

int main(void)
{
	if (T_SANITIZED)
		SKIP("sanitizers reserve address space of their own: no RLIMIT_AS here");
	if (T_EMULATED)
		SKIP("qemu-user ignores RLIMIT_AS");
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return T_PASS;
}
