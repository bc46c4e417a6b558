/*
 * Tests for what git's smart HTTP service parses (src/server/git_cgi.c):
 * the /git/ paths a git client asks for and the ones that must not pass,
 * Basic and Bearer credentials, the CGI headers of git http-backend, and the
 * ref updates of a push with the report that refuses them.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "server/server_int.h"
#include "test.h"

#include "core/banned.h"

static int parse(const char *method, const char *path, const char *service,
		 struct nsh_srv_git_target *t)
{
	struct nsh_err err = NSH_ERR_INIT;

	return nsh_srv_git_parse(method, path, service, t, &err);
}

static void test_paths(void)
{
	struct nsh_srv_git_target t;

	CHECK_INT(parse("GET", "/git/acme/api.git/info/refs", "git-upload-pack", &t), 0);
	CHECK_STR(t.org, "acme");
	CHECK_STR(t.repo, "api");
	CHECK_INT(t.service, NSH_SRV_GIT_UPLOAD);
	CHECK(t.advert);
	CHECK_INT(parse("GET", "/git/acme/api/info/refs", "git-receive-pack", &t), 0);
	CHECK_STR(t.repo, "api");
	CHECK_INT(t.service, NSH_SRV_GIT_RECEIVE);
	CHECK_INT(parse("POST", "/git/acme/api.git/git-upload-pack", NULL, &t), 0);
	CHECK(!t.advert);
	CHECK_INT(t.service, NSH_SRV_GIT_UPLOAD);
	CHECK_INT(parse("POST", "/git/a.b-c_d/x.y.git/git-receive-pack", NULL, &t), 0);
	CHECK_STR(t.org, "a.b-c_d");
	CHECK_STR(t.repo, "x.y");
	CHECK_INT(t.service, NSH_SRV_GIT_RECEIVE);

	/* escapes and names the forge does not allow */
	CHECK_INT(parse("GET", "/git/../token/info/refs", "git-upload-pack", &t), NSH_EINVAL);
	CHECK_INT(parse("GET", "/git/acme/../x/info/refs", "git-upload-pack", &t), NSH_EINVAL);
	CHECK_INT(parse("GET", "/git/acme/...git/info/refs", "git-upload-pack", &t), NSH_EINVAL);
	CHECK_INT(parse("GET", "/git/./api.git/info/refs", "git-upload-pack", &t), NSH_EINVAL);
	CHECK_INT(parse("GET", "/git//api.git/info/refs", "git-upload-pack", &t), NSH_EINVAL);
	CHECK_INT(parse("GET", "/git/acme/..git/info/refs", "git-upload-pack", &t), NSH_EINVAL);
	CHECK_INT(parse("GET", "/git/acme/a/b.git/info/refs", "git-upload-pack", &t),
		  NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/git/ac%me/api.git/info/refs", "git-upload-pack", &t), NSH_EINVAL);

	/* what the smart protocol does not use */
	CHECK_INT(parse("GET", "/git/acme/api.git/HEAD", NULL, &t), NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/git/acme/api.git/objects/info/packs", NULL, &t), NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/git/acme/api.git/info/refs/", "git-upload-pack", &t),
		  NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/git/acme", NULL, &t), NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/git/acme/api.git", NULL, &t), NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/gitx/acme/api.git/info/refs", "git-upload-pack", &t),
		  NSH_ENOTFOUND);
	CHECK_INT(parse("GET", "/git/acme/api.git/info/refs", NULL, &t), NSH_EDENIED);
	CHECK_INT(parse("GET", "/git/acme/api.git/info/refs", "git-foo", &t), NSH_EINVAL);
	CHECK_INT(parse("POST", "/git/acme/api.git/info/refs", "git-upload-pack", &t), NSH_EUSAGE);
	CHECK_INT(parse("GET", "/git/acme/api.git/git-upload-pack", NULL, &t), NSH_EUSAGE);
}

/* "Basic " + base64 of @plain. */
static char *basic(const char *plain)
{
	size_t n = strlen(plain);
	size_t max = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(6 + max);

	memcpy(s, "Basic ", 6);
	sodium_bin2base64(s + 6, max, (const unsigned char *)plain, n,
			  sodium_base64_VARIANT_ORIGINAL);
	return s;
}

static void test_credentials(void)
{
	struct nsh_srv_git_cred c;
	char *h;

	h = basic("worker1:s3cret-token");
	CHECK_INT(nsh_srv_git_credentials(h, &c), 0);
	CHECK_STR(c.user, "worker1");
	CHECK_INT(c.secret_len, 12);
	CHECK(!memcmp(c.secret, "s3cret-token", 12));
	free(h);

	/* a password may hold ':'; an odd user name is not passed on */
	h = basic("we ird:a:b");
	CHECK_INT(nsh_srv_git_credentials(h, &c), 0);
	CHECK_STR(c.user, "");
	CHECK_INT(c.secret_len, 3);
	CHECK(!memcmp(c.secret, "a:b", 3));
	free(h);

	h = basic(":tok");
	CHECK_INT(nsh_srv_git_credentials(h, &c), 0);
	CHECK_INT(c.secret_len, 3);
	free(h);

	CHECK_INT(nsh_srv_git_credentials("Bearer  abc  ", &c), 0);
	CHECK_INT(c.secret_len, 3);
	CHECK(!memcmp(c.secret, "abc", 3));
	CHECK_INT(nsh_srv_git_credentials("bearer xyz", &c), 0);

	h = basic("nocolon");
	CHECK_INT(nsh_srv_git_credentials(h, &c), -1);
	free(h);
	CHECK_INT(nsh_srv_git_credentials(NULL, &c), -1);
	CHECK_INT(nsh_srv_git_credentials("Digest x", &c), -1);
	CHECK_INT(nsh_srv_git_credentials("Basic ***", &c), -1);
	{
		char big[NSH_SRV_GIT_AUTH_MAX + 16];

		memset(big, 'A', sizeof(big) - 1);
		memcpy(big, "Basic ", 6);
		big[sizeof(big) - 1] = '\0';
		CHECK_INT(nsh_srv_git_credentials(big, &c), -1);
	}
}

static int cgi(const char *text, struct nsh_srv_cgi_head *h)
{
	struct nsh_err err = NSH_ERR_INIT;

	return nsh_srv_cgi_parse(text, strlen(text), h, &err);
}

static void test_cgi_headers(void)
{
	struct nsh_srv_cgi_head h;
	const char *t;

	t = "Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\nPragma: no-cache\r\n"
	    "Content-Type: application/x-git-upload-pack-advertisement\r\n\r\n001e# service";
	CHECK_INT(cgi(t, &h), 0);
	CHECK_INT(h.status, 200);
	CHECK_INT(h.nheaders, 3);
	CHECK_STR(h.h[2].key, "Content-Type");
	CHECK_STR(h.h[2].value, "application/x-git-upload-pack-advertisement");
	CHECK_STR(t + h.body_at, "001e# service");
	nsh_srv_cgi_head_release(&h);

	/* Status, bare "\n" line ends, framing headers dropped */
	t = "Status: 403 Forbidden\nContent-Length: 5\nTransfer-Encoding: chunked\n"
	    "Content-Type: text/plain\n\nnope\n";
	CHECK_INT(cgi(t, &h), 0);
	CHECK_INT(h.status, 403);
	CHECK_INT(h.nheaders, 1);
	CHECK_STR(h.h[0].value, "text/plain");
	CHECK_STR(t + h.body_at, "nope\n");
	nsh_srv_cgi_head_release(&h);

	CHECK_INT(cgi("Location: /x\n\n", &h), 0);
	CHECK_INT(h.status, 302);
	nsh_srv_cgi_head_release(&h);
	CHECK_INT(cgi("\r\nbody", &h), 0);
	CHECK_INT(h.nheaders, 0);
	CHECK_INT(h.body_at, 2);
	nsh_srv_cgi_head_release(&h);

	/* incomplete: read more */
	CHECK_INT(cgi("Content-Type: text/plain\r\n", &h), 1);
	CHECK_INT(cgi("", &h), 1);

	/* malformed */
	CHECK_INT(cgi("Status: 20\n\n", &h), NSH_EINVAL);
	CHECK_INT(cgi("Status: 700 x\n\n", &h), NSH_EINVAL);
	CHECK_INT(cgi("Status: 200\nStatus: 500\n\n", &h), NSH_EINVAL);
	CHECK_INT(cgi("No colon here\n\n", &h), NSH_EINVAL);
	CHECK_INT(cgi(": empty name\n\n", &h), NSH_EINVAL);
	CHECK_INT(cgi("X-A: one\rSet-Cookie: two\n\n", &h), NSH_EINVAL);
	{
		struct nsh_err err = NSH_ERR_INIT;
		static const char nul[] = "X-A: a\0b\n\n";

		CHECK_INT(nsh_srv_cgi_parse(nul, sizeof(nul) - 1, &h, &err), NSH_EINVAL);
	}
	{
		struct nsh_buf b = NSH_BUF_INIT;

		for (int i = 0; i <= NSH_SRV_CGI_HEADERS; i++)
			nsh_buf_addf(&b, "X-H%d: v\n", i);
		nsh_buf_adds(&b, "\n");
		CHECK_INT(cgi(b.buf, &h), NSH_EINVAL);
		nsh_buf_reset(&b);
		while (b.len < NSH_SRV_CGI_HEAD_MAX)
			nsh_buf_adds(&b, "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
		CHECK_INT(cgi(b.buf, &h), NSH_EINVAL);
		nsh_buf_release(&b);
	}
}

#define OLD40 "0000000000000000000000000000000000000000"
#define A40   "1111111111111111111111111111111111111111"
#define B40   "2222222222222222222222222222222222222222"

/* Append "text" as one pkt-line to @b. */
static void pkt(struct nsh_buf *b, const char *text, size_t n)
{
	nsh_buf_addf(b, "%04zx", n + 4);
	nsh_buf_add(b, text, n);
}

static int push_parse(const struct nsh_buf *b, struct nsh_srv_git_cmds *c)
{
	struct nsh_err err = NSH_ERR_INIT;

	return nsh_srv_git_push_parse(b->buf, b->len, c, &err);
}

static void test_push_commands(void)
{
	static const char first[] = OLD40
		" " A40 " refs/heads/nightshift/t-1/x\0report-status side-band-64k agent=git/2\n";
	struct nsh_srv_git_cmds c;
	struct nsh_buf b = NSH_BUF_INIT;

	/* what git sends: the first update with capabilities, more, a flush, the pack */
	pkt(&b, first, sizeof(first) - 1);
	pkt(&b, OLD40 " " B40 " refs/pull/1/heads/1\n",
	    strlen(OLD40 " " B40 " refs/pull/1/heads/1\n"));
	nsh_buf_adds(&b, "0000PACK....");
	CHECK_INT(push_parse(&b, &c), 0);
	CHECK_INT(c.nr, 2);
	CHECK_STR(c.v[0].old, OLD40);
	CHECK_STR(c.v[0].new, A40);
	CHECK_STR(c.v[0].ref, "refs/heads/nightshift/t-1/x");
	CHECK_STR(c.v[1].ref, "refs/pull/1/heads/1");
	CHECK_STR(c.v[1].new, B40);
	CHECK(c.report_status);
	CHECK_INT(c.side_band, 2);
	nsh_srv_git_cmds_release(&c);

	/* no capabilities: no report asked for */
	nsh_buf_reset(&b);
	pkt(&b, A40 " " B40 " refs/heads/main", strlen(A40 " " B40 " refs/heads/main"));
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), 0);
	CHECK_INT(c.nr, 1);
	CHECK(!c.report_status);
	CHECK_INT(c.side_band, 0);
	CHECK_STR(c.v[0].ref, "refs/heads/main");
	nsh_srv_git_cmds_release(&c);

	/* refused: no flush, nothing, shallow lines, push certificates, bad ids, bad packets */
	nsh_buf_reset(&b);
	pkt(&b, A40 " " B40 " refs/heads/main", strlen(A40 " " B40 " refs/heads/main"));
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "0035shallow " A40 "\n0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	pkt(&b, "push-cert\0report-status\n", sizeof("push-cert\0report-status\n") - 1);
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	pkt(&b, "1111 " B40 " refs/heads/main", strlen("1111 " B40 " refs/heads/main"));
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	pkt(&b, A40 " " B40 " refs/heads/a b", strlen(A40 " " B40 " refs/heads/a b"));
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	pkt(&b, A40 " " B40 " refs/heads/a\tb", strlen(A40 " " B40 " refs/heads/a\tb"));
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "0004");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "zzzz");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "0fff" A40);
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	/* capabilities on a later line */
	nsh_buf_reset(&b);
	pkt(&b, A40 " " B40 " refs/heads/a", strlen(A40 " " B40 " refs/heads/a"));
	pkt(&b, A40 " " B40 " refs/heads/b\0report-status",
	    sizeof(A40 " " B40 " refs/heads/b\0report-status") - 1);
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	/* more updates than taken */
	nsh_buf_reset(&b);
	for (int i = 0; i <= NSH_SRV_GIT_CMDS_MAX; i++)
		pkt(&b, A40 " " B40 " refs/heads/a", strlen(A40 " " B40 " refs/heads/a"));
	nsh_buf_adds(&b, "0000");
	CHECK_INT(push_parse(&b, &c), NSH_EINVAL);
	nsh_buf_release(&b);
}

static void test_push_report(void)
{
	struct nsh_srv_git_cmds c = {0};
	struct nsh_buf out = NSH_BUF_INIT;
	const char *why[2] = {"not yours", NULL};
	static const char plain[] = "000eunpack ok\n"
				    "0021"
				    "ng refs/heads/main not yours\n"
				    "0046"
				    "ng refs/heads/x not updated: another ref of this push was "
				    "refused\n"
				    "0000";

	c.nr = 2;
	c.v[0].ref = (char *)"refs/heads/main";
	c.v[1].ref = (char *)"refs/heads/x";
	nsh_srv_git_push_report(&c, why, &out);
	CHECK_INT(out.len, sizeof(plain) - 1);
	CHECK(!memcmp(out.buf, plain, sizeof(plain) - 1));
	/* side band 1 carries the same bytes in one packet, then a flush */
	c.side_band = 2;
	nsh_srv_git_push_report(&c, why, &out);
	CHECK_INT(out.len, 4 + 1 + sizeof(plain) - 1 + 4);
	CHECK(!memcmp(out.buf, "007e\1", 5));
	CHECK(!memcmp(out.buf + 5, plain, sizeof(plain) - 1));
	CHECK(!memcmp(out.buf + out.len - 4, "0000", 4));
	/* the small side band splits it into packets of at most 1000 bytes */
	c.side_band = 1;
	{
		char *big = nsh_xmalloc(2001);

		memset(big, 'r', 2000);
		big[2000] = '\0';
		why[0] = big;
		nsh_srv_git_push_report(&c, why, &out);
		free(big);
	}
	CHECK(!memcmp(out.buf,
		      "03e8\001"
		      "000eunpack ok",
		      18));
	CHECK(!memcmp(out.buf + 1000, "03e8\1", 5));
	CHECK(out.buf[2004] == 1); /* the rest */
	CHECK(!memcmp(out.buf + out.len - 4, "0000", 4));
	nsh_buf_release(&out);
}

int main(void)
{
	RUN(test_paths);
	RUN(test_credentials);
	RUN(test_cgi_headers);
	RUN(test_push_commands);
	RUN(test_push_report);
	return TEST_DONE();
}
