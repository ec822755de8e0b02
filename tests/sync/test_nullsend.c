/* A send with no value (v or a send case's val NULL) on a channel whose
 * elements have a size is -EINVAL, and hurts nobody else.  The copy from
 * NULL faulted: in the sender when a receiver was there or the buffer had
 * room (after claiming the slot), and, worse, in the *receiver* when the
 * sender had parked first: its record carried NULL, and the task that took
 * it died in its own rg_chan_recv (SIGSEGV), far from the bug.  Each case
 * runs in a forked child (they crashed):
 *   buffered   rg_chan_send, and a one-case select, on a buffered channel
 *              with room: -EINVAL, the channel unchanged and usable.
 *   receiver   a receiver waits; rg_chan_send(NULL): -EINVAL, the
 *              receiver then gets the next real value.
 *   parked     rg_select with a NULL send case and no receiver yet, then a
 *              receiver comes: -EINVAL at once; the receiver is unharmed.
 *   full       the inline "default" select on a full channel: -EINVAL
 *              too (a bad case, whatever the channel's state).
 *   zero       elem_size 0: NULL is the right value; sends work. */
// ctest-timeout: 60
#include <string.h>

#include "check.h"
#include "ringo.h"

static rg_chan *ch;
static _Atomic int got;
static _Atomic long got_val;

static void receiver(void *arg)
{
	(void)arg;
	long v = 0;
	bool ok = false;
	int r = rg_chan_recv(ch, &v, &ok, rg_now() + 2000000000LL);
	atomic_store(&got_val, ok ? v : -1);
	atomic_store(&got, r == 0 ? 1 : r);
}

static void wait_parked(void)
{
	/* the receiver parks at its first call: a few yields and a sleep */
	for (int i = 0; i < 10; i++)
		rg_yield();
	rg_sleep(5000000);
}

static int mode;

static int main_fn(void *arg)
{
	(void)arg;
	long v = 42;
	bool ok;
	switch (mode) {
	case 0: { /* buffered */
		ch = rg_chan_make(sizeof(long), 4);
		CHECK_EQ(rg_chan_send(ch, NULL, 0), -EINVAL);
		CHECK_EQ(rg_chan_send(ch, NULL, -1), -EINVAL);
		rg_select_case one = { ch, RG_SELECT_SEND, NULL, false };
		CHECK_EQ(rg_select(&one, 1, 0), -EINVAL);
		CHECK_EQ(rg_select(&one, 1, -1), -EINVAL);
		CHECK_EQ(rg_chan_len(ch), 0);
		CHECK_EQ(rg_chan_send(ch, &v, 0), 0);
		long out = 0;
		CHECK_EQ(rg_chan_recv(ch, &out, &ok, 0), 0);
		CHECK(ok && out == 42);
		CHECK_EQ(rg_chan_recv(ch, &out, &ok, 0), -EAGAIN);
		break;
	}
	case 1: /* receiver */
		ch = rg_chan_make(sizeof(long), 0);
		CHECK(rg_go(receiver, NULL) > 0);
		wait_parked();
		CHECK_EQ(rg_chan_send(ch, NULL, -1), -EINVAL);
		CHECK_EQ(atomic_load(&got), 0);
		CHECK_EQ(rg_chan_send(ch, &v, -1), 0);
		while (!atomic_load(&got))
			rg_sleep(1000000);
		CHECK_EQ(atomic_load(&got), 1);
		CHECK_EQ(atomic_load(&got_val), 42);
		break;
	case 2: { /* parked */
		ch = rg_chan_make(sizeof(long), 0);
		rg_chan *other = rg_chan_make(sizeof(long), 0);
		CHECK(rg_go(receiver, NULL) > 0); /* runs once we park */
		rg_select_case cs[2] = { { ch, RG_SELECT_SEND, NULL, false }, { other, RG_SELECT_RECV, NULL, false } };
		CHECK_EQ(rg_select(cs, 2, rg_now() + 200000000LL), -EINVAL);
		wait_parked();
		CHECK_EQ(atomic_load(&got), 0);
		cs[0].val = &v;
		CHECK_EQ(rg_select(cs, 2, -1), 0);
		while (!atomic_load(&got))
			rg_sleep(1000000);
		CHECK_EQ(atomic_load(&got), 1);
		CHECK_EQ(atomic_load(&got_val), 42);
		break;
	}
	case 3: { /* full */
		ch = rg_chan_make(sizeof(long), 1);
		CHECK_EQ(rg_chan_send(ch, &v, 0), 0);
		rg_select_case one = { ch, RG_SELECT_SEND, NULL, false };
		CHECK_EQ(rg_select(&one, 1, 0), -EINVAL);
		one.val = &v;
		CHECK_EQ(rg_select(&one, 1, 0), -EAGAIN);
		break;
	}
	case 4: { /* zero */
		ch = rg_chan_make(0, 2);
		CHECK_EQ(rg_chan_send(ch, NULL, 0), 0);
		rg_select_case one = { ch, RG_SELECT_SEND, NULL, false };
		CHECK_EQ(rg_select(&one, 1, 0), 0);
		CHECK(one.ok);
		CHECK_EQ(rg_chan_len(ch), 2);
		CHECK_EQ(rg_select(&one, 1, 0), -EAGAIN);
		break;
	}
	}
	return 0;
}

static void child(int k)
{
	alarm(30);
	mode = k;
	/* one P: in "parked" the receiver runs only once the select has parked */
	rg_config cfg = { .procs = 1, .nopin = 1, .quiet = 1 };
	CHECK_EQ(rg_run(main_fn, NULL, &cfg), 0);
}

int main(void)
{
	static const char *const names[] = { "buffered", "receiver", "parked", "full", "zero" };
	return t_fork_cases(5, child, names) ? T_FAIL : T_PASS;
}
