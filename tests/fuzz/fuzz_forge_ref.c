/*
 * libFuzzer target for the forge's names and references (src/forge/ref.c):
 * "O/R#N" and "O/R" parsing, org, repository and branch names, the text
 * checks and the language table, all fed from command lines and API
 * requests. Whatever parses must be valid by the other checks and must
 * print back to text that parses to the same reference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/err.h"
#include "forge/forge.h"
#include "forge/forge_int.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge_ref r, again;
	char *s = nsh_xmemdup(data, size);
	char *text;

	if (!nsh_forge_ref_parse_pr(s, &r, &err)) {
		if (!nsh_forge_name_valid(r.org) || !nsh_forge_name_valid(r.repo) || r.number < 1 ||
		    r.number > INT32_MAX)
			abort();
		text = nsh_xasprintf("%s/%s#%lld", r.org, r.repo, (long long)r.number);
		if (nsh_forge_ref_parse_pr(text, &again, &err) || strcmp(r.org, again.org) ||
		    strcmp(r.repo, again.repo) || r.number != again.number)
			abort();
		free(text);
	}
	if (!nsh_forge_ref_parse_repo(s, &r, &err)) {
		if (!nsh_forge_name_valid(r.org) || !nsh_forge_name_valid(r.repo) || r.number)
			abort();
		text = nsh_xasprintf("%s/%s", r.org, r.repo);
		if (strcmp(text, s))
			abort();
		free(text);
	}
	if (nsh_forge_name_valid(s) != !nsh_forge_check_name("org", s, &err))
		abort();
	if (nsh_forge_branch_valid(s)) {
		if (s[0] == '-' || strstr(s, "..") || strlen(s) > NSH_FORGE_BRANCH_MAX ||
		    nsh_forge_check_branch(s, &err))
			abort();
	}
	/* text that passes is UTF-8 that JSON can carry */
	if (!nsh_forge_check_text("body", s, 4096, false, true, &err)) {
		json_t *j = json_string(s);

		if (!j)
			abort();
		json_decref(j);
	}
	nsh_forge_lang_of(s);
	free(s);
	return 0;
}
