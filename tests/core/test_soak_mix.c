/* A soak that mixes everything at once, as a gateway would: several rg_runs
 * in a row (procs 2, 1, 2, 1, 2) in a forked child per backend (io_uring,
 * then RINGO_IO=epoll), each with, at the same time:
 *   - an echo server on 127.0.0.1 (a multishot acceptor, a task per
 *     connection, deadlines) and clients doing request/response with random
 *     sizes: some rg_cancel'ed at random by a canceller task, some bound to
 *     a Context with a short timeout, some closing early;
 *   - pipelines producer -> stage -> consumer over an unbuffered and a
 *     buffered channel, selects over data, a side channel and the
 *     pipeline's ctx done channel with timeouts; some pipelines' ctx ends
 *     mid-flight, some have their buffered channel closed mid-flight;
 *   - Mutex (deadlines, bound ctx), RWMutex, Semaphore, Cond and WaitGroup
 *     users;
 *   - Context trees (with_cancel, with_timeout, with_value) cancelled in
 *     random subtrees, with after-funcs (some stopped) and done waiters;
 *   - GC churn: items (rg_gc_alloc, with an rg_gc_alloc_noscan blob and a
 *     checksum) carried through the pipelines and swapped with a rooted
 *     table that lives from run to run, garbage and rg_gc_collect calls.
 * Runs 1 and 3 end by main returning with all of it in flight (discarded);
 * the others stop everything and check every count.
 * Environment: SOAK_MS (duration of one run, default 1500 ms, 2500 under
 * the sanitizers), SOAK_RUNS (5), SOAK_SEED, SOAK_BACKENDS ("uring,epoll":
 * either or both). */
// ctest-timeout: 180
#include <stdatomic.h>
#include <string.h>

#include "io/io_test.h"
#include "ringo/gc.h"
#include "ringo/sync.h"


#define ITEM_MAGIC 0x17e3c0ffee5eed01ull
#define NTAB 32
#define MAXREQ (T_SANITIZED ? 8192 : 32768)

/* --- random, items --------------------------------------------------------- */

static uint64_t g_seed;

static inline uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}
static inline uint64_t rseed(uint64_t k)
{
	uint64_t s = g_seed ^ (k * 0x9E3779B97F4A7C15ull);
	return s ? s : 1;
}
static inline int64_t rrange(uint64_t *s, int64_t lo, int64_t hi) /* [lo, hi] */
{
	return lo + (int64_t)(rnd(s) % (uint64_t)(hi - lo + 1));
}

struct item {
	uint64_t magic;
	uint64_t seq;
	uint32_t len, hops;
	unsigned char *blob; /* noscan: bytes only */
	uint64_t sum;
};

static uint64_t blob_sum(const unsigned char *b, size_t n, uint64_t seq)
{
	uint64_t h = 1469598103934665603ull ^ seq;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static _Atomic uint64_t g_item_seq;

static struct item *item_new(uint64_t *rs)
{
	struct item *it = rg_gc_alloc(sizeof *it);
	CHECK(it);
	it->len = (uint32_t)rrange(rs, 1, 600);
	it->blob = rg_gc_alloc_noscan(it->len);
	CHECK(it->blob);
	for (uint32_t i = 0; i < it->len; i++)
		it->blob[i] = (unsigned char)rnd(rs);
	it->seq = atomic_fetch_add(&g_item_seq, 1);
	it->sum = blob_sum(it->blob, it->len, it->seq);
	it->magic = ITEM_MAGIC;
	return it;
}

static void item_check(const struct item *it)
{
	CHECK(it);
	CHECK_EQ(it->magic, ITEM_MAGIC);
	CHECK(it->blob);
	CHECK(rg_gc_base(it) == it);
	CHECK(it->len < 16 || rg_gc_base(it->blob) == it->blob); /* tiny: packed */
	CHECK_EQ(it->sum, blob_sum(it->blob, it->len, it->seq));
}

/* The rooted table, from run to run (a registered root). */
static struct item *g_table[NTAB];
static rg_mutex *g_table_mu; /* the run's: a discarded task may be queued on it */

static struct item *table_swap(int k, struct item *in)
{
	rg_mutex_lock(g_table_mu);
	struct item *old = g_table[k];
	g_table[k] = in;
	rg_mutex_unlock(g_table_mu);
	return old;
}

/* --- one run's state -------------------------------------------------------- */

struct run {
	int idx, procs, discard;
	int64_t end;
	_Atomic int stop, main_returned;
	rg_ctx *root; /* cancelled at the end of a clean run */
	rg_waitgroup wg_all, wg_cli, wg_srv;
	int lfd, port;
	/* echo */
	_Atomic int64_t cancel_ids[16];
	_Atomic long srv_conns, srv_echoes, srv_errs, srv_eof;
	_Atomic long cli_ok[4], cli_err[4], cli_conn;
	_Atomic long cancels_sent, cancels_esrch;
	/* pipelines */
	_Atomic long p_runs, p_prod, p_cons, p_drop, p_left, p_swaps, p_timeouts;
	/* sync */
	rg_mutex tmu;
	rg_mutex mu;
	long mu_a, mu_b, mu_count;
	_Atomic long mu_ok, mu_to;
	rg_rwmutex rw;
	long rw_x, rw_y;
	_Atomic long rw_reads, rw_writes;
	rg_sema sema;
	_Atomic int sema_inuse;
	_Atomic long sema_ok, sema_to;
	rg_mutex cmu;
	rg_cond cond;
	int cq;
	long c_prod, c_cons;
	_Atomic int c_live_prod;
	_Atomic long wg_rounds;
	/* ctx trees */
	_Atomic long ctx_trees, ctx_after_runs, ctx_after_stopped, ctx_waits;
	/* gc */
	_Atomic long gc_collects, gc_checked;
};

static struct run *R;
static const char *g_backend;
static volatile const char *g_phase = "start";

static int64_t dl(int64_t ms) { return rg_now() + ms * MS * (T_SANITIZED ? 4 : 1); }

/* A call a task makes after main returned in a discarded run, while the
 * Ps stop: rg_go and a Context with a deadline to come say -ESHUTDOWN
 * (core.h: "the runtime is stopping").  The task then waits to be
 * discarded.  Anywhere else the call must succeed. */
static void ok_or_stopping(long e)
{
	if (e == -ESHUTDOWN && R && atomic_load(&R->main_returned))
		for (;;)
			rg_sleep(1000 * MS);
}
#define GO(fn, arg)                                                        \
	do {                                                               \
		int64_t id_ = rg_go(fn, arg);                              \
		ok_or_stopping(id_);                                       \
		CHECK(id_ > 0);                                            \
	} while (0)
#define CTX_OK(call)                                                       \
	do {                                                               \
		int e_ = (call);                                           \
		ok_or_stopping(e_);                                        \
		CHECK_EQ(e_, 0);                                           \
	} while (0)

/* --- echo server ------------------------------------------------------------- */

static inline unsigned char pat(uint32_t seed, uint32_t i) { return (unsigned char)(seed + i * 31u + (i >> 8)); }

static bool srv_err_ok(long r)
{
	return r == -ECONNRESET || r == -EPIPE || r == -ETIMEDOUT;
}

static void srv_conn(void *arg)
{
	struct run *r = R;
	int fd = (int)(intptr_t)arg;
	unsigned char *buf = malloc(MAXREQ);
	CHECK(buf);
	for (;;) {
		uint32_t hdr[2];
		ssize_t n = rg_recv_exact(fd, hdr, sizeof hdr, dl(10000), NULL);
		if (n == 0) {
			atomic_fetch_add(&r->srv_eof, 1);
			break;
		}
		if (n < 0) {
			if (!srv_err_ok(n))
				fprintf(stderr, "srv hdr: %zd\n", n);
			CHECK(srv_err_ok(n));
			atomic_fetch_add(&r->srv_errs, 1);
			break;
		}
		if (n != (ssize_t)sizeof hdr) { /* peer closed mid-header */
			atomic_fetch_add(&r->srv_eof, 1);
			break;
		}
		uint32_t len = hdr[0], seed = hdr[1];
		CHECK(len >= 1 && len <= MAXREQ);
		n = rg_recv_exact(fd, buf, len, dl(10000), NULL);
		if (n < 0) {
			CHECK(srv_err_ok(n));
			atomic_fetch_add(&r->srv_errs, 1);
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(seed, (uint32_t)i)) {
				fprintf(stderr, "srv: byte %zd of %u: %02x, want %02x\n", i, len, buf[i],
				        pat(seed, (uint32_t)i));
				CHECK(0);
			}
		if ((size_t)n < len) { /* early close mid-body */
			atomic_fetch_add(&r->srv_eof, 1);
			break;
		}
		n = rg_send_all(fd, buf, len, dl(10000), NULL);
		if (n < 0) {
			if (!srv_err_ok(n))
				fprintf(stderr, "srv send: %zd\n", n);
			CHECK(srv_err_ok(n));
			atomic_fetch_add(&r->srv_errs, 1);
			break;
		}
		CHECK_EQ(n, len);
		atomic_fetch_add(&r->srv_echoes, 1);
	}
	free(buf);
	CHECK_EQ(rg_close(fd), 0);
	rg_waitgroup_done(&r->wg_srv);
}

static void acceptor(void *arg)
{
	(void)arg;
	struct run *r = R;
	for (;;) {
		/* main rg_closes the listener under the waiting accept, which
		 * returns -EBADF (both backends; epoll's did not until
		 * tests/io/test_close_keeps_file.c's fix) */
		int fd = rg_accept(r->lfd, NULL, NULL, -1);
		if (fd < 0) {
			if (fd != -EBADF)
				fprintf(stderr, "accept: %d\n", fd);
			CHECK_EQ(fd, -EBADF); /* main rg_closed the listener */
			CHECK(atomic_load(&r->stop));
			break;
		}
		atomic_fetch_add(&r->srv_conns, 1);
		rg_waitgroup_add(&r->wg_srv, 1);
		GO(srv_conn, (void *)(intptr_t)fd);
	}
	rg_waitgroup_done(&r->wg_srv);
}

/* Client modes: 0 plain (no error allowed), 1 rg_cancel'ed at random
 * (-ECANCELED), 2 bound to a short timeout (-ETIMEDOUT), 3 closes early. */
static const char *const mode_name[4] = { "plain", "cancel", "ctx", "early" };

static void client(void *arg)
{
	struct run *r = R;
	int id = (int)(intptr_t)arg;
	int mode = id % 4;
	uint64_t rs = rseed(0x1000 + (uint64_t)r->idx * 1000 + (uint64_t)id);
	unsigned char *buf = malloc(MAXREQ), *rep = malloc(MAXREQ);
	CHECK(buf && rep);
	if (mode == 1)
		atomic_store(&r->cancel_ids[(id / 4) % 16], rg_self());
	while (!atomic_load(&r->stop)) {
		rg_ctx *c = NULL;
		if (mode == 2) {
			CTX_OK(rg_ctx_with_timeout(rg_ctx_background(), rrange(&rs, 1, 30) * MS, &c));
			CHECK(rg_ctx_bind(c) == NULL);
		}
		int err = 0;
		int fd = t_connect(AF_INET, r->port, dl(10000));
		if (fd < 0) {
			err = fd;
			goto out;
		}
		atomic_fetch_add(&r->cli_conn, 1);
		int nreq = (int)rrange(&rs, 1, 6);
		for (int j = 0; j < nreq && !err; j++) {
			uint32_t len = (uint32_t)rrange(&rs, 1, MAXREQ), seed = (uint32_t)rnd(&rs);
			for (uint32_t i = 0; i < len; i++)
				buf[i] = pat(seed, i);
			uint32_t hdr[2] = { len, seed };
			ssize_t n = rg_send_all(fd, hdr, sizeof hdr, dl(10000), NULL);
			if (n < 0) {
				err = (int)n;
				break;
			}
			CHECK_EQ(n, sizeof hdr);
			bool early = mode == 3 && rrange(&rs, 0, 2) == 0;
			size_t part = early && rrange(&rs, 0, 1) ? len / 2 : len;
			if (part) {
				n = rg_send_all(fd, buf, part, dl(10000), NULL);
				if (n < 0) {
					err = (int)n;
					break;
				}
				CHECK_EQ(n, part);
			}
			if (early)
				break; /* close without reading the reply */
			n = rg_recv_exact(fd, rep, len, dl(10000), NULL);
			if (n < 0) {
				err = (int)n;
				break;
			}
			CHECK_EQ(n, len);
			CHECK(memcmp(rep, buf, len) == 0);
			atomic_fetch_add(&r->cli_ok[mode], 1);
		}
		CHECK_EQ(rg_close(fd), 0);
	out:
		if (err) {
			bool allowed = (mode == 1 && err == -ECANCELED) || (mode == 2 && err == -ETIMEDOUT);
			if (!allowed)
				fprintf(stderr, "client %d (%s): error %d (%s)\n", id, mode_name[mode], err,
				        strerror(-err));
			CHECK(allowed);
			atomic_fetch_add(&r->cli_err[mode], 1);
		}
		if (c) {
			CHECK(rg_ctx_bind(NULL) == c);
			rg_ctx_release(c);
		}
		if (mode == 1 || mode == 3)
			rg_sleep(rrange(&rs, 0, 2) * MS);
	}
	free(buf);
	free(rep);
	rg_waitgroup_done(&r->wg_cli);
}

static void canceller(void *arg)
{
	(void)arg;
	struct run *r = R;
	uint64_t rs = rseed(0x2000 + (uint64_t)r->idx);
	while (!atomic_load(&r->stop)) {
		int64_t id = atomic_load(&r->cancel_ids[rnd(&rs) % 16]);
		if (id > 0) {
			int c = rg_cancel(id);
			CHECK(c == 0 || c == -ESRCH);
			atomic_fetch_add(c == 0 ? &r->cancels_sent : &r->cancels_esrch, 1);
		}
		rg_sleep(rrange(&rs, 0, 3) * MS);
	}
	rg_waitgroup_done(&r->wg_all);
}

/* --- pipelines ------------------------------------------------------------------ */

struct pipe {
	rg_chan *ch1, *ch2, *side;
	rg_ctx *ctx;
	int mode; /* 0 plain, 1 ctx ends mid-flight, 2 ch2 closed mid-flight */
	int bind_consumer;
	int n;
	uint64_t rs;
	rg_waitgroup wg;
	_Atomic long prod, cons, drop;
};

static void p_producer(void *arg)
{
	struct pipe *p = arg;
	uint64_t rs = p->rs ^ 1;
	rg_chan *done = rg_ctx_done(p->ctx);
	for (int i = 0; i < p->n; i++) {
		struct item *it = item_new(&rs);
		for (;;) {
			rg_select_case cs[2] = { { p->ch1, RG_SELECT_SEND, &it, false },
				                 { done, RG_SELECT_RECV, NULL, false } };
			int k = rg_select(cs, 2, dl(200));
			if (k == -ETIMEDOUT) {
				atomic_fetch_add(&R->p_timeouts, 1);
				continue;
			}
			if (k == 0) {
				CHECK(cs[0].ok); /* only the producer closes ch1 */
				atomic_fetch_add(&p->prod, 1);
				break;
			}
			CHECK_EQ(k, 1);
			CHECK(!cs[1].ok);
			CHECK(rg_ctx_err(p->ctx) == -ECANCELED || rg_ctx_err(p->ctx) == -ETIMEDOUT);
			goto closed;
		}
		if (rrange(&rs, 0, 7) == 0)
			rg_yield();
	}
closed:
	CHECK_EQ(rg_chan_close(p->ch1), 0);
	rg_waitgroup_done(&p->wg);
}

static void p_stage(void *arg)
{
	struct pipe *p = arg;
	uint64_t rs = p->rs ^ 2;
	rg_chan *done = rg_ctx_done(p->ctx);
	for (;;) {
		struct item *it = NULL;
		int side = 0;
		rg_select_case cs[3] = { { p->ch1, RG_SELECT_RECV, &it, false },
			                 { p->side, RG_SELECT_RECV, &side, false },
			                 { done, RG_SELECT_RECV, NULL, false } };
		int k = rg_select(cs, 3, dl(50));
		if (k == -ETIMEDOUT) {
			atomic_fetch_add(&R->p_timeouts, 1);
			continue;
		}
		CHECK(k >= 0 && k <= 2);
		if (k == 1)
			CHECK(0); /* nobody sends on side, nobody closes it */
		if (k == 2) {
			CHECK(!cs[2].ok);
			break;
		}
		if (!cs[0].ok) { /* ch1 closed and drained */
			CHECK(it == NULL);
			break;
		}
		item_check(it);
		it->hops++;
		if (rrange(&rs, 0, 5) == 0) { /* swap with the rooted table */
			struct item *old = table_swap((int)rrange(&rs, 0, NTAB - 1), it);
			if (old) {
				item_check(old);
				it = old;
				atomic_fetch_add(&R->p_swaps, 1);
			} else {
				it = item_new(&rs); /* the table kept ours: a new one instead */
			}
		}
		for (;;) {
			rg_select_case ss[2] = { { p->ch2, RG_SELECT_SEND, &it, false },
				                 { done, RG_SELECT_RECV, NULL, false } };
			int j = rg_select(ss, 2, dl(200));
			if (j == -ETIMEDOUT) {
				atomic_fetch_add(&R->p_timeouts, 1);
				continue;
			}
			if (j == 0 && ss[0].ok)
				break;
			if (j == 0) { /* ch2 closed under us */
				CHECK_EQ(p->mode, 2);
				atomic_fetch_add(&p->drop, 1);
				break;
			}
			CHECK_EQ(j, 1);
			atomic_fetch_add(&p->drop, 1);
			goto out;
		}
	}
out:;
	int c = rg_chan_close(p->ch2);
	CHECK(c == 0 || (p->mode == 2 && c == -EPIPE));
	rg_waitgroup_done(&p->wg);
}

static void p_consumer(void *arg)
{
	struct pipe *p = arg;
	if (p->bind_consumer)
		rg_ctx_bind(p->ctx);
	for (;;) {
		struct item *it = NULL;
		bool ok = false;
		int r = rg_chan_recv(p->ch2, &it, &ok, dl(300));
		if (r == -ETIMEDOUT && !(p->bind_consumer && rg_ctx_err(p->ctx) == -ETIMEDOUT)) {
			atomic_fetch_add(&R->p_timeouts, 1);
			continue;
		}
		if (r < 0) {
			CHECK(p->bind_consumer);
			CHECK(r == -ECANCELED || r == -ETIMEDOUT);
			CHECK_EQ(r, rg_ctx_err(p->ctx));
			break;
		}
		if (!ok) {
			CHECK(it == NULL);
			break;
		}
		item_check(it);
		atomic_fetch_add(&p->cons, 1);
	}
	if (p->bind_consumer)
		rg_ctx_bind(NULL);
	rg_waitgroup_done(&p->wg);
}

static void p_closer(void *arg)
{
	struct pipe *p = arg;
	uint64_t rs = p->rs ^ 3;
	rg_sleep(rrange(&rs, 0, 20) * MS);
	int c = rg_chan_close(p->ch2);
	CHECK(c == 0 || c == -EPIPE);
	rg_waitgroup_done(&p->wg);
}

static void pipeliner(void *arg)
{
	struct run *r = R;
	uint64_t rs = rseed(0x3000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	while (!atomic_load(&r->stop)) {
		struct pipe *p = calloc(1, sizeof *p);
		CHECK(p);
		p->rs = rnd(&rs) | 1;
		p->mode = (int)rrange(&rs, 0, 2);
		p->bind_consumer = (int)rrange(&rs, 0, 1);
		p->n = (int)rrange(&rs, 1, T_SANITIZED ? 100 : 400);
		p->ch1 = rg_chan_make(sizeof(void *), 0);
		p->ch2 = rg_chan_make(sizeof(void *), (size_t)rrange(&rs, 1, 8));
		p->side = rg_chan_make(sizeof(int), 0);
		CHECK(p->ch1 && p->ch2 && p->side);
		if (p->mode == 1)
			CTX_OK(rg_ctx_with_timeout(r->root, rrange(&rs, 1, 30) * MS, &p->ctx));
		else
			CHECK_EQ(rg_ctx_with_cancel(r->root, &p->ctx), 0);
		rg_waitgroup_add(&p->wg, p->mode == 2 ? 4 : 3);
		GO(p_producer, p);
		GO(p_stage, p);
		GO(p_consumer, p);
		if (p->mode == 2)
			GO(p_closer, p);
		int w = rg_waitgroup_wait(&p->wg, dl(30000));
		if (w != 0)
			fprintf(stderr, "pipeline (mode %d, bound %d) hung: prod %ld cons %ld drop %ld\n", p->mode,
			        p->bind_consumer, atomic_load(&p->prod), atomic_load(&p->cons),
			        atomic_load(&p->drop));
		CHECK_EQ(w, 0);
		long left = 0;
		for (;;) {
			struct item *it = NULL;
			bool ok = false;
			int c = rg_chan_recv(p->ch2, &it, &ok, 0);
			CHECK_EQ(c, 0); /* closed: never -EAGAIN */
			if (!ok)
				break;
			item_check(it);
			left++;
		}
		if (atomic_load(&p->prod) != atomic_load(&p->cons) + atomic_load(&p->drop) + left)
			fprintf(stderr, "pipeline (mode %d, bound %d): prod %ld != cons %ld + drop %ld + left %ld\n",
			        p->mode, p->bind_consumer, atomic_load(&p->prod), atomic_load(&p->cons),
			        atomic_load(&p->drop), left);
		CHECK_EQ(atomic_load(&p->prod), atomic_load(&p->cons) + atomic_load(&p->drop) + left);
		CHECK(p->mode != 0 || atomic_load(&r->stop) || atomic_load(&p->prod) == p->n);
		atomic_fetch_add(&r->p_runs, 1);
		atomic_fetch_add(&r->p_prod, atomic_load(&p->prod));
		atomic_fetch_add(&r->p_cons, atomic_load(&p->cons));
		atomic_fetch_add(&r->p_drop, atomic_load(&p->drop));
		atomic_fetch_add(&r->p_left, left);
		rg_ctx_release(p->ctx);
		rg_chan_free(p->ch1);
		rg_chan_free(p->ch2);
		rg_chan_free(p->side);
		free(p);
	}
	rg_waitgroup_done(&r->wg_all);
}

/* --- sync users ------------------------------------------------------------------ */

static void mu_worker(void *arg)
{
	struct run *r = R;
	uint64_t rs = rseed(0x4000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	while (!atomic_load(&r->stop)) {
		int how = (int)rrange(&rs, 0, 3);
		rg_ctx *c = NULL;
		int64_t d;
		if (how == 0)
			d = 0;
		else if (how == 1)
			d = rg_now() + rrange(&rs, 0, 2000) * 1000;
		else if (how == 2) {
			CTX_OK(rg_ctx_with_timeout(rg_ctx_background(), rrange(&rs, 0, 2000) * 1000, &c));
			rg_ctx_bind(c);
			d = -1;
		} else
			d = -1;
		int e = rg_mutex_lock_until(&r->mu, d);
		if (c) {
			rg_ctx_bind(NULL);
			rg_ctx_release(c);
		}
		if (e == 0) {
			CHECK_EQ(r->mu_a, r->mu_b);
			r->mu_a++;
			if (rrange(&rs, 0, 3) == 0)
				rg_yield(); /* park while holding it */
			r->mu_b++;
			r->mu_count++;
			rg_mutex_unlock(&r->mu);
			atomic_fetch_add(&r->mu_ok, 1);
		} else {
			CHECK((how == 0 && e == -EAGAIN) || (how == 1 && e == -ETIMEDOUT) ||
			      (how == 2 && e == -ETIMEDOUT));
			atomic_fetch_add(&r->mu_to, 1);
		}
		rg_yield();
		if (rrange(&rs, 0, 15) == 0)
			rg_sleep(rrange(&rs, 0, 500) * 1000);
	}
	rg_waitgroup_done(&r->wg_all);
}

static void rw_worker(void *arg)
{
	struct run *r = R;
	int writer = (int)(intptr_t)arg % 3 == 0;
	uint64_t rs = rseed(0x5000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	while (!atomic_load(&r->stop)) {
		if (writer) {
			rg_rwmutex_lock(&r->rw);
			r->rw_x++;
			if (rrange(&rs, 0, 3) == 0)
				rg_yield();
			r->rw_y++;
			rg_rwmutex_unlock(&r->rw);
			atomic_fetch_add(&r->rw_writes, 1);
			rg_sleep(rrange(&rs, 0, 300) * 1000);
		} else {
			rg_rwmutex_rlock(&r->rw);
			long x = r->rw_x;
			if (rrange(&rs, 0, 3) == 0)
				rg_yield();
			CHECK_EQ(r->rw_y, x);
			CHECK_EQ(r->rw_x, x);
			rg_rwmutex_runlock(&r->rw);
			atomic_fetch_add(&r->rw_reads, 1);
			rg_yield();
			if (rrange(&rs, 0, 63) == 0)
				rg_sleep(100 * 1000);
		}
	}
	rg_waitgroup_done(&r->wg_all);
}

static void sema_worker(void *arg)
{
	struct run *r = R;
	uint64_t rs = rseed(0x6000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	CHECK_EQ(rg_sema_acquire(&r->sema, 5, -1), -EINVAL);
	while (!atomic_load(&r->stop)) {
		int64_t n = rrange(&rs, 1, 4);
		int64_t d = rrange(&rs, 0, 4) == 0 ? 0 : rg_now() + rrange(&rs, 0, 3000) * 1000;
		int e = rg_sema_acquire(&r->sema, n, d);
		if (e == 0) {
			int u = atomic_fetch_add(&r->sema_inuse, (int)n) + (int)n;
			CHECK(u <= 4);
			if (rrange(&rs, 0, 1))
				rg_yield();
			atomic_fetch_sub(&r->sema_inuse, (int)n);
			rg_sema_release(&r->sema, n);
			atomic_fetch_add(&r->sema_ok, 1);
		} else {
			CHECK((d == 0 && e == -EAGAIN) || (d != 0 && e == -ETIMEDOUT));
			atomic_fetch_add(&r->sema_to, 1);
		}
		rg_yield();
	}
	rg_waitgroup_done(&r->wg_all);
}

#define CQ_MAX 8
static void cond_producer(void *arg)
{
	struct run *r = R;
	(void)arg;
	for (;;) {
		rg_mutex_lock(&r->cmu);
		while (r->cq == CQ_MAX && !atomic_load(&r->stop))
			rg_cond_wait(&r->cond, &r->cmu);
		if (atomic_load(&r->stop)) {
			rg_mutex_unlock(&r->cmu);
			break;
		}
		r->cq++;
		long np = ++r->c_prod;
		rg_cond_broadcast(&r->cond);
		rg_mutex_unlock(&r->cmu);
		rg_yield(); /* cooperative: a loop that never parks hogs its P */
		if ((np & 63) == 0)
			rg_sleep(100 * 1000);
	}
	rg_mutex_lock(&r->cmu);
	atomic_fetch_sub(&r->c_live_prod, 1);
	rg_cond_broadcast(&r->cond);
	rg_mutex_unlock(&r->cmu);
	rg_waitgroup_done(&r->wg_all);
}

static void cond_consumer(void *arg)
{
	struct run *r = R;
	(void)arg;
	for (;;) {
		rg_mutex_lock(&r->cmu);
		while (r->cq == 0 && atomic_load(&r->c_live_prod) > 0)
			rg_cond_wait(&r->cond, &r->cmu);
		if (r->cq == 0) { /* producers gone and queue empty */
			rg_mutex_unlock(&r->cmu);
			break;
		}
		r->cq--;
		r->c_cons++;
		rg_cond_signal(&r->cond);
		rg_mutex_unlock(&r->cmu);
		rg_yield();
	}
	rg_waitgroup_done(&r->wg_all);
}

static void wg_leaf(void *arg)
{
	rg_waitgroup *wg = arg;
	if (rg_self() & 1)
		rg_yield();
	rg_waitgroup_done(wg);
}

static void wg_worker(void *arg)
{
	struct run *r = R;
	uint64_t rs = rseed(0x7000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	while (!atomic_load(&r->stop)) {
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		int k = (int)rrange(&rs, 1, 8);
		rg_waitgroup_add(&wg, k);
		for (int i = 0; i < k; i++)
			GO(wg_leaf, &wg);
		int e = rg_waitgroup_wait(&wg, 0);
		CHECK(e == 0 || e == -EAGAIN);
		CHECK_EQ(rg_waitgroup_wait(&wg, dl(10000)), 0);
		atomic_fetch_add(&r->wg_rounds, 1);
		rg_sleep(rrange(&rs, 0, 500) * 1000);
	}
	rg_waitgroup_done(&r->wg_all);
}

/* --- Context trees ---------------------------------------------------------------- */

#define NNODE 13
static const char g_key_a = 'a', g_key_b = 'b';

struct node {
	rg_ctx *c;
	int parent; /* -1: the run's root */
	int kind;   /* 0 cancel, 1 timeout, 2 value */
	int64_t after_id;
	bool stopped;
	_Atomic int runs;
};

static void after_fn(void *arg)
{
	struct node *n = arg;
	int v = atomic_fetch_add(&n->runs, 1);
	CHECK_EQ(v, 0);
	atomic_fetch_add(&R->ctx_after_runs, 1);
}

struct waiter {
	rg_ctx *c;
	rg_waitgroup *wg;
};

static void done_waiter(void *arg)
{
	struct waiter *w = arg;
	bool ok = true;
	int e = rg_chan_recv(rg_ctx_done(w->c), NULL, &ok, dl(20000));
	CHECK_EQ(e, 0);
	CHECK(!ok);
	int err = rg_ctx_err(w->c);
	CHECK(err == -ECANCELED || err == -ETIMEDOUT);
	rg_ctx_release(w->c);
	atomic_fetch_add(&R->ctx_waits, 1);
	rg_waitgroup_done(w->wg);
	free(w);
}

static bool is_desc(struct node *ns, int d, int a)
{
	for (int x = d; x >= 0; x = ns[x].parent)
		if (x == a)
			return true;
	return false;
}

static void ctx_chaos(void *arg)
{
	struct run *r = R;
	uint64_t rs = rseed(0x8000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	while (!atomic_load(&r->stop)) {
		struct node *ns = calloc(NNODE, sizeof *ns);
		CHECK(ns);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		int nw = 0;
		for (int i = 0; i < NNODE; i++) {
			ns[i].parent = i == 0 ? -1 : (int)rrange(&rs, 0, i - 1);
			ns[i].kind = i == 0 ? 0 : (int)rrange(&rs, 0, 2);
			rg_ctx *par = ns[i].parent < 0 ? r->root : ns[ns[i].parent].c;
			int e;
			if (ns[i].kind == 0)
				e = rg_ctx_with_cancel(par, &ns[i].c);
			else if (ns[i].kind == 1)
				e = rg_ctx_with_timeout(par, rrange(&rs, 1, 40) * MS, &ns[i].c);
			else
				e = rg_ctx_with_value(par, i & 1 ? &g_key_a : &g_key_b, &ns[i], &ns[i].c);
			ok_or_stopping(e);
			CHECK_EQ(e, 0);
			ns[i].after_id = rg_ctx_after_func(ns[i].c, after_fn, &ns[i]);
			CHECK(ns[i].after_id > 0);
			if (rrange(&rs, 0, 2) == 0 && rg_ctx_done(ns[i].c)) {
				struct waiter *w = malloc(sizeof *w);
				CHECK(w);
				rg_ctx_retain(ns[i].c);
				w->c = ns[i].c;
				w->wg = &wg;
				rg_waitgroup_add(&wg, 1);
				nw++;
				GO(done_waiter, w);
			}
		}
		/* values: the nearest value node of each key up the chain */
		for (int i = 0; i < NNODE; i++) {
			for (int kk = 0; kk < 2; kk++) {
				const void *key = kk ? &g_key_a : &g_key_b;
				void *want = NULL;
				for (int x = i; x >= 0; x = ns[x].parent)
					if (ns[x].kind == 2 && (x & 1) == kk) {
						want = &ns[x];
						break;
					}
				CHECK(rg_ctx_value(ns[i].c, key) == want);
			}
		}
		/* stop some after-funcs */
		for (int i = 0; i < NNODE; i++)
			if (rrange(&rs, 0, 4) == 0 && rg_ctx_after_stop(ns[i].c, ns[i].after_id))
				ns[i].stopped = true;
		/* cancel random subtrees; after each, its whole subtree is done.
		 * At once when nothing else may be cancelling part of it (Go's
		 * cancel is a no-op on a context already done, and returns
		 * while a concurrent canceller, a deadline's timer or main's
		 * cancel of the run's root, may still be propagating below):
		 * the tree has no deadline node and the run is not stopping.
		 * Otherwise within a bound. */
		bool timed = false;
		for (int i = 0; i < NNODE; i++)
			timed |= ns[i].kind == 1;
		for (int k = 0; k < 4; k++) {
			rg_sleep(rrange(&rs, 0, 8) * MS);
			int a = (int)rrange(&rs, 0, NNODE - 1);
			rg_ctx_cancel(ns[a].c);
			for (int i = 0; i < NNODE; i++) {
				int e = rg_ctx_err(ns[i].c);
				CHECK(e == 0 || e == -ECANCELED || e == -ETIMEDOUT);
				if (!is_desc(ns, i, a) || ns[a].kind == 2 || e != 0)
					continue;
				if (!timed && !atomic_load(&r->stop)) {
					fprintf(stderr, "ctx tree: node %d (kind %d) not done after cancel of its "
					        "ancestor %d (kind %d)\n", i, ns[i].kind, a, ns[a].kind);
					CHECK(0);
				}
				for (int64_t until = dl(2000); (e = rg_ctx_err(ns[i].c)) == 0;) {
					CHECK(rg_now() < until);
					rg_sleep(MS / 10);
				}
			}
		}
		/* release, leaves first (higher index: children come after parents) */
		for (int i = NNODE - 1; i >= 0; i--)
			rg_ctx_release(ns[i].c);
		int want = 0;
		for (int i = 0; i < NNODE; i++)
			want += !ns[i].stopped;
		int64_t until = dl(10000);
		for (;;) {
			int got = 0;
			for (int i = 0; i < NNODE; i++)
				got += atomic_load(&ns[i].runs);
			if (got == want)
				break;
			if (rg_now() > until) {
				fprintf(stderr, "ctx tree: %d of %d after-funcs ran\n", got, want);
				CHECK(0);
			}
			rg_sleep(MS / 2);
		}
		for (int i = 0; i < NNODE; i++)
			CHECK_EQ(atomic_load(&ns[i].runs), !ns[i].stopped);
		CHECK_EQ(rg_waitgroup_wait(&wg, dl(20000)), 0);
		atomic_fetch_add(&r->ctx_after_stopped, NNODE - want);
		atomic_fetch_add(&r->ctx_trees, 1);
		/* after-funcs may still be returning: their nodes stay (leaked
		 * only if the run is discarded; here free after a pause) */
		rg_sleep(MS);
		free(ns);
		(void)nw;
	}
	rg_waitgroup_done(&r->wg_all);
}

/* --- GC churn ---------------------------------------------------------------------- */

struct gnode {
	struct gnode *next;
	uint64_t v;
};

static void gc_churn(void *arg)
{
	struct run *r = R;
	uint64_t rs = rseed(0x9000 + (uint64_t)r->idx * 100 + (uint64_t)(intptr_t)arg);
	while (!atomic_load(&r->stop)) {
		/* a linked list that lives across a collection */
		struct gnode *h = NULL;
		int n = (int)rrange(&rs, 10, T_SANITIZED ? 200 : 1000);
		for (int i = 0; i < n; i++) {
			struct gnode *g = rg_gc_alloc(sizeof *g + (size_t)rrange(&rs, 0, 200));
			CHECK(g);
			g->next = h;
			g->v = (uint64_t)i * 7 + 3;
			h = g;
		}
		for (int i = 0; i < 200; i++) /* garbage */
			CHECK(rg_gc_alloc((size_t)rrange(&rs, 1, 4096)));
		int k = (int)rrange(&rs, 0, NTAB - 1);
		struct item *old = table_swap(k, item_new(&rs));
		if (old)
			item_check(old);
		if (rrange(&rs, 0, 9) == 0) {
			CHECK_EQ(rg_gc_collect(), 0);
			atomic_fetch_add(&r->gc_collects, 1);
		}
		int i = n - 1;
		for (struct gnode *g = h; g; g = g->next, i--)
			CHECK_EQ(g->v, (uint64_t)i * 7 + 3);
		CHECK_EQ(i, -1);
		/* verify the whole table */
		rg_mutex_lock(g_table_mu);
		for (int j = 0; j < NTAB; j++)
			if (g_table[j])
				item_check(g_table[j]);
		rg_mutex_unlock(g_table_mu);
		atomic_fetch_add(&r->gc_checked, 1);
		rg_sleep(rrange(&rs, 0, 2) * MS);
	}
	rg_waitgroup_done(&r->wg_all);
}

/* --- a run ---------------------------------------------------------------------------- */

#define NCLI (T_SANITIZED ? 12 : 24)
#define NPIPE 3
#define NMU 6
#define NRW 6
#define NSEMA 5
#define NCOND 3
#define NWG 2
#define NCTX 2
#define NGC 2

static void spawn_all(struct run *r, void (*fn)(void *), int n)
{
	rg_waitgroup_add(&r->wg_all, n);
	for (int i = 0; i < n; i++)
		GO(fn, (void *)(intptr_t)i);
}

static int run_main(void *arg)
{
	struct run *r = arg;
	R = r;
	g_table_mu = &r->tmu;
	CHECK(strcmp(rg_io_backend(), g_backend) == 0);
	CHECK_EQ(rg_procs(), r->procs);
	/* the table's items survived the last runs and their collections */
	g_phase = "table check";
	for (int j = 0; j < NTAB; j++)
		if (g_table[j])
			item_check(g_table[j]);
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &r->root), 0);
	r->lfd = t_listen(AF_INET, &r->port);
	CHECK(r->lfd >= 0);
	rg_sema_init(&r->sema, 4);
	atomic_store(&r->c_live_prod, NCOND);
	g_phase = "spawn";
	rg_waitgroup_add(&r->wg_srv, 1);
	GO(acceptor, NULL);
	rg_waitgroup_add(&r->wg_cli, NCLI);
	for (int i = 0; i < NCLI; i++)
		GO(client, (void *)(intptr_t)i);
	spawn_all(r, canceller, 1);
	spawn_all(r, pipeliner, NPIPE);
	spawn_all(r, mu_worker, NMU);
	spawn_all(r, rw_worker, NRW);
	spawn_all(r, sema_worker, NSEMA);
	spawn_all(r, cond_producer, NCOND);
	spawn_all(r, cond_consumer, NCOND);
	spawn_all(r, wg_worker, NWG);
	spawn_all(r, ctx_chaos, NCTX);
	spawn_all(r, gc_churn, NGC);
	g_phase = "soak";
	while (rg_now() < r->end) {
		rg_sleep(20 * MS);
		if (r->idx % 2 == 0 && rg_now() > r->end - 300 * MS)
			CHECK_EQ(rg_gc_collect(), 0);
	}
	/* A clean run checks that plain clients, pipelines and Context trees
	 * each got somewhere (below).  On a loaded machine a run's time can
	 * pass before a task first runs (cli_ok[0] was 0 after a 2.5 s TSan
	 * run beside other jobs): go on until each has, up to a deadline
	 * only something stuck reaches. */
	g_phase = "soak until progress";
	for (int64_t until = rg_now() + 30000 * MS; !r->discard && rg_now() < until;) {
		if (atomic_load(&r->cli_ok[0]) > 0 && atomic_load(&r->p_runs) > 0 && atomic_load(&r->ctx_trees) > 0)
			break;
		rg_sleep(20 * MS);
	}
	if (r->discard) {
		g_phase = "discard";
		atomic_store(&r->main_returned, 1);
		return 42; /* everything still in flight: discarded */
	}
	g_phase = "stop";
	atomic_store(&r->stop, 1);
	rg_ctx_cancel(r->root);
	rg_mutex_lock(&r->cmu);
	rg_cond_broadcast(&r->cond);
	rg_mutex_unlock(&r->cmu);
	g_phase = "join clients";
	int e = rg_waitgroup_wait(&r->wg_cli, dl(30000));
	if (e)
		fprintf(stderr, "run %d: clients did not finish: %d\n", r->idx, e);
	CHECK_EQ(e, 0);
	g_phase = "join workers";
	e = rg_waitgroup_wait(&r->wg_all, dl(30000));
	if (e)
		fprintf(stderr, "run %d: workers did not finish: %d\n", r->idx, e);
	CHECK_EQ(e, 0);
	g_phase = "join server";
	CHECK_EQ(rg_close(r->lfd), 0);
	e = rg_waitgroup_wait(&r->wg_srv, dl(30000));
	if (e)
		fprintf(stderr, "run %d: server did not finish: %d (conns %ld)\n", r->idx, e,
		        atomic_load(&r->srv_conns));
	CHECK_EQ(e, 0);
	g_phase = "checks";
	/* every plain client exchange got its echo, and the server echoed at
	 * least every exchange a client saw */
	long cli_total = 0;
	for (int m = 0; m < 4; m++)
		cli_total += atomic_load(&r->cli_ok[m]);
	CHECK(atomic_load(&r->srv_echoes) >= cli_total);
	CHECK_EQ(atomic_load(&r->cli_err[0]), 0);
	CHECK_EQ(atomic_load(&r->cli_err[3]), 0);
	CHECK(atomic_load(&r->cli_ok[0]) > 0);
	CHECK_EQ(r->mu_count, atomic_load(&r->mu_ok));
	CHECK_EQ(r->mu_a, r->mu_b);
	CHECK_EQ(r->rw_x, atomic_load(&r->rw_writes));
	CHECK_EQ(r->rw_y, r->rw_x);
	CHECK_EQ(atomic_load(&r->sema_inuse), 0);
	CHECK_EQ(rg_sema_acquire(&r->sema, 4, 0), 0); /* all 4 units back */
	rg_sema_release(&r->sema, 4);
	CHECK_EQ(r->c_prod, r->c_cons + r->cq);
	CHECK_EQ(r->cq, 0);
	CHECK_EQ(atomic_load(&r->p_prod),
	         atomic_load(&r->p_cons) + atomic_load(&r->p_drop) + atomic_load(&r->p_left));
	CHECK(atomic_load(&r->p_runs) > 0);
	CHECK(atomic_load(&r->ctx_trees) > 0);
	rg_ctx_release(r->root);
	return 0;
}

static void print_run(struct run *r, int rc, int64_t ms)
{
	printf("  run %d (%d P, %s): rc %d, %lld ms; echo %ld conns %ld (plain %ld cancel %ld/%ld ctx %ld/%ld "
	       "early %ld) cancels %ld; pipes %ld prod %ld cons %ld drop %ld left %ld swaps %ld; "
	       "mu %ld/%ld rw %ld/%ld sema %ld/%ld cond %ld wg %ld; ctx trees %ld afters %ld stopped %ld "
	       "waits %ld; gc collects %ld checks %ld\n",
	       r->idx, r->procs, r->discard ? "discard" : "clean", rc, (long long)ms,
	       atomic_load(&r->srv_echoes), atomic_load(&r->srv_conns), atomic_load(&r->cli_ok[0]),
	       atomic_load(&r->cli_ok[1]), atomic_load(&r->cli_err[1]), atomic_load(&r->cli_ok[2]),
	       atomic_load(&r->cli_err[2]), atomic_load(&r->cli_ok[3]), atomic_load(&r->cancels_sent),
	       atomic_load(&r->p_runs), atomic_load(&r->p_prod), atomic_load(&r->p_cons),
	       atomic_load(&r->p_drop), atomic_load(&r->p_left), atomic_load(&r->p_swaps),
	       atomic_load(&r->mu_ok), atomic_load(&r->mu_to), atomic_load(&r->rw_reads),
	       atomic_load(&r->rw_writes), atomic_load(&r->sema_ok), atomic_load(&r->sema_to), r->c_prod,
	       atomic_load(&r->wg_rounds), atomic_load(&r->ctx_trees), atomic_load(&r->ctx_after_runs),
	       atomic_load(&r->ctx_after_stopped), atomic_load(&r->ctx_waits), atomic_load(&r->gc_collects),
	       atomic_load(&r->gc_checked));
}

static int g_runs, g_ms, g_nchildren = 2;

static void on_alarm(int sig)
{
	(void)sig;
	char m[160];
	int n = snprintf(m, sizeof m, "soak: hung in phase \"%s\" of run %d\n", (const char *)g_phase,
	                 R ? R->idx : -1);
	if (write(2, m, (size_t)n) < 0) {
	}
	signal(SIGALRM, SIG_DFL);
	raise(SIGALRM);
}

static const char *const backends[2] = { "io_uring", "epoll" };
static void child(int k);
static void child_uring(int k) { (void)k; child(0); }
static void child_epoll(int k) { (void)k; child(1); }

static void child(int k)
{
	g_backend = backends[k];
	if (k == 1)
		setenv("RINGO_IO", "epoll", 1);
	t_raise_nofile(8192);
	signal(SIGALRM, on_alarm);
	/* a hang says in which phase: before ctest's timeout (180 s for
	 * both children) ends the test without a word, as it did once at
	 * load 10 (epoll child) */
	unsigned al = (unsigned)(g_runs * g_ms / 1000 * 3 + 60 * (T_SANITIZED ? 3 : 1));
	unsigned fit = 170 / (unsigned)g_nchildren;
	alarm(al < fit || g_runs * g_ms > 5 * 2500 ? al : fit);
	CHECK_EQ(rg_gc_root_add(g_table, sizeof g_table), 0);
	static const int procs[] = { 2, 1, 2, 1, 2 };
	for (int i = 0; i < g_runs; i++) {
		struct run *r = calloc(1, sizeof *r);
		CHECK(r);
		r->idx = i;
		r->procs = procs[i % 5];
		r->discard = i % 2 == 1 && i != g_runs - 1;
		int fds0 = r->discard ? 0 : t_open_fds();
		rg_config c = { .procs = r->procs, .quiet = 1, .nopin = 1 };
		int64_t t0 = t_mono_();
		r->end = t0 + (int64_t)g_ms * MS;
		int rc = rg_run(run_main, r, &c);
		int64_t ms = (t_mono_() - t0) / MS;
		print_run(r, rc, ms);
		CHECK_EQ(rc, r->discard ? 42 : 0);
		/* outside any run: the table is intact through a collection */
		CHECK_EQ(rg_gc_collect(), 0);
		for (int j = 0; j < NTAB; j++)
			if (g_table[j])
				item_check(g_table[j]);
		if (!r->discard) {
			int fds1 = t_open_fds();
			if (fds1 != fds0)
				fprintf(stderr, "run %d: %d fds open before, %d after\n", i, fds0, fds1);
			CHECK_EQ(fds1, fds0);
			free(r);
#if T_LSAN
			/* clean runs so far: nothing leaked (discarded runs leak
			 * their tasks' buffers by design, so only until the first) */
			if (i == 0)
				CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
		} else {
			/* its channels, locks and contexts may still list discarded
			 * tasks: leaked, as core.h allows (free memory only) */
			close(r->lfd);
		}
		R = NULL;
	}
	/* t_fork_cases _exits: no exit-time leak check, which would list
	 * the discarded runs' buffers */
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *s = getenv("SOAK_SEED");
	g_seed = s ? strtoull(s, NULL, 0) : (uint64_t)t_mono_();
	if (!g_seed)
		g_seed = 1;
	s = getenv("SOAK_MS");
	g_ms = s ? atoi(s) : (T_SANITIZED ? 2500 : 1500);
	s = getenv("SOAK_RUNS");
	g_runs = s ? atoi(s) : 5;
	CHECK(g_ms > 0 && g_runs > 0);
	printf("soak: seed 0x%llx, %d runs of %d ms\n", (unsigned long long)g_seed, g_runs, g_ms);
	s = getenv("SOAK_BACKENDS");
	int first = 0, n = 2;
	if (s && !strcmp(s, "uring"))
		n = 1;
	else if (s && !strcmp(s, "epoll"))
		first = 1, n = 1;
	int failed = 0;
	g_nchildren = n;
	for (int k = first; k < first + n; k++) {
		g_backend = backends[k];
		failed += t_fork_cases(1, k ? child_epoll : child_uring, &backends[k]);
	}
	return failed ? T_FAIL : T_PASS;
}
