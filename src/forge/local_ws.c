/*
 * A job's workspace from the local forge without git clone: the default
 * branch's commit read in the bare repository, an empty repository with
 * the job's branch unborn (the files "git init --template=" writes, made
 * here: git init costs a process of 5 ms or more for two small files and
 * six directories), the objects copied as files (never hard-linked: the
 * sandbox working in the workspace must not reach the forge's files), git
 * reset --hard to the commit. The branch's commit is read from its file in
 * the bare repository (git rev-parse only for a packed ref), so one short
 * git run, where git clone is one run that starts a shell and git
 * upload-pack to list the refs, then two more to read the commit and to
 * make the branch.
 */
#include "forge/forge_int.h"

#include <dirent.h>
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
#include "store/store.h"

#include "core/banned.h"

/* Copy the regular file @src to the new file @dst (mode 0444, as git's objects). */
static int copy_file(const char *src, const char *dst, struct nsh_err *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int out = -1, rc = 0;
	struct stat st;
	off_t left;

	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = nsh_err_sys(err, in < 0 ? errno : EINVAL, "cannot read '%s'", src);
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (out < 0) {
		rc = nsh_err_sys(err, errno, "cannot create '%s'", dst);
		goto out;
	}
	/* in the kernel where it can (another file system too), else read and write */
	for (left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);

		if (n <= 0)
			break;
		left -= n;
	}
	while (left > 0) {
		char buf[65536];
		ssize_t n = read(in, buf, sizeof(buf));

		if (n <= 0) {
			rc = nsh_err_sys(err, n < 0 ? errno : EIO, "cannot read '%s'", src);
			goto out;
		}
		if (nsh_fs_write_all(out, buf, (size_t)n) < 0) {
			rc = nsh_err_sys(err, errno, "cannot write '%s'", dst);
			goto out;
		}
		left -= n;
	}
out:
	if (out >= 0 && close(out) < 0 && !rc)
		rc = nsh_err_sys(err, errno, "cannot write '%s'", dst);
	if (in >= 0)
		close(in);
	return rc;
}

/* Whether @name is one of git's object files: in a fan-out directory, or a pack and its index. */
static bool object_file(const char *dir, const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(dir, "pack"))
		return n > 5 && !strncmp(name, "pack-", 5) &&
		       (!strcmp(name + n - 5, ".pack") || !strcmp(name + n - 4, ".idx"));
	return (n == 38 || n == 62) && strspn(name, "0123456789abcdef") == n;
}

/*
 * Make the empty repository @dir/.git, as "git init -q --template=
 * --initial-branch=@branch" makes it on Linux: HEAD naming the unborn
 * branch, the core settings git writes for a work tree on a file system
 * with modes and symbolic links, and for SHA-256 objects format version 1
 * with the extension. @dir may exist; .git must not.
 */
static int init_repo(const char *dir, const char *branch, bool sha256, struct nsh_err *err)
{
	static const char *const dirs[] = {"objects", "objects/info", "objects/pack",
					   "refs",    "refs/heads",   "refs/tags"};
	char *git = nsh_xasprintf("%s/.git", dir), *head = NULL, *config = NULL, *p = NULL;
	int rc = 0;

	if (!nsh_forge_branch_valid(branch)) {
		rc = nsh_err_set(err, NSH_EINVAL, "invalid branch name '%s'", branch);
		goto out;
	}
	if ((rc = nsh_fs_mkdir_p(dir, 0755, err)))
		goto out;
	if (mkdir(git, 0755) < 0) {
		rc = nsh_err_sys(err, errno, "cannot create '%s'", git);
		goto out;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !rc; i++) {
		free(p);
		p = nsh_xasprintf("%s/%s", git, dirs[i]);
		if (mkdir(p, 0755) < 0)
			rc = nsh_err_sys(err, errno, "cannot create '%s'", p);
	}
	if (rc)
		goto out;
	config = nsh_xasprintf("[core]\n\trepositoryformatversion = %d\n\tfilemode = true\n"
			       "\tbare = false\n\tlogallrefupdates = true\n%s",
			       sha256 ? 1 : 0,
			       sha256 ? "[extensions]\n\tobjectformat = sha256\n" : "");
	head = nsh_xasprintf("ref: refs/heads/%s\n", branch);
	/* no fsync, as git init: a workspace left half made by a crash is made again */
	rc = nsh_below_write(git, "config", config, strlen(config), 0644, 0, err);
	if (!rc)
		rc = nsh_below_write(git, "HEAD", head, strlen(head), 0644, 0, err);
out:
	free(git);
	free(head);
	free(config);
	free(p);
	return rc;
}

/*
 * Copy the object files of the objects directory @from (loose objects,
 * packs and their indexes; no info/, so no alternates) into @to.
 */
static int copy_objects(const char *from, const char *to, struct nsh_err *err)
{
	DIR *top = opendir(from), *sub = NULL;
	struct dirent *de, *e;
	int rc = 0;

	if (!top)
		return nsh_err_sys(err, errno, "cannot read '%s'", from);
	while (!rc && (de = readdir(top))) {
		char *s, *d;

		if (strcmp(de->d_name, "pack") &&
		    !(strlen(de->d_name) == 2 && strspn(de->d_name, "0123456789abcdef") == 2))
			continue;
		s = nsh_xasprintf("%s/%s", from, de->d_name);
		d = nsh_xasprintf("%s/%s", to, de->d_name);
		sub = opendir(s);
		if (!sub)
			rc = nsh_err_sys(err, errno, "cannot read '%s'", s);
		else if (mkdir(d, 0755) < 0 && errno != EEXIST)
			rc = nsh_err_sys(err, errno, "cannot create '%s'", d);
		while (!rc && sub && (e = readdir(sub))) {
			char *fs, *fd;

			if (!object_file(de->d_name, e->d_name))
				continue;
			fs = nsh_xasprintf("%s/%s", s, e->d_name);
			fd = nsh_xasprintf("%s/%s", d, e->d_name);
			rc = copy_file(fs, fd, err);
			free(fs);
			free(fd);
		}
		if (sub)
			closedir(sub);
		sub = NULL;
		free(s);
		free(d);
	}
	closedir(top);
	return rc;
}

int nsh_forge_local_workspace(struct nsh_forge *f, const char *org, const char *name,
			      const char *branch, const char *dir,
			      char ret_base[NSH_FORGE_SHA_MAX + 1], char **ret_base_branch,
			      struct nsh_err *err)
{
	struct nsh_repo_rec row = {0};
	char sha[NSH_FORGE_SHA_MAX + 1];
	char *bare = NULL, *ref = NULL, *from = NULL, *to = NULL;
	bool found = false;
	int rc;

	rc = nsh_store_repo_get(f->store, org, name, &row, err);
	if (rc)
		goto out;
	bare = nsh_forge_local_path(f, org, name);
	if (!nsh_fs_is_dir(bare)) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "bare repository '%s' of '%s/%s' is missing",
				 bare, org, name);
		goto out;
	}
	ref = nsh_xasprintf("refs/heads/%s", row.default_branch);
	/* the branch's file, else git (a packed ref); reset below proves it a commit */
	found = nsh_forge_loose_ref(bare, ref, sha);
	if (!found)
		rc = nsh_forge_git_commit(bare, ref, sha, &found, err);
	if (!rc && !found)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "'%s/%s' has no branch '%s'", org, name,
				 row.default_branch);
	if (rc)
		goto out;
	/* no template: no sample hooks (which never run here), no info/exclude */
	rc = init_repo(dir, branch, strlen(sha) == 64, err);
	if (rc)
		goto out;
	from = nsh_xasprintf("%s/objects", bare);
	to = nsh_xasprintf("%s/.git/objects", dir);
	rc = copy_objects(from, to, err);
	/* the new branch, unborn so far, is made at the commit and checked out */
	if (!rc)
		rc = nsh_forge_git_run(dir, NULL, 0, NULL, err, "reset", "-q", "--hard", sha, NULL);
	/*
	 * The branch reset made holds the commit: the base, without a git run
	 * to peel what the forge's branch named (a tag there is taken to its
	 * commit; a tree or a blob makes reset fail).
	 */
	if (!rc) {
		char *git = nsh_xasprintf("%s/.git", dir),
		     *made = nsh_xasprintf("refs/heads/%s", branch);

		if (!nsh_forge_loose_ref(git, made, sha))
			rc = nsh_err_set(err, NSH_EIO, "git reset made no branch '%s'", branch);
		free(git);
		free(made);
	}
	if (rc) {
		nsh_err_wrap(err, "making a workspace of '%s/%s' in '%s'", org, name, dir);
		goto out;
	}
	memcpy(ret_base, sha, strlen(sha) + 1);
	*ret_base_branch = row.default_branch;
	row.default_branch = NULL;
out:
	nsh_repo_rec_release(&row);
	free(bare);
	free(ref);
	free(from);
	free(to);
	return rc;
}
