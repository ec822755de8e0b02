/* The TLS-destructor cancel test on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 60
#include "test_cancel_dtor.c"
