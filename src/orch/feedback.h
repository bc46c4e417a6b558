/*
 * Review feedback on nightshift's pull requests (issue 11): intake.
 *
 * A comment or review on a pull request that a job opened becomes a row of
 * the feedback table and moves the job to revising; a completed task runs
 * again. The revision itself is the job's pipeline run once more, starting
 * with its "rules" step, which interprets the feedback (orch/feedback.c),
 * carries it to the sibling pull requests of the task and remembers it.
 *
 * Intake is cheap and safe to call from any front end (CLI, API, webhook):
 * it never interprets the text and never runs anything; feedback on a job
 * that is busy waits for the job's current run to end.
 *
 * Thread rules: the caller's store handle; intake opens its own
 * transaction (nested in the caller's when one is open).
 */
#ifndef NSH_ORCH_FEEDBACK_H
#define NSH_ORCH_FEEDBACK_H

#include <stdbool.h>
#include <stdint.h>

struct nsh_err;
struct nsh_store;

#define NSH_FEEDBACK_BOT "nightshift" /* the author of nightshift's own replies */

struct nsh_feedback_in {
	const char *org;    /* the pull request's organisation */
	const char *repo;   /* ... repository */
	int64_t number;	    /* ... number */
	int64_t comment_id; /* the forge's id of the comment or review, 0 when none */
	const char *kind;   /* "comment", "reply", "request_changes" or "approve" */
	const char *author; /* who wrote it */
	const char *body;   /* what was said */
	const char *path;   /* file of an inline comment, or NULL */
	int64_t line;	    /* its line, 0 when not inline */
	bool can_write;	    /* the author has write permission on the repository */
};

struct nsh_feedback_out {
	bool taken;	  /* recorded as feedback for a job */
	int64_t id;	  /* its row, when taken */
	char task_id[64]; /* the job's task, when the pull request has a job */
	char job_id[64];  /* the job */
	bool revising;	  /* the job moved to revising now (else it was busy) */
	char reason[200]; /* why it was not taken */
};

/**
 * Take a comment or review on pull request in->org/in->repo#in->number as
 * feedback for the job that opened it. Not taken (0 returned, ret->taken
 * false, ret->reason says why): a pull request no job opened, a comment by
 * nightshift itself or by the job, an approval, an empty text, a job that
 * has ended (merged, closed, failed, cancelled). Otherwise, in one
 * transaction: the feedback row, a feedback.received event and, when the
 * job waits for review (pr_open, needs_human_review), the job to revising
 * (its next run starts at the first step with a new attempt) and its task
 * from completed back to running.
 *
 * Errors: NSH_ENOTFOUND for an unknown pull request; store errors.
 */
int nsh_feedback_intake(struct nsh_store *st, const struct nsh_feedback_in *in,
			struct nsh_feedback_out *ret, struct nsh_err *err);

/**
 * Pull request @org/@repo#@number was merged (@merged) or closed: its job,
 * when it waits for review, ends as merged or closed. Nothing happens for a
 * pull request no job opened or a job that is busy or has ended.
 */
int nsh_feedback_pr_ended(struct nsh_store *st, const char *org, const char *repo, int64_t number,
			  bool merged, struct nsh_err *err);

struct nsh_config;

/**
 * Whether @user may write to repository @org/@repo of the local forge,
 * which has no accounts of its own: the configuration's [forge] writers
 * (names separated by commas or spaces; "*" for everyone) lists who may;
 * unset, everyone may. Feedback from anyone else is answered but never
 * learned (the memory module's rule).
 */
bool nsh_feedback_local_can_write(const struct nsh_config *cfg, const char *org, const char *repo,
				  const char *user);

#endif
