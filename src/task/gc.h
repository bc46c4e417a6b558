/*
 * Retention (docs/limits.md): what `nightshift gc` and the daemon's
 * periodic collection remove from the home directory.
 *
 *   workspace  $HOME/work/<job> of a task that ended (completed, failed,
 *              cancelled), at once; of an expired task once its grace
 *              period is over (the task records when: an extend is then
 *              refused);
 *   artifacts  $HOME/artifacts/<task> of a task that ended, once
 *              artifact_retention has passed since it ended (for an
 *              expired task: since its grace period ended);
 *   stale      entries of $HOME/work and $HOME/artifacts whose name is no
 *              task or job the store knows (left by a crash or a deleted
 *              database).
 * Tasks that still run are never touched. The periods are those the task
 * recorded when it started, else @def's.
 *
 * Thread rules: uses the caller's store handle.
 */
#ifndef NSH_TASK_GC_H
#define NSH_TASK_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_err;
struct nsh_store;
struct nsh_limits;

struct nsh_gc_item {
	char *path;    /* what is (or would be) removed */
	char *kind;    /* "workspace", "artifacts" or "stale" */
	char *task_id; /* its task, NULL for stale entries */
	uint64_t files;
	uint64_t bytes; /* disk space (allocated blocks) */
};

struct nsh_gc_report {
	struct nsh_gc_item *v;
	size_t nr, alloc;
	uint64_t files, bytes; /* totals */
	size_t failed;	       /* entries that could not be removed (logged in @errors) */
	char *errors;	       /* the first failure, or NULL */
};

/**
 * Collect what is past retention in @home at the time nsh_time_now_ms()
 * says. With @dry_run nothing is removed or recorded; the report says what
 * would go. A removal that fails is counted in the report and does not
 * stop the others; errors are for the store only.
 */
int nsh_gc_run(struct nsh_store *s, const char *home, const struct nsh_limits *def, bool dry_run,
	       struct nsh_gc_report *ret, struct nsh_err *err);

void nsh_gc_report_release(struct nsh_gc_report *r);

/** The report as JSON: {"dry_run", "files", "bytes", "removed": [...]} (new reference). */
json_t *nsh_gc_report_to_json(const struct nsh_gc_report *r, bool dry_run);

#endif
