/*
 * Which worker runs a job (migration 13): several workers share the jobs
 * of a task. The task's owner plans it and settles it; any worker with a
 * free sandbox may run one of its jobs, after claiming the job's run here.
 * A claim holds while the runner's heartbeat is fresh, so the jobs of a
 * worker that died are claimable again once its lease runs out, and the
 * next runner continues them after their last completed step.
 */
#include "core/err.h"
#include "core/vec.h"
#include "store/db.h"
#include "store/store.h"
#include "store/store_int.h"

#include "core/banned.h"

/* A runner counts while its worker's heartbeat is at least ?N. */
#define RUNNER_DEAD(col, n)                                                              \
 "(" col " IS NULL OR NOT EXISTS (SELECT 1 FROM workers WHERE workers.id = " col " AND " \
 "heartbeat_at >= ?" #n "))"

/* the busy states of task/task.c, nsh_job_state_busy(); the index jobs_busy (migration 16) too */
#define BUSY                                                                     \
 "('queued', 'provisioning', 'researching', 'coding', 'verifying', 'retrying', " \
 "'revising')"

static const char sql_claim[] = "UPDATE jobs SET runner = ?2 WHERE id = ?1 AND state IN " BUSY
				" AND " RUNNER_DEAD("jobs.runner", 3);

static const char sql_release[] = "UPDATE jobs SET runner = NULL WHERE id = ?1 AND runner = ?2";

static const char sql_helpable[] =
	"SELECT t.id FROM tasks t WHERE t.state = 'running' AND t.owner IS NOT NULL AND "
	"t.owner <> ?1 AND NOT " RUNNER_DEAD(
		"t.owner", 2) " AND EXISTS (SELECT 1 FROM jobs j "
			      "WHERE j.task_id = t.id AND j.state IN " BUSY
			      " AND " RUNNER_DEAD("j.runner", 2) ") "
								 "ORDER BY t.created_at, t.id";

static const char sql_free[] = "SELECT id FROM jobs j WHERE task_id = ?1 AND state IN " BUSY
			       " AND " RUNNER_DEAD("j.runner", 2) " ORDER BY position, id";

static const char sql_runner[] = "SELECT runner FROM jobs WHERE id = ?1";

/*
 * Claim-next: the first free job of task ?1 in plan order becomes ?2's.
 * On PostgreSQL the candidate row is locked and rows that other claims
 * hold are skipped, so concurrent claimers take different jobs without
 * waiting; SQLite's write lock already serialises them.
 */
#define CLAIM_NEXT(lock)                                                                         \
 "UPDATE jobs SET runner = ?2 WHERE id = (SELECT j.id FROM jobs j WHERE j.task_id = ?1 AND "     \
 "j.state IN " BUSY " AND " RUNNER_DEAD("j.runner", 3) " ORDER BY j.position, j.id LIMIT 1" lock \
						       ") RETURNING id"

/* the tasks live workers drive: an unfinished task (as ST_TASK_CLAIMABLE) with a live owner */
static const char sql_driven[] =
	"SELECT count(*) FROM tasks t WHERE t.state IN ('queued', 'analyzing', 'running', "
	"'waiting_input', 'paused') AND t.owner IS NOT NULL AND NOT " RUNNER_DEAD("t.owner", 1);

static const char sql_claim_next[] = CLAIM_NEXT("");
static const char sql_claim_next_pg[] = CLAIM_NEXT(" FOR UPDATE SKIP LOCKED");

int nsh_store_job_claim_run(struct nsh_store *s, const char *id, const char *worker,
			    int64_t alive_since_ms, bool *ret_claimed, struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_store_stmt_sql(s, sql_claim, err);
	int rc = 0;

	*ret_claimed = false;
	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_store_bind_text(st, 1, id);
	nsh_store_bind_text(st, 2, worker);
	nsh_db_bind_int64(st, 3, alive_since_ms);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, "claiming the run of a job");
	else
		*ret_claimed = nsh_db_changes(nsh_store_db(s)) == 1;
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_job_claim_next(struct nsh_store *s, const char *task_id, const char *worker,
			     int64_t alive_since_ms, char **ret_id, struct nsh_err *err)
{
	bool pg = nsh_db_kind(nsh_store_db(s)) == NSH_DB_PG;
	struct nsh_db_stmt *st =
		nsh_store_stmt_sql(s, pg ? sql_claim_next_pg : sql_claim_next, err);
	int rc = 0;

	*ret_id = NULL;
	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_store_bind_text(st, 1, task_id);
	nsh_store_bind_text(st, 2, worker);
	nsh_db_bind_int64(st, 3, alive_since_ms);
	switch (nsh_db_step(st)) {
	case NSH_DB_ROW:
		*ret_id = nsh_store_col_text(st, 0);
		break;
	case NSH_DB_DONE:
		break; /* nothing free */
	default:
		rc = nsh_store_db_fail(s, err, "claiming the next job of a task");
	}
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_job_release_run(struct nsh_store *s, const char *id, const char *worker,
			      struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_store_stmt_sql(s, sql_release, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_store_bind_text(st, 1, id);
	nsh_store_bind_text(st, 2, worker);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, "releasing the run of a job");
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_job_runner(struct nsh_store *s, const char *id, char **ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_store_stmt_sql(s, sql_runner, err);
	int rc = 0;

	*ret = NULL;
	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_store_bind_text(st, 1, id);
	switch (nsh_db_step(st)) {
	case NSH_DB_ROW:
		*ret = nsh_store_col_text(st, 0);
		break;
	case NSH_DB_DONE:
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job '%s'", id);
		break;
	default:
		rc = nsh_store_db_fail(s, err, "reading the runner of a job");
	}
	nsh_store_stmt_done(st);
	return rc;
}

/* Run @st with ?1 = @text and ?2 = @alive_since_ms; append column 0 of each row to @ret. */
static int list_ids(struct nsh_store *s, struct nsh_db_stmt *st, const char *text,
		    int64_t alive_since_ms, struct nsh_strvec *ret, const char *what,
		    struct nsh_err *err)
{
	int rc = 0, r;

	nsh_store_bind_text(st, 1, text);
	nsh_db_bind_int64(st, 2, alive_since_ms);
	while ((r = nsh_db_step(st)) == NSH_DB_ROW)
		nsh_strvec_push(ret, nsh_db_col_text(st, 0));
	if (r != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, what);
	nsh_store_stmt_done(st);
	return rc;
}

int nsh_store_job_free(struct nsh_store *s, const char *task_id, int64_t alive_since_ms,
		       struct nsh_strvec *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_store_stmt_sql(s, sql_free, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	return list_ids(s, st, task_id, alive_since_ms, ret, "listing the jobs nobody runs", err);
}

int nsh_store_task_helpable(struct nsh_store *s, const char *worker, int64_t alive_since_ms,
			    struct nsh_strvec *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_store_stmt_sql(s, sql_helpable, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	return list_ids(s, st, worker, alive_since_ms, ret, "listing the tasks a worker may help",
			err);
}

int nsh_store_task_driven(struct nsh_store *s, int64_t alive_since_ms, int64_t *ret,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_store_stmt_sql(s, sql_driven, err);
	int rc = 0;

	*ret = 0;
	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, alive_since_ms);
	if (nsh_db_step(st) == NSH_DB_ROW)
		*ret = nsh_db_col_int64(st, 0);
	else
		rc = nsh_store_db_fail(s, err, "counting the tasks workers drive");
	nsh_store_stmt_done(st);
	return rc;
}

void nsh_store_runner_each_sql(void (*fn)(const char *sql, void *ctx), void *ctx)
{
	fn(sql_claim, ctx);
	fn(sql_claim_next, ctx); /* the PostgreSQL text runs in test_sched's second pass */
	fn(sql_release, ctx);
	fn(sql_helpable, ctx);
	fn(sql_free, ctx);
	fn(sql_runner, ctx);
	fn(sql_driven, ctx);
}
