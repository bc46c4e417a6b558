/*
 * The store's part of task limits (docs/limits.md): what a task runs under
 * and how far along its deadline it is, a job's storage and run time, and
 * what retention looks at. Columns from migration 8. Same thread rules as
 * store/store.h: a handle belongs to one thread.
 */
#ifndef NSH_STORE_LIMITS_H
#define NSH_STORE_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_err;
struct nsh_store;

/* A task's limits and deadline progress. */
struct nsh_task_limits_rec {
	char *state;	       /* task state name */
	char *recipe;	       /* the task's recipe, or NULL */
	char *limits;	       /* JSON object recorded at start ("{}" before) */
	int64_t created_ms;    /* epoch ms */
	int64_t updated_ms;    /* last change */
	int64_t started_ms;    /* when a worker first started it; 0 before */
	int64_t deadline_ms;   /* 0: none */
	int64_t warned;	       /* the highest deadline warning given, in percent; 0 none */
	int64_t checkpoint_ms; /* when its jobs were asked to checkpoint; 0 not yet */
	int64_t expired_ms;    /* when it expired; 0 when it has not (or was extended) */
	int64_t gc_ms;	       /* when gc removed its workspaces; 0 not yet */
};

void nsh_task_limits_rec_release(struct nsh_task_limits_rec *r);

/** Read task @id's limits; NSH_ENOTFOUND naming it when absent. */
int nsh_store_task_limits_get(struct nsh_store *s, const char *id, struct nsh_task_limits_rec *ret,
			      struct nsh_err *err);

/**
 * Record that task @id starts now (@started_ms) under @limits (a JSON
 * object text), with @deadline_ms unless the task has a deadline already.
 * Does nothing for a task started before; *@ret_started (may be NULL) says
 * whether this call recorded it.
 */
int nsh_store_task_limits_start(struct nsh_store *s, const char *id, const char *limits,
				int64_t started_ms, int64_t deadline_ms, bool *ret_started,
				struct nsh_err *err);

/** Set the highest deadline warning given (percent; 0 re-arms every warning). */
int nsh_store_task_set_warned(struct nsh_store *s, const char *id, int64_t pct,
			      struct nsh_err *err);
/** Set (or with 0 clear) when the task's checkpoint was asked for. */
int nsh_store_task_set_checkpoint(struct nsh_store *s, const char *id, int64_t ms,
				  struct nsh_err *err);
/** Set (or with 0 clear) when the task expired. */
int nsh_store_task_set_expired(struct nsh_store *s, const char *id, int64_t ms,
			       struct nsh_err *err);
/** Record when gc removed the task's workspaces. */
int nsh_store_task_set_gc(struct nsh_store *s, const char *id, int64_t ms, struct nsh_err *err);

/* A job's storage, run time and checkpoint. */
struct nsh_job_limits_rec {
	int64_t disk_bytes;	 /* workspace bytes at the last measure; -1 never measured */
	int64_t run_ms;		 /* time spent on job threads, all runs */
	int64_t checkpointed_ms; /* when its work was last checkpointed; 0 never */
};

/** Read job @id's; NSH_ENOTFOUND naming it when absent. */
int nsh_store_job_limits_get(struct nsh_store *s, const char *id, struct nsh_job_limits_rec *ret,
			     struct nsh_err *err);
int nsh_store_job_set_disk(struct nsh_store *s, const char *id, int64_t bytes, struct nsh_err *err);
int nsh_store_job_add_run_ms(struct nsh_store *s, const char *id, int64_t ms, struct nsh_err *err);
int nsh_store_job_set_checkpointed(struct nsh_store *s, const char *id, int64_t ms,
				   struct nsh_err *err);

#define NSH_STORE_DURATIONS_MAX 1000 /* durations read for an estimate */

/**
 * The run times (ms, ascending) of the ended jobs of task @task_id, or
 * when it has none, of the ended jobs of tasks with recipe @recipe (may be
 * NULL), at most NSH_STORE_DURATIONS_MAX. *@ret is the caller's (free()),
 * NULL when there are none.
 */
int nsh_store_job_durations(struct nsh_store *s, const char *task_id, const char *recipe,
			    int64_t **ret, size_t *ret_nr, struct nsh_err *err);

/* A task as retention sees it. */
struct nsh_gc_task {
	char *id;
	char *state;
	int64_t updated_ms; /* last change (for an ended task: when it ended) */
	int64_t expired_ms; /* 0 unless expired */
	int64_t gc_ms;	    /* 0 unless its workspaces were removed */
};

struct nsh_gc_task_list {
	struct nsh_gc_task *v;
	size_t nr, alloc;
};

void nsh_gc_task_list_release(struct nsh_gc_task_list *l);

/** Every task that no longer runs (ended or expired), oldest first. */
int nsh_store_gc_tasks(struct nsh_store *s, struct nsh_gc_task_list *ret, struct nsh_err *err);

/** Whether a task or job with this id exists (for stale directories). */
bool nsh_store_id_known(struct nsh_store *s, const char *id);

#endif
