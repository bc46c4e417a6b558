/*
 * The orchestrator's use of the memory module: learned preferences become
 * a run's default choices and are listed in the spec; feedback that was
 * applied and verified is learned, with its provenance; comments that ask
 * to weaken checks are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "memory/memory.h"
#include "orch/orch_int.h"
#include "store/store.h"

#include "core/banned.h"

/* The rules that apply to repository @repo ("O/R") for recipe @r (NULL: any), best first. */
static int rules_for(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
		     const char *repo, const struct nsh_recipe *r, struct nsh_memory_rule_list *ret,
		     struct nsh_err *err)
{
	struct nsh_memory_query q = {0};
	const char *slash = strchr(repo, '/');
	char *org = slash ? nsh_xstrndup(repo, (size_t)(slash - repo)) : nsh_xstrdup(repo);
	int64_t ttl = 0;
	int rc;

	rc = nsh_memory_ttl_ms(o->cfg, &ttl, err);
	q.org = org;
	q.repo = slash ? repo : NULL;
	q.text = t->title;
	q.recipe = r ? r->id : NULL;
	q.ttl_ms = ttl;
	if (!rc)
		rc = nsh_memory_retrieve(st, &q, ret, err);
	free(org);
	return rc;
}

/* Whether @r offers @choice with alternative @alt. */
static bool offers(const struct nsh_recipe *r, const char *choice, const char *alt)
{
	for (size_t i = 0; choice && alt && i < r->nchoices; i++)
		if (!strcmp(r->choices[i].id, choice))
			for (size_t k = 0; k < r->choices[i].nalts; k++)
				if (!strcmp(r->choices[i].alts[k].id, alt))
					return true;
	return false;
}

int orch_learned_picks(struct nsh_job_run *jr, const struct nsh_recipe *r, json_t *picks,
		       json_t *applied, struct nsh_err *err)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct nsh_memory_rule_list l = {0};
	int rc;

	rc = rules_for(nsh_job_run_ctx(jr), st, nsh_job_run_task(jr), j->repo, r, &l, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		const struct nsh_memory_rec *m = &l.v[i].r;
		bool taken = false;
		size_t k;
		json_t *p;

		if (!m->kind || strcmp(m->kind, "preference") || !offers(r, m->choice, m->alt))
			continue;
		/* the best-ranked rule of a choice wins */
		json_array_foreach(picks, k, p)
		{
			if (!strcmp(json_string_value(json_object_get(p, "choice")), m->choice))
				taken = true;
		}
		if (taken)
			continue;
		{
			char *src = nsh_xasprintf("memory %lld", (long long)m->id);

			json_array_append_new(picks,
					      json_pack("{s:s, s:s, s:s}", "choice", m->choice,
							"alt", m->alt, "source", src));
			free(src);
		}
		json_array_append_new(applied,
				      json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
						(json_int_t)m->id, "choice", m->choice, "alt",
						m->alt, "why", l.v[i].why ? l.v[i].why : "", "rule",
						m->rule ? m->rule : ""));
		rc = nsh_memory_used(st, m->id, j->task_id, 0, err);
	}
	nsh_memory_rule_list_release(&l);
	return rc;
}

int orch_learned_text(struct nsh_job_run *jr, bool count, struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct nsh_memory_rule_list l = {0};
	size_t n = 0;
	int rc;

	rc = rules_for(nsh_job_run_ctx(jr), st, nsh_job_run_task(jr), j->repo, NULL, &l, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		const struct nsh_memory_rec *m = &l.v[i].r;

		if (!m->kind || strcmp(m->kind, "text") || !m->rule || !*m->rule)
			continue;
		if (!n++)
			nsh_buf_adds(out, "## Rules learned from review feedback\n\n"
					  "Reviewers of this organisation asked for these before; "
					  "follow them unless the task says otherwise:\n\n");
		nsh_buf_addf(out, "- %s (rule %lld, %s %s)\n", m->rule, (long long)m->id,
			     m->scope ? m->scope : "repo", m->scope_value ? m->scope_value : "");
		if (count)
			rc = nsh_memory_used(st, m->id, j->task_id, 0, err);
	}
	nsh_memory_rule_list_release(&l);
	return rc;
}

void orch_learned_spec(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
		       const struct nsh_recipe *r, const char *const *repos, size_t nrepos,
		       struct nsh_buf *b)
{
	struct nsh_int_seen {
		int64_t id;
	} *seen = NULL;
	size_t nseen = 0, alloc = 0;

	nsh_buf_adds(b, "## Learned rules\n\n");
	for (size_t i = 0; i < nrepos; i++) {
		struct nsh_memory_rule_list l = {0};

		if (rules_for(o, st, t, repos[i], r, &l, NULL)) {
			nsh_memory_rule_list_release(&l);
			continue;
		}
		for (size_t k = 0; k < l.nr; k++) {
			const struct nsh_memory_rule *m = &l.v[k];
			bool dup = false;

			if (!m->r.kind || strcmp(m->r.kind, "preference") ||
			    !offers(r, m->r.choice, m->r.alt))
				continue;
			for (size_t s = 0; s < nseen; s++)
				dup |= seen[s].id == m->r.id;
			if (dup)
				continue;
			NSH_ALLOC_GROW(seen, nseen + 1, alloc);
			seen[nseen++].id = m->r.id;
			nsh_buf_addf(b, "- Rule %lld: `%s: %s` is the default choice (%s). %s",
				     (long long)m->r.id, m->r.choice, m->r.alt,
				     m->why ? m->why : "learned", m->r.rule ? m->r.rule : "");
			if (m->sources.nr)
				nsh_buf_addf(b, " Learned from %s on %s.",
					     m->sources.v[0].reviewer ? m->sources.v[0].reviewer
								      : "a reviewer",
					     m->sources.v[0].pr ? m->sources.v[0].pr
								: "a pull request");
			if (m->conflicts.nr)
				nsh_buf_addf(
					b, " It replaced %zu conflicting rule%s (the newest wins).",
					m->conflicts.nr, m->conflicts.nr == 1 ? "" : "s");
			nsh_buf_adds(b, "\n");
		}
		nsh_memory_rule_list_release(&l);
	}
	if (!nseen)
		nsh_buf_adds(b, "No learned rule applies: every choice starts at the recipe's "
				"default.\n");
	nsh_buf_adds(b, "\n");
	free(seen);
}

/*
 * Learn @in (kind, text and, for a preference, recipe, choice, alt) from
 * feedback @f on the job, saying in @say what was remembered or why not.
 */
static int learn_from(struct nsh_job_run *jr, const struct nsh_feedback_rec *f,
		      struct nsh_memory_learn *in, const char *what, struct nsh_buf *say,
		      struct nsh_err *err)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct nsh_memory_rule rule = {0};
	struct nsh_err lerr = NSH_ERR_INIT;
	int rc = 0;

	in->repo = j->repo;
	in->reviewer = f->author;
	in->can_write = f->can_write;
	in->task_id = j->task_id;
	in->pr = f->pr;
	in->comment_id = f->comment_id;
	if (nsh_memory_learn(st, in, &rule, &lerr)) {
		if (lerr.code != NSH_EDENIED)
			return nsh_err_set(err, lerr.code, "%s", lerr.msg);
		nsh_buf_addf(say, "\n\nNot remembered for future tasks: %s.", lerr.msg);
		orch_say(st, j->task_id, j->id, "feedback.not_learned",
			 json_pack("{s:I}", "feedback", (json_int_t)f->id), "%s", lerr.msg);
		return 0;
	}
	nsh_buf_addf(say, "\n\nRemembered for future tasks as rule %lld (%s%s%s)%s.",
		     (long long)rule.r.id, rule.r.scope ? rule.r.scope : "repo",
		     rule.r.scope_value ? " " : "", rule.r.scope_value ? rule.r.scope_value : "",
		     rule.promoted ? ": a second reviewer agreed, so it now holds for the whole org"
				   : "");
	orch_say(st, j->task_id, j->id, "feedback.learned",
		 json_pack("{s:I, s:I, s:b}", "feedback", (json_int_t)f->id, "memory",
			   (json_int_t)rule.r.id, "promoted", rule.promoted),
		 "remembered rule %lld: %s (%s %s)", (long long)rule.r.id, what,
		 rule.r.scope ? rule.r.scope : "repo",
		 rule.r.scope_value ? rule.r.scope_value : "");
	nsh_memory_rule_release(&rule);
	return rc;
}

int orch_learn(struct nsh_job_run *jr, const struct nsh_feedback_rec *f, const char *choice,
	       const char *alt, struct nsh_buf *say, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	const struct nsh_recipe *r = NULL;
	struct nsh_memory_learn in = {0};
	char *text = NULL, *what;
	int rc;

	rc = orch_recipe(o, nsh_job_run_task(jr)->recipe, &r, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < r->nchoices; i++)
		if (!strcmp(r->choices[i].id, choice))
			for (size_t k = 0; k < r->choices[i].nalts; k++)
				if (!strcmp(r->choices[i].alts[k].id, alt))
					text = nsh_xasprintf("%s: %s — %s",
							     r->choices[i].description, alt,
							     r->choices[i].alts[k].description);
	in.kind = "preference";
	in.recipe = r->id;
	in.choice = choice;
	in.alt = alt;
	in.text = text ? text : choice;
	what = nsh_xasprintf("%s: %s", choice, alt);
	rc = learn_from(jr, f, &in, what, say, err);
	free(what);
	free(text);
	return rc;
}

int orch_learn_text(struct nsh_job_run *jr, const struct nsh_feedback_rec *f, struct nsh_buf *say,
		    struct nsh_err *err)
{
	struct nsh_memory_learn in = {0};
	struct nsh_buf text = NSH_BUF_INIT;
	const char *p;
	int rc;

	/* the comment in one line, spaces collapsed, cut at a sane length */
	for (p = f->body; p && *p && text.len < ORCH_TEXT_RULE_MAX; p++) {
		bool space = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';

		if (space && (!text.len || text.buf[text.len - 1] == ' '))
			continue;
		nsh_buf_addch(&text, space ? ' ' : *p);
	}
	while (text.len && text.buf[text.len - 1] == ' ')
		text.buf[--text.len] = '\0';
	if (!text.len) {
		nsh_buf_release(&text);
		return 0;
	}
	in.kind = "text";
	in.text = text.buf;
	rc = learn_from(jr, f, &in, text.buf, say, err);
	nsh_buf_release(&text);
	return rc;
}
