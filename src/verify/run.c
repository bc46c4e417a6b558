/*
 * The whole pipeline: detect, measure after the change, compare with the
 * baseline (re-running newly failing tests once), scan the diff, commit
 * messages and PR body, check test integrity, coverage and criteria, and
 * turn everything into checks and a verdict.
 *
 * git runs on the host over the checkout (forge/git.h's fixed
 * environment), with external diff drivers, text conversion and the
 * fsmonitor hook off, so that a checkout's own .git/config cannot make
 * verification run a program.
 */
#include "verify/verify_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "forge/git.h"
#include "secrets/secrets.h"

#include "core/banned.h"

#define COMMITS_MAX	1000		  /* commit messages scanned */
#define UNTRACKED_MAX	((size_t)8 << 20) /* bytes of an untracked file put in the diff */
#define MISSING_LISTED	20		  /* missing tests named one by one */
#define RERUN_NAMED_MAX 1000		  /* newly failing tests looked up one by one */
#define GIT_SAFE	"-c", "core.fsmonitor=false", "-c", "core.quotePath=true"

/* ---- git ---- */

int nsh_vrf_git(const char *dir, struct nsh_buf *out, size_t max, struct nsh_err *err,
		const char *const *args)
{
	struct nsh_proc p;
	int rc;

	nsh_git_init(&p, dir);
	nsh_strvec_pushl(&p.argv, GIT_SAFE, NULL);
	for (size_t i = 0; args[i]; i++)
		nsh_strvec_push(&p.argv, args[i]);
	p.out_max = max;
	p.timeout_ms = 10 * 60 * 1000;
	rc = nsh_proc_run_checked(&p, out, err);
	nsh_proc_release(&p);
	return rc;
}

static int check_rev(const char *dir, const char *rev, struct nsh_err *err)
{
	char *spec = nsh_xasprintf("%s^{commit}", rev);
	const char *args[] = {"rev-parse", "--verify", "--quiet", spec, NULL};
	struct nsh_err xerr = NSH_ERR_INIT;
	int rc = nsh_vrf_git(dir, NULL, 4096, &xerr, args);

	free(spec);
	if (rc)
		return nsh_err_set(err, NSH_EINVAL, "no revision '%s' in '%s'", rev, dir);
	return 0;
}

/*
 * Check that @o->base and @o->head name commits, in one git run where it
 * can be: with the tip (HEAD when @o->head is NULL) in the same run,
 * *@ret_same says whether base and tip are one commit (no commits between
 * them, so no commit messages to read). When that run fails, each is
 * checked alone for the message (a tip that is not a commit then only
 * leaves *@ret_same false).
 */
static int check_revs(const struct nsh_verify_opts *o, bool *ret_same, struct nsh_err *err)
{
	struct nsh_buf out = NSH_BUF_INIT;
	char *b = NULL, *t = NULL, *nl;
	int rc = 0;

	*ret_same = false;
	if (!o->base && !o->head)
		return 0;
	if (o->base && o->base[0] != '-' && (!o->head || o->head[0] != '-')) {
		const char *args[] = {"rev-parse", NULL, NULL, "--", NULL};

		b = nsh_xasprintf("%s^{commit}", o->base);
		t = nsh_xasprintf("%s^{commit}", o->head ? o->head : "HEAD");
		args[1] = b;
		args[2] = t;
		if (!nsh_vrf_git(o->dir, &out, 4096, NULL, args)) {
			nl = strchr(out.buf, '\n');
			*ret_same = nl && !strncmp(out.buf, nl + 1, (size_t)(nl - out.buf)) &&
				    nl[1 + (nl - out.buf)] == '\n';
			goto out;
		}
	}
	if ((o->base && (rc = check_rev(o->dir, o->base, err))) ||
	    (o->head && (rc = check_rev(o->dir, o->head, err))))
		goto out;
out:
	nsh_buf_release(&out);
	free(b);
	free(t);
	return rc;
}

/* Untracked files that are not ignored, as "new file" diffs appended to @out. */
static void untracked(const char *dir, struct nsh_buf *out)
{
	const char *args[] = {"ls-files", "-z", "--others", "--exclude-standard", NULL};
	struct nsh_buf list = NSH_BUF_INIT, file = NSH_BUF_INIT;

	if (nsh_vrf_git(dir, &list, (size_t)16 << 20, NULL, args))
		goto out;
	for (size_t i = 0; i < list.len;) {
		const char *rel = list.buf + i;
		size_t n = strlen(rel), lines = 0;

		i += n + 1;
		nsh_buf_reset(&file);
		/* regular files only: a link is not followed out of the checkout */
		if (!n || strchr(rel, '\n') ||
		    !nsh_vrf_read_fresh(dir, rel, 0, UNTRACKED_MAX, &file))
			continue;
		nsh_buf_addf(out, "diff --git a/%s b/%s\nnew file mode 100644\n", rel, rel);
		if (memchr(file.buf, '\0', file.len < 8000 ? file.len : 8000)) {
			nsh_buf_addf(out, "Binary files /dev/null and b/%s differ\n", rel);
			continue;
		}
		for (size_t k = 0; k < file.len; k++)
			lines += file.buf[k] == '\n';
		if (file.len && file.buf[file.len - 1] != '\n')
			lines++;
		if (!lines)
			continue;
		nsh_buf_addf(out, "--- /dev/null\n+++ b/%s\n@@ -0,0 +1,%zu @@\n", rel, lines);
		for (size_t k = 0; k < file.len;) {
			const char *nl = memchr(file.buf + k, '\n', file.len - k);
			size_t m = nl ? (size_t)(nl - (file.buf + k)) : file.len - k;

			nsh_buf_addch(out, '+');
			nsh_buf_add(out, file.buf + k, m);
			nsh_buf_addch(out, '\n');
			k += m + 1;
		}
	}
out:
	nsh_buf_release(&list);
	nsh_buf_release(&file);
}

int nsh_vrf_git_diff(const char *dir, const char *base, const char *head, bool untracked_staged,
		     struct nsh_verify_diff *ret, struct nsh_err *err)
{
	struct nsh_buf text = NSH_BUF_INIT, empty = NSH_BUF_INIT;
	const char *args[20];
	int n = 0, rc;

	nsh_buf_init(&text, NSH_VERIFY_DIFF_MAX);
	if (!base) {
		/* no base: every file counts as added */
		const char *h[] = {"hash-object", "-t", "tree", "/dev/null", NULL};

		if ((rc = nsh_vrf_git(dir, &empty, 4096, err, h)))
			goto out;
		nsh_buf_trim(&empty);
		base = empty.buf;
	}
	args[n++] = "diff";
	args[n++] = "--no-color";
	args[n++] = "--no-ext-diff";
	args[n++] = "--no-textconv";
	args[n++] = "--find-renames";
	args[n++] = "-U3";
	args[n++] = "--src-prefix=a/";
	args[n++] = "--dst-prefix=b/";
	args[n++] = base;
	if (head)
		args[n++] = head;
	args[n++] = "--";
	args[n] = NULL;
	if ((rc = nsh_vrf_git(dir, &text, NSH_VERIFY_DIFF_MAX, err, args))) {
		if (rc == NSH_ETOOBIG)
			rc = nsh_err_set(err, NSH_ETOOBIG, "the diff is larger than %zu MiB",
					 NSH_VERIFY_DIFF_MAX >> 20);
		goto out;
	}
	if (!head && !untracked_staged)
		untracked(dir, &text);
	nsh_verify_diff_parse(&text, ret);
out:
	nsh_buf_release(&text);
	nsh_buf_release(&empty);
	return rc;
}

/* ---- checks ---- */

static struct nsh_verify_check *new_check(struct nsh_verify_result *r, const char *id,
					  const char *title)
{
	struct nsh_verify_check *c;

	NSH_ALLOC_GROW(r->v, r->nr + 1, r->alloc);
	c = &r->v[r->nr++];
	memset(c, 0, sizeof(*c));
	c->id = nsh_xstrdup(id);
	c->title = nsh_xstrdup(title);
	c->status = NSH_VERIFY_CHECK_SKIPPED;
	return c;
}

static void evidence(struct nsh_verify_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void evidence(struct nsh_verify_check *c, const char *fmt, ...)
{
	struct nsh_buf b = NSH_BUF_INIT;
	va_list ap;

	nsh_buf_init(&b, 2048);
	va_start(ap, fmt);
	nsh_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(c->evidence);
	c->evidence = nsh_buf_detach(&b, NULL);
}

static bool skipped(const struct nsh_verify_plan *p, const char *name)
{
	return nsh_strvec_find(&p->config.skip, name) >= 0;
}

/* Common outcome of a step kind across its commands: missing, timeout, unreadable. */
static bool step_outcomes(const struct nsh_verify_measure *m, enum nsh_verify_step step,
			  struct nsh_verify_check *c, struct nsh_buf *names)
{
	size_t ran = 0, missing = 0, broken = 0, total = 0;

	for (size_t i = 0; i < m->nr; i++) {
		const struct nsh_verify_step_result *s = &m->v[i];

		if (s->step != step)
			continue;
		total++;
		if (names->len)
			nsh_buf_adds(names, ", ");
		nsh_buf_addf(names, "'%s'", s->command ? s->command : s->name);
		if (s->outcome == NSH_VERIFY_OUT_RAN) {
			ran++;
		} else if (s->outcome == NSH_VERIFY_OUT_MISSING) {
			char *msg = nsh_xasprintf(
				"'%s' is configured but its tool is not installed", s->name);

			missing++;
			nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TOOL,
						NSH_VERIFY_WARNING, "tool-missing", NULL, 0, msg,
						s->excerpt);
			free(msg);
		} else {
			const char *rule = "unreadable", *what = "ran but left no readable results";
			char *msg;

			if (s->outcome == NSH_VERIFY_OUT_TIMEOUT) {
				rule = "timeout";
				what = "was killed at its time limit";
			} else if (s->outcome == NSH_VERIFY_OUT_NOT_RUN) {
				rule = "not-started";
				what = "could not be started";
			}
			msg = nsh_xasprintf("'%s' %s", s->name, what);
			broken++;
			nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TOOL,
						NSH_VERIFY_ERROR, rule, NULL, 0, msg, s->excerpt);
			free(msg);
		}
	}
	if (!total) {
		c->status = NSH_VERIFY_CHECK_SKIPPED;
		return false;
	}
	if (broken)
		c->status = NSH_VERIFY_CHECK_ERROR;
	else if (missing && !ran)
		c->status = NSH_VERIFY_CHECK_MISSING;
	else
		c->status = NSH_VERIFY_CHECK_PASS;
	return ran > 0;
}

static const struct nsh_test_result *find_test(const struct nsh_test_report *r, const char *name)
{
	for (size_t i = 0; i < r->nr; i++)
		if (!strcmp(r->v[i].name, name))
			return &r->v[i];
	return NULL;
}

/* @from into @to (emptied first), through the full JSON form. */
static int copy_report(const struct nsh_test_report *from, struct nsh_test_report *to,
		       struct nsh_err *err)
{
	json_t *j = nsh_test_report_to_json_full(from);
	int rc;

	nsh_test_report_release(to);
	rc = nsh_test_report_from_json(j, to, err);
	json_decref(j);
	return rc;
}

/*
 * The newly failing tests once more: each test command that reported some
 * runs again, narrowed to them where its runner can name tests
 * (select.c), else whole; commands without any run no more. The command
 * lines go to @res->reruns, the results to @again (zeroed caller storage).
 */
static int rerun(const struct nsh_verify_opts *o, struct nsh_verify_result *res,
		 struct nsh_verify_measure *again, struct nsh_err *err)
{
	const struct nsh_strvec *newly = &res->diff.newly_failing;
	struct nsh_verify_limits lim = o->limits;
	size_t k = 0;
	int rc = 0;

	lim.tests_only = true;
	for (size_t i = 0; i < res->plan.nr && !rc; i++) {
		const struct nsh_verify_command *c = &res->plan.v[i];
		const struct nsh_verify_step_result *s;
		struct nsh_strvec names = NSH_STRVEC_INIT, argv, alt;
		bool whole = newly->nr > RERUN_NAMED_MAX, narrowed = false;

		if (c->step != NSH_VERIFY_STEP_TEST)
			continue;
		/* its result: measure keeps one per command, in the plan's order */
		while (k < res->after.nr && res->after.v[k].step != NSH_VERIFY_STEP_TEST)
			k++;
		if (k >= res->after.nr)
			break;
		s = &res->after.v[k++];
		if (s->outcome != NSH_VERIFY_OUT_RAN || !s->tests.failed)
			continue;
		for (size_t t = 0; t < s->tests.nr && !whole; t++) {
			const struct nsh_test_result *r = &s->tests.v[t];

			if (r->status != NSH_TEST_FAIL || nsh_strvec_find(newly, r->name) < 0 ||
			    nsh_strvec_find(&names, r->name) >= 0)
				continue;
			/*
			 * a test named after its file is the file failing (jest), one
			 * named after the command is the command (nothing readable):
			 * neither names a test the runner knows
			 */
			whole = (r->file && !strcmp(r->file, r->name)) ||
				(!r->file && !strcmp(r->name, c->name));
			nsh_strvec_push(&names, r->name);
		}
		if (!names.nr && !whole) {
			nsh_strvec_release(&names);
			continue;
		}
		if (!whole)
			narrowed = nsh_vrf_narrow(o->dir, c, &names, &argv, &alt);
		rc = nsh_vrf_measure_command(o->dir, &res->plan, o->runner, &lim, c,
					     narrowed ? &argv : NULL, narrowed ? &alt : NULL, again,
					     err);
		if (again->nr && again->v[again->nr - 1].command)
			nsh_strvec_push(&res->reruns, again->v[again->nr - 1].command);
		if (narrowed) {
			nsh_strvec_release(&argv);
			nsh_strvec_release(&alt);
		}
		nsh_strvec_release(&names);
	}
	return rc;
}

static int tests_check(const struct nsh_verify_opts *o, struct nsh_verify_result *res,
		       struct nsh_err *err)
{
	struct nsh_verify_check *c = new_check(res, "tests", "Tests");
	struct nsh_test_report empty = {0};
	const struct nsh_test_report *before = o->baseline ? &o->baseline->tests : &empty;
	const struct nsh_test_report *after = &res->after.tests;
	struct nsh_buf names = NSH_BUF_INIT;
	enum nsh_verify_status st;
	int rc = 0;

	if (o->tests) {
		/* the caller ran them: they ran and were read */
		nsh_buf_addf(&names, "'%s'", o->tests_by ? o->tests_by : "the tests");
		c->status = NSH_VERIFY_CHECK_PASS;
	} else if (!step_outcomes(&res->after, NSH_VERIFY_STEP_TEST, c, &names)) {
		if (c->status == NSH_VERIFY_CHECK_SKIPPED)
			evidence(c, "no test command found%s",
				 skipped(&res->plan, "test") ? " (skipped by verify.yml)" : "");
		else
			evidence(c, "%s did not run", names.buf);
		goto out;
	}
	st = c->status;
	nsh_verify_compare(before, after, &res->diff);
	/* newly failing: once more, to tell flaky from broken */
	if (res->diff.newly_failing.nr && !o->no_rerun && !o->tests) {
		struct nsh_verify_measure again = {0};

		if ((rc = rerun(o, res, &again, err))) {
			nsh_verify_measure_release(&again);
			goto out;
		}
		for (size_t i = 0; i < res->diff.newly_failing.nr; i++) {
			const char *name = res->diff.newly_failing.v[i];
			const struct nsh_test_result *t = find_test(&again.tests, name);

			nsh_strvec_push(
				t && t->status == NSH_TEST_PASS ? &res->flaky : &res->broken, name);
		}
		nsh_verify_measure_release(&again);
	} else {
		for (size_t i = 0; i < res->diff.newly_failing.nr; i++)
			nsh_strvec_push(&res->broken, res->diff.newly_failing.v[i]);
	}
	for (size_t i = 0; i < res->broken.nr; i++) {
		const struct nsh_test_result *t = find_test(after, res->broken.v[i]);

		nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TEST, NSH_VERIFY_ERROR,
					o->baseline ? "newly-failing" : "failing",
					t ? t->file : NULL, t ? t->line : 0, res->broken.v[i],
					t ? t->message : NULL);
	}
	for (size_t i = 0; i < res->flaky.nr; i++) {
		const struct nsh_test_result *t = find_test(after, res->flaky.v[i]);
		char *msg = nsh_xasprintf("%s (failed, then passed when run again: flaky)",
					  res->flaky.v[i]);

		nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TEST, NSH_VERIFY_WARNING,
					"flaky", t ? t->file : NULL, t ? t->line : 0, msg,
					t ? t->message : NULL);
		free(msg);
	}
	for (size_t i = 0; i < res->diff.still_failing.nr; i++) {
		const struct nsh_test_result *t = find_test(after, res->diff.still_failing.v[i]);

		nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TEST, NSH_VERIFY_NOTE,
					"still-failing", t ? t->file : NULL, t ? t->line : 0,
					res->diff.still_failing.v[i],
					"failed before the change too");
	}
	for (size_t i = 0; i < res->diff.missing.nr && i < MISSING_LISTED; i++)
		nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TEST, NSH_VERIFY_WARNING,
					"test-missing", NULL, 0, res->diff.missing.v[i],
					"ran before the change, not after");
	if (res->broken.nr || st == NSH_VERIFY_CHECK_ERROR)
		c->status = res->broken.nr ? NSH_VERIFY_CHECK_FAIL : NSH_VERIFY_CHECK_ERROR;
	else if (res->flaky.nr || res->diff.missing.nr || !after->complete)
		c->status = NSH_VERIFY_CHECK_WARN;
	else
		c->status = st;
	if (!after->complete && c->status != NSH_VERIFY_CHECK_ERROR)
		nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_TOOL, NSH_VERIFY_WARNING,
					"incomplete", NULL, 0,
					"the test output did not reach its end", NULL);
	evidence(c,
		 "%lld passed, %lld failed, %lld skipped by %s; %s %zu, flaky %zu, fixed %zu, "
		 "still failing %zu, missing %zu",
		 (long long)after->passed, (long long)after->failed, (long long)after->skipped,
		 names.buf, o->baseline ? "newly failing" : "failing (no baseline)", res->broken.nr,
		 res->flaky.nr, res->diff.fixed.nr, res->diff.still_failing.nr,
		 res->diff.missing.nr);
	if (res->reruns.nr) {
		/* what ran again, so that a reader sees how flaky was told from broken */
		struct nsh_buf b = NSH_BUF_INIT;

		nsh_buf_init(&b, 2048);
		nsh_buf_adds(&b, c->evidence);
		nsh_buf_adds(&b, "; run again: ");
		for (size_t i = 0; i < res->reruns.nr; i++)
			nsh_buf_addf(&b, "%s%s", i ? " and " : "", res->reruns.v[i]);
		free(c->evidence);
		c->evidence = nsh_buf_detach(&b, NULL);
	}
out:
	nsh_buf_release(&names);
	return rc;
}

static bool same_finding(const struct nsh_verify_finding *a, const struct nsh_verify_finding *b)
{
	return a->level == b->level && !strcmp(a->message, b->message) &&
	       ((!a->file && !b->file) || (a->file && b->file && !strcmp(a->file, b->file))) &&
	       ((!a->rule && !b->rule) || (a->rule && b->rule && !strcmp(a->rule, b->rule)));
}

/* Lint, types, build: what the after-run found that the baseline did not. */
static void findings_check(const struct nsh_verify_opts *o, struct nsh_verify_result *res,
			   enum nsh_verify_step step, const char *id, const char *title)
{
	struct nsh_verify_check *c = new_check(res, id, title);
	struct nsh_buf names = NSH_BUF_INIT;
	size_t errors = 0, warnings = 0, old = 0;
	bool *matched = NULL;
	size_t nbase = 0;
	const struct nsh_verify_finding **base = NULL;

	if (!step_outcomes(&res->after, step, c, &names)) {
		if (c->status == NSH_VERIFY_CHECK_SKIPPED)
			evidence(c, "none configured");
		else
			evidence(c, "%s did not run", names.buf);
		goto out;
	}
	/* the baseline's findings of this step, each matching one finding after */
	if (o->baseline) {
		for (size_t i = 0; i < o->baseline->nr; i++)
			if (o->baseline->v[i].step == step)
				nbase += o->baseline->v[i].findings.nr;
		base = nsh_xcalloc(nbase + 1, sizeof(*base));
		matched = nsh_xcalloc(nbase + 1, 1);
		nbase = 0;
		for (size_t i = 0; i < o->baseline->nr; i++)
			if (o->baseline->v[i].step == step)
				for (size_t k = 0; k < o->baseline->v[i].findings.nr; k++)
					base[nbase++] = &o->baseline->v[i].findings.v[k];
	}
	for (size_t i = 0; i < res->after.nr; i++) {
		const struct nsh_verify_step_result *s = &res->after.v[i];

		if (s->step != step)
			continue;
		for (size_t k = 0; k < s->findings.nr; k++) {
			const struct nsh_verify_finding *f = &s->findings.v[k];
			bool seen = false;

			for (size_t b = 0; b < nbase && !seen; b++) {
				if (!matched[b] && same_finding(base[b], f)) {
					matched[b] = true;
					seen = true;
				}
			}
			if (seen) {
				old++;
				continue;
			}
			errors += f->level == NSH_VERIFY_ERROR;
			warnings += f->level == NSH_VERIFY_WARNING;
			nsh_verify_findings_add(&c->findings, f->kind, f->level, f->rule, f->file,
						f->line, f->message, f->excerpt);
		}
	}
	if (errors)
		c->status = NSH_VERIFY_CHECK_FAIL;
	else if (warnings && c->status == NSH_VERIFY_CHECK_PASS)
		c->status = NSH_VERIFY_CHECK_WARN;
	evidence(c, "%zu error%s, %zu warning%s%s by %s%s", errors, errors == 1 ? "" : "s",
		 warnings, warnings == 1 ? "" : "s", o->baseline ? " new" : "", names.buf,
		 old ? "; findings present before the change are not counted" : "");
out:
	free(base);
	free(matched);
	nsh_buf_release(&names);
}

/* Hits of vault values (the redactor's scan) as secret findings. */
static void known_hits(const struct nsh_redactor *known, const char *text, size_t len,
		       const char *label, bool diff, struct nsh_verify_check *c)
{
	struct nsh_redact_hits hits = {0};

	if (nsh_redact_scan(known, text, len, &hits, NULL))
		return;
	for (size_t i = 0; i < hits.nr; i++) {
		const struct nsh_redact_hit *h = &hits.v[i];
		char *msg;

		if (diff && h->side != '+')
			continue;
		msg = nsh_xasprintf("the value of vault secret '%s'", h->name);
		nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_SECRET, NSH_VERIFY_ERROR,
					"vault-secret", diff && h->file ? h->file : label,
					(int)(diff && h->file_line ? h->file_line : h->line), msg,
					NULL);
		free(msg);
	}
	nsh_redact_hits_release(&hits);
}

/* Commit messages of base..head as "sha\0message\0" records. */
static int commit_messages(const char *dir, const char *base, const char *head, struct nsh_buf *out,
			   struct nsh_err *err)
{
	char *range = nsh_xasprintf("%s..%s", base, head ? head : "HEAD");
	char *max = nsh_xasprintf("--max-count=%d", COMMITS_MAX);
	const char *args[] = {"log", "-z", "--format=%H%x00%B", max, range, "--", NULL};
	int rc = nsh_vrf_git(dir, out, (size_t)64 << 20, err, args);

	free(range);
	free(max);
	return rc;
}

static void scan_checks(const struct nsh_verify_opts *o, struct nsh_verify_result *res,
			const struct nsh_verify_diff *d, int diff_rc, const char *diff_err,
			bool no_commits)
{
	const struct nsh_verify_config *cfg = &res->plan.config;
	struct nsh_verify_check *sec, *sql, *integ;
	struct nsh_buf msgs = NSH_BUF_INIT;
	size_t ncommits = 0, bytes, first = res->nr;

	/* made first, then looked up: adding a check may move the others */
	new_check(res, "secrets", "Secrets");
	new_check(res, "sql", "SQL injection");
	new_check(res, "integrity", "Test integrity");
	sec = &res->v[first];
	sql = &res->v[first + 1];
	integ = &res->v[first + 2];

	if (diff_rc) {
		sec->status = sql->status = NSH_VERIFY_CHECK_ERROR;
		evidence(sec, "not scanned: %s", diff_err);
		evidence(sql, "not scanned: %s", diff_err);
		if (o->base) {
			integ->status = NSH_VERIFY_CHECK_ERROR;
			evidence(integ, "not checked: %s", diff_err);
		} else {
			evidence(integ, "no baseline revision: nothing to compare");
		}
		return;
	}
	/* secrets: the diff's added lines, commit messages, PR body */
	if (skipped(&res->plan, "secrets")) {
		evidence(sec, "skipped by verify.yml");
	} else {
		bytes = nsh_verify_scan_secrets(d, &cfg->allow_secrets, &sec->findings);
		if (o->known)
			known_hits(o->known, d->text.buf, d->text.len, "diff", true, sec);
		if (o->base && !no_commits &&
		    !commit_messages(o->dir, o->base, o->head, &msgs, NULL)) {
			for (size_t i = 0; i < msgs.len;) {
				const char *sha = msgs.buf + i;
				size_t sl = strlen(sha), bl;
				const char *body;
				char *label;

				if (i + sl >= msgs.len)
					break;
				body = sha + sl + 1;
				bl = strlen(body);
				label = nsh_xasprintf("commit:%.12s", sha);
				bytes += nsh_verify_scan_secrets_text(
					body, bl, label, &cfg->allow_secrets, &sec->findings);
				if (o->known)
					known_hits(o->known, body, bl, label, false, sec);
				free(label);
				ncommits++;
				i += sl + 1 + bl + 1;
			}
		}
		if (o->pr_body) {
			bytes += nsh_verify_scan_secrets_text(o->pr_body, strlen(o->pr_body),
							      "pr-body", &cfg->allow_secrets,
							      &sec->findings);
			if (o->known)
				known_hits(o->known, o->pr_body, strlen(o->pr_body), "pr-body",
					   false, sec);
		}
		res->scanned_bytes += bytes;
		sec->status = sec->findings.nr ? NSH_VERIFY_CHECK_FAIL : NSH_VERIFY_CHECK_PASS;
		evidence(sec,
			 "%zu found in %zu added line%s of %zu file%s%s, %zu commit message%s%s",
			 sec->findings.nr, d->added, d->added == 1 ? "" : "s", d->nr,
			 d->nr == 1 ? "" : "s", o->base ? "" : " (every file: no base)", ncommits,
			 ncommits == 1 ? "" : "s", o->pr_body ? " and the PR body" : "");
	}
	if (skipped(&res->plan, "sql")) {
		evidence(sql, "skipped by verify.yml");
	} else {
		res->scanned_bytes += nsh_verify_scan_sqli(d, &cfg->allow_sql, &sql->findings);
		sql->status = sql->findings.nr ? NSH_VERIFY_CHECK_FAIL : NSH_VERIFY_CHECK_PASS;
		evidence(sql,
			 "%zu query call%s built from strings in the changed JavaScript, "
			 "TypeScript, Python, Go and Java code",
			 sql->findings.nr, sql->findings.nr == 1 ? "" : "s");
	}
	if (skipped(&res->plan, "integrity")) {
		evidence(integ, "skipped by verify.yml");
	} else if (!o->base) {
		evidence(integ, "no baseline revision: nothing to compare");
	} else {
		nsh_verify_check_integrity(d, &cfg->allow_integrity, &integ->findings);
		integ->status = nsh_verify_findings_count(&integ->findings, NSH_VERIFY_ERROR)
					? NSH_VERIFY_CHECK_FAIL
					: NSH_VERIFY_CHECK_PASS;
		if (integ->findings.nr)
			evidence(integ,
				 "tests weakened: %zu finding%s (skips, removals, changed "
				 "expectations, loosened thresholds or rules)",
				 integ->findings.nr, integ->findings.nr == 1 ? "" : "s");
		else
			evidence(integ, "no test deleted, skipped or weakened, no threshold or "
					"rule loosened");
	}
	nsh_buf_release(&msgs);
}

/* A copy of @from into @to (zeroed or released). */
static void cov_copy(struct nsh_verify_coverage *to, const struct nsh_verify_coverage *from)
{
	*to = *from;
	to->source = from->source ? nsh_xstrdup(from->source) : NULL;
}

static void coverage_check(const struct nsh_verify_opts *o, struct nsh_verify_result *res)
{
	struct nsh_verify_check *c = new_check(res, "coverage", "Coverage");
	const struct nsh_verify_coverage *a = &res->after.coverage;
	const struct nsh_verify_coverage *b = o->baseline ? &o->baseline->coverage : NULL;

	if (skipped(&res->plan, "coverage")) {
		evidence(c, "skipped by verify.yml");
		return;
	}
	if (!a->present) {
		if (o->tests)
			evidence(c, "no coverage produced by %s",
				 o->tests_by ? o->tests_by : "the tests");
		else
			evidence(c, "no coverage produced by the test commands");
		return;
	}
	c->status = NSH_VERIFY_CHECK_PASS;
	if (b && b->present) {
		double delta = a->percent - b->percent;

		cov_copy(&res->cov_before, b);
		evidence(c, "%.2f%% -> %.2f%% (%+.2f pp) from %s", b->percent, a->percent, delta,
			 a->source ? a->source : "?");
		if (delta < -0.005) {
			char *msg = nsh_xasprintf("coverage went down by %.2f percentage points",
						  -delta);

			c->status = NSH_VERIFY_CHECK_WARN;
			nsh_verify_findings_add(&c->findings, NSH_VERIFY_KIND_COVERAGE,
						NSH_VERIFY_WARNING, "coverage-down", a->source, 0,
						msg, NULL);
			free(msg);
		}
	} else {
		evidence(c, "%.2f%% from %s (no baseline figure to compare)", a->percent,
			 a->source ? a->source : "?");
	}
}

void nsh_verify_result_release(struct nsh_verify_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nr; i++) {
		free(r->v[i].id);
		free(r->v[i].title);
		free(r->v[i].evidence);
		nsh_verify_findings_release(&r->v[i].findings);
	}
	free(r->v);
	nsh_verify_plan_release(&r->plan);
	nsh_verify_measure_release(&r->after);
	nsh_test_diff_release(&r->diff);
	nsh_strvec_release(&r->flaky);
	nsh_strvec_release(&r->broken);
	nsh_strvec_release(&r->reruns);
	nsh_verify_coverage_release(&r->cov_before);
	memset(r, 0, sizeof(*r));
}

int nsh_verify_run(const struct nsh_verify_opts *o, struct nsh_verify_result *ret,
		   struct nsh_err *err)
{
	struct nsh_verify_diff d = {0};
	struct nsh_verify_criteria crit = {0};
	struct nsh_err derr = NSH_ERR_INIT;
	const json_t *cj;
	bool same = false;
	int rc, diff_rc;

	memset(ret, 0, sizeof(*ret));
	nsh_test_diff_release(&ret->diff);
	nsh_strvec_init(&ret->diff.newly_failing);
	nsh_strvec_init(&ret->diff.fixed);
	nsh_strvec_init(&ret->diff.still_failing);
	nsh_strvec_init(&ret->diff.missing);
	nsh_strvec_init(&ret->flaky);
	nsh_strvec_init(&ret->broken);
	nsh_strvec_init(&ret->reruns);
	if (!o->dir || !o->runner)
		return nsh_err_set(err, NSH_EINVAL, "verify needs a directory and a runner");
	if (o->base_is_head && o->base && !o->head)
		same = true;
	else if ((rc = check_revs(o, &same, err)))
		return rc;
	if ((rc = nsh_verify_detect(o->dir, &ret->plan, err)))
		return rc;
	cj = o->criteria ? o->criteria : ret->plan.config.criteria;
	if (cj && !skipped(&ret->plan, "criteria") &&
	    (rc = nsh_verify_criteria_parse(cj, &crit, err)))
		goto fail;
	ret->has_baseline = o->baseline != NULL;
	ret->tests_given = o->tests != NULL;
	{
		struct nsh_verify_limits lim = o->limits;

		lim.no_tests = lim.no_tests || o->tests;
		rc = nsh_verify_measure(o->dir, &ret->plan, o->runner, &lim, &ret->after, err);
	}
	if (rc)
		goto fail;
	if (o->tests && (rc = copy_report(o->tests, &ret->after.tests, err)))
		goto fail;
	if (o->tests && o->coverage && o->coverage->present) {
		/* the caller's run: its coverage is the one after the change */
		nsh_verify_coverage_release(&ret->after.coverage);
		cov_copy(&ret->after.coverage, o->coverage);
	}
	/* build first in the checklist, then tests, lint, types */
	findings_check(o, ret, NSH_VERIFY_STEP_BUILD, "build", "Build");
	if ((rc = tests_check(o, ret, err)))
		goto fail;
	findings_check(o, ret, NSH_VERIFY_STEP_LINT, "lint", "Lint");
	findings_check(o, ret, NSH_VERIFY_STEP_TYPES, "types", "Types");
	diff_rc = nsh_vrf_git_diff(o->dir, o->base, o->head, o->untracked_staged, &d, &derr);
	scan_checks(o, ret, &d, diff_rc, derr.msg, same);
	coverage_check(o, ret);
	for (size_t i = 0; i < crit.nr; i++) {
		struct nsh_vrf_crit_ctx ctx = {o->dir, o->runner, &o->limits, ret};
		struct nsh_verify_check c = {0};

		if ((rc = nsh_vrf_decide_criterion(&ctx, &crit.v[i], &c, err))) {
			free(c.id);
			free(c.title);
			free(c.evidence);
			nsh_verify_findings_release(&c.findings);
			goto fail;
		}
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		ret->v[ret->nr++] = c;
	}
	/* the verdict */
	ret->verdict = NSH_VERIFY_VERDICT_PASS;
	for (size_t i = 0; i < ret->nr; i++) {
		enum nsh_verify_status s = ret->v[i].status;

		if (s == NSH_VERIFY_CHECK_FAIL || s == NSH_VERIFY_CHECK_ERROR)
			ret->verdict = NSH_VERIFY_VERDICT_FAIL;
		else if ((s == NSH_VERIFY_CHECK_REVIEW || s == NSH_VERIFY_CHECK_MISSING) &&
			 ret->verdict == NSH_VERIFY_VERDICT_PASS)
			ret->verdict = NSH_VERIFY_VERDICT_REVIEW;
	}
	nsh_verify_diff_release(&d);
	nsh_verify_criteria_release(&crit);
	return 0;
fail:
	nsh_verify_diff_release(&d);
	nsh_verify_criteria_release(&crit);
	nsh_verify_result_release(ret);
	return rc;
}
