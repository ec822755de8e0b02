/*
 * gc/gc_hook.h — what the other modules of ringo may use of gc/: memory
 * outside the GC heap that may hold pointers into it, scanned
 * conservatively by every collection (a buffered channel's slots: a value
 * in flight may be the only reference to its object, as in Go, where a
 * channel's buffer is part of the heap).  Not installed.
 *
 * The region record is the caller's, usually inside the structure whose
 * memory it names; add and remove are O(1) under one mutex, and a
 * collection scans [lo, hi) of every region added and not yet removed,
 * word by word.  Stale words (a slot already received from) only keep
 * their objects until overwritten or until the region is removed.
 * The memory must stay valid until rg__gc_region_remove returns.
 */
#ifndef RG_GC_GC_HOOK_H
#define RG_GC_GC_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rg__gc_region {
	struct rg__gc_region *next, *prev; /* gc's list */
	uintptr_t lo, hi;
};

void rg__gc_region_add(struct rg__gc_region *r, const void *addr, size_t len);
void rg__gc_region_remove(struct rg__gc_region *r);
/* Could p point into the GC heap (the arenas mapped so far)?  A few loads,
 * no lock: for a caller with a word or two to keep (a Context's value, an
 * after-func's argument) that need not take the regions' mutex when none
 * of them can be a GC pointer.  A pointer to an object existed after that
 * object's arena was mapped, so "no" is final for the word as it is. */
bool rg__gc_may_point(const void *p);

#endif
