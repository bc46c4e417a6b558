/*
 * libFuzzer target for the recipe loader: parse arbitrary bytes as a
 * recipe file; on success serialise it, resolve its default choices and
 * apply it to a small fixed text as a JavaScript and as a Python file.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "recipe/recipe.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sample[] = "var _ = require('lodash');\n"
			     "_.pluck(_.pluck(a, 'b'), \"c\"); // _.contains(x)\n"
			     "if (_.contains(list, x)) { f(`t ${_.first(y)}`, /re/g); }\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"src/a.js", "b.py", "notes.txt"};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = NULL;
	struct nsh_recipe_options o = {0};
	json_t *j;

	if (nsh_recipe_parse((const char *)data, size, "fuzz.yml", NULL, &r, &err)) {
		if (!err.msg[0])
			abort(); /* every failure says why */
		return 0;
	}
	j = nsh_recipe_to_json(r);
	if (!j)
		abort();
	json_decref(j);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct nsh_recipe_result res = {0};
		char *out = NULL;
		size_t len = 0;

		if (!nsh_recipe_apply_text(r, paths[i], sample, sizeof(sample) - 1, &o, &res, &out,
					   &len, &err)) {
			if (strlen(out) != len)
				abort();
			j = nsh_recipe_result_to_json(r, &res);
			json_decref(j);
		}
		free(out);
		nsh_recipe_result_release(&res);
	}
	nsh_recipe_free(r);
	return 0;
}
