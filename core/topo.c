/*
 * core/topo.c — how many Ps, on which CPUs, on which NUMA nodes.
 *
 * Usable CPUs are the process's affinity mask, capped by the cgroup v2 CPU
 * quota (cpu.max, rounded up), as Go 1.25 does for GOMAXPROCS.  rg_config's
 * procs, else RINGO_PROCS, overrides the count; Ps beyond the CPUs share
 * them round-robin.
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched_int.h"

#ifdef RG_HAVE_NUMA
#include <numa.h>
#endif

static int cgroup_cpu_limit(void)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[512], path[600] = "/sys/fs/cgroup/cpu.max";
	if (f) {
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "0::", 3) == 0) {
				line[strcspn(line, "\n")] = 0;
				snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", line + 3);
			}
		fclose(f);
	}
	f = fopen(path, "r");
	if (!f)
		f = fopen("/sys/fs/cgroup/cpu.max", "r");
	if (!f)
		return 0;
	char q[32] = "";
	long period = 0;
	int n = fscanf(f, "%31s %ld", q, &period);
	fclose(f);
	if (n != 2 || strcmp(q, "max") == 0 || period <= 0)
		return 0;
	long quota = atol(q);
	if (quota <= 0)
		return 0;
	return (int)((quota + period - 1) / period);
}

/* The CPUs rg_run's caller may use, as rg__topo_procs found them: what a
 * thread that is not a P's gets back (rg__topo_unpin). */
static cpu_set_t g_allowed; /* written by rg__topo_procs at rg_run's start,
                               before any pool thread is made */
static bool g_allowed_ok;

/* Fills cpus[0..n) and returns n, or -EINVAL with err set. */
int rg__topo_procs(int want, int *cpus, int max, char *err, size_t errn)
{
	cpu_set_t set;
	int allowed[CPU_SETSIZE], na = 0;
	g_allowed_ok = sched_getaffinity(0, sizeof g_allowed, &g_allowed) == 0;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				allowed[na++] = c;
	}
	if (na == 0)
		allowed[na++] = 0;
	int n = na;
	int lim = cgroup_cpu_limit();
	if (lim > 0 && lim < n)
		n = lim;
	if (want > 0) {
		n = want;
	} else {
		const char *e = getenv("RINGO_PROCS");
		if (e) {
			char *end;
			errno = 0;
			long v = strtol(e, &end, 10);
			if (!isdigit((unsigned char)*e) || *end != 0 || errno || v < 1 || v > max) {
				snprintf(err, errn, "RINGO_PROCS=\"%s\": want a whole number from 1 to %d", e, max);
				return -EINVAL;
			}
			n = (int)v;
		}
	}
	if (n > max) {
		snprintf(err, errn, "procs=%d: at most %d", n, max);
		return -EINVAL;
	}
	/* Group the CPUs by NUMA node (stable: CPU order within a node), so
	 * that P ids are contiguous per node and stealing can prefer the
	 * victim's node (core/sched.c). */
	int node[CPU_SETSIZE];
	for (int i = 0; i < na; i++)
		node[i] = rg__topo_node(allowed[i]);
	for (int i = 1; i < na; i++)
		for (int j = i; j > 0 && node[j] < node[j - 1]; j--) {
			int c = allowed[j], d = node[j];
			allowed[j] = allowed[j - 1];
			node[j] = node[j - 1];
			allowed[j - 1] = c;
			node[j - 1] = d;
		}
	for (int i = 0; i < n; i++)
		cpus[i] = allowed[i % na];
	return n;
}

int rg__topo_node(int cpu)
{
#ifdef RG_HAVE_NUMA
	if (numa_available() >= 0) {
		int node = numa_node_of_cpu(cpu);
		return node < 0 ? 0 : node;
	}
#endif
	return 0;
}

/* The calling thread may run on every CPU rg_run's caller could: a thread
 * made by a pinned P (rg_blocking's pool) inherited that P's one CPU, so a
 * CPU-heavy blocking call shared its P's CPU while the others idled
 * (core_blocking_affinity). */
void rg__topo_unpin(void)
{
	if (g_allowed_ok)
		pthread_setaffinity_np(pthread_self(), sizeof g_allowed, &g_allowed);
}

/* Pin the calling thread to cpu and make its allocations node-local. */
void rg__topo_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#ifdef RG_HAVE_NUMA
	if (numa_available() >= 0)
		numa_set_localalloc();
#endif
}
