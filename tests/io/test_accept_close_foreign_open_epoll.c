/* rg_close of a listener from a thread outside the runtime, the only P
 * busy, on the epoll backend: closed when rg_close returns. */
// ctest-timeout: 60
// ctest-env: RINGO_IO=epoll
#include "test_accept_close_foreign_open.c"
