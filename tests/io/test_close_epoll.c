/* The close suite on the epoll backend. */
// ctest-env: RINGO_IO=epoll
#include "test_close.c"
