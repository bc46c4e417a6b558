/*
 * "nightshift github ...": the GitHub forge from the command line, for
 * checking a configuration and for scripts: list repositories, read a
 * file, clone, push, open and change pull requests, comment, read
 * comments, check a user's permission, poll once and sync a task's
 * status comment. Settings come from [github] in the configuration
 * (docs/github.md).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "core/vec.h"
#include "forge/forge.h"
#include "forge/github.h"
#include "store/store.h"

#include "core/banned.h"

#define USAGE                                                                                  \
 "github org-init ORG | repos ORG [--json] | read O/R PATH [--ref REF] | clone O/R DIR "       \
 "[--branch B] | push O/R DIR BRANCH [--force] | pr-open O/R HEAD TITLE [--body TEXT] "        \
 "[--draft] [--label L]... [--json] | pr-update O/R#N [--title T] [--body TEXT] [--label "     \
 "L]... [--ready | --draft] | comment O/R#N TEXT [--reply-to ID] | comments O/R#N [--json] | " \
 "can-write O/R USER | poll [--rounds N] | status TASK"

static int run(struct nsh_cli *cli, int argc, char **argv);

const struct nsh_cli_cmd nsh_cmd_github = {
	.name = "github",
	.usage = USAGE,
	.summary = "work with the GitHub forge: repositories, files, pull requests, polling",
	.help = "Uses [github] of the configuration (api, token or app_id + private_key +\n"
		"installation_id, write_pause, poll_interval, watch, label); see docs/github.md.\n"
		"poll prints each item it hands on as one JSON line:\n"
		"{\"event\": ..., \"delivery\": ..., \"payload\": ...}.",
	.run = run,
};

/* Options shared by the subcommands. */
struct gh_opts {
	const char *ref, *branch, *body, *title;
	struct nsh_strvec labels;
	bool json, force, draft, ready, set_labels;
	long long reply_to, rounds;
};

static int open_github(struct nsh_cli *cli, struct nsh_store **ret_store, struct nsh_forge **ret,
		       struct nsh_err *err)
{
	int rc = nsh_cli_open_store(cli, ret_store, err);

	return rc ? rc : nsh_forge_open_github(cli->home, *ret_store, cli->config, ret, err);
}

static int print_delivery(void *ctx, const char *event, const char *delivery_id, json_t *payload,
			  struct nsh_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:O}", "event", event, "delivery", delivery_id, "payload",
			      payload);
	char *text = nsh_json_dump(o);

	(void)ctx;
	(void)err;
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(o);
	return 0;
}

static int do_repos(struct nsh_forge *f, const char *org, bool json, struct nsh_err *err)
{
	struct nsh_forge_repo_list l = {0};
	json_t *a = json_array();
	int rc = nsh_forge_repo_list(f, org, &l, err);

	for (size_t i = 0; !rc && i < l.nr; i++) {
		if (json)
			json_array_append_new(a, nsh_forge_repo_to_json(&l.v[i]));
		else
			printf("%s/%s\t%s\n", l.v[i].org, l.v[i].name, l.v[i].default_branch);
	}
	if (!rc && json)
		nsh_cli_print_json(a);
	json_decref(a);
	nsh_forge_repo_list_release(&l);
	return rc;
}

static int do_pr_open(struct nsh_forge *f, const struct nsh_forge_ref *repo, char **args,
		      struct gh_opts *o, struct nsh_err *err)
{
	struct nsh_forge_pr_new n = {0};
	struct nsh_pr_rec p = {0};
	bool existed = false;
	int rc;

	n.org = repo->org;
	n.repo = repo->repo;
	n.head = args[0];
	n.title = args[1];
	n.body = o->body;
	n.draft = o->draft;
	n.labels = o->labels.nr ? (const char *const *)o->labels.v : NULL;
	n.author = "nightshift";
	rc = nsh_forge_pr_open(f, &n, &p, &existed, err);
	if (!rc && o->json) {
		json_t *j = nsh_forge_pr_to_json(&p);

		json_object_set_new(j, "existed", json_boolean(existed));
		nsh_cli_print_json(j);
		json_decref(j);
	} else if (!rc) {
		printf("%s/%s#%lld %s\n", p.org, p.repo, (long long)p.number,
		       existed ? "(existed)" : "opened");
	}
	nsh_pr_rec_release(&p);
	return rc;
}

static int do_comments(struct nsh_forge *f, const struct nsh_forge_ref *pr, bool json,
		       struct nsh_err *err)
{
	struct nsh_pr_comment_list l = {0};
	json_t *a = json_array();
	int rc = nsh_forge_pr_comments(f, pr, &l, err);

	for (size_t i = 0; !rc && i < l.nr; i++) {
		if (json)
			json_array_append_new(a, nsh_forge_comment_to_json(&l.v[i]));
		else
			printf("%lld\t%s\t%s\t%s\n", (long long)l.v[i].id, l.v[i].kind,
			       l.v[i].author, l.v[i].body);
	}
	if (!rc && json)
		nsh_cli_print_json(a);
	json_decref(a);
	nsh_pr_comment_list_release(&l);
	return rc;
}

static int do_poll(struct nsh_cli *cli, struct nsh_forge *f, long long rounds, struct nsh_err *err)
{
	struct nsh_github_opts o;
	int rc = nsh_github_opts_from_config(cli->config, &o, err);

	for (long long i = 0; !rc && i < (rounds > 0 ? rounds : 1); i++) {
		if (i)
			nsh_time_sleep_ms(o.poll_interval_s > 0 ? o.poll_interval_s * 1000 : 1000);
		rc = nsh_github_poll_once(f, &o, print_delivery, NULL, NULL, err);
	}
	return rc;
}

static int run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"ref", required_argument, NULL, 'r'},
		{"branch", required_argument, NULL, 'b'},
		{"force", no_argument, NULL, 'f'},
		{"body", required_argument, NULL, 'B'},
		{"title", required_argument, NULL, 't'},
		{"draft", no_argument, NULL, 'd'},
		{"ready", no_argument, NULL, 'R'},
		{"label", required_argument, NULL, 'l'},
		{"reply-to", required_argument, NULL, 'p'},
		{"rounds", required_argument, NULL, 'n'},
		{0, 0, 0, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct gh_opts o = {0};
	struct nsh_store *store = NULL;
	struct nsh_forge *f = NULL;
	struct nsh_forge_ref ref;
	const char *sub;
	char **args;
	int nargs, c, rc = 0, code = NSH_EXIT_OK;

	nsh_strvec_init(&o.labels);
	if (argc < 2) {
		code = nsh_cli_usage(&nsh_cmd_github, "missing subcommand");
		goto out;
	}
	sub = argv[1];
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'r':
			o.ref = optarg;
			break;
		case 'b':
			o.branch = optarg;
			break;
		case 'f':
			o.force = true;
			break;
		case 'B':
			o.body = optarg;
			break;
		case 't':
			o.title = optarg;
			break;
		case 'd':
			o.draft = true;
			break;
		case 'R':
			o.ready = true;
			break;
		case 'l':
			nsh_strvec_push(&o.labels, optarg);
			o.set_labels = true;
			break;
		case 'p':
			o.reply_to = strtoll(optarg, NULL, 10);
			break;
		case 'n':
			o.rounds = strtoll(optarg, NULL, 10);
			break;
		default:
			code = nsh_cli_bad_option(&nsh_cmd_github, c, argv);
			goto out;
		}
	}
	args = argv + optind;
	nargs = argc - optind;
#define NEED(n)                                                                     \
 do {                                                                               \
  if (nargs != (n)) {                                                               \
   code = nsh_cli_usage(&nsh_cmd_github, "'github %s' takes %d arguments", sub, n); \
   goto out;                                                                        \
  }                                                                                 \
 } while (0)
	if (!strcmp(sub, "org-init") || !strcmp(sub, "repos")) {
		NEED(1);
	} else if (!strcmp(sub, "read") || !strcmp(sub, "clone") || !strcmp(sub, "comment") ||
		   !strcmp(sub, "can-write")) {
		NEED(2);
	} else if (!strcmp(sub, "push") || !strcmp(sub, "pr-open")) {
		NEED(3);
	} else if (!strcmp(sub, "pr-update") || !strcmp(sub, "comments") ||
		   !strcmp(sub, "status")) {
		NEED(1);
	} else if (!strcmp(sub, "poll")) {
		NEED(0);
	} else {
		code = nsh_cli_usage(&nsh_cmd_github, "unknown subcommand '%s'", sub);
		goto out;
	}
	rc = open_github(cli, &store, &f, &err);
	if (rc)
		goto fail;
	if (!strcmp(sub, "org-init")) {
		bool created = false;

		rc = nsh_forge_org_init(f, args[0], &created, &err);
		if (!rc)
			printf("%s %s\n", args[0], created ? "added" : "exists");
	} else if (!strcmp(sub, "repos")) {
		rc = do_repos(f, args[0], o.json, &err);
	} else if (!strcmp(sub, "read")) {
		struct nsh_buf b = NSH_BUF_INIT;

		rc = nsh_forge_ref_parse_repo(args[0], &ref, &err);
		if (!rc)
			rc = nsh_forge_read_file(f, ref.org, ref.repo, o.ref, args[1], &b, &err);
		if (!rc)
			fwrite(b.buf, 1, b.len, stdout);
		nsh_buf_release(&b);
	} else if (!strcmp(sub, "clone")) {
		rc = nsh_forge_ref_parse_repo(args[0], &ref, &err);
		if (!rc)
			rc = nsh_forge_clone(f, ref.org, ref.repo, o.branch, args[1], &err);
	} else if (!strcmp(sub, "push")) {
		struct nsh_forge_push p = {0};
		struct nsh_forge_push_result res = {0};

		rc = nsh_forge_ref_parse_repo(args[0], &ref, &err);
		p.org = ref.org;
		p.repo = ref.repo;
		p.workdir = args[1];
		p.branch = args[2];
		p.force = o.force;
		p.pusher = "nightshift";
		if (!rc)
			rc = nsh_forge_push(f, &p, &res, &err);
		if (!rc)
			printf("%s %s%s\n", res.new_sha, res.updated ? "pushed" : "unchanged",
			       res.pr_number ? " (pull request head recorded)" : "");
	} else if (!strcmp(sub, "pr-open")) {
		rc = nsh_forge_ref_parse_repo(args[0], &ref, &err);
		if (!rc)
			rc = do_pr_open(f, &ref, args + 1, &o, &err);
	} else if (!strcmp(sub, "pr-update")) {
		struct nsh_forge_pr_change ch = {0};

		rc = nsh_forge_ref_parse_pr(args[0], &ref, &err);
		ch.title = o.title;
		ch.body = o.body;
		ch.set_labels = o.set_labels;
		ch.labels = o.labels.nr ? (const char *const *)o.labels.v : NULL;
		ch.state = o.ready ? "open" : o.draft ? "draft" : NULL;
		ch.by = "nightshift";
		if (!rc)
			rc = nsh_forge_pr_update(f, &ref, &ch, &err);
	} else if (!strcmp(sub, "comment")) {
		struct nsh_forge_comment cm = {0};
		int64_t id = 0;

		rc = nsh_forge_ref_parse_pr(args[0], &ref, &err);
		cm.author = "nightshift";
		cm.body = args[1];
		cm.in_reply_to = o.reply_to;
		if (!rc)
			rc = nsh_forge_pr_comment(f, &ref, &cm, &id, &err);
		if (!rc)
			printf("%lld\n", (long long)id);
	} else if (!strcmp(sub, "comments")) {
		rc = nsh_forge_ref_parse_pr(args[0], &ref, &err);
		if (!rc)
			rc = do_comments(f, &ref, o.json, &err);
	} else if (!strcmp(sub, "can-write")) {
		bool yes = false;

		rc = nsh_forge_ref_parse_repo(args[0], &ref, &err);
		if (!rc)
			rc = nsh_forge_can_write(f, ref.org, ref.repo, args[1], &yes, &err);
		if (!rc)
			printf("%s\n", yes ? "yes" : "no");
	} else if (!strcmp(sub, "poll")) {
		rc = do_poll(cli, f, o.rounds, &err);
	} else if (!strcmp(sub, "status")) {
		rc = nsh_github_status_sync(f, store, args[0], &err);
	}
fail:
	if (rc)
		code = nsh_cli_fail(&err);
out:
	nsh_forge_close(f);
	nsh_store_close(store);
	nsh_strvec_release(&o.labels);
	return code;
}
