/*
 * libFuzzer target for config: parse arbitrary bytes as a configuration
 * file; on success read a few settings through every getter.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *section;
	const char *key;
} settings[] = {
	{"llm", "api"}, {"server", "listen"}, {"limits", "tasks"}, {"a", "b"}, {"A", "B.C-d"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg = NULL;

	if (nsh_config_parse((const char *)data, size, "fuzz", &cfg, &err))
		return 0;
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const char *sec = settings[i].section, *key = settings[i].key;
		const char *v = nsh_config_get(cfg, sec, key);
		long long n;
		uint64_t sz;
		int64_t ms;
		bool b;

		if (v && strlen(v) > size)
			abort(); /* a value cannot be longer than the text */
		nsh_config_get_int(cfg, sec, key, 1, &n, &err);
		nsh_config_get_bool(cfg, sec, key, true, &b, &err);
		nsh_config_get_size(cfg, sec, key, 1, &sz, &err);
		nsh_config_get_duration(cfg, sec, key, 1, &ms, &err);
	}
	nsh_config_free(cfg);
	return 0;
}
