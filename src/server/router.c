/*
 * The route table, path matching with validated parameters, the token
 * check, and the helpers handlers use to read requests and write replies.
 */
#include "server/server_int.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "task/task.h"

#include "core/banned.h"

#define SEGMENTS_MAX 8

static const struct nsh_srv_route routes[] = {
	{"GET", "/api/health", nsh_api_health, NSH_SRV_PUBLIC},
	{"GET", "/metrics", nsh_api_metrics, 0},
	{"GET", "/api/tasks", nsh_api_tasks_list, 0},
	{"POST", "/api/tasks", nsh_api_tasks_create, NSH_SRV_BODY},
	{"GET", "/api/tasks/{task}", nsh_api_task_get, 0},
	{"GET", "/api/tasks/{task}/spec", nsh_api_task_spec, 0},
	{"GET", "/api/tasks/{task}/events", nsh_api_task_events, 0},
	{"GET", "/api/tasks/{task}/stream", nsh_api_task_stream, 0},
	{"POST", "/api/tasks/{task}/{control}", nsh_api_task_control, NSH_SRV_BODY},
	{"GET", "/api/events", nsh_api_events, 0},
	{"GET", "/api/events/stream", nsh_api_events_stream, 0},
	{"GET", "/api/jobs", nsh_api_jobs_list, 0},
	{"GET", "/api/jobs/{job}", nsh_api_job_get, 0},
	{"GET", "/api/prs", nsh_api_prs_list, 0},
	{"GET", "/api/prs/{org}/{repo}/{n}", nsh_api_pr_get, 0},
	{"GET", "/api/prs/{org}/{repo}/{n}/diff", nsh_api_pr_diff, 0},
	{"GET", "/api/prs/{org}/{repo}/{n}/comments", nsh_api_pr_comments, 0},
	{"POST", "/api/prs/{org}/{repo}/{n}/comments", nsh_api_pr_comment, NSH_SRV_BODY},
	{"POST", "/api/prs/{org}/{repo}/{n}/review", nsh_api_pr_review, NSH_SRV_BODY},
	{"POST", "/api/prs/{org}/{repo}/{n}/merge", nsh_api_pr_merge, NSH_SRV_BODY},
	{"POST", "/api/prs/{org}/{repo}/{n}/close", nsh_api_pr_close, NSH_SRV_BODY},
	{"GET", "/api/orgs", nsh_api_orgs_list, 0},
	{"GET", "/api/orgs/{org}", nsh_api_org_get, 0},
	{"GET", "/api/repos/{org}/{repo}", nsh_api_repo_get, 0},
	{"GET", "/api/memories", nsh_api_memories_list, 0},
	{"GET", "/api/memories/{n}", nsh_api_memory_get, 0},
	{"DELETE", "/api/memories/{n}", nsh_api_memory_forget, 0},
	{"POST", "/api/memories/{n}/forget", nsh_api_memory_forget, NSH_SRV_BODY},
	{"POST", "/api/memories/{n}/promote", nsh_api_memory_promote, NSH_SRV_BODY},
	{"GET", "/api/secrets", nsh_api_secrets_list, 0},
	/* GitHub cannot send the token: a delivery proves itself by its signature */
	{"POST", NSH_SRV_WEBHOOK_PATH, nsh_api_webhook_github, NSH_SRV_PUBLIC | NSH_SRV_BODY},
	{"GET", "/", nsh_web_index, NSH_SRV_PUBLIC},
	{"GET", "/{file}", nsh_web_asset, NSH_SRV_PUBLIC},
};

const struct nsh_srv_route *nsh_srv_routes(size_t *ret_nr)
{
	*ret_nr = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* Split @path ("/a/b") into at most SEGMENTS_MAX views; -1 when malformed or too deep. */
static int split_path(const char *path, const char *seg[SEGMENTS_MAX], size_t len[SEGMENTS_MAX])
{
	int n = 0;
	const char *p = path;

	if (*p != '/')
		return -1;
	if (!p[1])
		return 0;
	while (*p == '/') {
		const char *s = ++p;

		while (*p && *p != '/')
			p++;
		if (p == s || n == SEGMENTS_MAX)
			return -1;
		seg[n] = s;
		len[n] = (size_t)(p - s);
		n++;
	}
	return *p ? -1 : n;
}

static bool is_file_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '-'))
			return false;
	return true;
}

/* Validate parameter @text of kind @name ("task", "n", ...); 0 or NSH_EINVAL naming it. */
static int check_param(const char *name, const char *text, int64_t *number, struct nsh_err *err)
{
	if (!strcmp(name, "task") || !strcmp(name, "job")) {
		if (!nsh_id_valid(name[0] == 't' ? "t" : "j", text))
			return nsh_err_set(err, NSH_EINVAL, "invalid %s id '%s'", name, text);
		return 0;
	}
	if (!strcmp(name, "org"))
		return nsh_forge_check_name("org", text, err);
	if (!strcmp(name, "repo"))
		return nsh_forge_check_name("repository", text, err);
	if (!strcmp(name, "control")) {
		if (!nsh_control_kind_valid(text))
			return nsh_err_set(err, NSH_EINVAL,
					   "unknown control '%s' (use pause, resume, cancel, "
					   "steer, answer or extend)",
					   text);
		return 0;
	}
	if (!strcmp(name, "file")) {
		if (!is_file_name(text))
			return nsh_err_set(err, NSH_EINVAL, "invalid file name '%s'", text);
		return 0;
	}
	if (!strcmp(name, "n")) {
		char *end;
		long long v;

		errno = 0;
		v = (text[0] >= '1' && text[0] <= '9') ? strtoll(text, &end, 10) : 0;
		if (!v || errno || *end || v > INT32_MAX)
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid number '%s' (expected 1 to 2147483647)", text);
		*number = v;
		return 0;
	}
	return nsh_err_set(err, NSH_EINVAL, "unknown parameter '%s'", name);
}

/*
 * Whether @route's pattern has the shape of the path's segments: 1 when it
 * matches (parameters captured into @m), 0 when its shape differs, -1 when
 * the shape fits but a parameter is invalid (@err says which).
 */
static int match_route(const struct nsh_srv_route *route, const char *const *seg, const size_t *len,
		       int nseg, struct nsh_srv_match *m, struct nsh_err *err)
{
	const char *pseg[SEGMENTS_MAX];
	size_t plen[SEGMENTS_MAX];
	int n = split_path(route->pattern, pseg, plen);
	bool bad = false;

	if (n != nseg)
		return 0;
	/* Literal segments first: a parameter error only counts for the right shape. */
	for (int i = 0; i < n; i++)
		if (pseg[i][0] != '{' && (plen[i] != len[i] || memcmp(pseg[i], seg[i], len[i])))
			return 0;
	m->nparams = 0;
	for (int i = 0; i < n; i++) {
		char name[16];

		if (pseg[i][0] != '{')
			continue;
		if (len[i] > NSH_FORGE_NAME_MAX) {
			if (!bad)
				nsh_err_set(err, NSH_EINVAL, "path segment %d is too long", i + 1);
			bad = true;
			continue;
		}
		memcpy(name, pseg[i] + 1, plen[i] - 2);
		name[plen[i] - 2] = '\0';
		memcpy(m->param[m->nparams], seg[i], len[i]);
		m->param[m->nparams][len[i]] = '\0';
		if (!bad && check_param(name, m->param[m->nparams], &m->number, err))
			bad = true;
		m->nparams++;
	}
	return bad ? -1 : 1;
}

int nsh_srv_route(const char *method, const char *path, struct nsh_srv_match *ret,
		  struct nsh_err *err)
{
	const char *seg[SEGMENTS_MAX];
	size_t len[SEGMENTS_MAX];
	struct nsh_err perr = NSH_ERR_INIT;
	bool param_bad = false;
	int nseg;

	memset(ret, 0, sizeof(*ret));
	if (strlen(path) > NSH_SRV_MAX_PATH)
		return nsh_err_set(err, NSH_ENOTFOUND, "no such endpoint (the path is too long)");
	nseg = split_path(path, seg, len);
	if (nseg < 0)
		return nsh_err_set(err, NSH_ENOTFOUND, "no such endpoint '%s'", path);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		struct nsh_srv_match m = {0};
		struct nsh_err e = NSH_ERR_INIT;
		int rc = match_route(&routes[i], seg, len, nseg, &m, &e);

		if (rc == 0)
			continue;
		if (strcmp(routes[i].method, method)) {
			/* Only a valid path earns a 405 rather than a 400. */
			if (rc == 1 && !strstr(ret->allow, routes[i].method)) {
				size_t at = strlen(ret->allow);

				snprintf(ret->allow + at, sizeof(ret->allow) - at, "%s%s",
					 at ? ", " : "", routes[i].method);
				ret->wrong_method = true;
			}
			continue;
		}
		if (rc < 0) {
			if (!param_bad)
				perr = e;
			param_bad = true;
			continue;
		}
		m.route = &routes[i];
		m.index = i;
		memcpy(ret->allow, "", 1);
		ret->wrong_method = false;
		*ret = m;
		return 0;
	}
	if (ret->wrong_method)
		return nsh_err_set(err, NSH_ENOTFOUND, "method '%s' is not allowed on '%s'", method,
				   path);
	if (param_bad)
		return nsh_err_set(err, perr.code, "%s", perr.msg);
	return nsh_err_set(err, NSH_ENOTFOUND, "no such endpoint '%s'", path);
}

/* ---- replies ---- */

int nsh_srv_status_of(int code)
{
	switch (code) {
	case NSH_OK:
		return 200;
	case NSH_EINVAL:
	case NSH_EUSAGE:
		return 400;
	case NSH_EDENIED:
		return 403;
	case NSH_ENOTFOUND:
		return 404;
	case NSH_EEXIST:
	case NSH_ECONFLICT:
		return 409;
	case NSH_ETOOBIG:
		return 413;
	case NSH_EBUSY:
		return 503;
	case NSH_ETIMEOUT:
		return 504;
	default:
		return 500;
	}
}

void nsh_srv_reply_json(struct nsh_srv_req *r, int status, json_t *v)
{
	nsh_buf_reset(&r->out);
	r->status = status;
	r->content_type = "application/json";
	if (nsh_json_buf_add(&r->out, v) || nsh_buf_addch(&r->out, '\n')) {
		nsh_buf_reset(&r->out);
		r->status = 500;
		nsh_buf_adds(&r->out, "{\"error\":{\"code\":\"failed\",\"message\":\"cannot encode "
				      "the reply\"}}\n");
	}
	json_decref(v);
}

void nsh_srv_reply_error(struct nsh_srv_req *r, int status, const char *code, const char *msg)
{
	nsh_srv_reply_json(r, status,
			   json_pack("{s:{s:s, s:o}}", "error", "code", code, "message",
				     nsh_json_string_lossy(msg, strlen(msg))));
}

/* ---- reading requests ---- */

const char *nsh_srv_query(const struct nsh_srv_req *r, const char *key)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (r->query[i].key && !strcmp(r->query[i].key, key))
			return r->query[i].value ? r->query[i].value : "";
	return NULL;
}

int nsh_srv_query_count(const struct nsh_srv_req *r, const char *key, size_t def, size_t max,
			size_t *ret, struct nsh_err *err)
{
	const char *v = nsh_srv_query(r, key);
	unsigned long long n;
	char *end;

	if (!v) {
		*ret = def;
		return 0;
	}
	errno = 0;
	n = (*v >= '0' && *v <= '9') ? strtoull(v, &end, 10) : ULLONG_MAX;
	if (n == ULLONG_MAX || errno || *end || n > max)
		return nsh_err_set(err, NSH_EINVAL, "invalid %s '%.40s' (expected 0 to %zu)", key,
				   v, max);
	*ret = (size_t)n;
	return 0;
}

int nsh_srv_body_json(const struct nsh_srv_req *r, json_t **ret, struct nsh_err *err)
{
	json_t *v = NULL;
	int rc;

	if (!r->body_len) {
		*ret = json_object();
		return 0;
	}
	rc = nsh_json_parse_limits(r->body, r->body_len, r->body_len, NSH_SRV_JSON_DEPTH, &v, err);
	if (rc)
		return nsh_err_wrap(err, "request body is not valid JSON");
	if (!json_is_object(v)) {
		json_decref(v);
		return nsh_err_set(err, NSH_EINVAL, "request body must be a JSON object");
	}
	*ret = v;
	return 0;
}

int nsh_srv_field_str(const json_t *body, const char *key, size_t max, const char **ret,
		      struct nsh_err *err)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return nsh_err_set(err, NSH_EINVAL, "field '%s' must be a string", key);
	if (json_string_length(v) > max)
		return nsh_err_set(err, NSH_ETOOBIG, "field '%s' is longer than %zu bytes", key,
				   max);
	*ret = json_string_value(v);
	return 0;
}

/* ---- handles ---- */

int nsh_srv_store(struct nsh_srv_req *r, struct nsh_store **ret, struct nsh_err *err)
{
	int rc;

	if (!r->srv)
		return nsh_err_set(err, NSH_EFAIL, "no store in this context");
	if (!r->conn) {
		rc = nsh_srv_pool_get(r->srv, &r->conn, err);
		if (rc)
			return rc;
	}
	*ret = r->conn->store;
	return 0;
}

int nsh_srv_forge(struct nsh_srv_req *r, struct nsh_forge **ret, struct nsh_err *err)
{
	struct nsh_store *s = NULL;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (rc)
		return rc;
	if (!r->conn->forge) {
		rc = nsh_forge_open_local(r->srv->home, s, &r->conn->forge, err);
		if (rc)
			return rc;
	}
	*ret = r->conn->forge;
	return 0;
}

void nsh_srv_req_release(struct nsh_srv_req *r)
{
	nsh_buf_release(&r->out);
	if (r->conn && r->srv)
		nsh_srv_pool_put(r->srv, r->conn);
	r->conn = NULL;
}

/* ---- dispatch ---- */

/* Whether the Authorization header carries the server's token. */
static bool token_ok(const struct nsh_srv_req *r, bool *ret_missing)
{
	const char *h = r->authorization;
	size_t n;

	*ret_missing = !h;
	if (!h)
		return false;
	if (strncasecmp(h, "Bearer ", 7)) {
		*ret_missing = true;
		return false;
	}
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	return n == r->srv->token_len && !sodium_memcmp(h, r->srv->token, n);
}

void nsh_srv_dispatch(struct nsh_srv_req *r)
{
	struct nsh_err err = NSH_ERR_INIT;
	int64_t t0 = nsh_time_mono_ns();
	int rc;

	nsh_buf_init(&r->out, SIZE_MAX);
	r->status = 500;
	rc = nsh_srv_route(r->method, r->path, &r->m, &err);
	if (rc) {
		if (r->m.wrong_method) {
			r->allow = r->m.allow;
			nsh_srv_reply_error(r, 405, "method", err.msg);
		} else {
			nsh_srv_reply_error(r, nsh_srv_status_of(rc), nsh_err_name(rc), err.msg);
		}
		goto out;
	}
	if (!(r->m.route->flags & NSH_SRV_PUBLIC)) {
		bool missing = false;

		if (!r->srv || !token_ok(r, &missing)) {
			r->auth_challenge = true;
			nsh_srv_reply_error(r, 401, "unauthorized",
					    missing ? "missing bearer token (send 'Authorization: "
						      "Bearer TOKEN'; the token is in "
						      "$NIGHTSHIFT_HOME/token)"
						    : "invalid token");
			goto out;
		}
	}
	if (r->body_len && !(r->m.route->flags & NSH_SRV_BODY)) {
		nsh_srv_reply_error(r, 400, "invalid", "this endpoint takes no request body");
		goto out;
	}
	rc = r->m.route->handler(r, &err);
	if (rc)
		nsh_srv_reply_error(r, nsh_srv_status_of(rc), nsh_err_name(rc),
				    err.msg[0] ? err.msg : "failed");
out:
	if (r->srv && !r->sse)
		nsh_srv_metrics_observe(r->srv->metrics, r->m.route ? r->m.index : SIZE_MAX,
					r->status, nsh_time_mono_ns() - t0);
}
