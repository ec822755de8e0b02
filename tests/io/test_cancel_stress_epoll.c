/* The cancel stress test on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 90
#include "test_cancel_stress.c"
