/*
 * core/task.c — task-local storage, runtime memory and logging.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched_int.h"

#ifdef RG_HAVE_MIMALLOC
#include <mimalloc.h>
void *rg__malloc(size_t n) { return mi_malloc(n); }
void *rg__calloc(size_t n, size_t s) { return mi_calloc(n, s); }
void *rg__realloc(void *p, size_t n) { return mi_realloc(p, n); }
void rg__free(void *p) { mi_free(p); }
void *rg__aligned_alloc(size_t a, size_t n) { return mi_malloc_aligned(n, a); }
#else
void *rg__malloc(size_t n) { return malloc(n); }
void *rg__calloc(size_t n, size_t s) { return calloc(n, s); }
void *rg__realloc(void *p, size_t n) { return realloc(p, n); }
void rg__free(void *p) { free(p); }
void *rg__aligned_alloc(size_t a, size_t n)
{
	void *p = NULL;
	return posix_memalign(&p, a < sizeof(void *) ? sizeof(void *) : a, n) == 0 ? p : NULL;
}
#endif

void rg__log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fprintf(stderr, "ringo: %s\n", buf);
}

void rg__fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "ringo: fatal: %s\n", buf);
	abort();
}

/* --- task-local storage ------------------------------------------------ */

static void (*tls_dtor[RG_TLS_KEYS])(void *);
static _Atomic int tls_nkeys;

int rg_tls_key_create(rg_tls_key *key, void (*destructor)(void *))
{
	if (!key)
		return -EINVAL;
	int k = atomic_load(&tls_nkeys);
	do {
		if (k >= RG_TLS_KEYS)
			return -EAGAIN;
	} while (!atomic_compare_exchange_weak(&tls_nkeys, &k, k + 1));
	tls_dtor[k] = destructor;
	*key = k;
	return 0;
}

static bool key_ok(rg_tls_key key)
{
	return key >= 0 && key < atomic_load(&tls_nkeys);
}

int rg_tls_set(rg_tls_key key, void *value)
{
	rg__task *t = rg__self();
	if (!t || !key_ok(key))
		return -EINVAL;
	if (!t->tls) {
		if (!value)
			return 0;
		t->tls = rg__calloc(RG_TLS_KEYS, sizeof(void *));
		if (!t->tls)
			return -ENOMEM;
	}
	t->tls[key] = value;
	return 0;
}

void *rg_tls_get(rg_tls_key key)
{
	rg__task *t = rg__self();
	if (!t || !t->tls || !key_ok(key))
		return NULL;
	return t->tls[key];
}

/* At task exit: destructors for non-NULL values, re-run while they set new
 * values (at most 4 rounds, like PTHREAD_DESTRUCTOR_ITERATIONS). */
void rg__tls_destroy(rg__task *t)
{
	if (!t->tls)
		return;
	for (int round = 0; round < 4; round++) {
		bool any = false;
		int n = atomic_load(&tls_nkeys);
		for (int k = 0; k < n; k++) {
			void *v = t->tls[k];
			if (v && tls_dtor[k]) {
				t->tls[k] = NULL;
				tls_dtor[k](v);
				any = true;
			}
		}
		if (!any)
			break;
	}
	rg__free(t->tls);
	t->tls = NULL;
}
