/* Writes to a terminal nobody drains (a pty's slave side, master unread).
 * A terminal's write waits for room unless the file is O_NONBLOCK:
 * RWF_NOWAIT and io_uring's inline attempt did not stop it, so rg_write
 * blocked the P's thread -- other tasks stopped, the deadline was not
 * kept, and deadline 0 blocked too (found by the io review; this test hung
 * on both backends before).  The kernel honours RWF_NOWAIT when the
 * terminal is full as the write starts; it is a write larger than the room
 * left that then waits for the rest.  Now:
 *   - with a deadline: the call waits for room (the deadline ends that
 *     wait: -ETIMEDOUT), then writes on rg_blocking's pool, which runs to
 *     the end (the test drains the master after 300 ms to let it finish);
 *   - deadline 0 with some room: written on the pool, to the end;
 *   - deadline 0, no room: -EAGAIN at once;
 *   - throughout, a ticker task on the same single P goes on running. */
// ctest-timeout: 60
#include <poll.h>
#include <termios.h>

#include "io_test.h"

#define BIG (1 << 20)

static int g_master, g_slave;
static _Atomic long ticks;
static _Atomic int stop, drain_stop, drain_done;

static void ticker(void *arg)
{
	while (!atomic_load(&stop)) {
		rg_sleep(MS);
		atomic_fetch_add(&ticks, 1);
	}
}

/* reads the master side after 300 ms, until told to stop */
static void drainer(void *arg)
{
	static char sink[65536];
	rg_sleep(300 * MS);
	while (!atomic_load(&drain_stop)) {
		ssize_t n = rg_read(g_master, sink, sizeof sink, rg_now() + 20 * MS);
		CHECK(n > 0 || n == -ETIMEDOUT);
	}
	atomic_store(&drain_done, 1);
}

static void drain_start(void)
{
	atomic_store(&drain_stop, 0);
	atomic_store(&drain_done, 0);
	CHECK(rg_go(drainer, NULL) > 0);
}

static void drain_end(void)
{
	atomic_store(&drain_stop, 1);
	while (!atomic_load(&drain_done))
		rg_sleep(MS);
	CHECK(tcflush(g_master, TCIFLUSH) == 0 && tcflush(g_slave, TCOFLUSH) == 0);
}

static void fill(void)
{
	/* a second open of the slave, O_NONBLOCK (its own open file) */
	int nb = open(ptsname(g_master), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	CHECK(nb >= 0);
	size_t total = t_pty_fill(nb);
	close(nb);
	printf("  the terminal holds %zu bytes\n", total);
}

static char big[BIG];

/* 1 MiB to the terminal, which holds far less; reports and checks that the
 * ticker, on the same P, went on */
static ssize_t write_big(const char *what, int64_t deadline, int64_t *took)
{
	long before = atomic_load(&ticks);
	int64_t t0 = rg_now();
	ssize_t r = rg_write(g_slave, big, sizeof big, deadline);
	*took = rg_now() - t0;
	long ticked = atomic_load(&ticks) - before;
	printf("  %s: %zd after %.0f ms; the ticker ticked %ld times\n", what, r, *took / 1e6, ticked);
	CHECK(ticked >= 20); /* the P ran other tasks meanwhile */
	return r;
}

static int main_fn(void *arg)
{
	printf("backend %s\n", rg_io_backend());
	atomic_store(&stop, 0);
	atomic_store(&ticks, 0);
	memset(big, 'z', sizeof big);
	CHECK(rg_go(ticker, NULL) > 0);
	int64_t took;
	/* a deadline, room for part: the pool writes to the end, which the
	 * drainer allows after 300 ms */
	drain_start();
	ssize_t r = write_big("rg_write(1 MiB, 10 s)", rg_now() + 10000 * MS, &took);
	CHECK_EQ(r, BIG);
	CHECK(took >= 290 * MS);
	drain_end();
	/* a deadline, no room: the wait for room ends there */
	fill();
	r = write_big("rg_write(1 MiB, 300 ms), full", rg_now() + 300 * MS, &took);
	CHECK_EQ(r, -ETIMEDOUT);
	CHECK(took >= 290 * MS && took < 5000 * MS); /* a liveness bound, not a speed figure */
	drain_start();
	drain_end();
	/* deadline 0 with room: written on the pool, to the end */
	drain_start();
	r = write_big("rg_write(1 MiB, 0)", 0, &took);
	CHECK_EQ(r, BIG);
	drain_end();
	/* deadline 0, no room: -EAGAIN at once */
	fill();
	int64_t t0 = rg_now();
	CHECK_EQ(rg_write(g_slave, "x", 1, 0), -EAGAIN);
	struct iovec v = { "y", 1 };
	CHECK_EQ(rg_writev(g_slave, &v, 1, 0), -EAGAIN);
	CHECK(rg_now() - t0 < 100 * MS);
	atomic_store(&stop, 1);
	rg_sleep(50 * MS);
	return 0;
}

int main(void)
{
	g_slave = t_pty_open(0, &g_master);
	setvbuf(stdout, NULL, _IONBF, 0);
	alarm(50); /* a P blocked in the kernel hangs: fail instead */
	CHECK_EQ(t_run(main_fn, 1), 0);
	printf("tty: ok\n");
	return T_PASS;
}
