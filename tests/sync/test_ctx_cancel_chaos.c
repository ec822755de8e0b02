/* rg_ctx_cancel's promise under a crowd: whoever cancels a node (a task,
 * a thread outside the runtime, the node's own deadline, an after-func
 * of a node below it), once rg_ctx_cancel returns every descendant is
 * done; every after-func registered runs exactly once or is stopped;
 * children made while the tree is being cancelled end done; no hang.
 *
 * Per round: R -> V (value) -> L[NA] (cancel, or a deadline a few us
 * away) -> M[NA][NB] (likewise).  After-funcs on random nodes: some
 * cancel R or their node's L, some register another after-func, some are
 * stopped.  Two tasks and a foreign thread cancel random nodes and check
 * the subtree at once; a task makes extra children under random L's; a
 * task waits on L's done channels, bound and unbound.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../check.h"
#include "ringo.h"
#include "ringo/sync.h"

#ifndef ROUNDS
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ROUNDS 60
#else
#define ROUNDS 300
#endif
#endif
#define NA 16
#define NB 24
#define NX 64 /* extra children per round */

static rg_ctx *R, *V, *L[NA], *M[NA][NB];
static rg_ctx *_Atomic X[NX];
static _Atomic int nx;
static _Atomic int af_reg, af_ran, af_stopped;
static _Atomic int go, actors_done;
static _Atomic int bad;
static _Atomic uint64_t seed_ctr = 1;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fail(const char *what, int i, int j)
{
	fprintf(stderr, "FAIL: %s (%d, %d)\n", what, i, j);
	atomic_fetch_add(&bad, 1);
}

static void check_sub(int i)
{
	if (rg_ctx_err(L[i]) == 0)
		fail("L not done after its cancel returned", i, -1);
	for (int j = 0; j < NB; j++)
		if (rg_ctx_err(M[i][j]) == 0)
			fail("M not done after L's cancel returned", i, j);
}

static void check_all(void)
{
	if (rg_ctx_err(R) == 0 || rg_ctx_err(V) == 0)
		fail("R not done after its cancel returned", -1, -1);
	for (int i = 0; i < NA; i++)
		check_sub(i);
}

struct afarg {
	int kind, i, j;
};
static struct afarg afargs[4096];
static _Atomic int nafargs;

static void after_fn(void *arg);

static int64_t reg_after(rg_ctx *c, int kind, int i, int j)
{
	int k = atomic_fetch_add(&nafargs, 1);
	if (k >= 4096)
		return 0;
	afargs[k] = (struct afarg){ kind, i, j };
	atomic_fetch_add(&af_reg, 1);
	int64_t id = rg_ctx_after_func(c, after_fn, &afargs[k]);
	CHECK(id > 0);
	return id;
}

static void after_fn(void *arg)
{
	struct afarg *a = arg;
	switch (a->kind) {
	case 1:
		rg_ctx_cancel(R);
		check_all();
		break;
	case 2:
		rg_ctx_cancel(L[a->i]);
		check_sub(a->i);
		break;
	case 3:
		reg_after(M[a->i][(a->j + 1) % NB], 0, a->i, a->j);
		break;
	default:
		break;
	}
	atomic_fetch_add(&af_ran, 1);
}

static void cancel_some(uint64_t *s)
{
	for (int n = 0; n < 40; n++) {
		uint64_t r = rnd(s);
		int i = (int)(r % NA), j = (int)((r >> 8) % NB);
		switch ((r >> 16) % 8) {
		case 0:
			rg_ctx_cancel(R);
			check_all();
			return;
		case 1:
		case 2:
		case 3:
			rg_ctx_cancel(L[i]);
			check_sub(i);
			break;
		default:
			rg_ctx_cancel(M[i][j]);
			if (rg_ctx_err(M[i][j]) == 0)
				fail("M not done after its own cancel", i, j);
			break;
		}
	}
}

static void actor_task(void *arg)
{
	(void)arg;
	uint64_t s = atomic_fetch_add(&seed_ctr, 0x9e3779b97f4a7c15ull) | 1;
	while (!atomic_load(&go))
		rg_yield();
	cancel_some(&s);
	atomic_fetch_add(&actors_done, 1);
}

static void *actor_thread(void *arg)
{
	(void)arg;
	uint64_t s = atomic_fetch_add(&seed_ctr, 0x9e3779b97f4a7c15ull) | 1;
	while (!atomic_load(&go))
		sched_yield();
	cancel_some(&s);
	atomic_fetch_add(&actors_done, 1);
	return NULL;
}

static void creator_task(void *arg)
{
	(void)arg;
	uint64_t s = atomic_fetch_add(&seed_ctr, 0x9e3779b97f4a7c15ull) | 1;
	while (!atomic_load(&go))
		rg_yield();
	for (int n = 0; n < NX; n++) {
		uint64_t r = rnd(&s);
		int i = (int)(r % NA);
		rg_ctx *c;
		if (r & 0x100)
			CHECK_EQ(rg_ctx_with_cancel(L[i], &c), 0);
		else
			CHECK_EQ(rg_ctx_with_timeout(L[i], (int64_t)((r >> 12) % 50000), &c), 0);
		if (r & 0x200)
			reg_after(c, 0, i, 0);
		atomic_store(&X[n], c);
		atomic_fetch_add(&nx, 1);
		if (r & 0x400)
			rg_yield();
	}
	atomic_fetch_add(&actors_done, 1);
}

static void waiter_task(void *arg)
{
	int i = (int)(intptr_t)arg;
	if (i & 1) {
		rg_ctx *old = rg_ctx_bind(L[i]);
		rg_chan *never = rg_chan_make(0, 0);
		bool ok;
		int r = rg_chan_recv(never, NULL, &ok, -1);
		if (r != -ECANCELED && r != -ETIMEDOUT)
			fail("bound recv did not end with the context's error", i, r);
		rg_ctx_bind(old);
		rg_chan_free(never);
	} else {
		bool ok;
		CHECK_EQ(rg_chan_recv(rg_ctx_done(L[i]), NULL, &ok, -1), 0);
	}
	if (rg_ctx_err(L[i]) == 0)
		fail("waiter woke with L not done", i, -1);
	atomic_fetch_add(&actors_done, 1);
}

static void one_round(uint64_t *s)
{
	atomic_store(&go, 0);
	atomic_store(&actors_done, 0);
	atomic_store(&nx, 0);
	atomic_store(&nafargs, 0);
	atomic_store(&af_reg, 0);
	atomic_store(&af_ran, 0);
	atomic_store(&af_stopped, 0);
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &R), 0);
	static int key;
	CHECK_EQ(rg_ctx_with_value(R, &key, NULL, &V), 0);
	for (int i = 0; i < NA; i++) {
		uint64_t r = rnd(s);
		if (r % 4 == 0)
			CHECK_EQ(rg_ctx_with_timeout(V, (int64_t)(200000 + (r >> 8) % 400000), &L[i]), 0);
		else
			CHECK_EQ(rg_ctx_with_cancel(V, &L[i]), 0);
		for (int j = 0; j < NB; j++) {
			r = rnd(s);
			if (r % 5 == 0)
				CHECK_EQ(rg_ctx_with_timeout(L[i], (int64_t)(100000 + (r >> 8) % 600000), &M[i][j]), 0);
			else
				CHECK_EQ(rg_ctx_with_cancel(L[i], &M[i][j]), 0);
		}
	}
	int64_t stop_ids[32];
	rg_ctx *stop_ctx[32];
	int nstop = 0;
	for (int k = 0; k < 96; k++) {
		uint64_t r = rnd(s);
		int i = (int)(r % NA), j = (int)((r >> 8) % NB);
		int kind = (int)((r >> 16) % 6); /* 0,4,5: plain */
		rg_ctx *c = (r >> 24) % 3 == 0 ? L[i] : M[i][j];
		int64_t id = reg_after(c, kind > 3 ? 0 : kind, i, j);
		if (nstop < 32 && (r >> 30) % 4 == 0) {
			stop_ids[nstop] = id;
			stop_ctx[nstop++] = c;
		}
	}
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, actor_thread, NULL), 0);
	CHECK(rg_go(actor_task, NULL) > 0);
	CHECK(rg_go(actor_task, NULL) > 0);
	CHECK(rg_go(creator_task, NULL) > 0);
	for (int i = 0; i < 4; i++)
		CHECK(rg_go(waiter_task, (void *)(intptr_t)(rnd(s) % NA)) > 0);
	int nactors = 3 + 1 + 4;
	rg_sleep((int64_t)(rnd(s) % 300000));
	atomic_store(&go, 1);
	for (int k = 0; k < nstop; k++)
		if (rg_ctx_after_stop(stop_ctx[k], stop_ids[k]))
			atomic_fetch_add(&af_stopped, 1);
	rg_ctx_cancel(R);
	check_all();
	int64_t t0 = rg_now();
	while (atomic_load(&actors_done) < nactors) {
		if (rg_now() - t0 > 20000000000LL) {
			fprintf(stderr, "HANG: actors %d of %d\n", atomic_load(&actors_done), nactors);
			abort();
		}
		rg_sleep(50000);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	int n = atomic_load(&nx);
	for (int k = 0; k < n; k++)
		if (rg_ctx_err(atomic_load(&X[k])) == 0)
			fail("extra child not done", k, -1);
	t0 = rg_now();
	while (atomic_load(&af_ran) + atomic_load(&af_stopped) != atomic_load(&af_reg)) {
		if (rg_now() - t0 > 20000000000LL) {
			fprintf(stderr, "HANG: after-funcs reg %d ran %d stopped %d\n", atomic_load(&af_reg),
			        atomic_load(&af_ran), atomic_load(&af_stopped));
			abort();
		}
		rg_sleep(50000);
	}
	for (int k = 0; k < n; k++)
		rg_ctx_release(atomic_load(&X[k]));
	for (int i = 0; i < NA; i++) {
		for (int j = 0; j < NB; j++)
			rg_ctx_release(M[i][j]);
		rg_ctx_release(L[i]);
	}
	rg_ctx_release(V);
	rg_ctx_release(R);
}

static int main_task(void *arg)
{
	(void)arg;
	uint64_t s = 0x1234567ull ^ (uint64_t)rg_now();
	for (int r = 0; r < ROUNDS; r++)
		one_round(&s);
	CHECK_EQ(atomic_load(&bad), 0);
	return 0;
}

int main(void)
{
	return rg_run(main_task, NULL, &(rg_config){ .procs = 2, .quiet = 1, .nopin = 1 });
}
