/* Adversarial cases for gc/, third round: two notes of a code review,
 * each checked here.  Live objects carry canary patterns: memory handed
 * out again while still reachable shows up as a changed pattern.
 *
 * Each case runs in a child process of its own (the heap, RINGO_GOGC and
 * RINGO_MEMLIMIT are per process), re-executed from this binary with the
 * case's environment; a case that hangs is killed by its alarm.
 *
 *   gc_adversarial3                 every case
 *   gc_adversarial3 <case>          one case, in this process (needs the
 *                                   case's environment, see cases[])
 *   RG_ADV_CASE=name                only that case (from the driver)
 *   RG_ADV_REPEAT=n                 run each selected case n times
 *
 * Cases and what they cover (B: failed before its fix):
 *   memlimit_gogc_off_many_p  B  8 Ps allocating garbage at
 *                                RINGO_MEMLIMIT=16M with GOGC off and a
 *                                live heap of ~1 MiB: no NULL
 */
// ctest-timeout: 240
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#include "gc_adv.h"

/* ---- helpers ------------------------------------------------------------ */

/* A canary object: a header word with its own address xor a tag, then
 * the pattern byte. */
#define CAN_MAGIC 0x510e527fade682d1ull
__attribute__((noinline)) static unsigned char *can_new(size_t size, unsigned char pat)
{
	unsigned char *p = rg_gc_alloc_noscan(size);
	if (!p)
		return NULL;
	CHECK(size >= 16);
	*(uint64_t *)p = (uint64_t)(uintptr_t)p ^ CAN_MAGIC;
	memset(p + 8, pat, size - 8);
	return p;
}

static bool can_ok(const unsigned char *p, size_t size, unsigned char pat)
{
	return *(const uint64_t *)p == ((uint64_t)(uintptr_t)p ^ CAN_MAGIC) &&
	       all_bytes(p + 8, size - 8, pat);
}

static void wait_flag(_Atomic int *f, int v)
{
	int64_t end = rg_now() + 60000000000LL;
	while (atomic_load(f) < v) {
		CHECK(rg_now() < end);
		rg_sleep(200000);
	}
}

/* =========================================================================
 * Found a bug: memlimit_gogc_off_many_p
 * env RINGO_MEMLIMIT=16M RINGO_GOGC=off, 8 Ps, two tasks on each.  Every
 * task allocates garbage (small objects, and a large one now and then)
 * and keeps a window of 8 canary objects; the live heap stays near 1 MiB.
 * With GOGC off every collection is one that an allocation over the limit
 * asked for (rg__gc_try_reclaim), and the heap runs from the live set to
 * the limit between two of them.  alloc_slow used to retry once, after
 * the world restarted: by then the other Ps, several of them over the
 * limit too, had taken what the collection freed, and the retry returned
 * NULL with 15 MiB of the 16 garbage.
 * ========================================================================= */
#define MG_TASKS 16
#define MG_ROUNDS 40000
#define MG_WIN 8
static _Atomic int mg_done, mg_bad, mg_null;

static void mg_task(void *arg)
{
	uint64_t seed = (uint64_t)(intptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *win[MG_WIN] = {0};
	size_t sz[MG_WIN] = {0};
	for (int r = 0; r < SAN_SCALE(MG_ROUNDS); r++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		/* garbage: 64 B .. 4 KiB, one in 16 of 40 .. 160 KiB */
		size_t g = seed % 16 ? 64 + (size_t)(seed >> 8) % 4032
		                     : 40960 + (size_t)(seed >> 8) % 122880;
		unsigned char *p = (seed >> 40) & 1 ? rg_gc_alloc(g) : rg_gc_alloc_noscan(g);
		if (!p) {
			atomic_fetch_add(&mg_null, 1);
			continue;
		}
		p[0] = p[g - 1] = 0xee;
		if (r % 4)
			continue;
		int j = (int)((seed >> 32) % MG_WIN);
		if (win[j] && !can_ok(win[j], sz[j], (unsigned char)(sz[j] >> 3)))
			atomic_fetch_add(&mg_bad, 1);
		sz[j] = 16 + (size_t)(seed >> 20) % 4000;
		win[j] = can_new(sz[j], (unsigned char)(sz[j] >> 3));
		if (!win[j])
			atomic_fetch_add(&mg_null, 1);
	}
	for (int j = 0; j < MG_WIN; j++)
		if (win[j] && !can_ok(win[j], sz[j], (unsigned char)(sz[j] >> 3)))
			atomic_fetch_add(&mg_bad, 1);
	atomic_fetch_add(&mg_done, 1);
}

static int mg_main(void *arg)
{
	for (int k = 0; k < MG_TASKS; k++)
		CHECK(rg_go(mg_task, (void *)(intptr_t)(k + 1)) > 0);
	wait_flag(&mg_done, MG_TASKS);
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	fprintf(stderr, "memlimit_gogc_off_many_p: %llu collections, %d NULLs, inuse %.1f MiB\n",
	        (unsigned long long)st.num_gc, atomic_load(&mg_null), st.heap_inuse / 1048576.0);
	CHECK_EQ(atomic_load(&mg_bad), 0);
	CHECK(st.heap_inuse <= ((uint64_t)16 << 20));
	CHECK(st.num_gc >= 2);
	CHECK_EQ(atomic_load(&mg_null), 0);
	clobber_stack();
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_memlimit_gogc_off_many_p(void)
{
	rg_config cfg = quiet_cfg;
	cfg.procs = 8;
	CHECK_EQ(rg_run(mg_main, NULL, &cfg), 0);
	return 0;
}

/* ---- driver ------------------------------------------------------------ */

static const struct tcase cases[] = {
	{"memlimit_gogc_off_many_p", case_memlimit_gogc_off_many_p,
	 "RINGO_MEMLIMIT=16M RINGO_GOGC=off", true, 90},
};
#define NCASES (sizeof cases / sizeof *cases)

int main(int argc, char **argv)
{
	return adv_main(argc, argv, cases, NCASES, "gc_adversarial3");
}
