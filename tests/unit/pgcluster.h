/*
 * A throw-away PostgreSQL cluster for C tests and benchmarks, through
 * tests/integ/pgcluster.sh (found under $NSH_TOP, else the working
 * directory). pgc_start() returns 0 with the cluster's directory and URL,
 * 1 with the reason when PostgreSQL is not installed (the caller skips),
 * -1 on any other failure (with the script's output on stderr).
 */
#ifndef NSH_TEST_PGCLUSTER_H
#define NSH_TEST_PGCLUSTER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/proc.h"
#include "core/vec.h"

static inline char *pgc_script(void)
{
	const char *top = getenv("NSH_TOP");
	char *path;

	if (asprintf(&path, "%s/tests/integ/pgcluster.sh", top && *top ? top : ".") < 0)
		abort();
	return path;
}

static inline int pgc_start(char **ret_dir, char **ret_url, char **ret_why)
{
	const char *base = getenv("TMPDIR");
	char *script = pgc_script();
	struct nsh_proc p;
	struct nsh_err err = NSH_ERR_INIT;
	char *dir;
	int rc = -1;

	/* The script makes the directory itself: take a fresh name, not a directory. */
	if (asprintf(&dir, "%s/nsh-pg-XXXXXX", base && *base ? base : "/tmp") < 0 || !mkdtemp(dir))
		abort();
	rmdir(dir);
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "sh");
	nsh_strvec_push(&p.argv, script);
	nsh_strvec_push(&p.argv, "start");
	nsh_strvec_push(&p.argv, dir);
	p.timeout_ms = 120000;
	if (nsh_proc_run(&p, &err)) {
		fprintf(stderr, "pgcluster: %s\n", err.msg);
	} else if (p.exit_code == 3) {
		nsh_buf_trim(&p.err);
		*ret_why = strdup(p.err.buf);
		rc = 1;
	} else if (p.exit_code != 0) {
		fprintf(stderr, "pgcluster start failed (exit %d):\n%s", p.exit_code, p.err.buf);
	} else {
		nsh_buf_trim(&p.out);
		*ret_url = strdup(p.out.buf);
		*ret_dir = dir;
		dir = NULL;
		rc = 0;
	}
	nsh_proc_release(&p);
	free(script);
	free(dir);
	return rc;
}

static inline void pgc_stop(const char *dir)
{
	char *script = pgc_script();
	const char *argv[] = {"sh", script, "stop", dir, NULL};
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_proc_run_argv(argv, NULL, NULL, &err))
		fprintf(stderr, "pgcluster stop: %s\n", err.msg);
	free(script);
}

#endif
