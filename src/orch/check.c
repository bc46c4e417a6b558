/*
 * The verify module's checks in the pipeline (DESIGN.md section 1, the
 * verify agent).
 *
 * The baseline and verify steps run the tests themselves (job.c: their
 * output goes to the job's logs, their comparison drives the retries).
 * Around that, this file runs the rest of the verify module on the job's
 * workspace, through the job's sandbox:
 *
 *   baseline   the tests' full report, the coverage their run wrote and
 *              the build, lint and type findings before the change, kept
 *              in the step's result (a restart between the steps keeps it);
 *   verify     nsh_verify_run() with that baseline and the tests just
 *              run, with their coverage: build, lint and types (new
 *              findings only), secrets and SQL injection in the diff,
 *              weakened tests, coverage before and after, and the
 *              acceptance criteria of the spec with their checks.
 *
 * Coverage: the coverage files the verify module knows are noted before
 * each test run and read after it only when that run wrote them, so a
 * report left in the workspace by the baseline's run never passes for the
 * run after the change.
 *
 * What it finds goes three ways: a failed check sends the job back to the
 * code step like a failing test (with the findings as file:line text), the
 * checklist goes into the pull request body, and the verify agent of the
 * llm brain sees the checks in its report.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"
#include "forge/git.h"
#include "orch/orch_int.h"
#include "sandbox/sandbox.h"
#include "sched/sched.h"
#include "verify/verify.h"

#include "core/banned.h"

#define CHECK_FEEDBACK_MAX ((size_t)64 << 10)
#define CHECK_LIST_MAX	   ((size_t)48 << 10)

/* A verify runner over orch_exec(): the job's sandbox, logs and secrets. */
static int run_cmd(void *ctx, const struct nsh_verify_cmd *cmd, struct nsh_verify_exec *ret,
		   struct nsh_err *err)
{
	struct nsh_job_run *jr = ctx;
	struct nsh_sandbox_cmd c;
	char *cwd = NULL;
	int rc;

	nsh_sandbox_cmd_init(&c);
	for (size_t i = 0; cmd->env && cmd->env[i]; i++)
		nsh_strvec_push(&c.env, cmd->env[i]);
	if (cmd->cwd && *cmd->cwd)
		cwd = nsh_xasprintf("/workspace/%s", cmd->cwd);
	c.cwd = cwd;
	rc = orch_exec(jr, cmd->argv, cmd->timeout_ms ? cmd->timeout_ms : ORCH_TEST_MS, "checks",
		       &c, err);
	if (!rc)
		nsh_verify_exec_from_sandbox(ret, &c);
	nsh_sandbox_cmd_release(&c);
	free(cwd);
	return rc;
}

static void runner_of(struct nsh_job_run *jr, struct nsh_verify_runner *r)
{
	r->run = run_cmd;
	r->ctx = jr;
	r->root = "/workspace";
}

void orch_check_cov_snap(struct nsh_job_run *jr, struct nsh_verify_cov_snap *ret)
{
	struct orch_job *oj = orch_job_of(jr);
	struct nsh_verify_plan plan = {0};
	struct nsh_err derr = NSH_ERR_INIT;

	/* verify.yml may name the file; one that cannot be read is said at the baseline */
	if (nsh_verify_detect(oj->ws, &plan, &derr))
		nsh_err_clear(&derr);
	nsh_verify_cov_snap_take(oj->ws, plan.config.coverage, ret);
	nsh_verify_plan_release(&plan);
}

int orch_check_baseline(struct nsh_job_run *jr, const struct nsh_test_report *rep,
			const struct nsh_verify_coverage *cov, json_t *result, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	struct nsh_verify_plan plan = {0};
	struct nsh_verify_measure m = {0};
	struct nsh_verify_limits lim = {0};
	struct nsh_verify_runner runner;
	struct nsh_err derr = NSH_ERR_INIT;
	int rc;

	json_object_set_new(result, "tests_full", nsh_test_report_to_json_full(rep));
	if (nsh_verify_detect(oj->ws, &plan, &derr)) {
		/* a verify.yml the repository got wrong is its finding, not the job's end */
		json_object_set_new(result, "checks_error", json_string(derr.msg));
		nsh_err_clear(&derr);
		return 0;
	}
	runner_of(jr, &runner);
	lim.no_tests = true;
	rc = nsh_verify_measure(oj->ws, &plan, &runner, &lim, &m, err);
	if (!rc && cov && cov->present) {
		/* the tests' run wrote it: kept with the measure, the baseline's figure */
		nsh_verify_coverage_release(&m.coverage);
		m.coverage = *cov;
		m.coverage.source = cov->source ? nsh_xstrdup(cov->source) : NULL;
	}
	if (!rc)
		json_object_set_new(result, "measure", nsh_verify_measure_to_json(&m));
	nsh_verify_measure_release(&m);
	nsh_verify_plan_release(&plan);
	return rc;
}

/*
 * The spec's acceptance criteria that have a deterministic check (plan.c
 * writes them as prose: AC1 the dependency, AC2 no new failing test),
 * followed by those of the repository's verify.yml. New reference.
 */
static json_t *criteria_for(const struct nsh_recipe *r, const char *ws)
{
	json_t *a = json_array();
	const char *to = r ? orch_recipe_target(r) : NULL;
	struct nsh_verify_plan plan = {0};
	struct nsh_err derr = NSH_ERR_INIT;

	if (r && r->dependency && to) {
		char *text = nsh_xasprintf("%s resolves to %s", r->dependency, to);

		json_array_append_new(a, json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "id", "AC1",
						   "text", text, "check", "kind", "dependency",
						   "name", r->dependency, "version", to));
		free(text);
	}
	json_array_append_new(a, json_pack("{s:s, s:s, s:{s:s}}", "id", "AC2", "text",
					   "no test that passed before fails after the change",
					   "check", "kind", "no_new_failures"));
	if (!nsh_verify_detect(ws, &plan, &derr) && json_is_array(plan.config.criteria))
		json_array_extend(a, plan.config.criteria);
	nsh_err_clear(&derr);
	nsh_verify_plan_release(&plan);
	return a;
}

/* The baseline as a measure: its build, lint and type findings, and its tests. */
static int baseline_of(struct nsh_job_run *jr, struct nsh_verify_measure *ret, bool *ret_have,
		       struct nsh_err *err)
{
	json_t *base = orch_latest(jr, "baseline");
	const json_t *m = json_object_get(base, "measure");
	const json_t *t = json_object_get(base, "tests_full");
	int rc = 0;

	*ret_have = false;
	if (!m || !t)
		goto out;
	if ((rc = nsh_verify_measure_from_json(m, ret, err)))
		goto out;
	nsh_test_report_release(&ret->tests);
	if ((rc = nsh_test_report_from_json(t, &ret->tests, err))) {
		nsh_verify_measure_release(ret);
		goto out;
	}
	*ret_have = true;
out:
	json_decref(base);
	return rc;
}

int orch_check_after(struct nsh_job_run *jr, const struct nsh_recipe *r,
		     const struct nsh_test_report *after, const struct nsh_verify_coverage *cov,
		     json_t *result, bool *ret_failed, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	struct nsh_verify_measure base = {0};
	struct nsh_verify_result res = {0};
	struct nsh_verify_opts opts = {0};
	struct nsh_verify_runner runner;
	struct nsh_buf md = NSH_BUF_INIT, fb = NSH_BUF_INIT;
	char *start = NULL;
	json_t *crit = NULL, *clone = NULL;
	bool have_base;
	int rc;

	*ret_failed = false;
	if ((rc = baseline_of(jr, &base, &have_base, err)))
		return rc;
	clone = orch_latest(jr, "clone");
	if (json_string_value(json_object_get(clone, "base")))
		start = nsh_xstrdup(json_string_value(json_object_get(clone, "base")));
	crit = criteria_for(r, oj->ws);
	runner_of(jr, &runner);
	opts.dir = oj->ws;
	opts.runner = &runner;
	opts.base = start;
	opts.head = NULL; /* the working tree: the change is committed after verification */
	opts.baseline = have_base ? &base : NULL;
	opts.criteria = crit;
	opts.known = oj->red;
	opts.no_rerun = true;
	opts.limits.no_tests = true; /* with no test script: said so, not passed */
	opts.tests = after;
	opts.tests_by = "the test script";
	opts.coverage = after ? cov : NULL;
	/*
	 * A change this run made from the base commit (HEAD is there): no git
	 * run checks the revisions; every change is staged in one git run,
	 * so the diff has the new files and the commit takes the index as it
	 * was verified.
	 */
	if (!orch_is_llm(jr) && start && oj->changed == nsh_job_run_attempt(jr) + 1) {
		opts.base_is_head = true;
		oj->staged = 0;
		if (!nsh_git(oj->ws, NULL, NULL, "add", "--all", NULL)) {
			opts.untracked_staged = true;
			oj->staged = nsh_job_run_attempt(jr) + 1;
		}
	}
	rc = nsh_verify_run(&opts, &res, err);
	if (rc)
		goto out;
	{
		json_t *all = nsh_verify_result_to_json(&res);

		/* the tests are in the step's "report" already; the plan is the repository's */
		json_object_set_new(result, "checks",
				    json_pack("{s:O?, s:O?}", "verdict",
					      json_object_get(all, "verdict"), "checks",
					      json_object_get(all, "checks")));
		json_decref(all);
	}
	md.max = CHECK_LIST_MAX;
	nsh_verify_result_markdown(&res, 5, &md);
	json_object_set_new(result, "checklist", nsh_json_string_lossy(md.buf, md.len));
	/* the tests have their own comparison in job.c; every other failed check is ours */
	for (size_t i = 0; i < res.nr; i++) {
		const struct nsh_verify_check *c = &res.v[i];

		if (!strcmp(c->id, "tests") || !strcmp(c->id, "criterion:AC2"))
			continue;
		if (c->status == NSH_VERIFY_CHECK_FAIL || c->status == NSH_VERIFY_CHECK_ERROR) {
			if (!*ret_failed)
				json_object_set_new(result, "checks_failed", json_array());
			json_array_append_new(json_object_get(result, "checks_failed"),
					      json_string(c->id));
			*ret_failed = true;
		}
	}
	if (*ret_failed) {
		fb.max = CHECK_FEEDBACK_MAX;
		nsh_verify_result_feedback(&res, &fb);
		json_object_set_new(result, "feedback", nsh_json_string_lossy(fb.buf, fb.len));
	}
out:
	nsh_buf_release(&md);
	nsh_buf_release(&fb);
	nsh_verify_result_release(&res);
	nsh_verify_measure_release(&base);
	json_decref(crit);
	json_decref(clone);
	free(start);
	return rc;
}
