/*
 * bench/sandbox_spawn: what a sandbox costs, side by side in one run.
 *
 * Four ways to run /bin/true, interleaved round by round so that machine
 * noise falls on all of them alike: a plain fork+exec (the baseline); a
 * complete nightshift sandbox (create, run, destroy: every namespace, the
 * root file system, cgroups, Landlock and seccomp, network none); bwrap
 * --unshare-all; unshare -Urnmpf. Prints each median with its spread and
 * the ratios. Figures are printed, never asserted.
 *
 * As root, sandboxes join network namespaces made ahead of time by a pool
 * (src/sandbox/netns.h); after its sandbox each round waits until the
 * pool is full again, outside every timing, as a daemon that does not
 * spawn more often than every half millisecond sees it. The making of a
 * namespace stalls other processes' setsid() and exit, so refilling during
 * the timed runs would slow whichever method ran then (bwrap and unshare
 * included). NSH_SANDBOX_NETNS_POOL=0 turns the pool off, to compare.
 *
 * With --phases (or NSH_BENCH_PHASES=1 in the environment) the nightshift
 * sandboxes are timed phase by phase as well (struct nsh_sandbox_timing),
 * and the median of each phase is printed after the totals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "sandbox/netns.h"
#include "sandbox/sandbox.h"

#define ROUNDS 100

enum { M_FORK, M_NSH, M_BWRAP, M_UNSHARE, M_COUNT };

static const char *const names[M_COUNT] = {
	"fork+exec /bin/true",
	"nightshift sandbox (complete)",
	"bwrap --unshare-all",
	"unshare -Urnmpf --mount-proc",
};

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

static int64_t nsh_once(const char *dir, int i, struct nsh_sandbox_timing *timing)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol = {.network = NSH_NET_NONE, .timing = timing};
	struct nsh_sandbox_cmd cmd;
	struct nsh_sandbox *sb = NULL;
	char *state = nsh_xasprintf("%s/s%d", dir, i), *ws = nsh_xasprintf("%s/ws", dir);
	int64_t t0, t = -1;

	nsh_sandbox_cmd_init(&cmd);
	nsh_strvec_push(&cmd.argv, "/bin/true");
	pol.workspace = ws;
	pol.state_dir = state;
	pol.hide = dir;
	nsh_fs_mkdir_p(state, 0700, NULL);
	t0 = nsh_time_mono_ns();
	if (nsh_sandbox_create(&pol, &sb, &err) || nsh_sandbox_exec(sb, &cmd, &err) ||
	    cmd.exit_code != 0 || nsh_sandbox_destroy(sb, &err)) {
		fprintf(stderr, "bench/sandbox_spawn: %s (exit %d)\n", err.msg, cmd.exit_code);
	} else {
		t = nsh_time_mono_ns() - t0;
	}
	sb = NULL;
	nsh_fs_remove_tree(state, NULL);
	nsh_sandbox_cmd_release(&cmd);
	free(state);
	free(ws);
	return t;
}

/* The median of each phase over the rounds, and their sum. */
static void print_phases(struct nsh_sandbox_timing *t)
{
	static int64_t col[ROUNDS];
	double sum = 0;

	printf("nightshift sandbox by phase (ms: median, p10-p90)\n");
	for (int p = 0; p < NSH_PHASE_NR; p++) {
		double med;

		for (int r = 0; r < ROUNDS; r++)
			col[r] = t[r].ns[p];
		qsort(col, ROUNDS, sizeof(col[0]), cmp_i64);
		med = (double)col[ROUNDS / 2] / 1e6;
		sum += med;
		printf("  %-32s %6.3f  (%.3f-%.3f)\n", nsh_sandbox_phase_name(p), med,
		       (double)col[ROUNDS / 10] / 1e6, (double)col[ROUNDS * 9 / 10] / 1e6);
	}
	printf("  %-32s %6.3f  (the early child phase overlaps the maps)\n", "sum of the medians",
	       sum);
}

int main(int argc, char **argv)
{
	static int64_t v[M_COUNT][ROUNDS];
	static struct nsh_sandbox_timing timing[ROUNDS];
	const char *env = getenv("NSH_BENCH_PHASES");
	bool phases = env && !strcmp(env, "1");
	char *const fork_argv[] = {(char *)"/bin/true", NULL};
	char *const bwrap_argv[] = {(char *)"/usr/bin/bwrap",
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
	char *const unshare_argv[] = {(char *)"/usr/bin/unshare", (char *)"-Urnmpf",
				      (char *)"--mount-proc", (char *)"true", NULL};
	char dir[] = "/tmp/nsh-bench-sbx-XXXXXX";
	bool have[M_COUNT] = {true, true, access("/usr/bin/bwrap", X_OK) == 0,
			      access("/usr/bin/unshare", X_OK) == 0};
	double med[M_COUNT] = {0};
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
	/* warm up caches and the seccomp filter */
	for (int i = 0; i < 5; i++) {
		spawn(fork_argv);
		nsh_once(dir, 1000 + i, NULL);
	}
	for (int r = 0; r < ROUNDS; r++) {
		v[M_FORK][r] = spawn(fork_argv);
		v[M_NSH][r] = nsh_once(dir, r, phases ? &timing[r] : NULL);
		/* refilled here, where no method is being timed */
		if (nsh_netns_pool_default())
			nsh_netns_pool_wait_full(nsh_netns_pool_default(), 1000);
		v[M_BWRAP][r] = have[M_BWRAP] ? spawn(bwrap_argv) : -1;
		v[M_UNSHARE][r] = have[M_UNSHARE] ? spawn(unshare_argv) : -1;
	}
	printf("sandbox spawn of /bin/true, %d interleaved rounds (ms: median, p10-p90)\n", ROUNDS);
	printf("  network namespace pool: %s\n",
	       nsh_netns_pool_default() ? "on, refilled between rounds" : "off");
	for (int m = 0; m < M_COUNT; m++) {
		int bad = 0;

		for (int r = 0; r < ROUNDS; r++)
			bad += v[m][r] < 0;
		if (!have[m] || bad) {
			printf("  %-32s %s\n", names[m],
			       have[m] ? "FAILED (see errors above)" : "not installed");
			continue;
		}
		qsort(v[m], ROUNDS, sizeof(v[m][0]), cmp_i64);
		med[m] = (double)v[m][ROUNDS / 2] / 1e6;
		printf("  %-32s %6.2f  (%.2f-%.2f)\n", names[m], med[m],
		       (double)v[m][ROUNDS / 10] / 1e6, (double)v[m][ROUNDS * 9 / 10] / 1e6);
	}
	if (med[M_NSH] > 0 && med[M_FORK] > 0)
		printf("  nightshift / fork+exec = %.2fx (target <= 1.6x: %s)\n",
		       med[M_NSH] / med[M_FORK],
		       med[M_NSH] / med[M_FORK] <= 1.6 ? "met" : "NOT MET");
	if (med[M_NSH] > 0 && med[M_BWRAP] > 0)
		printf("  nightshift / bwrap     = %.2fx (target <= 0.4x: %s)\n",
		       med[M_NSH] / med[M_BWRAP],
		       med[M_NSH] / med[M_BWRAP] <= 0.4 ? "met" : "NOT MET");
	if (med[M_NSH] > 0 && med[M_UNSHARE] > 0)
		printf("  nightshift / unshare   = %.2fx\n", med[M_NSH] / med[M_UNSHARE]);
	if (phases)
		print_phases(timing);
	nsh_fs_remove_tree(dir, NULL);
	free(ws);
	return 0;
}
