/*
 * The scheduler: the worker that drives tasks (DESIGN.md sections 1 and 4).
 *
 * One scheduler runs in `nightshift serve` (every task) or in an embedded
 * `nightshift run` (one task). It registers as a worker with a heartbeat,
 * claims unfinished tasks that no live worker owns (so a task survives a
 * killed process: the next worker continues it), and for each task:
 *   - runs the pipeline's plan (analysis, spec, one job per repository)
 *     while the task is queued or analyzing;
 *   - queues the task's busy jobs in one FIFO shared by all tasks (older
 *     tasks first, then plan order), served by at most max_sandboxes job
 *     threads: a job holds one sandbox for its whole run;
 *   - runs each job's steps in order. A step that completes is recorded
 *     (with its result) in the same transaction as its event, so a job that
 *     is interrupted continues after its last completed step.
 * Between steps a job checks its task: paused (it waits), cancelled or the
 * scheduler stopping (it ends without touching the job's state, which a
 * later run continues).
 *
 * Limits (config/limits.h, docs/limits.md): at most concurrent_tasks tasks
 * are driven at once, the others wait unclaimed in FIFO order; each waiting
 * task and job gets "task.queued" / "job.queued" events with its position
 * and an estimated start when its position changes. A task's deadline
 * starts when it is first claimed; at 80% and 95% of its duration a
 * "task.deadline_warning" event is appended (once each), from the
 * checkpoint mark on every running job calls the pipeline's checkpoint()
 * at its next step boundary (once), and at the deadline the task becomes
 * expired: its running jobs stop at their next step boundary (after their
 * checkpoint) and keep their state, so an extend continues them. After
 * each step the pipeline's measure() gives the job's storage; over the
 * task's storage_per_job the job fails with a finding that says so. The main thread watches the
 * state of every task it drives every NSH_SCHED_TICK_MS and freezes, thaws or kills the sandboxes
 * registered by the task's jobs, so control requests made anywhere
 * (task/task.h, nsh_control_request()) take effect within one tick.
 *
 * Thread rules: nsh_sched_run() blocks the calling thread; nsh_sched_stop()
 * may be called from any thread or a signal handler. Step functions run on
 * job threads with their own store handle (nsh_job_run_store()).
 */
#ifndef NSH_SCHED_SCHED_H
#define NSH_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/limits.h"
#include "task/task.h"

struct nsh_err;
struct nsh_store;
struct nsh_sandbox;
struct nsh_task_rec;
struct nsh_job_rec;

#define NSH_SCHED_TICK_MS      100  /* how often the main thread looks at its tasks */
#define NSH_SCHED_HEARTBEAT_MS 500  /* how often a worker says it is alive */
#define NSH_SCHED_LEASE_MS     3000 /* silence after which a worker's tasks are free */

struct nsh_sched;
struct nsh_task_run;
struct nsh_job_run;

/*
 * One step of a job. @run does the work and may add what it found or made
 * to @result (a JSON object, recorded with the step). It returns 0 when the
 * step completed; any error ends the job as failed with the error's
 * message, unless the job was cancelled or the scheduler is stopping.
 */
struct nsh_step {
	const char *name;	  /* recorded name: "clone", "install", ... */
	enum nsh_job_state state; /* the job's state while it runs; NSH_JOB_STATE_COUNT:
				     the state it is in (a first step shared by
				     first runs and revisions) */
	int (*run)(struct nsh_job_run *jr, json_t *result, struct nsh_err *err);
};

/* Where the time of one step went on this worker (the pipeline's step_timed()). */
struct nsh_step_time {
	int64_t boundary_ms; /* before it: the task's state read, a checkpoint, the job's state */
	int64_t run_ms;	     /* its run() */
	int64_t measure_ms;  /* measure() after it */
	int64_t record_ms;   /* the transaction that recorded it (result, event, progress) */
};

/* The work of a task, supplied by the caller (the real pipeline, or a test's). */
struct nsh_pipeline {
	/*
	 * Task-level work before any job, run with the task in state
	 * analyzing: analysis, the spec, the jobs (nsh_job_create()). On
	 * success the task goes to running and its jobs are queued. Return
	 * NSH_SCHED_WAIT_INPUT to put the task in waiting_input (after an
	 * event that asks the question); an answer (nsh_control_request())
	 * runs plan again. Any other error fails the task with its message.
	 */
	int (*plan)(struct nsh_task_run *tr, struct nsh_err *err);
	const struct nsh_step *steps; /* in order */
	size_t nsteps;
	/*
	 * Called once every job has stopped working, before the task
	 * completes (the change set is known: link the pull requests to each
	 * other, say what happened). An error fails the task. May be NULL.
	 */
	int (*finish)(struct nsh_task_run *tr, struct nsh_err *err);
	/*
	 * Called once when a job stops on this worker, however it stopped
	 * (done, failed, cancelled, or interrupted by a stop), on the job's
	 * thread: release what the steps built (sandbox, workspace). May be
	 * NULL.
	 */
	void (*job_end)(struct nsh_job_run *jr);
	/*
	 * Called once a task this worker drove has completed or failed (its
	 * state is committed), with the task thread's store. May be NULL.
	 */
	void (*task_end)(void *ctx, struct nsh_store *st, const char *task_id);
	/*
	 * Save the job's work so far where a person sees it (the real
	 * pipeline: commit, push, a draft pull request marked in progress),
	 * without changing what the next step starts from. Called on the
	 * job's thread at a step boundary once the task passed its checkpoint
	 * mark, once per mark. May be NULL.
	 */
	int (*checkpoint)(struct nsh_job_run *jr, struct nsh_err *err);
	/*
	 * The bytes the job's workspace holds, after each step (cheaply: a
	 * capped walk). May be NULL: storage is then not measured.
	 * NSH_ETOOBIG with a finding as the message: the pipeline enforces
	 * the quota and a command of the step reached it; the job fails with
	 * that finding. Any other error is logged and ignored.
	 */
	int (*measure)(struct nsh_job_run *jr, uint64_t *ret_bytes, struct nsh_err *err);
	/*
	 * Called on the job's thread after each step that ran (recorded, or
	 * ended the job) with where its time went. May be NULL.
	 */
	void (*step_timed)(struct nsh_job_run *jr, const char *step, const struct nsh_step_time *t);
	void *ctx; /* for the callbacks: nsh_task_run_ctx(), nsh_job_run_ctx() */
};

/* A positive return of plan(): the task waits for the user's answer. */
#define NSH_SCHED_WAIT_INPUT 1

struct nsh_sched_config {
	const char *db_path;   /* the store */
	int max_sandboxes;     /* job threads (sandboxes at once); <= 0: 10 */
	const char *only_task; /* embedded: drive this task only, return when it ends */
	const struct nsh_pipeline *pipeline; /* the work */
	const char *label;		 /* worker label in the store ("serve", "run"); NULL ok */
	const struct nsh_limits *limits; /* copied; NULL: the "pro" plan */
};

/**
 * Prepare a scheduler (nothing runs yet). The configuration and the
 * pipeline are borrowed and must outlive it. Errors: NSH_EINVAL for a
 * missing pipeline or store path.
 */
int nsh_sched_new(const struct nsh_sched_config *cfg, struct nsh_sched **ret, struct nsh_err *err);

/**
 * Run until nsh_sched_stop(), or in embedded mode until the task has ended
 * (or another live worker drives it). Returns 0, or a store error that
 * stopped the main thread. Job threads finish their current step first;
 * with a stop, sandboxes are killed so that this happens fast, and the jobs
 * stay as they are for the next run.
 */
int nsh_sched_run(struct nsh_sched *s, struct nsh_err *err);

/** Ask nsh_sched_run() to return. Async-signal-safe. */
void nsh_sched_stop(struct nsh_sched *s);

/** The worker id ("w-xxxxxx") registered by nsh_sched_run(), or "" before. */
const char *nsh_sched_worker(const struct nsh_sched *s);

/** Free a scheduler that is not running. NULL ok. */
void nsh_sched_free(struct nsh_sched *s);

/* ---- for plan(): the task being planned ---- */

/** The planning thread's store handle. */
struct nsh_store *nsh_task_run_store(struct nsh_task_run *tr);
/** The task row as it was when planning started (borrowed). */
const struct nsh_task_rec *nsh_task_run_task(struct nsh_task_run *tr);
void *nsh_task_run_ctx(struct nsh_task_run *tr);
/** The limits the task runs under (its recorded ones, else the scheduler's), into @ret. */
void nsh_task_run_limits(struct nsh_task_run *tr, struct nsh_limits *ret);

/* ---- for steps: the job being run ---- */

struct nsh_store *nsh_job_run_store(struct nsh_job_run *jr);
/** The job and its task as they were when the job started here (borrowed). */
const struct nsh_job_rec *nsh_job_run_job(struct nsh_job_run *jr);
const struct nsh_task_rec *nsh_job_run_task(struct nsh_job_run *jr);
/** The attempt in progress, 0 first. */
int64_t nsh_job_run_attempt(struct nsh_job_run *jr);
void *nsh_job_run_ctx(struct nsh_job_run *jr);
/** Per-job storage for the pipeline (a pointer it owns and frees in job_end). */
void **nsh_job_run_data(struct nsh_job_run *jr);

/**
 * The recorded result of step @name of attempt @attempt (a new reference;
 * NULL when that step has not completed).
 */
json_t *nsh_job_run_result(struct nsh_job_run *jr, int64_t attempt, const char *name);

/**
 * After the current step completes, continue with step @name instead of
 * the next one; with @new_attempt the attempt number goes up first and the
 * job passes through "retrying" (every later step runs again).
 */
void nsh_job_run_goto(struct nsh_job_run *jr, const char *name, bool new_attempt);

/**
 * After the current step completes, end the job in @final (pr_open,
 * needs_human_review, failed, ...) with @reason (may be NULL; copied).
 */
void nsh_job_run_finish(struct nsh_job_run *jr, enum nsh_job_state final, const char *reason);

/** Append an event for this job (kind "job.log", "job.progress", ...). */
int nsh_job_run_event(struct nsh_job_run *jr, const char *kind, const json_t *data,
		      struct nsh_err *err);

/**
 * Register the job's sandbox (NULL to unregister) so that pausing the task
 * freezes it and cancelling kills it. The job still owns it.
 */
void nsh_job_run_set_sandbox(struct nsh_job_run *jr, struct nsh_sandbox *sb);

/** The limits the job's task runs under (borrowed, valid during the job's run). */
const struct nsh_limits *nsh_job_run_limits(struct nsh_job_run *jr);

/** Whether the job should stop now: its task was cancelled or the scheduler stops. */
bool nsh_job_run_stopping(struct nsh_job_run *jr);

#endif
