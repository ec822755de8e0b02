/* Go: "The closing of a channel is synchronized before a receive that
 * returns because the channel is closed."  That holds for a receive that
 * does not wait too: what the closer wrote before rg_chan_close (or
 * before cancelling a Context) must be visible to a task whose
 * non-blocking receive on the unbuffered channel (rg_chan_recv with
 * deadline 0, or the one-case select { case <-ctx.Done(): default: })
 * reported it closed.  The poller reads `payload` with no other
 * synchronisation: TSan reports a data race if the receive's sight of the
 * close is not an acquire (it was a relaxed load).  A release build on
 * x86-64 passes either way; on aarch64 the stale read is real. */
// ctest-timeout: 60
#include <errno.h>
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static long payload_chan, payload_ctx; /* plain: written before the close */
static rg_chan *ch;
static rg_ctx *ctx;
static _Atomic int spinning;
static rg_waitgroup wg = RG_WAITGROUP_INIT;

static void poll_chan(void *arg)
{
	(void)arg;
	bool ok = true;
	atomic_store(&spinning, 1);
	int r;
	while ((r = rg_chan_recv(ch, NULL, &ok, 0)) == -EAGAIN)
		;
	CHECK_EQ(r, 0);
	CHECK(!ok);
	CHECK_EQ(payload_chan, 42); /* the closer's write */
	rg_waitgroup_done(&wg);
}

static void poll_ctx(void *arg)
{
	(void)arg;
	rg_select_case c = { .ch = rg_ctx_done(ctx), .dir = RG_SELECT_RECV };
	atomic_store(&spinning, 1);
	int r;
	while ((r = rg_select(&c, 1, 0)) == -EAGAIN)
		;
	CHECK_EQ(r, 0);
	CHECK(!c.ok);
	CHECK_EQ(payload_ctx, 42); /* the canceller's write */
	rg_waitgroup_done(&wg);
}

static int main_fn(void *arg)
{
	(void)arg;
	if (rg_procs() < 2)
		SKIP("needs 2 Ps");
	for (int round = 0; round < 20; round++) {
		/* a plain unbuffered channel */
		payload_chan = 0;
		ch = rg_chan_make(sizeof(long), 0);
		CHECK(ch != NULL);
		rg_waitgroup_add(&wg, 1);
		atomic_store(&spinning, 0);
		CHECK(rg_go(poll_chan, NULL) > 0);
		while (!atomic_load(&spinning))
			rg_sleep(MS / 10);
		rg_sleep(MS / 2);
		payload_chan = 42;
		CHECK_EQ(rg_chan_close(ch), 0);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		rg_chan_free(ch);

		/* a Context's done channel */
		payload_ctx = 0;
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
		rg_waitgroup_add(&wg, 1);
		atomic_store(&spinning, 0);
		CHECK(rg_go(poll_ctx, NULL) > 0);
		while (!atomic_load(&spinning))
			rg_sleep(MS / 10);
		rg_sleep(MS / 2);
		payload_ctx = 42;
		rg_ctx_cancel(ctx);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		rg_ctx_release(ctx);
	}
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2, .nopin = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	printf("closed_poll: ok\n");
	return T_PASS;
}
