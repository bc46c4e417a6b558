/*
 * Findings (what a check found, with file:line) and the helpers of test
 * reports that every parser shares: adding, counting, merging, and the
 * full JSON form that keeps a baseline across restarts.
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

static const char *const kind_names[] = {
	[NSH_VERIFY_KIND_TEST] = "test",	   [NSH_VERIFY_KIND_BUILD] = "build",
	[NSH_VERIFY_KIND_LINT] = "lint",	   [NSH_VERIFY_KIND_TYPES] = "types",
	[NSH_VERIFY_KIND_SECRET] = "secret",	   [NSH_VERIFY_KIND_SQLI] = "sql",
	[NSH_VERIFY_KIND_INTEGRITY] = "integrity", [NSH_VERIFY_KIND_COVERAGE] = "coverage",
	[NSH_VERIFY_KIND_CRITERION] = "criterion", [NSH_VERIFY_KIND_TOOL] = "tool",
};

static const char *const level_names[] = {
	[NSH_VERIFY_NOTE] = "note",
	[NSH_VERIFY_WARNING] = "warning",
	[NSH_VERIFY_ERROR] = "error",
};

static const char *const status_names[] = {
	[NSH_TEST_PASS] = "pass",
	[NSH_TEST_FAIL] = "fail",
	[NSH_TEST_SKIP] = "skip",
	[NSH_TEST_TODO] = "todo",
};

const char *nsh_verify_kind_name(enum nsh_verify_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

const char *nsh_verify_level_name(enum nsh_verify_level l)
{
	return (unsigned)l < sizeof(level_names) / sizeof(level_names[0]) ? level_names[l] : "?";
}

/* A copy of @s cut at @cap bytes, never inside a UTF-8 sequence. */
static char *capped(const char *s, size_t cap)
{
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	if (n <= cap)
		return nsh_xstrdup(s);
	n = cap;
	while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return nsh_xmemdup(s, n);
}

void nsh_verify_findings_add(struct nsh_verify_findings *f, enum nsh_verify_kind kind,
			     enum nsh_verify_level level, const char *rule, const char *file,
			     int line, const char *message, const char *excerpt)
{
	struct nsh_verify_finding *x;

	if (f->nr >= NSH_VERIFY_FINDINGS_MAX) {
		f->truncated = true;
		return;
	}
	NSH_ALLOC_GROW(f->v, f->nr + 1, f->alloc);
	x = &f->v[f->nr++];
	x->kind = kind;
	x->level = level;
	x->rule = rule ? capped(rule, 200) : NULL;
	x->file = file ? capped(file, 4096) : NULL;
	x->line = line > 0 ? line : 0;
	x->message = capped(message ? message : "", 1024);
	x->excerpt = excerpt && *excerpt ? capped(excerpt, NSH_VERIFY_EXCERPT_MAX) : NULL;
}

void nsh_verify_findings_release(struct nsh_verify_findings *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nr; i++) {
		free(f->v[i].rule);
		free(f->v[i].file);
		free(f->v[i].message);
		free(f->v[i].excerpt);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

size_t nsh_verify_findings_count(const struct nsh_verify_findings *f, enum nsh_verify_level level)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nr; i++)
		if (f->v[i].level >= level)
			n++;
	return n;
}

static json_t *str_or_null(const char *s)
{
	return s ? nsh_json_string_lossy(s, strlen(s)) : json_null();
}

json_t *nsh_verify_finding_to_json(const struct nsh_verify_finding *f)
{
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(nsh_verify_kind_name(f->kind)));
	json_object_set_new(o, "level", json_string(nsh_verify_level_name(f->level)));
	json_object_set_new(o, "rule", str_or_null(f->rule));
	json_object_set_new(o, "file", str_or_null(f->file));
	json_object_set_new(o, "line", f->line ? json_integer(f->line) : json_null());
	json_object_set_new(o, "message", str_or_null(f->message));
	if (f->excerpt)
		json_object_set_new(o, "excerpt", str_or_null(f->excerpt));
	return o;
}

/* ---- test reports ---- */

void nsh_test_report_add(struct nsh_test_report *r, const char *name, enum nsh_test_status st,
			 const char *file, int line, const char *message)
{
	struct nsh_test_result *t;

	if (r->nr >= NSH_VERIFY_TESTS_MAX) {
		r->truncated = true;
		return;
	}
	NSH_ALLOC_GROW(r->v, r->nr + 1, r->alloc);
	t = &r->v[r->nr++];
	memset(t, 0, sizeof(*t));
	t->name = capped(name ? name : "", NSH_VERIFY_NAME_MAX);
	t->status = st;
	t->file = file && *file ? capped(file, 4096) : NULL;
	t->line = line > 0 && line < 100000000 ? line : 0;
	t->message = message && *message ? capped(message, NSH_VERIFY_MESSAGE_MAX) : NULL;
}

void nsh_test_report_count(struct nsh_test_report *r)
{
	r->passed = r->failed = r->skipped = 0;
	for (size_t k = 0; k < r->nr; k++) {
		switch (r->v[k].status) {
		case NSH_TEST_PASS:
			r->passed++;
			break;
		case NSH_TEST_FAIL:
			r->failed++;
			break;
		case NSH_TEST_SKIP:
		case NSH_TEST_TODO:
			r->skipped++;
			break;
		}
	}
}

void nsh_test_report_merge(struct nsh_test_report *into, struct nsh_test_report *from)
{
	bool first = into->nr == 0 && !into->complete && !into->truncated;

	for (size_t i = 0; i < from->nr; i++) {
		struct nsh_test_result *t = &from->v[i];

		if (into->nr >= NSH_VERIFY_TESTS_MAX) {
			into->truncated = true;
			free(t->name);
			free(t->file);
			free(t->message);
			continue;
		}
		NSH_ALLOC_GROW(into->v, into->nr + 1, into->alloc);
		into->v[into->nr++] = *t;
	}
	into->complete = first ? from->complete : into->complete && from->complete;
	into->truncated |= from->truncated;
	free(from->v);
	memset(from, 0, sizeof(*from));
	nsh_test_report_count(into);
}

json_t *nsh_test_report_to_json_full(const struct nsh_test_report *r)
{
	json_t *tests = json_array();

	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_test_result *t = &r->v[i];
		json_t *o = json_pack("{s:o, s:s}", "name", str_or_null(t->name), "status",
				      status_names[t->status]);

		if (t->file)
			json_object_set_new(o, "file", str_or_null(t->file));
		if (t->line)
			json_object_set_new(o, "line", json_integer(t->line));
		if (t->message)
			json_object_set_new(o, "message", str_or_null(t->message));
		json_array_append_new(tests, o);
	}
	return json_pack("{s:b, s:b, s:o}", "complete", r->complete, "truncated", r->truncated,
			 "tests", tests);
}

int nsh_test_report_from_json(const json_t *j, struct nsh_test_report *ret, struct nsh_err *err)
{
	json_t *tests;
	bool complete, truncated;
	size_t i;
	json_t *t;
	int rc;

	if ((rc = nsh_json_get_arr(j, "tests", &tests, err)) ||
	    (rc = nsh_json_opt_bool(j, "complete", false, &complete, err)) ||
	    (rc = nsh_json_opt_bool(j, "truncated", false, &truncated, err)))
		return rc;
	json_array_foreach(tests, i, t)
	{
		const char *name, *status, *file, *message;
		json_int_t line;
		int st;

		if ((rc = nsh_json_get_str(t, "name", &name, err)) ||
		    (rc = nsh_json_get_str(t, "status", &status, err)) ||
		    (rc = nsh_json_opt_str(t, "file", NULL, &file, err)) ||
		    (rc = nsh_json_opt_int(t, "line", 0, &line, err)) ||
		    (rc = nsh_json_opt_str(t, "message", NULL, &message, err)))
			goto fail;
		for (st = 0; st < 4; st++)
			if (!strcmp(status, status_names[st]))
				break;
		if (st == 4) {
			rc = nsh_err_set(err, NSH_EINVAL, "test '%s' has an unknown status '%s'",
					 name, status);
			goto fail;
		}
		nsh_test_report_add(ret, name, (enum nsh_test_status)st, file,
				    line > 0 && line < 100000000 ? (int)line : 0, message);
	}
	ret->complete = complete;
	ret->truncated |= truncated;
	nsh_test_report_count(ret);
	return 0;
fail:
	nsh_test_report_release(ret);
	return rc;
}
