/* Every size class (scanned, noscan, typed, tiny, large) allocated from
 * tasks on all Ps at once, with collections triggered meanwhile; each
 * object carries its owner's pattern, checked after all rounds. */
// ctest-timeout: 300
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gc/gc_int.h"
#include "ringo.h"
#include "ringo/gc.h"

#define ROUNDS (T_SANITIZED ? 4 : 30)
#define NOBJ ((RG__NUM_CLASSES - 1) * 3 + 8)

static rg_gc_type word_type = {"words", 16, (const size_t[]){0}, 1, NULL};
static _Atomic int done;
static _Atomic int procs_used[64];

static void worker(void *arg)
{
	unsigned char tag = (unsigned char)(uintptr_t)arg;
	for (int r = 0; r < ROUNDS; r++) {
		/* the table of objects is itself a scanned GC object */
		unsigned char **objs = rg_gc_alloc(NOBJ * sizeof *objs);
		size_t *sizes = rg_gc_alloc_noscan(NOBJ * sizeof *sizes);
		CHECK(objs && sizes);
		int n = 0;
		for (int c = 1; c < RG__NUM_CLASSES; c++) {
			size_t sz = rg__class_size[c];
			sizes[n] = sz;
			objs[n] = rg_gc_alloc(sz);
			n++;
			sizes[n] = sz - 1;
			objs[n] = rg_gc_alloc_noscan(sz - 1);
			n++;
			sizes[n] = sz & ~(size_t)15 ? sz & ~(size_t)15 : 16;
			objs[n] = rg_gc_alloc_typed(sizes[n], &word_type);
			n++;
		}
		for (int i = 0; i < 6; i++) {
			sizes[n] = 1 + (size_t)i % 15;
			objs[n] = rg_gc_alloc_noscan(sizes[n]);
			n++;
		}
		sizes[n] = 40000 + (size_t)tag;
		objs[n] = rg_gc_alloc_noscan(sizes[n]);
		n++;
		sizes[n] = 300000;
		objs[n] = rg_gc_alloc(sizes[n]);
		n++;
		CHECK_EQ(n, NOBJ);
		for (int i = 0; i < n; i++) {
			CHECK(objs[i]);
			for (size_t k = 0; k < sizes[i]; k++)
				CHECK_EQ(objs[i][k], 0);
			/* typed objects: keep word 0 (a pointer slot) clear */
			memset(objs[i] + (sizes[i] >= 16 ? 8 : 0), tag, sizes[i] - (sizes[i] >= 16 ? 8 : 0));
		}
		int p = rg_proc_id();
		if (p >= 0 && p < 64)
			atomic_store(&procs_used[p], 1);
		rg_yield();
		for (int i = 0; i < n; i++)
			for (size_t k = sizes[i] >= 16 ? 8 : 0; k < sizes[i]; k++)
				CHECK_EQ(objs[i][k], tag);
	}
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	int n = rg_procs() * 4;
	for (int i = 0; i < n; i++)
		CHECK(rg_go(worker, (void *)(uintptr_t)(i + 1)) > 0);
	while (atomic_load(&done) < n)
		rg_sleep(2 * 1000000LL);
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	int used = 0;
	for (int i = 0; i < 64; i++)
		used += atomic_load(&procs_used[i]);
	printf("%d tasks on %d of %d Ps, %llu collections\n", n, used, rg_procs(),
	       (unsigned long long)st.num_gc);
	CHECK(st.num_gc >= 1);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	/* the heap outlives the runtime: use it outside, then run again */
	void *p = rg_gc_alloc(100);
	CHECK(p);
	CHECK_EQ(rg_gc_collect(), 0);
	atomic_store(&done, 0);
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
