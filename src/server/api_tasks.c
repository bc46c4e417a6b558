/*
 * Endpoints for tasks, their jobs, specs, events and control requests.
 */
#include "server/server_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "net/net.h"
#include "sched/sched.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define REPOS_MAX  500 /* repositories named in one new task */
#define RECIPE_MAX 100 /* bytes of a recipe name */
#define QUERY_TEXT 200 /* bytes of a ?q= search */
#define EVENTS_MAX 1000
#define EVENTS_DEF 200
#define OFFSET_MAX 1000000

/* ---- jobs as the UI shows them ---- */

/* The "risk" a step found for @j: a number, or an object's "score". */
static json_t *find_risk(const struct nsh_step_list *steps, const struct nsh_job_rec *j)
{
	json_t *found = NULL;

	for (size_t i = 0; i < steps->nr; i++) {
		const struct nsh_step_rec *st = &steps->v[i];
		json_t *res = NULL, *risk;

		if (strcmp(st->job_id, j->id) && st->job_id[0])
			continue;
		if (nsh_json_parse(st->result, strlen(st->result), &res, NULL))
			continue;
		risk = json_object_get(res, "risk");
		/* A task-level step may list risks by repository. */
		if (!st->job_id[0])
			risk = json_is_object(risk) ? json_object_get(risk, j->repo) : NULL;
		if (risk &&
		    (json_is_number(risk) || json_is_object(risk) || json_is_string(risk))) {
			json_decref(found);
			found = json_incref(risk);
		}
		json_decref(res);
	}
	return found ? found : json_null();
}

/* Fraction of the pipeline's steps @j has completed, or null when unknown. */
static json_t *job_progress(const struct nsh_srv *srv, const struct nsh_job_rec *j)
{
	enum nsh_job_state st;

	if (nsh_job_state_parse(j->state, &st, NULL))
		return json_null();
	if (!nsh_job_state_busy(st))
		return json_real(1.0);
	if (!srv->pipeline || !srv->pipeline->nsteps)
		return json_null();
	if (!j->step)
		return json_real(0.0);
	for (size_t i = 0; i < srv->pipeline->nsteps; i++)
		if (!strcmp(srv->pipeline->steps[i].name, j->step))
			return json_real((double)(i + 1) / (double)srv->pipeline->nsteps);
	return json_null();
}

/* The completed steps of @j's current attempt with their durations. */
static json_t *job_steps(const struct nsh_step_list *steps, const struct nsh_job_rec *j)
{
	json_t *a = json_array();
	int64_t prev = j->created_ms;

	for (size_t i = 0; i < steps->nr; i++) {
		const struct nsh_step_rec *st = &steps->v[i];
		char stamp[NSH_TIME_ISO_MAX];

		if (strcmp(st->job_id, j->id) || st->attempt != j->attempt)
			continue;
		json_array_append_new(
			a,
			json_pack("{s:s, s:I, s:s, s:I}", "name", st->name, "attempt",
				  (json_int_t)st->attempt, "completed_at",
				  nsh_time_iso8601(st->created_ms, stamp), "duration_ms",
				  (json_int_t)(st->created_ms > prev ? st->created_ms - prev : 0)));
		prev = st->created_ms;
	}
	return a;
}

static json_t *job_json(struct nsh_srv_req *r, struct nsh_store *s, const struct nsh_job_rec *j,
			const struct nsh_step_list *steps)
{
	json_t *o = nsh_job_to_json(j);
	struct nsh_pr_rec pr = {0};

	json_object_set_new(o, "progress", job_progress(r->srv, j));
	json_object_set_new(o, "risk", find_risk(steps, j));
	json_object_set_new(o, "steps", job_steps(steps, j));
	if (nsh_store_pr_find_job(s, j->id, &pr, NULL) == 0) {
		json_object_set_new(o, "pr",
				    json_pack("{s:s, s:s, s:I, s:s, s:s}", "org", pr.org, "repo",
					      pr.repo, "number", (json_int_t)pr.number, "state",
					      pr.state, "title", pr.title));
		nsh_pr_rec_release(&pr);
	} else {
		json_object_set_new(o, "pr", json_null());
	}
	return o;
}

/* The question of a task waiting for input: the newest "task.question" event's data. */
static json_t *task_question(struct nsh_store *s, const struct nsh_task_rec *t)
{
	struct nsh_event_list l = {0};
	json_t *q = NULL;

	if (strcmp(t->state, "waiting_input"))
		return json_null();
	if (nsh_store_events_after(s, 0, t->id, 0, &l, NULL) == 0) {
		for (size_t i = l.nr; i-- > 0 && !q;)
			if (!strcmp(l.v[i].kind, "task.question"))
				nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &q, NULL);
	}
	nsh_event_list_release(&l);
	return q ? q : json_null();
}

static json_t *task_json(const struct nsh_task_rec *t)
{
	json_t *o = nsh_task_to_json(t);
	json_t *opts = NULL;

	if (t->options && nsh_json_parse(t->options, strlen(t->options), &opts, NULL) == 0)
		json_object_set_new(o, "options", opts);
	return o;
}

/* ---- tasks ---- */

/*
 * The task list is the most requested endpoint (the UI polls it), so it is
 * written straight into the reply buffer instead of through a jansson tree;
 * the fields are those of nsh_task_to_json() plus "progress".
 */
static void put_str(struct nsh_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0;

	if (!s) {
		nsh_buf_adds(b, "null");
		return;
	}
	nsh_buf_addch(b, '"');
	for (;; p++) {
		unsigned char c = *p;

		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		nsh_buf_add(b, (const char *)p - run, run);
		run = 0;
		if (!c)
			break;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};

			nsh_buf_add(b, e, 2);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			nsh_buf_add(b, e, 6);
		}
	}
	nsh_buf_addch(b, '"');
}

static void put_time(struct nsh_buf *b, int64_t ms)
{
	char stamp[NSH_TIME_ISO_MAX];

	if (ms)
		nsh_buf_addf(b, "\"%s\"", nsh_time_iso8601(ms, stamp));
	else
		nsh_buf_adds(b, "null");
}

static void put_task(struct nsh_buf *b, const struct nsh_task_rec *t,
		     const struct nsh_task_progress *p)
{
	nsh_buf_adds(b, "{\"id\":");
	put_str(b, t->id);
	nsh_buf_adds(b, ",\"title\":");
	put_str(b, t->title);
	nsh_buf_adds(b, ",\"state\":");
	put_str(b, t->state);
	nsh_buf_adds(b, ",\"org\":");
	put_str(b, t->org);
	nsh_buf_adds(b, ",\"brain\":");
	put_str(b, t->brain);
	nsh_buf_adds(b, ",\"recipe\":");
	put_str(b, t->recipe);
	nsh_buf_adds(b, ",\"network\":");
	put_str(b, t->network);
	nsh_buf_adds(b, ",\"error\":");
	put_str(b, t->error);
	if (t->paused_from) {
		nsh_buf_adds(b, ",\"paused_from\":");
		put_str(b, t->paused_from);
	}
	nsh_buf_adds(b, ",\"created_at\":");
	put_time(b, t->created_ms);
	nsh_buf_adds(b, ",\"updated_at\":");
	put_time(b, t->updated_ms);
	nsh_buf_adds(b, ",\"deadline\":");
	put_time(b, t->deadline_ms);
	nsh_buf_addf(b, ",\"progress\":{\"jobs\":%lld,\"settled\":%lld,\"failed\":%lld}}",
		     (long long)p->jobs, (long long)p->settled, (long long)p->failed);
}

int nsh_api_tasks_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_task_filter f = {0};
	struct nsh_task_list l = {0};
	struct nsh_task_progress *prog = NULL;
	struct nsh_store *s;
	enum nsh_task_state ts;
	size_t limit;
	int rc;

	f.state = nsh_srv_query(r, "state");
	if (f.state && nsh_task_state_parse(f.state, &ts, err))
		return NSH_EINVAL;
	f.org = nsh_srv_query(r, "org");
	if (f.org && nsh_forge_check_name("org", f.org, err))
		return NSH_EINVAL;
	f.text = nsh_srv_query(r, "q");
	if (f.text && strlen(f.text) > QUERY_TEXT)
		return nsh_err_set(err, NSH_EINVAL, "query 'q' is longer than %d bytes",
				   QUERY_TEXT);
	rc = nsh_srv_query_count(r, "limit", NSH_SRV_LIST_DEFAULT, NSH_SRV_LIST_MAX, &limit, err);
	if (!rc)
		rc = nsh_srv_query_count(r, "offset", 0, OFFSET_MAX, &f.offset, err);
	if (rc)
		return rc;
	if (!limit)
		limit = NSH_SRV_LIST_DEFAULT;
	f.limit = limit + 1; /* one more tells whether there is a next page */
	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_task_query(s, &f, &l, &prog, err);
	if (rc)
		goto out;
	nsh_buf_reset(&r->out);
	nsh_buf_grow(&r->out, 300 * (l.nr < limit ? l.nr : limit) + 64);
	nsh_buf_adds(&r->out, "{\"tasks\":[");
	for (size_t i = 0; i < l.nr && i < limit; i++) {
		if (i)
			nsh_buf_addch(&r->out, ',');
		put_task(&r->out, &l.v[i], &prog[i]);
	}
	if (l.nr > limit)
		nsh_buf_addf(&r->out, "],\"next_offset\":%zu}\n", f.offset + limit);
	else
		nsh_buf_adds(&r->out, "],\"next_offset\":null}\n");
	r->status = 200;
	r->content_type = "application/json";
out:
	free(prog);
	nsh_task_list_release(&l);
	return rc;
}

static bool recipe_name_ok(const char *s)
{
	if (!*s || strlen(s) > RECIPE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.' || *s == '@'))
			return false;
	return true;
}

/* Check the "repos" field: names of existing repositories; a copy goes to @ret. */
static int check_repos(struct nsh_store *s, json_t *repos, json_t **ret, const char **ret_org,
		       struct nsh_err *err)
{
	json_t *out = json_array(), *v;
	const char *org = NULL;
	bool one_org = true;
	size_t i;
	int rc = 0;

	if (!json_is_array(repos)) {
		rc = nsh_err_set(err, NSH_EINVAL, "field 'repos' must be an array of \"ORG/REPO\"");
		goto out;
	}
	if (json_array_size(repos) > REPOS_MAX) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "field 'repos' names more than %d repositories",
				 REPOS_MAX);
		goto out;
	}
	json_array_foreach(repos, i, v)
	{
		struct nsh_forge_ref ref;
		struct nsh_repo_rec rr = {0};

		if (!json_is_string(v)) {
			rc = nsh_err_set(err, NSH_EINVAL, "field 'repos[%zu]' must be a string", i);
			goto out;
		}
		rc = nsh_forge_ref_parse_repo(json_string_value(v), &ref, err);
		if (rc) {
			nsh_err_wrap(err, "field 'repos[%zu]'", i);
			goto out;
		}
		rc = nsh_store_repo_get(s, ref.org, ref.repo, &rr, err);
		nsh_repo_rec_release(&rr);
		if (rc) {
			rc = NSH_EINVAL;
			nsh_err_wrap(err, "field 'repos[%zu]'", i);
			goto out;
		}
		if (!org)
			org = json_string_value(v);
		else if (strncmp(org, json_string_value(v), strlen(ref.org) + 1))
			one_org = false;
		json_array_append_new(out, json_string(json_string_value(v)));
	}
	*ret_org = one_org ? org : NULL;
out:
	if (rc)
		json_decref(out);
	else
		*ret = out;
	return rc;
}

int nsh_api_tasks_create(struct nsh_srv_req *r, struct nsh_err *err)
{
	static const char *const known[] = {"text",   "org",	 "repos",
					    "recipe", "network", "deadline"};
	struct nsh_task_new n = {0};
	struct nsh_task_rec t = {0};
	struct nsh_store *s = NULL;
	json_t *body = NULL, *opts = json_object(), *repos = NULL;
	const char *deadline = NULL, *repo_org = NULL, *key;
	char *org_copy = NULL, *text = NULL, *opts_text = NULL;
	char id[NSH_ID_MAX];
	json_t *v;
	int rc;

	rc = nsh_srv_body_json(r, &body, err);
	if (rc)
		goto out;
	json_object_foreach(body, key, v)
	{
		size_t k = 0;

		while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k], key))
			k++;
		if (k == sizeof(known) / sizeof(known[0])) {
			rc = nsh_err_set(
				err, NSH_EINVAL,
				"unknown field '%.60s' (expected text, org, repos, recipe, "
				"network, deadline)",
				key);
			goto out;
		}
	}
	rc = nsh_srv_field_str(body, "text", NSH_SRV_TEXT_MAX, &n.title, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "org", NSH_FORGE_NAME_MAX, &n.org, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "recipe", RECIPE_MAX, &n.recipe, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "network", 32, &n.network, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "deadline", 32, &deadline, err);
	if (rc)
		goto out;
	if (n.title) {
		struct nsh_buf b = NSH_BUF_INIT;

		nsh_buf_adds(&b, n.title);
		nsh_buf_trim(&b);
		text = nsh_buf_detach(&b, NULL);
		n.title = text;
	}
	if (!n.title || !*n.title) {
		rc = nsh_err_set(err, NSH_EINVAL, "field 'text' is required: describe the task");
		goto out;
	}
	if (n.recipe && !recipe_name_ok(n.recipe)) {
		rc = nsh_err_set(err, NSH_EINVAL, "invalid recipe name '%s'", n.recipe);
		goto out;
	}
	if (n.network) {
		enum nsh_net_level lvl;

		rc = nsh_net_level_parse(n.network, &lvl, err);
		if (rc)
			goto out;
		json_object_set_new(opts, "network", json_string(n.network));
	}
	if (deadline) {
		int64_t ms;

		rc = nsh_time_parse_duration(deadline, &ms, err);
		if (rc)
			goto out;
		n.deadline_ms = nsh_time_now_ms() + ms;
	}
	rc = nsh_srv_store(r, &s, err);
	if (rc)
		goto out;
	if (n.org) {
		struct nsh_org_rec o = {0};

		rc = nsh_forge_check_name("org", n.org, err);
		if (!rc)
			rc = nsh_store_org_get(s, n.org, &o, err);
		nsh_org_rec_release(&o);
		if (rc) {
			rc = NSH_EINVAL;
			goto out;
		}
	}
	if ((v = json_object_get(body, "repos")) && !json_is_null(v)) {
		rc = check_repos(s, v, &repos, &repo_org, err);
		if (rc)
			goto out;
		if (!n.org && repo_org) {
			org_copy = nsh_xstrndup(repo_org, strcspn(repo_org, "/"));
			n.org = org_copy;
		}
		json_object_set(opts, "repos", repos);
	}
	if (n.recipe)
		json_object_set_new(opts, "recipe", json_string(n.recipe));
	rc = nsh_store_begin(s, err);
	if (rc)
		goto out;
	rc = nsh_task_create(s, &n, id, err);
	if (!rc && json_object_size(opts)) {
		opts_text = nsh_json_dump(opts);
		rc = nsh_store_task_set_options(s, id, opts_text, err);
	}
	if (!rc)
		rc = nsh_store_commit(s, err);
	if (rc) {
		nsh_store_rollback(s);
		goto out;
	}
	rc = nsh_store_task_get(s, id, &t, err);
	if (rc)
		goto out;
	nsh_srv_reply_json(r, 201, json_pack("{s:o}", "task", task_json(&t)));
out:
	nsh_task_rec_release(&t);
	free(opts_text);
	free(org_copy);
	free(text);
	json_decref(repos);
	json_decref(opts);
	json_decref(body);
	return rc;
}

int nsh_api_task_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	const char *id = r->m.param[0];
	struct nsh_task_rec t = {0};
	struct nsh_job_list jobs = {0};
	struct nsh_step_list steps = {0};
	struct nsh_store *s;
	int64_t spec_version = 0;
	char *spec = NULL;
	json_t *o, *a, *ts;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_task_get(s, id, &t, err);
	if (!rc)
		rc = nsh_store_job_list(s, id, &jobs, err);
	if (!rc)
		rc = nsh_store_step_list(s, id, NULL, &steps, err);
	if (rc)
		goto out;
	o = json_object();
	json_object_set_new(o, "task", task_json(&t));
	a = json_array();
	for (size_t i = 0; i < jobs.nr; i++)
		json_array_append_new(a, job_json(r, s, &jobs.v[i], &steps));
	json_object_set_new(o, "jobs", a);
	ts = json_array();
	for (size_t i = 0; i < steps.nr; i++) {
		char stamp[NSH_TIME_ISO_MAX];

		if (steps.v[i].job_id[0])
			continue;
		json_array_append_new(
			ts, json_pack("{s:s, s:s}", "name", steps.v[i].name, "completed_at",
				      nsh_time_iso8601(steps.v[i].created_ms, stamp)));
	}
	json_object_set_new(o, "task_steps", ts);
	json_object_set_new(o, "question", task_question(s, &t));
	if (nsh_store_spec_get(s, id, 0, &spec, &spec_version, NULL) == 0)
		json_object_set_new(o, "spec_version", json_integer(spec_version));
	else
		json_object_set_new(o, "spec_version", json_null());
	nsh_srv_reply_json(r, 200, o);
out:
	free(spec);
	nsh_step_list_release(&steps);
	nsh_job_list_release(&jobs);
	nsh_task_rec_release(&t);
	return rc;
}

int nsh_api_task_spec(struct nsh_srv_req *r, struct nsh_err *err)
{
	const char *id = r->m.param[0];
	struct nsh_task_rec t = {0};
	struct nsh_store *s;
	size_t version;
	int64_t got = 0;
	char *body = NULL;
	json_t *parsed = NULL;
	int rc;

	rc = nsh_srv_query_count(r, "version", 0, INT32_MAX, &version, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_task_get(s, id, &t, err);
	if (rc)
		goto out;
	rc = nsh_store_spec_get(s, id, (int64_t)version, &body, &got, err);
	if (rc == NSH_ENOTFOUND) {
		rc = version ? nsh_err_set(err, rc, "task '%s' has no spec version %zu", id,
					   version)
			     : nsh_err_set(err, rc, "task '%s' has no spec yet (state %s)", id,
					   t.state);
		goto out;
	}
	if (rc)
		goto out;
	if (nsh_json_parse(body, strlen(body), &parsed, NULL) || !json_is_object(parsed)) {
		json_decref(parsed);
		parsed = json_null();
	}
	nsh_srv_reply_json(r, 200,
			   json_pack("{s:s, s:I, s:o, s:o}", "task", id, "version", (json_int_t)got,
				     "body", nsh_json_string_lossy(body, strlen(body)), "spec",
				     parsed));
out:
	free(body);
	nsh_task_rec_release(&t);
	return rc;
}

/* ---- events ---- */

/* The event id to start after: Last-Event-ID, else ?after=, else @def. */
static int start_after(const struct nsh_srv_req *r, int64_t def, int64_t *ret, struct nsh_err *err)
{
	const char *v = r->last_event_id;
	size_t n;
	int rc;

	if (v) {
		char *end;
		long long x;

		errno = 0;
		x = (*v >= '0' && *v <= '9') ? strtoll(v, &end, 10) : -1;
		if (x < 0 || errno || *end)
			return nsh_err_set(err, NSH_EINVAL, "invalid Last-Event-ID '%.40s'", v);
		*ret = x;
		return 0;
	}
	if (!nsh_srv_query(r, "after")) {
		*ret = def;
		return 0;
	}
	rc = nsh_srv_query_count(r, "after", 0, (size_t)INT64_MAX, &n, err);
	if (!rc)
		*ret = (int64_t)n;
	return rc;
}

static int events_reply(struct nsh_srv_req *r, const char *task, struct nsh_err *err)
{
	struct nsh_event_list l = {0};
	struct nsh_store *s;
	int64_t after = 0;
	size_t limit;
	json_t *a;
	int rc;

	rc = start_after(r, 0, &after, err);
	if (!rc)
		rc = nsh_srv_query_count(r, "limit", EVENTS_DEF, EVENTS_MAX, &limit, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc && task && !nsh_store_task_exists(s, task))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", task);
	if (!rc)
		rc = nsh_store_events_after(s, after, task, limit ? limit : EVENTS_DEF, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++)
		json_array_append_new(a, nsh_event_to_json(&l.v[i]));
	nsh_srv_reply_json(r, 200,
			   json_pack("{s:o, s:I}", "events", a, "last_id",
				     (json_int_t)(l.nr ? l.v[l.nr - 1].id : after)));
out:
	nsh_event_list_release(&l);
	return rc;
}

int nsh_api_task_events(struct nsh_srv_req *r, struct nsh_err *err)
{
	return events_reply(r, r->m.param[0], err);
}

int nsh_api_events(struct nsh_srv_req *r, struct nsh_err *err)
{
	const char *task = nsh_srv_query(r, "task");

	if (task && !nsh_id_valid("t", task))
		return nsh_err_set(err, NSH_EINVAL, "invalid task id '%.40s'", task);
	return events_reply(r, task, err);
}

int nsh_api_task_stream(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_store *s;
	int64_t after;
	int rc;

	rc = start_after(r, 0, &after, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (rc)
		return rc;
	if (!nsh_store_task_exists(s, r->m.param[0]))
		return nsh_err_set(err, NSH_ENOTFOUND, "no task '%s'", r->m.param[0]);
	r->sse = true;
	memcpy(r->sse_task, r->m.param[0], strlen(r->m.param[0]) + 1); /* a valid id fits */
	r->sse_after = after;
	return 0;
}

int nsh_api_events_stream(struct nsh_srv_req *r, struct nsh_err *err)
{
	int64_t after;
	int rc;

	rc = start_after(r, nsh_srv_hub_last(r->srv->hub), &after, err);
	if (rc)
		return rc;
	r->sse = true;
	r->sse_task[0] = '\0';
	r->sse_after = after;
	return 0;
}

/* ---- control requests ---- */

int nsh_api_task_control(struct nsh_srv_req *r, struct nsh_err *err)
{
	const char *id = r->m.param[0], *kind = r->m.param[1];
	struct nsh_control_result res = {0};
	struct nsh_task_rec t = {0};
	struct nsh_store *s;
	const char *text = NULL;
	json_t *body = NULL;
	int rc;

	rc = nsh_srv_body_json(r, &body, err);
	if (!rc)
		rc = nsh_srv_field_str(body, "text", NSH_SRV_TEXT_MAX, &text, err);
	if (!rc && !text && !strcmp(kind, "extend"))
		rc = nsh_srv_field_str(body, "duration", 32, &text, err);
	if (rc)
		goto out;
	if (!text &&
	    (!strcmp(kind, "steer") || !strcmp(kind, "answer") || !strcmp(kind, "extend"))) {
		rc = nsh_err_set(err, NSH_EINVAL, "%s needs field '%s'", kind,
				 strcmp(kind, "extend") ? "text" : "duration");
		goto out;
	}
	if (!strcmp(kind, "extend")) {
		int64_t ms;

		rc = nsh_time_parse_duration(text, &ms, err);
		if (rc)
			goto out;
	}
	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_control_request(s, id, kind, text, &res, err);
	if (!rc)
		rc = nsh_store_task_get(s, id, &t, err);
	if (rc)
		goto out;
	if (!res.done) {
		nsh_srv_reply_json(r, 409,
				   json_pack("{s:{s:s, s:s}, s:{s:I, s:s, s:b}, s:o}", "error",
					     "code", "conflict", "message", res.message, "control",
					     "id", (json_int_t)res.id, "kind", kind, "done", 0,
					     "task", task_json(&t)));
		goto out;
	}
	nsh_srv_reply_json(r, 200,
			   json_pack("{s:{s:I, s:s, s:b, s:s}, s:o}", "control", "id",
				     (json_int_t)res.id, "kind", kind, "done", 1, "message",
				     res.message, "task", task_json(&t)));
out:
	nsh_task_rec_release(&t);
	json_decref(body);
	return rc;
}

/* ---- jobs ---- */

int nsh_api_jobs_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_job_filter f = {0};
	struct nsh_job_list l = {0};
	struct nsh_store *s;
	enum nsh_job_state js;
	size_t limit;
	json_t *a;
	int rc;

	f.task_id = nsh_srv_query(r, "task");
	if (f.task_id && !nsh_id_valid("t", f.task_id))
		return nsh_err_set(err, NSH_EINVAL, "invalid task id '%.40s'", f.task_id);
	f.state = nsh_srv_query(r, "state");
	if (f.state && nsh_job_state_parse(f.state, &js, err))
		return NSH_EINVAL;
	f.repo = nsh_srv_query(r, "repo");
	if (f.repo) {
		struct nsh_forge_ref ref;

		rc = nsh_forge_ref_parse_repo(f.repo, &ref, err);
		if (rc)
			return rc;
	}
	rc = nsh_srv_query_count(r, "limit", NSH_SRV_LIST_DEFAULT, NSH_SRV_LIST_MAX, &limit, err);
	if (!rc)
		rc = nsh_srv_query_count(r, "offset", 0, OFFSET_MAX, &f.offset, err);
	if (rc)
		return rc;
	f.limit = limit ? limit : NSH_SRV_LIST_DEFAULT;
	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_job_query(s, &f, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++)
		json_array_append_new(a, nsh_job_to_json(&l.v[i]));
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "jobs", a));
out:
	nsh_job_list_release(&l);
	return rc;
}

int nsh_api_job_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_job_rec j = {0};
	struct nsh_step_list steps = {0};
	struct nsh_store *s;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_job_get(s, r->m.param[0], &j, err);
	if (!rc)
		rc = nsh_store_step_list(s, j.task_id, NULL, &steps, err);
	if (!rc)
		nsh_srv_reply_json(r, 200, json_pack("{s:o}", "job", job_json(r, s, &j, &steps)));
	nsh_step_list_release(&steps);
	nsh_job_rec_release(&j);
	return rc;
}
