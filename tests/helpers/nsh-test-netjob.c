/*
 * Runs one command in a real sandbox whose proxy decisions go through the
 * network journal into a task's event log, as a job's sandbox does in the
 * daemon, for integration scripts:
 *
 *   nsh-test-netjob DB LEVEL [--allow-private HOST:PORT]... [--secret NAME=VALUE]...
 *                   -- CMD [ARG]...
 *
 * Creates a task (network LEVEL) with one job for "demo/net" in the store
 * DB, prints the task id on the first line of stdout, runs CMD in a
 * sandbox at LEVEL (stdio inherited; NO_PROXY is emptied so that
 * "localhost" also goes through the proxy), destroys the sandbox, waits
 * for the journal and moves the task to completed. Secrets redact what the
 * journal writes. Exit 0 when all of that worked (whatever CMD's status),
 * 1 on an error (stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/vec.h"
#include "net/net.h"
#include "sandbox/sandbox.h"
#include "secrets/secrets.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define MAX_SECRETS 8

static int usage(void)
{
	fprintf(stderr, "usage: nsh-test-netjob DB LEVEL [--allow-private HOST:PORT]... "
			"[--secret NAME=VALUE]... -- CMD [ARG]...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redact_secret sec[MAX_SECRETS];
	struct nsh_net_policy net = {0};
	struct nsh_sandbox_policy pol = {0};
	struct nsh_sandbox_cmd cmd;
	struct nsh_task_new tn = {.title = "network journal test"};
	struct nsh_store *s = NULL;
	struct nsh_redactor *red = NULL;
	struct nsh_proxy *px = NULL;
	struct nsh_net_journal *nj = NULL;
	struct nsh_net_journal_job *jj = NULL;
	struct nsh_sandbox *sb = NULL;
	struct nsh_buf priv = NSH_BUF_INIT;
	enum nsh_net_level level;
	char task[32], job[32], *ws = NULL, *st = NULL, *cwd = NULL;
	size_t nsec = 0;
	int i, rc = 1;

	nsh_sandbox_cmd_init(&cmd);
	if (argc < 5)
		return usage();
	if (nsh_net_level_parse(argv[2], &level, &err)) {
		fprintf(stderr, "nsh-test-netjob: %s\n", err.msg);
		return 2;
	}
	for (i = 3; i < argc && strcmp(argv[i], "--"); i++) {
		if (i + 1 == argc)
			return usage();
		if (!strcmp(argv[i], "--allow-private")) {
			nsh_buf_addf(&priv, "%s%s", priv.len ? "," : "", argv[++i]);
		} else if (!strcmp(argv[i], "--secret") && nsec < MAX_SECRETS) {
			char *eq = strchr(argv[++i], '=');

			if (!eq)
				return usage();
			*eq = '\0';
			sec[nsec++] = (struct nsh_redact_secret){argv[i], eq + 1, strlen(eq + 1)};
		} else {
			return usage();
		}
	}
	if (i + 1 >= argc)
		return usage();
	for (i++; i < argc; i++)
		nsh_strvec_push(&cmd.argv, argv[i]);
	nsh_strvec_pushl(&cmd.env, "NO_PROXY=", "no_proxy=", NULL);
	cmd.inherit_stdio = true;

	cwd = getcwd(NULL, 0);
	ws = nsh_xasprintf("%s/netjob-ws", cwd);
	st = nsh_xasprintf("%s/netjob-state", cwd);
	tn.network = argv[2];
	nsh_net_policy_init(&net, level);
	if (nsh_fs_mkdir_p(ws, 0755, &err) || nsh_fs_mkdir_p(st, 0700, &err) ||
	    nsh_net_policy_build(&net, level, NULL, priv.buf, &err) ||
	    (nsec && nsh_redactor_new(sec, nsec, &red, NULL, &err)) ||
	    nsh_store_open(argv[1], &s, &err) || nsh_task_create(s, &tn, task, &err) ||
	    nsh_job_create(s, task, "demo/net", 0, job, &err) ||
	    nsh_net_journal_new(argv[1], &nj, &err) || nsh_proxy_new(&px, &err))
		goto out;
	printf("%s\n", task);
	fflush(stdout);
	jj = nsh_net_journal_job_new(nj, task, job, red);
	pol.workspace = ws;
	pol.state_dir = st;
	pol.network = level;
	pol.proxy = px;
	pol.net = &net;
	pol.on_net = nsh_net_journal_record;
	pol.on_net_ctx = jj;
	if (nsh_sandbox_create(&pol, &sb, &err) || nsh_sandbox_exec(sb, &cmd, &err))
		goto out;
	rc = nsh_sandbox_destroy(sb, &err);
	sb = NULL;
	if (!rc)
		rc = nsh_net_journal_job_free(jj, &err);
	jj = NULL;
	if (!rc)
		rc = nsh_task_transition(s, task, NSH_TASK_ANALYZING, NULL, NULL, &err);
	if (!rc)
		rc = nsh_task_transition(s, task, NSH_TASK_RUNNING, NULL, NULL, &err);
	if (!rc)
		rc = nsh_task_transition(s, task, NSH_TASK_COMPLETED, NULL, NULL, &err);
	rc = rc ? 1 : 0;
out:
	if (rc)
		fprintf(stderr, "nsh-test-netjob: %s\n", err.msg);
	nsh_sandbox_destroy(sb, NULL);
	nsh_net_journal_job_free(jj, NULL);
	nsh_net_journal_free(nj);
	nsh_proxy_free(px);
	nsh_store_close(s);
	nsh_redactor_free(red);
	nsh_net_policy_release(&net);
	nsh_sandbox_cmd_release(&cmd);
	nsh_buf_release(&priv);
	free(ws);
	free(st);
	free(cwd);
	return rc;
}
