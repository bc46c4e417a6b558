/*
 * Tests for the loop-mounted disk images, run as root: the size is a hard
 * limit (ENOSPC), the mount is nosuid,nodev and owned by the given user,
 * destroy leaves no mount, loop device or image, and leftovers of a crashed
 * run are cleaned up. Images after the first of a size are copies of a
 * template: each still a file system of its own with the same hard limit.
 * A release in the background (close_later) is waited for by whoever
 * touches its paths next.
 */
#include "sandbox/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "core/time.h"
#include "test.h"

#include "core/banned.h"

#define MIB ((uint64_t)1 << 20)

/*
 * The mountinfo line of the mount at @path (its per-mount options, then
 * " - " and the file-system type), or NULL when nothing is mounted there.
 * The caller frees it.
 */
static char *mount_line(const char *path)
{
	struct nsh_buf mi = NSH_BUF_INIT;
	char *found = NULL;

	if (nsh_fs_read_file("/proc/self/mountinfo", &mi, 4 << 20, NULL) < 0)
		abort();
	for (char *line = mi.buf, *next; line && *line; line = next) {
		char *mnt;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* "id parent maj:min root mountpoint options ..." */
		mnt = line;
		for (int i = 0; i < 4 && mnt; i++)
			mnt = strchr(mnt + 1, ' ');
		if (mnt && !strncmp(mnt + 1, path, strlen(path)) && mnt[1 + strlen(path)] == ' ') {
			free(found);
			found = nsh_xstrdup(mnt + 1 + strlen(path) + 1);
		}
	}
	nsh_buf_release(&mi);
	return found;
}

/* The backing file the loop device @dev ("/dev/loopN") has now, or NULL. */
static char *loop_backing(const char *dev)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("/sys/block/%s/loop/backing_file", strrchr(dev, '/') + 1);
	char *out = NULL;

	if (nsh_fs_read_file(path, &b, 8192, NULL) == 0) {
		nsh_buf_trim(&b);
		out = nsh_buf_detach(&b, NULL);
	}
	nsh_buf_release(&b);
	free(path);
	return out;
}

/* Whether @dev is detached from @image within a second (autoclear runs on release). */
static bool loop_detached(const char *dev, const char *image)
{
	int64_t end = nsh_time_mono_ms() + 1000;

	for (;;) {
		char *b = loop_backing(dev);
		bool gone = !b || !strstr(b, image);

		free(b);
		if (gone)
			return true;
		if (nsh_time_mono_ms() > end)
			return false;
		nsh_time_sleep_ms(5);
	}
}

/* Write up to @max bytes into @path; returns the bytes written and the errno that stopped it. */
static uint64_t fill(const char *path, uint64_t max, int *ret_errno)
{
	static char chunk[1 << 20];
	uint64_t done = 0;
	int fd;

	memset(chunk, 'x', sizeof(chunk));
	*ret_errno = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		*ret_errno = errno;
		return 0;
	}
	while (done < max) {
		ssize_t n = write(fd, chunk, sizeof(chunk));

		if (n < 0) {
			*ret_errno = errno;
			break;
		}
		done += (uint64_t)n;
	}
	if (!*ret_errno && fsync(fd) < 0)
		*ret_errno = errno;
	close(fd);
	return done;
}

static void test_quota(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_disk *d = NULL;
	char *dir = t_tmpdir();
	char *image = nsh_xasprintf("%s/disk.img", dir);
	char *mnt = nsh_xasprintf("%s/sandbox/work", dir);
	char *file = nsh_xasprintf("%s/big", mnt);
	char *lost = nsh_xasprintf("%s/lost+found", mnt);
	char *line, *dev = NULL, *backing;
	uint64_t used0 = 0, size = 0, used = 0, written;
	struct stat st;
	int64_t t0;
	int e = 0, r;

	t0 = nsh_time_mono_ns();
	r = nsh_disk_create(image, mnt, 32 * MIB, 12345, 23456, &d, &err);
	fprintf(stderr, "create 32 MiB disk (sparse file, mkfs.ext4, loop, mount): %.1f ms\n",
		(nsh_time_mono_ns() - t0) / 1e6);
	CHECK_INT(r, 0);
	if (r) {
		fprintf(stderr, "create: %s\n", err.msg);
		goto out;
	}
	dev = nsh_xstrdup(nsh_disk_device(d));
	CHECK_STR(nsh_disk_mountpoint(d), mnt);
	CHECK(!strncmp(dev, "/dev/loop", 9));

	/* mounted as ext4 with nosuid,nodev, from an autoclear loop device on the image */
	line = mount_line(mnt);
	CHECK(line != NULL);
	if (line) {
		fprintf(stderr, "mount: %s\n", line);
		CHECK(strstr(line, "nosuid") != NULL);
		CHECK(strstr(line, "nodev") != NULL);
		CHECK(strstr(line, " - ext4 ") != NULL);
	}
	free(line);
	backing = loop_backing(dev);
	CHECK_STR(backing, image);
	free(backing);
	{
		char *ac = nsh_xasprintf("/sys/block/%s/loop/autoclear", dev + 5);
		struct nsh_buf b = NSH_BUF_INIT;

		CHECK_INT(nsh_fs_read_file(ac, &b, 8192, NULL), 0);
		nsh_buf_trim(&b);
		CHECK_STR(b.buf, "1");
		nsh_buf_release(&b);
		free(ac);
	}

	/* the root belongs to the sandbox user and is empty */
	CHECK_INT(stat(mnt, &st), 0);
	CHECK_INT(st.st_uid, 12345);
	CHECK_INT(st.st_gid, 23456);
	CHECK_INT(st.st_mode & 07777, 0755);
	CHECK(!nsh_fs_exists(lost));

	CHECK_INT(nsh_disk_usage(d, &used0, &size, &err), 0);
	fprintf(stderr, "empty: used %.2f MiB of %.2f MiB\n", (double)used0 / MIB,
		(double)size / MIB);
	CHECK(used0 < 2 * MIB);
	CHECK(size > 28 * MIB && size <= 32 * MIB);

	/* 64 MiB do not fit: ENOSPC close to the size */
	t0 = nsh_time_mono_ns();
	written = fill(file, 64 * MIB, &e);
	fprintf(stderr, "wrote %.2f MiB, then %s (%.1f ms)\n", (double)written / MIB, strerror(e),
		(nsh_time_mono_ns() - t0) / 1e6);
	CHECK_INT(e, ENOSPC);
	CHECK(written >= 26 * MIB && written <= 32 * MIB);
	CHECK_INT(nsh_disk_usage(d, &used, &size, &err), 0);
	fprintf(stderr, "full: used %.2f MiB of %.2f MiB\n", (double)used / MIB,
		(double)size / MIB);
	CHECK(used >= written);
	CHECK(used <= size);

	/* the image is sparse and never larger than asked */
	CHECK_INT(stat(image, &st), 0);
	CHECK_INT(st.st_size, 32 * MIB);
	CHECK((uint64_t)st.st_blocks * 512 <= 33 * MIB);

	/* destroy: not mounted, loop device detached, image and made mount point gone */
	CHECK_INT(nsh_disk_destroy(d, &err), 0);
	d = NULL;
	line = mount_line(mnt);
	CHECK(line == NULL);
	free(line);
	CHECK(loop_detached(dev, image));
	CHECK(!nsh_fs_exists(image));
	CHECK(!nsh_fs_exists(mnt));
out:
	nsh_disk_destroy(d, NULL);
	nsh_fs_remove_tree(dir, NULL);
	free(dev);
	free(lost);
	free(file);
	free(mnt);
	free(image);
	free(dir);
}

static void test_bad_input(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_disk *d = NULL;
	char *dir = t_tmpdir();
	char *image = nsh_xasprintf("%s/taken.img", dir);
	char *mnt = nsh_xasprintf("%s/m", dir);

	CHECK_INT(nsh_disk_create(image, mnt, 1 * MIB, 0, 0, &d, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'1048576'") != NULL);
	CHECK_INT(nsh_fs_write_atomic(image, "x", 1, 0600, NULL), 0);
	CHECK_INT(nsh_disk_create(image, mnt, 8 * MIB, 0, 0, &d, &err), NSH_EEXIST);
	CHECK(strstr(err.msg, image) != NULL);
	CHECK(d == NULL);
	/* the existing file is left alone, and no mount point was made */
	CHECK(nsh_fs_exists(image));
	CHECK(!nsh_fs_exists(mnt));
	CHECK_INT(nsh_disk_destroy(NULL, &err), 0);
	nsh_fs_remove_tree(dir, NULL);
	free(mnt);
	free(image);
	free(dir);
}

/* A run that crashed with a disk mounted: cleanup_stale unmounts it and deletes the image. */
static void test_cleanup_stale(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *other = t_tmpdir();
	char *image = nsh_xasprintf("%s/images/t1.img", dir);
	char *images = nsh_xasprintf("%s/images", dir);
	char *mnt = nsh_xasprintf("%s/t1", other); /* the mount point need not be under work_dir */
	char *line, *dev = NULL;
	unsigned removed = 99;
	int st = 0, p[2];
	pid_t pid;

	CHECK_INT(nsh_fs_mkdir_p(images, 0700, NULL), 0);
	CHECK_INT(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		struct nsh_disk *d = NULL;
		const char *name;

		close(p[0]);
		if (nsh_disk_create(image, mnt, 8 * MIB, 0, 0, &d, NULL) < 0)
			_exit(1);
		name = nsh_disk_device(d);
		if (write(p[1], name, strlen(name)) < 0)
			_exit(2);
		_exit(0); /* "crash": no destroy */
	}
	close(p[1]);
	{
		char buf[64] = "";
		ssize_t n = read(p[0], buf, sizeof(buf) - 1);

		if (n > 0)
			dev = nsh_xstrndup(buf, (size_t)n);
	}
	close(p[0]);
	CHECK_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	line = mount_line(mnt);
	CHECK(line != NULL);
	free(line);

	/* another work dir's leftovers are not touched */
	CHECK_INT(nsh_disk_cleanup_stale(other, &removed, &err), 0);
	CHECK_INT(removed, 0);
	line = mount_line(mnt);
	CHECK(line != NULL);
	free(line);

	CHECK_INT(nsh_disk_cleanup_stale(dir, &removed, &err), 0);
	CHECK_INT(removed, 1);
	line = mount_line(mnt);
	CHECK(line == NULL);
	free(line);
	CHECK(!nsh_fs_exists(image));
	CHECK(dev && loop_detached(dev, image));
	CHECK_INT(nsh_disk_cleanup_stale(dir, &removed, &err), 0);
	CHECK_INT(removed, 0);

	/* a missing work directory has no leftovers */
	CHECK_INT(nsh_disk_cleanup_stale("/nonexistent/nightshift-work", &removed, &err), 0);
	CHECK_INT(removed, 0);

	umount2(mnt, MNT_DETACH); /* only if the checks above failed */
	nsh_fs_remove_tree(dir, NULL);
	nsh_fs_remove_tree(other, NULL);
	free(dev);
	free(mnt);
	free(images);
	free(image);
	free(other);
	free(dir);
}

/*
 * A kept image (a job's workspace): close unmounts it and keeps its files,
 * open mounts them again (also over a mount a crashed run left), and
 * cleanup_stale leaves it and its mount alone.
 */
static void test_keep_reopen(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *image = nsh_xasprintf("%s/job/workspace" NSH_DISK_KEEP_SUFFIX, dir);
	char *jobdir = nsh_xasprintf("%s/job", dir);
	char *mnt = nsh_xasprintf("%s/job/repo", dir);
	char *file = nsh_xasprintf("%s/job/repo/kept.txt", dir);
	struct nsh_disk *d = NULL, *again = NULL;
	struct nsh_buf b = NSH_BUF_INIT;
	unsigned removed = 99;
	char *line;

	CHECK_INT(nsh_fs_mkdir_p(jobdir, 0700, NULL), 0);
	CHECK_INT(nsh_disk_create(image, mnt, 8 * MIB, 0, 0, &d, &err), 0);
	CHECK_INT(nsh_fs_write_atomic(file, "work so far\n", 12, 0644, NULL), 0);
	CHECK_INT(nsh_disk_close(d, &err), 0);
	line = mount_line(mnt);
	CHECK(line == NULL);
	free(line);
	CHECK(nsh_fs_exists(image));
	CHECK(!nsh_fs_exists(file));

	CHECK_INT(nsh_disk_open(image, mnt, &d, &err), 0);
	CHECK_INT(nsh_fs_read_file(file, &b, 4096, NULL), 0);
	CHECK_STR(b.buf, "work so far\n");
	/* not a leftover: cleanup leaves it mounted */
	CHECK_INT(nsh_disk_cleanup_stale(dir, &removed, &err), 0);
	CHECK_INT(removed, 0);
	line = mount_line(mnt);
	CHECK(line != NULL);
	free(line);
	/* a crashed run's mount (never closed) is taken over */
	CHECK_INT(nsh_disk_open(image, mnt, &again, &err), 0);
	nsh_buf_reset(&b);
	CHECK_INT(nsh_fs_read_file(file, &b, 4096, NULL), 0);
	CHECK_STR(b.buf, "work so far\n");
	nsh_disk_close(d, NULL); /* the old handle: its mount is gone already */
	CHECK_INT(nsh_disk_destroy(again, &err), 0);
	line = mount_line(mnt);
	CHECK(line == NULL);
	free(line);
	CHECK(!nsh_fs_exists(image));
	CHECK_INT(nsh_disk_open(image, mnt, &d, &err), NSH_ENOTFOUND);

	nsh_buf_release(&b);
	nsh_fs_remove_tree(dir, NULL);
	free(file);
	free(mnt);
	free(jobdir);
	free(image);
	free(dir);
}

/*
 * Disks of one size made one after the other (copies of the process's
 * template): each is its own file system, owned as asked, sparse, and
 * full at its size (ENOSPC) whatever the other holds.
 */
static void test_template_copies(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	struct nsh_disk *d[3] = {NULL, NULL, NULL};
	char *image[3], *mnt[3], *file[3];
	uint64_t written, used, size;
	struct stat st;
	int e = 0;

	for (int i = 0; i < 3; i++) {
		int64_t t0 = nsh_time_mono_ns();

		image[i] = nsh_xasprintf("%s/d%d.img", dir, i);
		mnt[i] = nsh_xasprintf("%s/m%d", dir, i);
		file[i] = nsh_xasprintf("%s/m%d/big", dir, i);
		CHECK_INT(nsh_disk_create(image[i], mnt[i], 16 * MIB, 1000 + (uid_t)i,
					  2000 + (gid_t)i, &d[i], &err),
			  0);
		fprintf(stderr, "create 16 MiB disk %d: %.1f ms\n", i,
			(nsh_time_mono_ns() - t0) / 1e6);
		if (!d[i])
			goto out;
		CHECK_INT(stat(mnt[i], &st), 0);
		CHECK_INT(st.st_uid, 1000 + i);
		CHECK_INT(st.st_gid, 2000 + i);
		CHECK(st.st_dev != 0);
		CHECK_INT(stat(image[i], &st), 0);
		CHECK_INT(st.st_size, 16 * MIB);
		CHECK((uint64_t)st.st_blocks * 512 < 2 * MIB);
	}
	/* three file systems, not one */
	CHECK_INT(nsh_fs_write_atomic(file[0], "zero\n", 5, 0644, NULL), 0);
	CHECK(!nsh_fs_exists(file[1]));
	CHECK(!nsh_fs_exists(file[2]));
	/* a copy is as full at its size as the first */
	written = fill(file[2], 64 * MIB, &e);
	CHECK_INT(e, ENOSPC);
	CHECK(written >= 12 * MIB && written <= 16 * MIB);
	CHECK_INT(nsh_disk_usage(d[2], &used, &size, &err), 0);
	CHECK(size > 14 * MIB && size <= 16 * MIB);
	/* the others still have their room */
	CHECK_INT(nsh_disk_usage(d[1], &used, &size, &err), 0);
	CHECK(used < 2 * MIB);
	written = fill(file[1], 4 * MIB, &e);
	CHECK_INT(e, 0);
	CHECK_INT(written, 4 * MIB);
out:
	for (int i = 0; i < 3; i++) {
		CHECK_INT(nsh_disk_destroy(d[i], &err), 0);
		free(image[i]);
		free(mnt[i]);
		free(file[i]);
	}
	nsh_fs_remove_tree(dir, NULL);
	free(dir);
}

/*
 * nsh_disk_prepare(): the template of a size made ahead (what start-up
 * does on a background thread), with no file left behind; disks of that
 * size made afterwards are whole file systems of that size. Too small a
 * size is refused.
 */
static void test_prepare(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *image = nsh_xasprintf("%s/p.img", dir), *mnt = nsh_xasprintf("%s/pm", dir);
	char *file = nsh_xasprintf("%s/pm/big", dir);
	struct nsh_disk *d = NULL;
	struct nsh_buf names = NSH_BUF_INIT;
	const char *ls[] = {"ls", "-A", dir, NULL};
	uint64_t used, size;
	int64_t t0 = nsh_time_mono_ns();
	int e = 0;

	CHECK_INT(nsh_disk_prepare(dir, NSH_DISK_MIN_BYTES - 1, &err), NSH_EINVAL);
	nsh_err_clear(&err);
	CHECK_INT(nsh_disk_prepare(dir, 24 * MIB, &err), 0);
	CHECK_INT(nsh_disk_prepare(dir, 24 * MIB, &err), 0); /* there already */
	CHECK_INT(nsh_proc_run_argv(ls, NULL, &names, &err), 0);
	CHECK_STR(names.buf, "");
	fprintf(stderr, "prepare a 24 MiB template: %.1f ms\n", (nsh_time_mono_ns() - t0) / 1e6);
	t0 = nsh_time_mono_ns();
	CHECK_INT(nsh_disk_create(image, mnt, 24 * MIB, 1000, 1000, &d, &err), 0);
	fprintf(stderr, "create a 24 MiB disk after it: %.1f ms\n",
		(nsh_time_mono_ns() - t0) / 1e6);
	if (!d)
		goto out;
	CHECK_INT(nsh_disk_usage(d, &used, &size, &err), 0);
	CHECK(size > 22 * MIB && size <= 24 * MIB);
	CHECK(fill(file, 64 * MIB, &e) <= 24 * MIB);
	CHECK_INT(e, ENOSPC);
out:
	CHECK_INT(nsh_disk_destroy(d, &err), 0);
	nsh_buf_release(&names);
	nsh_fs_remove_tree(dir, NULL);
	free(file);
	free(mnt);
	free(image);
	free(dir);
}

/*
 * close_later: the caller gets on at once; the disk is unmounted and its
 * directory removed in the background, and whoever opens the image or
 * waits on its paths meanwhile finds the release done.
 */
static void test_close_later(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *jobdir = nsh_xasprintf("%s/job", dir);
	char *image = nsh_xasprintf("%s/job/workspace" NSH_DISK_KEEP_SUFFIX, dir);
	char *mnt = nsh_xasprintf("%s/job/repo", dir);
	char *file = nsh_xasprintf("%s/job/repo/kept.txt", dir);
	struct nsh_disk *d = NULL;
	struct nsh_buf b = NSH_BUF_INIT;
	char *line, *dev = NULL;

	/* kept: released without removing, opened again with its files */
	CHECK_INT(nsh_fs_mkdir_p(jobdir, 0700, NULL), 0);
	CHECK_INT(nsh_disk_create(image, mnt, 8 * MIB, 0, 0, &d, &err), 0);
	if (!d)
		goto out;
	CHECK_INT(nsh_fs_write_atomic(file, "work so far\n", 12, 0644, NULL), 0);
	nsh_disk_close_later(d, NULL);
	d = NULL;
	CHECK_INT(nsh_disk_open(image, mnt, &d, &err), 0);
	if (!d)
		goto out;
	CHECK_INT(nsh_fs_read_file(file, &b, 4096, NULL), 0);
	CHECK_STR(b.buf, "work so far\n");
	dev = nsh_xstrdup(nsh_disk_device(d));

	/* removed: waiting on the job's directory finds no mount and no files */
	nsh_disk_close_later(d, jobdir);
	d = NULL;
	nsh_disk_wait(jobdir);
	line = mount_line(mnt);
	CHECK(line == NULL);
	free(line);
	CHECK(!nsh_fs_exists(jobdir));
	CHECK(loop_detached(dev, image));

	/* a directory alone, and drain */
	CHECK_INT(nsh_fs_mkdir_p(mnt, 0700, NULL), 0);
	nsh_disk_close_later(NULL, jobdir);
	nsh_disk_drain();
	CHECK(!nsh_fs_exists(jobdir));
out:
	nsh_disk_destroy(d, NULL);
	nsh_buf_release(&b);
	nsh_fs_remove_tree(dir, NULL);
	free(dev);
	free(file);
	free(mnt);
	free(image);
	free(jobdir);
	free(dir);
}

/*
 * A template that a killed process was formatting is a leftover that
 * cleanup_stale deletes; a live process's is left to it.
 */
static void test_stale_template(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = t_tmpdir();
	char *jobdir = nsh_xasprintf("%s/job", dir);
	char *dead_tmpl = NULL, *live_tmpl, *other;
	unsigned removed = 99;
	int st = 0;
	pid_t pid;

	CHECK_INT(nsh_fs_mkdir_p(jobdir, 0700, NULL), 0);
	pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK_INT(waitpid(pid, &st, 0), pid);
	dead_tmpl = nsh_xasprintf("%s/.nsh-disk-template-%ld.img", jobdir, (long)pid);
	live_tmpl = nsh_xasprintf("%s/.nsh-disk-template-%ld.img", dir, (long)getppid());
	other = nsh_xasprintf("%s/.nsh-disk-template-notes.txt", jobdir);
	CHECK_INT(nsh_fs_write_atomic(dead_tmpl, "x", 1, 0600, NULL), 0);
	CHECK_INT(nsh_fs_write_atomic(live_tmpl, "x", 1, 0600, NULL), 0);
	CHECK_INT(nsh_fs_write_atomic(other, "x", 1, 0600, NULL), 0);
	CHECK_INT(nsh_disk_cleanup_stale(dir, &removed, &err), 0);
	CHECK_INT(removed, 0);
	CHECK(!nsh_fs_exists(dead_tmpl));
	CHECK(nsh_fs_exists(live_tmpl));
	CHECK(nsh_fs_exists(other));
	nsh_fs_remove_tree(dir, NULL);
	free(other);
	free(live_tmpl);
	free(dead_tmpl);
	free(jobdir);
	free(dir);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "these tests need root (loop devices, mount)\n");
		CHECK(0);
		return TEST_DONE();
	}
	RUN(test_bad_input);
	RUN(test_quota);
	RUN(test_cleanup_stale);
	RUN(test_keep_reopen);
	RUN(test_template_copies);
	RUN(test_prepare);
	RUN(test_close_later);
	RUN(test_stale_template);
	return TEST_DONE();
}
