/*
 * GitHub App authentication: an RS256 JSON Web Token signed with the app's
 * private key through OpenSSL's EVP interface, exchanged at
 * POST /app/installations/{id}/access_tokens for an installation token
 * that is kept until NSH_GITHUB_TOKEN_MARGIN_S before it expires.
 */
#include "forge/github.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "forge/github_int.h"

#include "core/banned.h"

/* Largest private key file read. */
#define KEY_MAX ((size_t)64 << 10)

#define JWT_HEADER "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"

int nsh_github_base64url(struct nsh_buf *out, const void *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *s = p;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i + 2 < len; i += 3) {
		char q[4] = {tab[s[i] >> 2], tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
			     tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)], tab[s[i + 2] & 63]};

		rc = nsh_buf_add(out, q, 4);
	}
	if (!rc && len - i == 1) {
		char q[2] = {tab[s[i] >> 2], tab[(s[i] & 3) << 4]};

		rc = nsh_buf_add(out, q, 2);
	} else if (!rc && len - i == 2) {
		char q[3] = {tab[s[i] >> 2], tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
			     tab[(s[i + 1] & 15) << 2]};

		rc = nsh_buf_add(out, q, 3);
	}
	return rc;
}

/* Whether @s is all decimal digits (and not empty). */
static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int nsh_github_jwt(const char *app_id, const char *pem, size_t pem_len, int64_t now_s, char **ret,
		   struct nsh_err *err)
{
	struct nsh_buf jwt = NSH_BUF_INIT;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	json_t *claims;
	char *payload = NULL;
	BIO *bio;
	int rc = 0;

	if (!app_id || !*app_id)
		return nsh_err_set(err, NSH_EINVAL, "missing github app id");
	if (pem_len > KEY_MAX || pem_len > INT32_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "private key larger than %zu bytes", KEY_MAX);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	if (bio)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "the github app's private key is not an RSA key "
				 "in PEM form");
		goto out;
	}
	claims =
		all_digits(app_id)
			? json_pack("{s:I, s:I, s:I}", "iat", (json_int_t)(now_s - 60), "exp",
				    (json_int_t)(now_s + NSH_GITHUB_JWT_LIFETIME_S), "iss",
				    (json_int_t)strtoll(app_id, NULL, 10))
			: json_pack("{s:I, s:I, s:s}", "iat", (json_int_t)(now_s - 60), "exp",
				    (json_int_t)(now_s + NSH_GITHUB_JWT_LIFETIME_S), "iss", app_id);
	payload = nsh_json_dump(claims);
	json_decref(claims);
	nsh_github_base64url(&jwt, JWT_HEADER, strlen(JWT_HEADER));
	nsh_buf_addch(&jwt, '.');
	nsh_github_base64url(&jwt, payload, strlen(payload));
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)jwt.buf, jwt.len) != 1) {
		rc = nsh_err_set(err, NSH_EIO, "cannot sign the github app token");
		goto out;
	}
	sig = nsh_xmalloc(sig_len);
	if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)jwt.buf, jwt.len) != 1) {
		rc = nsh_err_set(err, NSH_EIO, "cannot sign the github app token");
		goto out;
	}
	nsh_buf_addch(&jwt, '.');
	nsh_github_base64url(&jwt, sig, sig_len);
	*ret = nsh_buf_detach(&jwt, NULL);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	free(sig);
	free(payload);
	nsh_buf_release(&jwt);
	return rc;
}

void nsh_github_app_token_drop(struct nsh_github *gh)
{
	if (gh->inst_token) {
		explicit_bzero(gh->inst_token, strlen(gh->inst_token));
		free(gh->inst_token);
	}
	gh->inst_token = NULL;
	gh->inst_expires_s = 0;
}

int nsh_github_app_token(struct nsh_github *gh, const char **ret, struct nsh_err *err)
{
	struct nsh_buf pem = NSH_BUF_INIT;
	int64_t now_s = nsh_time_now_ms() / 1000, exp_ms = 0;
	const char *token = NULL, *expires = NULL;
	char *jwt = NULL, *auth = NULL, *path = NULL;
	json_t *v = NULL;
	int rc;

	if (gh->inst_token && now_s < gh->inst_expires_s - NSH_GITHUB_TOKEN_MARGIN_S) {
		*ret = gh->inst_token;
		return 0;
	}
	if (!gh->app_id || !gh->key_path)
		return nsh_err_set(err, NSH_EINVAL, "no github token and no github app configured");
	rc = nsh_fs_read_file(gh->key_path, &pem, KEY_MAX, err);
	if (rc) {
		nsh_err_wrap(err, "reading the github app's private key");
		goto out;
	}
	rc = nsh_github_jwt(gh->app_id, pem.buf, pem.len, now_s, &jwt, err);
	if (rc)
		goto out;
	auth = nsh_xasprintf("Bearer %s", jwt);
	path = nsh_xasprintf("/app/installations/%lld/access_tokens",
			     (long long)gh->o.installation_id);
	rc = nsh_github_request_auth(gh, "POST", path, auth, &v, err);
	if (rc)
		goto out;
	if (nsh_json_get_str(v, "token", &token, err) ||
	    nsh_json_get_str(v, "expires_at", &expires, err) ||
	    nsh_time_parse_iso8601(expires, &exp_ms, err)) {
		rc = nsh_err_wrap(err, "POST %s: unexpected answer", path);
		goto out;
	}
	nsh_github_app_token_drop(gh);
	gh->inst_token = nsh_xstrdup(token);
	gh->inst_expires_s = exp_ms / 1000;
	*ret = gh->inst_token;
out:
	if (pem.len)
		explicit_bzero(pem.buf, pem.len);
	nsh_buf_release(&pem);
	if (auth)
		explicit_bzero(auth, strlen(auth));
	free(auth);
	free(jwt);
	free(path);
	json_decref(v);
	return rc;
}
