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

static size_t vm_size(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f && fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static int main_fn(void *arg)
{
	(void)arg;
	rlim_t lim = (rlim_t)(vm_size() + ((size_t)3 << 30));
	struct rlimit rl = { lim, lim };
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
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
