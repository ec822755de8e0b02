/* rg_chan_make's limits, which sync.h did not state (it said "NULL when
 * out of memory or on overflow", yet refused elem_size = 1 GiB + 1 with
 * no overflow anywhere, and cap = 2^32 with elements of size 0): each
 * side of each limit, and that a channel at the limits works. */
// ctest-timeout: 60
#include <string.h>

#include "check.h"
#include "ringo.h"

static int main_fn(void *arg)
{
	(void)arg;
	const size_t GiB = (size_t)1 << 30;
	/* elem_size: at most 1 GiB */
	rg_chan *c = rg_chan_make(GiB, 0);
	CHECK(c != NULL);
	rg_chan_free(c);
	CHECK(rg_chan_make(GiB + 1, 0) == NULL);
	CHECK(rg_chan_make(SIZE_MAX, 0) == NULL);
	CHECK(rg_chan_make(SIZE_MAX, 1) == NULL);
	/* cap: at most UINT32_MAX */
	CHECK(rg_chan_make(0, (size_t)UINT32_MAX + 1) == NULL);
	CHECK(rg_chan_make(8, SIZE_MAX) == NULL);
	/* and a buffer that does not fit: NULL, not a crash (ASan aborts
	 * on the 2^62-byte request itself) */
	if (!T_SANITIZED)
		CHECK(rg_chan_make(GiB, UINT32_MAX) == NULL);
	/* a big element works both ways */
	size_t big = (size_t)1 << 20;
	c = rg_chan_make(big, 2);
	CHECK(c != NULL);
	CHECK_EQ(rg_chan_cap(c), 2);
	char *in = malloc(big), *out = malloc(big);
	CHECK(in && out);
	for (size_t i = 0; i < big; i++)
		in[i] = (char)(i * 7);
	CHECK_EQ(rg_chan_send(c, in, 0), 0);
	bool ok = false;
	CHECK_EQ(rg_chan_recv(c, out, &ok, 0), 0);
	CHECK(ok && memcmp(in, out, big) == 0);
	free(in);
	free(out);
	rg_chan_free(c);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return T_PASS;
}
