/*
 * libFuzzer target for what git's smart HTTP service parses
 * (src/server/git_cgi.c). The first byte picks the parser:
 *   'p': "METHOD\nPATH\nSERVICE" for the /git/ path parser;
 *   'a': an Authorization header for the credential parser;
 *   'r': the start of a receive-pack request body for the ref-update parser,
 *   whose result is then turned into a refusal report;
 *   anything else: the rest is http-backend output for the CGI header
 *   parser, fed whole and in two pieces.
 * Checked: accepted paths name valid forge names and a service; parsed
 * headers have a status from 100 to 599, printable values, no framing
 * headers, and a body offset inside the input; parsed ref updates have
 * object ids of 40 or 64 hex digits and printable ref names without spaces,
 * at most NSH_SRV_GIT_CMDS_MAX of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "forge/forge.h"
#include "server/server_int.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the next line of [*p, end). */
static char *take_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *stop = nl ? nl : end;
	char *s = malloc((size_t)(stop - *p) + 1);

	memcpy(s, *p, (size_t)(stop - *p));
	s[stop - *p] = '\0';
	*p = nl ? nl + 1 : end;
	return s;
}

static void fuzz_path(const char *p, const char *end)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_git_target t;
	char *method = take_line(&p, end);
	char *path = take_line(&p, end);
	char *service = take_line(&p, end);

	if (!nsh_srv_git_parse(method, path, *service ? service : NULL, &t, &err)) {
		if (!nsh_forge_name_valid(t.org) || !nsh_forge_name_valid(t.repo))
			abort();
		if (t.service != NSH_SRV_GIT_UPLOAD && t.service != NSH_SRV_GIT_RECEIVE)
			abort();
		if (strstr(t.org, "..") || strstr(t.repo, "..") || strchr(t.repo, '/'))
			abort();
	}
	free(method);
	free(path);
	free(service);
}

static void fuzz_auth(const char *p, const char *end)
{
	char *h = malloc((size_t)(end - p) + 1);
	struct nsh_srv_git_cred c;

	memcpy(h, p, (size_t)(end - p));
	h[end - p] = '\0';
	if (!nsh_srv_git_credentials(h, &c)) {
		if (c.secret_len >= sizeof(c.secret) || strlen(c.user) > NSH_SRV_GIT_USER_MAX)
			abort();
	}
	free(h);
}

static void check_head(const struct nsh_srv_cgi_head *h, size_t len)
{
	if (h->status < 100 || h->status > 599 || h->body_at > len ||
	    h->nheaders > NSH_SRV_CGI_HEADERS)
		abort();
	for (size_t i = 0; i < h->nheaders; i++) {
		if (!h->h[i].key[0] || !strcasecmp(h->h[i].key, "Content-Length") ||
		    !strcasecmp(h->h[i].key, "Transfer-Encoding"))
			abort();
		for (const char *v = h->h[i].value; *v; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
				abort();
	}
}

static void fuzz_cgi(const char *p, size_t len)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_cgi_head h, h2;
	int rc = nsh_srv_cgi_parse(p, len, &h, &err);

	if (rc == 0)
		check_head(&h, len);
	/* a prefix that already holds the headers gives the same result */
	if (len > 1) {
		int rc2 = nsh_srv_cgi_parse(p, len / 2, &h2, &err);

		if (rc2 == 0) {
			check_head(&h2, len / 2);
			if (rc != 0 || h2.status != h.status || h2.body_at != h.body_at)
				abort();
			nsh_srv_cgi_head_release(&h2);
		}
	}
	if (rc == 0)
		nsh_srv_cgi_head_release(&h);
}

static bool hex_id(const char *s)
{
	size_t n = strlen(s);

	return (n == 40 || n == 64) && strspn(s, "0123456789abcdef") == n;
}

static void fuzz_push(const char *p, size_t len)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_git_cmds c;
	struct nsh_buf out = NSH_BUF_INIT;
	const char *why[NSH_SRV_GIT_CMDS_MAX] = {"refused"};

	if (nsh_srv_git_push_parse(p, len, &c, &err))
		return;
	if (!c.nr || c.nr > NSH_SRV_GIT_CMDS_MAX)
		abort();
	for (size_t i = 0; i < c.nr; i++) {
		if (!hex_id(c.v[i].old) || !hex_id(c.v[i].new) || !c.v[i].ref[0])
			abort();
		for (const char *r = c.v[i].ref; *r; r++)
			if ((unsigned char)*r <= 0x20 || *r == 0x7f)
				abort();
	}
	nsh_srv_git_push_report(&c, why, &out);
	if (out.len < 8 || memcmp(out.buf + out.len - 4, "0000", 4))
		abort();
	nsh_buf_release(&out);
	nsh_srv_git_cmds_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1, *end = (const char *)data + size;

	if (!size)
		return 0;
	if (data[0] == 'p')
		fuzz_path(p, end);
	else if (data[0] == 'a')
		fuzz_auth(p, end);
	else if (data[0] == 'r')
		fuzz_push(p, size - 1);
	else
		fuzz_cgi(p, size - 1);
	return 0;
}
