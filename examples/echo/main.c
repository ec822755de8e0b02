/*
 * examples/echo — a TCP echo server, one task per connection.
 *
 *   echo PORT [PROCS]
 *
 * ECHO_STREAM=1 receives through rg_stream (multishot recv into the P's
 * provided-buffer ring) instead of rg_recv into the task's own buffer.
 * Either way the accept loop below gets a multishot accept on io_uring (one
 * task calling rg_accept on one listener, addr NULL): connections that
 * arrive while it spawns a task are accepted meanwhile, and it closes the
 * listener with rg_close, which stops that accept.
 *
 * Listens on 127.0.0.1:PORT, sets TCP_NODELAY, reads into a 64 KiB buffer
 * per connection and writes back exactly what it read.  PROCS (default: one
 * per usable CPU) is the number of Ps.  SIGTERM or SIGINT stops it: a task
 * reading a signalfd cancels the accepting task (rg_cancel), whose
 * rg_accept returns -ECANCELED; main returns and rg_run releases the rest.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ringo.h"
#include "ringo/io.h"

#define BUF (64 * 1024)

static int port;
static int sfd;
static int64_t acceptor;

static void conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF];
	for (;;) {
		ssize_t n = rg_recv(fd, buf, sizeof buf, 0, -1);
		if (n <= 0)
			break;
		if (rg_send_all(fd, buf, (size_t)n, -1, NULL) < 0)
			break;
	}
	rg_close(fd);
}

/* The server fast path: no SQE per receive, buffers from the P's pool. */
static void conn_stream(void *arg)
{
	int fd = (int)(intptr_t)arg;
	rg_stream *s;
	if (rg_stream_open(&s, fd) < 0) {
		rg_close(fd);
		return;
	}
	for (;;) {
		rg_buf b;
		ssize_t n = rg_stream_recv(s, &b, -1);
		if (n <= 0)
			break;
		ssize_t w = rg_send_all(fd, b.data, b.len, -1, NULL);
		rg_stream_release(s, &b);
		if (w < 0)
			break;
	}
	rg_stream_close(s);
	rg_close(fd);
}

static int use_stream;

static void on_signal(void *arg)
{
	struct signalfd_siginfo si;
	if (rg_read(sfd, &si, sizeof si, -1) == (ssize_t)sizeof si)
		fprintf(stderr, "echo: signal %u, stopping\n", si.ssi_signo);
	rg_cancel(acceptor);
}

static int serve(void *arg)
{
	struct sockaddr_storage ss;
	int len = rg_sockaddr("127.0.0.1", port, &ss);
	int lfd = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 4096, RG_LISTEN_REUSEADDR);
	if (lfd < 0) {
		fprintf(stderr, "echo: listen on 127.0.0.1:%d: %s\n", port, strerror(-lfd));
		return 1;
	}
	acceptor = rg_self();
	rg_go(on_signal, NULL);
	fprintf(stderr, "echo: listening on 127.0.0.1:%d, %d procs, %s\n", port, rg_procs(), rg_io_backend());
	int one = 1;
	for (;;) {
		int fd = rg_accept(lfd, NULL, NULL, -1);
		if (fd == -ECANCELED)
			break;
		if (fd < 0) {
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
				rg_sleep(10 * 1000000); /* out of resources: back off */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (rg_go(use_stream ? conn_stream : conn, (void *)(intptr_t)fd) < 0)
			rg_close(fd);
	}
	rg_close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: echo PORT [PROCS]\n");
		return 2;
	}
	port = atoi(argv[1]);
	const char *es = getenv("ECHO_STREAM");
	use_stream = es && *es == '1';
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "echo: bad port '%s'\n", argv[1]);
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* blocked before any thread starts: every P thread inherits the mask */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("echo: signalfd");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	rg_config cfg = { .procs = argc == 3 ? atoi(argv[2]) : 0, .stack_size = 128 * 1024 };
	int r = rg_run(serve, NULL, &cfg);
	close(sfd);
	return r < 0 ? 1 : r;
}
