/*
 * The forge interface: argument checks every backend relies on, dispatch
 * through the backend's operations, and the JSON forms of forge records.
 */
#include "forge/forge.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "forge/forge_int.h"
#include "forge/git.h"
#include "store/store.h"

#include "core/banned.h"

/* NSH_EDENIED for an operation the backend lacks. */
static int unsupported(const struct nsh_forge *f, const char *what, struct nsh_err *err)
{
	return nsh_err_set(err, NSH_EDENIED, "the %s forge cannot %s", f->ops->kind, what);
}

#define DISPATCH(f, op, what, err, ...) \
 ((f)->ops->op ? (f)->ops->op((f), __VA_ARGS__) : unsupported((f), (what), (err)))

static int check_pr_ref(const struct nsh_forge_ref *pr, struct nsh_err *err)
{
	if (!pr)
		return nsh_err_set(err, NSH_EINVAL, "missing pull request");
	if (nsh_forge_check_name("org", pr->org, err) ||
	    nsh_forge_check_name("repository", pr->repo, err))
		return err ? err->code : NSH_EINVAL;
	if (pr->number < 1 || pr->number > INT32_MAX)
		return nsh_err_set(err, NSH_EINVAL, "invalid pull request number %lld",
				   (long long)pr->number);
	return 0;
}

static int check_repo(const char *org, const char *name, struct nsh_err *err)
{
	if (nsh_forge_check_name("org", org, err) || nsh_forge_check_name("repository", name, err))
		return err ? err->code : NSH_EINVAL;
	return 0;
}

int nsh_forge_open_local(const char *home, struct nsh_store *store, struct nsh_forge **ret,
			 struct nsh_err *err)
{
	struct nsh_forge *f;

	if (!home || !*home || !store)
		return nsh_err_set(err, NSH_EINVAL, "a forge needs a home directory and a store");
	f = nsh_xcalloc(1, sizeof(*f));
	f->ops = &nsh_forge_local_ops;
	f->store = store;
	f->home = nsh_xstrdup(home);
	f->root = nsh_xasprintf("%s/forge", home);
	*ret = f;
	return 0;
}

int nsh_forge_open_for_org(const char *home, struct nsh_store *store, const struct nsh_config *cfg,
			   const char *org, struct nsh_forge **ret, struct nsh_err *err)
{
	struct nsh_org_rec o = {0};
	bool github = false;
	int rc;

	if (nsh_forge_check_name("org", org, err))
		return err ? err->code : NSH_EINVAL;
	if (!store)
		return nsh_err_set(err, NSH_EINVAL, "a forge needs a home directory and a store");
	rc = nsh_store_org_get(store, org, &o, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	} else if (!rc) {
		github = !strcmp(o.forge, "github");
	}
	nsh_org_rec_release(&o);
	if (rc)
		return rc;
	if (github)
		return nsh_forge_open_github(home, store, cfg, ret, err);
	rc = nsh_forge_open_local(home, store, ret, err);
	/* [forge] url: the local forge of another node, over HTTP */
	if (!rc && nsh_forge_remote_setup(*ret, cfg, err)) {
		nsh_forge_close(*ret);
		*ret = NULL;
		rc = err ? err->code : NSH_EINVAL;
	}
	return rc;
}

void nsh_forge_close(struct nsh_forge *f)
{
	if (!f)
		return;
	if (f->ops->close)
		f->ops->close(f);
	free(f->home);
	free(f->root);
	free(f->url);
	if (f->token)
		sodium_memzero(f->token, strlen(f->token));
	free(f->token);
	free(f);
}

const char *nsh_forge_kind(const struct nsh_forge *f)
{
	return f->ops->kind;
}

int nsh_forge_org_init(struct nsh_forge *f, const char *org, bool *ret_created, struct nsh_err *err)
{
	if (nsh_forge_check_name("org", org, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, org_init, "create organisations", err, org, ret_created, err);
}

int nsh_forge_import(struct nsh_forge *f, const char *org, const char *path, const char *name,
		     struct nsh_forge_repo *ret, struct nsh_err *err)
{
	if (nsh_forge_check_name("org", org, err) ||
	    (name && nsh_forge_check_name("repository", name, err)))
		return err ? err->code : NSH_EINVAL;
	if (!path || !*path)
		return nsh_err_set(err, NSH_EINVAL, "missing path to import");
	return DISPATCH(f, import, "import repositories", err, org, path, name, ret, err);
}

int nsh_forge_repo_list(struct nsh_forge *f, const char *org, struct nsh_forge_repo_list *ret,
			struct nsh_err *err)
{
	if (nsh_forge_check_name("org", org, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, repo_list, "list repositories", err, org, ret, err);
}

int nsh_forge_repo_get(struct nsh_forge *f, const char *org, const char *name,
		       struct nsh_forge_repo *ret, struct nsh_err *err)
{
	if (check_repo(org, name, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, repo_get, "read repositories", err, org, name, ret, err);
}

int nsh_forge_repo_path(struct nsh_forge *f, const char *org, const char *name, char **ret,
			struct nsh_err *err)
{
	if (check_repo(org, name, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, repo_path, "give repository paths", err, org, name, ret, err);
}

/* NSH_EINVAL unless @path is a relative file path without "." or ".." components. */
static int check_file_path(const char *path, struct nsh_err *err)
{
	const char *p;

	if (nsh_forge_check_text("file path", path, NSH_FORGE_PATH_MAX, true, true, err))
		return err ? err->code : NSH_EINVAL;
	if (path[0] == '/' || path[0] == '-' || path[strlen(path) - 1] == '/')
		return nsh_err_set(err, NSH_EINVAL, "invalid file path '%s'", path);
	for (p = path; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
		if (!strncmp(p, "./", 2) || !strcmp(p, ".") || !strncmp(p, "../", 3) ||
		    !strcmp(p, "..") || *p == '/')
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid file path '%s' (no '.' or '..' parts)", path);
	return 0;
}

int nsh_forge_read_file(struct nsh_forge *f, const char *org, const char *name, const char *ref,
			const char *path, struct nsh_buf *out, struct nsh_err *err)
{
	if (check_repo(org, name, err) || check_file_path(path, err))
		return err ? err->code : NSH_EINVAL;
	if (ref && (!*ref || ref[0] == '-' ||
		    nsh_forge_check_text("ref", ref, NSH_FORGE_BRANCH_MAX, true, true, NULL) ||
		    strchr(ref, ':') || strstr(ref, "..")))
		return nsh_err_set(err, NSH_EINVAL, "invalid ref '%s'", ref);
	return DISPATCH(f, read_file, "read files", err, org, name, ref, path, out, err);
}

int nsh_forge_clone(struct nsh_forge *f, const char *org, const char *name, const char *branch,
		    const char *dir, struct nsh_err *err)
{
	if (check_repo(org, name, err) || (branch && nsh_forge_check_branch(branch, err)))
		return err ? err->code : NSH_EINVAL;
	if (!dir || !*dir)
		return nsh_err_set(err, NSH_EINVAL, "missing directory to clone into");
	return DISPATCH(f, clone, "clone repositories", err, org, name, branch, dir, err);
}

/*
 * The workspace as a clone: the default branch's commit and name read in
 * one git run, then the new branch made there.
 */
static int clone_workspace(struct nsh_forge *f, const char *org, const char *name,
			   const char *branch, const char *dir,
			   char ret_base[NSH_FORGE_SHA_MAX + 1], char **ret_base_branch,
			   struct nsh_err *err)
{
	struct nsh_buf head = NSH_BUF_INIT;
	char *nl = NULL;
	int rc = nsh_forge_clone(f, org, name, NULL, dir, err);

	if (!rc)
		rc = nsh_git(dir, &head, err, "rev-parse", "HEAD", "--abbrev-ref", "HEAD", NULL);
	nsh_buf_trim(&head);
	nl = strchr(head.buf, '\n');
	if (!rc && (!nl || (size_t)(nl - head.buf) > NSH_FORGE_SHA_MAX || nl == head.buf ||
		    !nl[1] || !strcmp(nl + 1, "HEAD")))
		rc = nsh_err_set(err, NSH_EFAIL, "the clone of '%s/%s' has no branch checked out",
				 org, name);
	if (!rc)
		rc = nsh_git(dir, NULL, err, "checkout", "--quiet", "-b", branch, NULL);
	if (!rc) {
		memcpy(ret_base, head.buf, (size_t)(nl - head.buf));
		ret_base[nl - head.buf] = '\0';
		*ret_base_branch = nsh_xstrdup(nl + 1);
	}
	nsh_buf_release(&head);
	return rc;
}

int nsh_forge_workspace(struct nsh_forge *f, const char *org, const char *name, const char *branch,
			const char *dir, char ret_base[NSH_FORGE_SHA_MAX + 1],
			char **ret_base_branch, struct nsh_err *err)
{
	if (check_repo(org, name, err) || nsh_forge_check_branch(branch, err))
		return err ? err->code : NSH_EINVAL;
	if (!dir || !*dir)
		return nsh_err_set(err, NSH_EINVAL, "missing directory to clone into");
	if (f->ops->workspace && !f->url)
		return f->ops->workspace(f, org, name, branch, dir, ret_base, ret_base_branch, err);
	return clone_workspace(f, org, name, branch, dir, ret_base, ret_base_branch, err);
}

int nsh_forge_can_write(struct nsh_forge *f, const char *org, const char *repo, const char *user,
			bool *ret, struct nsh_err *err)
{
	if (check_repo(org, repo, err) ||
	    nsh_forge_check_text("user", user, NSH_FORGE_AUTHOR_MAX, true, true, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, can_write, "check permissions", err, org, repo, user, ret, err);
}

int nsh_forge_push(struct nsh_forge *f, const struct nsh_forge_push *p,
		   struct nsh_forge_push_result *ret, struct nsh_err *err)
{
	if (!p)
		return nsh_err_set(err, NSH_EINVAL, "missing push");
	if (check_repo(p->org, p->repo, err) || nsh_forge_check_branch(p->branch, err))
		return err ? err->code : NSH_EINVAL;
	if (!p->workdir || !*p->workdir)
		return nsh_err_set(err, NSH_EINVAL, "missing workspace to push from");
	if (p->rev && (!*p->rev || p->rev[0] == '-' ||
		       nsh_forge_check_text("revision", p->rev, 256, true, true, NULL)))
		return nsh_err_set(err, NSH_EINVAL, "invalid revision to push");
	if (nsh_forge_check_text("pusher", p->pusher, NSH_FORGE_AUTHOR_MAX, true, false, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, push, "push branches", err, p, ret, err);
}

int nsh_forge_pr_open(struct nsh_forge *f, const struct nsh_forge_pr_new *n, struct nsh_pr_rec *ret,
		      bool *ret_existed, struct nsh_err *err)
{
	if (!n)
		return nsh_err_set(err, NSH_EINVAL, "missing pull request");
	if (check_repo(n->org, n->repo, err) || nsh_forge_check_branch(n->head, err) ||
	    (n->base && nsh_forge_check_branch(n->base, err)))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_open, "open pull requests", err, n, ret, ret_existed, err);
}

int nsh_forge_pr_update(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			const struct nsh_forge_pr_change *c, struct nsh_err *err)
{
	if (check_pr_ref(pr, err))
		return err ? err->code : NSH_EINVAL;
	if (!c)
		return nsh_err_set(err, NSH_EINVAL, "missing change");
	return DISPATCH(f, pr_update, "change pull requests", err, pr, c, err);
}

int nsh_forge_pr_get(struct nsh_forge *f, const struct nsh_forge_ref *pr, struct nsh_pr_rec *ret,
		     struct nsh_err *err)
{
	if (check_pr_ref(pr, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_get, "read pull requests", err, pr, ret, err);
}

int nsh_forge_pr_list(struct nsh_forge *f, const struct nsh_pr_filter *flt, struct nsh_pr_list *ret,
		      struct nsh_err *err)
{
	if (flt && ((flt->org && nsh_forge_check_name("org", flt->org, err)) ||
		    (flt->repo && nsh_forge_check_name("repository", flt->repo, err))))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_list, "list pull requests", err, flt, ret, err);
}

int nsh_forge_pr_heads(struct nsh_forge *f, const struct nsh_forge_ref *pr,
		       struct nsh_pr_head_list *ret, struct nsh_err *err)
{
	if (check_pr_ref(pr, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_heads, "read pull request heads", err, pr, ret, err);
}

int nsh_forge_pr_comment(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			 const struct nsh_forge_comment *c, int64_t *ret_id, struct nsh_err *err)
{
	if (!c)
		return nsh_err_set(err, NSH_EINVAL, "missing comment");
	if (check_pr_ref(pr, err) ||
	    nsh_forge_check_text("author", c->author, NSH_FORGE_AUTHOR_MAX, true, true, err) ||
	    nsh_forge_check_text("comment", c->body, NSH_FORGE_COMMENT_MAX, false, true, err) ||
	    nsh_forge_check_text("file path", c->path, NSH_FORGE_PATH_MAX, true, false, err))
		return err ? err->code : NSH_EINVAL;
	if ((c->path && *c->path) != (c->line != 0))
		return nsh_err_set(err, NSH_EINVAL,
				   "an inline comment needs both a file and a line");
	if (c->line < 0 || c->line > INT32_MAX)
		return nsh_err_set(err, NSH_EINVAL, "invalid line %lld (lines count from 1)",
				   (long long)c->line);
	return DISPATCH(f, pr_comment, "comment on pull requests", err, pr, c, ret_id, err);
}

int nsh_forge_pr_review(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			enum nsh_forge_verdict verdict, const char *author, const char *body,
			int64_t *ret_id, struct nsh_err *err)
{
	if (check_pr_ref(pr, err) ||
	    nsh_forge_check_text("author", author, NSH_FORGE_AUTHOR_MAX, true, true, err) ||
	    nsh_forge_check_text("review", body, NSH_FORGE_COMMENT_MAX, false,
				 verdict == NSH_FORGE_REQUEST_CHANGES, err))
		return err ? err->code : NSH_EINVAL;
	if (verdict != NSH_FORGE_APPROVE && verdict != NSH_FORGE_REQUEST_CHANGES)
		return nsh_err_set(err, NSH_EINVAL, "unknown review verdict");
	return DISPATCH(f, pr_review, "review pull requests", err, pr, verdict, author, body,
			ret_id, err);
}

int nsh_forge_pr_comments(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			  struct nsh_pr_comment_list *ret, struct nsh_err *err)
{
	if (check_pr_ref(pr, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_comments, "read comments", err, pr, ret, err);
}

int nsh_forge_pr_merge(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
		       char ret_sha[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err)
{
	if (check_pr_ref(pr, err) ||
	    nsh_forge_check_text("author", by, NSH_FORGE_AUTHOR_MAX, true, false, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_merge, "merge pull requests", err, pr, by, ret_sha, err);
}

int nsh_forge_pr_close(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
		       struct nsh_err *err)
{
	if (check_pr_ref(pr, err) ||
	    nsh_forge_check_text("author", by, NSH_FORGE_AUTHOR_MAX, true, false, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_close, "close pull requests", err, pr, by, err);
}

int nsh_forge_pr_diff(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *head,
		      struct nsh_buf *out, struct nsh_err *err)
{
	if (check_pr_ref(pr, err))
		return err ? err->code : NSH_EINVAL;
	return DISPATCH(f, pr_diff, "diff pull requests", err, pr, head, out, err);
}

/* ---- JSON ---- */

static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, v ? json_string(v) : json_null());
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
	char buf[NSH_TIME_ISO_MAX];

	json_object_set_new(o, key, ms ? json_string(nsh_time_iso8601(ms, buf)) : json_null());
}

char *nsh_forge_pr_name(const struct nsh_pr_rec *p)
{
	return nsh_xasprintf("%s/%s#%lld", p->org, p->repo, (long long)p->number);
}

json_t *nsh_forge_repo_to_json(const struct nsh_forge_repo *r)
{
	json_t *o = json_object(), *langs = json_array(), *last = json_null();

	set_str(o, "org", r->org);
	set_str(o, "name", r->name);
	set_str(o, "default_branch", r->default_branch);
	set_str(o, "path", r->path);
	set_str(o, "source", r->source);
	if (r->last_sha) {
		last = json_object();
		set_str(last, "sha", r->last_sha);
		set_time(last, "date", r->last_ms);
		set_str(last, "subject", r->last_subject);
	}
	json_object_set_new(o, "last_commit", last);
	json_object_set_new(o, "files", json_integer((json_int_t)r->files));
	for (size_t i = 0; i < r->nlangs; i++)
		json_array_append_new(langs, json_pack("{s:s, s:I}", "name", r->langs[i].name,
						       "files", (json_int_t)r->langs[i].files));
	json_object_set_new(o, "languages", langs);
	if (r->error)
		set_str(o, "error", r->error);
	set_time(o, "created_at", r->created_ms);
	return o;
}

json_t *nsh_forge_pr_to_json(const struct nsh_pr_rec *p)
{
	json_t *o = json_object(), *labels = json_array();
	char *name = nsh_forge_pr_name(p);

	set_str(o, "ref", name);
	set_str(o, "org", p->org);
	set_str(o, "repo", p->repo);
	json_object_set_new(o, "number", json_integer(p->number));
	set_str(o, "state", p->state);
	set_str(o, "title", p->title);
	set_str(o, "body", p->body);
	set_str(o, "head", p->head);
	set_str(o, "base", p->base);
	set_str(o, "head_sha", p->head_sha);
	json_object_set_new(o, "head_seq", json_integer(p->head_seq));
	for (size_t i = 0; i < p->labels.nr; i++)
		json_array_append_new(labels, json_string(p->labels.v[i]));
	json_object_set_new(o, "labels", labels);
	set_str(o, "author", p->author);
	set_str(o, "task", p->task_id);
	set_str(o, "job", p->job_id);
	set_str(o, "merge_sha", p->merge_sha);
	set_str(o, "closed_by", p->closed_by);
	set_time(o, "created_at", p->created_ms);
	set_time(o, "updated_at", p->updated_ms);
	set_time(o, "closed_at", p->closed_ms);
	free(name);
	return o;
}

json_t *nsh_forge_head_to_json(const struct nsh_pr_head_rec *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "seq", json_integer(h->seq));
	set_str(o, "sha", h->sha);
	json_object_set_new(o, "forced", json_boolean(h->forced));
	set_str(o, "pushed_by", h->pushed_by);
	set_time(o, "created_at", h->created_ms);
	return o;
}

json_t *nsh_forge_comment_to_json(const struct nsh_pr_comment_rec *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(c->id));
	set_str(o, "kind", c->kind);
	set_str(o, "author", c->author);
	set_str(o, "body", c->body);
	set_str(o, "path", c->path);
	json_object_set_new(o, "line", c->line ? json_integer(c->line) : json_null());
	set_str(o, "head_sha", c->head_sha);
	json_object_set_new(o, "in_reply_to",
			    c->in_reply_to ? json_integer(c->in_reply_to) : json_null());
	set_time(o, "created_at", c->created_ms);
	set_time(o, "handled_at", c->handled_ms);
	return o;
}
