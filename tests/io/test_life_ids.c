/* Task ids from an earlier rg_run.
 *
 * rg_go returns a task's id, and rg_cancel(id) interrupts "task id's I/O
 * call" from any thread, -ESRCH "when no live task has this id".  Each
 * rg_run started numbering again at 1 (core/run.c: next_id = 1), so an id
 * kept from one run (by a foreign watchdog thread, in a table that
 * outlives the run) named a task of the next run: rg_cancel of a task
 * that had long exited returned 0 and cancelled somebody else's call,
 * which failed with -ECANCELED.  Ids are now unique in the process, as
 * after-func ids (rg_ctx_after_func) already were. */
// ctest-timeout: 60
#include "io_test.h"

static int64_t old_ids[64];
static int nold;
static int g_pipe[2];

static void nop(void *arg) { (void)arg; }

static int run1(void *arg)
{
	(void)arg;
	old_ids[nold++] = rg_self();
	for (int i = 0; i < 32; i++) {
		int64_t id = rg_go(nop, NULL);
		CHECK(id > 0);
		old_ids[nold++] = id;
	}
	rg_sleep(5 * MS); /* they have all exited */
	return 0;
}

static _Atomic int reader_res = 1;
static _Atomic int readers_parked;

static void reader(void *arg)
{
	(void)arg;
	char c;
	atomic_fetch_add(&readers_parked, 1);
	ssize_t r = rg_read(g_pipe[0], &c, 1, rg_now() + 300 * MS);
	if (r == -ECANCELED)
		atomic_store(&reader_res, (int)r);
}

static int run2(void *arg)
{
	(void)arg;
	CHECK(pipe2(g_pipe, O_CLOEXEC) == 0);
	int64_t me = rg_self();
	for (int i = 0; i < 32; i++)
		CHECK(rg_go(reader, NULL) > 0);
	while (atomic_load(&readers_parked) < 32)
		rg_sleep(MS);
	rg_sleep(5 * MS);
	int hits = 0;
	for (int i = 0; i < nold; i++) {
		if (old_ids[i] == me)
			printf("run 2's main task has run 1's id %lld\n", (long long)me);
		int r = rg_cancel(old_ids[i]); /* every one of them has exited */
		if (r != -ESRCH)
			hits++;
	}
	rg_sleep(400 * MS);
	printf("rg_cancel of %d ids of exited tasks of the last run: %d found a task; "
	       "a reader of this run got %d\n",
	       nold, hits, atomic_load(&reader_res));
	CHECK_EQ(hits, 0);
	CHECK_EQ(atomic_load(&reader_res), 1); /* nobody cancelled */
	close(g_pipe[0]);
	close(g_pipe[1]);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	CHECK_EQ(t_run(run1, 1), 0);
	CHECK_EQ(t_run(run2, 1), 0);
	printf("life_ids: ok\n");
	return T_PASS;
}
