/* rg_close of a listener while tasks wait in a single-shot rg_accept (one
 * with an address, or a task's first call on the listener).  Go's
 * Listener.Close ends every Accept with an error; ringo's rg_accept says
 * the same for the task that accepts ahead, and the epoll backend ends
 * every waiting accept -EBADF.  On io_uring a single-shot accept held the
 * listener (the kernel keeps a reference to the file while the op waits):
 * the accepters slept out their deadlines, and a connect made after
 * rg_close had returned still completed its handshake.
 *
 * Cases, each on 1 and on 2 Ps:
 *   - three accepters (with an address, and a first plain call), closed by
 *     a task: each returns -EBADF, and a connect after rg_close is refused;
 *   - the same closed by a thread outside the runtime, and by a task in
 *     rg_blocking;
 *   - a close racing an accept that is just starting (also from a thread,
 *     both released at the same instant), and a connection
 *     arriving at the same time: the accept returns -EBADF or the
 *     connection, never waits out its deadline, and a connection it got is
 *     usable (no cancel left for the task's next call);
 *   - an owner accepting ahead and a single-shot accepter together;
 *   - rg_run's end discarding a closer that waits: the next run's
 *     accepts in its bucket work;
 *   - an accept on another fd whose number falls in the same bucket of
 *     the closer's table (fd + 1024 by dup2), and one on a new listener
 *     that took the closed number: neither is touched.
 * test_accept_close_single_epoll.c runs it on the epoll backend. */
// ctest-timeout: 120
#include <poll.h>
#include <pthread.h>

#include "io_test.h"

#define NACC 3
#define DEADLINE (5000 * MS)
#define PENDING INT64_MIN /* a result not in yet */

static int g_l, g_port;
static _Atomic int g_started;
static _Atomic int64_t g_res[NACC];

static void accepter(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	atomic_fetch_add(&g_started, 1);
	/* i == 0: a plain first call (single-shot too); else with an address */
	int64_t r = i == 0 ? rg_accept(g_l, NULL, NULL, rg_now() + DEADLINE)
	                   : rg_accept(g_l, (struct sockaddr *)&ss, &sl, rg_now() + DEADLINE);
	atomic_store(&g_res[i], r);
}

enum how { BY_TASK, BY_THREAD, BY_BLOCKING };
static const char *const how_name[] = { "a task", "a thread outside the runtime", "a task in rg_blocking" };

static void *close_thread(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_close(g_l), 0);
	return NULL;
}

static intptr_t close_blocking(void *arg)
{
	(void)arg;
	return rg_close(g_l);
}

static intptr_t join(void *arg) { return pthread_join(*(pthread_t *)arg, NULL); }

static void closed_while_waiting(enum how how)
{
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	atomic_store(&g_started, 0);
	int64_t ids[NACC];
	for (int i = 0; i < NACC; i++) {
		atomic_store(&g_res[i], PENDING);
		ids[i] = rg_go(accepter, (void *)(intptr_t)i);
		CHECK(ids[i] > 0);
	}
	while (atomic_load(&g_started) < NACC)
		rg_sleep(MS / 10);
	for (int i = 0; i < NACC; i++)
		t_wait_parked(ids[i]);
	rg_sleep(5 * MS); /* their SQEs are in the kernel */
	int64_t t0 = rg_now();
	if (how == BY_TASK) {
		CHECK_EQ(rg_close(g_l), 0);
	} else if (how == BY_THREAD) {
		pthread_t th;
		CHECK_EQ(pthread_create(&th, NULL, close_thread, NULL), 0);
		CHECK_EQ(rg_blocking(join, &th), 0);
	} else {
		CHECK_EQ(rg_blocking(close_blocking, NULL), 0);
	}
	int conn = t_try_connect(g_port, 1000);
	for (int64_t end = rg_now() + 2 * DEADLINE; rg_now() < end;) {
		int done = 0;
		for (int i = 0; i < NACC; i++)
			done += atomic_load(&g_res[i]) != PENDING;
		if (done == NACC)
			break;
		rg_sleep(MS);
	}
	int64_t took = rg_now() - t0;
	printf("%s, %d P, closed by %s: accepts %lld %lld %lld after %lld ms, connect after rg_close: %d\n",
	       rg_io_backend(), rg_procs(), how_name[how], (long long)atomic_load(&g_res[0]),
	       (long long)atomic_load(&g_res[1]), (long long)atomic_load(&g_res[2]), (long long)(took / MS), conn);
	fflush(stdout);
	for (int i = 0; i < NACC; i++)
		CHECK_EQ(atomic_load(&g_res[i]), -EBADF);
	CHECK_EQ(conn, -ECONNREFUSED);
}

/* ---- a close racing an accept that is starting ---------------------------- */

static _Atomic int64_t g_race_res;
static _Atomic int g_race_read;

static void race_accepter(void *arg)
{
	int delay_us = (int)(intptr_t)arg;
	if (delay_us)
		rg_sleep(delay_us * 1000LL);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int64_t r = rg_accept(g_l, (struct sockaddr *)&ss, &sl, rg_now() + DEADLINE);
	if (r >= 0) {
		/* a connection accepted as the close came: usable */
		char c = 0;
		atomic_store(&g_race_read, (int)rg_recv((int)r, &c, 1, 0, rg_now() + DEADLINE));
		close((int)r);
	}
	atomic_store(&g_race_res, r);
}

static void *race_client(void *arg)
{
	int port = (int)(intptr_t)arg;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
		/* fails when the close reset the connection in the backlog */
		(void)!send(s, "x", 1, MSG_NOSIGNAL);
		struct pollfd pf = { .fd = s, .events = POLLIN };
		poll(&pf, 1, 2000); /* until the server side closes */
	}
	close(s);
	return NULL;
}

static void races(int rounds)
{
	int got_conn = 0, got_badf = 0, got_reused = 0;
	for (int round = 0; round < rounds; round++) {
		g_l = t_listen(AF_INET, &g_port);
		CHECK(g_l >= 0);
		atomic_store(&g_race_res, PENDING);
		atomic_store(&g_race_read, -1000);
		int delay = (round * 37) % 300; /* us before the accept starts */
		int64_t id = rg_go(race_accepter, (void *)(intptr_t)delay);
		CHECK(id > 0);
		pthread_t cl;
		bool client = round % 2;
		if (client)
			CHECK_EQ(pthread_create(&cl, NULL, race_client, (void *)(intptr_t)g_port), 0);
		rg_sleep((round * 53) % 400 * 1000LL);
		CHECK_EQ(rg_close(g_l), 0);
		for (int64_t end = rg_now() + 2 * DEADLINE; atomic_load(&g_race_res) == PENDING && rg_now() < end;)
			rg_sleep(MS / 10);
		int64_t r = atomic_load(&g_race_res);
		if (r >= 0) {
			got_conn++;
			CHECK_EQ(atomic_load(&g_race_read), 1);
		} else if (r == -EINVAL || r == -ENOTSOCK) {
			/* the accept came after the close, on the number the
			 * client's socket (or another fd) had taken meanwhile: a
			 * call made after a close acts on whatever file has the
			 * number (seen under qemu) */
			got_reused++;
		} else {
			got_badf++;
			if (r != -EBADF)
				printf("round %d: accept %lld\n", round, (long long)r);
			CHECK_EQ(r, -EBADF);
		}
		if (client)
			CHECK_EQ(rg_blocking(join, &cl), 0);
	}
	printf("%s, %d P, %d races of rg_close and a starting accept: %d connections, %d -EBADF, %d on a reused "
	       "number\n",
	       rg_io_backend(), rg_procs(), rounds, got_conn, got_badf, got_reused);
	fflush(stdout);
}

/* The tightest race: a thread outside the runtime and a task start
 * rg_close and rg_accept at the same instant.  An accept listed just after
 * the closer's look could queue its SQE, which the closer's flush of
 * every P's SQ sends to the kernel before close(2): the accept then held
 * the listener and waited out its deadline. */
static _Atomic int g_go;

static void tight_accepter(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_go))
		;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	atomic_store(&g_race_res, rg_accept(g_l, (struct sockaddr *)&ss, &sl, rg_now() + 1000 * MS));
}

static void *tight_closer(void *arg)
{
	(void)arg;
	usleep(100); /* the accepter spins on its P (the only one, maybe) */
	atomic_store(&g_go, 1);
	for (int i = (int)(random() % 64); i > 0; i--) /* a little skew */
		rg__cpu_relax();
	CHECK_EQ(rg_close(g_l), 0);
	return NULL;
}

static void tight(int rounds)
{
	int late = 0;
	for (int round = 0; round < rounds; round++) {
		g_l = t_listen(AF_INET, &g_port);
		CHECK(g_l >= 0);
		atomic_store(&g_race_res, PENDING);
		atomic_store(&g_go, 0);
		int64_t id = rg_go(tight_accepter, NULL);
		CHECK(id > 0);
		pthread_t th;
		CHECK_EQ(pthread_create(&th, NULL, tight_closer, NULL), 0);
		CHECK_EQ(rg_blocking(join, &th), 0);
		for (int64_t end = rg_now() + 4000 * MS; atomic_load(&g_race_res) == PENDING && rg_now() < end;)
			rg_sleep(MS / 10);
		int64_t r = atomic_load(&g_race_res);
		if (r != -EBADF) {
			printf("tight round %d: accept %lld\n", round, (long long)r);
			late++;
		}
	}
	printf("%s, %d P, %d tight races (thread's rg_close, task's rg_accept): %d not -EBADF\n", rg_io_backend(),
	       rg_procs(), rounds, late);
	fflush(stdout);
	CHECK_EQ(late, 0);
}

/* An owner accepting ahead (its second plain call: the multishot) and a
 * task accepting single-shot with an address on the same listener: one
 * rg_close ends both. */
static _Atomic int64_t g_owner_res;

static void owner(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_accept(g_l, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	atomic_store(&g_owner_res, rg_accept(g_l, NULL, NULL, rg_now() + DEADLINE));
}

static void mixed(void)
{
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	atomic_store(&g_owner_res, PENDING);
	atomic_store(&g_res[1], PENDING);
	int64_t o = rg_go(owner, NULL);
	CHECK(o > 0);
	rg_sleep(5 * MS);
	t_wait_parked(o);
	int64_t a = rg_go(accepter, (void *)(intptr_t)1);
	CHECK(a > 0);
	t_wait_parked(a);
	rg_sleep(5 * MS);
	CHECK_EQ(rg_close(g_l), 0);
	int conn = t_try_connect(g_port, 1000);
	for (int64_t end = rg_now() + 2 * DEADLINE;
	     (atomic_load(&g_owner_res) == PENDING || atomic_load(&g_res[1]) == PENDING) && rg_now() < end;)
		rg_sleep(MS);
	printf("%s, %d P: owner accepting ahead %lld, single-shot %lld, connect after rg_close %d\n", rg_io_backend(),
	       rg_procs(), (long long)atomic_load(&g_owner_res), (long long)atomic_load(&g_res[1]), conn);
	CHECK_EQ(atomic_load(&g_owner_res), -EBADF);
	CHECK_EQ(atomic_load(&g_res[1]), -EBADF);
	CHECK_EQ(conn, -ECONNREFUSED);
}

/* ---- neighbours: same bucket, and the number reused ------------------------ */

static int g_other;
static _Atomic int64_t g_other_res;

static void other_accepter(void *arg)
{
	(void)arg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	atomic_store(&g_other_res, rg_accept(g_other, (struct sockaddr *)&ss, &sl, rg_now() + DEADLINE));
}

static void neighbours(void)
{
	/* an accept on fd g_l + 1024 (same bucket), while g_l closes */
	int port2;
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	int l2 = t_listen(AF_INET, &port2);
	CHECK(l2 >= 0);
	g_other = g_l + 1024;
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if ((rlim_t)g_other >= rl.rlim_cur) {
		printf("no fd %d (RLIMIT_NOFILE %llu): bucket neighbour skipped\n", g_other,
		       (unsigned long long)rl.rlim_cur);
		close(l2);
		rg_close(g_l);
	} else {
		CHECK(dup2(l2, g_other) == g_other);
		close(l2);
		atomic_store(&g_other_res, PENDING);
		atomic_store(&g_res[1], PENDING);
		atomic_store(&g_started, 0);
		int64_t a = rg_go(accepter, (void *)(intptr_t)1);
		int64_t b = rg_go(other_accepter, NULL);
		CHECK(a > 0 && b > 0);
		t_wait_parked(a);
		t_wait_parked(b);
		rg_sleep(5 * MS);
		CHECK_EQ(rg_close(g_l), 0);
		int c = t_plain_connect(port2);
		for (int64_t end = rg_now() + 2 * DEADLINE;
		     (atomic_load(&g_other_res) == PENDING || atomic_load(&g_res[1]) == PENDING) && rg_now() < end;)
			rg_sleep(MS);
		printf("%s, %d P: closed fd %d: its accept %lld; fd %d's accept %lld\n", rg_io_backend(), rg_procs(),
		       g_l, (long long)atomic_load(&g_res[1]), g_other, (long long)atomic_load(&g_other_res));
		CHECK_EQ(atomic_load(&g_res[1]), -EBADF);
		CHECK(atomic_load(&g_other_res) >= 0);
		close((int)atomic_load(&g_other_res));
		close(c);
		CHECK_EQ(rg_close(g_other), 0);
	}

	/* the closed number taken by a new listener at once: its accept works */
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	int num = g_l;
	CHECK_EQ(rg_close(g_l), 0);
	g_other = t_listen(AF_INET, &port2);
	CHECK(g_other >= 0);
	if (g_other != num)
		printf("the number was not reused (%d, then %d)\n", num, g_other);
	atomic_store(&g_other_res, PENDING);
	int64_t b = rg_go(other_accepter, NULL);
	CHECK(b > 0);
	t_wait_parked(b);
	int c = t_plain_connect(port2);
	for (int64_t end = rg_now() + 2 * DEADLINE; atomic_load(&g_other_res) == PENDING && rg_now() < end;)
		rg_sleep(MS);
	CHECK(atomic_load(&g_other_res) >= 0);
	close((int)atomic_load(&g_other_res));
	close(c);
	CHECK_EQ(rg_close(g_other), 0);
}

static int main_fn(void *arg)
{
	(void)arg;
	closed_while_waiting(BY_TASK);
	closed_while_waiting(BY_THREAD);
	closed_while_waiting(BY_BLOCKING);
	races(T_SANITIZED ? 60 : 200);
	tight(T_SANITIZED ? 300 : 1000);
	mixed();
	neighbours();
	return 0;
}

/* ---- a closer discarded by rg_run's end ---------------------------------------
 *
 * main returns while a task's rg_close waits for the accept it ended to
 * leave: both tasks are discarded.  The next run's accepts on the same
 * number (and so the same bucket of the closers' table) must work: a close
 * counted as under way for ever made every accept in its bucket wait. */
static int g_num;

static void discard_closer(void *arg)
{
	(void)arg;
	rg_close(g_l);
}

static int discard_fn(void *arg)
{
	(void)arg;
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	g_num = g_l;
	atomic_store(&g_res[1], PENDING);
	int64_t a = rg_go(accepter, (void *)(intptr_t)1);
	CHECK(a > 0);
	t_wait_parked(a);
	rg_sleep(2 * MS);
	CHECK(rg_go(discard_closer, NULL) > 0);
	rg_yield(); /* the closer runs, cancels, parks; we return at once */
	return 0;
}

static int after_discard_fn(void *arg)
{
	(void)arg;
	int port2;
	g_other = t_listen(AF_INET, &port2);
	CHECK(g_other >= 0);
	if (g_other != g_num && g_other % 1024 != g_num % 1024) {
		/* the old number may still be held by the discarded closer's
		 * listener (it may not have reached close(2)): same bucket */
		CHECK(dup2(g_other, g_num + 1024) == g_num + 1024);
		close(g_other);
		g_other = g_num + 1024;
	}
	atomic_store(&g_other_res, PENDING);
	int64_t b = rg_go(other_accepter, NULL);
	CHECK(b > 0);
	t_wait_parked(b);
	int c = t_plain_connect(port2);
	for (int64_t end = rg_now() + 2 * DEADLINE; atomic_load(&g_other_res) == PENDING && rg_now() < end;)
		rg_sleep(MS);
	printf("%s: after a run ended under a closer, an accept on fd %d (closed fd %d's bucket): %lld\n",
	       rg_io_backend(), g_other, g_num, (long long)atomic_load(&g_other_res));
	fflush(stdout);
	CHECK(atomic_load(&g_other_res) >= 0);
	close((int)atomic_load(&g_other_res));
	close(c);
	CHECK_EQ(rg_close(g_other), 0);
	return 0;
}

int main(void)
{
	for (int procs = 1; procs <= 2; procs++)
		CHECK_EQ(t_run(main_fn, procs), 0);
	for (int round = 0; round < 3; round++) {
		CHECK_EQ(t_run(discard_fn, 1), 0);
		CHECK_EQ(t_run(after_discard_fn, 1), 0);
		if (g_l >= 0 && fcntl(g_l, F_GETFD) >= 0)
			close(g_l); /* the discarded closer's listener, if it is still open */
	}
	return T_PASS;
}
