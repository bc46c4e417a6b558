/*
 * The llm brain: research, code and verify agents that work on one
 * workspace around a shared task spec, each a tool loop over a language
 * model (agent/llm.h). docs/agents.md has the user's view.
 *
 *   research  read-only tools; writes the plan into the spec
 *   code      edits and runs; may consult research
 *   verify    runs the verification pipeline, judges the acceptance
 *             criteria no check covers, returns findings with file:line
 *
 * The agent knows nothing of jobs, stores or sandboxes by itself: it talks
 * to its surroundings through a struct nsh_agent_host (run a command, ask
 * the user, read steering, report events, read and write the spec, run the
 * verification pipeline and recipes). nsh_agent_job_host_init() builds one
 * for a scheduler job (store, control requests, sandbox); tests build
 * their own.
 *
 * Loop hygiene: stuck detection (the same action and observation, the
 * same error, A-B-A-B alternation, long runs without progress: a warning,
 * then a stop), old tool outputs masked and a summary past a token
 * threshold, steering injected at the next tool boundary, synthetic
 * results for interrupted calls, per-task token and cost budgets that ask
 * the user (waiting_input) instead of failing.
 *
 * Thread rules: one run belongs to its calling thread; the host's
 * callbacks are called on that thread; so is the run's budget.
 */
#ifndef NSH_AGENT_AGENT_H
#define NSH_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/llm.h"
#include "core/buf.h"

struct nsh_err;
struct nsh_job_run;
struct nsh_redactor;
struct nsh_sandbox;
struct nsh_store;
struct nsh_strvec;

enum nsh_agent_role {
	NSH_AGENT_RESEARCH,
	NSH_AGENT_CODE,
	NSH_AGENT_VERIFY,
};

/** "research", "code" or "verify". */
const char *nsh_agent_role_name(enum nsh_agent_role r);
/** Parse a role name; NSH_EINVAL naming it when unknown. */
int nsh_agent_role_parse(const char *name, enum nsh_agent_role *ret, struct nsh_err *err);

/** The role's prompt, embedded at build time from src/agent/prompts/ROLE.md (static). */
const char *nsh_agent_prompt(enum nsh_agent_role r);

/* ---- the host: what the agent asks of its surroundings ---- */

/* What a command run by the host gave back. */
struct nsh_agent_exec {
	int exit_code;	    /* exit status, -1 when killed */
	bool timed_out;	    /* killed at the time limit */
	struct nsh_buf out; /* stdout, capped */
	struct nsh_buf err; /* stderr, capped */
	bool truncated;	    /* either stream passed the cap */
};

void nsh_agent_exec_init(struct nsh_agent_exec *x);
void nsh_agent_exec_release(struct nsh_agent_exec *x);

struct nsh_agent_host {
	void *ctx; /* passed to every callback */
	/*
	 * Run @argv with @cwd (relative to the workspace root, NULL for the
	 * root) for at most @timeout_ms, capturing up to @out_max bytes per
	 * stream into @ret. An error only when it could not be started.
	 * Required.
	 */
	int (*exec)(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		    size_t out_max, struct nsh_agent_exec *ret, struct nsh_err *err);
	/* Ask the user and wait for the answer (caller frees). NULL: not possible. */
	int (*ask)(void *ctx, const char *question, char **ret_answer, struct nsh_err *err);
	/* Append steering messages that arrived since the last call. NULL: none. */
	int (*steer)(void *ctx, struct nsh_strvec *ret, struct nsh_err *err);
	/* Whether the run must stop now (cancel, shutdown). Called often; must not block. */
	bool (*stopping)(void *ctx);
	/*
	 * At each turn boundary: wait while the task is paused; true when the
	 * run must stop. NULL: only stopping() is asked.
	 */
	bool (*checkpoint)(void *ctx);
	/* Report progress ("agent.turn", "agent.tool", ...). NULL: not reported. */
	void (*event)(void *ctx, const char *kind, const json_t *data);
	/* Read the task spec (caller frees; NSH_ENOTFOUND when none) and store a new version. */
	int (*spec_get)(void *ctx, char **ret_body, struct nsh_err *err);
	int (*spec_put)(void *ctx, const char *body, struct nsh_err *err);
	/*
	 * The deterministic verification pipeline: a new JSON object
	 * {"passed": bool, "summary": "...", "failures": [{"name", "file",
	 * "line", "message"}]}. NULL: the verify agent runs the checks itself.
	 */
	int (*verify)(void *ctx, json_t **ret_report, struct nsh_err *err);
	/* Apply recipe @name (dry run: only say what would change). NULL: no recipes. */
	int (*recipe)(void *ctx, const char *name, bool dry_run, char **ret_text,
		      struct nsh_err *err);
};

/**
 * Run @argv in @sb (cwd /workspace/@cwd, with the "K=V" strings of @env
 * added to its environment; @env may be NULL) as an nsh_agent_host exec
 * callback would: captured streams, a time limit, the exit code.
 */
int nsh_agent_exec_sandbox(struct nsh_sandbox *sb, const char *const *argv, const char *const *env,
			   const char *cwd, int64_t timeout_ms, size_t out_max,
			   struct nsh_agent_exec *ret, struct nsh_err *err);

/**
 * The same as a host process in @workspace/@cwd, without any isolation:
 * for tests and hosts that have no sandbox.
 */
int nsh_agent_exec_local(const char *workspace, const char *const *argv, const char *cwd,
			 int64_t timeout_ms, size_t out_max, struct nsh_agent_exec *ret,
			 struct nsh_err *err);

/* ---- budgets ---- */

struct nsh_agent_budget;

/**
 * A budget of @max_tokens (0: no cap) and @max_cost US dollars (0: no cap)
 * for one task, of which nothing is spent yet. Free with
 * nsh_agent_budget_free(). A budget belongs to one thread (one job); the
 * jobs of a task share their spending through the store (see
 * nsh_agent_budget_attach()).
 */
struct nsh_agent_budget *nsh_agent_budget_new(int64_t max_tokens, double max_cost);
void nsh_agent_budget_free(struct nsh_agent_budget *b);

/**
 * Say that the caps of @b are plan @plan's figures (copied; NULL or "": no
 * plan): @tokens for the token cap, @cost for the cost cap. The reasons of
 * nsh_agent_budget_exceeded() then name the plan: "token budget of 1000
 * (plan 'pro') reached (1100 used)", and after a raise "token budget of
 * 2100 (raised; plan 'pro' has 1000) reached (2200 used)".
 */
void nsh_agent_budget_set_plan(struct nsh_agent_budget *b, const char *plan, bool tokens,
			       bool cost);
/** The plan named by nsh_agent_budget_set_plan(), or NULL. Borrowed from @b. */
const char *nsh_agent_budget_plan(const struct nsh_agent_budget *b);

/**
 * Count what task @task_id spent so far, as recorded in its "agent.turn"
 * events (and the caps raised in "agent.budget" events), and from then on
 * let nsh_agent_budget_sync() add what the task's other jobs (not
 * @job_id) spend. @st is borrowed and must outlive @b; strings are copied.
 * So a task's budget holds across its jobs and across restarts.
 */
int nsh_agent_budget_attach(struct nsh_agent_budget *b, struct nsh_store *st, const char *task_id,
			    const char *job_id, struct nsh_err *err);
/** Read the spending of the other jobs since the last sync (no-op when not attached). */
int nsh_agent_budget_sync(struct nsh_agent_budget *b, struct nsh_err *err);

/** Add @u (costing @cost) to the spent amount. */
void nsh_agent_budget_charge(struct nsh_agent_budget *b, const struct nsh_llm_usage *u,
			     double cost);
/**
 * Whether a cap is reached; when it is, @why (may be NULL, @cap bytes)
 * says which: "token budget of 200000 reached (201344 used)".
 */
bool nsh_agent_budget_exceeded(const struct nsh_agent_budget *b, char *why, size_t cap);
/**
 * Apply the user's answer to a reached budget: "stop" (or "no", "cancel")
 * returns false; a token count ("500000", "2M", "300k") or a cost ("$5")
 * allows that much more than what is spent (or capped, if higher);
 * anything else allows as much again as each set cap's original size.
 * True when work may go on.
 */
bool nsh_agent_budget_answer(struct nsh_agent_budget *b, const char *answer);
/** The spent tokens and cost, and the caps. Any pointer may be NULL. */
void nsh_agent_budget_get(const struct nsh_agent_budget *b, struct nsh_llm_usage *ret_used,
			  double *ret_cost, int64_t *ret_max_tokens, double *ret_max_cost);

/* ---- one run of a role ---- */

/* Sends one turn; tests replace the real client with their own. */
typedef int nsh_agent_send_fn(void *ctx, const struct nsh_llm_request *rq,
			      struct nsh_llm_reply *ret, struct nsh_err *err);

struct nsh_agent_run {
	enum nsh_agent_role role;
	const char *task;		     /* the task text (required) */
	const char *workspace;		     /* host path of the workspace (required) */
	const struct nsh_agent_host *host;   /* required */
	struct nsh_llm *llm;		     /* the client; may be NULL when @send is set */
	nsh_agent_send_fn *send;	     /* NULL: nsh_llm_send() on @llm */
	void *send_ctx;			     /* for @send */
	const struct nsh_llm_price *price;   /* NULL: the client's settings' */
	struct nsh_agent_budget *budget;     /* per task; may be NULL (no caps) */
	const struct nsh_redactor *redactor; /* applied to tool outputs; may be NULL */
	const char *org_steering;	     /* the organisation's steering text, or NULL */
	const char *findings;		     /* code: what verification found, or NULL */
	const char *session;		     /* file to save the conversation in and resume from */
	int max_steps;			     /* model turns; 0: the role's default */
	int keep_outputs;		     /* newest tool outputs never masked; 0: 6 */
	int64_t context_tokens;		     /* 0: the client's settings' (or 128000) */
	int depth;			     /* consultation depth (internal) */
};

enum nsh_agent_outcome {
	NSH_AGENT_DONE,	   /* finish was called with status done */
	NSH_AGENT_BLOCKED, /* finish with status blocked: needs a person */
	NSH_AGENT_STUCK,   /* stopped by stuck detection */
	NSH_AGENT_BUDGET,  /* the budget was reached and the user said stop */
	NSH_AGENT_STEPS,   /* the step limit was reached */
	NSH_AGENT_STOPPED, /* the host asked to stop (cancel, shutdown) */
};

/** "done", "blocked", "stuck", "budget", "steps" or "stopped". */
const char *nsh_agent_outcome_name(enum nsh_agent_outcome o);

struct nsh_agent_result {
	enum nsh_agent_role role; /* the role that ran */
	enum nsh_agent_outcome outcome;
	char *summary;		    /* what finish said, or why the run stopped */
	bool passed;		    /* verify: the verdict */
	bool general;		    /* code: finish marked the review feedback general */
	json_t *findings;	    /* verify: [{"file","line","message"}] (owned), or NULL */
	struct nsh_llm_usage usage; /* tokens of this run (consultations included) */
	double cost;		    /* their cost in US dollars */
	int turns;		    /* model turns */
	int tool_calls;		    /* tool calls made */
	int64_t total_ns;	    /* wall time of the run */
	int64_t model_ns;	    /* of which waiting for the model */
	int64_t tool_ns;	    /* of which running tools */
};

void nsh_agent_result_release(struct nsh_agent_result *r);

/** @r as a JSON object for step results, events and PR bodies. New reference. */
json_t *nsh_agent_result_to_json(const struct nsh_agent_result *r);

/**
 * Run @run's role until it finishes, gets stuck, runs out of steps or
 * budget, or the host stops it, and describe the end in @ret (caller
 * storage; release with nsh_agent_result_release()). Returns 0 for every
 * one of those ends; an error only when the run could not go on: the
 * provider failed after its retries (the message names it), the session
 * file is unreadable, the workspace is missing.
 */
int nsh_agent_run_role(const struct nsh_agent_run *run, struct nsh_agent_result *ret,
		       struct nsh_err *err);

/* ---- a host for a scheduler job (host.c) ---- */

struct nsh_agent_job_host {
	struct nsh_job_run *jr; /* the job (borrowed) */
	struct nsh_sandbox *sb; /* its sandbox (borrowed); NULL: commands run on the host */
	const char *workspace;	/* host path of the workspace (borrowed) */
	const char *const
		*env;	     /* "K=V" added to commands' environment (NULL-terminated), or NULL */
	int64_t steer_after; /* newest task.steer event already handed out (0: none) */
	int64_t state_ms;    /* when the task's state was last read */
	bool state_stop;     /* what that read said */
	/* optional, set by the pipeline before the run */
	int (*exec)(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		    size_t out_max, struct nsh_agent_exec *ret,
		    struct nsh_err *err); /* instead of @sb / host processes */
	int (*verify)(void *ctx, json_t **ret_report, struct nsh_err *err);
	int (*recipe)(void *ctx, const char *name, bool dry_run, char **ret_text,
		      struct nsh_err *err);
	void *ctx; /* for exec, verify and recipe */
};

/**
 * Fill @h with callbacks over @jh: commands in the job's sandbox (or, with
 * no sandbox, as host processes in the workspace: for tests and
 * `nightshift agent run --no-sandbox`), questions as "agent.question"
 * events that put the task in waiting_input until `nightshift answer`,
 * steering from "task.steer" events, progress as job events, the spec in
 * the store's specs table. @jh must outlive the run. Use a fresh one (or
 * reset steer_after to 0) for each role run: a run is handed every steering
 * message of the task before its first turn.
 */
void nsh_agent_job_host_init(struct nsh_agent_host *h, struct nsh_agent_job_host *jh);

/* ---- one role of a scheduler job, all wired up (job.c) ---- */

/* What the pipeline supplies for the roles of one job. */
struct nsh_agent_job {
	const struct nsh_llm_settings *settings; /* the provider (borrowed) */
	struct nsh_job_run *jr;			 /* the job (borrowed) */
	struct nsh_sandbox *sb;			 /* its sandbox, NULL: host processes */
	const char *workspace;			 /* host path of its workspace */
	const char *const *env;		     /* "K=V" for its commands, NULL-terminated, or NULL */
	const char *session_dir;	     /* where conversations are kept, or NULL */
	const char *org_steering;	     /* the organisation's steering, or NULL */
	const struct nsh_redactor *redactor; /* the job's secrets, or NULL */
	const char *findings;		     /* code: verification findings, or NULL */
	int max_steps;			     /* 0: the role's default */
	/* commands instead of @sb (or host processes), or NULL */
	int (*exec)(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		    size_t out_max, struct nsh_agent_exec *ret, struct nsh_err *err);
	int (*verify)(void *ctx, json_t **ret_report, struct nsh_err *err); /* or NULL */
	int (*recipe)(void *ctx, const char *name, bool dry_run, char **ret_text,
		      struct nsh_err *err); /* or NULL */
	void *ctx;			    /* for exec, verify and recipe */
};

/**
 * Run @role for the job @j->jr: a client for the settings (recording as
 * "TASK-JOB-ROLE" when NIGHTSHIFT_LLM_RECORD is set), the task's budget
 * attached to the store (each cap the smaller of the task's plan's
 * token_budget / cost_budget and the settings' budget_tokens / budget_cost,
 * where set; a plan's cap is named in the messages), a job host (fresh, so that every steering
 * message reaches the role), and the conversation kept in
 * "@session_dir/JOB-ROLE-ATTEMPT.json" so that an interrupted role resumes.
 * The result is as nsh_agent_run_role()'s; errors are its errors and the
 * client's. Runs on the job's thread.
 */
int nsh_agent_job_run_role(const struct nsh_agent_job *j, enum nsh_agent_role role,
			   struct nsh_agent_result *ret, struct nsh_err *err);

/**
 * Append the agents' part of a pull request body to @out: the code agent's
 * summary, the verdict and findings, and a table of tokens and cost per
 * role with the job's and the task's totals. @results maps role names to
 * nsh_agent_result_to_json() objects (missing roles are left out); @task
 * is {"tokens", "cost"} of the whole task, or NULL.
 */
void nsh_agent_pr_section(const json_t *results, const json_t *task, struct nsh_buf *out);

/**
 * The steering text of organisation @org: "@home/orgs/@org/steering.md" (at
 * most 64 KiB), or NULL when there is none. Caller frees.
 */
char *nsh_agent_load_org_steering(const char *home, const char *org);

/**
 * The steering text for a workspace: its .nightshift/steering.md (at most
 * 64 KiB), or NULL when there is none. Caller frees.
 */
char *nsh_agent_load_steering(const char *workspace);

#endif
