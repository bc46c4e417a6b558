/*
 * Store rows of the GitHub forge (src/forge/github*.c), schema migration 9:
 *
 *   github_prs     the GitHub side of a pull request mirrored in prs
 *                  (its id, GraphQL node id and web address)
 *   github_poll    one cursor per polled list: the "since" time and the
 *                  ETag of the last answer that was fully handled
 *   github_seen    delivery ids of the items polling handed on, so that a
 *                  restart does not hand them on again
 *   github_status  the status comment kept on a task's issue
 *
 * Thread rules: as for the store handle (one thread at a time).
 */
#ifndef NSH_STORE_GITHUB_H
#define NSH_STORE_GITHUB_H

#include <stdbool.h>
#include <stdint.h>

struct nsh_err;
struct nsh_store;
struct nsh_pr_rec;

/**
 * Insert pull request @p (repo_id, number, task_id, job_id, head, base,
 * title, body, state, labels, author) with the number GitHub gave it, and
 * its GitHub details @gh_id, @node_id and @html_url (both may be NULL).
 * The row id goes to @ret_id (may be NULL). NSH_EEXIST when the repository
 * has that number already. Use inside a transaction.
 */
int nsh_store_gh_pr_insert(struct nsh_store *s, const struct nsh_pr_rec *p, int64_t gh_id,
			   const char *node_id, const char *html_url, int64_t *ret_id,
			   struct nsh_err *err);

/**
 * The GitHub details of pull request row @pr_id: the strings are the
 * caller's to free (each out-parameter may be NULL). NSH_ENOTFOUND when the
 * row is not a mirrored one.
 */
int nsh_store_gh_pr_info(struct nsh_store *s, int64_t pr_id, int64_t *ret_gh_id, char **ret_node_id,
			 char **ret_html_url, struct nsh_err *err);

/**
 * The cursor of polled list @key: *@ret_since and *@ret_etag (each may be
 * NULL; set to NULL when the column is) are the caller's to free.
 * NSH_ENOTFOUND when the list was never polled.
 */
int nsh_store_gh_poll_get(struct nsh_store *s, const char *key, char **ret_since, char **ret_etag,
			  struct nsh_err *err);

/** Write the cursor of @key (either value may be NULL). */
int nsh_store_gh_poll_put(struct nsh_store *s, const char *key, const char *since, const char *etag,
			  struct nsh_err *err);

/** Whether polling handed on @delivery_id already (errors count as "yes"). */
bool nsh_store_gh_seen(struct nsh_store *s, const char *delivery_id);

/** Remember that @delivery_id (of @event) was handed on; repeating it is fine. */
int nsh_store_gh_seen_add(struct nsh_store *s, const char *delivery_id, const char *event,
			  struct nsh_err *err);

struct nsh_gh_status_rec {
	char *repo;	    /* "O/R" of the issue */
	int64_t issue;	    /* issue number */
	int64_t comment_id; /* the comment's id on GitHub */
	char *body_hash;    /* hash of the body last written, or NULL */
	int64_t updated_ms; /* when it was written */
};

/** Free the strings of @r and zero it. NULL ok. */
void nsh_gh_status_rec_release(struct nsh_gh_status_rec *r);

/** The status comment of @task_id; NSH_ENOTFOUND when it has none yet. */
int nsh_store_gh_status_get(struct nsh_store *s, const char *task_id, struct nsh_gh_status_rec *ret,
			    struct nsh_err *err);

/** Insert or replace the status comment row of @task_id (updated_ms 0: now). */
int nsh_store_gh_status_put(struct nsh_store *s, const char *task_id,
			    const struct nsh_gh_status_rec *r, struct nsh_err *err);

#endif
