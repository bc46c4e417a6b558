/*
 * Coverage of a test run the caller starts itself (what the orchestrator
 * does in a job): nsh_verify_cov_snap_take() before the run and
 * nsh_verify_cov_read_new() after it read only the files that run wrote.
 * A report left by an earlier run is never taken for the new one, a
 * rewritten one is (also when its size stays), verify.yml's file comes
 * first, a symbolic link or a FIFO in the workspace is not followed or
 * opened, and node --test's own table is the fallback.
 */
#include "verify/verify.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "test.h"

#include "core/banned.h"

static char *top;

/* c8 --reporter=json-summary, trimmed: 5 of 7 lines */
static const char summary_5_7[] =
	"{\"total\": {\"lines\": {\"total\": 7, \"covered\": 5, \"skipped\": 0, \"pct\": 71.42},"
	" \"statements\": {\"total\": 7, \"covered\": 5, \"skipped\": 0, \"pct\": 71.42}}}\n";
/* the same length, another figure: 6 of 7 */
static const char summary_6_7[] =
	"{\"total\": {\"lines\": {\"total\": 7, \"covered\": 6, \"skipped\": 0, \"pct\": 85.71},"
	" \"statements\": {\"total\": 7, \"covered\": 6, \"skipped\": 0, \"pct\": 85.71}}}\n";
static const char lcov_3_4[] = "TN:\nSF:/w/lib.js\nDA:1,1\nDA:2,1\nDA:3,0\nDA:4,2\nLF:4\nLH:3\n"
			       "end_of_record\n";

static char *project(const char *name)
{
	char *dir = nsh_xasprintf("%s/%s", top, name);
	struct nsh_err err = NSH_ERR_INIT;

	nsh_fs_remove_tree(dir, &err);
	CHECK_INT(nsh_fs_mkdir_p(dir, 0755, &err), 0);
	return dir;
}

/* Write @text to dir/rel (a new file: rename over any old one). */
static void put(const char *dir, const char *rel, const char *text)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);
	char *d = nsh_xstrdup(p);
	struct nsh_err err = NSH_ERR_INIT;

	*strrchr(d, '/') = '\0';
	CHECK_INT(nsh_fs_mkdir_p(d, 0755, &err), 0);
	CHECK_INT(nsh_fs_write_atomic(p, text, strlen(text), 0644, &err), 0);
	free(d);
	free(p);
}

/* Rewrite dir/rel in place (same inode), as a tool that truncates and writes does. */
static void rewrite(const char *dir, const char *rel, const char *text)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
		close(fd);
	}
	free(p);
}

/* Set dir/rel's times an hour back: a report of an earlier run. */
static void age(const char *dir, const char *rel)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);
	struct timespec t[2] = {{0, 0}, {0, 0}};
	struct stat st;

	CHECK_INT(stat(p, &st), 0);
	t[0].tv_sec = t[1].tv_sec = st.st_mtim.tv_sec - 3600;
	CHECK_INT(utimensat(AT_FDCWD, p, t, 0), 0);
	free(p);
}

/* nsh_verify_cov_read_new() over @snap, released after. */
static bool read_new(const char *dir, struct nsh_verify_cov_snap *snap, const char *tap,
		     struct nsh_verify_coverage *c)
{
	bool r = nsh_verify_cov_read_new(dir, snap, tap, tap ? strlen(tap) : 0, c);

	nsh_verify_cov_snap_release(snap);
	return r;
}

/* A file the run wrote is read; one it left as it was is not. */
static void test_written_or_stale(void)
{
	char *dir = project("stale");
	struct nsh_verify_cov_snap snap = {0};
	struct nsh_verify_coverage c = {0};

	/* nothing before, the run writes the summary */
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	CHECK(snap.nr >= 6);
	CHECK_STR(snap.v[0].path, "coverage/coverage-summary.json");
	CHECK(!snap.v[0].present);
	put(dir, "coverage/coverage-summary.json", summary_5_7);
	CHECK(read_new(dir, &snap, NULL, &c));
	CHECK(c.present && c.covered == 5 && c.total == 7);
	CHECK(c.percent > 71.42 && c.percent < 71.43);
	CHECK_STR(c.source, "coverage/coverage-summary.json");
	CHECK_INT(c.format, NSH_VERIFY_COV_ISTANBUL);

	/* the next run writes nothing: the summary of the last one is not its figure */
	age(dir, "coverage/coverage-summary.json");
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	CHECK(snap.v[0].present);
	CHECK(!read_new(dir, &snap, NULL, &c));
	CHECK(!c.present && !c.source);

	/* rewritten in place with a figure of the same length: read */
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	rewrite(dir, "coverage/coverage-summary.json", summary_6_7);
	CHECK(read_new(dir, &snap, NULL, &c));
	CHECK(c.present && c.covered == 6 && c.total == 7);

	/* replaced by another file (rename, as write-atomic tools do): read */
	age(dir, "coverage/coverage-summary.json");
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	put(dir, "coverage/coverage-summary.json", summary_5_7);
	CHECK(read_new(dir, &snap, NULL, &c));
	CHECK(c.present && c.covered == 5);

	/* a stale summary and a fresh lcov.info: the fresh one */
	age(dir, "coverage/coverage-summary.json");
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	put(dir, "coverage/lcov.info", lcov_3_4);
	CHECK(read_new(dir, &snap, NULL, &c));
	CHECK(c.present && c.covered == 3 && c.total == 4);
	CHECK_STR(c.source, "coverage/lcov.info");
	CHECK_INT(c.format, NSH_VERIFY_COV_LCOV);

	/* a fresh file that holds no figure is passed over for the next one */
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	put(dir, "coverage/coverage-summary.json", "{\"total\": {}}");
	rewrite(dir, "coverage/lcov.info", lcov_3_4);
	CHECK(read_new(dir, &snap, NULL, &c));
	CHECK_STR(c.source, "coverage/lcov.info");
	nsh_verify_coverage_release(&c);
	free(dir);
}

/* verify.yml's file is tried first; a path out of the checkout is not read. */
static void test_configured_first(void)
{
	char *dir = project("first");
	struct nsh_verify_cov_snap snap = {0};
	struct nsh_verify_coverage c = {0};

	nsh_verify_cov_snap_take(dir, "reports/cov/lcov.info", &snap);
	CHECK_STR(snap.v[0].path, "reports/cov/lcov.info");
	put(dir, "coverage/coverage-summary.json", summary_5_7);
	put(dir, "reports/cov/lcov.info", lcov_3_4);
	CHECK(read_new(dir, &snap, NULL, &c));
	CHECK_STR(c.source, "reports/cov/lcov.info");
	CHECK(c.covered == 3 && c.total == 4);

	/* "../x" and "/abs" lead out of the checkout: never read */
	put(top, "outside/lcov.info", lcov_3_4);
	nsh_verify_cov_snap_take(dir, "../outside/lcov.info", &snap);
	CHECK(!read_new(dir, &snap, NULL, &c));
	{
		char *abs = nsh_xasprintf("%s/outside/lcov.info", top);

		nsh_verify_cov_snap_take(dir, abs, &snap);
		CHECK(!read_new(dir, &snap, NULL, &c));
		free(abs);
	}
	nsh_verify_coverage_release(&c);
	free(dir);
}

/* Links and FIFOs the tests could leave in the workspace lead nowhere. */
static void test_links_and_fifos(void)
{
	char *dir = project("links");
	char *p = NULL, *target = NULL;
	struct nsh_verify_cov_snap snap = {0};
	struct nsh_verify_coverage c = {0};

	put(top, "host/coverage/coverage-summary.json", summary_5_7);
	put(top, "host/lcov.info", lcov_3_4);
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	/* the directory a link to one outside, the file a link to one outside */
	target = nsh_xasprintf("%s/host/coverage", top);
	p = nsh_xasprintf("%s/coverage", dir);
	CHECK_INT(symlink(target, p), 0);
	free(target);
	free(p);
	target = nsh_xasprintf("%s/host/lcov.info", top);
	p = nsh_xasprintf("%s/lcov.info", dir);
	CHECK_INT(symlink(target, p), 0);
	free(target);
	free(p);
	/* a FIFO would block a reader that opened it: it is not opened */
	p = nsh_xasprintf("%s/coverage.json", dir);
	CHECK_INT(mkfifo(p, 0644), 0);
	free(p);
	CHECK(!read_new(dir, &snap, NULL, &c));
	CHECK(!c.present);
	nsh_verify_coverage_release(&c);
	free(dir);
}

/* node --test --experimental-test-coverage: its table when no file was written. */
static void test_tap_table(void)
{
	static const char tap[] = "TAP version 13\nok 1 - adds\n1..1\n"
				  "# start of coverage report\n"
				  "# file      | line % | branch % | funcs % | uncovered lines\n"
				  "# lib.js    |  81.25 |    50.00 |   75.00 | 4-6\n"
				  "# all files |  81.25 |    50.00 |   75.00 |\n"
				  "# end of coverage report\n";
	char *dir = project("tap");
	struct nsh_verify_cov_snap snap = {0};
	struct nsh_verify_coverage c = {0};

	nsh_verify_cov_snap_take(dir, NULL, &snap);
	CHECK(read_new(dir, &snap, tap, &c));
	CHECK(c.present && c.percent > 81.24 && c.percent < 81.26);
	CHECK_STR(c.source, "node --test coverage report");
	/* no table, no file: nothing */
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	CHECK(!read_new(dir, &snap, "TAP version 13\nok 1 - adds\n1..1\n", &c));
	CHECK(!c.present);
	/* a file the run wrote comes before the table */
	nsh_verify_cov_snap_take(dir, NULL, &snap);
	put(dir, "lcov.info", lcov_3_4);
	CHECK(read_new(dir, &snap, tap, &c));
	CHECK_STR(c.source, "lcov.info");
	nsh_verify_coverage_release(&c);
	free(dir);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	top = t_tmpdir();
	RUN(test_written_or_stale);
	RUN(test_configured_first);
	RUN(test_links_and_fifos);
	RUN(test_tap_table);
	nsh_fs_remove_tree(top, &err);
	free(top);
	return TEST_DONE();
}
