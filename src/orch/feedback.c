/*
 * Review feedback: intake from any front end, and the "rules" step that
 * starts every run of a job.
 *
 * The rules step decides which recipe alternatives the run takes. On a
 * job's first run that is the recipe's defaults (and, with the memory
 * module, the learned preferences). On a revision it takes the feedback
 * the job was given: each comment is checked, matched to an alternative
 * of a recipe choice by its words, carried to the sibling pull requests
 * of the task that made the same choice, and the result recorded, so that
 * the change step applies it and the pull request step answers the
 * comment with what changed.
 */
#include "orch/feedback.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/vec.h"
#include "forge/forge.h"
#include "memory/memory.h"
#include "orch/orch_int.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

/* ---- intake ---- */

/* Whether a job in @js waits for review (feedback starts a revision at once). */
static bool waits_for_review(enum nsh_job_state js)
{
	return js == NSH_JOB_PR_OPEN || js == NSH_JOB_NEEDS_HUMAN_REVIEW;
}

/*
 * Move job @j (in a state that waits for review) to revising: its next run
 * starts at the first step with a new attempt, and a completed task runs
 * again. Inside the caller's transaction.
 */
static int start_revision(struct nsh_store *st, const struct nsh_job_rec *j, struct nsh_err *err)
{
	struct nsh_task_rec t = {0};
	enum nsh_task_state ts;
	int rc;

	rc = nsh_job_transition(st, j->id, NSH_JOB_REVISING, "review feedback", NULL, err);
	if (!rc)
		rc = nsh_store_job_set_progress(st, j->id, NULL, j->attempt + 1, NULL, err);
	if (!rc)
		rc = nsh_store_task_get(st, j->task_id, &t, err);
	if (!rc)
		rc = nsh_task_state_parse(t.state, &ts, err);
	if (!rc && ts == NSH_TASK_COMPLETED)
		rc = nsh_task_transition(st, j->task_id, NSH_TASK_RUNNING, "review feedback", NULL,
					 err);
	nsh_task_rec_release(&t);
	return rc;
}

/*
 * Record feedback @f for its job and start a revision when the job waits
 * for review; *@ret_revising says whether it did. One transaction.
 */
static int queue_feedback(struct nsh_store *st, const struct nsh_feedback_rec *f, int64_t *ret_id,
			  bool *ret_added, bool *ret_revising, struct nsh_err *err)
{
	struct nsh_job_rec j = {0};
	enum nsh_job_state js;
	bool added = false;
	json_t *ev;
	int rc;

	*ret_revising = false;
	rc = nsh_store_begin(st, err);
	if (rc)
		return rc;
	rc = nsh_store_feedback_add(st, f, ret_id, &added, err);
	if (!rc && added) {
		ev = json_pack("{s:s, s:I, s:s, s:s}", "pr", f->pr, "feedback", (json_int_t)*ret_id,
			       "author", f->author, "text", "");
		json_object_set_new(ev, "text", nsh_json_string_lossy(f->body, strlen(f->body)));
		if (f->comment_id > 0)
			json_object_set_new(ev, "comment", json_integer(f->comment_id));
		if (f->origin_id > 0)
			json_object_set_new(ev, "origin", json_integer(f->origin_id));
		rc = nsh_event_append(st, f->task_id, f->job_id, "feedback.received", ev, NULL,
				      err);
		json_decref(ev);
	}
	if (!rc)
		rc = nsh_store_job_get(st, f->job_id, &j, err);
	if (!rc)
		rc = nsh_job_state_parse(j.state, &js, err);
	if (!rc && added && waits_for_review(js)) {
		rc = start_revision(st, &j, err);
		*ret_revising = !rc;
	}
	if (!rc)
		rc = nsh_store_commit(st, err);
	if (rc) {
		nsh_store_rollback(st);
		*ret_revising = false;
	}
	if (ret_added)
		*ret_added = !rc && added;
	nsh_job_rec_release(&j);
	return rc;
}

int nsh_feedback_intake(struct nsh_store *st, const struct nsh_feedback_in *in,
			struct nsh_feedback_out *ret, struct nsh_err *err)
{
	struct nsh_pr_rec pr = {0};
	struct nsh_job_rec j = {0};
	struct nsh_feedback_rec f = {0};
	enum nsh_job_state js;
	char *name = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = nsh_store_pr_get(st, in->org, in->repo, in->number, &pr, err);
	if (rc)
		return rc;
	if (!pr.job_id || !pr.task_id) {
		snprintf(ret->reason, sizeof(ret->reason),
			 "not a pull request of a nightshift job");
		goto out;
	}
	snprintf(ret->task_id, sizeof(ret->task_id), "%s", pr.task_id);
	snprintf(ret->job_id, sizeof(ret->job_id), "%s", pr.job_id);
	if (!in->author || !strcmp(in->author, NSH_FEEDBACK_BOT) ||
	    !strcmp(in->author, pr.job_id)) {
		snprintf(ret->reason, sizeof(ret->reason), "nightshift's own comment");
		goto out;
	}
	if (in->kind && !strcmp(in->kind, "approve")) {
		snprintf(ret->reason, sizeof(ret->reason), "an approval asks for no change");
		goto out;
	}
	if (!in->body || !*in->body) {
		snprintf(ret->reason, sizeof(ret->reason), "an empty comment asks for nothing");
		goto out;
	}
	rc = nsh_store_job_get(st, pr.job_id, &j, err);
	if (!rc)
		rc = nsh_job_state_parse(j.state, &js, err);
	if (rc)
		goto out;
	if (!nsh_job_state_busy(js) && !waits_for_review(js)) {
		snprintf(ret->reason, sizeof(ret->reason), "the job has ended (%s)",
			 nsh_job_state_name(js));
		goto out;
	}
	name = nsh_xasprintf("%s/%s#%lld", in->org, in->repo, (long long)in->number);
	f.task_id = pr.task_id;
	f.job_id = pr.job_id;
	f.pr = name;
	f.comment_id = in->comment_id;
	f.author = (char *)in->author;
	f.body = (char *)in->body;
	f.path = (char *)in->path;
	f.line = in->path ? in->line : 0;
	f.can_write = in->can_write;
	rc = queue_feedback(st, &f, &ret->id, &ret->taken, &ret->revising, err);
out:
	free(name);
	nsh_job_rec_release(&j);
	nsh_pr_rec_release(&pr);
	return rc;
}

int nsh_feedback_pr_ended(struct nsh_store *st, const char *org, const char *repo, int64_t number,
			  bool merged, struct nsh_err *err)
{
	struct nsh_pr_rec pr = {0};
	struct nsh_job_rec j = {0};
	enum nsh_job_state js;
	int rc;

	rc = nsh_store_pr_get(st, org, repo, number, &pr, err);
	if (rc || !pr.job_id)
		goto out;
	rc = nsh_store_job_get(st, pr.job_id, &j, err);
	if (!rc)
		rc = nsh_job_state_parse(j.state, &js, err);
	if (!rc && (waits_for_review(js) || (js == NSH_JOB_REVISING && !j.step)))
		rc = nsh_job_transition(st, j.id, merged ? NSH_JOB_MERGED : NSH_JOB_CLOSED,
					merged ? "its pull request was merged"
					       : "its pull request was closed",
					NULL, err);
out:
	nsh_job_rec_release(&j);
	nsh_pr_rec_release(&pr);
	return rc;
}

void orch_feedback_requeue(struct nsh_job_run *jr)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	struct nsh_feedback_list l = {0};
	struct nsh_job_rec j = {0};
	struct nsh_err err = NSH_ERR_INIT;
	enum nsh_job_state js;
	bool waiting = false;

	if (nsh_store_feedback_list(st, nsh_job_run_job(jr)->id, -1, &l, &err))
		goto out;
	for (size_t i = 0; i < l.nr; i++)
		if (!strcmp(l.v[i].state, "pending") && l.v[i].attempt < 0)
			waiting = true;
	if (!waiting)
		goto out;
	if (nsh_store_begin(st, &err))
		goto out;
	if (!nsh_store_job_get(st, nsh_job_run_job(jr)->id, &j, &err) &&
	    !nsh_job_state_parse(j.state, &js, &err) && waits_for_review(js) &&
	    !start_revision(st, &j, &err) && !nsh_store_commit(st, &err))
		goto out;
	nsh_store_rollback(st);
out:
	if (err.code)
		nsh_log_warn("job %s: feedback waits: %s", nsh_job_run_job(jr)->id, err.msg);
	nsh_job_rec_release(&j);
	nsh_feedback_list_release(&l);
}

bool nsh_feedback_local_can_write(const struct nsh_config *cfg, const char *org, const char *repo,
				  const char *user)
{
	const char *list = cfg ? nsh_config_get(cfg, "forge", "writers") : NULL;
	size_t n = user ? strlen(user) : 0;

	(void)org;
	(void)repo;
	if (!list)
		return true;
	if (!n)
		return false;
	for (const char *p = list; *p;) {
		size_t len;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		len = strcspn(p, ", \t");
		if ((len == 1 && *p == '*') || (len == n && !strncmp(p, user, n)))
			return true;
		p += len;
	}
	return false;
}

/* ---- interpretation (recipe brain) ---- */

/* Lower-case words of @text (letters and digits) appended to @out. */
static void words_of(const char *text, struct nsh_strvec *out)
{
	struct nsh_buf w = NSH_BUF_INIT;

	for (const char *p = text;; p++) {
		if (*p && isalnum((unsigned char)*p)) {
			nsh_buf_addch(&w, (char)tolower((unsigned char)*p));
			continue;
		}
		if (w.len)
			nsh_strvec_push(out, w.buf);
		nsh_buf_reset(&w);
		if (!*p)
			break;
	}
	nsh_buf_release(&w);
}

static bool has_word(const struct nsh_strvec *v, const char *w)
{
	for (size_t i = 0; i < v->nr; i++)
		if (!strcmp(v->v[i], w))
			return true;
	return false;
}

/*
 * Add @weight to @score for each distinct word of @phrase (an id or keyword)
 * found in @text that is not one of the recipe's own words, and name it in
 * @why.
 */
static void score_phrase(const char *phrase, int weight, const struct nsh_strvec *text,
			 const struct nsh_strvec *generic, struct nsh_strvec *seen, int *score,
			 struct nsh_buf *why)
{
	struct nsh_strvec pw = NSH_STRVEC_INIT;

	words_of(phrase, &pw);
	for (size_t i = 0; i < pw.nr; i++) {
		if (has_word(generic, pw.v[i]) || has_word(seen, pw.v[i]) ||
		    !has_word(text, pw.v[i]))
			continue;
		nsh_strvec_push(seen, pw.v[i]);
		*score += weight;
		nsh_buf_addf(why, "%s\"%s\"", why->len ? ", " : "", pw.v[i]);
	}
	nsh_strvec_release(&pw);
}

struct fb_match {
	const struct nsh_recipe_choice *choice;
	const struct nsh_recipe_alt *alt;
	int score;
	char *words; /* the words that matched, quoted */
	char *other; /* a tie: the other "choice: alt", else NULL */
};

/*
 * Match @text to the alternative of a choice of @r it asks for: the
 * alternative's id counts 3, each keyword 2, the words of the choice's id
 * 1 (only for an alternative that matched otherwise); words of the recipe's own id and title (say
 * "lodash") count for nothing, as every comment on its pull requests may use them. false when
 * nothing matches.
 */
static bool fb_match(const struct nsh_recipe *r, const char *text, struct fb_match *m)
{
	struct nsh_strvec tw = NSH_STRVEC_INIT, generic = NSH_STRVEC_INIT;
	int best = 0;

	memset(m, 0, sizeof(*m));
	words_of(text, &tw);
	words_of(r->id, &generic);
	if (r->title)
		words_of(r->title, &generic);
	for (size_t i = 0; i < r->nchoices; i++) {
		const struct nsh_recipe_choice *c = &r->choices[i];

		for (size_t k = 0; k < c->nalts; k++) {
			const struct nsh_recipe_alt *a = &c->alts[k];
			struct nsh_strvec seen = NSH_STRVEC_INIT;
			struct nsh_buf why = NSH_BUF_INIT;
			int score = 0;

			/* the alternative's name says the most, its keywords less, the choice's
			 * name only breaks ties between choices */
			score_phrase(a->id, 3, &tw, &generic, &seen, &score, &why);
			for (size_t w = 0; w < a->keywords.nr; w++)
				score_phrase(a->keywords.v[w], 2, &tw, &generic, &seen, &score,
					     &why);
			if (score)
				score_phrase(c->id, 1, &tw, &generic, &seen, &score, &why);
			if (score > best) {
				best = score;
				free(m->words);
				free(m->other);
				m->choice = c;
				m->alt = a;
				m->score = score;
				m->words = nsh_buf_detach(&why, NULL);
				m->other = NULL;
			} else if (score && score == best && !m->other) {
				m->other = nsh_xasprintf("%s: %s", c->id, a->id);
			}
			nsh_buf_release(&why);
			nsh_strvec_release(&seen);
		}
	}
	nsh_strvec_release(&tw);
	nsh_strvec_release(&generic);
	return best > 0;
}

static void fb_match_release(struct fb_match *m)
{
	free(m->words);
	free(m->other);
	memset(m, 0, sizeof(*m));
}

/* Whether @body asks for the feedback on every pull request of the task. */
static bool asks_all(const char *body)
{
	for (const char *p = body; (p = strchr(p, '/')); p++) {
		if (!strncasecmp(p, "/nightshift", 11)) {
			const char *q = p + 11;

			while (*q == ' ' || *q == '\t')
				q++;
			if (!strncasecmp(q, "all", 3) && !isalnum((unsigned char)q[3]))
				return true;
		}
	}
	return false;
}

/* ---- the picks a run takes ---- */

/*
 * The newest "rules" result at @attempt or before, and the attempt that
 * recorded it (-1 when none). A new reference or NULL.
 */
json_t *orch_rules_result(struct nsh_job_run *jr, int64_t attempt, int64_t *ret_at)
{
	for (int64_t a = attempt; a >= 0; a--) {
		json_t *v = nsh_job_run_result(jr, a, "rules");

		if (v) {
			*ret_at = a;
			return v;
		}
	}
	*ret_at = -1;
	return NULL;
}

/* Set @choice to @alt in the picks array @picks (objects {choice, alt, ...}). */
static void picks_set(json_t *picks, const char *choice, const char *alt, const char *source)
{
	size_t i;
	json_t *p;

	json_array_foreach(picks, i, p)
	{
		if (!strcmp(json_string_value(json_object_get(p, "choice")), choice)) {
			json_array_remove(picks, i);
			break;
		}
	}
	json_array_append_new(picks, json_pack("{s:s, s:s, s:s}", "choice", choice, "alt", alt,
					       "source", source));
}

/* The alternative @picks sets for @choice, or NULL. */
static const char *picks_get(const json_t *picks, const char *choice)
{
	size_t i;
	json_t *p;

	json_array_foreach(picks, i, p)
	{
		if (!strcmp(json_string_value(json_object_get(p, "choice")), choice))
			return json_string_value(json_object_get(p, "alt"));
	}
	return NULL;
}

/* ---- siblings ---- */

/* The rules that alternatives of @c enable: a change by one of them used the choice. */
static bool rule_of_choice(const struct nsh_recipe_choice *c, const char *rule)
{
	for (size_t k = 0; k < c->nalts; k++)
		for (size_t i = 0; i < c->alts[k].enable.nr; i++)
			if (!strcmp(c->alts[k].enable.v[i], rule))
				return true;
	return false;
}

/* The newest result of step @name of job @j at its attempt or before. A new reference. */
static json_t *latest_of(struct nsh_store *st, const struct nsh_job_rec *j, const char *name)
{
	for (int64_t a = j->attempt; a >= 0; a--) {
		char *text = NULL;
		json_t *v = NULL;

		if (!nsh_store_step_get(st, j->task_id, j->id, a, name, &text, NULL))
			v = json_loads(text, 0, NULL);
		free(text);
		if (v)
			return v;
	}
	return NULL;
}

/* Whether the latest change of job @j made a change with a rule of choice @c. */
static bool used_choice(struct nsh_store *st, const struct nsh_job_rec *j,
			const struct nsh_recipe_choice *c)
{
	json_t *change = latest_of(st, j, "change"), *x;
	json_t *changes = json_object_get(json_object_get(change, "recipe"), "changes");
	bool used = false;
	size_t i;

	json_array_foreach(changes, i, x)
	{
		const char *rule = json_string_value(json_object_get(x, "rule"));

		if (rule && rule_of_choice(c, rule))
			used = true;
	}
	json_decref(change);
	return used;
}

/* Whether job @j's current picks already take @alt for @choice. */
static bool takes_already(struct nsh_store *st, const struct nsh_job_rec *j, const char *choice,
			  const char *alt, const char *def)
{
	json_t *rules = latest_of(st, j, "rules");
	const char *now = picks_get(json_object_get(rules, "picks"), choice);
	bool same = !strcmp(now ? now : def, alt);

	json_decref(rules);
	return same;
}

/*
 * Carry feedback @f, matched to @m (NULL: asked for everywhere with
 * "/nightshift all"), to the other jobs of the task whose pull request is
 * still open and that made the same choice differently. Their names go to
 * @carried.
 */
static int carry(struct nsh_job_run *jr, const struct nsh_feedback_rec *f, const struct fb_match *m,
		 json_t *carried, struct nsh_err *err)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	const struct nsh_job_rec *me = nsh_job_run_job(jr);
	struct nsh_job_list jobs = {0};
	int rc;

	rc = nsh_store_job_list(st, me->task_id, &jobs, err);
	for (size_t i = 0; !rc && i < jobs.nr; i++) {
		const struct nsh_job_rec *j = &jobs.v[i];
		struct nsh_pr_rec pr = {0};
		struct nsh_feedback_rec copy = {0};
		char *name = NULL;
		bool added = false, revising = false;
		int64_t id = 0;

		if (!strcmp(j->id, me->id) || nsh_store_pr_find_job(st, j->id, &pr, NULL))
			continue;
		if (strcmp(pr.state, "open") && strcmp(pr.state, "draft"))
			goto next;
		if (m && (!used_choice(st, j, m->choice) ||
			  takes_already(st, j, m->choice->id, m->alt->id, m->choice->def)))
			goto next;
		name = nsh_xasprintf("%s/%s#%lld", pr.org, pr.repo, (long long)pr.number);
		copy.task_id = j->task_id;
		copy.job_id = j->id;
		copy.pr = name;
		copy.origin_id = f->id;
		copy.author = f->author;
		copy.body = f->body;
		copy.can_write = f->can_write;
		rc = queue_feedback(st, &copy, &id, &added, &revising, err);
		if (!rc)
			json_array_append_new(carried, json_string(name));
	next:
		free(name);
		nsh_pr_rec_release(&pr);
	}
	nsh_job_list_release(&jobs);
	return rc;
}

/* Tell the task that feedback @f went to the pull requests in @carried, @why. */
static void say_carried(struct nsh_store *st, const struct nsh_job_rec *j,
			const struct nsh_feedback_rec *f, json_t *carried, const char *why)
{
	orch_say(st, j->task_id, j->id, "feedback.carried",
		 json_pack("{s:I, s:O}", "feedback", (json_int_t)f->id, "to", carried),
		 "feedback from %s on %s carried to %zu sibling pull request%s, %s", f->author,
		 f->pr, json_array_size(carried), json_array_size(carried) == 1 ? "" : "s", why);
}

/* ---- the step ---- */

static json_t *feedback_json(const struct nsh_feedback_rec *f, const char *state)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)f->id, "pr", f->pr,
			      "author", f->author, "state", state);

	json_object_set_new(o, "text", nsh_json_string_lossy(f->body, strlen(f->body)));
	if (f->comment_id > 0)
		json_object_set_new(o, "comment", json_integer(f->comment_id));
	if (f->origin_id > 0)
		json_object_set_new(o, "origin", json_integer(f->origin_id));
	return o;
}

/* Answer feedback @f on its pull request: a reply to its comment, else a comment. */
int orch_feedback_answer(struct nsh_orch *o, struct nsh_store *st, const struct nsh_feedback_rec *f,
			 const char *text, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_forge_comment c = {0};
	struct nsh_forge *fg = NULL;
	int rc;

	rc = nsh_forge_ref_parse_pr(f->pr, &ref, err);
	if (!rc)
		rc = orch_forge(o, st, f->pr, &fg, err);
	if (rc)
		goto out;
	c.author = NSH_FEEDBACK_BOT;
	c.body = text;
	c.in_reply_to = f->comment_id;
	rc = nsh_forge_pr_comment(fg, &ref, &c, NULL, err);
	if (rc == NSH_EINVAL && f->comment_id) {
		/* a review cannot be answered in a thread: comment instead */
		c.in_reply_to = 0;
		rc = nsh_forge_pr_comment(fg, &ref, &c, NULL, err);
	}
out:
	nsh_forge_close(fg);
	return rc;
}

/* The recipe's choices, for a reply that says what could be asked for. */
static void list_choices(const struct nsh_recipe *r, struct nsh_buf *b)
{
	for (size_t i = 0; i < r->nchoices; i++) {
		nsh_buf_addf(b, "- `%s` (%s):", r->choices[i].id, r->choices[i].description);
		for (size_t k = 0; k < r->choices[i].nalts; k++)
			nsh_buf_addf(b, " `%s`%s", r->choices[i].alts[k].id,
				     k + 1 < r->choices[i].nalts ? "," : "");
		nsh_buf_adds(b, "\n");
	}
}

int orch_step_rules(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	struct nsh_store *st = nsh_job_run_store(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	const struct nsh_task_rec *t = nsh_job_run_task(jr);
	int64_t attempt = nsh_job_run_attempt(jr), prev_at;
	json_t *prev = attempt > 0 ? orch_rules_result(jr, attempt - 1, &prev_at) : NULL;
	json_t *picks = json_copy(json_object_get(prev, "picks"));
	json_t *fbs = json_array();
	const struct nsh_recipe *r = NULL;
	struct nsh_feedback_list l = {0};
	size_t applied = 0, unclear = 0, refused = 0;
	struct nsh_buf why = NSH_BUF_INIT;
	int rc;

	if (!picks)
		picks = json_array();
	if (!orch_is_llm(jr) && orch_recipe(o, t->recipe, &r, err)) {
		rc = err->code;
		goto out;
	}
	if (r && !prev) {
		/* the job's first run: learned preferences are its defaults */
		json_t *mem = json_array();

		rc = orch_learned_picks(jr, r, picks, mem, err);
		if (!rc && json_array_size(mem))
			orch_say(st, j->task_id, j->id, "memory.applied",
				 json_pack("{s:O}", "rules", mem),
				 "%zu learned rule%s applied from the start", json_array_size(mem),
				 json_array_size(mem) == 1 ? "" : "s");
		json_object_set_new(result, "memory", mem);
		if (rc)
			goto out;
	}
	rc = nsh_store_feedback_claim(st, j->id, attempt, err);
	if (!rc)
		rc = nsh_store_feedback_list(st, j->id, attempt, &l, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		struct nsh_feedback_rec *f = &l.v[i];
		struct fb_match m = {0};
		json_t *fj, *carried = json_array();
		bool all = asks_all(f->body);
		char *source;

		if (strcmp(f->state, "pending")) {
			/*
			 * Handled by an earlier run of this step, which was
			 * answered but not recorded (a crash, a failed commit):
			 * it still counts, so that this run ends the same way
			 * rather than revising with the choices as before.
			 */
			json_array_append_new(fbs, feedback_json(f, f->state));
			if (!strcmp(f->state, "unclear"))
				unclear++;
			else if (!strcmp(f->state, "refused"))
				refused++;
			json_decref(carried);
			continue;
		}
		{
			char *bad = NULL;

			if (nsh_memory_guard(f->body, &bad)) {
				char *reply = nsh_xasprintf(
					"Not applied, and not remembered: this comment %s. nightshift "
					"does not weaken tests or checks on review feedback; a "
					"maintainer can make such a change by hand.",
					bad);
				char *res;

				fj = feedback_json(f, "refused");
				json_object_set_new(fj, "reason", json_string(bad));
				res = json_dumps(fj, JSON_COMPACT);
				rc = nsh_store_feedback_finish(st, f->id, "refused", res, err);
				if (!rc)
					rc = orch_feedback_answer(o, st, f, reply, err);
				orch_say(st, j->task_id, j->id, "feedback.refused",
					 json_pack("{s:I, s:s}", "feedback", (json_int_t)f->id,
						   "reason", bad),
					 "feedback from %s on %s refused: it %s", f->author, f->pr,
					 bad);
				json_array_append_new(fbs, fj);
				free(res);
				free(reply);
				free(bad);
				json_decref(carried);
				refused++;
				continue;
			}
		}
		if (!r) {
			/* the llm brain: the code agent reads the comment itself */
			fj = feedback_json(f, "pending");
			json_object_set_new(fj, "llm", json_true());
			if (all && !f->origin_id)
				rc = carry(jr, f, NULL, carried, err);
			if (!rc && json_array_size(carried))
				say_carried(st, j, f, carried, "as asked with /nightshift all");
			json_object_set_new(fj, "carried", carried);
			json_array_append_new(fbs, fj);
			applied++;
			continue;
		}
		if (!fb_match(r, f->body, &m) || m.other) {
			struct nsh_buf reply = NSH_BUF_INIT;

			if (m.other)
				nsh_buf_addf(
					&reply,
					"This could mean `%s: %s` or `%s`; I cannot tell which "
					"without a language model.",
					m.choice->id, m.alt->id, m.other);
			else
				nsh_buf_addf(&reply,
					     "I could not match this to a choice of recipe `%s` "
					     "without a language model (configure one with "
					     "NIGHTSHIFT_LLM_API, _URL, _MODEL and _KEY).",
					     r->id);
			nsh_buf_adds(&reply, " The choices this recipe offers:\n\n");
			list_choices(r, &reply);
			nsh_buf_adds(&reply,
				     "\nThe comment is kept and the pull request is marked for a "
				     "person to take over.");
			fj = feedback_json(f, "unclear");
			{
				char *fjs = json_dumps(fj, JSON_COMPACT);

				rc = nsh_store_feedback_finish(st, f->id, "unclear", fjs, err);
				free(fjs);
			}
			if (!rc)
				rc = orch_feedback_answer(o, st, f, reply.buf, err);
			orch_say(st, j->task_id, j->id, "feedback.unclear",
				 json_pack("{s:I}", "feedback", (json_int_t)f->id),
				 "feedback from %s on %s not understood: a person takes over",
				 f->author, f->pr);
			json_array_append_new(fbs, fj);
			nsh_buf_release(&reply);
			fb_match_release(&m);
			json_decref(carried);
			unclear++;
			continue;
		}
		source = nsh_xasprintf("feedback %lld", (long long)f->id);
		picks_set(picks, m.choice->id, m.alt->id, source);
		free(source);
		fj = feedback_json(f, "pending");
		json_object_set_new(fj, "choice", json_string(m.choice->id));
		json_object_set_new(fj, "alt", json_string(m.alt->id));
		json_object_set_new(fj, "words", json_string(m.words));
		/* an original generalises to the siblings that made the same choice */
		if (!f->origin_id)
			rc = carry(jr, f, all ? NULL : &m, carried, err);
		json_object_set_new(fj, "carried", carried);
		json_array_append_new(fbs, fj);
		orch_say(st, j->task_id, j->id, "feedback.interpreted",
			 json_pack("{s:I, s:s, s:s, s:s}", "feedback", (json_int_t)f->id, "choice",
				   m.choice->id, "alt", m.alt->id, "words", m.words),
			 "feedback from %s on %s means %s: %s (matched %s)%s", f->author, f->pr,
			 m.choice->id, m.alt->id, m.words,
			 json_array_size(carried) ? "; carried to the sibling pull requests" : "");
		nsh_buf_addf(&why, "%s%s: %s", why.len ? ", " : "", m.choice->id, m.alt->id);
		fb_match_release(&m);
		applied++;
	}
	if (rc)
		goto out;
	json_object_set_new(result, "picks", json_incref(picks));
	json_object_set_new(result, "feedback", json_incref(fbs));
	if (l.nr && !applied && unclear) {
		/* nothing to revise: a person takes over */
		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW,
				   "review feedback needs a person");
		json_object_set_new(result, "summary",
				    json_string("feedback not understood: a person takes over"));
	} else if (l.nr && !applied && refused) {
		/* the pull request stays as it was */
		nsh_job_run_finish(jr, NSH_JOB_PR_OPEN, "review feedback refused");
		json_object_set_new(result, "summary",
				    json_string("feedback refused: it would weaken the checks"));
	} else if (applied) {
		char *s = nsh_xasprintf("revising for review feedback%s%s", why.len ? ": " : "",
					why.len ? why.buf : "");

		json_object_set_new(result, "summary", nsh_json_string_lossy(s, strlen(s)));
		free(s);
	} else {
		json_object_set_new(result, "summary",
				    json_string(json_array_size(picks) ? "choices as before"
								       : "the recipe's defaults"));
	}
out:
	nsh_buf_release(&why);
	nsh_feedback_list_release(&l);
	json_decref(prev);
	json_decref(picks);
	json_decref(fbs);
	return rc;
}

/* ---- after the pull request is updated ---- */

/* The feedback a run took: what its rules step claimed. */
static int run_feedback(struct nsh_job_run *jr, struct nsh_feedback_list *ret, int64_t *ret_at,
			struct nsh_err *err)
{
	json_t *rules = orch_rules_result(jr, nsh_job_run_attempt(jr), ret_at);
	int rc = 0;

	json_decref(rules);
	if (*ret_at >= 0)
		rc = nsh_store_feedback_list(nsh_job_run_store(jr), nsh_job_run_job(jr)->id,
					     *ret_at, ret, err);
	return rc;
}

/* The interpretation the rules step recorded for feedback @id, borrowed from @rules. */
static json_t *interpretation(json_t *rules, int64_t id)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(rules, "feedback"), i, f)
	{
		if (json_integer_value(json_object_get(f, "id")) == id)
			return f;
	}
	return NULL;
}

/* The learned rules the job's first run took (its first rules step's "memory"). */
static void learned_section(struct nsh_job_run *jr, struct nsh_buf *out)
{
	json_t *first = nsh_job_run_result(jr, 0, "rules"), *m;
	json_t *mem = json_object_get(first, "memory");
	size_t i;

	if (json_array_size(mem))
		nsh_buf_adds(out, "\n## Learned rules applied\n\n");
	json_array_foreach(mem, i, m)
	{
		nsh_buf_addf(out, "- Rule %lld: `%s: %s` (%s). %s\n",
			     (long long)json_integer_value(json_object_get(m, "id")),
			     json_string_value(json_object_get(m, "choice")),
			     json_string_value(json_object_get(m, "alt")),
			     json_string_value(json_object_get(m, "why")),
			     json_string_value(json_object_get(m, "rule")));
	}
	json_decref(first);
}

void orch_feedback_section(struct nsh_job_run *jr, struct nsh_buf *out)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	struct nsh_feedback_list l = {0};
	int64_t at;
	json_t *rules = orch_rules_result(jr, nsh_job_run_attempt(jr), &at);
	size_t shown = 0;

	learned_section(jr, out);
	if (nsh_store_feedback_list(st, nsh_job_run_job(jr)->id, -1, &l, NULL))
		goto out;
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_feedback_rec *f = &l.v[i];
		json_t *how = interpretation(rules, f->id);
		const char *choice = json_string_value(json_object_get(how, "choice"));
		bool now = f->attempt == at && !strcmp(f->state, "pending");

		if (strcmp(f->state, "applied") && !now)
			continue;
		if (!shown++)
			nsh_buf_adds(out, "\n## Review feedback applied\n\n");
		nsh_buf_addf(out, "- %s%s on %s: \"", f->origin_id ? "carried over: " : "",
			     f->author, f->pr);
		for (const char *p = f->body; *p && p - f->body < 200; p++)
			nsh_buf_addch(out, *p == '\n' ? ' ' : *p);
		nsh_buf_adds(out, "\"");
		if (choice)
			nsh_buf_addf(out, " -> `%s: %s`", choice,
				     json_string_value(json_object_get(how, "alt")));
		else if (f->attempt != at)
			nsh_buf_adds(out, " (an earlier revision)");
		nsh_buf_adds(out, "\n");
	}
out:
	json_decref(rules);
	nsh_feedback_list_release(&l);
}

int orch_feedback_done(struct nsh_job_run *jr, const char *sha, bool draft, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	struct nsh_store *st = nsh_job_run_store(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct nsh_feedback_list l = {0};
	json_t *rules = NULL, *change = orch_latest(jr, "change"),
	       *verify = orch_latest(jr, "verify");
	const char *csum = json_string_value(json_object_get(change, "summary"));
	const char *vsum = json_string_value(json_object_get(verify, "summary"));
	int64_t at;
	int rc;

	rc = run_feedback(jr, &l, &at, err);
	if (!rc && l.nr)
		rules = nsh_job_run_result(jr, at, "rules");
	for (size_t i = 0; !rc && i < l.nr; i++) {
		const struct nsh_feedback_rec *f = &l.v[i];
		json_t *how = interpretation(rules, f->id), *carried, *x;
		const char *choice = json_string_value(json_object_get(how, "choice"));
		struct nsh_buf b = NSH_BUF_INIT;
		char *res;
		size_t k;

		if (strcmp(f->state, "pending"))
			continue;
		if (f->origin_id) {
			struct nsh_feedback_rec origin = {0};

			if (!nsh_store_feedback_get(st, f->origin_id, &origin, NULL)) {
				/* where it was said: the comment on that PR, or its review */
				char *where = origin.comment_id
						      ? nsh_xasprintf(" (comment #%lld)",
								      (long long)origin.comment_id)
						      : nsh_xstrdup(" (a review)");

				nsh_buf_addf(
					&b,
					"Carried over from review feedback by %s on %s%s%s.\n\n",
					origin.author, origin.pr, where,
					choice ? ": the same choice is made here"
					       : ", which applies to the whole change");
				free(where);
			}
			nsh_feedback_rec_release(&origin);
		}
		if (!draft && !f->origin_id && json_is_true(json_object_get(how, "llm")) &&
		    json_is_true(json_object_get(change, "general")) &&
		    !json_array_size(json_object_get(how, "carried"))) {
			/* the code agent said the feedback is a rule for the whole change */
			json_t *to = json_array();

			rc = carry(jr, f, NULL, to, err);
			if (!rc && json_array_size(to))
				say_carried(
					st, j, f, to,
					"the code agent took it for a rule of the whole change");
			json_object_set_new(how, "general", json_true());
			json_object_set_new(how, "carried", to);
			if (rc) {
				nsh_buf_release(&b);
				break;
			}
		}
		if (draft)
			nsh_buf_addf(&b,
				     "Revised in %.12s, but the revision does not pass "
				     "verification (%s); the pull request is a draft for a person "
				     "to look at.",
				     sha, vsum ? vsum : "see the body");
		else
			nsh_buf_addf(&b, "Done in %.12s.", sha);
		if (choice)
			nsh_buf_addf(&b, " `%s` is now `%s`.", choice,
				     json_string_value(json_object_get(how, "alt")));
		if (csum)
			nsh_buf_addf(&b, " Change: %s.", csum);
		if (vsum && !draft)
			nsh_buf_addf(&b, " Verification: %s.", vsum);
		carried = json_object_get(how, "carried");
		if (json_array_size(carried)) {
			nsh_buf_addf(&b,
				     "\n\nThe same feedback is applied to the other pull requests "
				     "of this change%s:",
				     choice ? " that made this choice" : "");
			json_array_foreach(carried, k, x)
				nsh_buf_addf(&b, " %s%s", json_string_value(x),
					     k + 1 < json_array_size(carried) ? "," : ".");
		}
		if (!draft && choice && !f->origin_id)
			rc = orch_learn(jr, f, choice,
					json_string_value(json_object_get(how, "alt")), &b, err);
		else if (!draft && !f->origin_id && json_is_true(json_object_get(how, "llm")))
			rc = orch_learn_text(jr, f, &b, err);
		if (!rc)
			rc = orch_feedback_answer(o, st, f, b.buf, err);
		res = how ? json_dumps(how, JSON_COMPACT) : NULL;
		if (!rc)
			rc = nsh_store_feedback_finish(st, f->id, draft ? "failed" : "applied", res,
						       err);
		free(res);
		nsh_buf_release(&b);
	}
	if (!rc && l.nr)
		orch_say(st, j->task_id, j->id, "feedback.applied",
			 json_pack("{s:s, s:b}", "sha", sha, "draft", draft),
			 "revised %s for review feedback (%.12s)%s", j->repo, sha,
			 draft ? ": the revision needs a person" : "");
	json_decref(rules);
	json_decref(change);
	json_decref(verify);
	nsh_feedback_list_release(&l);
	return rc;
}

int orch_feedback_blocked(struct nsh_job_run *jr, const char *text, struct nsh_err *err)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	struct nsh_feedback_list l = {0};
	int64_t at;
	int rc;

	rc = run_feedback(jr, &l, &at, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		if (strcmp(l.v[i].state, "pending"))
			continue;
		rc = orch_feedback_answer(nsh_job_run_ctx(jr), st, &l.v[i], text, err);
		if (!rc)
			rc = nsh_store_feedback_finish(st, l.v[i].id, "failed", NULL, err);
	}
	nsh_feedback_list_release(&l);
	return rc;
}

#define BRIEF_DIFF_MAX (32u << 10) /* bytes of the pull request's diff shown to the agent */

char *orch_feedback_brief(struct nsh_job_run *jr)
{
	struct nsh_store *st = nsh_job_run_store(jr);
	struct nsh_feedback_list l = {0};
	struct nsh_buf b = NSH_BUF_INIT, diff = NSH_BUF_INIT;
	struct nsh_forge *fg = NULL;
	struct nsh_forge_ref ref;
	const char *pr = NULL;
	bool original = false;
	int64_t at;

	if (run_feedback(jr, &l, &at, NULL) || !l.nr)
		goto out;
	nsh_buf_adds(&b, "## Review feedback to address\n\nThe pull request is under review. "
			 "Change it as the reviewers ask, on top of its current state (the "
			 "workspace holds it), then finish.\n\n");
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_feedback_rec *f = &l.v[i];

		if (strcmp(f->state, "pending"))
			continue;
		pr = f->pr;
		nsh_buf_addf(&b, "- %s", f->author);
		if (f->path)
			nsh_buf_addf(&b, " on %s line %lld", f->path, (long long)f->line);
		if (f->origin_id)
			nsh_buf_adds(&b, " (on a sibling pull request of this change)");
		else
			original = true;
		nsh_buf_addf(&b, ": %s\n", f->body);
	}
	if (original)
		nsh_buf_adds(&b, "\nWhen a request is a rule for the whole change rather than for "
				 "this repository alone (a convention, a naming or documentation "
				 "rule), finish with general: true, and the task's other pull "
				 "requests get the same feedback.\n");
	if (pr && !nsh_forge_ref_parse_pr(pr, &ref, NULL) &&
	    !orch_forge(nsh_job_run_ctx(jr), st, pr, &fg, NULL)) {
		nsh_buf_init(&diff, BRIEF_DIFF_MAX);
		nsh_forge_pr_diff(fg, &ref, NULL, &diff, NULL);
		if (diff.len)
			nsh_buf_addf(&b, "\n## The pull request's diff now%s\n\n```diff\n%s\n```\n",
				     diff.len >= BRIEF_DIFF_MAX ? " (cut)" : "", diff.buf);
	}
out:
	nsh_forge_close(fg);
	nsh_buf_release(&diff);
	nsh_feedback_list_release(&l);
	if (!b.len) {
		nsh_buf_release(&b);
		return NULL;
	}
	return nsh_buf_detach(&b, NULL);
}
