/*
 * Tests for what git's smart HTTP service parses (src/server/git_cgi.c):
 * the /git/ paths a git client asks for and the ones that must not pass,
 * Basic and Bearer credentials, and the CGI headers of git http-backend.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	RUN(test_paths);
	RUN(test_credentials);
	RUN(test_cgi_headers);
	return TEST_DONE();
}
