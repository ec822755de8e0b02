/* gctest-style run on every P at once, collector running as it decides:
 * binary trees of typed nodes (a long-lived one and many short-lived ones),
 * reversed lists of conservatively scanned cells, and arrays of typed
 * objects.  Every structure is checked after being built and again after
 * more garbage; the heap must stay within a bound of the live data. */
// ctest-timeout: 300
// ctest-qemu: also run on aarch64 under qemu-user (scripts/test.sh)
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

struct tree { struct tree *l, *r; long depth; long pad; };
static const size_t tree_ptrs[] = {offsetof(struct tree, l), offsetof(struct tree, r)};
static rg_gc_type tree_type = {"tree", sizeof(struct tree), tree_ptrs, 2, NULL};

struct cell { struct cell *next; long v; };

struct rec { char name[24]; struct cell *list; double w; struct tree *t; };
static const size_t rec_ptrs[] = {offsetof(struct rec, list), offsetof(struct rec, t)};
static rg_gc_type rec_type = {"rec", sizeof(struct rec), rec_ptrs, 2, NULL};

#define ROUNDS (T_SANITIZED ? 2 : 4)
#define LONG_DEPTH 14
#define MAX_DEPTH (T_SANITIZED ? 12 : 14)

static _Atomic int done;
static _Atomic uint64_t peak_inuse;

static struct tree *make_tree(int d)
{
	struct tree *t = rg_gc_alloc_typed(sizeof *t, &tree_type);
	CHECK(t);
	CHECK(t->l == NULL && t->r == NULL && t->depth == 0);
	t->depth = d;
	if (d > 0) {
		t->l = make_tree(d - 1);
		t->r = make_tree(d - 1);
	}
	return t;
}

static long check_tree(const struct tree *t, int d)
{
	CHECK(t->depth == d);
	if (d == 0) {
		CHECK(!t->l && !t->r);
		return 1;
	}
	return 1 + check_tree(t->l, d - 1) + check_tree(t->r, d - 1);
}

static struct cell *make_list(long n)
{
	struct cell *h = NULL;
	for (long i = 0; i < n; i++) {
		struct cell *c = rg_gc_alloc(sizeof *c);
		CHECK(c && !c->next && !c->v);
		c->v = i;
		c->next = h;
		h = c;
	}
	return h;
}

static struct cell *reverse(struct cell *h)
{
	struct cell *r = NULL;
	while (h) {
		struct cell *n = h->next;
		h->next = r;
		r = h;
		h = n;
	}
	return r;
}

static void note_peak(void)
{
	rg_gc_stats st;
	rg_gc_stats_get(&st);
	uint64_t p = atomic_load(&peak_inuse);
	while (st.heap_inuse > p && !atomic_compare_exchange_weak(&peak_inuse, &p, st.heap_inuse))
		;
}

static void worker(void *arg)
{
	long id = (long)(intptr_t)arg;
	struct tree *volatile longlived = make_tree(LONG_DEPTH);
	for (int r = 0; r < ROUNDS; r++) {
		for (int d = 4; d <= MAX_DEPTH; d += 2) {
			long iters = 1L << (MAX_DEPTH - d + 2);
			for (long i = 0; i < iters; i++) {
				struct tree *t = make_tree(d);
				CHECK_EQ(check_tree(t, d), (2L << d) - 1);
			}
			rg_yield();
		}
		struct cell *l = make_list(20000 + id);
		l = reverse(l);
		long k = 0;
		for (struct cell *c = l; c; c = c->next, k++)
			CHECK_EQ(c->v, k);
		CHECK_EQ(k, 20000 + id);
		struct rec *recs = rg_gc_alloc_typed(64 * sizeof *recs, &rec_type);
		CHECK(recs);
		for (int i = 0; i < 64; i++) {
			recs[i].list = make_list(10);
			recs[i].t = make_tree(3);
			recs[i].w = i;
			memset(recs[i].name, 'a' + i % 26, sizeof recs[i].name);
		}
		struct tree *junk = make_tree(MAX_DEPTH - 2); /* garbage after */
		(void)junk;
		for (int i = 0; i < 64; i++) {
			long n = 0;
			for (struct cell *c = recs[i].list; c; c = c->next)
				n++;
			CHECK_EQ(n, 10);
			CHECK_EQ(check_tree(recs[i].t, 3), 15);
			CHECK(recs[i].w == i && recs[i].name[23] == 'a' + i % 26);
		}
		CHECK_EQ(check_tree(longlived, LONG_DEPTH), (2L << LONG_DEPTH) - 1);
		note_peak();
	}
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	int n = rg_procs() * 2;
	for (int i = 0; i < n; i++)
		CHECK(rg_go(worker, (void *)(intptr_t)i) > 0);
	while (atomic_load(&done) < n)
		rg_sleep(5 * 1000000LL);
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	printf("%d workers, %llu collections, pause max %.2f ms total %.1f ms, peak inuse %.1f MiB, "
	       "sys %.1f MiB\n",
	       n, (unsigned long long)st.num_gc, st.pause_max_ns / 1e6, st.pause_total_ns / 1e6,
	       atomic_load(&peak_inuse) / 1048576.0, st.heap_sys / 1048576.0);
	CHECK(st.num_gc >= 3);
	/* live data is about n * (long-lived tree 1 MiB + a list + the tree
	 * being built); GOGC=100 allows twice that, plus fragmentation */
	CHECK(atomic_load(&peak_inuse) < (uint64_t)n * (6u << 20) + (16u << 20));
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
