/*
 * GitHub: the REST client, its authentication, polling and the status
 * comment. The forge backend built on them is opened with
 * nsh_forge_open_github() (forge.h); docs/github.md is the user's view.
 *
 * The client (struct nsh_github) talks to one API base URL
 * ("https://api.github.com", or "https://HOST/api/v3" for GitHub
 * Enterprise) with:
 *   - User-Agent "nightshift/<version>", Accept application/vnd.github+json
 *     and X-GitHub-Api-Version 2022-11-28 on every request;
 *   - a cap on each response body and connect and total timeouts;
 *   - rate limits honoured: a 403 or 429 with retry-after, or with
 *     x-ratelimit-remaining 0, or saying "secondary rate limit", is waited
 *     out (up to a configured bound, a few times) and repeated; a primary
 *     limit that resets later than the bound fails at once with a message
 *     that names when it resets, and so does a request made while the last
 *     answer said the limit is used up;
 *   - writes (POST, PATCH, PUT, DELETE) serialised through one mutex of the
 *     process with a configurable pause between two of them;
 *   - conditional GETs: each GET answer with an ETag is kept (bounded), and
 *     a 304 to the next If-None-Match re-uses the kept body;
 *   - pagination by the Link header, followed only to URLs under the base.
 * Errors name the method, the path and GitHub's message, never the token.
 *
 * Authentication: a token ([github] token, NIGHTSHIFT_GITHUB_TOKEN), or a
 * GitHub App ([github] app_id, private_key, installation_id): an RS256 JWT
 * signed with the app's key is exchanged for an installation token, kept
 * until five minutes before it expires.
 *
 * Thread rules: a client belongs to one thread at a time (like the forge
 * handle that owns it); the write mutex is shared by all clients of the
 * process.
 */
#ifndef NSH_FORGE_GITHUB_H
#define NSH_FORGE_GITHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_buf;
struct nsh_err;
struct nsh_config;
struct nsh_forge;
struct nsh_forge_ref;
struct nsh_store;

#define NSH_GITHUB_API_DEFAULT	  "https://api.github.com"
#define NSH_GITHUB_API_VERSION	  "2022-11-28"
#define NSH_GITHUB_RESPONSE_MAX	  ((size_t)8 << 20)  /* default cap on one response body */
#define NSH_GITHUB_CACHE_ENTRIES  256		     /* GET answers kept for ETags */
#define NSH_GITHUB_CACHE_BYTES	  ((size_t)32 << 20) /* their total size */
#define NSH_GITHUB_PAGES_MAX	  100		     /* pages followed by one listing */
#define NSH_GITHUB_JWT_LIFETIME_S 540		     /* exp - now */
#define NSH_GITHUB_TOKEN_MARGIN_S 300 /* an installation token is renewed this early */

/* The settings of a client; strings are borrowed. */
struct nsh_github_opts {
	const char *api;	    /* base URL; NULL for NSH_GITHUB_API_DEFAULT */
	const char *token;	    /* a personal access token, or NULL */
	const char *app_id;	    /* a GitHub App's id (or client id), or NULL */
	const char *private_key;    /* path of the app's PEM private key */
	int64_t installation_id;    /* the app's installation */
	int64_t write_pause_ms;	    /* pause between two writes (default 1000) */
	int64_t connect_timeout_ms; /* default 10 s */
	int64_t timeout_ms;	    /* whole request, default 60 s */
	int64_t rate_wait_max_ms;   /* longest wait for a rate limit, default 120 s */
	size_t response_max;	    /* default NSH_GITHUB_RESPONSE_MAX */
	const char *label;	    /* the trigger label (polling), default "nightshift" */
	int64_t poll_interval_s;    /* 0: no polling */
	const char *watch;	    /* polled repositories/orgs: "O/R O2 ..." */
};

/**
 * Read [github] of @cfg into @ret: api, token, app_id, private_key,
 * installation_id, write_pause (a duration), connect_timeout, timeout,
 * rate_wait_max (durations), response_max (a size), label, poll_interval
 * (seconds), watch. Strings are borrowed from @cfg. NSH_EINVAL for a value
 * that does not parse, or for both a token and an app, or an app without
 * its key or installation.
 */
int nsh_github_opts_from_config(const struct nsh_config *cfg, struct nsh_github_opts *ret,
				struct nsh_err *err);

/** Whether @cfg names any GitHub credentials (a token or an app). */
bool nsh_github_configured(const struct nsh_config *cfg);

struct nsh_github;

/**
 * A new client for @o (copied; @o may go away). No request is made. Free
 * with nsh_github_free(). NSH_EINVAL for a base URL that is not http(s) or
 * missing credentials.
 */
int nsh_github_new(const struct nsh_github_opts *o, struct nsh_github **ret, struct nsh_err *err);
void nsh_github_free(struct nsh_github *gh);

/** The base URL without a trailing slash (borrowed). */
const char *nsh_github_api(const struct nsh_github *gh);

/* One answer. */
struct nsh_github_resp {
	long status;	   /* HTTP status (200 also for a 304 served from the cache) */
	json_t *json;	   /* the body parsed, or NULL when empty or not JSON */
	char *next;	   /* the Link rel="next" URL, or NULL */
	bool cached;	   /* the body came from the ETag cache (a 304) */
	bool not_modified; /* nsh_github_get_if(): a 304 to the ETag given, no body */
	char *etag;	   /* the answer's ETag, or NULL */
	char *date;	   /* the answer's Date header, or NULL */
};

void nsh_github_resp_release(struct nsh_github_resp *r);

/**
 * Send @method (GET, POST, PATCH, PUT, DELETE) to @path ("/repos/o/r/..."
 * with an optional query, or an absolute URL under the base) with the JSON
 * @body (may be NULL). 2xx answers, and a 304 to a cached GET, fill @ret
 * (may be NULL) and return 0.
 *
 * Errors, each naming the method, the path and GitHub's message:
 * NSH_ENOTFOUND for 404, NSH_EDENIED for 401 and 403, NSH_ECONFLICT for 409
 * and 422, NSH_EBUSY for a rate limit that is not waited out, NSH_ETIMEOUT,
 * NSH_ETOOBIG for an answer over the cap, NSH_EIO for transport failures
 * and NSH_EFAIL for other statuses. *@ret_status (may be NULL) gets the
 * HTTP status even then (0 without an answer).
 */
int nsh_github_request(struct nsh_github *gh, const char *method, const char *path,
		       const json_t *body, struct nsh_github_resp *ret, long *ret_status,
		       struct nsh_err *err);

/**
 * GET @path ("/repos/...") with If-None-Match @etag, an ETag kept from
 * an earlier answer (the store's, say, so it outlives the process): a 304
 * returns 0 with @ret's not_modified set, its etag @etag and no body.
 * Other answers as nsh_github_request(); without @etag it is a plain GET.
 */
int nsh_github_get_if(struct nsh_github *gh, const char *path, const char *etag,
		      struct nsh_github_resp *ret, struct nsh_err *err);

/**
 * GET @path and every following page (at most @max_items items, at most
 * NSH_GITHUB_PAGES_MAX pages), appending the items to the array *@ret
 * (created when NULL). An answer that is an object takes its array @key
 * (e.g. "repositories"; NULL: the answer must be an array).
 */
int nsh_github_get_all(struct nsh_github *gh, const char *path, const char *key, size_t max_items,
		       json_t **ret, struct nsh_err *err);

/**
 * The token requests are sent with: the configured token, or an
 * installation token minted or taken from the cache. The caller frees it
 * and must not log it.
 */
int nsh_github_token(struct nsh_github *gh, char **ret, struct nsh_err *err);

/** Requests sent and 304s served from the cache, for tests and benchmarks. */
void nsh_github_stats(const struct nsh_github *gh, uint64_t *ret_requests, uint64_t *ret_cached);

/* ---- parsers and policies, exposed for tests and fuzzing ---- */

/**
 * The URL of the rel="next" entry of the Link header value @link
 * ('<https://...>; rel="next", <...>; rel="last"'), or NULL. New string.
 */
char *nsh_github_link_next(const char *link);

/* What a rate-limit check decided. */
enum nsh_github_limit {
	NSH_GITHUB_NOT_LIMITED, /* an ordinary answer (a 403 here is a permission error) */
	NSH_GITHUB_PRIMARY,	/* the hourly budget is used up */
	NSH_GITHUB_SECONDARY,	/* a secondary limit (abuse detection) */
};

/**
 * Classify an answer of status @status with the headers retry-after,
 * x-ratelimit-remaining and x-ratelimit-reset (each NULL when absent) and
 * the start of its body @body (may be NULL), at @now_s (epoch seconds), for
 * the @attempt'th try (0 first). *@ret_wait_ms gets how long to wait
 * before trying again: retry-after when given, else until the reset for a
 * primary limit, else at least 60 s doubling with @attempt for a
 * secondary one.
 */
enum nsh_github_limit nsh_github_limit_check(long status, const char *retry_after,
					     const char *remaining, const char *reset,
					     const char *body, int64_t now_s, int attempt,
					     int64_t *ret_wait_ms);

/* The ETag cache, exposed for tests: URL -> (ETag, body). */
struct nsh_github_cache;

struct nsh_github_cache *nsh_github_cache_new(size_t max_entries, size_t max_bytes);
void nsh_github_cache_free(struct nsh_github_cache *c);
/** Keep @body (@len bytes) with @etag for @url, replacing an older entry, evicting the oldest. */
void nsh_github_cache_put(struct nsh_github_cache *c, const char *url, const char *etag,
			  const char *body, size_t len);
/** The entry of @url: borrowed ETag and body (valid until the next put), or false. */
bool nsh_github_cache_get(struct nsh_github_cache *c, const char *url, const char **ret_etag,
			  const char **ret_body, size_t *ret_len);

/**
 * An RS256 JSON Web Token for GitHub App @app_id (digits: a number, else a
 * string "iss") signed with the PEM private key @pem (@pem_len bytes):
 * iat @now_s - 60, exp @now_s + NSH_GITHUB_JWT_LIFETIME_S. New string.
 * NSH_EINVAL for a key OpenSSL cannot read or that is not RSA.
 */
int nsh_github_jwt(const char *app_id, const char *pem, size_t pem_len, int64_t now_s, char **ret,
		   struct nsh_err *err);

/** Base64url without padding of @len bytes at @p, appended to @out. */
int nsh_github_base64url(struct nsh_buf *out, const void *p, size_t len);

/* ---- the forge backend's GitHub-only operations ---- */

/**
 * The client of a github forge handle (borrowed), or NULL for another
 * kind of forge.
 */
struct nsh_github *nsh_forge_github_client(struct nsh_forge *f);

/**
 * Comment @body on issue or pull request @number of @org/@repo
 * (POST /repos/{o}/{r}/issues/{n}/comments); the comment's id goes to
 * @ret_id (may be NULL). NSH_EDENIED on a forge that is not GitHub.
 */
int nsh_github_issue_comment(struct nsh_forge *f, const char *org, const char *repo, int64_t number,
			     const char *body, int64_t *ret_id, struct nsh_err *err);

/** Replace the body of issue comment @id (PATCH /repos/{o}/{r}/issues/comments/{id}). */
int nsh_github_comment_edit(struct nsh_forge *f, const char *org, const char *repo, int64_t id,
			    const char *body, struct nsh_err *err);

/** Add the NULL-terminated @labels to issue or pull request @number. */
int nsh_github_labels_add(struct nsh_forge *f, const char *org, const char *repo, int64_t number,
			  const char *const *labels, struct nsh_err *err);

/**
 * GitHub's own JSON of the reviews (@what "reviews"), review comments
 * ("review_comments") or conversation comments ("issue_comments") of pull
 * request or issue @pr, all pages; *@ret is a new array.
 */
int nsh_github_list(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *what,
		    json_t **ret, struct nsh_err *err);

/* ---- polling ---- */

/**
 * Where polling hands each item it finds: @event is a webhook event name
 * ("issues", "issue_comment", "pull_request_review",
 * "pull_request_review_comment"), @delivery_id a stable id of the item
 * ("poll-issue_comment-123"), @payload shaped like the webhook's payload
 * (borrowed). Return 0 when it was taken; an error makes polling offer it
 * again next round.
 */
typedef int (*nsh_github_deliver_fn)(void *ctx, const char *event, const char *delivery_id,
				     json_t *payload, struct nsh_err *err);

/**
 * One round of polling over the watched repositories of @o (repositories
 * "O/R" and organisations "O", whose repositories are listed): open issues
 * with the trigger label, new issue comments, new review comments, and
 * reviews of the open pull requests nightshift mirrors. Each item not
 * handed on before (kept in @store) goes to @deliver. Lists are read with
 * ETags and a "since" cursor kept in @store; the first round of a list
 * starts its cursor at the time of that round, so older comments are not
 * handed on. *@ret_delivered (may be NULL) gets how many items were handed
 * on. A failing repository does not stop the others; the first error is
 * returned after all were tried.
 */
int nsh_github_poll_once(struct nsh_forge *f, const struct nsh_github_opts *o,
			 nsh_github_deliver_fn deliver, void *ctx, size_t *ret_delivered,
			 struct nsh_err *err);

/* ---- the status comment ---- */

/**
 * Render the status of task @task_id as Markdown into @out: the title and
 * state, the plan (one line per repository with its job state and pull
 * request link), and the final summary once the task has ended.
 */
int nsh_github_status_render(struct nsh_forge *f, struct nsh_store *store, const char *task_id,
			     struct nsh_buf *out, struct nsh_err *err);

/**
 * Bring the status comment of task @task_id up to date on the issue its
 * options name ({"github": {"repo": "O/R", "issue": N}}): create it the
 * first time, edit it afterwards when its text changed (the comment id and
 * a hash of the text are kept in @store). A task without such options is
 * NSH_ENOTFOUND; a forge that is not GitHub NSH_EDENIED.
 */
int nsh_github_status_sync(struct nsh_forge *f, struct nsh_store *store, const char *task_id,
			   struct nsh_err *err);

#endif
