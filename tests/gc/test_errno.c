/* The library never touches errno (README, core.h).  The heap's first
 * allocation reserves its address range, trying 1 TiB first and halving
 * while the address space refuses (RLIMIT_AS); the refusals' ENOMEM stayed
 * in errno although the allocation succeeded:
 *   first gc alloc 0x7f4d70002000 errno 12
 * Not under sanitizers nor qemu-user (no RLIMIT_AS there). */
// ctest-timeout: 60
#include <errno.h>
#include <sys/resource.h>

#include "check.h"
#include "core/core.h"
#include "ringo.h"

static RG__NOIPA void e_set(int v) { errno = v; }
static RG__NOIPA int e_get(void) { return errno; }

static int main_fn(void *arg)
{
	(void)arg;
	t_limit_as((size_t)3 << 30);
	e_set(4242);
	void *p = rg_gc_alloc(16);
	int e = e_get();
	CHECK(p != NULL);
	CHECK_EQ(e, 4242);
	return 0;
}

int main(void)
{
	if (T_SANITIZED || T_EMULATED)
		SKIP("no RLIMIT_AS under sanitizers or qemu-user");
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return T_PASS;
}
