/* rg_accept on a listener with a connection already in its queue, while
 * other fds whose numbers fall in the listener's bucket of rg_close's
 * table (fd + 1024, fd + 2048) are closed in a loop by threads outside
 * the runtime.  The accept has nothing to do with those closes: a
 * deadline-0 call must return the ready connection (not -EAGAIN), a call
 * with a deadline must return it (not -ETIMEDOUT).  The deadline-0 calls
 * are what caught the bucket-wide wait (1-3 of 750 per run, every run);
 * the others have 100 ms: at 2 ms, a P thread held off the CPU between
 * the deadline's computation and the call's check (TSan, a loaded
 * machine) timed one out now and then, on epoll too, where no close
 * waits at all. */
// ctest-timeout: 120
#include <poll.h>
#include <pthread.h>

#include "io_test.h"

#define ROUNDS 1500
static int g_l, g_port;
static _Atomic int g_stop;

static void *closer(void *arg)
{
	int num = (int)(intptr_t)arg;
	while (!atomic_load(&g_stop)) {
		int p[2];
		CHECK(pipe(p) == 0);
		CHECK(dup2(p[0], num) == num);
		close(p[0]);
		close(p[1]);
		CHECK_EQ(rg_close(num), 0);
	}
	return NULL;
}

static int main_fn(void *arg)
{
	(void)arg;
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	atomic_store(&g_stop, 0);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, closer, (void *)(intptr_t)(g_l + 1024 * (i + 1))), 0);
	int nb_again = 0, timed_out = 0;
	for (int i = 0; i < ROUNDS; i++) {
		int c = t_plain_connect(g_port);
		struct pollfd pf = { .fd = g_l, .events = POLLIN };
		CHECK(poll(&pf, 1, 1000) == 1); /* the connection is in the queue */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		bool nb = i % 2 == 0;
		int r = rg_accept(g_l, (struct sockaddr *)&ss, &sl, nb ? 0 : rg_now() + 100 * MS);
		if (r == -EAGAIN)
			nb_again++;
		else if (r == -ETIMEDOUT)
			timed_out++;
		else
			CHECK(r >= 0);
		if (r < 0) {
			sl = sizeof ss;
			r = rg_accept(g_l, (struct sockaddr *)&ss, &sl, rg_now() + 5000 * MS);
			CHECK(r >= 0);
		}
		close(r);
		close(c);
	}
	atomic_store(&g_stop, 1);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	printf("%s: %d accepts with a connection ready, neighbours closing: %d deadline-0 -EAGAIN, %d 100 ms "
	       "-ETIMEDOUT\n",
	       rg_io_backend(), ROUNDS, nb_again, timed_out);
	fflush(stdout);
	CHECK_EQ(nb_again, 0);
	CHECK_EQ(timed_out, 0);
	CHECK_EQ(rg_close(g_l), 0);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
