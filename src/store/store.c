/*
 * The SQLite store: opening and migrating the database, transactions, and
 * every statement that reads or writes a row. Statements are prepared once
 * per handle (SQLITE_PREPARE_PERSISTENT) and reset after each use.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/notify.h"
#include "core/time.h"
#include "store/pgqueue.h"
#include "store/store_int.h"

#include "core/banned.h"

enum stmt_id {
	ST_TASK_INSERT,
	ST_TASK_GET,
	ST_TASK_EXISTS,
	ST_TASK_SET_STATE,
	ST_TASK_LIST,
	ST_TASK_LIST_STATE,
	ST_JOB_INSERT,
	ST_JOB_GET,
	ST_JOB_EXISTS,
	ST_JOB_SET_STATE,
	ST_JOB_LIST,
	ST_EVENT_APPEND,
	ST_EVENTS_AFTER,
	ST_EVENTS_AFTER_TASK,
	ST_EVENT_LAST,
	ST_SPEC_ADD,
	ST_SPEC_GET,
	ST_SPEC_GET_LATEST,
	ST_DATA_VERSION,
	/* secrets */
	ST_SECRET_PUT,
	ST_SECRET_GET,
	ST_SECRET_LIST,
	ST_SECRET_DELETE,
	ST_SECRET_COUNT,
	ST_SECRET_IN_SCOPES,
	/* forge: organisations, repositories, pull requests */
	ST_ORG_ADD,
	ST_ORG_GET,
	ST_ORG_LIST,
	ST_REPO_ADD,
	ST_REPO_GET,
	ST_REPO_LIST,
	ST_PR_INSERT,
	ST_PR_GET,
	ST_PR_GET_ID,
	ST_PR_FIND_JOB,
	ST_PR_FIND_HEAD,
	ST_PR_LIST,
	ST_PR_SAVE,
	ST_PR_HEAD_ADD,
	ST_PR_HEAD_LIST,
	ST_PR_COMMENT_ADD,
	ST_PR_COMMENT_GET,
	ST_PR_COMMENT_LIST,
	ST_PR_COMMENT_HANDLED,
	/* orchestration: workers, ownership, steps, control requests */
	ST_TASK_SET_BRAIN,
	ST_TASK_SET_DEADLINE,
	ST_TASK_CLAIM,
	ST_TASK_RELEASE,
	ST_TASK_CLAIMABLE,
	ST_JOB_SET_PROGRESS,
	ST_JOB_SET_BRANCH,
	ST_JOB_QUEUE_POS,
	ST_WORKER_BEAT,
	ST_WORKER_REMOVE,
	ST_WORKER_GET,
	ST_WORKER_ANY_ALIVE,
	ST_WORKER_LIST,
	ST_STEP_PUT,
	ST_STEP_GET,
	ST_STEP_LIST,
	ST_STEP_LIST_JOB,
	ST_CONTROL_ADD,
	ST_CONTROL_GET,
	ST_CONTROL_PENDING,
	ST_CONTROL_FINISH,
	/* server: filtered lists, counts for /metrics (memories: store/memory.c) */
	ST_TASK_QUERY,
	ST_TASK_SET_OPTIONS,
	ST_JOB_QUERY,
	ST_TASK_STATE_COUNTS,
	ST_JOB_STATE_COUNTS,
	ST_QUEUE_LENGTH,
	ST_MODEL_TOKENS,
	/* review feedback */
	ST_FEEDBACK_ADD,
	ST_FEEDBACK_FIND,
	ST_FEEDBACK_GET,
	ST_FEEDBACK_CLAIM,
	ST_FEEDBACK_LIST,
	ST_FEEDBACK_FINISH,
	/* GitHub webhook deliveries */
	ST_WEBHOOK_ADD,
	ST_WEBHOOK_PENDING,
	ST_WEBHOOK_LIST,
	ST_WEBHOOK_FINISH,
	ST_WEBHOOK_SUBJECT_LAST,
	ST_TASK_FIND_GITHUB,
	ST_COUNT
};

#define TASK_COLS                                                                  \
 "id, title, state, paused_from, org, brain, recipe, network, error, created_at, " \
 "updated_at, deadline_at, options, owner"
#define JOB_COLS \
 "id, task_id, repo, state, step, branch, error, position, attempt, created_at, updated_at"
#define EVENT_COLS "id, task_id, job_id, kind, data, created_at"
#define REPO_SELECT                                                                      \
 "SELECT r.id, r.org_id, o.name, r.name, r.default_branch, r.source, r.created_at FROM " \
 "repos r JOIN orgs o ON o.id = r.org_id "
/* A pull request with its repository's names and its newest recorded head. */
#define PR_SELECT                                                                          \
 "SELECT p.id, p.repo_id, o.name, r.name, p.number, p.task_id, p.job_id, p.head, p.base, " \
 "p.title, p.body, p.state, p.labels, p.author, h.sha, h.seq, p.merge_sha, p.closed_by, "  \
 "p.created_at, p.updated_at, p.closed_at FROM prs p JOIN repos r ON r.id = p.repo_id "    \
 "JOIN orgs o ON o.id = r.org_id LEFT JOIN pr_heads h ON h.pr_id = p.id AND h.seq = "      \
 "(SELECT max(seq) FROM pr_heads WHERE pr_id = p.id) "
#define WEBHOOK_COLS "id, event, action, subject, status, error, task_id, received_at, handled_at"
#define COMMENT_COLS \
 "id, pr_id, kind, author, body, path, line, head_sha, in_reply_to, created_at, handled_at"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_TASK_INSERT] = "INSERT INTO tasks (" TASK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			   "?8, ?9, ?10, ?11, ?12, ?13, NULL)",
	[ST_TASK_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
	[ST_TASK_EXISTS] = "SELECT 1 FROM tasks WHERE id = ?1",
	[ST_TASK_SET_STATE] = "UPDATE tasks SET state = ?2, paused_from = ?3, error = ?4, "
			      "updated_at = ?5 WHERE id = ?1",
	[ST_TASK_LIST] = "SELECT " TASK_COLS " FROM tasks ORDER BY created_at DESC, rowid DESC "
			 "LIMIT ?1",
	[ST_TASK_LIST_STATE] = "SELECT " TASK_COLS " FROM tasks WHERE state = ?2 "
			       "ORDER BY created_at DESC, rowid DESC LIMIT ?1",
	[ST_JOB_INSERT] = "INSERT INTO jobs (" JOB_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
			  "?9, ?10, ?11)",
	[ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
	[ST_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE id = ?1",
	[ST_JOB_SET_STATE] =
		"UPDATE jobs SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
	[ST_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs WHERE task_id = ?1 ORDER BY position, rowid",
	[ST_EVENT_APPEND] = "INSERT INTO events (task_id, job_id, kind, data, created_at) "
			    "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
	[ST_EVENTS_AFTER] = "SELECT " EVENT_COLS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
	[ST_EVENTS_AFTER_TASK] = "SELECT " EVENT_COLS " FROM events WHERE task_id = ?3 AND id > ?1 "
				 "ORDER BY id LIMIT ?2",
	[ST_EVENT_LAST] = "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
	[ST_SPEC_ADD] =
		"INSERT INTO specs (task_id, version, body, created_at) VALUES (?1, "
		"(SELECT coalesce(max(version), 0) + 1 FROM specs WHERE task_id = ?1), ?2, ?3) "
		"RETURNING version",
	[ST_SPEC_GET] = "SELECT body, version FROM specs WHERE task_id = ?1 AND version = ?2",
	[ST_SPEC_GET_LATEST] = "SELECT body, version FROM specs WHERE task_id = ?1 "
			       "ORDER BY version DESC LIMIT 1",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	/* secrets: value is nonce || ciphertext (src/secrets/vault.c), never plaintext */
	[ST_SECRET_PUT] = "INSERT INTO secrets (name, scope, value, created_at, updated_at) "
			  "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name, scope) DO UPDATE SET "
			  "value = excluded.value, updated_at = excluded.updated_at",
	[ST_SECRET_GET] = "SELECT value FROM secrets WHERE name = ?1 AND scope = ?2",
	[ST_SECRET_LIST] = "SELECT name, scope, created_at, updated_at FROM secrets "
			   "ORDER BY name, scope",
	[ST_SECRET_DELETE] = "DELETE FROM secrets WHERE name = ?1 AND scope = ?2",
	[ST_SECRET_COUNT] = "SELECT count(*) FROM secrets",
	[ST_SECRET_IN_SCOPES] = "SELECT name, scope, value FROM secrets "
				"WHERE scope IN (?1, ?2, ?3, ?4) ORDER BY name, scope",
	/* forge */
	[ST_ORG_ADD] = "INSERT INTO orgs (name, forge, created_at) VALUES (?1, ?2, ?3) "
		       "RETURNING id",
	[ST_ORG_GET] = "SELECT id, name, forge, created_at FROM orgs WHERE name = ?1",
	[ST_ORG_LIST] = "SELECT id, name, forge, created_at FROM orgs ORDER BY name",
	[ST_REPO_ADD] = "INSERT INTO repos (org_id, name, default_branch, source, created_at) "
			"VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
	[ST_REPO_GET] = REPO_SELECT "WHERE o.name = ?1 AND r.name = ?2",
	[ST_REPO_LIST] = REPO_SELECT "WHERE o.name = ?1 ORDER BY r.name",
	[ST_PR_INSERT] = "INSERT INTO prs (repo_id, number, task_id, job_id, head, base, title, "
			 "body, state, labels, author, created_at, updated_at) VALUES (?1, "
			 "(SELECT coalesce(max(number), 0) + 1 FROM prs WHERE repo_id = ?1), ?2, "
			 "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) RETURNING id, number",
	[ST_PR_GET] = PR_SELECT "WHERE o.name = ?1 AND r.name = ?2 AND p.number = ?3",
	[ST_PR_GET_ID] = PR_SELECT "WHERE p.id = ?1",
	[ST_PR_FIND_JOB] = PR_SELECT "WHERE p.job_id = ?1 ORDER BY p.id DESC LIMIT 1",
	[ST_PR_FIND_HEAD] = PR_SELECT "WHERE p.repo_id = ?1 AND p.head = ?2 AND p.state IN "
				      "('open', 'draft') ORDER BY p.id DESC LIMIT 1",
	[ST_PR_LIST] = PR_SELECT "WHERE (p.task_id = ?1 OR ?1 IS NULL) AND (o.name = ?2 OR ?2 IS "
				 "NULL) AND (r.name = ?3 OR ?3 IS NULL) AND (p.state = ?4 OR ?4 "
				 "IS NULL) ORDER BY p.created_at DESC, p.id DESC",
	[ST_PR_SAVE] = "UPDATE prs SET title = ?2, body = ?3, state = ?4, labels = ?5, merge_sha = "
		       "?6, closed_by = ?7, closed_at = ?8, updated_at = ?9 WHERE id = ?1",
	[ST_PR_HEAD_ADD] = "INSERT INTO pr_heads (pr_id, seq, sha, forced, pushed_by, created_at) "
			   "VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM pr_heads WHERE "
			   "pr_id = ?1), ?2, ?3, ?4, ?5) RETURNING seq",
	[ST_PR_HEAD_LIST] = "SELECT seq, sha, forced, pushed_by, created_at FROM pr_heads "
			    "WHERE pr_id = ?1 ORDER BY seq",
	/* no id given: NULL is not a value for an identity column on PostgreSQL */
	[ST_PR_COMMENT_ADD] = "INSERT INTO pr_comments (pr_id, kind, author, body, path, line, "
			      "head_sha, in_reply_to, created_at, handled_at) VALUES (?1, ?2, ?3, "
			      "?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
	[ST_PR_COMMENT_GET] = "SELECT " COMMENT_COLS " FROM pr_comments WHERE id = ?1",
	[ST_PR_COMMENT_LIST] = "SELECT " COMMENT_COLS " FROM pr_comments WHERE pr_id = ?1 "
			       "ORDER BY id",
	[ST_PR_COMMENT_HANDLED] = "UPDATE pr_comments SET handled_at = ?2 WHERE id = ?1",
	/*
	 * A task is free for worker ?2 when nobody owns it, it owns it
	 * already, or its owner's heartbeat is older than ?3 (or gone).
	 */
	[ST_TASK_SET_BRAIN] = "UPDATE tasks SET brain = ?2, recipe = ?3, updated_at = ?4 "
			      "WHERE id = ?1",
	[ST_TASK_SET_DEADLINE] = "UPDATE tasks SET deadline_at = ?2, updated_at = ?3 WHERE id = ?1",
	[ST_TASK_CLAIM] = "UPDATE tasks SET owner = ?2 WHERE id = ?1 AND (owner IS NULL OR "
			  "owner = ?2 OR NOT EXISTS (SELECT 1 FROM workers WHERE workers.id = "
			  "tasks.owner AND heartbeat_at >= ?3))",
	[ST_TASK_RELEASE] = "UPDATE tasks SET owner = NULL WHERE id = ?1 AND owner = ?2",
	[ST_TASK_CLAIMABLE] =
		"SELECT " TASK_COLS " FROM tasks WHERE state IN ('queued', 'analyzing', "
		"'running', 'waiting_input', 'paused') AND (owner IS NULL OR owner = ?1 OR NOT "
		"EXISTS (SELECT 1 FROM workers WHERE workers.id = tasks.owner AND heartbeat_at >= "
		"?2)) ORDER BY created_at, rowid LIMIT ?3",
	[ST_JOB_SET_PROGRESS] = "UPDATE jobs SET step = ?2, attempt = ?3, branch = coalesce(?4, "
				"branch), updated_at = ?5 WHERE id = ?1",
	[ST_JOB_SET_BRANCH] = "UPDATE jobs SET branch = ?2, updated_at = ?3 WHERE id = ?1",
	/* FIFO across tasks: older tasks first, then plan order. */
	[ST_JOB_QUEUE_POS] =
		"SELECT count(*) FROM jobs j JOIN tasks t ON t.id = j.task_id, "
		"(SELECT t2.created_at AS tc, t2.rowid AS tr, j2.position AS jp, j2.rowid AS jr "
		" FROM jobs j2 JOIN tasks t2 ON t2.id = j2.task_id WHERE j2.id = ?1) me "
		"WHERE j.state = 'queued' AND t.state = 'running' AND "
		"(t.created_at, t.rowid, j.position, j.rowid) < (me.tc, me.tr, me.jp, me.jr)",
	[ST_WORKER_BEAT] = "INSERT INTO workers (id, host, pid, started_at, heartbeat_at) "
			   "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET "
			   "heartbeat_at = excluded.heartbeat_at",
	[ST_WORKER_REMOVE] = "DELETE FROM workers WHERE id = ?1",
	[ST_WORKER_GET] = "SELECT id, host, pid, started_at, heartbeat_at FROM workers "
			  "WHERE id = ?1",
	[ST_WORKER_LIST] =
		"SELECT id, host, pid, started_at, heartbeat_at FROM workers ORDER BY id",
	[ST_WORKER_ANY_ALIVE] = "SELECT count(*) FROM workers WHERE heartbeat_at >= ?1",
	[ST_STEP_PUT] = "INSERT INTO steps (task_id, job_id, attempt, name, result, created_at) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (task_id, job_id, attempt, "
			"name) DO UPDATE SET result = excluded.result",
	[ST_STEP_GET] = "SELECT result FROM steps WHERE task_id = ?1 AND job_id = ?2 AND "
			"attempt = ?3 AND name = ?4",
	[ST_STEP_LIST] = "SELECT job_id, attempt, name, result, created_at FROM steps "
			 "WHERE task_id = ?1 ORDER BY created_at, rowid",
	[ST_STEP_LIST_JOB] = "SELECT job_id, attempt, name, result, created_at FROM steps "
			     "WHERE task_id = ?1 AND job_id = ?2 ORDER BY created_at, rowid",
	[ST_CONTROL_ADD] = "INSERT INTO control_requests (task_id, job_id, kind, payload, "
			   "created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
	[ST_CONTROL_GET] = "SELECT id, task_id, job_id, kind, payload, state, result, "
			   "created_at, handled_at FROM control_requests WHERE id = ?1",
	[ST_CONTROL_PENDING] = "SELECT id, task_id, job_id, kind, payload, state, result, "
			       "created_at, handled_at FROM control_requests WHERE task_id = ?1 "
			       "AND state = 'pending' ORDER BY id",
	[ST_CONTROL_FINISH] = "UPDATE control_requests SET state = ?2, result = ?3, "
			      "handled_at = ?4 WHERE id = ?1 AND state = 'pending'",
	/*
	 * Tasks with optional filters (?1 state, ?2 org, ?3 words of the title)
	 * and, per task, its jobs: all, no longer at work, failed or cancelled.
	 * Newest first by insertion order (rowid), which needs no sort: the
	 * page is found by walking the table backwards.
	 */
	[ST_TASK_QUERY] =
		"SELECT " TASK_COLS ", (SELECT count(*) FROM jobs j WHERE j.task_id = t.id), "
		"(SELECT count(*) FROM jobs j WHERE j.task_id = t.id AND j.state NOT IN "
		"('queued', 'provisioning', 'researching', 'coding', 'verifying', 'retrying', "
		"'revising')), (SELECT count(*) FROM jobs j WHERE j.task_id = t.id AND "
		"j.state IN ('failed', 'cancelled')) FROM (SELECT rowid AS rid, * FROM tasks "
		"WHERE (state = ?1 OR ?1 IS NULL) AND (org = ?2 OR ?2 IS NULL) AND "
		"(instr(lower(title), lower(?3)) > 0 OR ?3 IS NULL) ORDER BY rowid DESC LIMIT ?4 "
		"OFFSET ?5) t "
		"ORDER BY rid DESC",
	[ST_TASK_SET_OPTIONS] = "UPDATE tasks SET options = ?2, updated_at = ?3 WHERE id = ?1",
	[ST_JOB_QUERY] = "SELECT " JOB_COLS " FROM jobs WHERE (task_id = ?1 OR ?1 IS NULL) AND "
			 "(state = ?2 OR ?2 IS NULL) AND (repo = ?3 OR ?3 IS NULL) "
			 "ORDER BY created_at DESC, rowid DESC LIMIT ?4 OFFSET ?5",
	[ST_TASK_STATE_COUNTS] = "SELECT state, count(*) FROM tasks GROUP BY state ORDER BY state",
	[ST_JOB_STATE_COUNTS] = "SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state",
	[ST_QUEUE_LENGTH] = "SELECT count(*) FROM jobs j JOIN tasks t ON t.id = j.task_id "
			    "WHERE j.state = 'queued' AND t.state = 'running'",
	[ST_MODEL_TOKENS] = "SELECT coalesce(sum(json_extract(data, '$.prompt_tokens')), 0), "
			    "coalesce(sum(json_extract(data, '$.completion_tokens')), 0) "
			    "FROM events WHERE kind = 'llm.usage'",
#define FEEDBACK_COLS                                                                    \
 "id, task_id, job_id, pr, comment_id, origin_id, author, body, path, line, can_write, " \
 "state, attempt, result, created_at, handled_at"
	/* a copy carried to a sibling exists once per job */
	[ST_FEEDBACK_ADD] =
		"INSERT INTO feedback (task_id, job_id, pr, comment_id, origin_id, author, "
		"body, path, line, can_write, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		"?7, ?8, ?9, ?10, ?11) ON CONFLICT (job_id, origin_id) DO NOTHING RETURNING id",
	[ST_FEEDBACK_FIND] = "SELECT id FROM feedback WHERE job_id = ?1 AND origin_id = ?2",
	[ST_FEEDBACK_GET] = "SELECT " FEEDBACK_COLS " FROM feedback WHERE id = ?1",
	[ST_FEEDBACK_CLAIM] = "UPDATE feedback SET attempt = ?2 WHERE job_id = ?1 AND state = "
			      "'pending' AND attempt IS NULL",
	/* ?2 < 0: every row of the job; else the rows an attempt claimed */
	[ST_FEEDBACK_LIST] = "SELECT " FEEDBACK_COLS " FROM feedback WHERE job_id = ?1 AND "
			     "(?2 < 0 OR attempt = ?2) ORDER BY id",
	[ST_FEEDBACK_FINISH] = "UPDATE feedback SET state = ?2, result = ?3, handled_at = ?4 WHERE "
			       "id = ?1",
	/* a redelivery keeps its id: the first copy stays, the second adds nothing */
	[ST_WEBHOOK_ADD] = "INSERT INTO webhook_deliveries (" WEBHOOK_COLS ", payload) VALUES (?1, "
			   "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
	[ST_WEBHOOK_PENDING] = "SELECT " WEBHOOK_COLS ", payload FROM webhook_deliveries WHERE "
			       "status = 'received' ORDER BY rowid LIMIT ?1",
	[ST_WEBHOOK_LIST] = "SELECT " WEBHOOK_COLS ", NULL FROM webhook_deliveries ORDER BY rowid "
			    "DESC LIMIT ?1",
	[ST_WEBHOOK_FINISH] =
		"UPDATE webhook_deliveries SET status = ?2, error = ?3, task_id = ?4, "
		"handled_at = ?5 WHERE id = ?1 AND status = 'received'",
	[ST_WEBHOOK_SUBJECT_LAST] = "SELECT coalesce(max(received_at), 0) FROM webhook_deliveries "
				    "WHERE status = 'received' AND subject = ?1",
	/* the same expressions as the index tasks_by_github_issue */
	[ST_TASK_FIND_GITHUB] = "SELECT " TASK_COLS " FROM tasks WHERE json_extract(options, "
				"'$.github.repo') = ?1 AND json_extract(options, '$.github.issue') "
				"= ?2 ORDER BY rowid DESC LIMIT 1",
};

/*
 * The statements whose SQL differs on PostgreSQL (the rest is the same
 * text): SQLite's bookkeeping tables and PRAGMAs, and arithmetic on
 * json_extract(), which is text there (schema.c).
 */
static const char *const stmt_sql_pg[ST_COUNT] = {
	/*
	 * An event's id is taken under the writers' lock (the one pg_begin()
	 * in db_pg.c takes, held to the commit), also when the append is a
	 * transaction of its own: ids then commit in order, and a reader of
	 * the events after an id cannot pass over one that commits later.
	 */
	[ST_EVENT_APPEND] = "WITH l AS (SELECT pg_advisory_xact_lock(1853321586)) "
			    "INSERT INTO events (task_id, job_id, kind, data, created_at) "
			    "SELECT ?1, ?2, ?3, ?4, ?5 FROM l RETURNING id",
	/* events are append-only: the newest id is the highest */
	[ST_EVENT_LAST] = "SELECT coalesce(max(id), 0) FROM events",
	[ST_MODEL_TOKENS] = "SELECT coalesce(sum((data::json ->> 'prompt_tokens')::numeric), 0), "
			    "coalesce(sum((data::json ->> 'completion_tokens')::numeric), 0) "
			    "FROM events WHERE kind = 'llm.usage'",
};

struct nsh_store {
	struct nsh_db *db;		  /* the connection */
	char *path;			  /* database file name or url */
	char *shown;			  /* @path for messages (no password) */
	struct nsh_db_stmt *st[ST_COUNT]; /* prepared on first use */
	int depth;		   /* open transactions: 1 the outer one, more are savepoints */
	int64_t txn_event;	   /* newest event id appended in the open transaction */
	struct nsh_notify *notify; /* posted with event ids at commit, or NULL */
	bool listening;		   /* PostgreSQL: LISTEN nsh_events is on */
	struct {
		const char *sql;	/* the key: a static string's address */
		struct nsh_db_stmt *st; /* its statement */
	} * ext;			/* statements of the store's other files */
	size_t next, ext_alloc;		/* entries in use, allocated */
};

/* Record the driver's view of the last failure on @s, prefixed by @what. */
static int db_fail(struct nsh_store *s, struct nsh_err *err, const char *what)
{
	return nsh_db_fail(s->db, err, what);
}

/* The prepared statement @id, reset and ready for binding; NULL on error. */
static struct nsh_db_stmt *stmt(struct nsh_store *s, enum stmt_id id, struct nsh_err *err)
{
	if (!s->st[id])
		s->st[id] = nsh_db_prepare(s->db,
					   nsh_db_kind(s->db) == NSH_DB_PG && stmt_sql_pg[id]
						   ? stmt_sql_pg[id]
						   : stmt_sql[id],
					   err);
	return s->st[id];
}

static void stmt_done(struct nsh_db_stmt *st)
{
	nsh_db_reset(st);
}

static void bind_text(struct nsh_db_stmt *st, int i, const char *v)
{
	nsh_db_bind_text(st, i, v);
}

static void bind_ms(struct nsh_db_stmt *st, int i, int64_t ms)
{
	if (ms)
		nsh_db_bind_int64(st, i, ms);
	else
		nsh_db_bind_null(st, i);
}

/* A column as an owned string, or NULL when it is NULL. */
static char *col_text(struct nsh_db_stmt *st, int i)
{
	const char *p = nsh_db_col_text(st, i);

	return p ? nsh_xmemdup(p, nsh_db_col_bytes(st, i)) : NULL;
}

/* ---- for the store's other files (store_int.h) ---- */

struct nsh_db *nsh_store_db(struct nsh_store *s)
{
	return s->db;
}

int nsh_store_db_fail(struct nsh_store *s, struct nsh_err *err, const char *what)
{
	return db_fail(s, err, what);
}

struct nsh_db_stmt *nsh_store_stmt_sql(struct nsh_store *s, const char *sql, struct nsh_err *err)
{
	struct nsh_db_stmt *st;

	for (size_t i = 0; i < s->next; i++)
		if (s->ext[i].sql == sql)
			return s->ext[i].st;
	st = nsh_db_prepare(s->db, sql, err);
	if (!st)
		return NULL;
	NSH_ALLOC_GROW(s->ext, s->next + 1, s->ext_alloc);
	s->ext[s->next].sql = sql;
	s->ext[s->next++].st = st;
	return st;
}

void nsh_store_stmt_done(struct nsh_db_stmt *st)
{
	stmt_done(st);
}

void nsh_store_bind_text(struct nsh_db_stmt *st, int i, const char *v)
{
	bind_text(st, i, v);
}

void nsh_store_bind_ms(struct nsh_db_stmt *st, int i, int64_t ms)
{
	bind_ms(st, i, ms);
}

char *nsh_store_col_text(struct nsh_db_stmt *st, int i)
{
	return col_text(st, i);
}

static int exec(struct nsh_store *s, const char *sql, struct nsh_err *err)
{
	return nsh_db_exec(s->db, sql, err);
}

/* ---- opening and migrating ---- */

/* Run @sql, a query of one integer, into @ret. */
static int query_int(struct nsh_store *s, const char *sql, int64_t *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = nsh_db_prepare(s->db, sql, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		*ret = nsh_db_col_int64(st, 0);
		rc = 0;
	} else {
		rc = db_fail(s, err, "reading the schema version");
	}
	nsh_db_finalize(st);
	return rc;
}

static int read_version(struct nsh_store *s, int *ret, struct nsh_err *err)
{
	int64_t v = 0;
	int rc;

	/* A database without the table is at version 0. */
	rc = query_int(
		s,
		nsh_db_kind(s->db) == NSH_DB_SQLITE
			? "SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'"
			: "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = "
			  "'schema_migrations' AND schemaname = current_schema()",
		&v, err);
	if (rc)
		return rc;
	if (v)
		rc = query_int(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", &v,
			       err);
	if (!rc)
		*ret = (int)v;
	return rc;
}

static int apply_migration(struct nsh_store *s, const struct nsh_store_migration *m,
			   struct nsh_err *err)
{
	struct nsh_db_stmt *st = NULL;
	int have;
	int rc;

	rc = nsh_db_begin(s->db, err);
	if (rc)
		return rc;
	rc = exec(s,
		  nsh_db_kind(s->db) == NSH_DB_SQLITE
			  ? "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    "  version INTEGER PRIMARY KEY,"
			    "  name TEXT NOT NULL,"
			    "  applied_at INTEGER NOT NULL"
			    ") STRICT"
			  : "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    "  version BIGINT PRIMARY KEY,"
			    "  name TEXT NOT NULL,"
			    "  applied_at BIGINT NOT NULL"
			    ")",
		  err);
	if (rc)
		goto out;
	/* Another process may have applied it while we waited for the lock. */
	rc = read_version(s, &have, err);
	if (rc || have >= m->version)
		goto out;
	rc = exec(s, m->sql, err);
	if (rc) {
		nsh_err_wrap(err, "applying migration %d (%s)", m->version, m->name);
		goto out;
	}
	st = nsh_db_prepare(s->db,
			    "INSERT INTO schema_migrations (version, name, applied_at) "
			    "VALUES (?1, ?2, ?3)",
			    err);
	if (!st) {
		rc = err ? err->code : NSH_EIO;
		goto out;
	}
	nsh_db_bind_int64(st, 1, m->version);
	nsh_db_bind_text(st, 2, m->name);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "recording a migration");
out:
	nsh_db_finalize(st);
	if (rc) {
		nsh_db_rollback(s->db);
		return rc;
	}
	return nsh_db_commit(s->db, err);
}

static int migrate(struct nsh_store *s, int target, struct nsh_err *err)
{
	const struct nsh_store_migration *m;
	size_t nr;
	int have;
	int rc;

	rc = read_version(s, &have, err);
	if (rc)
		return rc;
	if (have > NSH_STORE_SCHEMA_VERSION)
		return nsh_err_set(
			err, NSH_EVERSION,
			"database '%s' has schema version %d, newer than this nightshift "
			"supports (%d); upgrade nightshift",
			s->shown, have, NSH_STORE_SCHEMA_VERSION);
	m = nsh_store_migrations_for(nsh_db_kind(s->db), &nr);
	if (!nr || m[nr - 1].version < target)
		return nsh_err_set(err, NSH_EVERSION,
				   "this nightshift has no schema version %d for postgresql",
				   target);
	for (size_t i = 0; i < nr && m[i].version <= target; i++) {
		if (m[i].version <= have)
			continue;
		rc = apply_migration(s, &m[i], err);
		if (rc)
			return rc;
	}
	return 0;
}

int nsh_store_open_version(const char *path, int version, struct nsh_store **ret,
			   struct nsh_err *err)
{
	struct nsh_store *s = nsh_xcalloc(1, sizeof(*s));
	int rc;

	if (nsh_store_target_is_pg(path)) {
		s->path = nsh_xstrdup(path);
		s->shown = nsh_pg_url_shown(path);
		rc = nsh_db_open_pg(path, &s->db, err);
	} else {
		s->path = nsh_xstrdup(path);
		s->shown = nsh_xstrdup(path);
		rc = nsh_db_open_sqlite(path, NSH_STORE_BUSY_TIMEOUT_MS, &s->db, err);
	}
	if (rc)
		goto out;
	rc = migrate(s, version, err);
	if (!rc && version >= 7)
		rc = nsh_store_memory_setup(s, version, err);
out:
	if (rc) {
		nsh_store_close(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void nsh_store_each_sql(enum nsh_db_kind kind, void (*fn)(const char *sql, void *ctx), void *ctx)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (kind == NSH_DB_PG && i == ST_DATA_VERSION)
			continue; /* not run there (nsh_store_data_version()) */
		fn(kind == NSH_DB_PG && stmt_sql_pg[i] ? stmt_sql_pg[i] : stmt_sql[i], ctx);
	}
	nsh_store_memory_each_sql(fn, ctx);
	nsh_store_runner_each_sql(fn, ctx);
}

char *nsh_store_target(const char *home, const char *env, const struct nsh_config *cfg)
{
	const char *url = nsh_pgq_url(env, cfg);

	return url ? nsh_xstrdup(url) : nsh_xasprintf("%s/nightshift.db", home);
}

bool nsh_store_target_is_pg(const char *target)
{
	return !strncmp(target, "postgres://", 11) || !strncmp(target, "postgresql://", 13);
}

int nsh_store_open(const char *path, struct nsh_store **ret, struct nsh_err *err)
{
	return nsh_store_open_version(path, NSH_STORE_SCHEMA_VERSION, ret, err);
}

void nsh_store_close(struct nsh_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		nsh_db_finalize(s->st[i]);
	for (size_t i = 0; i < s->next; i++)
		nsh_db_finalize(s->ext[i].st);
	free(s->ext);
	nsh_db_close(s->db);
	free(s->path);
	free(s->shown);
	free(s);
}

int nsh_store_schema_version(struct nsh_store *s, int *ret, struct nsh_err *err)
{
	return read_version(s, ret, err);
}

const char *nsh_store_path(const struct nsh_store *s)
{
	return s->path;
}

void nsh_store_set_notify(struct nsh_store *s, struct nsh_notify *n)
{
	s->notify = n;
}

/* ---- transactions ---- */

/*
 * Transactions nest: the outer one is BEGIN IMMEDIATE, inner ones are
 * savepoints, so a function that keeps its own work atomic can be called
 * from inside a larger transaction.
 */
int nsh_store_begin(struct nsh_store *s, struct nsh_err *err)
{
	char sql[48];
	int rc;

	if (s->depth) {
		snprintf(sql, sizeof(sql), "SAVEPOINT nsh_%d", s->depth);
		rc = exec(s, sql, err);
	} else {
		rc = nsh_db_begin(s->db, err);
		s->txn_event = 0;
	}
	if (rc)
		return rc;
	s->depth++;
	return 0;
}

int nsh_store_commit(struct nsh_store *s, struct nsh_err *err)
{
	char sql[48];
	int rc;

	if (!s->depth)
		return nsh_err_set(err, NSH_ECONFLICT, "no transaction is open");
	if (s->depth > 1) {
		snprintf(sql, sizeof(sql), "RELEASE nsh_%d", s->depth - 1);
		rc = exec(s, sql, err);
		if (rc) {
			nsh_store_rollback(s);
			return rc;
		}
		s->depth--;
		return 0;
	}
	rc = exec(s, "COMMIT", err);
	if (rc) {
		nsh_store_rollback(s);
		return rc;
	}
	s->depth = 0;
	if (s->txn_event && s->notify)
		nsh_notify_post(s->notify, s->txn_event);
	return 0;
}

void nsh_store_rollback(struct nsh_store *s)
{
	char sql[80];

	if (s->depth > 1) {
		snprintf(sql, sizeof(sql), "ROLLBACK TO nsh_%d; RELEASE nsh_%d", s->depth - 1,
			 s->depth - 1);
		exec(s, sql, NULL);
		s->depth--;
		return;
	}
	nsh_db_rollback(s->db);
	s->depth = 0;
	s->txn_event = 0;
}

int nsh_store_data_version(struct nsh_store *s, int64_t *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st;
	int rc = 0;

	/*
	 * PostgreSQL has no such number: a statement that appends events
	 * NOTIFYs nsh_events when it commits (migration 14), and the number is
	 * how many such notifications this connection has received. Reading it
	 * sends nothing to the server.
	 */
	if (nsh_db_kind(s->db) == NSH_DB_PG) {
		if (!s->listening) {
			rc = nsh_db_pg_listen(s->db, "nsh_events", err);
			if (rc)
				return rc;
			s->listening = true;
		}
		return nsh_db_pg_notifications(s->db, ret, err);
	}
	st = stmt(s, ST_DATA_VERSION, err);
	if (!st)
		return err ? err->code : NSH_EIO;
	if (nsh_db_step(st) == NSH_DB_ROW)
		*ret = nsh_db_col_int64(st, 0);
	else
		rc = db_fail(s, err, "reading the data version");
	stmt_done(st);
	return rc;
}

/* ---- tasks ---- */

void nsh_task_rec_release(struct nsh_task_rec *t)
{
	if (!t)
		return;
	free(t->id);
	free(t->title);
	free(t->state);
	free(t->paused_from);
	free(t->org);
	free(t->brain);
	free(t->recipe);
	free(t->network);
	free(t->error);
	free(t->options);
	free(t->owner);
	memset(t, 0, sizeof(*t));
}

static void task_from_row(struct nsh_db_stmt *st, struct nsh_task_rec *t)
{
	t->id = col_text(st, 0);
	t->title = col_text(st, 1);
	t->state = col_text(st, 2);
	t->paused_from = col_text(st, 3);
	t->org = col_text(st, 4);
	t->brain = col_text(st, 5);
	t->recipe = col_text(st, 6);
	t->network = col_text(st, 7);
	t->error = col_text(st, 8);
	t->created_ms = nsh_db_col_int64(st, 9);
	t->updated_ms = nsh_db_col_int64(st, 10);
	t->deadline_ms = nsh_db_col_int64(st, 11);
	t->options = col_text(st, 12);
	t->owner = col_text(st, 13);
}

int nsh_store_task_insert(struct nsh_store *s, const struct nsh_task_rec *t, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_INSERT, err);
	int64_t now = nsh_time_now_ms();
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, t->id);
	bind_text(st, 2, t->title);
	bind_text(st, 3, t->state);
	bind_text(st, 4, t->paused_from);
	bind_text(st, 5, t->org);
	bind_text(st, 6, t->brain);
	bind_text(st, 7, t->recipe);
	bind_text(st, 8, t->network ? t->network : "integration");
	bind_text(st, 9, t->error);
	nsh_db_bind_int64(st, 10, t->created_ms ? t->created_ms : now);
	nsh_db_bind_int64(st, 11, t->updated_ms ? t->updated_ms : now);
	bind_ms(st, 12, t->deadline_ms);
	bind_text(st, 13, t->options ? t->options : "{}");
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "adding a task");
	stmt_done(st);
	return rc;
}

/*
 * Read the one row that statement @id finds for @key into @row with @fill;
 * NSH_ENOTFOUND ("no @kind '@key'") when there is none.
 */
static int get_row(struct nsh_store *s, enum stmt_id id, const char *key,
		   void (*fill)(struct nsh_db_stmt *, void *), void *row, const char *kind,
		   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, id, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, key);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		fill(st, row);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no %s '%s'", kind, key);
	} else {
		rc = db_fail(s, err, "reading a row");
	}
	stmt_done(st);
	return rc;
}

static void fill_task(struct nsh_db_stmt *st, void *row)
{
	task_from_row(st, row);
}

int nsh_store_task_get(struct nsh_store *s, const char *id, struct nsh_task_rec *ret,
		       struct nsh_err *err)
{
	return get_row(s, ST_TASK_GET, id, fill_task, ret, "task", err);
}

/* Whether the one-column query @id finds a row for @key; errors say yes. */
static bool row_exists(struct nsh_store *s, enum stmt_id id, const char *key)
{
	struct nsh_db_stmt *st = stmt(s, id, NULL);
	bool found;

	if (!st)
		return true;
	bind_text(st, 1, key);
	found = nsh_db_step(st) != NSH_DB_DONE;
	stmt_done(st);
	return found;
}

bool nsh_store_task_exists(struct nsh_store *s, const char *id)
{
	return row_exists(s, ST_TASK_EXISTS, id);
}

int nsh_store_task_set_state(struct nsh_store *s, const char *id, const char *state,
			     const char *paused_from, const char *error, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_SET_STATE, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, state);
	bind_text(st, 3, paused_from);
	bind_text(st, 4, error);
	nsh_db_bind_int64(st, 5, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a task");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_task_list(struct nsh_store *s, const char *state, size_t limit,
			struct nsh_task_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, state ? ST_TASK_LIST_STATE : ST_TASK_LIST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, limit ? (int64_t)limit : INT64_MAX);
	if (state)
		bind_text(st, 2, state);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		task_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing tasks");
	stmt_done(st);
	return rc;
}

void nsh_task_list_release(struct nsh_task_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_task_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- jobs ---- */

void nsh_job_rec_release(struct nsh_job_rec *j)
{
	if (!j)
		return;
	free(j->id);
	free(j->task_id);
	free(j->repo);
	free(j->state);
	free(j->step);
	free(j->branch);
	free(j->error);
	memset(j, 0, sizeof(*j));
}

static void job_from_row(struct nsh_db_stmt *st, struct nsh_job_rec *j)
{
	j->id = col_text(st, 0);
	j->task_id = col_text(st, 1);
	j->repo = col_text(st, 2);
	j->state = col_text(st, 3);
	j->step = col_text(st, 4);
	j->branch = col_text(st, 5);
	j->error = col_text(st, 6);
	j->position = nsh_db_col_int64(st, 7);
	j->attempt = nsh_db_col_int64(st, 8);
	j->created_ms = nsh_db_col_int64(st, 9);
	j->updated_ms = nsh_db_col_int64(st, 10);
}

int nsh_store_job_insert(struct nsh_store *s, const struct nsh_job_rec *j, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_INSERT, err);
	int64_t now = nsh_time_now_ms();
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, j->id);
	bind_text(st, 2, j->task_id);
	bind_text(st, 3, j->repo);
	bind_text(st, 4, j->state);
	bind_text(st, 5, j->step);
	bind_text(st, 6, j->branch);
	bind_text(st, 7, j->error);
	nsh_db_bind_int64(st, 8, j->position);
	nsh_db_bind_int64(st, 9, j->attempt);
	nsh_db_bind_int64(st, 10, j->created_ms ? j->created_ms : now);
	nsh_db_bind_int64(st, 11, j->updated_ms ? j->updated_ms : now);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "adding a job");
	stmt_done(st);
	return rc;
}

static void fill_job(struct nsh_db_stmt *st, void *row)
{
	job_from_row(st, row);
}

int nsh_store_job_get(struct nsh_store *s, const char *id, struct nsh_job_rec *ret,
		      struct nsh_err *err)
{
	return get_row(s, ST_JOB_GET, id, fill_job, ret, "job", err);
}

bool nsh_store_job_exists(struct nsh_store *s, const char *id)
{
	return row_exists(s, ST_JOB_EXISTS, id);
}

int nsh_store_job_set_state(struct nsh_store *s, const char *id, const char *state,
			    const char *error, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_SET_STATE, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, state);
	bind_text(st, 3, error);
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a job");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_job_list(struct nsh_store *s, const char *task_id, struct nsh_job_list *ret,
		       struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_LIST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		job_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing jobs");
	stmt_done(st);
	return rc;
}

void nsh_job_list_release(struct nsh_job_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_job_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- events ---- */

void nsh_event_list_release(struct nsh_event_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].task_id);
		free(l->v[i].job_id);
		free(l->v[i].kind);
		free(l->v[i].data);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_event_append(struct nsh_store *s, const char *task_id, const char *job_id,
			   const char *kind, const char *data, int64_t *ret_id, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_EVENT_APPEND, err);
	int64_t id;
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	bind_text(st, 2, job_id);
	bind_text(st, 3, kind);
	bind_text(st, 4, data ? data : "{}");
	nsh_db_bind_int64(st, 5, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_ROW) {
		rc = db_fail(s, err, "appending an event");
		goto out;
	}
	id = nsh_db_col_int64(st, 0);
	if (s->depth)
		s->txn_event = id;
	else if (s->notify)
		nsh_notify_post(s->notify, id);
	if (ret_id)
		*ret_id = id;
out:
	stmt_done(st);
	return rc;
}

int nsh_store_events_after(struct nsh_store *s, int64_t after_id, const char *task_id, size_t max,
			   struct nsh_event_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, task_id ? ST_EVENTS_AFTER_TASK : ST_EVENTS_AFTER, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, after_id);
	nsh_db_bind_int64(st, 2, max ? (int64_t)max : INT64_MAX);
	if (task_id)
		bind_text(st, 3, task_id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_event_rec *e;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		e = &ret->v[ret->nr++];
		e->id = nsh_db_col_int64(st, 0);
		e->task_id = col_text(st, 1);
		e->job_id = col_text(st, 2);
		e->kind = col_text(st, 3);
		e->data = col_text(st, 4);
		e->created_ms = nsh_db_col_int64(st, 5);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "reading events");
	stmt_done(st);
	return rc;
}

int nsh_store_event_last_id(struct nsh_store *s, int64_t *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_EVENT_LAST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW || rc == NSH_DB_DONE) {
		*ret = rc == NSH_DB_ROW ? nsh_db_col_int64(st, 0) : 0;
		rc = 0;
	} else {
		rc = db_fail(s, err, "reading the last event id");
	}
	stmt_done(st);
	return rc;
}

/* ---- specs ---- */

int nsh_store_spec_add(struct nsh_store *s, const char *task_id, const char *body,
		       int64_t *ret_version, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SPEC_ADD, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	bind_text(st, 2, body);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		if (ret_version)
			*ret_version = nsh_db_col_int64(st, 0);
		rc = 0;
	} else {
		rc = db_fail(s, err, "adding a spec");
	}
	stmt_done(st);
	return rc;
}

int nsh_store_spec_get(struct nsh_store *s, const char *task_id, int64_t version, char **ret_body,
		       int64_t *ret_version, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, version ? ST_SPEC_GET : ST_SPEC_GET_LATEST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	if (version)
		nsh_db_bind_int64(st, 2, version);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		*ret_body = col_text(st, 0);
		if (ret_version)
			*ret_version = nsh_db_col_int64(st, 1);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = version ? nsh_err_set(err, NSH_ENOTFOUND, "task '%s' has no spec version %lld",
					   task_id, (long long)version)
			     : nsh_err_set(err, NSH_ENOTFOUND, "task '%s' has no spec yet",
					   task_id);
	} else {
		rc = db_fail(s, err, "reading a spec");
	}
	stmt_done(st);
	return rc;
}

/* ---- secrets ---- */

/*
 * The rows of the secrets vault. The store only moves opaque ciphertext:
 * encryption, the key and the meaning of a scope live in src/secrets/.
 */

void nsh_secret_rec_release(struct nsh_secret_rec *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->scope);
	memset(r, 0, sizeof(*r));
}

void nsh_secret_list_release(struct nsh_secret_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_secret_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_secret_put(struct nsh_store *s, const char *name, const char *scope, const void *blob,
			 size_t len, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SECRET_PUT, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, name);
	bind_text(st, 2, scope);
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	/* past the engine's length limit the step fails */
	nsh_db_bind_blob(st, 3, blob, len);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "storing a secret");
	stmt_done(st);
	return rc;
}

int nsh_store_secret_get(struct nsh_store *s, const char *name, const char *scope, void **ret_blob,
			 size_t *ret_len, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SECRET_GET, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, name);
	bind_text(st, 2, scope);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		size_t n = (size_t)nsh_db_col_bytes(st, 0);

		*ret_blob = nsh_xmemdup(nsh_db_col_blob(st, 0), n);
		*ret_len = n;
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no secret '%s' in scope '%s'", name, scope);
	} else {
		rc = db_fail(s, err, "reading a secret");
	}
	stmt_done(st);
	return rc;
}

int nsh_store_secret_list(struct nsh_store *s, struct nsh_secret_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SECRET_LIST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_secret_rec *r;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		r = &ret->v[ret->nr++];
		r->name = col_text(st, 0);
		r->scope = col_text(st, 1);
		r->created_ms = nsh_db_col_int64(st, 2);
		r->updated_ms = nsh_db_col_int64(st, 3);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing secrets");
	stmt_done(st);
	return rc;
}

int nsh_store_secret_delete(struct nsh_store *s, const char *name, const char *scope,
			    struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SECRET_DELETE, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, name);
	bind_text(st, 2, scope);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "removing a secret");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no secret '%s' in scope '%s'", name, scope);
	stmt_done(st);
	return rc;
}

int nsh_store_secret_count(struct nsh_store *s, int64_t *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SECRET_COUNT, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	if (nsh_db_step(st) == NSH_DB_ROW)
		*ret = nsh_db_col_int64(st, 0);
	else
		rc = db_fail(s, err, "counting secrets");
	stmt_done(st);
	return rc;
}

int nsh_store_secret_each(struct nsh_store *s, const char *const scopes[NSH_STORE_SECRET_SCOPES],
			  nsh_store_secret_fn *fn, void *ctx, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_SECRET_IN_SCOPES, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	/* A NULL scope binds NULL, which equals nothing. */
	for (int i = 0; i < NSH_STORE_SECRET_SCOPES; i++)
		bind_text(st, i + 1, scopes[i]);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		const void *blob = nsh_db_col_blob(st, 2);
		size_t len = (size_t)nsh_db_col_bytes(st, 2);

		rc = fn(nsh_db_col_text(st, 0), nsh_db_col_text(st, 1), blob, len, ctx, err);
		if (rc)
			goto out;
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "reading secrets");
out:
	stmt_done(st);
	return rc;
}

/* ---- forge: organisations and repositories ---- */

/*
 * Step @st, which finds at most one row, into @row with @fill. NSH_ENOTFOUND
 * with @missing (already formatted by the caller) when there is none. The
 * statement is reset either way.
 */
static int read_one(struct nsh_store *s, struct nsh_db_stmt *st,
		    void (*fill)(struct nsh_db_stmt *, void *), void *row, const char *missing,
		    struct nsh_err *err)
{
	int rc = nsh_db_step(st);

	if (rc == NSH_DB_ROW) {
		fill(st, row);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "%s", missing);
	} else {
		rc = db_fail(s, err, "reading a row");
	}
	stmt_done(st);
	return rc;
}

/*
 * Step @st through all its rows: for each, @add appends a zeroed row to the
 * caller's @list and returns it, and @fill fills it. The statement is reset.
 */
static int read_all(struct nsh_store *s, struct nsh_db_stmt *st, void *(*add)(void *list),
		    void *list, void (*fill)(struct nsh_db_stmt *, void *), const char *what,
		    struct nsh_err *err)
{
	int rc;

	while ((rc = nsh_db_step(st)) == NSH_DB_ROW)
		fill(st, add(list));
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, what);
	stmt_done(st);
	return rc;
}

/* An add function for read_all() for each list type. */
#define LIST_ADD(fn, type)                   \
 static void *fn(void *list)                 \
 {                                           \
  type *l = list;                            \
  NSH_ALLOC_GROW(l->v, l->nr + 1, l->alloc); \
  memset(&l->v[l->nr], 0, sizeof(l->v[0]));  \
  return &l->v[l->nr++];                     \
 }
LIST_ADD(add_org, struct nsh_org_list)
LIST_ADD(add_repo, struct nsh_repo_list)
LIST_ADD(add_pr, struct nsh_pr_list)
LIST_ADD(add_head, struct nsh_pr_head_list)
LIST_ADD(add_comment, struct nsh_pr_comment_list)

void nsh_org_rec_release(struct nsh_org_rec *o)
{
	if (!o)
		return;
	free(o->name);
	free(o->forge);
	memset(o, 0, sizeof(*o));
}

void nsh_org_list_release(struct nsh_org_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_org_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void fill_org(struct nsh_db_stmt *st, void *row)
{
	struct nsh_org_rec *o = row;

	o->id = nsh_db_col_int64(st, 0);
	o->name = col_text(st, 1);
	o->forge = col_text(st, 2);
	o->created_ms = nsh_db_col_int64(st, 3);
}

int nsh_store_org_add(struct nsh_store *s, const char *name, const char *forge, int64_t *ret_id,
		      struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_ORG_ADD, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, name);
	bind_text(st, 2, forge);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_ROW) {
		rc = db_fail(s, err, "adding an org");
		if (rc == NSH_EEXIST)
			nsh_err_set(err, rc, "org '%s' exists already", name);
	} else if (ret_id) {
		*ret_id = nsh_db_col_int64(st, 0);
	}
	stmt_done(st);
	return rc;
}

int nsh_store_org_get(struct nsh_store *s, const char *name, struct nsh_org_rec *ret,
		      struct nsh_err *err)
{
	return get_row(s, ST_ORG_GET, name, fill_org, ret, "org", err);
}

int nsh_store_org_list(struct nsh_store *s, struct nsh_org_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_ORG_LIST, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	return read_all(s, st, add_org, ret, fill_org, "listing orgs", err);
}

void nsh_repo_rec_release(struct nsh_repo_rec *r)
{
	if (!r)
		return;
	free(r->org);
	free(r->name);
	free(r->default_branch);
	free(r->source);
	memset(r, 0, sizeof(*r));
}

void nsh_repo_list_release(struct nsh_repo_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_repo_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void fill_repo(struct nsh_db_stmt *st, void *row)
{
	struct nsh_repo_rec *r = row;

	r->id = nsh_db_col_int64(st, 0);
	r->org_id = nsh_db_col_int64(st, 1);
	r->org = col_text(st, 2);
	r->name = col_text(st, 3);
	r->default_branch = col_text(st, 4);
	r->source = col_text(st, 5);
	r->created_ms = nsh_db_col_int64(st, 6);
}

int nsh_store_repo_add(struct nsh_store *s, const struct nsh_repo_rec *r, int64_t *ret_id,
		       struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_REPO_ADD, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, r->org_id);
	bind_text(st, 2, r->name);
	bind_text(st, 3, r->default_branch ? r->default_branch : "main");
	bind_text(st, 4, r->source);
	nsh_db_bind_int64(st, 5, r->created_ms ? r->created_ms : nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_ROW) {
		rc = db_fail(s, err, "adding a repository");
		if (rc == NSH_EEXIST)
			nsh_err_set(err, rc, "repository '%s' exists already", r->name);
	} else if (ret_id) {
		*ret_id = nsh_db_col_int64(st, 0);
	}
	stmt_done(st);
	return rc;
}

int nsh_store_repo_get(struct nsh_store *s, const char *org, const char *name,
		       struct nsh_repo_rec *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_REPO_GET, err);
	char missing[NSH_ERR_MSG_MAX];

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, org);
	bind_text(st, 2, name);
	snprintf(missing, sizeof(missing), "no repository '%s/%s'", org, name);
	return read_one(s, st, fill_repo, ret, missing, err);
}

int nsh_store_repo_list(struct nsh_store *s, const char *org, struct nsh_repo_list *ret,
			struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_REPO_LIST, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, org);
	return read_all(s, st, add_repo, ret, fill_repo, "listing repositories", err);
}

/* ---- forge: pull requests ---- */

void nsh_pr_rec_release(struct nsh_pr_rec *p)
{
	if (!p)
		return;
	free(p->org);
	free(p->repo);
	free(p->task_id);
	free(p->job_id);
	free(p->head);
	free(p->base);
	free(p->title);
	free(p->body);
	free(p->state);
	nsh_strvec_release(&p->labels);
	free(p->author);
	free(p->head_sha);
	free(p->merge_sha);
	free(p->closed_by);
	memset(p, 0, sizeof(*p));
}

void nsh_pr_list_release(struct nsh_pr_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_pr_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The labels as the JSON array text the column holds; the caller frees it. */
static char *labels_json(const struct nsh_strvec *labels)
{
	json_t *a = json_array();
	char *text;

	for (size_t i = 0; i < labels->nr; i++)
		json_array_append_new(a, json_string(labels->v[i]));
	text = nsh_json_dump(a);
	json_decref(a);
	return text;
}

/* The labels column back into @out; strings that are not labels are skipped. */
static void labels_from_column(struct nsh_db_stmt *st, int i, struct nsh_strvec *out)
{
	const char *text = nsh_db_col_text(st, i);
	json_t *a = NULL, *v;
	size_t k;

	nsh_strvec_init(out);
	if (!text || nsh_json_parse(text, (size_t)nsh_db_col_bytes(st, i), &a, NULL))
		return;
	if (json_is_array(a))
		json_array_foreach(a, k, v) if (json_is_string(v))
			nsh_strvec_push(out, json_string_value(v));
	json_decref(a);
}

static void fill_pr(struct nsh_db_stmt *st, void *row)
{
	struct nsh_pr_rec *p = row;

	p->id = nsh_db_col_int64(st, 0);
	p->repo_id = nsh_db_col_int64(st, 1);
	p->org = col_text(st, 2);
	p->repo = col_text(st, 3);
	p->number = nsh_db_col_int64(st, 4);
	p->task_id = col_text(st, 5);
	p->job_id = col_text(st, 6);
	p->head = col_text(st, 7);
	p->base = col_text(st, 8);
	p->title = col_text(st, 9);
	p->body = col_text(st, 10);
	p->state = col_text(st, 11);
	labels_from_column(st, 12, &p->labels);
	p->author = col_text(st, 13);
	p->head_sha = col_text(st, 14);
	p->head_seq = nsh_db_col_int64(st, 15);
	p->merge_sha = col_text(st, 16);
	p->closed_by = col_text(st, 17);
	p->created_ms = nsh_db_col_int64(st, 18);
	p->updated_ms = nsh_db_col_int64(st, 19);
	p->closed_ms = nsh_db_col_int64(st, 20);
}

int nsh_store_pr_insert(struct nsh_store *s, const struct nsh_pr_rec *p, int64_t *ret_id,
			int64_t *ret_number, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_INSERT, err);
	char *labels;
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	labels = labels_json(&p->labels);
	nsh_db_bind_int64(st, 1, p->repo_id);
	bind_text(st, 2, p->task_id);
	bind_text(st, 3, p->job_id);
	bind_text(st, 4, p->head);
	bind_text(st, 5, p->base);
	bind_text(st, 6, p->title);
	bind_text(st, 7, p->body ? p->body : "");
	bind_text(st, 8, p->state ? p->state : "open");
	bind_text(st, 9, labels);
	bind_text(st, 10, p->author);
	nsh_db_bind_int64(st, 11, p->created_ms ? p->created_ms : nsh_time_now_ms());
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		if (ret_id)
			*ret_id = nsh_db_col_int64(st, 0);
		if (ret_number)
			*ret_number = nsh_db_col_int64(st, 1);
		rc = 0;
	} else {
		rc = db_fail(s, err, "adding a pull request");
	}
	stmt_done(st);
	free(labels);
	return rc;
}

int nsh_store_pr_get(struct nsh_store *s, const char *org, const char *repo, int64_t number,
		     struct nsh_pr_rec *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_GET, err);
	char missing[NSH_ERR_MSG_MAX];

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, org);
	bind_text(st, 2, repo);
	nsh_db_bind_int64(st, 3, number);
	snprintf(missing, sizeof(missing), "no pull request '%s/%s#%lld'", org, repo,
		 (long long)number);
	return read_one(s, st, fill_pr, ret, missing, err);
}

int nsh_store_pr_get_id(struct nsh_store *s, int64_t id, struct nsh_pr_rec *ret,
			struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_GET_ID, err);
	char missing[64];

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	snprintf(missing, sizeof(missing), "no pull request with id %lld", (long long)id);
	return read_one(s, st, fill_pr, ret, missing, err);
}

int nsh_store_pr_find_job(struct nsh_store *s, const char *job_id, struct nsh_pr_rec *ret,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_FIND_JOB, err);
	char missing[NSH_ERR_MSG_MAX];

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, job_id);
	snprintf(missing, sizeof(missing), "job '%s' has no pull request", job_id);
	return read_one(s, st, fill_pr, ret, missing, err);
}

int nsh_store_pr_find_head(struct nsh_store *s, int64_t repo_id, const char *head,
			   struct nsh_pr_rec *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_FIND_HEAD, err);
	char missing[NSH_ERR_MSG_MAX];

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, repo_id);
	bind_text(st, 2, head);
	snprintf(missing, sizeof(missing), "no open pull request from branch '%s'", head);
	return read_one(s, st, fill_pr, ret, missing, err);
}

int nsh_store_pr_list(struct nsh_store *s, const struct nsh_pr_filter *f, struct nsh_pr_list *ret,
		      struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_LIST, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	if (f) {
		bind_text(st, 1, f->task_id);
		bind_text(st, 2, f->org);
		bind_text(st, 3, f->repo);
		bind_text(st, 4, f->state);
	}
	return read_all(s, st, add_pr, ret, fill_pr, "listing pull requests", err);
}

int nsh_store_pr_save(struct nsh_store *s, const struct nsh_pr_rec *p, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_SAVE, err);
	char *labels;
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	labels = labels_json(&p->labels);
	nsh_db_bind_int64(st, 1, p->id);
	bind_text(st, 2, p->title);
	bind_text(st, 3, p->body ? p->body : "");
	bind_text(st, 4, p->state);
	bind_text(st, 5, labels);
	bind_text(st, 6, p->merge_sha);
	bind_text(st, 7, p->closed_by);
	bind_ms(st, 8, p->closed_ms);
	nsh_db_bind_int64(st, 9, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a pull request");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no pull request with id %lld",
				 (long long)p->id);
	stmt_done(st);
	free(labels);
	return rc;
}

void nsh_pr_head_list_release(struct nsh_pr_head_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].sha);
		free(l->v[i].pushed_by);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_pr_head_add(struct nsh_store *s, int64_t pr_id, const char *sha, bool forced,
			  const char *pushed_by, int64_t *ret_seq, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_HEAD_ADD, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, pr_id);
	bind_text(st, 2, sha);
	nsh_db_bind_int64(st, 3, forced);
	bind_text(st, 4, pushed_by);
	nsh_db_bind_int64(st, 5, nsh_time_now_ms());
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		if (ret_seq)
			*ret_seq = nsh_db_col_int64(st, 0);
		rc = 0;
	} else {
		rc = db_fail(s, err, "recording a pull request head");
	}
	stmt_done(st);
	return rc;
}

static void fill_head(struct nsh_db_stmt *st, void *row)
{
	struct nsh_pr_head_rec *h = row;

	h->seq = nsh_db_col_int64(st, 0);
	h->sha = col_text(st, 1);
	h->forced = (int)nsh_db_col_int64(st, 2) != 0;
	h->pushed_by = col_text(st, 3);
	h->created_ms = nsh_db_col_int64(st, 4);
}

int nsh_store_pr_head_list(struct nsh_store *s, int64_t pr_id, struct nsh_pr_head_list *ret,
			   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_HEAD_LIST, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, pr_id);
	return read_all(s, st, add_head, ret, fill_head, "reading pull request heads", err);
}

void nsh_pr_comment_rec_release(struct nsh_pr_comment_rec *c)
{
	if (!c)
		return;
	free(c->kind);
	free(c->author);
	free(c->body);
	free(c->path);
	free(c->head_sha);
	memset(c, 0, sizeof(*c));
}

void nsh_pr_comment_list_release(struct nsh_pr_comment_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_pr_comment_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void fill_comment(struct nsh_db_stmt *st, void *row)
{
	struct nsh_pr_comment_rec *c = row;

	c->id = nsh_db_col_int64(st, 0);
	c->pr_id = nsh_db_col_int64(st, 1);
	c->kind = col_text(st, 2);
	c->author = col_text(st, 3);
	c->body = col_text(st, 4);
	c->path = col_text(st, 5);
	c->line = nsh_db_col_int64(st, 6);
	c->head_sha = col_text(st, 7);
	c->in_reply_to = nsh_db_col_int64(st, 8);
	c->created_ms = nsh_db_col_int64(st, 9);
	c->handled_ms = nsh_db_col_int64(st, 10);
}

int nsh_store_pr_comment_add(struct nsh_store *s, const struct nsh_pr_comment_rec *c,
			     int64_t *ret_id, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_COMMENT_ADD, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, c->pr_id);
	bind_text(st, 2, c->kind ? c->kind : "comment");
	bind_text(st, 3, c->author);
	bind_text(st, 4, c->body);
	bind_text(st, 5, c->path);
	bind_ms(st, 6, c->line);
	bind_text(st, 7, c->head_sha);
	bind_ms(st, 8, c->in_reply_to);
	nsh_db_bind_int64(st, 9, c->created_ms ? c->created_ms : nsh_time_now_ms());
	bind_ms(st, 10, c->handled_ms);
	if (nsh_db_step(st) != NSH_DB_ROW)
		rc = db_fail(s, err, "adding a comment");
	else if (ret_id)
		*ret_id = nsh_db_col_int64(st, 0);
	stmt_done(st);
	return rc;
}

int nsh_store_pr_comment_get(struct nsh_store *s, int64_t id, struct nsh_pr_comment_rec *ret,
			     struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_COMMENT_GET, err);
	char missing[64];

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	snprintf(missing, sizeof(missing), "no comment %lld", (long long)id);
	return read_one(s, st, fill_comment, ret, missing, err);
}

int nsh_store_pr_comment_list(struct nsh_store *s, int64_t pr_id, struct nsh_pr_comment_list *ret,
			      struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_COMMENT_LIST, err);

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, pr_id);
	return read_all(s, st, add_comment, ret, fill_comment, "reading comments", err);
}

int nsh_store_pr_comment_set_handled(struct nsh_store *s, int64_t id, int64_t ms,
				     struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_PR_COMMENT_HANDLED, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	nsh_db_bind_int64(st, 2, ms ? ms : nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a comment");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no comment %lld", (long long)id);
	stmt_done(st);
	return rc;
}

/* ---- orchestration: brains, ownership, workers, steps, control requests ---- */

int nsh_store_task_set_brain(struct nsh_store *s, const char *id, const char *brain,
			     const char *recipe, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_SET_BRAIN, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, brain);
	bind_text(st, 3, recipe);
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a task");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_task_set_deadline(struct nsh_store *s, const char *id, int64_t deadline_ms,
				struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_SET_DEADLINE, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_ms(st, 2, deadline_ms);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a task");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_task_claim(struct nsh_store *s, const char *id, const char *worker,
			 int64_t alive_since_ms, bool *ret_claimed, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_CLAIM, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, worker);
	nsh_db_bind_int64(st, 3, alive_since_ms);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "claiming a task");
	else
		*ret_claimed = nsh_db_changes(s->db) == 1;
	stmt_done(st);
	return rc;
}

int nsh_store_task_release(struct nsh_store *s, const char *id, const char *worker,
			   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_RELEASE, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, worker);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "releasing a task");
	stmt_done(st);
	return rc;
}

int nsh_store_task_claimable(struct nsh_store *s, const char *worker, int64_t alive_since_ms,
			     size_t limit, struct nsh_task_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_CLAIMABLE, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, worker);
	nsh_db_bind_int64(st, 2, alive_since_ms);
	nsh_db_bind_int64(st, 3, limit ? (int64_t)limit : INT64_MAX);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		task_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing tasks");
	stmt_done(st);
	return rc;
}

int nsh_store_job_set_progress(struct nsh_store *s, const char *id, const char *step,
			       int64_t attempt, const char *branch, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_SET_PROGRESS, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, step);
	nsh_db_bind_int64(st, 3, attempt);
	bind_text(st, 4, branch);
	nsh_db_bind_int64(st, 5, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a job");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_job_set_branch(struct nsh_store *s, const char *id, const char *branch,
			     struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_SET_BRANCH, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, branch);
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "updating a job");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_job_queue_position(struct nsh_store *s, const char *id, int64_t *ret,
				 struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_QUEUE_POS, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	if (nsh_db_step(st) == NSH_DB_ROW)
		*ret = nsh_db_col_int64(st, 0);
	else
		rc = db_fail(s, err, "reading a queue position");
	stmt_done(st);
	return rc;
}

int nsh_store_worker_beat(struct nsh_store *s, const char *id, const char *host, int64_t pid,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_WORKER_BEAT, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, host);
	nsh_db_bind_int64(st, 3, pid);
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "recording a worker heartbeat");
	stmt_done(st);
	return rc;
}

int nsh_store_worker_remove(struct nsh_store *s, const char *id, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_WORKER_REMOVE, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "removing a worker");
	stmt_done(st);
	return rc;
}

void nsh_worker_rec_release(struct nsh_worker_rec *w)
{
	if (!w)
		return;
	free(w->id);
	free(w->host);
	memset(w, 0, sizeof(*w));
}

static void fill_worker(struct nsh_db_stmt *st, void *row)
{
	struct nsh_worker_rec *w = row;

	w->id = col_text(st, 0);
	w->host = col_text(st, 1);
	w->pid = nsh_db_col_int64(st, 2);
	w->started_ms = nsh_db_col_int64(st, 3);
	w->heartbeat_ms = nsh_db_col_int64(st, 4);
}

int nsh_store_worker_get(struct nsh_store *s, const char *id, struct nsh_worker_rec *ret,
			 struct nsh_err *err)
{
	return get_row(s, ST_WORKER_GET, id, fill_worker, ret, "worker", err);
}

int nsh_store_worker_list(struct nsh_store *s, struct nsh_worker_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_WORKER_LIST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		fill_worker(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing workers");
	stmt_done(st);
	return rc;
}

void nsh_worker_list_release(struct nsh_worker_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_worker_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool nsh_store_worker_any_alive(struct nsh_store *s, int64_t alive_since_ms)
{
	struct nsh_db_stmt *st = stmt(s, ST_WORKER_ANY_ALIVE, NULL);
	bool alive = false;

	if (!st)
		return false;
	nsh_db_bind_int64(st, 1, alive_since_ms);
	if (nsh_db_step(st) == NSH_DB_ROW)
		alive = nsh_db_col_int64(st, 0) > 0;
	stmt_done(st);
	return alive;
}

int nsh_store_step_put(struct nsh_store *s, const char *task_id, const char *job_id,
		       int64_t attempt, const char *name, const char *result, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_STEP_PUT, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	bind_text(st, 2, job_id ? job_id : "");
	nsh_db_bind_int64(st, 3, attempt);
	bind_text(st, 4, name);
	bind_text(st, 5, result ? result : "{}");
	nsh_db_bind_int64(st, 6, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "recording a step");
	stmt_done(st);
	return rc;
}

int nsh_store_step_get(struct nsh_store *s, const char *task_id, const char *job_id,
		       int64_t attempt, const char *name, char **ret_result, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_STEP_GET, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	bind_text(st, 2, job_id ? job_id : "");
	nsh_db_bind_int64(st, 3, attempt);
	bind_text(st, 4, name);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		*ret_result = col_text(st, 0);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no step '%s'", name);
	} else {
		rc = db_fail(s, err, "reading a step");
	}
	stmt_done(st);
	return rc;
}

void nsh_step_list_release(struct nsh_step_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].job_id);
		free(l->v[i].name);
		free(l->v[i].result);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_step_list(struct nsh_store *s, const char *task_id, const char *job_id,
			struct nsh_step_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, job_id ? ST_STEP_LIST_JOB : ST_STEP_LIST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	if (job_id)
		bind_text(st, 2, job_id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		struct nsh_step_rec *r;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		r = &ret->v[ret->nr++];
		r->job_id = col_text(st, 0);
		r->attempt = nsh_db_col_int64(st, 1);
		r->name = col_text(st, 2);
		r->result = col_text(st, 3);
		r->created_ms = nsh_db_col_int64(st, 4);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing steps");
	stmt_done(st);
	return rc;
}

int nsh_store_control_add(struct nsh_store *s, const char *task_id, const char *job_id,
			  const char *kind, const char *payload, int64_t *ret_id,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_CONTROL_ADD, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	bind_text(st, 2, job_id);
	bind_text(st, 3, kind);
	bind_text(st, 4, payload ? payload : "{}");
	nsh_db_bind_int64(st, 5, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_ROW)
		rc = db_fail(s, err, "adding a control request");
	else if (ret_id)
		*ret_id = nsh_db_col_int64(st, 0);
	stmt_done(st);
	return rc;
}

void nsh_control_rec_release(struct nsh_control_rec *c)
{
	if (!c)
		return;
	free(c->task_id);
	free(c->job_id);
	free(c->kind);
	free(c->payload);
	free(c->state);
	free(c->result);
	memset(c, 0, sizeof(*c));
}

static void control_from_row(struct nsh_db_stmt *st, struct nsh_control_rec *c)
{
	c->id = nsh_db_col_int64(st, 0);
	c->task_id = col_text(st, 1);
	c->job_id = col_text(st, 2);
	c->kind = col_text(st, 3);
	c->payload = col_text(st, 4);
	c->state = col_text(st, 5);
	c->result = col_text(st, 6);
	c->created_ms = nsh_db_col_int64(st, 7);
	c->handled_ms = nsh_db_col_int64(st, 8);
}

int nsh_store_control_get(struct nsh_store *s, int64_t id, struct nsh_control_rec *ret,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_CONTROL_GET, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		control_from_row(st, ret);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no control request %lld", (long long)id);
	} else {
		rc = db_fail(s, err, "reading a control request");
	}
	stmt_done(st);
	return rc;
}

void nsh_control_list_release(struct nsh_control_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_control_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_control_pending(struct nsh_store *s, const char *task_id,
			      struct nsh_control_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_CONTROL_PENDING, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, task_id);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		control_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing control requests");
	stmt_done(st);
	return rc;
}

int nsh_store_control_finish(struct nsh_store *s, int64_t id, const char *state, const char *result,
			     bool *ret_finished, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_CONTROL_FINISH, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	bind_text(st, 2, state);
	bind_text(st, 3, result);
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "finishing a control request");
	else if (ret_finished)
		*ret_finished = nsh_db_changes(s->db) == 1;
	stmt_done(st);
	return rc;
}

/* ---- server: filtered lists, counts for /metrics, memories ---- */

int nsh_store_task_query(struct nsh_store *s, const struct nsh_task_filter *f,
			 struct nsh_task_list *ret, struct nsh_task_progress **ret_progress,
			 struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_QUERY, err);
	struct nsh_task_progress *prog = NULL;
	size_t palloc = 0, first = ret->nr;
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, f->state);
	bind_text(st, 2, f->org);
	bind_text(st, 3, f->text && *f->text ? f->text : NULL);
	nsh_db_bind_int64(st, 4, f->limit ? (int64_t)f->limit : INT64_MAX);
	nsh_db_bind_int64(st, 5, (int64_t)f->offset);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		size_t i = ret->nr - first;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		task_from_row(st, &ret->v[ret->nr++]);
		if (!ret_progress)
			continue;
		NSH_ALLOC_GROW(prog, i + 1, palloc);
		prog[i].jobs = nsh_db_col_int64(st, 14);
		prog[i].settled = nsh_db_col_int64(st, 15);
		prog[i].failed = nsh_db_col_int64(st, 16);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing tasks");
	stmt_done(st);
	if (rc || !ret_progress)
		free(prog);
	else
		*ret_progress = prog;
	return rc;
}

int nsh_store_task_set_options(struct nsh_store *s, const char *id, const char *options,
			       struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_SET_OPTIONS, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, options ? options : "{}");
	nsh_db_bind_int64(st, 3, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "setting task options");
	else if (!nsh_db_changes(s->db))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", id);
	stmt_done(st);
	return rc;
}

int nsh_store_job_query(struct nsh_store *s, const struct nsh_job_filter *f,
			struct nsh_job_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_JOB_QUERY, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, f->task_id);
	bind_text(st, 2, f->state);
	bind_text(st, 3, f->repo);
	nsh_db_bind_int64(st, 4, f->limit ? (int64_t)f->limit : INT64_MAX);
	nsh_db_bind_int64(st, 5, (int64_t)f->offset);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		job_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing jobs");
	stmt_done(st);
	return rc;
}

void nsh_store_counts_release(struct nsh_store_counts *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++)
		free(c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int counts_by_state(struct nsh_store *s, enum stmt_id id, struct nsh_store_counts *ret,
			   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, id, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		ret->v[ret->nr].name = col_text(st, 0);
		ret->v[ret->nr++].n = nsh_db_col_int64(st, 1);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "counting rows");
	stmt_done(st);
	return rc;
}

int nsh_store_task_state_counts(struct nsh_store *s, struct nsh_store_counts *ret,
				struct nsh_err *err)
{
	return counts_by_state(s, ST_TASK_STATE_COUNTS, ret, err);
}

int nsh_store_job_state_counts(struct nsh_store *s, struct nsh_store_counts *ret,
			       struct nsh_err *err)
{
	return counts_by_state(s, ST_JOB_STATE_COUNTS, ret, err);
}

int nsh_store_queue_length(struct nsh_store *s, int64_t *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_QUEUE_LENGTH, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	if (nsh_db_step(st) == NSH_DB_ROW)
		*ret = nsh_db_col_int64(st, 0);
	else
		rc = db_fail(s, err, "counting queued jobs");
	stmt_done(st);
	return rc;
}

int nsh_store_model_tokens(struct nsh_store *s, int64_t *ret_prompt, int64_t *ret_completion,
			   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_MODEL_TOKENS, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	if (nsh_db_step(st) == NSH_DB_ROW) {
		*ret_prompt = nsh_db_col_int64(st, 0);
		*ret_completion = nsh_db_col_int64(st, 1);
	} else {
		rc = db_fail(s, err, "counting model tokens");
	}
	stmt_done(st);
	return rc;
}

/* ---- review feedback ---- */

void nsh_feedback_rec_release(struct nsh_feedback_rec *f)
{
	if (!f)
		return;
	free(f->task_id);
	free(f->job_id);
	free(f->pr);
	free(f->author);
	free(f->body);
	free(f->path);
	free(f->state);
	free(f->result);
	memset(f, 0, sizeof(*f));
}

void nsh_feedback_list_release(struct nsh_feedback_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_feedback_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void feedback_from_row(struct nsh_db_stmt *st, struct nsh_feedback_rec *f)
{
	f->id = nsh_db_col_int64(st, 0);
	f->task_id = col_text(st, 1);
	f->job_id = col_text(st, 2);
	f->pr = col_text(st, 3);
	f->comment_id = nsh_db_col_int64(st, 4);
	f->origin_id = nsh_db_col_int64(st, 5);
	f->author = col_text(st, 6);
	f->body = col_text(st, 7);
	f->path = col_text(st, 8);
	f->line = nsh_db_col_int64(st, 9);
	f->can_write = (int)nsh_db_col_int64(st, 10) != 0;
	f->state = col_text(st, 11);
	f->attempt = nsh_db_col_is_null(st, 12) ? -1 : nsh_db_col_int64(st, 12);
	f->result = col_text(st, 13);
	f->created_ms = nsh_db_col_int64(st, 14);
	f->handled_ms = nsh_db_col_int64(st, 15);
}

int nsh_store_feedback_add(struct nsh_store *s, const struct nsh_feedback_rec *f, int64_t *ret_id,
			   bool *ret_added, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_FEEDBACK_ADD, err);
	bool added = false;
	int rc = 0;
	int step;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, f->task_id);
	bind_text(st, 2, f->job_id);
	bind_text(st, 3, f->pr);
	if (f->comment_id > 0)
		nsh_db_bind_int64(st, 4, f->comment_id);
	if (f->origin_id > 0)
		nsh_db_bind_int64(st, 5, f->origin_id);
	bind_text(st, 6, f->author);
	bind_text(st, 7, f->body);
	bind_text(st, 8, f->path);
	if (f->line > 0)
		nsh_db_bind_int64(st, 9, f->line);
	nsh_db_bind_int64(st, 10, f->can_write ? 1 : 0);
	nsh_db_bind_int64(st, 11, nsh_time_now_ms());
	/* a row comes back when it was added */
	step = nsh_db_step(st);
	if (step != NSH_DB_ROW && step != NSH_DB_DONE) {
		rc = db_fail(s, err, "adding review feedback");
		goto out;
	}
	added = step == NSH_DB_ROW;
	if (ret_id)
		*ret_id = added ? nsh_db_col_int64(st, 0) : 0;
	if (!added && ret_id) {
		/* the copy of @f->origin_id for this job exists: its id */
		stmt_done(st);
		st = stmt(s, ST_FEEDBACK_FIND, err);
		if (!st)
			return err ? err->code : NSH_EIO;
		bind_text(st, 1, f->job_id);
		nsh_db_bind_int64(st, 2, f->origin_id);
		if (nsh_db_step(st) == NSH_DB_ROW)
			*ret_id = nsh_db_col_int64(st, 0);
	}
out:
	if (ret_added)
		*ret_added = added;
	stmt_done(st);
	return rc;
}

int nsh_store_feedback_get(struct nsh_store *s, int64_t id, struct nsh_feedback_rec *ret,
			   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_FEEDBACK_GET, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		feedback_from_row(st, ret);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no feedback %lld", (long long)id);
	} else {
		rc = db_fail(s, err, "reading review feedback");
	}
	stmt_done(st);
	return rc;
}

int nsh_store_feedback_claim(struct nsh_store *s, const char *job_id, int64_t attempt,
			     struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_FEEDBACK_CLAIM, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, job_id);
	nsh_db_bind_int64(st, 2, attempt);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "claiming review feedback");
	stmt_done(st);
	return rc;
}

int nsh_store_feedback_list(struct nsh_store *s, const char *job_id, int64_t attempt,
			    struct nsh_feedback_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_FEEDBACK_LIST, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, job_id);
	nsh_db_bind_int64(st, 2, attempt);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		feedback_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing review feedback");
	stmt_done(st);
	return rc;
}

int nsh_store_feedback_finish(struct nsh_store *s, int64_t id, const char *state,
			      const char *result, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_FEEDBACK_FINISH, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, id);
	bind_text(st, 2, state);
	bind_text(st, 3, result ? result : "{}");
	nsh_db_bind_int64(st, 4, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "finishing review feedback");
	stmt_done(st);
	return rc;
}

/* ---- GitHub webhook deliveries ---- */

void nsh_webhook_rec_release(struct nsh_webhook_rec *w)
{
	if (!w)
		return;
	free(w->id);
	free(w->event);
	free(w->action);
	free(w->subject);
	free(w->status);
	free(w->error);
	free(w->task_id);
	free(w->payload);
	memset(w, 0, sizeof(*w));
}

void nsh_webhook_list_release(struct nsh_webhook_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_webhook_rec_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_store_webhook_add(struct nsh_store *s, const struct nsh_webhook_rec *w, bool *ret_added,
			  struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_WEBHOOK_ADD, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, w->id);
	bind_text(st, 2, w->event);
	bind_text(st, 3, w->action);
	bind_text(st, 4, w->subject);
	bind_text(st, 5, w->status ? w->status : "received");
	bind_text(st, 6, w->error);
	bind_text(st, 7, w->task_id);
	nsh_db_bind_int64(st, 8, w->received_ms ? w->received_ms : nsh_time_now_ms());
	bind_ms(st, 9, w->handled_ms);
	bind_text(st, 10, w->payload);
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "recording a webhook delivery");
	else if (ret_added)
		*ret_added = nsh_db_changes(s->db) == 1;
	stmt_done(st);
	return rc;
}

static void webhook_from_row(struct nsh_db_stmt *st, struct nsh_webhook_rec *w)
{
	w->id = col_text(st, 0);
	w->event = col_text(st, 1);
	w->action = col_text(st, 2);
	w->subject = col_text(st, 3);
	w->status = col_text(st, 4);
	w->error = col_text(st, 5);
	w->task_id = col_text(st, 6);
	w->received_ms = nsh_db_col_int64(st, 7);
	w->handled_ms = nsh_db_col_int64(st, 8);
	w->payload = col_text(st, 9);
}

static int webhook_rows(struct nsh_store *s, enum stmt_id id, size_t limit,
			struct nsh_webhook_list *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, id, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	nsh_db_bind_int64(st, 1, limit ? (int64_t)limit : INT64_MAX);
	while ((rc = nsh_db_step(st)) == NSH_DB_ROW) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		webhook_from_row(st, &ret->v[ret->nr++]);
	}
	rc = rc == NSH_DB_DONE ? 0 : db_fail(s, err, "listing webhook deliveries");
	stmt_done(st);
	return rc;
}

int nsh_store_webhook_pending(struct nsh_store *s, size_t limit, struct nsh_webhook_list *ret,
			      struct nsh_err *err)
{
	return webhook_rows(s, ST_WEBHOOK_PENDING, limit, ret, err);
}

int nsh_store_webhook_list(struct nsh_store *s, size_t limit, struct nsh_webhook_list *ret,
			   struct nsh_err *err)
{
	return webhook_rows(s, ST_WEBHOOK_LIST, limit, ret, err);
}

int nsh_store_webhook_finish(struct nsh_store *s, const char *id, const char *status,
			     const char *error, const char *task_id, bool *ret_changed,
			     struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_WEBHOOK_FINISH, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, id);
	bind_text(st, 2, status);
	bind_text(st, 3, error);
	bind_text(st, 4, task_id);
	nsh_db_bind_int64(st, 5, nsh_time_now_ms());
	if (nsh_db_step(st) != NSH_DB_DONE)
		rc = db_fail(s, err, "finishing a webhook delivery");
	else if (ret_changed)
		*ret_changed = nsh_db_changes(s->db) == 1;
	stmt_done(st);
	return rc;
}

int nsh_store_webhook_subject_last(struct nsh_store *s, const char *subject, int64_t *ret_ms,
				   struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_WEBHOOK_SUBJECT_LAST, err);
	int rc = 0;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, subject);
	if (nsh_db_step(st) == NSH_DB_ROW)
		*ret_ms = nsh_db_col_int64(st, 0);
	else
		rc = db_fail(s, err, "reading webhook deliveries");
	stmt_done(st);
	return rc;
}

int nsh_store_task_find_github(struct nsh_store *s, const char *repo, int64_t number,
			       struct nsh_task_rec *ret, struct nsh_err *err)
{
	struct nsh_db_stmt *st = stmt(s, ST_TASK_FIND_GITHUB, err);
	int rc;

	if (!st)
		return err ? err->code : NSH_EIO;
	bind_text(st, 1, repo);
	nsh_db_bind_int64(st, 2, number);
	rc = nsh_db_step(st);
	if (rc == NSH_DB_ROW) {
		task_from_row(st, ret);
		rc = 0;
	} else if (rc == NSH_DB_DONE) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task for issue '%s#%lld'", repo,
				 (long long)number);
	} else {
		rc = db_fail(s, err, "finding the task of an issue");
	}
	stmt_done(st);
	return rc;
}
