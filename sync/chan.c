/*
 * sync/chan.c — channels and select, after Go's runtime/chan.go and
 * select.go, with a buffer after crossbeam-channel's array flavour
 * (Vyukov's bounded queue).
 *
 * A channel is a lock, two wait queues of waiter records (rg__sudog) —
 * recvq holds receivers waiting for a value, sendq senders waiting for room
 * or a receiver — and, when cap > 0, a ring of cap slots.  A waiter record
 * names a task, the ticket of its current park, and (unbuffered channels)
 * where the value is (a sender's value, a receiver's destination).
 *
 * The buffer is lock-free.  tail (senders' cache line) and head
 * (receivers' line) are stamps: lap | index, with a lap of 2 * mark, mark
 * the power of two above cap; mark itself, set in tail, is "closed".  Each
 * slot has a stamp too: == tail when free for the send at that stamp, ==
 * head + 1 once that send has stored its value, == head + lap once the
 * receive at head has copied it out (free for the next lap).  A send
 * claims its stamp with a CAS on tail, copies, then publishes the slot's
 * stamp (release); a receive claims with a CAS on head, copies out, then
 * frees the slot.  Operations are ordered by their claims (FIFO); a
 * receive that finds its slot claimed but not yet published waits the few
 * instructions until it is (as a send for a slot a receive has claimed).
 * "Full" is head + lap == tail, "empty" head == tail (closed bit aside),
 * each read with seq_cst loads in that order so that the two values held
 * together at the second load.  The lock guards the wait queues, and the
 * ring only against other operations of a select that holds it: a select
 * freezes the rings of its channels (a bit in tail and head that fails
 * every claim but its own) so that it sees them all at one instant.
 *
 * The wait-queue invariants.  "Live" record: one whose park can still be
 * claimed (its task has not timed out, been cancelled, or had another select
 * case won).  Dead records may linger in a queue until their task re-takes
 * the lock and unlinks itself; every dequeue skips them (rg__waitq_claim).
 *
 *   I1. Only the holder of c->lock links, unlinks or reads the links of a
 *       record in c's queues; `linked` says whether it is in one.
 *   I2. Unbuffered: at most one of recvq and sendq holds live records,
 *       except when one task's select waits to both send and receive on the
 *       same channel (it cannot match itself: a task never dequeues its own
 *       records, they are only published once it has found nothing ready).
 *   I3. Buffered: no waiter is ever missed (Dekker).  A task that would
 *       block links its record, then (seq_cst fence) re-reads head and
 *       tail, and parks only if it still would block; else it unlinks and
 *       retries.  A send's claim is a seq_cst CAS of tail followed by a
 *       seq_cst load of recvq.first (a receive: head, sendq.first): one of
 *       the two sees the other.  A send that saw a receiver waiting wakes
 *       the first live one after publishing its value, a receive that saw a
 *       sender waiting wakes the first live sender after freeing its slot.
 *       The woken task retries (it is not handed a value: a buffered
 *       channel's value is always in the ring, so FIFO holds); another task
 *       may get there first, and then it waits again, at the head of the queue
 *       (buf_wait's front), so no later waiter passes it.  A woken select
 *       retries the case that woke it first, so the value or room that woke
 *       it is not left behind while other waiters sleep.
 *   I4. Queues are FIFO: records are pushed at the tail, dequeued at the
 *       head.
 *   I5. Waking is claim, hand off, unlock, ready.  A waker holding the lock
 *       unlinks the head record and calls rg__claim with its ticket.  The
 *       winner alone writes the record (unbuffered: value copied;
 *       `success`, `fired`), then releases the lock, then calls rg__ready.
 *       A task parked in a select has one record per case, all with the
 *       same ticket: whichever waker claims first wins, so the task wakes
 *       exactly once, and the others find a dead record and move on.  The
 *       winner also unlinks the select's other records on the same
 *       channel (`dup`, chan_claim), so that the woken select never needs
 *       the fired channel's lock again (rg_chan_free).
 *   I6. A record is published only under the lock and the lock is released
 *       by rg__park's unlock callback, after the task's context is saved.
 *       A record on a parked task's stack stays valid until the task, woken,
 *       has re-taken the locks of the channels where it may still be linked
 *       (every one but the fired one) and unlinked it; a select's callback
 *       reads nothing after its last unlock, since that unlock may let the
 *       task run and return.
 *   I7. closed goes 0 -> 1 once, under the lock (a seq_cst fetch_or of
 *       tail's mark, so no send can claim a stamp after it); close claims
 *       every live record of both queues and readies them after unlocking.
 *       Unbuffered: receivers get ok=false and a zeroed value, senders
 *       -EPIPE.  Buffered: they retry, and find the buffer to drain, then
 *       ok=false, or -EPIPE.  After close no record is added that stays.
 *
 * Lock-free fast paths (as Go's): a non-blocking send on an open channel
 * that is full, or a non-blocking receive on an open channel that is empty,
 * fails without taking the lock.  Each of those observations was true at
 * some instant during the call and the channel could not proceed at that
 * instant, which is all "would block" promises.
 *
 * select locks (and freezes, if buffered) every distinct channel of its
 * cases in address order (the one global order, so two selects never
 * deadlock), polls the cases in a
 * random order (so the choice among ready cases is uniform), and otherwise
 * enqueues one record per case, parks once, and on waking locks all the
 * channels again to unlink the records that did not fire.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>

#include "gc/gc_hook.h"
#include "sync/sync_int.h"

#define CL 64

struct rg_chan {
	/* line 0: first, struct rg__chan_head of ringo/sync.h (its inline
	 * select).  Const: read by every operation, written by none. */
	uint32_t cap;
	uint32_t elemsize;
	uint32_t stride;          /* bytes per slot (stamp, value) */
	uint32_t pad_;
	uint64_t mark;            /* closed bit of tail; a lap is 2 * mark */
	char *buf;                /* the slots (cap > 0) */
	struct rg__gc_region gc_region; /* buf, for the collector (gc_hook.h) */
	/* line 1: the wait queues, written only to wait and to wake */
	_Alignas(CL) rg__spin lock;
	rg__waitq recvq, sendq;   /* lock (first also read lock-free: seq_cst
	                             after a claim, relaxed in fast paths) */
	_Atomic uint32_t wakers;  /* lock-free operations that saw a waiter and
	                             are still to wake it (see rg_chan_free) */
	uint64_t q_epoch;         /* lock: 0, or (a Context's done channel)
	                             rg__ctx_epoch_now() when the queues were
	                             last known to hold this run's tasks only */
	/* line 2: senders.  Unbuffered channels end after it. */
	_Alignas(CL) _Atomic uint64_t tail; /* stamp of the next send | mark once
	                                       closed (seq_cst) */
	/* line 3: receivers (cap > 0 only) */
	_Alignas(CL) _Atomic uint64_t head; /* stamp of the next receive (seq_cst) */
};
_Static_assert(offsetof(rg_chan, cap) == offsetof(struct rg__chan_head, cap) &&
               offsetof(rg_chan, stride) == offsetof(struct rg__chan_head, stride) &&
               offsetof(rg_chan, mark) == offsetof(struct rg__chan_head, mark) &&
               offsetof(rg_chan, buf) == offsetof(struct rg__chan_head, buf) &&
               offsetof(rg_chan, recvq.first) == offsetof(struct rg__chan_head, recvq_first) &&
               offsetof(rg_chan, tail) == offsetof(struct rg__chan_head, tail) &&
               offsetof(rg_chan, head) == offsetof(struct rg__chan_head, head),
               "ringo/sync.h's rg__chan_head must match the channel's first fields");

/* A slot: its stamp, then the value (at 8: word-aligned for the
 * collector's scan). */
struct slot {
	_Atomic uint64_t stamp;
	char elem[];
};

#define SELECT_MAX 65536
/* Set in tail and head by a select while it holds the channel's lock (see
 * select_run): claims fail, and lock-free operations wait for the lock. */
#define FROZEN ((uint64_t)1 << 63)
#define HDR_UNBUF offsetof(rg_chan, head)
#define HDR_BUF ((sizeof(rg_chan) + CL - 1) & ~(size_t)(CL - 1))

rg_chan *rg_chan_make(size_t elem_size, size_t cap)
{
	if (cap > UINT32_MAX || elem_size > (1u << 30))
		return NULL;
	size_t stride = sizeof(uint64_t) + ((elem_size + 7) & ~(size_t)7);
	if (cap > (SIZE_MAX - HDR_BUF - CL) / stride)
		return NULL;
	size_t bytes = stride * cap;
	size_t hdr = cap ? HDR_BUF : HDR_UNBUF;
	int saved = errno; /* the allocator sets it when out of memory */
	rg_chan *c = rg__aligned_alloc(CL, (hdr + bytes + CL - 1) & ~(size_t)(CL - 1));
	if (!c) {
		errno = saved;
		return NULL;
	}
	memset(c, 0, hdr);
	c->cap = (uint32_t)cap;
	c->elemsize = (uint32_t)elem_size;
	c->stride = (uint32_t)stride;
	uint64_t mark = 1;
	while (mark < (uint64_t)cap + 1)
		mark <<= 1;
	c->mark = mark;
	if (cap) {
		c->buf = (char *)c + hdr;
		for (uint32_t i = 0; i < cap; i++)
			atomic_init(&((struct slot *)(c->buf + (size_t)i * stride))->stamp, i);
		/* values in flight may be the only references to GC objects:
		 * the collector scans the slots of any buffer that can hold a
		 * pointer */
		if (elem_size >= sizeof(void *))
			rg__gc_region_add(&c->gc_region, c->buf, bytes);
	}
	return c;
}

/*
 * The last touch.  "Receive the N results, free the channel" must be safe:
 * once the other side of an exchange can see it done, an operation writes
 * nothing more to the channel.  Three places did (tests/sync/
 * test_lifetime.c catches each under TSan and ASan):
 *   - a lock-free send (receive) that saw a waiter publishes its value
 *     (frees its slot), then takes the lock to wake that waiter, which
 *     meanwhile may have found the value by itself, returned, and let its
 *     owner free the channel.  Such an operation counts itself in wakers
 *     before it publishes and leaves it as its last touch; the count is only
 *     paid on the path that wakes someone;
 *   - a select that exchanged under the lock thaws the ring before its
 *     unlock, so a lock-free receive can take the value before the unlock
 *     store;
 *   - a select woken by an exchange locked every channel again to unlink
 *     its other records, the fired one's too; now it skips that channel,
 *     whose claimer unlinked any other record of the same select there.
 * So free waits until no waker is in flight and takes the lock (that of a
 * select still unlocking).  Tasks still inside an operation on c (parked
 * on it, or woken by its close and not yet returned) must be gone first:
 * that is the caller's to ensure.
 */
void rg_chan_free(rg_chan *c)
{
	if (!c)
		return;
	for (unsigned spins = 0; atomic_load_explicit(&c->wakers, memory_order_acquire);)
		rg__sync_backoff(&spins);
	rg__spin_lock(&c->lock);
	/* added exactly when rg_chan_make did (const fields): not read
	 * from the region's links, which the collector's list owns and a
	 * neighbour's add or removal rewrites under its lock meanwhile
	 * (TSan, core_soak_mix's pipelines: two channels made and freed at
	 * once on two Ps) */
	if (c->cap && c->elemsize >= sizeof(void *))
		rg__gc_region_remove(&c->gc_region);
	rg__free(c);
}

size_t rg_chan_len(const rg_chan *cc)
{
	rg_chan *c = (rg_chan *)cc;
	if (!c || !c->cap)
		return 0;
	/* crossbeam's len: a tail and head that held together */
	for (;;) {
		uint64_t t = atomic_load(&c->tail);
		uint64_t h = atomic_load(&c->head) & ~FROZEN;
		if (atomic_load(&c->tail) != t)
			continue;
		t &= ~(c->mark | FROZEN);
		uint64_t hi = h & (c->mark - 1), ti = t & (c->mark - 1);
		if (hi < ti)
			return (size_t)(ti - hi);
		if (hi > ti)
			return (size_t)(c->cap - hi + ti);
		return t == h ? 0 : c->cap;
	}
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

static inline struct slot *slot_at(rg_chan *c, uint64_t stamp)
{
	return (struct slot *)(c->buf + (size_t)(stamp & (c->mark - 1)) * c->stride);
}

/* The stamp after s (next index, or index 0 of the next lap). */
static inline uint64_t stamp_next(rg_chan *c, uint64_t s)
{
	uint64_t lap1 = 2 * c->mark;
	return (s & (c->mark - 1)) + 1 < c->cap ? s + 1 : (s & ~(lap1 - 1)) + lap1;
}

static inline bool is_closed(rg_chan *c)
{
	return (atomic_load_explicit(&c->tail, memory_order_relaxed) & c->mark) != 0;
}

/* c's lock held, before a waiter is linked or claimed: a tracked channel
 * (a Context's done channel, which may outlive rg_run) forgets the
 * waiters of runs that have ended, unread (their records are on unmapped
 * stacks or freed: ctx.c, rg__ctx_epoch_now). */
static inline void q_fresh(rg_chan *c)
{
	if (__builtin_expect(c->q_epoch != 0, 0)) {
		uint64_t e = rg__ctx_epoch_now();
		if (c->q_epoch != e) {
			atomic_store_explicit(&c->recvq.first, NULL, memory_order_relaxed);
			c->recvq.last = NULL;
			atomic_store_explicit(&c->sendq.first, NULL, memory_order_relaxed);
			c->sendq.last = NULL;
			c->q_epoch = e;
		}
	}
}

/* Receives free their slots in the order they claimed them: the receive
 * at stamp h waits until the one before it has freed its slot (a few
 * instructions, and only ever with several receivers: a lone receiver
 * freed it itself).  So a receive counts as done when it frees its slot,
 * the freed slots are a prefix, and a slot still holding the previous
 * lap's value means "full" by itself: a sender polling a full channel
 * reads its own tail and that slot, never the receivers' head, which would
 * cost each receive a cache miss on its own line. */
static inline void wait_freed(rg_chan *c, uint64_t h)
{
	uint64_t lap1 = 2 * c->mark;
	uint64_t q = h & (c->mark - 1) ? h - 1 : (h & ~(lap1 - 1)) - lap1 + c->cap - 1;
	struct slot *s = slot_at(c, q);
	for (unsigned spins = 0; atomic_load_explicit(&s->stamp, memory_order_acquire) == q + 1;)
		rg__sync_backoff(&spins);
}

/* Buffered, open and full by the claims (tail, then head, seq_cst): what
 * a sender about to park re-checks (I3), against the receivers' seq_cst
 * CAS of head. */
static inline bool buf_full(rg_chan *c)
{
	uint64_t t = atomic_load(&c->tail) & ~FROZEN;
	return !(t & c->mark) && (atomic_load(&c->head) & ~FROZEN) + 2 * c->mark == t;
}

/* Buffered, open and empty now (a receive would block)?  head, then tail. */
static inline bool buf_empty(rg_chan *c)
{
	uint64_t h = atomic_load(&c->head) & ~FROZEN;
	return (atomic_load(&c->tail) & ~FROZEN) == h;
}

/* Buffered send, lock-free.  1 sent (*waiter: a receiver was waiting),
 * 0 full, -EPIPE closed, 2 frozen by a select other than the caller (frz:
 * FROZEN when the caller is the select that froze it, else 0). */
static inline __attribute__((always_inline)) int buf_send_frz(rg_chan *c, const void *ep, bool *waiter,
                                                              uint64_t frz)
{
	uint64_t lap1 = 2 * c->mark;
	uint64_t tf = atomic_load(&c->tail);
	for (unsigned spins = 0;;) {
		if ((tf & FROZEN) != frz) {
			*waiter = false;
			return 2;
		}
		uint64_t t = tf & ~FROZEN;
		if (t & c->mark) {
			*waiter = false;
			return -EPIPE;
		}
		struct slot *s = slot_at(c, t);
		uint64_t st = atomic_load_explicit(&s->stamp, memory_order_acquire);
		if (st == t) {
			if (atomic_compare_exchange_weak(&c->tail, &tf, stamp_next(c, t) | frz)) {
				*waiter = atomic_load(&c->recvq.first) != NULL;
				/* to wake it after the publish (rg_chan_free);
				 * a frozen select wakes under the lock */
				if (*waiter && !frz)
					atomic_fetch_add_explicit(&c->wakers, 1, memory_order_relaxed);
				elem_copy(s->elem, ep, c->elemsize);
				atomic_store_explicit(&s->stamp, t + 1, memory_order_release);
				return 1;
			}
			continue; /* t reloaded by the CAS */
		}
		if (st + lap1 == t + 1) {
			/* the previous lap's value, not yet freed: full (frees
			 * come in order, see above), without reading head */
			*waiter = false;
			return 0;
		}
		rg__sync_backoff(&spins);
		tf = atomic_load(&c->tail);
	}
}

static void wake_retry(rg_chan *c, rg__waitq *q);

/* Buffered send, lock-free, waking the receiver it saw waiting (every
 * lock-free send goes through here, so each count in wakers meets its
 * decrement): 1 sent, 0 full, -EPIPE closed. */
static inline __attribute__((always_inline)) int buf_send(rg_chan *c, const void *ep)
{
	int r;
	bool waiter;
	while ((r = buf_send_frz(c, ep, &waiter, 0)) == 2) {
		/* a select holds the lock: wait for it */
		rg__spin_lock(&c->lock);
		rg__spin_unlock(&c->lock);
	}
	if (__builtin_expect(waiter, 0))
		wake_retry(c, &c->recvq);
	return r;
}

/* Buffered receive, lock-free.  1 received (*ok; *waiter: a sender was
 * waiting), 0 empty, or 1 with *ok false: closed and drained; 2 frozen, as
 * buf_send_frz. */
static inline __attribute__((always_inline)) int buf_recv_frz(rg_chan *c, void *ep, bool *ok, bool *waiter,
                                                              uint64_t frz)
{
	uint64_t lap1 = 2 * c->mark;
	uint64_t hf = atomic_load(&c->head);
	for (unsigned spins = 0;;) {
		if ((hf & FROZEN) != frz) {
			*waiter = false;
			return 2;
		}
		uint64_t h = hf & ~FROZEN;
		struct slot *s = slot_at(c, h);
		uint64_t st = atomic_load_explicit(&s->stamp, memory_order_acquire);
		if (st == h + 1) {
			if (atomic_compare_exchange_weak(&c->head, &hf, stamp_next(c, h) | frz)) {
				*waiter = atomic_load(&c->sendq.first) != NULL;
				if (*waiter && !frz)
					atomic_fetch_add_explicit(&c->wakers, 1, memory_order_relaxed);
				if (ep)
					elem_copy(ep, s->elem, c->elemsize);
				wait_freed(c, h);
				atomic_store_explicit(&s->stamp, h + lap1, memory_order_release);
				*ok = true;
				return 1;
			}
			continue;
		}
		if (st == h) {
			/* empty, unless a send has claimed this slot and is
			 * copying its value in */
			uint64_t t = atomic_load(&c->tail) & ~FROZEN;
			if ((t & ~c->mark) == h) {
				wait_freed(c, h);
				*waiter = false;
				if (!(t & c->mark))
					return 0;
				if (ep && c->elemsize)
					memset(ep, 0, c->elemsize);
				*ok = false;
				return 1;
			}
		}
		rg__sync_backoff(&spins);
		hf = atomic_load(&c->head);
	}
}

/* Buffered receive, lock-free, waking the sender it saw waiting: 1
 * received (*ok; false: closed and drained), 0 empty. */
static inline __attribute__((always_inline)) int buf_recv(rg_chan *c, void *ep, bool *ok)
{
	int r;
	bool waiter;
	while ((r = buf_recv_frz(c, ep, ok, &waiter, 0)) == 2) {
		rg__spin_lock(&c->lock);
		rg__spin_unlock(&c->lock);
	}
	if (__builtin_expect(waiter, 0))
		wake_retry(c, &c->sendq);
	return r;
}

/* A select's other records on c (same task and ticket, both queues): dead
 * once one is claimed, unlinked by the claimer so that the select, woken,
 * need not lock c again (rg_chan_free).  Lock of c held. */
__attribute__((noinline)) static void unlink_siblings(rg_chan *c, const rg__sudog *sg)
{
	rg__waitq *qs[2] = { &c->recvq, &c->sendq };
	for (int i = 0; i < 2; i++)
		for (rg__sudog *s = atomic_load_explicit(&qs[i]->first, memory_order_relaxed), *next; s; s = next) {
			next = s->next;
			if (s->task == sg->task && s->ticket == sg->ticket)
				rg__waitq_remove(qs[i], s);
		}
}

/* rg__waitq_claim for c's queues. */
static inline rg__sudog *chan_claim(rg_chan *c, rg__waitq *q)
{
	rg__sudog *sg = rg__waitq_claim(q);
	if (sg && sg->dup)
		unlink_siblings(c, sg);
	return sg;
}

/* Lock of c held: the first live waiter of q, claimed and marked fired
 * (I3: it retries), to ready after unlocking; NULL if none. */
static inline rg__task *claim_retry(rg_chan *c, rg__waitq *q)
{
	rg__sudog *sg = chan_claim(c, q);
	if (!sg)
		return NULL;
	sg->success = true;
	sg->fired = true;
	return sg->task;
}

/* After a lock-free operation that saw a waiter (and counted itself in
 * wakers): its last touch of c is the decrement. */
__attribute__((noinline)) static void wake_retry(rg_chan *c, rg__waitq *q)
{
	rg__spin_lock(&c->lock);
	rg__task *t = claim_retry(c, q);
	rg__spin_unlock(&c->lock);
	atomic_fetch_sub_explicit(&c->wakers, 1, memory_order_release);
	if (t)
		rg__ready(t);
}

/* Unbuffered, lock held.  1 done (*wake: a task to ready after unlocking),
 * 0 would block, -EPIPE closed. */
static inline __attribute__((always_inline)) int send_locked(rg_chan *c, const void *ep, rg__task **wake)
{
	if (is_closed(c))
		return -EPIPE;
	rg__sudog *sg = chan_claim(c, &c->recvq);
	if (sg) {
		if (sg->elem)
			elem_copy(sg->elem, ep, c->elemsize);
		sg->success = true;
		sg->fired = true;
		*wake = sg->task;
		return 1;
	}
	return 0;
}

/* Unbuffered, lock held.  1 done (*ok set, *wake maybe), 0 would block. */
static inline __attribute__((always_inline)) int recv_locked(rg_chan *c, void *ep, bool *ok, rg__task **wake)
{
	rg__sudog *sg = chan_claim(c, &c->sendq);
	if (sg) {
		if (ep)
			elem_copy(ep, sg->elem, c->elemsize);
		sg->success = true;
		sg->fired = true;
		*wake = sg->task;
		*ok = true;
		return 1;
	}
	if (is_closed(c)) {
		if (ep && c->elemsize)
			memset(ep, 0, c->elemsize);
		*ok = false;
		return 1;
	}
	return 0;
}

/* Either kind, c's lock held and c frozen by the caller (select's first
 * pass).  As send_locked. */
static inline int try_send_locked(rg_chan *c, const void *ep, rg__task **wake)
{
	if (!c->cap)
		return send_locked(c, ep, wake);
	bool waiter;
	int r = buf_send_frz(c, ep, &waiter, FROZEN);
	if (r > 0 && waiter)
		*wake = claim_retry(c, &c->recvq);
	return r;
}

static inline int try_recv_locked(rg_chan *c, void *ep, bool *ok, rg__task **wake)
{
	if (!c->cap)
		return recv_locked(c, ep, ok, wake);
	bool waiter;
	int r = buf_recv_frz(c, ep, ok, &waiter, FROZEN);
	if (r > 0 && waiter)
		*wake = claim_retry(c, &c->sendq);
	return r;
}

/* A NULL channel, or a select with no channel: wait for the deadline (or
 * the bound context). */
static int block_forever(int reason, int64_t deadline)
{
	if (deadline == 0)
		return -EAGAIN;
	rg__task *self = rg__self_parkable();
	if (!self)
		return -EPERM;
	int r;
	do
		r = rg__park_ctx(self, reason, deadline, rg__park_prepare_self(self), NULL, NULL);
	while (r == 0);
	return r == -EAGAIN ? rg__ctx_bound_err() : r;
}

/* Buffered: parks until woken (0: retry), or the deadline or the bound
 * Context's end (its error).  Returns 1 without parking when the Dekker
 * re-check (I3) finds the operation possible after all.  front: the
 * caller was woken before and lost the value (the room) to a task that
 * never waited; it waits again at the head of the queue, not behind the
 * tasks that parked after it (Go hands the value to the first waiter). */
static int buf_wait(rg_chan *c, rg__waitq *q, int reason, int64_t deadline, rg__task *self, bool front)
{
	rg__sudog sg;
	sg.task = self;
	sg.elem = NULL;
	sg.c = c;
	sg.success = sg.fired = sg.dup = false;
	rg_ctx *bound = rg__bound_ctx(self);
	sg.sole = rg__park_sole(bound, deadline);
	rg__spin_lock(&c->lock);
	sg.ticket = rg__park_prepare_self(self);
	q_fresh(c);
	if (front)
		rg__waitq_push_front(q, &sg);
	else
		rg__waitq_push(q, &sg);
	atomic_thread_fence(memory_order_seq_cst);
	if (!(q == &c->recvq ? buf_empty(c) : buf_full(c))) {
		rg__waitq_remove(q, &sg);
		rg__spin_unlock(&c->lock);
		return 1;
	}
	int r = rg__park_in(bound, self, reason, deadline, sg.ticket, rg__spin_unlock_cb, &c->lock);
	if (r == 0)
		return 0;
	rg__spin_lock(&c->lock);
	if (sg.linked)
		rg__waitq_remove(q, &sg);
	rg__spin_unlock(&c->lock);
	return r;
}

/*
 * A blocking operation that found the buffer empty (a receive) or full (a
 * send) first waits a little, as Go's mutex spins, while another P runs
 * (the other side may be a few instructions from making progress) and
 * this P has nothing else to do: four rounds of 30 pauses, each ending
 * with one look at the slot the operation would take, a line it needs
 * anyway.  Without it a receiver that keeps catching up with its sender
 * reads the senders' tail, then takes the lock and links itself into
 * recvq, and the sender's next claim misses on both lines (its seq_cst
 * load of recvq.first); it parks and costs the sender a wake on top.
 * true: the slot changed, try again (the rounds are counted across
 * tries: another task may take what we saw).
 */
static bool buf_spin(rg_chan *c, bool recv, int *iter)
{
	while (rg__sync_can_spin((*iter)++)) {
		for (int i = 0; i < 30; i++)
			rg__cpu_relax();
		uint64_t x = atomic_load_explicit(recv ? &c->head : &c->tail, memory_order_relaxed);
		if (x & FROZEN)
			return false;
		if (!recv && (x & c->mark))
			return true; /* closed: the send fails at once */
		uint64_t st = atomic_load_explicit(&slot_at(c, x)->stamp, memory_order_relaxed);
		/* receive: ready once its send published (h + 1); send: free
		 * once the previous lap's receive freed it (== t) */
		if (recv ? st == x + 1 : st == x)
			return true;
	}
	return false;
}

__attribute__((noinline)) static int buf_send_slow(rg_chan *c, const void *ep, int64_t deadline)
{
	rg__task *self = rg__self_parkable();
	if (!self)
		return -EPERM;
	int r;
	for (int iter = 0; buf_spin(c, false, &iter);)
		if ((r = buf_send(c, ep)) != 0)
			return r < 0 ? r : 0;
	for (bool woken = false;;) {
		r = buf_wait(c, &c->sendq, RG__WAIT_CHAN_SEND, deadline, self, woken);
		if (r < 0)
			return r;
		woken = woken || r == 0;
		if ((r = buf_send(c, ep)) != 0)
			return r < 0 ? r : 0;
	}
}

__attribute__((noinline)) static int buf_recv_slow(rg_chan *c, void *ep, bool *ok, int64_t deadline)
{
	rg__task *self = rg__self_parkable();
	if (!self)
		return -EPERM;
	for (int iter = 0; buf_spin(c, true, &iter);)
		if (buf_recv(c, ep, ok))
			return 0;
	for (bool woken = false;;) {
		int r = buf_wait(c, &c->recvq, RG__WAIT_CHAN_RECV, deadline, self, woken);
		if (r < 0)
			return r;
		woken = woken || r == 0;
		if (buf_recv(c, ep, ok))
			return 0;
	}
}

static inline __attribute__((always_inline)) int chan_send(rg_chan *c, const void *ep, int64_t deadline)
{
	if (!c)
		return block_forever(RG__WAIT_CHAN_SEND, deadline);
	/* No value to copy: the copy faulted, and not always in the caller.
	 * A sender that parked left NULL in its record, and the receiver
	 * that took it crashed in its own call (tests/sync/
	 * test_nullsend.c); on a buffered channel the slot was claimed
	 * before the fault. */
	if (__builtin_expect(!ep && c->elemsize, 0))
		return -EINVAL;
	if (c->cap) {
		int r = buf_send(c, ep);
		if (r != 0)
			return r < 0 ? r : 0;
		return deadline == 0 ? -EAGAIN : buf_send_slow(c, ep, deadline);
	}
	if (deadline == 0 && !is_closed(c) && rg__waitq_empty(&c->recvq))
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
	if (deadline == 0 || !(sg.task = rg__self_parkable())) {
		rg__spin_unlock(&c->lock);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}
	sg.ticket = rg__park_prepare_self(sg.task);
	sg.elem = (void *)ep;
	sg.c = c;
	sg.success = sg.fired = sg.dup = false;
	rg_ctx *bound = rg__bound_ctx(sg.task);
	sg.sole = rg__park_sole(bound, deadline);
	q_fresh(c);
	rg__waitq_push(&c->sendq, &sg);
	r = rg__park_in(bound, sg.task, RG__WAIT_CHAN_SEND, deadline, sg.ticket, rg__spin_unlock_cb, &c->lock);
	if (r == 0)
		return sg.success ? 0 : -EPIPE;
	rg__spin_lock(&c->lock);
	if (sg.linked)
		rg__waitq_remove(&c->sendq, &sg);
	rg__spin_unlock(&c->lock);
	return r;
}

static inline __attribute__((always_inline)) int chan_recv(rg_chan *c, void *ep, bool *okp, int64_t deadline)
{
	bool ok_dummy;
	bool *ok = okp ? okp : &ok_dummy;
	if (!c)
		return block_forever(RG__WAIT_CHAN_RECV, deadline);
	if (c->cap) {
		if (buf_recv(c, ep, ok))
			return 0;
		return deadline == 0 ? -EAGAIN : buf_recv_slow(c, ep, ok, deadline);
	}
	if (deadline == 0 && rg__waitq_empty(&c->sendq)) {
		/* an acquire, as every other path that reports the close:
		 * the close happens before a receive that returns because
		 * of it (Go's memory model), polled or not */
		if (!rg__chan_closed(c))
			return -EAGAIN;
		/* closed: it stays closed, so if still empty it is drained
		 * for good */
		if (rg__waitq_empty(&c->sendq)) {
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
	if (deadline == 0 || !(sg.task = rg__self_parkable())) {
		rg__spin_unlock(&c->lock);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}
	sg.ticket = rg__park_prepare_self(sg.task);
	sg.elem = c->elemsize ? ep : NULL;
	sg.c = c;
	sg.success = sg.fired = sg.dup = false;
	rg_ctx *bound = rg__bound_ctx(sg.task);
	sg.sole = rg__park_sole(bound, deadline);
	q_fresh(c);
	rg__waitq_push(&c->recvq, &sg);
	int r = rg__park_in(bound, sg.task, RG__WAIT_CHAN_RECV, deadline, sg.ticket, rg__spin_unlock_cb, &c->lock);
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

/* The public calls: counted when made by a thread without a P (see
 * rg__pless_wake_begin). */
int rg_chan_send(rg_chan *c, const void *ep, int64_t deadline)
{
	bool pl = rg__pless_wake_begin();
	int r = chan_send(c, ep, deadline);
	rg__pless_wake_end(pl);
	return r;
}

int rg_chan_recv(rg_chan *c, void *ep, bool *okp, int64_t deadline)
{
	bool pl = rg__pless_wake_begin();
	int r = chan_recv(c, ep, okp, deadline);
	rg__pless_wake_end(pl);
	return r;
}

int rg_chan_close(rg_chan *c)
{
	bool pl = rg__pless_wake_begin();
	rg__readyq q = RG__READYQ_INIT;
	int r = rg__chan_close_q(c, &q);
	rg__readyq_flush(&q);
	rg__pless_wake_end(pl);
	return r;
}

bool rg__chan_closed(rg_chan *c)
{
	return (atomic_load_explicit(&c->tail, memory_order_acquire) & c->mark) != 0;
}

void rg__chan_track_epoch(rg_chan *c)
{
	rg__spin_lock(&c->lock);
	c->q_epoch = rg__ctx_epoch_now();
	rg__spin_unlock(&c->lock);
}

int rg__chan_close_q(rg_chan *c, rg__readyq *q)
{
	if (!c)
		return -EINVAL;
	rg__spin_lock(&c->lock);
	if (is_closed(c)) {
		rg__spin_unlock(&c->lock);
		return -EPIPE;
	}
	q_fresh(c);
	atomic_fetch_or(&c->tail, c->mark);
	/* claimed waiters in wake order (oldest first), readied after unlock */
	rg__sudog *list = NULL, **tail = &list, *sg;
	while ((sg = rg__waitq_claim(&c->recvq))) {
		if (!c->cap && sg->elem && c->elemsize)
			memset(sg->elem, 0, c->elemsize);
		sg->success = false;
		sg->fired = true;
		*tail = sg;
		tail = &sg->next;
	}
	while ((sg = rg__waitq_claim(&c->sendq))) {
		sg->success = false;
		sg->fired = true;
		*tail = sg;
		tail = &sg->next;
	}
	*tail = NULL;
	rg__spin_unlock(&c->lock);
	while (list) {
		/* read both before ready: the record dies with its task's frame */
		rg__sudog *next = list->next;
		rg__task *t = list->task;
		rg__readyq_add(q, t);
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

/* Every distinct channel but skip (NULL: all), in order. */
static void sel_lock_all(struct sel_lock *order, int n, rg_chan *skip)
{
	rg_chan *prev = NULL;
	for (int i = 0; i < n; i++)
		if (order[i].c != prev) {
			prev = order[i].c;
			if (prev != skip)
				rg__spin_lock(&prev->lock);
		}
}

static void sel_unlock_all(struct sel_lock *order, int n, rg_chan *skip)
{
	rg_chan *prev = NULL;
	for (int i = 0; i < n; i++)
		if (order[i].c != prev) {
			prev = order[i].c;
			if (prev != skip)
				rg__spin_unlock(&prev->lock);
		}
}

/* A select's poll must see all its channels at one instant, as Go's, which
 * locks them all.  Lock-free operations on a buffered channel ignore its
 * lock, so while select holds it, it also freezes the ring: FROZEN in tail
 * and head makes every claim but the select's own fail (the operation then
 * waits for the lock), and the receives claimed before are let finish
 * (their frees are what a send case sees).  Sends claimed before are seen
 * as values by a receive case, which waits for them to be published. */
static void freeze(rg_chan *c)
{
	atomic_fetch_or(&c->tail, FROZEN);
	uint64_t h = atomic_fetch_or(&c->head, FROZEN);
	wait_freed(c, h & ~FROZEN);
}

static void thaw(rg_chan *c)
{
	atomic_fetch_and(&c->head, ~FROZEN);
	atomic_fetch_and(&c->tail, ~FROZEN);
}

static void sel_lock_freeze_all(struct sel_lock *order, int n)
{
	rg_chan *prev = NULL;
	for (int i = 0; i < n; i++)
		if (order[i].c != prev) {
			prev = order[i].c;
			rg__spin_lock(&prev->lock);
			if (prev->cap)
				freeze(prev);
		}
}

static void sel_thaw_unlock_all(struct sel_lock *order, int n)
{
	rg_chan *prev = NULL;
	for (int i = 0; i < n; i++)
		if (order[i].c != prev) {
			prev = order[i].c;
			if (prev->cap)
				thaw(prev);
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
		if (c->cap)
			thaw(c);
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
		r = chan_send(k->ch, k->val, deadline);
		if (r == 0 || r == -EPIPE) {
			k->ok = r == 0;
			return idx;
		}
		return r;
	}
	r = chan_recv(k->ch, k->val, &k->ok, deadline);
	return r == 0 ? idx : r;
}

static int select_slow(rg_select_case *cases, int n, int64_t deadline);

/* rg_select is also rg__select, what the inline fast path of ringo/sync.h
 * calls when it cannot decide. */
int rg__select(rg_select_case *cases, int n, int64_t deadline) __attribute__((alias("rg_select")));

static inline int select_impl(rg_select_case *cases, int n, int64_t deadline);

int rg_select(rg_select_case *cases, int n, int64_t deadline)
{
	bool pl = rg__pless_wake_begin();
	int r = select_impl(cases, n, deadline);
	rg__pless_wake_end(pl);
	return r;
}

static inline int select_impl(rg_select_case *cases, int n, int64_t deadline)
{
	/* select { case ch <- v: ... default: }: on a buffered channel the
	 * send itself (what the inline check of ringo/sync.h calls when it
	 * found room: the fewer steps from seeing the slot free to filling
	 * it, the less the receiver working beside it can take the line
	 * away); on an unbuffered one with no receiver, -EAGAIN; the rest is
	 * a tail call */
	if (n == 1 && deadline == 0 && cases) {
		rg_chan *c = cases->ch;
		/* (a send of nothing: chan_send's -EINVAL, below) */
		if (c && cases->dir == RG_SELECT_SEND && (cases->val || !c->elemsize)) {
			if (c->cap) {
				int r = buf_send(c, cases->val);
				if (r == 0)
					return -EAGAIN;
				cases->ok = r > 0;
				return 0;
			}
			if (!is_closed(c) && rg__waitq_empty(&c->recvq))
				return -EAGAIN;
		}
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
		/* as chan_send: a parked record with no value crashed the
		 * receiver that took it */
		if (cases[i].dir == RG_SELECT_SEND && cases[i].ch && !cases[i].val && cases[i].ch->elemsize)
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

/* Scratch space of one select: poll order, lock order, records, and the
 * heap block holding them (NULL: on the stack). */
struct sel_scratch {
	int *poll;
	struct sel_lock *order;
	rg__sudog **sgs;
	void *heap;
};

/* What a parked select owns on the heap: its n records (from the per-P
 * pool) and its scratch block.  In the task's RG__TSLOT_SEL while it is
 * parked, so that sel_at_stop can free them if rg_run discards the task
 * (before, every select left parked when main returned leaked its
 * records: test_select_adversarial's teardown_select, under ASan). */
struct sel_parked {
	rg__sudog **sgs;
	int n;
	void *heap;
};

static void sel_free_parked(rg__task *t, void *arg)
{
	void **slot = rg__task_slot(t, RG__TSLOT_SEL);
	struct sel_parked *sp = *slot;
	if (!sp)
		return;
	*slot = NULL;
	for (int k = 0; k < sp->n; k++)
		rg__free(sp->sgs[k]);
	rg__free(sp->heap);
}

/* rg_run's stop hook: no task runs any more, the discarded ones' stacks
 * (where sel_parked lives) are still mapped.  The channels still link the
 * records: "free its memory only" (rg_run), and rg_chan_free reads none. */
static void sel_at_stop(void)
{
	rg__pless_wakers_wait(); /* a thread's wake in progress: done first */
	rg__ctx_at_stop(); /* first: no cancel may claim what is freed here */
	rg__for_each_task(sel_free_parked, NULL);
}

__attribute__((constructor)) static void chan_init(void) { rg__at_stop(sel_at_stop); }

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
		struct sel_scratch sc = { poll, order, sgs, NULL };
		return select_run(cases, n, deadline, &sc);
	}
	size_t a = (size_t)active;
	char *mem = rg__malloc(a * (sizeof(int) + sizeof(struct sel_lock) + sizeof(rg__sudog *)));
	if (!mem)
		return -ENOMEM;
	struct sel_scratch sc = { (int *)(mem + a * (sizeof(struct sel_lock) + sizeof(rg__sudog *))),
		                  (struct sel_lock *)mem, (rg__sudog **)(mem + a * sizeof(struct sel_lock)), mem };
	int r = select_run(cases, n, deadline, &sc);
	rg__free(mem);
	return r;
}

/* A buffered case, with no lock held: 1 done (cs->ok set), 0 would block. */
static int buf_case_try(rg_select_case *cs)
{
	rg_chan *c = cs->ch;
	if (cs->dir == RG_SELECT_RECV)
		return buf_recv(c, cs->val, &cs->ok);
	int r = buf_send(c, cs->val);
	if (r == 0)
		return 0;
	cs->ok = r > 0;
	return 1;
}

static inline rg__waitq *case_queue(rg_select_case *cs)
{
	return cs->dir == RG_SELECT_RECV ? &cs->ch->recvq : &cs->ch->sendq;
}

static int select_run(rg_select_case *cases, int n, int64_t deadline, struct sel_scratch *sc)
{
	int *poll = sc->poll;
	struct sel_lock *order = sc->order;
	rg__sudog **sgs = sc->sgs;
	for (;;) {
		/* Poll order: a uniform random permutation of the active
		 * cases.  Lock order: by channel address. */
		int np = 0;
		bool buffered = false;
		for (int i = 0; i < n; i++) {
			if (!cases[i].ch)
				continue;
			buffered |= cases[i].ch->cap != 0;
			int j = (int)(rg__sync_rand() % (uint32_t)(np + 1));
			poll[np] = poll[j];
			poll[j] = i;
			np++;
		}
		/* From the poll order, then sorted by channel (stable up to 16
		 * cases; above, qsort, which only shuffles duplicates further):
		 * records of duplicate channels are enqueued in random order too. */
		for (int k = 0; k < np; k++) {
			order[k].c = cases[poll[k]].ch;
			order[k].idx = poll[k];
		}
		sort_locks(order, np);
		sel_lock_freeze_all(order, np);

		rg__task *self;
		uint64_t ticket;
		for (;;) {
			/* Pass 1: anything ready? */
			for (int k = 0; k < np; k++) {
				int i = poll[k];
				rg_select_case *cs = &cases[i];
				rg__task *w = NULL;
				int r;
				if (cs->dir == RG_SELECT_RECV) {
					r = try_recv_locked(cs->ch, cs->val, &cs->ok, &w);
				} else {
					r = try_send_locked(cs->ch, cs->val, &w);
					if (r != 0)
						cs->ok = r > 0;
				}
				if (r != 0) {
					sel_thaw_unlock_all(order, np);
					if (w)
						rg__ready(w);
					return i;
				}
			}
			if (deadline == 0 || !(self = rg__self_parkable())) {
				sel_thaw_unlock_all(order, np);
				return deadline == 0 ? -EAGAIN : -EPERM;
			}

			/* Pass 2: one record per case, all under one ticket. */
			ticket = rg__park_prepare_self(self);
			for (int k = 0; k < np; k++) {
				int i = order[k].idx;
				rg_select_case *cs = &cases[i];
				rg__sudog *sg = rg__sudog_get();
				if (!sg) {
					/* out of memory (the header's -ENOMEM;
					 * it aborted): take back what is linked */
					for (int j = 0; j < k; j++) {
						rg__waitq_remove(case_queue(&cases[sgs[j]->idx]), sgs[j]);
						rg__sudog_put(sgs[j]);
					}
					sel_thaw_unlock_all(order, np);
					return -ENOMEM;
				}
				sg->task = self;
				sg->ticket = ticket;
				sg->elem = !cs->ch->cap && cs->ch->elemsize ? cs->val : NULL;
				sg->c = cs->ch;
				sg->idx = i;
				sg->success = sg->fired = sg->sole = false;
				sg->arg = cs->ch->cap != 0; /* read again only here: see pass 3 */
				sg->dup = (k > 0 && order[k - 1].c == cs->ch) || (k + 1 < np && order[k + 1].c == cs->ch);
				q_fresh(cs->ch);
				rg__waitq_push(case_queue(cs), sg);
				sgs[k] = sg;
			}
			if (!buffered)
				break;
			/* I3: a buffered case that became ready while we were
			 * not yet visible would wake no one: look again. */
			atomic_thread_fence(memory_order_seq_cst);
			bool ready = false;
			for (int k = 0; k < np && !ready; k++) {
				rg_select_case *cs = &cases[order[k].idx];
				if (cs->ch->cap)
					ready = cs->dir == RG_SELECT_RECV ? !buf_empty(cs->ch) : !buf_full(cs->ch);
			}
			if (!ready)
				break;
			for (int k = 0; k < np; k++) {
				rg__waitq_remove(case_queue(&cases[sgs[k]->idx]), sgs[k]);
				rg__sudog_put(sgs[k]);
			}
		}

		/* Park once. */
		struct sel_state st = { order, np };
		struct sel_parked sp = { sgs, np, sc->heap };
		void **slot = rg__task_slot(self, RG__TSLOT_SEL);
		*slot = &sp;
		int r = rg__park_ctx(self, RG__WAIT_SELECT, deadline, ticket, sel_unlock_cb, &st);
		*slot = NULL;

		/* Pass 3: unlink the records that did not fire, except on the
		 * fired record's channel: its claimer unlinked it and any
		 * other record of ours there (chan_claim), and the other side
		 * of the exchange may have freed that channel already
		 * (rg_chan_free).  fired and success were written before our
		 * ready, and no claim can come after our park ended. */
		int chosen = -1;
		bool ok = false;
		rg_chan *fired_c = NULL;
		bool fired_buf = false;
		for (int k = 0; k < np; k++)
			if (sgs[k]->fired) {
				chosen = sgs[k]->idx;
				ok = sgs[k]->success;
				fired_c = order[k].c;
				fired_buf = sgs[k]->arg;
			}
		sel_lock_all(order, np, fired_c);
		for (int k = 0; k < np; k++) {
			rg__sudog *sg = sgs[k];
			if (order[k].c != fired_c && sg->linked)
				rg__waitq_remove(case_queue(&cases[sg->idx]), sg);
		}
		sel_unlock_all(order, np, fired_c);
		for (int k = 0; k < np; k++)
			rg__sudog_put(sgs[k]);
		if (r != 0 || chosen < 0)
			return r == 0 ? -EAGAIN : r;
		if (!fired_buf) {
			cases[chosen].ok = ok;
			return chosen;
		}
		/* Buffered (I3): woken to retry; the case that woke us first. */
		if (buf_case_try(&cases[chosen]))
			return chosen;
	}
}
