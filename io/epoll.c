/*
 * io/epoll.c — the epoll fallback: the P's wait/wake backend (it implements
 * core's rg__waiter_ops, hence the include of core/sched_int.h) and the
 * executor of io requests when io_uring cannot be used or RINGO_IO=epoll.
 *
 * Each P has an epoll set holding (a) its wake eventfd (p->efd, written by
 * rg__waiter_eventfd_wake), and (b) the fds its tasks wait on, one-shot
 * (EPOLLONESHOT), registered for the union of what their waiters want.
 *
 * A call (rg__epoll_exec):
 *   1. makes the non-blocking syscall (MSG_DONTWAIT, RWF_NOWAIT, a
 *      non-blocking accept4/connect); anything but "would block" is the
 *      result;
 *   2. otherwise links its rg__io_op into the P's table under fd, (re)arms
 *      the fd with the union of the waiters' events, and parks with its
 *      deadline (core's timer), publishing the op (cancel slot,
 *      io/cancel.c) from the park's unlock callback — a canceller wakes the
 *      task directly, which it must not do before the task has parked;
 *   3. woken by readiness it goes back to 1; by its deadline -ETIMEDOUT;
 *      by rg_cancel -ECANCELED.  Before returning it unlinks itself.
 * The table is guarded by a per-P spinlock, because a task woken by its
 * deadline or a cancel may run (and unlink itself) on another P.  Readiness
 * (on the P's thread, in poll) unlinks the waiters it wakes under the same
 * lock, so an op is never touched after its task could have returned.
 *
 * No kernel object holds a task's buffer while it waits, so a cancel just
 * claims the park (rg__epoll_cancel_op), from any thread.
 *
 * Regular files cannot be waited on (epoll says EPERM): their reads and
 * writes are made directly; open, fsync and fallocate run in rg_blocking so
 * the P keeps running other tasks.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/sched_int.h"
#include "io/io_int.h"

#define EP_MAXP 1024
#define TAG_FD 1u

struct ep_fd {
	rg__io_op *waiters;     /* linked by ep_next */
	uint32_t armed;         /* events enabled in the set, 0: none */
	bool added;             /* in the set (as far as we know) */
};

/* Per P.  epfd: fixed after init.  lock guards fds/nfds and every op
 * linked there. */
struct ep_p {
	int epfd;
	_Atomic int lock;
	struct ep_fd *fds;
	int nfds;
};
static struct ep_p *g_ep[EP_MAXP];

static inline struct ep_p *ep_of(rg__p *p) { return g_ep[rg__p_index(p)]; }

/* ---- the waiter backend (core's interface) ----------------------------- */

static int ep_init(rg__p *p)
{
	if (p->id >= EP_MAXP)
		return -EINVAL;
	struct ep_p *e = rg__calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		int err = -errno;
		rg__free(e);
		return err;
	}
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	if (p->efd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, p->efd, &ev)) {
		int err = -errno;
		if (p->efd >= 0)
			close(p->efd);
		p->efd = -1;
		close(e->epfd);
		rg__free(e);
		return err;
	}
	g_ep[p->id] = e;
	return 0;
}

static void ep_fini(rg__p *p)
{
	struct ep_p *e = p->id < EP_MAXP ? g_ep[p->id] : NULL;
	if (e) {
		close(e->epfd);
		rg__free(e->fds);
		rg__free(e);
		g_ep[p->id] = NULL;
	}
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -1;
}

static uint32_t union_events(struct ep_fd *f)
{
	uint32_t u = 0;
	for (rg__io_op *o = f->waiters; o; o = o->ep_next)
		u |= (uint32_t)o->ep_events;
	return u;
}

/* lock held.  Enable fd for ev (one-shot).  0, or -errno (EPERM: a
 * regular file, which is always ready). */
static int arm(struct ep_p *e, int fd, struct ep_fd *f, uint32_t ev)
{
	struct epoll_event x = { .events = ev | EPOLLONESHOT, .data.u64 = ((uint64_t)fd << 1) | TAG_FD };
	int op = f->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(e->epfd, op, fd, &x) == 0) {
		f->added = true;
		f->armed = ev;
		return 0;
	}
	/* our idea of "added" is stale: the fd was closed (which drops it
	 * from the set) and its number reused, or added by an earlier run */
	if (errno == ENOENT || errno == EEXIST) {
		op = errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
		if (epoll_ctl(e->epfd, op, fd, &x) == 0) {
			f->added = true;
			f->armed = ev;
			return 0;
		}
	}
	return -errno;
}

static void on_ready(struct ep_p *e, int fd, uint32_t revents)
{
	rg__spin_lock(&e->lock);
	if (fd < e->nfds) {
		struct ep_fd *f = &e->fds[fd];
		f->armed = 0; /* one-shot: disabled now */
		/* an error or a hang-up wakes every waiter, whatever it waits
		 * for (epoll reports them unasked): its retry sees the EOF,
		 * EPIPE or error.  Not waking it would leave it parked until its
		 * deadline while the one-shot re-arm below fires again at once */
		uint32_t always = EPOLLERR | EPOLLHUP;
		for (rg__io_op **pp = &f->waiters; *pp;) {
			rg__io_op *o = *pp;
			if (((uint32_t)o->ep_events | always) & revents) {
				*pp = o->ep_next;
				o->ep_next = NULL;
				atomic_store_explicit(&o->ep_state, 2, memory_order_relaxed);
				rg__wake(o->t, o->ticket);
			} else {
				pp = &o->ep_next;
			}
		}
		if (f->waiters)
			arm(e, fd, f, union_events(f));
	}
	rg__spin_unlock(&e->lock);
}

static int ep_poll(rg__p *p, int64_t timeout_ns)
{
	struct ep_p *e = ep_of(p);
	struct epoll_event evs[128];
	struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
	if (timeout_ns != 0)
		atomic_store(&p->sleeping, 1);
	int n = epoll_pwait2(e->epfd, evs, 128, timeout_ns < 0 ? NULL : &ts, NULL);
	if (n < 0 && errno == ENOSYS) {
		/* (kernels before 5.11) milliseconds in an int: a far timer
		 * (a deadline near INT64_MAX) clamps to INT_MAX, not to what
		 * the low 32 bits of ~9e12 happen to be (0 spun) */
		int64_t ms = timeout_ns < 0 ? -1 : (timeout_ns + 999999) / 1000000;
		n = epoll_wait(e->epfd, evs, 128, ms > INT_MAX ? INT_MAX : (int)ms);
	}
	if (timeout_ns != 0)
		atomic_store(&p->sleeping, 0);
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;
		if (d == 0) {
			uint64_t v;
			ssize_t r = read(p->efd, &v, sizeof v);
			(void)r;
		} else if (d & TAG_FD) {
			on_ready(e, (int)(d >> 1), evs[i].events);
		} else {
			rg__cqe_handler *h = (rg__cqe_handler *)(uintptr_t)d;
			h->fn(h, (int)evs[i].events, 0);
		}
	}
	return n > 0 ? n : 0;
}

static void ep_wake(rg__p *target)
{
	/* readying from inside our own poll: we are awake already */
	if (rg__getp() == target)
		return;
	rg__waiter_eventfd_wake(target);
}

const rg__waiter_ops rg__waiter_epoll = {
	.name = "epoll",
	.init = ep_init,
	.fini = ep_fini,
	.poll = ep_poll,
	.wake = ep_wake,
};

/* A level-triggered fd whose handler the P's poll calls (io/cancel.c). */
void rg__epoll_add_handler(rg__p *p, int fd, rg__cqe_handler *h)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)h };
	epoll_ctl(ep_of(p)->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- waiting for readiness ----------------------------------------------- */

/* 0: ready (try again); 1: cannot be waited on (regular file: do the
 * blocking call); -ETIMEDOUT, -ECANCELED, -errno. */
static int wait_ready(int fd, uint32_t events, int64_t deadline)
{
	rg__task *t = rg__self();
	rg__p *p = rg__getp();
	struct ep_p *e = ep_of(p);
	rg__io_op op;
	op.t = t;
	op.p = p;
	op.ep_fd = fd;
	op.ep_events = (int)events;
	op.ep_next = NULL;
	op.direct = true;
	atomic_store_explicit(&op.ep_state, 0, memory_order_relaxed);
	if (fd < 0)
		return -EBADF; /* never index the table with it */
	op.ticket = rg__park_prepare(); /* before publishing: a canceller reads it */
	int r;
	rg__spin_lock(&e->lock);
	if (fd >= e->nfds) {
		int n = e->nfds ? e->nfds : 64;
		while (n <= fd)
			n *= 2;
		struct ep_fd *nf = rg__realloc(e->fds, (size_t)n * sizeof *nf);
		if (!nf) {
			rg__spin_unlock(&e->lock);
			return -ENOMEM;
		}
		memset(nf + e->nfds, 0, (size_t)(n - e->nfds) * sizeof *nf);
		e->fds = nf;
		e->nfds = n;
	}
	struct ep_fd *f = &e->fds[fd];
	/* Armed on every wait: the fd may have been closed and its number
	 * reused since we last armed it, and only a new epoll_ctl finds out. */
	r = arm(e, fd, f, union_events(f) | events);
	{
		if (r) {
			rg__spin_unlock(&e->lock);
			return r == -EPERM ? 1 : r;
		}
	}
	op.ep_next = f->waiters;
	f->waiters = &op;
	rg__spin_unlock(&e->lock);

	/* published only once parked: a canceller wakes the task directly */
	int pr = rg__io_park_op(t, &op, deadline);

	/* unlink, unless readiness did (it may have run on another thread if
	 * the wake came from elsewhere: the lock orders it) */
	rg__spin_lock(&e->lock);
	if (atomic_load_explicit(&op.ep_state, memory_order_relaxed) != 2 && fd < e->nfds) {
		for (rg__io_op **pp = &e->fds[fd].waiters; *pp; pp = &(*pp)->ep_next)
			if (*pp == &op) {
				*pp = op.ep_next;
				break;
			}
	}
	rg__spin_unlock(&e->lock);
	if (op.res)
		return op.res; /* a cancel was pending: never published */
	if (rg__io_op_end(t, &op, true))
		return -ECANCELED;
	return pr == -ETIMEDOUT ? -ETIMEDOUT : 0;
}

void rg__epoll_cancel_op(rg__io_op *op)
{
	atomic_store_explicit(&op->ep_state, 1, memory_order_relaxed);
	rg__wake(op->t, op->ticket);
}

/* ---- the executor -------------------------------------------------------------- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static intptr_t blocking_call(void *arg)
{
	rg__io_req *q = arg;
	int r;
	switch (q->op) {
	case RG__OP_OPENAT:
		r = openat(q->fd, q->buf, q->flags, q->mode);
		break;
	case RG__OP_FSYNC:
		r = q->flags ? fdatasync(q->fd) : fsync(q->fd);
		break;
	case RG__OP_FALLOCATE:
		r = fallocate(q->fd, q->flags, q->off, (off_t)q->len);
		break;
	default:
		return -ENOSYS;
	}
	return r < 0 ? -errno : r;
}

/* One attempt; -EAGAIN: would block.  RG__NOIPA: rg__epoll_exec calls it
 * again after parking, and must not reuse an &errno from before. */
static RG__NOIPA int64_t attempt(rg__io_req *q, bool blocking_ok)
{
	ssize_t r;
	switch (q->op) {
	case RG__OP_ACCEPT:
		r = set_nonblock(q->fd);
		if (r < 0)
			return r;
		r = accept4(q->fd, q->buf, q->aux, SOCK_CLOEXEC);
		break;
	case RG__OP_READ:
	case RG__OP_WRITE:
	case RG__OP_READV:
	case RG__OP_WRITEV: {
		struct iovec one = { q->buf, q->len };
		const struct iovec *iov = q->op <= RG__OP_WRITE ? &one : q->buf;
		int cnt = q->op <= RG__OP_WRITE ? 1 : (int)q->len;
		bool rd = q->op == RG__OP_READ || q->op == RG__OP_READV;
		r = rd ? preadv2(q->fd, iov, cnt, q->off, blocking_ok ? 0 : RWF_NOWAIT)
		       : pwritev2(q->fd, iov, cnt, q->off, blocking_ok ? 0 : RWF_NOWAIT);
		if (r < 0 && errno == EOPNOTSUPP && !blocking_ok) {
			/* no NOWAIT here (a tty, some pipes): readiness first */
			struct pollfd pfd = { .fd = q->fd, .events = rd ? POLLIN : POLLOUT };
			if (poll(&pfd, 1, 0) == 0)
				return -EAGAIN;
			r = rd ? preadv2(q->fd, iov, cnt, q->off, 0) : pwritev2(q->fd, iov, cnt, q->off, 0);
		}
		break;
	}
	case RG__OP_CLOSE:
		r = close(q->fd);
		if (r < 0 && errno == EINTR)
			r = 0;
		break;
	case RG__OP_STATX:
		r = statx(q->fd, q->buf, q->flags, q->mode, q->aux);
		break;
	case RG__OP_OPENAT:
	case RG__OP_FSYNC:
	case RG__OP_FALLOCATE:
		return rg_blocking(blocking_call, q);
	default:
		return rg__io_try(q);
	}
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static uint32_t wants(const rg__io_req *q)
{
	switch (q->op) {
	case RG__OP_SEND:
	case RG__OP_SENDMSG:
	case RG__OP_WRITE:
	case RG__OP_WRITEV:
	case RG__OP_CONNECT:
		return EPOLLOUT;
	case RG__OP_POLL:
		/* poll(2)'s bits are epoll's; ERR/HUP always come */
		return (uint32_t)q->flags & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLRDNORM |
		                             EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG);
	default:
		return EPOLLIN | EPOLLRDHUP;
	}
}

/* The connect's outcome once the socket is writable: -errno if even
 * asking fails.  Called after a park, so RG__NOIPA: inline, the errno
 * read was through the &errno connect_op computed before parking, the
 * old thread's if the task had moved (rg_connect returned that thread's
 * errno, even 0). */
static RG__NOIPA int64_t so_error(int fd)
{
	int err = 0;
	socklen_t l = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return -errno;
	return -err;
}

/* One non-blocking connect: 0, or -errno.  RG__NOIPA: called again after
 * a park (connect_op), so no &errno from before it is reused. */
static RG__NOIPA int connect_once(rg__io_req *q)
{
	return connect(q->fd, q->buf, (socklen_t)q->len) == 0 ? 0 : -errno;
}

/* Parks until `until` (0), or until a cancel or the call's context
 * ends it (-ECANCELED): the op is published as wait_ready's is, with
 * nothing to wait for. */
static int nap(int64_t until)
{
	rg__task *t = rg__self();
	rg__io_op op;
	memset(&op, 0, sizeof op);
	op.t = t;
	op.p = rg__getp();
	op.direct = true;
	op.ticket = rg__park_prepare();
	rg__io_park_op(t, &op, until);
	if (op.res)
		return op.res;
	return rg__io_op_end(t, &op, true) ? -ECANCELED : 0;
}

static int64_t connect_op(rg__io_req *q, int64_t deadline, bool nonblock)
{
	int r = set_nonblock(q->fd);
	if (r < 0)
		return r;
	r = connect_once(q);
	if (r == 0)
		return 0;
	if (r != -EINPROGRESS && r != -EAGAIN)
		return r;
	if (nonblock)
		return -EAGAIN;
	/* -EAGAIN (AF_UNIX: the listener's backlog is full) started nothing:
	 * the connect must be made again once there is room.  No readiness
	 * says so (an unconnected socket polls writable at once, and the wait
	 * below took that for connected: rg_connect returned 0 on a socket
	 * that was not, tests/io/test_unix_connect_epoll.c), so try
	 * again after naps of 1 to 16 ms, up to the deadline. */
	for (int64_t step = 1000000; r == -EAGAIN; step = step < 16000000 ? step * 2 : step) {
		int64_t until = rg_now() + step;
		if (deadline >= 0 && until > deadline)
			until = deadline;
		int w = nap(until);
		if (w)
			return w;
		if (deadline >= 0 && rg_now() >= deadline)
			return -ETIMEDOUT;
		r = connect_once(q);
		if (r == 0)
			return 0;
		if (r != -EINPROGRESS && r != -EAGAIN)
			return r;
	}
	for (;;) {
		int w = wait_ready(q->fd, EPOLLOUT, deadline);
		if (w < 0)
			return w;
		struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
		if (w == 0 && poll(&pfd, 1, 0) == 0)
			continue;
		return so_error(q->fd);
	}
}

int64_t rg__epoll_exec(rg__io_req *q, int64_t deadline, bool nonblock)
{
	if (q->op == RG__OP_CONNECT)
		return connect_op(q, deadline, nonblock);
	/* file metadata calls have no readiness to wait for, and their fd
	 * may be a dirfd (AT_FDCWD): their result, -EAGAIN included (an open
	 * with O_NONBLOCK that would break a lease), is the call's */
	if (q->op == RG__OP_OPENAT || q->op == RG__OP_FSYNC || q->op == RG__OP_FALLOCATE ||
	    q->op == RG__OP_STATX || q->op == RG__OP_CLOSE)
		return attempt(q, true);
	bool blocking_ok = false;
	for (;;) {
		int64_t r = attempt(q, blocking_ok);
		if (r != -EAGAIN || nonblock)
			return r;
		int w = wait_ready(q->fd, wants(q), deadline);
		if (w < 0)
			return w;
		if (w == 1)
			blocking_ok = true; /* a regular file: just read it */
	}
}
