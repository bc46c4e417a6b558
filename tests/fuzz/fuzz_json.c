/*
 * libFuzzer target for core/json: parse arbitrary bytes with the default
 * limits; on success run the getters over a few fixed paths, serialise the
 * tree and check that the serialisation parses back to an equal tree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
	"",
	"a",
	"a.b",
	"[0]",
	"[0][1]",
	"choices[0].message.content",
	"usage.prompt_tokens",
	"x[2].y",
	"a..b",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b;
	json_t *v = NULL, *again = NULL;
	char *s;

	if (nsh_json_parse((const char *)data, size, &v, &err))
		return 0;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *str;
		json_int_t n;
		double d;
		bool flag;
		json_t *j;

		nsh_json_get_str(v, paths[i], &str, &err);
		nsh_json_get_int(v, paths[i], &n, &err);
		nsh_json_get_num(v, paths[i], &d, &err);
		nsh_json_get_bool(v, paths[i], &flag, &err);
		nsh_json_get_obj(v, paths[i], &j, &err);
		nsh_json_get_arr(v, paths[i], &j, &err);
		nsh_json_opt_str(v, paths[i], "def", &str, &err);
		nsh_json_opt_int(v, paths[i], 1, &n, &err);
		nsh_json_opt_num(v, paths[i], 1.0, &d, &err);
		nsh_json_opt_bool(v, paths[i], true, &flag, &err);
	}

	/* a dump must parse back to an equal tree */
	s = nsh_json_dump(v);
	if (!s)
		abort();
	if (nsh_json_parse(s, strlen(s), &again, &err) || !json_equal(v, again))
		abort();
	/* and a capped buffer either takes all of it or none */
	nsh_buf_init(&b, size / 2);
	if (nsh_json_buf_add(&b, v) == 0 ? strcmp(b.buf, s) != 0 : b.len != 0)
		abort();
	nsh_buf_release(&b);
	free(s);
	json_decref(again);
	json_decref(v);
	return 0;
}
