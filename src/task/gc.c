/*
 * Retention; see gc.h.
 */
#include "task/gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/limits.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "store/limits.h"
#include "store/store.h"

#include "core/banned.h"

#define GC_MAX_DEPTH   128
#define GC_MAX_ENTRIES 1000000 /* counted per removed entry; beyond, the figures are low */

/* Count the files and blocks under the directory @fd (taken), on device @dev. */
static void count_dir(int fd, dev_t dev, int depth, uint64_t *files, uint64_t *bytes, size_t *seen)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;

	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) && *seen < GC_MAX_ENTRIES) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		(*seen)++;
		*bytes += (uint64_t)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode)) {
			(*files)++;
		} else if (st.st_dev == dev && depth < GC_MAX_DEPTH) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				count_dir(sub, dev, depth + 1, files, bytes, seen);
		}
	}
	closedir(d);
}

/*
 * A job's workspace (@path/repo) may be the mount of its quota image
 * (orch/checkpoint.c, sandbox/disk.h), left by a crashed worker: detached
 * first, so that the tree goes with it and no mount outlives it.
 */
static void detach_workspace(const char *path)
{
	char *repo = nsh_xasprintf("%s/repo", path);
	struct stat a, b;

	if (lstat(repo, &a) == 0 && S_ISDIR(a.st_mode) && stat(path, &b) == 0 &&
	    a.st_dev != b.st_dev)
		umount2(repo, MNT_DETACH | UMOUNT_NOFOLLOW);
	free(repo);
}

/* Count, then (unless @dry_run) remove @path; a missing path is no item. */
static void take(struct nsh_gc_report *r, const char *path, const char *kind, const char *task_id,
		 bool dry_run)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_gc_item *it;
	struct stat st;
	uint64_t files = 0, bytes = 0;
	size_t seen = 0;

	if (lstat(path, &st) < 0)
		return;
	bytes = (uint64_t)st.st_blocks * 512;
	if (S_ISDIR(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0)
			count_dir(fd, st.st_dev, 0, &files, &bytes, &seen);
	} else {
		files = 1;
	}
	if (!dry_run) {
		int rc;

		if (S_ISDIR(st.st_mode))
			detach_workspace(path);
		if (S_ISDIR(st.st_mode))
			rc = nsh_fs_remove_tree(path, &err);
		else
			rc = unlink(path) < 0 ? nsh_err_sys(&err, errno, "cannot remove '%s'", path)
					      : 0;

		if (rc) {
			r->failed++;
			if (!r->errors)
				r->errors = nsh_xstrdup(err.msg);
			return;
		}
	}
	NSH_ALLOC_GROW(r->v, r->nr + 1, r->alloc);
	it = &r->v[r->nr++];
	it->path = nsh_xstrdup(path);
	it->kind = nsh_xstrdup(kind);
	it->task_id = task_id ? nsh_xstrdup(task_id) : NULL;
	it->files = files;
	it->bytes = bytes;
	r->files += files;
	r->bytes += bytes;
}

/* The limits task @id recorded, else @def. */
static void recorded(struct nsh_store *s, const char *id, const struct nsh_limits *def,
		     struct nsh_limits *ret)
{
	struct nsh_task_limits_rec r = {0};
	json_t *v = NULL;

	if (!nsh_store_task_limits_get(s, id, &r, NULL) && r.limits)
		nsh_json_parse(r.limits, strlen(r.limits), &v, NULL);
	nsh_limits_from_json(v, def, ret);
	json_decref(v);
	nsh_task_limits_rec_release(&r);
}

/* Remove the workspaces of the jobs of task @id. */
static int take_workspaces(struct nsh_store *s, const char *home, const char *id, bool dry_run,
			   struct nsh_gc_report *r, struct nsh_err *err)
{
	struct nsh_job_list jobs = {0};
	int rc = nsh_store_job_list(s, id, &jobs, err);

	for (size_t i = 0; !rc && i < jobs.nr; i++) {
		char *path = nsh_xasprintf("%s/work/%s", home, jobs.v[i].id);

		take(r, path, "workspace", id, dry_run);
		free(path);
	}
	nsh_job_list_release(&jobs);
	return rc;
}

/* Entries of @home/@sub that name no task or job. */
static void take_stale(struct nsh_store *s, const char *home, const char *sub, bool dry_run,
		       struct nsh_gc_report *r)
{
	char *dir = nsh_xasprintf("%s/%s", home, sub);
	struct nsh_strvec names = NSH_STRVEC_INIT;
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!nsh_store_id_known(s, e->d_name))
			nsh_strvec_push(&names, e->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.nr; i++) {
		char *path = nsh_xasprintf("%s/%s", dir, names.v[i]);

		take(r, path, "stale", NULL, dry_run);
		free(path);
	}
	nsh_strvec_release(&names);
	free(dir);
}

int nsh_gc_run(struct nsh_store *s, const char *home, const struct nsh_limits *def, bool dry_run,
	       struct nsh_gc_report *ret, struct nsh_err *err)
{
	struct nsh_gc_task_list l = {0};
	int64_t now = nsh_time_now_ms();
	int rc;

	rc = nsh_store_gc_tasks(s, &l, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		const struct nsh_gc_task *t = &l.v[i];
		bool expired = !strcmp(t->state, "expired");
		struct nsh_limits lim;
		int64_t ended = t->updated_ms;
		char *art;

		recorded(s, t->id, def, &lim);
		if (expired) {
			/* within its grace period an expired task may be extended: keep all */
			if (!t->expired_ms || now - t->expired_ms <= lim.grace_ms)
				continue;
			ended = t->expired_ms + lim.grace_ms;
		}
		rc = take_workspaces(s, home, t->id, dry_run, ret, err);
		if (!rc && expired && !t->gc_ms && !dry_run)
			rc = nsh_store_task_set_gc(s, t->id, now, err);
		if (rc || now - ended <= lim.artifact_retention_ms)
			continue;
		art = nsh_xasprintf("%s/artifacts/%s", home, t->id);
		take(ret, art, "artifacts", t->id, dry_run);
		free(art);
	}
	nsh_gc_task_list_release(&l);
	if (!rc) {
		take_stale(s, home, "work", dry_run, ret);
		take_stale(s, home, "artifacts", dry_run, ret);
	}
	return rc;
}

void nsh_gc_report_release(struct nsh_gc_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nr; i++) {
		free(r->v[i].path);
		free(r->v[i].kind);
		free(r->v[i].task_id);
	}
	free(r->v);
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

json_t *nsh_gc_report_to_json(const struct nsh_gc_report *r, bool dry_run)
{
	json_t *a = json_array();
	json_t *o;

	for (size_t i = 0; i < r->nr; i++) {
		json_t *it = json_pack("{s:s, s:s, s:I, s:I}", "path", r->v[i].path, "kind",
				       r->v[i].kind, "files", (json_int_t)r->v[i].files, "bytes",
				       (json_int_t)r->v[i].bytes);

		if (r->v[i].task_id)
			json_object_set_new(it, "task", json_string(r->v[i].task_id));
		json_array_append_new(a, it);
	}
	o = json_pack("{s:b, s:I, s:I, s:o, s:I}", "dry_run", dry_run, "files",
		      (json_int_t)r->files, "bytes", (json_int_t)r->bytes, "removed", a, "failed",
		      (json_int_t)r->failed);
	if (r->errors)
		json_object_set_new(o, "error", json_string(r->errors));
	return o;
}
