/* What keeps an object alive, inside rg_run: a root, a parked task's stack,
 * a callee-saved register of a parked task (x86-64, aarch64), a typed pointer field, a
 * conservatively scanned object.  What does not: a typed non-pointer field,
 * a noscan object, a removed root, nothing at all. */
// ctest-timeout: 120
// ctest-qemu: also run on aarch64 under qemu-user (scripts/test.sh)
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

bool rg__gc_allocated(const void *p);
int rg__gc_verify(void);

#define KEY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
#define NG 20000

struct node { struct node *next; uintptr_t hidden; long key; };
static const size_t node_ptrs[] = {offsetof(struct node, next)};
static rg_gc_type node_type = {"node", sizeof(struct node), node_ptrs, 1, NULL};

static void *volatile root_slot;
static struct node *volatile troot;
static void *volatile noscan_root;
static unsigned char *volatile interior_small, *volatile interior_large; /* roots */
static _Atomic int holders_parked;
static _Atomic int holders_ok;
/* set once main has stopped allocating: rg__gc_allocated may only look at
 * a span no one allocates from, and a loaded machine (TSan, load 15) woke
 * the holders while main still churned (a race on the span's bits) */
static _Atomic int churn_done;

static void wait_churn_done(void)
{
	while (!atomic_load(&churn_done))
		rg_sleep(1000000);
}

static void fill(unsigned char *p, size_t n, unsigned char v) { memset(p, v, n); }
static bool check_fill(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Wipes dead stack below the caller so stale copies of pointers go. */
__attribute__((noinline)) static void clobber_stack(void)
{
	volatile char buf[16384];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Churn: garbage that would reuse any wrongly freed memory. */
__attribute__((noinline)) static void churn(int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char *p = rg_gc_alloc(64 + (size_t)(i % 7) * 16);
		CHECK(p);
		fill(p, 32, 0xdd);
	}
}

static void holder_stack(void *arg)
{
	unsigned char *volatile p = rg_gc_alloc(200);
	fill(p, 200, 0x11);
	unsigned char *volatile big = rg_gc_alloc(100000);
	fill(big, 100000, 0x12);
	atomic_fetch_add(&holders_parked, 1);
	rg_sleep(300 * 1000000LL); /* parked while main collects */
	wait_churn_done();
	bool ok = rg__gc_allocated(p) && check_fill(p, 200, 0x11) && rg__gc_allocated(big) &&
	          check_fill(big, 100000, 0x12);
	if (ok)
		atomic_fetch_add(&holders_ok, 1);
	else
		fprintf(stderr, "object on a parked task's stack was lost\n");
}

/* park_in_reg(ptr, ns): keeps ptr only in a callee-saved register (rbx on
 * x86-64, x19 on aarch64) while the task sleeps; returns it. */
uintptr_t park_in_reg(uintptr_t ptr, int64_t ns);
void sleep_for_test(int64_t ns);
void sleep_for_test(int64_t ns) { rg_sleep(ns); }
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl park_in_reg\n"
        ".type park_in_reg,@function\n"
        "park_in_reg:\n"
        "  push %rbx\n"
        "  mov %rdi, %rbx\n"
        "  mov %rsi, %rdi\n"
        "  xor %esi, %esi\n"
        "  call sleep_for_test@PLT\n"
        "  mov %rbx, %rax\n"
        "  pop %rbx\n"
        "  ret\n"
        ".size park_in_reg, .-park_in_reg\n");

#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl park_in_reg\n"
        ".type park_in_reg,%function\n"
        "park_in_reg:\n"
        "  stp x29, x30, [sp, #-32]!\n"
        "  mov x29, sp\n"
        "  str x19, [sp, #16]\n"
        "  mov x19, x0\n"
        "  mov x0, x1\n"
        "  bl sleep_for_test\n"
        "  mov x0, x19\n"
        "  ldr x19, [sp, #16]\n"
        "  ldp x29, x30, [sp], #32\n"
        "  ret\n"
        ".size park_in_reg, .-park_in_reg\n");
#endif

#if defined(__x86_64__) || defined(__aarch64__)
static volatile uintptr_t reg_hidden;
__attribute__((noinline)) static void make_reg_obj(void)
{
	unsigned char *p = rg_gc_alloc(96);
	fill(p, 96, 0x33);
	reg_hidden = (uintptr_t)p ^ KEY;
}

static void holder_reg(void *arg)
{
	make_reg_obj();
	clobber_stack();
	atomic_fetch_add(&holders_parked, 1);
	uintptr_t v = park_in_reg(reg_hidden ^ KEY, 300 * 1000000LL);
	unsigned char *p = (unsigned char *)v;
	wait_churn_done();
	if (rg__gc_allocated(p) && check_fill(p, 96, 0x33))
		atomic_fetch_add(&holders_ok, 1);
	else
		fprintf(stderr, "object held in a register of a parked task was lost\n");
}
#endif

static uintptr_t *garbage; /* malloc'd: not scanned; addresses disguised */
static volatile uintptr_t hidden_y, hidden_w, hidden_r;

__attribute__((noinline)) static void make_links(void)
{
	struct node *t = rg_gc_alloc_typed(sizeof *t, &node_type);
	CHECK(t);
	troot = t;
	struct node *x = rg_gc_alloc(sizeof *x); /* reachable through t->next */
	x->key = 4242;
	t->next = x;
	unsigned char *y = rg_gc_alloc(48);      /* only in a non-pointer field */
	t->hidden = (uintptr_t)y;
	hidden_y = (uintptr_t)y ^ KEY;
	void **n = rg_gc_alloc_noscan(64);       /* noscan: its words do not count */
	unsigned char *w = rg_gc_alloc(48);
	n[0] = w;
	noscan_root = n;
	hidden_w = (uintptr_t)w ^ KEY;
	unsigned char *r = rg_gc_alloc(300);     /* rooted, root removed later */
	fill(r, 300, 0x44);
	root_slot = r;
	hidden_r = (uintptr_t)r ^ KEY;
	/* reachable only through pointers into their middle */
	unsigned char *is = rg_gc_alloc(300), *il = rg_gc_alloc_noscan(200000);
	fill(is, 300, 0x55);
	fill(il, 200000, 0x66);
	interior_small = is + 150;
	interior_large = il + 123457;
	for (int i = 0; i < NG; i++) {
		void *g = (i & 1) ? rg_gc_alloc(32) : rg_gc_alloc_noscan(1000);
		garbage[i] = (uintptr_t)g ^ KEY;
	}
}

/* The object of this size class at p was freed (its memory may since hold
 * a live object of another class: pages are reused). */
static bool gone(uintptr_t p, size_t size)
{
	return !rg__gc_allocated((void *)p) || rg_gc_size((void *)p) != size ||
	       rg_gc_base((void *)p) != (void *)p;
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

static void *foreign(void *arg)
{
	*(int *)arg = rg_gc_collect();
	return NULL;
}

static intptr_t join_foreign(void *arg)
{
	return pthread_join(*(pthread_t *)arg, NULL);
}

static int main_fn(void *arg)
{
	CHECK_EQ(rg_gc_root_add((void *)&root_slot, sizeof root_slot), 0);
	CHECK_EQ(rg_gc_root_add((void *)&troot, sizeof troot), 0);
	CHECK_EQ(rg_gc_root_add((void *)&noscan_root, sizeof noscan_root), 0);
	CHECK_EQ(rg_gc_root_add((void *)&interior_small, sizeof interior_small), 0);
	CHECK_EQ(rg_gc_root_add((void *)&interior_large, sizeof interior_large), 0);
	garbage = malloc(NG * sizeof *garbage);
	make_links();
	clobber_stack();

	int nholders = 1;
	CHECK(rg_go(holder_stack, NULL) > 0);
#if defined(__x86_64__) || defined(__aarch64__)
	nholders++;
	CHECK(rg_go(holder_reg, NULL) > 0);
#endif
	while (atomic_load(&holders_parked) < nholders)
		rg_sleep(1000000);
	rg_sleep(20 * 1000000LL);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(rg_gc_collect(), 0);
		churn(20000);
		clobber_stack();
	}
	atomic_store(&churn_done, 1);
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);

	/* reachable */
	CHECK(rg__gc_allocated((void *)troot));
	CHECK(rg__gc_allocated(troot->next));
	CHECK_EQ(troot->next->key, 4242);
	CHECK(rg__gc_allocated((void *)root_slot));
	CHECK(check_fill((void *)root_slot, 300, 0x44));
	CHECK(rg__gc_allocated((void *)noscan_root));
	CHECK(check_fill(interior_small - 150, 300, 0x55));
	CHECK(check_fill(interior_large - 123457, 200000, 0x66));
	CHECK(rg_gc_base(interior_small) == interior_small - 150);
	CHECK(rg_gc_base(interior_large) == interior_large - 123457);
	/* not reachable */
	CHECK(gone(hidden_y ^ KEY, 48));
	CHECK(gone(hidden_w ^ KEY, 48));
	/* an automatic collection may have run inside make_links and a later
	 * garbage object may reuse an earlier one's address: count addresses */
	for (int i = 0; i < NG; i++)
		garbage[i] ^= KEY;
	qsort(garbage, NG, sizeof *garbage, cmp_addr);
	int kept = 0;
	for (int i = 0; i < NG; i++)
		if ((i == 0 || garbage[i] != garbage[i - 1]) && rg__gc_allocated((void *)garbage[i]) &&
		    rg_gc_base((void *)garbage[i]) == (void *)garbage[i] &&
		    (rg_gc_size((void *)garbage[i]) == 32 || rg_gc_size((void *)garbage[i]) == 1024))
			kept++; /* (live objects of other sizes may reuse the memory) */
	fprintf(stderr, "garbage kept by conservative scanning: %d of %d\n", kept, NG);
	CHECK(kept < NG / 100);

	/* removing the root frees its object */
	CHECK_EQ(rg_gc_root_remove((void *)&root_slot, sizeof root_slot), 0);
	CHECK_EQ(rg_gc_root_remove((void *)&root_slot, sizeof root_slot), -ENOENT);
	root_slot = NULL;
	clobber_stack();
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK(gone(hidden_r ^ KEY, 320));

	/* a thread without a task has a task collect for it while the
	 * runtime runs (it was -EPERM; joined from rg_blocking: a
	 * pthread_join here would hold this P) */
	pthread_t th;
	int fr = 1;
	CHECK_EQ(pthread_create(&th, NULL, foreign, &fr), 0);
	CHECK_EQ(rg_blocking(join_foreign, &th), 0);
	CHECK_EQ(fr, 0);

	while (atomic_load(&holders_ok) + 0 < nholders && rg_now() > 0) {
		rg_sleep(10 * 1000000LL);
		static int waited;
		if (++waited > 200)
			break;
	}
	CHECK_EQ(atomic_load(&holders_ok), nholders);
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	CHECK(st.num_gc >= 5);
	printf("%llu collections, last pause %.3f ms\n", (unsigned long long)st.num_gc,
	       st.pause_last_ns / 1e6);
	free(garbage);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
