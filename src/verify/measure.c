/*
 * Running a plan: the two runners (a plain subprocess, the job's
 * sandbox), each command with its alternative when its program is
 * missing, the reading of its output or report, coverage, and the JSON
 * form of a measure that keeps a baseline across restarts.
 */
#include "verify/verify_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/proc.h"
#include "sandbox/sandbox.h"

#include "core/banned.h"

#define EXCERPT_LINES 30
#define REPORT_FILES  2000 /* XML files read from a report directory */

void nsh_verify_exec_init(struct nsh_verify_exec *e)
{
	memset(e, 0, sizeof(*e));
	nsh_buf_init(&e->out, SIZE_MAX);
	nsh_buf_init(&e->err, SIZE_MAX);
}

void nsh_verify_exec_release(struct nsh_verify_exec *e)
{
	if (!e)
		return;
	nsh_buf_release(&e->out);
	nsh_buf_release(&e->err);
}

/* ---- the plain subprocess runner ---- */

static int proc_run(void *ctx, const struct nsh_verify_cmd *cmd, struct nsh_verify_exec *ret,
		    struct nsh_err *err)
{
	const char *dir = ctx;
	struct nsh_proc p;
	char *cwd = NULL;
	int rc;

	nsh_proc_init(&p);
	for (size_t i = 0; cmd->argv[i]; i++)
		nsh_strvec_push(&p.argv, cmd->argv[i]);
	for (size_t i = 0; cmd->env && cmd->env[i]; i++)
		nsh_strvec_push(&p.env, cmd->env[i]);
	if (cmd->cwd && *cmd->cwd)
		cwd = nsh_xasprintf("%s/%s", dir, cmd->cwd);
	p.cwd = cwd ? cwd : dir;
	p.timeout_ms = cmd->timeout_ms;
	if (cmd->out_max)
		p.out_max = p.err_max = cmd->out_max;
	rc = nsh_proc_run(&p, err);
	if (!rc) {
		nsh_buf_reset(&ret->out);
		nsh_buf_reset(&ret->err);
		nsh_buf_add(&ret->out, p.out.buf, p.out.len);
		nsh_buf_add(&ret->err, p.err.buf, p.err.len);
		ret->exit_code = p.exit_code;
		ret->term_signal = p.term_signal;
		ret->timed_out = p.timed_out;
		ret->truncated = p.out_truncated || p.err_truncated;
		ret->elapsed_ms = p.elapsed_ms;
	}
	nsh_proc_release(&p);
	free(cwd);
	return rc;
}

void nsh_verify_runner_proc(struct nsh_verify_runner *r, const char *dir)
{
	r->run = proc_run;
	r->ctx = (void *)dir;
	r->root = dir;
}

/* ---- the sandbox runner ---- */

void nsh_verify_exec_from_sandbox(struct nsh_verify_exec *ret, const struct nsh_sandbox_cmd *c)
{
	nsh_buf_reset(&ret->out);
	nsh_buf_reset(&ret->err);
	nsh_buf_add(&ret->out, c->out.buf, c->out.len);
	nsh_buf_add(&ret->err, c->err.buf, c->err.len);
	ret->exit_code = c->exit_code;
	ret->term_signal = c->term_signal;
	ret->timed_out = c->timed_out;
	ret->truncated = c->out_truncated || c->err_truncated;
	ret->elapsed_ms = c->elapsed_ms;
}

static int sandbox_run(void *ctx, const struct nsh_verify_cmd *cmd, struct nsh_verify_exec *ret,
		       struct nsh_err *err)
{
	struct nsh_sandbox *sb = ctx;
	struct nsh_sandbox_cmd c;
	char *cwd = NULL;
	int rc;

	nsh_sandbox_cmd_init(&c);
	for (size_t i = 0; cmd->argv[i]; i++)
		nsh_strvec_push(&c.argv, cmd->argv[i]);
	for (size_t i = 0; cmd->env && cmd->env[i]; i++)
		nsh_strvec_push(&c.env, cmd->env[i]);
	if (cmd->cwd && *cmd->cwd)
		cwd = nsh_xasprintf("/workspace/%s", cmd->cwd);
	c.cwd = cwd;
	c.timeout_ms = cmd->timeout_ms;
	c.out_max = cmd->out_max;
	rc = nsh_sandbox_exec(sb, &c, err);
	if (!rc)
		nsh_verify_exec_from_sandbox(ret, &c);
	nsh_sandbox_cmd_release(&c);
	free(cwd);
	return rc;
}

void nsh_verify_runner_sandbox(struct nsh_verify_runner *r, struct nsh_sandbox *sb)
{
	r->run = sandbox_run;
	r->ctx = sb;
	r->root = "/workspace";
}

/* ---- one command ---- */

int nsh_vrf_exec(const struct nsh_verify_runner *runner, const struct nsh_strvec *argv,
		 const struct nsh_strvec *env, const char *cwd, int64_t timeout_ms, size_t out_max,
		 struct nsh_verify_exec *ret, struct nsh_err *err)
{
	struct nsh_verify_cmd cmd = {
		.argv = (const char *const *)argv->v,
		.env = env ? (const char *const *)env->v : NULL,
		.cwd = cwd,
		.timeout_ms = timeout_ms,
		.out_max = out_max,
	};

	if (!argv->nr)
		return nsh_err_set(err, NSH_EINVAL, "empty command");
	return runner->run(runner->ctx, &cmd, ret, err);
}

bool nsh_vrf_exec_missing(const struct nsh_verify_exec *e)
{
	if (e->timed_out)
		return false;
	if (e->exit_code == 127)
		return true;
	if (e->exit_code == 1 && memmem(e->err.buf, e->err.len, "No module named ", 16) &&
	    e->err.len < 4096)
		return true;
	/* cargo: "error: no such command: `clippy`" */
	return e->exit_code != 0 && memmem(e->err.buf, e->err.len, "no such command: ", 17) &&
	       e->err.len < 4096;
}

/* The output worth showing: the tail of stderr, then of stdout. */
static char *excerpt_of(const struct nsh_verify_exec *e)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *t;

	nsh_buf_init(&b, NSH_VERIFY_EXCERPT_MAX);
	if (e->err.len) {
		t = nsh_vrf_tail(e->err.buf, e->err.len, EXCERPT_LINES / 2,
				 NSH_VERIFY_EXCERPT_MAX / 2);
		nsh_buf_adds(&b, t);
		free(t);
	}
	if (e->out.len) {
		t = nsh_vrf_tail(e->out.buf, e->out.len, EXCERPT_LINES / 2,
				 NSH_VERIFY_EXCERPT_MAX / 2 - 2);
		if (b.len)
			nsh_buf_addch(&b, '\n');
		nsh_buf_adds(&b, t);
		free(t);
	}
	return nsh_buf_detach(&b, NULL);
}

/* ---- files the tools write ---- */

/* Parse every fresh *.xml file of directory @rel below @dir into @r. */
static bool read_report_dir(const char *dir, const char *rel, time_t since,
			    const struct nsh_verify_parse_ctx *ctx, enum nsh_verify_format fmt,
			    struct nsh_test_report *r)
{
	int dfd = nsh_below_dir(dir, rel);
	DIR *dh = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	struct nsh_buf b = NSH_BUF_INIT;
	size_t files = 0;
	bool any = false;

	if (!dh) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	while ((e = readdir(dh)) && files < REPORT_FILES) {
		size_t n = strlen(e->d_name);
		struct nsh_test_report one = {0};

		if (n < 5 || strcmp(e->d_name + n - 4, ".xml"))
			continue;
		if (nsh_vrf_read_fresh_at(dirfd(dh), e->d_name, since, NSH_VERIFY_REPORT_MAX, &b)) {
			nsh_verify_parse_tests(fmt, b.buf, b.len, ctx, &one);
			nsh_test_report_merge(r, &one);
			any = true;
			files++;
		}
	}
	closedir(dh);
	nsh_buf_release(&b);
	return any;
}

static void relativize_tests(struct nsh_test_report *r, const char *root, const char *dir)
{
	for (size_t i = 0; i < r->nr; i++) {
		char *a, *b;

		if (!r->v[i].file)
			continue;
		a = nsh_vrf_relpath(r->v[i].file, root);
		b = nsh_vrf_relpath(a, dir);
		free(r->v[i].file);
		free(a);
		r->v[i].file = b;
	}
}

static void relativize_findings(struct nsh_verify_findings *f, const char *root, const char *dir)
{
	for (size_t i = 0; i < f->nr; i++) {
		char *a, *b;

		if (!f->v[i].file)
			continue;
		a = nsh_vrf_relpath(f->v[i].file, root);
		b = nsh_vrf_relpath(a, dir);
		free(f->v[i].file);
		free(a);
		f->v[i].file = b;
	}
}

static void copy_report(struct nsh_test_report *into, const struct nsh_test_report *from)
{
	bool first = into->nr == 0 && !into->complete;

	for (size_t i = 0; i < from->nr; i++) {
		const struct nsh_test_result *t = &from->v[i];

		nsh_test_report_add(into, t->name, t->status, t->file, t->line, t->message);
	}
	into->complete = first ? from->complete : into->complete && from->complete;
	into->truncated |= from->truncated;
	nsh_test_report_count(into);
}

static void read_coverage(const char *dir, const struct nsh_verify_command *c, time_t since,
			  const struct nsh_verify_exec *e, struct nsh_verify_coverage *ret)
{
	struct nsh_buf b = NSH_BUF_INIT;
	double pct;

	if (ret->present)
		return;
	for (int k = -1; nsh_vrf_cov_candidates[k + 1] || k < 0; k++) {
		const char *rel = k < 0 ? c->coverage : nsh_vrf_cov_candidates[k];
		enum nsh_verify_cov_format fmt;

		if (!rel)
			continue;
		fmt = k < 0 && c->cov_format ? c->cov_format : nsh_verify_cov_format_of(rel);
		if (fmt != NSH_VERIFY_COV_NONE &&
		    nsh_vrf_read_fresh(dir, rel, since, NSH_VERIFY_REPORT_MAX, &b) &&
		    !nsh_verify_coverage_parse(fmt, b.buf, b.len, ret, NULL)) {
			ret->source = nsh_xstrdup(rel);
			nsh_buf_release(&b);
			return;
		}
	}
	nsh_buf_release(&b);
	/* node --test --experimental-test-coverage prints a table in TAP comments */
	if (c->format == NSH_VERIFY_FMT_TAP && nsh_vrf_tap_coverage(e->out.buf, e->out.len, &pct)) {
		ret->present = true;
		ret->percent = pct;
		ret->format = NSH_VERIFY_COV_NONE;
		ret->source = nsh_xstrdup("node --test coverage report");
	}
}

static void step_release(struct nsh_verify_step_result *s)
{
	free(s->name);
	free(s->command);
	free(s->excerpt);
	nsh_test_report_release(&s->tests);
	nsh_verify_findings_release(&s->findings);
}

void nsh_verify_measure_release(struct nsh_verify_measure *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nr; i++)
		step_release(&m->v[i]);
	free(m->v);
	nsh_test_report_release(&m->tests);
	nsh_verify_coverage_release(&m->coverage);
	memset(m, 0, sizeof(*m));
}

const struct nsh_verify_step_result *nsh_verify_measure_step(const struct nsh_verify_measure *m,
							     enum nsh_verify_step step)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->v[i].step == step)
			return &m->v[i];
	return NULL;
}

static const char *const outcome_names[] = {
	[NSH_VERIFY_OUT_RAN] = "ran",	      [NSH_VERIFY_OUT_MISSING] = "missing",
	[NSH_VERIFY_OUT_TIMEOUT] = "timeout", [NSH_VERIFY_OUT_UNREADABLE] = "unreadable",
	[NSH_VERIFY_OUT_NOT_RUN] = "not-run",
};

const char *nsh_verify_outcome_name(enum nsh_verify_outcome o)
{
	return (unsigned)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o]
									      : "?";
}

/* Parse what a command said into @s. */
static void read_results(const char *dir, const struct nsh_verify_plan *plan,
			 const struct nsh_verify_command *c, const struct nsh_verify_runner *runner,
			 time_t since, struct nsh_verify_exec *e, struct nsh_verify_step_result *s)
{
	struct nsh_verify_parse_ctx ctx = {.go_module = plan->go_module};
	enum nsh_verify_kind kind = c->step == NSH_VERIFY_STEP_TYPES  ? NSH_VERIFY_KIND_TYPES
				    : c->step == NSH_VERIFY_STEP_LINT ? NSH_VERIFY_KIND_LINT
								      : NSH_VERIFY_KIND_BUILD;
	struct nsh_buf report = NSH_BUF_INIT;
	bool have_report = false;

	if (c->report) {
		size_t n = strlen(c->report);

		if (c->report[n - 1] == '/') {
			if (c->step == NSH_VERIFY_STEP_TEST)
				have_report = read_report_dir(dir, c->report, since, &ctx,
							      c->format, &s->tests);
		} else {
			have_report = nsh_vrf_read_fresh(dir, c->report, since,
							 NSH_VERIFY_REPORT_MAX, &report);
		}
		if (!have_report) {
			s->outcome = NSH_VERIFY_OUT_UNREADABLE;
			goto out;
		}
	}
	if (c->step == NSH_VERIFY_STEP_TEST) {
		enum nsh_verify_format fmt = c->format;

		if (have_report && report.len) {
			nsh_verify_parse_tests(fmt, report.buf, report.len, &ctx, &s->tests);
		} else if (!have_report) {
			if (fmt == NSH_VERIFY_FMT_AUTO) {
				fmt = nsh_verify_sniff(e->out.buf, e->out.len);
				if (fmt == NSH_VERIFY_FMT_EXIT) {
					fmt = nsh_verify_sniff(e->err.buf, e->err.len);
					if (fmt != NSH_VERIFY_FMT_EXIT)
						nsh_verify_parse_tests(fmt, e->err.buf, e->err.len,
								       &ctx, &s->tests);
				} else {
					nsh_verify_parse_tests(fmt, e->out.buf, e->out.len, &ctx,
							       &s->tests);
				}
			} else if (fmt != NSH_VERIFY_FMT_EXIT) {
				nsh_verify_parse_tests(fmt, e->out.buf, e->out.len, &ctx,
						       &s->tests);
			}
		}
		if (!s->tests.nr && (e->exit_code != 0 || fmt == NSH_VERIFY_FMT_EXIT) &&
		    !(c->format == NSH_VERIFY_FMT_JUNIT_XML && e->exit_code == 5)) {
			/* nothing readable: the command itself is the test */
			nsh_test_report_add(&s->tests, c->name,
					    e->exit_code == 0 ? NSH_TEST_PASS : NSH_TEST_FAIL, NULL,
					    0, NULL);
			s->tests.complete = e->exit_code == 0;
		}
		if (!s->tests.nr && e->exit_code == 0)
			s->tests.complete = true;
		nsh_test_report_count(&s->tests);
		relativize_tests(&s->tests, runner->root, dir);
	} else if (c->step == NSH_VERIFY_STEP_BUILD) {
		if (e->exit_code != 0) {
			char *msg = nsh_xasprintf("'%s' failed (exit %d)", c->name, e->exit_code);

			nsh_verify_findings_add(&s->findings, NSH_VERIFY_KIND_BUILD,
						NSH_VERIFY_ERROR, "build-failed", NULL, 0, msg,
						s->excerpt);
			free(msg);
		}
	} else {
		if (have_report)
			nsh_verify_parse_findings(c->format, report.buf, report.len, kind,
						  &s->findings);
		else {
			nsh_verify_parse_findings(c->format, e->out.buf, e->out.len, kind,
						  &s->findings);
			nsh_verify_parse_findings(c->format, e->err.buf, e->err.len, kind,
						  &s->findings);
		}
		relativize_findings(&s->findings, runner->root, dir);
		if (e->exit_code != 0 &&
		    !nsh_verify_findings_count(&s->findings, NSH_VERIFY_ERROR)) {
			char *msg = nsh_xasprintf("'%s' exited %d without a finding it could name",
						  c->name, e->exit_code);

			nsh_verify_findings_add(&s->findings, kind, NSH_VERIFY_ERROR, "exit-status",
						NULL, 0, msg, s->excerpt);
			free(msg);
		}
	}
out:
	nsh_buf_release(&report);
}

/*
 * Run command @c of @plan with @argv (its own or a narrowed one) and, when
 * that program is missing, @alt; append what it did to @ret. @e and @then
 * are scratch storage. Errors only when the runner fails for another
 * reason than a missing or unrunnable program.
 */
static int run_command(const char *dir, const struct nsh_verify_plan *plan,
		       const struct nsh_verify_runner *runner, const struct nsh_verify_limits *lim,
		       const struct nsh_verify_command *c, const struct nsh_strvec *argv,
		       const struct nsh_strvec *alt, struct nsh_verify_exec *e,
		       struct nsh_verify_exec *then, struct nsh_verify_measure *ret,
		       struct nsh_err *err)
{
	int64_t timeout = lim && lim->timeout_ms    ? lim->timeout_ms
			  : c->timeout_ms	    ? c->timeout_ms
			  : plan->config.timeout_ms ? plan->config.timeout_ms
						    : NSH_VERIFY_TIMEOUT_DEFAULT;
	size_t out_max = lim && lim->out_max ? lim->out_max : NSH_VERIFY_OUT_MAX_DEFAULT;
	struct nsh_verify_step_result *s;
	struct nsh_buf shown = NSH_BUF_INIT;
	struct nsh_err xerr = NSH_ERR_INIT;
	time_t since;
	int rc;

	NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
	s = &ret->v[ret->nr++];
	memset(s, 0, sizeof(*s));
	s->step = c->step;
	s->name = nsh_xstrdup(c->name);
	s->outcome = NSH_VERIFY_OUT_NOT_RUN;
	/* stale reports never count: ours are removed, others must be newer */
	if (c->report && !strncmp(c->report, plan->scratch, strlen(plan->scratch)))
		nsh_below_unlink(dir, c->report);
	since = time(NULL) - 1;
	rc = nsh_vrf_exec(runner, argv, &c->env, c->cwd, timeout, out_max, e, &xerr);
	if ((rc == NSH_ENOTFOUND || (!rc && nsh_vrf_exec_missing(e))) && alt->nr) {
		argv = alt;
		nsh_err_clear(&xerr);
		rc = nsh_vrf_exec(runner, argv, &c->env, c->cwd, timeout, out_max, e, &xerr);
	}
	nsh_vrf_quote_argv(&shown, (const char *const *)argv->v);
	s->command = nsh_buf_detach(&shown, NULL);
	if (rc == NSH_ENOTFOUND || (!rc && nsh_vrf_exec_missing(e))) {
		s->outcome = NSH_VERIFY_OUT_MISSING;
		s->excerpt = rc ? nsh_xstrdup(xerr.msg) : excerpt_of(e);
		return 0;
	}
	if (rc == NSH_EDENIED) {
		/* there, but not runnable (a script without its x bit): this step's problem */
		s->outcome = NSH_VERIFY_OUT_NOT_RUN;
		s->excerpt = nsh_xstrdup(xerr.msg);
		return 0;
	}
	if (rc)
		return nsh_err_set(err, rc, "%s", xerr.msg);
	s->exit_code = e->exit_code;
	s->elapsed_ms = e->elapsed_ms;
	s->excerpt = excerpt_of(e);
	if (e->timed_out) {
		s->outcome = NSH_VERIFY_OUT_TIMEOUT;
		return 0;
	}
	s->outcome = NSH_VERIFY_OUT_RAN;
	if (c->then.nr) {
		struct nsh_err ignore = NSH_ERR_INIT;

		nsh_vrf_exec(runner, &c->then, &c->env, c->cwd, timeout, out_max, then, &ignore);
	}
	read_results(dir, plan, c, runner, since, e, s);
	if (c->step == NSH_VERIFY_STEP_TEST) {
		copy_report(&ret->tests, &s->tests);
		read_coverage(dir, c, since, e, &ret->coverage);
	}
	return 0;
}

int nsh_vrf_measure_command(const char *dir, const struct nsh_verify_plan *plan,
			    const struct nsh_verify_runner *runner,
			    const struct nsh_verify_limits *lim, const struct nsh_verify_command *c,
			    const struct nsh_strvec *argv, const struct nsh_strvec *alt,
			    struct nsh_verify_measure *ret, struct nsh_err *err)
{
	struct nsh_verify_exec e, then;
	int rc;

	nsh_verify_exec_init(&e);
	nsh_verify_exec_init(&then);
	nsh_below_mkdir(dir, plan->scratch);
	rc = run_command(dir, plan, runner, lim, c, argv ? argv : &c->argv, alt ? alt : &c->alt, &e,
			 &then, ret, err);
	nsh_verify_exec_release(&e);
	nsh_verify_exec_release(&then);
	return rc;
}

int nsh_verify_measure(const char *dir, const struct nsh_verify_plan *plan,
		       const struct nsh_verify_runner *runner, const struct nsh_verify_limits *lim,
		       struct nsh_verify_measure *ret, struct nsh_err *err)
{
	struct nsh_verify_exec e, then;
	int rc = 0;

	nsh_verify_exec_init(&e);
	nsh_verify_exec_init(&then);
	nsh_below_mkdir(dir, plan->scratch);
	for (size_t i = 0; i < plan->nr && !rc; i++) {
		const struct nsh_verify_command *c = &plan->v[i];

		if (lim && lim->tests_only && c->step != NSH_VERIFY_STEP_TEST)
			continue;
		if (lim && lim->no_tests && c->step == NSH_VERIFY_STEP_TEST)
			continue;
		rc = run_command(dir, plan, runner, lim, c, &c->argv, &c->alt, &e, &then, ret, err);
	}
	nsh_verify_exec_release(&e);
	nsh_verify_exec_release(&then);
	return rc;
}

/* ---- JSON ---- */

static json_t *str_or_null(const char *s)
{
	return s ? nsh_json_string_lossy(s, strlen(s)) : json_null();
}

static json_t *coverage_json(const struct nsh_verify_coverage *c)
{
	if (!c->present)
		return json_null();
	return json_pack("{s:f, s:I, s:I, s:o, s:s}", "percent", c->percent, "covered",
			 (json_int_t)c->covered, "total", (json_int_t)c->total, "source",
			 str_or_null(c->source), "format", nsh_verify_cov_format_name(c->format));
}

json_t *nsh_verify_measure_to_json(const struct nsh_verify_measure *m)
{
	json_t *steps = json_array();

	for (size_t i = 0; i < m->nr; i++) {
		const struct nsh_verify_step_result *s = &m->v[i];
		json_t *f = json_array();

		for (size_t k = 0; k < s->findings.nr; k++)
			json_array_append_new(f, nsh_verify_finding_to_json(&s->findings.v[k]));
		json_array_append_new(
			steps,
			json_pack("{s:s, s:o, s:o, s:s, s:i, s:I, s:o, s:o, s:o}", "step",
				  nsh_verify_step_name(s->step), "name", str_or_null(s->name),
				  "command", str_or_null(s->command), "outcome",
				  nsh_verify_outcome_name(s->outcome), "exit_code", s->exit_code,
				  "elapsed_ms", (json_int_t)s->elapsed_ms, "excerpt",
				  str_or_null(s->excerpt), "tests",
				  nsh_test_report_to_json_full(&s->tests), "findings", f));
	}
	return json_pack("{s:o, s:o, s:o}", "steps", steps, "tests",
			 nsh_test_report_to_json_full(&m->tests), "coverage",
			 coverage_json(&m->coverage));
}

static int name_index(const char *s, const char *(*name)(int), int n)
{
	for (int k = 0; k < n; k++)
		if (!strcmp(s, name(k)))
			return k;
	return -1;
}

static const char *step_name_i(int k)
{
	return nsh_verify_step_name((enum nsh_verify_step)k);
}
static const char *outcome_name_i(int k)
{
	return nsh_verify_outcome_name((enum nsh_verify_outcome)k);
}
static const char *kind_name_i(int k)
{
	return nsh_verify_kind_name((enum nsh_verify_kind)k);
}
static const char *level_name_i(int k)
{
	return nsh_verify_level_name((enum nsh_verify_level)k);
}
static const char *cov_name_i(int k)
{
	return nsh_verify_cov_format_name((enum nsh_verify_cov_format)k);
}

static int findings_from_json(const json_t *a, struct nsh_verify_findings *ret, struct nsh_err *err)
{
	size_t i;
	json_t *f;

	json_array_foreach(a, i, f)
	{
		const char *kind, *level, *rule, *file, *message, *excerpt;
		json_int_t line;
		int k, l, rc;

		if ((rc = nsh_json_get_str(f, "kind", &kind, err)) ||
		    (rc = nsh_json_get_str(f, "level", &level, err)) ||
		    (rc = nsh_json_opt_str(f, "rule", NULL, &rule, err)) ||
		    (rc = nsh_json_opt_str(f, "file", NULL, &file, err)) ||
		    (rc = nsh_json_opt_int(f, "line", 0, &line, err)) ||
		    (rc = nsh_json_opt_str(f, "message", "", &message, err)) ||
		    (rc = nsh_json_opt_str(f, "excerpt", NULL, &excerpt, err)))
			return rc;
		k = name_index(kind, kind_name_i, NSH_VERIFY_KIND_TOOL + 1);
		l = name_index(level, level_name_i, NSH_VERIFY_ERROR + 1);
		if (k < 0 || l < 0)
			return nsh_err_set(err, NSH_EINVAL,
					   "finding with unknown kind '%s' or level '%s'", kind,
					   level);
		nsh_verify_findings_add(ret, (enum nsh_verify_kind)k, (enum nsh_verify_level)l,
					rule, file, line > 0 && line < 100000000 ? (int)line : 0,
					message, excerpt);
	}
	return 0;
}

int nsh_verify_measure_from_json(const json_t *j, struct nsh_verify_measure *ret,
				 struct nsh_err *err)
{
	json_t *steps, *s, *tests, *cov;
	size_t i;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = nsh_json_get_arr(j, "steps", &steps, err)) ||
	    (rc = nsh_json_get_obj(j, "tests", &tests, err)))
		return rc;
	json_array_foreach(steps, i, s)
	{
		const char *step, *name, *command, *outcome, *excerpt;
		json_int_t code, elapsed;
		json_t *t, *f;
		struct nsh_verify_step_result *r;
		int st, oc;

		if ((rc = nsh_json_get_str(s, "step", &step, err)) ||
		    (rc = nsh_json_opt_str(s, "name", "", &name, err)) ||
		    (rc = nsh_json_opt_str(s, "command", "", &command, err)) ||
		    (rc = nsh_json_get_str(s, "outcome", &outcome, err)) ||
		    (rc = nsh_json_opt_int(s, "exit_code", 0, &code, err)) ||
		    (rc = nsh_json_opt_int(s, "elapsed_ms", 0, &elapsed, err)) ||
		    (rc = nsh_json_opt_str(s, "excerpt", NULL, &excerpt, err)) ||
		    (rc = nsh_json_get_obj(s, "tests", &t, err)) ||
		    (rc = nsh_json_get_arr(s, "findings", &f, err)))
			goto fail;
		st = name_index(step, step_name_i, 4);
		oc = name_index(outcome, outcome_name_i, NSH_VERIFY_OUT_NOT_RUN + 1);
		if (st < 0 || oc < 0) {
			rc = nsh_err_set(err, NSH_EINVAL,
					 "step with unknown kind '%s' or outcome '%s'", step,
					 outcome);
			goto fail;
		}
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		r = &ret->v[ret->nr++];
		memset(r, 0, sizeof(*r));
		r->step = (enum nsh_verify_step)st;
		r->outcome = (enum nsh_verify_outcome)oc;
		r->name = nsh_xstrdup(name);
		r->command = nsh_xstrdup(command);
		r->excerpt = excerpt ? nsh_xstrdup(excerpt) : NULL;
		r->exit_code = (int)code;
		r->elapsed_ms = elapsed;
		if ((rc = nsh_test_report_from_json(t, &r->tests, err)) ||
		    (rc = findings_from_json(f, &r->findings, err)))
			goto fail;
	}
	if ((rc = nsh_test_report_from_json(tests, &ret->tests, err)))
		goto fail;
	cov = json_object_get(j, "coverage");
	if (json_is_object(cov)) {
		double pct;
		json_int_t covered, total;
		const char *src, *fmt;
		int f;

		if ((rc = nsh_json_get_num(cov, "percent", &pct, err)) ||
		    (rc = nsh_json_opt_int(cov, "covered", 0, &covered, err)) ||
		    (rc = nsh_json_opt_int(cov, "total", 0, &total, err)) ||
		    (rc = nsh_json_opt_str(cov, "source", NULL, &src, err)) ||
		    (rc = nsh_json_opt_str(cov, "format", "none", &fmt, err)))
			goto fail;
		f = name_index(fmt, cov_name_i, NSH_VERIFY_COV_GO + 1);
		ret->coverage.present = true;
		ret->coverage.percent = pct;
		ret->coverage.covered = covered;
		ret->coverage.total = total;
		ret->coverage.source = src ? nsh_xstrdup(src) : NULL;
		ret->coverage.format = f < 0 ? NSH_VERIFY_COV_NONE : (enum nsh_verify_cov_format)f;
	}
	return 0;
fail:
	nsh_verify_measure_release(ret);
	return rc;
}
