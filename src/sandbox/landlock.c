/*
 * Landlock rulesets built with raw system calls, so that they can be
 * applied between fork and exec. Debian 12's <linux/landlock.h> stops at
 * ABI 2 and its struct landlock_ruleset_attr lacks the net and scope
 * fields, so this file declares the kernel ABI itself: the constants under
 * #ifndef, the structures under names of its own.
 *
 * What each ABI added: 1 the file-system rights up to MAKE_SYM; 2 REFER;
 * 3 TRUNCATE; 4 TCP bind/connect rules; 5 IOCTL_DEV; 6 the abstract-unix
 * and signal scopes; 7 audit-log flags (no new rights).
 */
#include "sandbox/filter.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/banned.h"

#ifndef __NR_landlock_create_ruleset
# define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
# define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
# define __NR_landlock_restrict_self 446
#endif

#ifndef LANDLOCK_CREATE_RULESET_VERSION
# define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif

/* enum landlock_rule_type */
#define NSH_LANDLOCK_RULE_PATH_BENEATH 1
#define NSH_LANDLOCK_RULE_NET_PORT     2

#ifndef LANDLOCK_ACCESS_FS_EXECUTE
# define LANDLOCK_ACCESS_FS_EXECUTE	(1ULL << 0)
# define LANDLOCK_ACCESS_FS_WRITE_FILE	(1ULL << 1)
# define LANDLOCK_ACCESS_FS_READ_FILE	(1ULL << 2)
# define LANDLOCK_ACCESS_FS_READ_DIR	(1ULL << 3)
# define LANDLOCK_ACCESS_FS_REMOVE_DIR	(1ULL << 4)
# define LANDLOCK_ACCESS_FS_REMOVE_FILE (1ULL << 5)
# define LANDLOCK_ACCESS_FS_MAKE_CHAR	(1ULL << 6)
# define LANDLOCK_ACCESS_FS_MAKE_DIR	(1ULL << 7)
# define LANDLOCK_ACCESS_FS_MAKE_REG	(1ULL << 8)
# define LANDLOCK_ACCESS_FS_MAKE_SOCK	(1ULL << 9)
# define LANDLOCK_ACCESS_FS_MAKE_FIFO	(1ULL << 10)
# define LANDLOCK_ACCESS_FS_MAKE_BLOCK	(1ULL << 11)
# define LANDLOCK_ACCESS_FS_MAKE_SYM	(1ULL << 12)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
# define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
# define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
# define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
# define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
# define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
# define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
# define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix. */
struct nsh_ll_ruleset_attr {
	uint64_t handled_access_fs;  /* ABI 1 */
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;	     /* ABI 6 */
};

/* struct landlock_path_beneath_attr */
struct nsh_ll_path_beneath_attr {
	uint64_t allowed_access; /* LANDLOCK_ACCESS_FS_* */
	int32_t parent_fd;	 /* O_PATH descriptor of the file or directory */
} __attribute__((packed));

/* The file-system rights of ABI 1. */
#define FS_ABI1                                                                                  \
 (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |    \
  LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
  LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |     \
  LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |  \
  LANDLOCK_ACCESS_FS_MAKE_SYM)

/* Rights that make sense on a file; a rule on a file must not have others. */
#define FS_FILE_RIGHTS                                                                        \
 (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
  LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define FS_READ	 (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_NEVER (LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK)

#define KNOWN_SCOPES \
 (NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX | NSH_LANDLOCK_SCOPE_SIGNAL | NSH_LANDLOCK_NO_TCP)

/* The file-system rights Landlock ABI @abi (1..7) knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = FS_ABI1;

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

int nsh_landlock_abi(void)
{
	long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return v < 0 ? 0 : (int)v;
}

/* Add the rule for @p to @ruleset; 0, or -errno. A missing path is skipped. */
static int add_path(int ruleset, const struct nsh_landlock_path *p, uint64_t handled)
{
	struct nsh_ll_path_beneath_attr attr;
	struct stat st;
	uint64_t allow = FS_READ;
	int fd, ret = 0;

	if (!p->path)
		return -EINVAL;
	fd = open(p->path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (p->exec)
		allow |= LANDLOCK_ACCESS_FS_EXECUTE;
	if (p->writable)
		allow |= handled & ~(FS_NEVER | LANDLOCK_ACCESS_FS_EXECUTE);
	if (!S_ISDIR(st.st_mode))
		allow &= FS_FILE_RIGHTS;
	attr.allowed_access = allow & handled;
	attr.parent_fd = fd;
	if (syscall(__NR_landlock_add_rule, ruleset, NSH_LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

int nsh_landlock_ruleset(unsigned scopes, int abi)
{
	struct nsh_ll_ruleset_attr attr = {0};
	size_t attr_size = sizeof(attr.handled_access_fs);
	int ruleset;

	if (scopes & ~KNOWN_SCOPES)
		return -EINVAL;
	if (abi > NSH_LANDLOCK_ABI_KNOWN)
		abi = NSH_LANDLOCK_ABI_KNOWN;
	if (abi < 1 || (abi < 4 && (scopes & NSH_LANDLOCK_NO_TCP)) ||
	    (abi < 6 && (scopes & (NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX | NSH_LANDLOCK_SCOPE_SIGNAL))))
		return -EOPNOTSUPP;

	attr.handled_access_fs = fs_rights(abi);
	if (abi >= 4) {
		attr_size = offsetof(struct nsh_ll_ruleset_attr, scoped);
		/* No port rules are ever added: handled means denied. */
		if (scopes & NSH_LANDLOCK_NO_TCP)
			attr.handled_access_net =
				LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
	}
	if (abi >= 6) {
		attr_size = sizeof(attr);
		if (scopes & NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX)
			attr.scoped |= LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
		if (scopes & NSH_LANDLOCK_SCOPE_SIGNAL)
			attr.scoped |= LANDLOCK_SCOPE_SIGNAL;
	}
	ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
	return ruleset < 0 ? -errno : ruleset;
}

int nsh_landlock_add(int ruleset, const struct nsh_landlock_path *paths, size_t n, int abi)
{
	if (n && !paths)
		return -EINVAL;
	if (abi > NSH_LANDLOCK_ABI_KNOWN)
		abi = NSH_LANDLOCK_ABI_KNOWN;
	if (abi < 1)
		return -EOPNOTSUPP;
	for (size_t i = 0; i < n; i++) {
		int ret = add_path(ruleset, &paths[i], fs_rights(abi));

		if (ret < 0)
			return ret;
	}
	return 0;
}

int nsh_landlock_restrict(int ruleset)
{
	int ret = 0;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		ret = -errno;
	close(ruleset);
	return ret;
}

int nsh_landlock_apply(const struct nsh_landlock_path *paths, size_t n, unsigned scopes, int abi)
{
	int ruleset, ret;

	if ((scopes & ~KNOWN_SCOPES) || (n && !paths))
		return -EINVAL;
	ruleset = nsh_landlock_ruleset(scopes, abi);
	if (ruleset < 0)
		return ruleset;
	ret = nsh_landlock_add(ruleset, paths, n, abi);
	if (ret < 0) {
		close(ruleset);
		return ret;
	}
	return nsh_landlock_restrict(ruleset);
}
