/* Tests for core/regex: the size estimate and the checked compile. */
#include "core/regex.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "test.h"

#include "core/banned.h"

static void test_positions(void)
{
	static const struct {
		const char *re;
		unsigned long n;
	} cases[] = {
		{"", 0},       {"abc", 3},	   {"a|b", 3},	 {"[a-z]", 1}, {"[]a]", 1},
		{"[^]a]x", 2}, {"[[:alpha:]]", 1}, {"\\.x", 2},	 {"a*", 2},    {"a+", 3},
		{"a{3}", 4},   {"a{2,5}", 6},	   {"a{,5}", 6}, {"a{4,}", 6}, {"(ab){10}", 21},
		{"a{", 2}, /* not a bound: two literal positions */
		{"a{x}", 4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long n = nsh_regex_positions(cases[i].re);

		if (n != cases[i].n)
			fprintf(stderr, "pattern '%s'\n", cases[i].re);
		CHECK_INT((long)n, (long)cases[i].n);
	}
	/* nesting multiplies, and saturates rather than overflowing */
	CHECK(nsh_regex_positions("((a{255}){255}){255}") > NSH_REGEX_MAX_POSITIONS);
	CHECK(nsh_regex_positions("a{99999999999999999999}") > NSH_REGEX_MAX_POSITIONS);
	CHECK(nsh_regex_positions("(a{100}){100}") > NSH_REGEX_MAX_POSITIONS);
	CHECK(nsh_regex_positions("a{1000}{1000}") > NSH_REGEX_MAX_POSITIONS);
	/* unbalanced parentheses do not hide a repetition from the count */
	CHECK(nsh_regex_positions(")(a{100}){100}") > NSH_REGEX_MAX_POSITIONS);
	CHECK(nsh_regex_positions("((((a{100}){100}") > NSH_REGEX_MAX_POSITIONS);
	/* deep nesting alone is refused */
	{
		char deep[256];

		memset(deep, '(', 150);
		deep[150] = 'a';
		deep[151] = '\0';
		CHECK(nsh_regex_positions(deep) > NSH_REGEX_MAX_POSITIONS);
	}
}

static void test_compile(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	regex_t re;

	CHECK_INT(nsh_regex_compile(&re, "^lodash/(array|object)$", REG_NOSUB, &err), 0);
	CHECK_INT(regexec(&re, "lodash/array", 0, NULL, 0), 0);
	CHECK(regexec(&re, "lodash/arrays", 0, NULL, 0) != 0);
	regfree(&re);

	/* extended syntax is always on */
	CHECK_INT(nsh_regex_compile(&re, "a+b", REG_NOSUB, &err), 0);
	CHECK_INT(regexec(&re, "aab", 0, NULL, 0), 0);
	regfree(&re);

	CHECK_INT(nsh_regex_compile(&re, "((a{255}){255}){255}", 0, &err), NSH_ETOOBIG);
	CHECK(strstr(err.msg, "more than 2000 positions") != NULL);
	nsh_err_clear(&err);

	CHECK_INT(nsh_regex_compile(&re, "(a)\\1", 0, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "back-references") != NULL);
	nsh_err_clear(&err);

	CHECK_INT(nsh_regex_compile(&re, "(", 0, &err), NSH_EINVAL);
	CHECK(err.msg[0] != '\0');
	nsh_err_clear(&err);

	/* the largest pattern allowed still compiles */
	CHECK_INT(nsh_regex_compile(&re, "(a?){900}", REG_NOSUB, &err), 0);
	regfree(&re);
}

int main(void)
{
	RUN(test_positions);
	RUN(test_compile);
	return TEST_DONE();
}
