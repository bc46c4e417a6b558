/*
 * bench/agent: the cost of the llm brain's orchestration, through the real
 * scheduler, store, job host and HTTP client, against the scripted
 * provider (tests/agent/server.js, in its stateless "turn" mode).
 *
 *  1. With a zero-latency server: the orchestration time per agent step,
 *     which is the run's wall time minus the time waiting for the model
 *     (inside HTTP) and running tools, divided by the turns. It covers
 *     encoding and decoding, events, steering polls, budget syncs and the
 *     saved session. Target: at most 2 ms. Printed next to the HTTP round
 *     trip of the same turns (the baseline measured in the same run).
 *  2. With a one-second-latency server, 100 concurrent agent tasks: turns
 *     per second against the ideal (every task waiting only for the model)
 *     and the process's peak RSS. Target: at most 200 MB.
 *
 * Figures are printed, never asserted.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/llm.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/time.h"
#include "sched/sched.h"
#include "store/store.h"
#include "task/task.h"

#define TURNS_SOLO  40	/* turns of the zero-latency task */
#define SOLO_RUNS   5	/* zero-latency runs (the median is printed) */
#define TASKS	    100 /* concurrent tasks of the second part */
#define TURNS_CONC  10	/* turns of each of them */
#define TARGET_STEP 2.0 /* ms of orchestration per step */
#define TARGET_RSS  200 /* MB */

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/agent: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

/* What the runs measured, summed over every job (updated by job threads). */
static struct {
	atomic_llong turns;
	atomic_llong total_ns;
	atomic_llong model_ns;
	atomic_llong tool_ns;
	atomic_int done;
	atomic_int failed;
} m;

struct bench {
	struct nsh_llm_settings settings;
	const char *workspace;
	const char *sessions;
};

static int plan(struct nsh_task_run *tr, struct nsh_err *err)
{
	const struct nsh_task_rec *t = nsh_task_run_task(tr);
	struct nsh_job_list jobs = {0};
	char id[32], *repo;
	int rc;

	rc = nsh_store_job_list(nsh_task_run_store(tr), t->id, &jobs, err);
	if (rc || jobs.nr) {
		nsh_job_list_release(&jobs);
		return rc;
	}
	nsh_job_list_release(&jobs);
	repo = nsh_xasprintf("bench/%s", t->id);
	rc = nsh_job_create(nsh_task_run_store(tr), t->id, repo, 0, id, err);
	free(repo);
	return rc;
}

static int step_provision(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	(void)jr;
	(void)result;
	(void)err;
	return 0;
}

static int step_research(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct bench *b = nsh_job_run_ctx(jr);
	struct nsh_agent_job j;
	struct nsh_agent_result r;
	int rc;

	memset(&j, 0, sizeof(j));
	j.settings = &b->settings;
	j.jr = jr;
	j.workspace = b->workspace;
	j.session_dir = b->sessions;
	j.max_steps = 200;
	rc = nsh_agent_job_run_role(&j, NSH_AGENT_RESEARCH, &r, err);
	if (rc) {
		m.failed++;
		return rc;
	}
	m.turns += r.turns;
	m.total_ns += r.total_ns;
	m.model_ns += r.model_ns;
	m.tool_ns += r.tool_ns;
	if (r.outcome != NSH_AGENT_DONE)
		m.failed++;
	json_object_set_new(result, "agent", nsh_agent_result_to_json(&r));
	nsh_agent_result_release(&r);
	nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW, "bench");
	m.done++;
	return 0;
}

static const struct nsh_step steps[] = {
	{"provision", NSH_JOB_PROVISIONING, step_provision},
	{"research", NSH_JOB_RESEARCHING, step_research},
};

/* A scenario of @turns read-only turns, then finish; stateless, so any number of tasks share it. */
static void write_scenario(const char *path, int turns)
{
	static const char *const calls[] = {
		"{\"name\":\"read_file\",\"args\":{\"path\":\"src/app.js\"}}",
		"{\"name\":\"search\",\"args\":{\"pattern\":\"require\\\\(\"}}",
		"{\"name\":\"list_files\",\"args\":{\"depth\":3}}",
		"{\"name\":\"read_file\",\"args\":{\"path\":\"src/middleware/requestId.js\"}}",
	};
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	nsh_buf_adds(&b, "{\"name\":\"bench\",\"mode\":\"turn\",\"steps\":[");
	for (int i = 0; i < turns; i++)
		nsh_buf_addf(&b,
			     "{\"reply\":{\"text\":\"step %d\",\"tool_calls\":[%s],\"usage\":"
			     "{\"input\":%d,\"output\":40}}},",
			     i, calls[i % 4], 2000 + 300 * i);
	nsh_buf_adds(&b, "{\"reply\":{\"tool_calls\":[{\"name\":\"finish\",\"args\":{\"summary\":"
			 "\"done\"}}],\"usage\":{\"input\":100,\"output\":10}}}]}");
	if (nsh_fs_write_atomic(path, b.buf, b.len, 0644, &err))
		die("scenario", &err);
	nsh_buf_release(&b);
}

static pid_t start_server(const char *dir, const char *scenario, int latency_ms, int *ret_port)
{
	const char *top = getenv("NSH_TOP");
	char *script = nsh_xasprintf("%s/tests/agent/server.js", top ? top : ".");
	char *portfile = nsh_xasprintf("%s/port", dir);
	char latency[16];
	struct nsh_buf b = NSH_BUF_INIT;
	pid_t pid;

	unlink(portfile);
	snprintf(latency, sizeof(latency), "%d", latency_ms);
	pid = fork();
	if (pid == 0) {
		execlp("node", "node", script, "--scenario", scenario, "--port-file", portfile,
		       "--latency-ms", latency, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && nsh_fs_read_file(portfile, &b, 32, NULL); i++)
		nsh_time_sleep_ms(50);
	if (!b.len)
		die("the scripted server did not start (is node installed?)", NULL);
	*ret_port = atoi(b.buf);
	nsh_buf_release(&b);
	free(script);
	free(portfile);
	return pid;
}

static void stop_server(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* The workspace the agents read: a few files like a small service. */
static void make_workspace(const char *ws)
{
	struct nsh_buf p = NSH_BUF_INIT;
	static const char app[] =
		"'use strict';\nconst requestId = "
		"require('./middleware/requestId');\nconst { login } = "
		"require('./routes/login');\nmodule.exports = { requestId, login };\n";

	nsh_fs_join(&p, ws, "src/middleware");
	nsh_fs_mkdir_p(p.buf, 0755, NULL);
	nsh_buf_reset(&p);
	nsh_fs_join(&p, ws, "src/app.js");
	nsh_fs_write_atomic(p.buf, app, sizeof(app) - 1, 0644, NULL);
	nsh_buf_reset(&p);
	nsh_fs_join(&p, ws, "src/middleware/requestId.js");
	nsh_fs_write_atomic(p.buf, app, sizeof(app) - 1, 0644, NULL);
	nsh_buf_release(&p);
}

struct watch {
	struct nsh_sched *s;
	const char *db;
	int tasks;
};

/* Stop the scheduler once every task has ended. */
static void *watcher(void *arg)
{
	struct watch *w = arg;
	struct nsh_store *st;
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_store_open(w->db, &st, &err))
		die("watcher store", &err);
	for (;;) {
		struct nsh_task_list l = {0};
		int ended = 0;

		nsh_store_task_list(st, NULL, 0, &l, NULL);
		for (size_t i = 0; i < l.nr; i++) {
			enum nsh_task_state s;

			if (!nsh_task_state_parse(l.v[i].state, &s, NULL) &&
			    (s == NSH_TASK_COMPLETED || nsh_task_state_final(s)))
				ended++;
		}
		nsh_task_list_release(&l);
		if (ended >= w->tasks)
			break;
		nsh_time_sleep_ms(50);
	}
	nsh_sched_stop(w->s);
	nsh_store_close(st);
	return NULL;
}

/* Run @tasks tasks through a scheduler with @tasks job threads; wall time in ns. */
static int64_t run_tasks(const char *home, struct bench *b, int tasks)
{
	char *db = nsh_xasprintf("%s/nightshift.db", home);
	struct nsh_pipeline p = {.plan = plan, .steps = steps, .nsteps = 2, .ctx = b};
	struct nsh_sched_config sc = {
		.db_path = db, .max_sandboxes = tasks, .pipeline = &p, .label = "bench"};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st;
	struct nsh_sched *s;
	struct watch w;
	pthread_t t;
	int64_t t0;

	if (nsh_store_open(db, &st, &err))
		die("store", &err);
	for (int i = 0; i < tasks; i++) {
		struct nsh_task_new tn = {"Research the login service", NULL, "none", NULL, 0};
		char id[32];

		if (nsh_task_create(st, &tn, id, &err))
			die("task", &err);
	}
	if (nsh_sched_new(&sc, &s, &err))
		die("scheduler", &err);
	w = (struct watch){s, db, tasks};
	t0 = nsh_time_mono_ns();
	pthread_create(&t, NULL, watcher, &w);
	if (nsh_sched_run(s, &err))
		die("run", &err);
	pthread_join(t, NULL);
	t0 = nsh_time_mono_ns() - t0;
	nsh_sched_free(s);
	nsh_store_close(st);
	free(db);
	return t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void reset_measures(void)
{
	m.turns = m.total_ns = m.model_ns = m.tool_ns = 0;
	m.done = m.failed = 0;
}

int main(void)
{
	char *dir = nsh_xstrdup("/tmp/nsh-bench-agent-XXXXXX");
	char *home2, *ws, *scen1, *scen2, *sessions, *url;
	struct bench b;
	struct nsh_err err = NSH_ERR_INIT;
	struct rusage ru;
	int64_t wall;
	double orch_ms, http_ms, ideal, got, orch[SOLO_RUNS], http[SOLO_RUNS], tools[SOLO_RUNS];
	int port;
	pid_t srv;

	signal(SIGPIPE, SIG_IGN);
	g_nsh_log_level = NSH_LOG_ERROR;
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	home2 = nsh_xasprintf("%s/home2", dir);
	ws = nsh_xasprintf("%s/ws", dir);
	scen1 = nsh_xasprintf("%s/solo.json", dir);
	scen2 = nsh_xasprintf("%s/conc.json", dir);
	sessions = nsh_xasprintf("%s/sessions", dir);
	nsh_fs_mkdir_p(home2, 0700, NULL);
	make_workspace(ws);
	write_scenario(scen1, TURNS_SOLO);
	write_scenario(scen2, TURNS_CONC);

	memset(&b, 0, sizeof(b));
	nsh_llm_settings_init(&b.settings);
	b.settings.model = nsh_xstrdup("bench-model");
	b.settings.key = nsh_xstrdup("sk-bench");
	b.settings.budget_tokens = 0;
	b.settings.price.input = 3;
	b.settings.price.output = 15;
	b.workspace = ws;
	b.sessions = sessions;

	/* 1. zero latency: orchestration per step, the median of a few runs */
	srv = start_server(dir, scen1, 0, &port);
	url = nsh_xasprintf("http://127.0.0.1:%d/v1", port);
	b.settings.url = url;
	for (int i = 0; i < SOLO_RUNS; i++) {
		char *home = nsh_xasprintf("%s/solo%d", dir, i);

		nsh_fs_mkdir_p(home, 0700, NULL);
		reset_measures();
		wall = run_tasks(home, &b, 1);
		free(home);
		if (m.failed || !m.turns)
			die("the zero-latency task did not finish", NULL);
		orch[i] = (double)(m.total_ns - m.model_ns - m.tool_ns) / (double)m.turns / 1e6;
		http[i] = (double)m.model_ns / (double)m.turns / 1e6;
		tools[i] = (double)m.tool_ns / (double)m.turns / 1e6;
	}
	stop_server(srv);
	qsort(orch, SOLO_RUNS, sizeof(double), cmp_double);
	qsort(http, SOLO_RUNS, sizeof(double), cmp_double);
	qsort(tools, SOLO_RUNS, sizeof(double), cmp_double);
	orch_ms = orch[SOLO_RUNS / 2];
	http_ms = http[SOLO_RUNS / 2];
	printf("zero-latency server, %d runs of 1 task with %lld turns (medians; %.3f to %.3f ms "
	       "orchestration):\n",
	       SOLO_RUNS, (long long)m.turns, orch[0], orch[SOLO_RUNS - 1]);
	printf("  orchestration per step  %7.3f ms  (target <= %.1f ms: %s)\n", orch_ms,
	       TARGET_STEP, orch_ms <= TARGET_STEP ? "met" : "MISSED");
	printf("  model (HTTP) per step   %7.3f ms  baseline: orchestration is %.2fx the round "
	       "trip\n",
	       http_ms, orch_ms / http_ms);
	printf("  tools per step          %7.3f ms  (excluded)\n", tools[SOLO_RUNS / 2]);

	/* 2. one second of latency, 100 tasks at once */
	srv = start_server(dir, scen2, 1000, &port);
	free(url);
	url = nsh_xasprintf("http://127.0.0.1:%d/v1", port);
	b.settings.url = url;
	reset_measures();
	wall = run_tasks(home2, &b, TASKS);
	stop_server(srv);
	getrusage(RUSAGE_SELF, &ru);
	ideal = (double)TASKS; /* turns/s if every task only waited for the model */
	got = (double)m.turns / ((double)wall / 1e9);
	printf("1 s latency server, %d concurrent tasks, %d turns each:\n", TASKS, TURNS_CONC + 1);
	printf("  done %d, failed %d, wall %.1f s\n", (int)m.done, (int)m.failed,
	       (double)wall / 1e9);
	printf("  throughput              %7.1f turns/s  (ideal %.1f: %.0f%%)\n", got, ideal,
	       100 * got / ideal);
	printf("  peak RSS                %7.1f MB  (target <= %d MB: %s)\n",
	       (double)ru.ru_maxrss / 1024, TARGET_RSS,
	       ru.ru_maxrss / 1024 <= TARGET_RSS ? "met" : "MISSED");

	nsh_fs_remove_tree(dir, &err);
	b.settings.url = NULL;
	nsh_llm_settings_release(&b.settings);
	free(url);
	free(home2);
	free(ws);
	free(scen1);
	free(scen2);
	free(sessions);
	free(dir);
	return 0;
}
