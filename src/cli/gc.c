/*
 * "nightshift gc [--dry-run] [--json]": remove what is past retention
 * (task/gc.h) and say what was freed.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "config/limits.h"
#include "core/err.h"
#include "store/store.h"
#include "task/gc.h"

#include "core/banned.h"

static int gc_run(struct nsh_cli *cli, int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_gc_report rep = {0};
	struct nsh_store *s = NULL;
	struct nsh_limits lim;
	bool json = false, dry = false;
	char b[32];
	int code = NSH_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (argv[i][0] == '-')
			return nsh_cli_usage(&nsh_cmd_gc, "unknown option '%s'", argv[i]);
		else
			return nsh_cli_usage(&nsh_cmd_gc, "unexpected argument '%s'", argv[i]);
	}
	if (nsh_limits_load(cli->config, &lim, &err) || nsh_cli_open_store(cli, &s, &err) ||
	    nsh_gc_run(s, cli->home, &lim, dry, &rep, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = nsh_gc_report_to_json(&rep, dry);

		nsh_cli_print_json(o);
		json_decref(o);
	} else {
		for (size_t i = 0; i < rep.nr; i++) {
			nsh_limits_fmt_bytes(rep.v[i].bytes, b, sizeof(b));
			printf("%s%-9s %s (%llu files, %s)\n", dry ? "would remove " : "removed ",
			       rep.v[i].kind, rep.v[i].path, (unsigned long long)rep.v[i].files, b);
		}
		nsh_limits_fmt_bytes(rep.bytes, b, sizeof(b));
		printf("%s %llu files, %s\n", dry ? "would free" : "freed",
		       (unsigned long long)rep.files, b);
	}
	if (rep.failed) {
		fprintf(stderr, "nightshift: error: %zu entries could not be removed: %s\n",
			rep.failed, rep.errors ? rep.errors : "");
		code = NSH_EXIT_FAIL;
	}
out:
	nsh_gc_report_release(&rep);
	nsh_store_close(s);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_gc = {
	.name = "gc",
	.usage = "gc [--dry-run] [--json]",
	.summary = "remove workspaces and artifacts past retention; say what was freed",
	.help = "Removes the workspaces of ended tasks, those of expired tasks after their\n"
		"grace period ([limits] grace), artifacts after [limits] artifact_retention,\n"
		"and entries of work/ and artifacts/ that belong to no task.\n"
		"Options:\n"
		"  --dry-run  only say what would be removed\n"
		"  --json     print JSON\n",
	.run = gc_run,
};
