/*
 * libFuzzer target for the memory module's poisoning guard: review
 * comments are untrusted input. Any bytes (a NUL ends the comment) must
 * give 0 or 1, a reason exactly when 1, and the same answer twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "memory/memory.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = nsh_xmemdup(data, size);
	char *reason = NULL, *again = NULL;
	int got = nsh_memory_guard(text, &reason);

	if (got != 0 && got != 1)
		abort();
	if ((got == 1) != (reason != NULL))
		abort();
	if (reason && strncmp(reason, "asks to ", 8) != 0)
		abort();
	if (nsh_memory_guard(text, &again) != got || (reason && strcmp(reason, again)))
		abort();
	free(again);
	free(reason);
	free(text);
	return 0;
}
