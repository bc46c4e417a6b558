/*
 * Recipes: loading (strictness and the positions in errors), choices,
 * semantic version ranges and the applies check, package.json edits that
 * keep the file's layout, applying a whole recipe to a tree (idempotence,
 * needs-review items with lines, layers of edits, bindings, walking rules),
 * the catalog and the pull-request body.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/vec.h"
#include "recipe/recipe.h"
#include "recipe/recipe_int.h"
#include "test.h"

static char *dir;

static void put(const char *rel, const char *text)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *path = nsh_xasprintf("%s/%s", dir, rel), *slash = strrchr(path, '/');

	*slash = '\0';
	if (nsh_fs_mkdir_p(path, 0755, &err))
		abort();
	*slash = '/';
	if (nsh_fs_write_atomic(path, text, strlen(text), 0644, &err))
		abort();
	free(path);
}

/* The contents of @rel under the test directory ("" when missing). */
static char *get(const char *rel)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/%s", dir, rel);

	nsh_fs_read_file(path, &b, 1 << 20, NULL);
	free(path);
	return nsh_buf_detach(&b, NULL);
}

#define CHECK_FILE(rel, want) \
 do {                         \
  char *got_f_ = get(rel);    \
  CHECK_STR(got_f_, (want));  \
  free(got_f_);               \
 } while (0)

static struct nsh_recipe *parse(const char *yaml, struct nsh_err *err)
{
	struct nsh_recipe *r = NULL;

	if (nsh_recipe_parse(yaml, strlen(yaml), "t.yml", NULL, &r, err))
		return NULL;
	return r;
}

/* Parse @yaml, which must fail with a message containing @want. */
static void check_error(const char *yaml, const char *want)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = parse(yaml, &err);

	CHECK(r == NULL);
	if (!strstr(err.msg, want))
		fprintf(stderr, "want '%s' in '%s'\n", want, err.msg);
	CHECK(strstr(err.msg, want) != NULL);
	nsh_recipe_free(r);
}

#define HEAD "id: t\ntitle: T\n"

static void test_load_errors(void)
{
	check_error(HEAD "rulez: []\n",
		    "t.yml:3:1: unknown key 'rulez' in the recipe (expected id");
	check_error(HEAD "title: again\n", "t.yml:3:1: duplicate key 'title'");
	check_error("title: T\n", "t.yml:1:1: the recipe needs 'id'");
	check_error(HEAD "rules:\n  - id: a\n    languages: [javascript]\n    mach: x\n",
		    "t.yml:6:5: unknown key 'mach' in a rule");
	check_error(HEAD "rules:\n  - id: a\n    languages: [cobol]\n    match: x\n",
		    "t.yml:5:16: rule 'a': unknown language 'cobol'");
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: \":[x].y\"\n",
		    "t.yml:6:12: rule 'a': match template starts with hole ':[x]'");
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: f(:[x])\n"
			 "    rewrite: g(:[y])\n",
		    "hole ':[y]' is not in the match template");
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: f(:[x])\n"
			 "    where:\n      y: {is: function}\n",
		    "t.yml:8:7: rule 'a': 'where' names hole 'y'");
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: f(:[x])\n"
			 "    where:\n      x: {is: lambda}\n",
		    "unknown class 'lambda'");
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: f(:[x])\n"
			 "    where:\n      x: {regex: \"(\"}\n",
		    "bad regex '('");
	/* glibc would ask for gigabytes to compile this; it is refused first */
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: f(:[x])\n"
			 "    where:\n      x: {regex: \"((a{255}){255}){255}\"}\n",
		    "expand to more than 2000 positions");
	check_error(HEAD "rules:\n  - id: a\n    languages: js\n    match: f(:[x])\n"
			 "    silent: yes\n",
		    "t.yml:7:13: 'silent' must be true or false");
	check_error(HEAD "rules:\n  - &r {id: a, languages: js, match: f}\n",
		    "YAML anchors are not supported");
	check_error(HEAD "applies: {dependency: lodash, range: \"banana\"}\n",
		    "'banana' is not a version range");
	check_error(HEAD "manifest:\n  - bump: lodash\n", "'bump' needs 'to'");
	check_error(HEAD "manifest:\n  - bump: lodash\n    remove: x\n    to: 1.0.0\n",
		    "exactly one of bump, rename, add, remove");
	check_error(HEAD "rules:\n  - {id: a, languages: js, match: f}\n"
			 "choices:\n  - id: c\n    description: d\n    default: x\n"
			 "    alternatives:\n      - {id: x, description: d, enable: [b]}\n"
			 "      - {id: y, description: d}\n",
		    "'enable' names rule 'b', which the recipe does not have");
	check_error(HEAD "rules:\n  - {id: a, languages: js, match: f}\n"
			 "choices:\n  - id: c\n    description: d\n    default: z\n"
			 "    alternatives:\n      - {id: x, description: d}\n"
			 "      - {id: y, description: d}\n",
		    "default 'z' is not one of its alternatives");
	check_error(HEAD "rules:\n  - {id: a, languages: js, match: f}\n"
			 "  - {id: a, languages: js, match: g}\n",
		    "t.yml:5:5: two rules are called 'a'");
	check_error(HEAD "bind:\n  lib: {modules: [lodash]}\n", "no rule has a hole named 'lib'");
	check_error(HEAD "---\nid: u\n", "one YAML document");
	check_error(HEAD "rules: [\n", "invalid YAML");
	check_error(HEAD "post:\n  - {id: p, run: npm}\n", "'run' must be a non-empty list");
	check_error(HEAD "rules:\n  - {id: a, languages: text, match: f}\n",
		    "language 'text' needs 'files' globs");
	{
		/* the id must match the file name */
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_recipe *r = NULL;
		const char *y = HEAD;

		CHECK(nsh_recipe_parse(y, strlen(y), "x/other.yml", "other", &r, &err) ==
		      NSH_EINVAL);
		CHECK(strstr(err.msg, "recipe id 't' does not match its file name 'other'") !=
		      NULL);
	}
}

static const char *full =
	HEAD "description: a test recipe\n"
	     "applies:\n  dependency: lodash\n  range: \">=3.0.0 <4.0.0\"\n"
	     "manifest:\n  - bump: lodash\n    to: 4.18.1\n"
	     "bind:\n  lib:\n    modules: [lodash]\n    names: [_]\n"
	     "where:\n  p: {is: string}\n"
	     "rules:\n"
	     "  - id: pluck\n    languages: [javascript]\n"
	     "    match: \":[[lib]].pluck(:[c:arg], :[p:arg])\"\n"
	     "    rewrite: \":[[lib]].map(:[c], :[p])\"\n    class: removed\n"
	     "  - id: contains\n    languages: [javascript]\n"
	     "    match: \":[[lib]].contains(\"\n    rewrite: \":[[lib]].includes(\"\n"
	     "  - id: contains-native\n    languages: [javascript]\n"
	     "    match: \":[[lib]].contains(:[a:arg], :[x:arg])\"\n"
	     "    rewrite: \":[a].includes(:[x])\"\n"
	     "  - id: find-this\n    languages: [javascript]\n"
	     "    match: \":[[lib]].find(:[c:arg], :[f:arg], this)\"\n"
	     "    rewrite: \":[[lib]].find(:[c], :[f].bind(this))\"\n"
	     "    where:\n      f: {is: function}\n    silent: true\n"
	     "  - id: find-third\n    languages: [javascript]\n"
	     "    match: \":[[lib]].find(:[c:arg], :[f:arg], :[n:arg])\"\n"
	     "    note: the third argument is fromIndex in lodash 4\n"
	     "  - id: paths\n    languages: [javascript]\n    in: string\n"
	     "    match: \"lodash/:[cat]/:[m]\"\n    rewrite: \"lodash/:[m]\"\n"
	     "    where:\n      cat: {regex: \"array|collection|object\"}\n"
	     "choices:\n  - id: contains-style\n    description: how to replace contains\n"
	     "    default: lodash\n    alternatives:\n"
	     "      - {id: lodash, description: _.includes, enable: [contains]}\n"
	     "      - id: native\n        description: native includes\n"
	     "        keywords: [native]\n        enable: [contains-native]\n"
	     "        assumption: the collection is an array or a string\n"
	     "post:\n  - {id: touch, run: [sh, -c, \"echo > post.txt\"], when: package-lock.json}\n"
	     "pr:\n  title: Upgrade lodash\n  body: Moves to lodash 4.\n";

static void test_load_full(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = parse(full, &err);
	const struct nsh_recipe_rule *ru;

	if (!r)
		fprintf(stderr, "%s\n", err.msg);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_STR(r->id, "t");
	CHECK(r->has_applies);
	CHECK_STR(r->range, ">=3.0.0 <4.0.0");
	CHECK_INT(r->nrules, 6);
	CHECK_INT(r->nchoices, 1);
	CHECK_INT(r->choices[0].nalts, 2);
	CHECK_INT(r->nmops, 1);
	CHECK_INT(r->npost, 1);
	ru = nsh_recipe_rule_find(r, "find-third");
	CHECK(ru && !ru->rewrite && ru->note);
	/* the recipe-wide constraint reached the rules with a hole 'p' only */
	ru = nsh_recipe_rule_find(r, "pluck");
	CHECK(ru && ru->nwhere == 1 && !strcmp(ru->where[0].hole, "p"));
	CHECK_INT(nsh_recipe_rule_find(r, "contains")->nwhere, 0);
	nsh_recipe_free(r);
}

static void test_semver(void)
{
	static const struct {
		const char *v, *range;
		bool want;
	} sat[] = {
		{"3.10.1", ">=3.0.0 <4.0.0", true},
		{"4.0.0", ">=3.0.0 <4.0.0", false},
		{"3.0.0", "^3.0.0", true},
		{"4.0.0", "^3.0.0", false},
		{"0.2.5", "^0.2.3", true},
		{"0.3.0", "^0.2.3", false},
		{"1.2.9", "~1.2.3", true},
		{"1.3.0", "~1.2.3", false},
		{"3.99.0", "3.x", true},
		{"3.5.0", "3", true},
		{"2.0.0", "1.2 - 2.0", true},
		{"2.1.0", "1.2 - 2.0", false},
		{"4.18.0", ">=4.0.0 <4.18.1", true},
		{"4.18.1", ">=4.0.0 <4.18.1", false},
		{"5.0.0", "^3 || ^5", true},
		{"4.0.0", "^3 || ^5", false},
		{"1.0.0-rc.1", "<1.0.0", true},
		{"2.0.0", "*", true},
		{"1.2.3", "=1.2.3", true},
		{"1.2.4", ">1.2", false},
	};
	static const struct {
		const char *range, *min;
	} mins[] = {
		{"^3.10.1", "3.10.1"}, {"~3.5", "3.5.0"},	{"3.x", "3.0.0"},
		{">=2 <5", "2.0.0"},   {"^4 || ^3.1", "3.1.0"}, {">3.1.1", "3.1.2"},
		{"*", NULL},	       {"latest", NULL},	{"<4", NULL},
	};
	static const struct {
		const char *old, *to, *want;
	} bumps[] = {
		{"^3.10.1", "4.18.1", "^4.18.1"}, {"~3.10.1", "4.18.1", "~4.18.1"},
		{"3.10.1", "4.18.1", "4.18.1"},	  {">=3 <4", "4.18.1", "^4.18.1"},
		{"^3.0.0", "~4.1.0", "~4.1.0"},	  {"3.x", "4.18.1", "^4.18.1"},
	};

	for (size_t i = 0; i < sizeof(sat) / sizeof(sat[0]); i++) {
		struct nsh_semver v;

		CHECK(nsh_semver_parse(sat[i].v, &v));
		if (nsh_semver_satisfies(&v, sat[i].range) != sat[i].want)
			fprintf(stderr, "satisfies(%s, %s) != %d\n", sat[i].v, sat[i].range,
				sat[i].want);
		CHECK(nsh_semver_satisfies(&v, sat[i].range) == sat[i].want);
	}
	for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++) {
		struct nsh_semver v;
		bool ok = nsh_semver_range_min(mins[i].range, &v);

		CHECK(ok == (mins[i].min != NULL));
		if (ok && mins[i].min) {
			char *got = nsh_xasprintf("%ld.%ld.%ld", v.major, v.minor, v.patch);

			CHECK_STR(got, mins[i].min);
			free(got);
		}
	}
	for (size_t i = 0; i < sizeof(bumps) / sizeof(bumps[0]); i++) {
		char *got = nsh_semver_bump(bumps[i].old, bumps[i].to);

		CHECK_STR(got, bumps[i].want);
		free(got);
	}
	CHECK(!nsh_semver_range_valid("banana"));
	CHECK(!nsh_semver_range_valid(""));
	CHECK(nsh_semver_range_valid(">= 1.2.3 < 2"));
	CHECK(nsh_semver_range_valid("1.x || >=2.5.0 || 5.0.0 - 7.2.3"));
}

static void test_glob(void)
{
	CHECK(nsh_recipe_glob("*.js", "a/b/c.js"));
	CHECK(!nsh_recipe_glob("*.js", "a/b/c.ts"));
	CHECK(nsh_recipe_glob("test/**", "test/a/b.js"));
	CHECK(!nsh_recipe_glob("test/**", "src/test/b.js"));
	CHECK(nsh_recipe_glob("**/fixtures/*", "fixtures/a.js"));
	CHECK(nsh_recipe_glob("**/fixtures/*", "x/y/fixtures/a.js"));
	CHECK(nsh_recipe_glob("./src/*.js", "src/a.js"));
}

/* Apply @r to the test directory; returns the result (caller releases). */
static int apply(const struct nsh_recipe *r, const char *choice, const char *alt, bool dry,
		 bool force, struct nsh_recipe_result *res)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_pick pick = {choice, alt};
	struct nsh_recipe_options o = {
		.picks = &pick, .npicks = choice ? 1 : 0, .dry_run = dry, .force = force};
	int rc = nsh_recipe_apply(r, dir, &o, res, &err);

	if (rc)
		fprintf(stderr, "apply: %s\n", err.msg);
	return rc;
}

static const char *pkg3 = "{\n"
			  "  \"name\": \"svc\",\n"
			  "  \"dependencies\": {\n"
			  "    \"express\": \"^4.0.0\",\n"
			  "    \"lodash\": \"~3.10.1\"\n"
			  "  }\n"
			  "}\n";

static const char *src_a = "var _ = require('lodash');\n"
			   "var chunk = require('lodash/array/chunk');\n"
			   "var names = _.pluck(users, 'name');\n"
			   "if (_.contains(names, 'bob')) { log(\"_.contains(x)\"); }\n"
			   "var f = _.find(users, function (u) {\n"
			   "  return u.id === this.id;\n"
			   "}, this);\n"
			   "var g = _.find(users, fn, 2); // _.find(a, b, this)\n";

static const char *want_a = "var _ = require('lodash');\n"
			    "var chunk = require('lodash/chunk');\n"
			    "var names = _.map(users, 'name');\n"
			    "if (_.includes(names, 'bob')) { log(\"_.contains(x)\"); }\n"
			    "var f = _.find(users, function (u) {\n"
			    "  return u.id === this.id;\n"
			    "}.bind(this));\n"
			    "var g = _.find(users, fn, 2); // _.find(a, b, this)\n";

static void test_apply_tree(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = parse(full, &err);
	struct nsh_recipe_result res = {0};
	struct nsh_buf body = NSH_BUF_INIT;

	CHECK(r != NULL);
	if (!r)
		return;
	put("package.json", pkg3);
	put("src/a.js", src_a);
	/* an import under another name: only 'lo' is lodash there */
	put("lib/b.js", "const lo = require(\"lodash\");\n"
			"lo.pluck(lo.pluck(a, 'b'), 'c');\n"
			"_.pluck(notLodash, 'x');\n");
	put("node_modules/lodash/x.js", "_.pluck(a, 'b');\n");
	put("README.md", "_.pluck(a, 'b')\n");

	/* a dry run reports and writes nothing */
	CHECK_INT(apply(r, NULL, NULL, true, false, &res), 0);
	CHECK(res.applicable);
	CHECK(strstr(res.reason, "'~3.10.1'") != NULL);
	CHECK_INT(res.nfiles, 3);
	CHECK_INT(res.nchanges, 6);
	CHECK_INT(res.nreviews, 1);
	CHECK_INT(res.files_scanned, 2);
	CHECK_FILE("src/a.js", src_a);
	CHECK_FILE("package.json", pkg3);
	nsh_recipe_result_release(&res);

	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK_FILE("src/a.js", want_a);
	CHECK_FILE("lib/b.js", "const lo = require(\"lodash\");\n"
			       "lo.map(lo.map(a, 'b'), 'c');\n"
			       "_.pluck(notLodash, 'x');\n");
	CHECK_FILE("node_modules/lodash/x.js", "_.pluck(a, 'b');\n");
	CHECK_FILE("package.json", "{\n"
				   "  \"name\": \"svc\",\n"
				   "  \"dependencies\": {\n"
				   "    \"express\": \"^4.0.0\",\n"
				   "    \"lodash\": \"~4.18.1\"\n"
				   "  }\n"
				   "}\n");
	/* every change with its file, line and rule; the review item too */
	CHECK_INT(res.nchanges, 6);
	if (res.nchanges == 6) {
		CHECK_STR(res.changes[0].file, "lib/b.js");
		CHECK_INT(res.changes[0].line, 2);
		CHECK(res.changes[0].nested || res.changes[1].nested);
		CHECK_STR(res.changes[2].file, "src/a.js");
		CHECK_STR(res.changes[2].rule, "paths");
		CHECK_INT(res.changes[2].line, 2);
		CHECK_STR(res.changes[5].rule, "find-this");
		CHECK_INT(res.changes[5].line, 5);
		CHECK_STR(res.changes[5].after, "_.find(users, function (u) {\n"
						"  return u.id === this.id;\n"
						"}.bind(this))");
	}
	CHECK_INT(res.nreviews, 1);
	if (res.nreviews == 1) {
		CHECK_STR(res.reviews[0].file, "src/a.js");
		CHECK_INT(res.reviews[0].line, 8);
		CHECK_STR(res.reviews[0].rule, "find-third");
		CHECK_STR(res.reviews[0].note, "the third argument is fromIndex in lodash 4");
		CHECK_STR(res.reviews[0].text, "_.find(users, fn, 2)");
	}
	CHECK_INT(res.nmedits, 1);
	CHECK_STR(res.medits[0].from, "~3.10.1");
	CHECK_STR(res.medits[0].to, "~4.18.1");
	/* the post step only applies with a lockfile */
	CHECK_INT(res.npost, 0);
	CHECK_INT(res.ncounts, 5);
	CHECK_STR(res.counts[0].rule, "pluck");
	CHECK_INT(res.counts[0].changes, 3);
	CHECK_INT(res.counts[0].files, 2);
	CHECK_INT(nsh_recipe_pr_body(r, &res, &body), 0);
	CHECK(strstr(body.buf, "Moves to lodash 4.") != NULL);
	CHECK(strstr(body.buf, "| `find-this` | - | yes | 1 | 0 |") != NULL);
	CHECK(strstr(body.buf, "- `src/a.js:8` (`find-third`): the third argument") != NULL);
	CHECK(strstr(body.buf, "**lodash** (default)") != NULL);
	CHECK(strstr(body.buf, "`lodash` `~3.10.1` -> `~4.18.1`") != NULL);
	nsh_buf_release(&body);
	nsh_recipe_result_release(&res);

	/* applying twice equals applying once: it no longer applies */
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK(!res.applicable);
	CHECK(strstr(res.reason, "outside") != NULL);
	CHECK_INT(res.nfiles, 0);
	nsh_recipe_result_release(&res);
	/* and forcing the rules again changes nothing either */
	CHECK_INT(apply(r, NULL, NULL, false, true, &res), 0);
	CHECK(res.forced);
	CHECK_INT(res.nfiles, 0);
	CHECK_INT(res.nchanges, 0);
	CHECK_INT(res.nreviews, 1);
	CHECK_FILE("src/a.js", want_a);
	nsh_recipe_result_release(&res);
	nsh_recipe_free(r);
}

/* Whether a directory of the test tree holds a temporary file of a replace. */
static bool tmp_left(const char *rel)
{
	char *path = nsh_xasprintf("%s/%s", dir, rel);
	DIR *d = opendir(path);
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d)))
		found = found || strstr(e->d_name, ".tmp-") != NULL;
	if (d)
		closedir(d);
	free(path);
	return found;
}

/*
 * A scratch tree (a job's workspace) gets the same files, replaced the same
 * way (a rename, no temporary file left), only not flushed.
 */
static void test_apply_scratch(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = parse(full, &err);
	struct nsh_recipe_result res = {0};
	struct nsh_recipe_options o = {.scratch = true};
	char *pkg;

	CHECK(r != NULL);
	if (!r)
		return;
	put("package.json", pkg3);
	put("src/a.js", src_a);
	CHECK_INT(nsh_recipe_apply(r, dir, &o, &res, &err), 0);
	CHECK(res.applicable);
	CHECK_INT(res.nmedits, 1);
	CHECK_FILE("src/a.js", want_a);
	pkg = get("package.json");
	CHECK(strstr(pkg, "\"lodash\": \"~4.18.1\"") != NULL);
	free(pkg);
	CHECK(!tmp_left(""));
	CHECK(!tmp_left("src"));
	nsh_recipe_result_release(&res);
	nsh_recipe_free(r);
}

static void test_choices(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = parse(full, &err);
	struct nsh_recipe_result res = {0};
	struct nsh_recipe_options o = {0};
	struct nsh_recipe_pick pick[2] = {{"contains-style", "native"},
					  {"contains-style", "lodash"}};
	const char *text = "_.contains(list, x); _.contains(s, 'a')";
	char *out = NULL;
	size_t len;

	if (!r)
		return;
	CHECK_INT(nsh_recipe_apply_text(r, "a.js", text, strlen(text), &o, &res, &out, &len, &err),
		  0);
	CHECK_STR(out, "_.includes(list, x); _.includes(s, 'a')");
	CHECK(res.ntaken == 1 && res.taken[0].is_default);
	free(out);
	nsh_recipe_result_release(&res);

	o.picks = pick;
	o.npicks = 1;
	CHECK_INT(nsh_recipe_apply_text(r, "a.js", text, strlen(text), &o, &res, &out, &len, &err),
		  0);
	CHECK_STR(out, "list.includes(x); s.includes('a')");
	CHECK(res.ntaken == 1 && !res.taken[0].is_default);
	CHECK_STR(res.taken[0].alt->assumption, "the collection is an array or a string");
	free(out);
	nsh_recipe_result_release(&res);

	/* a file of another language is left alone */
	CHECK_INT(nsh_recipe_apply_text(r, "a.py", text, strlen(text), &o, &res, &out, &len, &err),
		  0);
	CHECK_STR(out, text);
	free(out);
	nsh_recipe_result_release(&res);

	/* unknown names and picking twice are errors that list what exists */
	o.npicks = 2;
	CHECK_INT(nsh_recipe_apply_text(r, "a.js", text, strlen(text), &o, &res, &out, &len, &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "made twice") != NULL);
	nsh_recipe_result_release(&res);
	pick[0].alt = "nope";
	o.npicks = 1;
	CHECK_INT(nsh_recipe_apply_text(r, "a.js", text, strlen(text), &o, &res, &out, &len, &err),
		  NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "no alternative 'nope' (alternatives: lodash, native)") != NULL);
	nsh_recipe_result_release(&res);
	pick[0].choice = "style";
	CHECK_INT(nsh_recipe_apply_text(r, "a.js", text, strlen(text), &o, &res, &out, &len, &err),
		  NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "no choice 'style' (choices: contains-style)") != NULL);
	nsh_recipe_result_release(&res);
	nsh_recipe_free(r);
}

/* Rules in order: later positions map back to the original lines. */
static void test_layers(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r =
		parse(HEAD "rules:\n"
			   "  - id: join\n    languages: js\n"
			   "    match: \"f(:[a:arg], :[b:arg])\"\n"
			   "    rewrite: \"g(:[a],\\n:[b],\\n0)\"\n"
			   "  - id: spot\n    languages: js\n    match: \"h(:[x])\"\n"
			   "    note: look here\n",
		      &err);
	struct nsh_recipe_result res = {0};
	struct nsh_recipe_options o = {0};
	const char *text = "f(1, 2);\nh(3);\nf(4,\n  5);\nh(6);\n";
	char *out = NULL;
	size_t len;

	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_INT(nsh_recipe_apply_text(r, "x.js", text, strlen(text), &o, &res, &out, &len, &err),
		  0);
	/* the source's ", " between the holes is kept; the new ",\n0" is added */
	CHECK_STR(out, "g(1, 2,\n0);\nh(3);\ng(4,\n  5,\n0);\nh(6);\n");
	CHECK_INT(res.nchanges, 2);
	CHECK_INT(res.changes[0].line, 1);
	CHECK_INT(res.changes[0].new_line, 1);
	CHECK_INT(res.changes[1].line, 3);
	CHECK_INT(res.changes[1].new_line, 4);
	CHECK_INT(res.nreviews, 2);
	CHECK_INT(res.reviews[0].line, 2);
	CHECK_INT(res.reviews[1].line, 5);
	CHECK_STR(res.reviews[1].note, "look here");
	free(out);
	nsh_recipe_result_release(&res);
	nsh_recipe_free(r);
}

/* Holes bound to a module take the names the file gives it. */
static void test_bindings(void)
{
	static const struct {
		const char *path, *text, *want;
	} cases[] = {
		{"a.ts", "import * as L from 'lodash';\nL.pluck(a); _.pluck(b);",
		 "import * as L from 'lodash';\nL.map(a); _.pluck(b);"},
		{"b.js", "import lodash, { map } from \"lodash\";\nlodash.pluck(a); lo.pluck(b);",
		 "import lodash, { map } from \"lodash\";\nlodash.map(a); lo.pluck(b);"},
		{"c.ts", "import lo = require('lodash');\nlo.pluck(a); _.pluck(b);",
		 "import lo = require('lodash');\nlo.map(a); _.pluck(b);"},
		{"d.js", "let _ = require('underscore'), x = 1;\n_.pluck(a); lodash.pluck(b);",
		 "let _ = require('underscore'), x = 1;\n_.pluck(a); lodash.map(b);"},
		{"e.js",
		 "var a = require('lodash'), b = require('lodash');\na.pluck(1); b.pluck(2);",
		 "var a = require('lodash'), b = require('lodash');\na.map(1); b.map(2);"},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = parse(HEAD "bind:\n  lib: {modules: [lodash], names: [_, lodash]}\n"
					  "rules:\n  - id: pluck\n    languages: [js, ts]\n"
					  "    match: \":[[lib]].pluck(\"\n"
					  "    rewrite: \":[[lib]].map(\"\n",
				     &err);
	struct nsh_recipe_options o = {0};

	CHECK(r != NULL);
	if (!r)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nsh_recipe_result res = {0};
		char *out = NULL;
		size_t len;

		CHECK_INT(nsh_recipe_apply_text(r, cases[i].path, cases[i].text,
						strlen(cases[i].text), &o, &res, &out, &len, &err),
			  0);
		CHECK_STR(out, cases[i].want);
		free(out);
		nsh_recipe_result_release(&res);
	}
	nsh_recipe_free(r);
}

/* Run the manifest edits of @yaml_manifest on @pkg; check the new file. */
static void check_manifest(const char *mops, const char *pkg, const char *want)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *y = nsh_xasprintf(HEAD "manifest:\n%s", mops);
	struct nsh_recipe *r = parse(y, &err);
	struct nsh_recipe_result res = {0};

	if (!r)
		fprintf(stderr, "%s\n", err.msg);
	CHECK(r != NULL);
	free(y);
	if (!r)
		return;
	put("package.json", pkg);
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK_FILE("package.json", want);
	nsh_recipe_result_release(&res);
	nsh_recipe_free(r);
}

static void test_manifest(void)
{
	static const char *tabs = "{\n\t\"name\": \"x\",\n\t\"dependencies\": {\n"
				  "\t\t\"a\": \"1.0.0\",\n\t\t\"c\": \"^2.0.0\"\n\t}\n}";

	/* bump keeps the exact style, tabs and the missing final newline */
	check_manifest("  - bump: a\n    to: 1.5.0\n", tabs,
		       "{\n\t\"name\": \"x\",\n\t\"dependencies\": {\n"
		       "\t\t\"a\": \"1.5.0\",\n\t\t\"c\": \"^2.0.0\"\n\t}\n}");
	/* add goes in key order, laid out like its neighbours */
	check_manifest(
		"  - add: b\n    version: ^3.0.0\n", tabs,
		"{\n\t\"name\": \"x\",\n\t\"dependencies\": {\n"
		"\t\t\"a\": \"1.0.0\",\n\t\t\"b\": \"^3.0.0\",\n\t\t\"c\": \"^2.0.0\"\n\t}\n}");
	check_manifest(
		"  - add: d\n    version: ^3.0.0\n", tabs,
		"{\n\t\"name\": \"x\",\n\t\"dependencies\": {\n"
		"\t\t\"a\": \"1.0.0\",\n\t\t\"c\": \"^2.0.0\",\n\t\t\"d\": \"^3.0.0\"\n\t}\n}");
	/* into a new section and into an empty one */
	check_manifest("  - add: m\n    version: 1.0.0\n    section: devDependencies\n",
		       "{\n    \"name\": \"x\"\n}\n",
		       "{\n    \"name\": \"x\",\n    \"devDependencies\": {\n"
		       "        \"m\": \"1.0.0\"\n    }\n}\n");
	check_manifest(
		"  - add: m\n    version: 1.0.0\n",
		"{\n  \"name\": \"x\",\n  \"dependencies\": {}\n}\n",
		"{\n  \"name\": \"x\",\n  \"dependencies\": {\n    \"m\": \"1.0.0\"\n  }\n}\n");
	/* remove the first, the last and the only member */
	check_manifest(
		"  - remove: a\n", tabs,
		"{\n\t\"name\": \"x\",\n\t\"dependencies\": {\n\t\t\"c\": \"^2.0.0\"\n\t}\n}");
	check_manifest(
		"  - remove: c\n", tabs,
		"{\n\t\"name\": \"x\",\n\t\"dependencies\": {\n\t\t\"a\": \"1.0.0\"\n\t}\n}");
	check_manifest("  - remove: a\n", "{\"dependencies\": {\"a\": \"1\"}, \"x\": 1}",
		       "{\"dependencies\": {}, \"x\": 1}");
	/* rename, with a new range, in every section that has it */
	check_manifest("  - rename: a\n    to: z\n    version: ^9.0.0\n",
		       "{\"dependencies\": {\"a\": \"1\", \"b\": \"2\"}, "
		       "\"devDependencies\": {\"a\": \"1\"}}",
		       "{\"dependencies\": {\"z\": \"^9.0.0\", \"b\": \"2\"}, "
		       "\"devDependencies\": {\"z\": \"^9.0.0\"}}");
	/* nothing to do leaves the file byte for byte */
	check_manifest("  - bump: nothere\n    to: 1.0.0\n", tabs, tabs);
	/* escapes and unicode elsewhere are kept as written */
	check_manifest(
		"  - bump: a\n    to: 2.0.0\n",
		"{\"description\": \"caf\\u00e9 \\/ x\", \"dependencies\": {\"a\": \"^1.0.0\"}}\n",
		"{\"description\": \"caf\\u00e9 \\/ x\", \"dependencies\": {\"a\": \"^2.0.0\"}}\n");
}

static void test_applies(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r =
		parse(HEAD "applies: {dependency: lodash, range: \">=3.0.0 <4.0.0\"}\n", &err);
	char *reason = NULL;
	char *lock = nsh_xasprintf("%s/package-lock.json", dir);
	bool ok = true;

	if (!r)
		return;
	unlink(lock);
	put("package.json", "{\"devDependencies\": {\"lodash\": \"latest\"}}");
	CHECK_INT(nsh_recipe_applies(r, dir, &ok, &reason, &err), 0);
	CHECK(!ok);
	CHECK(strstr(reason, "cannot tell which version") != NULL);
	free(reason);
	/* the lockfile says what 'latest' was */
	put("package-lock.json",
	    "{\"packages\": {\"node_modules/lodash\": {\"version\": \"3.10.1\"}}}");
	CHECK_INT(nsh_recipe_applies(r, dir, &ok, &reason, &err), 0);
	CHECK(ok);
	CHECK(strstr(reason, "locked at 3.10.1") != NULL);
	free(reason);
	put("package.json", "{\"dependencies\": {\"express\": \"4\"}}");
	CHECK_INT(nsh_recipe_applies(r, dir, &ok, &reason, &err), 0);
	CHECK(!ok);
	CHECK(strstr(reason, "'lodash' is not a dependency") != NULL);
	free(reason);
	put("package.json", "{\"dependencies\": ");
	CHECK(nsh_recipe_applies(r, dir, &ok, &reason, &err) != 0);
	unlink(lock);
	free(lock);
	nsh_recipe_free(r);
}

static void test_walk(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r =
		parse(HEAD "exclude: [\"vendor/**\"]\n"
			   "rules:\n  - id: r\n    languages: [javascript, text]\n"
			   "    files: [\"*.js\", \"*.txt\"]\n    exclude: [\"test/**\"]\n"
			   "    match: foo(\n    rewrite: bar(\n",
		      &err);
	struct nsh_recipe_result res = {0};
	char *link = nsh_xasprintf("%s/w/link.js", dir), *bin = nsh_xasprintf("%s/w/bin.js", dir);
	char *sub = nsh_xasprintf("%s/w", dir), *save = dir;

	CHECK(r != NULL);
	if (!r)
		return;
	dir = sub;
	put("a.js", "foo(1)\n");
	put("notes.txt", "foo(2)\n");
	put("test/t.js", "foo(3)\n");
	put("vendor/v.js", "foo(4)\n");
	put(".git/x.js", "foo(5)\n");
	put("other.md", "foo(6)\n");
	CHECK(symlink("a.js", link) == 0);
	{
		FILE *f = fopen(bin, "wb");

		fwrite("foo(\0)", 1, 6, f);
		fclose(f);
	}
	{
		char *a = nsh_xasprintf("%s/a.js", dir);

		CHECK(chmod(a, 0750) == 0);
		free(a);
	}
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK_INT(res.nfiles, 2);
	CHECK_FILE("a.js", "bar(1)\n");
	{
		char *a = nsh_xasprintf("%s/a.js", dir);
		struct stat st;

		/* a rewritten file keeps its mode */
		CHECK(stat(a, &st) == 0 && (st.st_mode & 07777) == 0750);
		free(a);
	}
	CHECK_FILE("notes.txt", "bar(2)\n");
	CHECK_FILE("test/t.js", "foo(3)\n");
	CHECK_FILE("vendor/v.js", "foo(4)\n");
	CHECK_FILE(".git/x.js", "foo(5)\n");
	CHECK_FILE("other.md", "foo(6)\n");
	{
		struct stat st;

		CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
	}
	nsh_recipe_result_release(&res);
	dir = save;
	free(sub);
	free(link);
	free(bin);
	nsh_recipe_free(r);
}

/*
 * The checkout is the repository's, and code ran in it: a manifest that is
 * a link, or a workspace directory that is one, must not lead a read or a
 * write out of it (the daemon applies recipes, often as root).
 */
static void test_links_not_followed(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r =
		parse(HEAD "applies: {dependency: lodash, range: \">=3.0.0 <4.0.0\"}\n"
			   "manifest:\n  - bump: lodash\n    to: ^4.17.21\n",
		      &err);
	struct nsh_recipe_result res = {0};
	char *sub = nsh_xasprintf("%s/links", dir), *save = dir, *p;
	const char *lo3 = "{\"dependencies\": {\"lodash\": \"^3.10.1\"}}\n";
	bool ok = false;
	char *reason = NULL;

	CHECK(r != NULL);
	if (!r)
		return;
	dir = sub;
	put("host/package.json", lo3);
	put("host/pkgs/a/package.json", lo3);
	put("ws/src/a.js", "x\n");

	/* the root manifest is a link to a file of the host: an error naming it, nothing read */
	p = nsh_xasprintf("%s/ws/package.json", dir);
	CHECK_INT(symlink("../host/package.json", p), 0);
	dir = nsh_xasprintf("%s/ws", sub);
	CHECK_INT(nsh_recipe_applies(r, dir, &ok, &reason, &err), NSH_EDENIED);
	CHECK(strstr(err.msg, "'package.json'") && strstr(err.msg, "symbolic link"));
	CHECK_INT(nsh_recipe_apply(r, dir, &(struct nsh_recipe_options){.force = true}, &res, &err),
		  NSH_EDENIED);
	nsh_recipe_result_release(&res);
	memset(&res, 0, sizeof(res));
	free(dir);
	dir = sub;
	CHECK_FILE("host/package.json", lo3);
	unlink(p);
	free(p);

	/* a workspace glob whose directory is a link, and a workspace that is one */
	put("ws/package.json", "{\"workspaces\": [\"packages/*\", \"linked\", \"own\"],\n"
			       " \"dependencies\": {\"lodash\": \"^3.10.1\"}}\n");
	put("ws/own/package.json", lo3);
	p = nsh_xasprintf("%s/ws/packages", dir);
	CHECK_INT(symlink("../host/pkgs", p), 0);
	free(p);
	p = nsh_xasprintf("%s/ws/linked", dir);
	CHECK_INT(symlink("../host/pkgs/a", p), 0);
	free(p);
	dir = nsh_xasprintf("%s/ws", sub);
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK_FILE("own/package.json", "{\"dependencies\": {\"lodash\": \"^4.17.21\"}}\n");
	p = get("package.json");
	CHECK(strstr(p, "^4.17.21") != NULL);
	free(p);
	free(dir);
	dir = sub;
	CHECK_FILE("host/package.json", lo3);
	CHECK_FILE("host/pkgs/a/package.json", lo3);
	nsh_recipe_result_release(&res);

	free(reason);
	dir = save;
	free(sub);
	nsh_recipe_free(r);
}

static void test_catalog(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe_catalog c = {0};
	struct nsh_strvec dirs = NSH_STRVEC_INIT;
	struct nsh_recipe *r = NULL;
	bool owned = true;
	char *shipped = nsh_xasprintf("%s/cat/shipped", dir),
	     *home = nsh_xasprintf("%s/cat/home", dir);
	char *save = dir;

	dir = shipped;
	put("one.yml", "id: one\ntitle: shipped one\n");
	put("two.yaml", "id: two\ntitle: shipped two\n");
	put("broken.yml", "id: broken\ntitle: [\n");
	put("README.md", "not a recipe\n");
	dir = home;
	put("one.yml", "id: one\ntitle: home one\n");
	dir = save;
	nsh_strvec_pushl(&dirs, "shipped", shipped, "home", home, NULL);
	CHECK_INT(nsh_recipe_catalog_load(&dirs, &c, &err), 0);
	CHECK_INT(c.nr, 3);
	if (c.nr == 3) {
		CHECK_STR(c.v[0].id, "broken");
		CHECK(c.v[0].recipe == NULL &&
		      strstr(c.v[0].error, "broken.yml:3:1: invalid YAML") != NULL);
		CHECK_STR(c.v[1].recipe->title, "home one");
		CHECK_STR(c.v[1].origin, "home");
		CHECK_STR(c.v[2].recipe->title, "shipped two");
	}
	CHECK_INT(nsh_recipe_find(&c, "two", &r, &owned, &err), 0);
	CHECK(!owned && !strcmp(r->id, "two"));
	CHECK_INT(nsh_recipe_find(&c, "three", &r, &owned, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "no recipe 'three' (known: broken, one, two)") != NULL);
	CHECK_INT(nsh_recipe_find(&c, "broken", &r, &owned, &err), NSH_EINVAL);
	{
		char *path = nsh_xasprintf("%s/two.yaml", shipped);

		CHECK_INT(nsh_recipe_find(&c, path, &r, &owned, &err), 0);
		CHECK(owned && !strcmp(r->origin, "file"));
		nsh_recipe_free(r);
		free(path);
	}
	nsh_recipe_catalog_release(&c);
	nsh_strvec_release(&dirs);
	free(shipped);
	free(home);
}

/* The shipped recipes load and say what they do. */
static void test_shipped(void)
{
	static const char *const names[] = {"lodash-4-security", "example-node-buffer"};
	const char *top = getenv("NSH_TOP");

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_recipe *r = NULL;
		char *path = nsh_xasprintf("%s/recipes/%s.yml", top ? top : ".", names[i]);

		if (nsh_recipe_load(path, "shipped", &r, &err))
			fprintf(stderr, "%s\n", err.msg);
		CHECK(r != NULL);
		nsh_recipe_free(r);
		free(path);
	}
}

static void test_security_recipe(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_recipe *r = NULL;
	struct nsh_recipe_result res = {0};
	const char *top = getenv("NSH_TOP");
	char *path = nsh_xasprintf("%s/recipes/lodash-4-security.yml", top ? top : ".");
	char *save = dir, *sub = nsh_xasprintf("%s/sec", dir);

	if (nsh_recipe_load(path, "shipped", &r, &err)) {
		CHECK(!"lodash-4-security loads");
		goto out;
	}
	dir = sub;
	put("package.json", "{\n  \"dependencies\": {\n    \"lodash\": \"^4.17.15\"\n  }\n}\n");
	put("package-lock.json", "{}\n");
	put("index.js", "_.template(x);\n");
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK(res.applicable);
	CHECK_FILE("package.json",
		   "{\n  \"dependencies\": {\n    \"lodash\": \"^4.18.1\"\n  }\n}\n");
	CHECK_FILE("index.js", "_.template(x);\n");
	CHECK_INT(res.npost, 1);
	CHECK_STR(res.post[0]->id, "lockfile");
	nsh_recipe_result_release(&res);
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK(!res.applicable);
	nsh_recipe_result_release(&res);
	/* lodash 3 is for the 3-to-4 recipe, not this one */
	put("package.json", "{\"dependencies\": {\"lodash\": \"3.10.1\"}}");
	CHECK_INT(apply(r, NULL, NULL, false, false, &res), 0);
	CHECK(!res.applicable);
	nsh_recipe_result_release(&res);
out:
	dir = save;
	free(sub);
	free(path);
	nsh_recipe_free(r);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	dir = t_tmpdir();
	RUN(test_load_errors);
	RUN(test_load_full);
	RUN(test_semver);
	RUN(test_glob);
	RUN(test_apply_tree);
	RUN(test_apply_scratch);
	RUN(test_choices);
	RUN(test_layers);
	RUN(test_bindings);
	RUN(test_manifest);
	RUN(test_applies);
	RUN(test_walk);
	RUN(test_links_not_followed);
	RUN(test_catalog);
	RUN(test_shipped);
	RUN(test_security_recipe);
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
