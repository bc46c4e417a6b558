/*
 * The SQL driver under the store: one connection and its prepared
 * statements, the same calls for SQLite (src/store/db_sqlite.c) and
 * PostgreSQL (src/store/db_pg.c). Store-internal: only src/store/ includes
 * it.
 *
 * SQL is written once for both: placeholders are ?1, ?2, ... (the
 * PostgreSQL driver turns them into $1, $2, ...), and statements use only
 * what both engines accept (RETURNING, ON CONFLICT, coalesce, ...).
 *
 * Errors: a failing call returns a negative NSH_E* code and keeps its
 * message in the connection until the next call; nsh_db_fail() copies it
 * into a struct nsh_err. Codes: a unique or primary key NSH_EEXIST, another
 * constraint NSH_EINVAL, a lock or serialisation conflict NSH_EBUSY, else
 * NSH_EIO.
 *
 * Thread rules: a connection and its statements belong to one thread at a
 * time.
 */
#ifndef NSH_STORE_DB_H
#define NSH_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fts5_api;
struct nsh_err;
struct nsh_db;
struct nsh_db_stmt;
struct sqlite3;

/** What nsh_db_step() found. Errors are negative NSH_E* codes. */
enum nsh_db_step {
	NSH_DB_ROW = 100, /* a row is ready for the column calls */
	NSH_DB_DONE = 101 /* the statement has run to its end */
};

/** The engine behind a connection. */
enum nsh_db_kind { NSH_DB_SQLITE, NSH_DB_PG };

/**
 * Open the SQLite database file @path (created when missing) in WAL mode,
 * with foreign keys on and a busy timeout of @busy_ms. The new connection
 * goes to @ret (the caller closes it with nsh_db_close()).
 * Errors: NSH_EIO, NSH_EBUSY (it stays locked).
 */
int nsh_db_open_sqlite(const char *path, int busy_ms, struct nsh_db **ret, struct nsh_err *err);

/**
 * Connect to the PostgreSQL database @url (postgres://...). The new
 * connection goes to @ret. Errors: NSH_EINVAL (bad url), NSH_EIO (it does
 * not come up; the message never shows a password). Without libpq support
 * compiled in: NSH_EINVAL.
 */
int nsh_db_open_pg(const char *url, struct nsh_db **ret, struct nsh_err *err);

/** Close @db; its statements must be finalized first. NULL is ignored. */
void nsh_db_close(struct nsh_db *db);

/** The engine of @db. */
enum nsh_db_kind nsh_db_kind(const struct nsh_db *db);

/** The SQLite handle of @db (borrowed), or NULL for another engine. */
struct sqlite3 *nsh_db_sqlite(struct nsh_db *db);

/**
 * The FTS5 API of the SQLite connection @db (borrowed, looked up once), or
 * NULL when @db is not SQLite or its SQLite has no FTS5.
 */
struct fts5_api *nsh_db_sqlite_fts5(struct nsh_db *db);

/**
 * PostgreSQL: LISTEN on @channel on the connection @db (outside a
 * transaction, so that it takes effect at once). NSH_EINVAL for another
 * engine.
 */
int nsh_db_pg_listen(struct nsh_db *db, const char *channel, struct nsh_err *err);

/**
 * PostgreSQL: read what the server sent without waiting, and give the
 * number of notifications received on @db so far in *@ret. NSH_EIO (and
 * the reason) when the connection is gone; NSH_EINVAL for another engine.
 */
int nsh_db_pg_notifications(struct nsh_db *db, int64_t *ret, struct nsh_err *err);

/**
 * Record the last failure on @db in @err, prefixed by @what; returns its
 * code (see the top of this file).
 */
int nsh_db_fail(struct nsh_db *db, struct nsh_err *err, const char *what);

/**
 * Run @sql, one or more statements without parameters or results.
 * Errors as above, with the message in @err.
 */
int nsh_db_exec(struct nsh_db *db, const char *sql, struct nsh_err *err);

/** Start a transaction that takes the write lock at once (SQLite: IMMEDIATE). */
int nsh_db_begin(struct nsh_db *db, struct nsh_err *err);

/** Commit the open transaction. */
int nsh_db_commit(struct nsh_db *db, struct nsh_err *err);

/** Roll back the open transaction, if there is one; errors are ignored. */
void nsh_db_rollback(struct nsh_db *db);

/** Whether a transaction is open on @db. */
bool nsh_db_in_tx(struct nsh_db *db);

/** Rows changed by the last INSERT, UPDATE or DELETE that ran to its end. */
int64_t nsh_db_changes(struct nsh_db *db);

/**
 * Prepare @sql (one statement, ?N placeholders) for repeated use. @sql
 * must stay valid until the statement is finalized. NULL, with @err set,
 * when it does not prepare.
 */
struct nsh_db_stmt *nsh_db_prepare(struct nsh_db *db, const char *sql, struct nsh_err *err);

/**
 * Whether @sql (one statement, ?N placeholders) would prepare on @db: 0,
 * or the code with the engine's message in @err. Runs nothing; on
 * PostgreSQL it asks the server (an unnamed prepared statement).
 */
int nsh_db_check(struct nsh_db *db, const char *sql, struct nsh_err *err);

/** Free @st. NULL is ignored. */
void nsh_db_finalize(struct nsh_db_stmt *st);

/** Reset @st and clear its bindings, ready for the next use. */
void nsh_db_reset(struct nsh_db_stmt *st);

/** How many parameters @st has (the highest N of its ?N). */
int nsh_db_param_count(struct nsh_db_stmt *st);

/*
 * Binding parameter @i (1-based). Values are copied. Errors show at the
 * step; binding a parameter the statement does not have does nothing.
 */

/** Bind @v as an integer. */
void nsh_db_bind_int64(struct nsh_db_stmt *st, int i, int64_t v);

/** Bind @v as text, or NULL when @v is NULL. */
void nsh_db_bind_text(struct nsh_db_stmt *st, int i, const char *v);

/** Bind @len bytes at @p as a blob. */
void nsh_db_bind_blob(struct nsh_db_stmt *st, int i, const void *p, size_t len);

/** Bind NULL. */
void nsh_db_bind_null(struct nsh_db_stmt *st, int i);

/**
 * Run @st to its next row: NSH_DB_ROW, NSH_DB_DONE, or a negative NSH_E*
 * code (message: nsh_db_fail()).
 */
int nsh_db_step(struct nsh_db_stmt *st);

/*
 * Column @i (0-based) of the current row. Pointers stay valid until the
 * next step or reset of @st.
 */

/** The value as an integer; 0 for NULL. */
int64_t nsh_db_col_int64(struct nsh_db_stmt *st, int i);

/** The value as NUL-terminated text, or NULL for NULL. */
const char *nsh_db_col_text(struct nsh_db_stmt *st, int i);

/** The value as bytes (see nsh_db_col_bytes()), or NULL for NULL or empty. */
const void *nsh_db_col_blob(struct nsh_db_stmt *st, int i);

/** The size in bytes of the text or blob last read from column @i. */
size_t nsh_db_col_bytes(struct nsh_db_stmt *st, int i);

/** Whether the value is NULL. */
bool nsh_db_col_is_null(struct nsh_db_stmt *st, int i);

#endif
