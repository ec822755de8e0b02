/* rg_close always releases the fd: a cancel pending for the task (sent
 * while it made no call) or an ended bound context does not cut it short,
 * and the pending cancel is still there for the task's next call. */
#include <pthread.h>

#include "io_test.h"

static int main_fn(void *arg)
{
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	CHECK_EQ(rg_cancel(rg_self()), 0);          /* pending: no call in flight */
	CHECK_EQ(rg_close(sp[0]), 0);
	CHECK(fcntl(sp[0], F_GETFD) == -1 && errno == EBADF); /* really closed */
	char c;
	CHECK_EQ(rg_recv(sp[1], &c, 1, 0, -1), -ECANCELED); /* the cancel waited */

	rg_ctx *ctx = NULL;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
	rg_ctx_cancel(ctx);
	CHECK(rg_ctx_bind(ctx) == NULL);
	CHECK_EQ(rg_recv(sp[1], &c, 1, 0, -1), -ECANCELED); /* ended context */
	CHECK_EQ(rg_close(sp[1]), 0);                       /* but close works */
	CHECK(fcntl(sp[1], F_GETFD) == -1 && errno == EBADF);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);
	CHECK_EQ(rg_close(-1), -EBADF);
	CHECK_EQ(rg_close(sp[1]), -EBADF);
	return 0;
}

/* A thread without a P closing fds while runtimes start and stop: on
 * io_uring rg_close reads every P's ring (its SQ head), and rg_run must
 * not free them under it (ASan would report the read). */
static _Atomic int stop_closer;
static _Atomic long closes;

static void *foreign_closer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_closer)) {
		int pp[2];
		CHECK(pipe2(pp, O_CLOEXEC) == 0);
		CHECK_EQ(rg_close(pp[0]), 0);
		CHECK_EQ(rg_close(pp[1]), 0);
		atomic_fetch_add(&closes, 1);
	}
	return NULL;
}

static int short_main(void *arg)
{
	(void)arg;
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	char c;
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, 0), -EAGAIN); /* the P gets io state */
	CHECK_EQ(rg_close(sp[0]), 0);
	CHECK_EQ(rg_close(sp[1]), 0);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .quiet = 1 }), 0);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, foreign_closer, NULL) == 0);
	int runs = T_SANITIZED ? 100 : 300;
	for (int i = 0; i < runs; i++)
		CHECK_EQ(t_run(short_main, 2), 0);
	atomic_store(&stop_closer, 1);
	CHECK(pthread_join(th, NULL) == 0);
	printf("%d runtimes started and stopped while a foreign thread closed %ld pipes\n", runs,
	       atomic_load(&closes));
	CHECK(atomic_load(&closes) > 0);
	return T_PASS;
}
