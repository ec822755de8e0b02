/* rg_mutex_lock_until from a caller that cannot park (inside rg_blocking,
 * or a thread outside the runtime) polls with sched_yield (ringo/sync.h),
 * but still honours its deadline: -ETIMEDOUT once it has passed.  It
 * polled until the holder let go (here after 2 s), deadline or not. */
// ctest-timeout: 30
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_mutex mu = RG_MUTEX_INIT;
static _Atomic int held, release_it;

/* Holds mu until told, 2 s at most: the bug shows as a late return
 * rather than a hang. */
static void holder(void *arg)
{
	(void)arg;
	rg_mutex_lock(&mu);
	atomic_store(&held, 1);
	int64_t t0 = rg_now();
	while (!atomic_load(&release_it) && rg_now() - t0 < 2000 * MS)
		rg_sleep(MS);
	rg_mutex_unlock(&mu);
	atomic_store(&held, 0);
}

static int lock_r[2];
static int64_t lock_ns[2];

static void timed_lock(int k)
{
	int64_t t0 = rg_now();
	int r = rg_mutex_lock_until(&mu, t0 + 50 * MS);
	lock_ns[k] = rg_now() - t0;
	lock_r[k] = r;
	if (r == 0)
		rg_mutex_unlock(&mu);
}

static intptr_t in_pool(void *arg)
{
	(void)arg;
	timed_lock(0);
	return 0;
}

static void *foreign(void *arg)
{
	(void)arg;
	timed_lock(1);
	return NULL;
}

static intptr_t join(void *arg) { return pthread_join(*(pthread_t *)arg, NULL); }

static void hold_it(void)
{
	atomic_store(&release_it, 0);
	CHECK(rg_go(holder, NULL) > 0);
	while (!atomic_load(&held))
		rg_sleep(MS);
}

static void let_go(void)
{
	atomic_store(&release_it, 1);
	while (atomic_load(&held))
		rg_sleep(MS);
}

static int main_fn(void *arg)
{
	(void)arg;
	hold_it();
	CHECK_EQ(rg_blocking(in_pool, NULL), 0); /* inside rg_blocking */
	let_go();
	hold_it();
	pthread_t th; /* a thread outside the runtime */
	CHECK_EQ(pthread_create(&th, NULL, foreign, NULL), 0);
	CHECK_EQ(rg_blocking(join, &th), 0);
	let_go();
	for (int k = 0; k < 2; k++)
		printf("%s: rg_mutex_lock_until(now + 50 ms) = %d after %.1f ms\n",
		       k ? "foreign thread" : "rg_blocking", lock_r[k], (double)lock_ns[k] / 1e6);
	for (int k = 0; k < 2; k++) {
		CHECK_EQ(lock_r[k], -ETIMEDOUT);
		CHECK(lock_ns[k] >= 50 * MS);
		CHECK(lock_ns[k] < 1000 * MS);
	}
	/* uncontended, the same callers still get the lock */
	CHECK_EQ(rg_blocking(in_pool, NULL), 0);
	CHECK_EQ(lock_r[0], 0);
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("lock_until_polling: ok\n");
	return T_PASS;
}
