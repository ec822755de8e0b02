/*
 * gc/memclr.c — zeroing freed objects before they are handed out again.
 *
 * Every recycled object is zeroed (the API promises zeroed memory); at
 * 256 bytes that is a third of an allocation's time.  The runs are 1-16
 * KiB, zeroed just before their objects are handed out, so what limits it
 * is the core's store throughput.  glibc's x86-64 memset switches to `rep
 * stosb` at 2 KiB, which on the AMD EPYC cores this was measured on is
 * about 30 % slower than a loop of 32-byte stores (8 KiB runs over a 4 MiB
 * heap: 6.2 against 4.3 ns per 256 bytes, and the same inside L1).  So,
 * with AVX2, runs up to 1 MiB are zeroed 32 bytes a store; larger ones,
 * machines without AVX2 and other architectures (aarch64's memset uses DC
 * ZVA) use memset, which goes non-temporal for runs larger than the cache.
 *
 * On Intel the other way round: on a Xeon with ERMS and FSRM (Sapphire
 * Rapids class, 2 MiB L2) `rep stosb` was 3-13 % faster than the 32-byte
 * loop (bench_gc_heap, 4 alternating rounds: 256 B 14.4 -> 13.5 ns, 4 KiB
 * 204 -> 197 ns, 64 KiB 3,172 -> 3,112 ns; the loop's only win was inside
 * L1), so only AMD CPUs take the loop.
 */
#include <string.h>

#include "gc/gc_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CLR_MIN 2048 /* below this glibc's memset stores vectors itself */
#define CLR_MAX ((size_t)1 << 20)

/* n >= 128.  Unaligned stores: objects of 24, 48... bytes start at any
 * multiple of 8, and a store that stays inside a line costs the same. */
__attribute__((target("avx2"))) static void clr_avx2(char *p, size_t n)
{
	const __m256i z = _mm256_setzero_si256();
	char *end = p + n;
	for (; p + 128 <= end; p += 128) {
		_mm256_storeu_si256((__m256i *)p, z);
		_mm256_storeu_si256((__m256i *)(p + 32), z);
		_mm256_storeu_si256((__m256i *)(p + 64), z);
		_mm256_storeu_si256((__m256i *)(p + 96), z);
	}
	for (; p + 32 <= end; p += 32)
		_mm256_storeu_si256((__m256i *)p, z);
	if (p < end) /* the tail: one store overlapping what is done */
		_mm256_storeu_si256((__m256i *)(end - 32), z);
}

static int use_loop = -1; /* 1: AVX2 on AMD; -1: not asked yet (racing first asks agree) */

void rg__memclr(void *p, size_t n)
{
	int a = __atomic_load_n(&use_loop, __ATOMIC_RELAXED);
	if (RG__UNLIKELY(a < 0)) {
		__builtin_cpu_init();
		a = __builtin_cpu_supports("avx2") && __builtin_cpu_is("amd") ? 1 : 0;
		__atomic_store_n(&use_loop, a, __ATOMIC_RELAXED);
	}
	if (a && n >= CLR_MIN && n <= CLR_MAX)
		clr_avx2(p, n);
	else
		memset(p, 0, n);
}
#else
void rg__memclr(void *p, size_t n) { memset(p, 0, n); }
#endif
