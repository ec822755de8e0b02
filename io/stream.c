/*
 * io/stream.c — rg_stream: multishot recv into a per-P provided-buffer ring
 * (the server fast path).
 *
 * The pool.  Each P has one buffer ring (liburing 2.3 lacks
 * io_uring_setup_buf_ring: we allocate the page-aligned ring and register
 * it with io_uring_register_buf_ring), nbufs buffers of bsz bytes
 * (RINGO_BUFRING=NxSIZE, default 1024x16384), made when the first stream is
 * opened on that P.  All the streams of the P share it: an idle connection
 * holds no buffer, as in Go's or tokio's servers a pending read holds none.
 *
 * A stream is one socket with one IORING_OP_RECV multishot (BUFFER_SELECT
 * from the P's group) armed on its home P.  Every CQE carries one filled
 * buffer; the handler (on the home P) queues it on the stream (a list
 * threaded through the pool's per-buffer `next`) and wakes the task waiting
 * in rg_stream_recv.  The multishot ends (a CQE without F_MORE) at end of
 * stream (res 0), on an error, or with -ENOBUFS when the pool ran dry: the
 * stream is then re-armed by its next rg_stream_recv, once the pool has a
 * buffer again (streams starved of buffers wait on the pool's list; each
 * buffer given back re-arms one of them).
 *
 * Ownership.  Everything here — the pool, the buffer ring's tail, every
 * stream's fields — is touched only on the home P's thread: the CQE
 * handler runs there, and the task's calls first hop there (rg__io_hop:
 * usually a no-op, since the handler readies the task on the home P).  A
 * task runs without preemption until it parks, so no lock is needed.
 *
 * Deadlines use core's park deadline (no kernel op holds the task's stack:
 * the kernel writes only into pool buffers).  rg_cancel claims the park
 * directly (the op is published with direct = true).  Data that arrives
 * after a timeout or cancel stays queued for the next call: nothing is lost.
 *
 * On the epoll backend (or if the kernel refuses the buffer ring) a stream
 * is a plain rg_recv into buffers it owns.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_int.h"

#define NONE 0xffffu

struct pool {
	struct io_uring_buf_ring *br;
	char *mem;
	uint16_t *next;          /* per buffer: next in its stream's queue */
	int32_t *len;            /* per buffer: bytes in it */
	unsigned nbufs, mask;
	size_t bsz;
	uint16_t bgid;
	unsigned out;            /* buffers the kernel filled, not yet released */
	rg_stream *starved;      /* streams waiting for a free buffer */
	bool plain;              /* no buffer ring: plain recv */
};
static struct pool *g_pool[RG_IO_MAXP];

struct rg_stream {
	int fd;
	rg__p *home;             /* NULL: plain mode */
	uint64_t run;            /* g_runs when opened (ring mode); const */
	struct pool *pool;
	rg__cqe_handler h;
	bool armed, ended, starving, closing;
	int end_res;
	uint16_t qhead, qtail;
	uint16_t hhead;          /* buffers handed to the task, not yet released
	                            (linked through the pool's next) */
	rg_stream *starve_next;
	rg__task *waiter;
	uint64_t ticket;
	int held;
	/* plain mode */
	size_t bsz;
	void *spare[RG_STREAM_HELD];
	int nspare;
	void *heldp[RG_STREAM_HELD]; /* handed to the task */
	_Atomic int plock;       /* plain mode: guards spare, nspare, heldp, held
	                            (a release may run on another P than a recv) */
	_Atomic(rg__task *) reader; /* plain mode: the task in rg_stream_recv */
};

/* rg_runs ended so far.  A stream in ring mode lives on its home P: its
 * P record, ring (the multishot with it) and pool go when its rg_run
 * ends.  Opened in one run, it was closed (or used) in the next through
 * the freed P: "hop to a P without io state", or, when the new P got the
 * old one's address, a wait for the final CQE of a multishot the closed
 * ring had taken with it (a hang); and outside a run rg_stream_close
 * aborted, so such a stream could never be freed
 * (tests/io/test_life_stream.c).  Now it is stale: rg_stream_recv says
 * -ESHUTDOWN, rg_stream_release forgets the buffer, rg_stream_close frees
 * the record only, from anywhere. */
static _Atomic uint64_t g_runs;

static void streams_at_stop(void) { atomic_fetch_add(&g_runs, 1); }

__attribute__((constructor)) static void stream_init(void) { rg__at_stop(streams_at_stop); }

static inline bool stale(const rg_stream *s)
{
	return s->home && s->run != atomic_load_explicit(&g_runs, memory_order_relaxed);
}

static void pool_config(unsigned *n, size_t *sz)
{
	*n = 1024;
	*sz = 16384;
	const char *e = getenv("RINGO_BUFRING");
	if (e) {
		unsigned a = 0;
		size_t b = 0;
		if (sscanf(e, "%ux%zu", &a, &b) == 2 && a >= 2 && a <= 32768 && b >= 64 && b <= (1u << 20)) {
			unsigned p2 = 1;
			while (p2 < a)
				p2 <<= 1;
			*n = p2;
			*sz = b;
		} else {
			rg__log("RINGO_BUFRING=%s ignored (want NxSIZE, e.g. 1024x16384)", e);
		}
	}
}

static struct pool *pool_get(rg__p *p)
{
	int i = rg__p_index(p);
	if (g_pool[i])
		return g_pool[i];
	struct pool *pl = rg__calloc(1, sizeof *pl);
	if (!pl)
		return NULL;
	pool_config(&pl->nbufs, &pl->bsz);
	pl->mask = pl->nbufs - 1;
	pl->bgid = 1;
	size_t rsz = ((size_t)pl->nbufs * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
	pl->br = rg__aligned_alloc(4096, rsz);
	pl->mem = rg__aligned_alloc(4096, pl->nbufs * pl->bsz);
	pl->next = rg__calloc(pl->nbufs, sizeof *pl->next);
	pl->len = rg__calloc(pl->nbufs, sizeof *pl->len);
	if (!pl->br || !pl->mem || !pl->next || !pl->len) {
		pl->plain = true;
	} else {
		memset(pl->br, 0, rsz);
		io_uring_buf_ring_init(pl->br);
		struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)pl->br,
		                                .ring_entries = pl->nbufs, .bgid = pl->bgid };
		int r = io_uring_register_buf_ring(rg__p_ring(p), &reg, 0);
		if (r < 0) {
			rg__log("io: provided-buffer ring refused (%s): streams use plain recv", strerror(-r));
			pl->plain = true;
		} else {
			for (unsigned b = 0; b < pl->nbufs; b++)
				io_uring_buf_ring_add(pl->br, pl->mem + b * pl->bsz, (unsigned)pl->bsz, (uint16_t)b,
				                      (int)pl->mask, (int)b);
			io_uring_buf_ring_advance(pl->br, (int)pl->nbufs);
		}
	}
	if (pl->plain) {
		rg__free(pl->br);
		rg__free(pl->mem);
		pl->br = NULL;
		pl->mem = NULL;
	}
	g_pool[i] = pl;
	return pl;
}

/* Called by core/ring.c once P p's ring is gone (the kernel can no longer
 * write into the buffers). */
void rg__io_ring_gone(rg__p *p)
{
	int i = rg__p_index(p);
	struct pool *pl = i < RG_IO_MAXP ? g_pool[i] : NULL;
	if (!pl)
		return;
	rg__free(pl->br);
	rg__free(pl->mem);
	rg__free(pl->next);
	rg__free(pl->len);
	rg__free(pl);
	g_pool[i] = NULL;
}

static void buf_return(struct pool *pl, uint16_t bid)
{
	io_uring_buf_ring_add(pl->br, pl->mem + (size_t)bid * pl->bsz, (unsigned)pl->bsz, bid, (int)pl->mask, 0);
	io_uring_buf_ring_advance(pl->br, 1);
	pl->out--;
}

static void wake_waiter(rg_stream *s)
{
	rg__task *t = s->waiter;
	if (t) {
		s->waiter = NULL;
		rg__wake(t, s->ticket);
	}
}

static void unstarve_one(struct pool *pl);

static void st_cqe(rg__cqe_handler *h, int res, unsigned flags)
{
	rg_stream *s = (rg_stream *)((char *)h - offsetof(rg_stream, h));
	struct pool *pl = s->pool;
	if (flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
		pl->out++;
		if (res > 0) {
			pl->len[bid] = res;
			pl->next[bid] = NONE;
			if (s->qhead == NONE)
				s->qhead = bid;
			else
				pl->next[s->qtail] = bid;
			s->qtail = bid;
		} else {
			/* consumed for no data (an EOF or error after the
			 * kernel committed the buffer; 6.18 recycles it and
			 * posts no F_BUFFER): as any buffer given back, it
			 * re-arms a starved stream */
			buf_return(pl, bid);
			unstarve_one(pl);
		}
	}
	if (res == 0) {
		s->ended = true;
		s->end_res = 0;
	} else if (res < 0 && res != -ENOBUFS) {
		s->ended = true;
		s->end_res = res;
	}
	if (!(flags & IORING_CQE_F_MORE))
		s->armed = false;
	wake_waiter(s);
}

static void arm(rg_stream *s)
{
	struct io_uring_sqe *sqe = rg__p_sqe(s->home);
	io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = s->pool->bgid;
	io_uring_sqe_set_data(sqe, &s->h);
	s->armed = true;
}

static void unstarve(rg_stream *s)
{
	if (!s->starving)
		return;
	for (rg_stream **pp = &s->pool->starved; *pp; pp = &(*pp)->starve_next)
		if (*pp == s) {
			*pp = s->starve_next;
			break;
		}
	s->starving = false;
}

/* On the home P: arm s, or queue it for a buffer.  A stream armed here
 * leaves the starved list: left on it, it would take the re-arm of the
 * next buffer given back (unstarve_one) from a stream still waiting for
 * one, which then waited with its data in the socket and free buffers in
 * the ring. */
static void arm_or_starve(rg_stream *s)
{
	struct pool *pl = s->pool;
	if (pl->out < pl->nbufs) {
		unstarve(s);
		arm(s);
	} else if (!s->starving) {
		s->starving = true;
		s->starve_next = pl->starved;
		pl->starved = s;
	}
}

/* A buffer is free again: re-arm a stream that was starved of one (each
 * buffer given back, by a release, a close or a completion that carried
 * no data, re-arms one: a return that re-armed nobody left the starved
 * streams waiting for a release that might never come).  The re-arm goes
 * to a stream that needs it, not to one armed, ended or closing since. */
static void unstarve_one(struct pool *pl)
{
	rg_stream *w;
	while ((w = pl->starved)) {
		pl->starved = w->starve_next;
		w->starving = false;
		if (!w->armed && !w->ended && !w->closing) {
			arm(w);
			return;
		}
	}
}

static inline bool on_task(void) { return rg__self() && rg__getp(); }

int rg_stream_open(rg_stream **out, int fd)
{
	if (!out)
		return -EFAULT;
	*out = NULL;
	if (fd < 0)
		return -EBADF;
	if (!on_task())
		return -EPERM;
	rg_stream *s = rg__calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->qhead = s->qtail = s->hhead = NONE;
	s->h.fn = st_cqe;
	if (!rg__io_use_epoll) {
		rg__p *p = rg__getp();
		rg__io_p_init_once(p);
		struct pool *pl = pool_get(p);
		if (!pl) {
			rg__free(s);
			return -ENOMEM;
		}
		if (!pl->plain) {
			s->home = p;
			s->pool = pl;
			s->run = atomic_load_explicit(&g_runs, memory_order_relaxed);
		}
		s->bsz = pl->bsz;
	} else {
		unsigned n;
		pool_config(&n, &s->bsz);
	}
	*out = s;
	return 0;
}

static void plock(rg_stream *s)
{
	while (atomic_exchange_explicit(&s->plock, 1, memory_order_acquire))
		while (atomic_load_explicit(&s->plock, memory_order_relaxed))
			rg__cpu_relax();
}

static void punlock(rg_stream *s) { atomic_store_explicit(&s->plock, 0, memory_order_release); }

/* A receive error ends a stream for good, as the multishot's final CQE
 * does (not a timeout, a cancel or a lack of memory: those are the call's) */
static bool final_err(ssize_t r)
{
	return r < 0 && r != -EAGAIN && r != -ETIMEDOUT && r != -ECANCELED && r != -EINTR && r != -ENOMEM &&
	       r != -ENOBUFS;
}

static ssize_t plain_recv_one(rg_stream *s, rg_buf *b, int64_t deadline)
{
	if (s->ended)
		return s->end_res;
	plock(s);
	if (s->held >= RG_STREAM_HELD) {
		punlock(s);
		return -ENOBUFS;
	}
	void *buf = s->nspare ? s->spare[--s->nspare] : NULL;
	punlock(s);
	if (!buf && !(buf = rg__malloc(s->bsz)))
		return -ENOMEM;
	ssize_t r = rg_recv(s->fd, buf, s->bsz, 0, deadline);
	plock(s);
	if (r <= 0) {
		s->spare[s->nspare++] = buf;
		punlock(s);
		if (r == 0 || final_err(r)) {
			s->ended = true;
			s->end_res = (int)r;
		}
		return r;
	}
	int i = 0;
	while (s->heldp[i])
		i++;
	s->heldp[i] = buf;
	s->held++;
	punlock(s);
	b->data = buf;
	b->len = (size_t)r;
	b->id = (unsigned)i;
	return r;
}

/* One receiving task at a time (the header's rule): a second one is told
 * so, rather than racing the first over the stream's buffers. */
static ssize_t plain_recv(rg_stream *s, rg_buf *b, int64_t deadline)
{
	rg__task *none = NULL, *t = rg__self();
	if (!atomic_compare_exchange_strong(&s->reader, &none, t))
		return -EBUSY;
	ssize_t r = plain_recv_one(s, b, deadline);
	atomic_store(&s->reader, NULL);
	return r;
}

static ssize_t stream_recv(rg_stream *s, rg_buf *b, int64_t deadline)
{
	rg__task *t = rg__self();
	for (;;) {
		rg__io_hop(s->home);
		struct pool *pl = s->pool;
		if (s->qhead != NONE) {
			uint16_t bid = s->qhead;
			s->qhead = pl->next[bid];
			b->data = pl->mem + (size_t)bid * pl->bsz;
			b->len = (size_t)pl->len[bid];
			b->id = bid;
			pl->next[bid] = s->hhead; /* held now */
			s->hhead = bid;
			s->held++;
			return (ssize_t)b->len;
		}
		if (s->ended)
			return s->end_res;
		if (!s->armed)
			arm_or_starve(s);
		if (deadline == 0)
			return -EAGAIN;
		/* one receiving task at a time: a second would take the wake-up
		 * slot, and the first would sleep through the data */
		if (s->waiter && s->waiter != t)
			return -EBUSY;
		rg__io_op op;
		memset(&op, 0, sizeof op);
		op.t = t;
		op.p = s->home;
		op.direct = true;
		op.ticket = s->ticket = rg__park_prepare(); /* before publishing */
		s->waiter = t;
		/* published once parked: a canceller wakes the task directly */
		int pr = rg__io_park_op(t, &op, deadline);
		rg__io_hop(s->home);
		if (s->waiter == t)
			s->waiter = NULL;
		if (op.res)
			return op.res; /* a cancel was pending: never published */
		if (rg__io_op_end(t, &op, true))
			return -ECANCELED;
		if (pr == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

ssize_t rg_stream_recv(rg_stream *s, rg_buf *b, int64_t deadline)
{
	if (!s || !b)
		return -EFAULT;
	if (!on_task())
		return -EPERM;
	if (deadline < -1)
		return -EINVAL;
	if (stale(s))
		return -ESHUTDOWN; /* its run ended */
	if (!s->home) /* rg_recv: it checks the deadline and the bound context */
		return plain_recv(s, b, deadline);
	rg__task *t = rg__self();
	int c = rg__io_take_cancel(t); /* a pending cancel is this call's */
	if (c)
		return c;
	/* the bound context, as io.c's run() */
	struct rg__ctx_watch w;
	c = rg__ctx_watch_begin(&w, rg__io_ctx_fire, t);
	if (c)
		return c;
	bool clamped = false;
	if (w.owner)
		deadline = rg__io_ctx_deadline(&w, deadline, &clamped);
	ssize_t r = rg__io_ctx_past(&w, deadline) ? -ETIMEDOUT : stream_recv(s, b, deadline);
	return w.owner ? rg__io_ctx_result(t, &w, r, clamped) : r;
}

void rg_stream_release(rg_stream *s, rg_buf *b)
{
	if (!s || !b || !b->data)
		return;
	if (stale(s)) { /* the pool went with its run */
		b->data = NULL;
		return;
	}
	if (!s->home) {
		/* the header's rule on both backends (while a run runs: a
		 * plain stream is not tied to one) */
		if (!on_task() && rg__nprocs())
			rg__fatal("io: rg_stream_release outside a task");
		plock(s);
		if (b->id >= RG_STREAM_HELD || s->heldp[b->id] != b->data)
			rg__fatal("io: rg_stream_release of a buffer the stream did not hand out");
		s->heldp[b->id] = NULL;
		void *f = NULL;
		if (s->nspare < RG_STREAM_HELD)
			s->spare[s->nspare++] = b->data;
		else
			f = b->data;
		s->held--;
		punlock(s);
		rg__free(f);
		b->data = NULL;
		return;
	}
	if (!on_task())
		rg__fatal("io: rg_stream_release outside a task");
	rg__io_hop(s->home);
	struct pool *pl = s->pool;
	uint16_t *pp = &s->hhead;
	while (*pp != NONE && *pp != b->id)
		pp = &pl->next[*pp];
	if (*pp == NONE)
		rg__fatal("io: rg_stream_release of a buffer the stream did not hand out");
	*pp = pl->next[b->id]; /* no longer held */
	buf_return(pl, (uint16_t)b->id);
	s->held--;
	b->data = NULL;
	unstarve_one(pl);
}

void rg_stream_close(rg_stream *s)
{
	if (!s)
		return;
	/* a plain stream (epoll) too: freed under the task receiving on it */
	if (!s->home && !on_task() && rg__nprocs())
		rg__fatal("io: rg_stream_close outside a task");
	if (s->home && !stale(s)) {
		if (!on_task())
			rg__fatal("io: rg_stream_close outside a task");
		rg__io_hop(s->home);
		s->closing = true;
		unstarve(s);
		if (s->armed) {
			struct io_uring_sqe *sqe = rg__p_sqe(s->home);
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->h, 0);
			io_uring_sqe_set_data(sqe, NULL);
			/* wait for the multishot's final CQE: until then the
			 * kernel may still post into s */
			while (s->armed) {
				s->ticket = rg__park_prepare();
				s->waiter = rg__self();
				rg__park(RG__WAIT_IO, -1, NULL, NULL);
				rg__io_hop(s->home);
			}
		}
		while (s->qhead != NONE) {
			uint16_t bid = s->qhead;
			s->qhead = s->pool->next[bid];
			buf_return(s->pool, bid);
			unstarve_one(s->pool);
		}
		/* buffers the task still holds go back too (an error path that
		 * closes without releasing would otherwise shrink the P's pool
		 * for good, until every stream on the P starves) */
		while (s->hhead != NONE) {
			uint16_t bid = s->hhead;
			s->hhead = s->pool->next[bid];
			buf_return(s->pool, bid);
			unstarve_one(s->pool);
		}
	}
	for (int i = 0; i < s->nspare; i++)
		rg__free(s->spare[i]);
	for (int i = 0; i < RG_STREAM_HELD; i++)
		rg__free(s->heldp[i]); /* plain mode: still held */
	rg__free(s);
}
