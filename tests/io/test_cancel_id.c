/* rg_cancel(id) on a task that is exiting.  rg_cancel finds the task by
 * id and then marks its I/O slot; between the two the task may exit, and
 * its record be unmapped (a stack size of its own) or reused by a new task
 * (pooled), which the mark would then cancel although nobody asked.  Here
 * "target" tasks publish their ids and exit at once while a foreign thread
 * and a task keep cancelling the published ids, and "bystander" tasks,
 * whose ids are never published, make I/O calls on the records the targets
 * leave: a bystander's call must never end with -ECANCELED. */
// ctest-timeout: 120
#include <poll.h>
#include <pthread.h>

#include "io_test.h"

static long nspawn(void) { return T_SANITIZED ? 20000 : 200000; }

enum { RING = 64 };
static _Atomic int64_t ids[RING];
static _Atomic long next_slot, stop, spurious, calls, exited;
static int sp[2]; /* a socketpair; fd 0 always has bytes to read */

static void target(void *arg)
{
	(void)arg;
	atomic_store(&ids[atomic_fetch_add(&next_slot, 1) % RING], rg_self());
	atomic_fetch_add(&exited, 1);
}

static void bystander(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		/* rg_poll on readable data: one op, no bytes taken */
		int r = rg_poll(sp[0], POLLIN, -1);
		atomic_fetch_add(&calls, 1);
		if (r == -ECANCELED)
			atomic_fetch_add(&spurious, 1);
		else
			CHECK(r > 0);
	}
	atomic_fetch_add(&exited, 1);
}

static void cancel_some(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	int64_t id = atomic_load(&ids[(*s >> 16) % RING]);
	if (id > 0)
		rg_cancel(id);
}

static void *foreign(void *arg)
{
	(void)arg;
	unsigned s = 7;
	while (!atomic_load(&stop))
		cancel_some(&s);
	return NULL;
}

static void canceller(void *arg)
{
	(void)arg;
	unsigned s = 99;
	while (!atomic_load(&stop)) {
		for (int i = 0; i < 64; i++)
			cancel_some(&s);
		rg_yield();
	}
}

static int main_fn(void *arg)
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	CHECK_EQ(write(sp[1], "x", 1), 1);
	CHECK(rg_go(canceller, NULL) > 0);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, foreign, NULL) == 0);
	rg_task_opts big = { .stack_size = 64 << 10 };
	long n = nspawn();
	for (long i = 0; i < n; i++) {
		bool custom = (i >> 2) & 1; /* runs of pooled and unmapped records */
		if (i & 1)
			CHECK(rg_go(bystander, NULL) > 0);
		else
			CHECK(rg_go_opts(target, NULL, custom ? &big : NULL) > 0);
		if (i % 16 == 15)
			while (atomic_load(&exited) < i - 64)
				rg_yield();
	}
	while (atomic_load(&exited) < n)
		rg_yield();
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	rg_sleep(2 * MS); /* the canceller task sees stop */
	printf("%s: %ld tasks, %ld bystander calls, %ld cancelled by mistake\n", rg_io_backend(), n,
	       atomic_load(&calls), atomic_load(&spurious));
	CHECK_EQ(atomic_load(&spurious), 0);
	close(sp[0]);
	close(sp[1]);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
