/* The bound-Context suite on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 120
#include "test_ctxio.c"
