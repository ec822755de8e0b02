/*
 * gc/mheap.c — the page heap: one reserved range, 64 MiB arenas, a page
 * allocator, the page -> span map, NUMA placement and the scavenger.
 *
 * At start the heap reserves one large range of address space (PROT_NONE,
 * no memory behind it).  Arenas are mapped inside it in order as the heap
 * grows, each bound (MPOL_PREFERRED) to the NUMA node of the CPU of the P
 * that asked for it, and each node keeps its own list of arenas so a P gets
 * pages from its own node first.
 *
 * Inside an arena, pages are tracked by two bitmaps: used (the page belongs
 * to a span) and clean (the free page is zero and not backed by RAM: never
 * touched, or returned with madvise).  Allocation is first fit from a hint
 * below which no page is free, so the heap stays compact at low addresses
 * and the scavenger, which releases from the top, rarely fights it.  A span
 * larger than an arena takes a run of whole free arenas.
 *
 * The span map has one entry per page: any address in the heap finds its
 * span in two loads (arena, then page), and its object index with one
 * multiply (see sizeclass.c).  That is what makes interior pointers cheap
 * for the conservative collector.
 *
 * Locking: one mutex (heap.lock) guards everything here except the span
 * map entries and heap.narenas, which are atomics read without it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#ifdef RG_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "gc/gc_hook.h"
#include "gc/gc_int.h"

#define MAX_NODES 64

static struct {
	pthread_mutex_t lock;
	uintptr_t base;                 /* immutable after init */
	size_t max_arenas;              /* immutable after init */
	_Atomic(rg__arena *) *arenas;   /* [max_arenas]; set under lock */
	_Atomic size_t narenas;         /* mapped so far (lock to change) */
	rg__arena *node_arenas[MAX_NODES]; /* lock */
	rg__span **allspans;            /* lock */
	size_t nallspans, capallspans;  /* lock */
	rg__span *free_spans;           /* span records to reuse (lock) */
	uint64_t inuse_pages;           /* lock; read relaxed by stats */
	uint64_t free_clean_pages;      /* lock */
	uint64_t free_dirty_pages;      /* lock */
	uint64_t scavenged_total;       /* lock */
	uint64_t nodes_used;            /* bit per node (lock) */
	bool numa;                      /* immutable after init */
	pthread_mutex_t scav_lock;
	pthread_cond_t scav_cond;       /* scav_lock */
	bool scav_kick;                 /* scav_lock */
} heap = {.lock = PTHREAD_MUTEX_INITIALIZER, .scav_lock = PTHREAD_MUTEX_INITIALIZER};

void rg__heap_lock(void) { pthread_mutex_lock(&heap.lock); }
void rg__heap_unlock(void) { pthread_mutex_unlock(&heap.lock); }
uintptr_t rg__heap_lo(void) { return heap.base; }

bool rg__gc_may_point(const void *p)
{
	/* narenas first: its release store comes after base is set */
	size_t n = atomic_load_explicit(&heap.narenas, memory_order_acquire);
	return n && (uintptr_t)p - heap.base < n * RG__ARENA_SIZE;
}
uintptr_t rg__heap_hi(void)
{
	return heap.base + atomic_load_explicit(&heap.narenas, memory_order_acquire) * RG__ARENA_SIZE;
}

static void *scavenger_main(void *arg);

int rg__heap_init(void)
{
	/* Reserve as much address space as the system lets us, up to 1 TiB,
	 * at least 1 GiB (sanitizers restrict the usable ranges). */
	size_t want = (size_t)1 << 40;
	uint64_t lim = rg__memlimit();
	/* (lim < want / 2, not lim * 2 < want: a limit of 2^63 or more, such
	 * as Go's "no limit" math.MaxInt64, wrapped to a 1 GiB heap) */
	if (lim && lim < want / 2)
		want = lim * 2 < ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)lim * 2;
	void *p = MAP_FAILED;
	for (; want >= ((size_t)1 << 30); want /= 2) {
		/* one extra arena to align the start on an arena boundary */
		p = mmap(NULL, want + RG__ARENA_SIZE, PROT_NONE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED)
			break;
	}
	if (p == MAP_FAILED)
		return -ENOMEM;
	uintptr_t b = ((uintptr_t)p + RG__ARENA_SIZE - 1) & ~(uintptr_t)(RG__ARENA_SIZE - 1);
	/* give back the unaligned head and tail */
	if (b > (uintptr_t)p)
		munmap(p, b - (uintptr_t)p);
	uintptr_t end = (uintptr_t)p + want + RG__ARENA_SIZE;
	if (end > b + want)
		munmap((void *)(b + want), end - (b + want));
	heap.base = b;
	heap.max_arenas = want / RG__ARENA_SIZE;
	heap.arenas = rg__calloc(heap.max_arenas, sizeof *heap.arenas);
	if (!heap.arenas) {
		munmap((void *)b, want);
		return -ENOMEM;
	}
#ifdef RG_HAVE_NUMA
	heap.numa = numa_available() >= 0 && numa_max_node() > 0;
#endif
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&heap.scav_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 << 10);
	if (pthread_create(&th, &at, scavenger_main, NULL) != 0)
		rg__log("gc: no scavenger thread; free pages are returned only by rg_gc_free_os_memory");
	pthread_attr_destroy(&at);
	return 0;
}

/* The NUMA node of the calling thread's CPU (a P's thread is pinned). */
int rg__heap_node_here(void)
{
#ifdef RG_HAVE_NUMA
	if (heap.numa) {
		int cpu = sched_getcpu();
		int n = cpu >= 0 ? numa_node_of_cpu(cpu) : -1;
		return n >= 0 && n < MAX_NODES ? n : 0;
	}
#endif
	return 0;
}

/* lock held */
static rg__arena *arena_new(int node, size_t idx)
{
	uintptr_t a = heap.base + idx * RG__ARENA_SIZE;
	if (mmap((void *)a, RG__ARENA_SIZE, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		return NULL;
	rg__arena *ar = rg__calloc(1, sizeof *ar);
	if (!ar) {
		mmap((void *)a, RG__ARENA_SIZE, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		return NULL;
	}
	ar->base = a;
	ar->index = (unsigned)idx;
	ar->node = -1;
#ifdef RG_HAVE_NUMA
	if (heap.numa) {
		unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = {0};
		mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
		if (mbind((void *)a, RG__ARENA_SIZE, MPOL_PREFERRED, mask, MAX_NODES + 1, 0) == 0)
			ar->node = node;
	}
#endif
	ar->free_pages = RG__ARENA_PAGES;
	memset(ar->clean, 0xff, sizeof ar->clean);
	heap.free_clean_pages += RG__ARENA_PAGES;
	if (idx == 0) {
		/* The heap's first page is never handed out.  Its address is
		 * the heap base, a value the allocator and the collector work
		 * with everywhere (heap.base, arena 0's base, the mark filter's
		 * low bound), so stale copies of it lie in dead stack slots and
		 * registers; an object there would be kept alive by any of
		 * them, and everything it points to (gc_memlimit lost 63 MiB so,
		 * a 1 in 50 run under TSan).  8 KiB of address space, never
		 * touched. */
		ar->used[0] |= 1;
		ar->clean[0] &= ~(uint64_t)1;
		ar->free_pages--;
		ar->hint = 1;
		heap.free_clean_pages--;
	}
	heap.nodes_used |= 1ull << node;
	/* append to the node's list, which stays in address order */
	rg__arena **pp = &heap.node_arenas[node];
	while (*pp)
		pp = &(*pp)->next_on_node;
	*pp = ar;
	atomic_store_explicit(&heap.arenas[idx], ar, memory_order_release);
	return ar;
}

static inline bool bit(const uint64_t *m, size_t i) { return m[i / 64] >> (i % 64) & 1; }

/* First run of n free pages in a at or above its hint; -1 if none. */
static long arena_find(rg__arena *a, size_t n)
{
	size_t run = 0, start = 0;
	for (size_t i = a->hint; i < RG__ARENA_PAGES;) {
		uint64_t w = a->used[i / 64];
		if (i % 64 == 0 && w == ~(uint64_t)0) {
			run = 0;
			i += 64;
			continue;
		}
		if (i % 64 == 0 && w == 0) {
			if (!run)
				start = i;
			run += 64;
			i += 64;
			if (run >= n)
				return (long)start;
			continue;
		}
		if (w >> (i % 64) & 1) {
			run = 0;
		} else {
			if (!run)
				start = i;
			if (++run >= n)
				return (long)start;
		}
		i++;
	}
	return -1;
}

/* Marks pages [first, first+n) of a used; returns how many were dirty. */
static size_t arena_take(rg__arena *a, size_t first, size_t n)
{
	size_t dirty = 0;
	for (size_t i = first; i < first + n; i++) {
		a->used[i / 64] |= 1ull << (i % 64);
		if (bit(a->clean, i))
			a->clean[i / 64] &= ~(1ull << (i % 64));
		else
			dirty++;
	}
	a->free_pages -= (unsigned)n;
	heap.free_dirty_pages -= dirty;
	heap.free_clean_pages -= n - dirty;
	if (first == a->hint)
		a->hint = (unsigned)(first + n);
	return dirty;
}

static void arena_release(rg__arena *a, size_t first, size_t n)
{
	for (size_t i = first; i < first + n; i++)
		a->used[i / 64] &= ~(1ull << (i % 64));
	a->free_pages += (unsigned)n;
	heap.free_dirty_pages += n;
	if (first < a->hint)
		a->hint = (unsigned)first;
}

/* lock held: finds npages contiguous pages; *dirty says if any may hold
 * old bytes.  0 when out of address space or memory. */
static uintptr_t pages_alloc(size_t npages, int node, bool *dirty)
{
	if (npages <= RG__ARENA_PAGES) {
		for (int pass = 0; pass < 3; pass++) {
			if (pass == 1) {
				size_t idx = atomic_load_explicit(&heap.narenas, memory_order_relaxed);
				if (idx >= heap.max_arenas || !arena_new(node, idx))
					continue;
				atomic_store_explicit(&heap.narenas, idx + 1, memory_order_release);
				/* Arena 0 has a page less (its first is reserved):
				 * a request of a whole arena's pages, made first,
				 * needs the next one too.  It failed as out of
				 * memory: a collection for nothing, or NULL from
				 * a thread without a P inside rg_run
				 * (tests/gc/test_whole_arena.c, found by the GC
				 * review of 2026-12-07). */
				if (idx == 0 && npages == RG__ARENA_PAGES &&
				    idx + 1 < heap.max_arenas && arena_new(node, idx + 1))
					atomic_store_explicit(&heap.narenas, idx + 2, memory_order_release);
			}
			for (int nd = 0; nd < MAX_NODES; nd++) {
				if ((pass < 2) != (nd == node))
					continue;
				for (rg__arena *a = heap.node_arenas[nd]; a; a = a->next_on_node) {
					if (a->free_pages < npages)
						continue;
					long f = arena_find(a, npages);
					if (f < 0)
						continue;
					*dirty = arena_take(a, (size_t)f, npages) != 0;
					return a->base + (size_t)f * RG__PAGE_SIZE;
				}
			}
		}
		return 0;
	}
	/* A run of whole free arenas, mapping new ones at the end as needed. */
	size_t k = (npages + RG__ARENA_PAGES - 1) / RG__ARENA_PAGES;
	size_t na = atomic_load_explicit(&heap.narenas, memory_order_relaxed);
	size_t start = 0, run = 0;
	for (size_t i = 0; i < na && run < k; i++) {
		rg__arena *a = atomic_load_explicit(&heap.arenas[i], memory_order_relaxed);
		if (a->free_pages == RG__ARENA_PAGES) {
			if (!run)
				start = i;
			run++;
		} else {
			run = 0;
		}
	}
	if (run < k) {
		if (!run)
			start = na;
		/* Never arena 0 (made here when this is the heap's first
		 * span): its first page is reserved (arena_new), and the run
		 * took it, with free_pages wrapping below 0 and the whole
		 * object counted dirty: a first allocation of 128 MiB was
		 * zeroed (128 MiB of RAM committed, 0.1 s), started at the
		 * heap base, and once freed left that page to the next span
		 * (tests/gc/test_first_large.c).  Arena 0 stays for
		 * small spans. */
		if (start == 0)
			start = 1;
		if (start + k > heap.max_arenas)
			return 0;
		for (size_t i = na; i < start + k; i++) {
			if (!arena_new(node, i))
				return 0; /* the arenas mapped stay, free */
			atomic_store_explicit(&heap.narenas, i + 1, memory_order_release);
		}
	}
	size_t left = npages, d = 0;
	for (size_t i = start; i < start + k; i++) {
		size_t n = left < RG__ARENA_PAGES ? left : RG__ARENA_PAGES;
		d += arena_take(atomic_load_explicit(&heap.arenas[i], memory_order_relaxed), 0, n);
		left -= n;
	}
	*dirty = d != 0;
	return heap.base + start * RG__ARENA_SIZE;
}

static void pages_free(uintptr_t addr, size_t npages)
{
	while (npages) {
		size_t off = addr - heap.base;
		rg__arena *a = atomic_load_explicit(&heap.arenas[off >> RG__ARENA_SHIFT], memory_order_relaxed);
		size_t first = (off >> RG__PAGE_SHIFT) & (RG__ARENA_PAGES - 1);
		size_t n = RG__ARENA_PAGES - first;
		if (n > npages)
			n = npages;
		arena_release(a, first, n);
		addr += n * RG__PAGE_SIZE;
		npages -= n;
	}
}

static void map_set(uintptr_t addr, size_t npages, rg__span *s)
{
	for (size_t i = 0; i < npages; i++) {
		size_t off = addr - heap.base + i * RG__PAGE_SIZE;
		rg__arena *a = atomic_load_explicit(&heap.arenas[off >> RG__ARENA_SHIFT], memory_order_relaxed);
		atomic_store_explicit(&a->spans[(off >> RG__PAGE_SHIFT) & (RG__ARENA_PAGES - 1)], s,
		                      memory_order_release);
	}
}

rg__span *rg__heap_alloc_span(size_t npages, unsigned spanclass, bool typed, bool large, int node)
{
	if (node < 0 || node >= MAX_NODES)
		node = 0;
	uint64_t lim = rg__memlimit();
	pthread_mutex_lock(&heap.lock);
	if (lim && (heap.inuse_pages + npages) * RG__PAGE_SIZE > lim) {
		pthread_mutex_unlock(&heap.lock);
		return NULL;
	}
	rg__span *s = heap.free_spans;
	if (s)
		heap.free_spans = s->next;
	else
		s = rg__malloc(sizeof *s);
	if (s && heap.nallspans == heap.capallspans) {
		size_t cap = heap.capallspans ? heap.capallspans * 2 : 1024;
		rg__span **n = rg__realloc(heap.allspans, cap * sizeof *n);
		if (n) {
			heap.allspans = n;
			heap.capallspans = cap;
		}
	}
	bool dirty = false;
	uintptr_t addr = s && heap.nallspans < heap.capallspans ? pages_alloc(npages, node, &dirty) : 0;
	if (!addr) {
		if (s) {
			s->next = heap.free_spans;
			heap.free_spans = s;
		}
		pthread_mutex_unlock(&heap.lock);
		return NULL;
	}
	memset(s, 0, sizeof *s);
	unsigned sc = spanclass >> 1;
	s->base = addr;
	s->npages = npages;
	s->spanclass = (uint8_t)spanclass;
	s->large = large;
	s->typed = typed;
	s->needzero = dirty;
	s->node = (uint8_t)node;
	s->cache_word = -1;
	if (large) {
		s->elemsize = npages * RG__PAGE_SIZE;
		s->nelems = 1;
	} else {
		s->elemsize = rg__class_size[sc];
		s->nelems = rg__class_nelems[sc];
		s->divmul = rg__class_divmul[sc];
	}
	s->alloc_bits = s->bits[0];
	s->mark_bits = s->bits[1];
	s->allidx = (uint32_t)heap.nallspans;
	heap.allspans[heap.nallspans++] = s;
	heap.inuse_pages += npages;
	map_set(addr, npages, s);
	atomic_store_explicit(&s->state, RG__SPAN_INUSE, memory_order_release);
	pthread_mutex_unlock(&heap.lock);

	if (typed) {
		s->types = rg__calloc(s->nelems, sizeof *s->types);
		if (!s->types) {
			pthread_mutex_lock(&heap.lock);
			rg__heap_free_span_locked(s);
			pthread_mutex_unlock(&heap.lock);
			return NULL;
		}
	}
	if (large && dirty) {
		rg__memclr((void *)addr, npages * RG__PAGE_SIZE);
		s->needzero = 0;
	}
	return s;
}

void rg__heap_free_span_locked(rg__span *s)
{
	atomic_store_explicit(&s->state, RG__SPAN_FREE, memory_order_relaxed);
	map_set(s->base, s->npages, NULL);
	pages_free(s->base, s->npages);
	heap.inuse_pages -= s->npages;
	rg__span *last = heap.allspans[--heap.nallspans];
	heap.allspans[s->allidx] = last;
	last->allidx = s->allidx;
	if (s->types) {
		rg__free(s->types);
		s->types = NULL;
	}
	s->next = heap.free_spans;
	heap.free_spans = s;
}

void rg__heap_free_span(rg__span *s)
{
	pthread_mutex_lock(&heap.lock);
	rg__heap_free_span_locked(s);
	pthread_mutex_unlock(&heap.lock);
}

rg__span **rg__heap_allspans(size_t *n)
{
	*n = heap.nallspans;
	return heap.allspans;
}

rg__span *rg__span_of(uintptr_t p)
{
	uintptr_t off = p - heap.base;
	if (off >= atomic_load_explicit(&heap.narenas, memory_order_acquire) * RG__ARENA_SIZE)
		return NULL;
	rg__arena *a = atomic_load_explicit(&heap.arenas[off >> RG__ARENA_SHIFT], memory_order_acquire);
	if (!a)
		return NULL;
	rg__span *s = atomic_load_explicit(&a->spans[(off >> RG__PAGE_SHIFT) & (RG__ARENA_PAGES - 1)],
	                                   memory_order_acquire);
	if (!s || atomic_load_explicit(&s->state, memory_order_relaxed) != RG__SPAN_INUSE)
		return NULL;
	return s;
}

uint64_t rg__heap_inuse(void)
{
	pthread_mutex_lock(&heap.lock);
	uint64_t v = heap.inuse_pages * RG__PAGE_SIZE;
	pthread_mutex_unlock(&heap.lock);
	return v;
}

void rg__heap_stats(rg_gc_stats *out)
{
	pthread_mutex_lock(&heap.lock);
	out->heap_inuse = heap.inuse_pages * RG__PAGE_SIZE;
	out->heap_sys = atomic_load_explicit(&heap.narenas, memory_order_relaxed) * RG__ARENA_SIZE;
	out->heap_released = heap.free_clean_pages * RG__PAGE_SIZE;
	out->scavenged_total = heap.scavenged_total;
	out->numa_nodes = heap.numa ? __builtin_popcountll(heap.nodes_used) : 0;
	pthread_mutex_unlock(&heap.lock);
}

/* ---- scavenger ---------------------------------------------------------
 * Returns dirty free pages to the OS with MADV_DONTNEED, highest addresses
 * first, at most 64 pages per step.  The pages are marked used while the
 * lock is dropped for madvise, so no allocation can take them meanwhile;
 * afterwards they are free and clean (the kernel gives back zero pages). */
size_t rg__heap_scavenge(size_t bytes)
{
	size_t done = 0;
	while (done < bytes) {
		pthread_mutex_lock(&heap.lock);
		rg__arena *a = NULL;
		size_t first = 0, n = 0;
		size_t na = atomic_load_explicit(&heap.narenas, memory_order_relaxed);
		for (size_t ai = na; ai-- > 0 && !n;) {
			a = atomic_load_explicit(&heap.arenas[ai], memory_order_relaxed);
			if (!a->free_pages)
				continue;
			for (size_t w = RG__ARENA_WORDS; w-- > 0 && !n;) {
				uint64_t d = ~a->used[w] & ~a->clean[w];
				if (!d)
					continue;
				/* highest dirty free page of this word, then extend down */
				size_t hi = w * 64 + 63 - (size_t)__builtin_clzll(d);
				size_t lo = hi;
				while (lo > 0 && hi - lo + 1 < 64 && !bit(a->used, lo - 1) && !bit(a->clean, lo - 1))
					lo--;
				first = lo;
				n = hi - lo + 1;
			}
		}
		if (!n) {
			pthread_mutex_unlock(&heap.lock);
			break;
		}
		for (size_t i = first; i < first + n; i++)
			a->used[i / 64] |= 1ull << (i % 64);
		a->free_pages -= (unsigned)n;
		heap.free_dirty_pages -= n;
		pthread_mutex_unlock(&heap.lock);

		madvise((void *)(a->base + first * RG__PAGE_SIZE), n * RG__PAGE_SIZE, MADV_DONTNEED);

		pthread_mutex_lock(&heap.lock);
		for (size_t i = first; i < first + n; i++) {
			a->used[i / 64] &= ~(1ull << (i % 64));
			a->clean[i / 64] |= 1ull << (i % 64);
		}
		a->free_pages += (unsigned)n;
		if (first < a->hint)
			a->hint = (unsigned)first;
		heap.free_clean_pages += n;
		heap.scavenged_total += n * RG__PAGE_SIZE;
		pthread_mutex_unlock(&heap.lock);
		done += n * RG__PAGE_SIZE;
	}
	return done;
}

/* Bytes of dirty pages above what the heap keeps: the GC goal plus 10 %,
 * with 1 MiB of slack so that a heap at its goal is not trimmed page by
 * page.  Go's background scavenger aims at the same retained size. */
static uint64_t scavenge_excess(void)
{
	uint64_t goal = atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed);
	/* saturating: with GOGC off the goal is UINT64_MAX, and goal + goal/10
	 * wrapped to 1.8e18 (found by the gc review); and no more than a
	 * memory limit, as Go's scavenger (else, GOGC off, it kept every
	 * page the heap ever had under RINGO_MEMLIMIT) */
	uint64_t retain = goal > UINT64_MAX - goal / 10 ? UINT64_MAX : goal + goal / 10;
	uint64_t limit = rg__memlimit();
	if (limit && retain > limit - limit / 20)
		retain = limit - limit / 20;
	pthread_mutex_lock(&heap.lock);
	uint64_t rss = (heap.inuse_pages + heap.free_dirty_pages) * RG__PAGE_SIZE;
	pthread_mutex_unlock(&heap.lock);
	return rss > retain + (1u << 20) ? rss - retain : 0;
}

/* After a collection.  Only when there is something to return: a small
 * heap collects thousands of times a second, and waking the scavenger
 * each time costs the collector a futex call and the scavenger a wake-up
 * and the heap lock, for nothing. */
void rg__heap_scavenger_kick(void)
{
	if (!scavenge_excess())
		return;
	pthread_mutex_lock(&heap.scav_lock);
	heap.scav_kick = true;
	pthread_cond_signal(&heap.scav_cond);
	pthread_mutex_unlock(&heap.scav_lock);
}

/* Keeps the heap's resident size near the GC goal plus 10 %: every second,
 * or when a collection leaves more than that, releases the dirty free
 * pages above it. */
static void *scavenger_main(void *arg)
{
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&heap.scav_lock);
		while (!heap.scav_kick)
			if (pthread_cond_timedwait(&heap.scav_cond, &heap.scav_lock, &ts) != 0)
				break;
		heap.scav_kick = false;
		pthread_mutex_unlock(&heap.scav_lock);

		uint64_t excess = scavenge_excess();
		if (excess)
			rg__heap_scavenge(excess);
	}
	return NULL;
}
