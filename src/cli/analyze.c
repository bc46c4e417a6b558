/*
 * "nightshift analyze ORG --dependency NAME[@RANGE] [--api NAME[=silent|throws]]... [--json]":
 * which repositories of an organisation use a dependency, where they call
 * the named APIs, and the order in which to change them (low risk first,
 * critical last). The work is done by src/analyze/; this file parses the
 * command line, finds the repositories and prints.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/analyze.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/vec.h"

#include "core/banned.h"

#define ORG_MAX	     100 /* characters in an organisation name */
#define MAX_REPOS    100000
#define MAX_WORKERS  8
#define APIS_COL_MAX 40 /* width of the APIS column before "..." */

static bool org_valid(const char *org)
{
	size_t n = strlen(org);

	if (!n || n > ORG_MAX || org[0] == '.' || org[0] == '-')
		return false;
	return strspn(org, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The repositories of @org: the bare directories $home/forge/ORG/NAME.git,
 * sorted by NAME. The one place that knows the forge's layout, so that it
 * can become a call into the forge module.
 */
static int list_repos(const char *home, const char *org, struct nsh_strvec *ret_names,
		      struct nsh_err *err)
{
	char *dir = nsh_xasprintf("%s/forge/%s", home, org);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (!d) {
		rc = nsh_err_set(err, NSH_ENOTFOUND,
				 "unknown organisation '%s' (no directory '%s')", org, dir);
		goto out;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *path;

		if (n <= 4 || strcmp(de->d_name + n - 4, ".git") || de->d_name[0] == '.')
			continue;
		path = nsh_xasprintf("%s/%s", dir, de->d_name);
		if (nsh_fs_is_dir(path) && ret_names->nr < MAX_REPOS)
			nsh_strvec_pushf(ret_names, "%.*s", (int)(n - 4), de->d_name);
		free(path);
	}
	closedir(d);
	qsort(ret_names->v, ret_names->nr, sizeof(char *), cmp_str);
out:
	free(dir);
	return rc;
}

/* --- running ------------------------------------------------------------ */

struct job {
	const struct nsh_analyze *a;
	const struct nsh_analyze_target *targets;
	struct nsh_analyze_result **results;
	size_t n;
	size_t next; /* taken atomically */
};

static void *worker(void *arg)
{
	struct job *j = arg;

	for (;;) {
		size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
		struct nsh_err err = NSH_ERR_INIT;

		if (i >= j->n)
			break;
		if (nsh_analyze_repo(j->a, &j->targets[i], &j->results[i], &err))
			j->results[i] = NULL;
	}
	return NULL;
}

/* Analyse every target, a few at a time (each is mostly waiting for git). */
static void run_all(struct job *j)
{
	pthread_t th[MAX_WORKERS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nw = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (size_t)cpus, started = 0;

	if (nw > j->n)
		nw = j->n;
	for (size_t i = 0; i < nw; i++)
		if (!pthread_create(&th[started], NULL, worker, j))
			started++;
	if (!started)
		worker(j);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* --- printing ----------------------------------------------------------- */

static void version_text(const struct nsh_analyze_result *r, struct nsh_buf *b)
{
	const struct nsh_analyze_dep *d = nsh_analyze_primary(r);

	if (!d) {
		nsh_buf_adds(b, "-");
	} else if (d->declared && d->resolved && strcmp(d->declared, d->resolved)) {
		nsh_buf_addf(b, "%s (%s)", d->declared, d->resolved);
	} else {
		nsh_buf_adds(b, d->resolved ? d->resolved : d->declared ? d->declared : "?");
	}
}

static void apis_text(const struct nsh_analyze_result *r, struct nsh_buf *b)
{
	struct nsh_strvec seen = NSH_STRVEC_INIT;

	for (size_t i = 0; i < r->nuses; i++) {
		if (nsh_strvec_find(&seen, r->uses[i].api) >= 0)
			continue;
		nsh_strvec_push(&seen, r->uses[i].api);
		nsh_buf_addf(b, "%s%s %zu", seen.nr > 1 ? ", " : "", r->uses[i].api,
			     nsh_analyze_count(r, r->uses[i].api));
	}
	if (!b->len)
		nsh_buf_adds(b, "-");
	if (b->len > APIS_COL_MAX) {
		nsh_buf_truncate(b, APIS_COL_MAX - 3);
		nsh_buf_adds(b, "...");
	}
	nsh_strvec_release(&seen);
}

static void why_text(const struct nsh_analyze_result *r, struct nsh_buf *b)
{
	for (size_t i = 0; i < r->nreasons; i++) {
		const struct nsh_analyze_reason *x = &r->reasons[i];

		if (!strcmp(x->term, "none"))
			nsh_buf_adds(b, "nothing to weigh");
		else if (!strcmp(x->term, "critical"))
			nsh_buf_addf(b, "%scritical", b->len ? ", " : "");
		else
			nsh_buf_addf(b, "%s%s %d", b->len ? " + " : "", x->term, x->points);
	}
}

struct row {
	char *cell[6];
};

static void print_text(const struct nsh_analyze *a, const struct nsh_analyze_plan *p,
		       struct nsh_analyze_result *const *results, size_t n)
{
	static const char *const head[] = {"#", "REPO", "USAGE", "VERSION", "APIS", "RISK"};
	struct row *rows = nsh_xcalloc(p->nr ? p->nr : 1, sizeof(*rows));
	size_t w[6];
	bool any_warning = false;

	for (size_t c = 0; c < 6; c++)
		w[c] = strlen(head[c]);
	for (size_t i = 0; i < p->nr; i++) {
		const struct nsh_analyze_result *r = p->order[i];
		struct nsh_buf b = NSH_BUF_INIT;

		rows[i].cell[0] = nsh_xasprintf("%zu", i + 1);
		rows[i].cell[1] = nsh_xstrdup(r->repo);
		rows[i].cell[2] = nsh_xstrdup(nsh_analyze_usage_name(r->usage));
		version_text(r, &b);
		rows[i].cell[3] = nsh_buf_detach(&b, NULL);
		apis_text(r, &b);
		rows[i].cell[4] = nsh_buf_detach(&b, NULL);
		rows[i].cell[5] = nsh_xasprintf("%d", r->risk);
		for (size_t c = 0; c < 6; c++)
			if (strlen(rows[i].cell[c]) > w[c])
				w[c] = strlen(rows[i].cell[c]);
	}
	if (p->nr) {
		for (size_t c = 0; c < 6; c++)
			printf("%-*s  ", (int)w[c], head[c]);
		puts("WHY");
	}
	for (size_t i = 0; i < p->nr; i++) {
		struct nsh_buf b = NSH_BUF_INIT;

		for (size_t c = 0; c < 6; c++)
			printf("%-*s  ", (int)w[c], rows[i].cell[c]);
		why_text(p->order[i], &b);
		puts(b.buf);
		nsh_buf_release(&b);
		for (size_t c = 0; c < 6; c++)
			free(rows[i].cell[c]);
	}
	free(rows);
	if (p->nunaffected) {
		printf("%sunaffected:\n", p->nr ? "\n" : "");
		for (size_t i = 0; i < p->nunaffected; i++)
			printf("  %s: %s\n", p->unaffected[i]->repo, p->unaffected[i]->unaffected);
	}
	for (size_t i = 0; i < n; i++) {
		const struct nsh_analyze_result *r = results[i];

		for (size_t k = 0; r && k < r->nwarnings; k++) {
			if (!any_warning)
				printf("%swarnings:\n", p->nr || p->nunaffected ? "\n" : "");
			any_warning = true;
			printf("  %s: %s%s%s\n", r->repo, r->warnings[k].file,
			       *r->warnings[k].file ? ": " : "", r->warnings[k].reason);
		}
	}
	printf("%s%zu repositor%s, %zu direct, %zu transitive, %zu unaffected (dependency %s%s%s)\n",
	       p->nr || p->nunaffected || any_warning ? "\n" : "", p->nr + p->nunaffected,
	       p->nr + p->nunaffected == 1 ? "y" : "ies", p->direct, p->transitive, p->nunaffected,
	       nsh_analyze_dependency(a), nsh_analyze_range_text(a) ? "@" : "",
	       nsh_analyze_range_text(a) ? nsh_analyze_range_text(a) : "");
}

/* --- the command -------------------------------------------------------- */

/* "NAME[=silent|throws]" into @api (pointing into @spec, which it edits). */
static bool parse_api(char *spec, struct nsh_analyze_api *api)
{
	char *eq = strchr(spec, '=');

	api->name = spec;
	api->silent = true; /* unknown behaviour weighs like the worse case */
	api->cls = NULL;
	if (!eq)
		return true;
	if (!strcmp(eq + 1, "silent"))
		api->silent = true;
	else if (!strcmp(eq + 1, "throws"))
		api->silent = false;
	else
		return false; /* @spec unchanged, for the message */
	*eq = '\0';
	return true;
}

/* Split "NAME@RANGE" (a scoped "@scope/name@range" keeps its first '@'). */
static char *split_dependency(char *spec)
{
	char *at = strchr(spec + (spec[0] == '@'), '@');

	if (!at)
		return NULL;
	*at = '\0';
	return at + 1;
}

static int analyze_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dependency", required_argument, NULL, 'd'},
		{"api", required_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_opts o = {0};
	struct nsh_analyze_api *apis = NULL;
	struct nsh_strvec names = NSH_STRVEC_INIT, specs = NSH_STRVEC_INIT, dirs = NSH_STRVEC_INIT;
	struct nsh_analyze_target *targets = NULL;
	struct nsh_analyze_result **results = NULL;
	struct nsh_analyze *a = NULL;
	struct nsh_analyze_plan plan = {0};
	char *dep = NULL;
	const char *org;
	bool json = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			free(dep);
			dep = nsh_xstrdup(optarg);
			break;
		case 'a':
			nsh_strvec_push(&specs, optarg);
			break;
		case 'j':
			json = true;
			break;
		case ':':
			code = nsh_cli_usage(&nsh_cmd_analyze, "option '%s' needs a value",
					     argv[optind - 1]);
			goto out;
		default:
			code = nsh_cli_usage(&nsh_cmd_analyze, "unknown option '%s'",
					     argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		code = nsh_cli_usage(&nsh_cmd_analyze, "missing ORG");
		goto out;
	}
	if (optind + 1 < argc) {
		code = nsh_cli_usage(&nsh_cmd_analyze, "unexpected argument '%s'",
				     argv[optind + 1]);
		goto out;
	}
	org = argv[optind];
	if (!org_valid(org)) {
		code = nsh_cli_usage(&nsh_cmd_analyze, "invalid organisation name '%s'", org);
		goto out;
	}
	if (!dep) {
		code = nsh_cli_usage(&nsh_cmd_analyze, "missing --dependency NAME[@RANGE]");
		goto out;
	}
	o.dependency = dep;
	o.range = split_dependency(dep);
	if (o.range && !*o.range) {
		code = nsh_cli_usage(&nsh_cmd_analyze, "empty range after '%s@'", dep);
		goto out;
	}
	apis = nsh_xcalloc(specs.nr ? specs.nr : 1, sizeof(*apis));
	for (size_t i = 0; i < specs.nr; i++)
		if (!parse_api(specs.v[i], &apis[i])) {
			code = nsh_cli_usage(
				&nsh_cmd_analyze,
				"bad --api '%s': expected NAME, NAME=silent or NAME=throws",
				specs.v[i]);
			goto out;
		}
	o.apis = apis;
	o.napis = specs.nr;
	if (nsh_analyze_new(&o, &a, &err)) {
		code = nsh_cli_usage(&nsh_cmd_analyze, "%s", err.msg);
		goto out;
	}
	if (list_repos(cli->home, org, &names, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	targets = nsh_xcalloc(names.nr ? names.nr : 1, sizeof(*targets));
	results = nsh_xcalloc(names.nr ? names.nr : 1, sizeof(*results));
	for (size_t i = 0; i < names.nr; i++) {
		nsh_strvec_pushf(&dirs, "%s/forge/%s/%s.git", cli->home, org, names.v[i]);
		targets[i].name = names.v[i];
	}
	for (size_t i = 0; i < names.nr; i++)
		targets[i].git_dir = dirs.v[i];
	{
		struct job j = {a, targets, results, names.nr, 0};

		run_all(&j);
	}
	for (size_t i = 0; i < names.nr; i++)
		if (!results[i]) {
			nsh_err_set(&err, NSH_EFAIL, "repository '%s' could not be analysed",
				    names.v[i]);
			code = nsh_cli_fail(&err);
			goto out;
		}
	nsh_analyze_plan_make((const struct nsh_analyze_result *const *)results, names.nr, &plan);
	if (json) {
		json_t *v = nsh_analyze_plan_json(a, &plan);

		json_object_set_new(v, "org", json_string(org));
		nsh_cli_print_json(v);
		json_decref(v);
	} else {
		print_text(a, &plan, results, names.nr);
	}
out:
	nsh_analyze_plan_release(&plan);
	for (size_t i = 0; results && i < names.nr; i++)
		nsh_analyze_result_free(results[i]);
	free(results);
	free(targets);
	nsh_analyze_free(a);
	free(apis);
	free(dep);
	nsh_strvec_release(&specs);
	nsh_strvec_release(&names);
	nsh_strvec_release(&dirs);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_analyze = {
	.name = "analyze",
	.usage = "analyze ORG --dependency NAME[@RANGE] [--api NAME[=silent|throws]]... [--json]",
	.summary = "find the repositories that use a dependency and plan the change by risk",
	.help = "Reads the default branch of every repository of ORG (the bare repositories\n"
		"under $NIGHTSHIFT_HOME/forge/ORG/) without cloning: npm package.json and\n"
		"package-lock.json (lockfile versions 1-3), requirements*.txt, pyproject.toml,\n"
		"go.mod, Cargo.toml and pom.xml. For each repository: direct or transitive use\n"
		"(and through which package), declared range, resolved version, the usages of\n"
		"each --api in JavaScript/TypeScript with file:line, tests, criticality and\n"
		"lockfile drift, and a risk score with its reasons.\n"
		"\n"
		"  --dependency NAME[@RANGE]  the package; RANGE is an npm range such as '<4' or\n"
		"                             '^3.0.0': repositories outside it are unaffected\n"
		"  --api NAME[=silent|throws] an API whose behaviour changes (repeatable). Silent\n"
		"                             changes weigh 3 per usage, throwing ones 1; an API\n"
		"                             given without '=' counts as silent (the worse case)\n"
		"  --json                     everything, including each usage and warning\n"
		"\n"
		"The plan lists affected repositories lowest risk first and critical ones\n"
		"(critical: true or topic 'critical' in .nightshift/repo.yml) last. A malformed\n"
		"manifest is a warning for its repository; the others are still analysed.\n"
		"See docs/analyze.md for the risk formula.\n"
		"\n"
		"Example:\n"
		"  nightshift analyze acme --dependency 'lodash@<4' --api pluck=throws --api flatten\n",
	.run = analyze_run,
};
