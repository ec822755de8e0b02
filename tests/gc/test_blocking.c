/* Threads without a P allocate through the shared, locked cache while
 * tasks on every P allocate and collect: rg_blocking sections fill rooted
 * tables, which must survive every collection intact. */
// ctest-timeout: 120
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#define NB 4
#define NOBJ (T_SANITIZED ? 2000 : 20000)

static void **volatile tables[NB]; /* a root */
static _Atomic int done;

static intptr_t in_blocking(void *arg)
{
	int b = (int)(intptr_t)arg;
	CHECK(rg_proc_id() == -1);
	for (int i = 0; i < NOBJ; i++) {
		size_t sz = 8 + (size_t)(i % 50) * 24;
		unsigned char *o = (i % 3) ? rg_gc_alloc(sz) : rg_gc_alloc_noscan(sz);
		if (!o)
			return -1;
		memset(o, b + 1, sz);
		tables[b][i] = o;
	}
	return 0;
}

static void blocker(void *arg)
{
	int b = (int)(intptr_t)arg;
	tables[b] = rg_gc_alloc(NOBJ * sizeof(void *));
	CHECK(tables[b]);
	CHECK_EQ(rg_blocking(in_blocking, arg), 0);
	for (int r = 0; r < 3; r++) {
		rg_sleep(2000000);
		for (int i = 0; i < NOBJ; i++) {
			size_t sz = 8 + (size_t)(i % 50) * 24;
			unsigned char *o = tables[b][i];
			if (!(o[0] == b + 1 && o[sz - 1] == b + 1))
				fprintf(stderr, "table %d obj %d (%zu bytes, %s) at %p: %d..%d, round %d\n", b, i, sz,
				        (i % 3) ? "scan" : "noscan", (void *)o, o[0], o[sz - 1], r);
			CHECK(o[0] == b + 1 && o[sz - 1] == b + 1);
		}
	}
	atomic_fetch_add(&done, 1);
}

static void churner(void *arg)
{
	while (atomic_load(&done) < NB) {
		for (int i = 0; i < 1000; i++)
			CHECK(rg_gc_alloc(64 + (size_t)(i % 9) * 32));
		rg_yield();
	}
}

static int main_fn(void *arg)
{
	CHECK_EQ(rg_gc_root_add((void *)tables, sizeof tables), 0);
	for (int i = 0; i < rg_procs(); i++)
		CHECK(rg_go(churner, NULL) > 0);
	for (int b = 0; b < NB; b++)
		CHECK(rg_go(blocker, (void *)(intptr_t)b) > 0);
	while (atomic_load(&done) < NB)
		rg_sleep(2000000);
	rg_gc_stats st;
	rg_gc_stats_get(&st);
	printf("%llu collections\n", (unsigned long long)st.num_gc);
	CHECK(st.num_gc >= 2);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
