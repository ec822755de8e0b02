/* rg_io_backend from a thread of the program's own while rg_runs start
 * and end, alternating the backends (RINGO_IO).  The header says what it
 * returns "inside rg_run" and "outside"; a thread outside the runtime may
 * ask at any time.  rg_run wrote rg__io_use_epoll (a plain bool) while it
 * started, after `running` and before the Ps, and rg_io_backend read it
 * plainly once rg__nprocs() said a run was on: a data race (TSan: "data
 * race ... rg_io_backend io/io.c ... Previous write ... rg_run
 * core/run.c", every run of this test under TSan).  Also reads the other
 * any-thread getters alongside (rg_procs, rg_sched_stats_get,
 * rg_gc_stats_get). */
// ctest-timeout: 120
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/io.h"

static _Atomic int stop;
static _Atomic long seen_none, seen_epoll, seen_uring;

static void *asker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		const char *b = rg_io_backend();
		if (!b)
			seen_none++;
		else if (!strcmp(b, "epoll"))
			seen_epoll++;
		else {
			CHECK(!strcmp(b, "io_uring"));
			seen_uring++;
		}
		rg_sched_stats s;
		rg_sched_stats_get(&s);
		rg_gc_stats g;
		CHECK_EQ(rg_gc_stats_get(&g), 0);
		CHECK(rg_procs() >= 0);
	}
	return NULL;
}

static int main_fn(void *arg)
{
	(void)arg;
	const char *b = rg_io_backend();
	CHECK(b != NULL);
	return 0;
}

int main(void)
{
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, asker, NULL), 0);
	rg_config cfg = { .procs = 2, .quiet = 1 };
	for (int i = 0; i < 20; i++) {
		setenv("RINGO_IO", i % 2 ? "epoll" : "io_uring", 1);
		int r = rg_run(main_fn, NULL, &cfg);
		if (r < 0 && i % 2 == 0) /* no io_uring here: epoll only */
			continue;
		CHECK_EQ(r, 0);
	}
	atomic_store(&stop, 1);
	CHECK_EQ(pthread_join(th, NULL), 0);
	printf("outside %ld, epoll %ld, io_uring %ld\n", (long)seen_none, (long)seen_epoll, (long)seen_uring);
	return T_PASS;
}
