/* The bound-Context race suite on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 180
#include "test_ctxio_races.c"
