/*
 * sync/chan.c — channels and select, after Go's runtime/chan.go and
 * select.go.
 *
 * A channel is a lock, a ring buffer of cap elements (none when cap is 0)
 * and two wait queues of waiter records (rg__sudog): recvq holds receivers
 * waiting for a value, sendq senders waiting for room or a receiver.  A
 * waiter record names a task, the ticket of its current park, and where the
 * value is (a sender's value, a receiver's destination).
 *
 * The wait-queue invariants.  "Live" record: one whose park can still be
 * claimed (its task has not timed out, been cancelled, or had another select
 * case won).  Dead records may linger in a queue until their task re-takes
 * the lock and unlinks itself; every dequeue skips them (rg__waitq_claim).
 *
 *   I1. Only the holder of c->lock links, unlinks or reads the links of a
 *       record in c's queues; `linked` says whether it is in one.
 *   I2. At most one of recvq and sendq holds live records, except when one
 *       task's select waits to both send and receive on the same unbuffered
 *       channel (it cannot match itself: a task never dequeues its own
 *       records, they are only published once it has found nothing ready).
 *   I3. Buffered: qcount > 0 implies recvq has no live record; qcount < cap
 *       implies sendq has no live record.  So a sender first hands off to a
 *       live receiver, then buffers, then waits; a receiver first takes from
 *       the buffer (refilling the freed slot from the first live sender, so
 *       FIFO order holds), then from a live sender, then waits.
 *   I4. Queues are FIFO: records are pushed at the tail, dequeued at the
 *       head.
 *   I5. Waking is claim, hand off, unlock, ready.  A waker holding the lock
 *       unlinks the head record and calls rg__claim with its ticket.  The
 *       winner alone writes the record (value copied, `success`, `fired`),
 *       then releases the lock, then calls rg__ready.  A task parked in a
 *       select has one record per case, all with the same ticket: whichever
 *       waker claims first wins, so the task wakes exactly once, and the
 *       others find a dead record and move on.
 *   I6. A record is published only under the lock and the lock is released
 *       by rg__park's unlock callback, after the task's context is saved.
 *       A record on a parked task's stack stays valid until the task, woken,
 *       has re-taken the lock(s) and unlinked whatever is still linked; a
 *       select's callback reads nothing after its last unlock, since that
 *       unlock may let the task run and return.
 *   I7. closed goes 0 -> 1 once, under the lock; close claims every live
 *       record of both queues (receivers get ok=false and a zeroed value,
 *       senders -EPIPE) and readies them after unlocking.  After close the
 *       queues hold no live record and none is added.
 *
 * Lock-free fast paths (as Go's): a non-blocking send on an open channel
 * that is full, or a non-blocking receive on an open channel that is empty,
 * fails without taking the lock, from a relaxed read of closed, qcount and
 * the queue heads.  Each of those observations was true at some instant
 * during the call and the channel could not proceed at that instant, which
 * is all "would block" promises.
 *
 * select locks every distinct channel of its cases in address order (the
 * one global order, so two selects never deadlock), polls the cases in a
 * random order (so the choice among ready cases is uniform), and otherwise
 * enqueues one record per case, parks once, and on waking locks all the
 * channels again to unlink the records that did not fire.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "gc/gc_hook.h"
#include "sync/sync_int.h"

struct rg_chan {
	/* first: struct rg__chan_head of ringo/sync.h, for its inline select */
	rg__spin lock;
	_Atomic uint32_t closed;  /* lock to write; read lock-free */
	_Atomic uint32_t qcount;  /* lock to write; read lock-free (len, fast
	                             paths) */
	uint32_t cap;             /* const */
	rg__waitq recvq, sendq;   /* lock (heads read lock-free, relaxed) */
	uint32_t sendx, recvx;    /* lock: ring indices */
	size_t elemsize;          /* const */
	char *buf;                /* const pointer; the elements under lock */
	struct rg__gc_region gc_region; /* buf, for the collector (gc_hook.h) */
};
_Static_assert(offsetof(rg_chan, closed) == offsetof(struct rg__chan_head, closed) &&
               offsetof(rg_chan, qcount) == offsetof(struct rg__chan_head, qcount) &&
               offsetof(rg_chan, cap) == offsetof(struct rg__chan_head, cap) &&
               offsetof(rg_chan, recvq.first) == offsetof(struct rg__chan_head, recvq_first),
               "ringo/sync.h's rg__chan_head must match the channel's first fields");

#define SELECT_MAX 65536

rg_chan *rg_chan_make(size_t elem_size, size_t cap)
{
	if (cap > UINT32_MAX || elem_size > (1u << 30))
		return NULL;
	if (elem_size && cap > (SIZE_MAX - sizeof(rg_chan) - 64) / elem_size)
		return NULL;
	size_t bytes = elem_size * cap;
	size_t hdr = (sizeof(rg_chan) + 15) & ~(size_t)15;
	rg_chan *c = rg__aligned_alloc(64, (hdr + bytes + 63) & ~(size_t)63);
	if (!c)
		return NULL;
	memset(c, 0, sizeof *c);
	c->cap = (uint32_t)cap;
	c->elemsize = elem_size;
	c->buf = bytes ? (char *)c + hdr : NULL;
	/* values in flight may be the only references to GC objects: the
	 * collector scans the slots of any buffer that can hold a pointer */
	if (bytes && elem_size >= sizeof(void *))
		rg__gc_region_add(&c->gc_region, c->buf, bytes);
	return c;
}

void rg_chan_free(rg_chan *c)
{
	if (!c)
		return;
	if (c->gc_region.next)
		rg__gc_region_remove(&c->gc_region);
	rg__free(c);
}

size_t rg_chan_len(const rg_chan *c)
{
	return c ? atomic_load_explicit(&((rg_chan *)c)->qcount, memory_order_relaxed) : 0;
}

size_t rg_chan_cap(const rg_chan *c)
{
	return c ? c->cap : 0;
}

/* Element copy: the common sizes without a call into libc. */
static inline void elem_copy(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 0:
		return;
	case 4:
		memcpy(dst, src, 4);
		return;
	case 8:
		memcpy(dst, src, 8);
		return;
	case 16:
		memcpy(dst, src, 16);
		return;
	default:
		memcpy(dst, src, n);
	}
}

static inline void *slot(rg_chan *c, uint32_t i)
{
	return c->buf + (size_t)i * c->elemsize;
}

static inline bool is_closed(rg_chan *c)
{
	return atomic_load_explicit(&c->closed, memory_order_relaxed) != 0;
}

static inline uint32_t qcount(rg_chan *c)
{
	return atomic_load_explicit(&c->qcount, memory_order_relaxed);
}

static inline bool full(rg_chan *c)
{
	if (c->cap == 0)
		return rg__waitq_empty(&c->recvq);
	return qcount(c) == c->cap;
}

static inline bool empty(rg_chan *c)
{
	if (c->cap == 0)
		return rg__waitq_empty(&c->sendq);
	return qcount(c) == 0;
}

/* Lock held.  1 done (*wake: a task to ready after unlocking), 0 would
 * block, -EPIPE closed. */
static inline __attribute__((always_inline)) int send_locked(rg_chan *c, const void *ep, rg__task **wake)
{
	if (is_closed(c))
		return -EPIPE;
	rg__sudog *sg = rg__waitq_claim(&c->recvq);
	if (sg) {
		if (sg->elem)
			elem_copy(sg->elem, ep, c->elemsize);
		sg->success = true;
		sg->fired = true;
		*wake = sg->task;
		return 1;
	}
	uint32_t n = qcount(c);
	if (n < c->cap) {
		elem_copy(slot(c, c->sendx), ep, c->elemsize);
		if (++c->sendx == c->cap)
			c->sendx = 0;
		atomic_store_explicit(&c->qcount, n + 1, memory_order_relaxed);
		return 1;
	}
	return 0;
}

/* Lock held.  1 done (*ok set, *wake maybe), 0 would block. */
static inline __attribute__((always_inline)) int recv_locked(rg_chan *c, void *ep, bool *ok, rg__task **wake)
{
	uint32_t n = qcount(c);
	if (is_closed(c) && n == 0) {
		if (ep && c->elemsize)
			memset(ep, 0, c->elemsize);
		*ok = false;
		return 1;
	}
	rg__sudog *sg = rg__waitq_claim(&c->sendq);
	if (sg) {
		if (c->cap == 0) {
			if (ep)
				elem_copy(ep, sg->elem, c->elemsize);
		} else {
			/* Buffer full (I3): take its head, put the sender's
			 * value at its tail, which is the same slot. */
			void *s = slot(c, c->recvx);
			if (ep)
				elem_copy(ep, s, c->elemsize);
			elem_copy(s, sg->elem, c->elemsize);
			if (++c->recvx == c->cap)
				c->recvx = 0;
			c->sendx = c->recvx;
		}
		sg->success = true;
		sg->fired = true;
		*wake = sg->task;
		*ok = true;
		return 1;
	}
	if (n > 0) {
		if (ep)
			elem_copy(ep, slot(c, c->recvx), c->elemsize);
		if (++c->recvx == c->cap)
			c->recvx = 0;
		atomic_store_explicit(&c->qcount, n - 1, memory_order_relaxed);
		*ok = true;
		return 1;
	}
	return 0;
}

/* A NULL channel, or a select with no channel: wait for the deadline (or
 * the bound context). */
static int block_forever(int reason, int64_t deadline)
{
	if (deadline == 0)
		return -EAGAIN;
	if (!rg__self())
		return -EPERM;
	int r;
	do
		r = rg__park_ctx(rg__self(), reason, deadline, rg__park_prepare(), NULL, NULL);
	while (r == 0);
	return r == -EAGAIN ? rg__ctx_bound_err() : r;
}

int rg_chan_send(rg_chan *c, const void *ep, int64_t deadline)
{
	if (!c)
		return block_forever(RG__WAIT_CHAN_SEND, deadline);
	if (deadline == 0 && !is_closed(c) && full(c))
		return -EAGAIN;
	rg__spin_lock(&c->lock);
	rg__task *w = NULL;
	int r = send_locked(c, ep, &w);
	if (r != 0) {
		rg__spin_unlock(&c->lock);
		if (w)
			rg__ready(w);
		return r < 0 ? r : 0;
	}
	rg__sudog sg;
	if (deadline == 0 || !(sg.task = rg__self())) {
		rg__spin_unlock(&c->lock);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}
	sg.ticket = rg__park_prepare();
	sg.elem = (void *)ep;
	sg.c = c;
	sg.success = sg.fired = false;
	rg__waitq_push(&c->sendq, &sg);
	r = rg__park_ctx(sg.task, RG__WAIT_CHAN_SEND, deadline, sg.ticket, rg__spin_unlock_cb, &c->lock);
	if (r == 0)
		return sg.success ? 0 : -EPIPE;
	rg__spin_lock(&c->lock);
	if (sg.linked)
		rg__waitq_remove(&c->sendq, &sg);
	rg__spin_unlock(&c->lock);
	return r;
}

int rg_chan_recv(rg_chan *c, void *ep, bool *okp, int64_t deadline)
{
	bool ok_dummy;
	bool *ok = okp ? okp : &ok_dummy;
	if (!c)
		return block_forever(RG__WAIT_CHAN_RECV, deadline);
	if (deadline == 0 && empty(c)) {
		if (!is_closed(c))
			return -EAGAIN;
		/* closed: it stays closed, so if still empty it is drained
		 * for good */
		if (empty(c)) {
			if (ep && c->elemsize)
				memset(ep, 0, c->elemsize);
			*ok = false;
			return 0;
		}
	}
	rg__spin_lock(&c->lock);
	rg__task *w = NULL;
	if (recv_locked(c, ep, ok, &w)) {
		rg__spin_unlock(&c->lock);
		if (w)
			rg__ready(w);
		return 0;
	}
	rg__sudog sg;
	if (deadline == 0 || !(sg.task = rg__self())) {
		rg__spin_unlock(&c->lock);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}
	sg.ticket = rg__park_prepare();
	sg.elem = c->elemsize ? ep : NULL;
	sg.c = c;
	sg.success = sg.fired = false;
	rg__waitq_push(&c->recvq, &sg);
	int r = rg__park_ctx(sg.task, RG__WAIT_CHAN_RECV, deadline, sg.ticket, rg__spin_unlock_cb, &c->lock);
	if (r == 0) {
		*ok = sg.success;
		return 0;
	}
	rg__spin_lock(&c->lock);
	if (sg.linked)
		rg__waitq_remove(&c->recvq, &sg);
	rg__spin_unlock(&c->lock);
	return r;
}

int rg_chan_close(rg_chan *c)
{
	if (!c)
		return -EINVAL;
	rg__spin_lock(&c->lock);
	if (is_closed(c)) {
		rg__spin_unlock(&c->lock);
		return -EPIPE;
	}
	atomic_store_explicit(&c->closed, 1, memory_order_relaxed);
	rg__sudog *list = NULL, *sg;
	while ((sg = rg__waitq_claim(&c->recvq))) {
		if (sg->elem && c->elemsize)
			memset(sg->elem, 0, c->elemsize);
		sg->success = false;
		sg->fired = true;
		sg->next = list;
		list = sg;
	}
	while ((sg = rg__waitq_claim(&c->sendq))) {
		sg->success = false;
		sg->fired = true;
		sg->next = list;
		list = sg;
	}
	rg__spin_unlock(&c->lock);
	while (list) {
		/* read both before ready: the record dies with its task's frame */
		rg__sudog *next = list->next;
		rg__task *t = list->task;
		rg__ready(t);
		list = next;
	}
	return 0;
}

/* --- select ------------------------------------------------------------ */

struct sel_lock {
	rg_chan *c;
	int idx;
};

/* What the park's unlock callback needs: the distinct channels, in lock
 * order.  Lives in rg_select's frame. */
struct sel_state {
	struct sel_lock *order;
	int n;
};

static void sel_lock_all(struct sel_lock *order, int n)
{
	rg_chan *prev = NULL;
	for (int i = 0; i < n; i++)
		if (order[i].c != prev) {
			prev = order[i].c;
			rg__spin_lock(&prev->lock);
		}
}

static void sel_unlock_all(struct sel_lock *order, int n)
{
	rg_chan *prev = NULL;
	for (int i = 0; i < n; i++)
		if (order[i].c != prev) {
			prev = order[i].c;
			rg__spin_unlock(&prev->lock);
		}
}

/* Unlock callback: nothing of st may be read after the last unlock (I6). */
static bool sel_unlock_cb(rg__task *t, void *arg)
{
	struct sel_state *st = arg;
	struct sel_lock *order = st->order;
	int n = st->n;
	rg_chan *prev = NULL;
	rg_chan *last = order[n - 1].c;
	for (int i = 0; i < n; i++) {
		rg_chan *c = order[i].c;
		if (c == prev)
			continue;
		prev = c;
		if (c == last) {
			rg__spin_unlock(&c->lock);
			return true;
		}
		rg__spin_unlock(&c->lock);
	}
	return true;
}

static int cmp_lock(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct sel_lock *)a)->c;
	uintptr_t y = (uintptr_t)((const struct sel_lock *)b)->c;
	return x < y ? -1 : x > y;
}

static void sort_locks(struct sel_lock *o, int n)
{
	if (n > 16) {
		qsort(o, (size_t)n, sizeof *o, cmp_lock);
		return;
	}
	for (int i = 1; i < n; i++) {
		struct sel_lock k = o[i];
		int j = i - 1;
		while (j >= 0 && (uintptr_t)o[j].c > (uintptr_t)k.c) {
			o[j + 1] = o[j];
			j--;
		}
		o[j + 1] = k;
	}
}

static int select_general(rg_select_case *cases, int n, int active, int64_t deadline);

/* One case: the channel operation itself (its lock-free fast paths). */
static inline int select_one(rg_select_case *k, int idx, int64_t deadline)
{
	int r;
	if (k->dir == RG_SELECT_SEND) {
		r = rg_chan_send(k->ch, k->val, deadline);
		if (r == 0 || r == -EPIPE) {
			k->ok = r == 0;
			return idx;
		}
		return r;
	}
	r = rg_chan_recv(k->ch, k->val, &k->ok, deadline);
	return r == 0 ? idx : r;
}

static int select_slow(rg_select_case *cases, int n, int64_t deadline);

/* rg_select is also rg__select, what the inline fast path of ringo/sync.h
 * calls when it cannot decide. */
int rg__select(rg_select_case *cases, int n, int64_t deadline) __attribute__((alias("rg_select")));

int rg_select(rg_select_case *cases, int n, int64_t deadline)
{
	/* select { case ch <- v: ... default: } on a full channel: a leaf
	 * with no frame, the rest is a tail call */
	if (n == 1 && deadline == 0 && cases) {
		rg_chan *c = cases->ch;
		if (c && cases->dir == RG_SELECT_SEND && !is_closed(c) && full(c))
			return -EAGAIN;
	}
	return select_slow(cases, n, deadline);
}

__attribute__((noinline)) static int select_slow(rg_select_case *cases, int n, int64_t deadline)
{
	if (n == 1 && cases && cases->ch && (unsigned)cases->dir <= RG_SELECT_SEND)
		return select_one(cases, 0, deadline);
	if (n < 0 || n > SELECT_MAX || (n > 0 && !cases))
		return -EINVAL;
	int active = 0, one = -1;
	for (int i = 0; i < n; i++) {
		if (cases[i].dir != RG_SELECT_RECV && cases[i].dir != RG_SELECT_SEND)
			return -EINVAL;
		if (cases[i].ch) {
			active++;
			one = i;
		}
	}
	if (active == 0)
		return block_forever(RG__WAIT_SELECT, deadline);
	if (active == 1)
		return select_one(&cases[one], one, deadline);
	return select_general(cases, n, active, deadline);
}

/* Scratch space of one select: poll order, lock order, records. */
struct sel_scratch {
	int *poll;
	struct sel_lock *order;
	rg__sudog **sgs;
};

static int select_run(rg_select_case *cases, int n, int64_t deadline, struct sel_scratch *sc);

#define SELECT_STACK 64

/* Up to 64 cases the scratch space is on the stack; beyond, on the heap
 * (a task stack is small). */
__attribute__((noinline)) static int select_general(rg_select_case *cases, int n, int active,
                                                    int64_t deadline)
{
	if (active <= SELECT_STACK) {
		int poll[SELECT_STACK];
		struct sel_lock order[SELECT_STACK];
		rg__sudog *sgs[SELECT_STACK];
		struct sel_scratch sc = { poll, order, sgs };
		return select_run(cases, n, deadline, &sc);
	}
	size_t a = (size_t)active;
	char *mem = rg__malloc(a * (sizeof(int) + sizeof(struct sel_lock) + sizeof(rg__sudog *)));
	if (!mem)
		return -ENOMEM;
	struct sel_scratch sc = { (int *)(mem + a * (sizeof(struct sel_lock) + sizeof(rg__sudog *))),
		                  (struct sel_lock *)mem, (rg__sudog **)(mem + a * sizeof(struct sel_lock)) };
	int r = select_run(cases, n, deadline, &sc);
	rg__free(mem);
	return r;
}

static int select_run(rg_select_case *cases, int n, int64_t deadline, struct sel_scratch *sc)
{
	/* Poll order: a uniform random permutation of the active cases.
	 * Lock order: by channel address. */
	int *poll = sc->poll;
	struct sel_lock *order = sc->order;
	int np = 0;
	for (int i = 0; i < n; i++) {
		if (!cases[i].ch)
			continue;
		int j = (int)(rg__sync_rand() % (uint32_t)(np + 1));
		poll[np] = poll[j];
		poll[j] = i;
		np++;
	}
	/* From the poll order, and sorted stably (np <= 16): records of
	 * duplicate channels are enqueued in random order too. */
	for (int k = 0; k < np; k++) {
		order[k].c = cases[poll[k]].ch;
		order[k].idx = poll[k];
	}
	sort_locks(order, np);
	sel_lock_all(order, np);

	/* Pass 1: anything ready? */
	for (int k = 0; k < np; k++) {
		int i = poll[k];
		rg_select_case *cs = &cases[i];
		rg__task *w = NULL;
		int r;
		if (cs->dir == RG_SELECT_RECV) {
			r = recv_locked(cs->ch, cs->val, &cs->ok, &w);
		} else {
			r = send_locked(cs->ch, cs->val, &w);
			if (r != 0)
				cs->ok = r > 0;
		}
		if (r != 0) {
			sel_unlock_all(order, np);
			if (w)
				rg__ready(w);
			return i;
		}
	}
	rg__task *self;
	if (deadline == 0 || !(self = rg__self())) {
		sel_unlock_all(order, np);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}

	/* Pass 2: one record per case, all under one ticket; park once. */
	rg__sudog **sgs = sc->sgs;
	uint64_t ticket = rg__park_prepare();
	for (int k = 0; k < np; k++) {
		int i = order[k].idx;
		rg_select_case *cs = &cases[i];
		rg__sudog *sg = rg__sudog_get();
		sg->task = self;
		sg->ticket = ticket;
		sg->elem = cs->ch->elemsize ? cs->val : NULL;
		sg->c = cs->ch;
		sg->idx = i;
		rg__waitq_push(cs->dir == RG_SELECT_RECV ? &cs->ch->recvq : &cs->ch->sendq, sg);
		sgs[k] = sg;
	}
	struct sel_state st = { order, np };
	int r = rg__park_ctx(self, RG__WAIT_SELECT, deadline, ticket, sel_unlock_cb, &st);

	/* Pass 3: unlink the records that did not fire. */
	sel_lock_all(order, np);
	int chosen = -1;
	bool ok = false;
	for (int k = 0; k < np; k++) {
		rg__sudog *sg = sgs[k];
		if (sg->fired) {
			chosen = sg->idx;
			ok = sg->success;
		} else if (sg->linked) {
			rg_select_case *cs = &cases[sg->idx];
			rg__waitq_remove(cs->dir == RG_SELECT_RECV ? &sg->c->recvq : &sg->c->sendq, sg);
		}
	}
	sel_unlock_all(order, np);
	for (int k = 0; k < np; k++)
		rg__sudog_put(sgs[k]);
	if (r == 0 && chosen >= 0) {
		cases[chosen].ok = ok;
		return chosen;
	}
	return r == 0 ? -EAGAIN : r;
}
