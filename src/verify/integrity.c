/*
 * Test integrity: a change that makes the tests say less. Everything is
 * read from the diff, line by line, with a per-file multiset of removed
 * lines so that code that only moved (the same line removed and added)
 * is never taken for a weakening.
 */
#include "verify/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/str.h"

#include "core/banned.h"

#define KEY_BYTES 96
#define VAL_BYTES 256

/* ---- what a path is ---- */

static bool has_ext(const char *path, const char *const *exts)
{
	const char *dot = strrchr(nsh_vrf_basename(path), '.');

	if (!dot)
		return false;
	for (int k = 0; exts[k]; k++)
		if (!strcmp(dot, exts[k]))
			return true;
	return false;
}

static const char *const source_ext[] = {
	".js", ".mjs", ".cjs",	".jsx", ".ts",	".tsx",	  ".mts",   ".cts",
	".py", ".go",  ".java", ".kt",	".rs",	".rb",	  ".php",   ".cs",
	".c",  ".cc",  ".cpp",	".h",	".hpp", ".swift", ".scala", NULL,
};

bool nsh_verify_is_test_path(const char *path)
{
	const char *base = nsh_vrf_basename(path);
	static const char *const dirs[] = {"test/",  "tests/",	 "__tests__/", "spec/",
					   "specs/", "testing/", "src/test/",  NULL};
	static const char *const marks[] = {".test.", ".spec.", "_test.", "_spec.",
					    "-test.", "-spec.", NULL};
	size_t n = strlen(base);

	if (!has_ext(path, source_ext))
		return false;
	for (int k = 0; dirs[k]; k++) {
		size_t m = strlen(dirs[k]);

		if (!strncmp(path, dirs[k], m))
			return true;
		for (const char *p = strstr(path, dirs[k]); p; p = strstr(p + 1, dirs[k]))
			if (p > path && p[-1] == '/')
				return true;
	}
	for (int k = 0; marks[k]; k++)
		if (strstr(base, marks[k]))
			return true;
	if (!strncmp(base, "test_", 5) && n > 8 && !strcmp(base + n - 3, ".py"))
		return true;
	if (n > 9 && (!strcmp(base + n - 9, "Test.java") || !strcmp(base + n - 10, "Tests.java")))
		return true;
	return false;
}

static bool is_rust(const char *path)
{
	size_t n = strlen(path);

	return n > 3 && !strcmp(path + n - 3, ".rs");
}

/* ---- a multiset of removed lines, to tell moved code from changed code ---- */

struct lineset {
	struct nsh_str *v;
	bool *used;
	size_t nr;
};

static void lineset_build(struct lineset *s, const struct nsh_verify_dfile *f, char side)
{
	s->v = nsh_xcalloc(f->nr + 1, sizeof(*s->v));
	s->used = nsh_xcalloc(f->nr + 1, 1);
	s->nr = 0;
	for (size_t k = 0; k < f->nr; k++) {
		size_t n = f->line[k].len;
		const char *t;

		if (f->line[k].side != side)
			continue;
		t = nsh_vrf_trim(f->line[k].text, &n);
		s->v[s->nr++] = nsh_str_make(t, n);
	}
}

static void lineset_release(struct lineset *s)
{
	free(s->v);
	free(s->used);
}

/* Whether the added line @t was removed elsewhere in the file (it moved); marks the match used. */
static bool moved(struct lineset *s, const char *t, size_t n)
{
	for (size_t k = 0; k < s->nr; k++) {
		if (!s->used[k] && s->v[k].len == n && !memcmp(s->v[k].p, t, n)) {
			s->used[k] = true;
			return true;
		}
	}
	return false;
}

/* Whether @t is in @s (without marking it). */
static bool in_set(const struct lineset *s, const char *t, size_t n)
{
	for (size_t k = 0; k < s->nr; k++)
		if (s->v[k].len == n && !memcmp(s->v[k].p, t, n))
			return true;
	return false;
}

/* ---- line classes ---- */

static bool contains(const char *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static bool begins(const char *p, size_t n, const char *s)
{
	size_t m = strlen(s);

	return n >= m && !memcmp(p, s, m);
}

/* A word starting at the match: "xit(" but not "exit(". */
static bool contains_word(const char *p, size_t n, const char *s)
{
	size_t m = strlen(s);

	for (const char *q = memmem(p, n, s, m); q;
	     q = memmem(q + 1, n - (size_t)(q + 1 - p), s, m))
		if (q == p || !nsh_vrf_ident((unsigned char)q[-1]))
			return true;
	return false;
}

static bool comment_only(const char *t, size_t n)
{
	return begins(t, n, "//") || begins(t, n, "#") || begins(t, n, "/*") || begins(t, n, "*");
}

static bool test_def(const char *t, size_t n)
{
	if (begins(t, n, "it(") || begins(t, n, "it.") || begins(t, n, "test(") ||
	    begins(t, n, "test.") || begins(t, n, "specify(") || begins(t, n, "it (") ||
	    begins(t, n, "test ("))
		return !begins(t, n, "test.describe") && !begins(t, n, "test.before") &&
		       !begins(t, n, "test.after");
	if (begins(t, n, "def test") || begins(t, n, "async def test"))
		return true;
	if (begins(t, n, "func Test") || (begins(t, n, "func (") && contains(t, n, ") Test")))
		return true;
	return begins(t, n, "@Test") || begins(t, n, "@ParameterizedTest") ||
	       begins(t, n, "#[test]") || begins(t, n, "#[tokio::test") || begins(t, n, "#[rstest");
}

static const char *skip_marker(const char *t, size_t n)
{
	static const char *const plain[] = {
		".skip(",
		".skip.",
		".only(",
		".only.",
		"skip: true",
		"skip:true",
		"todo: true",
		".todo(",
		"@pytest.mark.skip",
		"@pytest.mark.xfail",
		"@unittest.skip",
		"pytest.skip(",
		".skipTest(",
		"SkipTest",
		".Skip(",
		".Skipf(",
		".SkipNow(",
		"@Disabled",
		"@Ignore",
		"#[ignore",
		NULL,
	};
	static const char *const words[] = {"xit(",	 "xdescribe(", "xtest(",
					    "xcontext(", "xspecify(",  NULL};

	if (comment_only(t, n) && !begins(t, n, "#["))
		return NULL;
	for (int k = 0; plain[k]; k++)
		if (contains(t, n, plain[k]))
			return plain[k];
	for (int k = 0; words[k]; k++)
		if (contains_word(t, n, words[k]))
			return words[k];
	return NULL;
}

static bool assertion(const char *t, size_t n, const char *path)
{
	size_t plen = strlen(path);

	if (comment_only(t, n) || begins(t, n, "import ") || begins(t, n, "from ") ||
	    begins(t, n, "use ") || contains(t, n, "require("))
		return false;
	if (nsh_vrf_memcasemem(t, n, "assert") || contains(t, n, "expect(") ||
	    contains(t, n, ".should") || contains(t, n, "t.Error") || contains(t, n, "t.Fatal") ||
	    contains(t, n, "pytest.raises") || contains_word(t, n, "verify("))
		return true;
	return plen > 3 && !strcmp(path + plen - 3, ".go") && contains_word(t, n, "require.");
}

static const char *suppression(const char *t, size_t n)
{
	static const char *const marks[] = {
		"eslint-disable",
		"@ts-ignore",
		"@ts-nocheck",
		"@ts-expect-error",
		"# noqa",
		"#noqa",
		"type: ignore",
		"pylint: disable",
		"nolint",
		"#[allow(",
		"#![allow(",
		"@SuppressWarnings",
		"istanbul ignore",
		"c8 ignore",
		"pragma: no cover",
		"NOSONAR",
		"# nosec",
		"rubocop:disable",
		NULL,
	};

	for (int k = 0; marks[k]; k++)
		if (contains(t, n, marks[k]))
			return marks[k];
	return NULL;
}

/* ---- literals of an assertion: its skeleton and its values ---- */

static void skeleton(const char *t, size_t n, struct nsh_buf *skel, struct nsh_buf *vals)
{
	nsh_buf_reset(skel);
	nsh_buf_reset(vals);
	for (size_t i = 0; i < n;) {
		char c = t[i];

		if (c == '"' || c == '\'' || c == '`') {
			size_t j = i + 1;

			while (j < n && t[j] != c)
				j += t[j] == '\\' ? 2 : 1;
			if (j > n)
				j = n;
			nsh_buf_adds(skel, "S");
			nsh_buf_add(vals, t + i, (j < n ? j + 1 : n) - i);
			nsh_buf_addch(vals, '\x1f');
			i = j + 1;
		} else if ((c >= '0' && c <= '9') &&
			   (i == 0 || !nsh_vrf_ident((unsigned char)t[i - 1]))) {
			size_t j = i;

			while (j < n &&
			       (nsh_vrf_alnum((unsigned char)t[j]) || t[j] == '.' || t[j] == '_'))
				j++;
			nsh_buf_adds(skel, "0");
			nsh_buf_add(vals, t + i, j - i);
			nsh_buf_addch(vals, '\x1f');
			i = j;
		} else {
			if (c != ' ' && c != '\t')
				nsh_buf_addch(skel, c);
			i++;
		}
	}
}

/* ---- configuration lines: key and value ---- */

struct kv {
	char key[KEY_BYTES];
	char val[VAL_BYTES];
};

/*
 * "key": value, key: value, key = value, --key=value, --key value: the
 * key (without quotes and leading dashes) and the raw value (quotes,
 * trailing ',' and ';' dropped). False for other lines.
 */
static bool key_value(const char *t, size_t n, struct kv *ret)
{
	size_t i = 0, ks, ke, vs;
	char q = 0;

	while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '{' || t[i] == ','))
		i++;
	while (i < n && t[i] == '-')
		i++;
	if (i < n && (t[i] == '"' || t[i] == '\''))
		q = t[i++];
	ks = i;
	while (i < n && (nsh_vrf_ident((unsigned char)t[i]) || t[i] == '-' || t[i] == '/' ||
			 t[i] == '@' || t[i] == '.'))
		i++;
	ke = i;
	if (ke == ks || ke - ks >= KEY_BYTES)
		return false;
	if (q) {
		if (i >= n || t[i] != q)
			return false;
		i++;
	}
	while (i < n && (t[i] == ' ' || t[i] == '\t'))
		i++;
	if (i >= n || (t[i] != ':' && t[i] != '=' && !(ks >= 2 && t[ks - 1] == '-')))
		return false;
	if (t[i] == ':' || t[i] == '=')
		i++;
	while (i < n && (t[i] == ' ' || t[i] == '\t'))
		i++;
	vs = i;
	while (n > vs && (t[n - 1] == ',' || t[n - 1] == ';' || t[n - 1] == ' '))
		n--;
	if (n - vs >= VAL_BYTES)
		n = vs + VAL_BYTES - 1;
	memcpy(ret->key, t + ks, ke - ks);
	ret->key[ke - ks] = '\0';
	memcpy(ret->val, t + vs, n - vs);
	ret->val[n - vs] = '\0';
	return true;
}

static bool key_is(const char *key, const char *const *names)
{
	for (int k = 0; names[k]; k++)
		if (!strcasecmp(key, names[k]))
			return true;
	return false;
}

static bool number_in(const char *v, double *ret)
{
	while (*v && !(*v >= '0' && *v <= '9'))
		v++;
	if (!*v)
		return false;
	*ret = strtod(v, NULL);
	return true;
}

/* ESLint severity of a rule value: 0 off, 1 warn, 2 error, -1 not a severity. */
static int severity(const char *v)
{
	while (*v == '[' || *v == ' ' || *v == '"' || *v == '\'')
		v++;
	if (!strncmp(v, "off", 3) || (*v == '0' && !(v[1] >= '0' && v[1] <= '9')))
		return 0;
	if (!strncmp(v, "warn", 4) || (*v == '1' && !(v[1] >= '0' && v[1] <= '9')))
		return 1;
	if (!strncmp(v, "error", 5) || (*v == '2' && !(v[1] >= '0' && v[1] <= '9')))
		return 2;
	return -1;
}

static bool truthy(const char *v)
{
	while (*v == '"' || *v == '\'' || *v == ' ')
		v++;
	return !strncasecmp(v, "true", 4) || !strncasecmp(v, "yes", 3) || !strcmp(v, "1");
}

/* Items of a list value ("E501,W503", ["E501", "W503"]) that @old lacks. */
static bool list_grew(const char *old, const char *now)
{
	const char *p = now;

	while (*p) {
		size_t n;
		char item[VAL_BYTES];

		p += strspn(p, " ,[]\"'\t");
		n = strcspn(p, " ,[]\"'\t");
		if (!n)
			break;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		if (!old)
			return true;
		{
			bool found = false;
			const char *q = old;

			while ((q = strstr(q, item))) {
				bool l = q == old || strchr(" ,[]\"'\t", q[-1]);
				bool r = !q[n] || strchr(" ,[]\"'\t", q[n]);

				if (l && r) {
					found = true;
					break;
				}
				q++;
			}
			if (!found)
				return true;
		}
	}
	return false;
}

/* ---- reporting ---- */

struct ictx {
	const struct nsh_verify_allow *allow;
	struct nsh_verify_findings *ret;
	const char *path;
};

static void emit(struct ictx *c, const char *rule, int line, const char *msg, const char *t,
		 size_t n, char side)
{
	char *ex = NULL;

	if (c->allow && nsh_verify_allowed(c->allow, c->path, rule, NULL))
		return;
	if (t) {
		n = n > 300 ? 300 : n;
		ex = nsh_xasprintf("%c %.*s", side, (int)n, t);
	}
	nsh_verify_findings_add(c->ret, NSH_VERIFY_KIND_INTEGRITY, NSH_VERIFY_ERROR, rule, c->path,
				line, msg, ex);
	free(ex);
}

/* ---- configuration files ---- */

static bool is_eslint_config(const char *base)
{
	return !strncmp(base, ".eslintrc", 9) || !strncmp(base, "eslint.config.", 14);
}

static bool is_js_cov_config(const char *base)
{
	return !strcmp(base, "package.json") || !strncmp(base, "jest.config", 11) ||
	       !strncmp(base, "vitest.config", 13) || !strncmp(base, "vite.config", 11) ||
	       !strncmp(base, ".nycrc", 6) || !strncmp(base, ".c8rc", 5) ||
	       !strncmp(base, "karma.conf", 10);
}

static bool is_py_lint_config(const char *base)
{
	static const char *const names[] = {
		".flake8",	  "setup.cfg",	"tox.ini",	 "pyproject.toml",
		"ruff.toml",	  ".ruff.toml", "mypy.ini",	 ".mypy.ini",
		".pylintrc",	  "pylintrc",	".golangci.yml", ".golangci.yaml",
		".golangci.toml", NULL};

	for (int k = 0; names[k]; k++)
		if (!strcmp(base, names[k]))
			return true;
	return false;
}

static bool is_config(const char *path)
{
	static const char *const ext[] = {".json", ".yml",  ".yaml",	   ".toml", ".cfg",
					  ".ini",  ".conf", ".properties", NULL};
	const char *base = nsh_vrf_basename(path);

	return has_ext(path, ext) || base[0] == '.' || !strcmp(base, "Makefile") ||
	       is_eslint_config(base) || is_js_cov_config(base);
}

static const char *const cov_keys_js[] = {"branches", "functions", "lines", "statements", NULL};
static const char *const cov_keys[] = {"fail_under",	    "fail-under",
				       "cov-fail-under",    "min_coverage",
				       "min-coverage",	    "coverage_threshold",
				       "coverageThreshold", "minimum_coverage",
				       "covermin",	    NULL};
static const char *const strict_keys[] = {
	"strict",
	"noImplicitAny",
	"strictNullChecks",
	"strictFunctionTypes",
	"noImplicitReturns",
	"noUnusedLocals",
	"noUnusedParameters",
	"noImplicitThis",
	"alwaysStrict",
	"noFallthroughCasesInSwitch",
	"noUncheckedIndexedAccess",
	"exactOptionalPropertyTypes",
	"check-coverage",
	"checkCoverage",
	"check_untyped_defs",
	"disallow_untyped_defs",
	"disallow_any_generics",
	"disallow_untyped_calls",
	"warn_return_any",
	"warn_unused_ignores",
	"no_implicit_optional",
	"strict_optional",
	NULL,
};
static const char *const ignore_keys[] = {
	"ignore",
	"extend-ignore",
	"extend_ignore",
	"per-file-ignores",
	"per_file_ignores",
	"disable",
	"ignore_errors",
	"ignore_missing_imports",
	"exclude",
	"extend-exclude",
	"extend_exclude",
	"ignorePatterns",
	"ignores",
	"skip-dirs",
	"skip-files",
	"exclude-rules",
	NULL,
};

struct cfgline {
	struct kv kv;
	int line;
	const char *t;
	size_t n;
	bool used;
};

static void config_file(struct ictx *c, const struct nsh_verify_dfile *f)
{
	const char *base = nsh_vrf_basename(c->path);
	bool eslint = is_eslint_config(base) || !strcmp(base, "package.json");
	bool jscov = is_js_cov_config(base);
	bool pylint = is_py_lint_config(base);
	bool tsconfig = !strncmp(base, "tsconfig", 8);
	struct cfgline *rem = nsh_xcalloc(f->nr + 1, sizeof(*rem));
	size_t nrem = 0;

	if (!strcmp(base, ".eslintignore")) {
		for (size_t k = 0; k < f->nr; k++) {
			size_t n = f->line[k].len;
			const char *t = nsh_vrf_trim(f->line[k].text, &n);

			if (f->line[k].side == '+' && n && t[0] != '#')
				emit(c, "lint-rule-loosened", f->line[k].new_line,
				     "files added to .eslintignore", t, n, '+');
		}
		free(rem);
		return;
	}
	for (size_t k = 0; k < f->nr; k++) {
		size_t n = f->line[k].len;
		const char *t = nsh_vrf_trim(f->line[k].text, &n);

		if (f->line[k].side == '-' && key_value(t, n, &rem[nrem].kv)) {
			rem[nrem].line = f->line[k].old_line;
			rem[nrem].t = t;
			rem[nrem].n = n;
			nrem++;
		}
	}
	for (size_t k = 0; k < f->nr; k++) {
		const struct nsh_verify_dline *l = &f->line[k];
		size_t n = l->len;
		const char *t = nsh_vrf_trim(l->text, &n);
		struct cfgline *old = NULL;
		struct kv kv;
		double a, b;
		int s0, s1;

		if (l->side != '+' || !key_value(t, n, &kv))
			continue;
		for (size_t r = 0; r < nrem; r++) {
			if (!rem[r].used && !strcmp(rem[r].kv.key, kv.key)) {
				old = &rem[r];
				old->used = true;
				break;
			}
		}
		if ((key_is(kv.key, cov_keys) || (jscov && key_is(kv.key, cov_keys_js))) && old &&
		    number_in(old->kv.val, &a) && number_in(kv.val, &b) && b < a) {
			emit(c, "coverage-threshold-lowered", l->new_line,
			     "coverage threshold lowered", t, n, '+');
			continue;
		}
		if (key_is(kv.key, strict_keys) && old && truthy(old->kv.val) && !truthy(kv.val)) {
			emit(c, "lint-rule-loosened", l->new_line,
			     "a strictness setting turned off", t, n, '+');
			continue;
		}
		if ((pylint || eslint || tsconfig) && key_is(kv.key, ignore_keys) &&
		    list_grew(old ? old->kv.val : NULL, kv.val)) {
			emit(c, "lint-rule-loosened", l->new_line, "more checks or files ignored",
			     t, n, '+');
			continue;
		}
		if (pylint && !strncasecmp(kv.key, "max", 3) && old && number_in(old->kv.val, &a) &&
		    number_in(kv.val, &b) && b > a) {
			emit(c, "lint-rule-loosened", l->new_line, "a lint limit raised", t, n,
			     '+');
			continue;
		}
		if (eslint && (s1 = severity(kv.val)) >= 0) {
			s0 = old ? severity(old->kv.val) : -1;
			if ((s0 > s1) || (s0 < 0 && s1 == 0 && !old))
				emit(c, "lint-rule-loosened", l->new_line,
				     s1 == 0 ? "a lint rule turned off" : "a lint rule made milder",
				     t, n, '+');
		}
	}
	/* what was removed without a replacement */
	for (size_t r = 0; r < nrem; r++) {
		struct cfgline *o = &rem[r];
		double a;

		if (o->used)
			continue;
		if ((key_is(o->kv.key, cov_keys) || (jscov && key_is(o->kv.key, cov_keys_js))) &&
		    number_in(o->kv.val, &a) && a > 0)
			emit(c, "coverage-threshold-lowered", o->line, "coverage threshold removed",
			     o->t, o->n, '-');
		else if (key_is(o->kv.key, strict_keys) && truthy(o->kv.val))
			emit(c, "lint-rule-loosened", o->line, "a strictness setting removed", o->t,
			     o->n, '-');
		else if (eslint && severity(o->kv.val) > 0)
			emit(c, "lint-rule-loosened", o->line, "a lint rule removed", o->t, o->n,
			     '-');
	}
	free(rem);
}

/* ---- test files ---- */

struct counted {
	const struct nsh_verify_dline *l;
	const char *t;
	size_t n;
};

/*
 * More removed than added: the removed lines that did not simply move
 * (come back unchanged elsewhere in the file) are reported, as many as
 * the surplus.
 */
static void surplus(struct ictx *c, const struct nsh_verify_dfile *f, struct counted *rem,
		    size_t nrem, size_t nadd, const char *rule, const char *msg)
{
	struct lineset added;
	size_t extra;
	bool *gone = nsh_xcalloc(nrem + 1, 1);

	lineset_build(&added, f, '+');
	for (size_t k = 0; k < nrem; k++)
		gone[k] = !moved(&added, rem[k].t, rem[k].n);
	extra = nrem > nadd ? nrem - nadd : 0;
	for (size_t k = 0; k < nrem && extra; k++) {
		if (!gone[k])
			continue;
		emit(c, rule, rem[k].l->old_line, msg, rem[k].t, rem[k].n, '-');
		extra--;
	}
	free(gone);
	lineset_release(&added);
}

static void test_file(struct ictx *c, const struct nsh_verify_dfile *f, const char *code_changed)
{
	struct counted *rdefs = nsh_xcalloc(f->nr + 1, sizeof(*rdefs));
	struct counted *rasserts = nsh_xcalloc(f->nr + 1, sizeof(*rasserts));
	size_t nrdefs = 0, nadefs = 0, nrasserts = 0, naasserts = 0;
	struct nsh_buf s1 = NSH_BUF_INIT, v1 = NSH_BUF_INIT, s2 = NSH_BUF_INIT, v2 = NSH_BUF_INIT;
	struct lineset set;
	const char *mark;

	lineset_build(&set, f, '-');
	for (size_t k = 0; k < f->nr; k++) {
		const struct nsh_verify_dline *l = &f->line[k];
		size_t n = l->len;
		const char *t = nsh_vrf_trim(l->text, &n);

		if (l->side == '-') {
			if (test_def(t, n))
				rdefs[nrdefs++] = (struct counted){l, t, n};
			if (assertion(t, n, c->path))
				rasserts[nrasserts++] = (struct counted){l, t, n};
			continue;
		}
		if (l->side != '+')
			continue;
		if (test_def(t, n))
			nadefs++;
		if (assertion(t, n, c->path))
			naasserts++;
		if ((mark = skip_marker(t, n)) && !moved(&set, t, n)) {
			char *msg = nsh_xasprintf("test skipped or focused ('%s' added)", mark);

			emit(c, "test-skipped", l->new_line, msg, t, n, '+');
			free(msg);
		}
	}
	/* removed tests and assertions: the surplus of removals, in order */
	surplus(c, f, rdefs, nrdefs, nadefs, "test-removed", "test removed");
	surplus(c, f, rasserts, nrasserts, naasserts, "assertion-removed", "assertion removed");
	/*
	 * Expected values changed, when code under test changed too: an
	 * assertion removed and one added in the same hunk that differ only in
	 * their literals. Lines that only moved are not pairs.
	 */
	if (code_changed) {
		struct lineset added, removed;

		lineset_build(&added, f, '+');
		lineset_build(&removed, f, '-');
		for (size_t k = 0; k < nrasserts; k++) {
			const struct counted *r = &rasserts[k];

			if (in_set(&added, r->t, r->n))
				continue;
			skeleton(r->t, r->n, &s1, &v1);
			for (size_t j = 0; j < f->nr; j++) {
				const struct nsh_verify_dline *a = &f->line[j];
				size_t n = a->len;
				const char *t;

				if (a->side != '+' || a->hunk != r->l->hunk)
					continue;
				t = nsh_vrf_trim(a->text, &n);
				if (!assertion(t, n, c->path) || in_set(&removed, t, n))
					continue;
				skeleton(t, n, &s2, &v2);
				if (s1.len && !strcmp(s1.buf, s2.buf) && strcmp(v1.buf, v2.buf)) {
					char *msg = nsh_xasprintf("expected value changed in an "
								  "assertion while '%s' changed",
								  code_changed);
					char *ex = nsh_xasprintf("- %.*s\n+ %.*s",
								 (int)(r->n > 200 ? 200 : r->n),
								 r->t, (int)(n > 200 ? 200 : n), t);

					if (!(c->allow &&
					      nsh_verify_allowed(c->allow, c->path,
								 "expected-value-changed", NULL)))
						nsh_verify_findings_add(
							c->ret, NSH_VERIFY_KIND_INTEGRITY,
							NSH_VERIFY_ERROR, "expected-value-changed",
							c->path, a->new_line, msg, ex);
					free(msg);
					free(ex);
					break;
				}
			}
		}
		lineset_release(&added);
		lineset_release(&removed);
	}
	nsh_buf_release(&s1);
	nsh_buf_release(&v1);
	nsh_buf_release(&s2);
	nsh_buf_release(&v2);
	lineset_release(&set);
	free(rdefs);
	free(rasserts);
}

void nsh_verify_check_integrity(const struct nsh_verify_diff *d,
				const struct nsh_verify_allow *allow,
				struct nsh_verify_findings *ret)
{
	const char *code_changed = NULL;
	struct ictx c = {.allow = allow, .ret = ret};

	for (size_t i = 0; i < d->nr && !code_changed; i++) {
		const struct nsh_verify_dfile *f = &d->file[i];
		const char *p = nsh_verify_dfile_path(f);

		if (f->nr && has_ext(p, source_ext) && !nsh_verify_is_test_path(p))
			code_changed = p;
	}
	for (size_t i = 0; i < d->nr; i++) {
		const struct nsh_verify_dfile *f = &d->file[i];
		const char *path = nsh_verify_dfile_path(f);
		bool is_test = nsh_verify_is_test_path(path);

		c.path = path;
		if (f->status == NSH_VERIFY_FILE_DELETED) {
			if (is_test)
				emit(&c, "test-file-deleted", 0, "test file deleted", NULL, 0, 0);
			continue;
		}
		if (f->binary)
			continue;
		if (has_ext(path, source_ext)) {
			struct lineset set;

			/* inline suppressions in any source file */
			lineset_build(&set, f, '-');
			for (size_t k = 0; k < f->nr; k++) {
				const struct nsh_verify_dline *l = &f->line[k];
				size_t n = l->len;
				const char *t = nsh_vrf_trim(l->text, &n);
				const char *m;

				if (l->side == '+' && (m = suppression(t, n)) &&
				    !moved(&set, t, n)) {
					char *msg = nsh_xasprintf("lint or coverage suppressed "
								  "('%s' added)",
								  m);

					emit(&c, "lint-rule-loosened", l->new_line, msg, t, n, '+');
					free(msg);
				}
			}
			lineset_release(&set);
			if (is_test || (is_rust(path)))
				test_file(&c, f, is_test ? code_changed : NULL);
		}
		if (is_config(path) && !has_ext(path, source_ext))
			config_file(&c, f);
		else if (is_eslint_config(nsh_vrf_basename(path)) ||
			 is_js_cov_config(nsh_vrf_basename(path)))
			config_file(&c, f); /* eslint.config.js, jest.config.js */
	}
}
