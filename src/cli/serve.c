/*
 * "nightshift serve": the daemon. It serves the HTTP API, the event
 * streams and the web UI (src/server/), and runs the scheduler that drives
 * every task (src/sched/) on a thread of its own, until SIGINT or SIGTERM.
 * --role splits the two: "api" serves without a scheduler, "worker" runs
 * the scheduler without an HTTP server, "all" (the default) does both.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/limits.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "orch/orch.h"
#include "sched/sched.h"
#include "server/server.h"
#include "store/store.h"
#include "task/gc.h"

#include "core/banned.h"

struct sched_thread {
	pthread_t thread;	 /* runs nsh_sched_run() */
	struct nsh_sched *sched; /* the scheduler */
	struct nsh_err err;	 /* why it stopped, if it failed */
	int rc;			 /* its result */
};

static void *sched_main(void *arg)
{
	struct sched_thread *t = arg;

	t->rc = nsh_sched_run(t->sched, &t->err);
	if (t->rc)
		nsh_log_error("scheduler stopped: %s", t->err.msg);
	return NULL;
}

/* Retention in the daemon: nsh_gc_run() every [limits] gc_interval (task/gc.h). */
struct gc_thread {
	pthread_t thread;
	const char *home;      /* borrowed */
	const char *db;	       /* borrowed */
	struct nsh_limits lim; /* the defaults */
	int64_t every_ms;      /* interval */
	atomic_int stop;       /* set to end the thread */
};

static void *gc_main(void *arg)
{
	struct gc_thread *g = arg;
	int64_t next = nsh_time_mono_ms() + g->every_ms;

	while (!atomic_load(&g->stop)) {
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_gc_report rep = {0};
		struct nsh_store *s = NULL;

		if (nsh_time_mono_ms() < next) {
			nsh_time_sleep_ms(200);
			continue;
		}
		next = nsh_time_mono_ms() + g->every_ms;
		if (nsh_store_open(g->db, &s, &err) ||
		    nsh_gc_run(s, g->home, &g->lim, false, &rep, &err))
			nsh_log_warn("gc: %s", err.msg);
		else if (rep.nr)
			nsh_log_info("gc: removed %zu entries, %llu files, %llu bytes", rep.nr,
				     (unsigned long long)rep.files, (unsigned long long)rep.bytes);
		nsh_gc_report_release(&rep);
		nsh_store_close(s);
	}
	return NULL;
}

static bool parse_int(const char *s, int lo, int hi, int *ret)
{
	char *end;
	long v;

	if (!*s)
		return false;
	v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		return false;
	*ret = (int)v;
	return true;
}

static int serve_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"allow-remote", no_argument, NULL, 'R'},
		{"max-sandboxes", required_argument, NULL, 'm'},
		{"rate-limit", required_argument, NULL, 'r'},
		{"no-scheduler", no_argument, NULL, 'N'},
		{"role", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_server_config cfg = {0};
	struct nsh_sched_config scfg = {0};
	struct nsh_limits lim;
	struct gc_thread gc = {0};
	bool gc_started = false;
	struct sched_thread st = {0};
	struct nsh_server *srv = NULL;
	struct nsh_store *store = NULL;
	const struct nsh_pipeline *pipeline = NULL;
	struct nsh_orch *orch = NULL;
	bool no_sched = false, sched_started = false, no_http = false, http_opts = false;
	const char *role = "all";
	char *db = NULL;
	int c, max_sandboxes = 0, rate = -2, sig = 0, code = NSH_EXIT_OK;
	sigset_t set;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			cfg.listen = optarg;
			http_opts = true;
			break;
		case 'R':
			cfg.allow_remote = true;
			http_opts = true;
			break;
		case 'm':
			if (!parse_int(optarg, 1, 1000, &max_sandboxes))
				return nsh_cli_usage(&nsh_cmd_serve,
						     "invalid --max-sandboxes '%s' (1 to 1000)",
						     optarg);
			break;
		case 'r':
			if (!parse_int(optarg, 0, 1000000, &rate))
				return nsh_cli_usage(&nsh_cmd_serve,
						     "invalid --rate-limit '%s' (0 to 1000000)",
						     optarg);
			http_opts = true;
			break;
		case 'N':
			no_sched = true;
			break;
		case 'o':
			if (strcmp(optarg, "all") && strcmp(optarg, "api") &&
			    strcmp(optarg, "worker"))
				return nsh_cli_usage(&nsh_cmd_serve,
						     "invalid --role '%s' (worker, api or all)",
						     optarg);
			role = optarg;
			break;
		case ':':
			return nsh_cli_usage(&nsh_cmd_serve, "option '%s' needs a value",
					     argv[optind - 1]);
		default:
			return nsh_cli_usage(&nsh_cmd_serve, "unknown option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind < argc)
		return nsh_cli_usage(&nsh_cmd_serve, "unexpected argument '%s'", argv[optind]);
	if (!strcmp(role, "api")) {
		no_sched = true;
	} else if (!strcmp(role, "worker")) {
		if (no_sched)
			return nsh_cli_usage(&nsh_cmd_serve,
					     "--role worker runs only the scheduler: it cannot "
					     "take --no-scheduler");
		if (http_opts)
			return nsh_cli_usage(
				&nsh_cmd_serve,
				"--role worker serves no HTTP: it cannot take --listen, "
				"--allow-remote or --rate-limit");
		no_http = true;
	}
	if (!cfg.listen)
		cfg.listen = nsh_config_get(cli->config, "serve", "listen");
	/* --rate-limit 0 turns the limit off; the server's own default otherwise. */
	cfg.rate = rate == -2 ? 0 : rate == 0 ? -1 : rate;

	/* Signals are taken by sigwait() below; every thread started from here blocks them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Open the store once here: it is created and migrated before anyone serves. */
	if (nsh_cli_open_store(cli, &store, &err))
		goto fail;
	db = nsh_xstrdup(nsh_store_path(store));
	if (!no_sched) {
		if (nsh_orch_new(cli->home, cli->config, &orch, &err))
			goto fail;
		pipeline = nsh_orch_pipeline(orch);
	}
	cfg.home = cli->home;
	cfg.config = cli->config;
	cfg.db_path = db;
	cfg.pipeline = no_sched ? NULL : pipeline;
	cfg.write_info = true;
	cfg.scheduler = !no_sched && pipeline;
	if (no_http && !pipeline) {
		nsh_err_set(&err, NSH_EINVAL, "--role worker: no pipeline to run tasks with");
		goto fail;
	}
	if (!no_http && nsh_server_start(&cfg, &srv, &err))
		goto fail;
	if (!no_sched && pipeline) {
		if (nsh_limits_load(cli->config, &lim, &err))
			goto fail;
		scfg.limits = &lim;
		scfg.db_path = db;
		scfg.max_sandboxes = max_sandboxes;
		scfg.pipeline = pipeline;
		scfg.label = "serve";
		if (nsh_sched_new(&scfg, &st.sched, &err))
			goto fail;
		if (pthread_create(&st.thread, NULL, sched_main, &st)) {
			nsh_err_set(&err, NSH_EIO, "cannot start the scheduler thread");
			goto fail;
		}
		sched_started = true;
		gc.home = cli->home;
		gc.db = db;
		gc.lim = lim;
		gc.every_ms = 3600 * 1000;
		if (nsh_config_get_duration(cli->config, "limits", "gc_interval", gc.every_ms,
					    &gc.every_ms, &err))
			goto fail;
		if (gc.every_ms > 0 && !pthread_create(&gc.thread, NULL, gc_main, &gc))
			gc_started = true;
	}
	if (no_http)
		fprintf(stderr, "nightshift: worker on %s (scheduler only, no HTTP server)\n", db);
	else
		fprintf(stderr, "nightshift: serving %s (token in %s/token)%s\n",
			nsh_server_url(srv), cli->home, sched_started ? "" : "; scheduler off");
	fflush(stderr);
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		;
	nsh_log_info("signal %d: stopping", sig);
	goto out;
fail:
	code = nsh_cli_fail(&err);
out:
	if (gc_started) {
		atomic_store(&gc.stop, 1);
		pthread_join(gc.thread, NULL);
	}
	/* The scheduler first: its jobs stay as they are for the next start. */
	if (sched_started) {
		nsh_sched_stop(st.sched);
		pthread_join(st.thread, NULL);
	}
	nsh_sched_free(st.sched);
	nsh_orch_free(orch);
	nsh_server_stop(srv);
	nsh_store_close(store);
	free(db);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_serve = {
	.name = "serve",
	.usage = "serve [--listen ADDR:PORT] [--allow-remote] [--max-sandboxes N] "
		 "[--rate-limit N] [--no-scheduler] [--role worker|api|all]",
	.summary = "run the daemon: HTTP API, web UI and the scheduler",
	.help = "Options:\n"
		"  --listen ADDR:PORT  where to listen (default 127.0.0.1:7700; port 0 picks a\n"
		"                      free one; [::1]:PORT for IPv6); also 'listen' in [serve]\n"
		"  --allow-remote      accept a listen address that is not loopback\n"
		"  --max-sandboxes N   jobs that run at once (default: [limits]\n"
		"                      concurrent_sandboxes, 10 on every plan)\n"
		"  --rate-limit N      requests per second per client address (default 200,\n"
		"                      bursts of twice that; 0 turns the limit off)\n"
		"  --no-scheduler      serve the API and UI only; another worker runs tasks\n"
		"  --role ROLE         'all' (default): API, UI and scheduler; 'api': the same\n"
		"                      as --no-scheduler; 'worker': the scheduler alone, no\n"
		"                      HTTP server (no --listen, --allow-remote, --rate-limit)\n"
		"\n"
		"The API token is in $NIGHTSHIFT_HOME/token (made on the first start, mode\n"
		"0600); the address and process id in $NIGHTSHIFT_HOME/serve.json while it\n"
		"runs. Open the URL it prints with '#token=TOKEN' appended to sign the web UI\n"
		"in. SIGINT or SIGTERM stops it cleanly. See docs/api.md and docs/web.md.\n",
	.run = serve_run,
};
