/*
 * The provider client: settings from the configuration, and one turn sent
 * over libcurl with timeouts, a response size cap, streaming, the SDKs'
 * retry policy and optional recording.
 */
#include "agent/llm.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "agent/agent_int.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"

#include "core/banned.h"

#define USER_AGENT	"nightshift/0.1"
#define CANCEL_SLICE_MS 100

#define NOT_CONFIGURED                                                                   \
 "no language model configured: set NIGHTSHIFT_LLM_API (openai or anthropic), "          \
 "NIGHTSHIFT_LLM_URL (e.g. http://localhost:11434/v1), NIGHTSHIFT_LLM_MODEL and, for "   \
 "hosted APIs, NIGHTSHIFT_LLM_KEY; or the same keys (api, url, model, key) under [llm] " \
 "in $NIGHTSHIFT_HOME/config"

const char *nsh_llm_api_name(enum nsh_llm_api api)
{
	return api == NSH_LLM_ANTHROPIC ? "anthropic" : "openai";
}

void nsh_llm_settings_init(struct nsh_llm_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->api = NSH_LLM_OPENAI;
	s->connect_timeout_ms = 10000;
	s->timeout_ms = 600000;
	s->idle_timeout_ms = 120000;
	s->response_max = NSH_LLM_RESPONSE_MAX;
	s->max_retries = 4;
	s->retry_base_ms = 500;
	s->max_tokens = 8192;
	s->context_tokens = 128000;
	s->price.input = s->price.output = s->price.cache_read = s->price.cache_write = -1;
}

void nsh_llm_settings_release(struct nsh_llm_settings *s)
{
	if (!s)
		return;
	free(s->url);
	free(s->model);
	free(s->key);
	free(s->record_dir);
	s->url = s->model = s->key = s->record_dir = NULL;
}

static char *get_str(const struct nsh_config *cfg, const char *section, const char *key)
{
	const char *v = nsh_config_get(cfg, section, key);

	return v && *v ? nsh_xstrdup(v) : NULL;
}

/* Whether @url's host is one of the hosted APIs (streaming is safe there). */
static bool hosted(const char *url)
{
	return strstr(url, "://api.openai.com") || strstr(url, "://api.anthropic.com");
}

static int load_prices(const struct nsh_config *cfg, struct nsh_llm_settings *s,
		       struct nsh_err *err)
{
	static const char *const names[] = {"input", "output", "cache_read", "cache_write"};
	double *dst[] = {&s->price.input, &s->price.output, &s->price.cache_read,
			 &s->price.cache_write};
	int rc = 0;

	for (size_t i = 0; !rc && i < 4; i++) {
		char *key = nsh_xasprintf("price_%s", names[i]);

		rc = nsh_config_get_number(cfg, "llm", key, -1, dst[i], err);
		free(key);
		if (!rc) {
			key = nsh_xasprintf("%s.%s", s->model, names[i]);
			rc = nsh_config_get_number(cfg, "prices", key, *dst[i], dst[i], err);
			free(key);
		}
	}
	if (rc)
		return rc;
	/* cache prices follow the input price as the providers bill them */
	if (s->price.input >= 0 && s->price.cache_read < 0)
		s->price.cache_read = s->price.input * 0.1;
	if (s->price.input >= 0 && s->price.cache_write < 0)
		s->price.cache_write = s->price.input * 1.25;
	return 0;
}

int nsh_llm_settings_load(const struct nsh_config *cfg, struct nsh_llm_settings *ret,
			  struct nsh_err *err)
{
	struct nsh_llm_settings s;
	const char *api, *field;
	long long n;
	uint64_t size;
	bool b;
	int rc;

	nsh_llm_settings_init(&s);
	api = nsh_config_get(cfg, "llm", "api");
	s.model = get_str(cfg, "llm", "model");
	s.url = get_str(cfg, "llm", "url");
	s.key = get_str(cfg, "llm", "key");
	s.record_dir = get_str(cfg, "llm", "record");
	if (!s.model) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, NOT_CONFIGURED);
		goto out;
	}
	if (!api || !*api || !strcasecmp(api, "openai")) {
		s.api = NSH_LLM_OPENAI;
	} else if (!strcasecmp(api, "anthropic")) {
		s.api = NSH_LLM_ANTHROPIC;
	} else {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "invalid value '%s' for 'llm.api': expected 'openai' or "
				 "'anthropic'",
				 api);
		goto out;
	}
	if (!s.url)
		s.url = nsh_xstrdup(s.api == NSH_LLM_ANTHROPIC ? "https://api.anthropic.com/v1"
							       : "https://api.openai.com/v1");
	if (strncmp(s.url, "http://", 7) && strncmp(s.url, "https://", 8)) {
		rc = nsh_err_set(
			err, NSH_EINVAL,
			"invalid value '%s' for 'llm.url': expected an http:// or https:// "
			"URL",
			s.url);
		goto out;
	}
	rc = nsh_config_get_duration(cfg, "llm", "timeout", s.timeout_ms, &s.timeout_ms, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "llm", "connect_timeout", s.connect_timeout_ms,
					     &s.connect_timeout_ms, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "llm", "idle_timeout", s.idle_timeout_ms,
					     &s.idle_timeout_ms, err);
	if (!rc)
		rc = nsh_config_get_int(cfg, "llm", "retries", s.max_retries, &n, err);
	if (!rc) {
		s.max_retries = n < 0 ? 0 : n > 20 ? 20 : (int)n;
		rc = nsh_config_get_int(cfg, "llm", "retry_base_ms", s.retry_base_ms, &n, err);
	}
	if (!rc) {
		s.retry_base_ms = n < 1 ? 1 : n;
		rc = nsh_config_get_int(cfg, "llm", "max_tokens", s.max_tokens, &n, err);
	}
	if (!rc) {
		s.max_tokens = n < 1 ? 1 : n > 1000000 ? 1000000 : (int)n;
		rc = nsh_config_get_bool(cfg, "llm", "stream", hosted(s.url), &b, err);
	}
	if (!rc) {
		s.stream = b;
		rc = nsh_config_get_int(cfg, "llm", "context_tokens", s.context_tokens, &n, err);
	}
	if (!rc) {
		s.context_tokens = n < 1024 ? 1024 : n;
		rc = nsh_config_get_size(cfg, "llm", "response_max", s.response_max, &size, err);
	}
	if (!rc) {
		s.response_max = size < 4096 ? 4096 : size > (1u << 30) ? (1u << 30) : size;
		rc = nsh_config_get_int(cfg, "llm", "budget_tokens", s.budget_tokens, &n, err);
	}
	if (!rc) {
		s.budget_tokens = n < 0 ? 0 : n;
		rc = nsh_config_get_number(cfg, "llm", "budget_cost", 0, &s.budget_cost, err);
	}
	if (!rc)
		rc = load_prices(cfg, &s, err);
	if (rc)
		goto out;
	field = nsh_config_get(cfg, "llm", "max_tokens_field");
	if (!field || !*field || !strcmp(field, "auto")) {
		/* local servers know max_tokens; OpenAI's reasoning models refuse it */
		s.use_max_tokens = !strstr(s.url, "://api.openai.com");
	} else if (!strcmp(field, "max_tokens") || !strcmp(field, "max_completion_tokens")) {
		s.use_max_tokens = !strcmp(field, "max_tokens");
	} else {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "invalid value '%s' for 'llm.max_tokens_field': expected "
				 "'max_tokens', 'max_completion_tokens' or 'auto'",
				 field);
		goto out;
	}
	if (s.timeout_ms <= 0 || s.connect_timeout_ms <= 0) {
		rc = nsh_err_set(err, NSH_EINVAL, "llm timeouts must be longer than zero");
		goto out;
	}
	*ret = s;
	nsh_llm_settings_init(&s);
	rc = 0;
out:
	nsh_llm_settings_release(&s);
	return rc;
}

/* ---- the client ---- */

struct nsh_llm {
	const struct nsh_llm_settings *s;
	CURL *curl;		    /* one easy handle, reused (keeps the connection) */
	char *endpoint;		    /* full URL of the chat endpoint */
	struct curl_slist *headers; /* fixed request headers */
	struct nsh_llm_stats stats;
	struct llm_recorder *rec; /* NULL unless recording */
};

/* What one HTTP attempt brought back. */
struct attempt {
	struct nsh_llm *c;
	long status;		       /* HTTP status, 0 before headers */
	struct nsh_buf body;	       /* the body (non-streamed, or an error body) */
	struct nsh_buf raw;	       /* a streamed body as received (for recording) */
	struct nsh_llm_stream *stream; /* decoder, when the body is an event stream */
	bool stream_wanted;	       /* the request asked for a stream */
	int stream_rc;		       /* first decoder error */
	struct nsh_err stream_err;     /* its message */
	bool too_big;		       /* the cap was hit */
	size_t received;	       /* body bytes so far */
	char *retry_after;	       /* headers that steer retries */
	char *retry_after_ms;
	char *should_retry;
	char *request_id;
	bool (*cancel)(void *ctx); /* polled during the transfer */
	void *cancel_ctx;
	bool cancelled;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *endpoint_for(const struct nsh_llm_settings *s)
{
	size_t n = strlen(s->url);
	const char *suffix = s->api == NSH_LLM_ANTHROPIC ? "/messages" : "/chat/completions";

	while (n && s->url[n - 1] == '/')
		n--;
	if (n >= strlen(suffix) && !strncmp(s->url + n - strlen(suffix), suffix, strlen(suffix)))
		return nsh_xstrndup(s->url, n);
	return nsh_xasprintf("%.*s%s", (int)n, s->url, suffix);
}

int nsh_llm_new(const struct nsh_llm_settings *s, const struct nsh_redactor *redactor,
		const char *record_name, struct nsh_llm **ret, struct nsh_err *err)
{
	struct nsh_llm *c;
	char *h;
	int rc;

	pthread_once(&curl_once, curl_init_once);
	c = nsh_xcalloc(1, sizeof(*c));
	c->s = s;
	c->endpoint = endpoint_for(s);
	c->curl = curl_easy_init();
	if (!c->curl) {
		rc = nsh_err_set(err, NSH_EIO, "cannot initialise libcurl");
		goto fail;
	}
	c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (s->api == NSH_LLM_ANTHROPIC) {
		c->headers = curl_slist_append(c->headers,
					       "anthropic-version: " NSH_LLM_ANTHROPIC_VERSION);
		if (s->key) {
			h = nsh_xasprintf("x-api-key: %s", s->key);
			c->headers = curl_slist_append(c->headers, h);
			free(h);
		}
	} else if (s->key) {
		h = nsh_xasprintf("Authorization: Bearer %s", s->key);
		c->headers = curl_slist_append(c->headers, h);
		free(h);
	}
	if (s->record_dir) {
		rc = llm_recorder_open(s->record_dir, record_name, c->endpoint, s->api, redactor,
				       &c->rec, err);
		if (rc)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	nsh_llm_free(c);
	return rc;
}

void nsh_llm_free(struct nsh_llm *c)
{
	if (!c)
		return;
	llm_recorder_close(c->rec);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->endpoint);
	free(c);
}

void nsh_llm_get_stats(const struct nsh_llm *c, struct nsh_llm_stats *ret)
{
	*ret = c->stats;
}

const struct nsh_llm_settings *nsh_llm_settings(const struct nsh_llm *c)
{
	return c->s;
}

static void attempt_release(struct attempt *a)
{
	nsh_buf_release(&a->body);
	nsh_buf_release(&a->raw);
	nsh_llm_stream_free(a->stream);
	free(a->retry_after);
	free(a->retry_after_ms);
	free(a->should_retry);
	free(a->request_id);
}

/* Keep the headers that matter: retry-after(-ms), x-should-retry, request ids. */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct attempt *a = ctx;
	size_t len = size * n;
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
		{"retry-after", offsetof(struct attempt, retry_after)},
		{"retry-after-ms", offsetof(struct attempt, retry_after_ms)},
		{"x-should-retry", offsetof(struct attempt, should_retry)},
		{"request-id", offsetof(struct attempt, request_id)},
		{"x-request-id", offsetof(struct attempt, request_id)},
	};
	const char *colon = memchr(p, ':', len);

	if (!colon || len > 8192)
		return len;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t nl = strlen(keep[i].name);
		char **dst = (char **)((char *)a + keep[i].off);
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
	struct attempt *a = ctx;
	size_t len = size * n;
	char *ct = NULL;

	if (a->received + len > a->c->s->response_max) {
		a->too_big = true;
		return 0;
	}
	a->received += len;
	if (!a->status)
		curl_easy_getinfo(a->c->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (!a->stream && a->stream_wanted && a->status >= 200 && a->status < 300 && !a->body.len) {
		curl_easy_getinfo(a->c->curl, CURLINFO_CONTENT_TYPE, &ct);
		if (ct && strstr(ct, "text/event-stream"))
			a->stream = nsh_llm_stream_new(a->c->s->api);
	}
	if (a->stream) {
		if (a->c->rec)
			nsh_buf_add(&a->raw, p, len);
		if (!a->stream_rc)
			a->stream_rc = nsh_llm_stream_feed(a->stream, p, len, &a->stream_err);
		return len;
	}
	if (nsh_buf_add(&a->body, p, len)) {
		a->too_big = true;
		return 0;
	}
	return len;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct attempt *a = ctx;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	if (a->cancel && a->cancel(a->cancel_ctx)) {
		a->cancelled = true;
		return 1;
	}
	return 0;
}

/* Send @body once; the outcome is in @a. Returns the curl code. */
static CURLcode perform(struct nsh_llm *c, const char *body, size_t len, struct attempt *a)
{
	CURL *h = c->curl;
	int64_t t0 = nsh_time_mono_ns();
	CURLcode cc;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, c->endpoint);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->s->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->s->timeout_ms);
	if (c->s->idle_timeout_ms > 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
				 (long)((c->s->idle_timeout_ms + 999) / 1000));
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	cc = curl_easy_perform(h);
	if (!a->status)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	c->stats.requests++;
	c->stats.http_ns += nsh_time_mono_ns() - t0;
	return cc;
}

static double jitter(void)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)nsh_time_mono_ns();
	return (double)r / 4294967296.0;
}

/* Sleep @ms, waking early (true) when @cancel says so. */
static bool sleep_cancellable(int64_t ms, bool (*cancel)(void *), void *ctx)
{
	int64_t end = nsh_time_mono_ms() + ms;

	for (;;) {
		int64_t left = end - nsh_time_mono_ms();

		if (cancel && cancel(ctx))
			return true;
		if (left <= 0)
			return false;
		nsh_time_sleep_ms(left < CANCEL_SLICE_MS ? left : CANCEL_SLICE_MS);
	}
}

/* Turn a non-2xx response into an error; *@ret_retry says whether to try again. */
static int http_error(struct nsh_llm *c, struct attempt *a, bool *ret_retry, struct nsh_err *err)
{
	struct nsh_llm_error e = {0};
	bool parsed = nsh_llm_error_parse(a->body.buf, a->body.len, &e);
	int rc;

	*ret_retry = nsh_llm_retryable((int)a->status, a->should_retry, parsed ? &e : NULL);
	if (parsed && !*ret_retry && a->status == 429) {
		rc = nsh_err_set(err, NSH_EDENIED, "quota exhausted (%s): %s; not retried",
				 e.code	  ? e.code
				 : e.type ? e.type
					  : "429",
				 e.message ? e.message : "no message");
	} else if (parsed) {
		struct nsh_err inner = NSH_ERR_INIT;

		llm_error_set(&inner, NSH_EFAIL, &e);
		rc = nsh_err_set(err,
				 a->status == 401 || a->status == 403 ? NSH_EDENIED : NSH_EFAIL,
				 "HTTP %ld %s", a->status, inner.msg);
	} else {
		/* not a provider error body: show its start, it names the problem */
		size_t n = a->body.len > 200 ? 200 : a->body.len;

		rc = nsh_err_set(err, NSH_EFAIL, "HTTP %ld: %.*s", a->status, (int)n, a->body.buf);
	}
	if (a->request_id)
		nsh_err_wrap(err, "request %s", a->request_id);
	(void)c;
	nsh_llm_error_release(&e);
	return rc;
}

/*
 * Read the outcome of one attempt into @ret. *@ret_retry says whether the
 * failure is worth another attempt.
 */
static int outcome(struct nsh_llm *c, CURLcode cc, struct attempt *a, struct nsh_llm_reply *ret,
		   bool *ret_retry, struct nsh_err *err)
{
	*ret_retry = false;
	if (a->cancelled)
		return nsh_err_set(err, NSH_ECONFLICT, "cancelled while waiting for the model");
	if (a->too_big)
		return nsh_err_set(err, NSH_ETOOBIG, "response larger than %zu bytes",
				   c->s->response_max);
	if (cc != CURLE_OK && !(a->stream && cc == CURLE_WRITE_ERROR)) {
		*ret_retry = true;
		if (cc == CURLE_OPERATION_TIMEDOUT)
			return nsh_err_set(err, NSH_ETIMEOUT, "request timed out: %s",
					   curl_easy_strerror(cc));
		return nsh_err_set(err, NSH_EIO, "cannot reach '%s': %s", c->endpoint,
				   curl_easy_strerror(cc));
	}
	if (a->status < 200 || a->status >= 300)
		return http_error(c, a, ret_retry, err);
	if (a->stream) {
		const struct nsh_llm_error *e;

		if (!a->stream_rc)
			a->stream_rc = nsh_llm_stream_finish(a->stream, ret, &a->stream_err);
		if (!a->stream_rc)
			return 0;
		e = nsh_llm_stream_error(a->stream);
		/* an error event (overloaded_error is a 529 in disguise) or a cut stream */
		*ret_retry = e ? nsh_llm_retryable(529, NULL, e) : true;
		return nsh_err_set(err, a->stream_rc, "%s", a->stream_err.msg);
	}
	{
		int rc = nsh_llm_decode(c->s->api, a->body.buf, a->body.len, ret, err);

		/* an error object in a 2xx body, or garbage: worth another try */
		if (rc)
			*ret_retry = true;
		return rc;
	}
}

int nsh_llm_send(struct nsh_llm *c, const struct nsh_llm_request *rq, struct nsh_llm_reply *ret,
		 bool (*cancel)(void *ctx), void *cancel_ctx, struct nsh_err *err)
{
	const struct nsh_llm_settings *s = c->s;
	json_t *body = NULL;
	char *text = NULL;
	int attempts = 0, rc;

	rc = nsh_llm_encode(s->api, rq, s->model, s->max_tokens, s->use_max_tokens, s->stream,
			    &body, err);
	if (rc)
		goto out;
	text = nsh_json_dump(body);
	for (;;) {
		struct attempt a;
		struct nsh_llm_reply r = {0};
		bool retry = false;
		CURLcode cc;

		memset(&a, 0, sizeof(a));
		a.c = c;
		a.stream_wanted = s->stream;
		a.cancel = cancel;
		a.cancel_ctx = cancel_ctx;
		nsh_buf_init(&a.body, s->response_max);
		nsh_buf_init(&a.raw, s->response_max);
		cc = perform(c, text, strlen(text), &a);
		attempts++;
		rc = outcome(c, cc, &a, &r, &retry, err);
		if (c->rec)
			llm_recorder_add(c->rec, body, (int)a.status, a.retry_after_ms,
					 a.retry_after, a.stream ? &a.raw : &a.body,
					 a.stream != NULL);
		if (!rc) {
			if (r.usage_known)
				nsh_llm_usage_add(&c->stats.usage, &r.usage);
			*ret = r;
			attempt_release(&a);
			goto out;
		}
		nsh_llm_reply_release(&r);
		if (!retry || attempts > s->max_retries || rc == NSH_ECONFLICT) {
			attempt_release(&a);
			if (attempts > 1 && retry)
				nsh_err_wrap(err, "gave up after %d attempts", attempts);
			break;
		}
		{
			int64_t delay = nsh_llm_retry_delay_ms(attempts - 1, a.retry_after_ms,
							       a.retry_after, s->retry_base_ms,
							       jitter(), nsh_time_now_ms());

			attempt_release(&a);
			c->stats.retries++;
			if (sleep_cancellable(delay, cancel, cancel_ctx)) {
				rc = nsh_err_set(err, NSH_ECONFLICT,
						 "cancelled while waiting to retry");
				break;
			}
		}
	}
out:
	if (rc)
		nsh_err_wrap(err, "%s", nsh_llm_api_name(s->api));
	free(text);
	json_decref(body);
	return rc;
}
