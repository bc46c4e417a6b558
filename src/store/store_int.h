/*
 * Internals shared by the files of the store module; no other module
 * includes this header.
 */
#ifndef NSH_STORE_STORE_INT_H
#define NSH_STORE_STORE_INT_H

#include <stddef.h>

struct nsh_err;
struct nsh_store;
struct sqlite3;

struct nsh_store_migration {
	int version;	  /* 1, 2, ...: consecutive */
	const char *name; /* what it adds, recorded in schema_migrations */
	const char *sql;  /* statements run in one transaction */
};

/** The migrations in version order; their count goes to @ret_nr. */
const struct nsh_store_migration *nsh_store_migrations(size_t *ret_nr);

/** The connection of @s (borrowed; same thread rules as @s). */
struct sqlite3 *nsh_store_db(struct nsh_store *s);

/**
 * Record SQLite's view of the last failure on @s in @err, prefixed by
 * @what; returns the NSH_E* code.
 */
int nsh_store_db_fail(struct nsh_store *s, struct nsh_err *err, const char *what);

#endif
