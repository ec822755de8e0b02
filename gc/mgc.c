/*
 * gc/mgc.c — the stop-the-world mark-sweep collector.
 *
 * This is ringo's first collector and will stay as the checkmark oracle of
 * the concurrent one: simple enough to trust.
 *
 *   1. Stop the world.  From a task: rg__stw_stop() returns once every
 *      other P is parked at a safepoint (park, yield, allocation slow
 *      path); their tasks' contexts are saved.  Threads without a P are
 *      kept out of the heap by the shared-cache lock.
 *   2. Flush every mcache: each cached free mask is folded back into its
 *      span's alloc_bits, tiny blocks are dropped.  From here alloc_bits
 *      says exactly which objects exist.
 *   3. Mark, from the roots: the last 256 objects each thread without a
 *      P allocated (its stack cannot be read: this gives it time to store
 *      them somewhere that is); registered ranges; the collecting task's own
 *      stack from its current stack pointer up, after spilling its
 *      callee-saved registers onto it; every other task's stack from its
 *      saved stack pointer up (its registers are saved inside that range)
 *      to the end of its record (argument, per-task slots); every task's
 *      task-local values.
 *      Roots and stacks are read conservatively: a word counts if it lands
 *      inside an allocated object (interior pointers included; the span map
 *      makes the lookup O(1)).  Marked objects of scan spans go on the mark
 *      stack and are scanned in turn: word by word, or only the words their
 *      type names (typed spans).  If the mark stack cannot grow, marking
 *      goes on, and a rescan of every marked object repeats until nothing
 *      new is marked (Boehm's overflow recovery).
 *   4. Sweep every span: a span with no marked object goes back to the page
 *      heap; otherwise its mark bits become its alloc bits, it is marked
 *      needzero, and it goes to its mcentral's partial list if it has room.
 *   5. Set the next goal, as Go's since 1.18: live + (live + roots and
 *      stacks scanned) * GOGC/100, at least RG__MIN_HEAP (1 MiB); restart
 *      the world; wake the scavenger.
 *
 * Invariant: between collections, every object not in alloc_bits (or the
 * cached mask of the mcache that holds its span) is free, and every object
 * in them was allocated and not found unreachable since.
 *
 * Who collects: a task (it stops the world), or outside rg_run a thread
 * alone (it scans its own stack; no world to stop).  A thread without a P
 * inside rg_run (an rg_blocking section, a foreign thread) can do neither,
 * so when an allocation of its finds no memory, or it calls rg_gc_collect,
 * it asks a task to collect for it and waits ("Collections asked for",
 * below); when its allocation finds the heap past the goal, it spawns one
 * and goes on (rg__gc_maybe_trigger), and once past the goal and an
 * eighth it waits for that collection to end ("pacing", below).
 *
 * Locks, in order: gc_lock (one collection at a time) -> the world (STW) ->
 * ask_lock -> shared_lock, caches_lock (malloc.c) -> roots_lock -> heap
 * lock -> mcentral locks.  A task waiting for gc_lock must keep reaching
 * safepoints (the holder may be stopping the world), so it spins with
 * trylock.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc/gc_hook.h"
#include "gc/gc_int.h"


_Atomic uint64_t rg__heap_live;
_Atomic uint64_t rg__heap_trigger = RG__MIN_HEAP;
_Atomic uint64_t rg__total_alloc;
_Atomic uint64_t rg__large_allocs;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
static int gogc = 100;          /* -1: off; immutable after init */
static uint64_t memlimit;       /* 0: none; immutable after init */
static bool gctrace;            /* immutable after init */
static int64_t start_ns;        /* immutable after init */

static pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;
/* Mutation sections of threads without a P (rg_gc_mutate_begin) hold it
 * shared; a collection holds it exclusive from before it flushes the
 * caches until it has swept.  Writers first: a steady stream of short
 * sections must not starve the collector.  Order: gc_lock -> the world
 * -> mut_lock -> shared_lock. */
static pthread_rwlock_t mut_lock;
static __thread unsigned tl_mutating; /* sections this thread has open */
/* Collections asked of a task by threads without a P (ask_task). */
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ask_cond; /* CLOCK_MONOTONIC; made by init_once_fn */
/* Threads without a P waiting for a collection to end (pace_wait): they
 * count themselves in pace_waiters (seq_cst), and finish broadcasts
 * pace_cond under pace_lock when it is not 0. */
static pthread_mutex_t pace_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pace_cond; /* CLOCK_MONOTONIC; made by init_once_fn */
static _Atomic int pace_waiters;
/* Phase times of the current collection (gc_lock), for gctrace. */
static int64_t t_stopped, t_marked, t_swept;
/* Collections begun and ended (finish), each counted under gc_lock: the
 * one numbered k began after any caller that read gc_started < k, and has
 * ended once num_gc >= k (ask_task). */
static _Atomic uint64_t gc_started, num_gc;

/* Statistics of finished collections (stats_lock). */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t st_marked, st_pause_total, st_pause_last, st_pause_max;

/* Roots (roots_lock): the registered ranges, and the regions other
 * modules keep outside the heap (gc_hook.h; a circular list). */
static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct root { uintptr_t lo, hi; } *roots;
static size_t nroots, caproots;
static struct rg__gc_region regions = {&regions, &regions, 0, 0};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t rg__memlimit(void) { return memlimit; }

/* "123", "64M", "2GiB", "1.5G" -> bytes; 0 when unparsable. */
static uint64_t parse_bytes(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return 0;
	double m = 1;
	switch (*end) {
	case 'k': case 'K': m = 1024.0; break;
	case 'm': case 'M': m = 1024.0 * 1024; break;
	case 'g': case 'G': m = 1024.0 * 1024 * 1024; break;
	case 't': case 'T': m = 1024.0 * 1024 * 1024 * 1024; break;
	case 'B': case '\0': break;
	default: return 0;
	}
	v *= m;
	if (!(v < 18446744073709551616.0)) /* 2^64 or more, inf, nan: no limit */
		return UINT64_MAX;
	return (uint64_t)v;
}

static void init_once_fn_(void);

/* The first allocation's: the heap's reservation tries sizes the address
 * space may refuse (RLIMIT_AS: ENOMEM, then a smaller size that works),
 * and that failure stayed in errno although the allocation succeeded,
 * where the library promises never to touch it (tests/gc/
 * test_errno.c). */
static void init_once_fn(void)
{
	int saved = errno;
	init_once_fn_();
	errno = saved;
}

static void init_once_fn_(void)
{
	start_ns = now_ns();
	const char *e = getenv("RINGO_GOGC");
	if (e && *e) {
		if (!strcmp(e, "off"))
			gogc = -1;
		else {
			char *end;
			long v = strtol(e, &end, 10);
			if (*end || v < 0)
				rg__log("gc: RINGO_GOGC=%s is not a number or \"off\"; using 100", e);
			else
				gogc = v > 1000000 ? 1000000 : (int)v;
		}
	}
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&mut_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ask_cond, &ca);
	pthread_cond_init(&pace_cond, &ca);
	pthread_condattr_destroy(&ca);
	e = getenv("RINGO_MEMLIMIT");
	if (e && *e) {
		memlimit = parse_bytes(e);
		if (!memlimit)
			rg__log("gc: RINGO_MEMLIMIT=%s is not a size; no limit", e);
	}
	e = getenv("RINGO_DEBUG");
	if (e && strstr(e, "gctrace=1"))
		gctrace = true;
	int r = rg__sizeclass_init();
	if (r < 0) {
		rg__log("gc: size class table came out wrong");
		init_result = r;
		return;
	}
	r = rg__heap_init();
	if (r < 0) {
		rg__log("gc: cannot reserve address space for the heap");
		init_result = r;
	}
}

int rg__gc_init(void)
{
	pthread_once(&init_once, init_once_fn);
	return init_result;
}

/* ---- types ------------------------------------------------------------ */

/* Builds (once) the pointer bitmap of t: bit i set if word i of an element
 * holds a pointer.  0, or -EINVAL for a bad layout. */
int rg__type_bitmap(rg_gc_type *t)
{
	uint64_t *bm = __atomic_load_n((uint64_t **)&t->priv_, __ATOMIC_ACQUIRE);
	if (bm)
		return 0;
	/* no bigger than an allocation may be (malloc.c's MAX_REQUEST, 64
	 * TiB): (size + 7) / 8 wrapped to 0 words for sizes near SIZE_MAX,
	 * and any offset below such a size wrote past the bitmap */
	if (t->size == 0 || t->size > ((size_t)1 << 46))
		return -EINVAL;
	size_t words = (t->size + 7) / 8;
	if (t->nptrs && !t->ptr_offsets)
		return -EINVAL;
	bm = rg__calloc((words + 63) / 64 + 1, sizeof *bm);
	if (!bm)
		return -ENOMEM;
	for (size_t i = 0; i < t->nptrs; i++) {
		size_t off = t->ptr_offsets[i];
		/* (off + 8 > size wrapped for off near SIZE_MAX) */
		if (off % sizeof(void *) || off >= t->size || t->size - off < sizeof(void *)) {
			rg__free(bm);
			return -EINVAL;
		}
		bm[off / 8 / 64] |= 1ull << (off / 8 % 64);
	}
	uint64_t *expect = NULL;
	if (!__atomic_compare_exchange_n((uint64_t **)&t->priv_, &expect, bm, false,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		rg__free(bm);
	return 0;
}

/* ---- roots ------------------------------------------------------------ */

RG_API int rg_gc_root_add(void *addr, size_t len)
{
	if (!addr || !len || (uintptr_t)addr + len < (uintptr_t)addr)
		return -EINVAL;
	pthread_mutex_lock(&roots_lock);
	if (nroots == caproots) {
		size_t cap = caproots ? caproots * 2 : 16;
		struct root *n = rg__realloc(roots, cap * sizeof *n);
		if (!n) {
			pthread_mutex_unlock(&roots_lock);
			return -ENOMEM;
		}
		roots = n;
		caproots = cap;
	}
	roots[nroots].lo = (uintptr_t)addr;
	roots[nroots].hi = (uintptr_t)addr + len;
	nroots++;
	pthread_mutex_unlock(&roots_lock);
	return 0;
}

void rg__gc_region_add(struct rg__gc_region *r, const void *addr, size_t len)
{
	r->lo = (uintptr_t)addr;
	r->hi = (uintptr_t)addr + len;
	pthread_mutex_lock(&roots_lock);
	r->next = &regions;
	r->prev = regions.prev;
	regions.prev->next = r;
	regions.prev = r;
	pthread_mutex_unlock(&roots_lock);
}

void rg__gc_region_remove(struct rg__gc_region *r)
{
	pthread_mutex_lock(&roots_lock);
	r->prev->next = r->next;
	r->next->prev = r->prev;
	pthread_mutex_unlock(&roots_lock);
	r->next = r->prev = NULL;
}

RG_API int rg_gc_root_remove(void *addr, size_t len)
{
	int r = -ENOENT;
	pthread_mutex_lock(&roots_lock);
	for (size_t i = nroots; i-- > 0;) {
		if (roots[i].lo == (uintptr_t)addr && roots[i].hi == (uintptr_t)addr + len) {
			roots[i] = roots[--nroots];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&roots_lock);
	return r;
}

/* ---- mark ------------------------------------------------------------- */

/* Collector state: only the collecting thread (gc_lock, world stopped). */
static struct {
	struct item { uintptr_t obj; rg__span *span; } *stack;
	size_t n, cap;
	bool overflow;
	uintptr_t lo, hi;           /* heap bounds, for a cheap first filter */
	uint64_t marked_bytes;
	uint64_t root_bytes;        /* roots and stacks scanned: pacing */
} mk;

/* Tests: a mark stack limit (entries), to drive the overflow recovery;
 * and its copy of the span list made to fail, as out of memory would. */
size_t rg__gc_debug_mark_cap;
bool rg__gc_debug_overflow_nocopy;

static void push(uintptr_t obj, rg__span *s)
{
	if (RG__UNLIKELY(rg__gc_debug_mark_cap) && mk.n >= rg__gc_debug_mark_cap) {
		mk.overflow = true;
		return;
	}
	if (mk.n == mk.cap) {
		size_t cap = mk.cap ? mk.cap * 2 : 4096;
		struct item *n = rg__realloc(mk.stack, cap * sizeof *n);
		if (!n) {
			mk.overflow = true;
			return;
		}
		mk.stack = n;
		mk.cap = cap;
	}
	mk.stack[mk.n].obj = obj;
	mk.stack[mk.n].span = s;
	mk.n++;
}

static inline void mark_word(uintptr_t v)
{
	if (v - mk.lo >= mk.hi - mk.lo)
		return;
	rg__span *s = rg__span_of(v);
	if (!s)
		return;
	size_t idx = 0;
	uintptr_t obj = s->base;
	if (!s->large) {
		idx = (size_t)(((uint64_t)(v - s->base) * s->divmul) >> 32);
		if (idx >= s->nelems)
			return;
		obj += idx * s->elemsize;
	}
	uint64_t m = 1ull << (idx % 64);
	if (!(s->alloc_bits[idx / 64] & m) || (s->mark_bits[idx / 64] & m))
		return;
	s->mark_bits[idx / 64] |= m;
	mk.marked_bytes += s->elemsize;
	if (!(s->spanclass & 1))
		push(obj, s);
}

/* Conservative scan of [lo, hi): stacks and roots hold redzones and
 * uninitialised slots, hence no sanitizer instrumentation here. */
__attribute__((no_sanitize("address", "thread", "undefined")))
static void scan_range(uintptr_t lo, uintptr_t hi)
{
	lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
	for (uintptr_t p = lo; p + sizeof(uintptr_t) <= hi; p += sizeof(uintptr_t))
		mark_word(*(const uintptr_t *)p);
}

/* A root range or a stack: scanned, and counted for the next goal. */
static void scan_root(uintptr_t lo, uintptr_t hi)
{
	mk.root_bytes += hi - lo;
	scan_range(lo, hi);
}

static void scan_object(uintptr_t obj, rg__span *s)
{
	if (s->typed) {
		size_t idx = s->large ? 0 : (size_t)(((uint64_t)(obj - s->base) * s->divmul) >> 32);
		const rg_gc_type *t = s->types[idx];
		const uint64_t *bm = t ? __atomic_load_n((uint64_t *const *)&t->priv_, __ATOMIC_ACQUIRE) : NULL;
		if (bm) {
			size_t words = (t->size + 7) / 8;
			for (size_t e = 0; e + t->size <= s->elemsize; e += t->size) {
				for (size_t w = 0; w < words; w++)
					if (bm[w / 64] >> (w % 64) & 1)
						mark_word(*(const uintptr_t *)(obj + e + w * 8));
			}
			return;
		}
	}
	scan_range(obj, obj + s->elemsize);
}

/* Pops objects through a small FIFO and prefetches each one as it enters:
 * by the time an object is scanned its first line is (often) in cache.
 * Marking is bound by these misses, not by instructions. */
#define PREFETCH 16
static void drain(void)
{
	struct item ring[PREFETCH];
	unsigned head = 0, count = 0;
	for (;;) {
		while (count < PREFETCH && mk.n) {
			struct item it = mk.stack[--mk.n];
			__builtin_prefetch((const void *)it.obj);
			ring[(head + count++) % PREFETCH] = it;
		}
		if (!count)
			break;
		struct item it = ring[head];
		head = (head + 1) % PREFETCH;
		count--;
		scan_object(it.obj, it.span);
	}
}

/* After an overflow: scan every marked object of every scan span again
 * until a pass marks nothing new. */
static void recover_overflow(void)
{
	while (mk.overflow) {
		mk.overflow = false;
		rg__heap_lock();
		size_t n;
		rg__span **all = rg__heap_allspans(&n);
		rg__span **copy = RG__UNLIKELY(rg__gc_debug_overflow_nocopy) ? NULL : rg__malloc(n * sizeof *copy);
		if (copy)
			memcpy(copy, all, n * sizeof *copy);
		rg__heap_unlock();
		if (!copy) {
			/* Out of memory: the same pass over the list itself,
			 * under the heap lock (marking takes none).  It set
			 * overflow itself and looped for ever, world stopped,
			 * and left what it pushed undrained (found by the gc
			 * review).  A pass ends the loop unless a push failed,
			 * and a push fails only for an object it has just
			 * marked: the marked set grows each time round. */
			rg__heap_lock();
			all = rg__heap_allspans(&n);
			for (size_t i = 0; i < n; i++)
				for (size_t j = 0; j < all[i]->nelems; j++)
					if (!(all[i]->spanclass & 1) && all[i]->mark_bits[j / 64] >> (j % 64) & 1) {
						scan_object(all[i]->base + j * all[i]->elemsize, all[i]);
						drain();
					}
			rg__heap_unlock();
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			rg__span *s = copy[i];
			if (s->spanclass & 1)
				continue;
			for (size_t j = 0; j < s->nelems; j++)
				if (s->mark_bits[j / 64] >> (j % 64) & 1) {
					scan_object(s->base + j * s->elemsize, s);
					drain();
				}
		}
		rg__free(copy);
	}
}

static void mark_recent(uintptr_t p) { mark_word(p); }

/* A task's stack (its saved registers and its record, with the argument
 * and per-task slots, lie inside the range) and its task-local values
 * (rg_tls_set; an array of core's, off the stack), both conservatively. */
static void scan_task(rg__task *t, void *arg)
{
	void *lo = NULL, *hi = NULL;
	rg__task_stack_range(t, &lo, &hi);
	if (lo && hi > lo)
		scan_root((uintptr_t)lo, (uintptr_t)hi);
	lo = hi = NULL;
	rg__task_tls_range(t, &lo, &hi);
	if (lo && hi > lo)
		scan_root((uintptr_t)lo, (uintptr_t)hi);
	drain();
}

__attribute__((noinline)) static void scan_from_here(uintptr_t hi)
{
	uintptr_t lo = (uintptr_t)__builtin_frame_address(0);
	if (hi > lo)
		scan_root(lo, hi);
	drain();
}

/* Spills callee-saved registers into this frame, then scans the stack
 * from below it up to hi. */
__attribute__((noinline)) static void scan_own_stack(uintptr_t hi)
{
	jmp_buf regs;
	__builtin_unwind_init();
	setjmp(regs);
	scan_from_here(hi);
	__asm__ volatile("" : : "r"(&regs) : "memory");
}

static uintptr_t thread_stack_top(void)
{
	static __thread uintptr_t top;
	if (!top) {
		pthread_attr_t a;
		void *addr;
		size_t size;
		if (pthread_getattr_np(pthread_self(), &a) == 0) {
			if (pthread_attr_getstack(&a, &addr, &size) == 0)
				top = (uintptr_t)addr + size;
			pthread_attr_destroy(&a);
		}
	}
	return top;
}

/* ---- sweep ------------------------------------------------------------ */

/*
 * The order of the partial lists, which is the order the next cycle
 * allocates in, alternates: each sweep files the spans in the reverse of
 * the previous sweep's order (put_swept pushes, so walking `all` downwards
 * files it upwards).  A cycle's allocations sweep through the whole heap
 * goal (1 MiB at least; it was 4 MiB, more than a core's L2), and in
 * the same order every cycle each cleared line would be the one least
 * recently used: always a miss.  Reversed, the next cycle starts on the
 * spans the last one ended on, still in cache (on a 2 MiB-L2 Xeon: a
 * standalone loop zeroing 8 KiB runs of a 4 MiB region, 10.8 -> 8.9 ns per
 * 256 bytes; `taskset -c 1 bench_gc_heap 300 256`, 15.3 -> 13.3 ns).
 */
static unsigned sweep_flip;

/* Sweeps s; true if it went back to the heap (which moves the last span
 * of the heap's list into its place).  free_all: free every empty span,
 * even one an mcache used during the cycle (collections made because memory ran out: the limit, or
 * rg_gc_free_os_memory, where keeping them would fail the very allocation
 * the collection was for). */
static bool sweep_span(rg__span *s, bool free_all)
{
	unsigned nw = (s->nelems + 63u) / 64u, nlive = 0;
	for (unsigned w = 0; w < nw; w++)
		nlive += rg__popcount64(s->mark_bits[w]);
	/* An empty span goes back to the heap, unless an mcache used it
	 * during the last cycle: then it stays in its mcentral for one
	 * more, since a steady allocator would only take it again (and
	 * freeing and remaking spans every cycle costs). */
	if (!nlive && (s->large || !s->was_cached || free_all)) {
		rg__heap_free_span_locked(s);
		return true;
	}
	s->was_cached = 0;
	uint64_t *t = s->alloc_bits;
	s->alloc_bits = s->mark_bits;
	s->mark_bits = t;
	memset(t, 0, nw * sizeof *t);
	s->nlive = (uint16_t)nlive;
	s->cache_word = -1;
	s->alloc_cache = 0;
	if (s->large)
		return false;
	s->needzero = 1;
	rg__mcentral_put_swept(s);
	return false;
}

static void sweep_all(bool free_all)
{
	rg__heap_lock();
	rg__mcentral_reset();
	size_t n;
	rg__span **all = rg__heap_allspans(&n);
	if (++sweep_flip & 1) {
		/* upwards: a freed span's place takes the list's last one,
		 * not visited yet */
		for (size_t k = 0; k < n;)
			if (sweep_span(all[k], free_all))
				rg__heap_allspans(&n);
			else
				k++;
	} else {
		/* downwards: the last one was visited already */
		for (size_t k = n; k-- > 0;)
			sweep_span(all[k], free_all);
	}
	rg__heap_unlock();
}

/* ---- heap verifier ----------------------------------------------------
 * Walks every in-use span and checks what the allocator and the sweeper
 * promise: the span map points every page of a span at it, object counts
 * fit, mark bits are clear between collections, central lists hold only
 * spans of their class.  Returns the number of problems (each logged).
 * World stopped, or a program that is not allocating concurrently. */
int rg__gc_verify(void)
{
	int bad = 0;
	rg__heap_lock();
	size_t n;
	rg__span **all = rg__heap_allspans(&n);
	for (size_t i = 0; i < n; i++) {
		rg__span *s = all[i];
		if (s->allidx != i) {
			rg__log("gc verify: span %p allidx %u at %zu", (void *)s, s->allidx, i);
			bad++;
		}
		for (size_t pg = 0; pg < s->npages; pg++) {
			if (rg__span_of(s->base + pg * RG__PAGE_SIZE) != s) {
				rg__log("gc verify: page %zu of span %p not mapped to it", pg, (void *)s);
				bad++;
				break;
			}
		}
		unsigned nw = (s->nelems + 63u) / 64u;
		for (unsigned w = 0; w < nw; w++) {
			if (s->mark_bits[w]) {
				rg__log("gc verify: span %p has mark bits between collections", (void *)s);
				bad++;
				break;
			}
		}
		if (s->large ? s->nelems != 1 || s->elemsize != s->npages * RG__PAGE_SIZE
		             : s->elemsize != rg__class_size[s->spanclass >> 1] ||
		                   s->nelems != rg__class_nelems[s->spanclass >> 1] ||
		                   s->npages != rg__class_npages[s->spanclass >> 1]) {
			rg__log("gc verify: span %p has a wrong shape", (void *)s);
			bad++;
		}
		if (nw && (s->alloc_bits[nw - 1] & ~((s->nelems % 64) ? (1ull << (s->nelems % 64)) - 1
		                                                      : ~(uint64_t)0))) {
			rg__log("gc verify: span %p has alloc bits past its last object", (void *)s);
			bad++;
		}
	}
	rg__heap_unlock();
	return bad;
}

/* ---- the collection --------------------------------------------------- */

/* World stopped (or no runtime), gc_lock held.  own_hi: top of the
 * caller's stack; tasks: scan every other task too. */
static void collect_stopped(uintptr_t own_hi, bool tasks, bool free_all)
{
	/* before it waits for the mutation sections: a store a section made
	 * before a caller read gc_started is seen by this mark, or this
	 * collection counts as begun before that caller (ask_task) */
	atomic_fetch_add(&gc_started, 1);
	pthread_rwlock_wrlock(&mut_lock);
	rg__mcache_world_lock();
	rg__mcache_flush_all();
	mk.lo = rg__heap_lo();
	mk.hi = rg__heap_hi();
	mk.marked_bytes = 0;
	mk.root_bytes = 0;
	mk.overflow = false;

	rg__shared_recent_each(mark_recent, !tasks);
	drain();

	pthread_mutex_lock(&roots_lock);
	for (size_t i = 0; i < nroots; i++) {
		scan_root(roots[i].lo, roots[i].hi);
		drain();
	}
	for (struct rg__gc_region *r = regions.next; r != &regions; r = r->next) {
		scan_root(r->lo, r->hi);
		drain();
	}
	pthread_mutex_unlock(&roots_lock);
	if (own_hi)
		scan_own_stack(own_hi);
	if (tasks)
		rg__for_each_task(scan_task, NULL);
	drain();
	recover_overflow();
	t_marked = now_ns();
	sweep_all(free_all);
	t_swept = now_ns();
	uint64_t marked = mk.marked_bytes;
	/* Go 1.18's goal: the next cycle's scan work (live objects, roots
	 * and stacks) is paid for by GOGC % as many bytes of allocation, so a
	 * program that parks 100,000 tasks over a small heap does not scan
	 * their stacks every RG__MIN_HEAP of allocation. */
	uint64_t goal = gogc < 0 ? UINT64_MAX
	                         : marked + (marked + mk.root_bytes) / 100 * (uint64_t)gogc;
	if (goal < RG__MIN_HEAP)
		goal = RG__MIN_HEAP;
	atomic_store_explicit(&rg__heap_live, marked, memory_order_relaxed);
	atomic_store_explicit(&rg__heap_trigger, goal, memory_order_relaxed);
	if (mk.cap > (1u << 20)) { /* do not keep a huge mark stack around */
		rg__free(mk.stack);
		mk.stack = NULL;
		mk.cap = 0;
	}
	rg__mcache_world_unlock();
	pthread_rwlock_unlock(&mut_lock);
	pthread_mutex_lock(&stats_lock);
	st_marked = marked;
	pthread_mutex_unlock(&stats_lock);
}

/* A collection ended (num_gc counted, seq_cst), or rg_run stops: wakes
 * the threads pacing waits (pace_wait). */
static void pace_wake(void)
{
	if (atomic_load(&pace_waiters)) {
		pthread_mutex_lock(&pace_lock);
		pthread_cond_broadcast(&pace_cond);
		pthread_mutex_unlock(&pace_lock);
	}
}

static void finish(int64_t t0, uint64_t before)
{
	int64_t pause = now_ns() - t0;
	/* (release: a waiter that sees it reads the swept heap; seq_cst:
	 * before pace_wake reads pace_waiters) */
	uint64_t n = atomic_fetch_add(&num_gc, 1) + 1;
	pace_wake();
	pthread_mutex_lock(&stats_lock);
	st_pause_total += (uint64_t)pause;
	st_pause_last = (uint64_t)pause;
	if ((uint64_t)pause > st_pause_max)
		st_pause_max = (uint64_t)pause;
	uint64_t marked = st_marked;
	pthread_mutex_unlock(&stats_lock);
	if (gctrace)
		rg__log("gc %llu @%.3fs: %.3f ms stw (stop %.3f, mark %.3f, sweep %.3f), "
		        "%.1f -> %.1f MiB, %.1f MiB goal, %d P",
		        (unsigned long long)n, (double)(t0 - start_ns) / 1e9, (double)pause / 1e6,
		        (double)(t_stopped > t0 ? t_stopped - t0 : 0) / 1e6,
		        (double)(t_marked - (t_stopped > t0 ? t_stopped : t0)) / 1e6,
		        (double)(t_swept - t_marked) / 1e6,
		        (double)before / 1048576.0, (double)marked / 1048576.0,
		        (double)atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed) / 1048576.0,
		        rg__nprocs());
	rg__heap_scavenger_kick();
}

/* From a task on a P.  triggered: skip if someone collected meanwhile.
 * reclaim: memory ran out, free every empty span.  then(arg), if given,
 * runs after the sweep with the world still stopped. */
static void collect_task(bool triggered, bool reclaim, void (*then)(void *), void *arg)
{
	uint64_t n0 = atomic_load_explicit(&num_gc, memory_order_relaxed);
	while (pthread_mutex_trylock(&gc_lock) != 0) {
		rg__safepoint();
		sched_yield();
	}
	if (triggered && (atomic_load_explicit(&num_gc, memory_order_relaxed) != n0 ||
	                  atomic_load_explicit(&rg__heap_live, memory_order_relaxed) <
	                      atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed))) {
		pthread_mutex_unlock(&gc_lock);
		return;
	}
	uint64_t before = atomic_load_explicit(&rg__heap_live, memory_order_relaxed);
	int64_t t0 = now_ns();
	rg__stw_stop();
	t_stopped = now_ns();
	void *lo = NULL, *hi = NULL;
	rg__task_stack_range(rg__self(), &lo, &hi);
	collect_stopped((uintptr_t)hi, true, reclaim);
	if (then)
		then(arg);
	rg__stw_start();
	finish(t0, before);
	pthread_mutex_unlock(&gc_lock);
}

/* Outside rg_run: the calling thread's stack and the roots. */
static void collect_thread(bool triggered, bool reclaim)
{
	pthread_mutex_lock(&gc_lock);
	if (triggered && atomic_load_explicit(&rg__heap_live, memory_order_relaxed) <
	                     atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed)) {
		pthread_mutex_unlock(&gc_lock);
		return;
	}
	uint64_t before = atomic_load_explicit(&rg__heap_live, memory_order_relaxed);
	int64_t t0 = now_ns();
	t_stopped = 0;
	collect_stopped(thread_stack_top(), false, reclaim);
	finish(t0, before);
	pthread_mutex_unlock(&gc_lock);
}

static bool in_task(void) { return rg__getp() && rg__self(); }
/* Outside rg_run a collection is automatic only while one living thread has
 * allocated: other threads' stacks could not be scanned.  "Outside" is
 * rg__outside_begin's to say (rg__nprocs() raced with rg_run starting). */
static bool lone_thread(void)
{
	return rg__foreign_threads() <= 1 && !tl_mutating; /* and rg__outside_begin */
}

RG_API void rg_gc_mutate_begin(void)
{
	if (rg__getp() || rg__gc_init() < 0)
		return;
	if (!tl_mutating++)
		pthread_rwlock_rdlock(&mut_lock);
}

RG_API void rg_gc_mutate_end(void)
{
	if (tl_mutating && !--tl_mutating)
		pthread_rwlock_unlock(&mut_lock);
}

/* The goal, reached by a thread without a P inside rg_run: it cannot stop
 * the world, and tasks look at the goal only in their own allocation slow
 * path, so a heap grown by such threads alone (every task parked) grew
 * without bound.  It spawns a task to collect and goes on without
 * waiting (its recent ring covers what it allocates meanwhile).  At most
 * one such task is spawned at a time: trigger_spawned is set by the
 * spawner and cleared by the task once its collection is done (or by a
 * failed spawn, or by the stop hook, which forgets a task discarded
 * queued; a foreign thread whose rg_go lands in the next rg_run after
 * that may make it two).  Threads that find it set pay one relaxed load;
 * below the goal, nothing is added to the check every allocation of a
 * thread without a P makes. */
static _Atomic bool trigger_spawned;
/* How often a thread without a P waiting for a task's collection looks at
 * rg__run_stopping() (ask_task, pace_wait). */
#define ASK_POLL_NS (5 * 1000000LL)
/* How long such a waiter lets no collection end before it gives up. */
#define ASK_PATIENCE_NS (10 * 1000000000LL)

static void trigger_task(void *unused)
{
	(void)unused;
	collect_task(true, false, NULL, NULL); /* (skipped if one ran since) */
	atomic_store(&trigger_spawned, false);
}

static void trigger_spawn(void)
{
	if (atomic_load_explicit(&trigger_spawned, memory_order_relaxed) ||
	    atomic_exchange(&trigger_spawned, true))
		return;
	if (rg_go_opts(trigger_task, NULL, &(rg_task_opts){.name = "gc trigger"}) < 0)
		atomic_store(&trigger_spawned, false);
}

/* ---- pacing of threads without a P ------------------------------------
 *
 * A task that finds the heap at its goal collects there and then: the
 * allocation waits for the whole collection, and no task allocates while
 * the world is stopped, so a heap grown by tasks stays at its goal.  A
 * thread without a P cannot collect; it spawns a task to (above), and
 * without pacing went on allocating until that task had been scheduled,
 * had stopped the world and had marked: on a busy P, several times the
 * goal (gc_pless_pace, 3 to 6.5 goals; 128 MiB mapped seen under load).
 * Go has no such thread: a thread entering Go from C takes an M and a P
 * first, and its allocations pay mark assists like any goroutine's,
 * parking on the assist queue (gcParkAssist) when there is no mark work
 * left to do, until the cycle ends.  ringo's collector marks with the
 * world stopped, from a task, so a thread without a P has no work it
 * could do: it waits, as a parked assist does.
 *
 * Such a thread that finds heap_live past pace_limit(goal) (the goal
 * and an eighth: it goes on while the task comes, so a prompt
 * collection costs it nothing) while a collection it asked for is on
 * its way, waits for a collection to end, on pace_cond: finish
 * broadcasts it when pace_waiters says someone waits (each side writes
 * its counter, then reads the other's, seq_cst: either the waiter sees
 * num_gc moved or the finisher sees the waiter).  It stops waiting as
 * soon as the heap is under the limit again or a collection ended (the
 * one it waited for, or another), and never waits:
 *   - inside a mutation section (the collection waits for it);
 *   - outside rg_run (nothing would collect: there the lone thread
 *     collects itself, and with several threads nothing collects);
 *   - when rg_run stops (the stop hook clears trigger_spawned and wakes
 *     the waiters; a waiter polls rg__run_stopping() every ASK_POLL_NS);
 *   - for longer than its patience: the collection may never come while
 *     this thread runs (a P's thread blocked in a lock it holds, a task
 *     that never reaches a safepoint).  It then allocates anyway, and
 *     waits no more until some collection has ended (tl_pace_gave_up): a
 *     thread holding such a lock pays the patience once, not at each
 *     allocation, and releases the lock.  The patience, PACE_PATIENCE_NS
 *     (1 s; waits end in 10-12 ms at most in gc_pless_pace on a quiet
 *     machine), is counted in polls of ASK_POLL_NS, each for no more
 *     than its length: on a machine so loaded that this thread wakes
 *     late, the task it waits for is as starved as it is, and a wait of
 *     1.3 s in wall time was seen beside other jobs (load average 18 on
 *     2 CPUs), where giving up after a second of wall time let the heap
 *     run to 1.6-2.7 goals.  ASK_PATIENCE_NS (10 s) of wall time ends it in
 *     any case.
 * The heap is then bounded by the limit plus what the shared cache holds
 * and the grain of a span (or a large object), not by how late the task
 * runs.  The cost is paid only past the goal: below it the check every
 * allocation of such a thread makes is the same two loads. */
#define PACE_PATIENCE_NS (1000 * 1000000LL)

/* num_gc + 1 when this thread last gave up waiting (0: never) */
static __thread uint64_t tl_pace_gave_up;

static uint64_t pace_limit(uint64_t goal)
{
	uint64_t slack = goal / 8;
	return goal > UINT64_MAX - slack ? UINT64_MAX : goal + slack;
}

static bool pace_over(void)
{
	return atomic_load_explicit(&rg__heap_live, memory_order_relaxed) >=
	       pace_limit(atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed));
}

static void trigger_spawn(void);

/* A thread without a P inside rg_run, outside any mutation section, the
 * heap past its goal (a task spawned to collect): waits while the heap
 * is past the pace limit and no collection has ended since n0 (num_gc,
 * read before the heap was). */
static void pace_wait(uint64_t n0)
{
	if (tl_mutating || tl_pace_gave_up == n0 + 1 || !pace_over())
		return;
	atomic_fetch_add(&pace_waiters, 1);
	int64_t t0 = now_ns(), waited = 0; /* waited: polls, see above */
	pthread_mutex_lock(&pace_lock);
	for (;;) {
		if (atomic_load(&num_gc) != n0 || !pace_over())
			break;
		if (rg__run_stopping() || rg__nprocs() == 0)
			break;
		if (!atomic_load_explicit(&trigger_spawned, memory_order_relaxed)) {
			/* its task skipped its collection (one had just run),
			 * or rg_run is stopping: ask again (or fail to) */
			pthread_mutex_unlock(&pace_lock);
			trigger_spawn();
			pthread_mutex_lock(&pace_lock);
			if (!atomic_load_explicit(&trigger_spawned, memory_order_relaxed))
				break; /* no task could be made */
			continue;
		}
		int64_t now = now_ns();
		if (waited >= PACE_PATIENCE_NS || now - t0 >= ASK_PATIENCE_NS) {
			tl_pace_gave_up = n0 + 1;
			break;
		}
		int64_t until = now + ASK_POLL_NS;
		struct timespec ts = {until / 1000000000, until % 1000000000};
		pthread_cond_timedwait(&pace_cond, &pace_lock, &ts);
		int64_t took = now_ns() - now;
		waited += took < ASK_POLL_NS ? took : ASK_POLL_NS;
	}
	pthread_mutex_unlock(&pace_lock);
	atomic_fetch_sub(&pace_waiters, 1);
}

void rg__gc_maybe_trigger(void)
{
	if (gogc < 0 || atomic_load_explicit(&rg__heap_live, memory_order_relaxed) <
	                    atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed))
		return;
	/* Past the goal only (this is every allocation slow path's check,
	 * tasks' too).  A collection that ends after this read ends the
	 * pacing wait below; one that ended just before it swept the heap and
	 * moved the goal, which pace_wait's own look at the heap then sees. */
	uint64_t n0 = atomic_load(&num_gc);
	if (in_task()) {
		collect_task(true, false, NULL, NULL);
	} else if (rg__getp()) {
		/* a P's thread outside any task: it will stop for a task's */
	} else if (atomic_load_explicit(&trigger_spawned, memory_order_relaxed)) {
		/* a task is on its way: no lock below while it comes, unless
		 * the heap is past the pace limit */
		pace_wait(n0);
	} else if (lone_thread() && rg__outside_begin()) {
		collect_thread(true, false);
		rg__outside_end();
	} else if (rg__nprocs() > 0) { /* inside rg_run (rg_go fails outside) */
		trigger_spawn();
		if (atomic_load_explicit(&trigger_spawned, memory_order_relaxed))
			pace_wait(n0);
	}
}

/* ---- collections asked for by threads without a P ---------------------
 *
 * Inside rg_run only a task can stop the world.  A thread without a P
 * (an rg_blocking section, a foreign thread) that needs a collection
 * links an ask on `asks` and waits; the first to find no reclaim task
 * spawned spawns one (rg_go works from any thread).  Two kinds:
 *   - an allocation that found no memory (at RINGO_MEMLIMIT) asks with
 *     its retry.  The task collects as a task's own allocation would
 *     (collect_task, every empty span freed) and after the sweep, world
 *     still stopped, runs the retry and marks the ask done: the
 *     allocation is made before the other Ps run again and take what the
 *     sweep freed.  Any collection that has swept will do;
 *   - rg_gc_collect asks with no retry, and with the number of the last
 *     collection begun when it asked (gc_started): only a collection
 *     begun after that serves it.  One already marking may have marked
 *     before the caller's last stores (Go's runtime.GC also waits for a
 *     whole cycle).  The waiter returns once that collection has ended
 *     (num_gc), whoever ran it: a task's own collection will do too.
 * Several waiters share one collection.  The reclaim task collects again
 * while asks are left (those linked after its sweep took the list, and
 * rg_gc_collect's that its collection had begun before), so at most one
 * is spawned at a time, and it leaves ask_spawned only with `asks` empty.
 *
 * What keeps it from deadlocking:
 *   - the waiter holds no lock of the collector's: shared_lock is let go
 *     before it asks, and a thread inside a mutation section (which the
 *     collector waits for) never asks: NULL at once, and rg_gc_collect's
 *     -EDEADLK;
 *   - its stack is not scanned, as always for such a thread; what it
 *     allocated last is in its ring, which a task's collection marks; the
 *     task of an rg_blocking section waits in the pool, on no P, scanned
 *     from what it saved;
 *   - a task asked for may never run: rg_run stops (tasks still queued
 *     are discarded, and rg_run waits for rg_blocking sections, so a
 *     section must not wait for one), or rg_go fails (-ESHUTDOWN: rg_run
 *     starting or stopping; -ENOMEM).  A waiter wakes every ASK_POLL_NS to
 *     look at rg__run_stopping() and withdraws its ask (-ESHUTDOWN); a
 *     failed spawn fails every ask waiting for it; a stop hook fails any
 *     ask left and forgets the discarded task (a foreign thread may sleep
 *     through a whole stop and the next rg_run's start);
 *   - the Ps may never stop: a task that runs without a safepoint, or a P
 *     thread blocked in a lock that the waiter holds (pthread_mutex_lock
 *     is no safepoint).  A waiter that sees no collection end for
 *     ASK_PATIENCE_NS withdraws (-ETIMEDOUT; NULL for an allocation): a
 *     hang turned into an error.
 * An ask is withdrawn only while still linked, and asks_serve and
 * asks_fail_locked unlink the ones they end, all under ask_lock: once the
 * waiter has returned, nothing touches its ask (it lives on the waiter's
 * stack).
 */

struct ask {
	void (*retry)(void *); /* run by asks_serve, world stopped; NULL:
	                          rg_gc_collect's */
	void *arg;
	uint64_t after;        /* rg_gc_collect's: gc_started when it asked */
	bool done;             /* served or failed: unlinked (ask_lock) */
	int err;               /* failed: why (ask_lock) */
	struct ask *next, **prev; /* asks (ask_lock) */
};
static struct ask *asks;  /* ask_lock */
static bool ask_spawned;  /* ask_lock: a reclaim task is spawned and has
                             not yet found `asks` empty */

static void ask_unlink(struct ask *a)
{
	*a->prev = a->next;
	if (a->next)
		a->next->prev = a->prev;
}

/* ask_lock held: every waiting ask ends, failed with err (retry not run). */
static void asks_fail_locked(int err)
{
	for (struct ask *a = asks; a; a = a->next) {
		a->done = true;
		a->err = err;
	}
	asks = NULL;
	ask_spawned = false;
	pthread_cond_broadcast(&ask_cond);
}

/* The reclaim task's collection, after the sweep, world stopped (gc_lock
 * held: gc_started is this collection's number). */
static void asks_serve(void *unused)
{
	(void)unused;
	uint64_t k = atomic_load_explicit(&gc_started, memory_order_relaxed);
	pthread_mutex_lock(&ask_lock);
	for (struct ask *a = asks, *next; a; a = next) {
		next = a->next;
		if (a->retry)
			a->retry(a->arg);
		else if (a->after >= k) /* asked after this one began */
			continue;
		ask_unlink(a);
		a->done = true;
	}
	pthread_cond_broadcast(&ask_cond);
	pthread_mutex_unlock(&ask_lock);
}

static void reclaim_task(void *unused)
{
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&ask_lock);
		/* (rg_gc_collect's waiters read num_gc, counted by now) */
		pthread_cond_broadcast(&ask_cond);
		bool any = asks != NULL;
		if (!any) /* all served or withdrawn */
			ask_spawned = false;
		pthread_mutex_unlock(&ask_lock);
		if (!any)
			return;
		collect_task(false, true, asks_serve, NULL);
	}
}

/* rg_run has stopped: no task runs, a reclaim task still queued is
 * discarded. */
static void asks_at_stop(void);
__attribute__((constructor)) static void ask_init(void) { rg__at_stop(asks_at_stop); }

/* A thread without a P inside rg_run: a task collects for it, and runs
 * retry(arg) after the sweep (retry NULL: rg_gc_collect's ask, ended by a
 * collection begun after this call).  0, or -ESHUTDOWN (rg_run starting
 * or stopping), -ETIMEDOUT (no collection ended for ASK_PATIENCE_NS),
 * -ENOMEM (no task could be made): retry not run. */
static int ask_task(void (*retry)(void *), void *arg)
{
	struct ask a = {retry, arg, 0, false, 0, NULL, NULL};
	pthread_mutex_lock(&ask_lock);
	a.after = atomic_load(&gc_started);
	a.next = asks;
	a.prev = &asks;
	if (asks)
		asks->prev = &a.next;
	asks = &a;
	bool spawn = !ask_spawned;
	ask_spawned = true;
	pthread_mutex_unlock(&ask_lock);
	if (spawn) {
		int64_t r = rg_go_opts(reclaim_task, NULL, &(rg_task_opts){.name = "gc reclaim"});
		if (r < 0) {
			pthread_mutex_lock(&ask_lock);
			if (!a.done) /* (the stop hook may have failed it already) */
				asks_fail_locked((int)r);
			pthread_mutex_unlock(&ask_lock);
		}
	}
	pthread_mutex_lock(&ask_lock);
	uint64_t seen = atomic_load_explicit(&num_gc, memory_order_acquire);
	int64_t give_up = now_ns() + ASK_PATIENCE_NS;
	int err;
	for (;;) {
		uint64_t n = atomic_load_explicit(&num_gc, memory_order_acquire);
		if (a.done && a.err) {
			err = a.err;
			break;
		}
		if (retry ? a.done : n > a.after) {
			if (!a.done) /* a collection not of the reclaim task's */
				ask_unlink(&a);
			err = 0;
			break;
		}
		int64_t now = now_ns();
		if (n != seen) { /* collections go on: ours is behind them */
			seen = n;
			give_up = now + ASK_PATIENCE_NS;
		}
		/* (done, not counted yet: its collection is finishing) */
		if (!a.done && (rg__run_stopping() || now >= give_up)) {
			ask_unlink(&a);
			err = rg__run_stopping() ? -ESHUTDOWN : -ETIMEDOUT;
			break;
		}
		int64_t until = now + ASK_POLL_NS;
		struct timespec ts = {until / 1000000000, until % 1000000000};
		pthread_cond_timedwait(&ask_cond, &ask_lock, &ts);
	}
	pthread_mutex_unlock(&ask_lock);
	return err;
}

static void asks_at_stop(void)
{
	pthread_mutex_lock(&ask_lock);
	if (asks || ask_spawned)
		asks_fail_locked(-ESHUTDOWN);
	pthread_mutex_unlock(&ask_lock);
	atomic_store(&trigger_spawned, false); /* (its task, if queued, is gone) */
	pace_wake();
}

bool rg__gc_try_reclaim(void (*retry)(void *), void *arg)
{
	if (in_task()) {
		collect_task(false, true, retry, arg);
		return true;
	}
	/* a collection would wait for this thread's own section */
	if (tl_mutating)
		return false;
	if (lone_thread() && rg__outside_begin()) {
		collect_thread(false, true);
		retry(arg);
		rg__outside_end();
		return true;
	}
	/* Inside rg_run (outside it, while other living threads have
	 * allocated, rg_go fails at once).  Not on a P's scheduler, which
	 * must stop for the collection. */
	if (!rg__getp())
		return ask_task(retry, arg) == 0;
	return false;
}

static int collect_now(bool reclaim)
{
	int r = rg__gc_init();
	if (r < 0)
		return r;
	if (in_task()) {
		collect_task(false, reclaim, NULL, NULL);
		return 0;
	}
	/* Inside our own mutate section, before taking the outside-work
	 * lock: a collection on another thread holds that lock while it
	 * waits for our section to end, so taking it here deadlocked
	 * (gc_mutate_collect_deadlk) */
	if (tl_mutating)
		return -EDEADLK;
	/* rg_run must not start while this collection runs: it scans no
	 * task and stops no P (checking rg__nprocs() alone let a run begin
	 * between the check and the sweep) */
	if (rg__outside_begin()) {
		collect_thread(false, reclaim);
		rg__outside_end();
		return 0;
	}
	/* Inside rg_run: a task collects (every empty span freed, as for
	 * reclaim) and this thread waits for it.  Not on a P's scheduler
	 * outside a task, which must stop for the collection. */
	if (rg__getp())
		return -EPERM;
	return ask_task(NULL, NULL);
}

RG_API int rg_gc_collect(void) { return collect_now(false); }

RG_API int rg_gc_free_os_memory(void)
{
	int r = collect_now(true); /* every free page, empty spans too */
	if (r < 0)
		return r;
	rg__heap_scavenge(SIZE_MAX);
	return 0;
}

RG_API int rg_gc_stats_get(rg_gc_stats *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	int r = rg__gc_init();
	if (r < 0)
		return r;
	out->heap_alloc = atomic_load_explicit(&rg__heap_live, memory_order_relaxed);
	out->heap_goal = atomic_load_explicit(&rg__heap_trigger, memory_order_relaxed);
	out->total_alloc = atomic_load_explicit(&rg__total_alloc, memory_order_relaxed);
	out->large_allocs = atomic_load_explicit(&rg__large_allocs, memory_order_relaxed);
	out->num_gc = atomic_load_explicit(&num_gc, memory_order_relaxed);
	out->gogc = gogc;
	pthread_mutex_lock(&stats_lock);
	out->heap_marked = st_marked;
	out->pause_total_ns = st_pause_total;
	out->pause_last_ns = st_pause_last;
	out->pause_max_ns = st_pause_max;
	pthread_mutex_unlock(&stats_lock);
	rg__heap_stats(out);
	return 0;
}
