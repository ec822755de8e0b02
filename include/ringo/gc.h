/*
 * ringo/gc.h — the garbage-collected heap.
 *
 * Objects come from a span allocator modelled on Go's (size classes, a
 * per-P cache, central lists per span class, a page heap of 64 MiB arenas)
 * and are reclaimed by a mark-sweep collector.  Memory comes back zeroed.
 *
 * What keeps an object alive
 * --------------------------
 * An object survives a collection when a pointer to it, or into it (interior
 * pointers count), is found in
 *   - a registered root range (rg_gc_root_add),
 *   - the stack or saved registers of a task (scanned conservatively: any
 *     word that lands on an allocated object counts), its argument (also
 *     before it first runs) and its task-local values (rg_tls_set),
 *   - the stack of the thread that calls rg_gc_collect outside rg_run,
 *   - a live object allocated with rg_gc_alloc (scanned conservatively,
 *     word by word) or rg_gc_alloc_typed (only the words its type names),
 *   - the slots of buffered channels whose elements are pointer-sized or
 *     larger (a value in flight may hold the only reference),
 *   - a value context's key and value (rg_ctx_with_value) until the
 *     context is freed, and an after-func's arg (rg_ctx_after_func) until
 *     fn has run or been stopped.
 * Objects from rg_gc_alloc_noscan are never scanned: do not keep the only
 * pointer to another GC object in one.
 *
 * Threads without a task keep running during a collection: see
 * rg_gc_mutate_begin for the stores they may make.
 *
 * Not scanned: global variables (register them as roots), memory from
 * malloc/mmap, thread-local storage (__thread), and the stacks of threads
 * that run no task (a thread of the blocking pool, a foreign thread).  Keep objects that
 * only such places refer to reachable from a root.  The last 256 objects a
 * thread without a task allocated stay alive regardless: store each one
 * somewhere the collector looks before that thread allocates 256 more.
 * Except at a collection that thread runs itself outside rg_run
 * (rg_gc_collect, or one its allocation started): its stack is scanned
 * then, and its own last 256 objects live only if something the collector
 * looks at refers to them (so that they can be reclaimed at all).
 *
 * When the collector runs
 * -----------------------
 * Inside rg_run: when the heap reaches its goal (RINGO_GOGC, as GOGC: the
 * heap may grow by that percentage of the live heap after the last
 * collection, default 100, plus that percentage of the roots and task
 * stacks it scanned; "off" disables it; the goal is at least 1 MiB),
 * and on rg_gc_collect().  Every P stops at a safepoint for the collection
 * (stop-the-world).  Only a task can stop the world: a thread without a
 * task that allocates past the goal starts a task to collect and goes on,
 * so a heap that such threads alone grow is collected, a little past its
 * goal.  Outside rg_run only rg_gc_collect() collects, unless a
 * single thread has allocated among those still alive (threads of the
 * blocking pool exit with rg_run), in which case the goal applies too.
 *
 * Limits: RINGO_MEMLIMIT (bytes, suffixes k/M/G/T or KiB/MiB/GiB/TiB) is a
 * hard limit on heap pages in use: an allocation that would exceed it, after
 * a collection, returns NULL.  Inside rg_run a thread without a task (an
 * rg_blocking section, a foreign thread), which cannot stop the world,
 * has a task collect for it and waits; it gets NULL without one if rg_run
 * stops meanwhile, or if no collection ends for 10 seconds (a task that
 * never reaches a safepoint, a P's thread blocked on a lock the waiting
 * thread holds).  Where no collection can run, the allocation returns
 * NULL at once, however much of the heap is garbage: inside
 * rg_gc_mutate_begin/end (a collection waits for the section), and
 * outside rg_run while another living thread has allocated (only
 * rg_gc_collect collects there, see above).  Allocation never aborts
 * inside the library.
 * The heap lives in one range of address space, reserved at its first
 * allocation: 1 TiB, or twice RINGO_MEMLIMIT when that is less (at least
 * 1 GiB), halved until the address space allows it (RLIMIT_AS): it never
 * grows beyond that range, and an allocation that does not fit in what is
 * left of it returns NULL, as when out of memory.
 *
 * RINGO_DEBUG=gctrace=1 prints one line per collection on stderr.
 */
#ifndef RINGO_GC_H
#define RINGO_GC_H

#include <stddef.h>
#include <stdint.h>

#include "ringo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A type layout for rg_gc_alloc_typed: which words of an object hold
 * pointers to GC objects.  Declare it once (static storage), fill the public
 * fields and leave the rest zero; the pointer bitmap is built on first use.
 *
 *   struct node { struct node *left, *right; long key; };
 *   static const size_t node_ptrs[] = { offsetof(struct node, left),
 *                                       offsetof(struct node, right) };
 *   static rg_gc_type node_type = { "node", sizeof(struct node),
 *                                   node_ptrs, 2 };
 *
 * Offsets must be multiples of sizeof(void *) and below size.  The object
 * passed to rg_gc_alloc_typed may be an array: size a multiple of the
 * type's size (each element is laid out like the type). */
typedef struct rg_gc_type {
	const char *name;
	size_t size;                /* bytes of one element, > 0 */
	const size_t *ptr_offsets;  /* byte offsets of pointer fields */
	size_t nptrs;
	void *priv_;                /* private: the bitmap, built once */
} rg_gc_type;

/* Allocates size bytes, zeroed, scanned conservatively for pointers.
 * Returns NULL when out of memory, over RINGO_MEMLIMIT, or when size is
 * absurd (SIZE_MAX).  Size 0 returns a valid unique-per-process address
 * that holds no bytes (as Go's zerobase): never NULL, never collected. */
RG_API void *rg_gc_alloc(size_t size);
/* Same, for objects that hold no pointers to GC objects (never scanned).
 * Objects under 16 bytes are packed together (the tiny allocator). */
RG_API void *rg_gc_alloc_noscan(size_t size);
/* Same, scanned precisely: only the pointer fields of type.  size must be
 * a non-zero multiple of type->size; NULL for a bad type or size. */
RG_API void *rg_gc_alloc_typed(size_t size, rg_gc_type *type);

/* The base of the GC object that p points into, or NULL when p is not in
 * a GC object.  O(1).  The object must be live (reachable).  A noscan
 * object under 16 bytes shares a 16-byte block with others (the tiny
 * allocator): base and size describe that block. */
RG_API void *rg_gc_base(const void *p);
/* The usable size of the object that p points into (its size class), or 0. */
RG_API size_t rg_gc_size(const void *p);

/* Registers [addr, addr+len) as a root: scanned conservatively, word by
 * word, at every collection.  0, -EINVAL (NULL or zero length), -ENOMEM. */
RG_API int rg_gc_root_add(void *addr, size_t len);
/* Removes a range registered with exactly these arguments: 0 or -ENOENT. */
RG_API int rg_gc_root_remove(void *addr, size_t len);

/* Threads without a task (inside rg_blocking, foreign threads) are not
 * stopped by a collection: they keep running while it marks.  Such a
 * thread may allocate and read GC objects at any time, but it must make
 * every store of a pointer to a GC object (into a GC object, a registered
 * root, a channel, task-local values...) and every removal of one from
 * where the collector looks (the only copy moving from one place to
 * another, even between two roots) between rg_gc_mutate_begin() and
 * rg_gc_mutate_end() on the same thread: a collection waits for open
 * sections, and sections wait for a collection to end.  Keep sections
 * short; do not block or call rg_gc_collect inside one (an allocation
 * inside one that finds the heap at RINGO_MEMLIMIT returns NULL without a
 * collection: allocate before the section).  Both are no-ops
 * on a task running on a P (its P stops at a safepoint instead).  Sections
 * nest. */
RG_API void rg_gc_mutate_begin(void);
RG_API void rg_gc_mutate_end(void);

/* Runs a full collection now.  From a task: stops the world, marks, sweeps.
 * Outside rg_run: scans the roots and the calling thread's stack.
 * From a thread without a task inside rg_run (an rg_blocking section, a
 * foreign thread), which cannot stop the world: a task collects for it
 * (freeing every empty span, as at RINGO_MEMLIMIT) and it returns once a
 * collection that began after the call has ended; its stack is not
 * scanned (its last 256 objects live by its ring, see above).
 * Returns 0, or -EDEADLK inside rg_gc_mutate_begin/end.  From a thread
 * without a task inside rg_run, also: -ESHUTDOWN when rg_run starts or
 * stops meanwhile (no task to collect), -ETIMEDOUT when no collection
 * ends for 10 seconds (as for RINGO_MEMLIMIT above: a task that never
 * reaches a safepoint, a P's thread blocked on a lock the caller holds),
 * -ENOMEM when no task could be made; -EPERM on a P's thread outside any
 * task. */
RG_API int rg_gc_collect(void);
/* Collects, then returns every free page to the OS (Go's FreeOSMemory).
 * Returns what rg_gc_collect would. */
RG_API int rg_gc_free_os_memory(void);

typedef struct rg_gc_stats {
	uint64_t heap_alloc;      /* bytes in allocated objects (live at the
	                             last collection + allocated since, counted
	                             by span as the caches take them) */
	uint64_t heap_marked;     /* live bytes found by the last collection */
	uint64_t heap_goal;       /* heap_alloc that triggers the next one */
	uint64_t heap_inuse;      /* bytes of pages in spans in use */
	uint64_t heap_sys;        /* bytes of arenas mapped */
	uint64_t heap_released;   /* bytes of free pages not backed by RAM */
	uint64_t total_alloc;     /* bytes allocated since start; never
	                             decreases.  Small objects are counted when
	                             their P's cache gives their span back (at
	                             the latest, the next collection) */
	uint64_t large_allocs;    /* objects over 32 KiB allocated */
	uint64_t num_gc;          /* collections completed */
	uint64_t pause_total_ns, pause_last_ns, pause_max_ns;
	uint64_t scavenged_total; /* bytes returned to the OS since start */
	int gogc;                 /* -1: off */
	int numa_nodes;           /* nodes arenas were placed on (0: no NUMA) */
} rg_gc_stats;
/* 0, or -EINVAL for NULL. */
RG_API int rg_gc_stats_get(rg_gc_stats *out);

#ifdef __cplusplus
}
#endif
#endif
