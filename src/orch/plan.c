/*
 * A task's plan: which brain does the work, which repositories it touches
 * in which order and why, the spec, and one job per repository. Done once:
 * everything a plan writes is committed in one transaction with the task
 * step "analysis", so a plan cut short by a crash is simply made again.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/analyze.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fault.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/json.h"
#include "forge/forge.h"
#include "orch/orch_int.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

int orch_recipe(struct nsh_orch *o, const char *id, const struct nsh_recipe **ret,
		struct nsh_err *err)
{
	struct nsh_recipe *r = NULL;
	bool owned = false;
	int rc;

	/* only catalog ids: a task must not load arbitrary files */
	if (!id || strchr(id, '/'))
		return nsh_err_set(err, NSH_EINVAL, "invalid recipe '%s'", id ? id : "");
	rc = nsh_recipe_find(&o->recipes, id, &r, &owned, err);
	if (rc)
		return rc;
	if (owned) {
		nsh_recipe_free(r);
		return nsh_err_set(err, NSH_EINVAL, "invalid recipe '%s'", id);
	}
	*ret = r;
	return 0;
}

/* Whether @word occurs in @text as a whole word, ignoring case. */
static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	if (!n)
		return false;
	for (const char *p = text; (p = strcasestr(p, word)); p++) {
		bool start = p == text || !isalnum((unsigned char)p[-1]);
		bool end = !isalnum((unsigned char)p[n]);

		if (start && end)
			return true;
	}
	return false;
}

/*
 * How well recipe @r fits the task text: 0 when its dependency is not
 * named; else 1 plus one per word of its id (split at '-') in the text.
 */
static int fit(const struct nsh_recipe *r, const char *text)
{
	char *id, *save = NULL;
	int score;

	if (!r->dependency || !has_word(text, r->dependency))
		return 0;
	score = 1;
	id = nsh_xstrdup(r->id);
	for (char *w = strtok_r(id, "-", &save); w; w = strtok_r(NULL, "-", &save))
		if (strcasecmp(w, r->dependency) && has_word(text, w))
			score++;
	free(id);
	return score;
}

/*
 * The recipe for task @t: named, answered, or the best fit for its text.
 * NSH_SCHED_WAIT_INPUT after asking when several fit equally well;
 * ORCH_USE_LLM when none fits.
 */
static int choose_recipe(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
			 const struct nsh_recipe **ret, struct nsh_err *err)
{
	const struct nsh_recipe *best = NULL;
	struct nsh_buf names = NSH_BUF_INIT;
	char *answer = NULL;
	int top = 0, ties = 0;

	if (t->recipe)
		return orch_recipe(o, t->recipe, ret, err);
	if (!nsh_store_step_get(st, t->id, NULL, 0, "answer", &answer, NULL)) {
		json_t *a = NULL;
		const char *text = NULL;
		int rc;

		if (!nsh_json_parse(answer, strlen(answer), &a, NULL))
			text = json_string_value(json_object_get(a, "text"));
		rc = orch_recipe(o, text ? text : "", ret, err);
		json_decref(a);
		free(answer);
		return rc;
	}
	for (size_t i = 0; i < o->recipes.nr; i++) {
		const struct nsh_recipe *r = o->recipes.v[i].recipe;
		int f = r ? fit(r, t->title) : 0;

		if (f > top) {
			top = f;
			best = r;
			ties = 1;
		} else if (f && f == top) {
			ties++;
		}
	}
	if (best && ties == 1) {
		*ret = best;
		return 0;
	}
	if (best) {
		json_t *cands = json_array();

		for (size_t i = 0; i < o->recipes.nr; i++) {
			const struct nsh_recipe *r = o->recipes.v[i].recipe;

			if (r && fit(r, t->title) == top) {
				json_array_append_new(cands, json_string(r->id));
				nsh_buf_addf(&names, "%s%s (%s)", names.len ? ", " : "", r->id,
					     r->title);
			}
		}
		orch_say(st, t->id, NULL, "task.question", json_pack("{s:o}", "choices", cands),
			 "❓ Several recipes could do this: %s. Answer with: nightshift answer %s "
			 "RECIPE",
			 names.buf, t->id);
		nsh_buf_release(&names);
		return NSH_SCHED_WAIT_INPUT;
	}
	return ORCH_USE_LLM;
}

/*
 * The API a rule is about: the identifier after the first '.' that
 * follows the template's opening name or hole ("_.pluck(", ":[[lib]].pluck(",
 * ":[[lib]](:[x]).forEach("), or the last path segment of a module path
 * ("lodash/array/chunk"). NULL when there is none.
 */
static char *rule_api(const struct nsh_recipe_rule *rule)
{
	const char *m = rule->match, *p;
	size_t n = 0;

	if (!m)
		return NULL;
	if (rule->in == NSH_RECIPE_IN_STRING) {
		p = strrchr(m, '/');
		if (!p)
			return NULL;
		p++;
	} else {
		p = strchr(m, '.');
		if (!p)
			return NULL;
		p++;
	}
	while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '$')
		n++;
	if (!n || isdigit((unsigned char)p[0]))
		return NULL;
	return nsh_xmemdup(p, n);
}

/* The APIs the recipe's rules are about, once each, with their classes. */
static size_t recipe_apis(const struct nsh_recipe *r, struct nsh_analyze_api *apis, size_t max,
			  struct nsh_strvec *names)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nrules && n < max; i++) {
		char *api = rule_api(&r->rules[i]);

		if (!api || !r->rules[i].klass || nsh_strvec_find(names, api) >= 0) {
			free(api);
			continue;
		}
		apis[n].name = nsh_strvec_push(names, api);
		apis[n].cls = r->rules[i].klass;
		apis[n].silent = r->rules[i].silent;
		n++;
		free(api);
	}
	return n;
}

const char *orch_recipe_target(const struct nsh_recipe *r)
{
	for (size_t i = 0; i < r->nmops; i++)
		if (r->mops[i].op == NSH_RECIPE_OP_BUMP && r->dependency &&
		    !strcmp(r->mops[i].package, r->dependency))
			return r->mops[i].to;
	return NULL;
}

/* The repositories to look at: those named, or every one of the org. */
int orch_targets(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
		 const json_t *opts, struct nsh_forge_repo_list *ret, struct nsh_err *err)
{
	const json_t *named = json_object_get(opts, "repos");
	struct nsh_forge *f = NULL;
	int rc;

	rc = orch_forge(o, st, t->org ? t->org : json_string_value(json_array_get(named, 0)), &f,
			err);
	if (rc)
		return rc;
	if (json_array_size(named)) {
		size_t i;
		json_t *v;

		json_array_foreach(named, i, v)
		{
			char *org = NULL, *name = NULL;

			rc = orch_split_repo(json_string_value(v) ? json_string_value(v) : "", &org,
					     &name, err);
			if (!rc) {
				NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
				memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
				rc = nsh_forge_repo_get(f, org, name, &ret->v[ret->nr], err);
				if (!rc)
					ret->nr++;
			}
			free(org);
			free(name);
			if (rc)
				break;
		}
	} else if (t->org) {
		rc = nsh_forge_repo_list(f, t->org, ret, err);
		if (!rc && !ret->nr)
			rc = nsh_err_set(err, NSH_ENOTFOUND, "org '%s' has no repositories",
					 t->org);
	} else {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "a task needs an org (--org) or repositories (--repo ORG/NAME)");
	}
	nsh_forge_close(f);
	return rc;
}

static void spec_plan_row(struct nsh_buf *b, size_t pos, const struct nsh_analyze_result *r,
			  const char *org)
{
	const struct nsh_analyze_dep *d = nsh_analyze_primary(r);

	nsh_buf_addf(b, "| %zu | %s/%s | %s | %s | %zu | %d%s | ", pos + 1, org, r->repo,
		     nsh_analyze_usage_name(r->usage),
		     d && d->resolved	? d->resolved
		     : d && d->declared ? d->declared
					: "?",
		     r->nuses, r->risk, r->critical ? " (critical)" : "");
	for (size_t i = 0; i < r->nreasons; i++)
		nsh_buf_addf(b, "%s%s", i ? "; " : "", r->reasons[i].text);
	nsh_buf_adds(b, " |\n");
}

static void write_spec(struct nsh_buf *b, const struct nsh_task_rec *t, const struct nsh_recipe *r,
		       const char *org, const struct nsh_analyze_plan *plan, int attempts)
{
	const char *to = orch_recipe_target(r);

	nsh_buf_addf(b, "# Task %s\n\n> %s\n\n## Requirements\n\n", t->id, t->title);
	nsh_buf_addf(b,
		     "**User story.** As the owner of the services in `%s`, I want %s, with the "
		     "breaking changes handled and the tests run, so that every service moves in "
		     "one reviewed change set.\n\n",
		     org ? org : "these repositories", r->title);
	nsh_buf_adds(b, "**Acceptance criteria** (each with its check):\n\n");
	if (r->dependency && to)
		nsh_buf_addf(
			b,
			"1. WHEN the change is applied to a repository THE SYSTEM SHALL "
			"declare `%s` `%s` in its manifest and lockfile. *Check:* the manifest "
			"edit is recorded and the install after it succeeds.\n",
			r->dependency, to);
	else
		nsh_buf_adds(b, "1. WHEN the change is applied THE SYSTEM SHALL make the recipe's "
				"edits. *Check:* the recipe's changes are recorded.\n");
	nsh_buf_adds(b, "2. WHEN the tests run after the change THE SYSTEM SHALL have no test "
			"failing that passed before. *Check:* the sets of failing tests before "
			"and after are compared.\n"
			"3. WHEN a usage cannot be rewritten safely THE SYSTEM SHALL list it with "
			"file:line for review. *Check:* needs-review items appear in the pull "
			"request.\n");
	nsh_buf_addf(b,
		     "4. WHEN %d attempts fail THE SYSTEM SHALL open a draft pull request labelled "
		     "`needs-human-review` that says what was tried. *Check:* the pull request's "
		     "state and labels.\n"
		     "5. WHEN the change makes no difference to a repository THE SYSTEM SHALL open "
		     "no pull request there. *Check:* the job is closed with that reason.\n\n",
		     attempts);
	nsh_buf_addf(b, "## Design\n\n- Brain: recipe `%s` (%s)%s.\n", r->id, r->title,
		     t->recipe ? ", named by the user" : ", recognised from the task text");
	for (size_t i = 0; i < r->nchoices; i++) {
		const struct nsh_recipe_choice *c = &r->choices[i];

		nsh_buf_addf(b, "- Choice `%s` (%s): `%s` first", c->id, c->description, c->def);
		for (size_t k = 0; k < c->nalts; k++)
			if (strcmp(c->alts[k].id, c->def))
				nsh_buf_addf(b, ", then `%s` on a failed verification",
					     c->alts[k].id);
		nsh_buf_adds(b, ".\n");
	}
	nsh_buf_addf(b,
		     "- Network level: `%s` (dependencies are installed inside each sandbox "
		     "through the egress proxy).\n- Attempts per repository: %d.\n\n",
		     t->network ? t->network : "common", attempts);
	nsh_buf_adds(b, "## Plan\n\nLow risk first, critical last.\n\n"
			"| # | repository | usage | version | API usages | risk | reasons |\n"
			"|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; plan && i < plan->nr; i++)
		spec_plan_row(b, i, plan->order[i], org);
	if (plan && plan->nunaffected) {
		nsh_buf_adds(b, "\nNot affected:\n\n");
		for (size_t i = 0; i < plan->nunaffected; i++)
			nsh_buf_addf(b, "- %s: %s\n", plan->unaffected[i]->repo,
				     plan->unaffected[i]->unaffected
					     ? plan->unaffected[i]->unaffected
					     : "not affected");
	}
}

/*
 * Analyse @repos for @r and order them; the results go to @res and the
 * analyser to *@ret_a (the caller frees both, the analyser last).
 */
static int analyse(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
		   const struct nsh_recipe *r, const struct nsh_forge_repo_list *repos,
		   struct nsh_analyze_result **res, struct nsh_analyze_plan *plan,
		   struct nsh_analyze **ret_a, struct nsh_err *err)
{
	char *scratch = nsh_xasprintf("%s/work/analysis-%s", o->home, t->id);
	struct nsh_analyze_api apis[NSH_ANALYZE_MAX_APIS];
	struct nsh_strvec names = NSH_STRVEC_INIT;
	struct nsh_analyze_opts ao = {0};
	struct nsh_analyze *a = NULL;
	int rc;

	ao.dependency = r->dependency;
	ao.range = r->range;
	ao.apis = apis;
	ao.napis = recipe_apis(r, apis, NSH_ANALYZE_MAX_APIS, &names);
	rc = nsh_analyze_new(&ao, &a, err);
	for (size_t i = 0; !rc && i < repos->nr; i++) {
		struct nsh_analyze_target tg = {repos->v[i].name, repos->v[i].path, NULL};
		char *copy = NULL, *git_dir = NULL;

		if (!tg.git_dir) {
			/* a code host without local copies (GitHub): a clone to read */
			struct nsh_forge *f = NULL;

			copy = nsh_xasprintf("%s/%s", scratch, repos->v[i].name);
			git_dir = nsh_xasprintf("%s/.git", copy);
			nsh_fs_remove_tree(copy, NULL);
			rc = orch_forge(o, st, repos->v[i].org, &f, err);
			if (!rc)
				rc = nsh_fs_mkdir_p(scratch, 0700, err);
			if (!rc)
				rc = nsh_forge_clone(f, repos->v[i].org, repos->v[i].name, NULL,
						     copy, err);
			nsh_forge_close(f);
			tg.git_dir = git_dir;
		}
		if (!rc)
			rc = nsh_analyze_repo(a, &tg, &res[i], err);
		if (copy)
			nsh_fs_remove_tree(copy, NULL);
		free(copy);
		free(git_dir);
		for (size_t w = 0; !rc && w < res[i]->nwarnings; w++)
			orch_say(st, t->id, NULL, "task.warning", NULL, "⚠️  %s: %s: %s",
				 repos->v[i].name, res[i]->warnings[w].file,
				 res[i]->warnings[w].reason);
	}
	if (!rc)
		nsh_analyze_plan_make((const struct nsh_analyze_result *const *)res, repos->nr,
				      plan);
	*ret_a = a;
	nsh_strvec_release(&names);
	nsh_fs_remove_tree(scratch, NULL);
	free(scratch);
	return rc;
}

int orch_plan(struct nsh_task_run *tr, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_task_run_ctx(tr);
	struct nsh_store *st = nsh_task_run_store(tr);
	const struct nsh_task_rec *t = nsh_task_run_task(tr);
	struct nsh_forge_repo_list repos = {0};
	struct nsh_analyze_result **res = NULL;
	struct nsh_analyze_plan plan = {0};
	struct nsh_analyze *an = NULL;
	const struct nsh_recipe *r = NULL;
	struct nsh_buf spec = NSH_BUF_INIT;
	json_t *opts = orch_task_options(t), *summary = NULL;
	char *done = NULL, *dump = NULL;
	const char *org = t->org;
	struct nsh_limits lim;
	int rc;

	/* the jobs' workspace images, formatted while the task is planned */
	nsh_task_run_limits(tr, &lim);
	orch_ws_prepare(o, lim.storage_per_job);
	/* planned before a crash: the jobs are there */
	if (!nsh_store_step_get(st, t->id, NULL, 0, "analysis", &done, NULL)) {
		free(done);
		json_decref(opts);
		return 0;
	}
	rc = choose_recipe(o, st, t, &r, err);
	if (rc == ORCH_USE_LLM) {
		rc = orch_llm_plan(tr, err);
		goto out;
	}
	if (rc)
		goto out;
	rc = nsh_store_task_set_brain(st, t->id, "recipe", r->id, err);
	if (!rc)
		rc = orch_targets(o, st, t, opts, &repos, err);
	if (rc)
		goto out;
	if (!org && repos.nr)
		org = repos.v[0].org;
	orch_say(st, t->id, NULL, "task.analysis", NULL, "🔄 Analyzing %zu repos for %s usage...",
		 repos.nr, r->dependency ? r->dependency : r->id);
	res = nsh_xcalloc(repos.nr + 1, sizeof(*res));
	if (!r->dependency) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "recipe '%s' names no dependency ('applies'); the orchestrator "
				 "needs one to choose the repositories",
				 r->id);
		goto out;
	}
	rc = analyse(o, st, t, r, &repos, res, &plan, &an, err);
	if (rc)
		goto out;
	write_spec(&spec, t, r, org, &plan, o->max_attempts);
	{
		struct nsh_strvec names = NSH_STRVEC_INIT;

		for (size_t i = 0; i < plan.nr; i++)
			nsh_strvec_pushf(&names, "%s/%s", org ? org : "", plan.order[i]->repo);
		nsh_buf_adds(&spec, "\n");
		orch_learned_spec(o, st, t, r, (const char *const *)names.v, names.nr, &spec);
		nsh_strvec_release(&names);
	}
	summary = nsh_analyze_plan_json(an, &plan);
	rc = nsh_store_begin(st, err);
	if (rc)
		goto out;
	rc = nsh_store_spec_add(st, t->id, spec.buf, NULL, err);
	for (size_t i = 0; !rc && i < plan.nr; i++) {
		char *full = nsh_xasprintf("%s/%s", org, plan.order[i]->repo);
		char id[NSH_ID_MAX];

		rc = nsh_job_create(st, t->id, full, (int64_t)i, id, err);
		free(full);
	}
	dump = json_dumps(summary, JSON_COMPACT);
	if (!rc)
		rc = nsh_store_step_put(st, t->id, NULL, 0, "analysis", dump, err);
	if (!rc)
		rc = nsh_store_commit(st, err);
	if (rc) {
		nsh_store_rollback(st);
		goto out;
	}
	nsh_fault("plan.committed");
	orch_say(st, t->id, NULL, "task.analysis",
		 json_pack("{s:I, s:I, s:I, s:I}", "repos", (json_int_t)repos.nr, "direct",
			   (json_int_t)plan.direct, "transitive", (json_int_t)plan.transitive,
			   "unaffected", (json_int_t)plan.nunaffected),
		 "✅ %zu repos found, %zu with direct imports, %zu transitive%s", plan.nr,
		 plan.direct, plan.transitive,
		 plan.nunaffected ? " (the others do not use it in range)" : "");
	orch_say(st, t->id, NULL, "task.spec", NULL,
		 "📋 Spec written: %zu jobs, low risk first (nightshift show %s --spec)", plan.nr,
		 t->id);
	orch_status(o, st, t->id);
out:
	if (rc && rc != NSH_SCHED_WAIT_INPUT)
		orch_say(st, t->id, NULL, "task.error", NULL, "❌ %s", err->msg);
	free(dump);
	json_decref(summary);
	json_decref(opts);
	nsh_buf_release(&spec);
	nsh_analyze_plan_release(&plan);
	for (size_t i = 0; res && i < repos.nr; i++)
		nsh_analyze_result_free(res[i]);
	free(res);
	nsh_analyze_free(an);
	nsh_forge_repo_list_release(&repos);
	return rc;
}
