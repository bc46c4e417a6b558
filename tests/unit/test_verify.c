/*
 * Tests for verify: TAP from a real `node --test` run made here, edge
 * cases of the format, and the comparison of failing sets.
 */
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "test.h"

#include "core/banned.h"

static char *dir;

static const struct nsh_test_result *find(const struct nsh_test_report *r, const char *name)
{
	for (size_t i = 0; i < r->nr; i++)
		if (!strcmp(r->v[i].name, name))
			return &r->v[i];
	return NULL;
}

static void put(const char *rel, const char *text)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);

	CHECK_INT(nsh_fs_write_atomic(p, text, strlen(text), 0644, NULL), 0);
	free(p);
}

/* The TAP of node's own runner on a suite with every outcome. */
static void test_node_tap(void)
{
	const char *argv[] = {"node", "--test", "--test-reporter=tap", NULL};
	struct nsh_test_report r = {0};
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_test_result *t;
	struct nsh_proc p;
	char *tdir = nsh_xasprintf("%s/test", dir);

	nsh_fs_mkdir_p(tdir, 0755, NULL);
	put("test/a.test.js",
	    "const test = require('node:test');\n"
	    "const assert = require('node:assert');\n"
	    "test.describe('billing', () => {\n"
	    "  test.it('computes totals', () => { assert.strictEqual(1 + 1, 2); });\n"
	    "  test.it('rejects bad', () => { assert.strictEqual(1, 2); });\n"
	    "  test.it.skip('later', () => {});\n"
	    "  test.describe('nested', () => {\n"
	    "    test.it('deep', () => { throw new Error('deep fail'); });\n"
	    "  });\n"
	    "});\n"
	    "test('top # with hash', () => {});\n"
	    "test('todo one', { todo: true }, () => { throw new Error('not yet'); });\n"
	    "test('throws', () => { throw new Error('boom\\nsecond line'); });\n");
	put("test/b.test.js", "require('node:test')('b one', () => {});\n");
	put("test/c.test.js", "syntax error here (\n");
	nsh_proc_init(&p);
	for (int i = 0; argv[i]; i++)
		nsh_strvec_push(&p.argv, argv[i]);
	p.cwd = dir;
	p.timeout_ms = 60000;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	nsh_verify_parse_tap(p.out.buf, p.out.len, &r);
	CHECK(r.complete);
	CHECK_INT(r.passed, 3);	 /* computes totals, top # with hash, b one */
	CHECK_INT(r.failed, 4);	 /* rejects bad, deep, throws, the file that does not load */
	CHECK_INT(r.skipped, 2); /* later (skip), todo one (todo) */
	t = find(&r, "billing > rejects bad");
	CHECK(t && t->status == NSH_TEST_FAIL);
	if (t) {
		CHECK(t->file && strstr(t->file, "test/a.test.js"));
		CHECK_INT(t->line, 5);
		CHECK_STR(t->message ? t->message : "", "Expected values to be strictly equal:");
	}
	t = find(&r, "billing > nested > deep");
	CHECK(t && t->status == NSH_TEST_FAIL && t->line == 8);
	CHECK(t && t->message && !strcmp(t->message, "deep fail"));
	t = find(&r, "throws");
	CHECK(t && t->message && !strcmp(t->message, "boom"));
	CHECK(find(&r, "top # with hash") != NULL);
	t = find(&r, "todo one");
	CHECK(t && t->status == NSH_TEST_TODO);
	CHECK(find(&r, "billing") == NULL); /* a suite is not a test */
	CHECK(find(&r, "billing > nested") == NULL);
	/* the file that does not load is a failing test named by its path */
	{
		bool found = false;

		for (size_t i = 0; i < r.nr; i++)
			if (strstr(r.v[i].name, "c.test.js") && r.v[i].status == NSH_TEST_FAIL)
				found = true;
		CHECK(found);
	}
	nsh_test_report_release(&r);
	nsh_proc_release(&p);
	free(tdir);
}

static void test_tap_edges(void)
{
	static const char cut[] = "TAP version 13\r\n"
				  "# Subtest: a\r\n"
				  "ok 1 - a\r\n"
				  "# Subtest: b\r\n"
				  "not ok 2 - b \\# not a directive\r\n"
				  "  ---\r\n"
				  "  error: 'it''s broken'\r\n"
				  "  location: 'C:/odd:path/x.js:12:3'\r\n"
				  "  ...\r\n";
	static const char suite[] = "TAP version 13\n"
				    "# Subtest: empty suite\n"
				    "ok 1 - empty suite\n"
				    "  ---\n"
				    "  type: 'suite'\n"
				    "  ...\n"
				    "ok 2 - plain\n"
				    "1..2\n";
	struct nsh_test_report r = {0};
	const struct nsh_test_result *t;

	/* CRLF, an escaped '#', a quoted quote, a run cut short (no plan) */
	nsh_verify_parse_tap(cut, sizeof(cut) - 1, &r);
	CHECK(!r.complete);
	CHECK_INT(r.nr, 2);
	t = find(&r, "b");
	CHECK(t && t->status == NSH_TEST_FAIL);
	CHECK(t && t->message && !strcmp(t->message, "it's broken"));
	CHECK(t && t->file && !strcmp(t->file, "C:/odd:path/x.js") && t->line == 12);
	nsh_test_report_release(&r);

	/* an empty suite says so in its diagnostics */
	nsh_verify_parse_tap(suite, sizeof(suite) - 1, &r);
	CHECK(r.complete);
	CHECK_INT(r.nr, 1);
	CHECK(find(&r, "plain") != NULL);
	nsh_test_report_release(&r);

	/* not TAP at all */
	nsh_verify_parse_tap("npm ERR! missing script: test\n", 30, &r);
	CHECK_INT(r.nr, 0);
	CHECK(!r.complete);
	nsh_test_report_release(&r);
}

static void add(struct nsh_test_report *r, const char *name, enum nsh_test_status st)
{
	NSH_ALLOC_GROW(r->v, r->nr + 1, r->alloc);
	memset(&r->v[r->nr], 0, sizeof(r->v[0]));
	r->v[r->nr].name = nsh_xstrdup(name);
	r->v[r->nr++].status = st;
}

static void test_compare(void)
{
	struct nsh_test_report before = {0}, after = {0};
	struct nsh_test_diff d = {NSH_STRVEC_INIT, NSH_STRVEC_INIT, NSH_STRVEC_INIT,
				  NSH_STRVEC_INIT};
	json_t *j;
	char *s;

	add(&before, "env broken", NSH_TEST_FAIL);
	add(&before, "was red", NSH_TEST_FAIL);
	add(&before, "stays green", NSH_TEST_PASS);
	add(&before, "turns red", NSH_TEST_PASS);
	add(&before, "deleted", NSH_TEST_FAIL);
	add(&after, "env broken", NSH_TEST_FAIL);
	add(&after, "was red", NSH_TEST_PASS);
	add(&after, "stays green", NSH_TEST_PASS);
	add(&after, "turns red", NSH_TEST_FAIL);
	add(&after, "brand new", NSH_TEST_FAIL);
	add(&after, "brand new", NSH_TEST_FAIL);
	nsh_verify_compare(&before, &after, &d);
	CHECK_INT(d.newly_failing.nr, 2);
	CHECK(nsh_strvec_find(&d.newly_failing, "turns red") >= 0);
	CHECK(nsh_strvec_find(&d.newly_failing, "brand new") >= 0);
	CHECK_INT(d.still_failing.nr, 1);
	CHECK_STR(d.still_failing.v[0], "env broken");
	CHECK_INT(d.fixed.nr, 1);
	CHECK_STR(d.fixed.v[0], "was red");
	CHECK_INT(d.missing.nr, 1);
	CHECK_STR(d.missing.v[0], "deleted");
	j = nsh_test_diff_to_json(&d);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(s,
		  "{\"fixed\":[\"was red\"],\"missing\":[\"deleted\"],\"newly_failing\":[\"brand "
		  "new\",\"turns red\"],\"still_failing\":[\"env broken\"]}");
	free(s);
	json_decref(j);
	/* invalid UTF-8 in a name still gives valid JSON */
	add(&after, "bad \xff name", NSH_TEST_FAIL);
	after.failed = 4;
	j = nsh_test_report_to_json(&after);
	CHECK(j != NULL);
	s = json_dumps(j, JSON_COMPACT);
	CHECK(s && strstr(s, "bad \xef\xbf\xbd name"));
	free(s);
	json_decref(j);
	nsh_test_diff_release(&d);
	nsh_test_report_release(&before);
	nsh_test_report_release(&after);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	dir = t_tmpdir();
	RUN(test_node_tap);
	RUN(test_tap_edges);
	RUN(test_compare);
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
