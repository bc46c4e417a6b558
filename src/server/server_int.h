/*
 * Internals of the server module, shared by its files; no other module
 * includes this header.
 *
 * Layers: server.c speaks HTTP through libmicrohttpd and hands each request
 * to nsh_srv_dispatch() as a struct nsh_srv_req (method, path, query pairs,
 * a few headers, the body). The router (router.c) matches the path against
 * the route table, validates the path parameters, checks the token and
 * calls the handler (api_*.c), which fills in the response. Event streams
 * are served by sse.c from an in-memory ring that one hub thread fills from
 * the store. The request side knows nothing of sockets, so the fuzz target
 * and the unit tests drive it directly.
 */
#ifndef NSH_SERVER_SERVER_INT_H
#define NSH_SERVER_SERVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/id.h"
#include "forge/forge.h"

struct nsh_err;
struct nsh_store;
struct nsh_notify;
struct nsh_pipeline;
struct nsh_srv_hub;
struct nsh_srv_metrics;
struct nsh_srv_rate;
struct nsh_srv_webhook;

#define NSH_SRV_MAX_HEADERS  64		  /* request headers, all kinds of header lines */
#define NSH_SRV_MAX_QUERY    32		  /* query parameters */
#define NSH_SRV_MAX_PARAMS   4		  /* parameters in a route pattern */
#define NSH_SRV_MAX_PATH     2048	  /* bytes of a request path */
#define NSH_SRV_JSON_DEPTH   16		  /* nesting of request bodies */
#define NSH_SRV_MEMORY_LIMIT (128u << 10) /* libmicrohttpd's per-connection memory (headers) */
#define NSH_SRV_MAX_CONNS    1024	  /* connections at once */
#define NSH_SRV_MAX_PER_IP   256	  /* connections at once from one address */
#define NSH_SRV_TEXT_MAX     (64u << 10)  /* task texts, steering, answers, comments */
#define NSH_SRV_LIST_DEFAULT 50		  /* rows a list returns unless ?limit= says */
#define NSH_SRV_LIST_MAX     500	  /* the largest ?limit= */
#define NSH_SRV_POOL_IDLE    32		  /* idle store handles kept */
#define NSH_SRV_SSE_PING_MS  10000	  /* comment line on a quiet stream */
#define NSH_SRV_RING	     4096	  /* events kept in memory for streams */
#define NSH_SRV_WEBHOOK_PATH "/webhooks/github" /* GitHub's deliveries */

/* A store handle with the forge handle that borrows it; one thread at a time. */
struct nsh_srv_conn {
	struct nsh_store *store;   /* posts to the server's notify */
	struct nsh_forge *forge;   /* opened on first use, or NULL */
	struct nsh_srv_conn *next; /* in the idle list */
};

/* The server. Everything here is read-only after start except as noted. */
struct nsh_srv {
	char *home;			     /* $NIGHTSHIFT_HOME */
	char *db_path;			     /* the store */
	char *token;			     /* the bearer token */
	size_t token_len;		     /* its length */
	size_t max_body;		     /* cap on request bodies */
	const struct nsh_pipeline *pipeline; /* step names for job progress, or NULL */
	struct nsh_notify *notify;	     /* posted by our handles at each event commit */
	int64_t started_ms;		     /* when it started */
	bool scheduler;			     /* a scheduler runs in this process */
	pthread_mutex_t pool_lock;	     /* guards idle, nidle */
	struct nsh_srv_conn *idle;	     /* idle store handles */
	size_t nidle;			     /* how many */
	struct nsh_srv_hub *hub;	     /* event streams (sse.c) */
	struct nsh_srv_metrics *metrics;     /* counters (metrics.c) */
	struct nsh_srv_rate *rate;	     /* per-address token buckets, or NULL */
	const struct nsh_config *config;     /* the daemon's configuration (borrowed), or NULL */
	struct nsh_srv_webhook *webhook;     /* GitHub webhooks (webhook.c) */
	size_t webhook_max_body;	     /* cap on a webhook delivery's body */
	bool git_push;			     /* [forge] http_push: pushes over /git/ */
	bool git_worker_push;		     /* [forge] worker_push: job branches over /git/ */
	uint64_t git_max_body;		     /* [forge] http_max_body: cap on a /git/ body */
	int64_t git_idle_ms;		     /* [forge] http_idle: git silent this long is killed */
};

/* A query parameter, or a header: borrowed strings. */
struct nsh_srv_kv {
	const char *key;
	const char *value;
};

/* A path parameter's kind, which decides how it is validated. */
enum nsh_srv_param {
	NSH_SRV_P_TASK,	   /* a task id, "t-..." */
	NSH_SRV_P_JOB,	   /* a job id, "j-..." */
	NSH_SRV_P_ORG,	   /* an organisation name */
	NSH_SRV_P_REPO,	   /* a repository name */
	NSH_SRV_P_NUMBER,  /* a number from 1 to 2^31-1 */
	NSH_SRV_P_CONTROL, /* pause, resume, cancel, steer, answer, extend */
	NSH_SRV_P_FILE,	   /* a file of the web UI: [a-z0-9][a-z0-9.-]* */
};

struct nsh_srv_req;

/* A handler fills in the response, or returns an error for the router to render. */
typedef int nsh_srv_handler(struct nsh_srv_req *r, struct nsh_err *err);

enum {
	NSH_SRV_PUBLIC = 1u << 0, /* no token needed */
	NSH_SRV_BODY = 1u << 1,	  /* takes a JSON body */
};

struct nsh_srv_route {
	const char *method;	  /* "GET", "POST", "DELETE" */
	const char *pattern;	  /* "/api/tasks/{task}/events": also the metrics label */
	nsh_srv_handler *handler; /* what serves it */
	unsigned flags;		  /* NSH_SRV_PUBLIC, NSH_SRV_BODY */
};

/* The result of routing a path. */
struct nsh_srv_match {
	const struct nsh_srv_route *route; /* the route, or NULL */
	size_t index;			   /* its index in the table (metrics) */
	size_t nparams;			   /* parameters captured */
	char param[NSH_SRV_MAX_PARAMS][NSH_FORGE_NAME_MAX + 1]; /* their text, validated */
	int64_t number;						/* the value of a {n} parameter */
	bool wrong_method; /* the path exists with other methods */
	char allow[64];	   /* those methods, for the Allow header */
};

/* One request, independent of the HTTP library. */
struct nsh_srv_req {
	struct nsh_srv *srv;		/* the server (NULL in the fuzz target: no handlers) */
	const char *method;		/* "GET", ... */
	const char *path;		/* without the query */
	const struct nsh_srv_kv *query; /* decoded query parameters */
	size_t nquery;			/* how many */
	const char *authorization;	/* the Authorization header, or NULL */
	const char *last_event_id;	/* the Last-Event-ID header, or NULL */
	const char *if_none_match;	/* the If-None-Match header, or NULL */
	const char *gh_event;		/* the X-GitHub-Event header, or NULL */
	const char *gh_delivery;	/* the X-GitHub-Delivery header, or NULL */
	const char *gh_signature;	/* the X-Hub-Signature-256 header, or NULL */
	const char *body;		/* the body (not NUL-terminated), or NULL */
	size_t body_len;		/* its length */
	struct nsh_srv_match m;		/* filled by the router */
	struct nsh_srv_conn *conn;	/* the pooled handles, taken on first use */
	/* the response */
	int status;		  /* HTTP status */
	const char *content_type; /* static string */
	struct nsh_buf out;	  /* the body */
	const char *allow;	  /* Allow header for 405, or NULL */
	bool auth_challenge;	  /* send WWW-Authenticate */
	bool cache;		  /* static file: may be cached (with revalidation) */
	const char *etag;	  /* its ETag, or NULL */
	/* an event stream instead of a body */
	bool sse;		   /* serve a stream (sse.c) */
	char sse_task[NSH_ID_MAX]; /* only this task's events; "" for all */
	int64_t sse_after;	   /* start after this event id */
};

/* ---- router.c ---- */

/** The route table and its length. */
const struct nsh_srv_route *nsh_srv_routes(size_t *ret_nr);

/**
 * Match @method and @path against the route table into @ret. Errors:
 * NSH_ENOTFOUND "no such endpoint 'PATH'" (also with ret->wrong_method set
 * when the path exists for other methods, listed in ret->allow), NSH_EINVAL
 * naming a path parameter that is not valid for its kind. Thread-safe.
 */
int nsh_srv_route(const char *method, const char *path, struct nsh_srv_match *ret,
		  struct nsh_err *err);

/**
 * Serve @r: route it, check the token, run the handler and render an
 * error as JSON. Fills the response fields of @r; never fails.
 */
void nsh_srv_dispatch(struct nsh_srv_req *r);

/** Release what a request holds (its response body, its pooled handles). */
void nsh_srv_req_release(struct nsh_srv_req *r);

/** The value of query parameter @key, or NULL. The first one wins. */
const char *nsh_srv_query(const struct nsh_srv_req *r, const char *key);

/**
 * Parse query parameter @key as a count from 0 to @max; @def when absent.
 * NSH_EINVAL "invalid KEY 'TEXT' (expected 0 to MAX)".
 */
int nsh_srv_query_count(const struct nsh_srv_req *r, const char *key, size_t def, size_t max,
			size_t *ret, struct nsh_err *err);

/**
 * Parse the request body as a JSON object (size already capped by the HTTP
 * layer, depth by NSH_SRV_JSON_DEPTH). NSH_EINVAL "request body is not
 * valid JSON: ..." or "request body must be a JSON object". New reference.
 */
int nsh_srv_body_json(const struct nsh_srv_req *r, json_t **ret, struct nsh_err *err);

/**
 * An optional string field of @body: NULL when absent or null; NSH_EINVAL
 * "field 'KEY' must be a string" or "... is longer than N bytes".
 */
int nsh_srv_field_str(const json_t *body, const char *key, size_t max, const char **ret,
		      struct nsh_err *err);

/** Reply @status with @v (the reference is taken) as JSON. */
void nsh_srv_reply_json(struct nsh_srv_req *r, int status, json_t *v);

/** Reply with a JSON error: {"error": {"code": CODE, "message": MSG}}. */
void nsh_srv_reply_error(struct nsh_srv_req *r, int status, const char *code, const char *msg);

/** The HTTP status for an NSH_E* code. */
int nsh_srv_status_of(int code);

/** The request's store handle (taken from the pool on first use). */
int nsh_srv_store(struct nsh_srv_req *r, struct nsh_store **ret, struct nsh_err *err);
/** The request's forge handle (opened on first use). */
int nsh_srv_forge(struct nsh_srv_req *r, struct nsh_forge **ret, struct nsh_err *err);

/* ---- pool.c: store handles shared by request threads ---- */

/** Take an idle handle, or open a new one. */
int nsh_srv_pool_get(struct nsh_srv *srv, struct nsh_srv_conn **ret, struct nsh_err *err);
/** Give @c back (NULL ok); beyond NSH_SRV_POOL_IDLE idle ones it is closed. */
void nsh_srv_pool_put(struct nsh_srv *srv, struct nsh_srv_conn *c);
/** Close every idle handle. */
void nsh_srv_pool_drain(struct nsh_srv *srv);

/* ---- handlers (api_*.c) ---- */

nsh_srv_handler nsh_api_health, nsh_api_metrics;
nsh_srv_handler nsh_api_tasks_list, nsh_api_tasks_create, nsh_api_task_get, nsh_api_task_spec,
	nsh_api_task_events, nsh_api_task_stream, nsh_api_task_control;
nsh_srv_handler nsh_api_events, nsh_api_events_stream;
nsh_srv_handler nsh_api_jobs_list, nsh_api_job_get;
nsh_srv_handler nsh_api_prs_list, nsh_api_pr_get, nsh_api_pr_diff, nsh_api_pr_comments,
	nsh_api_pr_comment, nsh_api_pr_review, nsh_api_pr_merge, nsh_api_pr_close;
nsh_srv_handler nsh_api_orgs_list, nsh_api_org_get, nsh_api_repo_get;
nsh_srv_handler nsh_api_memories_list, nsh_api_memory_get, nsh_api_memory_forget,
	nsh_api_memory_promote;
nsh_srv_handler nsh_api_secrets_list;
nsh_srv_handler nsh_web_index, nsh_web_asset;
nsh_srv_handler nsh_api_webhook_github;

/* ---- metrics.c ---- */

struct nsh_srv_metrics *nsh_srv_metrics_new(size_t nroutes);
void nsh_srv_metrics_free(struct nsh_srv_metrics *m);
/** Count one request of route @route (SIZE_MAX: none matched) with @status in @ns. */
void nsh_srv_metrics_observe(struct nsh_srv_metrics *m, size_t route, int status, int64_t ns);
/** Count one event stream opening (+1) or closing (-1). */
void nsh_srv_metrics_stream(struct nsh_srv_metrics *m, int delta);
/** Append the request counters and histograms in Prometheus text format. */
int nsh_srv_metrics_render(struct nsh_srv_metrics *m, struct nsh_buf *out);

/* ---- rate.c: per-address token buckets ---- */

/** Buckets that refill @per_sec tokens a second, up to 2 * @per_sec. */
struct nsh_srv_rate *nsh_srv_rate_new(int per_sec);
void nsh_srv_rate_free(struct nsh_srv_rate *r);
/** Take a token for client address @addr (its text form); false when empty. */
bool nsh_srv_rate_take(struct nsh_srv_rate *r, const char *addr, int64_t now_ms);

/* ---- sse.c: the event hub and streams ---- */

/** Start the hub thread (its own store handle). */
int nsh_srv_hub_start(struct nsh_srv *srv, struct nsh_srv_hub **ret, struct nsh_err *err);
/** Wake and end every stream, stop the hub thread and free it. NULL ok. */
void nsh_srv_hub_stop(struct nsh_srv_hub *h);
/** Ask streams to end (before the HTTP daemon waits for them). */
void nsh_srv_hub_quit(struct nsh_srv_hub *h);
/** The newest event id the hub has seen. */
int64_t nsh_srv_hub_last(struct nsh_srv_hub *h);

struct nsh_srv_stream;
/** A stream for @task ("" for all) from after event @after. */
struct nsh_srv_stream *nsh_srv_stream_new(struct nsh_srv *srv, const char *task, int64_t after);
void nsh_srv_stream_free(struct nsh_srv_stream *s);
/**
 * Fill up to @max bytes of the stream into @buf, waiting for events (up to
 * the ping interval, then a comment line). Returns the byte count, 0 never;
 * -1 when the stream must end (the server stops, or a store error).
 */
long nsh_srv_stream_read(struct nsh_srv_stream *s, char *buf, size_t max);

/* ---- webhook.c: GitHub deliveries and the thread that carries them out ---- */

/**
 * Read the [github] settings of srv->config into srv->webhook and, when a
 * webhook secret is set, start the thread that works through the
 * delivery queue (its own store handle, posting to srv->notify). Errors:
 * a setting that does not parse (NSH_EINVAL naming it), store errors.
 */
int nsh_srv_webhook_start(struct nsh_srv *srv, struct nsh_err *err);
/** Stop the thread (after the HTTP daemon) and free srv->webhook. */
void nsh_srv_webhook_stop(struct nsh_srv *srv);

/* ---- git_cgi.c: what git's smart HTTP service parses ---- */

#define NSH_SRV_GIT_PREFIX   "/git/"	      /* the forge's repositories over git's smart HTTP */
#define NSH_SRV_GIT_MAX_BODY (1ull << 30)     /* default cap on a /git/ request body */
#define NSH_SRV_GIT_IDLE_MS  (10 * 60 * 1000) /* default [forge] http_idle */
#define NSH_SRV_GIT_AUTH_MAX 1024	      /* bytes of an Authorization header */
#define NSH_SRV_GIT_USER_MAX 64		      /* bytes of a Basic user name passed on */
#define NSH_SRV_CGI_HEAD_MAX (64u << 10)      /* bytes of http-backend's CGI headers */
#define NSH_SRV_CGI_HEADERS  32		      /* CGI header lines */

enum nsh_srv_git_service {
	NSH_SRV_GIT_UPLOAD = 1, /* git-upload-pack: clone and fetch */
	NSH_SRV_GIT_RECEIVE,	/* git-receive-pack: push */
};

/* What a /git/ request asks for. */
struct nsh_srv_git_target {
	char org[NSH_FORGE_NAME_MAX + 1];  /* organisation, validated */
	char repo[NSH_FORGE_NAME_MAX + 1]; /* repository without ".git", validated */
	enum nsh_srv_git_service service;  /* which service */
	bool advert;			   /* GET info/refs?service=...; else the POST */
};

/**
 * Parse a /git/ request: @path (decoded, without the query) must be
 * /git/ORG/REPO[.git]/info/refs (GET, with @service "git-upload-pack" or
 * "git-receive-pack"), /git/ORG/REPO[.git]/git-upload-pack or
 * .../git-receive-pack (POST). Names follow the forge's rules, so "..",
 * "/" and names starting with '.' never pass. Errors: NSH_EINVAL (bad
 * name, unknown service), NSH_ENOTFOUND (not a smart-protocol path),
 * NSH_EUSAGE (wrong method), NSH_EDENIED (info/refs without a service:
 * the dumb protocol). Thread-safe.
 */
int nsh_srv_git_parse(const char *method, const char *path, const char *service,
		      struct nsh_srv_git_target *ret, struct nsh_err *err);

/* Credentials from an Authorization header. */
struct nsh_srv_git_cred {
	char user[NSH_SRV_GIT_USER_MAX + 1]; /* Basic user name if it is plain, else "" */
	char secret[NSH_SRV_GIT_AUTH_MAX];   /* the password or bearer token (not NUL-ended) */
	size_t secret_len;		     /* its length */
};

/**
 * Read "Basic BASE64(USER:PASSWORD)" or "Bearer TOKEN" from @header (may
 * be NULL) into @ret. Returns 0, or -1 when there is no usable credential
 * (missing, another scheme, malformed base64, no ':', longer than
 * NSH_SRV_GIT_AUTH_MAX). The caller wipes @ret (sodium_memzero).
 */
int nsh_srv_git_credentials(const char *header, struct nsh_srv_git_cred *ret);

/* The CGI headers of a response. */
struct nsh_srv_cgi_head {
	int status;				  /* Status:, else 302 with Location:, else 200 */
	size_t nheaders;			  /* the other headers */
	struct nsh_srv_kv h[NSH_SRV_CGI_HEADERS]; /* name and value, pointing into text */
	char *text;				  /* owned copy of the header block */
	size_t body_at;				  /* offset of the body in the parsed bytes */
};

/**
 * Parse the CGI headers at the start of @buf (@len bytes of the program's
 * output so far): lines "Name: value" ending in "\n" or "\r\n", up to an
 * empty line. Framing headers (Content-Length, Transfer-Encoding,
 * Connection, ...) are dropped. Returns 0 with @ret filled (release it
 * with nsh_srv_cgi_head_release()), 1 when the empty line has not come
 * yet (read more and call again with everything), or NSH_EINVAL for a
 * malformed line, a control character in a value, a bad status, more than
 * NSH_SRV_CGI_HEADERS headers or a block longer than NSH_SRV_CGI_HEAD_MAX.
 */
int nsh_srv_cgi_parse(const char *buf, size_t len, struct nsh_srv_cgi_head *ret,
		      struct nsh_err *err);

/** Free what nsh_srv_cgi_parse() filled in. NULL ok. */
void nsh_srv_cgi_head_release(struct nsh_srv_cgi_head *h);

/* The ref updates a push (git-receive-pack request) asks for. */
#define NSH_SRV_GIT_CMDS_MAX  64	   /* ref updates in one push from a worker */
#define NSH_SRV_GIT_CMDS_READ (256u << 10) /* bytes of a push read for its list of refs */

struct nsh_srv_git_cmd {
	char old[NSH_FORGE_SHA_MAX + 1]; /* the ref's value now ("000..." for none) */
	char new[NSH_FORGE_SHA_MAX + 1]; /* its new value ("000..." to delete it) */
	char *ref;			 /* full ref name, printable, unchecked otherwise */
};

struct nsh_srv_git_cmds {
	struct nsh_srv_git_cmd v[NSH_SRV_GIT_CMDS_MAX];
	size_t nr;	    /* commands */
	bool report_status; /* the client asked for report-status (or -v2) */
	int side_band;	    /* 2: side-band-64k, 1: side-band, 0: none */
};

/**
 * Parse the list of ref updates at the start of a receive-pack request
 * body (@len bytes of @buf: pkt-lines "OLD NEW REF", capabilities after a
 * NUL on the first, up to a flush packet). NSH_EINVAL for anything else
 * (shallow lines, push certificates, malformed packets, no flush within
 * @len, no update, more than NSH_SRV_GIT_CMDS_MAX). Release @ret with
 * nsh_srv_git_cmds_release(). Thread-safe.
 */
int nsh_srv_git_push_parse(const char *buf, size_t len, struct nsh_srv_git_cmds *ret,
			   struct nsh_err *err);

/** Free what nsh_srv_git_push_parse() filled in and zero it. NULL ok. */
void nsh_srv_git_cmds_release(struct nsh_srv_git_cmds *c);

/**
 * The receive-pack answer (report-status) that refuses every update of @c,
 * each with @why[i] or, when that is NULL, "another ref was refused":
 * "unpack ok", one "ng REF WHY" per update, a flush; wrapped in side band
 * 1 when c->side_band asks for it. Replaces the contents of @out.
 */
void nsh_srv_git_push_report(const struct nsh_srv_git_cmds *c, const char *const *why,
			     struct nsh_buf *out);

/* ---- git_http.c: serving /git/ with "git http-backend" ---- */

struct MHD_Connection;
struct nsh_srv_git;

/**
 * Read the [forge] settings http_push and http_max_body into @srv.
 * NSH_EINVAL naming a setting that does not parse.
 */
int nsh_srv_git_config(struct nsh_srv *srv, struct nsh_err *err);

/**
 * The first call of a /git/ request (headers complete): check the
 * credentials, the path, the push rule, that the repository exists and
 * the announced size; either queue an error reply (*@ret stays NULL) or
 * make the request's state *@ret, which takes the body. Returns an
 * MHD_Result (MHD_YES or MHD_NO).
 */
int nsh_srv_git_begin(struct nsh_srv *srv, struct MHD_Connection *c, const char *url,
		      const char *method, struct nsh_srv_git **ret);

/** Spool @len bytes of the request body (to a file, up to the cap). */
void nsh_srv_git_body(struct nsh_srv_git *g, const char *data, size_t len);

/**
 * The body is complete: run git http-backend and queue its response,
 * streamed from its output. Returns an MHD_Result.
 */
int nsh_srv_git_finish(struct nsh_srv_git *g, struct MHD_Connection *c);

/** Free the request's state (a running response owns its own). NULL ok. */
void nsh_srv_git_free(struct nsh_srv_git *g);

/* ---- web.c: the embedded UI ---- */

struct nsh_web_file {
	const char *name;	  /* "app.js" */
	const char *content_type; /* "text/javascript; charset=utf-8" */
	const unsigned char *data;
	size_t len;
	char etag[24]; /* "\"<16 hex digits>\"" */
};

/** The embedded file @name ("index.html", ...), or NULL. */
const struct nsh_web_file *nsh_web_find(const char *name);

#endif
