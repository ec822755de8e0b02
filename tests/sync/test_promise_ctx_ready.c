/* sync.h, rg_ctx_bind: "(Operations that can complete at once still do.)"
 * Under a bound context that is already cancelled, every blocking call of
 * sync.h that need not wait succeeds: a free mutex, a zero WaitGroup, free
 * semaphore units, a buffered value or free slot, a closed channel, a
 * waiting sender or receiver on an unbuffered channel, a select with a
 * ready case.  Only a call that would have to wait ends with -ECANCELED. */
#include "check.h"
#include "ringo.h"

static rg_chan *uc;

static void sender(void *arg)
{
	(void)arg;
	long v = 9;
	CHECK_EQ(rg_chan_send(uc, &v, -1), 0);
}

static void receiver(void *arg)
{
	(void)arg;
	long v;
	CHECK_EQ(rg_chan_recv(uc, &v, NULL, -1), 0);
	CHECK_EQ(v, 4);
}

static void wait_parked_on_uc(void)
{
	/* the helper task parks on uc; 1 P, so one sleep lets it get there */
	rg_sleep(2000000);
}

static int main_task(void *arg)
{
	(void)arg;
	rg_ctx *c;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &c), 0);
	rg_ctx_cancel(c);
	rg_mutex m = RG_MUTEX_INIT;
	rg_waitgroup wg = RG_WAITGROUP_INIT;
	rg_sema s;
	rg_sema_init(&s, 3);
	rg_chan *bc = rg_chan_make(sizeof(long), 2);
	uc = rg_chan_make(sizeof(long), 0);
	long v = 1;
	bool ok = false;
	CHECK_EQ(rg_chan_send(bc, &v, -1), 0);

	CHECK(rg_ctx_bind(c) == NULL);
	CHECK_EQ(rg_mutex_lock_until(&m, -1), 0);
	CHECK_EQ(rg_mutex_lock_until(&m, -1), -ECANCELED); /* would wait */
	rg_mutex_unlock(&m);
	CHECK_EQ(rg_waitgroup_wait(&wg, -1), 0);
	CHECK_EQ(rg_sema_acquire(&s, 2, -1), 0);
	CHECK_EQ(rg_sema_acquire(&s, 2, -1), -ECANCELED);
	CHECK_EQ(rg_chan_recv(bc, &v, &ok, -1), 0);
	CHECK(ok && v == 1);
	CHECK_EQ(rg_chan_send(bc, &v, -1), 0);
	CHECK_EQ(rg_chan_send(bc, &v, -1), 0);
	CHECK_EQ(rg_chan_send(bc, &v, -1), -ECANCELED); /* full */
	CHECK_EQ(rg_chan_send(bc, &v, 0), -EAGAIN);      /* a poll: as unbound */
	CHECK_EQ(rg_mutex_lock_until(&m, 0), 0);
	CHECK_EQ(rg_mutex_lock_until(&m, 0), -EAGAIN);
	rg_mutex_unlock(&m);
	rg_select_case cs[2] = { { uc, RG_SELECT_RECV, &v, false }, { bc, RG_SELECT_RECV, &v, false } };
	CHECK_EQ(rg_select(cs, 2, -1), 1);
	CHECK_EQ(rg_chan_close(bc), 0);
	CHECK_EQ(rg_chan_recv(bc, &v, &ok, -1), 0); /* buffered, then closed */
	CHECK(ok);
	CHECK_EQ(rg_chan_recv(bc, &v, &ok, -1), 0);
	CHECK(!ok);

	rg_ctx_bind(NULL);
	rg_go(sender, NULL);
	wait_parked_on_uc();
	rg_ctx_bind(c);
	CHECK_EQ(rg_chan_recv(uc, &v, &ok, -1), 0);
	CHECK(ok && v == 9);
	rg_ctx_bind(NULL);
	rg_go(receiver, NULL);
	wait_parked_on_uc();
	rg_ctx_bind(c);
	v = 4;
	CHECK_EQ(rg_chan_send(uc, &v, -1), 0);
	CHECK_EQ(rg_chan_recv(uc, &v, &ok, -1), -ECANCELED); /* nobody sends */

	rg_ctx_bind(NULL);
	rg_ctx_release(c);
	rg_chan_free(bc);
	rg_chan_free(uc);
	return 0;
}

int main(void)
{
	return rg_run(main_task, NULL, &(rg_config){ .procs = 1, .quiet = 1, .nopin = 1 });
}
