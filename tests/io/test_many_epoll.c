/* The many suite on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 150
#include "test_many.c"
