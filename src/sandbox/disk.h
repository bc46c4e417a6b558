/*
 * Per-sandbox disk quota through a loop-mounted ext4 image: the sandbox's
 * writable tree lives on a file system of a fixed size, so filling it ends
 * in ENOSPC inside the sandbox instead of filling the host's disk. Used
 * where the host file system has no project quotas.
 *
 * The image is a sparse file (space is taken as it is written), formatted
 * by mkfs.ext4 (the only program run here) once per process for each file
 * system and size: that first image is a template, unlinked and held open,
 * and every image after it is a copy (a reflink where the file system has
 * them, else a copy of its few data extents). It has no journal: the image is scratch space that is
 * thrown away after a crash, so a journal would only cost space (4 MiB of a 32 MiB image) and
 * writes. It is attached to a free loop device with LO_FLAGS_AUTOCLEAR, so
 * the device detaches by itself once the file system is unmounted, and
 * mounted with nosuid,nodev.
 *
 * Everything here needs CAP_SYS_ADMIN in the initial user namespace.
 * Thread rules: a struct nsh_disk belongs to one thread at a time; disks
 * may be created and destroyed concurrently.
 */
#ifndef NSH_SANDBOX_DISK_H
#define NSH_SANDBOX_DISK_H

#include <stdint.h>
#include <sys/types.h>

struct nsh_err;

/* The smallest image nsh_disk_create() accepts. */
#define NSH_DISK_MIN_BYTES ((uint64_t)4 << 20)
/* How long mkfs.ext4 may run. */
#define NSH_DISK_MKFS_TIMEOUT_MS 60000

/* One mounted disk image. */
struct nsh_disk;

/**
 * Create the image file @image (which must not exist; its directory must)
 * of @bytes bytes, sparse, format it as ext4, attach it to a loop device and
 * mount it on @mountpoint (created with its parents when missing). The root
 * of the new file system is owned by @owner:@group with mode 0755 and is
 * empty (lost+found is removed). The handle goes to @ret; the caller
 * releases it with nsh_disk_destroy(). The first image of a size on a
 * file system is formatted by mkfs.ext4 (under a lock: other creators of
 * disks wait) and kept as the process's template for that size (up to 8
 * sizes; more are formatted one by one); later ones are copies of it.
 * Waits for a nsh_disk_close_later() of @mountpoint or @image first.
 *
 * Errors: NSH_EINVAL for @bytes below NSH_DISK_MIN_BYTES or an empty path;
 * NSH_EEXIST when @image exists; mkfs failures name the program and its
 * last line of stderr; NSH_EDENIED without privileges; NSH_EIO otherwise,
 * naming the path or device. On failure nothing is left mounted or
 * attached, and the image and a mount point made here are removed.
 * Runs mkfs.ext4 through the subprocess runner, so the rules of
 * nsh_proc_run() about reaping children apply.
 */
int nsh_disk_create(const char *image, const char *mountpoint, uint64_t bytes, uid_t owner,
		    gid_t group, struct nsh_disk **ret, struct nsh_err *err);

/**
 * Make the process's template for images of @bytes now (mkfs.ext4 in the
 * directory @dir, which must exist and be on the file system of the images
 * to come), so that the first nsh_disk_create() of that size copies it
 * instead of waiting for mkfs.ext4. Nothing to do when there is one
 * already. Meant for a background thread at start-up: nsh_disk_create()
 * waits for a template being made. Errors: NSH_EINVAL for @bytes below
 * NSH_DISK_MIN_BYTES; those of mkfs.ext4 and of the template's file.
 */
int nsh_disk_prepare(const char *dir, uint64_t bytes, struct nsh_err *err);

/*
 * Images whose file name ends in this are kept: nsh_disk_close() leaves
 * them for a later nsh_disk_open(), and nsh_disk_cleanup_stale() leaves
 * them (and their mounts) to their owners, which take them over with
 * nsh_disk_open(). A job's workspace lives on one across its runs.
 */
#define NSH_DISK_KEEP_SUFFIX ".keep.img"

/**
 * Mount the existing image @image (made by nsh_disk_create()) on
 * @mountpoint (created with its parents when missing) through a free loop
 * device, as nsh_disk_create() does but without formatting: its files are
 * as they were. Whatever is mounted on @mountpoint already (a mount a
 * crashed run left) is detached first. NSH_ENOTFOUND when @image does not
 * exist; otherwise the errors of nsh_disk_create(). Release the handle with
 * nsh_disk_close() to keep the image, or nsh_disk_destroy().
 */
int nsh_disk_open(const char *image, const char *mountpoint, struct nsh_disk **ret,
		  struct nsh_err *err);

/**
 * Unmount the file system (lazily when busy) and free @d, keeping the
 * image and the mount point for a later nsh_disk_open(). Frees @d also on
 * failure. NULL ok.
 */
int nsh_disk_close(struct nsh_disk *d, struct nsh_err *err);

/**
 * nsh_disk_close() on a background thread, then (@remove_dir not NULL)
 * nsh_fs_remove_tree(@remove_dir): the unmount, the loop device's detach
 * and the deletion of the files leave the caller's path. Takes @d (NULL:
 * only the directory). Failures are logged as warnings. nsh_disk_open(),
 * nsh_disk_create() and nsh_disk_wait() on a path it touches wait for it;
 * nsh_disk_drain() waits for all. A process that exits before the release
 * leaves what a crash leaves (nsh_disk_cleanup_stale(), or the owner's
 * nsh_disk_open(), cleans it). Thread-safe.
 */
void nsh_disk_close_later(struct nsh_disk *d, const char *remove_dir);

/**
 * Wait until no release by nsh_disk_close_later() touches @path (its mount
 * point or directory, or a path above or below them). Thread-safe.
 */
void nsh_disk_wait(const char *path);

/** Wait until every release by nsh_disk_close_later() is done. Thread-safe. */
void nsh_disk_drain(void);

/**
 * Bytes in use (including file-system metadata) and the usable size of the
 * file system, from statfs(). NSH_ENOTFOUND when it is no longer mounted
 * on its mount point.
 */
int nsh_disk_usage(const struct nsh_disk *d, uint64_t *ret_used, uint64_t *ret_size,
		   struct nsh_err *err);

/** The loop device, such as "/dev/loop3". Borrowed from @d. */
const char *nsh_disk_device(const struct nsh_disk *d);

/** The mount point given to nsh_disk_create(). Borrowed from @d. */
const char *nsh_disk_mountpoint(const struct nsh_disk *d);

/**
 * Unmount the file system (lazily with MNT_DETACH when it is busy: the loop
 * device and the space then go when its last user does), delete the image,
 * remove the mount point if nsh_disk_create() made it, and free @d, also on
 * failure (the error names what was left). NULL ok.
 */
int nsh_disk_destroy(struct nsh_disk *d, struct nsh_err *err);

/**
 * Remove the leftovers of crashed runs under @work_dir: every mount of a
 * loop device whose backing image lies under @work_dir is unmounted (lazily
 * when busy), loop devices still attached to such images are detached, and
 * the images are deleted; images named *NSH_DISK_KEEP_SUFFIX are left. Templates that
 * processes no longer alive were formatting (in @work_dir and its subdirectories) are
 * deleted too, without counting. Call it at startup, before
 * creating disks: every such image counts as a leftover. @ret_removed (may be NULL) gets the number
 * of images cleaned up. A missing @work_dir has none. Continues past failures and returns the first
 * one.
 */
int nsh_disk_cleanup_stale(const char *work_dir, unsigned *ret_removed, struct nsh_err *err);

#endif
