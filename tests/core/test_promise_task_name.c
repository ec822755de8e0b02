/* core.h, rg_task_opts.name: "copied (first 31 bytes); shown ... in the
 * stack-overflow message".  A 40-byte name in a buffer overwritten right
 * after rg_go_opts returns: the overflow line (in a child) shows the
 * name's first 31 bytes, not the overwritten buffer and not all 40. */
// ctest-timeout: 60
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "ringo.h"


static int main_fn(void *arg)
{
	(void)arg;
	char name[64] = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
	rg_task_opts o = { .name = name };
	CHECK(rg_go_opts(t_dive, NULL, &o) > 0);
	memset(name, 'X', sizeof name - 1);
	rg_sleep(2000000000);
	return 0;
}

static void child(void)
{
	rg_run(main_fn, NULL, &(rg_config){ .procs = 1, .quiet = 1, .nopin = 1 });
}

int main(void)
{
	char out[4096];
	int st = t_fork_stderr(child, out, sizeof out);
	printf("child: %s", out);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(out, "(abcdefghijklmnopqrstuvwxyz01234) overflowed its 64 KiB stack"));
	return T_PASS;
}
