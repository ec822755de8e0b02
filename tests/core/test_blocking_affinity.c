/* rg_blocking's pool threads may run on every CPU rg_run's caller could
 * use.  They were made by a P's thread, pinned to one CPU, and kept its
 * mask: a CPU-heavy blocking call shared its P's CPU while the other CPUs
 * idled.  Checked with the Ps pinned (the default), from calls made on
 * each P; skipped where the process may use only one CPU. */
// ctest-timeout: 60
#include <sched.h>

#include "check.h"
#include "ringo.h"

static int allowed;

static intptr_t cpus_here(void *arg)
{
	(void)arg;
	cpu_set_t set;
	CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
	return CPU_COUNT(&set);
}

static _Atomic int done;

static void on_some_p(void *arg)
{
	(void)arg;
	intptr_t n = rg_blocking(cpus_here, NULL);
	printf("  from P %d: the pool thread may run on %ld of %d CPUs\n", rg_proc_id(), (long)n, allowed);
	CHECK_EQ(n, allowed);
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < 8; i++)
		CHECK(rg_go(on_some_p, NULL) > 0);
	while (atomic_load(&done) < 8)
		rg_sleep(1000000);
	return 0;
}

int main(void)
{
	cpu_set_t set;
	CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
	allowed = CPU_COUNT(&set);
	if (allowed < 2)
		SKIP("one CPU: nothing to tell apart");
	rg_config c = { .procs = 2, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &c), 0);
	printf("blocking_affinity: ok\n");
	return T_PASS;
}
