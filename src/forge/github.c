/*
 * The GitHub forge backend: repositories and files through the REST API,
 * clone and push with git over HTTPS (the token handed over by an askpass
 * script through the environment), pull requests opened on GitHub and
 * mirrored in the store's prs table so that events, the web UI and the
 * orchestrator see them as they see the local forge's.
 */
#include "forge/github.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/proc.h"
#include "core/time.h"
#include "forge/git.h"
#include "forge/github_int.h"
#include "store/github.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

/* Repositories listed for one organisation at most. */
#define REPOS_MAX 5000
/* Comments or reviews read for one pull request at most. */
#define COMMENTS_MAX 3000
/* The environment variable the askpass script answers from. */
#define TOKEN_ENV "NSH_GITHUB_GIT_TOKEN"

static const char askpass_script[] = "#!/bin/sh\n"
				     "# nightshift: answers git's credential prompts for GitHub\n"
				     "case \"$1\" in\n"
				     "Username*) echo x-access-token ;;\n"
				     "*) printf '%s\\n' \"$" TOKEN_ENV "\" ;;\n"
				     "esac\n";

struct nsh_forge_gh *nsh_forge_gh_of(struct nsh_forge *f)
{
	return f && f->ops == &nsh_forge_github_ops ? f->priv : NULL;
}

struct nsh_github *nsh_forge_github_client(struct nsh_forge *f)
{
	struct nsh_forge_gh *g = nsh_forge_gh_of(f);

	return g ? g->gh : NULL;
}

char *nsh_forge_gh_path(const char *org, const char *repo, const char *fmt, ...)
{
	struct nsh_buf b = NSH_BUF_INIT;
	va_list ap;

	nsh_buf_addf(&b, "/repos/%s/%s", org, repo);
	va_start(ap, fmt);
	nsh_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return nsh_buf_detach(&b, NULL);
}

static struct nsh_github *gh_of(struct nsh_forge *f)
{
	return ((struct nsh_forge_gh *)f->priv)->gh;
}

/* ---- opening ---- */

static void gh_close(struct nsh_forge *f)
{
	struct nsh_forge_gh *g = f->priv;

	if (!g)
		return;
	nsh_github_free(g->gh);
	free(g->askpass);
	free(g);
	f->priv = NULL;
}

int nsh_forge_open_github(const char *home, struct nsh_store *store, const struct nsh_config *cfg,
			  struct nsh_forge **ret, struct nsh_err *err)
{
	struct nsh_github_opts o;
	struct nsh_forge_gh *g;
	struct nsh_forge *f;
	int rc;

	if (!home || !*home || !store)
		return nsh_err_set(err, NSH_EINVAL, "a forge needs a home directory and a store");
	if (!cfg)
		return nsh_err_set(err, NSH_EINVAL, "the github forge needs a configuration");
	rc = nsh_github_opts_from_config(cfg, &o, err);
	if (rc)
		return rc;
	g = nsh_xcalloc(1, sizeof(*g));
	g->cfg = cfg;
	rc = nsh_github_new(&o, &g->gh, err);
	if (rc) {
		free(g);
		return rc;
	}
	f = nsh_xcalloc(1, sizeof(*f));
	f->ops = &nsh_forge_github_ops;
	f->store = store;
	f->home = nsh_xstrdup(home);
	f->root = nsh_xasprintf("%s/forge", home);
	f->priv = g;
	*ret = f;
	return 0;
}

/* ---- git over HTTPS ---- */

/* Write the askpass script under the home once per handle; its path in g->askpass. */
static int askpass_path(struct nsh_forge *f, const char **ret, struct nsh_err *err)
{
	struct nsh_forge_gh *g = f->priv;
	char *dir, *path;
	int rc;

	if (g->askpass) {
		*ret = g->askpass;
		return 0;
	}
	dir = nsh_xasprintf("%s/github", f->home);
	path = nsh_xasprintf("%s/git-askpass", dir);
	rc = nsh_fs_mkdir_p(dir, 0700, err);
	if (!rc)
		rc = nsh_fs_write_atomic(path, askpass_script, strlen(askpass_script), 0700, err);
	free(dir);
	if (rc) {
		free(path);
		return rc;
	}
	g->askpass = path;
	*ret = path;
	return 0;
}

int nsh_forge_gh_git(struct nsh_forge *f, const char *dir, struct nsh_buf *out, struct nsh_err *err,
		     ...)
{
	struct nsh_proc p;
	const char *arg, *askpass = NULL;
	char *token = NULL;
	va_list ap;
	int rc;

	rc = askpass_path(f, &askpass, err);
	if (!rc)
		rc = nsh_github_token(gh_of(f), &token, err);
	if (rc)
		return rc;
	nsh_git_init(&p, dir);
	/* no stored credentials from anywhere, only the askpass answer */
	nsh_strvec_pushl(&p.argv, "-c", "credential.helper=", NULL);
	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)))
		nsh_strvec_push(&p.argv, arg);
	va_end(ap);
	nsh_strvec_pushf(&p.env, "GIT_ASKPASS=%s", askpass);
	nsh_strvec_pushf(&p.env, "%s=%s", TOKEN_ENV, token);
	nsh_strvec_push(&p.env, "SSH_ASKPASS");
	p.timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
	rc = nsh_proc_run_checked(&p, out, err);
	/* wipe the environment copy that held the token */
	for (size_t i = 0; i < p.env.nr; i++)
		if (!strncmp(p.env.v[i], TOKEN_ENV "=", strlen(TOKEN_ENV) + 1))
			explicit_bzero(p.env.v[i], strlen(p.env.v[i]));
	nsh_proc_release(&p);
	explicit_bzero(token, strlen(token));
	free(token);
	return rc;
}

/* ---- repositories ---- */

/* Fill @r from GitHub's repository JSON @v. */
static void repo_from_json(const json_t *v, struct nsh_forge_repo *r)
{
	const char *lang = json_string_value(json_object_get(v, "language"));
	const char *pushed = json_string_value(json_object_get(v, "pushed_at"));
	const char *created = json_string_value(json_object_get(v, "created_at"));
	const char *s;

	memset(r, 0, sizeof(*r));
	s = json_string_value(json_object_get(json_object_get(v, "owner"), "login"));
	r->org = nsh_xstrdup(s ? s : "");
	s = json_string_value(json_object_get(v, "name"));
	r->name = nsh_xstrdup(s ? s : "");
	s = json_string_value(json_object_get(v, "default_branch"));
	r->default_branch = nsh_xstrdup(s ? s : "main");
	s = json_string_value(json_object_get(v, "html_url"));
	r->source = s ? nsh_xstrdup(s) : NULL;
	if (pushed)
		nsh_time_parse_iso8601(pushed, &r->last_ms, NULL);
	if (created)
		nsh_time_parse_iso8601(created, &r->created_ms, NULL);
	if (lang) {
		/* GitHub names the main language only; its file count is unknown */
		static const char *const known[] = {"JavaScript", "TypeScript", "Python", "Go",
						    "Java",	  "Rust",	"C",	  "C++",
						    "Ruby",	  "Shell",	"Kotlin", "PHP"};

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(lang, known[i])) {
				r->langs = nsh_xcalloc(1, sizeof(*r->langs));
				r->langs[0] = (struct nsh_forge_lang){known[i], 0};
				r->nlangs = 1;
			}
	}
}

/*
 * Make sure org @org (forge 'github') and its repository @name exist in the
 * store; the repository's row id goes to @ret_id (may be NULL).
 */
static int mirror_repo(struct nsh_forge *f, const char *org, const char *name,
		       const char *default_branch, const char *source, int64_t *ret_id,
		       struct nsh_err *err)
{
	struct nsh_org_rec o = {0};
	struct nsh_repo_rec row = {0};
	int rc;

	rc = nsh_store_repo_get(f->store, org, name, &row, NULL);
	if (!rc) {
		if (ret_id)
			*ret_id = row.id;
		nsh_repo_rec_release(&row);
		return 0;
	}
	rc = nsh_store_begin(f->store, err);
	if (rc)
		return rc;
	rc = nsh_store_org_get(f->store, org, &o, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = nsh_store_org_add(f->store, org, "github", &row.org_id, err);
	} else if (!rc && strcmp(o.forge, "github")) {
		rc = nsh_err_set(err, NSH_EEXIST, "org '%s' belongs to the %s forge", org, o.forge);
	} else if (!rc) {
		row.org_id = o.id;
	}
	row.name = (char *)name;
	row.default_branch = (char *)(default_branch ? default_branch : "main");
	row.source = (char *)source;
	if (!rc)
		rc = nsh_store_repo_add(f->store, &row, ret_id, err);
	row.name = row.default_branch = row.source = NULL;
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
	nsh_org_rec_release(&o);
	nsh_repo_rec_release(&row);
	return rc;
}

/* GET /repos/O/R into *@ret (a new reference). */
static int get_repo_json(struct nsh_forge *f, const char *org, const char *name, json_t **ret,
			 struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	char *path = nsh_forge_gh_path(org, name, "%s", "");
	int rc = nsh_github_request(gh_of(f), "GET", path, NULL, &r, NULL, err);

	if (rc == NSH_ENOTFOUND)
		nsh_err_set(err, rc, "no repository '%s/%s' on github", org, name);
	else if (!rc && !json_is_object(r.json))
		rc = nsh_err_set(err, NSH_EINVAL, "GET %s: the answer is not a repository", path);
	if (!rc) {
		*ret = r.json;
		r.json = NULL;
	}
	nsh_github_resp_release(&r);
	free(path);
	return rc;
}

static int gh_org_init(struct nsh_forge *f, const char *org, bool *ret_created, struct nsh_err *err)
{
	struct nsh_org_rec o = {0};
	char *path = nsh_xasprintf("/orgs/%s", org);
	int rc;

	rc = nsh_github_request(gh_of(f), "GET", path, NULL, NULL, NULL, err);
	if (rc == NSH_ENOTFOUND) {
		free(path);
		path = nsh_xasprintf("/users/%s", org);
		nsh_err_clear(err);
		rc = nsh_github_request(gh_of(f), "GET", path, NULL, NULL, NULL, err);
		if (rc == NSH_ENOTFOUND)
			nsh_err_set(err, rc, "no organisation or user '%s' on github", org);
	}
	if (rc)
		goto out;
	rc = nsh_store_org_get(f->store, org, &o, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = nsh_store_org_add(f->store, org, "github", NULL, err);
		if (!rc && ret_created)
			*ret_created = true;
	} else if (!rc && strcmp(o.forge, "github")) {
		rc = nsh_err_set(err, NSH_EEXIST, "org '%s' belongs to the %s forge", org, o.forge);
	} else if (!rc && ret_created) {
		*ret_created = false;
	}
out:
	nsh_org_rec_release(&o);
	free(path);
	return rc;
}

static int gh_repo_list(struct nsh_forge *f, const char *org, struct nsh_forge_repo_list *ret,
			struct nsh_err *err)
{
	json_t *all = NULL, *v;
	char *path = nsh_xasprintf("/orgs/%s/repos?type=all&per_page=100", org);
	size_t i;
	int rc;

	rc = nsh_github_get_all(gh_of(f), path, NULL, REPOS_MAX, &all, err);
	if (rc == NSH_ENOTFOUND) {
		free(path);
		path = nsh_xasprintf("/users/%s/repos?type=owner&per_page=100", org);
		nsh_err_clear(err);
		rc = nsh_github_get_all(gh_of(f), path, NULL, REPOS_MAX, &all, err);
		if (rc == NSH_ENOTFOUND)
			nsh_err_set(err, rc, "no org '%s' on github", org);
	}
	if (rc)
		goto out;
	json_array_foreach(all, i, v)
	{
		struct nsh_forge_repo r;

		repo_from_json(v, &r);
		if (!nsh_forge_name_valid(r.name)) {
			nsh_forge_repo_release(&r);
			continue;
		}
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		ret->v[ret->nr++] = r;
	}
out:
	json_decref(all);
	free(path);
	return rc;
}

static int gh_repo_get(struct nsh_forge *f, const char *org, const char *name,
		       struct nsh_forge_repo *ret, struct nsh_err *err)
{
	json_t *v = NULL;
	int rc = get_repo_json(f, org, name, &v, err);

	if (!rc)
		repo_from_json(v, ret);
	json_decref(v);
	return rc;
}

/* Decode standard base64 with line breaks (the contents API's) into @out. */
static int base64_decode(const char *b64, size_t len, struct nsh_buf *out, struct nsh_err *err)
{
	size_t n = 0, max = len / 4 * 3 + 3;
	int rc = nsh_buf_grow(out, max);

	if (rc)
		return nsh_err_set(err, rc, "the file is too large to read");
	if (sodium_base642bin((unsigned char *)out->buf + out->len, max, b64, len, "\n\r ", &n,
			      NULL, sodium_base64_VARIANT_ORIGINAL))
		return nsh_err_set(err, NSH_EINVAL,
				   "github sent file contents that are not base64");
	out->len += n;
	out->buf[out->len] = '\0';
	return 0;
}

static int gh_read_file(struct nsh_forge *f, const char *org, const char *name, const char *ref,
			const char *path, struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_github_resp r = {0}, blob = {0};
	const char *enc, *content, *sha;
	char *url = NULL, *esc_ref = NULL;
	CURL *c = curl_easy_init();
	int rc;

	if (ref) {
		char *e = c ? curl_easy_escape(c, ref, 0) : NULL;

		esc_ref = e ? nsh_xstrdup(e) : nsh_xstrdup(ref);
		curl_free(e);
	}
	url = nsh_forge_gh_path(org, name, "/contents/%s%s%s", path, ref ? "?ref=" : "",
				ref ? esc_ref : "");
	rc = nsh_github_request(gh_of(f), "GET", url, NULL, &r, NULL, err);
	if (rc == NSH_ENOTFOUND)
		nsh_err_set(err, rc, "no file '%s' at '%s' in '%s/%s'", path,
			    ref ? ref : "the default branch", org, name);
	if (rc)
		goto out;
	if (!json_is_object(r.json) ||
	    strcmp(json_string_value(json_object_get(r.json, "type")) ?: "", "file")) {
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' in '%s/%s' is not a file", path, org, name);
		goto out;
	}
	enc = json_string_value(json_object_get(r.json, "encoding"));
	content = json_string_value(json_object_get(r.json, "content"));
	sha = json_string_value(json_object_get(r.json, "sha"));
	if ((!enc || strcmp(enc, "base64") || !content) && sha) {
		/* over 1 MB the contents API sends no content: read the blob */
		free(url);
		url = nsh_forge_gh_path(org, name, "/git/blobs/%s", sha);
		rc = nsh_github_request(gh_of(f), "GET", url, NULL, &blob, NULL, err);
		if (rc)
			goto out;
		content = json_string_value(json_object_get(blob.json, "content"));
		enc = json_string_value(json_object_get(blob.json, "encoding"));
	}
	if (!content || !enc || strcmp(enc, "base64")) {
		rc = nsh_err_set(err, NSH_EINVAL, "github sent no contents for '%s'", path);
		goto out;
	}
	if (strlen(content) / 4 * 3 > NSH_FORGE_FILE_MAX) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is larger than %u bytes", path,
				 NSH_FORGE_FILE_MAX);
		goto out;
	}
	rc = base64_decode(content, strlen(content), out, err);
out:
	if (c)
		curl_easy_cleanup(c);
	nsh_github_resp_release(&r);
	nsh_github_resp_release(&blob);
	free(url);
	free(esc_ref);
	return rc;
}

static int gh_clone(struct nsh_forge *f, const char *org, const char *name, const char *branch,
		    const char *dir, struct nsh_err *err)
{
	json_t *v = NULL;
	const char *url, *def;
	int rc = get_repo_json(f, org, name, &v, err);

	if (rc)
		return rc;
	url = json_string_value(json_object_get(v, "clone_url"));
	def = json_string_value(json_object_get(v, "default_branch"));
	if (!url || strncmp(url, "http", 4)) {
		rc = nsh_err_set(err, NSH_EINVAL, "github gave no https clone url for '%s/%s'", org,
				 name);
		goto out;
	}
	rc = mirror_repo(f, org, name, def, json_string_value(json_object_get(v, "html_url")), NULL,
			 err);
	if (!rc)
		rc = nsh_forge_gh_git(f, NULL, NULL, err, "clone", "--quiet", "--branch",
				      branch ? branch
				      : def  ? def
					     : "main",
				      "--", url, dir, NULL);
out:
	json_decref(v);
	return rc;
}

static int gh_can_write(struct nsh_forge *f, const char *org, const char *repo, const char *user,
			bool *ret, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	char *path = nsh_forge_gh_path(org, repo, "/collaborators/%s/permission", user);
	const char *perm;
	int rc = nsh_github_request(gh_of(f), "GET", path, NULL, &r, NULL, err);

	if (rc == NSH_ENOTFOUND) {
		/* not a collaborator (or no such user) */
		nsh_err_clear(err);
		*ret = false;
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	perm = json_string_value(json_object_get(r.json, "permission"));
	if (!perm)
		perm = json_string_value(json_object_get(r.json, "role_name"));
	*ret = perm &&
	       (!strcmp(perm, "admin") || !strcmp(perm, "maintain") || !strcmp(perm, "write"));
out:
	nsh_github_resp_release(&r);
	free(path);
	return rc;
}

/* ---- pushing ---- */

/* Record @sha as the newest head of mirrored pull request @p with a pr.updated event. */
static int record_head(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *sha,
		       bool forced, const char *pusher, int64_t *ret_seq, bool *ret_recorded,
		       struct nsh_err *err)
{
	struct nsh_pr_rec now = {0};
	int64_t seq = 0;
	int rc = nsh_store_begin(f->store, err);

	if (rc)
		return rc;
	rc = nsh_store_pr_get_id(f->store, p->id, &now, err);
	if (rc)
		goto out;
	if (now.head_sha && !strcmp(now.head_sha, sha)) {
		seq = now.head_seq;
		*ret_recorded = false;
		goto out;
	}
	rc = nsh_store_pr_head_add(f->store, now.id, sha, forced && now.head_sha, pusher, &seq,
				   err);
	if (!rc)
		rc = nsh_store_pr_save(f->store, &now, err);
	if (!rc)
		rc = nsh_forge_local_event(f, &now, "pr.updated",
					   json_pack("{s:[s], s:s, s:I, s:b, s:s?}", "changes",
						     "head", "head_sha", sha, "seq",
						     (json_int_t)seq, "forced", forced, "pushed_by",
						     pusher),
					   err);
	*ret_recorded = true;
out:
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
	else
		*ret_seq = seq;
	nsh_pr_rec_release(&now);
	return rc;
}

/* The commit branch @ref points at on the remote @url, or "" when it does not exist. */
static int remote_sha(struct nsh_forge *f, const char *url, const char *ref,
		      char out[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t n;
	int rc = nsh_forge_gh_git(f, NULL, &b, err, "ls-remote", "--", url, ref, NULL);

	out[0] = '\0';
	if (!rc) {
		n = strcspn(b.buf, "\t \n");
		if (n == 40 || n == 64) {
			memcpy(out, b.buf, n);
			out[n] = '\0';
		}
	}
	nsh_buf_release(&b);
	return rc;
}

static int gh_push(struct nsh_forge *f, const struct nsh_forge_push *p,
		   struct nsh_forge_push_result *ret, struct nsh_err *err)
{
	struct nsh_forge_push_result res = {0};
	struct nsh_pr_rec pr = {0};
	const char *rev = p->rev ? p->rev : "HEAD", *url, *def;
	char *work = NULL, *ref = NULL, *spec = NULL, *lease = NULL;
	bool found = false, ancestor = false;
	int64_t repo_id = 0;
	json_t *v = NULL;
	int rc;

	rc = get_repo_json(f, p->org, p->repo, &v, err);
	if (rc)
		goto out;
	url = json_string_value(json_object_get(v, "clone_url"));
	def = json_string_value(json_object_get(v, "default_branch"));
	if (!url || strncmp(url, "http", 4)) {
		rc = nsh_err_set(err, NSH_EINVAL, "github gave no https url for '%s/%s'", p->org,
				 p->repo);
		goto out;
	}
	if (def && !strcmp(p->branch, def)) {
		rc = nsh_err_set(err, NSH_EDENIED,
				 "refusing to push to '%s', the default branch of '%s/%s'; it "
				 "changes only by merging a pull request",
				 p->branch, p->org, p->repo);
		goto out;
	}
	work = realpath(p->workdir, NULL);
	if (!work || !nsh_fs_is_dir(work)) {
		rc = nsh_err_set(err, NSH_EINVAL, "workspace '%s' is not a directory", p->workdir);
		goto out;
	}
	rc = nsh_forge_git_commit(work, rev, res.new_sha, &found, err);
	if (!rc && !found)
		rc = nsh_err_set(err, NSH_EINVAL, "no commit '%s' in '%s'", rev, p->workdir);
	if (rc)
		goto out;
	ref = nsh_xasprintf("refs/heads/%s", p->branch);
	rc = remote_sha(f, url, ref, res.old_sha, err);
	if (rc)
		goto out;
	if (strcmp(res.old_sha, res.new_sha)) {
		if (res.old_sha[0]) {
			bool have = false;
			char tmp[NSH_FORGE_SHA_MAX + 1];

			rc = nsh_forge_git_commit(work, res.old_sha, tmp, &have, err);
			if (!rc && have)
				rc = nsh_forge_git_is_ancestor(work, res.old_sha, res.new_sha,
							       &ancestor, err);
			if (rc)
				goto out;
		} else {
			ancestor = true;
		}
		if (!ancestor && !p->force) {
			rc = nsh_err_set(err, NSH_ECONFLICT,
					 "branch '%s' of '%s/%s' has commits that %.12s does not "
					 "contain; a forced update is needed",
					 p->branch, p->org, p->repo, res.new_sha);
			goto out;
		}
		/* compare-and-swap: the push fails if the branch moved since ls-remote */
		lease = nsh_xasprintf("--force-with-lease=%s:%s", ref, res.old_sha);
		spec = nsh_xasprintf("%s:%s", res.new_sha, ref);
		rc = nsh_forge_gh_git(f, work, NULL, err, "push", "--quiet", "--no-verify", lease,
				      "--", url, spec, NULL);
		if (rc && strstr(err->msg, "stale info"))
			rc = nsh_err_set(err, NSH_ECONFLICT,
					 "branch '%s' of '%s/%s' changed while pushing; try again",
					 p->branch, p->org, p->repo);
		if (rc)
			goto out;
		res.updated = true;
		res.forced = !ancestor;
	}
	rc = mirror_repo(f, p->org, p->repo, def, json_string_value(json_object_get(v, "html_url")),
			 &repo_id, err);
	if (!rc)
		rc = nsh_store_pr_find_head(f->store, repo_id, p->branch, &pr, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	} else if (!rc) {
		res.pr_number = pr.number;
		rc = record_head(f, &pr, res.new_sha, res.forced, p->pusher, &res.head_seq,
				 &res.recorded, err);
	}
	if (!rc && ret)
		*ret = res;
out:
	nsh_pr_rec_release(&pr);
	json_decref(v);
	free(work);
	free(ref);
	free(spec);
	free(lease);
	return rc;
}

/* ---- pull requests ---- */

/* @labels (NULL-terminated, may be NULL) as a JSON array without repeats. */
static int labels_json(const char *const *labels, json_t **ret, struct nsh_err *err)
{
	json_t *a = json_array();

	for (size_t i = 0; labels && labels[i]; i++) {
		bool dup = false;
		size_t k;
		json_t *v;

		if (nsh_forge_check_text("label", labels[i], NSH_FORGE_LABEL_MAX, true, true,
					 err) ||
		    json_array_size(a) >= NSH_FORGE_LABELS_MAX) {
			json_decref(a);
			return err && err->code
				       ? err->code
				       : nsh_err_set(err, NSH_EINVAL, "more than %d labels",
						     NSH_FORGE_LABELS_MAX);
		}
		json_array_foreach(a, k, v) dup = dup || !strcmp(json_string_value(v), labels[i]);
		if (!dup)
			json_array_append_new(a, json_string(labels[i]));
	}
	*ret = a;
	return 0;
}

/* The task of a new pull request: @n->task_id, or @n->job_id's task. */
static int owner_task(struct nsh_forge *f, const struct nsh_forge_pr_new *n, char **ret,
		      struct nsh_err *err)
{
	struct nsh_job_rec job = {0};
	int rc = 0;

	*ret = NULL;
	if (n->job_id) {
		rc = nsh_store_job_get(f->store, n->job_id, &job, err);
		if (rc == NSH_ENOTFOUND)
			rc = nsh_err_set(err, NSH_EINVAL, "no job '%s'", n->job_id);
		if (!rc)
			*ret = nsh_xstrdup(job.task_id);
	} else if (n->task_id) {
		if (!nsh_store_task_exists(f->store, n->task_id))
			rc = nsh_err_set(err, NSH_EINVAL, "no task '%s'", n->task_id);
		else
			*ret = nsh_xstrdup(n->task_id);
	}
	nsh_job_rec_release(&job);
	return rc;
}

/* The pull request @n repeats in the store (the job's, or the open one of its head). */
static int find_existing(struct nsh_forge *f, const struct nsh_forge_pr_new *n, int64_t repo_id,
			 struct nsh_pr_rec *ret, bool *ret_found, struct nsh_err *err)
{
	int rc = NSH_ENOTFOUND;

	if (n->job_id)
		rc = nsh_store_pr_find_job(f->store, n->job_id, ret, err);
	if (rc == NSH_ENOTFOUND)
		rc = nsh_store_pr_find_head(f->store, repo_id, n->head, ret, err);
	*ret_found = rc == 0;
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	}
	return rc;
}

/* The state of GitHub's pull request JSON @v in the store's words. */
static const char *pr_state(const json_t *v)
{
	const char *s = json_string_value(json_object_get(v, "state"));

	if (json_string_value(json_object_get(v, "merged_at")) ||
	    json_is_true(json_object_get(v, "merged")))
		return "merged";
	if (s && !strcmp(s, "closed"))
		return "closed";
	return json_is_true(json_object_get(v, "draft")) ? "draft" : "open";
}

/*
 * Insert GitHub's pull request @v as a mirror row of repository @repo_id
 * (task, job and author given), with its head as head 1 and a pr.opened
 * event; the row goes to @ret.
 */
static int mirror_pr(struct nsh_forge *f, int64_t repo_id, const json_t *v, const char *task,
		     const char *job, const char *author, struct nsh_pr_rec *ret,
		     struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	const char *head_sha =
		json_string_value(json_object_get(json_object_get(v, "head"), "sha"));
	const char *url = json_string_value(json_object_get(v, "html_url"));
	json_t *labels = json_object_get(v, "labels"), *l;
	int64_t id = 0;
	size_t i;
	int rc;

	p.repo_id = repo_id;
	p.number = json_integer_value(json_object_get(v, "number"));
	p.task_id = (char *)task;
	p.job_id = (char *)job;
	p.head = (char *)json_string_value(json_object_get(json_object_get(v, "head"), "ref"));
	p.base = (char *)json_string_value(json_object_get(json_object_get(v, "base"), "ref"));
	p.title = (char *)json_string_value(json_object_get(v, "title"));
	p.body = (char *)json_string_value(json_object_get(v, "body"));
	p.state = (char *)pr_state(v);
	p.author = (char *)(author ? author
				   : json_string_value(
					     json_object_get(json_object_get(v, "user"), "login")));
	nsh_strvec_init(&p.labels);
	json_array_foreach(labels, i, l)
	{
		const char *name = json_string_value(json_object_get(l, "name"));

		if (name)
			nsh_strvec_push(&p.labels, name);
	}
	if (p.number < 1 || !p.head || !p.base || !p.title || !p.author) {
		nsh_strvec_release(&p.labels);
		return nsh_err_set(err, NSH_EINVAL, "github sent an incomplete pull request");
	}
	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	rc = nsh_store_gh_pr_insert(f->store, &p, json_integer_value(json_object_get(v, "id")),
				    json_string_value(json_object_get(v, "node_id")), url, &id,
				    err);
	if (!rc && head_sha && (strlen(head_sha) == 40 || strlen(head_sha) == 64))
		rc = nsh_store_pr_head_add(f->store, id, head_sha, false, p.author, NULL, err);
	if (!rc)
		rc = nsh_store_pr_get_id(f->store, id, ret, err);
	if (!rc)
		rc = nsh_forge_local_event(f, ret, "pr.opened",
					   json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:s?}",
						     "title", ret->title, "author", ret->author,
						     "head", ret->head, "base", ret->base,
						     "head_sha", head_sha, "draft",
						     !strcmp(ret->state, "draft"), "url", url),
					   err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
out:
	nsh_strvec_release(&p.labels);
	return rc;
}

/* GitHub's open pull request of head branch @head, or *@ret NULL. */
static int find_remote(struct nsh_forge *f, const char *org, const char *repo, const char *head,
		       json_t **ret, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	char *path = nsh_forge_gh_path(org, repo, "/pulls?state=open&head=%s:%s", org, head);
	int rc = nsh_github_request(gh_of(f), "GET", path, NULL, &r, NULL, err);

	*ret = NULL;
	if (!rc && json_array_size(r.json))
		*ret = json_incref(json_array_get(r.json, 0));
	nsh_github_resp_release(&r);
	free(path);
	return rc;
}

static int gh_pr_open(struct nsh_forge *f, const struct nsh_forge_pr_new *n, struct nsh_pr_rec *ret,
		      bool *ret_existed, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	struct nsh_pr_rec p = {0};
	json_t *repo = NULL, *labels = NULL, *body = NULL, *pr = NULL;
	const char *base;
	char *task = NULL, *path = NULL;
	bool existed = false;
	int64_t repo_id = 0;
	int rc;

	rc = nsh_forge_check_text("title", n->title, NSH_FORGE_TITLE_MAX, true, true, err);
	if (!rc)
		rc = nsh_forge_check_text("body", n->body, NSH_FORGE_BODY_MAX, false, false, err);
	if (!rc)
		rc = labels_json(n->labels, &labels, err);
	if (!rc)
		rc = owner_task(f, n, &task, err);
	if (!rc)
		rc = get_repo_json(f, n->org, n->repo, &repo, err);
	if (rc)
		goto out;
	base = n->base ? n->base : json_string_value(json_object_get(repo, "default_branch"));
	if (!base || !strcmp(base, n->head)) {
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "the head and the base of a pull request must differ (both '%s')",
				 n->head);
		goto out;
	}
	rc = mirror_repo(f, n->org, n->repo,
			 json_string_value(json_object_get(repo, "default_branch")),
			 json_string_value(json_object_get(repo, "html_url")), &repo_id, err);
	if (!rc)
		rc = find_existing(f, n, repo_id, &p, &existed, err);
	if (rc || existed)
		goto done;
	body = json_pack("{s:s, s:s, s:s, s:s, s:b}", "title", n->title, "head", n->head, "base",
			 base, "body", n->body ? n->body : "", "draft", n->draft);
	path = nsh_forge_gh_path(n->org, n->repo, "/pulls");
	rc = nsh_github_request(gh_of(f), "POST", path, body, &r, NULL, err);
	if (rc == NSH_ECONFLICT) {
		/* 422: one exists already (opened before a crash), or nothing to review */
		struct nsh_err e2 = NSH_ERR_INIT;

		if (!find_remote(f, n->org, n->repo, n->head, &pr, &e2) && pr) {
			nsh_err_clear(err);
			rc = 0;
		}
	} else if (!rc) {
		pr = json_incref(r.json);
	}
	if (rc)
		goto out;
	if (json_array_size(labels)) {
		json_t *lb = json_pack("{s:O}", "labels", labels);

		free(path);
		path = nsh_forge_gh_path(
			n->org, n->repo, "/issues/%lld/labels",
			(long long)json_integer_value(json_object_get(pr, "number")));
		rc = nsh_github_request(gh_of(f), "POST", path, lb, NULL, NULL, err);
		json_decref(lb);
		if (rc)
			goto out;
		{
			json_t *ls = json_array(), *l;
			size_t i;

			json_array_foreach(labels, i, l)
				json_array_append_new(ls, json_pack("{s:O}", "name", l));
			json_object_set_new(pr, "labels", ls);
		}
	}
	rc = mirror_pr(f, repo_id, pr, task, n->job_id, n->author ? n->author : n->job_id, &p, err);
done:
	if (!rc) {
		if (ret_existed)
			*ret_existed = existed;
		if (ret) {
			*ret = p;
			memset(&p, 0, sizeof(p));
		}
	}
out:
	nsh_github_resp_release(&r);
	nsh_pr_rec_release(&p);
	json_decref(repo);
	json_decref(labels);
	json_decref(body);
	json_decref(pr);
	free(task);
	free(path);
	return rc;
}

/* The mirror row of @pr, fetched from GitHub and mirrored when the store lacks it. */
static int gh_pr_get(struct nsh_forge *f, const struct nsh_forge_ref *pr, struct nsh_pr_rec *ret,
		     struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	json_t *repo = NULL;
	int64_t repo_id = 0;
	char *path = NULL;
	int rc = nsh_store_pr_get(f->store, pr->org, pr->repo, pr->number, ret, err);

	if (rc != NSH_ENOTFOUND)
		return rc;
	nsh_err_clear(err);
	path = nsh_forge_gh_path(pr->org, pr->repo, "/pulls/%lld", (long long)pr->number);
	rc = nsh_github_request(gh_of(f), "GET", path, NULL, &r, NULL, err);
	if (rc == NSH_ENOTFOUND)
		nsh_err_set(err, rc, "no pull request '%s/%s#%lld'", pr->org, pr->repo,
			    (long long)pr->number);
	if (!rc)
		rc = get_repo_json(f, pr->org, pr->repo, &repo, err);
	if (!rc)
		rc = mirror_repo(f, pr->org, pr->repo,
				 json_string_value(json_object_get(repo, "default_branch")),
				 json_string_value(json_object_get(repo, "html_url")), &repo_id,
				 err);
	if (!rc)
		rc = mirror_pr(f, repo_id, r.json, NULL, NULL, NULL, ret, err);
	nsh_github_resp_release(&r);
	json_decref(repo);
	free(path);
	return rc;
}

/* Send a GraphQL mutation @name on pull request node @node_id. */
static int graphql_pr(struct nsh_forge *f, const char *name, const char *node_id,
		      struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	char *q = nsh_xasprintf("mutation($id: ID!) { %s(input: {pullRequestId: $id}) { "
				"pullRequest { isDraft } } }",
				name);
	json_t *body = json_pack("{s:s, s:{s:s}}", "query", q, "variables", "id", node_id);
	json_t *errors;
	int rc = nsh_github_request(gh_of(f), "POST", "/graphql", body, &r, NULL, err);

	errors = json_object_get(r.json, "errors");
	if (!rc && json_array_size(errors))
		rc = nsh_err_set(
			err, NSH_EFAIL, "POST /graphql %s: %s", name,
			json_string_value(json_object_get(json_array_get(errors, 0), "message"))
				?: "failed");
	nsh_github_resp_release(&r);
	json_decref(body);
	free(q);
	return rc;
}

static int gh_pr_update(struct nsh_forge *f, const struct nsh_forge_ref *ref,
			const struct nsh_forge_pr_change *c, struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	json_t *changes = json_array(), *patch = json_object(), *labels = NULL;
	char *path = NULL, *node = NULL;
	int rc;

	rc = nsh_forge_check_text("title", c->title, NSH_FORGE_TITLE_MAX, true, false, err);
	if (!rc && c->title && !*c->title)
		rc = nsh_err_set(err, NSH_EINVAL, "the title is empty");
	if (!rc)
		rc = nsh_forge_check_text("body", c->body, NSH_FORGE_BODY_MAX, false, false, err);
	if (!rc && c->set_labels)
		rc = labels_json(c->labels, &labels, err);
	if (!rc && c->state && strcmp(c->state, "open") && strcmp(c->state, "draft"))
		rc = nsh_err_set(err, NSH_EINVAL,
				 "a pull request can only be made 'open' or 'draft' here, not "
				 "'%s'",
				 c->state);
	if (!rc)
		rc = gh_pr_get(f, ref, &p, err);
	if (rc)
		goto out;
	if (strcmp(p.state, "open") && strcmp(p.state, "draft")) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "pull request '%s/%s#%lld' is %s; %s", p.org,
				 p.repo, (long long)p.number, p.state, "it cannot change any more");
		goto out;
	}
	if (c->title && strcmp(c->title, p.title)) {
		json_object_set_new(patch, "title", json_string(c->title));
		json_array_append_new(changes, json_string("title"));
		free(p.title);
		p.title = nsh_xstrdup(c->title);
	}
	if (c->body && strcmp(c->body, p.body)) {
		json_object_set_new(patch, "body", json_string(c->body));
		json_array_append_new(changes, json_string("body"));
		free(p.body);
		p.body = nsh_xstrdup(c->body);
	}
	path = nsh_forge_gh_path(p.org, p.repo, "/pulls/%lld", (long long)p.number);
	if (json_object_size(patch))
		rc = nsh_github_request(gh_of(f), "PATCH", path, patch, NULL, NULL, err);
	if (!rc && labels) {
		bool same = json_array_size(labels) == p.labels.nr;
		json_t *l;
		size_t i;

		json_array_foreach(labels, i, l) same =
			same && !strcmp(json_string_value(l), p.labels.v[i]);
		if (!same) {
			json_t *lb = json_pack("{s:O}", "labels", labels);

			free(path);
			path = nsh_forge_gh_path(p.org, p.repo, "/issues/%lld/labels",
						 (long long)p.number);
			rc = nsh_github_request(gh_of(f), "PUT", path, lb, NULL, NULL, err);
			json_decref(lb);
			nsh_strvec_release(&p.labels);
			json_array_foreach(labels, i, l)
				nsh_strvec_push(&p.labels, json_string_value(l));
			json_array_append_new(changes, json_string("labels"));
		}
	}
	if (!rc && c->state && strcmp(c->state, p.state)) {
		rc = nsh_store_gh_pr_info(f->store, p.id, NULL, &node, NULL, err);
		if (!rc && !node)
			rc = nsh_err_set(err, NSH_EINVAL, "pull request has no github node id");
		if (!rc)
			rc = graphql_pr(f,
					!strcmp(c->state, "open") ? "markPullRequestReadyForReview"
								  : "convertPullRequestToDraft",
					node, err);
		if (!rc) {
			free(p.state);
			p.state = nsh_xstrdup(c->state);
			json_array_append_new(changes, json_string("state"));
		}
	}
	if (rc || !json_array_size(changes))
		goto out;
	rc = nsh_store_begin(f->store, err);
	if (rc)
		goto out;
	rc = nsh_store_pr_save(f->store, &p, err);
	if (!rc)
		rc = nsh_forge_local_event(
			f, &p, "pr.updated",
			json_pack("{s:O, s:s?}", "changes", changes, "by", c->by), err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
out:
	nsh_pr_rec_release(&p);
	json_decref(changes);
	json_decref(patch);
	json_decref(labels);
	free(path);
	free(node);
	return rc;
}

static int gh_pr_comment(struct nsh_forge *f, const struct nsh_forge_ref *ref,
			 const struct nsh_forge_comment *c, int64_t *ret_id, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	struct nsh_pr_rec p = {0};
	json_t *body = NULL;
	char *path = NULL;
	const char *kind = "comment";
	int rc = gh_pr_get(f, ref, &p, err);

	if (rc)
		goto out;
	if (c->in_reply_to) {
		kind = "reply";
		path = nsh_forge_gh_path(p.org, p.repo, "/pulls/%lld/comments/%lld/replies",
					 (long long)p.number, (long long)c->in_reply_to);
		body = json_pack("{s:s}", "body", c->body);
	} else if (c->path) {
		path = nsh_forge_gh_path(p.org, p.repo, "/pulls/%lld/comments",
					 (long long)p.number);
		body = json_pack("{s:s, s:s, s:s, s:I, s:s}", "body", c->body, "commit_id",
				 c->head      ? c->head
				 : p.head_sha ? p.head_sha
					      : "",
				 "path", c->path, "line", (json_int_t)c->line, "side", "RIGHT");
	} else {
		path = nsh_forge_gh_path(p.org, p.repo, "/issues/%lld/comments",
					 (long long)p.number);
		body = json_pack("{s:s}", "body", c->body);
	}
	rc = nsh_github_request(gh_of(f), "POST", path, body, &r, NULL, err);
	if (rc)
		goto out;
	if (ret_id)
		*ret_id = json_integer_value(json_object_get(r.json, "id"));
	rc = nsh_store_begin(f->store, err);
	if (!rc)
		rc = nsh_forge_local_event(
			f, &p, "pr.comment",
			json_pack("{s:I, s:s, s:s, s:s?, s:I, s:s?}", "id",
				  (json_int_t)json_integer_value(json_object_get(r.json, "id")),
				  "kind", kind, "author", c->author, "path", c->path, "line",
				  (json_int_t)c->line, "url",
				  json_string_value(json_object_get(r.json, "html_url"))),
			err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	else
		nsh_store_rollback(f->store);
out:
	nsh_github_resp_release(&r);
	nsh_pr_rec_release(&p);
	json_decref(body);
	free(path);
	return rc;
}

static int gh_pr_review(struct nsh_forge *f, const struct nsh_forge_ref *ref,
			enum nsh_forge_verdict verdict, const char *author, const char *body,
			int64_t *ret_id, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	struct nsh_pr_rec p = {0};
	const char *ev = verdict == NSH_FORGE_APPROVE ? "APPROVE" : "REQUEST_CHANGES";
	json_t *b = NULL;
	char *path = NULL;
	int rc = gh_pr_get(f, ref, &p, err);

	if (rc)
		goto out;
	path = nsh_forge_gh_path(p.org, p.repo, "/pulls/%lld/reviews", (long long)p.number);
	b = json_pack("{s:s, s:s}", "event", ev, "body", body ? body : "");
	rc = nsh_github_request(gh_of(f), "POST", path, b, &r, NULL, err);
	if (rc)
		goto out;
	if (ret_id)
		*ret_id = json_integer_value(json_object_get(r.json, "id"));
	rc = nsh_store_begin(f->store, err);
	if (!rc)
		rc = nsh_forge_local_event(
			f, &p, "pr.review",
			json_pack("{s:I, s:s, s:s}", "id",
				  (json_int_t)json_integer_value(json_object_get(r.json, "id")),
				  "verdict",
				  verdict == NSH_FORGE_APPROVE ? "approve" : "request_changes",
				  "author", author),
			err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	else
		nsh_store_rollback(f->store);
out:
	nsh_github_resp_release(&r);
	nsh_pr_rec_release(&p);
	json_decref(b);
	free(path);
	return rc;
}

int nsh_github_list(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *what,
		    json_t **ret, struct nsh_err *err)
{
	char *path;
	int rc;

	if (!nsh_forge_gh_of(f))
		return nsh_err_set(err, NSH_EDENIED, "not a github forge");
	if (!strcmp(what, "reviews"))
		path = nsh_forge_gh_path(pr->org, pr->repo, "/pulls/%lld/reviews?per_page=100",
					 (long long)pr->number);
	else if (!strcmp(what, "review_comments"))
		path = nsh_forge_gh_path(pr->org, pr->repo, "/pulls/%lld/comments?per_page=100",
					 (long long)pr->number);
	else if (!strcmp(what, "issue_comments"))
		path = nsh_forge_gh_path(pr->org, pr->repo, "/issues/%lld/comments?per_page=100",
					 (long long)pr->number);
	else
		return nsh_err_set(err, NSH_EINVAL, "unknown github list '%s'", what);
	*ret = NULL;
	rc = nsh_github_get_all(gh_of(f), path, NULL, COMMENTS_MAX, ret, err);
	free(path);
	return rc;
}

/* Append one comment of GitHub's JSON @v to @ret as @kind. */
static void add_comment(struct nsh_pr_comment_list *ret, int64_t pr_id, const json_t *v,
			const char *kind)
{
	struct nsh_pr_comment_rec *c;
	const char *s;

	NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
	c = &ret->v[ret->nr++];
	memset(c, 0, sizeof(*c));
	c->id = json_integer_value(json_object_get(v, "id"));
	c->pr_id = pr_id;
	c->kind = nsh_xstrdup(kind);
	s = json_string_value(json_object_get(json_object_get(v, "user"), "login"));
	c->author = nsh_xstrdup(s ? s : "ghost");
	s = json_string_value(json_object_get(v, "body"));
	c->body = nsh_xstrdup(s ? s : "");
	s = json_string_value(json_object_get(v, "path"));
	c->path = s ? nsh_xstrdup(s) : NULL;
	c->line = json_integer_value(json_object_get(v, "line"));
	s = json_string_value(json_object_get(v, "commit_id"));
	c->head_sha = s ? nsh_xstrdup(s) : NULL;
	c->in_reply_to = json_integer_value(json_object_get(v, "in_reply_to_id"));
	s = json_string_value(json_object_get(v, "submitted_at"));
	if (!s)
		s = json_string_value(json_object_get(v, "created_at"));
	if (s)
		nsh_time_parse_iso8601(s, &c->created_ms, NULL);
}

static int by_time(const void *a, const void *b)
{
	const struct nsh_pr_comment_rec *x = a, *y = b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int gh_pr_comments(struct nsh_forge *f, const struct nsh_forge_ref *ref,
			  struct nsh_pr_comment_list *ret, struct nsh_err *err)
{
	json_t *reviews = NULL, *inline_c = NULL, *conv = NULL, *v;
	struct nsh_pr_rec p = {0};
	size_t i, start = ret->nr;
	int rc = gh_pr_get(f, ref, &p, err);

	if (!rc)
		rc = nsh_github_list(f, ref, "reviews", &reviews, err);
	if (!rc)
		rc = nsh_github_list(f, ref, "review_comments", &inline_c, err);
	if (!rc)
		rc = nsh_github_list(f, ref, "issue_comments", &conv, err);
	if (rc)
		goto out;
	json_array_foreach(reviews, i, v)
	{
		const char *st = json_string_value(json_object_get(v, "state"));
		const char *kind = !st				      ? NULL
				   : !strcmp(st, "APPROVED")	      ? "approve"
				   : !strcmp(st, "CHANGES_REQUESTED") ? "request_changes"
				   : !strcmp(st, "COMMENTED")	      ? "comment"
								      : NULL;
		const char *body = json_string_value(json_object_get(v, "body"));

		/* a COMMENTED review without text only carries its inline comments */
		if (kind && (strcmp(kind, "comment") || (body && *body)))
			add_comment(ret, p.id, v, kind);
	}
	json_array_foreach(inline_c, i, v) add_comment(
		ret, p.id, v,
		json_integer_value(json_object_get(v, "in_reply_to_id")) ? "reply" : "comment");
	json_array_foreach(conv, i, v) add_comment(ret, p.id, v, "comment");
	if (ret->nr > start)
		qsort(ret->v + start, ret->nr - start, sizeof(ret->v[0]), by_time);
out:
	nsh_pr_rec_release(&p);
	json_decref(reviews);
	json_decref(inline_c);
	json_decref(conv);
	return rc;
}

/* Mark @p merged or closed in the store with its event. */
static int finish_pr(struct nsh_forge *f, struct nsh_pr_rec *p, const char *state, const char *sha,
		     const char *by, struct nsh_err *err)
{
	int rc = nsh_store_begin(f->store, err);

	if (rc)
		return rc;
	free(p->state);
	p->state = nsh_xstrdup(state);
	free(p->merge_sha);
	p->merge_sha = sha ? nsh_xstrdup(sha) : NULL;
	free(p->closed_by);
	p->closed_by = by ? nsh_xstrdup(by) : NULL;
	p->closed_ms = nsh_time_now_ms();
	rc = nsh_store_pr_save(f->store, p, err);
	if (!rc)
		rc = nsh_forge_local_event(
			f, p, !strcmp(state, "merged") ? "pr.merged" : "pr.closed",
			json_pack("{s:s?, s:s?}", "by", by, "merge_sha", sha), err);
	if (!rc)
		rc = nsh_store_commit(f->store, err);
	if (rc)
		nsh_store_rollback(f->store);
	return rc;
}

static int gh_pr_merge(struct nsh_forge *f, const struct nsh_forge_ref *ref, const char *by,
		       char ret_sha[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	struct nsh_pr_rec p = {0};
	char *path = NULL;
	const char *sha;
	int rc = gh_pr_get(f, ref, &p, err);

	if (!rc && strcmp(p.state, "open"))
		rc = nsh_err_set(err, NSH_ECONFLICT, "pull request '%s/%s#%lld' is %s", p.org,
				 p.repo, (long long)p.number, p.state);
	if (rc)
		goto out;
	path = nsh_forge_gh_path(p.org, p.repo, "/pulls/%lld/merge", (long long)p.number);
	rc = nsh_github_request(gh_of(f), "PUT", path, NULL, &r, NULL, err);
	if (rc)
		goto out;
	sha = json_string_value(json_object_get(r.json, "sha"));
	rc = finish_pr(f, &p, "merged", sha, by, err);
	if (!rc && ret_sha && sha && strlen(sha) <= NSH_FORGE_SHA_MAX)
		memcpy(ret_sha, sha, strlen(sha) + 1);
out:
	nsh_github_resp_release(&r);
	nsh_pr_rec_release(&p);
	free(path);
	return rc;
}

static int gh_pr_close(struct nsh_forge *f, const struct nsh_forge_ref *ref, const char *by,
		       struct nsh_err *err)
{
	struct nsh_pr_rec p = {0};
	json_t *b = json_pack("{s:s}", "state", "closed");
	char *path = NULL;
	int rc = gh_pr_get(f, ref, &p, err);

	if (rc || !strcmp(p.state, "closed"))
		goto out;
	if (!strcmp(p.state, "merged")) {
		rc = nsh_err_set(err, NSH_ECONFLICT, "pull request '%s/%s#%lld' is merged", p.org,
				 p.repo, (long long)p.number);
		goto out;
	}
	path = nsh_forge_gh_path(p.org, p.repo, "/pulls/%lld", (long long)p.number);
	rc = nsh_github_request(gh_of(f), "PATCH", path, b, NULL, NULL, err);
	if (!rc)
		rc = finish_pr(f, &p, "closed", NULL, by, err);
out:
	nsh_pr_rec_release(&p);
	json_decref(b);
	free(path);
	return rc;
}

/* ---- GitHub-only operations ---- */

int nsh_github_issue_comment(struct nsh_forge *f, const char *org, const char *repo, int64_t number,
			     const char *body, int64_t *ret_id, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	json_t *b;
	char *path;
	int rc;

	if (!nsh_forge_gh_of(f))
		return nsh_err_set(err, NSH_EDENIED, "not a github forge");
	if (nsh_forge_check_text("comment", body, NSH_FORGE_COMMENT_MAX, false, true, err))
		return err ? err->code : NSH_EINVAL;
	b = json_pack("{s:s}", "body", body);
	path = nsh_forge_gh_path(org, repo, "/issues/%lld/comments", (long long)number);
	rc = nsh_github_request(gh_of(f), "POST", path, b, &r, NULL, err);
	if (!rc && ret_id)
		*ret_id = json_integer_value(json_object_get(r.json, "id"));
	nsh_github_resp_release(&r);
	json_decref(b);
	free(path);
	return rc;
}

int nsh_github_comment_edit(struct nsh_forge *f, const char *org, const char *repo, int64_t id,
			    const char *body, struct nsh_err *err)
{
	json_t *b;
	char *path;
	int rc;

	if (!nsh_forge_gh_of(f))
		return nsh_err_set(err, NSH_EDENIED, "not a github forge");
	if (nsh_forge_check_text("comment", body, NSH_FORGE_COMMENT_MAX, false, true, err))
		return err ? err->code : NSH_EINVAL;
	b = json_pack("{s:s}", "body", body);
	path = nsh_forge_gh_path(org, repo, "/issues/comments/%lld", (long long)id);
	rc = nsh_github_request(gh_of(f), "PATCH", path, b, NULL, NULL, err);
	json_decref(b);
	free(path);
	return rc;
}

int nsh_github_labels_add(struct nsh_forge *f, const char *org, const char *repo, int64_t number,
			  const char *const *labels, struct nsh_err *err)
{
	json_t *a = NULL, *b;
	char *path;
	int rc;

	if (!nsh_forge_gh_of(f))
		return nsh_err_set(err, NSH_EDENIED, "not a github forge");
	rc = labels_json(labels, &a, err);
	if (rc)
		return rc;
	b = json_pack("{s:o}", "labels", a);
	path = nsh_forge_gh_path(org, repo, "/issues/%lld/labels", (long long)number);
	rc = nsh_github_request(gh_of(f), "POST", path, b, NULL, NULL, err);
	json_decref(b);
	free(path);
	return rc;
}

const struct nsh_forge_ops nsh_forge_github_ops = {
	.kind = "github",
	.close = gh_close,
	.org_init = gh_org_init,
	.repo_list = gh_repo_list,
	.repo_get = gh_repo_get,
	.push = gh_push,
	.pr_open = gh_pr_open,
	.pr_update = gh_pr_update,
	.pr_get = gh_pr_get,
	.pr_list = nsh_forge_local_pr_list,
	.pr_heads = nsh_forge_local_pr_heads,
	.pr_comment = gh_pr_comment,
	.pr_review = gh_pr_review,
	.pr_comments = gh_pr_comments,
	.pr_merge = gh_pr_merge,
	.pr_close = gh_pr_close,
	.read_file = gh_read_file,
	.clone = gh_clone,
	.can_write = gh_can_write,
};
