/* 10,000 concurrent TCP connections over loopback: a child process
 * connects them all (one task each) and every one echoes a message; the
 * server side runs one task per connection and keeps every connection open
 * until all of them have echoed (a pipe is the barrier: no task polls), so
 * all 10,000 are open at once.  Nothing leaks: fds are counted before and
 * after. */
// ctest-timeout: 150
#include <poll.h>
#include <sys/wait.h>

#include "io_test.h"

/* TSan: no fork (its runtime's threads do not survive one): clients and
 * server share one process, so fewer connections fit under the fd limit */
#define N (T_TSAN ? 1000 : T_SANITIZED ? 2000 : 10000)
#define MSG 64

static int port, lfd, barrier[2];
static _Atomic int live, peak, served, echoed, failures, cdone;

static void conn_fn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	int l = atomic_fetch_add(&live, 1) + 1;
	int p = atomic_load(&peak);
	while (l > p && !atomic_compare_exchange_weak(&peak, &p, l))
		;
	char buf[MSG];
	if (rg_recv_exact(fd, buf, MSG, -1, NULL) != MSG || rg_send_all(fd, buf, MSG, -1, NULL) != MSG)
		atomic_fetch_add(&failures, 1);
	if (atomic_fetch_add(&echoed, 1) + 1 == N)
		CHECK_EQ(rg_write(barrier[1], "go", 2, -1), 2);
	/* hold the connection until every one has echoed */
	CHECK(rg_poll(barrier[0], POLLIN, -1) & POLLIN);
	atomic_fetch_sub(&live, 1);
	rg_close(fd);
	atomic_fetch_add(&served, 1);
}

static void client_fn(void *arg)
{
	int i = (int)(intptr_t)arg;
	int fd = t_connect(AF_INET, port, rg_now() + 60000 * MS);
	if (fd < 0) {
		fprintf(stderr, "client %d: connect: %s\n", i, strerror(-fd));
		atomic_fetch_add(&failures, 1);
		atomic_fetch_add(&cdone, 1);
		return;
	}
	char out[MSG], in[MSG];
	memset(out, (char)i, sizeof out);
	memcpy(out, &i, sizeof i);
	if (rg_send_all(fd, out, sizeof out, -1, NULL) != MSG ||
	    rg_recv_exact(fd, in, sizeof in, -1, NULL) != MSG || memcmp(in, out, MSG))
		atomic_fetch_add(&failures, 1);
	/* the server closes once all have echoed */
	if (rg_recv(fd, in, 1, 0, -1) != 0)
		atomic_fetch_add(&failures, 1);
	rg_close(fd);
	atomic_fetch_add(&cdone, 1);
}

static void spawn_clients(void *arg)
{
	for (int i = 0; i < N; i++) {
		CHECK(rg_go(client_fn, (void *)(intptr_t)i) > 0);
		if (i % 256 == 255)
			rg_yield();
	}
}

static int client_main(void *arg)
{
	spawn_clients(NULL);
	t_wait_count(&cdone, N);
	return atomic_load(&failures) ? 1 : 0;
}

static int server_main(void *arg)
{
	int before = t_open_fds();
	if (T_TSAN)
		CHECK(rg_go(spawn_clients, NULL) > 0);
	for (int i = 0; i < N; i++) {
		int fd = rg_accept(lfd, NULL, NULL, rg_now() + 60000 * MS);
		if (fd < 0) {
			fprintf(stderr, "accept %d: %s\n", i, strerror(-fd));
			return 1;
		}
		CHECK(rg_go(conn_fn, (void *)(intptr_t)fd) > 0);
	}
	t_wait_count(&served, N);
	if (T_TSAN)
		t_wait_count(&cdone, N);
	CHECK_EQ(atomic_load(&failures), 0);
	printf("server: %d connections, %d at once\n", N, atomic_load(&peak));
	CHECK_EQ(atomic_load(&peak), N);
	CHECK_EQ(t_open_fds(), before);
	return 0;
}

int main(void)
{
	t_raise_nofile(2 * N + 200);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t need = (T_TSAN ? 2 * N : N) + 100;
	if (rl.rlim_cur < need)
		SKIP("RLIMIT_NOFILE is %llu, need %llu (raise ulimit -n)", (unsigned long long)rl.rlim_cur,
		     (unsigned long long)need);
	CHECK(pipe2(barrier, O_CLOEXEC) == 0);
	struct sockaddr_storage ss;
	int len = rg_sockaddr("127.0.0.1", 0, &ss);
	lfd = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 65535, RG_LISTEN_REUSEADDR);
	CHECK(lfd >= 0);
	socklen_t sl = sizeof ss;
	CHECK(getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	fflush(stdout);
	if (T_TSAN) {
		CHECK_EQ(t_run(server_main, 2), 0);
		return T_PASS;
	}
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(lfd);
		rg_config c = { .procs = 1, .quiet = 1 };
		_exit(rg_run(client_main, NULL, &c));
	}
	int r = t_run(server_main, 1);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	CHECK_EQ(r, 0);
	close(lfd);
	return T_PASS;
}
