/* An object whose only reference is a task's local variable whose address
 * was taken must survive a collection.  Under ASan with stack-use-after-
 * return detection (ASAN_OPTIONS=detect_stack_use_after_return=1; the
 * default of clang >= 15 on Linux), such a local lives in ASan's "fake
 * stack", heap memory the collector never scans: the object was freed and
 * reused while the task still held it.  In a build without ASan this is
 * the ordinary stack case. */
// ctest-timeout: 60
// ctest-env: ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=0
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define N 32
#define SZ 256

__attribute__((noinline)) static void store(void **slot, int i)
{
	unsigned char *p = rg_gc_alloc(SZ);
	CHECK(p);
	memset(p, 0x5a ^ i, SZ);
	*slot = p;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static bool intact(void *const *slot, int i)
{
	const unsigned char *p = *slot;
	for (int k = 0; k < SZ; k++)
		if (p[k] != (unsigned char)(0x5a ^ i))
			return false;
	return true;
}

__attribute__((noinline)) static void churn(void)
{
	for (int i = 0; i < 20000; i++)
		memset(rg_gc_alloc(SZ), 0xee, SZ); /* reuse anything freed */
}

/* one frame per object: each slot is an address-taken local */
__attribute__((noinline)) static int hold(int i)
{
	void *slot = NULL;
	store(&slot, i);
	int bad;
	if (i + 1 < N) {
		bad = hold(i + 1);
	} else {
		CHECK_EQ(rg_gc_collect(), 0);
		churn();
		CHECK_EQ(rg_gc_collect(), 0);
		churn();
		bad = 0;
	}
	if (!intact(&slot, i))
		bad++;
	return bad;
}

static int main_fn(void *arg)
{
	(void)arg;
	int bad = hold(0);
	if (bad)
		fprintf(stderr, "%d of %d objects held by address-taken locals were freed and reused\n",
		        bad, N);
	CHECK_EQ(bad, 0);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
