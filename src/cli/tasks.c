/*
 * "nightshift tasks" and "nightshift show TASK": reading tasks, their jobs
 * and their event log.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/limits.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "store/limits.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

/* How many recent events "show" prints unless told otherwise. */
#define SHOW_EVENTS 20

static const char *state_color(const struct nsh_cli *cli, const char *state)
{
	if (!cli->color)
		return "";
	if (!strcmp(state, "failed") || !strcmp(state, "cancelled") || !strcmp(state, "expired"))
		return "\033[31m";
	if (!strcmp(state, "completed") || !strcmp(state, "merged") || !strcmp(state, "pr_open"))
		return "\033[32m";
	if (!strcmp(state, "paused") || !strcmp(state, "waiting_input") ||
	    !strcmp(state, "needs_human_review"))
		return "\033[33m";
	return "\033[36m";
}

static const char *color_off(const struct nsh_cli *cli)
{
	return cli->color ? "\033[0m" : "";
}

/* Parse a non-negative count option; false when @s is not one. */
static bool parse_count(const char *s, size_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	v = strtoull(s, &end, 10);
	if (*end || v > 1000000)
		return false;
	*ret = (size_t)v;
	return true;
}

static int tasks_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"state", required_argument, NULL, 's'},
		{"limit", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_list l = {0};
	struct nsh_store *s = NULL;
	const char *state = NULL;
	enum nsh_task_state ts;
	bool json = false;
	size_t limit = 0;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			if (nsh_task_state_parse(optarg, &ts, &err))
				return nsh_cli_usage(&nsh_cmd_tasks, "%s", err.msg);
			state = optarg;
			break;
		case 'n':
			if (!parse_count(optarg, &limit))
				return nsh_cli_usage(&nsh_cmd_tasks, "invalid --limit '%s'",
						     optarg);
			break;
		default:
			return nsh_cli_usage(&nsh_cmd_tasks, "unknown option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind < argc)
		return nsh_cli_usage(&nsh_cmd_tasks, "unexpected argument '%s'", argv[optind]);

	if (nsh_cli_open_store(cli, &s, &err) || nsh_store_task_list(s, state, limit, &l, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < l.nr; i++)
			json_array_append_new(a, nsh_task_to_json(&l.v[i]));
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!l.nr) {
		puts(state ? "no tasks in that state" : "no tasks");
		goto out;
	}
	printf("%-10s %-14s %-6s %s\n", "TASK", "STATE", "AGE", "TITLE");
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_task_rec *t = &l.v[i];
		char age[16];

		nsh_cli_age(t->created_ms, age);
		printf("%-10s %s%-14s%s %-6s %s\n", t->id, state_color(cli, t->state), t->state,
		       color_off(cli), age, t->title);
	}
out:
	nsh_task_list_release(&l);
	nsh_store_close(s);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_tasks = {
	.name = "tasks",
	.usage = "tasks [--state STATE] [--limit N] [--json]",
	.summary = "list tasks, newest first",
	.help = "Options:\n"
		"  --state STATE  only tasks in STATE (queued, analyzing, running, waiting_input,\n"
		"                 paused, completed, failed, cancelled, expired)\n"
		"  --limit N      at most N tasks\n"
		"  --json         print a JSON array\n",
	.run = tasks_run,
};

static void print_event(const struct nsh_event_rec *e)
{
	char stamp[NSH_TIME_ISO_MAX];

	printf("  #%-6lld %s %-12s %s\n", (long long)e->id, nsh_time_iso8601(e->created_ms, stamp),
	       e->kind, e->data);
}

/*
 * The data of the newest "*.queued" event of job @job_id (NULL: of the
 * task) in @evs, when nothing newer says the wait is over; a new reference
 * or NULL.
 */
static json_t *latest_queued(const struct nsh_event_list *evs, const char *job_id)
{
	for (size_t i = evs->nr; i-- > 0;) {
		const struct nsh_event_rec *e = &evs->v[i];
		bool mine = job_id ? e->job_id && !strcmp(e->job_id, job_id) : !e->job_id;
		json_t *v = NULL;

		if (!mine)
			continue;
		if (strcmp(e->kind, job_id ? "job.queued" : "task.queued"))
			return NULL; /* a later event: it started */
		nsh_json_parse(e->data, strlen(e->data), &v, NULL);
		return v;
	}
	return NULL;
}

/* The plan, limits and deadline progress of task @id as JSON (a new reference). */
static json_t *task_limits_json(struct nsh_store *s, const char *id)
{
	struct nsh_task_limits_rec r = {0};
	json_t *o = json_object(), *lim = NULL;
	int64_t now = nsh_time_now_ms();

	if (nsh_store_task_limits_get(s, id, &r, NULL))
		goto out;
	if (r.limits && !nsh_json_parse(r.limits, strlen(r.limits), &lim, NULL) &&
	    json_object_size(lim)) {
		json_object_set(o, "plan", json_object_get(lim, "plan"));
		json_object_set(o, "limits", lim);
	}
	if (r.started_ms)
		json_object_set_new(o, "started_ms", json_integer(r.started_ms));
	if (r.deadline_ms) {
		int64_t start = r.started_ms ? r.started_ms : r.created_ms;
		int64_t span = r.deadline_ms > start ? r.deadline_ms - start : 1;

		json_object_set_new(o, "deadline_ms", json_integer(r.deadline_ms));
		json_object_set_new(o, "left_ms",
				    json_integer(r.deadline_ms > now ? r.deadline_ms - now : 0));
		json_object_set_new(o, "used_percent",
				    json_integer((now - start) * 100 / span > 0
							 ? (now - start) * 100 / span
							 : 0));
	}
	json_object_set_new(o, "warned_percent", json_integer(r.warned));
	if (r.checkpoint_ms)
		json_object_set_new(o, "checkpoint_ms", json_integer(r.checkpoint_ms));
	if (r.expired_ms)
		json_object_set_new(o, "expired_ms", json_integer(r.expired_ms));
	if (r.gc_ms)
		json_object_set_new(o, "workspaces_removed_ms", json_integer(r.gc_ms));
out:
	json_decref(lim);
	nsh_task_limits_rec_release(&r);
	return o;
}

/* Print the limits part of "show". */
static void print_limits(const json_t *l)
{
	const json_t *lim = json_object_get(l, "limits");
	char a[32], b[32], iso[NSH_TIME_ISO_MAX];
	json_int_t v;

	if (lim) {
		nsh_limits_fmt_duration(
			json_integer_value(json_object_get(lim, "task_duration_ms")), a, sizeof(a));
		nsh_limits_fmt_bytes(
			(uint64_t)json_integer_value(json_object_get(lim, "storage_per_job")), b,
			sizeof(b));
		printf("plan     %s (%s per task, %s per job, %lld tasks and %lld sandboxes at "
		       "once)\n",
		       json_string_value(json_object_get(lim, "plan")), a, b,
		       (long long)json_integer_value(json_object_get(lim, "concurrent_tasks")),
		       (long long)json_integer_value(json_object_get(lim, "concurrent_sandboxes")));
	}
	if (!nsh_json_get_int(l, "deadline_ms", &v, NULL)) {
		nsh_limits_fmt_duration(json_integer_value(json_object_get(l, "left_ms")), a,
					sizeof(a));
		printf("deadline %s (%lld%% used, %s left)\n", nsh_time_iso8601(v, iso),
		       (long long)json_integer_value(json_object_get(l, "used_percent")),
		       json_integer_value(json_object_get(l, "left_ms")) ? a : "none");
	}
	if (!nsh_json_get_int(l, "expired_ms", &v, NULL))
		printf("expired  %s\n", nsh_time_iso8601(v, iso));
	if (!nsh_json_get_int(l, "workspaces_removed_ms", &v, NULL))
		printf("removed  workspaces removed by gc at %s\n", nsh_time_iso8601(v, iso));
}

static int show_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"spec", no_argument, NULL, 'S'},
		{"events", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_rec t = {0};
	struct nsh_job_list jobs = {0};
	struct nsh_event_list evs = {0};
	struct nsh_store *s = NULL;
	json_t *q = NULL;
	bool json = false, spec = false;
	size_t nevents = SHOW_EVENTS;
	int64_t last = 0;
	const char *id;
	char *body = NULL;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'S':
			spec = true;
			break;
		case 'e':
			if (!parse_count(optarg, &nevents))
				return nsh_cli_usage(&nsh_cmd_show, "invalid --events '%s'",
						     optarg);
			break;
		default:
			return nsh_cli_usage(&nsh_cmd_show, "unknown option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return nsh_cli_usage(&nsh_cmd_show, "missing TASK");
	if (optind + 1 < argc)
		return nsh_cli_usage(&nsh_cmd_show, "unexpected argument '%s'", argv[optind + 1]);
	id = argv[optind];

	if (nsh_cli_open_store(cli, &s, &err) || nsh_store_task_get(s, id, &t, &err))
		goto fail;
	if (spec) {
		int64_t version = 0;

		if (nsh_store_spec_get(s, id, 0, &body, &version, &err))
			goto fail;
		if (json) {
			json_t *o = json_pack("{s:s, s:I, s:s}", "task", id, "version",
					      (json_int_t)version, "spec", body);

			nsh_cli_print_json(o);
			json_decref(o);
		} else {
			fputs(body, stdout);
			if (!*body || body[strlen(body) - 1] != '\n')
				fputc('\n', stdout);
		}
		goto out;
	}
	if (nsh_store_job_list(s, id, &jobs, &err) || nsh_store_event_last_id(s, &last, &err))
		goto fail;
	/* The newest @nevents events of the task, oldest first. */
	if (nsh_store_events_after(s, 0, id, 0, &evs, &err))
		goto fail;
	if (json) {
		json_t *o = json_object(), *a = json_array(), *e = json_array();

		json_object_set_new(o, "task", nsh_task_to_json(&t));
		json_object_set_new(o, "limits", task_limits_json(s, id));
		if ((q = latest_queued(&evs, NULL)))
			json_object_set_new(o, "queue", q);
		for (size_t i = 0; i < jobs.nr; i++) {
			json_t *jj = nsh_job_to_json(&jobs.v[i]);
			struct nsh_job_limits_rec jl = {0};
			int64_t pos;

			if (!nsh_store_job_limits_get(s, jobs.v[i].id, &jl, NULL) &&
			    jl.disk_bytes >= 0)
				json_object_set_new(jj, "disk_bytes", json_integer(jl.disk_bytes));
			if ((q = latest_queued(&evs, jobs.v[i].id)))
				json_object_set_new(jj, "queue", q);

			if (!strcmp(jobs.v[i].state, "queued") && !strcmp(t.state, "running") &&
			    !nsh_store_job_queue_position(s, jobs.v[i].id, &pos, NULL))
				json_object_set_new(jj, "queue_position", json_integer(pos));
			json_array_append_new(a, jj);
		}
		json_object_set_new(o, "jobs", a);
		for (size_t i = evs.nr > nevents ? evs.nr - nevents : 0; i < evs.nr; i++)
			json_array_append_new(e, nsh_event_to_json(&evs.v[i]));
		json_object_set_new(o, "events", e);
		nsh_cli_print_json(o);
		json_decref(o);
		goto out;
	}
	{
		char stamp[NSH_TIME_ISO_MAX];

		printf("task     %s\n", t.id);
		printf("title    %s\n", t.title);
		printf("state    %s%s%s\n", state_color(cli, t.state), t.state, color_off(cli));
		if (t.error)
			printf("error    %s\n", t.error);
		if (t.org)
			printf("org      %s\n", t.org);
		printf("brain    %s\n", t.brain ? t.brain : "(not chosen yet)");
		if (t.recipe)
			printf("recipe   %s\n", t.recipe);
		printf("network  %s\n", t.network);
		printf("created  %s\n", nsh_time_iso8601(t.created_ms, stamp));
		{
			json_t *l = task_limits_json(s, id);

			if (json_object_get(l, "deadline_ms") || json_object_get(l, "limits"))
				print_limits(l);
			else if (t.deadline_ms)
				printf("deadline %s\n", nsh_time_iso8601(t.deadline_ms, stamp));
			json_decref(l);
		}
		if ((q = latest_queued(&evs, NULL))) {
			printf("queue    %s\n",
			       json_string_value(json_object_get(q, "message"))
				       ? json_string_value(json_object_get(q, "message"))
				       : "waiting");
			json_decref(q);
			q = NULL;
		}
	}
	printf("\njobs (%zu)\n", jobs.nr);
	for (size_t i = 0; i < jobs.nr; i++) {
		const struct nsh_job_rec *j = &jobs.v[i];
		struct nsh_job_limits_rec jl = {0};
		char extra[160] = "";
		int64_t pos;

		/* how many jobs wait for a sandbox before it, and when it may start */
		if (!strcmp(j->state, "queued") && !strcmp(t.state, "running") &&
		    !nsh_store_job_queue_position(s, j->id, &pos, NULL)) {
			json_t *jq = latest_queued(&evs, j->id);
			const char *when =
				json_string_value(json_object_get(jq, "estimated_start"));

			snprintf(extra, sizeof(extra), " (position %lld in the queue%s%s)",
				 (long long)pos + 1, when ? ", estimated start " : "",
				 when ? when : "");
			json_decref(jq);
		}
		if (!nsh_store_job_limits_get(s, j->id, &jl, NULL) && jl.disk_bytes >= 0) {
			char b[32];

			nsh_limits_fmt_bytes((uint64_t)jl.disk_bytes, b, sizeof(b));
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " [%s]", b);
		}
		printf("  %-10s %-28s %s%-18s%s%s%s%s\n", j->id, j->repo,
		       state_color(cli, j->state), j->state, color_off(cli), extra,
		       j->error ? " " : "", j->error ? j->error : "");
	}
	if (nevents) {
		size_t from = evs.nr > nevents ? evs.nr - nevents : 0;

		printf("\nevents (%zu of %zu)\n", evs.nr - from, evs.nr);
		for (size_t i = from; i < evs.nr; i++)
			print_event(&evs.v[i]);
	}
	goto out;
fail:
	code = nsh_cli_fail(&err);
out:
	free(body);
	nsh_event_list_release(&evs);
	nsh_job_list_release(&jobs);
	nsh_task_rec_release(&t);
	nsh_store_close(s);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_show = {
	.name = "show",
	.usage = "show TASK [--spec] [--events N] [--json]",
	.summary = "show a task, its jobs and its latest events",
	.help = "Options:\n"
		"  --spec      print the task spec (Markdown) instead\n"
		"  --events N  how many of the latest events to show (default 20)\n"
		"  --json      print JSON\n",
	.run = show_run,
};
