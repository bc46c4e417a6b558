/*
 * Files below a directory, reached without ever leaving it.
 *
 * A job's workspace is written by code that ran in a sandbox. That code may
 * have put a symbolic link where the daemon expects a file or a directory,
 * pointing at a file of the host that the sandbox cannot reach but the
 * daemon (often root) can: another job's workspace, the store, a key. Every
 * host-side read or write of a workspace file therefore goes through these
 * helpers: the relative path is walked one directory at a time from @dir
 * with O_NOFOLLOW, so no component may be a symbolic link (not even one that
 * stays inside), ".." and absolute paths are refused, and only regular files
 * are opened (O_NONBLOCK: a FIFO would block the reader). @dir itself is
 * trusted and resolved as given.
 *
 * Thread rules: all functions are thread-safe; every descriptor they open is
 * O_CLOEXEC, and those they return belong to the caller.
 */
#ifndef NSH_CORE_BELOW_H
#define NSH_CORE_BELOW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct nsh_buf;
struct nsh_err;

/** nsh_below_write(): fsync the file and its directory (else the caller syncs later). */
#define NSH_BELOW_SYNC 1u

/**
 * An O_PATH descriptor of the directory that holds @rel below @dir, and in
 * *@ret_last the last component of @rel (pointing into @rel; may be empty
 * for "dir/"). -1 with errno when a component is missing (ENOENT), is not a
 * directory or is a symbolic link (ENOTDIR), is ".." or @rel is absolute
 * (EXDEV).
 */
int nsh_below_parent(const char *dir, const char *rel, const char **ret_last);

/** An O_RDONLY descriptor of the directory @rel below @dir (for fdopendir()); -1 with errno. */
int nsh_below_dir(const char *dir, const char *rel);

/**
 * An O_RDONLY descriptor of the regular file @name (one component) in the
 * directory @dfd, its status in *@ret_st; -1 with errno (ELOOP for a
 * symbolic link, EINVAL for something other than a regular file).
 */
int nsh_below_regular(int dfd, const char *name, struct stat *ret_st);

/** The rest of @fd into @out (reset first); false past @max bytes or on a read error. */
bool nsh_below_read_fd(int fd, size_t max, struct nsh_buf *out);

/**
 * Status of @rel below @dir without following a final symbolic link
 * (fstatat(AT_SYMLINK_NOFOLLOW) in its parent); -1 with errno.
 */
int nsh_below_lstat(const char *dir, const char *rel, struct stat *ret_st);

/**
 * Append the regular file @rel below @dir to @out. Fails with NSH_ENOTFOUND
 * when it does not exist, NSH_EDENIED when the path goes through or ends in
 * a symbolic link or leaves @dir, NSH_EINVAL when it is not a regular file,
 * NSH_ETOOBIG past @max bytes; each message names @rel. On failure @out is
 * left as it was.
 */
int nsh_below_read(const char *dir, const char *rel, struct nsh_buf *out, size_t max,
		   struct nsh_err *err);

/**
 * Replace the file @rel below @dir with the @len bytes at @data, atomically:
 * a temporary file made O_EXCL|O_NOFOLLOW in the same directory, then
 * renamed over @rel (a symbolic link there is replaced, never followed).
 * The file gets exactly @mode. @flags: NSH_BELOW_SYNC. The directories must
 * exist; the errors are those of nsh_below_read(), and NSH_EIO.
 */
int nsh_below_write(const char *dir, const char *rel, const void *data, size_t len, mode_t mode,
		    unsigned flags, struct nsh_err *err);

/** Remove the file @rel below @dir, if it is there; errors are ignored. */
void nsh_below_unlink(const char *dir, const char *rel);

/** Make the directories of @rel below @dir, like "mkdir -p" (0755); -1 with errno. */
int nsh_below_mkdir(const char *dir, const char *rel);

#endif
