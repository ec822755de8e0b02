/*
 * ringo/io.h — sockets and files on the per-P ring.
 *
 * Every call here parks only the calling task (the P runs other tasks
 * meanwhile), returns >= 0 on success or -errno on failure, and never
 * touches errno.  Calls that can wait take an absolute deadline on
 * CLOCK_MONOTONIC (rg_now() + ns):
 *
 *   -1     wait as long as it takes;
 *    0     do not block: one non-blocking attempt; -EAGAIN if the call
 *          would have had to wait;
 *   > 0    wait until then; -ETIMEDOUT once it has passed.  A deadline
 *          already in the past fails at once with -ETIMEDOUT without trying
 *          (as Go's net.Conn deadlines do).
 *
 * How it runs.  On the io_uring backend an operation is one SQE (plus an
 * IORING_OP_LINK_TIMEOUT for a deadline) on the ring of the caller's P; the
 * SQEs of all the tasks of a P go to the kernel together with the P's next
 * io_uring_enter.  On the epoll backend (no usable io_uring, or
 * RINGO_IO=epoll) socket calls wait for readiness on the P's epoll set and
 * then make the plain non-blocking system call; file calls are made
 * directly.  The API and its results are the same on both.  rg_io_backend()
 * says which one runs.
 *
 * Buffers.  A buffer passed to a call belongs to the kernel until the call
 * returns — also when it returns -ETIMEDOUT or -ECANCELED: a call returns
 * only after the kernel is done with the buffer (its final completion).
 *
 * Cancellation.  rg_cancel(task) interrupts the I/O call the task is making
 * (it returns -ECANCELED once the kernel has let go of its buffers), or, if
 * the task is making none, the next one it makes.  A call that completes
 * before the cancel reaches it keeps its result (no data is ever dropped)
 * and the cancel stays pending for the task's next call.
 *
 * Context.  A task bound to a Context (rg_ctx_bind, ringo/sync.h) makes
 * every call here under it, except rg_close (the fd must go):
 *   - a context that has already ended fails the call at once with
 *     rg_ctx_err(ctx) (-ECANCELED, or -ETIMEDOUT for a deadline), even if
 *     the call would not have had to wait (nothing is consumed);
 *   - a context that ends while the call waits interrupts it as rg_cancel
 *     would, and the call returns the context's error once the kernel has
 *     let go of its buffers.  A call that completes first keeps its result
 *     (no data is dropped), and no cancel is left for the task's next call;
 *   - the context's deadline bounds the call's (the earlier one counts), so
 *     the call times out with -ETIMEDOUT at the context's deadline by
 *     itself.
 * Calls the kernel cannot interrupt run to completion and keep their result
 * (on the epoll backend: regular-file reads and writes, open, fsync,
 * fallocate).  rg_stream_close waits for its multishot's end regardless.
 *
 * Thread safety.  These calls must be made from a task (inside rg_run);
 * elsewhere, including inside rg_blocking, they return -EPERM.  Any task may
 * use any fd; several tasks may use one fd at once as the kernel allows
 * (typically one reader and one writer per socket; two readers of one
 * stream socket get the bytes in an unspecified split).  rg_close does not
 * interrupt calls other tasks are making on the same fd: those keep the
 * open file alive until they complete, on both backends; shut a socket
 * down with rg_shutdown, or rg_cancel the tasks, first (one exception:
 * rg_accept on the listener, see rg_accept).  rg_cancel may be called from
 * any thread.
 * Thread-local storage moves (see ringo/core.h): do not keep &errno or a
 * __thread address across any call here.
 *
 * Lengths are capped at 0x7ffff000 bytes per call, as Linux caps read(2).
 */
#ifndef RINGO_IO_H
#define RINGO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "ringo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct statx;

/* ---- sockets ----------------------------------------------------------- */

/* socket(2) with SOCK_CLOEXEC added.  Never waits. */
RG_API int rg_socket(int domain, int type, int protocol);

/* Fills *ss from a numeric address: "127.0.0.1", "::1" (IPv6, optionally in
 * brackets), or a Unix socket path when it contains a '/' or starts with
 * '@' (abstract).  port is ignored for Unix paths.  Returns the length to
 * pass as socklen_t, or -EINVAL. */
RG_API int rg_sockaddr(const char *host, int port, struct sockaddr_storage *ss);

/* rg_listen flags */
#define RG_LISTEN_REUSEADDR 1  /* SO_REUSEADDR (TCP) */
#define RG_LISTEN_REUSEPORT 2  /* SO_REUSEPORT (TCP) */
#define RG_LISTEN_V6ONLY    4  /* IPV6_V6ONLY on an IPv6 listener */
/* socket + options + bind + listen (backlog <= 0: SOMAXCONN).  SOCK_STREAM
 * in addr's family.  Returns the listening fd.  Never waits. */
RG_API int rg_listen(const struct sockaddr *addr, socklen_t addrlen, int backlog, int flags);

/* accept4(2) with SOCK_CLOEXEC: the new fd.  addr/addrlen may be NULL.
 *
 * Accepting ahead (io_uring backend).  A task that calls rg_accept on the
 * same listener twice in a row with addr NULL gets a multishot accept: the
 * kernel accepts connections as they arrive, also while the task is busy
 * elsewhere, and the task's next calls return them without waiting.  At
 * most about 64 are accepted ahead; they are the task's (no other task
 * gets them) and are closed when the listener is closed with rg_close,
 * when the task exits, and when the fd turns out to name another file.
 * So: close a listener with rg_close, not close(2) — a multishot keeps the
 * listening socket open until its task exits or calls rg_accept again.  A
 * cancel (rg_cancel, the bound Context) also stops the accepting ahead
 * (connections already accepted stay for the next call).  When a second
 * task accepts on the same listener, it goes back to one accept per call
 * for everybody.
 *
 * A task waiting in rg_accept while another task (or any thread)
 * rg_closes the listener returns -EBADF, on both backends and whichever
 * way it accepts; its accept does not keep the listener open past
 * rg_close, which returns once no accept holds it (other calls waiting on
 * it do keep it).  An accept that completed first returns its connection.
 * An rg_accept that starts while rg_close runs returns -EBADF too. */
RG_API int rg_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline);
/* connect(2); 0 when connected.  On -ETIMEDOUT/-ECANCELED the socket's
 * state is unspecified: close it. */
RG_API int rg_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline);
/* recv(2)/send(2): bytes transferred (0 from rg_recv: orderly shutdown).
 * flags are MSG_* flags; rg_send adds MSG_NOSIGNAL (EPIPE, never SIGPIPE).
 * MSG_WAITALL is not portable between the backends (io_uring waits for the
 * whole length and returns the partial count at the deadline; epoll returns
 * what has arrived): use rg_recv_exact. */
RG_API ssize_t rg_recv(int fd, void *buf, size_t len, int flags, int64_t deadline);
RG_API ssize_t rg_send(int fd, const void *buf, size_t len, int flags, int64_t deadline);
RG_API ssize_t rg_recvmsg(int fd, struct msghdr *msg, int flags, int64_t deadline);
RG_API ssize_t rg_sendmsg(int fd, const struct msghdr *msg, int flags, int64_t deadline);
/* shutdown(2).  Never waits. */
RG_API int rg_shutdown(int fd, int how);
/* Loops over short transfers.  rg_send_all returns len, or -errno (then
 * *done, if not NULL, says how many bytes went out).  rg_recv_exact returns
 * len, or fewer at end of stream (0: the peer shut down before any byte),
 * or -errno (*done: bytes already stored in buf). */
RG_API ssize_t rg_send_all(int fd, const void *buf, size_t len, int64_t deadline, size_t *done);
RG_API ssize_t rg_recv_exact(int fd, void *buf, size_t len, int64_t deadline, size_t *done);

/* ---- files -------------------------------------------------------------- */

/* openat(2) with O_CLOEXEC added: the new fd. */
RG_API int rg_open(const char *path, int flags, mode_t mode, int64_t deadline);
RG_API int rg_openat(int dirfd, const char *path, int flags, mode_t mode, int64_t deadline);
/* close(2).  The fd number is free again when it returns, whatever the
 * result (as close(2) on Linux).  Calls other tasks made on fd before keep
 * the old file, also those not yet submitted to the kernel: on io_uring
 * rg_close first lets every P submit what it has queued, and may wait
 * (park) for a busy P to do so; on epoll it hands each call waiting on fd
 * a duplicate of its own (an fd, until that call returns; with none left
 * under RLIMIT_NOFILE the call returns -EBADF), and may wait for one that
 * is in a non-blocking system call on fd to come out of it. */
RG_API int rg_close(int fd);
/* read/write at the file position (pipes, sockets, ttys, regular files). */
RG_API ssize_t rg_read(int fd, void *buf, size_t len, int64_t deadline);
RG_API ssize_t rg_write(int fd, const void *buf, size_t len, int64_t deadline);
RG_API ssize_t rg_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
RG_API ssize_t rg_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
/* At an offset (>= 0, else -EINVAL).  With O_DIRECT, buf, len and off must
 * be aligned as the device requires (typically 512 B or 4 KiB), else the
 * kernel says -EINVAL. */
RG_API ssize_t rg_pread(int fd, void *buf, size_t len, off_t off, int64_t deadline);
RG_API ssize_t rg_pwrite(int fd, const void *buf, size_t len, off_t off, int64_t deadline);
RG_API int rg_fsync(int fd, int64_t deadline);
RG_API int rg_fdatasync(int fd, int64_t deadline);
/* statx(2); dirfd AT_FDCWD or a directory; AT_EMPTY_PATH with "" for fd. */
RG_API int rg_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out,
                    int64_t deadline);
RG_API int rg_fallocate(int fd, int mode, off_t off, off_t len, int64_t deadline);

/* ---- readiness ------------------------------------------------------------ */

/* Waits until fd is ready for events (POLLIN, POLLOUT, ...): returns the
 * ready mask (> 0; POLLERR/POLLHUP always reported).  For libraries that
 * bring their own non-blocking fds. */
RG_API int rg_poll(int fd, int events, int64_t deadline);

/* ---- cancellation ------------------------------------------------------ */

/* Interrupts task `id`'s I/O call (see the top of this file).  Returns 0,
 * or -ESRCH when no live task has this id.  Any thread. */
RG_API int rg_cancel(int64_t id);

/* ---- provided-buffer receive (server fast path) --------------------------
 *
 * An rg_stream receives from one stream socket with a multishot recv that
 * takes buffers from its P's provided-buffer ring (one ring per P, shared
 * by all its streams; RINGO_BUFRING=NxSIZE, default 1024 buffers of
 * 16 KiB).  No buffer is tied up by an idle connection and no SQE is
 * needed per receive.  rg_stream_recv hands the task one filled buffer;
 * give it back with rg_stream_release as soon as you are done with it (the
 * pool is shared: held buffers starve the P's other streams).  On the epoll
 * backend a stream is a plain rg_recv into buffers it owns (at most
 * RG_STREAM_HELD held: -ENOBUFS beyond).
 * A stream belongs to the task that uses it: one task at a time; close it
 * before closing its fd.  rg_stream_release and rg_stream_close return
 * nothing: called outside a task (another thread, inside rg_blocking) they
 * abort with a message, as a misuse of a lock does.  Deadlines and rg_cancel work as for rg_recv;
 * data that arrives after a timeout stays queued for the next call.
 * On io_uring a stream lives as long as the rg_run it was opened in:
 * once that run has ended, rg_stream_recv returns -ESHUTDOWN,
 * rg_stream_release only forgets the buffer (its memory went with the
 * run) and rg_stream_close only frees the stream, also outside a task. */
typedef struct rg_stream rg_stream;
typedef struct rg_buf {
	void *data;
	size_t len;
	unsigned id;       /* for rg_stream_release */
} rg_buf;
#define RG_STREAM_HELD 8
RG_API int rg_stream_open(rg_stream **out, int fd);
/* > 0: bytes in *b (release it); 0: end of stream (and from then on);
 * -errno (a receive error is also final; -EBUSY: another task is inside
 * rg_stream_recv on this stream). */
RG_API ssize_t rg_stream_recv(rg_stream *s, rg_buf *b, int64_t deadline);
RG_API void rg_stream_release(rg_stream *s, rg_buf *b);
/* Stops the multishot (waiting for its last completion), returns queued
 * buffers and those the task still holds (do not touch their data
 * afterwards) and frees the stream; not the fd. */
RG_API void rg_stream_close(rg_stream *s);

/* ---- backend ------------------------------------------------------------ */

/* "io_uring" or "epoll" inside rg_run, NULL outside. */
RG_API const char *rg_io_backend(void);

#ifdef __cplusplus
}
#endif
#endif
