/* tests/fail_malloc.h — rg__malloc that fails on demand, per thread, for
 * the tests that link with "// ctest-link: -Wl,--wrap=rg__malloc": set
 * fail_here on a thread (a task's P thread, while it does not park) and
 * its allocations return NULL; `failed` counts them.  Include once, in
 * that test's source only. */
#ifndef RG_TESTS_FAIL_MALLOC_H
#define RG_TESTS_FAIL_MALLOC_H
#include <stdatomic.h>
#include <stddef.h>

void *__real_rg__malloc(size_t n);

static __thread int fail_here; /* this thread's allocations fail */
static _Atomic long failed;

void *__wrap_rg__malloc(size_t n)
{
	if (fail_here) {
		atomic_fetch_add(&failed, 1);
		return NULL;
	}
	return __real_rg__malloc(n);
}
#endif
