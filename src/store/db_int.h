/*
 * What a driver of src/store/db.h provides: a table of its functions, and
 * the first member of its connection and statement structs. Only db.c and
 * the drivers (db_sqlite.c, db_pg.c) include this header.
 */
#ifndef NSH_STORE_DB_INT_H
#define NSH_STORE_DB_INT_H

#include "store/db.h"

struct nsh_db_ops {
	void (*close)(struct nsh_db *db);
	int (*fail)(struct nsh_db *db, struct nsh_err *err, const char *what);
	int (*exec)(struct nsh_db *db, const char *sql, struct nsh_err *err);
	int (*begin)(struct nsh_db *db, struct nsh_err *err);
	bool (*in_tx)(struct nsh_db *db);
	int64_t (*changes)(struct nsh_db *db);
	struct nsh_db_stmt *(*prepare)(struct nsh_db *db, const char *sql, struct nsh_err *err);
	int (*check)(struct nsh_db *db, const char *sql, struct nsh_err *err);
	void (*finalize)(struct nsh_db_stmt *st);
	void (*reset)(struct nsh_db_stmt *st);
	int (*param_count)(struct nsh_db_stmt *st);
	void (*bind_int64)(struct nsh_db_stmt *st, int i, int64_t v);
	void (*bind_text)(struct nsh_db_stmt *st, int i, const char *v);
	void (*bind_blob)(struct nsh_db_stmt *st, int i, const void *p, size_t len);
	void (*bind_null)(struct nsh_db_stmt *st, int i);
	int (*step)(struct nsh_db_stmt *st);
	int64_t (*col_int64)(struct nsh_db_stmt *st, int i);
	const char *(*col_text)(struct nsh_db_stmt *st, int i);
	const void *(*col_blob)(struct nsh_db_stmt *st, int i);
	size_t (*col_bytes)(struct nsh_db_stmt *st, int i);
	bool (*col_is_null)(struct nsh_db_stmt *st, int i);
};

/* The first member of a driver's connection. */
struct nsh_db {
	const struct nsh_db_ops *ops;
	enum nsh_db_kind kind;
};

/* The first member of a driver's statement. */
struct nsh_db_stmt {
	struct nsh_db *db;
};

#endif
