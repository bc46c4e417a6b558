/*
 * A server-sent events parser (the WHATWG event-stream format), fed in
 * chunks of any size as the bytes arrive from the network.
 */
#include "agent/llm.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

void nsh_sse_init(struct nsh_sse *p, nsh_sse_fn *fn, void *ctx)
{
	memset(p, 0, sizeof(*p));
	nsh_buf_init(&p->line, NSH_LLM_LINE_MAX);
	nsh_buf_init(&p->data, NSH_LLM_RESPONSE_MAX);
	nsh_buf_init(&p->event, 256);
	p->fn = fn;
	p->ctx = ctx;
}

void nsh_sse_release(struct nsh_sse *p)
{
	if (!p)
		return;
	nsh_buf_release(&p->line);
	nsh_buf_release(&p->data);
	nsh_buf_release(&p->event);
}

/* A blank line: hand the event over (when it had data) and start a new one. */
static int dispatch(struct nsh_sse *p, struct nsh_err *err)
{
	int rc = 0;

	if (p->has_data)
		rc = p->fn(p->event.buf, p->data.buf, p->data.len, p->ctx, err);
	nsh_buf_reset(&p->data);
	nsh_buf_reset(&p->event);
	p->has_data = false;
	return rc;
}

/* One complete line (without its end). */
static int line(struct nsh_sse *p, struct nsh_err *err)
{
	const char *s = p->line.buf, *colon, *value;
	size_t n = p->line.len, name_len, value_len;

	if (!n)
		return dispatch(p, err);
	if (s[0] == ':')
		return 0; /* a comment, e.g. ": keep-alive" */
	colon = memchr(s, ':', n);
	name_len = colon ? (size_t)(colon - s) : n;
	value = colon ? colon + 1 : s + n;
	value_len = n - (size_t)(value - s);
	if (value_len && value[0] == ' ') {
		value++;
		value_len--;
	}
	if (name_len == 4 && !memcmp(s, "data", 4)) {
		if ((p->has_data && nsh_buf_addch(&p->data, '\n')) ||
		    nsh_buf_add(&p->data, value, value_len))
			return nsh_err_set(err, NSH_ETOOBIG, "event data longer than %zu bytes",
					   p->data.max);
		p->has_data = true;
	} else if (name_len == 5 && !memcmp(s, "event", 5)) {
		nsh_buf_reset(&p->event);
		if (nsh_buf_add(&p->event, value, value_len))
			return nsh_err_set(err, NSH_ETOOBIG, "event name longer than %zu bytes",
					   p->event.max);
	}
	/* "id", "retry" and unknown fields are ignored */
	return 0;
}

int nsh_sse_feed(struct nsh_sse *p, const char *buf, size_t len, struct nsh_err *err)
{
	size_t i = 0;
	int rc;

	while (i < len) {
		char c = buf[i];

		if (c == '\n' && p->cr) {
			/* the second half of a CRLF that was already handled */
			p->cr = false;
			i++;
			continue;
		}
		p->cr = false;
		if (c == '\r' || c == '\n') {
			p->cr = c == '\r';
			rc = line(p, err);
			nsh_buf_reset(&p->line);
			if (rc)
				return rc;
			i++;
			continue;
		}
		/* copy the run of bytes up to the next line end at once */
		{
			size_t j = i;

			while (j < len && buf[j] != '\r' && buf[j] != '\n')
				j++;
			if (nsh_buf_add(&p->line, buf + i, j - i))
				return nsh_err_set(err, NSH_ETOOBIG,
						   "event stream line longer than %zu bytes",
						   p->line.max);
			i = j;
		}
	}
	return 0;
}

int nsh_sse_finish(struct nsh_sse *p, struct nsh_err *err)
{
	int rc = 0;

	if (p->line.len) {
		rc = line(p, err);
		nsh_buf_reset(&p->line);
	}
	if (!rc)
		rc = dispatch(p, err);
	p->cr = false;
	return rc;
}
