/*
 * "nightshift demo": the flagship demo. The 15 services of demo-org
 * (src/demo/) are made and imported into the local forge when they are not
 * there yet, then the lodash task runs on them here, streaming its status
 * and ending with the table of pull requests. "nightshift demo init" only
 * makes the organisation.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "demo/demo.h"
#include "forge/forge.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define INIT_USAGE "demo init [--services N] [--dir DIR] [--json]"

static const struct nsh_cli_cmd cmd_init = {.name = "demo", .usage = INIT_USAGE};

/* "3" for 1..NSH_DEMO_SERVICES; false for anything else. */
static bool parse_services(const char *s, size_t *ret)
{
	char *end;
	unsigned long v;

	if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 3)
		return false;
	v = strtoul(s, &end, 10);
	if (v < 1 || v > NSH_DEMO_SERVICES)
		return false;
	*ret = v;
	return true;
}

static const char *lodash_via(const struct nsh_demo_service *svc)
{
	return svc->transitive ? "@demo-org/utils" : "direct";
}

static json_t *repo_json(const char *dir, const struct nsh_demo_repo *r)
{
	const struct nsh_demo_service *s = r->svc;
	char *path = nsh_xasprintf("%s/%s", dir, s->name);
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:s, s:b, s:b, s:s, s:i, s:b, s:s, "
		"s:s*}",
		"name", s->name, "org", NSH_DEMO_ORG, "path", path, "head", r->head, "commits",
		(int)r->commits, "summary", s->summary, "usage", s->usage, "lodash_refs",
		(json_int_t)r->lodash_refs, "lodash_files", (json_int_t)r->lodash_files, "apis",
		s->apis, "critical", s->critical, "transitive", s->transitive, "lodash_range",
		s->lodash_range, "lockfile_version", s->lockfile_version, "lockfile_drift",
		s->lockfile_drift, "expected", nsh_demo_outcome_name(s->outcome), "note", s->note);

	free(path);
	return o;
}

static void print_table(const char *dir, const struct nsh_demo_repo *repos, size_t n)
{
	printf("%-16s %-26s %-8s %-16s %-5s %-12s %s\n", "SERVICE", "LODASH USE", "CRITICAL", "VIA",
	       "LOCK", "EXPECTED", "HEAD");
	for (size_t i = 0; i < n; i++) {
		const struct nsh_demo_service *s = repos[i].svc;
		char use[64], lock[16];

		snprintf(use, sizeof(use), "%s (%zu refs, %zu file%s)", s->usage,
			 repos[i].lodash_refs, repos[i].lodash_files,
			 repos[i].lodash_files == 1 ? "" : "s");
		snprintf(lock, sizeof(lock), "v%d%s", s->lockfile_version,
			 s->lockfile_drift ? "!" : "");
		printf("%-16s %-26s %-8s %-16s %-5s %-12s %.12s\n", s->name, use,
		       s->critical ? "yes" : "no", lodash_via(s), lock,
		       nsh_demo_outcome_name(s->outcome), repos[i].head);
	}
	printf("\n%zu repositories of org '%s' in %s\n", n, NSH_DEMO_ORG, dir);
	for (size_t i = 0; i < n; i++)
		if (repos[i].svc->lockfile_drift) {
			printf("%s: package-lock.json does not match package.json (LOCK "
			       "with '!')\n",
			       repos[i].svc->name);
		}
}

/* Import the generated repositories into the local forge's org NSH_DEMO_ORG. */
static int import_all(struct nsh_cli *cli, const char *dir, const struct nsh_demo_repo *repos,
		      size_t n, struct nsh_err *err)
{
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	int rc;

	rc = nsh_cli_open_store(cli, &s, err);
	if (!rc)
		rc = nsh_forge_open_local(cli->home, s, &f, err);
	for (size_t i = 0; !rc && i < n; i++) {
		char *path = nsh_xasprintf("%s/%s", dir, repos[i].svc->name);

		rc = nsh_forge_import(f, NSH_DEMO_ORG, path, NULL, NULL, err);
		free(path);
	}
	nsh_forge_close(f);
	nsh_store_close(s);
	return rc;
}

static int init_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"services", required_argument, NULL, 'n'},
		{"dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_demo_repo *repos = NULL;
	size_t n = NSH_DEMO_SERVICES;
	char *dir = NULL, *abs;
	bool json = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_services(optarg, &n)) {
				code = nsh_cli_usage(&cmd_init, "invalid --services '%s' (1 to %d)",
						     optarg, NSH_DEMO_SERVICES);
				goto out;
			}
			break;
		case 'd':
			free(dir);
			dir = nsh_xstrdup(optarg);
			break;
		case 'j':
			json = true;
			break;
		case ':':
			code = nsh_cli_usage(&cmd_init, "option '%s' needs a value",
					     argv[optind - 1]);
			goto out;
		default:
			code = nsh_cli_usage(&cmd_init, "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		code = nsh_cli_usage(&cmd_init, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!dir)
		dir = nsh_xasprintf("%s/demo/src", cli->home);
	repos = nsh_xcalloc(n, sizeof(*repos));
	if (nsh_demo_generate(dir, n, repos, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	/* Name the repositories by absolute paths: they are handed on. */
	abs = realpath(dir, NULL);
	if (abs) {
		free(dir);
		dir = abs;
	}
	if (import_all(cli, dir, repos, n, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();
		json_t *o;

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, repo_json(dir, &repos[i]));
		o = json_pack("{s:s, s:s, s:o}", "org", NSH_DEMO_ORG, "dir", dir, "services", a);
		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		print_table(dir, repos, n);
	}
out:
	free(repos);
	free(dir);
	return code;
}

#define DEMO_TASK                                                                            \
 "Upgrade lodash from 3 to 4 across all services in demo-org. Handle the breaking changes, " \
 "run the tests after each upgrade, open one PR per service."

/* Whether the forge has demo-org already. */
static int have_org(struct nsh_cli *cli, struct nsh_store *s, bool *ret, struct nsh_err *err)
{
	struct nsh_forge_repo_list l = {0};
	struct nsh_forge *f = NULL;
	struct nsh_err e2 = NSH_ERR_INIT;
	int rc;

	rc = nsh_forge_open_local(cli->home, s, &f, err);
	if (rc)
		return rc;
	*ret = nsh_forge_repo_list(f, NSH_DEMO_ORG, &l, &e2) == 0 && l.nr > 0;
	nsh_forge_repo_list_release(&l);
	nsh_forge_close(f);
	return 0;
}

/* The flagship: make the org when needed, then run the task here. */
static int flagship_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_task_new tn = {.title = DEMO_TASK, .org = NSH_DEMO_ORG, .network = "common"};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	long max_sandboxes = 4;
	bool have = false;
	char id[32];
	int code;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max-sandboxes") && i + 1 < argc) {
			char *end;

			max_sandboxes = strtol(argv[++i], &end, 10);
			if (*end || max_sandboxes < 1 || max_sandboxes > 100)
				return nsh_cli_usage(&nsh_cmd_demo,
						     "invalid --max-sandboxes '%s' (1 to 100)",
						     argv[i]);
		} else {
			return nsh_cli_usage(&nsh_cmd_demo, "unknown argument '%s'", argv[i]);
		}
	}
	if (nsh_cli_open_store(cli, &s, &err) || have_org(cli, s, &have, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (!have) {
		char *dir = nsh_xasprintf("%s/demo/src", cli->home);
		char *const init_argv[] = {(char *)"init", (char *)"--dir", dir, NULL};

		printf("🏗  Creating demo-org: %d Node services on lodash 3 in the local forge\n",
		       NSH_DEMO_SERVICES);
		fflush(stdout);
		code = init_run(cli, 3, (char **)init_argv);
		free(dir);
		if (code)
			goto out;
	}
	printf("🧑 \"%s\"\n", DEMO_TASK);
	fflush(stdout);
	if (nsh_task_create(s, &tn, id, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	code = nsh_cli_drive(cli, s, id, (int)max_sandboxes, false);
	if (!code)
		printf("\nReview the pull requests with: nightshift pr list --task %s\n", id);
out:
	nsh_store_close(s);
	return code;
}

static int demo_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return init_run(cli, argc - 1, argv + 1);
	return flagship_run(cli, argc, argv);
}

const struct nsh_cli_cmd nsh_cmd_demo = {
	.name = "demo",
	.usage = "demo [--max-sandboxes N] | " INIT_USAGE,
	.summary = "the flagship demo: upgrade lodash 3 to 4 across 15 services, one PR each",
	.help = "Without a subcommand: make demo-org in the local forge (when it is not there)\n"
		"and run \"" DEMO_TASK "\"\n"
		"here, with at most N sandboxes at once (default 4), streaming the status and\n"
		"ending with a table of the pull requests.\n\n"
		"Subcommands:\n"
		"  init [--services N] [--dir DIR] [--json]\n"
		"      write the first N (default 15) services of org 'demo-org' as git\n"
		"      repositories DIR/<service> (default $NIGHTSHIFT_HOME/demo/src); DIR\n"
		"      must be missing or empty. They are then imported into the local\n"
		"      forge as org 'demo-org'. No network is needed.\n"
		"\n"
		"Each service has a history, a package.json on lodash 3, a package-lock.json\n"
		"and a node:test suite (npm install && npm test). They use the lodash 3 APIs\n"
		"that changed in lodash 4 in varied ways; EXPECTED says what the mechanical\n"
		"rewrite rules should reach: fixed, alternative (the first rewrite fails a\n"
		"test, another passes), human (no mechanical fix) or unchanged (nothing to\n"
		"edit). docs/demo.md describes every service.\n",
	.run = demo_run,
};
