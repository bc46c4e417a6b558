/*
 * The OpenAI Chat Completions wire format (POST {base}/chat/completions),
 * also spoken by Ollama, llama.cpp, vLLM, LM Studio and Bedrock's
 * OpenAI-compatible endpoint. Request: system, user, assistant (content
 * and tool_calls with "arguments" as a JSON string) and one "tool" message
 * per call. Reply: choices[0].message, finish_reason and usage, where
 * prompt_tokens includes the cached tokens. Stream: "data: <chunk>" events
 * with tool-call pieces keyed by index, a usage chunk with no choices, and
 * "data: [DONE]".
 */
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/llm.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

static json_t *str_or_lossy(const char *s)
{
	return nsh_json_string_lossy(s ? s : "", s ? strlen(s) : 0);
}

/* The tools array: [{"type":"function","function":{name, description, parameters}}]. */
static int encode_tools(const struct nsh_llm_request *rq, json_t *body, struct nsh_err *err)
{
	json_t *tools;

	if (!rq->ntools)
		return 0;
	tools = json_array();
	for (size_t i = 0; i < rq->ntools; i++) {
		const struct nsh_llm_tool *t = &rq->tools[i];
		json_t *schema = NULL;
		int rc = nsh_json_parse(t->schema, strlen(t->schema), &schema, err);

		if (rc) {
			json_decref(tools);
			return nsh_err_wrap(err, "schema of tool '%s'", t->name);
		}
		json_array_append_new(tools,
				      json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function",
						"function", "name", t->name, "description",
						t->description, "parameters", schema));
	}
	json_object_set_new(body, "tools", tools);
	return 0;
}

static json_t *encode_assistant(const struct nsh_llm_msg *m)
{
	json_t *o = json_pack("{s:s}", "role", "assistant");
	json_t *calls;

	if (!m->ncalls) {
		json_object_set_new(o, "content", str_or_lossy(m->text));
		return o;
	}
	json_object_set_new(o, "content",
			    m->text && *m->text ? str_or_lossy(m->text) : json_null());
	calls = json_array();
	for (size_t k = 0; k < m->ncalls; k++)
		json_array_append_new(calls,
				      json_pack("{s:o, s:s, s:{s:o, s:o}}", "id",
						str_or_lossy(m->calls[k].id), "type", "function",
						"function", "name", str_or_lossy(m->calls[k].name),
						"arguments", str_or_lossy(m->calls[k].args)));
	json_object_set_new(o, "tool_calls", calls);
	return o;
}

int llm_openai_encode(const struct nsh_llm_request *rq, const char *model, int max_tokens,
		      bool use_max_tokens, bool stream, json_t **ret, struct nsh_err *err)
{
	const struct nsh_llm_conv *c = rq->conv;
	json_t *body = json_object(), *msgs = json_array();
	int rc;

	json_object_set_new(body, "model", json_string(model));
	if (max_tokens > 0)
		json_object_set_new(body, use_max_tokens ? "max_tokens" : "max_completion_tokens",
				    json_integer(max_tokens));
	if (c->system && *c->system)
		json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "system", "content",
						      str_or_lossy(c->system)));
	for (size_t i = 0; i < c->nr; i++) {
		const struct nsh_llm_msg *m = &c->v[i];

		switch (m->role) {
		case NSH_LLM_USER:
			json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user",
							      "content", str_or_lossy(m->text)));
			break;
		case NSH_LLM_ASSISTANT:
			json_array_append_new(msgs, encode_assistant(m));
			break;
		case NSH_LLM_TOOL:
			json_array_append_new(msgs,
					      json_pack("{s:s, s:o, s:o}", "role", "tool",
							"tool_call_id", str_or_lossy(m->call_id),
							"content", str_or_lossy(m->text)));
			break;
		}
	}
	json_object_set_new(body, "messages", msgs);
	rc = encode_tools(rq, body, err);
	if (rc) {
		json_decref(body);
		return rc;
	}
	json_object_set_new(body, "stream", json_boolean(stream));
	if (stream)
		json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
	*ret = body;
	return 0;
}

/* Tool arguments: a JSON string as documented, or an object (Ollama's native habit). */
static char *args_text(const json_t *a)
{
	if (json_is_string(a))
		return nsh_xstrdup(json_string_value(a));
	if (json_is_object(a) || json_is_array(a))
		return nsh_json_dump(a);
	return nsh_xstrdup("{}");
}

static int decode_usage(const json_t *root, struct nsh_llm_reply *r, struct nsh_err *err)
{
	json_t *u = json_object_get(root, "usage");
	json_int_t prompt = 0, completion = 0, cached = 0, written = 0;
	int rc;

	if (!u || json_is_null(u))
		return 0;
	if (!json_is_object(u))
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: field 'usage' is not an "
				   "object");
	rc = nsh_json_opt_int(u, "prompt_tokens", 0, &prompt, err);
	if (!rc)
		rc = nsh_json_opt_int(u, "completion_tokens", 0, &completion, err);
	if (!rc)
		rc = nsh_json_opt_int(u, "prompt_tokens_details.cached_tokens", 0, &cached, err);
	if (!rc)
		rc = nsh_json_opt_int(u, "prompt_tokens_details.cache_write_tokens", 0, &written,
				      err);
	if (rc)
		return nsh_err_wrap(err, "malformed response: usage");
	if (prompt < 0 || completion < 0 || cached < 0 || written < 0)
		return nsh_err_set(err, NSH_EINVAL, "malformed response: negative token count");
	/* prompt_tokens includes the cached (and cache-written) tokens */
	r->usage.cache_read = cached;
	r->usage.cache_write = written;
	r->usage.input = prompt - cached - written > 0 ? prompt - cached - written : 0;
	r->usage.output = completion;
	r->usage_known = true;
	return 0;
}

static enum nsh_llm_stop map_finish(const char *f)
{
	if (!f || !strcmp(f, "stop"))
		return NSH_LLM_STOP_END;
	if (!strcmp(f, "length"))
		return NSH_LLM_STOP_MAX_TOKENS;
	if (!strcmp(f, "tool_calls") || !strcmp(f, "function_call"))
		return NSH_LLM_STOP_TOOL_USE;
	if (!strcmp(f, "content_filter"))
		return NSH_LLM_STOP_REFUSAL;
	return NSH_LLM_STOP_OTHER;
}

/* Content as a string, or (some servers) an array of {"type":"text","text"} parts. */
static int decode_content(const json_t *content, struct nsh_llm_reply *r, struct nsh_err *err)
{
	size_t i;
	json_t *part;

	if (!content || json_is_null(content))
		return 0;
	if (json_is_string(content)) {
		llm_reply_add_text(r, json_string_value(content), json_string_length(content));
		return 0;
	}
	if (!json_is_array(content))
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: field 'choices[0].message.content' is "
				   "neither a string nor an array");
	json_array_foreach(content, i, part)
	{
		json_t *t = json_object_get(part, "text");

		if (json_is_string(t))
			llm_reply_add_text(r, json_string_value(t), json_string_length(t));
	}
	return 0;
}

int llm_openai_decode(const json_t *root, struct nsh_llm_reply *r, struct nsh_err *err)
{
	json_t *choices, *msg, *calls, *fc;
	const char *finish = NULL, *refusal = NULL;
	size_t i;
	int rc;

	r->id = llm_json_strdup(root, "id");
	r->model = llm_json_strdup(root, "model");
	rc = nsh_json_get_arr(root, "choices", &choices, err);
	if (rc)
		return nsh_err_wrap(err, "malformed response");
	if (!json_array_size(choices))
		return nsh_err_set(err, NSH_EINVAL, "malformed response: field 'choices' is empty");
	rc = nsh_json_get_obj(root, "choices[0].message", &msg, err);
	if (!rc)
		rc = nsh_json_opt_str(root, "choices[0].finish_reason", NULL, &finish, err);
	if (!rc)
		rc = nsh_json_opt_str(msg, "refusal", NULL, &refusal, err);
	if (rc)
		return nsh_err_wrap(err, "malformed response");
	rc = decode_content(json_object_get(msg, "content"), r, err);
	if (rc)
		return rc;
	calls = json_object_get(msg, "tool_calls");
	if (calls && !json_is_null(calls) && !json_is_array(calls))
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: field 'choices[0].message.tool_calls' is "
				   "not an array");
	for (i = 0; calls && i < json_array_size(calls); i++) {
		json_t *k = json_array_get(calls, i);
		const char *name;
		char *args;

		rc = nsh_json_get_str(k, "function.name", &name, err);
		if (rc)
			return nsh_err_wrap(err, "malformed response: tool call %zu", i);
		args = args_text(json_object_get(json_object_get(k, "function"), "arguments"));
		{
			char *id = llm_json_strdup(k, "id");

			rc = llm_reply_add_call(r, id, name, args, err);
			free(id);
		}
		free(args);
		if (rc)
			return rc;
	}
	/* the legacy single function_call */
	fc = json_object_get(msg, "function_call");
	if (!r->ncalls && json_is_object(fc) && json_is_string(json_object_get(fc, "name"))) {
		char *args = args_text(json_object_get(fc, "arguments"));

		rc = llm_reply_add_call(r, NULL, json_string_value(json_object_get(fc, "name")),
					args, err);
		free(args);
		if (rc)
			return rc;
	}
	if (refusal && !r->text) {
		llm_reply_add_text(r, refusal, strlen(refusal));
		r->stop = NSH_LLM_STOP_REFUSAL;
	} else {
		r->stop = map_finish(finish);
	}
	r->stop_raw = finish ? nsh_xstrdup(finish) : NULL;
	return decode_usage(root, r, err);
}

/* One delta.tool_calls[] entry of a chunk. */
static int stream_call(struct nsh_llm_stream *s, const json_t *k, size_t pos, struct nsh_err *err)
{
	json_t *idx = json_object_get(k, "index"), *fn = json_object_get(k, "function");
	const char *id = json_string_value(json_object_get(k, "id"));
	json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
	struct llm_part *p;
	long index;

	if (idx && !json_is_integer(idx))
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: tool call index is not an integer");
	if (idx) {
		index = (long)json_integer_value(idx);
	} else if (id || json_is_string(name)) {
		index = (long)(s->nparts + pos); /* no index: a whole call in one piece */
	} else {
		index = s->nparts ? s->parts[s->nparts - 1].index : 0;
	}
	p = llm_stream_part(s, index, PART_TOOL);
	if (!p)
		return nsh_err_set(err, NSH_ETOOBIG, "malformed response: too many tool calls");
	if (id && *id && !p->id)
		p->id = nsh_xstrdup(id);
	if (json_is_string(name) && json_string_length(name)) {
		if (!p->name) {
			p->name = nsh_xstrdup(json_string_value(name));
		} else if (strcmp(p->name, json_string_value(name))) {
			/* some servers repeat the name; a different one is appended (pieces) */
			char *n = nsh_xasprintf("%s%s", p->name, json_string_value(name));

			free(p->name);
			p->name = n;
		}
	}
	if (json_is_string(args)) {
		if (nsh_buf_add(&p->args, json_string_value(args), json_string_length(args)))
			return nsh_err_set(err, NSH_ETOOBIG,
					   "malformed response: tool arguments "
					   "too long");
	} else if (json_is_object(args)) {
		nsh_buf_reset(&p->args);
		if (nsh_json_buf_add(&p->args, args))
			return nsh_err_set(err, NSH_ETOOBIG,
					   "malformed response: tool arguments "
					   "too long");
	}
	s->started = true;
	return 0;
}

int llm_openai_event(struct nsh_llm_stream *s, const char *event, const char *data, size_t len,
		     struct nsh_err *err)
{
	json_t *root = NULL, *choices, *delta, *calls, *e;
	const char *finish = NULL;
	int rc = 0;

	(void)event;
	if (s->done)
		return 0; /* nothing counts after [DONE] */
	if (len == 6 && !memcmp(data, "[DONE]", 6)) {
		s->done = true;
		return 0;
	}
	rc = llm_json_parse(data, len, NSH_LLM_LINE_MAX, &root, err);
	if (rc)
		return rc;
	if (!json_is_object(root)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "malformed response: stream chunk is not an "
				 "object");
		goto out;
	}
	e = json_object_get(root, "error");
	if (e && !json_is_null(e)) {
		llm_error_from_obj(e, &s->error);
		s->has_error = true;
		rc = llm_error_set(err, NSH_EFAIL, &s->error);
		goto out;
	}
	if (!s->reply.id)
		s->reply.id = llm_json_strdup(root, "id");
	if (!s->reply.model)
		s->reply.model = llm_json_strdup(root, "model");
	rc = decode_usage(root, &s->reply, err);
	if (rc)
		goto out;
	choices = json_object_get(root, "choices");
	if (choices && !json_is_array(choices)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "malformed response: field 'choices' is not an "
				 "array");
		goto out;
	}
	if (!json_array_size(choices))
		goto out; /* the usage chunk */
	delta = json_object_get(json_array_get(choices, 0), "delta");
	if (delta && !json_is_null(delta) && !json_is_object(delta)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "malformed response: field 'choices[0].delta' is "
				 "not an object");
		goto out;
	}
	if (json_is_string(json_object_get(delta, "content"))) {
		json_t *c = json_object_get(delta, "content");

		if (json_string_length(c))
			s->started = true;
		llm_reply_add_text(&s->reply, json_string_value(c), json_string_length(c));
	}
	if (json_is_string(json_object_get(delta, "refusal"))) {
		json_t *c = json_object_get(delta, "refusal");

		llm_reply_add_text(&s->reply, json_string_value(c), json_string_length(c));
		s->reply.stop = NSH_LLM_STOP_REFUSAL;
	}
	calls = json_object_get(delta, "tool_calls");
	if (calls && !json_is_null(calls) && !json_is_array(calls)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "malformed response: field 'delta.tool_calls' is "
				 "not an array");
		goto out;
	}
	for (size_t i = 0; calls && i < json_array_size(calls) && !rc; i++)
		rc = stream_call(s, json_array_get(calls, i), i, err);
	if (rc)
		goto out;
	rc = nsh_json_opt_str(root, "choices[0].finish_reason", NULL, &finish, err);
	if (rc) {
		nsh_err_wrap(err, "malformed response");
		goto out;
	}
	if (finish) {
		s->finished = true;
		if (s->reply.stop != NSH_LLM_STOP_REFUSAL)
			s->reply.stop = map_finish(finish);
		free(s->reply.stop_raw);
		s->reply.stop_raw = nsh_xstrdup(finish);
	}
out:
	json_decref(root);
	return rc;
}
