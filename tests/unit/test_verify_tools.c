/*
 * The parsers of verify fed by the real tools, run here on small fixture
 * projects: node --test (TAP, its coverage table and lcov), mocha (JSON
 * and spec), eslint (JSON and stylish), tsc, pytest (JUnit XML),
 * coverage.py, flake8, mypy, go test -json with a cover profile, go vet,
 * cargo test, jest (its JSON, its coverage, -t), c8 and nyc (istanbul's
 * summary and lcov) from the npm cache that t0901 fills, and ruff and
 * Maven when they are installed. A tool that is not installed is reported
 * as "toolchain not installed: skipped" and counts neither as passed nor
 * as failed.
 */
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "test.h"

#include "core/banned.h"

static char *top;   /* the temporary directory */
static char *path;  /* PATH for the tools: Debian's first */
static int skipped; /* tools not installed */

static bool have(const char *prog)
{
	char *copy = nsh_xstrdup(path), *save = NULL;
	bool found = false;

	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = nsh_xasprintf("%s/%s", d, prog);

		found = access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	if (!found) {
		fprintf(stderr, "  %s: toolchain not installed: skipped\n", prog);
		skipped++;
	}
	return found;
}

/* A fresh fixture directory "top/name" with @files: pairs of path and text, NULL-ended. */
static char *fixture(const char *name, const char *const *files)
{
	char *dir = nsh_xasprintf("%s/%s", top, name);
	struct nsh_err err = NSH_ERR_INIT;

	nsh_fs_remove_tree(dir, &err);
	for (int i = 0; files[i]; i += 2) {
		char *p = nsh_xasprintf("%s/%s", dir, files[i]);
		char *d = nsh_xstrdup(p);

		*strrchr(d, '/') = '\0';
		CHECK_INT(nsh_fs_mkdir_p(d, 0755, &err), 0);
		CHECK_INT(nsh_fs_write_atomic(p, files[i + 1], strlen(files[i + 1]), 0644, &err),
			  0);
		free(d);
		free(p);
	}
	return dir;
}

/* Run @argv in @dir with the tools' environment; @p is released by the caller. */
static void run(struct nsh_proc *p, const char *dir, const char *const *argv)
{
	struct nsh_err err = NSH_ERR_INIT;

	nsh_proc_init(p);
	for (int i = 0; argv[i]; i++)
		nsh_strvec_push(&p->argv, argv[i]);
	nsh_strvec_pushf(&p->env, "PATH=%s", path);
	nsh_strvec_pushl(&p->env,
			 "NODE_PATH=/usr/share/nodejs:/usr/lib/node_modules/npm/node_modules",
			 "NO_COLOR=1", "FORCE_COLOR=0", "CARGO_TERM_COLOR=never",
			 "RUST_BACKTRACE=0", "PYTHONDONTWRITEBYTECODE=1", "TERM=dumb", NULL);
	p->cwd = dir;
	p->timeout_ms = 120000;
	p->out_max = p->err_max = (size_t)16 << 20;
	CHECK_INT(nsh_proc_run(p, &err), 0);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
}

static char *slurp(const char *dir, const char *rel)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *p = nsh_xasprintf("%s/%s", dir, rel);
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_fs_read_file(p, &b, (size_t)64 << 20, &err), 0);
	free(p);
	return nsh_buf_detach(&b, NULL);
}

static const struct nsh_test_result *find(const struct nsh_test_report *r, const char *name)
{
	for (size_t i = 0; i < r->nr; i++)
		if (!strcmp(r->v[i].name, name))
			return &r->v[i];
	return NULL;
}

static const struct nsh_verify_finding *finding(const struct nsh_verify_findings *f,
						const char *file, int line, const char *rule)
{
	for (size_t i = 0; i < f->nr; i++)
		if (f->v[i].file && !strcmp(f->v[i].file, file) && f->v[i].line == line &&
		    (!rule || (f->v[i].rule && !strcmp(f->v[i].rule, rule))))
			return &f->v[i];
	return NULL;
}

/* A file name ending in @suffix (tools print absolute or relative paths). */
static bool ends(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- node --test: coverage from its own table and from its lcov reporter ---- */

static void test_node_coverage(void)
{
	static const char *const files[] = {
		"lib.js",
		"exports.add = (a, b) => {\n  return a + b;\n};\n"
		"exports.sub = (a, b) => {\n  const d = a - b;\n  return d;\n};\n",
		"test/lib.test.js",
		"const test = require('node:test');\nconst assert = require('node:assert');\n"
		"test('add', () => { assert.strictEqual(require('../lib').add(1, 2), 3); });\n",
		NULL};
	const char *argv[] = {"node",
			      "--test",
			      "--experimental-test-coverage",
			      "--test-reporter=tap",
			      "--test-reporter-destination=stdout",
			      "--test-reporter=lcov",
			      "--test-reporter-destination=lcov.info",
			      NULL};
	struct nsh_verify_coverage c = {0};
	struct nsh_test_report r = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;
	char *dir = fixture("node-cov", files), *lcov;
	double table = -1;

	if (!have("node"))
		goto out;
	run(&p, dir, argv);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_AUTO, p.out.buf, p.out.len, NULL, &r);
	CHECK_INT(r.passed, 1);
	CHECK(r.complete);
	/* the pipeline reads node's table when there is no file; here both must agree */
	lcov = slurp(dir, "lcov.info");
	CHECK_INT(nsh_verify_coverage_parse(NSH_VERIFY_COV_LCOV, lcov, strlen(lcov), &c, &err), 0);
	CHECK(c.present && c.total > c.covered && c.covered > 0);
	{
		/* node's own "all files" line % */
		const char *all = strstr(p.out.buf, "# all files");
		const char *bar = all ? strchr(all, '|') : NULL;

		if (bar)
			table = strtod(bar + 1, NULL);
	}
	fprintf(stderr, "  lcov %lld/%lld = %.2f%%, node's table %.2f%%\n", (long long)c.covered,
		(long long)c.total, c.percent, table);
	CHECK(table > 0 && table < 100);
	CHECK(c.percent > table - 0.01 && c.percent < table + 0.01);
	free(lcov);
	nsh_verify_coverage_release(&c);
	nsh_test_report_release(&r);
	nsh_proc_release(&p);
out:
	free(dir);
}

/* ---- mocha ---- */

static const char mocha_spec[] =
	"const assert = require('assert');\n"
	"describe('billing', function () {\n"
	"  it('adds', function () { assert.strictEqual(1 + 2, 3); });\n"
	"  it('fails', function () { assert.strictEqual(1 + 1, 3); });\n"
	"  it.skip('later', function () {});\n"
	"  describe('nested', function () {\n"
	"    it('throws', function () { console.log('noise'); throw new Error('deep'); });\n"
	"  });\n"
	"});\n";

static void test_mocha(void)
{
	static const char *const files[] = {"test/a.spec.js", mocha_spec, NULL};
	const char *json_argv[] = {"mocha",	      "--reporter", "json", "--reporter-option",
				   "output=out.json", NULL};
	const char *spec_argv[] = {"mocha", NULL};
	struct nsh_test_report j = {0}, s = {0};
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *dir = fixture("mocha", files), *text;

	if (!have("mocha"))
		goto out;
	run(&p, dir, json_argv);
	nsh_proc_release(&p);
	text = slurp(dir, "out.json");
	CHECK_INT(nsh_verify_sniff(text, strlen(text)), NSH_VERIFY_FMT_MOCHA_JSON);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_MOCHA_JSON, text, strlen(text), NULL, &j);
	free(text);
	CHECK(j.complete);
	CHECK_INT(j.passed, 1);
	CHECK_INT(j.failed, 2);
	CHECK_INT(j.skipped, 1);
	t = find(&j, "billing fails");
	CHECK(t && t->status == NSH_TEST_FAIL && ends(t->file, "test/a.spec.js") && t->line == 4);
	CHECK(t && t->message && strstr(t->message, "Expected values to be strictly equal"));
	t = find(&j, "billing nested throws");
	CHECK(t && t->line == 7 && t->message && !strcmp(t->message, "deep"));
	/* the spec reporter on stdout says the same */
	run(&p, dir, spec_argv);
	CHECK_INT(nsh_verify_sniff(p.out.buf, p.out.len), NSH_VERIFY_FMT_MOCHA_SPEC);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_AUTO, p.out.buf, p.out.len, NULL, &s);
	CHECK(s.complete);
	CHECK_INT(s.failed, 2);
	CHECK_INT(s.skipped, 1);
	CHECK_INT(s.passed, 1);
	t = find(&s, "billing fails");
	CHECK(t && t->status == NSH_TEST_FAIL && ends(t->file, "test/a.spec.js") && t->line == 4);
	t = find(&s, "billing nested throws");
	CHECK(t && t->status == NSH_TEST_FAIL && t->line == 7 && t->message &&
	      strstr(t->message, "deep"));
	CHECK(find(&s, "billing later") && find(&s, "billing later")->status == NSH_TEST_SKIP);
	nsh_proc_release(&p);
	nsh_test_report_release(&j);
	nsh_test_report_release(&s);
out:
	free(dir);
}

/* ---- eslint and tsc ---- */

static void test_eslint_tsc(void)
{
	static const char *const files[] = {
		".eslintrc.json",
		"{ \"root\": true, \"env\": {\"node\": true, \"es2020\": true}, \"parserOptions\": "
		"{\"ecmaVersion\": 2020}, \"rules\": {\"no-unused-vars\": \"error\", \"semi\": "
		"[\"warn\", \"always\"]} }\n",
		"src/a.js",
		"const unused = 1;\nconst x = 2\nmodule.exports = x;\n",
		"src/b.ts",
		"export function f(a: number): string {\n  return a;\n}\n",
		"tsconfig.json",
		"{ \"compilerOptions\": { \"strict\": true, \"noEmit\": true, \"target\": \"es2020\", "
		"\"module\": \"commonjs\" }, \"include\": [\"src\"] }\n",
		NULL};
	const char *json_argv[] = {"eslint", "-f", "json", "-o", "eslint.json", "src/a.js", NULL};
	const char *text_argv[] = {"eslint", "src/a.js", NULL};
	const char *unix_argv[] = {"eslint", "-f", "unix", "src/a.js", NULL};
	const char *tsc_argv[] = {"tsc", "--noEmit", "--pretty", "false", "-p", ".", NULL};
	struct nsh_verify_findings f = {0}, g = {0}, t = {0};
	const struct nsh_verify_finding *x;
	struct nsh_proc p;
	char *dir = fixture("lint", files), *text, *rel;

	if (have("eslint")) {
		run(&p, dir, json_argv);
		CHECK_INT(p.exit_code, 1);
		nsh_proc_release(&p);
		text = slurp(dir, "eslint.json");
		nsh_verify_parse_findings(NSH_VERIFY_FMT_ESLINT_JSON, text, strlen(text),
					  NSH_VERIFY_KIND_LINT, &f);
		free(text);
		CHECK_INT(f.nr, 2);
		rel = nsh_xasprintf("%s/src/a.js", dir);
		x = finding(&f, rel, 1, "no-unused-vars");
		CHECK(x && x->level == NSH_VERIFY_ERROR && x->kind == NSH_VERIFY_KIND_LINT);
		x = finding(&f, rel, 2, "semi");
		CHECK(x && x->level == NSH_VERIFY_WARNING);
		/* the default "stylish" text gives the same */
		run(&p, dir, text_argv);
		nsh_verify_parse_findings(NSH_VERIFY_FMT_ESLINT_TEXT, p.out.buf, p.out.len,
					  NSH_VERIFY_KIND_LINT, &g);
		CHECK_INT(g.nr, 2);
		x = finding(&g, rel, 1, "no-unused-vars");
		CHECK(x && x->level == NSH_VERIFY_ERROR && strstr(x->message, "'unused'"));
		CHECK(finding(&g, rel, 2, "semi") != NULL);
		nsh_proc_release(&p);
		nsh_verify_findings_release(&g);
		/* and its "unix" format is one line per message */
		run(&p, dir, unix_argv);
		nsh_verify_parse_findings(NSH_VERIFY_FMT_LINES, p.out.buf, p.out.len,
					  NSH_VERIFY_KIND_LINT, &g);
		CHECK_INT(g.nr, 2);
		x = finding(&g, rel, 2, "semi");
		CHECK(x && x->level == NSH_VERIFY_WARNING &&
		      !strcmp(x->message, "Missing semicolon."));
		CHECK(finding(&g, rel, 1, "no-unused-vars") != NULL);
		nsh_proc_release(&p);
		free(rel);
	}
	if (have("tsc")) {
		run(&p, dir, tsc_argv);
		CHECK(p.exit_code != 0);
		nsh_verify_parse_findings(NSH_VERIFY_FMT_TSC, p.out.buf, p.out.len,
					  NSH_VERIFY_KIND_TYPES, &t);
		CHECK_INT(t.nr, 1);
		x = finding(&t, "src/b.ts", 2, "TS2322");
		CHECK(x && x->level == NSH_VERIFY_ERROR && strstr(x->message, "not assignable"));
		nsh_proc_release(&p);
	}
	nsh_verify_findings_release(&f);
	nsh_verify_findings_release(&g);
	nsh_verify_findings_release(&t);
	free(dir);
}

/* ---- Python: pytest, coverage.py, flake8, mypy ---- */

static const char *const py_files[] = {
	"calc.py",
	"import os\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a: int, b: int) -> int:\n"
	"    return \"x\"\n",
	"tests/test_calc.py",
	"import pytest\nfrom calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
	"def test_bad():\n    assert add(1, 1) == 3\n\n\n@pytest.mark.skip(reason=\"later\")\n"
	"def test_skip():\n    pass\n\n\nclass TestGroup:\n    def test_in_class(self):\n"
	"        raise ValueError(\"boom\")\n",
	"tests/__init__.py",
	"",
	".coveragerc",
	"[run]\nsource = .\n",
	NULL,
};

static void test_python(void)
{
	const char *check[] = {"python3", "-c", "import pytest", NULL};
	const char *pytest[] = {"python3",
				"-m",
				"pytest",
				"-q",
				"-p",
				"no:cacheprovider",
				"-o",
				"junit_family=xunit1",
				"--junitxml=out.xml",
				NULL};
	const char *cov_run[] = {"python3", "-m", "coverage",	      "run", "-m", "pytest",
				 "-q",	    "-p", "no:cacheprovider", NULL};
	const char *cov_json[] = {"python3", "-m", "coverage", "json",
				  "-q",	     "-o", "cov.json", NULL};
	const char *cov_report[] = {"python3", "-m", "coverage", "report", NULL};
	const char *flake8[] = {"flake8", "calc.py", NULL};
	const char *mypy[] = {"mypy",
			      "--show-column-numbers",
			      "--no-error-summary",
			      "--no-color-output",
			      "--cache-dir",
			      "/dev/null",
			      "calc.py",
			      NULL};
	struct nsh_test_report r = {0};
	struct nsh_verify_findings f = {0};
	struct nsh_verify_coverage c = {0};
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *dir = fixture("python", py_files), *text;

	if (!have("python3"))
		goto out;
	run(&p, dir, check);
	if (p.exit_code != 0) {
		fprintf(stderr, "  pytest: toolchain not installed: skipped\n");
		skipped++;
		nsh_proc_release(&p);
		goto out;
	}
	nsh_proc_release(&p);
	run(&p, dir, pytest);
	CHECK_INT(p.exit_code, 1);
	nsh_proc_release(&p);
	text = slurp(dir, "out.xml");
	CHECK_INT(nsh_verify_sniff(text, strlen(text)), NSH_VERIFY_FMT_JUNIT_XML);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_JUNIT_XML, text, strlen(text), NULL, &r);
	free(text);
	CHECK(r.complete);
	CHECK_INT(r.passed, 1);
	CHECK_INT(r.failed, 2);
	CHECK_INT(r.skipped, 1);
	t = find(&r, "tests.test_calc.test_bad");
	CHECK(t && t->status == NSH_TEST_FAIL && t->file &&
	      !strcmp(t->file, "tests/test_calc.py") && t->line == 10);
	CHECK(t && t->message && strstr(t->message, "assert 2 == 3"));
	t = find(&r, "tests.test_calc.TestGroup.test_in_class");
	CHECK(t && t->line == 20 && t->message && !strcmp(t->message, "ValueError: boom"));
	t = find(&r, "tests.test_calc.test_skip");
	CHECK(t && t->status == NSH_TEST_SKIP);
	/* coverage.py: its JSON report against its own text report's total */
	run(&p, dir, cov_run);
	nsh_proc_release(&p);
	run(&p, dir, cov_json);
	nsh_proc_release(&p);
	text = slurp(dir, "cov.json");
	CHECK_INT(nsh_verify_coverage_parse(NSH_VERIFY_COV_PY_JSON, text, strlen(text), &c, &err),
		  0);
	free(text);
	run(&p, dir, cov_report);
	{
		const char *total = strstr(p.out.buf, "TOTAL");
		long stmts = 0, miss = 0;

		CHECK(total && sscanf(total, "TOTAL %ld %ld", &stmts, &miss) == 2);
		CHECK_INT(c.total, stmts);
		CHECK_INT(c.total - c.covered, miss);
		fprintf(stderr, "  coverage.py %lld/%lld = %.2f%%\n", (long long)c.covered,
			(long long)c.total, c.percent);
	}
	nsh_proc_release(&p);
	if (have("flake8")) {
		run(&p, dir, flake8);
		nsh_verify_parse_findings(NSH_VERIFY_FMT_LINES, p.out.buf, p.out.len,
					  NSH_VERIFY_KIND_LINT, &f);
		CHECK(finding(&f, "calc.py", 1, "F401") != NULL);
		nsh_proc_release(&p);
		nsh_verify_findings_release(&f);
	}
	if (have("mypy")) {
		run(&p, dir, mypy);
		nsh_verify_parse_findings(NSH_VERIFY_FMT_MYPY, p.out.buf, p.out.len,
					  NSH_VERIFY_KIND_TYPES, &f);
		CHECK_INT(f.nr, 1);
		CHECK(finding(&f, "calc.py", 9, "return-value") != NULL);
		nsh_proc_release(&p);
		nsh_verify_findings_release(&f);
	}
	nsh_verify_coverage_release(&c);
	nsh_test_report_release(&r);
out:
	free(dir);
}

/* ---- Go ---- */

static void test_go(void)
{
	static const char *const files[] = {
		"go.mod",
		"module example.com/shop\n\ngo 1.19\n",
		"pkg/calc/calc.go",
		"package calc\n\nimport \"fmt\"\n\nfunc Add(a, b int) int { return a + b }\n\n"
		"func Show(x int) string { return fmt.Sprintf(\"%d\", x) }\n\n"
		"func Twice(x int) int {\n\tif x > 100 {\n\t\treturn 0\n\t}\n\treturn 2 * x\n}\n",
		"pkg/calc/calc_test.go",
		"package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n"
		"\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n\n"
		"func TestBad(t *testing.T) {\n\tt.Run(\"sub one\", func(t *testing.T) {\n"
		"\t\tif Add(1, 1) != 3 {\n\t\t\tt.Errorf(\"Add(1, 1) = %d, want 3\", Add(1, 1))\n"
		"\t\t}\n\t})\n}\n\nfunc TestSkip(t *testing.T) { t.Skip(\"later\") }\n\n"
		"func TestTwice(t *testing.T) {\n\tif Twice(2) != 4 {\n\t\tt.Fatal(\"twice\")\n\t}\n}\n",
		"vet/vet.go",
		"package vet\n\nimport \"fmt\"\n\nfunc F(x int) string { return fmt.Sprintf(\"%d %s\", x) }\n",
		NULL};
	const char *test_argv[] = {"go",	"test", "-json", "-coverprofile=cover.out",
				   "./pkg/...", NULL};
	const char *vet_argv[] = {"go", "vet", "./vet/...", NULL};
	struct nsh_verify_parse_ctx ctx = {.go_module = "example.com/shop"};
	struct nsh_test_report r = {0};
	struct nsh_verify_findings f = {0};
	struct nsh_verify_coverage c = {0};
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *dir = fixture("go", files), *text;

	if (!have("go"))
		goto out;
	run(&p, dir, test_argv);
	CHECK_INT(nsh_verify_sniff(p.out.buf, p.out.len), NSH_VERIFY_FMT_GO_JSON);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_GO_JSON, p.out.buf, p.out.len, &ctx, &r);
	CHECK(r.complete);
	CHECK_INT(r.passed, 2);
	CHECK_INT(r.failed, 1);
	CHECK_INT(r.skipped, 1);
	CHECK(find(&r, "example.com/shop/pkg/calc TestBad") == NULL); /* a parent */
	t = find(&r, "example.com/shop/pkg/calc TestBad/sub_one");
	CHECK(t && t->status == NSH_TEST_FAIL && t->file &&
	      !strcmp(t->file, "pkg/calc/calc_test.go") && t->line == 14);
	CHECK(t && t->message && !strcmp(t->message, "Add(1, 1) = 2, want 3"));
	{
		/* the cover profile against go's own "coverage: X% of statements" */
		const char *cov = strstr(p.out.buf, "coverage: ");
		double go_pct = cov ? strtod(cov + 10, NULL) : -1;

		text = slurp(dir, "cover.out");
		CHECK_INT(
			nsh_verify_coverage_parse(NSH_VERIFY_COV_GO, text, strlen(text), &c, &err),
			0);
		free(text);
		fprintf(stderr, "  go cover profile %lld/%lld = %.2f%%, go says %.1f%%\n",
			(long long)c.covered, (long long)c.total, c.percent, go_pct);
		CHECK(go_pct > 0 && c.percent > go_pct - 0.05 && c.percent < go_pct + 0.05);
	}
	nsh_proc_release(&p);
	run(&p, dir, vet_argv);
	CHECK(p.exit_code != 0);
	nsh_verify_parse_findings(NSH_VERIFY_FMT_LINES, p.err.buf, p.err.len, NSH_VERIFY_KIND_LINT,
				  &f);
	if (f.nr != 1)
		fprintf(stderr, "go vet said: %s%s\n", p.out.buf, p.err.buf);
	CHECK_INT(f.nr, 1);
	CHECK(f.nr == 1 && ends(f.v[0].file, "vet/vet.go") && f.v[0].line == 5 &&
	      strstr(f.v[0].message, "Sprintf"));
	nsh_proc_release(&p);
	nsh_verify_findings_release(&f);
	nsh_verify_coverage_release(&c);
	nsh_test_report_release(&r);
out:
	free(dir);
}

/* ---- Rust ---- */

static void test_cargo(void)
{
	static const char *const files[] = {
		"Cargo.toml",
		"[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
		"src/lib.rs",
		"pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n"
		"    use super::*;\n\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n"
		"    }\n\n    #[test]\n    fn fails() {\n        assert_eq!(add(1, 1), 3);\n    }\n\n"
		"    #[test]\n    #[ignore]\n    fn later() {}\n}\n",
		NULL};
	const char *argv[] = {"cargo", "test", "--offline", "--no-fail-fast", NULL};
	struct nsh_test_report r = {0};
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *dir = fixture("rust", files);

	if (!have("cargo"))
		goto out;
	run(&p, dir, argv);
	CHECK_INT(nsh_verify_sniff(p.out.buf, p.out.len), NSH_VERIFY_FMT_CARGO);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_CARGO, p.out.buf, p.out.len, NULL, &r);
	CHECK(r.complete);
	CHECK_INT(r.passed, 1);
	CHECK_INT(r.failed, 1);
	CHECK_INT(r.skipped, 1);
	t = find(&r, "tests::fails");
	CHECK(t && t->status == NSH_TEST_FAIL && t->file && !strcmp(t->file, "src/lib.rs") &&
	      t->line == 16);
	CHECK(t && t->message && strstr(t->message, "assert"));
	nsh_proc_release(&p);
	nsh_test_report_release(&r);
out:
	free(dir);
}

/* ---- npm packages: jest, c8, nyc (tests/integ/t0901 installs them) ---- */

static const char js_lib[] = "exports.add = (a, b) => {\n  return a + b;\n};\n"
			     "exports.sub = (a, b) => {\n  const d = a - b;\n  return d;\n};\n";

static const char js_lib_test[] =
	"const test = require('node:test');\nconst assert = require('node:assert');\n"
	"test('add', () => { assert.strictEqual(require('../lib').add(1, 2), 3); });\n";

/* Two figures agree to the hundredth of a point. */
static bool near(double a, double b)
{
	return a > b - 0.005 && a < b + 0.005;
}

static void test_jest(void)
{
	static const char *const files[] = {
		"sum.js",
		"exports.add = (a, b) => a + b;\nexports.sub = (a, b) => {\n  const d = a - b;\n"
		"  return d;\n};\n",
		"sum.test.js",
		"const { add } = require('./sum');\n"
		"describe('math', () => {\n"
		"  test('adds', () => {\n"
		"    expect(add(1, 2)).toBe(3);\n"
		"  });\n"
		"  test('fails', () => {\n"
		"    expect(add(1, 1)).toBe(3);\n"
		"  });\n"
		"  test.skip('later', () => {});\n"
		"  test.todo('someday');\n"
		"});\n",
		"broken.test.js",
		"test('broken', () => {\n  expect(1).toBe(1);\n",
		"jest.config.js",
		"module.exports = {};\n",
		NULL};
	const char *jest[] = {"jest",
			      "--ci",
			      "--json",
			      "--testLocationInResults",
			      "--outputFile=out.json",
			      "--coverage",
			      "--coverageReporters=json-summary",
			      "--coverageReporters=lcov",
			      NULL};
	const char *only[] = {
		"jest",	       "--ci", "--json", "--outputFile=only.json", "-t", "^(?:math fails)$",
		"sum.test.js", NULL};
	struct nsh_test_report r = {0}, o = {0};
	struct nsh_verify_coverage a = {0}, b = {0};
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *dir, *text;

	if (!have("jest"))
		return;
	dir = fixture("jest", files);
	run(&p, dir, jest);
	CHECK_INT(p.exit_code, 1);
	nsh_proc_release(&p);
	text = slurp(dir, "out.json");
	CHECK_INT(nsh_verify_sniff(text, strlen(text)), NSH_VERIFY_FMT_JEST_JSON);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_AUTO, text, strlen(text), NULL, &r);
	free(text);
	CHECK(r.complete);
	CHECK_INT(r.nr, 5);
	CHECK_INT(r.passed, 1);
	CHECK_INT(r.failed, 2);
	CHECK_INT(r.skipped, 2);
	t = find(&r, "math adds");
	CHECK(t && t->status == NSH_TEST_PASS && ends(t->file, "/sum.test.js") && t->line == 3);
	/* --testLocationInResults: the line of the test, not of the expect() in it */
	t = find(&r, "math fails");
	CHECK(t && t->status == NSH_TEST_FAIL && ends(t->file, "/sum.test.js") && t->line == 6);
	CHECK(t && t->message &&
	      !strcmp(t->message, "Error: expect(received).toBe(expected) // Object.is equality"));
	t = find(&r, "math later");
	CHECK(t && t->status == NSH_TEST_SKIP && t->line == 9);
	t = find(&r, "math someday");
	CHECK(t && t->status == NSH_TEST_TODO && t->line == 10);
	/* a file that does not parse is one failing test named after it */
	for (size_t i = 0; i < r.nr; i++)
		if (ends(r.v[i].name, "/broken.test.js"))
			t = &r.v[i];
	CHECK(t && ends(t->name, "/broken.test.js") && t->status == NSH_TEST_FAIL && t->line == 0 &&
	      t->message && !strcmp(t->message, "● Test suite failed to run"));
	/* jest's own coverage (babel's istanbul): summary and lcov, lines 2 of 4 */
	text = slurp(dir, "coverage/coverage-summary.json");
	CHECK_INT(nsh_verify_coverage_parse(NSH_VERIFY_COV_ISTANBUL, text, strlen(text), &a, &err),
		  0);
	free(text);
	text = slurp(dir, "coverage/lcov.info");
	CHECK_INT(nsh_verify_coverage_parse(NSH_VERIFY_COV_LCOV, text, strlen(text), &b, &err), 0);
	free(text);
	CHECK_INT(a.covered, 2);
	CHECK_INT(a.total, 4);
	CHECK(near(a.percent, 50.0));
	CHECK_INT(b.covered, 2);
	CHECK_INT(b.total, 4);
	/* -t with the anchored name, as a flaky re-run passes it: only that test runs */
	run(&p, dir, only);
	nsh_proc_release(&p);
	text = slurp(dir, "only.json");
	nsh_verify_parse_tests(NSH_VERIFY_FMT_JEST_JSON, text, strlen(text), NULL, &o);
	free(text);
	CHECK_INT(o.failed, 1);
	CHECK_INT(o.passed, 0);
	CHECK(find(&o, "math fails") && find(&o, "math fails")->status == NSH_TEST_FAIL);
	CHECK(find(&o, "math adds") && find(&o, "math adds")->status == NSH_TEST_SKIP);
	nsh_verify_coverage_release(&a);
	nsh_verify_coverage_release(&b);
	nsh_test_report_release(&r);
	nsh_test_report_release(&o);
	free(dir);
}

/* c8 or nyc around node --test: its summary and lcov give the same exact figure. */
static void js_coverage(const char *tool, int64_t covered, int64_t total)
{
	static const char *const files[] = {"lib.js", js_lib, "test/lib.test.js", js_lib_test,
					    NULL};
	const char *argv[] = {
		tool, "--reporter=json-summary", "--reporter=lcovonly", "node", "--test", NULL};
	struct nsh_verify_coverage a = {0}, b = {0};
	struct nsh_test_report r = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;
	char *dir, *text;

	if (!have(tool))
		return;
	dir = fixture(tool, files);
	run(&p, dir, argv);
	CHECK_INT(p.exit_code, 0);
	/* node's TAP still reaches stdout through the wrapper */
	nsh_verify_parse_tests(NSH_VERIFY_FMT_AUTO, p.out.buf, p.out.len, NULL, &r);
	CHECK(r.complete && r.passed == 1 && r.failed == 0 && find(&r, "add"));
	nsh_proc_release(&p);
	text = slurp(dir, "coverage/coverage-summary.json");
	CHECK_INT(nsh_verify_coverage_parse(NSH_VERIFY_COV_ISTANBUL, text, strlen(text), &a, &err),
		  0);
	free(text);
	text = slurp(dir, "coverage/lcov.info");
	CHECK_INT(nsh_verify_coverage_parse(NSH_VERIFY_COV_LCOV, text, strlen(text), &b, &err), 0);
	free(text);
	fprintf(stderr, "  %s: summary %lld/%lld = %.2f%%, lcov %lld/%lld\n", tool,
		(long long)a.covered, (long long)a.total, a.percent, (long long)b.covered,
		(long long)b.total);
	CHECK_INT(a.covered, covered);
	CHECK_INT(a.total, total);
	CHECK(near(a.percent, 100.0 * (double)covered / (double)total));
	CHECK_INT(b.covered, covered);
	CHECK_INT(b.total, total);
	CHECK(near(b.percent, a.percent));
	nsh_verify_coverage_release(&a);
	nsh_verify_coverage_release(&b);
	nsh_test_report_release(&r);
	free(dir);
}

static void test_c8_nyc(void)
{
	/* c8 (V8's coverage) counts every line of lib.js: 5 of 7 */
	js_coverage("c8", 5, 7);
	/* nyc (istanbul's instrumentation) counts statement lines: 3 of 5 */
	js_coverage("nyc", 3, 5);
}

/* ---- tools this machine may lack: ruff, Maven ---- */

/* Debian's packaged Maven plugins, as tests/integ/t0902-verify-maven.sh pins them. */
#define MAVEN_REPO "/usr/share/maven-repo"
#define SUREFIRE_JAR                                                  \
 MAVEN_REPO "/org/apache/maven/plugins/maven-surefire-plugin/2.22.3/" \
	    "maven-surefire-plugin-2.22.3.jar"

static const char *const mvn_files[] = {
	"pom.xml",
	"<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n"
	"  <modelVersion>4.0.0</modelVersion>\n"
	"  <groupId>com.acme</groupId><artifactId>calc</artifactId><version>1</version>\n"
	"  <properties><maven.compiler.release>11</maven.compiler.release>\n"
	"    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>\n"
	"  <dependencies><dependency><groupId>junit</groupId><artifactId>junit</artifactId>\n"
	"    <version>4.13.2</version><scope>test</scope></dependency></dependencies>\n"
	"  <build><plugins>\n"
	"    <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.0</version></plugin>\n"
	"    <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.10.1</version></plugin>\n"
	"    <plugin><artifactId>maven-surefire-plugin</artifactId><version>2.22.3</version></plugin>\n"
	"  </plugins></build>\n"
	"</project>\n",
	"src/main/java/com/acme/Calc.java",
	"package com.acme;\n"
	"\n"
	"public class Calc {\n"
	"    public static int div(int a, int b) {\n"
	"        return a / b;\n"
	"    }\n"
	"}\n",
	"src/test/java/com/acme/CalcTest.java",
	"package com.acme;\n"
	"\n"
	"import static org.junit.Assert.assertEquals;\n"
	"\n"
	"import org.junit.Ignore;\n"
	"import org.junit.Test;\n"
	"\n"
	"public class CalcTest {\n"
	"    @Test\n"
	"    public void good() {\n"
	"        assertEquals(2, Calc.div(4, 2));\n"
	"    }\n"
	"\n"
	"    @Test\n"
	"    public void bad() {\n"
	"        assertEquals(3, Calc.div(4, 2));\n"
	"    }\n"
	"\n"
	"    @Test\n"
	"    public void byZero() {\n"
	"        Calc.div(1, 0);\n"
	"    }\n"
	"\n"
	"    @Ignore\n"
	"    @Test\n"
	"    public void later() {\n"
	"    }\n"
	"}\n",
	NULL,
};

/*
 * mvn, offline, from Debian's packaged plugins: the Surefire report it
 * writes, read exactly (names, statuses, the test's file:line).
 */
static void test_maven(void)
{
	const char *mvn[] = {"mvn",  "-B", "-q", "-o", "-Dmaven.repo.local=" MAVEN_REPO,
			     "test", NULL};
	struct nsh_test_report r = {0};
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *dir, *text;

	if (!have("mvn") || !have("javac"))
		return;
	if (access(SUREFIRE_JAR, R_OK)) {
		fprintf(stderr, "  mvn (Surefire): %s missing (Debian libsurefire-java): skipped\n",
			SUREFIRE_JAR);
		skipped++;
		return;
	}
	dir = fixture("maven", mvn_files);
	run(&p, dir, mvn);
	CHECK_INT(p.exit_code, 1);
	nsh_proc_release(&p);
	text = slurp(dir, "target/surefire-reports/TEST-com.acme.CalcTest.xml");
	CHECK_INT(nsh_verify_sniff(text, strlen(text)), NSH_VERIFY_FMT_JUNIT_XML);
	nsh_verify_parse_tests(NSH_VERIFY_FMT_JUNIT_XML, text, strlen(text), NULL, &r);
	free(text);
	CHECK(r.complete);
	CHECK_INT(r.nr, 4);
	CHECK_INT(r.passed, 1);
	CHECK_INT(r.failed, 2);
	CHECK_INT(r.skipped, 1);
	t = find(&r, "com.acme.CalcTest.good");
	CHECK(t && t->status == NSH_TEST_PASS);
	t = find(&r, "com.acme.CalcTest.bad");
	CHECK(t && t->status == NSH_TEST_FAIL && t->file &&
	      !strcmp(t->file, "src/test/java/com/acme/CalcTest.java") && t->line == 16);
	CHECK(t && t->message && !strcmp(t->message, "expected:<3> but was:<2>"));
	/* the exception is raised in Calc; the location is the test's own frame */
	t = find(&r, "com.acme.CalcTest.byZero");
	CHECK(t && t->status == NSH_TEST_FAIL && t->file &&
	      !strcmp(t->file, "src/test/java/com/acme/CalcTest.java") && t->line == 21);
	CHECK(t && t->message && strstr(t->message, "by zero"));
	t = find(&r, "com.acme.CalcTest.later");
	CHECK(t && t->status == NSH_TEST_SKIP);
	fprintf(stderr, "  mvn (Surefire %s): %zu tests read\n", "2.22.3", r.nr);
	nsh_test_report_release(&r);
	free(dir);
}

static void test_optional(void)
{
	static const char *const ruff_files[] = {"a.py", "import os\n", NULL};
	const char *ruff[] = {"ruff", "check", "--output-format=concise", "--no-cache", ".", NULL};
	struct nsh_proc p;
	char *dir;

	if (have("ruff")) {
		struct nsh_verify_findings f = {0};

		dir = fixture("ruff", ruff_files);
		run(&p, dir, ruff);
		nsh_verify_parse_findings(NSH_VERIFY_FMT_LINES, p.out.buf, p.out.len,
					  NSH_VERIFY_KIND_LINT, &f);
		CHECK(finding(&f, "a.py", 1, "F401") != NULL);
		nsh_proc_release(&p);
		nsh_verify_findings_release(&f);
		free(dir);
	}
	test_maven();
}

/*
 * The npm packages' binaries, after Debian's: $NSH_VERIFY_NPM_BIN, else
 * the cache tests/integ/t0901-verify-npm-tools.sh installs into, when it
 * is there.
 */
static char *tools_path(void)
{
	const char *old = getenv("PATH"), *npm = getenv("NSH_VERIFY_NPM_BIN");
	const char *top_dir = getenv("NSH_TOP");
	char *cache = NULL, *ret;

	if (!npm || !*npm) {
		char *rel = nsh_xasprintf("%s/build/npm-cache/verify/node_modules/.bin",
					  top_dir && *top_dir ? top_dir : ".");

		/* absolute: the tools run in other directories */
		cache = realpath(rel, NULL);
		free(rel);
		npm = cache && nsh_fs_is_dir(cache) ? cache : NULL;
	}
	if (npm)
		fprintf(stderr, "npm packages from %s\n", npm);
	ret = nsh_xasprintf("/usr/bin:%s%s%s", old ? old : "/bin", npm ? ":" : "", npm ? npm : "");
	free(cache);
	return ret;
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	top = t_tmpdir();
	path = tools_path();
	/* core/proc.h finds programs on this process's PATH */
	setenv("PATH", path, 1);
	RUN(test_node_coverage);
	RUN(test_mocha);
	RUN(test_eslint_tsc);
	RUN(test_python);
	RUN(test_go);
	RUN(test_cargo);
	RUN(test_jest);
	RUN(test_c8_nyc);
	RUN(test_optional);
	fprintf(stderr, "%d tools skipped (not installed)\n", skipped);
	nsh_fs_remove_tree(top, &err);
	free(top);
	free(path);
	return TEST_DONE();
}
