/*
 * bench/demo: the flagship demo's wall time ("upgrade lodash from 3 to 4
 * across the 15 services of demo-org", ./nightshift demo on a fresh home)
 * and the orchestrator's own overhead per job: the job's wall time on its
 * worker minus the time its commands ran in the sandbox (npm, the tests),
 * as each job records in artifacts/<task>/<job>/timing.json. Medians over
 * three runs, next to the time in commands as the baseline, then where
 * the overhead goes: per step (its time less the time in commands and in
 * making the sandbox), the git processes it ran, and the scheduler's
 * phases around it, medians over every job of every run. Figures are
 * printed, never asserted, with the load averages before and after each
 * run. NSH_DEMO_BIN names the binary (default ./nightshift), so that two
 * builds can be run in turn in one session. Needs the npm registry (the
 * jobs install).
 */
#include <stdbool.h>
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

static long long mean(const int64_t *v, size_t n)
{
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return n ? (long long)(sum / (int64_t)n) : 0;
}

static int64_t median(int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	return n ? v[n / 2] : 0;
}

#define MAX_JOBS  (64 * RUNS)
#define MAX_STEPS 16

/* The figures of one kind of step, per job (summed over its attempts). */
struct step_figs {
	char name[16];
	size_t n; /* jobs that ran it */
	int64_t over[MAX_JOBS], git[MAX_JOBS], git_ms[MAX_JOBS], cmds[MAX_JOBS];
	int64_t boundary[MAX_JOBS], measure[MAX_JOBS], record[MAX_JOBS];
	/* the parts the step names (workspace, forge_clone, ...), per job */
	char part[4][16];
	size_t nparts;
	int64_t part_ms[4][MAX_JOBS];
};

static struct step_figs steps[MAX_STEPS];
static size_t nsteps;
/* per job: making and destroying the sandbox, git processes, sandboxed commands */
static int64_t job_sb[MAX_JOBS], job_destroy[MAX_JOBS], job_git[MAX_JOBS], job_cmds[MAX_JOBS];
static int64_t job_over[MAX_JOBS], job_phases[MAX_JOBS], job_wsclose[MAX_JOBS];
static int64_t job_steps[MAX_JOBS];
static size_t njobs;

static struct step_figs *step_of(const char *name)
{
	for (size_t i = 0; i < nsteps; i++)
		if (!strcmp(steps[i].name, name))
			return &steps[i];
	if (nsteps == MAX_STEPS || strlen(name) >= sizeof(steps[0].name))
		return NULL;
	snprintf(steps[nsteps].name, sizeof(steps[0].name), "%s", name);
	return &steps[nsteps++];
}

static int64_t geti(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Add one job's per-step figures (timing.json "steps") to the tables. */
static void add_breakdown(json_t *v)
{
	struct step_figs *seen[MAX_STEPS];
	size_t nseen = 0, i;
	int64_t phases = 0, over = 0;
	json_t *s;

	if (njobs == MAX_JOBS)
		return;
	json_array_foreach(json_object_get(v, "steps"), i, s)
	{
		const char *name = json_string_value(json_object_get(s, "step"));
		struct step_figs *f = name ? step_of(name) : NULL;
		bool again = false;
		size_t k;

		if (!f)
			continue;
		for (k = 0; k < nseen; k++)
			again = again || seen[k] == f;
		if (!again) {
			seen[nseen++] = f;
			k = f->n++;
			f->over[k] = f->git[k] = f->git_ms[k] = f->cmds[k] = 0;
			f->boundary[k] = f->measure[k] = f->record[k] = 0;
		}
		k = f->n - 1;
		{
			const char *pn;
			json_t *pv;

			json_object_foreach(json_object_get(s, "parts"), pn, pv)
			{
				size_t p;

				for (p = 0; p < f->nparts && strcmp(f->part[p], pn); p++)
					;
				if (p == f->nparts) {
					if (p == 4 || strlen(pn) >= sizeof(f->part[0]))
						continue;
					snprintf(f->part[p], sizeof(f->part[0]), "%s", pn);
					memset(f->part_ms[p], 0, sizeof(f->part_ms[p]));
					f->nparts++;
				}
				f->part_ms[p][k] += json_integer_value(pv);
			}
		}
		f->over[k] += geti(s, "run_ms") - geti(s, "cmd_ms") - geti(s, "sandbox_ms");
		f->git[k] += geti(s, "git");
		f->git_ms[k] += geti(s, "git_ms");
		f->cmds[k] += geti(s, "cmds");
		f->boundary[k] += geti(s, "boundary_ms");
		f->measure[k] += geti(s, "measure_ms");
		f->record[k] += geti(s, "record_ms");
		phases += geti(s, "boundary_ms") + geti(s, "measure_ms") + geti(s, "record_ms");
		over += geti(s, "run_ms") - geti(s, "cmd_ms") - geti(s, "sandbox_ms");
	}
	job_sb[njobs] = geti(v, "sandbox_ms");
	job_destroy[njobs] = geti(v, "destroy_ms") + geti(v, "cleanup_ms");
	job_wsclose[njobs] = geti(v, "workspace_close_ms");
	job_git[njobs] = geti(v, "git");
	job_cmds[njobs] = geti(v, "cmds");
	job_over[njobs] = geti(v, "wall_ms") - geti(v, "cmd_ms");
	job_phases[njobs] = phases;
	job_steps[njobs] = over;
	njobs++;
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

			if (!nsh_fs_read_file(line, &b, (size_t)1 << 20, NULL) &&
			    !nsh_json_parse(b.buf, b.len, &v, NULL)) {
				wall[n] = geti(v, "wall_ms");
				cmd[n] = geti(v, "cmd_ms");
				add_breakdown(v);
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

/* Where the overhead goes: medians over every job of every run. */
static void breakdown(void)
{
	int64_t tmp[MAX_JOBS];

#define MED(arr, n) (memcpy(tmp, (arr), (n) * sizeof(int64_t)), (long long)median(tmp, (n)))
	printf("where the overhead goes (medians over %zu jobs; ms; 'overhead': the step's run "
	       "less its sandboxed commands and the sandbox's making):\n",
	       njobs);
	printf("  %-10s %5s %9s %6s %5s %7s %5s %9s %8s %7s\n", "step", "jobs", "overhead",
	       "(mean)", "git", "git ms", "cmds", "boundary", "measure", "record");
	for (size_t i = 0; i < nsteps; i++) {
		struct step_figs *f = &steps[i];

		printf("  %-10s %5zu %9lld %6lld %5lld %7lld %5lld %9lld %8lld %7lld\n", f->name,
		       f->n, MED(f->over, f->n), mean(f->over, f->n), MED(f->git, f->n),
		       MED(f->git_ms, f->n), MED(f->cmds, f->n), MED(f->boundary, f->n),
		       MED(f->measure, f->n), MED(f->record, f->n));
		for (size_t p = 0; p < f->nparts; p++)
			printf("    %-14s %lld\n", f->part[p], MED(f->part_ms[p], f->n));
	}
	printf("  per job (means: they add up): overhead %lld = the steps' %lld + the scheduler's "
	       "phases %lld + sandbox made %lld + destroyed and cleaned up %lld + the rest %lld\n",
	       mean(job_over, njobs), mean(job_steps, njobs), mean(job_phases, njobs),
	       mean(job_sb, njobs), mean(job_destroy, njobs),
	       mean(job_over, njobs) - mean(job_steps, njobs) - mean(job_phases, njobs) -
		       mean(job_sb, njobs) - mean(job_destroy, njobs));
	printf("  per job (medians): overhead %lld, of it the scheduler's phases (boundary, measure, "
	       "record) %lld; sandbox made %lld, destroyed and cleaned up %lld (of it the "
	       "workspace's file system released %lld); %lld git processes, %lld sandboxed "
	       "commands\n",
	       MED(job_over, njobs), MED(job_phases, njobs), MED(job_sb, njobs),
	       MED(job_destroy, njobs), MED(job_wsclose, njobs), MED(job_git, njobs),
	       MED(job_cmds, njobs));
#undef MED
}

/* The 1, 5 and 15 minute load averages, "?" when unknown. Caller frees. */
static char *loadavg(void)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *out;
	int spaces = 0;

	if (nsh_fs_read_file("/proc/loadavg", &b, 4096, NULL) < 0) {
		nsh_buf_release(&b);
		return nsh_xstrdup("?");
	}
	for (size_t i = 0; i < b.len; i++)
		if (b.buf[i] == ' ' && ++spaces == 3) {
			nsh_buf_truncate(&b, i);
			break;
		}
	out = nsh_buf_detach(&b, NULL);
	return out;
}

int main(void)
{
	const char *bin = getenv("NSH_DEMO_BIN") ? getenv("NSH_DEMO_BIN") : "./nightshift";

	int64_t demo_ms[RUNS], over_med[RUNS], over_max[RUNS], cmd_med[RUNS];
	int ok = 0;

	for (int r = 0; r < RUNS; r++) {
		char tmpl[] = "/tmp/nsh-bench-demo-XXXXXX";
		char *home = mkdtemp(tmpl);
		const char *argv[] = {bin, "--home", home, "demo", NULL};
		struct nsh_err err = NSH_ERR_INIT;
		int64_t wall[64], cmd[64], over[64], t0;
		char *load0 = loadavg(), *load1;
		size_t n;

		if (!home) {
			perror("bench/demo: mkdtemp");
			return 1;
		}
		t0 = nsh_time_mono_ms();
		if (nsh_proc_run_argv(argv, NULL, NULL, &err)) {
			fprintf(stderr, "bench/demo: run %d: %s\n", r + 1, err.msg);
			nsh_fs_remove_tree(home, NULL);
			free(load0);
			continue;
		}
		demo_ms[ok] = nsh_time_mono_ms() - t0;
		load1 = loadavg();
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
		       "commands per job median %lld ms; load average %s before, %s after\n",
		       r + 1, (double)demo_ms[ok] / 1000.0, n, (long long)over_med[ok],
		       (long long)over_max[ok], (long long)cmd_med[ok], load0, load1);
		free(load0);
		free(load1);
		ok++;
		nsh_fs_remove_tree(home, NULL);
	}
	if (!ok) {
		printf("bench/demo: no run completed (is the npm registry reachable?)\n");
		return 0;
	}
	breakdown();
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
