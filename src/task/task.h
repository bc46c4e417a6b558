/*
 * Tasks, jobs and their event log (DESIGN.md section 4).
 *
 * A task is one request from a user; a job is the work of that task on one
 * repository. Both move through explicit state machines: the tables in
 * task.c list every allowed transition, and nsh_task_transition() /
 * nsh_job_transition() are the only functions that change a state. Each
 * validates the move, writes the new state and appends the matching event
 * in one transaction, so the log and the rows never disagree; an invalid
 * move returns NSH_ECONFLICT and changes nothing.
 *
 * Thread rules: functions use the caller's store handle, which belongs to
 * the calling thread.
 */
#ifndef NSH_TASK_TASK_H
#define NSH_TASK_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_err;
struct nsh_store;
struct nsh_notify;
struct nsh_task_rec;
struct nsh_job_rec;
struct nsh_event_list;
struct nsh_event_rec;

enum nsh_task_state {
	NSH_TASK_QUEUED,
	NSH_TASK_ANALYZING,
	NSH_TASK_RUNNING,
	NSH_TASK_WAITING_INPUT,
	NSH_TASK_PAUSED,
	NSH_TASK_COMPLETED,
	NSH_TASK_FAILED,
	NSH_TASK_CANCELLED,
	NSH_TASK_EXPIRED,
	NSH_TASK_STATE_COUNT
};

enum nsh_job_state {
	NSH_JOB_QUEUED,
	NSH_JOB_PROVISIONING,
	NSH_JOB_RESEARCHING,
	NSH_JOB_CODING,
	NSH_JOB_VERIFYING,
	NSH_JOB_RETRYING,
	NSH_JOB_PR_OPEN,
	NSH_JOB_REVISING,
	NSH_JOB_NEEDS_HUMAN_REVIEW,
	NSH_JOB_MERGED,
	NSH_JOB_CLOSED,
	NSH_JOB_FAILED,
	NSH_JOB_CANCELLED,
	NSH_JOB_STATE_COUNT
};

/** The stored name of a state ("waiting_input"); "unknown" when out of range. */
const char *nsh_task_state_name(enum nsh_task_state s);
const char *nsh_job_state_name(enum nsh_job_state s);
/** Parse a stored name; NSH_EINVAL naming it when unknown. */
int nsh_task_state_parse(const char *name, enum nsh_task_state *ret, struct nsh_err *err);
int nsh_job_state_parse(const char *name, enum nsh_job_state *ret, struct nsh_err *err);

/** Whether the state machine allows @from -> @to. */
bool nsh_task_can_transition(enum nsh_task_state from, enum nsh_task_state to);
bool nsh_job_can_transition(enum nsh_job_state from, enum nsh_job_state to);
/** Whether no transition leaves @s. */
bool nsh_task_state_final(enum nsh_task_state s);
bool nsh_job_state_final(enum nsh_job_state s);
/**
 * Whether a job in @s is still at work (queued up to verifying, retrying,
 * revising); the others wait for a person (pr_open, needs_human_review) or
 * have ended. A task is done when none of its jobs is busy.
 */
bool nsh_job_state_busy(enum nsh_job_state s);

/* What a new task starts with; NULL fields take their defaults. */
struct nsh_task_new {
	const char *title;   /* the task text; required */
	const char *org;     /* organisation, or NULL */
	const char *network; /* network level, NULL for "integration" */
	const char *recipe;  /* recipe named by the user, or NULL */
	int64_t deadline_ms; /* epoch milliseconds, 0 for none */
	const char *options; /* run options as a JSON object ("repos", "choices"), NULL: {} */
};

/**
 * Create a task in state queued with a fresh id ("t-xxxxxx", written to
 * @ret_id) and append its "task.created" event, in one transaction.
 */
int nsh_task_create(struct nsh_store *s, const struct nsh_task_new *t, char ret_id[32],
		    struct nsh_err *err);

/**
 * Move task @id to @to. @reason (may be NULL) is recorded in the event and,
 * for failed, as the task's error. Moving to paused remembers the state to
 * resume to; nsh_task_resume() goes back there. NSH_ENOTFOUND for an
 * unknown task, NSH_ECONFLICT (nothing changed) for a move the state machine
 * forbids. The event id goes to @ret_event (may be NULL).
 */
int nsh_task_transition(struct nsh_store *s, const char *id, enum nsh_task_state to,
			const char *reason, int64_t *ret_event, struct nsh_err *err);

/** Move a paused task back to the state it was paused in. */
int nsh_task_resume(struct nsh_store *s, const char *id, int64_t *ret_event, struct nsh_err *err);

/**
 * Add a job for @repo ("org/name") to task @task_id, in state queued, with a
 * fresh id ("j-xxxxxx") and a "job.created" event.
 */
int nsh_job_create(struct nsh_store *s, const char *task_id, const char *repo, int64_t position,
		   char ret_id[32], struct nsh_err *err);

/** Move job @id to @to; as nsh_task_transition(). */
int nsh_job_transition(struct nsh_store *s, const char *id, enum nsh_job_state to,
		       const char *reason, int64_t *ret_event, struct nsh_err *err);

/**
 * Append an event of @kind with the JSON object @data (may be NULL; the
 * reference is not taken) for a task and optionally a job.
 */
int nsh_event_append(struct nsh_store *s, const char *task_id, const char *job_id, const char *kind,
		     const json_t *data, int64_t *ret_id, struct nsh_err *err);

/**
 * Subscribe: wait up to @timeout_ms for events with id > @after_id (only
 * those of @task_id when not NULL) and append up to @max (0: no limit) of
 * them to @ret, oldest first. Returns 0 with nothing appended on timeout.
 *
 * Works across processes by cheap polling of the store (a data-version
 * check every few milliseconds, a query only when something changed); in
 * this process, waiters on @notify (may be NULL) are woken at once by
 * appends made through handles that post to it (nsh_store_set_notify()).
 */
int nsh_event_wait(struct nsh_store *s, struct nsh_notify *notify, int64_t after_id,
		   const char *task_id, int64_t timeout_ms, size_t max, struct nsh_event_list *ret,
		   struct nsh_err *err);

/** A task row as a JSON object for --json output and the API. New reference. */
json_t *nsh_task_to_json(const struct nsh_task_rec *t);
json_t *nsh_job_to_json(const struct nsh_job_rec *j);
/** One event as a JSON object; its data is parsed back into an object. New reference. */
json_t *nsh_event_to_json(const struct nsh_event_rec *e);

/* ---- control requests (control.c) ---- */

/* What became of a control request. */
struct nsh_control_result {
	int64_t id;	   /* its row in control_requests */
	bool done;	   /* carried out; false: rejected, @message says why */
	char message[256]; /* "task 't-1' paused", "task 't-1' is not paused (running)" */
};

/** Whether @kind is pause, resume, cancel, steer, answer or extend. */
bool nsh_control_kind_valid(const char *kind);

/**
 * Record control request @kind for task @task_id and carry it out on the
 * store, both in one transaction:
 *   pause   the task goes to paused (it remembers where it was);
 *   resume  back to the state it was paused in;
 *   cancel  every job still at work, then the task, go to cancelled;
 *   steer   a "task.steer" event with @text, read by the agents;
 *   answer  when the task waits for input: @text is recorded as its step
 *           "answer" and the task goes back to analyzing;
 *   extend  the deadline moves by the duration @text ("30m", "2h") from
 *           itself or from now, whichever is later; an expired task is
 *           queued again.
 * The worker driving the task sees the new state at its next tick (100 ms)
 * and freezes, thaws or kills the task's sandboxes. A request that does not
 * apply (resume of a running task, anything on a finished one) is recorded
 * as rejected with the reason in @ret and is not an error. Errors:
 * NSH_EINVAL for an unknown kind or a missing text, NSH_ENOTFOUND for an
 * unknown task, store errors.
 */
int nsh_control_request(struct nsh_store *s, const char *task_id, const char *kind,
			const char *text, struct nsh_control_result *ret, struct nsh_err *err);

#endif
