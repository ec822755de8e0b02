/*
 * core/sched.c — the scheduler: run queues, stealing, parking, idle Ps.
 *
 * Model (Go's proc.go, with Ps that never change thread):
 * - Each P is a thread pinned to a CPU.  It runs tasks from its runnext slot
 *   and its 256-slot run queue; the owner pushes at the tail, anyone pops at
 *   the head, and other Ps steal half of it.  A global queue (under
 *   sched.lock) takes overflow and tasks readied by threads without a P.
 * - A task leaves the CPU only by calling in (park, yield, exit): there is
 *   no signal-based preemption.  sysmon flags tasks that ran > 10 ms and
 *   rg_yield / rg_preempt_point honour the flag.
 * - Switching: a task that stops running switches directly to the next
 *   runnable task of its P when there is one (fast path), else to the P's
 *   own stack ("g0"), which runs the loop below.  Work that must wait until
 *   the task's context is saved — the park's unlock, the yield's requeue,
 *   the exit's free — is left in m->post and run by whatever runs next on
 *   the thread, before anything else.  That is the "park, then unlock"
 *   invariant: a task is published (made wakeable) only once it is safe for
 *   another P to resume it.
 *
 * The loop of a P (find_runnable), step by step; the code follows it:
 *   0. stopping?  Then leave.  A stop-the-world pending?  Stop here.
 *   1. Timers due on this P: ready their tasks (in deadline order).
 *   2. Every 61st tick: a non-blocking poll of the ring, then one task from
 *      the global queue first (so neither is starved by tasks handing the
 *      P back and forth, nor I/O by a global queue that never empties).
 *   3. Local work: runnext, then the run queue.
 *   4. The global queue.
 *   5. A non-blocking poll of the ring (I/O completions, wakes).  A P that
 *      will not spin (6) leaves queued SQEs alone when nothing completed:
 *      its sleep (7) submits them and waits in one io_uring_enter.
 *   6. Steal: if fewer than half the busy Ps are already spinning, become
 *      spinning and make 4 passes over the other Ps in random order,
 *      taking half a victim's queue (on the last pass its runnext too, if
 *      it has sat there a few microseconds: runnext_stuck).  Nothing?
 *      Stay spinning and start over, pausing between rounds, for up to
 *      RG_IDLE_SPIN_NS (6b).  A spinning P that finds work, at
 *      whichever step, stops spinning (find_runnable).
 *   7. Idle: join the idle list, recheck the global queue and, if we were
 *      spinning, every run queue and stuck runnext; then block in the ring
 *      (submitting what is queued) until a completion, a wake or the next
 *      timer.
 *
 * Wake-up rule (no lost wake-ups, few useless ones): whoever makes a task
 * runnable enqueues it, issues a full barrier, then wakes an idle P only if
 * no P is spinning (wakep).  A spinning P that finds work stops spinning and,
 * if it was the last spinner, wakes another (which spins and finds the rest
 * or goes back to sleep).  A P going idle first publishes itself on the idle
 * list and drops its spinning count, then (full barrier) rechecks the queues.
 * A wake is a completion in the target's ring (IORING_OP_MSG_RING from
 * another P, an eventfd write from other threads), so a wake sent just
 * before the target blocks is not lost: its io_uring_enter returns at once.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/sched_int.h"

#ifdef RG_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef RG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define RG_CANARY 0x5a17c0ffee0dd5a1ULL

struct rg__sched rg__sched = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.stw_mu = PTHREAD_MUTEX_INITIALIZER,
	.stw_lock = PTHREAD_MUTEX_INITIALIZER,
	.stw_cond = PTHREAD_COND_INITIALIZER,
};
__thread rg__m *rg__tls_m __attribute__((tls_model("initial-exec")));
_Static_assert(offsetof(rg__m, p) == 0, "rg__getp_inline reads the M's first field");
_Static_assert(offsetof(rg__task, h) == 0, "core.h's inline accessors read the task's head");

/* Never inlined: a task may move to another thread between two calls, and
 * the compiler must not reuse a thread-local address computed before. */
__attribute__((noinline)) rg__m *rg__m_get(void)
{
	rg__m *m = rg__tls_m;
	__asm__ volatile("" ::: "memory");
	return m;
}

/* Called, never inlined into this file's switching functions: one TLS
 * read per call, nothing cached across a park. */
__attribute__((noinline)) rg__task *rg__self(void)
{
	rg__m *m = rg__tls_m;
	return m ? m->cur : NULL;
}

__attribute__((noinline)) rg__p *rg__getp(void)
{
	rg__m *m = rg__tls_m;
	return m ? m->p : NULL;
}

__attribute__((noinline)) rg__task *rg__self_parkable(void)
{
	rg__m *m = rg__tls_m;
	return m && m->p ? m->cur : NULL;
}

int rg__p_index(const rg__p *p) { return p->id; }
bool rg__run_stopping(void) { return atomic_load(&rg__sched.stopping) != 0; }
int rg__nprocs(void)
{
	/* any thread: 0 while rg_run starts, until it stores this run's
	 * count (it kept the previous run's, which a thread without a P
	 * read during the probes: procs_boot) */
	return atomic_load(&rg__sched.running) ? __atomic_load_n(&rg__sched.nprocs, __ATOMIC_RELAXED) : 0;
}
rg__p *rg__p_at(int i)
{
	if (i < 0 || i >= rg__sched.nprocs || !rg__sched.allp)
		return NULL;
	return rg__sched.allp[i];
}
int64_t rg__task_id(const rg__task *t) { return t->id; }
const char *rg__task_name(const rg__task *t) { return t->name; }
int rg__task_state(const rg__task *t) { return atomic_load_explicit(&t->state, memory_order_relaxed); }
int rg__task_wait_reason(const rg__task *t) { return t->wait_reason; }

/* --- context switch with sanitizer annotations ------------------------- */

/* Switch from the current context (whose sp goes to *save and whose ASan
 * fake stack to *my_fake; NULL for a context that never resumes) to task
 * `to`, or to the thread's g0 when to == NULL.  Returns the M the context
 * resumed on. */
static inline rg__m *sw(rg__m *m, void **save, void **my_fake, rg__task *to)
{
#ifdef RG_ASAN
	if (to)
		__sanitizer_start_switch_fiber(my_fake, to->lo, (size_t)(to->hi - to->lo));
	else
		__sanitizer_start_switch_fiber(my_fake, m->g0_lo, m->g0_size);
#else
	(void)my_fake;
#endif
#ifdef RG_TSAN
	__tsan_switch_to_fiber(to ? to->tsan_fiber : m->g0_fiber, 0);
#endif
	rg__m *r = rg__ctx_swap(save, to ? to->sp : m->g0_sp, m);
#ifdef RG_ASAN
	__sanitizer_finish_switch_fiber(my_fake ? *my_fake : NULL, NULL, NULL);
#endif
	return r;
}

static inline void run_post(rg__m *m)
{
	rg__post_fn f = m->post;
	if (f) {
		m->post = NULL;
		f(m, m->post_task, m->post_arg);
	}
}

/* --- run queues (Go's runqput / runqget / runqgrab / runqsteal) --------- */

/*
 * The global queue is a ring of pointers: moving a batch touches no task
 * record, and each record is on a page of its own.  A list through the
 * records (Go's schedlink) made bench_core's spawn_join_batch10k 1.24x
 * slower on one CPU and 1.45x on two (docs/core.md): globrunq_get's walk
 * is a chain of dependent misses, one page each.  But the ring grows with
 * rg__malloc, and a put has nowhere to report a failure (a run queue overflowing, a yield, a poll's
 * completions, a spawn from sysmon): when the ring cannot grow, the tasks
 * go behind it on a list through their `next` links (free while a task
 * is runnable), and every later put goes there too until it is empty;
 * gets take the ring first.  So the order is kept, and the slow list is
 * paid for only while memory is short.
 */

/* sched.lock held. */
static bool gq_grow(uint32_t need)
{
	uint32_t size = (uint32_t)rg__sched.gq_size; /* all in the ring */
	if (size + need <= rg__sched.gq_cap)
		return true;
	uint32_t cap = rg__sched.gq_cap ? rg__sched.gq_cap : 1024;
	while (cap < size + need)
		cap *= 2;
	rg__task **q = rg__malloc(cap * sizeof *q);
	if (!q)
		return false;
	for (uint32_t i = 0; i < size; i++)
		q[i] = rg__sched.gq[(rg__sched.gq_head + i) % rg__sched.gq_cap];
	rg__free(rg__sched.gq);
	rg__sched.gq = q;
	rg__sched.gq_cap = cap;
	rg__sched.gq_head = 0;
	return true;
}

static void globrunq_put_batch(rg__task **batch, int n)
{
	pthread_mutex_lock(&rg__sched.lock);
	uint32_t size = (uint32_t)rg__sched.gq_size;
	if (!rg__sched.gq_spill_head && gq_grow((uint32_t)n)) {
		for (int i = 0; i < n; i++)
			rg__sched.gq[(rg__sched.gq_head + size + (uint32_t)i) % rg__sched.gq_cap] = batch[i];
	} else {
		for (int i = 0; i < n; i++) {
			batch[i]->next = NULL;
			if (rg__sched.gq_spill_tail)
				rg__sched.gq_spill_tail->next = batch[i];
			else
				rg__sched.gq_spill_head = batch[i];
			rg__sched.gq_spill_tail = batch[i];
		}
		rg__sched.gq_spilled += (uint32_t)n;
	}
	atomic_store(&rg__sched.gq_size, (int32_t)size + n);
	pthread_mutex_unlock(&rg__sched.lock);
}

/* sched.lock held, the queue not empty.  *ring: tasks left in the ring. */
static inline rg__task *gq_pop(uint32_t *ring)
{
	rg__task *t;
	if (*ring) {
		(*ring)--;
		t = rg__sched.gq[rg__sched.gq_head];
		rg__sched.gq_head = (rg__sched.gq_head + 1) % rg__sched.gq_cap;
		return t;
	}
	t = rg__sched.gq_spill_head;
	rg__sched.gq_spill_head = t->next;
	if (!t->next)
		rg__sched.gq_spill_tail = NULL;
	rg__sched.gq_spilled--;
	return t;
}

/* Queue full: move half of it plus t to the global queue. */
static bool runq_put_slow(rg__p *p, rg__task *t, uint32_t h, uint32_t tl)
{
	rg__task *batch[RG_RUNQ_SIZE / 2 + 1];
	uint32_t n = (tl - h) / 2;
	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&p->runq[(h + i) % RG_RUNQ_SIZE], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&p->runq_head, &h, h + n,
	                                             memory_order_release, memory_order_relaxed))
		return false;
	batch[n] = t;
	globrunq_put_batch(batch, (int)n + 1);
	return true;
}

/* A P's own counter: only its owner writes it (others read), so no
 * locked instruction. */
static inline void counter_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static inline __attribute__((always_inline)) void runq_put(rg__p *p, rg__task *t, bool next)
{
	if (next) {
		/* the line is ours already (the exchange below) */
		atomic_store_explicit(&p->runnext_gen,
		                      atomic_load_explicit(&p->runnext_gen, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		t = atomic_exchange_explicit(&p->runnext, t, memory_order_acq_rel);
		if (!t)
			return;
		/* kick the old runnext out to the regular queue */
	}
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->runq_head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
		if (tl - h < RG_RUNQ_SIZE) {
			atomic_store_explicit(&p->runq[tl % RG_RUNQ_SIZE], t, memory_order_relaxed);
			atomic_store_explicit(&p->runq_tail, tl + 1, memory_order_release);
			return;
		}
		if (runq_put_slow(p, t, h, tl))
			return;
	}
}

void rg__runq_put(rg__p *p, rg__task *t, bool next) { runq_put(p, t, next); }

/* Owner only.  *inherit: the task came from runnext and shares the time
 * slice of the task that readied it. */
static inline __attribute__((always_inline)) rg__task *runq_get(rg__p *p, bool *inherit)
{
	rg__task *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (next && rg__sched.nprocs == 1) {
		/* one P: no thief, runnext is the owner's alone */
		atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
		*inherit = true;
		return next;
	}
	if (next && atomic_compare_exchange_strong_explicit(&p->runnext, &next, NULL,
	                                                    memory_order_acq_rel, memory_order_relaxed)) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->runq_head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
		if (tl == h)
			return NULL;
		rg__task *t = atomic_load_explicit(&p->runq[h % RG_RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_strong_explicit(&p->runq_head, &h, h + 1,
		                                            memory_order_release, memory_order_relaxed)) {
			/* The tasks' records and saved frames are likely cold
			 * (each on a page of its own): prefetch the records of
			 * the next two and the frame of this one, whose record
			 * the previous get asked for.  Only t is ours to read:
			 * a thief may take and finish the next ones, and a
			 * task with a stack of its own unmaps it on exit. */
			__builtin_prefetch(t->sp, 1);
			__builtin_prefetch((char *)t->sp + 64, 1);
			for (uint32_t i = 1; i <= 2 && h + i != tl; i++) {
				rg__task *n = atomic_load_explicit(&p->runq[(h + i) % RG_RUNQ_SIZE],
				                                   memory_order_relaxed);
				__builtin_prefetch(n, 1);
				__builtin_prefetch((char *)n + 64, 1);
			}
			return t;
		}
	}
}

static bool runq_empty(rg__p *p)
{
	for (;;) {
		uint32_t h = atomic_load(&p->runq_head);
		uint32_t tl = atomic_load(&p->runq_tail);
		rg__task *next = atomic_load(&p->runnext);
		if (tl == atomic_load(&p->runq_tail))
			return h == tl && next == NULL;
	}
}

/* Grab half of p2's queue into batch[bh...] (a ring of RG_RUNQ_SIZE). */
static uint32_t runq_grab(rg__p *p2, rg__task *_Atomic *batch, uint32_t bh)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&p2->runq_head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&p2->runq_tail, memory_order_acquire);
		uint32_t n = tl - h;
		n = n - n / 2;
		if (n == 0)
			return 0;
		if (n > RG_RUNQ_SIZE / 2)
			continue; /* read inconsistent h and t */
		for (uint32_t i = 0; i < n; i++) {
			rg__task *t = atomic_load_explicit(&p2->runq[(h + i) % RG_RUNQ_SIZE], memory_order_relaxed);
			atomic_store_explicit(&batch[(bh + i) % RG_RUNQ_SIZE], t, memory_order_relaxed);
		}
		if (atomic_compare_exchange_strong_explicit(&p2->runq_head, &h, h + n,
		                                            memory_order_release, memory_order_relaxed))
			return n;
	}
}

/*
 * A running P's runnext is, most of the time, about to run there: its task
 * readied it and is about to park (a ping-pong over a channel), or will
 * park once it has filled a channel's buffer (a producer: the consumer
 * then drains it on the same P, both working sets hot in one cache).
 * Taking it would move the task and its working set to this P, and the
 * two would then fight over their channel's lines from two CPUs.  So a
 * thief takes a running P's runnext only once the same task (no new put:
 * runnext_gen) has sat there RUNNEXT_WAIT_NS.  Go waits 3 us (runqgrab),
 * Tokio never takes its LIFO slot (its attempt to, 1.51, slowed short
 * handlers and was reverted: tokio-rs/tokio#8065, #8100); 20 us keeps a
 * producer and its consumer together through a 1024-element buffer
 * (bench_sync: chan_buffered1024_spsc 80 -> 30 ns a message) and bounds
 * what a task readied by a long-running one waits for another P.
 * Sightings are kept on the victim (rn_seen, a line only thieves write),
 * so a thief never waits in place; each look pulls the line the victim
 * writes at every ready, so a thief looks at most once per
 * RUNNEXT_LOOK_NS.
 */
#ifndef RUNNEXT_WAIT_NS /* -D to try another (docs/sync.md, "Fifth review") */
#define RUNNEXT_WAIT_NS 20000
#endif
#define RUNNEXT_LOOK_NS 5000

static void pause_ns(int64_t ns)
{
	int64_t t0 = rg__mono();
	do
		for (int i = 0; i < 16; i++)
			rg__cpu_relax();
	while (rg__mono() - t0 < ns);
}

/* Is p2's runnext a task p2 may not run soon by itself: the same one,
 * whatever p2 ran meanwhile, since RUNNEXT_WAIT_NS?  *gen: the
 * runnext_gen seen.  Never waits.
 *
 * runnext first, then its generation: a put writes the generation before
 * its exchange (a release), so the generation read after the task is that
 * put's or a later one's.  Read the other way round, a thief could pair
 * the task of put g with generation g-1, and has_work, seeing g next,
 * would take it for a new put (whose putter wakes an idle P) although put
 * g had come before this P published itself idle: the task then waited,
 * with both Ps believing the other would act, until its P next scheduled
 * (test_runnext under ASan once waited out its 10 s bound). */
static bool runnext_stuck(rg__p *p2, int64_t now, uint32_t *gen)
{
	bool has = atomic_load(&p2->runnext) != NULL; /* seq_cst: see wake_if_idle_sc */
	*gen = atomic_load_explicit(&p2->runnext_gen, memory_order_acquire);
	if (!has)
		return false;
	if (atomic_load_explicit(&p2->status, memory_order_relaxed) != RG__P_RUNNING)
		return true;
	uint32_t us = (uint32_t)(now / 1000);
	uint64_t seen = atomic_load_explicit(&p2->rn_seen, memory_order_relaxed);
	if ((uint32_t)(seen >> 32) != *gen) {
		/* first sighting (a racing thief may overwrite it: either
		 * is right within the race) */
		atomic_store_explicit(&p2->rn_seen, (uint64_t)*gen << 32 | us, memory_order_relaxed);
		return false;
	}
	return us - (uint32_t)seen >= RUNNEXT_WAIT_NS / 1000;
}

static rg__task *runnext_steal(rg__p *p, rg__p *p2)
{
	int64_t now = rg__mono();
	if (now - p->rn_look < RUNNEXT_LOOK_NS)
		return NULL;
	p->rn_look = now;
	uint32_t gen;
	if (!runnext_stuck(p2, now, &gen))
		return NULL;
	rg__task *next = atomic_load(&p2->runnext);
	if (next && atomic_compare_exchange_strong(&p2->runnext, &next, NULL))
		return next;
	return NULL;
}

static rg__task *runq_steal(rg__p *p, rg__p *p2, bool steal_next)
{
	uint32_t tl = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
	uint32_t n = runq_grab(p2, p->runq, tl);
	if (n == 0) {
		rg__task *t = steal_next ? runnext_steal(p, p2) : NULL;
		if (t)
			atomic_fetch_add_explicit(&p->n_steals, 1, memory_order_relaxed);
		return t;
	}
	n--;
	rg__task *t = atomic_load_explicit(&p->runq[(tl + n) % RG_RUNQ_SIZE], memory_order_relaxed);
	if (n)
		atomic_store_explicit(&p->runq_tail, tl + n, memory_order_release);
	atomic_fetch_add_explicit(&p->n_steals, n + 1, memory_order_relaxed);
	return t;
}

/* Work another P may have to take from p2, for a P about to sleep: its
 * run queue, or a runnext that stays there RUNNEXT_WAIT_NS.  Waits (a few
 * microseconds, reading p2's line every one) until that runnext is taken
 * or replaced (its P runs it: nothing for us; a new put wakes an idle P
 * itself) or stuck: runq_empty would count the runnext of every hand-off,
 * and a P watching two tasks ping-pong would never sleep. */
static bool has_work(rg__p *p2)
{
	uint32_t h = atomic_load(&p2->runq_head);
	uint32_t tl = atomic_load(&p2->runq_tail);
	if (h != tl)
		return true;
	uint32_t gen0, gen;
	int64_t now = rg__mono();
	if (runnext_stuck(p2, now, &gen0))
		return true;
	for (int64_t end = now + 2 * RUNNEXT_WAIT_NS;;) {
		if (!atomic_load(&p2->runnext))
			return false;
		pause_ns(1000);
		now = rg__mono();
		if (runnext_stuck(p2, now, &gen))
			return true;
		if (gen != gen0 || now > end)
			return false;
	}
}

/* sched.lock held.  Takes a fair share of the global queue into the
 * local run queue and returns one task.  Only ever called when the local
 * queue is empty (or for one task), so the puts below never overflow back
 * into the global queue, whose lock we hold: checked, not assumed. */
static rg__task *globrunq_get(rg__p *p, int max)
{
	int32_t size = rg__sched.gq_size;
	if (size == 0)
		return NULL;
	int n = size / rg__sched.nprocs + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	uint32_t h = atomic_load(&p->runq_head), tl = atomic_load(&p->runq_tail);
	int room = RG_RUNQ_SIZE / 2 - (int)(tl - h);
	if (n > room + 1)
		n = room > 0 ? room + 1 : 1;
	atomic_store(&rg__sched.gq_size, size - n);
	uint32_t ring = (uint32_t)size - rg__sched.gq_spilled;
	rg__task *t = gq_pop(&ring);
	for (int i = 1; i < n; i++)
		rg__runq_put(p, gq_pop(&ring), false);
	return t;
}

/* --- idle Ps and waking -------------------------------------------------- */

/* sched.lock held. */
static void pidle_put(rg__p *p)
{
	p->idle_next = rg__sched.idle;
	rg__sched.idle = p;
	p->on_idle_list = true;
	atomic_fetch_add(&rg__sched.npidle, 1);
}

static rg__p *pidle_get(void)
{
	rg__p *p = rg__sched.idle;
	if (p) {
		rg__sched.idle = p->idle_next;
		p->on_idle_list = false;
		atomic_fetch_sub(&rg__sched.npidle, 1);
	}
	return p;
}

static void pidle_remove(rg__p *p)
{
	for (rg__p **pp = &rg__sched.idle; *pp; pp = &(*pp)->idle_next)
		if (*pp == p) {
			*pp = p->idle_next;
			p->on_idle_list = false;
			atomic_fetch_sub(&rg__sched.npidle, 1);
			return;
		}
}

/* Wake an idle P to spin for work, unless one is spinning already. */
void rg__wakep(void)
{
	if (atomic_load(&rg__sched.npidle) == 0 || atomic_load(&rg__sched.stopping))
		return;
	int32_t zero = 0;
	if (atomic_load(&rg__sched.nmspinning) != 0 ||
	    !atomic_compare_exchange_strong(&rg__sched.nmspinning, &zero, 1))
		return;
	pthread_mutex_lock(&rg__sched.lock);
	rg__p *p = pidle_get();
	/* Under the lock: a P that wakes by itself (a completion) takes the
	 * lock to leave the idle list and reads wake_spinning after it, so
	 * it sees this store if we took it off the list.  Stored after the
	 * unlock, it could be missed: the P would run on unaware that it was
	 * counted as spinning, and every ready would skip waking idle Ps
	 * (nmspinning != 0) until it next went idle. */
	if (p)
		atomic_store(&p->wake_spinning, true);
	pthread_mutex_unlock(&rg__sched.lock);
	if (!p) {
		atomic_fetch_sub(&rg__sched.nmspinning, 1);
		return;
	}
	atomic_fetch_add_explicit(&p->n_wakeups, 1, memory_order_relaxed);
	rg__sched.waiter->wake(p);
}

static inline void wake_if_idle(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&rg__sched.npidle, memory_order_relaxed) > 0 &&
	    atomic_load_explicit(&rg__sched.nmspinning, memory_order_relaxed) == 0)
		rg__wakep();
}

/* The same after a seq_cst read-modify-write that made a task runnable
 * (a put in runnext).  Dekker with a P going idle, without the fence: that
 * P's updates of npidle and nmspinning and its reads of the run queues are
 * seq_cst too, so in their single total order either our loads below come
 * after its updates (we see it idle and wake it) or they come before, and
 * then so does our put, which its recheck sees. */
static inline void wake_if_idle_sc(void)
{
	if (atomic_load(&rg__sched.npidle) > 0 && atomic_load(&rg__sched.nmspinning) == 0)
		rg__wakep();
}

static void reset_spinning(rg__p *p)
{
	if (!p->spinning)
		return;
	p->spinning = false;
	if (atomic_fetch_sub(&rg__sched.nmspinning, 1) == 1)
		wake_if_idle();
}

/* --- stop the world (for gc/) --------------------------------------------- */

/*
 * Stop-the-world.  All transitions of a P into and out of GCSTOP happen
 * under stw_lock.  A running P stops itself at its next scheduling point
 * (stw_park) and waits for the end of *that* STW (stw_gen): waiting on
 * "pending" instead would miss a stop-start-stop that happens while it
 * sleeps.  An idle P (asleep in its ring, status IDLE) is claimed by the
 * collector (CAS IDLE -> GCSTOP): if it wakes during the STW it waits until
 * released (idle_exit).
 *
 * sysmon has no P to stop, but it runs the timers of a P stuck in one
 * task (core/sysmon.c), and the P of the task that stops the world is
 * one for as long as the stop lasts: a Context's deadline then cancelled
 * its tree, readied tasks and spawned after-funcs while the collector
 * walked the tasks (tests/core/test_stw_timers.c; the half-made task of
 * gc_stw_pless_spawn was one such spawn).  So sysmon fires no timer while
 * a stop is pending or in effect, and a stop waits for a firing already
 * under way: a Dekker on stw_pending and stw_sysmon (rg__stw_timers_begin),
 * the stop re-reading stw_sysmon under stw_lock, where sysmon's
 * rg__stw_timers_end broadcasts.  What sysmon skipped fires after the
 * restart, by its P or by sysmon, which the restart wakes for it (Go's
 * sysmon sleeps through a stop and startTheWorld wakes it).
 */
/* stw_lock held, a stop pending: p counts itself stopped and waits for
 * the end of this stop (its generation). */
static void stw_stop_locked(rg__p *p)
{
	uint64_t gen = rg__sched.stw_gen;
	atomic_store(&p->status, RG__P_GCSTOP);
	atomic_fetch_add(&rg__sched.stw_stopped, 1);
	pthread_cond_broadcast(&rg__sched.stw_cond);
	while (rg__sched.stw_gen == gen)
		rg__cond_wait_bounded(&rg__sched.stw_cond, &rg__sched.stw_lock, 10);
	atomic_store(&p->status, RG__P_RUNNING);
}

static void stw_park(rg__p *p)
{
	pthread_mutex_lock(&rg__sched.stw_lock);
	if (atomic_load(&rg__sched.stw_pending))
		stw_stop_locked(p);
	pthread_mutex_unlock(&rg__sched.stw_lock);
}

/* A P back from blocking in its ring: it was IDLE, a STW may have claimed it. */
static void idle_exit(rg__p *p)
{
	int s = RG__P_IDLE;
	if (atomic_compare_exchange_strong(&p->status, &s, RG__P_RUNNING))
		return;
	pthread_mutex_lock(&rg__sched.stw_lock);
	while (p->stw_claimed)
		rg__cond_wait_bounded(&rg__sched.stw_cond, &rg__sched.stw_lock, 10);
	atomic_store(&p->status, RG__P_RUNNING);
	pthread_mutex_unlock(&rg__sched.stw_lock);
}

void rg__stw_stop(void)
{
	rg__p *self = rg__getp();
	pthread_mutex_lock(&rg__sched.stw_mu);
	pthread_mutex_lock(&rg__sched.stw_lock);
	atomic_store(&rg__sched.stw_pending, 1);
	pthread_cond_broadcast(&rg__sched.stw_cond); /* Ps in rg__p_leave */
	int want = 0;
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p = rg__sched.allp[i];
		if (p == self || atomic_load(&p->status) == RG__P_DEAD)
			continue; /* a P that exited never stops: rg__p_dead */
		want++;
		int s = RG__P_IDLE;
		if (atomic_compare_exchange_strong(&p->status, &s, RG__P_GCSTOP)) {
			p->stw_claimed = true;
			atomic_fetch_add(&rg__sched.stw_stopped, 1);
		}
	}
	while (atomic_load(&rg__sched.stw_stopped) < want || atomic_load(&rg__sched.stw_sysmon))
		rg__cond_wait_bounded(&rg__sched.stw_cond, &rg__sched.stw_lock, 10);
	pthread_mutex_unlock(&rg__sched.stw_lock);
}

bool rg__stw_timers_begin(void)
{
	/* announce, then look: a stop stores stw_pending, then reads
	 * stw_sysmon; one of the two sees the other */
	atomic_store(&rg__sched.stw_sysmon, 1);
	if (!atomic_load(&rg__sched.stw_pending))
		return true;
	atomic_store_explicit(&rg__sched.stw_skipped, 1, memory_order_relaxed);
	rg__stw_timers_end();
	return false;
}

void rg__stw_timers_end(void)
{
	atomic_store(&rg__sched.stw_sysmon, 0);
	if (atomic_load(&rg__sched.stw_pending)) {
		/* a stop may be waiting for us: under its lock, so that the
		 * broadcast cannot fall between its read and its wait */
		pthread_mutex_lock(&rg__sched.stw_lock);
		pthread_cond_broadcast(&rg__sched.stw_cond);
		pthread_mutex_unlock(&rg__sched.stw_lock);
	}
}

/*
 * rg_run is ending and p has left its loop: wait until every P has, before
 * p tears down its per-P state (core/run.c, p_shutdown).  Until then
 * another P may still run a task or a park's unlock callback that reaches
 * p's state (io/'s hop to p: its request list and eventfd).  A task still
 * running may start a collection meanwhile: p stops for it here, as a P
 * does at a scheduling point (stw_park), or the collection and this wait
 * would wait for each other (gc_shutdown hung so).
 */
void rg__p_leave(rg__p *p)
{
	pthread_mutex_lock(&rg__sched.stw_lock);
	if (++rg__sched.nleft == rg__sched.nprocs)
		pthread_cond_broadcast(&rg__sched.stw_cond);
	uint64_t stopped_in = UINT64_MAX; /* the stop we counted ourselves in */
	while (rg__sched.nleft < rg__sched.nprocs) {
		if (atomic_load(&rg__sched.stw_pending) && stopped_in != rg__sched.stw_gen) {
			stopped_in = rg__sched.stw_gen;
			stw_stop_locked(p);
			continue;
		}
		rg__cond_wait_bounded(&rg__sched.stw_cond, &rg__sched.stw_lock, 10);
	}
	pthread_mutex_unlock(&rg__sched.stw_lock);
}

/* A P's thread leaves for good (rg_run is ending), its mcache flushed.
 * A collection started by a task still running on another P must not
 * wait for it: a stop that counted it (it was running) takes it as
 * stopped now, a later one skips it.  Without this, a task that started
 * a collection just after the main task returned waited forever. */
void rg__p_dead(rg__p *p)
{
	pthread_mutex_lock(&rg__sched.stw_lock);
	atomic_store(&p->status, RG__P_DEAD);
	if (atomic_load(&rg__sched.stw_pending)) {
		atomic_fetch_add(&rg__sched.stw_stopped, 1);
		pthread_cond_broadcast(&rg__sched.stw_cond);
	}
	pthread_mutex_unlock(&rg__sched.stw_lock);
}

void rg__stw_start(void)
{
	pthread_mutex_lock(&rg__sched.stw_lock);
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p = rg__sched.allp[i];
		if (p->stw_claimed) {
			int s = RG__P_GCSTOP;
			atomic_compare_exchange_strong(&p->status, &s, RG__P_IDLE);
			p->stw_claimed = false;
		}
	}
	rg__sched.stw_gen++;
	atomic_store(&rg__sched.stw_stopped, 0);
	atomic_store(&rg__sched.stw_pending, 0);
	pthread_cond_broadcast(&rg__sched.stw_cond);
	pthread_mutex_unlock(&rg__sched.stw_lock);
	pthread_mutex_unlock(&rg__sched.stw_mu);
	/* due timers sysmon left to the stop: fire them now, not at its next
	 * look (up to 10 ms away).  A skip that sysmon records just after
	 * this read waits for that look, or for the next restart's kick. */
	if (atomic_load_explicit(&rg__sched.stw_skipped, memory_order_relaxed) &&
	    atomic_exchange_explicit(&rg__sched.stw_skipped, 0, memory_order_relaxed))
		rg__sysmon_kick();
}

void rg__for_each_task(void (*fn)(rg__task *t, void *arg), void *arg)
{
	rg__tasks_each(fn, arg);
}

void rg__task_stack_range(rg__task *t, void **lo, void **hi)
{
	/* up to the end of the record: it holds the task's argument and the
	 * per-task slots, which may be the only reference to a heap object */
	*hi = (char *)t + sizeof *t;
	if (t == rg__self()) {
		*lo = __builtin_frame_address(0);
	} else if (atomic_load_explicit(&t->in_blocking, memory_order_acquire)) {
		/* From the sp saved by the switch to the pool.  The pool
		 * thread resumes rg_blocking above it and calls fn from there,
		 * so fn's frames overwrite the saved context below
		 * rg_blocking's frame: scanned (conservatively, a racing read
		 * finds at worst a stale word), but relied on for nothing:
		 * rg_blocking keeps its argument and the caller's callee-saved
		 * registers in its own frame, which stays frozen.  Not yet on
		 * a pool thread: sp is saved. */
		void *b = atomic_load_explicit(&t->blocking_sp, memory_order_acquire);
		*lo = b ? b : t->sp;
	} else {
		*lo = t->sp;
	}
}

void rg__task_tls_range(rg__task *t, void **lo, void **hi)
{
	*lo = t->tls;
	*hi = t->tls ? (void *)(t->tls + RG_TLS_KEYS) : NULL;
}

/* --- finding work ------------------------------------------------------- */

static inline uint32_t fastrand(rg__p *p)
{
	uint32_t x = p->rand;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return p->rand = x;
}

/* Four passes over the other Ps from a random start; the first pass only
 * visits Ps on this P's NUMA node (its work shares our memory), the last
 * one also takes a victim's runnext. */
static rg__task *steal_work(rg__p *p)
{
	int n = rg__sched.nprocs;
	for (int pass = 0; pass < 4; pass++) {
		uint32_t start = fastrand(p) % (uint32_t)n;
		for (int i = 0; i < n; i++) {
			rg__p *p2 = rg__sched.allp[(start + (uint32_t)i) % (uint32_t)n];
			if (p2 == p || (pass == 0 && p2->node != p->node))
				continue;
			rg__task *t = runq_steal(p, p2, pass == 3);
			if (t)
				return t;
		}
		if (atomic_load(&rg__sched.gq_size) > 0)
			return NULL;
	}
	return NULL;
}

/*
 * Step 5b.  A P runs its own timers only between tasks, so one that runs
 * a single task for long (a CPU-bound loop, a spinner) holds the due
 * timers of the tasks parked on it; sysmon fires them, but only within
 * 2-20 ms.  An idle P fires them itself, as Go's stealWork runs other Ps'
 * timers: those of a running P that are TIMER_STEAL_GRACE_NS overdue (a P
 * that schedules fires its own well within that: its fast switches look
 * every 4th switch), and its sleep ends then (timer_steal_next).  The
 * tasks come to this P's queue.  An idle P's own timers are its own to
 * fire: it wakes for them.
 */
#define TIMER_STEAL_GRACE_NS (50 * 1000)

static rg__task *timer_steal(rg__p *p, bool *inherit)
{
	int64_t now = 0;
	int fired = 0;
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p2 = rg__sched.allp[i];
		if (p2 == p)
			continue;
		/* timer_next first: status shares the line the owner
		 * writes at every hand-off (runnext), and a read of it at
		 * every spin round would cost the owner a miss */
		int64_t tn = atomic_load_explicit(&p2->timer_next, memory_order_relaxed);
		if (tn == INT64_MAX)
			continue;
		if (!now)
			now = rg__mono();
		if (tn <= now - TIMER_STEAL_GRACE_NS &&
		    atomic_load_explicit(&p2->status, memory_order_relaxed) == RG__P_RUNNING)
			fired += rg__timers_run_other(p2, now);
	}
	if (!fired)
		return NULL;
	atomic_fetch_add_explicit(&p->n_timer_steals, (uint64_t)fired, memory_order_relaxed);
	return runq_get(p, inherit);
}

/* When a P about to sleep must look again at running Ps' timers. */
static int64_t timer_steal_next(rg__p *p)
{
	int64_t next = INT64_MAX;
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p2 = rg__sched.allp[i];
		if (p2 == p)
			continue;
		int64_t tn = atomic_load_explicit(&p2->timer_next, memory_order_relaxed);
		if (tn < next && atomic_load_explicit(&p2->status, memory_order_relaxed) == RG__P_RUNNING)
			next = tn;
	}
	return next > INT64_MAX - TIMER_STEAL_GRACE_NS ? INT64_MAX : next + TIMER_STEAL_GRACE_NS;
}

/*
 * A task parking on p made its deadline p's first timer (timer.c).  A P
 * asleep since before did not count it in its sleep (timer_steal_next): if
 * p now runs another task for long, the deadline waits for sysmon.  So if
 * p has another task to run and no idle P's sleep ends by the time an idle
 * P would fire it, wake one (Go's wakeNetPoller on a new earliest timer).
 * With nothing else to run, p goes idle and fires it itself: a task
 * sleeping in a loop costs other Ps no wake-up.  Runtime timers are not
 * checked here: a Context per request would wake an idle P per request;
 * one added by a task that then runs for long waits for sysmon, unless an
 * idle P sleeps later than it was added.  The reads race with Ps going to
 * sleep; a deadline missed so waits for sysmon too.
 */
void rg__timer_added(rg__p *p, int64_t when)
{
	if (rg__sched.nprocs == 1 || atomic_load_explicit(&rg__sched.npidle, memory_order_relaxed) == 0 ||
	    runq_empty(p))
		return;
	int64_t due = when > INT64_MAX - TIMER_STEAL_GRACE_NS ? INT64_MAX : when + TIMER_STEAL_GRACE_NS;
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p2 = rg__sched.allp[i];
		if (p2 == p || atomic_load_explicit(&p2->status, memory_order_relaxed) != RG__P_IDLE)
			continue;
		int64_t tmo = atomic_load_explicit(&p2->sleep_timeout, memory_order_relaxed);
		if (tmo >= 0 && atomic_load_explicit(&p2->sleep_from, memory_order_relaxed) + tmo <= due)
			return;
	}
	wake_if_idle();
}

static rg__task *global_get(rg__p *p, int max)
{
	if (atomic_load_explicit(&rg__sched.gq_size, memory_order_relaxed) == 0)
		return NULL;
	pthread_mutex_lock(&rg__sched.lock);
	rg__task *t = globrunq_get(p, max);
	pthread_mutex_unlock(&rg__sched.lock);
	return t;
}

/* Every 61st task a P runs is checked against the global queue first.
 * The fast path (task to task) and find_runnable must agree on which tick
 * that is: the one the next execute() will count.  Also the first switch
 * after sysmon flagged the P: tasks that hand it to each other through
 * runnext share one time slice, so schedtick then moves only once per
 * preemption (~10 ms), and 61 ticks left the global queue and the ring
 * unlooked-at for over a second (global_starve, 1 P: a task spawned from
 * another thread started 1.1-1.4 s later; Go's preempted task goes to
 * the global queue, behind it, within one period). */
static inline bool global_turn(rg__p *p)
{
	return (atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1) % RG_GLOBAL_CHECK == 0 ||
	       atomic_load_explicit(&p->preempt, memory_order_relaxed);
}

/*
 * Step 6b.  Go's spinning M makes one round of steal attempts and then
 * sleeps, so the next task readied anywhere costs a wake: a syscall on the
 * readier's critical path and a wake-up here, microseconds per hand-off
 * when two tasks ping-pong over a channel (each ready finds this P idle).
 * A P that found nothing stays spinning for RG_IDLE_SPIN_NS instead: it is
 * counted in nmspinning, so readiers skip the wake, and it still takes any
 * work that appears.  A P woken again sooner than its allowance (a wake
 * that cost a syscall and came when one was due: a ping-pong across Ps)
 * doubles it, up to RG_IDLE_SPIN_MAX_NS; a longer sleep resets it.  Between rounds it pauses (reading nothing the running
 * Ps write).  Not sched_yield: on a CPU shared with another process, a P
 * that yields at every round runs a few microseconds per time slice of the
 * other, while readiers, seeing it spinning, wake nobody: its share of the
 * work would wait (tests/core/test_tls saw no task ever move under load).
 */
#define RG_IDLE_SPIN_NS (50 * 1000)
#define RG_IDLE_SPIN_MAX_NS (800 * 1000)
#define RG_IDLE_SPIN_PACE_NS 300

static rg__task *find_runnable_(rg__m *m, bool *inherit);
static void polled_flush(rg__p *p);

/* As Go's schedule(): a P that was spinning and found work, whichever step
 * found it, stops spinning (and, the last spinner, wakes another).  Left
 * counted, it would make every later ready skip waking idle Ps. */
static rg__task *find_runnable(rg__m *m, bool *inherit)
{
	rg__task *t = find_runnable_(m, inherit);
	if (t && m->p->spinning)
		reset_spinning(m->p);
	return t;
}

static rg__task *find_runnable_(rg__m *m, bool *inherit)
{
	rg__p *p = m->p;
	rg__task *t;
	int64_t spin_until = 0;
	for (;;) {
		*inherit = false;
		/* 0 */
		if (atomic_load(&rg__sched.stopping))
			return NULL;
		if (atomic_load(&rg__sched.stw_pending))
			stw_park(p);
		/* 1 */
		if (atomic_load_explicit(&p->timer_next, memory_order_relaxed) != INT64_MAX)
			rg__timers_run(p, rg__mono());
		/* 2 */
		if (global_turn(p)) {
			/* poll first: with the global queue never empty the
			 * ring would otherwise never be polled while busy */
			p->polling = true;
			rg__sched.waiter->poll(p, 0);
			p->polling = false;
			polled_flush(p);
			if ((t = global_get(p, 1)))
				return t;
		}
		/* 3 */
		if ((t = runq_get(p, inherit)))
			return t;
		/* 4 */
		if ((t = global_get(p, 0)))
			return t;
		/* 5: a P that will not spin (6) sleeps next if this finds
		 * nothing, so it may leave queued SQEs to the sleep's enter */
		int32_t busy = rg__sched.nprocs - atomic_load(&rg__sched.npidle);
		bool spin = rg__sched.nprocs > 1 &&
		            (p->spinning || 2 * atomic_load(&rg__sched.nmspinning) < busy);
		p->polling = true;
		if (!spin && rg__sched.waiter->peek)
			rg__sched.waiter->peek(p);
		else
			rg__sched.waiter->poll(p, 0);
		p->polling = false;
		polled_flush(p);
		if ((t = runq_get(p, inherit)))
			return t;
		/* 5b */
		if (rg__sched.nprocs > 1 && (t = timer_steal(p, inherit)))
			return t;
		/* 6 */
		if (spin) {
			if (!p->spinning) {
				p->spinning = true;
				atomic_fetch_add(&rg__sched.nmspinning, 1);
			}
			if ((t = steal_work(p))) {
				reset_spinning(p);
				return t;
			}
			if ((t = global_get(p, 0))) {
				reset_spinning(p);
				return t;
			}
			/* 6b: keep spinning a while (see RG_IDLE_SPIN_NS) */
			int64_t now = rg__mono();
			if (!spin_until)
				spin_until = now + (p->spin_ns ? p->spin_ns : RG_IDLE_SPIN_NS);
			if (now < spin_until) {
				pause_ns(RG_IDLE_SPIN_PACE_NS);
				continue;
			}
		}
		/* 7 */
		pthread_mutex_lock(&rg__sched.lock);
		if (atomic_load(&rg__sched.stopping) || atomic_load(&rg__sched.stw_pending)) {
			pthread_mutex_unlock(&rg__sched.lock);
			continue;
		}
		if ((t = globrunq_get(p, 0))) {
			pthread_mutex_unlock(&rg__sched.lock);
			reset_spinning(p);
			return t;
		}
		pidle_put(p);
		pthread_mutex_unlock(&rg__sched.lock);
		bool was_spinning = p->spinning;
		if (was_spinning) {
			p->spinning = false;
			atomic_fetch_sub(&rg__sched.nmspinning, 1);
		}
		atomic_thread_fence(memory_order_seq_cst);
		/* Every P about to sleep looks at the others' queues, spinning
		 * or not (Go's non-spinning M does not).  A P that chose not to
		 * spin (another was spinning) publishes itself idle; a task
		 * readied meanwhile into a running P's runnext checks for idle
		 * Ps with seq_cst loads after its put, and may load npidle
		 * before our increment: then this look is what finds it.  Go
		 * gets away without it because sysmon preempts the readier
		 * within 10 ms and the runnext then runs on its own P; ringo
		 * has no preemption, and test_runnext's spinning readier left
		 * the task stranded for its whole 10 s bound (9 of ~800 TSan
		 * runs under load; the dump showed the other P asleep on the
		 * idle list, nmspinning 0). */
		bool recheck = false, elsewhere = false;
		for (int i = 0; i < rg__sched.nprocs; i++)
			if (rg__sched.allp[i] != p && has_work(rg__sched.allp[i])) {
				recheck = elsewhere = true;
				break;
			}
		if (atomic_load(&rg__sched.gq_size) > 0 || !runq_empty(p))
			recheck = true;
		if (!recheck) {
			int64_t next = atomic_load_explicit(&p->timer_next, memory_order_relaxed);
			int64_t other = timer_steal_next(p);
			if (other < next)
				next = other;
			int64_t timeout = -1;
			if (next != INT64_MAX) {
				timeout = next - rg__mono();
				if (timeout < 0)
					timeout = 0;
			}
			/* Dekker with rg__stw_stop: publish IDLE, then look
			 * for a pending STW; it either claims us or we see it. */
			atomic_store(&p->status, RG__P_IDLE);
			int64_t slept = rg__mono();
			atomic_store_explicit(&p->sleep_from, slept, memory_order_relaxed);
			atomic_store_explicit(&p->sleep_timeout, timeout, memory_order_relaxed);
			if (!atomic_load(&rg__sched.stw_pending)) {
				p->polling = true;
				rg__sched.waiter->poll(p, timeout);
				p->polling = false;
				polled_flush(p);
			}
			idle_exit(p);
			/* woken to spin: a new allowance, doubled if we slept
			 * less than it (the wake cost a syscall and was due to
			 * come: a ping-pong across Ps), else back to the base */
			slept = rg__mono() - slept;
			int64_t cur = p->spin_ns ? p->spin_ns : RG_IDLE_SPIN_NS;
			p->spin_ns = slept < cur ? (cur < RG_IDLE_SPIN_MAX_NS ? 2 * cur : cur) : RG_IDLE_SPIN_NS;
			spin_until = 0;
		}
		pthread_mutex_lock(&rg__sched.lock);
		if (p->on_idle_list)
			pidle_remove(p);
		pthread_mutex_unlock(&rg__sched.lock);
		if (atomic_exchange(&p->wake_spinning, false)) {
			p->spinning = true; /* counted by the waker */
		} else if (recheck && (was_spinning || elsewhere)) {
			/* spin, so that the next round steals what we saw */
			p->spinning = true;
			atomic_fetch_add(&rg__sched.nmspinning, 1);
		}
	}
}

/* --- running tasks ------------------------------------------------------ */

static inline void execute(rg__m *m, rg__task *t, bool inherit)
{
	rg__p *p = m->p;
	m->cur = t;
	atomic_store_explicit(&t->state, RG__RUNNING, memory_order_relaxed);
	if (!inherit)
		atomic_store_explicit(&p->schedtick, atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
	atomic_store_explicit(&p->preempt, 0, memory_order_relaxed);
}

/* The loop a P thread runs on its own stack (g0). */
void rg__p_loop(rg__m *m)
{
	for (;;) {
		run_post(m);
		bool inherit;
		rg__task *t = find_runnable(m, &inherit);
		if (!t)
			return;
		execute(m, t, inherit);
		sw(m, &m->g0_sp, &m->g0_fake, t);
	}
}

/* May the leaving task hand the P straight to the next local task? */
static inline bool fast_ok(rg__p *p)
{
	if (atomic_load_explicit(&rg__sched.stw_pending, memory_order_relaxed) ||
	    atomic_load_explicit(&rg__sched.stopping, memory_order_relaxed))
		return false;
	if (global_turn(p))
		return false;
	/* Reading the clock costs as much as the rest of a switch, so with
	 * timers pending look only every 4th fast switch: a due timer waits
	 * at most 3 short task runs (the loop always looks). */
	int64_t tn = atomic_load_explicit(&p->timer_next, memory_order_relaxed);
	return tn == INT64_MAX || (++p->fast_switches & 3) || rg__mono() < tn;
}

/* The next local task to switch to straight from a leaving task (and
 * made current), or NULL: go through the scheduler loop on g0. */
static inline rg__task *fast_next(rg__m *m)
{
	rg__p *p = m->p;
	rg__task *next = NULL;
	bool inherit = false;
	if (p && fast_ok(p))
		next = runq_get(p, &inherit);
	if (next)
		execute(m, next, inherit);
	else
		m->cur = NULL;
	return next;
}

/* The current task t stops running.  post(m, t, arg) runs once t's context
 * is saved.  Returns the M that t later resumes on. */
static rg__m *task_switch_out(rg__m *m, rg__task *t, rg__post_fn post, void *arg)
{
	if (t->canary && *t->canary != RG_CANARY)
		rg__overflow_abort(t);
	m->post = post;
	m->post_task = t;
	m->post_arg = arg;
	m = sw(m, &t->sp, &t->asan_fake, fast_next(m));
	run_post(m);
	return m;
}

rg__m *rg__switch_to_g0(rg__m *m, rg__task *t, rg__post_fn post, void *arg)
{
	if (t->canary && *t->canary != RG_CANARY)
		rg__overflow_abort(t);
	m->post = post;
	m->post_task = t;
	m->post_arg = arg;
	m->cur = NULL;
	m = sw(m, &t->sp, &t->asan_fake, NULL);
	run_post(m);
	return m;
}

/* --- park / ready --------------------------------------------------------- */

struct park_args {
	rg__unlock_fn unlock;
	void *arg;
	uint64_t ticket;
	bool timed;
};

static void post_park(rg__m *m, rg__task *t, void *a)
{
	struct park_args *pa = a;
	rg__unlock_fn unlock = pa->unlock;
	void *arg = pa->arg;
	uint64_t ticket = pa->ticket;
	bool timed = pa->timed;
	/* From here on t may run elsewhere: pa (on t's stack) is dead. */
	if (unlock && !unlock(t, arg)) {
		uint64_t armed = ticket << 2 | RG__CLAIM_ARMED;
		if (atomic_compare_exchange_strong(&t->h.wake, &armed, ticket << 2 | RG__CLAIM_ABANDONED)) {
			atomic_store_explicit(&t->state, RG__RUNNABLE, memory_order_relaxed);
			rg__runq_put(m->p, t, true);
			if (rg__sched.nprocs > 1)
				wake_if_idle(); /* as post_yield: the P may be kept */
		}
		/* else a waker claimed it first and will ready it */
	}
	/* t's timer may now be fired from other threads (timer.c) */
	if (timed)
		atomic_store_explicit(&m->p->timer_parking, NULL, memory_order_release);
}

/* rg__park_prepare, rg__park and rg__ready read the thread's M inline,
 * without rg__m_get's call.  None reads a thread-local after a switch
 * (the two helpers never switch; rg__park uses only the M its switch
 * returns), and all three are noinline, so no caller can carry their
 * thread-pointer read across a switch either. */
__attribute__((noinline)) uint64_t rg__park_prepare(void)
{
	rg__m *m = rg__tls_m;
	rg__task *t = m ? m->cur : NULL;
	return t ? rg__park_prepare_self(t) : 0;
}

/* Reads the M inline at entry (see rg__park_prepare). */
__attribute__((noinline)) int rg__park(int reason, int64_t deadline, rg__unlock_fn unlock, void *arg)
{
	rg__m *m = rg__tls_m;
	rg__task *t = m ? m->cur : NULL;
	if (!t || !m->p)
		return -EPERM;
	uint64_t w = atomic_load_explicit(&t->h.wake, memory_order_relaxed);
	if ((w & 3) != RG__CLAIM_ARMED)
		w = rg__park_prepare_self(t) << 2;
	struct park_args pa = { unlock, arg, w >> 2, deadline >= 0 };
	t->wait_reason = reason;
	atomic_store_explicit(&t->state, RG__WAITING, memory_order_relaxed);
	if (deadline >= 0) {
		t->timer_ticket = w >> 2;
		rg__timer_add(m->p, t, deadline);
	}
	m = task_switch_out(m, t, post_park, &pa);
	if (t->timer_p)
		rg__timer_del(t);
	t->wait_reason = RG__WAIT_NONE;
	switch (atomic_load(&t->h.wake) & 3) {
	case RG__CLAIM_WOKEN:
		return 0;
	case RG__CLAIM_TIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -EAGAIN;
	}
}

bool rg__claim(rg__task *t, uint64_t ticket)
{
	uint64_t armed = ticket << 2 | RG__CLAIM_ARMED;
	return atomic_compare_exchange_strong(&t->h.wake, &armed, ticket << 2 | RG__CLAIM_WOKEN);
}

bool rg__claim_timeout(rg__task *t, uint64_t ticket)
{
	uint64_t armed = ticket << 2 | RG__CLAIM_ARMED;
	return atomic_compare_exchange_strong(&t->h.wake, &armed, ticket << 2 | RG__CLAIM_TIMEDOUT);
}

/* Tasks a poll readied behind the global queue (ready_on) go there in one
 * batch: one lock for a poll's worth of completions. */
static void polled_flush(rg__p *p)
{
	if (!p->npolled)
		return;
	globrunq_put_batch(p->polled, p->npolled);
	p->npolled = 0;
	wake_if_idle();
}

static void ready_on(rg__m *m, rg__task *t, bool next)
{
	atomic_store_explicit(&t->state, RG__RUNNABLE, memory_order_relaxed);
	if (m && m->p) {
		rg__p *p = m->p;
		if (p->polling && atomic_load_explicit(&rg__sched.gq_size, memory_order_relaxed) > 0) {
			/* Readied by a completion while older runnable tasks
			 * wait in the global queue (a run queue overflowed
			 * there): queue behind them.  Put locally, it would jump
			 * them, and a P whose polls keep its run queue full
			 * would serve the global queue one task per 61 ticks:
			 * hundreds of ms at the tail (echo, 1,000 connections,
			 * one P). */
			p->polled[p->npolled++] = t;
			if (p->npolled == (int)(sizeof p->polled / sizeof p->polled[0]))
				polled_flush(p);
			return;
		}
		if (next && !atomic_load_explicit(&p->preempt, memory_order_relaxed)) {
			atomic_store_explicit(&p->runnext_gen,
			                      atomic_load_explicit(&p->runnext_gen, memory_order_relaxed) + 1,
			                      memory_order_relaxed);
			rg__task *old;
			if (rg__sched.nprocs == 1) {
				/* one P: no thief, no idle P to wake, so no
				 * locked instruction (p1 ping-pong 143 -> 107
				 * ns a round trip, with runq_get's) */
				old = atomic_load_explicit(&p->runnext, memory_order_relaxed);
				atomic_store_explicit(&p->runnext, t, memory_order_relaxed);
				if (!old)
					return;
			} else {
				old = atomic_exchange_explicit(&p->runnext, t, memory_order_seq_cst);
				if (!old) {
					/* The common case (a hand-off): the
					 * seq_cst exchange orders the put before
					 * the loads of wake_if_idle_sc, no fence
					 * needed. */
					wake_if_idle_sc();
					return;
				}
			}
			t = old; /* the old runnext goes to the queue */
		}
		runq_put(p, t, false);
	} else {
		globrunq_put_batch(&t, 1);
	}
	wake_if_idle();
}

__attribute__((noinline)) void rg__ready(rg__task *t) { ready_on(rg__tls_m, t, true); }
__attribute__((noinline)) void rg__ready_tail(rg__task *t) { ready_on(rg__tls_m, t, false); }

void rg__ready_many(rg__task **ts, int n)
{
	if (n <= 0)
		return;
	rg__m *m = rg__m_get();
	if (!m || !m->p || m->p->polling) {
		for (int i = 0; i < n; i++)
			ready_on(m, ts[i], false);
		return;
	}
	rg__p *p = m->p;
	for (int i = 0; i < n; i++) {
		atomic_store_explicit(&ts[i]->state, RG__RUNNABLE, memory_order_relaxed);
		runq_put(p, ts[i], false);
	}
	wake_if_idle();
}

bool rg__wake(rg__task *t, uint64_t ticket)
{
	if (!rg__claim(t, ticket))
		return false;
	rg__ready(t);
	return true;
}

bool rg__can_spin(int iter)
{
	rg__m *m = rg__m_get();
	rg__p *p = m ? m->p : NULL;
	if (iter >= 4 || !p || rg__sched.nprocs <= 1)
		return false;
	if (rg__sched.nprocs <= atomic_load_explicit(&rg__sched.npidle, memory_order_relaxed) +
	                          atomic_load_explicit(&rg__sched.nmspinning, memory_order_relaxed) + 1)
		return false;
	return runq_empty(p);
}

/* --- task entry, exit, yield ------------------------------------------- */

static void post_exit(rg__m *m, rg__task *t, void *arg)
{
	rg__task_free(m->p, t);
}

/* Someone holds t through rg__task_pin (rg_cancel marking its slot): a
 * few atomic ops, or a foreign thread the OS preempted meanwhile. */
__attribute__((noinline, cold)) static void pin_wait(rg__task *t)
{
	for (unsigned i = 0; atomic_load_explicit(&t->pins, memory_order_acquire); i++)
		if (i < 1000)
			rg__cpu_relax();
		else
			sched_yield();
}

static void task_exit(rg__m *m, rg__task *t)
{
	/* Destructors may park (I/O, a sleep, a channel: and rg_cancel must
	 * still reach their calls), so the task may come back on another
	 * thread: read m again after them. */
	rg__tls_destroy(t);
	m = rg__m_get();
	/* No one may pin t from here on; whoever has, is done before t's
	 * record is freed (post_exit) and perhaps reused or unmapped. */
	atomic_store_explicit(&t->exiting, 1, memory_order_relaxed);
	if (__atomic_load_n(&rg__pin_membarrier, __ATOMIC_RELAXED))
		atomic_signal_fence(memory_order_seq_cst); /* the pinner's membarrier */
	else
		atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&t->pins, memory_order_acquire))
		pin_wait(t);
	if (m->p)
		counter_inc(&m->p->n_exited);
	if (t->is_main)
		rg__sched_stop(m->p);
	if (t->canary && *t->canary != RG_CANARY)
		rg__overflow_abort(t);
	m->post = post_exit;
	m->post_task = t;
	atomic_store_explicit(&t->state, RG__DEAD, memory_order_relaxed);
	/* Straight to the next local task when the fast path allows (as
	 * task_switch_out: it frees this record in its run_post), else to
	 * the scheduler loop.  Never resumes: no ASan fake stack to keep. */
	sw(m, &t->sp, NULL, fast_next(m));
	__builtin_unreachable();
}

void rg__task_entry(rg__task *t, rg__m *m)
{
#ifdef RG_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	run_post(m);
	t->fn(t->arg);
	task_exit(rg__m_get(), t);
}

/* A yielding task goes behind every task that waits to run: the local
 * queue's tail, or, while the global queue holds tasks, the global
 * queue's tail (Go's Gosched always takes the global queue).  Put locally
 * it would run again before the tasks that overflowed there: a task that
 * spawns 10,000 others and yields to let them start ran again after 256
 * of them (bench_sync's ctx_cancel then cancelled while most waiters were
 * still starting, as Go's does not).  Also the path of a safepoint stop
 * and of rg_preempt_point's yield, as Go's preemption takes Gosched's. */
static void post_yield(rg__m *m, rg__task *t, void *arg)
{
	atomic_store_explicit(&t->state, RG__RUNNABLE, memory_order_relaxed);
	/* Alone: the switch went to this P's loop (no next task), and
	 * nothing is queued here or globally, so the loop's next pick is t */
	bool alone = !m->cur && runq_empty(m->p);
	if (atomic_load_explicit(&rg__sched.gq_size, memory_order_relaxed) > 0) {
		globrunq_put_batch(&t, 1);
		alone = false;
	} else {
		runq_put(m->p, t, false);
	}
	/* The wake rule, as for any task made runnable (Go's goschedImpl
	 * calls wakep): this P may go on with a task that keeps it for long.
	 * Without the wake, a P about to sleep that had watched the runnext
	 * we just ran (has_work) saw it taken and slept, and t, queued a
	 * moment later, waited for the long task to end (yield_strand).
	 * Not for a task alone on its P: no task runs before it here, and
	 * a woken P would only spin and maybe steal it, the task's caches
	 * moving with it (a CPU-bound task's preemption every 10 ms woke
	 * the other P each time: 238 wake-ups in 3 s, now 1).  Work readied
	 * here later comes with its own wake. */
	if (rg__sched.nprocs > 1 && !alone)
		wake_if_idle();
}

void rg_yield(void)
{
	rg__m *m = rg__tls_m; /* at entry: nothing cached from before a park */
	rg__task *t = m ? m->cur : NULL;
	if (!t || !m->p) {
		sched_yield();
		return;
	}
	t->wait_reason = RG__WAIT_YIELD;
	task_switch_out(m, t, post_yield, NULL);
	t->wait_reason = RG__WAIT_NONE;
}

void rg_preempt_point(void)
{
	rg__m *m = rg__m_get();
	if (m && m->p && atomic_load_explicit(&m->p->preempt, memory_order_relaxed))
		rg_yield();
}

void rg__safepoint(void)
{
	if (atomic_load_explicit(&rg__sched.stw_pending, memory_order_relaxed)) {
		rg__m *m = rg__m_get();
		rg__task *t = m ? m->cur : NULL;
		if (t && m->p)
			rg__switch_to_g0(m, t, post_yield, NULL);
	}
}

int64_t rg_self(void)
{
	rg__task *t = rg__self();
	return t ? t->id : 0;
}

int rg_procs(void) { return rg__nprocs(); }

/* For tests, on a failure: one line per P on stderr (racy reads: the
 * state at about that moment), to tell a P asleep past its timers from
 * one that is busy or stuck. */
void rg__sched_debug_dump(void);
__attribute__((no_sanitize("thread"))) void rg__sched_debug_dump(void)
{
	rg__p **all = atomic_load(&rg__sched.flush_allp);
	if (!all)
		return;
	int64_t now = rg__mono();
	fprintf(stderr, "sched: npidle %d nmspinning %d gq %d stw_pending %d\n", (int)atomic_load(&rg__sched.npidle),
	        (int)atomic_load(&rg__sched.nmspinning), (int)atomic_load(&rg__sched.gq_size),
	        (int)atomic_load(&rg__sched.stw_pending));
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p = all[i];
		int64_t tn = atomic_load(&p->timer_next);
		fprintf(stderr,
		        "P%d: status %d idle_list %d spinning %d sleeping %d (since %+.3f ms, timeout %.3f ms) polling %d "
		        "schedtick %u runq %u runnext %d timers %d next %+.3f ms wakeups %llu\n",
		        i, (int)atomic_load(&p->status), (int)p->on_idle_list, (int)p->spinning,
		        (int)atomic_load(&p->sleeping), (double)(atomic_load(&p->sleep_from) - now) / 1e6,
		        (double)atomic_load(&p->sleep_timeout) / 1e6, (int)p->polling, (unsigned)atomic_load(&p->schedtick),
		        (unsigned)(atomic_load(&p->runq_tail) - atomic_load(&p->runq_head)), atomic_load(&p->runnext) != NULL,
		        p->ntimers, tn == INT64_MAX ? 0.0 : (double)(tn - now) / 1e6,
		        (unsigned long long)atomic_load(&p->n_wakeups));
	}
}

int rg_proc_id(void)
{
	rg__p *p = rg__getp();
	return p ? p->id : -1;
}

/* Task ids: a P takes them from the global counter RG_ID_BATCH at a time
 * (Go's goidcache).  One atomic per spawn on a shared line cost a cache
 * miss per spawn while another P spun reading its neighbours (bench_core
 * spawn_join_each on 2 Ps ran at half its 1-P speed). */
#define RG_ID_BATCH 64
static int64_t new_id(rg__p *p)
{
	if (!p)
		return atomic_fetch_add_explicit(&rg__sched.next_id, 1, memory_order_relaxed);
	if (p->id_next == p->id_end) {
		p->id_next = atomic_fetch_add_explicit(&rg__sched.next_id, RG_ID_BATCH, memory_order_relaxed);
		p->id_end = p->id_next + RG_ID_BATCH;
	}
	return p->id_next++;
}

/* The run ends (main returned, or could not start): no more spawns, and
 * every P but `self` is woken to see `stopping`. */
void rg__sched_stop(rg__p *self)
{
	atomic_store(&rg__sched.accepting, 0);
	atomic_store(&rg__sched.stopping, 1);
	for (int i = 0; i < rg__sched.nprocs; i++)
		if (rg__sched.allp[i] != self)
			rg__waiter_eventfd_wake(rg__sched.allp[i]);
}

int64_t rg__spawn(rg_task_fn fn, void *arg, const rg_task_opts *opts, bool is_main)
{
	if (!fn)
		return -EINVAL;
	size_t ss = 0;
	if (opts && opts->stack_size) {
		if (opts->stack_size < 16 * 1024 || opts->stack_size > ((size_t)1 << 30))
			return -EINVAL;
		ss = opts->stack_size;
	}
	rg__m *m = rg__m_get();
	rg__p *p = m ? m->p : NULL;
	if (!rg__pless_enter(p)) /* (a thread without a P: rg_run's start, end) */
		return -ESHUTDOWN;
	size_t def = rg__stack_default();
	if (!ss)
		ss = def;
	else
		ss = (ss + 4095) & ~(size_t)4095;
	rg__task *t = rg__task_alloc(p, ss);
	if (!t) {
		rg__pless_leave(p);
		return -ENOMEM;
	}
	t->fn = fn;
	t->arg = arg;
	__atomic_store_n(&t->id, new_id(p), __ATOMIC_RELAXED); /* rg__task_pin reads it from any thread */
	atomic_store_explicit(&t->exiting, 0, memory_order_release); /* pinnable, under the new id */
	if (opts && opts->name) {
		strncpy(t->name, opts->name, RG_NAME_MAX - 1);
		t->name[RG_NAME_MAX - 1] = 0;
	}
	t->is_main = is_main;
	rg__ctx_init(t);
	/* Publishes the record and the context: a collection walks the
	 * tasks (rg__tasks_each, an acquire load of state) and scans from
	 * t->sp, and a spawner without a P (sysmon firing a Context's
	 * deadline for a P stuck in a long collection, which starts its
	 * after-funcs' tasks) runs while the world is stopped.  ready_on's
	 * relaxed store follows with the same value. */
	atomic_store_explicit(&t->state, RG__RUNNABLE, memory_order_release);
	if (p)
		counter_inc(&p->n_spawned);
	else
		atomic_fetch_add_explicit(&rg__sched.foreign_spawned, 1, memory_order_relaxed);
	int64_t id = t->id;
	ready_on(m, t, true);
	rg__pless_leave(p);
	return id;
}

int64_t rg_go_opts(rg_task_fn fn, void *arg, const rg_task_opts *opts)
{
	return rg__spawn(fn, arg, opts, false);
}

int64_t rg_go(rg_task_fn fn, void *arg) { return rg__spawn(fn, arg, NULL, false); }

/* --- blocking sections ------------------------------------------------ */

void rg__blocking_submit(rg__task *t);

static void post_to_pool(rg__m *m, rg__task *t, void *arg)
{
	rg__blocking_submit(t);
}

static void post_from_pool(rg__m *m, rg__task *t, void *arg)
{
	/* t->sp is saved: publish that the frozen range ended */
	atomic_store_explicit(&t->blocking_sp, NULL, memory_order_relaxed);
	atomic_store_explicit(&t->in_blocking, 0, memory_order_release);
	ready_on(m, t, false);
}

/*
 * The collector scans a task in rg_blocking from the sp its switch to the
 * pool saved (rg__task_stack_range), but fn's frames overwrite the saved
 * context there: whatever lived only in registers at the switch is gone
 * from the scan while fn runs.  Two things did: the argument (fn's own
 * copies sit in its frames and registers on the pool thread, not scanned)
 * and a pointer the caller kept in a callee-saved register rg_blocking
 * did not use itself (left to the switch to save).  An object held only
 * by either was freed and reused while fn still used it
 * (tests/gc/test_adversarial3.c: every object, every run).  So the frame
 * of rg_blocking, which fn's do not reach, holds both: a copy of arg read
 * again after fn, and every callee-saved register, spilled by
 * __builtin_unwind_init in the prologue (as Boehm GC does for the same
 * reason).
 */
intptr_t rg_blocking(intptr_t (*fn)(void *), void *arg)
{
	if (!fn)
		return -EINVAL;
	rg__m *m = rg__m_get();
	rg__task *t = m ? m->cur : NULL;
	if (!t || !m->p)
		return fn(arg);
	if (__builtin_expect(!rg__blocking_ready(), 0)) {
		/* no pool thread can be made: here, blocking the P, rather
		 * than not at all */
		static _Atomic bool said;
		if (!atomic_exchange(&said, true))
			rg__log("rg_blocking: no blocking-pool thread can be started: running on the P's thread");
		return fn(arg);
	}
	__builtin_unwind_init();
	void *volatile keep_arg = arg;
	atomic_fetch_add_explicit(&rg__sched.blocking_calls, 1, memory_order_relaxed);
	t->wait_reason = RG__WAIT_BLOCKING;
	atomic_store_explicit(&t->blocking_sp, NULL, memory_order_relaxed);
	atomic_store_explicit(&t->in_blocking, 1, memory_order_release);
	m = task_switch_out(m, t, post_to_pool, NULL);
	/* now on a blocking-pool thread */
	t->wait_reason = RG__WAIT_NONE;
	intptr_t r = fn(arg);
	__asm__ volatile("" : : "m"(keep_arg)); /* live, in memory, until here */
	t->wait_reason = RG__WAIT_BLOCKING;
	m = rg__switch_to_g0(m, t, post_from_pool, NULL);
	/* back on a P */
	t->wait_reason = RG__WAIT_NONE;
	return r;
}

/* A pool thread's loop body: run t until it leaves the pool. */
rg__m *rg__blocking_run(rg__m *m, rg__task *t)
{
	atomic_store_explicit(&t->blocking_sp, t->sp, memory_order_release);
	m->cur = t;
	atomic_store_explicit(&t->state, RG__RUNNING, memory_order_relaxed);
	sw(m, &m->g0_sp, &m->g0_fake, t);
	run_post(m);
	return m;
}

/* --- misc ------------------------------------------------------------- */

void *rg__p_slot(rg__p *p, enum rg__slot s) { return p->slot[s]; }

void rg__p_slot_set(rg__p *p, enum rg__slot s, void *v, void (*dtor)(void *))
{
	p->slot[s] = v;
	p->slot_dtor[s] = dtor;
}

static const char *const wait_names[RG__WAIT_COUNT] = {
	"none", "sleep", "yield", "io", "chan send", "chan receive", "select",
	"mutex", "rwmutex", "cond", "semaphore", "waitgroup", "context", "gc",
	"blocking", "other",
};

const char *rg__wait_name(int r)
{
	return r >= 0 && r < RG__WAIT_COUNT ? wait_names[r] : "?";
}

void rg_sched_stats_get(rg_sched_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	out->tasks_spawned = atomic_load(&rg__sched.foreign_spawned);
	/* Any thread may ask, also while rg_run frees the Ps: see them as
	 * rg__ring_flush_all does, through flush_allp, counted in flushers,
	 * which rg_run waits out before it frees them.  (Read through allp,
	 * a monitoring thread read Ps that rg_run had freed: ASan.) */
	atomic_fetch_add(&rg__sched.flushers, 1);
	rg__p **allp = atomic_load(&rg__sched.flush_allp);
	for (int i = 0; allp && i < rg__sched.nprocs; i++) {
		rg__p *p = allp[i];
		out->tasks_spawned += atomic_load_explicit(&p->n_spawned, memory_order_relaxed);
		out->tasks_exited += atomic_load_explicit(&p->n_exited, memory_order_relaxed);
		out->steals += atomic_load_explicit(&p->n_steals, memory_order_relaxed);
		out->wakeups += atomic_load_explicit(&p->n_wakeups, memory_order_relaxed);
		out->timer_steals += atomic_load_explicit(&p->n_timer_steals, memory_order_relaxed);
	}
	atomic_fetch_sub(&rg__sched.flushers, 1);
	out->preempt_requests = atomic_load(&rg__sched.preempt_requests);
	out->blocking_calls = atomic_load(&rg__sched.blocking_calls);
	rg__stack_stats(&out->stacks_guarded, &out->stacks_canary);
}
