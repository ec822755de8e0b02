/*
 * gc/gc_int.h — private to gc/: the heap's data structures.
 * The design essay is at the top of gc/malloc.c.
 */
#ifndef RG_GC_GC_INT_H
#define RG_GC_GC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "ringo/gc.h"

#define RG__PAGE_SHIFT 13
#define RG__PAGE_SIZE ((size_t)1 << RG__PAGE_SHIFT)       /* 8 KiB */
#define RG__ARENA_SHIFT 26
#define RG__ARENA_SIZE ((size_t)1 << RG__ARENA_SHIFT)     /* 64 MiB */
#define RG__ARENA_PAGES (RG__ARENA_SIZE / RG__PAGE_SIZE)  /* 8192 */
#define RG__ARENA_WORDS (RG__ARENA_PAGES / 64)
#define RG__NUM_CLASSES 68      /* class 0 = large objects, 1..67 small */
#define RG__MAX_SMALL 32768
#define RG__SMALL_SIZE_DIV 8
#define RG__SMALL_SIZE_MAX 1024
#define RG__LARGE_SIZE_DIV 128
#define RG__TINY_SIZE 16
#define RG__TINY_CLASS 2        /* the 16-byte class */
#define RG__NUM_SPANCLASS (RG__NUM_CLASSES * 2)
#define RG__MAX_OBJS (RG__PAGE_SIZE / 8)                  /* 1024 */
#define RG__BITS_WORDS (RG__MAX_OBJS / 64)                /* 16 */
/* The smallest heap goal.  Go's is 4 MiB; ringo's is 1 MiB so that a
 * small heap that allocates steadily cycles through memory that stays in
 * a core's L2 (1-2 MiB on current x86 servers): every recycled object is
 * zeroed before reuse, and at 4 MiB each zeroed line was an L2 miss
 * (bench_gc_heap 300, 5 alternating rounds, medians: 256 B 12.6 -> 9.2
 * ns, 4 KiB 203 -> 136 ns, 64 KiB 2,680 -> 1,919 ns; 16 and 64 B the
 * same).  A cycle's fixed cost is a few microseconds; the goal's root
 * and stack term (mgc.c) keeps programs with many tasks from collecting
 * more often. */
#define RG__MIN_HEAP ((uint64_t)1 << 20)

#define RG__LIKELY(x) __builtin_expect(!!(x), 1)
#define RG__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Zeroes n bytes the fastest way this CPU has (gc/memclr.c). */
void rg__memclr(void *p, size_t n);

/* Bits set in a word, inline: without -mpopcnt (the x86-64 baseline) the
 * builtin is a call into libgcc, and the allocator's refill and the sweep
 * count bits of every span they touch. */
static inline unsigned rg__popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Size classes (gc/sizeclass.c), computed once by rg__sizeclass_init()
 * exactly as Go's mksizeclasses.go computes them.  Read-only afterwards. */
extern uint32_t rg__class_size[RG__NUM_CLASSES];
extern uint8_t rg__class_npages[RG__NUM_CLASSES];
extern uint16_t rg__class_nelems[RG__NUM_CLASSES];
extern uint32_t rg__class_divmul[RG__NUM_CLASSES];
extern uint8_t rg__size_to_class8[RG__SMALL_SIZE_MAX / RG__SMALL_SIZE_DIV + 1];
extern uint8_t rg__size_to_class128[(RG__MAX_SMALL - RG__SMALL_SIZE_MAX) / RG__LARGE_SIZE_DIV + 1];
int rg__sizeclass_init(void); /* 0, or -EINVAL if the table came out wrong */

static inline unsigned rg__size_to_class(size_t size) /* 1 <= size <= 32K */
{
	if (size <= RG__SMALL_SIZE_MAX - 8)
		return rg__size_to_class8[(size + RG__SMALL_SIZE_DIV - 1) / RG__SMALL_SIZE_DIV];
	return rg__size_to_class128[(size - RG__SMALL_SIZE_MAX + RG__LARGE_SIZE_DIV - 1) /
	                            RG__LARGE_SIZE_DIV];
}
static inline unsigned rg__spanclass(unsigned sizeclass, bool noscan)
{
	return sizeclass << 1 | (unsigned)noscan;
}

enum rg__span_state { RG__SPAN_FREE = 0, RG__SPAN_INUSE = 1 };

/* A run of pages holding objects of one span class (or one large object).
 *
 * Who guards what: base, npages, elemsize, divmul, nelems, spanclass, typed
 * and large are set by the heap when the span is created (heap lock) and
 * never change while it is in use.  While an mcache holds the span (the
 * span is "cached"), cache_word, alloc_cache, alloc_bits and needzero
 * belong to that mcache's P; otherwise to the mcentral's lock.  mark_bits
 * and the sweep belong to the collector, which runs with the world stopped
 * (every mcache flushed first).  state is written under the heap lock and
 * read atomically (relaxed) by rg_gc_base from any thread. */
typedef struct rg__span rg__span;
struct rg__span {
	uintptr_t base;
	size_t npages;
	size_t elemsize;          /* object size; large: npages * page size */
	uint32_t divmul;          /* (offset * divmul) >> 32 == offset / elemsize */
	uint16_t nelems;
	uint8_t spanclass;        /* class << 1 | noscan; 0 or 1 for large */
	uint8_t typed;            /* objects carry an rg_gc_type (types[]) */
	_Atomic uint8_t state;    /* enum rg__span_state */
	uint8_t needzero;         /* free objects may hold old bytes */
	uint8_t large;
	uint8_t node;             /* NUMA node of the pages */
	uint8_t was_cached;       /* an mcache took it since the last sweep */
	/* Allocation cache: the free objects of word cache_word of alloc_bits
	 * (bit i: object cache_word * 64 + i is free).  alloc_bits is exact for
	 * every other word; rg__span_commit folds the cache back. */
	int32_t cache_word;       /* -1: nothing loaded */
	uint64_t alloc_cache;
	uintptr_t cache_base;     /* address of object cache_word * 64 */
	uint16_t nlive;           /* after a sweep: objects marked */
	uint16_t nalloc_cached;   /* objects allocated when an mcache took it
	                             (written and read by that mcache's owner) */
	uint32_t allidx;          /* index in heap.allspans (heap lock) */
	rg__span *next;           /* mcentral list (mcentral lock) or free list */
	const rg_gc_type **types; /* typed spans: one per object (rg__malloc) */
	uint64_t *alloc_bits, *mark_bits; /* point into bits, or rg__malloc'd */
	uint64_t bits[2][RG__BITS_WORDS];
};

/* Pages of one 64 MiB arena.  All fields under the heap lock, except
 * spans[], whose entries are also read (relaxed) by rg_gc_base and by the
 * collector. */
typedef struct rg__arena rg__arena;
struct rg__arena {
	uintptr_t base;
	unsigned index;           /* in heap.arenas */
	int node;                 /* NUMA node it is bound to, -1: none */
	unsigned free_pages;
	unsigned hint;            /* no free page below this one */
	uint64_t used[RG__ARENA_WORDS];   /* 1: page in a span (or scavenging) */
	uint64_t clean[RG__ARENA_WORDS];  /* 1: free page known zero & released */
	rg__arena *next_on_node;
	_Atomic(rg__span *) spans[RG__ARENA_PAGES]; /* page -> its span */
};

/* Central free list of one span class.  All fields under lock.  Spans
 * with no free object are on no list (the sweeper walks all spans). */
typedef struct rg__mcentral {
	pthread_mutex_t lock;
	rg__span *partial;        /* swept spans with free objects, not cached */
	char pad[64];
} rg__mcentral;

/* Per-P allocation cache.  Every field belongs to the owning P (only its
 * thread touches it, with no lock), except during a collection, when the
 * collector (world stopped) flushes it; and except the shared cache of
 * threads without a P, which is guarded by rg__gc.shared_lock. */
typedef struct rg__mcache rg__mcache;
struct rg__mcache {
	rg__span *alloc[RG__NUM_SPANCLASS];
	rg__span *typed[RG__NUM_CLASSES];
	uintptr_t tiny;           /* current 16-byte tiny block, 0: none */
	size_t tiny_off;
	int node;                 /* NUMA node of this P's CPU (-1 unknown) */
	rg__mcache *all_next;     /* rg__gc.caches list (caches_lock) */
	rg__mcache **all_prev;
};

/* The heap (gc/mheap.c). */
int rg__heap_init(void);
/* A span of npages for spanclass (large: npages from the size).  NULL when
 * out of memory or over the limit. */
rg__span *rg__heap_alloc_span(size_t npages, unsigned spanclass, bool typed, bool large,
                              int node);
void rg__heap_free_span(rg__span *s); /* world stopped or span unreachable */
rg__span *rg__span_of(uintptr_t p);   /* NULL if not in an in-use span */
/* Every in-use span, for the sweeper (world stopped; heap lock taken). */
void rg__heap_lock(void);
void rg__heap_unlock(void);
rg__span **rg__heap_allspans(size_t *n);
void rg__heap_free_span_locked(rg__span *s);
uintptr_t rg__heap_lo(void);
uintptr_t rg__heap_hi(void);          /* end of the arenas mapped so far */
void rg__heap_stats(rg_gc_stats *out);
size_t rg__heap_scavenge(size_t bytes); /* release up to bytes; returns done */
void rg__heap_scavenger_kick(void);
uint64_t rg__heap_inuse(void);

/* Central lists (gc/malloc.c). */
void rg__span_commit(rg__span *s);    /* fold alloc_cache into alloc_bits */
void rg__mcentral_put_swept(rg__span *s); /* collector: after sweep */
void rg__mcentral_reset(void);            /* collector: before sweep */
void rg__mcache_flush(rg__mcache *c);     /* return every span */
void rg__mcache_flush_all(void);          /* world stopped */

/* The collector (gc/mgc.c). */
extern _Atomic uint64_t rg__heap_live;    /* heap_alloc, see rg_gc_stats */
extern _Atomic uint64_t rg__heap_trigger; /* collect when heap_live >= it */
extern _Atomic uint64_t rg__total_alloc;
extern _Atomic uint64_t rg__large_allocs;
void rg__gc_maybe_trigger(void);          /* allocation slow path, no locks held */
/* Before failing for memory: a collection that frees every empty span,
 * then retry(arg), right after the sweep; false if no collection could
 * run (retry not called): inside a mutation section, outside rg_run while
 * another living thread has allocated, on a P's scheduler, or, for a
 * thread without a P inside rg_run, when the run stops or no collection
 * came for 10 s.  Inside rg_run retry runs before the world restarts, so
 * that what the collection freed is there for it: the other Ps, some of
 * them over the limit as well, would take it first.  A thread without a
 * P asks a task to collect for it (and to run its retry) and waits. */
bool rg__gc_try_reclaim(void (*retry)(void *), void *arg);
int rg__gc_init(void);                    /* once; idempotent */
uint64_t rg__memlimit(void);              /* 0: none */

/* The zero-size object. */
extern uint64_t rg__zerobase;

/* Between the files of gc/. */
int rg__heap_node_here(void);             /* NUMA node of the caller's CPU */
void rg__mcache_world_lock(void);         /* collector: keep allocators out */
void rg__mcache_world_unlock(void);
int rg__foreign_threads(void);            /* threads without a P that allocated */
void rg__shared_recent_each(void (*fn)(uintptr_t), bool skip_mine);
int rg__type_bitmap(rg_gc_type *t);       /* build once; 0 or -errno */

/* For tests and debugging. */
bool rg__gc_allocated(const void *p);     /* object allocated right now? */
int rg__gc_verify(void);                  /* heap invariants; problems found */
extern size_t rg__gc_debug_mark_cap;      /* >0: mark stack limit (injection) */
extern bool rg__gc_debug_overflow_nocopy; /* the overflow rescan's copy fails */

#endif
