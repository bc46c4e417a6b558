/*
 * The delivery queue: deliveries recorded by the endpoint (status
 * received) are decided and carried out here, oldest first, each in one
 * transaction that also marks it, so a crash leaves it received for the
 * next pass and a delivery is never acted on twice.
 *
 * Review feedback waits for a quiet time (the debounce): a review with
 * inline comments arrives as one pull_request_review and one
 * pull_request_review_comment per comment, and all of them should make one
 * revision. Once nothing about the pull request has arrived for the quiet
 * time, every waiting delivery about it is carried out in one transaction:
 * the scheduler cannot start the job between two of them, and the job's
 * next run takes all of the feedback at once.
 */
#include "github/github.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "orch/feedback.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define PASS_MAX 200 /* deliveries one pass looks at */

static void outcome(struct nsh_github_outcome *o, const char *status, const char *task_id,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void outcome(struct nsh_github_outcome *o, const char *status, const char *task_id,
		    const char *fmt, ...)
{
	va_list ap;

	o->status = status;
	snprintf(o->task_id, sizeof(o->task_id), "%s", task_id ? task_id : "");
	va_start(ap, fmt);
	vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
	va_end(ap);
}

/* "O/R" of @d's reference into @out. */
static void repo_name(const struct nsh_github_decision *d, char out[2 * NSH_FORGE_NAME_MAX + 2])
{
	snprintf(out, 2 * NSH_FORGE_NAME_MAX + 2, "%s/%s", d->ref.org, d->ref.repo);
}

/*
 * The task the issue or pull request of @d belongs to into @t; *@ret_found
 * says whether there is one. Store errors only.
 */
static int task_of(struct nsh_store *s, const struct nsh_github_decision *d, struct nsh_task_rec *t,
		   bool *ret_found, struct nsh_err *err)
{
	char repo[2 * NSH_FORGE_NAME_MAX + 2];
	struct nsh_pr_rec pr = {0};
	int rc = 0;

	*ret_found = false;
	if (!d->has_ref)
		return 0;
	if (d->is_pr) {
		rc = nsh_store_pr_get(s, d->ref.org, d->ref.repo, d->ref.number, &pr, err);
		if (!rc && pr.task_id)
			rc = nsh_store_task_get(s, pr.task_id, t, err);
		else if (!rc)
			rc = NSH_ENOTFOUND;
	} else {
		repo_name(d, repo);
		rc = nsh_store_task_find_github(s, repo, d->ref.number, t, err);
	}
	nsh_pr_rec_release(&pr);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		return 0;
	}
	*ret_found = !rc;
	return rc;
}

/* Note what became of delivery @delivery on task @task_id ("github.trigger"). */
static int note(struct nsh_store *s, const char *task_id, const char *delivery, const char *event,
		const struct nsh_github_decision *d, const struct nsh_github_outcome *o,
		struct nsh_err *err)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "delivery", delivery, "event", event,
				 "status", o->status, "reason", o->reason);
	int rc;

	if (d->sender)
		json_object_set_new(data, "sender", json_string(d->sender));
	if (d->url)
		json_object_set_new(data, "url", nsh_json_string_lossy(d->url, strlen(d->url)));
	rc = nsh_event_append(s, task_id, NULL, "github.trigger", data, NULL, err);
	json_decref(data);
	return rc;
}

/* A new task for the issue of @d with @text; its id to @ret_id. */
static int create_task(struct nsh_store *s, const struct nsh_github_config *cfg,
		       const char *delivery, const struct nsh_github_decision *d, const char *text,
		       char ret_id[NSH_ID_MAX], struct nsh_err *err)
{
	char repo[2 * NSH_FORGE_NAME_MAX + 2];
	json_t *gh, *opts;
	char *opts_text;
	int rc;

	repo_name(d, repo);
	gh = json_pack("{s:s, s:I, s:s}", "repo", repo, "issue", (json_int_t)d->ref.number,
		       "delivery", delivery);
	if (d->url)
		json_object_set_new(gh, "url", nsh_json_string_lossy(d->url, strlen(d->url)));
	if (d->sender)
		json_object_set_new(gh, "sender", json_string(d->sender));
	/* an issue in the org's own repository (org_repo) is about all its repositories */
	if (cfg->org_repo && !strcmp(d->ref.repo, cfg->org_repo))
		opts = json_pack("{s:o}", "github", gh);
	else
		opts = json_pack("{s:[s], s:o}", "repos", repo, "github", gh);
	opts_text = nsh_json_dump(opts);
	{
		struct nsh_task_new n = {
			.title = text,
			.org = d->ref.org,
			.network = cfg->network,
			.options = opts_text,
		};

		rc = nsh_task_create(s, &n, ret_id, err);
	}
	free(opts_text);
	json_decref(opts);
	return rc;
}

static int apply_new_task(struct nsh_store *s, const struct nsh_github_config *cfg,
			  const char *delivery, const struct nsh_github_decision *d,
			  const struct nsh_task_rec *t, bool found, struct nsh_github_outcome *o,
			  struct nsh_err *err)
{
	char id[NSH_ID_MAX];
	int rc;

	if (found) {
		outcome(o, "ignored", t->id, "issue %s/%s#%lld has task '%s' already", d->ref.org,
			d->ref.repo, (long long)d->ref.number, t->id);
		return 0;
	}
	rc = create_task(s, cfg, delivery, d, d->text, id, err);
	if (!rc)
		outcome(o, "processed", id, "task '%s' created", id);
	return rc;
}

static int apply_issue_comment(struct nsh_store *s, const struct nsh_github_config *cfg,
			       const char *delivery, const struct nsh_github_decision *d,
			       const struct nsh_task_rec *t, bool found,
			       struct nsh_github_outcome *o, struct nsh_err *err)
{
	enum nsh_task_state ts = NSH_TASK_COMPLETED;
	struct nsh_control_result res = {0};
	const char *kind, *text;
	char id[NSH_ID_MAX];
	int rc;

	if (found && nsh_task_state_parse(t->state, &ts, NULL))
		ts = NSH_TASK_COMPLETED;
	if (found && !nsh_task_state_final(ts)) {
		if (!*d->text) {
			outcome(o, "ignored", t->id, "the comment says nothing after '%.40s'",
				cfg->command);
			return 0;
		}
		kind = ts == NSH_TASK_WAITING_INPUT ? "answer" : "steer";
		rc = nsh_control_request(s, t->id, kind, d->text, &res, err);
		if (rc)
			return rc;
		if (res.done)
			outcome(o, "processed", t->id, "%s task '%s'",
				!strcmp(kind, "answer") ? "answered" : "steered", t->id);
		else
			outcome(o, "ignored", t->id, "%s", res.message);
		return 0;
	}
	if (!d->command) {
		outcome(o, "ignored", found ? t->id : NULL, "issue %s/%s#%lld has no active task",
			d->ref.org, d->ref.repo, (long long)d->ref.number);
		return 0;
	}
	text = *d->text ? d->text : d->issue_text;
	if (!text || !*text) {
		outcome(o, "ignored", NULL, "nothing to do: no instructions and an empty issue");
		return 0;
	}
	rc = create_task(s, cfg, delivery, d, text, id, err);
	if (!rc)
		outcome(o, "processed", id, "task '%s' created", id);
	return rc;
}

static int apply_feedback(struct nsh_store *s, const struct nsh_github_decision *d,
			  struct nsh_github_outcome *o, struct nsh_err *err)
{
	struct nsh_feedback_in in = {
		.org = d->ref.org,
		.repo = d->ref.repo,
		.number = d->ref.number,
		.comment_id = d->comment_id,
		.kind = d->kind,
		.author = d->sender,
		.body = d->text,
		.path = d->path,
		.line = d->line,
		.can_write = d->can_write,
	};
	struct nsh_feedback_out out = {0};
	int rc;

	rc = nsh_feedback_intake(s, &in, &out, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		outcome(o, "ignored", NULL, "pull request %s/%s#%lld is not one of nightshift's",
			d->ref.org, d->ref.repo, (long long)d->ref.number);
		return 0;
	}
	if (rc)
		return rc;
	if (out.taken)
		outcome(o, "processed", out.task_id, "feedback %lld for job '%s'%s",
			(long long)out.id, out.job_id,
			out.revising ? ", which is revising" : ", after its current run");
	else
		outcome(o, "ignored", out.task_id[0] ? out.task_id : NULL, "%s", out.reason);
	return 0;
}

int nsh_github_apply(struct nsh_store *s, const struct nsh_github_config *cfg, const char *delivery,
		     const char *event, const struct nsh_github_decision *d,
		     struct nsh_github_outcome *ret, struct nsh_err *err)
{
	struct nsh_task_rec t = {0};
	bool found = false;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = nsh_store_begin(s, err);
	if (rc)
		return rc;
	if (d->verdict != NSH_GITHUB_FEEDBACK)
		rc = task_of(s, d, &t, &found, err);
	if (rc)
		goto out;
	switch (d->verdict) {
	case NSH_GITHUB_IGNORE:
		outcome(ret, "ignored", found ? t.id : NULL, "%s", d->reason);
		break;
	case NSH_GITHUB_NEW_TASK:
		rc = apply_new_task(s, cfg, delivery, d, &t, found, ret, err);
		break;
	case NSH_GITHUB_ISSUE_COMMENT:
		rc = apply_issue_comment(s, cfg, delivery, d, &t, found, ret, err);
		break;
	case NSH_GITHUB_FEEDBACK:
		rc = apply_feedback(s, d, ret, err);
		break;
	}
	if (!rc && ret->task_id[0])
		rc = note(s, ret->task_id, delivery, event, d, ret, err);
	if (!rc)
		rc = nsh_store_commit(s, err);
out:
	if (rc)
		nsh_store_rollback(s);
	nsh_task_rec_release(&t);
	return rc;
}

/* ---- the queue ---- */

int nsh_github_enqueue(struct nsh_store *s, const char *event, const char *delivery,
		       const json_t *payload, const char *text, bool *ret_added,
		       struct nsh_err *err)
{
	struct nsh_webhook_rec w = {0};
	const char *action = NULL;
	char *dumped = NULL;
	int rc;

	nsh_json_opt_str(payload, "action", NULL, &action, NULL);
	if (!text)
		text = dumped = nsh_json_dump(payload);
	if (!text)
		return nsh_err_set(err, NSH_EINVAL, "payload of '%s' cannot be encoded", delivery);
	w.id = (char *)delivery;
	w.event = (char *)event;
	w.action = (char *)action;
	w.subject = nsh_github_subject(payload);
	w.payload = (char *)text;
	rc = nsh_store_webhook_add(s, &w, ret_added, err);
	free(w.subject);
	free(dumped);
	return rc;
}

/* A delivery of one pass with its decision, made once when first needed. */
struct row {
	bool decided;		      /* @d and @derr are set */
	struct nsh_github_decision d; /* the decision */
	struct nsh_err derr;	      /* why there is none: the delivery fails */
};

/* Parse and decide delivery @i of @l once; a delivery that cannot be decided fails. */
static struct row *row_at(struct row *rows, const struct nsh_webhook_list *l, size_t i,
			  const struct nsh_github_config *cfg)
{
	const struct nsh_webhook_rec *w = &l->v[i];
	struct row *r = &rows[i];
	json_t *payload = NULL;

	if (r->decided)
		return r;
	r->decided = true;
	nsh_err_clear(&r->derr);
	if (!w->payload || nsh_json_parse_limits(w->payload, strlen(w->payload), strlen(w->payload),
						 NSH_GITHUB_JSON_DEPTH, &payload, &r->derr)) {
		memset(&r->d, 0, sizeof(r->d));
		nsh_err_wrap(&r->derr, "malformed payload");
		return r;
	}
	nsh_github_decide(w->event, payload, cfg, &r->d, &r->derr);
	json_decref(payload);
	return r;
}

/*
 * Carry out the deliveries @idx[0..@n) of @l in one transaction and mark
 * them. *@ret_handled grows by the deliveries marked. A delivery marked by
 * another process meanwhile undoes the whole group (a later pass sees it
 * is done). A store error other than a busy database marks the group
 * failed with the error; a busy database leaves it for the next pass.
 */
static int handle_group(struct nsh_store *s, const struct nsh_github_config *cfg,
			const struct nsh_webhook_list *l, struct row *rows, const size_t *idx,
			size_t n, size_t *ret_handled, struct nsh_err *err)
{
	struct nsh_err gerr = NSH_ERR_INIT;
	bool changed = true;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		row_at(rows, l, idx[i], cfg);
	rc = nsh_store_begin(s, &gerr);
	for (i = 0; !rc && changed && i < n; i++) {
		const struct nsh_webhook_rec *w = &l->v[idx[i]];
		const struct row *r = &rows[idx[i]];
		struct nsh_github_outcome o = {0};

		if (r->derr.code)
			outcome(&o, "failed", NULL, "%s", r->derr.msg);
		else
			rc = nsh_github_apply(s, cfg, w->id, w->event, &r->d, &o, &gerr);
		if (!rc)
			rc = nsh_store_webhook_finish(s, w->id, o.status, o.reason,
						      o.task_id[0] ? o.task_id : NULL, &changed,
						      &gerr);
	}
	if (!rc && changed)
		rc = nsh_store_commit(s, &gerr);
	else
		nsh_store_rollback(s);
	if (!rc) {
		if (changed)
			*ret_handled += n;
	} else if (rc == NSH_EBUSY) {
		*err = gerr;
	} else {
		/* A failure that would come back on every pass: the deliveries fail with it. */
		rc = 0;
		for (i = 0; !rc && i < n; i++) {
			rc = nsh_store_webhook_finish(s, l->v[idx[i]].id, "failed", gerr.msg, NULL,
						      &changed, err);
			*ret_handled += !rc && changed;
		}
	}
	return rc;
}

int nsh_github_process(struct nsh_store *s, const struct nsh_github_config *cfg, int64_t now_ms,
		       struct nsh_github_pass *ret, struct nsh_err *err)
{
	struct nsh_webhook_list l = {0};
	struct nsh_strvec waiting = NSH_STRVEC_INIT;
	struct row *rows = NULL;
	size_t *idx = NULL;
	bool *done = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	ret->wait_ms = -1;
	rc = nsh_store_webhook_pending(s, PASS_MAX, &l, err);
	if (rc)
		goto out;
	ret->more = l.nr == PASS_MAX;
	idx = nsh_xcalloc(l.nr + 1, sizeof(*idx));
	done = nsh_xcalloc(l.nr + 1, sizeof(*done));
	rows = nsh_xcalloc(l.nr + 1, sizeof(*rows));
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_webhook_rec *w = &l.v[i];
		const struct row *r;
		size_t n = 0;

		if (done[i])
			continue;
		r = row_at(rows, &l, i, cfg);
		idx[n++] = i;
		if (!r->derr.code && r->d.verdict == NSH_GITHUB_FEEDBACK && w->subject &&
		    cfg->debounce_ms > 0) {
			int64_t last = 0, due;

			if (nsh_strvec_find(&waiting, w->subject) >= 0)
				continue;
			rc = nsh_store_webhook_subject_last(s, w->subject, &last, err);
			if (rc)
				goto out;
			due = last + cfg->debounce_ms;
			if (now_ms < due) {
				nsh_strvec_push(&waiting, w->subject);
				if (ret->wait_ms < 0 || due - now_ms < ret->wait_ms)
					ret->wait_ms = due - now_ms;
				continue;
			}
			/* Quiet: everything waiting about this pull request goes together. */
			for (size_t j = i + 1; j < l.nr; j++)
				if (!done[j] && l.v[j].subject &&
				    !strcmp(l.v[j].subject, w->subject))
					idx[n++] = j;
		}
		for (size_t k = 0; k < n; k++)
			done[idx[k]] = true;
		rc = handle_group(s, cfg, &l, rows, idx, n, &ret->handled, err);
		if (rc)
			goto out;
	}
out:
	for (size_t i = 0; rows && i < l.nr; i++)
		nsh_github_decision_release(&rows[i].d);
	free(rows);
	free(idx);
	free(done);
	nsh_strvec_release(&waiting);
	nsh_webhook_list_release(&l);
	return rc;
}
