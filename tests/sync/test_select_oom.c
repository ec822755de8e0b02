/* rg_select that must wait while the heap has no room for a waiter record
 * (ld --wrap fails rg__malloc on the P's thread): -ENOMEM, as ringo/sync.h
 * says, with nothing left behind.  It aborted ("sync: out of memory for a
 * waiter record").
 *   none   the P's record pool is empty: the first record fails;
 *   part   the pool holds one record: the second fails, and the first,
 *          already linked into its channel's queue, is taken back;
 * then each channel has no receiver left (a deadline-0 send: -EAGAIN),
 * and with memory back the same select waits and times out, and a send
 * wakes it. */
// ctest-timeout: 60
// ctest-link: -Wl,--wrap=rg__malloc
#include <errno.h>
#include <stdatomic.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"
#include "fail_malloc.h"

#define MS 1000000LL

enum { N = 3 };
static rg_chan *ch[N];

static int sel(int n, int64_t deadline, long *v)
{
	rg_select_case cs[N];
	for (int i = 0; i < n; i++)
		cs[i] = (rg_select_case){ ch[i], RG_SELECT_RECV, v, false };
	return rg_select(cs, n, deadline);
}

static void sender(void *arg)
{
	long v = 42;
	rg_sleep(20 * MS);
	CHECK_EQ(rg_chan_send(ch[(intptr_t)arg], &v, -1), 0);
}

static int main_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		CHECK((ch[i] = rg_chan_make(sizeof(long), 0)) != NULL);
	long v = 0;
	/* none: no record in the pool yet (nothing here has waited) */
	fail_here = 1;
	int r = sel(N, rg_now() + 100 * MS, &v);
	fail_here = 0;
	printf("none: rg_select = %d\n", r);
	CHECK_EQ(r, -ENOMEM);
	/* part: one wait of one case leaves one record in the pool */
	CHECK_EQ(sel(1, rg_now() + MS, &v), -ETIMEDOUT);
	long before = atomic_load(&failed);
	fail_here = 1;
	r = sel(N, rg_now() + 100 * MS, &v);
	fail_here = 0;
	printf("part: rg_select = %d\n", r);
	CHECK_EQ(r, -ENOMEM);
	CHECK(atomic_load(&failed) > before);
	/* nothing left in the queues */
	for (int i = 0; i < N; i++)
		CHECK_EQ(rg_chan_send(ch[i], &v, 0), -EAGAIN);
	/* and the select works again */
	CHECK_EQ(sel(N, rg_now() + 10 * MS, &v), -ETIMEDOUT);
	CHECK(rg_go(sender, (void *)(intptr_t)2) > 0);
	CHECK_EQ(sel(N, rg_now() + 5000 * MS, &v), 2);
	CHECK_EQ(v, 42);
	for (int i = 0; i < N; i++)
		rg_chan_free(ch[i]);
	return 0;
}

int main(void)
{
	rg_config c = { .procs = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &c), 0);
	printf("select_oom: ok\n");
	return T_PASS;
}
