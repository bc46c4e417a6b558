/*
 * The local forge of another node, reached over git's smart HTTP protocol
 * ([forge] url and [forge] token; see forge_int.h and docs/forge.md).
 *
 * Reads go to mirrors under <home>/forge-mirror, fetched before each use;
 * clones come straight from the node; branch and pull request refs are
 * pushed to it. The token is handed to git in GIT_CONFIG_COUNT/KEY/VALUE
 * variables as an http.extraHeader, so it is never in an argument (ps), a
 * URL (the clone's configuration) or an error message.
 */
#include "forge/forge_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "forge/git.h"
#include "store/store.h"

#include "core/banned.h"

#define URL_MAX	  2048 /* bytes of [forge] url */
#define TOKEN_MAX 512  /* bytes of [forge] token */

/* The url without a trailing '/', checked; NULL with @err set when it is not one we take. */
static char *check_url(const char *url, struct nsh_err *err)
{
	const char *host;
	size_t len = strlen(url), hostlen;

	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		host = NULL;
	hostlen = host ? strcspn(host, "/") : 0;
	if (!host || !hostlen || len > URL_MAX || memchr(host, '@', hostlen) ||
	    strpbrk(url, "?#") || strpbrk(url, " \t\r\n\\\"'")) {
		nsh_err_set(
			err, NSH_EINVAL,
			"invalid value for 'forge.url': expected http://HOST:PORT or "
			"https://HOST[:PORT][/PATH] (no user, query or fragment; the token goes "
			"in [forge] token)");
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] < 0x21 || url[i] == 0x7f) {
			nsh_err_set(err, NSH_EINVAL,
				    "invalid value for 'forge.url': control "
				    "characters");
			return NULL;
		}
	while (len > 8 && url[len - 1] == '/')
		len--;
	return nsh_xstrndup(url, len);
}

int nsh_forge_remote_setup(struct nsh_forge *f, const struct nsh_config *cfg, struct nsh_err *err)
{
	const char *url = cfg ? nsh_config_get(cfg, "forge", "url") : NULL;
	const char *token;
	size_t n;

	if (!url || !*url)
		return 0;
	token = nsh_config_get(cfg, "forge", "token");
	n = token ? strlen(token) : 0;
	if (!n)
		return nsh_err_set(err, NSH_EINVAL,
				   "[forge] url is set but no token: set [forge] token (or "
				   "NIGHTSHIFT_FORGE_TOKEN) to the token of the node that serves "
				   "the forge");
	if (n > TOKEN_MAX)
		return nsh_err_set(err, NSH_EINVAL, "invalid [forge] token: longer than %d bytes",
				   TOKEN_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] <= 0x20 || token[i] == 0x7f)
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid [forge] token: spaces or control characters");
	f->url = check_url(url, err);
	if (!f->url)
		return err ? err->code : NSH_EINVAL;
	f->token = nsh_xstrdup(token);
	free(f->root);
	f->root = nsh_xasprintf("%s/forge-mirror", f->home);
	return 0;
}

/* The repository's URL on the forge node; the caller frees it. */
static char *repo_url(const struct nsh_forge *f, const char *org, const char *repo)
{
	return nsh_xasprintf("%s/git/%s/%s.git", f->url, org, repo);
}

/* Prepare @p to run git in @dir with the token in its environment only. */
static void remote_git_init(const struct nsh_forge *f, struct nsh_proc *p, const char *dir)
{
	nsh_git_init(p, dir);
	nsh_strvec_pushl(&p->env, "GIT_CONFIG_COUNT=3", "GIT_CONFIG_KEY_0=http.extraHeader", NULL);
	nsh_strvec_pushf(&p->env, "GIT_CONFIG_VALUE_0=Authorization: Bearer %s", f->token);
	/* the header must not follow a redirect to another host */
	nsh_strvec_pushl(&p->env, "GIT_CONFIG_KEY_1=http.followRedirects",
			 "GIT_CONFIG_VALUE_1=false", "GIT_CONFIG_KEY_2=credential.helper",
			 "GIT_CONFIG_VALUE_2=", "GIT_ASKPASS", "SSH_ASKPASS", NULL);
	p->timeout_ms = NSH_FORGE_GIT_TIMEOUT_MS;
}

/* The last non-empty line of @b (in place), without the token should git ever echo it. */
static const char *last_line(const struct nsh_forge *f, struct nsh_buf *b)
{
	char *line, *at;

	nsh_buf_trim(b);
	line = strrchr(b->buf, '\n');
	line = line ? line + 1 : b->buf;
	while ((at = strstr(line, f->token)))
		memset(at, '*', strlen(f->token));
	return line;
}

/*
 * The error of a git run against the forge node that did not succeed:
 * the token refused, no such repository, the node unreachable, or git's
 * own last line.
 */
static int remote_error(const struct nsh_forge *f, struct nsh_proc *p, const char *what,
			const char *org, const char *repo, struct nsh_err *err)
{
	const char *e = p->err.buf ? p->err.buf : "";

	if (p->timed_out)
		return nsh_err_set(err, NSH_ETIMEOUT, "git %s of '%s/%s' at '%s' timed out", what,
				   org, repo, f->url);
	if (strstr(e, " 401") || strstr(e, "Authentication failed") ||
	    strstr(e, "could not read Username") || strstr(e, "could not read Password"))
		return nsh_err_set(err, NSH_EDENIED,
				   "the forge at '%s' refused the token (check [forge] token or "
				   "NIGHTSHIFT_FORGE_TOKEN)",
				   f->url);
	if (strstr(e, " 404") || strstr(e, "not found"))
		return nsh_err_set(err, NSH_ENOTFOUND,
				   "the forge at '%s' has no repository '%s/%s'", f->url, org,
				   repo);
	if (strstr(e, "Failed to connect") || strstr(e, "Could not resolve") ||
	    strstr(e, "Connection refused"))
		return nsh_err_set(err, NSH_EIO, "cannot reach the forge at '%s': %s", f->url,
				   last_line(f, &p->err));
	return nsh_err_set(err, NSH_EFAIL, "git %s of '%s/%s' at '%s' failed: %s", what, org, repo,
			   f->url, last_line(f, &p->err));
}

/*
 * Run "git ARGS..." (NULL-terminated) in @dir against the forge node; stdout
 * to @out (may be NULL). @what names the operation in errors.
 */
static int remote_run(const struct nsh_forge *f, const char *dir, const char *what, const char *org,
		      const char *repo, struct nsh_buf *out, struct nsh_err *err, ...)
	__attribute__((sentinel));
static int remote_run(const struct nsh_forge *f, const char *dir, const char *what, const char *org,
		      const char *repo, struct nsh_buf *out, struct nsh_err *err, ...)
{
	struct nsh_proc p;
	const char *arg;
	va_list ap;
	int rc;

	remote_git_init(f, &p, dir);
	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)))
		nsh_strvec_push(&p.argv, arg);
	va_end(ap);
	rc = nsh_proc_run(&p, err);
	if (!rc && (p.exit_code || p.timed_out))
		rc = remote_error(f, &p, what, org, repo, err);
	if (!rc && out && nsh_buf_add(out, p.out.buf, p.out.len))
		rc = nsh_err_set(err, NSH_ETOOBIG, "output of git is too large");
	nsh_proc_release(&p);
	return rc;
}

/* Take the lock of @mirror (a file next to it); *@ret_fd to close. */
static int lock_mirror(const char *mirror, int *ret_fd, struct nsh_err *err)
{
	char *path = nsh_xasprintf("%s.lock", mirror);
	char *dir = nsh_xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd = -1, rc = 0;

	if (slash)
		*slash = '\0';
	rc = nsh_fs_mkdir_p(dir, 0700, err);
	if (rc)
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = nsh_err_sys(err, errno, "cannot open '%s'", path);
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = nsh_err_sys(err, errno, "cannot lock '%s'", path);
			close(fd);
			fd = -1;
			goto out;
		}
	}
	*ret_fd = fd;
out:
	free(path);
	free(dir);
	return rc;
}

static int refresh_locked(struct nsh_forge *f, const char *org, const char *repo,
			  const char *mirror, struct nsh_err *err)
{
	struct nsh_repo_rec row = {0};
	char *url = repo_url(f, org, repo);
	char *head = NULL;
	int rc;

	rc = nsh_store_repo_get(f->store, org, repo, &row, err);
	if (!rc && !nsh_fs_is_dir(mirror))
		rc = nsh_forge_git_run(NULL, NULL, 0, NULL, err, "init", "--bare", "-q", "--",
				       mirror, NULL);
	if (!rc)
		rc = remote_run(f, mirror, "fetch", org, repo, NULL, err, "fetch", "-q", "--prune",
				"--no-tags", "--no-write-fetch-head", "--", url,
				"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
				"+refs/pull/*:refs/pull/*", NULL);
	/* HEAD names the default branch, as in the forge node's repository */
	head = nsh_xasprintf("refs/heads/%s", row.default_branch ? row.default_branch : "main");
	if (!rc)
		rc = nsh_forge_git_run(mirror, NULL, 0, NULL, err, "symbolic-ref", "HEAD", head,
				       NULL);
	nsh_repo_rec_release(&row);
	free(head);
	free(url);
	return rc;
}

int nsh_forge_remote_refresh(struct nsh_forge *f, const char *org, const char *repo,
			     const char *mirror, struct nsh_err *err)
{
	int fd = -1;
	int rc = lock_mirror(mirror, &fd, err);

	if (rc)
		return rc;
	rc = refresh_locked(f, org, repo, mirror, err);
	close(fd);
	return rc;
}

/*
 * The reason of the first refused ref in the porcelain output @out of a
 * push ("!<TAB>SRC:DST<TAB>[rejected] (why)"), or NULL. Points into @out.
 */
static const char *refused_line(struct nsh_buf *out)
{
	for (char *line = out->buf; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (line[0] == '!')
			return line;
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/*
 * Push the NULL-terminated @specs from @mirror (an optional lease first)
 * and turn a refusal into an error: NSH_ECONFLICT for a lease or a
 * fast-forward that failed, NSH_EDENIED for the node's refusal.
 */
static int push_specs(struct nsh_forge *f, const char *org, const char *repo, const char *mirror,
		      const char *lease, const char *const *specs, struct nsh_err *err)
{
	struct nsh_proc p;
	char *url = repo_url(f, org, repo);
	const char *bad;
	int rc;

	remote_git_init(f, &p, mirror);
	nsh_strvec_pushl(&p.argv, "push", "--porcelain", "--no-verify", NULL);
	if (lease)
		nsh_strvec_push(&p.argv, lease);
	nsh_strvec_pushl(&p.argv, "--", url, NULL);
	for (size_t i = 0; specs[i]; i++)
		nsh_strvec_push(&p.argv, specs[i]);
	rc = nsh_proc_run(&p, err);
	if (rc || (!p.exit_code && !p.timed_out))
		goto out;
	bad = refused_line(&p.out);
	if (!bad) {
		rc = remote_error(f, &p, "push", org, repo, err);
		goto out;
	}
	bad = strchr(bad, '[') ? strchr(bad, '[') : bad;
	if (strstr(bad, "stale info") || strstr(bad, "non-fast-forward") ||
	    strstr(bad, "fetch first") || strstr(bad, "already exists"))
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "the forge at '%s' did not take the push to "
				 "'%s/%s': %s (it changed meanwhile; try again)",
				 f->url, org, repo, bad);
	else
		rc = nsh_err_set(err, NSH_EDENIED,
				 "the forge at '%s' refused the push to '%s/%s': %s", f->url, org,
				 repo, bad);
out:
	nsh_proc_release(&p);
	free(url);
	return rc;
}

int nsh_forge_remote_set_ref(struct nsh_forge *f, const char *org, const char *repo,
			     const char *mirror, const char *ref, const char *sha, const char *old,
			     struct nsh_err *err)
{
	/* no '+': a forced refspec would override the lease */
	char *lease = nsh_xasprintf("--force-with-lease=%s:%s", ref, old ? old : "");
	char *spec = nsh_xasprintf("%s:%s", sha, ref);
	const char *specs[] = {spec, NULL};
	int fd = -1;
	int rc;

	rc = push_specs(f, org, repo, mirror, lease, specs, err);
	/* the mirror follows; a failure here only costs a fetch later */
	if (!rc && !lock_mirror(mirror, &fd, NULL)) {
		nsh_forge_git_run(mirror, NULL, 0, NULL, NULL, "update-ref", ref, sha, NULL);
		close(fd);
	}
	free(lease);
	free(spec);
	return rc;
}

int nsh_forge_remote_pull_refs(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *mirror,
			       struct nsh_err *err)
{
	struct nsh_pr_head_list heads = {0};
	struct nsh_strvec specs = NSH_STRVEC_INIT;
	int rc;

	rc = nsh_store_pr_head_list(f->store, p->id, &heads, err);
	for (size_t i = 0; !rc && i < heads.nr; i++) {
		char have[NSH_FORGE_SHA_MAX + 1];
		bool found = false;
		char *ref = nsh_xasprintf("refs/pull/%lld/heads/%lld", (long long)p->number,
					  (long long)heads.v[i].seq);

		rc = nsh_forge_git_commit(mirror, ref, have, &found, err);
		if (!rc && !found)
			nsh_strvec_pushf(&specs, "%s:%s", heads.v[i].sha, ref);
		free(ref);
	}
	if (!rc && specs.nr)
		rc = push_specs(f, p->org, p->repo, mirror, NULL, (const char *const *)specs.v,
				err);
	nsh_strvec_release(&specs);
	nsh_pr_head_list_release(&heads);
	return rc;
}

int nsh_forge_remote_clone(struct nsh_forge *f, const char *org, const char *name,
			   const char *branch, const char *dir, struct nsh_err *err)
{
	char *url = repo_url(f, org, name);
	int rc = remote_run(f, NULL, "clone", org, name, NULL, err, "clone", "--quiet", "--branch",
			    branch, "--", url, dir, NULL);

	free(url);
	return rc;
}
