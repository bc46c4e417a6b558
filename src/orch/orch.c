/*
 * The orchestrator's context and the helpers its steps share: the job's
 * working directories and sandbox, running a command there with its log
 * kept as an artifact, the forge, events with a message for people.
 */
#include "orch/orch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fault.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "forge/forge.h"
#include "forge/git.h"
#include "forge/github.h"
#include "orch/orch_int.h"
#include "sandbox/disk.h"
#include "sandbox/sandbox.h"
#include "secrets/secrets.h"
#include "store/store.h"

#include "core/banned.h"

static void task_end(void *ctx, struct nsh_store *st, const char *task_id)
{
	orch_ws_sweep(ctx, st, task_id);
	orch_status(ctx, st, task_id);
}

/*
 * [limits] enforce_storage: "auto" (the default: a quota image per job
 * where the host can mount one, as root with loop devices), "on" (a job
 * whose quota cannot be enforced fails) or "off" (measured after each step).
 */
static int ws_quota_mode(const struct nsh_config *cfg, int *ret, struct nsh_err *err)
{
	const char *v = cfg ? nsh_config_get(cfg, "limits", "enforce_storage") : NULL;

	if (!v || !*v || !strcmp(v, "auto"))
		*ret = geteuid() == 0 && access("/dev/loop-control", R_OK | W_OK) == 0;
	else if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		*ret = 2;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		*ret = 0;
	else
		return nsh_err_set(
			err, NSH_EINVAL,
			"invalid 'limits.enforce_storage' '%s' (expected auto, on or off)", v);
	return 0;
}

int nsh_orch_new(const char *home, const struct nsh_config *cfg, struct nsh_orch **ret,
		 struct nsh_err *err)
{
	struct nsh_strvec dirs = NSH_STRVEC_INIT;
	struct nsh_orch *o = nsh_xcalloc(1, sizeof(*o));
	long long attempts = ORCH_MAX_ATTEMPTS;
	int rc = 0;

	o->home = nsh_xstrdup(home);
	o->cfg = cfg;
	pthread_mutex_init(&o->mu, NULL);
	o->memory = (uint64_t)4 << 30;
	o->pids = 4096;
	if (cfg) {
		rc = nsh_config_get_int(cfg, "tasks", "max_attempts", ORCH_MAX_ATTEMPTS, &attempts,
					err);
		if (!rc)
			rc = nsh_config_get_size(cfg, "sandbox", "memory", o->memory, &o->memory,
						 err);
		if (!rc)
			rc = nsh_config_get_size(cfg, "sandbox", "pids", o->pids, &o->pids, err);
	}
	if (!rc)
		rc = ws_quota_mode(cfg, &o->ws_quota, err);
	if (!rc && (attempts < 1 || attempts > 20))
		rc = nsh_err_set(err, NSH_EINVAL, "tasks.max_attempts must be 1 to 20, not %lld",
				 attempts);
	o->max_attempts = (int)attempts;
	if (!rc) {
		/* what a killed worker left: cgroups, mounts and loop devices */
		char *work = nsh_xasprintf("%s/work", home);

		nsh_sandbox_cleanup_stale(work, NULL);
		free(work);
		/* sandboxes prepared ahead for the jobs' commands (as root) */
		rc = nsh_sandbox_pool_start(home, err);
	}
	if (!rc) {
		nsh_recipe_dirs(home, &dirs);
		rc = nsh_recipe_catalog_load(&dirs, &o->recipes, err);
	}
	if (!rc) {
		/* the llm brain: its absence is only an error for a task that needs it */
		struct nsh_err lerr = NSH_ERR_INIT;

		nsh_llm_settings_init(&o->llm);
		if (!cfg)
			nsh_err_set(&lerr, NSH_ENOTFOUND, "no configuration");
		else
			o->llm_ok = !nsh_llm_settings_load(cfg, &o->llm, &lerr);
		if (!o->llm_ok)
			o->llm_error =
				lerr.code == NSH_ENOTFOUND
					? nsh_xstrdup(
						  "no LLM is configured: set NIGHTSHIFT_LLM_API "
						  "(openai or anthropic), NIGHTSHIFT_LLM_URL, "
						  "NIGHTSHIFT_LLM_MODEL and NIGHTSHIFT_LLM_KEY, "
						  "or name a recipe with --recipe (nightshift "
						  "recipe list)")
					: nsh_xasprintf("the llm settings are invalid: %s",
							lerr.msg);
	}
	nsh_strvec_release(&dirs);
	if (rc) {
		nsh_orch_free(o);
		return rc;
	}
	o->pipeline = (struct nsh_pipeline){
		.plan = orch_plan,
		.steps = orch_steps,
		.nsteps = orch_nsteps,
		.finish = orch_finish,
		.job_end = orch_job_end,
		.task_end = task_end,
		.checkpoint = orch_checkpoint,
		.measure = orch_measure,
		.step_timed = orch_step_timed,
		.ctx = o,
	};
	*ret = o;
	return 0;
}

const struct nsh_pipeline *nsh_orch_pipeline(struct nsh_orch *o)
{
	return &o->pipeline;
}

void nsh_orch_free(struct nsh_orch *o)
{
	if (!o)
		return;
	if (o->prep_started)
		pthread_join(o->prep, NULL);
	nsh_disk_drain(); /* the workspaces released in the background (orch_ws_release()) */
	nsh_proxy_free(o->proxy);
	nsh_net_journal_free(o->journal);
	for (size_t i = 0; i < sizeof(o->net) / sizeof(o->net[0]); i++)
		if (o->net_ready[i])
			nsh_net_policy_release(&o->net[i]);
	nsh_recipe_catalog_release(&o->recipes);
	nsh_llm_settings_release(&o->llm);
	free(o->llm_error);
	pthread_mutex_destroy(&o->mu);
	free(o->home);
	free(o);
}

/*
 * The timing of the steps that ran before the job's working state was made
 * (the rules step needs none): taken over by orch_job_of(), dropped by
 * orch_job_end(). Per job thread.
 */
static _Thread_local json_t *early_timing;

void orch_timing_drop(void)
{
	json_decref(early_timing);
	early_timing = NULL;
}

struct orch_job *orch_job_of(struct nsh_job_run *jr)
{
	void **slot = nsh_job_run_data(jr);
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct orch_job *oj = *slot;

	if (oj)
		return oj;
	oj = nsh_xcalloc(1, sizeof(*oj));
	oj->dir = nsh_xasprintf("%s/work/%s", o->home, j->id);
	oj->ws = nsh_xasprintf("%s/repo", oj->dir);
	oj->artifacts = nsh_xasprintf("%s/artifacts/%s/%s", o->home, j->task_id, j->id);
	oj->start_ms = nsh_time_mono_ms();
	oj->timing = early_timing ? early_timing : json_array();
	early_timing = NULL;
	nsh_git_counters(&oj->git_runs, &oj->git_ms);
	pthread_mutex_init(&oj->net_mu, NULL);
	nsh_strvec_init(&oj->blocked);
	orch_ws_open(oj); /* a workspace kept on its image by an earlier run */
	*slot = oj;
	return oj;
}

/* The egress proxy and the policy of @level, made once per orchestrator. */
static int net_for(struct nsh_orch *o, enum nsh_net_level level, struct nsh_proxy **ret_proxy,
		   const struct nsh_net_policy **ret_net, struct nsh_err *err)
{
	const char *priv = o->cfg ? nsh_config_get(o->cfg, "net", "allow_private") : NULL;
	int rc = 0;

	pthread_mutex_lock(&o->mu);
	if (!o->net_ready[level]) {
		nsh_net_policy_init(&o->net[level], level);
		rc = nsh_net_policy_build(&o->net[level], level, NULL, priv, err);
		if (rc)
			nsh_net_policy_release(&o->net[level]);
		else
			o->net_ready[level] = true;
	}
	if (!rc && !o->proxy)
		rc = nsh_proxy_new(&o->proxy, err);
	if (!rc && !o->journal) {
		char *db = nsh_store_target(o->home, getenv("NIGHTSHIFT_DB"), o->cfg);

		rc = nsh_net_journal_new(db, &o->journal, err);
		free(db);
	}
	pthread_mutex_unlock(&o->mu);
	if (rc)
		return rc;
	*ret_proxy = o->proxy;
	*ret_net = &o->net[level];
	return 0;
}

/* On the proxy thread: remember what the job's sandbox was refused. */
static void on_net(void *ctx, const struct nsh_proxy_decision *d)
{
	struct orch_job *oj = ctx;
	char *what;

	/* every decision is an event of the job (net.blocked, net.allowed) */
	if (oj->nj)
		nsh_net_journal_record(oj->nj, d);
	if (d->allowed || d->done)
		return;
	what = nsh_xasprintf("%s:%d (%s)", *d->host ? d->host : "?", d->port, d->reason);
	pthread_mutex_lock(&oj->net_mu);
	if (oj->blocked.nr < ORCH_BLOCKED_MAX && nsh_strvec_find(&oj->blocked, what) < 0)
		nsh_strvec_push(&oj->blocked, what);
	pthread_mutex_unlock(&oj->net_mu);
	free(what);
}

/* The job's sandbox over its workspace, made on first use. */
static int job_sandbox(struct nsh_job_run *jr, struct orch_job *oj, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	const struct nsh_task_rec *t = nsh_job_run_task(jr);
	struct nsh_sandbox_policy pol = {0};
	enum nsh_net_level level;
	char *state;
	int rc;

	if (oj->sb)
		return 0;
	rc = nsh_net_level_parse(t->network ? t->network : "common", &level, err);
	if (rc)
		return rc;
	state = nsh_xasprintf("%s/sbx-%s", oj->dir, nsh_job_run_job(jr)->id);
	nsh_fs_remove_tree(state, NULL);
	rc = nsh_fs_mkdir_p(state, 0700, err);
	pol.workspace = oj->ws;
	pol.state_dir = state;
	pol.hide = o->home;
	pol.memory = o->memory;
	pol.pids = o->pids;
	pol.network = level;
	pol.on_net = on_net;
	pol.on_net_ctx = oj;
	if (!rc && level != NSH_NET_NONE)
		rc = net_for(o, level, &pol.proxy, &pol.net, err);
	if (!rc && level != NSH_NET_NONE && !oj->nj)
		oj->nj = nsh_net_journal_job_new(o->journal, t->id, nsh_job_run_job(jr)->id,
						 oj->red);
	if (!rc) {
		int64_t t0 = nsh_time_mono_ms();

		rc = nsh_sandbox_create(&pol, &oj->sb, err);
		oj->sb_made_ms += nsh_time_mono_ms() - t0;
	}
	if (!rc)
		nsh_job_run_set_sandbox(jr, oj->sb);
	free(state);
	return rc;
}

int orch_secrets(struct nsh_job_run *jr, struct orch_job *oj, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct nsh_secrets *v = NULL;
	int rc;

	if (oj->env)
		return 0;
	rc = nsh_secrets_open(nsh_job_run_store(jr), o->home, NULL, &v, err);
	if (!rc)
		rc = nsh_secrets_for_scope(v, NULL, j->repo, j->task_id, &oj->env, err);
	if (!rc)
		rc = nsh_redactor_from_env(oj->env, &oj->red, err);
	nsh_secrets_close(v);
	if (rc) {
		nsh_secrets_env_free(oj->env);
		oj->env = NULL;
		nsh_err_wrap(err, "secrets of job '%s'", j->id);
	}
	return rc;
}

/* Replace @b's contents by their redacted form. */
static void redact_in_place(const struct nsh_redactor *red, struct nsh_buf *b)
{
	struct nsh_buf out = NSH_BUF_INIT;

	nsh_buf_init(&out, b->max);
	if (red && b->len && !nsh_redact_buf(red, b->buf, b->len, &out, NULL)) {
		nsh_buf_reset(b);
		nsh_buf_add(b, out.buf, out.len);
	}
	nsh_buf_release(&out);
}

/*
 * Append the record of command @c to the artifact log @dir/@name.log. A
 * plain append, not a rewrite of the whole file, and no fsync: the log is
 * for people, and a step that a crash interrupts runs again and appends
 * again. A log past ORCH_LOG_MAX takes no more records.
 */
static void append_log(const char *dir, const char *name, const char *const *argv,
		       const struct nsh_sandbox_cmd *c)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/%s.log", dir, name);
	struct stat st;
	int fd = -1;

	if (nsh_fs_mkdir_p(dir, 0700, NULL))
		goto out;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) < 0 || (long long)st.st_size > ORCH_LOG_MAX)
		goto out;
	nsh_buf_adds(&b, "$");
	for (size_t i = 0; argv[i]; i++)
		nsh_buf_addf(&b, " %s", argv[i]);
	nsh_buf_addf(&b, "\n# exit %d%s, %lld ms\n", c->exit_code,
		     c->timed_out ? " (timed out)" : "", (long long)c->elapsed_ms);
	nsh_buf_add(&b, c->out.buf, c->out.len);
	nsh_buf_add(&b, c->err.buf, c->err.len);
	nsh_buf_adds(&b, "\n");
	for (size_t off = 0; off < b.len;) {
		ssize_t n = write(fd, b.buf + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	nsh_buf_release(&b);
	free(path);
}

int orch_exec(struct nsh_job_run *jr, const char *const *argv, int64_t timeout_ms, const char *log,
	      struct nsh_sandbox_cmd *c, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	int rc;

	/* the secrets first: the sandbox's network journal redacts with them */
	rc = orch_secrets(jr, oj, err);
	if (!rc)
		rc = job_sandbox(jr, oj, err);
	if (rc)
		return rc;
	for (size_t i = 0; argv[i]; i++)
		nsh_strvec_push(&c->argv, argv[i]);
	/* the job's secrets as environment variables; their values never leave in output */
	for (size_t i = 0; i < oj->env->nr; i++)
		nsh_strvec_push(&c->env, oj->env->envp[i]);
	nsh_strvec_pushl(&c->env, "HOME=/tmp", "CI=true", "NO_COLOR=1",
			 "npm_config_cache=/tmp/.npm", "npm_config_update_notifier=false",
			 "npm_config_fund=false", "npm_config_audit=false", NULL);
	c->timeout_ms = timeout_ms;
	c->out_max = ORCH_OUT_MAX;
	{
		char point[64];

		/* "exec.install": die while the command runs, half a second in */
		snprintf(point, sizeof(point), "exec.%s", log);
		if (nsh_fault_armed(point))
			nsh_fault_kill_after(500);
	}
	rc = nsh_sandbox_exec(oj->sb, c, err);
	oj->cmd_ms += c->elapsed_ms;
	oj->execs++;
	if (!rc)
		orch_ws_check(jr, argv, c);
	redact_in_place(oj->red, &c->out);
	redact_in_place(oj->red, &c->err);
	if (!rc)
		append_log(oj->artifacts, log, argv, c);
	return rc;
}

void orch_time_part(struct orch_job *oj, const char *name, int64_t t0_ms)
{
	int64_t ms = nsh_time_mono_ms() - t0_ms;

	if (!oj->parts)
		oj->parts = json_object();
	ms += json_integer_value(json_object_get(oj->parts, name));
	json_object_set_new(oj->parts, name, json_integer(ms));
}

void orch_step_timed(struct nsh_job_run *jr, const char *step, const struct nsh_step_time *t)
{
	struct orch_job *oj = *nsh_job_run_data(jr);
	uint64_t runs;
	int64_t ms;
	json_t *v;

	if (!oj) {
		/* a step that needed no working state: its phases alone */
		if (!early_timing)
			early_timing = json_array();
		json_array_append_new(early_timing,
				      json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "step", step,
						"attempt", (json_int_t)nsh_job_run_attempt(jr),
						"run_ms", (json_int_t)t->run_ms, "boundary_ms",
						(json_int_t)t->boundary_ms, "measure_ms",
						(json_int_t)t->measure_ms, "record_ms",
						(json_int_t)t->record_ms));
		return;
	}
	nsh_git_counters(&runs, &ms);
	v = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "step", step, "attempt",
		      (json_int_t)nsh_job_run_attempt(jr), "run_ms", (json_int_t)t->run_ms,
		      "cmd_ms", (json_int_t)(oj->cmd_ms - oj->cmd_mark), "cmds",
		      (json_int_t)(oj->execs - oj->execs_mark), "sandbox_ms",
		      (json_int_t)(oj->sb_made_ms - oj->sb_made_at), "git",
		      (json_int_t)(runs - oj->git_runs), "git_ms", (json_int_t)(ms - oj->git_ms),
		      "boundary_ms", (json_int_t)t->boundary_ms, "measure_ms",
		      (json_int_t)t->measure_ms);
	json_object_set_new(v, "record_ms", json_integer(t->record_ms));
	if (oj->parts)
		json_object_set_new(v, "parts", oj->parts);
	oj->parts = NULL;
	json_array_append_new(oj->timing, v);
	oj->git_runs = runs;
	oj->git_ms = ms;
	oj->cmd_mark = oj->cmd_ms;
	oj->execs_mark = oj->execs;
	oj->sb_made_at = oj->sb_made_ms;
}

char *orch_excerpt(const struct nsh_sandbox_cmd *c, size_t max)
{
	const struct nsh_buf *b = c->err.len ? &c->err : &c->out;
	size_t from = b->len > max ? b->len - max : 0;

	return nsh_xmemdup(b->buf + from, b->len - from);
}

int orch_forge(struct nsh_orch *o, struct nsh_store *st, const char *where, struct nsh_forge **ret,
	       struct nsh_err *err)
{
	size_t n = where ? strcspn(where, "/#") : 0;
	char *org;
	int rc;

	if (!n)
		return nsh_forge_open_local(o->home, st, ret, err);
	org = nsh_xstrndup(where, n);
	rc = nsh_forge_open_for_org(o->home, st, o->cfg, org, ret, err);
	free(org);
	return rc;
}

void orch_status(struct nsh_orch *o, struct nsh_store *st, const char *task_id)
{
	struct nsh_task_rec t = {0};
	struct nsh_forge *f = NULL;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *opts = NULL;
	const char *repo;

	if (nsh_store_task_get(st, task_id, &t, NULL))
		return;
	opts = orch_task_options(&t);
	repo = json_string_value(json_object_get(json_object_get(opts, "github"), "repo"));
	if (repo && !orch_forge(o, st, repo, &f, &err) && !strcmp(nsh_forge_kind(f), "github") &&
	    nsh_github_status_sync(f, st, task_id, &err))
		nsh_log_warn("task %s: the status comment on %s: %s", task_id, repo, err.msg);
	nsh_forge_close(f);
	json_decref(opts);
	nsh_task_rec_release(&t);
}

int orch_split_repo(const char *full, char **ret_org, char **ret_name, struct nsh_err *err)
{
	const char *slash = strchr(full, '/');

	if (!slash || slash == full || !slash[1] || strchr(slash + 1, '/'))
		return nsh_err_set(err, NSH_EINVAL, "invalid repository '%s' (expected ORG/NAME)",
				   full);
	*ret_org = nsh_xmemdup(full, (size_t)(slash - full));
	*ret_name = nsh_xstrdup(slash + 1);
	return 0;
}

json_t *orch_task_options(const struct nsh_task_rec *t)
{
	json_t *v = NULL;

	if (!t->options || nsh_json_parse(t->options, strlen(t->options), &v, NULL) ||
	    !json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	return v;
}

void orch_say(struct nsh_store *st, const char *task_id, const char *job_id, const char *kind,
	      json_t *data, const char *fmt, ...)
{
	struct nsh_buf msg = NSH_BUF_INIT;
	json_t *d = data ? data : json_object();
	va_list ap;

	va_start(ap, fmt);
	nsh_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	json_object_set_new(d, "message", nsh_json_string_lossy(msg.buf, msg.len));
	nsh_event_append(st, task_id, job_id, kind, d, NULL, NULL);
	json_decref(d);
	nsh_buf_release(&msg);
}
