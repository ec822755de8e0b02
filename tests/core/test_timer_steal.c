/* Timers of a P stuck in one task, fired by an idle P.
 *
 * A P fires its own timers between tasks; one that runs a single task for
 * long holds the due timers parked on it.  sysmon fires them within 2-20
 * ms; an idle P must do it within a fraction of a millisecond (sched.c,
 * step 5b), both while it spins and from its sleep.
 *
 *   task     a task sleeps (1 or 5 ms) on a P whose next task spins until
 *            the sleeper wakes; the other P idles, spinning or asleep
 *            since before the timer was added.  rg_sched_stats.timer_steals
 *            counts the timers fired so.
 *   rtimer   a runtime timer (rg__rtimer, what sync/'s deadline Contexts
 *            use) added by a task that starts another and then spins
 *            until the timer's function ran.
 *
 * Both cases failed before the change: the timers waited for sysmon (median
 * lateness 1.1-2.1 ms, up to 20 ms).  Only the median is checked, against
 * 0.5 ms plus the machine's own wake-up lag (bound), best of 3 attempts:
 * a loaded VM delays the odd wake-up by milliseconds.  That lag is the
 * larger of the median lateness of plain sleeps measured just before and
 * the worst lateness check.h's pinned threads saw during the attempt
 * (t_lag_ns): plain sleeps with no hog stay at microseconds beside CPU
 * hogs while a P asleep beside a spinning one waits for its pinned CPU
 * for milliseconds (beside two hogs, test at nice 19: checked medians of
 * 1.6-266 ms against bounds of 0.51 ms, 10 failures in 10 runs, each
 * attempt up to 40 s).  Likewise idle Ps must fire half the timers only
 * while that lag stays under sysmon's 2 ms: held off their CPU longer,
 * they lose the race to sysmon (5 of 20).  TS_DEBUG=1 prints each round.
 * Run one case with: core_timer_steal NAME. */
// ctest-timeout: 120
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/core.h"
#include "core/sched_int.h"
#include "ringo.h"

#include "core_adv.h"

#define MS 1000000LL
#define ROUNDS 20
#define HOG_MAX (200 * MS) /* a hog gives up after this: no hang */

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int64_t median(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp64);
	return v[n / 2];
}

/* The worst lag check.h's threads see from now on (an attempt's). */
static void lag_reset(void) { atomic_store(&t_lag_max_, 0); }

/* Half a millisecond (sysmon's looks, 2 ms apart at best, give a median
 * near 1 ms), plus twice the median lateness of plain 1 ms sleeps with no
 * hog, measured just before: a loaded VM delays every wake-up by that
 * much, whoever fires the timer; or twice the worst lag seen during the
 * attempt, if larger (lim_now).  Call from a task. */
static int64_t lim_now(int64_t b)
{
	int64_t lag = MS / 2 + 2 * t_lag_ns();
	if (lag > b)
		printf("  bound %.3f ms after the machine's lag in the attempt\n", lag / 1e6);
	return lag > b ? lag : b;
}

static int64_t bound(void)
{
	lag_reset();
	int64_t late[ROUNDS];
	for (int r = 0; r < ROUNDS; r++) {
		int64_t deadline = rg_now() + MS;
		CHECK_EQ(rg_sleep_until(deadline), 0);
		late[r] = rg_now() - deadline;
	}
	int64_t b = MS / 2 + 2 * median(late, ROUNDS);
	printf("  bound %.3f ms\n", b / 1e6);
	return b;
}

static rg_config cfg2(void) { return (rg_config){ .procs = 2, .quiet = 1 }; }

/* --- a task's sleep ------------------------------------------------------ */

static struct {
	_Atomic int woke;
	_Atomic(rg__p *) sleeper_p;
	_Atomic int shared; /* the hog ran on the sleeper's P */
	_Atomic int hog_done;
} ts;

static void hog(void *arg)
{
	(void)arg;
	atomic_store(&ts.shared, rg__getp() == atomic_load(&ts.sleeper_p));
	int64_t end = rg_now() + HOG_MAX;
	while (!atomic_load(&ts.woke) && rg_now() < end)
		; /* no scheduling point */
	atomic_store(&ts.hog_done, 1);
}

/* One attempt: true if the median lateness was under the bound. */
static bool task_attempt(void)
{
	int64_t late[ROUNDS], lim = bound();
	int n = 0, valid = 0;
	rg_sched_stats s0, s1;
	rg_sched_stats_get(&s0);
	for (int r = 0; r < ROUNDS; r++) {
		atomic_store(&ts.woke, 0);
		atomic_store(&ts.hog_done, 0);
		atomic_store(&ts.shared, 0);
		atomic_store(&ts.sleeper_p, rg__getp());
		/* the hog goes to this P's runnext and runs as we park */
		CHECK(rg_go(hog, NULL) > 0);
		int64_t deadline = rg_now() + (r & 1 ? 5 : 1) * MS;
		CHECK_EQ(rg_sleep_until(deadline), 0);
		int64_t l = rg_now() - deadline;
		atomic_store(&ts.woke, 1);
		CHECK(l >= 0);
		while (!atomic_load(&ts.hog_done))
			rg_sleep(100000);
		/* only rounds where the hog held our P test anything (another P
		 * may have taken it from the runnext first) */
		if (getenv("TS_DEBUG"))
			fprintf(stderr, "round %d late %.3f ms shared %d\n", r, l / 1e6, atomic_load(&ts.shared));
		if (atomic_load(&ts.shared)) {
			late[n++] = l;
			valid++;
		}
	}
	rg_sched_stats_get(&s1);
	CHECK(valid >= ROUNDS / 2);
	int64_t med = median(late, n);
	printf("  task: %d/%d rounds shared a P with the hog, lateness median %.3f ms, max %.3f ms, "
	       "timer_steals %llu\n",
	       valid, ROUNDS, med / 1e6, late[n - 1] / 1e6, (unsigned long long)(s1.timer_steals - s0.timer_steals));
	/* sysmon alone: 2-20 ms; an idle P: its grace (50 us) and a wake-up */
	lim = lim_now(lim);
	bool idle_fired = s1.timer_steals - s0.timer_steals >= (uint64_t)valid / 2 || t_lag_ns() >= 2 * MS;
	return med < lim && idle_fired;
}

/* Best of 3 attempts, each in a task of one rg_run on 2 Ps: on a machine
 * whose CPUs other jobs hold, one attempt's wake-ups can all come late
 * (scripts/stress.sh: a median of 0.8 ms against a bound of 0.56 once in
 * 3 runs); sysmon alone never passes. */
static int best_of_3(void *attempt)
{
	bool (*fn)(void) = (bool (*)(void))attempt;
	int tries = 0;
	while (!fn())
		CHECK(++tries < 3);
	return 0;
}

static void run_best_of_3(bool (*attempt)(void))
{
	rg_config c = cfg2();
	CHECK_EQ(rg_run(best_of_3, (void *)attempt, &c), 0);
}

static void case_task(void) { run_best_of_3(task_attempt); }

/* --- a runtime timer ----------------------------------------------------- */

static struct {
	rg__rtimer tm;
	int64_t when;
	_Atomic int64_t fired_at;
} rt;

static void rt_fire(rg__rtimer *tm)
{
	(void)tm;
	atomic_store(&rt.fired_at, rg_now());
}

static void rt_drop(rg__rtimer *tm) { (void)tm; }

static void short_task(void *arg) { (void)arg; }

static bool rtimer_attempt(void)
{
	int64_t late[ROUNDS], lim = bound();
	for (int r = 0; r < ROUNDS; r++) {
		atomic_store(&rt.fired_at, 0);
		rt.when = rg_now() + (r & 1 ? 5 : 1) * MS;
		CHECK_EQ(rg__rtimer_add(&rt.tm, rt.when, rt_fire, rt_drop), 0);
		/* a task spawned wakes the other P, which then sleeps knowing
		 * of the timer (as a handler that starts a helper and then
		 * computes; an idle P asleep since before it was added leaves
		 * it to sysmon: rg__timer_added) */
		CHECK(rg_go(short_task, NULL) > 0);
		/* this task is the hog: its P fires nothing until it stops */
		int64_t end = rg_now() + HOG_MAX;
		while (!atomic_load(&rt.fired_at) && rg_now() < end)
			;
		/* not fired yet: the OS ran neither the other P nor sysmon for
		 * HOG_MAX (a loaded machine); this P fires it once it schedules.
		 * A timer lost never fires. */
		for (end = rg_now() + 30000 * MS; !atomic_load(&rt.fired_at) && rg_now() < end;)
			rg_sleep(MS);
		int64_t at = atomic_load(&rt.fired_at);
		CHECK(at != 0);
		CHECK(at >= rt.when);
		late[r] = at - rt.when;
	}
	int64_t med = median(late, ROUNDS);
	printf("  rtimer: lateness median %.3f ms, max %.3f ms\n", med / 1e6, late[ROUNDS - 1] / 1e6);
	return med < lim_now(lim);
}

static void case_rtimer(void) { run_best_of_3(rtimer_attempt); }

static const struct tcase cases[] = {
	{ "task", case_task, 1 },
	{ "rtimer", case_rtimer, 1 },
};

int main(int argc, char **argv)
{
	(void)loops;
	t_lag_start();
	return adv_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
