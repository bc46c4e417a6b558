/*
 * The HTTP/1.x request-head parser of the egress proxy. Its input comes from
 * inside a sandbox, so it is strict (RFC 9112 where it lets a recipient
 * reject) and never reads past the bytes it is given; tests/fuzz/fuzz_http.c
 * drives it with arbitrary input.
 */
#include "net/net.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/str.h"

#include "core/banned.h"

/* RFC 9110 tchar: the bytes of a token (method, field name). */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

size_t nsh_http_head_len(const char *p, size_t len)
{
	if (!len)
		return 0;
	/* an LF followed by an empty line, CRLF or bare (which the parser then refuses) */
	for (const char *lf = memchr(p, '\n', len); lf;
	     lf = memchr(lf + 1, '\n', len - (size_t)(lf + 1 - p))) {
		size_t i = (size_t)(lf - p);

		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Print at most 60 bytes of @s for an error message, only when printable. */
static int shown_len(struct nsh_str s)
{
	size_t n = s.len > 60 ? 60 : s.len;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] >= 0x7f)
			return (int)i;
	return (int)n;
}

/* The request line "METHOD SP target SP HTTP/1.x". */
static int parse_request_line(struct nsh_str line, struct nsh_http_req *req, struct nsh_err *err)
{
	size_t i = 0, start;

	while (i < line.len && is_tchar((unsigned char)line.p[i]))
		i++;
	if (!i || i == line.len || line.p[i] != ' ')
		return nsh_err_set(err, NSH_EINVAL, "malformed request line '%.*s'",
				   shown_len(line), line.p);
	req->method = nsh_str_make(line.p, i);
	start = ++i;
	while (i < line.len && (unsigned char)line.p[i] > 0x20 && (unsigned char)line.p[i] < 0x7f)
		i++;
	if (i == start || i == line.len || line.p[i] != ' ')
		return nsh_err_set(err, NSH_EINVAL, "malformed request target in '%.*s'",
				   shown_len(line), line.p);
	req->target = nsh_str_make(line.p + start, i - start);
	i++;
	if (line.len - i != 8 || memcmp(line.p + i, "HTTP/1.", 7) ||
	    (line.p[i + 7] != '0' && line.p[i + 7] != '1'))
		return nsh_err_set(err, NSH_EINVAL, "unsupported protocol version in '%.*s'",
				   shown_len(line), line.p);
	req->minor = line.p[i + 7] - '0';
	return 0;
}

/* One field line "name: value" (no obs-fold). */
static int parse_field(struct nsh_str line, struct nsh_http_req *req, struct nsh_err *err)
{
	struct nsh_http_header *h;
	size_t i = 0, vs, ve;

	if (line.p[0] == ' ' || line.p[0] == '\t')
		return nsh_err_set(err, NSH_EINVAL, "folded header line");
	while (i < line.len && is_tchar((unsigned char)line.p[i]))
		i++;
	if (!i || i == line.len || line.p[i] != ':')
		return nsh_err_set(err, NSH_EINVAL, "malformed header line '%.*s'", shown_len(line),
				   line.p);
	if (req->nhdr == NSH_HTTP_MAX_HEADERS)
		return nsh_err_set(err, NSH_ETOOBIG, "more than %d header fields",
				   NSH_HTTP_MAX_HEADERS);
	h = &req->hdr[req->nhdr];
	h->name = nsh_str_make(line.p, i);
	for (size_t j = i + 1; j < line.len; j++) {
		unsigned char c = (unsigned char)line.p[j];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return nsh_err_set(err, NSH_EINVAL,
					   "control character in the value of header '%.*s'",
					   (int)(i > 60 ? 60 : i), line.p);
	}
	vs = i + 1;
	ve = line.len;
	while (vs < ve && (line.p[vs] == ' ' || line.p[vs] == '\t'))
		vs++;
	while (ve > vs && (line.p[ve - 1] == ' ' || line.p[ve - 1] == '\t'))
		ve--;
	h->value = nsh_str_make(line.p + vs, ve - vs);
	req->nhdr++;
	return 0;
}

int nsh_http_parse_head(const char *p, size_t len, struct nsh_http_req *req, struct nsh_err *err)
{
	size_t pos = 0;
	bool first = true;
	int ret;

	req->method = req->target = nsh_str_make(NULL, 0);
	req->minor = 0;
	req->nhdr = 0;
	if (len > NSH_HTTP_HEAD_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "request head longer than %d bytes",
				   NSH_HTTP_HEAD_MAX);
	for (;;) {
		const char *lf = pos < len ? memchr(p + pos, '\n', len - pos) : NULL;
		struct nsh_str line;

		if (!lf)
			return nsh_err_set(err, NSH_EINVAL, "incomplete request head");
		if (lf == p + pos || lf[-1] != '\r')
			return nsh_err_set(err, NSH_EINVAL, "bare LF in request head");
		line = nsh_str_make(p + pos, (size_t)(lf - 1 - (p + pos)));
		pos = (size_t)(lf - p) + 1;
		if (memchr(line.p, '\r', line.len))
			return nsh_err_set(err, NSH_EINVAL, "bare CR in request head");
		if (!line.len) {
			if (first)
				return nsh_err_set(err, NSH_EINVAL, "empty request line");
			break;
		}
		ret = first ? parse_request_line(line, req, err) : parse_field(line, req, err);
		if (ret)
			return ret;
		first = false;
	}
	if (pos != len)
		return nsh_err_set(err, NSH_EINVAL, "bytes after the end of the request head");
	return 0;
}

const struct nsh_http_header *nsh_http_req_header(const struct nsh_http_req *req, const char *name,
						  size_t *ret_count)
{
	const struct nsh_http_header *first = NULL;
	size_t n = strlen(name), count = 0;

	for (size_t i = 0; i < req->nhdr; i++) {
		const struct nsh_http_header *h = &req->hdr[i];

		if (h->name.len == n && !strncasecmp(h->name.p, name, n)) {
			if (!first)
				first = h;
			count++;
		}
	}
	if (ret_count)
		*ret_count = count;
	return first;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int nsh_http_parse_authority(struct nsh_str s, int default_port, struct nsh_str *ret_host,
			     int *ret_port, struct nsh_err *err)
{
	struct nsh_str host;
	size_t i = 0;
	long port = 0;

	if (s.len && memchr(s.p, '@', s.len))
		return nsh_err_set(err, NSH_EINVAL, "user information in authority '%.*s'",
				   shown_len(s), s.p);
	if (s.len && s.p[0] == '[') {
		while (i < s.len && s.p[i] != ']') {
			char c = s.p[i];

			if (i && !(c == ':' || c == '.' || (c >= '0' && c <= '9') ||
				   (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
				return nsh_err_set(err, NSH_EINVAL,
						   "invalid IPv6 address in authority '%.*s'",
						   shown_len(s), s.p);
			i++;
		}
		if (i == s.len || i < 3)
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid IPv6 address in authority '%.*s'", shown_len(s),
					   s.p);
		i++;
	} else {
		while (i < s.len && s.p[i] != ':') {
			if (!host_char(s.p[i]))
				return nsh_err_set(err, NSH_EINVAL,
						   "invalid host in authority '%.*s'", shown_len(s),
						   s.p);
			i++;
		}
	}
	host = nsh_str_make(s.p, i);
	if (!host.len)
		return nsh_err_set(err, NSH_EINVAL, "no host in authority '%.*s'", shown_len(s),
				   s.p);
	if (i == s.len) {
		if (!default_port)
			return nsh_err_set(err, NSH_EINVAL, "no port in '%.*s'", shown_len(s), s.p);
		port = default_port;
	} else {
		if (s.p[i] != ':' || i + 1 == s.len || s.len - i - 1 > 5)
			return nsh_err_set(err, NSH_EINVAL, "invalid port in '%.*s'", shown_len(s),
					   s.p);
		for (size_t j = i + 1; j < s.len; j++) {
			if (s.p[j] < '0' || s.p[j] > '9')
				return nsh_err_set(err, NSH_EINVAL, "invalid port in '%.*s'",
						   shown_len(s), s.p);
			port = port * 10 + (s.p[j] - '0');
		}
		if (port < 1 || port > 65535)
			return nsh_err_set(err, NSH_EINVAL, "invalid port in '%.*s'", shown_len(s),
					   s.p);
	}
	*ret_host = host;
	*ret_port = (int)port;
	return 0;
}

int nsh_http_parse_uri(struct nsh_str s, struct nsh_str *ret_authority, struct nsh_str *ret_path,
		       struct nsh_err *err)
{
	size_t i = 7, start;

	if (s.len < 7 || strncasecmp(s.p, "http://", 7))
		return nsh_err_set(err, NSH_EINVAL, "not an absolute http:// URI: '%.*s'",
				   shown_len(s), s.p);
	start = i;
	while (i < s.len && s.p[i] != '/' && s.p[i] != '?' && s.p[i] != '#')
		i++;
	if (i == start)
		return nsh_err_set(err, NSH_EINVAL, "no host in URI '%.*s'", shown_len(s), s.p);
	*ret_authority = nsh_str_make(s.p + start, i - start);
	start = i;
	while (i < s.len && s.p[i] != '#')
		i++;
	*ret_path = nsh_str_make(s.p + start, i - start);
	return 0;
}
