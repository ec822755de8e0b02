/* The stream-lifetime test on the epoll backend (plain streams). */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 60
#include "test_life_stream.c"
