/* io/epoll.c — placeholder, replaced below */
#include <errno.h>
#include "io/io_int.h"
int64_t rg__epoll_exec(rg__io_req *req, int64_t deadline, bool nonblock) { return -ENOSYS; }
void rg__epoll_cancel_op(rg__io_op *op) {}
void rg__epoll_add_handler(rg__p *p, int fd, rg__cqe_handler *h) {}
