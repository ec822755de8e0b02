/*
 * gc/malloc.c — the allocator: size classes, per-P caches, central lists.
 *
 * Design (after Go's runtime/malloc.go, read it for the long version)
 * ===================================================================
 *
 * The heap is made of 8 KiB pages grouped into spans.  A small object
 * (up to 32 KiB) is rounded up to one of 67 size classes (sizeclass.c); a
 * span of a small class is cut into equal objects of that class.  A span
 * class is a size class plus a "noscan" bit: pointer-free objects live in
 * spans of their own, which the collector never reads.  Objects allocated
 * with a type (rg_gc_alloc_typed) live in scan spans of their own too, with
 * one type pointer per object beside the span (span->types).  A large
 * object (over 32 KiB) gets a span of its own straight from the page heap.
 *
 * Three levels, each faster and more local than the one below:
 *
 *   mcache     one per P, no locks and no atomics.  For each span class it
 *              holds one span; allocating is "take the lowest set bit of
 *              the span's 64-bit free mask" (span->alloc_cache, the free
 *              objects of one word of alloc_bits), plus zeroing when the
 *              span's memory may be dirty.  That is the whole fast path.
 *   mcentral   one per span class, a mutex and a list of swept spans with
 *              free objects (partial).  When an mcache's span runs out it
 *              takes a partial one here; the used-up span is on no list
 *              until the next sweep (a full list, as Go's, would only cost
 *              a lock per refill: a stop-the-world sweep walks all spans).
 *   mheap      (mheap.c) pages: a reserved range, 64 MiB arenas placed on
 *              the NUMA node of the P that asked, first-fit page runs, a
 *              per-page span map, and the scavenger that returns free pages
 *              to the OS.
 *
 * Allocation step by step (rg_gc_alloc, small):
 *   1. size -> size class with one table load; span class = class|noscan.
 *   2. the P's mcache (rg__getp_inline, then a per-thread (P, mcache)
 *      pair; the P's GC slot when the pair does not match).  Inline
 *      reads of the thread only where no safepoint comes between them
 *      and their use (the fast paths); the slow path reads by calls.
 *   3. mcache->alloc[span class]: if its free mask is non-zero, take the
 *      lowest bit, clear it, compute base + index * size, zero the object
 *      if the span needzero.  Done.
 *   4. Otherwise (slow path): fold the mask back into alloc_bits and load
 *      the next word of the span that has a free object.  If the span is
 *      full, stop at a safepoint (a collection may be waiting for this P),
 *      start a collection if the heap reached its goal, then hand the span
 *      back to its mcentral and take a partial one, or a fresh one from the
 *      heap.  If that fails (out of memory, or RINGO_MEMLIMIT), collect,
 *      and allocate again before the world restarts.
 *
 * Pointer-free objects under 16 bytes go through the tiny allocator: the
 * mcache keeps one 16-byte block and packs several tiny objects into it
 * (aligned to their size's natural alignment).  The block is freed only
 * when none of its objects is reachable.
 *
 * Threads without a P (the blocking pool, foreign threads, a program
 * outside rg_run) share one mcache under a mutex: the "locked slow path".
 * Inside rg_run they cannot stop the world: when they find no memory, a
 * task collects for them and allocates for them before the world
 * restarts (mgc.c, "collections asked for by threads without a P"); past
 * the heap goal they spawn a task to collect, and past it by an eighth
 * they wait for that collection (mgc.c, "pacing of threads without a
 * P").
 *
 * How the collector sees this: alloc_bits says which objects are allocated,
 * exactly, once every mcache has been flushed (rg__mcache_flush_all, world
 * stopped): that folds each cached mask back.  Mark sets mark_bits; sweep
 * makes mark_bits the new alloc_bits, clears the other, marks the span
 * needzero (freed objects hold old bytes) and files it in its mcentral, or
 * frees it to the heap when nothing in it survived.
 *
 * Accounting follows Go: when an mcache takes a span, all of the span's
 * free bytes count as allocated (heap_live); when it gives the span back,
 * the bytes it did not use are subtracted.  heap_live is what the
 * collector's goal is compared with, in the slow path only.
 */
#include <errno.h>
#include <string.h>

#include "gc/gc_int.h"


uint64_t rg__zerobase;

/* An mcache slot with nothing cached: its mask is empty, so the fast path
 * falls to the slow path without a NULL check. */
static rg__span empty_span = {.cache_word = -1};

static rg__mcentral central[RG__NUM_SPANCLASS];
static rg__mcentral central_typed[RG__NUM_CLASSES];
static pthread_once_t central_once = PTHREAD_ONCE_INIT;

/* Every mcache (caches_lock); the shared mcache of threads without a P
 * (every field under shared_lock). */
static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;
static rg__mcache *caches;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static rg__mcache shared_cache;
static bool shared_ready; /* shared_lock */
/* The stacks of threads without a P are never scanned (they keep running
 * during a collection).  So each such thread has a ring of the last
 * RG__RECENT objects it allocated, and every ring is a root: an object is
 * safe on that thread's stack until the thread has allocated RG__RECENT
 * more, time enough to store it somewhere the collector looks (however
 * many collections run meanwhile).  Rings are linked under shared_lock and
 * unlinked by a thread-exit destructor. */
#define RG__RECENT 256
struct recent {
	uintptr_t obj[RG__RECENT]; /* shared_lock */
	unsigned pos;              /* shared_lock */
	struct recent *next, **prev;
};
static struct recent *recents; /* shared_lock */
/* Threads without a P that have allocated and not exited (counted once per
 * thread, uncounted by count_dtor at its exit: an exited thread has no
 * stack left to hide objects in, so it no longer stops automatic
 * collections outside rg_run; the blocking pool's threads exit with each
 * rg_run).  The count has its own key: tied to the ring's, a thread whose
 * first allocation failed (no ring made) stayed counted after it exited,
 * and no collection ran outside rg_run again (found by the gc review). */
static _Atomic int foreign_threads;
static __thread bool tl_counted;
static __thread struct recent *tl_recent;
static pthread_key_t recent_key, count_key;
static pthread_once_t recent_once = PTHREAD_ONCE_INIT;

/* At thread exit.  Other key destructors may run after this one and
 * allocate: they must not find the freed ring (tl_recent), but make a new
 * one, which pthread_setspecific hands to a later destructor round. */
static void recent_dtor(void *v)
{
	struct recent *r = v;
	pthread_mutex_lock(&shared_lock);
	*r->prev = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (tl_recent == r)
		tl_recent = NULL;
	pthread_mutex_unlock(&shared_lock);
	rg__free(r);
}

/* At thread exit (again if a later destructor allocated: it counted the
 * thread anew and set the key again, for a later destructor round). */
static void count_dtor(void *v)
{
	if (tl_counted) {
		tl_counted = false;
		atomic_fetch_sub_explicit(&foreign_threads, 1, memory_order_relaxed);
	}
}
/* Whether each key was made: out of keys (PTHREAD_KEYS_MAX), key 0 would
 * be set, which is somebody else's.  Without it the ring stays a root and
 * the thread counted after exit: safe, as without memory below. */
static bool recent_key_ok, count_key_ok;

static void recent_init(void)
{
	recent_key_ok = pthread_key_create(&recent_key, recent_dtor) == 0;
	count_key_ok = pthread_key_create(&count_key, count_dtor) == 0;
}

/* shared_lock held: the calling thread's ring, made at its first use;
 * NULL: no memory */
static struct recent *recent_mine(void)
{
	struct recent *r = tl_recent;
	if (!r) {
		r = rg__calloc(1, sizeof *r);
		if (!r)
			return NULL;
		r->next = recents;
		r->prev = &recents;
		if (recents)
			recents->prev = &r->next;
		recents = r;
		tl_recent = r;
		if (recent_key_ok)
			pthread_setspecific(recent_key, r);
	}
	return r;
}

/* shared_lock held: remembers o in ring r (its thread's, which may be
 * another than the caller: a task allocating for a thread without a P
 * during the collection it asked for) */
static void recent_note(struct recent *r, uintptr_t o)
{
	r->obj[r->pos++ % RG__RECENT] = o;
}

int rg__foreign_threads(void) { return atomic_load_explicit(&foreign_threads, memory_order_relaxed); }

static void central_init(void)
{
	for (int i = 0; i < RG__NUM_SPANCLASS; i++)
		pthread_mutex_init(&central[i].lock, NULL);
	for (int i = 0; i < RG__NUM_CLASSES; i++)
		pthread_mutex_init(&central_typed[i].lock, NULL);
}

static void mcache_init(rg__mcache *c)
{
	for (int i = 0; i < RG__NUM_SPANCLASS; i++)
		c->alloc[i] = &empty_span;
	for (int i = 0; i < RG__NUM_CLASSES; i++)
		c->typed[i] = &empty_span;
	c->tiny = 0;
	c->tiny_off = 0;
	c->node = rg__heap_node_here();
}

static void mcache_register(rg__mcache *c)
{
	pthread_mutex_lock(&caches_lock);
	c->all_next = caches;
	c->all_prev = &caches;
	if (caches)
		caches->all_prev = &c->all_next;
	caches = c;
	pthread_mutex_unlock(&caches_lock);
}

static _Atomic unsigned cache_gen;
static void mcache_dtor(void *v)
{
	rg__mcache *c = v;
	atomic_fetch_add_explicit(&cache_gen, 1, memory_order_relaxed);
	rg__mcache_flush(c);
	pthread_mutex_lock(&caches_lock);
	*c->all_prev = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	pthread_mutex_unlock(&caches_lock);
	rg__free(c);
}

/* ---- spans ---------------------------------------------------------- */

static inline uint64_t word_valid(const rg__span *s, unsigned w)
{
	unsigned nw = (s->nelems + 63u) / 64u;
	unsigned tail = s->nelems % 64u;
	return (w == nw - 1 && tail) ? (1ull << tail) - 1 : ~(uint64_t)0;
}

static unsigned span_nalloc(const rg__span *s)
{
	unsigned n = 0, nw = (s->nelems + 63u) / 64u;
	for (unsigned w = 0; w < nw; w++)
		n += rg__popcount64(s->alloc_bits[w]);
	return n;
}

void rg__span_commit(rg__span *s)
{
	if (s->cache_word >= 0 && (unsigned)s->cache_word < (s->nelems + 63u) / 64u)
		s->alloc_bits[s->cache_word] |= word_valid(s, (unsigned)s->cache_word) & ~s->alloc_cache;
	s->cache_word = -1;
	s->alloc_cache = 0;
}

/* Zeroes the free objects of word w (mask f) in runs, so that the fast
 * path never has to: a span's free objects are dirty after a sweep, and
 * every object loaded into the cache is handed out soon. */
static void zero_free(rg__span *s, unsigned w, uint64_t f)
{
	while (f) {
		unsigned lo = (unsigned)__builtin_ctzll(f);
		uint64_t run = f >> lo;
		unsigned len = ~run ? (unsigned)__builtin_ctzll(~run) : 64u - lo;
		rg__memclr((void *)(s->base + ((size_t)w * 64 + lo) * s->elemsize), len * s->elemsize);
		f = len + lo >= 64 ? 0 : f & ~(((1ull << len) - 1) << lo);
	}
}

/* Loads the next word with a free object into the cache (its free objects
 * zeroed if the span needzero); false if the span is full. */
static bool span_next_word(rg__span *s)
{
	unsigned nw = (s->nelems + 63u) / 64u;
	int w = s->cache_word;
	if (w >= 0 && (unsigned)w < nw)
		s->alloc_bits[w] |= word_valid(s, (unsigned)w) & ~s->alloc_cache;
	for (unsigned i = (unsigned)(w + 1); i < nw; i++) {
		uint64_t f = ~s->alloc_bits[i] & word_valid(s, i);
		if (f) {
			s->cache_word = (int32_t)i;
			s->alloc_cache = f;
			s->cache_base = s->base + (size_t)i * 64 * s->elemsize;
			if (s->needzero)
				zero_free(s, i, f);
			return true;
		}
	}
	s->cache_word = (int32_t)nw;
	s->alloc_cache = 0;
	return false;
}

/* The fast path: one object from the span's cached mask, or NULL. */
static inline void *span_take(rg__span *s, size_t *idxp)
{
	uint64_t ac = s->alloc_cache;
	if (RG__UNLIKELY(!ac))
		return NULL;
	s->alloc_cache = ac & (ac - 1);
	size_t bit = (size_t)__builtin_ctzll(ac);
	*idxp = (size_t)s->cache_word * 64 + bit;
	return (void *)(s->cache_base + bit * s->elemsize); /* zeroed by span_next_word */
}

/* ---- mcentral ---------------------------------------------------------- */

static rg__mcentral *central_of(unsigned spc, bool typed)
{
	return typed ? &central_typed[spc >> 1] : &central[spc];
}

/* An mcache gives a span back.  A span with free objects goes on its
 * mcentral's partial list.  A used-up one (the usual case: mcaches give
 * spans back when they are full) goes nowhere: nothing allocates from it
 * before the next sweep, which finds it through the heap's list of all
 * spans, so it costs neither a lock nor an atomic. */
static void uncache_span(rg__span *s, bool typed)
{
	rg__span_commit(s);
	unsigned nalloc = span_nalloc(s);
	unsigned nfree = s->nelems - nalloc;
	s->next = NULL;
	/* total_alloc only grows: it counts the objects handed out while
	 * the span was cached, once given back (as Go's TotalAlloc) */
	if (nalloc > s->nalloc_cached)
		atomic_fetch_add_explicit(&rg__total_alloc,
		                          (uint64_t)(nalloc - s->nalloc_cached) * s->elemsize,
		                          memory_order_relaxed);
	if (!nfree)
		return;
	uint64_t unused = (uint64_t)nfree * s->elemsize;
	atomic_fetch_sub_explicit(&rg__heap_live, unused, memory_order_relaxed);
	rg__mcentral *m = central_of(s->spanclass, typed);
	pthread_mutex_lock(&m->lock);
	s->next = m->partial;
	m->partial = s;
	pthread_mutex_unlock(&m->lock);
}

/* A span with a free object for an mcache, or NULL (out of memory). */
static rg__span *cache_span(unsigned spc, bool typed, int node)
{
	rg__mcentral *m = central_of(spc, typed);
	pthread_mutex_lock(&m->lock);
	rg__span *s = m->partial;
	if (s)
		m->partial = s->next;
	pthread_mutex_unlock(&m->lock);
	if (!s) {
		unsigned sc = spc >> 1;
		s = rg__heap_alloc_span(rg__class_npages[sc], spc, typed, false, node);
		if (!s)
			return NULL;
	}
	s->next = NULL;
	s->cache_word = -1;
	s->alloc_cache = 0;
	s->was_cached = 1;
	unsigned nalloc = span_nalloc(s);
	s->nalloc_cached = (uint16_t)nalloc;
	uint64_t fresh = (uint64_t)(s->nelems - nalloc) * s->elemsize;
	atomic_fetch_add_explicit(&rg__heap_live, fresh, memory_order_relaxed);
	return s;
}

void rg__mcentral_reset(void)
{
	for (int i = 0; i < RG__NUM_SPANCLASS; i++)
		central[i].partial = NULL;
	for (int i = 0; i < RG__NUM_CLASSES; i++)
		central_typed[i].partial = NULL;
}

/* The sweeper files a swept span: on its partial list if it has room
 * (full spans are on no list, see uncache_span).  The world is stopped
 * and rg__mcache_world_lock held, as for rg__mcentral_reset: nothing else
 * touches an mcentral, so no lock (taking one per span was a third of the
 * sweep: 512 spans of 256-byte objects, 24 -> 18 us, RINGO_DEBUG=gctrace=1
 * bench_gc_heap 300 256). */
void rg__mcentral_put_swept(rg__span *s)
{
	s->next = NULL;
	if (s->nlive >= s->nelems)
		return;
	rg__mcentral *m = central_of(s->spanclass, s->typed);
	s->next = m->partial;
	m->partial = s;
}

/* ---- mcache ----------------------------------------------------------- */

void rg__mcache_flush(rg__mcache *c)
{
	for (int i = 0; i < RG__NUM_SPANCLASS; i++) {
		if (c->alloc[i] != &empty_span) {
			uncache_span(c->alloc[i], false);
			c->alloc[i] = &empty_span;
		}
	}
	for (int i = 0; i < RG__NUM_CLASSES; i++) {
		if (c->typed[i] != &empty_span) {
			uncache_span(c->typed[i], true);
			c->typed[i] = &empty_span;
		}
	}
	c->tiny = 0;
	c->tiny_off = 0;
}

/* The collector, world stopped: blocks threads without a P (shared_lock)
 * and the creation of mcaches (caches_lock) until rg__mcache_world_unlock,
 * and flushes every mcache. */
void rg__mcache_world_lock(void)
{
	pthread_mutex_lock(&shared_lock);
	pthread_mutex_lock(&caches_lock);
}
void rg__mcache_world_unlock(void)
{
	pthread_mutex_unlock(&caches_lock);
	pthread_mutex_unlock(&shared_lock);
}
/* The collector, under rg__mcache_world_lock: calls fn on each object in
 * the recent-allocation rings of threads without a P (but the caller's when
 * skip_mine: its stack is scanned instead). */
void rg__shared_recent_each(void (*fn)(uintptr_t), bool skip_mine)
{
	for (struct recent *r = recents; r; r = r->next)
		for (unsigned i = 0; i < RG__RECENT && !(skip_mine && r == tl_recent); i++)
			if (r->obj[i])
				fn(r->obj[i]);
}

void rg__mcache_flush_all(void)
{
	for (rg__mcache *c = caches; c; c = c->all_next)
		rg__mcache_flush(c);
	if (shared_ready)
		rg__mcache_flush(&shared_cache);
}

/* Refills c's span for span class spc; NULL when out of memory. */
static rg__span *refill(rg__mcache *c, unsigned spc, bool typed)
{
	rg__span **slot = typed ? &c->typed[spc >> 1] : &c->alloc[spc];
	rg__span *s = *slot;
	if (s != &empty_span) {
		if (span_next_word(s))
			return s;
		uncache_span(s, typed);
		*slot = &empty_span;
	}
	s = cache_span(spc, typed, c->node);
	if (!s)
		return NULL;
	if (!span_next_word(s)) { /* cannot happen: partial spans have room */
		uncache_span(s, typed);
		return NULL;
	}
	*slot = s;
	return s;
}

/* The tiny allocator's fast case: room left in the current block. */
static inline void *tiny_fit(rg__mcache *c, size_t size)
{
	size_t off = c->tiny_off;
	if (!(size & 7))
		off = (off + 7) & ~(size_t)7;
	else if (!(size & 3))
		off = (off + 3) & ~(size_t)3;
	else if (!(size & 1))
		off = (off + 1) & ~(size_t)1;
	if (c->tiny && off + size <= RG__TINY_SIZE) {
		c->tiny_off = off + size;
		return (void *)(c->tiny + off);
	}
	return NULL;
}

/* Allocation with an mcache the caller may use (its P's, or the shared one
 * under shared_lock).  NULL: out of memory or over the limit. */
static void *alloc_in(rg__mcache *c, size_t size, bool noscan, rg_gc_type *type)
{
	size_t idx = 0;
	if (size <= RG__MAX_SMALL) {
		if (noscan && size < RG__TINY_SIZE) {
			void *t = tiny_fit(c, size);
			if (t)
				return t;
			unsigned spc = rg__spanclass(RG__TINY_CLASS, true);
			void *o = span_take(c->alloc[spc], &idx);
			if (!o) {
				rg__span *s = refill(c, spc, false);
				if (!s)
					return NULL;
				o = span_take(s, &idx);
			}
			/* keep whichever block has more room left */
			if (!c->tiny || size < c->tiny_off) {
				c->tiny = (uintptr_t)o;
				c->tiny_off = size;
			}
			return o;
		}
		unsigned sc = rg__size_to_class(size);
		unsigned spc = rg__spanclass(sc, noscan);
		rg__span *s = type ? c->typed[sc] : c->alloc[spc];
		void *o = span_take(s, &idx);
		if (!o) {
			s = refill(c, spc, type != NULL);
			if (!s)
				return NULL;
			o = span_take(s, &idx);
		}
		if (type)
			s->types[idx] = type;
		return o;
	}
	size_t npages = (size + RG__PAGE_SIZE - 1) / RG__PAGE_SIZE;
	rg__span *s = rg__heap_alloc_span(npages, rg__spanclass(0, noscan), type != NULL, true,
	                                  c->node);
	if (!s)
		return NULL;
	if (type)
		s->types[0] = type;
	/* make the object visible to the collector: alloc bit 0 */
	s->alloc_bits[0] = 1;
	atomic_fetch_add_explicit(&rg__heap_live, s->elemsize, memory_order_relaxed);
	atomic_fetch_add_explicit(&rg__total_alloc, s->elemsize, memory_order_relaxed);
	atomic_fetch_add_explicit(&rg__large_allocs, 1, memory_order_relaxed);
	return (void *)s->base;
}

/* The calling thread's last (P, mcache) pair: a P's mcache never changes
 * while the P lives, so a thread that finds the same P again (it may have
 * handed it away and back) can skip the slot lookup.  cache_gen moves when
 * any mcache is destroyed (runtime shutdown), which voids every pair.  p
 * starts as a value no P has, and is only ever set with its mcache, so
 * "p matches" alone says c is valid — also for a thread with no P (NULL). */
static __thread struct {
	rg__p *p;
	rg__mcache *c;
	unsigned gen;
} tl_cache __attribute__((tls_model("initial-exec"))) = /* no __tls_get_addr in libringo.so */
	{.p = (rg__p *)1};

/* Out of line and cold, so that the fast path calls nothing and saves no
 * registers. */
__attribute__((noinline, cold)) static rg__mcache *mcache_lookup(rg__p *p)
{
	rg__mcache *c = rg__p_slot(p, RG__SLOT_GC);
	if (c) {
		tl_cache.p = p;
		tl_cache.c = c;
		tl_cache.gen = atomic_load_explicit(&cache_gen, memory_order_relaxed);
	}
	return c;
}

static inline bool mcache_cached(rg__p *p)
{
	return p == tl_cache.p &&
	       tl_cache.gen == atomic_load_explicit(&cache_gen, memory_order_relaxed);
}

static inline rg__mcache *mcache_of(rg__p *p)
{
	if (RG__LIKELY(mcache_cached(p)))
		return tl_cache.c;
	return mcache_lookup(p);
}

#define MAX_REQUEST ((size_t)1 << 46) /* 64 TiB: anything above is a bug */

/* The mcache of P p, made at its first allocation; NULL: no memory.
 * RG__NOIPA: its callers may have passed a safepoint, after which the
 * task may run on another thread, and tl_cache must be this thread's
 * (see alloc_slow). */
static RG__NOIPA rg__mcache *mcache_get(rg__p *p)
{
	rg__mcache *c = mcache_of(p); /* (caches the pair for the fast path) */
	if (c)
		return c;
	c = rg__malloc(sizeof *c);
	if (!c)
		return NULL;
	mcache_init(c);
	mcache_register(c);
	rg__p_slot_set(p, RG__SLOT_GC, c, mcache_dtor);
	mcache_lookup(p);
	return c;
}

/* An allocation that found no memory, made again by the collection it
 * asked for (rg__gc_try_reclaim) before the world restarts. */
struct retry {
	size_t size;
	bool noscan;
	rg_gc_type *type;
	void *obj;           /* NULL: no memory even after the collection */
	struct recent *ring; /* a thread without a P: its ring */
};

static void retry_stopped(void *arg)
{
	struct retry *r = arg;
	/* the P again: waiting for the collector's lock passes safepoints,
	 * where the task may have moved (read by a call: see alloc_slow) */
	rg__mcache *c = mcache_get(rg__getp());
	if (c)
		r->obj = alloc_in(c, r->size, r->noscan, r->type);
}

/* The same for a thread without a P, through the shared cache, noted in
 * that thread's ring (r->ring: this may run on a task collecting for it). */
static void retry_shared(void *arg)
{
	struct retry *r = arg;
	pthread_mutex_lock(&shared_lock);
	r->obj = alloc_in(&shared_cache, r->size, r->noscan, r->type);
	if (r->obj)
		recent_note(r->ring, (uintptr_t)r->obj);
	pthread_mutex_unlock(&shared_lock);
}

static void *alloc_slow(size_t size, bool noscan, rg_gc_type *type)
{
	if (size == 0)
		return &rg__zerobase;
	if (size > MAX_REQUEST)
		return NULL;
	if (rg__gc_init() < 0)
		return NULL;
	pthread_once(&central_once, central_init);
	/* The P is read by a call (rg__getp), never inline, here and in
	 * mcache_get: the calls below may move the task to another thread,
	 * and within one function the compiler may keep the thread pointer
	 * it read before them (aarch64 code did, in a callee-saved
	 * register): the task then allocated from the old thread's P and
	 * mcache, which the task now running there was using too — objects
	 * handed out twice, or not zeroed (tests/gc/test_migrate_alloc
	 * under qemu-aarch64; x86-64 reads %fs at every access). */
	rg__p *p = rg__getp();
	void *o;
	if (p) {
		rg__safepoint();
		/* and yield if sysmon asked this P to (a task running for 10
		 * ms): a task that only allocates would otherwise keep its P,
		 * its run queue and its timers forever */
		rg_preempt_point();
		rg__gc_maybe_trigger();
		/* all may have stopped this task at a safepoint, and it may
		 * have resumed on another P: read the P again (a collection
		 * also flushed every mcache, so nothing read from the old one
		 * may be reused) */
		p = rg__getp();
	}
	if (p) {
		rg__mcache *c = mcache_get(p);
		if (!c)
			return NULL;
		o = alloc_in(c, size, noscan, type);
		if (o)
			return o;
		/* Out of memory or over the limit: collect, and retry before
		 * the world restarts.  Retried after, it raced the other Ps,
		 * which reach the limit together (with GOGC off every
		 * collection is one asked for here) and could take all the
		 * collection freed first: NULL with a live heap far under the
		 * limit. */
		struct retry r = {size, noscan, type, NULL, NULL};
		rg__gc_try_reclaim(retry_stopped, &r);
		return r.obj;
	}
	/* a thread without a P: the shared cache */
	pthread_once(&recent_once, recent_init);
	if (!tl_counted) {
		tl_counted = true;
		atomic_fetch_add_explicit(&foreign_threads, 1, memory_order_relaxed);
		/* (without memory for it the thread stays counted: safe, only
		 * automatic collection outside rg_run stops) */
		if (count_key_ok)
			pthread_setspecific(count_key, (void *)1);
	}
	rg__gc_maybe_trigger();
	pthread_mutex_lock(&shared_lock);
	if (!shared_ready) {
		mcache_init(&shared_cache);
		shared_ready = true;
	}
	/* the ring first: an object it could not note would be unreachable */
	struct recent *ring = recent_mine();
	o = ring ? alloc_in(&shared_cache, size, noscan, type) : NULL;
	if (o)
		recent_note(ring, (uintptr_t)o);
	pthread_mutex_unlock(&shared_lock);
	if (o || !ring)
		return o;
	/* Out of memory or over the limit: collect, and retry after the
	 * sweep.  Inside rg_run a task collects for this thread (which
	 * cannot stop the world) and retries for it before the world
	 * restarts, as for a task above. */
	struct retry r = {size, noscan, type, NULL, ring};
	rg__gc_try_reclaim(retry_shared, &r);
	return r.obj;
}

/* The fast path.  The P is read inline (rg__getp_inline: one TLS load and
 * one dependent load, no call); that read holds only until the task parks
 * or passes a safepoint, and nothing here does either.  The slow path,
 * which stops at safepoints, reads the P again after each one, and finds
 * the mcache of a P this thread has not cached yet.  Every miss ends in
 * one tail call, so the hit path saves no register. */
static inline void *alloc_fast(size_t size, bool noscan)
{
	rg__p *p = rg__getp_inline();
	if (RG__LIKELY(size - 1 < RG__MAX_SMALL && mcache_cached(p))) {
		rg__mcache *c = tl_cache.c;
		if (noscan && size < RG__TINY_SIZE) {
			void *o = tiny_fit(c, size);
			if (RG__LIKELY(o != NULL))
				return o;
		} else {
			unsigned spc = rg__spanclass(rg__size_to_class(size), noscan);
			rg__span *s = c->alloc[spc];
			uint64_t ac = s->alloc_cache;
			if (RG__LIKELY(ac != 0)) {
				s->alloc_cache = ac & (ac - 1);
				/* zeroed by span_next_word */
				return (void *)(s->cache_base +
				                (size_t)__builtin_ctzll(ac) * s->elemsize);
			}
		}
	}
	return alloc_slow(size, noscan, NULL);
}

RG_API void *rg_gc_alloc(size_t size) { return alloc_fast(size, false); }
RG_API void *rg_gc_alloc_noscan(size_t size) { return alloc_fast(size, true); }


RG_API void *rg_gc_alloc_typed(size_t size, rg_gc_type *type)
{
	if (!type || !type->size || !size || size % type->size)
		return NULL;
	if (rg__type_bitmap(type) < 0)
		return NULL;
	if (RG__LIKELY(size <= RG__MAX_SMALL)) {
		rg__p *p = rg__getp_inline(); /* no safepoint below: see alloc_fast */
		rg__mcache *c = p ? mcache_of(p) : NULL;
		if (RG__LIKELY(c != NULL)) {
			rg__span *s = c->typed[rg__size_to_class(size)];
			size_t idx;
			void *o = span_take(s, &idx);
			if (RG__LIKELY(o != NULL)) {
				s->types[idx] = type;
				return o;
			}
		}
	}
	return alloc_slow(size, false, type);
}

RG_API void *rg_gc_base(const void *p)
{
	rg__span *s = rg__span_of((uintptr_t)p);
	if (!s)
		return NULL;
	if (s->large)
		return (void *)s->base;
	uint64_t off = (uintptr_t)p - s->base;
	size_t idx = (size_t)((off * s->divmul) >> 32);
	if (idx >= s->nelems)
		return NULL;
	return (void *)(s->base + idx * s->elemsize);
}

RG_API size_t rg_gc_size(const void *p)
{
	rg__span *s = rg__span_of((uintptr_t)p);
	if (!s || !rg_gc_base(p))
		return 0;
	return s->elemsize;
}

/* For tests and the heap verifier: is the object p points into allocated
 * right now?  Only meaningful while no one allocates from its span. */
bool rg__gc_allocated(const void *p)
{
	rg__span *s = rg__span_of((uintptr_t)p);
	if (!s)
		return false;
	size_t idx = s->large ? 0 : (size_t)((((uint64_t)((uintptr_t)p - s->base)) * s->divmul) >> 32);
	if (idx >= s->nelems)
		return false;
	uint64_t m = 1ull << (idx % 64);
	if (s->alloc_bits[idx / 64] & m)
		return true;
	/* in the free mask of an mcache: allocated if no longer in the mask */
	return s->cache_word >= 0 && (size_t)s->cache_word == idx / 64 && !(s->alloc_cache & m);
}
