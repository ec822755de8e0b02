/* Random churn on every P: objects of random size (tiny to several MiB)
 * and kind, kept in per-task tables of slots (themselves GC objects) and
 * dropped at random, each carrying a checksum-able pattern; collections
 * run as the goal says, plus explicit ones, plus scavenging.  Every object
 * still held is verified at the end of each round; the heap verifier runs
 * between rounds. */
// ctest-timeout: 300
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

int rg__gc_verify(void);

#define SLOTS 512
#define ROUNDS (T_SANITIZED ? 3 : 10)
#define OPS (T_SANITIZED ? 1500 : 4000)

struct slot { unsigned char *obj; size_t size; unsigned tag; };
static const size_t slot_ptrs[] = {offsetof(struct slot, obj)};
static rg_gc_type slot_type = {"slot", sizeof(struct slot), slot_ptrs, 1, NULL};

static _Atomic int done;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t pick_size(uint64_t *s)
{
	uint64_t r = rnd(s) % 1000;
	if (r < 500)
		return 1 + rnd(s) % 64;
	if (r < 850)
		return 65 + rnd(s) % 2000;
	if (r < 985)
		return 2049 + rnd(s) % 40000;
	return 40000 + rnd(s) % (3u << 20);
}

static void verify_slot(const struct slot *sl)
{
	if (!sl->obj)
		return;
	size_t step = sl->size > 4096 ? 61 : 1;
	for (size_t k = 0; k < sl->size; k += step)
		CHECK_EQ(sl->obj[k], (unsigned char)(sl->tag + k));
	CHECK_EQ(sl->obj[sl->size - 1], (unsigned char)(sl->tag + sl->size - 1));
}

static void worker(void *arg)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * ((uint64_t)(uintptr_t)arg + 1);
	struct slot *tab = rg_gc_alloc_typed(SLOTS * sizeof *tab, &slot_type);
	CHECK(tab);
	for (int r = 0; r < ROUNDS; r++) {
		for (int op = 0; op < OPS; op++) {
			struct slot *sl = &tab[rnd(&seed) % SLOTS];
			if (sl->obj && rnd(&seed) % 4 == 0) {
				verify_slot(sl);
				sl->obj = NULL; /* drop */
				continue;
			}
			size_t size = pick_size(&seed);
			unsigned kind = (unsigned)(rnd(&seed) % 3);
			unsigned char *o = kind == 0 ? rg_gc_alloc(size)
			                   : kind == 1 ? rg_gc_alloc_noscan(size)
			                               : rg_gc_alloc(size);
			CHECK(o);
			size_t step = size > 4096 ? 61 : 1;
			for (size_t k = 0; k < size; k += step)
				CHECK_EQ(o[k], 0);
			CHECK_EQ(o[size - 1], 0);
			unsigned tag = (unsigned)rnd(&seed);
			/* scanned objects get bytes that never form a heap address
			 * in the first word; patterns elsewhere are harmless */
			for (size_t k = 0; k < size; k++)
				o[k] = (unsigned char)(tag + k);
			if (sl->obj)
				verify_slot(sl);
			sl->obj = o;
			sl->size = size;
			sl->tag = tag;
			if (op % 256 == 0)
				rg_yield();
		}
		for (int i = 0; i < SLOTS; i++)
			verify_slot(&tab[i]);
		if (r % 3 == 2)
			CHECK_EQ(rg_gc_collect(), 0);
	}
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	int n = rg_procs() * 2;
	for (int i = 0; i < n; i++)
		CHECK(rg_go(worker, (void *)(intptr_t)i) > 0);
	int rounds = 0;
	while (atomic_load(&done) < n) {
		rg_sleep(20 * 1000000LL);
		if (++rounds % 10 == 0)
			CHECK_EQ(rg_gc_free_os_memory(), 0);
	}
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	rg_gc_stats st;
	rg_gc_stats_get(&st);
	printf("%d tasks, %llu collections, inuse %.1f MiB, released %.1f MiB, scavenged %.1f MiB\n", n,
	       (unsigned long long)st.num_gc, st.heap_inuse / 1048576.0, st.heap_released / 1048576.0,
	       st.scavenged_total / 1048576.0);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
