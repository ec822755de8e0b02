/*
 * ringo/core.h — the runtime: rg_run, tasks, sleeping, blocking sections.
 *
 * Conventions (whole library): functions return >= 0 on success and -errno on
 * failure and never touch errno.  Time is int64_t nanoseconds on
 * CLOCK_MONOTONIC; blocking calls take an absolute deadline, -1 meaning
 * forever and 0 meaning "do not block".
 *
 * Thread-local storage moves.  A task may resume on another OS thread after
 * any call that can park it (rg_yield, rg_sleep, channel and I/O calls, ...).
 * Never keep &errno, a __thread variable's address or a value cached from
 * one across such a call: use task-local storage (rg_tls_*) instead.  The
 * compiler may keep them for you: within one function GCC computes &errno
 * once (glibc declares __errno_location const), and aarch64 code keeps the
 * thread pointer in a register across calls.  So in a function that can
 * park, read errno (or any __thread variable) after the park only through
 * a function the compiler cannot see into (noinline, and GCC's noipa), or
 * save what you need before parking.
 *
 * Stacks are fixed-size (rg_config.stack_size, rg_task_opts): an overflow
 * prints "ringo: task <id> (<name>) overflowed its <N> KiB stack" and
 * aborts.  A frame larger than a page (a big local buffer) is caught only
 * in code compiled with -fstack-clash-protection, which ringo's CMake
 * targets and pkg-config file add: without it the frame jumps the guard
 * page and writes into another task's stack, unnoticed (README, "Stacks
 * and their limits", says more, and what canary stacks cannot catch).
 */
#ifndef RINGO_CORE_H
#define RINGO_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RG_API __attribute__((visibility("default")))
#else
#define RG_API
#endif

/* Configuration for rg_run.  Zero means "default"; the environment
 * (RINGO_PROCS, ...) is read after it.  Fields added later go at the end. */
typedef struct rg_config {
	int procs;           /* Ps to run, at most 1024 (-EINVAL beyond,
	                        as for RINGO_PROCS); 0: usable CPUs
	                        (affinity mask and cgroup cpu.max), or
	                        RINGO_PROCS */
	size_t stack_size;   /* default task stack, bytes; 0: 64 KiB.  The
	                        task's record and a cache colour (together
	                        at most 1.3 KiB) sit at its top */
	unsigned ring_entries; /* SQ entries per P ring; 0: 256; 1 counts as
	                          2; at most 32768 (-EINVAL beyond) */
	int sqpoll;          /* 1: ask for IORING_SETUP_SQPOLL (opt-in) */
	int quiet;           /* 1: no informational line on stderr */
	int nopin;           /* 1: do not pin P threads to CPUs (shared
	                        machines); also RINGO_PIN=0 */
	int fd_table;        /* fd table slots the kernel allocates before the
	                        Ps start, so no P later stalls growing it
	                        (each growth in a threaded process waits for
	                        an RCU grace period: 10 ms to seconds).
	                        0: min(RLIMIT_NOFILE soft limit, 65536),
	                        8 bytes of kernel memory per slot; -1: leave
	                        the table alone.  The table never shrinks */
} rg_config;

typedef int (*rg_main_fn)(void *arg);
typedef void (*rg_task_fn)(void *arg);

/* Starts one P per usable CPU, runs main_fn(arg) as the first task and
 * returns its result once it has returned and every P has stopped and every
 * resource is released.  Tasks still parked or runnable when main returns
 * are discarded, as Go discards goroutines when main returns.  Blocking
 * sections still in progress (rg_blocking) are waited for.  A channel,
 * lock, WaitGroup or Context a discarded task was parked on still lists
 * that task: do not use it after rg_run returned (free its memory only).
 * Contexts with a deadline still pending, whose timer the library owns,
 * are the exception: they stay usable (never done by the deadline any
 * more) and may be released later.
 * Returns a negative errno, after printing one line saying why, when the
 * runtime cannot start (bad configuration, io_uring unusable, ...).
 * Not reentrant: one rg_run at a time per process; may be called again
 * after it returned. */
RG_API int rg_run(rg_main_fn main_fn, void *arg, const rg_config *cfg);

/* Options for rg_go_opts; zero fields mean default. */
typedef struct rg_task_opts {
	size_t stack_size;   /* bytes, rounded up to pages; 0: the default.
	                        Between 16 KiB and 1 GiB, else -EINVAL.
	                        A size other than the run's default
	                        (rg_config.stack_size) gets a mapping of
	                        its own with a guard page: two of the
	                        process's vm.max_map_count mappings (65530
	                        by default), from those stacks may take
	                        (all but a quarter, and at least 16384, left
	                        to the heap, threads and libraries), shared
	                        with the first guarded default stacks.  So
	                        at most ~24,000 such tasks live at once by
	                        default, fewer after many default-stack
	                        tasks; past that, -ENOMEM.  Default-size
	                        stacks come from slabs and have no such
	                        limit: to run many tasks at another size,
	                        set rg_config.stack_size */
	const char *name;    /* copied (first 31 bytes); shown in traces and
	                        in the stack-overflow message */
} rg_task_opts;

/* Spawns a task.  Returns its id (> 0; never reused in the process, also
 * across rg_runs) or -EINVAL (NULL fn, bad options), -ENOMEM, -ESHUTDOWN
 * (the runtime is stopping or not running). */
RG_API int64_t rg_go(rg_task_fn fn, void *arg);
RG_API int64_t rg_go_opts(rg_task_fn fn, void *arg, const rg_task_opts *opts);

/* Puts the calling task behind every task waiting to run and runs another:
 * at the back of its P's run queue, or of the global queue while that
 * holds tasks (as Go's Gosched). */
RG_API void rg_yield(void);
/* Yields only when sysmon has asked this task to (it ran > 10 ms): call it
 * in long loops.  Costs a load and a branch otherwise. */
RG_API void rg_preempt_point(void);
/* The calling task's id, or 0 outside a task. */
RG_API int64_t rg_self(void);
/* Number of Ps, or 0 outside rg_run. */
RG_API int rg_procs(void);
/* Index of the P running the caller, -1 outside a P (e.g. in rg_blocking). */
RG_API int rg_proc_id(void);

/* Time. */
RG_API int64_t rg_now(void);                 /* CLOCK_MONOTONIC, ns */
RG_API int rg_sleep(int64_t ns);             /* 0, or -EINVAL if ns < 0 */
RG_API int rg_sleep_until(int64_t deadline); /* 0, or -EINVAL if deadline < 0 */

/* Runs fn(arg), which may block the OS thread (getaddrinfo, a foreign
 * library, a blocking syscall), on a thread of the blocking pool; the P
 * keeps running its other tasks meanwhile.  Returns fn's result, or
 * -EINVAL for a NULL fn.  Inside fn, ringo calls that park are not
 * available and behave as on a thread outside the runtime: rg_sleep
 * sleeps the thread, rg_yield yields it, a contended Mutex or RWMutex
 * polls until it gets the lock, and a channel, select, semaphore,
 * WaitGroup or io/ call that would wait returns -EPERM. */
RG_API intptr_t rg_blocking(intptr_t (*fn)(void *arg), void *arg);

/* Task-local storage: like pthread keys, but the values follow the task
 * across threads.  At most RG_TLS_KEYS keys per process (-EAGAIN after);
 * the destructor runs at task exit for non-NULL values. */
#define RG_TLS_KEYS 128
typedef int rg_tls_key;
RG_API int rg_tls_key_create(rg_tls_key *key, void (*destructor)(void *));
RG_API int rg_tls_set(rg_tls_key key, void *value); /* 0, -EINVAL, -ENOMEM */
RG_API void *rg_tls_get(rg_tls_key key);             /* NULL if unset */

/* Counters since rg_run started (all Ps). */
typedef struct rg_sched_stats {
	uint64_t tasks_spawned, tasks_exited;
	uint64_t steals;            /* tasks taken from another P's queue */
	uint64_t wakeups;           /* idle Ps woken */
	uint64_t preempt_requests;  /* sysmon found a task running > 10 ms */
	uint64_t timer_steals;      /* timers an idle P fired for a busy one */
	uint64_t blocking_calls;
	uint64_t stacks_guarded, stacks_canary; /* stacks made, by protection */
} rg_sched_stats;
RG_API void rg_sched_stats_get(rg_sched_stats *out);

#ifdef __cplusplus
}
#endif
#endif
