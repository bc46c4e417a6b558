/*
 * "nightshift webhooks": the GitHub deliveries the daemon received, newest
 * first, with what became of each (docs/webhooks.md).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "store/store.h"

#include "core/banned.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     10000

static json_t *opt_str(const char *s)
{
	return s ? nsh_json_string_lossy(s, strlen(s)) : json_null();
}

static json_t *time_json(int64_t ms)
{
	char t[NSH_TIME_ISO_MAX];

	return ms ? json_string(nsh_time_iso8601(ms, t)) : json_null();
}

static json_t *delivery_json(const struct nsh_webhook_rec *w)
{
	return json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "id", w->id, "event",
			 w->event, "action", opt_str(w->action), "subject", opt_str(w->subject),
			 "status", w->status, "reason", opt_str(w->error), "task",
			 opt_str(w->task_id), "received_at", time_json(w->received_ms),
			 "handled_at", time_json(w->handled_ms));
}

static int webhooks_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"limit", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_webhook_list l = {0};
	struct nsh_store *s = NULL;
	bool json = false;
	long limit = LIMIT_DEFAULT;
	int c, code = NSH_EXIT_OK;
	char *end;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'n':
			limit = strtol(optarg, &end, 10);
			if (*end || !*optarg || limit < 1 || limit > LIMIT_MAX)
				return nsh_cli_usage(&nsh_cmd_webhooks,
						     "invalid --limit '%s' (1 to %d)", optarg,
						     LIMIT_MAX);
			break;
		default:
			return nsh_cli_bad_option(&nsh_cmd_webhooks, c, argv);
		}
	}
	if (optind < argc)
		return nsh_cli_usage(&nsh_cmd_webhooks, "unexpected argument '%s'", argv[optind]);
	if (nsh_cli_open_store(cli, &s, &err) ||
	    nsh_store_webhook_list(s, (size_t)limit, &l, &err)) {
		code = nsh_cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < l.nr; i++)
			json_array_append_new(a, delivery_json(&l.v[i]));
		nsh_cli_print_json(a);
		json_decref(a);
		goto out;
	}
	if (!l.nr) {
		puts("no webhook deliveries");
		goto out;
	}
	printf("%-38s %-28s %-26s %-9s %-5s %-10s %s\n", "DELIVERY", "EVENT", "SUBJECT", "STATUS",
	       "AGE", "TASK", "REASON");
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_webhook_rec *w = &l.v[i];
		char event[96], age[16];

		snprintf(event, sizeof(event), "%s%s%s", w->event, w->action ? "." : "",
			 w->action ? w->action : "");
		nsh_cli_age(w->received_ms, age);
		printf("%-38s %-28s %-26s %-9s %-5s %-10s %s\n", w->id, event,
		       w->subject ? w->subject : "-", w->status, age, w->task_id ? w->task_id : "-",
		       w->error ? w->error : "");
	}
out:
	nsh_webhook_list_release(&l);
	nsh_store_close(s);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_webhooks = {
	.name = "webhooks",
	.usage = "webhooks [--json] [--limit N]",
	.summary = "list the GitHub webhook deliveries received and what became of them",
	.help = "Options:\n"
		"  --json       print a JSON array\n"
		"  --limit N    at most N deliveries, newest first (default 50)\n"
		"\n"
		"Each delivery shows its id (X-GitHub-Delivery), event and action, the\n"
		"issue or pull request it is about, its status (received, processed,\n"
		"ignored, failed), the task it acted on and the reason. 'nightshift\n"
		"serve' receives them at POST /webhooks/github; see docs/webhooks.md.\n",
	.run = webhooks_run,
};
