/* Threads outside the runtime ask for collections (rg_gc_collect, and
 * allocations at RINGO_MEMLIMIT) without pause while main runs rg_run
 * again and again, each run short (its main allocates a little and
 * returns): asks made as a run starts, while it returns, between runs.
 * Each call returns (0, -ESHUTDOWN; an allocation an object or NULL),
 * none hangs, no ask is left over to a later run's reclaim task, and
 * the sanitizers see nothing. */
// ctest-timeout: 240
// ctest-env: RINGO_MEMLIMIT=64M
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RUNS 150
#else
#define RUNS 600
#endif

static _Atomic int stop_flag;
static _Atomic long n_ok, n_shut, n_other, n_alloc, n_null;
static void *volatile keep[4];

static void *collector(void *arg)
{
	int k = (int)(intptr_t)arg;
	while (!atomic_load(&stop_flag)) {
		int r = rg_gc_collect();
		if (r == 0)
			atomic_fetch_add(&n_ok, 1);
		else if (r == -ESHUTDOWN)
			atomic_fetch_add(&n_shut, 1);
		else {
			fprintf(stderr, "rg_gc_collect: %d\n", r);
			atomic_fetch_add(&n_other, 1);
		}
		/* the limit is reached now and then (each thread's last 256
		 * objects stay alive: 4 MiB of these) */
		for (int i = 0; i < 64; i++) {
			void *p = rg_gc_alloc(16 * 1024);
			if (p) {
				memset(p, 1, 64);
				keep[k] = p;
				atomic_fetch_add(&n_alloc, 1);
			} else {
				atomic_fetch_add(&n_null, 1);
			}
		}
	}
	return NULL;
}

static int main_task(void *arg)
{
	(void)arg;
	for (int i = 0; i < 16; i++) {
		void *p = rg_gc_alloc(64 * 1024);
		CHECK(p);
		memset(p, 2, 64);
	}
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_gc_root_add((void *)keep, sizeof keep), 0);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, collector, (void *)(intptr_t)i), 0);
	for (int r = 0; r < RUNS; r++)
		CHECK_EQ(rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 }), 0);
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	printf("collect ok %ld shutdown %ld other %ld; alloc %ld null %ld\n", atomic_load(&n_ok),
	       atomic_load(&n_shut), atomic_load(&n_other), atomic_load(&n_alloc), atomic_load(&n_null));
	CHECK_EQ(atomic_load(&n_other), 0);
	return 0;
}
