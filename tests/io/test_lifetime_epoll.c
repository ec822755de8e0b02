/* The last-touch and cancellation races of test_lifetime.c on the epoll
 * backend (cancels claim the park directly; accept is single-shot). */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 120
#include "test_lifetime.c"
