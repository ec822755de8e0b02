/* Task-local storage follows a task across Ps and into the blocking pool;
 * thread-locals do not.  Destructors run at task exit, and may park; keys
 * run out cleanly. */
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"

#define NT 16
static rg_tls_key key, key2;
static _Atomic int dtor_calls, migrations;
static __thread int thread_marker;

static intptr_t noop(void *arg) { return (intptr_t)arg; }

/* A destructor may park: this one goes through the blocking pool (it comes
 * back through the global queue, often on the other P's thread) and
 * sleeps.  task_exit used the thread it had before the destructors, and a
 * task that came back elsewhere switched away on the wrong thread's
 * context (found by io_cancel_dtor_epoll, 2026-12-06). */
static void dtor(void *v)
{
	atomic_fetch_add(&dtor_calls, 1);
	CHECK((intptr_t)v >= 1000);
	CHECK_EQ(rg_blocking(noop, v), (intptr_t)v);
	rg_sleep(10000);
}

/* Runs on a blocking-pool thread, as the same task. */
static intptr_t in_pool(void *arg)
{
	CHECK_EQ(rg_proc_id(), -1);
	CHECK_EQ((intptr_t)rg_tls_get(key), (intptr_t)arg);
	return (intptr_t)arg;
}

static void task(void *arg)
{
	intptr_t mine = 1000 + (intptr_t)arg;
	CHECK_EQ(rg_tls_get(key), NULL);
	CHECK_EQ(rg_tls_set(key, (void *)mine), 0);
	CHECK_EQ(rg_tls_set(key2, (void *)(mine * 2)), 0);
	int last = rg_proc_id();
	for (int i = 0; i < 2000; i++) {
		/* A yield or a short sleep leaves the task on its P while
		 * both Ps stay busy (always, when each step is slow: qemu,
		 * valgrind).  The task comes back from rg_blocking through
		 * the global queue, on whichever P gets there first, so 20
		 * of them per task make migrations certain on any machine. */
		if (i % 100 == 50)
			CHECK_EQ(rg_blocking(in_pool, (void *)mine), mine);
		else if (i % 7 == 0)
			rg_sleep(10000);
		else
			rg_yield();
		int now = rg_proc_id();
		if (now != last)
			atomic_fetch_add(&migrations, 1);
		last = now;
		CHECK_EQ((intptr_t)rg_tls_get(key), mine);
		CHECK_EQ((intptr_t)rg_tls_get(key2), mine * 2);
		thread_marker = (int)mine; /* per-thread, clobbered by others */
	}
	CHECK_EQ(rg_tls_set(key2, NULL), 0);
}

static _Atomic int finished;
static void wrap(void *arg)
{
	task(arg);
	atomic_fetch_add(&finished, 1);
}

static int main_fn(void *arg)
{
	CHECK_EQ(rg_tls_set(-1, NULL), -EINVAL);
	CHECK_EQ(rg_tls_set(9999, NULL), -EINVAL);
	CHECK_EQ(rg_tls_get(9999), NULL);
	for (int i = 0; i < NT; i++)
		CHECK(rg_go(wrap, (void *)(intptr_t)i) > 0);
	while (atomic_load(&finished) < NT)
		rg_sleep(1000000);
	rg_sleep(1000000);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_tls_key_create(NULL, NULL), -EINVAL);
	CHECK_EQ(rg_tls_key_create(&key, dtor), 0);
	CHECK_EQ(rg_tls_key_create(&key2, NULL), 0);
	CHECK_EQ(rg_tls_set(key, (void *)1), -EINVAL); /* not in a task */
	rg_config cfg = { .procs = 2 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	CHECK_EQ(atomic_load(&dtor_calls), NT); /* key has a dtor, key2 none */
	printf("migrations observed: %d\n", atomic_load(&migrations));
	CHECK(atomic_load(&migrations) > 0);
	/* run out of keys */
	rg_tls_key k;
	int made = 2, r;
	while ((r = rg_tls_key_create(&k, NULL)) == 0)
		made++;
	CHECK_EQ(r, -EAGAIN);
	CHECK_EQ(made, RG_TLS_KEYS);
	return T_PASS;
}
