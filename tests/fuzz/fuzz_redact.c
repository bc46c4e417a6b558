/*
 * libFuzzer target for the redactor. The input is split into up to six
 * secrets and a text: byte 0 gives the number of secrets, then each secret
 * is a length byte and that many bytes, then one byte picks the chunk size
 * for the streaming run, and the rest is the text.
 *
 * Checks: no crash or leak (sanitizers); streaming in chunks gives the
 * one-buffer output; no registered value survives, in any form computed
 * here independently (raw, base64 with and without padding, hex in both
 * cases, percent-encoding); text with no form in it comes out unchanged;
 * the scanner reports a hit exactly when something was replaced.
 *
 * Values never contain '[' or ']', so that a value cannot be formed by a
 * marker and the text next to it; the output is checked between markers.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "secrets/secrets.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SECRETS 6
#define MAX_VALUE   40

static void add_url(struct nsh_buf *f, const unsigned char *v, size_t n, bool upper, bool plus)
{
	for (size_t i = 0; i < n; i++) {
		if (isalnum(v[i]) || (v[i] && strchr("-._~", v[i])))
			nsh_buf_addch(f, (char)v[i]);
		else if (plus && v[i] == ' ')
			nsh_buf_addch(f, '+');
		else
			nsh_buf_addf(f, upper ? "%%%02X" : "%%%02x", v[i]);
	}
}

/* The form @k (0..7) of value @v, as an independent oracle; false when @k is out of range. */
static bool form(int k, const unsigned char *v, size_t n, struct nsh_buf *f)
{
	char tmp[4 * MAX_VALUE + 8];

	nsh_buf_reset(f);
	switch (k) {
	case 0:
		nsh_buf_add(f, v, n);
		return true;
	case 1:
	case 2:
		sodium_bin2base64(tmp, sizeof(tmp), v, n,
				  k == 1 ? sodium_base64_VARIANT_ORIGINAL
					 : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		nsh_buf_adds(f, tmp);
		return true;
	case 3:
	case 4:
		sodium_bin2hex(tmp, sizeof(tmp), v, n);
		for (char *p = tmp; k == 4 && *p; p++)
			*p = (char)toupper((unsigned char)*p);
		nsh_buf_adds(f, tmp);
		return true;
	case 5:
	case 6:
	case 7:
		add_url(f, v, n, k != 6, k == 7);
		return true;
	default:
		return false;
	}
}

/* Whether @needle occurs in @out outside the markers "[secret:S<digit>]". */
static bool survives(const struct nsh_buf *out, const struct nsh_buf *needle)
{
	const char *p = out->buf, *end = out->buf + out->len;

	while (p < end) {
		const char *m = memmem(p, (size_t)(end - p), "[secret:S", 9);
		const char *seg_end = m ? m : end;

		if (memmem(p, (size_t)(seg_end - p), needle->buf, needle->len))
			return true;
		if (!m)
			break;
		p = m + 9;
		if (end - p >= 2 && isdigit((unsigned char)p[0]) && p[1] == ']')
			p += 2;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char values[MAX_SECRETS][MAX_VALUE];
	struct nsh_redact_secret s[MAX_SECRETS];
	static const char *const names[MAX_SECRETS] = {"S0", "S1", "S2", "S3", "S4", "S5"};
	struct nsh_buf out = NSH_BUF_INIT, chunked = NSH_BUF_INIT, f = NSH_BUF_INIT;
	struct nsh_redact_hits hits = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redactor *r = NULL;
	struct nsh_redact_stream *st;
	const uint8_t *p = data, *end = data + size;
	const char *text;
	size_t n, tlen, chunk;
	bool any_form = false;

	if (size < 2 || sodium_init() < 0)
		return 0;
	n = (size_t)(*p++ % MAX_SECRETS) + 1;
	for (size_t i = 0; i < n; i++) {
		size_t len = p < end ? (size_t)(*p++ % MAX_VALUE) + 1 : 1;

		if ((size_t)(end - p) < len)
			len = (size_t)(end - p);
		for (size_t k = 0; k < len; k++)
			values[i][k] = p[k] == '[' || p[k] == ']' ? '_' : p[k];
		p += len;
		s[i] = (struct nsh_redact_secret){names[i], values[i], len};
	}
	chunk = p < end ? (size_t)(*p++ % 17) + 1 : 1;
	text = (const char *)p;
	tlen = (size_t)(end - p);

	if (nsh_redactor_new(s, n, &r, NULL, &err))
		abort(); /* tiny secrets never exceed the limits */
	if (nsh_redact_buf(r, text, tlen, &out, &err))
		abort();

	st = nsh_redact_stream_new(r);
	for (size_t at = 0; at < tlen; at += chunk)
		if (nsh_redact_stream_write(st, text + at, tlen - at < chunk ? tlen - at : chunk,
					    &chunked, &err))
			abort();
	if (nsh_redact_stream_finish(st, &chunked, &err))
		abort();
	nsh_redact_stream_free(st);
	if (chunked.len != out.len || memcmp(chunked.buf, out.buf, out.len))
		abort(); /* chunking changed the output */

	for (size_t i = 0; i < n; i++) {
		if (s[i].len < NSH_REDACT_MIN_VALUE)
			continue;
		for (int k = 0; form(k, values[i], s[i].len, &f); k++) {
			if (survives(&out, &f))
				abort(); /* a registered value leaked */
			any_form |= memmem(text, tlen, f.buf, f.len) != NULL;
		}
	}
	if (!any_form && (out.len != tlen || memcmp(out.buf, text, tlen)))
		abort(); /* text without secrets was changed */

	if (nsh_redact_scan(r, text, tlen, &hits, &err))
		abort();
	if ((hits.nr > 0) != (out.len != tlen || memcmp(out.buf, text, tlen)))
		abort(); /* the scanner and the redactor disagree */

	nsh_redact_hits_release(&hits);
	nsh_buf_release(&out);
	nsh_buf_release(&chunked);
	nsh_buf_release(&f);
	nsh_redactor_free(r);
	return 0;
}
