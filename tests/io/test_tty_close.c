/* rg_write to a terminal while another task rg_closes the fd and the
 * number is reused.  ringo/io.h: "rg_close does not interrupt calls other
 * tasks are making on the same fd: those keep the open file alive until
 * they complete".  A terminal write (io/io.c: tty_write) first waits for
 * the fd to poll writable (a poll op, which holds the file while it
 * waits), then writes on rg_blocking's pool -- by fd number.  When the
 * number had been closed and reused meanwhile, the write went to the new
 * file: here a regular file opened after the close received the bytes
 * meant for the terminal (io_uring; on epoll the poll lost the closed
 * file and the call waited out its deadline).  The call must write to
 * the terminal it was given and return the count. */
// ctest-timeout: 60
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <termios.h>

#include "io_test.h"

static int g_master, g_slave, g_nb;
static _Atomic int64_t g_id, g_res;
static _Atomic int g_started, g_done;

static void writer(void *arg)
{
	(void)arg;
	atomic_store(&g_id, rg_self());
	atomic_store(&g_started, 1);
	atomic_store(&g_res, rg_write(g_slave, "MARK", 4, rg_now() + 3000 * MS));
	atomic_store(&g_done, 1);
}

static int main_fn(void *arg)
{
	(void)arg;
	t_pty_fill(g_nb);
	CHECK(rg_go(writer, NULL) > 0);
	while (!atomic_load(&g_started))
		rg_sleep(MS);
	t_wait_parked(atomic_load(&g_id));
	rg_sleep(20 * MS);
	CHECK(!atomic_load(&g_done)); /* waiting for room */
	int old = g_slave;
	CHECK_EQ(rg_close(old), 0);
	char path[] = "/tmp/rg_ttyXXXXXX";
	int f = mkstemp(path); /* the lowest free number: the one just closed */
	CHECK(f >= 0);
	unlink(path);
	if (f != old)
		printf("(the new file got fd %d, not %d)\n", f, old);
	/* make room on the terminal: the writer's wait ends */
	static char sink[65536];
	int64_t end = rg_now() + 5000 * MS;
	while (!atomic_load(&g_done) && rg_now() < end) {
		ssize_t n = read(g_master, sink, sizeof sink);
		(void)n;
		rg_sleep(MS);
	}
	CHECK(atomic_load(&g_done));
	struct stat st;
	CHECK(fstat(f, &st) == 0);
	printf("%s: rg_write(tty) = %lld; the file that got the closed fd's number holds %lld bytes\n",
	       rg_io_backend(), (long long)atomic_load(&g_res), (long long)st.st_size);
	fflush(stdout);
	CHECK_EQ(st.st_size, 0);
	CHECK_EQ(atomic_load(&g_res), 4);
	close(f);
	return 0;
}

int main(void)
{
	g_slave = t_pty_open(O_NONBLOCK, &g_master);
	/* a second open, O_NONBLOCK: fills the terminal, and keeps it open */
	g_nb = open(ptsname(g_master), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	CHECK(g_nb >= 0);
	alarm(50);
	CHECK_EQ(t_run(main_fn, 1), 0);
	printf("OK\n");
	return T_PASS;
}
