/*
 * "nightshift tasks" and "nightshift show TASK": reading tasks, their jobs
 * and their event log.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"
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
	if (nevents && nsh_store_events_after(s, 0, id, 0, &evs, &err))
		goto fail;
	if (json) {
		json_t *o = json_object(), *a = json_array(), *e = json_array();

		json_object_set_new(o, "task", nsh_task_to_json(&t));
		for (size_t i = 0; i < jobs.nr; i++) {
			json_t *jj = nsh_job_to_json(&jobs.v[i]);
			int64_t pos;

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
		if (t.deadline_ms)
			printf("deadline %s\n", nsh_time_iso8601(t.deadline_ms, stamp));
	}
	printf("\njobs (%zu)\n", jobs.nr);
	for (size_t i = 0; i < jobs.nr; i++) {
		const struct nsh_job_rec *j = &jobs.v[i];
		char extra[64] = "";
		int64_t pos;

		/* how many jobs wait for a sandbox before it */
		if (!strcmp(j->state, "queued") && !strcmp(t.state, "running") &&
		    !nsh_store_job_queue_position(s, j->id, &pos, NULL))
			snprintf(extra, sizeof(extra), " (position %lld in the queue)",
				 (long long)pos + 1);
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
