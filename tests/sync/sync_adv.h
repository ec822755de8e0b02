/* Helpers shared by the sync adversarial tests (test_ctx_adversarial.c,
 * test_select_adversarial.c, test_sync_adversarial.c).  Not a test itself
 * (no test_ prefix).  Each includer uses some of them: the functions are
 * static inline and only_case is marked unused, so the ones a file does
 * not use cost nothing and draw no warning.
 */
#ifndef RG_TESTS_SYNC_ADV_H
#define RG_TESTS_SYNC_ADV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"
#include "ringo/sync.h"

/* ---- selecting cases: RG_CASE=name (main sets only_case) ---------------- */

__attribute__((unused)) static const char *only_case;

static inline bool want(const char *name)
{
	return !only_case || strcmp(only_case, name) == 0;
}

/* Runs case_<name>() if selected; t is the caller's start time for T_RUN. */
#define RUN(name)                                                  \
	do {                                                       \
		if (want(#name))                                   \
			T_RUN(t, case_##name());                   \
	} while (0)

/* ---- time and randomness ------------------------------------------------ */

static inline int64_t in(int64_t ns) { return rg_now() + ns; }

static inline void spin_ns(int64_t ns)
{
	int64_t end = rg_now() + ns;
	while (rg_now() < end)
		;
}

/* xorshift64 */
static inline uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- spawning ------------------------------------------------------------ */

/* Spawns fn(arg) and counts it in wg. */
struct spawn {
	void (*fn)(void *);
	void *arg;
	rg_waitgroup *wg;
};
static inline void spawn_main(void *p)
{
	struct spawn s = *(struct spawn *)p;
	free(p);
	s.fn(s.arg);
	rg_waitgroup_done(s.wg);
}
static inline void go_wg(rg_waitgroup *wg, void (*fn)(void *), void *arg)
{
	struct spawn *s = malloc(sizeof *s);
	CHECK(s);
	*s = (struct spawn){ fn, arg, wg };
	rg_waitgroup_add(wg, 1);
	CHECK(rg_go(spawn_main, s) > 0);
}

#endif
