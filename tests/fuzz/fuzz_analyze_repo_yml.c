/*
 * libFuzzer target for the analyze module's .nightshift/repo.yml reader:
 * a critical repository always says where the mark comes from.
 */
#include <stdint.h>
#include <stdlib.h>

#include "analyze/analyze_int.h"
#include "core/err.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *source = NULL;
	bool critical = false;

	if (nsh_analyze_read_repo_yml((const char *)data, size, &critical, &source, &err)) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	if (critical != (source != NULL))
		abort();
	free(source);
	return 0;
}
