/* The cancel-vs-exit test on the epoll backend (its cancels claim the park
 * directly, no request travels). */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 120
#include "test_cancel_exit.c"
