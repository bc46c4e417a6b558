/*
 * Internals shared by the files of the store module; no other module
 * includes this header.
 */
#ifndef NSH_STORE_STORE_INT_H
#define NSH_STORE_STORE_INT_H

#include <stddef.h>

struct nsh_store_migration {
	int version;	  /* 1, 2, ...: consecutive */
	const char *name; /* what it adds, recorded in schema_migrations */
	const char *sql;  /* statements run in one transaction */
};

/** The migrations in version order; their count goes to @ret_nr. */
const struct nsh_store_migration *nsh_store_migrations(size_t *ret_nr);

struct sqlite3;
struct nsh_err;
struct nsh_store;

/**
 * The connection of @s, for the store's other files (github.c) that keep
 * their statements to themselves. Borrowed; same thread rules as @s.
 */
struct sqlite3 *nsh_store_db(struct nsh_store *s);

/** Record SQLite's last failure on @s as an error prefixed with @what; returns the code. */
int nsh_store_db_fail(struct nsh_store *s, struct nsh_err *err, const char *what);

#endif
