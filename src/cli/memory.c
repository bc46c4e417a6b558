/*
 * "nightshift memory list|show|forget|promote": the rules learned from
 * review feedback, their provenance and their governance.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "memory/memory.h"
#include "store/store.h"

#include "core/banned.h"

#define LIST_USAGE    "memory list [--org ORG] [--repo ORG/NAME] [--all] [--json]"
#define SHOW_USAGE    "memory show ID [--json]"
#define FORGET_USAGE  "memory forget ID"
#define PROMOTE_USAGE "memory promote ID"

static const struct nsh_cli_cmd cmd_list = {.name = "memory", .usage = LIST_USAGE};
static const struct nsh_cli_cmd cmd_show = {.name = "memory", .usage = SHOW_USAGE};
static const struct nsh_cli_cmd cmd_forget = {.name = "memory", .usage = FORGET_USAGE};
static const struct nsh_cli_cmd cmd_promote = {.name = "memory", .usage = PROMOTE_USAGE};

/* Who is acting, for forgotten_by and promoted_by. */
static const char *actor(void)
{
	const char *u = getenv("USER");

	return u && *u && strlen(u) <= 64 ? u : "cli";
}

/* Parse a rule id; -1 when @s is not a positive number. */
static int64_t parse_id(const char *s)
{
	char *end;
	long long v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end || v < 1 || v > INT64_MAX / 2)
		return -1;
	return (int64_t)v;
}

/* "repo demo-org/pricing", "org demo-org": a new string. */
static char *scope_text(const struct nsh_memory_rule *r)
{
	return nsh_xasprintf("%s %s", r->r.scope ? r->r.scope : "?",
			     r->r.scope_value ? r->r.scope_value : "");
}

static int list_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"org", required_argument, NULL, 'o'},
		{"repo", required_argument, NULL, 'r'},
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_memory_list_filter f = {0};
	struct nsh_memory_rule_list l = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	bool json = false, all = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			f.f.org = optarg;
			break;
		case 'r':
			if (!strchr(optarg, '/') || strchr(optarg, '/') == optarg ||
			    !strchr(optarg, '/')[1])
				return nsh_cli_usage(&cmd_list,
						     "invalid --repo '%s' (expected ORG/NAME)",
						     optarg);
			f.f.repo = optarg;
			break;
		case 'a':
			all = true;
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
	f.f.live = !all;
	if (nsh_memory_ttl_ms(cli->config, &f.ttl_ms, &err) || nsh_cli_open_store(cli, &s, &err) ||
	    nsh_memory_list(s, &f, &l, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < l.nr; i++)
			json_array_append_new(a, nsh_memory_rule_to_json(&l.v[i]));
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!l.nr) {
		puts(all ? "no memories"
			 : "no memories (--all shows forgotten, expired and "
			   "superseded ones)");
		goto out;
	}
	printf("%-5s %-10s %-28s %-10s %4s  %s\n", "ID", "STATE", "SCOPE", "KIND", "USES", "RULE");
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_memory_rule *r = &l.v[i];
		const char *text = r->r.rule ? r->r.rule : "";
		char *scope = scope_text(r);
		int n = (int)strlen(text);

		printf("%-5lld %-10s %-28s %-10s %4lld  %.*s%s\n", (long long)r->r.id, r->r.state,
		       scope, r->r.kind, (long long)r->r.uses, n > 60 ? 57 : n, text,
		       n > 60 ? "..." : "");
		free(scope);
	}
out:
	nsh_memory_rule_list_release(&l);
	nsh_store_close(s);
	return code;
}

static const char *when(int64_t ms, char out[NSH_TIME_ISO_MAX])
{
	return ms ? nsh_time_iso8601(ms, out) : "-";
}

static void print_rule(const struct nsh_memory_rule *r)
{
	const struct nsh_memory_rec *m = &r->r;
	char a[NSH_TIME_ISO_MAX], b[NSH_TIME_ISO_MAX];
	char *scope = scope_text(r);

	printf("memory %lld: %s\n", (long long)m->id, m->rule);
	if (m->recipe)
		printf("  kind:       preference (%s: %s = %s)\n", m->recipe, m->choice, m->alt);
	else
		printf("  kind:       %s\n", m->kind);
	printf("  state:      %s", m->state);
	if (m->superseded_by)
		printf(" (by memory %lld)", (long long)m->superseded_by);
	printf("\n  scope:      %s\n", scope);
	free(scope);
	if (r->repos.nr > 1 || (r->repos.nr == 1 && strcmp(r->repos.v[0], m->scope_value))) {
		printf("  repos:     ");
		for (size_t i = 0; i < r->repos.nr; i++)
			printf(" %s", r->repos.v[i]);
		printf("\n");
	}
	if (m->language)
		printf("  language:   %s\n", m->language);
	if (m->path_glob)
		printf("  paths:      %s\n", m->path_glob);
	printf("  why:        %s\n", r->why ? r->why : "");
	printf("  learned:    %s (last said %s)\n", when(m->created_ms, a), when(m->said_ms, b));
	if (m->promoted_ms)
		printf("  promoted:   %s by %s\n", when(m->promoted_ms, a),
		       m->promoted_by && *m->promoted_by ? m->promoted_by : "two reviewers");
	if (m->forgotten_ms)
		printf("  forgotten:  %s by %s\n", when(m->forgotten_ms, a),
		       m->forgotten_by ? m->forgotten_by : "?");
	if (m->expires_ms)
		printf("  expired:    %s\n", when(m->expires_ms, a));
	printf("  uses:       %lld (last %s)\n", (long long)m->uses, when(m->last_used_ms, a));
	for (size_t i = 0; i < r->tasks.nr; i++)
		printf("    %s  %lld use%s, last %s\n", r->tasks.v[i].task_id,
		       (long long)r->tasks.v[i].uses, r->tasks.v[i].uses == 1 ? "" : "s",
		       when(r->tasks.v[i].last_ms, a));
	printf("  reviewers: ");
	for (size_t i = 0; i < r->reviewers.nr; i++)
		printf(" %s", r->reviewers.v[i]);
	printf("\n  provenance:\n");
	if (!r->sources.nr)
		printf("    %s\n", m->source ? m->source : "-");
	for (size_t i = 0; i < r->sources.nr; i++) {
		const struct nsh_memory_source_rec *s = &r->sources.v[i];

		printf("    %s  %s in %s", when(s->created_ms, a), s->reviewer, s->repo);
		if (s->pr)
			printf(", %s", s->pr);
		if (s->comment_id)
			printf(" comment %lld", (long long)s->comment_id);
		if (s->task_id)
			printf(", task %s", s->task_id);
		printf("\n");
	}
	if (r->conflicts.nr)
		printf("  conflicts:\n");
	for (size_t i = 0; i < r->conflicts.nr; i++)
		printf("    %s  memory %lld replaced memory %lld: %s\n",
		       when(r->conflicts.v[i].created_ms, a),
		       (long long)r->conflicts.v[i].winner_id,
		       (long long)r->conflicts.v[i].loser_id, r->conflicts.v[i].reason);
}

/* Parse "ID [--json]" for @cmd; -1 when fine, else the exit code. */
static int parse_id_args(const struct nsh_cli_cmd *cmd, int argc, char **argv, bool allow_json,
			 int64_t *ret_id, bool *ret_json)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*ret_json = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", allow_json ? opts : opts + 1, NULL)) != -1) {
		if (c == 'j')
			*ret_json = true;
		else
			return nsh_cli_bad_option(cmd, c, argv);
	}
	if (optind >= argc)
		return nsh_cli_usage(cmd, "missing ID");
	if (optind + 1 < argc)
		return nsh_cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	*ret_id = parse_id(argv[optind]);
	if (*ret_id < 0)
		return nsh_cli_usage(cmd, "invalid memory id '%s'", argv[optind]);
	return -1;
}

static int show_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_memory_rule r = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	int64_t id, ttl = 0;
	bool json;
	int code = parse_id_args(&cmd_show, argc, argv, true, &id, &json);

	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;
	if (nsh_memory_ttl_ms(cli->config, &ttl, &err) || nsh_cli_open_store(cli, &s, &err) ||
	    nsh_memory_expire(s, 0, ttl, NULL, &err) || nsh_memory_get(s, id, &r, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = nsh_memory_rule_to_json(&r);

		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		print_rule(&r);
	}
out:
	nsh_memory_rule_release(&r);
	nsh_store_close(s);
	return code;
}

static int act_run(struct nsh_cli *cli, int argc, char **argv, bool promote)
{
	const struct nsh_cli_cmd *cmd = promote ? &cmd_promote : &cmd_forget;
	struct nsh_memory_rule r = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	int64_t id;
	bool json;
	int code = parse_id_args(cmd, argc, argv, false, &id, &json);

	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;
	if (nsh_cli_open_store(cli, &s, &err) ||
	    (promote ? nsh_memory_promote(s, id, actor(), &err)
		     : nsh_memory_forget(s, id, actor(), &err)) ||
	    nsh_memory_get(s, id, &r, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (promote)
		printf("memory %lld now applies to org %s\n", (long long)id, r.r.org);
	else
		printf("memory %lld forgotten; it is no longer applied\n", (long long)id);
out:
	nsh_memory_rule_release(&r);
	nsh_store_close(s);
	return code;
}

static int memory_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_memory,
				     "missing subcommand (list, show, forget or promote)");
	if (!strcmp(argv[1], "list"))
		return list_run(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return show_run(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "forget"))
		return act_run(cli, argc - 1, argv + 1, false);
	if (!strcmp(argv[1], "promote"))
		return act_run(cli, argc - 1, argv + 1, true);
	return nsh_cli_usage(&nsh_cmd_memory,
			     "unknown subcommand '%s' (use list, show, forget or promote)",
			     argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_memory = {
	.name = "memory",
	.usage = LIST_USAGE " | " SHOW_USAGE " | " FORGET_USAGE " | " PROMOTE_USAGE,
	.summary = "list, show, forget or promote the rules learned from review feedback",
	.help = "Subcommands:\n"
		"  list [--org ORG] [--repo ORG/NAME] [--all] [--json]\n"
		"                    the active rules (--all: also forgotten, expired and\n"
		"                    superseded ones); --repo shows the rules that apply to\n"
		"                    that repository (its own and its org's)\n"
		"  show ID [--json]  one rule: its provenance (reviewers, pull requests,\n"
		"                    comments, dates, tasks), scope, uses and conflicts\n"
		"  forget ID         stop applying a rule (it stays listed with --all)\n"
		"  promote ID        make a repository rule apply to its whole org\n"
		"\n"
		"Rules are learned from review comments of reviewers with write permission.\n"
		"A rule starts at the scope of its repository and is promoted to the org\n"
		"when a second reviewer gives it. A rule neither used nor said again for\n"
		"memory.ttl_days (default 60) expires. See docs/memory.md.\n",
	.run = memory_run,
};
