/*
 * libFuzzer target for the analyze module's package-lock.json reader
 * (lockfile versions 1, 2 and 3): read arbitrary bytes for the root and
 * for a workspace; versions come out sorted and unique, the packages a
 * dependency comes through sorted and unique.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_unique(const struct nsh_strvec *sv)
{
	for (size_t i = 0; i < sv->nr; i++)
		for (size_t j = i + 1; j < sv->nr; j++)
			if (!strcmp(sv->v[i], sv->v[j]))
				abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefixes[] = {"", "packages/web"};

	for (size_t k = 0; k < 2; k++) {
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_analyze_lock l;

		if (nsh_analyze_read_package_lock((const char *)data, size, "lodash", prefixes[k],
						  &l, &err)) {
			if (!err.msg[0])
				abort();
		} else {
			if (l.version < 1 || l.version > 3)
				abort();
			check_unique(&l.versions);
			check_unique(&l.via);
			for (size_t i = 1; i < l.via.nr; i++)
				if (strcmp(l.via.v[i - 1], l.via.v[i]) > 0)
					abort();
		}
		nsh_analyze_lock_release(&l);
	}
	return 0;
}
