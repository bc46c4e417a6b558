/*
 * Output formats: their names, recognising one from the text, and the
 * dispatch to each parser.
 */
#include "verify/verify_int.h"

#include <string.h>

#include "core/banned.h"

static const char *const names[] = {
	[NSH_VERIFY_FMT_AUTO] = "auto",
	[NSH_VERIFY_FMT_EXIT] = "exit",
	[NSH_VERIFY_FMT_TAP] = "tap",
	[NSH_VERIFY_FMT_MOCHA_JSON] = "mocha-json",
	[NSH_VERIFY_FMT_MOCHA_SPEC] = "mocha-spec",
	[NSH_VERIFY_FMT_JEST_JSON] = "jest-json",
	[NSH_VERIFY_FMT_JUNIT_XML] = "junit-xml",
	[NSH_VERIFY_FMT_GO_JSON] = "go-json",
	[NSH_VERIFY_FMT_CARGO] = "cargo",
	[NSH_VERIFY_FMT_ESLINT_JSON] = "eslint-json",
	[NSH_VERIFY_FMT_ESLINT_TEXT] = "eslint-text",
	[NSH_VERIFY_FMT_TSC] = "tsc",
	[NSH_VERIFY_FMT_LINES] = "lines",
	[NSH_VERIFY_FMT_MYPY] = "mypy",
	[NSH_VERIFY_FMT_RUSTC] = "rustc",
};

#define NFORMATS (sizeof(names) / sizeof(names[0]))

const char *nsh_verify_format_name(enum nsh_verify_format f)
{
	return (unsigned)f < NFORMATS ? names[f] : "?";
}

bool nsh_verify_format_parse(const char *s, enum nsh_verify_format *ret)
{
	for (unsigned k = 0; k < NFORMATS; k++) {
		if (!strcmp(s, names[k])) {
			*ret = (enum nsh_verify_format)k;
			return true;
		}
	}
	return false;
}

bool nsh_verify_format_is_tests(enum nsh_verify_format f)
{
	switch (f) {
	case NSH_VERIFY_FMT_AUTO:
	case NSH_VERIFY_FMT_EXIT:
	case NSH_VERIFY_FMT_TAP:
	case NSH_VERIFY_FMT_MOCHA_JSON:
	case NSH_VERIFY_FMT_MOCHA_SPEC:
	case NSH_VERIFY_FMT_JEST_JSON:
	case NSH_VERIFY_FMT_JUNIT_XML:
	case NSH_VERIFY_FMT_GO_JSON:
	case NSH_VERIFY_FMT_CARGO:
		return true;
	case NSH_VERIFY_FMT_ESLINT_JSON:
	case NSH_VERIFY_FMT_ESLINT_TEXT:
	case NSH_VERIFY_FMT_TSC:
	case NSH_VERIFY_FMT_LINES:
	case NSH_VERIFY_FMT_MYPY:
	case NSH_VERIFY_FMT_RUSTC:
		break;
	}
	return false;
}

/* A line of p[0..n) that starts with @prefix (after @indent_ok leading spaces). */
static bool line_starts(const char *p, size_t n, const char *prefix, bool indent_ok)
{
	size_t m = strlen(prefix);

	for (size_t i = 0; i < n;) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - p) : n, s = i;

		if (indent_ok)
			while (s < e && p[s] == ' ')
				s++;
		if (e - s >= m && !memcmp(p + s, prefix, m))
			return true;
		i = e + 1;
	}
	return false;
}

static bool tap_point(const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - p) : n, s = i;

		while (s < e && p[s] == ' ')
			s++;
		if (e - s > 4 && !memcmp(p + s, "not ", 4))
			s += 4;
		if (e - s > 4 && !memcmp(p + s, "ok ", 3) && p[s + 3] >= '0' && p[s + 3] <= '9')
			return true;
		i = e + 1;
	}
	return false;
}

enum nsh_verify_format nsh_verify_sniff(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
		i++;
	if (i < len && text[i] == '<' &&
	    (memmem(text, len, "<testsuite", 10) || memmem(text, len, "<testcase", 9)))
		return NSH_VERIFY_FMT_JUNIT_XML;
	if (line_starts(text, len, "{\"Time\":", false) ||
	    line_starts(text, len, "{\"Action\":", false))
		return NSH_VERIFY_FMT_GO_JSON;
	if (memmem(text, len, "\"numTotalTests\"", 15))
		return NSH_VERIFY_FMT_JEST_JSON;
	if (memmem(text, len, "\"stats\"", 7) && memmem(text, len, "\"passes\"", 8))
		return NSH_VERIFY_FMT_MOCHA_JSON;
	if (line_starts(text, len, "TAP version", false) || tap_point(text, len))
		return NSH_VERIFY_FMT_TAP;
	if (line_starts(text, len, "test result: ", false) ||
	    line_starts(text, len, "running ", false))
		return memmem(text, len, "test result: ", 13) ? NSH_VERIFY_FMT_CARGO
							      : NSH_VERIFY_FMT_EXIT;
	if (memmem(text, len, " passing (", 10) || memmem(text, len, " failing\n", 9))
		return NSH_VERIFY_FMT_MOCHA_SPEC;
	return NSH_VERIFY_FMT_EXIT;
}

void nsh_verify_parse_tests(enum nsh_verify_format fmt, const char *text, size_t len,
			    const struct nsh_verify_parse_ctx *ctx, struct nsh_test_report *ret)
{
	if (fmt == NSH_VERIFY_FMT_AUTO)
		fmt = nsh_verify_sniff(text, len);
	switch (fmt) {
	case NSH_VERIFY_FMT_TAP:
		nsh_verify_parse_tap(text, len, ret);
		break;
	case NSH_VERIFY_FMT_MOCHA_JSON:
		nsh_vrf_parse_mocha_json(text, len, ret);
		break;
	case NSH_VERIFY_FMT_MOCHA_SPEC:
		nsh_vrf_parse_mocha_spec(text, len, ret);
		break;
	case NSH_VERIFY_FMT_JEST_JSON:
		nsh_vrf_parse_jest_json(text, len, ret);
		break;
	case NSH_VERIFY_FMT_JUNIT_XML:
		nsh_vrf_parse_junit(text, len, ret);
		break;
	case NSH_VERIFY_FMT_GO_JSON:
		nsh_vrf_parse_go_json(text, len, ctx ? ctx->go_module : NULL, ret);
		break;
	case NSH_VERIFY_FMT_CARGO:
		nsh_vrf_parse_cargo(text, len, ret);
		break;
	case NSH_VERIFY_FMT_AUTO:
	case NSH_VERIFY_FMT_EXIT:
	case NSH_VERIFY_FMT_ESLINT_JSON:
	case NSH_VERIFY_FMT_ESLINT_TEXT:
	case NSH_VERIFY_FMT_TSC:
	case NSH_VERIFY_FMT_LINES:
	case NSH_VERIFY_FMT_MYPY:
	case NSH_VERIFY_FMT_RUSTC:
		break;
	}
	nsh_test_report_count(ret);
}
