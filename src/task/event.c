/*
 * The event log: appending, subscribing, and the JSON form of rows that
 * every client (CLI, API, web UI) renders.
 */
#include "task/task.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/notify.h"
#include "core/time.h"
#include "store/store.h"

#include "core/banned.h"

/*
 * How often a subscriber looks for commits made by other processes. The
 * check is SQLite's data_version, which reads no table; only when it moves
 * does the subscriber run a query.
 */
#define EVENT_POLL_MS 2

int nsh_event_append(struct nsh_store *s, const char *task_id, const char *job_id, const char *kind,
		     const json_t *data, int64_t *ret_id, struct nsh_err *err)
{
	char *text = NULL;
	int rc;

	if (data && !json_is_object(data))
		return nsh_err_set(err, NSH_EINVAL, "event '%s' data must be a JSON object", kind);
	if (data)
		text = nsh_json_dump(data);
	rc = nsh_store_event_append(s, task_id, job_id, kind, text, ret_id, err);
	free(text);
	return rc;
}

int nsh_event_wait(struct nsh_store *s, struct nsh_notify *notify, int64_t after_id,
		   const char *task_id, int64_t timeout_ms, size_t max, struct nsh_event_list *ret,
		   struct nsh_err *err)
{
	int64_t until = nsh_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int64_t seen_version = -1;
	int64_t seen_notify = notify ? nsh_notify_value(notify) : 0;
	size_t before = ret->nr;
	int rc;

	for (;;) {
		int64_t version, left;

		rc = nsh_store_data_version(s, &version, err);
		if (rc)
			return rc;
		if (version != seen_version ||
		    (notify && nsh_notify_value(notify) != seen_notify)) {
			seen_version = version;
			if (notify)
				seen_notify = nsh_notify_value(notify);
			rc = nsh_store_events_after(s, after_id, task_id, max, ret, err);
			if (rc || ret->nr > before)
				return rc;
		}
		left = until - nsh_time_mono_ms();
		if (left <= 0)
			return 0;
		if (left > EVENT_POLL_MS)
			left = EVENT_POLL_MS;
		if (notify)
			nsh_notify_wait(notify, seen_notify, left);
		else
			nsh_time_sleep_ms(left);
	}
}

/* Set @key to @v, or to null when @v is NULL. */
static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, v ? json_string(v) : json_null());
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
	char buf[NSH_TIME_ISO_MAX];

	json_object_set_new(o, key, ms ? json_string(nsh_time_iso8601(ms, buf)) : json_null());
}

json_t *nsh_task_to_json(const struct nsh_task_rec *t)
{
	json_t *o = json_object();

	set_str(o, "id", t->id);
	set_str(o, "title", t->title);
	set_str(o, "state", t->state);
	set_str(o, "org", t->org);
	set_str(o, "brain", t->brain);
	set_str(o, "recipe", t->recipe);
	set_str(o, "network", t->network);
	set_str(o, "error", t->error);
	if (t->paused_from)
		set_str(o, "paused_from", t->paused_from);
	set_time(o, "created_at", t->created_ms);
	set_time(o, "updated_at", t->updated_ms);
	set_time(o, "deadline", t->deadline_ms);
	return o;
}

json_t *nsh_job_to_json(const struct nsh_job_rec *j)
{
	json_t *o = json_object();

	set_str(o, "id", j->id);
	set_str(o, "task", j->task_id);
	set_str(o, "repo", j->repo);
	set_str(o, "state", j->state);
	set_str(o, "step", j->step);
	set_str(o, "branch", j->branch);
	set_str(o, "error", j->error);
	json_object_set_new(o, "position", json_integer(j->position));
	json_object_set_new(o, "attempt", json_integer(j->attempt));
	set_time(o, "created_at", j->created_ms);
	set_time(o, "updated_at", j->updated_ms);
	return o;
}

json_t *nsh_event_to_json(const struct nsh_event_rec *e)
{
	json_t *o = json_object();
	json_t *data = NULL;

	json_object_set_new(o, "id", json_integer(e->id));
	set_str(o, "task", e->task_id);
	set_str(o, "job", e->job_id);
	set_str(o, "kind", e->kind);
	if (e->data && nsh_json_parse(e->data, strlen(e->data), &data, NULL) == 0)
		json_object_set_new(o, "data", data);
	else
		json_object_set_new(o, "data", json_object());
	set_time(o, "time", e->created_ms);
	return o;
}
