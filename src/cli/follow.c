/*
 * "nightshift follow TASK": render a task's event log as it grows, until the
 * task ends. Every client renders from the same log (DESIGN.md section 1);
 * this is the terminal's rendering. --json streams the events as JSON lines.
 *
 * On a terminal (stdout a TTY, TERM set and not "dumb", NO_COLOR unset) a
 * block of one line per job stays at the bottom (cli/progress.h): before
 * each batch of events it is erased (cursor up, clear to the end of the
 * screen), the event lines are printed where it was, and it is drawn again
 * below them; once a second without events it is redrawn for the elapsed
 * times. When the task ends the block stays in its final state. Anywhere
 * else the output is the event lines alone.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/progress.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "core/vec.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define FOLLOW_WAIT_MS	   1000	 /* longest wait for the next event before looking again */
#define FOLLOW_BLOCKED_MAX 10000 /* blocked hosts remembered (and shown) per follow */

/* job id -> repository, learnt from the store as events name jobs */
struct repo_cache {
	struct nsh_strvec ids;
	struct nsh_strvec repos;
};

static const char *repo_of(struct repo_cache *rc, struct nsh_store *s, const char *job_id)
{
	struct nsh_job_rec j = {0};
	long i;

	if (!job_id)
		return NULL;
	i = nsh_strvec_find(&rc->ids, job_id);
	if (i >= 0)
		return rc->repos.v[i];
	if (nsh_store_job_get(s, job_id, &j, NULL))
		return job_id;
	nsh_strvec_push(&rc->ids, job_id);
	nsh_strvec_push(&rc->repos, j.repo);
	nsh_job_rec_release(&j);
	return rc->repos.v[rc->repos.nr - 1];
}

static const char *str(const json_t *data, const char *key)
{
	const char *v = json_string_value(json_object_get(data, key));

	return v ? v : "";
}

/* "45 seconds", "3 minutes", "1.2 seconds" */
static void duration(int64_t ms, char out[32])
{
	if (ms < 10000)
		snprintf(out, 32, "%.1f seconds", (double)ms / 1000.0);
	else if (ms < 120000)
		snprintf(out, 32, "%lld seconds", (long long)(ms / 1000));
	else
		snprintf(out, 32, "%lld minutes", (long long)(ms / 60000));
}

static void task_state_line(const json_t *d)
{
	const char *to = str(d, "to"), *reason = str(d, "reason");

	if (!strcmp(str(d, "from"), "paused") && strcmp(to, "cancelled") && strcmp(to, "expired"))
		printf("▶  Resumed\n");
	else if (!strcmp(to, "analyzing"))
		printf("🔄 Analyzing the task...\n");
	else if (!strcmp(to, "running"))
		printf("🚀 Working on the repositories\n");
	else if (!strcmp(to, "waiting_input"))
		printf("❓ Waiting for your answer (nightshift answer TASK \"...\")\n");
	else if (!strcmp(to, "paused"))
		printf("⏸  Paused%s%s\n", *reason ? ": " : "", reason);
	else if (!strcmp(to, "completed"))
		printf("✅ Task completed\n");
	else if (!strcmp(to, "failed"))
		printf("❌ Task failed: %s\n", *reason ? reason : "no reason given");
	else if (!strcmp(to, "cancelled"))
		printf("🛑 Task cancelled%s%s\n", *reason ? ": " : "", reason);
	else if (!strcmp(to, "expired"))
		printf("⌛ Task expired\n");
	else
		printf("• task %s\n", to);
}

/*
 * A request the egress proxy refused, once per host and job (a tool that
 * retries would otherwise fill the screen): "blocked registry.npmjs.org:443
 * (level integration)", with the reason when it is not the level's list.
 * @seen holds a "JOB HOST" key for each line already printed.
 */
static void blocked_line(const struct nsh_event_rec *e, const json_t *d, const char *repo,
			 struct nsh_strvec *seen)
{
	const char *host = str(d, "host"), *reason = str(d, "reason"), *level = str(d, "level");
	char *key = nsh_xasprintf("%s %s", e->job_id ? e->job_id : "", host);
	bool listed = !strcmp(reason, "not in the allowlist");

	if (nsh_strvec_find(seen, key) >= 0 || seen->nr >= FOLLOW_BLOCKED_MAX) {
		free(key);
		return;
	}
	nsh_strvec_push(seen, key);
	free(key);
	printf("  🚫 %s%s", repo ? repo : "", repo ? ": " : "");
	if (*host)
		printf("blocked %s:%lld", host,
		       (long long)json_integer_value(json_object_get(d, "port")));
	else
		printf("blocked a request");
	printf(" (level %s%s%s)\n", level, listed ? "" : ": ", listed ? "" : reason);
}

/* Print one event for a person; quiet about bookkeeping events. */
static void render(const struct nsh_event_rec *e, const json_t *d, struct repo_cache *rc,
		   struct nsh_strvec *blocked, struct nsh_store *s)
{
	const char *repo = repo_of(rc, s, e->job_id);
	const char *msg = str(d, "message");
	char took[32];

	if (!strcmp(e->kind, "net.blocked")) {
		blocked_line(e, d, repo, blocked);
	} else if (!strcmp(e->kind, "task.state")) {
		task_state_line(d);
	} else if (!strcmp(e->kind, "task.created")) {
		printf("📝 Task %s: %s\n", e->task_id, str(d, "title"));
	} else if (!strcmp(e->kind, "job.state")) {
		const char *reason = str(d, "reason");

		printf("  • %s: %s%s%s\n", repo, str(d, "to"), *reason ? ": " : "", reason);
	} else if (!strcmp(e->kind, "job.step")) {
		json_int_t ms = json_integer_value(json_object_get(d, "elapsed_ms"));
		const char *summary = str(d, "summary");

		duration(ms, took);
		printf("  • %s: %s, %s%s%s\n", repo, str(d, "step"), took, *summary ? ": " : "",
		       summary);
	} else if (!strcmp(e->kind, "task.steer")) {
		printf("🧭 Steered: %s\n", str(d, "text"));
	} else if (!strcmp(e->kind, "task.answer")) {
		printf("💬 Answered: %s\n", str(d, "text"));
	} else if (!strcmp(e->kind, "pr.opened")) {
		printf("  🔗 %s: pull request #%lld opened\n", str(d, "repo"),
		       (long long)json_integer_value(json_object_get(d, "number")));
	} else if (*msg) {
		if (repo)
			printf("  • %s: %s\n", repo, msg);
		else
			printf("%s\n", msg);
	}
}

/* The live block on a terminal: the jobs' states and the lines drawn last. */
struct live {
	bool on; /* a terminal that takes cursor movement */
	struct nsh_progress jobs;
	size_t drawn; /* lines of the block on the screen now */
};

/* Whether stdout is a terminal the block may be drawn on (DESIGN.md section 6). */
static bool live_wanted(void)
{
	const char *term = getenv("TERM"), *no_color = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && term && *term && strcmp(term, "dumb") &&
	       !(no_color && *no_color);
}

/* Erase the block drawn last: the cursor goes back to its first line. */
static void live_erase(struct live *lv)
{
	if (lv->on && lv->drawn)
		printf("\r\033[%zuA\033[J", lv->drawn);
	lv->drawn = 0;
}

/* Draw the block below the cursor, sized to the terminal. */
static void live_draw(struct live *lv)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct winsize ws = {0};
	int width = 80, rows = 24;

	if (!lv->on)
		return;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
		width = ws.ws_col;
		rows = ws.ws_row;
	}
	/* leave a line for the cursor and one of the lines above */
	lv->drawn = nsh_progress_render(&lv->jobs, nsh_time_now_ms(), width,
					rows > 4 ? rows - 2 : 2, true, &b);
	fwrite(b.buf, 1, b.len, stdout);
	nsh_buf_release(&b);
}

/* Whether @e ended the task (completed counts: feedback may reopen it later). */
static bool ends_task(const struct nsh_event_rec *e, const json_t *d)
{
	enum nsh_task_state st;

	if (strcmp(e->kind, "task.state") || nsh_task_state_parse(str(d, "to"), &st, NULL))
		return false;
	return st == NSH_TASK_COMPLETED || nsh_task_state_final(st);
}

int nsh_cli_follow(struct nsh_store *s, const char *task_id, bool json, int *ret_code,
		   struct nsh_err *err)
{
	struct repo_cache rc = {NSH_STRVEC_INIT, NSH_STRVEC_INIT};
	struct nsh_strvec blocked = NSH_STRVEC_INIT;
	struct nsh_task_rec t = {0};
	struct live lv = {.on = !json && live_wanted(), .jobs = NSH_PROGRESS_INIT};
	enum nsh_task_state state;
	int64_t after = 0;
	bool ended = false, row_ended = false;
	int r;

	r = nsh_store_task_get(s, task_id, &t, err);
	if (r)
		return r;
	while (!ended) {
		struct nsh_event_list l = {0};
		size_t got;

		/* once the row says it ended, only what is already logged is left to print */
		r = nsh_event_wait(s, NULL, after, task_id, row_ended ? 0 : FOLLOW_WAIT_MS, 0, &l,
				   err);
		if (r) {
			nsh_event_list_release(&l);
			break;
		}
		/* the event lines go where the block was; it is drawn again below them */
		if (l.nr)
			live_erase(&lv);
		for (size_t i = 0; i < l.nr; i++) {
			const struct nsh_event_rec *e = &l.v[i];
			json_t *d = NULL;

			after = e->id;
			if (nsh_json_parse(e->data, strlen(e->data), &d, NULL))
				d = json_object();
			if (json) {
				json_t *o = nsh_event_to_json(e);
				char *line = json_dumps(o, JSON_COMPACT);

				printf("%s\n", line);
				free(line);
				json_decref(o);
			} else {
				render(e, d, &rc, &blocked, s);
				if (lv.on && e->job_id)
					nsh_progress_event(&lv.jobs, e->job_id,
							   repo_of(&rc, s, e->job_id), e->kind, d,
							   e->created_ms);
			}
			/* an end that a later state change undoes (feedback reopened it) is not one
			 */
			if (!strcmp(e->kind, "task.state"))
				ended = ends_task(e, d);
			json_decref(d);
		}
		got = l.nr;
		nsh_event_list_release(&l);
		/* after events, or a second without any: the elapsed times move on */
		live_erase(&lv);
		live_draw(&lv);
		fflush(stdout);
		if (ended || got)
			continue;
		if (row_ended) {
			ended = true; /* the log holds nothing more */
			continue;
		}
		/*
		 * a task that ended before the log we read: look at the row (an
		 * expired task ends the follow here only: an extend revives it)
		 */
		nsh_task_rec_release(&t);
		r = nsh_store_task_get(s, task_id, &t, err);
		if (r)
			break;
		row_ended = !nsh_task_state_parse(t.state, &state, NULL) &&
			    (state == NSH_TASK_COMPLETED || state == NSH_TASK_EXPIRED ||
			     nsh_task_state_final(state));
	}
	if (!r) {
		nsh_task_rec_release(&t);
		r = nsh_store_task_get(s, task_id, &t, err);
	}
	if (!r)
		*ret_code = !strcmp(t.state, "completed") ? NSH_EXIT_OK : NSH_EXIT_FAIL;
	nsh_task_rec_release(&t);
	nsh_progress_release(&lv.jobs);
	nsh_strvec_release(&rc.ids);
	nsh_strvec_release(&rc.repos);
	nsh_strvec_release(&blocked);
	return r;
}

static int follow_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	const char *id = NULL;
	bool json = false;
	int code = NSH_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return nsh_cli_usage(&nsh_cmd_follow, "unknown option '%s'", argv[i]);
		else if (!id)
			id = argv[i];
		else
			return nsh_cli_usage(&nsh_cmd_follow, "unexpected argument '%s'", argv[i]);
	}
	if (!id)
		return nsh_cli_usage(&nsh_cmd_follow, "missing TASK");
	if (nsh_cli_open_store(cli, &s, &err) || nsh_cli_follow(s, id, json, &code, &err))
		code = nsh_cli_fail(&err);
	nsh_store_close(s);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_follow = {
	.name = "follow",
	.usage = "follow TASK [--json]",
	.summary = "print a task's progress as it happens, until it ends",
	.help = "Prints the task's history, then each new event, and returns when the task\n"
		"ends: exit 0 when it completed, 1 when it failed, was cancelled or expired.\n"
		"A host a job's sandbox was refused (network level) is shown once per job.\n"
		"On a terminal a line per job stays below the events: its repository, a bar\n"
		"of the pipeline's steps done, the step running now and the time it took\n"
		"(not with NO_COLOR set, TERM=dumb, or when the output is not a terminal).\n"
		"Options:\n"
		"  --json  one JSON object per event and line\n",
	.run = follow_run,
};
