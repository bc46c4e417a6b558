/*
 * The lodash 3 to 4 recipe (recipes/lodash-3-to-4.yml) against its golden
 * files in tests/recipe/lodash/: NAME.in.js (or .ts) is the input, NAME.out.js
 * the expected output byte for byte, NAME.review the expected needs-review
 * items ("LINE RULE" per line; no file: none). A first line
 * "// choices: C=ALT ..." picks alternatives; a line "// not idempotent: why"
 * skips the check that a second run changes nothing. Every rule of the
 * recipe must fire (change or review) in at least one golden file.
 *
 * Also the two engine features the recipe needs: named bindings (members
 * imported by name) and local packages (file: dependencies, workspaces) in
 * the applies check and the manifest edits.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/vec.h"
#include "recipe/recipe.h"
#include "test.h"

static char *tmp;

static const char *top(void)
{
	const char *t = getenv("NSH_TOP");

	return t && *t ? t : ".";
}

/* The contents of @path, or NULL when it cannot be read. */
static char *slurp(const char *path)
{
	struct nsh_buf b = NSH_BUF_INIT;

	if (nsh_fs_read_file(path, &b, 1 << 20, NULL)) {
		nsh_buf_release(&b);
		return NULL;
	}
	return nsh_buf_detach(&b, NULL);
}

static void put(const char *rel, const char *text)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *path = nsh_xasprintf("%s/%s", tmp, rel), *slash = strrchr(path, '/');

	*slash = '\0';
	if (nsh_fs_mkdir_p(path, 0755, &err))
		abort();
	*slash = '/';
	if (nsh_fs_write_atomic(path, text, strlen(text), 0644, &err))
		abort();
	free(path);
}

static char *get(const char *rel)
{
	char *path = nsh_xasprintf("%s/%s", tmp, rel), *s = slurp(path);

	free(path);
	return s ? s : nsh_xstrdup("");
}

#define CHECK_FILE(rel, want) \
 do {                         \
  char *got_f_ = get(rel);    \
  CHECK_STR(got_f_, (want));  \
  free(got_f_);               \
 } while (0)

/* Print the first line where @got and @want differ. */
static void show_diff(const char *name, const char *got, const char *want)
{
	unsigned line = 1;

	while (*got && *got == *want) {
		line += *got == '\n';
		got++;
		want++;
	}
	fprintf(stderr, "%s:%u: got:  %.*s\n%s:%u: want: %.*s\n", name, line,
		(int)strcspn(got, "\n"), got, name, line, (int)strcspn(want, "\n"), want);
}

/* The alternatives a golden input's first line picks ("// choices: a=b c=d"). */
static size_t choices_of(const char *text, struct nsh_strvec *words, struct nsh_recipe_pick *picks,
			 size_t max)
{
	const char *head = "// choices: ";
	size_t n = 0;
	char *line, *save = NULL;

	if (strncmp(text, head, strlen(head)))
		return 0;
	line = nsh_xstrndup(text + strlen(head), strcspn(text + strlen(head), "\n"));
	for (char *w = strtok_r(line, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');

		if (!eq)
			continue;
		*eq = '\0';
		picks[n].choice = nsh_strvec_push(words, w);
		picks[n].alt = nsh_strvec_push(words, eq + 1);
		n++;
	}
	free(line);
	return n;
}

/* Run one golden case; add the rules that fired to @fired. */
static void golden(const struct nsh_recipe *r, const char *gdir, const char *in_name,
		   struct nsh_strvec *fired)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_strvec words = NSH_STRVEC_INIT;
	struct nsh_recipe_pick picks[4];
	struct nsh_recipe_options o = {0};
	struct nsh_recipe_result res = {0};
	struct nsh_buf reviews = NSH_BUF_INIT;
	const char *dot = strstr(in_name, ".in.");
	char *base = nsh_xstrndup(in_name, (size_t)(dot - in_name)), *ext = nsh_xstrdup(dot + 4);
	char *in_path = nsh_xasprintf("%s/%s", gdir, in_name);
	char *out_path = nsh_xasprintf("%s/%s.out.%s", gdir, base, ext);
	char *rev_path = nsh_xasprintf("%s/%s.review", gdir, base);
	char *as = nsh_xasprintf("%s.%s", base, ext);
	char *in = slurp(in_path), *want = slurp(out_path), *want_rev = slurp(rev_path);
	char *got = NULL, *again = NULL;
	size_t len = 0, len2 = 0;

	fprintf(stderr, "   %s\n", in_name);
	CHECK(in != NULL && want != NULL);
	if (!in || !want)
		goto out;
	o.picks = picks;
	o.npicks = choices_of(in, &words, picks, 4);
	CHECK_INT(nsh_recipe_apply_text(r, as, in, strlen(in), &o, &res, &got, &len, &err), 0);
	if (!got)
		goto out;
	if (strcmp(got, want))
		show_diff(out_path, got, want);
	CHECK_STR(got, want);
	for (size_t i = 0; i < res.nchanges; i++)
		if (nsh_strvec_find(fired, res.changes[i].rule) < 0)
			nsh_strvec_push(fired, res.changes[i].rule);
	for (size_t i = 0; i < res.nreviews; i++) {
		nsh_buf_addf(&reviews, "%u %s\n", res.reviews[i].line, res.reviews[i].rule);
		if (nsh_strvec_find(fired, res.reviews[i].rule) < 0)
			nsh_strvec_push(fired, res.reviews[i].rule);
	}
	CHECK_STR(reviews.len ? reviews.buf : "", want_rev ? want_rev : "");
	CHECK_INT(res.nwarnings, 0);
	nsh_recipe_result_release(&res);
	/* a second run finds nothing more to rewrite */
	if (!strstr(in, "// not idempotent: ")) {
		CHECK_INT(nsh_recipe_apply_text(r, as, got, len, &o, &res, &again, &len2, &err), 0);
		CHECK_INT(res.nchanges, 0);
		CHECK(again && !strcmp(again, got));
	}
out:
	nsh_recipe_result_release(&res);
	nsh_strvec_release(&words);
	nsh_buf_release(&reviews);
	free(base);
	free(ext);
	free(in_path);
	free(out_path);
	free(rev_path);
	free(as);
	free(in);
	free(want);
	free(want_rev);
	free(got);
	free(again);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every golden file, and every rule fires in one of them. */
static void test_golden(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = NULL;
	struct nsh_strvec names = NSH_STRVEC_INIT, fired = NSH_STRVEC_INIT;
	char *path = nsh_xasprintf("%s/recipes/lodash-3-to-4.yml", top());
	char *gdir = nsh_xasprintf("%s/tests/recipe/lodash", top());
	struct dirent *de;
	DIR *d;

	if (nsh_recipe_load(path, "shipped", &r, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		CHECK(!"the lodash recipe loads");
		goto out;
	}
	CHECK_STR(r->id, "lodash-3-to-4");
	d = opendir(gdir);
	CHECK(d != NULL);
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".in.js") || strstr(de->d_name, ".in.ts"))
			nsh_strvec_push(&names, de->d_name);
	if (d)
		closedir(d);
	qsort(names.v, names.nr, sizeof(char *), name_cmp);
	CHECK(names.nr >= 10);
	for (size_t i = 0; i < names.nr; i++)
		golden(r, gdir, names.v[i], &fired);
	for (size_t i = 0; i < r->nrules; i++) {
		if (nsh_strvec_find(&fired, r->rules[i].id) < 0)
			fprintf(stderr, "rule '%s' fires in no golden file\n", r->rules[i].id);
		CHECK(nsh_strvec_find(&fired, r->rules[i].id) >= 0);
	}
out:
	nsh_strvec_release(&names);
	nsh_strvec_release(&fired);
	nsh_recipe_free(r);
	free(path);
	free(gdir);
}

/* What the orchestrator relies on: id, applies, bump, lock refresh, classes, choice order. */
static void test_shape(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = NULL;
	char *path = nsh_xasprintf("%s/recipes/lodash-3-to-4.yml", top());

	if (nsh_recipe_load(path, "shipped", &r, &err)) {
		CHECK(!"the lodash recipe loads");
		goto out;
	}
	CHECK(r->has_applies);
	CHECK_STR(r->dependency, "lodash");
	CHECK_STR(r->range, "<4.0.0");
	CHECK_INT(r->nmops, 1);
	CHECK(r->mops[0].op == NSH_RECIPE_OP_BUMP);
	CHECK_STR(r->mops[0].to, "4.18.1");
	CHECK_INT(r->npost, 2);
	CHECK_STR(r->post[0].when, "package-lock.json");
	CHECK(r->post[0].run.nr >= 4);
	CHECK_STR(r->post[0].run.v[0], "npm");
	CHECK(nsh_strvec_find(&r->post[0].run, "--package-lock-only") >= 0);
	CHECK(nsh_strvec_find(&r->post[0].run, "--ignore-scripts") >= 0);
	/* then npm's record of node_modules goes, or npm install keeps lodash 3 */
	if (r->npost == 2) {
		CHECK_STR(r->post[1].when, "node_modules/.package-lock.json");
		CHECK_STR(r->post[1].run.v[0], "rm");
	}
	for (size_t i = 0; i < r->nrules; i++) {
		if (!r->rules[i].klass)
			fprintf(stderr, "rule '%s' has no class\n", r->rules[i].id);
		CHECK(r->rules[i].klass != NULL);
	}
	/* the first retry tries extend-style=assign, the second contains-style=native */
	CHECK_INT(r->nchoices, 2);
	if (r->nchoices == 2) {
		CHECK_STR(r->choices[0].id, "extend-style");
		CHECK_STR(r->choices[0].def, "assignIn");
		CHECK_STR(r->choices[0].alts[1].id, "assign");
		CHECK_STR(r->choices[1].id, "contains-style");
		CHECK_STR(r->choices[1].def, "lodash");
		CHECK_STR(r->choices[1].alts[1].id, "native");
		CHECK(r->choices[1].alts[1].assumption != NULL);
	}
out:
	nsh_recipe_free(r);
	free(path);
}

static struct nsh_recipe *parse(const char *yaml)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = NULL;

	if (nsh_recipe_parse(yaml, strlen(yaml), "t.yml", NULL, &r, &err))
		fprintf(stderr, "%s\n", err.msg);
	return r;
}

/* Apply @r to @text as file @as; the new text (caller frees). */
static char *run_text(const struct nsh_recipe *r, const char *as, const char *text,
		      struct nsh_recipe_result *res)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_options o = {0};
	char *out = NULL;
	size_t len = 0;

	if (nsh_recipe_apply_text(r, as, text, strlen(text), &o, res, &out, &len, &err))
		fprintf(stderr, "%s\n", err.msg);
	return out;
}

#define NAMED_HEAD                                      \
 "id: t\ntitle: T\n"                                    \
 "bind:\n  f: {modules: [m], named: true}\n"            \
 "rules:\n"                                             \
 "  - id: a\n    languages: [javascript, typescript]\n" \
 "    match: \":[[f]]\"\n    rewrite: A\n"              \
 "    where:\n      f: {equals: [a, b, d, e, g, i, k]}\n"

static void test_named_binding(void)
{
	struct nsh_recipe *r = parse(NAMED_HEAD);
	static const struct {
		const char *as, *in, *want;
	} cases[] = {
		/* shorthand and defaults are renamed with every use; renamed members are not */
		{"x.js", "const { a, b: c, d = 1 } = require('m');\na(c(d), a);\n",
		 "const { A, b: c, A = 1 } = require('m');\nA(c(A), A);\n"},
		/* other modules, properties, strings and comments are not the import */
		{"x.js", "const { a } = require('n');\na(o.a, 'a'); // a\n",
		 "const { a } = require('n');\na(o.a, 'a'); // a\n"},
		{"x.js", "var {a} = require(\"m\");\nx = y.a + a;\n",
		 "var {A} = require(\"m\");\nx = y.a + A;\n"},
		/* ES imports: plain, renamed, after a default */
		{"x.ts", "import { e, g as h } from 'm';\nimport k, { i } from 'm';\ne(h, i, k);\n",
		 "import { A, g as h } from 'm';\nimport k, { A } from 'm';\nA(h, A, k);\n"},
		/* an object key or shorthand property of the same name: nothing renamed */
		{"x.js", "const { a, b } = require('m');\na({ a: 1 });\nb();\nexport { b };\n",
		 "const { a, b } = require('m');\na({ a: 1 });\nb();\nexport { b };\n"},
		{"x.js", "const { a } = require('m');\nmodule.exports = { x, a, y };\n",
		 "const { a } = require('m');\nmodule.exports = { x, a, y };\n"},
		/* a call argument, an array element, a ternary are uses */
		{"x.js", "const { a } = require('m');\nf(x, a, y);\n[x, a, y];\nq ? a : x;\n",
		 "const { A } = require('m');\nf(x, A, y);\n[x, A, y];\nq ? A : x;\n"},
		/* the new name is taken already: renaming would clash, nothing is renamed */
		{"x.js", "const { a } = require('m');\nconst A = 1;\na(A);\n",
		 "const { a } = require('m');\nconst A = 1;\na(A);\n"},
		{"x.js", "const { a, A } = require('m');\na(A);\n",
		 "const { a, A } = require('m');\na(A);\n"},
		/* a property called A is no clash */
		{"x.js", "const { a } = require('m');\na(o.A);\n",
		 "const { A } = require('m');\nA(o.A);\n"},
		/* nothing imported by name: the hole matches nowhere */
		{"x.js", "const m = require('m');\na(m.a);\n",
		 "const m = require('m');\na(m.a);\n"},
	};

	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(r->binds[0].named);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nsh_recipe_result res = {0};
		char *got = run_text(r, cases[i].as, cases[i].in, &res);

		CHECK_STR(got, cases[i].want);
		free(got);
		nsh_recipe_result_release(&res);
	}
	nsh_recipe_free(r);
	/* a named binding has no default names */
	r = parse("id: t\ntitle: T\nbind:\n  f: {modules: [m], named: true, names: [x]}\n"
		  "rules:\n  - {id: a, languages: js, match: \":[[f]]\"}\n");
	CHECK(r == NULL);
	nsh_recipe_free(r);
}

/*
 * A regex constraint on a long hole is checked after the rest of the
 * template matched (for speed): the matches are the same as for a short
 * one, and the bindings the rest made for a rejected length are undone.
 */
static void test_long_regex_hole(void)
{
	struct nsh_recipe *r = parse("id: t\ntitle: T\nrules:\n"
				     "  - id: a\n    languages: [javascript]\n"
				     "    match: \"start :[a] mid :[[w]] end\"\n"
				     "    rewrite: \"W=:[[w]]\"\n"
				     "    where:\n      a: {regex: '.*Z'}\n");

	CHECK(r != NULL);
	if (!r)
		return;
	for (int n = 5; n <= 500; n += 495) {
		struct nsh_buf in = NSH_BUF_INIT, bad = NSH_BUF_INIT;
		struct nsh_recipe_result res = {0};
		char *got;

		/* the first "mid q end" leaves a without its Z: the second one matches */
		nsh_buf_adds(&in, "start ");
		for (int i = 0; i < n; i++)
			nsh_buf_adds(&in, "x ");
		nsh_buf_adds(&bad, in.buf);
		nsh_buf_adds(&in, "mid q end y Z mid r end;\n");
		got = run_text(r, "x.js", in.buf, &res);
		CHECK_STR(got, "W=r;\n");
		free(got);
		nsh_recipe_result_release(&res);
		/* no Z at all: no match */
		nsh_buf_adds(&bad, "mid q end y mid r end;\n");
		got = run_text(r, "x.js", bad.buf, &res);
		CHECK_STR(got, bad.buf);
		CHECK_INT(res.nchanges, 0);
		free(got);
		nsh_recipe_result_release(&res);
		nsh_buf_release(&in);
		nsh_buf_release(&bad);
	}
	nsh_recipe_free(r);
}

#define LOCAL_RECIPE                                  \
 "id: t\ntitle: T\n"                                  \
 "applies: {dependency: lodash, range: \"<4.0.0\"}\n" \
 "manifest:\n  - {bump: lodash, to: 4.18.1}\n"        \
 "rules:\n  - {id: a, languages: js, match: \"_.pluck(\", rewrite: \"_.map(\"}\n"

static int apply_dir(const struct nsh_recipe *r, bool dry, struct nsh_recipe_result *res)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_options o = {.dry_run = dry};
	int rc = nsh_recipe_apply(r, tmp, &o, res, &err);

	if (rc)
		fprintf(stderr, "%s\n", err.msg);
	return rc;
}

static void test_local_packages(void)
{
	struct nsh_recipe *r = parse(LOCAL_RECIPE);
	struct nsh_recipe_result res = {0};
	const char *root = "{\n  \"name\": \"svc\",\n  \"dependencies\": {\n"
			   "    \"@o/utils\": \"file:vendor/utils\",\n"
			   "    \"@o/far\": \"file:../elsewhere\"\n  },\n"
			   "  \"workspaces\": [\"packages/*\", \"tools\"]\n}\n";

	CHECK(r != NULL);
	if (!r)
		return;
	put("package.json", root);
	put("vendor/utils/package.json", "{\"dependencies\": {\"lodash\": \"^3.10.1\"}}\n");
	put("vendor/utils/index.js", "_.pluck(a, 'b');\n");
	put("packages/p1/package.json", "{\"devDependencies\": {\"lodash\": \"~3.9.0\"}}\n");
	put("packages/p2/package.json", "{\"dependencies\": {\"lodash\": \"^4.17.21\"}}\n");
	put("tools/package.json", "{\"dependencies\": {\"left-pad\": \"1.0.0\"}}\n");
	put("test/fixture/package.json", "{\"dependencies\": {\"lodash\": \"3.0.0\"}}\n");

	/* a dry run says what it would do and writes nothing */
	CHECK_INT(apply_dir(r, true, &res), 0);
	CHECK(res.applicable);
	CHECK(res.reason && strstr(res.reason, "local package packages/p1/package.json"));
	CHECK_INT(res.nmedits, 2);
	CHECK_FILE("vendor/utils/package.json", "{\"dependencies\": {\"lodash\": \"^3.10.1\"}}\n");
	nsh_recipe_result_release(&res);

	CHECK_INT(apply_dir(r, false, &res), 0);
	CHECK_INT(res.nmedits, 2);
	if (res.nmedits == 2) {
		CHECK_STR(res.medits[0].file, "packages/p1/package.json");
		CHECK_STR(res.medits[0].section, "devDependencies");
		CHECK_STR(res.medits[0].to, "~4.18.1");
		CHECK_STR(res.medits[1].file, "vendor/utils/package.json");
		CHECK_STR(res.medits[1].to, "^4.18.1");
	}
	CHECK_FILE("package.json", root);
	CHECK_FILE("vendor/utils/package.json", "{\"dependencies\": {\"lodash\": \"^4.18.1\"}}\n");
	CHECK_FILE("vendor/utils/index.js", "_.map(a, 'b');\n");
	CHECK_FILE("packages/p2/package.json", "{\"dependencies\": {\"lodash\": \"^4.17.21\"}}\n");
	/* not a local package of the root: a fixture is left alone */
	CHECK_FILE("test/fixture/package.json", "{\"dependencies\": {\"lodash\": \"3.0.0\"}}\n");
	nsh_recipe_result_release(&res);

	/* the second run finds nothing within the range: it does not apply */
	CHECK_INT(apply_dir(r, false, &res), 0);
	CHECK(!res.applicable);
	CHECK_INT(res.nmedits, 0);
	nsh_recipe_result_release(&res);

	/* the root's own lodash 3 is bumped along with the local packages */
	put("package.json",
	    "{\"dependencies\": {\"lodash\": \"^3.10.1\", \"u\": \"file:./vendor/u/\"}}");
	put("vendor/u/package.json", "{\"dependencies\": {\"lodash\": \"3.10.1\"}}");
	CHECK_INT(apply_dir(r, false, &res), 0);
	CHECK(res.applicable);
	CHECK_INT(res.nmedits, 2);
	CHECK_FILE("package.json", "{\"dependencies\": {\"lodash\": \"^4.18.1\", \"u\": "
				   "\"file:./vendor/u/\"}}");
	CHECK_FILE("vendor/u/package.json", "{\"dependencies\": {\"lodash\": \"4.18.1\"}}");
	nsh_recipe_result_release(&res);
	nsh_recipe_free(r);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	tmp = t_tmpdir();
	RUN(test_golden);
	RUN(test_shape);
	RUN(test_named_binding);
	RUN(test_long_regex_hole);
	RUN(test_local_packages);
	nsh_fs_remove_tree(tmp, &err);
	free(tmp);
	return TEST_DONE();
}
