/*
 * sync/wait.c — WaitGroup (Go's sync.WaitGroup, with a deadline) and the
 * weighted semaphore (golang.org/x/sync/semaphore: FIFO, so a large
 * request is not starved by small ones).
 */
#include <errno.h>

#include "sync/sync_int.h"

/* --- WaitGroup ------------------------------------------------------------- */

struct wg_impl {
	_Atomic int64_t count; /* atomic */
	rg__spin lock;         /* guards q */
	uint32_t _pad;
	rg__waitq q;           /* lock: waiters */
};
_Static_assert(sizeof(struct wg_impl) <= sizeof(rg_waitgroup), "rg_waitgroup too small");

/* Waiters check count under the lock; whoever brings it to zero takes the
 * lock after that, so it sees every waiter that saw a non-zero count. */
void rg_waitgroup_add(rg_waitgroup *wgv, int64_t delta)
{
	struct wg_impl *wg = (struct wg_impl *)wgv;
	int64_t v = atomic_fetch_add_explicit(&wg->count, delta, memory_order_acq_rel) + delta;
	if (v < 0)
		rg__fatal("sync: negative WaitGroup counter");
	if (v != 0 || delta == 0)
		return;
	rg__spin_lock(&wg->lock);
	rg__sudog *list = NULL, *s;
	while ((s = rg__waitq_claim(&wg->q))) {
		s->next = list;
		list = s;
	}
	rg__spin_unlock(&wg->lock);
	while (list) {
		rg__sudog *n = list->next;
		rg__task *t = list->task;
		rg__ready(t);
		list = n;
	}
}

void rg_waitgroup_done(rg_waitgroup *wg) { rg_waitgroup_add(wg, -1); }

int rg_waitgroup_wait(rg_waitgroup *wgv, int64_t deadline)
{
	struct wg_impl *wg = (struct wg_impl *)wgv;
	if (atomic_load_explicit(&wg->count, memory_order_acquire) == 0)
		return 0;
	if (deadline == 0)
		return -EAGAIN;
	rg__task *self = rg__self();
	if (!self)
		return -EPERM;
	rg__spin_lock(&wg->lock);
	if (atomic_load_explicit(&wg->count, memory_order_acquire) == 0) {
		rg__spin_unlock(&wg->lock);
		return 0;
	}
	rg__sudog sg = { .task = self };
	sg.ticket = rg__park_prepare();
	rg__waitq_push(&wg->q, &sg);
	int r = rg__park_ctx(RG__WAIT_WAITGROUP, deadline, sg.ticket, rg__spin_unlock_cb, &wg->lock);
	if (r == 0)
		return 0;
	rg__spin_lock(&wg->lock);
	if (sg.linked)
		rg__waitq_remove(&wg->q, &sg);
	rg__spin_unlock(&wg->lock);
	/* the count may have reached zero meanwhile: report success then,
	 * as a caller would have on the next check */
	return atomic_load_explicit(&wg->count, memory_order_acquire) == 0 ? 0 : r;
}

/* --- weighted semaphore ------------------------------------------------------ */

struct wsema {
	rg__spin lock;  /* guards everything below */
	uint32_t _pad;
	int64_t size;   /* const after init */
	int64_t cur;    /* lock: units held */
	rg__waitq q;    /* lock: FIFO waiters, arg = units wanted */
};
_Static_assert(sizeof(struct wsema) <= sizeof(rg_sema), "rg_sema too small");

void rg_sema_init(rg_sema *sv, int64_t size)
{
	memset(sv, 0, sizeof *sv);
	((struct wsema *)sv)->size = size;
}

/* Lock held: grant waiters from the head while they fit; chain the
 * claimed ones on *list. */
static void notify_waiters(struct wsema *s, rg__sudog **list)
{
	rg__sudog *w;
	while ((w = atomic_load_explicit(&s->q.first, memory_order_relaxed))) {
		if (s->size - s->cur < (int64_t)w->arg)
			break; /* FIFO: nobody passes the head */
		rg__waitq_remove(&s->q, w);
		if (!rg__claim(w->task, w->ticket))
			continue; /* timed out */
		s->cur += (int64_t)w->arg;
		w->next = *list;
		*list = w;
	}
}

static void ready_list(rg__sudog *list)
{
	while (list) {
		rg__sudog *n = list->next;
		rg__task *t = list->task;
		rg__ready(t);
		list = n;
	}
}

bool rg_sema_try_acquire(rg_sema *sv, int64_t n)
{
	struct wsema *s = (struct wsema *)sv;
	if (n < 0)
		return false;
	rg__spin_lock(&s->lock);
	bool ok = s->size - s->cur >= n && rg__waitq_empty(&s->q);
	if (ok)
		s->cur += n;
	rg__spin_unlock(&s->lock);
	return ok;
}

int rg_sema_acquire(rg_sema *sv, int64_t n, int64_t deadline)
{
	struct wsema *s = (struct wsema *)sv;
	if (n < 0 || n > s->size)
		return -EINVAL;
	rg__spin_lock(&s->lock);
	if (s->size - s->cur >= n && rg__waitq_empty(&s->q)) {
		s->cur += n;
		rg__spin_unlock(&s->lock);
		return 0;
	}
	rg__task *self;
	if (deadline == 0 || !(self = rg__self())) {
		rg__spin_unlock(&s->lock);
		return deadline == 0 ? -EAGAIN : -EPERM;
	}
	rg__sudog sg = { .task = self, .arg = (uint64_t)n };
	sg.ticket = rg__park_prepare();
	rg__waitq_push(&s->q, &sg);
	int r = rg__park_ctx(RG__WAIT_SEMA, deadline, sg.ticket, rg__spin_unlock_cb, &s->lock);
	if (r == 0)
		return 0; /* granted by a release */
	rg__sudog *list = NULL;
	rg__spin_lock(&s->lock);
	if (sg.linked) {
		bool front = atomic_load_explicit(&s->q.first, memory_order_relaxed) == &sg;
		rg__waitq_remove(&s->q, &sg);
		/* we were blocking the head: others may fit now */
		if (front && s->size > s->cur)
			notify_waiters(s, &list);
	}
	rg__spin_unlock(&s->lock);
	ready_list(list);
	return r;
}

void rg_sema_release(rg_sema *sv, int64_t n)
{
	struct wsema *s = (struct wsema *)sv;
	rg__sudog *list = NULL;
	rg__spin_lock(&s->lock);
	s->cur -= n;
	if (s->cur < 0 || n < 0) {
		rg__spin_unlock(&s->lock);
		rg__fatal("sync: semaphore released more than held");
	}
	notify_waiters(s, &list);
	rg__spin_unlock(&s->lock);
	ready_list(list);
}
