/* What a user writes: one header, rg_run, a few tasks. */
#include <ringo.h>
#include <stdatomic.h>
#include <stdio.h>

static void child(void *arg)
{
	rg_sleep(1000000);
	atomic_fetch_add((_Atomic int *)arg, 1); /* tasks run on several Ps */
}

static int main_task(void *arg)
{
	static _Atomic int n;
	for (int i = 0; i < 100; i++)
		rg_go(child, &n);
	int64_t give_up = rg_now() + 10000000000LL;
	while (atomic_load(&n) < 100 && rg_now() < give_up)
		rg_sleep(1000000);
	return atomic_load(&n) == 100 ? 0 : 1;
}

int main(void)
{
	int r = rg_run(main_task, NULL, &(rg_config){ .quiet = 1 });
	printf("consumer: rg_run returned %d\n", r);
	return r;
}
