/* rg_config's limits, which core.h did not state: procs (and RINGO_PROCS)
 * at most 1024, ring_entries at most 32768.  Beyond: -EINVAL and one line,
 * and the next rg_run works; at the limit of ring_entries a run works. */
// ctest-timeout: 60
#include <stdlib.h>

#include "check.h"
#include "ringo.h"

static int main_7(void *arg)
{
	(void)arg;
	return 7;
}

int main(void)
{
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .procs = 1025, .quiet = 1 }), -EINVAL);
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .ring_entries = 32769, .quiet = 1 }), -EINVAL);
	setenv("RINGO_PROCS", "1025", 1);
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .quiet = 1 }), -EINVAL);
	setenv("RINGO_PROCS", "1", 1);
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .quiet = 1, .nopin = 1 }), 7);
	unsetenv("RINGO_PROCS");
	CHECK_EQ(rg_run(main_7, NULL, &(rg_config){ .procs = 1, .ring_entries = 32768, .quiet = 1, .nopin = 1 }),
	         7);
	return T_PASS;
}
