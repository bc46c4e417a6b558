/*
 * Tests for the file-system helpers, above all that nsh_fs_remove_tree()
 * never deletes anything outside the tree it was given.
 */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

/* "@dir/@name" in a buffer owned by the caller. */
static char *path_in(const char *dir, const char *name)
{
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_fs_join(&b, dir, name);
	return nsh_buf_detach(&b, NULL);
}

static void put(const char *dir, const char *name, const char *content)
{
	char *p = path_in(dir, name);

	CHECK_INT(nsh_fs_write_atomic(p, content, strlen(content), 0644, NULL), 0);
	free(p);
}

/* Number of entries in @dir, besides "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_mkdir_p(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *deep = path_in(dir, "a/b/c");
	char *messy = path_in(dir, "x//y/./z/");
	char *file = path_in(dir, "f");
	char *under_file = path_in(dir, "f/sub/dir");
	char *private = path_in(dir, "p/q");
	struct stat st;

	CHECK_INT(nsh_fs_mkdir_p(deep, 0755, &err), 0);
	CHECK(nsh_fs_is_dir(deep));
	CHECK_INT(nsh_fs_mkdir_p(deep, 0755, &err), 0); /* idempotent */
	CHECK_INT(nsh_fs_mkdir_p(dir, 0755, &err), 0);
	CHECK_INT(nsh_fs_mkdir_p(messy, 0755, &err), 0);
	CHECK(nsh_fs_is_dir(messy));

	CHECK_INT(nsh_fs_mkdir_p(private, 0700, &err), 0);
	CHECK_INT(stat(private, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0700);

	/* a file in the way is named */
	put(dir, "f", "x");
	CHECK_INT(nsh_fs_mkdir_p(under_file, 0755, &err), NSH_EEXIST);
	{
		struct nsh_buf want = NSH_BUF_INIT;

		nsh_buf_addf(&want, "'%s' is not a directory", file);
		CHECK(strstr(err.msg, want.buf) != NULL);
		nsh_buf_release(&want);
	}
	CHECK_INT(nsh_fs_mkdir_p(file, 0755, &err), NSH_EEXIST);
	CHECK_INT(nsh_fs_mkdir_p("", 0755, &err), NSH_EINVAL);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	free(deep);
	free(messy);
	free(file);
	free(under_file);
	free(private);
	free(dir);
}

static void test_write_atomic(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf got = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	char *f = path_in(dir, "config.json");
	char *nodir = path_in(dir, "missing/config.json");
	char *sub = path_in(dir, "sub");
	char old[8] = {0};
	struct stat st;
	int fd;

	CHECK_INT(nsh_fs_write_atomic(f, "first", 5, 0640, &err), 0);
	CHECK_INT(stat(f, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(nsh_fs_read_file(f, &got, 100, &err), 0);
	CHECK_STR(got.buf, "first");

	/* replaced by a rename: a reader holding the old file still sees it whole */
	fd = open(f, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_INT(nsh_fs_write_atomic(f, "second!", 7, 0600, &err), 0);
	CHECK_INT(read(fd, old, sizeof(old) - 1), 5);
	CHECK_STR(old, "first");
	close(fd);
	nsh_buf_reset(&got);
	CHECK_INT(nsh_fs_read_file(f, &got, 100, &err), 0);
	CHECK_STR(got.buf, "second!");
	CHECK_INT(stat(f, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(nsh_fs_write_atomic(f, "", 0, 0600, &err), 0);
	CHECK_INT(stat(f, &st), 0);
	CHECK_INT(st.st_size, 0);
	CHECK_INT(count_entries(dir), 1); /* no temporary files left */

	/* failures name the path and leave nothing behind */
	CHECK_INT(nsh_fs_write_atomic(nodir, "x", 1, 0644, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, nodir) != NULL);
	CHECK_INT(nsh_fs_mkdir_p(sub, 0755, NULL), 0);
	put(sub, "inside", "keep");
	CHECK(nsh_fs_write_atomic(sub, "x", 1, 0644, &err) < 0); /* rename over a directory */
	CHECK(strstr(err.msg, sub) != NULL);
	CHECK(nsh_fs_is_dir(sub));
	CHECK_INT(count_entries(dir), 2);
	CHECK_INT(count_entries(sub), 1);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&got);
	free(f);
	free(nodir);
	free(sub);
	free(dir);
}

static void test_read_file(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf out = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	char *f = path_in(dir, "data");
	char *missing = path_in(dir, "missing");
	char content[100];

	memset(content, 'z', sizeof(content));
	CHECK_INT(nsh_fs_write_atomic(f, content, sizeof(content), 0644, &err), 0);

	/* appends, and exactly max bytes is fine */
	nsh_buf_adds(&out, "pre");
	CHECK_INT(nsh_fs_read_file(f, &out, 100, &err), 0);
	CHECK_INT(out.len, 103);
	CHECK(!memcmp(out.buf, "prezzz", 6));

	/* one byte over: NSH_ETOOBIG naming the file, out unchanged */
	CHECK_INT(nsh_fs_read_file(f, &out, 99, &err), NSH_ETOOBIG);
	CHECK_INT(err.code, NSH_ETOOBIG);
	CHECK(strstr(err.msg, f) != NULL);
	CHECK_INT(out.len, 103);

	/* files whose size stat() does not know are capped while reading */
	nsh_buf_reset(&out);
	CHECK_INT(nsh_fs_read_file("/proc/self/status", &out, 10, &err), NSH_ETOOBIG);
	CHECK_INT(out.len, 0);
	CHECK_INT(nsh_fs_read_file("/proc/self/status", &out, 1 << 20, &err), 0);
	CHECK(strstr(out.buf, "Name:") != NULL);

	/* the buffer's own cap counts too */
	{
		struct nsh_buf small;

		nsh_buf_init(&small, 50);
		CHECK_INT(nsh_fs_read_file(f, &small, 1000, &err), NSH_ETOOBIG);
		CHECK_INT(small.len, 0);
		nsh_buf_release(&small);
	}

	CHECK_INT(nsh_fs_read_file(missing, &out, 100, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, missing) != NULL);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&out);
	free(f);
	free(missing);
	free(dir);
}

static void test_remove_tree_nested(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *root = path_in(dir, "root");
	char *deep = path_in(root, "a/b/c");
	char *empty = path_in(root, "a/empty");
	char *plain = path_in(dir, "plain");
	char *l;

	CHECK_INT(nsh_fs_mkdir_p(deep, 0755, &err), 0);
	CHECK_INT(nsh_fs_mkdir_p(empty, 0755, &err), 0);
	put(root, "top", "1");
	put(root, "a/b/mid", "2");
	put(root, "a/b/c/leaf", "3");
	l = path_in(root, "dangling");
	CHECK_INT(symlink("/nonexistent/nsh-target", l), 0);
	free(l);
	l = path_in(root, "a/b/c/loop");
	CHECK_INT(symlink("../..", l), 0); /* a cycle, if it were followed */
	free(l);
	CHECK(nsh_fs_exists(root));
	CHECK_INT(nsh_fs_remove_tree(root, &err), 0);
	CHECK(!nsh_fs_exists(root));
	CHECK_INT(count_entries(dir), 0);

	/* a missing path is fine, a plain file is removed, a trailing slash is fine */
	CHECK_INT(nsh_fs_remove_tree(root, &err), 0);
	put(dir, "plain", "x");
	CHECK_INT(nsh_fs_remove_tree(plain, &err), 0);
	CHECK(!nsh_fs_exists(plain));
	CHECK_INT(nsh_fs_mkdir_p(deep, 0755, &err), 0);
	{
		struct nsh_buf slash = NSH_BUF_INIT;

		nsh_buf_addf(&slash, "%s//", root);
		CHECK_INT(nsh_fs_remove_tree(slash.buf, &err), 0);
		nsh_buf_release(&slash);
	}
	CHECK(!nsh_fs_exists(root));

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	CHECK(!nsh_fs_exists(dir));
	free(root);
	free(deep);
	free(empty);
	free(plain);
	free(dir);
}

/* Links inside the tree are removed, never followed out of it. */
static void test_remove_tree_symlink_inside(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf got = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	char *outside = path_in(dir, "outside");
	char *keep = path_in(outside, "keep");
	char *keepdir = path_in(outside, "keepdir");
	char *root = path_in(dir, "root");
	char *sub = path_in(root, "sub");
	char *l;

	CHECK_INT(nsh_fs_mkdir_p(keepdir, 0755, &err), 0);
	put(outside, "keep", "precious");
	put(keepdir, "inner", "also precious");
	CHECK_INT(nsh_fs_mkdir_p(sub, 0755, &err), 0);
	l = path_in(root, "link");
	CHECK_INT(symlink(outside, l), 0); /* root/link -> outside */
	free(l);
	l = path_in(sub, "filelink");
	CHECK_INT(symlink(keep, l), 0); /* root/sub/filelink -> outside/keep */
	free(l);
	l = path_in(sub, "rel");
	CHECK_INT(symlink("../../outside/keepdir", l), 0);
	free(l);

	CHECK_INT(nsh_fs_remove_tree(root, &err), 0);
	CHECK(!nsh_fs_exists(root));
	CHECK(nsh_fs_is_dir(outside));
	CHECK(nsh_fs_is_dir(keepdir));
	CHECK_INT(nsh_fs_read_file(keep, &got, 100, &err), 0);
	CHECK_STR(got.buf, "precious");
	CHECK_INT(count_entries(keepdir), 1);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&got);
	free(outside);
	free(keep);
	free(keepdir);
	free(root);
	free(sub);
	free(dir);
}

/* A path that is itself a symbolic link is refused, with or without a slash. */
static void test_remove_tree_refusals(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf slash = NSH_BUF_INIT, dotdot = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	char *real = path_in(dir, "real");
	char *link = path_in(dir, "link");
	char *inner = path_in(real, "file");

	CHECK_INT(nsh_fs_mkdir_p(real, 0755, &err), 0);
	put(real, "file", "x");
	CHECK_INT(symlink(real, link), 0);

	CHECK_INT(nsh_fs_remove_tree(link, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, link) != NULL);
	nsh_buf_addf(&slash, "%s/", link);
	CHECK_INT(nsh_fs_remove_tree(slash.buf, &err), NSH_EINVAL);
	CHECK(nsh_fs_exists(link));
	CHECK(nsh_fs_exists(inner));

	/* ".." as the last component would reach out of the named directory */
	nsh_buf_addf(&dotdot, "%s/..", real);
	CHECK_INT(nsh_fs_remove_tree(dotdot.buf, &err), NSH_EINVAL);
	CHECK(nsh_fs_exists(inner));
	CHECK_INT(nsh_fs_remove_tree("", &err), NSH_EINVAL);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&slash);
	nsh_buf_release(&dotdot);
	free(real);
	free(link);
	free(inner);
	free(dir);
}

static void test_exists_is_dir_join(void)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	char *dangling = path_in(dir, "dangling");
	char *dirlink = path_in(dir, "dirlink");

	CHECK_INT(symlink("/nonexistent/nsh", dangling), 0);
	CHECK_INT(symlink(dir, dirlink), 0);
	CHECK(nsh_fs_exists(dangling));
	CHECK(!nsh_fs_is_dir(dangling));
	CHECK(nsh_fs_is_dir(dirlink));
	CHECK(nsh_fs_is_dir(dir));
	CHECK(!nsh_fs_exists("/nonexistent/nsh"));

	CHECK_INT(nsh_fs_join(&b, "a", "b"), 0);
	CHECK_STR(b.buf, "a/b");
	nsh_buf_reset(&b);
	CHECK_INT(nsh_fs_join(&b, "a/", "//b"), 0);
	CHECK_STR(b.buf, "a/b");
	nsh_buf_reset(&b);
	CHECK_INT(nsh_fs_join(&b, "/", "b"), 0);
	CHECK_STR(b.buf, "/b");
	nsh_buf_reset(&b);
	CHECK_INT(nsh_fs_join(&b, "", "b"), 0);
	CHECK_STR(b.buf, "b");
	nsh_buf_release(&b);
	nsh_buf_init(&b, 4);
	CHECK_INT(nsh_fs_join(&b, "ab", "cd"), NSH_ETOOBIG);
	CHECK_INT(b.len, 0);
	nsh_buf_release(&b);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	free(dangling);
	free(dirlink);
	free(dir);
}

static void test_mountinfo_unescape(void)
{
	char a[] = "/tmp/a\\040dir\\011tab\\134slash", b[] = "/plain", c[] = "/bad\\8\\04";

	nsh_fs_mountinfo_unescape(a);
	CHECK_STR(a, "/tmp/a dir\ttab\\slash");
	nsh_fs_mountinfo_unescape(b);
	CHECK_STR(b, "/plain");
	nsh_fs_mountinfo_unescape(c); /* not escapes: left as they are */
	CHECK_STR(c, "/bad\\8\\04");
}

int main(void)
{
	RUN(test_mountinfo_unescape);
	RUN(test_mkdir_p);
	RUN(test_write_atomic);
	RUN(test_read_file);
	RUN(test_remove_tree_nested);
	RUN(test_remove_tree_symlink_inside);
	RUN(test_remove_tree_refusals);
	RUN(test_exists_is_dir_join);
	return TEST_DONE();
}
