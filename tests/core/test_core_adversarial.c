/* Adversarial use of the core API: rg_run misuse (nested, from two threads,
 * absurd configurations, again after a run that discarded thousands of
 * tasks), spawning from threads without a P while the runtime starts and
 * stops, rg_blocking from foreign threads and nested, rg_cancel of odd ids,
 * task-local destructors that spawn, park and allocate, deadlines in the
 * past and far future, a 100k-task yield storm and an overflow of a custom
 * stack.  foreign_spawn_boot and foreign_spawn_stop found a bug (rg_go from
 * a thread without a P raced rg_run's start and teardown: -ENOMEM, and
 * writes into unmapped stacks), fixed 2026-12-06.  Run one case with:
 * core_core_adversarial NAME. */
// ctest-timeout: 300
// ctest-needs-uring (rg_cancel lives in io/; the aarch64 cross build has no io)
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"

#include "core_adv.h"

static void noop(void *arg) { (void)arg; }

static rg_config q1 = { .procs = 1, .quiet = 1, .nopin = 1 };
static rg_config q2 = { .procs = 2, .quiet = 1, .nopin = 1 };

/* --- rg_run misuse ----------------------------------------------------- */

static int ret_arg(void *arg) { return (int)(intptr_t)arg; }

static void *foreign_run(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)rg_run(ret_arg, (void *)1, &q1);
}

static intptr_t blocking_run(void *arg)
{
	(void)arg;
	return rg_run(ret_arg, (void *)1, &q1);
}

static int nested_main(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_run(ret_arg, (void *)1, &q1), -EBUSY);
	CHECK_EQ(rg_run(NULL, NULL, NULL), -EINVAL); /* validated before the busy check */
	CHECK_EQ(rg_blocking(blocking_run, NULL), -EBUSY);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, foreign_run, NULL), 0);
	void *r;
	pthread_join(th, &r);
	CHECK_EQ((intptr_t)r, -EBUSY);
	CHECK_EQ(rg_procs(), 2); /* the failed runs left this one alone */
	return 42;
}

static void case_nested_run(void)
{
	for (int i = 0; i < loops(20); i++)
		CHECK_EQ(rg_run(nested_main, NULL, &q2), 42);
	CHECK_EQ(rg_procs(), 0);
}

static pthread_barrier_t two_bar;

static int sleepy_main(void *arg)
{
	rg_sleep(30 * 1000000LL);
	return (int)(intptr_t)arg;
}

static void *racer(void *arg)
{
	pthread_barrier_wait(&two_bar);
	return (void *)(intptr_t)rg_run(sleepy_main, arg, &q1);
}

static void case_two_threads_run(void)
{
	for (int i = 0; i < loops(20); i++) {
		pthread_barrier_init(&two_bar, NULL, 2);
		pthread_t a, b;
		CHECK_EQ(pthread_create(&a, NULL, racer, (void *)5), 0);
		CHECK_EQ(pthread_create(&b, NULL, racer, (void *)6), 0);
		void *ra, *rb;
		pthread_join(a, &ra);
		pthread_join(b, &rb);
		pthread_barrier_destroy(&two_bar);
		intptr_t x = (intptr_t)ra, y = (intptr_t)rb;
		CHECK(x == 5 || x == -EBUSY);
		CHECK(y == 6 || y == -EBUSY);
		CHECK(x == 5 || y == 6); /* at least one ran */
	}
}

/* --- absurd configurations -------------------------------------------- */

static _Atomic long cnt;

static void counter_task(void *arg)
{
	(void)arg;
	rg_sleep(100000);
	atomic_fetch_add(&cnt, 1);
}

static int cfg_main(void *arg)
{
	int want = (int)(intptr_t)arg;
	CHECK_EQ(rg_procs(), want);
	int pid = rg_proc_id();
	CHECK(pid >= 0 && pid < want);
	atomic_store(&cnt, 0);
	for (int i = 0; i < 200; i++)
		CHECK(rg_go(counter_task, NULL) > 0);
	while (atomic_load(&cnt) < 200)
		rg_sleep(100000);
	return 7;
}

static void case_config(void)
{
	/* rejected */
	int bad_procs[] = { -1, -1000, (int)0x80000000u, 1025, 10000, 0x7fffffff };
	for (size_t i = 0; i < sizeof bad_procs / sizeof bad_procs[0]; i++)
		CHECK_EQ(rg_run(cfg_main, NULL, &(rg_config){ .procs = bad_procs[i], .quiet = 1 }), -EINVAL);
	size_t bad_ss[] = { 1, 4096, 16 * 1024 - 1, ((size_t)1 << 30) + 1, SIZE_MAX };
	for (size_t i = 0; i < sizeof bad_ss / sizeof bad_ss[0]; i++)
		CHECK_EQ(rg_run(cfg_main, NULL, &(rg_config){ .stack_size = bad_ss[i], .quiet = 1 }), -EINVAL);
	unsigned bad_re[] = { 32769, 100000, 0xffffffffu };
	for (size_t i = 0; i < sizeof bad_re / sizeof bad_re[0]; i++)
		CHECK_EQ(rg_run(cfg_main, NULL, &(rg_config){ .ring_entries = bad_re[i], .quiet = 1 }), -EINVAL);
	/* accepted, and a run works with them */
	unsigned ok_re[] = { 1, 2, 3, 100, 32768 };
	for (size_t i = 0; i < sizeof ok_re / sizeof ok_re[0]; i++)
		CHECK_EQ(rg_run(cfg_main, (void *)2,
		                &(rg_config){ .procs = 2, .ring_entries = ok_re[i], .quiet = 1, .nopin = 1 }), 7);
	size_t ok_ss[] = { 16 * 1024, 16 * 1024 + 1, 20000, 100001, (size_t)1 << 30 };
	/* ASan unpoisons a whole stack at each spawn: 1 GiB stacks for 200
	 * tasks is 25 GiB of shadow (the OOM killer ended the run) */
	for (size_t i = 0; i < sizeof ok_ss / sizeof ok_ss[0] - (T_SANITIZED ? 1 : 0); i++)
		CHECK_EQ(rg_run(cfg_main, (void *)2,
		                &(rg_config){ .procs = 2, .stack_size = ok_ss[i], .quiet = 1, .nopin = 1 }), 7);
	/* more Ps than CPUs share them; with pinning too */
	CHECK_EQ(rg_run(cfg_main, (void *)16, &(rg_config){ .procs = 16, .quiet = 1 }), 7);
	CHECK_EQ(rg_run(cfg_main, (void *)64, &(rg_config){ .procs = 64, .quiet = 1, .nopin = 1 }), 7);
}

/* --- rg_go argument checks, odd stack sizes ---------------------------- */

static _Atomic int deep_ok;

__attribute__((noinline)) static void use_stack(size_t n)
{
	volatile char buf[n];
	memset((char *)buf, 0x5a, n);
	CHECK(buf[n - 1] == 0x5a);
	atomic_fetch_add(&deep_ok, 1);
}

static void stack_user(void *arg) { use_stack((size_t)(uintptr_t)arg); }

static int go_main(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_go(NULL, NULL), -EINVAL);
	CHECK_EQ(rg_go_opts(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(rg_go_opts(NULL, NULL, &(rg_task_opts){ .stack_size = 65536 }), -EINVAL);
	CHECK_EQ(rg_go_opts(noop, NULL, &(rg_task_opts){ .stack_size = 16 * 1024 - 1 }), -EINVAL);
	CHECK_EQ(rg_go_opts(noop, NULL, &(rg_task_opts){ .stack_size = ((size_t)1 << 30) + 1 }), -EINVAL);
	atomic_store(&deep_ok, 0);
	/* not page multiples: rounded up; each uses most of what it asked */
	size_t sizes[] = { 16 * 1024, 16 * 1024 + 1, 16 * 1024 + 4095, 65535, 65537, 100001, 1 << 20, (size_t)1 << 30 };
	int n = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] - (T_SANITIZED ? 1 : 0); i++) {
		size_t use = sizes[i] - 8 * 1024;
		if (use > (1 << 20))
			use = 1 << 20;
		int64_t id = rg_go_opts(stack_user, (void *)(uintptr_t)use,
		                        &(rg_task_opts){ .stack_size = sizes[i], .name = "" });
		CHECK(id > 0);
		n++;
	}
	/* NULL opts and zero opts are the default */
	CHECK(rg_go_opts(stack_user, (void *)(uintptr_t)(32 * 1024), NULL) > 0);
	CHECK(rg_go_opts(stack_user, (void *)(uintptr_t)(32 * 1024), &(rg_task_opts){ 0 }) > 0);
	n += 2;
	while (atomic_load(&deep_ok) < n)
		rg_sleep(100000);
	return 0;
}

static void case_go_args(void)
{
	for (int i = 0; i < loops(10); i++)
		CHECK_EQ(rg_run(go_main, NULL, &q2), 0);
	CHECK_EQ(rg_go(NULL, NULL), -EINVAL);
	CHECK_EQ(rg_go(noop, NULL), -ESHUTDOWN);
}

/* --- rg_run again after thousands of tasks were discarded -------------- */

static _Atomic int parked_started;
static rg_tls_key discard_key = -1;
static _Atomic int discard_dtor_runs;

static void discard_dtor(void *v)
{
	(void)v;
	atomic_fetch_add(&discard_dtor_runs, 1);
}

static void forever_sleeper(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_tls_set(discard_key, (void *)1), 0);
	atomic_fetch_add(&parked_started, 1);
	rg_sleep_until(INT64_MAX);
	CHECK(0 && "must not wake");
}

static void forever_yielder(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked_started, 1);
	for (;;)
		rg_yield();
}

static int discard_main(void *arg)
{
	(void)arg;
	rg_sched_stats s;
	rg_sched_stats_get(&s);
	CHECK_EQ(s.tasks_spawned, 1); /* counters start again with each run */
	CHECK(rg_self() > 0);
	atomic_store(&parked_started, 0);
	int ns = 3000, ny = 200, nc = 50;
	for (int i = 0; i < ns; i++)
		CHECK(rg_go(forever_sleeper, NULL) > 0);
	for (int i = 0; i < ny; i++)
		CHECK(rg_go(forever_yielder, NULL) > 0);
	for (int i = 0; i < nc; i++) /* custom stacks, parked */
		CHECK(rg_go_opts(forever_sleeper, NULL, &(rg_task_opts){ .stack_size = 40000 }) > 0);
	while (atomic_load(&parked_started) < ns + ny + nc)
		rg_sleep(1000000);
	for (int i = 0; i < 2000; i++) /* runnable, never ran */
		CHECK(rg_go(forever_sleeper, NULL) > 0);
	return 11;
}

static void case_rerun_after_discard(void)
{
	if (discard_key < 0)
		CHECK_EQ(rg_tls_key_create(&discard_key, discard_dtor), 0);
	for (int i = 0; i < loops(10); i++) {
		int64_t t0 = rg_now();
		CHECK_EQ(rg_run(discard_main, NULL, i & 1 ? &q1 : &q2), 11);
		CHECK(rg_now() - t0 < 30LL * 1000000000);
	}
	/* core.h: discarded tasks do not run their destructors */
	CHECK_EQ(atomic_load(&discard_dtor_runs), 0);
	CHECK_EQ(rg_run(cfg_main, (void *)2, &q2), 7);
}

/* --- spawns from threads without a P while the runtime starts/stops ---- */

static _Atomic int spawner_stop;
static _Atomic long foreign_ok, foreign_shut, foreign_ran;

static void foreign_task(void *arg)
{
	(void)arg;
	atomic_fetch_add(&foreign_ran, 1);
}

static void *spawner(void *arg)
{
	(void)arg;
	while (!atomic_load(&spawner_stop)) {
		int64_t r = rg_go(foreign_task, NULL);
		if (r > 0)
			atomic_fetch_add(&foreign_ok, 1);
		else if (r == -ESHUTDOWN)
			atomic_fetch_add(&foreign_shut, 1);
		else {
			fprintf(stderr, "rg_go from a foreign thread returned %lld\n", (long long)r);
			CHECK(0 && "rg_go from a foreign thread: unexpected result");
		}
	}
	return NULL;
}

static int short_main(void *arg)
{
	(void)arg;
	rg_sleep(500000);
	return 3;
}

static void spawn_storm_while_stopping(int runs, int warm)
{
	if (warm) /* a first run has set the stack allocator up */
		CHECK_EQ(rg_run(cfg_main, (void *)2, &q2), 7);
	atomic_store(&spawner_stop, 0);
	enum { NS = 3 };
	pthread_t th[NS];
	for (int i = 0; i < NS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, spawner, NULL), 0);
	for (int i = 0; i < runs; i++)
		CHECK_EQ(rg_run(short_main, NULL, i & 1 ? &q1 : &q2), 3);
	atomic_store(&spawner_stop, 1);
	for (int i = 0; i < NS; i++)
		pthread_join(th[i], NULL);
	CHECK(atomic_load(&foreign_shut) > 0);
	CHECK_EQ(rg_go(foreign_task, NULL), -ESHUTDOWN);
	printf("foreign spawns: %ld ok, %ld refused, %ld ran\n", atomic_load(&foreign_ok),
	       atomic_load(&foreign_shut), atomic_load(&foreign_ran));
	/* the runtime still starts cleanly after all that */
	CHECK_EQ(rg_run(cfg_main, (void *)2, &q2), 7);
}

static void foreign_spawn_child(int warm)
{
	if (T_TSAN) {
		/* TSan cannot start threads in a child forked from a
		 * multi-threaded process: run it here (the runtime has run
		 * before, so this is the "stop" race, not the first start) */
		spawn_storm_while_stopping(loops(50), 0);
		return;
	}
	/* in a child: a crash here must not take the other cases down */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		spawn_storm_while_stopping(loops(50), warm);
		_exit(0);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "foreign_spawn_stop child: %s %d\n",
		        WIFSIGNALED(status) ? "signal" : "exit",
		        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Foreign spawners racing the first rg_run of the process (its start). */
static void case_foreign_spawn_boot(void) { foreign_spawn_child(0); }
/* ... and racing later runs' starts and stops. */
static void case_foreign_spawn_stop(void) { foreign_spawn_child(1); }

/* --- rg_blocking: foreign threads, nesting, spawning, shutdown --------- */

static intptr_t ret_plus_one(void *arg) { return (intptr_t)arg + 1; }

static intptr_t inner_blocking(void *arg)
{
	CHECK_EQ(rg_proc_id(), -1);
	return rg_blocking(ret_plus_one, arg) + 10;
}

static int64_t self_in_task;

static intptr_t blocking_probe(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_proc_id(), -1);
	CHECK_EQ(rg_self(), self_in_task); /* still the same task */
	CHECK(rg_go(counter_task, NULL) > 0); /* spawn from a thread without a P */
	CHECK_EQ(rg_sleep(100000), 0);       /* sleeps the thread */
	rg_yield();                           /* yields the thread */
	CHECK_EQ(rg_blocking(NULL, NULL), -EINVAL);
	return rg_blocking(inner_blocking, (void *)5);
}

static void *foreign_blocking(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_blocking(ret_plus_one, (void *)1), 2);
	CHECK_EQ(rg_blocking(inner_blocking, (void *)1), 12);
	CHECK_EQ(rg_blocking(NULL, NULL), -EINVAL);
	return NULL;
}

static _Atomic int slow_done;

static intptr_t slow_section(void *arg)
{
	(void)arg;
	usleep(100000);
	atomic_store(&slow_done, 1);
	return 0;
}

static void slow_blocker(void *arg)
{
	(void)arg;
	rg_blocking(slow_section, NULL);
}

static int blocking_main(void *arg)
{
	(void)arg;
	self_in_task = rg_self();
	atomic_store(&cnt, 0);
	CHECK_EQ(rg_blocking(blocking_probe, NULL), 16);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, foreign_blocking, NULL), 0);
	pthread_join(th, NULL);
	while (atomic_load(&cnt) < 1)
		rg_sleep(100000);
	/* a section still running when main returns is waited for */
	atomic_store(&slow_done, 0);
	CHECK(rg_go(slow_blocker, NULL) > 0);
	rg_sleep(10000000);
	return 9;
}

static void case_blocking(void)
{
	foreign_blocking(NULL); /* no runtime at all */
	for (int i = 0; i < loops(10); i++) {
		CHECK_EQ(rg_run(blocking_main, NULL, i & 1 ? &q1 : &q2), 9);
		CHECK_EQ(atomic_load(&slow_done), 1);
	}
}

/* --- rg_cancel of odd ids ---------------------------------------------- */

static _Atomic int64_t exited_id;
static void record_and_exit(void *arg)
{
	(void)arg;
	atomic_store(&exited_id, rg_self());
}

static int cancel_main(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_cancel(0), -ESRCH);
	CHECK_EQ(rg_cancel(-1), -ESRCH);
	CHECK_EQ(rg_cancel(INT64_MIN), -ESRCH);
	CHECK_EQ(rg_cancel(INT64_MAX), -ESRCH);
	atomic_store(&exited_id, 0);
	int64_t id = rg_go(record_and_exit, NULL);
	CHECK(id > 0);
	while (atomic_load(&exited_id) != id)
		rg_sleep(100000);
	rg_sleep(1000000); /* it has switched away for good */
	CHECK_EQ(rg_cancel(id), -ESRCH);
	/* self: nothing to interrupt; the task carries on and can sleep */
	CHECK_EQ(rg_cancel(rg_self()), 0);
	int64_t t0 = rg_now();
	CHECK_EQ(rg_sleep(2000000), 0);
	CHECK(rg_now() - t0 >= 2000000);
	/* the exited task's record is reused by a new task with a new id:
	 * the old id still finds nothing */
	for (int i = 0; i < 100; i++)
		CHECK(rg_go(noop, NULL) > 0);
	rg_sleep(1000000);
	CHECK_EQ(rg_cancel(id), -ESRCH);
	return 0;
}

static void case_cancel_ids(void)
{
	CHECK_EQ(rg_cancel(1), -ESRCH); /* outside rg_run */
	for (int i = 0; i < loops(20); i++)
		CHECK_EQ(rg_run(cancel_main, NULL, &q2), 0);
}

/* --- task-local destructors that spawn, park, allocate, re-set --------- */

static rg_tls_key k_spawn = -1, k_reset = -1, k_park = -1;
static _Atomic long spawned_by_dtor, reset_calls, park_dtor_done;

static void child_of_dtor(void *arg)
{
	free(arg);
	atomic_fetch_add(&spawned_by_dtor, 1);
}

static void dtor_spawn(void *v)
{
	free(v);
	void *m = malloc(1000);
	CHECK(m != NULL);
	int64_t r = rg_go(child_of_dtor, m);
	if (r <= 0) { /* only the main task's, as the run stops */
		CHECK_EQ(r, -ESHUTDOWN);
		free(m);
	}
}

static void dtor_reset(void *v)
{
	atomic_fetch_add(&reset_calls, 1);
	/* sets a new value each round: re-run at most 4 rounds in all */
	CHECK_EQ(rg_tls_set(k_reset, (char *)v + 1), 0);
}

static intptr_t plus(void *a) { return (intptr_t)a + 1; }

static void dtor_park(void *v)
{
	CHECK_EQ(rg_sleep(10000), 0);
	CHECK_EQ(rg_blocking(plus, v), (intptr_t)v + 1);
	rg_yield();
	CHECK_EQ(rg_tls_get(k_park), NULL); /* cleared before its destructor */
	atomic_fetch_add(&park_dtor_done, 1);
}

static void tls_task(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_tls_set(k_spawn, malloc(64)), 0);
	CHECK_EQ(rg_tls_set(k_reset, (void *)0x1000), 0);
	CHECK_EQ(rg_tls_set(k_park, (void *)7), 0);
	CHECK_EQ(rg_tls_set(k_park + 1000, (void *)7), -EINVAL);
	CHECK_EQ(rg_tls_set(-1, (void *)7), -EINVAL);
	CHECK(rg_tls_get(-1) == NULL);
	CHECK(rg_tls_get(1 << 20) == NULL);
}

static int tls_main(void *arg)
{
	(void)arg;
	int n = 300;
	atomic_store(&spawned_by_dtor, 0);
	atomic_store(&reset_calls, 0);
	atomic_store(&park_dtor_done, 0);
	for (int i = 0; i < n; i++)
		CHECK(rg_go(tls_task, NULL) > 0);
	int64_t end = rg_now() + 20LL * 1000000000;
	/* reset_calls too: a task's last reset rounds follow its park
	 * destructor's count, and may still be running on another P */
	while ((atomic_load(&spawned_by_dtor) < n || atomic_load(&park_dtor_done) < n ||
	        atomic_load(&reset_calls) < 4L * n) && rg_now() < end)
		rg_sleep(200000);
	CHECK_EQ(atomic_load(&spawned_by_dtor), n);
	CHECK_EQ(atomic_load(&park_dtor_done), n);
	CHECK_EQ(atomic_load(&reset_calls), 4L * n);
	/* the main task's own destructors run as it exits */
	CHECK_EQ(rg_tls_set(k_spawn, malloc(64)), 0);
	CHECK_EQ(rg_tls_set(k_park, (void *)9), 0);
	return 1;
}

static void case_tls_dtors(void)
{
	if (k_spawn < 0) {
		CHECK_EQ(rg_tls_key_create(&k_spawn, dtor_spawn), 0);
		CHECK_EQ(rg_tls_key_create(&k_reset, dtor_reset), 0);
		CHECK_EQ(rg_tls_key_create(&k_park, dtor_park), 0);
	}
	CHECK_EQ(rg_tls_set(k_spawn, (void *)1), -EINVAL); /* outside a task */
	CHECK(rg_tls_get(k_spawn) == NULL);
	for (int i = 0; i < loops(20); i++) {
		CHECK_EQ(rg_run(tls_main, NULL, i & 1 ? &q1 : &q2), 1);
		CHECK_EQ(atomic_load(&park_dtor_done), 300 + 1); /* main's too */
	}
}

/* --- deadlines in the past and the far future -------------------------- */

static _Atomic int far_started;

static void far_sleeper(void *arg)
{
	int64_t d = (int64_t)(intptr_t)arg;
	atomic_fetch_add(&far_started, 1);
	if (d)
		rg_sleep_until(d);
	else
		rg_sleep(INT64_MAX);
	CHECK(0 && "far sleeper woke");
}

static int sleep_main(void *arg)
{
	(void)arg;
	int64_t now = rg_now();
	int64_t t0 = rg_now();
	CHECK_EQ(rg_sleep_until(0), 0);
	CHECK_EQ(rg_sleep_until(1), 0);
	CHECK_EQ(rg_sleep_until(now - 1000000000), 0);
	CHECK_EQ(rg_sleep_until(now), 0);
	CHECK_EQ(rg_sleep(0), 0);
	CHECK_EQ(rg_sleep(-1), -EINVAL);
	CHECK_EQ(rg_sleep(INT64_MIN), -EINVAL);
	int r = rg_sleep_until(-1); /* see the report: the header says 0 */
	CHECK(r == 0 || r == -EINVAL);
	CHECK(rg_now() - t0 < 1000000000); /* none of those waited */
	/* far deadlines: park, never fire, do not disturb near ones */
	atomic_store(&far_started, 0);
	int64_t far[] = { INT64_MAX, INT64_MAX - 1, now + (int64_t)1e18, 0 /* rg_sleep(INT64_MAX) */ };
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 50; j++)
			CHECK(rg_go(far_sleeper, (void *)(intptr_t)far[i]) > 0);
	while (atomic_load(&far_started) < 200)
		rg_sleep(100000);
	t0 = rg_now();
	CHECK_EQ(rg_sleep(3000000), 0);
	int64_t el = rg_now() - t0;
	CHECK(el >= 3000000);
	CHECK(el < 2000000000LL + 2 * t_lag_ns());
	t0 = rg_now();
	CHECK_EQ(rg_sleep_until(t0 + 2000000), 0);
	CHECK(rg_now() >= t0 + 2000000);
	return 0;
}

static void case_sleep_deadlines(void)
{
	t_lag_start();
	CHECK_EQ(rg_sleep_until(rg_now() - 5), 0); /* outside: sleeps the thread, not at all */
	for (int i = 0; i < loops(20); i++)
		CHECK_EQ(rg_run(sleep_main, NULL, i & 1 ? &q1 : &q2), 0);
}

/* --- 100k-task yield storm -------------------------------------------- */

static _Atomic long storm_done, storm_yields;

static void storm_task(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		rg_yield();
		rg_preempt_point();
	}
	atomic_fetch_add_explicit(&storm_yields, 10, memory_order_relaxed);
	atomic_fetch_add(&storm_done, 1);
}

static int storm_main(void *arg)
{
	long n = (long)(intptr_t)arg;
	atomic_store(&storm_done, 0);
	atomic_store(&storm_yields, 0);
	for (long i = 0; i < n; i++)
		CHECK(rg_go(storm_task, NULL) > 0);
	while (atomic_load(&storm_done) < n)
		rg_yield(); /* main yields in the storm too */
	CHECK_EQ(atomic_load(&storm_yields), 10 * n);
	rg_sched_stats s;
	rg_sched_stats_get(&s);
	/* a task counts its exit after its last store: at most one per P is
	 * still on its way out */
	CHECK(s.tasks_exited + (uint64_t)rg_procs() >= (uint64_t)n);
	CHECK(s.tasks_spawned >= (uint64_t)n + 1);
	return 0;
}

static void case_yield_storm(void)
{
	long n = T_SANITIZED ? 20000 : 100000;
	for (int i = 0; i < loops(10); i++) {
		int64_t t0 = rg_now();
		CHECK_EQ(rg_run(storm_main, (void *)(intptr_t)n, i & 1 ? &q1 : &q2), 0);
		printf("yield storm %ld tasks: %.1f ms\n", n, (rg_now() - t0) / 1e6);
	}
}

/* --- overflow of a custom stack: one clear line, SIGABRT -------------- */

static int overflow_main(void *arg)
{
	size_t ss = (size_t)(uintptr_t)arg;
	CHECK(rg_go_opts(t_dive, NULL, &(rg_task_opts){ .stack_size = ss, .name = "custom-diver" }) > 0);
	rg_sleep(5LL * 1000000000);
	return 0;
}

static size_t overflow_ss;

static void overflow_run(void)
{
	rg_run(overflow_main, (void *)(uintptr_t)overflow_ss, &q2);
}

static void overflow_child(size_t ss, const char *expect)
{
	char out[4096];
	overflow_ss = ss;
	int status = t_fork_stderr(overflow_run, out, sizeof out);
	if (!strstr(out, expect))
		fprintf(stderr, "child said: %s (wanted %s)\n", out, expect);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGABRT);
	CHECK(strstr(out, expect) != NULL);
}

static void case_custom_overflow(void)
{
#if T_SANITIZED
	printf("custom_overflow: skipped under sanitizers\n");
	return;
#endif
	for (int i = 0; i < loops(10); i++) {
		overflow_child(256 * 1024, "(custom-diver) overflowed its 256 KiB stack");
		overflow_child(100000, "(custom-diver) overflowed its 100 KiB stack"); /* rounded up */
		overflow_child(16 * 1024, "(custom-diver) overflowed its 16 KiB stack");
	}
}

/* --- driver ------------------------------------------------------------ */

static const struct tcase cases[] = {
	{ "nested_run", case_nested_run, 0 },
	{ "two_threads_run", case_two_threads_run, 0 },
	{ "config", case_config, 0 },
	{ "go_args", case_go_args, 0 },
	{ "rerun_after_discard", case_rerun_after_discard, 0 },
	{ "blocking", case_blocking, 0 },
	{ "cancel_ids", case_cancel_ids, 0 },
	{ "tls_dtors", case_tls_dtors, 0 },
	{ "sleep_deadlines", case_sleep_deadlines, 0 },
	{ "yield_storm", case_yield_storm, 0 },
	{ "custom_overflow", case_custom_overflow, 0 },
	{ "foreign_spawn_boot", case_foreign_spawn_boot, 1 },
	{ "foreign_spawn_stop", case_foreign_spawn_stop, 1 },
};

int main(int argc, char **argv)
{
	return adv_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
