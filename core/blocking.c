/*
 * core/blocking.c — the blocking pool: threads that run rg_blocking
 * sections, so that code which blocks its thread never blocks a P.
 *
 * Go hands the P to another M (entersyscallblock).  A ringo P cannot change
 * thread: its ring is SINGLE_ISSUER|DEFER_TASKRUN, bound to the thread that
 * made it.  So the task moves instead: it leaves its P (which goes on with
 * its other tasks), a pool thread switches to it and runs fn, and when fn
 * returns the task is readied onto the global queue and picked up by
 * whichever P gets to it first.  Threads are made on demand, when no idle
 * one is left, and live until rg_run returns (which waits for sections
 * still running).
 */
#include <errno.h>
#include <string.h>

#include "core/sched_int.h"

#ifdef RG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Guarded by bp.lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	rg__task *head, *tail;   /* tasks waiting for a thread */
	int queued;              /* length of that queue */
	int idle;                /* threads waiting for a task */
	int nthreads;
	rg__m *all;              /* every pool thread's M */
	bool stop;
} bp = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* A pool thread exists this run (never fewer after: they live until
 * rg_run's end); read without bp.lock by rg__blocking_ready. */
static _Atomic bool bp_started;

void rg__m_init_thread(rg__m *m);
void rg__m_fini_thread(rg__m *m);

static void *worker_main(void *arg)
{
	rg__m *m = arg;
	rg__m_init_thread(m);
	rg__topo_unpin(); /* not its creator P's CPU alone */
	pthread_mutex_lock(&bp.lock);
	for (;;) {
		while (!bp.head && !bp.stop) {
			bp.idle++;
			rg__cond_wait_bounded(&bp.cond, &bp.lock, 100);
			bp.idle--;
		}
		rg__task *t = bp.head;
		if (!t)
			break;
		bp.head = t->next;
		bp.queued--;
		if (!bp.head)
			bp.tail = NULL;
		pthread_mutex_unlock(&bp.lock);
		m = rg__blocking_run(m, t);
		pthread_mutex_lock(&bp.lock);
	}
	pthread_mutex_unlock(&bp.lock);
	rg__m_fini_thread(m);
	return NULL;
}

/* bp.lock held: one more pool thread; false if none could be made. */
static bool worker_start(void)
{
	rg__m *m = rg__calloc(1, sizeof *m);
	if (!m || pthread_create(&m->thread, NULL, worker_main, m) != 0) {
		rg__free(m);
		return false;
	}
	m->next = bp.all;
	bp.all = m;
	bp.nthreads++;
	atomic_store_explicit(&bp_started, true, memory_order_release);
	return true;
}

/* Before a task leaves its P for the pool: there is a pool thread, or one
 * could be made now; false: none can be (out of threads or memory), and
 * rg_blocking runs fn where it is, on the P's thread.  Past this point the
 * submit never finds the pool empty: it aborted ("cannot start a
 * blocking-pool thread") with the task's context already handed over
 * (found by the core review). */
bool rg__blocking_ready(void)
{
	if (atomic_load_explicit(&bp_started, memory_order_acquire))
		return true;
	pthread_mutex_lock(&bp.lock);
	bool ok = bp.nthreads > 0 || worker_start();
	pthread_mutex_unlock(&bp.lock);
	return ok;
}

/* Post-switch on the P: hand t (whose context is saved) to the pool. */
void rg__blocking_submit(rg__task *t)
{
	pthread_mutex_lock(&bp.lock);
	t->next = NULL;
	if (bp.tail)
		bp.tail->next = t;
	else
		bp.head = t;
	bp.tail = t;
	bp.queued++;
	/* Every queued task needs a thread: a signalled idle thread has not
	 * taken its task yet, so compare with the queue, not with zero. */
	if (bp.queued > bp.idle) {
		/* if none can be made, an existing thread (rg__blocking_ready
		 * saw to one) will get to it */
		(void)worker_start();
	} else {
		pthread_cond_signal(&bp.cond);
	}
	pthread_mutex_unlock(&bp.lock);
}

int rg__blocking_init(void)
{
	bp.stop = false;
	bp.head = bp.tail = NULL;
	bp.queued = 0;
	bp.all = NULL;
	bp.idle = bp.nthreads = 0;
	atomic_store_explicit(&bp_started, false, memory_order_relaxed);
	return 0;
}

void rg__blocking_fini(void)
{
	pthread_mutex_lock(&bp.lock);
	bp.stop = true;
	bp.head = bp.tail = NULL; /* tasks never picked up are discarded */
	bp.queued = 0;
	pthread_cond_broadcast(&bp.cond);
	rg__m *all = bp.all;
	bp.all = NULL;
	pthread_mutex_unlock(&bp.lock);
	while (all) {
		rg__m *n = all->next;
		pthread_join(all->thread, NULL);
		rg__free(all);
		all = n;
	}
}
