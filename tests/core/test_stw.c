/* Stop-the-world for the collector: while it is on, no other P runs a
 * task; every live task is listed with a stack range that holds its saved
 * stack pointer; afterwards everything resumes. */
#include <stdatomic.h>

#include "check.h"
#include "core/core.h"
#include "ringo.h"

#define NW 6
static _Atomic long counter;
static _Atomic int stop;
static _Atomic int alive;

static void worker(void *arg)
{
	atomic_fetch_add(&alive, 1);
	volatile uint64_t marker = 0xfeedface12345678ULL;
	while (!atomic_load(&stop)) {
		atomic_fetch_add(&counter, 1);
		if (atomic_load(&counter) % 64 == 0)
			rg_sleep(1000);
		else
			rg_yield();
	}
	CHECK(marker == 0xfeedface12345678ULL);
	atomic_fetch_sub(&alive, 1);
}

struct seen {
	int n;
	int bad;
};

static void visit(rg__task *t, void *arg)
{
	struct seen *s = arg;
	void *lo, *hi;
	rg__task_stack_range(t, &lo, &hi);
	if (!(lo && hi && (char *)lo < (char *)hi && (char *)hi - (char *)lo < (1 << 20)))
		s->bad++;
	s->n++;
}

static void custom_sleeper(void *arg) { rg_sleep(20000000); }

static int main_fn(void *arg)
{
	/* rg__task_pin finds live tasks of both stack kinds, and not dead ones */
	int64_t a = rg_go(custom_sleeper, NULL);
	int64_t b = rg_go_opts(custom_sleeper, NULL, &(rg_task_opts){ .stack_size = 256 * 1024 });
	CHECK(a > 0 && b > 0);
	rg_sleep(1000000);
	rg__task *ta = rg__task_pin(a), *tb = rg__task_pin(b), *tself = rg__task_pin(rg_self());
	CHECK(ta != NULL && rg__task_id(ta) == a);
	CHECK(tb != NULL && rg__task_id(tb) == b);
	CHECK(tself == rg__self());
	rg__task_unpin(ta);
	rg__task_unpin(tb);
	rg__task_unpin(tself);
	CHECK(rg__task_pin(987654321) == NULL);
	rg_sleep(40000000);
	CHECK(rg__task_pin(a) == NULL);
	CHECK(rg__task_pin(b) == NULL);
	for (int i = 0; i < NW; i++)
		CHECK(rg_go(worker, NULL) > 0);
	while (atomic_load(&alive) < NW)
		rg_sleep(1000000);
	for (int round = 0; round < (T_SANITIZED ? 20 : 200); round++) {
		rg_sleep(200000);
		rg__stw_stop();
		long c0 = atomic_load(&counter);
		for (volatile int spin = 0; spin < 20000; spin++)
			;
		long c1 = atomic_load(&counter);
		struct seen s = { 0, 0 };
		rg__for_each_task(visit, &s);
		rg__stw_start();
		CHECK_EQ(c0, c1); /* nobody ran while the world was stopped */
		CHECK_EQ(s.bad, 0);
		CHECK(s.n >= NW + 1);
	}
	long before = atomic_load(&counter);
	rg_sleep(20000000);
	CHECK(atomic_load(&counter) > before); /* resumed */
	atomic_store(&stop, 1);
	while (atomic_load(&alive) > 0)
		rg_sleep(1000000);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 2 }), 0);
	return T_PASS;
}
