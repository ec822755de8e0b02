/* rg_run grows the fd table before the Ps start (cfg.fd_table), so a P
 * that opens its thousandth socket does not wait in the kernel's
 * expand_fdtable for an RCU grace period.  The table's size is the
 * FDSize line of /proc/self/status; the kernel never shrinks it. */
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "check.h"
#include "ringo.h"

static long fdsize(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f);
	char line[256];
	long n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "FDSize: %ld", &n) == 1)
			break;
	fclose(f);
	CHECK(n > 0);
	return n;
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 8192; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static long before, want;

/* The table was left alone. */
static int main_untouched(void *arg)
{
	CHECK_EQ(fdsize(), before);
	return 0;
}

/* The table holds `want` slots, the fd that grew it is closed, and a
 * task opening a thousand sockets at once does not grow it any more. */
static int main_grown(void *arg)
{
	long sz = fdsize();
	CHECK(sz >= want);
	CHECK(fcntl((int)want - 1, F_GETFD) < 0 && errno == EBADF);
	enum { N = 1000 };
	static int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(fds[i] >= 0);
	}
	CHECK_EQ(fdsize(), sz);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	return 0;
}

int main(void)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2048)
		SKIP("RLIMIT_NOFILE hard limit %lu < 2048", (unsigned long)rl.rlim_max);
	rl.rlim_cur = 2048;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);

	CHECK_EQ(rg_run(main_untouched, NULL, &(rg_config){ .fd_table = -2, .quiet = 1 }), -EINVAL);
	before = fdsize();
	CHECK_EQ(rg_run(main_untouched, NULL, &(rg_config){ .fd_table = -1, .quiet = 1 }), 0);
	CHECK_EQ(fdsize(), before);

	/* default: the soft limit (2048), as it is under 65536 */
	int nopen = open_fds();
	want = 2048;
	CHECK_EQ(rg_run(main_grown, NULL, &(rg_config){ .quiet = 1 }), 0);
	/* a count over the soft limit is clamped to it, not an error */
	rl.rlim_cur = 4096;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	want = 4096;
	CHECK_EQ(rg_run(main_grown, NULL, &(rg_config){ .fd_table = 1 << 20, .quiet = 1 }), 0);
	CHECK(fdsize() >= 4096);
	CHECK_EQ(open_fds(), nopen); /* nothing left open by either run */
	return T_PASS;
}
