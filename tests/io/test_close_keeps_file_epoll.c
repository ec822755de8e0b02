/* The close-under-a-waiting-call suite on the epoll backend. */
// ctest-timeout: 180
// ctest-env: RINGO_IO=epoll
#include "test_close_keeps_file.c"
