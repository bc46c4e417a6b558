/*
 * bench/sandbox_spawn: what a sandbox costs, side by side in one run.
 *
 * Five ways to run /bin/true: a plain fork+exec (the baseline); a complete
 * nightshift sandbox (create, run, destroy: every namespace, the root file
 * system, cgroups, Landlock and seccomp, network none) taken from the pool
 * of prepared sandboxes (src/sandbox/sandbox.h), and the same built on the
 * caller's path (no_pool); bwrap --unshare-all; unshare -Urnmpf.
 *
 * Two pacings, each in rounds of one block of BLOCK spawns per method (the
 * order turns round by round, so that machine noise falls on all alike):
 * back to back, and paced, with PACE_MS between spawns, as the commands of
 * a job come. Back to back, the pool's thread (preparing and reaping) and
 * the network namespace pool's compete with the spawns for the two cores,
 * and the pool sometimes runs dry. After
 * each block, outside the timings, the pool is waited for (full, every
 * destroyed sandbox reaped), so that the CPU time of the block includes
 * the refill and the reaping it caused.
 *
 * Printed: the median wall time of one spawn with its spread (p10-p90),
 * the CPU time of the whole process per spawn (all threads and every
 * reaped child: getrusage SELF + CHILDREN over the block), the ratios, and
 * the load averages. Figures are printed, never asserted.
 *
 * With --phases (or NSH_BENCH_PHASES=1) the sandboxes built without the
 * pool are timed phase by phase as well (struct nsh_sandbox_timing; a
 * pooled sandbox's phases ran ahead of time), and the median of each phase
 * is printed after the totals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "sandbox/netns.h"
#include "sandbox/sandbox.h"

#define ROUNDS	10
#define BLOCK	10
#define N	(ROUNDS * BLOCK)
#define PACE_MS 10

enum { M_FORK, M_POOL, M_NOPOOL, M_BWRAP, M_UNSHARE, M_COUNT };

static const char *const names[M_COUNT] = {
	"fork+exec /bin/true", "nightshift, pooled",	       "nightshift, no pool",
	"bwrap --unshare-all", "unshare -Urnmpf --mount-proc",
};

static char *const fork_argv[] = {(char *)"/bin/true", NULL};
static char *const bwrap_argv[] = {(char *)"/usr/bin/bwrap",
				   (char *)"--unshare-all",
				   (char *)"--ro-bind",
				   (char *)"/",
				   (char *)"/",
				   (char *)"--dev",
				   (char *)"/dev",
				   (char *)"--proc",
				   (char *)"/proc",
				   (char *)"true",
				   NULL};
static char *const unshare_argv[] = {(char *)"/usr/bin/unshare", (char *)"-Urnmpf",
				     (char *)"--mount-proc", (char *)"true", NULL};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* fork, exec @argv with stdio to /dev/null, wait; returns ns or -1. */
static int64_t spawn(char *const *argv)
{
	int64_t t0 = nsh_time_mono_ns();
	int st;
	pid_t p = fork();

	if (p == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return nsh_time_mono_ns() - t0;
}

/* The parts of one nightshift spawn: create, exec, destroy (ns). */
struct parts {
	int64_t ns[3];
};

static int64_t nsh_once(const char *dir, int i, bool pooled, struct nsh_sandbox_timing *timing,
			struct parts *parts)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol = {.network = NSH_NET_NONE, .timing = timing};
	struct nsh_sandbox_cmd cmd;
	struct nsh_sandbox *sb = NULL;
	char *state = nsh_xasprintf("%s/s%d", dir, i), *ws = nsh_xasprintf("%s/ws", dir);
	int64_t t0, t1 = 0, t2 = 0, t = -1;

	nsh_sandbox_cmd_init(&cmd);
	nsh_strvec_push(&cmd.argv, "/bin/true");
	pol.workspace = ws;
	pol.state_dir = state;
	pol.hide = dir;
	pol.no_pool = !pooled;
	nsh_fs_mkdir_p(state, 0700, NULL);
	t0 = nsh_time_mono_ns();
	if (nsh_sandbox_create(&pol, &sb, &err) || (t1 = nsh_time_mono_ns(), false) ||
	    nsh_sandbox_exec(sb, &cmd, &err) || cmd.exit_code != 0 ||
	    (t2 = nsh_time_mono_ns(), false) || nsh_sandbox_destroy(sb, &err)) {
		fprintf(stderr, "bench/sandbox_spawn: %s (exit %d)\n", err.msg, cmd.exit_code);
	} else {
		t = nsh_time_mono_ns() - t0;
		if (parts) {
			parts->ns[0] = t1 - t0;
			parts->ns[1] = t2 - t1;
			parts->ns[2] = t - (t2 - t0);
		}
	}
	sb = NULL;
	nsh_fs_remove_tree(state, NULL);
	nsh_sandbox_cmd_release(&cmd);
	free(state);
	free(ws);
	return t;
}

/* CPU time of this process so far: every thread, and every child reaped. */
static int64_t cpu_ns(void)
{
	struct rusage s, c;

	getrusage(RUSAGE_SELF, &s);
	getrusage(RUSAGE_CHILDREN, &c);
	return ((int64_t)s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec +
		c.ru_stime.tv_sec) *
		       1000000000 +
	       ((int64_t)s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec +
		c.ru_stime.tv_usec) *
		       1000;
}

/* Wait for both pools (outside every timing, inside the CPU figures). */
static void settle(void)
{
	nsh_sandbox_pool_settle(5000);
	if (nsh_netns_pool_default())
		nsh_netns_pool_wait_full(nsh_netns_pool_default(), 1000);
}

/* The median of each phase over the sandboxes built without the pool. */
static void print_phases(struct nsh_sandbox_timing *t, int n)
{
	int64_t *col = nsh_xcalloc((size_t)n, sizeof(*col));
	double sum = 0;

	printf("nightshift sandbox without the pool, by phase (ms: median, p10-p90)\n");
	for (int p = 0; p < NSH_PHASE_NR; p++) {
		double med;

		for (int r = 0; r < n; r++)
			col[r] = t[r].ns[p];
		qsort(col, (size_t)n, sizeof(col[0]), cmp_i64);
		med = (double)col[n / 2] / 1e6;
		sum += med;
		printf("  %-32s %6.3f  (%.3f-%.3f)\n", nsh_sandbox_phase_name(p), med,
		       (double)col[n / 10] / 1e6, (double)col[n * 9 / 10] / 1e6);
	}
	printf("  %-32s %6.3f  (the early child phase overlaps the maps)\n", "sum of the medians",
	       sum);
	free(col);
}

static void print_load(const char *when)
{
	struct nsh_buf b = NSH_BUF_INIT;

	if (!nsh_fs_read_file("/proc/loadavg", &b, 256, NULL))
		printf("load averages %s: %s", when, b.buf);
	nsh_buf_release(&b);
}

/* One pacing: ROUNDS rounds of a BLOCK per method; prints its table. */
static void run(const char *dir, int pace_ms, const bool *have, bool phases)
{
	static int64_t v[M_COUNT][N];
	static int64_t cpu[M_COUNT];
	static struct nsh_sandbox_timing timing[N];
	static struct parts parts[2][N];
	struct nsh_sandbox_pool_stats s0, s1;
	struct nsh_netns_pool *np = nsh_netns_pool_default();
	double med[M_COUNT] = {0};
	size_t reused0 = np ? nsh_netns_pool_reused(np) : 0;
	int seq = 0;

	memset(cpu, 0, sizeof(cpu));
	nsh_sandbox_pool_stats(&s0);
	for (int r = 0; r < ROUNDS; r++) {
		for (int k = 0; k < M_COUNT; k++) {
			int m = (k + r) % M_COUNT;
			int64_t c0;

			if (!have[m])
				continue;
			settle();
			c0 = cpu_ns();
			for (int i = 0; i < BLOCK; i++) {
				int64_t *slot = &v[m][r * BLOCK + i];

				switch (m) {
				case M_FORK:
					*slot = spawn(fork_argv);
					break;
				case M_POOL:
					*slot = nsh_once(dir, seq++, true, NULL,
							 &parts[0][r * BLOCK + i]);
					break;
				case M_NOPOOL:
					*slot = nsh_once(dir, seq++, false,
							 phases ? &timing[r * BLOCK + i] : NULL,
							 &parts[1][r * BLOCK + i]);
					break;
				case M_BWRAP:
					*slot = spawn(bwrap_argv);
					break;
				case M_UNSHARE:
					*slot = spawn(unshare_argv);
					break;
				default:
					break;
				}
				if (pace_ms)
					nsh_time_sleep_ms(pace_ms);
			}
			settle();
			cpu[m] += cpu_ns() - c0;
		}
	}
	nsh_sandbox_pool_stats(&s1);
	if (pace_ms)
		printf("paced: a spawn every %d ms, %d per method in blocks of %d\n", pace_ms, N,
		       BLOCK);
	else
		printf("back to back: %d per method in blocks of %d\n", N, BLOCK);
	printf("  pool: %zu kept; %llu taken, %llu found it empty (built on the caller's "
	       "path)\n",
	       s1.size, (unsigned long long)(s1.taken - s0.taken),
	       (unsigned long long)(s1.missed - s0.missed));
	printf("  cgroups of reaped sandboxes reused: %llu\n",
	       (unsigned long long)(s1.cgroups_reused - s0.cgroups_reused));
	if (np)
		printf("  network namespaces given back and reused: %zu\n",
		       nsh_netns_pool_reused(np) - reused0);
	printf("  %-30s %8s  %-13s %s\n", "ms per spawn", "median", "(p10-p90)",
	       "CPU ms per spawn (whole process)");
	for (int m = 0; m < M_COUNT; m++) {
		int bad = 0;

		for (int r = 0; r < N; r++)
			bad += v[m][r] < 0;
		if (!have[m] || bad) {
			printf("  %-30s %s\n", names[m],
			       have[m] ? "FAILED (see errors above)" : "not installed");
			continue;
		}
		qsort(v[m], N, sizeof(v[m][0]), cmp_i64);
		med[m] = (double)v[m][N / 2] / 1e6;
		printf("  %-30s %8.2f  (%.2f-%.2f)   %.2f\n", names[m], med[m],
		       (double)v[m][N / 10] / 1e6, (double)v[m][N * 9 / 10] / 1e6,
		       (double)cpu[m] / N / 1e6);
	}
	for (int m = M_POOL; m <= M_NOPOOL; m++) {
		if (med[m] <= 0)
			continue;
		if (med[M_FORK] > 0)
			printf("  %-20s / fork+exec = %.2fx (target <= 1.6x: %s)\n", names[m],
			       med[m] / med[M_FORK],
			       med[m] / med[M_FORK] <= 1.6 ? "met" : "NOT MET");
		if (med[M_BWRAP] > 0)
			printf("  %-20s / bwrap     = %.2fx (target <= 0.4x: %s)\n", names[m],
			       med[m] / med[M_BWRAP],
			       med[m] / med[M_BWRAP] <= 0.4 ? "met" : "NOT MET");
	}
	for (int k = 0; k < 2; k++) {
		static const char *const part_names[3] = {"create", "exec", "destroy"};

		printf("  %-20s medians:", names[M_POOL + k]);
		for (int p = 0; p < 3; p++) {
			int64_t col[N];

			for (int r = 0; r < N; r++)
				col[r] = parts[k][r].ns[p];
			qsort(col, N, sizeof(col[0]), cmp_i64);
			printf(" %s %.2f", part_names[p], (double)col[N / 2] / 1e6);
		}
		printf("\n");
	}
	if (phases)
		print_phases(timing, N);
}

int main(int argc, char **argv)
{
	const char *env = getenv("NSH_BENCH_PHASES");
	bool phases = env && !strcmp(env, "1");
	char dir[] = "/tmp/nsh-bench-sbx-XXXXXX";
	bool have[M_COUNT] = {true, true, true, access("/usr/bin/bwrap", X_OK) == 0,
			      access("/usr/bin/unshare", X_OK) == 0};
	struct nsh_sandbox_pool_stats st;
	struct nsh_err err = NSH_ERR_INIT;
	char *ws;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--phases")) {
			phases = true;
		} else {
			fprintf(stderr, "usage: %s [--phases]\n", argv[0]);
			return 2;
		}
	}
	if (!mkdtemp(dir))
		return 1;
	ws = nsh_xasprintf("%s/ws", dir);
	mkdir(ws, 0755);
	if (nsh_sandbox_pool_start(dir, &err)) {
		fprintf(stderr, "bench/sandbox_spawn: %s\n", err.msg);
		return 1;
	}
	have[M_POOL] = nsh_sandbox_pool_stats(&st);
	/* warm up caches, the seccomp filter and both pools */
	for (int i = 0; i < 5; i++) {
		spawn(fork_argv);
		nsh_once(dir, 1000 + i, false, NULL, NULL);
		settle();
		nsh_once(dir, 2000 + i, true, NULL, NULL);
	}
	print_load("at start");
	printf("network namespace pool: %s; sandbox pool: %s\n",
	       nsh_netns_pool_default() ? "on" : "off",
	       have[M_POOL] ? "on" : "off (not root, or NSH_SANDBOX_POOL=0)");
	run(dir, 0, have, phases);
	run(dir, PACE_MS, have, false);
	print_load("at end");
	nsh_fs_remove_tree(dir, NULL);
	free(ws);
	return 0;
}
