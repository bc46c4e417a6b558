/*
 * The SQLite driver of src/store/db.h. Statements are prepared with
 * SQLITE_PREPARE_PERSISTENT (they live as long as the store handle) and
 * errors are read back from the connection (extended result codes).
 */
#include "store/db.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "store/db_int.h"

#include "core/banned.h"

struct lite_db {
	struct nsh_db base;
	sqlite3 *h;
	fts5_api *fts5; /* looked up on first use */
	bool fts5_asked;
};

struct lite_stmt {
	struct nsh_db_stmt base;
	sqlite3_stmt *h;
	int bind_rc; /* the first failed binding since the reset, or SQLITE_OK */
};

static sqlite3 *hdl(struct nsh_db *db)
{
	return ((struct lite_db *)db)->h;
}

static sqlite3_stmt *sth(struct nsh_db_stmt *st)
{
	return ((struct lite_stmt *)st)->h;
}

/* The NSH_E* code for the SQLite result code @rc. */
static int code_of(int rc)
{
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE
			       ? NSH_EEXIST
			       : NSH_EINVAL;
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return NSH_EBUSY;
	return NSH_EIO;
}

static int lite_fail(struct nsh_db *db, struct nsh_err *err, const char *what)
{
	return nsh_err_set(err, code_of(sqlite3_extended_errcode(hdl(db))), "%s: %s", what,
			   sqlite3_errmsg(hdl(db)));
}

static void lite_close(struct nsh_db *db)
{
	sqlite3_close(hdl(db));
	free(db);
}

static int lite_exec(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	char *msg = NULL;
	int rc;

	if (sqlite3_exec(hdl(db), sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	rc = lite_fail(db, err, "database");
	if (msg)
		nsh_err_set(err, rc, "database: %s", msg);
	sqlite3_free(msg);
	return rc;
}

static int lite_begin(struct nsh_db *db, struct nsh_err *err)
{
	return lite_exec(db, "BEGIN IMMEDIATE", err);
}

static bool lite_in_tx(struct nsh_db *db)
{
	return !sqlite3_get_autocommit(hdl(db));
}

static int64_t lite_changes(struct nsh_db *db)
{
	return sqlite3_changes64(hdl(db));
}

static struct nsh_db_stmt *lite_prepare(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	sqlite3_stmt *h = NULL;
	struct lite_stmt *st;

	if (sqlite3_prepare_v3(hdl(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &h, NULL) !=
	    SQLITE_OK) {
		lite_fail(db, err, "preparing a statement");
		sqlite3_finalize(h);
		return NULL;
	}
	st = nsh_xcalloc(1, sizeof(*st));
	st->base.db = db;
	st->h = h;
	return &st->base;
}

static int lite_check(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	sqlite3_stmt *h = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(hdl(db), sql, -1, &h, NULL) != SQLITE_OK)
		rc = lite_fail(db, err, "preparing a statement");
	sqlite3_finalize(h);
	return rc;
}

static void lite_finalize(struct nsh_db_stmt *st)
{
	sqlite3_finalize(sth(st));
	free(st);
}

static void lite_reset(struct nsh_db_stmt *st)
{
	sqlite3_reset(sth(st));
	sqlite3_clear_bindings(sth(st));
	((struct lite_stmt *)st)->bind_rc = SQLITE_OK;
}

static int lite_param_count(struct nsh_db_stmt *st)
{
	return sqlite3_bind_parameter_count(sth(st));
}

/*
 * Keep the first failure of a binding (such as SQLITE_TOOBIG) for the step;
 * a parameter the statement does not have is ignored (db.h).
 */
static void bound(struct nsh_db_stmt *st, int rc)
{
	struct lite_stmt *l = (struct lite_stmt *)st;

	if (rc != SQLITE_OK && rc != SQLITE_RANGE && l->bind_rc == SQLITE_OK)
		l->bind_rc = rc;
}

static void lite_bind_int64(struct nsh_db_stmt *st, int i, int64_t v)
{
	bound(st, sqlite3_bind_int64(sth(st), i, v));
}

static void lite_bind_text(struct nsh_db_stmt *st, int i, const char *v)
{
	bound(st, sqlite3_bind_text(sth(st), i, v, -1, SQLITE_TRANSIENT));
}

static void lite_bind_blob(struct nsh_db_stmt *st, int i, const void *p, size_t len)
{
	bound(st, sqlite3_bind_blob64(sth(st), i, p, (sqlite3_uint64)len, SQLITE_TRANSIENT));
}

static void lite_bind_null(struct nsh_db_stmt *st, int i)
{
	bound(st, sqlite3_bind_null(sth(st), i));
}

static int lite_step(struct nsh_db_stmt *st)
{
	int rc = ((struct lite_stmt *)st)->bind_rc;

	if (rc != SQLITE_OK)
		return code_of(rc);
	rc = sqlite3_step(sth(st));
	if (rc == SQLITE_ROW)
		return NSH_DB_ROW;
	if (rc == SQLITE_DONE)
		return NSH_DB_DONE;
	return code_of(sqlite3_extended_errcode(hdl(st->db)));
}

static int64_t lite_col_int64(struct nsh_db_stmt *st, int i)
{
	return sqlite3_column_int64(sth(st), i);
}

static const char *lite_col_text(struct nsh_db_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(sth(st), i);
}

static const void *lite_col_blob(struct nsh_db_stmt *st, int i)
{
	return sqlite3_column_blob(sth(st), i);
}

static size_t lite_col_bytes(struct nsh_db_stmt *st, int i)
{
	return (size_t)sqlite3_column_bytes(sth(st), i);
}

static bool lite_col_is_null(struct nsh_db_stmt *st, int i)
{
	return sqlite3_column_type(sth(st), i) == SQLITE_NULL;
}

static const struct nsh_db_ops lite_ops = {
	.close = lite_close,
	.fail = lite_fail,
	.exec = lite_exec,
	.begin = lite_begin,
	.in_tx = lite_in_tx,
	.changes = lite_changes,
	.prepare = lite_prepare,
	.check = lite_check,
	.finalize = lite_finalize,
	.reset = lite_reset,
	.param_count = lite_param_count,
	.bind_int64 = lite_bind_int64,
	.bind_text = lite_bind_text,
	.bind_blob = lite_bind_blob,
	.bind_null = lite_bind_null,
	.step = lite_step,
	.col_int64 = lite_col_int64,
	.col_text = lite_col_text,
	.col_blob = lite_col_blob,
	.col_bytes = lite_col_bytes,
	.col_is_null = lite_col_is_null,
};

/*
 * Switch to WAL. Changing the journal mode needs a moment of exclusive
 * access, which a concurrent opener may hold; retry within @busy_ms.
 */
static int set_wal(struct nsh_db *db, const char *path, int busy_ms, struct nsh_err *err)
{
	int64_t until = nsh_time_mono_ms() + busy_ms;
	int rc;

	for (;;) {
		sqlite3_stmt *st = NULL;
		bool wal = false;

		rc = sqlite3_prepare_v2(hdl(db), "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				wal = !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
		}
		sqlite3_finalize(st);
		if (wal)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED && rc != SQLITE_ROW)
			return lite_fail(db, err, "enabling WAL");
		if (nsh_time_mono_ms() > until)
			return nsh_err_set(err, NSH_EBUSY, "database '%s' stays locked", path);
		nsh_time_sleep_ms(5);
	}
}

int nsh_db_open_sqlite(const char *path, int busy_ms, struct nsh_db **ret, struct nsh_err *err)
{
	struct lite_db *db = nsh_xcalloc(1, sizeof(*db));
	int rc;

	db->base.ops = &lite_ops;
	db->base.kind = NSH_DB_SQLITE;
	if (sqlite3_open_v2(path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				    SQLITE_OPEN_EXRESCODE,
			    NULL) != SQLITE_OK) {
		rc = nsh_err_set(err, NSH_EIO, "cannot open database '%s': %s", path,
				 db->h ? sqlite3_errmsg(db->h) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db->h, busy_ms);
	rc = set_wal(&db->base, path, busy_ms, err);
	if (rc)
		goto out;
	/*
	 * synchronous=NORMAL: in WAL mode a commit survives a crash of the
	 * process; only a power loss can take the last commits back.
	 */
	rc = lite_exec(&db->base, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", err);
out:
	if (rc) {
		lite_close(&db->base);
		return rc;
	}
	*ret = &db->base;
	return 0;
}

struct sqlite3 *nsh_db_sqlite(struct nsh_db *db)
{
	return db->kind == NSH_DB_SQLITE ? hdl(db) : NULL;
}

struct fts5_api *nsh_db_sqlite_fts5(struct nsh_db *db)
{
	struct lite_db *l = (struct lite_db *)db;
	sqlite3_stmt *st = NULL;

	if (db->kind != NSH_DB_SQLITE)
		return NULL;
	if (l->fts5_asked)
		return l->fts5;
	l->fts5_asked = true;
	if (sqlite3_prepare_v2(l->h, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_pointer(st, 1, (void *)&l->fts5, "fts5_api_ptr", NULL);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return l->fts5;
}
