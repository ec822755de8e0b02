/* With GOGC off and a memory limit the heap grows to the limit between
 * collections; the background scavenger then keeps its resident size at
 * most 95 % of the limit (as Go's does).  It kept every page: the goal is
 * UINT64_MAX with GOGC off, and goal + goal / 10 wrapped to 1.8e18 (found
 * by the gc review). */
// ctest-timeout: 60
// ctest-env: RINGO_GOGC=off;RINGO_MEMLIMIT=64M
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ringo/gc.h"

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	rg_gc_stats st;
	const uint64_t limit = 64u << 20;
	/* 512 MiB of garbage: several collections at the limit */
	for (int i = 0; i < 2048; i++) {
		unsigned char *p = rg_gc_alloc_noscan(256 << 10);
		CHECK(p);
		memset(p, 1, 256 << 10);
	}
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK(st.num_gc > 0);
	/* all of it garbage now: a collection frees the pages, the
	 * scavenger is kicked and returns those above the bound */
	CHECK_EQ(rg_gc_collect(), 0);
	uint64_t rss = 0, want = limit - limit / 20 + (1u << 20);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(rg_gc_stats_get(&st), 0);
		rss = st.heap_sys - st.heap_released;
		if (rss <= want)
			break;
		usleep(100000);
	}
	printf("%llu collections; resident heap %.1f MiB (limit %.0f MiB, at most %.1f wanted), "
	       "in use %.1f MiB\n",
	       (unsigned long long)st.num_gc, rss / 1048576.0, limit / 1048576.0, want / 1048576.0,
	       st.heap_inuse / 1048576.0);
	CHECK(rss <= want);
	return T_PASS;
}
