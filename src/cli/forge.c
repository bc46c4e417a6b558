/*
 * "nightshift forge init|import|repos|path|push": the local forge's
 * organisations and repositories from the command line.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"
#include "forge/forge.h"
#include "store/store.h"

#include "core/banned.h"

#define INIT_USAGE   "forge init ORG"
#define IMPORT_USAGE "forge import ORG PATH... [--name NAME] [--json]"
#define REPOS_USAGE  "forge repos ORG [--json]"
#define PATH_USAGE   "forge path ORG/REPO"
#define PUSH_USAGE   "forge push ORG/REPO DIR BRANCH [--rev REV] [--force] [--json]"

static const struct nsh_cli_cmd cmd_init = {.name = "forge", .usage = INIT_USAGE};
static const struct nsh_cli_cmd cmd_import = {.name = "forge", .usage = IMPORT_USAGE};
static const struct nsh_cli_cmd cmd_repos = {.name = "forge", .usage = REPOS_USAGE};
static const struct nsh_cli_cmd cmd_path = {.name = "forge", .usage = PATH_USAGE};
static const struct nsh_cli_cmd cmd_push = {.name = "forge", .usage = PUSH_USAGE};

/* How many languages a row of "forge repos" names. */
#define LANGS_SHOWN 3

/* A usage error (exit 2) for an org name that breaks the rules. */
static int check_org(const struct nsh_cli_cmd *cmd, const char *org)
{
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_forge_check_name("org", org, &err))
		return nsh_cli_usage(cmd, "%s", err.msg);
	return -1;
}

static int init_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	bool created = false;
	int code;

	if (argc < 2)
		return nsh_cli_usage(&cmd_init, "missing ORG");
	if (argc > 2)
		return nsh_cli_usage(&cmd_init, "unexpected argument '%s'", argv[2]);
	code = check_org(&cmd_init, argv[1]);
	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_org_init(f, argv[1], &created, &err))
		code = nsh_cli_fail(&err);
	else
		printf("org '%s' %s\n", argv[1], created ? "created" : "exists already");
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int import_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *name = NULL, *org;
	json_t *out = NULL;
	bool json = false;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return nsh_cli_bad_option(&cmd_import, c, argv);
		}
	}
	if (optind >= argc)
		return nsh_cli_usage(&cmd_import, "missing ORG");
	if (optind + 1 >= argc)
		return nsh_cli_usage(&cmd_import, "missing PATH");
	if (name && optind + 2 < argc)
		return nsh_cli_usage(&cmd_import, "--name needs exactly one PATH");
	if (name && nsh_forge_check_name("repository", name, &err))
		return nsh_cli_usage(&cmd_import, "%s", err.msg);
	org = argv[optind];
	code = check_org(&cmd_import, org);
	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	out = json_array();
	/* Each path on its own: one that fails is reported and the others still go in. */
	for (int i = optind + 1; i < argc; i++) {
		struct nsh_forge_repo r = {0};

		if (nsh_forge_import(f, org, argv[i], name, &r, &err)) {
			code = nsh_cli_fail(&err);
			continue;
		}
		if (json)
			json_array_append_new(out, nsh_forge_repo_to_json(&r));
		else
			printf("imported %s/%s from %s (default branch %s)\n", r.org, r.name,
			       r.source, r.default_branch);
		nsh_forge_repo_release(&r);
	}
	if (json)
		nsh_cli_print_json(out);
out:
	json_decref(out);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

/* "JavaScript 12, Python 3, Shell 1" (the first LANGS_SHOWN languages), or "-". */
static void print_langs(const struct nsh_forge_repo *r)
{
	if (!r->nlangs) {
		fputs("-", stdout);
		return;
	}
	for (size_t i = 0; i < r->nlangs && i < LANGS_SHOWN; i++)
		printf("%s%s %zu", i ? ", " : "", r->langs[i].name, r->langs[i].files);
}

static int repos_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_repo_list l = {0};
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	bool json = false;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'j')
			return nsh_cli_bad_option(&cmd_repos, c, argv);
		json = true;
	}
	if (optind >= argc)
		return nsh_cli_usage(&cmd_repos, "missing ORG");
	if (optind + 1 < argc)
		return nsh_cli_usage(&cmd_repos, "unexpected argument '%s'", argv[optind + 1]);
	code = check_org(&cmd_repos, argv[optind]);
	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) ||
	    nsh_forge_repo_list(f, argv[optind], &l, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < l.nr; i++)
			json_array_append_new(a, nsh_forge_repo_to_json(&l.v[i]));
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!l.nr) {
		printf("no repositories in org '%s'\n", argv[optind]);
		goto out;
	}
	printf("%-24s %-14s %-12s %-10s %s\n", "NAME", "DEFAULT", "LAST COMMIT", "DATE",
	       "LANGUAGES");
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_forge_repo *r = &l.v[i];
		char stamp[NSH_TIME_ISO_MAX];

		printf("%-24s %-14s ", r->name, r->default_branch);
		if (r->last_sha) {
			nsh_time_iso8601(r->last_ms, stamp);
			stamp[10] = '\0';
			printf("%-12.12s %-10s ", r->last_sha, stamp);
		} else {
			printf("%-12s %-10s ", "-", "-");
		}
		print_langs(r);
		if (r->error)
			printf("  (%s)", r->error);
		if (r->last_subject)
			printf("\n%24s %s", "", r->last_subject);
		fputc('\n', stdout);
	}
out:
	nsh_forge_repo_list_release(&l);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int path_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	char *path = NULL;
	int code = NSH_EXIT_OK;

	if (argc < 2)
		return nsh_cli_usage(&cmd_path, "missing ORG/REPO");
	if (argc > 2)
		return nsh_cli_usage(&cmd_path, "unexpected argument '%s'", argv[2]);
	if (nsh_forge_ref_parse_repo(argv[1], &r, &err))
		return nsh_cli_usage(&cmd_path, "%s", err.msg);
	if (nsh_cli_open_forge(cli, &s, &f, &err) ||
	    nsh_forge_repo_path(f, r.org, r.repo, &path, &err))
		code = nsh_cli_fail(&err);
	else
		puts(path);
	free(path);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int push_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"rev", required_argument, NULL, 'r'},
		{"force", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_push p = {0};
	struct nsh_forge_push_result res;
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *user = getenv("USER");
	bool json = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			p.rev = optarg;
			break;
		case 'f':
			p.force = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			return nsh_cli_bad_option(&cmd_push, c, argv);
		}
	}
	if (argc - optind < 3)
		return nsh_cli_usage(&cmd_push, "missing %s",
				     argc - optind == 0	  ? "ORG/REPO"
				     : argc - optind == 1 ? "DIR"
							  : "BRANCH");
	if (argc - optind > 3)
		return nsh_cli_usage(&cmd_push, "unexpected argument '%s'", argv[optind + 3]);
	if (nsh_forge_ref_parse_repo(argv[optind], &r, &err) ||
	    nsh_forge_check_branch(argv[optind + 2], &err))
		return nsh_cli_usage(&cmd_push, "%s", err.msg);
	p.org = r.org;
	p.repo = r.repo;
	p.workdir = argv[optind + 1];
	p.branch = argv[optind + 2];
	p.pusher = user && *user ? user : "user";
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_push(f, &p, &res, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:b, s:b}", "repo", argv[optind],
				      "branch", p.branch, "old_sha",
				      res.old_sha[0] ? res.old_sha : NULL, "new_sha", res.new_sha,
				      "updated", res.updated, "forced", res.forced);

		json_object_set_new(o, "pr",
				    res.pr_number ? json_integer(res.pr_number) : json_null());
		json_object_set_new(o, "head_seq",
				    res.head_seq ? json_integer(res.head_seq) : json_null());
		json_object_set_new(o, "recorded", json_boolean(res.recorded));
		nsh_cli_print_json(o);
		json_decref(o);
		goto out;
	}
	if (!res.updated)
		printf("%s %s: already at %.12s\n", argv[optind], p.branch, res.new_sha);
	else if (res.old_sha[0])
		printf("%s %s: %.12s -> %.12s%s\n", argv[optind], p.branch, res.old_sha,
		       res.new_sha, res.forced ? " (forced)" : "");
	else
		printf("%s %s: new branch at %.12s\n", argv[optind], p.branch, res.new_sha);
	if (res.pr_number)
		printf("pull request %s#%lld: head %lld%s\n", argv[optind],
		       (long long)res.pr_number, (long long)res.head_seq,
		       res.recorded ? " recorded" : " (recorded before)");
out:
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int forge_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct nsh_cli *, int, char **);
	} subs[] = {
		{"init", init_run}, {"import", import_run}, {"repos", repos_run},
		{"path", path_run}, {"push", push_run},
	};

	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_forge,
				     "missing subcommand (init, import, repos, path or push)");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(cli, argc - 1, argv + 1);
	return nsh_cli_usage(&nsh_cmd_forge,
			     "unknown subcommand '%s' (use init, import, repos, path or push)",
			     argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_forge = {
	.name = "forge",
	.usage = "forge init ORG | forge import ORG PATH... | forge repos ORG [--json] | "
		 "forge path ORG/REPO | forge push ORG/REPO DIR BRANCH [--force]",
	.summary = "the local forge: organisations, repositories, branches",
	.help = "Subcommands:\n"
		"  init ORG                     create an organisation (fine if it exists)\n"
		"  import ORG PATH... [--name NAME] [--json]\n"
		"                               copy git repositories (a work tree's top or a\n"
		"                               bare repository) with all branches and tags into\n"
		"                               the org, creating it when needed; the default\n"
		"                               branch is the source's HEAD branch; --name only\n"
		"                               with one PATH; an existing name is refused\n"
		"  repos ORG [--json]           name, default branch, last commit, languages\n"
		"  path ORG/REPO                the bare repository's path (to clone from)\n"
		"  push ORG/REPO DIR BRANCH [--rev REV] [--force] [--json]\n"
		"                               set BRANCH to the commit REV (default HEAD) of\n"
		"                               the repository DIR; --force allows a rewrite;\n"
		"                               recorded in the branch's pull request\n"
		"\n"
		"Repositories live in $NIGHTSHIFT_HOME/forge/ORG/REPO.git. Names use letters,\n"
		"digits, '-', '_' and '.'; '.' alone and '..' anywhere are refused.\n",
	.run = forge_run,
};
