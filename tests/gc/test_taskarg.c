/* An object passed only as a task's argument survives a collection that
 * runs before the task first runs (the argument lives in core's task
 * record until then). */
// ctest-timeout: 60
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define NT 64
static _Atomic int ok, ran;

static void child(void *arg)
{
	unsigned char *p = arg;
	int good = 1;
	for (int i = 0; i < 512; i++)
		if (p[i] != 0x3c)
			good = 0;
	atomic_fetch_add(&ok, good);
	atomic_fetch_add(&ran, 1);
}

__attribute__((noinline)) static void spawn_all(void)
{
	for (int i = 0; i < NT; i++) {
		unsigned char *p = rg_gc_alloc(512);
		memset(p, 0x3c, 512);
		CHECK(rg_go(child, p) > 0);
	}
}

__attribute__((noinline)) static void clobber_stack(void)
{
	volatile char buf[16384];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static int main_fn(void *arg)
{
	spawn_all();
	clobber_stack();
	CHECK_EQ(rg_gc_collect(), 0);
	for (int i = 0; i < 20000; i++)
		memset(rg_gc_alloc(512), 0xee, 512); /* reuse anything freed */
	while (atomic_load(&ran) < NT)
		rg_sleep(1000000);
	if (atomic_load(&ok) != NT)
		fprintf(stderr, "%d of %d task arguments were collected before the task ran\n",
		        NT - atomic_load(&ok), NT);
	CHECK_EQ(atomic_load(&ok), NT);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
