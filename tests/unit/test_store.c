/*
 * The store: migrations (fresh, upgrade from every earlier version, refusal
 * of a newer one), the database settings, and the row accessors. The
 * checks that do not look at SQLite itself run a second time on
 * PostgreSQL, in a cluster this test starts (tests/integ/pgcluster.sh);
 * without the PostgreSQL binaries that pass says why and checks nothing.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "pgstore.h"
#include "store/store.h"
#include "store/store_int.h"
#include "test.h"

static char *dir;

/*
 * Where the store of a check lives: a file named @name in the test's
 * directory, or during the PostgreSQL pass a new empty database.
 */
static char *db_path(const char *name)
{
	char *p;

	if (pgs_url)
		return pgs_new_db(name);
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

/* Run one query on a raw connection and return the first column as an int. */
static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	if (pgs_url)
		return pgs_int(path, sql);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* Execute @sql on a raw connection; returns SQLite's result code. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (pgs_url)
		return pgs_exec(path, sql);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* All schema objects' SQL, sorted and joined, for comparing two databases. */
static char *schema_text(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *out = strdup("");

	sqlite3_open(path, &db);
	sqlite3_prepare_v2(db,
			   "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema "
			   "WHERE sql IS NOT NULL ORDER BY name)",
			   -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		free(out);
		out = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static size_t migration_count(void)
{
	size_t nr;

	nsh_store_migrations(&nr);
	return nr;
}

static bool migration_exists(int v)
{
	size_t nr;
	const struct nsh_store_migration *m = nsh_store_migrations(&nr);

	for (size_t i = 0; i < nr; i++)
		if (m[i].version == v)
			return true;
	return false;
}

static void test_fresh(void)
{
	_nsh_cleanup_free_ char *path = db_path("fresh.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	const struct nsh_store_migration *m;
	size_t nr;
	int v = -1;

	m = nsh_store_migrations(&nr);
	/* increasing; the newest is the version (numbers are reserved per branch) */
	CHECK(nr > 0 && m[nr - 1].version == NSH_STORE_SCHEMA_VERSION);
	for (size_t i = 1; i < nr; i++)
		CHECK(m[i].version > m[i - 1].version);

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	CHECK(s != NULL);
	CHECK_INT(nsh_store_schema_version(s, &v, &err), 0);
	CHECK_INT(v, NSH_STORE_SCHEMA_VERSION);
	nsh_store_close(s);

	CHECK_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"), migration_count());
	if (pgs_url) {
		/* the tables the design names, but the full-text index */
		CHECK_INT(raw_int(path,
				  "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
				  "AND tablename IN ('orgs', 'repos', 'tasks', 'jobs', 'events', "
				  "'specs', 'prs', 'pr_comments', 'control_requests', 'memories', "
				  "'secrets', 'webhook_deliveries', 'pr_heads')"),
			  13);
		/* one migration per version, as on SQLite */
		CHECK_INT(raw_int(path, "SELECT max(version) FROM schema_migrations"),
			  NSH_STORE_SCHEMA_VERSION);
		CHECK_INT(nsh_store_open(path, &s, &err), 0);
		nsh_store_close(s);
		CHECK_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"),
			  migration_count());
		return;
	}
	CHECK_INT(raw_int(path,
			  "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
		  1);
	/* Every ordinary table is STRICT. */
	CHECK_INT(raw_int(path, "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND "
				"type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE "
				"'memories_fts%' AND strict = 0"),
		  0);
	/* The tables the design names. */
	CHECK_INT(raw_int(path,
			  "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
			  "('orgs', 'repos', 'tasks', 'jobs', 'events', 'specs', 'prs', "
			  "'pr_comments', 'control_requests', 'memories', 'memories_fts', "
			  "'secrets', 'webhook_deliveries', 'pr_heads')"),
		  14);

	/* Opening again applies nothing twice. */
	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	nsh_store_close(s);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"), migration_count());
}

static void test_foreign_keys_on(void)
{
	_nsh_cleanup_free_ char *path = db_path("fk.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	struct nsh_job_rec j = {0};

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	j.id = (char *)"j-000001";
	j.task_id = (char *)"t-nosuch";
	j.repo = (char *)"acme/api";
	j.state = (char *)"queued";
	/* A job of a task that does not exist violates the foreign key. */
	CHECK_INT(nsh_store_job_insert(s, &j, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, pgs_url ? "foreign key" : "FOREIGN KEY") != NULL);
	nsh_store_close(s);
}

/* Rows that are valid at schema version @v, to check they survive upgrades. */
static void insert_sample(const char *path, int v)
{
	if (v >= 1)
		CHECK_INT(raw_exec(path,
				   "INSERT INTO tasks (id, title, state, created_at, updated_at) "
				   "VALUES ('t-aaaaaa', 'upgrade lodash', 'running', 1, 2);"
				   "INSERT INTO events (task_id, kind, data, created_at) "
				   "VALUES ('t-aaaaaa', 'task.created', '{}', 1);"),
			  SQLITE_OK);
	if (v >= 2)
		CHECK_INT(raw_exec(path,
				   "INSERT INTO orgs (name, created_at) VALUES ('acme', 1);"
				   "INSERT INTO repos (org_id, name, created_at) VALUES (1, "
				   "'api', 1);"
				   "INSERT INTO prs (repo_id, number, head, base, title, author, "
				   "created_at, updated_at) VALUES (1, 1, 'h', 'main', 'x', 'u', "
				   "1, 1);"),
			  SQLITE_OK);
	if (v >= 3)
		CHECK_INT(raw_exec(path, "INSERT INTO memories (rule, created_at) VALUES ('use the "
					 "pipe pattern', 1);"),
			  SQLITE_OK);
}

static void test_upgrade_from_each_version(void)
{
	_nsh_cleanup_free_ char *fresh = db_path("reference.db");
	_nsh_cleanup_free_ char *want = NULL;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;

	CHECK_INT(nsh_store_open(fresh, &s, &err), 0);
	nsh_store_close(s);
	want = schema_text(fresh);

	for (int v = 0; v < NSH_STORE_SCHEMA_VERSION; v++) {
		char name[32];
		_nsh_cleanup_free_ char *path = NULL;
		_nsh_cleanup_free_ char *got = NULL;
		int have = -1;

		if (v && !migration_exists(v))
			continue; /* a number reserved by another branch */
		snprintf(name, sizeof(name), "from-v%d.db", v);
		path = db_path(name);
		CHECK_INT(nsh_store_open_version(path, v, &s, &err), 0);
		CHECK_INT(nsh_store_schema_version(s, &have, &err), 0);
		CHECK_INT(have, v);
		nsh_store_close(s);
		insert_sample(path, v);

		CHECK_INT(nsh_store_open(path, &s, &err), 0);
		CHECK_INT(nsh_store_schema_version(s, &have, &err), 0);
		CHECK_INT(have, NSH_STORE_SCHEMA_VERSION);
		nsh_store_close(s);

		got = schema_text(path);
		CHECK_STR(got, want);
		if (v >= 1)
			CHECK_INT(raw_int(path, "SELECT count(*) FROM tasks WHERE id = 't-aaaaaa'"),
				  1);
		if (v >= 3)
			CHECK_INT(raw_int(path, "SELECT count(*) FROM memories_fts WHERE "
						"memories_fts MATCH 'pipe'"),
				  1);
	}
}

static void test_newer_version_refused(void)
{
	_nsh_cleanup_free_ char *path = db_path("newer.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	nsh_store_close(s);
	CHECK_INT(raw_exec(path, "INSERT INTO schema_migrations VALUES (99, 'from the future', 1)"),
		  SQLITE_OK);
	s = NULL;
	CHECK_INT(nsh_store_open(path, &s, &err), NSH_EVERSION);
	CHECK(s == NULL);
	CHECK(strstr(err.msg, "schema version 99") != NULL);
	CHECK(strstr(err.msg, "newer") != NULL);
	/* Refusing changed nothing. */
	CHECK_INT(raw_int(path, "SELECT max(version) FROM schema_migrations"), 99);
}

static void test_not_a_database(void)
{
	_nsh_cleanup_free_ char *path = db_path("junk.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	FILE *f = fopen(path, "w");

	fputs("this is not a database, just a text file that is long enough to matter\n", f);
	for (int i = 0; i < 100; i++)
		fputs("more text more text more text more text more text\n", f);
	fclose(f);
	CHECK(nsh_store_open(path, &s, &err) < 0);
	CHECK(s == NULL);
	CHECK(strstr(err.msg, "not a database") != NULL);
}

static void test_events_append_only(void)
{
	_nsh_cleanup_free_ char *path = db_path("events.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_event_list l = {0};
	struct nsh_store *s = NULL;
	int64_t a = 0, b = 0, last = -1;

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	CHECK_INT(nsh_store_event_last_id(s, &last, &err), 0);
	CHECK_INT(last, 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "log", "{\"m\":1}", &a, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-2", "j-1", "log", NULL, &b, &err), 0);
	CHECK(b > a);
	CHECK_INT(nsh_store_event_last_id(s, &last, &err), 0);
	CHECK_INT(last, b);
	/* Invalid JSON data is refused. */
	CHECK(nsh_store_event_append(s, "t-1", NULL, "log", "{nope", NULL, &err) < 0);
	CHECK_INT(nsh_store_events_after(s, 0, NULL, 0, &l, &err), 0);
	CHECK_INT(l.nr, 2);
	CHECK_STR(l.v[1].data, "{}");
	CHECK_STR(l.v[1].job_id, "j-1");
	nsh_event_list_release(&l);
	CHECK_INT(nsh_store_events_after(s, a, "t-2", 0, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	nsh_event_list_release(&l);
	CHECK_INT(nsh_store_events_after(s, 0, "t-1", 0, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	nsh_event_list_release(&l);
	nsh_store_close(s);

	CHECK(raw_exec(path, "UPDATE events SET kind = 'x'") != SQLITE_OK);
	CHECK(raw_exec(path, "DELETE FROM events") != SQLITE_OK);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 2);
}

static void test_tasks_jobs_specs(void)
{
	_nsh_cleanup_free_ char *path = db_path("rows.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_rec t = {0}, got = {0};
	struct nsh_job_rec j = {0}, jgot = {0};
	struct nsh_task_list tl = {0};
	struct nsh_job_list jl = {0};
	struct nsh_store *s = NULL;
	char *body = NULL;
	int64_t ver = 0;

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	t.id = (char *)"t-000001";
	t.title = (char *)"upgrade lodash";
	t.state = (char *)"queued";
	t.org = (char *)"acme";
	t.created_ms = 1000;
	CHECK_INT(nsh_store_task_insert(s, &t, &err), 0);
	CHECK_INT(nsh_store_task_insert(s, &t, &err), NSH_EEXIST);
	t.id = (char *)"t-000002";
	t.created_ms = 2000;
	t.state = (char *)"running";
	CHECK_INT(nsh_store_task_insert(s, &t, &err), 0);
	t.id = (char *)"t-000003";
	t.state = (char *)"sleeping";
	CHECK_INT(nsh_store_task_insert(s, &t, &err), NSH_EINVAL); /* CHECK constraint */

	CHECK_INT(nsh_store_task_get(s, "t-000001", &got, &err), 0);
	CHECK_STR(got.title, "upgrade lodash");
	CHECK_STR(got.network, "integration");
	CHECK_STR(got.org, "acme");
	CHECK(got.brain == NULL);
	CHECK_INT(got.created_ms, 1000);
	nsh_task_rec_release(&got);
	CHECK_INT(nsh_store_task_get(s, "t-zzzzzz", &got, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "no task 't-zzzzzz'");
	CHECK(nsh_store_task_exists(s, "t-000002"));
	CHECK(!nsh_store_task_exists(s, "t-000009"));

	CHECK_INT(nsh_store_task_list(s, NULL, 0, &tl, &err), 0);
	CHECK_INT(tl.nr, 2);
	CHECK_STR(tl.v[0].id, "t-000002"); /* newest first */
	nsh_task_list_release(&tl);
	CHECK_INT(nsh_store_task_list(s, "queued", 0, &tl, &err), 0);
	CHECK_INT(tl.nr, 1);
	nsh_task_list_release(&tl);
	CHECK_INT(nsh_store_task_list(s, NULL, 1, &tl, &err), 0);
	CHECK_INT(tl.nr, 1);
	nsh_task_list_release(&tl);

	CHECK_INT(nsh_store_task_set_state(s, "t-000001", "paused", "queued", NULL, &err), 0);
	CHECK_INT(nsh_store_task_get(s, "t-000001", &got, &err), 0);
	CHECK_STR(got.state, "paused");
	CHECK_STR(got.paused_from, "queued");
	nsh_task_rec_release(&got);
	CHECK_INT(nsh_store_task_set_state(s, "t-nope", "paused", NULL, NULL, &err), NSH_ENOTFOUND);

	j.id = (char *)"j-000001";
	j.task_id = (char *)"t-000001";
	j.repo = (char *)"acme/web";
	j.state = (char *)"queued";
	j.position = 1;
	CHECK_INT(nsh_store_job_insert(s, &j, &err), 0);
	j.id = (char *)"j-000002";
	j.repo = (char *)"acme/api";
	j.position = 0;
	CHECK_INT(nsh_store_job_insert(s, &j, &err), 0);
	j.id = (char *)"j-000003"; /* same repo twice in one task */
	CHECK_INT(nsh_store_job_insert(s, &j, &err), NSH_EEXIST);
	CHECK_INT(nsh_store_job_list(s, "t-000001", &jl, &err), 0);
	CHECK_INT(jl.nr, 2);
	CHECK_STR(jl.v[0].repo, "acme/api"); /* plan order */
	nsh_job_list_release(&jl);
	CHECK_INT(nsh_store_job_set_state(s, "j-000001", "failed", "boom", &err), 0);
	CHECK_INT(nsh_store_job_get(s, "j-000001", &jgot, &err), 0);
	CHECK_STR(jgot.state, "failed");
	CHECK_STR(jgot.error, "boom");
	nsh_job_rec_release(&jgot);

	CHECK_INT(nsh_store_spec_get(s, "t-000001", 0, &body, &ver, &err), NSH_ENOTFOUND);
	CHECK_INT(nsh_store_spec_add(s, "t-000001", "# spec v1", &ver, &err), 0);
	CHECK_INT(ver, 1);
	CHECK_INT(nsh_store_spec_add(s, "t-000001", "# spec v2", &ver, &err), 0);
	CHECK_INT(ver, 2);
	CHECK_INT(nsh_store_spec_get(s, "t-000001", 0, &body, &ver, &err), 0);
	CHECK_STR(body, "# spec v2");
	CHECK_INT(ver, 2);
	free(body);
	CHECK_INT(nsh_store_spec_get(s, "t-000001", 1, &body, &ver, &err), 0);
	CHECK_STR(body, "# spec v1");
	free(body);
	nsh_store_close(s);
}

/*
 * The data version that event hubs watch (src/server/sse.c) changes when
 * another connection commits events, and stays put otherwise: SQLite's
 * PRAGMA data_version, PostgreSQL's notifications on nsh_events.
 */
static void test_data_version(void)
{
	_nsh_cleanup_free_ char *path = db_path("dv.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *a = NULL, *b = NULL;
	int64_t v1 = -1, v2 = -2, v3 = -3, until;

	CHECK_INT(nsh_store_open(path, &a, &err), 0);
	CHECK_INT(nsh_store_open(path, &b, &err), 0);
	CHECK_INT(nsh_store_data_version(a, &v1, &err), 0);
	CHECK_INT(nsh_store_data_version(a, &v2, &err), 0);
	CHECK(v1 == v2);
	CHECK_INT(nsh_store_event_append(b, "t-1", NULL, "log", NULL, NULL, &err), 0);
	until = nsh_time_mono_ms() + 5000;
	while (!nsh_store_data_version(a, &v3, &err) && v3 == v1 && nsh_time_mono_ms() < until)
		nsh_time_sleep_ms(10);
	CHECK(v3 != v1);
	/* a rolled-back append announces nothing */
	CHECK_INT(nsh_store_begin(b, &err), 0);
	CHECK_INT(nsh_store_event_append(b, "t-1", NULL, "gone", NULL, NULL, &err), 0);
	nsh_store_rollback(b);
	nsh_time_sleep_ms(200);
	CHECK_INT(nsh_store_data_version(a, &v2, &err), 0);
	CHECK(v2 == v3);
	nsh_store_close(b);
	nsh_store_close(a);
}

static void test_transactions(void)
{
	_nsh_cleanup_free_ char *path = db_path("txn.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	int64_t last = 0;

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "log", NULL, NULL, &err), 0);
	nsh_store_rollback(s);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 0);

	/* nested: an inner rollback undoes only the inner work */
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "outer", NULL, NULL, &err), 0);
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "inner", NULL, NULL, &err), 0);
	nsh_store_rollback(s);
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "kept", NULL, NULL, &err), 0);
	CHECK_INT(nsh_store_commit(s, &err), 0);
	/* nothing is visible to others before the outer commit */
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 0);
	CHECK_INT(nsh_store_commit(s, &err), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events WHERE kind IN ('outer', 'kept')"), 2);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events WHERE kind = 'inner'"), 0);
	/* an outer rollback undoes committed inner work too */
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "gone", NULL, NULL, &err), 0);
	CHECK_INT(nsh_store_commit(s, &err), 0);
	nsh_store_rollback(s);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events WHERE kind = 'gone'"), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 2);
	CHECK_INT(nsh_store_commit(s, &err), NSH_ECONFLICT);
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, "t-1", NULL, "log", NULL, &last, &err), 0);
	CHECK_INT(nsh_store_commit(s, &err), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 3);
	nsh_store_close(s);
}

struct check_ctx {
	struct nsh_store *s;
	int n;
};

static void check_one(const char *sql, void *ctx)
{
	struct check_ctx *c = ctx;
	struct nsh_err err = NSH_ERR_INIT;
	int rc = nsh_db_check(nsh_store_db(c->s), sql, &err);

	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "   %s\n   in: %s\n", err.msg, sql);
	c->n++;
}

/* Every statement of store.c and memory.c prepares on the engine of the pass. */
static void test_statements_prepare(void)
{
	_nsh_cleanup_free_ char *path = db_path("statements.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct check_ctx c = {0};

	CHECK_INT(nsh_store_open(path, &c.s, &err), 0);
	nsh_store_each_sql(nsh_db_kind(nsh_store_db(c.s)), check_one, &c);
	CHECK(c.n > 100);
	/* and a statement that does not is refused with the engine's message */
	CHECK(nsh_db_check(nsh_store_db(c.s), "SELECT nosuch FROM tasks WHERE id = ?1", &err) < 0);
	CHECK(strstr(err.msg, "nosuch") != NULL);
	nsh_store_close(c.s);
}

/* PostgreSQL: a wrong password is refused without showing it. */
static void test_pg_connect_errors(void)
{
	_nsh_cleanup_free_ char *url = strdup(pgs_url);
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	char *pw = strstr(url, "nsh-test-pw");

	memcpy(pw, "wrong-pw-xx", 11);
	CHECK(nsh_store_open(url, &s, &err) < 0);
	CHECK(s == NULL);
	CHECK(strstr(err.msg, "wrong-pw") == NULL);
	CHECK(strstr(err.msg, "nsh-test-pw") == NULL);
	fprintf(stderr, "   %s\n", err.msg);
}

/* PostgreSQL: secrets are bytes, and the SQLSTATE decides the error code. */
static void test_pg_values(void)
{
	_nsh_cleanup_free_ char *path = db_path("values");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	const char blob[] = {'a', 0, '\\', 'x', (char)0xff, '\''};
	void *got = NULL;
	size_t len = 0;
	int64_t org = 0;

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	CHECK_INT(nsh_store_secret_put(s, "K", "global", blob, sizeof(blob), &err), 0);
	CHECK_INT(nsh_store_secret_get(s, "K", "global", &got, &len, &err), 0);
	CHECK(len == sizeof(blob) && !memcmp(got, blob, len));
	free(got);
	CHECK_INT(nsh_store_org_add(s, "acme", "local", &org, &err), 0);
	CHECK(org > 0);
	CHECK_INT(nsh_store_org_add(s, "acme", "local", NULL, &err), NSH_EEXIST);
	CHECK(strstr(err.msg, "'acme' exists already") != NULL);
	CHECK_INT(nsh_store_org_add(s, "beta", "gitlab", NULL, &err), NSH_EINVAL);
	nsh_store_close(s);
}

/*
 * PostgreSQL: end every other connection to the database at @url (the
 * store's) from a connection of its own, and wait until the server has
 * let them go.
 */
static void pg_drop_others(const char *url)
{
	int64_t until = nsh_time_mono_ms() + 10000;

	CHECK(pgs_int(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
			   "datname = current_database() AND pid <> pg_backend_pid()") >= 1);
	while (pgs_int(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
			    "current_database() AND pid <> pg_backend_pid()") != 0 &&
	       nsh_time_mono_ms() < until)
		nsh_time_sleep_ms(10);
}

/*
 * PostgreSQL: a connection the server dropped is opened again by the next
 * call, with its LISTEN; inside a transaction the call fails, the
 * transaction is gone, and the call after the rollback works.
 */
static void test_pg_reconnect(void)
{
	_nsh_cleanup_free_ char *path = db_path("reconnect");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL, *b = NULL;
	struct nsh_task_rec tn = {.id = (char *)"t-000001",
				  .title = (char *)"before",
				  .state = (char *)"queued",
				  .created_ms = 1000};
	struct nsh_task_rec t = {0};
	const char *id = "t-000001";
	int64_t v1 = -1, v2 = -2, v3 = -3, until;

	CHECK_INT(nsh_store_open(path, &s, &err), 0);
	CHECK_INT(nsh_store_task_insert(s, &tn, &err), 0);
	CHECK_INT(nsh_store_data_version(s, &v1, &err), 0); /* LISTENs */
	pg_drop_others(path);
	CHECK_INT(nsh_store_task_get(s, id, &t, &err), 0);
	CHECK_STR(t.title, "before");
	nsh_task_rec_release(&t);
	/* the new connection LISTENs too: another connection's event is heard */
	CHECK_INT(nsh_store_data_version(s, &v2, &err), 0);
	CHECK_INT(nsh_store_open(path, &b, &err), 0);
	CHECK_INT(nsh_store_event_append(b, id, NULL, "log", NULL, NULL, &err), 0);
	until = nsh_time_mono_ms() + 5000;
	while (!nsh_store_data_version(s, &v3, &err) && v3 == v2 && nsh_time_mono_ms() < until)
		nsh_time_sleep_ms(10);
	CHECK(v3 != v2);
	nsh_store_close(b);
	/* a dropped connection found right away by a waiter */
	pg_drop_others(path);
	CHECK_INT(nsh_store_data_version(s, &v1, &err), 0);
	CHECK(v1 != v3); /* the events of the gap must be read again */

	/* inside a transaction: the call fails, nothing of it is kept */
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_event_append(s, id, NULL, "lost", NULL, NULL, &err), 0);
	pg_drop_others(path);
	CHECK_INT(nsh_store_event_append(s, id, NULL, "lost", NULL, NULL, &err), NSH_EIO);
	CHECK(strstr(err.msg, "connection to postgresql was lost") != NULL);
	/* and keeps failing until the caller rolls back */
	CHECK(nsh_store_task_get(s, id, &t, &err) < 0);
	nsh_task_rec_release(&t);
	nsh_store_rollback(s);
	CHECK_INT(nsh_store_event_append(s, id, NULL, "after", NULL, NULL, &err), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events WHERE kind = 'lost'"), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events WHERE kind = 'after'"), 1);
	/* a commit on a lost connection fails and rolls back; then a transaction works */
	tn.id = (char *)"t-000002";
	tn.title = (char *)"gone";
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_task_insert(s, &tn, &err), 0);
	pg_drop_others(path);
	CHECK_INT(nsh_store_commit(s, &err), NSH_EIO);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM tasks WHERE title = 'gone'"), 0);
	tn.title = (char *)"kept";
	CHECK_INT(nsh_store_begin(s, &err), 0);
	CHECK_INT(nsh_store_task_insert(s, &tn, &err), 0);
	CHECK_INT(nsh_store_commit(s, &err), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM tasks WHERE title = 'kept'"), 1);
	nsh_store_close(s);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	int pg;

	dir = t_tmpdir();
	RUN(test_fresh);
	RUN(test_foreign_keys_on);
	RUN(test_upgrade_from_each_version);
	RUN(test_newer_version_refused);
	RUN(test_not_a_database);
	RUN(test_events_append_only);
	RUN(test_tasks_jobs_specs);
	RUN(test_transactions);
	RUN(test_data_version);
	RUN(test_statements_prepare);

	/* The same checks on PostgreSQL, but those of SQLite's files and upgrades. */
	pg = pgs_start();
	CHECK(pg >= 0);
	if (pg > 0) {
		RUN(test_fresh);
		RUN(test_foreign_keys_on);
		RUN(test_newer_version_refused);
		RUN(test_events_append_only);
		RUN(test_tasks_jobs_specs);
		RUN(test_transactions);
		RUN(test_data_version);
		RUN(test_statements_prepare);
		RUN(test_pg_connect_errors);
		RUN(test_pg_values);
		RUN(test_pg_reconnect);
	}
	pgs_stop();
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
