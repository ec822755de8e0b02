/* The park/ready protocol under races: waiters park with short deadlines
 * while wakers on other Ps claim them, so timeouts and wake-ups collide all
 * the time.  Every message must be delivered exactly once, no task may be
 * readied twice or resumed while parked, and stale wakers must lose.
 * (A one-slot mailbox per pair, guarded by a spinlock, like a channel.) */
// ctest-timeout: 180
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "core/core.h"
#include "ringo.h"

#define PAIRS 8
#define MSGS (T_SANITIZED ? 3000 : 20000)

struct box {
	_Atomic int lock;
	rg__task *waiter;     /* parked receiver, or NULL */
	uint64_t ticket;
	long value;           /* a message handed to the waiter */
	long pending;         /* a message nobody took yet (0 none) */
	long received, timeouts, sum;
	_Atomic int done;
};
static struct box boxes[PAIRS];

static void lock(struct box *b)
{
	while (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire))
		;
}
static void unlock(struct box *b) { atomic_store_explicit(&b->lock, 0, memory_order_release); }

static bool unlock_cb(rg__task *t, void *arg)
{
	unlock(arg);
	return true;
}

static void receiver(void *arg)
{
	struct box *b = arg;
	unsigned seed = (unsigned)(b - boxes) + 1;
	while (b->received < MSGS) {
		lock(b);
		if (b->pending) { /* a message waits: take it without parking */
			b->sum += b->pending;
			b->pending = 0;
			b->received++;
			unlock(b);
			continue;
		}
		uint64_t ticket = rg__park_prepare();
		b->waiter = rg__self();
		b->ticket = ticket;
		b->value = 0;
		int64_t dl = rg_now() + (rand_r(&seed) % 4) * 20000; /* 0..60 us */
		int r = rg__park(RG__WAIT_OTHER, dl, unlock_cb, b);
		lock(b);
		if (r == 0) {
			CHECK(b->value != 0); /* woken: the waker handed us one */
			CHECK(b->waiter == NULL);
			b->sum += b->value;
			b->received++;
		} else {
			CHECK_EQ(r, -ETIMEDOUT);
			b->timeouts++;
			if (b->waiter == rg__self())
				b->waiter = NULL; /* remove ourselves */
			CHECK(b->value == 0 || b->waiter == NULL);
			if (b->value) { /* impossible: a waker that lost the claim must keep it */
				CHECK(0 && "message handed to a timed-out waiter");
			}
		}
		unlock(b);
	}
	atomic_store(&b->done, 1);
}

static void sender(void *arg)
{
	struct box *b = arg;
	for (long i = 1; i <= MSGS; i++) {
		for (;;) {
			lock(b);
			if (b->waiter) {
				rg__task *w = b->waiter;
				b->waiter = NULL;
				if (rg__claim(w, b->ticket)) {
					b->value = i;
					unlock(b);
					rg__ready(w);
					break;
				}
				/* lost to its deadline: keep the message, try again */
				unlock(b);
				continue;
			}
			if (!b->pending) {
				b->pending = i;
				unlock(b);
				break;
			}
			unlock(b);
			rg_yield();
		}
		if (i % 16 == 0)
			rg_yield();
	}
}

static int main_fn(void *arg)
{
	for (int i = 0; i < PAIRS; i++) {
		CHECK(rg_go(receiver, &boxes[i]) > 0);
		CHECK(rg_go(sender, &boxes[i]) > 0);
	}
	for (int i = 0; i < PAIRS; i++)
		while (!atomic_load(&boxes[i].done))
			rg_sleep(2000000);
	long timeouts = 0;
	for (int i = 0; i < PAIRS; i++) {
		CHECK_EQ(boxes[i].received, MSGS);
		CHECK_EQ(boxes[i].sum, (long)MSGS * (MSGS + 1) / 2);
		timeouts += boxes[i].timeouts;
	}
	printf("%d pairs x %d messages, %ld timeouts raced the wake-ups\n", PAIRS, MSGS, timeouts);
	CHECK(timeouts > 0);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_run(main_fn, NULL, &(rg_config){ .procs = 2, .quiet = 1 }), 0);
	return T_PASS;
}
