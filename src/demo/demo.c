/*
 * Making the demo repositories: for each service, its source files from
 * sources.c plus the files composed here (package.json, package-lock.json,
 * .gitignore, README.md, .nightshift/repo.yml and, for the transitive
 * services, the vendored @demo-org/utils package), committed in the order
 * the catalogue gives, with a fixed author and fixed dates.
 */
#include "demo/demo.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "demo/demo_int.h"
#include "forge/git.h"

#include "core/banned.h"

/* The lodash releases the lock files name; facts from the npm registry. */
#define LODASH_TARBALL(v) "https://registry.npmjs.org/lodash/-/lodash-" v ".tgz"
#define LODASH_3_10_1_INTEGRITY                                                       \
 "sha512-9mDDwqVIma6OZX79ZlDACZl8sBm0TEnkf99zV3iMA4GzkIT/9hiqP5mY0HoT1iNLCrKc/R1HByV" \
 "+yJfRWVJryQ=="
#define LODASH_3_9_3_INTEGRITY                                                           \
 "sha512-v5SKZhnCUujcTpFpHEIJZDVcBM2OYjROx732HyJ6kzKZtwStTb4LG6noqmK9etHqDNhf6X7itXx5s0" \
 "hTpAXPpQ=="
#define DRIFT_RANGE "^3.9.3" /* what package.json said when the drifting lock was made */

#define AUTHOR_NAME  "Demo Developer"
#define AUTHOR_EMAIL "dev@demo-org.example"
/* 2024-01-08 09:00:00 UTC: the first commit of the first service. */
#define EPOCH 1704704400LL
#define DAY   86400LL

#define UTILS_DIR     "vendor/demo-utils"
#define UTILS_VERSION "1.2.0"
#define NODE_ENGINES  ">=18"

/* "@dir/@rel" as a new string. */
static char *path_join(const char *dir, const char *rel)
{
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_fs_join(&b, dir, rel);
	return nsh_buf_detach(&b, NULL);
}

/* Write @len bytes to @repo/@rel, making its directory first. */
static int write_file(const char *repo, const char *rel, const char *data, size_t len,
		      struct nsh_err *err)
{
	char *path = path_join(repo, rel);
	char *slash = strrchr(path, '/');
	int rc;

	*slash = '\0';
	rc = nsh_fs_mkdir_p(path, 0755, err);
	*slash = '/';
	if (!rc)
		rc = nsh_fs_write_atomic(path, data, len, 0644, err);
	free(path);
	return rc;
}

/* Write @v (consumed) as JSON indented by two spaces, as npm writes it. */
static int write_json(const char *repo, const char *rel, json_t *v, struct nsh_err *err)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	struct nsh_buf b = NSH_BUF_INIT;
	int rc;

	json_decref(v);
	if (!text)
		return nsh_err_set(err, NSH_EFAIL, "cannot encode '%s'", rel);
	nsh_buf_adds(&b, text);
	nsh_buf_addch(&b, '\n');
	free(text);
	rc = write_file(repo, rel, b.buf, b.len, err);
	nsh_buf_release(&b);
	return rc;
}

static json_t *lodash_dep(const char *range)
{
	return json_pack("{s:s}", "lodash", range);
}

/* The service's dependencies object: lodash, or the vendored utils. */
static json_t *service_deps(const struct nsh_demo_service *svc, bool in_lock)
{
	if (svc->transitive)
		return json_pack("{s:s}", NSH_DEMO_UTILS, "file:" UTILS_DIR);
	return lodash_dep(in_lock && svc->lockfile_drift ? DRIFT_RANGE : svc->lodash_range);
}

static json_t *package_json(const struct nsh_demo_service *svc)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:{s:s}, s:{s:s}, s:o}", "name", svc->name,
			 "version", svc->version, "description", svc->summary, "private", 1,
			 "license", "UNLICENSED", "scripts", "test", "node --test", "engines",
			 "node", NODE_ENGINES, "dependencies", service_deps(svc, false));
}

static json_t *utils_package_json(const struct nsh_demo_service *svc)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:o}", "name", NSH_DEMO_UTILS, "version",
			 UTILS_VERSION, "description", "Helpers shared by demo-org services",
			 "private", 1, "license", "UNLICENSED", "main", "index.js", "dependencies",
			 lodash_dep(svc->lodash_range));
}

/* The locked lodash: 3.10.1, or 3.9.3 for the service whose lock drifted. */
static json_t *locked_lodash(const struct nsh_demo_service *svc, bool v1)
{
	const char *version = svc->lockfile_drift ? "3.9.3" : "3.10.1";
	const char *tarball =
		svc->lockfile_drift ? LODASH_TARBALL("3.9.3") : LODASH_TARBALL("3.10.1");
	const char *integrity =
		svc->lockfile_drift ? LODASH_3_9_3_INTEGRITY : LODASH_3_10_1_INTEGRITY;

	if (v1)
		return json_pack("{s:s, s:s, s:s}", "version", version, "resolved", tarball,
				 "integrity", integrity);
	return json_pack("{s:s, s:s, s:s, s:s}", "version", version, "resolved", tarball,
			 "integrity", integrity, "license", "MIT");
}

/*
 * package-lock.json as npm 11 writes it for @svc->lockfile_version: v1 has
 * "dependencies" only, v3 "packages" only, v2 both. A transitive service
 * links the vendored package and npm hoists its lodash to the top; the
 * catalogue gives those services lockfile version 3 only (a unit test
 * checks it), so the v1 section has no link entry.
 */
static json_t *lockfile(const struct nsh_demo_service *svc)
{
	json_t *lock = json_pack("{s:s, s:s, s:i, s:b}", "name", svc->name, "version", svc->version,
				 "lockfileVersion", svc->lockfile_version, "requires", 1);
	int v = svc->lockfile_version;

	if (v >= 2) {
		json_t *pkgs = json_object();

		json_object_set_new(pkgs, "",
				    json_pack("{s:s, s:s, s:s, s:o, s:{s:s}}", "name", svc->name,
					      "version", svc->version, "license", "UNLICENSED",
					      "dependencies", service_deps(svc, true), "engines",
					      "node", NODE_ENGINES));
		if (svc->transitive)
			json_object_set_new(
				pkgs, "node_modules/" NSH_DEMO_UTILS,
				json_pack("{s:s, s:b}", "resolved", UTILS_DIR, "link", 1));
		json_object_set_new(pkgs, "node_modules/lodash", locked_lodash(svc, false));
		if (svc->transitive)
			json_object_set_new(pkgs, UTILS_DIR,
					    json_pack("{s:s, s:s, s:s, s:o}", "name",
						      NSH_DEMO_UTILS, "version", UTILS_VERSION,
						      "license", "UNLICENSED", "dependencies",
						      lodash_dep(svc->lodash_range)));
		json_object_set_new(lock, "packages", pkgs);
	}
	if (v <= 2) {
		json_t *deps = json_object();

		json_object_set_new(deps, "lodash", locked_lodash(svc, true));
		json_object_set_new(lock, "dependencies", deps);
	}
	return lock;
}

/* README.md: a title and summary first; the last commit adds the rest. */
static void readme(struct nsh_buf *b, const struct nsh_demo_service *svc, bool full)
{
	nsh_buf_addf(b, "# %s\n\n%s.\n", svc->name, svc->summary);
	if (!full)
		return;
	if (svc->transitive)
		nsh_buf_adds(b, "\nShared helpers come from `" NSH_DEMO_UTILS
				"`, vendored in\n`" UTILS_DIR
				"/`; change them in the platform repository first.\n");
	nsh_buf_adds(b,
		     "\n## Development\n\n"
		     "Node 18 or later:\n\n"
		     "    npm install\n"
		     "    npm test\n\n"
		     "The tests use the built-in `node:test` runner and need no other package.\n");
	if (svc->owner) {
		nsh_buf_addf(b, "\n## Ownership\n\nThe %s team owns this service.", svc->owner);
		if (svc->critical)
			nsh_buf_adds(b, " It is critical: every change\nneeds a review from "
					"the owning team and ships in the morning window.");
		nsh_buf_addch(b, '\n');
	}
}

static void repo_yml(struct nsh_buf *b, const struct nsh_demo_service *svc)
{
	nsh_buf_addf(b, "# nightshift settings for %s/%s\nowner: %s\ncritical: %s\n", NSH_DEMO_ORG,
		     svc->name, svc->owner, svc->critical ? "true" : "false");
}

/* Write the composed files of commit 1. */
static int write_scaffold(const char *repo, const struct nsh_demo_service *svc, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int rc;

	rc = write_json(repo, "package.json", package_json(svc), err);
	if (!rc)
		rc = write_json(repo, "package-lock.json", lockfile(svc), err);
	if (!rc)
		rc = write_file(repo, ".gitignore", "node_modules/\n", strlen("node_modules/\n"),
				err);
	if (!rc && svc->owner) {
		repo_yml(&b, svc);
		rc = write_file(repo, ".nightshift/repo.yml", b.buf, b.len, err);
	}
	if (!rc) {
		nsh_buf_reset(&b);
		readme(&b, svc, false);
		rc = write_file(repo, "README.md", b.buf, b.len, err);
	}
	if (!rc && svc->transitive)
		rc = write_json(repo, UTILS_DIR "/package.json", utils_package_json(svc), err);
	nsh_buf_release(&b);
	return rc;
}

/*
 * Count lodash references in a .js file the way a reader greps for them:
 * "_.name" and "lodash.name", "_(" and "require('lodash" (the whole
 * package, a category path, or the vendored utils' own require). Calls of
 * destructured names are not counted.
 */
static bool is_ident(char c)
{
	return c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static size_t count_refs(const char *s)
{
	size_t n = 0;

	for (const char *p = s; *p; p++) {
		bool starts = p == s || (!is_ident(p[-1]) && p[-1] != '.');

		if (starts && p[0] == '_' &&
		    ((p[1] == '.' && is_ident(p[2]) && p[2] != '_') || p[1] == '('))
			n++;
		else if (starts && !strncmp(p, "lodash.", 7) && is_ident(p[7]))
			n++;
		else if (!strncmp(p, "require('lodash", 15))
			n++;
	}
	return n;
}

/* Write the source files of commit @k (the shared package's with commit 1). */
static int write_sources(const char *repo, const struct nsh_demo_service *svc, unsigned k,
			 struct nsh_demo_repo *r, struct nsh_err *err)
{
	for (size_t i = 0; i < nsh_demo_files_nr; i++) {
		const struct nsh_demo_file *f = &nsh_demo_files[i];
		bool utils = svc->transitive && !strcmp(f->service, NSH_DEMO_UTILS);
		char *rel;
		size_t refs;
		int rc;

		if (f->commit != k || (!utils && strcmp(f->service, svc->name)))
			continue;
		rel = utils ? path_join(UTILS_DIR, f->path) : nsh_xstrdup(f->path);
		rc = write_file(repo, rel, f->content, strlen(f->content), err);
		free(rel);
		if (rc)
			return rc;
		if (strlen(f->path) > 3 && !strcmp(f->path + strlen(f->path) - 3, ".js")) {
			refs = count_refs(f->content);
			r->lodash_refs += refs;
			r->lodash_files += refs > 0;
		}
	}
	return 0;
}

/* git, in @repo, as the demo author at @when (epoch seconds). */
static int git_as_author(const char *repo, long long when, const char *const *args,
			 struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_proc p;
	int rc;

	nsh_git_init(&p, repo);
	for (size_t i = 0; args[i]; i++)
		nsh_strvec_push(&p.argv, args[i]);
	nsh_strvec_pushl(&p.env, "GIT_AUTHOR_NAME=" AUTHOR_NAME, "GIT_AUTHOR_EMAIL=" AUTHOR_EMAIL,
			 "GIT_COMMITTER_NAME=" AUTHOR_NAME, "GIT_COMMITTER_EMAIL=" AUTHOR_EMAIL,
			 NULL);
	nsh_strvec_pushf(&p.env, "GIT_AUTHOR_DATE=%lld +0000", when);
	nsh_strvec_pushf(&p.env, "GIT_COMMITTER_DATE=%lld +0000", when);
	rc = nsh_proc_run_checked(&p, out, err);
	nsh_proc_release(&p);
	return rc;
}

/*
 * When commit @k (1-based) of service @idx was made: services start two
 * days apart, commits follow about a day apart, at odd minutes.
 */
static long long commit_time(size_t idx, unsigned k)
{
	return EPOCH + (long long)idx * 2 * DAY + (long long)(k - 1) * (DAY + 8017) +
	       (long long)((idx * 7 + k * 13) % 50) * 60;
}

/* Make the repository of service @idx in @repo (an existing empty directory). */
static int make_service(const char *repo, size_t idx, struct nsh_demo_repo *r, struct nsh_err *err)
{
	const struct nsh_demo_service *svc = &nsh_demo_services[idx];
	struct nsh_buf b = NSH_BUF_INIT;
	unsigned k;
	int rc;

	memset(r, 0, sizeof(*r));
	r->svc = svc;
	rc = nsh_git(repo, NULL, err, "init", "-q", "-b", "main", NULL);
	for (k = 1; !rc && k <= NSH_DEMO_COMMITS_MAX && svc->commits[k - 1]; k++) {
		const char *add[] = {"add", "-A", ".", NULL};
		const char *commit[] = {"commit", "-q", "-m", svc->commits[k - 1], NULL};
		long long when = commit_time(idx, k);

		if (k == 1)
			rc = write_scaffold(repo, svc, err);
		if (!rc)
			rc = write_sources(repo, svc, k, r, err);
		if (!rc && (k == NSH_DEMO_COMMITS_MAX || !svc->commits[k])) {
			nsh_buf_reset(&b);
			readme(&b, svc, true);
			rc = write_file(repo, "README.md", b.buf, b.len, err);
		}
		if (!rc)
			rc = git_as_author(repo, when, add, NULL, err);
		if (!rc)
			rc = git_as_author(repo, when, commit, NULL, err);
		if (!rc)
			r->commits++;
	}
	if (!rc) {
		nsh_buf_reset(&b);
		rc = nsh_git(repo, &b, err, "rev-parse", "HEAD", NULL);
	}
	if (!rc) {
		nsh_buf_trim(&b);
		if (b.len > NSH_DEMO_OID_MAX)
			rc = nsh_err_set(err, NSH_EFAIL, "unexpected commit id '%s'", b.buf);
		else
			memcpy(r->head, b.buf, b.len + 1);
	}
	nsh_buf_release(&b);
	if (rc)
		nsh_err_wrap(err, "demo service '%s'", svc->name);
	return rc;
}

/* 0 when @dir is missing (*@created set) or an empty directory; else NSH_EEXIST. */
static int check_target(const char *dir, bool *created, struct nsh_err *err)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*created = false;
	if (!nsh_fs_exists(dir)) {
		*created = true;
		return nsh_fs_mkdir_p(dir, 0755, err);
	}
	if (!nsh_fs_is_dir(dir))
		return nsh_err_set(err, NSH_EEXIST, "'%s' exists and is not a directory", dir);
	d = opendir(dir);
	if (!d)
		return nsh_err_sys(err, errno, "cannot read '%s'", dir);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			rc = nsh_err_set(err, NSH_EEXIST,
					 "'%s' is not empty; the demo needs a new or empty "
					 "directory",
					 dir);
			break;
		}
	closedir(d);
	return rc;
}

int nsh_demo_generate(const char *dir, size_t n, struct nsh_demo_repo *ret, struct nsh_err *err)
{
	struct nsh_demo_repo *repos = NULL;
	bool created = false;
	size_t made = 0;
	int rc;

	if (n < 1 || n > NSH_DEMO_SERVICES)
		return nsh_err_set(err, NSH_EINVAL, "the demo has 1 to %d services, not %zu",
				   NSH_DEMO_SERVICES, n);
	rc = check_target(dir, &created, err);
	if (rc)
		return rc;
	repos = nsh_xcalloc(n, sizeof(*repos));
	for (; made < n; made++) {
		char *repo = path_join(dir, nsh_demo_services[made].name);

		rc = nsh_fs_mkdir_p(repo, 0755, err);
		if (!rc)
			rc = make_service(repo, made, &repos[made], err);
		free(repo);
		if (rc) {
			made++;
			goto out;
		}
	}
	if (ret)
		memcpy(ret, repos, n * sizeof(*repos));
out:
	if (rc) {
		/* Leave nothing behind: this call made everything below @dir. */
		struct nsh_err ignored = NSH_ERR_INIT;

		if (created) {
			nsh_fs_remove_tree(dir, &ignored);
		} else {
			for (size_t i = 0; i < made; i++) {
				char *repo = path_join(dir, nsh_demo_services[i].name);

				nsh_fs_remove_tree(repo, &ignored);
				free(repo);
			}
		}
	}
	free(repos);
	return rc;
}
