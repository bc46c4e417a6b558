/*
 * npm semver in the analyze module: version parsing and ordering
 * (including the prerelease order from semver.org), every range form
 * npm documents, the lowest version of a range, and refusal of what is
 * not a range. Expected answers are npm's (node-semver) for the same
 * inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

static void check_sat(const char *v, const char *range, int want, int line)
{
	int got = nsh_analyze_satisfies(v, range);

	if (got == want) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d: satisfies('%s', '%s') = %d, want %d\n", __FILE__, line, v,
			range, got, want);
	}
}

#define SAT(v, r)   check_sat(v, r, 1, __LINE__)
#define UNSAT(v, r) check_sat(v, r, 0, __LINE__)

static void test_version_parse(void)
{
	struct nsh_analyze_version v;

	CHECK(nsh_analyze_version_parse("1.2.3", &v));
	CHECK_INT(v.major, 1);
	CHECK_INT(v.minor, 2);
	CHECK_INT(v.patch, 3);
	CHECK_INT(v.pre.len, 0);
	CHECK(nsh_analyze_version_parse("v10.20.30", &v));
	CHECK_INT(v.major, 10);
	CHECK(nsh_analyze_version_parse("=1.2.3", &v));
	CHECK(nsh_analyze_version_parse("1.0.0-rc.1+build.5", &v));
	CHECK(v.pre.len == 4 && !memcmp(v.pre.p, "rc.1", 4));
	CHECK(nsh_analyze_version_parse(" 1.2.3 ", &v));

	CHECK(!nsh_analyze_version_parse("1.2", &v));
	CHECK(!nsh_analyze_version_parse("1.2.x", &v));
	CHECK(!nsh_analyze_version_parse("latest", &v));
	CHECK(!nsh_analyze_version_parse("1.2.3.4", &v));
	CHECK(!nsh_analyze_version_parse("1.2.3 junk", &v));
	CHECK(!nsh_analyze_version_parse("", &v));
	CHECK(!nsh_analyze_version_parse("1234567890123456.0.0", &v));
}

static void test_version_order(void)
{
	/* semver.org section 11 */
	static const char *const order[] = {
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta",  "1.0.0-beta.2",	"1.0.0-beta.11",
		"1.0.0-rc.1",  "1.0.0",		"1.0.1",
		"1.1.0",       "2.0.0",
	};
	size_t n = sizeof(order) / sizeof(order[0]);
	struct nsh_analyze_version a, b;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int c;

			CHECK(nsh_analyze_version_parse(order[i], &a));
			CHECK(nsh_analyze_version_parse(order[j], &b));
			c = nsh_analyze_version_cmp(&a, &b);
			if ((i < j && c < 0) || (i == j && c == 0) || (i > j && c > 0)) {
				t_pass++;
			} else {
				t_fail++;
				fprintf(stderr, "cmp('%s', '%s') = %d\n", order[i], order[j], c);
			}
		}
	/* build metadata does not count */
	CHECK(nsh_analyze_version_parse("1.2.3+a", &a));
	CHECK(nsh_analyze_version_parse("1.2.3+b", &b));
	CHECK_INT(nsh_analyze_version_cmp(&a, &b), 0);
	/* numeric identifiers compare as numbers, also with leading zeros */
	CHECK(nsh_analyze_version_parse("1.0.0-2", &a));
	CHECK(nsh_analyze_version_parse("1.0.0-10", &b));
	CHECK(nsh_analyze_version_cmp(&a, &b) < 0);
}

static void test_caret_tilde(void)
{
	SAT("1.2.3", "^1.2.3");
	SAT("1.9.0", "^1.2.3");
	UNSAT("1.2.2", "^1.2.3");
	UNSAT("2.0.0", "^1.2.3");
	UNSAT("2.0.0-beta", "^1.2.3"); /* the upper bound is <2.0.0-0 */
	SAT("0.2.5", "^0.2.3");
	UNSAT("0.3.0", "^0.2.3");
	SAT("0.0.3", "^0.0.3");
	UNSAT("0.0.4", "^0.0.3");
	SAT("0.0.9", "^0.0");
	UNSAT("0.1.0", "^0.0");
	SAT("0.9.9", "^0");
	UNSAT("1.0.0", "^0");
	SAT("1.5.0", "^1.x");
	SAT("3.10.1", "^3.10.1");
	SAT("3.10.2", "^3.10.1");
	UNSAT("4.17.21", "^3.10.1");

	SAT("1.2.9", "~1.2.3");
	UNSAT("1.3.0", "~1.2.3");
	SAT("1.2.0", "~1.2");
	UNSAT("1.3.0", "~1.2");
	SAT("1.9.0", "~1");
	UNSAT("2.0.0", "~1");
	SAT("1.2.5", "~>1.2.3");
}

static void test_comparators(void)
{
	SAT("3.10.1", "<4");
	UNSAT("4.0.0", "<4");
	UNSAT("4.0.0-rc.1", "<4"); /* <4 means <4.0.0-0 */
	SAT("4.17.21", ">=4.0.0 <5");
	SAT("4.0.0", ">= 4.0.0");
	UNSAT("1.2.9", ">1.2");
	SAT("1.3.0", ">1.2");
	SAT("1.2.4", ">1.2.3");
	UNSAT("1.2.3", ">1.2.3");
	SAT("1.2.9", "<=1.2");
	UNSAT("1.3.0", "<=1.2");
	SAT("1.2.3", "<=1.2.3");
	SAT("1.2.3", "=1.2.3");
	SAT("1.2.3", "v1.2.3");
	SAT("1.2.3", "1.2.3");
	UNSAT("1.2.4", "1.2.3");
	UNSAT("1.0.0", "<*");
	UNSAT("1.0.0", ">*");
	SAT("1.0.0", ">=*");
}

static void test_partials_hyphens_or(void)
{
	SAT("1.9.9", "1.x");
	UNSAT("2.0.0", "1.x");
	SAT("1.2.7", "1.2.*");
	UNSAT("1.3.0", "1.2.X");
	SAT("5.0.0", "*");
	SAT("5.0.0", "");
	SAT("5.0.0", "x");
	SAT("1.0.0", "1");
	UNSAT("2.0.0", "1");

	SAT("1.5.0", "1.2.3 - 2.3.4");
	SAT("2.3.4", "1.2.3 - 2.3.4");
	UNSAT("2.3.5", "1.2.3 - 2.3.4");
	UNSAT("1.2.2", "1.2.3 - 2.3.4");
	SAT("2.9.0", "1.2 - 2");
	UNSAT("3.0.0", "1.2 - 2");
	SAT("2.3.9", "1.2.3 - 2.3");
	UNSAT("2.4.0", "1.2.3 - 2.3");

	SAT("4.1.0", "^3.0.0 || ^4.0.0");
	SAT("3.1.0", "^3.0.0||^4.0.0");
	UNSAT("5.0.0", "^3.0.0 || ^4.0.0");
	SAT("1.0.0", "<0.5 || 1.0.0 || >=9");
}

static void test_invalid(void)
{
	static const char *const bad[] = {
		"latest",    "^latest",	  "1.2.3foo", "git+https://example.com/x.git",
		"1.2.3 - ",  "~x.y",	  ">=a",      "1.2.",
		"file:../x", ">=1.2.3 <",
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_range *r = NULL;
	char big[1100];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nsh_err_clear(&err);
		if (nsh_analyze_range_parse(bad[i], &r, &err) == NSH_EINVAL &&
		    strstr(err.msg, bad[i])) {
			t_pass++;
		} else {
			t_fail++;
			fprintf(stderr, "range '%s' was accepted (or the error does not name it)\n",
				bad[i]);
			nsh_analyze_range_free(r);
			r = NULL;
		}
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(nsh_analyze_range_parse(big, &r, &err), NSH_EINVAL);
	CHECK_INT(nsh_analyze_satisfies("latest", "^1"), -1);
	CHECK_INT(nsh_analyze_satisfies("1.0.0", "latest"), -1);
}

static void check_min(const char *range, const char *want, int line)
{
	struct nsh_analyze_range *r = NULL;
	struct nsh_analyze_version v, w;
	bool ok;

	if (nsh_analyze_range_parse(range, &r, NULL)) {
		t_fail++;
		fprintf(stderr, "%s:%d: range '%s' does not parse\n", __FILE__, line, range);
		return;
	}
	ok = nsh_analyze_range_min(r, &v);
	if (!want) {
		CHECK(!ok);
	} else if (ok && nsh_analyze_version_parse(want, &w) && !nsh_analyze_version_cmp(&v, &w)) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d: min('%s') is not %s\n", __FILE__, line, range, want);
	}
	nsh_analyze_range_free(r);
}

static void test_min(void)
{
	check_min("^3.10.1", "3.10.1", __LINE__);
	check_min(">=1.2.3 <2", "1.2.3", __LINE__);
	check_min(">1.2.3", "1.2.4", __LINE__);
	check_min("<1", "0.0.0", __LINE__);
	check_min("^3 || ^2", "2.0.0", __LINE__);
	check_min("~1.2", "1.2.0", __LINE__);
	check_min("*", "0.0.0", __LINE__);
	check_min(">5 <3", NULL, __LINE__);
	check_min(">=1.0.0-beta", "1.0.0-beta", __LINE__);
}

int main(void)
{
	RUN(test_version_parse);
	RUN(test_version_order);
	RUN(test_caret_tilde);
	RUN(test_comparators);
	RUN(test_partials_hyphens_or);
	RUN(test_invalid);
	RUN(test_min);
	return TEST_DONE();
}
