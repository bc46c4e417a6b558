/*
 * Plans and task limits (docs/limits.md).
 *
 * A plan is a named preset of limits; the configuration picks one and may
 * override any setting:
 *
 *	[limits]
 *	plan = pro                  # pro, pro-plus or power
 *	concurrent_tasks = 10       # tasks a worker drives at once; more wait in FIFO order
 *	concurrent_sandboxes = 10   # jobs (sandboxes) at once; more wait in FIFO order
 *	task_duration = 72h         # from when a worker starts the task to its deadline
 *	storage_per_job = 10G       # a job's workspace
 *	token_budget = 5000000      # LLM tokens per task (0: none)
 *	cost_budget = 50            # LLM cost per task in dollars (0: none)
 *	grace = 24h                 # an expired task's workspaces are kept this long
 *	checkpoint_margin = 10m     # checkpoint this long before the deadline
 *	artifact_retention = 14d    # artifacts of ended tasks are kept this long
 *	job_estimate = 10m          # a job's duration when nothing finished yet
 *	enforce_storage = auto      # storage_per_job as a file system per job (auto, on, off;
 *	                            # read by the orchestrator, orch/checkpoint.c)
 *
 * A task records the plan and the limits it runs under (as JSON) when a
 * worker starts it, so a later change of the configuration does not move
 * the goal posts of a running task.
 *
 * Thread rules: plain values; the functions keep no state.
 */
#ifndef NSH_CONFIG_LIMITS_H
#define NSH_CONFIG_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_err;
struct nsh_config;

#define NSH_LIMITS_PLAN_MAX 32 /* bytes of a plan name, with the NUL */

struct nsh_limits {
	char plan[NSH_LIMITS_PLAN_MAX]; /* "pro", "pro-plus", "power" */
	int64_t concurrent_tasks;	/* tasks driven at once by one worker */
	int64_t concurrent_sandboxes;	/* jobs at once (sandboxes) by one worker */
	int64_t task_duration_ms;	/* start to deadline */
	uint64_t storage_per_job;	/* bytes of a job's workspace */
	int64_t token_budget;		/* LLM tokens per task; 0: none */
	double cost_budget;		/* LLM dollars per task; 0: none */
	int64_t grace_ms;		/* expired task's workspaces kept */
	int64_t checkpoint_margin_ms;	/* checkpoint this long before the deadline */
	int64_t artifact_retention_ms;	/* artifacts of ended tasks kept */
	int64_t job_estimate_ms;	/* a job's duration for estimates, before any finished */
};

/**
 * Fill @ret with the preset of plan @name ("pro", "pro-plus", "power").
 * NSH_EINVAL naming the plan and the known ones otherwise.
 */
int nsh_limits_plan(const char *name, struct nsh_limits *ret, struct nsh_err *err);

/**
 * The limits the configuration @cfg (may be NULL: the "pro" plan) asks
 * for: [limits] plan, then each override. A bad value is NSH_EINVAL
 * naming the setting (from nsh_config_get_*()); a count below 1, a
 * duration of 0 or a storage below 1 MiB too. @ret is written only on
 * success.
 */
int nsh_limits_load(const struct nsh_config *cfg, struct nsh_limits *ret, struct nsh_err *err);

/** @lim as a JSON object (a new reference), the form tasks record. */
json_t *nsh_limits_to_json(const struct nsh_limits *lim);

/**
 * Read limits recorded by nsh_limits_to_json() from @v (may be NULL or
 * not an object). Members missing or of the wrong type take the values of
 * @def; @ret may be @def.
 */
void nsh_limits_from_json(const json_t *v, const struct nsh_limits *def, struct nsh_limits *ret);

/**
 * The wall-clock ms at which a task that started at @start_ms with
 * deadline @deadline_ms is checkpointed: checkpoint_margin before the
 * deadline, but not before the 95% mark of the duration.
 */
int64_t nsh_limits_checkpoint_at(const struct nsh_limits *lim, int64_t start_ms,
				 int64_t deadline_ms);

/** A short human form of a duration in ms: "3d 4h", "2h 5m", "45s". */
void nsh_limits_fmt_duration(int64_t ms, char *out, size_t cap);

/** A short human form of a byte count: "10 GB", "20 MB", "512 KB" (powers of 1024). */
void nsh_limits_fmt_bytes(uint64_t bytes, char *out, size_t cap);

#endif
