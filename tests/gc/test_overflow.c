/* The mark stack cannot grow (injected: a cap of 4 entries): marking must
 * still find everything, through the overflow rescan.  Deep lists, wide
 * fan-out, typed and conservative objects; the heap verifier runs after
 * each collection.  The last rounds also make the rescan's copy of the
 * span list fail, as out of memory would: that path looped for ever with
 * the world stopped (found by the gc review). */
// ctest-timeout: 120
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

extern size_t rg__gc_debug_mark_cap;
extern bool rg__gc_debug_overflow_nocopy;
int rg__gc_verify(void);

struct cell { struct cell *next; void *payload; long v; };
static const size_t cell_ptrs[] = {offsetof(struct cell, next), offsetof(struct cell, payload)};
static rg_gc_type cell_type = {"cell", sizeof(struct cell), cell_ptrs, 2, NULL};

static struct cell *volatile head;
static void **volatile fan;

#define NCELL (T_SANITIZED ? 5000 : 50000)
#define NFAN 4000

static int main_fn(void *arg)
{
	CHECK_EQ(rg_gc_root_add((void *)&head, sizeof head), 0);
	CHECK_EQ(rg_gc_root_add((void *)&fan, sizeof fan), 0);
	rg__gc_debug_mark_cap = 4;
	for (long i = 0; i < NCELL; i++) {
		struct cell *c = (i & 1) ? rg_gc_alloc_typed(sizeof *c, &cell_type)
		                         : rg_gc_alloc(sizeof *c);
		CHECK(c);
		c->v = i;
		c->payload = rg_gc_alloc_noscan(24);
		CHECK(c->payload);
		memset(c->payload, (int)(i & 0x7f), 24);
		c->next = head;
		head = c;
	}
	fan = rg_gc_alloc(NFAN * sizeof(void *));
	for (int i = 0; i < NFAN; i++) {
		long *o = rg_gc_alloc(2 * sizeof(long));
		o[0] = i;
		fan[i] = o;
	}
	for (int round = 0; round < 5; round++) {
		rg__gc_debug_overflow_nocopy = round >= 3;
		for (int g = 0; g < 20000; g++)
			CHECK(rg_gc_alloc(48)); /* garbage */
		CHECK_EQ(rg_gc_collect(), 0);
		CHECK_EQ(rg__gc_verify(), 0);
		long k = NCELL - 1;
		for (struct cell *c = head; c; c = c->next, k--) {
			CHECK_EQ(c->v, k);
			CHECK_EQ(((unsigned char *)c->payload)[23], k & 0x7f);
		}
		CHECK_EQ(k, -1);
		for (int i = 0; i < NFAN; i++)
			CHECK_EQ(((long *)fan[i])[0], i);
	}
	rg__gc_debug_mark_cap = 0;
	rg__gc_debug_overflow_nocopy = false;
	head = NULL;
	fan = NULL;
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
