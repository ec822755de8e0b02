/* The context switch keeps what the ABI says a call keeps: callee-saved
 * integer and FP registers (the compiler keeps live values there across
 * rg_yield), the FP control word (rounding mode) per task, and a correctly
 * aligned stack in new tasks.  Runs under qemu-aarch64 too. */
#include <fenv.h>
#include <math.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "ringo.h"

static _Atomic int done;

__attribute__((noinline)) static uint64_t mix(uint64_t x) { return x * 0x9E3779B97F4A7C15ULL + 1; }

static void churn(void *arg)
{
	/* many live integer and double values across every yield */
	uint64_t a = (uint64_t)(uintptr_t)arg, b = a * 3, c = a * 5, d = a * 7, e = a * 11, f = a * 13;
	double x = (double)a, y = x * 0.5, z = x * 0.25, w = x + 1.5;
	for (int i = 0; i < 5000; i++) {
		a = mix(a); b = mix(b); c = mix(c); d = mix(d); e = mix(e); f = mix(f);
		x += 1.0; y += 2.0; z += 3.0; w *= 1.0000001;
		rg_yield();
	}
	uint64_t a2 = (uint64_t)(uintptr_t)arg, b2 = a2 * 3, c2 = a2 * 5, d2 = a2 * 7, e2 = a2 * 11, f2 = a2 * 13;
	double x2 = (double)a2, y2 = x2 * 0.5, z2 = x2 * 0.25, w2 = x2 + 1.5;
	for (int i = 0; i < 5000; i++) {
		a2 = mix(a2); b2 = mix(b2); c2 = mix(c2); d2 = mix(d2); e2 = mix(e2); f2 = mix(f2);
		x2 += 1.0; y2 += 2.0; z2 += 3.0; w2 *= 1.0000001;
	}
	CHECK(a == a2 && b == b2 && c == c2 && d == d2 && e == e2 && f == f2);
	CHECK(x == x2 && y == y2 && z == z2 && w == w2);
	atomic_fetch_add(&done, 1);
}

static _Atomic int rounding_ok;
static void rounder(void *arg)
{
	int mode = (int)(intptr_t)arg;
	CHECK_EQ(fesetround(mode), 0);
	for (int i = 0; i < 1000; i++) {
		rg_yield();
		CHECK_EQ(fegetround(), mode);
	}
	volatile double one = 1.0, three = 3.0;
	double q = one / three;
	rg_yield();
	CHECK(q == one / three);
	atomic_fetch_add(&rounding_ok, 1);
}

static void aligned(void *arg)
{
	alignas(64) char buf[64];
	CHECK(((uintptr_t)buf & 63) == 0);
	CHECK(((uintptr_t)__builtin_frame_address(0) & 15) == 0);
	volatile long double ld = 1.0L;
	ld = sqrtl(ld * 4.0L);
	CHECK(ld == 2.0L);
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	for (int i = 1; i <= 8; i++)
		CHECK(rg_go(churn, (void *)(intptr_t)i) > 0);
	CHECK(rg_go(rounder, (void *)(intptr_t)FE_UPWARD) > 0);
	CHECK(rg_go(rounder, (void *)(intptr_t)FE_DOWNWARD) > 0);
	CHECK(rg_go(rounder, (void *)(intptr_t)FE_TOWARDZERO) > 0);
	for (int i = 0; i < 16; i++)
		CHECK(rg_go(aligned, NULL) > 0);
	while (atomic_load(&done) < 24 || atomic_load(&rounding_ok) < 3)
		rg_sleep(1000000);
	CHECK_EQ(fegetround(), FE_TONEAREST); /* new tasks start with defaults */
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 2 }), 0);
	return T_PASS;
}
