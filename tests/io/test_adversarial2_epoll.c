/* The second adversarial io cases on the epoll backend. */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 120
#include "test_adversarial2.c"
