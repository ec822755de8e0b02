/* Each P's thread is pinned to a CPU of its own, and P ids follow the CPUs
 * grouped by NUMA node (core/topo.c: stable, CPU order within a node), so
 * that a P's steals can try the Ps of its own node first (steal_work).
 * Spinning workers spread over every P and record the CPU each P runs on;
 * P i must run on the i-th CPU of the process's allowed CPUs sorted by
 * (node, CPU).  On one node that is the plain CPU order;
 * scripts/numa_qemu.sh runs this on a guest with two nodes whose CPUs
 * interleave (node 0: CPUs 0 and 2, node 1: CPUs 1 and 3), where only the
 * grouping gives P1 CPU 2.  Nodes are read from sysfs, not libnuma, so the
 * test also runs where libnuma is absent (and the kernel has no NUMA: all
 * CPUs are then node 0, as core/topo.c assumes). */
// ctest-timeout: 60
#include <dirent.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringo.h"

#define MAXP 256

static cpu_set_t allowed;    /* the process's CPUs, read before rg_run pins threads */
static _Atomic int cpu_of[MAXP]; /* -1 until P i is seen */
static _Atomic int seen, stop, conflicts;
static int nprocs;

static int node_of_cpu(int cpu)
{
	char path[64];
	snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d", cpu);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int node = 0;
	for (struct dirent *e; (e = readdir(d));) {
		int n;
		char tail;
		if (sscanf(e->d_name, "node%d%c", &n, &tail) == 1) {
			node = n;
			break;
		}
	}
	closedir(d);
	return node;
}

/* Spins with preemption points, so that while it holds its P the tasks
 * queued behind it are stolen by idle Ps: the workers spread over every
 * P.  Records (P, CPU) only when the P is the same before and after the
 * CPU read (no preemption moved the task in between). */
static void worker(void *arg)
{
	(void)arg;
	int64_t end = rg_now() + 10 * 1000000000LL;
	while (!atomic_load(&stop) && rg_now() < end) {
		int p1 = rg_proc_id();
		int cpu = sched_getcpu();
		int p2 = rg_proc_id();
		if (p1 == p2 && p1 >= 0 && p1 < nprocs && cpu >= 0) {
			int want = -1;
			if (atomic_compare_exchange_strong(&cpu_of[p1], &want, cpu)) {
				if (atomic_fetch_add(&seen, 1) + 1 == nprocs)
					atomic_store(&stop, 1);
			} else if (want != cpu) {
				fprintf(stderr, "P%d ran on CPU %d and on CPU %d\n", p1, want, cpu);
				atomic_fetch_add(&conflicts, 1);
			}
		}
		rg_preempt_point();
	}
}

static int cmp_node_cpu(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	int nx = node_of_cpu(x), ny = node_of_cpu(y);
	if (nx != ny)
		return nx < ny ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int main_fn(void *arg)
{
	(void)arg;
	nprocs = rg_procs();
	CHECK(nprocs >= 1 && nprocs <= MAXP);
	for (int i = 0; i < MAXP; i++)
		atomic_store(&cpu_of[i], -1);
	int nw = 4 * nprocs;
	for (int i = 0; i < nw; i++)
		CHECK(rg_go(worker, NULL) > 0);
	for (int64_t t0 = rg_now(); !atomic_load(&stop) && rg_now() - t0 < 12 * 1000000000LL;)
		rg_sleep(1000000);
	atomic_store(&stop, 1);
	rg_sleep(20 * 1000000); /* let the workers see stop */

	int cpus[CPU_SETSIZE], na = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[na++] = c;
	qsort(cpus, na, sizeof cpus[0], cmp_node_cpu);
	printf("%d Ps on %d allowed CPUs;", nprocs, na);
	for (int i = 0; i < nprocs; i++)
		printf(" P%d: CPU %d (node %d)", i, atomic_load(&cpu_of[i]),
		       atomic_load(&cpu_of[i]) >= 0 ? node_of_cpu(atomic_load(&cpu_of[i])) : -1);
	printf("\n");

	CHECK_EQ(atomic_load(&conflicts), 0);
	CHECK_EQ(atomic_load(&seen), nprocs); /* every P ran a worker */
	for (int i = 0; i < nprocs; i++) {
		int c = atomic_load(&cpu_of[i]);
		CHECK(c >= 0 && CPU_ISSET(c, &allowed));
		/* P i on the i-th CPU by (node, CPU), wrapping when there are
		 * more Ps than CPUs (RINGO_PROCS) */
		if (cpus[i % na] != c)
			fprintf(stderr, "P%d runs on CPU %d, want CPU %d\n", i, c, cpus[i % na]);
		CHECK_EQ(c, cpus[i % na]);
	}
	return 0;
}

int main(void)
{
	CHECK_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
	int r = rg_run(main_fn, NULL, NULL);
	CHECK_EQ(r, 0);
	printf("ok\n");
	return T_PASS;
}
