/* 1,000,000 parked tasks under the default vm.max_map_count (65530): the
 * stacks come from slabs, guard pages only while the mapping budget lasts.
 * Reports RSS per parked task; main then returns with all of them parked,
 * and rg_run must release them. */
// ctest-timeout: 300
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ringo.h"

#define N (T_TSAN ? 10000 : T_SANITIZED ? 100000 : 1000000)
static _Atomic long parked, woke;
static int64_t deadline;

static void sleeper(void *arg)
{
	atomic_fetch_add(&parked, 1);
	rg_sleep_until(deadline);
	atomic_fetch_add(&woke, 1);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			sscanf(line + 6, "%ld", &v);
	if (f)
		fclose(f);
	return v;
}

static long maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static int main_fn(void *arg)
{
	long rss0 = rss_kib();
	deadline = rg_now() + 3600LL * 1000000000;
	for (long i = 0; i < N; i++)
		CHECK(rg_go(sleeper, NULL) > 0);
	while (atomic_load(&parked) < N)
		rg_sleep(10000000);
	long rss1 = rss_kib();
	long m = maps();
	rg_sched_stats st;
	rg_sched_stats_get(&st);
	printf("%ld parked: %.0f B RSS per task, %ld mappings, %llu guarded + %llu canary stacks\n",
	       (long)N, (double)(rss1 - rss0) * 1024 / N, m,
	       (unsigned long long)st.stacks_guarded, (unsigned long long)st.stacks_canary);
	CHECK(m < 65530);
	CHECK(st.stacks_guarded > 0);
	if (!T_SANITIZED) {
		CHECK(st.stacks_canary > 0);
		CHECK((rss1 - rss0) * 1024 / N < 6 * 1024);
	}
	return 0;
}

int main(void)
{
	int r = rg_run(main_fn, NULL, NULL);
	CHECK_EQ(r, 0);
	return T_PASS;
}
