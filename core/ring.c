/*
 * core/ring.c — each P's io_uring: set-up and probing, the poll step of the
 * scheduler loop, CQE dispatch, and waking a P that sleeps in its ring.
 *
 * Set-up flags, best first: SINGLE_ISSUER|DEFER_TASKRUN (6.1+: completions
 * run only when the owner enters the ring, no IPIs), then COOP_TASKRUN
 * (5.19+), then none.  SQPOLL only when rg_config.sqpoll asks.  The ring is
 * created on the P's own thread after it is pinned, so its memory comes
 * from the P's NUMA node, and that thread is its only submitter.
 *
 * Wakes: from another P, an IORING_OP_MSG_RING on the waker's own ring
 * (CQE_SKIP_SUCCESS: the waker sees nothing); from any other thread, or
 * where MSG_RING is missing, a write to the P's eventfd, which has a read
 * permanently armed in the ring.  Either way the sleeper gets a CQE, so a
 * wake sent before it enters the ring is not lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/sched_int.h"

#ifndef RG_NO_URING
#include <liburing.h>

static unsigned g_setup_flags;
static bool g_msg_ring;

unsigned rg__ring_setup_flags(void) { return g_setup_flags; }

struct io_uring *rg__p_ring(rg__p *p) { return p->ring; }

/* sq_queued: the SQ tail (liburing's sqe_tail) just after the owner's
 * latest SQE, published (release) for rg__ring_flush_all on other
 * threads.  The kernel moves the SQ head past an SQE when it takes it (in
 * the owner's io_uring_enter, or SQPOLL's thread), file reference and
 * all; so a head that has reached sq_queued says that everything queued
 * before is in the kernel -- also while the enter that took it still
 * sleeps waiting for completions.  One plain store per SQE, on the P's
 * own line. */
static inline void sq_mark(rg__p *p)
{
	atomic_store_explicit(&p->sq_queued, ((struct io_uring *)p->ring)->sq.sqe_tail, memory_order_release);
}

struct io_uring_sqe *rg__p_sqe(rg__p *p)
{
	struct io_uring *r = p->ring;
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	while (!sqe) {
		io_uring_submit(r);
		if (r->flags & IORING_SETUP_SQPOLL)
			io_uring_sqring_wait(r);
		sqe = io_uring_get_sqe(r);
	}
	sq_mark(p);
	return sqe;
}

int rg__p_submit(rg__p *p) { return io_uring_submit(p->ring); }

static void flush_all(rg__p **allp, bool parkable)
{
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p = allp[i];
		struct io_uring *r = p ? p->ring : NULL;
		if (!r)
			continue;
		uint32_t want = atomic_load_explicit(&p->sq_queued, memory_order_acquire);
		for (int k = 0;; k++) {
			/* stopping: what is queued will never go in (the runtime
			 * abandons its tasks), and the rings go soon */
			if (atomic_load_explicit(&rg__sched.stopping, memory_order_acquire))
				return;
			if ((int32_t)(io_uring_smp_load_acquire(r->sq.khead) - want) >= 0)
				break;
			if (rg__getp() == p) { /* ours (or a yield brought us there) */
				io_uring_submit(r);
				continue;
			}
			if (!parkable)
				sched_yield();
			else if (k < 64)
				rg_yield();
			else
				rg_sleep(20000);
		}
	}
}

void rg__ring_flush_all(void)
{
	if (rg__getp()) {
		/* a P's thread: rg_run frees the Ps and their rings only after
		 * joining every P thread, so they outlive this call */
		flush_all(rg__sched.allp, rg__self_parkable() != NULL);
		return;
	}
	/* Another thread (a foreign one, or a task inside rg_blocking):
	 * the Ps are seen through flush_allp, published by rg_run once every
	 * P has set up its ring and withdrawn before it frees them; counted
	 * in flushers, which rg_run waits out after the withdrawal (Dekker:
	 * both seq_cst).  Outside rg_run, NULL: no Ps, no queued SQEs. */
	atomic_fetch_add(&rg__sched.flushers, 1);
	rg__p **allp = atomic_load(&rg__sched.flush_allp);
	if (allp && !atomic_load(&rg__sched.stopping))
		flush_all(allp, false);
	atomic_fetch_sub(&rg__sched.flushers, 1);
}

static void efd_arm(rg__p *p);

static void efd_done(rg__cqe_handler *h, int res, unsigned flags)
{
	rg__p *p = (rg__p *)((char *)h - offsetof(rg__p, efd_handler));
	if (!atomic_load(&rg__sched.stopping) || res != -ECANCELED)
		efd_arm(p);
}

static void efd_arm(rg__p *p)
{
	struct io_uring_sqe *sqe = rg__p_sqe(p);
	io_uring_prep_read(sqe, p->efd, &p->efd_buf, sizeof p->efd_buf, 0);
	io_uring_sqe_set_data(sqe, &p->efd_handler);
}

/* Why io_uring cannot be used, for rg_run's one line.  0 if it can. */
int rg__uring_probe(char *why, size_t n)
{
	struct io_uring r;
	int ret = io_uring_queue_init(4, &r, 0);
	if (ret == 0) {
		io_uring_queue_exit(&r);
		return 0;
	}
	int disabled = -1;
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = -1;
		fclose(f);
	}
	if (disabled > 0)
		snprintf(why, n, "io_uring is disabled (kernel.io_uring_disabled=%d): io_uring_setup: %s",
		         disabled, strerror(-ret));
	else if (ret == -EPERM)
		snprintf(why, n, "io_uring_setup was refused (EPERM: a seccomp filter or container policy?)");
	else if (ret == -ENOSYS)
		snprintf(why, n, "io_uring_setup is not available (ENOSYS: kernel without io_uring, or filtered)");
	else
		snprintf(why, n, "io_uring_setup failed: %s", strerror(-ret));
	return ret;
}

static int uring_init(rg__p *p)
{
	struct io_uring *r = rg__aligned_alloc(64, sizeof *r);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof *r);
	unsigned entries = rg__sched.ring_entries ? rg__sched.ring_entries : 256;
	/* an op and its LINK_TIMEOUT must fit in together (io/uring.c makes
	 * room for both before writing either): a 1-entry SQ never has room
	 * for 2, and a call with a deadline spun there for ever */
	if (entries < 2)
		entries = 2;
	const unsigned base = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
	/* TASKRUN_FLAG: the kernel raises IORING_SQ_TASKRUN when completions
	 * wait to be run, so a non-blocking poll enters only when it must */
	const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	int ret = -EINVAL;
	unsigned used = 0;
	for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
		struct io_uring_params prm;
		memset(&prm, 0, sizeof prm);
		prm.flags = base | tries[i];
		if (rg__sched.sqpoll) {
			/* SQPOLL excludes DEFER_TASKRUN */
			prm.flags = base | IORING_SETUP_SQPOLL |
			            (tries[i] & ~(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER));
			prm.sq_thread_idle = 50;
		}
		ret = io_uring_queue_init_params(entries, r, &prm);
		if (ret == 0) {
			used = prm.flags;
			break;
		}
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0) {
		rg__free(r);
		return ret;
	}
	io_uring_register_ring_fd(r); /* optional: saves an fd lookup per enter */
	p->ring = r;
	if (p->id == 0) { /* read by others after the start barrier */
		g_setup_flags = used;
		struct io_uring_probe *pr = io_uring_get_probe_ring(r);
		g_msg_ring = pr && io_uring_opcode_supported(pr, IORING_OP_MSG_RING);
		if (pr)
			io_uring_free_probe(pr);
	}
	p->efd = eventfd(0, EFD_CLOEXEC);
	if (p->efd < 0) {
		ret = -errno;
		io_uring_queue_exit(r);
		rg__free(r);
		p->ring = NULL;
		return ret;
	}
	p->efd_handler.fn = efd_done;
	efd_arm(p);
	io_uring_submit(r);
	return 0;
}

/* io/ frees what the kernel could write into until the ring is gone
 * (provided-buffer pools); weak so that core links without io/. */
void rg__io_ring_gone(rg__p *p) __attribute__((weak));

static void uring_fini(rg__p *p)
{
	if (p->ring) {
		io_uring_queue_exit(p->ring);
		rg__free(p->ring);
		p->ring = NULL;
		if (rg__io_ring_gone)
			rg__io_ring_gone(p);
	}
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -1;
}

static int reap(rg__p *p)
{
	struct io_uring *r = p->ring;
	int total = 0;
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(r, head, cqe) {
			n++;
			rg__cqe_handler *h = (rg__cqe_handler *)(uintptr_t)cqe->user_data;
			if (h)
				h->fn(h, cqe->res, cqe->flags);
		}
		if (!n)
			return total;
		io_uring_cq_advance(r, n);
		total += (int)n;
	}
}

static int uring_poll(rg__p *p, int64_t timeout_ns)
{
	struct io_uring *r = p->ring;
	if (timeout_ns == 0) {
		/* enter only with SQEs to submit, completions to run (TASKRUN)
		 * or an overflowed CQ; DEFER_TASKRUN without TASKRUN_FLAG
		 * cannot tell, so it always enters */
		unsigned sqf = IO_URING_READ_ONCE(*r->sq.kflags);
		if (io_uring_sq_ready(r) || (sqf & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) ||
		    (r->flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG)) ==
		            IORING_SETUP_DEFER_TASKRUN)
			io_uring_submit_and_get_events(r);
		return reap(p);
	}
	int n = reap(p);
	if (n)
		return n;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
	atomic_store(&p->sleeping, 1);
	io_uring_submit_and_wait_timeout(r, &cqe, 1, timeout_ns > 0 ? &ts : NULL, NULL);
	atomic_store(&p->sleeping, 0);
	return reap(p);
}

/* The poll of a P that will sleep next if it finds nothing: with only
 * SQEs to submit it leaves them queued, so that the sleep's
 * io_uring_enter submits them and waits in one call (two per request on
 * an idle server otherwise: strace showed enter(1 SQE) then enter(wait)). */
static int uring_peek(rg__p *p)
{
	struct io_uring *r = p->ring;
	unsigned sqf = IO_URING_READ_ONCE(*r->sq.kflags);
	if ((sqf & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) ||
	    (r->flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG)) ==
	            IORING_SETUP_DEFER_TASKRUN)
		return uring_poll(p, 0);
	int n = reap(p);
	if (n && io_uring_sq_ready(r)) /* not sleeping after all: send them now */
		io_uring_submit(r);
	return n;
}

static void uring_wake(rg__p *target)
{
	rg__m *m = rg__m_get();
	/* A P that readies a task while reaping in its own idle poll finds
	 * itself on the idle list: it is awake, so no message (it would cost
	 * a submit now and a CQE later). */
	if (m && m->p == target)
		return;
	if (g_msg_ring && m && m->p && m->p->ring && target->ring) {
		struct io_uring_sqe *sqe = rg__p_sqe(m->p);
		io_uring_prep_msg_ring(sqe, ((struct io_uring *)target->ring)->ring_fd, 0, 0, 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data(sqe, NULL);
		io_uring_submit(m->p->ring);
		return;
	}
	rg__waiter_eventfd_wake(target);
}

const rg__waiter_ops rg__waiter_uring = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.poll = uring_poll,
	.peek = uring_peek,
	.wake = uring_wake,
};
#endif /* !RG_NO_URING */

void rg__waiter_eventfd_wake(rg__p *p)
{
	uint64_t one = 1;
	if (p->efd >= 0) {
		ssize_t r = write(p->efd, &one, sizeof one);
		(void)r;
	}
}
