/* The allocator outside rg_run (threads without a P, the locked path):
 * every size class, zeroing, interior-pointer lookup, tiny packing, large
 * objects, typed objects, bad input, several threads at once. */
// ctest-timeout: 120
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gc/gc_int.h"
#include "ringo/gc.h"

bool rg__gc_allocated(const void *p);

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void every_class(unsigned seed, bool alone)
{
	for (int c = 1; c < RG__NUM_CLASSES; c++) {
		size_t sz = rg__class_size[c];
		for (int noscan = 0; noscan < 2; noscan++) {
			for (size_t ask = sz - (sz > 8 ? 7 : 0); ask <= sz; ask += 7) {
				unsigned char *p = noscan ? rg_gc_alloc_noscan(ask) : rg_gc_alloc(ask);
				CHECK(p != NULL);
				CHECK(all_zero(p, ask));
				if (ask >= RG__TINY_SIZE || !noscan) {
					CHECK_EQ(rg_gc_size(p), sz);
					CHECK(rg_gc_base(p) == p);
					CHECK(rg_gc_base(p + ask - 1) == p);
					CHECK(rg_gc_base(p + ask / 2) == p);
					/* (reads alloc bits others may be writing) */
					if (alone)
						CHECK(rg__gc_allocated(p));
				}
				memset(p, (int)(seed + (unsigned)c), ask);
			}
		}
	}
}

struct node { struct node *next; long key; void *hidden; };
static const size_t node_ptrs[] = {offsetof(struct node, next)};
static rg_gc_type node_type = {"node", sizeof(struct node), node_ptrs, 1, NULL};
static const size_t bad_ptrs[] = {3};
static rg_gc_type bad_type = {"bad", 16, bad_ptrs, 1, NULL};
/* layouts whose checks wrapped (found by the gc review): an offset of -8
 * passed "off + 8 > size" and was written 2^55 words past the bitmap; a
 * size near SIZE_MAX made a one-word bitmap that offset 4096 overflowed */
static const size_t wrap_ptrs[] = {(size_t)-8};
static rg_gc_type wrap_off_type = {"wrap_off", 16, wrap_ptrs, 1, NULL};
static const size_t far_ptrs[] = {4096};
static rg_gc_type huge_type = {"huge", SIZE_MAX, far_ptrs, 1, NULL};
static rg_gc_type huge2_type = {"huge2", SIZE_MAX - 6, far_ptrs, 1, NULL};
static rg_gc_type zero_type = {"zero", 0, NULL, 0, NULL};

static void *thread_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (int r = 0; r < 20; r++)
		every_class(seed, false);
	return NULL;
}

int main(void)
{
	/* bad input first (also the first call: lazy init from a bad call) */
	CHECK(rg_gc_alloc(SIZE_MAX) == NULL);
	CHECK(rg_gc_alloc_noscan(SIZE_MAX / 2) == NULL);
	void *z = rg_gc_alloc(0);
	CHECK(z != NULL);
	CHECK(rg_gc_alloc_noscan(0) == z);
	CHECK(rg_gc_base(z) == NULL);
	CHECK_EQ(rg_gc_root_remove(&z, sizeof z), -ENOENT);
	CHECK_EQ(rg_gc_root_add(NULL, 8), -EINVAL);
	CHECK_EQ(rg_gc_root_add(&z, 0), -EINVAL);
	CHECK_EQ(rg_gc_stats_get(NULL), -EINVAL);
	CHECK(rg_gc_alloc_typed(16, NULL) == NULL);
	CHECK(rg_gc_alloc_typed(16, &bad_type) == NULL);
	CHECK(rg_gc_alloc_typed(16, &wrap_off_type) == NULL);
	CHECK(rg_gc_alloc_typed(SIZE_MAX, &huge_type) == NULL);
	CHECK(rg_gc_alloc_typed(SIZE_MAX - 6, &huge2_type) == NULL);
	CHECK(rg_gc_alloc_typed(16, &zero_type) == NULL);
	CHECK(rg_gc_alloc_typed(sizeof(struct node) + 1, &node_type) == NULL);
	CHECK(rg_gc_alloc_typed(0, &node_type) == NULL);
	int local;
	CHECK(rg_gc_base(&local) == NULL);
	CHECK(rg_gc_base(NULL) == NULL);
	CHECK_EQ(rg_gc_size(&local), 0);

	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0); /* initialises the heap */
	every_class(1, true);

	/* distinct objects of one class do not overlap */
	enum { N = 20000 };
	uintptr_t *a = calloc(N, sizeof *a);
	/* a root: this thread's allocations collect by themselves (outside
	 * rg_run, alone), and malloc memory is not scanned */
	CHECK(a && rg_gc_root_add(a, N * sizeof *a) == 0);
	for (int i = 0; i < N; i++) {
		a[i] = (uintptr_t)rg_gc_alloc(48);
		CHECK(a[i]);
		memset((void *)a[i], 0xab, 48);
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < 48; j++)
			CHECK_EQ(((unsigned char *)a[i])[j], 0xab);
	CHECK_EQ(rg_gc_root_remove(a, N * sizeof *a), 0);
	free(a);

	/* tiny: packed in 16-byte blocks, aligned to their size */
	unsigned char *t[8];
	int distinct = 0;
	for (int i = 0; i < 8; i++) {
		t[i] = rg_gc_alloc_noscan(4);
		CHECK(t[i] && (uintptr_t)t[i] % 4 == 0 && all_zero(t[i], 4));
		if (i && rg_gc_base(t[i]) == rg_gc_base(t[i - 1]))
			CHECK(t[i] == t[i - 1] + 4);
		else
			distinct++;
		memset(t[i], 0xee, 4);
	}
	CHECK(distinct <= 3);
	unsigned char *t8 = rg_gc_alloc_noscan(8), *t1 = rg_gc_alloc_noscan(1);
	CHECK((uintptr_t)t8 % 8 == 0 && all_zero(t8, 8) && all_zero(t1, 1));

	/* typed */
	struct node *n = rg_gc_alloc_typed(sizeof *n, &node_type);
	CHECK(n && n->next == NULL && n->key == 0);
	CHECK(node_type.priv_ != NULL);
	struct node *arr = rg_gc_alloc_typed(10 * sizeof *n, &node_type);
	CHECK(arr && all_zero((void *)arr, 10 * sizeof *n));

	/* large: own span, zeroed, interior lookup anywhere inside */
	size_t sizes[] = {32769, 65536, 1 << 20, 3u << 20, 100u << 20};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = rg_gc_alloc_noscan(sizes[i]);
		CHECK(p != NULL);
		CHECK((uintptr_t)p % RG__PAGE_SIZE == 0);
		CHECK(all_zero(p, sizes[i]));
		CHECK(rg_gc_base(p + sizes[i] - 1) == p);
		CHECK(rg_gc_base(p + sizes[i] / 3) == p);
		CHECK(rg_gc_size(p) >= sizes[i]);
		memset(p, 0x5a, sizes[i]);
	}
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK(st.large_allocs >= 5);
	CHECK(st.heap_inuse >= (100u << 20));
	CHECK(st.heap_sys >= st.heap_inuse);

	/* several threads without a P at once (the locked path) */
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, thread_main, (void *)(uintptr_t)(i + 7)), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("heap inuse %.1f MiB, sys %.1f MiB, %d NUMA nodes\n", st.heap_inuse / 1048576.0,
	       st.heap_sys / 1048576.0, st.numa_nodes);
	return T_PASS;
}
