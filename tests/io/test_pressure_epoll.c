/* The pressure cases on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 180
#include "test_pressure.c"
