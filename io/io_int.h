/*
 * io/io_int.h — io/'s private header: the request that every public call
 * builds, the two backends that run it, cancellation, fault injection, and
 * shims for liburing 2.3.
 *
 * One request, two executors (STYLE 5): io/io.c turns each public call into
 * a rg__io_req (validated, deadline checked), fault injection may bend it,
 * and then exactly one of
 *   rg__uring_exec  (io/uring.c: one SQE + optional LINK_TIMEOUT, park until
 *                    the final CQE)
 *   rg__epoll_exec  (io/epoll.c: readiness on the P's epoll set, then the
 *                    non-blocking syscall)
 * runs it.  rg__io_use_epoll says which; it is fixed for one rg_run.
 */
#ifndef RG_IO_IO_INT_H
#define RG_IO_IO_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "ringo/io.h"
#include "sync/ctx_hook.h" /* io/'s one use of sync/: the bound Context */

enum rg__io_opcode {
	RG__OP_READ = 1, RG__OP_WRITE, RG__OP_READV, RG__OP_WRITEV,
	RG__OP_RECV, RG__OP_SEND, RG__OP_RECVMSG, RG__OP_SENDMSG,
	RG__OP_ACCEPT, RG__OP_CONNECT, RG__OP_POLL,
	RG__OP_OPENAT, RG__OP_CLOSE, RG__OP_FSYNC, RG__OP_STATX, RG__OP_FALLOCATE,
};

/* One call's arguments.  Lives on the calling task's stack. */
typedef struct rg__io_req {
	int op;            /* enum rg__io_opcode */
	int fd;            /* or dirfd */
	void *buf;         /* data / iovec / msghdr / path / sockaddr */
	size_t len;        /* bytes / iovcnt / addrlen */
	int64_t off;       /* file offset, -1: current position; fallocate len */
	int flags;         /* MSG_*, O_*, poll events, AT_*, fallocate mode, fsync */
	unsigned mode;     /* open mode, statx mask */
	void *aux;         /* accept: socklen_t *; statx: struct statx * */
	bool worker;       /* io_uring: IOSQE_ASYNC, straight to the kernel's
	                      worker, which may block as the system call would */
	bool tty;          /* rg_write/rg_writev to a terminal: on rg_blocking's
	                      pool once it polls writable (io/io.c) */
} rg__io_req;

/* The in-flight record of an operation, on the task's stack.  Published in
 * the task's RG__TSLOT_IO slot while in flight (see io/cancel.c).
 * Written by the task before publishing; pending/res/tres/cancel_issued
 * afterwards only by the owning P's thread (CQE handlers, cancel
 * requests), read by the task after its wake (which orders them). */
typedef struct rg__io_op {
	_Alignas(16) rg__cqe_handler h; /* the operation's CQE (16-aligned: the
	                                   slot keeps 4 bits in the address) */
	rg__cqe_handler ht;     /* its LINK_TIMEOUT's CQE */
	rg__task *t;
	rg__p *p;               /* the P whose ring (or epoll set) owns it */
	uint64_t ticket;
	uint32_t seq;           /* tells a later op at the same address apart */
	int res, tres;
	int pending;            /* CQEs still to come */
	bool cancel_issued;
	bool direct;            /* a cancel claims the park (epoll, streams) */
	/* epoll backend */
	int ep_fd, ep_events;
	_Atomic int ep_state;   /* see io/epoll.c */
	struct rg__io_op *ep_next;
} rg__io_op;

/* Ps with io state, at most (index 0..RG_IO_MAXP-1): cancel.c, stream.c,
 * epoll.c and accept.c size their per-P tables with it. */
#define RG_IO_MAXP 1024

extern bool rg__io_use_epoll;
extern unsigned rg__io_batch; /* submit once this many SQEs are queued */

/* backends: run req until its final completion; -errno or result.
 * deadline is -1, or an absolute time still in the future. */
int64_t rg__uring_exec(rg__io_req *req, int64_t deadline, bool nonblock);
int64_t rg__epoll_exec(rg__io_req *req, int64_t deadline, bool nonblock);
/* one immediate non-blocking attempt (deadline 0), both backends;
 * -EAGAIN if it would block.  Returns -ENOSYS for ops it cannot try. */
int64_t rg__io_try(rg__io_req *req);

/* cancellation (io/cancel.c) */
int rg__io_op_begin(rg__task *t, rg__io_op *op);   /* -ECANCELED if pending */
/* For ops a canceller wakes directly (op->direct, epoll): park with
 * deadline, publishing op only once the task's context is saved.  Returns
 * op->res = -ECANCELED if op could not be published (pending cancel: then
 * do not call rg__io_op_end), else the park's result (0, -ETIMEDOUT). */
int rg__io_park_op(rg__task *t, rg__io_op *op, int64_t deadline);
/* -ECANCELED (consuming it) if a cancel is pending and no op in flight. */
int rg__io_take_cancel(rg__task *t);
/* After the final completion: unpublishes op; returns true if a cancel
 * was asked for while it was in flight (which stays pending unless
 * consumed is true). */
bool rg__io_op_end(rg__task *t, rg__io_op *op, bool consumed);
/* A thread that may race rg_run's end reaching io state (io/cancel.c):
 * false, the run is stopping (stay away); else leave when done. */
bool rg__io_cancellers_enter(void);
void rg__io_cancellers_leave(void);
uint32_t rg__io_next_seq(void);
/* The bound Context ended (the watch's fn, any thread): cancel task's
 * current call only.  rg__io_ctx_clear: the call's end (after the watch). */
void rg__io_ctx_fire(void *task);
void rg__io_ctx_clear(rg__task *t);
/* The bound context's deadline bounds the call's (never a non-blocking
 * call's: 0 stays 0).  *clamped: the context's deadline is the call's. */
static inline int64_t rg__io_ctx_deadline(const struct rg__ctx_watch *w, int64_t deadline, bool *clamped)
{
	*clamped = false;
	if (w->deadline != INT64_MAX && deadline != 0 && (deadline == -1 || w->deadline < deadline)) {
		*clamped = true;
		return w->deadline;
	}
	return deadline;
}
/* The call's deadline (after rg__io_ctx_deadline) has passed: -ETIMEDOUT
 * without trying.  A non-blocking call checks the context's deadline: it
 * may have passed before the context's deadline timer fired. */
static inline bool rg__io_ctx_past(const struct rg__ctx_watch *w, int64_t deadline)
{
	int64_t d = deadline == 0 ? w->deadline : deadline;
	return d > 0 && d != INT64_MAX && d <= rg_now();
}
/* Ends the call's watch (io/io.c) and gives what the call returns: the
 * context's error in place of -ECANCELED (or of the -ETIMEDOUT that the
 * context's deadline caused); any other result r is kept (it completed
 * first). */
int64_t rg__io_ctx_result(rg__task *t, struct rg__ctx_watch *w, int64_t r, bool clamped);
/* io_uring: issue ASYNC_CANCEL for op on its own P (owner thread only). */
void rg__uring_cancel_op(rg__io_op *op);
/* epoll: wake op's task with the cancel (any thread, op pinned). */
void rg__epoll_cancel_op(rg__io_op *op);
/* rg_close(fd), before close(2), any thread: calls waiting on fd on the
 * epoll backend get a dup of their own (an accept: -EBADF), io/epoll.c. */
void rg__epoll_close(int fd);
/* Per-P io state, lazily made on the P's thread (io/cancel.c). */
void rg__io_p_init(rg__p *p);
void rg__io_p_init_once(rg__p *p);  /* rg__io_p_init unless done */
/* Move the calling task onto P target (io_uring backend; target has io
 * state).  Returns on target's thread. */
void rg__io_hop(rg__p *target);

/* Post fn(arg) to run on P target's thread (from its request stack, woken
 * by its cancel eventfd; io_uring backend).  0, or -ENOMEM. */
int rg__io_post(rg__p *target, void (*fn)(void *), void *arg);

/* multishot accept (io/accept.c), io_uring backend */
int64_t rg__accept_exec(rg__io_req *req, int64_t deadline, bool nonblock);
void rg__accept_close(int fd);     /* rg_close: stop fd's multishot, if any */
void rg__accept_p_fini(rg__p *p);  /* rg_run's end, on p's thread */
/* An rg_accept(fd) failed with a cancel before it started: stop the
 * calling task's accepting ahead on fd, if it has any (task only). */
void rg__accept_cancelled(int fd);

/* A single-shot accept waiting on io_uring, listed under its fd so that
 * rg_close(fd) can end it with -EBADF (io/accept.c, "single-shot accepts
 * and rg_close").  On the accepting task's stack; the fields after fd
 * are written under its bucket's lock. */
typedef struct rg__sacc {
	int fd;
	bool closed;               /* rg_close(fd) ends it */
	bool cancel_sent;          /* its ASYNC_CANCEL is queued (op's P) */
	rg__io_op *op;             /* set once its SQE is queued on op->p */
	struct rg__sclose *closer; /* the rg_close waiting for it to leave */
	struct rg__sacc *next, *prev;
} rg__sacc;
/* Before anything of the call: lists s.  0, or -EBADF: an rg_close of fd
 * is under way and ends this call (nothing was queued); -ETIMEDOUT
 * (-EAGAIN if nonblock): the deadline passed while a close of fd (or,
 * past the bucket's slots, of another fd of its bucket) ran. */
int rg__accept_single_enter(rg__sacc *s, int fd, int64_t deadline, bool nonblock);
/* Just before its SQE is prepared, on the P whose ring gets it: false
 * when rg_close(fd) came meanwhile (prepare nothing; leave, -EBADF). */
bool rg__accept_single_arm(rg__sacc *s, rg__io_op *op);
/* After the final CQE: unlists s; true if rg_close(fd) ended it. */
bool rg__accept_single_leave(rg__sacc *s);
/* rg_close(fd) on io_uring, before close(2): ends fd's listed accepts and
 * waits until they have left; rg__accept_close_done(fd, its result) after
 * close(2). */
int rg__accept_close_single(int fd);
/* An rg_close of fd is under way (published before it looks for calls to
 * end: the epoll backend's accepts wait for it, io/epoll.c). */
bool rg__accept_closing(int fd);
void rg__accept_close_done(int fd, int tok);

/* fault injection (io/fault.c) */
extern int rg__io_faults_on;
/* May change req (short transfer) or answer for it (returns != 1: the
 * injected result to return without running req; 1: run it).  deadline:
 * the call's (after its context's), which an injected delay respects. */
int64_t rg__fault_before(rg__io_req *req, int64_t deadline, bool nonblock);

static inline int64_t rg__io_clamp(size_t len)
{
	return len > 0x7ffff000u ? 0x7ffff000 : (int64_t)len;
}

#endif
