/*
 * io/uring.c — the io_uring executor: one request, one SQE on the ring of
 * the caller's P, and a park until the final CQE.
 *
 *   1. The record (rg__io_op) goes on the task's stack and is published in
 *      the task's RG__TSLOT_IO slot (io/cancel.c), so rg_cancel can find it.
 *   2. Room for 2 SQEs is made first: an op and its LINK_TIMEOUT must go to
 *      the kernel in the same submit, or the link would be cut.  A full SQ
 *      is submitted (never dropped) to make room.
 *   3. The op's SQE points at op.h; with a deadline it carries IO_LINK and a
 *      LINK_TIMEOUT follows (absolute, CLOCK_MONOTONIC), pointing at op.ht.
 *      Nothing is submitted here: the P submits every queued SQE with its
 *      next io_uring_enter (run queue empty, or every 61 ticks).
 *   4. The task parks with no deadline of its own: the kernel's timeout is
 *      the deadline, so the wake always comes from a CQE and the task can
 *      never leave while the kernel may still write to its buffers.
 *      (A worker op parks with the deadline instead, then cancels the op
 *      and waits for its CQE: see rg__uring_exec.)
 *   5. Each CQE decrements op.pending on the P; the last one wakes the task.
 *   6. Result: op cancelled by rg_cancel -> -ECANCELED; op cancelled by its
 *      timeout (op -ECANCELED, timeout -ETIME) -> -ETIMEDOUT (-EAGAIN for a
 *      deadline-0 call); an accept cancelled by rg_close of its listener
 *      (listed for it: io/accept.c) -> -EBADF; otherwise the op's own result, even if a cancel or
 *      the timeout lost the race to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>

#include "io/io_int.h"

unsigned rg__io_batch = 16;

static void op_cqe(rg__cqe_handler *h, int res, unsigned flags)
{
	rg__io_op *op = (rg__io_op *)((char *)h - offsetof(rg__io_op, h));
	op->res = res;
	if (--op->pending == 0)
		rg__wake(op->t, op->ticket);
}

static void tmo_cqe(rg__cqe_handler *h, int res, unsigned flags)
{
	rg__io_op *op = (rg__io_op *)((char *)h - offsetof(rg__io_op, ht));
	op->tres = res;
	if (--op->pending == 0)
		rg__wake(op->t, op->ticket);
}

/* Make room for n SQEs in the P's SQ (submitting what is queued). */
static void sq_reserve(rg__p *p, struct io_uring *r, unsigned n)
{
	while (io_uring_sq_space_left(r) < n) {
		rg__p_submit(p);
		if (r->flags & IORING_SETUP_SQPOLL)
			io_uring_sqring_wait(r);
	}
}

static void prep(struct io_uring_sqe *sqe, const rg__io_req *q)
{
	switch (q->op) {
	case RG__OP_READ:
		io_uring_prep_read(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)q->off);
		break;
	case RG__OP_WRITE:
		io_uring_prep_write(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)q->off);
		break;
	case RG__OP_READV:
		io_uring_prep_readv(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)q->off);
		break;
	case RG__OP_WRITEV:
		io_uring_prep_writev(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)q->off);
		break;
	case RG__OP_RECV:
		io_uring_prep_recv(sqe, q->fd, q->buf, q->len, q->flags);
		break;
	case RG__OP_SEND:
		io_uring_prep_send(sqe, q->fd, q->buf, q->len, q->flags | MSG_NOSIGNAL);
		break;
	case RG__OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, q->fd, q->buf, (unsigned)q->flags);
		break;
	case RG__OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, q->fd, q->buf, (unsigned)(q->flags | MSG_NOSIGNAL));
		break;
	case RG__OP_ACCEPT:
		io_uring_prep_accept(sqe, q->fd, q->buf, q->aux, SOCK_CLOEXEC);
		break;
	case RG__OP_CONNECT:
		io_uring_prep_connect(sqe, q->fd, q->buf, (socklen_t)q->len);
		break;
	case RG__OP_POLL:
		io_uring_prep_poll_add(sqe, q->fd, (unsigned)q->flags);
		break;
	case RG__OP_OPENAT:
		io_uring_prep_openat(sqe, q->fd, q->buf, q->flags, q->mode);
		if (q->worker)
			sqe->flags |= IOSQE_ASYNC; /* see rg_openat */
		break;
	case RG__OP_CLOSE:
		io_uring_prep_close(sqe, q->fd);
		break;
	case RG__OP_FSYNC:
		io_uring_prep_fsync(sqe, q->fd, q->flags ? IORING_FSYNC_DATASYNC : 0);
		break;
	case RG__OP_STATX:
		io_uring_prep_statx(sqe, q->fd, q->buf, q->flags, q->mode, q->aux);
		break;
	case RG__OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, q->fd, q->flags, q->off, (off_t)q->len);
		break;
	default:
		rg__fatal("io: bad opcode %d", q->op);
	}
}

/* A worker op (IOSQE_ASYNC: rg_openat's FIFO open) parks with its
 * deadline, then cancels the op and waits for its final CQE.  One
 * ASYNC_CANCEL may miss it: the kernel's worker interrupts a running op
 * with a notify signal, which a worker that has just dequeued the op can
 * consume before the open blocks; the open then waited for the FIFO's
 * other end however long that took, its deadline (or rg_cancel) ignored
 * (test_fifo_deadline beside CPU hogs, 2 runs of 17: an fd after 7.6 and
 * 17.5 s, when the test opened the other end).  So while the op is in
 * flight and its deadline has passed or a cancel was issued
 * (rg__uring_cancel_op), the cancel is sent again, 1 ms after the last,
 * doubling to 100 ms.  With no deadline the task looks every 100 ms
 * whether a cancel was issued: worker ops are opens, slow anyway.
 * Returns true when the call's own deadline made the cancel. */
static bool worker_wait(rg__io_op *op, rg__p *p, int64_t deadline)
{
	bool timedout = false, first = true;
	int64_t every = 1000000;
	for (;;) {
		if (!first)
			op->ticket = rg__park_prepare(); /* on p: the handler reads it there */
		first = false;
		bool again = timedout || op->cancel_issued;
		int64_t until = again ? rg_now() + every : deadline >= 0 ? deadline : rg_now() + 100000000;
		if (!again && deadline >= 0 && deadline > rg_now() + 100000000)
			until = rg_now() + 100000000;
		if (rg__park(RG__WAIT_IO, until, NULL, NULL) != -ETIMEDOUT)
			return timedout; /* the final CQE woke us */
		/* on the op's P (its ring, pending and ticket are that
		 * thread's); a CQE that came meanwhile found the park already
		 * claimed: its result stands */
		rg__io_hop(p);
		if (!op->pending)
			return timedout;
		if (deadline >= 0 && rg_now() >= deadline)
			timedout = true;
		if (!timedout && !op->cancel_issued)
			continue;
		if (again && every < 100000000)
			every *= 2;
		struct io_uring_sqe *c = rg__p_sqe(p);
		io_uring_prep_cancel64(c, (uint64_t)(uintptr_t)&op->h, 0);
		io_uring_sqe_set_data(c, NULL);
	}
}

int64_t rg__uring_exec(rg__io_req *q, int64_t deadline, bool nonblock)
{
	/* an accept is listed for rg_close (io/accept.c), first: the listing
	 * may wait, and the task may then be on another P */
	rg__sacc sa;
	bool acc = q->op == RG__OP_ACCEPT;
	if (acc) {
		int e = rg__accept_single_enter(&sa, q->fd, deadline, nonblock);
		if (e)
			return e;
	}
	rg__task *t = rg__self();
	rg__p *p = rg__getp();
	rg__io_op op;
	op.h.fn = op_cqe;
	op.ht.fn = tmo_cqe;
	op.t = t;
	op.p = p;
	op.res = 0;
	op.tres = 0;
	op.cancel_issued = false;
	op.direct = false;
	struct io_uring *ring = rg__p_ring(p);
	bool timed = deadline >= 0;
	/* A worker op (IOSQE_ASYNC: rg_openat's FIFO open) gets no
	 * LINK_TIMEOUT: the kernel arms a worker op's linked timeout only once
	 * the op's issue has returned, never while it blocks there, so a FIFO
	 * open waited for its other end whatever its deadline
	 * (tests/io/test_fifo_deadline.c).  An ASYNC_CANCEL does
	 * interrupt it: its deadline is core's park deadline, then a cancel
	 * and the wait for its CQE (below). */
	bool linked = timed && !q->worker;
	bool wtimedout = false;
	struct __kernel_timespec ts;
	op.ticket = rg__park_prepare();
	int r = rg__io_op_begin(t, &op); /* may queue the P's first SQE */
	if (r) {
		if (acc)
			rg__accept_single_leave(&sa);
		return r;
	}
	sq_reserve(p, ring, linked ? 2 : 1);
	if (acc && !rg__accept_single_arm(&sa, &op)) { /* rg_close(fd) came */
		rg__io_op_end(t, &op, false);
		rg__accept_single_leave(&sa);
		return -EBADF;
	}
	struct io_uring_sqe *sqe = rg__p_sqe(p); /* publishes the SQ tail for rg_close */
	prep(sqe, q);
	io_uring_sqe_set_data(sqe, &op.h);
	op.pending = 1;
	if (linked) {
		sqe->flags |= IOSQE_IO_LINK;
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		struct io_uring_sqe *ts_sqe = io_uring_get_sqe(ring);
		io_uring_prep_link_timeout(ts_sqe, &ts, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(ts_sqe, &op.ht);
		op.pending = 2;
	}
	/* Don't let the batch grow without bound: while the P runs a long
	 * queue of tasks, their peers wait for SQEs held here (a send
	 * convoy).  Every rg__io_batch queued SQEs go in now. */
	if (io_uring_sq_ready(ring) >= rg__io_batch)
		rg__p_submit(p);
	if (q->worker) {
		wtimedout = worker_wait(&op, p, deadline);
	} else {
		rg__park(RG__WAIT_IO, -1, NULL, NULL);
	}

	int res = op.res;
	/* A worker's blocking call (an open in IOSQE_ASYNC) that ASYNC_CANCEL
	 * interrupted may report the kernel-internal -ERESTARTSYS family
	 * (512..516): never hand those out */
	if (res <= -512 && res >= -516)
		res = -EINTR;
	bool cancelled = op.cancel_issued && (res == -ECANCELED || res == -EINTR);
	/* A linked timeout that fired ends its op -ECANCELED (its own CQE
	 * -ETIME); or, the op blocking in the kernel's worker (an AF_UNIX
	 * connect to a full backlog ends up there), interrupts it: -EINTR
	 * (after the mapping above), while its own CQE says -ENOENT (6.18:
	 * the cancel's -EALREADY is lost in its fall-through) -- anything but
	 * the -ECANCELED of a timeout disarmed by its op's completion.  -EINTR
	 * was handed out for a deadline (tests/io/test_unix_connect.c). */
	bool ltimedout = linked && ((res == -ECANCELED && op.tres == -ETIME) ||
	                            (res == -EINTR && op.tres != -ECANCELED));
	bool timedout = !cancelled && (ltimedout || (wtimedout && (res == -ECANCELED || res == -EINTR)));
	rg__io_op_end(t, &op, cancelled);
	bool closed = acc && rg__accept_single_leave(&sa);
	if (cancelled)
		return -ECANCELED;
	if (timedout)
		return nonblock ? -EAGAIN : -ETIMEDOUT;
	if (closed && res == -ECANCELED)
		return -EBADF; /* rg_close(fd) cancelled it */
	return res;
}

void rg__uring_cancel_op(rg__io_op *op)
{
	if (op->pending == 0 || op->cancel_issued)
		return;
	op->cancel_issued = true;
	struct io_uring_sqe *sqe = rg__p_sqe(op->p);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&op->h, 0);
	io_uring_sqe_set_data(sqe, NULL);
}
