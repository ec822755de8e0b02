/* Context: Go's context_test.go TestCancelRemoves, TestSimultaneousCancels,
 * TestInterlockedCancels, TestLayersCancel, TestLayersTimeout, TestDeadline,
 * parent/child finishing, values, AfterFunc (the seed's "span never
 * finished" trap, 2.5), and tasks bound to a context whose blocking calls
 * end with -ECANCELED / -ETIMEDOUT. */
// ctest-timeout: 120
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"
#include "sync/ctx_hook.h"

#define MS 1000000LL
#define SHORT (20 * MS)
#define VERY_LONG (3600 * 1000 * MS)
#define QUIESCENT (5000 * MS)

int rg__ctx_debug_children(rg_ctx *c);
void rg__ctx_debug_dump(rg_ctx *c);

static int64_t in(int64_t ns) { return rg_now() + ns; }

/* <-c.Done() with a safety timeout; true if done */
static bool wait_done(rg_ctx *c, int64_t d)
{
	return rg_chan_recv(rg_ctx_done(c), NULL, NULL, in(d)) == 0;
}

static bool is_done_now(rg_ctx *c)
{
	rg_select_case cs = { rg_ctx_done(c), RG_SELECT_RECV, NULL, false };
	return rg_select(&cs, 1, 0) == 0;
}

/* --- TestCancelRemoves ---------------------------------------------------------- */

static void nop(void *arg) {}

static void test_cancel_removes(void)
{
	rg_ctx *ctx, *child;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	CHECK_EQ(rg__ctx_debug_children(ctx), 0);
	CHECK_EQ(rg_ctx_with_cancel(ctx, &child), 0);
	CHECK_EQ(rg__ctx_debug_children(ctx), 1);
	rg_ctx_release(child);
	CHECK_EQ(rg__ctx_debug_children(ctx), 0);
	rg_ctx_release(ctx);

	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	CHECK_EQ(rg_ctx_with_timeout(ctx, 60LL * 60 * 1000 * MS, &child), 0);
	CHECK_EQ(rg__ctx_debug_children(ctx), 1);
	rg_ctx_release(child);
	CHECK_EQ(rg__ctx_debug_children(ctx), 0);
	rg_ctx_release(ctx);

	/* a child that times out leaves its parent's list by itself */
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	CHECK_EQ(rg_ctx_with_timeout(ctx, 200 * MS, &child), 0);
	CHECK_EQ(rg__ctx_debug_children(ctx), 1);
	CHECK(wait_done(child, QUIESCENT));
	for (int i = 0; i < 1000 && rg__ctx_debug_children(ctx) != 0; i++)
		rg_sleep(MS);
	CHECK_EQ(rg__ctx_debug_children(ctx), 0);
	CHECK_EQ(rg_ctx_err(ctx), 0);
	rg_ctx_release(child);
	rg_ctx_release(ctx);

	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	int64_t id = rg_ctx_after_func(ctx, nop, NULL);
	CHECK(id > 0);
	CHECK_EQ(rg__ctx_debug_children(ctx), 1);
	CHECK(rg_ctx_after_stop(ctx, id));
	CHECK_EQ(rg__ctx_debug_children(ctx), 0);
	CHECK(!rg_ctx_after_stop(ctx, id));
	rg_ctx_release(ctx);

	/* a value context in between registers with the cancel ancestor */
	rg_ctx *val;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	CHECK_EQ(rg_ctx_with_value(ctx, &val, NULL, &val), 0);
	CHECK_EQ(rg_ctx_with_cancel(val, &child), 0);
	CHECK_EQ(rg__ctx_debug_children(ctx), 1);
	rg_ctx_release(child);
	CHECK_EQ(rg__ctx_debug_children(ctx), 0);
	rg_ctx_release(val);
	rg_ctx_release(ctx);
}

/* --- TestParentFinishesChild / TestChildFinishesFirst --------------------------- */

static void test_parent_child(void)
{
	rg_ctx *parent, *cancel_child, *timer_child, *value_child, *vc_child;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &parent), 0);
	CHECK_EQ(rg_ctx_with_cancel(parent, &cancel_child), 0);
	CHECK_EQ(rg_ctx_with_timeout(parent, VERY_LONG, &timer_child), 0);
	CHECK_EQ(rg_ctx_with_value(parent, "key", "value", &value_child), 0);
	CHECK_EQ(rg_ctx_with_cancel(value_child, &vc_child), 0);
	CHECK(!is_done_now(parent) && !is_done_now(cancel_child) && !is_done_now(vc_child));
	CHECK_EQ(rg__ctx_debug_children(parent), 3);
	CHECK_EQ(rg_ctx_err(parent), 0);
	rg_ctx_cancel(parent);
	CHECK_EQ(rg__ctx_debug_children(parent), 0);
	rg_ctx *all[5] = { parent, cancel_child, timer_child, value_child, vc_child };
	for (int i = 0; i < 5; i++) {
		CHECK(is_done_now(all[i]));
		CHECK_EQ(rg_ctx_err(all[i]), -ECANCELED);
	}
	/* a child of a cancelled parent is born cancelled */
	rg_ctx *late;
	CHECK_EQ(rg_ctx_with_cancel(parent, &late), 0);
	CHECK_EQ(rg_ctx_err(late), -ECANCELED);
	CHECK(is_done_now(late));
	rg_ctx_release(late);
	for (int i = 4; i >= 0; i--)
		rg_ctx_release(all[i]);

	/* child finishes first: the parent is untouched */
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &parent), 0);
	CHECK_EQ(rg_ctx_with_cancel(parent, &cancel_child), 0);
	rg_ctx_cancel(cancel_child);
	CHECK_EQ(rg_ctx_err(cancel_child), -ECANCELED);
	CHECK_EQ(rg_ctx_err(parent), 0);
	CHECK(!is_done_now(parent));
	CHECK_EQ(rg__ctx_debug_children(parent), 0);
	rg_ctx_release(cancel_child);
	rg_ctx_release(parent);

	/* background: never done */
	CHECK(rg_ctx_done(rg_ctx_background()) == NULL);
	CHECK_EQ(rg_ctx_err(rg_ctx_background()), 0);
	CHECK(!rg_ctx_deadline(rg_ctx_background(), NULL));
	rg_ctx_cancel(rg_ctx_background());
	rg_ctx_release(rg_ctx_background());
}

/* --- values and deadlines ---------------------------------------------------------- */

static void test_values(void)
{
	static int k1, k2, k3;
	rg_ctx *c1, *c2, *c3, *c4;
	CHECK_EQ(rg_ctx_with_value(rg_ctx_background(), &k1, "c1k1", &c1), 0);
	CHECK_EQ(rg_ctx_with_value(c1, &k2, "c2k2", &c2), 0);
	CHECK_EQ(rg_ctx_with_cancel(c2, &c3), 0);
	CHECK_EQ(rg_ctx_with_value(c3, &k1, "c4k1", &c4), 0);
	CHECK(strcmp(rg_ctx_value(c4, &k1), "c4k1") == 0);
	CHECK(strcmp(rg_ctx_value(c4, &k2), "c2k2") == 0);
	CHECK(strcmp(rg_ctx_value(c3, &k1), "c1k1") == 0);
	CHECK(rg_ctx_value(c4, &k3) == NULL);
	CHECK(rg_ctx_value(rg_ctx_background(), &k1) == NULL);
	rg_ctx_release(c4);
	rg_ctx_release(c3);
	rg_ctx_release(c2);
	rg_ctx_release(c1);
}

static void test_deadline_inherit(void)
{
	rg_ctx *p, *c, *v;
	int64_t d, now = rg_now();
	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), now + 10 * 1000 * MS, &p), 0);
	CHECK(rg_ctx_deadline(p, &d) && d == now + 10 * 1000 * MS);
	/* a later child deadline is clamped to the parent's */
	CHECK_EQ(rg_ctx_with_deadline(p, now + 20 * 1000 * MS, &c), 0);
	CHECK(rg_ctx_deadline(c, &d) && d == now + 10 * 1000 * MS);
	rg_ctx_release(c);
	CHECK_EQ(rg_ctx_with_value(p, &p, NULL, &v), 0);
	CHECK(rg_ctx_deadline(v, &d) && d == now + 10 * 1000 * MS);
	CHECK_EQ(rg_ctx_with_timeout(v, 1000 * MS, &c), 0);
	CHECK(rg_ctx_deadline(c, &d) && d < now + 10 * 1000 * MS);
	rg_ctx_release(c);
	rg_ctx_release(v);
	rg_ctx_release(p);
}

/* --- TestDeadline ------------------------------------------------------------------- */

static void test_deadline_one(rg_ctx *c, const char *name)
{
	if (!wait_done(c, QUIESCENT)) {
		fprintf(stderr, "%s: context not timed out\n", name);
		abort();
	}
	CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
}

static void test_deadline(void)
{
	rg_ctx *c, *o, *c2;
	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), in(SHORT), &c), 0);
	test_deadline_one(c, "WithDeadline");
	rg_ctx_release(c);

	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), in(SHORT), &c), 0);
	CHECK_EQ(rg_ctx_with_value(c, &o, NULL, &o), 0); /* "otherContext" */
	test_deadline_one(o, "WithDeadline+otherContext");
	rg_ctx_release(o);
	rg_ctx_release(c);

	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), in(SHORT), &c), 0);
	CHECK_EQ(rg_ctx_with_value(c, &o, NULL, &o), 0);
	CHECK_EQ(rg_ctx_with_deadline(o, in(VERY_LONG), &c2), 0);
	test_deadline_one(c2, "WithDeadline+otherContext+WithDeadline");
	rg_ctx_release(c2);
	rg_ctx_release(o);
	rg_ctx_release(c);

	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), rg_now() - SHORT, &c), 0);
	test_deadline_one(c, "WithDeadline+inthepast");
	rg_ctx_release(c);

	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), rg_now(), &c), 0);
	test_deadline_one(c, "WithDeadline+now");
	rg_ctx_release(c);

	/* -1 is a time long past here, not "forever" (ringo/sync.h) */
	CHECK_EQ(rg_ctx_with_deadline(rg_ctx_background(), -1, &c), 0);
	CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
	rg_ctx_release(c);

	/* TestTimeout */
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), SHORT, &c), 0);
	test_deadline_one(c, "WithTimeout");
	rg_ctx_release(c);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 0, &c), 0);
	CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
	rg_ctx_release(c);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), INT64_MIN, &c), 0);
	CHECK_EQ(rg_ctx_err(c), -ETIMEDOUT);
	rg_ctx_release(c);
}

/* --- TestSimultaneousCancels -------------------------------------------------------- */

struct simc {
	rg_ctx *ctx[128];
	int n;
	rg_waitgroup wg;
};

static struct simc sim;
static void sim_cancel(void *arg)
{
	rg_ctx_cancel(arg);
	rg_waitgroup_done(&sim.wg);
}

static void test_simultaneous_cancels(void)
{
	memset(&sim, 0, sizeof sim);
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &sim.ctx[0]), 0);
	sim.n = 1;
	for (int q = 0; q < sim.n && sim.n < 100; q++)
		for (int i = 0; i < 4; i++)
			CHECK_EQ(rg_ctx_with_cancel(sim.ctx[q], &sim.ctx[sim.n++]), 0);
	/* start all the cancels in a random order */
	int perm[128];
	for (int i = 0; i < sim.n; i++) {
		int j = rand() % (i + 1);
		perm[i] = perm[j];
		perm[j] = i;
	}
	rg_waitgroup_add(&sim.wg, sim.n);
	for (int i = 0; i < sim.n; i++)
		rg_go(sim_cancel, sim.ctx[perm[i]]);
	for (int i = 0; i < sim.n; i++)
		if (!wait_done(sim.ctx[perm[(i * 7) % sim.n]], QUIESCENT)) {
			fprintf(stderr, "timed out waiting for <-ctx.Done()\n");
			abort();
		}
	CHECK_EQ(rg_waitgroup_wait(&sim.wg, in(QUIESCENT)), 0);
	for (int i = sim.n - 1; i >= 0; i--)
		rg_ctx_release(sim.ctx[i]);
}

/* --- TestInterlockedCancels ----------------------------------------------------------- */

struct ilc {
	rg_ctx *parent, *child;
};

static void interlocked(void *arg)
{
	struct ilc *x = arg;
	rg_ctx *parent = x->parent, *child = x->child;
	free(x); /* ours: the caller may be gone already */
	CHECK_EQ(rg_chan_recv(rg_ctx_done(parent), NULL, NULL, -1), 0);
	rg_ctx_cancel(child);
	rg_ctx_release(child); /* the references taken for this task */
	rg_ctx_release(parent);
}

static void test_interlocked_cancels(void)
{
	struct ilc x;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &x.parent), 0);
	CHECK_EQ(rg_ctx_with_cancel(x.parent, &x.child), 0);
	(void)rg_ctx_done(x.parent);
	rg_ctx_retain(x.parent);
	rg_ctx_retain(x.child);
	struct ilc *arg = malloc(sizeof *arg);
	CHECK(arg);
	*arg = x;
	rg_go(interlocked, arg);
	rg_ctx_cancel(x.parent);
	if (!wait_done(x.child, QUIESCENT)) {
		fprintf(stderr, "timed out\n");
		abort();
	}
	rg_ctx_release(x.child);
	rg_ctx_release(x.parent);
}

/* --- TestLayersCancel / TestLayersTimeout ---------------------------------------------- */

static uint64_t rnd = 88172645463325252ULL;
static unsigned rint_(unsigned n)
{
	rnd ^= rnd << 13;
	rnd ^= rnd >> 7;
	rnd ^= rnd << 17;
	return (unsigned)(rnd % n);
}

static void test_layers(bool timeout)
{
	enum { MIN_LAYERS = 30, MAXL = 256 };
	rg_ctx *layers[MAXL];
	int nl = 0;
	static int vals[MAXL];
	int *keys[MAXL];
	int nvals = 0;
	rg_ctx *cancels[MAXL];
	int ncancels = 0, ntimers = 0;
	rg_ctx *ctx = rg_ctx_background();
	int64_t t0 = rg_now(); /* before the first deadline was set */
	for (int i = 0; nl < MAXL - 1 && (i < MIN_LAYERS || ntimers == 0 || ncancels == 0 || nvals == 0); i++) {
		switch (rint_(3)) {
		case 0:
			keys[nvals] = &vals[nl];
			CHECK_EQ(rg_ctx_with_value(ctx, keys[nvals], keys[nvals], &ctx), 0);
			nvals++;
			break;
		case 1:
			CHECK_EQ(rg_ctx_with_cancel(ctx, &ctx), 0);
			cancels[ncancels++] = ctx;
			break;
		case 2:
			CHECK_EQ(rg_ctx_with_timeout(ctx, timeout ? SHORT : VERY_LONG, &ctx), 0);
			cancels[ncancels++] = ctx;
			ntimers++;
			break;
		}
		layers[nl++] = ctx;
	}
	/* not done yet — unless building the layers took longer than SHORT
	 * (TSan on a loaded machine), when a timeout may rightly have fired */
	bool done = is_done_now(ctx);
	CHECK(!done || (timeout && rg_now() - t0 >= SHORT));
	for (int i = 0; i < nvals; i++)
		CHECK(rg_ctx_value(ctx, keys[i]) == keys[i]);
	if (timeout) {
		if (!wait_done(ctx, QUIESCENT)) {
			fprintf(stderr, "ctx should have timed out (%d Ps, on P %d)\n", rg_procs(), rg_proc_id());
			for (int i = 0; i < nl; i++)
				rg__ctx_debug_dump(layers[i]);
			abort();
		}
		CHECK_EQ(rg_ctx_err(ctx), -ETIMEDOUT);
	} else {
		rg_ctx_cancel(cancels[rint_((unsigned)ncancels)]);
		CHECK(is_done_now(ctx));
		CHECK_EQ(rg_ctx_err(ctx), -ECANCELED);
	}
	for (int i = 0; i < nvals; i++)
		CHECK(rg_ctx_value(ctx, keys[i]) == keys[i]);
	for (int i = nl - 1; i >= 0; i--)
		rg_ctx_release(layers[i]);
}

/* --- AfterFunc: the span that is always finished (seed 2.5) -------------------------- */

struct span {
	_Atomic int finished;
	rg_waitgroup wg;
};

static void span_finish(void *arg)
{
	struct span *s = arg;
	atomic_fetch_add(&s->finished, 1);
	rg_waitgroup_done(&s->wg);
}

static void test_after_func(void)
{
	struct span s = { 0, RG_WAITGROUP_INIT };
	rg_ctx *root, *child;
	/* WithTimeout(parent 100ms) -> child 50ms; the parent is cancelled
	 * early: the span registered on the child is finished anyway */
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 100 * MS, &root), 0);
	CHECK_EQ(rg_ctx_with_timeout(root, 50 * MS, &child), 0);
	rg_waitgroup_add(&s.wg, 1);
	CHECK(rg_ctx_after_func(child, span_finish, &s) > 0);
	rg_ctx_cancel(root);
	CHECK_EQ(rg_waitgroup_wait(&s.wg, in(QUIESCENT)), 0);
	CHECK_EQ(atomic_load(&s.finished), 1);
	/* on a context already done: runs at once (in a new task) */
	rg_waitgroup_add(&s.wg, 1);
	CHECK(rg_ctx_after_func(child, span_finish, &s) > 0);
	CHECK_EQ(rg_waitgroup_wait(&s.wg, in(QUIESCENT)), 0);
	CHECK_EQ(atomic_load(&s.finished), 2);
	rg_ctx_release(child);
	rg_ctx_release(root);
	/* by timeout */
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 5 * MS, &child), 0);
	rg_waitgroup_add(&s.wg, 1);
	CHECK(rg_ctx_after_func(child, span_finish, &s) > 0);
	CHECK_EQ(rg_waitgroup_wait(&s.wg, in(QUIESCENT)), 0);
	CHECK_EQ(rg_ctx_err(child), -ETIMEDOUT);
	rg_ctx_release(child);
}

/* --- tasks bound to a context ------------------------------------------------------------ */

struct bound {
	rg_ctx *ctx;
	int what;
	_Atomic int result;
	rg_chan *c;
	rg_mutex *m;
	rg_waitgroup *wg;
	rg_sema *s;
};

enum { B_RECV, B_SEND, B_SELECT, B_MUTEX, B_WG, B_SEMA, B_NULLCHAN, B_N };

static void bound_task(void *arg)
{
	struct bound *b = arg;
	CHECK(rg_ctx_bind(b->ctx) == NULL);
	CHECK(rg_ctx_current() == b->ctx);
	long v = 1;
	int r = 0;
	switch (b->what) {
	case B_RECV:
		r = rg_chan_recv(b->c, &v, NULL, -1);
		break;
	case B_SEND:
		r = rg_chan_send(b->c, &v, -1);
		break;
	case B_SELECT: {
		rg_select_case cs[2] = { { b->c, RG_SELECT_RECV, &v, false }, { b->c, RG_SELECT_SEND, &v, false } };
		r = rg_select(cs, 2, -1);
		break;
	}
	case B_MUTEX:
		r = rg_mutex_lock_until(b->m, -1);
		break;
	case B_WG:
		r = rg_waitgroup_wait(b->wg, -1);
		break;
	case B_SEMA:
		r = rg_sema_acquire(b->s, 2, -1);
		break;
	case B_NULLCHAN:
		r = rg_chan_recv(NULL, &v, NULL, -1);
		break;
	}
	rg_ctx_bind(NULL);
	atomic_store(&b->result, r == 0 ? 1 : r);
}

static void test_bound(bool by_timeout)
{
	rg_chan *c = rg_chan_make(sizeof(long), 0);
	rg_mutex m = RG_MUTEX_INIT;
	rg_waitgroup wg = RG_WAITGROUP_INIT;
	rg_sema s;
	rg_sema_init(&s, 2);
	rg_mutex_lock(&m);
	rg_waitgroup_add(&wg, 1);
	CHECK_EQ(rg_sema_acquire(&s, 1, -1), 0);
	rg_ctx *ctx;
	if (by_timeout)
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 200 * MS, &ctx), 0);
	else
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	rg_ctx *vctx;
	CHECK_EQ(rg_ctx_with_value(ctx, &vctx, NULL, &vctx), 0);
	struct bound b[B_N];
	rg_chan *chans[B_N];
	for (int i = 0; i < B_N; i++)
		chans[i] = i == B_RECV ? c : rg_chan_make(sizeof(long), 0);
	for (int i = 0; i < B_N; i++) {
		b[i] = (struct bound){ i % 2 ? vctx : ctx, i, 0, chans[i], &m, &wg, &s };
		rg_go(bound_task, &b[i]);
	}
	rg_sleep(2 * MS);
	for (int i = 0; i < B_N; i++)
		CHECK_EQ(atomic_load(&b[i].result), 0);
	if (!by_timeout)
		rg_ctx_cancel(ctx);
	int want = by_timeout ? -ETIMEDOUT : -ECANCELED;
	for (int i = 0; i < B_N; i++) {
		int64_t end = in(QUIESCENT);
		while (!atomic_load(&b[i].result) && rg_now() < end)
			rg_sleep(100000);
		if (atomic_load(&b[i].result) != want) {
			fprintf(stderr, "bound op %d: got %d want %d\n", i, atomic_load(&b[i].result), want);
			abort();
		}
	}
	/* the primitives still work: nothing stale was left queued */
	long v = 3;
	CHECK_EQ(rg_chan_send(c, &v, 0), -EAGAIN);
	CHECK_EQ(rg_chan_recv(c, &v, NULL, 0), -EAGAIN);
	rg_mutex_unlock(&m);
	CHECK(rg_mutex_trylock(&m));
	rg_mutex_unlock(&m);
	rg_waitgroup_done(&wg);
	CHECK(rg_sema_try_acquire(&s, 1));
	rg_sema_release(&s, 2);

	/* bound to a done context: ready operations still complete, blocking
	 * ones end at once */
	rg_ctx_bind(ctx);
	CHECK_EQ(rg_chan_recv(c, &v, NULL, -1), want);
	rg_chan *b1 = rg_chan_make(sizeof(long), 1);
	CHECK_EQ(rg_chan_send(b1, &v, -1), 0);
	CHECK_EQ(rg_chan_recv(b1, &v, NULL, -1), 0);
	rg_ctx_bind(NULL);
	rg_chan_free(b1);
	rg_ctx_release(vctx);
	rg_ctx_release(ctx);
	for (int i = 0; i < B_N; i++)
		rg_chan_free(chans[i]);
}

/* A bound context that never ends does not disturb normal operation. */
struct pp {
	rg_ctx *ctx;
	rg_chan *a, *b;
	int n;
	rg_waitgroup wg;
};

static void bound_echo(void *arg)
{
	struct pp *p = arg;
	rg_ctx_bind(p->ctx);
	long v;
	for (int i = 0; i < p->n; i++) {
		CHECK_EQ(rg_chan_recv(p->a, &v, NULL, -1), 0);
		CHECK_EQ(rg_chan_send(p->b, &v, -1), 0);
	}
	rg_ctx_bind(NULL);
	rg_waitgroup_done(&p->wg);
}

static void test_bound_pingpong(void)
{
	struct pp p = { NULL, rg_chan_make(sizeof(long), 0), rg_chan_make(sizeof(long), 0),
		        T_SANITIZED ? 2000 : 20000, RG_WAITGROUP_INIT };
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &p.ctx), 0);
	rg_waitgroup_add(&p.wg, 1);
	rg_go(bound_echo, &p);
	rg_ctx_bind(p.ctx);
	for (long i = 0; i < p.n; i++) {
		long v;
		CHECK_EQ(rg_chan_send(p.a, &i, -1), 0);
		CHECK_EQ(rg_chan_recv(p.b, &v, NULL, -1), 0);
		CHECK_EQ(v, i);
	}
	rg_ctx_bind(NULL);
	CHECK_EQ(rg_waitgroup_wait(&p.wg, -1), 0);
	rg_ctx_release(p.ctx);
	rg_chan_free(p.a);
	rg_chan_free(p.b);
}

/* --- the io/ hook: a fake operation cancelled through the bound context -- */

struct fakeop {
	rg_chan *done;        /* "final completion" */
	_Atomic int cancels;
};

static void fakeop_cancel(void *arg)
{
	struct fakeop *op = arg;
	atomic_fetch_add(&op->cancels, 1);
	rg_chan_close(op->done); /* the op completes, cancelled */
}

struct canceller {
	rg_ctx *ctx;
	int64_t after;
};

static void cancel_later(void *arg)
{
	struct canceller *c = arg;
	rg_ctx *ctx = c->ctx; /* *c is on the caller's stack */
	rg_sleep(c->after);
	rg_ctx_cancel(ctx);
	rg_ctx_release(ctx); /* the reference taken for this task */
}

/* One "I/O call" under the bound context: returns what io/ would. */
static int fake_io(struct fakeop *op, int64_t deadline)
{
	struct rg__ctx_watch w;
	int err = rg__ctx_watch_begin(&w, fakeop_cancel, op);
	if (err)
		return err;
	/* the op runs until its final completion (closed by the cancel),
	 * or completes by itself at the deadline */
	rg_ctx *bound = rg_ctx_bind(NULL); /* io/ parks through core, not sync/ */
	int r = rg_chan_recv(op->done, NULL, NULL, deadline) == 0 ? -ECANCELED : 0;
	rg_ctx_bind(bound);
	err = rg__ctx_watch_end(&w);
	if (err && r == -ECANCELED)
		r = err;
	return r;
}

static void test_io_hook(void)
{
	struct fakeop op = { rg_chan_make(0, 0), 0 };
	/* no bound context: the op completes by itself */
	CHECK_EQ(fake_io(&op, in(MS)), 0);
	rg_ctx *ctx;
	/* cancelled while in flight */
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	struct canceller c = { ctx, 2 * MS };
	rg_ctx_retain(ctx);
	rg_go(cancel_later, &c);
	rg_ctx_bind(ctx);
	CHECK_EQ(fake_io(&op, -1), -ECANCELED);
	CHECK_EQ(atomic_load(&op.cancels), 1);
	/* already done: not even started */
	CHECK_EQ(fake_io(&op, -1), -ECANCELED);
	CHECK_EQ(atomic_load(&op.cancels), 1);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);
	rg_chan_free(op.done);
	/* deadline: -ETIMEDOUT */
	op.done = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 3 * MS, &ctx), 0);
	rg_ctx_bind(ctx);
	CHECK_EQ(fake_io(&op, -1), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&op.cancels), 2);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);
	rg_chan_free(op.done);
	/* finished before the cancel: the watch is gone, fn never runs */
	op.done = rg_chan_make(0, 0);
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	rg_ctx_bind(ctx);
	CHECK_EQ(fake_io(&op, in(MS)), 0);
	rg_ctx_bind(NULL);
	rg_ctx_cancel(ctx);
	CHECK_EQ(atomic_load(&op.cancels), 2);
	rg_ctx_release(ctx);
	rg_chan_free(op.done);
}

/* --- the fan-out of the benchmark, as a correctness test ------------------------------- */

struct fan {
	rg_waitgroup wg;
};
static struct fan fan;

static void fan_waiter(void *arg)
{
	CHECK_EQ(rg_chan_recv(rg_ctx_done(arg), NULL, NULL, -1), 0);
	CHECK_EQ(rg_ctx_err(arg), -ECANCELED);
	rg_waitgroup_done(&fan.wg);
}

static void test_fanout(int fanout)
{
	enum { LEAVES = 1000 };
	static rg_ctx *all[2 * LEAVES + 200];
	int n = 0;
	rg_ctx *root;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &root), 0);
	int lo = 0, hi = 0;
	all[n++] = root;
	hi = 1;
	for (int count = 1; count < LEAVES; count *= fanout) {
		for (int p = lo; p < hi; p++)
			for (int i = 0; i < fanout; i++)
				CHECK_EQ(rg_ctx_with_cancel(all[p], &all[n++]), 0);
		lo = hi;
		hi = n;
	}
	rg_waitgroup_add(&fan.wg, hi - lo);
	for (int i = lo; i < hi; i++)
		rg_go(fan_waiter, all[i]);
	rg_yield();
	rg_ctx_cancel(root);
	CHECK_EQ(rg_waitgroup_wait(&fan.wg, in(QUIESCENT)), 0);
	for (int i = n - 1; i >= 0; i--)
		rg_ctx_release(all[i]);
}

/* --- Done asked for while the parent cancels --------------------------------------- */

/* A task makes each child's done channel (rg_ctx_done, the first call
 * creates it) while the parent's cancel walks the children: the cancel
 * must see a made channel whole (TSan) and every done channel must end
 * closed. */
enum { RACE_KIDS = T_SANITIZED ? 3000 : 20000 };
static rg_ctx *race_kid[RACE_KIDS];
static rg_waitgroup race_wg;

static void race_done_maker(void *arg)
{
	(void)arg;
	for (int i = RACE_KIDS - 1; i >= 0; i--)
		(void)rg_ctx_done(race_kid[i]);
	rg_waitgroup_done(&race_wg);
}

static void test_done_during_cancel(void)
{
	rg_ctx *parent;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &parent), 0);
	for (int i = 0; i < RACE_KIDS; i++)
		CHECK_EQ(rg_ctx_with_cancel(parent, &race_kid[i]), 0);
	rg_waitgroup_add(&race_wg, 1);
	CHECK(rg_go(race_done_maker, NULL) > 0);
	rg_yield(); /* on another P, or first here: either order is a case */
	rg_ctx_cancel(parent);
	CHECK_EQ(rg_waitgroup_wait(&race_wg, -1), 0);
	for (int i = 0; i < RACE_KIDS; i++) {
		bool ok = true;
		CHECK_EQ(rg_chan_recv(rg_ctx_done(race_kid[i]), NULL, &ok, 0), 0);
		CHECK(!ok);
		CHECK_EQ(rg_ctx_err(race_kid[i]), -ECANCELED);
	}
	for (int i = RACE_KIDS - 1; i >= 0; i--)
		rg_ctx_release(race_kid[i]);
	rg_ctx_release(parent);
}

static int main_fn(void *arg)
{
	int64_t t = rg_now();
#define RUN(f) T_RUN(t, f)
	RUN(test_cancel_removes());
	RUN(test_parent_child());
	RUN(test_values());
	RUN(test_deadline_inherit());
	RUN(test_deadline());
	RUN(test_simultaneous_cancels());
	for (int i = 0; i < 10; i++)
		test_interlocked_cancels();
	RUN(test_interlocked_cancels());
	for (int i = 0; i < 10; i++) {
		test_layers(false);
		test_layers(true);
	}
	RUN(test_layers(false));
	RUN(test_after_func());
	RUN(test_bound(false));
	RUN(test_bound(true));
	RUN(test_bound_pingpong());
	RUN(test_io_hook());
	RUN(test_fanout(1000));
	RUN(test_fanout(10));
	RUN(test_done_during_cancel());
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0); /* progress survives an abort */
	rg_config one = { .procs = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &one), 0);
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	printf("ctx: ok\n");
	return T_PASS;
}
