/*
 * Internals shared by the files of the store module; no other module
 * includes this header.
 */
#ifndef NSH_STORE_STORE_INT_H
#define NSH_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

struct nsh_err;
struct nsh_store;

struct nsh_store_migration {
	int version;	  /* 1, 2, ...: consecutive */
	const char *name; /* what it adds, recorded in schema_migrations */
	const char *sql;  /* statements run in one transaction */
};

/** The migrations in version order; their count goes to @ret_nr. */
const struct nsh_store_migration *nsh_store_migrations(size_t *ret_nr);

/** The migrations for engine @kind, in version order; their count goes to @ret_nr. */
const struct nsh_store_migration *nsh_store_migrations_for(enum nsh_db_kind kind, size_t *ret_nr);

/*
 * For the files of the store beside store.c (one per area, such as
 * memory.c): the connection and the helpers store.c uses itself.
 */

/** The connection of @s (borrowed; same thread rules as @s). */
struct nsh_db *nsh_store_db(struct nsh_store *s);

/**
 * Record the driver's view of the last failure on @s in @err, prefixed by
 * @what; returns the code (NSH_EEXIST for a unique key, NSH_EINVAL for
 * another constraint, NSH_EBUSY, else NSH_EIO).
 */
int nsh_store_db_fail(struct nsh_store *s, struct nsh_err *err, const char *what);

/**
 * The statement for @sql, prepared on first use and kept until the handle
 * closes. @sql must be a string with static storage: its address is the
 * key. Reset it with nsh_store_stmt_done() after use. NULL (and @err set)
 * when it does not prepare.
 */
struct nsh_db_stmt *nsh_store_stmt_sql(struct nsh_store *s, const char *sql, struct nsh_err *err);

/** Reset @st and clear its bindings, ready for the next use. */
void nsh_store_stmt_done(struct nsh_db_stmt *st);

/** Bind @v as text (NULL binds NULL). */
void nsh_store_bind_text(struct nsh_db_stmt *st, int i, const char *v);

/** Bind @ms, or NULL when it is 0. */
void nsh_store_bind_ms(struct nsh_db_stmt *st, int i, int64_t ms);

/** Column @i as a new string, or NULL when it is NULL. */
char *nsh_store_col_text(struct nsh_db_stmt *st, int i);

/**
 * Call @fn with the SQL of each statement of memory.c that both engines
 * run (all but the FTS5 search), for tests.
 */
void nsh_store_memory_each_sql(void (*fn)(const char *sql, void *ctx), void *ctx);

/** The same for the statements of src/store/runner.c. */
void nsh_store_runner_each_sql(void (*fn)(const char *sql, void *ctx), void *ctx);

/**
 * Call @fn with the SQL of every statement store.c and memory.c run on
 * engine @kind (limits.c and github.c keep theirs inline), for tests that
 * check each one prepares (nsh_db_check()).
 */
void nsh_store_each_sql(enum nsh_db_kind kind, void (*fn)(const char *sql, void *ctx), void *ctx);

struct pg_conn;

/**
 * Connect to PostgreSQL at @url (src/store/pgqueue.c): the url is checked,
 * the connection times out, notices are dropped, and errors explain the
 * failure without showing a password (NSH_EINVAL, NSH_EDENIED,
 * NSH_ENOTFOUND, NSH_EIO). Returns the connection (the caller PQfinish()es
 * it), or NULL with @err set.
 */
struct pg_conn *nsh_pg_connect(const char *url, struct nsh_err *err);

/** @url with its passwords replaced by "***", for messages (a new string). */
char *nsh_pg_url_shown(const char *url);

/** Whether @target names a PostgreSQL database (postgres:// or postgresql://). */
bool nsh_store_target_is_pg(const char *target);

/**
 * Set up what the memory tables need on a new connection (src/store/memory.c:
 * the ranking function of memories_fts; rows of older versions completed)
 * at schema @version (7 or later). Called by nsh_store_open_version().
 */
int nsh_store_memory_setup(struct nsh_store *s, int version, struct nsh_err *err);

#endif
