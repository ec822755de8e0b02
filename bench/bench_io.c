/*
 * bench/bench_io.c — io/ micro benchmarks, in one process (one P unless
 * RINGO_PROCS says otherwise):
 *
 *   ringo_io_pingpong_1      ns per round trip, one pair of tasks bouncing
 *                            one byte over a Unix socketpair (rg_send/rg_recv)
 *   ringo_io_pingpong_64     ns per round trip with 64 pairs at once: the
 *                            batching case (many SQEs per io_uring_enter)
 *   ringo_io_deadline_64     the same with a deadline on every call (each
 *                            op carries a LINK_TIMEOUT)
 *   ringo_io_stream_64       the same, receiving through rg_stream
 *   ringo_io_pread_4k        ns per 4 KiB rg_pread of a cached file, 64 tasks
 *   ringo_io_accept_burst    ns per rg_accept(addr NULL) of a burst of 256
 *                            connections that arrived while the accepting
 *                            task was busy (io_uring: multishot accept, the
 *                            connections are queued before the calls)
 *   ringo_io_accept_burst_addr  the same asking for the peer's address
 *                            (io_uring: one single-shot accept SQE per call)
 *
 * Each prints "bench: <name> <value> ns".  Run with RINGO_IO=epoll for the
 * fallback's figures (names get _epoll).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringo.h"
#include "ringo/io.h"

static int64_t iters;
static _Atomic int done;
static int mode; /* 0 plain, 1 deadline, 2 stream */

static void pong(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;
	if (mode == 2) {
		rg_stream *s;
		if (rg_stream_open(&s, fd))
			abort();
		for (int64_t i = 0; i < iters; i++) {
			rg_buf b;
			if (rg_stream_recv(s, &b, -1) != 1)
				abort();
			c = *(char *)b.data;
			rg_stream_release(s, &b);
			if (rg_send(fd, &c, 1, 0, -1) != 1)
				abort();
		}
		rg_stream_close(s);
	} else {
		for (int64_t i = 0; i < iters; i++) {
			int64_t dl = mode == 1 ? rg_now() + 10000000000LL : -1;
			if (rg_recv(fd, &c, 1, 0, dl) != 1 || rg_send(fd, &c, 1, 0, dl) != 1)
				abort();
		}
	}
	atomic_fetch_add(&done, 1);
}

static void ping(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c = 'x';
	for (int64_t i = 0; i < iters; i++) {
		int64_t dl = mode == 1 ? rg_now() + 10000000000LL : -1;
		if (rg_send(fd, &c, 1, 0, dl) != 1 || rg_recv(fd, &c, 1, 0, dl) != 1)
			abort();
	}
	atomic_fetch_add(&done, 1);
}

static double pingpong(int pairs, int m, int64_t n)
{
	int (*sp)[2] = calloc((size_t)pairs, sizeof *sp);
	for (int i = 0; i < pairs; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp[i]))
			abort();
	iters = n;
	mode = m;
	atomic_store(&done, 0);
	int64_t t0 = rg_now();
	for (int i = 0; i < pairs; i++) {
		rg_go(pong, (void *)(intptr_t)sp[i][1]);
		rg_go(ping, (void *)(intptr_t)sp[i][0]);
	}
	while (atomic_load(&done) < 2 * pairs)
		rg_sleep(1000000);
	int64_t t = rg_now() - t0;
	for (int i = 0; i < pairs; i++) {
		close(sp[i][0]);
		close(sp[i][1]);
	}
	free(sp);
	return (double)t / ((double)n * pairs);
}

static int pfd;
static void reader(void *arg)
{
	char *buf = malloc(4096);
	for (int64_t i = 0; i < iters; i++)
		if (rg_pread(pfd, buf, 4096, (i % 256) * 4096, -1) != 4096)
			abort();
	free(buf);
	atomic_fetch_add(&done, 1);
}

static double pread_bench(int tasks, int64_t n)
{
	char path[] = "/tmp/ringo-bench-io-XXXXXX";
	pfd = mkstemp(path);
	unlink(path);
	char *blk = calloc(1, 1 << 20);
	if (pfd < 0 || write(pfd, blk, 1 << 20) != 1 << 20)
		abort();
	free(blk);
	iters = n;
	atomic_store(&done, 0);
	int64_t t0 = rg_now();
	for (int i = 0; i < tasks; i++)
		rg_go(reader, NULL);
	while (atomic_load(&done) < tasks)
		rg_sleep(1000000);
	int64_t t = rg_now() - t0;
	close(pfd);
	return (double)t / ((double)n * tasks);
}

/* rg_open + rg_close of a regular file (the page-cache path): what
 * rg_openat's FIFO check costs an O_RDONLY open (one fstat); sending every
 * open to the kernel's worker instead cost 1.8 -> 4.8 us in a plain
 * liburing loop. */
static double open_close(int64_t n)
{
	char path[] = "/tmp/ringo-bench-open-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	int64_t t0 = rg_now();
	for (int64_t i = 0; i < n; i++) {
		int f = rg_open(path, O_RDONLY, 0, -1);
		if (f < 0 || rg_close(f) != 0)
			abort();
	}
	int64_t t = rg_now() - t0;
	unlink(path);
	return (double)t / (double)n;
}

/* Connections come from a plain thread: blocking connects complete in the
 * listen backlog whoever accepts them. */
#define BURST 256
static int burst_port;
static int burst_fd[BURST];
static _Atomic int burst_done;

static void *burst_connect(void *arg)
{
	(void)arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)burst_port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < BURST; i++) {
		burst_fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (burst_fd[i] < 0 || connect(burst_fd[i], (struct sockaddr *)&a, sizeof a))
			abort();
	}
	atomic_store(&burst_done, 1);
	return NULL;
}

static double accept_burst(bool addr, int rounds)
{
	struct sockaddr_storage ss;
	int len = rg_sockaddr("127.0.0.1", 0, &ss);
	int l = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 4096, RG_LISTEN_REUSEADDR);
	socklen_t sl = sizeof ss;
	if (l < 0 || getsockname(l, (struct sockaddr *)&ss, &sl))
		abort();
	burst_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	int64_t total = 0;
	for (int r = 0; r < rounds + 1; r++) { /* round 0 warms up (and arms) */
		atomic_store(&burst_done, 0);
		pthread_t th;
		if (pthread_create(&th, NULL, burst_connect, NULL))
			abort();
		while (!atomic_load(&burst_done)) /* busy elsewhere meanwhile */
			rg_sleep(1000000);
		pthread_join(th, NULL);
		rg_sleep(2000000);
		int fds[BURST];
		int64_t t0 = rg_now();
		for (int i = 0; i < BURST; i++) {
			struct sockaddr_storage pa;
			socklen_t pl = sizeof pa;
			fds[i] = addr ? rg_accept(l, (struct sockaddr *)&pa, &pl, -1) : rg_accept(l, NULL, NULL, -1);
			if (fds[i] < 0)
				abort();
		}
		if (r > 0)
			total += rg_now() - t0;
		for (int i = 0; i < BURST; i++) {
			rg_close(fds[i]);
			close(burst_fd[i]);
		}
	}
	rg_close(l);
	return (double)total / ((double)rounds * BURST);
}

static int main_fn(void *arg)
{
	const char *sfx = strcmp(rg_io_backend(), "epoll") ? "" : "_epoll";
	pingpong(1, 0, 2000); /* warm up */
	printf("bench: ringo_io_pingpong_1%s %.0f ns\n", sfx, pingpong(1, 0, 100000));
	printf("bench: ringo_io_pingpong_64%s %.0f ns\n", sfx, pingpong(64, 0, 5000));
	printf("bench: ringo_io_deadline_64%s %.0f ns\n", sfx, pingpong(64, 1, 5000));
	printf("bench: ringo_io_stream_64%s %.0f ns\n", sfx, pingpong(64, 2, 5000));
	printf("bench: ringo_io_pread_4k%s %.0f ns\n", sfx, pread_bench(64, 5000));
	printf("bench: ringo_io_open_close%s %.0f ns\n", sfx, open_close(20000));
	printf("bench: ringo_io_accept_burst%s %.0f ns\n", sfx, accept_burst(false, 10));
	printf("bench: ringo_io_accept_burst_addr%s %.0f ns\n", sfx, accept_burst(true, 10));
	return 0;
}

int main(void)
{
	rg_config c = { .procs = 1, .quiet = 1 };
	const char *p = getenv("RINGO_PROCS");
	if (p)
		c.procs = atoi(p);
	return rg_run(main_fn, NULL, &c) == 0 ? 0 : 1;
}
