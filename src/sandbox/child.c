/*
 * The child side of a sandbox: from the clone to a serving init.
 *
 * Runs in a process cloned by a possibly multi-threaded supervisor, so it
 * never allocates: every string it needs was prepared before the clone,
 * and paths are built in stack buffers of known size. Each step that fails
 * reports its stage and errno to the supervisor and exits.
 *
 * Steps: take the host system directories it needs (while the supervisor
 * writes the id maps); wait for the maps (GO); take the workspace; become
 * root of the new user namespace; build the root file system on a tmpfs
 * (host system directories read-only, /workspace, /tmp, /proc, /dev);
 * pivot_root into it; set the host name and bring up loopback (unless the
 * network namespace came ready from the pool); a new session,
 * no_new_privs, Landlock, seccomp; then serve commands as pid 1.
 */
#include "sandbox/sandbox_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/filter.h"
#include "sandbox/sandbox.h"

#include "core/banned.h"

#ifndef MOUNT_ATTR_RDONLY
# define MOUNT_ATTR_RDONLY 0x00000001
# define MOUNT_ATTR_NOSUID 0x00000002
# define MOUNT_ATTR_NODEV  0x00000004
#endif
#ifndef OPEN_TREE_CLONE
# define OPEN_TREE_CLONE   1
# define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
# define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef AT_RECURSIVE
# define AT_RECURSIVE 0x8000
#endif

struct mount_attr_arg {
	uint64_t attr_set;    /* MOUNT_ATTR_* to set */
	uint64_t attr_clr;    /* MOUNT_ATTR_* to clear */
	uint64_t propagation; /* MS_* propagation, 0: unchanged */
	uint64_t userns_fd;   /* for MOUNT_ATTR_IDMAP */
};

static const char *const stage_names[] = {
	[NSH_STAGE_SYNC] = "waiting for the id maps",
	[NSH_STAGE_IDS] = "becoming root of the user namespace",
	[NSH_STAGE_MOUNT_PRIVATE] = "making mounts private",
	[NSH_STAGE_ROOT_TMPFS] = "mounting the root tmpfs",
	[NSH_STAGE_SYSDIRS] = "binding the host system directories",
	[NSH_STAGE_HIDE] = "hiding the nightshift home",
	[NSH_STAGE_WORKSPACE] = "mounting /workspace",
	[NSH_STAGE_GITDIR] = "making /workspace/.git read-only",
	[NSH_STAGE_TMP] = "mounting /tmp",
	[NSH_STAGE_PROC] = "mounting /proc",
	[NSH_STAGE_DEV] = "building /dev",
	[NSH_STAGE_ROOT_RO] = "making the root read-only",
	[NSH_STAGE_PIVOT] = "pivoting into the new root",
	[NSH_STAGE_HOSTNAME] = "setting the host name",
	[NSH_STAGE_LOOPBACK] = "bringing up loopback",
	[NSH_STAGE_PROXY] = "opening the proxy listener",
	[NSH_STAGE_SESSION] = "starting a session",
	[NSH_STAGE_LANDLOCK] = "applying the Landlock ruleset",
	[NSH_STAGE_SECCOMP] = "loading the seccomp filter",
};

const char *nsh_sandbox_stage_name(int stage)
{
	if (stage > 0 && stage < (int)(sizeof(stage_names) / sizeof(stage_names[0])) &&
	    stage_names[stage])
		return stage_names[stage];
	return "setting up";
}

/* When each phase of the set-up ended (enum nsh_sandbox_mark), if asked for. */
static int64_t marks[NSH_MARK_NR];

static void mark(const struct nsh_sandbox_setup *s, int which)
{
	struct timespec ts;

	if (s->timing && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		marks[which] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void __attribute__((noreturn)) fail(int ctl, int stage, int errnum)
{
	struct nsh_ctl_msg m = {.type = NSH_CTL_FAILED, .stage = stage, .errnum = errnum};

	nsh_ctl_send(ctl, &m, NULL, 0, NULL, 0);
	_exit(127);
}

/* "@a/@b" into @out; false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s/%s", a, b);

	return n > 0 && (size_t)n < cap;
}

/* A detached read-only (recursive, nosuid, nodev) copy of the host mount at @src. */
static int clone_ro(const char *src)
{
	struct mount_attr_arg attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	};
	int fd;

	fd = (int)syscall(SYS_open_tree, AT_FDCWD, src,
			  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) <
	    0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/*
 * The workspace's git directory, read-only inside: nightshift runs git in
 * the workspace on the host (add, commit, diff), and git honours the
 * repository's own configuration, where a filter, an fsmonitor or a
 * textconv names a command to run; a .git written from inside would run
 * its commands on the host. A mount point cannot be renamed or removed
 * either, so .git cannot be swapped for a directory of the sandbox's own.
 * Nothing to do when the workspace has no .git directory.
 */
static int protect_git(const char *ws)
{
	struct mount_attr_arg attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	};
	char p[PATH_MAX];
	struct stat st;
	int fd, rc = 0;

	if (!join(p, sizeof(p), ws, ".git"))
		return -ENAMETOOLONG;
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	fd = (int)syscall(SYS_open_tree, AT_FDCWD, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 ||
	    syscall(SYS_move_mount, fd, "", AT_FDCWD, p, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Attach the detached mount @fd at @dst. */
static int attach(int fd, const char *dst)
{
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/*
 * The host's top-level system directories, taken while the credentials
 * still allow any host path: a detached read-only mount for a directory,
 * the target for a symlink (merged-/usr hosts), nothing when absent.
 */
struct sysdirs {
	int fd[NSH_SANDBOX_NSYSDIRS];	      /* detached mount, or -1 */
	char link[NSH_SANDBOX_NSYSDIRS][256]; /* symlink target, or "" */
};

static int take_sysdirs(struct sysdirs *sd)
{
	static const char *const dirs[NSH_SANDBOX_NSYSDIRS] = NSH_SANDBOX_SYSDIRS;
	char host[64];

	for (int i = 0; i < NSH_SANDBOX_NSYSDIRS; i++) {
		struct stat st;
		ssize_t n;

		sd->fd[i] = -1;
		sd->link[i][0] = '\0';
		if (!join(host, sizeof(host), "", dirs[i]))
			return -ENAMETOOLONG;
		if (lstat(host, &st) < 0)
			continue; /* not on this host */
		if (S_ISLNK(st.st_mode)) {
			n = readlink(host, sd->link[i], sizeof(sd->link[i]) - 1);
			if (n < 0)
				return -errno;
			sd->link[i][n] = '\0';
		} else if (S_ISDIR(st.st_mode)) {
			sd->fd[i] = clone_ro(host);
			if (sd->fd[i] < 0)
				return sd->fd[i];
		}
	}
	return 0;
}

/* Put the system directories taken by take_sysdirs() into @root. */
static int mount_sysdirs(const char *root, struct sysdirs *sd)
{
	static const char *const dirs[NSH_SANDBOX_NSYSDIRS] = NSH_SANDBOX_SYSDIRS;
	char dst[PATH_MAX];

	for (int i = 0; i < NSH_SANDBOX_NSYSDIRS; i++) {
		int rc;

		if (!join(dst, sizeof(dst), root, dirs[i]))
			return -ENAMETOOLONG;
		if (sd->link[i][0] && symlink(sd->link[i], dst) < 0)
			return -errno;
		if (sd->fd[i] < 0)
			continue;
		if (mkdir(dst, 0755) < 0)
			return -errno;
		rc = attach(sd->fd[i], dst);
		close(sd->fd[i]);
		sd->fd[i] = -1;
		if (rc)
			return rc;
	}
	return 0;
}

/* Cover @hide (if it is visible under @root) with an empty read-only tmpfs. */
static int hide_path(const char *root, const char *hide)
{
	char dst[PATH_MAX];
	struct stat st;

	if (!hide || !*hide)
		return 0;
	if (!join(dst, sizeof(dst), root, hide[0] == '/' ? hide + 1 : hide))
		return -ENAMETOOLONG;
	if (stat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0; /* not under any bound directory */
	if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
		  "size=4k,mode=000") < 0)
		return -errno;
	return 0;
}

/* Bind one host device node into the new /dev. */
static int bind_dev(const char *dev, const char *name)
{
	char src[64], dst[PATH_MAX];
	int fd;

	if (!join(src, sizeof(src), "/dev", name) || !join(dst, sizeof(dst), dev, name))
		return -ENAMETOOLONG;
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	close(fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return -errno;
	return 0;
}

/* A tmpfs with the device nodes, symlinks and mount points of /dev, at @dev. */
static int fill_dev(const char *dev)
{
	char p[PATH_MAX];
	int rc;

	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755") < 0)
		return -errno;
	for (size_t i = 0; i < NSH_SANDBOX_DEV_NODES; i++) {
		rc = bind_dev(dev, nsh_sandbox_dev_nodes[i]);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < NSH_SANDBOX_DEV_LINKS; i++) {
		if (!join(p, sizeof(p), dev, nsh_sandbox_dev_links[i][0]))
			return -ENAMETOOLONG;
		if (symlink(nsh_sandbox_dev_links[i][1], p) < 0)
			return -errno;
	}
	for (int i = 0; i < 2; i++) {
		if (!join(p, sizeof(p), dev, i ? "shm" : "pts"))
			return -ENAMETOOLONG;
		if (mkdir(p, 0755) < 0)
			return -errno;
	}
	return 0;
}

/*
 * /dev: a clone of the supervisor's template (@tmpl, see
 * nsh_sandbox_dev_template()), read-only, or where there is none or this
 * kernel cannot clone it, a tmpfs filled here; then the sandbox's own
 * devpts and /dev/shm on its mount points.
 */
static int build_dev(const char *root, int tmpl)
{
	char dev[PATH_MAX], p[PATH_MAX];
	int rc = -EINVAL;

	if (!join(dev, sizeof(dev), root, "dev"))
		return -ENAMETOOLONG;
	if (mkdir(dev, 0755) < 0)
		return -errno;
	if (tmpl >= 0) {
		int fd = (int)syscall(SYS_open_tree, tmpl, "",
				      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);

		if (fd < 0 && errno != EINVAL)
			return -errno;
		if (fd >= 0) {
			rc = attach(fd, dev);
			close(fd);
			if (rc)
				return rc;
		}
	}
	if (rc) {
		rc = fill_dev(dev);
		if (rc)
			return rc;
	}
	if (!join(p, sizeof(p), dev, "pts"))
		return -ENAMETOOLONG;
	if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=620") < 0)
		return -errno;
	if (!join(p, sizeof(p), dev, "shm"))
		return -ENAMETOOLONG;
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") < 0)
		return -errno;
	return 0;
}

/*
 * The egress proxy's listener on the sandbox's loopback. It is made here,
 * inside the network namespace, and handed to the supervisor, which serves
 * it: no relay process runs in the sandbox.
 */
static int proxy_listener(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(NSH_SANDBOX_PROXY_PORT)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	if (s < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 128) < 0) {
		int e = errno;

		close(s);
		return -e;
	}
	return s;
}

static int loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			rc = -errno;
	}
	close(s);
	return rc;
}

/*
 * Drop every descriptor inherited from the supervisor (its database, its
 * listeners, its terminal) but the control socket: stdio becomes /dev/null.
 */
static int close_inherited(int ctl, int keep)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return -errno;
	for (int i = 0; i < 3; i++)
		if (i != ctl && dup2(null, i) < 0)
			return -errno;
	/* Close 3.. except @ctl and @keep (-1 for none): walk the gaps between them. */
	{
		int lo = ctl < keep ? ctl : keep, hi = ctl < keep ? keep : ctl;
		int from = 3;

		if (lo < 0)
			lo = hi;
		if (lo > from && syscall(SYS_close_range, from, lo - 1, 0) < 0)
			return -errno;
		if (hi > lo + 1 && syscall(SYS_close_range, lo + 1, hi - 1, 0) < 0)
			return -errno;
		if (syscall(SYS_close_range, hi + 1, ~0U, 0) < 0)
			return -errno;
	}
	return 0;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0) {
			/* best effort */
		}
		close(fd);
	}
}

/*
 * Where the new root is built: a tmpfs mounted over /tmp of the sandbox's
 * private mount namespace (the host's /tmp is untouched), then pivoted to.
 */
#define NEWROOT "/tmp"

#define STEP(st, expr)   \
 do {                    \
  *stage = (st);         \
  if ((rc = (expr)) < 0) \
   return rc;            \
 } while (0)
#define SYS(expr) ((expr) < 0 ? -errno : 0)

/*
 * What needs no id map, done while the supervisor writes the maps: make
 * every mount private and take the host system directories, with the
 * credentials still the supervisor's (host paths that only its user may
 * traverse). Returns 0 or a negative errno with *stage set.
 */
static int setup_early(struct sysdirs *sd, int *stage)
{
	int rc;

	STEP(NSH_STAGE_MOUNT_PRIVATE, SYS(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)));
	STEP(NSH_STAGE_SYSDIRS, take_sysdirs(sd));
	return 0;
}

/*
 * Everything else before serving, once the maps are written (GO); returns
 * 0 or a negative errno with *stage set.
 */
static int setup(const struct nsh_sandbox_setup *s, struct sysdirs *sd, int ws_fd, int *ret_proxy,
		 int *stage)
{
	const char *root = NEWROOT;
	char p[PATH_MAX], tmpopt[64];
	int rc;

	/*
	 * The workspace is taken while the credentials are still the
	 * supervisor's; files in the sandbox's own file systems can only be
	 * made once the ids are those of the user namespace.
	 */
	if (ws_fd < 0 && !s->pooled) {
		*stage = NSH_STAGE_WORKSPACE;
		ws_fd = (int)syscall(SYS_open_tree, AT_FDCWD, s->workspace,
				     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (ws_fd < 0)
			return -errno;
	}
	/*
	 * Raw system calls: glibc's wrappers would first signal every thread
	 * it believes the process has, and after a clone3 from a threaded
	 * supervisor those threads do not exist here; it would wait forever.
	 */
	STEP(NSH_STAGE_IDS, SYS(syscall(SYS_setresgid, 0, 0, 0)));
	STEP(NSH_STAGE_IDS, SYS(syscall(SYS_setgroups, 0, NULL)));
	STEP(NSH_STAGE_IDS, SYS(syscall(SYS_setresuid, 0, 0, 0)));
	mark(s, NSH_MARK_IDS);

	STEP(NSH_STAGE_ROOT_TMPFS,
	     SYS(mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")));
	STEP(NSH_STAGE_SYSDIRS, mount_sysdirs(root, sd));
	STEP(NSH_STAGE_HIDE, hide_path(root, s->hide));

	*stage = NSH_STAGE_WORKSPACE;
	if (!join(p, sizeof(p), root, "workspace"))
		return -ENAMETOOLONG;
	STEP(NSH_STAGE_WORKSPACE, SYS(mkdir(p, 0755)));
	if (!s->pooled) {
		rc = attach(ws_fd, p);
		close(ws_fd);
		if (rc)
			return rc;
		STEP(NSH_STAGE_GITDIR, protect_git(p));
	}
	mark(s, NSH_MARK_ROOT);

	if (!join(p, sizeof(p), root, "tmp"))
		return -ENAMETOOLONG;
	snprintf(tmpopt, sizeof(tmpopt), "size=%llu,mode=1777", (unsigned long long)s->tmp_size);
	STEP(NSH_STAGE_TMP, SYS(mkdir(p, 01777)));
	/* pooled: at the default size, resized at FINISH when the job's differs */
	STEP(NSH_STAGE_TMP, SYS(mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, tmpopt)));

	if (!join(p, sizeof(p), root, "proc"))
		return -ENAMETOOLONG;
	STEP(NSH_STAGE_PROC, SYS(mkdir(p, 0555)));
	STEP(NSH_STAGE_PROC, SYS(mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)));
	mark(s, NSH_MARK_TMP_PROC);
	STEP(NSH_STAGE_DEV, build_dev(root, s->dev_template));
	mark(s, NSH_MARK_DEV);
	STEP(NSH_STAGE_ROOT_RO,
	     SYS(mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		       NULL)));

	STEP(NSH_STAGE_PIVOT, SYS(chdir(root)));
	STEP(NSH_STAGE_PIVOT, SYS(syscall(SYS_pivot_root, ".", ".")));
	STEP(NSH_STAGE_PIVOT, SYS(umount2(".", MNT_DETACH)));
	STEP(NSH_STAGE_PIVOT, SYS(chdir("/")));
	mark(s, NSH_MARK_PIVOT);

	if (!s->pooled)
		STEP(NSH_STAGE_HOSTNAME, SYS(sethostname(s->hostname, strlen(s->hostname))));
	if (!s->net_ready)
		STEP(NSH_STAGE_LOOPBACK, loopback_up());
	if (s->proxy_listener) {
		STEP(NSH_STAGE_PROXY, proxy_listener());
		*ret_proxy = rc;
	}
	mark(s, NSH_MARK_NET);

	STEP(NSH_STAGE_SESSION, close_inherited(s->ctl_fd, *ret_proxy));
	/* Nothing inside may open init's /proc files (its fds, its memory). */
	STEP(NSH_STAGE_SESSION, SYS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)));
	STEP(NSH_STAGE_SESSION, SYS(setsid()));
	/*
	 * The sandbox's work yields to the orchestrator's on a busy machine:
	 * its processes run at NSH_SANDBOX_NICE (the supervisor sets its
	 * session's scheduler autogroup to the same, see yield_cpu()).
	 */
	setpriority(PRIO_PROCESS, 0, NSH_SANDBOX_NICE);
	/* The init dies with the supervisor's thread, taking the namespace along. */
	STEP(NSH_STAGE_SESSION, SYS(prctl(PR_SET_PDEATHSIG, SIGKILL)));
	STEP(NSH_STAGE_SESSION, SYS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
	write_file("/proc/self/oom_score_adj", "-1000");
	mark(s, NSH_MARK_HARDEN);
	return 0;
}

/*
 * A pooled sandbox, taken: /workspace from the supervisor's detached mount
 * @ws_fd, /tmp resized when the job's size is not the one it was made
 * with, the host name and the proxy listener (*@ret_proxy) as @f says.
 * The root is read-only by now; mounting on its directories needs no
 * write. Returns 0 or a negative errno with *stage set.
 */
static int finish(const struct nsh_sandbox_setup *s, const struct nsh_ctl_finish *f, int ws_fd,
		  int *ret_proxy, int *stage)
{
	char tmpopt[64];
	size_t hlen = strnlen(f->hostname, sizeof(f->hostname));
	int rc;

	*stage = NSH_STAGE_WORKSPACE;
	if (ws_fd < 0)
		return -EBADF;
	rc = attach(ws_fd, "/workspace");
	close(ws_fd);
	if (rc)
		return rc;
	STEP(NSH_STAGE_GITDIR, protect_git("/workspace"));
	if (f->tmp_size != s->tmp_size) {
		/* the same file system (its Landlock rule stays), another size */
		snprintf(tmpopt, sizeof(tmpopt), "size=%llu", (unsigned long long)f->tmp_size);
		STEP(NSH_STAGE_TMP, SYS(mount("tmpfs", "/tmp", "tmpfs",
					      MS_REMOUNT | MS_NOSUID | MS_NODEV, tmpopt)));
	}
	if (hlen == sizeof(f->hostname))
		return -ENAMETOOLONG;
	STEP(NSH_STAGE_HOSTNAME, SYS(sethostname(f->hostname, hlen)));
	if (f->proxy) {
		STEP(NSH_STAGE_PROXY, proxy_listener());
		*ret_proxy = rc;
	}
	return 0;
}

/*
 * The Landlock rules of a sandbox: / read and execute, /workspace and /tmp
 * read-write, /dev and /proc read-write without execute; abstract unix
 * sockets and signals scoped to the sandbox.
 */
static const struct nsh_landlock_path ll_workspace = {"/workspace", true, true};
static const struct nsh_landlock_path ll_paths[] = {
	{"/", false, true},
	{"/tmp", true, true},
	{"/dev", true, false},
	{"/proc", true, false},
};
#define LL_SCOPES (NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX | NSH_LANDLOCK_SCOPE_SIGNAL)

/*
 * A pooled sandbox's ruleset, made while it is prepared: every rule but
 * /workspace's, whose file system comes at FINISH (a rule holds the
 * directory it was added on, not what is mounted there later). Sets
 * *@ret_ruleset (-1 without Landlock); 0 or a negative errno with *stage.
 */
static int prepare_landlock(const struct nsh_sandbox_setup *s, int *ret_ruleset, int *stage)
{
	int rc;

	*ret_ruleset = -1;
	if (s->landlock_abi <= 0)
		return 0;
	STEP(NSH_STAGE_LANDLOCK, nsh_landlock_ruleset(LL_SCOPES, s->landlock_abi));
	*ret_ruleset = rc;
	STEP(NSH_STAGE_LANDLOCK,
	     nsh_landlock_add(*ret_ruleset, ll_paths, sizeof(ll_paths) / sizeof(ll_paths[0]),
			      s->landlock_abi));
	return 0;
}

/*
 * Landlock and seccomp, the last steps before serving; 0 or a negative
 * errno. @ruleset: the one prepare_landlock() made (closed here), or -1.
 */
static int lockdown(const struct nsh_sandbox_setup *s, int ruleset, int *stage)
{
	int rc;

	if (ruleset >= 0) {
		*stage = NSH_STAGE_LANDLOCK;
		rc = nsh_landlock_add(ruleset, &ll_workspace, 1, s->landlock_abi);
		if (rc < 0) {
			close(ruleset);
			return rc;
		}
		STEP(NSH_STAGE_LANDLOCK, nsh_landlock_restrict(ruleset));
	} else if (s->landlock_abi > 0) {
		struct nsh_landlock_path paths[sizeof(ll_paths) / sizeof(ll_paths[0]) + 1];

		memcpy(paths, ll_paths, sizeof(ll_paths));
		paths[sizeof(ll_paths) / sizeof(ll_paths[0])] = ll_workspace;
		STEP(NSH_STAGE_LANDLOCK, nsh_landlock_apply(paths, sizeof(paths) / sizeof(paths[0]),
							    LL_SCOPES, s->landlock_abi));
	}
	mark(s, NSH_MARK_LANDLOCK);
	STEP(NSH_STAGE_SECCOMP, nsh_seccomp_load(s->seccomp));
	mark(s, NSH_MARK_SECCOMP);
	return 0;
}

#undef STEP
#undef SYS

/* ---- init: pid 1 of the sandbox ---- */

/* Where the strings of a RUN message are, once checked. */
struct run_req {
	const char *cwd;	    /* working directory */
	const char *argv[4096 + 1]; /* NULL-terminated */
	const char *envp[1024 + 1]; /* NULL-terminated */
};

static bool parse_run(const char *buf, size_t n, struct run_req *r)
{
	const struct nsh_ctl_msg *m = (const void *)buf;
	const char *p = buf + sizeof(*m), *end = buf + n;
	size_t want = (size_t)m->nargs + m->nenv + 1;

	if (n < sizeof(*m) || m->len != n - sizeof(*m) || !m->nargs || m->nargs > 4096 ||
	    m->nenv > 1024 || (m->len && end[-1] != '\0'))
		return false;
	for (size_t i = 0; i < want; i++) {
		const char *s = p;

		if (p >= end)
			return false;
		p += strnlen(p, (size_t)(end - p)) + 1;
		if (i == 0)
			r->cwd = s;
		else if (i <= m->nargs)
			r->argv[i - 1] = s;
		else
			r->envp[i - 1 - m->nargs] = s;
	}
	r->argv[m->nargs] = NULL;
	r->envp[m->nenv] = NULL;
	return p == end;
}

/*
 * Set by a command that could not start. Commands are started with vfork,
 * so this memory is shared until the command execs or exits; a fork would
 * copy the page tables of the whole (nightshift-sized) init each time.
 */
static volatile int start_errno;

static const char *env_get(const char *const *envp, const char *key)
{
	size_t n = strlen(key);

	for (; *envp; envp++)
		if (!strncmp(*envp, key, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/*
 * The command's own process, between vfork and exec: stdio from the
 * request, all other fds closed, a process group of its own, the default
 * signal mask, the working directory, then exec, searching the request's
 * PATH. Only system calls here: the parent's memory is shared.
 *
 * The command stays in the session the init made with setsid(), which has
 * no controlling terminal and holds nothing but the sandbox: a session of
 * its own would add nothing to that, and setsid() puts the caller into a
 * new scheduler autogroup whose first turn on a busy CPU waited up to
 * 10 ms here (bench/sandbox_spawn, "exec: start command").
 */
static void __attribute__((noreturn))
start_command(const struct nsh_sandbox_setup *s, const struct run_req *r, const int fds[3])
{
	const char *const *envp = r->envp;
	const char *name = r->argv[0], *path;
	char full[PATH_MAX];
	sigset_t none;
	int err = ENOENT;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 3; i++) {
		if (dup2(fds[i], i) < 0) {
			err = errno;
			goto fail;
		}
	}
	syscall(SYS_close_range, 3, ~0U, 0);
	if (s->rlim_as) {
		struct rlimit rl = {s->rlim_as, s->rlim_as};

		if (setrlimit(RLIMIT_AS, &rl) < 0) {
			err = errno;
			goto fail;
		}
	}
	if (s->rlim_nproc) {
		struct rlimit rl = {s->rlim_nproc, s->rlim_nproc};

		if (setrlimit(RLIMIT_NPROC, &rl) < 0) {
			err = errno;
			goto fail;
		}
	}
	setpgid(0, 0);
	if (chdir(r->cwd) < 0) {
		err = errno;
		goto fail;
	}
	if (strchr(name, '/')) {
		execve(name, (char *const *)r->argv, (char *const *)envp);
		err = errno;
		goto fail;
	}
	path = env_get(envp, "PATH");
	while (path && *path) {
		size_t dirlen = strcspn(path, ":");
		int e;

		if (dirlen && dirlen + 1 + strlen(name) < sizeof(full)) {
			memcpy(full, path, dirlen);
			full[dirlen] = '/';
			memcpy(full + dirlen + 1, name, strlen(name) + 1);
			execve(full, (char *const *)r->argv, (char *const *)envp);
			e = errno;
			/* Like execvp: a later directory may still have it. */
			if (e != ENOENT && e != ENOTDIR)
				err = e;
		}
		path += dirlen;
		if (*path == ':')
			path++;
	}
fail:
	start_errno = err;
	_exit(127);
}

/*
 * The command's stdout and stderr, as the init received them, held until
 * the command is reaped: the supervisor then sees their end of stream
 * right before EXITED, from the same turn of the init, instead of at the
 * command's exit and again at EXITED, a wake-up later (each a turn of the
 * scheduler on a busy host). Whatever the command left running is killed
 * at its end, so nothing else keeps them open for long.
 */
static int held[2] = {-1, -1};

static void release_held(void)
{
	for (int i = 0; i < 2; i++) {
		if (held[i] >= 0)
			close(held[i]);
		held[i] = -1;
	}
}

/* Start the command of a RUN; on success its stdout and stderr move from @fds to held[]. */
static void handle_run(const struct nsh_sandbox_setup *s, int ctl, const char *buf, size_t n,
		       int fds[3], pid_t *running)
{
	static struct run_req req;
	struct nsh_ctl_msg reply = {.type = NSH_CTL_EXECFAIL};
	pid_t pid;

	if (*running) {
		reply.errnum = EBUSY;
		goto out;
	}
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || !parse_run(buf, n, &req)) {
		reply.errnum = EPROTO;
		goto out;
	}
	start_errno = 0;
	pid = vfork();
	if (pid == 0)
		start_command(s, &req, fds);
	if (pid < 0) {
		reply.errnum = errno;
		goto out;
	}
	/* Here the command has exec'd, or failed and exited. */
	if (start_errno) {
		reply.errnum = start_errno;
		waitpid(pid, NULL, 0);
		goto out;
	}
	*running = pid;
	held[0] = fds[1];
	held[1] = fds[2];
	fds[1] = fds[2] = -1;
	/*
	 * Started: EXITED will say how it ended. STARTED only when the
	 * supervisor times the phases (it marks the start); else it would
	 * be one more wake-up of the supervisor per command for nothing.
	 */
	if (!s->timing)
		return;
	reply.type = NSH_CTL_STARTED;
	reply.pid = pid;
out:
	nsh_ctl_send(ctl, &reply, NULL, 0, NULL, 0);
}

/* Reap every exited child; report the command's end and kill what it left. */
static void reap(int ctl, pid_t *running)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		struct nsh_ctl_msg m = {.type = NSH_CTL_EXITED};

		if (pid != *running)
			continue; /* an orphan re-parented to us */
		*running = 0;
		/* Nothing outlives the command it belongs to. */
		kill(-1, SIGKILL);
		release_held();
		m.pid = pid;
		m.status = status;
		m.ru = ru;
		nsh_ctl_send(ctl, &m, NULL, 0, NULL, 0);
	}
}

static void __attribute__((noreturn)) serve(const struct nsh_sandbox_setup *s, int ctl, int sigfd)
{
	static char buf[sizeof(struct nsh_ctl_msg) + NSH_CTL_MAX];
	pid_t running = 0;

	for (;;) {
		struct pollfd pf[2] = {{.fd = ctl, .events = POLLIN},
				       {.fd = sigfd, .events = POLLIN}};

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(126);
		}
		if (pf[1].revents) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) == sizeof(si))
				;
			reap(ctl, &running);
		}
		if (pf[0].revents) {
			const struct nsh_ctl_msg *m = (const void *)buf;
			int fds[3];
			ssize_t n = nsh_ctl_recv(ctl, buf, sizeof(buf), fds, 3);

			if (n == 0 || n == -ECONNRESET)
				_exit(0); /* the supervisor is gone: so is the sandbox */
			if (n < 0)
				continue;
			if (m->type == NSH_CTL_RUN)
				handle_run(s, ctl, buf, (size_t)n, fds, &running);
			else if (m->type == NSH_CTL_KILL && running)
				kill(-1, SIGKILL);
			for (int i = 0; i < 3; i++)
				if (fds[i] >= 0)
					close(fds[i]);
		}
	}
}

void nsh_sandbox_child(const struct nsh_sandbox_setup *s)
{
	static char buf[sizeof(struct nsh_ctl_msg) + sizeof(struct nsh_ctl_finish) + 64];
	const struct nsh_ctl_msg *m = (const void *)buf;
	struct nsh_ctl_msg ready = {.type = NSH_CTL_READY};
	struct nsh_ctl_finish fin;
	struct sysdirs sd;
	sigset_t chld;
	int ctl = s->ctl_fd, ws_fd, sigfd, proxy_fd = -1, stage = NSH_STAGE_SYNC, ruleset = -1;
	ssize_t n;
	int rc;

	mark(s, NSH_MARK_BEGIN);
	rc = setup_early(&sd, &stage);
	mark(s, NSH_MARK_SYSDIRS);
	n = nsh_ctl_recv(ctl, buf, sizeof(buf), &ws_fd, 1);
	if (n <= 0 || m->type != NSH_CTL_GO)
		_exit(127); /* the supervisor gave up on us */
	mark(s, NSH_MARK_START);
	if (rc)
		fail(ctl, stage, -rc); /* reported now that the supervisor listens */
	rc = setup(s, &sd, ws_fd, &proxy_fd, &stage);
	if (rc)
		fail(ctl, stage, -rc);
	if (s->pooled) {
		/* Prepared: wait until taken (or until the pool closes the socket). */
		struct nsh_ctl_msg prepared = {.type = NSH_CTL_PREPARED};

		rc = prepare_landlock(s, &ruleset, &stage);
		if (rc)
			fail(ctl, stage, -rc);
		if (s->seccomp_early) {
			rc = nsh_seccomp_load(s->seccomp_early);
			if (rc)
				fail(ctl, NSH_STAGE_SECCOMP, -rc);
		}

		nsh_ctl_send(ctl, &prepared, NULL, 0, NULL, 0);
		do
			n = nsh_ctl_recv(ctl, buf, sizeof(buf), &ws_fd, 1);
		while (n == -EINTR);
		if (n != (ssize_t)(sizeof(*m) + sizeof(fin)) || m->type != NSH_CTL_FINISH)
			_exit(127);
		memcpy(&fin, buf + sizeof(*m), sizeof(fin));
		rc = finish(s, &fin, ws_fd, &proxy_fd, &stage);
		if (rc)
			fail(ctl, stage, -rc);
	}
	rc = lockdown(s, ruleset, &stage);
	if (rc)
		fail(ctl, stage, -rc);

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0)
		fail(ctl, NSH_STAGE_SESSION, errno);
	nsh_ctl_send(ctl, &ready, s->timing ? marks : NULL, s->timing ? sizeof(marks) : 0,
		     &proxy_fd, proxy_fd >= 0 ? 1 : 0);
	if (proxy_fd >= 0)
		close(proxy_fd);
	serve(s, ctl, sigfd);
}
