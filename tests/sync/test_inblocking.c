/* sync/ primitives called inside rg_blocking: the task runs on a pool
 * thread with no P and cannot park (core.h), so every primitive behaves as
 * for a thread outside the runtime — a contended lock polls until it gets
 * the lock, a wait that would block returns -EPERM — and leaves the object
 * usable.  Before, a contended rg_mutex_lock there took the queue lock,
 * parked, got -EPERM and returned without the mutex, its queue lock still
 * held: the next user of the mutex spun forever. */
// ctest-timeout: 60
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_mutex mu = RG_MUTEX_INIT;
static rg_rwmutex rw = RG_RWMUTEX_INIT;
static rg_sema sem;
static rg_waitgroup wg = RG_WAITGROUP_INIT;
static rg_chan *unbuf, *buf1;
static _Atomic int holder_in, sections;
static long counter;

/* Holds mu (or rw for writing) for 30 ms once the blocking section is
 * running, so that the section's lock is contended. */
static void hold(void *arg)
{
	bool w = arg != NULL;
	if (w)
		rg_rwmutex_lock(&rw);
	else
		rg_mutex_lock(&mu);
	atomic_store(&holder_in, 1);
	rg_sleep(30 * MS);
	counter++;
	if (w)
		rg_rwmutex_unlock(&rw);
	else
		rg_mutex_unlock(&mu);
}

static intptr_t in_pool(void *arg)
{
	CHECK_EQ(rg_proc_id(), -1);
	/* contended Mutex: polls, returns holding it */
	rg_mutex_lock(&mu);
	CHECK_EQ(counter, 1);
	counter++;
	rg_mutex_unlock(&mu);
	CHECK_EQ(rg_mutex_lock_until(&mu, rg_now() + MS), 0);
	rg_mutex_unlock(&mu);

	/* channels: a wait that would block is -EPERM, nothing left held */
	long v = 7;
	bool ok;
	CHECK_EQ(rg_chan_send(unbuf, &v, -1), -EPERM);
	CHECK_EQ(rg_chan_recv(unbuf, &v, &ok, -1), -EPERM);
	CHECK_EQ(rg_chan_send(buf1, &v, -1), 0);      /* room */
	CHECK_EQ(rg_chan_send(buf1, &v, -1), -EPERM); /* full */
	CHECK_EQ(rg_chan_send(buf1, &v, 0), -EAGAIN);
	rg_select_case cs[2] = { { unbuf, RG_SELECT_RECV, &v, false }, { buf1, RG_SELECT_SEND, &v, false } };
	CHECK_EQ(rg_select(cs, 2, -1), -EPERM);
	CHECK_EQ(rg_chan_recv(NULL, &v, &ok, -1), -EPERM);

	/* semaphore and WaitGroup: -EPERM instead of parking */
	CHECK(rg_sema_try_acquire(&sem, 1));
	CHECK_EQ(rg_sema_acquire(&sem, 1, -1), -EPERM);
	rg_sema_release(&sem, 1);
	CHECK_EQ(rg_waitgroup_wait(&wg, -1), -EPERM);
	return 42;
}

static intptr_t in_pool_rw(void *arg)
{
	/* a writer holds rw: the read lock polls */
	rg_rwmutex_rlock(&rw);
	CHECK_EQ(counter, 4);
	rg_rwmutex_runlock(&rw);
	return 43;
}

static void section(void *arg)
{
	while (!atomic_load(&holder_in))
		rg_sleep(100000);
	CHECK_EQ(rg_blocking(arg ? in_pool_rw : in_pool, NULL), arg ? 43 : 42);
	atomic_fetch_add(&sections, 1);
}

static void after(void *arg)
{
	/* every object works as usual from a task afterwards */
	long v;
	bool ok;
	rg_mutex_lock(&mu);
	counter++;
	rg_mutex_unlock(&mu);
	CHECK_EQ(rg_chan_recv(buf1, &v, &ok, -1), 0);
	CHECK(ok && v == 7);
	CHECK_EQ(rg_sema_acquire(&sem, 1, -1), 0);
	rg_sema_release(&sem, 1);
}

static void done_later(void *arg)
{
	rg_sleep(5 * MS);
	rg_waitgroup_done(&wg);
}

static void recv_one(void *arg)
{
	long v;
	bool ok;
	CHECK_EQ(rg_chan_recv(unbuf, &v, &ok, -1), 0);
	CHECK(ok && v == 9);
}

static int main_fn(void *arg)
{
	unbuf = rg_chan_make(sizeof(long), 0);
	buf1 = rg_chan_make(sizeof(long), 1);
	rg_sema_init(&sem, 1);
	rg_waitgroup_add(&wg, 1);

	CHECK(rg_go(hold, NULL) > 0);
	CHECK(rg_go(section, NULL) > 0);
	/* wait for the section (it finishes after the holder's 30 ms) */
	while (atomic_load(&sections) < 1)
		rg_sleep(MS);
	CHECK_EQ(counter, 2);
	CHECK(rg_go(after, NULL) > 0);
	while (counter < 3)
		rg_sleep(MS);
	CHECK(rg_go(done_later, NULL) > 0);

	/* the unbuffered channel still hands off between tasks */
	CHECK(rg_go(recv_one, NULL) > 0);
	long nine = 9;
	CHECK_EQ(rg_chan_send(unbuf, &nine, rg_now() + 5000 * MS), 0);

	/* RWMutex: a read lock inside rg_blocking while a writer holds it */
	atomic_store(&holder_in, 0);
	CHECK(rg_go(hold, (void *)1) > 0);
	CHECK(rg_go(section, (void *)1) > 0);
	while (atomic_load(&sections) < 2)
		rg_sleep(MS);
	CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
	rg_chan_free(unbuf);
	rg_chan_free(buf1);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("inblocking: ok\n");
	return T_PASS;
}
