/* The fault-injection stream test on the epoll backend. */
// ctest-env: RINGO_FAULTS=short:0.3,eagain:0.3,enobufs:0.05,delay:0.02,delay_us:200,seed:3
// ctest-timeout: 90
#define T_EPOLL 1
#include "test_faults.c"
