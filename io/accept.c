/*
 * io/accept.c — multishot accept behind rg_accept, for a task that loops on
 * one listener (io_uring backend only; epoll runs accept as before).
 *
 * When a task calls rg_accept on the same listening fd twice in a row
 * (addr == NULL, a deadline other than 0), it becomes the owner of an
 * acceptor for that fd: one IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT
 * armed on the task's P (its home).  Every CQE carries an accepted fd; the
 * handler queues it, and wakes the owner if it waits.  Connections that
 * arrive while the owner is busy elsewhere are accepted into that queue, so
 * its next rg_accept returns one without an SQE, a system call or a park.
 *
 * Why only addr == NULL: the multishot fills no address.  Filling it with
 * getpeername(2) would cost the system call the queue saves; a caller that
 * wants the peer's address gets the single-shot accept, as before.
 *
 * Who owns what.
 *   - An acceptor belongs to its owner task for its whole life.  Only the
 *     owner waits on it, and only the owner takes fds from its queue: the
 *     queued fds are accepted connections handed to no one yet, the owner's
 *     to return.
 *   - Its fields (queue, armed, err...) are touched only on its home P's
 *     thread: the CQE handler runs there and the owner hops there first
 *     (rg__io_hop; usually a no-op, since the handler readies the owner on
 *     the home P).  Exceptions: fd, ino, home, owner (fixed at creation),
 *     dead and shared (atomic), refs (atomic), the registry links (g_lock).
 *   - A global registry (fd -> acceptor, under g_lock; a lock-free array of
 *     fds for the common "not a listener" answer) lets rg_close and other
 *     tasks find it.
 *   - refs: one for the registry entry, one for the owner's list (its
 *     task-local storage), one while the multishot is armed (the kernel
 *     may still post to it).  The last one frees it; by then it has been
 *     retired (queue closed).
 *
 * When it ends (retire: the multishot is stopped with ASYNC_CANCEL, queued
 * fds are closed, fds that still arrive before the final CQE are closed):
 *   - rg_close(listener), by any task: waits for the final CQE (so the
 *     listening socket is really gone when rg_close returns), then closes
 *     the fd.  An owner waiting in rg_accept returns -EBADF.
 *   - the owner task exits (task-local storage destructor; it cannot park
 *     there, so the home P is asked through its request stack).
 *   - the owner finds the fd now names another file (fstat's inode differs:
 *     the listener was closed with close(2) and the number reused) — checked
 *     before each wait, never on the queued fast path.
 *   - rg_run ends (the P's io state is torn down: pio_fini).
 * Another task that accepts on the listener marks the acceptor shared: its
 * multishot is stopped, the owner returns what it had queued, then
 * everybody accepts single-shot — multishot only while one task loops.
 *
 * Deadlines and cancellation.  No kernel op holds the task's memory (the
 * acceptor is on the heap), so a deadline is core's park deadline: on
 * -ETIMEDOUT the multishot stays armed and what arrives stays queued for
 * the next call.  The multishot's record is published in the task's cancel
 * slot while it waits (io/cancel.c): rg_cancel or the bound Context's end
 * issues ASYNC_CANCEL on its home P; the call returns -ECANCELED only after
 * the multishot's final CQE, and the owner stops accepting ahead.  An fd
 * that completed first is returned instead, and the cancel stays pending
 * (as for every call).  Deadline 0 takes a queued fd if there is one, else
 * makes the single-shot non-blocking attempt.
 *
 * Bounded: at ACC_QMAX queued fds the multishot is stopped (the listen
 * backlog holds the rest, as for a task that does not accept); it is
 * re-armed when the owner next waits.  So a task that stops accepting but
 * lives on holds at most ACC_QMAX connections accepted ahead — their
 * clients see a connected socket nobody reads, as with a backlog nobody
 * accepts from.
 *
 * Kernels before 5.19 reject IORING_ACCEPT_MULTISHOT with -EINVAL: the
 * acceptor then falls back to single-shot for good (so does a socket that
 * is not listening, whose single-shot accept reports the same -EINVAL).
 */
#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_int.h"

#define ACC_MAX 64   /* listeners with an acceptor at once (more: single-shot) */
#define ACC_QMAX 64  /* queued fds before the multishot is stopped */

struct acc {
	/* fixed at creation */
	int fd;
	ino_t ino;
	rg__p *home;
	int64_t owner;            /* task id */
	/* any thread */
	_Atomic int refs;
	_Atomic bool dead;        /* retired */
	_Atomic bool shared;      /* another task accepts on fd */
	_Atomic bool quiet;       /* retired and its multishot ended (release):
	                             what a closer that cannot park waits for */
	struct acc *all_next, *all_prev; /* g_all, under g_lock */
	struct acc *tnext;        /* the owner's list: the owner only */
	struct acc *fnext;        /* rg__accept_p_fini's list of its P's acceptors (set under g_lock, then that teardown's own) */
	/* home P's thread only */
	rg__io_op op;             /* op.h: the multishot's user_data; op.pending: armed */
	bool armed, stopping, nomulti, accepted, closed, waiting;
	int err;                  /* the multishot ended with it: for the owner */
	int *q;
	unsigned qh, qn, qcap;
	rg__task *closer;
	uint64_t closer_ticket;
};

/* The owner's task-local list of acceptors, and the fd of its last
 * rg_accept (two in a row on one fd make an acceptor). */
struct tacc {
	int last_fd;
	struct acc *list;
	struct tacc *next, *prev; /* g_taccs, under g_lock */
};

static _Atomic int g_lock;
static _Atomic int g_nreg;
static _Atomic int g_regfd[ACC_MAX]; /* fd + 1, 0: empty */
static struct acc *g_reg[ACC_MAX];   /* under g_lock */
static struct acc *g_all;            /* every live acceptor, under g_lock */
static bool g_fini;                  /* rg_run is ending: under g_lock */
static _Atomic int g_key = -1;       /* task-local key of struct tacc */
/* Every live tacc.  A task discarded at rg_run's end never runs its
 * destructor: the stop hook frees what is left (core frees only the
 * task's array of values; ASan counted 16 bytes a discarded owner,
 * tests/io/test_shutdown_cancel.c). */
static struct tacc *g_taccs;

/* A spinlock: g_lock, and each bucket's of the single-shot accepts below. */
static void slock(_Atomic int *l)
{
	while (atomic_exchange_explicit(l, 1, memory_order_acquire))
		while (atomic_load_explicit(l, memory_order_relaxed))
			rg__cpu_relax();
}

static void sunlock(_Atomic int *l) { atomic_store_explicit(l, 0, memory_order_release); }

static void lock(void) { slock(&g_lock); }
static void unlock(void) { sunlock(&g_lock); }

/* ---- the queue (home P only) ------------------------------------------- */

static bool q_push(struct acc *a, int fd)
{
	if (a->qn == a->qcap) {
		unsigned ncap = a->qcap ? a->qcap * 2 : 16;
		int *nq = rg__malloc(ncap * sizeof *nq);
		if (!nq)
			return false;
		for (unsigned i = 0; i < a->qn; i++)
			nq[i] = a->q[(a->qh + i) % a->qcap];
		rg__free(a->q);
		a->q = nq;
		a->qh = 0;
		a->qcap = ncap;
	}
	a->q[(a->qh + a->qn) % a->qcap] = fd;
	a->qn++;
	return true;
}

static int q_pop(struct acc *a)
{
	int fd = a->q[a->qh];
	a->qh = (a->qh + 1) % a->qcap;
	a->qn--;
	return fd;
}

/* ---- registry ------------------------------------------------------------ */

static int reg_find(int fd) /* g_lock held */
{
	for (int i = 0; i < ACC_MAX; i++)
		if (g_reg[i] && g_reg[i]->fd == fd)
			return i;
	return -1;
}

static bool reg_maybe(int fd) /* lock-free hint */
{
	if (!atomic_load_explicit(&g_nreg, memory_order_acquire))
		return false;
	for (int i = 0; i < ACC_MAX; i++)
		if (atomic_load_explicit(&g_regfd[i], memory_order_relaxed) == fd + 1)
			return true;
	return false;
}

static void reg_del(int i) /* g_lock held */
{
	g_reg[i] = NULL;
	atomic_store_explicit(&g_regfd[i], 0, memory_order_relaxed);
	atomic_fetch_sub_explicit(&g_nreg, 1, memory_order_release);
}

/* Takes a out of the registry; true if it was there (the caller now holds
 * the registry's reference). */
static bool reg_remove(struct acc *a)
{
	bool was = false;
	lock();
	for (int i = 0; i < ACC_MAX; i++)
		if (g_reg[i] == a) {
			reg_del(i);
			was = true;
			break;
		}
	unlock();
	return was;
}

static void acc_free(struct acc *a)
{
	lock();
	if (a->all_prev)
		a->all_prev->all_next = a->all_next;
	else
		g_all = a->all_next;
	if (a->all_next)
		a->all_next->all_prev = a->all_prev;
	unlock();
	rg__free(a->q);
	rg__free(a);
}

static void unref(struct acc *a)
{
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
		acc_free(a);
}

/* ---- the multishot (home P only) ----------------------------------------- */

static void acc_cqe(rg__cqe_handler *h, int res, unsigned flags)
{
	struct acc *a = (struct acc *)((char *)h - offsetof(struct acc, op.h));
	bool dead = atomic_load_explicit(&a->dead, memory_order_relaxed);
	bool final = !(flags & IORING_CQE_F_MORE);
	if (res >= 0) {
		/* also a final CQE may carry an fd (the kernel could not post
		 * more: CQ overflow) */
		a->accepted = true;
		if (dead || !q_push(a, res))
			close(res);
		else if (!final && a->qn >= ACC_QMAX && !a->stopping) {
			a->stopping = true; /* full: let the backlog hold the rest */
			struct io_uring_sqe *sqe = rg__p_sqe(a->home);
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&a->op.h, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
	if (final) {
		a->armed = false;
		a->stopping = false;
		a->op.pending = 0;
		a->op.res = res;
		if (res == -EINVAL && !a->accepted)
			a->nomulti = true; /* kernel < 5.19, or not a listener */
		else if (res < 0 && res != -ECANCELED)
			a->err = res;
	}
	if (a->waiting)
		rg__wake(a->op.t, a->op.ticket);
	if (final) {
		if (a->closer)
			rg__wake(a->closer, a->closer_ticket);
		if (dead)
			atomic_store_explicit(&a->quiet, true, memory_order_release);
		unref(a); /* the armed reference: a may be gone now */
	}
}

static void arm(struct acc *a)
{
	struct io_uring_sqe *sqe = rg__p_sqe(a->home);
	io_uring_prep_multishot_accept(sqe, a->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &a->op.h);
	atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
	a->armed = true;
	a->stopping = false;
	a->op.pending = 1;
}

static void stop(struct acc *a)
{
	if (!a->armed || a->stopping)
		return;
	a->stopping = true;
	struct io_uring_sqe *sqe = rg__p_sqe(a->home);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&a->op.h, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

/* Stop accepting, close what is queued (later arrivals are closed by the
 * handler), wake a waiting owner.  Idempotent.  Home P only. */
static void retire(struct acc *a, bool wake)
{
	atomic_store_explicit(&a->dead, true, memory_order_release);
	stop(a);
	while (a->qn)
		close(q_pop(a));
	if (wake && a->waiting)
		rg__wake(a->op.t, a->op.ticket);
}

/* Park the calling task (on a's home P) until a's next CQE. */
static void wait_cqe(struct acc *a, rg__task *t)
{
	a->op.t = t;
	a->op.ticket = rg__park_prepare();
	a->waiting = true;
	rg__park(RG__WAIT_IO, -1, NULL, NULL);
	rg__io_hop(a->home);
	a->waiting = false;
}

/* ---- retiring from elsewhere ----------------------------------------------- */

/* The owner exited (request run on the home P): retire, drop the registry's
 * reference if it still had one, and the owner's. */
static void exit_retire(void *arg)
{
	struct acc *a = arg;
	retire(a, false);
	if (reg_remove(a))
		unref(a);
	unref(a);
}

/* rg_close(fd) from a thread that cannot park (request run on the home
 * P): as the closer on a task does, but without waiting for the final CQE.
 * It used exit_retire, which neither marked the acceptor closed nor woke
 * its owner: woken by the multishot's end, the owner re-armed on the fd
 * number, which by then could name another listener, and accepted from it
 * (tests/io/test_accept_close_foreign.c). */
static void close_retire(void *arg)
{
	struct acc *a = arg;
	a->closed = true;
	retire(a, true);
	if (!a->armed) /* else the final CQE says it (acc_cqe) */
		atomic_store_explicit(&a->quiet, true, memory_order_release);
	unref(a); /* the registry's reference, ours since reg_del */
}

static void tacc_dtor(void *v)
{
	struct tacc *ta = v;
	rg__p *p = rg__getp();
	struct acc *mine = NULL, *n;
	/* Under g_lock: a task that exits on one P while another P's io state
	 * is torn down (rg_run ending: rg__accept_p_fini frees that P's
	 * acceptors) must not touch them; a request posted after that P's
	 * last drain never runs.  The task cannot park here (it is exiting):
	 * other Ps get a request, this P's acceptors are retired below. */
	lock();
	for (struct acc *a = g_fini ? NULL : ta->list; a; a = n) {
		n = a->tnext;
		if (a->home == p) {
			a->tnext = mine;
			mine = a;
		} else if (rg__io_post(a->home, exit_retire, a)) {
			atomic_fetch_sub_explicit(&a->refs, 1, memory_order_relaxed);
			/* out of memory: it ends with rg_close or rg_run */
		}
	}
	if (ta->prev)
		ta->prev->next = ta->next;
	else
		g_taccs = ta->next;
	if (ta->next)
		ta->next->prev = ta->prev;
	unlock();
	for (struct acc *a = mine; a; a = n) {
		n = a->tnext;
		exit_retire(a);
	}
	rg__free(ta);
}

/* rg_close(fd): if fd has an acceptor, retire it and wait for the
 * multishot's final CQE, so the listener is closed when rg_close returns. */
void rg__accept_close(int fd)
{
	if (!reg_maybe(fd))
		return;
	rg__task *t = rg__self();
	bool park = t && rg__getp();
	/* A thread that cannot park may race rg_run's end, whose P teardown
	 * frees every acceptor (rg__accept_p_fini): it counts as a canceller,
	 * which that teardown waits out, and keeps away once the run stops
	 * (the teardown retires the acceptor).  It read a->home after that
	 * free (found by a review of the fix below). */
	if (!park && !rg__io_cancellers_enter())
		return;
	lock();
	int i = reg_find(fd);
	struct acc *a = i >= 0 ? g_reg[i] : NULL;
	if (a)
		reg_del(i); /* its reference is ours now */
	unlock();
	if (!park) { /* the home P finishes it */
		if (a) {
			/* and we wait for it, polling, as a closer on a task
			 * waits parked: until the multishot has let go of the
			 * listening socket, it still completes handshakes (the
			 * port stays bound) after our close(2).  A reference of
			 * our own keeps a readable meanwhile.  The run
			 * stopping ends the wait: its teardown retires a (and
			 * waits for us, a canceller, before it frees it). */
			atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
			if (rg__io_post(a->home, close_retire, a)) { /* out of memory: */
				/* the registry's and ours: ends with rg_run */
				atomic_fetch_sub_explicit(&a->refs, 2, memory_order_relaxed);
			} else {
				while (!atomic_load_explicit(&a->quiet, memory_order_acquire) && !rg__run_stopping())
					sched_yield();
				unref(a);
			}
		}
		rg__io_cancellers_leave();
		return;
	}
	if (!a)
		return;
	rg__io_hop(a->home);
	a->closed = true;
	retire(a, true);
	while (a->armed) {
		a->closer = t;
		a->closer_ticket = rg__park_prepare();
		rg__park(RG__WAIT_IO, -1, NULL, NULL);
		rg__io_hop(a->home);
	}
	a->closer = NULL;
	unref(a);
}

/* rg_run ends: P p's io state goes (on p's thread, the ring still open).
 * Stop p's acceptors and wait (briefly) for their final CQEs, so no fd the
 * kernel accepts meanwhile is left in an unread CQE; then free them all,
 * whoever still references them (no task runs any more). */
void rg__accept_p_fini(rg__p *p)
{
	/* every acceptor of p, however many: retired ones stay in g_all
	 * while their owner's list holds them (a task that accepted on many
	 * listeners), and with a fixed cap (128 once) a registered one past
	 * it kept its registry entry into the next run, naming this freed P
	 * (io_accept_many_fini) */
	struct acc *mine = NULL;
	lock();
	g_fini = true;
	for (struct acc *a = g_all; a; a = a->all_next)
		if (a->home == p) {
			a->fnext = mine;
			mine = a;
			int r = reg_find(a->fd);
			if (r >= 0 && g_reg[r] == a)
				reg_del(r);
		}
	unlock();
	if (!mine)
		return;
	struct io_uring *ring = rg__p_ring(p);
	bool any = false;
	for (struct acc *a = mine; a; a = a->fnext) {
		a->waiting = false;
		a->closer = NULL;
		atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed); /* keep it */
		retire(a, false);
		any |= a->armed;
	}
	for (int round = 0; any && round < 20; round++) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { 0, 10 * 1000000 };
		io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
		unsigned head, seen = 0;
		io_uring_for_each_cqe(ring, head, cqe) {
			seen++;
			for (struct acc *a = mine; a; a = a->fnext)
				if (cqe->user_data == (uint64_t)(uintptr_t)&a->op.h) {
					acc_cqe(&a->op.h, cqe->res, cqe->flags);
					break;
				}
		}
		/* the runtime has stopped: nobody else will read these */
		io_uring_cq_advance(ring, seen);
		any = false;
		for (struct acc *a = mine; a; a = a->fnext)
			any |= a->armed;
	}
	for (struct acc *a = mine, *n; a; a = n) {
		n = a->fnext;
		acc_free(a);
	}
}

/* ---- the owner's call ---------------------------------------------------------- */

static struct tacc *tacc_get(void)
{
	int k = atomic_load_explicit(&g_key, memory_order_acquire);
	if (k < 0) {
		rg_tls_key nk;
		if (rg_tls_key_create(&nk, tacc_dtor))
			return NULL;
		int want = -1;
		if (!atomic_compare_exchange_strong(&g_key, &want, nk))
			k = want; /* another task won; nk stays unused */
		else
			k = nk;
	}
	struct tacc *ta = rg_tls_get(k);
	if (ta)
		return ta;
	ta = rg__calloc(1, sizeof *ta);
	if (!ta)
		return NULL;
	ta->last_fd = -1;
	if (rg_tls_set(k, ta)) {
		rg__free(ta);
		return NULL;
	}
	lock();
	ta->next = g_taccs;
	if (g_taccs)
		g_taccs->prev = ta;
	g_taccs = ta;
	unlock();
	return ta;
}

/* rg_run's end, every P joined: the tasks still holding a tacc were
 * discarded (their acceptors went with their P's io state). */
static void taccs_at_stop(void)
{
	lock();
	struct tacc *ta = g_taccs;
	g_taccs = NULL;
	unlock();
	while (ta) {
		struct tacc *n = ta->next;
		rg__free(ta);
		ta = n;
	}
}

__attribute__((constructor)) static void accept_init(void) { rg__at_stop(taccs_at_stop); }

static void list_del(struct tacc *ta, struct acc *a)
{
	for (struct acc **pp = &ta->list; *pp; pp = &(*pp)->tnext)
		if (*pp == a) {
			*pp = a->tnext;
			return;
		}
}

/* A new acceptor for fd owned by task id, or NULL: another task's is
 * registered for fd (now marked shared), the registry is full, no memory. */
static struct acc *acc_new(int fd, int64_t id)
{
	struct stat st;
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return NULL;
	struct acc *a = rg__calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->fd = fd;
	a->ino = st.st_ino;
	a->home = rg__getp();
	a->owner = id;
	a->op.h.fn = acc_cqe;
	a->op.p = a->home;
	atomic_init(&a->refs, 2); /* registry + owner */
	lock();
	int i = reg_find(fd);
	if (i >= 0) {
		atomic_store_explicit(&g_reg[i]->shared, true, memory_order_relaxed);
		unlock();
		rg__free(a);
		return NULL;
	}
	for (i = 0; i < ACC_MAX && g_reg[i]; i++)
		;
	if (i == ACC_MAX) {
		unlock();
		rg__free(a);
		return NULL;
	}
	g_fini = false; /* a new rg_run */
	g_reg[i] = a;
	atomic_store_explicit(&g_regfd[i], fd + 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g_nreg, 1, memory_order_release);
	a->all_next = g_all;
	if (g_all)
		g_all->all_prev = a;
	g_all = a;
	unlock();
	rg__io_p_init_once(a->home);
	return a;
}

/* A task that owns no acceptor for fd accepts single-shot; if another
 * task's acceptor is registered for fd, the listener is now shared. */
static void note_other(int fd, int64_t id)
{
	if (!reg_maybe(fd))
		return;
	lock();
	int i = reg_find(fd);
	if (i >= 0 && g_reg[i]->owner != id)
		atomic_store_explicit(&g_reg[i]->shared, true, memory_order_relaxed);
	unlock();
}

static bool stale(struct acc *a)
{
	struct stat st;
	return fstat(a->fd, &st) || st.st_ino != a->ino;
}

/* The owner's rg_accept: the result, or FALLBACK: run the single-shot
 * accept instead. */
#define FALLBACK INT64_MIN

static int64_t owner_accept(struct acc *a, struct tacc *ta, rg__task *t, int64_t deadline, bool nb)
{
	for (;;) {
		rg__io_hop(a->home);
		if (atomic_load_explicit(&a->dead, memory_order_acquire))
			return FALLBACK;
		if (a->qn)
			return q_pop(a);
		if (a->err) {
			int e = a->err;
			a->err = 0;
			return e;
		}
		if (atomic_load_explicit(&a->shared, memory_order_relaxed)) {
			stop(a); /* the queue is drained; from now on single-shot */
			return FALLBACK;
		}
		if (nb || a->nomulti)
			return FALLBACK;
		if (stale(a)) { /* closed with close(2), number reused */
			retire(a, false);
			if (reg_remove(a))
				unref(a);
			list_del(ta, a);
			unref(a);
			return FALLBACK;
		}
		if (!a->armed)
			arm(a);
		/* wait, with the multishot's record published for cancels */
		a->op.t = t;
		a->op.ticket = rg__park_prepare();
		a->op.cancel_issued = false;
		int r = rg__io_op_begin(t, &a->op);
		if (r) { /* a cancel was pending: this call's; stop accepting ahead */
			stop(a);
			return r;
		}
		a->waiting = true;
		int pr = rg__park(RG__WAIT_IO, deadline, NULL, NULL);
		rg__io_hop(a->home);
		a->waiting = false;
		bool asked = rg__io_op_end(t, &a->op, false); /* a cancel stays pending... */
		if (a->qn)
			return q_pop(a); /* ...when an fd completed first */
		if (a->closed)
			return -EBADF; /* rg_close(fd) while we waited */
		if (asked) {
			/* this call's cancel: returns once the multishot has ended */
			stop(a);
			while (a->armed)
				wait_cqe(a, t);
			if (a->qn)
				return q_pop(a);
			rg__io_take_cancel(t); /* consume it (a Context's CTX bit: run() does) */
			return -ECANCELED;
		}
		if (pr == -ETIMEDOUT)
			return -ETIMEDOUT;
		/* woken by the multishot's end: report its error, or re-arm */
	}
}

/* The owner's rg_accept(fd) was cancelled before it started (io/io.c):
 * stop accepting ahead, as a cancel that finds the owner waiting does
 * (owner_accept), and wait for the multishot's end so that nothing more
 * is accepted once the call has returned.  What is queued stays for the
 * next call. */
void rg__accept_cancelled(int fd)
{
	int k = atomic_load_explicit(&g_key, memory_order_acquire);
	struct tacc *ta = k >= 0 ? rg_tls_get(k) : NULL;
	struct acc *a = ta ? ta->list : NULL;
	while (a && a->fd != fd)
		a = a->tnext;
	if (!a || atomic_load_explicit(&a->dead, memory_order_acquire))
		return;
	rg__task *t = rg__self();
	rg__io_hop(a->home);
	stop(a);
	while (a->armed)
		wait_cqe(a, t);
}

int64_t rg__accept_exec(rg__io_req *q, int64_t deadline, bool nb)
{
	if (q->buf)
		return rg__uring_exec(q, deadline, nb);
	struct tacc *ta = tacc_get();
	if (!ta)
		return rg__uring_exec(q, deadline, nb);
	rg__task *t = rg__self();
	int64_t id = rg__task_id(t);
	int fd = q->fd;
	bool again = ta->last_fd == fd;
	ta->last_fd = fd;
	struct acc *a = ta->list;
	while (a && a->fd != fd)
		a = a->tnext;
	if (a && atomic_load_explicit(&a->dead, memory_order_acquire)) {
		list_del(ta, a); /* closed (rg_close) or stale */
		unref(a);
		a = NULL;
	}
	if (!a) {
		if (!again || nb || !(a = acc_new(fd, id))) {
			note_other(fd, id);
			return rg__uring_exec(q, deadline, nb);
		}
		a->tnext = ta->list;
		ta->list = a;
	}
	int64_t r = owner_accept(a, ta, t, deadline, nb);
	return r == FALLBACK ? rg__uring_exec(q, deadline, nb) : r;
}

/* ---- single-shot accepts and rg_close ---------------------------------------
 *
 * A single-shot accept (a task's first rg_accept on a listener, one with an
 * address, or any once the listener is shared) is an IORING_OP_ACCEPT on the
 * caller's P.  The kernel holds the listening file while the op waits, and
 * close(2) of the number does not end it: the accepter slept out its
 * deadline, and the listener went on completing handshakes after rg_close
 * had returned (tests/io/test_accept_close_single.c).  Go's Listener.Close
 * ends every Accept, the epoll backend ends them -EBADF (io/epoll.c), and so
 * does the acceptor above for its owner.  So each such accept lists itself,
 * by fd, and rg_close(fd) ends the listed ones:
 *
 *   - the accepter lists itself (rg__accept_single_enter) before anything
 *     of its call, records its op under the lock just before its SQE is
 *     prepared (rg__accept_single_arm: no park between the two, so the SQE
 *     is in its P's SQ whenever the op is recorded), and unlists itself
 *     after its final CQE (rg__accept_single_leave);
 *   - rg_close(fd) marks every listed accept of fd closed (one not armed
 *     yet then prepares nothing and returns -EBADF), issues ASYNC_CANCEL
 *     for the armed ones on their own P's ring (it hops there; a thread
 *     without a P posts the work), and waits until each has left: a
 *     cancelled accept no longer holds the file, so once rg_close returns
 *     the port refuses connections.  The call maps the cancel's -ECANCELED
 *     to -EBADF.  One that completed first returns its connection.
 *   - A closer's look and an accept's listing race: a look that misses an
 *     accept listed just after it would let that accept's SQE reach the
 *     kernel (rg_close submits every queued SQE) before close(2), holding
 *     the file.  A Dekker pair (seq_cst) closes it: the closer publishes
 *     its fd in a free slot of the bucket (with none free, counts itself
 *     in `over`) then loads its list; the accepter stores itself in the
 *     list then loads the slots and `over`.  Either the closer sees the
 *     accept, or the accept sees a close of its fd under way and waits
 *     for it to finish (its close(2) included) before it prepares
 *     anything: its SQE then finds the number closed (-EBADF from the
 *     kernel) or naming a new file, as a call made after the close
 *     would.  A close of another fd of the bucket delays no accept,
 *     unless more than SSLOTS closes of the bucket are under way at once.
 *
 * Cost: rg_close on io_uring takes one locked instruction on its bucket's
 * line and a store (and a lock only if an accept of the bucket is
 * listed); a single-shot accept takes its bucket's lock three times. */

#define SBUCKETS 1024
#define SSLOTS 4 /* closes of a bucket published with their fd, at once */
struct sbucket {
	_Alignas(64) _Atomic int lock;
	/* The fds whose rg_close is under way here: (fd << 1 | made by a
	 * task on a P, which rg_run's end may discard mid-way), -1 when free.
	 * An accept waits only for a close of its own fd: counting every close
	 * of the bucket made a ready connection's deadline-0 accept -EAGAIN,
	 * and a short deadline -ETIMEDOUT, while other fds of the bucket were
	 * being closed (tests/io/test_accept_close_bucket_ready.c). */
	_Atomic int slot[SSLOTS];
	_Atomic int over;           /* closes with no free slot: any fd */
	_Atomic int tover;          /* of those, the ones made by tasks on a P */
	rg__sacc *_Atomic head;     /* under lock; a closer's first look without */
};
static struct sbucket g_sb[SBUCKETS];

__attribute__((constructor)) static void sb_init(void)
{
	for (int i = 0; i < SBUCKETS; i++)
		for (int k = 0; k < SSLOTS; k++)
			atomic_init(&g_sb[i].slot[k], -1);
}

/* Is a close of fd (or of an fd not published) under way in b? seq_cst:
 * the accepter's load of the Dekker pair. */
static bool closing_fd(struct sbucket *b, int fd)
{
	if (atomic_load(&b->over))
		return true;
	for (int k = 0; k < SSLOTS; k++) {
		int v = atomic_load(&b->slot[k]);
		if (v >= 0 && v >> 1 == fd)
			return true;
	}
	return false;
}

/* An rg_close waiting for the accepts it ended to leave (its stack). */
struct rg__sclose {
	_Atomic int n;   /* marked accepts still listed (bucket lock to change) */
	rg__task *t;     /* parked closer task, or NULL (bucket lock) */
	uint64_t ticket;
};

static inline struct sbucket *sbucket_of(int fd) { return &g_sb[(unsigned)fd % SBUCKETS]; }

bool rg__accept_closing(int fd) { return closing_fd(sbucket_of(fd), fd); }

static void sunlink(struct sbucket *b, rg__sacc *s) /* b locked */
{
	if (s->prev)
		s->prev->next = s->next;
	else
		atomic_store_explicit(&b->head, s->next, memory_order_relaxed);
	if (s->next)
		s->next->prev = s->prev;
}

int rg__accept_single_enter(rg__sacc *s, int fd, int64_t deadline, bool nonblock)
{
	struct sbucket *b = sbucket_of(fd);
	s->fd = fd;
	s->closed = false;
	s->cancel_sent = false;
	s->op = NULL;
	s->closer = NULL;
	s->prev = NULL;
	slock(&b->lock);
	s->next = atomic_load_explicit(&b->head, memory_order_relaxed);
	if (s->next)
		s->next->prev = s;
	atomic_store(&b->head, s); /* seq_cst: the Dekker pair's store */
	sunlock(&b->lock);
	if (!closing_fd(b, fd))
		return 0;
	/* A close of fd is under way: it saw us (and marks us), or it did not
	 * and we wait out its close(2). */
	for (;;) {
		slock(&b->lock);
		bool closed = s->closed;
		sunlock(&b->lock);
		if (closed) {
			rg__accept_single_leave(s);
			return -EBADF;
		}
		if (!closing_fd(b, fd))
			return 0;
		if (deadline >= 0 && rg_now() >= deadline) {
			rg__accept_single_leave(s);
			return nonblock ? -EAGAIN : -ETIMEDOUT;
		}
		rg_sleep(20 * 1000);
	}
}

bool rg__accept_single_arm(rg__sacc *s, rg__io_op *op)
{
	struct sbucket *b = sbucket_of(s->fd);
	slock(&b->lock);
	bool ok = !s->closed;
	if (ok)
		s->op = op;
	sunlock(&b->lock);
	return ok;
}

bool rg__accept_single_leave(rg__sacc *s)
{
	struct sbucket *b = sbucket_of(s->fd);
	rg__task *wake = NULL;
	slock(&b->lock);
	sunlink(b, s);
	struct rg__sclose *c = s->closer;
	if (c && atomic_fetch_sub_explicit(&c->n, 1, memory_order_relaxed) == 1 && c->t) {
		wake = c->t; /* published under this lock: claim here, ready after */
		c->t = NULL;
		if (!rg__claim(wake, c->ticket))
			wake = NULL;
	}
	bool closed = s->closed;
	sunlock(&b->lock);
	if (wake)
		rg__ready(wake);
	return closed;
}

/* On P p's thread: ASYNC_CANCEL for fd's marked accepts armed on p. */
static void single_cancel_here(int fd)
{
	rg__p *p = rg__getp();
	struct sbucket *b = sbucket_of(fd);
	bool any = false;
	slock(&b->lock);
	for (rg__sacc *s = atomic_load_explicit(&b->head, memory_order_relaxed); s; s = s->next) {
		if (s->fd != fd || !s->closed || !s->op || s->cancel_sent || s->op->p != p || !s->op->pending)
			continue;
		/* op->pending is this thread's: the op is still in flight */
		s->cancel_sent = true;
		struct io_uring_sqe *sqe = rg__p_sqe(p);
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->op->h, 0);
		io_uring_sqe_set_data(sqe, NULL);
		any = true;
	}
	sunlock(&b->lock);
	if (any)
		rg__p_submit(p);
}

static void single_cancel_post(void *arg) { single_cancel_here((int)(intptr_t)arg); }

/* Is an accept of fd that an rg_close ended still listed? */
static bool marked_listed(struct sbucket *b, int fd)
{
	bool any = false;
	slock(&b->lock);
	for (rg__sacc *s = atomic_load_explicit(&b->head, memory_order_relaxed); s && !any; s = s->next)
		any = s->fd == fd && s->closed;
	sunlock(&b->lock);
	return any;
}

static bool closer_unpark(rg__task *t, void *arg)
{
	(void)t;
	sunlock(&((struct sbucket *)arg)->lock);
	return true;
}

int rg__accept_close_single(int fd)
{
	struct sbucket *b = sbucket_of(fd);
	rg__task *self = rg__self();
	rg__p *here = rg__getp();
	bool park = self && here;
	/* publish the close (no park before it): a free slot with fd, else
	 * the count of closes of any fd */
	int tok = -1, v = fd < (1 << 30) ? fd << 1 | park : -1;
	for (int k = 0; k < SSLOTS && tok < 0 && v >= 0; k++) {
		int e = -1;
		if (atomic_load_explicit(&b->slot[k], memory_order_relaxed) == -1 &&
		    atomic_compare_exchange_strong(&b->slot[k], &e, v)) /* seq_cst: the Dekker pair's store */
			tok = k;
	}
	if (tok < 0) {
		if (park)
			atomic_fetch_add_explicit(&b->tover, 1, memory_order_relaxed);
		atomic_fetch_add(&b->over, 1); /* seq_cst: the Dekker pair's store */
		tok = SSLOTS;
	}
	tok = tok << 1 | park;
	if (!atomic_load(&b->head))
		return tok;
	/* A P's scheduler (a timer's or an in-place after-func's rg_close)
	 * cannot wait: the accepts of its own P would never run.  It cancels
	 * its own P's at once, posts the others', and returns; they still end
	 * -EBADF, only rg_close does not wait for them to let go. */
	bool wait = park || !here;
	/* off a P: counted as a canceller (rg_run's end waits for us before
	 * the tasks' stacks, where the accepts are listed, go) */
	if (!park && !rg__io_cancellers_enter())
		return tok;
	struct rg__sclose c = { .t = NULL };
	int np = rg__nprocs();
	uint64_t ps[(RG_IO_MAXP + 63) / 64] = { 0 };
	/* Accepts another rg_close of fd ended already: that one cancels them
	 * and waits; we wait for them too (polling: two closes of one fd at
	 * once are rare).  Not waiting, the second closer's close(2) released
	 * the number and it returned 0 while they still held the listener
	 * (two threads closing a listener under waiting accepts). */
	bool others = false;
	slock(&b->lock);
	for (rg__sacc *s = atomic_load_explicit(&b->head, memory_order_relaxed); s; s = s->next) {
		if (s->fd != fd)
			continue;
		if (s->closed) {
			others = true;
			continue;
		}
		s->closed = true;
		s->closer = &c;
		atomic_fetch_add_explicit(&c.n, 1, memory_order_relaxed);
		if (s->op) {
			int i = rg__p_index(s->op->p);
			ps[i / 64] |= (uint64_t)1 << (i % 64);
		}
	}
	sunlock(&b->lock);
	/* each armed one's cancel, on its own P */
	for (int i = 0; i < np && i < RG_IO_MAXP; i++) {
		if (!(ps[i / 64] >> (i % 64) & 1))
			continue;
		rg__p *p = rg__p_at(i);
		if (!p)
			continue;
		if (park) {
			rg__io_hop(p);
			single_cancel_here(fd);
		} else if (p == here) {
			single_cancel_here(fd);
		} else {
			while (rg__io_post(p, single_cancel_post, (void *)(intptr_t)fd) && !rg__run_stopping())
				sched_yield(); /* out of memory: try again */
		}
	}
	/* until every marked accept has left */
	if (park) {
		for (;;) {
			slock(&b->lock);
			if (!atomic_load_explicit(&c.n, memory_order_relaxed)) {
				sunlock(&b->lock);
				break;
			}
			c.ticket = rg__park_prepare();
			c.t = self;
			rg__park(RG__WAIT_IO, -1, closer_unpark, b);
		}
		while (others && marked_listed(b, fd))
			rg_sleep(20 * 1000);
		return tok;
	}
	while (wait && atomic_load_explicit(&c.n, memory_order_relaxed) && !rg__run_stopping())
		sched_yield();
	while (wait && others && marked_listed(b, fd) && !rg__run_stopping())
		sched_yield();
	/* not waiting, or the run stopping: who is still listed forgets us
	 * (our stack) */
	slock(&b->lock);
	for (rg__sacc *s = atomic_load_explicit(&b->head, memory_order_relaxed); s; s = s->next)
		if (s->closer == &c)
			s->closer = NULL;
	sunlock(&b->lock);
	rg__io_cancellers_leave();
	return tok;
}

void rg__accept_close_done(int fd, int tok)
{
	struct sbucket *b = sbucket_of(fd);
	int k = tok >> 1;
	if (k < SSLOTS) {
		atomic_store(&b->slot[k], -1);
		return;
	}
	atomic_fetch_sub(&b->over, 1);
	if (tok & 1)
		atomic_fetch_sub_explicit(&b->tover, 1, memory_order_relaxed);
}

/* rg_run's end: the accepts of discarded tasks are still listed, on stacks
 * about to go; and a closer task discarded mid-way (parked in its wait, a
 * hop or the SQ flush) never frees its slot (or its count in `over`),
 * which made every later accept of its fd (of its bucket) wait for good (test_accept_close_single.c). */
static void single_at_stop(void)
{
	for (int i = 0; i < SBUCKETS; i++) {
		struct sbucket *b = &g_sb[i];
		for (int k = 0; k < SSLOTS; k++) {
			int v = atomic_load_explicit(&b->slot[k], memory_order_relaxed);
			if (v >= 0 && (v & 1))
				atomic_store(&b->slot[k], -1);
		}
		int t = atomic_exchange_explicit(&b->tover, 0, memory_order_relaxed);
		if (t)
			atomic_fetch_sub(&b->over, t);
		if (!atomic_load(&b->head))
			continue;
		slock(&b->lock);
		atomic_store(&b->head, NULL);
		sunlock(&b->lock);
	}
}

__attribute__((constructor)) static void single_init(void) { rg__at_stop(single_at_stop); }
