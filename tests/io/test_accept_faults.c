/* Accepting in a loop under injected faults: delays before calls and
 * -EAGAIN on deadline-0 accepts; every connection is still accepted exactly
 * once and no fd is left behind (storm and two of test_accept.c). */
// ctest-env: RINGO_FAULTS=delay:0.2,delay_us:300,eagain:0.3,seed:11
#define ACCEPT_FAULTS 1
#include "test_accept.c"
