/*
 * The task and job state machines and the one function each that changes
 * a state. The transition tables below are the specification: a pair not
 * listed is refused.
 */
#include "task/task.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/id.h"
#include "core/json.h"
#include "core/time.h"
#include "store/store.h"

#include "core/banned.h"

static const char *const task_names[NSH_TASK_STATE_COUNT] = {
	[NSH_TASK_QUEUED] = "queued",	[NSH_TASK_ANALYZING] = "analyzing",
	[NSH_TASK_RUNNING] = "running", [NSH_TASK_WAITING_INPUT] = "waiting_input",
	[NSH_TASK_PAUSED] = "paused",	[NSH_TASK_COMPLETED] = "completed",
	[NSH_TASK_FAILED] = "failed",	[NSH_TASK_CANCELLED] = "cancelled",
	[NSH_TASK_EXPIRED] = "expired",
};

static const char *const job_names[NSH_JOB_STATE_COUNT] = {
	[NSH_JOB_QUEUED] = "queued",
	[NSH_JOB_PROVISIONING] = "provisioning",
	[NSH_JOB_RESEARCHING] = "researching",
	[NSH_JOB_CODING] = "coding",
	[NSH_JOB_VERIFYING] = "verifying",
	[NSH_JOB_RETRYING] = "retrying",
	[NSH_JOB_PR_OPEN] = "pr_open",
	[NSH_JOB_REVISING] = "revising",
	[NSH_JOB_NEEDS_HUMAN_REVIEW] = "needs_human_review",
	[NSH_JOB_MERGED] = "merged",
	[NSH_JOB_CLOSED] = "closed",
	[NSH_JOB_FAILED] = "failed",
	[NSH_JOB_CANCELLED] = "cancelled",
};

#define T(s)	  (1u << NSH_TASK_##s)
#define J(s)	  (1u << NSH_JOB_##s)
#define T_ABORTED (T(FAILED) | T(CANCELLED) | T(EXPIRED))

/*
 * Task transitions, one bit per target state. Pause is allowed from every
 * live state; resume returns to the state recorded at pause. A deadline
 * can expire any live task; "extend" revives an expired one. Review
 * feedback on a completed task's pull requests reopens it (running).
 */
static const unsigned task_next[NSH_TASK_STATE_COUNT] = {
	[NSH_TASK_QUEUED] = T(ANALYZING) | T(PAUSED) | T_ABORTED,
	[NSH_TASK_ANALYZING] = T(RUNNING) | T(WAITING_INPUT) | T(PAUSED) | T_ABORTED,
	[NSH_TASK_RUNNING] = T(COMPLETED) | T(WAITING_INPUT) | T(PAUSED) | T_ABORTED,
	[NSH_TASK_WAITING_INPUT] = T(ANALYZING) | T(RUNNING) | T(PAUSED) | T_ABORTED,
	[NSH_TASK_PAUSED] = T(QUEUED) | T(ANALYZING) | T(RUNNING) | T(WAITING_INPUT) |
			    T(CANCELLED) | T(EXPIRED),
	[NSH_TASK_COMPLETED] = T(RUNNING),
	[NSH_TASK_FAILED] = 0,
	[NSH_TASK_CANCELLED] = 0,
	[NSH_TASK_EXPIRED] = T(QUEUED) | T(RUNNING) | T(CANCELLED),
};

#define J_STOP (J(FAILED) | J(CANCELLED))

/*
 * Job transitions. The pipeline runs provisioning -> researching -> coding
 * -> verifying -> pr_open; verification sends work back to coding, or to
 * retrying (another approach) and finally needs_human_review. A change
 * that makes no difference closes the job from coding (no pull request). Review
 * feedback moves an open PR to revising, and the revision runs the
 * pipeline again from provisioning. A failed provisioning step may be
 * queued again.
 */
static const unsigned job_next[NSH_JOB_STATE_COUNT] = {
	[NSH_JOB_QUEUED] = J(PROVISIONING) | J_STOP,
	[NSH_JOB_PROVISIONING] = J(QUEUED) | J(RESEARCHING) | J_STOP,
	[NSH_JOB_RESEARCHING] = J(CODING) | J(NEEDS_HUMAN_REVIEW) | J_STOP,
	[NSH_JOB_CODING] = J(VERIFYING) | J(NEEDS_HUMAN_REVIEW) | J(CLOSED) | J_STOP,
	[NSH_JOB_VERIFYING] = J(CODING) | J(RETRYING) | J(PR_OPEN) | J(NEEDS_HUMAN_REVIEW) | J_STOP,
	[NSH_JOB_RETRYING] = J(RESEARCHING) | J(CODING) | J(NEEDS_HUMAN_REVIEW) | J_STOP,
	[NSH_JOB_PR_OPEN] = J(REVISING) | J(MERGED) | J(CLOSED) | J(CANCELLED),
	[NSH_JOB_REVISING] = J(PROVISIONING) | J(CODING) | J(VERIFYING) | J(PR_OPEN) |
			     J(NEEDS_HUMAN_REVIEW) | J(MERGED) | J(CLOSED) | J_STOP,
	[NSH_JOB_NEEDS_HUMAN_REVIEW] =
		J(REVISING) | J(PR_OPEN) | J(MERGED) | J(CLOSED) | J(CANCELLED),
	[NSH_JOB_MERGED] = 0,
	[NSH_JOB_CLOSED] = 0,
	[NSH_JOB_FAILED] = 0,
	[NSH_JOB_CANCELLED] = 0,
};

const char *nsh_task_state_name(enum nsh_task_state s)
{
	return (unsigned)s < NSH_TASK_STATE_COUNT ? task_names[s] : "unknown";
}

const char *nsh_job_state_name(enum nsh_job_state s)
{
	return (unsigned)s < NSH_JOB_STATE_COUNT ? job_names[s] : "unknown";
}

static int parse_name(const char *const *names, int count, const char *name, const char *what,
		      int *ret, struct nsh_err *err)
{
	for (int i = 0; i < count; i++) {
		if (name && !strcmp(name, names[i])) {
			*ret = i;
			return 0;
		}
	}
	return nsh_err_set(err, NSH_EINVAL, "unknown %s state '%s'", what, name ? name : "");
}

int nsh_task_state_parse(const char *name, enum nsh_task_state *ret, struct nsh_err *err)
{
	int v = 0;
	int rc = parse_name(task_names, NSH_TASK_STATE_COUNT, name, "task", &v, err);

	if (!rc)
		*ret = (enum nsh_task_state)v;
	return rc;
}

int nsh_job_state_parse(const char *name, enum nsh_job_state *ret, struct nsh_err *err)
{
	int v = 0;
	int rc = parse_name(job_names, NSH_JOB_STATE_COUNT, name, "job", &v, err);

	if (!rc)
		*ret = (enum nsh_job_state)v;
	return rc;
}

bool nsh_task_can_transition(enum nsh_task_state from, enum nsh_task_state to)
{
	return (unsigned)from < NSH_TASK_STATE_COUNT && (unsigned)to < NSH_TASK_STATE_COUNT &&
	       (task_next[from] & (1u << to));
}

bool nsh_job_can_transition(enum nsh_job_state from, enum nsh_job_state to)
{
	return (unsigned)from < NSH_JOB_STATE_COUNT && (unsigned)to < NSH_JOB_STATE_COUNT &&
	       (job_next[from] & (1u << to));
}

bool nsh_task_state_final(enum nsh_task_state s)
{
	return (unsigned)s < NSH_TASK_STATE_COUNT && !task_next[s];
}

bool nsh_job_state_final(enum nsh_job_state s)
{
	return (unsigned)s < NSH_JOB_STATE_COUNT && !job_next[s];
}

bool nsh_job_state_busy(enum nsh_job_state s)
{
	const unsigned busy = J(QUEUED) | J(PROVISIONING) | J(RESEARCHING) | J(CODING) |
			      J(VERIFYING) | J(RETRYING) | J(REVISING);

	return (unsigned)s < NSH_JOB_STATE_COUNT && (busy & (1u << s));
}

/* ---- creation ---- */

static bool task_id_taken(const char *id, void *ctx)
{
	return nsh_store_task_exists(ctx, id);
}

static bool job_id_taken(const char *id, void *ctx)
{
	return nsh_store_job_exists(ctx, id);
}

/* Append a state-change event built from its parts. */
static int state_event(struct nsh_store *s, const char *task_id, const char *job_id,
		       const char *kind, const char *from, const char *to, const char *reason,
		       const char *repo, int64_t *ret_event, struct nsh_err *err)
{
	json_t *data = json_object();
	int rc;

	if (from)
		json_object_set_new(data, "from", json_string(from));
	json_object_set_new(data, "to", json_string(to));
	if (reason)
		json_object_set_new(data, "reason", json_string(reason));
	if (repo)
		json_object_set_new(data, "repo", json_string(repo));
	rc = nsh_event_append(s, task_id, job_id, kind, data, ret_event, err);
	json_decref(data);
	return rc;
}

int nsh_task_create(struct nsh_store *s, const struct nsh_task_new *t, char ret_id[32],
		    struct nsh_err *err)
{
	struct nsh_task_rec rec = {0};
	char id[NSH_ID_MAX];
	json_t *data = NULL;
	int rc;

	if (!t->title || !*t->title)
		return nsh_err_set(err, NSH_EINVAL, "a task needs a description");
	rc = nsh_store_begin(s, err);
	if (rc)
		return rc;
	rc = nsh_id_new("t", task_id_taken, s, id, err);
	if (rc)
		goto out;
	rec.id = id;
	rec.title = (char *)t->title;
	rec.state = (char *)task_names[NSH_TASK_QUEUED];
	rec.org = (char *)t->org;
	rec.recipe = (char *)t->recipe;
	rec.network = (char *)(t->network ? t->network : "integration");
	rec.deadline_ms = t->deadline_ms;
	rec.options = (char *)t->options;
	rc = nsh_store_task_insert(s, &rec, err);
	if (rc)
		goto out;
	data = json_pack("{s:s, s:s, s:s}", "title", t->title, "state", rec.state, "network",
			 rec.network);
	if (t->org)
		json_object_set_new(data, "org", json_string(t->org));
	rc = nsh_event_append(s, id, NULL, "task.created", data, NULL, err);
	if (rc)
		goto out;
	rc = nsh_store_commit(s, err);
out:
	json_decref(data);
	if (rc) {
		nsh_store_rollback(s);
		return rc;
	}
	memcpy(ret_id, id, strlen(id) + 1);
	return 0;
}

int nsh_job_create(struct nsh_store *s, const char *task_id, const char *repo, int64_t position,
		   char ret_id[32], struct nsh_err *err)
{
	struct nsh_job_rec rec = {0};
	char id[NSH_ID_MAX];
	int rc;

	rc = nsh_store_begin(s, err);
	if (rc)
		return rc;
	rc = nsh_id_new("j", job_id_taken, s, id, err);
	if (rc)
		goto out;
	rec.id = id;
	rec.task_id = (char *)task_id;
	rec.repo = (char *)repo;
	rec.state = (char *)job_names[NSH_JOB_QUEUED];
	rec.position = position;
	rc = nsh_store_job_insert(s, &rec, err);
	if (rc == NSH_EEXIST) {
		nsh_err_set(err, rc, "task '%s' already has a job for '%s'", task_id, repo);
		goto out;
	} else if (rc == NSH_EINVAL) {
		nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", task_id);
		rc = NSH_ENOTFOUND;
		goto out;
	} else if (rc) {
		goto out;
	}
	rc = state_event(s, task_id, id, "job.created", NULL, rec.state, NULL, repo, NULL, err);
	if (rc)
		goto out;
	rc = nsh_store_commit(s, err);
out:
	if (rc) {
		nsh_store_rollback(s);
		return rc;
	}
	memcpy(ret_id, id, strlen(id) + 1);
	return 0;
}

/* ---- transitions ---- */

/*
 * Move task @id to @to; with @resume set, @to is ignored and the task goes
 * back to the state it was paused in.
 */
static int task_move(struct nsh_store *s, const char *id, enum nsh_task_state to, bool resume,
		     const char *reason, int64_t *ret_event, struct nsh_err *err)
{
	struct nsh_task_rec cur = {0};
	enum nsh_task_state from;
	const char *paused_from = NULL;
	const char *error = NULL;
	int rc;

	rc = nsh_store_begin(s, err);
	if (rc)
		return rc;
	rc = nsh_store_task_get(s, id, &cur, err);
	if (rc)
		goto out;
	rc = nsh_task_state_parse(cur.state, &from, err);
	if (rc)
		goto out;
	if (resume) {
		if (from != NSH_TASK_PAUSED) {
			rc = nsh_err_set(err, NSH_ECONFLICT, "task '%s' is %s, not paused", id,
					 cur.state);
			goto out;
		}
		rc = nsh_task_state_parse(cur.paused_from ? cur.paused_from : "queued", &to, err);
		if (rc)
			goto out;
	}
	if (!nsh_task_can_transition(from, to)) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "task '%s' cannot go from %s to %s", id,
				 cur.state, task_names[to]);
		goto out;
	}
	if (to == NSH_TASK_PAUSED)
		paused_from = cur.state;
	if (to == NSH_TASK_FAILED)
		error = reason;
	rc = nsh_store_task_set_state(s, id, task_names[to], paused_from, error, err);
	if (rc)
		goto out;
	rc = state_event(s, id, NULL, "task.state", cur.state, task_names[to], reason, NULL,
			 ret_event, err);
	if (rc)
		goto out;
	rc = nsh_store_commit(s, err);
out:
	if (rc)
		nsh_store_rollback(s);
	nsh_task_rec_release(&cur);
	return rc;
}

int nsh_task_transition(struct nsh_store *s, const char *id, enum nsh_task_state to,
			const char *reason, int64_t *ret_event, struct nsh_err *err)
{
	if ((unsigned)to >= NSH_TASK_STATE_COUNT)
		return nsh_err_set(err, NSH_EINVAL, "invalid task state %d", (int)to);
	return task_move(s, id, to, false, reason, ret_event, err);
}

int nsh_task_resume(struct nsh_store *s, const char *id, int64_t *ret_event, struct nsh_err *err)
{
	return task_move(s, id, NSH_TASK_QUEUED, true, "resumed", ret_event, err);
}

int nsh_job_transition(struct nsh_store *s, const char *id, enum nsh_job_state to,
		       const char *reason, int64_t *ret_event, struct nsh_err *err)
{
	struct nsh_job_rec cur = {0};
	enum nsh_job_state from;
	int rc;

	if ((unsigned)to >= NSH_JOB_STATE_COUNT)
		return nsh_err_set(err, NSH_EINVAL, "invalid job state %d", (int)to);
	rc = nsh_store_begin(s, err);
	if (rc)
		return rc;
	rc = nsh_store_job_get(s, id, &cur, err);
	if (rc)
		goto out;
	rc = nsh_job_state_parse(cur.state, &from, err);
	if (rc)
		goto out;
	if (!nsh_job_can_transition(from, to)) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "job '%s' (%s) cannot go from %s to %s", id,
				 cur.repo, cur.state, job_names[to]);
		goto out;
	}
	rc = nsh_store_job_set_state(s, id, job_names[to], to == NSH_JOB_FAILED ? reason : NULL,
				     err);
	if (rc)
		goto out;
	rc = state_event(s, cur.task_id, id, "job.state", cur.state, job_names[to], reason,
			 cur.repo, ret_event, err);
	if (rc)
		goto out;
	rc = nsh_store_commit(s, err);
out:
	if (rc)
		nsh_store_rollback(s);
	nsh_job_rec_release(&cur);
	return rc;
}
