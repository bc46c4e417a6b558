/*
 * Files below a directory: every path is walked with descriptors, one
 * component at a time, each opened with O_NOFOLLOW relative to the one
 * before, so that no symbolic link (planted, or swapped in meanwhile) can
 * take a read or a write out of the directory.
 */
#include "core/below.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"

#include "core/banned.h"

#define READ_CHUNK ((size_t)16 << 10)
#define TMP_TRIES  16

/* Open the directory @name in @fd for a walk; ELOOP when it is a symbolic link. */
static int step(int fd, const char *name)
{
	int sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (sub < 0 && errno == ENOTDIR && !fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;
	return sub;
}

int nsh_below_parent(const char *dir, const char *rel, const char **ret_last)
{
	const char *p = rel, *slash;
	int fd, e;

	*ret_last = rel;
	if (!rel || *rel == '/') {
		errno = EXDEV;
		return -1;
	}
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	while (fd >= 0 && (slash = strchr(p, '/'))) {
		char *name = nsh_xstrndup(p, (size_t)(slash - p));
		int sub;

		if (!*name || !strcmp(name, ".")) {
			sub = dup(fd); /* "a//b", "./b" */
		} else if (!strcmp(name, "..")) {
			sub = -1;
			errno = EXDEV;
		} else {
			sub = step(fd, name);
		}
		e = errno;
		free(name);
		close(fd);
		fd = sub;
		errno = e;
		p = slash + 1;
	}
	*ret_last = p;
	if (fd >= 0 && !strcmp(p, "..")) {
		close(fd);
		fd = -1;
		errno = EXDEV;
	}
	return fd;
}

int nsh_below_dir(const char *dir, const char *rel)
{
	char *copy = nsh_xstrdup(rel ? rel : "");
	size_t n = strlen(copy);
	const char *last;
	int pfd, fd = -1, e;

	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	pfd = nsh_below_parent(dir, copy, &last);
	if (pfd >= 0) {
		fd = openat(pfd, *last ? last : ".",
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOTDIR) {
			struct stat st;

			e = errno;
			if (!fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) && S_ISLNK(st.st_mode))
				e = ELOOP;
			errno = e;
		}
		e = errno;
		close(pfd);
		errno = e;
	}
	free(copy);
	return fd;
}

int nsh_below_regular(int dfd, const char *name, struct stat *ret_st)
{
	int fd;

	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/')) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, ret_st) || !S_ISREG(ret_st->st_mode))) {
		close(fd);
		fd = -1;
		errno = EINVAL;
	}
	return fd;
}

bool nsh_below_read_fd(int fd, size_t max, struct nsh_buf *out)
{
	char chunk[READ_CHUNK];

	nsh_buf_reset(out);
	for (;;) {
		ssize_t k = read(fd, chunk, sizeof(chunk));

		if (k < 0 && errno == EINTR)
			continue;
		if (k >= 0 && out->len + (size_t)k > max)
			errno = EFBIG;
		if (k < 0 || out->len + (size_t)k > max) {
			nsh_buf_reset(out);
			return false;
		}
		if (k == 0)
			return true;
		nsh_buf_add(out, chunk, (size_t)k);
	}
}

int nsh_below_lstat(const char *dir, const char *rel, struct stat *ret_st)
{
	const char *last;
	int pfd = nsh_below_parent(dir, rel, &last), rc, e;

	if (pfd < 0)
		return -1;
	rc = fstatat(pfd, *last ? last : ".", ret_st, AT_SYMLINK_NOFOLLOW);
	e = errno;
	close(pfd);
	errno = e;
	return rc;
}

/* The error for a failed walk to, or open of, @rel; errno says why. */
static int walk_err(struct nsh_err *err, const char *what, const char *rel)
{
	int e = errno;

	switch (e) {
	case ENOENT:
		return nsh_err_set(err, NSH_ENOTFOUND, "cannot %s '%s': it does not exist", what,
				   rel);
	case ELOOP:
	case EXDEV:
		return nsh_err_set(
			err, NSH_EDENIED,
			"cannot %s '%s': the path goes through a symbolic link or out of "
			"its directory, which is not followed",
			what, rel);
	case ENOTDIR:
		return nsh_err_set(err, NSH_EINVAL,
				   "cannot %s '%s': a part of it is not a directory", what, rel);
	case EINVAL:
		return nsh_err_set(err, NSH_EINVAL, "cannot %s '%s': not a regular file", what,
				   rel);
	default:
		return nsh_err_sys(err, e, "cannot %s '%s'", what, rel);
	}
}

int nsh_below_read(const char *dir, const char *rel, struct nsh_buf *out, size_t max,
		   struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	const char *last;
	struct stat st;
	int pfd, fd = -1, rc = 0;

	pfd = nsh_below_parent(dir, rel, &last);
	if (pfd >= 0)
		fd = nsh_below_regular(pfd, last, &st);
	if (fd < 0) {
		rc = walk_err(err, "read", rel);
		goto out;
	}
	if ((uintmax_t)st.st_size > max) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "cannot read '%s': larger than %zu bytes", rel,
				 max);
		goto out;
	}
	if (!nsh_below_read_fd(fd, max, &b)) {
		rc = errno != EFBIG
			     ? nsh_err_sys(err, errno, "cannot read '%s'", rel)
			     : nsh_err_set(err, NSH_ETOOBIG,
					   "cannot read '%s': larger than %zu bytes", rel, max);
		goto out;
	}
	nsh_buf_add(out, b.buf, b.len);
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	nsh_buf_release(&b);
	return rc;
}

/* Make a temporary file beside @last in @pfd; its name into @tmp. */
static int make_tmp(int pfd, const char *last, struct nsh_buf *tmp)
{
	for (int i = 0; i < TMP_TRIES; i++) {
		uint32_t r = 0;
		int fd;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)getpid() * 2654435761u + (uint32_t)i;
		nsh_buf_reset(tmp);
		nsh_buf_addf(tmp, ".%.200s.tmp-%08x", last, r);
		fd = openat(pfd, tmp->buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

int nsh_below_write(const char *dir, const char *rel, const void *data, size_t len, mode_t mode,
		    unsigned flags, struct nsh_err *err)
{
	struct nsh_buf tmp = NSH_BUF_INIT;
	const char *last;
	bool made = false;
	int pfd, fd, rc = 0;

	pfd = nsh_below_parent(dir, rel, &last);
	if (pfd < 0) {
		rc = walk_err(err, "write", rel);
		goto out;
	}
	if (!*last || !strcmp(last, ".")) {
		rc = nsh_err_set(err, NSH_EINVAL, "cannot write '%s': not a file name", rel);
		goto out;
	}
	if ((fd = make_tmp(pfd, last, &tmp)) < 0) {
		rc = nsh_err_sys(err, errno, "cannot create a temporary file for '%s'", rel);
		goto out;
	}
	made = true;
	if (fchmod(fd, mode & 07777) < 0 || nsh_fs_write_all(fd, data, len) < 0 ||
	    ((flags & NSH_BELOW_SYNC) && fsync(fd) < 0)) {
		rc = nsh_err_sys(err, errno, "cannot write '%s'", rel);
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		rc = nsh_err_sys(err, errno, "cannot write '%s'", rel);
		goto out;
	}
	if (renameat(pfd, tmp.buf, pfd, last) < 0) {
		rc = nsh_err_sys(err, errno, "cannot replace '%s'", rel);
		goto out;
	}
	made = false;
	if (flags & NSH_BELOW_SYNC) {
		int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || (fsync(dfd) < 0 && errno != EINVAL))
			rc = nsh_err_sys(err, errno, "cannot sync the directory of '%s'", rel);
		if (dfd >= 0)
			close(dfd);
	}
out:
	if (made)
		unlinkat(pfd, tmp.buf, 0);
	if (pfd >= 0)
		close(pfd);
	nsh_buf_release(&tmp);
	return rc;
}

void nsh_below_unlink(const char *dir, const char *rel)
{
	const char *last;
	int pfd = nsh_below_parent(dir, rel, &last);

	if (pfd < 0)
		return;
	if (*last && strcmp(last, ".") && strcmp(last, ".."))
		unlinkat(pfd, last, 0);
	close(pfd);
}

int nsh_below_mkdir(const char *dir, const char *rel)
{
	char *copy = nsh_xstrdup(rel), *p = copy, *slash;
	int fd = *rel == '/' ? -1 : open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), e;

	while (fd >= 0 && *p) {
		int sub;

		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || !strcmp(p, ".")) {
			p = slash ? slash + 1 : p + strlen(p);
			continue;
		}
		if (!strcmp(p, "..")) {
			sub = -1;
			errno = EXDEV;
		} else if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST) {
			sub = -1;
		} else {
			sub = step(fd, p);
		}
		e = errno;
		close(fd);
		fd = sub;
		errno = e;
		p = slash ? slash + 1 : p + strlen(p);
	}
	free(copy);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
