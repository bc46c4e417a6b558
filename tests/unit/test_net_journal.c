/*
 * Tests for the network journal: proxy decisions become events of the
 * job's log with the fields a client shows (host, port, level, reason,
 * bytes), allowed connections once at their end, and nothing is lost
 * without being counted, even while the database is locked by someone
 * else and the queue overflows.
 */
#include "net/net.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "store/store.h"
#include "task/task.h"
#include "test.h"

#include "core/banned.h"

static char *dir, *db;
static struct nsh_store *st;
static char task[32], job[32];

static void setup(void)
{
	struct nsh_task_new tn = {.title = "journal"};
	struct nsh_err err = NSH_ERR_INIT;

	dir = t_tmpdir();
	db = nsh_xasprintf("%s/nightshift.db", dir);
	if (nsh_store_open(db, &st, &err) || nsh_task_create(st, &tn, task, &err) ||
	    nsh_job_create(st, task, "demo/net", 0, job, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		abort();
	}
}

static struct nsh_proxy_decision decision(const char *host, int port, bool allowed)
{
	return (struct nsh_proxy_decision){
		.allowed = allowed,
		.host = host,
		.port = port,
		.level = NSH_NET_INTEGRATION,
		.reason = allowed ? "allowed" : "not in the allowlist",
		.addr = "",
		.is_connect = true,
		.status = allowed ? 200 : 403,
	};
}

/* The events of kind @kind after id @after, as parsed data objects (a new array). */
static json_t *events(const char *kind, int64_t after)
{
	struct nsh_event_list l = {0};
	json_t *arr = json_array();

	CHECK_INT(nsh_store_events_after(st, after, task, 0, &l, NULL), 0);
	for (size_t i = 0; i < l.nr; i++) {
		json_t *d = NULL;

		if (strcmp(l.v[i].kind, kind))
			continue;
		CHECK_STR(l.v[i].job_id, job);
		CHECK_INT(nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, NULL), 0);
		json_array_append_new(arr, d ? d : json_object());
	}
	nsh_event_list_release(&l);
	return arr;
}

static int64_t last_id(void)
{
	int64_t id = 0;

	nsh_store_event_last_id(st, &id, NULL);
	return id;
}

static json_int_t num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *text(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "(none)";
}

static void test_decisions_become_events(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_journal *nj = NULL;
	struct nsh_net_journal_job *jj;
	struct nsh_proxy_decision d;
	int64_t before = last_id();
	json_t *blocked, *allowed;

	CHECK_INT(nsh_net_journal_new(db, &nj, &err), 0);
	jj = nsh_net_journal_job_new(nj, task, job, NULL);

	d = decision("registry.npmjs.org", 443, false);
	nsh_net_journal_record(jj, &d);
	/* an allowed decision is written at its end only, with the byte counts */
	d = decision("github.com", 443, true);
	d.addr = "140.82.121.3";
	nsh_net_journal_record(jj, &d);
	d.done = true;
	d.reason = "closed";
	d.bytes_up = 517;
	d.bytes_down = 123456789012ULL;
	nsh_net_journal_record(jj, &d);
	CHECK_INT(nsh_net_journal_job_free(jj, &err), 0);

	blocked = events("net.blocked", before);
	allowed = events("net.allowed", before);
	CHECK_INT(json_array_size(blocked), 1);
	CHECK_INT(json_array_size(allowed), 1);
	if (json_array_size(blocked) == 1) {
		const json_t *b = json_array_get(blocked, 0);

		CHECK_STR(text(b, "host"), "registry.npmjs.org");
		CHECK_INT(num(b, "port"), 443);
		CHECK_STR(text(b, "level"), "integration");
		CHECK_STR(text(b, "reason"), "not in the allowlist");
		CHECK_INT(num(b, "status"), 403);
		CHECK_INT(num(b, "count"), 1);
		CHECK(json_is_true(json_object_get(b, "connect")));
	}
	if (json_array_size(allowed) == 1) {
		const json_t *a = json_array_get(allowed, 0);

		CHECK_STR(text(a, "host"), "github.com");
		CHECK_STR(text(a, "addr"), "140.82.121.3");
		CHECK_STR(text(a, "reason"), "closed");
		CHECK_INT(num(a, "bytes_up"), 517);
		CHECK_INT(num(a, "bytes_down"), 123456789012LL);
		CHECK(json_is_false(json_object_get(a, "private_allowed")));
	}
	json_decref(blocked);
	json_decref(allowed);
	CHECK_INT(nsh_net_journal_sync(nj, &err), 0);
	nsh_net_journal_free(nj);
}

/* Sum of "count" over @arr. */
static json_int_t count_sum(const json_t *arr, const char *host)
{
	json_int_t n = 0;
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o) if (!host || !strcmp(text(o, "host"), host)) n +=
		num(o, "count");
	return n;
}

/*
 * With the database locked by another handle, the writer waits; meanwhile
 * repeats of one refusal merge into one queued entry and, past the queue
 * cap, decisions are counted for "net.dropped". Nothing goes uncounted.
 */
static void test_locked_store_overflow_is_counted(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_journal *nj = NULL;
	struct nsh_net_journal_job *jj;
	struct nsh_proxy_decision d;
	struct nsh_store *locker = NULL;
	int64_t before = last_id();
	/*
	 * The writer takes at most one batch (at most a full queue) before it
	 * waits for the lock, so twice the cap overflows whenever it wakes.
	 */
	unsigned distinct = 2 * NSH_NET_JOURNAL_QUEUE_MAX + 100;
	json_t *blocked, *dropped;

	CHECK_INT(nsh_net_journal_new(db, &nj, &err), 0);
	jj = nsh_net_journal_job_new(nj, task, job, NULL);
	CHECK_INT(nsh_store_open(db, &locker, &err), 0);
	CHECK_INT(nsh_store_begin(locker, &err), 0);

	d = decision("first.example", 80, false);
	nsh_net_journal_record(jj, &d);
	for (int i = 0; i < 1000; i++) {
		d = decision("same.example", 443, false);
		nsh_net_journal_record(jj, &d);
	}
	for (unsigned i = 0; i < distinct; i++) {
		char host[64];

		snprintf(host, sizeof(host), "h%u.example", i);
		d = decision(host, 443, false);
		nsh_net_journal_record(jj, &d);
	}
	nsh_store_rollback(locker);
	nsh_store_close(locker);
	CHECK_INT(nsh_net_journal_job_free(jj, &err), 0);

	blocked = events("net.blocked", before);
	dropped = events("net.dropped", before);
	CHECK_INT(count_sum(blocked, "same.example"), 1000);
	CHECK(json_array_size(blocked) < 1 + 1000 + distinct);
	CHECK_INT(json_array_size(dropped), 1);
	CHECK(count_sum(dropped, NULL) > 0);
	CHECK_INT(count_sum(blocked, NULL) + count_sum(dropped, NULL), 1 + 1000 + distinct);
	/* one batch taken before the lock bit, then at most a full queue */
	CHECK(json_array_size(blocked) <= 2 * NSH_NET_JOURNAL_QUEUE_MAX + 2);
	json_decref(blocked);
	json_decref(dropped);
	nsh_net_journal_free(nj);
}

/* Make the store refuse events of job 'j-refused' (a trigger, as a full disk would). */
static void refuse_job(void)
{
	sqlite3 *raw = NULL;

	CHECK_INT(sqlite3_open(db, &raw), SQLITE_OK);
	CHECK_INT(sqlite3_exec(raw,
			       "CREATE TRIGGER refuse BEFORE INSERT ON events"
			       " WHEN NEW.job_id = 'j-refused'"
			       " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
			       NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_close(raw);
}

/* Events the store refuses: freeing the job's handle says so, other jobs lose nothing. */
static void test_write_errors_reach_the_caller(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_journal *nj = NULL;
	struct nsh_net_journal_job *jj, *ok;
	struct nsh_proxy_decision d = decision("example.org", 80, false);
	int64_t before = last_id();
	json_t *blocked;

	CHECK_INT(nsh_net_journal_new(db, &nj, &err), 0);
	refuse_job();
	jj = nsh_net_journal_job_new(nj, task, "j-refused", NULL);
	ok = nsh_net_journal_job_new(nj, task, job, NULL);
	nsh_net_journal_record(jj, &d);
	nsh_net_journal_record(ok, &d);
	CHECK(nsh_net_journal_job_free(jj, &err) < 0);
	CHECK(strstr(err.msg, "network journal: ") == err.msg);
	CHECK(strstr(err.msg, "refused by the test") != NULL);
	nsh_err_clear(&err);
	/* the good job's event still went in, although it shared the failed batch */
	CHECK_INT(nsh_net_journal_job_free(ok, &err), 0);
	blocked = events("net.blocked", before);
	CHECK_INT(json_array_size(blocked), 1);
	json_decref(blocked);
	CHECK(nsh_net_journal_sync(nj, &err) < 0);
	CHECK_INT(nsh_net_journal_sync(nj, &err), 0); /* reported once */
	nsh_net_journal_free(nj);
}

int main(void)
{
	setup();
	RUN(test_decisions_become_events);
	RUN(test_locked_store_overflow_is_counted);
	RUN(test_write_errors_reach_the_caller);
	nsh_store_close(st);
	nsh_fs_remove_tree(dir, NULL);
	free(dir);
	free(db);
	return TEST_DONE();
}
