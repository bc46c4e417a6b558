/*
 * File-system helpers: create directory chains, replace files atomically,
 * read whole files with a size cap, and remove trees without ever following
 * a symbolic link out of them.
 *
 * Paths are NUL-terminated and used as given (relative ones against the
 * current directory). Every descriptor opened here is O_CLOEXEC and closed
 * before return.
 *
 * Thread rules: all functions are thread-safe; concurrent calls on the same
 * paths race like the underlying system calls do.
 */
#ifndef NSH_CORE_FS_H
#define NSH_CORE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct nsh_buf;
struct nsh_err;

/**
 * Create directory @path and any missing parents with @mode (minus the
 * umask), like "mkdir -p". Existing directories, and symbolic links to them,
 * are fine. A component that exists and is not a directory fails with
 * NSH_EEXIST naming it; other failures are NSH_EIO, NSH_EDENIED, ...
 * naming the directory that could not be made.
 */
int nsh_fs_mkdir_p(const char *path, mode_t mode, struct nsh_err *err);

/**
 * Replace @path with the @len bytes at @data, atomically: readers see the old
 * file or the new one, never a mix, also after a crash. Writes a temporary
 * ".<name>.tmp-XXXXXX" in the same directory (O_EXCL|O_CLOEXEC), fsyncs it,
 * renames it over @path and fsyncs the directory. The file gets exactly
 * @mode (the umask does not apply). A symbolic link at @path is replaced, not
 * followed. On failure the temporary file is removed and @path is untouched
 * (unless only the final directory fsync failed); the error names @path.
 */
int nsh_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct nsh_err *err);

/** write() all @len bytes at @data to @fd, again after EINTR; -1 with errno on failure. */
int nsh_fs_write_all(int fd, const void *data, size_t len);

/**
 * Append the contents of @path to @out. Fails with NSH_ETOOBIG naming @path
 * when the file is larger than @max bytes (or does not fit under @out's own
 * cap); NSH_ENOTFOUND, NSH_EDENIED or NSH_EIO when it cannot be read. On
 * failure @out is left as it was.
 */
int nsh_fs_read_file(const char *path, struct nsh_buf *out, size_t max, struct nsh_err *err);

/**
 * Remove @path and everything below it, like "rm -rf", without following
 * symbolic links: a link inside the tree is removed, never its target, and
 * directories are opened with O_NOFOLLOW relative to their parent so that a
 * concurrent swap cannot redirect the removal. A missing @path is success; a
 * non-directory @path is unlinked. Refuses with NSH_EINVAL when @path itself
 * is a symbolic link, is "/" or ends in "." or "..", and with NSH_EDENIED for
 * a directory on another file system (a mount point inside the tree), which
 * is left in place. Stops at the first failure and names the entry. The
 * depth of the tree is limited by the number of descriptors the process may
 * open.
 */
int nsh_fs_remove_tree(const char *path, struct nsh_err *err);

/** True when something (also a dangling symbolic link) exists at @path. */
bool nsh_fs_exists(const char *path);

/** True when @path is a directory or a symbolic link to one. */
bool nsh_fs_is_dir(const char *path);

/**
 * Append "@a/@b" to @out, with exactly one '/' between them (@b's leading slashes
 * dropped; nothing added when @a is empty). Returns 0, or NSH_ETOOBIG past
 * @out's cap (@out unchanged).
 */
int nsh_fs_join(struct nsh_buf *out, const char *a, const char *b);

/**
 * Decode, in place, the octal escapes (\040 for a space, \011, \012, \134)
 * that /proc/self/mountinfo uses in path fields.
 */
void nsh_fs_mountinfo_unescape(char *s);

#endif
