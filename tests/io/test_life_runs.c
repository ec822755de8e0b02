/* Objects kept from run to run: five rg_runs in one process with 2, 1, 2,
 * 1, 2 Ps and a refused configuration between each two, sharing
 *   - a listener (rg_listen in run 0, kept open): each run accepts on it
 *     with a multishot (two rg_accept in a row), and leaves a task parked
 *     in a third one (discarded, the acceptor with it);
 *   - a buffered channel of GC objects (made before run 0), filled in
 *     one run and drained in the next; the objects are reachable only
 *     through it, and main collects between runs (rg_gc_collect outside);
 *   - a Context with a deadline an hour away (made in run 0: its timer
 *     is dropped at each end; documented usable after), cancelled in the
 *     last run, where an after-func registered in run 1 must run;
 *   - a Mutex, a WaitGroup, a Semaphore used cleanly in every run.
 * Checks values, and under the sanitizers, every access. */
// ctest-timeout: 120
#include <stdatomic.h>

#include "io_test.h"
#include "ringo/gc.h"
#include "ringo/sync.h"

#define NOBJ 64
struct obj {
	uint64_t magic;
	int run, i;
};

static int g_lfd, g_port, g_run;
static rg_chan *g_objs;
static rg_ctx *g_ctx;
static rg_mutex g_mu;
static _Atomic int after_ran;
static int64_t after_id;

static void after_fn(void *arg)
{
	CHECK(arg == &after_ran);
	atomic_store(&after_ran, 1);
}

static void acceptor(void *arg)
{
	_Atomic int *got = arg;
	for (;;) {
		int fd = rg_accept(g_lfd, NULL, NULL, -1);
		if (fd < 0)
			return;
		char b[8];
		CHECK_EQ(rg_recv_exact(fd, b, 4, rg_now() + 5000 * MS, NULL), 4);
		CHECK(memcmp(b, "ping", 4) == 0);
		CHECK_EQ(rg_send_all(fd, "pong", 4, rg_now() + 5000 * MS, NULL), 4);
		rg_close(fd);
		atomic_fetch_add(got, 1);
	}
}

static void client(void *arg)
{
	rg_waitgroup *wg = arg;
	int fd = t_connect(AF_INET, g_port, rg_now() + 5000 * MS);
	CHECK(fd >= 0);
	CHECK_EQ(rg_send_all(fd, "ping", 4, rg_now() + 5000 * MS, NULL), 4);
	char b[4];
	CHECK_EQ(rg_recv_exact(fd, b, 4, rg_now() + 5000 * MS, NULL), 4);
	CHECK(memcmp(b, "pong", 4) == 0);
	rg_close(fd);
	rg_mutex_lock(&g_mu);
	rg_mutex_unlock(&g_mu);
	rg_waitgroup_done(wg);
}

static int run_fn(void *arg)
{
	(void)arg;
	if (g_run == 0) {
		g_lfd = t_listen(AF_INET, &g_port);
		CHECK(g_lfd >= 0);
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 3600 * 1000 * MS, &g_ctx), 0);
	}
	if (g_run == 1) {
		after_id = rg_ctx_after_func(g_ctx, after_fn, (void *)&after_ran);
		CHECK(after_id > 0);
	}
	/* drain what the last run left in the channel */
	if (g_run > 0) {
		for (int i = 0; i < NOBJ; i++) {
			struct obj *o = NULL;
			bool ok = false;
			CHECK_EQ(rg_chan_recv(g_objs, &o, &ok, 0), 0);
			CHECK(ok && o);
			CHECK_EQ(o->magic, 0x5eed5eed5eed5eedull);
			CHECK_EQ(o->run, g_run - 1);
			CHECK_EQ(o->i, i);
		}
	}
	_Atomic int got = 0;
	CHECK(rg_go(acceptor, (void *)&got) > 0);
	rg_waitgroup wg = RG_WAITGROUP_INIT;
	rg_waitgroup_add(&wg, 16);
	for (int i = 0; i < 16; i++)
		CHECK(rg_go(client, &wg) > 0);
	CHECK_EQ(rg_waitgroup_wait(&wg, rg_now() + 10000 * MS), 0);
	while (atomic_load(&got) < 16)
		rg_sleep(MS);
	rg_sema s;
	rg_sema_init(&s, 2);
	CHECK_EQ(rg_sema_acquire(&s, 2, -1), 0);
	rg_sema_release(&s, 2);
	for (int i = 0; i < NOBJ; i++) {
		struct obj *o = rg_gc_alloc(sizeof *o);
		CHECK(o);
		o->magic = 0x5eed5eed5eed5eedull;
		o->run = g_run;
		o->i = i;
		CHECK_EQ(rg_chan_send(g_objs, &o, 0), 0);
	}
	/* garbage, so that collections have something to free */
	for (int i = 0; i < 20000; i++)
		CHECK(rg_gc_alloc(64 + i % 512));
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_ctx_err(g_ctx), 0);
	if (g_run == 4) {
		rg_ctx_cancel(g_ctx);
		CHECK_EQ(rg_ctx_err(g_ctx), -ECANCELED);
		for (int i = 0; i < 5000 && !atomic_load(&after_ran); i++)
			rg_sleep(MS);
		CHECK(atomic_load(&after_ran));
	}
	rg_sleep(2 * MS); /* the acceptor stays parked: discarded */
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	g_objs = rg_chan_make(sizeof(void *), NOBJ);
	CHECK(g_objs);
	const int procs[5] = { 2, 1, 2, 1, 2 };
	for (g_run = 0; g_run < 5; g_run++) {
		rg_config c = { .procs = procs[g_run], .quiet = 1 };
		CHECK_EQ(rg_run(run_fn, NULL, &c), 0);
		printf("run %d (%d P): ok\n", g_run, procs[g_run]);
		/* outside any run */
		CHECK_EQ(rg_procs(), 0);
		CHECK_EQ(rg_self(), 0);
		CHECK(rg_io_backend() == NULL);
		CHECK_EQ(rg_gc_collect(), 0); /* the objects live in the channel only */
		CHECK_EQ(rg_chan_len(g_objs), NOBJ);
		rg_config bad = { .procs = -1, .quiet = 1 };
		CHECK_EQ(rg_run(run_fn, NULL, &bad), -EINVAL);
		bad = (rg_config){ .stack_size = 1, .quiet = 1 };
		CHECK_EQ(rg_run(run_fn, NULL, &bad), -EINVAL);
	}
	for (int i = 0; i < NOBJ; i++) {
		struct obj *o = NULL;
		CHECK_EQ(rg_chan_recv(g_objs, &o, NULL, 0), 0);
		CHECK_EQ(o->magic, 0x5eed5eed5eed5eedull);
		CHECK_EQ(o->run, 4);
	}
	rg_chan_free(g_objs);
	rg_ctx_release(g_ctx);
	close(g_lfd);
	printf("life_runs: ok\n");
	return T_PASS;
}
