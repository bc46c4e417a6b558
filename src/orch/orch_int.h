/*
 * Internals shared by the files of the orchestrator; no other module
 * includes this header.
 */
#ifndef NSH_ORCH_ORCH_INT_H
#define NSH_ORCH_ORCH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/llm.h"
#include "core/buf.h"
#include "net/net.h"
#include "recipe/recipe.h"
#include "sched/sched.h"
#include "verify/verify.h"

struct nsh_disk;
struct nsh_sandbox;
struct nsh_sandbox_cmd;
struct nsh_secrets_env;
struct nsh_redactor;
struct nsh_forge;
struct nsh_forge_repo_list;
struct nsh_store;
struct nsh_task_rec;
struct nsh_task_run;

#define ORCH_MAX_ATTEMPTS  3		     /* default attempts per job */
#define ORCH_INSTALL_MS	   (15 * 60 * 1000)  /* an install */
#define ORCH_TEST_MS	   (20 * 60 * 1000)  /* a test run */
#define ORCH_OUT_MAX	   ((size_t)4 << 20) /* captured output per stream */
#define ORCH_EXCERPT	   2000		     /* bytes of output kept in a step result */
#define ORCH_LOG_MAX	   (64LL << 20)	     /* an artifact log takes no record past this */
#define ORCH_SIBLINGS_MARK "<!-- nightshift:change-set -->"

struct nsh_orch {
	char *home;				       /* $NIGHTSHIFT_HOME */
	const struct nsh_config *cfg;		       /* may be NULL */
	struct nsh_recipe_catalog recipes;	       /* shipped and home recipes, read-only */
	pthread_mutex_t mu;			       /* guards the proxy and the policies */
	struct nsh_proxy *proxy;		       /* made on first use */
	struct nsh_net_journal *journal;	       /* proxy decisions as events, with it */
	struct nsh_net_policy net[NSH_NET_CUSTOM + 1]; /* per level, built on first use */
	bool net_ready[NSH_NET_CUSTOM + 1];
	int max_attempts;	      /* attempts per job */
	uint64_t memory;	      /* sandbox memory limit, bytes (0: none) */
	uint64_t pids;		      /* sandbox pids limit (0: none) */
	int ws_quota;		      /* workspace images: 0 off, 1 where possible, 2 required */
	struct nsh_pipeline pipeline; /* what the scheduler runs */
	struct nsh_llm_settings llm;  /* the llm brain's provider (llm.c) */
	bool llm_ok;		      /* @llm loaded */
	char *llm_error;	      /* why not, for the plan's error */
	pthread_t prep;	     /* formats the workspace images' template (orch_ws_prepare()) */
	bool prep_started;   /* @prep runs or ran: joined by nsh_orch_free() */
	uint64_t prep_bytes; /* ... for images of this size */
};

/* What a job keeps between its steps on this worker (nsh_job_run_data()). */
struct orch_job {
	char *dir;			 /* $HOME/work/<job> */
	char *ws;			 /* its repository: dir/repo, the sandbox's /workspace */
	char *artifacts;		 /* $HOME/artifacts/<task>/<job> */
	struct nsh_sandbox *sb;		 /* made on first use */
	const struct nsh_recipe *recipe; /* the task's recipe (owned by the catalog) */
	int64_t cmd_ms;			 /* time spent in sandboxed commands, this run */
	struct nsh_secrets_env *env;	 /* the secrets in the job's scopes, loaded on first use */
	struct nsh_redactor *red;	 /* removes their values from output */
	pthread_mutex_t net_mu;		 /* guards @blocked (the proxy thread adds) */
	struct nsh_strvec blocked;	 /* "host:port (reason)" the proxy refused, once each */
	struct nsh_net_journal_job *nj;	 /* its decisions as events (network levels but none) */
	int64_t start_ms;		 /* when this run of the job began (monotonic) */
	struct nsh_recipe llm_recipe;	 /* llm brain: a stand-in, titled with the task */
	struct nsh_disk *disk;		 /* the workspace's file system (quota), or NULL */
	char *quota_hit;		 /* the finding once a command filled it, or NULL */
	bool ws_kept;			 /* the step that just ran wrote nothing in the workspace */
	bool ws_measured;		 /* @ws_bytes holds a measure of this run */
	int64_t changed;   /* 1 + the attempt whose change step ran in this run, or 0 */
	int64_t staged;	   /* 1 + the attempt whose verify step staged every change (git add
			      --all) in this run, or 0: its commit takes the index as it is */
	uint64_t ws_bytes; /* the workspace's bytes at the last measure */
	/* where this run's time went, for timing.json (orch_step_timed()) */
	json_t *timing;	    /* one object per step that ran, in order */
	uint64_t git_runs;  /* git processes of the thread when the last step ended */
	int64_t git_ms;	    /* and their time (nsh_git() runs) */
	int64_t cmd_mark;   /* @cmd_ms when the last step ended */
	int64_t execs;	    /* commands run in the sandbox, this run */
	int64_t execs_mark; /* @execs when the last step ended */
	int64_t sb_made_ms; /* making the sandbox (in the step that first ran a command) */
	int64_t sb_made_at; /* @sb_made_ms when the last step ended */
	json_t *parts;	    /* the running step's named parts, ms (orch_time_part()) */
};

#define ORCH_BLOCKED_MAX 50 /* refused hosts remembered per job */

/* ---- orch.c: shared helpers ---- */

/** The job's working state, made on first use. */
struct orch_job *orch_job_of(struct nsh_job_run *jr);

/**
 * Run @argv (NULL-terminated) in the job's sandbox (made on first use, at
 * the task's network level) in /workspace, with the output captured into
 * @c (caller storage, released by the caller) and appended to the
 * artifact log @log. 0 when it ran, whatever its exit code.
 */
int orch_exec(struct nsh_job_run *jr, const char *const *argv, int64_t timeout_ms, const char *log,
	      struct nsh_sandbox_cmd *c, struct nsh_err *err);

/**
 * The job's secrets (global, org, repo and task scopes) as environment and
 * redactor, loaded on first use. Errors name the secret that cannot be read.
 */
int orch_secrets(struct nsh_job_run *jr, struct orch_job *oj, struct nsh_err *err);

/**
 * The pipeline's step_timed(): add step @step's figures (its phases, the
 * time in sandboxed commands and making the sandbox, the commands and git
 * processes it ran) to the job's timing record.
 */
void orch_step_timed(struct nsh_job_run *jr, const char *step, const struct nsh_step_time *t);

/**
 * Add @ms (since the monotonic time @t0_ms) to the part @name of the step
 * that runs, shown in its timing record.
 */
void orch_time_part(struct orch_job *oj, const char *name, int64_t t0_ms);

/** Drop the timing of a job that ended before its working state was made (job thread). */
void orch_timing_drop(void);

/** The last @max bytes of @c's stderr and stdout, for a message. Caller frees. */
char *orch_excerpt(const struct nsh_sandbox_cmd *c, size_t max);

/**
 * Open the forge of the org that @where names ("O", "O/R" or "O/R#N"; the
 * org's row says local or GitHub; NULL: the local forge) on @st. The
 * caller closes it.
 */
int orch_forge(struct nsh_orch *o, struct nsh_store *st, const char *where, struct nsh_forge **ret,
	       struct nsh_err *err);

/**
 * A task that came from a GitHub issue (options "github": {"repo", "issue"})
 * keeps one comment there up to date with its plan, jobs and pull requests;
 * failures are logged, never the task's.
 */
void orch_status(struct nsh_orch *o, struct nsh_store *st, const char *task_id);

/** Split "org/name" into its parts (caller frees both). */
int orch_split_repo(const char *full, char **ret_org, char **ret_name, struct nsh_err *err);

/** The task's options (tasks.options) parsed; a new reference, {} when unreadable. */
json_t *orch_task_options(const struct nsh_task_rec *t);

/** Append an event with a "message" for the task (and job, may be NULL). */
void orch_say(struct nsh_store *st, const char *task_id, const char *job_id, const char *kind,
	      json_t *data, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- plan.c ---- */

int orch_plan(struct nsh_task_run *tr, struct nsh_err *err);

/** The recipe a task runs (by tasks.recipe); NSH_ENOTFOUND naming it. */
int orch_recipe(struct nsh_orch *o, const char *id, const struct nsh_recipe **ret,
		struct nsh_err *err);

/** The repositories a task names (--repo) or, else, those of its org. */
int orch_targets(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
		 const json_t *opts, struct nsh_forge_repo_list *ret, struct nsh_err *err);

/* A positive return of the recipe choice: no recipe fits, the llm brain takes the task. */
#define ORCH_USE_LLM 2

/* ---- llm.c: the llm brain's steps ---- */

/** Whether the job's task runs on the llm brain. */
bool orch_is_llm(struct nsh_job_run *jr);
/** The stand-in recipe of an llm job (id "llm", the task's text as title). */
const struct nsh_recipe *orch_llm_recipe(struct nsh_job_run *jr);
/** Plan a task for the llm brain: one job per target repository, a spec to start from. */
int orch_llm_plan(struct nsh_task_run *tr, struct nsh_err *err);
/** The research, change and verify steps of an llm job (verify after the test comparison). */
int orch_llm_research(struct nsh_job_run *jr, json_t *result, struct nsh_err *err);
int orch_llm_change(struct nsh_job_run *jr, json_t *result, struct nsh_err *err);
int orch_llm_verify(struct nsh_job_run *jr, json_t *result, bool green, struct nsh_err *err);
/** Append the agents' part (summary, verdict, usage and cost) to a pull request body. */
void orch_llm_pr_section(struct nsh_job_run *jr, struct nsh_buf *body);

/* ---- feedback.c: review feedback ---- */

struct nsh_feedback_rec;

/** The first step of every run: the alternatives it takes, from the feedback it was given. */
int orch_step_rules(struct nsh_job_run *jr, json_t *result, struct nsh_err *err);
/**
 * The newest "rules" result at @attempt or before (a new reference, or NULL)
 * and the attempt that recorded it (-1 when none) in *@ret_at.
 */
json_t *orch_rules_result(struct nsh_job_run *jr, int64_t attempt, int64_t *ret_at);
/** Answer feedback @f on its pull request with @text (a reply to its comment when it can). */
int orch_feedback_answer(struct nsh_orch *o, struct nsh_store *st, const struct nsh_feedback_rec *f,
			 const char *text, struct nsh_err *err);
/**
 * After the pull request step of a run that took feedback: answer each
 * piece on its pull request (what changed, where it was carried) and mark
 * it applied, or failed when the revision is a @draft.
 */
int orch_feedback_done(struct nsh_job_run *jr, const char *sha, bool draft, struct nsh_err *err);
/** Answer the feedback a run took with @text and mark it failed (the revision cannot go on). */
int orch_feedback_blocked(struct nsh_job_run *jr, const char *text, struct nsh_err *err);
/** The pull request body's "Review feedback applied" section, when the job had any. */
void orch_feedback_section(struct nsh_job_run *jr, struct nsh_buf *out);
/**
 * For the llm brain: the review feedback this run takes, with its files and
 * lines and the pull request's diff, as text for the code agent; NULL when
 * the run takes none. The caller frees it.
 */
char *orch_feedback_brief(struct nsh_job_run *jr);
/** At the end of a job's run: feedback that came while it ran starts the next revision. */
void orch_feedback_requeue(struct nsh_job_run *jr);

/* ---- learn.c: the memory module's rules ---- */

/**
 * A job's first run: the learned preferences for its repository and
 * recipe, best first, added to @picks (one per choice, source "memory N")
 * and described in @applied; each counts as a use.
 */
int orch_learned_picks(struct nsh_job_run *jr, const struct nsh_recipe *r, json_t *picks,
		       json_t *applied, struct nsh_err *err);
/** The spec's "Learned rules" section for the task's repositories @repos ("O/R"). */
void orch_learned_spec(struct nsh_orch *o, struct nsh_store *st, const struct nsh_task_rec *t,
		       const struct nsh_recipe *r, const char *const *repos, size_t nrepos,
		       struct nsh_buf *b);
/**
 * The free-text rules (kind "text") learned from review feedback that apply
 * to the job's repository, as a Markdown list for the llm brain's agents,
 * appended to @out (nothing when there are none). With @count, each is
 * counted as used by the job's task.
 */
int orch_learned_text(struct nsh_job_run *jr, bool count, struct nsh_buf *out, struct nsh_err *err);

#define ORCH_TEXT_RULE_MAX 500 /* bytes of a review comment kept as a text rule */

/**
 * Remember review comment @f, applied by the llm brain, as a free-text rule
 * of the job's repository, saying in @say what was remembered or why not
 * (no write permission). Errors are the store's.
 */
int orch_learn_text(struct nsh_job_run *jr, const struct nsh_feedback_rec *f, struct nsh_buf *say,
		    struct nsh_err *err);

/**
 * Remember feedback @f (applied and verified) as the preference
 * @choice: @alt, saying in @say what was remembered or why not (no write
 * permission). Errors are the store's.
 */
int orch_learn(struct nsh_job_run *jr, const struct nsh_feedback_rec *f, const char *choice,
	       const char *alt, struct nsh_buf *say, struct nsh_err *err);

/* ---- job.c ---- */

/** The retry number of the job's attempt: attempts since its rules step decided its choices. */
int64_t orch_retry_of(struct nsh_job_run *jr);
/** Reset the workspace to the job's branch as the forge has it (a revision on top of it). */
int orch_take_published(struct nsh_job_run *jr, struct nsh_err *err);
/** The newest result of step @name at the job's attempt or before; a new reference or NULL. */
json_t *orch_latest(struct nsh_job_run *jr, const char *name);

extern const struct nsh_step orch_steps[];
extern const size_t orch_nsteps;
void orch_job_end(struct nsh_job_run *jr);

/* ---- checkpoint.c: limits in the pipeline ---- */

/** Save the job's work so far: a commit pushed to its branch, a draft PR marked in progress. */
int orch_checkpoint(struct nsh_job_run *jr, struct nsh_err *err);
/**
 * The job's directory afresh for its clone (what an interrupted run left
 * goes). Where the workspace quota is enforced ([limits] enforce_storage),
 * the workspace becomes the root of an ext4 image of the task's
 * storage_per_job bytes (sandbox/disk.h), so a command that writes past it
 * gets ENOSPC; under "auto", a host that cannot mount one keeps a plain
 * directory, measured after each step, and a "job.storage" event says so.
 */
int orch_ws_make(struct nsh_job_run *jr, struct nsh_err *err);

/*
 * Start formatting the template of the workspace images of @bytes (the
 * task's storage_per_job) on a background thread, once per process, so that
 * the first jobs do not wait for mkfs.ext4 (nsh_disk_prepare()). Nothing
 * when workspace images are off. Joined by nsh_orch_free().
 */
void orch_ws_prepare(struct nsh_orch *o, uint64_t bytes);

/** A resumed job's workspace image mounted again (orch_job_of()); failures are logged. */
void orch_ws_open(struct orch_job *oj);

/** Whether the job has a workspace image from an earlier run (its run may not have opened it). */
bool orch_ws_left(struct nsh_job_run *jr);

/**
 * At the end of task @task_id: the workspace images of its jobs that no
 * longer work (left by a crashed run that the resumed one had no step left
 * for) go, with their directories.
 */
void orch_ws_sweep(struct nsh_orch *o, struct nsh_store *st, const char *task_id);

/** Unmount the workspace image, keeping it for the job's next run. NULL disk ok. */
void orch_ws_close(struct orch_job *oj);

/**
 * orch_ws_close() and, with @remove, the removal of the job's directory
 * (its image with it), on the disk module's background thread
 * (nsh_disk_close_later()): off the job's path. A later orch_ws_make(),
 * orch_ws_open() or orch_ws_sweep() of the job waits for it; a crash
 * before it ends leaves what a crash at the job's end always left.
 */
void orch_ws_release(struct orch_job *oj, bool remove);

/**
 * After command @argv ran (@c its result): when the workspace's file system
 * is full, or nearly full and the command said ENOSPC, remember the
 * finding "storage quota of 20 MB reached while running 'CMD' (the
 * workspace holds 17 MB of 18 MB usable)" for orch_measure().
 */
void orch_ws_check(struct nsh_job_run *jr, const char *const *argv,
		   const struct nsh_sandbox_cmd *c);

/**
 * The bytes the job's workspace takes on disk (mounts below it not
 * counted). NSH_ETOOBIG with the finding of orch_ws_check() instead once a
 * command filled the workspace quota: the scheduler fails the job with it.
 * After a step that set ws_kept (it only reads the workspace: detect, the
 * recipe's research, push, pr) the last figure is given again without a walk.
 */
int orch_measure(struct nsh_job_run *jr, uint64_t *ret_bytes, struct nsh_err *err);

/* ---- check.c: the verify module's checks in the pipeline ---- */

/**
 * Before a test run of the job: note its workspace's coverage files (those
 * nsh_verify_cov_snap_take() knows and verify.yml's "coverage") into @ret
 * (zeroed caller storage), for nsh_verify_cov_read_new() after the run.
 * Never fails.
 */
void orch_check_cov_snap(struct nsh_job_run *jr, struct nsh_verify_cov_snap *ret);

/**
 * At the baseline: the tests as run (@rep, kept whole), the coverage that
 * run wrote (@cov, NULL or not present: none) and what the repository's
 * other checks (build, lint, types) say before the change, into @result.
 * A verify.yml that cannot be read is noted there, not an error of the
 * job.
 */
int orch_check_baseline(struct nsh_job_run *jr, const struct nsh_test_report *rep,
			const struct nsh_verify_coverage *cov, json_t *result, struct nsh_err *err);

/**
 * After the change: every check of the verify module (build, lint, types,
 * secrets, SQL injection, test integrity, the spec's acceptance criteria)
 * on the workspace against the baseline, with @after as the tests (NULL:
 * the repository has no test script, which the checklist says) and @cov
 * as the coverage their run wrote (NULL or not present: none), compared
 * with the baseline's figure. Into
 * @result: "checks" (the verdict and the checks with findings),
 * "checklist" (Markdown for the PR body) and, when something other than
 * the tests failed, "feedback" (file:line text for the code step), and
 * *@ret_failed set.
 */
int orch_check_after(struct nsh_job_run *jr, const struct nsh_recipe *r,
		     const struct nsh_test_report *after, const struct nsh_verify_coverage *cov,
		     json_t *result, bool *ret_failed, struct nsh_err *err);

/* ---- plan.c ---- */

/** The version the recipe moves its dependency to, or NULL. */
const char *orch_recipe_target(const struct nsh_recipe *r);

/* ---- body.c ---- */

/**
 * The pull request body for a job (Markdown) from its recorded steps: the
 * summary, the dependency change, breaking changes handled, files, tests
 * before and after, decisions, migration notes, needs-review items, risk,
 * and the change-set marker that finish() fills in.
 */
int orch_pr_body(struct nsh_job_run *jr, const struct nsh_recipe *r, bool exhausted,
		 struct nsh_buf *out, struct nsh_err *err);

/** Link the pull requests of a task's change set to each other. */
int orch_finish(struct nsh_task_run *tr, struct nsh_err *err);

#endif
