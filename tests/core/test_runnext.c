/* A task readied into a running P's runnext (its readier keeps running)
 * is taken by another P within microseconds, whatever that P was doing:
 * asleep in its ring, spinning for work (step 6b of sched.c's loop), or
 * about to sleep (its recheck).  Thieves leave a runnext alone for 20 us
 * (sched.c: runnext_stuck), so the ready is followed at random delays that
 * catch the other P in each of those states; a lost wake-up shows as a
 * round that only ends by its 10 s bound (latencies are printed, not
 * checked: a loaded VM deschedules vCPUs for tens of milliseconds).  Then a park/ready ping-pong
 * across the Ps: every hand-off arrives, and it mostly stays on one P. */
// ctest-timeout: 120
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "core/core.h"
#include "core/sched_int.h"
#include "ringo.h"

#define ROUNDS (T_SANITIZED ? 300 : 2000)
#define PINGS (T_SANITIZED ? 20000 : 200000)

/* One parked task and its ticket, under lock (as a channel's wait queue). */
struct slot {
	_Atomic int lock;
	rg__task *waiter;
	uint64_t ticket;
};

static void lock(struct slot *s)
{
	while (atomic_exchange_explicit(&s->lock, 1, memory_order_acquire))
		rg__cpu_relax();
}
static void unlock(struct slot *s) { atomic_store_explicit(&s->lock, 0, memory_order_release); }
static bool unlock_cb(rg__task *t, void *arg)
{
	unlock(arg);
	return true;
}

/* Parks the calling task in s until wake_one(s). */
static void wait_in(struct slot *s)
{
	lock(s);
	s->ticket = rg__park_prepare();
	s->waiter = rg__self();
	CHECK_EQ(rg__park(RG__WAIT_OTHER, -1, unlock_cb, s), 0);
}

/* Readies the task parked in s; false if none is parked yet. */
static bool wake_one(struct slot *s)
{
	lock(s);
	rg__task *w = s->waiter;
	s->waiter = NULL;
	bool won = w && rg__claim(w, s->ticket);
	unlock(s);
	if (won)
		rg__ready(w);
	return won;
}

/* --- 1: a stuck runnext is taken ------------------------------------- */

/* A round that missed its bound: what each P and the scheduler looked
 * like (racy reads: a diagnostic for the next hunt, not a check). */
static void dump_sched(void)
{
	fprintf(stderr, "sched: npidle %d nmspinning %d gq_size %d\n", atomic_load(&rg__sched.npidle),
	        atomic_load(&rg__sched.nmspinning), (int)atomic_load(&rg__sched.gq_size));
	for (int i = 0; i < rg__sched.nprocs; i++) {
		rg__p *p = rg__sched.allp[i];
		uint64_t seen = atomic_load(&p->rn_seen);
		fprintf(stderr,
		        "P%d: status %d spinning %d wake_spinning %d sleeping %d on_idle %d runq %u runnext %p "
		        "gen %u seen gen %u at %u us (now %u us) spin_ns %lld\n",
		        i, atomic_load(&p->status), (int)p->spinning, (int)atomic_load(&p->wake_spinning),
		        atomic_load(&p->sleeping), (int)p->on_idle_list,
		        atomic_load(&p->runq_tail) - atomic_load(&p->runq_head), (void *)atomic_load(&p->runnext),
		        atomic_load(&p->runnext_gen), (unsigned)(seen >> 32), (unsigned)seen,
		        (unsigned)(rg_now() / 1000), (long long)p->spin_ns);
	}
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static struct slot helper_slot;
static _Atomic int helper_ran, helper_p, stop;

static void helper(void *arg)
{
	for (;;) {
		wait_in(&helper_slot);
		if (atomic_load(&stop))
			return;
		atomic_store(&helper_p, rg_proc_id());
		atomic_store(&helper_ran, 1);
	}
}

static void stuck_runnext(void)
{
	CHECK(rg_go(helper, NULL) > 0);
	unsigned seed = 1;
	int64_t worst = 0;
	static int64_t lat[ROUNDS];
	for (int round = 0; round < ROUNDS; round++) {
		/* 0..200 us: the other P is still spinning, past its 50 us
		 * allowance and rechecking, or asleep */
		int64_t pause = (int64_t)(rand_r(&seed) % 200) * 1000;
		if (round % 50 == 0)
			pause = 3000000; /* surely asleep */
		rg_sleep(pause);
		atomic_store(&helper_ran, 0);
		while (!wake_one(&helper_slot))
			rg_yield(); /* helper not parked yet */
		/* helper is in this P's runnext; never yield: only another P
		 * can run it */
		int me = rg_proc_id();
		int64_t t0 = rg_now();
		while (!atomic_load(&helper_ran) && rg_now() - t0 < 10000000000LL)
			rg__cpu_relax();
		if (!atomic_load(&helper_ran))
			dump_sched();
		CHECK(atomic_load(&helper_ran));
		CHECK(atomic_load(&helper_p) != me);
		lat[round] = rg_now() - t0;
		if (lat[round] > worst)
			worst = lat[round];
	}
	qsort(lat, ROUNDS, sizeof lat[0], cmp64);
	printf("stuck runnext: %d rounds, to run on the other P: median %lld us, 99%% %lld us, worst %lld us\n",
	       ROUNDS, (long long)lat[ROUNDS / 2] / 1000, (long long)lat[ROUNDS * 99 / 100] / 1000,
	       (long long)worst / 1000);
	atomic_store(&stop, 1);
	while (!wake_one(&helper_slot))
		rg_yield();
}

/* --- 2: ping-pong across Ps ----------------------------------------- */

static struct slot ping, pong;
static _Atomic int pong_done;

static void ponger(void *arg)
{
	for (long i = 0; i < PINGS; i++) {
		wait_in(&ping);
		while (!wake_one(&pong))
			rg_yield();
	}
	atomic_store(&pong_done, 1);
}

static void ping_pong(void)
{
	rg_sched_stats s0, s1;
	rg_sched_stats_get(&s0);
	CHECK(rg_go(ponger, NULL) > 0);
	int64_t t0 = rg_now();
	for (long i = 0; i < PINGS; i++) {
		while (!wake_one(&ping))
			rg_yield();
		wait_in(&pong);
	}
	int64_t el = rg_now() - t0;
	while (!atomic_load(&pong_done))
		rg_yield();
	rg_sched_stats_get(&s1);
	printf("ping-pong: %d round trips, %.0f ns each, %llu steals, %llu wake-ups\n", PINGS,
	       (double)el / PINGS, (unsigned long long)(s1.steals - s0.steals),
	       (unsigned long long)(s1.wakeups - s0.wakeups));
}

static int main_fn(void *arg)
{
	stuck_runnext();
	ping_pong();
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2 };
	int r = rg_run(main_fn, NULL, &cfg);
	if (r == -EINVAL)
		SKIP("fewer than 2 CPUs");
	CHECK_EQ(r, 0);
	return T_PASS;
}
