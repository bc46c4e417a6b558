/*
 * The llm brain in the orchestrator's pipeline (src/agent/): a task no
 * recipe fits gets one job per repository named (or per repository of its
 * org); the job's research step runs the research agent, its change step
 * the code agent (from the second attempt on, with the findings of the
 * verification before), and its verify step the verify agent on top of the
 * deterministic test comparison. A failed verification sends the work back
 * to the code agent up to tasks.max_attempts times, then the pull request
 * is a draft for human review. Clone, install, commit, push and the pull
 * request are the recipe brain's steps, with a stand-in recipe that
 * carries the task's text as its title.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/id.h"
#include "core/json.h"
#include "forge/forge.h"
#include "forge/git.h"
#include "orch/orch_int.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

/* What the callbacks of one role run need. */
struct llm_ctx {
	struct nsh_job_run *jr; /* the job */
	json_t *report_of;	/* verify: the step result holding the test comparison */
};

bool orch_is_llm(struct nsh_job_run *jr)
{
	const struct nsh_task_rec *t = nsh_job_run_task(jr);

	return t->brain && !strcmp(t->brain, "llm");
}

const struct nsh_recipe *orch_llm_recipe(struct nsh_job_run *jr)
{
	struct orch_job *oj = orch_job_of(jr);

	if (!oj->llm_recipe.id) {
		oj->llm_recipe.id = (char *)"llm";
		oj->llm_recipe.title = nsh_job_run_task(jr)->title;
	}
	return &oj->llm_recipe;
}

int orch_llm_plan(struct nsh_task_run *tr, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_task_run_ctx(tr);
	struct nsh_store *st = nsh_task_run_store(tr);
	const struct nsh_task_rec *t = nsh_task_run_task(tr);
	struct nsh_forge_repo_list repos = {0};
	struct nsh_buf spec = NSH_BUF_INIT;
	json_t *opts;
	int rc;

	if (!o->llm_ok)
		return nsh_err_set(err, NSH_EINVAL, "no recipe matches this task and %s",
				   o->llm_error);
	opts = orch_task_options(t);
	rc = orch_targets(o, st, t, opts, &repos, err);
	if (!rc)
		rc = nsh_store_task_set_brain(st, t->id, "llm", NULL, err);
	if (rc)
		goto out;
	nsh_buf_addf(&spec, "# Task %s\n\n> %s\n\n## Design\n\n- Brain: llm (%s, model %s).\n",
		     t->id, t->title, nsh_llm_api_name(o->llm.api), o->llm.model);
	nsh_buf_addf(&spec, "- Attempts per repository: %d.\n- Repositories:", o->max_attempts);
	for (size_t i = 0; i < repos.nr; i++)
		nsh_buf_addf(&spec, " %s/%s", repos.v[i].org, repos.v[i].name);
	nsh_buf_adds(&spec, "\n\nThe research agent writes the plan and the acceptance criteria "
			    "below.\n");
	rc = nsh_store_begin(st, err);
	if (rc)
		goto out;
	rc = nsh_store_spec_add(st, t->id, spec.buf, NULL, err);
	for (size_t i = 0; !rc && i < repos.nr; i++) {
		char *full = nsh_xasprintf("%s/%s", repos.v[i].org, repos.v[i].name);
		char id[NSH_ID_MAX];

		rc = nsh_job_create(st, t->id, full, (int64_t)i, id, err);
		free(full);
	}
	if (!rc)
		rc = nsh_store_step_put(st, t->id, NULL, 0, "analysis", "{\"brain\":\"llm\"}", err);
	if (!rc)
		rc = nsh_store_commit(st, err);
	if (rc) {
		nsh_store_rollback(st);
		goto out;
	}
	orch_say(st, t->id, NULL, "task.spec", NULL,
		 "📋 No recipe fits: the llm agents take %zu repositories (%s, %s)", repos.nr,
		 nsh_llm_api_name(o->llm.api), o->llm.model);
out:
	json_decref(opts);
	nsh_buf_release(&spec);
	nsh_forge_repo_list_release(&repos);
	return rc;
}

/*
 * The agents' commands run like the pipeline's own (orch_exec()): in the
 * job's sandbox with its secrets and environment, output redacted and
 * logged in the artifacts as "agent".
 */
static int exec_cb(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		   size_t out_max, struct nsh_agent_exec *ret, struct nsh_err *err)
{
	struct llm_ctx *x = ctx;
	struct nsh_sandbox_cmd c;
	int rc;

	(void)cwd; /* the agents run every command from the workspace root */
	nsh_sandbox_cmd_init(&c);
	rc = orch_exec(x->jr, argv, timeout_ms, "agent", &c, err);
	if (!rc) {
		nsh_buf_release(&ret->out);
		nsh_buf_release(&ret->err);
		ret->truncated = c.out_truncated || c.err_truncated || c.out.len > out_max ||
				 c.err.len > out_max;
		if (c.out.len > out_max)
			nsh_buf_truncate(&c.out, out_max);
		if (c.err.len > out_max)
			nsh_buf_truncate(&c.err, out_max);
		ret->out = c.out;
		ret->err = c.err;
		nsh_buf_init(&c.out, SIZE_MAX);
		nsh_buf_init(&c.err, SIZE_MAX);
		ret->exit_code = c.exit_code;
		ret->timed_out = c.timed_out;
	}
	nsh_sandbox_cmd_release(&c);
	return rc;
}

/* The deterministic report of the verify step, for the verify agent (host callback). */
static int report_cb(void *ctx, json_t **ret, struct nsh_err *err)
{
	json_t *result = ((struct llm_ctx *)ctx)->report_of;

	(void)err;
	*ret = json_pack(
		"{s:O, s:O, s:O, s:O, s:O}", "passed", json_object_get(result, "passed"), "summary",
		json_object_get(result, "summary"), "tests",
		json_object_get(result, "report") ? json_object_get(result, "report") : json_null(),
		"diff",
		json_object_get(result, "diff") ? json_object_get(result, "diff") : json_null(),
		"checks",
		json_object_get(result, "checks") ? json_object_get(result, "checks")
						  : json_null());
	return 0;
}

/*
 * The apply_recipe tool: a recipe of the catalog applied to the job's
 * workspace (a dry run only reports), answered with what it changed.
 */
static int recipe_cb(void *ctx, const char *name, bool dry_run, char **ret, struct nsh_err *err)
{
	struct nsh_job_run *jr = ((struct llm_ctx *)ctx)->jr;
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_recipe *r = NULL;
	struct nsh_recipe_options opt = {0};
	struct nsh_recipe_result res = {0};
	json_t *j;
	int rc;

	rc = orch_recipe(nsh_job_run_ctx(jr), name, &r, err);
	if (rc)
		return rc;
	opt.dry_run = dry_run;
	opt.scratch = true; /* the workspace: a crash makes it again */
	rc = nsh_recipe_apply(r, oj->ws, &opt, &res, err);
	if (!rc) {
		j = nsh_recipe_result_to_json(r, &res);
		*ret = json_dumps(j, JSON_INDENT(1));
		json_decref(j);
	}
	nsh_recipe_result_release(&res);
	return rc;
}

/* Findings of the verification of @attempt, as text for the code agent; NULL when none. */
static char *findings_of(struct nsh_job_run *jr, int64_t attempt)
{
	json_t *v = attempt >= 0 ? nsh_job_run_result(jr, attempt, "verify") : NULL;
	json_t *f = json_object_get(json_object_get(v, "agent"), "findings"), *x;
	json_t *newly = json_object_get(json_object_get(v, "diff"), "newly_failing");
	struct nsh_buf b = NSH_BUF_INIT;
	size_t i;

	if (json_string_value(json_object_get(v, "feedback")))
		nsh_buf_adds(&b, json_string_value(json_object_get(v, "feedback")));
	json_array_foreach(newly, i, x) nsh_buf_addf(
		&b, "- test now failing: %s\n", json_string_value(x) ? json_string_value(x) : "?");
	json_array_foreach(f, i, x)
	{
		const char *file = json_string_value(json_object_get(x, "file"));
		json_int_t line = json_integer_value(json_object_get(x, "line"));
		const char *msg = json_string_value(json_object_get(x, "message"));

		nsh_buf_adds(&b, "- ");
		if (file)
			nsh_buf_addf(&b, line ? "%s:%lld: " : "%s: ", file, (long long)line);
		nsh_buf_addf(&b, "%s\n", msg ? msg : "");
	}
	json_decref(v);
	return b.len ? nsh_buf_detach(&b, NULL) : NULL;
}

/* Run @role for the job; its result goes to @result ("agent", "summary"). */
static int run_role(struct nsh_job_run *jr, enum nsh_agent_role role, const char *findings,
		    json_t *report_of, json_t *result, struct nsh_agent_result *res,
		    struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	struct orch_job *oj = orch_job_of(jr);
	struct llm_ctx x = {jr, report_of};
	struct nsh_agent_job j;
	char *sessions, *org = NULL, *name = NULL, *steering = NULL;
	int rc;

	/* the secrets' redactor, loaded by the steps before unless this one resumed first */
	rc = orch_secrets(jr, oj, err);
	if (rc)
		return rc;
	sessions = nsh_xasprintf("%s/sessions", o->home);
	if (!orch_split_repo(nsh_job_run_job(jr)->repo, &org, &name, NULL))
		steering = nsh_agent_load_org_steering(o->home, org);
	{
		/* what reviewers taught before, after the org's own steering */
		struct nsh_buf learned = NSH_BUF_INIT;

		if (steering)
			nsh_buf_addf(&learned, "%s\n\n", steering);
		rc = orch_learned_text(jr, role == NSH_AGENT_RESEARCH, &learned, err);
		if (!rc && learned.len > (steering ? strlen(steering) + 2 : 0)) {
			free(steering);
			steering = nsh_buf_detach(&learned, NULL);
		}
		nsh_buf_release(&learned);
		if (rc) {
			free(sessions);
			free(steering);
			free(org);
			free(name);
			return rc;
		}
	}
	memset(&j, 0, sizeof(j));
	j.settings = &o->llm;
	j.jr = jr;
	j.workspace = oj->ws;
	j.session_dir = sessions;
	j.findings = findings;
	j.org_steering = steering;
	j.redactor = oj->red;
	j.exec = exec_cb;
	j.ctx = &x;
	if (report_of)
		j.verify = report_cb;
	else if (role == NSH_AGENT_CODE)
		j.recipe = recipe_cb;
	rc = nsh_agent_job_run_role(&j, role, res, err);
	free(sessions);
	free(steering);
	free(org);
	free(name);
	if (rc)
		return rc;
	json_object_set_new(result, "agent", nsh_agent_result_to_json(res));
	json_object_set_new(
		result, "summary",
		json_string(res->summary ? res->summary : nsh_agent_outcome_name(res->outcome)));
	if (res->outcome == NSH_AGENT_STOPPED)
		return nsh_err_set(err, NSH_ECONFLICT, "the %s agent was stopped",
				   nsh_agent_role_name(role));
	return 0;
}

int orch_llm_research(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct nsh_agent_result r;
	char *brief = orch_feedback_brief(jr);
	int rc;

	if (brief) {
		/* a revision for review feedback: the research of the first run stands */
		free(brief);
		json_object_set_new(result, "summary",
				    json_string("revision for review feedback: the research of the "
						"first run stands"));
		return 0;
	}
	rc = run_role(jr, NSH_AGENT_RESEARCH, NULL, NULL, result, &r, err);

	if (!rc && r.outcome != NSH_AGENT_DONE) {
		char *why = nsh_xasprintf("the research agent ended (%s): %s",
					  nsh_agent_outcome_name(r.outcome),
					  r.summary ? r.summary : "");

		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, why);
		free(why);
	}
	nsh_agent_result_release(&r);
	return rc;
}

int orch_llm_change(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	struct nsh_buf status = NSH_BUF_INIT;
	struct nsh_agent_result r;
	int64_t retry = orch_retry_of(jr);
	char *findings = retry > 0 ? findings_of(jr, nsh_job_run_attempt(jr) - 1) : NULL;
	char *brief = orch_feedback_brief(jr);
	int rc = 0;

	/* a revision works on top of the pull request as it is, the feedback in hand */
	if (brief && !retry)
		rc = orch_take_published(jr, err);
	if (brief) {
		char *both = nsh_xasprintf("%s%s%s", brief, findings ? "\n" : "",
					   findings ? findings : "");

		free(findings);
		findings = both;
	}
	/* later attempts go on from the code agent's work, with the findings */
	if (!rc)
		rc = run_role(jr, NSH_AGENT_CODE, findings, NULL, result, &r, err);
	else
		memset(&r, 0, sizeof(r));
	if (!rc)
		rc = nsh_git(oj->ws, &status, err, "status", "--porcelain", NULL);
	if (rc)
		goto out;
	if (brief && status.len && r.outcome == NSH_AGENT_DONE && r.general)
		/* orch_feedback_done() carries it to the siblings once the PR is updated */
		json_object_set_new(result, "general", json_true());
	if (!status.len && brief) {
		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW,
				   "the code agent made no change for the review feedback");
	} else if (!status.len) {
		nsh_job_run_finish(jr,
				   r.outcome == NSH_AGENT_DONE ? NSH_JOB_CLOSED
							       : NSH_JOB_NEEDS_HUMAN_REVIEW,
				   r.outcome == NSH_AGENT_DONE
					   ? "the code agent changed nothing: no pull request"
					   : "the code agent ended without a change");
	} else if (r.outcome != NSH_AGENT_DONE) {
		/* what it made goes to review as a draft */
		json_object_set_new(result, "stopped", json_true());
	}
out:
	nsh_agent_result_release(&r);
	nsh_buf_release(&status);
	free(findings);
	free(brief);
	return rc;
}

int orch_llm_verify(struct nsh_job_run *jr, json_t *result, bool green, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	int64_t attempt = nsh_job_run_attempt(jr);
	json_t *change = nsh_job_run_result(jr, attempt, "change");
	struct nsh_agent_result r;
	char *summary = NULL;
	bool passed;
	int rc;

	rc = run_role(jr, NSH_AGENT_VERIFY, NULL, result, result, &r, err);
	if (rc)
		goto out;
	passed = green && r.outcome == NSH_AGENT_DONE && r.passed &&
		 !json_is_true(json_object_get(change, "stopped"));
	json_object_set_new(result, "passed", json_boolean(passed));
	if (passed)
		goto out;
	if (orch_retry_of(jr) + 1 < o->max_attempts &&
	    !json_is_true(json_object_get(change, "stopped"))) {
		summary = nsh_xasprintf("not verified: %s; back to the code agent",
					r.summary ? r.summary : "");
		nsh_job_run_goto(jr, "change", true);
	} else {
		summary = nsh_xasprintf("not verified: %s; %lld attempts: draft pull request for "
					"human review",
					r.summary ? r.summary : "", (long long)attempt + 1);
		json_object_set_new(result, "exhausted", json_true());
	}
	json_object_set_new(result, "summary", nsh_json_string_lossy(summary, strlen(summary)));
out:
	nsh_agent_result_release(&r);
	json_decref(change);
	free(summary);
	return rc;
}

void orch_llm_pr_section(struct nsh_job_run *jr, struct nsh_buf *body)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	int64_t attempt = nsh_job_run_attempt(jr);
	static const struct {
		const char *role, *step;
	} roles[] = {{"research", "research"}, {"code", "change"}, {"verify", "verify"}};
	struct nsh_agent_budget *b = nsh_agent_budget_new(0, 0);
	json_t *results = json_object(), *task;
	struct nsh_llm_usage used;
	double cost = 0;

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		json_t *r = nsh_job_run_result(jr, i ? attempt : 0, roles[i].step);

		if (json_object_get(r, "agent"))
			json_object_set(results, roles[i].role, json_object_get(r, "agent"));
		json_decref(r);
	}
	memset(&used, 0, sizeof(used));
	if (!nsh_agent_budget_attach(b, nsh_job_run_store(jr), j->task_id, NULL, NULL))
		nsh_agent_budget_get(b, &used, &cost, NULL, NULL);
	task = json_pack("{s:I, s:f}", "tokens", (json_int_t)nsh_llm_usage_total(&used), "cost",
			 cost);
	/* before the change set, which the task's end rewrites */
	{
		struct nsh_buf tail = NSH_BUF_INIT, sec = NSH_BUF_INIT;
		const char *mark = strstr(body->buf, "## Change set");

		nsh_buf_adds(&tail, mark ? mark : "");
		nsh_buf_truncate(body, mark ? (size_t)(mark - body->buf) : body->len);
		nsh_agent_pr_section(results, task, &sec);
		nsh_buf_add(body, sec.buf, sec.len);
		if (tail.len)
			nsh_buf_addf(body, "\n%s", tail.buf);
		nsh_buf_release(&tail);
		nsh_buf_release(&sec);
	}
	json_decref(task);
	json_decref(results);
	nsh_agent_budget_free(b);
}
