/*
 * libFuzzer target for complete provider replies and error bodies: the
 * first byte picks the wire format, the rest is the body. A decoded reply
 * is fed back into a conversation and encoded for both providers (model
 * text and arguments are untrusted too); error bodies are parsed; the
 * bytes are also tried as a saved session (a conversation in JSON).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/llm.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct nsh_llm_tool tool = {"read_file", "Read a file.",
					 "{\"type\":\"object\",\"properties\":{}}"};

static void encode_both(const struct nsh_llm_conv *c)
{
	struct nsh_llm_request rq = {c, &tool, 1};
	struct nsh_err err = NSH_ERR_INIT;
	json_t *body = NULL;

	for (int api = 0; api < 2; api++) {
		if (nsh_llm_encode((enum nsh_llm_api)api, &rq, "m", 64, api == 0, api == 1, &body,
				   &err))
			abort(); /* a valid conversation always encodes */
		free(nsh_json_dump(body));
		json_decref(body);
		body = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_llm_reply r = {0};
	struct nsh_llm_error e = {0};
	struct nsh_err err = NSH_ERR_INIT;
	enum nsh_llm_api api;
	const char *body;
	size_t len;
	json_t *j = NULL;

	if (size < 1)
		return 0;
	api = data[0] & 1 ? NSH_LLM_ANTHROPIC : NSH_LLM_OPENAI;
	body = (const char *)data + 1;
	len = size - 1;
	if (!nsh_llm_decode(api, body, len, &r, &err)) {
		struct nsh_llm_conv c;

		nsh_llm_conv_init(&c);
		nsh_llm_conv_add_user(&c, "task");
		nsh_llm_conv_add_assistant(&c, r.text, r.calls, r.ncalls);
		for (size_t i = 0; i < r.ncalls; i++)
			nsh_llm_conv_add_tool(&c, r.calls[i].id, r.calls[i].name, r.calls[i].args,
					      false);
		if (nsh_llm_conv_repair(&c))
			abort(); /* every call was answered */
		encode_both(&c);
		nsh_llm_conv_release(&c);
	} else if (!err.msg[0]) {
		abort();
	}
	nsh_llm_reply_release(&r);
	nsh_llm_error_parse(body, len, &e);
	nsh_llm_error_release(&e);
	if (!nsh_json_parse(body, len, &j, NULL)) {
		struct nsh_llm_conv c;

		if (!nsh_llm_conv_from_json(j, &c, &err)) {
			nsh_llm_conv_repair(&c);
			encode_both(&c);
			nsh_llm_conv_release(&c);
		}
		json_decref(j);
	}
	return 0;
}
