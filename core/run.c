/*
 * core/run.c — rg_run: configuration, starting the Ps, and a shutdown that
 * releases everything.
 *
 * Start: validate the configuration, probe io_uring (one clear line and
 * -errno if it cannot be used), start one thread per P.  Each P thread pins
 * itself, allocates its P (node-local: after pinning, from its own thread),
 * sets up its ring, and waits at the start gate; then P0 queues the main
 * task.  If a thread cannot be created, or a P cannot be set up, or the main
 * task cannot get a stack, the Ps that started leave at once and rg_run
 * returns -errno.
 * Stop: when main returns, `stopping` is set and every P is woken; each P
 * leaves its loop at its next scheduling point.  rg_run then joins them,
 * stops sysmon and the blocking pool, closes the rings and unmaps every
 * stack.  Tasks that were still runnable or parked are discarded.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/sched_int.h"

#ifdef RG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define RG_MAX_PROCS 1024

struct pstart {
	int id, cpu, node;
	pthread_t thread;
	int err;
};

/* The start gate: each P thread counts itself in `nready` and waits for
 * `go`, which rg_run opens once every thread it managed to create is in.
 * (Barriers need their count up front: when a pthread_create failed, those
 * that had started waited for ever.)  Two futex words, not a condition
 * variable: with one (a mutex, a condvar both sides broadcast on) rg_run
 * hung at start now and then, its pthread_cond_broadcast of `go` waiting
 * for ever in glibc 2.36's __condvar_quiesce_and_switch_g1 while both P
 * threads slept in pthread_cond_wait (a review, twice, running gc tests
 * side by side under load: glibc bug 25847's family, fixed upstream only
 * in 2.41). */
static struct {
	_Atomic int nready;
	_Atomic int go;
	struct pstart *ps;
	bool failed;     /* written before go opens, read after */
	int main_err;    /* P0 writes it (the main task's spawn failed: -errno); rg_run reads it after the joins */
	rg_main_fn main_fn;
	void *main_arg;
	bool nopin;
} boot;

/* Per-thread set-up shared by P threads and pool threads. */
void rg__m_init_thread(rg__m *m)
{
	rg__tls_m = m;
	rg__altstack_init(m);
#ifdef RG_TSAN
	m->g0_fiber = __tsan_get_current_fiber();
#endif
	pthread_attr_t a;
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		void *lo;
		size_t sz;
		if (pthread_attr_getstack(&a, &lo, &sz) == 0) {
			m->g0_lo = lo;
			m->g0_size = sz;
		}
		pthread_attr_destroy(&a);
	}
}

void rg__m_fini_thread(rg__m *m)
{
	rg__altstack_fini(m);
	rg__tls_m = NULL;
}

static void futex_wait(_Atomic int *w, int val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0); /* EAGAIN, EINTR: the caller looks again */
}

static void futex_wake(_Atomic int *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }

static void gate_wait(void)
{
	atomic_fetch_add(&boot.nready, 1);
	futex_wake(&boot.nready);
	while (!atomic_load(&boot.go))
		futex_wait(&boot.go, 0);
}

static void main_task(void *arg)
{
	rg__sched.main_result = boot.main_fn(arg);
}

static void p_shutdown(rg__p *p)
{
	pthread_mutex_lock(&rg__sched.lock);
	if (p->on_idle_list) {
		for (rg__p **pp = &rg__sched.idle; *pp; pp = &(*pp)->idle_next)
			if (*pp == p) {
				*pp = p->idle_next;
				break;
			}
		p->on_idle_list = false;
	}
	pthread_mutex_unlock(&rg__sched.lock);
	for (int s = 0; s < RG__SLOT_COUNT; s++)
		if (p->slot[s] && p->slot_dtor[s]) {
			p->slot_dtor[s](p->slot[s]);
			p->slot[s] = NULL;
		}
	rg__task_cache_drain(p);
}

static void *p_main(void *arg)
{
	struct pstart *ps = arg;
	if (!boot.nopin)
		rg__topo_pin(ps->cpu);
	rg__p *p = rg__aligned_alloc(64, sizeof *p);
	rg__m *m = rg__calloc(1, sizeof *m);
	if (!p || !m) {
		ps->err = -ENOMEM;
		rg__free(p);
		rg__free(m);
		gate_wait();
		return NULL;
	}
	memset(p, 0, sizeof *p);
	p->id = ps->id;
	p->cpu = ps->cpu;
	p->node = ps->node;
	p->efd = -1;
	p->rand = 0x9e3779b9u * (uint32_t)(ps->id + 1);
	p->m = m;
	atomic_store(&p->status, RG__P_RUNNING);
	atomic_store(&p->timer_next, INT64_MAX);
	p->sysmon_when = rg__mono();
	m->p = p;
	rg__m_init_thread(m);
	ps->err = rg__sched.waiter->init(p);
	rg__sched.allp[ps->id] = p;
	gate_wait();
	if (!boot.failed) {
		if (p->id == 0) {
			/* the argument goes with the task (a GC root until it
			 * runs, as any task's: boot is not scanned) */
			int64_t id = rg__spawn(main_task, boot.main_arg, &(rg_task_opts){ .name = "main" }, true);
			if (id < 0) {
				/* no stack for it (a stack_size the address space
				 * cannot hold): every P leaves, rg_run says why */
				rg__log("cannot start: the main task: %s", strerror((int)-id));
				boot.main_err = (int)id;
				rg__sched_stop(p);
			}
		}
		rg__p_loop(m);
		/* No P tears down its per-P state (p_shutdown: the slots'
		 * destructors) while another still runs a task or a park's
		 * unlock callback: those reach other Ps' state, io/'s hop to
		 * a P (its eventfd, its request list).  Each P used to tear
		 * down as it left its loop, and a task hopping to one that
		 * had found its io state gone (rg__fatal), or a hop's
		 * callback wrote to the eventfd that P had just closed
		 * (TSan in io_pressure; once the number is reused, somebody
		 * else's file): tests/io/test_shutdown_hop.c. */
		rg__p_leave(p);
		p_shutdown(p);
		rg__p_dead(p);
	}
	rg__m_fini_thread(m);
	return NULL;
}

/* Held by a thread doing outside work (rg__outside_begin), taken by
 * rg_run between setting running and starting the Ps. */
static pthread_mutex_t outside_mu = PTHREAD_MUTEX_INITIALIZER;

bool rg__outside_begin(void)
{
	pthread_mutex_lock(&outside_mu);
	if (atomic_load(&rg__sched.running)) {
		pthread_mutex_unlock(&outside_mu);
		return false;
	}
	return true;
}

void rg__outside_end(void) { pthread_mutex_unlock(&outside_mu); }

static void (*stop_hooks[8])(void);
static _Atomic int nstop_hooks;

void rg__at_stop(void (*fn)(void))
{
	int i = atomic_fetch_add(&nstop_hooks, 1);
	if (i >= (int)(sizeof stop_hooks / sizeof stop_hooks[0]))
		rg__fatal("rg__at_stop: too many hooks");
	stop_hooks[i] = fn;
}

/* Grows the fd table to `want` slots (0: min(RLIMIT_NOFILE, 65536))
 * before any P thread exists.  The kernel grows it on demand, doubling
 * from 64; in a process whose threads share it, each growth waits for an
 * RCU grace period (synchronize_rcu in expand_fdtable): 10-20 ms on a
 * quiet machine, seconds on a loaded one, with the P that opened the fd,
 * its run queue and its timers stuck in the accept or socket call.  One
 * growth here spares the Ps every later one.  F_DUPFD takes the lowest
 * free fd at or above its argument, so no open fd is touched. */
static void fd_table_grow(int want)
{
	struct rlimit rl;
	if (want < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (want == 0)
		want = 65536;
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)want > rl.rlim_cur)
		want = (int)rl.rlim_cur;
	if (want <= 64) /* the table every process starts with */
		return;
	int fd = open("/", O_PATH | O_CLOEXEC);
	if (fd < 0)
		return; /* out of fds already: nothing to gain */
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, want - 1);
	if (hi >= 0)
		close(hi);
	close(fd);
}

static int fail(int err, const char *fmt, const char *detail)
{
	rg__log(fmt, detail);
	return err;
}

static int run(rg_main_fn main_fn, void *arg, const rg_config *cfg);

/* The library never touches errno (core.h), but a run makes system calls
 * that may fail harmlessly (no cgroup cpu.max file: ENOENT, with every
 * run on such a machine; a probe, an fd-table growth): errno came back
 * changed, on success too (tests/core/test_errno.c).  Kept here,
 * once, rather than at each call. */
int rg_run(rg_main_fn main_fn, void *arg, const rg_config *cfg)
{
	int saved = errno;
	int r = run(main_fn, arg, cfg);
	errno = saved;
	return r;
}

static int run(rg_main_fn main_fn, void *arg, const rg_config *cfg)
{
	rg_config c = { 0 };
	char why[256] = "";
	if (cfg)
		c = *cfg;
	if (!main_fn)
		return fail(-EINVAL, "rg_run: %s", "main_fn is NULL");
	if (c.procs < 0)
		return fail(-EINVAL, "rg_run: %s", "procs must be >= 0 (0: one per usable CPU)");
	if (c.stack_size && (c.stack_size < 16 * 1024 || c.stack_size > ((size_t)1 << 30)))
		return fail(-EINVAL, "rg_run: %s", "stack_size must be 0 or between 16 KiB and 1 GiB");
	if (c.ring_entries > 32768)
		return fail(-EINVAL, "rg_run: %s", "ring_entries must be at most 32768");
	if (c.fd_table < -1)
		return fail(-EINVAL, "rg_run: %s", "fd_table must be -1, 0 or a slot count");
	int expected = 0;
	if (!atomic_compare_exchange_strong(&rg__sched.running, &expected, 1))
		return fail(-EBUSY, "rg_run: %s", "already running in this process");
	/* Outside work that began before `running` was set (a collection by
	 * a thread without a P, which scans no task) ends before any task
	 * runs; work that begins later sees `running` and backs off. */
	pthread_mutex_lock(&outside_mu);
	pthread_mutex_unlock(&outside_mu);

	rg__pin_init();
	int cpus[RG_MAX_PROCS];
	int n = rg__topo_procs(c.procs, cpus, RG_MAX_PROCS, why, sizeof why);
	if (n < 0) {
		atomic_store(&rg__sched.running, 0);
		return fail(n, "%s", why);
	}
#ifndef RG_NO_URING
	/* io backend (io/): io_uring when it works, else io/'s epoll backend;
	 * RINGO_IO=epoll forces epoll, RINGO_IO=io_uring refuses to fall back.
	 * One line says which and why (unless cfg.quiet). */
	{
		extern bool rg__io_use_epoll;
		extern const rg__waiter_ops rg__waiter_epoll;
		void rg__io_faults_init(void);
		int rg__io_efds_make(int n);
		const char *want = getenv("RINGO_IO");
		bool force_epoll = want && !strcmp(want, "epoll");
		bool force_uring = want && (!strcmp(want, "io_uring") || !strcmp(want, "uring"));
		if (want && *want && !force_epoll && !force_uring)
			rg__log("RINGO_IO=%s unknown (io_uring or epoll): choosing automatically", want);
		int pr = force_epoll ? -1 : rg__uring_probe(why, sizeof why);
		if (pr < 0 && force_uring) {
			atomic_store(&rg__sched.running, 0);
			return fail(pr, "cannot start (RINGO_IO=io_uring): %s", why);
		}
		rg__io_faults_init();
		/* atomic: rg_io_backend reads it from any thread, also while
		 * this run starts (the Ps read it plainly: they start after) */
		__atomic_store_n(&rg__io_use_epoll, pr < 0, __ATOMIC_RELAXED);
		rg__sched.waiter = pr < 0 ? &rg__waiter_epoll : &rg__waiter_uring;
		/* io_uring: each P's eventfd for cancels from other threads,
		 * now, while running out of fds is still -errno (io/cancel.c) */
		int er = pr < 0 ? 0 : rg__io_efds_make(n);
		if (er < 0) {
			atomic_store(&rg__sched.running, 0);
			return fail(er, "cannot start: an eventfd for each P: %s", strerror(-er));
		}
		if (!c.quiet) {
			if (force_epoll)
				rg__log("io backend: epoll (RINGO_IO=epoll)");
			else if (pr < 0)
				rg__log("io backend: epoll, because %s", why);
			else
				rg__log("io backend: io_uring%s", force_uring ? " (RINGO_IO=io_uring)" : "");
		}
	}
#else
	rg__sched.waiter = &rg__waiter_eventfd;
#endif
	/* rg_procs on other threads reads it once `running` is set: 0 until
	 * now (reset when the previous run ended), then this run's count */
	__atomic_store_n(&rg__sched.nprocs, n, __ATOMIC_RELAXED);
	rg__sched.stack_size = c.stack_size ? c.stack_size : 64 * 1024;
	rg__sched.ring_entries = c.ring_entries;
	rg__sched.sqpoll = c.sqpoll;
	rg__sched.quiet = c.quiet;
	rg__sched.main_result = 0;
	rg__sched.gq_head = 0;
	rg__sched.gq_spill_head = rg__sched.gq_spill_tail = NULL;
	rg__sched.gq_spilled = 0;
	rg__sched.gq_size = 0;
	rg__sched.idle = NULL;
	rg__sched.npidle = 0;
	rg__sched.nmspinning = 0;
	rg__sched.stw_pending = 0;
	rg__sched.stw_stopped = 0;
	rg__sched.preempt_requests = 0;
	rg__sched.blocking_calls = 0;
	rg__sched.foreign_spawned = 0;
	/* Task ids are unique in the process, not per run: an id kept from
	 * an earlier run (rg_go's result, in a table that outlives it) must
	 * not name a task of this one, which rg_cancel would then interrupt
	 * (tests/io/test_life_ids.c).  The first run starts them at 1. */
	{
		int64_t none = 0;
		atomic_compare_exchange_strong(&rg__sched.next_id, &none, 1);
	}
	rg__sched.start_ns = rg__mono();
	rg__sched.allp = rg__calloc((size_t)n, sizeof(rg__p *));
	boot.ps = rg__calloc((size_t)n, sizeof *boot.ps);
	if (!rg__sched.allp || !boot.ps) {
		rg__free(rg__sched.allp);
		rg__free(boot.ps);
		__atomic_store_n(&rg__sched.nprocs, 0, __ATOMIC_RELAXED);
		atomic_store(&rg__sched.running, 0);
		return fail(-ENOMEM, "rg_run: %s", "out of memory");
	}
	fd_table_grow(c.fd_table);
	rg__stacks_init(rg__sched.stack_size);
	rg__blocking_init();
	/* everything a spawn from a thread without a P touches is set up */
	rg__sched.nleft = 0; /* no P thread yet */
	atomic_store(&rg__sched.stopping, 0);
	atomic_store(&rg__sched.accepting, 1);
	boot.main_fn = main_fn;
	{
		const char *pin = getenv("RINGO_PIN");
		boot.nopin = c.nopin || (pin && strcmp(pin, "0") == 0);
	}
	boot.main_arg = arg;
	boot.failed = false;
	boot.main_err = 0;
	atomic_store(&boot.nready, 0);
	atomic_store(&boot.go, 0);
	int started = 0, err = 0;
	for (int i = 0; i < n; i++) {
		boot.ps[i].id = i;
		boot.ps[i].cpu = cpus[i];
		/* libnuma's lazy init is not thread-safe: ask here */
		boot.ps[i].node = rg__topo_node(cpus[i]);
		int r = pthread_create(&boot.ps[i].thread, NULL, p_main, &boot.ps[i]);
		if (r) {
			err = -r;
			break;
		}
		started++;
	}
	for (int r; (r = atomic_load(&boot.nready)) < started;)
		futex_wait(&boot.nready, r);
	if (started < n) {
		boot.failed = true;
		rg__log("cannot start: P thread %d of %d: %s", started, n, strerror(-err));
	}
	for (int i = 0; i < started; i++)
		if (boot.ps[i].err && !err)
			err = boot.ps[i].err;
	if (err) {
		if (!boot.failed)
			rg__log("cannot start: setting up a P failed: %s", strerror(-err));
		boot.failed = true;
	} else if (rg__sysmon_start() != 0) {
		boot.failed = true;
		err = -EAGAIN;
		rg__log("cannot start: sysmon thread: %s", strerror(EAGAIN));
	}
	/* every P has set up its ring (before the ready barrier): threads
	 * without a P may look at them now (rg_close's flush) */
	if (!boot.failed)
		atomic_store_explicit(&rg__sched.flush_allp, rg__sched.allp, memory_order_release);
	if (boot.failed)
		atomic_store(&rg__sched.accepting, 0);
	atomic_store(&boot.go, 1);
	futex_wake(&boot.go);
	for (int i = 0; i < started; i++)
		pthread_join(boot.ps[i].thread, NULL);
	/* main cleared `accepting`; spawns from threads without a P that
	 * checked it before finish before stacks and queues go (their tasks
	 * are discarded with the rest) */
	atomic_store(&rg__sched.accepting, 0);
	while (atomic_load(&rg__sched.pless_spawners))
		sched_yield();
	/* Before the modules let go of the tasks left, nothing of the
	 * runtime's may still act on them: sysmon stops (it fires the timers
	 * of a P stuck in one task: a Context's deadline, whose cancel closed
	 * its done channel and claimed the records of selects discarded
	 * there, which sel_at_stop frees: tests/sync/
	 * test_life_sysmon_fire.c), and the blocking sections still in
	 * progress end (their functions may use channels without waiting: a
	 * send to a select discarded there claimed its freed record,
	 * test_life_blocking_send.c).  A task back from the pool is
	 * discarded with the rest. */
	rg__sysmon_stop();
	rg__blocking_fini();
	/* no task runs any more: modules let go of the ones left (before
	 * their stacks, which hold the task records, are unmapped), and of
	 * their runtime timers */
	for (int i = 0; i < n; i++)
		if (rg__sched.allp[i])
			rg__timers_drop(rg__sched.allp[i]);
	for (int i = 0; i < atomic_load(&nstop_hooks); i++)
		stop_hooks[i]();
	/* ... and no longer, before the rings go */
	atomic_store(&rg__sched.flush_allp, NULL);
	while (atomic_load(&rg__sched.flushers))
		sched_yield();
	for (int i = 0; i < n; i++) {
		rg__p *p = rg__sched.allp[i];
		if (!p)
			continue;
		rg__sched.waiter->fini(p);
		rg__free(p->timers);
		rg__free(p->m);
		rg__free(p);
	}
	/* tasks left in queues are discarded with their stacks */
	rg__free(rg__sched.gq);
	rg__sched.gq = NULL;
	rg__sched.gq_cap = rg__sched.gq_head = 0;
	rg__sched.gq_spill_head = rg__sched.gq_spill_tail = NULL;
	rg__sched.gq_spilled = 0;
	rg__sched.gq_size = 0;
	rg__stacks_fini();
	rg__free(boot.ps);
	boot.ps = NULL;
	rg__p **allp = rg__sched.allp;
	rg__sched.allp = NULL;
	rg__free(allp);
	int result = err ? err : boot.main_err ? boot.main_err : rg__sched.main_result;
	/* a stale count must not show during the next run's start */
	__atomic_store_n(&rg__sched.nprocs, 0, __ATOMIC_RELAXED);
	atomic_store(&rg__sched.running, 0);
	return result;
}
