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
 * Nor does anything hold the task's file: io_uring's op does (ringo/io.h:
 * calls keep their open file when another task rg_closes the fd), an
 * epoll registration does not, and goes with the file.  So a call that
 * has to wait lists itself by fd ("calls in flight", below) from its
 * first "would block" to its return, and rg_close(fd) hands each listed
 * call a dup of fd of its own before close(2), or, for an accept,
 * -EBADF (io_uring's rg_close ends a listener's accepting owner so).  A
 * call that does not wait pays nothing of this.
 *
 * Regular files cannot be waited on (epoll says EPERM): their reads and
 * writes are made directly; open, fsync and fallocate run in rg_blocking so
 * the P keeps running other tasks.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/sched_int.h"
#include "io/io_int.h"

#define TAG_FD 1u

struct ep_fd {
	rg__io_op *waiters;     /* linked by ep_next */
	uint32_t armed;         /* events enabled in the set, 0: none */
	bool added;             /* in the set (as far as we know) */
};

/* Per P.  epfd, p: fixed after init.  lock guards fds/nfds and every op
 * linked there, and pend/npend/cpend/pend_all. */
struct ep_p {
	int epfd;
	rg__p *p;
	_Atomic int lock;
	struct ep_fd *fds;
	int nfds;
	/* fds whose waiters this P's thread is to wake (rg__epoll_close from
	 * another thread: ep_forget); pend_all: no memory for the list, wake
	 * every waiter.  has_pend: any of it, read by the poll without the
	 * lock (set under it, before the P's eventfd is written) */
	int *pend;
	int npend, cpend;
	bool pend_all;
	_Atomic int has_pend;
};
static struct ep_p *g_ep[RG_IO_MAXP];

static inline struct ep_p *ep_of(rg__p *p) { return g_ep[rg__p_index(p)]; }

/* ---- the waiter backend (core's interface) ----------------------------- */

static int ep_init(rg__p *p)
{
	if (p->id >= RG_IO_MAXP)
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
	e->p = p;
	g_ep[p->id] = e;
	return 0;
}

static void ep_fini(rg__p *p)
{
	struct ep_p *e = p->id < RG_IO_MAXP ? g_ep[p->id] : NULL;
	if (e) {
		close(e->epfd);
		rg__free(e->fds);
		rg__free(e->pend);
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

/* lock held.  Wakes every call waiting on f, as readiness would (each
 * retries, or waits again).  Only on the thread of the P whose table f
 * is: a task links its op there while it runs on that thread, and parks
 * before that thread does anything else, so every op linked there
 * belongs to a task that has switched out (a wake from elsewhere could
 * ready a task still on its way to park, and run it on two Ps). */
static void wake_all(struct ep_fd *f)
{
	while (f->waiters) {
		rg__io_op *o = f->waiters;
		f->waiters = o->ep_next;
		o->ep_next = NULL;
		atomic_store_explicit(&o->ep_state, 2, memory_order_relaxed);
		rg__wake(o->t, o->ticket);
	}
}

/* The P's thread: the wakes ep_forget left it. */
static void pend_run(struct ep_p *e)
{
	rg__spin_lock(&e->lock);
	atomic_store_explicit(&e->has_pend, 0, memory_order_relaxed);
	if (e->pend_all) {
		for (int fd = 0; fd < e->nfds; fd++)
			wake_all(&e->fds[fd]);
	} else {
		for (int i = 0; i < e->npend; i++)
			if (e->pend[i] < e->nfds)
				wake_all(&e->fds[e->pend[i]]);
	}
	e->npend = 0;
	e->pend_all = false;
	rg__spin_unlock(&e->lock);
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
	if (atomic_load_explicit(&e->has_pend, memory_order_acquire))
		pend_run(e);
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

/* ---- calls in flight, for rg_close ----------------------------------------
 *
 * Without this, rg_close(fd) under a call waiting on fd closed the file
 * (the epoll registration went with it: the waiter slept until its
 * deadline, and the peer's send got -EPIPE), and a number reused at once
 * for a new file woke the old waiter, whose retry read the new file's
 * bytes (tests/io/test_close_keeps_file.c).
 *
 * The choices, and why this one.  A dup made by every call that waits
 * (dup, then EPOLL_CTL_ADD, DEL and close for it instead of one MOD: three
 * more system calls on every wait of the backend's server path) would be
 * simplest; a dup made by rg_close costs only the closes that race a
 * waiter, and a lookup (one atomic load) every other close.  But the
 * closer must reach the call at every point between its first "would
 * block" and its return, not only while it is parked: a call woken by
 * readiness and not yet retried holds the number alone too, and its retry
 * would act on the closed or reused number.  Hence:
 *
 *   - a call lists itself (call_enter) under its fd after its first try
 *     would block, and stays listed until it returns (call_leave);
 *   - it reads the fd it works on from the record (c->fd) each time it
 *     uses it -- a try, or linking its readiness wait and arming the P's
 *     set -- with c->busy set around the use (call_use/call_unuse);
 *   - rg_close(fd), before close(2): each call listed under fd gets a dup
 *     (F_DUPFD_CLOEXEC) in c->fd, or -EBADF for an accept (a dup would
 *     keep the listener listening, completing handshakes nobody accepts,
 *     after rg_close; io_uring's rg_close ends the accepting owner with
 *     -EBADF and returns once the listener is gone) -- out of fds,
 *     -EBADF too, rather than the closed number; then the closer waits
 *     until the call is not using the old number (busy clear: a try in
 *     progress on it ends on the old file, the kernel holds it while the
 *     system call runs); then every P's set forgets fd, while fd still
 *     names the file (the registration belongs to the file and the number:
 *     left there, it outlives the close while the dup keeps the file, and
 *     would fire for whatever file gets the number next), and the calls
 *     waiting on it are woken, to wait again on their dup or return
 *     -EBADF: by the closer in its own P's table, by each other P's
 *     thread in its own (the closer leaves it the fd and writes its
 *     eventfd), since a task linked there may not have parked yet when
 *     its use ends (wake_all).  The call closes its dup when it returns
 *     (forgotten by the sets first, for the same reason).
 *
 * busy and c->fd are a Dekker pair (seq_cst): the call stores busy then
 * loads fd, the closer stores fd then loads busy; either the call sees the
 * dup, or the closer sees it busy and waits for the use (a non-blocking
 * system call, or the link and arm under the P's lock) to end, after
 * which the call's next use sees the dup.  A call that has not listed
 * itself yet when rg_close looks is racing the close, as a read(2)
 * racing close(2) is (on io_uring: an SQE not queued yet).
 *
 * The lists: one per fd modulo NBUCKETS (fds are small numbers, the
 * lowest free first, so a bucket holds the calls of one fd until a
 * process has thousands open; a close scans only its bucket, and a close
 * whose bucket is empty reads one pointer).  The record is on the call's
 * stack; the closer reads it only under its bucket's lock, which
 * call_leave takes before the call returns.  A bucket's lock and a P's
 * are never held together. */
struct ep_call {
	_Atomic int fd;   /* what the call works on: orig, a dup (handed) or -EBADF */
	_Atomic int busy; /* the call is using fd (see above) */
	int orig;         /* the fd the call was made on: its key (const) */
	bool accept;      /* const: a close ends it with -EBADF */
	bool handed;      /* fd is a dup, or -EBADF (the bucket's lock) */
	struct ep_call *next, *prev; /* the bucket's list (its lock) */
};

#define NBUCKETS 4096
struct bucket {
	_Atomic int lock;
	struct ep_call *_Atomic head; /* written under lock; rg_close's first look without */
};
static struct bucket g_calls[NBUCKETS];

static inline struct bucket *bucket_of(int fd) { return &g_calls[(unsigned)fd % NBUCKETS]; }

static void call_enter(struct ep_call *c, const rg__io_req *q)
{
	c->orig = q->fd;
	c->accept = q->op == RG__OP_ACCEPT;
	c->handed = false;
	atomic_store_explicit(&c->fd, q->fd, memory_order_relaxed);
	atomic_store_explicit(&c->busy, 0, memory_order_relaxed);
	struct bucket *b = bucket_of(c->orig);
	rg__spin_lock(&b->lock);
	struct ep_call *h = atomic_load_explicit(&b->head, memory_order_relaxed);
	c->prev = NULL;
	c->next = h;
	if (h)
		h->prev = c;
	atomic_store(&b->head, c); /* seq_cst: rg__epoll_close reads it without the lock */
	rg__spin_unlock(&b->lock);
}

static int call_use(struct ep_call *c)
{
	atomic_store(&c->busy, 1);
	return atomic_load(&c->fd);
}

static void call_unuse(struct ep_call *c) { atomic_store_explicit(&c->busy, 0, memory_order_release); }

/* Every P's set forgets fd (which must still name the file), and with
 * wake the calls waiting on it there are woken, as by readiness: at once
 * in the caller's own P's table, by the P's thread elsewhere (wake_all
 * says why), which its eventfd rouses.  Any thread: a closer without a P
 * is counted (rg__io_cancellers_enter), so rg_run frees no set under it. */
static void ep_forget(int fd, bool wake)
{
	rg__p *self = rg__getp();
	int n = rg__nprocs();
	for (int i = 0; i < n && i < RG_IO_MAXP; i++) {
		struct ep_p *e = g_ep[i];
		if (!e)
			continue;
		bool post = false;
		rg__spin_lock(&e->lock);
		if (fd < e->nfds) {
			struct ep_fd *f = &e->fds[fd];
			if (f->added)
				epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
			f->added = false;
			f->armed = 0;
			if (wake && f->waiters && e->p == self) {
				wake_all(f);
			} else if (wake && f->waiters) {
				if (e->npend == e->cpend) {
					int nc = e->cpend ? e->cpend * 2 : 8;
					int *np = rg__realloc(e->pend, (size_t)nc * sizeof *np);
					if (np) {
						e->pend = np;
						e->cpend = nc;
					}
				}
				if (e->npend < e->cpend)
					e->pend[e->npend++] = fd;
				else
					e->pend_all = true;
				atomic_store_explicit(&e->has_pend, 1, memory_order_release);
				post = true;
			}
		}
		rg__spin_unlock(&e->lock);
		if (post)
			rg__waiter_eventfd_wake(e->p);
	}
}

static void call_leave(struct ep_call *c)
{
	struct bucket *b = bucket_of(c->orig);
	rg__spin_lock(&b->lock);
	/* release: a closer that then finds the bucket empty (no lock) acts
	 * after the call's last use of its fd */
	if (c->prev)
		c->prev->next = c->next;
	else
		atomic_store_explicit(&b->head, c->next, memory_order_release);
	if (c->next)
		c->next->prev = c->prev;
	bool handed = c->handed;
	rg__spin_unlock(&b->lock);
	int fd = atomic_load_explicit(&c->fd, memory_order_relaxed);
	if (handed && fd >= 0) {
		ep_forget(fd, false);
		close(fd);
	}
}

/* rg_close(fd), before its close(2): see "calls in flight" above.  Any
 * thread; one atomic load unless a call waiting on fd (or on another fd
 * of its bucket) is listed. */
void rg__epoll_close(int fd)
{
	struct bucket *b = bucket_of(fd);
	if (!atomic_load(&b->head))
		return;
	/* Off a P (a thread outside the runtime, rg_blocking's pool) the
	 * closer may race rg_run's end, which frees the P's sets: it counts
	 * as a canceller, which the end waits out, and stays away once the
	 * run stops (its waiting tasks are discarded; the stop hook below
	 * closes what they were handed). */
	bool counted = !rg__getp();
	if (counted && !rg__io_cancellers_enter())
		return;
	bool any = false;
	rg__spin_lock(&b->lock);
	for (struct ep_call *c = atomic_load_explicit(&b->head, memory_order_relaxed); c; c = c->next) {
		if (c->orig != fd || c->handed)
			continue;
		int nfd = c->accept ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
		atomic_store(&c->fd, nfd < 0 ? -EBADF : nfd);
		c->handed = true;
		for (int spin = 0; atomic_load(&c->busy); spin++) {
			if (spin < 64)
				rg__cpu_relax();
			else
				sched_yield();
		}
		any = true;
	}
	rg__spin_unlock(&b->lock);
	if (any)
		ep_forget(fd, true);
	if (counted)
		rg__io_cancellers_leave();
}

/* rg_run's end: the calls of discarded tasks are still listed, on stacks
 * about to go.  Their dups are closed, the lists emptied. */
static void calls_at_stop(void)
{
	for (int i = 0; i < NBUCKETS; i++) {
		struct bucket *b = &g_calls[i];
		if (!atomic_load(&b->head))
			continue;
		rg__spin_lock(&b->lock);
		for (struct ep_call *c = atomic_load_explicit(&b->head, memory_order_relaxed); c; c = c->next) {
			int fd = atomic_load_explicit(&c->fd, memory_order_relaxed);
			if (c->handed && fd >= 0)
				close(fd);
		}
		atomic_store(&b->head, NULL);
		rg__spin_unlock(&b->lock);
	}
}

__attribute__((constructor)) static void epoll_init(void) { rg__at_stop(calls_at_stop); }

/* ---- waiting for readiness ----------------------------------------------- */

/* Call c waits until its fd is ready.  0: ready (try again); 1: cannot be
 * waited on (regular file: do the blocking call); -ETIMEDOUT, -ECANCELED,
 * -errno (-EBADF: rg_closed under an accept, or with no fd left to hand
 * the call). */
static int wait_ready(struct ep_call *c, uint32_t events, int64_t deadline)
{
	rg__task *t = rg__self();
	rg__p *p = rg__getp();
	struct ep_p *e = ep_of(p);
	rg__io_op op;
	op.t = t;
	op.p = p;
	op.ep_events = (int)events;
	op.ep_next = NULL;
	op.direct = true;
	atomic_store_explicit(&op.ep_state, 0, memory_order_relaxed);
	op.ticket = rg__park_prepare(); /* before publishing: a canceller reads it */
	/* linked and armed under the number c works on now: an rg_close
	 * that hands c a dup meanwhile waits for this, then wakes us */
	int fd = call_use(c);
	op.ep_fd = fd;
	if (fd < 0) {
		call_unuse(c);
		return fd; /* never index the table with it */
	}
	int r;
	rg__spin_lock(&e->lock);
	if (fd >= e->nfds) {
		int n = e->nfds ? e->nfds : 64;
		while (n <= fd)
			n *= 2;
		struct ep_fd *nf = rg__realloc(e->fds, (size_t)n * sizeof *nf);
		if (!nf) {
			rg__spin_unlock(&e->lock);
			call_unuse(c);
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
			call_unuse(c);
			return r == -EPERM ? 1 : r;
		}
	}
	op.ep_next = f->waiters;
	f->waiters = &op;
	rg__spin_unlock(&e->lock);
	call_unuse(c);

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

/* The connect's wait, listed as c (r: its first connect's -EINPROGRESS
 * or -EAGAIN); every use of the fd goes through c. */
static int64_t connect_wait(struct ep_call *c, const rg__io_req *q, int64_t deadline, int r)
{
	rg__io_req w = *q;
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
		int e = nap(until);
		if (e)
			return e;
		if (deadline >= 0 && rg_now() >= deadline)
			return -ETIMEDOUT;
		w.fd = call_use(c);
		r = w.fd < 0 ? w.fd : connect_once(&w);
		call_unuse(c);
		if (r == 0)
			return 0;
		if (r != -EINPROGRESS && r != -EAGAIN)
			return r;
	}
	for (;;) {
		int e = wait_ready(c, EPOLLOUT, deadline);
		if (e < 0)
			return e;
		int fd = call_use(c);
		int64_t res = 1; /* not writable yet: wait again */
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		if (fd < 0)
			res = fd;
		else if (e == 1 || poll(&pfd, 1, 0) != 0)
			res = so_error(fd);
		call_unuse(c);
		if (res != 1)
			return res;
	}
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
	struct ep_call c;
	call_enter(&c, q);
	int64_t res = connect_wait(&c, q, deadline, r);
	call_leave(&c);
	return res;
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
	int64_t r = attempt(q, false);
	if (r != -EAGAIN || nonblock)
		return r;
	/* it waits: listed from here to its return, so that an rg_close of
	 * its fd hands it a dup (see "calls in flight") */
	struct ep_call c;
	call_enter(&c, q);
	/* An accept listed just after an rg_close of its fd looked (and
	 * missed it) would arm its wait on the listener before close(2) drops
	 * that registration, and sleep out its deadline (the tight case of
	 * test_accept_close_single_epoll: 2 of 1,000 under qemu).  rg_close
	 * publishes its fd before it looks (io/accept.c's slots), and the
	 * listing above comes before this load (seq_cst both): the accept
	 * sees the close under way and waits until it was handed -EBADF or
	 * the close is over (its number then closed: -EBADF from the kernel,
	 * or a new file, as for a call made after the close). */
	if (c.accept)
		while (rg__accept_closing(q->fd) && atomic_load(&c.fd) == q->fd &&
		       (deadline < 0 || rg_now() < deadline))
			rg_sleep(20 * 1000);
	rg__io_req w = *q;
	bool blocking_ok = false;
	for (;;) {
		int e = wait_ready(&c, wants(q), deadline);
		if (e < 0) {
			r = e;
			break;
		}
		if (e == 1)
			blocking_ok = true; /* a regular file: just read it */
		w.fd = call_use(&c);
		r = w.fd < 0 ? w.fd : attempt(&w, blocking_ok);
		call_unuse(&c);
		if (r != -EAGAIN)
			break;
	}
	call_leave(&c);
	return r;
}
