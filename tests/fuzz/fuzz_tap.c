/*
 * libFuzzer target for the TAP parser: test output is written by the
 * repository's own code, so it is untrusted. Checks: no crash or leak
 * (sanitizers); the counts add up to the tests kept; every name fits its
 * cap; the JSON forms of the report and of a comparison are valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_test_report r = {0};
	struct nsh_test_diff d = {NSH_STRVEC_INIT, NSH_STRVEC_INIT, NSH_STRVEC_INIT,
				  NSH_STRVEC_INIT};
	json_t *j;

	nsh_verify_parse_tap((const char *)data, size, &r);
	if ((size_t)(r.passed + r.failed + r.skipped) != r.nr)
		abort();
	for (size_t i = 0; i < r.nr; i++)
		if (!r.v[i].name || strlen(r.v[i].name) > NSH_VERIFY_NAME_MAX ||
		    (r.v[i].message && strlen(r.v[i].message) > NSH_VERIFY_MESSAGE_MAX))
			abort();
	j = nsh_test_report_to_json(&r);
	if (!j)
		abort();
	json_decref(j);
	nsh_verify_compare(&r, &r, &d);
	if (d.newly_failing.nr || d.fixed.nr || d.missing.nr)
		abort();
	j = nsh_test_diff_to_json(&d);
	if (!j)
		abort();
	json_decref(j);
	nsh_test_diff_release(&d);
	nsh_test_report_release(&r);
	return 0;
}
