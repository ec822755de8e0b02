/* rg_accept in a loop (io/accept.c: multishot accept on io_uring).
 *
 *   storm     a task that loops on one listener gets many connections that
 *             arrived while it was busy; on io_uring they were accepted
 *             ahead (the fds exist before the calls); every one is returned
 *             exactly once, matched to its client; rg_close(listener)
 *             leaves no fd behind;
 *   deadline  with the multishot armed: -ETIMEDOUT on time, 0 -> -EAGAIN,
 *             what arrives after a timeout is returned by the next call;
 *   cancel    rg_cancel, a pending cancel, a bound context (cancel and
 *             deadline) while armed: -ECANCELED / -ETIMEDOUT; after a
 *             cancel nothing more is accepted ahead; the next call works;
 *   close     rg_close(listener) with queued fds closes them (count
 *             /proc/self/fd); an owner waiting in rg_accept while another
 *             task closes the listener returns -EBADF; an owner that exits
 *             leaves no accepted-ahead fd; a listener closed with close(2)
 *             whose number is reused is detected;
 *   two       two tasks loop on one listener: every connection accepted
 *             exactly once, none stuck.
 * Each on 1 P and 2 Ps.  test_accept_faults.c runs storm and two under
 * RINGO_FAULTS.  _epoll twins run all of it on the epoll backend, where
 * nothing is accepted ahead.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>

#include "io_test.h"
#include "ringo/sync.h"

#ifndef ACCEPT_FAULTS
#define ACCEPT_FAULTS 0
#endif

#define NSTORM (T_SANITIZED ? 100 : 200)
#define NTWO (T_SANITIZED ? 150 : 400)
#define MAXC 512

static bool uring(void) { return strcmp(rg_io_backend(), "io_uring") == 0; }

static int port_of(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	int r = peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l);
	return r ? -1 : ntohs(a.sin_port);
}

/* Clients connect from a plain thread (blocking connect: the listen
 * backlog completes the handshake, whoever accepts). */
struct clients {
	int port, n, pause_us;
	int fd[MAXC];
	int lport[MAXC];
	_Atomic int done;
	pthread_t th;
};


static void *client_main(void *arg)
{
	struct clients *c = arg;
	for (int i = 0; i < c->n; i++) {
		c->fd[i] = t_plain_connect(c->port);
		c->lport[i] = port_of(c->fd[i], false);
		if (c->pause_us)
			usleep((useconds_t)c->pause_us);
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static struct clients *clients_start(int port, int n, int pause_us)
{
	struct clients *c = calloc(1, sizeof *c);
	CHECK(c && n <= MAXC);
	c->port = port;
	c->n = n;
	c->pause_us = pause_us;
	CHECK(pthread_create(&c->th, NULL, client_main, c) == 0);
	return c;
}

/* Waits (the task sleeps: the P keeps polling its ring) until all have
 * connected, and joins the thread. */
static void clients_wait(struct clients *c)
{
	while (!atomic_load(&c->done))
		rg_sleep(MS);
	pthread_join(c->th, NULL);
}

static void clients_close(struct clients *c)
{
	for (int i = 0; i < c->n; i++)
		close(c->fd[i]);
	free(c);
}

/* fd must be the server side of one of c's connections not yet seen. */
static void match(struct clients *c, bool *seen, int fd)
{
	int p = port_of(fd, true);
	for (int i = 0; i < c->n; i++)
		if (c->lport[i] == p) {
			CHECK(!seen[i]);
			seen[i] = true;
			return;
		}
	CHECK(!"accepted a connection of no client");
}

/* Accept until it works: a blocking call, or (under faults) a deadline-0
 * one that may get an injected -EAGAIN. */
static int accept_one(int l, int i)
{
	for (;;) {
		int64_t d = ACCEPT_FAULTS && i % 3 == 0 ? 0 : rg_now() + 5000 * MS;
		int r = rg_accept(l, NULL, NULL, d);
		if (r == -EAGAIN)
			continue;
		CHECK(r >= 0);
		return r;
	}
}

/* Waits (up to 2 s: a loaded machine) for the count of open fds to be n. */
static int wait_fds(int n)
{
	int64_t until = rg_now() + 2000 * MS;
	int k;
	while ((k = t_open_fds()) != n && rg_now() < until)
		rg_sleep(5 * MS);
	return k;
}

/* Two accepts in a row on l: on io_uring the second arms the multishot. */
static void arm(int l, int port)
{
	for (int i = 0; i < 2; i++) {
		int c = t_plain_connect(port);
		int s = accept_one(l, 1);
		CHECK_EQ(port_of(s, true), port_of(c, false));
		close(s);
		close(c);
	}
}

/* ---- storm -------------------------------------------------------------- */

static void storm(void)
{
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	int base = t_open_fds();
	arm(l, port);
	CHECK_EQ(t_open_fds(), base);
	/* busy (not in rg_accept) while the connections arrive */
	struct clients *c = clients_start(port, NSTORM, 0);
	clients_wait(c);
	rg_sleep(20 * MS);
	int ahead = t_open_fds() - base - NSTORM;
	if (uring())
		CHECK(ahead > 0);
	else
		CHECK_EQ(ahead, 0);
	CHECK(ahead <= NSTORM);
	bool seen[MAXC] = { 0 };
	int fds[MAXC];
	int64_t t0 = rg_now();
	for (int i = 0; i < NSTORM; i++) {
		fds[i] = accept_one(l, i);
		match(c, seen, fds[i]);
	}
	int64_t el = rg_now() - t0;
	fprintf(stderr, "storm (%d P): %d accepted ahead of %d, %d accepts in %lld us\n", rg_procs(), ahead,
	        NSTORM, NSTORM, (long long)(el / 1000));
	CHECK_EQ(rg_accept(l, NULL, NULL, ACCEPT_FAULTS ? rg_now() + 10 * MS : 0),
	         ACCEPT_FAULTS ? -ETIMEDOUT : -EAGAIN);
	for (int i = 0; i < NSTORM; i++)
		CHECK_EQ(rg_close(fds[i]), 0);
	clients_close(c);
	CHECK_EQ(rg_close(l), 0);
	CHECK_EQ(t_open_fds(), base - 1);
}

/* ---- two tasks on one listener ------------------------------------------ */

struct two {
	int l;
	_Atomic int n;        /* slots taken in ports */
	_Atomic int recorded; /* slots written: the main task reads ports by this */
	_Atomic int finished;
	int ports[MAXC];
	_Atomic int64_t id[2];
	int each[2];
};

static void two_task(void *arg)
{
	struct two *w = arg;
	/* the first may run (on the other P) before main has stored its id */
	while (atomic_load(&w->id[0]) == -1)
		rg_yield();
	int me = atomic_load(&w->id[0]) == rg_self() ? 0 : 1;
	for (int i = 0;; i++) {
		int64_t d = ACCEPT_FAULTS && i % 3 == 0 ? 0 : -1;
		int r = rg_accept(w->l, NULL, NULL, d);
		if (r == -ECANCELED)
			break;
		if (r == -EAGAIN)
			continue;
		CHECK(r >= 0);
		int k = atomic_fetch_add(&w->n, 1);
		CHECK(k < MAXC);
		w->ports[k] = port_of(r, true);
		w->each[me]++;
		atomic_fetch_add(&w->recorded, 1); /* after the writes: n alone raced them */
		CHECK_EQ(rg_close(r), 0);
	}
	atomic_fetch_add(&w->finished, 1);
}

static void two(void)
{
	int port;
	struct two w = { 0 };
	w.l = t_listen(AF_INET, &port);
	CHECK(w.l >= 0);
	int base = t_open_fds();
	/* the first task becomes the owner before the second starts */
	atomic_store(&w.id[0], -1);
	atomic_store(&w.id[1], -1);
	int64_t a = rg_go(two_task, &w);
	atomic_store(&w.id[0], a);
	struct clients *c0 = clients_start(port, 2, 0);
	clients_wait(c0);
	while (atomic_load(&w.n) < 2)
		rg_sleep(MS);
	int64_t b = rg_go(two_task, &w);
	atomic_store(&w.id[1], b);
	struct clients *c = clients_start(port, NTWO, 50);
	clients_wait(c);
	int64_t until = rg_now() + 5000 * MS;
	while (atomic_load(&w.recorded) < NTWO + 2 && rg_now() < until)
		rg_sleep(MS);
	CHECK_EQ(atomic_load(&w.recorded), NTWO + 2);
	CHECK_EQ(atomic_load(&w.n), NTWO + 2);
	bool seen[MAXC] = { 0 };
	for (int i = 2; i < NTWO + 2; i++) {
		int k;
		for (k = 0; k < NTWO && c->lport[k] != w.ports[i]; k++)
			;
		if (k == NTWO) { /* one of the first two */
			CHECK(w.ports[i] == c0->lport[0] || w.ports[i] == c0->lport[1]);
			continue;
		}
		CHECK(!seen[k]);
		seen[k] = true;
	}
	fprintf(stderr, "two (%d P): %d and %d accepted\n", rg_procs(), w.each[0], w.each[1]);
	rg_cancel(a);
	rg_cancel(b);
	while (atomic_load(&w.finished) < 2)
		rg_sleep(MS);
	clients_close(c0);
	clients_close(c);
	CHECK_EQ(rg_close(w.l), 0);
	/* fds accepted ahead for a task that has exited are closed by its
	 * acceptor's home P, after the exit (its TLS destructor posts it
	 * there): they may still be open a moment (TSan once saw 2) */
	for (int64_t end = rg_now() + 2000 * MS; t_open_fds() != base - 1 && rg_now() < end;)
		rg_sleep(MS);
	CHECK_EQ(t_open_fds(), base - 1);
}

/* ---- deadlines and cancellation while armed ------------------------------- */

struct later {
	int64_t target;
	int64_t after;
	rg_ctx *ctx;
	int fd;
	_Atomic int done;
};

static void canceller(void *arg)
{
	struct later *x = arg;
	rg_sleep(x->after);
	if (x->ctx)
		rg_ctx_cancel(x->ctx);
	else if (x->fd >= 0)
		CHECK_EQ(rg_close(x->fd), 0);
	else
		CHECK_EQ(rg_cancel(x->target), 0);
	atomic_store(&x->done, 1);
}

static void later(struct later *x)
{
	atomic_store(&x->done, 0);
	rg_go(canceller, x);
}

static void deadline_cancel(void)
{
	const int64_t tol = (T_SANITIZED ? 400 : 200) * MS;
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	int base = t_open_fds();
	arm(l, port);

	int64_t t0 = rg_now();
	CHECK_EQ(rg_accept(l, NULL, NULL, t0 + 30 * MS), -ETIMEDOUT);
	int64_t el = rg_now() - t0;
	CHECK(el >= 30 * MS && el < 30 * MS + tol);
	CHECK_EQ(rg_accept(l, NULL, NULL, 0), -EAGAIN);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() - 1), -ETIMEDOUT);

	/* arrives after the timeout: queued (io_uring), the next call has it */
	int c = t_plain_connect(port);
	CHECK_EQ(wait_fds(base + 1 + (uring() ? 1 : 0)), base + 1 + (uring() ? 1 : 0));
	int s = rg_accept(l, NULL, NULL, rg_now() + 2000 * MS);
	CHECK(s >= 0);
	CHECK_EQ(port_of(s, true), port_of(c, false));
	close(s);
	close(c);

	/* rg_cancel while waiting */
	struct later x = { .target = rg_self(), .after = 20 * MS, .fd = -1 };
	later(&x);
	t0 = rg_now();
	CHECK_EQ(rg_accept(l, NULL, NULL, -1), -ECANCELED);
	CHECK(rg_now() - t0 < 20 * MS + tol);
	CHECK(atomic_load(&x.done));
	/* the multishot was stopped: nothing is accepted ahead now */
	c = t_plain_connect(port);
	rg_sleep(20 * MS);
	CHECK_EQ(t_open_fds(), base + 1);
	s = rg_accept(l, NULL, NULL, rg_now() + 2000 * MS); /* and it works again */
	CHECK(s >= 0);
	CHECK_EQ(port_of(s, true), port_of(c, false));
	close(s);
	close(c);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + 5 * MS), -ETIMEDOUT); /* re-armed */

	/* a cancel pending before the call */
	CHECK_EQ(rg_cancel(rg_self()), 0);
	CHECK_EQ(rg_accept(l, NULL, NULL, -1), -ECANCELED);

	/* a bound context cancelled while waiting */
	rg_ctx *ctx;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	rg_ctx_bind(ctx);
	struct later y = { .after = 20 * MS, .ctx = ctx, .fd = -1 };
	later(&y);
	CHECK_EQ(rg_accept(l, NULL, NULL, -1), -ECANCELED);
	CHECK_EQ(rg_accept(l, NULL, NULL, 0), -ECANCELED); /* already ended */
	rg_ctx_bind(NULL);
	while (!atomic_load(&y.done))
		rg_sleep(MS);
	rg_ctx_release(ctx);
	/* no cancel left behind for the next, unbound call */
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + 5 * MS), -ETIMEDOUT);

	/* a context with a deadline */
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 30 * MS, &ctx), 0);
	rg_ctx_bind(ctx);
	t0 = rg_now();
	CHECK_EQ(rg_accept(l, NULL, NULL, -1), -ETIMEDOUT);
	el = rg_now() - t0;
	CHECK(el >= 25 * MS && el < 30 * MS + tol);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);

	/* a connection that arrives meanwhile is still returned, once */
	c = t_plain_connect(port);
	s = rg_accept(l, NULL, NULL, rg_now() + 2000 * MS);
	CHECK(s >= 0);
	CHECK_EQ(port_of(s, true), port_of(c, false));
	close(s);
	close(c);
	CHECK_EQ(rg_accept(l, NULL, NULL, 0), -EAGAIN);
	CHECK_EQ(rg_close(l), 0);
	CHECK_EQ(t_open_fds(), base - 1);
}

/* ---- closing ------------------------------------------------------------------ */

struct owner {
	int l, port, k;
	struct clients *c;
	_Atomic int done;
};

static void owner_task(void *arg)
{
	struct owner *o = arg;
	arm(o->l, o->port);
	o->c = clients_start(o->port, o->k, 0);
	clients_wait(o->c);
	rg_sleep(20 * MS);
	atomic_store(&o->done, 1); /* and exits with the connections queued */
}

static void closing(void)
{
	const int K = 20;
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	int base = t_open_fds();
	arm(l, port);
	struct clients *c = clients_start(port, K, 0);
	clients_wait(c);
	rg_sleep(20 * MS);
	int ahead = t_open_fds() - base - K;
	CHECK(uring() ? ahead > 0 : ahead == 0);
	CHECK_EQ(rg_close(l), 0);
	CHECK_EQ(t_open_fds(), base - 1 + K); /* queued fds closed with it */
	for (int i = 0; i < K; i++) { /* those clients see the end: EOF or reset */
		char b;
		ssize_t r = recv(c->fd[i], &b, 1, i < ahead ? 0 : MSG_DONTWAIT);
		CHECK(r == 0 || (r < 0 && (errno == ECONNRESET || errno == EAGAIN)));
	}
	clients_close(c);
	CHECK_EQ(t_open_fds(), base - 1);

	/* closed by another task while the owner waits */
	l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	arm(l, port);
	struct later x = { .after = 20 * MS, .fd = l };
	later(&x);
	int r = rg_accept(l, NULL, NULL, rg_now() + 300 * MS);
	/* io_uring: the acceptor is retired; epoll: the close ends the
	 * readiness wait (it timed out there before) */
	CHECK_EQ(r, -EBADF);
	while (!atomic_load(&x.done))
		rg_sleep(MS);
	CHECK_EQ(t_open_fds(), base - 1);

	/* the owner exits with fds queued: they are closed */
	struct owner o = { .k = K };
	o.l = t_listen(AF_INET, &o.port);
	CHECK(o.l >= 0);
	int base2 = t_open_fds();
	rg_go(owner_task, &o);
	while (!atomic_load(&o.done))
		rg_sleep(MS);
	CHECK_EQ(wait_fds(base2 + K), base2 + K);
	/* the listener itself is still open and accepts */
	int c2 = t_plain_connect(o.port);
	int s = rg_accept(o.l, NULL, NULL, rg_now() + 2000 * MS);
	CHECK(s >= 0);
	/* the first of the owner's clients that were not accepted ahead, or
	 * (epoll: none were) the first of them at all, or the new one */
	CHECK(port_of(s, true) > 0);
	close(s);
	close(c2);
	clients_close(o.c);
	CHECK_EQ(rg_close(o.l), 0);
	CHECK_EQ(t_open_fds(), base2 - 1);

	/* a listener closed with close(2), its number reused: the acceptor
	 * of the old one is noticed as stale, the new one works */
	l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	arm(l, port);
	int old = l;
	close(l);
	l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	if (l == old) {
		int cc = t_plain_connect(port);
		s = rg_accept(l, NULL, NULL, rg_now() + 2000 * MS);
		CHECK(s >= 0);
		CHECK_EQ(port_of(s, true), port_of(cc, false));
		close(s);
		close(cc);
	}
	CHECK_EQ(rg_close(l), 0);
}

static int main_fn(void *arg)
{
	(void)arg;
	storm();
	two();
	if (!ACCEPT_FAULTS) {
		deadline_cancel();
		closing();
	}
	return 0;
}

int main(void)
{
	t_raise_nofile(4096);
	signal(SIGPIPE, SIG_IGN);
	for (int procs = 1; procs <= 2; procs++)
		CHECK_EQ(t_run(main_fn, procs), 0);
	return T_PASS;
}
