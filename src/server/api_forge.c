/*
 * Endpoints for organisations, repositories and pull requests: reading
 * them, and the review actions that start the feedback flow (comments,
 * inline comments, approvals, change requests), merge and close. Every
 * change goes through the forge (src/forge/), which appends the matching
 * event to the task's log.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "orch/feedback.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define INLINE_MAX 100 /* inline comments in one review */

/* The pull request the path names ({org}/{repo}/{n}). */
static int path_pr(const struct nsh_srv_req *r, struct nsh_forge_ref *ret, struct nsh_err *err)
{
	return nsh_forge_ref_set(ret, r->m.param[0], r->m.param[1], r->m.number, err);
}

/* Who acts: the body's "author", else the user the daemon runs as. */
static int author_of(const json_t *body, const char **ret, struct nsh_err *err)
{
	const char *user = getenv("USER");
	int rc;

	rc = nsh_srv_field_str(body, "author", NSH_FORGE_AUTHOR_MAX, ret, err);
	if (rc)
		return rc;
	if (*ret && !**ret)
		return nsh_err_set(err, NSH_EINVAL, "field 'author' must not be empty");
	if (!*ret)
		*ret = user && *user ? user : "user";
	return 0;
}

/* ---- organisations and repositories ---- */

int nsh_api_orgs_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_org_list l = {0};
	struct nsh_store *s;
	json_t *a;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_org_list(s, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++) {
		struct nsh_repo_list repos = {0};
		json_t *names = json_array();

		rc = nsh_store_repo_list(s, l.v[i].name, &repos, err);
		for (size_t k = 0; !rc && k < repos.nr; k++)
			json_array_append_new(names, json_string(repos.v[k].name));
		nsh_repo_list_release(&repos);
		json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name", l.v[i].name, "forge",
						   l.v[i].forge, "repos", names));
		if (rc) {
			json_decref(a);
			goto out;
		}
	}
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "orgs", a));
out:
	nsh_org_list_release(&l);
	return rc;
}

int nsh_api_org_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_repo_list l = {0};
	struct nsh_org_rec o = {0};
	struct nsh_forge *f;
	struct nsh_store *s;
	json_t *a;
	int rc;

	rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_org_get(s, r->m.param[0], &o, err);
	if (!rc)
		rc = nsh_forge_repo_list(f, r->m.param[0], &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++)
		json_array_append_new(a, nsh_forge_repo_to_json(&l.v[i]));
	nsh_srv_reply_json(r, 200,
			   json_pack("{s:{s:s, s:s}, s:o}", "org", "name", o.name, "forge", o.forge,
				     "repos", a));
out:
	nsh_org_rec_release(&o);
	nsh_forge_repo_list_release(&l);
	return rc;
}

int nsh_api_repo_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_repo repo = {0};
	struct nsh_forge *f;
	int rc;

	rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_repo_get(f, r->m.param[0], r->m.param[1], &repo, err);
	if (!rc)
		nsh_srv_reply_json(r, 200,
				   json_pack("{s:o}", "repo", nsh_forge_repo_to_json(&repo)));
	nsh_forge_repo_release(&repo);
	return rc;
}

/* ---- pull requests ---- */

int nsh_api_prs_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_pr_filter flt = {0};
	struct nsh_pr_list l = {0};
	struct nsh_forge *f;
	size_t limit;
	json_t *a;
	int rc;

	flt.task_id = nsh_srv_query(r, "task");
	if (flt.task_id && !nsh_id_valid("t", flt.task_id))
		return nsh_err_set(err, NSH_EINVAL, "invalid task id '%.40s'", flt.task_id);
	flt.org = nsh_srv_query(r, "org");
	if (flt.org && nsh_forge_check_name("org", flt.org, err))
		return NSH_EINVAL;
	flt.repo = nsh_srv_query(r, "repo");
	if (flt.repo && nsh_forge_check_name("repository", flt.repo, err))
		return NSH_EINVAL;
	flt.state = nsh_srv_query(r, "state");
	if (flt.state && strcmp(flt.state, "open") && strcmp(flt.state, "draft") &&
	    strcmp(flt.state, "merged") && strcmp(flt.state, "closed"))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid state '%.40s' (use open, draft, merged or closed)",
				   flt.state);
	rc = nsh_srv_query_count(r, "limit", NSH_SRV_LIST_DEFAULT, NSH_SRV_LIST_MAX, &limit, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_list(f, &flt, &l, err);
	if (rc)
		goto out;
	if (!limit)
		limit = NSH_SRV_LIST_DEFAULT;
	a = json_array();
	for (size_t i = 0; i < l.nr && i < limit; i++) {
		json_t *p = nsh_forge_pr_to_json(&l.v[i]);

		json_object_del(p, "body"); /* lists stay small; GET one for its body */
		json_array_append_new(a, p);
	}
	nsh_srv_reply_json(r, 200, json_pack("{s:o, s:I}", "prs", a, "total", (json_int_t)l.nr));
out:
	nsh_pr_list_release(&l);
	return rc;
}

int nsh_api_pr_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_pr_rec p = {0};
	struct nsh_pr_head_list heads = {0};
	struct nsh_forge *f;
	json_t *o, *a;
	int rc;

	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_get(f, &ref, &p, err);
	if (!rc)
		rc = nsh_forge_pr_heads(f, &ref, &heads, err);
	if (rc)
		goto out;
	o = nsh_forge_pr_to_json(&p);
	a = json_array();
	for (size_t i = 0; i < heads.nr; i++)
		json_array_append_new(a, nsh_forge_head_to_json(&heads.v[i]));
	json_object_set_new(o, "heads", a);
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "pr", o));
out:
	nsh_pr_head_list_release(&heads);
	nsh_pr_rec_release(&p);
	return rc;
}

int nsh_api_pr_diff(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_buf diff = NSH_BUF_INIT;
	const char *head = nsh_srv_query(r, "head");
	struct nsh_forge *f;
	int rc;

	if (head && (strlen(head) < 4 || strlen(head) > NSH_FORGE_SHA_MAX ||
		     strspn(head, "0123456789abcdef") != strlen(head)))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid head '%.70s' (expected 4 to 64 lower-case hex digits)",
				   head);
	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_diff(f, &ref, head, &diff, err);
	if (!rc)
		nsh_srv_reply_json(
			r, 200,
			json_pack("{s:o}", "diff", nsh_json_string_lossy(diff.buf, diff.len)));
	nsh_buf_release(&diff);
	return rc;
}

int nsh_api_pr_comments(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_pr_comment_list l = {0};
	struct nsh_forge *f;
	json_t *a;
	int rc;

	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_comments(f, &ref, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++)
		json_array_append_new(a, nsh_forge_comment_to_json(&l.v[i]));
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "comments", a));
out:
	nsh_pr_comment_list_release(&l);
	return rc;
}

/* Read one comment ({body, path?, line?, head?, in_reply_to?}) from @o into @c. */
static int read_comment(const json_t *o, const char *where, struct nsh_forge_comment *c,
			struct nsh_err *err)
{
	json_t *line = json_object_get(o, "line"), *reply = json_object_get(o, "in_reply_to");
	int rc;

	if (!json_is_object(o))
		return nsh_err_set(err, NSH_EINVAL, "%s must be an object", where);
	rc = nsh_srv_field_str(o, "body", NSH_FORGE_COMMENT_MAX, &c->body, err);
	if (!rc)
		rc = nsh_srv_field_str(o, "path", NSH_FORGE_PATH_MAX, &c->path, err);
	if (!rc)
		rc = nsh_srv_field_str(o, "head", NSH_FORGE_SHA_MAX, &c->head, err);
	if (rc)
		return nsh_err_wrap(err, "%s", where);
	if (!c->body || !*c->body)
		return nsh_err_set(err, NSH_EINVAL, "%s: field 'body' is required", where);
	if (line && !json_is_null(line)) {
		if (!json_is_integer(line) || json_integer_value(line) < 1 ||
		    json_integer_value(line) > INT32_MAX)
			return nsh_err_set(err, NSH_EINVAL,
					   "%s: field 'line' must be a line number from 1", where);
		c->line = json_integer_value(line);
	}
	if ((c->path != NULL) != (c->line != 0))
		return nsh_err_set(err, NSH_EINVAL,
				   "%s: an inline comment needs both 'path' and 'line'", where);
	if (reply && !json_is_null(reply)) {
		if (!json_is_integer(reply) || json_integer_value(reply) < 1)
			return nsh_err_set(err, NSH_EINVAL,
					   "%s: field 'in_reply_to' must be a comment id", where);
		c->in_reply_to = json_integer_value(reply);
	}
	return 0;
}

/*
 * A comment or review on a job's pull request is feedback for the job
 * (orch/feedback.h). Its failure is logged: the comment itself is kept.
 */
static void take_feedback(struct nsh_srv_req *r, const struct nsh_forge_ref *ref, int64_t id,
			  const char *kind, const char *author, const char *body, const char *path,
			  int64_t line)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_feedback_in in = {0};
	struct nsh_feedback_out out;
	struct nsh_store *s;

	in.org = ref->org;
	in.repo = ref->repo;
	in.number = ref->number;
	in.comment_id = id;
	in.kind = kind;
	in.author = author;
	in.body = body;
	in.path = path;
	in.line = path ? line : 0;
	in.can_write = nsh_feedback_local_can_write(r->srv->config, ref->org, ref->repo, author);
	if (nsh_srv_store(r, &s, &err) || nsh_feedback_intake(s, &in, &out, &err))
		nsh_log_warn("feedback on %s/%s#%lld: %s", ref->org, ref->repo,
			     (long long)ref->number, err.msg);
}

/* A merged or closed pull request ends its job (orch/feedback.h); failures are logged. */
static void job_ended(struct nsh_srv_req *r, const struct nsh_forge_ref *ref, bool merged)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s;

	if (nsh_srv_store(r, &s, &err) ||
	    nsh_feedback_pr_ended(s, ref->org, ref->repo, ref->number, merged, &err))
		nsh_log_warn("ending the job of %s/%s#%lld: %s", ref->org, ref->repo,
			     (long long)ref->number, err.msg);
}

int nsh_api_pr_comment(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_forge_comment c = {0};
	struct nsh_pr_comment_rec rec = {0};
	struct nsh_forge *f;
	struct nsh_store *s;
	json_t *body = NULL;
	int64_t id = 0;
	int rc;

	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_body_json(r, &body, err);
	if (!rc)
		rc = read_comment(body, "comment", &c, err);
	if (!rc)
		rc = author_of(body, &c.author, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_comment(f, &ref, &c, &id, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_pr_comment_get(s, id, &rec, err);
	if (!rc)
		take_feedback(r, &ref, id, c.in_reply_to ? "reply" : "comment", c.author, c.body,
			      c.path, c.line);
	if (!rc)
		nsh_srv_reply_json(r, 201,
				   json_pack("{s:o}", "comment", nsh_forge_comment_to_json(&rec)));
	nsh_pr_comment_rec_release(&rec);
	json_decref(body);
	return rc;
}

/*
 * A review: a verdict ("approve", "request_changes" or "comment"), a body,
 * and inline comments on lines of the diff. Everything is checked before
 * anything is written; the inline comments go first, then the verdict.
 */
int nsh_api_pr_review(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_forge_comment inl[INLINE_MAX];
	struct nsh_pr_rec p = {0};
	struct nsh_forge *f;
	const char *verdict = NULL, *text = NULL, *author = NULL;
	json_t *body = NULL, *comments, *ids = json_array(), *v;
	size_t ninl = 0, i;
	int64_t id = 0;
	int rc;

	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_body_json(r, &body, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "verdict", 32, &verdict, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "body", NSH_FORGE_COMMENT_MAX, &text, err);
	if (!rc)
		rc = author_of(body, &author, err);
	if (rc)
		goto out;
	if (!verdict || (strcmp(verdict, "approve") && strcmp(verdict, "request_changes") &&
			 strcmp(verdict, "comment"))) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "field 'verdict' must be approve, request_changes or comment");
		goto out;
	}
	comments = json_object_get(body, "comments");
	if (comments && !json_is_null(comments)) {
		if (!json_is_array(comments)) {
			rc = nsh_err_set(err, NSH_EINVAL, "field 'comments' must be an array");
			goto out;
		}
		if (json_array_size(comments) > INLINE_MAX) {
			rc = nsh_err_set(err, NSH_ETOOBIG, "more than %d inline comments",
					 INLINE_MAX);
			goto out;
		}
		json_array_foreach(comments, i, v)
		{
			char where[32];

			snprintf(where, sizeof(where), "comments[%zu]", i);
			memset(&inl[ninl], 0, sizeof(inl[0]));
			rc = read_comment(v, where, &inl[ninl], err);
			if (rc)
				goto out;
			inl[ninl++].author = author;
		}
	}
	if ((!text || !*text) &&
	    (!strcmp(verdict, "request_changes") || (!strcmp(verdict, "comment") && !ninl))) {
		rc = nsh_err_set(err, NSH_EINVAL, "a %s review needs field 'body'",
				 !strcmp(verdict, "comment") ? "comment" : "request_changes");
		goto out;
	}
	rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_get(f, &ref, &p, err);
	if (rc)
		goto out;
	if (strcmp(verdict, "comment") && strcmp(p.state, "open") && strcmp(p.state, "draft")) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "pull request '%s/%s#%lld' is %s", ref.org,
				 ref.repo, (long long)ref.number, p.state);
		goto out;
	}
	for (i = 0; i < ninl; i++) {
		rc = nsh_forge_pr_comment(f, &ref, &inl[i], &id, err);
		if (rc) {
			nsh_err_wrap(err, "comments[%zu]", i);
			goto out;
		}
		json_array_append_new(ids, json_integer(id));
		take_feedback(r, &ref, id, "comment", author, inl[i].body, inl[i].path,
			      inl[i].line);
	}
	id = 0;
	if (!strcmp(verdict, "comment")) {
		if (text && *text) {
			struct nsh_forge_comment c = {.author = author, .body = text};

			rc = nsh_forge_pr_comment(f, &ref, &c, &id, err);
		}
	} else {
		rc = nsh_forge_pr_review(f, &ref,
					 !strcmp(verdict, "approve") ? NSH_FORGE_APPROVE
								     : NSH_FORGE_REQUEST_CHANGES,
					 author, text && *text ? text : NULL, &id, err);
	}
	if (rc)
		goto out;
	if (id && text && *text)
		take_feedback(r, &ref, id, verdict, author, text, NULL, 0);
	nsh_srv_reply_json(r, 201,
			   json_pack("{s:s, s:o, s:O}", "verdict", verdict, "review",
				     id ? json_integer(id) : json_null(), "comments", ids));
out:
	nsh_pr_rec_release(&p);
	json_decref(ids);
	json_decref(body);
	return rc;
}

static int reply_pr(struct nsh_srv_req *r, struct nsh_forge *f, const struct nsh_forge_ref *ref,
		    struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	int rc;

	rc = nsh_forge_pr_get(f, ref, &p, err);
	if (!rc)
		nsh_srv_reply_json(r, 200, json_pack("{s:o}", "pr", nsh_forge_pr_to_json(&p)));
	nsh_pr_rec_release(&p);
	return rc;
}

int nsh_api_pr_merge(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_forge *f;
	const char *author = NULL;
	json_t *body = NULL;
	int rc;

	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_body_json(r, &body, err);
	if (!rc)
		rc = author_of(body, &author, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_merge(f, &ref, author, NULL, err);
	if (!rc)
		job_ended(r, &ref, true);
	if (!rc)
		rc = reply_pr(r, f, &ref, err);
	json_decref(body);
	return rc;
}

int nsh_api_pr_close(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_forge_ref ref;
	struct nsh_forge *f;
	const char *author = NULL;
	json_t *body = NULL;
	int rc;

	rc = path_pr(r, &ref, err);
	if (!rc)
		rc = nsh_srv_body_json(r, &body, err);
	if (!rc)
		rc = author_of(body, &author, err);
	if (!rc)
		rc = nsh_srv_forge(r, &f, err);
	if (!rc)
		rc = nsh_forge_pr_close(f, &ref, author, err);
	if (!rc)
		job_ended(r, &ref, false);
	if (!rc)
		rc = reply_pr(r, f, &ref, err);
	json_decref(body);
	return rc;
}
