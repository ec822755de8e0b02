/* Adversarial edges of sync/: channels and select with odd element sizes,
 * huge capacities, len/cap under concurrency, a select on one channel in
 * both directions, 0 and > 64 cases, NULL value pointers, freeing right
 * after a select returned, close racing a select's deadline, weighted
 * semaphore edges, and calls from threads without a P (foreign pthreads,
 * rg_blocking).  RG_CASE=name runs one case; RG_LOOPS=n sets the loop
 * count.  A bug this file found (fixed 2026-12-06, the case runs):
 *   cond_no_p_signal   an rg_cond_wait from a thread with no P took a
 *                      ticket it never waited on; the next rg_cond_signal
 *                      was spent on it and the parked task not woken.
 *
 * Cases:
 *   odd_elems          sizes 0,1,3,24,4097 x caps 0,1,3,64: values intact,
 *                      no byte written past elemsize (canaries), zeroed
 *                      value of exactly elemsize bytes after close.
 *   huge_cap           rg_chan_make overflow / oversize -> NULL; 8 x 2^30
 *                      under RLIMIT_AS in a child -> NULL, no crash.
 *   len_cap            0 <= len <= cap while producers and consumers race;
 *                      len after close with values left.
 *   select_same        one channel as both send and receive case.
 *   select_zero        0 cases, all-NULL cases, bad arguments.
 *   select_many        > SELECT_STACK (64) distinct and duplicate cases.
 *   null_val           NULL out pointers in recv and select.
 *   free_after_select  free both channels right after a select returned.
 *   close_vs_deadline  close racing a select's deadline.
 *   sema_edges         n > size, n < 0, 0, racing weights, a timed-out
 *                      big head waiter lets smaller ones in.
 *   foreign            a pthread with no P: non-blocking works, blocking
 *                      is -EPERM, objects stay usable.
 *   in_blocking        the same inside rg_blocking.
 */
// ctest-timeout: 120
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

#include "sync_adv.h"

#define MS 1000000LL

static int loops = 20;

/* ============================================================ odd_elems */

#define CANARY 0xA5
#define NVAL 300

struct oe {
	rg_chan *c;
	size_t es;
	int mode; /* 0 chan_send, 1 select send (2 cases, one NULL) */
};

static void fill(unsigned char *p, size_t es, int i)
{
	for (size_t k = 0; k < es; k++)
		p[k] = (unsigned char)(i * 31 + k * 7 + 1);
}

static void oe_sender(void *arg)
{
	struct oe *o = arg;
	unsigned char *v = malloc(o->es + 1);
	for (int i = 0; i < NVAL; i++) {
		fill(v, o->es, i);
		if (o->mode == 0) {
			CHECK_EQ(rg_chan_send(o->c, o->es ? v : NULL, -1), 0);
		} else {
			rg_select_case cs[2] = { { NULL, RG_SELECT_RECV, NULL, false },
				                 { o->c, RG_SELECT_SEND, v, false } };
			CHECK_EQ(rg_select(cs, 2, -1), 1);
			CHECK(cs[1].ok);
		}
	}
	CHECK_EQ(rg_chan_close(o->c), 0);
	free(v);
}

static void case_odd_elems(void)
{
	static const size_t sizes[] = { 0, 1, 3, 24, 4097 };
	static const size_t caps[] = { 0, 1, 3, 64 };
	for (int it = 0; it < loops / 4 + 1; it++)
		for (size_t si = 0; si < 5; si++)
			for (size_t ci = 0; ci < 4; ci++)
				for (int mode = 0; mode < 2; mode++) {
					size_t es = sizes[si];
					rg_chan *c = rg_chan_make(es, caps[ci]);
					CHECK(c);
					CHECK_EQ(rg_chan_cap(c), caps[ci]);
					struct oe o = { c, es, mode };
					rg_waitgroup wg = RG_WAITGROUP_INIT;
					go_wg(&wg, oe_sender, &o);
					unsigned char *buf = malloc(es + 16), *exp = malloc(es + 1);
					for (int i = 0;; i++) {
						memset(buf, CANARY, es + 16);
						bool ok = true;
						int r;
						if ((i + mode) % 2 == 0) {
							r = rg_chan_recv(c, buf, &ok, -1);
						} else {
							rg_select_case cs[2] = { { c, RG_SELECT_RECV, buf, false },
								                 { NULL, RG_SELECT_SEND, NULL, false } };
							r = rg_select(cs, 2, -1);
							CHECK_EQ(r, 0);
							ok = cs[0].ok;
						}
						CHECK_EQ(r, 0);
						for (int k = 0; k < 16; k++)
							CHECK_EQ(buf[es + k], CANARY);
						if (!ok) {
							CHECK_EQ(i, NVAL);
							for (size_t k = 0; k < es; k++)
								CHECK_EQ(buf[k], 0);
							break;
						}
						CHECK(i < NVAL);
						fill(exp, es, i);
						CHECK(memcmp(buf, exp, es) == 0);
					}
					CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
					CHECK_EQ(rg_chan_len(c), 0);
					free(buf);
					free(exp);
					rg_chan_free(c);
				}
}

/* ============================================================= huge_cap */

static void case_huge_cap(void)
{
	CHECK(rg_chan_make(8, (size_t)UINT32_MAX + 1) == NULL);
	CHECK(rg_chan_make(((size_t)1 << 30) + 1, 0) == NULL);
	CHECK(rg_chan_make(SIZE_MAX, 1) == NULL);
	if (!T_SANITIZED) /* ASan aborts on the 2^62-byte request itself */
		CHECK(rg_chan_make(1u << 30, UINT32_MAX) == NULL); /* 2^62 bytes */
	/* 1 GiB elements, unbuffered: nothing allocated for values */
	rg_chan *big = rg_chan_make(1u << 30, 0);
	CHECK(big);
	CHECK_EQ(rg_chan_cap(big), 0);
	CHECK_EQ(rg_chan_len(big), 0);
	rg_chan_free(big);
	/* 16 GiB of ring, in a child limited to 1 GiB of address space:
	 * must be NULL (not a crash, not a partial channel).  Not under
	 * ASan, which reserves more than 1 GiB, nor under qemu-user, which
	 * ignores the guest's RLIMIT_AS. */
	bool no_limit = T_SANITIZED || T_EMULATED;
	pid_t pid = no_limit ? 0 : fork();
	CHECK(pid >= 0);
	if (no_limit) {
	} else if (pid == 0) {
		struct rlimit rl = { (rlim_t)1 << 30, (rlim_t)1 << 30 };
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
		rg_chan *c = rg_chan_make(8, (size_t)1 << 30);
		_exit(c == NULL ? 0 : 2);
	}
	if (!no_limit) {
		int st;
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		CHECK(WIFEXITED(st));
		CHECK_EQ(WEXITSTATUS(st), 0);
	}
	/* a largish one that fits works end to end (wraps several laps) */
	rg_chan *c = rg_chan_make(3, 100000);
	CHECK(c);
	unsigned char v[3];
	for (int lap = 0; lap < 3; lap++) {
		for (int i = 0; i < 100000; i++) {
			fill(v, 3, i);
			CHECK_EQ(rg_chan_send(c, v, 0), 0);
		}
		CHECK_EQ(rg_chan_send(c, v, 0), -EAGAIN);
		CHECK_EQ(rg_chan_len(c), 100000);
		for (int i = 0; i < 100000; i++) {
			unsigned char e[3];
			bool ok;
			CHECK_EQ(rg_chan_recv(c, v, &ok, 0), 0);
			fill(e, 3, i);
			CHECK(ok && memcmp(v, e, 3) == 0);
		}
		CHECK_EQ(rg_chan_len(c), 0);
	}
	rg_chan_free(c);
}

/* ============================================================== len_cap */

struct lc {
	rg_chan *c;
	_Atomic int stop;
	_Atomic long bad;
	size_t cap;
};

static void lc_prod(void *arg)
{
	struct lc *l = arg;
	for (long i = 0; i < 20000; i++)
		CHECK_EQ(rg_chan_send(l->c, &i, -1), 0);
}

static void lc_cons(void *arg)
{
	struct lc *l = arg;
	long v;
	bool ok;
	for (long i = 0; i < 20000; i++) {
		CHECK_EQ(rg_chan_recv(l->c, &v, &ok, -1), 0);
		CHECK(ok);
	}
}

static void lc_watch(void *arg)
{
	struct lc *l = arg;
	while (!atomic_load(&l->stop)) {
		size_t n = rg_chan_len(l->c);
		if (n > l->cap || rg_chan_cap(l->c) != l->cap)
			atomic_fetch_add(&l->bad, 1);
		rg_preempt_point();
		rg_yield();
	}
}

static void case_len_cap(void)
{
	static const size_t caps[] = { 1, 2, 7, 64 };
	for (int it = 0; it < loops / 10 + 1; it++)
		for (int ci = 0; ci < 4; ci++) {
			struct lc l = { .cap = caps[ci] };
			l.c = rg_chan_make(sizeof(long), caps[ci]);
			CHECK(l.c);
			rg_waitgroup wg = RG_WAITGROUP_INIT, ww = RG_WAITGROUP_INIT;
			go_wg(&ww, lc_watch, &l);
			for (int k = 0; k < 2; k++) {
				go_wg(&wg, lc_prod, &l);
				go_wg(&wg, lc_cons, &l);
			}
			CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
			atomic_store(&l.stop, 1);
			CHECK_EQ(rg_waitgroup_wait(&ww, -1), 0);
			CHECK_EQ(atomic_load(&l.bad), 0);
			CHECK_EQ(rg_chan_len(l.c), 0);
			/* fill, close: len counts what is left; drain */
			for (long i = 0; i < (long)caps[ci]; i++)
				CHECK_EQ(rg_chan_send(l.c, &i, 0), 0);
			CHECK_EQ(rg_chan_len(l.c), caps[ci]);
			CHECK_EQ(rg_chan_close(l.c), 0);
			CHECK_EQ(rg_chan_len(l.c), caps[ci]);
			long v;
			bool ok;
			CHECK_EQ(rg_chan_send(l.c, &v, 0), -EPIPE);
			CHECK_EQ(rg_chan_send(l.c, &v, -1), -EPIPE);
			for (long i = 0; i < (long)caps[ci]; i++) {
				CHECK_EQ(rg_chan_recv(l.c, &v, &ok, 0), 0);
				CHECK(ok);
				CHECK_EQ(v, i);
				CHECK_EQ(rg_chan_len(l.c), caps[ci] - 1 - i);
			}
			CHECK_EQ(rg_chan_recv(l.c, &v, &ok, -1), 0);
			CHECK(!ok);
			CHECK_EQ(rg_chan_len(l.c), 0);
			CHECK_EQ(rg_chan_cap(l.c), caps[ci]);
			rg_chan_free(l.c);
		}
	CHECK_EQ(rg_chan_len(NULL), 0);
	CHECK_EQ(rg_chan_cap(NULL), 0);
	CHECK_EQ(rg_chan_close(NULL), -EINVAL);
}

/* ========================================================== select_same */

struct ss {
	rg_chan *c;
	int op; /* 0 recv one, 1 send one */
	long v;
};

static void ss_partner(void *arg)
{
	struct ss *s = arg;
	rg_sleep(2 * MS);
	if (s->op == 0) {
		bool ok;
		CHECK_EQ(rg_chan_recv(s->c, &s->v, &ok, -1), 0);
		CHECK(ok);
	} else {
		CHECK_EQ(rg_chan_send(s->c, &s->v, -1), 0);
	}
}

static void case_select_same(void)
{
	for (int it = 0; it < loops; it++) {
		rg_chan *c = rg_chan_make(sizeof(long), 0);
		long out = 11, in = -1;
		rg_select_case cs[2] = { { c, RG_SELECT_SEND, &out, false }, { c, RG_SELECT_RECV, &in, false } };
		/* nobody else: it must not match itself */
		int64_t t0 = rg_now();
		CHECK_EQ(rg_select(cs, 2, t0 + 3 * MS), -ETIMEDOUT);
		CHECK(rg_now() - t0 >= 3 * MS);
		CHECK_EQ(rg_select(cs, 2, 0), -EAGAIN);
		CHECK_EQ(in, -1);
		/* a receiver comes: the send case fires */
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		struct ss s = { c, 0, 0 };
		go_wg(&wg, ss_partner, &s);
		CHECK_EQ(rg_select(cs, 2, -1), 0);
		CHECK(cs[0].ok);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		CHECK_EQ(s.v, 11);
		/* a sender comes: the receive case fires */
		struct ss s2 = { c, 1, 77 };
		go_wg(&wg, ss_partner, &s2);
		CHECK_EQ(rg_select(cs, 2, -1), 1);
		CHECK(cs[1].ok);
		CHECK_EQ(in, 77);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		/* closed: the receive is ready (ok false) or the send (ok false) */
		CHECK_EQ(rg_chan_close(c), 0);
		int r = rg_select(cs, 2, -1);
		CHECK(r == 0 || r == 1);
		CHECK(!cs[r].ok);
		rg_chan_free(c);

		/* buffered, cap 1: always exactly one side ready */
		rg_chan *b = rg_chan_make(sizeof(long), 1);
		long cnt = 0;
		for (int k = 0; k < 200; k++) {
			out = k;
			rg_select_case bs[3] = { { b, RG_SELECT_SEND, &out, false },
				                 { b, RG_SELECT_RECV, &in, false },
				                 { b, RG_SELECT_SEND, &out, false } };
			size_t before = rg_chan_len(b);
			r = rg_select(bs, 3, 0);
			CHECK(r >= 0);
			CHECK(bs[r].ok);
			if (before == 0) {
				CHECK(r != 1);
				cnt++;
			} else {
				CHECK_EQ(r, 1);
				cnt--;
			}
			CHECK_EQ(rg_chan_len(b), (size_t)cnt);
		}
		rg_chan_free(b);
	}
}

/* ========================================================== select_zero */

static void case_select_zero(void)
{
	for (int it = 0; it < 3; it++) {
		int64_t t0 = rg_now();
		CHECK_EQ(rg_select(NULL, 0, t0 + 5 * MS), -ETIMEDOUT);
		CHECK(rg_now() - t0 >= 5 * MS);
		CHECK_EQ(rg_select(NULL, 0, 0), -EAGAIN);
		rg_select_case cs[3] = { { NULL, RG_SELECT_RECV, NULL, false },
			                 { NULL, RG_SELECT_SEND, NULL, false },
			                 { NULL, RG_SELECT_RECV, NULL, false } };
		t0 = rg_now();
		CHECK_EQ(rg_select(cs, 3, t0 + 5 * MS), -ETIMEDOUT);
		CHECK(rg_now() - t0 >= 5 * MS);
		CHECK_EQ(rg_select(cs, 3, 0), -EAGAIN);
		CHECK_EQ(rg_select(cs, 1, 0), -EAGAIN);
		/* past deadline */
		CHECK_EQ(rg_select(cs, 3, 1), -ETIMEDOUT);
		CHECK_EQ(rg_select(NULL, -1, 0), -EINVAL);
		CHECK_EQ(rg_select(cs, -1, 0), -EINVAL);
		CHECK_EQ(rg_select(NULL, 2, 0), -EINVAL);
		CHECK_EQ(rg_select(cs, 65537, 0), -EINVAL);
		rg_chan *c = rg_chan_make(4, 1);
		rg_select_case bad[2] = { { c, 2, NULL, false }, { c, RG_SELECT_RECV, NULL, false } };
		CHECK_EQ(rg_select(bad, 2, 0), -EINVAL);
		CHECK_EQ(rg_select(bad, 1, 0), -EINVAL);
		bad[0].dir = -1;
		CHECK_EQ(rg_select(bad, 1, 0), -EINVAL);
		bad[0].ch = NULL;
		CHECK_EQ(rg_select(bad, 1, 0), -EINVAL); /* bad dir even on NULL */
		CHECK_EQ(rg_chan_len(c), 0);
		rg_chan_free(c);
	}
}

/* ========================================================== select_many */

struct sm {
	rg_chan **chs;
	int idx;
	long v;
};

static void sm_sender(void *arg)
{
	struct sm *s = arg;
	rg_sleep(1 * MS);
	CHECK_EQ(rg_chan_send(s->chs[s->idx], &s->v, -1), 0);
}

static void case_select_many(void)
{
	static const int ns[] = { 63, 64, 65, 200, 3000 };
	for (int it = 0; it < loops / 2 + 1; it++)
		for (int ni = 0; ni < 5; ni++) {
			int n = ns[ni];
			rg_chan **chs = malloc(sizeof *chs * (size_t)n);
			rg_select_case *cs = calloc((size_t)n, sizeof *cs);
			long *vals = calloc((size_t)n, sizeof *vals);
			for (int i = 0; i < n; i++) {
				chs[i] = rg_chan_make(sizeof(long), (size_t)(i % 3 == 0)); /* mixed */
				CHECK(chs[i]);
				cs[i] = (rg_select_case){ chs[i], RG_SELECT_RECV, &vals[i], false };
			}
			CHECK_EQ(rg_select(cs, n, 0), -EAGAIN);
			CHECK_EQ(rg_select(cs, n, rg_now() + MS), -ETIMEDOUT);
			int target = (it * 7919 + ni * 31) % n;
			struct sm s = { chs, target, 1000 + target };
			rg_waitgroup wg = RG_WAITGROUP_INIT;
			go_wg(&wg, sm_sender, &s);
			int r = rg_select(cs, n, -1);
			CHECK_EQ(r, target);
			CHECK(cs[r].ok);
			CHECK_EQ(vals[r], 1000 + target);
			CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
			/* everything unlinked: sends with deadline 0 on the
			 * unbuffered ones find no receiver */
			for (int i = 0; i < n; i++) {
				long x = 1;
				if (rg_chan_cap(chs[i]) == 0)
					CHECK_EQ(rg_chan_send(chs[i], &x, 0), -EAGAIN);
				rg_chan_free(chs[i]);
			}
			free(chs);
			free(cs);
			free(vals);
		}
	/* 100 cases on one unbuffered channel (all duplicates) */
	for (int it = 0; it < loops; it++) {
		rg_chan *c = rg_chan_make(sizeof(long), 0);
		rg_chan *p[1] = { c };
		rg_select_case cs[100];
		long vals[100];
		for (int i = 0; i < 100; i++)
			cs[i] = (rg_select_case){ c, i % 2 ? RG_SELECT_RECV : RG_SELECT_RECV, &vals[i], false };
		struct sm s = { p, 0, 5 };
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, sm_sender, &s);
		int r = rg_select(cs, 100, -1);
		CHECK(r >= 0 && r < 100);
		CHECK_EQ(vals[r], 5);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		long x = 0;
		CHECK_EQ(rg_chan_send(c, &x, 0), -EAGAIN); /* no stale record */
		rg_chan_free(c);
	}
}

/* ============================================================= null_val */

static void nv_send(void *arg)
{
	rg_chan *c = arg;
	long v = 9;
	CHECK_EQ(rg_chan_send(c, &v, -1), 0);
}

static void case_null_val(void)
{
	for (int it = 0; it < loops; it++)
		for (size_t cap = 0; cap < 3; cap += 2) {
			rg_chan *c = rg_chan_make(sizeof(long), cap);
			rg_waitgroup wg = RG_WAITGROUP_INIT;
			go_wg(&wg, nv_send, c);
			CHECK_EQ(rg_chan_recv(c, NULL, NULL, -1), 0);
			go_wg(&wg, nv_send, c);
			rg_select_case cs[2] = { { c, RG_SELECT_RECV, NULL, false },
				                 { NULL, RG_SELECT_RECV, NULL, false } };
			CHECK_EQ(rg_select(cs, 2, -1), 0);
			CHECK(cs[0].ok);
			CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
			CHECK_EQ(rg_chan_close(c), 0);
			CHECK_EQ(rg_chan_recv(c, NULL, NULL, 0), 0);
			CHECK_EQ(rg_select(cs, 2, 0), 0);
			CHECK(!cs[0].ok);
			rg_chan_free(c);
		}
	/* element size 0: NULL everywhere */
	rg_chan *z = rg_chan_make(0, 0);
	CHECK_EQ(rg_chan_send(z, NULL, 0), -EAGAIN);
	CHECK_EQ(rg_chan_close(z), 0);
	CHECK_EQ(rg_chan_close(z), -EPIPE);
	CHECK_EQ(rg_chan_send(z, NULL, 0), -EPIPE);
	rg_chan_free(z);
}

/* ==================================================== free_after_select */

struct fas {
	rg_chan *a, *b;
	int which;
};

static void fas_sender(void *arg)
{
	struct fas *f = arg;
	long v = 3;
	if (f->which & 1)
		rg_yield();
	rg_chan *c = (f->which & 2) ? f->b : f->a;
	/* a select of its own on the other side, so both sides are selects */
	rg_select_case cs[2] = { { c, RG_SELECT_SEND, &v, false }, { NULL, RG_SELECT_RECV, NULL, false } };
	CHECK_EQ(rg_select(cs, 2, -1), 0);
}

static void case_free_after_select(void)
{
	for (int it = 0; it < loops * 50; it++) {
		struct fas *f = malloc(sizeof *f);
		f->a = rg_chan_make(sizeof(long), (size_t)(it % 3 == 1));
		f->b = rg_chan_make(sizeof(long), (size_t)(it % 3 == 2));
		f->which = it & 3;
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, fas_sender, f);
		long x = 0;
		rg_select_case cs[3] = { { f->a, RG_SELECT_RECV, &x, false },
			                 { f->b, RG_SELECT_RECV, &x, false },
			                 { f->a, RG_SELECT_RECV, &x, false } };
		int r = rg_select(cs, 3, -1);
		CHECK(r >= 0);
		CHECK(cs[r].ok);
		CHECK_EQ(x, 3);
		CHECK_EQ(cs[r].ch, (f->which & 2) ? f->b : f->a);
		/* the exchange is done for both sides: free at once (docs) */
		rg_chan_free(f->a);
		rg_chan_free(f->b);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		free(f);
	}
}

/* ==================================================== close_vs_deadline */

struct cvd {
	rg_chan *c;
	int64_t at;
};

static void cvd_closer(void *arg)
{
	struct cvd *d = arg;
	rg_sleep_until(d->at);
	CHECK_EQ(rg_chan_close(d->c), 0);
}

static void case_close_vs_deadline(void)
{
	int timeouts = 0, closes = 0;
	for (int it = 0; it < loops * 5; it++) {
		rg_chan *c = rg_chan_make(sizeof(long), (size_t)(it & 1));
		rg_chan *d = rg_chan_make(sizeof(long), 0);
		int64_t at = rg_now() + 2 * MS;
		struct cvd cv = { c, at + (it % 5) * 20000 - 40000 };
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, cvd_closer, &cv);
		long x = 5;
		rg_select_case cs[2] = { { c, RG_SELECT_RECV, &x, false }, { d, RG_SELECT_RECV, &x, false } };
		int r = rg_select(cs, 2, at);
		if (r == -ETIMEDOUT) {
			timeouts++;
			CHECK_EQ(x, 5);
		} else {
			closes++;
			CHECK_EQ(r, 0);
			CHECK(!cs[0].ok);
			CHECK_EQ(x, 0);
		}
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		bool ok = true;
		CHECK_EQ(rg_chan_recv(c, &x, &ok, 0), 0);
		CHECK(!ok);
		long y = 1;
		CHECK_EQ(rg_chan_send(d, &y, 0), -EAGAIN); /* record unlinked */
		rg_chan_free(c);
		rg_chan_free(d);
	}
	printf("  close_vs_deadline: %d timeouts, %d closes\n", timeouts, closes);
}

/* =========================================================== sema_edges */

struct sw {
	rg_sema *s;
	_Atomic int64_t *held;
	_Atomic int bad;
	int seed;
};

static void sw_worker(void *arg)
{
	struct sw *w = arg;
	unsigned x = (unsigned)w->seed * 2654435761u + 1;
	for (int i = 0; i < 300; i++) {
		x = x * 1103515245 + 12345;
		int64_t n = 1 + (x >> 16) % 10;
		int64_t dl = (x >> 8) % 3 == 0 ? rg_now() + 20000 : -1;
		int r = rg_sema_acquire(w->s, n, dl);
		if (r == -ETIMEDOUT)
			continue;
		CHECK_EQ(r, 0);
		int64_t h = atomic_fetch_add(w->held, n) + n;
		if (h > 10)
			atomic_store(&w->bad, 1);
		if (i % 4 == 0)
			rg_yield();
		atomic_fetch_sub(w->held, n);
		rg_sema_release(w->s, n);
	}
}

struct big {
	rg_sema *s;
	int64_t n, dl;
	int r;
	_Atomic int done;
};

static void big_acq(void *arg)
{
	struct big *b = arg;
	b->r = rg_sema_acquire(b->s, b->n, b->dl);
	atomic_store(&b->done, 1);
}

static void case_sema_edges(void)
{
	rg_sema s;
	rg_sema_init(&s, 10);
	CHECK_EQ(rg_sema_acquire(&s, 11, -1), -EINVAL);
	CHECK_EQ(rg_sema_acquire(&s, -1, -1), -EINVAL);
	CHECK(!rg_sema_try_acquire(&s, 11));
	CHECK(!rg_sema_try_acquire(&s, -1));
	CHECK_EQ(rg_sema_acquire(&s, 0, 0), 0);
	CHECK(rg_sema_try_acquire(&s, 0));
	CHECK_EQ(rg_sema_acquire(&s, 10, 0), 0);
	CHECK_EQ(rg_sema_acquire(&s, 1, 0), -EAGAIN);
	CHECK_EQ(rg_sema_acquire(&s, 1, rg_now() + MS), -ETIMEDOUT);
	rg_sema_release(&s, 10);
	rg_sema z;
	rg_sema_init(&z, 0);
	CHECK_EQ(rg_sema_acquire(&z, 0, -1), 0);
	CHECK_EQ(rg_sema_acquire(&z, 1, -1), -EINVAL);

	for (int it = 0; it < loops / 2 + 1; it++) {
		_Atomic int64_t held = 0;
		struct sw w[6];
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		for (int k = 0; k < 6; k++) {
			w[k] = (struct sw){ &s, &held, 0, k + it * 6 };
			go_wg(&wg, sw_worker, &w[k]);
		}
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		for (int k = 0; k < 6; k++)
			CHECK_EQ(atomic_load(&w[k].bad), 0);
		CHECK(rg_sema_try_acquire(&s, 10)); /* nothing leaked */
		rg_sema_release(&s, 10);
	}

	/* Go's x/sync: a big head waiter that times out lets the smaller
	 * waiters behind it in */
	for (int it = 0; it < loops; it++) {
		CHECK_EQ(rg_sema_acquire(&s, 5, 0), 0);
		struct big a = { &s, 10, rg_now() + 10 * MS, 1, 0 }, b = { &s, 3, -1, 1, 0 };
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, big_acq, &a);
		while (rg_sema_try_acquire(&s, 0)) /* until a is queued */
			rg_sleep(100000);
		go_wg(&wg, big_acq, &b);
		rg_sleep(500000);
		int bd = atomic_load(&b.done);
		if (rg_now() < a.dl) /* not yet timed out (a loaded machine) */
			CHECK(!bd);  /* FIFO: b waits behind a */
		int64_t t0 = rg_now();
		while (!atomic_load(&b.done) && rg_now() - t0 < 2000 * MS)
			rg_sleep(200000);
		CHECK(atomic_load(&a.done));
		CHECK_EQ(a.r, -ETIMEDOUT);
		CHECK(atomic_load(&b.done));
		CHECK_EQ(b.r, 0);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		rg_sema_release(&s, 3);
		rg_sema_release(&s, 5);
		CHECK(rg_sema_try_acquire(&s, 10));
		rg_sema_release(&s, 10);
	}
}

/* ============================================= foreign and in_blocking */

struct fx {
	rg_chan *unbuf, *buf, *handoff;
	rg_mutex mu;
	rg_cond cv;
	rg_once once;
	rg_sema sem;
	rg_waitgroup wg, wg0, wg2;
	int once_runs;
	_Atomic int parked; /* the task waiting on handoff is in place */
	long got;
};

static void once_fn(void *arg)
{
	((struct fx *)arg)->once_runs++;
}

/* From a thread with no P (foreign, or rg_blocking): 0 on success. */
static void no_p_body(struct fx *f)
{
	long v = 1;
	bool ok;
	CHECK_EQ(rg_proc_id(), -1);
	/* buffered: room / values work, waits are -EPERM */
	CHECK_EQ(rg_chan_send(f->buf, &v, -1), 0);
	CHECK_EQ(rg_chan_send(f->buf, &v, -1), -EPERM);
	CHECK_EQ(rg_chan_send(f->buf, &v, 0), -EAGAIN);
	CHECK_EQ(rg_chan_send(f->buf, &v, rg_now() + MS), -EPERM);
	CHECK_EQ(rg_chan_len(f->buf), 1);
	CHECK_EQ(rg_chan_recv(f->buf, &v, &ok, -1), 0);
	CHECK(ok);
	CHECK_EQ(rg_chan_recv(f->buf, &v, &ok, -1), -EPERM);
	CHECK_EQ(rg_chan_recv(f->unbuf, &v, &ok, -1), -EPERM);
	CHECK_EQ(rg_chan_send(f->unbuf, &v, -1), -EPERM);
	CHECK_EQ(rg_chan_send(f->unbuf, &v, 0), -EAGAIN);
	CHECK_EQ(rg_chan_recv(NULL, &v, &ok, -1), -EPERM);
	CHECK_EQ(rg_chan_recv(NULL, &v, &ok, 0), -EAGAIN);
	rg_select_case cs[2] = { { f->unbuf, RG_SELECT_RECV, &v, false }, { f->buf, RG_SELECT_RECV, &v, false } };
	CHECK_EQ(rg_select(cs, 2, -1), -EPERM);
	CHECK_EQ(rg_select(cs, 2, 0), -EAGAIN);
	CHECK_EQ(rg_select(NULL, 0, -1), -EPERM);
	CHECK_EQ(rg_select(NULL, 0, 0), -EAGAIN);
	/* a ready select case works */
	cs[1].dir = RG_SELECT_SEND;
	CHECK_EQ(rg_select(cs, 2, -1), 1);
	CHECK(cs[1].ok);
	cs[1].dir = RG_SELECT_RECV;
	CHECK_EQ(rg_select(cs, 2, -1), 1);
	/* a hand-off to a parked task works (it is not a wait) */
	while (!atomic_load(&f->parked))
		sched_yield();
	for (int spin = 0; spin < 2000; spin++) {
		long h = 4242;
		int r = rg_chan_send(f->handoff, &h, 0);
		if (r == 0)
			break;
		CHECK_EQ(r, -EAGAIN);
		usleep(500);
	}
	/* semaphore, WaitGroup */
	CHECK(rg_sema_try_acquire(&f->sem, 2));
	CHECK_EQ(rg_sema_acquire(&f->sem, 1, -1), -EPERM);
	CHECK_EQ(rg_sema_acquire(&f->sem, 3, -1), -EINVAL);
	rg_sema_release(&f->sem, 2);
	CHECK_EQ(rg_sema_acquire(&f->sem, 1, -1), 0);
	rg_sema_release(&f->sem, 1);
	CHECK_EQ(rg_waitgroup_wait(&f->wg, -1), -EPERM);
	CHECK_EQ(rg_waitgroup_wait(&f->wg, 0), -EAGAIN);
	CHECK_EQ(rg_waitgroup_wait(&f->wg0, -1), 0);
	/* mutex, cond (a spurious wake-up, mutex held again), once */
	rg_mutex_lock(&f->mu);
	rg_cond_wait(&f->cv, &f->mu);
	CHECK(!rg_mutex_trylock(&f->mu));
	rg_mutex_unlock(&f->mu);
	CHECK_EQ(rg_mutex_lock_until(&f->mu, 0), 0);
	rg_mutex_unlock(&f->mu);
	rg_once_do(&f->once, once_fn, f);
	rg_once_do(&f->once, once_fn, f);
	CHECK_EQ(f->once_runs, 1);
	rg_cond_signal(&f->cv);
	rg_cond_broadcast(&f->cv);
	/* waking parked tasks from here: a Done that reaches zero, a close */
	usleep(1000);
	rg_waitgroup_done(&f->wg2);
	usleep(1000);
	CHECK_EQ(rg_chan_close(f->handoff), 0);
	CHECK_EQ(rg_chan_close(f->handoff), -EPIPE);
}

static void *foreign_main(void *arg)
{
	no_p_body(arg);
	return NULL;
}

static intptr_t blocking_main(void *arg)
{
	no_p_body(arg);
	return 99;
}

static void fx_handoff_recv(void *arg)
{
	struct fx *f = arg;
	atomic_store(&f->parked, 1);
	bool ok;
	CHECK_EQ(rg_chan_recv(f->handoff, &f->got, &ok, -1), 0);
	CHECK(ok);
	CHECK_EQ(rg_waitgroup_wait(&f->wg2, -1), 0); /* Done from no-P */
	long x = 5;
	CHECK_EQ(rg_chan_recv(f->handoff, &x, &ok, -1), 0); /* closed from no-P */
	CHECK(!ok);
	CHECK_EQ(x, 0);
}

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof *f);
	f->unbuf = rg_chan_make(sizeof(long), 0);
	f->buf = rg_chan_make(sizeof(long), 1);
	f->handoff = rg_chan_make(sizeof(long), 0);
	rg_sema_init(&f->sem, 2);
	rg_waitgroup_add(&f->wg, 1);
	rg_waitgroup_add(&f->wg2, 1);
}

static void fx_check_usable(struct fx *f)
{
	/* everything is usable (no lock left held, no stale record) */
	long v = 8;
	bool ok;
	CHECK_EQ(f->got, 4242);
	CHECK_EQ(rg_chan_send(f->buf, &v, 0), 0);
	CHECK_EQ(rg_chan_recv(f->buf, &v, &ok, 0), 0);
	CHECK_EQ(rg_chan_send(f->unbuf, &v, 0), -EAGAIN);
	CHECK_EQ(rg_chan_recv(f->unbuf, &v, &ok, 0), -EAGAIN);
	CHECK(rg_mutex_trylock(&f->mu));
	rg_mutex_unlock(&f->mu);
	CHECK(rg_sema_try_acquire(&f->sem, 2));
	rg_sema_release(&f->sem, 2);
	rg_waitgroup_done(&f->wg);
	CHECK_EQ(rg_waitgroup_wait(&f->wg, 0), 0);
	rg_chan_free(f->unbuf);
	rg_chan_free(f->buf);
	rg_chan_free(f->handoff);
}

static intptr_t join_main(void *arg)
{
	return pthread_join(*(pthread_t *)arg, NULL);
}

static void case_foreign(void)
{
	for (int it = 0; it < loops / 2 + 1; it++) {
		struct fx f;
		fx_init(&f);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, fx_handoff_recv, &f);
		pthread_t th;
		CHECK_EQ(pthread_create(&th, NULL, foreign_main, &f), 0);
		/* join without blocking the P */
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		CHECK_EQ(rg_blocking(join_main, &th), 0);
		fx_check_usable(&f);
	}
}

static void case_in_blocking(void)
{
	for (int it = 0; it < loops / 2 + 1; it++) {
		struct fx f;
		fx_init(&f);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, fx_handoff_recv, &f);
		CHECK_EQ(rg_blocking(blocking_main, &f), 99);
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		fx_check_usable(&f);
	}
}


/* ======================================================= cond_no_p_signal */

/* A thread with no P (rg_blocking here; a foreign pthread alike) calls
 * rg_cond_wait: it takes a ticket, then returns at once (a spurious
 * wake-up, allowed).  Its ticket stays un-notified with no waiter record,
 * so the next rg_cond_signal spends itself on it and the task really
 * waiting is not woken (sync/mutex.c rg_cond_wait/rg_cond_signal). */
struct cnp {
	rg_cond cv;
	rg_mutex mu;
	int flag;
	_Atomic int done;
};

static intptr_t cnp_blocking(void *arg)
{
	struct cnp *c = arg;
	rg_mutex_lock(&c->mu);
	rg_cond_wait(&c->cv, &c->mu); /* returns at once: no P */
	rg_mutex_unlock(&c->mu);
	return 1;
}

static void cnp_waiter(void *arg)
{
	struct cnp *c = arg;
	rg_mutex_lock(&c->mu);
	while (!c->flag)
		rg_cond_wait(&c->cv, &c->mu);
	rg_mutex_unlock(&c->mu);
	atomic_store(&c->done, 1);
}

static void case_cond_no_p_signal(void)
{
	for (int it = 0; it < loops; it++) {
		struct cnp c = { RG_COND_INIT, RG_MUTEX_INIT, 0, 0 };
		CHECK_EQ(rg_blocking(cnp_blocking, &c), 1);
		rg_waitgroup wg = RG_WAITGROUP_INIT;
		go_wg(&wg, cnp_waiter, &c);
		rg_sleep(2 * MS); /* the waiter parks */
		rg_mutex_lock(&c.mu);
		c.flag = 1;
		rg_cond_signal(&c.cv); /* one waiter: it must wake */
		rg_mutex_unlock(&c.mu);
		int64_t t0 = rg_now();
		while (!atomic_load(&c.done) && rg_now() - t0 < 300 * MS)
			rg_sleep(MS);
		bool woke = atomic_load(&c.done);
		if (!woke)
			rg_cond_broadcast(&c.cv); /* let it go, then fail */
		CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
		if (!woke)
			fprintf(stderr, "cond_no_p_signal: iteration %d: signal lost\n", it);
		CHECK(woke);
	}
}

/* ===================================================================== */

static int main_fn(void *arg)
{
	(void)arg;
	int64_t t = rg_now();
	RUN(odd_elems);
	RUN(huge_cap);
	RUN(len_cap);
	RUN(select_same);
	RUN(select_zero);
	RUN(select_many);
	RUN(null_val);
	RUN(free_after_select);
	RUN(close_vs_deadline);
	RUN(sema_edges);
	RUN(foreign);
	RUN(in_blocking);
	RUN(cond_no_p_signal); /* lost a signal before its fix (2026-12-06) */
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	only_case = getenv("RG_CASE");
	if (only_case && !*only_case)
		only_case = NULL;
	const char *l = getenv("RG_LOOPS");
	if (l && atoi(l) > 0)
		loops = atoi(l);
	else if (T_SANITIZED)
		loops = 6;
	rg_config one = { .procs = 1, .quiet = 1 }, two = { .procs = 2, .quiet = 1 };
	printf("-- 1 P\n");
	CHECK_EQ(rg_run(main_fn, NULL, &one), 0);
	printf("-- 2 Ps\n");
	CHECK_EQ(rg_run(main_fn, NULL, &two), 0);
	return T_PASS;
}
