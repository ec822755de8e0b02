/*
 * core/timer.c — per-P timers: a 4-ary min-heap of parked tasks' deadlines.
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
 */
#include <errno.h>

#include "core/sched_int.h"

#define ARITY 4

static inline void set(rg__p *p, int i, rg__timer e)
{
	p->timers[i] = e;
	e.t->timer_idx = i;
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
	rg__task *t = p->timers[i].t;
	t->timer_idx = -1;
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

void rg__timer_add(rg__p *p, rg__task *t, int64_t when)
{
	rg__spin_lock(&p->timer_lock);
	if (p->ntimers == p->timers_cap) {
		int cap = p->timers_cap ? p->timers_cap * 2 : 64;
		rg__timer *n = rg__realloc(p->timers, (size_t)cap * sizeof *n);
		if (!n) /* no memory for the heap: treat as already due */
			rg__fatal("out of memory for timers");
		p->timers = n;
		p->timers_cap = cap;
	}
	t->timer_p = p;
	t->when = when;
	int i = p->ntimers++;
	p->timers[i] = (rg__timer){ when, t };
	t->timer_idx = i;
	sift_up(p, i);
	update_next(p);
	rg__spin_unlock(&p->timer_lock);
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

int rg__timers_run(rg__p *p, int64_t now)
{
	int fired = 0;
	for (;;) {
		rg__task *due[64];
		int n = 0;
		int due_n = 0;
		rg__spin_lock(&p->timer_lock);
		while (due_n < 64 && p->ntimers && p->timers[0].when <= now) {
			rg__task *t = p->timers[0].t;
			due_n++;
			remove_at(p, 0);
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
		fired += n;
		if (due_n < 64)
			return fired;
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
