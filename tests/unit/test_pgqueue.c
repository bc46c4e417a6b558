/*
 * The PostgreSQL job queue against a real server that this test starts
 * (tests/integ/pgcluster.sh): URL and connection errors, migrations, every
 * queue operation, leases that run out, and LISTEN/NOTIFY. Without the
 * PostgreSQL binaries the test says why and checks nothing.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"
#include "core/time.h"
#include "pgcluster.h"
#include "store/pgqueue.h"
#include "test.h"

#include "core/banned.h"

static char *url;

/* @url with its "nsh-test-pw@" password replaced by @pw ("" for none). */
static char *url_with_password(const char *pw)
{
	const char *at = strchr(url, '@');
	char *out;

	if (asprintf(&out, "postgres://nsh%s%s%s", *pw ? ":" : "", pw, at) < 0)
		abort();
	return out;
}

/* Run @sql on a plain libpq connection (for checks the queue API does not offer). */
static char *sql_value(const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQexec(c, sql);
	char *v = NULL;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		v = strdup(PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "sql '%s': %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return v ? v : strdup("");
}

static void test_url(void)
{
	struct nsh_config *cfg = NULL;
	struct nsh_err err = NSH_ERR_INIT;
	const char ini[] = "[db]\nurl = postgres://cfg@h/db\n";

	CHECK_INT(nsh_config_parse(ini, sizeof(ini) - 1, "t", &cfg, &err), 0);
	CHECK_STR(nsh_pgq_url("postgres://env@h/db", cfg), "postgres://env@h/db");
	CHECK_STR(nsh_pgq_url("", cfg), "postgres://cfg@h/db");
	CHECK_STR(nsh_pgq_url(NULL, cfg), "postgres://cfg@h/db");
	CHECK(nsh_pgq_url(NULL, NULL) == NULL);
	nsh_config_free(cfg);

	CHECK_INT(nsh_pgq_url_check("postgres://u@h:5432/db", &err), 0);
	CHECK_INT(nsh_pgq_url_check("postgresql://h/db", &err), 0);
	CHECK_INT(nsh_pgq_url_check("", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "NIGHTSHIFT_DB") != NULL);
	CHECK_INT(nsh_pgq_url_check("mysql://u:hunter2@h/db", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "expected postgres://") != NULL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	CHECK(strstr(err.msg, "mysql://u:***@h/db") != NULL);
	CHECK_INT(nsh_pgq_url_check("postgres://u:hunter2@h/db?bogus=1", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid database url") != NULL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	CHECK_INT(nsh_pgq_url_check("postgres://u@h/db?password=hunter2&sslmode=x&bogus=1", &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "'postgres://u@h/db?password=***&sslmode=x&bogus=1'") != NULL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	fprintf(stderr, "   %s\n", err.msg);
}

static void test_connect_errors(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq *q = NULL;
	char *bad = url_with_password("wrong-pw");
	char *none = url_with_password("");
	char *nodb = strdup(url);

	/* Nobody listens on port 1 of loopback. */
	CHECK_INT(nsh_pgq_open("postgres://nsh:s3cret@127.0.0.1:1/nightshift", &q, &err), NSH_EIO);
	CHECK(strstr(err.msg, "cannot reach postgresql at '127.0.0.1:1'") != NULL);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	fprintf(stderr, "   unreachable: %s\n", err.msg);

	CHECK_INT(nsh_pgq_open(bad, &q, &err), NSH_EDENIED);
	CHECK(strstr(err.msg, "authentication failed") != NULL);
	CHECK(strstr(err.msg, "wrong-pw") == NULL);
	fprintf(stderr, "   bad password: %s\n", err.msg);

	setenv("PGPASSFILE", "/nonexistent", 1);
	unsetenv("PGPASSWORD");
	CHECK_INT(nsh_pgq_open(none, &q, &err), NSH_EDENIED);
	CHECK(strstr(err.msg, "wants a password") != NULL);
	fprintf(stderr, "   no password: %s\n", err.msg);

	memcpy(strrchr(nodb, '/'), "/nodb", 6);
	CHECK_INT(nsh_pgq_open(nodb, &q, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "no database 'nodb'") != NULL);
	CHECK(q == NULL);
	free(bad);
	free(none);
	free(nodb);
}

static void test_migrate(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq *a = NULL, *b = NULL;
	int v = 0;
	char *s;

	CHECK_INT(nsh_pgq_open(url, &a, &err), 0);
	CHECK_INT(nsh_pgq_schema_version(a, &v, &err), 0);
	CHECK_INT(v, NSH_PGQ_SCHEMA_VERSION);
	CHECK_INT(nsh_pgq_set_sync_commit(a, false, &err), 0);
	CHECK_INT(nsh_pgq_set_sync_commit(a, true, &err), 0);
	/* A second open finds the schema in place and changes nothing. */
	CHECK_INT(nsh_pgq_open(url, &b, &err), 0);
	s = sql_value("SELECT count(*) FROM nsh_queue_migrations");
	CHECK_STR(s, "1");
	free(s);
	nsh_pgq_close(b);
	b = NULL;

	/* A schema from a newer build is refused. */
	free(sql_value("INSERT INTO nsh_queue_migrations (version, name) VALUES (99, 'future')"));
	CHECK_INT(nsh_pgq_open(url, &b, &err), NSH_EVERSION);
	CHECK(strstr(err.msg, "version 99") != NULL);
	CHECK(b == NULL);
	free(sql_value("DELETE FROM nsh_queue_migrations WHERE version = 99"));
	nsh_pgq_close(a);
}

static void test_queue_ops(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq *q = NULL;
	struct nsh_pgq_job j = {0};
	struct nsh_pgq_counts c;
	struct nsh_pgq_event_list ev = {0};
	int64_t id1 = 0, id2 = 0, id3 = 0, eid = 0;
	bool got = false;

	if (nsh_pgq_open(url, &q, &err)) {
		CHECK(!"open");
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK_INT(nsh_pgq_enqueue(q, "ops", "{\"repo\":\"a\"}", &id1, &err), 0);
	CHECK_INT(nsh_pgq_enqueue(q, "ops", NULL, &id2, &err), 0);
	CHECK_INT(nsh_pgq_enqueue(q, "other", "x", &id3, &err), 0);
	CHECK(id1 > 0 && id2 > id1 && id3 > id2);
	CHECK_INT(nsh_pgq_enqueue(q, "", "x", NULL, &err), NSH_EINVAL);
	CHECK_INT(nsh_pgq_counts(q, "ops", &c, &err), 0);
	CHECK_INT(c.queued, 2);
	CHECK_INT(c.running + c.done + c.failed, 0);

	/* Oldest first, leased to the claimer. */
	CHECK_INT(nsh_pgq_claim(q, "ops", "w1", 60000, &j, &got, &err), 0);
	CHECK(got);
	CHECK_INT(j.id, id1);
	CHECK_STR(j.payload, "{\"repo\":\"a\"}");
	CHECK_STR(j.state, "running");
	CHECK_STR(j.worker, "w1");
	CHECK(j.step == NULL);
	CHECK_INT(j.claims, 1);
	CHECK(j.lease_left_ms > 50000 && j.lease_left_ms <= 60000);
	nsh_pgq_job_release(&j);
	CHECK_INT(nsh_pgq_claim(q, "ops", "w1", 0, &j, &got, &err), NSH_EINVAL);

	/* Steps, heartbeat, completion; another worker may do none of it. */
	CHECK_INT(nsh_pgq_step(q, id1, "w1", "clone", "{\"sha\":\"abc\"}", &err), 0);
	CHECK_INT(nsh_pgq_step(q, id1, "w2", "clone", NULL, &err), NSH_ECONFLICT);
	CHECK(strstr(err.msg, "'w1' holds it") != NULL);
	CHECK_INT(nsh_pgq_heartbeat(q, id1, "w1", 120000, &err), 0);
	CHECK_INT(nsh_pgq_get(q, id1, &j, &err), 0);
	CHECK_STR(j.step, "clone");
	CHECK_STR(j.step_data, "{\"sha\":\"abc\"}");
	CHECK(j.lease_left_ms > 100000);
	nsh_pgq_job_release(&j);
	CHECK_INT(nsh_pgq_heartbeat(q, id1, "w2", 1000, &err), NSH_ECONFLICT);
	CHECK_INT(nsh_pgq_heartbeat(q, 999999, "w1", 1000, &err), NSH_ENOTFOUND);
	CHECK_INT(nsh_pgq_complete(q, id1, "w1", "ok", &err), 0);
	CHECK_INT(nsh_pgq_complete(q, id1, "w1", "ok", &err), NSH_ECONFLICT);
	CHECK(strstr(err.msg, "it is done") != NULL);
	CHECK_INT(nsh_pgq_get(q, id1, &j, &err), 0);
	CHECK_STR(j.state, "done");
	CHECK_STR(j.result, "ok");
	CHECK_INT(j.lease_left_ms, 0);
	nsh_pgq_job_release(&j);
	CHECK_INT(nsh_pgq_get(q, 999999, &j, &err), NSH_ENOTFOUND);

	/* A short lease runs out: another worker takes the job with its step. */
	CHECK_INT(nsh_pgq_claim(q, "ops", "w1", 150, &j, &got, &err), 0);
	CHECK(got && j.id == id2);
	nsh_pgq_job_release(&j);
	CHECK_INT(nsh_pgq_step(q, id2, "w1", "baseline", NULL, &err), 0);
	CHECK_INT(nsh_pgq_claim(q, "ops", "w2", 60000, &j, &got, &err), 0);
	CHECK(!got);
	nsh_time_sleep_ms(250);
	CHECK_INT(nsh_pgq_claim(q, "ops", "w2", 60000, &j, &got, &err), 0);
	CHECK(got && j.id == id2);
	CHECK_STR(j.step, "baseline");
	CHECK_STR(j.worker, "w2");
	CHECK_INT(j.claims, 2);
	nsh_pgq_job_release(&j);
	/* The first holder lost it and is told so. */
	CHECK_INT(nsh_pgq_heartbeat(q, id2, "w1", 1000, &err), NSH_ECONFLICT);
	CHECK_INT(nsh_pgq_complete(q, id2, "w1", NULL, &err), NSH_ECONFLICT);

	/* Fail with retry: back in the queue with its step; without: failed. */
	CHECK_INT(nsh_pgq_fail(q, id2, "w2", "flaky network", true, &err), 0);
	CHECK_INT(nsh_pgq_claim(q, "ops", "w3", 60000, &j, &got, &err), 0);
	CHECK(got && j.id == id2);
	CHECK_STR(j.step, "baseline");
	CHECK_INT(j.claims, 3);
	nsh_pgq_job_release(&j);
	CHECK_INT(nsh_pgq_fail(q, id2, "w3", "tests fail", false, &err), 0);
	CHECK_INT(nsh_pgq_claim(q, "ops", "w3", 60000, &j, &got, &err), 0);
	CHECK(!got);
	CHECK_INT(nsh_pgq_counts(q, "ops", &c, &err), 0);
	CHECK_INT(c.done, 1);
	CHECK_INT(c.failed, 1);
	CHECK_INT(c.queued + c.running, 0);
	{
		struct nsh_pgq_job_list l = {0};

		CHECK_INT(nsh_pgq_jobs(q, "ops", 0, &l, &err), 0);
		CHECK_INT(l.nr, 2);
		if (l.nr == 2) {
			CHECK_INT(l.v[0].id, id1);
			CHECK_STR(l.v[0].state, "done");
			CHECK_INT(l.v[1].id, id2);
			CHECK_STR(l.v[1].state, "failed");
			CHECK_STR(l.v[1].result, "tests fail");
		}
		nsh_pgq_job_list_release(&l);
		CHECK_INT(nsh_pgq_jobs(q, "ops", 1, &l, &err), 0);
		CHECK_INT(l.nr, 1);
		nsh_pgq_job_list_release(&l);
	}

	/* The events of job 2 in order, and one a caller adds. */
	CHECK_INT(nsh_pgq_event_add(q, id2, "note", NULL, "hello", &eid, &err), 0);
	CHECK(eid > 0);
	CHECK_INT(nsh_pgq_event_add(q, 999999, "note", NULL, NULL, NULL, &err), NSH_ENOTFOUND);
	CHECK_INT(nsh_pgq_events(q, 0, id2, 0, &ev, &err), 0);
	CHECK_INT(ev.nr, 4);
	if (ev.nr == 4) {
		CHECK_STR(ev.v[0].kind, "step");
		CHECK_STR(ev.v[0].data, "baseline");
		CHECK_STR(ev.v[0].worker, "w1");
		CHECK_STR(ev.v[1].kind, "retry");
		CHECK_STR(ev.v[1].data, "flaky network");
		CHECK_STR(ev.v[2].kind, "failed");
		CHECK_STR(ev.v[3].kind, "note");
		CHECK_INT(ev.v[3].id, eid);
		CHECK(ev.v[3].worker == NULL);
	}
	nsh_pgq_event_list_release(&ev);
	CHECK_INT(nsh_pgq_events(q, 0, 0, 2, &ev, &err), 0);
	CHECK_INT(ev.nr, 2);
	nsh_pgq_event_list_release(&ev);
	nsh_pgq_close(q);
}

static void test_notify(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq *waiter = NULL, *q = NULL;
	struct nsh_pgq_note n = {0};
	struct nsh_pgq_job j = {0};
	int64_t id = 0, t0;
	bool got = true;
	char want[24];

	if (nsh_pgq_open(url, &waiter, &err) || nsh_pgq_open(url, &q, &err)) {
		CHECK(!"open");
		goto out;
	}
	CHECK_INT(nsh_pgq_listen(waiter, NSH_PGQ_LISTEN_WORK | NSH_PGQ_LISTEN_EVENTS, &err), 0);
	t0 = nsh_time_mono_ms();
	CHECK_INT(nsh_pgq_wait(waiter, 200, &n, &got, &err), 0);
	CHECK(!got);
	CHECK(nsh_time_mono_ms() - t0 >= 190);

	CHECK_INT(nsh_pgq_enqueue(q, "notes", "x", &id, &err), 0);
	CHECK_INT(nsh_pgq_wait(waiter, 5000, &n, &got, &err), 0);
	CHECK(got);
	CHECK_INT(n.channel, NSH_PGQ_LISTEN_WORK);
	CHECK_STR(n.payload, "notes");
	free(n.payload);
	n.payload = NULL;

	CHECK_INT(nsh_pgq_claim(q, "notes", "w1", 60000, &j, &got, &err), 0);
	nsh_pgq_job_release(&j);
	CHECK_INT(nsh_pgq_step(q, id, "w1", "one", NULL, &err), 0);
	CHECK_INT(nsh_pgq_wait(waiter, 5000, &n, &got, &err), 0);
	CHECK(got);
	CHECK_INT(n.channel, NSH_PGQ_LISTEN_EVENTS);
	{
		struct nsh_pgq_event_list ev = {0};

		CHECK_INT(nsh_pgq_events(q, 0, id, 0, &ev, &err), 0);
		CHECK_INT(ev.nr, 1);
		snprintf(want, sizeof(want), "%lld", ev.nr ? (long long)ev.v[0].id : -1LL);
		CHECK_STR(n.payload, want);
		nsh_pgq_event_list_release(&ev);
	}
	free(n.payload);
	n.payload = NULL;
	/* Nothing else is pending. */
	CHECK_INT(nsh_pgq_wait(waiter, 0, &n, &got, &err), 0);
	CHECK(!got);
out:
	nsh_pgq_close(waiter);
	nsh_pgq_close(q);
}

int main(void)
{
	char *dir = NULL, *why = NULL;
	int rc = pgc_start(&dir, &url, &why);

	if (rc == 1) {
		printf("skipped, %s\n", strncmp(why, "skip: ", 6) ? why : why + 6);
		free(why);
		return TEST_DONE();
	}
	if (rc) {
		CHECK(!"a postgresql cluster starts");
		return TEST_DONE();
	}
	fprintf(stderr, "postgresql at %s\n", url);
	RUN(test_url);
	RUN(test_connect_errors);
	RUN(test_migrate);
	RUN(test_queue_ops);
	RUN(test_notify);
	pgc_stop(dir);
	free(dir);
	free(url);
	return TEST_DONE();
}
