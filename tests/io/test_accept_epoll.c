/* The accept suite on the epoll backend (nothing is accepted ahead). */
// ctest-env: RINGO_IO=epoll
#include "test_accept.c"
