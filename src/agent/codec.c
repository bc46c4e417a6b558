/*
 * What the two wire formats share: reply assembly, provider errors, the
 * dispatch of encoding and decoding, streamed replies, and the SDKs' retry
 * policy.
 */
#include "agent/llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/agent_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

/* Retry-after values at or above this are ignored (the SDKs' rule). */
#define RETRY_AFTER_MAX_MS 60000

int llm_reply_add_call(struct nsh_llm_reply *r, const char *id, const char *name, const char *args,
		       struct nsh_err *err)
{
	struct nsh_llm_call *k;

	if (r->ncalls >= NSH_LLM_CALLS_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "malformed response: more than %d tool calls",
				   NSH_LLM_CALLS_MAX);
	NSH_ALLOC_GROW(r->calls, r->ncalls + 1, r->alloc);
	k = &r->calls[r->ncalls++];
	k->id = id && *id ? nsh_xstrdup(id) : NULL;
	k->name = nsh_xstrdup(name ? name : "");
	k->args = nsh_xstrdup(args && *args ? args : "{}");
	return 0;
}

void llm_reply_fix_ids(struct nsh_llm_reply *r)
{
	for (size_t i = 0; i < r->ncalls; i++) {
		bool dup = false;

		for (size_t j = 0; r->calls[i].id && j < i; j++)
			if (!strcmp(r->calls[i].id, r->calls[j].id))
				dup = true;
		if (!r->calls[i].id || dup) {
			free(r->calls[i].id);
			r->calls[i].id = nsh_xasprintf("call_nsh_%zu", i);
		}
	}
}

void llm_reply_add_text(struct nsh_llm_reply *r, const char *s, size_t len)
{
	size_t old = r->text ? strlen(r->text) : 0;

	if (!len)
		return;
	r->text = nsh_xrealloc(r->text, old + len + 1);
	memcpy(r->text + old, s, len);
	r->text[old + len] = '\0';
}

int llm_json_parse(const char *p, size_t len, size_t max, json_t **ret, struct nsh_err *err)
{
	int rc = nsh_json_parse_limits(p, len, max, LLM_JSON_DEPTH, ret, err);

	if (rc)
		return nsh_err_wrap(err, "malformed response");
	return 0;
}

char *llm_json_strdup(const json_t *root, const char *path)
{
	const char *s = NULL;

	if (nsh_json_opt_str(root, path, NULL, &s, NULL) || !s)
		return NULL;
	return nsh_xstrdup(s);
}

void llm_error_from_obj(const json_t *o, struct nsh_llm_error *e)
{
	json_t *code;

	nsh_llm_error_release(e);
	if (!json_is_object(o)) {
		if (json_is_string(o))
			e->message = nsh_xstrdup(json_string_value(o));
		return;
	}
	e->type = llm_json_strdup(o, "type");
	e->message = llm_json_strdup(o, "message");
	code = json_object_get(o, "code");
	if (json_is_string(code))
		e->code = nsh_xstrdup(json_string_value(code));
	else if (json_is_integer(code))
		e->code = nsh_xasprintf("%lld", (long long)json_integer_value(code));
	/* Anthropic: error.details.error_code ("enforced_spend_limit_reached") */
	if (!e->code)
		e->code = llm_json_strdup(o, "details.error_code");
}

bool nsh_llm_error_parse(const char *body, size_t len, struct nsh_llm_error *ret)
{
	json_t *root = NULL, *e;
	bool ok = false;

	memset(ret, 0, sizeof(*ret));
	if (nsh_json_parse_limits(body, len, NSH_LLM_RESPONSE_MAX, LLM_JSON_DEPTH, &root, NULL))
		return false;
	e = json_is_object(root) ? json_object_get(root, "error") : NULL;
	if (e && (json_is_object(e) || json_is_string(e))) {
		llm_error_from_obj(e, ret);
		ok = true;
	}
	json_decref(root);
	return ok;
}

int llm_error_set(struct nsh_err *err, int code, const struct nsh_llm_error *e)
{
	const char *msg = e->message && *e->message ? e->message : "no message";

	if (e->type && e->code)
		return nsh_err_set(err, code, "provider error (%s, %s): %s", e->type, e->code, msg);
	if (e->type || e->code)
		return nsh_err_set(err, code, "provider error (%s): %s",
				   e->type ? e->type : e->code, msg);
	return nsh_err_set(err, code, "provider error: %s", msg);
}

static bool is_quota(const struct nsh_llm_error *e)
{
	static const char *const words[] = {"insufficient_quota", "enforced_spend_limit_reached",
					    "billing_error"};

	for (size_t i = 0; e && i < sizeof(words) / sizeof(words[0]); i++)
		if ((e->code && !strcmp(e->code, words[i])) ||
		    (e->type && !strcmp(e->type, words[i])))
			return true;
	return false;
}

bool nsh_llm_retryable(int status, const char *should_retry, const struct nsh_llm_error *e)
{
	if (is_quota(e))
		return false;
	if (should_retry && !strcasecmp(should_retry, "true"))
		return true;
	if (should_retry && !strcasecmp(should_retry, "false"))
		return false;
	return status == 0 || status == 408 || status == 409 || status == 429 || status >= 500;
}

/* Parse an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT") into epoch ms; -1 when it is not one. */
static int64_t http_date_ms(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

int64_t nsh_llm_retry_delay_ms(int attempt, const char *retry_after_ms, const char *retry_after,
			       int64_t base_ms, double jitter, int64_t now_ms)
{
	double d = -1, cap;

	if (retry_after_ms && *retry_after_ms) {
		char *end;
		double v = strtod(retry_after_ms, &end);

		if (end != retry_after_ms && !*end && isfinite(v))
			d = v;
	}
	if (d < 0 && retry_after && *retry_after) {
		char *end;
		double v = strtod(retry_after, &end);

		if (end != retry_after && !*end && isfinite(v)) {
			d = v * 1000;
		} else {
			int64_t at = http_date_ms(retry_after);

			if (at >= 0)
				d = (double)(at - now_ms);
		}
	}
	if (d > 0 && d < RETRY_AFTER_MAX_MS)
		return (int64_t)d;
	if (base_ms <= 0)
		base_ms = 500;
	if (attempt < 0)
		attempt = 0;
	if (attempt > 16)
		attempt = 16;
	d = (double)base_ms * (double)((int64_t)1 << attempt);
	cap = (double)base_ms * 16;
	if (d > cap)
		d = cap;
	if (jitter < 0 || jitter >= 1)
		jitter = 0;
	return (int64_t)(d * (1 - 0.25 * jitter));
}

int nsh_llm_encode(enum nsh_llm_api api, const struct nsh_llm_request *rq, const char *model,
		   int max_tokens, bool use_max_tokens, bool stream, json_t **ret,
		   struct nsh_err *err)
{
	if (api == NSH_LLM_ANTHROPIC)
		return llm_anthropic_encode(rq, model, max_tokens, stream, ret, err);
	return llm_openai_encode(rq, model, max_tokens, use_max_tokens, stream, ret, err);
}

/* A missing field in a reply is a malformed reply, not a missing thing: NSH_EINVAL. */
static int malformed(struct nsh_err *err, int rc)
{
	if (rc == NSH_ENOTFOUND) {
		if (err)
			err->code = NSH_EINVAL;
		return NSH_EINVAL;
	}
	return rc;
}

int nsh_llm_decode(enum nsh_llm_api api, const char *body, size_t len, struct nsh_llm_reply *ret,
		   struct nsh_err *err)
{
	struct nsh_llm_reply r = {0};
	json_t *root = NULL;
	int rc;

	rc = llm_json_parse(body, len, NSH_LLM_RESPONSE_MAX, &root, err);
	if (rc)
		goto out;
	if (!json_is_object(root)) {
		rc = nsh_err_set(err, NSH_EINVAL, "malformed response: not a JSON object");
		goto out;
	}
	if (json_object_get(root, "error") && !json_is_null(json_object_get(root, "error"))) {
		struct nsh_llm_error e = {0};

		llm_error_from_obj(json_object_get(root, "error"), &e);
		rc = llm_error_set(err, NSH_EFAIL, &e);
		nsh_llm_error_release(&e);
		goto out;
	}
	rc = api == NSH_LLM_ANTHROPIC ? llm_anthropic_decode(root, &r, err)
				      : llm_openai_decode(root, &r, err);
	if (rc)
		goto out_malformed;
	llm_reply_fix_ids(&r);
	if (r.ncalls)
		r.stop = NSH_LLM_STOP_TOOL_USE;
	*ret = r;
	memset(&r, 0, sizeof(r));
	goto out;
out_malformed:
	rc = malformed(err, rc);
out:
	nsh_llm_reply_release(&r);
	json_decref(root);
	return rc;
}

/* ---- streamed replies ---- */

static int stream_event(const char *event, const char *data, size_t len, void *ctx,
			struct nsh_err *err)
{
	struct nsh_llm_stream *s = ctx;
	int rc;

	if (s->failed)
		return 0;
	rc = s->api == NSH_LLM_ANTHROPIC ? llm_anthropic_event(s, event, data, len, err)
					 : llm_openai_event(s, event, data, len, err);
	if (rc)
		s->failed = true;
	return malformed(err, rc);
}

struct nsh_llm_stream *nsh_llm_stream_new(enum nsh_llm_api api)
{
	struct nsh_llm_stream *s = nsh_xcalloc(1, sizeof(*s));

	s->api = api;
	nsh_sse_init(&s->sse, stream_event, s);
	return s;
}

void nsh_llm_stream_free(struct nsh_llm_stream *s)
{
	if (!s)
		return;
	nsh_sse_release(&s->sse);
	nsh_llm_reply_release(&s->reply);
	for (size_t i = 0; i < s->nparts; i++) {
		free(s->parts[i].id);
		free(s->parts[i].name);
		nsh_buf_release(&s->parts[i].args);
	}
	free(s->parts);
	nsh_llm_error_release(&s->error);
	free(s);
}

struct llm_part *llm_stream_part(struct nsh_llm_stream *s, long index, int kind)
{
	struct llm_part *p;

	for (size_t i = 0; i < s->nparts; i++)
		if (s->parts[i].index == index)
			return &s->parts[i];
	if (s->nparts >= NSH_LLM_BLOCKS_MAX)
		return NULL;
	NSH_ALLOC_GROW(s->parts, s->nparts + 1, s->alloc);
	p = &s->parts[s->nparts++];
	memset(p, 0, sizeof(*p));
	p->index = index;
	p->kind = kind;
	nsh_buf_init(&p->args, NSH_LLM_RESPONSE_MAX);
	return p;
}

int nsh_llm_stream_feed(struct nsh_llm_stream *s, const char *p, size_t len, struct nsh_err *err)
{
	int rc;

	if (s->failed)
		return nsh_err_set(err, NSH_EINVAL, "malformed response: stream already failed");
	rc = nsh_sse_feed(&s->sse, p, len, err);
	if (rc) {
		s->failed = true;
		if (rc == NSH_ETOOBIG)
			nsh_err_wrap(err, "malformed response");
	}
	return rc;
}

bool nsh_llm_stream_started(const struct nsh_llm_stream *s)
{
	return s->started;
}

const struct nsh_llm_error *nsh_llm_stream_error(const struct nsh_llm_stream *s)
{
	return s->has_error ? &s->error : NULL;
}

/* Validate one streamed tool call's arguments and add it to the reply. */
static int finish_part(struct nsh_llm_stream *s, struct llm_part *p, struct nsh_err *err)
{
	const char *args = p->args.len ? p->args.buf : "{}";

	if (p->kind != PART_TOOL)
		return 0;
	if (!p->name || !*p->name)
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: streamed tool call %ld has no name",
				   p->index);
	return llm_reply_add_call(&s->reply, p->id, p->name, args, err);
}

int nsh_llm_stream_finish(struct nsh_llm_stream *s, struct nsh_llm_reply *ret, struct nsh_err *err)
{
	int rc;

	if (s->failed)
		return nsh_err_set(err, NSH_EINVAL, "malformed response: stream already failed");
	rc = nsh_sse_finish(&s->sse, err);
	if (rc) {
		s->failed = true;
		return rc;
	}
	if (!s->done && !s->finished)
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: the stream ended before the reply was "
				   "complete (no %s)",
				   s->api == NSH_LLM_ANTHROPIC ? "message_stop" : "[DONE]");
	for (size_t i = 0; i < s->nparts; i++) {
		rc = finish_part(s, &s->parts[i], err);
		if (rc) {
			s->failed = true;
			return rc;
		}
	}
	llm_reply_fix_ids(&s->reply);
	if (s->reply.ncalls)
		s->reply.stop = NSH_LLM_STOP_TOOL_USE;
	*ret = s->reply;
	memset(&s->reply, 0, sizeof(s->reply));
	s->failed = true; /* consumed */
	return 0;
}
