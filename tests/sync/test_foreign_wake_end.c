/* A thread of the program's own wakes a parked task while rg_run ends.
 *
 * The Ps are the runtime's, the program's threads are not: a pthread may
 * send on a channel, unlock a Mutex, Done a WaitGroup or release a
 * semaphore at any time while rg_run runs (sync.h: only a call that would
 * wait is refused there), and so wake a task parked on it.  main may
 * return meanwhile; rg_run then discards that task, and before it returns
 * it unmaps every task stack, the task's record with it (core/run.c:
 * rg__stacks_fini).  Nothing waited for a waker that had already claimed
 * the task: its rg__ready then wrote the record (t->state) in unmapped
 * memory: SIGSEGV.  The blocking pool is waited for (rg__blocking_fini),
 * a Context's cancel too (ctx_cancelling), a thread's spawn too
 * (pless_spawners); a thread's wake was not.
 *
 * The window (the waker preempted between its claim and its ready) is
 * held open with ld --wrap on rg__ready: the waker's call begins while
 * main still runs, and its ready waits until rg_run has returned (at most
 * 300 ms: with the fix rg_run waits for it instead).  Each primitive runs
 * in a child process, so a crash is reported per case. */
// ctest-timeout: 60
// ctest-link: -Wl,--wrap=rg__ready
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

struct rg__task;
void __real_rg__ready(struct rg__task *t);

static _Atomic int main_done, run_over, stalled, parked;
static __thread int stall_me;

void __wrap_rg__ready(struct rg__task *t)
{
	if (stall_me && atomic_load(&main_done) && !atomic_exchange(&stalled, 1))
		for (int k = 0; k < 300 && !atomic_load(&run_over); k++)
			usleep(1000);
	__real_rg__ready(t);
}

static int g_case;
static rg_chan *ch;
static rg_mutex mu = RG_MUTEX_INIT;
static rg_waitgroup wg = RG_WAITGROUP_INIT;
static rg_sema sem;

static void waiter(void *arg)
{
	(void)arg;
	long v;
	bool ok;
	atomic_store(&parked, 1);
	switch (g_case) {
	case 0:
		rg_chan_recv(ch, &v, &ok, -1);
		break;
	case 1:
		rg_mutex_lock(&mu);
		rg_mutex_unlock(&mu);
		break;
	case 2:
		rg_waitgroup_wait(&wg, -1);
		break;
	case 3:
		rg_sema_acquire(&sem, 1, -1);
		break;
	}
}

static int main_fn(void *arg)
{
	(void)arg;
	CHECK(rg_go(waiter, NULL) > 0);
	while (!atomic_load(&parked))
		rg_sleep(MS);
	rg_sleep(5 * MS); /* parked for good */
	atomic_store(&main_done, 1);
	rg_sleep(5 * MS); /* the waker has claimed it, and is held in its ready */
	return 0;
}

static void *waker(void *arg)
{
	(void)arg;
	stall_me = 1;
	while (!atomic_load(&main_done))
		sched_yield();
	long v = 7;
	switch (g_case) {
	case 0:
		CHECK_EQ(rg_chan_send(ch, &v, 0), 0); /* a hand-off: no wait */
		break;
	case 1:
		rg_mutex_unlock(&mu);
		break;
	case 2:
		rg_waitgroup_done(&wg);
		break;
	case 3:
		rg_sema_release(&sem, 1);
		break;
	}
	return NULL;
}

static void child(int c)
{
	g_case = c;
	ch = rg_chan_make(sizeof(long), 0);
	rg_sema_init(&sem, 1);
	CHECK(rg_sema_try_acquire(&sem, 1));
	rg_waitgroup_add(&wg, 1);
	rg_mutex_lock(&mu); /* held by this thread, unlocked by the waker */
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, waker, NULL), 0);
	rg_config cfg = { .procs = 2, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	atomic_store(&run_over, 1);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(atomic_load(&stalled)); /* the window was exercised */
	_exit(0);
}

int main(void)
{
	static const char *const names[] = { "chan_send", "mutex_unlock", "waitgroup_done", "sema_release" };
	return t_fork_cases(4, child, names) ? T_FAIL : T_PASS;
}
