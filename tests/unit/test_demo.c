/*
 * The demo organisation: the catalogue keeps the promises the demo relies
 * on (two critical services, three that reach lodash only through the
 * shared package, the special cases in the first five), its files fit the
 * histories, and generation makes the same repositories on every run and
 * refuses a used directory.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "demo/demo.h"
#include "demo/demo_int.h"
#include "forge/git.h"
#include "test.h"

#include "core/banned.h"

static char *dir;

static size_t ncommits(const struct nsh_demo_service *s)
{
	size_t n = 0;

	while (n < NSH_DEMO_COMMITS_MAX && s->commits[n])
		n++;
	return n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static void test_catalogue(void)
{
	size_t critical = 0, transitive = 0, human = 0, alternative = 0, drift = 0;
	bool lock_v[4] = {false};

	CHECK_INT(nsh_demo_count(), 15);
	CHECK(nsh_demo_get(15) == NULL);
	for (size_t i = 0; i < nsh_demo_count(); i++) {
		const struct nsh_demo_service *s = nsh_demo_get(i);

		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(s->name, nsh_demo_get(j)->name) != 0);
		critical += s->critical;
		transitive += s->transitive;
		human += s->outcome == NSH_DEMO_HUMAN;
		alternative += s->outcome == NSH_DEMO_ALTERNATIVE;
		drift += s->lockfile_drift;
		CHECK(s->lockfile_version >= 1 && s->lockfile_version <= 3);
		lock_v[s->lockfile_version & 3] = true;
		/* Critical services say so in .nightshift/repo.yml, which needs an owner. */
		CHECK(!s->critical || s->owner);
		/* The lock file writer links the shared package in version 3 only. */
		CHECK(!s->transitive || s->lockfile_version == 3);
		CHECK(s->lodash_range && s->lodash_range[strspn(s->lodash_range, "^~")] == '3');
		CHECK(ncommits(s) >= 3);
		CHECK(s->outcome == NSH_DEMO_FIXED || s->note);
	}
	CHECK_INT(critical, 2);
	CHECK_INT(transitive, 3);
	CHECK_INT(human, 1);
	CHECK(alternative >= 1);
	CHECK_INT(drift, 1);
	CHECK(lock_v[1] && lock_v[2] && lock_v[3]);
	CHECK_STR(nsh_demo_outcome_name(NSH_DEMO_HUMAN), "human");
}

/* The promise of nsh_demo_generate() for five services and more. */
static void test_first_five(void)
{
	bool critical = false, transitive = false, heavy = false, light = false, human = false;

	for (size_t i = 0; i < 5; i++) {
		const struct nsh_demo_service *s = nsh_demo_get(i);

		critical |= s->critical;
		transitive |= s->transitive;
		heavy |= !strcmp(s->usage, "heavy");
		light |= !strcmp(s->usage, "light");
		human |= s->outcome == NSH_DEMO_HUMAN;
	}
	CHECK(critical && transitive && heavy && light && human);
}

/*
 * Every file belongs to a service of the catalogue and to one of its
 * commits but the last (which extends README.md); every commit but the
 * last adds a file; every service has a node:test suite; the transitive
 * services never require lodash themselves, the others do.
 */
static void test_files(void)
{
	for (size_t i = 0; i < nsh_demo_files_nr; i++) {
		const struct nsh_demo_file *f = &nsh_demo_files[i];
		bool known = !strcmp(f->service, NSH_DEMO_UTILS);

		for (size_t j = 0; j < nsh_demo_count(); j++)
			if (!strcmp(f->service, nsh_demo_get(j)->name))
				known = f->commit >= 1 && f->commit < ncommits(nsh_demo_get(j));
		CHECK(known);
		CHECK(f->path[0] != '/' && !strstr(f->path, ".."));
	}
	for (size_t j = 0; j < nsh_demo_count(); j++) {
		const struct nsh_demo_service *s = nsh_demo_get(j);
		bool added[NSH_DEMO_COMMITS_MAX + 1] = {false};
		size_t tests = 0, direct = 0;

		for (size_t i = 0; i < nsh_demo_files_nr; i++) {
			const struct nsh_demo_file *f = &nsh_demo_files[i];

			if (strcmp(f->service, s->name))
				continue;
			added[f->commit] = true;
			if (!strncmp(f->path, "test/", 5) && ends_with(f->path, ".test.js") &&
			    strstr(f->content, "require('node:test')"))
				tests++;
			if (strstr(f->content, "require('lodash"))
				direct++;
		}
		for (size_t k = 2; k < ncommits(s); k++)
			CHECK(added[k]);
		CHECK(tests >= 1);
		if (s->transitive)
			CHECK_INT(direct, 0);
		else
			CHECK(direct >= 1);
	}
}

/* Parse @repo/@rel as JSON; NULL (and a failed check) when it does not. */
static json_t *load_json(const char *repo, const char *rel)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/%s", repo, rel);
	json_t *v = NULL;

	CHECK_INT(nsh_fs_read_file(path, &b, 1 << 20, &err), 0);
	v = json_loadb(b.buf, b.len, 0, NULL);
	CHECK(v != NULL);
	nsh_buf_release(&b);
	free(path);
	return v;
}

static void test_generate(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_demo_repo a[3], b[3];
	char *one = nsh_xasprintf("%s/one", dir);
	char *two = nsh_xasprintf("%s/two/nested", dir);
	char *repo = nsh_xasprintf("%s/user-profiles", one);
	struct nsh_buf out = NSH_BUF_INIT;
	json_t *pkg, *lock;

	CHECK_INT(nsh_demo_generate(one, 3, a, &err), 0);
	CHECK_INT(nsh_demo_generate(two, 3, b, &err), 0);
	for (size_t i = 0; i < 3; i++) {
		CHECK(a[i].svc == nsh_demo_get(i));
		CHECK_INT(strlen(a[i].head), 40);
		/* Same contents, author and dates: the same commits. */
		CHECK_STR(a[i].head, b[i].head);
		CHECK_INT(a[i].commits, ncommits(a[i].svc));
		CHECK(a[i].lodash_refs >= a[i].lodash_files && a[i].lodash_files >= 1);
	}
	CHECK(strcmp(a[0].head, a[1].head) != 0);

	CHECK_INT(nsh_git(repo, &out, &err, "log", "--format=%an <%ae>|%s", "main", NULL), 0);
	CHECK(strstr(out.buf, "Demo Developer <dev@demo-org.example>|Initial scaffold") != NULL);
	nsh_buf_reset(&out);
	CHECK_INT(nsh_git(repo, &out, &err, "status", "--porcelain", NULL), 0);
	CHECK_INT(out.len, 0);

	pkg = load_json(repo, "package.json");
	CHECK_STR(json_string_value(
			  json_object_get(json_object_get(pkg, "dependencies"), "@demo-org/utils")),
		  "file:vendor/demo-utils");
	CHECK(json_object_get(json_object_get(pkg, "dependencies"), "lodash") == NULL);
	json_decref(pkg);
	lock = load_json(repo, "package-lock.json");
	CHECK_STR(json_string_value(json_object_get(
			  json_object_get(json_object_get(lock, "packages"), "node_modules/lodash"),
			  "version")),
		  "3.10.1");
	json_decref(lock);

	free(repo);
	free(one);
	free(two);
	nsh_buf_release(&out);
}

static void test_refusals(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *used = nsh_xasprintf("%s/used", dir);
	char *file = nsh_xasprintf("%s/used/note", dir);
	char *fresh = nsh_xasprintf("%s/fresh", dir);

	CHECK_INT(nsh_demo_generate(fresh, 0, NULL, &err), NSH_EINVAL);
	CHECK_INT(nsh_demo_generate(fresh, 16, NULL, &err), NSH_EINVAL);
	CHECK(!nsh_fs_exists(fresh));

	CHECK_INT(nsh_fs_mkdir_p(used, 0755, &err), 0);
	CHECK_INT(nsh_fs_write_atomic(file, "x", 1, 0644, &err), 0);
	CHECK_INT(nsh_demo_generate(used, 1, NULL, &err), NSH_EEXIST);
	CHECK(strstr(err.msg, "is not empty") != NULL);
	CHECK_INT(nsh_demo_generate(file, 1, NULL, &err), NSH_EEXIST);
	CHECK(strstr(err.msg, "not a directory") != NULL);

	/* An existing empty directory is fine. */
	CHECK_INT(nsh_fs_mkdir_p(fresh, 0755, &err), 0);
	CHECK_INT(nsh_demo_generate(fresh, 1, NULL, &err), 0);
	CHECK(nsh_fs_exists(used) && nsh_fs_is_dir(fresh));
	free(used);
	free(file);
	free(fresh);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	dir = t_tmpdir();
	RUN(test_catalogue);
	RUN(test_first_five);
	RUN(test_files);
	RUN(test_generate);
	RUN(test_refusals);
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
