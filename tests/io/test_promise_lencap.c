/* io.h: "Lengths are capped at 0x7ffff000 bytes per call, as Linux caps
 * read(2)."  A length past 4 GiB must be capped, not cut to its low 32 bits
 * (an SQE's len is 32 bits): 4 GiB + 10 bytes written to /dev/null moves
 * 0x7ffff000, not 10.  The buffer is a PROT_READ MAP_NORESERVE mapping that
 * /dev/null never reads, so nothing is committed.  Both backends. */
#include <ringo.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "check.h"

static int main_task(void *arg)
{
	(void)arg;
	size_t big = ((size_t)1 << 32) + 10;
	void *m = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(m != MAP_FAILED);
	int fd = rg_open("/dev/null", O_WRONLY, 0, -1);
	CHECK(fd >= 0);
	CHECK_EQ(rg_write(fd, m, big, -1), 0x7ffff000);
	CHECK_EQ(rg_pwrite(fd, m, big, 0, -1), 0x7ffff000);
	CHECK_EQ(rg_write(fd, m, big, rg_now() + 1000000000), 0x7ffff000);
	CHECK_EQ(rg_close(fd), 0);
	munmap(m, big);
	return 0;
}

int main(void)
{
	if (sizeof(size_t) < 8)
		SKIP("32-bit size_t");
	CHECK_EQ(rg_run(main_task, NULL, &(rg_config){ .procs = 1, .quiet = 1, .nopin = 1 }), 0);
	setenv("RINGO_IO", "epoll", 1);
	CHECK_EQ(rg_run(main_task, NULL, &(rg_config){ .procs = 1, .quiet = 1, .nopin = 1 }), 0);
	return T_PASS;
}
