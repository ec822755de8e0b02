/* Objects whose only reference sits in a buffered channel's slots survive
 * collections: a task sends GC pointers into a channel, drops them, the
 * heap is collected and churned, then they are received and checked.
 * Without the slots being scanned, their memory is reused and the
 * patterns are gone.  Two element shapes: a struct holding a pointer, and
 * a bare pointer. */
// ctest-timeout: 120
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/sync.h"

#define N 512
#define SZ 256

struct msg { unsigned char *obj; uint64_t tag; };

__attribute__((noinline)) static void fill(rg_chan *c, rg_chan *cptr)
{
	for (int i = 0; i < N; i++) {
		unsigned char *p = rg_gc_alloc(SZ);
		CHECK(p != NULL);
		memset(p, (int)(i & 0xff), SZ);
		struct msg m = {p, (uint64_t)i};
		CHECK_EQ(rg_chan_send(c, &m, 0), 0);
		CHECK_EQ(rg_chan_send(cptr, &p, 0), 0);
	}
}

__attribute__((noinline)) static void clobber_stack(void)
{
	volatile char buf[16384];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

__attribute__((noinline)) static void churn(void)
{
	for (int r = 0; r < 3; r++) {
		CHECK_EQ(rg_gc_collect(), 0);
		for (int i = 0; i < 40000; i++)
			memset(rg_gc_alloc(SZ), 0xee, SZ); /* reuse anything freed */
	}
}

static int main_fn(void *arg)
{
	/* elements bigger than a pointer (a struct) and exactly a pointer */
	rg_chan *c = rg_chan_make(sizeof(struct msg), N);
	rg_chan *cptr = rg_chan_make(sizeof(void *), N);
	CHECK(c && cptr);
	fill(c, cptr);
	clobber_stack();
	churn();
	int bad = 0;
	for (int i = 0; i < N; i++) {
		struct msg m;
		unsigned char *p;
		bool ok;
		CHECK_EQ(rg_chan_recv(c, &m, &ok, 0), 0);
		CHECK(ok);
		CHECK_EQ(rg_chan_recv(cptr, &p, &ok, 0), 0);
		CHECK(ok && p == m.obj);
		CHECK_EQ(m.tag, i);
		for (int j = 0; j < SZ; j++)
			if (m.obj[j] != (unsigned char)(i & 0xff)) {
				bad++;
				break;
			}
	}
	if (bad)
		fprintf(stderr, "%d of %d objects held only by channel slots were collected\n", bad, N);
	CHECK_EQ(bad, 0);
	rg_chan_free(c);
	rg_chan_free(cptr);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
