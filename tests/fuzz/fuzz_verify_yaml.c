/*
 * libFuzzer target for what verify reads from a checkout's own files:
 * devfile.yaml and .nightshift/verify.yml (YAML through libyaml into JSON,
 * then the settings) and acceptance criteria (JSON). Checks: no crash or
 * leak (sanitizers); alias bombs and deep nesting end in an error within
 * the limits; whatever loads has a JSON serialisation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "verify/verify_int.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = NULL;
	struct nsh_verify_criteria c;

	if (!nsh_vrf_yaml_load((const char *)data, size, &j, NULL)) {
		struct nsh_verify_config cfg = {0};
		char *s = nsh_json_dump(j);

		if (!s)
			abort();
		free(s);
		nsh_strvec_init(&cfg.skip);
		if (json_is_object(j))
			(void)nsh_vrf_config_read(j, &cfg, NULL);
		nsh_vrf_config_release(&cfg);
		if (json_is_array(j) && !nsh_verify_criteria_parse(j, &c, NULL))
			nsh_verify_criteria_release(&c);
		json_decref(j);
	}
	j = NULL;
	if (!nsh_json_parse((const char *)data, size, &j, NULL)) {
		if (!nsh_verify_criteria_parse(j, &c, NULL))
			nsh_verify_criteria_release(&c);
		json_decref(j);
	}
	return 0;
}
