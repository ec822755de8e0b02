/* rg_ctx_after_func on a Context already done, from a thread outside the
 * runtime, while rg_run stops and starts again.  The record is linked on
 * the list of spawned after-funcs (after_spawn) before rg_go is tried;
 * when rg_go fails (the run is stopping) the thread takes it back and runs
 * fn in place.  rg_run's stop hook (rg__ctx_at_stop) frees every record
 * on that list: one linked just before it, by a thread whose rg_go then
 * fails, was freed under that thread, which took it back and ran it.
 * Every fn must run exactly once (or, if its task was spawned and the run
 * discarded it, not at all), and nothing is used after it is freed (ASan).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../check.h"
#include "ringo.h"
#include "ringo/sync.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RUNS 150
#else
#define RUNS 500
#endif

static rg_ctx *done_ctx;
static _Atomic int stop_flag;
static _Atomic long ran, regs;

static void after_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
}

static void *registrar(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_flag)) {
		CHECK(rg_ctx_after_func(done_ctx, after_fn, NULL) > 0);
		atomic_fetch_add(&regs, 1);
	}
	return NULL;
}

static int main_task(void *arg)
{
	(void)arg;
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &done_ctx), 0);
	rg_ctx_cancel(done_ctx);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, registrar, NULL), 0);
	for (int r = 0; r < RUNS; r++)
		CHECK_EQ(rg_run(main_task, NULL, &(rg_config){ .procs = 1, .quiet = 1, .nopin = 1 }), 0);
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	/* fns whose task a run discarded did not run: ran <= regs */
	CHECK(atomic_load(&ran) <= atomic_load(&regs));
	printf("regs %ld ran %ld\n", atomic_load(&regs), atomic_load(&ran));
	rg_ctx_release(done_ctx);
	return 0;
}
