/*
 * libFuzzer target for what the GitHub client parses from answers
 * (src/forge/github_http.c): the Link header (pagination) and the
 * rate-limit headers. The input is split at the first two newlines into a
 * Link value, then retry-after / x-ratelimit-remaining / x-ratelimit-reset
 * separated by spaces, then a body. A next URL must be a substring of the
 * Link value; a wait is never negative.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "forge/github.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = nsh_xmemdup(data, size), *save = NULL;
	char *link = s, *limits, *body = NULL, *next;
	const char *ra, *rem, *reset;
	int64_t wait = 0;

	limits = strchr(s, '\n');
	if (limits) {
		*limits++ = '\0';
		body = strchr(limits, '\n');
		if (body)
			*body++ = '\0';
	}
	next = nsh_github_link_next(link);
	if (next && !strstr(link, next))
		abort();
	free(next);
	ra = limits ? strtok_r(limits, " ", &save) : NULL;
	rem = ra ? strtok_r(NULL, " ", &save) : NULL;
	reset = rem ? strtok_r(NULL, " ", &save) : NULL;
	for (long status = 403; status <= 429; status += 26) {
		enum nsh_github_limit l = nsh_github_limit_check(
			status, ra, rem, reset, body, 1700000000, (int)(size % 9), &wait);

		if (wait < 0 || (l == NSH_GITHUB_NOT_LIMITED && wait))
			abort();
	}
	free(s);
	return 0;
}
