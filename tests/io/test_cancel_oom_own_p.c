/* A cancel made on a P's thread while the heap has no room for its
 * request and all the spare requests are queued on that same P.
 *
 * io/cancel.c: a cross-P cancel needs a request; with rg__malloc failing
 * it takes one of 64 static spares, which the target P frees at its next
 * drain.  A canceller that finds them all out waited with sched_yield for
 * one to come back.  When they were all queued on its own P, that P could
 * not drain them: its thread was the one waiting.  So it waited for ever.
 * Now a canceller on a P's thread drains its own P meanwhile.
 *
 * Set-up (2 Ps, X and Y): 64 receivers park in rg_recv with their ops on
 * X, one (T) on Y.  main, on X, keeps X busy (no scheduling point) while
 * a thread outside the runtime, its allocations failing, cancels the 64:
 * each takes a spare and queues it on X.  Then main's own allocations
 * fail and it cancels T, whose op is on Y: a spare is needed, and all 64
 * are queued on X.  ld --wrap fails rg__malloc per thread.  io_uring
 * only (epoll queues no requests). */
// ctest-timeout: 120
// ctest-link: -Wl,--wrap=rg__malloc
#include <pthread.h>
#include <sched.h>

#include "core/sched_int.h"
#include "io/io_int.h"
#include "io_test.h"
#include "fail_malloc.h"

enum { ON_X = 64, N = ON_X + 1 };
static rg__p *ps[2]; /* X, Y */
static int g_sp[N][2];
static int64_t g_ids[N];
static _Atomic int g_res[N];
static _Atomic int g_done, g_go, g_thread_done, g_y_ready, g_hopped;

static void receiver(void *arg)
{
	int i = (int)(intptr_t)arg;
	rg__io_hop(ps[i < ON_X ? 0 : 1]); /* the op is made on that P */
	atomic_fetch_add(&g_hopped, 1);   /* its next park is rg_recv's */
	char c;
	atomic_store(&g_res[i], (int)rg_recv(g_sp[i][0], &c, 1, 0, rg_now() + 60000 * MS));
	atomic_fetch_add(&g_done, 1);
}

/* io state on Y: runs there once Y has taken it from X */
static void on_y(void *arg)
{
	(void)arg;
	while (rg__getp() != ps[1])
		rg_yield();
	rg__io_p_init_once(ps[1]);
	atomic_store(&g_y_ready, 1);
}

static void *canceller(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_go))
		sched_yield();
	fail_here = 1;
	for (int i = 0; i < ON_X; i++)
		CHECK_EQ(rg_cancel(g_ids[i]), 0);
	fail_here = 0;
	atomic_store(&g_thread_done, 1);
	return NULL;
}

static int main_fn(void *arg)
{
	(void)arg;
	ps[0] = rg__getp();
	ps[1] = rg__sched.allp[ps[0] == rg__sched.allp[0] ? 1 : 0];
	rg__io_p_init_once(ps[0]);
	CHECK(rg_go(on_y, NULL) > 0);
	/* busy, so that Y takes on_y */
	for (int64_t end = rg_now() + 10000 * MS; !atomic_load(&g_y_ready);)
		CHECK(rg_now() < end);
	for (int i = 0; i < N; i++) {
		t_unix_pair(g_sp[i]);
		atomic_store(&g_res[i], 1);
		g_ids[i] = rg_go(receiver, (void *)(intptr_t)i);
		CHECK(g_ids[i] > 0);
	}
	while (atomic_load(&g_hopped) < N)
		rg_sleep(MS / 10);
	for (int i = 0; i < N; i++)
		t_wait_parked(g_ids[i]);
	rg__io_hop(ps[0]);
	/* from here on X's thread, without a scheduling point until the
	 * cancel of T has returned: X drains nothing meanwhile */
	atomic_store(&g_go, 1);
	for (int64_t end = rg_now() + 10000 * MS; !atomic_load(&g_thread_done);)
		CHECK(rg_now() < end);
	long before = atomic_load(&failed);
	CHECK(before >= ON_X); /* the thread's cancels took spares */
	fail_here = 1;
	int r = (int)rg_cancel(g_ids[ON_X]); /* T, on Y: a spare is needed */
	fail_here = 0;
	CHECK_EQ(r, 0);
	CHECK(atomic_load(&failed) > before); /* ... and the heap gave none */
	while (atomic_load(&g_done) < N)
		rg_sleep(MS);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(atomic_load(&g_res[i]), -ECANCELED);
		t_pair_close_empty(g_sp[i]);
	}
	return 0;
}

int main(void)
{
	if (getenv("RINGO_IO") && !strcmp(getenv("RINGO_IO"), "epoll"))
		SKIP("io_uring's cross-P cancel requests; epoll queues none");
	pthread_t th;
	CHECK(pthread_create(&th, NULL, canceller, NULL) == 0);
	alarm(60); /* before the fix main's cancel never returned */
	CHECK_EQ(t_run(main_fn, 2), 0);
	CHECK(pthread_join(th, NULL) == 0);
	printf("cancel_oom_own_p: ok, %ld allocations failed\n", atomic_load(&failed));
	return T_PASS;
}
