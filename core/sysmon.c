/*
 * core/sysmon.c — the system monitor thread (Go's sysmon), without a P.
 *
 * Every few milliseconds it looks at each P: a P whose scheduling tick has
 * not moved for more than 10 ms while running a task gets its preempt flag
 * set (rg_yield and rg_preempt_point honour it; ready() stops handing the
 * P's runnext to readied tasks) and the event is counted.  ringo never
 * switches a task by signal.  Every 500 ms it returns the pages of pooled
 * stacks nobody used since the last pass to the OS (core/stack.c).
 */
#include <errno.h>

#include "core/sched_int.h"

#define PREEMPT_NS (10 * 1000 * 1000)

/* stop and the condition variable are guarded by lock. */
static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, started;
} sm = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void check_p(rg__p *p, int64_t now)
{
	uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
	int status = atomic_load_explicit(&p->status, memory_order_relaxed);
	if (status != RG__P_RUNNING || tick != p->sysmon_tick) {
		p->sysmon_tick = tick;
		p->sysmon_when = now;
		return;
	}
	if (now - p->sysmon_when > PREEMPT_NS && !atomic_load(&p->preempt)) {
		atomic_store(&p->preempt, 1);
		atomic_fetch_add(&rg__sched.preempt_requests, 1);
	}
}

static void *sysmon_main(void *arg)
{
	int64_t last_scavenge = rg__mono();
	pthread_mutex_lock(&sm.lock);
	while (!sm.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 2 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&sm.cond, &sm.lock, &ts);
		if (sm.stop)
			break;
		pthread_mutex_unlock(&sm.lock);
		int64_t now = rg__mono();
		for (int i = 0; i < rg__sched.nprocs; i++)
			check_p(rg__sched.allp[i], now);
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
