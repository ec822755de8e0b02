/* tests/check.h — checks that survive NDEBUG, and ctest's exit codes. */
#ifndef RG_TESTS_CHECK_H
#define RG_TESTS_CHECK_H
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

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
/* The machine's own scheduling delay, for timing bounds.  A timer the
 * runtime serves late because the host gave its P thread no CPU (other
 * test binaries pinned to the same CPU, a descheduled vCPU) is the
 * machine's lateness, not the runtime's.  t_lag_start() starts one thread
 * pinned to each CPU (as the Ps are) that sleeps 1 ms at a time and keeps
 * the worst lateness it saw; t_lag_ns() returns the worst of them so far.
 * A timing check allows its own tolerance plus twice that: on a quiet
 * machine the lag is tens of microseconds and the check is as strict as
 * its tolerance; at load average 10 on 2 vCPUs (ctest beside other jobs'
 * sanitizer loops) core_sleep saw sleepers 20+ ms late and io_deadline a
 * deadline 105 ms late, while this thread saw the same. */
static _Atomic int64_t t_lag_max_;

static inline int64_t t_mono_(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void *t_lag_main_(void *arg)
{
	(void)arg;
	const struct timespec ms = { 0, 1000000 };
	for (;;) {
		int64_t t0 = t_mono_();
		nanosleep(&ms, NULL);
		int64_t late = t_mono_() - t0 - 1000000;
		int64_t m = atomic_load_explicit(&t_lag_max_, memory_order_relaxed);
		while (late > m && !atomic_compare_exchange_weak(&t_lag_max_, &m, late))
			;
	}
	return NULL;
}

static inline void t_lag_start(void)
{
	cpu_set_t all;
	if (sched_getaffinity(0, sizeof all, &all) != 0)
		return;
	for (int i = 0, started = 0; i < CPU_SETSIZE && started < 64; i++) {
		if (!CPU_ISSET(i, &all))
			continue;
		pthread_t th;
		if (pthread_create(&th, NULL, t_lag_main_, NULL) != 0)
			break;
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(i, &set);
		pthread_setaffinity_np(th, sizeof set, &set); /* best effort */
		pthread_detach(th);
		started++;
	}
}

static inline int64_t t_lag_ns(void) { return atomic_load(&t_lag_max_); }

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

/* ASan (with its leak checker): T_LSAN, and LSan's interface included. */
#if defined(__SANITIZE_ADDRESS__)
#define T_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_LSAN 1
#endif
#endif
#ifndef T_LSAN
#define T_LSAN 0
#endif
#if T_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* A task that recurses 512 bytes a frame until its stack overflows (the
 * overflow tests: ringo prints one line and aborts). */
static volatile int t_dive_sink;

static __attribute__((noinline, unused)) int t_dive_(int n)
{
	volatile char buf[512];
	memset((char *)buf, n, sizeof buf);
	if (n == 0)
		return buf[0];
	int r = t_dive_(n - 1) + buf[n % 512];
	t_dive_sink = r;
	return r;
}

static inline void t_dive(void *arg)
{
	(void)arg;
	t_dive_sink = t_dive_(1 << 20);
}

/* Caps the address space (RLIMIT_AS) at what the process has mapped now
 * plus extra bytes. */
static inline void t_limit_as(size_t extra)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f && fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	rlim_t lim = (rlim_t)((size_t)pages * (size_t)sysconf(_SC_PAGESIZE) + extra);
	struct rlimit rl = { lim, lim };
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
}

/* Reads fd until EOF into buf (cap bytes, NUL-terminated); the length. */
static inline size_t t_read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t r;
	while (got < cap - 1 && (r = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = 0;
	return got;
}

/* Runs child() in a forked child whose stderr goes to out (cap bytes,
 * NUL-terminated, read to EOF); returns its wait status. */
static inline int t_fork_stderr(void (*child)(void), char *out, size_t cap)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		child();
		_exit(0);
	}
	close(pfd[1]);
	t_read_all(pfd[0], out, cap);
	close(pfd[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	return st;
}

/* Runs child(k) in a forked child for each k in [0, n): the child's exit
 * status is its verdict (0: passed; it calls exit(0) at its end, a CHECK
 * aborts).  One line a case, named names[k] or "mode k"; SIGALRM is
 * reported as a hang.  Returns the number of cases that failed. */
static inline int t_fork_cases(int n, void (*child)(int), const char *const *names)
{
	int failed = 0;
	for (int k = 0; k < n; k++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "fork: %d\n", errno);
			abort();
		}
		if (pid == 0) {
			child(k);
			_exit(0);
		}
		int st = 0;
		if (waitpid(pid, &st, 0) != pid) {
			fprintf(stderr, "waitpid: %d\n", errno);
			abort();
		}
		char label[32];
		if (!names)
			snprintf(label, sizeof label, "mode %d", k);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("%s: ok\n", names ? names[k] : label);
		} else {
			printf("%s: child %s %d%s\n", names ? names[k] : label,
			       WIFSIGNALED(st) ? "killed by signal" : "exited with",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			       WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung)" : "");
			failed++;
		}
	}
	fflush(stdout);
	return failed;
}
#endif
