/* File operations on a real file: open, write, read, readv/writev,
 * pread/pwrite (also O_DIRECT with aligned buffers), fsync, fdatasync,
 * statx, fallocate, close; pipes with read/write and deadline 0. */
// ctest-timeout: 60
#include <sys/stat.h>

#include "io_test.h"

static char path[256];

static int main_fn(void *arg)
{
	int before = t_open_fds();
	int fd = rg_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, -1);
	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(rg_write(fd, "hello ", 6, -1), 6);
	CHECK_EQ(rg_write(fd, "world", 5, rg_now() + 1000 * MS), 5);
	char a[4] = "ABCD", b[3] = "xyz";
	struct iovec wv[2] = { { a, 4 }, { b, 3 } };
	CHECK_EQ(rg_writev(fd, wv, 2, -1), 7);
	CHECK_EQ(rg_pwrite(fd, "W", 1, 6, -1), 1);
	char buf[64] = { 0 };
	CHECK_EQ(rg_pread(fd, buf, sizeof buf, 0, -1), 18);
	CHECK(memcmp(buf, "hello WorldABCDxyz", 18) == 0);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	char r1[5], r2[32];
	struct iovec rv[2] = { { r1, 5 }, { r2, 32 } };
	CHECK_EQ(rg_readv(fd, rv, 2, -1), 18);
	CHECK(memcmp(r1, "hello", 5) == 0 && memcmp(r2, " WorldABCDxyz", 13) == 0);
	CHECK_EQ(rg_read(fd, buf, sizeof buf, -1), 0); /* at the end */
	CHECK_EQ(rg_read(fd, buf, sizeof buf, 0), 0);  /* deadline 0 on a file */
	CHECK_EQ(rg_fsync(fd, -1), 0);
	CHECK_EQ(rg_fdatasync(fd, rg_now() + 5000 * MS), 0);
	int fr = rg_fallocate(fd, 0, 0, 1 << 20, -1);
	CHECK(fr == 0 || fr == -EOPNOTSUPP);
	struct statx stx;
	CHECK_EQ(rg_statx(AT_FDCWD, path, 0, STATX_SIZE | STATX_MODE, &stx, -1), 0);
	CHECK(S_ISREG(stx.stx_mode));
	CHECK_EQ(stx.stx_size, fr == 0 ? (1 << 20) : 18);
	CHECK_EQ(rg_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx, -1), 0);
	CHECK_EQ(rg_statx(AT_FDCWD, "/nonexistent/x", 0, STATX_SIZE, &stx, -1), -ENOENT);
	CHECK_EQ(rg_close(fd), 0);
	CHECK_EQ(rg_open("/nonexistent/x", O_RDONLY, 0, -1), -ENOENT);

	/* O_DIRECT: aligned buffer, length and offset */
	int dfd = rg_open(path, O_RDWR | O_DIRECT, 0, -1);
	if (dfd == -EINVAL) {
		printf("O_DIRECT not supported here: skipped\n");
	} else {
		CHECK(dfd >= 0);
		void *ab;
		CHECK(posix_memalign(&ab, 4096, 8192) == 0);
		memset(ab, 'd', 8192);
		ssize_t w = rg_pwrite(dfd, ab, 8192, 4096, -1);
		if (w == -EINVAL) {
			printf("O_DIRECT writes refused (EINVAL): skipped\n");
		} else {
			CHECK_EQ(w, 8192);
			memset(ab, 0, 8192);
			CHECK_EQ(rg_pread(dfd, ab, 4096, 8192, -1), 4096);
			CHECK(((char *)ab)[0] == 'd' && ((char *)ab)[4095] == 'd');
		}
		free(ab);
		CHECK_EQ(rg_close(dfd), 0);
	}
	CHECK_EQ(unlink(path), 0);

	/* pipes: read/write, deadline 0 and a deadline */
	int pp[2];
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	CHECK_EQ(rg_read(pp[0], buf, 8, 0), -EAGAIN);
	CHECK_EQ(rg_read(pp[0], buf, 8, rg_now() + 20 * MS), -ETIMEDOUT);
	CHECK_EQ(rg_write(pp[1], "pipe", 4, 0), 4);
	CHECK_EQ(rg_read(pp[0], buf, 8, -1), 4);
	CHECK_EQ(rg_close(pp[1]), 0);
	CHECK_EQ(rg_read(pp[0], buf, 8, -1), 0);
	CHECK_EQ(rg_close(pp[0]), 0);
	CHECK_EQ(t_open_fds(), before);
	return 0;
}

int main(void)
{
	/* the build dir is on a real file system (O_DIRECT); /tmp may be tmpfs */
	snprintf(path, sizeof path, "io-files-test-%d.tmp", (int)getpid());
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
