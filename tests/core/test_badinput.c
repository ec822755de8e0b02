/* Bad input gets -EINVAL (or -EBUSY, -ESHUTDOWN) and a clear line, never a
 * crash. */
#include <stdlib.h>

#include "check.h"
#include "ringo.h"

static void noop(void *arg) {}

static int inner_main(void *arg) { return 0; }

static int main_fn(void *arg)
{
	CHECK_EQ(rg_go(NULL, NULL), -EINVAL);
	rg_task_opts o = { .stack_size = 1024 };
	CHECK_EQ(rg_go_opts(noop, NULL, &o), -EINVAL);
	o.stack_size = (size_t)1 << 40;
	CHECK_EQ(rg_go_opts(noop, NULL, &o), -EINVAL);
	o.stack_size = SIZE_MAX;
	CHECK_EQ(rg_go_opts(noop, NULL, &o), -EINVAL);
	o.stack_size = 100000; /* odd size: rounded up to pages */
	o.name = "a-name-that-is-much-longer-than-thirty-one-bytes";
	CHECK(rg_go_opts(noop, NULL, &o) > 0);
	CHECK_EQ(rg_run(inner_main, NULL, NULL), -EBUSY); /* nested */
	return 3;
}

int main(void)
{
	CHECK_EQ(rg_run(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = -1 }), -EINVAL);
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .stack_size = 100 }), -EINVAL);
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .stack_size = (size_t)1 << 40 }), -EINVAL);
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 100000 }), -EINVAL);
	const char *bad[] = { "0", "-3", "abc", "", "2x", "99999999999999999999", " 2" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("RINGO_PROCS", bad[i], 1);
		CHECK_EQ(rg_run(main_fn, NULL, NULL), -EINVAL);
	}
	setenv("RINGO_PROCS", "3", 1);
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 3);
	unsetenv("RINGO_PROCS");
	CHECK_EQ(rg_go(noop, NULL), -ESHUTDOWN);
	CHECK_EQ(rg_self(), 0);
	CHECK_EQ(rg_procs(), 0);
	CHECK_EQ(rg_proc_id(), -1);
	rg_yield();           /* outside a task: harmless */
	rg_preempt_point();
	rg_sched_stats_get(NULL);
	return T_PASS;
}
