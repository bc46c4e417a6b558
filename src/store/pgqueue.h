/*
 * A shared job queue on PostgreSQL (libpq): the first piece of the store
 * that several nightshift workers on several machines can share. The rest
 * of the store stays on SQLite for now; docs/scaling.md says what is done.
 *
 * A job is a row of nsh_queue_jobs in a named queue, with a payload (text,
 * usually JSON) the queue does not read. Its life:
 *
 *	queued --claim--> running --complete--> done
 *	                     |  \----fail-----> failed
 *	                     |   \--fail(retry)--> queued
 *	                     \--lease expires--> claimable again
 *
 * A claim picks the oldest claimable job with SELECT ... FOR UPDATE SKIP
 * LOCKED and sets its lease (worker id and expiry) in the same statement,
 * so concurrent workers never take the same job and never wait for each
 * other. The holder extends the lease with nsh_pgq_heartbeat() and records
 * each completed step with nsh_pgq_step(); a worker that dies stops
 * beating, its lease runs out, and the next claim hands the job to another
 * worker together with the last completed step, so that one resumes after
 * it. Every change made for a job checks that the caller still holds the
 * lease: a worker that lost its job gets NSH_ECONFLICT and must stop.
 * Lease times are the server's clock (clock_timestamp()), so workers on
 * machines with skewed clocks agree.
 *
 * Events (rows of nsh_queue_events) record what happened to a job; each
 * new one is announced with NOTIFY on NSH_PGQ_CHANNEL_EVENTS carrying its
 * id, and each new job with NOTIFY on NSH_PGQ_CHANNEL_WORK carrying its
 * queue name. A worker idle on an empty queue sleeps in nsh_pgq_wait().
 *
 * The module creates its own tables on open and records its migrations in
 * nsh_queue_migrations; concurrent openers serialise on an advisory lock,
 * and a database migrated by a newer nightshift is refused.
 *
 * Thread rules: a handle (one connection) belongs to one thread at a time;
 * give each thread or process its own handle. A handle must not be used in
 * a child after fork().
 */
#ifndef NSH_STORE_PGQUEUE_H
#define NSH_STORE_PGQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_err;
struct nsh_config;
struct nsh_pgq;

/* The schema version this build writes (rows of nsh_queue_migrations). */
#define NSH_PGQ_SCHEMA_VERSION 1

/* The LISTEN/NOTIFY channels. */
#define NSH_PGQ_CHANNEL_WORK   "nsh_queue_work"	  /* payload: the queue name */
#define NSH_PGQ_CHANNEL_EVENTS "nsh_queue_events" /* payload: the event id */

/* Limits on what a caller may store, checked before anything is sent. */
#define NSH_PGQ_NAME_MAX    200	       /* queue, worker, step and kind names */
#define NSH_PGQ_PAYLOAD_MAX (1u << 20) /* payloads, step data, results, errors */

/* How long opening waits for the server unless the URL says otherwise. */
#define NSH_PGQ_CONNECT_TIMEOUT_S 5

/**
 * The database URL: @env (the value of $NIGHTSHIFT_DB; NULL or "" when
 * unset) wins, else "url" in the [db] section of @cfg (may be NULL).
 * Borrowed from @env or @cfg; NULL when neither names one.
 */
const char *nsh_pgq_url(const char *env, const struct nsh_config *cfg);

/**
 * Whether @url is a PostgreSQL URL this module accepts: "postgres://" or
 * "postgresql://" followed by something libpq parses. NSH_EINVAL with the
 * reason otherwise. Never puts the password in @err.
 */
int nsh_pgq_url_check(const char *url, struct nsh_err *err);

/**
 * Connect to @url and migrate the queue schema. Errors: NSH_EINVAL for a
 * malformed URL, NSH_EDENIED when the server refuses the credentials,
 * NSH_ENOTFOUND when the database does not exist, NSH_EIO when the server
 * cannot be reached (the message names host and port, never the password),
 * NSH_EVERSION when a newer nightshift migrated the schema. The caller
 * closes the handle with nsh_pgq_close().
 */
int nsh_pgq_open(const char *url, struct nsh_pgq **ret, struct nsh_err *err);

/** Close the connection. NULL ok. */
void nsh_pgq_close(struct nsh_pgq *q);

/** The schema version recorded in the database. */
int nsh_pgq_schema_version(struct nsh_pgq *q, int *ret, struct nsh_err *err);

/**
 * Run "SET synchronous_commit = on|off" on this connection. Off trades the
 * last few commits after a server crash for speed (like SQLite's
 * synchronous=NORMAL in WAL mode); the benchmark measures both.
 */
int nsh_pgq_set_sync_commit(struct nsh_pgq *q, bool on, struct nsh_err *err);

/**
 * Append job @payload (NULL for "") to @queue and NOTIFY the work channel,
 * in one transaction. *@ret_id (may be NULL) gets the new job's id.
 */
int nsh_pgq_enqueue(struct nsh_pgq *q, const char *queue, const char *payload, int64_t *ret_id,
		    struct nsh_err *err);

/* A job as a claim or nsh_pgq_get() returns it. */
struct nsh_pgq_job {
	int64_t id;	       /* increasing */
	char *queue;	       /* its queue's name */
	char *payload;	       /* as enqueued */
	char *state;	       /* "queued", "running", "done" or "failed" */
	char *worker;	       /* the lease holder (or last holder), or NULL */
	char *step;	       /* the last completed step, or NULL */
	char *step_data;       /* what that step recorded, or NULL */
	char *result;	       /* given to complete or fail, or NULL */
	int64_t claims;	       /* how many times it was claimed, this one included */
	int64_t lease_left_ms; /* until the lease runs out (< 0: ran out); 0 unless running */
};

/** Free the strings of @j and zero it. NULL ok. */
void nsh_pgq_job_release(struct nsh_pgq_job *j);

/**
 * Claim the oldest job of @queue that is queued or whose lease ran out,
 * for @worker, with a lease of @lease_ms. *@ret_got says whether there was
 * one; if so @ret is filled (the caller releases it) and the job is
 * running. A job taken over from an expired lease keeps its step, so the
 * new holder resumes after it.
 */
int nsh_pgq_claim(struct nsh_pgq *q, const char *queue, const char *worker, int64_t lease_ms,
		  struct nsh_pgq_job *ret, bool *ret_got, struct nsh_err *err);

/**
 * Extend @worker's lease on job @id to @lease_ms from now. NSH_ECONFLICT
 * when the worker no longer holds it (another claimed it after the lease
 * ran out, or it is finished); NSH_ENOTFOUND when there is no such job.
 */
int nsh_pgq_heartbeat(struct nsh_pgq *q, int64_t id, const char *worker, int64_t lease_ms,
		      struct nsh_err *err);

/**
 * Record that @worker completed step @step of job @id, with @data (may be
 * NULL), and append a "step" event; one transaction. Errors as
 * nsh_pgq_heartbeat(). Callers that want a step's effect done exactly
 * once keep that effect in the same database and check the step first.
 */
int nsh_pgq_step(struct nsh_pgq *q, int64_t id, const char *worker, const char *step,
		 const char *data, struct nsh_err *err);

/** Finish job @id as done with @result (may be NULL); a "done" event. Errors as heartbeat. */
int nsh_pgq_complete(struct nsh_pgq *q, int64_t id, const char *worker, const char *result,
		     struct nsh_err *err);

/**
 * Finish job @id as failed with @error, or with @retry put it back in the
 * queue (keeping its step) for any worker to claim; a "failed" or "retry"
 * event. Errors as heartbeat.
 */
int nsh_pgq_fail(struct nsh_pgq *q, int64_t id, const char *worker, const char *error, bool retry,
		 struct nsh_err *err);

/** Read job @id; NSH_ENOTFOUND when absent. The caller releases @ret. */
int nsh_pgq_get(struct nsh_pgq *q, int64_t id, struct nsh_pgq_job *ret, struct nsh_err *err);

struct nsh_pgq_job_list {
	struct nsh_pgq_job *v; /* rows */
	size_t nr;	       /* rows in use */
	size_t alloc;	       /* rows allocated */
};

void nsh_pgq_job_list_release(struct nsh_pgq_job_list *l);

/**
 * Append the jobs of @queue to @ret, oldest first, at most @limit (0: no
 * limit). The caller releases @ret.
 */
int nsh_pgq_jobs(struct nsh_pgq *q, const char *queue, size_t limit, struct nsh_pgq_job_list *ret,
		 struct nsh_err *err);

/* How many jobs of a queue are in each state. */
struct nsh_pgq_counts {
	int64_t queued, running, done, failed;
};

int nsh_pgq_counts(struct nsh_pgq *q, const char *queue, struct nsh_pgq_counts *ret,
		   struct nsh_err *err);

/* An event: what happened to a job. */
struct nsh_pgq_event {
	int64_t id;	/* increasing */
	int64_t job_id; /* the job */
	char *kind;	/* "step", "done", "failed", "retry" or a caller's kind */
	char *worker;	/* who did it, or NULL */
	char *data;	/* the step name, result or error; or NULL */
};

struct nsh_pgq_event_list {
	struct nsh_pgq_event *v; /* rows */
	size_t nr;		 /* rows in use */
	size_t alloc;		 /* rows allocated */
};

void nsh_pgq_event_list_release(struct nsh_pgq_event_list *l);

/**
 * Append an event of @kind for job @id with @data (may be NULL) and
 * NOTIFY its id; *@ret_id (may be NULL) gets the id.
 */
int nsh_pgq_event_add(struct nsh_pgq *q, int64_t id, const char *kind, const char *worker,
		      const char *data, int64_t *ret_id, struct nsh_err *err);

/**
 * Append the events with an id above @after to @ret, oldest first, at most
 * @limit (0: no limit); only those of job @job_id when it is not 0.
 */
int nsh_pgq_events(struct nsh_pgq *q, int64_t after, int64_t job_id, size_t limit,
		   struct nsh_pgq_event_list *ret, struct nsh_err *err);

/* Which channels nsh_pgq_listen() subscribes to. */
enum {
	NSH_PGQ_LISTEN_WORK = 1 << 0,
	NSH_PGQ_LISTEN_EVENTS = 1 << 1,
};

/** LISTEN on the channels in @which (NSH_PGQ_LISTEN_* flags). */
int nsh_pgq_listen(struct nsh_pgq *q, int which, struct nsh_err *err);

/* A notification received by nsh_pgq_wait(). */
struct nsh_pgq_note {
	int channel;   /* NSH_PGQ_LISTEN_WORK or NSH_PGQ_LISTEN_EVENTS */
	char *payload; /* queue name or event id (the caller frees) */
};

/**
 * Wait up to @timeout_ms (0: just look, < 0: forever) for a notification
 * on a channel this handle listens on. *@ret_got says whether one came;
 * if so @ret holds it. Notifications that arrived earlier (during other
 * calls) are returned first. NSH_EIO when the connection breaks.
 */
int nsh_pgq_wait(struct nsh_pgq *q, int64_t timeout_ms, struct nsh_pgq_note *ret, bool *ret_got,
		 struct nsh_err *err);

#endif
