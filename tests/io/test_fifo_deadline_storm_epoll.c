/* FIFO opens with short deadlines, many at once, on the epoll backend
 * (test_fifo_deadline_storm.c). */
// ctest-timeout: 120
// ctest-env: RINGO_IO=epoll
#include "test_fifo_deadline_storm.c"
