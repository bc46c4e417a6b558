/*
 * The GitHub client's pieces that need no server: the App JWT (verified
 * with the public key of a key pair made by the openssl command), the
 * rate-limit decisions, Link pagination, the ETag cache, the settings, and
 * that no error message ever carries the token.
 */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/proc.h"
#include "forge/github.h"
#include "test.h"

#include "core/banned.h"

/* Decode base64url without padding; NULL on a bad character. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *ret_len)
{
	unsigned char *out = nsh_xmalloc(len * 3 / 4 + 3);
	unsigned int acc = 0;
	int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		const char *tab =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *p = strchr(tab, s[i]);

		if (!p || !s[i]) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*ret_len = n;
	return out;
}

static void test_jwt(void)
{
	char *dir = t_tmpdir();
	char *key = nsh_xasprintf("%s/app.pem", dir), *pub = nsh_xasprintf("%s/app.pub", dir);
	const char *gen[] = {"openssl", "genpkey",  "-algorithm",
			     "RSA",	"-pkeyopt", "rsa_keygen_bits:2048",
			     "-out",	key,	    NULL};
	const char *out[] = {"openssl", "pkey", "-in", key, "-pubout", "-out", pub, NULL};
	struct nsh_buf pem = NSH_BUF_INIT, pubpem = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	char *jwt = NULL, *dot1, *dot2;
	unsigned char *hdr, *payload, *sig;
	size_t hlen = 0, plen = 0, slen = 0;
	json_t *claims = NULL;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *md;
	BIO *bio;

	CHECK_INT(nsh_proc_run_argv(gen, NULL, NULL, &err), 0);
	CHECK_INT(nsh_proc_run_argv(out, NULL, NULL, &err), 0);
	CHECK_INT(nsh_fs_read_file(key, &pem, 1 << 16, &err), 0);
	CHECK_INT(nsh_fs_read_file(pub, &pubpem, 1 << 16, &err), 0);
	CHECK_INT(nsh_github_jwt("4242", pem.buf, pem.len, 1700000000, &jwt, &err), 0);
	if (!jwt)
		goto out;
	dot1 = strchr(jwt, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	CHECK(dot1 && dot2 && !strchr(dot2 + 1, '.') && !strchr(jwt, '='));
	if (!dot2)
		goto out;
	hdr = b64url_decode(jwt, (size_t)(dot1 - jwt), &hlen);
	payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
	sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &slen);
	CHECK(hdr && payload && sig);
	CHECK(hlen == 27 && !memcmp(hdr, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 27));
	CHECK_INT(nsh_json_parse((const char *)payload, plen, &claims, &err), 0);
	CHECK_INT(json_integer_value(json_object_get(claims, "iat")), 1700000000 - 60);
	CHECK_INT(json_integer_value(json_object_get(claims, "exp")), 1700000000 + 540);
	CHECK_INT(json_integer_value(json_object_get(claims, "iss")), 4242);
	CHECK_INT(slen, 256);

	/* the signature verifies with the public key, and fails once the payload changes */
	bio = BIO_new_mem_buf(pubpem.buf, (int)pubpem.len);
	pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CHECK(pk != NULL);
	md = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1);
	CHECK(EVP_DigestVerify(md, sig, slen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) ==
	      1);
	EVP_MD_CTX_free(md);
	dot1[3] ^= 1;
	md = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1);
	CHECK(EVP_DigestVerify(md, sig, slen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) !=
	      1);
	EVP_MD_CTX_free(md);
	free(hdr);
	free(payload);
	free(sig);
	free(jwt);
	jwt = NULL;

	/* a client id (not digits) becomes a string issuer */
	CHECK_INT(nsh_github_jwt("Iv1.abc", pem.buf, pem.len, 1700000000, &jwt, &err), 0);
	free(jwt);
	jwt = NULL;
	/* not a key */
	CHECK_INT(nsh_github_jwt("1", "garbage", 7, 1700000000, &jwt, &err), NSH_EINVAL);
	CHECK(jwt == NULL);
out:
	EVP_PKEY_free(pk);
	json_decref(claims);
	free(jwt);
	nsh_buf_release(&pem);
	nsh_buf_release(&pubpem);
	nsh_fs_remove_tree(dir, NULL);
	free(dir);
	free(key);
	free(pub);
}

static void test_base64url(void)
{
	struct nsh_buf b = NSH_BUF_INIT;

	CHECK_INT(nsh_github_base64url(&b, "\xfb\xff", 2), 0);
	CHECK_STR(b.buf, "-_8");
	nsh_buf_reset(&b);
	CHECK_INT(nsh_github_base64url(&b, "abc", 3), 0);
	CHECK_STR(b.buf, "YWJj");
	nsh_buf_release(&b);
}

static void test_limits(void)
{
	int64_t w = -1;

	/* an ordinary answer, and a 403 that is a permission error */
	CHECK_INT(nsh_github_limit_check(200, NULL, "0", "1700000100", NULL, 1700000000, 0, &w),
		  NSH_GITHUB_NOT_LIMITED);
	CHECK_INT(nsh_github_limit_check(403, NULL, "4999", "1700000100",
					 "{\"message\":"
					 "\"Resource not accessible by integration\"}",
					 1700000000, 0, &w),
		  NSH_GITHUB_NOT_LIMITED);
	CHECK_INT(w, 0);
	/* primary: used up, wait until the reset (and a second) */
	CHECK_INT(nsh_github_limit_check(403, NULL, "0", "1700000100", NULL, 1700000000, 0, &w),
		  NSH_GITHUB_PRIMARY);
	CHECK_INT(w, 101000);
	/* retry-after wins */
	CHECK_INT(nsh_github_limit_check(429, "7", "0", "1700000100", NULL, 1700000000, 0, &w),
		  NSH_GITHUB_PRIMARY);
	CHECK_INT(w, 7000);
	CHECK_INT(nsh_github_limit_check(403, "3", NULL, NULL, NULL, 1700000000, 0, &w),
		  NSH_GITHUB_SECONDARY);
	CHECK_INT(w, 3000);
	/* secondary without retry-after: at least a minute, doubling */
	CHECK_INT(nsh_github_limit_check(403, NULL, "12", NULL,
					 "You have exceeded a secondary rate limit", 1700000000, 0,
					 &w),
		  NSH_GITHUB_SECONDARY);
	CHECK_INT(w, 60000);
	CHECK_INT(nsh_github_limit_check(429, NULL, NULL, NULL, NULL, 1700000000, 2, &w),
		  NSH_GITHUB_SECONDARY);
	CHECK_INT(w, 240000);
	/* nonsense values are bounded */
	CHECK_INT(
		nsh_github_limit_check(403, "99999999999999", NULL, NULL, NULL, 1700000000, 0, &w),
		NSH_GITHUB_SECONDARY);
	CHECK_INT(w, 86400000);
}

static void test_link(void)
{
	char *n;

	n = nsh_github_link_next("<https://api.github.com/orgs/a/repos?page=2>; rel=\"next\", "
				 "<https://api.github.com/orgs/a/repos?page=9>; rel=\"last\"");
	CHECK_STR(n, "https://api.github.com/orgs/a/repos?page=2");
	free(n);
	n = nsh_github_link_next("<https://x/?page=1>; rel=\"prev\", <https://x/?a=1,2&page=3>; "
				 "rel=\"next\"");
	CHECK_STR(n, "https://x/?a=1,2&page=3");
	free(n);
	n = nsh_github_link_next("<https://x/?page=1>; rel=\"prev\", <https://x/?page=3>; "
				 "rel=\"nextish\"");
	CHECK(n == NULL);
	CHECK(nsh_github_link_next("<https://x/?page=9>; rel=\"last\"") == NULL);
	CHECK(nsh_github_link_next("") == NULL);
	CHECK(nsh_github_link_next("<unterminated; rel=\"next\"") == NULL);
}

static void test_cache(void)
{
	struct nsh_github_cache *c = nsh_github_cache_new(2, 10);
	const char *etag, *body;
	size_t len;

	nsh_github_cache_put(c, "/a", "\"1\"", "aaa", 3);
	CHECK(nsh_github_cache_get(c, "/a", &etag, &body, &len));
	CHECK_STR(etag, "\"1\"");
	CHECK(len == 3 && !memcmp(body, "aaa", 3));
	nsh_github_cache_put(c, "/a", "\"2\"", "bb", 2);
	CHECK(nsh_github_cache_get(c, "/a", &etag, &body, &len));
	CHECK_STR(etag, "\"2\"");
	/* a third entry evicts the least recently used */
	nsh_github_cache_put(c, "/b", "\"3\"", "b", 1);
	CHECK(nsh_github_cache_get(c, "/a", &etag, &body, &len));
	nsh_github_cache_put(c, "/c", "\"4\"", "c", 1);
	CHECK(nsh_github_cache_get(c, "/a", &etag, &body, &len));
	CHECK(!nsh_github_cache_get(c, "/b", &etag, &body, &len));
	/* the byte cap: an answer over it is not kept, a large one evicts others */
	nsh_github_cache_put(c, "/big", "\"5\"", "0123456789x", 11);
	CHECK(!nsh_github_cache_get(c, "/big", &etag, &body, &len));
	nsh_github_cache_put(c, "/nine", "\"6\"", "012345678", 9);
	CHECK(nsh_github_cache_get(c, "/nine", &etag, &body, &len));
	CHECK(!nsh_github_cache_get(c, "/a", &etag, &body, &len));
	nsh_github_cache_free(c);
}

static void test_settings(void)
{
	const char both[] = "[github]\ntoken = x\napp_id = 1\n";
	const char app[] = "[github]\napp_id = 1\n";
	const char ok[] = "[github]\napi = https://ghe.example.com/api/v3/\ntoken = t\n"
			  "write_pause = 0\npoll_interval = 30\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg = NULL;
	struct nsh_github_opts o;
	struct nsh_github *gh = NULL;

	CHECK_INT(nsh_config_parse(both, strlen(both), NULL, &cfg, &err), 0);
	CHECK_INT(nsh_github_opts_from_config(cfg, &o, &err), NSH_EINVAL);
	nsh_config_free(cfg);
	CHECK_INT(nsh_config_parse(app, strlen(app), NULL, &cfg, &err), 0);
	CHECK_INT(nsh_github_opts_from_config(cfg, &o, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "private_key") != NULL);
	nsh_config_free(cfg);
	CHECK_INT(nsh_config_parse(ok, strlen(ok), NULL, &cfg, &err), 0);
	CHECK_INT(nsh_github_opts_from_config(cfg, &o, &err), 0);
	CHECK_INT(o.write_pause_ms, 0);
	CHECK_INT(o.poll_interval_s, 30);
	CHECK_INT(nsh_github_new(&o, &gh, &err), 0);
	CHECK_STR(nsh_github_api(gh), "https://ghe.example.com/api/v3");
	nsh_github_free(gh);
	nsh_config_free(cfg);
	o.api = "ftp://x";
	CHECK_INT(nsh_github_new(&o, &gh, &err), NSH_EINVAL);
}

static void test_token_not_in_errors(void)
{
	static const char token[] = "ghp_secret_canary_0123456789";
	struct nsh_github_opts o = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_github *gh = NULL;
	long status = -1;

	o.api = "http://127.0.0.1:1";
	o.token = token;
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 2000;
	CHECK_INT(nsh_github_new(&o, &gh, &err), 0);
	/* nothing listens there: the transport error names the request, not the token */
	CHECK_INT(nsh_github_request(gh, "GET", "/repos/acme/api", NULL, NULL, &status, &err),
		  NSH_EIO);
	CHECK(strstr(err.msg, "GET /repos/acme/api") != NULL);
	CHECK(strstr(err.msg, token) == NULL);
	CHECK_INT(status, 0);
	/* the token is sent only under the base URL */
	CHECK_INT(nsh_github_request(gh, "GET", "https://elsewhere.example/x", NULL, NULL, NULL,
				     &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, token) == NULL);
	CHECK_INT(nsh_github_request(gh, "TRACE", "/x", NULL, NULL, NULL, &err), NSH_EINVAL);
	nsh_github_free(gh);
}

int main(void)
{
	RUN(test_jwt);
	RUN(test_base64url);
	RUN(test_limits);
	RUN(test_link);
	RUN(test_cache);
	RUN(test_settings);
	RUN(test_token_not_in_errors);
	return TEST_DONE();
}
