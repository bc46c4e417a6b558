/*
 * "nightshift pause|resume|cancel|steer|answer|extend TASK [TEXT]": control
 * requests. Each is recorded and carried out on the store at once
 * (task/task.h, nsh_control_request()), with or without a daemon; a worker
 * driving the task makes its sandboxes follow within a tenth of a second.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

static const struct nsh_cli_cmd *cmd_of(const char *name);

static int control_run(struct nsh_cli *cli, int argc, char **argv)
{
	const struct nsh_cli_cmd *cmd = cmd_of(argv[0]);
	bool needs_text = !strcmp(argv[0], "steer") || !strcmp(argv[0], "answer") ||
			  !strcmp(argv[0], "extend");
	struct nsh_control_result res = {0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	bool json = false;
	const char *pos[2] = {NULL, NULL};
	int npos = 0, code;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return nsh_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			return nsh_cli_usage(cmd, "unexpected argument '%s'", argv[i]);
	}
	if (!pos[0])
		return nsh_cli_usage(cmd, "missing TASK");
	if (needs_text && (!pos[1] || !*pos[1]))
		return nsh_cli_usage(cmd, "missing %s",
				     strcmp(argv[0], "extend") ? "TEXT" : "DURATION");
	if (!needs_text && pos[1] && strcmp(argv[0], "cancel") && strcmp(argv[0], "pause"))
		return nsh_cli_usage(cmd, "unexpected argument '%s'", pos[1]);

	if (nsh_cli_open_store(cli, &s, &err) ||
	    nsh_control_request(s, pos[0], argv[0], pos[1], &res, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o =
			json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)res.id, "task", pos[0],
				  "kind", argv[0], "state", res.done ? "done" : "rejected");

		json_object_set_new(o, "message", json_string(res.message));
		nsh_cli_print_json(o);
		json_decref(o);
	} else if (res.done) {
		printf("%s\n", res.message);
	} else {
		fprintf(stderr, "nightshift: error: %s\n", res.message);
	}
	code = res.done ? NSH_EXIT_OK : NSH_EXIT_FAIL;
out:
	nsh_store_close(s);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_pause = {
	.name = "pause",
	.usage = "pause TASK [REASON] [--json]",
	.summary = "pause a task: its sandboxes freeze, its jobs wait at the next step",
	.run = control_run,
};

const struct nsh_cli_cmd nsh_cmd_resume = {
	.name = "resume",
	.usage = "resume TASK [--json]",
	.summary = "resume a paused task where it was",
	.run = control_run,
};

const struct nsh_cli_cmd nsh_cmd_cancel = {
	.name = "cancel",
	.usage = "cancel TASK [REASON] [--json]",
	.summary = "cancel a task: its sandboxes are killed, its jobs end cancelled",
	.run = control_run,
};

const struct nsh_cli_cmd nsh_cmd_steer = {
	.name = "steer",
	.usage = "steer TASK TEXT [--json]",
	.summary = "give a running task's agents an instruction",
	.run = control_run,
};

const struct nsh_cli_cmd nsh_cmd_answer = {
	.name = "answer",
	.usage = "answer TASK TEXT [--json]",
	.summary = "answer the question a task waits on",
	.run = control_run,
};

const struct nsh_cli_cmd nsh_cmd_extend = {
	.name = "extend",
	.usage = "extend TASK DURATION [--json]",
	.summary = "move a task's deadline (30m, 2h); revives an expired task",
	.run = control_run,
};

static const struct nsh_cli_cmd *cmd_of(const char *name)
{
	static const struct nsh_cli_cmd *const all[] = {
		&nsh_cmd_pause, &nsh_cmd_resume, &nsh_cmd_cancel,
		&nsh_cmd_steer, &nsh_cmd_answer, &nsh_cmd_extend,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}
