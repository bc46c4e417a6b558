/*
 * Pull requests of the local forge: rows in the store (prs, pr_heads,
 * pr_comments), branches and merges in the bare repositories.
 *
 * Each change is one store transaction that also appends the task's event.
 * Git work that takes time (merge-tree, diff) runs before the transaction,
 * so the store's write lock is held only for the rows and a ref update.
 */
#include "forge/forge_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "store/store.h"

#include "core/banned.h"

/* Largest file whose lines an inline comment is checked against. */
#define BLOB_CHECK_MAX ((size_t)32 << 20)
/* Conflicting files named in a merge error. */
#define CONFLICTS_NAMED 8

int nsh_forge_local_pr_get(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			   struct nsh_pr_rec *ret, struct nsh_err *err)
{
	return nsh_store_pr_get(f->store, pr->org, pr->repo, pr->number, ret, err);
}

/* Commit the open transaction, or roll it back when @rc already failed. */
static int finish(struct nsh_forge *f, int rc, struct nsh_err *err)
{
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
	return rc;
}

/* The bare repository of @p, which must exist; the caller frees it. */
static int bare_of(struct nsh_forge *f, const char *org, const char *repo, char **ret,
		   struct nsh_err *err)
{
	return f->ops->repo_path(f, org, repo, ret, err);
}

/* @labels (NULL-terminated, may be NULL) checked and without repeats, into @out. */
static int take_labels(const char *const *labels, struct nsh_strvec *out, struct nsh_err *err)
{
	nsh_strvec_init(out);
	for (size_t i = 0; labels && labels[i]; i++) {
		int rc = nsh_forge_check_text("label", labels[i], NSH_FORGE_LABEL_MAX, true, true,
					      err);

		if (!rc && out->nr >= NSH_FORGE_LABELS_MAX)
			rc = nsh_err_set(err, NSH_EINVAL, "more than %d labels",
					 NSH_FORGE_LABELS_MAX);
		if (rc) {
			nsh_strvec_release(out);
			return rc;
		}
		if (nsh_strvec_find(out, labels[i]) < 0)
			nsh_strvec_push(out, labels[i]);
	}
	return 0;
}

static bool is_state(const struct nsh_pr_rec *p, const char *state)
{
	return !strcmp(p->state, state);
}

/* NSH_ECONFLICT unless @p is open or a draft; @what says what was refused. */
static int check_active(const struct nsh_pr_rec *p, const char *what, struct nsh_err *err)
{
	if (is_state(p, "open") || is_state(p, "draft"))
		return 0;
	return nsh_err_set(err, NSH_ECONFLICT, "pull request '%s/%s#%lld' is %s; %s", p->org,
			   p->repo, (long long)p->number, p->state, what);
}

/* ---- opening ---- */

/*
 * The task, job and author of a new pull request, checked against the
 * store: a job must exist and work on this repository; its task is the
 * pull request's task.
 */
static int check_owner(struct nsh_forge *f, const struct nsh_forge_pr_new *n, char **ret_task,
		       struct nsh_err *err)
{
	struct nsh_job_rec job = {0};
	char *want = NULL;
	int rc = 0;

	*ret_task = NULL;
	if (n->job_id) {
		rc = nsh_store_job_get(f->store, n->job_id, &job, err);
		if (rc == NSH_ENOTFOUND)
			rc = nsh_err_set(err, NSH_EINVAL, "no job '%s'", n->job_id);
		if (rc)
			goto out;
		want = nsh_xasprintf("%s/%s", n->org, n->repo);
		if (strcmp(job.repo, want)) {
			rc = nsh_err_set(err, NSH_EINVAL, "job '%s' works on '%s', not on '%s'",
					 n->job_id, job.repo, want);
			goto out;
		}
		if (n->task_id && strcmp(n->task_id, job.task_id)) {
			rc = nsh_err_set(err, NSH_EINVAL, "job '%s' belongs to task '%s', not '%s'",
					 n->job_id, job.task_id, n->task_id);
			goto out;
		}
		*ret_task = nsh_xstrdup(job.task_id);
	} else if (n->task_id) {
		if (!nsh_store_task_exists(f->store, n->task_id)) {
			rc = nsh_err_set(err, NSH_EINVAL, "no task '%s'", n->task_id);
			goto out;
		}
		*ret_task = nsh_xstrdup(n->task_id);
	}
	if (!n->author && !n->job_id)
		rc = nsh_err_set(err, NSH_EINVAL, "a pull request needs an author");
out:
	if (rc) {
		free(*ret_task);
		*ret_task = NULL;
	}
	free(want);
	nsh_job_rec_release(&job);
	return rc;
}

/*
 * The pull request that @n repeats, if any: the job's, or the open or draft
 * one of the same head branch. *@ret_found says whether there is one.
 */
static int find_existing(struct nsh_forge *f, const struct nsh_forge_pr_new *n, int64_t repo_id,
			 struct nsh_pr_rec *ret, bool *ret_found, struct nsh_err *err)
{
	int rc = NSH_ENOTFOUND;

	if (n->job_id)
		rc = nsh_store_pr_find_job(f->store, n->job_id, ret, err);
	if (rc == NSH_ENOTFOUND)
		rc = nsh_store_pr_find_head(f->store, repo_id, n->head, ret, err);
	*ret_found = rc == 0;
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	}
	return rc;
}

/*
 * The usual case read from files, without git: both branches loose refs,
 * and the head's commit a loose object whose first parent is the base's
 * commit (as a job's one commit on its base is, pushed as loose objects).
 * The head then has a commit the base lacks: itself.
 */
static bool head_on_base(const char *bare, const char *head_ref, const char *base_ref,
			 char out[NSH_FORGE_SHA_MAX + 1])
{
	char head[NSH_FORGE_SHA_MAX + 1], base[NSH_FORGE_SHA_MAX + 1],
		parent[NSH_FORGE_SHA_MAX + 1];

	if (!nsh_forge_loose_ref(bare, head_ref, head) ||
	    !nsh_forge_loose_ref(bare, base_ref, base) ||
	    !nsh_forge_loose_parent(bare, head, parent) || strcmp(parent, base))
		return false;
	memcpy(out, head, strlen(head) + 1);
	return true;
}

/*
 * The commit of the branch @head_ref (a full ref name) of the repository
 * @bare into @out when it has commits that @base_ref lacks, in one git run;
 * false when it does not, or is not there, or the run failed: the caller
 * looks again, step by step, for the answer and its message.
 */
static bool head_ahead(const char *bare, const char *head_ref, const char *base_ref,
		       char out[NSH_FORGE_SHA_MAX + 1])
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err gerr = NSH_ERR_INIT;
	char *merged = nsh_xasprintf("--no-merged=%s", base_ref);
	bool ok = head_on_base(bare, head_ref, base_ref, out);

	if (ok)
		goto out;
	/* a pattern also matches the refs below it ("a" matches "a/b"): names compared */
	if (nsh_forge_git_run(bare, &b, 0, NULL, &gerr, "for-each-ref",
			      "--format=%(objectname) %(objecttype) %(refname)", merged, head_ref,
			      NULL))
		goto out;
	for (char *line = b.buf, *nl; !ok && (nl = strchr(line, '\n')); line = nl + 1) {
		char *sp = strchr(line, ' ');
		size_t len = sp ? (size_t)(sp - line) : 0;

		*nl = '\0';
		if (sp && (len == 40 || len == 64) && strspn(line, "0123456789abcdef") == len &&
		    !strncmp(sp + 1, "commit ", 7) && !strcmp(sp + 8, head_ref)) {
			memcpy(out, line, len);
			out[len] = '\0';
			ok = true;
		}
	}
out:
	nsh_buf_release(&b);
	free(merged);
	return ok;
}

int nsh_forge_local_pr_open(struct nsh_forge *f, const struct nsh_forge_pr_new *n,
			    struct nsh_pr_rec *ret, bool *ret_existed, struct nsh_err *err)
{
	struct nsh_strvec labels = NSH_STRVEC_INIT;
	struct nsh_repo_rec row = {0};
	struct nsh_pr_rec p = {0};
	char head_sha[NSH_FORGE_SHA_MAX + 1], base_sha[NSH_FORGE_SHA_MAX + 1];
	char *bare = NULL, *ref = NULL, *task = NULL;
	const char *base;
	bool found = false, in_base = false, existed = false;
	int64_t id = 0, number = 0;
	int rc;

	rc = nsh_forge_check_text("title", n->title, NSH_FORGE_TITLE_MAX, true, true, err);
	if (!rc)
		rc = nsh_forge_check_text("body", n->body, NSH_FORGE_BODY_MAX, false, false, err);
	if (!rc)
		rc = nsh_forge_check_text("author", n->author, NSH_FORGE_AUTHOR_MAX, true, false,
					  err);
	if (!rc)
		rc = take_labels(n->labels, &labels, err);
	if (!rc)
		rc = nsh_store_repo_get(f->store, n->org, n->repo, &row, err);
	if (!rc)
		rc = check_owner(f, n, &task, err);
	if (rc)
		goto out;
	base = n->base ? n->base : row.default_branch;
	if (!strcmp(n->head, base)) {
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "the head and the base of a pull request must differ (both '%s')",
				 base);
		goto out;
	}
	rc = find_existing(f, n, row.id, &p, &existed, err);
	if (rc || existed)
		goto done;

	rc = bare_of(f, n->org, n->repo, &bare, err);
	if (rc)
		goto out;
	{
		char *head_ref = nsh_xasprintf("refs/heads/%s", n->head);
		bool head_found = false;

		ref = nsh_xasprintf("refs/heads/%s", base);
		/* the usual case in one git run; anything else looked at step by step */
		if (head_ahead(bare, head_ref, ref, head_sha)) {
			free(head_ref);
			goto checked;
		}
		rc = nsh_forge_git_commit2(bare, head_ref, ref, head_sha, base_sha, &head_found,
					   &found, err);
		free(head_ref);
		if (!rc && !head_found)
			rc = nsh_err_set(err, NSH_ENOTFOUND,
					 "no branch '%s' in '%s/%s'; push it first", n->head,
					 n->org, n->repo);
	}
	if (!rc && !found)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no base branch '%s' in '%s/%s'", base, n->org,
				 n->repo);
	if (!rc)
		rc = nsh_forge_git_is_ancestor(bare, head_sha, base_sha, &in_base, err);
	if (!rc && in_base)
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "branch '%s' has no commits that '%s' lacks; nothing to review",
				 n->head, base);
	if (rc)
		goto out;
checked:
	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	/* Again under the lock: another writer may have opened it meanwhile. */
	rc = find_existing(f, n, row.id, &p, &existed, err);
	if (rc || existed) {
		rc = finish(f, rc, err);
		goto done;
	}
	p.repo_id = row.id;
	p.task_id = task;
	p.job_id = (char *)n->job_id;
	p.head = (char *)n->head;
	p.base = (char *)base;
	p.title = (char *)n->title;
	p.body = (char *)n->body;
	p.state = (char *)(n->draft ? "draft" : "open");
	p.author = (char *)(n->author ? n->author : n->job_id);
	p.labels = labels;
	nsh_strvec_init(&labels);
	rc = nsh_store_pr_insert(f->store, &p, &id, &number, err);
	if (!rc)
		rc = nsh_store_pr_head_add(f->store, id, head_sha, false, p.author, NULL, err);
	p.task_id = p.job_id = p.head = p.base = p.title = p.body = p.state = p.author = NULL;
	free(ref);
	ref = nsh_xasprintf("refs/pull/%lld/heads/1", (long long)number);
	/* over HTTP the ref is pushed once the row is committed: the node checks it */
	if (!rc && !f->url)
		rc = nsh_forge_git_update_ref(bare, ref, head_sha, NULL,
					      "nightshift: pull request head", err);
	nsh_pr_rec_release(&p);
	if (!rc)
		rc = nsh_store_pr_get_id(f->store, id, &p, err);
	if (!rc)
		rc = nsh_forge_local_event(f, &p, "pr.opened",
					   json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "title",
						     p.title, "author", p.author, "head", p.head,
						     "base", p.base, "head_sha", head_sha, "draft",
						     n->draft),
					   err);
	rc = finish(f, rc, err);
done:
	/* over HTTP: the head refs (again, when a crash cut the push short) */
	if (!rc && f->url && !bare)
		rc = bare_of(f, n->org, n->repo, &bare, err);
	if (!rc && f->url)
		rc = nsh_forge_remote_pull_refs(f, &p, bare, err);
	if (!rc) {
		if (ret_existed)
			*ret_existed = existed;
		if (ret) {
			*ret = p;
			memset(&p, 0, sizeof(p));
		}
	}
out:
	nsh_strvec_release(&labels);
	nsh_pr_rec_release(&p);
	nsh_repo_rec_release(&row);
	free(bare);
	free(ref);
	free(task);
	return rc;
}

/* ---- changing ---- */

int nsh_forge_local_pr_update(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			      const struct nsh_forge_pr_change *c, struct nsh_err *err)
{
	struct nsh_strvec labels = NSH_STRVEC_INIT;
	struct nsh_pr_rec p = {0};
	json_t *changes = json_array();
	int rc;

	rc = nsh_forge_check_text("title", c->title, NSH_FORGE_TITLE_MAX, true, false, err);
	if (!rc && c->title && !*c->title)
		rc = nsh_err_set(err, NSH_EINVAL, "the title is empty");
	if (!rc)
		rc = nsh_forge_check_text("body", c->body, NSH_FORGE_BODY_MAX, false, false, err);
	if (!rc && c->set_labels)
		rc = take_labels(c->labels, &labels, err);
	if (!rc && c->state && strcmp(c->state, "open") && strcmp(c->state, "draft"))
		rc = nsh_err_set(err, NSH_EINVAL,
				 "a pull request can only be made 'open' or 'draft' here, not "
				 "'%s'",
				 c->state);
	if (rc)
		goto out;
	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (!rc)
		rc = check_active(&p, "it cannot change any more", err);
	if (rc)
		goto txn;
	if (c->title && strcmp(c->title, p.title)) {
		free(p.title);
		p.title = nsh_xstrdup(c->title);
		json_array_append_new(changes, json_string("title"));
	}
	if (c->body && strcmp(c->body, p.body)) {
		free(p.body);
		p.body = nsh_xstrdup(c->body);
		json_array_append_new(changes, json_string("body"));
	}
	if (c->set_labels) {
		bool same = labels.nr == p.labels.nr;

		for (size_t i = 0; same && i < labels.nr; i++)
			same = !strcmp(labels.v[i], p.labels.v[i]);
		if (!same) {
			nsh_strvec_release(&p.labels);
			p.labels = labels;
			nsh_strvec_init(&labels);
			json_array_append_new(changes, json_string("labels"));
		}
	}
	if (c->state && strcmp(c->state, p.state)) {
		free(p.state);
		p.state = nsh_xstrdup(c->state);
		json_array_append_new(changes, json_string("state"));
	}
	if (!json_array_size(changes))
		goto txn;
	rc = nsh_store_pr_save(f->store, &p, err);
	if (!rc)
		rc = nsh_forge_local_event(f, &p, "pr.updated",
					   json_pack("{s:O, s:s, s:s?}", "changes", changes,
						     "state", p.state, "by", c->by),
					   err);
txn:
	rc = finish(f, rc, err);
out:
	json_decref(changes);
	nsh_strvec_release(&labels);
	nsh_pr_rec_release(&p);
	return rc;
}

int nsh_forge_local_pr_list(struct nsh_forge *f, const struct nsh_pr_filter *flt,
			    struct nsh_pr_list *ret, struct nsh_err *err)
{
	return nsh_store_pr_list(f->store, flt, ret, err);
}

int nsh_forge_local_pr_heads(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			     struct nsh_pr_head_list *ret, struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	int rc = nsh_forge_local_pr_get(f, pr, &p, err);

	if (!rc)
		rc = nsh_store_pr_head_list(f->store, p.id, ret, err);
	nsh_pr_rec_release(&p);
	return rc;
}

/* ---- comments and reviews ---- */

/*
 * The recorded head of @p that @want names (a full id or a unique prefix of
 * at least 4 hex digits; NULL for the newest) into @out. NSH_EINVAL when
 * none or several match, or when @p has no head.
 */
static int pick_head(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *want,
		     char out[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err)
{
	struct nsh_pr_head_list heads = {0};
	const char *match = NULL;
	size_t len = want ? strlen(want) : 0;
	int rc;

	if (!want) {
		if (!p->head_sha)
			return nsh_err_set(err, NSH_EINVAL, "pull request '%s/%s#%lld' has no head",
					   p->org, p->repo, (long long)p->number);
		memcpy(out, p->head_sha, strlen(p->head_sha) + 1);
		return 0;
	}
	if (len < 4 || len > NSH_FORGE_SHA_MAX || strspn(want, "0123456789abcdef") != len)
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid head: give a commit id or at least 4 of its first "
				   "hex digits");
	rc = nsh_store_pr_head_list(f->store, p->id, &heads, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < heads.nr; i++) {
		if (strncmp(heads.v[i].sha, want, len))
			continue;
		if (match && strcmp(match, heads.v[i].sha)) {
			rc = nsh_err_set(err, NSH_EINVAL,
					 "head '%s' is ambiguous; give more digits", want);
			goto out;
		}
		match = heads.v[i].sha;
	}
	if (!match) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "'%s' is not a head of pull request '%s/%s#%lld' (see its head "
				 "history)",
				 want, p->org, p->repo, (long long)p->number);
		goto out;
	}
	memcpy(out, match, strlen(match) + 1);
out:
	nsh_pr_head_list_release(&heads);
	return rc;
}

/* A repository-relative file path: no leading '/', no empty, "." or ".." part. */
static bool path_ok(const char *path)
{
	const char *c = path;

	if (!*path || *path == '/' || path[strlen(path) - 1] == '/')
		return false;
	while (c) {
		size_t n = strcspn(c, "/");

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = c[n] ? c + n + 1 : NULL;
	}
	return true;
}

/* Check that file @path has line @line in commit @sha of @bare. */
static int check_anchor(const struct nsh_pr_rec *p, const char *bare, const char *sha,
			const char *path, int64_t line, struct nsh_err *err)
{
	struct nsh_buf blob = NSH_BUF_INIT;
	char *spec;
	int64_t lines = 0;
	int rc;

	if (!path_ok(path))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid file path '%s': give it relative to the repository's "
				   "top, like 'src/app.js'",
				   path);
	spec = nsh_xasprintf("%s:%s", sha, path);
	rc = nsh_forge_git_run(bare, &blob, BLOB_CHECK_MAX, NULL, err, "cat-file", "blob", spec,
			       NULL);
	if (rc == NSH_ETOOBIG) {
		/* too large to count its lines: the file exists, take the line as given */
		nsh_err_clear(err);
		rc = 0;
		goto out;
	}
	if (rc) {
		rc = nsh_err_set(err, NSH_EINVAL, "no file '%s' in head %.12s of '%s/%s#%lld'",
				 path, sha, p->org, p->repo, (long long)p->number);
		goto out;
	}
	for (size_t i = 0; i < blob.len; i++)
		lines += blob.buf[i] == '\n';
	if (blob.len && blob.buf[blob.len - 1] != '\n')
		lines++;
	if (line > lines)
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' has %lld line%s in head %.12s, not %lld",
				 path, (long long)lines, lines == 1 ? "" : "s", sha,
				 (long long)line);
out:
	free(spec);
	nsh_buf_release(&blob);
	return rc;
}

int nsh_forge_local_pr_comment(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			       const struct nsh_forge_comment *c, int64_t *ret_id,
			       struct nsh_err *err)
{
	struct nsh_pr_comment_rec row = {0}, parent = {0};
	struct nsh_pr_rec p = {0};
	char sha[NSH_FORGE_SHA_MAX + 1] = "";
	char *bare = NULL;
	int64_t id = 0;
	int rc;

	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (rc)
		goto out;
	if (c->head || c->path || p.head_sha)
		rc = pick_head(f, &p, c->head, sha, err);
	if (!rc && c->path) {
		rc = bare_of(f, pr->org, pr->repo, &bare, err);
		if (!rc)
			rc = check_anchor(&p, bare, sha, c->path, c->line, err);
	}
	if (!rc && c->in_reply_to) {
		rc = nsh_store_pr_comment_get(f->store, c->in_reply_to, &parent, err);
		if (!rc && parent.pr_id != p.id)
			rc = NSH_ENOTFOUND;
		if (rc == NSH_ENOTFOUND)
			rc = nsh_err_set(err, NSH_EINVAL,
					 "pull request '%s/%s#%lld' has no comment %lld", p.org,
					 p.repo, (long long)p.number, (long long)c->in_reply_to);
	}
	if (rc)
		goto out;
	row.pr_id = p.id;
	row.kind = (char *)(c->in_reply_to ? "reply" : "comment");
	row.author = (char *)c->author;
	row.body = (char *)c->body;
	row.path = (char *)c->path;
	row.line = c->path ? c->line : 0;
	row.head_sha = sha[0] ? sha : NULL;
	row.in_reply_to = c->in_reply_to;
	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	rc = nsh_store_pr_comment_add(f->store, &row, &id, err);
	if (!rc)
		rc = nsh_forge_local_event(
			f, &p, "pr.comment",
			json_pack("{s:I, s:s, s:s, s:s?, s:o, s:s?, s:o}", "comment",
				  (json_int_t)id, "kind", row.kind, "author", c->author, "path",
				  c->path, "line", c->path ? json_integer(c->line) : json_null(),
				  "head_sha", row.head_sha, "in_reply_to",
				  c->in_reply_to ? json_integer(c->in_reply_to) : json_null()),
			err);
	rc = finish(f, rc, err);
	if (!rc && ret_id)
		*ret_id = id;
out:
	nsh_pr_comment_rec_release(&parent);
	nsh_pr_rec_release(&p);
	free(bare);
	return rc;
}

int nsh_forge_local_pr_review(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			      enum nsh_forge_verdict verdict, const char *author, const char *body,
			      int64_t *ret_id, struct nsh_err *err)
{
	const char *kind = verdict == NSH_FORGE_APPROVE ? "approve" : "request_changes";
	struct nsh_pr_comment_rec row = {0};
	struct nsh_pr_rec p = {0};
	int64_t id = 0;
	int rc;

	rc = nsh_store_begin(f->store, err);
	if (rc)
		return rc;
	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (!rc)
		rc = check_active(&p, "reviews are for open pull requests", err);
	if (rc)
		goto out;
	row.pr_id = p.id;
	row.kind = (char *)kind;
	row.author = (char *)author;
	row.body = (char *)(body ? body : "");
	row.head_sha = p.head_sha;
	rc = nsh_store_pr_comment_add(f->store, &row, &id, err);
	if (!rc)
		rc = nsh_forge_local_event(f, &p, "pr.review",
					   json_pack("{s:I, s:s, s:s, s:s?}", "comment",
						     (json_int_t)id, "verdict", kind, "author",
						     author, "head_sha", p.head_sha),
					   err);
out:
	rc = finish(f, rc, err);
	if (!rc && ret_id)
		*ret_id = id;
	nsh_pr_rec_release(&p);
	return rc;
}

int nsh_forge_local_pr_comments(struct nsh_forge *f, const struct nsh_forge_ref *pr,
				struct nsh_pr_comment_list *ret, struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	int rc = nsh_forge_local_pr_get(f, pr, &p, err);

	if (!rc)
		rc = nsh_store_pr_comment_list(f->store, p.id, ret, err);
	nsh_pr_rec_release(&p);
	return rc;
}

/* ---- merging and closing ---- */

/*
 * NSH_ECONFLICT for a merge that does not apply, naming the files git
 * listed in @out after the tree id (NUL-separated, from "merge-tree -z
 * --name-only").
 */
static int conflict_error(const struct nsh_pr_rec *p, const struct nsh_buf *out,
			  struct nsh_err *err)
{
	struct nsh_buf msg = NSH_BUF_INIT;
	size_t named = 0, more = 0;
	const char *end = out->buf + out->len;
	int rc;

	for (const char *s = out->buf + strlen(out->buf) + 1; s < end; s += strlen(s) + 1) {
		if (!*s)
			continue;
		if (named < CONFLICTS_NAMED)
			nsh_buf_addf(&msg, "%s'%s'", named ? ", " : "", s);
		else
			more++;
		named++;
	}
	if (more)
		nsh_buf_addf(&msg, " and %zu more", more);
	rc = nsh_err_set(err, NSH_ECONFLICT,
			 "pull request '%s/%s#%lld' does not merge cleanly into '%s': %s%s", p->org,
			 p->repo, (long long)p->number, p->base,
			 msg.len ? "conflicts in " : "conflicts", msg.buf);
	nsh_buf_release(&msg);
	return rc;
}

/*
 * Make the merge commit of @head into @base in @bare without a work tree:
 * its id goes to @out. NSH_ECONFLICT when the trees conflict.
 */
static int make_merge(const struct nsh_pr_rec *p, const char *bare, const char *base,
		      const char *head, char out[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *tree = NULL, *msg = NULL;
	int code = 0;
	int rc;

	rc = nsh_forge_git_run(bare, &b, 0, &code, err, "merge-tree", "--write-tree", "-z",
			       "--name-only", "--no-messages", base, head, NULL);
	if (rc)
		goto out;
	if (code) {
		rc = conflict_error(p, &b, err);
		goto out;
	}
	tree = nsh_xstrndup(b.buf, strcspn(b.buf, "\n"));
	msg = nsh_xasprintf("Merge pull request #%lld from %s/%s:%s\n\n%s\n", (long long)p->number,
			    p->org, p->repo, p->head, p->title);
	nsh_buf_reset(&b);
	rc = nsh_forge_git_run(bare, &b, 0, NULL, err, "commit-tree", "-p", base, "-p", head, "-m",
			       msg, tree, NULL);
	if (rc)
		goto out;
	nsh_buf_trim(&b);
	if (b.len > NSH_FORGE_SHA_MAX || strspn(b.buf, "0123456789abcdef") != b.len || b.len < 40) {
		rc = nsh_err_set(err, NSH_EIO, "git commit-tree gave no commit id");
		goto out;
	}
	memcpy(out, b.buf, b.len + 1);
out:
	nsh_buf_release(&b);
	free(tree);
	free(msg);
	return rc;
}

int nsh_forge_local_pr_merge(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
			     char ret_sha[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	char head[NSH_FORGE_SHA_MAX + 1], base[NSH_FORGE_SHA_MAX + 1];
	char merge[NSH_FORGE_SHA_MAX + 1];
	char *bare = NULL, *ref = NULL, *why = NULL;
	bool found = false, in_base = false;
	int rc;

	if (f->url) {
		rc = nsh_err_set(err, NSH_EDENIED,
				 "pull requests are merged on the node that holds the forge ('%s')",
				 f->url);
		goto out;
	}
	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (rc)
		goto out;
	if (is_state(&p, "draft")) {
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "pull request '%s/%s#%lld' is a draft; mark it ready for review "
				 "before merging",
				 p.org, p.repo, (long long)p.number);
		goto out;
	}
	rc = check_active(&p, "only an open pull request can be merged", err);
	if (!rc)
		rc = bare_of(f, p.org, p.repo, &bare, err);
	if (!rc)
		rc = pick_head(f, &p, NULL, head, err);
	ref = nsh_xasprintf("refs/heads/%s", p.base);
	if (!rc)
		rc = nsh_forge_git_commit(bare, ref, base, &found, err);
	if (!rc && !found)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "base branch '%s' of '%s/%s' is gone", p.base,
				 p.org, p.repo);
	if (!rc)
		rc = nsh_forge_git_is_ancestor(bare, head, base, &in_base, err);
	if (rc)
		goto out;
	if (in_base) {
		/* merged already, by other means: nothing to commit */
		memcpy(merge, head, sizeof(merge));
	} else {
		rc = make_merge(&p, bare, base, head, merge, err);
		if (rc)
			goto out;
		why = nsh_xasprintf("nightshift: merge pull request #%lld", (long long)p.number);
		rc = nsh_forge_git_update_ref(bare, ref, merge, base, why, err);
		if (rc == NSH_ECONFLICT)
			nsh_err_set(err, rc,
				    "branch '%s' of '%s/%s' moved while merging; try again", p.base,
				    p.org, p.repo);
		if (rc)
			goto out;
	}

	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	nsh_pr_rec_release(&p);
	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (!rc) {
		free(p.state);
		p.state = nsh_xstrdup("merged");
		p.merge_sha = nsh_xstrdup(merge);
		p.closed_by = by ? nsh_xstrdup(by) : NULL;
		p.closed_ms = nsh_time_now_ms();
		rc = nsh_store_pr_save(f->store, &p, err);
	}
	if (!rc)
		rc = nsh_forge_local_event(f, &p, "pr.merged",
					   json_pack("{s:s, s:s, s:s, s:s?}", "merge_sha", merge,
						     "head_sha", head, "base", p.base, "by", by),
					   err);
	rc = finish(f, rc, err);
	if (!rc && ret_sha)
		memcpy(ret_sha, merge, sizeof(merge));
out:
	nsh_pr_rec_release(&p);
	free(bare);
	free(ref);
	free(why);
	return rc;
}

int nsh_forge_local_pr_close(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
			     struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	int rc;

	rc = nsh_store_begin(f->store, err);
	if (rc)
		return rc;
	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (rc || is_state(&p, "closed"))
		goto out;
	rc = check_active(&p, "it cannot be closed", err);
	if (rc)
		goto out;
	free(p.state);
	p.state = nsh_xstrdup("closed");
	p.closed_by = by ? nsh_xstrdup(by) : NULL;
	p.closed_ms = nsh_time_now_ms();
	rc = nsh_store_pr_save(f->store, &p, err);
	if (!rc)
		rc = nsh_forge_local_event(f, &p, "pr.closed", json_pack("{s:s?}", "by", by), err);
out:
	rc = finish(f, rc, err);
	nsh_pr_rec_release(&p);
	return rc;
}

int nsh_forge_local_pr_diff(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *head,
			    struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	char sha[NSH_FORGE_SHA_MAX + 1];
	char *bare = NULL, *from = NULL, *range = NULL;
	int rc;

	rc = nsh_forge_local_pr_get(f, pr, &p, err);
	if (!rc)
		rc = pick_head(f, &p, head, sha, err);
	if (!rc)
		rc = bare_of(f, p.org, p.repo, &bare, err);
	if (rc)
		goto out;
	/* A merged one: what the head changed against the base before the merge. */
	if (p.merge_sha && strcmp(p.merge_sha, sha) && is_state(&p, "merged"))
		from = nsh_xasprintf("%s^1", p.merge_sha);
	else
		from = nsh_xasprintf("refs/heads/%s", p.base);
	range = nsh_xasprintf("%s...%s", from, sha);
	rc = nsh_forge_git_run(bare, out, NSH_FORGE_DIFF_MAX, NULL, err, "diff", "--no-color",
			       "--no-ext-diff", "--no-textconv", range, "--", NULL);
	if (rc == NSH_ETOOBIG)
		nsh_err_set(err, rc, "the diff of '%s/%s#%lld' is larger than %u MiB", p.org,
			    p.repo, (long long)p.number, NSH_FORGE_DIFF_MAX >> 20);
out:
	nsh_pr_rec_release(&p);
	free(bare);
	free(from);
	free(range);
	return rc;
}
