/*
 * The local forge: bare repositories under <home>/forge/<org>/<repo>.git,
 * organisations and repositories in the store. This file holds
 * organisations, imports, listings and the write path (push); pull
 * requests are in local_pr.c.
 *
 * Every git command goes through forge/git.h. Branches are only ever moved
 * with "git update-ref REF NEW OLD", so that two writers cannot overwrite
 * each other unnoticed.
 */
#include "forge/forge_int.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "forge/git.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

/* Cap on a file listing (git ls-tree -r) of one repository. */
#define LS_TREE_MAX ((size_t)64 << 20)

int nsh_forge_git_run(const char *dir, struct nsh_buf *out, size_t out_max, int *ret_code,
		      struct nsh_err *err, ...)
{
	struct nsh_proc p;
	const char *arg;
	va_list ap;
	int rc;

	nsh_git_init(&p, dir);
	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)))
		nsh_strvec_push(&p.argv, arg);
	va_end(ap);
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	if (out_max)
		p.out_max = out_max;
	rc = nsh_proc_run_checked(&p, out, err);
	if (!rc && ret_code) {
		*ret_code = 0;
	} else if (rc == NSH_EFAIL && ret_code && p.exit_code == 1 && !p.timed_out &&
		   !p.out_truncated) {
		nsh_err_clear(err);
		rc = out ? nsh_buf_add(out, p.out.buf, p.out.len) : 0;
		if (rc)
			nsh_err_set(err, rc, "output of git is too large");
		else
			*ret_code = 1;
	}
	nsh_proc_release(&p);
	return rc;
}

bool nsh_forge_is_sha(const char *s, size_t len)
{
	if (len != 40 && len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool nsh_forge_loose_ref(const char *gitdir, const char *ref, char out[NSH_FORGE_SHA_MAX + 1])
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err gerr = NSH_ERR_INIT;
	bool ok = false;

	/* an id and a newline; a symbolic ref ("ref: ...") or anything else is git's to read */
	if (!nsh_below_read(gitdir, ref, &b, NSH_FORGE_SHA_MAX + 1, &gerr) && b.len &&
	    b.buf[b.len - 1] == '\n' && nsh_forge_is_sha(b.buf, b.len - 1)) {
		memcpy(out, b.buf, b.len - 1);
		out[b.len - 1] = '\0';
		ok = true;
	}
	nsh_err_clear(&gerr);
	nsh_buf_release(&b);
	return ok;
}

int nsh_forge_git_commit(const char *dir, const char *rev, char out[NSH_FORGE_SHA_MAX + 1],
			 bool *ret_found, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *spec = nsh_xasprintf("%s^{commit}", rev);
	int code = 0;
	int rc;

	rc = nsh_forge_git_run(dir, &b, 0, &code, err, "rev-parse", "-q", "--verify", spec, NULL);
	if (rc)
		goto out;
	nsh_buf_trim(&b);
	if (code) {
		*ret_found = false;
		goto out;
	}
	if (!nsh_forge_is_sha(b.buf, b.len)) {
		rc = nsh_err_set(err, NSH_EIO, "git rev-parse gave no object id for '%s'", rev);
		goto out;
	}
	memcpy(out, b.buf, b.len + 1);
	*ret_found = true;
out:
	free(spec);
	nsh_buf_release(&b);
	return rc;
}

int nsh_forge_git_commit2(const char *dir, const char *rev1, const char *rev2,
			  char out1[NSH_FORGE_SHA_MAX + 1], char out2[NSH_FORGE_SHA_MAX + 1],
			  bool *ret_found1, bool *ret_found2, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err gerr = NSH_ERR_INIT;
	char *spec1 = nsh_xasprintf("%s^{commit}", rev1);
	char *spec2 = nsh_xasprintf("%s^{commit}", rev2);
	char *nl = NULL;
	int rc;

	/*
	 * Both at once; a name that is no commit makes git fail: then each
	 * alone. (Callers give names that cannot start with '-': rev-parse of
	 * git 2.39 echoes "--end-of-options" instead of taking it.)
	 */
	if (!nsh_forge_git_run(dir, &b, 0, NULL, &gerr, "rev-parse", spec1, spec2, NULL)) {
		nsh_buf_trim(&b);
		nl = strchr(b.buf, '\n');
	}
	if (nl && nsh_forge_is_sha(b.buf, (size_t)(nl - b.buf)) &&
	    nsh_forge_is_sha(nl + 1, strlen(nl + 1))) {
		memcpy(out1, b.buf, (size_t)(nl - b.buf));
		out1[nl - b.buf] = '\0';
		memcpy(out2, nl + 1, strlen(nl + 1) + 1);
		*ret_found1 = *ret_found2 = true;
		rc = 0;
	} else {
		rc = nsh_forge_git_commit(dir, rev1, out1, ret_found1, err);
		if (!rc)
			rc = nsh_forge_git_commit(dir, rev2, out2, ret_found2, err);
	}
	nsh_buf_release(&b);
	free(spec1);
	free(spec2);
	return rc;
}

int nsh_forge_git_is_ancestor(const char *dir, const char *a, const char *b, bool *ret,
			      struct nsh_err *err)
{
	int code = 0;
	int rc = nsh_forge_git_run(dir, NULL, 0, &code, err, "merge-base", "--is-ancestor", a, b,
				   NULL);

	if (!rc)
		*ret = code == 0;
	return rc;
}

int nsh_forge_git_update_ref(const char *dir, const char *ref, const char *sha, const char *old,
			     const char *why, struct nsh_err *err)
{
	struct nsh_proc p;
	int rc;

	nsh_git_init(&p, dir);
	nsh_strvec_pushl(&p.argv, "update-ref", "-m", why, ref, sha, NULL);
	if (old)
		nsh_strvec_push(&p.argv, old);
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	rc = nsh_proc_run_checked(&p, NULL, err);
	/* A failed guard: "is at X but expected Y", "reference already exists". */
	if (rc == NSH_EFAIL && old &&
	    (strstr(p.err.buf, "but expected") || strstr(p.err.buf, "already exists")))
		rc = nsh_err_set(err, NSH_ECONFLICT, "'%s' changed meanwhile; try again", ref);
	nsh_proc_release(&p);
	return rc;
}

char *nsh_forge_local_path(const struct nsh_forge *f, const char *org, const char *repo)
{
	return nsh_xasprintf("%s/%s/%s.git", f->root, org, repo);
}

/* ---- organisations ---- */

/*
 * The row id of local organisation @org, creating the row when needed
 * (*@ret_created says so; may be NULL). Inside or outside a transaction.
 */
static int ensure_org_row(struct nsh_forge *f, const char *org, int64_t *ret_id, bool *ret_created,
			  struct nsh_err *err)
{
	struct nsh_org_rec o = {0};
	int rc = nsh_store_org_get(f->store, org, &o, err);

	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = nsh_store_org_add(f->store, org, "local", ret_id, err);
		if (!rc && ret_created)
			*ret_created = true;
		return rc;
	}
	if (rc)
		return rc;
	if (strcmp(o.forge, "local"))
		rc = nsh_err_set(err, NSH_EEXIST, "org '%s' belongs to the %s forge", org, o.forge);
	else if (ret_id)
		*ret_id = o.id;
	if (!rc && ret_created)
		*ret_created = false;
	nsh_org_rec_release(&o);
	return rc;
}

static int org_dir(struct nsh_forge *f, const char *org, char **ret, struct nsh_err *err)
{
	char *dir = nsh_xasprintf("%s/%s", f->root, org);
	int rc = nsh_fs_mkdir_p(dir, 0700, err);

	if (rc) {
		free(dir);
		return rc;
	}
	*ret = dir;
	return 0;
}

static int local_org_init(struct nsh_forge *f, const char *org, bool *ret_created,
			  struct nsh_err *err)
{
	char *dir = NULL;
	bool created = false;
	int rc;

	if (f->url)
		return nsh_err_set(err, NSH_EDENIED,
				   "organisations are created on the node that holds the forge "
				   "('%s')",
				   f->url);
	rc = org_dir(f, org, &dir, err);
	if (rc)
		return rc;
	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	rc = ensure_org_row(f, org, NULL, &created, err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
	else if (ret_created)
		*ret_created = created;
out:
	free(dir);
	return rc;
}

/* ---- repository details ---- */

void nsh_forge_repo_release(struct nsh_forge_repo *r)
{
	if (!r)
		return;
	free(r->org);
	free(r->name);
	free(r->default_branch);
	free(r->path);
	free(r->source);
	free(r->last_sha);
	free(r->last_subject);
	free(r->langs);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

void nsh_forge_repo_list_release(struct nsh_forge_repo_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nr; i++)
		nsh_forge_repo_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int lang_cmp(const void *a, const void *b)
{
	const struct nsh_forge_lang *x = a, *y = b;

	if (x->files != y->files)
		return x->files > y->files ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Count the files of @r's default branch by language. */
static int count_langs(const char *bare, const char *ref, struct nsh_forge_repo *r,
		       struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t alloc = 0;
	int rc;

	rc = nsh_forge_git_run(bare, &b, LS_TREE_MAX, NULL, err, "ls-tree", "-r", "-z",
			       "--name-only", ref, NULL);
	if (rc)
		goto out;
	for (size_t at = 0; at < b.len;) {
		const char *name = b.buf + at;
		const char *lang;
		size_t i;

		at += strlen(name) + 1;
		r->files++;
		lang = nsh_forge_lang_of(name);
		if (!lang)
			continue;
		for (i = 0; i < r->nlangs && strcmp(r->langs[i].name, lang); i++)
			;
		if (i == r->nlangs) {
			NSH_ALLOC_GROW(r->langs, r->nlangs + 1, alloc);
			r->langs[r->nlangs++] = (struct nsh_forge_lang){lang, 0};
		}
		r->langs[i].files++;
	}
	if (r->nlangs)
		qsort(r->langs, r->nlangs, sizeof(r->langs[0]), lang_cmp);
out:
	nsh_buf_release(&b);
	return rc;
}

/*
 * Fill @r from the row @row and the bare repository: last commit and
 * languages. A repository that cannot be read gets r->error instead.
 */
static void repo_details(struct nsh_forge *f, const struct nsh_repo_rec *row,
			 struct nsh_forge_repo *r)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	char *ref = nsh_xasprintf("refs/heads/%s", row->default_branch);
	char *ct, *subject;

	memset(r, 0, sizeof(*r));
	r->org = nsh_xstrdup(row->org);
	r->name = nsh_xstrdup(row->name);
	r->default_branch = nsh_xstrdup(row->default_branch);
	r->source = row->source ? nsh_xstrdup(row->source) : NULL;
	r->path = nsh_forge_local_path(f, row->org, row->name);
	r->created_ms = row->created_ms;
	if (f->url && nsh_forge_remote_refresh(f, row->org, row->name, r->path, &err)) {
		r->error = nsh_xstrdup(err.msg);
		goto out;
	}
	if (!nsh_fs_is_dir(r->path)) {
		r->error = nsh_xasprintf("bare repository '%s' is missing", r->path);
		goto out;
	}
	if (nsh_forge_git_run(r->path, &b, 0, NULL, &err, "log", "-1", "--format=%H%x00%ct%x00%s",
			      ref, "--", NULL)) {
		r->error =
			nsh_xasprintf("cannot read branch '%s': %s", row->default_branch, err.msg);
		goto out;
	}
	nsh_buf_trim(&b);
	ct = memchr(b.buf, '\0', b.len);
	subject = ct ? memchr(ct + 1, '\0', b.len - (size_t)(ct + 1 - b.buf)) : NULL;
	if (!ct || !subject || !nsh_forge_is_sha(b.buf, (size_t)(ct - b.buf))) {
		r->error = nsh_xasprintf("branch '%s' has no commit", row->default_branch);
		goto out;
	}
	r->last_sha = nsh_xstrdup(b.buf);
	r->last_ms = strtoll(ct + 1, NULL, 10) * 1000;
	r->last_subject = nsh_xstrdup(subject + 1);
	if (count_langs(r->path, ref, r, &err))
		r->error = nsh_xasprintf("cannot list files: %s", err.msg);
out:
	nsh_buf_release(&b);
	free(ref);
}

static int local_repo_list(struct nsh_forge *f, const char *org, struct nsh_forge_repo_list *ret,
			   struct nsh_err *err)
{
	struct nsh_repo_list rows = {0};
	struct nsh_org_rec o = {0};
	int rc;

	rc = nsh_store_org_get(f->store, org, &o, err);
	if (!rc)
		rc = nsh_store_repo_list(f->store, org, &rows, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < rows.nr; i++) {
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		repo_details(f, &rows.v[i], &ret->v[ret->nr++]);
	}
out:
	nsh_repo_list_release(&rows);
	nsh_org_rec_release(&o);
	return rc;
}

static int local_repo_get(struct nsh_forge *f, const char *org, const char *name,
			  struct nsh_forge_repo *ret, struct nsh_err *err)
{
	struct nsh_repo_rec row = {0};
	int rc = nsh_store_repo_get(f->store, org, name, &row, err);

	if (!rc)
		repo_details(f, &row, ret);
	nsh_repo_rec_release(&row);
	return rc;
}

static int local_repo_path(struct nsh_forge *f, const char *org, const char *name, char **ret,
			   struct nsh_err *err)
{
	struct nsh_repo_rec row = {0};
	char *path = NULL;
	int rc = nsh_store_repo_get(f->store, org, name, &row, err);

	if (rc)
		goto out;
	path = nsh_forge_local_path(f, org, name);
	if (f->url) {
		rc = nsh_forge_remote_refresh(f, org, name, path, err);
		if (rc)
			goto out;
	}
	if (!nsh_fs_is_dir(path)) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "bare repository '%s' of '%s/%s' is missing",
				 path, org, name);
		goto out;
	}
	*ret = path;
	path = NULL;
out:
	free(path);
	nsh_repo_rec_release(&row);
	return rc;
}

/* ---- import ---- */

/*
 * Check that @real (an absolute path without symbolic links) is the top of
 * a git repository: a work tree or a bare repository, not a directory
 * inside one. Discovery is stopped at @real's parent.
 */
static int check_source(const char *real, struct nsh_err *err)
{
	struct nsh_proc p;
	char *parent = nsh_xstrdup(real);
	int rc;

	nsh_git_init(&p, real);
	nsh_strvec_pushf(&p.env, "GIT_CEILING_DIRECTORIES=%s", dirname(parent));
	nsh_strvec_pushl(&p.argv, "rev-parse", "--absolute-git-dir", NULL);
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	rc = nsh_proc_run(&p, err);
	if (!rc && (p.exit_code || p.timed_out))
		rc = nsh_err_set(err, NSH_EINVAL,
				 "'%s' is not a git repository (nor the top of one)", real);
	nsh_proc_release(&p);
	free(parent);
	return rc;
}

/* The repository name @real suggests: its directory name without ".git". */
static int derive_name(const char *real, char **ret, struct nsh_err *err)
{
	char *copy = nsh_xstrdup(real);
	char *base = basename(copy);
	size_t len;
	int rc;

	if (!strcmp(base, ".git")) {
		/* the .git directory of a work tree: name it after the work tree */
		copy[strlen(copy) - strlen("/.git")] = '\0';
		base = basename(copy);
	}
	len = strlen(base);
	if (len > 4 && !strcmp(base + len - 4, ".git"))
		base[len - 4] = '\0';
	rc = nsh_forge_check_name("repository", base, err);
	if (rc)
		nsh_err_wrap(err,
			     "cannot name the repository at '%s' after its directory (choose "
			     "a name)",
			     real);
	else
		*ret = nsh_xstrdup(base);
	free(copy);
	return rc;
}

/*
 * The default branch of the repository at @src: the branch its HEAD names
 * when it exists, else main, master or the first of @branches (full ref
 * names). NSH_EINVAL when there is no branch at all.
 */
static int pick_default(const char *src, const struct nsh_strvec *branches, char **ret,
			struct nsh_err *err)
{
	static const char *const fallback[] = {"refs/heads/main", "refs/heads/master"};
	struct nsh_buf head = NSH_BUF_INIT;
	const char *pick = NULL;
	int code = 0;
	int rc;

	if (!branches->nr)
		return nsh_err_set(err, NSH_EINVAL, "'%s' has no branches (an empty repository)",
				   src);
	rc = nsh_forge_git_run(src, &head, 0, &code, err, "symbolic-ref", "-q", "HEAD", NULL);
	if (rc)
		goto out;
	nsh_buf_trim(&head);
	if (!code && nsh_strvec_find(branches, head.buf) >= 0)
		pick = head.buf;
	for (size_t i = 0; !pick && i < 2; i++)
		if (nsh_strvec_find(branches, fallback[i]) >= 0)
			pick = fallback[i];
	if (!pick)
		pick = branches->v[0];
	*ret = nsh_xstrdup(pick + strlen("refs/heads/"));
out:
	nsh_buf_release(&head);
	return rc;
}

/* The full names of the branches of @src, in @ret. */
static int list_branches(const char *src, struct nsh_strvec *ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int rc = nsh_forge_git_run(src, &b, 0, NULL, err, "for-each-ref", "--format=%(refname)",
				   "refs/heads/", NULL);

	for (char *line = b.buf, *nl; !rc && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (*line)
			nsh_strvec_push(ret, line);
	}
	nsh_buf_release(&b);
	return rc;
}

/* Copy every branch and tag of @src into the new bare repository @bare, HEAD at @def. */
static int fill_bare(const char *bare, const char *src, const char *def, struct nsh_err *err)
{
	char *head = nsh_xasprintf("refs/heads/%s", def);
	int rc;

	rc = nsh_forge_git_run(bare, NULL, 0, NULL, err, "init", "--bare", "-q", NULL);
	/* reflogs keep every old value of a branch, forced updates included */
	if (!rc)
		rc = nsh_forge_git_run(bare, NULL, 0, NULL, err, "config", "core.logAllRefUpdates",
				       "true", NULL);
	if (!rc)
		/* as one pack (not a file per object), which clones copy whole */
		rc = nsh_forge_git_run(bare, NULL, 0, NULL, err, "-c", "fetch.unpackLimit=1",
				       "fetch", "-q", "--no-tags", "--", src,
				       "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
				       NULL);
	if (!rc)
		rc = nsh_forge_git_run(bare, NULL, 0, NULL, err, "symbolic-ref", "HEAD", head,
				       NULL);
	free(head);
	return rc;
}

static int local_import(struct nsh_forge *f, const char *org, const char *path, const char *name,
			struct nsh_forge_repo *ret, struct nsh_err *err)
{
	struct nsh_strvec branches = NSH_STRVEC_INIT;
	struct nsh_repo_rec row = {0};
	char *real = NULL, *derived = NULL, *def = NULL, *dir = NULL, *tmp = NULL, *bare = NULL;
	bool renamed = false, in_txn = false;
	int rc;

	if (f->url)
		return nsh_err_set(err, NSH_EDENIED,
				   "repositories are imported on the node that holds the forge "
				   "('%s')",
				   f->url);
	real = realpath(path, NULL);
	if (!real) {
		rc = nsh_err_sys(err, errno, "cannot import '%s'", path);
		goto out;
	}
	if (!nsh_fs_is_dir(real)) {
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' is not a git repository (not a directory)",
				 path);
		goto out;
	}
	rc = check_source(real, err);
	if (!rc && !name) {
		rc = derive_name(real, &derived, err);
		name = derived;
	}
	if (rc)
		goto out;
	/* Refuse early, before copying anything; checked again below. */
	if (!nsh_store_repo_get(f->store, org, name, &row, NULL)) {
		rc = nsh_err_set(
			err, NSH_EEXIST,
			"repository '%s/%s' exists already; nothing was imported from '%s'", org,
			name, path);
		goto out;
	}
	rc = list_branches(real, &branches, err);
	if (!rc)
		rc = pick_default(real, &branches, &def, err);
	if (!rc)
		rc = org_dir(f, org, &dir, err);
	if (rc)
		goto out;
	bare = nsh_forge_local_path(f, org, name);
	tmp = nsh_xasprintf("%s/.import-%s-XXXXXX", dir, name);
	if (!mkdtemp(tmp)) {
		rc = nsh_err_sys(err, errno, "cannot create a directory in '%s'", dir);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	rc = fill_bare(tmp, real, def, err);
	if (rc) {
		nsh_err_wrap(err, "importing '%s'", path);
		goto out;
	}

	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	in_txn = true;
	row.name = (char *)name;
	row.default_branch = def;
	row.source = real;
	rc = ensure_org_row(f, org, &row.org_id, NULL, err);
	if (!rc)
		rc = nsh_store_repo_add(f->store, &row, NULL, err);
	row.name = row.default_branch = row.source = NULL;
	if (rc == NSH_EEXIST)
		nsh_err_set(err, rc, "repository '%s/%s' exists already; nothing was imported", org,
			    name);
	if (rc)
		goto out;
	if (nsh_fs_exists(bare)) {
		rc = nsh_err_set(err, NSH_EEXIST,
				 "'%s' exists already but is not a known repository; move it away "
				 "to import '%s/%s'",
				 bare, org, name);
		goto out;
	}
	if (rename(tmp, bare)) {
		rc = nsh_err_sys(err, errno, "cannot move the new repository to '%s'", bare);
		goto out;
	}
	renamed = true;
	rc = nsh_store_commit(f->store, err);
	in_txn = false;
	if (rc)
		goto out;
	renamed = false;
	if (ret)
		rc = local_repo_get(f, org, name, ret, err);
out:
	if (in_txn)
		nsh_store_rollback(f->store);
	if (renamed && rename(bare, tmp))
		tmp = NULL; /* leave it where it is rather than remove a visible repository */
	if (tmp && nsh_fs_exists(tmp))
		nsh_fs_remove_tree(tmp, NULL);
	nsh_repo_rec_release(&row);
	nsh_strvec_release(&branches);
	free(real);
	free(derived);
	free(def);
	free(dir);
	free(tmp);
	free(bare);
	return rc;
}

/* ---- the write path ---- */

int nsh_forge_local_event(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *kind,
			  json_t *data, struct nsh_err *err)
{
	char *repo;
	int rc;

	if (!data)
		data = json_object();
	if (!p->task_id) {
		json_decref(data);
		return 0;
	}
	repo = nsh_xasprintf("%s/%s", p->org, p->repo);
	json_object_set_new(data, "repo", json_string(repo));
	json_object_set_new(data, "number", json_integer(p->number));
	rc = nsh_event_append(f->store, p->task_id, p->job_id, kind, data, NULL, err);
	json_decref(data);
	free(repo);
	return rc;
}

int nsh_forge_local_record_head(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *bare,
				const char *sha, const char *pushed_by, int64_t *ret_seq,
				bool *ret_recorded, struct nsh_err *err)
{
	struct nsh_pr_rec now = {0};
	char *ref = NULL;
	bool forced = false, ancestor = true;
	int64_t seq = 0;
	int rc;

	/* Whether it contains the previous head, decided before taking the lock. */
	if (p->head_sha && strcmp(p->head_sha, sha)) {
		rc = nsh_forge_git_is_ancestor(bare, p->head_sha, sha, &ancestor, err);
		if (rc)
			return rc;
	}
	rc = nsh_store_begin(f->store, err);
	if (rc)
		return rc;
	rc = nsh_store_pr_get_id(f->store, p->id, &now, err);
	if (rc)
		goto out;
	if (now.head_sha && !strcmp(now.head_sha, sha)) {
		/* recorded already (a repeated push) */
		seq = now.head_seq;
		rc = nsh_store_commit(f->store, err);
		if (!rc && ret_recorded)
			*ret_recorded = false;
		if (rc)
			goto out;
		if (f->url) /* a push of its ref that a crash cut short */
			rc = nsh_forge_remote_pull_refs(f, &now, bare, err);
		if (!rc && ret_seq)
			*ret_seq = seq;
		goto done;
	}
	/* Another writer recorded a head since p was read: compare with that one. */
	if (now.head_sha && (!p->head_sha || strcmp(now.head_sha, p->head_sha))) {
		rc = nsh_forge_git_is_ancestor(bare, now.head_sha, sha, &ancestor, err);
		if (rc)
			goto out;
	}
	forced = now.head_sha && !ancestor;
	rc = nsh_store_pr_head_add(f->store, now.id, sha, forced, pushed_by, &seq, err);
	if (rc)
		goto out;
	ref = nsh_xasprintf("refs/pull/%lld/heads/%lld", (long long)now.number, (long long)seq);
	/* over HTTP the ref is pushed once the row is committed: the node checks it */
	if (!f->url)
		rc = nsh_forge_git_update_ref(bare, ref, sha, NULL, "nightshift: pull request head",
					      err);
	if (!rc)
		rc = nsh_store_pr_save(f->store, &now, err);
	if (!rc)
		rc = nsh_forge_local_event(f, &now, "pr.updated",
					   json_pack("{s:[s], s:s, s:I, s:b, s:s?}", "changes",
						     "head", "head_sha", sha, "seq",
						     (json_int_t)seq, "forced", forced, "pushed_by",
						     pushed_by),
					   err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (!rc && ret_recorded)
		*ret_recorded = true;
	if (!rc && f->url) {
		rc = nsh_forge_remote_pull_refs(f, &now, bare, err);
		if (rc) /* committed already: nothing to roll back */
			goto done;
	}
out:
	if (rc)
		nsh_store_rollback(f->store);
	else if (ret_seq)
		*ret_seq = seq;
done:
	nsh_pr_rec_release(&now);
	free(ref);
	return rc;
}

/*
 * The commits of the branches @ref and @def (full ref names) of the
 * repository @dir, in one git run: @out and @out_def get the ids (empty when
 * there is no such branch). False when that run failed or a ref is not a
 * commit: the caller looks them up one by one then.
 */
static bool tips(const char *dir, const char *ref, const char *def, char out[NSH_FORGE_SHA_MAX + 1],
		 char out_def[NSH_FORGE_SHA_MAX + 1])
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err gerr = NSH_ERR_INIT;
	bool ok = false;

	out[0] = out_def[0] = '\0';
	/* a pattern also matches the refs below it ("a" matches "a/b"): names compared below */
	if (nsh_forge_git_run(dir, &b, 0, NULL, &gerr, "for-each-ref",
			      "--format=%(objectname) %(objecttype) %(refname)", ref, def, NULL))
		goto out;
	ok = true;
	for (char *line = b.buf, *nl; ok && *line; line = nl + 1) {
		char *sp = strchr(line, ' '), *name;

		nl = strchr(line, '\n');
		if (!nl || !sp || sp > nl || !nsh_forge_is_sha(line, (size_t)(sp - line))) {
			ok = false;
			break;
		}
		*nl = '\0';
		name = strchr(sp + 1, ' ');
		if (!name)
			ok = false;
		else if (strcmp(name + 1, ref) && strcmp(name + 1, def))
			continue;
		else if (strncmp(sp + 1, "commit ", 7))
			ok = false;
		else {
			char *to = strcmp(name + 1, ref) ? out_def : out;

			memcpy(to, line, (size_t)(sp - line));
			to[sp - line] = '\0';
		}
	}
out:
	nsh_buf_release(&b);
	return ok;
}

/* Pushes of more objects than this take git fetch's path (index-pack, as fetch would). */
#define PUSH_DIRECT_OBJECTS 100
/* Packs larger than this are not held in memory: git fetch's path. */
#define PUSH_DIRECT_BYTES ((size_t)64 << 20)

/*
 * The objects of commit @sha in the workspace @work that the forge's
 * repository @bare lacks, copied into @bare in three git runs instead of
 * git fetch's seven (fetch, a shell, upload-pack, pack-objects,
 * unpack-objects, rev-list, auto-maintenance): pack-objects in the
 * workspace packs what @sha reaches less what the commits @have (held by
 * @bare) reach, unpack-objects writes them into @bare as git fetch does
 * for small packs, and rev-list checks there, as git fetch's connectivity
 * check does, that every object @sha reaches is now in @bare. The
 * workspace is not trusted: only that last check, run in @bare, decides.
 * False when any of it fails or the pack is large: the caller fetches then
 * (objects written meanwhile are unreferenced, as after a failed fetch).
 */
static bool push_direct(const char *bare, const char *work, const char *sha,
			const char *const *have, size_t nhave)
{
	struct nsh_buf revs = NSH_BUF_INIT, pack = NSH_BUF_INIT;
	struct nsh_proc p;
	bool ok = false;
	uint32_t n;

	nsh_buf_addf(&revs, "%s\n--not\n", sha);
	for (size_t i = 0; i < nhave; i++)
		if (have[i][0])
			nsh_buf_addf(&revs, "%s\n", have[i]);
	nsh_git_init(&p, work);
	nsh_strvec_pushl(&p.argv, "pack-objects", "--revs", "--stdout", "--delta-base-offset", "-q",
			 NULL);
	p.in = revs.buf;
	p.in_len = revs.len;
	p.out_max = PUSH_DIRECT_BYTES;
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	if (nsh_proc_run_checked(&p, &pack, NULL) || pack.len < 12 || memcmp(pack.buf, "PACK", 4))
		goto out;
	/* the object count of the pack's header, big-endian */
	n = (uint32_t)(unsigned char)pack.buf[8] << 24 |
	    (uint32_t)(unsigned char)pack.buf[9] << 16 |
	    (uint32_t)(unsigned char)pack.buf[10] << 8 | (uint32_t)(unsigned char)pack.buf[11];
	if (n > PUSH_DIRECT_OBJECTS)
		goto out;
	nsh_proc_release(&p);
	nsh_git_init(&p, bare);
	nsh_strvec_pushl(&p.argv, "unpack-objects", "-q", NULL);
	p.in = pack.buf;
	p.in_len = pack.len;
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	if (nsh_proc_run_checked(&p, NULL, NULL))
		goto out;
	ok = !nsh_forge_git_run(bare, NULL, 0, NULL, NULL, "rev-list", "--objects", "--quiet", sha,
				"--not", "--all", NULL);
out:
	nsh_proc_release(&p);
	nsh_buf_release(&revs);
	nsh_buf_release(&pack);
	return ok;
}

/*
 * The objects of commit @sha in the workspace @work that the forge's
 * repository @bare lacks, copied there as files (nsh_forge_loose_copy(),
 * which checks each object's hash), then the forge's connectivity check
 * ("git rev-list --objects --quiet SHA --not --all" in @bare, as git fetch
 * does): one git run. The workspace's loose objects are what its commits
 * since the clone wrote; a commit that reaches objects the workspace holds
 * only in a pack, or too many objects, fails the check or the copy, and
 * the caller takes push_direct() or git fetch then. False when any of it
 * fails.
 */
static bool push_loose(const char *bare, const char *work, const char *sha)
{
	char *gitdir = nsh_xasprintf("%s/.git", work);
	size_t n = 0;
	bool ok = false;

	if (nsh_fs_is_dir(gitdir) &&
	    !nsh_forge_loose_copy(bare, gitdir, PUSH_DIRECT_OBJECTS, PUSH_DIRECT_BYTES, &n))
		ok = !nsh_forge_git_run(bare, NULL, 0, NULL, NULL, "rev-list", "--objects",
					"--quiet", sha, "--not", "--all", NULL);
	free(gitdir);
	return ok;
}

/* git's gc.auto (6700 loose objects) over the 256 fan-out directories, rounded up */
#define LOOSE_SAMPLE_MAX 27

/*
 * What git fetch ends with, for pushes that took push_direct(): "git
 * maintenance run --auto", which packs the repository once it holds too
 * many loose objects. Started only when git's own estimate says so (more
 * than LOOSE_SAMPLE_MAX objects in objects/17), read here without a
 * process. A failure is no failure of the push.
 */
static void maintain(const char *bare)
{
	char *fan = nsh_xasprintf("%s/objects/17", bare);
	DIR *d = opendir(fan);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		n += (strlen(de->d_name) == 38 || strlen(de->d_name) == 62) &&
		     strspn(de->d_name, "0123456789abcdef") == strlen(de->d_name);
	if (d)
		closedir(d);
	free(fan);
	if (n > LOOSE_SAMPLE_MAX)
		nsh_forge_git_run(bare, NULL, 0, NULL, NULL, "maintenance", "run", "--auto",
				  "--quiet", NULL);
}

static int local_push(struct nsh_forge *f, const struct nsh_forge_push *p,
		      struct nsh_forge_push_result *ret, struct nsh_err *err)
{
	struct nsh_forge_push_result res = {0};
	struct nsh_repo_rec row = {0};
	struct nsh_pr_rec pr = {0};
	const char *rev = p->rev ? p->rev : "HEAD";
	char *bare = NULL, *ref = NULL, *def = NULL, *why = NULL, *work = NULL;
	char def_sha[NSH_FORGE_SHA_MAX + 1] = "";
	bool found = false, ancestor = true, full = false, direct = false, have = false;
	int rc;

	rc = local_repo_path(f, p->org, p->repo, &bare, err);
	if (!rc)
		rc = nsh_store_repo_get(f->store, p->org, p->repo, &row, err);
	if (rc)
		goto out;
	if (!strcmp(p->branch, row.default_branch)) {
		rc = nsh_err_set(err, NSH_EDENIED,
				 "refusing to push to '%s', the default branch of '%s/%s'; it "
				 "changes only by merging a pull request",
				 p->branch, p->org, p->repo);
		goto out;
	}
	/* git runs in the bare repository, so the workspace path must be absolute */
	work = realpath(p->workdir, NULL);
	if (!work || !nsh_fs_is_dir(work)) {
		rc = nsh_err_set(err, NSH_EINVAL, "workspace '%s' is not a directory", p->workdir);
		goto out;
	}
	/*
	 * A full object id needs no lookup in the workspace: the fetch below
	 * fails when it has no such object (then looked up, for the message)
	 * and the guarded move refuses one that is not a commit.
	 */
	if (nsh_forge_is_sha(rev, strlen(rev))) {
		memcpy(res.new_sha, rev, strlen(rev) + 1);
		full = true;
	} else {
		rc = nsh_forge_git_commit(work, rev, res.new_sha, &found, err);
		if (!rc && !found)
			rc = nsh_err_set(err, NSH_EINVAL, "no commit '%s' in '%s'", rev,
					 p->workdir);
		if (rc)
			goto out;
	}
	ref = nsh_xasprintf("refs/heads/%s", p->branch);
	def = nsh_xasprintf("refs/heads/%s", row.default_branch);
	/*
	 * The usual push, a new branch: the workspace's new objects copied as
	 * files, the forge's connectivity check, the branch created only if it
	 * is not there. Two git runs; anything else takes the way below.
	 */
	if (!f->url) {
		have = push_loose(bare, work, res.new_sha);
		if (have) {
			struct nsh_err gerr = NSH_ERR_INIT;

			why = nsh_xasprintf("nightshift: push from %s", work);
			if (!nsh_forge_git_update_ref(bare, ref, res.new_sha, "", why, &gerr)) {
				res.updated = true;
				maintain(bare);
				goto pushed;
			}
			free(why);
			why = NULL;
		}
	}
	/* the branch's commit and the default branch's (what the forge surely holds) */
	if (tips(bare, ref, def, res.old_sha, def_sha)) {
		found = res.old_sha[0] != '\0';
	} else {
		def_sha[0] = '\0';
		rc = nsh_forge_git_commit(bare, ref, res.old_sha, &found, err);
		if (rc)
			goto out;
		if (!found)
			res.old_sha[0] = '\0';
	}
	if (strcmp(res.old_sha, res.new_sha)) {
		const char *haves[] = {res.old_sha, def_sha};

		/* The objects first, without touching any ref; then the guarded move. */
		direct = have || push_direct(bare, work, res.new_sha, haves, 2);
		rc = direct ? 0
			    : nsh_forge_git_run(bare, NULL, 0, NULL, err, "fetch", "-q",
						"--no-tags", "--no-write-fetch-head", "--", work,
						res.new_sha, NULL);
		if (rc && full) {
			char sha[NSH_FORGE_SHA_MAX + 1];
			struct nsh_err lerr = NSH_ERR_INIT;

			if (!nsh_forge_git_commit(work, rev, sha, &found, &lerr) && !found) {
				rc = nsh_err_set(err, NSH_EINVAL, "no commit '%s' in '%s'", rev,
						 p->workdir);
				goto out;
			}
		}
		if (rc) {
			nsh_err_wrap(err, "fetching '%s' from '%s'", rev, p->workdir);
			goto out;
		}
		if (found)
			rc = nsh_forge_git_is_ancestor(bare, res.old_sha, res.new_sha, &ancestor,
						       err);
		if (rc)
			goto out;
		if (!ancestor && !p->force) {
			rc = nsh_err_set(err, NSH_ECONFLICT,
					 "branch '%s' of '%s/%s' has commits that %.12s does not "
					 "contain; a forced update is needed",
					 p->branch, p->org, p->repo, res.new_sha);
			goto out;
		}
		why = nsh_xasprintf("nightshift: push%s from %s", ancestor ? "" : " (forced)",
				    work);
		if (f->url)
			rc = nsh_forge_remote_set_ref(f, p->org, p->repo, bare, ref, res.new_sha,
						      res.old_sha, err);
		else
			rc = nsh_forge_git_update_ref(bare, ref, res.new_sha, res.old_sha, why,
						      err);
		if (rc == NSH_ECONFLICT)
			nsh_err_set(err, rc,
				    "branch '%s' of '%s/%s' changed while pushing; try again",
				    p->branch, p->org, p->repo);
		if (rc)
			goto out;
		res.updated = true;
		if (direct)
			maintain(bare);
		res.forced = !ancestor;
	}
pushed:
	rc = nsh_store_pr_find_head(f->store, row.id, p->branch, &pr, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
		goto done;
	}
	if (rc)
		goto out;
	res.pr_number = pr.number;
	rc = nsh_forge_local_record_head(f, &pr, bare, res.new_sha, p->pusher, &res.head_seq,
					 &res.recorded, err);
	if (rc)
		goto out;
done:
	if (ret)
		*ret = res;
out:
	nsh_pr_rec_release(&pr);
	nsh_repo_rec_release(&row);
	free(bare);
	free(ref);
	free(def);
	free(why);
	free(work);
	return rc;
}

/* ---- reading without a clone, cloning, permissions ---- */

static int local_read_file(struct nsh_forge *f, const char *org, const char *name, const char *ref,
			   const char *path, struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_repo_rec row = {0};
	struct nsh_proc p;
	char *bare = NULL, *spec = NULL;
	int rc;

	rc = local_repo_path(f, org, name, &bare, err);
	if (!rc)
		rc = nsh_store_repo_get(f->store, org, name, &row, err);
	if (rc)
		goto out;
	spec = nsh_xasprintf("%s:%s", ref ? ref : row.default_branch, path);
	nsh_git_init(&p, bare);
	nsh_strvec_pushl(&p.argv, "show", spec, "--", NULL);
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	p.out_max = NSH_FORGE_FILE_MAX;
	rc = nsh_proc_run(&p, err);
	if (!rc && p.out_truncated)
		rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is larger than %u bytes", path,
				 NSH_FORGE_FILE_MAX);
	else if (!rc && (p.exit_code || p.timed_out))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "no file '%s' at '%s' in '%s/%s'", path,
				 ref ? ref : row.default_branch, org, name);
	else if (!rc && nsh_buf_add(out, p.out.buf, p.out.len))
		rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is too large to read", path);
	nsh_proc_release(&p);
out:
	nsh_repo_rec_release(&row);
	free(bare);
	free(spec);
	return rc;
}

static int local_clone(struct nsh_forge *f, const char *org, const char *name, const char *branch,
		       const char *dir, struct nsh_err *err)
{
	struct nsh_repo_rec row = {0};
	char *bare = NULL;
	int rc;

	if (f->url) {
		/* straight from the node that holds the forge, over HTTP */
		rc = nsh_store_repo_get(f->store, org, name, &row, err);
		if (!rc)
			rc = nsh_forge_remote_clone(f, org, name,
						    branch ? branch : row.default_branch, dir, err);
		goto out;
	}
	rc = local_repo_path(f, org, name, &bare, err);
	if (!rc)
		rc = nsh_store_repo_get(f->store, org, name, &row, err);
	/*
	 * Objects copied, not hard-linked: the sandbox must not reach the
	 * forge's files. No template (sample hooks, which never run here, and
	 * info/exclude, which the caller writes if it wants one).
	 */
	if (!rc)
		rc = nsh_forge_git_run(NULL, NULL, 0, NULL, err, "clone", "--quiet",
				       "--template=", "--no-hardlinks", "--branch",
				       branch ? branch : row.default_branch, "--", bare, dir, NULL);
out:
	nsh_repo_rec_release(&row);
	free(bare);
	return rc;
}

/* The local forge has no accounts: everybody may write. */
static int local_can_write(struct nsh_forge *f, const char *org, const char *repo, const char *user,
			   bool *ret, struct nsh_err *err)
{
	(void)f;
	(void)org;
	(void)repo;
	(void)user;
	(void)err;
	*ret = true;
	return 0;
}

static int local_pr_get(struct nsh_forge *f, const struct nsh_forge_ref *pr, struct nsh_pr_rec *ret,
			struct nsh_err *err)
{
	return nsh_forge_local_pr_get(f, pr, ret, err);
}

const struct nsh_forge_ops nsh_forge_local_ops = {
	.kind = "local",
	.org_init = local_org_init,
	.import = local_import,
	.repo_list = local_repo_list,
	.repo_get = local_repo_get,
	.repo_path = local_repo_path,
	.push = local_push,
	.pr_open = nsh_forge_local_pr_open,
	.pr_update = nsh_forge_local_pr_update,
	.pr_get = local_pr_get,
	.pr_list = nsh_forge_local_pr_list,
	.pr_heads = nsh_forge_local_pr_heads,
	.pr_comment = nsh_forge_local_pr_comment,
	.pr_review = nsh_forge_local_pr_review,
	.pr_comments = nsh_forge_local_pr_comments,
	.pr_merge = nsh_forge_local_pr_merge,
	.pr_close = nsh_forge_local_pr_close,
	.pr_diff = nsh_forge_local_pr_diff,
	.read_file = local_read_file,
	.clone = local_clone,
	.can_write = local_can_write,
	.workspace = nsh_forge_local_workspace,
};
