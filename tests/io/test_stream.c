/* rg_stream: multishot recv into the P's provided-buffer ring.  64
 * connections echo a byte pattern through a deliberately small pool (16
 * buffers of 1 KiB: the ring runs dry, streams starve and are re-armed);
 * deadlines, deadline 0, rg_cancel, end of stream, close while armed. */
// ctest-timeout: 60
// ctest-env: RINGO_BUFRING=16x1024
#include "io_test.h"

#define NCONN 64
#define SIZE (T_SANITIZED ? (64 << 10) : (512 << 10))

static _Atomic int done;

static void echo_task(void *arg)
{
	int fd = (int)(intptr_t)arg;
	rg_stream *s;
	CHECK_EQ(rg_stream_open(&s, fd), 0);
	for (;;) {
		rg_buf b;
		ssize_t n = rg_stream_recv(s, &b, -1);
		if (n <= 0) {
			CHECK_EQ(n, 0);
			break;
		}
		CHECK_EQ(rg_send_all(fd, b.data, b.len, -1, NULL), (ssize_t)b.len);
		rg_stream_release(s, &b);
	}
	rg_buf b;
	CHECK_EQ(rg_stream_recv(s, &b, -1), 0); /* end of stream stays */
	rg_stream_close(s);
	rg_close(fd);
	atomic_fetch_add(&done, 1);
}

static void writer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[3000];
	for (size_t off = 0; off < SIZE;) {
		size_t n = SIZE - off < sizeof buf ? SIZE - off : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)((off + i) * 13 + fd);
		CHECK_EQ(rg_send_all(fd, buf, n, -1, NULL), (ssize_t)n);
		off += n;
	}
	rg_shutdown(fd, SHUT_WR);
}

static void client(void *arg)
{
	int fds[2];
	t_tcp_pair(AF_INET, fds);
	CHECK(rg_go(echo_task, (void *)(intptr_t)fds[1]) > 0);
	CHECK(rg_go(writer, (void *)(intptr_t)fds[0]) > 0);
	unsigned char buf[4096];
	size_t got = 0;
	for (;;) {
		ssize_t n = rg_recv(fds[0], buf, sizeof buf, 0, -1);
		CHECK(n >= 0);
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			CHECK_EQ(buf[i], (unsigned char)((got + (size_t)i) * 13 + fds[0]));
		got += (size_t)n;
	}
	CHECK_EQ(got, SIZE);
	rg_close(fds[0]);
	atomic_fetch_add(&done, 1);
}

static _Atomic int64_t victim_id;
static _Atomic int victim_state;

static void victim(void *arg)
{
	int fd = (int)(intptr_t)arg;
	rg_stream *s;
	CHECK_EQ(rg_stream_open(&s, fd), 0);
	atomic_store(&victim_id, rg_self());
	rg_buf b;
	CHECK_EQ(rg_stream_recv(s, &b, -1), -ECANCELED);
	atomic_store(&victim_state, 1);
	/* data sent after the cancel still arrives */
	CHECK_EQ(rg_stream_recv(s, &b, rg_now() + 2000 * MS), 3);
	CHECK(memcmp(b.data, "abc", 3) == 0);
	rg_stream_release(s, &b);
	rg_stream_close(s);
	atomic_store(&victim_state, 2);
}

static int main_fn(void *arg)
{
	int before = t_open_fds();
	int fds[2];
	t_tcp_pair(AF_INET, fds);
	rg_stream *s;
	CHECK_EQ(rg_stream_open(&s, fds[1]), 0);
	rg_buf b;
	CHECK_EQ(rg_stream_recv(s, &b, 0), -EAGAIN);
	int64_t t0 = rg_now();
	CHECK_EQ(rg_stream_recv(s, &b, t0 + 30 * MS), -ETIMEDOUT);
	CHECK(rg_now() - t0 >= 29 * MS);
	CHECK_EQ(rg_send(fds[0], "hello", 5, 0, -1), 5);
	CHECK_EQ(rg_stream_recv(s, &b, rg_now() + 2000 * MS), 5);
	CHECK(memcmp(b.data, "hello", 5) == 0);
	rg_stream_release(s, &b);
	rg_stream_close(s); /* armed: waits for the multishot's end */
	/* a new stream on the same fd */
	CHECK_EQ(rg_stream_open(&s, fds[1]), 0);
	CHECK_EQ(rg_send(fds[0], "x", 1, 0, -1), 1);
	CHECK_EQ(rg_stream_recv(s, &b, -1), 1);
	rg_stream_release(s, &b);
	rg_stream_close(s);
	close(fds[0]);
	close(fds[1]);
	CHECK_EQ(rg_stream_open(NULL, 0), -EFAULT);
	CHECK_EQ(rg_stream_open(&s, -1), -EBADF);

	/* cancel */
	t_tcp_pair(AF_INET, fds);
	CHECK(rg_go(victim, (void *)(intptr_t)fds[1]) > 0);
	while (!atomic_load(&victim_id))
		rg_sleep(MS);
	rg_sleep(20 * MS);
	CHECK_EQ(rg_cancel(atomic_load(&victim_id)), 0);
	while (atomic_load(&victim_state) < 1)
		rg_sleep(MS);
	CHECK_EQ(rg_send(fds[0], "abc", 3, 0, -1), 3);
	while (atomic_load(&victim_state) < 2)
		rg_sleep(MS);
	close(fds[0]);
	close(fds[1]);

	/* many streams through a small pool */
	for (int i = 0; i < NCONN; i++)
		CHECK(rg_go(client, NULL) > 0);
	t_wait_count(&done, 2 * NCONN);
	CHECK_EQ(t_open_fds(), before);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
