/* What a user writes: one header, rg_run, a few tasks. */
#include <ringo.h>
#include <stdio.h>

static void child(void *arg) { rg_sleep(1000000); ++*(int *)arg; }

static int main_task(void *arg)
{
	static int n;
	for (int i = 0; i < 100; i++)
		rg_go(child, &n);
	while (n < 100)
		rg_sleep(1000000);
	return n == 100 ? 0 : 1;
}

int main(void)
{
	int r = rg_run(main_task, NULL, &(rg_config){ .quiet = 1 });
	printf("consumer: rg_run returned %d\n", r);
	return r;
}
