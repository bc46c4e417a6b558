/*
 * Running a unit test's store checks a second time on PostgreSQL: start a
 * cluster with pgs_start() (tests/unit/pgcluster.h), then give each check
 * a new empty database from pgs_new_db() where it would take a SQLite
 * file, and stop with pgs_stop(). Without the PostgreSQL binaries
 * pgs_start() prints why and the pass checks nothing.
 */
#ifndef NSH_TEST_PGSTORE_H
#define NSH_TEST_PGSTORE_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcluster.h"

static char *pgs_url; /* the cluster's url during the PostgreSQL pass, else NULL */
static char *pgs_dir; /* its directory */

/*
 * Start the cluster: 1 when it runs (pgs_url is set), 0 when PostgreSQL
 * is not installed (the reason is printed), -1 when it fails to start.
 */
static inline int pgs_start(void)
{
	char *why = NULL;
	int rc = pgc_start(&pgs_dir, &pgs_url, &why);

	if (rc == 1)
		printf("-- postgresql: skipped, %s\n", why);
	else if (rc == 0)
		printf("-- the same checks on postgresql\n");
	free(why);
	return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

static inline void pgs_stop(void)
{
	if (pgs_dir)
		pgc_stop(pgs_dir);
	free(pgs_dir);
	free(pgs_url);
	pgs_dir = NULL;
	pgs_url = NULL;
}

/* A new empty database named after @name (letters and digits kept): its url. */
static inline char *pgs_new_db(const char *name)
{
	const char *slash = strrchr(pgs_url, '/');
	char db[64], sql[96];
	size_t n = 0;
	PGconn *c = PQconnectdb(pgs_url);
	PGresult *r;
	char *url;

	for (const char *q = name; *q && n < sizeof(db) - 1; q++)
		db[n++] = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ? *q : '_';
	db[n] = '\0';
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "pgstore: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	if (asprintf(&url, "%.*s/%s", (int)(slash - pgs_url), pgs_url, db) < 0)
		abort();
	return url;
}

/* Run one query on a raw connection to @url: the first column as an int, -1 on failure. */
static inline long long pgs_int(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQexec(c, sql);
	long long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

/* Run @sql on a raw connection to @url: 0 when it worked, else 1. */
static inline int pgs_exec(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	PQclear(r);
	PQfinish(c);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : 1;
}

#endif
