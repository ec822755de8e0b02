/* tests/check.h — checks that survive NDEBUG, and ctest's exit codes. */
#ifndef RG_TESTS_CHECK_H
#define RG_TESTS_CHECK_H
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			        __LINE__, #cond);                          \
			fflush(stderr);                                    \
			abort();                                           \
		}                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long _a = (long long)(a), _b = (long long)(b);        \
		if (_a != _b) {                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", \
			        __FILE__, __LINE__, #a, #b, _a, _b);       \
			fflush(stderr);                                    \
			abort();                                           \
		}                                                          \
	} while (0)

#define SKIP(...)                                                          \
	do {                                                               \
		fprintf(stderr, "SKIP: " __VA_ARGS__);                     \
		fputc('\n', stderr);                                       \
		exit(T_SKIP);                                              \
	} while (0)

/* Runs one step of a test's main task and prints its wall time; t is an
 * int64_t holding rg_now() at the end of the previous step. */
#define T_RUN(t, call)                                                     \
	do {                                                               \
		call;                                                      \
		printf("%-40s %6.1f ms\n", #call, (rg_now() - (t)) / 1e6); \
		(t) = rg_now();                                            \
	} while (0)

/* Sanitizer builds run fewer iterations; scale counts with this. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED 0
#endif

/* Built to run under an emulator (qemu-user, the aarch64 cross build):
 * code runs many times slower and the emulator's threads are scheduled
 * unevenly; timing bounds scale with it. */
#ifndef T_EMULATED
#define T_EMULATED 0
#endif
/* TSan maps a shadow stack per fiber (task): far fewer tasks fit. */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif
#endif
