/*
 * libFuzzer target for verify's parsers of tool output, which the
 * repository's own code writes and so is untrusted. The first byte picks
 * the parser (a test format, a findings format or a coverage format); the
 * rest is the text. Checks: no crash or leak (sanitizers); the counts of a
 * report add up to its tests and every name and message fits its cap; the
 * JSON forms are valid and a report survives its JSON round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "verify/verify.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum nsh_verify_format tests[] = {
	NSH_VERIFY_FMT_AUTO,	   NSH_VERIFY_FMT_TAP,	     NSH_VERIFY_FMT_MOCHA_JSON,
	NSH_VERIFY_FMT_MOCHA_SPEC, NSH_VERIFY_FMT_JEST_JSON, NSH_VERIFY_FMT_JUNIT_XML,
	NSH_VERIFY_FMT_GO_JSON,	   NSH_VERIFY_FMT_CARGO,
};

static const enum nsh_verify_format findings[] = {
	NSH_VERIFY_FMT_ESLINT_JSON, NSH_VERIFY_FMT_ESLINT_TEXT, NSH_VERIFY_FMT_TSC,
	NSH_VERIFY_FMT_LINES,	    NSH_VERIFY_FMT_MYPY,	NSH_VERIFY_FMT_RUSTC,
	NSH_VERIFY_FMT_AUTO,
};

static const enum nsh_verify_cov_format covs[] = {NSH_VERIFY_COV_ISTANBUL, NSH_VERIFY_COV_LCOV,
						  NSH_VERIFY_COV_PY_JSON, NSH_VERIFY_COV_GO};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check_report(const struct nsh_test_report *r)
{
	struct nsh_test_report back = {0};
	json_t *j;

	if ((size_t)(r->passed + r->failed + r->skipped) != r->nr)
		abort();
	for (size_t i = 0; i < r->nr; i++)
		if (!r->v[i].name || strlen(r->v[i].name) > NSH_VERIFY_NAME_MAX ||
		    (r->v[i].message && strlen(r->v[i].message) > NSH_VERIFY_MESSAGE_MAX) ||
		    r->v[i].line < 0)
			abort();
	j = nsh_test_report_to_json(r);
	if (!j)
		abort();
	json_decref(j);
	j = nsh_test_report_to_json_full(r);
	if (!j || nsh_test_report_from_json(j, &back, NULL) || back.nr != r->nr ||
	    back.failed != r->failed)
		abort();
	json_decref(j);
	nsh_test_report_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	unsigned pick;

	if (!size)
		return 0;
	pick = data[0] % (N(tests) + N(findings) + N(covs));
	if (pick < N(tests)) {
		struct nsh_test_report r = {0};
		struct nsh_verify_parse_ctx ctx = {.go_module = "example.com/m"};

		nsh_verify_parse_tests(tests[pick], text, len, &ctx, &r);
		check_report(&r);
		nsh_test_report_release(&r);
		(void)nsh_verify_sniff(text, len);
	} else if ((pick -= N(tests)) < N(findings)) {
		struct nsh_verify_findings f = {0};

		nsh_verify_parse_findings(findings[pick], text, len, NSH_VERIFY_KIND_LINT, &f);
		for (size_t i = 0; i < f.nr; i++) {
			json_t *j = nsh_verify_finding_to_json(&f.v[i]);

			if (!j || !f.v[i].message || f.v[i].line < 0)
				abort();
			json_decref(j);
		}
		nsh_verify_findings_release(&f);
	} else {
		struct nsh_verify_coverage c = {0};

		pick -= N(findings);
		if (!nsh_verify_coverage_parse(covs[pick], text, len, &c, NULL) &&
		    (!c.present || c.covered < 0 || c.total < 0))
			abort();
		nsh_verify_coverage_release(&c);
	}
	return 0;
}
