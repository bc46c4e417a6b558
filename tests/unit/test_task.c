/*
 * The task and job state machines, the transition function's atomicity,
 * and subscribing to the event log within one process.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/json.h"
#include "core/notify.h"
#include "core/time.h"
#include "store/store.h"
#include "task/task.h"
#include "test.h"

static char *dir;
static struct nsh_store *st;

static int64_t event_count(void)
{
	struct nsh_event_list l = {0};
	int64_t n;

	nsh_store_events_after(st, 0, NULL, 0, &l, NULL);
	n = (int64_t)l.nr;
	nsh_event_list_release(&l);
	return n;
}

static void test_names(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	enum nsh_task_state ts;
	enum nsh_job_state js;

	for (int i = 0; i < NSH_TASK_STATE_COUNT; i++) {
		CHECK_INT(nsh_task_state_parse(nsh_task_state_name(i), &ts, &err), 0);
		CHECK_INT(ts, i);
	}
	for (int i = 0; i < NSH_JOB_STATE_COUNT; i++) {
		CHECK_INT(nsh_job_state_parse(nsh_job_state_name(i), &js, &err), 0);
		CHECK_INT(js, i);
	}
	CHECK_INT(nsh_task_state_parse("sleeping", &ts, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "unknown task state 'sleeping'");
	CHECK_STR(nsh_task_state_name(NSH_TASK_WAITING_INPUT), "waiting_input");
	CHECK_STR(nsh_job_state_name(NSH_JOB_NEEDS_HUMAN_REVIEW), "needs_human_review");
	CHECK(nsh_task_state_final(NSH_TASK_CANCELLED));
	CHECK(nsh_task_state_final(NSH_TASK_FAILED));
	CHECK(!nsh_task_state_final(NSH_TASK_EXPIRED)); /* extend revives it */
	CHECK(nsh_job_state_final(NSH_JOB_MERGED));
	CHECK(!nsh_job_state_final(NSH_JOB_PR_OPEN));
}

static void test_create(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_new tn = {.title = "upgrade lodash from 3 to 4", .org = "acme"};
	struct nsh_task_rec t = {0};
	struct nsh_event_list l = {0};
	char id[NSH_ID_MAX], jid[NSH_ID_MAX];
	int64_t before = event_count();

	CHECK_INT(nsh_task_create(st, &tn, id, &err), 0);
	CHECK(nsh_id_valid("t", id));
	CHECK_INT(nsh_store_task_get(st, id, &t, &err), 0);
	CHECK_STR(t.state, "queued");
	CHECK_STR(t.org, "acme");
	CHECK_STR(t.network, "integration");
	nsh_task_rec_release(&t);
	CHECK_INT(event_count(), before + 1);

	CHECK_INT(nsh_job_create(st, id, "acme/api", 0, jid, &err), 0);
	CHECK(nsh_id_valid("j", jid));
	CHECK_INT(nsh_job_create(st, id, "acme/api", 1, jid, &err), NSH_EEXIST);
	CHECK_INT(nsh_job_create(st, "t-nosuch", "acme/api", 0, jid, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "no task 't-nosuch'");
	CHECK_INT(event_count(), before + 2);

	CHECK_INT(nsh_store_events_after(st, 0, id, 0, &l, &err), 0);
	CHECK_INT(l.nr, 2);
	CHECK_STR(l.v[0].kind, "task.created");
	CHECK_STR(l.v[1].kind, "job.created");
	CHECK_STR(l.v[1].job_id, jid);
	nsh_event_list_release(&l);

	tn.title = "";
	CHECK_INT(nsh_task_create(st, &tn, id, &err), NSH_EINVAL);
}

/*
 * Every (from, to) pair of task states: allowed pairs succeed, move the row
 * and append one event naming both states; the others fail with
 * NSH_ECONFLICT and leave the row and the log exactly as they were.
 */
static void test_task_all_pairs(void)
{
	int allowed = 0;

	for (int from = 0; from < NSH_TASK_STATE_COUNT; from++) {
		for (int to = 0; to < NSH_TASK_STATE_COUNT; to++) {
			struct nsh_err err = NSH_ERR_INIT;
			struct nsh_task_new tn = {.title = "pair"};
			struct nsh_task_rec a = {0}, b = {0};
			struct nsh_event_list l = {0};
			char id[NSH_ID_MAX];
			int64_t ev = 0, n0;
			int rc;

			CHECK_INT(nsh_task_create(st, &tn, id, &err), 0);
			CHECK_INT(nsh_store_task_set_state(st, id, nsh_task_state_name(from), NULL,
							   NULL, &err),
				  0);
			CHECK_INT(nsh_store_task_get(st, id, &a, &err), 0);
			n0 = event_count();
			rc = nsh_task_transition(st, id, to, "because", &ev, &err);
			CHECK_INT(nsh_store_task_get(st, id, &b, &err), 0);
			if (nsh_task_can_transition(from, to)) {
				allowed++;
				CHECK_INT(rc, 0);
				CHECK_STR(b.state, nsh_task_state_name(to));
				CHECK_INT(event_count(), n0 + 1);
				CHECK_INT(nsh_store_events_after(st, ev - 1, id, 1, &l, &err), 0);
				CHECK_INT(l.nr, 1);
				if (l.nr) {
					json_t *d = NULL;
					const char *s = NULL;

					CHECK_INT(l.v[0].id, ev);
					CHECK_STR(l.v[0].kind, "task.state");
					CHECK_INT(nsh_json_parse(l.v[0].data, strlen(l.v[0].data),
								 &d, &err),
						  0);
					CHECK_INT(nsh_json_get_str(d, "from", &s, &err), 0);
					CHECK_STR(s, nsh_task_state_name(from));
					CHECK_INT(nsh_json_get_str(d, "to", &s, &err), 0);
					CHECK_STR(s, nsh_task_state_name(to));
					json_decref(d);
				}
				nsh_event_list_release(&l);
			} else {
				CHECK_INT(rc, NSH_ECONFLICT);
				CHECK(strstr(err.msg, "cannot go from") != NULL);
				CHECK_STR(b.state, a.state);
				CHECK_INT(b.updated_ms, a.updated_ms);
				CHECK(b.error == NULL);
				CHECK_INT(event_count(), n0);
			}
			nsh_task_rec_release(&a);
			nsh_task_rec_release(&b);
		}
	}
	/* The table is not trivially open or closed. */
	CHECK(allowed > 20 && allowed < 60);
}

static void test_job_all_pairs(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_new tn = {.title = "jobs"};
	char tid[NSH_ID_MAX];
	int allowed = 0;

	CHECK_INT(nsh_task_create(st, &tn, tid, &err), 0);
	for (int from = 0; from < NSH_JOB_STATE_COUNT; from++) {
		for (int to = 0; to < NSH_JOB_STATE_COUNT; to++) {
			struct nsh_job_rec a = {0}, b = {0};
			char repo[64], jid[NSH_ID_MAX];
			int64_t n0, ev = 0;
			int rc;

			snprintf(repo, sizeof(repo), "acme/r%d-%d", from, to);
			CHECK_INT(nsh_job_create(st, tid, repo, 0, jid, &err), 0);
			CHECK_INT(nsh_store_job_set_state(st, jid, nsh_job_state_name(from), NULL,
							  &err),
				  0);
			CHECK_INT(nsh_store_job_get(st, jid, &a, &err), 0);
			n0 = event_count();
			rc = nsh_job_transition(st, jid, to, "tests failed", &ev, &err);
			CHECK_INT(nsh_store_job_get(st, jid, &b, &err), 0);
			if (nsh_job_can_transition(from, to)) {
				allowed++;
				CHECK_INT(rc, 0);
				CHECK_STR(b.state, nsh_job_state_name(to));
				CHECK_INT(event_count(), n0 + 1);
				if (to == NSH_JOB_FAILED)
					CHECK_STR(b.error, "tests failed");
			} else {
				CHECK_INT(rc, NSH_ECONFLICT);
				CHECK(strstr(err.msg, repo) != NULL);
				CHECK_STR(b.state, a.state);
				CHECK_INT(b.updated_ms, a.updated_ms);
				CHECK_INT(event_count(), n0);
			}
			nsh_job_rec_release(&a);
			nsh_job_rec_release(&b);
		}
	}
	CHECK(allowed > 30 && allowed < 100);
}

static void test_pause_resume_fail(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_new tn = {.title = "pause me"};
	struct nsh_task_rec t = {0};
	char id[NSH_ID_MAX];

	CHECK_INT(nsh_task_create(st, &tn, id, &err), 0);
	CHECK_INT(nsh_task_resume(st, id, NULL, &err), NSH_ECONFLICT);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_ANALYZING, NULL, NULL, &err), 0);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_RUNNING, NULL, NULL, &err), 0);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_PAUSED, "user", NULL, &err), 0);
	CHECK_INT(nsh_store_task_get(st, id, &t, &err), 0);
	CHECK_STR(t.paused_from, "running");
	nsh_task_rec_release(&t);
	CHECK_INT(nsh_task_resume(st, id, NULL, &err), 0);
	CHECK_INT(nsh_store_task_get(st, id, &t, &err), 0);
	CHECK_STR(t.state, "running");
	CHECK(t.paused_from == NULL);
	nsh_task_rec_release(&t);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_FAILED, "no LLM configured", NULL, &err), 0);
	CHECK_INT(nsh_store_task_get(st, id, &t, &err), 0);
	CHECK_STR(t.error, "no LLM configured");
	nsh_task_rec_release(&t);
	CHECK_INT(nsh_task_transition(st, "t-absent", NSH_TASK_RUNNING, NULL, NULL, &err),
		  NSH_ENOTFOUND);
	CHECK_INT(nsh_task_transition(st, id, (enum nsh_task_state)42, NULL, NULL, &err),
		  NSH_EINVAL);
}

struct appender {
	const char *path;	   /* database */
	struct nsh_notify *notify; /* posted by the appender's store */
	int64_t delay_ms;	   /* wait before appending */
	int64_t appended_at;	   /* mono ms of the append */
};

static void *append_later(void *arg)
{
	struct appender *a = arg;
	struct nsh_store *s = NULL;

	if (nsh_store_open(a->path, &s, NULL))
		return NULL;
	nsh_store_set_notify(s, a->notify);
	nsh_time_sleep_ms(a->delay_ms);
	a->appended_at = nsh_time_mono_ms();
	nsh_store_event_append(s, "t-wait", NULL, "log", NULL, NULL, NULL);
	nsh_store_close(s);
	return NULL;
}

static void test_wait(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_event_list l = {0};
	struct appender a = {0};
	pthread_t th;
	int64_t last = 0, t0;

	CHECK_INT(nsh_store_event_last_id(st, &last, &err), 0);
	/* Nothing new: returns empty after the timeout. */
	t0 = nsh_time_mono_ms();
	CHECK_INT(nsh_event_wait(st, NULL, last, NULL, 50, 0, &l, &err), 0);
	CHECK_INT(l.nr, 0);
	CHECK(nsh_time_mono_ms() - t0 >= 50);

	/* Another thread appends through its own handle; the waiter wakes. */
	a.notify = nsh_notify_new();
	a.path = nsh_store_path(st);
	a.delay_ms = 100;
	pthread_create(&th, NULL, append_later, &a);
	CHECK_INT(nsh_event_wait(st, a.notify, last, "t-wait", 10000, 0, &l, &err), 0);
	pthread_join(th, NULL);
	CHECK_INT(l.nr, 1);
	if (l.nr)
		CHECK(l.v[0].id > last);
	nsh_event_list_release(&l);

	/* Filtered: an event of another task does not end the wait. */
	CHECK_INT(nsh_store_event_last_id(st, &last, &err), 0);
	CHECK_INT(nsh_store_event_append(st, "t-other", NULL, "log", NULL, NULL, &err), 0);
	CHECK_INT(nsh_event_wait(st, a.notify, last, "t-wait", 30, 0, &l, &err), 0);
	CHECK_INT(l.nr, 0);
	nsh_notify_free(a.notify);
}

static void test_to_json(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_new tn = {.title = "json me", .org = "acme"};
	struct nsh_task_rec t = {0};
	struct nsh_event_list l = {0};
	char id[NSH_ID_MAX];
	const char *s = NULL;
	json_t *o;

	CHECK_INT(nsh_task_create(st, &tn, id, &err), 0);
	CHECK_INT(nsh_store_task_get(st, id, &t, &err), 0);
	o = nsh_task_to_json(&t);
	CHECK_INT(nsh_json_get_str(o, "id", &s, &err), 0);
	CHECK_STR(s, id);
	CHECK_INT(nsh_json_get_str(o, "created_at", &s, &err), 0);
	CHECK(strlen(s) == 24 && s[23] == 'Z');
	CHECK(json_is_null(json_object_get(o, "deadline")));
	json_decref(o);
	nsh_task_rec_release(&t);

	CHECK_INT(nsh_store_events_after(st, 0, id, 0, &l, &err), 0);
	CHECK_INT(l.nr, 1);
	o = nsh_event_to_json(&l.v[0]);
	CHECK_INT(nsh_json_get_str(o, "data.title", &s, &err), 0);
	CHECK_STR(s, "json me");
	json_decref(o);
	nsh_event_list_release(&l);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *path;

	dir = t_tmpdir();
	path = nsh_xasprintf("%s/nightshift.db", dir);
	if (nsh_store_open(path, &st, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	RUN(test_names);
	RUN(test_create);
	RUN(test_task_all_pairs);
	RUN(test_job_all_pairs);
	RUN(test_pause_resume_fail);
	RUN(test_wait);
	RUN(test_to_json);
	nsh_store_close(st);
	nsh_fs_remove_tree(dir, &err);
	free(path);
	free(dir);
	return TEST_DONE();
}
