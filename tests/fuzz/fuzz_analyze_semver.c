/*
 * libFuzzer target for the analyze module's npm semver code: the input is
 * "VERSION\nRANGE". Versions must compare equal to themselves; a range's
 * lowest version, when there is one, must satisfy the range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "core/alloc.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = nsh_xmemdup(data, size), *range;
	struct nsh_analyze_range *r = NULL;
	struct nsh_analyze_version v, min;
	bool have_v;

	if (strlen(s) != size) {
		free(s);
		return 0; /* C strings only */
	}
	range = strchr(s, '\n');
	if (range)
		*range++ = '\0';
	have_v = nsh_analyze_version_parse(s, &v);
	if (have_v && nsh_analyze_version_cmp(&v, &v) != 0)
		abort();
	if (range && !nsh_analyze_range_parse(range, &r, NULL)) {
		if (have_v)
			nsh_analyze_range_match(r, &v);
		if (nsh_analyze_range_min(r, &min) && !nsh_analyze_range_match(r, &min))
			abort();
		nsh_analyze_range_free(r);
		if (have_v && nsh_analyze_satisfies(s, range) < 0)
			abort();
	}
	free(s);
	return 0;
}
