/* select: Go's chan_test.go TestNonblockSelectRace(2), TestSelfSelect,
 * TestSelectStress, TestSelectFairness, TestPseudoRandomSend,
 * TestMultiConsumer, TestSelectDuplicateChannel, and test/chan's
 * doubleselect and sieve1, as ringo tasks over every P. */
// ctest-timeout: 120
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#define MS 1000000LL

static rg_select_case R(rg_chan *c, void *v) { return (rg_select_case){ c, RG_SELECT_RECV, v, false }; }
static rg_select_case S(rg_chan *c, void *v) { return (rg_select_case){ c, RG_SELECT_SEND, v, false }; }

/* --- TestNonblockSelectRace / Race2 ------------------------------------- */

struct nbs {
	rg_chan *c1, *c2, *done;
};

static void nbs_task(void *arg)
{
	struct nbs *x = arg;
	long v;
	rg_select_case cs[2] = { R(x->c1, &v), R(x->c2, &v) };
	bool r = rg_select(cs, 2, 0) >= 0;
	CHECK_EQ(rg_chan_send(x->done, &r, -1), 0);
}

static void test_nonblock_select_race(bool close2)
{
	int n = T_SANITIZED ? 2000 : 20000;
	rg_chan *done = rg_chan_make(sizeof(bool), 1);
	for (int i = 0; i < n; i++) {
		struct nbs x = { rg_chan_make(sizeof(long), 1), rg_chan_make(sizeof(long), 1), done };
		long one = 1;
		CHECK_EQ(rg_chan_send(x.c1, &one, -1), 0);
		rg_go(nbs_task, &x);
		if (close2) {
			CHECK_EQ(rg_chan_close(x.c2), 0);
		} else {
			CHECK_EQ(rg_chan_send(x.c2, &one, -1), 0);
		}
		long v;
		rg_select_case cs[1] = { R(x.c1, &v) };
		(void)rg_select(cs, 1, 0);
		bool r = false;
		CHECK_EQ(rg_chan_recv(done, &r, NULL, -1), 0);
		if (!r) {
			fprintf(stderr, "no chan is ready (iteration %d)\n", i);
			abort();
		}
		rg_chan_free(x.c1);
		rg_chan_free(x.c2);
	}
	rg_chan_free(done);
}

/* --- TestSelfSelect ---------------------------------------------------------- */

struct selfsel {
	rg_chan *c;
	long p;
	int cap;
	rg_waitgroup *wg;
};

static void selfsel_task(void *arg)
{
	struct selfsel *x = arg;
	for (int i = 0; i < 1000; i++) {
		long v = -1, p = x->p;
		rg_select_case cs[2];
		if (x->p == 0 || i % 2 == 0) {
			cs[0] = S(x->c, &p);
			cs[1] = R(x->c, &v);
		} else {
			cs[0] = R(x->c, &v);
			cs[1] = S(x->c, &p);
		}
		int r = rg_select(cs, 2, -1);
		CHECK(r == 0 || r == 1);
		if (cs[r].dir == RG_SELECT_RECV && x->cap == 0 && v == x->p) {
			fprintf(stderr, "self receive\n");
			abort();
		}
	}
	rg_waitgroup_done(x->wg);
}

static void test_self_select(void)
{
	int caps[2] = { 0, 10 };
	for (int k = 0; k < 2; k++) {
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)caps[k]);
		struct selfsel x[2] = { { c, 0, caps[k], &wg }, { c, 1, caps[k], &wg } };
		rg_waitgroup_add(&wg, 2);
		rg_go(selfsel_task, &x[0]);
		rg_go(selfsel_task, &x[1]);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		rg_chan_free(c);
	}
}

/* --- TestSelectStress ------------------------------------------------------- */

struct stress {
	rg_chan **c;
	int k, n;
	rg_waitgroup *wg;
};

static void stress_send(void *arg)
{
	struct stress *s = arg;
	long z = 0;
	for (int i = 0; i < s->n; i++)
		CHECK_EQ(rg_chan_send(s->c[s->k], &z, -1), 0);
	rg_waitgroup_done(s->wg);
}

static void stress_recv(void *arg)
{
	struct stress *s = arg;
	long z;
	for (int i = 0; i < s->n; i++)
		CHECK_EQ(rg_chan_recv(s->c[s->k], &z, NULL, -1), 0);
	rg_waitgroup_done(s->wg);
}

static void stress_sel(void *arg)
{
	struct stress *s = arg;
	int dir = s->k; /* RG_SELECT_SEND or RG_SELECT_RECV */
	int n[4] = { 0 };
	long z = 0, zz[4];
	rg_select_case cs[4];
	int order[4] = { 3, 2, 0, 1 };
	for (int j = 0; j < 4; j++)
		cs[j] = (rg_select_case){ s->c[order[j]], dir, dir == RG_SELECT_SEND ? &z : &zz[j], false };
	for (int i = 0; i < 4 * s->n; i++) {
		int r = rg_select(cs, 4, -1);
		CHECK(r >= 0 && r < 4);
		if (++n[r] == s->n)
			cs[r].ch = NULL;
	}
	rg_waitgroup_done(s->wg);
}

static void test_select_stress(void)
{
	int N = T_SANITIZED ? 2000 : 20000;
	rg_chan *c[4] = { rg_chan_make(sizeof(long), 0), rg_chan_make(sizeof(long), 0),
	                  rg_chan_make(sizeof(long), 2), rg_chan_make(sizeof(long), 3) };
	rg_waitgroup wg = RG_WAITGROUP_INIT;
	rg_waitgroup_add(&wg, 10);
	struct stress st[10];
	for (int k = 0; k < 4; k++) {
		st[2 * k] = (struct stress){ c, k, N, &wg };
		st[2 * k + 1] = (struct stress){ c, k, N, &wg };
		rg_go(stress_send, &st[2 * k]);
		rg_go(stress_recv, &st[2 * k + 1]);
	}
	st[8] = (struct stress){ c, RG_SELECT_SEND, N, &wg };
	st[9] = (struct stress){ c, RG_SELECT_RECV, N, &wg };
	rg_go(stress_sel, &st[8]);
	rg_go(stress_sel, &st[9]);
	CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
	for (int k = 0; k < 4; k++)
		rg_chan_free(c[k]);
}

/* --- TestSelectFairness ------------------------------------------------------- */

struct fair {
	rg_chan *c1, *c2, *c3, *c4, *out, *done;
	rg_waitgroup wg;
};

static void fair_task(void *arg)
{
	struct fair *f = arg;
	for (;;) {
		unsigned char b = 0;
		rg_select_case cs[4] = { R(f->c3, &b), R(f->c4, &b), R(f->c1, &b), R(f->c2, &b) };
		CHECK(rg_select(cs, 4, -1) >= 0);
		rg_select_case o[2] = { S(f->out, &b), R(f->done, NULL) };
		if (rg_select(o, 2, -1) == 1)
			break;
	}
	rg_waitgroup_done(&f->wg);
}

static void test_select_fairness(void)
{
	enum { trials = 10000 };
	struct fair f = {
		rg_chan_make(1, trials + 1), rg_chan_make(1, trials + 1), rg_chan_make(1, 0),
		rg_chan_make(1, 0), rg_chan_make(1, 0), rg_chan_make(0, 0), RG_WAITGROUP_INIT,
	};
	for (int i = 0; i < trials + 1; i++) {
		unsigned char a = 1, b = 2;
		CHECK_EQ(rg_chan_send(f.c1, &a, -1), 0);
		CHECK_EQ(rg_chan_send(f.c2, &b, -1), 0);
	}
	rg_waitgroup_add(&f.wg, 1);
	rg_go(fair_task, &f);
	int cnt1 = 0, cnt2 = 0;
	for (int i = 0; i < trials; i++) {
		unsigned char b;
		CHECK_EQ(rg_chan_recv(f.out, &b, NULL, -1), 0);
		if (b == 1)
			cnt1++;
		else if (b == 2)
			cnt2++;
		else
			CHECK(!"unexpected value");
	}
	double mean = trials * 0.5, stddev = sqrt(trials * 0.5 * 0.5);
	if (fabs(cnt1 - mean) > 10 * stddev) {
		fprintf(stderr, "unfair select: %d, %d\n", cnt1, cnt2);
		abort();
	}
	CHECK_EQ(rg_chan_close(f.done), 0);
	CHECK_EQ(rg_waitgroup_wait(&f.wg, -1), 0);
	rg_chan *all[6] = { f.c1, f.c2, f.c3, f.c4, f.out, f.done };
	for (int i = 0; i < 6; i++)
		rg_chan_free(all[i]);
	printf("fairness: %d / %d\n", cnt1, cnt2);
}

/* --- TestPseudoRandomSend ------------------------------------------------------- */

struct prs {
	rg_chan *c;
	long l[100];
	rg_mutex m;
};

static void prs_task(void *arg)
{
	struct prs *x = arg;
	for (int i = 0; i < 100; i++) {
		rg_yield();
		CHECK_EQ(rg_chan_recv(x->c, &x->l[i], NULL, -1), 0);
	}
	rg_mutex_unlock(&x->m);
}

static void test_pseudo_random_send(void)
{
	int caps[2] = { 0, 100 };
	for (int k = 0; k < 2; k++) {
		static struct prs x;
		memset(&x, 0, sizeof x);
		x.c = rg_chan_make(sizeof(long), (size_t)caps[k]);
		rg_mutex_lock(&x.m);
		rg_go(prs_task, &x);
		for (int i = 0; i < 100; i++) {
			long one = 1, zero = 0;
			rg_select_case cs[2] = { S(x.c, &one), S(x.c, &zero) };
			CHECK(rg_select(cs, 2, -1) >= 0);
		}
		rg_mutex_lock(&x.m);
		rg_mutex_unlock(&x.m);
		int n0 = 0, n1 = 0;
		for (int i = 0; i < 100; i++) {
			n0 += (int)((x.l[i] + 1) % 2);
			n1 += (int)x.l[i];
		}
		if (n0 <= 10 || n1 <= 10) {
			fprintf(stderr, "want pseudorandom, got %d zeros and %d ones (cap %d)\n", n0, n1, caps[k]);
			abort();
		}
		rg_chan_free(x.c);
	}
}

/* --- TestMultiConsumer --------------------------------------------------------- */

enum { NWORK = 23 };
static const long pn[] = { 2, 3, 7, 11, 13, 17, 19, 23, 27, 31 };

struct mc {
	rg_chan *q, *r;
	rg_waitgroup wg, fed;
	long expect;
	int niter;
};

static struct mc mcx;
static void mc_worker(void *arg)
{
	long w = (long)(intptr_t)arg, v;
	bool ok;
	while (rg_chan_recv(mcx.q, &v, &ok, -1) == 0 && ok) {
		if (pn[w % 10] == v)
			rg_yield();
		CHECK_EQ(rg_chan_send(mcx.r, &v, -1), 0);
	}
	rg_waitgroup_done(&mcx.wg);
}

static void mc_feeder(void *arg)
{
	for (int i = 0; i < mcx.niter; i++) {
		long v = pn[i % 10];
		mcx.expect += v;
		CHECK_EQ(rg_chan_send(mcx.q, &v, -1), 0);
	}
	CHECK_EQ(rg_chan_close(mcx.q), 0);
	CHECK_EQ(rg_waitgroup_wait(&mcx.wg, -1), 0);
	CHECK_EQ(rg_chan_close(mcx.r), 0);
	rg_waitgroup_done(&mcx.fed);
}

static void test_multi_consumer(void)
{
	memset(&mcx, 0, sizeof mcx);
	mcx.niter = T_SANITIZED ? 27182 : 271828;
	mcx.q = rg_chan_make(sizeof(long), NWORK * 3);
	mcx.r = rg_chan_make(sizeof(long), NWORK * 3);
	rg_waitgroup_add(&mcx.wg, NWORK);
	for (long i = 0; i < NWORK; i++)
		rg_go(mc_worker, (void *)(intptr_t)i);
	rg_waitgroup_add(&mcx.fed, 1);
	rg_go(mc_feeder, NULL);
	long n = 0, s = 0, v;
	bool ok;
	while (rg_chan_recv(mcx.r, &v, &ok, -1) == 0 && ok) {
		n++;
		s += v;
	}
	CHECK_EQ(rg_waitgroup_wait(&mcx.fed, -1), 0);
	CHECK_EQ(n, mcx.niter);
	CHECK_EQ(s, mcx.expect);
	rg_chan_free(mcx.q);
	rg_chan_free(mcx.r);
}

/* --- TestSelectDuplicateChannel -------------------------------------------------- */

struct dup {
	rg_chan *c, *d, *e;
	rg_waitgroup wg;
};

static void dup_a(void *arg)
{
	struct dup *x = arg;
	long v;
	rg_select_case cs[3] = { R(x->c, &v), R(x->c, &v), R(x->d, &v) };
	CHECK_EQ(rg_select(cs, 3, -1), 2);
	long nine = 9;
	CHECK_EQ(rg_chan_send(x->e, &nine, -1), 0);
	rg_waitgroup_done(&x->wg);
}

static void dup_b(void *arg)
{
	struct dup *x = arg;
	long v;
	CHECK_EQ(rg_chan_recv(x->c, &v, NULL, -1), 0);
	CHECK_EQ(v, 8);
	rg_waitgroup_done(&x->wg);
}

static void test_select_duplicate_channel(void)
{
	struct dup x = { rg_chan_make(sizeof(long), 0), rg_chan_make(sizeof(long), 0),
	                 rg_chan_make(sizeof(long), 0), RG_WAITGROUP_INIT };
	rg_waitgroup_add(&x.wg, 2);
	rg_go(dup_a, &x);
	rg_sleep(MS); /* A queues first on c (twice) */
	rg_go(dup_b, &x);
	rg_sleep(MS); /* B queues on c */
	long v = 7;
	CHECK_EQ(rg_chan_send(x.d, &v, -1), 0); /* wakes A, which dequeues itself from c */
	CHECK_EQ(rg_chan_recv(x.e, &v, NULL, -1), 0);
	CHECK_EQ(v, 9);
	v = 8;
	CHECK_EQ(rg_chan_send(x.c, &v, -1), 0); /* must wake B, not A */
	CHECK_EQ(rg_waitgroup_wait(&x.wg, -1), 0);
	rg_chan_free(x.c);
	rg_chan_free(x.d);
	rg_chan_free(x.e);
}

/* --- test/chan/doubleselect.go ------------------------------------------------------ */

struct dsel {
	rg_chan *c[4], *cmux, *done;
	int n;
	rg_waitgroup wg;
};
static struct dsel ds;

static void ds_sender(void *arg)
{
	for (long i = 0; i < ds.n; i++) {
		rg_select_case cs[4];
		for (int k = 0; k < 4; k++)
			cs[k] = S(ds.c[k], &i);
		CHECK(rg_select(cs, 4, -1) >= 0);
	}
	for (int k = 0; k < 4; k++)
		CHECK_EQ(rg_chan_close(ds.c[k]), 0);
	rg_waitgroup_done(&ds.wg);
}

static void ds_mux(void *arg)
{
	rg_chan *in = arg;
	long v;
	bool ok;
	while (rg_chan_recv(in, &v, &ok, -1) == 0 && ok)
		CHECK_EQ(rg_chan_send(ds.cmux, &v, -1), 0);
	bool t = true;
	CHECK_EQ(rg_chan_send(ds.done, &t, -1), 0);
	rg_waitgroup_done(&ds.wg);
}

static void ds_closer(void *arg)
{
	bool t;
	for (int k = 0; k < 4; k++)
		CHECK_EQ(rg_chan_recv(ds.done, &t, NULL, -1), 0);
	CHECK_EQ(rg_chan_close(ds.cmux), 0);
	rg_waitgroup_done(&ds.wg);
}

static void test_doubleselect(void)
{
	ds.n = T_SANITIZED ? 10000 : 100000;
	for (int k = 0; k < 4; k++)
		ds.c[k] = rg_chan_make(sizeof(long), 0);
	ds.cmux = rg_chan_make(sizeof(long), 0);
	ds.done = rg_chan_make(sizeof(bool), 0);
	rg_waitgroup_add(&ds.wg, 6);
	rg_go(ds_sender, NULL);
	for (int k = 0; k < 4; k++)
		rg_go(ds_mux, ds.c[k]);
	rg_go(ds_closer, NULL);
	unsigned char *seen = calloc((size_t)ds.n, 1);
	long v;
	bool ok;
	long got = 0;
	while (rg_chan_recv(ds.cmux, &v, &ok, -1) == 0 && ok) {
		CHECK(v >= 0 && v < ds.n);
		if (seen[v]) {
			fprintf(stderr, "got duplicate value: %ld\n", v);
			abort();
		}
		seen[v] = 1;
		got++;
	}
	CHECK_EQ(got, ds.n);
	CHECK_EQ(rg_waitgroup_wait(&ds.wg, -1), 0);
	free(seen);
	for (int k = 0; k < 4; k++)
		rg_chan_free(ds.c[k]);
	rg_chan_free(ds.cmux);
	rg_chan_free(ds.done);
}

/* --- test/chan/sieve1.go (with a quit channel so every task ends) ------------------- */

struct sieve {
	rg_chan *quit;
	rg_waitgroup wg;
	rg_chan *chans[128];
	int nchans;
};
static struct sieve sv;

/* send v on out unless quit is closed; false when quitting */
static bool send_or_quit(rg_chan *out, long *v)
{
	rg_select_case cs[2] = { S(out, v), R(sv.quit, NULL) };
	return rg_select(cs, 2, -1) == 0;
}

static void generate(void *arg)
{
	rg_chan *ch = arg;
	for (long i = 2;; i++)
		if (!send_or_quit(ch, &i))
			break;
	rg_waitgroup_done(&sv.wg);
}

struct filter {
	rg_chan *in, *out;
	long prime;
};
static struct filter filters[128];

static void filter(void *arg)
{
	struct filter *f = arg;
	for (;;) {
		long i;
		rg_select_case cs[2] = { R(f->in, &i), R(sv.quit, NULL) };
		if (rg_select(cs, 2, -1) != 0)
			break;
		if (i % f->prime != 0 && !send_or_quit(f->out, &i))
			break;
	}
	rg_waitgroup_done(&sv.wg);
}

static void test_sieve(void)
{
	static const long primes[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59,
		                       61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131,
		                       137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197,
		                       199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271,
		                       277, 281, 283, 293, 307, 311, 313, 317, 331, 337, 347, 349, 353,
		                       359, 367, 373, 379, 383, 389, 397, 401, 409, 419, 421, 431, 433,
		                       439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503, 509,
		                       521, 523, 541 };
	memset(&sv, 0, sizeof sv);
	sv.quit = rg_chan_make(0, 0);
	rg_chan *ch = rg_chan_make(sizeof(long), 0);
	sv.chans[sv.nchans++] = ch;
	rg_waitgroup_add(&sv.wg, 1);
	rg_go(generate, ch);
	for (int i = 0; i < 100; i++) {
		long prime;
		CHECK_EQ(rg_chan_recv(ch, &prime, NULL, -1), 0);
		CHECK_EQ(prime, primes[i]);
		rg_chan *ch1 = rg_chan_make(sizeof(long), 0);
		sv.chans[sv.nchans++] = ch1;
		filters[i] = (struct filter){ ch, ch1, prime };
		rg_waitgroup_add(&sv.wg, 1);
		rg_go(filter, &filters[i]);
		ch = ch1;
	}
	CHECK_EQ(rg_chan_close(sv.quit), 0);
	CHECK_EQ(rg_waitgroup_wait(&sv.wg, -1), 0);
	for (int i = 0; i < sv.nchans; i++)
		rg_chan_free(sv.chans[i]);
	rg_chan_free(sv.quit);
}

/* --- select odds and ends ------------------------------------------------------- */

static void test_select_misc(void)
{
	rg_chan *a = rg_chan_make(sizeof(long), 1), *b = rg_chan_make(sizeof(long), 0);
	long v = 5, w = 0;
	/* default; deadline; bad case */
	rg_select_case cs[2] = { R(a, &w), R(b, &w) };
	CHECK_EQ(rg_select(cs, 2, 0), -EAGAIN);
	CHECK_EQ(rg_select(cs, 2, rg_now() + 2 * MS), -ETIMEDOUT);
	CHECK_EQ(rg_chan_send(a, &v, 0), 0);
	CHECK_EQ(rg_select(cs, 2, 0), 0);
	CHECK(cs[0].ok && w == 5);
	rg_select_case bad = { a, 7, &w, false };
	CHECK_EQ(rg_select(&bad, 1, 0), -EINVAL);
	/* a closed channel is ready for receive */
	CHECK_EQ(rg_chan_close(b), 0);
	CHECK_EQ(rg_select(cs, 2, -1), 1);
	CHECK(!cs[1].ok);
	/* after timeouts, no stale records are left behind */
	rg_chan *c = rg_chan_make(sizeof(long), 0);
	for (int i = 0; i < 50; i++) {
		rg_select_case x[2] = { R(c, &w), S(c, &v) };
		CHECK_EQ(rg_select(x, 2, rg_now() + 10000), -ETIMEDOUT);
	}
	CHECK_EQ(rg_chan_send(c, &v, 0), -EAGAIN);
	CHECK_EQ(rg_chan_recv(c, &w, NULL, 0), -EAGAIN);
	rg_chan_free(a);
	rg_chan_free(b);
	rg_chan_free(c);
}

/* The inline fast path of ringo/sync.h (one send case, deadline 0, n a
 * constant 1) and the library's rg_select (through a pointer) agree on
 * every state of the channel: full, with room, closed (full or not),
 * unbuffered with and without a waiting receiver, NULL. */
static int (*select_fn)(rg_select_case *, int, int64_t) = rg_select;

struct parked {
	rg_chan *c;
	rg_waitgroup wg;
};

static void parked_recv(void *arg)
{
	struct parked *p = arg;
	long w;
	bool ok;
	CHECK_EQ(rg_chan_recv(p->c, &w, &ok, -1), 0);
	CHECK(ok && w == 9);
	rg_waitgroup_done(&p->wg);
}

static void test_select_inline(void)
{
	for (int lib = 0; lib < 2; lib++) {
		rg_chan *c = rg_chan_make(sizeof(long), 2);
		long v = 7, w = 0;
		rg_select_case k = S(c, &v);
#define SEL1(kp) (lib ? select_fn((kp), 1, 0) : rg_select((kp), 1, 0))
		CHECK_EQ(SEL1(&k), 0); /* room */
		CHECK(k.ok);
		CHECK_EQ(SEL1(&k), 0);
		CHECK_EQ(SEL1(&k), -EAGAIN); /* full */
		CHECK_EQ(rg_chan_len(c), 2);
		CHECK_EQ(rg_chan_close(c), 0);
		k.ok = true;
		CHECK_EQ(SEL1(&k), 0); /* closed and full: chosen, not sent */
		CHECK(!k.ok);
		CHECK_EQ(rg_chan_recv(c, &w, NULL, 0), 0);
		CHECK_EQ(w, 7);
		k.ok = true;
		CHECK_EQ(SEL1(&k), 0); /* closed with room: the same */
		CHECK(!k.ok);
		rg_chan_free(c);

		struct parked pk = { rg_chan_make(sizeof(long), 0), RG_WAITGROUP_INIT };
		rg_select_case ku = S(pk.c, &v);
		CHECK_EQ(SEL1(&ku), -EAGAIN); /* nobody receives */
		rg_waitgroup_add(&pk.wg, 1);
		CHECK(rg_go(parked_recv, &pk) > 0);
		v = 9;
		int64_t give_up = rg_now() + 5000 * MS;
		int r;
		while ((r = SEL1(&ku)) == -EAGAIN && rg_now() < give_up)
			rg_yield(); /* until the receiver waits */
		CHECK_EQ(r, 0);
		CHECK(ku.ok);
		CHECK_EQ(rg_waitgroup_wait(&pk.wg, -1), 0);
		CHECK_EQ(SEL1(&ku), -EAGAIN); /* its receiver is gone */
		rg_chan_free(pk.c);
		rg_select_case kn = S(NULL, &v);
		CHECK_EQ(SEL1(&kn), -EAGAIN);
#undef SEL1
	}
}

/* The lock-free full check races with receivers on other Ps: every send it
 * let through arrives exactly once, in order, and none is lost when it
 * said "full". */
struct racer {
	rg_chan *c;
	long got, last;
	rg_waitgroup wg;
};

static void race_recv(void *arg)
{
	struct racer *x = arg;
	long v;
	bool ok;
	while (rg_chan_recv(x->c, &v, &ok, -1) == 0 && ok) {
		CHECK(v > x->last);
		x->last = v;
		x->got++;
	}
	rg_waitgroup_done(&x->wg);
}

static void test_select_inline_race(void)
{
	enum { N = T_SANITIZED ? 20000 : 500000 };
	for (int cap = 0; cap <= 4; cap += 2) {
		struct racer x = { rg_chan_make(sizeof(long), (size_t)cap), 0, 0, RG_WAITGROUP_INIT };
		rg_waitgroup_add(&x.wg, 1);
		CHECK(rg_go(race_recv, &x) > 0);
		long sent = 0, full = 0;
		for (long i = 1; i <= N; i++) {
			rg_select_case k = S(x.c, &i);
			if (rg_select(&k, 1, 0) == 0)
				sent++;
			else
				full++;
			if ((i & 8191) == 0)
				rg_yield(); /* with one P the receiver runs only then;
				               with more, another P takes it */
		}
		CHECK_EQ(rg_chan_close(x.c), 0);
		CHECK_EQ(rg_waitgroup_wait(&x.wg, -1), 0);
		CHECK_EQ(x.got, sent);
		printf("  cap %d: %ld sent, %ld found full\n", cap, sent, full);
		rg_chan_free(x.c);
	}
}

/* More cases than fit on the stack: blocking, woken by one of 200. */
struct bigsel {
	rg_chan *ch[200];
	int fired;
	long got;
	rg_waitgroup wg;
};

static void bigsel_task(void *arg)
{
	struct bigsel *b = arg;
	static rg_select_case cs[200];
	static long vals[200];
	for (int i = 0; i < 200; i++)
		cs[i] = R(b->ch[i], &vals[i]);
	b->fired = rg_select(cs, 200, -1);
	b->got = vals[b->fired];
	rg_waitgroup_done(&b->wg);
}

static void test_select_big(void)
{
	static struct bigsel b;
	memset(&b, 0, sizeof b);
	for (int i = 0; i < 200; i++)
		b.ch[i] = rg_chan_make(sizeof(long), i % 2);
	rg_waitgroup_add(&b.wg, 1);
	rg_go(bigsel_task, &b);
	rg_sleep(MS);
	long v = 1234;
	CHECK_EQ(rg_chan_send(b.ch[150], &v, -1), 0);
	CHECK_EQ(rg_waitgroup_wait(&b.wg, -1), 0);
	CHECK_EQ(b.fired, 150);
	CHECK_EQ(b.got, 1234);
	/* every record was unlinked: the others are not ready and not waited on */
	for (int i = 0; i < 200; i++) {
		CHECK_EQ(rg_chan_send(b.ch[i], &v, 0), i % 2 ? 0 : -EAGAIN);
		rg_chan_free(b.ch[i]);
	}
}

/* --- buffered channels' lock-free paths against a parked select ---------- */

/* A select parked on buffered channels must not miss a lock-free send
 * (receive) that raced with its enqueueing: it looks at the buffers again
 * once its records are visible.  Each round below parks the select on
 * empty (full) buffers and lets the other side's lock-free operation wake
 * it; a missed wake-up waits out the 10 s bound. */
struct bufsel {
	rg_chan *a, *b, *back;
	long n;
	rg_waitgroup wg;
};

static void bufsel_recv(void *arg)
{
	struct bufsel *x = arg;
	for (long i = 0; i < x->n; i++) {
		long v = -1;
		rg_select_case cs[2] = { R(x->a, &v), R(x->b, &v) };
		int r = rg_select(cs, 2, rg_now() + 10000 * MS);
		CHECK(r == 0 || r == 1);
		CHECK(cs[r].ok);
		CHECK_EQ(v, i);
		CHECK_EQ(r, (int)(i % 2));
		CHECK_EQ(rg_chan_send(x->back, &v, rg_now() + 10000 * MS), 0);
	}
	rg_waitgroup_done(&x->wg);
}

static void bufsel_send(void *arg)
{
	struct bufsel *x = arg;
	for (long i = 0; i < x->n; i++) {
		long v = i;
		rg_select_case cs[2] = { S(x->a, &v), S(x->b, &v) };
		int r = rg_select(cs, 2, rg_now() + 10000 * MS);
		CHECK(r == 0 || r == 1);
		CHECK(cs[r].ok);
	}
	rg_waitgroup_done(&x->wg);
}

static void test_select_buffered_wakeup(void)
{
	long n = T_SANITIZED ? 2000 : 20000;
	struct bufsel x = { rg_chan_make(sizeof(long), 1), rg_chan_make(sizeof(long), 1),
		            rg_chan_make(sizeof(long), 1), n, RG_WAITGROUP_INIT };
	/* receive side: the select waits on two empty buffers */
	rg_waitgroup_add(&x.wg, 1);
	rg_go(bufsel_recv, &x);
	for (long i = 0; i < n; i++) {
		long v = -1;
		CHECK_EQ(rg_chan_send(i % 2 ? x.b : x.a, &i, 0), 0);
		CHECK_EQ(rg_chan_recv(x.back, &v, NULL, rg_now() + 10000 * MS), 0);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(rg_waitgroup_wait(&x.wg, -1), 0);
	/* send side: the select waits on two full buffers; each receive
	 * frees one slot, which the select fills */
	long v = -1;
	CHECK_EQ(rg_chan_send(x.a, &v, 0), 0);
	CHECK_EQ(rg_chan_send(x.b, &v, 0), 0);
	rg_waitgroup_add(&x.wg, 1);
	rg_go(bufsel_send, &x);
	long got = 0;
	for (long i = 0; got < n + 2; i++) {
		rg_select_case cs[2] = { R(x.a, &v), R(x.b, &v) };
		int r = rg_select(cs, 2, rg_now() + 10000 * MS);
		CHECK(r == 0 || r == 1);
		CHECK(cs[r].ok);
		got++;
	}
	CHECK_EQ(rg_waitgroup_wait(&x.wg, -1), 0);
	CHECK_EQ(rg_chan_len(x.a) + rg_chan_len(x.b), 0);
	rg_chan_free(x.a);
	rg_chan_free(x.b);
	rg_chan_free(x.back);
}

static int main_fn(void *arg)
{
	int64_t t = rg_now();
#define RUN(f) T_RUN(t, f)
	printf("%d Ps\n", rg_procs());
	RUN(test_select_misc());
	RUN(test_select_inline());
	RUN(test_select_inline_race());
	RUN(test_select_duplicate_channel());
	RUN(test_select_big());
	RUN(test_select_buffered_wakeup());
	RUN(test_nonblock_select_race(false));
	RUN(test_nonblock_select_race(true));
	RUN(test_self_select());
	RUN(test_select_stress());
	RUN(test_select_fairness());
	RUN(test_pseudo_random_send());
	RUN(test_multi_consumer());
	RUN(test_doubleselect());
	RUN(test_sieve());
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	printf("select: ok\n");
	return T_PASS;
}
