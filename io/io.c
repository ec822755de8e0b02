/*
 * io/io.c — the public calls: validate, check the deadline, turn the call
 * into a rg__io_req, let fault injection bend it, run it on the backend.
 *
 * The path of one call (the one to keep short):
 *   1. bad arguments -> -errno here, before anything is queued;
 *   2. not on a task -> -EPERM; deadline < -1 -> -EINVAL; deadline in the
 *      past -> -ETIMEDOUT (deadline -1 costs no clock read);
 *   3. RINGO_FAULTS set?  rg__fault_before may answer for the call;
 *   4. deadline 0: rg__io_try makes the non-blocking syscall where one
 *      exists (recv/send with MSG_DONTWAIT, read/write with RWF_NOWAIT,
 *      poll with timeout 0);
 *   5. else the backend runs it: io_uring (io/uring.c) or epoll (io/epoll.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/io_int.h"

bool rg__io_use_epoll;

/* ---- writes to terminals ------------------------------------------------
 *
 * A terminal's write waits for room in its output buffer unless the file
 * is O_NONBLOCK: RWF_NOWAIT does not stop it, nor does io_uring's inline
 * attempt, so a write to a terminal nobody drains blocked the P's thread
 * (both backends, and deadline 0 too; kernel 6.x, found by the io review).
 * O_NONBLOCK cannot be set for the caller: it belongs to the open file,
 * shared with the shell.  Nor does io_uring's worker help (IOSQE_ASYNC):
 * its linked timeout never fired there (6.18, a liburing-only program),
 * only an explicit ASYNC_CANCEL stopped it.  So a write to a terminal
 * (fstat says a character device, and isatty) waits for the fd to poll
 * writable -- the deadline and rg_cancel end that wait, on either backend
 * -- and is then made on rg_blocking's pool, which runs it to the end, as
 * the epoll backend's open and fsync: the task waits (past its deadline,
 * and deadline 0 too, for as long as the terminal takes the rest), the P
 * runs on; a terminal nobody drains holds rg_run's end, which waits for
 * the pool.  fstat costs 0.8 us here (a pipe write and read 2 us), so the
 * answer is kept per fd number until rg_close or a new fd from rg_open,
 * rg_socket, rg_listen or rg_accept; a number closed with close(2), or
 * dup2'd over, and reused for a terminal keeps the old answer. */
enum { KIND_UNKNOWN, KIND_PLAIN, KIND_TTY };
#define KIND_FDS (1 << 20) /* fs.nr_open's default; above: fstat each time */
static _Atomic(_Atomic uint8_t *) g_kind;

static _Atomic uint8_t *kind_table(void)
{
	_Atomic uint8_t *k = atomic_load_explicit(&g_kind, memory_order_acquire);
	if (k)
		return k;
	/* 1 MiB of address space, pages committed as fds are seen */
	void *m = mmap(NULL, KIND_FDS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	_Atomic uint8_t *none = NULL;
	if (atomic_compare_exchange_strong_explicit(&g_kind, &none, (_Atomic uint8_t *)m, memory_order_acq_rel,
	                                            memory_order_acquire))
		return m;
	munmap(m, KIND_FDS);
	return none;
}

static bool fd_is_tty(int fd)
{
	_Atomic uint8_t *k = fd < KIND_FDS ? kind_table() : NULL;
	if (k) {
		uint8_t v = atomic_load_explicit(&k[fd], memory_order_relaxed);
		if (v != KIND_UNKNOWN)
			return v == KIND_TTY;
	}
	struct stat st;
	if (fstat(fd, &st) != 0)
		return false; /* the call says why */
	/* a terminal; not /dev/null and the like, which never wait and go
	 * through the ring as any file (io_fairness writes /dev/null) */
	bool tty = S_ISCHR(st.st_mode) && isatty(fd);
	if (k)
		atomic_store_explicit(&k[fd], tty ? KIND_TTY : KIND_PLAIN, memory_order_relaxed);
	return tty;
}

static void fd_forget(int fd)
{
	_Atomic uint8_t *k = atomic_load_explicit(&g_kind, memory_order_acquire);
	if (k && fd >= 0 && fd < KIND_FDS && atomic_load_explicit(&k[fd], memory_order_relaxed))
		atomic_store_explicit(&k[fd], KIND_UNKNOWN, memory_order_relaxed);
}

/* A write to a terminal, on rg_blocking's pool: the fd polls
 * writable (tty_write checked), but a terminal may still take less than
 * asked and wait for the rest. */
static intptr_t tty_write_call(void *arg)
{
	rg__io_req *q = arg;
	struct iovec one = { q->buf, q->len };
	const struct iovec *iov = q->op == RG__OP_WRITE ? &one : q->buf;
	int cnt = q->op == RG__OP_WRITE ? 1 : (int)q->len;
	ssize_t r = pwritev2(q->fd, iov, cnt, q->off, 0);
	return r < 0 ? -errno : r;
}

/* poll(2) of one fd, not waiting: its revents, or -EAGAIN (none), -EBADF,
 * -errno.  RG__NOIPA: tty_write calls it again after parking, and must not
 * reuse an &errno from before. */
static RG__NOIPA int poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n = poll(&pfd, 1, 0);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EAGAIN;
	if (pfd.revents & POLLNVAL)
		return -EBADF;
	return pfd.revents;
}

static int64_t tty_write_try(rg__io_req *q)
{
	int r = poll_now(q->fd, POLLOUT);
	return r < 0 ? r : rg_blocking(tty_write_call, q);
}

static int64_t backend_exec(rg__io_req *q, int64_t deadline, bool nb);

/* rg_write/rg_writev to a terminal (q->tty): until the fd
 * polls writable, a poll op of the backend's waits (deadline 0: -EAGAIN);
 * then the pool writes.
 *
 * On a duplicate of the fd, so that the call keeps the terminal it was
 * given (ringo/io.h: calls keep their open file when another task
 * rg_closes the fd).  The poll op holds the file only while it waits;
 * the write after it went by number, and when the number had been closed
 * and reused meanwhile it wrote the terminal's bytes into the new file (a
 * regular file opened after the close got them; on epoll the poll lost
 * the closed file and waited out its deadline:
 * tests/io/test_tty_close.c).  A dup and a close per terminal write,
 * which already costs a trip to the pool. */
static int64_t tty_write(rg__io_req *q, int64_t deadline, bool nb)
{
	int fd = fcntl(q->fd, F_DUPFD_CLOEXEC, 0);
	bool own = fd >= 0;
	if (!own) {
		/* out of fds (a server at its limit logging so to its
		 * terminal): by number, as before, rather than fail */
		if (errno != EMFILE && errno != ENFILE)
			return -errno;
		fd = q->fd;
	}
	rg__io_req w = *q;
	w.fd = fd;
	int64_t r;
	for (;;) {
		r = tty_write_try(&w);
		if (r != -EAGAIN || nb)
			break;
		rg__io_req p = { .op = RG__OP_POLL, .fd = fd, .flags = POLLOUT };
		r = backend_exec(&p, deadline, false);
		if (r < 0)
			break;
	}
	if (own)
		close(fd);
	return r;
}

/* Steps 4-5 of the path above. */
static int64_t exec(rg__io_req *q, int64_t deadline, bool nb)
{
	if (__builtin_expect(rg__io_faults_on, 0)) {
		int64_t r = rg__fault_before(q, deadline, nb);
		if (r != 1)
			return r;
	}
	if (__builtin_expect(q->tty, 0))
		return tty_write(q, deadline, nb);
	if (nb) {
		int64_t r = rg__io_try(q);
		if (r != -ENOSYS)
			return r;
	}
	return backend_exec(q, deadline, nb);
}

static int64_t backend_exec(rg__io_req *q, int64_t deadline, bool nb)
{
	if (rg__io_use_epoll)
		return rg__epoll_exec(q, deadline, nb);
	return q->op == RG__OP_ACCEPT ? rg__accept_exec(q, deadline, nb) : rg__uring_exec(q, deadline, nb);
}

/* What a call under a context returns once its watch has ended: the
 * context's error in place of the cancel (or of the timeout the context's
 * deadline caused); any other result is kept — it completed first. */
int64_t rg__io_ctx_result(rg__task *t, struct rg__ctx_watch *w, int64_t r, bool clamped)
{
	int ce = rg__ctx_watch_end(w);
	if (ce) {
		rg__io_ctx_clear(t);
		if (r == -ECANCELED || (r == -ETIMEDOUT && clamped))
			return ce;
	}
	return r;
}

/* A call that a cancel fails before it starts (pending rg_cancel, a bound
 * context already ended).  An rg_accept's cancel also stops the task's
 * accepting ahead (ringo/io.h), as it does when it reaches the call
 * waiting (io/accept.c): failing here, before the acceptor was looked
 * at, left the multishot armed, and connections that came after the task
 * had been told to stop went on into its queue, away from any other task
 * accepting on the listener (tests/io/test_accept_cancel_ahead.c). */
static int cancelled_early(const rg__io_req *q, int c)
{
	if (q->op == RG__OP_ACCEPT && !q->buf && !rg__io_use_epoll)
		rg__accept_cancelled(q->fd);
	return c;
}

/* errno through calls the compiler cannot see into: the task may have
 * parked in between and resumed on another thread (ringo/core.h). */
static RG__NOIPA int errno_get(void) { return errno; }
static RG__NOIPA void errno_put(int e) { errno = e; }

static int64_t run_op(rg__io_req *q, int64_t deadline);

/* Steps 2-5 of the path above.  The library never touches errno (README,
 * core.h), but the system calls on these paths set it when they fail:
 * every deadline-0 call that found nothing (recv, read: EAGAIN), the
 * epoll backend's tries before and after it waits, an accept or connect
 * that failed there (tests/io/test_errno.c).  Kept here, around the
 * whole call, rather than at each system call. */
static int64_t run(rg__io_req *q, int64_t deadline)
{
	int saved = errno_get();
	int64_t r = run_op(q, deadline);
	errno_put(saved);
	return r;
}

static int64_t run_op(rg__io_req *q, int64_t deadline)
{
	rg__task *t = rg__self_parkable();
	if (__builtin_expect(!t, 0))
		return -EPERM;
	/* a cancel that came while the task made no call is this call's, even
	 * if the call would not have to wait (io_uring checks again when it
	 * publishes its op: a cancel may land in between) */
	int c = rg__io_take_cancel(t);
	if (c)
		return cancelled_early(q, c);
	if (deadline < -1)
		return -EINVAL;
	/* The bound context (rg_ctx_bind): already ended -> its error now;
	 * else, should it end while the call waits, rg__io_ctx_fire cancels
	 * the op (close is never cut short: the fd must go). */
	struct rg__ctx_watch w;
	if (q->op != RG__OP_CLOSE) {
		c = rg__ctx_watch_begin(&w, rg__io_ctx_fire, t);
		if (c)
			return cancelled_early(q, c);
	} else {
		w.owner = NULL;
	}
	bool nb = deadline == 0;
	if (__builtin_expect(w.owner != NULL, 0)) {
		bool clamped;
		deadline = rg__io_ctx_deadline(&w, deadline, &clamped);
		int64_t r = rg__io_ctx_past(&w, deadline) ? -ETIMEDOUT : exec(q, deadline, nb);
		return rg__io_ctx_result(t, &w, r, clamped);
	}
	if (deadline > 0 && deadline <= rg_now())
		return -ETIMEDOUT;
	return exec(q, deadline, nb);
}

/* Non-blocking attempt for deadline 0; -ENOSYS: no such attempt exists,
 * run the op with an already-expired deadline instead. */
int64_t rg__io_try(rg__io_req *q)
{
	ssize_t r;
	switch (q->op) {
	case RG__OP_RECV:
		r = recv(q->fd, q->buf, q->len, q->flags | MSG_DONTWAIT);
		break;
	case RG__OP_SEND:
		r = send(q->fd, q->buf, q->len, q->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case RG__OP_RECVMSG:
		r = recvmsg(q->fd, q->buf, q->flags | MSG_DONTWAIT);
		break;
	case RG__OP_SENDMSG:
		r = sendmsg(q->fd, q->buf, q->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case RG__OP_READ:
	case RG__OP_WRITE: {
		struct iovec iov = { q->buf, q->len };
		r = q->op == RG__OP_READ ? preadv2(q->fd, &iov, 1, q->off, RWF_NOWAIT)
		                         : pwritev2(q->fd, &iov, 1, q->off, RWF_NOWAIT);
		if (r < 0 && errno == EOPNOTSUPP)
			return -ENOSYS;
		break;
	}
	case RG__OP_READV:
		r = preadv2(q->fd, q->buf, (int)q->len, q->off, RWF_NOWAIT);
		if (r < 0 && errno == EOPNOTSUPP)
			return -ENOSYS;
		break;
	case RG__OP_WRITEV:
		r = pwritev2(q->fd, q->buf, (int)q->len, q->off, RWF_NOWAIT);
		if (r < 0 && errno == EOPNOTSUPP)
			return -ENOSYS;
		break;
	case RG__OP_POLL:
		return poll_now(q->fd, (short)q->flags);
	default:
		return -ENOSYS;
	}
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

/* ---- sockets -------------------------------------------------------------- */

int rg_socket(int domain, int type, int protocol)
{
	int saved = errno; /* (as run's) */
	int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	if (fd < 0) {
		int e = errno;
		errno = saved;
		return -e;
	}
	fd_forget(fd);
	return fd;
}

int rg_sockaddr(const char *host, int port, struct sockaddr_storage *ss)
{
	if (!host || !ss)
		return -EINVAL;
	memset(ss, 0, sizeof *ss);
	if (host[0] == '@' || strchr(host, '/')) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t n = strlen(host);
		if (n == 0 || n >= sizeof un->sun_path)
			return -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, host, n);
		if (host[0] == '@') {
			un->sun_path[0] = 0;
			return (int)(offsetof(struct sockaddr_un, sun_path) + n);
		}
		return (int)sizeof *un;
	}
	if (port < 0 || port > 65535)
		return -EINVAL;
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return (int)sizeof *in4;
	}
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof tmp) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = 0;
		host = tmp;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return (int)sizeof *in6;
	}
	return -EINVAL;
}

int rg_listen(const struct sockaddr *addr, socklen_t addrlen, int backlog, int flags)
{
	if (!addr || addrlen < sizeof(sa_family_t) || (flags & ~7))
		return -EINVAL;
	int fam = addr->sa_family;
	int saved = errno; /* (as run's) */
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		errno = saved;
		return -e;
	}
	int one = 1;
	if (fam != AF_UNIX) {
		if ((flags & RG_LISTEN_REUSEADDR) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
			goto fail;
		if ((flags & RG_LISTEN_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one))
			goto fail;
		if (fam == AF_INET6 && (flags & RG_LISTEN_V6ONLY) &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one))
			goto fail;
	}
	if (bind(fd, addr, addrlen) || listen(fd, backlog > 0 ? backlog : SOMAXCONN))
		goto fail;
	if (rg__io_use_epoll)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fd_forget(fd);
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = saved;
	return -e;
}

int rg_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	if (addr && !addrlen)
		return -EFAULT;
	rg__io_req q = { .op = RG__OP_ACCEPT, .fd = fd, .buf = addr, .aux = addr ? addrlen : NULL };
	int r = (int)run(&q, deadline);
	fd_forget(r);
	return r;
}

int rg_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	if (!addr)
		return -EFAULT;
	rg__io_req q = { .op = RG__OP_CONNECT, .fd = fd, .buf = (void *)addr, .len = addrlen };
	return (int)run(&q, deadline);
}

static inline int check_buf(int fd, const void *buf, size_t len)
{
	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EFAULT;
	if (len > SSIZE_MAX)
		return -EINVAL;
	return 0;
}

ssize_t rg_recv(int fd, void *buf, size_t len, int flags, int64_t deadline)
{
	int e = check_buf(fd, buf, len);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_RECV, .fd = fd, .buf = buf, .len = (size_t)rg__io_clamp(len),
	                 .flags = flags };
	return run(&q, deadline);
}

ssize_t rg_send(int fd, const void *buf, size_t len, int flags, int64_t deadline)
{
	int e = check_buf(fd, buf, len);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_SEND, .fd = fd, .buf = (void *)buf, .len = (size_t)rg__io_clamp(len),
	                 .flags = flags };
	return run(&q, deadline);
}

/* The msghdr and its iovecs are the kernel's to read (as recvmsg(2)):
 * reading them here would crash on a pointer the kernel answers with
 * -EFAULT.  The kernel also says -EMSGSIZE past IOV_MAX. */
static int check_msg(int fd, const struct msghdr *msg)
{
	if (fd < 0)
		return -EBADF;
	if (!msg)
		return -EFAULT;
	return 0;
}

ssize_t rg_recvmsg(int fd, struct msghdr *msg, int flags, int64_t deadline)
{
	int e = check_msg(fd, msg);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_RECVMSG, .fd = fd, .buf = msg, .flags = flags };
	return run(&q, deadline);
}

ssize_t rg_sendmsg(int fd, const struct msghdr *msg, int flags, int64_t deadline)
{
	int e = check_msg(fd, msg);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_SENDMSG, .fd = fd, .buf = (void *)msg, .flags = flags };
	return run(&q, deadline);
}

int rg_shutdown(int fd, int how)
{
	if (fd < 0)
		return -EBADF;
	int saved = errno; /* (as run's) */
	if (shutdown(fd, how) == 0)
		return 0;
	int e = errno;
	errno = saved;
	return -e;
}

ssize_t rg_send_all(int fd, const void *buf, size_t len, int64_t deadline, size_t *done)
{
	int e = check_buf(fd, buf, len);
	size_t off = 0;
	if (!e) {
		while (off < len) {
			ssize_t n = rg_send(fd, (const char *)buf + off, len - off, 0, deadline);
			if (n < 0) {
				e = (int)n;
				break;
			}
			off += (size_t)n;
		}
	}
	if (done)
		*done = off;
	return e ? e : (ssize_t)len;
}

ssize_t rg_recv_exact(int fd, void *buf, size_t len, int64_t deadline, size_t *done)
{
	int e = check_buf(fd, buf, len);
	size_t off = 0;
	if (!e) {
		while (off < len) {
			ssize_t n = rg_recv(fd, (char *)buf + off, len - off, 0, deadline);
			if (n < 0) {
				e = (int)n;
				break;
			}
			if (n == 0)
				break;
			off += (size_t)n;
		}
	}
	if (done)
		*done = off;
	return e ? e : (ssize_t)off;
}

/* ---- files ------------------------------------------------------------------ */

static int openat_run(int dirfd, const char *path, int flags, mode_t mode, int64_t deadline)
{
	if (!path)
		return -EFAULT;
	rg__io_req q = { .op = RG__OP_OPENAT, .fd = dirfd, .buf = (void *)path, .flags = flags | O_CLOEXEC,
	                 .mode = mode };
	deadline = deadline == 0 ? -1 : deadline;
	int r = (int)run(&q, deadline);
	if (rg__io_use_epoll || (flags & (O_NONBLOCK | O_PATH)))
		return r; /* (an O_PATH open never waits for the other end) */
	/*
	 * io_uring's inline attempt opens with O_NONBLOCK added, which a FIFO
	 * honours: O_WRONLY fails -ENXIO when no reader has it open, O_RDONLY
	 * returns at once instead of waiting for a writer (openat(2) waits
	 * for the other end in both).  Those two go again to the kernel's
	 * worker, which opens as openat(2) does.  Sending every open there
	 * would be simpler and cost every regular file 1.8 -> 4.8 us an open
	 * and close (liburing loop, this VM); this costs an O_RDONLY open
	 * one fstat.  The reader's second open goes through /proc/self/fd,
	 * so it reaches the same FIFO whatever happened to the path, and
	 * waits for a writer as open(2) would have (the first reader fd,
	 * closed after, has already let waiting writers in, as the real
	 * open does).  A deadline or rg_cancel ends that wait only as far
	 * as the worker can be interrupted (docs/io.md).
	 */
	int acc = flags & O_ACCMODE;
	if (r == -ENXIO && acc == O_WRONLY) {
		q.worker = true;
		return (int)run(&q, deadline);
	}
	struct stat st;
	if (r < 0 || acc != O_RDONLY || fstat(r, &st) != 0 || !S_ISFIFO(st.st_mode))
		return r;
	char self[40];
	snprintf(self, sizeof self, "/proc/self/fd/%d", r);
	rg__io_req q2 = { .op = RG__OP_OPENAT, .fd = AT_FDCWD, .buf = self, .flags = flags | O_CLOEXEC,
	                  .worker = true };
	int r2 = (int)run(&q2, deadline);
	if (r2 == -ENOENT) { /* no /proc: the path, then */
		q.worker = true;
		r2 = (int)run(&q, deadline);
	}
	close(r);
	return r2;
}

int rg_openat(int dirfd, const char *path, int flags, mode_t mode, int64_t deadline)
{
	int r = openat_run(dirfd, path, flags, mode, deadline);
	fd_forget(r);
	return r;
}

int rg_open(const char *path, int flags, mode_t mode, int64_t deadline)
{
	return rg_openat(AT_FDCWD, path, flags, mode, deadline);
}

/* Never cut short: not by rg_cancel (a cancel pending for the task stays
 * pending for its next call), nor by a bound context — the fd must be
 * released whatever happens.  A listener with a multishot accept
 * (io/accept.c) has it stopped first, and its queued fds closed.  close(2) itself: it does not wait on sockets
 * and pipes, and on Linux the fd is gone even when it reports EINTR. */
int rg_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	int saved = errno_get(); /* (as run's; the flush below may park) */
	rg__accept_close(fd); /* a listener with a multishot accept: stop it first */
	/* io_uring's single-shot accepts waiting on it: -EBADF (io/accept.c;
	 * none is listed on epoll; the backend is not read here, a thread
	 * outside the runtime may close while rg_run sets it) */
	int tok = rg__accept_close_single(fd);
	/* A call whose SQE is still queued on a P holds no reference to the
	 * file yet: after close(2) it would act on whatever file gets the
	 * number next.  Let every queued SQE reach the kernel first (one
	 * submit when this P has some queued; a wait for other Ps that do). */
	rg__ring_flush_all(); /* nothing to do on epoll: no rings */
	/* On epoll no kernel op holds the file for a call waiting on fd:
	 * each gets a dup of its own, and an accept -EBADF (io/epoll.c).
	 * One atomic load when none waits (always so on io_uring). */
	rg__epoll_close(fd);
	fd_forget(fd);
	int r = close(fd) == 0 ? 0 : errno_get();
	rg__accept_close_done(fd, tok);
	errno_put(saved);
	return r == 0 || r == EINTR ? 0 : -r;
}

ssize_t rg_read(int fd, void *buf, size_t len, int64_t deadline)
{
	int e = check_buf(fd, buf, len);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_READ, .fd = fd, .buf = buf, .len = (size_t)rg__io_clamp(len), .off = -1 };
	return run(&q, deadline);
}

ssize_t rg_write(int fd, const void *buf, size_t len, int64_t deadline)
{
	int e = check_buf(fd, buf, len);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_WRITE, .fd = fd, .buf = (void *)buf, .len = (size_t)rg__io_clamp(len),
	                 .off = -1, .tty = fd_is_tty(fd) };
	return run(&q, deadline);
}

static int check_iov(int fd, const struct iovec *iov, int iovcnt)
{
	if (fd < 0)
		return -EBADF;
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (!iov && iovcnt)
		return -EFAULT;
	/* the iovecs themselves are the kernel's to read (-EFAULT for a bad
	 * array or base, -EINVAL for a length past SSIZE_MAX), as readv(2) */
	return 0;
}

ssize_t rg_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
	int e = check_iov(fd, iov, iovcnt);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_READV, .fd = fd, .buf = (void *)iov, .len = (size_t)iovcnt, .off = -1 };
	return run(&q, deadline);
}

ssize_t rg_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
	int e = check_iov(fd, iov, iovcnt);
	if (e)
		return e;
	rg__io_req q = { .op = RG__OP_WRITEV, .fd = fd, .buf = (void *)iov, .len = (size_t)iovcnt, .off = -1,
	                 .tty = fd_is_tty(fd) };
	return run(&q, deadline);
}

ssize_t rg_pread(int fd, void *buf, size_t len, off_t off, int64_t deadline)
{
	int e = check_buf(fd, buf, len);
	if (e)
		return e;
	if (off < 0)
		return -EINVAL;
	rg__io_req q = { .op = RG__OP_READ, .fd = fd, .buf = buf, .len = (size_t)rg__io_clamp(len), .off = off };
	return run(&q, deadline);
}

ssize_t rg_pwrite(int fd, const void *buf, size_t len, off_t off, int64_t deadline)
{
	int e = check_buf(fd, buf, len);
	if (e)
		return e;
	if (off < 0)
		return -EINVAL;
	rg__io_req q = { .op = RG__OP_WRITE, .fd = fd, .buf = (void *)buf, .len = (size_t)rg__io_clamp(len),
	                 .off = off };
	return run(&q, deadline);
}

int rg_fsync(int fd, int64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	rg__io_req q = { .op = RG__OP_FSYNC, .fd = fd };
	return (int)run(&q, deadline == 0 ? -1 : deadline);
}

int rg_fdatasync(int fd, int64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	rg__io_req q = { .op = RG__OP_FSYNC, .fd = fd, .flags = 1 };
	return (int)run(&q, deadline == 0 ? -1 : deadline);
}

int rg_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out, int64_t deadline)
{
	if (!path || !out)
		return -EFAULT;
	rg__io_req q = { .op = RG__OP_STATX, .fd = dirfd, .buf = (void *)path, .flags = flags, .mode = mask,
	                 .aux = out };
	return (int)run(&q, deadline == 0 ? -1 : deadline);
}

int rg_fallocate(int fd, int mode, off_t off, off_t len, int64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	if (off < 0 || len <= 0)
		return -EINVAL;
	rg__io_req q = { .op = RG__OP_FALLOCATE, .fd = fd, .flags = mode, .off = off, .len = (size_t)len };
	return (int)run(&q, deadline == 0 ? -1 : deadline);
}

int rg_poll(int fd, int events, int64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	rg__io_req q = { .op = RG__OP_POLL, .fd = fd, .flags = events };
	return (int)run(&q, deadline);
}

const char *rg_io_backend(void)
{
	if (!rg__nprocs())
		return NULL;
	/* any thread: rg_run writes it while it starts (run.c) */
	return __atomic_load_n(&rg__io_use_epoll, __ATOMIC_RELAXED) ? "epoll" : "io_uring";
}
