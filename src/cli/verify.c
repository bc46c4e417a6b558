/*
 * "nightshift verify DIR [--baseline REF] [--json]": the verification
 * pipeline (src/verify/) on any git checkout.
 *
 * Commands run as plain subprocesses in DIR, with the user's environment:
 * the user chose the checkout and runs its tools as they would by hand.
 * (Jobs run the same pipeline inside their sandbox.) With --baseline REF
 * the tests, lint and types also run on REF, checked out from DIR's
 * objects into a temporary directory, so that failing sets and findings
 * can be compared; the diff scanned is REF against DIR's working tree
 * (untracked files included).
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "forge/git.h"
#include "verify/verify.h"

#include "core/banned.h"

#define BODY_MAX ((size_t)1 << 20)

/* Directories of installed dependencies that git does not hold, linked into the baseline. */
static const char *const dep_dirs[] = {"node_modules", ".venv", "venv", NULL};

static const char *mark(enum nsh_verify_status s)
{
	switch (s) {
	case NSH_VERIFY_CHECK_PASS:
		return "ok  ";
	case NSH_VERIFY_CHECK_WARN:
		return "warn";
	case NSH_VERIFY_CHECK_FAIL:
		return "FAIL";
	case NSH_VERIFY_CHECK_ERROR:
		return "ERR ";
	case NSH_VERIFY_CHECK_MISSING:
		return "miss";
	case NSH_VERIFY_CHECK_REVIEW:
		return "rev ";
	case NSH_VERIFY_CHECK_SKIPPED:
		break;
	}
	return "--  ";
}

static void print_text(const char *dir, const struct nsh_verify_result *r)
{
	static const char *const words[] = {
		[NSH_VERIFY_VERDICT_PASS] = "pass",
		[NSH_VERIFY_VERDICT_FAIL] = "FAIL",
		[NSH_VERIFY_VERDICT_REVIEW] = "needs review",
	};

	printf("verification of %s: %s\n", dir, words[r->verdict]);
	for (size_t i = 0; i < r->plan.notes.nr; i++)
		printf("  note: %s\n", r->plan.notes.v[i]);
	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_verify_check *c = &r->v[i];
		size_t shown = 0;

		printf("  %s %-10s %s\n", mark(c->status), c->id, c->evidence ? c->evidence : "");
		if (!strncmp(c->id, "criterion:", 10))
			printf("       %s\n", c->title);
		for (size_t k = 0; k < c->findings.nr; k++) {
			const struct nsh_verify_finding *f = &c->findings.v[k];

			if (f->level == NSH_VERIFY_NOTE)
				continue;
			if (++shown > 20) {
				printf("       ...\n");
				break;
			}
			printf("       ");
			if (f->file && f->line)
				printf("%s:%d: ", f->file, f->line);
			else if (f->file)
				printf("%s: ", f->file);
			if (f->rule)
				printf("[%s] ", f->rule);
			printf("%s%s\n", f->level == NSH_VERIFY_WARNING ? "(warning) " : "",
			       f->message);
		}
	}
}

/* A read-only copy of @sha's tree in @tmp/base, with the dependency directories linked. */
static int checkout_baseline(const char *dir, const char *sha, const char *tmp, char **ret,
			     struct nsh_err *err)
{
	char *base = nsh_xasprintf("%s/base", tmp);
	int rc;

	if ((rc = nsh_git(NULL, NULL, err, "clone", "--quiet", "--shared", "--no-checkout", dir,
			  base, NULL)) ||
	    (rc = nsh_git(base, NULL, err, "-c", "core.fsmonitor=false", "checkout", "--quiet",
			  "--detach", sha, NULL))) {
		free(base);
		return nsh_err_wrap(err, "baseline checkout");
	}
	for (int k = 0; dep_dirs[k]; k++) {
		char *from = nsh_xasprintf("%s/%s", dir, dep_dirs[k]);
		char *to = nsh_xasprintf("%s/%s", base, dep_dirs[k]);

		if (nsh_fs_is_dir(from) && !nsh_fs_exists(to) && symlink(from, to))
			fprintf(stderr, "nightshift: warning: cannot link '%s' into the baseline\n",
				dep_dirs[k]);
		free(from);
		free(to);
	}
	*ret = base;
	return 0;
}

static int read_json_file(const char *path, json_t **ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int rc = nsh_fs_read_file(path, &b, (size_t)4 << 20, err);

	if (!rc)
		rc = nsh_json_parse(b.buf, b.len, ret, err);
	nsh_buf_release(&b);
	return rc ? nsh_err_wrap(err, "'%s'", path) : 0;
}

static int verify_run(struct nsh_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"baseline", required_argument, NULL, 'b'},
		{"json", no_argument, NULL, 'j'},
		{"markdown", no_argument, NULL, 'm'},
		{"criteria", required_argument, NULL, 'c'},
		{"pr-body", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"no-rerun", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_opts o = {0};
	struct nsh_verify_runner runner, base_runner;
	struct nsh_verify_plan base_plan = {0};
	struct nsh_verify_measure before = {0};
	struct nsh_verify_result res = {0};
	struct nsh_buf sha = NSH_BUF_INIT, body = NSH_BUF_INIT;
	const char *baseline = NULL, *criteria_file = NULL, *body_file = NULL;
	char dir[PATH_MAX], *tmp = NULL, *base_dir = NULL;
	json_t *criteria = NULL, *j;
	bool json = false, markdown = false, have_res = false;
	int c, code = NSH_EXIT_FAIL;

	(void)cli;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			baseline = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			markdown = true;
			break;
		case 'c':
			criteria_file = optarg;
			break;
		case 'p':
			body_file = optarg;
			break;
		case 't':
			if (nsh_time_parse_duration(optarg, &o.limits.timeout_ms, &err) ||
			    o.limits.timeout_ms <= 0)
				return nsh_cli_usage(&nsh_cmd_verify, "invalid --timeout '%s'",
						     optarg);
			break;
		case 'n':
			o.no_rerun = true;
			break;
		default:
			return nsh_cli_usage(&nsh_cmd_verify, "unknown option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return nsh_cli_usage(&nsh_cmd_verify, "missing DIR");
	if (optind + 1 < argc)
		return nsh_cli_usage(&nsh_cmd_verify, "unexpected argument '%s'", argv[optind + 1]);
	if (json && markdown)
		return nsh_cli_usage(&nsh_cmd_verify, "--json and --markdown exclude each other");
	if (!realpath(argv[optind], dir) || !nsh_fs_is_dir(dir)) {
		nsh_err_set(&err, NSH_ENOTFOUND, "no directory '%s'", argv[optind]);
		goto fail;
	}
	if (criteria_file && read_json_file(criteria_file, &criteria, &err))
		goto fail;
	if (body_file) {
		nsh_buf_init(&body, BODY_MAX);
		if (nsh_fs_read_file(body_file, &body, BODY_MAX, &err))
			goto fail;
		o.pr_body = body.buf;
	}
	nsh_verify_runner_proc(&runner, dir);
	o.dir = dir;
	o.runner = &runner;
	o.criteria = criteria;
	if (baseline) {
		const char *tdir = getenv("TMPDIR");
		char *spec = nsh_xasprintf("%s^{commit}", baseline);
		int rc = nsh_git(dir, &sha, &err, "rev-parse", "--verify", "--quiet", spec, NULL);

		free(spec);
		if (rc) {
			nsh_err_set(&err, NSH_EINVAL, "no revision '%s' in '%s'", baseline, dir);
			goto fail;
		}
		nsh_buf_trim(&sha);
		tmp = nsh_xasprintf("%s/nsh-verify-XXXXXX", tdir && *tdir ? tdir : "/tmp");
		if (!mkdtemp(tmp)) {
			nsh_err_sys(&err, errno, "cannot make a temporary directory");
			free(tmp);
			tmp = NULL;
			goto fail;
		}
		if (checkout_baseline(dir, sha.buf, tmp, &base_dir, &err) ||
		    nsh_verify_detect(base_dir, &base_plan, &err))
			goto fail;
		nsh_verify_runner_proc(&base_runner, base_dir);
		if (nsh_verify_measure(base_dir, &base_plan, &base_runner, &o.limits, &before,
				       &err))
			goto fail;
		o.base = sha.buf;
		o.baseline = &before;
	}
	if (nsh_verify_run(&o, &res, &err))
		goto fail;
	have_res = true;
	if (json) {
		j = nsh_verify_result_to_json(&res);
		nsh_cli_print_json(j);
		json_decref(j);
	} else if (markdown) {
		struct nsh_buf md = NSH_BUF_INIT;

		nsh_verify_result_markdown(&res, 0, &md);
		fputs(md.buf, stdout);
		nsh_buf_release(&md);
	} else {
		print_text(dir, &res);
	}
	code = res.verdict == NSH_VERIFY_VERDICT_PASS ? NSH_EXIT_OK : NSH_EXIT_FAIL;
	goto out;
fail:
	code = nsh_cli_fail(&err);
out:
	if (tmp) {
		struct nsh_err ignore = NSH_ERR_INIT;

		nsh_fs_remove_tree(tmp, &ignore);
		free(tmp);
	}
	if (have_res)
		nsh_verify_result_release(&res);
	nsh_verify_measure_release(&before);
	nsh_verify_plan_release(&base_plan);
	json_decref(criteria);
	free(base_dir);
	nsh_buf_release(&sha);
	nsh_buf_release(&body);
	return code;
}

const struct nsh_cli_cmd nsh_cmd_verify = {
	.name = "verify",
	.usage = "verify DIR [--baseline REF] [--json | --markdown] [--criteria FILE] "
		 "[--pr-body FILE] [--timeout DUR] [--no-rerun]",
	.summary = "run the verification pipeline (tests, lint, types, scans, integrity, "
		   "coverage, criteria) on a checkout",
	.help = "Detects how DIR builds, tests, lints and type-checks (devfile.yaml, Dockerfile,\n"
		"package.json, Python, Go, Cargo, Maven, a Makefile test target, and\n"
		".nightshift/verify.yml), runs those commands as plain subprocesses in DIR,\n"
		"scans the change for secrets and SQL injection, checks that the tests were not\n"
		"weakened, reads coverage and decides the acceptance criteria.\n"
		"Exit 0 when every check passed, 1 when one failed or needs review.\n"
		"  --baseline REF  also run the commands on REF (in a temporary checkout) and\n"
		"                  compare: newly failing tests (re-run once: flaky or broken),\n"
		"                  new lint and type findings, coverage delta; the diff REF..DIR\n"
		"                  (working tree, untracked files too) is what gets scanned and\n"
		"                  checked for weakened tests. Without it every file is scanned.\n"
		"  --criteria FILE acceptance criteria as JSON (see docs/verify.md)\n"
		"  --pr-body FILE  a pull request body to scan for secrets too\n"
		"  --timeout DUR   per command (default 10m)\n"
		"  --no-rerun      do not run newly failing tests a second time\n"
		"  --json          the whole result as JSON\n"
		"  --markdown      the checklist a pull request body gets\n",
	.run = verify_run,
};
