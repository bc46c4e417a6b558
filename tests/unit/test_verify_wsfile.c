/*
 * Reading what the tools wrote in a checkout without leaving it
 * (src/verify/wsfile.c): a symbolic link, "..", a FIFO, a stale or too big
 * file is not read; a link on the way does not let a report be removed or
 * the scratch directory be made outside. And through nsh_verify_measure():
 * a coverage report that a test run replaced by a link to a file outside
 * gives no coverage, while the same report as a file does.
 */
#include "verify/verify_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "test.h"

#include "core/banned.h"

static char *top;

static void put(const char *path, const char *text)
{
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_fs_write_atomic(path, text, strlen(text), 0644, &err), 0);
}

static char *path_of(const char *a, const char *b)
{
	return nsh_xasprintf("%s/%s", a, b);
}

static void test_read_below(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	char *ws = path_of(top, "ws"), *outside = path_of(top, "outside"), *p;
	time_t now = time(NULL);
	int dfd;

	CHECK_INT(nsh_fs_mkdir_p(outside, 0700, &err), 0);
	CHECK_INT(nsh_fs_mkdir_p(ws, 0755, &err), 0);
	p = path_of(outside, "secret.json");
	put(p, "{\"key\": \"host secret\"}");
	free(p);
	p = path_of(ws, "reports");
	CHECK_INT(nsh_fs_mkdir_p(p, 0755, &err), 0);
	free(p);
	p = path_of(ws, "reports/ok.json");
	put(p, "{\"ok\": true}");
	free(p);

	/* the positive twin: a regular file below, fresh */
	CHECK(nsh_vrf_read_fresh(ws, "reports/ok.json", now - 5, 1024, &b));
	CHECK_STR(b.buf, "{\"ok\": true}");
	CHECK(nsh_vrf_read_fresh(ws, "./reports//ok.json", now - 5, 1024, &b));
	/* stale, too big, missing */
	CHECK(!nsh_vrf_read_fresh(ws, "reports/ok.json", now + 60, 1024, &b));
	CHECK(b.len == 0);
	CHECK(!nsh_vrf_read_fresh(ws, "reports/ok.json", now - 5, 4, &b));
	CHECK(!nsh_vrf_read_fresh(ws, "reports/none.json", now - 5, 1024, &b));

	/* a link as the file, a link on the way, "..", an absolute path */
	p = path_of(ws, "reports/link.json");
	CHECK_INT(symlink("../../outside/secret.json", p), 0);
	free(p);
	CHECK(!nsh_vrf_read_fresh(ws, "reports/link.json", 0, 1024, &b));
	p = path_of(ws, "out");
	CHECK_INT(symlink(outside, p), 0);
	free(p);
	CHECK(!nsh_vrf_read_fresh(ws, "out/secret.json", 0, 1024, &b));
	CHECK(!nsh_vrf_read_fresh(ws, "../outside/secret.json", 0, 1024, &b));
	CHECK(!nsh_vrf_read_fresh(ws, "reports/../../outside/secret.json", 0, 1024, &b));
	p = path_of(outside, "secret.json");
	CHECK(!nsh_vrf_read_fresh(ws, p, 0, 1024, &b));
	free(p);
	CHECK(b.len == 0);

	/* a FIFO is not opened (it would block) */
	p = path_of(ws, "reports/fifo.json");
	CHECK_INT(mkfifo(p, 0644), 0);
	free(p);
	CHECK(!nsh_vrf_read_fresh(ws, "reports/fifo.json", 0, 1024, &b));

	/* directories: by a link no, the real one yes; names with a slash no */
	CHECK(nsh_below_dir(ws, "out/") < 0);
	CHECK(nsh_below_dir(ws, "../outside/") < 0);
	dfd = nsh_below_dir(ws, "reports/");
	CHECK(dfd >= 0);
	CHECK(nsh_vrf_read_fresh_at(dfd, "ok.json", 0, 1024, &b));
	CHECK(!nsh_vrf_read_fresh_at(dfd, "link.json", 0, 1024, &b));
	CHECK(!nsh_vrf_read_fresh_at(dfd, "../ws/reports/ok.json", 0, 1024, &b));
	CHECK(!nsh_vrf_read_fresh_at(dfd, "..", 0, 1024, &b));
	close(dfd);

	/* removing: the file below goes, one reached through a link stays */
	nsh_below_unlink(ws, "out/secret.json");
	p = path_of(outside, "secret.json");
	CHECK(access(p, F_OK) == 0);
	free(p);
	nsh_below_unlink(ws, "reports/ok.json");
	p = path_of(ws, "reports/ok.json");
	CHECK(access(p, F_OK) != 0);
	free(p);

	/* the scratch directory: made below, never through a link */
	CHECK_INT(nsh_below_mkdir(ws, ".git/nightshift-verify"), 0);
	p = path_of(ws, ".git/nightshift-verify");
	CHECK(nsh_fs_is_dir(p));
	free(p);
	CHECK_INT(nsh_below_mkdir(ws, "out/made"), -1);
	p = path_of(outside, "made");
	CHECK(access(p, F_OK) != 0);
	free(p);
	CHECK_INT(nsh_below_mkdir(ws, "../escape"), -1);

	nsh_buf_release(&b);
	free(ws);
	free(outside);
}

static const char lcov_3_4[] = "TN:\nSF:/w/lib.js\nDA:1,1\nDA:2,1\nDA:3,0\nDA:4,2\nLF:4\nLH:3\n"
			       "end_of_record\n";

/* A project whose "make test" writes lcov.info as @how says: a file or a link. */
static void coverage_of(const char *how, struct nsh_verify_measure *ret)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_runner runner;
	struct nsh_verify_plan plan;
	char *dir = path_of(top, how), *p;
	const char *rule = !strcmp(how, "link") ? "\tln -sf ../host.lcov lcov.info\n"
						: "\tcp ../host.lcov lcov.info\n";

	nsh_fs_remove_tree(dir, &err);
	CHECK_INT(nsh_fs_mkdir_p(dir, 0755, &err), 0);
	p = path_of(dir, "Makefile");
	{
		char *mk = nsh_xasprintf("test:\n%s", rule);

		put(p, mk);
		free(mk);
	}
	free(p);
	nsh_verify_runner_proc(&runner, dir);
	CHECK_INT(nsh_verify_detect(dir, &plan, &err), 0);
	CHECK_INT(nsh_verify_measure(dir, &plan, &runner, NULL, ret, &err), 0);
	nsh_verify_plan_release(&plan);
	free(dir);
}

static void test_measure_does_not_follow(void)
{
	struct nsh_verify_measure m = {0};
	char *host = path_of(top, "host.lcov");

	put(host, lcov_3_4);
	coverage_of("copy", &m);
	CHECK(m.coverage.present);
	CHECK_STR(m.coverage.source, "lcov.info");
	nsh_verify_measure_release(&m);
	memset(&m, 0, sizeof(m));
	coverage_of("link", &m);
	CHECK(!m.coverage.present);
	nsh_verify_measure_release(&m);
	free(host);
}

/* Untracked files join the diff that is scanned; a link among them is not followed. */
static void test_untracked_link(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_diff d = {0};
	char *dir = path_of(top, "repo"), *p, *secret = path_of(top, "host-secret.txt");
	const char *git[] = {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
			     "-m", "base",	  NULL};
	const char *init[] = {"init", "-q", NULL}, *add[] = {"add", "-A", NULL};

	put(secret, "HOST-ONLY-CONTENT\n");
	CHECK_INT(nsh_fs_mkdir_p(dir, 0755, &err), 0);
	p = path_of(dir, "a.txt");
	put(p, "a\n");
	free(p);
	CHECK_INT(nsh_vrf_git(dir, NULL, 1 << 20, &err, init), 0);
	CHECK_INT(nsh_vrf_git(dir, NULL, 1 << 20, &err, add), 0);
	CHECK_INT(nsh_vrf_git(dir, NULL, 1 << 20, &err, git), 0);
	p = path_of(dir, "new.txt");
	put(p, "WORKSPACE-CONTENT\n");
	free(p);
	p = path_of(dir, "leak.txt");
	CHECK_INT(symlink(secret, p), 0);
	free(p);
	CHECK_INT(nsh_vrf_git_diff(dir, "HEAD", NULL, false, &d, &err), 0);
	CHECK(strstr(d.text.buf, "WORKSPACE-CONTENT") != NULL);
	CHECK(strstr(d.text.buf, "HOST-ONLY-CONTENT") == NULL);
	nsh_verify_diff_release(&d);
	free(secret);
	free(dir);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	top = t_tmpdir();
	RUN(test_read_below);
	RUN(test_measure_does_not_follow);
	RUN(test_untracked_link);
	nsh_fs_remove_tree(top, &err);
	free(top);
	return TEST_DONE();
}
