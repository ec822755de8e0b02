/* An rg_stream that outlives the rg_run it was opened in.
 *
 * A task opens a stream on a socket, receives from it (which arms the
 * multishot recv on its P's ring, from that P's buffer pool), releases the
 * buffer and returns: the stream is idle, no task is parked on it, so
 * rg_run's "do not use it after rg_run returned" (core.h: objects a
 * *discarded* task was parked on) does not cover it.  rg_run ends: the
 * stream's P record is freed, its ring closed (the multishot with it) and
 * its buffer pool freed (rg__io_ring_gone).  The stream still names them
 * (s->home, s->pool, s->armed).  Then:
 *   mode 0: the next rg_run closes it (rg_stream_close: "frees the stream")
 *           -> rg__io_hop to the freed P: "io: hop to a P without io
 *           state", or, when the new P got the old one's address, a
 *           cancel for a multishot that no longer exists and a wait for
 *           its final CQE that never comes (a hang);
 *   mode 1: the same with 2 Ps in the second run;
 *   mode 2: the next rg_run receives from it: the same hop;
 *   mode 3: main() closes it after rg_run: aborts ("outside a task"),
 *           though nothing of the runtime's is left to undo -- so a stream
 *           opened in a run can never be freed once that run is over.
 * Each mode runs in a child process (alarm: a hang fails it).  On the
 * epoll backend a stream is a plain recv into its own buffers and none of
 * this applies (the test runs there too and must pass). */
// ctest-timeout: 60
#include <signal.h>
#include <sys/wait.h>

#include "io_test.h"

static rg_stream *g_s;
static int g_sp[2];
static int g_mode;

static int run1(void *arg)
{
	(void)arg;
	t_unix_pair(g_sp);
	CHECK_EQ(rg_stream_open(&g_s, g_sp[0]), 0);
	CHECK_EQ(rg_write(g_sp[1], "hello", 5, -1), 5);
	rg_buf b;
	CHECK_EQ(rg_stream_recv(g_s, &b, rg_now() + 5000 * MS), 5);
	CHECK(memcmp(b.data, "hello", 5) == 0);
	rg_stream_release(g_s, &b);
	return 0; /* the stream stays open, idle, its multishot armed */
}

static int run2(void *arg)
{
	(void)arg;
	if (g_mode == 2) {
		rg_buf b;
		ssize_t r = rg_stream_recv(g_s, &b, rg_now() + 200 * MS);
		printf("recv on a stream of the last run: %zd\n", r);
		/* whatever it says, it must say it (and not hand out a buffer
		 * of a pool that is gone) */
		CHECK(r < 0);
	}
	rg_stream_close(g_s);
	g_s = NULL;
	return 0;
}

static void child(int mode)
{
	g_mode = mode;
	alarm(8);
	CHECK_EQ(t_run(run1, 1), 0);
	if (mode == 3) {
		rg_stream_close(g_s); /* memory only: the run is over */
	} else {
		CHECK_EQ(t_run(run2, mode == 1 ? 2 : 1), 0);
	}
	close(g_sp[0]);
	close(g_sp[1]);
	exit(0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int failed = t_fork_cases(4, child, NULL);
	printf(failed ? "life_stream: FAILED\n" : "life_stream: ok\n");
	return failed ? T_FAIL : T_PASS;
}
