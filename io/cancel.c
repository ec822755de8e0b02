/*
 * io/cancel.c — rg_cancel: interrupting a task's in-flight operation from
 * any thread, while only the op's own P touches its ring.
 *
 * The slot.  Each task's RG__TSLOT_IO word (used as an atomic uintptr_t)
 * holds, while the task makes an I/O call, the address of the call's
 * rg__io_op (on the task's stack, 8-byte aligned), plus three low bits:
 *   CANCEL  a cancel was asked for (with no op: for the next call);
 *   CTX     the context the call runs under ended (sync/ctx_hook.h): like
 *           CANCEL, but for this call only — every op it still publishes
 *           fails, and the call clears the bit when it returns;
 *   LOCK    someone is reading the op through the slot; the op's task may
 *           not unpublish it (and so may not return) until LOCK clears;
 *   QUEUED  a request for this op waits on its P's request stack: the task
 *           may unpublish the op but waits in its call (yielding) until
 *           the P has handled the request, which reads the task's slot.
 *           Without it the task could return, exit and be freed (a custom
 *           stack is unmapped at once) before the P got to the request:
 *           io_cancel_exit saw ~300 requests in 15,000 handled for tasks
 *           that had exited.
 * Transitions:
 *   task, begin:  0 -> op            CANCEL -> 0, CTX[|CANCEL] -> CTX
 *                                    (the call returns -ECANCELED)
 *   task, end:    op[|CANCEL][|CTX] -> 0, or -> CANCEL when the cancel was
 *                 not consumed (the op completed first: its result is kept
 *                 and the next call is cancelled instead); CTX and QUEUED
 *                 are kept; waits while LOCK, then while QUEUED.
 *   task, return: CTX -> 0 (rg__io_ctx_clear, once the watch has ended)
 *   canceller:    x -> x|CANCEL (or CTX) with no op or a request queued;
 *                 op -> op|LOCK -> op|CANCEL (or op|CTX), |QUEUED when it
 *                 pushed a request
 *   owner P:      op[|bits] -> |LOCK -> back without QUEUED (handling a
 *                 request), or x|QUEUED -> x when the op has ended
 *
 * Routing (single issuer).  The ASYNC_CANCEL SQE must go on the ring of the
 * op's P.  A canceller on that P's own thread issues it at once.  Any other
 * thread, holding LOCK (so the op cannot go away), reads op->p and op->seq,
 * pushes a small request {task, seq} on that P's lock-free request stack,
 * releases LOCK (setting CANCEL) and writes the P's cancel eventfd.  The P
 * has a read of that eventfd in its ring (on epoll: the fd in its set); its
 * handler pops every request and, for each, takes LOCK again and checks
 * that the slot still holds an op of this P with the same seq that has not
 * completed (op->pending, which only this thread writes) — the op may have
 * finished, and the task moved on to another op, meanwhile — and only then
 * issues ASYNC_CANCEL.  The op's CQE then arrives as usual (-ECANCELED) and
 * the task, woken by its final CQE, returns -ECANCELED.  So a call returns
 * only after its final CQE, cancelled or not.
 *
 * On the epoll backend nothing of the kernel's holds the task's buffers
 * while it waits for readiness: the canceller (holding LOCK) claims the
 * task's park directly (rg__epoll_cancel_op).
 */
#include <errno.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#include "io/io_int.h"

#define S_CANCEL ((uintptr_t)1)
#define S_LOCK ((uintptr_t)2)
#define S_CTX ((uintptr_t)4)
#define S_QUEUED ((uintptr_t)8)
#define S_BITS (S_CANCEL | S_LOCK | S_CTX | S_QUEUED)
_Static_assert(_Alignof(rg__io_op) >= 16, "rg__io_op's address leaves 4 low bits");

/* A request to a P: cancel task t's op seq (heap, freed by the P), or
 * (hop) ready t there (on t's parked stack: t waits until it is done), or
 * (fn) run fn(arg) there (heap, freed by the P). */
struct creq {
	struct creq *next;
	rg__task *t;
	uint32_t seq;
	bool hop;
	uint64_t ticket;
	void (*fn)(void *);
	void *arg;
};

/* Per-P io state.  head: any thread pushes, the owner pops.  efd,
 * efd_made, efd_pid: set by rg_run before the Ps start
 * (rg__io_efds_make), else by the owner before any op of this P is
 * published (which is the only way a canceller learns of this P), kept
 * open from run to run (pio_fini).  The rest: owner only. */
struct pio {
	_Alignas(64) struct creq *_Atomic head;
	int efd;
	bool efd_made;  /* efd is ours (kept from run to run: pio_fini) */
	pid_t efd_pid;  /* the process that made it */
	rg__p *p;
	uint32_t seq;
	bool ready;
	uint64_t efd_buf;
	rg__cqe_handler h;
};
static struct pio g_pio[RG_IO_MAXP];

/* Cancel requests when the heap has no room for one: a cancel is never
 * dropped (a Context's end has nobody to tell).  Each is queued on one P
 * and freed by that P's next drain, so they come back within a P's turn;
 * a canceller that finds all SPARES out waits for one.  A canceller on a
 * P's thread drains its own P meanwhile: the spares may all be queued
 * there, and its P does not drain while it waits (io_cancel_oom_own_p:
 * it waited for ever). */
#define SPARES 64
static struct creq g_spare[SPARES];
static _Atomic uint64_t g_spare_used;

static void drain(struct pio *pio);
static inline bool pio_live(const struct pio *pio, const rg__p *p);

static struct creq *creq_new(void)
{
	struct creq *r = rg__malloc(sizeof *r);
	if (r)
		return r;
	uint64_t u = atomic_load_explicit(&g_spare_used, memory_order_relaxed);
	for (;;) {
		if (~u) {
			int i = __builtin_ctzll(~u);
			if (atomic_compare_exchange_weak_explicit(&g_spare_used, &u, u | (uint64_t)1 << i,
			                                          memory_order_acquire, memory_order_relaxed))
				return &g_spare[i];
			continue;
		}
		rg__p *p = rg__getp();
		if (p && pio_live(&g_pio[rg__p_index(p)], p))
			drain(&g_pio[rg__p_index(p)]);
		else
			sched_yield();
		u = atomic_load_explicit(&g_spare_used, memory_order_relaxed);
	}
}

static void creq_free(struct creq *r)
{
	if (r >= g_spare && r < g_spare + SPARES)
		atomic_fetch_and_explicit(&g_spare_used, ~((uint64_t)1 << (r - g_spare)), memory_order_release);
	else
		rg__free(r);
}

/* Cancellers (rg_cancel, a Context's end, rg_close of a listener from a
 * thread that cannot park: accept.c) at work.  A thread outside the
 * runtime may cancel while rg_run ends: once the run is stopping, a
 * canceller backs off; each P's pio_fini waits out those that came in
 * before, so none reads an acceptor (freed there), and so does a stop hook
 * (a run in which no P made an I/O call has no pio_fini), before rg_run
 * frees the P records and unmaps the tasks' slots.  seq_cst on both sides
 * (Dekker): a canceller that saw `stopping` clear is counted before the
 * waits look.  (The reviews' reproducers: heap-use-after-free in
 * cancel_mark on an acceptor, on epoll a SEGV on an unmapped slot,
 * tests/io/test_shutdown_cancel.c; with no I/O in the run, a SEGV in
 * cancel_mark when the canceller stalled after its pin.) */
static _Atomic int g_cancellers;

bool rg__io_cancellers_enter(void)
{
	atomic_fetch_add(&g_cancellers, 1);
	if (!rg__run_stopping())
		return true;
	atomic_fetch_sub(&g_cancellers, 1);
	return false;
}

void rg__io_cancellers_leave(void) { atomic_fetch_sub(&g_cancellers, 1); }

static void cancellers_wait(void)
{
	while (atomic_load(&g_cancellers)) /* the run is stopping: no new ones */
		sched_yield();
}

__attribute__((constructor)) static void cancel_init(void) { rg__at_stop(cancellers_wait); }

/* p's io state is set up, and for this run (a pio outlives its P) */
static inline bool pio_live(const struct pio *pio, const rg__p *p) { return pio->ready && pio->p == p; }

static inline _Atomic uintptr_t *slotp(rg__task *t)
{
	return (_Atomic uintptr_t *)rg__task_slot(t, RG__TSLOT_IO);
}

static inline void relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#endif
}

/* ---- per-P request stack and its eventfd ---------------------------------- */

static void handle(struct pio *pio, struct creq *r)
{
	/* QUEUED keeps the task in its call until we clear it below */
	if (rg__task_state(r->t) == RG__DEAD)
		rg__fatal("io: a cancel request outlived its task %p", (void *)r->t);
	_Atomic uintptr_t *s = slotp(r->t);
	uintptr_t v;
	for (;;) {
		v = atomic_load_explicit(s, memory_order_acquire);
		if (v & S_LOCK) {
			relax();
			continue;
		}
		if (!(v & ~S_BITS)) { /* the op ended: let its task go */
			if (atomic_compare_exchange_weak_explicit(s, &v, v & ~S_QUEUED, memory_order_release,
			                                          memory_order_relaxed))
				return;
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(s, &v, v | S_LOCK, memory_order_acquire,
		                                          memory_order_relaxed))
			break;
	}
	rg__io_op *op = (rg__io_op *)(v & ~S_BITS);
	if (op->p == pio->p && op->seq == r->seq) {
		if (rg__io_use_epoll || op->direct)
			rg__epoll_cancel_op(op);
		else
			rg__uring_cancel_op(op);
	}
	atomic_store_explicit(s, v & ~S_QUEUED, memory_order_release);
}

static void efd_arm(struct pio *pio);

static void push(struct pio *pio, struct creq *req)
{
	req->next = atomic_load_explicit(&pio->head, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&pio->head, &req->next, req, memory_order_release,
	                                              memory_order_relaxed))
		;
}

static void drain(struct pio *pio)
{
	struct creq *r = atomic_exchange_explicit(&pio->head, NULL, memory_order_acquire);
	while (r) {
		struct creq *next = r->next;
		if (r->hop) {
			rg__wake(r->t, r->ticket); /* r is dead from here */
		} else if (r->fn) {
			r->fn(r->arg);
			rg__free(r);
		} else {
			handle(pio, r);
			creq_free(r);
		}
		r = next;
	}
}

static void efd_cqe(rg__cqe_handler *h, int res, unsigned flags)
{
	struct pio *pio = (struct pio *)((char *)h - offsetof(struct pio, h));
	if (!pio->ready)
		return;
	drain(pio);
	if (res != -ECANCELED)
		efd_arm(pio);
}

static void efd_arm(struct pio *pio)
{
	struct io_uring_sqe *sqe = rg__p_sqe(pio->p);
	io_uring_prep_read(sqe, pio->efd, &pio->efd_buf, sizeof pio->efd_buf, 0);
	io_uring_sqe_set_data(sqe, &pio->h);
}

static void pio_fini(void *arg)
{
	struct pio *pio = arg;
	cancellers_wait();
	drain(pio);
	if (!rg__io_use_epoll)
		rg__accept_p_fini(pio->p);
	pio->ready = false;
	/* The eventfd stays open for the next run: a thread outside the
	 * runtime that saw this P ready (rg_cancel) may still write to it,
	 * and closed, its number could by then name somebody else's file.
	 * One per P index, at most RG_IO_MAXP, for the process's life. */
}

/* rg_run, on the io_uring backend, before any P starts: the eventfd of
 * each of its n Ps, where one is not already ours.  Made here and not at
 * the P's first I/O call (rg__io_p_init), because that call may come when
 * the program has used up RLIMIT_NOFILE (a server that accepted until
 * EMFILE, a P that had run no I/O yet) and it cannot fail: the process
 * aborted ("io: eventfd: out of file descriptors",
 * tests/io/test_emfile.c).  Here a failure is rg_run's -errno. */
int rg__io_efds_make(int n)
{
	for (int i = 0; i < n && i < RG_IO_MAXP; i++) {
		struct pio *pio = &g_pio[i];
		if (pio->efd_made && pio->efd_pid == getpid())
			continue;
		int fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		pio->efd = fd;
		pio->efd_pid = getpid();
		pio->efd_made = true;
	}
	return 0;
}

void rg__io_p_init(rg__p *p)
{
	int i = rg__p_index(p);
	if (i >= RG_IO_MAXP)
		rg__fatal("io: more than %d Ps", RG_IO_MAXP);
	struct pio *pio = &g_pio[i];
	/* requests a foreign thread pushed after the last run's final drain
	 * name tasks of that run: drop them (leaked, a few bytes each) */
	atomic_store_explicit(&pio->head, NULL, memory_order_relaxed);
	pio->p = p;
	pio->h.fn = efd_cqe;
	if (!rg__io_use_epoll) { /* epoll: cancels wake the task directly */
		/* a previous run's (pio_fini): its count, if any, only makes
		 * the first read complete at once */
		/* A child forked after a run inherits the number, which names
		 * its parent's eventfd: both processes' Ps read it then, and a
		 * request's write woke whichever read first (the child's
		 * cancels were lost: tests/io/test_life_fork_efd.c).  Not
		 * closed: the child may have closed it and reused the number
		 * (its own, then; and it no longer names ours either way). */
		/* made by rg_run (rg__io_efds_make): this is a fallback */
		if (!pio->efd_made || pio->efd_pid != getpid()) {
			pio->efd_pid = getpid();
			pio->efd = eventfd(0, EFD_CLOEXEC);
			if (pio->efd < 0)
				rg__fatal("io: eventfd: out of file descriptors");
			pio->efd_made = true;
		}
		efd_arm(pio);
	}
	pio->ready = true;
	rg__p_slot_set(p, RG__SLOT_IO, pio, pio_fini);
}

void rg__io_p_init_once(rg__p *p)
{
	struct pio *pio = &g_pio[rg__p_index(p)];
	if (!pio_live(pio, p))
		rg__io_p_init(p);
}

/* ---- the task's side -------------------------------------------------------- */

uint32_t rg__io_next_seq(void)
{
	return ++g_pio[rg__p_index(rg__getp())].seq;
}

int rg__io_op_begin(rg__task *t, rg__io_op *op)
{
	rg__p *p = op->p;
	struct pio *pio = &g_pio[rg__p_index(p)];
	if (__builtin_expect(!pio_live(pio, p), 0))
		rg__io_p_init(p);
	op->seq = ++pio->seq;
	_Atomic uintptr_t *s = slotp(t);
	uintptr_t v = 0;
	for (;;) {
		if (atomic_compare_exchange_weak_explicit(s, &v, (uintptr_t)op, memory_order_release,
		                                          memory_order_relaxed))
			return 0;
		if (v & S_CTX) { /* the call's context ended: a pending cancel is this one */
			if (atomic_compare_exchange_weak_explicit(s, &v, S_CTX, memory_order_relaxed,
			                                          memory_order_relaxed))
				return -ECANCELED;
			continue;
		}
		if (v == S_CANCEL) {
			if (atomic_compare_exchange_weak_explicit(s, &v, 0, memory_order_relaxed,
			                                          memory_order_relaxed))
				return -ECANCELED;
			continue;
		}
		if (v != 0)
			rg__fatal("io: task %lld starts an I/O call inside another", (long long)rg__task_id(t));
	}
}

/* The park's unlock callback (on the P, once the task's context is saved):
 * publish the op.  A canceller that wakes the task directly (epoll,
 * streams) must not find the op before then, or it would ready a task
 * still running.  After a successful publish the task may run elsewhere:
 * touch nothing. */
static bool publish_cb(rg__task *t, void *arg)
{
	rg__io_op *op = arg;
	int r = rg__io_op_begin(t, op);
	if (r) {
		op->res = r; /* not published: nobody else can wake t */
		return false;
	}
	return true;
}

int rg__io_park_op(rg__task *t, rg__io_op *op, int64_t deadline)
{
	rg__io_p_init_once(op->p);
	op->res = 0;
	int pr = rg__park(RG__WAIT_IO, deadline, publish_cb, op);
	(void)t;
	return op->res ? op->res : pr;
}

int rg__io_take_cancel(rg__task *t)
{
	_Atomic uintptr_t *s = slotp(t);
	/* CANCEL with no op in flight, alone or beside the call's CTX: the
	 * multishot accept, ended by both an rg_cancel and its Context,
	 * consumes the CANCEL here (CTX is run()'s to clear).  Taken only
	 * when alone, it stayed and ended the task's next call too. */
	uintptr_t v = atomic_load_explicit(s, memory_order_relaxed);
	while ((v & ~S_CTX) == S_CANCEL)
		if (atomic_compare_exchange_weak_explicit(s, &v, v & ~S_CANCEL, memory_order_relaxed,
		                                          memory_order_relaxed))
			return -ECANCELED;
	return 0;
}

/* The op has ended, but a request for it still waits on its P, and will
 * read this task's slot: stay (yielding: the P may be this one) until it
 * has.  A yield may move the task to another P; the caller may be on its
 * op's home P for what follows (accept.c's queue, an SQE), so come back --
 * but only to a P with io state: a task woken on a P that never made an
 * I/O call (taken from the global queue) has nothing of io/ to find there,
 * and rg__io_hop cannot go to such a P. */
__attribute__((noinline, cold)) static void wait_unqueued(_Atomic uintptr_t *s)
{
	bool parkable = rg__self_parkable() != NULL;
	rg__p *home = parkable ? rg__getp() : NULL;
	if (home && !pio_live(&g_pio[rg__p_index(home)], home))
		home = NULL;
	while (atomic_load_explicit(s, memory_order_acquire) & S_QUEUED) {
		if (parkable)
			rg_yield();
		else
			sched_yield();
	}
	if (home)
		rg__io_hop(home);
}

bool rg__io_op_end(rg__task *t, rg__io_op *op, bool consumed)
{
	_Atomic uintptr_t *s = slotp(t);
	for (;;) {
		uintptr_t v = atomic_load_explicit(s, memory_order_acquire);
		if (v & S_LOCK) {
			relax();
			continue;
		}
		uintptr_t nv = ((v & S_CANCEL) && !consumed ? S_CANCEL : 0) | (v & (S_CTX | S_QUEUED));
		if (atomic_compare_exchange_weak_explicit(s, &v, nv, memory_order_acq_rel, memory_order_relaxed)) {
			if (__builtin_expect(nv & S_QUEUED, 0))
				wait_unqueued(s);
			return (v & (S_CANCEL | S_CTX)) != 0;
		}
	}
}

/* ---- the canceller's side ------------------------------------------------------ */

/* Mark t's slot with `mark` (S_CANCEL or S_CTX) and cancel the op in
 * flight, if any. */
static void cancel_mark(rg__task *t, uintptr_t mark)
{
	_Atomic uintptr_t *s = slotp(t);
	struct creq *req = NULL;
	for (;;) {
		uintptr_t v = atomic_load_explicit(s, memory_order_acquire);
		if (v & mark)
			break; /* already asked */
		if (v & S_LOCK) {
			relax();
			continue;
		}
		if (!(v & ~S_BITS) || (v & S_QUEUED)) {
			/* no op in flight, or a request for it is queued already
			 * (it cancels the op; the task waits for it) */
			if (atomic_compare_exchange_weak_explicit(s, &v, v | mark, memory_order_release,
			                                          memory_order_relaxed))
				break;
			continue;
		}
		if (!req)
			req = creq_new();
		if (!atomic_compare_exchange_weak_explicit(s, &v, v | S_LOCK, memory_order_acquire,
		                                           memory_order_relaxed))
			continue;
		rg__io_op *op = (rg__io_op *)(v & ~S_BITS);
		rg__p *p = op->p;
		if (rg__io_use_epoll || op->direct) {
			rg__epoll_cancel_op(op);
		} else if (p == rg__getp()) {
			rg__uring_cancel_op(op);
		} else if (!g_pio[rg__p_index(p)].ready) {
			/* that P is stopping: nothing will read a request (the
			 * runtime abandons its tasks) */
		} else {
			struct pio *pio = &g_pio[rg__p_index(p)];
			req->t = t;
			req->seq = op->seq;
			req->hop = false;
			req->fn = NULL;
			push(pio, req);
			int efd = pio->efd;
			atomic_store_explicit(s, v | mark | S_QUEUED, memory_order_release);
			uint64_t one = 1;
			ssize_t n = write(efd, &one, sizeof one);
			(void)n;
			return;
		}
		atomic_store_explicit(s, v | mark, memory_order_release);
		break;
	}
	if (req)
		creq_free(req);
}

/* ---- the bound Context (sync/ctx_hook.h) ---------------------------------------
 *
 * An I/O call made under a context that can end registers a watch for the
 * whole call (io/io.c: run, and rg_stream_recv).  When the context ends,
 * the canceller runs rg__io_ctx_fire(t): the op in flight is cancelled as
 * by rg_cancel (routed to its P, final CQE awaited by the task), but with
 * the CTX bit, which fails any op the call publishes later (the epoll
 * backend's next readiness wait) and never outlives the call:
 * rg__io_ctx_clear drops it once rg__ctx_watch_end has said the watch
 * fired (it returns only after rg__io_ctx_fire returned, so no CTX can be
 * set after the clear). */
void rg__io_ctx_fire(void *task)
{
	if (!rg__io_cancellers_enter())
		return;
	cancel_mark(task, S_CTX);
	rg__io_cancellers_leave();
}

void rg__io_ctx_clear(rg__task *t)
{
	atomic_fetch_and_explicit(slotp(t), ~S_CTX, memory_order_relaxed);
}

int rg_cancel(int64_t id)
{
	if (id <= 0 || !rg__nprocs())
		return -ESRCH;
	if (!rg__io_cancellers_enter())
		return -ESRCH; /* the run is ending: its tasks are discarded */
	rg__task *t = rg__task_pin(id);
	if (t) {
		cancel_mark(t, S_CANCEL);
		rg__task_unpin(t);
	}
	rg__io_cancellers_leave();
	return t ? 0 : -ESRCH;
}

int rg__io_post(rg__p *target, void (*fn)(void *), void *arg)
{
	struct creq *req = rg__calloc(1, sizeof *req);
	if (!req)
		return -ENOMEM;
	req->fn = fn;
	req->arg = arg;
	struct pio *pio = &g_pio[rg__p_index(target)];
	int efd = pio->efd;
	push(pio, req);
	uint64_t one = 1;
	ssize_t n = write(efd, &one, sizeof one);
	(void)n;
	return 0;
}

/* ---- hopping to a P (io_uring backend) ---------------------------------------
 *
 * Some state may only be touched on one P's thread (its ring's buffer
 * groups, an SQE for it).  A task that finds itself elsewhere parks with an
 * unlock callback that, once its context is saved, pushes a hop request
 * (on its own stack) to the target P and kicks its eventfd; the target
 * readies it into its own runnext.  It may be stolen again before it runs:
 * callers loop until rg__getp() is the target. */
static bool hop_post(rg__task *t, void *arg)
{
	struct creq *req = arg;
	struct pio *pio = &g_pio[req->seq];
	int efd = pio->efd;
	push(pio, req);
	uint64_t one = 1;
	ssize_t n = write(efd, &one, sizeof one);
	(void)n;
	return true;
}

void rg__io_hop(rg__p *target)
{
	while (rg__getp() != target) {
		struct pio *pio = &g_pio[rg__p_index(target)];
		if (!pio_live(pio, target))
			rg__fatal("io: hop to a P without io state");
		struct creq req = { .t = rg__self(), .seq = (uint32_t)rg__p_index(target), .hop = true };
		req.ticket = rg__park_prepare();
		rg__park(RG__WAIT_IO, -1, hop_post, &req);
	}
}
