/* "Every call returns >= 0 or -errno and never sets errno" (README,
 * core.h).  rg_run came back with errno changed, also when it succeeded
 * (ENOENT here: a file it looks for at start, the cgroup's cpu.max, that
 * this machine lacks), and rg_chan_make out of memory left ENOMEM behind:
 *   rg_run -> 0 errno 2
 *   chan_make -> (nil) errno 12
 * Not the huge channel under sanitizers (their allocator aborts on it). */
// ctest-timeout: 60
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "ringo.h"

#define MARK 4242

static int main_fn(void *arg)
{
	(void)arg;
	if (!T_SANITIZED) {
		errno = MARK;
		rg_chan *c = rg_chan_make((size_t)1 << 30, UINT32_MAX); /* 2^62 bytes */
		int e = errno;
		CHECK(c == NULL);
		CHECK_EQ(e, MARK);
	}
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	errno = MARK;
	int r = rg_run(main_fn, NULL, &cfg);
	int e = errno;
	CHECK_EQ(r, 0);
	CHECK_EQ(e, MARK);
	errno = MARK;
	r = rg_run(main_fn, NULL, &(rg_config){ .procs = 5000, .quiet = 1 });
	e = errno;
	CHECK_EQ(r, -EINVAL);
	CHECK_EQ(e, MARK);
	return T_PASS;
}
