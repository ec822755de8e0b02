/* A task spawned by a thread without a P while the world is stopped for a
 * collection: sysmon fires the timers of a P that has not scheduled for
 * a while (core/timer.c, rg__timers_run_other), and the P running a long
 * collection is one; a Context's deadline firing there starts its
 * after-funcs' tasks (rg_go from sysmon) while the collector walks the
 * tasks (rg__tasks_each) and reads their saved sp.  rg__spawn published
 * the new task's state with a relaxed store after writing its context,
 * and the walk read the state relaxed: the collector could scan a
 * half-made task (TSan: a data race between rg__ctx_init and
 * rg__task_stack_range; found by core_soak_mix).  Under TSan this fails
 * on every run without the fix; everywhere it checks that every
 * after-func ran with its GC argument intact.  Since sysmon fires no
 * timer during a stop (tests/core/test_stw_timers.c), the deadlines that
 * fall in a collection fire after it; the checks stay. */
// ctest-timeout: 120
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/sync.h"

#define MS 1000000LL
#define NCTX 64

struct node {
	struct node *next;
	uint64_t v;
};

struct arg {
	uint64_t magic;
	int i;
};

static _Atomic int ran;

static void after_fn(void *p)
{
	struct arg *a = p;
	CHECK_EQ(a->magic, 0xa11ce5ull + (uint64_t)a->i);
	atomic_fetch_add(&ran, 1);
}

static int main_fn(void *unused)
{
	(void)unused;
	/* a live heap big enough that one collection's mark takes many of
	 * sysmon's 2-10 ms looks */
	struct node *h = NULL;
	int n = T_SANITIZED ? 200000 : 1000000;
	for (int i = 0; i < n; i++) {
		struct node *x = rg_gc_alloc(sizeof *x);
		CHECK(x);
		x->next = h;
		x->v = (uint64_t)i;
		h = x;
	}
	for (int round = 0; round < 5; round++) {
		atomic_store(&ran, 0);
		rg_ctx *c[NCTX];
		int64_t t0 = rg_now();
		for (int i = 0; i < NCTX; i++) {
			CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), (1 + i % 8) * MS, &c[i]), 0);
			struct arg *a = rg_gc_alloc(sizeof *a); /* only the after-func keeps it */
			CHECK(a);
			a->magic = 0xa11ce5ull + (uint64_t)i;
			a->i = i;
			CHECK(rg_ctx_after_func(c[i], after_fn, a) > 0);
		}
		CHECK_EQ(rg_gc_collect(), 0);
		CHECK_EQ(rg_gc_collect(), 0);
		int64_t took = rg_now() - t0;
		while (atomic_load(&ran) < NCTX)
			rg_sleep(MS / 2);
		for (int i = 0; i < NCTX; i++) {
			CHECK_EQ(rg_ctx_err(c[i]), -ETIMEDOUT);
			rg_ctx_release(c[i]);
		}
		printf("round %d: two collections in %.1f ms\n", round, took / 1e6);
	}
	uint64_t want = (uint64_t)n;
	for (struct node *x = h; x; x = x->next)
		CHECK_EQ(x->v, --want);
	CHECK_EQ(want, 0);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	rg_config c = { .procs = 1, .quiet = 1, .nopin = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &c), 0);
	printf("stw_pless_spawn: ok\n");
	return T_PASS;
}
