/*
 * Disk quota through loop-mounted ext4 images. Only mkfs.ext4 is run as a
 * program; attaching (loop-control, LOOP_CONFIGURE), mounting and cleaning
 * up are system calls. Leftovers are found through /proc/self/mountinfo and
 * the loop devices' backing_file in sysfs.
 */
#include "sandbox/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fault.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/time.h"
#include "core/vec.h"
#include "sandbox/sandbox_int.h"

#include "core/banned.h"

#define DISK_LOOP_TRIES	   16		      /* LOOP_CTL_GET_FREE races lost before giving up */
#define DISK_MOUNTINFO_MAX ((size_t)4 << 20)  /* /proc/self/mountinfo */
#define DISK_SYSFS_MAX	   ((size_t)8192)     /* a sysfs attribute */
#define DISK_TEMPLATES	   8		      /* formatted templates kept per process */
#define DISK_TEMPLATE_DATA ((size_t)16 << 20) /* a template's blocks held in memory */
#define DISK_BLOCK	   ((size_t)4096)
#define DISK_TEMPLATE_PFX  ".nsh-disk-template-"
#define DISK_COPY_BUF	   ((size_t)1 << 16) /* reading a template */

struct nsh_disk {
	char *image;	      /* the image file */
	char *mountpoint;     /* where it is mounted */
	char *device;	      /* "/dev/loopN" */
	dev_t dev;	      /* st_dev of the mounted file system */
	bool made_mountpoint; /* nsh_disk_create() created the mount point */
};

static void disk_free(struct nsh_disk *d)
{
	if (!d)
		return;
	free(d->image);
	free(d->mountpoint);
	free(d->device);
	free(d);
}

/* The mkfs.ext4 to run: the usual sbin paths first, as PATH may lack them. */
static const char *mkfs_program(void)
{
	static const char *const paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return "mkfs.ext4";
}

/*
 * Format @image as ext4 without a journal, without reserved blocks and
 * without the blocks kept for growing it (the images never grow).
 */
static int run_mkfs(const char *image, struct nsh_err *err)
{
	struct nsh_proc p;
	const char *last;
	int ret;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, mkfs_program(), "-q", "-F", "-m", "0", "-O",
			 "^has_journal,^resize_inode", "--", image, NULL);
	nsh_strvec_push(&p.env, "LC_ALL=C");
	p.timeout_ms = NSH_DISK_MKFS_TIMEOUT_MS;
	p.out_max = p.err_max = 64 * 1024;
	ret = nsh_proc_run(&p, err);
	if (ret < 0)
		goto out;
	nsh_buf_trim(&p.err);
	last = strrchr(p.err.buf, '\n');
	last = last ? last + 1 : p.err.buf;
	if (p.timed_out)
		ret = nsh_err_set(err, NSH_ETIMEOUT, "mkfs.ext4 of '%s' timed out after %d ms",
				  image, NSH_DISK_MKFS_TIMEOUT_MS);
	else if (p.term_signal)
		ret = nsh_err_set(err, NSH_EFAIL, "mkfs.ext4 of '%s' killed by signal %d: %s",
				  image, p.term_signal, last);
	else if (p.exit_code != 0)
		ret = nsh_err_set(err, NSH_EFAIL, "mkfs.ext4 of '%s' failed with exit code %d: %s",
				  image, p.exit_code, last);
out:
	nsh_proc_release(&p);
	return ret;
}

/*
 * Attach @image_fd to a free loop device with LO_FLAGS_AUTOCLEAR; the open
 * device goes to @ret_fd and its path to @ret_path. Another process can take
 * the device between LOOP_CTL_GET_FREE and LOOP_CONFIGURE (EBUSY): retried.
 * Kernels before 5.8 get LOOP_SET_FD and LOOP_SET_STATUS64.
 */
static int loop_attach(int image_fd, const char *image, int *ret_fd, char **ret_path,
		       struct nsh_err *err)
{
	char *path = NULL;
	int ctl, lfd = -1, ret = 0;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		ret = nsh_err_sys(err, errno, "cannot open '/dev/loop-control'");
		goto out;
	}
	for (int tries = 0;; tries++) {
		struct loop_config cfg;
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (n < 0) {
			ret = nsh_err_sys(err, errno, "cannot get a free loop device");
			goto out;
		}
		free(path);
		path = nsh_xasprintf("/dev/loop%d", n);
		lfd = open(path, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			ret = nsh_err_sys(err, errno, "cannot open '%s'", path);
			goto out;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (__u32)image_fd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
			break;
		if (errno == EINVAL || errno == ENOTTY) {
			if (ioctl(lfd, LOOP_SET_FD, image_fd) == 0) {
				if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) == 0)
					break;
				ret = nsh_err_sys(err, errno, "cannot configure '%s'", path);
				ioctl(lfd, LOOP_CLR_FD, 0);
				goto out;
			}
		}
		if (errno != EBUSY || tries + 1 >= DISK_LOOP_TRIES) {
			ret = nsh_err_sys(err, errno, "cannot attach '%s' to '%s'", image, path);
			goto out;
		}
		close(lfd);
		lfd = -1;
	}
	*ret_fd = lfd;
	*ret_path = path;
	lfd = -1;
	path = NULL;
out:
	if (lfd >= 0)
		close(lfd);
	if (ctl >= 0)
		close(ctl);
	free(path);
	return ret;
}

/* ---- templates: one formatted image per size ---- */

/*
 * mkfs.ext4 runs once per process for each size: the image it formats is
 * the template, read into memory (only its blocks that are not zeros: some
 * 40 blocks of 4 KiB, as the images have no journal and no room to grow)
 * and deleted, and every image of that size is a sparse file holding those
 * blocks. The copies share the file system's UUID, which ext4 does not
 * mind.
 */
struct disk_run {
	off_t off;  /* in the image */
	size_t len; /* bytes, at data + pos */
	size_t pos;
};

struct disk_template {
	uint64_t bytes;
	struct disk_run *runs;
	size_t nruns;
	char *data;
};

static pthread_mutex_t tmpl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct disk_template tmpls[DISK_TEMPLATES];
static size_t ntmpls;

/* Whether the @n bytes at @p are all zeros. */
static bool zeros(const char *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* Add the block of @n bytes at @p, at @off in the image, to @t. */
static void template_add(struct disk_template *t, size_t *cap, size_t *data_cap, off_t off,
			 const char *p, size_t n)
{
	struct disk_run *last = t->nruns ? &t->runs[t->nruns - 1] : NULL;
	size_t used = last ? last->pos + last->len : 0;

	if (used + n > *data_cap) {
		*data_cap = (used + n) * 2;
		t->data = nsh_xrealloc(t->data, *data_cap);
	}
	memcpy(t->data + used, p, n);
	if (last && last->off + (off_t)last->len == off) {
		last->len += n;
		return;
	}
	if (t->nruns == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		t->runs = nsh_xreallocarray(t->runs, *cap, sizeof(*t->runs));
	}
	t->runs[t->nruns++] = (struct disk_run){off, n, used};
}

/*
 * Read the blocks of the image @fd that are not zeros into @t. NSH_ETOOBIG
 * past DISK_TEMPLATE_DATA bytes.
 */
static int template_read(int fd, struct disk_template *t, struct nsh_err *err)
{
	off_t off = 0, end = (off_t)t->bytes;
	size_t cap = 0, data_cap = 0, held = 0;
	char *buf = nsh_xmalloc(DISK_COPY_BUF);
	int r = 0;

	while (off < end) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			r = nsh_err_sys(err, errno, "cannot read the disk template's extents");
			goto out;
		}
		for (off = data; off < hole;) {
			size_t want = hole - off < (off_t)DISK_COPY_BUF ? (size_t)(hole - off)
									: DISK_COPY_BUF;
			ssize_t n = pread(fd, buf, want, off);

			if (n <= 0) {
				r = nsh_err_sys(err, n ? errno : EIO,
						"cannot read the disk template");
				goto out;
			}
			for (size_t i = 0; i < (size_t)n; i += DISK_BLOCK) {
				size_t k = (size_t)n - i < DISK_BLOCK ? (size_t)n - i : DISK_BLOCK;

				if (zeros(buf + i, k))
					continue;
				held += k;
				if (held > DISK_TEMPLATE_DATA) {
					r = nsh_err_set(err, NSH_ETOOBIG,
							"the disk template holds over %zu bytes",
							DISK_TEMPLATE_DATA);
					goto out;
				}
				template_add(t, &cap, &data_cap, off + (off_t)i, buf + i, k);
			}
			off += n;
		}
	}
out:
	free(buf);
	return r;
}

/*
 * The template for images of @bytes, formatted now in the directory @dir
 * when there is none; NULL in *@ret when the process holds DISK_TEMPLATES
 * already or the image is too large to hold (the caller formats its own).
 * Under tmpl_mu.
 */
static int template_get(const char *dir, uint64_t bytes, const struct disk_template **ret,
			struct nsh_err *err)
{
	struct disk_template t = {.bytes = bytes};
	char *path = NULL;
	int fd = -1, r = 0;

	*ret = NULL;
	for (size_t i = 0; i < ntmpls; i++)
		if (tmpls[i].bytes == bytes) {
			*ret = &tmpls[i];
			return 0;
		}
	if (ntmpls == DISK_TEMPLATES)
		return 0;
	path = nsh_xasprintf("%s/" DISK_TEMPLATE_PFX "%ld.img", dir, (long)getpid());
	unlink(path); /* a crashed process's, with our pid */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = nsh_err_sys(err, errno, "cannot create disk template '%s'", path);
		goto out;
	}
	if (ftruncate(fd, (off_t)bytes) < 0) {
		r = nsh_err_sys(err, errno, "cannot size disk template '%s'", path);
		goto out;
	}
	r = run_mkfs(path, err);
	if (r < 0)
		goto out;
	r = template_read(fd, &t, err);
	if (r == NSH_ETOOBIG) {
		nsh_err_clear(err);
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	tmpls[ntmpls] = t;
	*ret = &tmpls[ntmpls++];
	t.runs = NULL;
	t.data = NULL;
out:
	if (path)
		unlink(path);
	if (fd >= 0)
		close(fd);
	free(t.runs);
	free(t.data);
	free(path);
	return r;
}

/*
 * Make @ifd (an empty image file) a formatted ext4 image of @bytes: the
 * process's template for that size written into it, else formatted by
 * mkfs.ext4. Not flushed: the image is scratch space.
 */
static int format_image(int ifd, const char *image, uint64_t bytes, struct nsh_err *err)
{
	const struct disk_template *t = NULL;
	char *dir = nsh_xstrdup(image), *slash = strrchr(dir, '/');
	int r;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else {
		free(dir);
		dir = nsh_xstrdup(".");
	}
	if (ftruncate(ifd, (off_t)bytes) < 0) {
		r = nsh_err_sys(err, errno, "cannot size disk image '%s'", image);
		goto out;
	}
	pthread_mutex_lock(&tmpl_mu);
	r = template_get(dir, bytes, &t, err);
	pthread_mutex_unlock(&tmpl_mu);
	if (r < 0)
		goto out;
	if (!t) {
		r = run_mkfs(image, err);
		goto out;
	}
	/* a template is never changed once made: read without the lock */
	for (size_t i = 0; i < t->nruns; i++) {
		const struct disk_run *x = &t->runs[i];

		for (size_t done = 0; done < x->len;) {
			ssize_t n = pwrite(ifd, t->data + x->pos + done, x->len - done,
					   x->off + (off_t)done);

			if (n <= 0) {
				r = nsh_err_sys(err, n ? errno : EIO,
						"cannot write disk image '%s'", image);
				goto out;
			}
			done += (size_t)n;
		}
	}
out:
	free(dir);
	return r;
}

int nsh_disk_prepare(const char *dir, uint64_t bytes, struct nsh_err *err)
{
	const struct disk_template *t = NULL;
	int r;

	if (bytes < NSH_DISK_MIN_BYTES)
		return nsh_err_set(err, NSH_EINVAL, "a disk of %llu bytes is too small",
				   (unsigned long long)bytes);
	pthread_mutex_lock(&tmpl_mu);
	r = template_get(dir, bytes, &t, err);
	pthread_mutex_unlock(&tmpl_mu);
	return r;
}

int nsh_disk_create(const char *image, const char *mountpoint, uint64_t bytes, uid_t owner,
		    gid_t group, struct nsh_disk **ret, struct nsh_err *err)
{
	struct nsh_disk *d = NULL;
	struct stat st, dev_st;
	int ifd = -1, lfd = -1, rfd = -1, r = 0;
	bool made_image = false, mounted = false;

	if (!*image || !*mountpoint) {
		r = nsh_err_set(err, NSH_EINVAL, "disk image and mount point must be named");
		goto out;
	}
	if (bytes < NSH_DISK_MIN_BYTES || bytes > (uint64_t)INT64_MAX) {
		r = nsh_err_set(err, NSH_EINVAL, "invalid disk size '%llu': at least %llu bytes",
				(unsigned long long)bytes, (unsigned long long)NSH_DISK_MIN_BYTES);
		goto out;
	}
	d = nsh_xcalloc(1, sizeof(*d));
	d->image = nsh_xstrdup(image);
	d->mountpoint = nsh_xstrdup(mountpoint);
	nsh_disk_wait(mountpoint);
	nsh_disk_wait(image);

	ifd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ifd < 0) {
		r = errno == EEXIST
			    ? nsh_err_set(err, NSH_EEXIST, "disk image '%s' exists already", image)
			    : nsh_err_sys(err, errno, "cannot create disk image '%s'", image);
		goto out;
	}
	made_image = true;
	r = format_image(ifd, image, bytes, err);
	if (r < 0)
		goto out;
	r = loop_attach(ifd, image, &lfd, &d->device, err);
	if (r < 0)
		goto out;

	if (!nsh_fs_exists(mountpoint)) {
		r = nsh_fs_mkdir_p(mountpoint, 0755, err);
		if (r < 0)
			goto out;
		d->made_mountpoint = true;
	}
	if (mount(d->device, mountpoint, "ext4", MS_NOSUID | MS_NODEV, "") < 0) {
		r = nsh_err_sys(err, errno, "cannot mount '%s' ('%s') on '%s'", d->device, image,
				mountpoint);
		goto out;
	}
	mounted = true;

	/* The root of the new file system: check it is ours, hand it over, empty it.
	 */
	rfd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rfd < 0 || fstat(rfd, &st) < 0 || fstat(lfd, &dev_st) < 0) {
		r = nsh_err_sys(err, errno, "cannot open mounted disk '%s'", mountpoint);
		goto out;
	}
	if (st.st_dev != dev_st.st_rdev) {
		r = nsh_err_set(err, NSH_EIO, "'%s' is not the root of '%s' after mounting",
				mountpoint, d->device);
		goto out;
	}
	d->dev = st.st_dev;
	if (fchown(rfd, owner, group) < 0) {
		r = nsh_err_sys(err, errno, "cannot change the owner of '%s'", mountpoint);
		goto out;
	}
	if (unlinkat(rfd, "lost+found", AT_REMOVEDIR) < 0 && errno != ENOENT) {
		r = nsh_err_sys(err, errno, "cannot remove '%s/lost+found'", mountpoint);
		goto out;
	}
	*ret = d;
	d = NULL;
out:
	if (rfd >= 0)
		close(rfd);
	if (d && mounted) {
		nsh_sandbox_pool_flush(d->mountpoint);
		umount2(d->mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
		nsh_sandbox_pool_flush_end();
	}
	if (lfd >= 0)
		close(lfd); /* after a mount, the device stays until unmounted (autoclear) */
	if (ifd >= 0)
		close(ifd);
	if (d) {
		if (made_image)
			unlink(d->image);
		if (d->made_mountpoint)
			rmdir(d->mountpoint);
		disk_free(d);
	}
	return r;
}

/* Whether @path is the root of a mount: its device differs from its parent's. */
static bool mount_root(const char *path)
{
	char *parent = nsh_xasprintf("%s/..", path);
	struct stat a, b;
	bool yes;

	yes = lstat(path, &a) == 0 && S_ISDIR(a.st_mode) && stat(parent, &b) == 0 &&
	      a.st_dev != b.st_dev;
	free(parent);
	return yes;
}

static char *backing_file(const char *sysdir);

/* Whether a loop device is still attached to @image. */
static bool image_attached(const char *image)
{
	DIR *dir = opendir("/sys/block");
	struct dirent *e;
	bool found = false;

	while (dir && !found && (e = readdir(dir))) {
		char *sysdir, *backing;

		if (strncmp(e->d_name, "loop", 4))
			continue;
		sysdir = nsh_xasprintf("/sys/block/%s/loop", e->d_name);
		backing = backing_file(sysdir);
		found = backing && !strcmp(backing, image);
		free(backing);
		free(sysdir);
	}
	if (dir)
		closedir(dir);
	return found;
}

/* How long opening an image waits for its earlier loop device to go. */
#define DISK_DETACH_WAIT_MS 5000

int nsh_disk_open(const char *image, const char *mountpoint, struct nsh_disk **ret,
		  struct nsh_err *err)
{
	struct nsh_disk *d = nsh_xcalloc(1, sizeof(*d));
	struct stat st, dev_st;
	int ifd, lfd = -1, r = 0;
	bool mounted = false;

	d->image = nsh_xstrdup(image);
	d->mountpoint = nsh_xstrdup(mountpoint);
	nsh_disk_wait(mountpoint); /* its release by nsh_disk_close_later() ends first */
	ifd = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (ifd < 0) {
		r = errno == ENOENT ? nsh_err_set(err, NSH_ENOTFOUND, "no disk image '%s'", image)
				    : nsh_err_sys(err, errno, "cannot open disk image '%s'", image);
		goto out;
	}
	/* a crashed run's mount: its users are gone with it */
	if (mount_root(mountpoint)) {
		nsh_sandbox_pool_flush(mountpoint);
		umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
		nsh_sandbox_pool_flush_end();
	}
	/*
	 * Until the last reference to the old mount is gone (a crashed run's
	 * processes still dying, a sandbox holding a copy), its loop device
	 * stays attached; mounting the image again through another one would
	 * have two file systems write the same image.
	 */
	for (int waited = 0; image_attached(image); waited += 10) {
		if (waited >= DISK_DETACH_WAIT_MS) {
			r = nsh_err_set(err, NSH_ECONFLICT,
					"disk image '%s' is still in use by an earlier mount",
					image);
			goto out;
		}
		nsh_time_sleep_ms(10);
	}
	if (!nsh_fs_exists(mountpoint)) {
		r = nsh_fs_mkdir_p(mountpoint, 0755, err);
		if (r < 0)
			goto out;
	}
	r = loop_attach(ifd, image, &lfd, &d->device, err);
	if (r < 0)
		goto out;
	if (mount(d->device, mountpoint, "ext4", MS_NOSUID | MS_NODEV, "") < 0) {
		r = nsh_err_sys(err, errno, "cannot mount '%s' ('%s') on '%s'", d->device, image,
				mountpoint);
		goto out;
	}
	mounted = true;
	if (lstat(mountpoint, &st) < 0 || fstat(lfd, &dev_st) < 0 || st.st_dev != dev_st.st_rdev) {
		r = nsh_err_set(err, NSH_EIO, "'%s' is not the root of '%s' after mounting",
				mountpoint, d->device);
		goto out;
	}
	d->dev = st.st_dev;
	*ret = d;
	d = NULL;
out:
	if (d && mounted) {
		nsh_sandbox_pool_flush(d->mountpoint);
		umount2(d->mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
		nsh_sandbox_pool_flush_end();
	}
	if (lfd >= 0)
		close(lfd);
	if (ifd >= 0)
		close(ifd);
	disk_free(d);
	return r;
}

/* Whether @d's file system is still what @mountpoint shows. */
static bool still_mounted(const struct nsh_disk *d)
{
	struct stat st;

	return lstat(d->mountpoint, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == d->dev;
}

int nsh_disk_usage(const struct nsh_disk *d, uint64_t *ret_used, uint64_t *ret_size,
		   struct nsh_err *err)
{
	struct statfs sf;

	if (!still_mounted(d))
		return nsh_err_set(err, NSH_ENOTFOUND, "disk '%s' is not mounted on '%s'", d->image,
				   d->mountpoint);
	if (statfs(d->mountpoint, &sf) < 0)
		return nsh_err_sys(err, errno, "cannot read the usage of '%s'", d->mountpoint);
	*ret_used = (uint64_t)(sf.f_blocks - sf.f_bfree) * (uint64_t)sf.f_bsize;
	*ret_size = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize;
	return 0;
}

const char *nsh_disk_device(const struct nsh_disk *d)
{
	return d->device;
}

const char *nsh_disk_mountpoint(const struct nsh_disk *d)
{
	return d->mountpoint;
}

/* umount2(), lazily when busy; 0 or an errno value. */
static int unmount(const char *path)
{
	int e = 0;

	nsh_sandbox_pool_flush(path);
	if (umount2(path, UMOUNT_NOFOLLOW) < 0) {
		e = errno;
		if (e == EBUSY)
			e = umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 ? errno : 0;
	}
	nsh_sandbox_pool_flush_end();
	return e;
}

int nsh_disk_close(struct nsh_disk *d, struct nsh_err *err)
{
	int ret = 0, r;

	if (!d)
		return 0;
	if (still_mounted(d) && (r = unmount(d->mountpoint)))
		ret = nsh_err_sys(err, r, "cannot unmount '%s'", d->mountpoint);
	disk_free(d);
	return ret;
}

int nsh_disk_destroy(struct nsh_disk *d, struct nsh_err *err)
{
	int ret = 0, r;

	if (!d)
		return 0;
	if (still_mounted(d) && (r = unmount(d->mountpoint)))
		ret = nsh_err_sys(err, r, "cannot unmount '%s'", d->mountpoint);
	if (unlink(d->image) < 0 && errno != ENOENT && ret == 0)
		ret = nsh_err_sys(err, errno, "cannot delete disk image '%s'", d->image);
	if (d->made_mountpoint && ret == 0 && rmdir(d->mountpoint) < 0 && errno != ENOENT)
		ret = nsh_err_sys(err, errno, "cannot remove mount point '%s'", d->mountpoint);
	disk_free(d);
	return ret;
}

/* ---- release in the background ---- */

/* One disk (or directory) handed to nsh_disk_close_later(). */
struct disk_release {
	struct nsh_disk *d; /* NULL: only the directory */
	char *path;	    /* the mount point, else the directory: what waiters match */
	char *remove;	    /* a directory removed after, or NULL */
	struct disk_release *next;
};

static pthread_mutex_t rel_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rel_cv = PTHREAD_COND_INITIALIZER;
static struct disk_release *rel_head, *rel_tail; /* queued, oldest first */
static struct disk_release *rel_now;		 /* being released */
static bool rel_running;			 /* the releaser thread lives */

static void release_one(struct disk_release *x)
{
	struct nsh_err err = NSH_ERR_INIT;

	if (x->d && nsh_disk_close(x->d, &err))
		nsh_log_warn("disk '%s': %s", x->path, err.msg);
	nsh_err_clear(&err);
	if (x->remove && nsh_fs_remove_tree(x->remove, &err))
		nsh_log_warn("disk '%s': %s", x->path, err.msg);
	free(x->path);
	free(x->remove);
	free(x);
}

/* The releaser: works the queue off, then ends. */
static void *releaser(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&rel_mu);
	while (rel_head) {
		rel_now = rel_head;
		rel_head = rel_head->next;
		if (!rel_head)
			rel_tail = NULL;
		pthread_mutex_unlock(&rel_mu);
		nsh_fault_stall("disk.release"); /* tests: a slow unmount */
		release_one(rel_now);
		pthread_mutex_lock(&rel_mu);
		rel_now = NULL;
		pthread_cond_broadcast(&rel_cv);
	}
	rel_running = false;
	pthread_cond_broadcast(&rel_cv);
	pthread_mutex_unlock(&rel_mu);
	return NULL;
}

void nsh_disk_close_later(struct nsh_disk *d, const char *remove_dir)
{
	struct disk_release *x;
	pthread_attr_t attr;
	pthread_t th;
	bool inline_ = false;

	if (!d && !remove_dir)
		return;
	x = nsh_xcalloc(1, sizeof(*x));
	x->d = d;
	x->path = nsh_xstrdup(d ? d->mountpoint : remove_dir);
	x->remove = remove_dir ? nsh_xstrdup(remove_dir) : NULL;
	pthread_mutex_lock(&rel_mu);
	if (rel_tail)
		rel_tail->next = x;
	else
		rel_head = x;
	rel_tail = x;
	if (!rel_running) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &attr, releaser, NULL) == 0)
			rel_running = true;
		else
			inline_ = true;
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&rel_mu);
	if (inline_) {
		pthread_mutex_lock(&rel_mu);
		rel_running = true;
		pthread_mutex_unlock(&rel_mu);
		releaser(NULL); /* no thread to be had: done here, now */
	}
}

/* Whether @a is @b or one lies below the other. */
static bool path_overlaps(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;

	return !strncmp(a, b, n) && (la == lb || (la < lb ? b[n] : a[n]) == '/');
}

/* Whether a queued or running release touches @path. Under rel_mu. */
static bool release_pending(const char *path)
{
	if (rel_now && (path_overlaps(rel_now->path, path) ||
			(rel_now->remove && path_overlaps(rel_now->remove, path))))
		return true;
	for (struct disk_release *x = rel_head; x; x = x->next)
		if (path_overlaps(x->path, path) || (x->remove && path_overlaps(x->remove, path)))
			return true;
	return false;
}

void nsh_disk_wait(const char *path)
{
	pthread_mutex_lock(&rel_mu);
	while (release_pending(path))
		pthread_cond_wait(&rel_cv, &rel_mu);
	pthread_mutex_unlock(&rel_mu);
}

void nsh_disk_drain(void)
{
	pthread_mutex_lock(&rel_mu);
	while (rel_head || rel_now || rel_running)
		pthread_cond_wait(&rel_cv, &rel_mu);
	pthread_mutex_unlock(&rel_mu);
}

/* ---- leftovers ---- */

/*
 * The backing file of the loop device whose sysfs directory is @sysdir
 * (".../loop" below the block device), without a " (deleted)" suffix; NULL
 * for a device that is not a loop device or is not attached.
 */
static char *backing_file(const char *sysdir)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/backing_file", sysdir);
	char *out = NULL;
	size_t len;

	if (nsh_fs_read_file(path, &b, DISK_SYSFS_MAX, NULL) < 0)
		goto out;
	if (b.len && b.buf[b.len - 1] == '\n')
		nsh_buf_truncate(&b, b.len - 1);
	len = b.len;
	if (len > 10 && !strcmp(b.buf + len - 10, " (deleted)"))
		nsh_buf_truncate(&b, len - 10);
	if (b.len)
		out = nsh_buf_detach(&b, NULL);
out:
	nsh_buf_release(&b);
	free(path);
	return out;
}

/* Whether @path lies strictly below the directory @dir (both absolute,
 * resolved). */
static bool under(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	return !strncmp(path, dir, len) && path[len] == '/' && path[len + 1];
}

/* Whether @image is one to keep (NSH_DISK_KEEP_SUFFIX). */
static bool kept(const char *image)
{
	size_t n = strlen(image), k = strlen(NSH_DISK_KEEP_SUFFIX);

	return n > k && !strcmp(image + n - k, NSH_DISK_KEEP_SUFFIX);
}

/* Delete @image and count it once in @done. */
static int forget_image(const char *image, struct nsh_strvec *done, struct nsh_err *err)
{
	if (nsh_strvec_find(done, image) < 0)
		nsh_strvec_push(done, image);
	if (unlink(image) < 0 && errno != ENOENT)
		return nsh_err_sys(err, errno, "cannot delete disk image '%s'", image);
	return 0;
}

/* Unmount every mount of a loop device backed by an image under @wd, last
 * first. */
static int clean_mounts(const char *wd, struct nsh_strvec *done, struct nsh_err *err)
{
	struct nsh_strvec mnts = NSH_STRVEC_INIT, images = NSH_STRVEC_INIT;
	struct nsh_buf mi = NSH_BUF_INIT;
	char *line, *next;
	int ret;

	ret = nsh_fs_read_file("/proc/self/mountinfo", &mi, DISK_MOUNTINFO_MAX, err);
	if (ret < 0)
		goto out;
	for (line = mi.buf; line && *line; line = next) {
		char *f[6], *tok = line, *sysdir, *image;
		size_t nf = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (; tok && nf < 6; nf++) {
			f[nf] = tok;
			tok = strchr(tok, ' ');
			if (tok)
				*tok++ = '\0';
		}
		if (nf < 5)
			continue;
		sysdir = nsh_xasprintf("/sys/dev/block/%s/loop", f[2]);
		image = backing_file(sysdir);
		free(sysdir);
		if (image && under(image, wd) && !kept(image)) {
			nsh_fs_mountinfo_unescape(f[4]);
			nsh_strvec_push(&mnts, f[4]);
			nsh_strvec_push(&images, image);
		}
		free(image);
	}
	/* mountinfo lists parents before children: unmount in reverse */
	for (size_t i = mnts.nr; i-- > 0;) {
		struct nsh_err *e = ret < 0 ? NULL : err;
		int r = unmount(mnts.v[i]);

		/* EINVAL, ENOENT: unmounted meanwhile by someone else */
		if (r && r != EINVAL && r != ENOENT)
			r = nsh_err_sys(e, r, "cannot unmount '%s'", mnts.v[i]);
		else
			r = forget_image(images.v[i], done, e);
		if (ret == 0)
			ret = r;
	}
out:
	nsh_strvec_release(&mnts);
	nsh_strvec_release(&images);
	nsh_buf_release(&mi);
	return ret;
}

/* Detach loop devices still attached to images under @wd (e.g. without
 * autoclear). */
static int clean_loops(const char *wd, struct nsh_strvec *done, struct nsh_err *err)
{
	struct dirent *de;
	DIR *dir = NULL;
	int fd, ret = 0;

	fd = open("/sys/block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		goto out; /* no sysfs: nothing to find */
	}
	while ((de = readdir(dir))) {
		char *sysdir, *image, *dev;
		int lfd, r = 0;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		sysdir = nsh_xasprintf("/sys/block/%s/loop", de->d_name);
		image = backing_file(sysdir);
		free(sysdir);
		if (!image || !under(image, wd) || kept(image)) {
			free(image);
			continue;
		}
		dev = nsh_xasprintf("/dev/%s", de->d_name);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		/* busy (mounted in another namespace): LOOP_CLR_FD turns on autoclear
		 * instead */
		if (lfd < 0 || (ioctl(lfd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO))
			r = nsh_err_sys(ret < 0 ? NULL : err, errno, "cannot detach '%s' from '%s'",
					dev, image);
		if (lfd >= 0)
			close(lfd);
		if (r == 0)
			r = forget_image(image, done, ret < 0 ? NULL : err);
		if (ret == 0)
			ret = r;
		free(dev);
		free(image);
	}
out:
	if (dir)
		closedir(dir);
	return ret;
}

/*
 * Delete the disk templates crashed processes left (mkfs.ext4 was still
 * running) in @fd, a directory, and, while @depth > 0, in its
 * subdirectories. A live process's template is left alone.
 */
static void clean_templates(int fd, int depth)
{
	DIR *dir = fdopendir(fd);
	struct dirent *de;

	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		size_t k = strlen(DISK_TEMPLATE_PFX);
		char *end;
		long pid;

		if (de->d_name[0] != '.' && depth > 0 && de->d_type == DT_DIR) {
			int sub = openat(dirfd(dir), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				clean_templates(sub, depth - 1);
			continue;
		}
		if (strncmp(de->d_name, DISK_TEMPLATE_PFX, k))
			continue;
		errno = 0;
		pid = strtol(de->d_name + k, &end, 10);
		if (errno || pid <= 0 || strcmp(end, ".img") || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* its process lives */
		unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
}

int nsh_disk_cleanup_stale(const char *work_dir, unsigned *ret_removed, struct nsh_err *err)
{
	struct nsh_strvec done = NSH_STRVEC_INIT;
	char *wd = realpath(work_dir, NULL);
	int ret = 0, r;

	if (!wd) {
		if (errno != ENOENT)
			ret = nsh_err_sys(err, errno, "cannot resolve work directory '%s'",
					  work_dir);
		goto out;
	}
	ret = clean_mounts(wd, &done, err);
	r = clean_loops(wd, &done, ret < 0 ? NULL : err);
	if (ret == 0)
		ret = r;
	r = open(wd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r >= 0)
		clean_templates(r, 1);
out:
	if (ret == 0 && ret_removed)
		*ret_removed = (unsigned)done.nr;
	nsh_strvec_release(&done);
	free(wd);
	return ret;
}
