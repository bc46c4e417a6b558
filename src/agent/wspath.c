/*
 * Paths confined to the workspace. Every path a tool receives is made
 * relative to the workspace root ("/workspace/x" as the sandbox shows it
 * is accepted too), ".." is resolved lexically and may not climb out, and
 * the file is then opened with openat2(RESOLVE_BENEATH), so that neither
 * ".." nor a symbolic link can lead outside, however the tree changes
 * meanwhile. Writes go to a temporary file in the same directory and are
 * renamed into place, so a symbolic link at the target is replaced, never
 * followed; nothing is written inside .git (hooks would run on the host).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent_tools.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

#define READ_CHUNK 65536

int ws_rel(const char *path, struct nsh_buf *out, struct nsh_err *err)
{
	const char *p = path ? path : "";
	size_t base;

	nsh_buf_reset(out);
	if (memchr(p, '\n', strlen(p)))
		return nsh_err_set(err, NSH_EINVAL, "path contains a line break");
	if (!strncmp(p, "/workspace", 10) && (p[10] == '/' || !p[10]))
		p += 10;
	else if (p[0] == '/')
		return nsh_err_set(err, NSH_EDENIED,
				   "path '%s' is outside the workspace (paths are relative to "
				   "the workspace root)",
				   path);
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && !strncmp(p, "..", 2)) {
			char *last;

			if (!out->len)
				return nsh_err_set(err, NSH_EDENIED,
						   "path '%s' is outside the workspace", path);
			last = strrchr(out->buf, '/');
			nsh_buf_truncate(out, last ? (size_t)(last - out->buf) : 0);
		} else if (n && !(n == 1 && p[0] == '.')) {
			base = out->len;
			if ((base && nsh_buf_addch(out, '/')) || nsh_buf_add(out, p, n))
				return nsh_err_set(err, NSH_ETOOBIG, "path is too long");
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (!out->len)
		nsh_buf_adds(out, ".");
	if (out->len > 4096)
		return nsh_err_set(err, NSH_ETOOBIG, "path is too long");
	return 0;
}

int ws_open_root(const char *workspace, int *ret_fd, struct nsh_err *err)
{
	int fd = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return nsh_err_sys(err, errno, "cannot open workspace '%s'", workspace);
	*ret_fd = fd;
	return 0;
}

/* Without openat2 (kernels before 5.6): component by component, refusing symbolic links. */
static int open_fallback(int root, const char *rel, int flags, mode_t mode)
{
	char *copy = nsh_xstrdup(rel), *p = copy, *slash;
	int dir = dup(root), fd = -1;

	while (dir >= 0 && (slash = strchr(p, '/'))) {
		int next;

		*slash = '\0';
		next = openat(dir, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dir);
		dir = next;
		p = slash + 1;
	}
	if (dir >= 0) {
		fd = openat(dir, p, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		close(dir);
	}
	free(copy);
	return fd;
}

int ws_open(int root, const char *rel, int flags, mode_t mode, int *ret_fd, struct nsh_err *err)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = open_fallback(root, rel, flags, mode);
	if (fd < 0) {
		if (errno == EXDEV || errno == ELOOP)
			return nsh_err_set(err, NSH_EDENIED,
					   "path '%s' leads outside the workspace (through a "
					   "symbolic link)",
					   rel);
		if (errno == ENOENT)
			return nsh_err_set(err, NSH_ENOTFOUND, "no such file or directory '%s'",
					   rel);
		return nsh_err_sys(err, errno, "cannot open '%s'", rel);
	}
	*ret_fd = (int)fd;
	return 0;
}

int ws_read(int root, const char *rel, size_t max, struct nsh_buf *out, struct nsh_err *err)
{
	struct stat st;
	int fd, rc;

	rc = ws_open(root, rel, O_RDONLY, 0, &fd, err);
	if (rc)
		return rc;
	if (fstat(fd, &st) < 0) {
		rc = nsh_err_sys(err, errno, "cannot read '%s'", rel);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' is a directory", rel);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' is not a regular file", rel);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is too big (%lld bytes, limit %zu)", rel,
				 (long long)st.st_size, max);
		goto out;
	}
	for (;;) {
		ssize_t n;

		rc = nsh_buf_grow(out, READ_CHUNK);
		if (rc) {
			rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is too big", rel);
			goto out;
		}
		n = read(fd, out->buf + out->len, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = nsh_err_sys(err, errno, "cannot read '%s'", rel);
			goto out;
		}
		if (!n)
			break;
		if (out->len + (size_t)n > max) {
			rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is too big (limit %zu bytes)", rel,
					 max);
			goto out;
		}
		out->len += (size_t)n;
		out->buf[out->len] = '\0';
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

bool ws_in_git(const char *rel)
{
	return !strcmp(rel, ".git") || !strncmp(rel, ".git/", 5);
}

/* Open (creating as needed) the directory @dir under @root as an O_PATH fd. */
static int make_dirs(int root, const char *dir, int *ret_fd, struct nsh_err *err)
{
	char *copy = nsh_xstrdup(dir), *p = copy;
	int cur = dup(root), rc = 0;

	if (cur < 0) {
		free(copy);
		return nsh_err_sys(err, errno, "cannot open the workspace");
	}
	while (*p && strcmp(p, ".")) {
		char *slash = strchr(p, '/');
		int next;

		if (slash)
			*slash = '\0';
		if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST) {
			rc = nsh_err_sys(err, errno, "cannot create directory '%s'", p);
			break;
		}
		next = openat(cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			rc = errno == ELOOP || errno == ENOTDIR
				     ? nsh_err_set(err, NSH_EDENIED,
						   "'%s' in '%s' is not a directory (or is a "
						   "symbolic link)",
						   p, dir)
				     : nsh_err_sys(err, errno, "cannot open directory '%s'", p);
			break;
		}
		close(cur);
		cur = next;
		if (!slash)
			break;
		p = slash + 1;
	}
	free(copy);
	if (rc) {
		close(cur);
		return rc;
	}
	*ret_fd = cur;
	return 0;
}

int ws_write(int root, const char *rel, const char *data, size_t len, struct nsh_err *err)
{
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	char *dir = slash ? nsh_xstrndup(rel, (size_t)(slash - rel)) : nsh_xstrdup(".");
	char *tmp = NULL;
	int dfd = -1, fd = -1, rc;
	struct stat st;
	mode_t mode = 0644;
	size_t off = 0;

	if (ws_in_git(rel)) {
		rc = nsh_err_set(err, NSH_EDENIED, "refusing to write inside .git ('%s')", rel);
		goto out;
	}
	if (!strcmp(rel, ".") || !*name) {
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' is not a file name", rel);
		goto out;
	}
	rc = make_dirs(root, dir, &dfd, err);
	if (rc)
		goto out;
	if (!fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (S_ISDIR(st.st_mode)) {
			rc = nsh_err_set(err, NSH_EINVAL, "'%s' is a directory", rel);
			goto out;
		}
		if (S_ISREG(st.st_mode))
			mode = st.st_mode & 07777;
	}
	for (int i = 0; i < 100 && fd < 0; i++) {
		free(tmp);
		tmp = nsh_xasprintf(".%s.nsh-%d-%d", name, (int)getpid(), i);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			rc = nsh_err_sys(err, errno, "cannot write '%s'", rel);
			goto out;
		}
	}
	if (fd < 0) {
		rc = nsh_err_set(err, NSH_EIO, "cannot write '%s': no temporary name", rel);
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = nsh_err_sys(err, errno, "cannot write '%s'", rel);
			goto out;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		fd = -1;
		rc = nsh_err_sys(err, errno, "cannot write '%s'", rel);
		goto out;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) < 0) {
		rc = nsh_err_sys(err, errno, "cannot write '%s'", rel);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp && dfd >= 0)
		unlinkat(dfd, tmp, 0);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
	return rc;
}

int ws_remove(int root, const char *rel, struct nsh_err *err)
{
	const char *slash = strrchr(rel, '/');
	char *dir = slash ? nsh_xstrndup(rel, (size_t)(slash - rel)) : nsh_xstrdup(".");
	int dfd = -1, rc = 0;

	rc = ws_open(root, dir, O_PATH | O_DIRECTORY, 0, &dfd, err);
	if (!rc && unlinkat(dfd, slash ? slash + 1 : rel, 0) < 0 && errno != ENOENT)
		rc = nsh_err_sys(err, errno, "cannot remove '%s'", rel);
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return rc;
}
