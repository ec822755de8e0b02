/* Helpers shared by the core adversarial tests (test_core_adversarial.c,
 * test_core_adversarial2.c): the sanitizer-scaled loop count, the case
 * table's type and the driver.  Not a test itself (no test_ prefix).
 *
 * The including file defines its cases[] table of struct tcase and calls
 * adv_main from main: `<binary>` runs every case in order, `<binary> NAME`
 * runs only that one (and fails if there is no such case).
 */
#ifndef RG_TESTS_CORE_ADV_H
#define RG_TESTS_CORE_ADV_H

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ringo.h"

/* n iterations in release, a fifth of them under a sanitizer. */
static int loops(int n) { return T_SANITIZED ? (n + 4) / 5 : n; }

struct tcase {
	const char *name;
	void (*fn)(void);
	int found_bug; /* failed before its fix */
};

static int adv_main(int argc, char **argv, const struct tcase *cases, size_t ncases)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int ran = 0;
	for (size_t i = 0; i < ncases; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		int64_t t0 = rg_now();
		cases[i].fn();
		printf("%-24s ok %8.1f ms\n", cases[i].name, (rg_now() - t0) / 1e6);
		fflush(stdout);
		ran++;
	}
	if (argc > 1 && !ran) {
		fprintf(stderr, "no case named %s\n", argv[1]);
		return T_FAIL;
	}
	return T_PASS;
}

#endif
