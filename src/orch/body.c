/*
 * The pull request body, written from what the job's steps recorded, and
 * the change set: at the end of a task every pull request lists its
 * siblings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "forge/forge.h"
#include "orch/orch_int.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

/* Append @s for a Markdown table cell or inline code: no '|', no line ends, no backquote. */
static void md(struct nsh_buf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			nsh_buf_adds(b, "\\|");
		else if (*s == '\n' || *s == '\r')
			nsh_buf_addch(b, ' ');
		else if (*s == '`')
			nsh_buf_addch(b, '\'');
		else
			nsh_buf_addch(b, *s);
	}
}

static const char *js(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static json_int_t ji(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void names_line(struct nsh_buf *b, const char *label, const json_t *arr, size_t max)
{
	size_t i;
	json_t *v;

	if (!json_array_size(arr))
		return;
	nsh_buf_addf(b, "- %s (%zu): ", label, json_array_size(arr));
	json_array_foreach(arr, i, v)
	{
		if (i == max) {
			nsh_buf_addf(b, ", and %zu more", json_array_size(arr) - max);
			break;
		}
		nsh_buf_adds(b, i ? ", `" : "`");
		md(b, json_string_value(v));
		nsh_buf_adds(b, "`");
	}
	nsh_buf_adds(b, "\n");
}

static void section_dependency(struct nsh_buf *b, const json_t *rec)
{
	const json_t *medits = json_object_get(rec, "manifest"), *m;
	size_t i;

	if (!json_array_size(medits))
		return;
	nsh_buf_adds(b, "\n## Dependency change\n\n| Package | Change | From | To | File |\n"
			"|---|---|---|---|---|\n");
	json_array_foreach(medits, i, m)
	{
		nsh_buf_adds(b, "| ");
		md(b, js(m, "package"));
		nsh_buf_adds(b, " | ");
		md(b, js(m, "op"));
		nsh_buf_adds(b, " | ");
		md(b, js(m, "from"));
		nsh_buf_adds(b, " | ");
		md(b, js(m, "to"));
		nsh_buf_adds(b, " | ");
		md(b, js(m, "file"));
		nsh_buf_adds(b, " |\n");
	}
}

/* Changes per breaking-change class, from the per-rule counts. */
static void section_classes(struct nsh_buf *b, const struct nsh_recipe *r, const json_t *rec)
{
	const json_t *rules = json_object_get(rec, "rules"), *c;
	struct nsh_strvec classes = NSH_STRVEC_INIT;
	size_t i;

	json_array_foreach(rules, i, c)
	{
		const struct nsh_recipe_rule *ru = nsh_recipe_rule_find(r, js(c, "rule"));

		if (ru && ru->klass && (ji(c, "changes") || ji(c, "needs_review")) &&
		    nsh_strvec_find(&classes, ru->klass) < 0)
			nsh_strvec_push(&classes, ru->klass);
	}
	if (!classes.nr)
		goto out;
	nsh_buf_adds(b, "\n## Breaking changes handled\n\n| Class | Fails | Changes | To review | "
			"Rules |\n|---|---|---|---|---|\n");
	for (size_t k = 0; k < classes.nr; k++) {
		json_int_t changes = 0, reviews = 0;
		bool silent = false;
		struct nsh_buf ids = NSH_BUF_INIT;

		json_array_foreach(rules, i, c)
		{
			const struct nsh_recipe_rule *ru = nsh_recipe_rule_find(r, js(c, "rule"));

			if (!ru || !ru->klass || strcmp(ru->klass, classes.v[k]))
				continue;
			if (!ji(c, "changes") && !ji(c, "needs_review"))
				continue;
			changes += ji(c, "changes");
			reviews += ji(c, "needs_review");
			silent |= ru->silent;
			nsh_buf_addf(&ids, "%s`%s`", ids.len ? ", " : "", ru->id);
		}
		nsh_buf_adds(b, "| ");
		md(b, classes.v[k]);
		nsh_buf_addf(b, " | %s | %lld | %lld | %s |\n", silent ? "silently" : "loudly",
			     (long long)changes, (long long)reviews, ids.buf);
		nsh_buf_release(&ids);
	}
out:
	nsh_strvec_release(&classes);
}

static void section_files(struct nsh_buf *b, const json_t *rec)
{
	const json_t *files = json_object_get(rec, "files"), *f;
	size_t i;

	if (!json_array_size(files))
		return;
	nsh_buf_adds(b, "\n## Files changed\n\n");
	json_array_foreach(files, i, f)
	{
		nsh_buf_adds(b, "- `");
		md(b, js(f, "path"));
		if (ji(f, "changes"))
			nsh_buf_addf(b, "`: %lld changes\n", (long long)ji(f, "changes"));
		else
			nsh_buf_adds(b, "`\n");
	}
}

static void section_tests(struct nsh_buf *b, const json_t *base, const json_t *verify)
{
	const json_t *rb = json_object_get(base, "report"), *ra = json_object_get(verify, "report");
	const json_t *diff = json_object_get(verify, "diff");

	nsh_buf_adds(b, "\n## Tests\n\n");
	if (json_is_true(json_object_get(base, "none"))) {
		nsh_buf_adds(b,
			     "The repository has no test script: only the install was checked.\n");
		return;
	}
	nsh_buf_addf(b,
		     "| Run | Passed | Failed | Skipped |\n|---|---|---|---|\n"
		     "| before the change | %lld | %lld | %lld |\n"
		     "| after the change | %lld | %lld | %lld |\n\n",
		     (long long)ji(rb, "passed"), (long long)ji(rb, "failed"),
		     (long long)ji(rb, "skipped"), (long long)ji(ra, "passed"),
		     (long long)ji(ra, "failed"), (long long)ji(ra, "skipped"));
	if (json_is_true(json_object_get(verify, "passed")))
		nsh_buf_adds(b, "No test fails that passed before the change.\n");
	names_line(b, "Newly failing", json_object_get(diff, "newly_failing"), 20);
	names_line(b, "Fixed by the change", json_object_get(diff, "fixed"), 20);
	names_line(b, "Failing before and after", json_object_get(diff, "still_failing"), 20);
}

/* The verify module's checklist: build, lint, types, scans, integrity, criteria. */
static void section_checks(struct nsh_buf *b, const json_t *verify)
{
	const char *md = json_string_value(json_object_get(verify, "checklist"));

	if (!md)
		return;
	nsh_buf_adds(b, "\n## Checks\n\n");
	nsh_buf_adds(b, md);
}

/* Why a non-default alternative was taken: the rules' source of the pick, else a retry. */
static const char *pick_reason(const json_t *rules, const char *choice)
{
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(rules, "picks"), i, p)
	{
		const char *src = json_string_value(json_object_get(p, "source"));

		if (strcmp(js(p, "choice"), choice) || !src)
			continue;
		if (!strncmp(src, "feedback", 8))
			return ", asked for in review feedback";
		if (!strncmp(src, "memory", 6))
			return ", a rule learned from earlier review feedback";
	}
	return ", taken after the default failed verification";
}

static void section_decisions(struct nsh_buf *b, const json_t *rec, const json_t *rules)
{
	const json_t *choices = json_object_get(rec, "choices"), *c;
	size_t i;

	if (!json_array_size(choices))
		return;
	nsh_buf_adds(b, "\n## Decisions\n\n");
	json_array_foreach(choices, i, c)
	{
		nsh_buf_adds(b, "- `");
		md(b, js(c, "choice"));
		nsh_buf_adds(b, "`: `");
		md(b, js(c, "alternative"));
		nsh_buf_adds(b, "` (");
		md(b, js(c, "description"));
		nsh_buf_addf(b, ")%s",
			     json_is_true(json_object_get(c, "default"))
				     ? ", the recipe's default"
				     : pick_reason(rules, js(c, "choice")));
		if (*js(c, "assumption")) {
			nsh_buf_adds(b, ". Assumes: ");
			md(b, js(c, "assumption"));
		}
		nsh_buf_adds(b, "\n");
	}
}

static void section_review(struct nsh_buf *b, const json_t *rec)
{
	const json_t *items = json_object_get(rec, "needs_review"), *v;
	size_t i;

	if (!json_array_size(items))
		return;
	nsh_buf_adds(b, "\n## Needs human review\n\nThe recipe could only detect these:\n\n");
	json_array_foreach(items, i, v)
	{
		nsh_buf_adds(b, "- `");
		md(b, js(v, "file"));
		nsh_buf_addf(b, ":%lld` (`", (long long)ji(v, "line"));
		md(b, js(v, "rule"));
		nsh_buf_adds(b, "`): ");
		md(b, *js(v, "note") ? js(v, "note") : js(v, "text"));
		nsh_buf_adds(b, "\n");
	}
}

/* What the sandbox's egress proxy refused during this run of the job. */
static void section_network(struct nsh_buf *b, struct nsh_job_run *jr)
{
	const struct nsh_task_rec *t = nsh_job_run_task(jr);
	struct orch_job *oj = orch_job_of(jr);

	pthread_mutex_lock(&oj->net_mu);
	if (oj->blocked.nr) {
		nsh_buf_addf(b,
			     "\n## Network\n\nThe sandbox ran at level `%s`; the egress proxy "
			     "refused:\n\n",
			     t->network ? t->network : "common");
		for (size_t i = 0; i < oj->blocked.nr; i++) {
			nsh_buf_adds(b, "- `");
			md(b, oj->blocked.v[i]);
			nsh_buf_adds(b, "`\n");
		}
	}
	pthread_mutex_unlock(&oj->net_mu);
}

/* What each attempt did, for a draft. */
static void section_attempts(struct nsh_buf *b, struct nsh_job_run *jr)
{
	nsh_buf_adds(b, "\n> **Needs human review.** Every attempt failed verification:\n>\n");
	for (int64_t a = 0; a <= nsh_job_run_attempt(jr); a++) {
		json_t *ch = nsh_job_run_result(jr, a, "change");
		json_t *ve = nsh_job_run_result(jr, a, "verify");

		nsh_buf_addf(b, "> - attempt %lld: ", (long long)a + 1);
		md(b, js(ch, "summary"));
		nsh_buf_adds(b, " → ");
		md(b, js(ve, "summary"));
		nsh_buf_adds(b, "\n");
		json_decref(ch);
		json_decref(ve);
	}
}

/* The risk of the repository, from the task's analysis. */
static void section_risk(struct nsh_buf *b, struct nsh_job_run *jr)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	const char *name = strchr(j->repo, '/') ? strchr(j->repo, '/') + 1 : j->repo;
	char *text = NULL;
	json_t *a = NULL, *plan, *r;
	size_t i;

	if (nsh_store_step_get(nsh_job_run_store(jr), j->task_id, NULL, 0, "analysis", &text,
			       NULL) ||
	    nsh_json_parse(text, strlen(text), &a, NULL))
		goto out;
	plan = json_object_get(a, "plan");
	json_array_foreach(plan, i, r)
	{
		const json_t *reasons, *re;
		size_t k;

		if (strcmp(js(r, "repo"), name))
			continue;
		nsh_buf_addf(b,
			     "\n## Risk\n\nScore %lld, position %zu of %zu in the plan (low risk "
			     "first, critical last):\n\n",
			     (long long)ji(json_object_get(r, "risk"), "score"), i + 1,
			     json_array_size(plan));
		reasons = json_object_get(json_object_get(r, "risk"), "reasons");
		json_array_foreach(reasons, k, re)
		{
			nsh_buf_adds(b, "- ");
			md(b, js(re, "text"));
			nsh_buf_adds(b, "\n");
		}
		break;
	}
out:
	json_decref(a);
	free(text);
}

int orch_pr_body(struct nsh_job_run *jr, const struct nsh_recipe *r, bool draft,
		 struct nsh_buf *out, struct nsh_err *err)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	int64_t attempt = nsh_job_run_attempt(jr);
	json_t *change = nsh_job_run_result(jr, attempt, "change");
	json_t *base = orch_latest(jr, "baseline");
	json_t *verify = nsh_job_run_result(jr, attempt, "verify");
	const json_t *rec = json_object_get(change, "recipe");

	nsh_buf_addf(out,
		     "## Summary\n\n%s in `%s`, by nightshift with recipe `%s` (task `%s`, "
		     "job `%s`, attempt %lld).\n",
		     r->title, j->repo, r->id, j->task_id, j->id, (long long)attempt + 1);
	if (draft)
		section_attempts(out, jr);
	section_dependency(out, rec);
	section_classes(out, r, rec);
	section_files(out, rec);
	section_tests(out, base, verify);
	section_checks(out, verify);
	{
		int64_t at;
		json_t *rules = orch_rules_result(jr, attempt, &at);

		section_decisions(out, rec, rules);
		json_decref(rules);
	}
	orch_feedback_section(jr, out);
	if (r->pr_body)
		nsh_buf_addf(out, "\n## Migration notes\n\n%s\n", r->pr_body);
	section_review(out, rec);
	section_network(out, jr);
	section_risk(out, jr);
	nsh_buf_addf(out,
		     "\n## Change set\n\n%s\nThe other pull requests of this task are listed "
		     "here when it ends.\n",
		     ORCH_SIBLINGS_MARK);
	json_decref(change);
	json_decref(base);
	json_decref(verify);
	if (out->len >= out->max && out->max)
		return nsh_err_set(err, NSH_ETOOBIG, "the pull request body is too long");
	return 0;
}

int orch_finish(struct nsh_task_run *tr, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_task_run_ctx(tr);
	struct nsh_store *st = nsh_task_run_store(tr);
	const struct nsh_task_rec *t = nsh_task_run_task(tr);
	struct nsh_pr_filter flt = {.task_id = t->id};
	struct nsh_pr_list prs = {0};
	struct nsh_job_list jobs = {0};
	struct nsh_forge *f = NULL;
	struct nsh_buf set = NSH_BUF_INIT;
	size_t open = 0, review = 0, closed = 0, failed = 0;
	int rc;

	rc = orch_forge(o, st, t->org, &f, err);
	if (!rc)
		rc = nsh_forge_pr_list(f, &flt, &prs, err);
	if (!rc)
		rc = nsh_store_job_list(st, t->id, &jobs, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < prs.nr; i++)
		nsh_buf_addf(&set, "- %s/%s#%lld (%s)\n", prs.v[i].org, prs.v[i].repo,
			     (long long)prs.v[i].number, prs.v[i].state);
	for (size_t i = 0; i < prs.nr && !rc; i++) {
		const struct nsh_pr_rec *p = &prs.v[i];
		const char *mark = strstr(p->body, ORCH_SIBLINGS_MARK);
		struct nsh_forge_pr_change ch = {0};
		struct nsh_forge_ref ref;
		struct nsh_buf body = NSH_BUF_INIT;

		if (!mark || (strcmp(p->state, "open") && strcmp(p->state, "draft")))
			continue;
		nsh_buf_add(&body, p->body, (size_t)(mark - p->body) + strlen(ORCH_SIBLINGS_MARK));
		nsh_buf_addf(&body, "\n%zu pull requests in this change set:\n\n%s", prs.nr,
			     set.buf);
		ch.body = body.buf;
		ch.by = "nightshift";
		rc = nsh_forge_ref_set(&ref, p->org, p->repo, p->number, err);
		if (!rc)
			rc = nsh_forge_pr_update(f, &ref, &ch, err);
		nsh_buf_release(&body);
	}
	for (size_t i = 0; i < jobs.nr; i++) {
		const char *s = jobs.v[i].state;

		open += !strcmp(s, "pr_open");
		review += !strcmp(s, "needs_human_review");
		closed += !strcmp(s, "closed");
		failed += !strcmp(s, "failed") || !strcmp(s, "cancelled");
	}
	if (!rc)
		orch_say(st, t->id, NULL, "task.summary",
			 json_pack("{s:I, s:I, s:I, s:I}", "pr_open", (json_int_t)open,
				   "needs_human_review", (json_int_t)review, "closed",
				   (json_int_t)closed, "failed", (json_int_t)failed),
			 "🎉 %zu pull requests opened, %zu drafts need human review, %zu "
			 "repositories needed no change, %zu failed",
			 open, review, closed, failed);
out:
	nsh_buf_release(&set);
	nsh_job_list_release(&jobs);
	nsh_pr_list_release(&prs);
	nsh_forge_close(f);
	return rc;
}
