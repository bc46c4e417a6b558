/*
 * File-system helpers. nsh_fs_remove_tree() is the delicate one: it walks
 * with descriptors (openat(O_NOFOLLOW|O_DIRECTORY), fdopendir(), unlinkat())
 * so that no path is ever resolved through a symbolic link inside the tree,
 * and it stops at mount points instead of emptying them.
 */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

/* Bytes per read() in nsh_fs_read_file(). */
#define READ_CHUNK ((size_t)16 * 1024)

int nsh_fs_mkdir_p(const char *path, mode_t mode, struct nsh_err *err)
{
	struct stat st;
	char *dup = NULL;
	int ret = 0;

	if (!*path) {
		ret = nsh_err_set(err, NSH_EINVAL, "cannot create a directory with an empty name");
		goto out;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		goto out;
	/* Create each prefix that ends before a '/' (or at the end), in turn. */
	dup = nsh_xstrdup(path);
	for (char *p = dup + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		if (p[-1] != '/') {
			*p = '\0';
			if (mkdir(dup, mode) < 0) {
				int e = errno;

				/* EEXIST, but also EACCES or EROFS for a directory that exists */
				if (stat(dup, &st) < 0) {
					ret = nsh_err_sys(err, e, "cannot create directory '%s'",
							  dup);
					goto out;
				}
				if (!S_ISDIR(st.st_mode)) {
					ret = nsh_err_set(err, NSH_EEXIST,
							  "cannot create directory '%s': '%s' is "
							  "not a directory",
							  path, dup);
					goto out;
				}
			}
			*p = c;
		}
		if (!c)
			break;
	}
out:
	free(dup);
	return ret;
}

int nsh_fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync() the directory @dir so that a rename in it is durable. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, e;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	if (rc < 0 && e == EINVAL)
		return 0; /* a file system that cannot sync directories */
	errno = e;
	return rc;
}

int nsh_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct nsh_err *err)
{
	struct nsh_buf tmp = NSH_BUF_INIT, dir = NSH_BUF_INIT;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	bool created = false;
	int fd = -1, ret = 0;

	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		ret = nsh_err_set(err, NSH_EINVAL, "cannot write '%s': not a file name", path);
		goto out;
	}
	if (!slash)
		nsh_buf_adds(&dir, ".");
	else if (slash == path)
		nsh_buf_adds(&dir, "/");
	else
		nsh_buf_add(&dir, path, (size_t)(slash - path));
	/* A long name is cut so that the temporary one stays under NAME_MAX. */
	nsh_buf_add(&tmp, path, (size_t)(base - path));
	nsh_buf_addf(&tmp, ".%.200s.tmp-XXXXXX", base);

	fd = mkostemp(tmp.buf, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
	if (fd < 0) {
		ret = nsh_err_sys(err, errno, "cannot create a temporary file for '%s'", path);
		goto out;
	}
	created = true;
	if (fchmod(fd, mode & 07777) < 0 || nsh_fs_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		ret = nsh_err_sys(err, errno, "cannot write '%s'", path);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = nsh_err_sys(err, errno, "cannot write '%s'", path);
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path) < 0) {
		ret = nsh_err_sys(err, errno, "cannot replace '%s'", path);
		goto out;
	}
	created = false;
	if (sync_dir(dir.buf) < 0)
		ret = nsh_err_sys(err, errno, "cannot sync the directory of '%s'", path);
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp.buf);
	nsh_buf_release(&tmp);
	nsh_buf_release(&dir);
	return ret;
}

int nsh_fs_read_file(const char *path, struct nsh_buf *out, size_t max, struct nsh_err *err)
{
	size_t orig = out->len, got = 0;
	char chunk[READ_CHUNK];
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = nsh_err_sys(err, errno, "cannot open '%s'", path);
		goto out;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uintmax_t)st.st_size > max)
			goto too_big;
		nsh_buf_grow(out, (size_t)st.st_size); /* a hint; failing is fine here */
	}
	for (;;) {
		/* One byte past @max, to tell "exactly max" from "larger". */
		size_t want = max - got >= sizeof(chunk) ? sizeof(chunk) : max - got + 1;
		ssize_t n = read(fd, chunk, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = nsh_err_sys(err, errno, "cannot read '%s'", path);
			goto out;
		}
		if (!n)
			break;
		if ((size_t)n > max - got)
			goto too_big;
		if (nsh_buf_add(out, chunk, (size_t)n) < 0) {
			ret = nsh_err_set(err, NSH_ETOOBIG, "file '%s' does not fit in %zu bytes",
					  path, out->max);
			goto out;
		}
		got += (size_t)n;
	}
	goto out;
too_big:
	ret = nsh_err_set(err, NSH_ETOOBIG, "file '%s' is larger than %zu bytes", path, max);
out:
	if (ret)
		nsh_buf_truncate(out, orig);
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * Is the directory open at @fd the root of a mount (other than the one at
 * @dev)? Bind mounts of the same file system share st_dev, so statx()'s
 * mount-root attribute is asked first where the kernel knows it.
 */
static bool is_mount_point(int fd, dev_t dev)
{
	struct stat st;
#ifdef STATX_ATTR_MOUNT_ROOT
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return true;
#endif
	return fstat(fd, &st) == 0 && st.st_dev != dev;
}

/*
 * Remove everything inside the directory open at @dfd (which this takes
 * over) on device @dev. @name is its path for messages; it is extended per
 * entry and restored before returning.
 */
static int remove_contents(int dfd, dev_t dev, struct nsh_buf *name, struct nsh_err *err)
{
	size_t base_len = name->len;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = fdopendir(dfd);
	if (!d) {
		ret = nsh_err_sys(err, errno, "cannot read directory '%s'", name->buf);
		close(dfd);
		return ret;
	}
	for (;;) {
		bool is_dir;
		int cfd;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				ret = nsh_err_sys(err, errno, "cannot read directory '%s'",
						  name->buf);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nsh_buf_truncate(name, base_len);
		nsh_buf_addf(name, "/%s", de->d_name); /* never "//": "/" itself is refused */
		is_dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				ret = nsh_err_sys(err, errno, "cannot remove '%s'", name->buf);
				break;
			}
			is_dir = S_ISDIR(st.st_mode);
		}
		if (!is_dir) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT)
				continue;
			if (errno != EISDIR) {
				ret = nsh_err_sys(err, errno, "cannot remove '%s'", name->buf);
				break;
			}
			/* it became a directory meanwhile */
		}
		cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			if (errno == ENOENT)
				continue;
			/* ELOOP, ENOTDIR: replaced by a link or file meanwhile; unlink that */
			if ((errno == ELOOP || errno == ENOTDIR) &&
			    (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT))
				continue;
			ret = nsh_err_sys(err, errno, "cannot remove '%s'", name->buf);
			break;
		}
		if (is_mount_point(cfd, dev)) {
			close(cfd);
			ret = nsh_err_set(err, NSH_EDENIED,
					  "refusing to remove '%s': it is a mount point",
					  name->buf);
			break;
		}
		ret = remove_contents(cfd, dev, name, err);
		if (ret)
			break;
		if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			ret = nsh_err_sys(err, errno, "cannot remove '%s'", name->buf);
			break;
		}
	}
	nsh_buf_truncate(name, base_len);
	closedir(d);
	return ret;
}

int nsh_fs_remove_tree(const char *path, struct nsh_err *err)
{
	struct nsh_buf name = NSH_BUF_INIT;
	const char *base;
	struct stat st;
	int fd, ret = 0;

	nsh_buf_adds(&name, path);
	/* "dir/" would resolve a final symbolic link; the name without slashes does not */
	while (name.len > 1 && name.buf[name.len - 1] == '/')
		nsh_buf_truncate(&name, name.len - 1);
	base = strrchr(name.buf, '/');
	base = base ? base + 1 : name.buf;
	if (!name.len || !strcmp(name.buf, "/") || !strcmp(base, ".") || !strcmp(base, "..")) {
		ret = nsh_err_set(err, NSH_EINVAL, "refusing to remove '%s'", path);
		goto out;
	}
	if (lstat(name.buf, &st) < 0) {
		if (errno != ENOENT)
			ret = nsh_err_sys(err, errno, "cannot remove '%s'", path);
		goto out;
	}
	if (S_ISLNK(st.st_mode))
		goto symlink;
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(name.buf) < 0 && errno != ENOENT)
			ret = nsh_err_sys(err, errno, "cannot remove '%s'", path);
		goto out;
	}
	fd = open(name.buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			goto symlink; /* swapped for a link since the lstat() */
		if (errno != ENOENT)
			ret = nsh_err_sys(err, errno, "cannot remove '%s'", path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = nsh_err_sys(err, errno, "cannot remove '%s'", path);
		close(fd);
		goto out;
	}
	ret = remove_contents(fd, st.st_dev, &name, err);
	if (ret)
		goto out;
	if (rmdir(name.buf) < 0 && errno != ENOENT)
		ret = nsh_err_sys(err, errno, "cannot remove '%s'", path);
	goto out;
symlink:
	ret = nsh_err_set(err, NSH_EINVAL, "refusing to remove '%s': it is a symbolic link", path);
out:
	nsh_buf_release(&name);
	return ret;
}

bool nsh_fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool nsh_fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int nsh_fs_join(struct nsh_buf *out, const char *a, const char *b)
{
	size_t orig = out->len, alen = strlen(a);
	int rc;

	rc = nsh_buf_add(out, a, alen);
	if (alen) {
		while (*b == '/')
			b++;
		if (!rc && a[alen - 1] != '/')
			rc = nsh_buf_addch(out, '/');
	}
	if (!rc)
		rc = nsh_buf_adds(out, b);
	if (rc)
		nsh_buf_truncate(out, orig);
	return rc;
}

void nsh_fs_mountinfo_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}
