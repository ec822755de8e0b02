/* rg_run installs a SIGSEGV/SIGBUS handler for stack overflows and gives
 * back, at its end, what was there at its start; a handler the program
 * installed meanwhile (inside a task, or from another thread) stays. */
#include <signal.h>
#include <string.h>

#include "check.h"
#include "ringo.h"

static void h_before(int sig, siginfo_t *si, void *uc) { (void)sig, (void)si, (void)uc; }
static void h_during(int sig, siginfo_t *si, void *uc) { (void)sig, (void)si, (void)uc; }

static void install(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(sig, &sa, NULL), 0);
}

static void *current(int sig)
{
	struct sigaction sa;
	CHECK_EQ(sigaction(sig, NULL, &sa), 0);
	return (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
}

static int main_install(void *arg)
{
	(void)arg;
	/* ringo's own handler is in place while it runs */
	CHECK(current(SIGSEGV) != (void *)h_before);
	install(SIGSEGV, h_during);
	install(SIGBUS, h_during);
	return 0;
}

static int main_plain(void *arg)
{
	(void)arg;
	return 0;
}

int main(void)
{
	rg_config cfg = { .procs = 2 };
	install(SIGSEGV, h_before);
	install(SIGBUS, h_before);
	/* nothing installed during the run: the start's handler comes back */
	CHECK_EQ(rg_run(main_plain, NULL, &cfg), 0);
	CHECK(current(SIGSEGV) == (void *)h_before);
	CHECK(current(SIGBUS) == (void *)h_before);
	/* installed during the run: it stays (before: h_before came back) */
	CHECK_EQ(rg_run(main_install, NULL, &cfg), 0);
	CHECK(current(SIGSEGV) == (void *)h_during);
	CHECK(current(SIGBUS) == (void *)h_during);
	/* and the next run gives it back in turn */
	CHECK_EQ(rg_run(main_plain, NULL, &cfg), 0);
	CHECK(current(SIGSEGV) == (void *)h_during);
	return T_PASS;
}
