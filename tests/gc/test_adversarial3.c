/* Adversarial cases for gc/, third round: two notes of a code review,
 * each checked here.  Live objects carry canary patterns: memory handed
 * out again while still reachable shows up as a changed pattern.
 *
 * Each case runs in a child process of its own (the heap, RINGO_GOGC and
 * RINGO_MEMLIMIT are per process), re-executed from this binary with the
 * case's environment; a case that hangs is killed by its alarm.
 *
 *   gc_adversarial3                 every case
 *   gc_adversarial3 <case>          one case, in this process (needs the
 *                                   case's environment, see cases[])
 *   RG_ADV_CASE=name                only that case (from the driver)
 *   RG_ADV_REPEAT=n                 run each selected case n times
 *
 * Cases and what they cover (B: failed before its fix):
 *   memlimit_gogc_off_many_p  B  8 Ps allocating garbage at
 *                                RINGO_MEMLIMIT=16M with GOGC off and a
 *                                live heap of ~1 MiB: no NULL
 *   blocking_arg_only_ref     B  (x86-64) an object whose only reference is
 *                                rg_blocking's argument, used by the
 *                                section after collections
 *   blocking_caller_reg       B  (x86-64) an object the task calling
 *                                rg_blocking keeps only in a callee-saved
 *                                register (r15) across the call
 */
// ctest-timeout: 240
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define GC_ADV_CANARIES
#include "gc_adv.h"

/* =========================================================================
 * Found a bug: memlimit_gogc_off_many_p
 * env RINGO_MEMLIMIT=16M RINGO_GOGC=off, 8 Ps, two tasks on each.  Every
 * task allocates garbage (small objects, and a large one now and then)
 * and keeps a window of 8 canary objects; the live heap stays near 1 MiB.
 * With GOGC off every collection is one that an allocation over the limit
 * asked for (rg__gc_try_reclaim), and the heap runs from the live set to
 * the limit between two of them.  alloc_slow used to retry once, after
 * the world restarted: by then the other Ps, several of them over the
 * limit too, had taken what the collection freed, and the retry returned
 * NULL with 15 MiB of the 16 garbage.
 * ========================================================================= */
#define MG_TASKS 16
#define MG_ROUNDS 40000
#define MG_WIN 8
static _Atomic int mg_done, mg_bad, mg_null;

static void mg_task(void *arg)
{
	uint64_t seed = (uint64_t)(intptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *win[MG_WIN] = {0};
	size_t sz[MG_WIN] = {0};
	for (int r = 0; r < SAN_SCALE(MG_ROUNDS); r++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		/* garbage: 64 B .. 4 KiB, one in 16 of 40 .. 160 KiB */
		size_t g = seed % 16 ? 64 + (size_t)(seed >> 8) % 4032
		                     : 40960 + (size_t)(seed >> 8) % 122880;
		unsigned char *p = (seed >> 40) & 1 ? rg_gc_alloc(g) : rg_gc_alloc_noscan(g);
		if (!p) {
			atomic_fetch_add(&mg_null, 1);
			continue;
		}
		p[0] = p[g - 1] = 0xee;
		if (r % 4)
			continue;
		int j = (int)((seed >> 32) % MG_WIN);
		if (win[j] && !can_ok(win[j], sz[j], (unsigned char)(sz[j] >> 3)))
			atomic_fetch_add(&mg_bad, 1);
		sz[j] = 16 + (size_t)(seed >> 20) % 4000;
		win[j] = can_new(sz[j], (unsigned char)(sz[j] >> 3));
		if (!win[j])
			atomic_fetch_add(&mg_null, 1);
	}
	for (int j = 0; j < MG_WIN; j++)
		if (win[j] && !can_ok(win[j], sz[j], (unsigned char)(sz[j] >> 3)))
			atomic_fetch_add(&mg_bad, 1);
	atomic_fetch_add(&mg_done, 1);
}

static int mg_main(void *arg)
{
	for (int k = 0; k < MG_TASKS; k++)
		CHECK(rg_go(mg_task, (void *)(intptr_t)(k + 1)) > 0);
	wait_flag(&mg_done, MG_TASKS);
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	fprintf(stderr, "memlimit_gogc_off_many_p: %llu collections, %d NULLs, inuse %.1f MiB\n",
	        (unsigned long long)st.num_gc, atomic_load(&mg_null), st.heap_inuse / 1048576.0);
	CHECK_EQ(atomic_load(&mg_bad), 0);
	CHECK(st.heap_inuse <= ((uint64_t)16 << 20));
	CHECK(st.num_gc >= 2);
	CHECK_EQ(atomic_load(&mg_null), 0);
	clobber_stack();
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_memlimit_gogc_off_many_p(void) { return run_quiet(mg_main, 8); }

/* =========================================================================
 * The blocking sections below run fn on a pool thread, on the task's own
 * stack (core/sched.c rg_blocking, rg__blocking_run), and the collector
 * scans such a task from the stack pointer its switch to the pool saved
 * (blocking_sp, rg__task_stack_range) up: the saved context there holds
 * the task's callee-saved registers, among them whatever rg_blocking kept
 * across the switch (fn, arg).  But the pool thread resumes rg_blocking
 * above that point and calls fn from there: fn's first frames land on
 * the saved context and overwrite it, while the collector reads it as
 * frozen.  Any frames do; bk_section (x86-64 assembly, so that it pushes
 * nothing there first) does it with zeros, so that no stale copy is left
 * to keep an object by luck.  Objects are disguised (xor) wherever the
 * cases keep them for checking: only the paths under test hold real
 * references.
 * ========================================================================= */
#if defined(__x86_64__)
#define BK_KEY 0x5be0cd19137e2179ull
#define BK_N 8
#define BK_SIZE 2048
static _Atomic int bk_in, bk_release, bk_bad, bk_done;
static uintptr_t ba_hidden[BK_N], ba_seen[BK_N], bc_hidden[BK_N];

/* bk_section(arg), the sections' fn: clears the 520 bytes below its
 * return address, then calls bk_body(arg) below them. */
intptr_t bk_section(void *arg);
intptr_t bk_body(void *arg);
__asm__(".text\n"
        ".globl bk_section\n"
        ".type bk_section,@function\n"
        "bk_section:\n"
        "  sub $520, %rsp\n"
        "  mov %rdi, %rsi\n"
        "  mov %rsp, %rdi\n"
        "  mov $65, %ecx\n"
        "  xor %eax, %eax\n"
        "  rep stosq\n"
        "  mov %rsi, %rdi\n"
        "  call bk_body\n"
        "  add $520, %rsp\n"
        "  ret\n"
        ".size bk_section, .-bk_section\n");

/* Waits for the collections; then, with an argument (blocking_arg_only_ref),
 * checks the object it names. */
intptr_t bk_body(void *arg)
{
	int i = 0;
	if (arg) {
		unsigned char *p = arg;
		i = p[8] - 0xa0;
		ba_seen[i] = (uintptr_t)p ^ BK_KEY; /* fn's own copy: not scanned */
		arg = p = NULL;
	}
	atomic_fetch_add(&bk_in, 1);
	while (!atomic_load(&bk_release))
		usleep(1000);
	if (ba_seen[i]) {
		unsigned char *p = (unsigned char *)(ba_seen[i] ^ BK_KEY);
		if (!can_ok(p, BK_SIZE, (unsigned char)(0xa0 + i)))
			atomic_fetch_add(&bk_bad, 1);
	}
	return 0;
}

/* Collects and churns while every task sits in its section, then lets
 * them go. */
static void bk_collect_while_in(void)
{
	wait_flag(&bk_in, BK_N);
	rg_sleep(5000000);
	churn(4, 10000, BK_SIZE);
	atomic_store(&bk_release, 1);
	wait_flag(&bk_done, BK_N);
	if (atomic_load(&bk_bad))
		fprintf(stderr, "%d of %d objects reused while a blocking section held them\n",
		        atomic_load(&bk_bad), BK_N);
	CHECK_EQ(atomic_load(&bk_bad), 0);
}

/* =========================================================================
 * Found a bug: blocking_arg_only_ref (x86-64; fixed in core, rg_blocking)
 * A task passes a GC object to rg_blocking(fn, obj) and keeps no other
 * reference (a request record handed to a blocking library call): fn's
 * copies are in its registers and frames on the pool thread, which are
 * not scanned, and the copy rg_blocking kept across the switch (r12 in
 * gcc's build, rbx in clang's) is in the saved context that fn's frames
 * overwrite.  The object is collected and reused while fn still uses it.
 * rg_go keeps its argument in the task record; rg_blocking's argument
 * needs the same.
 * ========================================================================= */
__attribute__((noinline)) static void ba_make(int i)
{
	unsigned char *p = can_new(BK_SIZE, (unsigned char)(0xa0 + i));
	CHECK(p);
	ba_hidden[i] = (uintptr_t)p ^ BK_KEY;
}

static void ba_task(void *arg)
{
	int i = (int)(intptr_t)arg;
	ba_make(i);
	clobber_stack();
	CHECK_EQ(rg_blocking(bk_section, (void *)(ba_hidden[i] ^ BK_KEY)), 0);
	atomic_fetch_add(&bk_done, 1);
}

static int ba_main(void *arg)
{
	for (int i = 0; i < BK_N; i++)
		CHECK(rg_go(ba_task, (void *)(intptr_t)i) > 0);
	bk_collect_while_in();
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_blocking_arg_only_ref(void) { return run_quiet(ba_main, 2); }

/* =========================================================================
 * Found a bug: blocking_caller_reg (x86-64; fixed in core, rg_blocking)
 * The task calling rg_blocking keeps its only reference to an object in
 * r15, a callee-saved register: where rg_blocking does not save r15 in
 * its own frame (gcc -O2 does not; clang's sanitizer builds do), only the
 * switch to the pool saves it, in the context that fn's frames then
 * overwrite; the pool thread carries the value on in r15, or wherever
 * fn's callees save it, deep in frames not scanned.  The object is
 * collected while the task still holds it, and reused.
 * ========================================================================= */
/* bc_block_in_r15(ptr): rg_blocking(bk_section, NULL) with ptr only in
 * r15; returns ptr. */
uintptr_t bc_block_in_r15(uintptr_t ptr);
__asm__(".text\n"
        ".globl bc_block_in_r15\n"
        ".type bc_block_in_r15,@function\n"
        "bc_block_in_r15:\n"
        "  push %r15\n"
        "  mov %rdi, %r15\n"
        "  lea bk_section(%rip), %rdi\n"
        "  xor %esi, %esi\n"
        "  call rg_blocking@PLT\n"
        "  mov %r15, %rax\n"
        "  pop %r15\n"
        "  ret\n"
        ".size bc_block_in_r15, .-bc_block_in_r15\n");

__attribute__((noinline)) static void bc_make(int i)
{
	unsigned char *p = can_new(BK_SIZE, (unsigned char)(0xb0 + i));
	CHECK(p);
	bc_hidden[i] = (uintptr_t)p ^ BK_KEY;
}

static void bc_task(void *arg)
{
	int i = (int)(intptr_t)arg;
	bc_make(i);
	clobber_stack();
	unsigned char *p = (unsigned char *)bc_block_in_r15(bc_hidden[i] ^ BK_KEY);
	if (!can_ok(p, BK_SIZE, (unsigned char)(0xb0 + i)))
		atomic_fetch_add(&bk_bad, 1);
	atomic_fetch_add(&bk_done, 1);
}

static int bc_main(void *arg)
{
	for (int i = 0; i < BK_N; i++)
		CHECK(rg_go(bc_task, (void *)(intptr_t)i) > 0);
	bk_collect_while_in();
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_blocking_caller_reg(void) { return run_quiet(bc_main, 2); }
#else
static int case_blocking_arg_only_ref(void) { SKIP("x86-64 only"); }
static int case_blocking_caller_reg(void) { SKIP("x86-64 only"); }
#endif

/* ---- driver ------------------------------------------------------------ */

static const struct tcase cases[] = {
	{"memlimit_gogc_off_many_p", case_memlimit_gogc_off_many_p,
	 "RINGO_MEMLIMIT=16M RINGO_GOGC=off", true, 90},
	{"blocking_arg_only_ref", case_blocking_arg_only_ref, "", false, 60},
	{"blocking_caller_reg", case_blocking_caller_reg, "", false, 60},
};
#define NCASES (sizeof cases / sizeof *cases)

int main(int argc, char **argv)
{
	return adv_main(argc, argv, cases, NCASES, "gc_adversarial3");
}
