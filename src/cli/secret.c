/*
 * "nightshift secret set|list|rm": the encrypted vault from the command
 * line. A value is only ever read from stdin (an argument would show in
 * ps(1) and in the shell's history); on a terminal the typing is hidden.
 * No value is ever printed.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "secrets/secrets.h"
#include "store/store.h"

#include "core/banned.h"

#define SET_USAGE  "secret set NAME [--scope SCOPE] < VALUE"
#define LIST_USAGE "secret list [--json]"
#define RM_USAGE   "secret rm NAME [--scope SCOPE]"

/* The synopsis of each subcommand, for usage errors. */
static const struct nsh_cli_cmd cmd_set = {.name = "secret", .usage = SET_USAGE};
static const struct nsh_cli_cmd cmd_list = {.name = "secret", .usage = LIST_USAGE};
static const struct nsh_cli_cmd cmd_rm = {.name = "secret", .usage = RM_USAGE};

/* Room for the largest value, its newline and one byte to notice more. */
#define READ_CAP (NSH_SECRETS_VALUE_MAX + 2)

/*
 * An unknown option, named only when it looks like an option name and
 * without anything after '=': "--value=hunter2" or a value starting with
 * '-' must not end up on the terminal or in a log.
 */
static int bad_option(const struct nsh_cli_cmd *cmd, const char *arg)
{
	size_t n = strcspn(arg, "=");
	size_t dashes = strspn(arg, "-");

	if (dashes >= 1 && dashes <= 2 && n > dashes && n <= 32 &&
	    strspn(arg + dashes, "abcdefghijklmnopqrstuvwxyz-") == n - dashes)
		return nsh_cli_usage(cmd, "unknown option '%.*s'", (int)n, arg);
	return nsh_cli_usage(cmd, "unknown option");
}

/*
 * A bad NAME is not quoted back: it might be a value typed in the wrong
 * place.
 */
static int invalid_name(const struct nsh_cli_cmd *cmd)
{
	return nsh_cli_usage(cmd,
			     "invalid secret name: expected an environment variable name "
			     "([A-Z_][A-Z0-9_]*, at most %d characters)",
			     NSH_SECRETS_NAME_MAX);
}

/* Open the store and the vault for @cli. */
static int open_vault(struct nsh_cli *cli, struct nsh_store **ret_store, struct nsh_secrets **ret,
		      struct nsh_err *err)
{
	int rc = nsh_cli_open_store(cli, ret_store, err);

	return rc ? rc : nsh_secrets_open(*ret_store, cli->home, NULL, ret, err);
}

/*
 * Read a line from the terminal on fd 0 without echo: Enter ends it, ^C or
 * ^D on an empty line abort, backspace edits. Signals are off meanwhile so
 * that ^C cannot leave the terminal without echo.
 */
static int read_tty(const char *name, char *buf, size_t cap, size_t *ret_len, struct nsh_err *err)
{
	struct termios old, raw;
	size_t len = 0;
	int rc = 0;

	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return nsh_err_sys(err, errno, "cannot read the terminal settings");
	raw = old;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	fprintf(stderr, "value of %s (hidden; Enter to finish): ", name);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return nsh_err_sys(err, errno, "cannot change the terminal settings");
	for (;;) {
		char c;
		ssize_t n = read(STDIN_FILENO, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n' || c == '\r')
			break;
		if (c == 3 || (c == 4 && !len)) {
			rc = nsh_err_set(err, NSH_EFAIL, "cancelled; secret '%s' not set", name);
			break;
		}
		if (c == 4)
			break;
		if (c == 127 || c == 8) {
			if (len)
				len--;
			continue;
		}
		if (len < cap)
			buf[len++] = c;
	}
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	sodium_memzero(&raw, sizeof(raw));
	*ret_len = len;
	return rc;
}

/* Read up to @cap bytes of stdin into @buf; stops early at @cap. */
static int read_pipe(char *buf, size_t cap, size_t *ret_len, struct nsh_err *err)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nsh_err_sys(err, errno, "cannot read the value from stdin");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_len = len;
	return 0;
}

/*
 * Parse "NAME [--scope SCOPE]" for @cmd: the one word after the options is
 * NAME. @extra is the usage message for further words (NULL: name them).
 * Returns -1 when the arguments are good, else the exit code to return.
 */
static int parse_name_scope(const struct nsh_cli_cmd *cmd, int argc, char **argv, const char *extra,
			    const char **ret_name, const char **ret_scope)
{
	static const struct option opts[] = {
		{"scope", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	const char *scope = "global";
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			scope = optarg;
			break;
		case ':':
			return nsh_cli_usage(cmd, "option '--scope' needs a value");
		default:
			return bad_option(cmd, argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return nsh_cli_usage(cmd, "missing NAME");
	/* Never quote extra words: one may well be the value. */
	if (optind + 1 < argc)
		return nsh_cli_usage(cmd, "%s", extra ? extra : "unexpected argument after NAME");
	if (!nsh_secrets_name_valid(argv[optind]))
		return invalid_name(cmd);
	if (nsh_secrets_check_scope(scope, &err))
		return nsh_cli_usage(cmd, "%s", err.msg);
	*ret_name = argv[optind];
	*ret_scope = scope;
	return -1;
}

static int set_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	struct nsh_secrets *v = NULL;
	const char *scope, *name;
	char *buf = NULL;
	size_t len = 0;
	int code;

	code = parse_name_scope(&cmd_set, argc, argv,
				"the value is read from stdin, not from the command line "
				"(where ps and the shell history would keep it)",
				&name, &scope);
	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;

	buf = nsh_xmalloc(READ_CAP);
	sodium_mlock(buf, READ_CAP);
	if (isatty(STDIN_FILENO) ? read_tty(name, buf, READ_CAP, &len, &err)
				 : read_pipe(buf, READ_CAP, &len, &err))
		goto fail;
	if (len && buf[len - 1] == '\n')
		len--;
	if (!len) {
		nsh_err_set(&err, NSH_EINVAL, "empty value on stdin; secret '%s' not set", name);
		goto fail;
	}
	if (len > NSH_SECRETS_VALUE_MAX) {
		nsh_err_set(&err, NSH_ETOOBIG,
			    "the value on stdin is larger than %d bytes; secret '%s' not set",
			    NSH_SECRETS_VALUE_MAX, name);
		goto fail;
	}
	if (open_vault(cli, &s, &v, &err) || nsh_secrets_set(v, name, scope, buf, len, &err))
		goto fail;
	fprintf(stderr, "secret '%s' set (scope %s)\n", name, scope);
	goto out;
fail:
	code = nsh_cli_fail(&err);
out:
	sodium_munlock(buf, READ_CAP);
	sodium_memzero(buf, READ_CAP);
	free(buf);
	nsh_secrets_close(v);
	nsh_store_close(s);
	return code;
}

static json_t *time_json(int64_t ms)
{
	char stamp[NSH_TIME_ISO_MAX];

	return json_string(nsh_time_iso8601(ms, stamp));
}

static int list_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_secret_list l = {0};
	struct nsh_store *s = NULL;
	struct nsh_secrets *v = NULL;
	bool json = false;
	int c, code = NSH_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		default:
			return bad_option(&cmd_list, argv[optind - 1]);
		}
	}
	if (optind < argc)
		return nsh_cli_usage(&cmd_list, "unexpected argument '%s'", argv[optind]);
	if (open_vault(cli, &s, &v, &err) || nsh_secrets_list(v, &l, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < l.nr; i++)
			json_array_append_new(a,
					      json_pack("{s:s, s:s, s:o, s:o}", "name", l.v[i].name,
							"scope", l.v[i].scope, "created_at",
							time_json(l.v[i].created_ms), "updated_at",
							time_json(l.v[i].updated_ms)));
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!l.nr) {
		puts("no secrets");
		goto out;
	}
	printf("%-24s %-24s %-24s %s\n", "NAME", "SCOPE", "CREATED", "UPDATED");
	for (size_t i = 0; i < l.nr; i++) {
		char created[NSH_TIME_ISO_MAX], updated[NSH_TIME_ISO_MAX];

		printf("%-24s %-24s %-24s %s\n", l.v[i].name, l.v[i].scope,
		       nsh_time_iso8601(l.v[i].created_ms, created),
		       nsh_time_iso8601(l.v[i].updated_ms, updated));
	}
out:
	nsh_secret_list_release(&l);
	nsh_secrets_close(v);
	nsh_store_close(s);
	return code;
}

static int rm_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	struct nsh_secrets *v = NULL;
	const char *scope, *name;
	int code = parse_name_scope(&cmd_rm, argc, argv, NULL, &name, &scope);

	if (code >= 0)
		return code;
	code = NSH_EXIT_OK;
	if (open_vault(cli, &s, &v, &err) || nsh_secrets_remove(v, name, scope, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	fprintf(stderr, "secret '%s' removed (scope %s)\n", name, scope);
out:
	nsh_secrets_close(v);
	nsh_store_close(s);
	return code;
}

static int secret_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return nsh_cli_usage(&nsh_cmd_secret, "missing subcommand (set, list or rm)");
	if (!strcmp(argv[1], "set"))
		return set_run(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return list_run(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "rm"))
		return rm_run(cli, argc - 1, argv + 1);
	return nsh_cli_usage(&nsh_cmd_secret, "unknown subcommand '%s' (use set, list or rm)",
			     argv[1]);
}

const struct nsh_cli_cmd nsh_cmd_secret = {
	.name = "secret",
	.usage = "secret set NAME [--scope SCOPE] < VALUE | secret list [--json] | "
		 "secret rm NAME [--scope SCOPE]",
	.summary = "manage the encrypted secrets jobs get as environment variables",
	.help = "Subcommands:\n"
		"  set NAME [--scope SCOPE]  store the value read from stdin (one trailing\n"
		"                            newline is dropped; on a terminal the typing is\n"
		"                            hidden); replaces an earlier value\n"
		"  list [--json]             names, scopes and times; never values\n"
		"  rm NAME [--scope SCOPE]   remove a secret\n"
		"\n"
		"NAME is an environment variable name ([A-Z_][A-Z0-9_]*). SCOPE is global\n"
		"(the default), org:ORG, repo:ORG/NAME or task:ID; a job sees the secrets of\n"
		"its scopes, the most specific winning (task > repo > org > global).\n"
		"Values are encrypted with the master key $NIGHTSHIFT_HOME/master.key\n"
		"(created on first use, mode 0600) or the file $NIGHTSHIFT_MASTER_KEY_FILE.\n"
		"\n"
		"Example:\n"
		"  printf %s \"$TOKEN\" | nightshift secret set GITHUB_TOKEN --scope org:acme\n",
	.run = secret_run,
};
