/*
 * Limits in the pipeline (docs/limits.md): the checkpoint of a job before
 * its task's deadline, and a job's storage: its workspace on a file system
 * of the quota's size where the host can mount one, and the measure.
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

#include "config/limits.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "forge/forge.h"
#include "forge/git.h"
#include "orch/orch_int.h"
#include "sandbox/disk.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define MEASURE_MAX_ENTRIES 2000000 /* a walk stops counting after this many entries */
#define MEASURE_MAX_DEPTH   128
#define WS_IMAGE	    "workspace" NSH_DISK_KEEP_SUFFIX /* in the job's directory */
#define WS_CMD_SHOW	    160 /* bytes of a command line in the quota finding */

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
	uint64_t sum = 0, used, size;
	size_t entries = 0;
	struct stat st;
	bool kept = oj->ws_kept;
	int fd;

	if (oj->quota_hit)
		return nsh_err_set(err, NSH_ETOOBIG, "%s", oj->quota_hit);
	/* a step that only read the workspace (see ws_kept) left the last figure true */
	oj->ws_kept = false;
	if (kept && oj->ws_measured) {
		*ret_bytes = oj->ws_bytes;
		return 0;
	}
	/* on its own file system: what that holds, without a walk */
	if (oj->disk && !nsh_disk_usage(oj->disk, &used, &size, NULL)) {
		oj->ws_bytes = used;
		oj->ws_measured = true;
		*ret_bytes = used;
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

/* ---- the workspace quota ---- */

/* The job's workspace image. Caller frees. */
static char *ws_image(const struct orch_job *oj)
{
	return nsh_xasprintf("%s/%s", oj->dir, WS_IMAGE);
}

void orch_ws_close(struct orch_job *oj)
{
	struct nsh_err err = NSH_ERR_INIT;

	if (oj->disk && nsh_disk_close(oj->disk, &err))
		nsh_log_warn("workspace '%s': %s", oj->ws, err.msg);
	oj->disk = NULL;
}

void orch_ws_release(struct orch_job *oj, bool remove)
{
	nsh_disk_close_later(oj->disk, remove ? oj->dir : NULL);
	oj->disk = NULL;
}

static void *ws_prepare(void *arg)
{
	struct nsh_orch *o = arg;
	struct nsh_err err = NSH_ERR_INIT;
	char *work = nsh_xasprintf("%s/work", o->home);

	/* a failure here is met again, and reported, by the first job's orch_ws_make() */
	if (!nsh_fs_mkdir_p(work, 0700, &err) && nsh_disk_prepare(work, o->prep_bytes, &err))
		nsh_log_debug("workspace template: %s", err.msg);
	free(work);
	return NULL;
}

void orch_ws_prepare(struct nsh_orch *o, uint64_t bytes)
{
	if (!o->ws_quota || !bytes)
		return;
	if (bytes < NSH_DISK_MIN_BYTES)
		bytes = NSH_DISK_MIN_BYTES;
	pthread_mutex_lock(&o->mu);
	if (!o->prep_started) {
		o->prep_bytes = bytes;
		o->prep_started = !pthread_create(&o->prep, NULL, ws_prepare, o);
	}
	pthread_mutex_unlock(&o->mu);
}

int orch_ws_make(struct nsh_job_run *jr, struct nsh_err *err)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_limits *lim = nsh_job_run_limits(jr);
	uint64_t bytes = lim ? lim->storage_per_job : 0;
	struct nsh_err derr = NSH_ERR_INIT;
	char *image;
	int rc;

	orch_ws_close(oj);
	free(oj->quota_hit);
	oj->quota_hit = NULL;
	nsh_disk_wait(oj->dir); /* an earlier run's release (orch_ws_release()) */
	nsh_fs_remove_tree(oj->dir, NULL);
	rc = nsh_fs_mkdir_p(oj->dir, 0700, err);
	if (rc || !o->ws_quota || !bytes)
		return rc;
	if (bytes < NSH_DISK_MIN_BYTES)
		bytes = NSH_DISK_MIN_BYTES;
	image = ws_image(oj);
	rc = nsh_disk_create(image, oj->ws, bytes, geteuid(), getegid(), &oj->disk, &derr);
	free(image);
	if (!rc)
		return 0;
	if (o->ws_quota > 1)
		return nsh_err_set(err, derr.code, "the workspace quota cannot be enforced: %s",
				   derr.msg);
	/* "auto": measured after each step instead, and said so */
	orch_say(nsh_job_run_store(jr), nsh_job_run_job(jr)->task_id, nsh_job_run_job(jr)->id,
		 "job.storage", json_pack("{s:b, s:s}", "enforced", 0, "error", derr.msg),
		 "the workspace quota is not enforced on this host (%s): measured after each "
		 "step",
		 derr.msg);
	return 0;
}

bool orch_ws_left(struct nsh_job_run *jr)
{
	struct nsh_orch *o = nsh_job_run_ctx(jr);
	char *image = nsh_xasprintf("%s/work/%s/%s", o->home, nsh_job_run_job(jr)->id, WS_IMAGE);
	bool yes = nsh_fs_exists(image);

	free(image);
	return yes;
}

void orch_ws_sweep(struct nsh_orch *o, struct nsh_store *st, const char *task_id)
{
	struct nsh_job_list jobs = {0};

	if (nsh_store_job_list(st, task_id, &jobs, NULL))
		return;
	for (size_t i = 0; i < jobs.nr; i++) {
		char *dir = nsh_xasprintf("%s/work/%s", o->home, jobs.v[i].id);
		char *image = nsh_xasprintf("%s/%s", dir, WS_IMAGE);
		char *ws = nsh_xasprintf("%s/repo", dir);
		enum nsh_job_state js = NSH_JOB_QUEUED;
		struct nsh_disk *d = NULL;

		if (nsh_fs_exists(image) && !nsh_job_state_parse(jobs.v[i].state, &js, NULL) &&
		    !nsh_job_state_busy(js)) {
			/* taken over (a crashed run's mount detached), then gone with its files */
			if (!nsh_disk_open(image, ws, &d, NULL))
				nsh_disk_destroy(d, NULL);
			nsh_fs_remove_tree(dir, NULL);
		}
		free(ws);
		free(image);
		free(dir);
	}
	nsh_job_list_release(&jobs);
}

void orch_ws_open(struct orch_job *oj)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *image = ws_image(oj);

	if (!oj->disk && nsh_fs_exists(image) && nsh_disk_open(image, oj->ws, &oj->disk, &err))
		nsh_log_warn("workspace '%s': %s", oj->ws, err.msg);
	free(image);
}

/* Whether @b mentions running out of space. */
static bool says_enospc(const struct nsh_buf *b)
{
	return b->len && (memmem(b->buf, b->len, "ENOSPC", 6) ||
			  memmem(b->buf, b->len, "No space left on device", 23));
}

void orch_ws_check(struct nsh_job_run *jr, const char *const *argv, const struct nsh_sandbox_cmd *c)
{
	struct orch_job *oj = orch_job_of(jr);
	const struct nsh_limits *lim = nsh_job_run_limits(jr);
	struct nsh_buf cmd = NSH_BUF_INIT;
	uint64_t used, size, left, slack;
	char q[32], held[32], usable[32];
	bool full;

	if (!oj->disk || oj->quota_hit || nsh_disk_usage(oj->disk, &used, &size, NULL))
		return;
	left = size > used ? size - used : 0;
	slack = size / 64 > ((uint64_t)256 << 10) ? size / 64 : (uint64_t)256 << 10;
	/* full; or a command that said so, its partial output since removed */
	full = left <= slack || ((says_enospc(&c->err) || says_enospc(&c->out)) && left < size / 8);
	if (!full)
		return;
	for (size_t i = 0; argv[i] && cmd.len < WS_CMD_SHOW; i++)
		nsh_buf_addf(&cmd, "%s%s", i ? " " : "", argv[i]);
	if (cmd.len > WS_CMD_SHOW) {
		nsh_buf_truncate(&cmd, WS_CMD_SHOW);
		nsh_buf_adds(&cmd, "...");
	}
	nsh_limits_fmt_bytes(lim && lim->storage_per_job ? lim->storage_per_job : size, q,
			     sizeof(q));
	nsh_limits_fmt_bytes(used, held, sizeof(held));
	nsh_limits_fmt_bytes(size, usable, sizeof(usable));
	/* the file system's own structures take a little of the image */
	oj->quota_hit = nsh_xasprintf("storage quota of %s reached while running '%s' (the "
				      "workspace holds %s of %s usable)",
				      q, cmd.buf, held, usable);
	nsh_buf_release(&cmd);
}
