/*
 * The PostgreSQL driver of src/store/db.h, on libpq. A statement keeps its
 * SQL with ?N turned into $N; its parameters are sent as text (blobs as
 * bytes) with types left to the server, which infers them from where they
 * are used. The statement runs when it is first stepped (PQexecParams) and
 * its rows are then read from the result. Errors follow the SQLSTATE:
 * 23505 NSH_EEXIST, other 23xxx NSH_EINVAL, 40001, 40P01 and 55P03
 * NSH_EBUSY, the rest NSH_EIO.
 *
 * Reconnecting: before each call to the server the driver reads what the
 * server sent meanwhile (without waiting), so a connection the server
 * closed (a restart, pg_terminate_backend()) is found broken before a
 * statement is sent. Found broken outside a transaction, it is opened
 * again from the same url, with the session settings and the LISTENs it
 * had, and the call goes on. Inside a transaction the transaction is lost
 * (the server rolled it back): every call fails with NSH_EIO until the
 * caller rolls back, and the call after that connects again. A statement
 * that fails because the connection drops while it runs is not sent again
 * (it may have run); the next call reconnects.
 */
#include "store/db.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/vec.h"
#include "store/db_int.h"
#include "store/store_int.h"

#include "core/banned.h"

/* Type oids (pg_type.h, stable across versions). */
#define BYTEA_OID 17
#define TEXT_OID  25

/* The most parameters of one statement (the store's have fewer than 20). */
#define MAX_PARAMS 64

struct pg_db {
	struct nsh_db base;
	PGconn *conn;
	char *url;		   /* to connect again */
	struct nsh_strvec listens; /* channels LISTENed on, to LISTEN again */
	bool tx;		   /* a transaction was open when the server last answered */
	bool in_setup;		   /* setting up a new connection: no reconnecting now */
	bool fatal;		   /* the server said FATAL outside a statement: it is closing */
	int64_t changes;	   /* rows of the last INSERT, UPDATE or DELETE */
	int64_t notified;	   /* notifications received (nsh_db_pg_notifications()) */
	int code;		   /* the last failure: NSH_E* */
	char *msg;		   /* and its message, or NULL */
};

struct pg_stmt {
	struct nsh_db_stmt base;
	char *sql;	     /* with $N placeholders */
	int nparams;	     /* the highest N */
	char **vals;	     /* [nparams]: owned values, NULL for SQL NULL */
	int *lens;	     /* [nparams]: lengths of binary values */
	int *fmts;	     /* [nparams]: 0 text, 1 binary */
	Oid *types;	     /* [nparams]: 0 (the server infers it), text for unused ones */
	PGresult *res;	     /* after the first step, or NULL */
	int row;	     /* the current row of @res; -1 before the first */
	unsigned char **bin; /* [columns]: bytea of the current row, decoded on demand */
	size_t *binlen;	     /* [columns] */
	int ncols;
};

static struct pg_db *pdb(struct nsh_db *db)
{
	return (struct pg_db *)db;
}

static struct pg_stmt *pst(struct nsh_db_stmt *st)
{
	return (struct pg_stmt *)st;
}

/* Copy the first line of @msg into @db's message. */
static void set_msg(struct pg_db *db, const char *msg)
{
	size_t n = strcspn(msg ? msg : "", "\n");

	free(db->msg);
	db->msg = nsh_xmemdup(msg ? msg : "", n);
}

/* Record the failure of @res (may be NULL) on @db; returns its code. */
static int record(struct pg_db *db, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	db->code = NSH_EIO;
	if (state) {
		if (!strcmp(state, "23505"))
			db->code = NSH_EEXIST;
		else if (!strncmp(state, "23", 2))
			db->code = NSH_EINVAL;
		else if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
			 !strcmp(state, "55P03"))
			db->code = NSH_EBUSY;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD)
		msg = NULL;
	set_msg(db, msg ? msg : PQerrorMessage(db->conn));
	return db->code;
}

/* Remember whether a transaction is open, while the connection can tell. */
static void note_tx(struct pg_db *db)
{
	PGTransactionStatusType t = PQtransactionStatus(db->conn);

	if (t != PQTRANS_UNKNOWN)
		db->tx = t != PQTRANS_IDLE;
}

static int pg_exec(struct nsh_db *db, const char *sql, struct nsh_err *err);

/* Keep the notifications @db's connection has received (it is about to go). */
static void count_notifications(struct pg_db *db)
{
	PGnotify *n;

	while ((n = PQnotifies(db->conn))) {
		db->notified++;
		PQfreemem(n);
	}
}

/*
 * The server's notices are dropped, but a FATAL one that arrives between
 * statements (pg_terminate_backend(), a shutdown) says the server is
 * closing the connection, possibly before the socket shows it.
 */
static void on_notice(void *arg, const PGresult *res)
{
	struct pg_db *db = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")))
		db->fatal = true;
}

/*
 * Set up a new connection of @db as the first one was: quiet notices, and
 * LISTEN on every channel of @db->listens.
 */
static int setup(struct pg_db *db, struct nsh_err *err)
{
	const char *ch;
	int rc;

	PQsetNoticeReceiver(db->conn, on_notice, db);
	db->fatal = false;
	db->in_setup = true;
	rc = pg_exec(&db->base, "SET client_min_messages = warning", err);
	nsh_vec_foreach(ch, &db->listens) {
		char *name, *sql;

		if (rc)
			break;
		name = PQescapeIdentifier(db->conn, ch, strlen(ch));
		if (!name) {
			rc = nsh_err_set(err, NSH_EIO, "cannot listen on '%s': %s", ch,
					 PQerrorMessage(db->conn));
			break;
		}
		sql = nsh_xasprintf("LISTEN %s", name);
		PQfreemem(name);
		rc = pg_exec(&db->base, sql, err);
		free(sql);
	}
	db->in_setup = false;
	return rc;
}

/*
 * Before a call to the server: read what it sent meanwhile, without
 * waiting (a notification, or the error and end of file of a connection
 * it closed). A broken connection is opened again when no transaction was
 * open on it; inside one, the failure is recorded and returned (the
 * transaction is gone) until the caller rolls back.
 */
static int ensure(struct pg_db *db)
{
	struct nsh_err err = NSH_ERR_INIT;
	PGconn *old;

	if (PQstatus(db->conn) == CONNECTION_OK && PQconsumeInput(db->conn)) {
		/* parse what came: the error a closing server sends arrives as a notice */
		(void)PQisBusy(db->conn);
		if (!db->fatal && PQstatus(db->conn) == CONNECTION_OK)
			return 0;
	}
	if (db->in_setup) {
		db->code = NSH_EIO;
		set_msg(db, PQerrorMessage(db->conn));
		return db->code;
	}
	if (db->tx) {
		db->code = NSH_EIO;
		set_msg(db, "the connection to postgresql was lost inside a transaction, which "
			    "was not committed; roll back and try again");
		return db->code;
	}
	count_notifications(db);
	old = db->conn;
	db->conn = nsh_pg_connect(db->url, &err);
	if (!db->conn) {
		db->conn = old; /* still broken: the next call tries again */
		db->code = err.code ? err.code : NSH_EIO;
		set_msg(db, err.msg);
		return db->code;
	}
	PQfinish(old);
	/* events may have been committed unheard: a waiter must read again */
	db->notified++;
	if (setup(db, &err)) {
		db->fatal = true; /* not as it was: the next call connects again */
		db->code = err.code ? err.code : NSH_EIO;
		set_msg(db, err.msg);
		return db->code;
	}
	return 0;
}

static int pg_fail(struct nsh_db *db, struct nsh_err *err, const char *what)
{
	struct pg_db *p = pdb(db);

	return nsh_err_set(err, p->code ? p->code : NSH_EIO, "%s: %s", what,
			   p->msg ? p->msg : "unknown error");
}

static void pg_close(struct nsh_db *db)
{
	PQfinish(pdb(db)->conn);
	free(pdb(db)->url);
	nsh_strvec_release(&pdb(db)->listens);
	free(pdb(db)->msg);
	free(db);
}

static int pg_exec(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	struct pg_db *p = pdb(db);
	PGresult *res;
	ExecStatusType st;
	int rc = 0;

	/* the server already rolled back the transaction of a lost connection */
	if (p->tx && (PQstatus(p->conn) != CONNECTION_OK || p->fatal) && !strcmp(sql, "ROLLBACK")) {
		p->tx = false;
		return 0;
	}
	if (ensure(p))
		return pg_fail(db, err, "database");
	res = PQexec(p->conn, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		record(p, res);
		rc = pg_fail(db, err, "database");
	}
	PQclear(res);
	note_tx(p);
	return rc;
}

static int pg_begin(struct nsh_db *db, struct nsh_err *err)
{
	/* Writers take turns as SQLite's BEGIN IMMEDIATE makes them do. */
	return pg_exec(db, "BEGIN; SELECT pg_advisory_xact_lock(1853321586)", err);
}

static bool pg_in_tx(struct nsh_db *db)
{
	struct pg_db *p = pdb(db);

	/* a lost connection counts as in one while its transaction is not rolled back */
	if (PQstatus(p->conn) != CONNECTION_OK || p->fatal)
		return p->tx;
	return PQtransactionStatus(p->conn) != PQTRANS_IDLE;
}

static int64_t pg_changes(struct nsh_db *db)
{
	return pdb(db)->changes;
}

/*
 * @sql with ?N turned into $N outside quotes, into @out; the highest N
 * goes to @ret_n and each N used is set in @used (of @nused entries).
 */
static void translate(const char *sql, struct nsh_buf *out, int *ret_n, bool *used, int nused)
{
	char quote = 0;
	int max = 0;

	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == '?' && p[1] >= '0' && p[1] <= '9') {
			int n = (int)strtol(p + 1, NULL, 10);

			if (n > max)
				max = n;
			if (n >= 1 && n <= nused)
				used[n - 1] = true;
			nsh_buf_addch(out, '$');
			continue;
		}
		nsh_buf_addch(out, *p);
	}
	*ret_n = max;
}

static struct nsh_db_stmt *pg_prepare(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	struct pg_stmt *st = nsh_xcalloc(1, sizeof(*st));
	bool used[MAX_PARAMS] = {false};
	struct nsh_buf b;

	nsh_buf_init(&b, SIZE_MAX);
	translate(sql, &b, &st->nparams, used, MAX_PARAMS);
	if (st->nparams > MAX_PARAMS) {
		nsh_buf_release(&b);
		free(st);
		nsh_err_set(err, NSH_EINVAL, "preparing a statement: more than %d parameters",
			    MAX_PARAMS);
		return NULL;
	}
	st->base.db = db;
	st->sql = nsh_buf_detach(&b, NULL);
	st->row = -1;
	if (st->nparams) {
		st->vals = nsh_xcalloc((size_t)st->nparams, sizeof(*st->vals));
		st->lens = nsh_xcalloc((size_t)st->nparams, sizeof(*st->lens));
		st->fmts = nsh_xcalloc((size_t)st->nparams, sizeof(*st->fmts));
		st->types = nsh_xcalloc((size_t)st->nparams, sizeof(*st->types));
		/* a parameter the SQL does not use has no type to infer */
		for (int i = 0; i < st->nparams; i++)
			st->types[i] = used[i] ? 0 : TEXT_OID;
	}
	return &st->base;
}

/* Forget the decoded bytea of the current row. */
static void drop_bin(struct pg_stmt *st)
{
	for (int i = 0; i < st->ncols; i++) {
		PQfreemem(st->bin[i]);
		st->bin[i] = NULL;
	}
}

static void pg_reset(struct nsh_db_stmt *s)
{
	struct pg_stmt *st = pst(s);

	drop_bin(st);
	free(st->bin);
	free(st->binlen);
	st->bin = NULL;
	st->binlen = NULL;
	st->ncols = 0;
	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	for (int i = 0; i < st->nparams; i++) {
		free(st->vals[i]);
		st->vals[i] = NULL;
		st->lens[i] = 0;
		st->fmts[i] = 0;
	}
}

static void pg_finalize(struct nsh_db_stmt *s)
{
	struct pg_stmt *st = pst(s);

	pg_reset(s);
	free(st->vals);
	free(st->lens);
	free(st->fmts);
	free(st->types);
	free(st->sql);
	free(st);
}

static int pg_param_count(struct nsh_db_stmt *st)
{
	return pst(st)->nparams;
}

/* Set parameter @i to @len bytes at @p (NULL: SQL NULL) in format @fmt. */
static void set_param(struct nsh_db_stmt *s, int i, const void *p, size_t len, int fmt)
{
	struct pg_stmt *st = pst(s);

	if (i < 1 || i > st->nparams)
		return;
	free(st->vals[i - 1]);
	st->vals[i - 1] = NULL;
	if (p) {
		st->vals[i - 1] = nsh_xmalloc(len + 1);
		memcpy(st->vals[i - 1], p, len);
		st->vals[i - 1][len] = '\0';
	}
	st->lens[i - 1] = (int)len;
	st->fmts[i - 1] = fmt;
}

static void pg_bind_int64(struct nsh_db_stmt *st, int i, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	set_param(st, i, num, (size_t)n, 0);
}

static void pg_bind_text(struct nsh_db_stmt *st, int i, const char *v)
{
	set_param(st, i, v, strlen(v), 0);
}

static void pg_bind_blob(struct nsh_db_stmt *st, int i, const void *p, size_t len)
{
	set_param(st, i, len ? p : "", len, 1);
}

static void pg_bind_null(struct nsh_db_stmt *st, int i)
{
	set_param(st, i, NULL, 0, 0);
}

static int pg_step(struct nsh_db_stmt *s)
{
	struct pg_stmt *st = pst(s);
	struct pg_db *db = pdb(s->db);
	ExecStatusType status;

	if (!st->res) {
		const char *tuples;
		int rc = ensure(db);

		if (rc)
			return rc;
		st->res = PQexecParams(db->conn, st->sql, st->nparams, st->types,
				       (const char *const *)st->vals, st->lens, st->fmts, 0);
		status = PQresultStatus(st->res);
		note_tx(db);
		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
			rc = record(db, st->res);
			PQclear(st->res);
			st->res = NULL;
			return rc;
		}
		tuples = PQcmdTuples(st->res);
		if (*tuples)
			db->changes = strtoll(tuples, NULL, 10);
		st->ncols = PQnfields(st->res);
		if (st->ncols) {
			st->bin = nsh_xcalloc((size_t)st->ncols, sizeof(*st->bin));
			st->binlen = nsh_xcalloc((size_t)st->ncols, sizeof(*st->binlen));
		}
	}
	drop_bin(st);
	if (st->row + 1 >= PQntuples(st->res)) {
		st->row = PQntuples(st->res);
		return NSH_DB_DONE;
	}
	st->row++;
	return NSH_DB_ROW;
}

static bool in_row(struct pg_stmt *st, int i)
{
	return st->res && st->row >= 0 && st->row < PQntuples(st->res) && i >= 0 && i < st->ncols;
}

static bool pg_col_is_null(struct nsh_db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);

	return !in_row(st, i) || PQgetisnull(st->res, st->row, i);
}

static int64_t pg_col_int64(struct nsh_db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);
	const char *v;

	if (pg_col_is_null(s, i))
		return 0;
	v = PQgetvalue(st->res, st->row, i);
	/* booleans (such as the value of "a = b") read as 1 and 0 */
	if (!strcmp(v, "t"))
		return 1;
	if (!strcmp(v, "f"))
		return 0;
	return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct nsh_db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);

	if (pg_col_is_null(s, i))
		return NULL;
	return PQgetvalue(st->res, st->row, i);
}

/* Column @i of the current row decoded when it is a bytea; false when it is not one. */
static bool decode(struct pg_stmt *st, int i)
{
	if (PQftype(st->res, i) != BYTEA_OID)
		return false;
	if (!st->bin[i])
		st->bin[i] = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, i),
					     &st->binlen[i]);
	return true;
}

static const void *pg_col_blob(struct nsh_db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);

	if (pg_col_is_null(s, i))
		return NULL;
	if (decode(st, i))
		return st->binlen[i] ? st->bin[i] : NULL;
	return PQgetvalue(st->res, st->row, i);
}

static size_t pg_col_bytes(struct nsh_db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);

	if (pg_col_is_null(s, i))
		return 0;
	if (decode(st, i))
		return st->bin[i] ? st->binlen[i] : 0;
	return (size_t)PQgetlength(st->res, st->row, i);
}

static int pg_check(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	struct nsh_db_stmt *s = pg_prepare(db, sql, err);
	struct pg_stmt *st = pst(s);
	PGresult *res;
	int rc = 0;

	if (!s)
		return err && err->code ? err->code : NSH_EINVAL;
	if (ensure(pdb(db))) {
		pg_finalize(s);
		return pg_fail(db, err, "preparing a statement");
	}
	res = PQprepare(pdb(db)->conn, "", st->sql, st->nparams, st->types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		record(pdb(db), res);
		rc = pg_fail(db, err, "preparing a statement");
	}
	PQclear(res);
	pg_finalize(s);
	return rc;
}

static const struct nsh_db_ops pg_ops = {
	.close = pg_close,
	.fail = pg_fail,
	.exec = pg_exec,
	.begin = pg_begin,
	.in_tx = pg_in_tx,
	.changes = pg_changes,
	.prepare = pg_prepare,
	.check = pg_check,
	.finalize = pg_finalize,
	.reset = pg_reset,
	.param_count = pg_param_count,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.col_int64 = pg_col_int64,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.col_bytes = pg_col_bytes,
	.col_is_null = pg_col_is_null,
};

int nsh_db_pg_listen(struct nsh_db *db, const char *channel, struct nsh_err *err)
{
	char *name, *sql;
	int rc;

	if (db->kind != NSH_DB_PG)
		return nsh_err_set(err, NSH_EINVAL, "LISTEN needs a PostgreSQL store");
	if (ensure(pdb(db)))
		return pg_fail(db, err, "listening");
	name = PQescapeIdentifier(pdb(db)->conn, channel, strlen(channel));
	if (!name)
		return nsh_err_set(err, NSH_EIO, "cannot listen on '%s': %s", channel,
				   PQerrorMessage(pdb(db)->conn));
	sql = nsh_xasprintf("LISTEN %s", name);
	PQfreemem(name);
	rc = pg_exec(db, sql, err);
	free(sql);
	if (!rc && nsh_strvec_find(&pdb(db)->listens, channel) < 0)
		nsh_strvec_push(&pdb(db)->listens, channel);
	return rc;
}

int nsh_db_pg_notifications(struct nsh_db *db, int64_t *ret, struct nsh_err *err)
{
	struct pg_db *p = pdb(db);

	if (db->kind != NSH_DB_PG)
		return nsh_err_set(err, NSH_EINVAL, "notifications need a PostgreSQL store");
	/* reads what arrived; a lost connection is opened again (and counts as news) */
	if (ensure(p))
		return pg_fail(db, err, "postgresql connection lost");
	count_notifications(p);
	*ret = p->notified;
	return 0;
}

int nsh_db_open_pg(const char *url, struct nsh_db **ret, struct nsh_err *err)
{
	struct pg_db *db;
	PGconn *conn = nsh_pg_connect(url, err);
	int rc;

	if (!conn)
		return err && err->code ? err->code : NSH_EIO;
	db = nsh_xcalloc(1, sizeof(*db));
	db->base.ops = &pg_ops;
	db->base.kind = NSH_DB_PG;
	db->conn = conn;
	db->url = nsh_xstrdup(url);
	nsh_strvec_init(&db->listens);
	rc = setup(db, err);
	if (rc) {
		pg_close(&db->base);
		return rc;
	}
	*ret = &db->base;
	return 0;
}
