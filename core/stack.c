/*
 * core/stack.c — task stacks, and the task records that live on them.
 *
 * The budget problem.  A stack with a guard page costs two mappings (the
 * guard splits the VMA), and Linux caps a process at vm.max_map_count
 * (65530 by default): one guarded mapping per task would stop near 32,000
 * tasks, yet a server parks a million.  So stacks are carved from slabs:
 *
 *   guarded slab (64 slots):  [guard][stack ...... rec][guard][stack .. rec]
 *   canary slab (1024 slots): [guard|cnry|stack .... rec|cnry|stack ... rec|]
 *
 * Guarded slots are used while the mapping budget lasts (a quarter of
 * max_map_count, at least 16384 mappings, is left to the rest of the
 * process; each guarded slot costs two).  Past the budget, slots have a
 * canary word at their bottom, checked every time the task is switched out:
 * an overflow is then caught after the fact (it may have damaged the record
 * of the slot below before the check), where a guard page catches it at the
 * faulting instruction.  A canary slab still has one guard page below its
 * first slot (two mappings per 1,024 stacks): an overflow runs through the
 * slab's own slots, never into whatever mapping the kernel put below it,
 * and a deep one faults there and is reported like a guarded one.  Both
 * end the same way: one line naming the task, then abort.  The stats say
 * how many stacks of each kind were made.
 *
 * One page per parked task.  The task record sits at the top of its own
 * slot; canary slots start half a page into a page, so a slot's top page
 * also holds the next slot's canary.  A task that parks using less than
 * ~1.5 KiB of stack touches exactly one page: record, first frames and its
 * neighbour's canary.  Pages are committed lazily (MAP_NORESERVE).
 *
 * Recycling.  Dead records (with their stacks) go to a per-P cache, then to
 * a global pool; sysmon's scavenger gives the pages below the top page of
 * pooled stacks back to the OS with madvise(MADV_DONTNEED), off the spawn
 * path.  Stacks of a non-default size get a mapping of their own, with a
 * guard page, unmapped when the task exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/sched_int.h"

#ifdef RG_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef RG_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define RG_VALGRIND 1
#endif

#define RG_CANARY 0x5a17c0ffee0dd5a1ULL
#define GUARDED_SLOTS 64
#define CANARY_SLOTS 1024
#define REC_SIZE ((sizeof(struct rg__task) + 63) & ~(size_t)63)
/* Slot i's record (and so its stack) ends COLOR(i) bytes below the slot's
 * top.  Slots are page multiples: without it every record and every
 * task's hot frames would sit at one page offset, in the same few L1 sets
 * (and, on physically indexed caches, a sixteenth of the L2): a P cycling
 * through a thousand parked tasks would miss on them in turn. */
#define COLORS 16
#define COLOR(i) ((size_t)((i) % COLORS) * 64)

struct slab {
	struct slab *next, *prev;
	char *base;       /* mapping */
	size_t len;
	size_t slot;      /* slot size */
	char *first;      /* first slot's start */
	int nslots, used; /* used: slots handed out so far (bump) */
	uint8_t kind;
};

/* Slot i's record, in a slab of default-size slots. */
static rg__task *slot_rec(const struct slab *s, int i)
{
	return (rg__task *)(s->first + (size_t)(i + 1) * s->slot - COLOR(i) - REC_SIZE);
}

/* Guarded by st.lock unless marked. */
static struct {
	pthread_mutex_t lock;
	struct slab *slabs;          /* every mapping, for GC walks and fini */
	struct slab *cur[2];         /* bump slabs: [0] guarded, [1] canary */
	/* Global pool of dead default-size records: stacks of pointers (taking
	 * one touches no record).  dirty[0] is the coldest. */
	struct vec { rg__task **v; long n, cap; } dirty, clean;
	long dirty_low;              /* lowest dirty.n since the last scavenge */
	size_t stack_size;           /* default, page multiple */
	long guard_budget;           /* guarded slots still allowed */
	/* Mappings stacks may still take, of the three quarters of
	 * max_map_count left after the reserve: a guarded slot or a
	 * custom-size stack costs two, a canary slab two.  Custom stacks
	 * took mappings until the kernel had none left, for anyone:
	 * 32,673 tasks with a 32 KiB stack, then the GC heap returned NULL
	 * and no thread could start (tests/core/test_custom_stacks.c).
	 * They give theirs back when they exit.  Under lock. */
	long map_budget;
	_Atomic uint64_t n_guarded, n_canary; /* stats */
	struct sigaction old_segv, old_bus;
	bool handler_installed;
} st = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t pagesz;

/* st.lock held.  Out of memory for the pool: the record is dropped (its
 * slot is not reused until the runtime stops), nothing else breaks. */
static void vec_push(struct vec *a, rg__task *t)
{
	if (a->n == a->cap) {
		long cap = a->cap ? a->cap * 2 : 1024;
		rg__task **v = rg__realloc(a->v, (size_t)cap * sizeof *v);
		if (!v)
			return;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = t;
}

static size_t page_up(size_t n) { return (n + pagesz - 1) & ~(pagesz - 1); }
static char *ptr_page_up(char *p) { return (char *)page_up((uintptr_t)p); }
static char *ptr_page_down(char *p) { return (char *)((uintptr_t)p & ~(pagesz - 1)); }

static long read_max_map_count(void)
{
	long v = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

static void overflow_handler(int sig, siginfo_t *si, void *uc);

int rg__stacks_init(size_t default_size)
{
	pagesz = (size_t)sysconf(_SC_PAGESIZE);
	st.stack_size = page_up(default_size);
	long max = read_max_map_count();
	long reserve = max / 4 > 16384 ? max / 4 : 16384;
	st.guard_budget = max > reserve ? (max - reserve) / 2 : 0;
	st.map_budget = max > reserve ? max - reserve : 0;
	const char *g = getenv("RINGO_STACK_GUARDS"); /* a budget of one's own */
	if (g) {
		char *end;
		errno = 0;
		long v = strtol(g, &end, 10);
		if (end == g || *end || errno || v < 0) /* atol read "abc" as 0 */
			rg__log("RINGO_STACK_GUARDS=\"%s\" is not a whole number >= 0; the default (%ld) is used", g,
			        st.guard_budget);
		else
			st.guard_budget = v;
	}
	st.n_guarded = st.n_canary = 0;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = overflow_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &st.old_segv) == 0 &&
	    sigaction(SIGBUS, &sa, &st.old_bus) == 0)
		st.handler_installed = true;
	return 0;
}

static void slab_unmap(struct slab *s)
{
	/* Records of tasks still alive (discarded at shutdown) hold memory. */
	for (int i = 0; i < s->used; i++) {
		rg__task *t = s->kind == RG__STACK_CUSTOM ? (rg__task *)(s->first + s->slot - REC_SIZE)
		                                          : slot_rec(s, i);
		if (t->tls)
			rg__free(t->tls);
#ifdef RG_TSAN
		if (t->tsan_fiber)
			__tsan_destroy_fiber(t->tsan_fiber);
#endif
#ifdef RG_VALGRIND
		if (t->vg_stack_id)
			VALGRIND_STACK_DEREGISTER(t->vg_stack_id);
#endif
	}
#ifdef RG_ASAN
	ASAN_UNPOISON_MEMORY_REGION(s->base, s->len);
#endif
	munmap(s->base, s->len);
}

static void restore_if_ours(int sig, const struct sigaction *old)
{
	struct sigaction cur;
	if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == overflow_handler)
		sigaction(sig, old, NULL);
}

void rg__stacks_fini(void)
{
	pthread_mutex_lock(&st.lock);
	struct slab *s = st.slabs;
	while (s) {
		struct slab *n = s->next;
		slab_unmap(s);
		rg__free(s);
		s = n;
	}
	st.slabs = NULL;
	st.cur[0] = st.cur[1] = NULL;
	rg__free(st.dirty.v);
	rg__free(st.clean.v);
	memset(&st.dirty, 0, sizeof st.dirty);
	memset(&st.clean, 0, sizeof st.clean);
	st.dirty_low = 0;
	if (st.handler_installed) {
		/* give back what was there at start, unless the program has
		 * installed a handler of its own since: that one stays */
		restore_if_ours(SIGSEGV, &st.old_segv);
		restore_if_ours(SIGBUS, &st.old_bus);
		st.handler_installed = false;
	}
	pthread_mutex_unlock(&st.lock);
}

static void slab_link(struct slab *s)
{
	s->prev = NULL;
	s->next = st.slabs;
	if (st.slabs)
		st.slabs->prev = s;
	st.slabs = s;
}

static void slab_unlink(struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		st.slabs = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

/* A new slab of default-size slots; st.lock held.  If the address space
 * will not hold a full slab (RLIMIT_AS, overcommit_memory=2, which counts
 * MAP_NORESERVE too; or large stacks: 1024 of 1 GiB), fewer slots, down
 * to one. */
static struct slab *slab_new(bool guarded)
{
	size_t S = st.stack_size;
	struct slab *s = rg__calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->kind = guarded ? RG__STACK_GUARDED : RG__STACK_CANARY;
	s->slot = guarded ? S + pagesz : S;
	for (s->nslots = guarded ? GUARDED_SLOTS : CANARY_SLOTS;; s->nslots /= 2) {
		/* A canary slab: one guard page below its slots, half a page
		 * of slack below the first canary and above the last record. */
		s->len = (size_t)s->nslots * s->slot + (guarded ? 0 : 2 * pagesz);
		s->base = mmap(NULL, s->len, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (s->base != MAP_FAILED)
			break;
		if (s->nslots == 1) {
			rg__free(s);
			return NULL;
		}
	}
	/* Huge pages would turn one touched page per stack into 2 MiB. */
	madvise(s->base, s->len, MADV_NOHUGEPAGE);
	s->first = guarded ? s->base : s->base + pagesz + pagesz / 2;
	if (!guarded && mprotect(s->base, pagesz, PROT_NONE) != 0) {
		munmap(s->base, s->len);
		rg__free(s);
		return NULL;
	}
	if (guarded) {
		for (int i = 0; i < s->nslots; i++)
			if (mprotect(s->base + (size_t)i * s->slot, pagesz, PROT_NONE) != 0) {
				munmap(s->base, s->len);
				rg__free(s);
				return NULL;
			}
		st.guard_budget -= s->nslots;
		st.map_budget -= 2 * (long)s->nslots;
	} else {
		st.map_budget -= 2; /* may go below 0: canary slabs are the fallback */
	}
	slab_link(s);
	return s;
}

/* Lay out the slot from `start` up to its record `t` (kind `kind`) and
 * return the record. */
static rg__task *slot_init(char *start, rg__task *t, uint8_t kind)
{
	t->kind = kind;
	t->hi = (char *)t;
	t->timer_idx = -1;
	if (kind == RG__STACK_CANARY) {
		t->canary = (uint64_t *)start;
		*t->canary = RG_CANARY;
		t->lo = start + 16;
		atomic_fetch_add_explicit(&st.n_canary, 1, memory_order_relaxed);
	} else {
		t->lo = start + pagesz;     /* above the guard page */
		atomic_fetch_add_explicit(&st.n_guarded, 1, memory_order_relaxed);
	}
	t->map_lo = ptr_page_up(t->lo);
#ifdef RG_TSAN
	t->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef RG_VALGRIND
	t->vg_stack_id = VALGRIND_STACK_REGISTER(t->lo, t->hi);
#endif
	return t;
}

static void map_budget_give(long n)
{
	pthread_mutex_lock(&st.lock);
	st.map_budget += n;
	pthread_mutex_unlock(&st.lock);
}

/* A stack of its own (two mappings: guard and stack), if the budget
 * (map_budget) has them; else NULL, which rg_go_opts reports as -ENOMEM. */
static rg__task *custom_alloc(size_t size)
{
	size_t len = page_up(size) + pagesz;
	pthread_mutex_lock(&st.lock);
	bool ok = st.map_budget >= 2;
	if (ok)
		st.map_budget -= 2;
	pthread_mutex_unlock(&st.lock);
	if (!ok)
		return NULL;
	struct slab *s = rg__calloc(1, sizeof *s);
	if (!s) {
		map_budget_give(2);
		return NULL;
	}
	s->base = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->base == MAP_FAILED) {
		rg__free(s);
		map_budget_give(2);
		return NULL;
	}
	if (mprotect(s->base, pagesz, PROT_NONE) != 0) {
		munmap(s->base, len);
		rg__free(s);
		map_budget_give(2);
		return NULL;
	}
	s->len = len;
	s->slot = len;
	s->first = s->base;
	s->nslots = s->used = 1;
	s->kind = RG__STACK_CUSTOM;
	rg__task *t = slot_init(s->base, (rg__task *)(s->base + len - REC_SIZE), RG__STACK_GUARDED);
	t->kind = RG__STACK_CUSTOM;
	t->map_len = len;
	t->custom_slab = s;
	pthread_mutex_lock(&st.lock);
	slab_link(s);
	pthread_mutex_unlock(&st.lock);
	return t;
}

/* Take up to `want` records from the global pool into the P's cache. */
static rg__task *pool_take(rg__p *p, int want)
{
	rg__task *got = NULL;
	pthread_mutex_lock(&st.lock);
	for (int i = 0; i < want; i++) {
		rg__task *t;
		if (st.dirty.n) {
			t = st.dirty.v[--st.dirty.n];
			if (st.dirty.n < st.dirty_low)
				st.dirty_low = st.dirty.n;
		} else if (st.clean.n) {
			t = st.clean.v[--st.clean.n];
		} else {
			break;
		}
		if (!got)
			got = t;
		else if (p)
			p->free_tasks[p->nfree++] = t;
		else {
			vec_push(&st.dirty, t); /* no P: take one only */
			break;
		}
	}
	if (!got) {
		/* Carve a new slot: guarded while the budget lasts, and while
		 * the current guarded slab has room (its slots were paid for
		 * when it was made: once the budget fell below a slab, the
		 * next carve went to a canary slab and left the rest of that
		 * slab unused, so RINGO_STACK_GUARDS=100 gave one guarded
		 * stack, not 64; core_stack_guards) */
		bool guarded = (st.cur[0] && st.cur[0]->used < st.cur[0]->nslots) ||
		               (st.guard_budget >= GUARDED_SLOTS && st.map_budget >= 2 * GUARDED_SLOTS);
		int k = guarded ? 0 : 1;
		struct slab *s = st.cur[k];
		if (!s || s->used == s->nslots) {
			s = slab_new(guarded);
			if (!s && guarded) {
				k = 1;
				s = st.cur[1];
				if (!s || s->used == s->nslots)
					s = slab_new(false);
			}
			if (s)
				st.cur[k] = s;
		}
		if (s) {
			/* reserve the slot; touch its memory after unlocking */
			char *start = s->first + (size_t)s->used * s->slot;
			rg__task *t = slot_rec(s, s->used);
			s->used++;
			uint8_t kind = s->kind;
			pthread_mutex_unlock(&st.lock);
			return slot_init(start, t, kind);
		}
	}
	pthread_mutex_unlock(&st.lock);
	return got;
}

rg__task *rg__task_alloc(rg__p *p, size_t stack_size)
{
	rg__task *t;
	if (stack_size != st.stack_size) {
		t = custom_alloc(stack_size);
	} else if (p && p->nfree) {
		t = p->free_tasks[--p->nfree];
		/* a batch spawn takes the next one soon: start its (likely
		 * cold) record and stack-top lines now */
		if (p->nfree) {
			rg__task *n = p->free_tasks[p->nfree - 1];
			__builtin_prefetch(n, 1);
			__builtin_prefetch((char *)n + 64, 1);
			__builtin_prefetch((char *)n - 64, 1);
		}
	} else {
		t = pool_take(p, RG_TASK_CACHE / 2);
	}
	if (!t)
		return NULL;
#ifdef RG_ASAN
	ASAN_UNPOISON_MEMORY_REGION(t->lo, (size_t)(t->hi - t->lo));
#endif
	t->next = NULL;
	t->tls = NULL;
	memset(t->h.tslot, 0, sizeof t->h.tslot);
	t->is_main = 0;
	atomic_store_explicit(&t->in_blocking, 0, memory_order_relaxed);
	t->clean = 0;
	t->timer_p = NULL;
	t->timer_idx = -1;
	t->wait_reason = RG__WAIT_NONE;
	t->name[0] = 0;
	t->asan_fake = NULL;
	/* t->wake keeps its ticket across reuse: a stale claim never matches */
	uint64_t w = atomic_load_explicit(&t->h.wake, memory_order_relaxed);
	atomic_store_explicit(&t->h.wake, ((w >> 2) + 1) << 2, memory_order_relaxed);
	return t;
}

/* Runs after the switch away from t (post-switch callback of its exit). */
void rg__task_free(rg__p *p, rg__task *t)
{
	atomic_store_explicit(&t->state, RG__DEAD, memory_order_relaxed);
	if (t->kind == RG__STACK_CUSTOM) {
		/* the slab from the record, not a walk of every slab: that was
		 * O(live custom stacks) under st.lock per exit, a third of
		 * the CPU of 20,000 deadline contexts made and released */
		struct slab *s = t->custom_slab;
		pthread_mutex_lock(&st.lock);
		if (s) {
			slab_unlink(s);
			st.map_budget += 2; /* unmapped below */
		}
		pthread_mutex_unlock(&st.lock);
		if (s) {
#ifdef RG_TSAN
			__tsan_destroy_fiber(t->tsan_fiber);
#endif
#ifdef RG_VALGRIND
			VALGRIND_STACK_DEREGISTER(t->vg_stack_id);
#endif
#ifdef RG_ASAN
			ASAN_UNPOISON_MEMORY_REGION(s->base, s->len);
#endif
			munmap(s->base, s->len);
			rg__free(s);
		}
		return;
	}
#ifdef RG_TSAN
	/* The record's fiber still holds the calls the exited task never
	 * returned from (task_exit switches away): reused, it would grow by
	 * them at every task, and TSan's reports would show the chain. */
	__tsan_destroy_fiber(t->tsan_fiber);
	t->tsan_fiber = __tsan_create_fiber(0);
#endif
	rg__task *batch[RG_TASK_CACHE / 2 + 1];
	int n = 0;
	if (p) {
		if (p->nfree < RG_TASK_CACHE) {
			p->free_tasks[p->nfree++] = t;
			return;
		}
		/* Cache full: move half of it, and t, to the global pool. */
		for (int i = 0; i < RG_TASK_CACHE / 2; i++)
			batch[n++] = p->free_tasks[--p->nfree];
	}
	batch[n++] = t;
	pthread_mutex_lock(&st.lock);
	for (int i = 0; i < n; i++)
		vec_push(&st.dirty, batch[i]);
	pthread_mutex_unlock(&st.lock);
}

void rg__task_cache_drain(rg__p *p)
{
	pthread_mutex_lock(&st.lock);
	while (p->nfree)
		vec_push(&st.dirty, p->free_tasks[--p->nfree]);
	pthread_mutex_unlock(&st.lock);
}

/*
 * sysmon, every 500 ms: return the pages of pooled stacks that nobody
 * needed since the last pass.  The dirty pool is a LIFO, so the stacks
 * below its lowest depth since then (dirty_low) were not touched: those
 * are released; the hot top of the pool keeps its pages, so a server
 * that spawns in bursts does not fault its stacks back in every time.
 */
void rg__stack_scavenge(void)
{
	pthread_mutex_lock(&st.lock);
	long cold = st.dirty_low;
	rg__task **batch = NULL;
	if (cold > 0 && (batch = rg__malloc((size_t)cold * sizeof *batch))) {
		memcpy(batch, st.dirty.v, (size_t)cold * sizeof *batch);
		memmove(st.dirty.v, st.dirty.v + cold, (size_t)(st.dirty.n - cold) * sizeof *batch);
		st.dirty.n -= cold;
	} else {
		cold = 0;
	}
	st.dirty_low = st.dirty.n;
	pthread_mutex_unlock(&st.lock);
	for (long i = 0; i < cold; i += 64) {
		long end = i + 64 < cold ? i + 64 : cold;
		for (long k = i; k < end; k++) {
			rg__task *t = batch[k];
			char *top = ptr_page_down(t->hi);
			if (top > t->map_lo)
				madvise(t->map_lo, (size_t)(top - t->map_lo), MADV_DONTNEED);
			t->clean = 1;
		}
		pthread_mutex_lock(&st.lock);
		for (long k = i; k < end; k++)
			vec_push(&st.clean, batch[k]);
		pthread_mutex_unlock(&st.lock);
	}
	rg__free(batch);
}

/* Initial frame: rg__ctx_swap into it "returns" to rg__ctx_entry, which
 * calls rg__task_entry(t, m). */
void rg__ctx_init(rg__task *t)
{
	uintptr_t top = (uintptr_t)t->hi & ~(uintptr_t)15;
	uint64_t *w = (uint64_t *)top;
#if defined(__x86_64__)
	w[-1] = 0;                                /* fake return address */
	w[-2] = (uint64_t)(uintptr_t)rg__ctx_entry;
	w[-3] = 0;                                /* rbp */
	w[-4] = (uint64_t)(uintptr_t)t;           /* rbx */
	w[-5] = (uint64_t)(uintptr_t)rg__task_entry; /* r12 */
	w[-6] = 0;                                /* r13 */
	w[-7] = 0;                                /* r14 */
	w[-8] = 0;                                /* r15 */
	w[-9] = 0x1F80ULL | (0x037FULL << 32);    /* MXCSR, x87 CW */
	t->sp = &w[-9];
#elif defined(__aarch64__)
	uint64_t *f = w - 22;                     /* 176-byte frame */
	memset(f, 0, 176);
	f[0] = (uint64_t)(uintptr_t)t;            /* x19 */
	f[1] = (uint64_t)(uintptr_t)rg__task_entry; /* x20 */
	f[11] = (uint64_t)(uintptr_t)rg__ctx_entry; /* x30 */
	t->sp = f;
#else
#error "ringo: no context switch for this architecture"
#endif
}

/* --- overflow detection ------------------------------------------------ */

static size_t fmt_u64(char *b, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		b[i++] = tmp[--n];
	return i;
}

/* Async-signal-safe: one line, then abort. */
void rg__overflow_abort(rg__task *t)
{
	char b[160];
	size_t n = 0;
	const char *a = "ringo: task ";
	memcpy(b, a, strlen(a));
	n += strlen(a);
	n += fmt_u64(b + n, (uint64_t)t->id);
	b[n++] = ' ';
	b[n++] = '(';
	const char *nm = t->name[0] ? t->name : "unnamed";
	size_t l = strnlen(nm, RG_NAME_MAX);
	memcpy(b + n, nm, l);
	n += l;
	const char *c = ") overflowed its ";
	memcpy(b + n, c, strlen(c));
	n += strlen(c);
	size_t kib = t->kind == RG__STACK_CUSTOM ? (t->map_len - pagesz) / 1024
	                                         : st.stack_size / 1024;
	n += fmt_u64(b + n, kib);
	const char *d = " KiB stack\n";
	memcpy(b + n, d, strlen(d));
	n += strlen(d);
	ssize_t r = write(2, b, n);
	(void)r;
	signal(SIGABRT, SIG_DFL);
	abort();
}

static char *uc_sp(void *uc)
{
	ucontext_t *u = uc;
#if defined(__x86_64__)
	return (char *)u->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (char *)u->uc_mcontext.sp;
#else
	return NULL;
#endif
}

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
	rg__m *m = rg__tls_m;
	rg__task *t = m ? m->cur : NULL;
	char *a = si->si_addr;
	/* Ours if the task's stack pointer ran below its stack, or the fault
	 * is in its guard page (a large frame may fault before sp moves). */
	if (t) {
		/* how far below lo an overflow can run before it faults: a
		 * guard page is right below a guarded stack; below a canary
		 * stack, at most a whole slab lies above the slab's guard */
		size_t reach = (size_t)64 << 20;
		if (t->kind == RG__STACK_CANARY && (size_t)CANARY_SLOTS * st.stack_size + pagesz > reach)
			reach = (size_t)CANARY_SLOTS * st.stack_size + pagesz;
		char *sp = uc_sp(uc);
		if (sp && sp < t->lo && (size_t)(t->lo - sp) < reach)
			rg__overflow_abort(t);
		if (t->kind != RG__STACK_CANARY && a >= t->lo - pagesz && a < t->lo)
			rg__overflow_abort(t);
	}
	/* Not ours: hand it to whoever had it before (or the default). */
	struct sigaction *old = sig == SIGSEGV ? &st.old_segv : &st.old_bus;
	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uc);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN && old->sa_handler) {
		old->sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL); /* re-fault into the default action */
}

int rg__altstack_init(rg__m *m)
{
	size_t sz = 64 * 1024;
	void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	stack_t ss = { .ss_sp = p, .ss_size = sz, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) != 0) {
		munmap(p, sz);
		return -errno;
	}
	m->altstack = p;
	m->altstack_size = sz;
	return 0;
}

void rg__altstack_fini(rg__m *m)
{
	if (!m->altstack)
		return;
	stack_t ss = { .ss_flags = SS_DISABLE };
	sigaltstack(&ss, NULL);
	munmap(m->altstack, m->altstack_size);
	m->altstack = NULL;
}

void rg__tasks_each(void (*fn)(rg__task *t, void *arg), void *arg)
{
	pthread_mutex_lock(&st.lock);
	for (struct slab *s = st.slabs; s; s = s->next)
		for (int i = 0; i < s->used; i++) {
			rg__task *t = slot_rec(s, i);
			/* acquire: a task a thread without a P spawns while the
			 * world is stopped is seen whole or not at all (rg__spawn) */
			int state = atomic_load_explicit(&t->state, memory_order_acquire);
			if (state == RG__RUNNABLE || state == RG__RUNNING || state == RG__WAITING)
				fn(t, arg);
		}
	pthread_mutex_unlock(&st.lock);
}

void rg__stack_stats(uint64_t *guarded, uint64_t *canary)
{
	*guarded = atomic_load(&st.n_guarded);
	*canary = atomic_load(&st.n_canary);
}

size_t rg__stack_default(void) { return st.stack_size; }


/* Linear in the number of slabs (a slab holds 64 or 1,024 tasks).  A task
 * id is not an index, so this walks; callers are rare (rg_cancel).  Under
 * st.lock, which a custom stack's free takes before unmapping it: a record
 * seen here stays mapped until we have pinned it or backed off.  The pin
 * protocol is in sched_int.h (rg__pin_membarrier). */
bool rg__pin_membarrier;
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
static void pin_init(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		__atomic_store_n(&rg__pin_membarrier, true, __ATOMIC_RELEASE);
}

/* rg_run, before any task runs: until then every exit would fence. */
void rg__pin_init(void) { pthread_once(&pin_once, pin_init); }

rg__task *rg__task_pin(int64_t id)
{
	/* rg_run registered (rg__pin_init) before any task could have an id */
	bool mb = __atomic_load_n(&rg__pin_membarrier, __ATOMIC_ACQUIRE);
	rg__task *found = NULL;
	pthread_mutex_lock(&st.lock);
	for (struct slab *s = st.slabs; s && !found; s = s->next)
		for (int i = 0; i < s->used; i++) {
			rg__task *t = slot_rec(s, i);
			if (__atomic_load_n(&t->id, __ATOMIC_RELAXED) == id) {
				found = t;
				break;
			}
		}
	if (found) {
		atomic_fetch_add_explicit(&found->pins, 1, memory_order_relaxed);
		if (!mb)
			atomic_thread_fence(memory_order_seq_cst);
		else if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
			/* exits fence only for the compiler now: no fallback
			 * here would pair with that */
			rg__fatal("membarrier failed after registration: %s", strerror(errno));
		/* exiting: it may not see our pin, back off.  A different id:
		 * the record is a later task's (rg__spawn sets the id before
		 * it clears exiting, with release). */
		if (atomic_load_explicit(&found->exiting, memory_order_acquire) ||
		    __atomic_load_n(&found->id, __ATOMIC_RELAXED) != id) {
			rg__task_unpin(found);
			found = NULL;
		}
	}
	pthread_mutex_unlock(&st.lock);
	return found;
}

void rg__task_unpin(rg__task *t)
{
	atomic_fetch_sub_explicit(&t->pins, 1, memory_order_release);
}
