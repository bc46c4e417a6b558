/*
 * The steps of one job (one repository). Each step may run again after a
 * crash, so each starts from what the recorded steps before it made: the
 * workspace is re-cloned, a commit carrying the job's trailers is reused,
 * a push of the same commit and the opening of a pull request the job
 * already has change nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "forge/forge.h"
#include "forge/git.h"
#include "orch/feedback.h"
#include "orch/orch_int.h"
#include "sandbox/sandbox.h"
#include "secrets/secrets.h"
#include "store/store.h"
#include "task/task.h"
#include "verify/verify.h"

#include "core/banned.h"

/* ---- small helpers ---- */

static const struct nsh_recipe *job_recipe(struct nsh_job_run *jr, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_task_rec *t = nsh_job_run_task(jr);
	struct nsh_task_rec now = {0};
	const char *id = t->recipe;

	if (oj->recipe)
		return oj->recipe;
	if (orch_is_llm(jr))
		return orch_llm_recipe(jr);
	/* the plan chose it after this job's copy of the task row was read */
	if (!id && !nsh_store_task_get(nsh_job_run_store(jr), t->id, &now, NULL))
		id = now.recipe;
	if (orch_recipe(nsh_job_run_ctx(jr), id, &oj->recipe, err))
		oj->recipe = NULL;
	nsh_task_rec_release(&now);
	return oj->recipe;
}

json_t *orch_latest(struct nsh_job_run *jr, const char *name)
{
	for (int64_t a = nsh_job_run_attempt(jr); a >= 0; a--) {
		json_t *v = nsh_job_run_result(jr, a, name);

		if (v)
			return v;
	}
	return NULL;
}

/*
 * A string member of a recorded result, copied; NULL when absent. @attempt
 * < 0: the newest result at the job's attempt or before.
 */
static char *result_str(struct nsh_job_run *jr, int64_t attempt, const char *step, const char *key)
{
	json_t *r = attempt < 0 ? orch_latest(jr, step) : nsh_job_run_result(jr, attempt, step);
	const char *v = json_string_value(json_object_get(r, key));
	char *copy = v ? nsh_xstrdup(v) : NULL;

	json_decref(r);
	return copy;
}

/* An argv array member of a recorded result into @out (NULL-terminated); false when absent. */
static bool result_argv(json_t *r, const char *key, struct nsh_strvec *out)
{
	json_t *a = json_object_get(r, key), *v;
	size_t i;

	if (!json_array_size(a))
		return false;
	json_array_foreach(a, i, v) if (json_string_value(v))
		nsh_strvec_push(out, json_string_value(v));
	return out->nr > 0;
}

static json_t *argv_json(const char *const *argv)
{
	json_t *a = json_array();

	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

/* ---- provisioning ---- */

/*
 * The workspace's .git/info/exclude at @path: node_modules is never part of
 * a change. Written in place without an fsync (the clone itself is made
 * again after a crash, so nothing here needs to be durable).
 */
static int write_exclude(const char *path, struct nsh_err *err)
{
	static const char text[] = "node_modules/\n";
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int rc = 0;

	if (fd < 0 && errno == ENOENT) {
		/* a clone made without git's template has no .git/info */
		char *dir = nsh_xstrdup(path);

		*strrchr(dir, '/') = '\0';
		if (mkdir(dir, 0755) == 0 || errno == EEXIST)
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
				  0644);
		free(dir);
	}
	ssize_t n = fd < 0 ? -1 : write(fd, text, sizeof(text) - 1);

	if (n != (ssize_t)(sizeof(text) - 1))
		rc = nsh_err_sys(err, n < 0 ? errno : EIO, "cannot write '%s'", path);
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = nsh_err_sys(err, errno, "cannot write '%s'", path);
	return rc;
}

static int step_clone(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_recipe *r = job_recipe(jr, err);
	struct nsh_forge *f = NULL;
	char base[NSH_FORGE_SHA_MAX + 1];
	char *org = NULL, *name = NULL, *branch = NULL, *exclude = NULL, *base_branch = NULL;
	int64_t t0;
	int rc;

	if (!r)
		return err->code;
	rc = orch_split_repo(j->repo, &org, &name, err);
	t0 = nsh_time_mono_ms();
	if (!rc)
		rc = orch_forge(o, nsh_job_run_store(jr), j->repo, &f, err);
	orch_time_part(oj, "forge_open", t0);
	if (rc)
		goto out;
	/* a clone left by an interrupted run is made again */
	t0 = nsh_time_mono_ms();
	rc = orch_ws_make(jr, err);
	orch_time_part(oj, "workspace", t0);
	t0 = nsh_time_mono_ms();
	/*
	 * The forge's default branch, checked out as the job's branch; its
	 * name and commit come back. The local forge copies objects, never
	 * hard links: the sandbox must not reach its files.
	 */
	branch = nsh_xasprintf("nightshift/%s/%s", j->task_id, r->id);
	if (!rc)
		rc = nsh_forge_workspace(f, org, name, branch, oj->ws, base, &base_branch, err);
	orch_time_part(oj, "forge_clone", t0);
	exclude = nsh_xasprintf("%s/.git/info/exclude", oj->ws);
	if (!rc)
		rc = write_exclude(exclude, err);
	if (!rc)
		rc = nsh_store_job_set_branch(nsh_job_run_store(jr), j->id, branch, err);
	if (rc)
		goto out;
	json_object_set_new(result, "branch", json_string(branch));
	json_object_set_new(result, "base", json_string(base));
	json_object_set_new(result, "base_branch", json_string(base_branch));
	json_object_set_new(result, "summary", nsh_json_string_lossy(base, 12));
out:
	free(exclude);
	free(branch);
	free(base_branch);
	free(org);
	free(name);
	nsh_forge_close(f);
	return rc;
}

/* The test command of a package.json's "test" script, for TAP output. */
static void test_command(const char *script, json_t *result)
{
	const char *const node_test[] = {"node", "--test", "--test-reporter=tap", NULL};
	const char *const npm_test[] = {"npm", "test", "--silent", NULL};

	if (!script)
		return;
	if (!strncmp(script, "node --test", 11) && !strpbrk(script + 11, "&|;<>$`")) {
		json_t *a = argv_json(node_test);
		char *rest = nsh_xstrdup(script + 11), *save = NULL;

		/* extra arguments (file patterns) kept, in order */
		for (char *w = strtok_r(rest, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			json_array_append_new(a, json_string(w));
		free(rest);
		json_object_set_new(result, "test", a);
		json_object_set_new(result, "format", json_string("tap"));
	} else {
		json_object_set_new(result, "test", argv_json(npm_test));
		json_object_set_new(result, "format", json_string("exit-code"));
	}
}

static int step_detect(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	const char *const ci[] = {"npm", "ci", "--ignore-scripts", NULL};
	const char *const install[] = {"npm", "install", "--ignore-scripts", NULL};
	struct orch_job *oj = orch_job_of(jr);
	struct nsh_buf b = NSH_BUF_INIT;
	json_t *manifest = NULL;
	const char *script = NULL;
	struct stat st;
	bool locked;
	int rc;

	/* the checkout is the repository's: package.json may be a link out of it */
	rc = nsh_below_read(oj->ws, "package.json", &b, (size_t)4 << 20, err);
	if (rc == NSH_EDENIED)
		goto out;
	if (rc) {
		nsh_err_set(err, NSH_EINVAL,
			    "no readable package.json: the recipe brain handles npm repositories");
		goto out;
	}
	rc = nsh_json_parse(b.buf, b.len, &manifest, err);
	if (rc) {
		nsh_err_wrap(err, "package.json");
		goto out;
	}
	script = json_string_value(json_object_get(json_object_get(manifest, "scripts"), "test"));
	json_object_set_new(result, "ecosystem", json_string("npm"));
	locked = !nsh_below_lstat(oj->ws, "package-lock.json", &st) && S_ISREG(st.st_mode);
	json_object_set_new(result, "install", argv_json(locked ? ci : install));
	json_object_set_new(result, "fallback", argv_json(install));
	test_command(script, result);
	json_object_set_new(result, "summary",
			    json_string(script ? "npm, tests with the package's test script"
					       : "npm, no test script"));
	oj->ws_kept = true; /* read only */
out:
	json_decref(manifest);
	nsh_buf_release(&b);
	return rc;
}

/* Install the dependencies: the detected command, then the fallback. */
static int install(struct nsh_job_run *jr, const char *log, json_t *result, struct nsh_err *err)
{
	json_t *det = orch_latest(jr, "detect");
	struct nsh_strvec first = NSH_STRVEC_INIT, second = NSH_STRVEC_INIT;
	struct nsh_sandbox_cmd c;
	int rc;

	nsh_sandbox_cmd_init(&c);
	if (!result_argv(det, "install", &first) || !result_argv(det, "fallback", &second)) {
		rc = nsh_err_set(err, NSH_EINVAL, "the detect step recorded no install command");
		goto out;
	}
	rc = orch_exec(jr, (const char *const *)first.v, ORCH_INSTALL_MS, log, &c, err);
	if (!rc && c.exit_code != 0 && strcmp(first.v[1], second.v[1])) {
		/* a lock file npm ci refuses (drift): npm install repairs it */
		nsh_sandbox_cmd_release(&c);
		nsh_sandbox_cmd_init(&c);
		json_object_set_new(result, "fallback_used", json_true());
		rc = orch_exec(jr, (const char *const *)second.v, ORCH_INSTALL_MS, log, &c, err);
	}
	if (rc)
		goto out;
	json_object_set_new(result, "exit", json_integer(c.exit_code));
	json_object_set_new(result, "elapsed_ms", json_integer(c.elapsed_ms));
	if (c.exit_code != 0) {
		char *tail = orch_excerpt(&c, ORCH_EXCERPT);

		rc = nsh_err_set(err, NSH_EFAIL, "the install failed (exit %d): %s", c.exit_code,
				 tail);
		free(tail);
		goto out;
	}
	json_object_set_new(result, "summary",
			    json_string(json_is_true(json_object_get(result, "fallback_used"))
						? "installed (npm install)"
						: "installed"));
out:
	nsh_sandbox_cmd_release(&c);
	nsh_strvec_release(&first);
	nsh_strvec_release(&second);
	json_decref(det);
	return rc;
}

static int step_install(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	return install(jr, "install", result, err);
}

/*
 * Run the tests; the report goes into @result ("report", "summary") and
 * @rep, the coverage this run wrote (if any) into @cov (zeroed). With no
 * test command, "none" is set. A run that does not finish its TAP stream
 * counts as a failure of the run itself.
 */
static int run_tests(struct nsh_job_run *jr, const char *log, json_t *result,
		     struct nsh_test_report *rep, struct nsh_verify_coverage *cov,
		     struct nsh_err *err)
{
	json_t *det = orch_latest(jr, "detect");
	struct nsh_strvec argv = NSH_STRVEC_INIT;
	const char *format = json_string_value(json_object_get(det, "format"));
	bool tap = format && !strcmp(format, "tap");
	struct nsh_verify_cov_snap snap = {0};
	struct nsh_sandbox_cmd c;
	char summary[160];
	int rc = 0;

	nsh_sandbox_cmd_init(&c);
	if (!result_argv(det, "test", &argv)) {
		json_object_set_new(result, "none", json_true());
		json_object_set_new(result, "summary", json_string("no test script"));
		goto out;
	}
	/* the coverage files as they are: only those this run writes count */
	orch_check_cov_snap(jr, &snap);
	rc = orch_exec(jr, (const char *const *)argv.v, ORCH_TEST_MS, log, &c, err);
	if (rc)
		goto out;
	nsh_verify_cov_read_new(orch_job_of(jr)->ws, &snap, tap ? c.out.buf : NULL,
				tap ? c.out.len : 0, cov);
	if (tap) {
		nsh_verify_parse_tap(c.out.buf, c.out.len, rep);
	} else {
		/* one test: the whole script */
		NSH_ALLOC_GROW(rep->v, 1, rep->alloc);
		memset(&rep->v[0], 0, sizeof(rep->v[0]));
		rep->v[0].name = nsh_xstrdup("npm test");
		rep->v[0].status = c.exit_code ? NSH_TEST_FAIL : NSH_TEST_PASS;
		rep->nr = 1;
		rep->passed = !c.exit_code;
		rep->failed = !!c.exit_code;
		rep->complete = true;
	}
	json_object_set_new(result, "report", nsh_test_report_to_json(rep));
	json_object_set_new(result, "exit", json_integer(c.exit_code));
	json_object_set_new(result, "elapsed_ms", json_integer(c.elapsed_ms));
	if (!rep->complete) {
		char *tail = orch_excerpt(&c, 400);

		json_object_set_new(result, "incomplete",
				    nsh_json_string_lossy(tail, strlen(tail)));
		free(tail);
	}
	snprintf(summary, sizeof(summary), "%lld passed, %lld failed%s%s", (long long)rep->passed,
		 (long long)rep->failed, rep->skipped ? ", some skipped" : "",
		 rep->complete ? "" : " (the run did not finish)");
	json_object_set_new(result, "summary", json_string(summary));
out:
	nsh_verify_cov_snap_release(&snap);
	nsh_sandbox_cmd_release(&c);
	nsh_strvec_release(&argv);
	json_decref(det);
	return rc;
}

static int step_baseline(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct nsh_test_report rep = {0};
	struct nsh_verify_coverage cov = {0};
	int rc = run_tests(jr, "baseline", result, &rep, &cov, err);

	if (!rc)
		rc = orch_check_baseline(jr, &rep, &cov, result, err);
	nsh_verify_coverage_release(&cov);
	nsh_test_report_release(&rep);
	return rc;
}

/* ---- the change ---- */

/*
 * The alternatives tried, in order: attempt 0 takes every default; attempt
 * n takes the n-th non-default alternative (in recipe order) alone.
 */
static bool attempt_pick(const struct nsh_recipe *r, int64_t attempt, struct nsh_recipe_pick *pick)
{
	int64_t n = 0;

	for (size_t i = 0; i < r->nchoices; i++) {
		for (size_t k = 0; k < r->choices[i].nalts; k++) {
			if (!strcmp(r->choices[i].alts[k].id, r->choices[i].def))
				continue;
			if (++n == attempt) {
				pick->choice = r->choices[i].id;
				pick->alt = r->choices[i].alts[k].id;
				return true;
			}
		}
	}
	return false;
}

/* How many attempts the recipe offers: one plus its non-default alternatives. */
static int64_t attempts_offered(const struct nsh_recipe *r)
{
	int64_t n = 1;

	for (size_t i = 0; i < r->nchoices; i++)
		n += (int64_t)r->choices[i].nalts - 1;
	return n;
}

/*
 * The alternatives a run takes: those its rules step chose (review
 * feedback, learned preferences), and on a retry the retry's alternative
 * unless it is for a choice the rules set. At most one pick per choice.
 */
static void run_picks(struct nsh_job_run *jr, const struct nsh_recipe *r,
		      struct nsh_recipe_pick *picks, size_t *ret_n)
{
	int64_t attempt = nsh_job_run_attempt(jr), at;
	json_t *rules = orch_rules_result(jr, attempt, &at), *p;
	struct nsh_recipe_pick retry;
	size_t i, n = 0;

	json_array_foreach(json_object_get(rules, "picks"), i, p)
	{
		const char *choice = json_string_value(json_object_get(p, "choice"));
		const char *alt = json_string_value(json_object_get(p, "alt"));

		/* names from the recipe, which outlives the run */
		for (size_t c = 0; choice && alt && c < r->nchoices && n < r->nchoices; c++) {
			if (strcmp(r->choices[c].id, choice))
				continue;
			for (size_t k = 0; k < r->choices[c].nalts; k++) {
				if (!strcmp(r->choices[c].alts[k].id, alt)) {
					picks[n].choice = r->choices[c].id;
					picks[n++].alt = r->choices[c].alts[k].id;
				}
			}
		}
	}
	if (attempt - (at < 0 ? 0 : at) > 0 &&
	    attempt_pick(r, attempt - (at < 0 ? 0 : at), &retry)) {
		bool set = false;

		for (i = 0; i < n; i++)
			if (!strcmp(picks[i].choice, retry.choice))
				set = true;
		if (!set && n < r->nchoices)
			picks[n++] = retry;
	}
	json_decref(rules);
	*ret_n = n;
}

int64_t orch_retry_of(struct nsh_job_run *jr)
{
	int64_t attempt = nsh_job_run_attempt(jr), at;
	json_t *rules = orch_rules_result(jr, attempt, &at);

	json_decref(rules);
	return attempt - (at < 0 ? 0 : at);
}

static int recipe_run(struct nsh_job_run *jr, bool dry_run, json_t *result,
		      struct nsh_recipe_result *res, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_recipe *r = job_recipe(jr, err);
	struct nsh_recipe_pick *picks;
	struct nsh_recipe_options opt = {0};
	size_t n = 0;
	int rc;

	if (!r)
		return err->code;
	picks = nsh_xcalloc(r->nchoices + 1, sizeof(*picks));
	run_picks(jr, r, picks, &n);
	opt.picks = picks;
	opt.npicks = n;
	opt.dry_run = dry_run;
	opt.scratch = true; /* the workspace: a crash makes it again */
	rc = nsh_recipe_apply(r, oj->ws, &opt, res, err);
	if (!rc)
		json_object_set_new(result, "recipe", nsh_recipe_result_to_json(r, res));
	free(picks);
	return rc;
}

static int step_research(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct nsh_recipe_result res = {0};
	char summary[200];
	int rc;

	if (orch_is_llm(jr))
		return orch_llm_research(jr, result, err);
	rc = recipe_run(jr, true, result, &res, err);
	orch_job_of(jr)->ws_kept = true; /* a dry run: nothing written */
	if (!rc) {
		snprintf(summary, sizeof(summary),
			 "%zu changes planned in %zu files, %zu to review, %zu manifest edits",
			 res.nchanges, res.nfiles, res.nreviews, res.nmedits);
		json_object_set_new(result, "summary", json_string(summary));
	}
	nsh_recipe_result_release(&res);
	return rc;
}

/*
 * Whether the workspace @ws is at commit @base with nothing changed: no
 * staged or unstaged change, no untracked file that is not ignored (what
 * "reset --hard" and "clean -fd" would undo). One git run; false when it
 * fails.
 */
static bool at_base(const char *ws, const char *base)
{
	struct nsh_buf b = NSH_BUF_INIT;
	const char *oid = "# branch.oid ";
	bool yes = false;

	if (!nsh_git(ws, &b, NULL, "status", "--porcelain=v2", "--branch", "-z",
		     "--untracked-files=normal", "--ignore-submodules=none", NULL)) {
		yes = true;
		/* NUL-separated records: the "# branch." headers and one per change */
		for (size_t i = 0; i < b.len; i += strlen(b.buf + i) + 1) {
			const char *rec = b.buf + i;

			if (!strncmp(rec, oid, strlen(oid)))
				yes = yes && !strcmp(rec + strlen(oid), base);
			else if (strncmp(rec, "# ", 2))
				yes = false;
		}
		yes = yes && memmem(b.buf, b.len, oid, strlen(oid));
	}
	nsh_buf_release(&b);
	return yes;
}

static int step_change(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	struct nsh_recipe_result res = {0};
	char *base = result_str(jr, -1, "clone", "base");
	char summary[240];
	int64_t t0;
	int rc = 0;

	if (orch_is_llm(jr)) {
		free(base);
		return orch_llm_change(jr, result, err);
	}
	/* every attempt starts from the base commit (node_modules is ignored, kept) */
	if (!base)
		rc = nsh_err_set(err, NSH_EINVAL, "the clone step recorded no base commit");
	/*
	 * The first change of this run usually finds the clone as it was
	 * made (install and baseline leave it alone): one look, no reset.
	 */
	if (!rc && (oj->changed || !at_base(oj->ws, base))) {
		rc = nsh_git(oj->ws, NULL, err, "reset", "--quiet", "--hard", base, NULL);
		if (!rc)
			rc = nsh_git(oj->ws, NULL, err, "clean", "--quiet", "-fd", NULL);
	}
	t0 = nsh_time_mono_ms();
	if (!rc)
		rc = recipe_run(jr, false, result, &res, err);
	orch_time_part(oj, "recipe", t0);
	if (rc)
		goto out;
	/* from the base commit, in this run: the commit step has no earlier commit to find */
	oj->changed = nsh_job_run_attempt(jr) + 1;
	if (!res.applicable) {
		nsh_job_run_finish(jr, NSH_JOB_CLOSED, res.reason ? res.reason : "does not apply");
		snprintf(summary, sizeof(summary), "nothing to do: %s",
			 res.reason ? res.reason : "the recipe does not apply");
	} else if (!res.nfiles && !res.nmedits) {
		nsh_job_run_finish(jr, NSH_JOB_CLOSED, "the change makes no difference here");
		snprintf(summary, sizeof(summary), "no change needed: no pull request");
	} else {
		snprintf(summary, sizeof(summary), "%zu changes in %zu files, %zu to review",
			 res.nchanges, res.nfiles, res.nreviews);
	}
	for (size_t i = 0; i < res.ntaken; i++)
		if (!res.taken[i].is_default)
			snprintf(summary + strlen(summary), sizeof(summary) - strlen(summary),
				 " (%s: %s)", res.taken[i].choice->id, res.taken[i].alt->id);
	json_object_set_new(result, "summary", json_string(summary));
out:
	nsh_recipe_result_release(&res);
	free(base);
	return rc;
}

/* Refresh the lock file and node_modules when the manifest changed. */
static int step_reinstall(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	json_t *change = nsh_job_run_result(jr, nsh_job_run_attempt(jr), "change");
	json_t *medits = json_object_get(json_object_get(change, "recipe"), "manifest");
	json_t *post = json_object_get(json_object_get(change, "recipe"), "post");
	json_t *v;
	size_t i;
	int rc = 0;

	if (!json_array_size(medits)) {
		json_object_set_new(result, "summary", json_string("no manifest change"));
		goto out;
	}
	json_array_foreach(post, i, v)
	{
		struct nsh_strvec argv = NSH_STRVEC_INIT;
		struct nsh_sandbox_cmd c;

		if (!result_argv(v, "run", &argv))
			continue;
		nsh_sandbox_cmd_init(&c);
		rc = orch_exec(jr, (const char *const *)argv.v, ORCH_INSTALL_MS, "post", &c, err);
		if (!rc && c.exit_code != 0) {
			char *tail = orch_excerpt(&c, ORCH_EXCERPT);

			rc = nsh_err_set(err, NSH_EFAIL, "post step '%s' failed (exit %d): %s",
					 argv.v[0], c.exit_code, tail);
			free(tail);
		}
		nsh_sandbox_cmd_release(&c);
		nsh_strvec_release(&argv);
		if (rc)
			goto out;
	}
	rc = install(jr, "reinstall", result, err);
out:
	json_decref(change);
	return rc;
}

/* ---- verification ---- */

/* "checks failed: secrets, integrity" from the result of orch_check_after(). */
static void checks_summary(json_t *result, char *buf, size_t size)
{
	json_t *ids = json_object_get(result, "checks_failed"), *id;
	size_t i, len;

	snprintf(buf, size, "checks failed:");
	json_array_foreach(ids, i, id)
	{
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s %s", i ? "," : "", json_string_value(id));
	}
}

static int step_verify(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	const struct nsh_recipe *r = job_recipe(jr, err);
	struct nsh_test_report before = {0}, after = {0};
	struct nsh_verify_coverage cov = {0};
	struct nsh_test_diff diff = {NSH_STRVEC_INIT, NSH_STRVEC_INIT, NSH_STRVEC_INIT,
				     NSH_STRVEC_INIT};
	json_t *base = orch_latest(jr, "baseline");
	int64_t attempt = orch_retry_of(jr), limit, t0;
	char summary[400];
	bool green, none, checks_failed = false;
	int rc;

	if (!r) {
		rc = err->code;
		goto out;
	}
	rc = run_tests(jr, "verify", result, &after, &cov, err);
	none = json_is_true(json_object_get(result, "none"));
	t0 = nsh_time_mono_ms();
	if (!rc)
		rc = orch_check_after(jr, r, none ? NULL : &after, &cov, result, &checks_failed,
				      err);
	orch_time_part(orch_job_of(jr), "checks", t0);
	if (rc)
		goto out;
	/* the baseline's failing tests, as recorded */
	if (!none) {
		json_t *failing = json_object_get(json_object_get(base, "report"), "failing"), *f;
		size_t i;

		json_array_foreach(failing, i, f)
		{
			const char *name = json_string_value(json_object_get(f, "name"));

			if (!name)
				continue;
			NSH_ALLOC_GROW(before.v, before.nr + 1, before.alloc);
			memset(&before.v[before.nr], 0, sizeof(before.v[0]));
			before.v[before.nr].name = nsh_xstrdup(name);
			before.v[before.nr++].status = NSH_TEST_FAIL;
		}
	}
	if (!none) {
		nsh_verify_compare(&before, &after, &diff);
		/* tests that passed before are not in @before: "missing" means nothing here */
		nsh_strvec_release(&diff.missing);
		json_object_set_new(result, "diff", nsh_test_diff_to_json(&diff));
	}
	green = (none || (after.complete && !diff.newly_failing.nr));
	if (green && checks_failed)
		checks_summary(result, summary, sizeof(summary));
	green = green && !checks_failed;
	json_object_set_new(result, "passed", json_boolean(green));
	if (orch_is_llm(jr)) {
		rc = orch_llm_verify(jr, result, green, err);
		goto out;
	}
	if (green && none)
		goto out;
	if (green) {
		snprintf(summary, sizeof(summary),
			 "all tests pass (%lld passed, %zu fixed, %zu "
			 "failing before and after)",
			 (long long)after.passed, diff.fixed.nr, diff.still_failing.nr);
		json_object_set_new(result, "summary", json_string(summary));
		goto out;
	}
	if (!checks_failed || diff.newly_failing.nr || !after.complete)
		snprintf(summary, sizeof(summary), "%zu newly failing%s%s", diff.newly_failing.nr,
			 diff.newly_failing.nr ? ": " : "",
			 diff.newly_failing.nr ? diff.newly_failing.v[0]
					       : " (the test run did not finish)");
	limit = attempts_offered(r) < o->max_attempts ? attempts_offered(r) : o->max_attempts;
	if (attempt + 1 < limit) {
		struct nsh_recipe_pick pick;

		attempt_pick(r, attempt + 1, &pick);
		snprintf(summary + strlen(summary), sizeof(summary) - strlen(summary),
			 "; retrying with %s: %s", pick.choice, pick.alt);
		nsh_job_run_goto(jr, "change", true);
	} else {
		snprintf(summary + strlen(summary), sizeof(summary) - strlen(summary),
			 "; %lld attempts failed: draft pull request for human review",
			 (long long)attempt + 1);
		json_object_set_new(result, "exhausted", json_true());
	}
	json_object_set_new(result, "summary", nsh_json_string_lossy(summary, strlen(summary)));
out:
	nsh_test_diff_release(&diff);
	nsh_test_report_release(&before);
	nsh_test_report_release(&after);
	nsh_verify_coverage_release(&cov);
	json_decref(base);
	return rc;
}

/* ---- publishing ---- */

static bool exhausted(struct nsh_job_run *jr)
{
	json_t *v = nsh_job_run_result(jr, nsh_job_run_attempt(jr), "verify");
	bool yes = json_is_true(json_object_get(v, "exhausted"));

	json_decref(v);
	return yes;
}

/*
 * A change that carries the value of one of the job's secrets never
 * becomes a commit (nor a pull request): the job fails naming the secret
 * and where it is, never the value.
 */
static int refuse_secrets(struct nsh_job_run *jr, struct orch_job *oj, struct nsh_err *err)
{
	struct nsh_redact_hits hits = {0};
	struct nsh_buf diff = NSH_BUF_INIT;
	int rc;

	nsh_buf_init(&diff, (size_t)256 << 20);
	rc = orch_secrets(jr, oj, err);
	if (!rc && !oj->env->nr)
		goto out;
	if (!rc)
		rc = nsh_git(oj->ws, &diff, err, "diff", "--cached", "--no-color", "--text", NULL);
	if (!rc)
		rc = nsh_redact_scan(oj->red, diff.buf, diff.len, &hits, err);
	if (!rc && hits.nr)
		rc = nsh_err_set(err, NSH_EDENIED,
				 "the change contains the value of secret '%s' (%s:%zu); no commit "
				 "and no pull request",
				 hits.v[0].name, hits.v[0].file ? hits.v[0].file : "diff",
				 hits.v[0].file ? hits.v[0].file_line : hits.v[0].line);
out:
	nsh_redact_hits_release(&hits);
	nsh_buf_release(&diff);
	return rc;
}

/*
 * Fetch the job's branch as the forge has it now into the workspace as
 * refs/nightshift/published; *@ret_found false when it has none.
 */
static int fetch_published(struct nsh_job_run *jr, struct orch_job *oj, bool *ret_found,
			   struct nsh_err *err)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	char *branch = result_str(jr, -1, "clone", "branch");
	char *tmp = nsh_xasprintf("%s/published", oj->dir);
	struct nsh_forge *f = NULL;
	struct nsh_err cerr = NSH_ERR_INIT;
	char *org = NULL, *name = NULL, *spec = NULL;
	int rc;

	*ret_found = false;
	rc = orch_split_repo(j->repo, &org, &name, err);
	if (!rc)
		rc = orch_forge(nsh_job_run_ctx(jr), nsh_job_run_store(jr), j->repo, &f, err);
	if (rc || !branch)
		goto out;
	/* a clone of the branch alone, whatever the forge, then fetched from */
	nsh_fs_remove_tree(tmp, NULL);
	if (nsh_forge_clone(f, org, name, branch, tmp, &cerr))
		goto out; /* no such branch */
	spec = nsh_xasprintf("+refs/heads/%s:refs/nightshift/published", branch);
	rc = nsh_git(oj->ws, NULL, err, "fetch", "--quiet", "--no-tags", tmp, spec, NULL);
	*ret_found = !rc;
out:
	nsh_fs_remove_tree(tmp, NULL);
	nsh_forge_close(f);
	free(branch);
	free(tmp);
	free(org);
	free(name);
	free(spec);
	return rc;
}

int orch_take_published(struct nsh_job_run *jr, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	bool found = false;
	int rc = fetch_published(jr, oj, &found, err);

	if (!rc && found)
		rc = nsh_git(oj->ws, NULL, err, "reset", "--quiet", "--hard",
			     "refs/nightshift/published", NULL);
	return rc;
}

/*
 * A revision replaces the branch that nightshift pushed before. Commits
 * that a person added on top of that push are kept: they are picked onto
 * the new commit, in order. When they do not apply, or the branch was
 * rewritten, nothing is pushed and a person decides (*@ret_ask).
 */
static int keep_people_commits(struct nsh_job_run *jr, struct orch_job *oj, json_t *result,
			       bool *ret_ask, struct nsh_err *err)
{
	char *ours = result_str(jr, -1, "push", "sha");
	struct nsh_buf head = NSH_BUF_INIT, list = NSH_BUF_INIT;
	struct nsh_err gerr = NSH_ERR_INIT;
	char *range = NULL;
	bool found = false;
	int rc = 0;

	*ret_ask = false;
	if (!ours)
		goto out; /* the first push: nothing of anyone's to keep */
	rc = fetch_published(jr, oj, &found, err);
	if (rc || !found)
		goto out; /* the branch is gone: nothing to keep */
	rc = nsh_git(oj->ws, &head, err, "rev-parse", "refs/nightshift/published", NULL);
	if (rc)
		goto out;
	nsh_buf_trim(&head);
	/* unchanged since our push, or the work was made on top of it (llm revisions) */
	if (!strcmp(head.buf, ours) ||
	    !nsh_git(oj->ws, NULL, &gerr, "merge-base", "--is-ancestor", head.buf, "HEAD", NULL))
		goto out;
	if (nsh_git(oj->ws, NULL, &gerr, "merge-base", "--is-ancestor", ours, head.buf, NULL)) {
		json_object_set_new(result, "people", json_string("rewritten"));
		*ret_ask = true;
		goto out;
	}
	range = nsh_xasprintf("%s..%s", ours, head.buf);
	rc = nsh_git(oj->ws, &list, err, "rev-list", "--reverse", range, NULL);
	if (rc)
		goto out;
	if (nsh_git(oj->ws, NULL, &gerr, "cherry-pick", "--allow-empty", "--keep-redundant-commits",
		    range, NULL)) {
		nsh_git(oj->ws, NULL, NULL, "cherry-pick", "--abort", NULL);
		json_object_set_new(result, "people", json_string("conflict"));
		*ret_ask = true;
		goto out;
	}
	{
		json_t *kept = json_array();

		for (char *p = list.buf, *nl; p && *p; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			if (*p)
				json_array_append_new(kept, json_string(p));
		}
		json_object_set_new(result, "kept", kept);
	}
out:
	nsh_buf_release(&head);
	nsh_buf_release(&list);
	free(ours);
	free(range);
	return rc;
}

/*
 * The commit that "git commit" (with core.abbrev=no) just made, from the
 * first line of its output, "[BRANCH SHA] TITLE" (or "[BRANCH (root-commit)
 * SHA] TITLE"), into @sha; false when the line does not read so.
 */
static bool commit_of(const struct nsh_buf *made, struct nsh_buf *sha)
{
	const char *end = made->len ? memchr(made->buf, ']', made->len) : NULL;
	const char *sp = end ? memrchr(made->buf, ' ', (size_t)(end - made->buf)) : NULL;
	size_t len = sp ? (size_t)(end - sp - 1) : 0;

	if (!sp || made->buf[0] != '[' || (len != 40 && len != 64) ||
	    strspn(sp + 1, "0123456789abcdef") != len)
		return false;
	nsh_buf_add(sha, sp + 1, len);
	return true;
}

static int step_commit(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_recipe *r = job_recipe(jr, err);
	struct nsh_buf msg = NSH_BUF_INIT, out = NSH_BUF_INIT, made = NSH_BUF_INIT;
	char *trailer = NULL;
	int rc;

	if (!r)
		return err->code;
	trailer = nsh_xasprintf("Nightshift-Attempt: %lld", (long long)nsh_job_run_attempt(jr));
	/*
	 * A commit of this attempt made before a crash is the one. When this
	 * run made the change (from the base commit) there is none to look for.
	 */
	rc = oj->changed == nsh_job_run_attempt(jr) + 1
		     ? 0
		     : nsh_git(oj->ws, &out, err, "log", "-1", "--format=%H%n%B", NULL);
	if (!rc && out.len && strstr(out.buf, j->id) && strstr(out.buf, trailer)) {
		char *nl = strchr(out.buf, '\n');

		if (nl)
			*nl = '\0';
		json_object_set_new(result, "sha", json_string(out.buf));
		json_object_set_new(result, "summary", json_string("committed (before a restart)"));
		goto out;
	}
	nsh_buf_addf(&msg,
		     "%s\n\nMade by nightshift with recipe %s.\n\nNightshift-Task: %s\n"
		     "Nightshift-Job: %s\n%s\n",
		     r->pr_title ? r->pr_title : r->title, r->id, j->task_id, j->id, trailer);
	/* staged by the verify step of this run, else here */
	rc = oj->staged == nsh_job_run_attempt(jr) + 1
		     ? 0
		     : nsh_git(oj->ws, NULL, err, "add", "--all", NULL);
	if (!rc)
		rc = refuse_secrets(jr, oj, err);
	/* the summary line names the new commit in full: "[BRANCH SHA] TITLE" */
	if (!rc) {
		rc = nsh_git(oj->ws, &made, err, "-c", "maintenance.auto=false", "-c",
			     "core.abbrev=no", "commit", "--no-verify", "-m", msg.buf, NULL);
		if (rc == NSH_ETOOBIG) {
			/* made, with a summary past the output cap: looked up below */
			nsh_err_clear(err);
			nsh_buf_reset(&made);
			rc = 0;
		}
	}
	if (!rc) {
		bool ask = false;

		rc = keep_people_commits(jr, oj, result, &ask, err);
		if (!rc && ask) {
			rc = orch_feedback_blocked(
				jr,
				"The branch has commits pushed by a person that this revision "
				"cannot keep (they conflict with it, or the branch was rewritten). "
				"Nothing was overwritten: the pull request stays as it is for a "
				"person to decide.",
				err);
			nsh_job_run_finish(jr, NSH_JOB_NEEDS_HUMAN_REVIEW,
					   "commits pushed by a person on the branch do not go "
					   "with the revision: nothing was overwritten");
			json_object_set_new(result, "summary",
					    json_string("the branch has commits by a person "
							"that the revision cannot keep: a person "
							"decides"));
			goto out;
		}
	}
	nsh_buf_reset(&out);
	/* a revision that kept a person's commits moved HEAD past ours */
	if (!rc && !json_object_get(result, "kept") && commit_of(&made, &out))
		;
	else if (!rc)
		rc = nsh_git(oj->ws, &out, err, "rev-parse", "HEAD", NULL);
	if (rc)
		goto out;
	nsh_buf_trim(&out);
	json_object_set_new(result, "sha", json_string(out.buf));
	if (json_array_size(json_object_get(result, "kept"))) {
		size_t kept = json_array_size(json_object_get(result, "kept"));
		char *sum = nsh_xasprintf("%.12s (keeping %zu commit%s pushed by a person)",
					  out.buf, kept, kept == 1 ? "" : "s");

		json_object_set_new(result, "summary", json_string(sum));
		free(sum);
	} else {
		json_object_set_new(result, "summary", nsh_json_string_lossy(out.buf, 12));
	}
out:
	free(trailer);
	nsh_buf_release(&msg);
	nsh_buf_release(&out);
	nsh_buf_release(&made);
	return rc;
}

static int step_push(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct orch_job *oj = orch_job_of(jr);
	int64_t attempt = nsh_job_run_attempt(jr);
	char *sha = result_str(jr, attempt, "commit", "sha");
	char *branch = result_str(jr, -1, "clone", "branch");
	struct nsh_forge_push_result pr = {{0}};
	struct nsh_forge_push p = {0};
	struct nsh_forge *f = NULL;
	char *org = NULL, *name = NULL;
	int64_t t0;
	int rc;

	oj->ws_kept = true; /* the forge reads the workspace's objects */
	if (!sha || !branch) {
		rc = nsh_err_set(err, NSH_EINVAL, "nothing to push: no commit recorded");
		goto out;
	}
	rc = orch_split_repo(j->repo, &org, &name, err);
	if (!rc)
		rc = orch_forge(nsh_job_run_ctx(jr), nsh_job_run_store(jr), j->repo, &f, err);
	if (rc)
		goto out;
	p.org = org;
	p.repo = name;
	p.workdir = oj->ws;
	p.rev = sha;
	p.branch = branch;
	p.force = true; /* a later attempt replaces the branch of an earlier one */
	p.pusher = j->id;
	t0 = nsh_time_mono_ms();
	rc = nsh_forge_push(f, &p, &pr, err);
	orch_time_part(oj, "forge_push", t0);
	if (rc)
		goto out;
	json_object_set_new(result, "sha", json_string(pr.new_sha));
	json_object_set_new(result, "updated", json_boolean(pr.updated));
	json_object_set_new(
		result, "summary",
		json_string(pr.updated ? "pushed to the forge" : "already in the forge"));
out:
	nsh_forge_close(f);
	free(org);
	free(name);
	free(sha);
	free(branch);
	return rc;
}

static int step_pr(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	const struct nsh_recipe *r = job_recipe(jr, err);
	bool draft = exhausted(jr), existed = false;
	const char *labels[4] = {"nightshift", NULL, NULL, NULL};
	char *branch = result_str(jr, -1, "clone", "branch");
	struct nsh_buf body = NSH_BUF_INIT;
	struct nsh_forge_pr_new n = {0};
	struct nsh_pr_rec pr = {0};
	struct nsh_forge *f = NULL;
	char *org = NULL, *name = NULL, summary[160];
	int64_t t0;
	int rc;

	orch_job_of(jr)->ws_kept = true; /* the forge and the store only */
	if (!r) {
		rc = err->code;
		goto out;
	}
	labels[1] = r->id;
	if (draft)
		labels[2] = "needs-human-review";
	rc = orch_split_repo(j->repo, &org, &name, err);
	if (!rc)
		rc = orch_pr_body(jr, r, draft, &body, err);
	if (!rc && orch_is_llm(jr))
		orch_llm_pr_section(jr, &body);
	if (!rc)
		rc = orch_forge(nsh_job_run_ctx(jr), nsh_job_run_store(jr), j->repo, &f, err);
	if (rc)
		goto out;
	n.org = org;
	n.repo = name;
	n.head = branch;
	n.title = r->pr_title ? r->pr_title : r->title;
	n.body = body.buf;
	n.labels = labels;
	n.draft = draft;
	n.task_id = j->task_id;
	n.job_id = j->id;
	t0 = nsh_time_mono_ms();
	rc = nsh_forge_pr_open(f, &n, &pr, &existed, err);
	orch_time_part(orch_job_of(jr), "forge_pr", t0);
	if (!rc && existed) {
		/* a later attempt of a job with a pull request: bring it up to date */
		struct nsh_forge_ref ref;
		struct nsh_forge_pr_change ch = {.title = n.title,
						 .body = n.body,
						 .set_labels = true,
						 .labels = labels,
						 .state = draft ? "draft" : "open",
						 .by = j->id};

		rc = nsh_forge_ref_set(&ref, org, name, pr.number, err);
		if (!rc)
			rc = nsh_forge_pr_update(f, &ref, &ch, err);
	}
	if (rc)
		goto out;
	{
		char *sha = result_str(jr, nsh_job_run_attempt(jr), "push", "sha");

		rc = orch_feedback_done(jr, sha ? sha : "", draft, err);
		free(sha);
		if (rc)
			goto out;
	}
	json_object_set_new(result, "number", json_integer(pr.number));
	json_object_set_new(result, "draft", json_boolean(draft));
	snprintf(summary, sizeof(summary), "%s/%s#%lld %s", org, name, (long long)pr.number,
		 draft ? (existed ? "updated, a draft for human review"
				  : "opened as a draft for human review")
		       : (existed ? "updated" : "opened"));
	json_object_set_new(result, "summary", json_string(summary));
	nsh_job_run_finish(jr, draft ? NSH_JOB_NEEDS_HUMAN_REVIEW : NSH_JOB_PR_OPEN,
			   draft ? "every attempt failed verification" : NULL);
out:
	nsh_pr_rec_release(&pr);
	nsh_forge_close(f);
	nsh_buf_release(&body);
	free(branch);
	free(org);
	free(name);
	return rc;
}

const struct nsh_step orch_steps[] = {
	{"rules", NSH_JOB_STATE_COUNT, orch_step_rules},
	{"clone", NSH_JOB_PROVISIONING, step_clone},
	{"detect", NSH_JOB_PROVISIONING, step_detect},
	{"install", NSH_JOB_PROVISIONING, step_install},
	{"baseline", NSH_JOB_PROVISIONING, step_baseline},
	{"research", NSH_JOB_RESEARCHING, step_research},
	{"change", NSH_JOB_CODING, step_change},
	{"reinstall", NSH_JOB_CODING, step_reinstall},
	{"verify", NSH_JOB_VERIFYING, step_verify},
	{"commit", NSH_JOB_VERIFYING, step_commit},
	{"push", NSH_JOB_VERIFYING, step_push},
	{"pr", NSH_JOB_VERIFYING, step_pr},
};

const size_t orch_nsteps = sizeof(orch_steps) / sizeof(orch_steps[0]);

/*
 * Where the run's time went, for people and bench/demo: the wall time on
 * this worker against the time in sandboxed commands, and per step its
 * phases, commands and git processes (docs/orchestrator.md). @end_ms: the
 * sandbox's destruction, the rest of the clean-up, and of it the release of
 * the workspace's file system.
 */
static void write_timing(struct orch_job *oj, const int64_t *end_ms)
{
	json_t *v = json_pack("{s:I, s:I, s:I, s:I, s:I}", "wall_ms",
			      (json_int_t)(nsh_time_mono_ms() - oj->start_ms), "cmd_ms",
			      (json_int_t)oj->cmd_ms, "cmds", (json_int_t)oj->execs, "sandbox_ms",
			      (json_int_t)oj->sb_made_ms, "destroy_ms", (json_int_t)end_ms[0]);
	char *path = nsh_xasprintf("%s/timing.json", oj->artifacts), *text;
	json_int_t git = 0, git_ms = 0;
	json_t *s;
	size_t i;

	json_array_foreach(oj->timing, i, s)
	{
		git += json_integer_value(json_object_get(s, "git"));
		git_ms += json_integer_value(json_object_get(s, "git_ms"));
	}
	json_object_set_new(v, "git", json_integer(git));
	json_object_set_new(v, "git_ms", json_integer(git_ms));
	json_object_set_new(v, "cleanup_ms", json_integer(end_ms[1]));
	json_object_set_new(v, "workspace_close_ms", json_integer(end_ms[2]));
	json_object_set(v, "steps", oj->timing);
	text = json_dumps(v, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (text && !nsh_fs_mkdir_p(oj->artifacts, 0700, NULL))
		nsh_fs_write_atomic(path, text, strlen(text), 0600, NULL);
	free(text);
	free(path);
	json_decref(v);
}

void orch_job_end(struct nsh_job_run *jr)
{
	void **slot = nsh_job_run_data(jr);
	struct orch_job *oj = *slot;
	struct nsh_job_rec now = {0};
	enum nsh_job_state js = NSH_JOB_QUEUED;
	int64_t t0, t1, end_ms[3];
	bool busy;

	/* a run with no step left still unmounts (or removes) the workspace image */
	if (!oj && orch_ws_left(jr))
		oj = orch_job_of(jr);
	if (!oj) {
		orch_timing_drop();
		orch_feedback_requeue(jr);
		orch_status(nsh_job_run_ctx(jr), nsh_job_run_store(jr),
			    nsh_job_run_job(jr)->task_id);
		return;
	}
	t0 = nsh_time_mono_ms();
	if (oj->sb)
		nsh_sandbox_destroy(oj->sb, NULL);
	end_ms[0] = nsh_time_mono_ms() - t0;
	/*
	 * A job that stopped working leaves its logs in artifacts/, not its
	 * workspace; one that works on keeps its image for a later run. Both
	 * are released (unmounted, removed) in the background.
	 */
	busy = nsh_store_job_get(nsh_job_run_store(jr), nsh_job_run_job(jr)->id, &now, NULL) ||
	       nsh_job_state_parse(now.state, &js, NULL) || nsh_job_state_busy(js);
	nsh_job_rec_release(&now);
	t1 = nsh_time_mono_ms();
	orch_ws_release(oj, !busy);
	end_ms[2] = nsh_time_mono_ms() - t1;
	free(oj->quota_hit);
	/* the journal's last events, before the redactor it borrows goes */
	nsh_net_journal_job_free(oj->nj, NULL);
	end_ms[1] = nsh_time_mono_ms() - t0 - end_ms[0];
	write_timing(oj, end_ms);
	orch_feedback_requeue(jr);
	orch_status(nsh_job_run_ctx(jr), nsh_job_run_store(jr), nsh_job_run_job(jr)->task_id);
	nsh_redactor_free(oj->red);
	nsh_secrets_env_free(oj->env);
	nsh_strvec_release(&oj->blocked);
	json_decref(oj->timing);
	json_decref(oj->parts);
	pthread_mutex_destroy(&oj->net_mu);
	free(oj->dir);
	free(oj->ws);
	free(oj->artifacts);
	free(oj);
	*slot = NULL;
}
