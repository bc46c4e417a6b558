/*
 * "nightshift help [COMMAND]" and "nightshift version".
 */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "store/store.h"

#include "core/banned.h"

#define NSH_VERSION "0.1.0"

static int help_run(struct nsh_cli *cli, int argc, char **argv)
{
	if (argc > 2)
		return nsh_cli_usage(&nsh_cmd_help, "too many arguments");
	if (argc == 2) {
		for (size_t i = 0; i < cli->ncmds; i++) {
			const struct nsh_cli_cmd *c = cli->cmds[i];

			if (strcmp(c->name, argv[1]))
				continue;
			printf("usage: nightshift %s\n\n%s\n", c->usage, c->summary);
			if (c->help)
				printf("\n%s", c->help);
			return NSH_EXIT_OK;
		}
		return nsh_cli_usage(NULL, "unknown command '%s'; see 'nightshift help'", argv[1]);
	}
	printf("usage: nightshift [--home DIR] [--log-level LEVEL] COMMAND [ARGS...]\n\n"
	       "nightshift takes a coding task, works on every affected repository in its own\n"
	       "sandbox and comes back with one pull request per repository.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < cli->ncmds; i++)
		printf("  %-12s %s\n", cli->cmds[i]->name, cli->cmds[i]->summary);
	printf("\nGlobal options:\n"
	       "  --home DIR         state directory (default $NIGHTSHIFT_HOME, else ~/.nightshift)\n"
	       "  --log-level LEVEL  error, warn, info or debug (default warn)\n"
	       "\nRun 'nightshift help COMMAND' for the options of one command.\n");
	return NSH_EXIT_OK;
}

const struct nsh_cli_cmd nsh_cmd_help = {
	.name = "help",
	.usage = "help [COMMAND]",
	.summary = "show the commands, or the usage of one",
	.run = help_run,
};

static int version_run(struct nsh_cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc == 2 && !strcmp(argv[1], "--json")) {
		json_t *o = json_pack("{s:s, s:i}", "version", NSH_VERSION, "schema",
				      NSH_STORE_SCHEMA_VERSION);
		char *s = nsh_json_dump(o);

		puts(s);
		free(s);
		json_decref(o);
		return NSH_EXIT_OK;
	}
	if (argc > 1)
		return nsh_cli_usage(&nsh_cmd_version, "unexpected argument '%s'", argv[1]);
	printf("nightshift %s (schema %d)\n", NSH_VERSION, NSH_STORE_SCHEMA_VERSION);
	return NSH_EXIT_OK;
}

const struct nsh_cli_cmd nsh_cmd_version = {
	.name = "version",
	.usage = "version [--json]",
	.summary = "print the version",
	.run = version_run,
};
