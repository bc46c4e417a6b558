/*
 * "nightshift sandbox probe" and "nightshift sandbox run": what this host
 * can enforce, and one command run in a fresh sandbox.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/log.h"
#include "core/str.h"
#include "core/time.h"
#include "net/net.h"
#include "sandbox/probe.h"
#include "sandbox/sandbox.h"

#include "core/banned.h"

static int probe_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_caps caps;
	bool json = false;

	(void)cli;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return nsh_cli_usage(&nsh_cmd_sandbox, "unexpected argument '%s'", argv[i]);
	}
	if (nsh_sandbox_probe(&caps, &err))
		return nsh_cli_fail(&err);
	if (json) {
		json_t *o = nsh_sandbox_caps_to_json(&caps);

		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		nsh_sandbox_caps_print(&caps, stdout);
	}
	return NSH_EXIT_OK;
}

static bool parse_cpus(const char *s, double *ret)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0) || v > 1024)
		return false;
	*ret = v;
	return true;
}

static bool parse_count(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	v = strtoull(s, &end, 10);
	if (*end || !v || v > 4194304)
		return false;
	*ret = v;
	return true;
}

static bool id_taken(const char *id, void *ctx)
{
	char *p = nsh_xasprintf("%s/%s", (const char *)ctx, id);
	bool taken = nsh_fs_exists(p);

	free(p);
	return taken;
}

/* Each decision of the egress proxy: blocked requests are reported on stderr. */
static void report_net(void *ctx, const struct nsh_proxy_decision *d)
{
	(void)ctx;
	if (!d->allowed)
		fprintf(stderr, "nightshift: network: blocked '%s:%d' at level '%s' (%s)\n",
			d->host, d->port, nsh_net_level_name(d->level), d->reason);
	else if (!d->done)
		nsh_log_info("network: allowed '%s:%d' (%s)%s", d->host, d->port, d->addr,
			     d->private_allowed ? " through allow_private" : "");
}

/*
 * The policy for @level (plus the --allow patterns, the host's own package
 * registries and the [net] allow_private setting) and a proxy to serve it.
 */
static int start_proxy(struct nsh_cli *cli, enum nsh_net_level level,
		       const struct nsh_strvec *allow, struct nsh_net_policy *net,
		       struct nsh_proxy **ret, struct nsh_err *err)
{
	const char *priv = nsh_config_get(cli->config, "net", "allow_private");
	int rc;

	rc = nsh_net_policy_build(net, level, allow, priv, err);
	if (rc)
		return rc;
	if (priv && *priv)
		fprintf(stderr,
			"nightshift: warning: private addresses allowed for '%s' (net.allow_private)\n",
			priv);
	return nsh_proxy_new(ret, err);
}

static int run_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"memory", required_argument, NULL, 'm'},
		{"pids", required_argument, NULL, 'p'},
		{"cpus", required_argument, NULL, 'c'},
		{"disk", required_argument, NULL, 'd'},
		{"timeout", required_argument, NULL, 't'},
		{"network", required_argument, NULL, 'n'},
		{"allow", required_argument, NULL, 'a'},
		{"workspace", required_argument, NULL, 'w'},
		{"env", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol = {.network = NSH_NET_NONE};
	struct nsh_sandbox_cmd cmd;
	struct nsh_sandbox *sb = NULL;
	char *work = NULL, *state = NULL, *ws = NULL;
	char id[NSH_ID_MAX];
	struct nsh_strvec allow = NSH_STRVEC_INIT;
	struct nsh_net_policy net;
	struct nsh_proxy *proxy = NULL;
	bool own_ws = false, level_given = false;
	int c, code = NSH_EXIT_FAIL;

	nsh_sandbox_cmd_init(&cmd);
	nsh_net_policy_init(&net, NSH_NET_NONE);
	optind = 0;
	opterr = 0;
	/* "+": options end at the first word of the command. */
	while ((c = getopt_long(argc - 1, argv + 1, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!nsh_parse_size(optarg, &pol.memory) || !pol.memory) {
				code = nsh_cli_usage(&nsh_cmd_sandbox, "invalid --memory '%s'",
						     optarg);
				goto out;
			}
			break;
		case 'p':
			if (!parse_count(optarg, &pol.pids)) {
				code = nsh_cli_usage(&nsh_cmd_sandbox, "invalid --pids '%s'",
						     optarg);
				goto out;
			}
			break;
		case 'c':
			if (!parse_cpus(optarg, &pol.cpus)) {
				code = nsh_cli_usage(&nsh_cmd_sandbox, "invalid --cpus '%s'",
						     optarg);
				goto out;
			}
			break;
		case 'd':
			if (!nsh_parse_size(optarg, &pol.disk) || pol.disk < (1u << 20)) {
				code = nsh_cli_usage(&nsh_cmd_sandbox,
						     "invalid --disk '%s' (at least 1M)", optarg);
				goto out;
			}
			break;
		case 't':
			if (nsh_time_parse_duration(optarg, &pol.timeout_ms, &err) ||
			    !pol.timeout_ms) {
				code = nsh_cli_usage(&nsh_cmd_sandbox, "invalid --timeout '%s'",
						     optarg);
				goto out;
			}
			break;
		case 'n':
			if (nsh_net_level_parse(optarg, &pol.network, &err)) {
				code = nsh_cli_usage(&nsh_cmd_sandbox, "%s", err.msg);
				goto out;
			}
			level_given = true;
			break;
		case 'a':
			nsh_strvec_push(&allow, optarg);
			break;
		case 'w':
			ws = nsh_xstrdup(optarg);
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				code = nsh_cli_usage(&nsh_cmd_sandbox,
						     "invalid --env '%s' (want K=V)", optarg);
				goto out;
			}
			nsh_strvec_push(&cmd.env, optarg);
			break;
		default:
			code = nsh_cli_usage(&nsh_cmd_sandbox, "unknown option '%s'", argv[optind]);
			goto out;
		}
	}
	optind++; /* getopt ran on argv + 1 */
	if (allow.nr) {
		if (level_given && pol.network != NSH_NET_CUSTOM) {
			code = nsh_cli_usage(&nsh_cmd_sandbox,
					     "--allow goes with network level 'custom', not '%s'",
					     nsh_net_level_name(pol.network));
			goto out;
		}
		pol.network = NSH_NET_CUSTOM;
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc) {
		code = nsh_cli_usage(&nsh_cmd_sandbox, "no command given after '--'");
		goto out;
	}
	for (int i = optind; i < argc; i++)
		nsh_strvec_push(&cmd.argv, argv[i]);

	work = nsh_xasprintf("%s/work", cli->home);
	if (nsh_fs_mkdir_p(work, 0700, &err) || nsh_sandbox_cleanup_stale(work, &err) ||
	    nsh_id_new("sbx", id_taken, work, id, &err))
		goto fail;
	state = nsh_xasprintf("%s/%s", work, id);
	if (nsh_fs_mkdir_p(state, 0700, &err))
		goto fail;
	if (!ws) {
		ws = nsh_xasprintf("%s/workspace", state);
		own_ws = true;
		if (nsh_fs_mkdir_p(ws, 0755, &err))
			goto fail;
	}
	pol.workspace = ws;
	pol.state_dir = state;
	pol.hide = cli->home;
	if (pol.network != NSH_NET_NONE) {
		if (start_proxy(cli, pol.network, &allow, &net, &proxy, &err))
			goto fail;
		pol.proxy = proxy;
		pol.net = &net;
		pol.on_net = report_net;
	}
	/*
	 * One sandbox per run: a pool only when asked for (NSH_SANDBOX_POOL),
	 * filled first, so that this sandbox comes from it (for tests).
	 */
	if (getenv("NSH_SANDBOX_POOL") && !pol.disk) {
		if (nsh_sandbox_pool_start(cli->home, &err))
			goto fail;
		nsh_sandbox_pool_settle(10000);
	}
	if (nsh_sandbox_create(&pol, &sb, &err))
		goto fail;
	if (strstr(nsh_sandbox_guarantees(sb), "weaker"))
		fprintf(stderr, "nightshift: warning: limits enforced weakly on this host: %s\n",
			nsh_sandbox_guarantees(sb));
	cmd.inherit_stdio = true;
	/* The command owns the terminal's signals; we only wait. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if (nsh_sandbox_exec(sb, &cmd, &err))
		goto fail;
	if (cmd.timed_out)
		fprintf(stderr, "nightshift: error: '%s' was killed at its time limit\n",
			cmd.argv.v[0]);
	code = cmd.term_signal ? 128 + cmd.term_signal : cmd.exit_code;
	if (nsh_sandbox_destroy(sb, &err)) {
		sb = NULL;
		goto fail;
	}
	sb = NULL;
	goto out;
fail:
	code = nsh_cli_fail(&err);
out:
	nsh_sandbox_destroy(sb, NULL);
	if (state) {
		struct nsh_err ignore = NSH_ERR_INIT;

		if (own_ws || nsh_fs_exists(state))
			nsh_fs_remove_tree(state, &ignore);
	}
	nsh_sandbox_cmd_release(&cmd);
	nsh_proxy_free(proxy);
	nsh_net_policy_release(&net);
	nsh_strvec_release(&allow);
	free(ws);
	free(state);
	free(work);
	return code;
}

static int sandbox_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_sandbox, "missing 'probe' or 'run'");
	if (!strcmp(argv[1], "probe"))
		return probe_run(cli, argc, argv);
	if (!strcmp(argv[1], "run"))
		return run_run(cli, argc, argv);
	return nsh_cli_usage(&nsh_cmd_sandbox, "unknown subcommand '%s'", argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_sandbox = {
	.name = "sandbox",
	.usage =
		"sandbox probe [--json] | sandbox run [--memory SIZE] [--pids N] [--cpus F] "
		"[--disk SIZE] [--timeout DUR] [--network LEVEL] [--allow HOST]... [--workspace DIR] "
		"[--env K=V]... "
		"-- CMD...",
	.summary = "show what this host can isolate, or run one command in a sandbox",
	.help = "probe: user namespaces, seccomp, Landlock, cgroups, loop devices and the\n"
		"guarantees that follow from them.\n\n"
		"run: a fresh sandbox (own user, mount, pid, ipc, uts, cgroup and network\n"
		"namespaces; host system directories read-only; the workspace read-write at\n"
		"/workspace) runs CMD with the terminal's stdio; nightshift exits with its status\n"
		"(128+N when killed by signal N).\n"
		"  --memory SIZE   memory limit, e.g. 512M\n"
		"  --pids N        process limit\n"
		"  --cpus F        CPU limit, e.g. 1.5\n"
		"  --disk SIZE     workspace quota (a fresh workspace on its own file system)\n"
		"  --timeout DUR   wall-clock limit, e.g. 90s, 10m\n"
		"  --network LEVEL none (loopback only), integration, common, open or custom:\n"
		"                  traffic goes through nightshift's egress proxy\n"
		"  --allow HOST    custom level: allow HOST or *.DOMAIN (repeatable)\n"
		"  --workspace DIR bind DIR at /workspace (default: an empty directory)\n"
		"  --env K=V       add a variable to the environment\n",
	.run = sandbox_run,
};
