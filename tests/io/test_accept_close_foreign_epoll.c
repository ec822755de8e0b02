/* rg_close of a listener from a thread outside the runtime under a
 * waiting rg_accept, on the epoll backend. */
// ctest-timeout: 60
// ctest-env: RINGO_IO=epoll
#include "test_accept_close_foreign.c"
