/*
 * The webhook signature: HMAC-SHA256 of the raw body under the shared
 * secret, sent as "X-Hub-Signature-256: sha256=<hex>". libsodium computes
 * it (the multi-part interface, which takes keys of any length) and
 * compares it in constant time.
 */
#include "github/github.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

#define PREFIX	   "sha256="
#define PREFIX_LEN (sizeof(PREFIX) - 1)

static void mac(const char *secret, const void *body, size_t len,
		unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	/* Idempotent and thread-safe; it only picks implementations, so its result can wait. */
	int init = sodium_init();

	(void)init;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

void nsh_github_signature(const char *secret, const void *body, size_t len,
			  char out[NSH_GITHUB_SIGNATURE_LEN + 1])
{
	unsigned char m[crypto_auth_hmacsha256_BYTES];

	mac(secret, body, len, m);
	memcpy(out, PREFIX, PREFIX_LEN);
	sodium_bin2hex(out + PREFIX_LEN, 2 * sizeof(m) + 1, m, sizeof(m));
}

bool nsh_github_signature_valid(const char *secret, const void *body, size_t len,
				const char *header)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
	size_t n = 0;
	bool ok;

	if (!secret || !*secret || !header)
		return false;
	if (strncasecmp(header, PREFIX, PREFIX_LEN) || strlen(header) != NSH_GITHUB_SIGNATURE_LEN)
		return false;
	/* The length is public; the digits are compared without early exit. */
	if (sodium_hex2bin(got, sizeof(got), header + PREFIX_LEN, 2 * sizeof(got), NULL, &n,
			   NULL) ||
	    n != sizeof(got))
		return false;
	mac(secret, body, len, want);
	ok = sodium_memcmp(want, got, sizeof(want)) == 0;
	sodium_memzero(want, sizeof(want));
	return ok;
}
