/*
 * bench_sync — ringo's twins of go_micro's channel, select, lock and
 * context cases (../shared/peers/go/micro/main.go), measured the same way:
 * each ns/op case grows its iteration count until one run lasts at least
 * -benchtime; the context cases run a fixed amount of work (mean of 5).
 *
 *   bench_sync [-benchtime MS] [-run REGEX] [-cs N] [-outside N]
 *
 * -benchtime  target duration of the measured run, ms (default 300)
 * -run        only cases whose Go name matches this POSIX extended regex
 * -cs         loads inside each read-locked section (default 32)
 * -outside    xorshift steps of private work between lock operations
 *             (default 0)
 * Every figure is printed last as "bench: ringo_<go name> <value> <unit>".
 * Ps: RINGO_PROCS or the usable CPUs; the *_p1 case runs with one P.
 */
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"
#include "ringo/sync.h"

static int64_t bench_ns = 300 * 1000000LL;
static int cs_work = 32, out_work = 0;
static regex_t filter;
static char lines[64][160];
static int nlines;

static bool want(const char *name) { return regexec(&filter, name, 0, NULL, 0) == 0; }

static void bench(const char *name, const char *unit, int prec, double v)
{
	if (nlines < 64)
		snprintf(lines[nlines++], sizeof lines[0], "bench: ringo_%s %.*f %s", name, prec, v, unit);
}

/* Like go_micro's measure: grow n until one run lasts >= bench_ns. */
static double measure(void (*f)(long n), long *np)
{
	long n = 1;
	for (;;) {
		int64_t t0 = rg_now();
		f(n);
		int64_t d = rg_now() - t0;
		if (d >= bench_ns || n >= (1L << 30)) {
			*np = n;
			return (double)d / (double)n;
		}
		long next = (long)(1.2 * (double)n * (double)bench_ns / (double)(d + 1));
		if (next > 100 * n)
			next = 100 * n;
		if (next < 2 * n)
			next = 2 * n;
		n = next;
	}
}

static void report(const char *name, void (*f)(long n), const char *note)
{
	if (!want(name))
		return;
	long n;
	double ns = measure(f, &n);
	printf("%-34s %12.1f ns/op  (n=%ld) %s\n", name, ns, n, note);
	fflush(stdout);
	bench(name, "ns", 1, ns);
}

/* --- channels ------------------------------------------------------------------ */

struct pp {
	rg_chan *ping, *pong;
	rg_waitgroup wg;
};

static void echo(void *arg)
{
	struct pp *p = arg;
	long v;
	bool ok;
	while (rg_chan_recv(p->ping, &v, &ok, -1) == 0 && ok)
		rg_chan_send(p->pong, &v, -1);
	rg_waitgroup_done(&p->wg);
}

static void ping_pong(long n)
{
	struct pp p = { rg_chan_make(sizeof(long), 0), rg_chan_make(sizeof(long), 0), RG_WAITGROUP_INIT };
	rg_waitgroup_add(&p.wg, 1);
	rg_go(echo, &p);
	for (long i = 0; i < n; i++) {
		long v;
		rg_chan_send(p.ping, &i, -1);
		rg_chan_recv(p.pong, &v, NULL, -1);
	}
	rg_chan_close(p.ping);
	rg_waitgroup_wait(&p.wg, -1);
	rg_chan_free(p.ping);
	rg_chan_free(p.pong);
}

/* As go_micro's: `for range ch {}`, then close(done); the producer closes
 * ch and waits with `<-done`. */
struct drain {
	rg_chan *ch, *done;
};

/* The drainers copy the channels out of *arg, which lives on the
 * producer's stack: read from there at every receive, it shared a line
 * with the value the producer writes at every send, a transfer per value
 * that Go's closure (ch in a register) does not pay. */
static void drainer(void *arg)
{
	struct drain d = *(struct drain *)arg;
	long v;
	bool ok;
	while (rg_chan_recv(d.ch, &v, &ok, -1) == 0 && ok)
		;
	rg_chan_close(d.done);
}

static void drain_end(struct drain *d)
{
	rg_chan_close(d->ch);
	rg_chan_recv(d->done, NULL, NULL, -1);
	rg_chan_free(d->ch);
	rg_chan_free(d->done);
}

static void buffered_throughput(long n)
{
	struct drain d = { rg_chan_make(sizeof(long), 1024), rg_chan_make(0, 0) };
	rg_go(drainer, &d);
	for (long i = 0; i < n; i++)
		rg_chan_send(d.ch, &i, -1);
	drain_end(&d);
}

/* select { case ch <- i: default: dropped++ } on an always-full channel.
 * The value goes through a copy, as in Go's compiled select (order.go
 * copies a send case's value into a temporary, go_micro's loop keeps i
 * apart from it), so both programs do the same stores. */
/* noinline, as mutex_uncontended: report() would otherwise inline the
 * loop into main's clone, where it ran 1.4, then 1.9 ns a select as
 * unrelated cases were added around it (1.1 ns in its own function). */
__attribute__((noinline)) static void select_default_full(long n)
{
	rg_chan *ch = rg_chan_make(sizeof(long), 1);
	long z = 0, dropped = 0;
	rg_chan_send(ch, &z, -1);
	for (long i = 0; i < n; i++) {
		long v = i;
		rg_select_case c = { ch, RG_SELECT_SEND, &v, false };
		if (rg_select(&c, 1, 0) < 0)
			dropped++;
	}
	if (dropped != n) {
		fprintf(stderr, "channel was not full\n");
		abort();
	}
	rg_chan_free(ch);
}

static double last_sent_frac;

/* n selects with default offering i to a channel that the task `drain`
 * empties; sets last_sent_frac. */
static void drained_run(long n, rg_task_fn drain)
{
	struct drain d = { rg_chan_make(sizeof(long), 1024), rg_chan_make(0, 0) };
	rg_go(drain, &d);
	long sent = 0;
	for (long i = 0; i < n; i++) {
		long v = i;
		rg_select_case c = { d.ch, RG_SELECT_SEND, &v, false };
		if (rg_select(&c, 1, 0) >= 0)
			sent++;
	}
	drain_end(&d);
	last_sent_frac = (double)sent / (double)n;
}

static void select_default_drained(long n) { drained_run(n, drainer); }

/* select-drained with a paced receiver: the drainer does `pace` xorshift
 * steps of work per value, so that the receiver's work, not the runtime,
 * sets how fast values leave, and each runtime's sender meets about the
 * same share of room.  The plain drained case compares runtimes whose
 * receivers drain at different speeds (ringo's keeps up with its sender,
 * Go's does not: 80-98 % against 9-18 % of the selects send), so its ns
 * per select mixes the cost of a select with the share that succeed.
 * bench/go/twins has Go's twin of this case, line for line. */
static int drain_pace;
static _Atomic uint64_t pace_sink;

static void paced_drainer(void *arg)
{
	struct drain d = *(struct drain *)arg;
	long v;
	bool ok;
	uint64_t x = 88172645463325252ULL;
	while (rg_chan_recv(d.ch, &v, &ok, -1) == 0 && ok) {
		x ^= (uint64_t)v;
		for (int k = 0; k < drain_pace; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	}
	atomic_store_explicit(&pace_sink, x, memory_order_relaxed);
	rg_chan_close(d.done);
}

static void select_default_drained_paced(long n) { drained_run(n, paced_drainer); }

/* One task per P, each locking and unlocking one mutex around an
 * increment: the contended path with no other tasks to hand the lock to
 * (bench/go/twins has Go's).  mutex_uncontended uses the same mutex alone. */
static struct {
	_Alignas(64) rg_mutex m;
	_Alignas(64) long counter; /* m */
	long per;                  /* set before the workers start */
	rg_waitgroup wg;
} mc;

static void mutex_contended_worker(void *arg)
{
	(void)arg;
	const long per = mc.per;
	for (long i = 0; i < per; i++) {
		rg_mutex_lock(&mc.m);
		mc.counter++;
		rg_mutex_unlock(&mc.m);
	}
	rg_waitgroup_done(&mc.wg);
}

static void mutex_contended_procs(long n)
{
	int procs = rg_procs();
	mc.per = (n + procs - 1) / procs;
	rg_waitgroup_add(&mc.wg, procs);
	for (int g = 0; g < procs; g++)
		rg_go(mutex_contended_worker, NULL);
	rg_waitgroup_wait(&mc.wg, -1);
}

/* One task alone on the mutex: the fast paths, lock and unlock with no
 * one else around, which is what most locks in a program see. */
__attribute__((noinline)) static void mutex_uncontended(long n)
{
	for (long i = 0; i < n; i++) {
		rg_mutex_lock(&mc.m);
		mc.counter++;
		rg_mutex_unlock(&mc.m);
	}
}

/* --- Mutex vs RWMutex ---------------------------------------------------------------- */

enum { LOCK_TASKS = 1000 };
static _Alignas(64) int64_t shared_arr[1024];
static _Atomic int64_t sink_sum;

/* The locks sit on cache lines of their own and the workers copy the
 * parameters into locals, as Go's closure does: a parameter read from the
 * lock's line would bounce with every lock operation and charge ringo for a
 * false sharing Go's program does not have. */
struct lockb {
	_Alignas(64) rg_mutex m;
	_Alignas(64) rg_rwmutex rwm;
	_Alignas(64) bool rw;
	uint64_t permille;
	long per;
	rg_chan *start;
	rg_waitgroup wg;
};
static struct lockb lb;

static void lock_worker(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg;
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL | 1;
	int64_t sum = 0;
	rg_chan_recv(lb.start, NULL, NULL, -1);
	const bool rw = lb.rw;
	const uint64_t permille = lb.permille;
	const long per = lb.per;
	const int outside = out_work, cs = cs_work;
	rg_mutex *m = &lb.m;
	rg_rwmutex *rwm = &lb.rwm;
	for (long i = 0; i < per; i++) {
		for (int k = 0; k <= outside; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		int idx = (int)(x >> 20) & 1023;
		if (x % 1000 < permille) {
			if (rw) {
				rg_rwmutex_lock(rwm);
				shared_arr[idx]++;
				rg_rwmutex_unlock(rwm);
			} else {
				rg_mutex_lock(m);
				shared_arr[idx]++;
				rg_mutex_unlock(m);
			}
		} else {
			if (rw)
				rg_rwmutex_rlock(rwm);
			else
				rg_mutex_lock(m);
			for (int k = 0; k < cs; k++)
				sum += ((volatile int64_t *)shared_arr)[(idx + k) & 1023];
			if (rw)
				rg_rwmutex_runlock(rwm);
			else
				rg_mutex_unlock(m);
		}
	}
	if (sum == 42)
		atomic_store(&sink_sum, sum);
	rg_waitgroup_done(&lb.wg);
}

static void lock_bench(long n)
{
	lb.per = (n + LOCK_TASKS - 1) / LOCK_TASKS;
	lb.start = rg_chan_make(0, 0);
	rg_waitgroup_add(&lb.wg, LOCK_TASKS);
	for (int g = 0; g < LOCK_TASKS; g++)
		rg_go(lock_worker, (void *)(uintptr_t)(g + 1));
	rg_chan_close(lb.start);
	rg_waitgroup_wait(&lb.wg, -1);
	rg_chan_free(lb.start);
}

static void lock_table(void)
{
	static const uint64_t ratios[] = { 0, 50, 120, 150, 500 };
	bool printed = false;
	char rw_wins[64] = "", m_wins[64] = "";
	for (int i = 0; i < 5; i++) {
		char name[64];
		snprintf(name, sizeof name, "lock_writes_%d%%", (int)(ratios[i] / 10));
		if (!want(name))
			continue;
		if (!printed) {
			printf("\n-- rg_mutex vs rg_rwmutex, %d tasks, %d loads per read section, -outside %d --\n",
			       LOCK_TASKS, cs_work, out_work);
			printf("%-16s %14s %14s %10s\n", "writes", "Mutex ns/op", "RWMutex ns/op", "RW/Mutex");
			printed = true;
		}
		long n;
		memset(&lb, 0, sizeof lb);
		lb.permille = ratios[i];
		double m = measure(lock_bench, &n);
		memset(&lb, 0, sizeof lb);
		lb.permille = ratios[i];
		lb.rw = true;
		double rw = measure(lock_bench, &n);
		printf("%-16s %14.1f %14.1f %10.2f\n", name, m, rw, rw / m);
		fflush(stdout);
		char *w = rw < m ? rw_wins : m_wins;
		snprintf(w + strlen(w), 64 - strlen(w), " %d%%", (int)(ratios[i] / 10));
		char b1[64], b2[64];
		snprintf(b1, sizeof b1, "lock_writes_%dpct_mutex", (int)(ratios[i] / 10));
		snprintf(b2, sizeof b2, "lock_writes_%dpct_rwmutex", (int)(ratios[i] / 10));
		bench(b1, "ns", 1, m);
		bench(b2, "ns", 1, rw);
	}
	if (printed)
		printf("crossover: RWMutex faster at writes:%s; Mutex faster at:%s\n", rw_wins[0] ? rw_wins : " none",
		       m_wins[0] ? m_wins : " none");
}

/* --- context cancel ------------------------------------------------------------------ */

static rg_waitgroup ctx_wg;

static void ctx_waiter(void *arg)
{
	rg_chan_recv(rg_ctx_done(arg), NULL, NULL, -1);
	rg_waitgroup_done(&ctx_wg);
}

static void ctx_cancel(int fanout, double *build, double *cancel_call, double *all_woken)
{
	enum { LEAVES = 10000, MAXC = 12000 };
	static rg_ctx *all[MAXC];
	int n = 0;
	int64_t t0 = rg_now();
	rg_ctx *root;
	rg_ctx_with_cancel(rg_ctx_background(), &root);
	all[n++] = root;
	int lo = 0, hi = 1;
	for (int count = 1; count < LEAVES; count *= fanout) {
		for (int p = lo; p < hi; p++)
			for (int i = 0; i < fanout; i++)
				rg_ctx_with_cancel(all[p], &all[n++]);
		lo = hi;
		hi = n;
	}
	rg_waitgroup_add(&ctx_wg, hi - lo);
	for (int i = lo; i < hi; i++)
		rg_go(ctx_waiter, all[i]);
	rg_yield();
	int64_t t1 = rg_now();
	rg_ctx_cancel(root);
	int64_t t2 = rg_now();
	rg_waitgroup_wait(&ctx_wg, -1);
	int64_t t3 = rg_now();
	for (int i = n - 1; i >= 0; i--)
		rg_ctx_release(all[i]);
	*build = (double)(t1 - t0) / 1e6;
	*cancel_call = (double)(t2 - t1) / 1e6;
	*all_woken = (double)(t3 - t1) / 1e6;
}

static void ctx_cases(void)
{
	int fos[2] = { 10000, 10 };
	for (int k = 0; k < 2; k++) {
		char name[64];
		snprintf(name, sizeof name, "ctx_cancel_10k_fanout%d", fos[k]);
		if (!want(name))
			continue;
		enum { REPS = 5 };
		double b = 0, c = 0, w = 0;
		for (int i = 0; i < REPS; i++) {
			double x, y, z;
			ctx_cancel(fos[k], &x, &y, &z);
			b += x;
			c += y;
			w += z;
		}
		printf("%-34s build=%.2fms cancel()=%.2fms all_woken=%.2fms (mean of %d; %.0f ns/child to wake)\n",
		       name, b / REPS, c / REPS, w / REPS, REPS, w / REPS * 1e6 / 10000);
		char nm[96];
		snprintf(nm, sizeof nm, "%s_build", name);
		bench(nm, "ms", 2, b / REPS);
		snprintf(nm, sizeof nm, "%s_cancel", name);
		bench(nm, "ms", 2, c / REPS);
		snprintf(nm, sizeof nm, "%s_all_woken", name);
		bench(nm, "ms", 2, w / REPS);
	}
}

/* A request's timeout: rg_ctx_with_timeout, then rg_ctx_release before it
 * fires (Go: context.WithTimeout + defer cancel()).  Each deadline context
 * runs a small task until its deadline or release; the loop yields every
 * 64 so those tasks end as they would in a server. */
static void ctx_timeout(long n)
{
	for (long i = 0; i < n; i++) {
		rg_ctx *c;
		if (rg_ctx_with_timeout(rg_ctx_background(), 1000000000LL, &c) != 0)
			abort();
		rg_ctx_release(c);
		if ((i & 63) == 63)
			rg_yield();
	}
}

/* rg_ctx_with_value + release: a request-scoped value context.  Key and
 * value are plain (not GC) pointers, so nothing is registered with the
 * collector (sync/ctx.c, rg__gc_may_point). */
static int ctx_key;
static void ctx_value(long n)
{
	int v = 1;
	for (long i = 0; i < n; i++) {
		rg_ctx *c;
		if (rg_ctx_with_value(rg_ctx_background(), &ctx_key, &v, &c) != 0)
			abort();
		rg_ctx_release(c);
	}
}

/* --- main ----------------------------------------------------------------------------- */

static int main_all(void *arg)
{
	printf("bench_sync: Ps=%d benchtime=%lldms cs=%d outside=%d\n", rg_procs(),
	       (long long)(bench_ns / 1000000), cs_work, out_work);
	char note[96];
	snprintf(note, sizeof note, "per round trip (2 tasks, %d Ps)", rg_procs());
	report("chan_unbuffered_pingpong", ping_pong, note);
	return 0;
}

static int main_p1(void *arg)
{
	report("chan_unbuffered_pingpong_p1", ping_pong, "per round trip (2 tasks, 1 P)");
	return 0;
}

static int main_rest(void *arg)
{
	report("chan_buffered1024_spsc", buffered_throughput, "per message, 1 producer -> 1 consumer");
	report("select_default_send_full", select_default_full, "per select, always default");
	if (want("select_default_send_drained")) {
		report("select_default_send_drained", select_default_drained, "");
		printf("%-34s %12.1f %% of sends succeeded (last run)\n", "", 100 * last_sent_frac);
		bench("select_default_send_drained_sent", "%", 1, 100 * last_sent_frac);
	}
	static const int paces[] = { 10, 50 };
	for (int i = 0; i < 2; i++) {
		char name[64], sent[72];
		snprintf(name, sizeof name, "select_default_send_drained_pace%d", paces[i]);
		if (!want(name))
			continue;
		drain_pace = paces[i];
		report(name, select_default_drained_paced, "");
		printf("%-34s %12.1f %% of sends succeeded (last run)\n", "", 100 * last_sent_frac);
		snprintf(sent, sizeof sent, "%s_sent", name);
		bench(sent, "%", 1, 100 * last_sent_frac);
	}
	report("mutex_uncontended", mutex_uncontended, "per lock+unlock, one task");
	report("mutex_contended_procs", mutex_contended_procs, "per lock+unlock, one task per P");
	lock_table();
	printf("\n");
	ctx_cases();
	report("ctx_timeout_create_release", ctx_timeout, "rg_ctx_with_timeout + release, one task");
	report("ctx_value_create_release", ctx_value, "rg_ctx_with_value + release, one task");
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_sync [-benchtime MS] [-run REGEX] [-cs N] [-outside N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *run = ".";
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "-benchtime"))
			bench_ns = atoll(argv[++i]) * 1000000LL;
		else if (!strcmp(argv[i], "-run"))
			run = argv[++i];
		else if (!strcmp(argv[i], "-cs"))
			cs_work = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-outside"))
			out_work = atoi(argv[++i]);
		else
			usage();
	}
	if (regcomp(&filter, run, REG_EXTENDED | REG_NOSUB)) {
		fprintf(stderr, "bench_sync: bad -run\n");
		return 2;
	}
	rg_config quiet = { .quiet = 1 };
	rg_config one = { .procs = 1, .quiet = 1 };
	if (rg_run(main_all, NULL, &quiet) < 0 || rg_run(main_p1, NULL, &one) < 0 ||
	    rg_run(main_rest, NULL, &quiet) < 0)
		return 1;
	printf("\n");
	for (int i = 0; i < nlines; i++)
		printf("%s\n", lines[i]);
	return 0;
}
