/* The shutdown-cancel race on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 120
#include "test_shutdown_cancel.c"
