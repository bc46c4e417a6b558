/*
 * bench/demo: the flagship demo's wall time ("upgrade lodash from 3 to 4
 * across the 15 services of demo-org", ./nightshift demo on a fresh home)
 * and the orchestrator's own overhead per job: the job's wall time on its
 * worker minus the time its commands ran in the sandbox (npm, the tests),
 * as each job records in artifacts/<task>/<job>/timing.json. Medians over
 * three runs, next to the time in commands as the baseline. Figures are
 * printed, never asserted. Needs the npm registry (the jobs install).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/proc.h"
#include "core/time.h"

#include "core/banned.h"

#define RUNS 3

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int64_t median(int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	return n ? v[n / 2] : 0;
}

/* Read every artifacts/<task>/<job>/timing.json under @home. */
static size_t timings(const char *home, int64_t *wall, int64_t *cmd, size_t max)
{
	struct nsh_buf out = NSH_BUF_INIT;
	const char *argv[] = {"find", NULL, "-name", "timing.json", NULL};
	char *dir = nsh_xasprintf("%s/artifacts", home);
	size_t n = 0;

	argv[1] = dir;
	if (nsh_proc_run_argv(argv, NULL, &out, NULL) == 0) {
		char *save = NULL;

		for (char *line = strtok_r(out.buf, "\n", &save); line && n < max;
		     line = strtok_r(NULL, "\n", &save)) {
			struct nsh_buf b = NSH_BUF_INIT;
			json_t *v = NULL;

			if (!nsh_fs_read_file(line, &b, 4096, NULL) &&
			    !nsh_json_parse(b.buf, b.len, &v, NULL)) {
				wall[n] = json_integer_value(json_object_get(v, "wall_ms"));
				cmd[n] = json_integer_value(json_object_get(v, "cmd_ms"));
				n++;
			}
			json_decref(v);
			nsh_buf_release(&b);
		}
	}
	nsh_buf_release(&out);
	free(dir);
	return n;
}

int main(void)
{
	int64_t demo_ms[RUNS], over_med[RUNS], over_max[RUNS], cmd_med[RUNS];
	int ok = 0;

	for (int r = 0; r < RUNS; r++) {
		char tmpl[] = "/tmp/nsh-bench-demo-XXXXXX";
		char *home = mkdtemp(tmpl);
		const char *argv[] = {"./nightshift", "--home", home, "demo", NULL};
		struct nsh_err err = NSH_ERR_INIT;
		int64_t wall[64], cmd[64], over[64], t0;
		size_t n;

		if (!home) {
			perror("bench/demo: mkdtemp");
			return 1;
		}
		t0 = nsh_time_mono_ms();
		if (nsh_proc_run_argv(argv, NULL, NULL, &err)) {
			fprintf(stderr, "bench/demo: run %d: %s\n", r + 1, err.msg);
			nsh_fs_remove_tree(home, NULL);
			continue;
		}
		demo_ms[ok] = nsh_time_mono_ms() - t0;
		n = timings(home, wall, cmd, 64);
		for (size_t i = 0; i < n; i++)
			over[i] = wall[i] - cmd[i];
		over_max[ok] = 0;
		for (size_t i = 0; i < n; i++)
			if (over[i] > over_max[ok])
				over_max[ok] = over[i];
		over_med[ok] = median(over, n);
		cmd_med[ok] = median(cmd, n);
		printf("run %d: demo %.1f s, %zu jobs, overhead per job median %lld ms (max %lld ms), "
		       "commands per job median %lld ms\n",
		       r + 1, (double)demo_ms[ok] / 1000.0, n, (long long)over_med[ok],
		       (long long)over_max[ok], (long long)cmd_med[ok]);
		ok++;
		nsh_fs_remove_tree(home, NULL);
	}
	if (!ok) {
		printf("bench/demo: no run completed (is the npm registry reachable?)\n");
		return 0;
	}
	{
		int64_t d = median(demo_ms, (size_t)ok), o = median(over_med, (size_t)ok);
		int64_t c = median(cmd_med, (size_t)ok);

		printf("demo wall time (median of %d): %.1f s (target <= 180 s: %s)\n", ok,
		       (double)d / 1000.0, d <= 180000 ? "met" : "NOT MET");
		printf("orchestrator overhead per job (median): %lld ms = %.2fx the time in commands "
		       "(%lld ms) (target <= 100 ms: %s)\n",
		       (long long)o, c ? (double)o / (double)c : 0.0, (long long)c,
		       o <= 100 ? "met" : "NOT MET");
	}
	return 0;
}
