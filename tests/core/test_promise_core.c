/* core.h and README promises no other test checks:
 *   - rg_config fields win over the environment (README, "Configuration"):
 *     .procs = 2 with RINGO_PROCS=1 runs 2 Ps;
 *   - rg_proc_id() is -1 inside rg_blocking ("outside a P"), rg_procs()
 *     still the run's count there, and 0 / -1 / 0 for rg_procs, rg_proc_id
 *     and rg_self outside rg_run;
 *   - rg_blocking returns fn's result, negative ones included. */
#include <ringo.h>
#include <stdlib.h>
#include "check.h"

static intptr_t in_blocking(void *arg)
{
	(void)arg;
	return (intptr_t)rg_proc_id() * 10000 + rg_procs();
}

static intptr_t neg(void *arg)
{
	(void)arg;
	return -12345;
}

static int main_task(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_procs(), 2);
	CHECK(rg_proc_id() >= 0 && rg_proc_id() < 2);
	CHECK_EQ(rg_blocking(in_blocking, NULL), -1 * 10000 + 2);
	CHECK_EQ(rg_blocking(neg, NULL), -12345);
	return 7;
}

int main(void)
{
	CHECK_EQ(rg_procs(), 0);
	CHECK_EQ(rg_proc_id(), -1);
	CHECK_EQ(rg_self(), 0);
	setenv("RINGO_PROCS", "1", 1);
	CHECK_EQ(rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 }), 7);
	CHECK_EQ(rg_procs(), 0);
	return T_PASS;
}
