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
	&nsh_cmd_follow,  /* src/cli/follow.c */
	&nsh_cmd_run,	  /* src/cli/run.c */
	&nsh_cmd_sandbox, /* src/cli/sandbox.c */
	&nsh_cmd_secret,  /* src/cli/secret.c */
	&nsh_cmd_forge,	  /* src/cli/forge.c */
	&nsh_cmd_pr,	  /* src/cli/pr.c */
	&nsh_cmd_demo,	  /* src/cli/demo.c */
	&nsh_cmd_pause,	  /* src/cli/control.c */
	&nsh_cmd_resume,  /* src/cli/control.c */
	&nsh_cmd_cancel,  /* src/cli/control.c */
	&nsh_cmd_steer,	  /* src/cli/control.c */
	&nsh_cmd_answer,  /* src/cli/control.c */
	&nsh_cmd_extend,  /* src/cli/control.c */
	&nsh_cmd_gc,	  /* src/cli/gc.c */
	&nsh_cmd_verify,  /* src/cli/verify.c */
	&nsh_cmd_analyze, /* src/cli/analyze.c */
	&nsh_cmd_recipe,  /* src/cli/recipe.c */
	&nsh_cmd_serve,	  /* src/cli/serve.c */
	&nsh_cmd_agent,	  /* src/cli/agent.c */
	&nsh_cmd_github,  /* src/cli/github.c */
	&nsh_cmd_memory,  /* src/cli/memory.c */

	&nsh_cmd_webhooks, /* src/cli/webhooks.c */
};

int main(int argc, char **argv)
{
	return nsh_cli_run(commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
