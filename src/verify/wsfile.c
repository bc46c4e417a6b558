/*
 * Files the tools wrote in a checkout, read without leaving it.
 *
 * In a job the checkout is a sandbox's workspace: code that ran there may
 * have put a symbolic link where a report is expected, pointing at a file
 * of the host that the sandbox cannot read but the daemon can. So every
 * path below the checkout is walked one directory at a time with
 * O_NOFOLLOW, ".." is refused, and only regular files are opened (a FIFO
 * would block the reader).
 */
#include "verify/verify_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define READ_CHUNK ((size_t)16 << 10)

int nsh_vrf_open_parent(const char *dir, const char *rel, const char **ret_last)
{
	const char *p = rel, *slash;
	int fd;

	*ret_last = rel;
	if (!rel || *rel == '/')
		return -1;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	while (fd >= 0 && (slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		char *name = nsh_xstrndup(p, n);
		int sub = -1;

		if (n == 0 || !strcmp(name, ".")) {
			sub = fd;
			fd = -1;
		} else if (strcmp(name, "..")) {
			sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		free(name);
		if (fd >= 0)
			close(fd);
		fd = sub;
		p = slash + 1;
	}
	*ret_last = p;
	if (fd >= 0 && !strcmp(p, "..")) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int nsh_vrf_open_dir(const char *dir, const char *rel)
{
	char *copy = nsh_xstrdup(rel ? rel : "");
	size_t n = strlen(copy);
	const char *last;
	int pfd, fd = -1;

	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	pfd = nsh_vrf_open_parent(dir, copy, &last);
	if (pfd >= 0) {
		fd = openat(pfd, *last ? last : ".",
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(pfd);
	}
	free(copy);
	return fd;
}

int nsh_vrf_open_regular(int dfd, const char *name, struct stat *ret_st)
{
	int fd;

	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, ret_st) || !S_ISREG(ret_st->st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

bool nsh_vrf_read_all(int fd, size_t max, struct nsh_buf *out)
{
	char chunk[READ_CHUNK];

	nsh_buf_reset(out);
	for (;;) {
		ssize_t k = read(fd, chunk, sizeof(chunk));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 || out->len + (size_t)k > max) {
			nsh_buf_reset(out);
			return false;
		}
		if (k == 0)
			return true;
		nsh_buf_add(out, chunk, (size_t)k);
	}
}

bool nsh_vrf_read_fresh_at(int dfd, const char *name, time_t since, size_t max, struct nsh_buf *out)
{
	struct stat st;
	int fd = nsh_vrf_open_regular(dfd, name, &st);
	bool ok;

	nsh_buf_reset(out);
	if (fd < 0)
		return false;
	ok = st.st_mtime >= since && (uint64_t)st.st_size <= max && nsh_vrf_read_all(fd, max, out);
	close(fd);
	return ok;
}

bool nsh_vrf_read_fresh(const char *dir, const char *rel, time_t since, size_t max,
			struct nsh_buf *out)
{
	const char *last;
	int pfd = nsh_vrf_open_parent(dir, rel, &last);
	bool ok;

	nsh_buf_reset(out);
	if (pfd < 0)
		return false;
	ok = nsh_vrf_read_fresh_at(pfd, last, since, max, out);
	close(pfd);
	return ok;
}

void nsh_vrf_unlink_below(const char *dir, const char *rel)
{
	const char *last;
	int pfd = nsh_vrf_open_parent(dir, rel, &last);

	if (pfd < 0)
		return;
	if (*last && strcmp(last, ".") && strcmp(last, ".."))
		unlinkat(pfd, last, 0);
	close(pfd);
}

int nsh_vrf_mkdir_below(const char *dir, const char *rel)
{
	char *copy = nsh_xstrdup(rel), *p = copy, *slash;
	int fd = *rel == '/' ? -1 : open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	while (fd >= 0 && *p) {
		int sub;

		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || !strcmp(p, ".")) {
			p = slash ? slash + 1 : p + strlen(p);
			continue;
		}
		if (!strcmp(p, "..") || (mkdirat(fd, p, 0755) < 0 && errno != EEXIST))
			sub = -1;
		else
			sub = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = sub;
		p = slash ? slash + 1 : p + strlen(p);
	}
	free(copy);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
