/*
 * The provider-neutral conversation: messages, repair after an
 * interruption, saving and loading, token estimates; and the small helpers
 * of replies and usage.
 */
#include "agent/llm.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

/* Limits on a loaded conversation. */
#define CONV_MSGS_MAX 100000
#define INTERRUPTED                                                                  \
 "error: this tool call was interrupted before it returned (the job was stopped or " \
 "restarted); its effect is unknown, check before repeating it"

void nsh_llm_conv_init(struct nsh_llm_conv *c)
{
	memset(c, 0, sizeof(*c));
}

static void call_release(struct nsh_llm_call *k)
{
	free(k->id);
	free(k->name);
	free(k->args);
}

static void msg_release(struct nsh_llm_msg *m)
{
	free(m->text);
	for (size_t i = 0; i < m->ncalls; i++)
		call_release(&m->calls[i]);
	free(m->calls);
	free(m->call_id);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

void nsh_llm_conv_release(struct nsh_llm_conv *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++)
		msg_release(&c->v[i]);
	free(c->v);
	free(c->system);
	memset(c, 0, sizeof(*c));
}

static struct nsh_llm_msg *push(struct nsh_llm_conv *c, enum nsh_llm_role role)
{
	struct nsh_llm_msg *m;

	NSH_ALLOC_GROW(c->v, c->nr + 1, c->alloc);
	m = &c->v[c->nr++];
	memset(m, 0, sizeof(*m));
	m->role = role;
	return m;
}

static char *dup_or_null(const char *s)
{
	return s ? nsh_xstrdup(s) : NULL;
}

void nsh_llm_conv_add_user(struct nsh_llm_conv *c, const char *text)
{
	push(c, NSH_LLM_USER)->text = nsh_xstrdup(text ? text : "");
}

struct nsh_llm_msg *nsh_llm_conv_add_assistant(struct nsh_llm_conv *c, const char *text,
					       const struct nsh_llm_call *calls, size_t n)
{
	struct nsh_llm_msg *m = push(c, NSH_LLM_ASSISTANT);

	m->text = dup_or_null(text);
	if (n) {
		m->calls = nsh_xcalloc(n, sizeof(*m->calls));
		for (size_t i = 0; i < n; i++) {
			m->calls[i].id = nsh_xstrdup(calls[i].id ? calls[i].id : "");
			m->calls[i].name = nsh_xstrdup(calls[i].name ? calls[i].name : "");
			m->calls[i].args = nsh_xstrdup(calls[i].args ? calls[i].args : "{}");
		}
		m->ncalls = n;
	}
	return m;
}

void nsh_llm_conv_add_tool(struct nsh_llm_conv *c, const char *call_id, const char *name,
			   const char *text, bool is_error)
{
	struct nsh_llm_msg *m = push(c, NSH_LLM_TOOL);

	m->call_id = nsh_xstrdup(call_id ? call_id : "");
	m->name = nsh_xstrdup(name ? name : "");
	m->text = nsh_xstrdup(text ? text : "");
	m->is_error = is_error;
}

/* Whether the tool messages from @from up to the next non-tool message answer @id. */
static bool answered(const struct nsh_llm_conv *c, size_t from, const char *id)
{
	for (size_t i = from; i < c->nr && c->v[i].role == NSH_LLM_TOOL; i++)
		if (!strcmp(c->v[i].call_id, id))
			return true;
	return false;
}

size_t nsh_llm_conv_repair(struct nsh_llm_conv *c)
{
	size_t added = 0;

	for (size_t i = 0; i < c->nr; i++) {
		size_t end;

		if (c->v[i].role != NSH_LLM_ASSISTANT || !c->v[i].ncalls)
			continue;
		end = i + 1;
		while (end < c->nr && c->v[end].role == NSH_LLM_TOOL)
			end++;
		for (size_t k = 0; k < c->v[i].ncalls; k++) {
			struct nsh_llm_msg m = {0};

			if (answered(c, i + 1, c->v[i].calls[k].id))
				continue;
			/* insert a synthetic result at @end, keeping the order of the calls */
			m.role = NSH_LLM_TOOL;
			m.call_id = nsh_xstrdup(c->v[i].calls[k].id);
			m.name = nsh_xstrdup(c->v[i].calls[k].name);
			m.text = nsh_xstrdup(INTERRUPTED);
			m.is_error = true;
			NSH_ALLOC_GROW(c->v, c->nr + 1, c->alloc);
			memmove(&c->v[end + 1], &c->v[end], (c->nr - end) * sizeof(*c->v));
			c->v[end] = m;
			c->nr++;
			end++;
			added++;
		}
		i = end - 1;
	}
	return added;
}

static const char *const role_names[] = {
	[NSH_LLM_USER] = "user",
	[NSH_LLM_ASSISTANT] = "assistant",
	[NSH_LLM_TOOL] = "tool",
};

json_t *nsh_llm_conv_to_json(const struct nsh_llm_conv *c)
{
	json_t *msgs = json_array();

	for (size_t i = 0; i < c->nr; i++) {
		const struct nsh_llm_msg *m = &c->v[i];
		json_t *o = json_pack("{s:s}", "role", role_names[m->role]);

		if (m->text)
			json_object_set_new(o, "text",
					    nsh_json_string_lossy(m->text, strlen(m->text)));
		if (m->ncalls) {
			json_t *calls = json_array();

			for (size_t k = 0; k < m->ncalls; k++)
				json_array_append_new(
					calls,
					json_pack("{s:o, s:o, s:o}", "id",
						  nsh_json_string_lossy(m->calls[k].id,
									strlen(m->calls[k].id)),
						  "name",
						  nsh_json_string_lossy(m->calls[k].name,
									strlen(m->calls[k].name)),
						  "args",
						  nsh_json_string_lossy(m->calls[k].args,
									strlen(m->calls[k].args))));
			json_object_set_new(o, "calls", calls);
		}
		if (m->role == NSH_LLM_TOOL) {
			json_object_set_new(o, "call_id",
					    nsh_json_string_lossy(m->call_id, strlen(m->call_id)));
			json_object_set_new(o, "name",
					    nsh_json_string_lossy(m->name, strlen(m->name)));
			if (m->is_error)
				json_object_set_new(o, "is_error", json_true());
			if (m->masked)
				json_object_set_new(o, "masked", json_true());
		}
		json_array_append_new(msgs, o);
	}
	return json_pack("{s:o, s:o}", "system",
			 c->system ? nsh_json_string_lossy(c->system, strlen(c->system))
				   : json_string(""),
			 "messages", msgs);
}

int nsh_llm_conv_from_json(const json_t *j, struct nsh_llm_conv *ret, struct nsh_err *err)
{
	struct nsh_llm_conv c;
	json_t *msgs;
	const char *sys;
	int rc;

	nsh_llm_conv_init(&c);
	rc = nsh_json_opt_str(j, "system", "", &sys, err);
	if (!rc)
		rc = nsh_json_get_arr(j, "messages", &msgs, err);
	if (rc)
		goto out;
	if (json_array_size(msgs) > CONV_MSGS_MAX) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "conversation has more than %d messages",
				 CONV_MSGS_MAX);
		goto out;
	}
	c.system = nsh_xstrdup(sys);
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *o = json_array_get(msgs, i), *calls = NULL;
		const char *role, *text, *call_id = NULL, *name = NULL;
		bool is_error = false, masked = false;
		struct nsh_llm_msg *m;

		rc = nsh_json_get_str(o, "role", &role, err);
		if (!rc)
			rc = nsh_json_opt_str(o, "text", NULL, &text, err);
		if (rc)
			goto bad;
		if (!strcmp(role, "user")) {
			nsh_llm_conv_add_user(&c, text);
		} else if (!strcmp(role, "assistant")) {
			size_t n;

			calls = json_object_get(o, "calls");
			if (calls && !json_is_array(calls)) {
				rc = nsh_err_set(err, NSH_EINVAL, "field 'calls' is not an array");
				goto bad;
			}
			n = calls ? json_array_size(calls) : 0;
			if (n > NSH_LLM_CALLS_MAX) {
				rc = nsh_err_set(err, NSH_ETOOBIG, "more than %d tool calls",
						 NSH_LLM_CALLS_MAX);
				goto bad;
			}
			m = nsh_llm_conv_add_assistant(&c, text, NULL, 0);
			if (n)
				m->calls = nsh_xcalloc(n, sizeof(*m->calls));
			for (size_t k = 0; k < n; k++) {
				const char *id, *cname, *args;
				json_t *k_o = json_array_get(calls, k);

				rc = nsh_json_get_str(k_o, "id", &id, err);
				if (!rc)
					rc = nsh_json_get_str(k_o, "name", &cname, err);
				if (!rc)
					rc = nsh_json_get_str(k_o, "args", &args, err);
				if (rc)
					goto bad;
				m->calls[k].id = nsh_xstrdup(id);
				m->calls[k].name = nsh_xstrdup(cname);
				m->calls[k].args = nsh_xstrdup(args);
				m->ncalls++;
			}
		} else if (!strcmp(role, "tool")) {
			rc = nsh_json_get_str(o, "call_id", &call_id, err);
			if (!rc)
				rc = nsh_json_get_str(o, "name", &name, err);
			if (!rc)
				rc = nsh_json_opt_bool(o, "is_error", false, &is_error, err);
			if (!rc)
				rc = nsh_json_opt_bool(o, "masked", false, &masked, err);
			if (rc)
				goto bad;
			nsh_llm_conv_add_tool(&c, call_id, name, text, is_error);
			c.v[c.nr - 1].masked = masked;
		} else {
			rc = nsh_err_set(err, NSH_EINVAL, "unknown role '%s'", role);
			goto bad;
		}
		continue;
	bad:
		nsh_err_wrap(err, "message %zu", i);
		goto out;
	}
	*ret = c;
	nsh_llm_conv_init(&c);
	rc = 0;
out:
	nsh_llm_conv_release(&c);
	return rc;
}

/* Bytes of one message as a provider would count them, roughly. */
static size_t msg_bytes(const struct nsh_llm_msg *m)
{
	size_t n = 16 + (m->text ? strlen(m->text) : 0);

	for (size_t k = 0; k < m->ncalls; k++)
		n += 32 + strlen(m->calls[k].name) + strlen(m->calls[k].args);
	return n;
}

int64_t nsh_llm_conv_tokens(const struct nsh_llm_conv *c)
{
	size_t bytes = c->system ? strlen(c->system) : 0;
	size_t from = 0;
	int64_t known = 0;

	/* the provider counted the first last_input_msgs messages exactly */
	if (c->last_input > 0 && c->last_input_msgs <= c->nr) {
		known = c->last_input;
		from = c->last_input_msgs;
		bytes = 0;
	}
	for (size_t i = from; i < c->nr; i++)
		bytes += msg_bytes(&c->v[i]);
	return known + (int64_t)(bytes / 4);
}

void nsh_llm_reply_release(struct nsh_llm_reply *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->model);
	free(r->text);
	for (size_t i = 0; i < r->ncalls; i++)
		call_release(&r->calls[i]);
	free(r->calls);
	free(r->stop_raw);
	memset(r, 0, sizeof(*r));
}

void nsh_llm_error_release(struct nsh_llm_error *e)
{
	if (!e)
		return;
	free(e->type);
	free(e->code);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

void nsh_llm_usage_add(struct nsh_llm_usage *sum, const struct nsh_llm_usage *u)
{
	sum->input += u->input;
	sum->output += u->output;
	sum->cache_read += u->cache_read;
	sum->cache_write += u->cache_write;
}

int64_t nsh_llm_usage_total(const struct nsh_llm_usage *u)
{
	return u->input + u->output + u->cache_read + u->cache_write;
}

static double price_or_zero(double p)
{
	return p > 0 ? p : 0;
}

double nsh_llm_usage_cost(const struct nsh_llm_usage *u, const struct nsh_llm_price *p)
{
	return ((double)u->input * price_or_zero(p->input) +
		(double)u->output * price_or_zero(p->output) +
		(double)u->cache_read * price_or_zero(p->cache_read) +
		(double)u->cache_write * price_or_zero(p->cache_write)) /
	       1e6;
}

json_t *nsh_llm_usage_to_json(const struct nsh_llm_usage *u)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "input", (json_int_t)u->input, "output",
			 (json_int_t)u->output, "cache_read", (json_int_t)u->cache_read,
			 "cache_write", (json_int_t)u->cache_write, "total",
			 (json_int_t)nsh_llm_usage_total(u));
}
