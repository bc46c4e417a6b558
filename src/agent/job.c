/*
 * One role of a scheduler job with everything wired up (client, budget,
 * host, session), and the agents' part of a pull request body.
 */
#include "agent/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/limits.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "sched/sched.h"
#include "store/store.h"

#include "core/banned.h"

/*
 * The task's budget: each cap is the smaller of the plan's (the limits the
 * task recorded, config/limits.h) and [llm]'s, where set; messages name the
 * plan when its figure is the cap.
 */
static struct nsh_agent_budget *task_budget(const struct nsh_agent_job *j)
{
	const struct nsh_limits *lim = nsh_job_run_limits(j->jr);
	int64_t tokens = j->settings->budget_tokens;
	double cost = j->settings->budget_cost;
	bool plan_tokens = false, plan_cost = false;
	struct nsh_agent_budget *b;

	if (lim && lim->token_budget > 0 && (tokens <= 0 || lim->token_budget <= tokens)) {
		tokens = lim->token_budget;
		plan_tokens = true;
	}
	if (lim && lim->cost_budget > 0 && (cost <= 0 || lim->cost_budget <= cost)) {
		cost = lim->cost_budget;
		plan_cost = true;
	}
	b = nsh_agent_budget_new(tokens, cost);
	if (lim)
		nsh_agent_budget_set_plan(b, lim->plan, plan_tokens, plan_cost);
	return b;
}

int nsh_agent_job_run_role(const struct nsh_agent_job *j, enum nsh_agent_role role,
			   struct nsh_agent_result *ret, struct nsh_err *err)
{
	const struct nsh_job_rec *job = nsh_job_run_job(j->jr);
	const struct nsh_task_rec *task = nsh_job_run_task(j->jr);
	struct nsh_agent_job_host jh;
	struct nsh_agent_host host;
	struct nsh_agent_run run;
	struct nsh_agent_budget *budget = NULL;
	struct nsh_llm *llm = NULL;
	char *name = NULL, *session = NULL;
	int rc;

	memset(&jh, 0, sizeof(jh));
	jh.jr = j->jr;
	jh.sb = j->sb;
	jh.workspace = j->workspace;
	jh.env = j->env;
	jh.exec = j->exec;
	jh.verify = j->verify;
	jh.recipe = j->recipe;
	jh.ctx = j->ctx;
	nsh_agent_job_host_init(&host, &jh);
	name = nsh_xasprintf("%s-%s-%s-%lld", job->task_id, job->id, nsh_agent_role_name(role),
			     (long long)nsh_job_run_attempt(j->jr));
	rc = nsh_llm_new(j->settings, j->redactor, name, &llm, err);
	if (rc)
		goto out;
	budget = task_budget(j);
	rc = nsh_agent_budget_attach(budget, nsh_job_run_store(j->jr), job->task_id, job->id, err);
	if (rc)
		goto out;
	if (j->session_dir) {
		rc = nsh_fs_mkdir_p(j->session_dir, 0700, err);
		if (rc)
			goto out;
		session = nsh_xasprintf("%s/%s-%s-%lld.json", j->session_dir, job->id,
					nsh_agent_role_name(role),
					(long long)nsh_job_run_attempt(j->jr));
	}
	memset(&run, 0, sizeof(run));
	run.role = role;
	run.task = task->title;
	run.workspace = j->workspace;
	run.host = &host;
	run.llm = llm;
	run.budget = budget;
	run.redactor = j->redactor;
	run.org_steering = j->org_steering;
	run.findings = role == NSH_AGENT_CODE ? j->findings : NULL;
	run.session = session;
	run.max_steps = j->max_steps;
	rc = nsh_agent_run_role(&run, ret, err);
	/* a role that ended keeps no session: the next attempt starts afresh */
	if (!rc && session)
		nsh_fs_remove_tree(session, NULL);
out:
	nsh_agent_budget_free(budget);
	nsh_llm_free(llm);
	free(session);
	free(name);
	return rc;
}

/* Markdown table cell text: no pipes or line breaks. */
static void add_cell(struct nsh_buf *out, const char *s)
{
	for (; s && *s; s++)
		nsh_buf_addch(out, *s == '|' ? '/' : (*s == '\n' ? ' ' : *s));
}

void nsh_agent_pr_section(const json_t *results, const json_t *task, struct nsh_buf *out)
{
	static const char *const roles[] = {"research", "code", "verify"};
	const json_t *code = json_object_get(results, "code");
	const json_t *verify = json_object_get(results, "verify");
	json_int_t tokens = 0;
	double cost = 0;

	if (json_is_string(json_object_get(code, "summary")))
		nsh_buf_addf(out, "## What changed\n\n%s\n\n",
			     json_string_value(json_object_get(code, "summary")));
	if (verify) {
		const json_t *f = json_object_get(verify, "findings");
		size_t i;
		const json_t *x;

		nsh_buf_addf(out, "## Verification\n\n%s: %s\n",
			     json_is_true(json_object_get(verify, "passed")) ? "Passed"
									     : "Not passed",
			     json_string_value(json_object_get(verify, "summary"))
				     ? json_string_value(json_object_get(verify, "summary"))
				     : "");
		json_array_foreach(f, i, x)
		{
			const char *file = json_string_value(json_object_get(x, "file"));
			json_int_t line = json_integer_value(json_object_get(x, "line"));

			nsh_buf_adds(out, "- ");
			if (file && line)
				nsh_buf_addf(out, "`%s:%lld`: ", file, (long long)line);
			else if (file)
				nsh_buf_addf(out, "`%s`: ", file);
			nsh_buf_addf(out, "%s\n",
				     json_string_value(json_object_get(x, "message"))
					     ? json_string_value(json_object_get(x, "message"))
					     : "");
		}
		nsh_buf_addch(out, '\n');
	}
	nsh_buf_adds(out, "## Language model usage\n\n| agent | outcome | turns | tokens | cost "
			  "(USD) |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const json_t *r = json_object_get(results, roles[i]);
		json_int_t t =
			json_integer_value(json_object_get(json_object_get(r, "usage"), "total"));
		double c = json_number_value(json_object_get(r, "cost"));

		if (!r)
			continue;
		tokens += t;
		cost += c;
		nsh_buf_addf(out, "| %s | ", roles[i]);
		add_cell(out, json_string_value(json_object_get(r, "outcome")));
		nsh_buf_addf(out, " | %lld | %lld | %.4f |\n",
			     (long long)json_integer_value(json_object_get(r, "turns")),
			     (long long)t, c);
	}
	nsh_buf_addf(out, "| **this repository** | | | %lld | %.4f |\n", (long long)tokens, cost);
	if (task)
		nsh_buf_addf(out, "| **whole task** | | | %lld | %.4f |\n",
			     (long long)json_integer_value(json_object_get(task, "tokens")),
			     json_number_value(json_object_get(task, "cost")));
}
