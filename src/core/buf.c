#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

#include "core/banned.h"

/* Shared storage of every buffer that owns no memory; only ever holds "". */
char nsh_buf_empty[1];

void nsh_buf_init(struct nsh_buf *b, size_t max)
{
	b->buf = nsh_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void nsh_buf_release(struct nsh_buf *b)
{
	if (!b)
		return;
	if (b->alloc)
		free(b->buf);
	nsh_buf_init(b, b->max);
}

char *nsh_buf_detach(struct nsh_buf *b, size_t *ret_len)
{
	char *p;

	if (ret_len)
		*ret_len = b->len;
	p = b->alloc ? b->buf : nsh_xstrdup("");
	nsh_buf_init(b, b->max);
	return p;
}

int nsh_buf_grow(struct nsh_buf *b, size_t extra)
{
	size_t want;

	if (extra > b->max - b->len || extra > SIZE_MAX - b->len - 2)
		return NSH_ETOOBIG;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	if (want < b->alloc + b->alloc / 2)
		want = b->alloc + b->alloc / 2;
	if (want < 64)
		want = 64;
	if (b->alloc) {
		b->buf = nsh_xrealloc(b->buf, want);
	} else {
		b->buf = nsh_xmalloc(want);
		b->buf[0] = '\0';
	}
	b->alloc = want;
	return 0;
}

int nsh_buf_add(struct nsh_buf *b, const void *p, size_t n)
{
	int rc;

	if (!n)
		return 0;
	rc = nsh_buf_grow(b, n);
	if (rc)
		return rc;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

int nsh_buf_adds(struct nsh_buf *b, const char *s)
{
	return nsh_buf_add(b, s, strlen(s));
}

int nsh_buf_addch(struct nsh_buf *b, char c)
{
	return nsh_buf_add(b, &c, 1);
}

int nsh_buf_addstr(struct nsh_buf *b, struct nsh_str s)
{
	return nsh_buf_add(b, s.p, s.len);
}

int nsh_buf_vaddf(struct nsh_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	int rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return NSH_EINVAL;
	rc = nsh_buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int nsh_buf_addf(struct nsh_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = nsh_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void nsh_buf_truncate(struct nsh_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->buf[len] = '\0';
}

void nsh_buf_reset(struct nsh_buf *b)
{
	nsh_buf_truncate(b, 0);
}

void nsh_buf_trim(struct nsh_buf *b)
{
	struct nsh_str s = nsh_str_trim(nsh_str_make(b->buf, b->len));

	if (s.len && s.p != b->buf)
		memmove(b->buf, s.p, s.len);
	nsh_buf_truncate(b, s.len);
}
