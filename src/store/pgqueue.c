/*
 * The shared job queue on PostgreSQL; see store/pgqueue.h. Every statement
 * that changes a job is one SQL statement (so one transaction): the claim
 * selects with FOR UPDATE SKIP LOCKED and sets the lease in a CTE, and the
 * changes that append an event insert it and NOTIFY its id in the same
 * statement. Statements are prepared on first use per connection.
 */
#include "store/pgqueue.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "store/store_int.h"

#include "core/banned.h"

/* The key of the advisory lock that serialises migrations ("nshq"). */
#define MIGRATE_LOCK_KEY "1853321585"

/* The longest lease a caller may ask for: one day. */
#define LEASE_MAX_MS (24LL * 3600 * 1000)

struct migration {
	int version;	  /* 1, 2, ...: consecutive */
	const char *name; /* recorded in nsh_queue_migrations */
	const char *sql;  /* run in the migrating transaction */
};

static const struct migration migrations[] = {
	{1, "jobs and events",
	 "CREATE TABLE nsh_queue_jobs ("
	 " id bigserial PRIMARY KEY,"
	 " queue text NOT NULL,"
	 " payload text NOT NULL DEFAULT '',"
	 " state text NOT NULL DEFAULT 'queued'"
	 "  CHECK (state IN ('queued', 'running', 'done', 'failed')),"
	 " worker text,"
	 " lease_until timestamptz,"
	 " step text,"
	 " step_data text,"
	 " result text,"
	 " claims bigint NOT NULL DEFAULT 0,"
	 " created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
	 " updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
	 " CHECK (state <> 'running' OR (worker IS NOT NULL AND lease_until IS NOT NULL)));"
	 "CREATE INDEX nsh_queue_jobs_claimable ON nsh_queue_jobs (queue, id)"
	 " WHERE state IN ('queued', 'running');"
	 "CREATE TABLE nsh_queue_events ("
	 " id bigserial PRIMARY KEY,"
	 " job_id bigint NOT NULL REFERENCES nsh_queue_jobs (id) ON DELETE CASCADE,"
	 " kind text NOT NULL,"
	 " worker text,"
	 " data text,"
	 " created_at timestamptz NOT NULL DEFAULT clock_timestamp());"
	 "CREATE INDEX nsh_queue_events_job ON nsh_queue_events (job_id, id);"},
};

#define JOB_COLS                                                                          \
 "j.id, j.queue, j.payload, j.state, j.worker, j.step, j.step_data, j.result, j.claims, " \
 "CASE WHEN j.state = 'running' THEN floor(extract(epoch FROM j.lease_until - "           \
 "clock_timestamp()) * 1000)::bigint ELSE 0 END"

enum stmt_id {
	ST_ENQUEUE,
	ST_CLAIM,
	ST_HEARTBEAT,
	ST_STEP,
	ST_COMPLETE,
	ST_FAIL,
	ST_GET,
	ST_HOLDER,
	ST_JOBS,
	ST_COUNTS,
	ST_EVENT_ADD,
	ST_EVENTS,
	ST__COUNT
};

static const struct {
	const char *sql;
	int nparams;
} stmts[ST__COUNT] = {
	[ST_ENQUEUE] = {"WITH j AS (INSERT INTO nsh_queue_jobs (queue, payload) VALUES ($1, $2) "
			"RETURNING id) SELECT id, pg_notify('" NSH_PGQ_CHANNEL_WORK "', $1) FROM j",
			2},
	/*
	 * The oldest job that is queued or whose lease ran out, locked so
	 * that no other claim can take it, skipping those other claims hold.
	 */
	[ST_CLAIM] = {"WITH c AS (SELECT id FROM nsh_queue_jobs WHERE queue = $1 AND "
		      "(state = 'queued' OR (state = 'running' AND lease_until < "
		      "clock_timestamp())) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
		      "UPDATE nsh_queue_jobs j SET state = 'running', worker = $2, "
		      "lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond', "
		      "claims = j.claims + 1, updated_at = clock_timestamp() FROM c "
		      "WHERE j.id = c.id RETURNING " JOB_COLS,
		      3},
	[ST_HEARTBEAT] = {"UPDATE nsh_queue_jobs SET lease_until = clock_timestamp() + "
			  "$3::bigint * interval '1 millisecond', updated_at = clock_timestamp() "
			  "WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING id",
			  3},
	[ST_STEP] = {"WITH u AS (UPDATE nsh_queue_jobs SET step = $3, step_data = $4, "
		     "updated_at = clock_timestamp() WHERE id = $1 AND worker = $2 AND "
		     "state = 'running' RETURNING id), e AS (INSERT INTO nsh_queue_events "
		     "(job_id, kind, worker, data) SELECT id, 'step', $2, $3 FROM u RETURNING id) "
		     "SELECT id, pg_notify('" NSH_PGQ_CHANNEL_EVENTS "', id::text) FROM e",
		     4},
	[ST_COMPLETE] = {"WITH u AS (UPDATE nsh_queue_jobs SET state = 'done', result = $3, "
			 "lease_until = NULL, updated_at = clock_timestamp() WHERE id = $1 AND "
			 "worker = $2 AND state = 'running' RETURNING id), e AS (INSERT INTO "
			 "nsh_queue_events (job_id, kind, worker, data) SELECT id, 'done', $2, $3 "
			 "FROM u RETURNING id) SELECT id, pg_notify('" NSH_PGQ_CHANNEL_EVENTS
			 "', id::text) FROM e",
			 3},
	[ST_FAIL] =
		{"WITH u AS (UPDATE nsh_queue_jobs SET state = CASE WHEN $4::boolean THEN "
		 "'queued' ELSE 'failed' END, result = $3, lease_until = NULL, "
		 "updated_at = clock_timestamp() WHERE id = $1 AND worker = $2 AND "
		 "state = 'running' RETURNING id), e AS (INSERT INTO nsh_queue_events "
		 "(job_id, kind, worker, data) SELECT id, CASE WHEN $4::boolean THEN 'retry' "
		 "ELSE 'failed' END, $2, $3 FROM u RETURNING id) SELECT id, pg_notify('" NSH_PGQ_CHANNEL_EVENTS
		 "', id::text) FROM e",
		 4},
	[ST_GET] = {"SELECT " JOB_COLS " FROM nsh_queue_jobs j WHERE j.id = $1", 1},
	[ST_HOLDER] = {"SELECT state, worker FROM nsh_queue_jobs WHERE id = $1", 1},
	[ST_JOBS] = {"SELECT " JOB_COLS " FROM nsh_queue_jobs j WHERE j.queue = $1 ORDER BY j.id "
		     "LIMIT $2",
		     2},
	[ST_COUNTS] = {"SELECT state, count(*) FROM nsh_queue_jobs WHERE queue = $1 "
		       "GROUP BY state",
		       1},
	[ST_EVENT_ADD] =
		{"WITH e AS (INSERT INTO nsh_queue_events (job_id, kind, worker, data) "
		 "VALUES ($1, $2, $3, $4) RETURNING id) SELECT id, pg_notify('" NSH_PGQ_CHANNEL_EVENTS
		 "', id::text) FROM e",
		 4},
	[ST_EVENTS] = {"SELECT id, job_id, kind, worker, data FROM nsh_queue_events WHERE "
		       "id > $1 AND ($2::bigint = 0 OR job_id = $2) ORDER BY id LIMIT $3",
		       3},
};

struct nsh_pgq {
	PGconn *conn;		  /* the connection */
	char *where;		  /* "host:port" for messages */
	bool prepared[ST__COUNT]; /* which statements are prepared on conn */
};

/* ---- URLs ---- */

const char *nsh_pgq_url(const char *env, const struct nsh_config *cfg)
{
	const char *v;

	if (env && *env)
		return env;
	v = cfg ? nsh_config_get(cfg, "db", "url") : NULL;
	return v && *v ? v : NULL;
}

/*
 * @url with its passwords replaced by "***", for messages (a new string):
 * the one of the user-info part and any "password=" query parameter.
 */
char *nsh_pg_url_shown(const char *url)
{
	const char *auth = strstr(url, "://");
	const char *end, *at = NULL, *colon = NULL, *p;
	struct nsh_buf b = NSH_BUF_INIT;

	if (!auth)
		return nsh_xstrdup("(not a url)");
	auth += 3;
	end = auth + strcspn(auth, "/?");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at)
		colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon) {
		nsh_buf_add(&b, url, (size_t)(colon - url));
		nsh_buf_adds(&b, ":***");
		p = at;
	} else {
		p = url;
	}
	/* The query: copy it parameter by parameter, hiding password values. */
	while (*p) {
		size_t n = strcspn(p, "?&");

		nsh_buf_add(&b, p, n);
		p += n;
		if (!*p)
			break;
		nsh_buf_addch(&b, *p++);
		if (!strncmp(p, "password=", 9)) {
			nsh_buf_adds(&b, "password=***");
			p += 9 + strcspn(p + 9, "&");
		}
	}
	return nsh_buf_detach(&b, NULL);
}

/* The first line of libpq's message @msg, without quoted parts (which may echo secrets). */
static void first_line(const char *msg, char *out, size_t n)
{
	size_t len = strcspn(msg, "\n");
	size_t j = 0;
	bool quoted = false;

	for (size_t i = 0; i < len && j + 1 < n; i++) {
		if (msg[i] == '"') {
			quoted = !quoted;
			continue;
		}
		if (!quoted && !(msg[i] == ' ' && j > 0 && out[j - 1] == ' '))
			out[j++] = msg[i];
	}
	while (j > 0 && (out[j - 1] == ' ' || out[j - 1] == ':' || out[j - 1] == '\t'))
		j--;
	out[j] = '\0';
}

int nsh_pgq_url_check(const char *url, struct nsh_err *err)
{
	char *msg = NULL;
	PQconninfoOption *opts;
	char *shown;
	char why[256];
	int rc;

	if (!url || !*url)
		return nsh_err_set(
			err, NSH_EINVAL,
			"no database url: set NIGHTSHIFT_DB=postgres://USER:PASSWORD@HOST:PORT/DB");
	shown = nsh_pg_url_shown(url);
	if (strncmp(url, "postgres://", 11) && strncmp(url, "postgresql://", 13)) {
		rc = nsh_err_set(
			err, NSH_EINVAL,
			"invalid database url '%s': expected postgres://USER:PASSWORD@HOST:PORT/DB",
			shown);
		goto out;
	}
	opts = PQconninfoParse(url, &msg);
	if (!opts) {
		first_line(msg ? msg : "out of memory", why, sizeof(why));
		rc = nsh_err_set(err, NSH_EINVAL, "invalid database url '%s': %s", shown, why);
		goto out;
	}
	PQconninfoFree(opts);
	rc = 0;
out:
	PQfreemem(msg);
	free(shown);
	return rc;
}

/* ---- connection and errors ---- */

/* Column @c of row @r of @res as an integer (0 when NULL). */
static int64_t col_i64(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return 0;
	return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* Column @c of row @r of @res as a new string, or NULL when NULL. */
static char *col_str(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return NULL;
	return nsh_xstrdup(PQgetvalue(res, r, c));
}

/*
 * Record the failure of @res (may be NULL) in @err, prefixed by @what.
 * The code follows the SQLSTATE: unique violation NSH_EEXIST, foreign key
 * NSH_ENOTFOUND, other integrity and data errors NSH_EINVAL, serialisation
 * and deadlock NSH_EBUSY; a broken connection and the rest NSH_EIO.
 */
static int pg_fail(struct nsh_pgq *q, PGresult *res, struct nsh_err *err, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[256];
	int code = NSH_EIO;

	if (PQstatus(q->conn) == CONNECTION_BAD) {
		first_line(PQerrorMessage(q->conn), line, sizeof(line));
		return nsh_err_set(err, NSH_EIO,
				   "%s: lost the connection to postgresql at '%s': %s", what,
				   q->where, line);
	}
	if (state) {
		if (!strcmp(state, "23505"))
			code = NSH_EEXIST;
		else if (!strcmp(state, "23503"))
			code = NSH_ENOTFOUND;
		else if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2))
			code = NSH_EINVAL;
		else if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
			code = NSH_EBUSY;
	}
	if (!msg) {
		first_line(PQerrorMessage(q->conn), line, sizeof(line));
		msg = line;
	}
	return nsh_err_set(err, code, "%s: %s", what, msg);
}

/* Run @sql (no parameters; may hold several statements); NSH_EIO etc. on failure. */
static int exec_plain(struct nsh_pgq *q, const char *sql, PGresult **ret, struct nsh_err *err,
		      const char *what)
{
	PGresult *res = PQexec(q->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pg_fail(q, res, err, what);
		PQclear(res);
		return rc;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

/*
 * Run statement @id with @params (NULL entries are SQL NULL), preparing it
 * on first use. *@ret gets the result, which the caller clears.
 */
static int exec_stmt(struct nsh_pgq *q, enum stmt_id id, const char *const *params, PGresult **ret,
		     struct nsh_err *err, const char *what)
{
	char name[16];
	PGresult *res = NULL;
	ExecStatusType st;
	int rc;

	snprintf(name, sizeof(name), "nshq_%d", (int)id);
	if (!q->prepared[id]) {
		res = PQprepare(q->conn, name, stmts[id].sql, stmts[id].nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = pg_fail(q, res, err, what);
			PQclear(res);
			return rc;
		}
		PQclear(res);
		q->prepared[id] = true;
	}
	res = PQexecPrepared(q->conn, name, stmts[id].nparams, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pg_fail(q, res, err, what);
		PQclear(res);
		return rc;
	}
	*ret = res;
	return 0;
}

/* Explain why the connection @conn to @url did not come up. */
static int connect_fail(PGconn *conn, const char *url, struct nsh_err *err)
{
	const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
	const char *host = conn ? PQhost(conn) : NULL;
	const char *port = conn ? PQport(conn) : NULL;
	const char *user = conn ? PQuser(conn) : NULL;
	const char *db = conn ? PQdb(conn) : NULL;
	char line[256];
	char *shown = nsh_pg_url_shown(url);
	int rc;

	/* libpq reports "connection to server at ... failed: " first: keep what follows. */
	const char *fail = strstr(msg, "failed: ");
	first_line(fail ? fail + 8 : msg, line, sizeof(line));
	if (!host || !*host)
		host = "localhost";
	if (!port || !*port)
		port = "5432";
	if (conn && PQconnectionNeedsPassword(conn))
		rc = nsh_err_set(
			err, NSH_EDENIED,
			"postgresql at '%s:%s' wants a password for user '%s' and '%s' has none",
			host, port, user ? user : "", shown);
	else if (strstr(msg, "authentication failed") || strstr(msg, "pg_hba.conf"))
		rc = nsh_err_set(err, NSH_EDENIED,
				 "postgresql at '%s:%s' refused user '%s': authentication failed",
				 host, port, user ? user : "");
	else if (strstr(msg, "database") && strstr(msg, "does not exist"))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "postgresql at '%s:%s' has no database '%s'",
				 host, port, db ? db : "");
	else
		rc = nsh_err_set(err, NSH_EIO, "cannot reach postgresql at '%s:%s': %s", host, port,
				 line);
	free(shown);
	return rc;
}

/* Create or update the schema, under an advisory lock so concurrent openers take turns. */
static int migrate(struct nsh_pgq *q, struct nsh_err *err)
{
	PGresult *res = NULL;
	int have;
	int rc;

	rc = exec_plain(q,
			"BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
			"CREATE TABLE IF NOT EXISTS nsh_queue_migrations ("
			" version integer PRIMARY KEY, name text NOT NULL,"
			" applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
			NULL, err, "creating the migrations table");
	if (rc)
		goto out;
	rc = exec_plain(q, "SELECT coalesce(max(version), 0) FROM nsh_queue_migrations", &res, err,
			"reading the schema version");
	if (rc)
		goto out;
	have = (int)col_i64(res, 0, 0);
	if (have > NSH_PGQ_SCHEMA_VERSION) {
		rc = nsh_err_set(
			err, NSH_EVERSION,
			"the queue schema at '%s' is version %d, newer than this build's %d: "
			"upgrade nightshift",
			q->where, have, NSH_PGQ_SCHEMA_VERSION);
		goto out;
	}
	for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		const struct migration *m = &migrations[i];
		char ver[16];
		const char *params[2] = {ver, m->name};
		PGresult *r;

		if (m->version <= have)
			continue;
		rc = exec_plain(q, m->sql, NULL, err, "migrating the queue schema");
		if (rc) {
			nsh_err_wrap(err, "migration %d ('%s')", m->version, m->name);
			goto out;
		}
		snprintf(ver, sizeof(ver), "%d", m->version);
		r = PQexecParams(q->conn,
				 "INSERT INTO nsh_queue_migrations (version, name) VALUES ($1, $2)",
				 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = pg_fail(q, r, err, "recording a migration");
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	rc = exec_plain(q, "COMMIT", NULL, err, "committing the queue schema");
out:
	PQclear(res);
	if (rc && PQtransactionStatus(q->conn) != PQTRANS_IDLE)
		PQclear(PQexec(q->conn, "ROLLBACK"));
	return rc;
}

static void drop_notice(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

struct pg_conn *nsh_pg_connect(const char *url, struct nsh_err *err)
{
	/* The URL comes last and is expanded, so its own settings win. */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {NULL, "nightshift", url, NULL};
	char timeout[16];
	PGconn *conn;

	if (nsh_pgq_url_check(url, err))
		return NULL;
	snprintf(timeout, sizeof(timeout), "%d", NSH_PGQ_CONNECT_TIMEOUT_S);
	vals[0] = timeout;
	conn = PQconnectdbParams(keys, vals, 1);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		connect_fail(conn, url, err);
		PQfinish(conn);
		return NULL;
	}
	/* A library prints nothing: the server's notices and warnings are dropped. */
	PQsetNoticeProcessor(conn, drop_notice, NULL);
	return conn;
}

int nsh_pgq_open(const char *url, struct nsh_pgq **ret, struct nsh_err *err)
{
	struct nsh_pgq *q = NULL;
	PGconn *conn;
	int rc;

	conn = nsh_pg_connect(url, err);
	if (!conn)
		return err && err->code ? err->code : NSH_EIO;
	q = nsh_xcalloc(1, sizeof(*q));
	q->conn = conn;
	q->where = nsh_xasprintf("%s:%s", PQhost(conn), PQport(conn));
	rc = exec_plain(q, "SET client_min_messages = warning", NULL, err,
			"setting up the session");
	if (!rc)
		rc = migrate(q, err);
	if (rc) {
		nsh_pgq_close(q);
		return rc;
	}
	*ret = q;
	return 0;
}

void nsh_pgq_close(struct nsh_pgq *q)
{
	if (!q)
		return;
	PQfinish(q->conn);
	free(q->where);
	free(q);
}

int nsh_pgq_schema_version(struct nsh_pgq *q, int *ret, struct nsh_err *err)
{
	PGresult *res = NULL;
	int rc = exec_plain(q, "SELECT coalesce(max(version), 0) FROM nsh_queue_migrations", &res,
			    err, "reading the schema version");

	if (rc)
		return rc;
	*ret = (int)col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int nsh_pgq_set_sync_commit(struct nsh_pgq *q, bool on, struct nsh_err *err)
{
	return exec_plain(q, on ? "SET synchronous_commit = on" : "SET synchronous_commit = off",
			  NULL, err, "setting synchronous_commit");
}

/* ---- argument checks ---- */

static int check_name(const char *what, const char *v, struct nsh_err *err)
{
	if (!v || !*v)
		return nsh_err_set(err, NSH_EINVAL, "empty %s name", what);
	if (strlen(v) > NSH_PGQ_NAME_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "%s name longer than %d bytes", what,
				   NSH_PGQ_NAME_MAX);
	return 0;
}

static int check_text(const char *what, const char *v, struct nsh_err *err)
{
	if (v && strlen(v) > NSH_PGQ_PAYLOAD_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "%s longer than %u bytes", what,
				   NSH_PGQ_PAYLOAD_MAX);
	return 0;
}

static int check_lease(int64_t lease_ms, struct nsh_err *err)
{
	if (lease_ms <= 0 || lease_ms > LEASE_MAX_MS)
		return nsh_err_set(err, NSH_EINVAL, "lease of %lld ms out of range (1 to %lld)",
				   (long long)lease_ms, LEASE_MAX_MS);
	return 0;
}

/* ---- jobs ---- */

void nsh_pgq_job_release(struct nsh_pgq_job *j)
{
	if (!j)
		return;
	free(j->queue);
	free(j->payload);
	free(j->state);
	free(j->worker);
	free(j->step);
	free(j->step_data);
	free(j->result);
	memset(j, 0, sizeof(*j));
}

/* Fill @j from row @r of a JOB_COLS result. */
static void job_from_row(const PGresult *res, int r, struct nsh_pgq_job *j)
{
	j->id = col_i64(res, r, 0);
	j->queue = col_str(res, r, 1);
	j->payload = col_str(res, r, 2);
	j->state = col_str(res, r, 3);
	j->worker = col_str(res, r, 4);
	j->step = col_str(res, r, 5);
	j->step_data = col_str(res, r, 6);
	j->result = col_str(res, r, 7);
	j->claims = col_i64(res, r, 8);
	j->lease_left_ms = col_i64(res, r, 9);
}

int nsh_pgq_enqueue(struct nsh_pgq *q, const char *queue, const char *payload, int64_t *ret_id,
		    struct nsh_err *err)
{
	const char *params[2] = {queue, payload ? payload : ""};
	PGresult *res = NULL;
	int rc;

	rc = check_name("queue", queue, err);
	if (!rc)
		rc = check_text("payload", payload, err);
	if (!rc)
		rc = exec_stmt(q, ST_ENQUEUE, params, &res, err, "enqueueing a job");
	if (rc)
		return rc;
	if (ret_id)
		*ret_id = col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int nsh_pgq_claim(struct nsh_pgq *q, const char *queue, const char *worker, int64_t lease_ms,
		  struct nsh_pgq_job *ret, bool *ret_got, struct nsh_err *err)
{
	char lease[24];
	const char *params[3] = {queue, worker, lease};
	PGresult *res = NULL;
	int rc;

	rc = check_name("queue", queue, err);
	if (!rc)
		rc = check_name("worker", worker, err);
	if (!rc)
		rc = check_lease(lease_ms, err);
	if (rc)
		return rc;
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	rc = exec_stmt(q, ST_CLAIM, params, &res, err, "claiming a job");
	if (rc)
		return rc;
	*ret_got = PQntuples(res) == 1;
	if (*ret_got) {
		memset(ret, 0, sizeof(*ret));
		job_from_row(res, 0, ret);
	}
	PQclear(res);
	return 0;
}

/*
 * After a change of job @id by @worker matched no row: NSH_ENOTFOUND when
 * the job does not exist, else NSH_ECONFLICT saying who holds it now.
 */
static int not_held(struct nsh_pgq *q, const char *id, const char *worker, struct nsh_err *err)
{
	const char *params[1] = {id};
	PGresult *res = NULL;
	int rc = exec_stmt(q, ST_HOLDER, params, &res, err, "reading a job");

	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job %s", id);
	else if (!strcmp(PQgetvalue(res, 0, 0), "running"))
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "job %s is no longer leased to '%s': '%s' holds it now", id,
				 worker, PQgetvalue(res, 0, 1));
	else
		rc = nsh_err_set(err, NSH_ECONFLICT, "job %s is no longer leased to '%s': it is %s",
				 id, worker, PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* Run one of the statements that change job @id for its holder @worker. */
static int held_change(struct nsh_pgq *q, enum stmt_id st, const char *id,
		       const char *const *params, const char *worker, struct nsh_err *err,
		       const char *what)
{
	PGresult *res = NULL;
	int rc;

	rc = check_name("worker", worker, err);
	if (rc)
		return rc;
	rc = exec_stmt(q, st, params, &res, err, what);
	if (rc)
		return rc;
	rc = PQntuples(res) == 1 ? 0 : not_held(q, id, worker, err);
	PQclear(res);
	return rc;
}

int nsh_pgq_heartbeat(struct nsh_pgq *q, int64_t id, const char *worker, int64_t lease_ms,
		      struct nsh_err *err)
{
	char sid[24], lease[24];
	const char *params[3] = {sid, worker, lease};
	int rc = check_lease(lease_ms, err);

	if (rc)
		return rc;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	return held_change(q, ST_HEARTBEAT, sid, params, worker, err, "extending a lease");
}

int nsh_pgq_step(struct nsh_pgq *q, int64_t id, const char *worker, const char *step,
		 const char *data, struct nsh_err *err)
{
	char sid[24];
	const char *params[4] = {sid, worker, step, data};
	int rc = check_name("step", step, err);

	if (!rc)
		rc = check_text("step data", data, err);
	if (rc)
		return rc;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	return held_change(q, ST_STEP, sid, params, worker, err, "recording a step");
}

int nsh_pgq_complete(struct nsh_pgq *q, int64_t id, const char *worker, const char *result,
		     struct nsh_err *err)
{
	char sid[24];
	const char *params[3] = {sid, worker, result};
	int rc = check_text("result", result, err);

	if (rc)
		return rc;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	return held_change(q, ST_COMPLETE, sid, params, worker, err, "completing a job");
}

int nsh_pgq_fail(struct nsh_pgq *q, int64_t id, const char *worker, const char *error, bool retry,
		 struct nsh_err *err)
{
	char sid[24];
	const char *params[4] = {sid, worker, error, retry ? "true" : "false"};
	int rc = check_text("error", error, err);

	if (rc)
		return rc;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	return held_change(q, ST_FAIL, sid, params, worker, err, "failing a job");
}

int nsh_pgq_get(struct nsh_pgq *q, int64_t id, struct nsh_pgq_job *ret, struct nsh_err *err)
{
	char sid[24];
	const char *params[1] = {sid};
	PGresult *res = NULL;
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	rc = exec_stmt(q, ST_GET, params, &res, err, "reading a job");
	if (rc)
		return rc;
	if (PQntuples(res) == 1) {
		memset(ret, 0, sizeof(*ret));
		job_from_row(res, 0, ret);
	} else {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no job %s", sid);
	}
	PQclear(res);
	return rc;
}

void nsh_pgq_job_list_release(struct nsh_pgq_job_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_pgq_job_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_pgq_jobs(struct nsh_pgq *q, const char *queue, size_t limit, struct nsh_pgq_job_list *ret,
		 struct nsh_err *err)
{
	char slimit[24];
	const char *params[2] = {queue, limit ? slimit : NULL};
	PGresult *res = NULL;
	int rc = check_name("queue", queue, err);

	if (rc)
		return rc;
	snprintf(slimit, sizeof(slimit), "%zu", limit);
	rc = exec_stmt(q, ST_JOBS, params, &res, err, "listing jobs");
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		memset(&ret->v[ret->nr], 0, sizeof(ret->v[0]));
		job_from_row(res, r, &ret->v[ret->nr++]);
	}
	PQclear(res);
	return 0;
}

int nsh_pgq_counts(struct nsh_pgq *q, const char *queue, struct nsh_pgq_counts *ret,
		   struct nsh_err *err)
{
	const char *params[1] = {queue};
	struct nsh_pgq_counts c = {0};
	PGresult *res = NULL;
	int rc = check_name("queue", queue, err);

	if (!rc)
		rc = exec_stmt(q, ST_COUNTS, params, &res, err, "counting jobs");
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *state = PQgetvalue(res, r, 0);
		int64_t n = col_i64(res, r, 1);

		if (!strcmp(state, "queued"))
			c.queued = n;
		else if (!strcmp(state, "running"))
			c.running = n;
		else if (!strcmp(state, "done"))
			c.done = n;
		else if (!strcmp(state, "failed"))
			c.failed = n;
	}
	PQclear(res);
	*ret = c;
	return 0;
}

/* ---- events and notifications ---- */

void nsh_pgq_event_list_release(struct nsh_pgq_event_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].kind);
		free(l->v[i].worker);
		free(l->v[i].data);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int nsh_pgq_event_add(struct nsh_pgq *q, int64_t id, const char *kind, const char *worker,
		      const char *data, int64_t *ret_id, struct nsh_err *err)
{
	char sid[24];
	const char *params[4] = {sid, kind, worker, data};
	PGresult *res = NULL;
	int rc = check_name("event kind", kind, err);

	if (!rc && worker)
		rc = check_name("worker", worker, err);
	if (!rc)
		rc = check_text("event data", data, err);
	if (rc)
		return rc;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	rc = exec_stmt(q, ST_EVENT_ADD, params, &res, err, "adding an event");
	if (rc) {
		if (rc == NSH_ENOTFOUND)
			nsh_err_set(err, rc, "no job %s", sid);
		return rc;
	}
	if (ret_id)
		*ret_id = col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int nsh_pgq_events(struct nsh_pgq *q, int64_t after, int64_t job_id, size_t limit,
		   struct nsh_pgq_event_list *ret, struct nsh_err *err)
{
	char safter[24], sjob[24], slimit[24];
	const char *params[3] = {safter, sjob, limit ? slimit : NULL};
	PGresult *res = NULL;
	int rc;

	snprintf(safter, sizeof(safter), "%lld", (long long)after);
	snprintf(sjob, sizeof(sjob), "%lld", (long long)job_id);
	snprintf(slimit, sizeof(slimit), "%zu", limit);
	rc = exec_stmt(q, ST_EVENTS, params, &res, err, "listing events");
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		struct nsh_pgq_event *e;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		e = &ret->v[ret->nr++];
		e->id = col_i64(res, r, 0);
		e->job_id = col_i64(res, r, 1);
		e->kind = col_str(res, r, 2);
		e->worker = col_str(res, r, 3);
		e->data = col_str(res, r, 4);
	}
	PQclear(res);
	return 0;
}

int nsh_pgq_listen(struct nsh_pgq *q, int which, struct nsh_err *err)
{
	int rc = 0;

	if (which & NSH_PGQ_LISTEN_WORK)
		rc = exec_plain(q, "LISTEN " NSH_PGQ_CHANNEL_WORK, NULL, err, "listening for work");
	if (!rc && (which & NSH_PGQ_LISTEN_EVENTS))
		rc = exec_plain(q, "LISTEN " NSH_PGQ_CHANNEL_EVENTS, NULL, err,
				"listening for events");
	return rc;
}

/* Take one queued notification into @ret; false when there is none. */
static bool take_note(struct nsh_pgq *q, struct nsh_pgq_note *ret)
{
	PGnotify *n;

	while ((n = PQnotifies(q->conn))) {
		int ch = !strcmp(n->relname, NSH_PGQ_CHANNEL_WORK)     ? NSH_PGQ_LISTEN_WORK
			 : !strcmp(n->relname, NSH_PGQ_CHANNEL_EVENTS) ? NSH_PGQ_LISTEN_EVENTS
								       : 0;

		if (ch) {
			ret->channel = ch;
			ret->payload = nsh_xstrdup(n->extra);
			PQfreemem(n);
			return true;
		}
		PQfreemem(n);
	}
	return false;
}

int nsh_pgq_wait(struct nsh_pgq *q, int64_t timeout_ms, struct nsh_pgq_note *ret, bool *ret_got,
		 struct nsh_err *err)
{
	int64_t deadline = nsh_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char line[256];

	for (;;) {
		struct pollfd pfd = {.fd = PQsocket(q->conn), .events = POLLIN};
		int64_t left = deadline - nsh_time_mono_ms();
		int n;

		if (!PQconsumeInput(q->conn))
			goto broken;
		if (take_note(q, ret)) {
			*ret_got = true;
			return 0;
		}
		if (timeout_ms >= 0 && left <= 0)
			break;
		if (pfd.fd < 0)
			goto broken;
		n = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno != EINTR)
			return nsh_err_sys(err, errno, "waiting for postgresql at '%s'", q->where);
	}
	*ret_got = false;
	return 0;
broken:
	first_line(PQerrorMessage(q->conn), line, sizeof(line));
	return nsh_err_set(err, NSH_EIO, "lost the connection to postgresql at '%s': %s", q->where,
			   line);
}
