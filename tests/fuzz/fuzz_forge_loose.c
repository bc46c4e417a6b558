/*
 * libFuzzer target for the check of loose objects that a push copies into
 * the forge (src/forge/loose.c): the input is taken both as a loose file
 * (any bytes, under a fixed name: must not crash, and must be refused
 * unless it hashes to that name) and as an object's inflated contents,
 * deflated and named by its own SHA-1 here: then it must be accepted
 * exactly when it starts with a valid "TYPE SIZE\0" header whose SIZE is
 * the rest, and refused under any other name. Both are also read for a
 * commit's first parent: what is found must be in the contents, after
 * "commit " and a "parent " line's start.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "core/alloc.h"
#include "forge/forge_int.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does @p (@n bytes) start with "TYPE SIZE\0" and have exactly SIZE bytes after it? */
static bool well_formed(const uint8_t *p, size_t n)
{
	static const char *const types[] = {"blob ", "tree ", "commit ", "tag "};
	const uint8_t *nul = memchr(p, '\0', n < 63 ? n : 63);
	unsigned long long want = 0;
	size_t t, at = 0;

	if (!nul)
		return false;
	for (t = 0; t < 4; t++)
		if (!strncmp((const char *)p, types[t], strlen(types[t])))
			break;
	if (t == 4)
		return false;
	at = strlen(types[t]);
	if (p + at == nul || (p[at] == '0' && p + at + 1 != nul))
		return false;
	for (const uint8_t *q = p + at; q < nul; q++) {
		if (*q < '0' || *q > '9' || want > (ULLONG_MAX - 9) / 10)
			return false;
		want = want * 10 + (unsigned)(*q - '0');
	}
	return want == n - (size_t)(nul + 1 - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char fixed[] = "0123456789abcdef0123456789abcdef01234567";
	unsigned char digest[EVP_MAX_MD_SIZE];
	char name[2 * EVP_MAX_MD_SIZE + 1], parent[NSH_FORGE_SHA_MAX + 1];
	unsigned int dlen = 0;
	uLongf zlen = compressBound((uLong)size);
	unsigned char *z = nsh_xmalloc(zlen ? zlen : 1);

	if (nsh_forge_loose_check(data, size, fixed))
		abort(); /* a chance of one in 2^160 */
	if (compress(z, &zlen, data, (uLong)size) != Z_OK ||
	    !EVP_Digest(data, size, digest, &dlen, EVP_sha1(), NULL))
		abort();
	for (unsigned int k = 0; k < dlen; k++)
		snprintf(name + 2 * k, 3, "%02x", digest[k]);
	if (nsh_forge_loose_check(z, zlen, name) != well_formed(data, size))
		abort();
	if (nsh_forge_loose_check(z, zlen, fixed))
		abort();
	if (zlen > 1 && nsh_forge_loose_check(z, zlen - 1, name))
		abort(); /* truncated */
	(void)nsh_forge_loose_parent_of(data, size, 40, parent);
	if (nsh_forge_loose_parent_of(z, zlen, size % 2 ? 64 : 40, parent)) {
		char *line = nsh_xasprintf("\nparent %s\n", parent);

		if (size < 7 || memcmp(data, "commit ", 7) ||
		    !memmem(data, size, line, strlen(line)))
			abort();
		free(line);
	}
	free(z);
	return 0;
}
