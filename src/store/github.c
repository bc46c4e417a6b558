/*
 * Store rows of the GitHub forge; see github.h. The statements here are
 * prepared per call: none of them runs often enough to be worth caching.
 */
#include "store/github.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "store/store.h"
#include "store/store_int.h"

#include "core/banned.h"

/* Prepare @sql on @s; NULL with @err set on failure. */
static struct nsh_db_stmt *prep(struct nsh_store *s, const char *sql, struct nsh_err *err)
{
	return nsh_db_prepare(nsh_store_db(s), sql, err);
}

static void bind_text(struct nsh_db_stmt *st, int i, const char *v)
{
	if (v)
		nsh_db_bind_text(st, i, v);
	else
		nsh_db_bind_null(st, i);
}

static char *col_text(struct nsh_db_stmt *st, int i)
{
	const char *p = nsh_db_col_text(st, i);

	return p ? nsh_xmemdup(p, nsh_db_col_bytes(st, i)) : NULL;
}

/* Step @st once expecting no row; @what names the action in errors. */
static int run_done(struct nsh_store *s, struct nsh_db_stmt *st, const char *what,
		    struct nsh_err *err)
{
	int rc = nsh_db_step(st) == NSH_DB_DONE ? 0 : nsh_store_db_fail(s, err, what);

	nsh_db_finalize(st);
	return rc;
}

int nsh_store_gh_pr_insert(struct nsh_store *s, const struct nsh_pr_rec *p, int64_t gh_id,
			   const char *node_id, const char *html_url, int64_t *ret_id,
			   struct nsh_err *err)
{
	json_t *a = json_array();
	char *labels;
	int64_t now = p->created_ms ? p->created_ms : nsh_time_now_ms();
	int64_t id = 0;
	struct nsh_db_stmt *st;
	int rc;

	for (size_t i = 0; i < p->labels.nr; i++)
		json_array_append_new(a, json_string(p->labels.v[i]));
	labels = nsh_json_dump(a);
	json_decref(a);
	st = prep(s,
		  "INSERT INTO prs (repo_id, number, task_id, job_id, head, base, title, body, "
		  "state, labels, author, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		  "?7, ?8, ?9, ?10, ?11, ?12, ?12) RETURNING id",
		  err);
	if (!st) {
		rc = err ? err->code : NSH_EIO;
		goto out;
	}
	nsh_db_bind_int64(st, 1, p->repo_id);
	nsh_db_bind_int64(st, 2, p->number);
	bind_text(st, 3, p->task_id);
	bind_text(st, 4, p->job_id);
	bind_text(st, 5, p->head);
	bind_text(st, 6, p->base);
	bind_text(st, 7, p->title);
	bind_text(st, 8, p->body ? p->body : "");
	bind_text(st, 9, p->state ? p->state : "open");
	bind_text(st, 10, labels);
	bind_text(st, 11, p->author);
	nsh_db_bind_int64(st, 12, now);
	if (nsh_db_step(st) != NSH_DB_ROW) {
		rc = nsh_store_db_fail(s, err, "adding a pull request");
		nsh_db_finalize(st);
		goto out;
	}
	id = nsh_db_col_int64(st, 0);
	nsh_db_finalize(st);
	st = prep(
		s,
		"INSERT INTO github_prs (pr_id, gh_id, node_id, html_url) VALUES (?1, ?2, ?3, ?4)",
		err);
	if (!st) {
		rc = err ? err->code : NSH_EIO;
		goto out;
	}
	nsh_db_bind_int64(st, 1, id);
	nsh_db_bind_int64(st, 2, gh_id);
	bind_text(st, 3, node_id);
	bind_text(st, 4, html_url);
	rc = run_done(s, st, "adding a pull request", err);
	if (!rc && ret_id)
		*ret_id = id;
out:
	free(labels);
	return rc;
}

int nsh_store_gh_pr_info(struct nsh_store *s, int64_t pr_id, int64_t *ret_gh_id, char **ret_node_id,
			 char **ret_html_url, struct nsh_err *err)
{
	struct nsh_db_stmt *st =
		prep(s, "SELECT gh_id, node_id, html_url FROM github_prs WHERE pr_id = ?1", err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, pr_id);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		if (ret_gh_id)
			*ret_gh_id = nsh_db_col_int64(st, 0);
		if (ret_node_id)
			*ret_node_id = col_text(st, 1);
		if (ret_html_url)
			*ret_html_url = col_text(st, 2);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "pull request %lld is not on github",
				 (long long)pr_id);
	} else {
		rc = nsh_store_db_fail(s, err, "reading a pull request");
	}
	nsh_db_finalize(st);
	return rc;
}

int nsh_store_gh_poll_get(struct nsh_store *s, const char *key, char **ret_since, char **ret_etag,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = prep(s, "SELECT since, etag FROM github_poll WHERE key = ?1", err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, key);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		if (ret_since)
			*ret_since = col_text(st, 0);
		if (ret_etag)
			*ret_etag = col_text(st, 1);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "'%s' was never polled", key);
	} else {
		rc = nsh_store_db_fail(s, err, "reading a poll cursor");
	}
	nsh_db_finalize(st);
	return rc;
}

int nsh_store_gh_poll_put(struct nsh_store *s, const char *key, const char *since, const char *etag,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st =
		prep(s,
		     "INSERT INTO github_poll (key, since, etag, updated_at) VALUES (?1, "
		     "?2, ?3, ?4) ON CONFLICT (key) DO UPDATE SET since = ?2, etag = ?3, "
		     "updated_at = ?4",
		     err);

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, key);
	bind_text(st, 2, since);
	bind_text(st, 3, etag);
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	return run_done(s, st, "writing a poll cursor", err);
}

bool nsh_store_gh_seen(struct nsh_store *s, const char *delivery_id)
{
	struct nsh_db_stmt *st = prep(s, "SELECT 1 FROM github_seen WHERE delivery_id = ?1", NULL);
	bool seen = true;

	if (!st)
		return true;
	bind_text(st, 1, delivery_id);
	switch (nsh_db_step(st)) {
	case NSH_DB_DONE:
		seen = false;
		break;
	default:
		break;
	}
	nsh_db_finalize(st);
	return seen;
}

int nsh_store_gh_seen_add(struct nsh_store *s, const char *delivery_id, const char *event,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st =
		prep(s,
		     "INSERT INTO github_seen (delivery_id, event, created_at) VALUES (?1, "
		     "?2, ?3) ON CONFLICT (delivery_id) DO NOTHING",
		     err);

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, delivery_id);
	bind_text(st, 2, event);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	return run_done(s, st, "remembering a delivery", err);
}

void nsh_gh_status_rec_release(struct nsh_gh_status_rec *r)
{
	if (!r)
		return;
	free(r->repo);
	free(r->body_hash);
	memset(r, 0, sizeof(*r));
}

int nsh_store_gh_status_get(struct nsh_store *s, const char *task_id, struct nsh_gh_status_rec *ret,
			    struct nsh_err *err)
{
	struct nsh_db_stmt *st = prep(s,
				      "SELECT repo, issue, comment_id, body_hash, updated_at FROM "
				      "github_status WHERE task_id = ?1",
				      err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		memset(ret, 0, sizeof(*ret));
		ret->repo = col_text(st, 0);
		ret->issue = nsh_db_col_int64(st, 1);
		ret->comment_id = nsh_db_col_int64(st, 2);
		ret->body_hash = col_text(st, 3);
		ret->updated_ms = nsh_db_col_int64(st, 4);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "task '%s' has no status comment", task_id);
	} else {
		rc = nsh_store_db_fail(s, err, "reading a status comment");
	}
	nsh_db_finalize(st);
	return rc;
}

int nsh_store_gh_status_put(struct nsh_store *s, const char *task_id,
			    const struct nsh_gh_status_rec *r, struct nsh_err *err)
{
	struct nsh_db_stmt *st =
		prep(s,
		     "INSERT INTO github_status (task_id, repo, issue, comment_id, "
		     "body_hash, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT "
		     "(task_id) DO UPDATE SET repo = ?2, issue = ?3, comment_id = ?4, "
		     "body_hash = ?5, updated_at = ?6",
		     err);

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	bind_text(st, 2, r->repo);
	nsh_db_bind_int64(st, 3, r->issue);
	nsh_db_bind_int64(st, 4, r->comment_id);
	bind_text(st, 5, r->body_hash);
	nsh_db_bind_int64(st, 6, r->updated_ms ? r->updated_ms : nsh_time_now_ms());
	return run_done(s, st, "writing a status comment", err);
}
