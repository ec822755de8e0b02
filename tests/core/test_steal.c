/* Work spreads over every P (stealing), and an idle P wakes promptly. */
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"

#define NPROCS 2
#define NTASKS 64
static _Atomic int ran_on[NPROCS];
static _Atomic int done;

static void spin_ms(int ms)
{
	int64_t end = rg_now() + (int64_t)ms * 1000000;
	while (rg_now() < end)
		;
}

static void worker(void *arg)
{
	spin_ms(2); /* no yield: only stealing can move the others */
	atomic_fetch_add(&ran_on[rg_proc_id()], 1);
	atomic_fetch_add(&done, 1);
}

static _Atomic int64_t woke_at;
static void wakee(void *arg)
{
	atomic_store(&woke_at, rg_now());
}

static int main_fn(void *arg)
{
	for (int i = 0; i < NTASKS; i++)
		CHECK(rg_go(worker, NULL) > 0);
	while (atomic_load(&done) < NTASKS)
		rg_sleep(1000000);
	for (int i = 0; i < NPROCS; i++) {
		printf("P%d ran %d tasks\n", i, atomic_load(&ran_on[i]));
		CHECK(atomic_load(&ran_on[i]) >= 1); /* the OS may starve a vCPU: proportions are not ours */
	}
	rg_sched_stats st;
	rg_sched_stats_get(&st);
	CHECK(st.steals > 0);

	/* Idle wake: every other P is asleep in its ring.  Spawn a task, then
	 * keep this P busy without yielding: only an idle P can run it. */
	int64_t worst = 0;
	for (int round = 0; round < 20; round++) {
		rg_sleep(5000000); /* let the other P go idle */
		atomic_store(&woke_at, 0);
		int64_t t0 = rg_now();
		CHECK(rg_go(wakee, NULL) > 0);
		while (atomic_load(&woke_at) == 0 && rg_now() - t0 < 1000000000)
			;
		int64_t lat = atomic_load(&woke_at) - t0;
		CHECK(atomic_load(&woke_at) != 0);
		if (lat > worst)
			worst = lat;
	}
	printf("worst idle-P wake latency %lld us\n", (long long)worst / 1000);
	CHECK(worst < 100000000); /* 100 ms: generous for a noisy VM */
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = NPROCS };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
	return T_PASS;
}
