/*
 * core/timer.c — per-P timers: a 4-ary min-heap of parked tasks' deadlines
 * and of runtime timers (rg__rtimer: a function, for sync/'s deadline
 * Contexts).
 *
 * A task has at most one timer (the deadline of its current park), kept in
 * the heap of the P it parked on.  The owner P adds entries and fires them;
 * a task woken before its deadline deletes its own entry, possibly from
 * another P: hence the small per-P spinlock (uncontended in practice).
 * Firing claims the park with the ticket recorded at add time, so a timer
 * that loses to a waker does nothing; it claims under the lock, which the
 * woken task takes to delete its entry, so a task that a waker won is not
 * touched by its timer once it has passed rg__timer_del.  The P's idle
 * wait uses the heap's first deadline as its timeout: a sleep costs no
 * syscall of its own.
 *
 * A runtime timer is settled by its removal from the heap, under the
 * lock: by firing (its function runs after the unlock), by rg__rtimer_del
 * (it never runs), or by rg_run's end (its drop function runs) — exactly
 * one of the three.  Its owner keeps the record valid until then (sync/:
 * the timer holds a reference on its Context).
 */
#include <errno.h>
#include <sched.h>

#include "core/sched_int.h"

#define ARITY 4

#define RTIMER_TAG ((uintptr_t)1)

static inline bool is_rtimer(uintptr_t ref) { return ref & RTIMER_TAG; }
static inline rg__task *ref_task(uintptr_t ref) { return (rg__task *)ref; }
static inline rg__rtimer *ref_rtimer(uintptr_t ref) { return (rg__rtimer *)(ref & ~RTIMER_TAG); }

static inline void set_idx(uintptr_t ref, int i)
{
	if (is_rtimer(ref))
		ref_rtimer(ref)->idx = i;
	else
		ref_task(ref)->timer_idx = i;
}

static inline void set(rg__p *p, int i, rg__timer e)
{
	p->timers[i] = e;
	set_idx(e.ref, i);
}

static void sift_up(rg__p *p, int i)
{
	rg__timer e = p->timers[i];
	while (i > 0) {
		int parent = (i - 1) / ARITY;
		if (p->timers[parent].when <= e.when)
			break;
		set(p, i, p->timers[parent]);
		i = parent;
	}
	set(p, i, e);
}

static void sift_down(rg__p *p, int i)
{
	rg__timer e = p->timers[i];
	int n = p->ntimers;
	for (;;) {
		int c = i * ARITY + 1;
		if (c >= n)
			break;
		int best = c;
		for (int k = c + 1; k < c + ARITY && k < n; k++)
			if (p->timers[k].when < p->timers[best].when)
				best = k;
		if (p->timers[best].when >= e.when)
			break;
		set(p, i, p->timers[best]);
		i = best;
	}
	set(p, i, e);
}

static void update_next(rg__p *p)
{
	atomic_store_explicit(&p->timer_next, p->ntimers ? p->timers[0].when : INT64_MAX,
	                      memory_order_relaxed);
}

/* Lock held. */
static void remove_at(rg__p *p, int i)
{
	set_idx(p->timers[i].ref, -1);
	int last = --p->ntimers;
	if (i != last) {
		set(p, i, p->timers[last]);
		if (i > 0 && p->timers[i].when < p->timers[(i - 1) / ARITY].when)
			sift_up(p, i);
		else
			sift_down(p, i);
	}
	update_next(p);
}

/* Lock held.  false: no memory to grow the heap. */
static bool push(rg__p *p, int64_t when, uintptr_t ref)
{
	if (p->ntimers == p->timers_cap) {
		int cap = p->timers_cap ? p->timers_cap * 2 : 64;
		rg__timer *n = rg__realloc(p->timers, (size_t)cap * sizeof *n);
		if (!n)
			return false;
		p->timers = n;
		p->timers_cap = cap;
	}
	int i = p->ntimers++;
	set(p, i, (rg__timer){ when, ref });
	sift_up(p, i);
	update_next(p);
	return true;
}

void rg__timer_add(rg__p *p, rg__task *t, int64_t when)
{
	rg__spin_lock(&p->timer_lock);
	t->timer_p = p;
	t->when = when;
	if (!push(p, when, (uintptr_t)t))
		rg__fatal("out of memory for timers");
	/* t is still running: until its park's unlock callback has run (the
	 * owner clears this in post_park), only the owner, which runs that
	 * callback before anything else, may fire its timer */
	atomic_store_explicit(&p->timer_parking, t, memory_order_relaxed);
	bool first = t->timer_idx == 0;
	rg__spin_unlock(&p->timer_lock);
	if (first)
		rg__timer_added(p, when);
}

void rg__timer_del(rg__task *t)
{
	rg__p *p = t->timer_p;
	if (!p)
		return;
	rg__spin_lock(&p->timer_lock);
	if (t->timer_idx >= 0)
		remove_at(p, t->timer_idx);
	t->timer_p = NULL;
	rg__spin_unlock(&p->timer_lock);
}

/* Fires the due entries in deadline order, a runtime timer's function
 * included: a batch ends at a runtime timer, whose function runs (after
 * the unlock) before any later entry is claimed.  Claiming a task's
 * timeout first let a stall that made both due (a P or the machine held
 * for a while) time out a receive on a deadline Context's done channel
 * although the Context's earlier deadline would have closed it
 * (tests/sync/test_ctx_timer_order.c). */
static int timers_run(rg__p *p, int64_t now, bool other)
{
	int fired = 0;
	for (;;) {
		rg__task *due[64];
		rg__rtimer *fn = NULL;
		int n = 0;
		int due_n = 0;
		rg__spin_lock(&p->timer_lock);
		if (other && atomic_load_explicit(&p->timer_parking, memory_order_acquire)) {
			rg__spin_unlock(&p->timer_lock);
			return fired;
		}
		while (due_n < 64 && p->ntimers && p->timers[0].when <= now) {
			uintptr_t ref = p->timers[0].ref;
			due_n++;
			remove_at(p, 0);
			if (is_rtimer(ref)) {
				fn = ref_rtimer(ref); /* settled: ours to run */
				break;
			}
			rg__task *t = ref_task(ref);
			/* Claimed under the lock: a task another waker won
			 * may run, exit and be freed as soon as we let go of
			 * it, and it lets go of us in rg__timer_del, which
			 * takes this lock (its entry gone, timer_p still set).
			 * Claiming after the unlock wrote to freed tasks:
			 * sync_claim under TSan, a Context's timer task
			 * woken by its cancel while its sleep fired. */
			if (rg__claim_timeout(t, t->timer_ticket))
				due[n++] = t;
		}
		rg__spin_unlock(&p->timer_lock);
		for (int i = 0; i < n; i++)
			rg__ready_tail(due[i]); /* keep deadline order */
		if (fn)
			fn->fn(fn);
		fired += n + (fn != NULL);
		if (due_n < 64 && !fn)
			return fired;
	}
}

int rg__timers_run(rg__p *p, int64_t now) { return timers_run(p, now, false); }

/* A P that runs one task for long (no scheduling point: a CPU-bound
 * loop) fires none of its timers meanwhile, and a task parked there with
 * a deadline waited for it while other Ps idled (test_select_adversarial:
 * timer_hog, a 2 ms sleep woke 300 ms late).  sysmon fires them: due
 * tasks go to the global queue, where an idle P is woken for them.  A
 * timer may be fired by a thread other than its P's only once its task's
 * context is saved and its park's unlock callback is done with the
 * records on its stack (core.h: a waker reaches a task only after its
 * switch), hence timer_parking. */
int rg__timers_run_other(rg__p *p, int64_t now) { return timers_run(p, now, true); }

int rg__rtimer_add(rg__rtimer *tm, int64_t when, void (*fn)(rg__rtimer *tm), void (*drop)(rg__rtimer *tm))
{
	tm->fn = fn;
	tm->drop = drop;
	tm->idx = -1;
	rg__p *own = rg__getp();
	rg__p *p = own;
	if (!rg__pless_enter(own))
		return -ESHUTDOWN;
	if (!own) {
		/* the Ps are set up a little after `accepting` (rg_run) */
		rg__p **all;
		while (!(all = atomic_load_explicit(&rg__sched.flush_allp, memory_order_acquire))) {
			if (!atomic_load(&rg__sched.accepting)) {
				rg__pless_leave(own);
				return -ESHUTDOWN;
			}
			sched_yield();
		}
		p = all[0];
	}
	rg__spin_lock(&p->timer_lock);
	bool ok = push(p, when, (uintptr_t)tm | RTIMER_TAG);
	tm->p = ok ? p : NULL;
	bool first = ok && tm->idx == 0;
	rg__spin_unlock(&p->timer_lock);
	/* another P's idle wait was armed with its earlier first deadline */
	if (first && !own)
		rg__sched.waiter->wake(p);
	rg__pless_leave(own);
	return ok ? 0 : -ENOMEM;
}

bool rg__rtimer_del(rg__rtimer *tm)
{
	rg__p *p = tm->p;
	if (!p)
		return false;
	rg__spin_lock(&p->timer_lock);
	bool removed = tm->idx >= 0;
	if (removed)
		remove_at(p, tm->idx);
	rg__spin_unlock(&p->timer_lock);
	return removed;
}

/* Every P has joined and no runtime timer can be added any more
 * (`accepting` is clear): the runtime timers move to the end of the
 * array, out of the heap, which is rebuilt from the tasks' entries, and
 * their drop functions run unlocked (they take their owners' locks, which
 * rg__rtimer_del is called under).  A delete racing this one finds them
 * removed. */
void rg__timers_drop(rg__p *p)
{
	rg__spin_lock(&p->timer_lock);
	int n = p->ntimers, keep = 0;
	for (int i = 0; i < n; i++) {
		rg__timer e = p->timers[i];
		if (is_rtimer(e.ref)) {
			ref_rtimer(e.ref)->idx = -1;
			continue;
		}
		p->timers[i] = p->timers[keep];
		p->timers[keep++] = e;
	}
	p->ntimers = keep;
	for (int i = 0; i < keep; i++)
		set_idx(p->timers[i].ref, i);
	for (int i = keep > 1 ? (keep - 2) / ARITY : -1; i >= 0; i--)
		sift_down(p, i);
	update_next(p);
	rg__spin_unlock(&p->timer_lock);
	for (int i = keep; i < n; i++) {
		rg__rtimer *tm = ref_rtimer(p->timers[i].ref);
		tm->drop(tm);
	}
}

int64_t rg__timer_next(rg__p *p)
{
	return atomic_load_explicit(&p->timer_next, memory_order_relaxed);
}

int64_t rg_now(void) { return rg__mono(); }

int rg_sleep_until(int64_t deadline)
{
	if (deadline < 0)
		return -EINVAL;
	rg__m *m = rg__m_get();
	if (!m || !m->cur || !m->p) {
		/* not on a P (blocking pool, foreign thread): sleep the thread */
		struct timespec ts = { deadline / 1000000000, deadline % 1000000000 };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		return 0;
	}
	if (deadline <= rg__mono())
		return 0;
	int r = rg__park(RG__WAIT_SLEEP, deadline, NULL, NULL);
	return r == -ETIMEDOUT ? 0 : r;
}

int rg_sleep(int64_t ns)
{
	if (ns < 0)
		return -EINVAL;
	if (ns == 0)
		return 0;
	/* now + ns overflowed for durations near INT64_MAX (signed overflow:
	 * in practice a negative deadline, and -EINVAL at once); clamp, as
	 * rg_ctx_with_timeout does: INT64_MAX is a deadline that never comes */
	int64_t now = rg__mono();
	return rg_sleep_until(ns > INT64_MAX - now ? INT64_MAX : now + ns);
}
