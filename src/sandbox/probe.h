/*
 * What this host can do for the sandbox: namespaces, seccomp, Landlock,
 * the new mount API, cgroups, loop devices. The daemon probes once at
 * startup, records the result, and refuses a task whose policy needs a
 * guarantee the host cannot give (see "guarantees" in
 * nsh_sandbox_caps_to_json()).
 *
 * Thread rules: a struct nsh_sandbox_caps is plain data; the functions
 * keep no state.
 */
#ifndef NSH_SANDBOX_PROBE_H
#define NSH_SANDBOX_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct nsh_err;

struct nsh_sandbox_caps {
	bool root;		/* euid 0 */
	bool userns;		/* unshare(CLONE_NEWUSER) + writing uid and gid maps works */
	bool pidns;		/* unshare(CLONE_NEWPID) works (inside a new userns if not root) */
	bool netns;		/* same for CLONE_NEWNET */
	bool mntns;		/* same for CLONE_NEWNS */
	bool ipcns;		/* same for CLONE_NEWIPC */
	bool utsns;		/* same for CLONE_NEWUTS */
	bool cgroupns;		/* same for CLONE_NEWCGROUP */
	bool seccomp;		/* the nsh_seccomp_build(0) filter loads */
	int landlock_abi;	/* nsh_landlock_abi(); 0: none */
	bool new_mount_api;	/* open_tree + mount_setattr available */
	bool idmapped_mounts;	/* MOUNT_ATTR_IDMAP works on a bind of a dir under /tmp (root) */
	bool cgroup2;		/* a cgroup2 file system is mounted */
	char cgroup2_path[256]; /* where (first mount of its root), from /proc/self/mountinfo */
	char cgroup2_controllers[256]; /* cgroup.controllers at that root, trimmed; may be empty */
	bool cgroup2_writable;	       /* we can mkdir (and rmdir) a child cgroup at that root */
	bool cgroup2_freeze;	       /* that child had cgroup.freeze (Linux 5.2) */
	bool cgroup2_kill;	       /* that child had cgroup.kill (Linux 5.14) */
	bool cgroup1_memory;	       /* v1 memory hierarchy mounted, child cgroup can be made */
	bool cgroup1_pids;	       /* same for pids */
	bool cgroup1_cpu;	       /* same for cpu */
	bool cgroup1_freezer;	       /* same for freezer */
	bool loop;		       /* /dev/loop-control hands out a loop device we can open */
	bool mkfs_ext4;		       /* an executable mkfs.ext4 is in PATH */
	bool legacy_tiocsti;	 /* TIOCSTI works: legacy_tiocsti is 1, or the sysctl is absent */
	int max_user_namespaces; /* user.max_user_namespaces; -1 when unreadable */
};

/**
 * Probe the host into *@ret. Checks that change process state (creating
 * namespaces, loading a seccomp filter, idmapping a mount) run in forked
 * children that only make async-signal-safe calls, so the caller's
 * process is untouched and may be multi-threaded. The other checks read
 * /proc and /sys, create and remove a "nsh-probe-<pid>" child cgroup at
 * the root of each writable hierarchy and an empty directory under /tmp,
 * and open a free loop device. No program is executed. Takes a few
 * milliseconds per child.
 *
 * A capability that is missing is reported as false, never as an error.
 * Errors: NSH_EIO when no child can be forked or waited for (for example
 * with SIGCHLD ignored). *@ret is written only on success.
 *
 * Thread-safe, but children of the calling process must not be reaped by
 * others meanwhile (no waitpid(-1) elsewhere). Not async-signal-safe.
 */
int nsh_sandbox_probe(struct nsh_sandbox_caps *ret, struct nsh_err *err);

/**
 * The capabilities as a new JSON object (a new reference the caller
 * releases with json_decref()): one member per field of @c, plus
 * "guarantees", an object whose members isolation, filesystem, syscalls,
 * memory_limit, pids_limit, cpu_limit, pause, kill, disk_quota and
 * network_none each say "enforced (how)", "weaker (how)" or
 * "unavailable (why)". NULL only when jansson runs out of memory.
 * Thread-safe.
 */
json_t *nsh_sandbox_caps_to_json(const struct nsh_sandbox_caps *c);

/**
 * Print the same as nsh_sandbox_caps_to_json() as a human-readable table
 * to @out, one "name  value" line per field, then the guarantees.
 * Thread-safe (as stdio is).
 */
void nsh_sandbox_caps_print(const struct nsh_sandbox_caps *c, FILE *out);

#endif
