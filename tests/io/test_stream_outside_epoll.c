/* rg_stream_release and rg_stream_close outside a task, on the epoll
 * backend, while rg_run runs.
 *
 * io.h: "rg_stream_release and rg_stream_close return nothing: called
 * outside a task (another thread, inside rg_blocking) they abort with a
 * message, as a misuse of a lock does" -- the exception being a stream
 * whose run has ended.  On io_uring they do.  On the epoll backend (a
 * plain stream: s->home NULL) neither checked: rg_stream_close from
 * another thread freed the stream under the task receiving on it (a
 * use-after-free when that task's rg_recv returned), and release worked
 * from anywhere.  Each case runs in a child: it must die of SIGABRT
 * with the message (it exited 0: every run). */
// ctest-timeout: 60
// ctest-env: RINGO_IO=epoll
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "io_test.h"

static rg_stream *g_s;
static int g_sp[2];
static int g_case;
static rg_buf g_b;

static void *outside(void *arg)
{
	(void)arg;
	if (g_case == 0)
		rg_stream_release(g_s, &g_b);
	else
		rg_stream_close(g_s);
	return NULL;
}

static intptr_t in_pool(void *arg)
{
	outside(arg);
	return 0;
}

static intptr_t join(void *arg) { return pthread_join(*(pthread_t *)arg, NULL); }

static int main_fn(void *arg)
{
	(void)arg;
	t_unix_pair(g_sp);
	CHECK_EQ(rg_stream_open(&g_s, g_sp[0]), 0);
	CHECK_EQ(rg_write(g_sp[1], "hello", 5, -1), 5);
	CHECK_EQ(rg_stream_recv(g_s, &g_b, -1), 5); /* held: for release */
	if (g_case < 2) { /* 0: release, 1: close */
		pthread_t th;
		CHECK_EQ(pthread_create(&th, NULL, outside, NULL), 0);
		CHECK_EQ(rg_blocking(join, &th), 0);
	} else {
		g_case = 1; /* close, inside rg_blocking */
		rg_blocking(in_pool, NULL);
	}
	_exit(0); /* not aborted */
}

int main(void)
{
	static const char *names[] = { "release from a thread", "close from a thread", "close in rg_blocking" };
	int failed = 0;
	for (int c = 0; c < 3; c++) {
		fflush(stdout);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			g_case = c;
			t_run(main_fn, 1);
			_exit(0);
		}
		int st;
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		bool ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
		printf("%s: %s\n", names[c], ok ? "aborted (ok)" : "FAILED: did not abort");
		failed += !ok;
	}
	return failed ? T_FAIL : T_PASS;
}
