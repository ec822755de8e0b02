/*
 * core/sysmon.c — the system monitor thread (Go's sysmon), without a P.
 *
 * Every few milliseconds it looks at each P: a P whose scheduling tick has
 * not moved for more than 10 ms while running a task gets its preempt flag
 * set (rg_yield and rg_preempt_point honour it; ready() stops handing the
 * P's runnext to readied tasks) and the event is counted.  ringo never
 * switches a task by signal.  Every 500 ms it returns the pages of pooled
 * stacks nobody used since the last pass to the OS (core/stack.c).
 *
 * Pacing, as Go's sysmon: it looks every 2 ms while some P runs one task
 * across two looks (a task that may need flagging), and otherwise backs
 * off, doubling its sleep after 5 looks with nothing to watch, up to
 * 10 ms.  A server whose Ps run short tasks or sleep in their rings then
 * sees 100 sysmon wake-ups a second, not 500: each one is a futex timeout
 * and, on a machine where the runtime is pinned to one CPU, a preemption
 * of that CPU's P thread.  The price: a task that starts running long
 * while sysmon sleeps 10 ms is flagged after 10-20 ms instead of 10-12.
 *
 * It fires no timer while the world is stopped or stopping for the
 * collector (core/sched.c, "stop the world"); a restart that follows such
 * a skip wakes it (rg__sysmon_kick).
 */
#include <errno.h>

#include "core/sched_int.h"

#define PREEMPT_NS (10 * 1000 * 1000)
#define DELAY_MIN_NS (2 * 1000 * 1000)
#define DELAY_MAX_NS (10 * 1000 * 1000)
#define IDLE_LOOKS 5 /* looks with nothing to watch before backing off */

/* stop, kick and the condition variable are guarded by lock. */
static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, kick, started;
} sm = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* True if p runs the task it ran at the last look (one to keep watching). */
static bool check_p(rg__p *p, int64_t now)
{
	uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
	int status = atomic_load_explicit(&p->status, memory_order_relaxed);
	if (status != RG__P_RUNNING || tick != p->sysmon_tick) {
		p->sysmon_tick = tick;
		p->sysmon_when = now;
		return false;
	}
	if (now - p->sysmon_when > PREEMPT_NS && !atomic_load(&p->preempt)) {
		atomic_store(&p->preempt, 1);
		atomic_fetch_add(&rg__sched.preempt_requests, 1);
	}
	/* the P has not scheduled since the last look: its due timers would
	 * wait for the task it runs (timer.c: rg__timers_run_other).  What
	 * they ready or spawn goes to the global queue (sysmon has no P),
	 * which a P with a full run queue takes from only every 61st tick:
	 * flag the P, as for a long task, so that its next switch takes the
	 * global queue first.  Without it, a deadline Context's after-func
	 * waited 15-20 ms behind 50 tasks of 200 us after sysmon had fired
	 * its timer for a P the OS held (sync_ctx_timer busy_p under
	 * scripts/stress.sh: 2-5 failures in 30 runs).
	 * Not while the world is stopped or stopping: the P may be the
	 * collector's, and the functions of runtime timers (Context
	 * deadlines) change what it walks (rg__stw_timers_begin). */
	if (atomic_load_explicit(&p->timer_next, memory_order_relaxed) <= now &&
	    !atomic_load(&rg__sched.stopping) && rg__stw_timers_begin()) {
		int fired = rg__timers_run_other(p, now);
		rg__stw_timers_end();
		if (fired > 0)
			atomic_store(&p->preempt, 1);
	}
	return true;
}

static void *sysmon_main(void *arg)
{
	int64_t last_scavenge = rg__mono();
	int64_t delay = DELAY_MIN_NS;
	int idle = 0;
	pthread_mutex_lock(&sm.lock);
	while (!sm.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += delay;
		while (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!sm.kick)
			pthread_cond_timedwait(&sm.cond, &sm.lock, &ts);
		sm.kick = false;
		if (sm.stop)
			break;
		pthread_mutex_unlock(&sm.lock);
		int64_t now = rg__mono();
		bool watch = false;
		for (int i = 0; i < rg__sched.nprocs; i++)
			watch |= check_p(rg__sched.allp[i], now);
		if (watch) {
			delay = DELAY_MIN_NS;
			idle = 0;
		} else if (++idle > IDLE_LOOKS && delay < DELAY_MAX_NS) {
			delay = delay * 2 < DELAY_MAX_NS ? delay * 2 : DELAY_MAX_NS;
		}
		if (now - last_scavenge > 500 * 1000 * 1000) {
			rg__stack_scavenge();
			last_scavenge = now;
		}
		pthread_mutex_lock(&sm.lock);
	}
	pthread_mutex_unlock(&sm.lock);
	return NULL;
}

int rg__sysmon_start(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sm.cond, &ca);
	pthread_condattr_destroy(&ca);
	sm.stop = false;
	int r = pthread_create(&sm.thread, NULL, sysmon_main, NULL);
	sm.started = r == 0;
	return -r;
}

/* From rg__stw_start (a task: sysmon runs from before the Ps start until
 * after they are joined).  A kick that comes while sysmon looks is kept
 * for its next wait, which it then skips: that look may have passed the
 * P whose timers it left to the stop. */
void rg__sysmon_kick(void)
{
	pthread_mutex_lock(&sm.lock);
	sm.kick = true;
	pthread_cond_signal(&sm.cond);
	pthread_mutex_unlock(&sm.lock);
}

void rg__sysmon_stop(void)
{
	if (!sm.started)
		return;
	pthread_mutex_lock(&sm.lock);
	sm.stop = true;
	pthread_cond_signal(&sm.cond);
	pthread_mutex_unlock(&sm.lock);
	pthread_join(sm.thread, NULL);
	pthread_cond_destroy(&sm.cond);
	sm.started = false;
}
