/* rg_close of a listener while tasks wait in a single-shot rg_accept, on
 * the epoll backend (test_accept_close_single.c). */
// ctest-timeout: 120
// ctest-env: RINGO_IO=epoll
#include "test_accept_close_single.c"
