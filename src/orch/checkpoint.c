/*
 * Limits in the pipeline (docs/limits.md): the checkpoint of a job before
 * its task's deadline, and the measure of a job's storage.
 *
 * A checkpoint saves the work so far where a person sees it, without
 * changing what the job's next step starts from: the workspace (changes and
 * new files, not node_modules) becomes a commit made with commit-tree, so
 * HEAD stays where it was; that commit is pushed to the job's branch and a
 * draft pull request labelled in-progress says so. When the job goes on
 * (before the deadline, or after an extend), its own commit step commits on
 * HEAD as always and its push replaces the checkpoint on the branch; the pr
 * step then turns the same pull request into the finished one.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "forge/forge.h"
#include "forge/git.h"
#include "orch/orch_int.h"
#include "store/store.h"

#include "core/banned.h"

#define MEASURE_MAX_ENTRIES 2000000 /* a walk stops counting after this many entries */
#define MEASURE_MAX_DEPTH   128

/* The recipe (or the llm stand-in) that titles the job's pull request. */
static const struct nsh_recipe *title_recipe(struct nsh_job_run *jr)
{
	const struct nsh_task_rec *t = nsh_job_run_task(jr);
	struct nsh_task_rec now = {0};
	const struct nsh_recipe *r = NULL;

	if (orch_is_llm(jr))
		return orch_llm_recipe(jr);
	if (!nsh_store_task_get(nsh_job_run_store(jr), t->id, &now, NULL) && now.recipe)
		orch_recipe(nsh_job_run_ctx(jr), now.recipe, &r, NULL);
	nsh_task_rec_release(&now);
	return r;
}

/* The body of the in-progress pull request. */
static void wip_body(struct nsh_job_run *jr, const char *sha, struct nsh_buf *b)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct nsh_step_list steps = {0};
	char iso[NSH_TIME_ISO_MAX];

	nsh_buf_addf(b,
		     "**Work in progress.** nightshift saved this job's work before its task's "
		     "deadline (checkpoint at %s, commit %.12s). The work is not finished or "
		     "verified yet.\n\n"
		     "When the task goes on (before the deadline, or after `nightshift extend %s "
		     "DURATION`), the job continues from its last completed step and this pull "
		     "request becomes the finished one.\n",
		     nsh_time_iso8601(nsh_time_now_ms(), iso), sha, j->task_id);
	if (!nsh_store_step_list(nsh_job_run_store(jr), j->task_id, j->id, &steps, NULL) &&
	    steps.nr) {
		nsh_buf_adds(b, "\nSteps completed so far:\n\n");
		for (size_t i = 0; i < steps.nr; i++)
			nsh_buf_addf(b, "- %s (attempt %lld)\n", steps.v[i].name,
				     (long long)steps.v[i].attempt);
	}
	nsh_step_list_release(&steps);
}

int orch_checkpoint(struct nsh_job_run *jr, struct nsh_err *err)
{
	const struct nsh_job_rec *j = nsh_job_run_job(jr);
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_recipe *r = title_recipe(jr);
	const char *labels[] = {"nightshift", "in-progress", NULL};
	struct nsh_buf tree = NSH_BUF_INIT, sha = NSH_BUF_INIT, body = NSH_BUF_INIT;
	struct nsh_forge_push p = {0};
	struct nsh_forge_push_result pres = {{0}};
	struct nsh_forge_pr_new n = {0};
	struct nsh_pr_rec pr = {0};
	struct nsh_forge *f = NULL;
	json_t *clone = nsh_job_run_result(jr, 0, "clone");
	const char *branch = json_string_value(json_object_get(clone, "branch"));
	char *gitdir = nsh_xasprintf("%s/.git", oj->ws), *org = NULL, *name = NULL, *msg = NULL;
	char *title = NULL;
	bool existed = false;
	int rc = 0;

	if (!branch || !nsh_fs_is_dir(gitdir))
		goto out;	 /* not cloned yet: nothing to save */
	oj->ws_measured = false; /* it writes objects: the next measure walks */
	msg = nsh_xasprintf("nightshift checkpoint (work in progress)\n\nNightshift-Task: %s\n"
			    "Nightshift-Job: %s\nNightshift-Checkpoint: yes\n",
			    j->task_id, j->id);
	rc = nsh_git(oj->ws, NULL, err, "add", "--all", NULL);
	if (!rc)
		rc = nsh_git(oj->ws, &tree, err, "write-tree", NULL);
	nsh_buf_trim(&tree);
	if (!rc)
		rc = nsh_git(oj->ws, &sha, err, "commit-tree", tree.buf, "-p", "HEAD", "-m", msg,
			     NULL);
	nsh_buf_trim(&sha);
	if (!rc)
		rc = orch_split_repo(j->repo, &org, &name, err);
	if (!rc)
		rc = orch_forge(nsh_job_run_ctx(jr), nsh_job_run_store(jr),
				nsh_job_run_job(jr)->repo, &f, err);
	if (rc)
		goto out;
	p.org = org;
	p.repo = name;
	p.workdir = oj->ws;
	p.rev = sha.buf;
	p.branch = branch;
	p.force = true;
	p.pusher = j->id;
	rc = nsh_forge_push(f, &p, &pres, err);
	if (rc)
		goto out;
	wip_body(jr, sha.buf, &body);
	title = nsh_xasprintf("[in progress] %s",
			      r ? (r->pr_title ? r->pr_title : r->title) : j->repo);
	n.org = org;
	n.repo = name;
	n.head = branch;
	n.title = title;
	n.body = body.buf;
	n.labels = labels;
	n.draft = true;
	n.task_id = j->task_id;
	n.job_id = j->id;
	rc = nsh_forge_pr_open(f, &n, &pr, &existed, err);
	if (!rc && existed && !strcmp(pr.state, "draft")) {
		struct nsh_forge_ref ref;
		struct nsh_forge_pr_change ch = {.title = title,
						 .body = body.buf,
						 .set_labels = true,
						 .labels = labels,
						 .state = "draft",
						 .by = j->id};

		rc = nsh_forge_ref_set(&ref, org, name, pr.number, err);
		if (!rc)
			rc = nsh_forge_pr_update(f, &ref, &ch, err);
	}
	if (rc)
		goto out;
	orch_say(nsh_job_run_store(jr), j->task_id, j->id, "job.checkpoint",
		 json_pack("{s:s, s:s, s:I, s:b}", "branch", branch, "sha", sha.buf, "pr",
			   (json_int_t)pr.number, "draft", !existed || !strcmp(pr.state, "draft")),
		 "work so far pushed to %s; %s/%s#%lld is a draft marked in progress", branch, org,
		 name, (long long)pr.number);
out:
	if (rc)
		nsh_err_wrap(err, "checkpoint of job '%s'", j->id);
	nsh_pr_rec_release(&pr);
	nsh_forge_close(f);
	nsh_buf_release(&tree);
	nsh_buf_release(&sha);
	nsh_buf_release(&body);
	json_decref(clone);
	free(gitdir);
	free(org);
	free(name);
	free(msg);
	free(title);
	return rc;
}

/*
 * Add the blocks of everything under the directory @fd (taken) on device
 * @dev to *@sum; mounts below are not entered.
 */
static void walk(int fd, dev_t dev, int depth, uint64_t *sum, size_t *entries)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;

	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) && *entries < MEASURE_MAX_ENTRIES) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		(*entries)++;
		*sum += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode) && st.st_dev == dev && depth < MEASURE_MAX_DEPTH) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				walk(sub, dev, depth + 1, sum, entries);
		}
	}
	closedir(d);
}

int orch_measure(struct nsh_job_run *jr, uint64_t *ret_bytes, struct nsh_err *err)
{
	struct orch_job *oj = orch_job_of(jr);
	uint64_t sum = 0;
	size_t entries = 0;
	struct stat st;
	bool kept = oj->ws_kept;
	int fd;

	(void)err;
	/* a step that only read the workspace (see ws_kept) left the last figure true */
	oj->ws_kept = false;
	if (kept && oj->ws_measured) {
		*ret_bytes = oj->ws_bytes;
		return 0;
	}
	fd = open(oj->ws, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		*ret_bytes = 0; /* no workspace yet */
		return 0;
	}
	walk(fd, st.st_dev, 0, &sum, &entries);
	oj->ws_bytes = sum;
	oj->ws_measured = true;
	*ret_bytes = sum;
	return 0;
}
