/*
 * libFuzzer target for streamed replies: the SSE parser and both stream
 * decoders. The first byte picks the wire format and the chunk size the
 * bytes arrive in (a reply must not depend on how the network cut it);
 * the rest is the response body. An assembled reply must be complete:
 * every call has an id, a name and arguments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/llm.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode @p in chunks of @step bytes; 0 with @ret filled, or an error. */
static int decode(enum nsh_llm_api api, const char *p, size_t len, size_t step,
		  struct nsh_llm_reply *ret)
{
	struct nsh_llm_stream *s = nsh_llm_stream_new(api);
	struct nsh_err err = NSH_ERR_INIT;
	int rc = 0;

	for (size_t i = 0; !rc && i < len; i += step)
		rc = nsh_llm_stream_feed(s, p + i, len - i < step ? len - i : step, &err);
	if (!rc)
		rc = nsh_llm_stream_finish(s, ret, &err);
	if (rc && !err.msg[0])
		abort(); /* every failure says why */
	nsh_llm_stream_free(s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_llm_reply a = {0}, b = {0};
	enum nsh_llm_api api;
	size_t step;
	int ra, rb;

	if (size < 1)
		return 0;
	api = data[0] & 1 ? NSH_LLM_ANTHROPIC : NSH_LLM_OPENAI;
	step = (size_t)(data[0] >> 1) % 17 + 1;
	ra = decode(api, (const char *)data + 1, size - 1, step, &a);
	rb = decode(api, (const char *)data + 1, size - 1, size, &b);
	/* chunking never changes the outcome */
	if ((ra == 0) != (rb == 0))
		abort();
	if (!ra) {
		if (a.ncalls != b.ncalls || (a.text == NULL) != (b.text == NULL) ||
		    (a.text && strcmp(a.text, b.text)) || a.usage.output != b.usage.output)
			abort();
		for (size_t i = 0; i < a.ncalls; i++)
			if (!a.calls[i].id || !a.calls[i].name || !a.calls[i].args ||
			    strcmp(a.calls[i].args, b.calls[i].args))
				abort();
	}
	nsh_llm_reply_release(&a);
	nsh_llm_reply_release(&b);
	return 0;
}
