/*
 * "nightshift pr list|show|create|edit|comment|review|merge|close": pull
 * requests of the local forge from the command line. Comments, reviews,
 * merges and closes are made in the name of --author, else $USER, else
 * "user".
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "core/vec.h"
#include "forge/forge.h"
#include "orch/feedback.h"
#include "store/store.h"

#include "core/banned.h"

#define LIST_USAGE "pr list [--task T] [--org O] [--repo O/R] [--state S] [--json]"
#define SHOW_USAGE "pr show O/R#N [--diff] [--head SHA] [--json]"
#define CREATE_USAGE                                                                       \
 "pr create O/R --head BRANCH --title TITLE [--base BRANCH] [--body TEXT] [--label L]... " \
 "[--draft] [--author NAME] [--json]"
#define EDIT_USAGE                                                                  \
 "pr edit O/R#N [--title T] [--body TEXT] [--label L]... [--no-labels] [--draft | " \
 "--ready] [--author NAME]"
#define COMMENT_USAGE                                                                    \
 "pr comment O/R#N \"TEXT\" [--file P --line N] [--head SHA] [--reply-to ID] [--author " \
 "NAME]"
#define REVIEW_USAGE "pr review O/R#N (--approve | --request-changes) \"TEXT\" [--author NAME]"
#define MERGE_USAGE  "pr merge O/R#N [--author NAME]"
#define CLOSE_USAGE  "pr close O/R#N [--author NAME]"

static const struct nsh_cli_cmd cmd_list = {.name = "pr", .usage = LIST_USAGE};
static const struct nsh_cli_cmd cmd_show = {.name = "pr", .usage = SHOW_USAGE};
static const struct nsh_cli_cmd cmd_create = {.name = "pr", .usage = CREATE_USAGE};
static const struct nsh_cli_cmd cmd_edit = {.name = "pr", .usage = EDIT_USAGE};
static const struct nsh_cli_cmd cmd_comment = {.name = "pr", .usage = COMMENT_USAGE};
static const struct nsh_cli_cmd cmd_review = {.name = "pr", .usage = REVIEW_USAGE};
static const struct nsh_cli_cmd cmd_merge = {.name = "pr", .usage = MERGE_USAGE};
static const struct nsh_cli_cmd cmd_close = {.name = "pr", .usage = CLOSE_USAGE};

/* The person acting: --author, else $USER, else "user". */
static const char *default_author(const char *flag)
{
	const char *user = getenv("USER");

	if (flag)
		return flag;
	return user && *user ? user : "user";
}

/* Parse the O/R#N at argv[i] into @ret; -1 when fine, else the exit code. */
static int take_pr(const struct nsh_cli_cmd *cmd, int argc, char **argv, int i,
		   struct nsh_forge_ref *ret)
{
	struct nsh_err err = NSH_ERR_INIT;

	if (i >= argc)
		return nsh_cli_usage(cmd, "missing O/R#N");
	if (nsh_forge_ref_parse_pr(argv[i], ret, &err))
		return nsh_cli_usage(cmd, "%s", err.msg);
	return -1;
}

/* Parse a line number option; false when @s is not one. */
static bool parse_line(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!*s || *s < '0' || *s > '9')
		return false;
	v = strtoll(s, &end, 10);
	if (*end || v < 1 || v > INT32_MAX)
		return false;
	*ret = v;
	return true;
}

static const char *state_color(const struct nsh_cli *cli, const char *state)
{
	if (!cli->color)
		return "";
	if (!strcmp(state, "merged"))
		return "\033[35m";
	if (!strcmp(state, "closed"))
		return "\033[31m";
	if (!strcmp(state, "draft"))
		return "\033[90m";
	return "\033[32m";
}

static const char *color_off(const struct nsh_cli *cli)
{
	return cli->color ? "\033[0m" : "";
}

/* ---- list ---- */

static int list_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"task", required_argument, NULL, 't'}, {"org", required_argument, NULL, 'o'},
		{"repo", required_argument, NULL, 'r'}, {"state", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},	{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pr_filter flt = {0};
	struct nsh_pr_list l = {0};
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	bool json = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			flt.task_id = optarg;
			break;
		case 'o':
			if (nsh_forge_check_name("org", optarg, &err))
				return nsh_cli_usage(&cmd_list, "%s", err.msg);
			flt.org = optarg;
			break;
		case 'r':
			if (nsh_forge_ref_parse_repo(optarg, &r, &err))
				return nsh_cli_usage(&cmd_list, "%s", err.msg);
			if (flt.org && strcmp(flt.org, r.org))
				return nsh_cli_usage(&cmd_list,
						     "--org and --repo name different orgs");
			flt.org = r.org;
			flt.repo = r.repo;
			break;
		case 's':
			if (strcmp(optarg, "open") && strcmp(optarg, "draft") &&
			    strcmp(optarg, "merged") && strcmp(optarg, "closed"))
				return nsh_cli_usage(&cmd_list,
						     "unknown state '%s' (use open, draft, merged "
						     "or closed)",
						     optarg);
			flt.state = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return nsh_cli_bad_option(&cmd_list, c, argv);
		}
	}
	if (optind < argc)
		return nsh_cli_usage(&cmd_list, "unexpected argument '%s'", argv[optind]);
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_pr_list(f, &flt, &l, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < l.nr; i++)
			json_array_append_new(a, nsh_forge_pr_to_json(&l.v[i]));
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!l.nr) {
		puts("no pull requests");
		goto out;
	}
	printf("%-24s %-7s %-12s %-28s %-6s %s\n", "PR", "STATE", "AUTHOR", "HEAD", "AGE", "TITLE");
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_pr_rec *p = &l.v[i];
		char *name = nsh_forge_pr_name(p);
		char age[16];

		nsh_cli_age(p->updated_ms, age);
		printf("%-24s %s%-7s%s %-12s %-28s %-6s %s\n", name, state_color(cli, p->state),
		       p->state, color_off(cli), p->author, p->head, age, p->title);
		free(name);
	}
out:
	nsh_pr_list_release(&l);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

/* ---- show ---- */

/* @text with every line indented by @indent spaces, ending in a newline. */
static void print_indented(const char *text, int indent)
{
	const char *line = text;

	while (*line) {
		size_t n = strcspn(line, "\n");

		printf("%*s%.*s\n", indent, "", (int)n, line);
		line += n + (line[n] == '\n');
	}
}

static const char *kind_words(const char *kind)
{
	if (!strcmp(kind, "approve"))
		return "approved";
	if (!strcmp(kind, "request_changes"))
		return "requested changes";
	if (!strcmp(kind, "reply"))
		return "replied";
	return "commented";
}

static void print_pr(const struct nsh_cli *cli, const struct nsh_pr_rec *p,
		     const struct nsh_pr_head_list *heads, const struct nsh_pr_comment_list *cs)
{
	char *name = nsh_forge_pr_name(p);
	char stamp[NSH_TIME_ISO_MAX];

	printf("%s  %s\n", name, p->title);
	printf("state    %s%s%s\n", state_color(cli, p->state), p->state, color_off(cli));
	printf("author   %s", p->author);
	if (p->task_id)
		printf(" (task %s%s%s)", p->task_id, p->job_id ? ", job " : "",
		       p->job_id ? p->job_id : "");
	printf("\nbranches %s -> %s\n", p->head, p->base);
	printf("head     %s (head %lld of %zu)\n", p->head_sha ? p->head_sha : "-",
	       (long long)p->head_seq, heads->nr);
	printf("labels   ");
	for (size_t i = 0; i < p->labels.nr; i++)
		printf("%s%s", i ? ", " : "", p->labels.v[i]);
	printf("%s\n", p->labels.nr ? "" : "-");
	printf("created  %s\n", nsh_time_iso8601(p->created_ms, stamp));
	printf("updated  %s\n", nsh_time_iso8601(p->updated_ms, stamp));
	if (p->closed_ms)
		printf("%-8s %s%s%s\n", p->state, nsh_time_iso8601(p->closed_ms, stamp),
		       p->closed_by ? " by " : "", p->closed_by ? p->closed_by : "");
	if (p->merge_sha)
		printf("merge    %s\n", p->merge_sha);
	if (p->body && *p->body) {
		fputc('\n', stdout);
		print_indented(p->body, 4);
	}
	printf("\nheads (%zu)\n", heads->nr);
	for (size_t i = 0; i < heads->nr; i++) {
		const struct nsh_pr_head_rec *h = &heads->v[i];

		printf("  %-3lld %s %s%s%s%s\n", (long long)h->seq, h->sha,
		       nsh_time_iso8601(h->created_ms, stamp), h->forced ? " forced" : "",
		       h->pushed_by ? " by " : "", h->pushed_by ? h->pushed_by : "");
	}
	printf("\ncomments and reviews (%zu)\n", cs->nr);
	for (size_t i = 0; i < cs->nr; i++) {
		const struct nsh_pr_comment_rec *c = &cs->v[i];

		printf("  #%lld %s %s %s", (long long)c->id, nsh_time_iso8601(c->created_ms, stamp),
		       c->author, kind_words(c->kind));
		if (c->path)
			printf(" on %s:%lld", c->path, (long long)c->line);
		if (c->in_reply_to)
			printf(" to #%lld", (long long)c->in_reply_to);
		if (c->head_sha)
			printf(" at %.12s", c->head_sha);
		fputc('\n', stdout);
		if (*c->body)
			print_indented(c->body, 6);
	}
	free(name);
}

static int show_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"diff", no_argument, NULL, 'd'},
		{"head", required_argument, NULL, 'H'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pr_head_list heads = {0};
	struct nsh_pr_comment_list cs = {0};
	struct nsh_buf diff = NSH_BUF_INIT;
	struct nsh_pr_rec p = {0};
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *head = NULL;
	bool json = false, want_diff = false;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			want_diff = true;
			break;
		case 'H':
			head = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return nsh_cli_bad_option(&cmd_show, c, argv);
		}
	}
	code = take_pr(&cmd_show, argc, argv, optind, &r);
	if (code >= 0)
		return code;
	if (optind + 1 < argc)
		return nsh_cli_usage(&cmd_show, "unexpected argument '%s'", argv[optind + 1]);
	if (head && !want_diff)
		return nsh_cli_usage(&cmd_show, "--head goes with --diff");
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_pr_get(f, &r, &p, &err) ||
	    nsh_forge_pr_heads(f, &r, &heads, &err) || nsh_forge_pr_comments(f, &r, &cs, &err) ||
	    (want_diff && nsh_forge_pr_diff(f, &r, head, &diff, &err))) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = nsh_forge_pr_to_json(&p), *a = json_array(), *b = json_array();

		for (size_t i = 0; i < heads.nr; i++)
			json_array_append_new(a, nsh_forge_head_to_json(&heads.v[i]));
		json_object_set_new(o, "heads", a);
		for (size_t i = 0; i < cs.nr; i++)
			json_array_append_new(b, nsh_forge_comment_to_json(&cs.v[i]));
		json_object_set_new(o, "comments", b);
		if (want_diff)
			json_object_set_new(o, "diff", json_stringn(diff.buf, diff.len));
		nsh_cli_print_json(o);
		json_decref(o);
		goto out;
	}
	if (want_diff)
		fwrite(diff.buf, 1, diff.len, stdout);
	else
		print_pr(cli, &p, &heads, &cs);
out:
	nsh_buf_release(&diff);
	nsh_pr_comment_list_release(&cs);
	nsh_pr_head_list_release(&heads);
	nsh_pr_rec_release(&p);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

/* ---- create and edit ---- */

static int create_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"head", required_argument, NULL, 'H'},
		{"base", required_argument, NULL, 'b'},
		{"title", required_argument, NULL, 't'},
		{"body", required_argument, NULL, 'B'},
		{"label", required_argument, NULL, 'l'},
		{"draft", no_argument, NULL, 'd'},
		{"author", required_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_pr_new n = {0};
	struct nsh_strvec labels = NSH_STRVEC_INIT;
	struct nsh_pr_rec p = {0};
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *author = NULL;
	bool json = false, existed = false;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			n.head = optarg;
			break;
		case 'b':
			n.base = optarg;
			break;
		case 't':
			n.title = optarg;
			break;
		case 'B':
			n.body = optarg;
			break;
		case 'l':
			nsh_strvec_push(&labels, optarg);
			break;
		case 'd':
			n.draft = true;
			break;
		case 'a':
			author = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			code = nsh_cli_bad_option(&cmd_create, c, argv);
			goto out;
		}
	}
	if (optind >= argc) {
		code = nsh_cli_usage(&cmd_create, "missing O/R");
		goto out;
	}
	if (optind + 1 < argc) {
		code = nsh_cli_usage(&cmd_create, "unexpected argument '%s'", argv[optind + 1]);
		goto out;
	}
	if (!n.head || !n.title) {
		code = nsh_cli_usage(&cmd_create, "missing %s", !n.head ? "--head" : "--title");
		goto out;
	}
	if (nsh_forge_ref_parse_repo(argv[optind], &r, &err) ||
	    nsh_forge_check_branch(n.head, &err) ||
	    (n.base && nsh_forge_check_branch(n.base, &err))) {
		code = nsh_cli_usage(&cmd_create, "%s", err.msg);
		goto out;
	}
	n.org = r.org;
	n.repo = r.repo;
	n.labels = (const char *const *)labels.v;
	n.author = default_author(author);
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_pr_open(f, &n, &p, &existed, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = nsh_forge_pr_to_json(&p);

		json_object_set_new(o, "existed", json_boolean(existed));
		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		char *name = nsh_forge_pr_name(&p);

		printf("%s %s: %s\n", existed ? "already open" : "opened", name, p.title);
		free(name);
	}
out:
	nsh_pr_rec_release(&p);
	nsh_strvec_release(&labels);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int edit_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"title", required_argument, NULL, 't'},  {"body", required_argument, NULL, 'B'},
		{"label", required_argument, NULL, 'l'},  {"no-labels", no_argument, NULL, 'L'},
		{"draft", no_argument, NULL, 'd'},	  {"ready", no_argument, NULL, 'r'},
		{"author", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_pr_change ch = {0};
	struct nsh_strvec labels = NSH_STRVEC_INIT;
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *author = NULL;
	bool no_labels = false;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			ch.title = optarg;
			break;
		case 'B':
			ch.body = optarg;
			break;
		case 'l':
			nsh_strvec_push(&labels, optarg);
			ch.set_labels = true;
			break;
		case 'L':
			no_labels = true;
			ch.set_labels = true;
			break;
		case 'd':
		case 'r':
			if (ch.state) {
				code = nsh_cli_usage(&cmd_edit,
						     "give --draft or --ready, not both");
				goto out;
			}
			ch.state = c == 'd' ? "draft" : "open";
			break;
		case 'a':
			author = optarg;
			break;
		default:
			code = nsh_cli_bad_option(&cmd_edit, c, argv);
			goto out;
		}
	}
	code = take_pr(&cmd_edit, argc, argv, optind, &r);
	if (code >= 0)
		goto out;
	if (optind + 1 < argc) {
		code = nsh_cli_usage(&cmd_edit, "unexpected argument '%s'", argv[optind + 1]);
		goto out;
	}
	if (no_labels && labels.nr) {
		code = nsh_cli_usage(&cmd_edit, "give --label or --no-labels, not both");
		goto out;
	}
	if (!ch.title && !ch.body && !ch.set_labels && !ch.state) {
		code = nsh_cli_usage(&cmd_edit, "nothing to change");
		goto out;
	}
	ch.labels = (const char *const *)labels.v;
	ch.by = default_author(author);
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_pr_update(f, &r, &ch, &err))
		code = nsh_cli_fail(&err);
	else
		printf("updated %s\n", argv[optind]);
out:
	nsh_strvec_release(&labels);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

/* ---- comment and review ---- */

/*
 * A comment or review on a job's pull request is feedback: say what
 * nightshift makes of it. A failure here does not undo the comment.
 */
static void take_feedback(struct nsh_cli *cli, struct nsh_store *s, const struct nsh_forge_ref *r,
			  int64_t id, const char *kind, const char *author, const char *body,
			  const char *path, int64_t line)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_feedback_in in = {0};
	struct nsh_feedback_out out;

	in.org = r->org;
	in.repo = r->repo;
	in.number = r->number;
	in.comment_id = id;
	in.kind = kind;
	in.author = author;
	in.body = body;
	in.path = path;
	in.line = line;
	in.can_write = nsh_feedback_local_can_write(cli->config, r->org, r->repo, author);
	if (nsh_feedback_intake(s, &in, &out, &err)) {
		fprintf(stderr, "nightshift: warning: the feedback was not recorded: %s\n",
			err.msg);
		return;
	}
	if (!out.taken)
		return;
	if (out.revising)
		printf("feedback for job %s: it revises the pull request now (nightshift follow "
		       "%s)\n",
		       out.job_id, out.task_id);
	else
		printf("feedback for job %s: it waits for the job's current run to end\n",
		       out.job_id);
}

static int comment_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},
		{"line", required_argument, NULL, 'l'},
		{"head", required_argument, NULL, 'H'},
		{"reply-to", required_argument, NULL, 'r'},
		{"author", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_comment cm = {0};
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *author = NULL;
	int64_t id = 0;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			cm.path = optarg;
			break;
		case 'l':
			if (!parse_line(optarg, &cm.line))
				return nsh_cli_usage(&cmd_comment,
						     "invalid --line '%s' (lines count from 1)",
						     optarg);
			break;
		case 'H':
			cm.head = optarg;
			break;
		case 'r':
			if (!parse_line(optarg, &cm.in_reply_to))
				return nsh_cli_usage(&cmd_comment, "invalid --reply-to '%s'",
						     optarg);
			break;
		case 'a':
			author = optarg;
			break;
		default:
			return nsh_cli_bad_option(&cmd_comment, c, argv);
		}
	}
	code = take_pr(&cmd_comment, argc, argv, optind, &r);
	if (code >= 0)
		return code;
	if (optind + 1 >= argc)
		return nsh_cli_usage(&cmd_comment, "missing TEXT");
	if (optind + 2 < argc)
		return nsh_cli_usage(&cmd_comment,
				     "unexpected argument '%s' (quote the comment text)",
				     argv[optind + 2]);
	if (!cm.path != !cm.line)
		return nsh_cli_usage(&cmd_comment, "--file and --line go together");
	cm.body = argv[optind + 1];
	cm.author = default_author(author);
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) || nsh_forge_pr_comment(f, &r, &cm, &id, &err))
		code = nsh_cli_fail(&err);
	else if (cm.path)
		printf("comment #%lld on %s at %s:%lld\n", (long long)id, argv[optind], cm.path,
		       (long long)cm.line);
	else
		printf("comment #%lld on %s\n", (long long)id, argv[optind]);
	if (code == NSH_EXIT_OK)
		take_feedback(cli, s, &r, id, cm.in_reply_to ? "reply" : "comment", cm.author,
			      cm.body, cm.path, cm.line);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int review_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"approve", no_argument, NULL, 'A'},
		{"request-changes", no_argument, NULL, 'R'},
		{"author", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *author = NULL;
	int verdict = -1;
	int64_t id = 0;
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
		case 'R':
			if (verdict >= 0)
				return nsh_cli_usage(
					&cmd_review,
					"give --approve or --request-changes, not both");
			verdict = c == 'A' ? NSH_FORGE_APPROVE : NSH_FORGE_REQUEST_CHANGES;
			break;
		case 'a':
			author = optarg;
			break;
		default:
			return nsh_cli_bad_option(&cmd_review, c, argv);
		}
	}
	code = take_pr(&cmd_review, argc, argv, optind, &r);
	if (code >= 0)
		return code;
	if (verdict < 0)
		return nsh_cli_usage(&cmd_review, "missing --approve or --request-changes");
	if (optind + 1 >= argc)
		return nsh_cli_usage(&cmd_review, "missing TEXT");
	if (optind + 2 < argc)
		return nsh_cli_usage(&cmd_review,
				     "unexpected argument '%s' (quote the review text)",
				     argv[optind + 2]);
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) ||
	    nsh_forge_pr_review(f, &r, (enum nsh_forge_verdict)verdict, default_author(author),
				argv[optind + 1], &id, &err))
		code = nsh_cli_fail(&err);
	else
		printf("review #%lld on %s: %s\n", (long long)id, argv[optind],
		       verdict == NSH_FORGE_APPROVE ? "approved" : "changes requested");
	if (code == NSH_EXIT_OK)
		take_feedback(cli, s, &r, id,
			      verdict == NSH_FORGE_APPROVE ? "approve" : "request_changes",
			      default_author(author), argv[optind + 1], NULL, 0);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

/* ---- merge and close ---- */

/* "pr merge" and "pr close": one PR and --author. */
static int finish_run(struct nsh_cli *cli, int argc, char **argv, bool merge)
{
	static const struct option opts[] = {
		{"author", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	const struct nsh_cli_cmd *cmd = merge ? &cmd_merge : &cmd_close;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_ref r;
	struct nsh_store *s = NULL;
	struct nsh_forge *f = NULL;
	const char *author = NULL;
	char sha[NSH_FORGE_SHA_MAX + 1];
	int c, code;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'a')
			return nsh_cli_bad_option(cmd, c, argv);
		author = optarg;
	}
	code = take_pr(cmd, argc, argv, optind, &r);
	if (code >= 0)
		return code;
	if (optind + 1 < argc)
		return nsh_cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	code = NSH_EXIT_OK;
	if (nsh_cli_open_forge(cli, &s, &f, &err) ||
	    (merge ? nsh_forge_pr_merge(f, &r, default_author(author), sha, &err)
		   : nsh_forge_pr_close(f, &r, default_author(author), &err)))
		code = nsh_cli_fail(&err);
	else if (merge)
		printf("merged %s (merge commit %s)\n", argv[optind], sha);
	else
		printf("closed %s\n", argv[optind]);
	if (code == NSH_EXIT_OK && nsh_feedback_pr_ended(s, r.org, r.repo, r.number, merge, &err))
		fprintf(stderr, "nightshift: warning: the job was not updated: %s\n", err.msg);
	nsh_forge_close(f);
	nsh_store_close(s);
	return code;
}

static int merge_run(struct nsh_cli *cli, int argc, char **argv)
{
	return finish_run(cli, argc, argv, true);
}

static int close_run(struct nsh_cli *cli, int argc, char **argv)
{
	return finish_run(cli, argc, argv, false);
}

static int pr_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct nsh_cli *, int, char **);
	} subs[] = {
		{"list", list_run},   {"show", show_run},	{"create", create_run},
		{"edit", edit_run},   {"comment", comment_run}, {"review", review_run},
		{"merge", merge_run}, {"close", close_run},
	};

	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_pr, "missing subcommand (list, show, create, edit, "
						  "comment, review, merge or close)");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(cli, argc - 1, argv + 1);
	return nsh_cli_usage(&nsh_cmd_pr,
			     "unknown subcommand '%s' (use list, show, create, edit, comment, "
			     "review, merge or close)",
			     argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_pr = {
	.name = "pr",
	.usage = "pr list | pr show O/R#N [--diff] | pr comment O/R#N \"TEXT\" [--file P --line N] "
		 "| pr review O/R#N (--approve | --request-changes) \"TEXT\" | pr merge O/R#N | "
		 "pr close O/R#N",
	.summary = "pull requests of the local forge",
	.help = "Subcommands:\n"
		"  list [--task T] [--org O] [--repo O/R] [--state S] [--json]\n"
		"                    pull requests, newest first\n"
		"  show O/R#N [--json]\n"
		"                    title, state, author, branches, head, labels, body,\n"
		"                    head history, comments and reviews\n"
		"  show O/R#N --diff [--head SHA]\n"
		"                    the diff (git diff BASE...HEAD) of the newest head,\n"
		"                    or of an earlier head of its history\n"
		"  create O/R --head BRANCH --title TITLE [--base BRANCH] [--body TEXT]\n"
		"         [--label L]... [--draft] [--json]\n"
		"                    open a pull request from a branch already in the forge\n"
		"                    (see 'forge push'); base defaults to the default branch\n"
		"  edit O/R#N [--title T] [--body TEXT] [--label L]... [--no-labels]\n"
		"         [--draft | --ready]\n"
		"  comment O/R#N \"TEXT\" [--file P --line N] [--head SHA] [--reply-to ID]\n"
		"                    a general comment, or an inline one on line N of file P\n"
		"                    in the newest head (or the head SHA, a prefix is fine)\n"
		"  review O/R#N (--approve | --request-changes) \"TEXT\"\n"
		"  merge O/R#N       merge into the base branch with a merge commit; refused\n"
		"                    when it does not apply cleanly (the conflicts are named)\n"
		"  close O/R#N       close without merging\n"
		"\n"
		"Every subcommand that writes takes --author NAME (default $USER).\n",
	.run = pr_run,
};
