/* A process forked after rg_run, both sides running rg_run again.
 *
 * io/cancel.c keeps each P's cancel eventfd open from run to run (pio_fini:
 * a thread outside the runtime may still write to it).  A child forked
 * after a run inherits the descriptor *and* efd_made, so its rg_run reads
 * its cross-thread cancel requests from the very eventfd the parent's P
 * reads too: each write (one per request, from rg_cancel on a thread that
 * is not the op's P, a Context's end there, a hop) wakes whichever ring
 * reads first.  When the parent's ring takes it, the child's P never
 * drains its request: the cancelled task stays in its call (deadline -1:
 * for ever).  A pre-forking server (set up with ringo, fork the workers,
 * each runs rg_run) loses cancels so.
 *
 * Here: one run in the parent makes P0's eventfd; fork; the parent runs
 * again with a task parked in a read (its ring has the eventfd's read
 * armed), the child cancels 20 parked readers one by one from a
 * blocking-pool thread (not a P: request + eventfd write) and counts the
 * cancels that did not arrive within 1 s. */
// ctest-timeout: 120
#include <sys/wait.h>

#include "io_test.h"

static int sync_pipe[2], parent_pipe[2], child_pipe[2];

static int warm(void *arg)
{
	(void)arg;
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	char c = 'x';
	CHECK_EQ(rg_write(p[1], &c, 1, -1), 1);
	CHECK_EQ(rg_read(p[0], &c, 1, -1), 1); /* an op on P0: its io state, the eventfd */
	close(p[0]);
	close(p[1]);
	return 0;
}

/* ---- the parent's second run ---- */

static void parent_reader(void *arg)
{
	(void)arg;
	char c;
	rg_read(parent_pipe[0], &c, 1, -1); /* until the child is done */
}

static intptr_t wait_child(void *arg)
{
	int st = 0;
	waitpid((pid_t)(intptr_t)arg, &st, 0);
	return st;
}

static pid_t child_pid;
static int child_status;

static int parent_run(void *arg)
{
	(void)arg;
	CHECK(rg_go(parent_reader, NULL) > 0);
	rg_sleep(20 * MS);
	char go = 'g';
	CHECK_EQ(write(sync_pipe[1], &go, 1), 1); /* the child may start */
	child_status = (int)rg_blocking(wait_child, (void *)(intptr_t)child_pid);
	char c = 'x';
	CHECK_EQ(rg_write(parent_pipe[1], &c, 1, -1), 1);
	rg_sleep(5 * MS);
	return 0;
}

/* ---- the child's run ---- */

struct rd {
	_Atomic int64_t res;
	_Atomic int parked;
};
static struct rd rds[20];

static void child_reader(void *arg)
{
	struct rd *r = arg;
	char c;
	atomic_store(&r->parked, 1);
	atomic_store(&r->res, rg_read(child_pipe[0], &c, 1, -1));
}

static intptr_t cancel_from_pool(void *arg) { return rg_cancel((int64_t)(intptr_t)arg); }

static int lost;

static int child_run(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		struct rd *r = &rds[i];
		atomic_store(&r->res, 1);
		int64_t id = rg_go(child_reader, r);
		CHECK(id > 0);
		while (!atomic_load(&r->parked))
			rg_sleep(MS);
		rg_sleep(2 * MS); /* in its read */
		CHECK_EQ(rg_blocking(cancel_from_pool, (void *)(intptr_t)id), 0);
		int64_t end = rg_now() + 1000 * MS;
		while (atomic_load(&r->res) == 1 && rg_now() < end)
			rg_sleep(MS);
		if (atomic_load(&r->res) == 1) {
			lost++;
			/* a byte for it (it may stay in its call even so,
			 * waiting for its P to handle the request: go on) */
			char c = 'x';
			CHECK_EQ(rg_write(child_pipe[1], &c, 1, -1), 1);
			for (int k = 0; k < 200 && atomic_load(&r->res) == 1; k++)
				rg_sleep(MS);
		} else if (atomic_load(&r->res) != -ECANCELED) {
			printf("reader %d: %lld\n", i, (long long)atomic_load(&r->res));
			lost++;
		}
	}
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	CHECK_EQ(t_run(warm, 1), 0);
	CHECK(pipe2(sync_pipe, O_CLOEXEC) == 0);
	CHECK(pipe2(parent_pipe, O_CLOEXEC) == 0);
	CHECK(pipe2(child_pipe, O_CLOEXEC) == 0);
	fflush(NULL);
	child_pid = fork();
	CHECK(child_pid >= 0);
	if (child_pid == 0) {
		char go;
		CHECK_EQ(read(sync_pipe[0], &go, 1), 1);
		CHECK_EQ(t_run(child_run, 1), 0);
		printf("child: %d of 20 cancels from a pool thread never arrived\n", lost);
		exit(lost ? 1 : 0);
	}
	CHECK_EQ(t_run(parent_run, 1), 0);
	if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0) {
		printf("life_fork_efd: FAILED (child status %d)\n", child_status);
		return T_FAIL;
	}
	printf("life_fork_efd: ok\n");
	return T_PASS;
}
