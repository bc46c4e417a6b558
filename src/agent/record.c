/*
 * Recording real exchanges (NIGHTSHIFT_LLM_RECORD=DIR) in the scenario
 * format of the scripted test server (tests/agent/server.js), so that a
 * real session can be replayed as a regression test. Each step's "expect"
 * holds what identifies the request without freezing volatile text: the
 * path, the model and stream flag, the number of messages, the role of the
 * newest one and the offered tools. The API key is never recorded (it
 * travels in headers, which are not), and the redactor runs over the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/llm.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "secrets/secrets.h"

#include "core/banned.h"

struct llm_recorder {
	char *path;			     /* the scenario file */
	char *url_path;			     /* path of the endpoint, "/v1/messages" */
	enum nsh_llm_api api;		     /* wire format */
	const struct nsh_redactor *redactor; /* may be NULL */
	json_t *scenario;		     /* the document, rewritten after each step */
};

static char *url_path(const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : NULL;
	return nsh_xstrdup(p ? p : "/");
}

/* A file name part: [A-Za-z0-9._-], others become '-'. */
static char *safe_name(const char *s)
{
	char *n = nsh_xstrdup(s);

	for (char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			*p = '-';
	if (n[0] == '.')
		n[0] = '-';
	return n;
}

int llm_recorder_open(const char *dir, const char *name, const char *endpoint, enum nsh_llm_api api,
		      const struct nsh_redactor *redactor, struct llm_recorder **ret,
		      struct nsh_err *err)
{
	struct llm_recorder *rec;
	char *base;
	int rc;

	rc = nsh_fs_mkdir_p(dir, 0700, err);
	if (rc)
		return nsh_err_wrap(err, "cannot record llm exchanges");
	if (name)
		base = safe_name(name);
	else
		base = nsh_xasprintf("session-%lld-%d", (long long)nsh_time_now_ms(),
				     (int)getpid());
	rec = nsh_xcalloc(1, sizeof(*rec));
	rec->path = nsh_xasprintf("%s/%s.json", dir, base);
	free(base);
	rec->url_path = url_path(endpoint);
	rec->api = api;
	rec->redactor = redactor;
	rec->scenario = json_pack("{s:s, s:s, s:b, s:[]}", "name", name ? name : "recorded session",
				  "api", nsh_llm_api_name(api), "recorded", 1, "steps");
	*ret = rec;
	return 0;
}

/* The request predicates of a recorded step. */
static json_t *expectation(const struct llm_recorder *rec, const json_t *request)
{
	json_t *msgs = json_object_get(request, "messages"),
	       *tools = json_object_get(request, "tools");
	json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
	json_t *e = json_pack("{s:s, s:s}", "method", "POST", "path", rec->url_path);
	json_t *subset = json_object(), *names;
	size_t i;
	json_t *t;

	json_object_set(subset, "model", json_object_get(request, "model"));
	json_object_set_new(subset, "stream",
			    json_boolean(json_is_true(json_object_get(request, "stream"))));
	json_object_set_new(e, "json", subset);
	json_object_set_new(e, "message_count", json_integer((json_int_t)json_array_size(msgs)));
	if (json_is_string(json_object_get(last, "role")))
		json_object_set(e, "last_role", json_object_get(last, "role"));
	names = json_array();
	json_array_foreach(tools, i, t)
	{
		json_t *n = json_object_get(t, "name");

		if (!n)
			n = json_object_get(json_object_get(t, "function"), "name");
		if (json_is_string(n))
			json_array_append(names, n);
	}
	json_object_set_new(e, "tools", names);
	return e;
}

void llm_recorder_add(struct llm_recorder *rec, const json_t *request, int status,
		      const char *retry_after_ms, const char *retry_after,
		      const struct nsh_buf *body, bool sse)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf out = NSH_BUF_INIT;
	json_t *resp = json_object(), *headers = json_object(), *parsed = NULL;
	char *text = NULL;

	if (!status) {
		json_object_set_new(resp, "close", json_true());
	} else {
		json_object_set_new(resp, "status", json_integer(status));
		if (retry_after_ms)
			json_object_set_new(headers, "retry-after-ms", json_string(retry_after_ms));
		if (retry_after)
			json_object_set_new(headers, "retry-after", json_string(retry_after));
		if (json_object_size(headers))
			json_object_set(resp, "headers", headers);
		if (sse)
			json_object_set_new(resp, "sse_raw",
					    nsh_json_string_lossy(body->buf, body->len));
		else if (!nsh_json_parse(body->buf, body->len, &parsed, NULL))
			json_object_set(resp, "json", parsed);
		else
			json_object_set_new(resp, "body",
					    nsh_json_string_lossy(body->buf, body->len));
	}
	json_array_append_new(
		json_object_get(rec->scenario, "steps"),
		json_pack("{s:o, s:o}", "expect", expectation(rec, request), "response", resp));
	text = json_dumps(rec->scenario, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		goto out;
	if (rec->redactor) {
		if (nsh_redact_buf(rec->redactor, text, strlen(text), &out, &err))
			goto fail;
	} else if (nsh_buf_adds(&out, text)) {
		goto out;
	}
	nsh_buf_addch(&out, '\n');
	if (nsh_fs_write_atomic(rec->path, out.buf, out.len, 0600, &err))
		goto fail;
	goto out;
fail:
	nsh_log_debug("llm record: %s", err.msg);
out:
	free(text);
	nsh_buf_release(&out);
	json_decref(parsed);
	json_decref(headers);
}

void llm_recorder_close(struct llm_recorder *rec)
{
	if (!rec)
		return;
	json_decref(rec->scenario);
	free(rec->path);
	free(rec->url_path);
	free(rec);
}
