/*
 * The parsers of git's smart HTTP service that see untrusted bytes: the
 * request path (/git/ORG/REPO.git/...), the Basic or Bearer credentials,
 * and the CGI response headers of "git http-backend". No sockets and no
 * processes here, so the fuzz target and the unit tests drive them
 * directly; git_http.c serves the requests.
 */
#include "server/server_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

#include "core/banned.h"

/* ---- the request path ---- */

/* Copy the segment [@s, @s + @n) into @out (NSH_FORGE_NAME_MAX + 1 bytes) and validate it. */
static int take_name(const char *what, const char *s, size_t n, char *out, struct nsh_err *err)
{
	if (n > NSH_FORGE_NAME_MAX)
		return nsh_err_set(err, NSH_EINVAL, "%s name is longer than %d characters", what,
				   NSH_FORGE_NAME_MAX);
	memcpy(out, s, n);
	out[n] = '\0';
	return nsh_forge_check_name(what, out, err);
}

int nsh_srv_git_parse(const char *method, const char *path, const char *service,
		      struct nsh_srv_git_target *ret, struct nsh_err *err)
{
	const char *org, *repo, *rest, *slash;
	size_t rlen;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!nsh_starts_with(path, NSH_SRV_GIT_PREFIX))
		return nsh_err_set(err, NSH_ENOTFOUND, "not a git path");
	if (strlen(path) > NSH_SRV_MAX_PATH)
		return nsh_err_set(err, NSH_EINVAL, "the path is too long");
	org = path + strlen(NSH_SRV_GIT_PREFIX);
	slash = strchr(org, '/');
	if (!slash)
		return nsh_err_set(err, NSH_ENOTFOUND, "no repository in the path");
	rc = take_name("org", org, (size_t)(slash - org), ret->org, err);
	if (rc)
		return rc;
	repo = slash + 1;
	slash = strchr(repo, '/');
	if (!slash)
		return nsh_err_set(err, NSH_ENOTFOUND, "no git service in the path");
	rlen = (size_t)(slash - repo);
	/* "REPO.git" as git URLs usually have it, or plain "REPO" */
	if (rlen > 4 && !memcmp(slash - 4, ".git", 4))
		rlen -= 4;
	rc = take_name("repository", repo, rlen, ret->repo, err);
	if (rc)
		return rc;
	rest = slash + 1;
	if (!strcmp(rest, "info/refs")) {
		if (strcmp(method, "GET"))
			return nsh_err_set(err, NSH_EUSAGE, "'info/refs' takes GET, not '%s'",
					   method);
		if (!service)
			return nsh_err_set(err, NSH_EDENIED,
					   "only git's smart protocol is served (no 'service' "
					   "parameter)");
		if (!strcmp(service, "git-upload-pack"))
			ret->service = NSH_SRV_GIT_UPLOAD;
		else if (!strcmp(service, "git-receive-pack"))
			ret->service = NSH_SRV_GIT_RECEIVE;
		else
			return nsh_err_set(err, NSH_EINVAL, "unknown git service '%.40s'", service);
		ret->advert = true;
		return 0;
	}
	if (!strcmp(rest, "git-upload-pack"))
		ret->service = NSH_SRV_GIT_UPLOAD;
	else if (!strcmp(rest, "git-receive-pack"))
		ret->service = NSH_SRV_GIT_RECEIVE;
	else
		return nsh_err_set(err, NSH_ENOTFOUND, "no such git endpoint '%.100s'", rest);
	if (strcmp(method, "POST"))
		return nsh_err_set(err, NSH_EUSAGE, "'%s' takes POST, not '%s'", rest, method);
	return 0;
}

/* ---- credentials ---- */

/* Whether @s holds only characters allowed in a user name passed on to git. */
static bool user_name_ok(const char *s, size_t n)
{
	if (!n || n > NSH_SRV_GIT_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@'))
			return false;
	}
	return true;
}

int nsh_srv_git_credentials(const char *header, struct nsh_srv_git_cred *ret)
{
	size_t n, blen = 0;
	const char *colon;

	memset(ret, 0, sizeof(*ret));
	if (!header)
		return -1;
	n = strlen(header);
	if (n > NSH_SRV_GIT_AUTH_MAX)
		return -1;
	if (!strncasecmp(header, "Bearer ", 7)) {
		header += 7;
		while (*header == ' ')
			header++;
		n = strlen(header);
		while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
			n--;
		memcpy(ret->secret, header, n);
		ret->secret_len = n;
		return 0;
	}
	if (strncasecmp(header, "Basic ", 6))
		return -1;
	header += 6;
	while (*header == ' ')
		header++;
	n = strlen(header);
	while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
		n--;
	if (sodium_base642bin((unsigned char *)ret->secret, sizeof(ret->secret) - 1, header, n,
			      NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL))
		return -1;
	colon = memchr(ret->secret, ':', blen);
	if (!colon) {
		sodium_memzero(ret->secret, sizeof(ret->secret));
		return -1;
	}
	n = (size_t)(colon - ret->secret);
	if (user_name_ok(ret->secret, n)) {
		memcpy(ret->user, ret->secret, n);
		ret->user[n] = '\0';
	}
	/* the password moves to the front; what followed it is wiped */
	memmove(ret->secret, colon + 1, blen - n - 1);
	ret->secret_len = blen - n - 1;
	sodium_memzero(ret->secret + ret->secret_len, sizeof(ret->secret) - ret->secret_len);
	return 0;
}

/* ---- CGI response headers ---- */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Headers that describe the connection or its framing: libmicrohttpd's business. */
static bool is_hop_header(const char *name)
{
	static const char *const hop[] = {"Content-Length", "Transfer-Encoding", "Connection",
					  "Keep-Alive",	    "Upgrade",		 "Trailer"};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (!strcasecmp(name, hop[i]))
			return true;
	return false;
}

void nsh_srv_cgi_head_release(struct nsh_srv_cgi_head *h)
{
	if (!h)
		return;
	free(h->text);
	memset(h, 0, sizeof(*h));
}

/* Parse one header line @line (NUL-terminated, without its line end) into @h. */
static int cgi_line(char *line, struct nsh_srv_cgi_head *h, bool *saw_status, bool *saw_location,
		    struct nsh_err *err)
{
	char *p = line, *v;
	size_t vlen;

	while (is_tchar(*p))
		p++;
	if (p == line || *p != ':')
		return nsh_err_set(err, NSH_EINVAL, "malformed CGI header line");
	*p = '\0';
	v = p + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	vlen = strlen(v);
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		v[--vlen] = '\0';
	for (size_t i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return nsh_err_set(err, NSH_EINVAL, "control character in CGI header '%s'",
					   line);
	if (!strcasecmp(line, "Status")) {
		if (*saw_status)
			return nsh_err_set(err, NSH_EINVAL, "two CGI Status headers");
		if (vlen < 3 || v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' ||
		    v[2] < '0' || v[2] > '9' || (v[3] && v[3] != ' '))
			return nsh_err_set(err, NSH_EINVAL, "malformed CGI status '%.40s'", v);
		h->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
		*saw_status = true;
		return 0;
	}
	if (is_hop_header(line))
		return 0;
	if (!strcasecmp(line, "Location"))
		*saw_location = true;
	if (h->nheaders == NSH_SRV_CGI_HEADERS)
		return nsh_err_set(err, NSH_EINVAL, "more than %d CGI headers",
				   NSH_SRV_CGI_HEADERS);
	h->h[h->nheaders].key = line;
	h->h[h->nheaders].value = v;
	h->nheaders++;
	return 0;
}

int nsh_srv_cgi_parse(const char *buf, size_t len, struct nsh_srv_cgi_head *ret,
		      struct nsh_err *err)
{
	size_t end = 0, body_at = 0, scan = len < NSH_SRV_CGI_HEAD_MAX ? len : NSH_SRV_CGI_HEAD_MAX;
	bool saw_status = false, saw_location = false;
	char *p;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	/* The header block ends at an empty line: "\n\n" or "\n\r\n" (or one at the start). */
	for (size_t i = 0; i < scan && !body_at; i++) {
		if (buf[i] != '\n')
			continue;
		if (i == 0 || (i == 1 && buf[0] == '\r')) {
			end = 0;
			body_at = i + 1;
		} else if (buf[i - 1] == '\n') {
			end = i - 1;
			body_at = i + 1;
		} else if (buf[i - 1] == '\r' && i >= 2 && buf[i - 2] == '\n') {
			end = i - 2;
			body_at = i + 1;
		}
	}
	if (!body_at) {
		if (len >= NSH_SRV_CGI_HEAD_MAX)
			return nsh_err_set(err, NSH_EINVAL, "CGI headers longer than %u bytes",
					   NSH_SRV_CGI_HEAD_MAX);
		return 1;
	}
	if (memchr(buf, '\0', end))
		return nsh_err_set(err, NSH_EINVAL, "NUL byte in the CGI headers");
	ret->text = nsh_xmalloc(end + 1);
	memcpy(ret->text, buf, end);
	ret->text[end] = '\0';
	ret->body_at = body_at;
	p = ret->text;
	while (*p && !rc) {
		char *nl = strchr(p, '\n'), *next;

		if (nl) {
			next = nl + 1;
			if (nl > p && nl[-1] == '\r')
				nl--;
			*nl = '\0';
		} else {
			next = p + strlen(p);
			if (next > p && next[-1] == '\r')
				next[-1] = '\0';
		}
		rc = cgi_line(p, ret, &saw_status, &saw_location, err);
		p = next;
	}
	if (rc) {
		nsh_srv_cgi_head_release(ret);
		return rc;
	}
	if (!saw_status)
		ret->status = saw_location ? 302 : 200;
	return 0;
}

/* ---- the ref updates of a push ---- */

void nsh_srv_git_cmds_release(struct nsh_srv_git_cmds *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++)
		free(c->v[i].ref);
	memset(c, 0, sizeof(*c));
}

/* The value of 4 hex digits, or -1. */
static int pkt_len(const char *s)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Whether [@s, @s + @n) is an object id: 40 or 64 lower-case hex digits. */
static bool oid_ok(const char *s, size_t n)
{
	if (n != 40 && n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Whether the space-separated capability list [@caps, @caps + @n) has @want. */
static bool has_cap(const char *caps, size_t n, const char *want)
{
	size_t wl = strlen(want);

	for (size_t i = 0; i < n;) {
		size_t k = 0;

		while (i + k < n && caps[i + k] != ' ')
			k++;
		if (k == wl && !memcmp(caps + i, want, wl))
			return true;
		i += k + 1;
	}
	return false;
}

int nsh_srv_git_push_parse(const char *buf, size_t len, struct nsh_srv_git_cmds *ret,
			   struct nsh_err *err)
{
	size_t at = 0;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	for (;;) {
		const char *line, *nul, *sp1, *sp2;
		size_t n, body;
		int l;

		if (len - at < 4) {
			rc = nsh_err_set(err, NSH_EINVAL, "the push ends before its list of refs");
			break;
		}
		l = pkt_len(buf + at);
		if (l == 0)
			break; /* flush: the list is complete */
		if (l < 5 || (size_t)l > len - at) {
			rc = nsh_err_set(err, NSH_EINVAL, "malformed packet in the list of refs");
			break;
		}
		line = buf + at + 4;
		n = (size_t)l - 4;
		at += (size_t)l;
		if (n && line[n - 1] == '\n')
			n--;
		nul = memchr(line, '\0', n);
		body = nul ? (size_t)(nul - line) : n;
		if (ret->nr && nul) {
			rc = nsh_err_set(err, NSH_EINVAL, "capabilities after the first ref");
			break;
		}
		if (!ret->nr && nul) {
			const char *caps = nul + 1;
			size_t cn = n - body - 1;

			ret->report_status = has_cap(caps, cn, "report-status") ||
					     has_cap(caps, cn, "report-status-v2");
			ret->side_band = has_cap(caps, cn, "side-band-64k") ? 2
					 : has_cap(caps, cn, "side-band")   ? 1
									    : 0;
		}
		if (ret->nr == NSH_SRV_GIT_CMDS_MAX) {
			rc = nsh_err_set(err, NSH_EINVAL, "more than %d refs in one push",
					 NSH_SRV_GIT_CMDS_MAX);
			break;
		}
		/* "OLD NEW REF"; anything else (shallow, push-cert) is not taken */
		sp1 = memchr(line, ' ', body);
		sp2 = sp1 ? memchr(sp1 + 1, ' ', body - (size_t)(sp1 + 1 - line)) : NULL;
		if (!sp1 || !sp2 || !oid_ok(line, (size_t)(sp1 - line)) ||
		    !oid_ok(sp1 + 1, (size_t)(sp2 - sp1 - 1)) || sp2 - sp1 - 1 != sp1 - line ||
		    sp2 + 1 == line + body ||
		    memchr(sp2 + 1, ' ', body - (size_t)(sp2 + 1 - line))) {
			rc = nsh_err_set(
				err, NSH_EINVAL,
				"not a ref update (shallow lines and push certificates are "
				"not taken)");
			break;
		}
		for (const char *c = sp2 + 1; c < line + body; c++)
			if ((unsigned char)*c < 0x21 || *c == 0x7f) {
				rc = nsh_err_set(err, NSH_EINVAL,
						 "control character in a ref name");
				goto out;
			}
		memcpy(ret->v[ret->nr].old, line, (size_t)(sp1 - line));
		ret->v[ret->nr].old[sp1 - line] = '\0';
		memcpy(ret->v[ret->nr].new, sp1 + 1, (size_t)(sp2 - sp1 - 1));
		ret->v[ret->nr].new[sp2 - sp1 - 1] = '\0';
		ret->v[ret->nr].ref = nsh_xstrndup(sp2 + 1, (size_t)(line + body - sp2 - 1));
		ret->nr++;
	}
out:
	if (!rc && !ret->nr)
		rc = nsh_err_set(err, NSH_EINVAL, "the push updates no ref");
	if (rc)
		nsh_srv_git_cmds_release(ret);
	return rc;
}

/* Append the pkt-line of @n bytes at @s to @out. */
static void pkt_add(struct nsh_buf *out, const char *s, size_t n)
{
	nsh_buf_addf(out, "%04zx", n + 4);
	nsh_buf_add(out, s, n);
}

void nsh_srv_git_push_report(const struct nsh_srv_git_cmds *c, const char *const *why,
			     struct nsh_buf *out)
{
	struct nsh_buf r = NSH_BUF_INIT;
	struct nsh_buf line = NSH_BUF_INIT;
	size_t chunk = c->side_band == 2 ? 65515 : 995;

	nsh_buf_reset(out);
	pkt_add(&r, "unpack ok\n", 10);
	for (size_t i = 0; i < c->nr; i++) {
		nsh_buf_reset(&line);
		nsh_buf_addf(&line, "ng %s %s\n", c->v[i].ref,
			     why[i] ? why[i] : "not updated: another ref of this push was refused");
		pkt_add(&r, line.buf, line.len);
	}
	nsh_buf_add(&r, "0000", 4);
	if (!c->side_band) {
		nsh_buf_add(out, r.buf, r.len);
	} else {
		/* band 1 carries the report, in pieces that fit a packet */
		for (size_t at = 0; at < r.len; at += chunk) {
			size_t n = r.len - at < chunk ? r.len - at : chunk;

			nsh_buf_reset(&line);
			nsh_buf_addch(&line, '\1');
			nsh_buf_add(&line, r.buf + at, n);
			pkt_add(out, line.buf, line.len);
		}
		nsh_buf_add(out, "0000", 4);
	}
	nsh_buf_release(&line);
	nsh_buf_release(&r);
}
