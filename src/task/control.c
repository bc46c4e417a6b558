/*
 * Control requests (DESIGN.md section 4): pause, resume, cancel, steer,
 * answer and extend. Each is recorded and carried out on the store in one
 * transaction, by whichever process receives it (the CLI, the API). The
 * worker driving the task, if any, watches the task's state and does what
 * the new state asks of running sandboxes (freeze, thaw, kill) within its
 * next tick; so a request works the same with or without a daemon.
 */
#include "task/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/limits.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "store/limits.h"
#include "store/store.h"

#include "core/banned.h"

static const char *const kinds[] = {"pause", "resume", "cancel", "steer", "answer", "extend"};

bool nsh_control_kind_valid(const char *kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

/* Cancel every job of @task_id that is still at work. */
static int cancel_jobs(struct nsh_store *s, const char *task_id, struct nsh_err *err)
{
	struct nsh_job_list jobs = {0};
	int rc;

	rc = nsh_store_job_list(s, task_id, &jobs, err);
	for (size_t i = 0; !rc && i < jobs.nr; i++) {
		enum nsh_job_state js;

		rc = nsh_job_state_parse(jobs.v[i].state, &js, err);
		if (rc || !nsh_job_state_busy(js))
			continue;
		rc = nsh_job_transition(s, jobs.v[i].id, NSH_JOB_CANCELLED, "task cancelled", NULL,
					err);
	}
	nsh_job_list_release(&jobs);
	return rc;
}

/* Whether task @task_id has jobs (a plan ran): it continues running, not from its analysis. */
static bool has_jobs(struct nsh_store *s, const char *task_id)
{
	struct nsh_job_list jobs = {0};
	bool any = !nsh_store_job_list(s, task_id, &jobs, NULL) && jobs.nr > 0;

	nsh_job_list_release(&jobs);
	return any;
}

/*
 * Extend task @t (state @ts) to @deadline_ms. An expired task within its
 * grace period continues: back to running (its jobs resume after their
 * last completed step) or, before its plan made jobs, to queued. The
 * deadline warnings already passed under the new deadline stay given and
 * the checkpoint is asked for again before the new deadline. Returns 0
 * with *@ret_ok false and the reason in @msg when the task is past its
 * grace period.
 */
static int extend(struct nsh_store *s, const struct nsh_task_rec *t, enum nsh_task_state ts,
		  int64_t by, bool *ret_ok, char *msg, size_t cap, struct nsh_err *err)
{
	struct nsh_task_limits_rec r = {0};
	struct nsh_limits def, lim;
	json_t *lj = NULL, *data = NULL;
	int64_t now = nsh_time_now_ms(), base = t->deadline_ms, start, deadline;
	int64_t warned = 0;
	int rc;

	rc = nsh_store_task_limits_get(s, t->id, &r, err);
	if (rc)
		return rc;
	nsh_limits_plan("pro", &def, NULL);
	if (r.limits)
		nsh_json_parse(r.limits, strlen(r.limits), &lj, NULL);
	nsh_limits_from_json(lj, &def, &lim);
	if (ts == NSH_TASK_EXPIRED && r.expired_ms &&
	    (r.gc_ms || now - r.expired_ms > lim.grace_ms)) {
		char ago[32], grace[32];

		nsh_limits_fmt_duration(now - r.expired_ms, ago, sizeof(ago));
		nsh_limits_fmt_duration(lim.grace_ms, grace, sizeof(grace));
		snprintf(msg, cap,
			 "task '%s' expired %s ago; its workspaces were removed after the %s grace "
			 "period; start a new task",
			 t->id, ago, grace);
		goto out;
	}
	if (base < now)
		base = now;
	deadline = base + by;
	start = r.started_ms ? r.started_ms : r.created_ms;
	for (int mark = 80; mark <= 95; mark += 15)
		if ((now - start) * 100 >= (deadline - start) * mark)
			warned = mark;
	rc = nsh_store_task_set_deadline(s, t->id, deadline, err);
	if (!rc)
		rc = nsh_store_task_set_warned(s, t->id, warned, err);
	if (!rc && now < nsh_limits_checkpoint_at(&lim, start, deadline))
		rc = nsh_store_task_set_checkpoint(s, t->id, 0, err);
	if (!rc)
		rc = nsh_store_task_set_expired(s, t->id, 0, err);
	if (!rc) {
		char iso[NSH_TIME_ISO_MAX];

		data = json_pack("{s:I, s:s}", "deadline_ms", (json_int_t)deadline, "deadline",
				 nsh_time_iso8601(deadline, iso));
		rc = nsh_event_append(s, t->id, NULL, "task.extended", data, NULL, err);
	}
	if (!rc && ts == NSH_TASK_EXPIRED)
		rc = nsh_task_transition(s, t->id,
					 has_jobs(s, t->id) ? NSH_TASK_RUNNING : NSH_TASK_QUEUED,
					 "extended", NULL, err);
	if (!rc)
		*ret_ok = true;
out:
	json_decref(data);
	json_decref(lj);
	nsh_task_limits_rec_release(&r);
	return rc;
}

/*
 * Carry out @kind on the task @t (state @ts). Returns 0 with *@ret_ok false
 * and the reason in @msg when the request does not apply; errors only for
 * store failures.
 */
static int apply(struct nsh_store *s, const struct nsh_task_rec *t, enum nsh_task_state ts,
		 const char *kind, const char *text, bool *ret_ok, char *msg, size_t cap,
		 struct nsh_err *err)
{
	json_t *data = NULL;
	int rc = 0;

	*ret_ok = false;
	if (nsh_task_state_final(ts) && strcmp(kind, "extend")) {
		snprintf(msg, cap, "task '%s' has already ended (%s)", t->id, t->state);
		return 0;
	}
	if (!strcmp(kind, "pause")) {
		if (ts == NSH_TASK_PAUSED) {
			snprintf(msg, cap, "task '%s' is already paused", t->id);
			return 0;
		}
		rc = nsh_task_transition(s, t->id, NSH_TASK_PAUSED, text, NULL, err);
		snprintf(msg, cap, "task '%s' paused", t->id);
	} else if (!strcmp(kind, "resume")) {
		if (ts != NSH_TASK_PAUSED) {
			snprintf(msg, cap, "task '%s' is not paused (%s)", t->id, t->state);
			return 0;
		}
		rc = nsh_task_resume(s, t->id, NULL, err);
		snprintf(msg, cap, "task '%s' resumed", t->id);
	} else if (!strcmp(kind, "cancel")) {
		rc = cancel_jobs(s, t->id, err);
		if (!rc)
			rc = nsh_task_transition(s, t->id, NSH_TASK_CANCELLED,
						 text && *text ? text : "cancelled by the user",
						 NULL, err);
		snprintf(msg, cap, "task '%s' cancelled", t->id);
	} else if (!strcmp(kind, "steer")) {
		data = json_pack("{s:s}", "text", text);
		rc = nsh_event_append(s, t->id, NULL, "task.steer", data, NULL, err);
		snprintf(msg, cap, "task '%s' steered; the agents read it at their next step",
			 t->id);
	} else if (!strcmp(kind, "answer")) {
		if (ts != NSH_TASK_WAITING_INPUT) {
			snprintf(msg, cap, "task '%s' is not waiting for an answer (%s)", t->id,
				 t->state);
			return 0;
		}
		data = json_pack("{s:s}", "text", text);
		rc = nsh_event_append(s, t->id, NULL, "task.answer", data, NULL, err);
		if (!rc) {
			char *dump = json_dumps(data, JSON_COMPACT);

			rc = nsh_store_step_put(s, t->id, NULL, 0, "answer", dump, err);
			free(dump);
		}
		if (!rc)
			rc = nsh_task_transition(s, t->id, NSH_TASK_ANALYZING, "answered", NULL,
						 err);
		snprintf(msg, cap, "task '%s' answered", t->id);
	} else if (!strcmp(kind, "extend")) {
		int64_t by = 0;
		struct nsh_err perr = NSH_ERR_INIT;

		if (nsh_time_parse_duration(text ? text : "", &by, &perr) || by <= 0) {
			snprintf(msg, cap, "invalid duration '%s' (e.g. 30m, 2h)",
				 text ? text : "");
			return 0;
		}
		if (ts != NSH_TASK_EXPIRED && nsh_task_state_final(ts)) {
			snprintf(msg, cap, "task '%s' has already ended (%s)", t->id, t->state);
			return 0;
		}
		snprintf(msg, cap, "task '%s' extended by %s", t->id, text);
		return extend(s, t, ts, by, ret_ok, msg, cap, err);
	} else {
		snprintf(msg, cap, "unknown control request '%s'", kind);
		return 0;
	}
	json_decref(data);
	if (!rc)
		*ret_ok = true;
	return rc;
}

int nsh_control_request(struct nsh_store *s, const char *task_id, const char *kind,
			const char *text, struct nsh_control_result *ret, struct nsh_err *err)
{
	struct nsh_task_rec t = {0};
	enum nsh_task_state ts;
	json_t *payload = NULL;
	char *dump = NULL;
	char msg[256] = "";
	bool ok = false;
	int rc;

	if (!nsh_control_kind_valid(kind))
		return nsh_err_set(err, NSH_EINVAL, "unknown control request '%s'", kind);
	if ((!strcmp(kind, "steer") || !strcmp(kind, "answer") || !strcmp(kind, "extend")) &&
	    (!text || !*text))
		return nsh_err_set(err, NSH_EINVAL, "'%s' needs a text", kind);
	rc = nsh_store_begin(s, err);
	if (rc)
		return rc;
	rc = nsh_store_task_get(s, task_id, &t, err);
	if (!rc)
		rc = nsh_task_state_parse(t.state, &ts, err);
	if (rc)
		goto out;
	payload = json_object();
	if (text)
		json_object_set_new(payload, "text", json_string(text));
	dump = json_dumps(payload, JSON_COMPACT);
	rc = nsh_store_control_add(s, task_id, NULL, kind, dump, &ret->id, err);
	if (rc)
		goto out;
	rc = apply(s, &t, ts, kind, text, &ok, msg, sizeof(msg), err);
	if (rc)
		goto out;
	rc = nsh_store_control_finish(s, ret->id, ok ? "done" : "rejected", msg, NULL, err);
	if (rc)
		goto out;
	rc = nsh_store_commit(s, err);
out:
	if (rc)
		nsh_store_rollback(s);
	else {
		ret->done = ok;
		snprintf(ret->message, sizeof(ret->message), "%s", msg);
	}
	free(dump);
	json_decref(payload);
	nsh_task_rec_release(&t);
	return rc;
}
