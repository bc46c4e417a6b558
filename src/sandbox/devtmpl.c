/*
 * The template of a sandbox's /dev, made once per process.
 *
 * Building /dev in every sandbox took a tmpfs, six bind mounts of host
 * device nodes and five symlinks: the largest step of the child's set-up
 * (0.13 ms of bench/sandbox_spawn's phases) and eight more mounts to take
 * down at its end. Instead the supervisor makes one detached tmpfs with
 * the device nodes (mknod, as root of the host), the symlinks and the two
 * mount points (pts, shm), and makes its superblock read-only; each
 * sandbox's child clones that mount (open_tree) onto its /dev and mounts
 * its own devpts and /dev/shm on top.
 *
 * The superblock is shared by every sandbox, so it must never be
 * writable from one: it belongs to the initial user namespace and is
 * read-only, and only that namespace's root could reconfigure it. A
 * sandbox's root can at most change flags of its own clone (which the
 * seccomp filter denies anyway); the superblock stays read-only.
 *
 * Without the privilege (a daemon that is not root) or on kernels that
 * cannot clone a detached mount, the child builds /dev itself as before.
 */
#include "sandbox/sandbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"

#include "core/banned.h"

#ifndef FSOPEN_CLOEXEC
# define FSOPEN_CLOEXEC		  0x00000001
# define FSPICK_CLOEXEC		  0x00000001
# define FSPICK_EMPTY_PATH	  0x00000008
# define FSMOUNT_CLOEXEC	  0x00000001
# define FSCONFIG_SET_FLAG	  0
# define FSCONFIG_SET_STRING	  1
# define FSCONFIG_CMD_CREATE	  6
# define FSCONFIG_CMD_RECONFIGURE 7
#endif
#ifndef MOUNT_ATTR_RDONLY
# define MOUNT_ATTR_RDONLY 0x00000001
# define MOUNT_ATTR_NOSUID 0x00000002
# define MOUNT_ATTR_NOEXEC 0x00000008
#endif

const char *const nsh_sandbox_dev_nodes[NSH_SANDBOX_DEV_NODES] = {
	"null", "zero", "full", "random", "urandom", "tty",
};
const char *const nsh_sandbox_dev_links[NSH_SANDBOX_DEV_LINKS][2] = {
	{"ptmx", "pts/ptmx"},	       {"fd", "/proc/self/fd"},	      {"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
};

static int config(int fs, unsigned cmd, const char *key, const char *value)
{
	return (int)syscall(SYS_fsconfig, fs, cmd, key, value, 0);
}

static int set_ro(int mnt)
{
	struct {
		uint64_t attr_set, attr_clr, propagation, userns_fd;
	} attr = {MOUNT_ATTR_RDONLY, 0, 0, 0};

	return (int)syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr));
}

/* Fill the detached tmpfs @mnt: nodes as the host has them, links, mount points. */
static int populate(int mnt)
{
	for (size_t i = 0; i < NSH_SANDBOX_DEV_NODES; i++) {
		char host[32];
		struct stat st;

		snprintf(host, sizeof(host), "/dev/%s", nsh_sandbox_dev_nodes[i]);
		if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode))
			return -ENOENT; /* a host without it: let the child say so */
		if (mknodat(mnt, nsh_sandbox_dev_nodes[i], S_IFCHR | 0666, st.st_rdev) < 0 ||
		    fchmodat(mnt, nsh_sandbox_dev_nodes[i], 0666, 0) < 0)
			return -errno;
	}
	for (size_t i = 0; i < NSH_SANDBOX_DEV_LINKS; i++)
		if (symlinkat(nsh_sandbox_dev_links[i][1], mnt, nsh_sandbox_dev_links[i][0]) < 0)
			return -errno;
	if (mkdirat(mnt, "pts", 0755) < 0 || mkdirat(mnt, "shm", 0755) < 0)
		return -errno;
	return 0;
}

/* The detached, read-only template mount, or a negative errno. */
static int make(void)
{
	int fs, mnt = -1, pick = -1, rc;

	fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (config(fs, FSCONFIG_SET_STRING, "source", "tmpfs") < 0 ||
	    config(fs, FSCONFIG_SET_STRING, "size", "64k") < 0 ||
	    config(fs, FSCONFIG_SET_STRING, "mode", "755") < 0 ||
	    config(fs, FSCONFIG_CMD_CREATE, NULL, NULL) < 0) {
		rc = -errno;
		goto out;
	}
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (mnt < 0) {
		rc = -errno;
		goto out;
	}
	rc = populate(mnt);
	if (rc)
		goto out;
	/* Then read-only for good: the superblock, and the mount that clones copy. */
	pick = (int)syscall(SYS_fspick, mnt, "", FSPICK_CLOEXEC | FSPICK_EMPTY_PATH);
	if (pick < 0 || config(pick, FSCONFIG_SET_FLAG, "ro", NULL) < 0 ||
	    config(pick, FSCONFIG_CMD_RECONFIGURE, NULL, NULL) < 0 || set_ro(mnt) < 0)
		rc = -errno;
out:
	close(fs);
	if (pick >= 0)
		close(pick);
	if (rc && mnt >= 0)
		close(mnt);
	return rc ? rc : mnt;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int tmpl = -1;
static bool off; /* the test hook */

static void make_once(void)
{
	int rc = make();

	if (rc >= 0)
		tmpl = rc;
	else if (rc != -EPERM)
		nsh_log_debug("sandbox: no /dev template (%s); each sandbox builds its own",
			      strerror(-rc));
}

int nsh_sandbox_dev_template(void)
{
	if (__atomic_load_n(&off, __ATOMIC_RELAXED))
		return -1;
	pthread_once(&once, make_once);
	return tmpl;
}

void nsh_sandbox_dev_template_off(bool value)
{
	__atomic_store_n(&off, value, __ATOMIC_RELAXED);
}
