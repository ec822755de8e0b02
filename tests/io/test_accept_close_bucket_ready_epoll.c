/* test_accept_close_bucket_ready.c on the epoll backend. */
// ctest-timeout: 120
// ctest-env: RINGO_IO=epoll
#include "test_accept_close_bucket_ready.c"
