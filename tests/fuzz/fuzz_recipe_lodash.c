/*
 * libFuzzer target for the lodash 3 to 4 recipe as a whole
 * (recipes/lodash-3-to-4.yml, loaded once from $NSH_TOP or the current
 * directory): every template, constraint and binding of it, including the
 * reading of import lists for members imported by name, on arbitrary
 * JavaScript or TypeScript. The first byte picks the file type and the
 * choices. Checks that a run never fails, that positions and lines stay
 * inside the texts, and that the needs-review items name lines of the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "recipe/recipe.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nsh_recipe *recipe;

static unsigned lines_of(const char *t, size_t n)
{
	unsigned l = 1;

	for (size_t i = 0; i < n; i++)
		l += t[i] == '\n';
	return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct nsh_recipe_pick picks[] = {
		{"extend-style", "assign"},
		{"contains-style", "native"},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_options o = {0};
	struct nsh_recipe_result res = {0};
	const char *text;
	char *out = NULL;
	size_t len, olen = 0;
	unsigned nin, nout;

	if (!recipe) {
		const char *top = getenv("NSH_TOP");
		char *path = nsh_xasprintf("%s/recipes/lodash-3-to-4.yml", top ? top : ".");

		if (nsh_recipe_load(path, "shipped", &recipe, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			abort();
		}
		free(path);
	}
	if (size < 1)
		return 0;
	o.picks = picks;
	o.npicks = (data[0] >> 1) % 3;
	text = (const char *)data + 1;
	len = size - 1;
	if (nsh_recipe_apply_text(recipe, data[0] & 1 ? "f.ts" : "f.js", text, len, &o, &res, &out,
				  &olen, &err))
		abort();
	nin = lines_of(text, len);
	nout = lines_of(out, olen);
	for (size_t i = 0; i < res.nchanges; i++)
		if (res.changes[i].line < 1 || res.changes[i].line > nin ||
		    res.changes[i].new_line < 1 || res.changes[i].new_line > nout)
			abort();
	for (size_t i = 0; i < res.nreviews; i++)
		if (res.reviews[i].line < 1 || res.reviews[i].line > nin)
			abort();
	if (!res.nchanges && (olen != len || memcmp(out, text, len)))
		abort(); /* no change reported, none made */
	nsh_recipe_result_release(&res);
	free(out);
	return 0;
}
