/*
 * The supervisor side of a sandbox: clone the child into its namespaces,
 * map its ids, hand it the workspace, wait until its init serves, then run
 * commands through the control channel and enforce time limits. Limits,
 * pause and kill go through the cgroup; the quota through the disk image.
 */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fault.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/time.h"
#include "sandbox/cgroup.h"
#include "sandbox/disk.h"
#include "sandbox/filter.h"
#include "sandbox/netns.h"
#include "sandbox/sandbox_int.h"

#include "core/banned.h"

#ifndef MOUNT_ATTR_IDMAP
# define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef MOUNT_ATTR_NOSUID
# define MOUNT_ATTR_NOSUID 0x00000002
# define MOUNT_ATTR_NODEV  0x00000004
#endif
#ifndef OPEN_TREE_CLONE
# define OPEN_TREE_CLONE 1
#endif
#ifndef CLONE_INTO_CGROUP
# define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* How long the child may take to build the sandbox. */
#define SETUP_TIMEOUT_MS 10000
/* How long output is drained after a command ended. */
#define DRAIN_MS 250
/* /tmp size when no memory limit bounds it. */
#define TMP_DEFAULT (1ULL << 30)

struct nsh_sandbox {
	pid_t pid;		 /* host pid of the init */
	int pidfd;		 /* pidfd of the init */
	int ctl;		 /* our end of the control socket, -1 once the sandbox is gone */
	char *state_dir;	 /* our files */
	char *workspace;	 /* host workspace */
	struct nsh_cgroup *cg;	 /* NULL when no cgroup could be made and none was needed */
	struct nsh_disk *disk;	 /* quota image, or NULL */
	int64_t deadline;	 /* monotonic ms when the sandbox's life ends; 0: never */
	struct nsh_proxy *proxy; /* serving our listener, or NULL */
	uint64_t proxy_id;	 /* our listener's id in @proxy */
	enum nsh_net_level net_level; /* for the proxy variables of commands */
	int net_fd; /* its network namespace when from the pool (given back at destroy), or -1 */
	struct nsh_buf guarantees; /* how each limit is enforced, for reports */
	bool paused;		   /* frozen by nsh_sandbox_pause() */
	bool dead; /* killed or its init exited; atomic: kill may come from another thread */
	struct nsh_sandbox_timing *timing; /* the policy's, or NULL */
	bool pooled;			   /* from the pool: its destroy goes to the reaper */
	bool reuse_cg;	  /* reaped by the pool: its cgroups may serve the next one prepared */
	int64_t ready_by; /* FINISH sent, READY not read yet: monotonic ms it is due by; else 0 */
	struct nsh_sandbox *next; /* in the pool's reap queue */
};

static const char *const phase_names[NSH_PHASE_NR] = {
	[NSH_PHASE_CGROUP] = "cgroups",
	[NSH_PHASE_CLONE] = "clone3 (namespaces)",
	[NSH_PHASE_IDMAP] = "uid/gid maps",
	[NSH_PHASE_WORKSPACE] = "idmapped workspace",
	[NSH_PHASE_WAKE] = "GO to child",
	[NSH_PHASE_C_SYSDIRS] = "child: clone system dirs (early)",
	[NSH_PHASE_C_IDS] = "child: become root",
	[NSH_PHASE_C_ROOT] = "child: root, /workspace",
	[NSH_PHASE_C_TMP_PROC] = "child: /tmp, /proc",
	[NSH_PHASE_C_DEV] = "child: /dev",
	[NSH_PHASE_C_PIVOT] = "child: pivot_root",
	[NSH_PHASE_C_NET] = "child: hostname, network",
	[NSH_PHASE_C_HARDEN] = "child: fds, setsid, prctl",
	[NSH_PHASE_C_LANDLOCK] = "child: Landlock",
	[NSH_PHASE_C_SECCOMP] = "child: seccomp",
	[NSH_PHASE_READY] = "ready message",
	[NSH_PHASE_EXEC_START] = "exec: start command",
	[NSH_PHASE_EXEC_RUN] = "exec: run and report",
	[NSH_PHASE_KILL] = "destroy: kill, reap",
	[NSH_PHASE_CGROUP_RM] = "destroy: cgroups",
};

const char *nsh_sandbox_phase_name(int phase)
{
	if (phase < 0 || phase >= NSH_PHASE_NR)
		return "unknown";
	return phase_names[phase];
}

_Static_assert(NSH_MARK_SECCOMP - NSH_MARK_IDS == NSH_PHASE_C_SECCOMP - NSH_PHASE_C_IDS,
	       "the child's later marks end its later phases in order");

/* With timing on, charge the time since *@t to @phase and restart *@t. */
static void lap(struct nsh_sandbox *sb, int phase, int64_t *t)
{
	int64_t now;

	if (!sb->timing)
		return;
	now = nsh_time_mono_ns();
	sb->timing->ns[phase] = now - *t;
	*t = now;
}

/*
 * The child's marks (enum nsh_sandbox_mark) into its phases. @go: when GO
 * was sent; @now: when READY arrived. The early phase ran while the
 * supervisor wrote the maps, so it overlaps NSH_PHASE_IDMAP/WORKSPACE.
 */
static void child_phases(struct nsh_sandbox *sb, const int64_t *marks, int64_t go, int64_t now)
{
	int64_t *ns = sb->timing ? sb->timing->ns : NULL;

	if (!ns)
		return;
	ns[NSH_PHASE_C_SYSDIRS] = marks[NSH_MARK_SYSDIRS] - marks[NSH_MARK_BEGIN];
	/* 0 when the child was already waiting (its clock is ours: no time namespace) */
	ns[NSH_PHASE_WAKE] = marks[NSH_MARK_START] > go ? marks[NSH_MARK_START] - go : 0;
	for (int i = NSH_MARK_IDS; i <= NSH_MARK_SECCOMP; i++)
		ns[NSH_PHASE_C_IDS + (i - NSH_MARK_IDS)] = marks[i] - marks[i - 1];
	ns[NSH_PHASE_READY] = now - marks[NSH_MARK_SECCOMP];
}

/*
 * The seccomp filter is compiled once per process and only read afterwards:
 * whole for a sandbox built on the caller's path, and in its two parts for
 * the pool (see NSH_SECCOMP_PART_BASE): the base loaded ahead, the mount
 * part at FINISH, which then loads 20 instructions instead of 240.
 */
static pthread_once_t filter_once = PTHREAD_ONCE_INIT;
static struct nsh_seccomp *filter, *filter_base, *filter_mount;
static struct nsh_err filter_err;

static void build_filter(void)
{
	if (nsh_seccomp_build(0, &filter, &filter_err))
		filter = NULL;
	if (filter && nsh_seccomp_build(NSH_SECCOMP_PART_BASE, &filter_base, &filter_err))
		filter_base = NULL;
	if (filter_base && nsh_seccomp_build(NSH_SECCOMP_PART_MOUNT, &filter_mount, &filter_err))
		filter_mount = NULL;
}

static int write_proc(pid_t pid, const char *file, const char *text, struct nsh_err *err)
{
	char path[64];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return nsh_err_sys(err, errno, "cannot open '%s'", path);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rc = nsh_err_sys(err, errno, "cannot write '%s'", path);
	close(fd);
	return rc;
}

/* The name of the scheduler autogroup of @path ("/proc/N/autogroup") into @out; false if none. */
static bool autogroup_of(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, out, size - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	out[n] = '\0';
	out[strcspn(out, " \n")] = '\0';
	return out[0] == '/';
}

/*
 * The scheduler autogroup of the sandbox (its init's session, made by
 * setsid() before PREPARED or READY) at NSH_SANDBOX_NICE, so that on a
 * busy machine the orchestrator's own work (git, the store) goes before
 * the commands: each session is its own group, weighed equally with the
 * orchestrator's whatever the nice values inside. Written from here: the
 * kernel lets a caller without CAP_SYS_ADMIN change it at most once per
 * 100 ms. Only when the init has a group of its own, that is not ours
 * (which is the kernel's default group, no autogroup, when no process
 * above us called setsid()); best effort (no autogroups, or a kernel that
 * refuses).
 */
static void yield_cpu(pid_t pid)
{
	char path[64], ours[64], theirs[64];

	snprintf(path, sizeof(path), "/proc/%d/autogroup", (int)pid);
	if (!autogroup_of(path, theirs, sizeof(theirs)))
		return;
	if (!autogroup_of("/proc/self/autogroup", ours, sizeof(ours)) || strcmp(ours, theirs))
		write_proc(pid, "autogroup", NSH_SANDBOX_NICE_STR, NULL);
}

/*
 * Map the child's ids: as root, root inside is NSH_SANDBOX_ID_BASE outside
 * (never host 0); otherwise root inside is the caller.
 */
static int map_ids(pid_t pid, struct nsh_err *err)
{
	char map[64];
	int rc;

	if (geteuid() == 0) {
		snprintf(map, sizeof(map), "0 %u %u\n", NSH_SANDBOX_ID_BASE, NSH_SANDBOX_ID_COUNT);
		rc = write_proc(pid, "uid_map", map, err);
		if (!rc)
			rc = write_proc(pid, "gid_map", map, err);
		return rc;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)geteuid());
	rc = write_proc(pid, "uid_map", map, err);
	if (!rc)
		rc = write_proc(pid, "setgroups", "deny", err);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)getegid());
	if (!rc)
		rc = write_proc(pid, "gid_map", map, err);
	return rc;
}

/*
 * As root, hand the command's pipes (@fds: stdin, stdout, stderr) to the
 * sandbox's root: a pipe belongs to whoever made it, here host root,
 * which is no one inside, and opening /dev/stdout (/proc/self/fd/1) opens
 * the pipe anew, checked against its owner. Without this, "echo x
 * >/dev/stderr" in a command failed with EACCES. Best effort: a pipe left
 * as it was only keeps that failure.
 */
static void give_pipes(const int fds[3])
{
	if (geteuid() != 0)
		return; /* the sandbox's root is our user already */
	for (int i = 0; i < 3; i++)
		if (fchown(fds[i], NSH_SANDBOX_ID_BASE, NSH_SANDBOX_ID_BASE) < 0)
			nsh_log_debug("sandbox: cannot give a pipe to the sandbox: %s",
				      strerror(errno));
}

/*
 * As root, the workspace is bound through an idmapped mount that shows the
 * host's owners shifted into the sandbox's range: files owned by host root
 * belong to the sandbox's root, and what it writes is owned by host root.
 * Returns a detached mount for the child to attach, or -1 when not root.
 */
static int workspace_tree(const struct nsh_sandbox *sb, int *ret_fd, struct nsh_err *err)
{
	struct {
		uint64_t attr_set, attr_clr, propagation, userns_fd;
	} attr = {0};
	char path[64];
	int ns, fd;

	*ret_fd = -1;
	if (geteuid() != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)sb->pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return nsh_err_sys(err, errno, "cannot open '%s'", path);
	fd = (int)syscall(SYS_open_tree, AT_FDCWD, sb->workspace, OPEN_TREE_CLONE | O_CLOEXEC);
	if (fd < 0) {
		close(ns);
		return nsh_err_sys(err, errno, "cannot clone the mount of '%s'", sb->workspace);
	}
	attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	attr.userns_fd = (uint64_t)ns;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		int e = errno;

		close(ns);
		close(fd);
		return nsh_err_sys(err, e,
				   "the workspace '%s' cannot be id-mapped (needed to run as root "
				   "without host root inside)",
				   sb->workspace);
	}
	close(ns);
	*ret_fd = fd;
	return 0;
}

/*
 * Wait for one control message of the child, up to @timeout_ms. A file
 * descriptor that came with it goes to @ret_fd (may be NULL: it is closed).
 * Extra bytes after the message go to @extra when there are exactly
 * @extra_len of them (*@ret_extra true), else they are dropped.
 */
static int recv_msg_ext(int ctl, struct nsh_ctl_msg *m, int64_t timeout_ms, int *ret_fd,
			void *extra, size_t extra_len, bool *ret_extra, struct nsh_err *err)
{
	struct pollfd pf = {.fd = ctl, .events = POLLIN};
	char buf[sizeof(*m) + sizeof(int64_t) * NSH_MARK_NR];
	int fd;
	ssize_t n;
	int rc;

	do
		rc = poll(&pf, 1, (int)timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return nsh_err_set(err, NSH_ETIMEOUT, "the sandbox did not answer in time");
	n = nsh_ctl_recv(ctl, buf, sizeof(buf), &fd, 1);
	if (ret_fd && n > 0)
		*ret_fd = fd;
	else if (fd >= 0)
		close(fd);
	if (n == 0)
		return nsh_err_set(err, NSH_EFAIL, "the sandbox ended unexpectedly");
	if (n < 0)
		return nsh_err_sys(err, (int)-n, "cannot read from the sandbox");
	memcpy(m, buf, sizeof(*m));
	if (ret_extra) {
		*ret_extra = extra_len <= sizeof(buf) - sizeof(*m) &&
			     (size_t)n == sizeof(*m) + extra_len;
		if (*ret_extra)
			memcpy(extra, buf + sizeof(*m), extra_len);
	}
	return 0;
}

static int recv_msg(int ctl, struct nsh_ctl_msg *m, int64_t timeout_ms, struct nsh_err *err)
{
	return recv_msg_ext(ctl, m, timeout_ms, NULL, NULL, 0, NULL, err);
}

static int check_policy(const struct nsh_sandbox_policy *pol, struct nsh_err *err)
{
	if (!pol->workspace || !nsh_fs_is_dir(pol->workspace))
		return nsh_err_set(err, NSH_EINVAL, "workspace '%s' is not a directory",
				   pol->workspace ? pol->workspace : "");
	if (!pol->state_dir || !*pol->state_dir)
		return nsh_err_set(err, NSH_EINVAL, "the sandbox needs a state directory");
	if (pol->network != NSH_NET_NONE && (!pol->proxy || !pol->net))
		return nsh_err_set(err, NSH_EINVAL, "network level '%s' needs an egress proxy",
				   nsh_net_level_name(pol->network));
	if (pol->cpus < 0 || pol->cpus > 1024)
		return nsh_err_set(err, NSH_EINVAL, "invalid CPU limit %g", pol->cpus);
	return 0;
}

/*
 * Keep the network namespace pool's filler off (@on) or let it go, around
 * the steps that its work would stall (see netns.h).
 */
static void pool_hold(bool on)
{
	struct nsh_netns_pool *pool = nsh_netns_pool_default();

	if (pool)
		nsh_netns_pool_hold(pool, on);
}

/* Back to the network namespace @home after a clone in a pooled one; closes @home. */
static void net_return(int home)
{
	if (home < 0)
		return;
	if (setns(home, CLONE_NEWNET) < 0) {
		/* Staying would put this thread's sockets into a sandbox's network. */
		nsh_log_error("cannot return to the network namespace: %s", strerror(errno));
		abort();
	}
	close(home);
}

/*
 * Clone the child into its namespaces. With @net_fd (a namespace of the
 * pool, see netns.h) this thread joins that network namespace for the
 * clone, so the child is born in it, and comes back right after; else the
 * clone makes a new one. The thread also joins the sandbox's v1 cgroups
 * for the clone (see nsh_cgroup_enter_v1()).
 */
static pid_t clone_child(struct nsh_sandbox *sb, const struct nsh_sandbox_setup *setup, int net_fd,
			 struct nsh_err *err)
{
	struct clone_args args = {0};
	int cgfd = sb->cg ? nsh_cgroup_v2_fd(sb->cg) : -1, home = -1;
	struct nsh_err left = NSH_ERR_INIT;
	sigset_t all, old;
	pid_t pid = -1;
	int e;

	args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
		     CLONE_NEWCGROUP | CLONE_PIDFD;
	if (net_fd < 0)
		args.flags |= CLONE_NEWNET;
	args.pidfd = (uint64_t)(uintptr_t)&sb->pidfd;
	args.exit_signal = SIGCHLD;
	if (cgfd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgfd;
	}
	/* No new scheduler autogroup at the init's setsid() (see cgroup.h). */
	nsh_cgroup_settle_thread(NULL);
	/* Born in the v1 cgroups: no cgroup.procs write afterwards (see cgroup.h). */
	if (sb->cg && nsh_cgroup_enter_v1(sb->cg, err) < 0)
		return -1;
	/* No signal handler may run (and open sockets) while in the sandbox's network. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (net_fd >= 0) {
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home < 0 || setns(net_fd, CLONE_NEWNET) < 0) {
			e = errno;
			if (home >= 0)
				close(home);
			home = -1;
			goto out;
		}
	}
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL); /* the child starts as before */
		nsh_sandbox_child(setup);
	}
	e = errno;
	net_return(home);
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (sb->cg && nsh_cgroup_leave_v1(sb->cg, &left) < 0) {
		/* Staying would put this process among the sandbox's members. */
		nsh_log_error("%s", left.msg);
		abort();
	}
	if (pid < 0)
		nsh_err_sys(err, e, "cannot create the sandbox namespaces");
	return pid;
}

/*
 * The sandbox's cgroups, with its limits. When no hierarchy can enforce a
 * memory or pids limit, the limit falls back to a resource limit of every
 * command (RLIMIT_AS, RLIMIT_NPROC), which is weaker, and says so in
 * nsh_sandbox_guarantees(). A CPU limit has no such fallback and is refused.
 */
static int make_cgroup(struct nsh_sandbox *sb, const struct nsh_sandbox_policy *pol,
		       struct nsh_sandbox_setup *setup, struct nsh_err *err)
{
	const char *base = strrchr(pol->state_dir, '/');
	const char *name = base ? base + 1 : pol->state_dir;
	struct nsh_cgroup_limits lim = {pol->memory, pol->pids, pol->cpus};
	struct nsh_err first = NSH_ERR_INIT;
	int rc;

	rc = nsh_cgroup_create(name, &lim, &sb->cg, &first);
	if (!rc) {
		nsh_buf_addf(&sb->guarantees, "%s", nsh_cgroup_describe(sb->cg));
		return 0;
	}
	sb->cg = NULL;
	if (rc != NSH_EDENIED || pol->cpus) {
		if (err)
			*err = first;
		return rc;
	}
	/* Without the limits: a cgroup still gives pause, kill and usage. */
	if (nsh_cgroup_create(name, NULL, &sb->cg, NULL))
		sb->cg = NULL;
	nsh_buf_addf(&sb->guarantees, "%s", sb->cg ? nsh_cgroup_describe(sb->cg) : "no cgroup");
	if (pol->memory) {
		setup->rlim_as = pol->memory;
		nsh_buf_adds(&sb->guarantees, "; memory: rlimit RLIMIT_AS per process (weaker: "
					      "address space, not resident memory)");
	}
	if (pol->pids) {
		setup->rlim_nproc = pol->pids;
		nsh_buf_adds(&sb->guarantees, "; pids: rlimit RLIMIT_NPROC (weaker: counted per "
					      "user, shared by sandboxes)");
	}
	return 0;
}

/* ---- the pool of prepared sandboxes ---- */

/*
 * As root, a thread keeps a few sandboxes prepared: cgroups made (with the
 * memory and pids hierarchies joined, no limit written), cloned into their
 * namespaces, ids mapped, the root file system, /dev and pivot_root done,
 * the init hardened (session, no_new_privs, parent-death signal) and
 * waiting. A create that the pool can serve takes one and finishes it:
 * limits written into its cgroups, the idmapped workspace passed to its
 * init, which mounts it on /workspace, mounts /tmp, sets the host name,
 * applies Landlock and seccomp and answers READY. The same thread reaps
 * destroyed pooled sandboxes (init, cgroups) off the caller's path.
 *
 * Unlike the network namespace pool, the filler does not wait for the
 * sandboxes being set up, started or torn down: held off, it never kept
 * up with creates back to back, and each create that found the pool empty
 * then went down the whole path on its caller's thread, which costs more
 * than a prepare sharing the CPUs (docs/sandbox.md has the figures). Only
 * a flush holds it off.
 */
#define SBX_POOL_DEFAULT 2
#define SBX_POOL_MAX	 4
/*
 * The nice value of the pool's filler thread, and so of each sandbox it
 * prepares until PREPARED: below NSH_SANDBOX_NICE, so that back to back a
 * sandbox in use (its init and command, at NSH_SANDBOX_NICE) gets the CPU
 * before the next one being prepared. bench/sandbox_spawn back to back:
 * 0.90-0.93 ms per spawn at 19 against 1.00-1.20 at 0, in alternate runs.
 */
#define SBX_POOL_NICE 19
/* More destroyed sandboxes than this waiting for the reaper: destroy at once. */
#define SBX_REAP_MAX 16

struct sbx_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;			 /* the filler: taken, queued, hold ended, stop */
	pthread_cond_t changed;			 /* waiters: a sandbox added, a reap done */
	pthread_t thread;			 /* fills and reaps */
	struct nsh_sandbox *ready[SBX_POOL_MAX]; /* prepared, waiting for FINISH */
	size_t nr;				 /* entries of @ready */
	size_t size;				 /* how many to keep */
	struct nsh_sandbox *reap;		 /* killed, to be reaped (linked by ->next) */
	struct nsh_cgroup *spare[SBX_POOL_MAX];	 /* cgroups of reaped ones, for the next */
	size_t nspare;				 /* entries of @spare */
	size_t reaping;				 /* queued or being reaped */
	unsigned flushes;			 /* nsh_sandbox_pool_flush() without its _end() */
	char *hide;				 /* the policies' @hide it was made for, or NULL */
	unsigned seq;				 /* names the cgroups: "pool-<seq>" */
	pid_t owner;				 /* the process whose pool it is */
	bool busy;				 /* a prepare or reap is running outside the lock */
	bool preparing;				 /* a prepare is running */
	bool broken;				 /* a prepare failed; waits for the next take */
	bool stop;				 /* the process is exiting */
	struct nsh_sandbox_pool_stats stats;	 /* for tests and reports */
};

static pthread_mutex_t sbx_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sbx_pool *sbx_pool; /* made by nsh_sandbox_pool_start(); NULL: none */
static bool sbx_pool_off;	  /* not root, turned off, or could not start: never */

static int destroy_now(struct nsh_sandbox *sb, struct nsh_err *err);

/*
 * The pool, when this process started it: a child forked from the owner
 * has a copy of its lists (sandboxes the owner may hand out too) and of
 * its lock (perhaps held by a thread the child does not have).
 */
static struct sbx_pool *own_pool(void)
{
	struct sbx_pool *p = __atomic_load_n(&sbx_pool, __ATOMIC_ACQUIRE);

	return p && p->owner == getpid() ? p : NULL;
}

/*
 * Whether a destroyed sandbox may pass its network namespace and cgroups
 * on to a later one (both checked clean first, see docs/sandbox.md):
 * NSH_SANDBOX_REUSE=0 turns that off for those who want nothing of one
 * sandbox, not even counters, to reach the next. Read at each destroy.
 */
static bool reuse_on(void)
{
	const char *v = getenv("NSH_SANDBOX_REUSE");

	return !v || strcmp(v, "0") != 0;
}

/*
 * How much memory a reaped pooled sandbox's cgroup may still be charged
 * with to be reused (nsh_cgroup_reuse()). A short command leaves kernel
 * objects freed after an RCU grace period: under 1 MiB in a release build
 * here, 1.5-1.8 MiB under ASan. A build leaves its page cache, and its
 * cgroups are removed.
 */
#define SPARE_MEMORY_MAX (4u << 20)

/*
 * Keep the cgroups of a reaped pooled sandbox for the next one prepared:
 * a mkdir and rmdir in each hierarchy saved per sandbox. False when they
 * cannot be reused (the caller removes them).
 */
static bool spare_put(struct nsh_cgroup *cg)
{
	struct sbx_pool *p = own_pool();
	bool kept = false;

	if (!p || !reuse_on() || !nsh_cgroup_current(cg) ||
	    nsh_cgroup_reuse(cg, SPARE_MEMORY_MAX, NULL))
		return false;
	pthread_mutex_lock(&p->lock);
	if (!p->stop && p->nspare < SBX_POOL_MAX) {
		p->spare[p->nspare++] = cg;
		p->stats.cgroups_reused++;
		kept = true;
	}
	pthread_mutex_unlock(&p->lock);
	return kept;
}

/* Cgroups for a sandbox being prepared: a spare one, or NULL. */
static struct nsh_cgroup *spare_take(struct sbx_pool *p)
{
	struct nsh_cgroup *cg = NULL;

	pthread_mutex_lock(&p->lock);
	while (p->nspare && !cg) {
		cg = p->spare[--p->nspare];
		if (!nsh_cgroup_current(cg)) {
			nsh_cgroup_destroy(cg, NULL); /* the layout changed since */
			cg = NULL;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return cg;
}

static struct nsh_sandbox *sb_new(void)
{
	struct nsh_sandbox *sb = nsh_xcalloc(1, sizeof(*sb));

	sb->pid = -1;
	sb->pidfd = -1;
	sb->ctl = -1;
	sb->net_fd = -1;
	nsh_buf_init(&sb->guarantees, 4096);
	return sb;
}

/*
 * Prepare one sandbox on the pool's thread (see above); NULL on failure.
 * Its cgroups are "<pid>.pool-<n>", found by nsh_cgroup_cleanup_stale()
 * once this process is gone.
 */
static struct nsh_sandbox *prepare(struct sbx_pool *p, unsigned seq)
{
	static const struct nsh_cgroup_limits shape = {1, 1, 0};
	struct nsh_sandbox *sb = sb_new();
	struct nsh_sandbox_setup setup = {0};
	struct nsh_ctl_msg go = {.type = NSH_CTL_GO}, m;
	struct nsh_netns_pool *netns = nsh_netns_pool_default();
	struct nsh_err err = NSH_ERR_INIT;
	int sp[2] = {-1, -1}, net_fd = -1, rc;
	char name[32];

	snprintf(name, sizeof(name), "pool-%u", seq);
	sb->state_dir = nsh_xstrdup(name);
	sb->cg = spare_take(p);
	rc = sb->cg ? 0 : nsh_cgroup_create_unset(name, &shape, &sb->cg, &err);
	if (rc) {
		sb->cg = NULL;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		rc = nsh_err_sys(&err, errno, "cannot make the control socket");
		goto out;
	}
	setup.ctl_fd = sp[1];
	setup.hide = p->hide;
	setup.hostname = "nightshift";
	setup.tmp_size = TMP_DEFAULT;
	setup.seccomp = filter_mount;
	setup.seccomp_early = filter_base;
	setup.landlock_abi = nsh_landlock_abi();
	setup.dev_template = nsh_sandbox_dev_template();
	setup.pooled = true;
	if (netns) {
		net_fd = nsh_netns_pool_take(netns, &err);
		if (net_fd < 0) {
			rc = net_fd;
			goto out;
		}
		setup.net_ready = true;
	}
	sb->pid = clone_child(sb, &setup, net_fd, &err);
	sb->net_fd = net_fd; /* given back to the pool at destroy */
	if (sb->pid < 0) {
		rc = NSH_EFAIL;
		goto out;
	}
	close(sp[1]);
	sp[1] = -1;
	sb->ctl = sp[0];
	sp[0] = -1;
	rc = map_ids(sb->pid, &err);
	if (!rc)
		rc = -nsh_ctl_send(sb->ctl, &go, NULL, 0, NULL, 0);
	if (!rc)
		rc = recv_msg(sb->ctl, &m, SETUP_TIMEOUT_MS, &err);
	if (!rc && m.type != NSH_CTL_PREPARED)
		rc = nsh_err_set(&err, NSH_EFAIL, "cannot prepare a sandbox: %s: %s",
				 nsh_sandbox_stage_name(m.stage), strerror(m.errnum));
	if (!rc) {
		/*
		 * Born at the filler's SBX_POOL_NICE, which it could not undo
		 * itself (that takes CAP_SYS_NICE of the host): its commands
		 * run at NSH_SANDBOX_NICE like those of any sandbox.
		 */
		if (setpriority(PRIO_PROCESS, (id_t)sb->pid, NSH_SANDBOX_NICE) < 0)
			rc = nsh_err_sys(&err, errno, "cannot set the priority of a sandbox");
		yield_cpu(sb->pid);
	}
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (rc) {
		nsh_log_warn("sandbox pool: %s", err.msg);
		destroy_now(sb, NULL);
		return NULL;
	}
	sb->pooled = true;
	return sb;
}

/* Reap a killed pooled sandbox: its init, then its cgroups; frees it. */
static void reap_one(struct nsh_sandbox *sb)
{
	struct nsh_err err = NSH_ERR_INIT;

	sb->pooled = false;
	if (destroy_now(sb, &err))
		nsh_log_warn("sandbox pool: %s", err.msg);
}

/*
 * Whether the mount namespace of process @pid has a mount of the file
 * system @dev (its /proc/PID/mountinfo names it by major:minor); true when
 * that cannot be read, so that the caller plays safe.
 */
static bool holds_dev(pid_t pid, dev_t dev)
{
	char path[64];
	struct nsh_buf b = NSH_BUF_INIT;
	bool found = true;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	if (!nsh_fs_read_file(path, &b, 1 << 20, NULL)) {
		found = false;
		for (const char *line = b.buf; line && *line; line = strchr(line, '\n')) {
			unsigned maj, min;

			if (*line == '\n')
				line++;
			if (sscanf(line, "%*u %*u %u:%u", &maj, &min) == 2 && maj == major(dev) &&
			    min == minor(dev)) {
				found = true;
				break;
			}
		}
	}
	nsh_buf_release(&b);
	return found;
}

void nsh_sandbox_pool_flush(const char *mountpoint)
{
	struct sbx_pool *p = own_pool();
	struct nsh_sandbox *ready[SBX_POOL_MAX];
	struct stat st;
	bool known;
	size_t nr = 0, keep = 0;

	if (!p || pthread_equal(pthread_self(), p->thread))
		return;
	known = mountpoint && stat(mountpoint, &st) == 0;
	pthread_mutex_lock(&p->lock);
	p->flushes++;
	while (p->preparing || p->reaping)
		pthread_cond_wait(&p->changed, &p->lock);
	/* a prepared sandbox without a copy of the mount stays (a home outside /var: all of them)
	 */
	for (size_t i = 0; i < p->nr; i++) {
		struct nsh_sandbox *sb = p->ready[i];

		if (known && !holds_dev(sb->pid, st.st_dev))
			p->ready[keep++] = sb;
		else
			ready[nr++] = sb;
	}
	p->nr = keep;
	p->stats.flushed += nr;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < nr; i++)
		reap_one(ready[i]); /* kill, reap, remove its cgroups: its mounts are gone */
}

void nsh_sandbox_pool_flush_end(void)
{
	struct sbx_pool *p = own_pool();

	if (!p || pthread_equal(pthread_self(), p->thread))
		return;
	pthread_mutex_lock(&p->lock);
	if (p->flushes) /* not when the pool started after the flush */
		p->flushes--;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

static void *sbx_pool_run(void *arg)
{
	struct sbx_pool *p = arg;

	/* best effort: without it the pool still works, only slower back to back */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SBX_POOL_NICE) < 0)
		nsh_log_debug("sandbox pool: cannot lower the filler's priority: %s",
			      strerror(errno));
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct nsh_sandbox *sb;
		unsigned seq;

		if (p->reap) {
			sb = p->reap;
			p->reap = sb->next;
			p->busy = true;
			pthread_mutex_unlock(&p->lock);
			sb->reuse_cg = true;
			reap_one(sb);
			pthread_mutex_lock(&p->lock);
			p->busy = false;
			p->reaping--;
			pthread_cond_broadcast(&p->changed);
			continue;
		}
		if (p->nr >= p->size || p->broken || p->flushes) {
			pthread_cond_wait(&p->wake, &p->lock);
			continue;
		}
		seq = p->seq++;
		p->busy = p->preparing = true;
		pthread_mutex_unlock(&p->lock);
		sb = prepare(p, seq);
		pthread_mutex_lock(&p->lock);
		p->busy = p->preparing = false;
		if (!sb) {
			p->broken = true; /* creates take the present path meanwhile */
		} else if (p->stop || p->nr >= p->size) {
			/* only at exit: sbx_pool_exit() reaps what is queued */
			sb->next = p->reap;
			p->reap = sb;
			p->reaping++;
			nsh_sandbox_kill(sb, NULL);
		} else {
			p->ready[p->nr++] = sb;
			p->stats.prepared++;
		}
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/*
 * At exit: no more preparing; the prepared sandboxes and those waiting for
 * the reaper are killed and reaped, their cgroups removed. Sandboxes still
 * in use die with the pool's thread (their parent-death signal) and the
 * closing of their control sockets; their cgroups are left to
 * nsh_sandbox_cleanup_stale().
 */
static void sbx_pool_exit(void)
{
	struct sbx_pool *p = own_pool();
	struct nsh_cgroup *spare[SBX_POOL_MAX];
	struct nsh_sandbox *list;
	size_t nspare;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	while (p->busy)
		pthread_cond_wait(&p->changed, &p->lock);
	for (size_t i = 0; i < p->nr; i++) {
		p->ready[i]->next = p->reap;
		p->reap = p->ready[i];
	}
	p->nr = 0;
	list = p->reap;
	p->reap = NULL;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		struct nsh_sandbox *sb = list;

		list = sb->next;
		reap_one(sb);
	}
	/* no more are added once stop is set */
	pthread_mutex_lock(&p->lock);
	nspare = p->nspare;
	memcpy(spare, p->spare, sizeof(spare));
	p->nspare = 0;
	pthread_mutex_unlock(&p->lock);
	while (nspare)
		nsh_cgroup_destroy(spare[--nspare], NULL);
}

int nsh_sandbox_pool_start(const char *hide, struct nsh_err *err)
{
	struct sbx_pool *p = NULL;
	const char *env = getenv("NSH_SANDBOX_POOL");
	sigset_t all, old;
	long size = SBX_POOL_DEFAULT;
	int e, rc = 0;

	if (env) {
		char *end;

		size = strtol(env, &end, 10);
		if (!*env || *end || size < 0 || size > SBX_POOL_MAX)
			return nsh_err_set(err, NSH_EINVAL,
					   "NSH_SANDBOX_POOL must be 0 to %d, not '%s'",
					   SBX_POOL_MAX, env);
	}
	pthread_once(&filter_once, build_filter);
	pthread_mutex_lock(&sbx_pool_lock);
	if (sbx_pool || sbx_pool_off)
		goto out;
	if (!size || geteuid() != 0 || !filter || !filter_mount) {
		__atomic_store_n(&sbx_pool_off, true, __ATOMIC_RELEASE);
		goto out;
	}
	p = nsh_xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	nsh_time_cond_init_mono(&p->wake);
	pthread_cond_init(&p->changed, NULL);
	p->size = (size_t)size;
	p->hide = hide ? nsh_xstrdup(hide) : NULL;
	p->owner = getpid();
	p->stats.size = p->size;
	/* No signal handler runs on the pool's thread: it may be inside a clone. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&p->thread, NULL, sbx_pool_run, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		free(p->hide);
		free(p);
		__atomic_store_n(&sbx_pool_off, true, __ATOMIC_RELEASE);
		rc = nsh_err_sys(err, e, "cannot start the sandbox pool");
		goto out;
	}
	/* The thread lives as long as the process: it is the parent of the pooled inits. */
	pthread_detach(p->thread);
	atexit(sbx_pool_exit);
	__atomic_store_n(&sbx_pool, p, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&sbx_pool_lock);
	return rc;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * Whether the pool can build what @pol asks for exactly as the present
 * path would: no quota image, no CPU limit (its cgroup
 * hierarchy is chosen at creation), no phase timing (the phases of a
 * pooled sandbox ran ahead), the @hide the pool was made for, and a host
 * name that fits.
 */
static bool pool_serves(const struct nsh_sandbox_policy *pol)
{
	struct sbx_pool *p;

	if (pol->no_pool || pol->disk || pol->cpus > 0 || pol->timing ||
	    (pol->hostname && strlen(pol->hostname) > 64))
		return false;
	p = own_pool();
	return p && same_str(p->hide, pol->hide);
}

/*
 * Take a prepared sandbox and finish it for @pol; NULL when none is ready
 * or finishing failed here (the caller then takes the present path, which
 * reports any error of the policy itself). With network none the init's
 * own part of finishing is not waited for: its READY or FAILED comes
 * first to the first command's supervise().
 */
static struct nsh_sandbox *pool_take(const struct nsh_sandbox_policy *pol)
{
	struct sbx_pool *p = own_pool();
	struct nsh_sandbox *sb = NULL;
	struct nsh_cgroup_limits lim = {pol->memory, pol->pids, 0};
	struct nsh_ctl_msg fin = {.type = NSH_CTL_FINISH}, m;
	struct nsh_ctl_finish f = {0};
	struct nsh_err err = NSH_ERR_INIT;
	int ws_fd = -1, listen_fd = -1, rc;

	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	if (p->nr)
		sb = p->ready[--p->nr];
	if (sb)
		p->stats.taken++;
	else
		p->stats.missed++;
	p->broken = false;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (!sb)
		return NULL;
	pool_hold(true);
	if (!nsh_cgroup_current(sb->cg)) {
		/* made for another cgroup layout: a fresh one may choose differently */
		rc = nsh_err_set(&err, NSH_ECONFLICT, "the cgroup layout changed");
		goto out;
	}
	rc = nsh_cgroup_set_limits(sb->cg, &lim, &err);
	if (rc)
		goto out;
	nsh_buf_addf(&sb->guarantees, "%s", nsh_cgroup_describe(sb->cg));
	free(sb->state_dir);
	sb->state_dir = nsh_xstrdup(pol->state_dir);
	sb->workspace = nsh_xstrdup(pol->workspace);
	rc = workspace_tree(sb, &ws_fd, &err);
	if (rc)
		goto out;
	f.tmp_size = pol->memory ? pol->memory / 2 : TMP_DEFAULT;
	snprintf(f.hostname, sizeof(f.hostname), "%s",
		 pol->hostname ? pol->hostname : "nightshift");
	f.proxy = pol->network != NSH_NET_NONE;
	if (nsh_fault_armed("sandbox.finish") && ws_fd >= 0) {
		/* tests: a FINISH without its workspace, which the init reports as FAILED */
		close(ws_fd);
		ws_fd = -1;
	}
	rc = -nsh_ctl_send(sb->ctl, &fin, &f, sizeof(f), &ws_fd, ws_fd >= 0 ? 1 : 0);
	if (rc) {
		rc = nsh_err_sys(&err, rc, "cannot finish the sandbox");
		goto out;
	}
	if (!f.proxy) {
		/*
		 * Not waiting for READY: the first command's RUN queues behind
		 * FINISH, and the init reads it only once finished (Landlock
		 * and seccomp in place). supervise() takes READY, or FAILED
		 * with the stage that failed, as that command's first word.
		 */
		sb->ready_by = nsh_time_mono_ms() + SETUP_TIMEOUT_MS;
	} else {
		/* the proxy's listener comes with READY, and the proxy serves it now */
		rc = recv_msg_ext(sb->ctl, &m, SETUP_TIMEOUT_MS, &listen_fd, NULL, 0, NULL, &err);
		if (!rc && m.type != NSH_CTL_READY)
			rc = nsh_err_set(&err, NSH_EFAIL, "cannot finish the sandbox: %s: %s",
					 nsh_sandbox_stage_name(m.stage), strerror(m.errnum));
		if (!rc && listen_fd < 0) {
			rc = nsh_err_set(&err, NSH_EFAIL, "the sandbox sent no proxy listener");
		} else if (!rc) {
			rc = nsh_proxy_listen(pol->proxy, listen_fd, pol->net, pol->on_net,
					      pol->on_net_ctx, &sb->proxy_id, &err);
			listen_fd = -1; /* the proxy owns it now, even on failure */
			if (!rc) {
				sb->proxy = pol->proxy;
				sb->net_level = pol->network;
			}
		}
	}
	if (!rc && pol->timeout_ms > 0)
		sb->deadline = nsh_time_mono_ms() + pol->timeout_ms;
out:
	if (ws_fd >= 0)
		close(ws_fd);
	if (listen_fd >= 0)
		close(listen_fd);
	pool_hold(false);
	if (rc) {
		nsh_log_warn("sandbox pool: %s", err.msg);
		sb->pooled = false;
		destroy_now(sb, NULL);
		return NULL;
	}
	nsh_log_debug("sandbox for '%s' taken from the pool", sb->workspace);
	return sb;
}

/* Hand a pooled @sb to the reaper once killed; false when the reaper is full or gone. */
static bool reap_later(struct nsh_sandbox *sb)
{
	struct sbx_pool *p = own_pool();
	bool queued = false;

	if (!p || nsh_sandbox_kill(sb, NULL))
		return false;
	pthread_mutex_lock(&p->lock);
	if (!p->stop && p->reaping < SBX_REAP_MAX) {
		if (sb->ctl >= 0) {
			close(sb->ctl);
			sb->ctl = -1;
		}
		sb->next = p->reap;
		p->reap = sb;
		p->reaping++;
		queued = true;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	return queued;
}

bool nsh_sandbox_pool_stats(struct nsh_sandbox_pool_stats *ret)
{
	struct sbx_pool *p = own_pool();

	memset(ret, 0, sizeof(*ret));
	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	*ret = p->stats;
	ret->ready = p->nr;
	ret->reaping = p->reaping;
	pthread_mutex_unlock(&p->lock);
	return true;
}

bool nsh_sandbox_pool_settle(int timeout_ms)
{
	struct sbx_pool *p = own_pool();
	struct timespec until;
	bool done;

	if (!p)
		return true;
	until = nsh_time_deadline(CLOCK_REALTIME, timeout_ms);
	pthread_mutex_lock(&p->lock);
	while ((p->reaping || (p->nr < p->size && !p->broken)) && !p->stop &&
	       pthread_cond_timedwait(&p->changed, &p->lock, &until) == 0)
		;
	done = !p->reaping && (p->nr >= p->size || p->broken);
	pthread_mutex_unlock(&p->lock);
	return done;
}

int nsh_sandbox_create(const struct nsh_sandbox_policy *pol, struct nsh_sandbox **ret,
		       struct nsh_err *err)
{
	struct nsh_sandbox *sb = NULL;
	struct nsh_sandbox_setup setup = {0};
	struct nsh_ctl_msg go = {.type = NSH_CTL_GO}, m;
	int sp[2] = {-1, -1}, ws_fd = -1, listen_fd = -1, net_fd = -1;
	struct nsh_netns_pool *pool;
	int64_t marks[NSH_MARK_NR] = {0}, t = nsh_time_mono_ns();
	bool have_marks = false;
	int rc;

	rc = check_policy(pol, err);
	if (rc)
		return rc;
	pthread_once(&filter_once, build_filter);
	if (!filter)
		return nsh_err_set(err, NSH_EDENIED, "no seccomp filter: %s", filter_err.msg);
	if (pool_serves(pol)) {
		sb = pool_take(pol);
		if (sb) {
			*ret = sb;
			return 0;
		}
	}
	pool = nsh_netns_pool_default();
	if (pool)
		nsh_netns_pool_hold(pool, true);

	sb = sb_new();
	sb->state_dir = nsh_xstrdup(pol->state_dir);
	sb->workspace = nsh_xstrdup(pol->workspace);
	sb->timing = pol->timing;
	if (sb->timing)
		memset(sb->timing, 0, sizeof(*sb->timing));
	if (pol->disk) {
		char *image = nsh_xasprintf("%s/disk.img", pol->state_dir);

		rc = nsh_disk_create(image, pol->workspace, pol->disk, 0, 0, &sb->disk, err);
		free(image);
		if (rc)
			goto out;
	}
	rc = make_cgroup(sb, pol, &setup, err);
	if (rc)
		goto out;
	lap(sb, NSH_PHASE_CGROUP, &t);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		rc = nsh_err_sys(err, errno, "cannot make the control socket");
		goto out;
	}
	setup.ctl_fd = sp[1];
	setup.hide = pol->hide;
	setup.hostname = pol->hostname ? pol->hostname : "nightshift";
	setup.workspace = pol->workspace;
	setup.tmp_size = pol->memory ? pol->memory / 2 : TMP_DEFAULT;
	setup.seccomp = filter;
	setup.landlock_abi = nsh_landlock_abi();
	setup.dev_template = nsh_sandbox_dev_template();
	setup.proxy_listener = pol->network != NSH_NET_NONE;
	setup.timing = sb->timing != NULL;
	if (pool) {
		net_fd = nsh_netns_pool_take(pool, err);
		if (net_fd < 0) {
			rc = net_fd;
			goto out;
		}
		setup.net_ready = true;
	}

	sb->pid = clone_child(sb, &setup, net_fd, err);
	sb->net_fd = net_fd; /* given back to the pool at destroy */
	net_fd = -1;
	if (sb->pid < 0) {
		rc = err ? err->code : NSH_EFAIL;
		goto out;
	}
	close(sp[1]);
	sp[1] = -1;
	sb->ctl = sp[0];
	sp[0] = -1;
	lap(sb, NSH_PHASE_CLONE, &t);

	rc = map_ids(sb->pid, err);
	if (rc)
		goto out;
	lap(sb, NSH_PHASE_IDMAP, &t);
	rc = workspace_tree(sb, &ws_fd, err);
	if (rc)
		goto out;
	lap(sb, NSH_PHASE_WORKSPACE, &t);
	rc = -nsh_ctl_send(sb->ctl, &go, NULL, 0, &ws_fd, ws_fd >= 0 ? 1 : 0);
	if (rc) {
		rc = nsh_err_sys(err, rc, "cannot start the sandbox");
		goto out;
	}
	rc = recv_msg_ext(sb->ctl, &m, SETUP_TIMEOUT_MS, &listen_fd, marks, sizeof(marks),
			  &have_marks, err);
	if (rc)
		goto out;
	if (have_marks)
		child_phases(sb, marks, t, nsh_time_mono_ns());
	if (m.type == NSH_CTL_FAILED) {
		rc = nsh_err_set(err,
				 m.errnum == EPERM || m.errnum == EACCES ? NSH_EDENIED : NSH_EFAIL,
				 "cannot build the sandbox: %s: %s",
				 nsh_sandbox_stage_name(m.stage), strerror(m.errnum));
		goto out;
	}
	if (m.type != NSH_CTL_READY) {
		rc = nsh_err_set(err, NSH_EFAIL, "the sandbox sent an unexpected message");
		goto out;
	}
	yield_cpu(sb->pid);
	if (setup.proxy_listener) {
		if (listen_fd < 0) {
			rc = nsh_err_set(err, NSH_EFAIL, "the sandbox sent no proxy listener");
			goto out;
		}
		rc = nsh_proxy_listen(pol->proxy, listen_fd, pol->net, pol->on_net, pol->on_net_ctx,
				      &sb->proxy_id, err);
		listen_fd = -1; /* the proxy owns it now, even on failure */
		if (rc)
			goto out;
		sb->proxy = pol->proxy;
		sb->net_level = pol->network;
	}
	if (pol->timeout_ms > 0)
		sb->deadline = nsh_time_mono_ms() + pol->timeout_ms;
out:
	if (net_fd >= 0)
		close(net_fd);
	if (listen_fd >= 0)
		close(listen_fd);
	if (ws_fd >= 0)
		close(ws_fd);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (rc)
		nsh_sandbox_destroy(sb, NULL);
	if (pool)
		nsh_netns_pool_hold(pool, false);
	if (rc)
		return rc;
	*ret = sb;
	return 0;
}

/* ---- commands ---- */

void nsh_sandbox_cmd_init(struct nsh_sandbox_cmd *c)
{
	memset(c, 0, sizeof(*c));
	nsh_strvec_init(&c->argv);
	nsh_strvec_init(&c->env);
	nsh_buf_init(&c->out, SIZE_MAX);
	nsh_buf_init(&c->err, SIZE_MAX);
}

void nsh_sandbox_cmd_release(struct nsh_sandbox_cmd *c)
{
	if (!c)
		return;
	nsh_strvec_release(&c->argv);
	nsh_strvec_release(&c->env);
	nsh_buf_release(&c->out);
	nsh_buf_release(&c->err);
}

/* The environment every command starts from; the command's own entries replace these. */
static const char *const base_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/tmp",
	"TMPDIR=/tmp",
	"USER=root",
	"LOGNAME=root",
	"SHELL=/bin/sh",
	"LANG=C.UTF-8",
	"NIGHTSHIFT_SANDBOX=1",
};

/*
 * What points programs at the egress proxy when the sandbox has network:
 * the usual proxy variables and the npm, yarn, pip and git spellings.
 * Loopback stays direct, for servers the job runs itself.
 */
#define PROXY_URL      "http://127.0.0.1:" NSH_STR_OF(NSH_SANDBOX_PROXY_PORT)
#define NSH_STR_OF(x)  NSH_STR_OF_(x)
#define NSH_STR_OF_(x) #x
static const char *const proxy_env[] = {
	"HTTP_PROXY=" PROXY_URL,
	"HTTPS_PROXY=" PROXY_URL,
	"http_proxy=" PROXY_URL,
	"https_proxy=" PROXY_URL,
	"NO_PROXY=localhost,127.0.0.1,::1",
	"no_proxy=localhost,127.0.0.1,::1",
	"npm_config_proxy=" PROXY_URL,
	"npm_config_https_proxy=" PROXY_URL,
	"YARN_HTTP_PROXY=" PROXY_URL,
	"YARN_HTTPS_PROXY=" PROXY_URL,
	"PIP_PROXY=" PROXY_URL,
	"GIT_HTTP_PROXY=" PROXY_URL,
};

static bool same_key(const char *a, const char *b)
{
	size_t n = strcspn(a, "=");

	return !strncmp(a, b, n) && b[n] == '=';
}

/* Add the entries of @table that @env does not set itself; false when out of room. */
static bool add_defaults(struct nsh_buf *out, const char *const *table, size_t n,
			 const struct nsh_strvec *env, size_t *nenv)
{
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < env->nr; j++)
			replaced |= same_key(table[i], env->v[j]);
		if (replaced)
			continue;
		if (nsh_buf_add(out, table[i], strlen(table[i]) + 1))
			return false;
		(*nenv)++;
	}
	return true;
}

/* Pack cwd, argv and the merged environment into @out, as a RUN request. */
static int pack_run(const struct nsh_sandbox *sb, const struct nsh_sandbox_cmd *c,
		    struct nsh_buf *out, struct nsh_ctl_msg *m, struct nsh_err *err)
{
	const char *cwd = c->cwd ? c->cwd : "/workspace";
	size_t nenv = 0;

	if (!c->argv.nr)
		return nsh_err_set(err, NSH_EINVAL, "no command given");
	for (size_t j = 0; j < c->env.nr; j++)
		if (!strchr(c->env.v[j], '='))
			return nsh_err_set(err, NSH_EINVAL, "environment entry '%s' has no '='",
					   c->env.v[j]);
	nsh_buf_init(out, NSH_CTL_MAX);
	m->type = NSH_CTL_RUN;
	m->nargs = (uint32_t)c->argv.nr;
	if (nsh_buf_add(out, cwd, strlen(cwd) + 1))
		goto big;
	for (size_t i = 0; i < c->argv.nr; i++)
		if (nsh_buf_add(out, c->argv.v[i], strlen(c->argv.v[i]) + 1))
			goto big;
	if (!add_defaults(out, base_env, sizeof(base_env) / sizeof(base_env[0]), &c->env, &nenv))
		goto big;
	if (sb->net_level != NSH_NET_NONE &&
	    !add_defaults(out, proxy_env, sizeof(proxy_env) / sizeof(proxy_env[0]), &c->env, &nenv))
		goto big;
	for (size_t j = 0; j < c->env.nr; j++) {
		if (nsh_buf_add(out, c->env.v[j], strlen(c->env.v[j]) + 1))
			goto big;
		nenv++;
	}
	if (m->nargs > 4096 || nenv > 1024)
		goto big;
	m->nenv = (uint32_t)nenv;
	m->len = (uint32_t)out->len;
	return 0;
big:
	nsh_buf_release(out);
	return nsh_err_set(err, NSH_ETOOBIG, "command line and environment are too large");
}

/* Read what @fd has into @b, keeping at most @max bytes; closes it at EOF. */
static void drain(int *fd, struct nsh_buf *b, size_t max, bool *truncated)
{
	char chunk[16384];
	ssize_t n;

	while ((n = read(*fd, chunk, sizeof(chunk))) > 0) {
		size_t room = b->len < max ? max - b->len : 0;
		size_t take = (size_t)n < room ? (size_t)n : room;

		if (take && nsh_buf_add(b, chunk, take))
			take = 0;
		if (take < (size_t)n)
			*truncated = true;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

static void mark_dead(struct nsh_sandbox *sb)
{
	__atomic_store_n(&sb->dead, true, __ATOMIC_RELEASE);
	if (sb->ctl >= 0) {
		close(sb->ctl);
		sb->ctl = -1;
	}
}

static int64_t min_deadline(int64_t a, int64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/*
 * Supervise one started command: feed stdin, capture output, enforce the
 * command's and the sandbox's deadlines, until init reports its end.
 */
static int supervise(struct nsh_sandbox *sb, struct nsh_sandbox_cmd *c, int in_w, int out_r,
		     int err_r, int64_t start, struct nsh_err *err)
{
	size_t max = c->out_max ? c->out_max : (1u << 20);
	int64_t cmd_deadline = c->timeout_ms > 0 ? start + c->timeout_ms : 0;
	int64_t drain_until = 0;
	size_t in_off = 0;
	bool exited = false, killed = false;
	int rc = 0;

	while (!exited || out_r >= 0 || err_r >= 0) {
		struct pollfd pf[4];
		int64_t now = nsh_time_mono_ms(), deadline;
		int nf = 0, ctl_i = -1, in_i = -1, out_i = -1, err_i = -1, timeout;

		if (sb->ready_by && now >= sb->ready_by) {
			/* a pooled sandbox that never finished (see pool_take()) */
			nsh_sandbox_kill(sb, NULL);
			rc = nsh_err_set(err, NSH_ETIMEOUT, "the sandbox did not answer in time");
			break;
		}
		if (exited) {
			if (!drain_until)
				drain_until = now + DRAIN_MS;
			if (now >= drain_until)
				break;
			deadline = drain_until;
		} else {
			deadline = min_deadline(cmd_deadline, sb->deadline);
			if (deadline && now >= deadline && !killed) {
				struct nsh_ctl_msg k = {.type = NSH_CTL_KILL};

				c->timed_out = true;
				killed = true;
				if (sb->deadline && now >= sb->deadline) {
					/* the sandbox's own life is over */
					nsh_sandbox_kill(sb, NULL);
				} else if (nsh_ctl_send(sb->ctl, &k, NULL, 0, NULL, 0)) {
					nsh_sandbox_kill(sb, NULL);
				}
				deadline = 0;
			}
			deadline = min_deadline(deadline, sb->ready_by);
		}
		timeout = deadline ? (int)(deadline > now ? deadline - now : 0) : -1;
		if (sb->ctl >= 0 && !exited) {
			ctl_i = nf;
			pf[nf++] = (struct pollfd){.fd = sb->ctl, .events = POLLIN};
		}
		if (in_w >= 0) {
			in_i = nf;
			pf[nf++] = (struct pollfd){.fd = in_w, .events = POLLOUT};
		}
		if (out_r >= 0) {
			out_i = nf;
			pf[nf++] = (struct pollfd){.fd = out_r, .events = POLLIN};
		}
		if (err_r >= 0) {
			err_i = nf;
			pf[nf++] = (struct pollfd){.fd = err_r, .events = POLLIN};
		}
		if (!nf)
			break;
		if (poll(pf, (nfds_t)nf, timeout) < 0) {
			if (errno == EINTR)
				continue;
			rc = nsh_err_sys(err, errno, "poll");
			break;
		}
		if (out_i >= 0 && pf[out_i].revents)
			drain(&out_r, &c->out, max, &c->out_truncated);
		if (err_i >= 0 && pf[err_i].revents)
			drain(&err_r, &c->err, max, &c->err_truncated);
		if (in_i >= 0 && pf[in_i].revents) {
			ssize_t n = c->in_len > in_off
					    ? write(in_w, c->in + in_off, c->in_len - in_off)
					    : 0;

			if (n > 0)
				in_off += (size_t)n;
			if (n <= 0 || in_off >= c->in_len) {
				close(in_w);
				in_w = -1;
			}
		}
		if (ctl_i >= 0 && pf[ctl_i].revents) {
			struct nsh_ctl_msg m;
			char buf[sizeof(m) + 16];
			int fd;
			ssize_t n = nsh_ctl_recv(sb->ctl, buf, sizeof(buf), &fd, 1);

			if (fd >= 0)
				close(fd);
			if (n <= 0) {
				/* init is gone: everything in the sandbox died with it */
				mark_dead(sb);
				exited = true;
				c->exit_code = -1;
				c->term_signal = SIGKILL;
				continue;
			}
			memcpy(&m, buf, sizeof(m));
			if (m.type == NSH_CTL_READY) {
				sb->ready_by = 0; /* finished: the command comes next */
			} else if (m.type == NSH_CTL_FAILED) {
				/* finishing a pooled sandbox failed; its init is gone */
				mark_dead(sb);
				rc = nsh_err_set(
					err,
					m.errnum == EPERM || m.errnum == EACCES ? NSH_EDENIED
										: NSH_EFAIL,
					"cannot build the sandbox: %s: %s",
					nsh_sandbox_stage_name(m.stage), strerror(m.errnum));
				break;
			} else if (m.type == NSH_CTL_EXECFAIL) {
				rc = nsh_err_set(err,
						 m.errnum == ENOENT ? NSH_ENOTFOUND : NSH_EFAIL,
						 "cannot run '%s' in the sandbox: %s", c->argv.v[0],
						 strerror(m.errnum));
				break;
			} else if (m.type == NSH_CTL_EXITED) {
				exited = true;
				c->ru = m.ru;
				if (WIFEXITED(m.status)) {
					c->exit_code = WEXITSTATUS(m.status);
				} else {
					c->exit_code = -1;
					c->term_signal = WTERMSIG(m.status);
				}
			}
		}
	}
	if (in_w >= 0)
		close(in_w);
	if (out_r >= 0)
		close(out_r);
	if (err_r >= 0)
		close(err_r);
	c->elapsed_ms = nsh_time_mono_ms() - start;
	return rc;
}

int nsh_sandbox_exec(struct nsh_sandbox *sb, struct nsh_sandbox_cmd *c, struct nsh_err *err)
{
	struct nsh_ctl_msg m = {0}, reply;
	struct nsh_buf strings;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	int fds[3];
	int64_t start = nsh_time_mono_ms(), t = nsh_time_mono_ns();
	int rc;

	c->exit_code = -1;
	c->term_signal = 0;
	c->timed_out = c->out_truncated = c->err_truncated = false;
	memset(&c->ru, 0, sizeof(c->ru));
	nsh_buf_reset(&c->out);
	nsh_buf_reset(&c->err);
	if (__atomic_load_n(&sb->dead, __ATOMIC_ACQUIRE) || sb->ctl < 0)
		return nsh_err_set(err, NSH_ECONFLICT, "the sandbox is no longer running");
	if (sb->deadline && start >= sb->deadline) {
		nsh_sandbox_kill(sb, NULL);
		return nsh_err_set(err, NSH_ETIMEOUT, "the sandbox's time limit has passed");
	}
	rc = pack_run(sb, c, &strings, &m, err);
	if (rc)
		return rc;
	if (c->inherit_stdio) {
		fds[0] = STDIN_FILENO;
		fds[1] = STDOUT_FILENO;
		fds[2] = STDERR_FILENO;
	} else {
		if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC | O_NONBLOCK) ||
		    pipe2(errp, O_CLOEXEC | O_NONBLOCK)) {
			rc = nsh_err_sys(err, errno, "cannot make pipes");
			goto fail;
		}
		fcntl(in[1], F_SETFL, O_NONBLOCK);
		fds[0] = in[0];
		fds[1] = out[1];
		fds[2] = errp[1];
		give_pipes(fds);
	}
	pool_hold(true);
	rc = -nsh_ctl_send(sb->ctl, &m, strings.buf, strings.len, fds, 3);
	if (rc && sb->ready_by) {
		/*
		 * A pooled sandbox whose finishing failed may have said so and
		 * closed its end before the command went: its word is the cause.
		 */
		struct nsh_ctl_msg last;
		struct nsh_err lerr = NSH_ERR_INIT;

		if (!recv_msg(sb->ctl, &last, 0, &lerr) && last.type == NSH_CTL_FAILED) {
			pool_hold(false);
			mark_dead(sb);
			rc = nsh_err_set(err,
					 last.errnum == EPERM || last.errnum == EACCES ? NSH_EDENIED
										       : NSH_EFAIL,
					 "cannot build the sandbox: %s: %s",
					 nsh_sandbox_stage_name(last.stage), strerror(last.errnum));
			goto fail;
		}
		nsh_err_clear(&lerr);
	}
	if (rc) {
		pool_hold(false);
		rc = nsh_err_sys(err, rc, "cannot send the command to the sandbox");
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		int *p = i == 0 ? &in[0] : &out[1];

		if (*p >= 0) {
			close(*p);
			*p = -1;
		}
	}
	if (errp[1] >= 0) {
		close(errp[1]);
		errp[1] = -1;
	}
	/*
	 * Only a timed sandbox says STARTED (to time the start); else the
	 * next word is EXITED, or EXECFAIL when the command could not
	 * start, and supervise() takes either.
	 */
	if (sb->timing) {
		rc = recv_msg(sb->ctl, &reply, SETUP_TIMEOUT_MS, err);
		if (!rc && reply.type == NSH_CTL_EXECFAIL)
			rc = nsh_err_set(err, reply.errnum == ENOENT ? NSH_ENOTFOUND : NSH_EFAIL,
					 "cannot run '%s' in the sandbox: %s", c->argv.v[0],
					 strerror(reply.errnum));
		else if (!rc && reply.type != NSH_CTL_STARTED)
			rc = nsh_err_set(err, NSH_EFAIL, "the sandbox sent an unexpected message");
	}
	pool_hold(false);
	if (rc)
		goto fail;
	if (c->inherit_stdio || !c->in || !c->in_len) {
		if (in[1] >= 0)
			close(in[1]);
		in[1] = -1;
	}
	nsh_buf_release(&strings);
	lap(sb, NSH_PHASE_EXEC_START, &t);
	rc = supervise(sb, c, in[1], out[0], errp[0], start, err);
	lap(sb, NSH_PHASE_EXEC_RUN, &t);
	return rc;
fail:
	nsh_buf_release(&strings);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return rc;
}

/* ---- lifecycle ---- */

static int need_cgroup(struct nsh_sandbox *sb, const char *what, struct nsh_err *err)
{
	if (!sb->cg)
		return nsh_err_set(err, NSH_EDENIED, "cannot %s: this sandbox has no cgroup", what);
	if (__atomic_load_n(&sb->dead, __ATOMIC_ACQUIRE))
		return nsh_err_set(err, NSH_ECONFLICT, "the sandbox is no longer running");
	return 0;
}

int nsh_sandbox_pause(struct nsh_sandbox *sb, struct nsh_err *err)
{
	int rc = need_cgroup(sb, "pause", err);

	if (!rc)
		rc = nsh_cgroup_freeze(sb->cg, true, err);
	if (!rc)
		sb->paused = true;
	return rc;
}

int nsh_sandbox_resume(struct nsh_sandbox *sb, struct nsh_err *err)
{
	int rc = need_cgroup(sb, "resume", err);

	if (!rc)
		rc = nsh_cgroup_freeze(sb->cg, false, err);
	if (!rc)
		sb->paused = false;
	return rc;
}

int nsh_sandbox_kill(struct nsh_sandbox *sb, struct nsh_err *err)
{
	/*
	 * Killing pid 1 of a pid namespace kills every process in it, and no
	 * process can leave the namespace (setns and unshare are filtered), so
	 * this is all of the sandbox. A v1 freezer holds even SIGKILL back, so
	 * a paused sandbox goes through the cgroup, which thaws it first.
	 */
	if (sb->paused && sb->cg) {
		int rc = nsh_cgroup_kill(sb->cg, err);

		if (rc)
			return rc;
	}
	if (sb->pidfd >= 0 && syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0) < 0 &&
	    errno != ESRCH)
		return nsh_err_sys(err, errno, "cannot kill the sandbox");
	/*
	 * The control socket stays open: a command being supervised in another
	 * thread sees its end of stream and reports the kill.
	 */
	__atomic_store_n(&sb->dead, true, __ATOMIC_RELEASE);
	return 0;
}

/* Bytes used under @dir, counted without following symlinks. */
static uint64_t tree_bytes(int dirfd)
{
	uint64_t total = 0;
	DIR *d = fdopendir(dirfd);
	struct dirent *e;

	if (!d) {
		close(dirfd);
		return 0;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		total += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				total += tree_bytes(sub);
		}
	}
	closedir(d);
	return total;
}

int nsh_sandbox_usage(struct nsh_sandbox *sb, struct nsh_sandbox_usage *ret, struct nsh_err *err)
{
	struct nsh_cgroup_usage u = {0};
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (sb->cg) {
		rc = nsh_cgroup_usage(sb->cg, &u, err);
		if (rc)
			return rc;
		ret->memory_peak = u.memory_peak;
		ret->cpu_usec = u.cpu_usec;
		ret->oom_kills = u.oom_kills;
		ret->pids_max_hits = u.pids_max_hits;
	}
	if (sb->disk) {
		uint64_t size;

		return nsh_disk_usage(sb->disk, &ret->disk_used, &size, err);
	}
	{
		int fd = open(sb->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return nsh_err_sys(err, errno, "cannot read '%s'", sb->workspace);
		ret->disk_used = tree_bytes(fd);
	}
	return 0;
}

const char *nsh_sandbox_guarantees(const struct nsh_sandbox *sb)
{
	return sb->guarantees.buf;
}

pid_t nsh_sandbox_init_pid(const struct nsh_sandbox *sb)
{
	return sb->pid;
}

/* Kill, reap and remove everything of @sb now, and free it. */
static int destroy_now(struct nsh_sandbox *sb, struct nsh_err *err)
{
	int64_t t = nsh_time_mono_ns();
	int rc = 0, r;

	pool_hold(true);
	if (sb->pid > 0) {
		nsh_sandbox_kill(sb, NULL);
		while (waitpid(sb->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	lap(sb, NSH_PHASE_KILL, &t);
	if (sb->proxy) {
		r = nsh_proxy_unlisten(sb->proxy, sb->proxy_id, err);
		rc = rc ? rc : r;
	}
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->ctl >= 0)
		close(sb->ctl);
	if (sb->net_fd >= 0) {
		struct nsh_netns_pool *np = reuse_on() ? nsh_netns_pool_default() : NULL;

		/*
		 * No process is left in it once the init is reaped (see
		 * nsh_sandbox_kill()); the proxy's listener, if any, is closed
		 * by now, and a connection the proxy still holds there is a
		 * socket the pool's check finds.
		 */
		if (np)
			nsh_netns_pool_give(np, sb->net_fd);
		else
			close(sb->net_fd);
	}
	if (sb->cg && !(sb->reuse_cg && !rc && spare_put(sb->cg))) {
		r = nsh_cgroup_destroy(sb->cg, err);
		rc = rc ? rc : r;
	}
	lap(sb, NSH_PHASE_CGROUP_RM, &t);
	if (sb->disk) {
		r = nsh_disk_destroy(sb->disk, rc ? NULL : err);
		rc = rc ? rc : r;
	}
	pool_hold(false);
	free(sb->state_dir);
	free(sb->workspace);
	nsh_buf_release(&sb->guarantees);
	free(sb);
	return rc;
}

int nsh_sandbox_destroy(struct nsh_sandbox *sb, struct nsh_err *err)
{
	int rc = 0, r;

	if (!sb)
		return 0;
	if (sb->pooled && !sb->disk) {
		/* the listener goes first, here: the proxy is the caller's */
		if (sb->proxy) {
			rc = nsh_proxy_unlisten(sb->proxy, sb->proxy_id, err);
			sb->proxy = NULL;
		}
		if (reap_later(sb))
			return rc;
	}
	r = destroy_now(sb, rc ? NULL : err);
	return rc ? rc : r;
}

int nsh_sandbox_cleanup_stale(const char *work_dir, struct nsh_err *err)
{
	unsigned n = 0;
	int rc = nsh_cgroup_cleanup_stale(&n, err);

	if (!rc && work_dir)
		rc = nsh_disk_cleanup_stale(work_dir, &n, err);
	return rc;
}
