/*
 * The GitHub REST client over libcurl: settings, requests with rate-limit
 * handling, the ETag cache, Link pagination and serialised writes. See
 * github.h for the contract.
 */
#include "forge/github.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "forge/github_int.h"

#include "core/banned.h"

#define USER_AGENT	    "nightshift/0.1.0"
#define ATTEMPTS_MAX	    4	 /* tries of one request (rate limits, a stale app token) */
#define HEADER_MAX	    8192 /* longest header line kept */
#define MESSAGE_SHOWN	    300	 /* bytes of GitHub's message put into an error */
#define SECONDARY_MIN_MS    60000
#define BODY_MAX_FOR_ERRORS 4096

/*
 * Writes of every client in the process go through this mutex, with a pause
 * between two of them: GitHub asks integrations not to create content
 * concurrently, and a process-wide lock is the only way to honour that
 * across the daemon's workers (each has its own client).
 */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_write_ms;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- settings ---- */

bool nsh_github_configured(const struct nsh_config *cfg)
{
	const char *t = cfg ? nsh_config_get(cfg, "github", "token") : NULL;
	const char *a = cfg ? nsh_config_get(cfg, "github", "app_id") : NULL;

	return (t && *t) || (a && *a);
}

int nsh_github_opts_from_config(const struct nsh_config *cfg, struct nsh_github_opts *ret,
				struct nsh_err *err)
{
	struct nsh_github_opts o = {0};
	long long inst = 0, poll = 0;
	uint64_t rmax = 0;
	int rc;

	o.api = nsh_config_get(cfg, "github", "api");
	o.token = nsh_config_get(cfg, "github", "token");
	o.app_id = nsh_config_get(cfg, "github", "app_id");
	o.private_key = nsh_config_get(cfg, "github", "private_key");
	o.label = nsh_config_get(cfg, "github", "label");
	o.watch = nsh_config_get(cfg, "github", "watch");
	if (o.api && !*o.api)
		o.api = NULL;
	if (o.token && !*o.token)
		o.token = NULL;
	if (o.app_id && !*o.app_id)
		o.app_id = NULL;
	rc = nsh_config_get_int(cfg, "github", "installation_id", 0, &inst, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "github", "write_pause", 1000, &o.write_pause_ms,
					     err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "github", "connect_timeout", 10000,
					     &o.connect_timeout_ms, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "github", "timeout", 60000, &o.timeout_ms, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "github", "rate_wait_max", 120000,
					     &o.rate_wait_max_ms, err);
	if (!rc)
		rc = nsh_config_get_size(cfg, "github", "response_max", NSH_GITHUB_RESPONSE_MAX,
					 &rmax, err);
	if (!rc)
		rc = nsh_config_get_int(cfg, "github", "poll_interval", 0, &poll, err);
	if (rc)
		return rc;
	if (poll < 0)
		return nsh_err_set(err, NSH_EINVAL, "'github.poll_interval' must not be negative");
	o.installation_id = inst;
	o.poll_interval_s = poll;
	o.response_max = (size_t)rmax;
	if (o.token && o.app_id)
		return nsh_err_set(err, NSH_EINVAL,
				   "set either 'github.token' or 'github.app_id', not both");
	if (o.app_id && (!o.private_key || !*o.private_key || o.installation_id <= 0))
		return nsh_err_set(err, NSH_EINVAL,
				   "a github app needs 'github.private_key' (a PEM file) and "
				   "'github.installation_id'");
	*ret = o;
	return 0;
}

/* ---- the client ---- */

int nsh_github_new(const struct nsh_github_opts *o, struct nsh_github **ret, struct nsh_err *err)
{
	const char *api = o->api ? o->api : NSH_GITHUB_API_DEFAULT;
	struct nsh_github *gh;
	size_t n = strlen(api);

	if (strncmp(api, "https://", 8) && strncmp(api, "http://", 7))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid github api url '%s' (expected https://...)", api);
	if (!(o->token && *o->token) && !(o->app_id && *o->app_id))
		return nsh_err_set(err, NSH_EINVAL,
				   "no github credentials: set 'github.token' "
				   "(NIGHTSHIFT_GITHUB_TOKEN) or a github app");
	pthread_once(&curl_once, curl_init_once);
	gh = nsh_xcalloc(1, sizeof(*gh));
	gh->o = *o;
	while (n && api[n - 1] == '/')
		n--;
	gh->api = nsh_xstrndup(api, n);
	gh->token = o->token ? nsh_xstrdup(o->token) : NULL;
	gh->app_id = o->app_id ? nsh_xstrdup(o->app_id) : NULL;
	gh->key_path = o->private_key ? nsh_xstrdup(o->private_key) : NULL;
	gh->o.api = gh->api;
	gh->o.token = gh->token;
	gh->o.app_id = gh->app_id;
	gh->o.private_key = gh->key_path;
	gh->o.label = NULL;
	gh->o.watch = NULL;
	if (!gh->o.response_max)
		gh->o.response_max = NSH_GITHUB_RESPONSE_MAX;
	if (gh->o.connect_timeout_ms <= 0)
		gh->o.connect_timeout_ms = 10000;
	if (gh->o.timeout_ms <= 0)
		gh->o.timeout_ms = 60000;
	if (gh->o.write_pause_ms < 0)
		gh->o.write_pause_ms = 0;
	gh->cache = nsh_github_cache_new(NSH_GITHUB_CACHE_ENTRIES, NSH_GITHUB_CACHE_BYTES);
	gh->curl = curl_easy_init();
	if (!gh->curl) {
		nsh_github_free(gh);
		return nsh_err_set(err, NSH_EIO, "cannot initialise libcurl");
	}
	*ret = gh;
	return 0;
}

void nsh_github_free(struct nsh_github *gh)
{
	if (!gh)
		return;
	if (gh->curl)
		curl_easy_cleanup(gh->curl);
	nsh_github_cache_free(gh->cache);
	free(gh->api);
	if (gh->token)
		explicit_bzero(gh->token, strlen(gh->token));
	free(gh->token);
	if (gh->inst_token)
		explicit_bzero(gh->inst_token, strlen(gh->inst_token));
	free(gh->inst_token);
	free(gh->app_id);
	free(gh->key_path);
	free(gh);
}

const char *nsh_github_api(const struct nsh_github *gh)
{
	return gh->api;
}

void nsh_github_stats(const struct nsh_github *gh, uint64_t *ret_requests, uint64_t *ret_cached)
{
	if (ret_requests)
		*ret_requests = gh->requests;
	if (ret_cached)
		*ret_cached = gh->cached;
}

void nsh_github_resp_release(struct nsh_github_resp *r)
{
	if (!r)
		return;
	json_decref(r->json);
	free(r->next);
	free(r->etag);
	free(r->date);
	memset(r, 0, sizeof(*r));
}

int nsh_github_token(struct nsh_github *gh, char **ret, struct nsh_err *err)
{
	const char *t = gh->token;
	int rc = 0;

	if (!t)
		rc = nsh_github_app_token(gh, &t, err);
	if (!rc)
		*ret = nsh_xstrdup(t);
	return rc;
}

/* ---- the ETag cache ---- */

struct cache_entry {
	char *url;
	char *etag;
	char *body;
	size_t len;
	uint64_t used; /* a clock for evicting the least recently used */
};

struct nsh_github_cache {
	struct cache_entry *v;
	size_t nr, max_entries, bytes, max_bytes;
	uint64_t clock;
};

struct nsh_github_cache *nsh_github_cache_new(size_t max_entries, size_t max_bytes)
{
	struct nsh_github_cache *c = nsh_xcalloc(1, sizeof(*c));

	c->max_entries = max_entries ? max_entries : 1;
	c->max_bytes = max_bytes;
	c->v = nsh_xcalloc(c->max_entries, sizeof(*c->v));
	return c;
}

static void entry_drop(struct nsh_github_cache *c, size_t i)
{
	c->bytes -= c->v[i].len;
	free(c->v[i].url);
	free(c->v[i].etag);
	free(c->v[i].body);
	c->v[i] = c->v[--c->nr];
	memset(&c->v[c->nr], 0, sizeof(c->v[0]));
}

void nsh_github_cache_free(struct nsh_github_cache *c)
{
	if (!c)
		return;
	while (c->nr)
		entry_drop(c, c->nr - 1);
	free(c->v);
	free(c);
}

static long cache_find(struct nsh_github_cache *c, const char *url)
{
	for (size_t i = 0; i < c->nr; i++)
		if (!strcmp(c->v[i].url, url))
			return (long)i;
	return -1;
}

void nsh_github_cache_put(struct nsh_github_cache *c, const char *url, const char *etag,
			  const char *body, size_t len)
{
	long at = cache_find(c, url);

	if (at >= 0)
		entry_drop(c, (size_t)at);
	if (len > c->max_bytes)
		return;
	while (c->nr && (c->nr >= c->max_entries || c->bytes + len > c->max_bytes)) {
		size_t old = 0;

		for (size_t i = 1; i < c->nr; i++)
			if (c->v[i].used < c->v[old].used)
				old = i;
		entry_drop(c, old);
	}
	c->v[c->nr] = (struct cache_entry){nsh_xstrdup(url), nsh_xstrdup(etag),
					   nsh_xmemdup(body, len), len, ++c->clock};
	c->nr++;
	c->bytes += len;
}

bool nsh_github_cache_get(struct nsh_github_cache *c, const char *url, const char **ret_etag,
			  const char **ret_body, size_t *ret_len)
{
	long at = cache_find(c, url);

	if (at < 0)
		return false;
	c->v[at].used = ++c->clock;
	*ret_etag = c->v[at].etag;
	*ret_body = c->v[at].body;
	*ret_len = c->v[at].len;
	return true;
}

/* ---- Link and rate limits ---- */

char *nsh_github_link_next(const char *link)
{
	const char *p = link;

	while (p && *p) {
		const char *lt, *gt, *end, *rel;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		lt = *p == '<' ? p : NULL;
		gt = lt ? strchr(lt, '>') : NULL;
		if (!gt)
			return NULL;
		/* parameters run to the next ",<" (a comma outside the URL) */
		end = gt + 1;
		while (*end && *end != ',')
			end++;
		for (rel = gt + 1; rel < end; rel++) {
			size_t left = (size_t)(end - rel);

			if (left >= 3 && !strncasecmp(rel, "rel", 3)) {
				const char *v = rel + 3;

				while (v < end && (*v == ' ' || *v == '='))
					v++;
				if (v < end && *v == '"')
					v++;
				if ((size_t)(end - v) >= 4 && !strncmp(v, "next", 4) &&
				    (v + 4 == end || v[4] == '"' || v[4] == ' ' || v[4] == ';'))
					return nsh_xstrndup(lt + 1, (size_t)(gt - lt - 1));
			}
		}
		p = end;
	}
	return NULL;
}

/* @s as a non-negative integer, or -1. */
static int64_t parse_count(const char *s)
{
	int64_t v = 0;

	if (!s)
		return -1;
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	while (*s == ' ')
		s++;
	return *s ? -1 : v;
}

enum nsh_github_limit nsh_github_limit_check(long status, const char *retry_after,
					     const char *remaining, const char *reset,
					     const char *body, int64_t now_s, int attempt,
					     int64_t *ret_wait_ms)
{
	int64_t ra = parse_count(retry_after), rem = parse_count(remaining);
	int64_t rs = parse_count(reset);

	*ret_wait_ms = 0;
	/* nobody waits longer than a day for a limit; larger values are nonsense */
	if (ra > 86400)
		ra = 86400;
	if (rs > now_s + 86400)
		rs = now_s + 86400;
	if (status != 403 && status != 429)
		return NSH_GITHUB_NOT_LIMITED;
	if (rem == 0) {
		if (ra >= 0)
			*ret_wait_ms = ra * 1000;
		else if (rs > now_s)
			*ret_wait_ms = (rs - now_s) * 1000 + 1000;
		else
			*ret_wait_ms = 1000;
		return NSH_GITHUB_PRIMARY;
	}
	if (ra >= 0) {
		*ret_wait_ms = ra * 1000;
		return NSH_GITHUB_SECONDARY;
	}
	if (status == 429 || (body && strcasestr(body, "secondary rate limit"))) {
		int shift = attempt < 0 ? 0 : attempt > 6 ? 6 : attempt;

		*ret_wait_ms = (int64_t)SECONDARY_MIN_MS << shift;
		return NSH_GITHUB_SECONDARY;
	}
	return NSH_GITHUB_NOT_LIMITED;
}

/* ---- one HTTP exchange ---- */

struct exchange {
	struct nsh_github *gh;
	long status;
	struct nsh_buf body;
	bool too_big;
	char *etag, *link, *retry_after, *remaining, *reset, *date;
};

static void exchange_release(struct exchange *x)
{
	nsh_buf_release(&x->body);
	free(x->etag);
	free(x->link);
	free(x->retry_after);
	free(x->remaining);
	free(x->reset);
	free(x->date);
	memset(x, 0, sizeof(*x));
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct exchange *x = ctx;
	size_t len = size * n;
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
		{"etag", offsetof(struct exchange, etag)},
		{"link", offsetof(struct exchange, link)},
		{"retry-after", offsetof(struct exchange, retry_after)},
		{"x-ratelimit-remaining", offsetof(struct exchange, remaining)},
		{"x-ratelimit-reset", offsetof(struct exchange, reset)},
		{"date", offsetof(struct exchange, date)},
	};
	const char *colon = memchr(p, ':', len);

	/* a new status line (after a 100 Continue, say) starts a new set of headers */
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		char **all[] = {&x->etag,      &x->link,  &x->retry_after,
				&x->remaining, &x->reset, &x->date};

		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			free(*all[i]);
			*all[i] = NULL;
		}
		return len;
	}
	if (!colon || len > HEADER_MAX)
		return len;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t nl = strlen(keep[i].name);
		char **dst = (char **)((char *)x + keep[i].off);
		const char *v = colon + 1, *end = p + len;

		if ((size_t)(colon - p) != nl || strncasecmp(p, keep[i].name, nl))
			continue;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		free(*dst);
		*dst = nsh_xstrndup(v, (size_t)(end - v));
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct exchange *x = ctx;
	size_t len = size * n;

	if (nsh_buf_add(&x->body, p, len)) {
		x->too_big = true;
		return 0;
	}
	return len;
}

/*
 * Send one request: @auth is the whole Authorization value; @if_none_match
 * may be NULL. Returns the curl code; the answer is in @x.
 */
static CURLcode perform(struct nsh_github *gh, const char *method, const char *url,
			const char *body, const char *auth, const char *if_none_match,
			struct exchange *x)
{
	struct curl_slist *hs = NULL;
	CURL *h = gh->curl;
	char *line;
	CURLcode cc;

	memset(x, 0, sizeof(*x));
	x->gh = gh;
	nsh_buf_init(&x->body, gh->o.response_max);
	hs = curl_slist_append(hs, "Accept: application/vnd.github+json");
	hs = curl_slist_append(hs, "X-GitHub-Api-Version: " NSH_GITHUB_API_VERSION);
	hs = curl_slist_append(hs, "Expect:");
	if (body)
		hs = curl_slist_append(hs, "Content-Type: application/json");
	line = nsh_xasprintf("Authorization: %s", auth);
	hs = curl_slist_append(hs, line);
	explicit_bzero(line, strlen(line));
	free(line);
	if (if_none_match) {
		line = nsh_xasprintf("If-None-Match: %s", if_none_match);
		hs = curl_slist_append(hs, line);
		free(line);
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)gh->o.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)gh->o.timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)gh->o.response_max);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	/* the header list held the token: clear the copies curl no longer needs */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	for (struct curl_slist *i = hs; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(hs);
	gh->requests++;
	return cc;
}

/* The path to show in errors: @url without the base. */
static const char *shown_path(const struct nsh_github *gh, const char *url)
{
	size_t n = strlen(gh->api);

	return !strncmp(url, gh->api, n) ? url + n : url;
}

/*
 * GitHub's message from an error body (its "message" and the first error's
 * "message" or "code"), printable and cut to MESSAGE_SHOWN bytes, into @out.
 */
static void error_message(const struct nsh_buf *body, struct nsh_buf *out)
{
	json_t *v = NULL, *e;
	const char *m = NULL, *detail = NULL;

	if (!nsh_json_parse(body->buf, body->len, &v, NULL) && json_is_object(v)) {
		m = json_string_value(json_object_get(v, "message"));
		e = json_array_get(json_object_get(v, "errors"), 0);
		detail = json_string_value(json_object_get(e, "message"));
		if (!detail)
			detail = json_string_value(json_object_get(e, "code"));
	}
	if (!m)
		m = body->len ? body->buf : "no message";
	for (const char *p = m; *p && out->len < MESSAGE_SHOWN; p++)
		nsh_buf_addch(out, (unsigned char)*p < 0x20 ? ' ' : *p);
	if (detail) {
		nsh_buf_adds(out, " (");
		for (const char *p = detail; *p && out->len < 2 * MESSAGE_SHOWN; p++)
			nsh_buf_addch(out, (unsigned char)*p < 0x20 ? ' ' : *p);
		nsh_buf_adds(out, ")");
	}
	json_decref(v);
}

/* Replace every copy of @secret in @err's message by "***". */
static void scrub(struct nsh_err *err, const char *secret)
{
	size_t n;
	char *at;

	if (!err || !secret || (n = strlen(secret)) < 4)
		return;
	while ((at = strstr(err->msg, secret))) {
		memcpy(at, "***", 3);
		memmove(at + 3, at + n, strlen(at + n) + 1);
	}
}

static int status_code(long status)
{
	switch (status) {
	case 404:
	case 410:
		return NSH_ENOTFOUND;
	case 401:
	case 403:
		return NSH_EDENIED;
	case 409:
	case 422:
		return NSH_ECONFLICT;
	default:
		return NSH_EFAIL;
	}
}

static char *iso_of(int64_t s)
{
	char buf[NSH_TIME_ISO_MAX];

	return nsh_xstrdup(nsh_time_iso8601(s * 1000, buf));
}

/* Wait until the write pause since the last write has passed; call under write_mu. */
static void write_pause(const struct nsh_github *gh)
{
	int64_t now = nsh_time_mono_ms();

	if (last_write_ms && now < last_write_ms + gh->o.write_pause_ms)
		nsh_time_sleep_ms(last_write_ms + gh->o.write_pause_ms - now);
}

/*
 * The request proper; @url is absolute. Called with write_mu held for
 * writes. A GET with @if_none_match sends that ETag rather than the
 * cache's and answers a 304 with an empty @ret whose not_modified is set.
 */
static int request_url(struct nsh_github *gh, const char *method, const char *url, const char *body,
		       const char *if_none_match, struct nsh_github_resp *ret, long *ret_status,
		       bool is_write, struct nsh_err *err)
{
	struct exchange x = {0};
	struct nsh_buf msg = NSH_BUF_INIT;
	const char *cached_etag = NULL, *cached_body = NULL, *token = NULL;
	size_t cached_len = 0;
	bool is_get = !strcmp(method, "GET"), from_cache = false, not_modified = false;
	char *auth = NULL;
	int rc = 0;

	if (ret_status)
		*ret_status = 0;
	for (int attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
		int64_t now_s = nsh_time_now_ms() / 1000, wait_ms = 0;
		enum nsh_github_limit lim;
		CURLcode cc;

		exchange_release(&x);
		if (gh->limit_reset_s > now_s) {
			wait_ms = (gh->limit_reset_s - now_s) * 1000;
			if (wait_ms > gh->o.rate_wait_max_ms) {
				char *when = iso_of(gh->limit_reset_s);

				rc = nsh_err_set(
					err, NSH_EBUSY,
					"%s %s: github rate limit used up; it resets at %s", method,
					shown_path(gh, url), when);
				free(when);
				goto out;
			}
			nsh_time_sleep_ms(wait_ms);
			gh->limit_reset_s = 0;
		}
		token = gh->token;
		if (!token) {
			rc = nsh_github_app_token(gh, &token, err);
			if (rc) {
				nsh_err_wrap(err, "%s %s", method, shown_path(gh, url));
				goto out;
			}
		}
		free(auth);
		auth = nsh_xasprintf("Bearer %s", token);
		if (is_get && !if_none_match &&
		    !nsh_github_cache_get(gh->cache, url, &cached_etag, &cached_body, &cached_len))
			cached_etag = NULL;
		if (is_write)
			write_pause(gh);
		cc = perform(gh, method, url, body, auth,
			     !is_get	     ? NULL
			     : if_none_match ? if_none_match
					     : cached_etag,
			     &x);
		if (is_write)
			last_write_ms = nsh_time_mono_ms();
		if (ret_status)
			*ret_status = x.status;
		if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
			rc = nsh_err_set(err, NSH_ETOOBIG, "%s %s: answer larger than %zu bytes",
					 method, shown_path(gh, url), gh->o.response_max);
			goto out;
		}
		if (cc != CURLE_OK) {
			rc = nsh_err_set(
				err, cc == CURLE_OPERATION_TIMEDOUT ? NSH_ETIMEOUT : NSH_EIO,
				"%s %s: %s", method, shown_path(gh, url), curl_easy_strerror(cc));
			goto out;
		}
		if (parse_count(x.remaining) == 0 && parse_count(x.reset) > now_s)
			gh->limit_reset_s = parse_count(x.reset);
		if (x.status == 304 && if_none_match && is_get) {
			not_modified = true;
			break;
		}
		if (x.status == 304 && cached_etag) {
			from_cache = true;
			gh->cached++;
			break;
		}
		if (x.status >= 200 && x.status < 300)
			break;
		if (x.status == 401 && !gh->token && attempt == 0) {
			nsh_github_app_token_drop(gh);
			continue;
		}
		lim = nsh_github_limit_check(x.status, x.retry_after, x.remaining, x.reset,
					     x.body.buf, now_s, attempt, &wait_ms);
		if (lim != NSH_GITHUB_NOT_LIMITED) {
			gh->limit_reset_s = 0;
			if (wait_ms <= gh->o.rate_wait_max_ms && attempt + 1 < ATTEMPTS_MAX) {
				nsh_time_sleep_ms(wait_ms);
				continue;
			}
			{
				char *when = iso_of(now_s + (wait_ms + 999) / 1000);

				rc = nsh_err_set(
					err, NSH_EBUSY,
					"%s %s: github %s rate limit; it resets at %s", method,
					shown_path(gh, url),
					lim == NSH_GITHUB_PRIMARY ? "primary" : "secondary", when);
				free(when);
			}
			goto out;
		}
		error_message(&x.body, &msg);
		rc = nsh_err_set(err, status_code(x.status), "%s %s: HTTP %ld: %s", method,
				 shown_path(gh, url), x.status, msg.buf);
		goto out;
	}
	if (not_modified) {
		if (ret) {
			memset(ret, 0, sizeof(*ret));
			ret->status = 304;
			ret->not_modified = true;
			ret->etag = nsh_xstrdup(if_none_match);
			ret->date = x.date ? nsh_xstrdup(x.date) : NULL;
		}
		goto out;
	}
	if (!from_cache && (x.status < 200 || x.status >= 300)) {
		rc = nsh_err_set(err, NSH_EFAIL, "%s %s: HTTP %ld after %d tries", method,
				 shown_path(gh, url), x.status, ATTEMPTS_MAX);
		goto out;
	}
	if (is_get && !from_cache && x.etag && x.status == 200)
		nsh_github_cache_put(gh->cache, url, x.etag, x.body.buf, x.body.len);
	if (ret) {
		const char *b = from_cache ? cached_body : x.body.buf;
		size_t len = from_cache ? cached_len : x.body.len;

		memset(ret, 0, sizeof(*ret));
		ret->status = from_cache ? 200 : x.status;
		ret->cached = from_cache;
		if (len && nsh_json_parse_limits(b, len, gh->o.response_max, NSH_JSON_MAX_DEPTH,
						 &ret->json, err)) {
			rc = nsh_err_wrap(err, "%s %s", method, shown_path(gh, url));
			goto out;
		}
		ret->next = x.link ? nsh_github_link_next(x.link) : NULL;
		ret->etag = x.etag ? nsh_xstrdup(from_cache ? cached_etag : x.etag) : NULL;
		if (from_cache && !ret->etag && cached_etag)
			ret->etag = nsh_xstrdup(cached_etag);
		ret->date = x.date ? nsh_xstrdup(x.date) : NULL;
	}
out:
	scrub(err, gh->token);
	scrub(err, gh->inst_token);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	nsh_buf_release(&msg);
	exchange_release(&x);
	return rc;
}

int nsh_github_request(struct nsh_github *gh, const char *method, const char *path,
		       const json_t *body, struct nsh_github_resp *ret, long *ret_status,
		       struct nsh_err *err)
{
	bool is_write = strcmp(method, "GET") != 0;
	char *url = NULL, *text = NULL;
	int rc;

	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PATCH") &&
	    strcmp(method, "PUT") && strcmp(method, "DELETE"))
		return nsh_err_set(err, NSH_EINVAL, "unknown http method '%s'", method);
	if (!strcmp(path, "/graphql")) {
		/* GitHub Enterprise serves GraphQL at /api/graphql beside /api/v3 */
		size_t n = strlen(gh->api);

		if (n > 7 && !strcmp(gh->api + n - 7, "/api/v3"))
			url = nsh_xasprintf("%.*s/api/graphql", (int)(n - 7), gh->api);
		else
			url = nsh_xasprintf("%s/graphql", gh->api);
	} else if (path[0] == '/') {
		url = nsh_xasprintf("%s%s", gh->api, path);
	} else if (!strncmp(path, gh->api, strlen(gh->api)) && path[strlen(gh->api)] == '/') {
		url = nsh_xstrdup(path);
	} else {
		return nsh_err_set(err, NSH_EINVAL, "refusing to send the token to '%.200s'", path);
	}
	if (body) {
		text = nsh_json_dump(body);
		if (!text) {
			free(url);
			return nsh_err_set(err, NSH_EINVAL, "%s %s: cannot encode the body", method,
					   path);
		}
	}
	/* a write without a body still sends "{}"-less empty content */
	if (is_write) {
		/* mint an app token first: it is a request of its own */
		if (!gh->token) {
			const char *t;

			rc = nsh_github_app_token(gh, &t, err);
			if (rc)
				goto out;
		}
		pthread_mutex_lock(&write_mu);
	}
	rc = request_url(gh, method, url, text, NULL, ret, ret_status, is_write, err);
	if (is_write)
		pthread_mutex_unlock(&write_mu);
out:
	free(url);
	free(text);
	return rc;
}

int nsh_github_get_if(struct nsh_github *gh, const char *path, const char *etag,
		      struct nsh_github_resp *ret, struct nsh_err *err)
{
	char *url;
	int rc;

	if (!etag)
		return nsh_github_request(gh, "GET", path, NULL, ret, NULL, err);
	if (path[0] != '/')
		return nsh_err_set(err, NSH_EINVAL, "refusing to send the token to '%.200s'", path);
	url = nsh_xasprintf("%s%s", gh->api, path);
	rc = request_url(gh, "GET", url, NULL, etag, ret, NULL, false, err);
	free(url);
	return rc;
}

int nsh_github_request_auth(struct nsh_github *gh, const char *method, const char *path,
			    const char *auth, json_t **ret, struct nsh_err *err)
{
	struct exchange x = {0};
	struct nsh_buf msg = NSH_BUF_INIT;
	char *url = nsh_xasprintf("%s%s", gh->api, path);
	CURLcode cc;
	int rc = 0;

	cc = perform(gh, method, url, strcmp(method, "GET") ? "{}" : NULL, auth, NULL, &x);
	if (x.too_big) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "%s %s: answer too large", method, path);
	} else if (cc != CURLE_OK) {
		rc = nsh_err_set(err, NSH_EIO, "%s %s: %s", method, path, curl_easy_strerror(cc));
	} else if (x.status < 200 || x.status >= 300) {
		error_message(&x.body, &msg);
		rc = nsh_err_set(err, status_code(x.status), "%s %s: HTTP %ld: %s", method, path,
				 x.status, msg.buf);
	} else {
		rc = nsh_json_parse(x.body.buf, x.body.len, ret, err);
		if (rc)
			nsh_err_wrap(err, "%s %s", method, path);
	}
	nsh_buf_release(&msg);
	exchange_release(&x);
	free(url);
	return rc;
}

int nsh_github_get_all(struct nsh_github *gh, const char *path, const char *key, size_t max_items,
		       json_t **ret, struct nsh_err *err)
{
	char *next = nsh_xstrdup(path);
	json_t *all = *ret ? *ret : json_array();
	int rc = 0;

	for (int page = 0; next && page < NSH_GITHUB_PAGES_MAX; page++) {
		struct nsh_github_resp r = {0};
		json_t *items, *v;
		size_t i;

		rc = nsh_github_request(gh, "GET", next, NULL, &r, NULL, err);
		if (rc)
			break;
		items = key && json_is_object(r.json) ? json_object_get(r.json, key) : r.json;
		if (!json_is_array(items)) {
			rc = nsh_err_set(err, NSH_EINVAL, "GET %s: the answer is not a list", path);
			nsh_github_resp_release(&r);
			break;
		}
		json_array_foreach(items, i, v)
		{
			if (json_array_size(all) >= max_items)
				break;
			json_array_append(all, v);
		}
		free(next);
		next = json_array_size(all) < max_items ? r.next : NULL;
		if (next != r.next)
			free(r.next);
		r.next = NULL;
		nsh_github_resp_release(&r);
	}
	free(next);
	if (rc && !*ret)
		json_decref(all);
	else
		*ret = all;
	return rc;
}
