/*
 * core/waiter_eventfd.c — the idle wait/wake backend for builds without
 * io_uring (the aarch64 cross build that runs core's tests under qemu-user,
 * which has no io_uring): the P sleeps in ppoll on its eventfd.  The I/O
 * fallback for machines without io_uring is io/'s epoll backend.
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/sched_int.h"

static int efd_init(rg__p *p)
{
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return p->efd < 0 ? -errno : 0;
}

static void efd_fini(rg__p *p)
{
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -1;
}

static int efd_poll(rg__p *p, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = p->efd, .events = POLLIN };
	struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
	int n = ppoll(&pfd, 1, timeout_ns < 0 ? NULL : &ts, NULL);
	if (n > 0) {
		uint64_t v;
		ssize_t r = read(p->efd, &v, sizeof v);
		(void)r;
	}
	return n > 0 ? n : 0;
}

const rg__waiter_ops rg__waiter_eventfd = {
	.name = "eventfd",
	.init = efd_init,
	.fini = efd_fini,
	.poll = efd_poll,
	.wake = rg__waiter_eventfd_wake,
};

#ifdef RG_NO_URING
unsigned rg__ring_setup_flags(void) { return 0; }
struct io_uring *rg__p_ring(rg__p *p) { return NULL; }
struct io_uring_sqe *rg__p_sqe(rg__p *p) { return NULL; }
int rg__p_submit(rg__p *p) { return -ENOSYS; }
int rg__uring_probe(char *why, size_t n) { return 0; }
#endif
