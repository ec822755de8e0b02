/* The accept faults suite on the epoll backend. */
// ctest-env: RINGO_IO=epoll;RINGO_FAULTS=delay:0.2,delay_us:300,eagain:0.3,seed:11
#define ACCEPT_FAULTS 1
#include "test_accept.c"
