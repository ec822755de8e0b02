/* Tasks with a stack size other than the default (rg_task_opts.stack_size)
 * each take a mapping and a guard page: two of vm.max_map_count's
 * mappings.  They took them until the kernel had none left: after 32,673
 * tasks of 32 KiB rg_go_opts said -ENOMEM, but so did everything else
 * that needs a mapping, for the rest of the run: rg_go with the default
 * stack failed after 63 more tasks, every rg_gc_alloc returned NULL, no
 * thread could start (the collector's scavenger, the blocking pool).  Now
 * they draw on the stacks' budget (a quarter of max_map_count is left to
 * the rest of the process), which ringo/core.h documents: -ENOMEM past it,
 * and the rest keeps working; and an exited task gives its share back.
 * Not under sanitizers (their shadow and fibers need mappings of their
 * own) nor where max_map_count is so large that the budget is never met
 * here. */
// ctest-timeout: 120
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "ringo.h"

static rg_chan *gate;
static _Atomic long parked;

static void parker(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	rg_chan_recv(gate, NULL, NULL, -1);
}

static void *thread_fn(void *arg) { return arg; }
static intptr_t blocking_fn(void *arg) { return (intptr_t)arg + 1; }

static int main_fn(void *arg)
{
	(void)arg;
	gate = rg_chan_make(0, 0);
	rg_task_opts o = { .stack_size = 32 * 1024, .name = "custom" };
	long n = 0;
	int64_t r;
	while ((r = rg_go_opts(parker, NULL, &o)) > 0) {
		if (++n % 1024 == 0)
			rg_yield();
		CHECK(n < 1000000);
	}
	printf("  %ld tasks with a 32 KiB stack, then %lld\n", n, (long long)r);
	CHECK_EQ(r, -ENOMEM);
	CHECK(n > 1000);
	while (atomic_load(&parked) < n)
		rg_sleep(1000000);

	/* the rest of the process still has its mappings */
	long m = 0;
	for (; m < 20000; m++)
		if (rg_go(parker, NULL) <= 0)
			break;
	printf("  then %ld tasks with the default stack\n", m);
	CHECK_EQ(m, 20000);
	static void *keep[64];
	CHECK(rg_gc_root_add(keep, sizeof keep) == 0);
	for (int i = 0; i < 64; i++) {
		keep[i] = rg_gc_alloc(1 << 20); /* each a span of its own */
		CHECK(keep[i] != NULL);
	}
	pthread_t th;
	CHECK(pthread_create(&th, NULL, thread_fn, NULL) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK_EQ(rg_blocking(blocking_fn, (void *)41), 42);

	/* exits give the budget back */
	CHECK_EQ(rg_chan_close(gate), 0);
	rg_sched_stats s;
	for (int i = 0; i < 5000; i++) {
		rg_sched_stats_get(&s);
		if (s.tasks_exited >= (uint64_t)(n + m))
			break;
		rg_sleep(1000000);
	}
	CHECK(s.tasks_exited >= (uint64_t)(n + m));
	rg_chan_free(gate);
	gate = rg_chan_make(0, 0);
	long k = 0;
	for (; k < n; k++)
		if (rg_go_opts(parker, NULL, &o) <= 0)
			break;
	printf("  after they exited: %ld again\n", k);
	CHECK(k >= n - 64 * 2);
	return 0;
}

int main(void)
{
	if (T_SANITIZED)
		SKIP("sanitizers map memory of their own for each task");
	long max = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (!f || fscanf(f, "%ld", &max) != 1)
		SKIP("no /proc/sys/vm/max_map_count");
	fclose(f);
	if (max > 262144)
		SKIP("vm.max_map_count %ld: the budget is too large to reach here", max);
	rg_config cfg = { .procs = 2, .nopin = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return T_PASS;
}
