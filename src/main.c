/*
 * nightshift: the entry point. It only holds the command table; each
 * command lives in src/cli/. A new command is one line here.
 */
#include "cli/cli.h"

#include "core/banned.h"

static const struct nsh_cli_cmd *const commands[] = {
	&nsh_cmd_help,	  /* src/cli/help.c */
	&nsh_cmd_version, /* src/cli/help.c */
	&nsh_cmd_tasks,	  /* src/cli/tasks.c */
	&nsh_cmd_show,	  /* src/cli/tasks.c */
	&nsh_cmd_sandbox, /* src/cli/sandbox.c */
	&nsh_cmd_secret,  /* src/cli/secret.c */
	&nsh_cmd_recipe,  /* src/cli/recipe.c */
};

int main(int argc, char **argv)
{
	return nsh_cli_run(commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
