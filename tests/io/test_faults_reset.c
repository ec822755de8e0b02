/* The fault-injection stream test with injected resets. */
// ctest-env: RINGO_FAULTS=short:0.3,eagain:0.3,enobufs:0.05,reset:0.005,delay:0.02,delay_us:200,seed:11
// ctest-timeout: 90
#include "test_faults.c"
