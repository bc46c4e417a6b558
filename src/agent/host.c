/*
 * Hosts for agent runs: command execution in a sandbox or as a plain
 * process, and the host of a scheduler job, which speaks to the store:
 * questions put the task in waiting_input until `nightshift answer`,
 * steering comes from "task.steer" events, progress goes out as job
 * events and the spec lives in the specs table.
 */
#include "agent/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fault.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/proc.h"
#include "core/time.h"
#include "core/vec.h"
#include "sandbox/sandbox.h"
#include "sched/sched.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define ASK_POLL_MS   200 /* how often a question looks for its answer */
#define STATE_TTL_MS  250 /* how long a read of the task's state is trusted */
#define QUESTION_SHOW 200 /* bytes of a question in the task's state reason */

int nsh_agent_exec_sandbox(struct nsh_sandbox *sb, const char *const *argv, const char *const *env,
			   const char *cwd, int64_t timeout_ms, size_t out_max,
			   struct nsh_agent_exec *ret, struct nsh_err *err)
{
	struct nsh_sandbox_cmd c;
	char *dir = NULL;
	int rc;

	nsh_sandbox_cmd_init(&c);
	for (size_t i = 0; argv[i]; i++)
		nsh_strvec_push(&c.argv, argv[i]);
	for (size_t i = 0; env && env[i]; i++)
		nsh_strvec_push(&c.env, env[i]);
	if (cwd && *cwd && strcmp(cwd, ".")) {
		dir = nsh_xasprintf("/workspace/%s", cwd);
		c.cwd = dir;
	}
	c.timeout_ms = timeout_ms;
	c.out_max = out_max;
	rc = nsh_sandbox_exec(sb, &c, err);
	if (!rc) {
		nsh_buf_release(&ret->out);
		nsh_buf_release(&ret->err);
		ret->out = c.out;
		ret->err = c.err;
		nsh_buf_init(&c.out, SIZE_MAX);
		nsh_buf_init(&c.err, SIZE_MAX);
		ret->exit_code = c.exit_code;
		ret->timed_out = c.timed_out;
		ret->truncated = c.out_truncated || c.err_truncated;
	}
	nsh_sandbox_cmd_release(&c);
	free(dir);
	return rc;
}

int nsh_agent_exec_local(const char *workspace, const char *const *argv, const char *cwd,
			 int64_t timeout_ms, size_t out_max, struct nsh_agent_exec *ret,
			 struct nsh_err *err)
{
	struct nsh_buf dir = NSH_BUF_INIT;
	struct nsh_proc p;
	int rc;

	nsh_proc_init(&p);
	for (size_t i = 0; argv[i]; i++)
		nsh_strvec_push(&p.argv, argv[i]);
	if (cwd && *cwd && strcmp(cwd, "."))
		nsh_fs_join(&dir, workspace, cwd);
	else
		nsh_buf_adds(&dir, workspace);
	p.cwd = dir.buf;
	p.timeout_ms = timeout_ms;
	p.out_max = p.err_max = out_max;
	rc = nsh_proc_run(&p, err);
	if (!rc) {
		nsh_buf_release(&ret->out);
		nsh_buf_release(&ret->err);
		ret->out = p.out;
		ret->err = p.err;
		nsh_buf_init(&p.out, SIZE_MAX);
		nsh_buf_init(&p.err, SIZE_MAX);
		ret->exit_code = p.exit_code;
		ret->timed_out = p.timed_out;
		ret->truncated = p.out_truncated || p.err_truncated;
	}
	nsh_proc_release(&p);
	nsh_buf_release(&dir);
	return rc;
}

/* ---- the job host ---- */

static const char *task_id(struct nsh_agent_job_host *jh)
{
	return nsh_job_run_job(jh->jr)->task_id;
}

static const char *job_id(struct nsh_agent_job_host *jh)
{
	return nsh_job_run_job(jh->jr)->id;
}

static int jh_exec(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		   size_t out_max, struct nsh_agent_exec *ret, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;

	if (jh->exec)
		return jh->exec(jh->ctx, argv, cwd, timeout_ms, out_max, ret, err);
	if (jh->sb)
		return nsh_agent_exec_sandbox(jh->sb, argv, jh->env, cwd, timeout_ms, out_max, ret,
					      err);
	return nsh_agent_exec_local(jh->workspace, argv, cwd, timeout_ms, out_max, ret, err);
}

/* The task's state now; false when it cannot be read. */
static bool task_state(struct nsh_agent_job_host *jh, enum nsh_task_state *ret)
{
	struct nsh_task_rec t = {0};
	bool ok;

	ok = !nsh_store_task_get(nsh_job_run_store(jh->jr), task_id(jh), &t, NULL) &&
	     !nsh_task_state_parse(t.state, ret, NULL);
	nsh_task_rec_release(&t);
	return ok;
}

static bool ended(enum nsh_task_state s)
{
	return nsh_task_state_final(s) && s != NSH_TASK_COMPLETED;
}

static bool jh_stopping(void *ctx)
{
	struct nsh_agent_job_host *jh = ctx;
	int64_t now = nsh_time_mono_ms();
	enum nsh_task_state s;

	if (nsh_job_run_stopping(jh->jr))
		return true;
	if (jh->state_ms && now - jh->state_ms < STATE_TTL_MS)
		return jh->state_stop;
	jh->state_ms = now;
	jh->state_stop = task_state(jh, &s) && ended(s);
	return jh->state_stop;
}

static bool jh_checkpoint(void *ctx)
{
	struct nsh_agent_job_host *jh = ctx;
	enum nsh_task_state s;

	for (;;) {
		if (nsh_job_run_stopping(jh->jr))
			return true;
		if (!task_state(jh, &s))
			return false;
		if (ended(s))
			return true;
		if (s != NSH_TASK_PAUSED)
			return false;
		nsh_time_sleep_ms(NSH_SCHED_TICK_MS);
	}
}

/*
 * Ask: an "agent.question" event, the task to waiting_input, then wait for
 * a "task.answer" event after the question. Should the task leave
 * waiting_input without an answer (a pause and resume), it is put back.
 */
static int jh_ask(void *ctx, const char *question, char **ret_answer, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;
	struct nsh_store *st = nsh_job_run_store(jh->jr);
	char reason[QUESTION_SHOW + 32];
	json_t *data;
	int64_t after = 0;
	bool recheck = false;
	int rc;

	data = json_pack("{s:s}", "question", question);
	rc = nsh_event_append(st, task_id(jh), job_id(jh), "agent.question", data, &after, err);
	json_decref(data);
	if (rc)
		return rc;
	snprintf(reason, sizeof(reason), "question: %.*s%s", QUESTION_SHOW, question,
		 strlen(question) > QUESTION_SHOW ? "..." : "");
	for (;;) {
		struct nsh_event_list l = {0};
		enum nsh_task_state s;

		rc = nsh_store_events_after(st, after, task_id(jh), 0, &l, err);
		if (rc)
			return rc;
		for (size_t i = 0; i < l.nr; i++) {
			json_t *d = NULL;
			const char *text;

			after = l.v[i].id;
			if (strcmp(l.v[i].kind, "task.answer") ||
			    nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, NULL))
				continue;
			if (!nsh_json_get_str(d, "text", &text, NULL)) {
				*ret_answer = nsh_xstrdup(text);
				json_decref(d);
				nsh_event_list_release(&l);
				return 0;
			}
			json_decref(d);
		}
		nsh_event_list_release(&l);
		if (nsh_job_run_stopping(jh->jr))
			return nsh_err_set(err, NSH_ECONFLICT,
					   "the job stopped while waiting for "
					   "an answer");
		nsh_fault_stall("agent.ask.poll");
		if (task_state(jh, &s)) {
			if (ended(s))
				return nsh_err_set(err, NSH_ECONFLICT,
						   "the task ended while waiting for an answer");
			if (s == NSH_TASK_RUNNING || s == NSH_TASK_ANALYZING) {
				/*
				 * An answer also moves the task on, after its
				 * event: look at the events once more after
				 * seeing the move, or an answer that came
				 * between the two reads would be taken for a
				 * resume and the task put back to wait forever.
				 */
				if (!recheck) {
					recheck = true;
					continue;
				}
				nsh_task_transition(st, task_id(jh), NSH_TASK_WAITING_INPUT, reason,
						    NULL, NULL);
			}
		}
		recheck = false;
		nsh_time_sleep_ms(ASK_POLL_MS);
	}
}

static int jh_steer(void *ctx, struct nsh_strvec *ret, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;
	struct nsh_event_list l = {0};
	int rc;

	rc = nsh_store_events_after(nsh_job_run_store(jh->jr), jh->steer_after, task_id(jh), 0, &l,
				    err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		json_t *d = NULL;
		const char *text;

		jh->steer_after = l.v[i].id;
		/* deadline warnings reach the agents as steering from nightshift itself */
		if ((strcmp(l.v[i].kind, "task.steer") &&
		     strcmp(l.v[i].kind, "task.deadline_warning")) ||
		    nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, NULL))
			continue;
		if (!strcmp(l.v[i].kind, "task.deadline_warning")) {
			if (!nsh_json_get_str(d, "message", &text, NULL) && *text)
				nsh_strvec_pushf(ret,
						 "nightshift: %s. Finish the current change in "
						 "small, complete steps.",
						 text);
		} else if (!nsh_json_get_str(d, "text", &text, NULL) && *text) {
			nsh_strvec_push(ret, text);
		}
		json_decref(d);
	}
	nsh_event_list_release(&l);
	return rc;
}

static void jh_event(void *ctx, const char *kind, const json_t *data)
{
	struct nsh_agent_job_host *jh = ctx;

	nsh_job_run_event(jh->jr, kind, data, NULL);
}

static int jh_spec_get(void *ctx, char **ret_body, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;

	return nsh_store_spec_get(nsh_job_run_store(jh->jr), task_id(jh), 0, ret_body, NULL, err);
}

static int jh_spec_put(void *ctx, const char *body, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;

	return nsh_store_spec_add(nsh_job_run_store(jh->jr), task_id(jh), body, NULL, err);
}

static int jh_verify(void *ctx, json_t **ret, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;

	return jh->verify(jh->ctx, ret, err);
}

static int jh_recipe(void *ctx, const char *name, bool dry_run, char **ret, struct nsh_err *err)
{
	struct nsh_agent_job_host *jh = ctx;

	return jh->recipe(jh->ctx, name, dry_run, ret, err);
}

void nsh_agent_job_host_init(struct nsh_agent_host *h, struct nsh_agent_job_host *jh)
{
	memset(h, 0, sizeof(*h));
	h->ctx = jh;
	h->exec = jh_exec;
	h->ask = jh_ask;
	h->steer = jh_steer;
	h->stopping = jh_stopping;
	h->checkpoint = jh_checkpoint;
	h->event = jh_event;
	h->spec_get = jh_spec_get;
	h->spec_put = jh_spec_put;
	h->verify = jh->verify ? jh_verify : NULL;
	h->recipe = jh->recipe ? jh_recipe : NULL;
}
