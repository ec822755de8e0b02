/* An object referenced only from a task-local value (rg_tls_set) survives
 * collections while its task is parked; the same object is collected once
 * the value is cleared.  Task-local values live in an array of core's, off
 * the task's stack, which the collector scans conservatively. */
// ctest-timeout: 60
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

bool rg__gc_allocated(const void *p);

#define NT 8
#define SIZE 300
#define KEY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static rg_tls_key key;
static _Atomic int parked, ok, dropped;
static _Atomic bool go, go2;
static _Atomic uintptr_t hidden[NT]; /* addresses, disguised from the scan */

static void fill(unsigned char *p, size_t n, unsigned char v) { memset(p, v, n); }
static bool check_fill(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Overwrites dead frames below the caller (stale copies of the address).
 * Not instrumented, so that under ASan the buffer is on this stack. */
__attribute__((noinline, no_sanitize("address"))) static void clobber_stack(void)
{
	volatile uintptr_t buf[2048];
	for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
		buf[i] = 0;
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Leaves the object in the task-local value only. */
__attribute__((noinline)) static void set_value(int i)
{
	unsigned char *p = rg_gc_alloc(SIZE);
	CHECK(p);
	fill(p, SIZE, (unsigned char)(0x40 + i));
	atomic_store(&hidden[i], (uintptr_t)p ^ KEY);
	CHECK_EQ(rg_tls_set(key, p), 0);
}

__attribute__((noinline)) static bool value_intact(int i)
{
	unsigned char *p = rg_tls_get(key);
	return p && (uintptr_t)p == (atomic_load(&hidden[i]) ^ KEY) && rg__gc_allocated(p) &&
	       check_fill(p, SIZE, (unsigned char)(0x40 + i));
}

static void holder(void *arg)
{
	int i = (int)(intptr_t)arg;
	set_value(i);
	clobber_stack();
	atomic_fetch_add(&parked, 1);
	while (!atomic_load(&go))
		rg_sleep(1000000); /* parked while main collects */
	if (value_intact(i))
		atomic_fetch_add(&ok, 1);
	else
		fprintf(stderr, "task %d: object held by a task-local value was lost\n", i);
	/* cleared: the object is garbage from here */
	CHECK_EQ(rg_tls_set(key, NULL), 0);
	clobber_stack();
	atomic_fetch_add(&dropped, 1);
	while (!atomic_load(&go2))
		rg_sleep(1000000);
}

/* Garbage that would reuse any wrongly freed object. */
__attribute__((noinline)) static void churn(int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char *p = rg_gc_alloc(SIZE);
		CHECK(p);
		fill(p, SIZE, 0xee);
	}
}

static int main_fn(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_tls_key_create(&key, NULL), 0);
	for (int i = 0; i < NT; i++)
		CHECK(rg_go(holder, (void *)(intptr_t)i) > 0);
	while (atomic_load(&parked) < NT)
		rg_sleep(1000000);
	for (int round = 0; round < 3; round++) {
		CHECK_EQ(rg_gc_collect(), 0);
		churn(20000);
	}
	CHECK_EQ(rg_gc_collect(), 0);
	atomic_store(&go, true);
	while (atomic_load(&dropped) < NT)
		rg_sleep(1000000);
	CHECK_EQ(atomic_load(&ok), NT);

	/* The scan is of the values, not of the array's memory as a whole
	 * forever: with the values cleared, the objects go (conservatively,
	 * most of them: a stale copy may survive somewhere). */
	clobber_stack();
	CHECK_EQ(rg_gc_collect(), 0);
	int freed = 0;
	for (int i = 0; i < NT; i++)
		freed += !rg__gc_allocated((void *)(atomic_load(&hidden[i]) ^ KEY));
	printf("%d of %d objects held by task-local values survived; %d freed once cleared\n",
	       atomic_load(&ok), NT, freed);
	CHECK(freed >= NT / 2);
	atomic_store(&go2, true);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
