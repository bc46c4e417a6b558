/*
 * Plans and limits: the presets, the [limits] overrides, and the JSON a
 * task records. The presets carry the published figures (72 hours per
 * task, 7 days on the largest plan; 10, 25 and 50 GB of storage per
 * sandbox; up to 10 concurrent tasks); the rest is nightshift's choice,
 * documented in docs/limits.md.
 */
#include "config/limits.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"

#include "core/banned.h"

#define HOUR_MS	 ((int64_t)3600 * 1000)
#define DAY_MS	 (24 * HOUR_MS)
#define GIB	 ((uint64_t)1 << 30)
#define MIN_DISK ((uint64_t)1 << 20)

static const struct nsh_limits plans[] = {
	{"pro", 10, 10, 72 * HOUR_MS, 10 * GIB, 5000000, 50.0, 24 * HOUR_MS, 10 * 60 * 1000,
	 14 * DAY_MS, 10 * 60 * 1000},
	{"pro-plus", 10, 10, 72 * HOUR_MS, 25 * GIB, 10000000, 100.0, 24 * HOUR_MS, 10 * 60 * 1000,
	 14 * DAY_MS, 10 * 60 * 1000},
	{"power", 10, 10, 7 * DAY_MS, 50 * GIB, 20000000, 200.0, 48 * HOUR_MS, 10 * 60 * 1000,
	 30 * DAY_MS, 10 * 60 * 1000},
};

int nsh_limits_plan(const char *name, struct nsh_limits *ret, struct nsh_err *err)
{
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		if (name && !strcmp(name, plans[i].plan)) {
			*ret = plans[i];
			return 0;
		}
	}
	return nsh_err_set(err, NSH_EINVAL, "unknown plan '%s' (expected pro, pro-plus or power)",
			   name ? name : "");
}

static int positive(const char *key, int64_t v, struct nsh_err *err)
{
	if (v >= 1)
		return 0;
	return nsh_err_set(err, NSH_EINVAL, "'limits.%s' must be at least 1", key);
}

int nsh_limits_load(const struct nsh_config *cfg, struct nsh_limits *ret, struct nsh_err *err)
{
	const char *plan = cfg ? nsh_config_get(cfg, "limits", "plan") : NULL;
	struct nsh_limits l;
	long long n;
	int rc;

	rc = nsh_limits_plan(plan && *plan ? plan : "pro", &l, err);
	if (rc || !cfg)
		goto out;
	rc = nsh_config_get_int(cfg, "limits", "concurrent_tasks", l.concurrent_tasks, &n, err);
	if (!rc && !(rc = positive("concurrent_tasks", n, err)))
		l.concurrent_tasks = n;
	if (!rc)
		rc = nsh_config_get_int(cfg, "limits", "concurrent_sandboxes",
					l.concurrent_sandboxes, &n, err);
	if (!rc && !(rc = positive("concurrent_sandboxes", n, err)))
		l.concurrent_sandboxes = n;
	if (!rc)
		rc = nsh_config_get_duration(cfg, "limits", "task_duration", l.task_duration_ms,
					     &l.task_duration_ms, err);
	if (!rc)
		rc = positive("task_duration", l.task_duration_ms, err);
	if (!rc)
		rc = nsh_config_get_size(cfg, "limits", "storage_per_job", l.storage_per_job,
					 &l.storage_per_job, err);
	if (!rc && l.storage_per_job < MIN_DISK)
		rc = nsh_err_set(err, NSH_EINVAL, "'limits.storage_per_job' must be at least 1M");
	if (!rc)
		rc = nsh_config_get_int(cfg, "limits", "token_budget", l.token_budget, &n, err);
	if (!rc && n < 0)
		rc = nsh_err_set(err, NSH_EINVAL, "'limits.token_budget' must not be negative");
	if (!rc)
		l.token_budget = n;
	if (!rc)
		rc = nsh_config_get_number(cfg, "limits", "cost_budget", l.cost_budget,
					   &l.cost_budget, err);
	if (!rc && l.cost_budget < 0)
		rc = nsh_err_set(err, NSH_EINVAL, "'limits.cost_budget' must not be negative");
	if (!rc)
		rc = nsh_config_get_duration(cfg, "limits", "grace", l.grace_ms, &l.grace_ms, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "limits", "checkpoint_margin",
					     l.checkpoint_margin_ms, &l.checkpoint_margin_ms, err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "limits", "artifact_retention",
					     l.artifact_retention_ms, &l.artifact_retention_ms,
					     err);
	if (!rc)
		rc = nsh_config_get_duration(cfg, "limits", "job_estimate", l.job_estimate_ms,
					     &l.job_estimate_ms, err);
	if (!rc)
		rc = positive("job_estimate", l.job_estimate_ms, err);
out:
	if (!rc)
		*ret = l;
	return rc;
}

json_t *nsh_limits_to_json(const struct nsh_limits *l)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I}", "plan", l->plan,
			 "concurrent_tasks", (json_int_t)l->concurrent_tasks,
			 "concurrent_sandboxes", (json_int_t)l->concurrent_sandboxes,
			 "task_duration_ms", (json_int_t)l->task_duration_ms, "storage_per_job",
			 (json_int_t)l->storage_per_job, "token_budget",
			 (json_int_t)l->token_budget, "cost_budget", l->cost_budget, "grace_ms",
			 (json_int_t)l->grace_ms, "checkpoint_margin_ms",
			 (json_int_t)l->checkpoint_margin_ms, "artifact_retention_ms",
			 (json_int_t)l->artifact_retention_ms, "job_estimate_ms",
			 (json_int_t)l->job_estimate_ms);
}

static void get_i64(const json_t *v, const char *key, int64_t *field)
{
	json_t *m = json_object_get(v, key);

	if (json_is_integer(m) && json_integer_value(m) >= 0)
		*field = json_integer_value(m);
}

void nsh_limits_from_json(const json_t *v, const struct nsh_limits *def, struct nsh_limits *ret)
{
	const char *plan = json_string_value(json_object_get(v, "plan"));
	json_t *m;
	int64_t disk;

	if (ret != def)
		*ret = *def;
	if (!json_is_object(v))
		return;
	if (plan && strlen(plan) < sizeof(ret->plan))
		snprintf(ret->plan, sizeof(ret->plan), "%s", plan);
	get_i64(v, "concurrent_tasks", &ret->concurrent_tasks);
	get_i64(v, "concurrent_sandboxes", &ret->concurrent_sandboxes);
	get_i64(v, "task_duration_ms", &ret->task_duration_ms);
	disk = (int64_t)ret->storage_per_job;
	get_i64(v, "storage_per_job", &disk);
	ret->storage_per_job = (uint64_t)disk;
	get_i64(v, "token_budget", &ret->token_budget);
	m = json_object_get(v, "cost_budget");
	if (json_is_number(m) && json_number_value(m) >= 0)
		ret->cost_budget = json_number_value(m);
	get_i64(v, "grace_ms", &ret->grace_ms);
	get_i64(v, "checkpoint_margin_ms", &ret->checkpoint_margin_ms);
	get_i64(v, "artifact_retention_ms", &ret->artifact_retention_ms);
	get_i64(v, "job_estimate_ms", &ret->job_estimate_ms);
}

int64_t nsh_limits_checkpoint_at(const struct nsh_limits *lim, int64_t start_ms,
				 int64_t deadline_ms)
{
	int64_t span = deadline_ms > start_ms ? deadline_ms - start_ms : 0;
	int64_t margin = lim->checkpoint_margin_ms;

	if (margin > span / 20)
		margin = span / 20; /* the 95% mark at the earliest */
	return deadline_ms - margin;
}

void nsh_limits_fmt_duration(int64_t ms, char *out, size_t cap)
{
	int64_t s = ms < 0 ? -ms / 1000 : ms / 1000;
	int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;

	if (d)
		snprintf(out, cap, "%lldd %lldh", (long long)d, (long long)h);
	else if (h)
		snprintf(out, cap, "%lldh %lldm", (long long)h, (long long)m);
	else if (m)
		snprintf(out, cap, "%lldm", (long long)m);
	else
		snprintf(out, cap, "%llds", (long long)s);
}

void nsh_limits_fmt_bytes(uint64_t b, char *out, size_t cap)
{
	static const char *const units[] = {"bytes", "KB", "MB", "GB", "TB"};
	size_t u = 0;
	double v = (double)b;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v >= 10 || v == (double)(uint64_t)v)
		snprintf(out, cap, "%.0f %s", v, units[u]);
	else
		snprintf(out, cap, "%.1f %s", v, units[u]);
}
