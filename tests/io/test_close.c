/* rg_close always releases the fd: a cancel pending for the task (sent
 * while it made no call) or an ended bound context does not cut it short,
 * and the pending cancel is still there for the task's next call. */
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

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .quiet = 1 }), 0);
	return T_PASS;
}
