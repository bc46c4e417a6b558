/*
 * "nightshift run TEXT": create a task and drive it. Without --detach the
 * task runs in this process (a scheduler on its own threads) while this
 * thread renders its event log, until it ends; with --detach it is left to
 * the daemon, which is started in the background when none runs.
 * "--resume TASK" drives an existing task again (after a crash).
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/limits.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "core/vec.h"
#include "forge/forge.h"
#include "net/net.h"
#include "orch/orch.h"
#include "recipe/recipe.h"
#include "sched/sched.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

static struct nsh_sched *running; /* for the signal handler */

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		nsh_sched_stop(running);
}

struct sched_thread {
	struct nsh_sched *s;
	struct nsh_err err;
	int rc;
	volatile int done;
};

static void *sched_main(void *arg)
{
	struct sched_thread *t = arg;

	t->rc = nsh_sched_run(t->s, &t->err);
	t->done = 1;
	return NULL;
}

/* Start "nightshift serve" in the background, its output in $HOME/serve.log. */
static int start_daemon(struct nsh_cli *cli, struct nsh_err *err)
{
	char *log = nsh_xasprintf("%s/serve.log", cli->home);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;

	if (n <= 0) {
		free(log);
		return nsh_err_sys(err, errno, "cannot find this program");
	}
	self[n] = '\0';
	pid = fork();
	if (pid < 0) {
		free(log);
		return nsh_err_sys(err, errno, "cannot start the daemon");
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		setsid();
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (null >= 0)
			dup2(null, 0);
		execl(self, self, "--home", cli->home, "serve", (char *)NULL);
		_exit(127);
	}
	free(log);
	return 0;
}

/* Drive a task here until it ends; see cli.h. */
int nsh_cli_drive(struct nsh_cli *cli, struct nsh_store *s, const char *id, int max_sandboxes,
		  bool json)
{
	struct sched_thread st = {.err = NSH_ERR_INIT};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_orch *o = NULL;
	struct sigaction sa = {0}, old_int, old_term;
	struct nsh_sched_config cfg = {0};
	struct nsh_limits lim;
	char *db = nsh_store_target(cli->home, getenv("NIGHTSHIFT_DB"), cli->config);
	pthread_t th;
	int code = NSH_EXIT_FAIL;

	if (nsh_limits_load(cli->config, &lim, &err) ||
	    nsh_orch_new(cli->home, cli->config, &o, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	cfg.db_path = db;
	cfg.max_sandboxes = max_sandboxes;
	cfg.only_task = id;
	cfg.pipeline = nsh_orch_pipeline(o);
	cfg.label = "run";
	cfg.limits = &lim;
	if (nsh_sched_new(&cfg, &st.s, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	running = st.s;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (pthread_create(&th, NULL, sched_main, &st)) {
		code = nsh_cli_fail(&(struct nsh_err){NSH_EIO, "cannot start the scheduler"});
		goto out;
	}
	if (nsh_cli_follow(s, id, json, &code, &err))
		code = nsh_cli_fail(&err);
	else if (!json)
		nsh_cli_task_summary(s, id);
	{
		/* expired: running jobs finish their step and checkpoint; the scheduler returns */
		struct nsh_task_rec t = {0};

		if (nsh_store_task_get(s, id, &t, NULL) || strcmp(t.state, "expired"))
			nsh_sched_stop(st.s);
		nsh_task_rec_release(&t);
	}
	pthread_join(th, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	running = NULL;
	if (st.rc)
		code = nsh_cli_fail(&st.err);
out:
	nsh_sched_free(st.s);
	nsh_orch_free(o);
	free(db);
	return code;
}

/* A string from step @name of job @j's last attempt, copied, or "-". */
static char *step_field(struct nsh_store *s, const struct nsh_job_rec *j, const char *name,
			bool first_attempt, const char *path)
{
	char *text = NULL, *out = NULL;
	json_t *v = NULL, *x;

	if (!nsh_store_step_get(s, j->task_id, j->id, first_attempt ? 0 : j->attempt, name, &text,
				NULL) &&
	    !nsh_json_parse(text, strlen(text), &v, NULL)) {
		x = json_object_get(v, path);
		if (json_is_string(x))
			out = nsh_xstrdup(json_string_value(x));
		else if (json_is_integer(x))
			out = nsh_xasprintf("%lld", (long long)json_integer_value(x));
	}
	json_decref(v);
	free(text);
	return out ? out : nsh_xstrdup("-");
}

/* The risk of @repo ("org/name") from the task's analysis, or -1. */
static long risk_of(const json_t *analysis, const char *repo)
{
	const char *name = strchr(repo, '/') ? strchr(repo, '/') + 1 : repo;
	const json_t *r;
	size_t i;

	json_array_foreach(json_object_get(analysis, "plan"), i, r)
	{
		const char *n = json_string_value(json_object_get(r, "repo"));

		if (n && !strcmp(n, name))
			return (long)json_integer_value(
				json_object_get(json_object_get(r, "risk"), "score"));
	}
	return -1;
}

void nsh_cli_task_summary(struct nsh_store *s, const char *task_id)
{
	struct nsh_job_list jobs = {0};
	json_t *analysis = NULL;
	char *text = NULL;

	if (nsh_store_job_list(s, task_id, &jobs, NULL) || !jobs.nr)
		goto out;
	if (!nsh_store_step_get(s, task_id, NULL, 0, "analysis", &text, NULL))
		nsh_json_parse(text, strlen(text), &analysis, NULL);
	printf("\n%-24s %4s  %-8s %-22s %-22s %-6s %s\n", "REPOSITORY", "RISK", "CHANGES",
	       "TESTS BEFORE", "TESTS AFTER", "PR", "STATE");
	for (size_t i = 0; i < jobs.nr; i++) {
		const struct nsh_job_rec *j = &jobs.v[i];
		char *changes = step_field(s, j, "change", false, "summary");
		char *before = step_field(s, j, "baseline", true, "summary");
		char *after = step_field(s, j, "verify", false, "summary");
		char *pr = step_field(s, j, "pr", false, "number");
		char *sp;

		/* "4 changes in 3 files, ..." -> "4" */
		if ((sp = strchr(changes, ' ')) && strstr(changes, "changes in"))
			*sp = '\0';
		if ((sp = strchr(after, ';')))
			*sp = '\0';
		if (strlen(after) > 22)
			memcpy(after + 19, "...", 4);
		if (strlen(before) > 22)
			memcpy(before + 19, "...", 4);
		printf("%-24s %4ld  %-8.8s %-22s %-22s %-6s %s\n", j->repo,
		       risk_of(analysis, j->repo), changes, before, after,
		       strcmp(pr, "-") ? pr : "-", j->state);
		free(changes);
		free(before);
		free(after);
		free(pr);
	}
out:
	json_decref(analysis);
	free(text);
	nsh_job_list_release(&jobs);
}

/* Check what can be checked before a task exists: the recipe, the org, the repositories. */
static int preflight(struct nsh_cli *cli, struct nsh_store *s, const char *recipe, const char *org,
		     const struct nsh_strvec *repos, struct nsh_err *err)
{
	struct nsh_forge *f = NULL;
	const char *it;
	int rc;

	if (recipe) {
		struct nsh_strvec dirs = NSH_STRVEC_INIT;
		struct nsh_recipe_catalog cat = {0};
		struct nsh_recipe *r = NULL;
		bool owned = false;

		nsh_recipe_dirs(cli->home, &dirs);
		rc = nsh_recipe_catalog_load(&dirs, &cat, err);
		if (!rc && strchr(recipe, '/'))
			rc = nsh_err_set(err, NSH_EINVAL,
					 "--recipe takes a recipe id (nightshift recipe list)");
		if (!rc)
			rc = nsh_recipe_find(&cat, recipe, &r, &owned, err);
		if (owned)
			nsh_recipe_free(r);
		nsh_recipe_catalog_release(&cat);
		nsh_strvec_release(&dirs);
		if (rc)
			return rc;
	}
	rc = nsh_forge_open_local(cli->home, s, &f, err);
	if (!rc && org && !repos->nr) {
		struct nsh_forge_repo_list l = {0};

		rc = nsh_forge_repo_list(f, org, &l, err);
		if (!rc && !l.nr)
			rc = nsh_err_set(err, NSH_ENOTFOUND, "org '%s' has no repositories", org);
		nsh_forge_repo_list_release(&l);
	}
	nsh_vec_foreach(it, repos) {
		struct nsh_forge_ref ref;
		struct nsh_forge_repo r = {0};

		if (rc)
			break;
		rc = nsh_forge_ref_parse_repo(it, &ref, err);
		if (!rc)
			rc = nsh_forge_repo_get(f, ref.org, ref.repo, &r, err);
		nsh_forge_repo_release(&r);
	}
	nsh_forge_close(f);
	return rc;
}

static int run_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"org", required_argument, NULL, 'o'},
		{"repo", required_argument, NULL, 'r'},
		{"recipe", required_argument, NULL, 'R'},
		{"network", required_argument, NULL, 'n'},
		{"detach", no_argument, NULL, 'd'},
		{"no-start", no_argument, NULL, 'N'},
		{"json", no_argument, NULL, 'j'},
		{"max-sandboxes", required_argument, NULL, 'm'},
		{"resume", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_strvec repos = NSH_STRVEC_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	const char *org = NULL, *recipe = NULL, *network = "common", *resume = NULL;
	enum nsh_net_level level;
	bool detach = false, no_start = false, json = false;
	long max_sandboxes = 0; /* [limits] concurrent_sandboxes */
	json_t *opt = NULL;
	char *opt_text = NULL, id[32];
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			org = optarg;
			break;
		case 'r':
			nsh_strvec_push(&repos, optarg);
			break;
		case 'R':
			recipe = optarg;
			break;
		case 'n':
			network = optarg;
			break;
		case 'd':
			detach = true;
			break;
		case 'N':
			no_start = true;
			break;
		case 'j':
			json = true;
			break;
		case 'm': {
			char *end;

			max_sandboxes = strtol(optarg, &end, 10);
			if (*end || max_sandboxes < 1 || max_sandboxes > 1000) {
				code = nsh_cli_usage(&nsh_cmd_run,
						     "invalid --max-sandboxes '%s' (1 to 1000)",
						     optarg);
				goto out;
			}
			break;
		}
		case 'u':
			resume = optarg;
			break;
		case ':':
			code = nsh_cli_usage(&nsh_cmd_run, "option '%s' needs a value",
					     argv[optind - 1]);
			goto out;
		default:
			code = nsh_cli_usage(&nsh_cmd_run, "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (no_start && !detach) {
		code = nsh_cli_usage(&nsh_cmd_run, "--no-start goes with --detach");
		goto out;
	}
	if (resume) {
		if (optind < argc) {
			code = nsh_cli_usage(&nsh_cmd_run, "--resume takes no task text");
			goto out;
		}
		struct nsh_task_rec t = {0};

		if (nsh_cli_open_store(cli, &s, &err) || nsh_store_task_get(s, resume, &t, &err)) {
			code = nsh_cli_fail(&err);
			goto out;
		}
		nsh_task_rec_release(&t);
		code = nsh_cli_drive(cli, s, resume, (int)max_sandboxes, json);
		goto out;
	}
	if (optind >= argc || !*argv[optind]) {
		code = nsh_cli_usage(&nsh_cmd_run, "missing the task text");
		goto out;
	}
	if (optind + 1 < argc) {
		code = nsh_cli_usage(&nsh_cmd_run, "unexpected argument '%s' (quote the task text)",
				     argv[optind + 1]);
		goto out;
	}
	if (nsh_net_level_parse(network, &level, &err)) {
		code = nsh_cli_usage(&nsh_cmd_run, "%s", err.msg);
		goto out;
	}
	if (!org && !repos.nr) {
		code = nsh_cli_usage(&nsh_cmd_run, "name an org (--org) or repositories (--repo)");
		goto out;
	}
	if (nsh_cli_open_store(cli, &s, &err) || preflight(cli, s, recipe, org, &repos, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	opt = json_object();
	if (repos.nr) {
		json_t *a = json_array();
		const char *it;

		nsh_vec_foreach(it, &repos)
			json_array_append_new(a, json_string(it));
		json_object_set_new(opt, "repos", a);
	}
	opt_text = json_dumps(opt, JSON_COMPACT);
	{
		struct nsh_task_new tn = {.title = argv[optind],
					  .org = org,
					  .network = nsh_net_level_name(level),
					  .recipe = recipe,
					  .options = opt_text};

		if (nsh_task_create(s, &tn, id, &err)) {
			code = nsh_cli_fail(&err);
			goto out;
		}
	}
	if (detach) {
		if (!no_start &&
		    !nsh_store_worker_any_alive(s, nsh_time_now_ms() - NSH_SCHED_LEASE_MS) &&
		    start_daemon(cli, &err)) {
			code = nsh_cli_fail(&err);
			goto out;
		}
		if (json) {
			json_t *o = json_pack("{s:s}", "task", id);

			nsh_cli_print_json(o);
			json_decref(o);
		} else {
			printf("%s\n", id);
		}
		goto out;
	}
	code = nsh_cli_drive(cli, s, id, (int)max_sandboxes, json);
out:
	free(opt_text);
	json_decref(opt);
	nsh_store_close(s);
	nsh_strvec_release(&repos);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_run = {
	.name = "run",
	.usage = "run \"TEXT\" (--org O | --repo O/R...) [--recipe NAME] [--network LEVEL] "
		 "[--detach [--no-start]] [--json] [--max-sandboxes N] | run --resume TASK",
	.summary = "give nightshift a task and watch it work",
	.help = "Creates a task and drives it here until it ends, printing its progress (exit\n"
		"0 when it completed). With --detach the daemon drives it ('nightshift serve'\n"
		"is started in the background when none runs) and the task id is printed;\n"
		"--no-start only queues it, for workers that run elsewhere ('serve --role\n"
		"worker').\n"
		"Options:\n"
		"  --org O            work on every repository of org O that the change concerns\n"
		"  --repo O/R         work on this repository (repeatable)\n"
		"  --recipe NAME      the recipe to use (default: recognised from the text)\n"
		"  --network LEVEL    sandbox network: none, integration, common (default), open\n"
		"  --max-sandboxes N  sandboxes at once in this process (default 10)\n"
		"  --resume TASK      drive an existing task again, e.g. after a crash\n"
		"  --json             print the events as JSON lines\n",
	.run = run_run,
};
