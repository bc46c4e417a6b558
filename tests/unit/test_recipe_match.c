/*
 * The recipe matcher: the lexers of every family (strings, comments,
 * template literals, regex literals, raw strings, brackets), and the
 * templates (holes, nesting, repeated holes, whitespace, word boundaries,
 * overlapping candidates, constraints, CRLF, UTF-8, idempotence and a
 * pathological input that must not blow up).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/vec.h"
#include "recipe/match.h"
#include "recipe/recipe.h"
#include "test.h"

/* One letter per byte: c code, s string, m comment, r regex. */
static char *classes(enum nsh_recipe_family fam, const char *text)
{
	struct nsh_recipe_lex lx;
	size_t n = strlen(text);
	char *out = nsh_xmalloc(n + 1);

	nsh_recipe_lex_init(&lx);
	if (nsh_recipe_lex_run(&lx, fam, text, n, NULL))
		abort();
	for (size_t i = 0; i < n; i++)
		out[i] = "csmr"[lx.cls[i]];
	out[n] = '\0';
	nsh_recipe_lex_release(&lx);
	return out;
}

#define CHECK_CLS(fam, text, want)     \
 do {                                  \
  char *got_ = classes((fam), (text)); \
  CHECK_STR(got_, (want));             \
  free(got_);                          \
 } while (0)

/* Where the bracket at @pos closes (or -1). */
static long pair_of(enum nsh_recipe_family fam, const char *text, size_t pos)
{
	struct nsh_recipe_lex lx;
	long r;

	nsh_recipe_lex_init(&lx);
	nsh_recipe_lex_run(&lx, fam, text, strlen(text), NULL);
	r = lx.jump[pos] == NSH_RECIPE_NONE ? -1 : (long)lx.jump[pos];
	nsh_recipe_lex_release(&lx);
	return r;
}

/*
 * Rewrite @text with one pattern; returns the new text (or "ERR: msg" when
 * the pattern does not compile) and stores the number of hits.
 */
static char *rw_where(enum nsh_recipe_family fam, enum nsh_recipe_in in, const char *match,
		      const char *rewrite, const struct nsh_recipe_where *w, size_t nw,
		      const char *text, size_t *nhits)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_pattern *p = NULL;
	struct nsh_recipe_lex lx;
	struct nsh_recipe_hits hits = {0};
	struct nsh_buf out = NSH_BUF_INIT;
	char *res;

	if (nsh_recipe_pattern_compile(match, rewrite, fam, in, w, nw, &p, &err))
		return nsh_xasprintf("ERR: %s", err.msg);
	nsh_recipe_lex_init(&lx);
	nsh_recipe_lex_run(&lx, fam, text, strlen(text), NULL);
	if (nsh_recipe_pattern_run(p, &lx, NULL, 0, &out, &hits, &err))
		abort();
	if (nhits)
		*nhits = hits.nr;
	res = rewrite ? nsh_buf_detach(&out, NULL) : nsh_xstrdup(text);
	nsh_buf_release(&out);
	nsh_recipe_hits_release(&hits);
	nsh_recipe_lex_release(&lx);
	nsh_recipe_pattern_free(p);
	return res;
}

static char *rw(const char *match, const char *rewrite, const char *text)
{
	return rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_CODE, match, rewrite, NULL, 0, text, NULL);
}

#define CHECK_RW(match, rewrite, text, want)   \
 do {                                          \
  char *got_ = rw((match), (rewrite), (text)); \
  CHECK_STR(got_, (want));                     \
  free(got_);                                  \
 } while (0)

static size_t count(enum nsh_recipe_family fam, const char *match, const char *text)
{
	size_t n = 0;

	free(rw_where(fam, NSH_RECIPE_IN_CODE, match, NULL, NULL, 0, text, &n));
	return n;
}

static void test_lex_js(void)
{
	CHECK_CLS(NSH_RECIPE_FAM_JS, "a('x', \"y\") // c", "ccsssccsssccmmmm");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "a/*x*/b", "cmmmmmc");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "'it\\'s' x", "ssssssscc");
	/* a string stops at the end of its line */
	CHECK_CLS(NSH_RECIPE_FAM_JS, "'ab\nc", "ssscc");
	/* template literal with code inside ${} and a string inside that */
	CHECK_CLS(NSH_RECIPE_FAM_JS, "`a${b('}')}c`", "ssssccssscsss");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "`${`${x}`}`", "sssssscssss");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "`a${{b:1}}c`", "sssscccccsss");
	/* regex literal versus division */
	CHECK_CLS(NSH_RECIPE_FAM_JS, "x = /a'b/g;", "ccccrrrrrrc");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "a / b / c", "ccccccccc");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "f(x) / 2 / 'q'", "cccccccccccsss");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "return /[/]x/.test(s)", "cccccccrrrrrrcccccccc");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "i++ / 2 / 3", "ccccccccccc");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "(/'/)", "crrrc");
	/* a '/' taken for a regex that does not close on its line divides */
	CHECK_CLS(NSH_RECIPE_FAM_JS, "x = / 2\n'a'", "ccccccccsss");
	CHECK_CLS(NSH_RECIPE_FAM_JS, "#!/usr/bin/env node\nx", "mmmmmmmmmmmmmmmmmmmcc");
	/* brackets pair, skipping those in literals */
	CHECK_INT(pair_of(NSH_RECIPE_FAM_JS, "f(a, ')', [1])", 1), 13);
	CHECK_INT(pair_of(NSH_RECIPE_FAM_JS, "f(a, ')', [1])", 10), 12);
	CHECK_INT(pair_of(NSH_RECIPE_FAM_JS, "f(a]", 1), -1);
	CHECK_INT(pair_of(NSH_RECIPE_FAM_JS, "f(a])", 1), 4);
}

static void test_lex_python(void)
{
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "x = 'a' # c", "ccccssscmmm");
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "'''a\n'b'''c", "ssssssssssc");
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "\"\"\"x\"\"\"", "sssssss");
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "f'{x}' + rb\"\\\"\"", "sssssscccssssss");
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "fr'a' if x", "sssssccccc");
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "a // b", "cccccc");
	CHECK_CLS(NSH_RECIPE_FAM_PYTHON, "print(x) # it's", "cccccccccmmmmmm");
}

static void test_lex_go_java_c(void)
{
	CHECK_CLS(NSH_RECIPE_FAM_GO, "s := `a\n\"b` + 'c' // x", "cccccsssssscccssscmmmm");
	CHECK_CLS(NSH_RECIPE_FAM_GO, "r := '\\''", "cccccssss");
	CHECK_CLS(NSH_RECIPE_FAM_JAVA, "s = \"\"\"\n a \"q\"\n\"\"\"; c", "ccccssssssssssssssccc");
	CHECK_CLS(NSH_RECIPE_FAM_JAVA, "char c = '\"'; /* x */", "cccccccccsssccmmmmmmm");
	CHECK_CLS(NSH_RECIPE_FAM_C, "p(\"a\\\"\", 'b'); // c", "ccsssssccssscccmmmm");
	CHECK_CLS(NSH_RECIPE_FAM_C, "R\"x(a)\")x\" b",
		  "ssssssssss"
		  "cc");
	CHECK_CLS(NSH_RECIPE_FAM_C, "@\"a\"\"b\" c",
		  "sssssssc"
		  "c");
	/* a lone quote (a Rust lifetime, say) stays code */
	CHECK_CLS(NSH_RECIPE_FAM_C, "f<'a>(x: &'a T)", "ccccccccccccccc");
	CHECK_CLS(NSH_RECIPE_FAM_TEXT, "a 'b' // c", "cccccccccc");
}

static void test_holes_and_nesting(void)
{
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])", "x = _.pluck(users, 'name');",
		 "x = _.map(users, 'name');");
	/* a hole takes balanced groups, strings with brackets and commas */
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])",
		 "_.pluck(f(a, [b, c]), g(')', \"(\", {d: 1}))",
		 "_.map(f(a, [b, c]), g(')', \"(\", {d: 1}))");
	/* a hole cannot leave the brackets it starts in */
	CHECK_RW("f(:[a])", "g(:[a])", "f(x)) + y)", "g(x)) + y)");
	/* nested matches inside a hole are rewritten too */
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])", "_.pluck(_.pluck(x, 'a'), 'b')",
		 "_.map(_.map(x, 'a'), 'b')");
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])",
		 "_.pluck(_.pluck(_.pluck(x, 'a'), 'b'), f(_.pluck(y, 'c')))",
		 "_.map(_.map(_.map(x, 'a'), 'b'), f(_.map(y, 'c')))");
	/* :[x:arg] refuses a top-level comma; :[x] does not */
	CHECK_RW("_.find(:[c:arg], :[f:arg], this)", "_.find(:[c], :[f].bind(this))",
		 "_.find(a, b, c, this); _.find(a, fn, this);",
		 "_.find(a, b, c, this); _.find(a, fn.bind(this));");
	CHECK_RW("_.find(:[c], :[f], this)", "X", "_.find(a, b, c, this)", "X");
	/* a hole never starts or ends inside a literal */
	CHECK_RW("foo(:[a])", "bar(:[a])", "s = 'foo(x)'; // foo(y)\nfoo(z)",
		 "s = 'foo(x)'; // foo(y)\nbar(z)");
	/* empty holes */
	CHECK_RW("f(:[a])", "g(:[a])", "f()", "g()");
	CHECK_RW("f(:[a:arg])", "g(:[a])", "f()", "f()");
	/* unbalanced (prefix) templates */
	CHECK_RW("_.contains(", "_.includes(", "if (_.contains(list, x)) {}",
		 "if (_.includes(list, x)) {}");
	/* a top-level hole stays on its line unless the next one continues a chain */
	CHECK_RW("_(:[x]).forEach(:[f]):[rest].value()", "_(:[x]).forEach(:[f]):[rest]",
		 "_(a).forEach(f)\n  .value();", "_(a).forEach(f);");
}

static void test_chains(void)
{
	CHECK_RW("_(:[x]).forEach(:[f]).value()", "_(:[x]).forEach(:[f])",
		 "_(arr).forEach(function (v) { out.push(v); }).value();",
		 "_(arr).forEach(function (v) { out.push(v); });");
	CHECK_RW("_(:[x]).forEach(:[f]).value()", "_(:[x]).forEach(:[f])",
		 "_(arr)\n  .forEach(fn)\n  .value();", "_(arr)\n  .forEach(fn);");
	CHECK_RW("_(:[x]):[mid].forEach(:[f]).value()", "_(:[x]):[mid].forEach(:[f])",
		 "_(arr)\n  .map(g)\n  .forEach(fn)\n  .value();\nfoo.forEach(h).value();",
		 "_(arr)\n  .map(g)\n  .forEach(fn);\nfoo.forEach(h).value();");
	/* the chain hole does not run into the next statement */
	CHECK_RW("_(:[x]):[mid].forEach(:[f]).value()", "X", "_(a).map(b);\nc.forEach(d).value()",
		 "_(a).map(b);\nc.forEach(d).value()");
	CHECK_RW("_(:[x]):[mid].forEach(:[f]).value()", "X", "_(a).map(b)\nc.forEach(d).value()",
		 "_(a).map(b)\nc.forEach(d).value()");
}

static void test_whitespace(void)
{
	/* template white space matches any, none or more */
	CHECK_RW("_.uniq(:[a], :[b])", "_.uniqBy(:[a], :[b])", "_.uniq(a,b)", "_.uniqBy(a,b)");
	CHECK_RW("_.uniq(:[a], :[b])", "_.uniqBy(:[a], :[b])", "_.uniq( a , b )",
		 "_.uniqBy( a , b )");
	CHECK_RW("_.uniq(:[a],:[b])", "_.uniqBy(:[a],:[b])", "_.uniq(\n  a,\n  b\n)",
		 "_.uniqBy(\n  a,\n  b\n)");
	CHECK_RW("_.uniq(:[a], :[b])", "_.uniqBy(:[a], :[b])", "_ .uniq (a, b)", "_.uniqBy(a, b)");
	/* but words stay words */
	CHECK_RW("typeof :[x];", "T(:[x]);", "typeofx; typeof y;", "typeofx; T(y);");
	/* a hole at the end of a template matches nothing (it is lazy) */
	CHECK_RW("typeof :[x]", "T(:[x])", "typeof y", "T() y");
	/* a rewrite that changes the layout writes its own */
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])", "_.pluck(\n  list,\n  'k'\n)",
		 "_.map(\n  list,\n  'k'\n)");
}

static void test_word_boundaries(void)
{
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "_.pluck(:[a])", "foo_.pluck(x)"), 0);
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "_.pluck(:[a])", "a._.pluck(x)"), 0);
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "_.pluck(:[a])", "$_.pluck(x)"), 0);
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "_.pluck(:[a])", "(_.pluck(x))"), 1);
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "_.first", "_.firstOrDefault(x); _.first(y)"), 1);
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "require(:[m])", "x.require('a'); require('b')"), 1);
	/* :[[x]] is a whole word */
	CHECK_RW(":[[lib]].contains(", ":[[lib]].includes(",
		 "lodash.contains(a); _.contains(b); x.y.contains(c); a\n  .contains(d)",
		 "lodash.includes(a); _.includes(b); x.y.contains(c); a\n  .includes(d)");
}

static void test_repeated_holes(void)
{
	CHECK_RW(":[[a]] = :[[a]] || :[b];", "Y;", "x = x || 1; x = y || 2;", "Y; x = y || 2;");
	CHECK_RW("f(:[a], :[a])", "g(:[a])", "f(h(1), h(1)); f(h(1), h(2))",
		 "g(h(1)); f(h(1), h(2))");
	/* the same text, not a longer word */
	CHECK_RW("f(:[a], :[a])", "g", "f(b, b); f(b, bb)", "g; f(b, bb)");
}

static void test_overlaps(void)
{
	/* leftmost first, no overlap: "a.a.a" holds one match of "a.a" */
	CHECK_RW("a.a", "b", "a.a.a", "b.a");
	/* candidates inside an earlier match are not matched again */
	CHECK_RW("f(:[x])", "g(:[x])", "f(f)(f)", "g(f)(f)");
	/* two matches side by side */
	CHECK_RW("_.contains(", "_.includes(", "_.contains(_.contains(a, b), c)",
		 "_.includes(_.includes(a, b), c)");
}

static void test_strings_and_comments(void)
{
	struct nsh_recipe_where w = {.hole = (char *)"cat"};
	size_t n = 0;
	char *got;

	nsh_strvec_init(&w.equals);
	nsh_strvec_init(&w.not_equals);
	w.regex = (char *)"array|collection|object|string";
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_STRING, "lodash/:[cat]/:[m]", "lodash/:[m]",
		       &w, 1,
		       "var c = require('lodash/array/chunk');\n"
		       "import x from \"lodash/object/assign\";\n"
		       "log('see lodash/array/chunk'); // 'lodash/array/chunk'\n"
		       "require('lodash/fp/chunk'); f(`lodash/string/pad`)",
		       &n);
	CHECK_STR(got, "var c = require('lodash/chunk');\n"
		       "import x from \"lodash/assign\";\n"
		       "log('see lodash/array/chunk'); // 'lodash/array/chunk'\n"
		       "require('lodash/fp/chunk'); f(`lodash/pad`)");
	CHECK_INT(n, 3);
	free(got);
	/* comment templates match inside comments only */
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_COMMENT, "_.pluck", "_.map", NULL, 0,
		       "// uses _.pluck\n_.pluck(a); s = '_.pluck'; /* _.pluck and _.pluck */", &n);
	CHECK_STR(got, "// uses _.map\n_.pluck(a); s = '_.pluck'; /* _.map and _.map */");
	CHECK_INT(n, 3);
	free(got);
	/* in comments too, a word matches whole words only */
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_COMMENT, "TODO:[x]", "DONE:[x]", NULL, 0,
		       "// TOTODO TODOS TODO: x", &n);
	CHECK_STR(got, "// TOTODO DONES DONE: x");
	free(got);
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_COMMENT, "uses", "calls", NULL, 0,
		       "// uses causes usesx", &n);
	CHECK_STR(got, "// calls causes usesx");
	free(got);
	/* a code template with a string literal matches that exact token */
	CHECK_RW("require('lodash')", "require('lodash-es')",
		 "a = require('lodash'); b = require(\"lodash\"); c = require('lodash/x')",
		 "a = require('lodash-es'); b = require(\"lodash\"); c = require('lodash/x')");
	/* template literal code is code */
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])",
		 "s = `${_.pluck(a, 'b')} _.pluck(x, y)`", "s = `${_.map(a, 'b')} _.pluck(x, y)`");
	/* regex literals are never matched into */
	CHECK_RW("foo(:[a])", "bar(:[a])", "r = /foo(x)/; foo(/\\)/)", "r = /foo(x)/; bar(/\\)/)");
	nsh_strvec_release(&w.equals);
}

static void test_constraints(void)
{
	struct nsh_recipe_where w[2] = {{.hole = (char *)"fn"}, {.hole = (char *)"lib"}};
	char *got;

	for (int i = 0; i < 2; i++) {
		nsh_strvec_init(&w[i].equals);
		nsh_strvec_init(&w[i].not_equals);
	}
	w[0].is = NSH_RECIPE_IS_FUNCTION | NSH_RECIPE_IS_STRING;
	nsh_strvec_push(&w[1].equals, "_");
	nsh_strvec_push(&w[1].equals, "lodash");
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_CODE, ":[[lib]].uniq(:[a:arg], :[fn:arg])",
		       ":[[lib]].uniqBy(:[a], :[fn])", w, 2,
		       "_.uniq(a, function (x) { return x.id; }); lodash.uniq(a, x => x.id);\n"
		       "_.uniq(a, 'id'); _.uniq(a, true); _.uniq(a, isSorted); u.uniq(a, 'id');\n"
		       "_.uniq(a, async (x) => x)",
		       NULL);
	CHECK_STR(got, "_.uniqBy(a, function (x) { return x.id; }); lodash.uniqBy(a, x => x.id);\n"
		       "_.uniqBy(a, 'id'); _.uniq(a, true); _.uniq(a, isSorted); u.uniq(a, 'id');\n"
		       "_.uniqBy(a, async (x) => x)");
	free(got);
	nsh_strvec_release(&w[1].equals);
	nsh_strvec_push(&w[1].equals, "true");
	w[1].hole = (char *)"flag";
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_CODE, "_.uniq(:[a:arg], :[flag:arg])",
		       "_.sortedUniq(:[a])", &w[1], 1, "_.uniq(a, true); _.uniq(a, false)", NULL);
	CHECK_STR(got, "_.sortedUniq(a); _.uniq(a, false)");
	free(got);
	nsh_strvec_release(&w[1].equals);
	/* regex constraints match the whole hole text */
	w[1].regex = (char *)"[0-9]+";
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_CODE, "_.sample(:[c:arg], :[flag:arg])",
		       "_.sampleSize(:[c], :[flag])", &w[1], 1,
		       "_.sample(a, 2); _.sample(a, n2); _.sample(a, 2 + n)", NULL);
	CHECK_STR(got, "_.sampleSize(a, 2); _.sample(a, n2); _.sample(a, 2 + n)");
	free(got);
	for (int i = 0; i < 2; i++) {
		nsh_strvec_release(&w[i].equals);
		nsh_strvec_release(&w[i].not_equals);
	}
}

static void test_classify(void)
{
	static const struct {
		const char *text;
		unsigned want;
	} cases[] = {
		{"function (a) { return a; }", NSH_RECIPE_IS_FUNCTION},
		{"async function f() {}", NSH_RECIPE_IS_FUNCTION},
		{"(a, b) => a + b", NSH_RECIPE_IS_FUNCTION},
		{"a => a.id", NSH_RECIPE_IS_FUNCTION},
		{"foo", NSH_RECIPE_IS_IDENTIFIER},
		{"this", 0},
		{"a.b.c", NSH_RECIPE_IS_MEMBER},
		{"a.b()", 0},
		{"-1.5e-3", NSH_RECIPE_IS_NUMBER},
		{"0x1F", NSH_RECIPE_IS_NUMBER},
		{"'x'", NSH_RECIPE_IS_STRING},
		{"'x' + y", 0},
		{"`t${x}`", NSH_RECIPE_IS_STRING},
		{"/re/g", NSH_RECIPE_IS_REGEX},
		{"true", NSH_RECIPE_IS_BOOLEAN},
		{"undefined", NSH_RECIPE_IS_NULL},
		{"{a: 1}", NSH_RECIPE_IS_OBJECT},
		{"[1, 2]", NSH_RECIPE_IS_ARRAY},
		{"[1][0]", 0},
		{"  ", NSH_RECIPE_IS_EMPTY},
	};
	struct nsh_recipe_lex lx;

	nsh_recipe_lex_init(&lx);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got;

		nsh_recipe_lex_run(&lx, NSH_RECIPE_FAM_JS, cases[i].text, strlen(cases[i].text),
				   NULL);
		got = nsh_recipe_classify(&lx, 0, strlen(cases[i].text));
		if (got != cases[i].want)
			fprintf(stderr, "classify '%s': %u, want %u\n", cases[i].text, got,
				cases[i].want);
		CHECK_INT(got, cases[i].want);
	}
	nsh_recipe_lex_run(&lx, NSH_RECIPE_FAM_PYTHON, "lambda x: x", 11, NULL);
	CHECK_INT(nsh_recipe_classify(&lx, 0, 11), NSH_RECIPE_IS_FUNCTION);
	nsh_recipe_lex_release(&lx);
}

static void test_crlf_utf8(void)
{
	/* CRLF: matches cross "\r\n" like any white space; new lines get "\r\n" */
	CHECK_RW("_.uniq(:[a], :[b]);", "_.uniqBy(:[a], :[b]);\nlog();",
		 "x;\r\n_.uniq(a,\r\n  b);\r\n", "x;\r\n_.uniqBy(a,\r\n  b);\r\nlog();\r\n");
	CHECK_RW("_(:[x]).forEach(:[f]).value()", "_(:[x]).forEach(:[f])",
		 "_(a)\r\n  .forEach(f)\r\n  .value();\r\n", "_(a)\r\n  .forEach(f);\r\n");
	/* UTF-8: identifiers and strings with multibyte characters, a BOM */
	CHECK_RW("_.pluck(:[c], :[p])", "_.map(:[c], :[p])",
		 "\xef\xbb\xbf_.pluck(données, 'prénom'); _.pluck(ñ, '→')",
		 "\xef\xbb\xbf_.map(données, 'prénom'); _.map(ñ, '→')");
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "_.pluck(:[a])", "é_.pluck(x)"), 0);
	{
		char *got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_STRING, ":[a]é:[b]",
				     ":[b]é:[a]", NULL, 0, "s = 'ñaébü'", NULL);

		CHECK_STR(got, "s = 'büéña'");
		free(got);
	}
}

static void test_idempotence(void)
{
	static const struct {
		const char *match, *rewrite, *text;
	} cases[] = {
		{"_.pluck(:[c], :[p])", "_.map(:[c], :[p])", "_.pluck(_.pluck(x, 'a'), 'b')"},
		{"_(:[x]).forEach(:[f]).value()", "_(:[x]).forEach(:[f])",
		 "_(a).forEach(f).value(); x.value()"},
		{"_.uniq(:[a:arg], true)", "_.sortedUniq(:[a])", "_.uniq(_.uniq(a, true), true)"},
		{"lodash/:[c]/:[m]", "lodash/:[m]", "require('lodash/array/chunk')"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum nsh_recipe_in in =
			strchr(cases[i].match, '(') ? NSH_RECIPE_IN_CODE : NSH_RECIPE_IN_STRING;
		char *once = rw_where(NSH_RECIPE_FAM_JS, in, cases[i].match, cases[i].rewrite, NULL,
				      0, cases[i].text, NULL);
		char *twice = rw_where(NSH_RECIPE_FAM_JS, in, cases[i].match, cases[i].rewrite,
				       NULL, 0, once, NULL);

		CHECK_STR(twice, once);
		CHECK(strcmp(once, cases[i].text) != 0);
		free(once);
		free(twice);
	}
}

static void test_compile_errors(void)
{
	static const struct {
		const char *match, *rewrite, *want;
	} cases[] = {
		{":[x].value()", NULL, "must start with text or a ':[[x]]' hole"},
		{"f(:[x])", "g(:[y])", "hole ':[y]' is not in the match template"},
		{"f(':[x]')", NULL, "is inside a string literal"},
		{"f(:[x:e])", NULL, "unknown hole sort 'e'"},
		{"f(:[x])", "g(:[x]", "unbalanced"},
		{"f(:[_])", "g(:[_])", "cannot be written back"},
		{"   ", NULL, "empty"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = rw(cases[i].match, cases[i].rewrite, "x");

		if (!strstr(got, cases[i].want))
			fprintf(stderr, "compile '%s': got '%s'\n", cases[i].match, got);
		CHECK(strstr(got, cases[i].want) != NULL);
		free(got);
	}
}

/* A text that would make naive backtracking quadratic or worse must finish. */
static void test_pathological(void)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t n = 0;
	char *got;

	nsh_buf_adds(&b, "f(");
	for (int i = 0; i < 20000; i++)
		nsh_buf_adds(&b, "a, ");
	nsh_buf_adds(&b, "b)");
	/* three lazy holes over 20000 commas: the budget ends each attempt */
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_CODE, "f(:[a], :[b], :[c], z)", "g", NULL,
		       0, b.buf, &n);
	CHECK_INT(n, 0);
	CHECK_STR(got, b.buf);
	free(got);
	/*
	 * Many expensive candidates: each attempt uses its whole budget, and
	 * once the run's budget is spent the rest of the text (here the one
	 * line that would match) is skipped, as documented, instead of taking
	 * minutes.
	 */
	nsh_buf_reset(&b);
	for (int k = 0; k < 3000; k++) {
		nsh_buf_adds(&b, "f(");
		for (int i = 0; i < 150; i++)
			nsh_buf_adds(&b, "a, ");
		nsh_buf_adds(&b, "b);\n");
	}
	nsh_buf_adds(&b, "f(x, y, z, z);\n");
	got = rw_where(NSH_RECIPE_FAM_JS, NSH_RECIPE_IN_CODE, "f(:[a], :[b], :[c], z)", "g", NULL,
		       0, b.buf, &n);
	CHECK_INT(n, 0);
	free(got);
	/* deep nesting and many unpaired brackets */
	nsh_buf_reset(&b);
	for (int i = 0; i < 50000; i++)
		nsh_buf_adds(&b, "((");
	for (int i = 0; i < 50000; i++)
		nsh_buf_adds(&b, "]");
	CHECK_INT(count(NSH_RECIPE_FAM_JS, "((:[x]))", b.buf), 0);
	nsh_buf_release(&b);
}

int main(void)
{
	RUN(test_lex_js);
	RUN(test_lex_python);
	RUN(test_lex_go_java_c);
	RUN(test_holes_and_nesting);
	RUN(test_chains);
	RUN(test_whitespace);
	RUN(test_word_boundaries);
	RUN(test_repeated_holes);
	RUN(test_overlaps);
	RUN(test_strings_and_comments);
	RUN(test_constraints);
	RUN(test_classify);
	RUN(test_crlf_utf8);
	RUN(test_idempotence);
	RUN(test_compile_errors);
	RUN(test_pathological);
	return TEST_DONE();
}
