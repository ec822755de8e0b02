/* Size classes: the computed table equals Go's, waste stays within 12.5 %,
 * lookups pick the smallest class that fits, division by multiply is exact. */
// ctest-timeout: 60
#include "check.h"
#include "gc/gc_int.h"

/* Go 1.21+ runtime/sizeclasses.go */
static const unsigned go_size[68] = {
	0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528,
	6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432,
	19072, 20480, 21760, 24576, 27264, 28672, 32768};
static const unsigned go_npages[68] = {
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4,
	3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4};

int main(void)
{
	CHECK_EQ(rg__sizeclass_init(), 0);
	for (int c = 0; c < RG__NUM_CLASSES; c++) {
		CHECK_EQ(rg__class_size[c], go_size[c]);
		CHECK_EQ(rg__class_npages[c], go_npages[c]);
	}
	for (int c = 1; c < RG__NUM_CLASSES; c++) {
		size_t size = rg__class_size[c], span = rg__class_npages[c] * RG__PAGE_SIZE;
		CHECK(size > rg__class_size[c - 1]);
		CHECK(size % 8 == 0);
		CHECK_EQ(rg__class_nelems[c], span / size);
		CHECK(rg__class_nelems[c] <= RG__MAX_OBJS);
		/* tail waste at most 1/8 of the span */
		CHECK(span % size <= span / 8);
		/* exact division for every offset in the span */
		for (uint64_t off = 0; off < span; off++)
			CHECK_EQ((off * rg__class_divmul[c]) >> 32, off / size);
	}
	for (size_t s = 1; s <= RG__MAX_SMALL; s++) {
		unsigned c = rg__size_to_class(s);
		CHECK(c >= 1 && c < RG__NUM_CLASSES);
		CHECK(rg__class_size[c] >= s);
		CHECK(rg__class_size[c - 1] < s);
	}
	CHECK_EQ(RG__NUM_CLASSES - 1, 67);
	return T_PASS;
}
