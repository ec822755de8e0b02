/* The heap goal: at least 1 MiB for a small heap, and it grows with the
 * stacks a collection scans (Go 1.18's pacer), so parked tasks' stacks are
 * paid for by allocation as live objects are. */
// ctest-timeout: 60
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "ringo.h"
#include "ringo/gc.h"
#include "ringo/sync.h"

enum { TASKS = 2000, FRAME = 8192 };

static rg_chan *gate;
static rg_waitgroup parked = RG_WAITGROUP_INIT, gone = RG_WAITGROUP_INIT;

static void deep_waiter(void *arg)
{
	(void)arg;
	volatile char buf[FRAME];
	for (int i = 0; i < FRAME; i++) /* volatile stores: the frame stays whole */
		buf[i] = 1;
	rg_waitgroup_done(&parked);
	rg_chan_recv(gate, NULL, NULL, -1);
	CHECK_EQ(buf[FRAME - 1], 1);
	rg_waitgroup_done(&gone);
}

static int main_fn(void *arg)
{
	(void)arg;
	rg_gc_stats st;
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	printf("idle: marked %llu B, goal %llu B\n", (unsigned long long)st.heap_marked,
	       (unsigned long long)st.heap_goal);
	CHECK_EQ(st.heap_goal, (uint64_t)1 << 20); /* the floor */

	gate = rg_chan_make(0, 0);
	rg_waitgroup_add(&parked, TASKS);
	rg_waitgroup_add(&gone, TASKS);
	for (int i = 0; i < TASKS; i++)
		CHECK(rg_go(deep_waiter, NULL) > 0);
	CHECK_EQ(rg_waitgroup_wait(&parked, -1), 0);
	rg_sleep(2000000); /* let the last ones park */
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	printf("%d tasks parked on %d-byte frames: goal %llu B\n", TASKS, FRAME,
	       (unsigned long long)st.heap_goal);
	/* every stack holds at least FRAME bytes below its top: scanned */
	CHECK(st.heap_goal >= st.heap_marked + (uint64_t)TASKS * FRAME);

	CHECK_EQ(rg_chan_close(gate), 0);
	CHECK_EQ(rg_waitgroup_wait(&gone, -1), 0);
	rg_sleep(2000000); /* let them exit: their stacks are no longer scanned */
	CHECK_EQ(rg_gc_collect(), 0);
	CHECK_EQ(rg_gc_stats_get(&st), 0);
	printf("after: goal %llu B\n", (unsigned long long)st.heap_goal);
	CHECK(st.heap_goal < ((uint64_t)4 << 20));
	rg_chan_free(gate);
	return 0;
}

int main(void)
{
	setenv("RINGO_GOGC", "100", 1); /* the default, whatever the caller set */
	CHECK_EQ(rg_run(main_fn, NULL, NULL), 0);
	return T_PASS;
}
