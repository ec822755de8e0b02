/*
 * gc/sizeclass.c — Go's size classes, computed rather than pasted.
 *
 * The rule (Go's mksizeclasses.go): walk sizes 8, 16, 24, ... 32 KiB with an
 * alignment that grows with the size (8 below 32 bytes, 16 below 128, size/8
 * up to 2 KiB, then 256).  For each size pick the smallest number of 8 KiB
 * pages such that the tail left over after cutting the pages into objects
 * is at most 1/8 of them (so a span wastes at most 12.5 %).  When a size
 * gets the same page count and the same number of objects as the previous
 * class, it replaces that class (bigger objects for free).  Finally each
 * class grows to the largest multiple of 128 bytes that still fits the same
 * number of objects in its pages.  The result is 67 classes (plus class 0,
 * which stands for "large": a span of its own).
 *
 * Division by an object size becomes a multiply: offset / size ==
 * (offset * divmul) >> 32 with divmul = 2^32 / size rounded up, exact for
 * every offset inside a span (the test checks all of them).
 */
#include <errno.h>

#include "gc/gc_int.h"

uint32_t rg__class_size[RG__NUM_CLASSES];
uint8_t rg__class_npages[RG__NUM_CLASSES];
uint16_t rg__class_nelems[RG__NUM_CLASSES];
uint32_t rg__class_divmul[RG__NUM_CLASSES];
uint8_t rg__size_to_class8[RG__SMALL_SIZE_MAX / RG__SMALL_SIZE_DIV + 1];
uint8_t rg__size_to_class128[(RG__MAX_SMALL - RG__SMALL_SIZE_MAX) / RG__LARGE_SIZE_DIV + 1];

static bool pow2(size_t x) { return x && !(x & (x - 1)); }

int rg__sizeclass_init(void)
{
	size_t size[RG__NUM_CLASSES + 1] = {0}, npages[RG__NUM_CLASSES + 1] = {0};
	int n = 1; /* class 0 is the dummy "large" class */
	size_t align = 8;

	for (size_t sz = align; sz <= RG__MAX_SMALL; sz += align) {
		if (pow2(sz)) {
			if (sz >= 2048)
				align = 256;
			else if (sz >= 128)
				align = sz / 8;
			else if (sz >= 32)
				align = 16;
		}
		size_t alloc = RG__PAGE_SIZE;
		while (alloc % sz > alloc / 8)
			alloc += RG__PAGE_SIZE;
		size_t np = alloc / RG__PAGE_SIZE;
		if (n > 1 && np == npages[n - 1] && alloc / sz == alloc / size[n - 1]) {
			size[n - 1] = sz;
			continue;
		}
		if (n >= RG__NUM_CLASSES)
			return -EINVAL;
		size[n] = sz;
		npages[n] = np;
		n++;
	}
	if (n != RG__NUM_CLASSES)
		return -EINVAL;
	for (int c = 1; c < n; c++) {
		size_t ps = npages[c] * RG__PAGE_SIZE;
		size_t grown = (ps / (ps / size[c])) & ~(size_t)(RG__LARGE_SIZE_DIV - 1);
		if (grown > size[c])
			size[c] = grown;
	}
	for (int c = 0; c < n; c++) {
		rg__class_size[c] = (uint32_t)size[c];
		rg__class_npages[c] = (uint8_t)npages[c];
		rg__class_nelems[c] = c ? (uint16_t)(npages[c] * RG__PAGE_SIZE / size[c]) : 0;
		rg__class_divmul[c] = c ? (uint32_t)(UINT32_MAX / size[c] + 1) : 0;
	}
	/* Lookup tables: smallest class that holds the (rounded) size. */
	int c = 1;
	for (size_t i = 0; i < sizeof rg__size_to_class8; i++) {
		size_t sz = i * RG__SMALL_SIZE_DIV;
		while (c < n && rg__class_size[c] < sz)
			c++;
		rg__size_to_class8[i] = (uint8_t)(i ? c : 0);
	}
	for (size_t i = 0; i < sizeof rg__size_to_class128; i++) {
		size_t sz = RG__SMALL_SIZE_MAX + i * RG__LARGE_SIZE_DIV;
		while (c < n && rg__class_size[c] < sz)
			c++;
		if (c >= n)
			return -EINVAL;
		rg__size_to_class128[i] = (uint8_t)c;
	}
	return 0;
}
