/* A cancel from another thread while the heap has no room for its request
 * (rg__malloc fails, ld --wrap): the request comes from a spare instead
 * of the cancel being dropped.  Before, cancel_mark returned on the failed
 * allocation, and the task stayed in its rg_recv until its deadline
 * (-ETIMEDOUT here) or for ever.
 *   one      one task, rg_cancel from a thread outside the runtime;
 *   many     200 tasks cancelled in a row, more than there are spares: a
 *            canceller that finds them all out waits for one;
 *   ctx      a task bound to a Context that a thread outside the runtime
 *            cancels (rg__io_ctx_fire has nobody to report a failure to).
 * io_uring only: on epoll the canceller claims the task's park itself,
 * no request is queued (and readying a task from outside the runtime with
 * no memory for the global queue is fatal there, by design). */
// ctest-timeout: 120
// ctest-link: -Wl,--wrap=rg__malloc
#include <pthread.h>
#include <sched.h>

#include "io_test.h"
#include "fail_malloc.h"

enum { MANY = 200 };
static int g_ntasks;
static int g_sp[MANY][2];
static int64_t g_ids[MANY];
static _Atomic int g_res[MANY];
static _Atomic int g_done, g_go;
static rg_ctx *g_ctx;

static void receiver(void *arg)
{
	int i = (int)(intptr_t)arg;
	char c;
	if (g_ctx)
		rg_ctx_bind(g_ctx);
	atomic_store(&g_res[i], rg_recv(g_sp[i][0], &c, 1, 0, rg_now() + 30000 * MS));
	atomic_fetch_add(&g_done, 1);
}

static int case_main(void *arg)
{
	for (int i = 0; i < g_ntasks; i++) {
		t_unix_pair(g_sp[i]);
		atomic_store(&g_res[i], 1);
		g_ids[i] = rg_go(receiver, (void *)(intptr_t)i);
		CHECK(g_ids[i] > 0);
	}
	for (int i = 0; i < g_ntasks; i++)
		t_wait_parked(g_ids[i]);
	atomic_store(&g_go, 1);
	while (atomic_load(&g_done) < g_ntasks)
		rg_sleep(MS);
	for (int i = 0; i < g_ntasks; i++) {
		CHECK_EQ(atomic_load(&g_res[i]), -ECANCELED);
		t_pair_close_empty(g_sp[i]);
	}
	return 0;
}

static void *canceller(void *arg)
{
	while (!atomic_load(&g_go))
		sched_yield();
	fail_here = 1;
	if (g_ctx)
		rg_ctx_cancel(g_ctx);
	else
		for (int i = 0; i < g_ntasks; i++)
			CHECK_EQ(rg_cancel(g_ids[i]), 0);
	fail_here = 0;
	return NULL;
}

static void one(const char *name, int ntasks, bool ctx)
{
	for (int procs = 1; procs <= 2; procs++) {
		g_ntasks = ntasks;
		atomic_store(&g_done, 0);
		atomic_store(&g_go, 0);
		atomic_store(&failed, 0);
		g_ctx = NULL;
		if (ctx)
			CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &g_ctx), 0);
		pthread_t th;
		CHECK(pthread_create(&th, NULL, canceller, NULL) == 0);
		CHECK_EQ(t_run(case_main, procs), 0);
		CHECK(pthread_join(th, NULL) == 0);
		if (g_ctx)
			rg_ctx_release(g_ctx);
		printf("%s, %d P: ok, %ld allocations failed\n", name, procs, atomic_load(&failed));
		/* the cancels needed requests, and got none from the heap */
		CHECK(atomic_load(&failed) >= ntasks);
	}
}

int main(void)
{
	if (getenv("RINGO_IO") && !strcmp(getenv("RINGO_IO"), "epoll"))
		SKIP("io_uring's cross-P cancel requests; epoll queues none");
	const char *only = getenv("RG_CASE");
	if (!only || !strcmp(only, "one"))
		one("one", 1, false);
	if (!only || !strcmp(only, "many"))
		one("many", MANY, false);
	if (!only || !strcmp(only, "ctx"))
		one("ctx", 1, true);
	return T_PASS;
}
