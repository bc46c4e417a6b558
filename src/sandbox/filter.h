/*
 * The sandbox's two in-process filters: a seccomp BPF program (syscalls)
 * and a Landlock ruleset (file-system paths, TCP ports, IPC scopes).
 *
 * Both are applied in a freshly cloned child between fork and exec, where
 * only async-signal-safe calls are allowed (the supervisor that forked may
 * be multi-threaded). So the seccomp filter is compiled once, in the
 * parent, with allocation; loading it and building + applying the Landlock
 * ruleset are raw system calls that never allocate. The functions that run
 * in the child return 0 or a negative errno value, not an nsh_err.
 *
 * The seccomp filter (x86_64 only) allows by default and denies what a
 * build or an agent's shell never needs but an escape or a host attack
 * does. Everything below fails with EPERM unless noted:
 *   - other processes' memory and fds: ptrace (see NSH_SECCOMP_ALLOW_PTRACE),
 *     process_vm_readv/writev, pidfd_getfd;
 *   - kernel keyrings: keyctl, add_key, request_key;
 *   - large kernel attack surface: bpf, perf_event_open, userfaultfd,
 *     io_uring_setup/enter/register (io_uring also bypasses socket rules);
 *   - mounts: mount, umount2, pivot_root, fsopen, fsconfig, fsmount,
 *     fspick, open_tree, open_tree_attr, move_mount, mount_setattr;
 *   - namespaces: setns, and unshare/clone with any CLONE_NEW* flag (not
 *     only CLONE_NEWUSER: the task already has its own namespaces, nested
 *     containers cannot work without mount anyway, and a fresh net or ipc
 *     namespace owned by the task's userns only adds kernel surface);
 *   - file handles: open_by_handle_at, name_to_handle_at;
 *   - host administration: kexec_load, kexec_file_load, init_module,
 *     finit_module, delete_module, acct, swapon, swapoff, syslog;
 *   - personality() with anything but PER_LINUX (0) or the 0xffffffff
 *     query (ADDR_NO_RANDOMIZE and friends weaken the task's ASLR);
 *   - terminal injection: ioctl TIOCSTI and TIOCLINUX, compared on the low
 *     32 bits of the request so that "TIOCSTI | 1 << 32" is caught too
 *     (CVE-2019-10063);
 *   - socket(AF_VSOCK) (the hypervisor's host side), also compared on the
 *     low 32 bits of the family;
 *   - clone3 fails with ENOSYS: its flags live in memory and cannot be
 *     filtered, and libc then falls back to clone, which can;
 *   - any other ABI (i386 int 0x80, x32) kills the whole process.
 * Everything else is allowed, so git, make, cc, node/npm and python run
 * unchanged (threads and posix_spawn fall back from clone3 to clone).
 *
 * Thread rules: a compiled struct nsh_seccomp is immutable; it may be
 * shared by threads and loaded by any number of children.
 */
#ifndef NSH_SANDBOX_FILTER_H
#define NSH_SANDBOX_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct nsh_err;

/* ---- seccomp ---- */

/*
 * Optional extra for tasks without network access: socket() fails with
 * EPERM for every address family except AF_UNIX (AF_INET, AF_INET6,
 * AF_PACKET, AF_NETLINK, ...). Defence in depth next to an empty network
 * namespace; it also hides the host's netlink interfaces.
 */
#define NSH_SECCOMP_NO_NET (1u << 0)
/*
 * Optional relaxation: allow ptrace() (debuggers, strace, and the leak
 * checker of AddressSanitizer builds, which attaches to its own threads).
 * Only safe when the task has its own pid namespace, so that the only
 * traceable processes are its own.
 */
#define NSH_SECCOMP_ALLOW_PTRACE (1u << 1)

/*
 * The filter in two parts, for a process that must still mount between
 * them (a sandbox's init prepared ahead, src/sandbox/sandbox.c): PART_BASE
 * is the whole filter but the mount API (mount, umount2, pivot_root,
 * fsopen, fsconfig, fsmount, fspick, open_tree, open_tree_attr,
 * move_mount, mount_setattr), PART_MOUNT is only those (and the
 * foreign-ABI kill). Both loaded, in either order, deny what the whole
 * filter denies: seccomp runs every filter of a task and takes the
 * strictest answer. PART_BASE combines with the flags above; PART_MOUNT
 * takes none.
 */
#define NSH_SECCOMP_PART_BASE  (1u << 2)
#define NSH_SECCOMP_PART_MOUNT (1u << 3)

/* A compiled BPF program, ready for seccomp(SECCOMP_SET_MODE_FILTER). */
struct nsh_seccomp;

/**
 * Compile the filter described at the top of this file, plus what @flags
 * (NSH_SECCOMP_*) add, into a new BPF program that the caller frees with
 * nsh_seccomp_free(). Allocates; call it once, in the parent.
 *
 * Errors: NSH_EINVAL for unknown @flags bits or when the host is not
 * x86_64; NSH_EIO (or the code for the libseccomp errno) when libseccomp
 * fails to build or export the program. *@ret is set only on success.
 * Thread-safe. Not async-signal-safe.
 */
int nsh_seccomp_build(unsigned flags, struct nsh_seccomp **ret, struct nsh_err *err);

/**
 * Install @f on the calling thread: prctl(PR_SET_NO_NEW_PRIVS, 1) (needed
 * by an unprivileged caller; it cannot be undone), then
 * seccomp(SECCOMP_SET_MODE_FILTER, 0, prog). The filter is inherited by
 * every child and survives execve. No synchronisation with other threads
 * (TSYNC): call it in a single-threaded child. @f stays the caller's.
 *
 * Returns 0, -EINVAL for a NULL @f, or -errno of the failing call.
 * Async-signal-safe (two raw system calls, no allocation).
 */
int nsh_seccomp_load(const struct nsh_seccomp *f);

/** Number of BPF instructions in @f (for logs and tests). Thread-safe. */
size_t nsh_seccomp_len(const struct nsh_seccomp *f);

/** Free a program from nsh_seccomp_build(). NULL is fine. */
void nsh_seccomp_free(struct nsh_seccomp *f);

/* ---- Landlock ---- */

/*
 * Bits of the @scopes argument of nsh_landlock_apply(): no connect() to
 * abstract unix sockets made outside the sandbox (ABI 6); no signals to
 * processes outside it (ABI 6); no TCP bind() or connect() at all (ABI 4).
 */
#define NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX (1u << 0)
#define NSH_LANDLOCK_SCOPE_SIGNAL	 (1u << 1)
#define NSH_LANDLOCK_NO_TCP		 (1u << 2)

/* The newest Landlock ABI whose rights nsh_landlock_apply() knows. */
#define NSH_LANDLOCK_ABI_KNOWN 7

/* One path rule of a Landlock ruleset. */
struct nsh_landlock_path {
	const char *path; /* file or directory; the rule covers everything beneath */
	bool writable;	  /* also create, write, remove, rename, truncate, device ioctls */
	bool exec;	  /* also execute files (and map them executable) */
};

/**
 * The Landlock ABI version of the running kernel, 0 when Landlock is not
 * compiled in or is disabled (landlock_create_ruleset(NULL, 0,
 * LANDLOCK_CREATE_RULESET_VERSION)). Thread-safe and async-signal-safe.
 */
int nsh_landlock_abi(void);

/**
 * Restrict the calling thread (and, from then on, its children) to the
 * @n rules at @paths, using the rights that Landlock ABI @abi knows
 * (pass nsh_landlock_abi(), queried in the parent; ABIs newer than
 * NSH_LANDLOCK_ABI_KNOWN are used as that one).
 *
 * Every file-system right the ABI has is handled, i.e. denied unless a
 * rule grants it beneath a listed path:
 *   - every path: read files and list directories, plus execute when
 *     @exec is set;
 *   - writable paths: also write, truncate (ABI 3), remove, create
 *     directories, regular files, sockets, fifos and symlinks, link and
 *     rename across directories (refer, ABI 2) and ioctl on devices
 *     (ABI 5);
 *   - never, on any path: creating character or block devices.
 * A rule on a file (not a directory) gets only the file rights of the
 * above. A path that does not exist is skipped: it gets no rule, which
 * can only deny more. Unlisted paths are inaccessible; device ioctls
 * (terminal settings on a freshly opened /dev/tty, say) need the device's
 * directory listed as writable.
 *
 * @scopes (NSH_LANDLOCK_*): NSH_LANDLOCK_NO_TCP denies every TCP bind and
 * connect (needs ABI 4; UDP is never covered by Landlock). Without it, TCP
 * is not restricted. The two scopes (ABI 6) deny connecting to abstract
 * unix sockets and sending signals to processes outside this Landlock
 * domain (created here, or by an ancestor's later nested domain).
 *
 * Sets PR_SET_NO_NEW_PRIVS first (required by landlock_restrict_self()
 * without CAP_SYS_ADMIN; it cannot be undone). Not synchronised with other
 * threads: call it in a single-threaded child.
 *
 * Returns 0, or: -EINVAL for unknown @scopes bits or a NULL path;
 * -EOPNOTSUPP when @abi is below 1, or below what a requested scope needs
 * (nothing is restricted then, so the caller can decide to refuse the
 * task); -errno of the failing open or Landlock call otherwise.
 * Async-signal-safe (raw system calls, no allocation).
 */
int nsh_landlock_apply(const struct nsh_landlock_path *paths, size_t n, unsigned scopes, int abi);

/*
 * nsh_landlock_apply() in three steps, for a process that builds its
 * ruleset ahead and must still mount before it restricts itself (a
 * sandbox's init prepared by the pool): nsh_landlock_ruleset() makes the
 * ruleset for @scopes and @abi and returns its descriptor (O_CLOEXEC) or
 * -errno, with the errors of nsh_landlock_apply(); nsh_landlock_add()
 * adds the @n rules at @paths (0 or -errno); nsh_landlock_restrict()
 * restricts the calling thread as nsh_landlock_apply() does and closes
 * @ruleset, also on failure (0 or -errno). A rule holds the file or
 * directory its path named when it was added: a file system mounted on
 * that path later is not beneath it, so add a mount point's rule once
 * the mount is there. Async-signal-safe.
 */
int nsh_landlock_ruleset(unsigned scopes, int abi);
int nsh_landlock_add(int ruleset, const struct nsh_landlock_path *paths, size_t n, int abi);
int nsh_landlock_restrict(int ruleset);

#endif
