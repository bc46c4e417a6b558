/*
 * SQL of the limits columns (migration 8); see store/limits.h. Statements
 * are prepared per call: none of these runs more than a few times a second.
 */
#include "store/limits.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "store/store.h"
#include "store/store_int.h"

#include "core/banned.h"

static int prepare(struct nsh_store *s, const char *sql, struct nsh_db_stmt **ret,
		   struct nsh_err *err)
{
	*ret = nsh_db_prepare(nsh_store_db(s), sql, err);
	return *ret ? 0 : err ? err->code : NSH_EIO;
}

static char *text_col(struct nsh_db_stmt *st, int i)
{
	const char *v = nsh_db_col_text(st, i);

	return v ? nsh_xstrdup(v) : NULL;
}

/* Run an UPDATE of one row keyed by ?1 with the integer ?2 (NULL for 0 when @null0). */
static int update_i64(struct nsh_store *s, const char *sql, const char *id, int64_t v, bool null0,
		      struct nsh_err *err)
{
	struct nsh_db_stmt *st = NULL;
	int rc;

	rc = prepare(s, sql, &st, err);
	if (rc)
		return rc;
	nsh_db_bind_text(st, 1, id);
	if (null0 && !v)
		nsh_db_bind_null(st, 2);
	else
		nsh_db_bind_int64(st, 2, v);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, "updating limits");
	nsh_db_finalize(st);
	return rc;
}

void nsh_task_limits_rec_release(struct nsh_task_limits_rec *r)
{
	if (!r)
		return;
	free(r->state);
	free(r->recipe);
	free(r->limits);
	memset(r, 0, sizeof(*r));
}

int nsh_store_task_limits_get(struct nsh_store *s, const char *id, struct nsh_task_limits_rec *ret,
			      struct nsh_err *err)
{
	struct nsh_db_stmt *st = NULL;
	int rc;

	rc = prepare(s,
		     "SELECT state, recipe, limits, created_at, updated_at, "
		     "coalesce(started_at, 0), coalesce(deadline_at, 0), warned, "
		     "coalesce(checkpoint_at, 0), coalesce(expired_at, 0), coalesce(gc_at, 0) "
		     "FROM tasks WHERE id = ?1",
		     &st, err);
	if (rc)
		return rc;
	nsh_db_bind_text(st, 1, id);
	switch (nsh_db_step(st)) {
	case NSH_DB_ROW:
		memset(ret, 0, sizeof(*ret));
		ret->state = text_col(st, 0);
		ret->recipe = text_col(st, 1);
		ret->limits = text_col(st, 2);
		ret->created_ms = nsh_db_col_int64(st, 3);
		ret->updated_ms = nsh_db_col_int64(st, 4);
		ret->started_ms = nsh_db_col_int64(st, 5);
		ret->deadline_ms = nsh_db_col_int64(st, 6);
		ret->warned = nsh_db_col_int64(st, 7);
		ret->checkpoint_ms = nsh_db_col_int64(st, 8);
		ret->expired_ms = nsh_db_col_int64(st, 9);
		ret->gc_ms = nsh_db_col_int64(st, 10);
		break;
	case NSH_DB_DONE:
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", id);
		break;
	default:
		rc = nsh_store_db_fail(s, err, "reading a task's limits");
	}
	nsh_db_finalize(st);
	return rc;
}

int nsh_store_task_limits_start(struct nsh_store *s, const char *id, const char *limits,
				int64_t started_ms, int64_t deadline_ms, bool *ret_started,
				struct nsh_err *err)
{
	struct nsh_db_stmt *st = NULL;
	int rc;

	rc = prepare(s,
		     "UPDATE tasks SET limits = ?2, started_at = ?3, deadline_at = "
		     "coalesce(deadline_at, ?4), updated_at = ?3 WHERE id = ?1 AND started_at IS "
		     "NULL",
		     &st, err);
	if (rc)
		return rc;
	nsh_db_bind_text(st, 1, id);
	nsh_db_bind_text(st, 2, limits);
	nsh_db_bind_int64(st, 3, started_ms);
	if (deadline_ms)
		nsh_db_bind_int64(st, 4, deadline_ms);
	else
		nsh_db_bind_null(st, 4);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, "recording a task's limits");
	else if (ret_started)
		*ret_started = nsh_db_changes(nsh_store_db(s)) > 0;
	nsh_db_finalize(st);
	return rc;
}

int nsh_store_task_set_warned(struct nsh_store *s, const char *id, int64_t pct, struct nsh_err *err)
{
	return update_i64(s, "UPDATE tasks SET warned = ?2 WHERE id = ?1", id, pct, false, err);
}

int nsh_store_task_set_checkpoint(struct nsh_store *s, const char *id, int64_t ms,
				  struct nsh_err *err)
{
	return update_i64(s, "UPDATE tasks SET checkpoint_at = ?2 WHERE id = ?1", id, ms, true,
			  err);
}

int nsh_store_task_set_expired(struct nsh_store *s, const char *id, int64_t ms, struct nsh_err *err)
{
	return update_i64(s, "UPDATE tasks SET expired_at = ?2 WHERE id = ?1", id, ms, true, err);
}

int nsh_store_task_set_gc(struct nsh_store *s, const char *id, int64_t ms, struct nsh_err *err)
{
	return update_i64(s, "UPDATE tasks SET gc_at = ?2 WHERE id = ?1", id, ms, true, err);
}

int nsh_store_job_limits_get(struct nsh_store *s, const char *id, struct nsh_job_limits_rec *ret,
			     struct nsh_err *err)
{
	struct nsh_db_stmt *st = NULL;
	int rc;

	rc = prepare(s,
		     "SELECT coalesce(disk_bytes, -1), run_ms, coalesce(checkpointed_at, 0) FROM "
		     "jobs WHERE id = ?1",
		     &st, err);
	if (rc)
		return rc;
	nsh_db_bind_text(st, 1, id);
	switch (nsh_db_step(st)) {
	case NSH_DB_ROW:
		ret->disk_bytes = nsh_db_col_int64(st, 0);
		ret->run_ms = nsh_db_col_int64(st, 1);
		ret->checkpointed_ms = nsh_db_col_int64(st, 2);
		break;
	case NSH_DB_DONE:
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job '%s'", id);
		break;
	default:
		rc = nsh_store_db_fail(s, err, "reading a job's limits");
	}
	nsh_db_finalize(st);
	return rc;
}

int nsh_store_job_set_disk(struct nsh_store *s, const char *id, int64_t bytes, struct nsh_err *err)
{
	return update_i64(s, "UPDATE jobs SET disk_bytes = ?2 WHERE id = ?1", id, bytes, false,
			  err);
}

int nsh_store_job_add_run_ms(struct nsh_store *s, const char *id, int64_t ms, struct nsh_err *err)
{
	return update_i64(s, "UPDATE jobs SET run_ms = run_ms + ?2 WHERE id = ?1", id,
			  ms > 0 ? ms : 0, false, err);
}

int nsh_store_job_set_checkpointed(struct nsh_store *s, const char *id, int64_t ms,
				   struct nsh_err *err)
{
	return update_i64(s, "UPDATE jobs SET checkpointed_at = ?2 WHERE id = ?1", id, ms, true,
			  err);
}

/* The states in which a job has stopped working (task/task.h, nsh_job_state_busy()). */
#define ENDED_JOB "j.state IN ('pr_open', 'needs_human_review', 'merged', 'closed', 'failed')"

int nsh_store_job_durations(struct nsh_store *s, const char *task_id, const char *recipe,
			    int64_t **ret, size_t *ret_nr, struct nsh_err *err)
{
	static const char *const sql[2] = {
		"SELECT j.run_ms FROM jobs j WHERE j.task_id = ?1 AND j.run_ms > 0 AND " ENDED_JOB
		" ORDER BY j.run_ms LIMIT ?3",
		"SELECT j.run_ms FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE t.recipe = ?2 "
		"AND j.run_ms > 0 AND " ENDED_JOB " ORDER BY j.run_ms LIMIT ?3",
	};
	int64_t *v = NULL;
	size_t nr = 0, alloc = 0;
	int rc = 0;

	for (int pass = 0; !rc && !nr && pass < (recipe ? 2 : 1); pass++) {
		struct nsh_db_stmt *st = NULL;
		int step;

		rc = prepare(s, sql[pass], &st, err);
		if (rc)
			break;
		nsh_db_bind_text(st, 1, task_id);
		if (recipe)
			nsh_db_bind_text(st, 2, recipe);
		nsh_db_bind_int64(st, 3, NSH_STORE_DURATIONS_MAX);
		while ((step = nsh_db_step(st)) == NSH_DB_ROW) {
			NSH_ALLOC_GROW(v, nr + 1, alloc);
			v[nr++] = nsh_db_col_int64(st, 0);
		}
		if (step != NSH_DB_DONE)
			rc = nsh_store_db_fail(s, err, "reading job durations");
		nsh_db_finalize(st);
	}
	if (rc) {
		free(v);
		return rc;
	}
	*ret = v;
	*ret_nr = nr;
	return 0;
}

void nsh_gc_task_list_release(struct nsh_gc_task_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].id);
		free(l->v[i].state);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_gc_tasks(struct nsh_store *s, struct nsh_gc_task_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = NULL;
	int rc, step;

	rc = prepare(s,
		     "SELECT id, state, updated_at, coalesce(expired_at, 0), coalesce(gc_at, 0) "
		     "FROM tasks WHERE state IN ('completed', 'failed', 'cancelled', 'expired') "
		     "ORDER BY created_at, rowid",
		     &st, err);
	if (rc)
		return rc;
	while ((step = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_gc_task *t;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		t = &ret->v[ret->nr++];
		t->id = text_col(st, 0);
		t->state = text_col(st, 1);
		t->updated_ms = nsh_db_col_int64(st, 2);
		t->expired_ms = nsh_db_col_int64(st, 3);
		t->gc_ms = nsh_db_col_int64(st, 4);
	}
	if (step != NSH_DB_DONE)
		rc = nsh_store_db_fail(s, err, "listing ended tasks");
	nsh_db_finalize(st);
	return rc;
}

bool nsh_store_id_known(struct nsh_store *s, const char *id)
{
	return nsh_store_task_exists(s, id) || nsh_store_job_exists(s, id);
}
