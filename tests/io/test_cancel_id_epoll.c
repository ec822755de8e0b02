/* The rg_cancel-by-id test on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 120
#include "test_cancel_id.c"
