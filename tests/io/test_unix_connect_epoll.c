/* test_unix_connect.c on the epoll backend.  There a non-blocking
 * connect to a full AF_UNIX backlog fails -EAGAIN having started nothing,
 * but io/epoll.c waited for the socket to poll writable (an unconnected
 * one does at once) and returned its SO_ERROR, 0: rg_connect said
 * connected, and the socket was not ('rg_connect = 0 after 0.0 ms (not
 * connected)'; the first send then failed -ENOTCONN). */
// ctest-env: RINGO_IO=epoll
// ctest-timeout: 60
#include "test_unix_connect.c"
