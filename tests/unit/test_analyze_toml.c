/*
 * The TOML subset reader: what pyproject.toml and Cargo.toml use reads
 * into the right tree, and what TOML forbids (or the subset leaves out)
 * is refused with the line that is wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

static struct nsh_analyze_toml *parse_ok(const char *text)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_toml *t = NULL;

	if (nsh_analyze_toml_parse(text, strlen(text), &t, &err)) {
		fprintf(stderr, "unexpected error: %s\n", err.msg);
		return NULL;
	}
	return t;
}

static const char *str_at(const struct nsh_analyze_toml *root, const char *a, const char *b,
			  const char *c)
{
	const struct nsh_analyze_toml *t = nsh_analyze_toml_path(root, a, b, c, NULL);

	return t && (t->type == NSH_ANALYZE_TOML_STRING || t->type == NSH_ANALYZE_TOML_SCALAR)
		       ? t->str
		       : NULL;
}

static void test_document(void)
{
	static const char doc[] = "# a Cargo-like manifest\n"
				  "[package]\n"
				  "name = \"demo\"   # trailing comment\n"
				  "version = '0.1.0'\n"
				  "edition = 2021\n"
				  "publish = false\n"
				  "\n"
				  "[dependencies]\n"
				  "serde = { version = \"1.0\", features = [\"derive\"] }\n"
				  "rand.version = \"0.8\"\n"
				  "rand.optional = true\n"
				  "\"quoted key\" = \"x\"\n"
				  "\n"
				  "[target.'cfg(unix)'.dependencies]\n"
				  "libc = \"0.2\"\n"
				  "\n"
				  "[[bin]]\n"
				  "name = \"a\"\n"
				  "[[bin]]\n"
				  "name = \"b\"\n"
				  "\n"
				  "[project]\n"
				  "dependencies = [\n"
				  "  \"requests>=2\", # why\n"
				  "  'flask',\n"
				  "\n"
				  "]\n"
				  "description = \"\"\"\n"
				  "two \\\n"
				  "    lines \\u00e9\"\"\"\n"
				  "raw = '''\n"
				  "C:\\path'''\n"
				  "when = 1979-05-27 07:32:00Z\n";
	struct nsh_analyze_toml *t = parse_ok(doc);
	const struct nsh_analyze_toml *a, *bin;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_STR(str_at(t, "package", "name", NULL), "demo");
	CHECK_STR(str_at(t, "package", "version", NULL), "0.1.0");
	CHECK_STR(str_at(t, "package", "edition", NULL), "2021");
	CHECK_STR(str_at(t, "package", "publish", NULL), "false");
	CHECK_STR(str_at(t, "dependencies", "serde", "version"), "1.0");
	a = nsh_analyze_toml_path(t, "dependencies", "serde", "features", NULL);
	CHECK(a && a->type == NSH_ANALYZE_TOML_ARRAY && a->nr == 1);
	CHECK_STR(str_at(t, "dependencies", "rand", "version"), "0.8");
	CHECK_STR(str_at(t, "dependencies", "rand", "optional"), "true");
	CHECK_STR(str_at(t, "dependencies", "quoted key", NULL), "x");
	a = nsh_analyze_toml_path(t, "target", "cfg(unix)", "dependencies", "libc", NULL);
	CHECK(a && !strcmp(a->str, "0.2") && a->line == 15);
	bin = nsh_analyze_toml_get(t, "bin");
	CHECK(bin && bin->type == NSH_ANALYZE_TOML_ARRAY && bin->nr == 2);
	if (bin && bin->nr == 2)
		CHECK_STR(nsh_analyze_toml_get(bin->kids[1], "name")->str, "b");
	a = nsh_analyze_toml_path(t, "project", "dependencies", NULL);
	CHECK(a && a->nr == 2);
	if (a && a->nr == 2) {
		CHECK_STR(a->kids[0]->str, "requests>=2");
		CHECK_STR(a->kids[1]->str, "flask");
		CHECK_INT(a->kids[1]->line, 25);
	}
	CHECK_STR(str_at(t, "project", "description", NULL), "two lines \xc3\xa9");
	CHECK_STR(str_at(t, "project", "raw", NULL), "C:\\path");
	CHECK_STR(str_at(t, "project", "when", NULL), "1979-05-27 07:32:00Z");
	CHECK(nsh_analyze_toml_get(t, "missing") == NULL);
	nsh_analyze_toml_free(t);
}

static void test_headers_after_implicit(void)
{
	/* [a.b] first makes 'a' implicitly; defining [a] later is allowed */
	struct nsh_analyze_toml *t = parse_ok("[a.b]\nx = 1\n[a]\ny = 2\r\n");

	CHECK(t != NULL);
	CHECK_STR(str_at(t, "a", "b", "x"), "1");
	CHECK_STR(str_at(t, "a", "y", NULL), "2");
	nsh_analyze_toml_free(t);
	t = parse_ok("");
	CHECK(t && t->nr == 0);
	nsh_analyze_toml_free(t);
	t = parse_ok("\xef\xbb\xbfk = \"v\"");
	CHECK_STR(t ? str_at(t, "k", NULL, NULL) : NULL, "v");
	nsh_analyze_toml_free(t);
}

static void check_bad(const char *text, const char *want, int line)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_toml *t = NULL;
	int rc = nsh_analyze_toml_parse(text, strlen(text), &t, &err);

	if (rc == NSH_EINVAL && strstr(err.msg, want)) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d: expected an error with '%s', got %d '%s'\n", __FILE__, line,
			want, rc, err.msg);
		nsh_analyze_toml_free(t);
	}
}

static void test_errors(void)
{
	check_bad("a = 1\na = 2\n", "line 2: duplicate key 'a'", __LINE__);
	check_bad("[x]\n[x]\n", "line 2: table 'x' defined twice", __LINE__);
	check_bad("a = {b = 1}\na.c = 2\n", "cannot add to 'a'", __LINE__);
	check_bad("a = {b = 1}\n[a.c]\n", "'a' is not a table", __LINE__);
	check_bad("[a]\nb.c = 1\n[a.b]\n", "table 'b' defined twice", __LINE__);
	check_bad("a = [1, 2]\n[[a]]\n", "not an array of tables", __LINE__);
	check_bad("a = \"open\n", "line 1: newline inside a string", __LINE__);
	check_bad("a = \"x\\q\"\n", "invalid escape", __LINE__);
	check_bad("a = \"\\ud800\"\n", "out of range", __LINE__);
	check_bad("a = \"\\u0000\"\n", "out of range", __LINE__);
	check_bad("a = 1\rb = 2\n", "expected the end of the line", __LINE__);
	check_bad("\n\nkey value\n", "line 3: expected '=' after a key", __LINE__);
	check_bad("a = hello\n", "invalid value 'hello'", __LINE__);
	check_bad("a = 1 b = 2\n", "expected the end of the line", __LINE__);
	check_bad("a = [1 2]\n", "expected ',' or ']'", __LINE__);
	check_bad("a = {b = 1,}\n", "expected a key", __LINE__);
	check_bad("a = {b = 1\nc = 2}\n", "expected ',' or '}'", __LINE__);
	check_bad("[a\n", "expected ']' closing", __LINE__);
	check_bad("a = \"\"\"never closed\n", "unterminated string", __LINE__);
	check_bad("a = \"tab\x01\"\n", "control character", __LINE__);
	check_bad("= 1\n", "expected a key", __LINE__);
	{
		char deep[200];
		size_t n = 0;

		n += (size_t)snprintf(deep, sizeof(deep), "a = ");
		for (int i = 0; i < 70; i++)
			deep[n++] = '[';
		deep[n] = '\0';
		check_bad(deep, "nested deeper than 64", __LINE__);
	}
}

int main(void)
{
	RUN(test_document);
	RUN(test_headers_after_implicit);
	RUN(test_errors);
	return TEST_DONE();
}
