/*
 * "nightshift recipe list|show|apply": the deterministic change engine from
 * the command line. Post steps are printed, not run, unless --run-post is
 * given (the orchestrator runs them inside the job's sandbox).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/proc.h"
#include "core/vec.h"
#include "recipe/recipe.h"

#include "core/banned.h"

#define LIST_USAGE "recipe list [--json]"
#define SHOW_USAGE "recipe show NAME [--json]"
#define APPLY_USAGE                                                                             \
 "recipe apply NAME DIR [--dry-run] [--choice CHOICE=ALT]... [--force] [--run-post] [--json | " \
 "--pr-body]"

static const struct nsh_cli_cmd cmd_list = {.name = "recipe", .usage = LIST_USAGE};
static const struct nsh_cli_cmd cmd_show = {.name = "recipe", .usage = SHOW_USAGE};
static const struct nsh_cli_cmd cmd_apply = {.name = "recipe", .usage = APPLY_USAGE};

/* Load the catalog of the shipped directory and the home. */
static int load_catalog(struct nsh_cli *cli, struct nsh_recipe_catalog *c, struct nsh_err *err)
{
	struct nsh_strvec dirs = NSH_STRVEC_INIT;
	int rc;

	nsh_recipe_dirs(cli->home, &dirs);
	rc = nsh_recipe_catalog_load(&dirs, c, err);
	nsh_strvec_release(&dirs);
	return rc;
}

/* Parse options that are only "--json"; the rest are positional. */
static int json_only(const struct nsh_cli_cmd *cmd, int argc, char **argv, bool *json,
		     struct nsh_strvec *args)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			*json = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return nsh_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else
			nsh_strvec_push(args, argv[i]);
	}
	return -1;
}

static int list_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_catalog c = {0};
	struct nsh_strvec args = NSH_STRVEC_INIT;
	bool json = false;
	int code = json_only(&cmd_list, argc, argv, &json, &args);

	if (code >= 0)
		goto out;
	code = NSH_EXIT_OK;
	if (args.nr) {
		code = nsh_cli_usage(&cmd_list, "unexpected argument '%s'", args.v[0]);
		goto out;
	}
	if (load_catalog(cli, &c, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < c.nr; i++) {
			const struct nsh_recipe_entry *e = &c.v[i];
			const struct nsh_recipe *r = e->recipe;
			json_t *o = json_pack("{s:s, s:s, s:s}", "id", e->id, "origin", e->origin,
					      "path", e->path);

			if (r) {
				json_object_set_new(o, "title", json_string(r->title));
				json_object_set_new(
					o, "applies",
					r->has_applies ? json_pack("{s:s, s:s}", "dependency",
								   r->dependency, "range", r->range)
						       : json_null());
				json_object_set_new(o, "rules",
						    json_integer((json_int_t)r->nrules));
				json_object_set_new(o, "choices",
						    json_integer((json_int_t)r->nchoices));
				json_object_set_new(o, "error", json_null());
			} else {
				json_object_set_new(o, "error", json_string(e->error));
			}
			json_array_append_new(a, o);
		}
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!c.nr) {
		puts("no recipes");
		goto out;
	}
	printf("%-28s %-8s %-22s %s\n", "ID", "ORIGIN", "APPLIES TO", "TITLE");
	for (size_t i = 0; i < c.nr; i++) {
		const struct nsh_recipe_entry *e = &c.v[i];
		const struct nsh_recipe *r = e->recipe;
		char *applies = r && r->has_applies
					? nsh_xasprintf("%s %s", r->dependency, r->range)
					: nsh_xstrdup(r ? "any repository" : "-");

		printf("%-28s %-8s %-22s %s\n", e->id, e->origin, applies,
		       r ? r->title : "(broken, see below)");
		free(applies);
	}
	for (size_t i = 0; i < c.nr; i++)
		if (c.v[i].error)
			fprintf(stderr, "nightshift: warning: recipe '%s' is broken: %s\n",
				c.v[i].id, c.v[i].error);
out:
	nsh_strvec_release(&args);
	nsh_recipe_catalog_release(&c);
	return code;
}

static void print_list(const char *label, const struct nsh_strvec *v)
{
	const char *s;

	if (!v->nr)
		return;
	printf(" %s:", label);
	nsh_vec_foreach(s, v)
		printf(" %s", s);
}

static void show_text(const struct nsh_recipe *r)
{
	printf("id:          %s\n", r->id);
	printf("title:       %s\n", r->title);
	printf("file:        %s (%s)\n", r->path ? r->path : "-", r->origin ? r->origin : "-");
	if (r->has_applies)
		printf("applies to:  %s dependency '%s' in '%s'\n", r->ecosystem, r->dependency,
		       r->range);
	else
		printf("applies to:  any repository\n");
	if (r->description)
		printf("\n%s%s", r->description,
		       r->description[strlen(r->description) - 1] == '\n' ? "" : "\n");
	if (r->nmops) {
		printf("\nmanifest:\n");
		for (size_t i = 0; i < r->nmops; i++) {
			const struct nsh_recipe_mop *m = &r->mops[i];

			switch (m->op) {
			case NSH_RECIPE_OP_BUMP:
				printf("  bump %s to %s\n", m->package, m->to);
				break;
			case NSH_RECIPE_OP_RENAME:
				printf("  rename %s to %s%s%s\n", m->package, m->to,
				       m->version ? " at " : "", m->version ? m->version : "");
				break;
			case NSH_RECIPE_OP_ADD:
				printf("  add %s %s (%s)\n", m->package, m->version,
				       m->section ? m->section : "dependencies");
				break;
			case NSH_RECIPE_OP_REMOVE:
				printf("  remove %s\n", m->package);
				break;
			}
		}
	}
	printf("\nrules (%zu, in order):\n", r->nrules);
	for (size_t i = 0; i < r->nrules; i++) {
		const struct nsh_recipe_rule *ru = &r->rules[i];

		printf("  %s", ru->id);
		if (ru->klass)
			printf(" [%s%s]", ru->klass, ru->silent ? ", silent" : "");
		if (!ru->rewrite)
			printf(" (detect only)");
		if (!ru->enabled)
			printf(" (off unless a choice enables it)");
		printf("\n    match:   %s\n", ru->match);
		if (ru->rewrite)
			printf("    rewrite: %s\n", ru->rewrite);
		if (ru->in != NSH_RECIPE_IN_CODE)
			printf("    in:      %s\n",
			       ru->in == NSH_RECIPE_IN_STRING ? "string" : "comment");
		if (ru->note)
			printf("    note:    %s\n", ru->note);
	}
	if (r->nchoices) {
		printf("\nchoices:\n");
		for (size_t i = 0; i < r->nchoices; i++) {
			const struct nsh_recipe_choice *c = &r->choices[i];

			printf("  %s (default %s): %s\n", c->id, c->def, c->description);
			for (size_t k = 0; k < c->nalts; k++) {
				const struct nsh_recipe_alt *a = &c->alts[k];

				printf("    %s=%s: %s", c->id, a->id, a->description);
				print_list("enables", &a->enable);
				print_list("disables", &a->disable);
				printf("\n");
				if (a->assumption)
					printf("      assumes: %s\n", a->assumption);
			}
		}
	}
	if (r->npost) {
		printf("\npost steps:\n");
		for (size_t i = 0; i < r->npost; i++) {
			const struct nsh_recipe_post *p = &r->post[i];
			const char *s;

			printf("  %s:", p->id);
			nsh_vec_foreach(s, &p->run)
				printf(" %s", s);
			if (p->when)
				printf(" (when %s exists)", p->when);
			printf("\n");
		}
	}
}

static int show_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_catalog c = {0};
	struct nsh_strvec args = NSH_STRVEC_INIT;
	struct nsh_recipe *r = NULL;
	bool json = false, owned = false;
	int code = json_only(&cmd_show, argc, argv, &json, &args);

	if (code >= 0)
		goto out;
	code = NSH_EXIT_OK;
	if (args.nr != 1) {
		code = nsh_cli_usage(&cmd_show,
				     args.nr ? "unexpected argument '%s'" : "missing NAME",
				     args.nr ? args.v[1] : "");
		goto out;
	}
	if (load_catalog(cli, &c, &err) || nsh_recipe_find(&c, args.v[0], &r, &owned, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = nsh_recipe_to_json(r);

		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		show_text(r);
	}
out:
	if (owned)
		nsh_recipe_free(r);
	nsh_strvec_release(&args);
	nsh_recipe_catalog_release(&c);
	return code;
}

/* One line of a snippet: its first line, shortened. */
static void one_line(const char *s, struct nsh_buf *out)
{
	size_t n = strcspn(s, "\r\n");

	nsh_buf_reset(out);
	if (n > 60)
		nsh_buf_addf(out, "%.57s...", s);
	else
		nsh_buf_addf(out, "%.*s%s", (int)n, s, s[n] ? " ..." : "");
}

static void apply_text(const struct nsh_recipe *r, const char *dir,
		       const struct nsh_recipe_result *res)
{
	struct nsh_buf a = NSH_BUF_INIT, b = NSH_BUF_INIT;

	printf("recipe %s on %s%s\n", r->id, dir,
	       res->dry_run ? " (dry run: nothing written)" : "");
	printf("applies: %s: %s\n",
	       res->applicable ? "yes"
	       : res->forced   ? "no, forced"
			       : "no",
	       res->reason);
	if (!res->applicable && !res->forced) {
		printf("nothing done (use --force to run the rules anyway)\n");
		return;
	}
	for (size_t i = 0; i < res->ntaken; i++)
		printf("choice: %s=%s%s: %s\n", res->taken[i].choice->id, res->taken[i].alt->id,
		       res->taken[i].is_default ? " (default)" : "",
		       res->taken[i].alt->description);
	if (res->nmedits) {
		printf("\nmanifest:\n");
		for (size_t i = 0; i < res->nmedits; i++) {
			const struct nsh_recipe_medit *m = &res->medits[i];

			printf("  %s %s: %s %s", m->file, m->section, m->op, m->package);
			if (m->from && m->to)
				printf(" '%s' -> '%s'", m->from, m->to);
			else if (m->to)
				printf(" '%s'", m->to);
			printf("\n");
		}
	}
	if (res->nchanges) {
		const char *file = NULL;

		printf("\nchanges:\n");
		for (size_t i = 0; i < res->nchanges; i++) {
			const struct nsh_recipe_change *c = &res->changes[i];

			if (!file || strcmp(file, c->file))
				printf("  %s\n", c->file);
			file = c->file;
			one_line(c->before, &a);
			one_line(c->after, &b);
			printf("    %s:%u  %-24s %s  ->  %s\n", c->file, c->line, c->rule, a.buf,
			       b.buf);
		}
	}
	if (res->nreviews) {
		printf("\nneeds review:\n");
		for (size_t i = 0; i < res->nreviews; i++) {
			const struct nsh_recipe_review *v = &res->reviews[i];

			one_line(v->text, &a);
			printf("  %s:%u  %s: %s\n", v->file, v->line, v->rule, a.buf);
			if (v->note)
				printf("      %s\n", v->note);
		}
	}
	if (res->ncounts) {
		printf("\nrules:\n");
		for (size_t i = 0; i < res->ncounts; i++)
			printf("  %-28s %u changes, %u need review, %u files\n",
			       res->counts[i].rule, res->counts[i].changes, res->counts[i].reviews,
			       res->counts[i].files);
	}
	if (res->nwarnings) {
		printf("\nwarnings:\n");
		for (size_t i = 0; i < res->nwarnings; i++)
			printf("  %s%s%s%s%s\n", res->warnings[i].file ? res->warnings[i].file : "",
			       res->warnings[i].file ? ": " : "",
			       res->warnings[i].rule ? res->warnings[i].rule : "",
			       res->warnings[i].rule ? ": " : "", res->warnings[i].message);
	}
	printf("\n%zu files changed, %zu changes, %zu need review (%u files scanned)\n",
	       res->nfiles, res->nchanges, res->nreviews, res->files_scanned);
	nsh_buf_release(&a);
	nsh_buf_release(&b);
}

/* Run the post steps in @dir; 0 when all succeed. */
static int run_post(const struct nsh_recipe_result *res, const char *dir, struct nsh_err *err)
{
	for (size_t i = 0; i < res->npost; i++) {
		const struct nsh_recipe_post *p = res->post[i];
		struct nsh_proc pr;
		const char *s;
		int rc;

		nsh_proc_init(&pr);
		nsh_vec_foreach(s, &p->run)
			nsh_strvec_push(&pr.argv, s);
		pr.cwd = dir;
		pr.timeout_ms = (int64_t)p->timeout_s * 1000;
		fprintf(stderr, "running post step '%s'\n", p->id);
		rc = nsh_proc_run_checked(&pr, NULL, err);
		nsh_proc_release(&pr);
		if (rc)
			return nsh_err_wrap(err, "post step '%s'", p->id);
	}
	return 0;
}

static int apply_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"choice", required_argument, NULL, 'c'},
		{"force", no_argument, NULL, 'f'},
		{"run-post", no_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"pr-body", no_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_catalog cat = {0};
	struct nsh_recipe_result res = {0};
	struct nsh_recipe_options o = {0};
	struct nsh_recipe_pick *picks = NULL;
	struct nsh_strvec pickstr = NSH_STRVEC_INIT;
	struct nsh_recipe *r = NULL;
	bool json = false, owned = false, runpost = false, prbody = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 'p':
			runpost = true;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			prbody = true;
			break;
		case 'c':
			if (!strchr(optarg, '=') || optarg[0] == '=' || !strchr(optarg, '=')[1]) {
				code = nsh_cli_usage(&cmd_apply,
						     "--choice needs CHOICE=ALT, not '%s'", optarg);
				goto out;
			}
			nsh_strvec_push(&pickstr, optarg);
			break;
		case ':':
			code = nsh_cli_usage(&cmd_apply, "option '%s' needs a value",
					     argv[optind - 1]);
			goto out;
		default:
			code = nsh_cli_usage(&cmd_apply, "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind != 2) {
		code = nsh_cli_usage(&cmd_apply,
				     argc - optind < 2 ? "missing NAME or DIR"
						       : "unexpected argument '%s'",
				     argc - optind < 2 ? "" : argv[optind + 2]);
		goto out;
	}
	if (runpost && o.dry_run) {
		code = nsh_cli_usage(&cmd_apply, "--run-post and --dry-run do not go together");
		goto out;
	}
	if (json && prbody) {
		code = nsh_cli_usage(&cmd_apply, "--json and --pr-body do not go together");
		goto out;
	}
	picks = nsh_xcalloc(pickstr.nr ? pickstr.nr : 1, sizeof(*picks));
	for (size_t i = 0; i < pickstr.nr; i++) {
		char *eq = strchr(pickstr.v[i], '=');

		*eq = '\0';
		picks[i].choice = pickstr.v[i];
		picks[i].alt = eq + 1;
	}
	o.picks = picks;
	o.npicks = pickstr.nr;
	if (load_catalog(cli, &cat, &err) ||
	    nsh_recipe_find(&cat, argv[optind], &r, &owned, &err) ||
	    nsh_recipe_apply(r, argv[optind + 1], &o, &res, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *j = nsh_recipe_result_to_json(r, &res);
		json_t *post = json_object_get(j, "post");
		size_t i;
		json_t *step;

		json_array_foreach(post, i, step) json_object_set_new(
			step, "state", json_string(runpost ? "run" : "not run"));
		nsh_cli_print_json(j);
		json_decref(j);
	} else if (prbody) {
		struct nsh_buf b = NSH_BUF_INIT;

		nsh_recipe_pr_body(r, &res, &b);
		fputs(b.buf, stdout);
		nsh_buf_release(&b);
	} else {
		apply_text(r, argv[optind + 1], &res);
		if (res.npost && (res.applicable || res.forced)) {
			printf("\npost steps (%s):\n",
			       runpost ? "run now" : "not run; use --run-post to run them here");
			for (size_t i = 0; i < res.npost; i++) {
				const char *s;

				printf("  %s:", res.post[i]->id);
				nsh_vec_foreach(s, &res.post[i]->run)
					printf(" %s", s);
				printf("\n");
			}
		}
	}
	if (runpost && (res.applicable || res.forced) && run_post(&res, argv[optind + 1], &err))
		code = nsh_cli_fail(&err);
out:
	free(picks);
	nsh_strvec_release(&pickstr);
	nsh_recipe_result_release(&res);
	if (owned)
		nsh_recipe_free(r);
	nsh_recipe_catalog_release(&cat);
	return code;
}

static int recipe_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_recipe, "missing subcommand (list, show or apply)");
	if (!strcmp(argv[1], "list"))
		return list_run(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return show_run(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return apply_run(cli, argc - 1, argv + 1);
	return nsh_cli_usage(&nsh_cmd_recipe, "unknown subcommand '%s' (use list, show or apply)",
			     argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_recipe = {
	.name = "recipe",
	.usage = "recipe list [--json] | recipe show NAME [--json] | recipe apply NAME DIR "
		 "[--dry-run] [--choice C=ALT]... [--force] [--run-post] [--json | --pr-body]",
	.summary = "list, show and apply deterministic change recipes",
	.help = "Subcommands:\n"
		"  list [--json]          the recipes found (shipped, then $NIGHTSHIFT_HOME/recipes,\n"
		"                         which overrides a shipped recipe with the same id)\n"
		"  show NAME [--json]     a recipe's rules, choices, manifest edits and post steps\n"
		"  apply NAME DIR         run a recipe on the repository in DIR:\n"
		"    --dry-run            report what would change; write nothing\n"
		"    --choice C=ALT       take alternative ALT of choice C (repeatable)\n"
		"    --force              run the rules even when the recipe does not apply\n"
		"    --run-post           run the post steps in DIR afterwards (outside any\n"
		"                         sandbox; normally the orchestrator runs them)\n"
		"    --json               the whole result as JSON\n"
		"    --pr-body            the pull-request body (Markdown) instead\n"
		"\n"
		"NAME is a recipe id or a path to a recipe file. The shipped recipes are found\n"
		"in $NIGHTSHIFT_RECIPES when set, else in 'recipes' next to the executable.\n"
		"Format and matcher: docs/recipes.md.\n",
	.run = recipe_run,
};
