/* Spawn and finish 1,000,000 tasks; every one runs exactly once. */
// ctest-timeout: 300
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "ringo.h"

#define N (T_SANITIZED ? 100000 : 1000000)
static _Atomic long ran;
static _Atomic long sum;
static _Atomic int procs_seen[64];

static void child(void *arg)
{
	atomic_fetch_add(&ran, 1);
	atomic_fetch_add(&sum, (long)(intptr_t)arg);
	int p = rg_proc_id();
	if (p >= 0 && p < 64)
		atomic_store(&procs_seen[p], 1);
}

static int main_fn(void *arg)
{
	for (long i = 0; i < N; i++) {
		int64_t id = rg_go(child, (void *)(intptr_t)i);
		CHECK(id > 0);
		if (i % 1000 == 0)
			rg_yield();
	}
	while (atomic_load(&ran) < N)
		rg_sleep(1000000);
	return 42;
}

int main(void)
{
	int r = rg_run(main_fn, NULL, NULL);
	CHECK_EQ(r, 42);
	CHECK_EQ(atomic_load(&ran), N);
	CHECK_EQ(atomic_load(&sum), (long)N * (N - 1) / 2);
	rg_sched_stats st;
	rg_sched_stats_get(&st);
	printf("spawned %ld tasks\n", (long)N);
	return T_PASS;
}
