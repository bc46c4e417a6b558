/*
 * "nightshift agent run": the llm brain on one local workspace, without a
 * forge. It creates a task in the store and drives it with the real
 * scheduler (so pause, steer, answer and cancel work from another shell,
 * and a killed run resumes), through research, code and verify (verify
 * sending findings back to code up to three rounds), or through one role.
 * The changes stay in the workspace; the pull request text the orchestrator
 * would open is printed.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/llm.h"
#include "config/config.h"
#include "config/limits.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "sandbox/sandbox.h"
#include "sched/sched.h"
#include "store/store.h"
#include "task/task.h"
#include "verify/verify.h"

#include "core/banned.h"

#define RUN_USAGE                                                                       \
 "agent run [--role research|code|verify] [--workspace DIR] [--check CMD] [--org ORG] " \
 "[--max-steps N] [--rounds N] [--no-sandbox] [--json] TASK"

static const struct nsh_cli_cmd cmd_run = {.name = "agent", .usage = RUN_USAGE};

#define CHECK_TIMEOUT_MS (30 * 60 * 1000)
#define CHECK_OUT_MAX	 (4u << 20)

/* The run, shared by the pipeline's callbacks (read-only once the scheduler runs). */
struct harness {
	struct nsh_cli *cli;
	struct nsh_llm_settings settings;
	char *workspace;    /* absolute */
	const char *check;  /* the deterministic check command, or NULL */
	char *org_steering; /* the organisation's steering text, or NULL */
	int only;	    /* one role (enum nsh_agent_role), or -1 for all */
	int max_steps;	    /* per role, 0: the default */
	int rounds;	    /* verify -> code rounds */
	bool sandbox;	    /* commands in a sandbox (else host processes) */
};

/* What one job keeps between its steps (nsh_job_run_data()). */
struct job_data {
	struct nsh_sandbox *sb; /* created by the first step that needs it */
	char *state;		/* its state directory */
};

static int plan(struct nsh_task_run *tr, struct nsh_err *err)
{
	struct harness *h = nsh_task_run_ctx(tr);
	const struct nsh_task_rec *t = nsh_task_run_task(tr);
	struct nsh_store *st = nsh_task_run_store(tr);
	struct nsh_job_list jobs = {0};
	const char *base = strrchr(h->workspace, '/');
	char id[32], *repo;
	int rc;

	/* an answer runs plan again: the job exists already */
	rc = nsh_store_job_list(st, t->id, &jobs, err);
	if (rc || jobs.nr) {
		nsh_job_list_release(&jobs);
		return rc;
	}
	nsh_job_list_release(&jobs);
	repo = nsh_xasprintf("local/%s", base && base[1] ? base + 1 : "workspace");
	rc = nsh_job_create(st, t->id, repo, 0, id, err);
	free(repo);
	return rc;
}

static struct job_data *data_of(struct nsh_job_run *jr)
{
	void **p = nsh_job_run_data(jr);

	if (!*p)
		*p = nsh_xcalloc(1, sizeof(struct job_data));
	return *p;
}

static int ensure_sandbox(struct nsh_job_run *jr, struct nsh_err *err)
{
	struct harness *h = nsh_job_run_ctx(jr);
	struct job_data *d = data_of(jr);
	struct nsh_sandbox_policy pol = {.network = NSH_NET_NONE};
	char *work;
	int rc;

	if (!h->sandbox || d->sb)
		return 0;
	work = nsh_xasprintf("%s/work", h->cli->home);
	rc = nsh_fs_mkdir_p(work, 0700, err);
	if (!rc) {
		free(d->state);
		d->state = nsh_xasprintf("%s/%s", work, nsh_job_run_job(jr)->id);
		rc = nsh_fs_mkdir_p(d->state, 0700, err);
	}
	free(work);
	if (rc)
		return rc;
	pol.workspace = h->workspace;
	pol.state_dir = d->state;
	pol.hide = h->cli->home;
	rc = nsh_sandbox_create(&pol, &d->sb, err);
	if (rc)
		return nsh_err_wrap(err, "cannot create the job's sandbox (use --no-sandbox on "
					 "hosts without one)");
	nsh_job_run_set_sandbox(jr, d->sb);
	return 0;
}

static void job_end(struct nsh_job_run *jr)
{
	struct job_data *d = *nsh_job_run_data(jr);

	if (!d)
		return;
	nsh_job_run_set_sandbox(jr, NULL);
	nsh_sandbox_destroy(d->sb, NULL);
	if (d->state)
		nsh_fs_remove_tree(d->state, NULL);
	free(d->state);
	free(d);
	*nsh_job_run_data(jr) = NULL;
}

static int step_provision(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct harness *h = nsh_job_run_ctx(jr);
	int rc = ensure_sandbox(jr, err);

	if (!rc)
		json_object_set_new(result, "sandbox", json_boolean(h->sandbox));
	return rc;
}

/* The deterministic check: --check CMD in the job's sandbox, TAP output parsed for failures. */
static int run_check(void *ctx, json_t **ret, struct nsh_err *err)
{
	struct nsh_job_run *jr = ctx;
	struct harness *h = nsh_job_run_ctx(jr);
	struct job_data *d = data_of(jr);
	struct nsh_agent_exec x;
	struct nsh_test_report rep;
	const char *argv[] = {"sh", "-c", h->check, NULL};
	json_t *o, *failures;
	int rc;

	nsh_agent_exec_init(&x);
	rc = d->sb ? nsh_agent_exec_sandbox(d->sb, argv, NULL, NULL, CHECK_TIMEOUT_MS,
					    CHECK_OUT_MAX, &x, err)
		   : nsh_agent_exec_local(h->workspace, argv, NULL, CHECK_TIMEOUT_MS, CHECK_OUT_MAX,
					  &x, err);
	if (rc) {
		nsh_agent_exec_release(&x);
		return rc;
	}
	memset(&rep, 0, sizeof(rep));
	nsh_verify_parse_tap(x.out.buf, x.out.len, &rep);
	failures = json_array();
	for (size_t i = 0; i < rep.nr; i++) {
		const struct nsh_test_result *t = &rep.v[i];
		json_t *f;

		if (t->status != NSH_TEST_FAIL)
			continue;
		f = json_pack("{s:s, s:s}", "name", t->name, "message",
			      t->message ? t->message : "failed");
		if (t->file)
			json_object_set_new(f, "file", json_string(t->file));
		if (t->line)
			json_object_set_new(f, "line", json_integer(t->line));
		json_array_append_new(failures, f);
	}
	o = json_pack("{s:b, s:s, s:i, s:I, s:I, s:o}", "passed", x.exit_code == 0 && !x.timed_out,
		      "command", h->check, "exit_code", x.exit_code, "tests_passed",
		      (json_int_t)rep.passed, "tests_failed", (json_int_t)rep.failed, "failures",
		      failures);
	if (x.exit_code && !json_array_size(failures)) {
		/* no TAP: the end of the output says what failed */
		size_t n = x.err.len ? x.err.len : x.out.len;
		const char *s = x.err.len ? x.err.buf : x.out.buf;

		json_object_set_new(
			o, "output_tail",
			nsh_json_string_lossy(n > 2000 ? s + n - 2000 : s, n > 2000 ? 2000 : n));
	}
	nsh_test_report_release(&rep);
	nsh_agent_exec_release(&x);
	*ret = o;
	return 0;
}

/* Findings of the newest verify result, as text for the code agent (caller frees), or NULL. */
static char *findings_text(struct nsh_job_run *jr)
{
	int64_t attempt = nsh_job_run_attempt(jr);
	json_t *r = attempt > 0 ? nsh_job_run_result(jr, attempt - 1, "verify") : NULL;
	json_t *f = json_object_get(json_object_get(r, "agent"), "findings"), *x;
	struct nsh_buf b = NSH_BUF_INIT;
	size_t i;

	json_array_foreach(f, i, x)
	{
		const char *file = json_string_value(json_object_get(x, "file"));
		json_int_t line = json_integer_value(json_object_get(x, "line"));
		const char *msg = json_string_value(json_object_get(x, "message"));

		nsh_buf_adds(&b, "- ");
		if (file)
			nsh_buf_addf(&b, line ? "%s:%lld: " : "%s: ", file, (long long)line);
		nsh_buf_addf(&b, "%s\n", msg ? msg : "");
	}
	json_decref(r);
	return b.len ? nsh_buf_detach(&b, NULL) : NULL;
}

static int run_role(struct nsh_job_run *jr, enum nsh_agent_role role, json_t *result,
		    struct nsh_agent_result *res, struct nsh_err *err)
{
	struct harness *h = nsh_job_run_ctx(jr);
	struct job_data *d;
	struct nsh_agent_job j;
	char *findings = NULL, *sessions;
	int rc;

	rc = ensure_sandbox(jr, err);
	if (rc)
		return rc;
	d = data_of(jr);
	if (role == NSH_AGENT_CODE)
		findings = findings_text(jr);
	sessions = nsh_xasprintf("%s/sessions", h->cli->home);
	memset(&j, 0, sizeof(j));
	j.settings = &h->settings;
	j.jr = jr;
	j.sb = d->sb;
	j.workspace = h->workspace;
	j.session_dir = sessions;
	j.org_steering = h->org_steering;
	j.findings = findings;
	j.max_steps = h->max_steps;
	if (role == NSH_AGENT_VERIFY && h->check) {
		j.verify = run_check;
		j.ctx = jr;
	}
	rc = nsh_agent_job_run_role(&j, role, res, err);
	free(findings);
	free(sessions);
	if (rc)
		return rc;
	json_object_set_new(result, "agent", nsh_agent_result_to_json(res));
	json_object_set_new(
		result, "summary",
		json_string(res->summary ? res->summary : nsh_agent_outcome_name(res->outcome)));
	if (res->outcome == NSH_AGENT_STOPPED)
		return nsh_err_set(err, NSH_ECONFLICT, "stopped");
	return 0;
}

/* End the job for a role that could not finish its part. */
static bool ended_early(struct nsh_job_run *jr, const struct nsh_agent_result *r, const char *role)
{
	char *why;

	if (r->outcome == NSH_AGENT_DONE)
		return false;
	why = nsh_xasprintf("the %s agent ended: %s: %s", role, nsh_agent_outcome_name(r->outcome),
			    r->summary ? r->summary : "");
	nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, why);
	free(why);
	return true;
}

static int step_research(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct harness *h = nsh_job_run_ctx(jr);
	struct nsh_agent_result r;
	int rc;

	if (h->only >= 0 && h->only != NSH_AGENT_RESEARCH) {
		json_object_set_new(result, "skipped", json_true());
		return 0;
	}
	rc = run_role(jr, NSH_AGENT_RESEARCH, result, &r, err);
	if (!rc && !ended_early(jr, &r, "research") && h->only == NSH_AGENT_RESEARCH)
		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, "research done (one role run)");
	nsh_agent_result_release(&r);
	return rc;
}

static int step_code(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct harness *h = nsh_job_run_ctx(jr);
	struct nsh_agent_result r;
	int rc;

	if (h->only >= 0 && h->only != NSH_AGENT_CODE) {
		json_object_set_new(result, "skipped", json_true());
		return 0;
	}
	rc = run_role(jr, NSH_AGENT_CODE, result, &r, err);
	if (!rc && !ended_early(jr, &r, "code") && h->only == NSH_AGENT_CODE)
		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, "code done (one role run)");
	nsh_agent_result_release(&r);
	return rc;
}

static int step_verify(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct harness *h = nsh_job_run_ctx(jr);
	struct nsh_agent_result r;
	char *why;
	int rc;

	rc = run_role(jr, NSH_AGENT_VERIFY, result, &r, err);
	if (rc || ended_early(jr, &r, "verify"))
		goto out;
	json_object_set_new(result, "passed", json_boolean(r.passed));
	if (r.passed) {
		why = nsh_xasprintf("verified; the change is in '%s' ('agent run' opens no pull "
				    "request)",
				    h->workspace);
		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, why);
		free(why);
	} else if (h->only < 0 && nsh_job_run_attempt(jr) + 1 < h->rounds) {
		nsh_job_run_goto(jr, "code", true); /* findings back to the code agent */
	} else {
		why = nsh_xasprintf("verification did not pass%s: %s",
				    h->only < 0 ? " within the rounds allowed" : "",
				    r.summary ? r.summary : "");
		nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, why);
		free(why);
	}
out:
	nsh_agent_result_release(&r);
	return rc;
}

static const struct nsh_step steps[] = {
	{"provision", NSH_JOB_PROVISIONING, step_provision},
	{"research", NSH_JOB_RESEARCHING, step_research},
	{"code", NSH_JOB_CODING, step_code},
	{"verify", NSH_JOB_VERIFYING, step_verify},
};

/* ---- running and reporting ---- */

struct sigwatch {
	struct nsh_sched *s;
	sigset_t set;
};

static void *watch_signals(void *arg)
{
	struct sigwatch *w = arg;
	int sig = 0;

	if (!sigwait(&w->set, &sig) && sig != SIGUSR2)
		nsh_sched_stop(w->s);
	return NULL;
}

/* The newest result of each role and the totals, from the recorded steps. */
static json_t *collect(struct nsh_store *st, const char *task_id, const char *job_id,
		       json_t **ret_task)
{
	struct nsh_step_list l = {0};
	json_t *results = json_object();
	json_int_t tokens = 0;
	double cost = 0;

	nsh_store_step_list(st, task_id, job_id, &l, NULL);
	for (size_t i = 0; i < l.nr; i++) {
		json_t *r = NULL, *a;

		if (nsh_json_parse(l.v[i].result, strlen(l.v[i].result), &r, NULL))
			continue;
		a = json_object_get(r, "agent");
		if (a) {
			tokens += json_integer_value(
				json_object_get(json_object_get(a, "usage"), "total"));
			cost += json_number_value(json_object_get(a, "cost"));
			json_object_set(results, l.v[i].name, a);
		}
		json_decref(r);
	}
	nsh_step_list_release(&l);
	*ret_task = json_pack("{s:I, s:f}", "tokens", tokens, "cost", cost);
	return results;
}

/* The reason of the job's newest state change (caller frees), or NULL. */
static char *job_reason(struct nsh_store *st, const char *task_id, const char *job_id)
{
	struct nsh_event_list l = {0};
	char *reason = NULL;

	if (nsh_store_events_after(st, 0, task_id, 0, &l, NULL))
		return NULL;
	for (size_t i = 0; i < l.nr; i++) {
		json_t *d = NULL;

		if (strcmp(l.v[i].kind, "job.state") || !l.v[i].job_id ||
		    strcmp(l.v[i].job_id, job_id) ||
		    nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, NULL))
			continue;
		free(reason);
		reason = json_is_string(json_object_get(d, "reason"))
				 ? nsh_xstrdup(json_string_value(json_object_get(d, "reason")))
				 : NULL;
		json_decref(d);
	}
	nsh_event_list_release(&l);
	return reason;
}

/* Whether the run did what was asked: verified, or its one role done. */
static bool succeeded(const struct harness *h, const json_t *results)
{
	const json_t *r;

	if (h->only < 0)
		return json_is_true(json_object_get(json_object_get(results, "verify"), "passed"));
	r = json_object_get(results, nsh_agent_role_name((enum nsh_agent_role)h->only));
	return r && !strcmp(json_string_value(json_object_get(r, "outcome")), "done");
}

static int report(const struct harness *h, struct nsh_store *st, const char *task_id, bool json,
		  bool *ret_ok, struct nsh_err *err)
{
	struct nsh_task_rec t = {0};
	struct nsh_job_list jobs = {0};
	struct nsh_buf pr = NSH_BUF_INIT;
	json_t *results = NULL, *task = NULL;
	char *reason = NULL;
	int rc;

	rc = nsh_store_task_get(st, task_id, &t, err);
	if (!rc)
		rc = nsh_store_job_list(st, task_id, &jobs, err);
	if (rc)
		goto out;
	if (jobs.nr)
		results = collect(st, task_id, jobs.v[0].id, &task);
	else
		results = json_object(), task = json_pack("{s:i, s:f}", "tokens", 0, "cost", 0.0);
	nsh_agent_pr_section(results, task, &pr);
	*ret_ok = succeeded(h, results);
	if (jobs.nr)
		reason = job_reason(st, task_id, jobs.v[0].id);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:o, s:O, s:O, s:s, s:b}", "task", t.id, "state",
				      t.state, "job",
				      jobs.nr ? nsh_job_to_json(&jobs.v[0]) : json_null(), "agents",
				      results, "usage", task, "pr_body", pr.buf, "ok", *ret_ok);

		json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());

		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		printf("task %s: %s\n", t.id, t.state);
		if (jobs.nr)
			printf("job %s (%s): %s%s%s\n", jobs.v[0].id, jobs.v[0].repo,
			       jobs.v[0].state, reason ? ": " : "", reason ? reason : "");
		printf("\n%s", pr.buf);
	}
out:
	free(reason);
	json_decref(results);
	json_decref(task);
	nsh_buf_release(&pr);
	nsh_job_list_release(&jobs);
	nsh_task_rec_release(&t);
	return rc;
}

static int agent_run_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"role", required_argument, NULL, 'r'},
		{"workspace", required_argument, NULL, 'w'},
		{"check", required_argument, NULL, 'c'},
		{"org", required_argument, NULL, 'o'},
		{"max-steps", required_argument, NULL, 'm'},
		{"rounds", required_argument, NULL, 'n'},
		{"no-sandbox", no_argument, NULL, 'S'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct harness h = {.cli = cli, .only = -1, .rounds = 3, .sandbox = true};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	struct nsh_sched *s = NULL;
	struct nsh_task_new tn = {0};
	struct nsh_pipeline p = {.plan = plan,
				 .steps = steps,
				 .nsteps = sizeof(steps) / sizeof(steps[0]),
				 .job_end = job_end};
	struct nsh_sched_config sc = {0};
	struct nsh_limits lim;
	struct sigwatch w;
	pthread_t watcher;
	bool json = false, watching = false, ok = false;
	const char *ws = ".", *org = NULL;
	char id[32], *spec = NULL;
	int c, code = NSH_EXIT_FAIL;

	optind = 1;
	opterr = 0;
	nsh_llm_settings_init(&h.settings);
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		enum nsh_agent_role role;
		char *end;

		switch (c) {
		case 'r':
			if (nsh_agent_role_parse(optarg, &role, &err)) {
				code = nsh_cli_usage(&cmd_run, "%s", err.msg);
				goto out;
			}
			h.only = (int)role;
			break;
		case 'w':
			ws = optarg;
			break;
		case 'c':
			h.check = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 'm':
		case 'n': {
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 1000) {
				code = nsh_cli_usage(&cmd_run, "invalid number '%s'", optarg);
				goto out;
			}
			if (c == 'm')
				h.max_steps = (int)v;
			else
				h.rounds = (int)v;
		} break;
		case 'S':
			h.sandbox = false;
			break;
		case 'j':
			json = true;
			break;
		case ':':
			code = nsh_cli_usage(&cmd_run, "option '%s' needs a value",
					     argv[optind - 1]);
			goto out;
		default:
			code = nsh_cli_usage(&cmd_run, "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc || !*argv[optind]) {
		code = nsh_cli_usage(&cmd_run, "missing TASK");
		goto out;
	}
	if (optind + 1 < argc) {
		code = nsh_cli_usage(&cmd_run, "unexpected argument '%s' (quote the task text)",
				     argv[optind + 1]);
		goto out;
	}
	h.workspace = realpath(ws, NULL);
	if (!h.workspace || !nsh_fs_is_dir(h.workspace)) {
		nsh_err_set(&err, NSH_ENOTFOUND, "no workspace directory '%s'", ws);
		code = nsh_cli_fail(&err);
		goto out;
	}
	nsh_llm_settings_release(&h.settings);
	if (nsh_llm_settings_load(cli->config, &h.settings, &err) ||
	    nsh_limits_load(cli->config, &lim, &err) || nsh_cli_open_store(cli, &st, &err))
		goto fail;
	if (org)
		h.org_steering = nsh_agent_load_org_steering(cli->home, org);
	tn.title = argv[optind];
	tn.org = org;
	tn.network = "none";
	if (nsh_task_create(st, &tn, id, &err) ||
	    nsh_store_task_set_brain(st, id, "llm", NULL, &err))
		goto fail;
	spec = nsh_xasprintf("# Task\n\n%s\n", argv[optind]);
	if (nsh_store_spec_add(st, id, spec, NULL, &err))
		goto fail;
	fprintf(stderr, "task %s\n", id);
	fflush(stderr);

	p.ctx = &h;
	sc.db_path = nsh_store_path(st);
	sc.max_sandboxes = 1;
	sc.only_task = id;
	sc.pipeline = &p;
	sc.label = "agent";
	sc.limits = &lim; /* the plan's token and cost budgets */
	if (nsh_sched_new(&sc, &s, &err))
		goto fail;
	/* Ctrl-C stops the scheduler cleanly; the task stays resumable */
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGINT);
	sigaddset(&w.set, SIGTERM);
	sigaddset(&w.set, SIGUSR2);
	w.s = s;
	pthread_sigmask(SIG_BLOCK, &w.set, NULL);
	watching = !pthread_create(&watcher, NULL, watch_signals, &w);
	if (nsh_sched_run(s, &err))
		goto fail;
	if (report(&h, st, id, json, &ok, &err))
		goto fail;
	code = ok ? NSH_EXIT_OK : NSH_EXIT_FAIL;
	goto out;
fail:
	code = nsh_cli_fail(&err);
out:
	if (watching) {
		pthread_kill(watcher, SIGUSR2);
		pthread_join(watcher, NULL);
	}
	nsh_sched_free(s);
	nsh_store_close(st);
	nsh_llm_settings_release(&h.settings);
	free(h.workspace);
	free(h.org_steering);
	free(spec);
	return code;
}

static int agent_cmd_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_agent, "missing 'run'");
	if (!strcmp(argv[1], "run"))
		return agent_run_run(cli, argc - 1, argv + 1);
	return nsh_cli_usage(&nsh_cmd_agent, "unknown subcommand '%s'", argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_agent = {
	.name = "agent",
	.usage = RUN_USAGE,
	.summary = "run the llm agents (research, code, verify) on a local workspace",
	.help = "Runs the language-model agents on one workspace directory, driven by the\n"
		"scheduler like any task: 'nightshift steer|answer|pause|cancel TASK' work\n"
		"from another shell. Without --role: research, then code, then verify, with\n"
		"verification findings sent back to code up to --rounds times (3). --check CMD\n"
		"is the deterministic check the verify agent starts from (TAP output is\n"
		"parsed). Commands run in a sandbox unless --no-sandbox. The provider comes\n"
		"from NIGHTSHIFT_LLM_API, _URL, _MODEL and _KEY (see docs/agents.md).\n"
		"Exit 0 when verified (or the one role finished), 1 otherwise.",
	.run = agent_cmd_run,
};
