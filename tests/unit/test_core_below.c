/*
 * Files below a directory (src/core/below.c): reads and writes that no
 * symbolic link, "..", absolute path or special file can take out of it,
 * each refusal with its error code, and the positive twins.
 */
#include "core/below.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "test.h"

#include "core/banned.h"

static char *top, *ws, *outside;

static char *at(const char *a, const char *b)
{
	return nsh_xasprintf("%s/%s", a, b);
}

static void put(const char *d, const char *rel, const char *text)
{
	char *p = at(d, rel);

	CHECK_INT(nsh_fs_write_atomic(p, text, strlen(text), 0644, NULL), 0);
	free(p);
}

static char *get(const char *d, const char *rel)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *p = at(d, rel);

	nsh_fs_read_file(p, &b, 1 << 20, NULL);
	free(p);
	return nsh_buf_detach(&b, NULL);
}

/* Number of entries in @d, besides "." and "..". */
static int count_entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *de;
	int n = 0;

	if (!dh)
		return -1;
	while ((de = readdir(dh)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(dh);
	return n;
}

static void link_at(const char *target, const char *rel)
{
	char *p = at(ws, rel);

	CHECK_INT(symlink(target, p), 0);
	free(p);
}

/* nsh_below_read() of @rel fails with @code, a message naming @rel, @out untouched. */
static void read_fails(const char *rel, int code)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_buf_adds(&b, "kept");
	CHECK_INT(nsh_below_read(ws, rel, &b, 1024, &err), code);
	CHECK_STR(b.buf, "kept");
	if (*rel != '/')
		CHECK(strstr(err.msg, rel) != NULL);
	nsh_buf_release(&b);
}

static void test_read(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	char *p;

	put(outside, "secret", "HOST SECRET\n");
	CHECK_INT(nsh_fs_mkdir_p(ws, 0755, &err), 0);
	p = at(ws, "src/deep");
	CHECK_INT(nsh_fs_mkdir_p(p, 0755, &err), 0);
	free(p);
	put(ws, "src/deep/a.js", "A\n");

	/* the positive twins: plain, and spelled with "./" and "//" */
	CHECK_INT(nsh_below_read(ws, "src/deep/a.js", &b, 1024, &err), 0);
	CHECK_STR(b.buf, "A\n");
	nsh_buf_reset(&b);
	CHECK_INT(nsh_below_read(ws, "./src//deep/a.js", &b, 1024, &err), 0);
	CHECK_STR(b.buf, "A\n");

	link_at("../outside/secret", "file-link");
	link_at("deep/a.js", "src/inner-link"); /* stays inside, still not followed */
	link_at("../outside", "dir-link");
	read_fails("file-link", NSH_EDENIED);
	read_fails("src/inner-link", NSH_EDENIED);
	read_fails("dir-link/secret", NSH_EDENIED);
	read_fails("../outside/secret", NSH_EDENIED);
	read_fails("src/../../outside/secret", NSH_EDENIED);
	p = at(outside, "secret");
	read_fails(p, NSH_EDENIED);
	free(p);
	read_fails("src/none.js", NSH_ENOTFOUND);
	read_fails("nodir/none.js", NSH_ENOTFOUND);
	read_fails("src/deep/a.js/x", NSH_EINVAL);
	read_fails("src", NSH_EINVAL);
	p = at(ws, "fifo");
	CHECK_INT(mkfifo(p, 0644), 0); /* would block a plain open() */
	free(p);
	read_fails("fifo", NSH_EINVAL);
	nsh_buf_release(&b);
}

static void test_read_limit(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;

	/* "A\n": two bytes fit in two, not in one */
	CHECK_INT(nsh_below_read(ws, "src/deep/a.js", &b, 1, &err), NSH_ETOOBIG);
	CHECK(b.len == 0);
	CHECK(strstr(err.msg, "larger than 1 bytes") != NULL);
	CHECK_INT(nsh_below_read(ws, "src/deep/a.js", &b, 2, &err), 0);
	CHECK_STR(b.buf, "A\n");
	nsh_buf_release(&b);
}

static void test_write(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct stat st;
	char *p, *got;

	/* positive twin: replaced, with exactly the mode asked */
	CHECK_INT(nsh_below_write(ws, "src/deep/a.js", "B\n", 2, 0750, NSH_BELOW_SYNC, &err), 0);
	got = get(ws, "src/deep/a.js");
	CHECK_STR(got, "B\n");
	free(got);
	p = at(ws, "src/deep/a.js");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0750);
	free(p);

	/* a link as the file is replaced by the file, its target untouched */
	CHECK_INT(nsh_below_write(ws, "file-link", "C\n", 2, 0644, 0, &err), 0);
	p = at(ws, "file-link");
	CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
	free(p);
	got = get(outside, "secret");
	CHECK_STR(got, "HOST SECRET\n");
	free(got);

	/* through a link, out by "..", absolute: refused, nothing written outside */
	CHECK_INT(nsh_below_write(ws, "dir-link/secret", "X", 1, 0644, 0, &err), NSH_EDENIED);
	CHECK(strstr(err.msg, "dir-link/secret") != NULL);
	CHECK_INT(nsh_below_write(ws, "dir-link/new", "X", 1, 0644, 0, &err), NSH_EDENIED);
	CHECK_INT(nsh_below_write(ws, "../outside/secret", "X", 1, 0644, 0, &err), NSH_EDENIED);
	p = at(outside, "secret");
	CHECK_INT(nsh_below_write(ws, p, "X", 1, 0644, 0, &err), NSH_EDENIED);
	free(p);
	got = get(outside, "secret");
	CHECK_STR(got, "HOST SECRET\n");
	free(got);
	p = at(outside, "new");
	CHECK(access(p, F_OK) != 0);
	free(p);
	CHECK_INT(nsh_below_write(ws, "nodir/x", "X", 1, 0644, 0, &err), NSH_ENOTFOUND);
	CHECK_INT(nsh_below_write(ws, "src/", "X", 1, 0644, 0, &err), NSH_EINVAL);

	/* no temporary file is left behind, by a write or a refusal */
	p = at(ws, "src/deep");
	CHECK_INT(count_entries(p), 1);
	free(p);
	CHECK_INT(count_entries(ws), 4); /* src, file-link, dir-link, fifo */
}

static void test_lstat_dir_mkdir(void)
{
	struct stat st;
	char *p;
	int fd;

	CHECK_INT(nsh_below_lstat(ws, "file-link", &st), 0); /* replaced by test_write */
	CHECK_INT(nsh_below_lstat(ws, "dir-link", &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	errno = 0;
	CHECK_INT(nsh_below_lstat(ws, "dir-link/secret", &st), -1);
	CHECK_INT(errno, ELOOP);
	CHECK_INT(nsh_below_lstat(ws, "../outside/secret", &st), -1);
	CHECK_INT(errno, EXDEV);

	fd = nsh_below_dir(ws, "dir-link");
	CHECK(fd < 0 && errno == ELOOP);
	fd = nsh_below_dir(ws, "src/deep/");
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);

	CHECK_INT(nsh_below_mkdir(ws, "made/a/b"), 0);
	p = at(ws, "made/a/b");
	CHECK(nsh_fs_is_dir(p));
	free(p);
	CHECK_INT(nsh_below_mkdir(ws, "dir-link/made"), -1);
	p = at(outside, "made");
	CHECK(access(p, F_OK) != 0);
	free(p);

	nsh_below_unlink(ws, "dir-link/secret");
	p = at(outside, "secret");
	CHECK(access(p, F_OK) == 0);
	free(p);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	top = t_tmpdir();
	ws = at(top, "ws");
	outside = at(top, "outside");
	CHECK_INT(nsh_fs_mkdir_p(outside, 0700, &err), 0);
	RUN(test_read);
	RUN(test_read_limit);
	RUN(test_write);
	RUN(test_lstat_dir_mkdir);
	nsh_fs_remove_tree(top, &err);
	free(ws);
	free(outside);
	free(top);
	return TEST_DONE();
}
