/* Adversarial cases for gc/ against the rest of the runtime, second round:
 * objects whose only reference is somewhere other than a plain task stack
 * (a Context, an after-func, a channel slot or hand-off, a parked select,
 * a task argument, an I/O buffer in flight, a blocking section), many Ps
 * collecting constantly under RINGO_MEMLIMIT and a small GOGC, large
 * objects reused across Ps while pages are scavenged, and every size class
 * boundary.  Live objects carry canary patterns: memory handed out again
 * while still reachable shows up as a changed pattern.
 *
 * Each case runs in a child process of its own (the heap, RINGO_GOGC and
 * RINGO_MEMLIMIT are per process), re-executed from this binary with the
 * case's environment; a case that hangs is killed by its alarm.
 *
 *   gc_adversarial2                 every case
 *   gc_adversarial2 <case>          one case, in this process (needs the
 *                                   case's environment, see cases[])
 *   RG_ADV_CASE=name                only that case (from the driver)
 *   RG_ADV_REPEAT=n                 run each selected case n times
 *
 * Cases and what they cover (B: failed before its fix):
 *   ctx_value_only_ref       B  an object held only as a value context's
 *                               value (rg_ctx_with_value) is collected
 *   ctx_after_func_arg       B  an object held only as an after-func's arg
 *                               (rg_ctx_after_func) is collected before fn
 *   chan_handoff_parked         a sender parked on an unbuffered channel
 *                               with the only pointer in its element
 *   select_parked               tasks parked in rg_select with the only
 *                               pointer in a send case's value
 *   chan_buf_many_p             buffered channels of several element
 *                               shapes carrying the only references, 4 Ps
 *   taskarg_many_p              task arguments before the task first runs,
 *                               spawned from every P, collections constant
 *   recv_into_gc_buffer         rg_recv into a GC buffer whose only
 *                               reference is the parked call
 *   blocking_other_p            collections on one P while another task
 *                               sits in rg_blocking holding objects
 *   tls_many_p                  task-local values on 4 Ps, parked tasks
 *   class_boundaries            every size class at its size and size + 1,
 *                               scanned, noscan and typed: size, alignment,
 *                               interior pointers to the last byte keep
 *                               the object, zeroed memory
 *   large_reuse_scavenge        large objects freed and reallocated on 4 Ps
 *                               while another task returns pages to the OS
 *   memlimit_many_p             8 Ps, RINGO_MEMLIMIT=48M, GOGC=5: lists
 *                               passed between tasks through channels
 */
// ctest-timeout: 300
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/io.h"
#include "ringo/sync.h"

#define GC_ADV_CANARIES
#include "gc_adv.h"

/* =========================================================================
 * Found a bug: ctx_value_only_ref
 * A value context (rg_ctx_with_value) is the only holder of a GC object:
 * the request-scoped value of Go's context.WithValue, which keeps its
 * value alive for as long as the context is.  The context lives in
 * malloc memory (sync/ctx.c ctx_new), which the collector never reads, so
 * the object is freed at the next collection, handed out again, and
 * rg_ctx_value returns a pointer into someone else's object.
 * ========================================================================= */
#define CV_N 64
#define CV_SIZE 512
static const char cv_key;

__attribute__((noinline)) static void cv_make(rg_ctx **out)
{
	rg_ctx *parent = rg_ctx_background();
	for (int i = 0; i < CV_N; i++) {
		unsigned char *v = can_new(CV_SIZE, (unsigned char)(0x40 + i));
		CHECK(v);
		rg_ctx *c;
		CHECK_EQ(rg_ctx_with_value(parent, &cv_key + 0, v, &c), 0);
		out[i] = c;
		parent = c;
	}
}

static int cv_main(void *arg)
{
	rg_ctx *ctxs[CV_N];
	cv_make(ctxs);
	clobber_stack();
	churn(3, 20000, CV_SIZE);
	int bad = 0;
	for (int i = 0; i < CV_N; i++) {
		unsigned char *v = rg_ctx_value(ctxs[i], &cv_key);
		CHECK(v);
		if (!can_ok(v, CV_SIZE, (unsigned char)(0x40 + i)))
			bad++;
	}
	if (bad)
		fprintf(stderr, "ctx_value_only_ref: %d of %d context values collected while in use\n",
		        bad, CV_N);
	CHECK_EQ(bad, 0);
	for (int i = CV_N; i-- > 0;)
		rg_ctx_release(ctxs[i]);
	/* released: the values are garbage now, and go */
	clobber_stack();
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_ctx_value_only_ref(void)
{
	CHECK_EQ(rg_run(cv_main, NULL, &quiet_cfg), 0);
	return 0;
}

/* =========================================================================
 * Found a bug: ctx_after_func_arg
 * rg_ctx_after_func(ctx, fn, arg) keeps arg in a malloc'd record until
 * ctx is done; a GC object passed as arg (a closure's environment, as Go's
 * AfterFunc captures) has no other reference meanwhile.  It is collected
 * and reused before fn runs (rg_go's argument, by contrast, is kept).
 * ========================================================================= */
#define AF_N 32
#define AF_SIZE 256
static _Atomic int af_ran, af_bad;

static void af_fn(void *arg)
{
	unsigned char *p = arg;
	unsigned char pat = p[8];
	if (pat < 0x20 || pat >= 0x20 + AF_N || !can_ok(p, AF_SIZE, pat))
		atomic_fetch_add(&af_bad, 1);
	atomic_fetch_add(&af_ran, 1);
}

__attribute__((noinline)) static void af_make(rg_ctx *c)
{
	for (int i = 0; i < AF_N; i++) {
		unsigned char *p = can_new(AF_SIZE, (unsigned char)(0x20 + i));
		CHECK(p);
		CHECK(rg_ctx_after_func(c, af_fn, p) > 0);
	}
}

static int af_main(void *arg)
{
	rg_ctx *c;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &c), 0);
	af_make(c);
	clobber_stack();
	churn(3, 20000, AF_SIZE);
	rg_ctx_cancel(c);
	wait_flag(&af_ran, AF_N);
	if (atomic_load(&af_bad))
		fprintf(stderr, "ctx_after_func_arg: %d of %d after-func args collected before fn ran\n",
		        atomic_load(&af_bad), AF_N);
	CHECK_EQ(atomic_load(&af_bad), 0);
	rg_ctx_release(c);
	/* a stopped after-func's arg goes with it */
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &c), 0);
	af_make(c);
	rg_ctx_release(c); /* cancels: they run */
	wait_flag(&af_ran, 2 * AF_N);
	CHECK_EQ(atomic_load(&af_bad), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_ctx_after_func_arg(void)
{
	CHECK_EQ(rg_run(af_main, NULL, &quiet_cfg), 0);
	return 0;
}

/* =========================================================================
 * chan_handoff_parked (passes): senders parked on an unbuffered channel,
 * each with the only pointer to its object in the element it sends (the
 * sudog points at the sender's stack, which is scanned); the main task
 * collects and churns on the other P, then receives them.
 * ========================================================================= */
#define HO_N 16
#define HO_SIZE 1024
struct ho_arg { rg_chan *ch; int i; };
static _Atomic int ho_parked;

__attribute__((noinline)) static void ho_send(rg_chan *ch, int i)
{
	struct { int64_t tag; unsigned char *obj; } m = {i, can_new(HO_SIZE, (unsigned char)(0x80 + i))};
	CHECK(m.obj);
	atomic_fetch_add(&ho_parked, 1);
	CHECK_EQ(rg_chan_send(ch, &m, -1), 0);
}

static void ho_sender(void *arg)
{
	struct ho_arg *a = arg;
	ho_send(a->ch, a->i);
}

static int ho_main(void *arg)
{
	rg_chan *ch = rg_chan_make(16, 0);
	CHECK(ch);
	static struct ho_arg args[HO_N];
	for (int i = 0; i < HO_N; i++) {
		args[i] = (struct ho_arg){ch, i};
		CHECK(rg_go(ho_sender, &args[i]) > 0);
	}
	wait_flag(&ho_parked, HO_N);
	rg_sleep(5000000); /* all parked in rg_chan_send */
	churn(3, 20000, HO_SIZE);
	int bad = 0;
	for (int i = 0; i < HO_N; i++) {
		struct { int64_t tag; unsigned char *obj; } m;
		bool ok;
		CHECK_EQ(rg_chan_recv(ch, &m, &ok, -1), 0);
		CHECK(ok && m.tag >= 0 && m.tag < HO_N);
		if (!can_ok(m.obj, HO_SIZE, (unsigned char)(0x80 + m.tag)))
			bad++;
	}
	CHECK_EQ(bad, 0);
	rg_sleep(2000000);
	rg_chan_free(ch);
	return 0;
}

static int case_chan_handoff_parked(void) { return run_quiet(ho_main, 2); }

/* =========================================================================
 * select_parked (passes): tasks parked in rg_select over two channels,
 * one a send case whose value holds the only pointer to an object.
 * ========================================================================= */
#define SP_N 16
#define SP_SIZE 768
static rg_chan *sp_ch, *sp_never;
static _Atomic int sp_parked, sp_returned;

__attribute__((noinline)) static void sp_select(int i)
{
	unsigned char *obj = can_new(SP_SIZE, (unsigned char)(0x10 + i));
	CHECK(obj);
	struct { int64_t tag; unsigned char *obj; } m = {i, obj};
	obj = NULL;
	char junk[16];
	rg_select_case cs[2] = {
		{.ch = sp_never, .dir = RG_SELECT_RECV, .val = junk},
		{.ch = sp_ch, .dir = RG_SELECT_SEND, .val = &m},
	};
	atomic_fetch_add(&sp_parked, 1);
	CHECK_EQ(rg_select(cs, 2, -1), 1);
	atomic_fetch_add(&sp_returned, 1);
}

static void sp_task(void *arg) { sp_select((int)(intptr_t)arg); }

static int sp_main(void *arg)
{
	sp_ch = rg_chan_make(16, 0);
	sp_never = rg_chan_make(16, 0);
	atomic_store(&sp_returned, 0);
	CHECK(sp_ch && sp_never);
	for (int i = 0; i < SP_N; i++)
		CHECK(rg_go(sp_task, (void *)(intptr_t)i) > 0);
	wait_flag(&sp_parked, SP_N);
	rg_sleep(5000000);
	churn(3, 20000, SP_SIZE);
	for (int i = 0; i < SP_N; i++) {
		struct { int64_t tag; unsigned char *obj; } m;
		bool ok;
		CHECK_EQ(rg_chan_recv(sp_ch, &m, &ok, -1), 0);
		CHECK(ok && m.tag >= 0 && m.tag < SP_N);
		CHECK(can_ok(m.obj, SP_SIZE, (unsigned char)(0x10 + m.tag)));
	}
	/* a woken select locks its other channels again to unlink its
	 * records (sync/chan.c I6): free them only once every select has
	 * returned (a 2 ms sleep here was a use-after-free under TSan) */
	wait_flag(&sp_returned, SP_N);
	rg_chan_free(sp_ch);
	rg_chan_free(sp_never);
	return 0;
}

static int case_select_parked(void) { return run_quiet(sp_main, 2); }

/* =========================================================================
 * chan_buf_many_p (passes): env RINGO_GOGC=10.  Producers on 4 Ps fill
 * buffered channels whose slots hold the only references (elements: a
 * bare pointer, a 24-byte struct with the pointer last, a 40-byte one
 * with it in the middle); consumers drain them slowly while everything
 * churns; every object's canary must hold.
 * ========================================================================= */
#define CB_PER 2000
#define CB_SIZE 96
struct cb24 { uint64_t a, b; unsigned char *obj; };
struct cb40 { uint64_t a; uint32_t b, c; unsigned char *obj; uint64_t d, e; };
static rg_chan *cb_c8, *cb_c24, *cb_c40;
static _Atomic int cb_bad, cb_done;

static unsigned char cb_pat(uint64_t i) { return (unsigned char)(i * 7 + 1); }

static void cb_producer(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (uint64_t i = 0; i < SAN_SCALE(CB_PER); i++) {
		unsigned char *p = can_new(CB_SIZE, cb_pat(i));
		CHECK(p);
		switch (k) {
		case 0: CHECK_EQ(rg_chan_send(cb_c8, &p, -1), 0); break;
		case 1: {
			struct cb24 m = {i, ~i, p};
			CHECK_EQ(rg_chan_send(cb_c24, &m, -1), 0);
			break;
		}
		default: {
			struct cb40 m = {i, 0, 0, p, ~i, i};
			CHECK_EQ(rg_chan_send(cb_c40, &m, -1), 0);
			break;
		}
		}
		p = NULL;
		for (int j = 0; j < 8; j++)
			memset(rg_gc_alloc(CB_SIZE), 0xee, CB_SIZE);
	}
	atomic_fetch_add(&cb_done, 1);
}

static void cb_consumer(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (uint64_t i = 0; i < SAN_SCALE(CB_PER); i++) {
		bool ok;
		unsigned char *p;
		uint64_t tag = i;
		switch (k) {
		case 0: CHECK_EQ(rg_chan_recv(cb_c8, &p, &ok, -1), 0); break;
		case 1: {
			struct cb24 m;
			CHECK_EQ(rg_chan_recv(cb_c24, &m, &ok, -1), 0);
			CHECK_EQ(m.a, i);
			p = m.obj;
			break;
		}
		default: {
			struct cb40 m;
			CHECK_EQ(rg_chan_recv(cb_c40, &m, &ok, -1), 0);
			CHECK_EQ(m.a, i);
			p = m.obj;
			break;
		}
		}
		CHECK(ok);
		if (!can_ok(p, CB_SIZE, cb_pat(tag)))
			atomic_fetch_add(&cb_bad, 1);
		if (i % 64 == 0)
			rg_sleep(100000); /* let the buffers fill */
	}
	atomic_fetch_add(&cb_done, 1);
}

static int cb_main(void *arg)
{
	cb_c8 = rg_chan_make(sizeof(void *), 512);
	cb_c24 = rg_chan_make(sizeof(struct cb24), 512);
	cb_c40 = rg_chan_make(sizeof(struct cb40), 512);
	CHECK(cb_c8 && cb_c24 && cb_c40);
	for (int k = 0; k < 3; k++) {
		CHECK(rg_go(cb_producer, (void *)(intptr_t)k) > 0);
		CHECK(rg_go(cb_consumer, (void *)(intptr_t)k) > 0);
	}
	wait_flag(&cb_done, 6);
	CHECK_EQ(atomic_load(&cb_bad), 0);
	rg_chan_free(cb_c8);
	rg_chan_free(cb_c24);
	rg_chan_free(cb_c40);
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_chan_buf_many_p(void) { return run_quiet(cb_main, 4); }

/* =========================================================================
 * taskarg_many_p (passes): env RINGO_GOGC=5.  Spawners on 4 Ps start tasks
 * whose argument is the only reference to a canary object, while the heap
 * churns; many of the tasks wait behind others before they first run.
 * ========================================================================= */
#define TA_SPAWN 3000
#define TA_SIZE 200
static _Atomic int ta_ran, ta_bad, ta_spawners;

static void ta_child(void *arg)
{
	unsigned char *p = arg;
	unsigned char pat = p[8];
	if (!can_ok(p, TA_SIZE, pat))
		atomic_fetch_add(&ta_bad, 1);
	atomic_fetch_add(&ta_ran, 1);
}

static void ta_spawner(void *arg)
{
	for (int i = 0; i < SAN_SCALE(TA_SPAWN); i++) {
		unsigned char *p = can_new(TA_SIZE, (unsigned char)(i | 1));
		CHECK(p);
		CHECK(rg_go(ta_child, p) > 0);
		p = NULL;
		for (int j = 0; j < 4; j++)
			memset(rg_gc_alloc(TA_SIZE), 0xee, TA_SIZE);
	}
	atomic_fetch_add(&ta_spawners, 1);
}

static int ta_main(void *arg)
{
	for (int k = 0; k < 4; k++)
		CHECK(rg_go(ta_spawner, NULL) > 0);
	wait_flag(&ta_spawners, 4);
	wait_flag(&ta_ran, 4 * SAN_SCALE(TA_SPAWN));
	CHECK_EQ(atomic_load(&ta_bad), 0);
	return 0;
}

static int case_taskarg_many_p(void) { return run_quiet(ta_main, 4); }

/* =========================================================================
 * recv_into_gc_buffer (passes): a task parks in rg_recv on a socket into a
 * noscan GC buffer that nothing else refers to (the request record on the
 * task's stack holds it while the kernel may write into it); the other P
 * collects and fills the heap with canaries; then the data arrives.  A
 * freed buffer would be reused by a canary and the kernel's write would
 * show in it.
 * ========================================================================= */
#define RV_SIZE 4096
#define RV_CANS 4000
static int rv_fds[2];
static _Atomic int rv_parked;
static _Atomic long rv_got;
static _Atomic int rv_ok;

__attribute__((noinline)) static void rv_recv(void)
{
	atomic_store(&rv_parked, 1);
	unsigned char *b = rg_gc_alloc_noscan(RV_SIZE);
	CHECK(b);
	ssize_t n = rg_recv(rv_fds[0], b, RV_SIZE, MSG_WAITALL, rg_now() + 30000000000LL);
	atomic_store(&rv_got, (long)n);
	atomic_store(&rv_ok, n == RV_SIZE && all_bytes(b, RV_SIZE, 0x5c) ? 1 : 2);
}

static void rv_task(void *arg) { rv_recv(); }

static int rv_main(void *arg)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rv_fds) != 0)
		return 0;
	CHECK(rg_go(rv_task, NULL) > 0);
	wait_flag(&rv_parked, 1);
	rg_sleep(5000000);
	churn(2, 20000, 64);
	static unsigned char *cans[RV_CANS];
	CHECK_EQ(rg_gc_root_add(cans, sizeof cans), 0);
	for (int i = 0; i < RV_CANS; i++)
		CHECK((cans[i] = can_new(RV_SIZE, 0x33)));
	unsigned char data[RV_SIZE];
	memset(data, 0x5c, sizeof data);
	CHECK_EQ(rg_send_all(rv_fds[1], data, sizeof data, -1, NULL), RV_SIZE);
	int64_t end = rg_now() + 20000000000LL;
	while (!atomic_load(&rv_ok)) {
		CHECK(rg_now() < end);
		rg_sleep(500000);
	}
	int bad = 0;
	for (int i = 0; i < RV_CANS; i++)
		bad += !can_ok(cans[i], RV_SIZE, 0x33);
	if (bad || atomic_load(&rv_ok) != 1)
		fprintf(stderr, "recv_into_gc_buffer: recv %ld, data %s, %d canaries overwritten\n",
		        atomic_load(&rv_got), atomic_load(&rv_ok) == 1 ? "ok" : "bad", bad);
	CHECK_EQ(bad, 0);
	CHECK_EQ(atomic_load(&rv_ok), 1);
	close(rv_fds[0]);
	close(rv_fds[1]);
	return 0;
}

static int case_recv_into_gc_buffer(void)
{
	rg_config cfg = quiet_cfg;
	cfg.procs = 2;
	int r = rg_run(rv_main, NULL, &cfg);
	if (r < 0)
		SKIP("rg_run: %d", r);
	return 0;
}

/* =========================================================================
 * blocking_other_p (passes): tasks keep objects in their frames above an
 * rg_blocking call (the section sleeps on a pool thread) while tasks on
 * the other Ps collect and churn.
 * ========================================================================= */
#define BO_N 8
#define BO_SIZE 2048
static _Atomic int bo_in, bo_release, bo_bad, bo_done;

static intptr_t bo_section(void *arg)
{
	atomic_fetch_add(&bo_in, 1);
	while (!atomic_load(&bo_release))
		usleep(1000);
	return 0;
}

__attribute__((noinline)) static void bo_hold(int i)
{
	unsigned char *volatile obj = can_new(BO_SIZE, (unsigned char)(0xa0 + i));
	CHECK(obj);
	rg_blocking(bo_section, NULL);
	if (!can_ok(obj, BO_SIZE, (unsigned char)(0xa0 + i)))
		atomic_fetch_add(&bo_bad, 1);
	atomic_fetch_add(&bo_done, 1);
}

static void bo_task(void *arg) { bo_hold((int)(intptr_t)arg); }

static void bo_churner(void *arg)
{
	churn(4, 10000, BO_SIZE);
	atomic_fetch_add(&bo_done, 100);
}

static int bo_main(void *arg)
{
	for (int i = 0; i < BO_N; i++)
		CHECK(rg_go(bo_task, (void *)(intptr_t)i) > 0);
	wait_flag(&bo_in, BO_N);
	CHECK(rg_go(bo_churner, NULL) > 0);
	CHECK(rg_go(bo_churner, NULL) > 0);
	wait_flag(&bo_done, 200);
	atomic_store(&bo_release, 1);
	wait_flag(&bo_done, 200 + BO_N);
	CHECK_EQ(atomic_load(&bo_bad), 0);
	return 0;
}

static int case_blocking_other_p(void) { return run_quiet(bo_main, 2); }

/* =========================================================================
 * tls_many_p (passes): tasks on 4 Ps each hold objects only in task-local
 * values and park on a channel while the others churn.
 * ========================================================================= */
#define TL_N 32
#define TL_SIZE 300
static rg_tls_key tl_key;
static rg_chan *tl_go;
static _Atomic int tl_parked, tl_bad, tl_done;

__attribute__((noinline)) static void tl_set(int i)
{
	unsigned char *p = can_new(TL_SIZE, (unsigned char)(0x60 + i));
	CHECK(p);
	CHECK_EQ(rg_tls_set(tl_key, p), 0);
}

static void tl_task(void *arg)
{
	int i = (int)(intptr_t)arg;
	tl_set(i);
	clobber_stack();
	atomic_fetch_add(&tl_parked, 1);
	char c;
	bool ok;
	CHECK_EQ(rg_chan_recv(tl_go, &c, &ok, -1), 0);
	unsigned char *p = rg_tls_get(tl_key);
	if (!p || !can_ok(p, TL_SIZE, (unsigned char)(0x60 + i)))
		atomic_fetch_add(&tl_bad, 1);
	CHECK_EQ(rg_tls_set(tl_key, NULL), 0);
	atomic_fetch_add(&tl_done, 1);
}

static void tl_churner(void *arg)
{
	churn(3, 10000, TL_SIZE);
	atomic_fetch_add(&tl_done, 1000);
}

static int tl_main(void *arg)
{
	CHECK_EQ(rg_tls_key_create(&tl_key, NULL), 0);
	tl_go = rg_chan_make(1, 0);
	CHECK(tl_go);
	for (int i = 0; i < TL_N; i++)
		CHECK(rg_go(tl_task, (void *)(intptr_t)i) > 0);
	wait_flag(&tl_parked, TL_N);
	for (int k = 0; k < 3; k++)
		CHECK(rg_go(tl_churner, NULL) > 0);
	wait_flag(&tl_done, 3000);
	CHECK_EQ(rg_chan_close(tl_go), 0);
	wait_flag(&tl_done, 3000 + TL_N);
	CHECK_EQ(atomic_load(&tl_bad), 0);
	rg_sleep(2000000);
	rg_chan_free(tl_go);
	return 0;
}

static int case_tls_many_p(void) { return run_quiet(tl_main, 4); }

/* =========================================================================
 * class_boundaries (passes): for every size class (read off rg_gc_size)
 * allocate exactly the class size and one byte more, scanned, noscan and
 * typed: the usable size covers the request, the object is 8-aligned
 * (16 from 16 bytes up when the class is a multiple of 16; tiny objects
 * naturally), rg_gc_base of its last byte is its base, it comes back
 * zeroed although the memory was dirtied and freed before, and an object
 * whose only reference points at its last byte survives collections.
 * ========================================================================= */
#define CL_MAX 80
static void *volatile cl_last[2 * CL_MAX * 3]; /* a root: last-byte pointers */
static uintptr_t cl_word_t[1];
static rg_gc_type cl_type = {"cl", 8, (const size_t[]){0}, 1, NULL};

static size_t cl_classes(size_t *out)
{
	size_t n = 0;
	for (size_t s = 1; s <= 32768 && n < CL_MAX; s++) {
		void *p = rg_gc_alloc(s);
		CHECK(p);
		size_t c = rg_gc_size(p);
		CHECK(c >= s);
		if (!n || out[n - 1] != c)
			out[n++] = c;
		s = c; /* next class */
	}
	return n;
}

__attribute__((noinline)) static void cl_dirty(void)
{
	for (size_t s = 8; s <= 40000; s += s / 4 + 8) {
		for (int i = 0; i < 64; i++) {
			unsigned char *p = rg_gc_alloc(s);
			CHECK(p);
			memset(p, 0xdd, s);
		}
	}
	clobber_stack();
}

__attribute__((noinline)) static void cl_fill(const size_t *cls, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		for (int plus = 0; plus < 2; plus++) {
			size_t s = cls[i] + (size_t)plus;
			for (int kind = 0; kind < 3; kind++) {
				size_t req = kind == 2 ? (s + 7) & ~(size_t)7 : s;
				unsigned char *p = kind == 0   ? rg_gc_alloc(req)
				                   : kind == 1 ? rg_gc_alloc_noscan(req)
				                               : rg_gc_alloc_typed(req, &cl_type);
				CHECK(p);
				size_t u = rg_gc_size(p);
				if (u < req || !all_bytes(p, req, 0)) {
					fprintf(stderr, "class_boundaries: size %zu kind %d: usable %zu, %s\n", req,
					        kind, u, all_bytes(p, req, 0) ? "zeroed" : "not zeroed");
					CHECK(0);
				}
				CHECK((uintptr_t)p % 8 == 0 || (kind == 1 && req < 16));
				if (req >= 16 && u % 16 == 0 && req <= 32768)
					CHECK((uintptr_t)p % 16 == 0);
				if (kind == 1 && req < 16 && (req & 7) == 0)
					CHECK((uintptr_t)p % 8 == 0);
				CHECK(rg_gc_base(p + req - 1) == p);
				CHECK(rg_gc_base(p + u - 1) == p);
				CHECK(rg_gc_base(p) == p);
				/* pattern: first word is the address, the rest a byte */
				if (kind != 2 && req >= 16) {
					*(uint64_t *)p = (uint64_t)(uintptr_t)p ^ CAN_MAGIC;
					memset(p + 8, (int)(req & 0xff) | 1, req - 8);
				}
				cl_last[k++] = p + req - 1;
			}
		}
	}
}

static int cl_main(void *arg)
{
	(void)cl_word_t;
	CHECK_EQ(rg_gc_root_add((void *)cl_last, sizeof cl_last), 0);
	size_t cls[CL_MAX];
	size_t n = cl_classes(cls);
	CHECK_EQ(n, 67);
	CHECK_EQ(cls[0], 8);
	CHECK_EQ(cls[n - 1], 32768);
	cl_dirty();
	CHECK_EQ(rg_gc_collect(), 0); /* the dirty memory is free now */
	cl_fill(cls, n);
	clobber_stack();
	churn(3, 5000, 48);
	churn(1, 2000, 1024);
	churn(1, 200, 9000);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		for (int plus = 0; plus < 2; plus++)
			for (int kind = 0; kind < 3; kind++) {
				size_t s = cls[i] + (size_t)plus;
				size_t req = kind == 2 ? (s + 7) & ~(size_t)7 : s;
				unsigned char *last = cl_last[k++];
				unsigned char *p = last - (req - 1);
				CHECK(rg_gc_base(last) == p);
				CHECK(rg__gc_allocated(p));
				if (kind != 2 && req >= 16 &&
				    (*(uint64_t *)p != ((uint64_t)(uintptr_t)p ^ CAN_MAGIC) ||
				     !all_bytes(p + 8, req - 8, (unsigned char)((req & 0xff) | 1)))) {
					fprintf(stderr, "class_boundaries: size %zu kind %d held by its last byte "
					                "was reused\n", req, kind);
					CHECK(0);
				}
			}
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_class_boundaries(void) { return run_quiet(cl_main, 1); }

/* =========================================================================
 * large_reuse_scavenge (passes): tasks on 4 Ps keep a window of large
 * objects (40 KiB to 2 MiB, some typed) with canaries, dropping and
 * allocating them in turn; one task calls rg_gc_free_os_memory over and
 * over, so pages go back to the OS while the others take them again.
 * New objects must be zero, kept ones intact.
 * ========================================================================= */
#define LR_WIN 6
#define LR_ROUNDS 300
static _Atomic int lr_stop, lr_done, lr_bad;

static void lr_worker(void *arg)
{
	uint64_t seed = (uint64_t)(intptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *win[LR_WIN] = {0};
	size_t sz[LR_WIN] = {0};
	for (int r = 0; r < SAN_SCALE(LR_ROUNDS); r++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		int j = (int)(seed % LR_WIN);
		if (win[j] && !can_ok(win[j], sz[j], (unsigned char)(sz[j] >> 10)))
			atomic_fetch_add(&lr_bad, 1);
		size_t s = 32769 + (size_t)(seed >> 20) % (2u << 20);
		unsigned char *p = rg_gc_alloc_noscan(s);
		CHECK(p);
		/* fresh memory is zero: spot checks (the whole of it is slow
		 * under the sanitizers) */
		if (p[0] || p[s / 2] || p[s - 1] || !all_bytes(p, s < 8192 ? s : 8192, 0))
			atomic_fetch_add(&lr_bad, 1);
		*(uint64_t *)p = (uint64_t)(uintptr_t)p ^ CAN_MAGIC;
		memset(p + 8, (int)(unsigned char)(s >> 10), s - 8);
		win[j] = p;
		sz[j] = s;
		if (r % 16 == 0)
			rg_yield();
	}
	for (int j = 0; j < LR_WIN; j++)
		if (win[j] && !can_ok(win[j], sz[j], (unsigned char)(sz[j] >> 10)))
			atomic_fetch_add(&lr_bad, 1);
	atomic_fetch_add(&lr_done, 1);
}

static void lr_scavenger(void *arg)
{
	while (!atomic_load(&lr_stop)) {
		CHECK_EQ(rg_gc_free_os_memory(), 0);
		rg_sleep(2000000);
	}
	atomic_fetch_add(&lr_done, 100);
}

static int lr_main(void *arg)
{
	CHECK(rg_go(lr_scavenger, NULL) > 0);
	for (int k = 0; k < 4; k++)
		CHECK(rg_go(lr_worker, (void *)(intptr_t)(k + 1)) > 0);
	wait_flag(&lr_done, 4);
	atomic_store(&lr_stop, 1);
	wait_flag(&lr_done, 104);
	CHECK_EQ(atomic_load(&lr_bad), 0);
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_large_reuse_scavenge(void) { return run_quiet(lr_main, 4); }

/* =========================================================================
 * memlimit_many_p (passes): env RINGO_MEMLIMIT=48M RINGO_GOGC=5, 8 Ps.
 * Tasks build short linked lists of canary nodes (scanned objects, next
 * pointer first), pass them through a buffered channel to another task,
 * which checks and drops them; collections are constant.  No object may
 * be reused while reachable; allocation may fail only at the limit.
 * ========================================================================= */
#define MM_TASKS 8
#define MM_LISTS 300
#define MM_LEN 40
struct mm_node { struct mm_node *next; uint64_t self; uint64_t tag; unsigned char pad[104]; };
static rg_chan *mm_ch;
static _Atomic int mm_done, mm_bad, mm_null;

static struct mm_node *mm_list(uint64_t tag)
{
	struct mm_node *head = NULL;
	for (int i = 0; i < MM_LEN; i++) {
		struct mm_node *n = rg_gc_alloc(sizeof *n);
		if (!n) {
			atomic_fetch_add(&mm_null, 1);
			return head;
		}
		n->next = head;
		n->self = (uint64_t)(uintptr_t)n ^ CAN_MAGIC;
		n->tag = tag;
		memset(n->pad, (int)(tag & 0xff), sizeof n->pad);
		head = n;
	}
	return head;
}

static void mm_producer(void *arg)
{
	uint64_t base = (uint64_t)(intptr_t)arg << 32;
	for (int i = 0; i < SAN_SCALE(MM_LISTS); i++) {
		struct mm_node *l = mm_list(base + (uint64_t)i);
		CHECK_EQ(rg_chan_send(mm_ch, &l, -1), 0);
		/* garbage, some of it large */
		void *g = rg_gc_alloc_noscan(i % 8 ? 2000 : 100000);
		if (g)
			memset(g, 0xee, 2000);
	}
	atomic_fetch_add(&mm_done, 1);
}

static void mm_consumer(void *arg)
{
	for (int i = 0; i < SAN_SCALE(MM_LISTS); i++) {
		struct mm_node *l;
		bool ok;
		CHECK_EQ(rg_chan_recv(mm_ch, &l, &ok, -1), 0);
		CHECK(ok);
		uint64_t tag = l ? l->tag : 0;
		for (struct mm_node *n = l; n; n = n->next)
			if (n->self != ((uint64_t)(uintptr_t)n ^ CAN_MAGIC) || n->tag != tag ||
			    !all_bytes(n->pad, sizeof n->pad, (unsigned char)(tag & 0xff))) {
				atomic_fetch_add(&mm_bad, 1);
				break;
			}
		if (i % 32 == 0)
			rg_sleep(50000);
	}
	atomic_fetch_add(&mm_done, 1);
}

static int mm_main(void *arg)
{
	mm_ch = rg_chan_make(sizeof(void *), 64);
	CHECK(mm_ch);
	for (int k = 0; k < MM_TASKS; k++) {
		CHECK(rg_go(mm_producer, (void *)(intptr_t)(k + 1)) > 0);
		CHECK(rg_go(mm_consumer, NULL) > 0);
	}
	wait_flag(&mm_done, 2 * MM_TASKS);
	rg_gc_stats st;
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	fprintf(stderr, "memlimit_many_p: %llu collections, %d NULLs, inuse %.1f MiB\n",
	        (unsigned long long)st.num_gc, atomic_load(&mm_null), st.heap_inuse / 1048576.0);
	CHECK_EQ(atomic_load(&mm_bad), 0);
	CHECK(st.heap_inuse <= ((uint64_t)48 << 20));
	CHECK_EQ(atomic_load(&mm_null), 0); /* live data is ~3 MiB */
	rg_chan_free(mm_ch);
	CHECK_EQ(rg__gc_verify(), 0);
	return 0;
}

static int case_memlimit_many_p(void) { return run_quiet(mm_main, 8); }

/* ---- driver ------------------------------------------------------------ */

static const struct tcase cases[] = {
	{"ctx_value_only_ref", case_ctx_value_only_ref, "", true, 30},
	{"ctx_after_func_arg", case_ctx_after_func_arg, "", true, 30},
	{"chan_handoff_parked", case_chan_handoff_parked, "", false, 30},
	{"select_parked", case_select_parked, "", false, 30},
	{"chan_buf_many_p", case_chan_buf_many_p, "RINGO_GOGC=10", false, 60},
	{"taskarg_many_p", case_taskarg_many_p, "RINGO_GOGC=5", false, 60},
	{"recv_into_gc_buffer", case_recv_into_gc_buffer, "", false, 30},
	{"blocking_other_p", case_blocking_other_p, "", false, 30},
	{"tls_many_p", case_tls_many_p, "", false, 30},
	{"class_boundaries", case_class_boundaries, "", false, 30},
	{"large_reuse_scavenge", case_large_reuse_scavenge, "", false, 60},
	{"memlimit_many_p", case_memlimit_many_p, "RINGO_MEMLIMIT=48M RINGO_GOGC=5", false, 60},
};
#define NCASES (sizeof cases / sizeof *cases)

int main(int argc, char **argv)
{
	return adv_main(argc, argv, cases, NCASES, "gc_adversarial2");
}
