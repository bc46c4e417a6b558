/*
 * The live block of "nightshift follow" on a terminal: one line per job
 * (repository, a bar of the pipeline steps done out of the total, the step
 * running now, elapsed time), kept at the bottom of the screen while the
 * event lines scroll above it.
 *
 * The job states are learnt from the task's events (nsh_progress_event());
 * the text is a pure function of them (nsh_progress_render()), so it can
 * be tested without a terminal. The cursor movement that redraws the block
 * is the caller's (src/cli/follow.c).
 *
 * Thread rules: a struct nsh_progress belongs to one thread.
 */
#ifndef NSH_CLI_PROGRESS_H
#define NSH_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_buf;

/* What the block knows of one job. */
struct nsh_progress_job {
	char *id;	  /* job id */
	char *repo;	  /* "org/name" (the id when the store did not say) */
	char *state;	  /* job state name; "queued" until an event says otherwise */
	char *step;	  /* the step that runs next / now; NULL when unknown or none */
	int64_t done;	  /* position of the last completed step in the pipeline (0 none) */
	int64_t total;	  /* steps in the pipeline; 0 unknown */
	int64_t start_ms; /* epoch ms the job began to work; 0 not yet */
	int64_t end_ms;	  /* epoch ms it stopped working (not busy); 0 still at work */
};

struct nsh_progress {
	struct nsh_progress_job *v; /* in the order the events named them */
	size_t nr;
	size_t alloc;
};

#define NSH_PROGRESS_INIT \
 {                        \
  NULL, 0, 0              \
 }

/** Free the jobs' contents and the array. NULL ok. */
void nsh_progress_release(struct nsh_progress *p);

/**
 * Learn from one event of the task: @kind and @data (its JSON object; NULL
 * is taken as {}), about job @job_id (NULL: not about a job, ignored)
 * whose repository is @repo (NULL: the id), appended at @at_ms (epoch ms).
 * A job is added when an event first names it. "job.state" moves the
 * job's state (and start or end), "job.step" its progress: "index"
 * (position of the completed step), "steps" (how many the pipeline has)
 * and "next" (the step that runs next). Returns whether the block changed.
 */
bool nsh_progress_event(struct nsh_progress *p, const char *job_id, const char *repo,
			const char *kind, const json_t *data, int64_t at_ms);

/**
 * Append the block's text for the jobs of @p to @out: one line per job,
 * each ending in "\n" and at most @width - 1 columns wide (the last column
 * is kept free so that no terminal wraps), elapsed times counted to
 * @now_ms for jobs still at work. At most @max_lines lines: when there are
 * more jobs, those still at work come first and a last line says how many
 * are not shown. With @color the bar is coloured by state (ANSI SGR).
 * Returns the number of lines appended.
 */
size_t nsh_progress_render(const struct nsh_progress *p, int64_t now_ms, int width, int max_lines,
			   bool color, struct nsh_buf *out);

#endif
