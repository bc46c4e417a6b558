/*
 * libFuzzer target for the analyze module's pyproject.toml reader: read
 * arbitrary bytes looking for a few dependency names; every declaration
 * found has a name and a kind, and every failure says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const deps[] = {"lodash", "requests", "serde", "guava", "github.com/pkg/errors"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	for (size_t k = 0; k < sizeof(deps) / sizeof(deps[0]); k++) {
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_analyze_decls d;

		nsh_analyze_decls_init(&d);
		if (nsh_analyze_read_pyproject(text, size, deps[k], &d, &err) && !err.msg[0])
			abort();
		for (size_t i = 0; i < d.nr; i++)
			if (!d.v[i].name || !d.v[i].kind || d.v[i].line < 0)
				abort();
		nsh_analyze_decls_release(&d);
	}
	return 0;
}
