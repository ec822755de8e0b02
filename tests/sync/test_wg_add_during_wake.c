/* rg_waitgroup_add that takes the counter up from zero while the Done that
 * brought it there is still waking the waiters: Go's sync.WaitGroup panics
 * ("WaitGroup misuse: Add called concurrently with Wait"), since a new
 * round of Adds must begin after every Wait of the last one has returned.
 * ringo went on silently: the Done left the waiters parked for the next
 * zero, and a Wait that had seen zero yielded, past its own deadline,
 * until then.  Now such an Add aborts with Go's message.
 *
 * The window (the Done between its counter update and the store that
 * releases the waiters) is entered deterministically: ld --wrap on
 * rg__claim, which the Done calls there for a waiter with a deadline,
 * makes the racing Add from inside it.  In a child, so the abort is
 * checked; a second case checks that an Add after Wait returned (the
 * normal reuse) does not abort. */
// ctest-timeout: 60
// ctest-link: -Wl,--wrap=rg__claim
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ringo.h"

struct rg__task;
bool __real_rg__claim(struct rg__task *t, uint64_t ticket);

static rg_waitgroup wg = RG_WAITGROUP_INIT;
static _Atomic int armed;
static _Atomic int parked, woke;

bool __wrap_rg__claim(struct rg__task *t, uint64_t ticket)
{
	if (atomic_exchange(&armed, 0))
		rg_waitgroup_add(&wg, 1); /* inside the Done's wake: misuse */
	return __real_rg__claim(t, ticket);
}

static void waiter(void *arg)
{
	(void)arg;
	atomic_store(&parked, 1);
	CHECK_EQ(rg_waitgroup_wait(&wg, rg_now() + 10000000000), 0);
	atomic_store(&woke, 1);
}

static int main_task(void *arg)
{
	bool misuse = arg != NULL;
	rg_waitgroup_add(&wg, 1);
	CHECK(rg_go(waiter, NULL) > 0);
	while (!atomic_load(&parked))
		rg_yield();
	rg_sleep(2000000); /* parked by now: the task has nothing else to do */
	atomic_store(&armed, misuse);
	rg_waitgroup_done(&wg);
	while (!atomic_load(&woke))
		rg_yield();
	/* the normal reuse: a new round after the Wait returned */
	rg_waitgroup_add(&wg, 2);
	rg_waitgroup_done(&wg);
	rg_waitgroup_done(&wg);
	CHECK_EQ(rg_waitgroup_wait(&wg, 0), 0);
	return 0;
}

static void run(bool misuse)
{
	rg_config c = { .procs = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_task, misuse ? (void *)1 : NULL, &c), 0);
}

int main(void)
{
	/* the reuse alone passes */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		run(false);
		_exit(0);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	puts("reuse after wait: ok");

	/* the Add inside the wake aborts, saying why */
	int fds[2];
	CHECK_EQ(pipe(fds), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		alarm(20); /* before the fix the child ran on: it must not hang */
		run(true);
		_exit(0);
	}
	close(fds[1]);
	char buf[512];
	t_read_all(fds[0], buf, sizeof buf);
	close(fds[0]);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, "Add called concurrently with Wait")))
		fprintf(stderr, "expected an abort naming the misuse; the child (status %#x) wrote: %s\n", st, buf);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(buf, "Add called concurrently with Wait"));
	puts("add during the wake: aborts");
	return T_PASS;
}
