/*
 * libFuzzer target for the analyze module's TOML subset reader: parse
 * arbitrary bytes; on success walk the tree checking its shape (tables
 * have keyed entries, arrays unkeyed ones, strings carry no NUL) and look
 * up a few paths the manifest readers use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct nsh_analyze_toml *t, size_t size, int depth)
{
	if (depth > 256)
		abort();
	switch (t->type) {
	case NSH_ANALYZE_TOML_STRING:
	case NSH_ANALYZE_TOML_SCALAR:
		if (!t->str || strlen(t->str) > size || t->nr)
			abort();
		break;
	case NSH_ANALYZE_TOML_ARRAY:
	case NSH_ANALYZE_TOML_TABLE:
		for (size_t i = 0; i < t->nr; i++) {
			bool keyed = t->kids[i]->key != NULL;

			if (keyed != (t->type == NSH_ANALYZE_TOML_TABLE))
				abort();
			walk(t->kids[i], size, depth + 1);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_toml *t = NULL;

	if (nsh_analyze_toml_parse((const char *)data, size, &t, &err)) {
		if (!err.msg[0])
			abort(); /* every failure says why */
		return 0;
	}
	if (t->type != NSH_ANALYZE_TOML_TABLE)
		abort();
	walk(t, size, 0);
	nsh_analyze_toml_path(t, "project", "dependencies", NULL);
	nsh_analyze_toml_path(t, "tool", "poetry", "group", NULL);
	nsh_analyze_toml_path(t, "target", "cfg(unix)", "dependencies", NULL);
	nsh_analyze_toml_free(t);
	return 0;
}
