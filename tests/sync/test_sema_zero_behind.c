/* A zero-weight rg_sema_acquire queued behind a head waiter that times
 * out (or is cancelled) while every unit is held: it fits (0 units), and
 * Go's rule, which sync/wait.c follows, is that a head leaving the queue
 * lets the waiters behind it that now fit through.  The clean-up only
 * looked for them while a unit was free (x/sync's `s.size > s.cur`), so
 * the zero-weight waiter stayed parked until some unrelated release, and
 * every later acquire(0) or try_acquire(0) queued or failed behind it.
 * Both ways the head can leave: its own deadline, and its bound Context. */
// ctest-timeout: 60
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

struct acq {
	rg_sema *s;
	int64_t n, deadline;
	rg_ctx *ctx; /* bound while waiting, if set */
	_Atomic int done;
	int r;
};

static void acquirer(void *arg)
{
	struct acq *a = arg;
	rg_ctx *prev = a->ctx ? rg_ctx_bind(a->ctx) : NULL;
	a->r = rg_sema_acquire(a->s, a->n, a->deadline);
	if (a->ctx)
		rg_ctx_bind(prev);
	atomic_store(&a->done, 1);
}

static void one(bool by_ctx)
{
	rg_sema s;
	rg_sema_init(&s, 4);
	CHECK_EQ(rg_sema_acquire(&s, 4, 0), 0); /* all held, for the whole case */
	rg_ctx *ctx = NULL;
	if (by_ctx)
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	int64_t head_dl = by_ctx ? -1 : rg_now() + 100 * MS;
	struct acq head = { &s, 2, head_dl, ctx, 0, 0 };
	struct acq zero = { &s, 0, -1, NULL, 0, 0 };
	CHECK(rg_go(acquirer, &head) > 0);
	/* until head is queued (on a loaded machine it may time out first:
	 * zero then has nothing to queue behind, and the case proves nothing
	 * but passes) */
	while (rg_sema_try_acquire(&s, 0) && !atomic_load(&head.done))
		rg_sleep(MS / 10);
	CHECK(rg_go(acquirer, &zero) > 0);
	rg_sleep(5 * MS);
	bool zd = atomic_load(&zero.done);
	if (by_ctx || rg_now() < head_dl)
		CHECK(!zd); /* FIFO: behind head while head waits */
	if (by_ctx)
		rg_ctx_cancel(ctx);
	while (!atomic_load(&head.done))
		rg_sleep(MS);
	CHECK_EQ(head.r, by_ctx ? -ECANCELED : -ETIMEDOUT);
	/* head gone, nothing released: 0 units fit, zero must get through */
	int64_t t0 = rg_now();
	while (!atomic_load(&zero.done) && rg_now() - t0 < 2000 * MS)
		rg_sleep(MS);
	if (!atomic_load(&zero.done))
		fprintf(stderr, "%s: the zero-weight waiter is still parked 2 s after the head left\n",
		        by_ctx ? "cancel" : "deadline");
	CHECK(atomic_load(&zero.done));
	CHECK_EQ(zero.r, 0);
	CHECK(rg_sema_try_acquire(&s, 0));
	rg_sema_release(&s, 4);
	CHECK(rg_sema_try_acquire(&s, 4));
	rg_sema_release(&s, 4);
	if (ctx)
		rg_ctx_release(ctx);
}

static int run(void *arg)
{
	(void)arg;
	one(false);
	one(true);
	return 0;
}

int main(void)
{
	rg_config one_p = { .procs = 1, .quiet = 1 };
	CHECK_EQ(rg_run(run, NULL, &one_p), 0);
	rg_config all = { .quiet = 1 };
	CHECK_EQ(rg_run(run, NULL, &all), 0);
	printf("sema_zero_behind: ok\n");
	return T_PASS;
}
