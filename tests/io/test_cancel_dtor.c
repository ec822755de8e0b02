/* A task's TLS destructors run at its exit, and may make I/O calls (flush a
 * buffer, say goodbye on a socket); rg_cancel must still reach such a call.
 * (Task pins, 2026-12-06, first marked the task as exiting before its
 * destructors ran: rg_cancel then answered -ESRCH and the call below
 * waited out its deadline.)  The destructor blocks in rg_recv on a socket
 * with no data; main cancels the task by id. */
// ctest-timeout: 60
#include "io_test.h"

static int sp[2];
static _Atomic int in_dtor, result = 1;
static rg_tls_key key;

static void dtor(void *v)
{
	(void)v;
	char c;
	atomic_store(&in_dtor, 1);
	atomic_store(&result, (int)rg_recv(sp[1], &c, 1, 0, rg_now() + 5000 * MS));
}

static void worker(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_tls_set(key, (void *)1), 0);
}

static int main_fn(void *arg)
{
	(void)arg;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	CHECK_EQ(rg_tls_key_create(&key, dtor), 0);
	int64_t id = rg_go(worker, NULL);
	CHECK(id > 0);
	while (!atomic_load(&in_dtor))
		rg_yield();
	rg_sleep(20 * MS); /* let it park in rg_recv (a cancel before it counts too) */
	CHECK_EQ(rg_cancel(id), 0);
	while (atomic_load(&result) == 1)
		rg_sleep(MS);
	printf("%s: the destructor's rg_recv returned %d\n", rg_io_backend(), atomic_load(&result));
	CHECK_EQ(atomic_load(&result), -ECANCELED);
	close(sp[0]);
	close(sp[1]);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
