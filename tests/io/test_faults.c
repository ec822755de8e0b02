/* Fault injection (RINGO_FAULTS): 32 loopback streams pump a known byte
 * pattern through rg_send/rg_recv with short transfers, -EAGAIN on
 * deadline-0 calls, -ENOBUFS and delays injected; every byte arrives, in
 * order, exactly once.  With "reset" in RINGO_FAULTS, streams may end early
 * on an injected -ECONNRESET: then what arrived must be an exact prefix of
 * what was sent. */
// ctest-timeout: 90
// ctest-env: RINGO_FAULTS=short:0.3,eagain:0.3,enobufs:0.05,delay:0.02,delay_us:200,seed:7
#include <poll.h>
#include <stdbool.h>

#include "io_test.h"

uint64_t rg__io_fault_hits(int kind);

#define NSTREAM 32
#define SIZE (T_SANITIZED ? (256 << 10) : (2 << 20))

static _Atomic int done, resets;
static bool with_reset;

struct stream {
	int fd[2];
	size_t sent, rcvd;
	_Atomic bool reset;   /* sender and receiver may both set it */
};
static struct stream st[NSTREAM];

static inline unsigned char pat(size_t i, int s)
{
	return (unsigned char)(i * 131 + (i >> 11) + (size_t)s * 7);
}

static void sender(void *arg)
{
	struct stream *x = arg;
	int s = (int)(x - st);
	unsigned char buf[8192];
	while (x->sent < SIZE) {
		size_t n = SIZE - x->sent < sizeof buf ? SIZE - x->sent : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(x->sent + i, s);
		bool nb = (x->sent / 8192) % 2;
		ssize_t r = rg_send(x->fd[0], buf, n, 0, nb ? 0 : -1);
		if (r == -EAGAIN) {
			CHECK(nb);
			int pr = rg_poll(x->fd[0], POLLOUT, -1);
			CHECK(pr > 0 || pr == -EAGAIN); /* not -EAGAIN for -1: ok either way */
			continue;
		}
		if (r == -ENOBUFS)
			continue; /* nothing went out: send it again */
		if (r == -ECONNRESET) {
			CHECK(with_reset);
			x->reset = true;
			atomic_fetch_add(&resets, 1);
			break;
		}
		CHECK(r > 0);
		x->sent += (size_t)r;
	}
	rg_shutdown(x->fd[0], SHUT_WR);
	atomic_fetch_add(&done, 1);
}

static void receiver(void *arg)
{
	struct stream *x = arg;
	int s = (int)(x - st);
	unsigned char buf[8192];
	for (;;) {
		bool nb = (x->rcvd / 4096) % 3 == 1;
		ssize_t r = rg_recv(x->fd[1], buf, sizeof buf, 0, nb ? 0 : -1);
		if (r == -EAGAIN) {
			CHECK(nb);
			rg_poll(x->fd[1], POLLIN, rg_now() + 1000 * MS);
			continue;
		}
		if (r == -ECONNRESET) {
			CHECK(with_reset);
			atomic_fetch_add(&resets, 1);
			x->reset = true;
			break;
		}
		CHECK(r >= 0);
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat(x->rcvd + (size_t)i, s)) {
				fprintf(stderr, "stream %d: byte %zu wrong\n", s, x->rcvd + (size_t)i);
				CHECK(0);
			}
		x->rcvd += (size_t)r;
	}
	atomic_fetch_add(&done, 1);
}

static int main_fn(void *arg)
{
	for (int i = 0; i < NSTREAM; i++) {
		t_tcp_pair(AF_INET, st[i].fd);
		CHECK(rg_go(sender, &st[i]) > 0);
		CHECK(rg_go(receiver, &st[i]) > 0);
	}
	t_wait_count(&done, 2 * NSTREAM);
	size_t total = 0;
	for (int i = 0; i < NSTREAM; i++) {
		if (!st[i].reset) {
			CHECK_EQ(st[i].sent, SIZE);
			CHECK_EQ(st[i].rcvd, SIZE);
		} else {
			CHECK(st[i].rcvd <= st[i].sent); /* a prefix, checked byte by byte */
		}
		total += st[i].rcvd;
		rg_close(st[i].fd[0]);
		rg_close(st[i].fd[1]);
	}
	printf("%s: %zu bytes checked; injected: short %llu, eagain %llu, enobufs %llu, reset %llu, delay %llu; "
	       "resets seen %d\n",
	       rg_io_backend(), total, (unsigned long long)rg__io_fault_hits(0),
	       (unsigned long long)rg__io_fault_hits(1), (unsigned long long)rg__io_fault_hits(2),
	       (unsigned long long)rg__io_fault_hits(3), (unsigned long long)rg__io_fault_hits(4),
	       atomic_load(&resets));
	CHECK(rg__io_fault_hits(0) > 0 && rg__io_fault_hits(1) > 0 && rg__io_fault_hits(2) > 0 &&
	      rg__io_fault_hits(4) > 0);
	if (with_reset)
		CHECK(rg__io_fault_hits(3) > 0);
	return 0;
}

int main(void)
{
	const char *f = getenv("RINGO_FAULTS");
	if (!f || !*f)
		SKIP("RINGO_FAULTS not set");
	with_reset = strstr(f, "reset") != NULL;
#ifdef T_EPOLL /* ctest-env cannot carry two variables (CMake escapes ';') */
	setenv("RINGO_IO", "epoll", 1);
#endif
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
