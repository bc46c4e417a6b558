/*
 * A verification result for its readers: JSON (step results, --json), the
 * Markdown checklist of a PR body, and the plain text the code step gets
 * for a retry.
 */
#include "verify/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

#define MD_TEXT_MAX 300 /* bytes of one piece of tool text in Markdown */

static const char *const status_names[] = {
	[NSH_VERIFY_CHECK_PASS] = "pass",	[NSH_VERIFY_CHECK_WARN] = "warn",
	[NSH_VERIFY_CHECK_FAIL] = "fail",	[NSH_VERIFY_CHECK_ERROR] = "error",
	[NSH_VERIFY_CHECK_MISSING] = "missing", [NSH_VERIFY_CHECK_REVIEW] = "review",
	[NSH_VERIFY_CHECK_SKIPPED] = "skipped",
};

static const char *const status_words[] = {
	[NSH_VERIFY_CHECK_PASS] = "passed",
	[NSH_VERIFY_CHECK_WARN] = "passed with warnings",
	[NSH_VERIFY_CHECK_FAIL] = "failed",
	[NSH_VERIFY_CHECK_ERROR] = "could not be checked",
	[NSH_VERIFY_CHECK_MISSING] = "tool missing",
	[NSH_VERIFY_CHECK_REVIEW] = "needs review",
	[NSH_VERIFY_CHECK_SKIPPED] = "not applicable",
};

static const char *const verdict_names[] = {
	[NSH_VERIFY_VERDICT_PASS] = "pass",
	[NSH_VERIFY_VERDICT_FAIL] = "fail",
	[NSH_VERIFY_VERDICT_REVIEW] = "review",
};

const char *nsh_verify_status_name(enum nsh_verify_status s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "?";
}

const char *nsh_verify_verdict_name(enum nsh_verify_verdict v)
{
	return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v]
									      : "?";
}

static json_t *str_or_null(const char *s)
{
	return s ? nsh_json_string_lossy(s, strlen(s)) : json_null();
}

static json_t *strings(const struct nsh_strvec *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; i < sv->nr; i++)
		json_array_append_new(a, str_or_null(sv->v[i]));
	return a;
}

static json_t *coverage_json(const struct nsh_verify_coverage *c)
{
	if (!c->present)
		return json_null();
	return json_pack("{s:f, s:I, s:I, s:o}", "percent", c->percent, "covered",
			 (json_int_t)c->covered, "total", (json_int_t)c->total, "source",
			 str_or_null(c->source));
}

json_t *nsh_verify_result_to_json(const struct nsh_verify_result *r)
{
	json_t *checks = json_array(), *tests, *cov, *steps = json_array();

	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_verify_check *c = &r->v[i];
		json_t *f = json_array();

		for (size_t k = 0; k < c->findings.nr; k++)
			json_array_append_new(f, nsh_verify_finding_to_json(&c->findings.v[k]));
		json_array_append_new(checks,
				      json_pack("{s:o, s:o, s:s, s:o, s:o, s:b}", "id",
						str_or_null(c->id), "title", str_or_null(c->title),
						"status", nsh_verify_status_name(c->status),
						"evidence", str_or_null(c->evidence), "findings", f,
						"findings_truncated", c->findings.truncated));
	}
	for (size_t i = 0; i < r->after.nr; i++) {
		const struct nsh_verify_step_result *s = &r->after.v[i];

		json_array_append_new(steps, json_pack("{s:s, s:o, s:o, s:s, s:i, s:I}", "step",
						       nsh_verify_step_name(s->step), "name",
						       str_or_null(s->name), "command",
						       str_or_null(s->command), "outcome",
						       nsh_verify_outcome_name(s->outcome),
						       "exit_code", s->exit_code, "elapsed_ms",
						       (json_int_t)s->elapsed_ms));
	}
	tests = nsh_test_report_to_json(&r->after.tests);
	json_object_set_new(tests, "diff", nsh_test_diff_to_json(&r->diff));
	json_object_set_new(tests, "flaky", strings(&r->flaky));
	json_object_set_new(tests, "broken", strings(&r->broken));
	json_object_set_new(tests, "reruns", strings(&r->reruns));
	json_object_set_new(tests, "baseline", json_boolean(r->has_baseline));
	cov = json_pack("{s:o, s:o}", "before", coverage_json(&r->cov_before), "after",
			coverage_json(&r->after.coverage));
	if (r->cov_before.present && r->after.coverage.present)
		json_object_set_new(cov, "delta_pp",
				    json_real(r->after.coverage.percent - r->cov_before.percent));
	else
		json_object_set_new(cov, "delta_pp", json_null());
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:I}", "verdict",
			 nsh_verify_verdict_name(r->verdict), "checks", checks, "tests", tests,
			 "coverage", cov, "steps", steps, "plan", nsh_verify_plan_to_json(&r->plan),
			 "scanned_bytes", (json_int_t)r->scanned_bytes);
}

/* ---- Markdown ---- */

/* Tool text, escaped so that it stays text, on one line, cut at MD_TEXT_MAX. */
static void md_text(struct nsh_buf *b, const char *s)
{
	size_t n = 0;

	for (; s && *s && n < MD_TEXT_MAX; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' || c == '\r' || c == '\t')
			nsh_buf_addch(b, ' ');
		else if (c < 0x20)
			continue;
		else if (strchr("\\`*_[]<>|#~", c))
			nsh_buf_addf(b, "\\%c", c);
		else
			nsh_buf_addch(b, (char)c);
	}
	if (s && *s)
		nsh_buf_adds(b, "...");
}

/* A code span: backticks inside become quotes. */
static void md_code(struct nsh_buf *b, const char *s, int line)
{
	nsh_buf_addch(b, '`');
	for (size_t n = 0; s && *s && n < MD_TEXT_MAX; s++, n++)
		nsh_buf_addch(b, *s == '`' || *s == '\n' ? '\'' : *s);
	if (line > 0)
		nsh_buf_addf(b, ":%d", line);
	nsh_buf_addch(b, '`');
}

int nsh_verify_result_markdown(const struct nsh_verify_result *r, size_t max_findings,
			       struct nsh_buf *out)
{
	static const char *const headline[] = {
		[NSH_VERIFY_VERDICT_PASS] = "passed",
		[NSH_VERIFY_VERDICT_FAIL] = "failed",
		[NSH_VERIFY_VERDICT_REVIEW] = "needs review",
	};
	struct nsh_buf b = NSH_BUF_INIT;
	int rc;

	if (!max_findings)
		max_findings = 10;
	nsh_buf_addf(&b, "### Verification: %s\n\n", headline[r->verdict]);
	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_verify_check *c = &r->v[i];
		bool ok = c->status == NSH_VERIFY_CHECK_PASS || c->status == NSH_VERIFY_CHECK_WARN;
		size_t shown = 0, listed = 0;

		if (c->status == NSH_VERIFY_CHECK_SKIPPED)
			nsh_buf_adds(&b, "- **"); /* nothing to tick */
		else
			nsh_buf_addf(&b, "- [%c] **", ok ? 'x' : ' ');
		md_text(&b, c->title);
		nsh_buf_addf(&b, "**: %s", status_words[c->status]);
		if (c->evidence) {
			nsh_buf_adds(&b, " \xe2\x80\x94 ");
			md_text(&b, c->evidence);
		}
		nsh_buf_addch(&b, '\n');
		for (size_t k = 0; k < c->findings.nr; k++) {
			const struct nsh_verify_finding *f = &c->findings.v[k];

			if (f->level == NSH_VERIFY_NOTE)
				continue;
			listed++;
			if (shown >= max_findings)
				continue;
			shown++;
			nsh_buf_addf(&b, "  - %s ",
				     f->level == NSH_VERIFY_ERROR ? "\xe2\x9c\x96"
								  : "\xe2\x9a\xa0");
			if (f->file) {
				md_code(&b, f->file, f->line);
				nsh_buf_addch(&b, ' ');
			}
			if (f->rule) {
				nsh_buf_addch(&b, '(');
				md_text(&b, f->rule);
				nsh_buf_adds(&b, ") ");
			}
			md_text(&b, f->message);
			if (f->excerpt && (f->kind == NSH_VERIFY_KIND_TEST ||
					   f->kind == NSH_VERIFY_KIND_CRITERION)) {
				/* the failure's first line is the evidence a reviewer wants */
				size_t n = strcspn(f->excerpt, "\n");
				char *first = nsh_xmemdup(f->excerpt, n);

				nsh_buf_adds(&b, ": ");
				md_text(&b, first);
				free(first);
			}
			nsh_buf_addch(&b, '\n');
		}
		if (listed > shown || c->findings.truncated)
			nsh_buf_addf(&b, "  - and %zu more%s\n", listed - shown,
				     c->findings.truncated ? " (list cut at its limit)" : "");
	}
	if (r->cov_before.present && r->after.coverage.present)
		nsh_buf_addf(&b, "\nCoverage delta: %+.2f percentage points.\n",
			     r->after.coverage.percent - r->cov_before.percent);
	rc = nsh_buf_add(out, b.buf, b.len);
	nsh_buf_release(&b);
	return rc;
}

/* ---- feedback for the code step ---- */

static void indent(struct nsh_buf *b, const char *s, const char *pad)
{
	for (const char *p = s; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		nsh_buf_adds(b, pad);
		nsh_buf_add(b, p, n);
		nsh_buf_addch(b, '\n');
		p = nl ? nl + 1 : NULL;
	}
}

int nsh_verify_result_feedback(const struct nsh_verify_result *r, struct nsh_buf *out)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t bad = 0;
	int rc;

	for (size_t i = 0; i < r->nr; i++)
		bad += r->v[i].status != NSH_VERIFY_CHECK_PASS &&
		       r->v[i].status != NSH_VERIFY_CHECK_SKIPPED;
	nsh_buf_addf(&b, "verification %s: %zu check%s did not pass cleanly\n",
		     r->verdict == NSH_VERIFY_VERDICT_PASS   ? "passed"
		     : r->verdict == NSH_VERIFY_VERDICT_FAIL ? "failed"
							     : "needs review",
		     bad, bad == 1 ? "" : "s");
	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_verify_check *c = &r->v[i];

		if (c->status == NSH_VERIFY_CHECK_PASS || c->status == NSH_VERIFY_CHECK_SKIPPED)
			continue;
		nsh_buf_addf(&b, "\n[%s] %s: %s\n", c->id, nsh_verify_status_name(c->status),
			     c->evidence ? c->evidence : "");
		for (size_t k = 0; k < c->findings.nr; k++) {
			const struct nsh_verify_finding *f = &c->findings.v[k];

			if (f->level == NSH_VERIFY_NOTE)
				continue;
			nsh_buf_addf(&b, "  %s", f->level == NSH_VERIFY_ERROR ? "" : "(warning) ");
			if (f->file && f->line)
				nsh_buf_addf(&b, "%s:%d: ", f->file, f->line);
			else if (f->file)
				nsh_buf_addf(&b, "%s: ", f->file);
			if (f->rule)
				nsh_buf_addf(&b, "%s: ", f->rule);
			nsh_buf_addf(&b, "%s\n", f->message);
			if (f->excerpt)
				indent(&b, f->excerpt, "      ");
		}
	}
	rc = nsh_buf_add(out, b.buf, b.len);
	nsh_buf_release(&b);
	return rc;
}
