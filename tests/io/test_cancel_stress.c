/* rg_cancel racing with completions: receivers loop on rg_recv (some calls
 * with short deadlines) while a task on another P and a foreign thread
 * cancel them at random moments.  The byte stream must arrive whole and in
 * order — a cancelled call never loses bytes the kernel already took, and
 * never has its buffer written after it returned — and cancels must
 * actually land (some calls return -ECANCELED). */
// ctest-timeout: 90
#include <pthread.h>

#include "io_test.h"

#define NPAIR 8
#define SIZE (T_SANITIZED ? (256 << 10) : (4 << 20))

struct pair {
	int fd[2];
	_Atomic int64_t rid;
	size_t got;
	int cancels, timeouts;
};
static struct pair pr[NPAIR];
static _Atomic int done, stop, landed;

static inline unsigned char pat(size_t i, int k) { return (unsigned char)(i * 7 + (i >> 9) + (size_t)k * 31); }

static void writer(void *arg)
{
	struct pair *p = arg;
	int k = (int)(p - pr);
	unsigned char buf[3000];
	for (size_t off = 0; off < SIZE;) {
		size_t n = SIZE - off < sizeof buf ? SIZE - off : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(off + i, k);
		ssize_t w = rg_send(p->fd[0], buf, n, 0, -1);
		if (w == -ECANCELED)
			continue; /* a stray cancel: nothing was sent */
		CHECK(w > 0);
		off += (size_t)w;
	}
	/* keep the stream open until some cancel has landed (at most 5 s):
	 * a fast run could otherwise finish before any canceller acted */
	int64_t t0 = rg_now();
	while (!atomic_load(&landed) && rg_now() - t0 < 5000 * MS)
		rg_sleep(MS);
	rg_shutdown(p->fd[0], SHUT_WR);
}

static void receiver(void *arg)
{
	struct pair *p = arg;
	int k = (int)(p - pr);
	atomic_store(&p->rid, rg_self());
	unsigned char buf[512];
	unsigned r = (unsigned)k * 2654435761u;
	for (;;) {
		r = r * 1103515245u + 12345u;
		int64_t dl = (r >> 16) % 4 == 0 ? rg_now() + (int64_t)((r >> 8) % 200) * 1000 : -1;
		memset(buf, 0xee, sizeof buf);
		ssize_t n = rg_recv(p->fd[1], buf, sizeof buf, 0, dl);
		if (n == -ECANCELED) {
			p->cancels++;
			atomic_store(&landed, 1);
			continue;
		}
		if (n == -ETIMEDOUT) {
			p->timeouts++;
			continue;
		}
		CHECK(n >= 0);
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(p->got + (size_t)i, k)) {
				fprintf(stderr, "pair %d: byte %zu wrong\n", k, p->got + (size_t)i);
				CHECK(0);
			}
		p->got += (size_t)n;
	}
	atomic_store(&p->rid, 0);
	atomic_fetch_add(&done, 1);
}

static void canceller(void *arg)
{
	unsigned r = 99;
	while (!atomic_load(&stop)) {
		r = r * 1103515245u + 12345u;
		int64_t id = atomic_load(&pr[(r >> 16) % NPAIR].rid);
		if (id > 0)
			rg_cancel(id);
		rg_sleep((int64_t)((r >> 4) % 300) * 1000);
	}
}

static void *foreign(void *arg)
{
	unsigned r = 7;
	while (!atomic_load(&stop)) {
		r = r * 1103515245u + 12345u;
		int64_t id = atomic_load(&pr[(r >> 16) % NPAIR].rid);
		if (id > 0)
			rg_cancel(id);
		usleep((r >> 4) % 500);
	}
	return NULL;
}

static int main_fn(void *arg)
{
	for (int i = 0; i < NPAIR; i++) {
		t_tcp_pair(AF_INET, pr[i].fd);
		CHECK(rg_go(receiver, &pr[i]) > 0);
		CHECK(rg_go(writer, &pr[i]) > 0);
	}
	CHECK(rg_go(canceller, NULL) > 0);
	/* the foreign canceller starts after the last spawn (rg_cancel
	 * racing exits is io_cancel_id's subject) */
	pthread_t th;
	CHECK(pthread_create(&th, NULL, foreign, NULL) == 0);
	t_wait_count(&done, NPAIR);
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	int cancels = 0, timeouts = 0;
	for (int i = 0; i < NPAIR; i++) {
		CHECK_EQ(pr[i].got, SIZE);
		cancels += pr[i].cancels;
		timeouts += pr[i].timeouts;
		rg_close(pr[i].fd[0]);
		rg_close(pr[i].fd[1]);
	}
	printf("%s: %d x %d bytes intact; %d calls cancelled, %d timed out\n", rg_io_backend(), NPAIR, SIZE,
	       cancels, timeouts);
	CHECK(cancels > 0);
	rg_sleep(5 * MS); /* let the canceller task see stop */
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
