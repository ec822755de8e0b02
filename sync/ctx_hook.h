/*
 * sync/ctx_hook.h — the one thing of sync/ that io/ may use: watching the
 * calling task's bound Context during an operation that does not park
 * through sync/ (an I/O call that must cancel its SQE and await the final
 * CQE).  Not installed.
 *
 * Use, in an I/O call:
 *   struct rg__ctx_watch w;
 *   int err = rg__ctx_watch_begin(&w, cancel_my_op, op);
 *   if (err) return err;            // bound context already done
 *   ... submit, park until the final CQE ...
 *   err = rg__ctx_watch_end(&w);
 *   if (err && res == -ECANCELED) res = err;  // -ECANCELED or -ETIMEDOUT
 *
 * fn(arg) runs at most once, on the cancelling thread (any thread, any
 * task, or a P's scheduler firing a context's deadline timer), with no lock held; it must not
 * block (rg_cancel-like: ask the op's P to cancel it).  rg__ctx_watch_end
 * returns only once fn has returned, so `arg` may live on the caller's
 * stack.  Without a bound context (or one that can never end) begin
 * returns 0 and both calls are a few loads.
 *
 * begin also fills w->deadline with the bound context's deadline
 * (absolute rg_now() ns; INT64_MAX: none), so that the call can bound its
 * own deadline by it and a deadline context costs no extra wake-up.
 */
#ifndef RG_SYNC_CTX_HOOK_H
#define RG_SYNC_CTX_HOOK_H

#include <stdatomic.h>
#include <stdint.h>

struct rg_ctx;
struct rg__ctx_watch {
	void (*fn)(void *arg);
	void *arg;
	struct rg_ctx *owner;          /* NULL: nothing watched */
	struct rg__ctx_watch *next, *prev; /* owner's lock */
	_Atomic int state;             /* 0 off, 1 linked, 2 firing, 3 fired */
	int64_t deadline;              /* written by begin; the caller's */
};

/* 0, or the bound context's error if it is already done (nothing
 * registered then). */
int rg__ctx_watch_begin(struct rg__ctx_watch *w, void (*fn)(void *arg), void *arg);
/* 0 if fn did not run; else the context's error, after fn returned. */
int rg__ctx_watch_end(struct rg__ctx_watch *w);

#endif
