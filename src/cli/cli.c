/*
 * Global options, configuration loading, dispatch, and the helpers every
 * command uses to report errors the same way.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "forge/forge.h"
#include "store/store.h"

#include "core/banned.h"

#define GLOBAL_USAGE "nightshift [--home DIR] [--log-level LEVEL] COMMAND [ARGS...]"

int nsh_cli_fail(const struct nsh_err *err)
{
	fprintf(stderr, "nightshift: error: %s\n", err->msg[0] ? err->msg : "failed");
	return err->code == NSH_EUSAGE ? NSH_EXIT_USAGE : NSH_EXIT_FAIL;
}

int nsh_cli_usage(const struct nsh_cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	/* One line: what is wrong, then the synopsis to get it right. */
	fputs("nightshift: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, " (usage: nightshift %s)\n", cmd->usage);
	else
		fputc('\n', stderr);
	return NSH_EXIT_USAGE;
}

int nsh_cli_open_store(struct nsh_cli *cli, struct nsh_store **ret, struct nsh_err *err)
{
	char *path;
	int rc;

	rc = nsh_home_ensure(cli->home, err);
	if (rc)
		return rc;
	path = nsh_store_target(cli->home, getenv("NIGHTSHIFT_DB"), cli->config);
	rc = nsh_store_open(path, ret, err);
	free(path);
	return rc;
}

int nsh_cli_open_forge(struct nsh_cli *cli, struct nsh_store **ret_store, struct nsh_forge **ret,
		       struct nsh_err *err)
{
	int rc = nsh_cli_open_store(cli, ret_store, err);

	return rc ? rc : nsh_forge_open_local(cli->home, *ret_store, ret, err);
}

int nsh_cli_bad_option(const struct nsh_cli_cmd *cmd, int c, char **argv)
{
	if (c == ':')
		return nsh_cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
	return nsh_cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
}

void nsh_cli_print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

void nsh_cli_age(int64_t ms, char out[16])
{
	int64_t s = (nsh_time_now_ms() - ms) / 1000;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, 16, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, 16, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, 16, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, 16, "%lldd", (long long)(s / 86400));
}

static const struct nsh_cli_cmd *find_cmd(const struct nsh_cli_cmd *const *cmds, size_t n,
					  const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cmds[i]->name, name))
			return cmds[i];
	return NULL;
}

/* The value of "--opt VALUE" or "--opt=VALUE" at argv[*i]; NULL if @arg is not @opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, bool *missing)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];

	if (strncmp(a, opt, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* Flush stdout and report a failed write (a full disk, a closed pipe). */
static int finish_output(int code)
{
	if (fflush(stdout) || ferror(stdout)) {
		if (errno == EPIPE)
			return code;
		fprintf(stderr, "nightshift: error: cannot write output: %s\n", strerror(errno));
		return NSH_EXIT_FAIL;
	}
	return code;
}

int nsh_cli_run(const struct nsh_cli_cmd *const *cmds, size_t ncmds, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cli cli = {.cmds = cmds, .ncmds = ncmds};
	const char *flag_home = NULL, *level = NULL;
	const struct nsh_cli_cmd *cmd;
	char *home = NULL, *cfg_path = NULL;
	int i, code;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		bool missing = false;

		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if ((v = opt_value(argc, argv, &i, "--home", &missing))) {
			flag_home = v;
		} else if ((v = opt_value(argc, argv, &i, "--log-level", &missing))) {
			level = v;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			argv[i] = (char *)"help";
			break;
		} else if (!strcmp(argv[i], "--version")) {
			argv[i] = (char *)"version";
			break;
		} else if (missing) {
			return nsh_cli_usage(NULL, "option '%s' needs a value", argv[i]);
		} else {
			return nsh_cli_usage(NULL, "unknown option '%s'", argv[i]);
		}
		if (missing)
			return nsh_cli_usage(NULL, "option '%s' needs a value", argv[i]);
	}
	if (i >= argc)
		return nsh_cli_usage(NULL, "no command given; see 'nightshift help'");
	cmd = find_cmd(cmds, ncmds, argv[i]);
	if (!cmd)
		return nsh_cli_usage(NULL, "unknown command '%s'; see 'nightshift help'", argv[i]);

	if (nsh_home_resolve(flag_home, &home, &err))
		return nsh_cli_fail(&err);
	cfg_path = nsh_xasprintf("%s/config", home);
	if (nsh_config_load(cfg_path, &cli.config, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (!level)
		level = nsh_config_get(cli.config, "log", "level");
	if (level) {
		int l = nsh_log_level_parse(level);

		if (l < 0) {
			code = nsh_cli_usage(
				NULL, "unknown log level '%s' (use error, warn, info or debug)",
				level);
			goto out;
		}
		g_nsh_log_level = l;
	}
	cli.home = home;
	/*
	 * Subprocesses are reaped by their runner; an inherited "ignore"
	 * would let the kernel reap them first and lose their exit status.
	 */
	signal(SIGCHLD, SIG_DFL);
	/* Everything under the home is private: the database holds secrets. */
	umask(077);
	cli.tty = isatty(STDOUT_FILENO);
	cli.color = cli.tty && !getenv("NO_COLOR");
	code = finish_output(cmd->run(&cli, argc - i, argv + i));
out:
	nsh_config_free(cli.config);
	free(cfg_path);
	free(home);
	return code;
}
