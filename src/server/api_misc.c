/*
 * Endpoints for health, Prometheus metrics, learned memories and secret
 * names (never values).
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "store/store.h"

#include "core/banned.h"

int nsh_api_health(struct nsh_srv_req *r, struct nsh_err *err)
{
	char stamp[NSH_TIME_ISO_MAX];

	(void)err;
	nsh_srv_reply_json(r, 200,
			   json_pack("{s:s, s:s, s:I, s:b}", "status", "ok", "started_at",
				     nsh_time_iso8601(r->srv ? r->srv->started_ms : 0, stamp),
				     "schema", (json_int_t)NSH_STORE_SCHEMA_VERSION, "scheduler",
				     r->srv && r->srv->scheduler));
	return 0;
}

static int add_counts(struct nsh_buf *out, const char *name, const char *help,
		      const struct nsh_store_counts *c)
{
	int rc = nsh_buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);

	for (size_t i = 0; !rc && i < c->nr; i++)
		rc = nsh_buf_addf(out, "%s{state=\"%s\"} %lld\n", name, c->v[i].name,
				  (long long)c->v[i].n);
	return rc;
}

int nsh_api_metrics(struct nsh_srv_req *r, struct nsh_err *err)
{
	static const char *const running[] = {"provisioning", "researching", "coding",
					      "verifying",    "retrying",    "revising"};
	struct nsh_store_counts tasks = {0}, jobs = {0};
	struct nsh_store *s;
	int64_t queue = 0, prompt = 0, completion = 0, sandboxes = 0;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_task_state_counts(s, &tasks, err);
	if (!rc)
		rc = nsh_store_job_state_counts(s, &jobs, err);
	if (!rc)
		rc = nsh_store_queue_length(s, &queue, err);
	if (!rc)
		rc = nsh_store_model_tokens(s, &prompt, &completion, err);
	if (rc)
		goto out;
	/* A job in one of these states holds a sandbox. */
	for (size_t i = 0; i < jobs.nr; i++)
		for (size_t k = 0; k < sizeof(running) / sizeof(running[0]); k++)
			if (!strcmp(jobs.v[i].name, running[k]))
				sandboxes += jobs.v[i].n;
	nsh_buf_reset(&r->out);
	rc = add_counts(&r->out, "nightshift_tasks", "Tasks by state.", &tasks);
	if (!rc)
		rc = add_counts(&r->out, "nightshift_jobs", "Jobs by state.", &jobs);
	if (!rc)
		rc = nsh_buf_addf(
			&r->out,
			"# HELP nightshift_sandboxes_running Jobs that hold a sandbox now.\n"
			"# TYPE nightshift_sandboxes_running gauge\n"
			"nightshift_sandboxes_running %lld\n"
			"# HELP nightshift_queue_length Queued jobs of running tasks waiting for a "
			"sandbox.\n"
			"# TYPE nightshift_queue_length gauge\n"
			"nightshift_queue_length %lld\n"
			"# HELP nightshift_model_tokens_total Model tokens used (llm.usage events).\n"
			"# TYPE nightshift_model_tokens_total counter\n"
			"nightshift_model_tokens_total{kind=\"prompt\"} %lld\n"
			"nightshift_model_tokens_total{kind=\"completion\"} %lld\n",
			(long long)sandboxes, (long long)queue, (long long)prompt,
			(long long)completion);
	if (!rc)
		rc = nsh_srv_metrics_render(r->srv->metrics, &r->out);
	if (rc)
		goto out;
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
out:
	nsh_store_counts_release(&tasks);
	nsh_store_counts_release(&jobs);
	return rc;
}

/* ---- memories ---- */

static json_t *memory_json(const struct nsh_memory_rec *m)
{
	char created[NSH_TIME_ISO_MAX], expires[NSH_TIME_ISO_MAX];
	json_t *src = NULL;

	if (!m->source || nsh_json_parse(m->source, strlen(m->source), &src, NULL))
		src = json_object();
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:I, s:s, s:o}", "id", (json_int_t)m->id,
			 "rule", m->rule, "scope", m->scope, "scope_value",
			 m->scope_value ? json_string(m->scope_value) : json_null(), "state",
			 m->state, "source", src, "uses", (json_int_t)m->uses, "created_at",
			 nsh_time_iso8601(m->created_ms, created), "expires_at",
			 m->expires_ms ? json_string(nsh_time_iso8601(m->expires_ms, expires))
				       : json_null());
}

int nsh_api_memories_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	static const char *const states[] = {"proposed", "active", "forgotten", "expired"};
	struct nsh_memory_filter f = {0};
	struct nsh_memory_list l = {0};
	struct nsh_store *s;
	size_t k;
	json_t *a;
	int rc;

	f.state = nsh_srv_query(r, "state");
	for (k = 0; f.state && k < 4 && strcmp(f.state, states[k]); k++)
		;
	if (f.state && k == 4)
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid state '%.40s' (use proposed, active, forgotten or "
				   "expired)",
				   f.state);
	f.scope = nsh_srv_query(r, "scope");
	if (f.scope && (strlen(f.scope) > 32 ||
			strspn(f.scope, "abcdefghijklmnopqrstuvwxyz_") != strlen(f.scope)))
		return nsh_err_set(err, NSH_EINVAL, "invalid scope '%.40s'", f.scope);
	rc = nsh_srv_query_count(r, "limit", NSH_SRV_LIST_DEFAULT, NSH_SRV_LIST_MAX, &f.limit, err);
	if (!rc)
		rc = nsh_srv_query_count(r, "offset", 0, 1000000, &f.offset, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_memory_list(s, &f, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++)
		json_array_append_new(a, memory_json(&l.v[i]));
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "memories", a));
out:
	nsh_memory_list_release(&l);
	return rc;
}

int nsh_api_memory_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_memory_rec m = {0};
	struct nsh_store *s;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_memory_get(s, r->m.number, &m, err);
	if (!rc)
		nsh_srv_reply_json(r, 200, json_pack("{s:o}", "memory", memory_json(&m)));
	nsh_memory_rec_release(&m);
	return rc;
}

int nsh_api_memory_forget(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_memory_rec m = {0};
	struct nsh_store *s;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_memory_forget(s, r->m.number, NULL, 0, err);
	if (!rc)
		rc = nsh_store_memory_get(s, r->m.number, &m, err);
	if (!rc)
		nsh_srv_reply_json(r, 200, json_pack("{s:o}", "memory", memory_json(&m)));
	nsh_memory_rec_release(&m);
	return rc;
}

/* ---- secrets: names and scopes only ---- */

int nsh_api_secrets_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_secret_list l = {0};
	struct nsh_store *s;
	json_t *a;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_store_secret_list(s, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++) {
		char c[NSH_TIME_ISO_MAX], u[NSH_TIME_ISO_MAX];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "name", l.v[i].name,
						   "scope", l.v[i].scope, "created_at",
						   nsh_time_iso8601(l.v[i].created_ms, c),
						   "updated_at",
						   nsh_time_iso8601(l.v[i].updated_ms, u)));
	}
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "secrets", a));
out:
	nsh_secret_list_release(&l);
	return rc;
}
