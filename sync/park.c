/*
 * sync/park.c — what every primitive of sync/ parks with: the spinlock of
 * wait queues, the per-P pool of waiter records, cheap random numbers and
 * the spin policy.
 */
#include <sched.h>
#include <stdlib.h>

#include "sync/sync_int.h"

void rg__spin_lock_slow(rg__spin *l)
{
	for (unsigned i = 0;; i++) {
		while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
			if (i < 64) {
				rg__cpu_relax();
				i++;
			} else {
				/* the holder's thread was preempted by the OS:
				 * give it the CPU */
				sched_yield();
			}
		}
		if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
			return;
	}
}

bool rg__spin_unlock_cb(rg__task *t, void *arg)
{
	(void)t;
	rg__spin_unlock(arg);
	return true;
}

_Atomic int rg__pless_wakers;

void rg__pless_wakers_wait(void)
{
	while (atomic_load(&rg__pless_wakers))
		sched_yield();
}

/* --- waiter records pooled per P --------------------------------------- */

#define POOL_MAX 256

/* Owned by one P: touched only by its thread, between parks. */
struct sudog_pool {
	rg__sudog *free;
	int n;
};

static void pool_dtor(void *v)
{
	struct sudog_pool *pp = v;
	while (pp->free) {
		rg__sudog *s = pp->free;
		pp->free = s->next;
		rg__free(s);
	}
	rg__free(pp);
}

static struct sudog_pool *pool_of(rg__p *p)
{
	struct sudog_pool *pp = rg__p_slot(p, RG__SLOT_SYNC);
	if (!pp) {
		pp = rg__calloc(1, sizeof *pp);
		if (!pp)
			return NULL;
		rg__p_slot_set(p, RG__SLOT_SYNC, pp, pool_dtor);
	}
	return pp;
}

rg__sudog *rg__sudog_get(void)
{
	rg__p *p = rg__getp();
	struct sudog_pool *pp = p ? pool_of(p) : NULL;
	rg__sudog *s;
	if (pp && pp->free) {
		s = pp->free;
		pp->free = s->next;
		pp->n--;
	} else {
		s = rg__malloc(sizeof *s);
		if (!s)
			return NULL;
	}
	memset(s, 0, sizeof *s);
	return s;
}

void rg__sudog_put(rg__sudog *s)
{
	rg__p *p = rg__getp();
	struct sudog_pool *pp = p ? pool_of(p) : NULL;
	if (pp && pp->n < POOL_MAX) {
		s->next = pp->free;
		pp->free = s;
		pp->n++;
		return;
	}
	rg__free(s);
}

/* --- random ------------------------------------------------------------ */

static __thread uint64_t rand_state;

__attribute__((noinline)) uint32_t rg__sync_rand(void)
{
	uint64_t x = rand_state;
	if (__builtin_expect(x == 0, 0))
		x = (uint64_t)(uintptr_t)&rand_state ^ (uint64_t)rg_now() ^ 0x9E3779B97F4A7C15ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rand_state = x;
	return (uint32_t)(x >> 32);
}

/* Go's canSpin: a few rounds, only while another P runs (the holder may
 * be about to unlock) and this P has nothing else queued (core decides). */
bool rg__sync_can_spin(int iter)
{
	return rg__can_spin(iter);
}
