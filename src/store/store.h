/*
 * The store: every byte of nightshift's state in one SQLite database
 * ($NIGHTSHIFT_HOME/nightshift.db), and every SQL statement that touches it.
 * Tables and columns are documented in docs/store.md.
 *
 * The database runs in WAL mode with a busy timeout, foreign keys on and
 * STRICT tables. Opening it applies the pending migrations, each once, in
 * its own transaction; a database written by a newer nightshift is refused.
 *
 * Several processes may open the same database at once. Write transactions
 * start with BEGIN IMMEDIATE, so that a writer waits for the lock (up to the
 * busy timeout) instead of failing half-way.
 *
 * Thread rules: a store handle (one SQLite connection) belongs to one
 * thread at a time; give each thread its own handle.
 */
#ifndef NSH_STORE_STORE_H
#define NSH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vec.h"

struct nsh_config;
struct nsh_err;
struct nsh_notify;

/* The schema version this build writes; see the migrations in store.c. */
#define NSH_STORE_SCHEMA_VERSION 16

/* How long a writer waits for another process's lock before giving up. */
#define NSH_STORE_BUSY_TIMEOUT_MS 10000

struct nsh_store;

/**
 * Open (creating if needed) the database at @path and migrate it to
 * NSH_STORE_SCHEMA_VERSION. @path is a SQLite file name, or a PostgreSQL
 * url (postgres://USER:PASSWORD@HOST:PORT/DB, docs/store.md), whose
 * database must exist. NSH_EVERSION when the database was written by a
 * newer schema; NSH_EIO with the engine's message otherwise (connection
 * errors as nsh_pgq_open()'s, never showing a password). The caller closes
 * the handle with nsh_store_close().
 */
int nsh_store_open(const char *path, struct nsh_store **ret, struct nsh_err *err);

/**
 * Where the store of the home directory @home lives, as nsh_store_open()
 * takes it (a new string): the PostgreSQL url in @env (the value of
 * NIGHTSHIFT_DB, may be NULL) or else in "url" of the [db] section of @cfg
 * (may be NULL), as for the job queue (store/pgqueue.h); without one, the
 * SQLite file "@home/nightshift.db".
 */
char *nsh_store_target(const char *home, const char *env, const struct nsh_config *cfg);

/**
 * Like nsh_store_open() but migrate only up to @version (0 leaves a fresh
 * database empty). For tests of upgrades from earlier versions.
 */
int nsh_store_open_version(const char *path, int version, struct nsh_store **ret,
			   struct nsh_err *err);

/** Close the handle and finalize its statements. NULL ok. */
void nsh_store_close(struct nsh_store *s);

/** The schema version recorded in the database. */
int nsh_store_schema_version(struct nsh_store *s, int *ret, struct nsh_err *err);

/**
 * The database file name or url this handle was opened on (borrowed), to
 * open more handles on the same store. A url may carry a password: not
 * for messages.
 */
const char *nsh_store_path(const struct nsh_store *s);

/**
 * After each committed event, post its id to @n (may be NULL to stop), so
 * that waiters in this process wake at once. @n must outlive the handle.
 */
void nsh_store_set_notify(struct nsh_store *s, struct nsh_notify *n);

/**
 * Transactions. The outer nsh_store_begin() takes the write lock (BEGIN
 * IMMEDIATE); a nested one opens a savepoint, which the matching commit
 * releases and the matching rollback undoes alone, so functions that keep
 * their own work atomic compose into larger transactions. Events appended
 * inside are announced when the outer transaction commits.
 * nsh_store_rollback() is safe to call when no transaction is open.
 */
int nsh_store_begin(struct nsh_store *s, struct nsh_err *err);
int nsh_store_commit(struct nsh_store *s, struct nsh_err *err);
void nsh_store_rollback(struct nsh_store *s);

/**
 * A number that changes whenever another connection commits to the
 * database (SQLite's data_version): a cheap test of whether to re-read.
 */
int nsh_store_data_version(struct nsh_store *s, int64_t *ret, struct nsh_err *err);

/* ---- tasks ---- */

struct nsh_task_rec {
	char *id;	     /* "t-7f3a9c" */
	char *title;	     /* the task text as the user gave it */
	char *state;	     /* a task state name (task/task.h) */
	char *paused_from;   /* state to return to on resume, or NULL */
	char *org;	     /* organisation, or NULL */
	char *brain;	     /* "recipe", "llm" or NULL before analysis */
	char *recipe;	     /* recipe id, or NULL */
	char *network;	     /* network level name */
	char *error;	     /* why it failed, or NULL */
	int64_t created_ms;  /* epoch milliseconds */
	int64_t updated_ms;  /* last change of any column */
	int64_t deadline_ms; /* 0 for none */
	char *options;	     /* the run options, a JSON object ("{}" when none) */
	char *owner;	     /* the worker driving it, or NULL (read only) */
};

/** Free the strings of @t and zero it. NULL ok. */
void nsh_task_rec_release(struct nsh_task_rec *t);

/** Insert a task row; NSH_EEXIST if the id is taken. */
int nsh_store_task_insert(struct nsh_store *s, const struct nsh_task_rec *t, struct nsh_err *err);
/** Read one task; NSH_ENOTFOUND naming it when absent. */
int nsh_store_task_get(struct nsh_store *s, const char *id, struct nsh_task_rec *ret,
		       struct nsh_err *err);
/** Whether a task with @id exists (errors count as "exists", to be safe for id picking). */
bool nsh_store_task_exists(struct nsh_store *s, const char *id);
/**
 * Set a task's state, paused_from and error (NULL clears them) and bump
 * updated_ms. NSH_ENOTFOUND when absent.
 */
int nsh_store_task_set_state(struct nsh_store *s, const char *id, const char *state,
			     const char *paused_from, const char *error, struct nsh_err *err);

/**
 * Tasks, newest first: at most @limit (0: no limit), only those in @state
 * when it is not NULL. The caller frees with nsh_task_list_release().
 */
struct nsh_task_list {
	struct nsh_task_rec *v; /* rows */
	size_t nr;		/* rows in use */
	size_t alloc;		/* rows allocated */
};
int nsh_store_task_list(struct nsh_store *s, const char *state, size_t limit,
			struct nsh_task_list *ret, struct nsh_err *err);
void nsh_task_list_release(struct nsh_task_list *l);

/* ---- jobs (one repository of a task) ---- */

struct nsh_job_rec {
	char *id;	  /* "j-1c9e04" */
	char *task_id;	  /* owning task */
	char *repo;	  /* "org/name" */
	char *state;	  /* a job state name (task/task.h) */
	char *step;	  /* last completed step, or NULL */
	char *branch;	  /* work branch, or NULL */
	char *error;	  /* why it failed, or NULL */
	int64_t position; /* order in the plan, 0 first */
	int64_t attempt;  /* 0 for the first attempt */
	int64_t created_ms;
	int64_t updated_ms;
};

void nsh_job_rec_release(struct nsh_job_rec *j);
int nsh_store_job_insert(struct nsh_store *s, const struct nsh_job_rec *j, struct nsh_err *err);
int nsh_store_job_get(struct nsh_store *s, const char *id, struct nsh_job_rec *ret,
		      struct nsh_err *err);
bool nsh_store_job_exists(struct nsh_store *s, const char *id);
int nsh_store_job_set_state(struct nsh_store *s, const char *id, const char *state,
			    const char *error, struct nsh_err *err);

struct nsh_job_list {
	struct nsh_job_rec *v;
	size_t nr;
	size_t alloc;
};
/** The jobs of @task_id in plan order. */
int nsh_store_job_list(struct nsh_store *s, const char *task_id, struct nsh_job_list *ret,
		       struct nsh_err *err);
void nsh_job_list_release(struct nsh_job_list *l);

/* ---- events: the append-only log every client renders from ---- */

struct nsh_event_rec {
	int64_t id;	    /* strictly increasing, never reused */
	char *task_id;	    /* NULL for events of the whole daemon */
	char *job_id;	    /* NULL when not about one job */
	char *kind;	    /* "task.state", "job.state", "log", ... */
	char *data;	    /* a JSON object */
	int64_t created_ms; /* epoch milliseconds */
};

struct nsh_event_list {
	struct nsh_event_rec *v;
	size_t nr;
	size_t alloc;
};

void nsh_event_list_release(struct nsh_event_list *l);

/**
 * Append an event. @data is a JSON object in text form (NULL for "{}");
 * invalid JSON is refused. The new id goes to @ret_id (may be NULL). Inside
 * a transaction the event becomes visible at commit.
 */
int nsh_store_event_append(struct nsh_store *s, const char *task_id, const char *job_id,
			   const char *kind, const char *data, int64_t *ret_id,
			   struct nsh_err *err);

/**
 * Append to @ret the events with id > @after_id, oldest first, at most @max
 * (0: no limit), only those of @task_id when it is not NULL.
 */
int nsh_store_events_after(struct nsh_store *s, int64_t after_id, const char *task_id, size_t max,
			   struct nsh_event_list *ret, struct nsh_err *err);

/** The id of the newest event (0 when there is none). */
int nsh_store_event_last_id(struct nsh_store *s, int64_t *ret, struct nsh_err *err);

/* ---- specs (versioned task specs) ---- */

/** Store a new version of a task's spec; its number (1, 2, ...) goes to @ret_version. */
int nsh_store_spec_add(struct nsh_store *s, const char *task_id, const char *body,
		       int64_t *ret_version, struct nsh_err *err);
/**
 * The spec of @task_id at @version (0: the newest); the body is the caller's
 * to free. NSH_ENOTFOUND when there is none.
 */
int nsh_store_spec_get(struct nsh_store *s, const char *task_id, int64_t version, char **ret_body,
		       int64_t *ret_version, struct nsh_err *err);

/* ---- organisations and repositories of a forge (src/forge/) ---- */

struct nsh_org_rec {
	int64_t id;	    /* row id */
	char *name;	    /* "acme" */
	char *forge;	    /* "local" or "github" */
	int64_t created_ms; /* epoch milliseconds */
};

struct nsh_org_list {
	struct nsh_org_rec *v; /* rows, by name */
	size_t nr;	       /* rows in use */
	size_t alloc;	       /* rows allocated */
};

/** Free the strings of @o and zero it. NULL ok. */
void nsh_org_rec_release(struct nsh_org_rec *o);
/** Free every row and the array. NULL ok. */
void nsh_org_list_release(struct nsh_org_list *l);

/**
 * Add organisation @name of forge kind @forge ("local" or "github"); its row
 * id goes to @ret_id (may be NULL). NSH_EEXIST "org 'NAME' exists already".
 */
int nsh_store_org_add(struct nsh_store *s, const char *name, const char *forge, int64_t *ret_id,
		      struct nsh_err *err);
/** Read one organisation; NSH_ENOTFOUND "no org 'NAME'". */
int nsh_store_org_get(struct nsh_store *s, const char *name, struct nsh_org_rec *ret,
		      struct nsh_err *err);
/** Append every organisation to @ret, by name. */
int nsh_store_org_list(struct nsh_store *s, struct nsh_org_list *ret, struct nsh_err *err);

struct nsh_repo_rec {
	int64_t id;	      /* row id */
	int64_t org_id;	      /* owning organisation's row id */
	char *org;	      /* organisation name (read only: filled by reads) */
	char *name;	      /* repository name, unique within the org */
	char *default_branch; /* branch pull requests target by default */
	char *source;	      /* where it was imported from, or NULL */
	int64_t created_ms;   /* epoch milliseconds */
};

struct nsh_repo_list {
	struct nsh_repo_rec *v; /* rows, by name */
	size_t nr;		/* rows in use */
	size_t alloc;		/* rows allocated */
};

void nsh_repo_rec_release(struct nsh_repo_rec *r);
void nsh_repo_list_release(struct nsh_repo_list *l);

/**
 * Add the repository @r (org_id, name, default_branch and source are used;
 * created_ms 0 means now); its row id goes to @ret_id (may be NULL).
 * NSH_EEXIST "repository 'NAME' exists already".
 */
int nsh_store_repo_add(struct nsh_store *s, const struct nsh_repo_rec *r, int64_t *ret_id,
		       struct nsh_err *err);
/** Read repository @org/@name; NSH_ENOTFOUND "no repository 'ORG/NAME'". */
int nsh_store_repo_get(struct nsh_store *s, const char *org, const char *name,
		       struct nsh_repo_rec *ret, struct nsh_err *err);
/** Append the repositories of @org to @ret, by name (none for an unknown org). */
int nsh_store_repo_list(struct nsh_store *s, const char *org, struct nsh_repo_list *ret,
			struct nsh_err *err);

/* ---- pull requests, their head history and their comments ---- */

struct nsh_pr_rec {
	int64_t id;		  /* row id */
	int64_t repo_id;	  /* repository row id */
	char *org;		  /* organisation name (read only) */
	char *repo;		  /* repository name (read only) */
	int64_t number;		  /* 1, 2, ... per repository */
	char *task_id;		  /* task that opened it, or NULL */
	char *job_id;		  /* job that opened it, or NULL */
	char *head;		  /* head branch */
	char *base;		  /* base branch */
	char *title;		  /* one line */
	char *body;		  /* Markdown, never NULL after a read */
	char *state;		  /* "open", "draft", "merged" or "closed" */
	struct nsh_strvec labels; /* label names, in order */
	char *author;		  /* a job id or a user name */
	char *head_sha;		  /* newest recorded head commit, or NULL (read only) */
	int64_t head_seq;	  /* its sequence number, 0 when none (read only) */
	char *merge_sha;	  /* the merge commit once merged, or NULL */
	char *closed_by;	  /* who merged or closed it, or NULL */
	int64_t created_ms;	  /* epoch milliseconds */
	int64_t updated_ms;	  /* last change */
	int64_t closed_ms;	  /* when merged or closed, 0 before */
};

struct nsh_pr_list {
	struct nsh_pr_rec *v; /* rows */
	size_t nr;	      /* rows in use */
	size_t alloc;	      /* rows allocated */
};

/* Which pull requests nsh_store_pr_list() returns; NULL fields match all. */
struct nsh_pr_filter {
	const char *task_id; /* opened by this task */
	const char *org;     /* in this organisation */
	const char *repo;    /* in this repository (name within the org) */
	const char *state;   /* in this state */
};

void nsh_pr_rec_release(struct nsh_pr_rec *p);
void nsh_pr_list_release(struct nsh_pr_list *l);

/**
 * Insert @p (repo_id, task_id, job_id, head, base, title, body, state,
 * labels, author) with the next number of its repository. The row id goes
 * to @ret_id and the number to @ret_number (either may be NULL). Call it
 * inside a transaction so that the number cannot race.
 */
int nsh_store_pr_insert(struct nsh_store *s, const struct nsh_pr_rec *p, int64_t *ret_id,
			int64_t *ret_number, struct nsh_err *err);
/** Read pull request @number of @org/@repo; NSH_ENOTFOUND "no pull request 'O/R#N'". */
int nsh_store_pr_get(struct nsh_store *s, const char *org, const char *repo, int64_t number,
		     struct nsh_pr_rec *ret, struct nsh_err *err);
/** Read a pull request by row id; NSH_ENOTFOUND when absent. */
int nsh_store_pr_get_id(struct nsh_store *s, int64_t id, struct nsh_pr_rec *ret,
			struct nsh_err *err);
/** The newest pull request opened by @job_id, in any state; NSH_ENOTFOUND when none. */
int nsh_store_pr_find_job(struct nsh_store *s, const char *job_id, struct nsh_pr_rec *ret,
			  struct nsh_err *err);
/**
 * The open or draft pull request of repository @repo_id whose head branch is
 * @head; NSH_ENOTFOUND when none.
 */
int nsh_store_pr_find_head(struct nsh_store *s, int64_t repo_id, const char *head,
			   struct nsh_pr_rec *ret, struct nsh_err *err);
/** Append the pull requests that match @f (NULL: all) to @ret, newest first. */
int nsh_store_pr_list(struct nsh_store *s, const struct nsh_pr_filter *f, struct nsh_pr_list *ret,
		      struct nsh_err *err);
/**
 * Write the changeable columns of @p (title, body, state, labels,
 * merge_sha, closed_by, closed_ms) to row p->id and bump updated_at.
 * NSH_ENOTFOUND when the row is gone.
 */
int nsh_store_pr_save(struct nsh_store *s, const struct nsh_pr_rec *p, struct nsh_err *err);

struct nsh_pr_head_rec {
	int64_t seq;	    /* 1 for the head the pull request was opened with */
	char *sha;	    /* commit id */
	bool forced;	    /* it replaced a head that is not its ancestor */
	char *pushed_by;    /* who pushed it, or NULL */
	int64_t created_ms; /* when it was recorded */
};

struct nsh_pr_head_list {
	struct nsh_pr_head_rec *v; /* rows, oldest first */
	size_t nr;		   /* rows in use */
	size_t alloc;		   /* rows allocated */
};

void nsh_pr_head_list_release(struct nsh_pr_head_list *l);

/**
 * Record @sha as the next head of pull request @pr_id; its sequence number
 * goes to @ret_seq (may be NULL). Use inside a transaction.
 */
int nsh_store_pr_head_add(struct nsh_store *s, int64_t pr_id, const char *sha, bool forced,
			  const char *pushed_by, int64_t *ret_seq, struct nsh_err *err);
/** Append the head history of @pr_id to @ret, oldest first. */
int nsh_store_pr_head_list(struct nsh_store *s, int64_t pr_id, struct nsh_pr_head_list *ret,
			   struct nsh_err *err);

struct nsh_pr_comment_rec {
	int64_t id;	     /* row id */
	int64_t pr_id;	     /* the pull request's row id */
	char *kind;	     /* "comment", "reply", "approve" or "request_changes" */
	char *author;	     /* who wrote it */
	char *body;	     /* Markdown */
	char *path;	     /* file of an inline comment, or NULL */
	int64_t line;	     /* its line (1-based), 0 when not inline */
	char *head_sha;	     /* the head commit the comment refers to, or NULL */
	int64_t in_reply_to; /* comment it answers, 0 for none */
	int64_t created_ms;  /* when it was written */
	int64_t handled_ms;  /* when nightshift acted on it, 0 while pending */
};

struct nsh_pr_comment_list {
	struct nsh_pr_comment_rec *v; /* rows, oldest first */
	size_t nr;		      /* rows in use */
	size_t alloc;		      /* rows allocated */
};

void nsh_pr_comment_rec_release(struct nsh_pr_comment_rec *c);
void nsh_pr_comment_list_release(struct nsh_pr_comment_list *l);

/** Insert @c (all but id, created_ms 0 meaning now); the row id goes to @ret_id (may be NULL). */
int nsh_store_pr_comment_add(struct nsh_store *s, const struct nsh_pr_comment_rec *c,
			     int64_t *ret_id, struct nsh_err *err);
/** Read one comment; NSH_ENOTFOUND "no comment N". */
int nsh_store_pr_comment_get(struct nsh_store *s, int64_t id, struct nsh_pr_comment_rec *ret,
			     struct nsh_err *err);
/** Append the comments and reviews of @pr_id to @ret, oldest first. */
int nsh_store_pr_comment_list(struct nsh_store *s, int64_t pr_id, struct nsh_pr_comment_list *ret,
			      struct nsh_err *err);
/** Mark comment @id handled at @ms (0: now). NSH_ENOTFOUND when absent. */
int nsh_store_pr_comment_set_handled(struct nsh_store *s, int64_t id, int64_t ms,
				     struct nsh_err *err);

/* ---- secrets: rows of the encrypted vault (src/secrets/) ---- */

/*
 * The store keeps each secret's value as an opaque BLOB (nonce followed by
 * ciphertext) and never sees plaintext; the vault in src/secrets/ encrypts,
 * decrypts and gives scopes their meaning. No function here returns a value
 * together with a listing.
 */

/* How many scopes nsh_store_secret_each() matches at most (global, org, repo, task). */
#define NSH_STORE_SECRET_SCOPES 4

struct nsh_secret_rec {
	char *name;	    /* variable name */
	char *scope;	    /* "global", "org:O", "repo:O/R" or "task:T" */
	int64_t created_ms; /* first set, epoch milliseconds */
	int64_t updated_ms; /* last set */
};

struct nsh_secret_list {
	struct nsh_secret_rec *v; /* rows */
	size_t nr;		  /* rows in use */
	size_t alloc;		  /* rows allocated */
};

/** Free the strings of @r and zero it. NULL ok. */
void nsh_secret_rec_release(struct nsh_secret_rec *r);
/** Free every row and the array. NULL ok. */
void nsh_secret_list_release(struct nsh_secret_list *l);

/**
 * Store @len bytes of ciphertext @blob as the value of (@name, @scope):
 * insert a new row, or replace the value of an existing one, keeping its
 * created_ms and bumping updated_ms. @blob is copied.
 */
int nsh_store_secret_put(struct nsh_store *s, const char *name, const char *scope, const void *blob,
			 size_t len, struct nsh_err *err);

/**
 * The ciphertext of (@name, @scope): *@ret_blob gets a copy the caller frees
 * with free(), *@ret_len its length. NSH_ENOTFOUND "no secret 'NAME' in
 * scope 'S'" when there is no such row.
 */
int nsh_store_secret_get(struct nsh_store *s, const char *name, const char *scope, void **ret_blob,
			 size_t *ret_len, struct nsh_err *err);

/**
 * Append every row's name, scope and times (never the value) to @ret,
 * ordered by name then scope. The caller frees with nsh_secret_list_release().
 */
int nsh_store_secret_list(struct nsh_store *s, struct nsh_secret_list *ret, struct nsh_err *err);

/** Delete (@name, @scope); NSH_ENOTFOUND "no secret 'NAME' in scope 'S'" when absent. */
int nsh_store_secret_delete(struct nsh_store *s, const char *name, const char *scope,
			    struct nsh_err *err);

/** The number of rows in the vault. */
int nsh_store_secret_count(struct nsh_store *s, int64_t *ret, struct nsh_err *err);

/**
 * Called for each row by nsh_store_secret_each(). The strings and @blob are
 * borrowed and valid only during the call. A non-zero return stops the walk
 * and is returned by nsh_store_secret_each(). The callback must not use the
 * store.
 */
typedef int nsh_store_secret_fn(const char *name, const char *scope, const void *blob, size_t len,
				void *ctx, struct nsh_err *err);

/**
 * Call @fn for every row whose scope is one of @scopes (NULL entries match
 * nothing), ordered by name then scope.
 */
int nsh_store_secret_each(struct nsh_store *s, const char *const scopes[NSH_STORE_SECRET_SCOPES],
			  nsh_store_secret_fn *fn, void *ctx, struct nsh_err *err);

/* ---- orchestration: brains, ownership, workers, steps, control requests ---- */

/** Record the brain ("recipe" or "llm") and recipe id chosen for a task at analysis. */
int nsh_store_task_set_brain(struct nsh_store *s, const char *id, const char *brain,
			     const char *recipe, struct nsh_err *err);

/** Set a task's deadline (epoch milliseconds, 0 for none). */
int nsh_store_task_set_deadline(struct nsh_store *s, const char *id, int64_t deadline_ms,
				struct nsh_err *err);

/**
 * Make @worker the owner of task @id when it is free: nobody owns it, the
 * worker owns it already, or the owner's last heartbeat is older than
 * @alive_since_ms (or its row is gone). *@ret_claimed says whether it
 * worked; losing the race to another worker is not an error.
 */
int nsh_store_task_claim(struct nsh_store *s, const char *id, const char *worker,
			 int64_t alive_since_ms, bool *ret_claimed, struct nsh_err *err);
/** Give up ownership of task @id if @worker holds it. */
int nsh_store_task_release(struct nsh_store *s, const char *id, const char *worker,
			   struct nsh_err *err);
/**
 * Unfinished tasks that @worker may claim (as nsh_store_task_claim()),
 * oldest first, at most @limit (0: no limit).
 */
int nsh_store_task_claimable(struct nsh_store *s, const char *worker, int64_t alive_since_ms,
			     size_t limit, struct nsh_task_list *ret, struct nsh_err *err);

/*
 * Job runners (src/store/runner.c): the worker that runs a job now, so that
 * several workers share the jobs of a task and none runs a job twice.
 */

/**
 * Make @worker the runner of job @id when the job has no runner or its
 * runner's last heartbeat is older than @alive_since_ms (or its row is
 * gone). Unlike a task claim, a worker that runs the job already does not
 * get it again. *@ret_claimed says whether it worked; losing the race is not
 * an error.
 */
int nsh_store_job_claim_run(struct nsh_store *s, const char *id, const char *worker,
			    int64_t alive_since_ms, bool *ret_claimed, struct nsh_err *err);
/**
 * Claim the run of the next job of task @task_id that no live worker runs
 * (as nsh_store_job_claim_run(), in plan order: position, then id) for
 * @worker, in one statement. Its id goes to *@ret_id (the caller frees
 * it), NULL when no job is free. Concurrent claimers never get the same
 * job, and on PostgreSQL they do not wait for each other (the candidate
 * row is locked with SKIP LOCKED). Outside a transaction the claim is
 * its own transaction.
 */
int nsh_store_job_claim_next(struct nsh_store *s, const char *task_id, const char *worker,
			     int64_t alive_since_ms, char **ret_id, struct nsh_err *err);
/** Give up the run of job @id if @worker holds it. */
int nsh_store_job_release_run(struct nsh_store *s, const char *id, const char *worker,
			      struct nsh_err *err);
/**
 * The busy jobs of task @task_id that no live worker runs (no runner, or
 * its heartbeat is older than @alive_since_ms), in plan order: their ids
 * are appended to @ret.
 */
int nsh_store_job_free(struct nsh_store *s, const char *task_id, int64_t alive_since_ms,
		       struct nsh_strvec *ret, struct nsh_err *err);
/** The runner of job @id in *@ret (NULL for none; the caller frees it). */
int nsh_store_job_runner(struct nsh_store *s, const char *id, char **ret, struct nsh_err *err);
/**
 * The running tasks, oldest first, whose owner is a live worker other than
 * @worker and that have a busy job without a live runner: the tasks
 * @worker may help with. Their ids are appended to @ret.
 */
int nsh_store_task_helpable(struct nsh_store *s, const char *worker, int64_t alive_since_ms,
			    struct nsh_strvec *ret, struct nsh_err *err);

/**
 * How many unfinished tasks (queued, analyzing, running, waiting_input,
 * paused) live workers drive: their owner's heartbeat is at least
 * @alive_since_ms. Every worker sharing the store counts them alike, so
 * that the concurrent-tasks limit holds across workers. The count goes to
 * *@ret.
 */
int nsh_store_task_driven(struct nsh_store *s, int64_t alive_since_ms, int64_t *ret,
			  struct nsh_err *err);

/**
 * Record a job's last completed step and its attempt number; @branch (may
 * be NULL to keep the current one) is its work branch.
 */
int nsh_store_job_set_progress(struct nsh_store *s, const char *id, const char *step,
			       int64_t attempt, const char *branch, struct nsh_err *err);
/** Record job @id's work branch. */
int nsh_store_job_set_branch(struct nsh_store *s, const char *id, const char *branch,
			     struct nsh_err *err);
/**
 * How many queued jobs are ahead of job @id in the sandbox queue: jobs of
 * running tasks, older tasks first, then plan order.
 */
int nsh_store_job_queue_position(struct nsh_store *s, const char *id, int64_t *ret,
				 struct nsh_err *err);

struct nsh_worker_rec {
	char *id;	      /* "w-xxxxxx" */
	char *host;	      /* host name */
	int64_t pid;	      /* process id on that host */
	int64_t started_ms;   /* when it registered */
	int64_t heartbeat_ms; /* its last sign of life */
};

void nsh_worker_rec_release(struct nsh_worker_rec *w);
/** Register worker @id or refresh its heartbeat to now. */
int nsh_store_worker_beat(struct nsh_store *s, const char *id, const char *host, int64_t pid,
			  struct nsh_err *err);
int nsh_store_worker_remove(struct nsh_store *s, const char *id, struct nsh_err *err);
struct nsh_worker_list {
	struct nsh_worker_rec *v;
	size_t nr;
	size_t alloc;
};

/** Every registered worker, by id. */
int nsh_store_worker_list(struct nsh_store *s, struct nsh_worker_list *ret, struct nsh_err *err);
void nsh_worker_list_release(struct nsh_worker_list *l);
/** Whether some worker has beaten since @alive_since_ms (errors: false). */
bool nsh_store_worker_any_alive(struct nsh_store *s, int64_t alive_since_ms);
/** NSH_ENOTFOUND when the worker is not registered. */
int nsh_store_worker_get(struct nsh_store *s, const char *id, struct nsh_worker_rec *ret,
			 struct nsh_err *err);

/* A completed step of a task (job_id "") or of one attempt of a job. */
struct nsh_step_rec {
	char *job_id;	    /* "" for a task-level step */
	int64_t attempt;    /* the job's attempt, 0 first */
	char *name;	    /* "clone", "baseline", ... */
	char *result;	    /* a JSON object: what the step found or made */
	int64_t created_ms; /* when it completed */
};

struct nsh_step_list {
	struct nsh_step_rec *v;
	size_t nr;
	size_t alloc;
};

void nsh_step_list_release(struct nsh_step_list *l);
/**
 * Record step @name as completed with @result (a JSON object as text, NULL
 * for "{}"); recording it again replaces the result. @job_id NULL or "" for
 * a task-level step.
 */
int nsh_store_step_put(struct nsh_store *s, const char *task_id, const char *job_id,
		       int64_t attempt, const char *name, const char *result, struct nsh_err *err);
/** The result of a completed step (caller frees); NSH_ENOTFOUND when not completed. */
int nsh_store_step_get(struct nsh_store *s, const char *task_id, const char *job_id,
		       int64_t attempt, const char *name, char **ret_result, struct nsh_err *err);
/** The completed steps of a task (all jobs when @job_id is NULL), oldest first. */
int nsh_store_step_list(struct nsh_store *s, const char *task_id, const char *job_id,
			struct nsh_step_list *ret, struct nsh_err *err);

/* A control request: pause, resume, cancel, steer, answer or extend. */
struct nsh_control_rec {
	int64_t id;	    /* increasing */
	char *task_id;	    /* the task it is for */
	char *job_id;	    /* one job, or NULL for the whole task */
	char *kind;	    /* "pause", ... */
	char *payload;	    /* a JSON object (the text of steer and answer, ...) */
	char *state;	    /* "pending", "done" or "rejected" */
	char *result;	    /* what happened, or why it was rejected; NULL while pending */
	int64_t created_ms; /* when it was asked for */
	int64_t handled_ms; /* when it was handled, 0 while pending */
};

struct nsh_control_list {
	struct nsh_control_rec *v;
	size_t nr;
	size_t alloc;
};

void nsh_control_rec_release(struct nsh_control_rec *c);
void nsh_control_list_release(struct nsh_control_list *l);
int nsh_store_control_add(struct nsh_store *s, const char *task_id, const char *job_id,
			  const char *kind, const char *payload, int64_t *ret_id,
			  struct nsh_err *err);
int nsh_store_control_get(struct nsh_store *s, int64_t id, struct nsh_control_rec *ret,
			  struct nsh_err *err);
/** The pending requests of a task, oldest first. */
int nsh_store_control_pending(struct nsh_store *s, const char *task_id,
			      struct nsh_control_list *ret, struct nsh_err *err);
/**
 * Mark request @id "done" or "rejected" with @result, only if it is still
 * pending (*@ret_finished, may be NULL, says whether this call did it).
 */
int nsh_store_control_finish(struct nsh_store *s, int64_t id, const char *state, const char *result,
			     bool *ret_finished, struct nsh_err *err);

/* ---- server: filtered lists, counts for /metrics, memories ---- */

/* Which tasks nsh_store_task_query() returns; NULL fields match all. */
struct nsh_task_filter {
	const char *state; /* in this state */
	const char *org;   /* of this organisation */
	const char *text;  /* whose title contains this (case-insensitive); "" matches all */
	size_t limit;	   /* at most this many; 0: no limit */
	size_t offset;	   /* skip this many first */
};

/* How far the jobs of a task are. */
struct nsh_task_progress {
	int64_t jobs;	 /* all jobs */
	int64_t settled; /* no longer at work: done, waiting for a person, or ended */
	int64_t failed;	 /* failed or cancelled */
};

/**
 * Append the tasks matching @f to @ret, newest first. With @ret_progress
 * (may be NULL), *@ret_progress gets a new array (the caller frees it) with
 * the progress of each appended task, in the same order; NULL when none.
 */
int nsh_store_task_query(struct nsh_store *s, const struct nsh_task_filter *f,
			 struct nsh_task_list *ret, struct nsh_task_progress **ret_progress,
			 struct nsh_err *err);

/** Replace a task's options (a JSON object as text). NSH_ENOTFOUND when absent. */
int nsh_store_task_set_options(struct nsh_store *s, const char *id, const char *options,
			       struct nsh_err *err);

/* Which jobs nsh_store_job_query() returns; NULL fields match all. */
struct nsh_job_filter {
	const char *task_id; /* of this task */
	const char *state;   /* in this state */
	const char *repo;    /* of this repository ("O/R") */
	size_t limit;	     /* 0: no limit */
	size_t offset;	     /* skip this many first */
};

/** Append the jobs matching @f to @ret, newest first. */
int nsh_store_job_query(struct nsh_store *s, const struct nsh_job_filter *f,
			struct nsh_job_list *ret, struct nsh_err *err);

/* Row counts by a name (a state). */
struct nsh_store_counts {
	struct {
		char *name; /* the state */
		int64_t n;  /* rows in it */
	} * v;		    /* by name */
	size_t nr;	    /* entries in use */
	size_t alloc;	    /* entries allocated */
};

void nsh_store_counts_release(struct nsh_store_counts *c);
/** Append the number of tasks (jobs) in each state that has any to @ret. */
int nsh_store_task_state_counts(struct nsh_store *s, struct nsh_store_counts *ret,
				struct nsh_err *err);
int nsh_store_job_state_counts(struct nsh_store *s, struct nsh_store_counts *ret,
			       struct nsh_err *err);
/** The number of queued jobs of running tasks: the sandbox queue. */
int nsh_store_queue_length(struct nsh_store *s, int64_t *ret, struct nsh_err *err);
/**
 * Model tokens used so far: the sums of prompt_tokens and completion_tokens
 * over the events of kind "llm.usage".
 */
int nsh_store_model_tokens(struct nsh_store *s, int64_t *ret_prompt, int64_t *ret_completion,
			   struct nsh_err *err);

/* ---- memories: rules learned from review feedback (src/store/memory.c) ---- */

/*
 * A learned rule, a row of table memories. The memory module
 * (src/memory/) gives the columns their meaning: who may add rules, when a
 * rule is promoted, superseded or expired. Times are epoch milliseconds, 0
 * for none.
 */
struct nsh_memory_rec {
	int64_t id;	       /* row id */
	char *rule;	       /* the rule in words (indexed for full-text search) */
	char *kind;	       /* "preference" (a recipe choice) or "text" */
	char *recipe;	       /* preference: the recipe id, else NULL */
	char *choice;	       /* preference: the choice, else NULL */
	char *alt;	       /* preference: the alternative chosen, else NULL */
	char *rule_key;	       /* what makes two rules the same (see memory.c), or NULL */
	char *scope;	       /* "repo" or "org" ("global" in rows of old versions) */
	char *scope_value;     /* the first repository "O/R", or the org "O" */
	char *org;	       /* the organisation the rule belongs to, or NULL */
	char *repo;	       /* the repository where it was first said, or NULL */
	char *language;	       /* narrower scope: only this language, or NULL */
	char *path_glob;       /* narrower scope: only files matching this glob, or NULL */
	char *state;	       /* proposed, active, superseded, forgotten, expired */
	char *source;	       /* the first provenance, a JSON object */
	int64_t uses;	       /* how often it was applied */
	int64_t created_ms;    /* when it was learned */
	int64_t said_ms;       /* when it was last given by a reviewer */
	int64_t last_used_ms;  /* when it was last applied */
	int64_t active_ms;     /* the expiry clock: the latest of learned, said, used */
	int64_t updated_ms;    /* last change of the row */
	int64_t expires_ms;    /* when it expired */
	int64_t superseded_by; /* the rule that replaced it, 0 for none */
	int64_t promoted_ms;   /* when it was promoted to org scope */
	char *promoted_by;     /* who promoted it ("" for automatic), or NULL */
	int64_t forgotten_ms;  /* when it was forgotten */
	char *forgotten_by;    /* by whom, or NULL */
};

struct nsh_memory_list {
	struct nsh_memory_rec *v; /* rows, newest first */
	size_t nr;		  /* rows in use */
	size_t alloc;		  /* rows allocated */
};

/* Which memories nsh_store_memory_list() returns; NULL fields match all. */
struct nsh_memory_filter {
	const char *state; /* in this state */
	const char *scope; /* of this scope kind */
	const char *org;   /* of this organisation */
	const char *repo;  /* that apply to this repository "O/R" (its own and its org's) */
	const char *kind;  /* of this kind */
	bool live;	   /* only proposed and active ones (when state is NULL) */
	size_t limit;	   /* 0: no limit */
	size_t offset;	   /* skip this many first */
};

/* One piece of provenance: a reviewer said the rule (table memory_sources). */
struct nsh_memory_source_rec {
	int64_t id;	    /* row id */
	char *reviewer;	    /* who said it (lower case) */
	char *repo;	    /* where: "O/R" */
	char *task_id;	    /* the task whose pull request it was, or NULL */
	char *pr;	    /* the pull request "O/R#N", or NULL */
	int64_t comment_id; /* the comment (forge id), 0 for none */
	int64_t created_ms; /* when */
};

struct nsh_memory_source_list {
	struct nsh_memory_source_rec *v; /* rows, oldest first */
	size_t nr;
	size_t alloc;
};

/* A resolved conflict: @winner_id replaced @loser_id (table memory_conflicts). */
struct nsh_memory_conflict_rec {
	int64_t id;	    /* row id */
	int64_t winner_id;  /* the rule that stays */
	int64_t loser_id;   /* the rule superseded */
	char *reason;	    /* in words */
	int64_t created_ms; /* when */
};

struct nsh_memory_conflict_list {
	struct nsh_memory_conflict_rec *v; /* rows, oldest first */
	size_t nr;
	size_t alloc;
};

/* A task that applied a rule (table memory_uses). */
struct nsh_memory_use_rec {
	char *task_id;	  /* the task */
	int64_t uses;	  /* how often */
	int64_t first_ms; /* first use */
	int64_t last_ms;  /* last use */
};

struct nsh_memory_use_list {
	struct nsh_memory_use_rec *v; /* rows, oldest first */
	size_t nr;
	size_t alloc;
};

/* A rule that applies to a retrieval: what ranking needs (nsh_store_memory_in_scope()). */
struct nsh_memory_cand {
	int64_t id;	 /* the rule */
	int64_t said_ms; /* when it was last said */
	char *path_glob; /* the paths it is narrowed to, or NULL */
	bool repo_scope; /* scoped to repositories (else to its org) */
	bool language;	 /* narrowed to one language */
	int len;	 /* tokens in its text, as memories_fts counts them */
};

struct nsh_memory_cand_list {
	struct nsh_memory_cand *v; /* rules */
	size_t nr;
	size_t alloc;
};

/* A full-text hit of nsh_store_memory_fts(). */
struct nsh_memory_hit {
	int64_t id; /* the rule */
	int tf[32]; /* occurrences of each term of the query in its text */
};

struct nsh_memory_hit_list {
	struct nsh_memory_hit *v;
	size_t nr;
	size_t alloc;
};

void nsh_memory_rec_release(struct nsh_memory_rec *m);
void nsh_memory_list_release(struct nsh_memory_list *l);
void nsh_memory_source_list_release(struct nsh_memory_source_list *l);
void nsh_memory_conflict_list_release(struct nsh_memory_conflict_list *l);
void nsh_memory_use_list_release(struct nsh_memory_use_list *l);
void nsh_memory_cand_list_release(struct nsh_memory_cand_list *l);

/**
 * Insert rule @m (every column but id; created_ms must be set) with its
 * first scope key ("repo:O/R" or "org:O", from scope and scope_value). The
 * row id goes to @ret_id (may be NULL).
 */
int nsh_store_memory_insert(struct nsh_store *s, const struct nsh_memory_rec *m, int64_t *ret_id,
			    struct nsh_err *err);
/** Read one memory; NSH_ENOTFOUND "no memory N". */
int nsh_store_memory_get(struct nsh_store *s, int64_t id, struct nsh_memory_rec *ret,
			 struct nsh_err *err);
/** Append the memories matching @f (NULL: all) to @ret, newest first. */
int nsh_store_memory_list(struct nsh_store *s, const struct nsh_memory_filter *f,
			  struct nsh_memory_list *ret, struct nsh_err *err);
/**
 * The newest rule of @org with @rule_key that is not forgotten;
 * NSH_ENOTFOUND when there is none.
 */
int nsh_store_memory_find_key(struct nsh_store *s, const char *org, const char *rule_key,
			      struct nsh_memory_rec *ret, struct nsh_err *err);
/**
 * The active preferences of @org for @recipe / @choice whose alternative is
 * not @alt: the rules a new preference may conflict with.
 */
int nsh_store_memory_rivals(struct nsh_store *s, const char *org, const char *recipe,
			    const char *choice, const char *alt, struct nsh_memory_list *ret,
			    struct nsh_err *err);
/**
 * Add provenance @src to rule @id, unless the same pull request comment is
 * recorded already (*@ret_added, may be NULL, says which).
 */
int nsh_store_memory_source_add(struct nsh_store *s, int64_t id,
				const struct nsh_memory_source_rec *src, bool *ret_added,
				struct nsh_err *err);
/** Append the provenance of rule @id to @ret, oldest first. */
int nsh_store_memory_sources(struct nsh_store *s, int64_t id, struct nsh_memory_source_list *ret,
			     struct nsh_err *err);
/** Append the scope keys of rule @id ("repo:O/R", "org:O") to @ret, sorted. */
int nsh_store_memory_scope_keys(struct nsh_store *s, int64_t id, struct nsh_strvec *ret,
				struct nsh_err *err);
/** Make rule @id apply to repository @repo too ("O/R"; nothing when it does already). */
int nsh_store_memory_scope_add_repo(struct nsh_store *s, int64_t id, const char *repo,
				    struct nsh_err *err);
/**
 * Record that rule @id was said again at @now_ms: it becomes active (no
 * longer superseded or expired) and its expiry clock restarts.
 */
int nsh_store_memory_said(struct nsh_store *s, int64_t id, int64_t now_ms, struct nsh_err *err);
/**
 * Promote rule @id to the scope of its whole organisation, @by ("" for
 * automatic) at @now_ms. NSH_ENOTFOUND when absent.
 */
int nsh_store_memory_promote(struct nsh_store *s, int64_t id, const char *by, int64_t now_ms,
			     struct nsh_err *err);
/**
 * Mark rule @loser superseded by @winner at @now_ms and record the conflict
 * with @reason.
 */
int nsh_store_memory_supersede(struct nsh_store *s, int64_t loser, int64_t winner,
			       const char *reason, int64_t now_ms, struct nsh_err *err);
/** Append the conflicts rule @id won or lost to @ret, oldest first. */
int nsh_store_memory_conflicts(struct nsh_store *s, int64_t id,
			       struct nsh_memory_conflict_list *ret, struct nsh_err *err);
/**
 * Count a use of rule @id by @task_id (may be NULL) at @now_ms: uses,
 * last_used_at, the expiry clock and the task's row. NSH_ENOTFOUND when
 * absent.
 */
int nsh_store_memory_use(struct nsh_store *s, int64_t id, const char *task_id, int64_t now_ms,
			 struct nsh_err *err);
/** Append the tasks that used rule @id to @ret, oldest first. */
int nsh_store_memory_uses(struct nsh_store *s, int64_t id, struct nsh_memory_use_list *ret,
			  struct nsh_err *err);
/**
 * Mark memory @id forgotten (it is no longer applied) by @by (may be NULL)
 * at @now_ms (0: now); NSH_ENOTFOUND "no memory N" when absent.
 */
int nsh_store_memory_forget(struct nsh_store *s, int64_t id, const char *by, int64_t now_ms,
			    struct nsh_err *err);
/**
 * Mark expired the active rules whose expiry clock is older than
 * @now_ms - @ttl_ms; their number goes to @ret_n (may be NULL). Takes the
 * write lock only when there is something to expire.
 */
int nsh_store_memory_expire(struct nsh_store *s, int64_t now_ms, int64_t ttl_ms, size_t *ret_n,
			    struct nsh_err *err);
/**
 * The active rules that apply to repository @repo of @org: its own and
 * its organisation's; only those of @language or of none when @language is
 * set; only text rules and the preferences of @recipe when @recipe is set.
 * The @max (0: all) most recently said (ties: the newest rule), appended
 * to @ret in no particular order with what ranking needs (read the rest
 * with nsh_store_memory_get() for the rules kept).
 */
int nsh_store_memory_in_scope(struct nsh_store *s, const char *org, const char *repo,
			      const char *language, const char *recipe, size_t max,
			      struct nsh_memory_cand_list *ret, struct nsh_err *err);
#define NSH_STORE_MEMORY_WORD_MAX  64  /* bytes kept of one word */
#define NSH_STORE_MEMORY_WORDS_MAX 512 /* words of one rule indexed */

/**
 * Append the words of @text to @ret as the memory index sees them: runs
 * of ASCII letters and digits and of non-ASCII bytes, ASCII lower-cased,
 * cut at NSH_STORE_MEMORY_WORD_MAX bytes, at most NSH_STORE_MEMORY_WORDS_MAX.
 */
int nsh_store_memory_words(const char *text, struct nsh_strvec *ret);

/**
 * Full-text search over the rules of @org and @repo (either may be NULL,
 * not both): the rules whose text has at least one of the @nterms terms
 * (at most 32; each is matched as a phrase of the text), with per-term
 * occurrence counts. Any state; appended to @ret. On PostgreSQL a term is
 * one word as nsh_store_memory_words() gives it (ASCII case aside); a
 * term that cannot be one matches nothing (docs/store.md).
 */
int nsh_store_memory_fts(struct nsh_store *s, const char *org, const char *repo,
			 const char *const *terms, size_t nterms, struct nsh_memory_hit_list *ret,
			 struct nsh_err *err);

/* ---- review feedback (the orchestrator's feedback flow owns its meaning) ---- */

/*
 * One piece of review feedback for one job: a comment or review on its pull
 * request, or a copy carried from a sibling's (origin_id set).
 */
struct nsh_feedback_rec {
	int64_t id;	    /* row id */
	char *task_id;	    /* the job's task */
	char *job_id;	    /* the job that revises its pull request */
	char *pr;	    /* "O/R#N" of that pull request */
	int64_t comment_id; /* the forge's comment it answers, 0 for a copy */
	int64_t origin_id;  /* the feedback it was carried from, 0 for an original */
	char *author;	    /* the reviewer */
	char *body;	    /* what was said */
	char *path;	    /* file of an inline comment, or NULL */
	int64_t line;	    /* its line, 0 when not inline */
	bool can_write;	    /* the reviewer may write to the repository */
	char *state;	    /* pending, applied, refused, unclear, ignored, failed */
	int64_t attempt;    /* the job attempt that took it, -1 while unclaimed */
	char *result;	    /* JSON object: what was made of it */
	int64_t created_ms; /* when it arrived */
	int64_t handled_ms; /* when it was handled, 0 before */
};

struct nsh_feedback_list {
	struct nsh_feedback_rec *v; /* rows, oldest first */
	size_t nr;
	size_t alloc;
};

void nsh_feedback_rec_release(struct nsh_feedback_rec *f);
void nsh_feedback_list_release(struct nsh_feedback_list *l);
/**
 * Add feedback @f (id, state, attempt, result and times are ignored). A
 * copy of the same origin for the same job is added once: a second call
 * adds nothing and *@ret_added (may be NULL) is false; *@ret_id (may be
 * NULL) gets the row's id either way.
 */
int nsh_store_feedback_add(struct nsh_store *s, const struct nsh_feedback_rec *f, int64_t *ret_id,
			   bool *ret_added, struct nsh_err *err);
/** Read one row; NSH_ENOTFOUND "no feedback N". */
int nsh_store_feedback_get(struct nsh_store *s, int64_t id, struct nsh_feedback_rec *ret,
			   struct nsh_err *err);
/** Give the pending, unclaimed feedback of job @job_id to attempt @attempt. */
int nsh_store_feedback_claim(struct nsh_store *s, const char *job_id, int64_t attempt,
			     struct nsh_err *err);
/** Append the feedback of job @job_id claimed by @attempt (< 0: all of it) to @ret. */
int nsh_store_feedback_list(struct nsh_store *s, const char *job_id, int64_t attempt,
			    struct nsh_feedback_list *ret, struct nsh_err *err);
/** Set the state and result (a JSON object text; NULL: {}) of feedback @id. */
int nsh_store_feedback_finish(struct nsh_store *s, int64_t id, const char *state,
			      const char *result, struct nsh_err *err);

/* ---- GitHub webhook deliveries (src/github/ owns their meaning) ---- */

struct nsh_webhook_rec {
	char *id;      /* the delivery id (X-GitHub-Delivery) */
	char *event;   /* the event name (X-GitHub-Event) */
	char *action;  /* the payload's action, or NULL */
	char *subject; /* "O/R#N": the issue or pull request it is about, or NULL */
	char *status;  /* received, processed, ignored or failed */
	char *error;   /* why it was ignored or failed, or NULL */
	char *task_id; /* the task it acted on, or NULL */
	char *payload; /* the body as received (JSON text); NULL in nsh_store_webhook_list() */
	int64_t received_ms; /* arrival */
	int64_t handled_ms;  /* handling, 0 before */
};

struct nsh_webhook_list {
	struct nsh_webhook_rec *v; /* rows */
	size_t nr;
	size_t alloc;
};

void nsh_webhook_rec_release(struct nsh_webhook_rec *w);
void nsh_webhook_list_release(struct nsh_webhook_list *l);
/**
 * Record delivery @w (status NULL: received; received_ms 0: now; the
 * payload must be JSON text). A delivery id seen before adds nothing and
 * *@ret_added is false: a redelivery.
 */
int nsh_store_webhook_add(struct nsh_store *s, const struct nsh_webhook_rec *w, bool *ret_added,
			  struct nsh_err *err);
/** Append up to @limit deliveries still in status received to @ret, oldest first, with payloads. */
int nsh_store_webhook_pending(struct nsh_store *s, size_t limit, struct nsh_webhook_list *ret,
			      struct nsh_err *err);
/** Append the @limit newest deliveries (all statuses, without payloads) to @ret, newest first. */
int nsh_store_webhook_list(struct nsh_store *s, size_t limit, struct nsh_webhook_list *ret,
			   struct nsh_err *err);
/**
 * Mark delivery @id handled: @status (processed, ignored, failed), @error
 * (the reason, may be NULL) and @task_id (may be NULL). Only a delivery
 * still in status received changes; *@ret_changed (may be NULL) says
 * whether this one did.
 */
int nsh_store_webhook_finish(struct nsh_store *s, const char *id, const char *status,
			     const char *error, const char *task_id, bool *ret_changed,
			     struct nsh_err *err);
/** When the newest delivery still received about @subject arrived; 0 when none is. */
int nsh_store_webhook_subject_last(struct nsh_store *s, const char *subject, int64_t *ret_ms,
				   struct nsh_err *err);
/**
 * The newest task whose options name GitHub issue @number of @repo
 * ({"github": {"repo": "O/R", "issue": N}}); NSH_ENOTFOUND when none does.
 */
int nsh_store_task_find_github(struct nsh_store *s, const char *repo, int64_t number,
			       struct nsh_task_rec *ret, struct nsh_err *err);

#endif
