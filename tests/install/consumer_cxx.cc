/* A C++ user: ringo's headers must compile as C++ (g++ and clang++,
 * -Wall -Wextra -pedantic -Werror), inline fast paths included, and
 * link against the shared library.  Tasks on every P add under one rg_mutex,
 * report over a channel, and the main task waits in rg_select on the
 * channel and on a cancelled context's done channel. */
#include <ringo.h>

#include <cstdio>

namespace {

rg_mutex mu = RG_MUTEX_INIT;
rg_rwmutex rw = RG_RWMUTEX_INIT;
long total;
rg_chan *done_ch;

constexpr int kTasks = 16;
constexpr int kAdds = 10000;

void adder(void *)
{
	for (int i = 0; i < kAdds; i++) {
		rg_mutex_lock(&mu);
		total++;
		rg_mutex_unlock(&mu);
		if (i % 100 == 0) {
			rg_rwmutex_rlock(&rw);
			rg_rwmutex_runlock(&rw);
		}
	}
	int one = 1;
	rg_chan_send(done_ch, &one, -1);
}

int main_task(void *)
{
	done_ch = rg_chan_make(sizeof(int), 0);
	rg_ctx *ctx = nullptr;
	if (!done_ch || rg_ctx_with_cancel(rg_ctx_background(), &ctx) != 0)
		return 1;
	for (int i = 0; i < kTasks; i++)
		rg_go(adder, nullptr);
	int finished = 0, v = 0;
	while (finished < kTasks) {
		rg_select_case cs[2] = {};
		cs[0].ch = done_ch;
		cs[0].dir = RG_SELECT_RECV;
		cs[0].val = &v;
		cs[1].ch = rg_ctx_done(ctx);
		cs[1].dir = RG_SELECT_RECV;
		int r = rg_select(cs, 2, rg_now() + 10000000000LL);
		if (r != 0)
			return 2; /* the context is not cancelled yet; no timeout */
		finished += v;
	}
	rg_ctx_cancel(ctx);
	rg_select_case c = {};
	c.ch = rg_ctx_done(ctx);
	c.dir = RG_SELECT_RECV;
	int r = rg_select(&c, 1, rg_now() + 10000000000LL);
	rg_ctx_release(ctx);
	rg_chan_free(done_ch);
	rg_mutex_lock(&mu);
	long t = total;
	rg_mutex_unlock(&mu);
	std::printf("consumer_cxx: total %ld of %ld, done channel %s\n", t, (long)kTasks * kAdds,
	            r == 0 && !c.ok ? "closed" : "NOT closed");
	return t == (long)kTasks * kAdds && r == 0 && !c.ok ? 0 : 3;
}

} // namespace

int main()
{
	rg_config cfg = {};
	cfg.quiet = 1;
	int r = rg_run(main_task, nullptr, &cfg);
	std::printf("consumer_cxx: rg_run returned %d\n", r);
	return r;
}
