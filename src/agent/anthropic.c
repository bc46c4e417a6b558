/*
 * The Anthropic Messages wire format (POST {base}/messages, header
 * anthropic-version: 2023-06-01). Request: "system" as a text block, tools
 * with "input_schema", and strictly alternating user/assistant messages in
 * which tool_use blocks carry "input" as an object and every tool_use is
 * answered by a tool_result block at the start of the next user message.
 * Prompt caching: breakpoints on the last tool, the system block and the
 * newest message (three of the four allowed). Reply: content blocks,
 * stop_reason, usage with the cache counts apart from input_tokens.
 * Stream: named events message_start, content_block_start/delta/stop,
 * message_delta, message_stop, ping and error; unknown ones are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/llm.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

static json_t *lossy(const char *s)
{
	return nsh_json_string_lossy(s ? s : "", s ? strlen(s) : 0);
}

static json_t *ephemeral(void)
{
	return json_pack("{s:s}", "type", "ephemeral");
}

static json_t *text_block(const char *text)
{
	/* empty text blocks are refused by the API */
	return json_pack("{s:s, s:o}", "type", "text", "text",
			 lossy(text && *text ? text : "(empty)"));
}

/* Arguments as the object "input" must be; anything else becomes {}. */
static json_t *input_object(const char *args)
{
	json_t *v = NULL;

	if (args &&
	    !nsh_json_parse_limits(args, strlen(args), NSH_LLM_RESPONSE_MAX, LLM_JSON_DEPTH, &v,
				   NULL) &&
	    json_is_object(v))
		return v;
	json_decref(v);
	return json_object();
}

/*
 * The content array of the last message of @msgs when it has role @role;
 * otherwise a new message of that role is appended and its (empty) content
 * returned. Borrowed.
 */
static json_t *content_of(json_t *msgs, const char *role)
{
	json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
	json_t *content;

	if (last && !strcmp(json_string_value(json_object_get(last, "role")), role))
		return json_object_get(last, "content");
	content = json_array();
	json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", role, "content", content));
	return content;
}

/* Insert @block (reference taken) after the tool_result blocks at the start of @content. */
static void add_tool_result(json_t *content, json_t *block)
{
	size_t i = 0;

	while (i < json_array_size(content) &&
	       !strcmp(json_string_value(json_object_get(json_array_get(content, i), "type")),
		       "tool_result"))
		i++;
	json_array_insert_new(content, i, block);
}

static int encode_tools(const struct nsh_llm_request *rq, json_t *body, struct nsh_err *err)
{
	json_t *tools;

	if (!rq->ntools)
		return 0;
	tools = json_array();
	for (size_t i = 0; i < rq->ntools; i++) {
		const struct nsh_llm_tool *t = &rq->tools[i];
		json_t *schema = NULL, *o;

		if (nsh_json_parse(t->schema, strlen(t->schema), &schema, err)) {
			json_decref(tools);
			return nsh_err_wrap(err, "schema of tool '%s'", t->name);
		}
		o = json_pack("{s:s, s:s, s:o}", "name", t->name, "description", t->description,
			      "input_schema", schema);
		if (i + 1 == rq->ntools)
			json_object_set_new(o, "cache_control", ephemeral());
		json_array_append_new(tools, o);
	}
	json_object_set_new(body, "tools", tools);
	return 0;
}

int llm_anthropic_encode(const struct nsh_llm_request *rq, const char *model, int max_tokens,
			 bool stream, json_t **ret, struct nsh_err *err)
{
	const struct nsh_llm_conv *c = rq->conv;
	json_t *body = json_object(), *msgs = json_array(), *last, *content, *block;
	int rc;

	json_object_set_new(body, "model", json_string(model));
	json_object_set_new(body, "max_tokens", json_integer(max_tokens > 0 ? max_tokens : 4096));
	if (c->system && *c->system) {
		json_t *sys = text_block(c->system);

		json_object_set_new(sys, "cache_control", ephemeral());
		json_object_set_new(body, "system", json_pack("[o]", sys));
	}
	rc = encode_tools(rq, body, err);
	if (rc) {
		json_decref(body);
		json_decref(msgs);
		return rc;
	}
	for (size_t i = 0; i < c->nr; i++) {
		const struct nsh_llm_msg *m = &c->v[i];

		switch (m->role) {
		case NSH_LLM_USER:
			json_array_append_new(content_of(msgs, "user"), text_block(m->text));
			break;
		case NSH_LLM_TOOL:
			block = json_pack("{s:s, s:o, s:o}", "type", "tool_result", "tool_use_id",
					  lossy(m->call_id), "content",
					  lossy(m->text && *m->text ? m->text : "(no output)"));
			if (m->is_error)
				json_object_set_new(block, "is_error", json_true());
			add_tool_result(content_of(msgs, "user"), block);
			break;
		case NSH_LLM_ASSISTANT:
			if (!json_array_size(msgs))
				json_array_append_new(content_of(msgs, "user"),
						      text_block("(the conversation starts here)"));
			content = content_of(msgs, "assistant");
			if (m->text && *m->text)
				json_array_append_new(content, text_block(m->text));
			for (size_t k = 0; k < m->ncalls; k++)
				json_array_append_new(
					content, json_pack("{s:s, s:o, s:o, s:o}", "type",
							   "tool_use", "id", lossy(m->calls[k].id),
							   "name", lossy(m->calls[k].name), "input",
							   input_object(m->calls[k].args)));
			if (!json_array_size(content))
				json_array_append_new(content, text_block(NULL));
			break;
		}
	}
	/* the newest turn is the end of the cached prefix */
	last = json_array_get(msgs, json_array_size(msgs) - 1);
	content = json_object_get(last, "content");
	block = json_array_get(content, json_array_size(content) - 1);
	if (block)
		json_object_set_new(block, "cache_control", ephemeral());
	json_object_set_new(body, "messages", msgs);
	if (stream)
		json_object_set_new(body, "stream", json_true());
	*ret = body;
	return 0;
}

static enum nsh_llm_stop map_stop(const char *s)
{
	if (!s || !strcmp(s, "end_turn") || !strcmp(s, "stop_sequence"))
		return NSH_LLM_STOP_END;
	if (!strcmp(s, "tool_use"))
		return NSH_LLM_STOP_TOOL_USE;
	if (!strcmp(s, "max_tokens") || !strcmp(s, "model_context_window_exceeded"))
		return NSH_LLM_STOP_MAX_TOKENS;
	if (!strcmp(s, "refusal"))
		return NSH_LLM_STOP_REFUSAL;
	return NSH_LLM_STOP_OTHER;
}

/*
 * Usage counters present in @u (message.usage or message_delta.usage, whose
 * counts are cumulative): each one that is there replaces the old value.
 */
static int decode_usage(const json_t *u, struct nsh_llm_reply *r, struct nsh_err *err)
{
	static const char *const keys[] = {"input_tokens", "output_tokens",
					   "cache_read_input_tokens",
					   "cache_creation_input_tokens"};
	int64_t *dst[] = {&r->usage.input, &r->usage.output, &r->usage.cache_read,
			  &r->usage.cache_write};

	if (!u || json_is_null(u))
		return 0;
	if (!json_is_object(u))
		return nsh_err_set(err, NSH_EINVAL,
				   "malformed response: field 'usage' is not an "
				   "object");
	for (size_t i = 0; i < 4; i++) {
		json_t *v = json_object_get(u, keys[i]);

		if (!v || json_is_null(v))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return nsh_err_set(err, NSH_EINVAL,
					   "malformed response: field 'usage.%s' is not a "
					   "non-negative integer",
					   keys[i]);
		*dst[i] = (int64_t)json_integer_value(v);
		r->usage_known = true;
	}
	return 0;
}

int llm_anthropic_decode(const json_t *root, struct nsh_llm_reply *r, struct nsh_err *err)
{
	json_t *content, *block;
	const char *stop = NULL;
	size_t i;
	int rc;

	r->id = llm_json_strdup(root, "id");
	r->model = llm_json_strdup(root, "model");
	rc = nsh_json_get_arr(root, "content", &content, err);
	if (!rc)
		rc = nsh_json_opt_str(root, "stop_reason", NULL, &stop, err);
	if (rc)
		return nsh_err_wrap(err, "malformed response");
	json_array_foreach(content, i, block)
	{
		const char *type;

		rc = nsh_json_get_str(block, "type", &type, err);
		if (rc)
			return nsh_err_wrap(err, "malformed response: content[%zu]", i);
		if (!strcmp(type, "text")) {
			const char *t;

			rc = nsh_json_get_str(block, "text", &t, err);
			if (rc)
				return nsh_err_wrap(err, "malformed response: content[%zu]", i);
			llm_reply_add_text(r, t, strlen(t));
		} else if (!strcmp(type, "tool_use")) {
			const char *id, *name;
			json_t *input = json_object_get(block, "input");
			char *args;

			rc = nsh_json_get_str(block, "id", &id, err);
			if (!rc)
				rc = nsh_json_get_str(block, "name", &name, err);
			if (rc)
				return nsh_err_wrap(err, "malformed response: content[%zu]", i);
			if (!json_is_object(input))
				return nsh_err_set(err, NSH_EINVAL,
						   "malformed response: field 'content[%zu].input' "
						   "is not an object",
						   i);
			args = nsh_json_dump(input);
			rc = llm_reply_add_call(r, id, name, args, err);
			free(args);
			if (rc)
				return rc;
		}
		/* thinking, redacted_thinking and future block types are not used */
	}
	r->stop = map_stop(stop);
	r->stop_raw = stop ? nsh_xstrdup(stop) : NULL;
	return decode_usage(json_object_get(root, "usage"), r, err);
}

static int block_start(struct nsh_llm_stream *s, const json_t *root, struct nsh_err *err)
{
	json_int_t index;
	const char *type;
	json_t *cb;
	struct llm_part *p;
	int rc;

	rc = nsh_json_get_int(root, "index", &index, err);
	if (!rc)
		rc = nsh_json_get_obj(root, "content_block", &cb, err);
	if (!rc)
		rc = nsh_json_get_str(cb, "type", &type, err);
	if (rc)
		return nsh_err_wrap(err, "malformed response: content_block_start");
	p = llm_stream_part(s, (long)index,
			    !strcmp(type, "tool_use") ? PART_TOOL
			    : !strcmp(type, "text")   ? PART_TEXT
						      : PART_OTHER);
	if (!p)
		return nsh_err_set(err, NSH_ETOOBIG, "malformed response: too many content blocks");
	if (p->kind == PART_TOOL) {
		json_t *input = json_object_get(cb, "input");

		free(p->id);
		free(p->name);
		p->id = llm_json_strdup(cb, "id");
		p->name = llm_json_strdup(cb, "name");
		if (!p->name)
			return nsh_err_set(err, NSH_EINVAL,
					   "malformed response: tool_use block without a name");
		/* a non-empty start input is the whole input when no delta follows */
		if (json_is_object(input) && json_object_size(input)) {
			nsh_buf_reset(&p->args);
			if (nsh_json_buf_add(&p->args, input))
				return nsh_err_set(err, NSH_ETOOBIG,
						   "malformed response: tool input too long");
			p->args_obj = true;
		}
		s->started = true;
	} else if (p->kind == PART_TEXT) {
		json_t *t = json_object_get(cb, "text");

		if (json_is_string(t) && json_string_length(t)) {
			llm_reply_add_text(&s->reply, json_string_value(t), json_string_length(t));
			s->started = true;
		}
	}
	return 0;
}

static int block_delta(struct nsh_llm_stream *s, const json_t *root, struct nsh_err *err)
{
	json_int_t index;
	const char *type;
	json_t *d;
	struct llm_part *p;
	int rc;

	rc = nsh_json_get_int(root, "index", &index, err);
	if (!rc)
		rc = nsh_json_get_obj(root, "delta", &d, err);
	if (!rc)
		rc = nsh_json_get_str(d, "type", &type, err);
	if (rc)
		return nsh_err_wrap(err, "malformed response: content_block_delta");
	p = llm_stream_part(s, (long)index, PART_OTHER);
	if (!p)
		return nsh_err_set(err, NSH_ETOOBIG, "malformed response: too many content blocks");
	if (!strcmp(type, "text_delta")) {
		const char *t;

		rc = nsh_json_get_str(d, "text", &t, err);
		if (rc)
			return nsh_err_wrap(err, "malformed response: text_delta");
		llm_reply_add_text(&s->reply, t, strlen(t));
		s->started = true;
	} else if (!strcmp(type, "input_json_delta")) {
		const char *t;

		rc = nsh_json_get_str(d, "partial_json", &t, err);
		if (rc)
			return nsh_err_wrap(err, "malformed response: input_json_delta");
		if (p->kind != PART_TOOL)
			return nsh_err_set(err, NSH_EINVAL,
					   "malformed response: input_json_delta for block %lld, "
					   "which is not a tool_use",
					   (long long)index);
		if (p->args_obj) {
			nsh_buf_reset(&p->args); /* the deltas are the whole input */
			p->args_obj = false;
		}
		if (nsh_buf_adds(&p->args, t))
			return nsh_err_set(err, NSH_ETOOBIG,
					   "malformed response: tool input too "
					   "long");
		s->started = true;
	}
	/* thinking_delta, signature_delta, citations_delta: not used */
	return 0;
}

/* content_block_stop: a tool_use block's input must now parse as an object. */
static int block_stop(struct nsh_llm_stream *s, const json_t *root, struct nsh_err *err)
{
	json_int_t index;
	struct llm_part *p;
	json_t *v = NULL;
	int rc;

	rc = nsh_json_get_int(root, "index", &index, err);
	if (rc)
		return nsh_err_wrap(err, "malformed response: content_block_stop");
	p = llm_stream_part(s, (long)index, PART_OTHER);
	if (!p)
		return nsh_err_set(err, NSH_ETOOBIG, "malformed response: too many content blocks");
	p->closed = true;
	if (p->kind != PART_TOOL || !p->args.len)
		return 0;
	rc = nsh_json_parse_limits(p->args.buf, p->args.len, NSH_LLM_RESPONSE_MAX, LLM_JSON_DEPTH,
				   &v, err);
	if (!rc && !json_is_object(v))
		rc = nsh_err_set(err, NSH_EINVAL, "not an object");
	json_decref(v);
	if (rc)
		return nsh_err_wrap(err, "malformed response: input of tool_use block %lld",
				    (long long)index);
	return 0;
}

int llm_anthropic_event(struct nsh_llm_stream *s, const char *event, const char *data, size_t len,
			struct nsh_err *err)
{
	json_t *root = NULL;
	const char *type = NULL;
	int rc;

	if (s->done)
		return 0;
	rc = llm_json_parse(data, len, NSH_LLM_LINE_MAX, &root, err);
	if (rc)
		return rc;
	if (!json_is_object(root)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "malformed response: event data is not an object");
		goto out;
	}
	/* the "type" in the data names the event; the event: line is only a hint */
	type = json_string_value(json_object_get(root, "type"));
	if (!type)
		type = event;
	if (!strcmp(type, "message_start")) {
		json_t *m = json_object_get(root, "message");

		if (!json_is_object(m)) {
			rc = nsh_err_set(err, NSH_EINVAL,
					 "malformed response: message_start without a message");
			goto out;
		}
		free(s->reply.id);
		free(s->reply.model);
		s->reply.id = llm_json_strdup(m, "id");
		s->reply.model = llm_json_strdup(m, "model");
		rc = decode_usage(json_object_get(m, "usage"), &s->reply, err);
	} else if (!strcmp(type, "content_block_start")) {
		rc = block_start(s, root, err);
	} else if (!strcmp(type, "content_block_delta")) {
		rc = block_delta(s, root, err);
	} else if (!strcmp(type, "content_block_stop")) {
		rc = block_stop(s, root, err);
	} else if (!strcmp(type, "message_delta")) {
		const char *stop = NULL;

		rc = nsh_json_opt_str(root, "delta.stop_reason", NULL, &stop, err);
		if (rc) {
			nsh_err_wrap(err, "malformed response: message_delta");
			goto out;
		}
		if (stop) {
			s->finished = true;
			s->reply.stop = map_stop(stop);
			free(s->reply.stop_raw);
			s->reply.stop_raw = nsh_xstrdup(stop);
		}
		rc = decode_usage(json_object_get(root, "usage"), &s->reply, err);
	} else if (!strcmp(type, "message_stop")) {
		s->done = true;
	} else if (!strcmp(type, "error")) {
		llm_error_from_obj(json_object_get(root, "error"), &s->error);
		s->has_error = true;
		rc = llm_error_set(err, NSH_EFAIL, &s->error);
	}
	/* "ping" and unknown events are ignored, as the versioning policy asks */
out:
	json_decref(root);
	return rc;
}
