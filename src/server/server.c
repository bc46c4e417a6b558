/*
 * The HTTP side of the daemon over libmicrohttpd: one thread per
 * connection (event streams block in their reader), limits on connection
 * memory (header bytes), header count, body size, connections per address
 * and requests per second per address, the token file and serve.json.
 *
 * Each request's headers and body are gathered here and handed to
 * nsh_srv_dispatch() (router.c); nothing below that knows about sockets.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/str.h"
#include "core/time.h"
#include "server/server_int.h"

#include "core/banned.h"

#define TOKEN_MIN 32
#define TOKEN_MAX 256

/* Security headers on every response; the UI's pages also get a strict CSP. */
#define CSP                                                                              \
 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " \
 "'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct nsh_server {
	struct nsh_srv srv;	/* what request handlers see */
	struct MHD_Daemon *mhd; /* the HTTP daemon */
	uint16_t port;		/* where it listens */
	char *url;		/* "http://ADDR:PORT" */
	char *info_path;	/* serve.json, when written */
};

/* Per-request state between the calls of the access handler. */
struct req_ctx {
	struct nsh_buf body;   /* the body so far, capped */
	size_t max_body;       /* the cap for this request's path */
	bool too_big;	       /* the body passed the cap */
	bool git;	       /* a /git/ request (git_http.c) */
	struct nsh_srv_git *g; /* its state, once it passed the checks */
};

/* ---- the token ---- */

static bool token_valid(const char *t, size_t n)
{
	if (n < TOKEN_MIN || n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int token_read(const char *path, char **ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int rc;

	rc = nsh_fs_read_file(path, &b, 4096, err);
	if (rc)
		goto out;
	nsh_buf_trim(&b);
	if (!token_valid(b.buf, b.len)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "token file '%s' holds no valid token (%d to %d letters, digits, "
				 "'-', '_' or '.'); remove it to make a new one",
				 path, TOKEN_MIN, TOKEN_MAX);
		goto out;
	}
	*ret = nsh_buf_detach(&b, NULL);
out:
	nsh_buf_release(&b);
	return rc;
}

int nsh_server_token(const char *home, char **ret, struct nsh_err *err)
{
	char *path = nsh_xasprintf("%s/%s", home, NSH_SERVER_TOKEN_FILE);
	unsigned char raw[32];
	char hex[2 * sizeof(raw) + 2];
	int rc;

	rc = token_read(path, ret, err);
	if (rc != NSH_ENOTFOUND)
		goto out;
	if (sodium_init() < 0) {
		rc = nsh_err_set(err, NSH_EFAIL, "cannot initialise libsodium");
		goto out;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	memcpy(hex + 2 * sizeof(raw), "\n", 2);
	rc = nsh_fs_write_atomic(path, hex, strlen(hex), 0600, err);
	sodium_memzero(hex, sizeof(hex));
	/* Read it back: of two daemons starting at once, both use the winner's. */
	if (!rc)
		rc = token_read(path, ret, err);
out:
	free(path);
	return rc;
}

/* ---- serve.json ---- */

void nsh_server_info_release(struct nsh_server_info *i)
{
	if (!i)
		return;
	free(i->url);
	memset(i, 0, sizeof(*i));
}

int nsh_server_find(const char *home, struct nsh_server_info *ret, struct nsh_err *err)
{
	char *path = nsh_xasprintf("%s/%s", home, NSH_SERVER_INFO_FILE);
	struct nsh_buf b = NSH_BUF_INIT;
	json_t *v = NULL;
	const char *url;
	json_int_t pid = 0, started = 0;
	int rc;

	rc = nsh_fs_read_file(path, &b, 64 << 10, err);
	if (rc == NSH_ENOTFOUND) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no daemon is running (no '%s')", path);
		goto out;
	}
	if (rc)
		goto out;
	rc = nsh_json_parse(b.buf, b.len, &v, err);
	if (!rc)
		rc = nsh_json_get_str(v, "url", &url, err);
	if (!rc)
		rc = nsh_json_get_int(v, "pid", &pid, err);
	if (!rc)
		rc = nsh_json_opt_int(v, "started_at_ms", 0, &started, err);
	if (rc) {
		nsh_err_wrap(err, "malformed '%s'", path);
		rc = NSH_EINVAL;
		goto out;
	}
	if (pid <= 0 || (kill((pid_t)pid, 0) && errno != EPERM)) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no daemon is running (process %lld is gone)",
				 (long long)pid);
		goto out;
	}
	ret->url = nsh_xstrdup(url);
	ret->pid = pid;
	ret->started_ms = started;
out:
	json_decref(v);
	nsh_buf_release(&b);
	free(path);
	return rc;
}

static int write_info(struct nsh_server *s, struct nsh_err *err)
{
	json_t *o =
		json_pack("{s:s, s:I, s:I, s:I}", "url", s->url, "port", (json_int_t)s->port, "pid",
			  (json_int_t)getpid(), "started_at_ms", (json_int_t)s->srv.started_ms);
	char *text = nsh_json_dump(o);
	char *path = nsh_xasprintf("%s/%s", s->srv.home, NSH_SERVER_INFO_FILE);
	int rc;

	rc = nsh_fs_write_atomic(path, text, strlen(text), 0600, err);
	if (rc)
		free(path);
	else
		s->info_path = path;
	free(text);
	json_decref(o);
	return rc;
}

/* Remove serve.json if it is still ours (a newer daemon may have replaced it). */
static void remove_info(struct nsh_server *s)
{
	struct nsh_server_info i = {0};

	if (!s->info_path)
		return;
	if (nsh_server_find(s->srv.home, &i, NULL) == 0 && i.pid == getpid())
		unlink(s->info_path);
	nsh_server_info_release(&i);
	free(s->info_path);
	s->info_path = NULL;
}

/* ---- the listen address ---- */

/*
 * Parse "ADDR:PORT", "[V6]:PORT", "localhost:PORT" or ":PORT" (loopback)
 * into @ss. *@ret_loopback says whether it is a loopback address.
 */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *ret_len,
			bool *ret_loopback, struct nsh_err *err)
{
	const char *colon = strrchr(text, ':');
	char host[64];
	size_t hlen;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon || !colon[1])
		goto bad;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || errno || port < 0 || port > 65535 || colon[1] < '0' || colon[1] > '9')
		goto bad;
	hlen = (size_t)(colon - text);
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (!hlen || !strcmp(host, "localhost"))
		memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (hlen < 3 || host[hlen - 1] != ']')
			goto bad;
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*a);
		*ret_loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		return 0;
	}
	{
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*a);
		*ret_loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
bad:
	return nsh_err_set(err, NSH_EINVAL,
			   "invalid listen address '%s' (expected ADDR:PORT, e.g. 127.0.0.1:7700 "
			   "or [::1]:7700)",
			   text);
}

/* ---- requests ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct nsh_buf b = NSH_BUF_INIT;

	(void)cls;
	if (g_nsh_log_level < NSH_LOG_DEBUG)
		return;
	nsh_buf_vaddf(&b, fmt, ap);
	nsh_buf_trim(&b);
	nsh_log_debug("http: %s", b.buf);
	nsh_buf_release(&b);
}

static void add_common_headers(struct MHD_Response *resp, const struct nsh_srv_req *r)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	if (r->content_type)
		MHD_add_response_header(resp, "Content-Type", r->content_type);
	if (r->cache) {
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
		if (r->etag)
			MHD_add_response_header(resp, "ETag", r->etag);
	} else {
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	if (r->allow)
		MHD_add_response_header(resp, "Allow", r->allow);
	if (r->auth_challenge)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"nightshift\"");
}

/* Reply from outside the router (limits hit before a request is complete). */
static enum MHD_Result early_reply(struct nsh_server *s, struct MHD_Connection *c, int status,
				   const char *code, const char *msg)
{
	struct nsh_srv_req r = {.srv = &s->srv};
	struct MHD_Response *resp;
	enum MHD_Result ok;

	nsh_buf_init(&r.out, SIZE_MAX);
	nsh_srv_reply_error(&r, status, code, msg);
	resp = MHD_create_response_from_buffer(r.out.len, r.out.buf, MHD_RESPMEM_MUST_COPY);
	add_common_headers(resp, &r);
	if (status == 429)
		MHD_add_response_header(resp, "Retry-After", "1");
	ok = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	nsh_buf_release(&r.out);
	nsh_srv_metrics_observe(s->srv.metrics, SIZE_MAX, status, 0);
	return ok;
}

struct query_acc {
	struct nsh_srv_kv kv[NSH_SRV_MAX_QUERY];
	size_t n;
	bool too_many;
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct query_acc *q = cls;

	(void)kind;
	if (q->n == NSH_SRV_MAX_QUERY) {
		q->too_many = true;
		return MHD_NO;
	}
	q->kv[q->n].key = key;
	q->kv[q->n].value = value;
	q->n++;
	return MHD_YES;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	long n;

	(void)pos;
	n = nsh_srv_stream_read(cls, buf, max);
	return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void sse_free(void *cls)
{
	nsh_srv_stream_free(cls);
}

static bool client_addr(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	out[0] = '\0';
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
				 INET6_ADDRSTRLEN) != NULL;
	if (sa->sa_family == AF_INET6)
		return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
				 INET6_ADDRSTRLEN) != NULL;
	return false;
}

static enum MHD_Result serve(struct nsh_server *s, struct MHD_Connection *c, const char *url,
			     const char *method, struct req_ctx *ctx)
{
	struct query_acc q = {0};
	struct nsh_srv_req r = {.srv = &s->srv, .method = method, .path = url};
	struct MHD_Response *resp;
	enum MHD_Result ok;

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &q);
	if (q.too_many)
		return early_reply(s, c, 400, "invalid", "too many query parameters");
	r.query = q.kv;
	r.nquery = q.n;
	r.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	r.last_event_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	r.if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	r.gh_event = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-GitHub-Event");
	r.gh_delivery = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-GitHub-Delivery");
	r.gh_signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Hub-Signature-256");
	r.body = ctx->body.buf;
	r.body_len = ctx->body.len;
	nsh_srv_dispatch(&r);
	if (r.sse) {
		struct nsh_srv_stream *st = nsh_srv_stream_new(&s->srv, r.sse_task, r.sse_after);

		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, sse_read, st,
							 sse_free);
		r.content_type = "text/event-stream";
		add_common_headers(resp, &r);
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
		r.status = 200;
	} else {
		resp = MHD_create_response_from_buffer(r.out.len, r.out.buf, MHD_RESPMEM_MUST_COPY);
		add_common_headers(resp, &r);
	}
	ok = MHD_queue_response(c, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	nsh_srv_req_release(&r);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct nsh_server *s = cls;
	struct req_ctx *ctx = *con_cls;

	(void)version;
	if (!ctx) {
		char addr[INET6_ADDRSTRLEN];
		const char *cl;
		int nheaders;

		ctx = nsh_xcalloc(1, sizeof(*ctx));
		/* GitHub's deliveries may be larger than API requests. */
		ctx->max_body = strcmp(url, NSH_SRV_WEBHOOK_PATH) ? s->srv.max_body
								  : s->srv.webhook_max_body;
		nsh_buf_init(&ctx->body, ctx->max_body);
		*con_cls = ctx;
		if (s->srv.rate && client_addr(c, addr) &&
		    !nsh_srv_rate_take(s->srv.rate, addr, nsh_time_mono_ms()))
			return early_reply(s, c, 429, "rate_limited",
					   "too many requests from this address; slow down");
		nheaders = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL);
		if (nheaders > NSH_SRV_MAX_HEADERS)
			return early_reply(s, c, 431, "too_big", "too many request headers");
		/* git's smart HTTP: bodies are spooled to a file, not gathered here */
		if (nsh_starts_with(url, NSH_SRV_GIT_PREFIX)) {
			ctx->git = true;
			return (enum MHD_Result)nsh_srv_git_begin(&s->srv, c, url, method, &ctx->g);
		}
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > ctx->max_body) {
			char msg[96];

			snprintf(msg, sizeof(msg), "request body is larger than %zu bytes",
				 ctx->max_body);
			return early_reply(s, c, 413, "too_big", msg);
		}
		return MHD_YES;
	}
	if (ctx->git) {
		/* only reached when begin made a state: an early reply ends the request */
		if (!ctx->g) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (*upload_data_size) {
			nsh_srv_git_body(ctx->g, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return MHD_YES;
		}
		return (enum MHD_Result)nsh_srv_git_finish(ctx->g, c);
	}
	if (*upload_data_size) {
		if (!ctx->too_big && nsh_buf_add(&ctx->body, upload_data, *upload_data_size))
			ctx->too_big = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (ctx->too_big) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request body is larger than %zu bytes", ctx->max_body);
		return early_reply(s, c, 413, "too_big", msg);
	}
	return serve(s, c, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!ctx)
		return;
	nsh_buf_release(&ctx->body);
	nsh_srv_git_free(ctx->g);
	free(ctx);
	*con_cls = NULL;
}

/* ---- start and stop ---- */

static void srv_release(struct nsh_server *s)
{
	nsh_srv_hub_stop(s->srv.hub);
	nsh_srv_webhook_stop(&s->srv);
	nsh_srv_pool_drain(&s->srv);
	pthread_mutex_destroy(&s->srv.pool_lock);
	nsh_srv_metrics_free(s->srv.metrics);
	nsh_srv_rate_free(s->srv.rate);
	nsh_notify_free(s->srv.notify);
	if (s->srv.token)
		sodium_memzero(s->srv.token, s->srv.token_len);
	free(s->srv.token);
	free(s->srv.home);
	free(s->srv.db_path);
	free(s->url);
	free(s);
}

int nsh_server_start(const struct nsh_server_config *cfg, struct nsh_server **ret,
		     struct nsh_err *err)
{
	const char *listen_at = cfg->listen ? cfg->listen : NSH_SERVER_DEFAULT_LISTEN;
	struct nsh_server *s = nsh_xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const union MHD_DaemonInfo *info;
	char host[INET6_ADDRSTRLEN];
	bool loopback = false;
	size_t nroutes;
	unsigned flags;
	int rc;

	pthread_mutex_init(&s->srv.pool_lock, NULL);
	s->srv.home = nsh_xstrdup(cfg->home);
	s->srv.db_path = nsh_xstrdup(cfg->db_path);
	s->srv.max_body = cfg->max_body ? cfg->max_body : NSH_SERVER_MAX_BODY;
	s->srv.pipeline = cfg->pipeline;
	s->srv.scheduler = cfg->scheduler;
	s->srv.config = cfg->config;
	s->srv.notify = nsh_notify_new();
	s->srv.started_ms = nsh_time_now_ms();
	nsh_srv_routes(&nroutes);
	s->srv.metrics = nsh_srv_metrics_new(nroutes);
	if (cfg->rate >= 0)
		s->srv.rate = nsh_srv_rate_new(cfg->rate ? cfg->rate : NSH_SERVER_RATE);

	rc = parse_listen(listen_at, &ss, &sslen, &loopback, err);
	if (rc)
		goto fail;
	if (!loopback && !cfg->allow_remote) {
		rc = nsh_err_set(err, NSH_EDENIED,
				 "listen address '%s' is not loopback; pass --allow-remote to "
				 "serve other hosts (put TLS in front)",
				 listen_at);
		goto fail;
	}
	rc = nsh_srv_git_config(&s->srv, err);
	if (rc)
		goto fail;
	rc = nsh_server_token(cfg->home, &s->srv.token, err);
	if (rc)
		goto fail;
	s->srv.token_len = strlen(s->srv.token);
	rc = nsh_srv_hub_start(&s->srv, &s->srv.hub, err);
	if (rc)
		goto fail;
	rc = nsh_srv_webhook_start(&s->srv, err);
	if (rc)
		goto fail;

	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_ERROR_LOG | MHD_USE_POLL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				  (size_t)NSH_SRV_MEMORY_LIMIT, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)NSH_SRV_MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				  (unsigned)NSH_SRV_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned)60, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
	if (!s->mhd) {
		rc = nsh_err_set(err, NSH_EIO,
				 "cannot listen on '%s' (address in use, or not an address of "
				 "this host)",
				 listen_at);
		goto fail;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		s->url = nsh_xasprintf("http://[%s]:%u", host, (unsigned)s->port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		s->url = nsh_xasprintf("http://%s:%u", host, (unsigned)s->port);
	}
	(void)sslen;
	if (cfg->write_info) {
		rc = write_info(s, err);
		if (rc)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	if (s->mhd) {
		nsh_srv_hub_quit(s->srv.hub);
		MHD_stop_daemon(s->mhd);
	}
	srv_release(s);
	return rc;
}

uint16_t nsh_server_port(const struct nsh_server *srv)
{
	return srv->port;
}

const char *nsh_server_url(const struct nsh_server *srv)
{
	return srv->url;
}

void nsh_server_stop(struct nsh_server *srv)
{
	if (!srv)
		return;
	remove_info(srv);
	/* Streams end first, so that stopping the daemon does not wait for them. */
	nsh_srv_hub_quit(srv->srv.hub);
	MHD_stop_daemon(srv->mhd);
	srv_release(srv);
}
