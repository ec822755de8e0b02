/* RINGO_MEMLIMIT is a hard limit: allocations over it return NULL (no
 * abort), the heap never exceeds it, and memory freed by a collection can
 * be allocated again. */
// ctest-timeout: 60
// ctest-env: RINGO_MEMLIMIT=64M
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

static void **volatile table; /* rooted */

__attribute__((noinline)) static int fill_big(void)
{
	table = rg_gc_alloc(1024 * sizeof(void *));
	CHECK(table);
	int n = 0;
	while (n < 1024) {
		void *p = rg_gc_alloc_noscan(1 << 20);
		if (!p)
			break;
		table[n++] = p;
	}
	return n;
}

__attribute__((noinline)) static long fill_small(void)
{
	long small = 0;
	void **chain = NULL;
	for (;;) {
		void **c = rg_gc_alloc(256);
		if (!c)
			break;
		c[0] = chain;
		chain = c;
		small++;
	}
	return small;
}

__attribute__((noinline)) static void clobber_stack(void)
{
	volatile char buf[16384];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static _Atomic int filled;
static int nbig;

/* In a task of its own: once it has exited, nothing on a stack refers to
 * what it allocated (conservative scanning cannot be fooled by leftovers). */
static void filler(void *arg)
{
	nbig = fill_big();
	CHECK(fill_small() >= 0);
	atomic_store(&filled, 1);
}

static int main_fn(void *arg)
{
	CHECK_EQ(rg_gc_root_add((void *)&table, sizeof table), 0);
	CHECK(rg_go(filler, NULL) > 0);
	while (!atomic_load(&filled))
		rg_sleep(1000000);
	rg_sleep(5000000); /* let it exit */
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	printf("%d MiB objects fit under 64 MiB; inuse %.1f MiB\n", nbig, st.heap_inuse / 1048576.0);
	CHECK(nbig >= 50 && nbig < 64);
	CHECK(st.heap_inuse <= (64u << 20));
	/* drop everything: the next allocation collects and succeeds */
	table = NULL;
	clobber_stack();
	void *p = rg_gc_alloc_noscan(8 << 20);
	CHECK(p != NULL);
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK(st.heap_inuse <= (64u << 20));
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
