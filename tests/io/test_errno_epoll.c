/* test_errno.c on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 60
#include "test_errno.c"
