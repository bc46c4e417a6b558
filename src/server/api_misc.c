/*
 * Endpoints for health, Prometheus metrics, learned memories and secret
 * names (never values).
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "memory/memory.h"
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

/* ---- memories (src/memory/) ---- */

/*
 * The expiry TTL from the home's configuration (memory.ttl_days), read per
 * request: the file is small, and a change applies without a restart.
 */
static int memory_ttl(const struct nsh_srv_req *r, int64_t *ret, struct nsh_err *err)
{
	struct nsh_config *cfg = NULL;
	char *path;
	int rc;

	if (!r->srv || !r->srv->home)
		return nsh_memory_ttl_ms(NULL, ret, err);
	path = nsh_xasprintf("%s/config", r->srv->home);
	rc = nsh_config_load(path, &cfg, err);
	if (!rc)
		rc = nsh_memory_ttl_ms(cfg, ret, err);
	nsh_config_free(cfg);
	free(path);
	return rc;
}

/* A short query value made of @chars only, or NSH_EINVAL naming @key. */
static int query_word(const struct nsh_srv_req *r, const char *key, const char *chars,
		      const char **ret, struct nsh_err *err)
{
	const char *v = nsh_srv_query(r, key);

	if (v && (!*v || strlen(v) > 200 || strspn(v, chars) != strlen(v)))
		return nsh_err_set(err, NSH_EINVAL, "invalid %s '%.40s'", key, v);
	*ret = v;
	return 0;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

int nsh_api_memories_list(struct nsh_srv_req *r, struct nsh_err *err)
{
	static const char *const states[] = {"proposed", "active", "superseded", "forgotten",
					     "expired"};
	struct nsh_memory_list_filter f = {0};
	struct nsh_memory_rule_list l = {0};
	struct nsh_store *s;
	size_t k, nstates = sizeof(states) / sizeof(states[0]);
	json_t *a;
	int rc;

	f.f.state = nsh_srv_query(r, "state");
	for (k = 0; f.f.state && k < nstates && strcmp(f.f.state, states[k]); k++)
		;
	if (f.f.state && k == nstates)
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid state '%.40s' (use proposed, active, superseded, "
				   "forgotten or expired)",
				   f.f.state);
	f.f.kind = nsh_srv_query(r, "kind");
	if (f.f.kind && strcmp(f.f.kind, "preference") && strcmp(f.f.kind, "text"))
		return nsh_err_set(err, NSH_EINVAL, "invalid kind '%.40s' (use preference or text)",
				   f.f.kind);
	rc = query_word(r, "scope", "abcdefghijklmnopqrstuvwxyz_", &f.f.scope, err);
	if (!rc)
		rc = query_word(r, "org", NAME_CHARS, &f.f.org, err);
	if (!rc)
		rc = query_word(r, "repo", NAME_CHARS "/", &f.f.repo, err);
	if (!rc && f.f.repo && !strchr(f.f.repo, '/'))
		rc = nsh_err_set(err, NSH_EINVAL, "invalid repo '%.40s' (expected ORG/NAME)",
				 f.f.repo);
	if (!rc)
		rc = nsh_srv_query_count(r, "limit", NSH_SRV_LIST_DEFAULT, NSH_SRV_LIST_MAX,
					 &f.f.limit, err);
	if (!rc)
		rc = nsh_srv_query_count(r, "offset", 0, 1000000, &f.f.offset, err);
	if (!rc)
		rc = memory_ttl(r, &f.ttl_ms, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_memory_list(s, &f, &l, err);
	if (rc)
		goto out;
	a = json_array();
	for (size_t i = 0; i < l.nr; i++)
		json_array_append_new(a, nsh_memory_rule_to_json(&l.v[i]));
	nsh_srv_reply_json(r, 200, json_pack("{s:o}", "memories", a));
out:
	nsh_memory_rule_list_release(&l);
	return rc;
}

/* Reply with rule r->m.number as {"memory": ...}. */
static int reply_memory(struct nsh_srv_req *r, struct nsh_store *s, struct nsh_err *err)
{
	struct nsh_memory_rule m = {0};
	int rc = nsh_memory_get(s, r->m.number, &m, err);

	if (!rc)
		nsh_srv_reply_json(r, 200,
				   json_pack("{s:o}", "memory", nsh_memory_rule_to_json(&m)));
	nsh_memory_rule_release(&m);
	return rc;
}

int nsh_api_memory_get(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_store *s;
	int64_t ttl = 0;
	int rc;

	rc = memory_ttl(r, &ttl, err);
	if (!rc)
		rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_memory_expire(s, 0, ttl, NULL, err);
	return rc ? rc : reply_memory(r, s, err);
}

int nsh_api_memory_forget(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_store *s;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_memory_forget(s, r->m.number, "api", err);
	return rc ? rc : reply_memory(r, s, err);
}

int nsh_api_memory_promote(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_store *s;
	int rc;

	rc = nsh_srv_store(r, &s, err);
	if (!rc)
		rc = nsh_memory_promote(s, r->m.number, "api", err);
	return rc ? rc : reply_memory(r, s, err);
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
