/*
 * core/sched_int.h — core's private structures: tasks (G), threads (M),
 * processors (P) and the scheduler's globals.  Only core/ sources include this.
 */
#ifndef RG_CORE_SCHED_INT_H
#define RG_CORE_SCHED_INT_H

#include <pthread.h>
#include <time.h>
#include <stdatomic.h>

#include "core/core.h"

/* pthread_cond_wait, bounded to ms milliseconds (the condvar's clock,
 * CLOCK_REALTIME: a jump only makes one wait shorter or longer).  For
 * waits on condvars that several threads broadcast on from both sides
 * (the stop of the world, the blocking pool): glibc 2.36's condvar can
 * lose a wake-up or leave a broadcaster waiting for ever in
 * __condvar_quiesce_and_switch_g1 for waiters stuck in its old group
 * (glibc bug 25847's family, fixed in 2.41; rg_run hung so at start
 * twice in a review, core/run.c).  A waiter that times out leaves that
 * group, and every caller loops on its own condition, so the worst a
 * lost wake costs is one bound. */
static inline void rg__cond_wait_bounded(pthread_cond_t *c, pthread_mutex_t *m, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(c, m, &ts);
}

#define RG_RUNQ_SIZE 256      /* local run queue slots (power of two) */
#define RG_GLOBAL_CHECK 61    /* ticks between global queue / poll checks */
#define RG_TASK_CACHE 256     /* dead task records kept per P */
#define RG_NAME_MAX 32

typedef struct rg__m rg__m;

/* Where a task's stack came from. */
enum rg__stack_kind {
	RG__STACK_GUARDED = 1, /* slab slot below a PROT_NONE guard page */
	RG__STACK_CANARY,      /* slab slot with a canary word at its bottom */
	RG__STACK_CUSTOM,      /* own mapping with a guard page (rg_go_opts) */
};

/* Task pins (rg__task_pin) against the task's exit: an asymmetric Dekker.
 * The exit (every task, hot) stores exiting, then loads pins, with only a
 * compiler barrier between when the process could register for
 * membarrier; the pinner (rare) adds to pins, runs membarrier (a full
 * barrier on every running thread of the process), then loads exiting.
 * One of them sees the other: the exit waits for the pin to go, or the
 * pinner backs off.  Without membarrier both sides fence. */
extern bool rg__pin_membarrier;
void rg__pin_init(void);

/*
 * A task (Go's G).  The record lives at the top of its own stack slot, so a
 * parked task that used little stack costs one page (core/stack.c).
 * Ownership: fields are touched by the thread running the task, or, while
 * the task is not running, by whoever holds it (a run queue, a waiter list,
 * a timer); the hand-offs are the run queue's acquire/release atomics.
 */
struct rg__task {
	/* first (core.h): the park claim word h.wake (ticket << 2 |
	 * RG__CLAIM_*) and the other modules' slots h.tslot */
	struct rg__task_head h;
	void *sp;                  /* saved stack pointer while not running */
	_Atomic int state;         /* enum rg__state; relaxed, for stats/GC */
	int wait_reason;           /* enum rg__wait while waiting */
	_Atomic uint32_t pins;     /* rg__task_pin holders */
	_Atomic uint32_t exiting;  /* set at exit, cleared by rg__spawn */
	rg__task *next;            /* link: the global queue's spill list
	                              (sched.lock), the blocking pool's queue */
	rg_task_fn fn;
	void *arg;
	int64_t id;

	/* stack: [lo, hi) is usable; the record sits at hi */
	char *lo, *hi;
	char *map_lo;              /* what to madvise/munmap from (page) */
	size_t map_len;            /* RG__STACK_CUSTOM: mapping length */
	void *custom_slab;         /* RG__STACK_CUSTOM: its struct slab (stack.c) */
	uint64_t *canary;          /* RG__STACK_CANARY: the bottom word */
	uint8_t kind;              /* enum rg__stack_kind */
	uint8_t clean;             /* pages below the top returned to the OS */
	uint8_t is_main;
	_Atomic uint8_t in_blocking; /* release/acquire: read by the GC */

	/* timer (one per task: its park deadline), guarded by timer_p's lock */
	int64_t when;
	int32_t timer_idx;         /* index in timer_p's heap, -1 if none */
	rg__p *timer_p;
	uint64_t timer_ticket;

	void **tls;                /* task-local values, or NULL */
	void *_Atomic blocking_sp; /* sp frozen while in rg_blocking (GC) */
	intptr_t (*bfn)(void *);
	void *barg;

	void *asan_fake;           /* ASan fake stack while switched out */
	void *tsan_fiber;
	unsigned vg_stack_id;      /* Valgrind stack registration */
	char name[RG_NAME_MAX];
};

/* Deferred work run by whoever next runs on the thread, after the switch:
 * the park's unlock, the yield's requeue, the exit's free. */
typedef void (*rg__post_fn)(rg__m *m, rg__task *prev, void *arg);

/*
 * A thread (Go's M): either a P's own pinned thread or a blocking-pool
 * worker (p == NULL).  Only its own thread touches it.
 */
struct rg__m {
	rg__p *p;
	rg__task *cur;             /* running task, NULL on g0 */
	void *g0_sp;               /* the thread's own stack, while switched out */
	void *g0_lo;               /* ...and its bounds, for ASan */
	size_t g0_size;
	void *g0_fake;
	void *g0_fiber;            /* TSan fiber of the native stack */
	rg__post_fn post;
	rg__task *post_task;
	void *post_arg;
	void *altstack;            /* sigaltstack for the overflow handler */
	size_t altstack_size;
	pthread_t thread;
	rg__m *next;               /* blocking pool list */
	int park_result;
};

/* A timer heap entry (4-ary min-heap on when): a parked task's deadline,
 * or a runtime timer (rg__rtimer, tagged with the low bit). */
typedef struct rg__timer {
	int64_t when;
	uintptr_t ref;
} rg__timer;

enum rg__pstatus { RG__P_RUNNING = 1, RG__P_IDLE, RG__P_GCSTOP, RG__P_DEAD };

/* The P's idle wait/wake backend (io_uring, or eventfd without it). */
typedef struct rg__waiter_ops {
	const char *name;
	int (*init)(rg__p *p);                 /* on the P's thread */
	void (*fini)(rg__p *p);
	/* submit queued work, reap completions; block up to timeout_ns
	 * (-1 forever, 0 not at all) when nothing completes */
	int (*poll)(rg__p *p, int64_t timeout_ns);
	/* optional: as poll(p, 0), but queued work may stay queued when
	 * nothing completed, for a P about to sleep (its blocking poll then
	 * submits and waits in one system call); NULL: poll(p, 0) */
	int (*peek)(rg__p *p);
	void (*wake)(rg__p *target);           /* any thread */
} rg__waiter_ops;

/*
 * A processor (Go's P).  Fields are owned by the P's thread unless marked.
 */
struct rg__p {
	/* run queue: owner pushes at tail, anyone pops at head (Go's runq) */
	_Atomic uint32_t runq_head;            /* CAS by owner and stealers */
	_Atomic uint32_t runq_tail;            /* store-release by owner */
	rg__task *_Atomic runq[RG_RUNQ_SIZE];

	/* read-mostly, on a line of their own: a spinning P reads node at
	 * every steal round, and on the runnext line below that read cost
	 * the owner a cache miss at its next ready (bench_sync -run
	 * pingpong, 2 Ps: 194.5 -> 152.6 ns a round trip) */
	_Alignas(64) int id, cpu, node;
	rg__m *m;

	/* the owner writes this line at every hand-off */
	_Alignas(64) rg__task *_Atomic runnext; /* CAS by owner and stealers */
	_Atomic uint32_t runnext_gen;          /* owner bumps (relaxed) at each
	                                          put in runnext; thieves read it
	                                          to tell a runnext that is about
	                                          to run from a stuck one */

	_Atomic int status;                    /* enum rg__pstatus; see stw */
	_Atomic uint32_t schedtick;            /* owner writes; sysmon reads */
	_Atomic int preempt;                   /* sysmon sets, owner clears */
	uint32_t sysmon_tick;                  /* sysmon's own bookkeeping */
	int64_t sysmon_when;
	bool spinning;                         /* counted in sched.nmspinning */
	_Atomic bool wake_spinning;            /* set by wakep under sched.lock as it
	                                          takes the P off the idle list;
	                                          the P consumes it (exchange) */
	bool stw_claimed;                      /* stw_lock: claimed while idle */
	rg__p *idle_next;                      /* sched.lock */
	bool on_idle_list;                     /* sched.lock */
	bool polling;                          /* owner: in find_runnable's ring
	                                          poll (ready_on reads it) */
	int npolled;                           /* owner: tasks in polled[] */
	rg__task *polled[64];                  /* owner: readied by that poll,
	                                          for the global queue's tail */
	uint32_t rand;                         /* steal order */
	int64_t rn_look;                       /* last look at others' runnext */
	int64_t spin_ns;                       /* idle spinning allowance (6b) */
	uint32_t fast_switches;                /* paces timer checks */
	int64_t id_next, id_end;               /* owner: task ids taken in a batch */

	/* timers: heap of parked tasks' deadlines.  Owner adds and fires;
	 * a woken task deletes its own entry from any P: hence the lock. */
	_Atomic int timer_lock;
	rg__timer *timers;
	int ntimers, timers_cap;
	_Atomic int64_t timer_next;            /* earliest when, INT64_MAX */
	rg__task *_Atomic timer_parking;       /* the task whose timed park is
	                                          between rg__timer_add and the
	                                          end of its unlock callback, or
	                                          NULL: set under timer_lock,
	                                          cleared (release) by the owner;
	                                          only the owner fires timers
	                                          while it is set */

	/* dead task records for reuse (default stack size only), a stack of
	 * pointers so that taking one does not read the record first */
	rg__task *free_tasks[RG_TASK_CACHE];
	int nfree;

	/* wait/wake backend state */
	void *ring;                            /* struct io_uring * */
	int efd;                               /* eventfd: wakes from non-P */
	uint64_t efd_buf;
	rg__cqe_handler efd_handler;
	_Atomic int sleeping;                  /* inside poll(-1/timeout) */
	_Atomic int64_t sleep_from, sleep_timeout; /* owner, relaxed: its latest
	                                          idle sleep (debug dump) */
	_Atomic uint32_t sq_queued;            /* owner: SQ tail after its latest
	                                          SQE (rg__ring_flush_all) */

	void *slot[RG__SLOT_COUNT];
	void (*slot_dtor[RG__SLOT_COUNT])(void *);

	/* counters, owner writes relaxed, anyone reads */
	_Atomic uint64_t n_spawned, n_exited, n_steals, n_wakeups, n_timer_steals;

	/* thieves' first sighting of the current runnext, (runnext_gen << 32
	 * | microseconds): written by thieves only, on a line of its own so
	 * that the owner never pays for it */
	_Alignas(64) _Atomic uint64_t rn_seen;
};

/* Scheduler globals (Go's schedt). */
struct rg__sched {
	pthread_mutex_t lock;                  /* guards the fields below it */
	/* global run queue: a ring of pointers (moving a batch touches no
	 * task record: each lives on its own stack page), and behind it, only
	 * when the ring could not grow, a list through the tasks' `next`
	 * (sched.c, globrunq_put_batch) */
	rg__task **gq;
	uint32_t gq_cap, gq_head;
	rg__task *gq_spill_head, *gq_spill_tail;
	uint32_t gq_spilled;                   /* tasks on that list */
	_Atomic int32_t gq_size;               /* both; written under lock */
	rg__p *idle;                           /* idle P list */
	/* lock-free */
	_Atomic int32_t npidle;
	_Atomic int32_t nmspinning;
	_Atomic int stopping;
	_Atomic int running;                   /* inside rg_run */
	_Atomic int accepting;                 /* rg_go allowed: set up, main
	                                          not returned */
	_Atomic int pless_spawners;            /* threads without a P inside
	                                          rg__spawn */
	_Atomic int flushers;                  /* threads without a P inside
	                                          rg__ring_flush_all, and any
	                                          thread in rg_sched_stats_get */
	rg__p **_Atomic flush_allp;            /* allp for them, while the Ps
	                                          and their rings are up */
	int nprocs;                            /* rg_run sets it before the Ps
	                                          start and resets it to 0 at
	                                          its end; other threads read it
	                                          with __atomic (rg__nprocs) */
	rg__p **allp;
	const rg__waiter_ops *waiter;
	size_t stack_size;                     /* default */
	unsigned ring_entries;
	int sqpoll;
	int quiet;
	int main_result;
	int64_t start_ns;

	/* stop-the-world (gc/) */
	pthread_mutex_t stw_mu;                /* one collector at a time */
	pthread_mutex_t stw_lock;              /* guards stw_cond waits */
	pthread_cond_t stw_cond;
	_Atomic int stw_pending;
	_Atomic int stw_stopped;
	uint64_t stw_gen;                      /* stw_lock: bumped by each start */
	_Atomic int stw_sysmon;                /* sysmon is inside a P's timers
	                                          (seq_cst: a Dekker with
	                                          stw_pending, rg__stw_timers_begin) */
	_Atomic int stw_skipped;               /* sysmon left a P's due timers to
	                                          a stop: its restart kicks sysmon */
	int nleft;                             /* stw_lock: Ps out of their loops
	                                          (rg_run's end, rg__p_leave) */

	_Atomic uint64_t preempt_requests, blocking_calls, foreign_spawned;

	/* Written at spawns (in batches) and by threads without a P: off
	 * the lines above, which idle Ps read while they spin. */
	_Alignas(64) _Atomic int64_t next_id;
};
extern struct rg__sched rg__sched;

/* sched.c */
rg__m *rg__m_get(void);
void rg__p_loop(rg__m *m);
void rg__runq_put(rg__p *p, rg__task *t, bool next);
void rg__wakep(void);
void rg__p_leave(rg__p *p); /* out of its loop: wait for the other Ps' */
void rg__p_dead(rg__p *p); /* its thread exits: no stop-the-world waits for it */
int64_t rg__spawn(rg_task_fn fn, void *arg, const rg_task_opts *opts, bool is_main);
void rg__sched_stop(rg__p *self);
bool rg__blocking_ready(void);
/* sysmon around its firing of a P's timers: false, fire nothing (a stop
 * of the world is pending or in effect); true, fire, then call
 * rg__stw_timers_end. */
bool rg__stw_timers_begin(void);
void rg__stw_timers_end(void);
void rg__task_entry(rg__task *t, rg__m *m);
rg__m *rg__switch_to_g0(rg__m *m, rg__task *t, rg__post_fn post, void *arg);
bool rg__claim_timeout(rg__task *t, uint64_t ticket);
void rg__ready_tail(rg__task *t);
rg__m *rg__blocking_run(rg__m *m, rg__task *t);
void rg__blocking_submit(rg__task *t);
void rg__waiter_eventfd_wake(rg__p *p);

/* ctx (core/arch/) */
void *rg__ctx_swap(void **save_sp, void *new_sp, void *arg);
void rg__ctx_entry(void);

/* stack.c */
int rg__stacks_init(size_t default_size);
void rg__stacks_fini(void);
rg__task *rg__task_alloc(rg__p *p, size_t stack_size);  /* NULL: -ENOMEM */
void rg__task_free(rg__p *p, rg__task *t);
void rg__task_cache_drain(rg__p *p);
void rg__stack_scavenge(void);
void rg__ctx_init(rg__task *t);
void rg__overflow_abort(rg__task *t) __attribute__((noreturn));
int rg__altstack_init(rg__m *m);
void rg__altstack_fini(rg__m *m);
void rg__tasks_each(void (*fn)(rg__task *t, void *arg), void *arg);
void rg__stack_stats(uint64_t *guarded, uint64_t *canary);
size_t rg__stack_default(void);

/* A thread without a P (foreign, blocking pool) that touches the
 * runtime's queues, stacks or heaps races rg_run's start and teardown: it
 * announces itself (seq_cst), then checks `accepting`; rg_run clears that
 * (seq_cst), then waits for announced threads before it frees anything.
 * true: go on, and call rg__pless_leave after; false: no runtime
 * (-ESHUTDOWN), nothing to leave.  A thread with a P (p != NULL) is the
 * runtime itself: only `accepting` is checked. */
static inline bool rg__pless_enter(rg__p *p)
{
	if (!p)
		atomic_fetch_add(&rg__sched.pless_spawners, 1);
	if (atomic_load(&rg__sched.accepting))
		return true;
	if (!p)
		atomic_fetch_sub(&rg__sched.pless_spawners, 1);
	return false;
}
static inline void rg__pless_leave(rg__p *p)
{
	if (!p)
		atomic_fetch_sub_explicit(&rg__sched.pless_spawners, 1, memory_order_release);
}

/* timer.c */
void rg__timer_add(rg__p *p, rg__task *t, int64_t when);
void rg__timer_del(rg__task *t);
int rg__timers_run(rg__p *p, int64_t now);  /* readies due tasks */
/* The same from a thread that does not own p (sysmon, for a P stuck in
 * one task): nothing while p is parking a task with a deadline. */
int rg__timers_run_other(rg__p *p, int64_t now);
void rg__timer_added(rg__p *p, int64_t when); /* sched.c: a parking task's deadline is p's first */
int64_t rg__timer_next(rg__p *p);
void rg__timers_drop(rg__p *p);   /* rg_run's end: settles the runtime timers left */

/* waiter backends */
extern const rg__waiter_ops rg__waiter_uring;
extern const rg__waiter_ops rg__waiter_eventfd;
int rg__uring_probe(char *why, size_t n);

/* blocking.c, sysmon.c, topo.c */
int rg__blocking_init(void);
void rg__blocking_fini(void);
int rg__sysmon_start(void);
void rg__sysmon_stop(void);
void rg__sysmon_kick(void); /* look now (while rg_run's Ps run) */
int rg__topo_procs(int want, int *cpus, int max, char *err, size_t n);
int rg__topo_node(int cpu);
void rg__topo_pin(int cpu);
void rg__topo_unpin(void); /* every CPU rg_run's caller had */

/* task.c */
void rg__tls_destroy(rg__task *t);

static inline int64_t rg__mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void rg__spin_lock(_Atomic int *l)
{
	while (atomic_exchange_explicit(l, 1, memory_order_acquire))
		while (atomic_load_explicit(l, memory_order_relaxed))
			rg__cpu_relax();
}
static inline void rg__spin_unlock(_Atomic int *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

#endif
