/* rg_cancel from a thread outside the runtime while rg_run ends.  Each
 * round parks tasks for ever (discarded at the end) in a multishot
 * rg_accept, whose op lives in a heap acceptor, and in a plain rg_recv,
 * whose op names its P; main returns and a pthread cancels them all, again
 * and again, until rg_run has returned.  The acceptors (freed as each P
 * shuts down) and the P records (freed by rg_run) were read by the
 * canceller after they were freed: ASan reported a heap-use-after-free in
 * 6 of 50 runs of the review's reproducer (io/cancel.c cancel_mark).  On
 * the epoll backend the cancel readied a task being discarded. */
// ctest-timeout: 120
#include <pthread.h>
#include <sched.h>

#include "io_test.h"

#define NACC 6
#define NRECV 6
#define ROUNDS 25

static int64_t ids[NACC + NRECV];
static int listeners[NACC];
static int pairs[NRECV][2];
static _Atomic int parked;
static _Atomic int main_done, run_over;
static _Atomic long cancels;

static void acc_owner(void *arg)
{
	int l = (int)(intptr_t)arg;
	/* a first call times out; the second makes the acceptor and waits */
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + 1 * MS), -ETIMEDOUT);
	atomic_fetch_add(&parked, 1);
	rg_accept(l, NULL, NULL, -1); /* parks for ever */
}

static void recv_owner(void *arg)
{
	char c;
	atomic_fetch_add(&parked, 1);
	rg_recv((int)(intptr_t)arg, &c, 1, 0, -1); /* parks for ever */
}

static int main_fn(void *arg)
{
	for (int i = 0; i < NACC; i++) {
		int port;
		listeners[i] = t_listen(AF_INET, &port);
		CHECK(listeners[i] >= 0);
		ids[i] = rg_go(acc_owner, (void *)(intptr_t)listeners[i]);
	}
	for (int i = 0; i < NRECV; i++) {
		t_unix_pair(pairs[i]);
		ids[NACC + i] = rg_go(recv_owner, (void *)(intptr_t)pairs[i][0]);
	}
	for (int i = 0; i < NACC + NRECV; i++)
		CHECK(ids[i] > 0);
	t_wait_count(&parked, NACC + NRECV);
	for (int i = 0; i < NACC + NRECV; i++)
		t_wait_parked(ids[i]);
	atomic_store(&main_done, 1);
	return 0;
}

static void *canceller(void *arg)
{
	while (!atomic_load(&main_done))
		sched_yield();
	while (!atomic_load(&run_over))
		for (int i = 0; i < NACC + NRECV; i++)
			if (rg_cancel(ids[i]) == 0)
				atomic_fetch_add(&cancels, 1);
	return NULL;
}

int main(void)
{
	for (int round = 0; round < ROUNDS; round++) {
		atomic_store(&parked, 0);
		atomic_store(&main_done, 0);
		atomic_store(&run_over, 0);
		pthread_t th;
		CHECK(pthread_create(&th, NULL, canceller, NULL) == 0);
		CHECK_EQ(t_run(main_fn, 1 + round % 2), 0);
		atomic_store(&run_over, 1);
		CHECK(pthread_join(th, NULL) == 0);
		for (int i = 0; i < NACC; i++)
			close(listeners[i]);
		for (int i = 0; i < NRECV; i++) {
			close(pairs[i][0]);
			close(pairs[i][1]);
		}
	}
	printf("%d rounds, %ld cancels during the ends\n", ROUNDS, atomic_load(&cancels));
	return T_PASS;
}
