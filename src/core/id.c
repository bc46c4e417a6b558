#include "core/id.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "core/err.h"

#include "core/banned.h"

/* Collisions in a row at one width before the id gets two digits longer. */
#define TRIES_PER_WIDTH 8

static bool prefix_ok(const char *p, size_t len)
{
	if (!len || len > NSH_ID_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 'a' || p[i] > 'z')
			return false;
	return true;
}

/* Fill @p with @n random bytes. */
static int random_bytes(uint8_t *p, size_t n, struct nsh_err *err)
{
	while (n) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return nsh_err_sys(err, errno, "cannot get random bytes for an id");
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int nsh_id_new(const char *prefix, nsh_id_exists_fn *exists, void *ctx, char out[NSH_ID_MAX],
	       struct nsh_err *err)
{
	static const char hex[] = "0123456789abcdef";
	size_t plen = prefix ? strlen(prefix) : 0;
	char id[NSH_ID_MAX];
	int rc;

	if (!prefix_ok(prefix, plen))
		return nsh_err_set(err, NSH_EINVAL, "invalid id prefix '%s'", prefix ? prefix : "");
	memcpy(id, prefix, plen);
	id[plen] = '-';
	for (int width = NSH_ID_HEX_MIN; width <= NSH_ID_HEX_MAX; width += 2) {
		for (int try = 0; try < TRIES_PER_WIDTH; try++) {
			uint8_t rnd[NSH_ID_HEX_MAX / 2];
			char *p = id + plen + 1;

			rc = random_bytes(rnd, (size_t)width / 2, err);
			if (rc)
				return rc;
			for (int i = 0; i < width / 2; i++) {
				*p++ = hex[rnd[i] >> 4];
				*p++ = hex[rnd[i] & 15];
			}
			*p = '\0';
			if (!exists || !exists(id, ctx)) {
				memcpy(out, id, (size_t)(p - id) + 1);
				return 0;
			}
		}
	}
	return nsh_err_set(err, NSH_EEXIST, "cannot find a free id with prefix '%s'", prefix);
}

bool nsh_id_valid(const char *prefix, const char *id)
{
	const char *dash, *p;
	size_t n;

	if (!id)
		return false;
	dash = strchr(id, '-');
	if (!dash || !prefix_ok(id, (size_t)(dash - id)))
		return false;
	if (prefix && (strlen(prefix) != (size_t)(dash - id) || memcmp(id, prefix, strlen(prefix))))
		return false;
	for (p = dash + 1; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
		;
	n = (size_t)(p - dash - 1);
	return !*p && n >= NSH_ID_HEX_MIN && n <= NSH_ID_HEX_MAX;
}
