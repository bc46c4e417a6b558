/*
 * Host capability probe. Checks that would change the calling process
 * (unshare, seccomp, idmapped mounts) each run in a forked child that
 * reports through its exit status; the child makes only async-signal-safe
 * calls, since the caller may be multi-threaded. Everything a child needs
 * (strings, the compiled seccomp filter) is prepared before the fork.
 */
#include "sandbox/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/str.h"
#include "sandbox/filter.h"

#include "core/banned.h"

#ifndef OPEN_TREE_CLONE
# define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
# define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_IDMAP
# define MOUNT_ATTR_IDMAP 0x00100000
#endif

/* Same as proc.c's fallback when PATH is unset. */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* Cap on the size of /proc/self/mountinfo and of small /proc and /sys files. */
#define MOUNTINFO_MAX  ((size_t)4 << 20)
#define SMALL_FILE_MAX ((size_t)64 << 10)

/* Exit-status bits of the namespace child. */
enum {
	NS_PID = 1 << 0,
	NS_NET = 1 << 1,
	NS_MNT = 1 << 2,
	NS_IPC = 1 << 3,
	NS_UTS = 1 << 4,
	NS_CGROUP = 1 << 5,
};

/* What the children get, all prepared before fork(). */
struct probe_arg {
	bool root;			  /* euid 0 */
	char uid_map[32];		  /* "0 <euid> 1" */
	char gid_map[32];		  /* "0 <egid> 1" */
	const struct nsh_seccomp *filter; /* for the seccomp child; may be NULL */
	const char *idmap_dir;		  /* empty directory for the idmapped-mount child */
};

typedef int (*probe_fn)(const struct probe_arg *a);

/* ---- helpers for the children (async-signal-safe) ---- */

/* Write the string @s to the existing file @path; 0 or -1. */
static int write_str(const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	do
		n = write(fd, s, len);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Become root of a new user namespace, mapped to our own ids; 0 or -1. */
static int enter_userns(const struct probe_arg *a)
{
	if (unshare(CLONE_NEWUSER) < 0)
		return -1;
	if (write_str("/proc/self/setgroups", "deny") < 0 ||
	    write_str("/proc/self/uid_map", a->uid_map) < 0 ||
	    write_str("/proc/self/gid_map", a->gid_map) < 0)
		return -1;
	return 0;
}

/* "/proc/<pid>/ns/user" into @buf, without printf. */
static const char *userns_path(char buf[48], pid_t pid)
{
	char digits[16];
	size_t nd = 0, len = 0;
	const char *head = "/proc/", *tail = "/ns/user";

	do
		digits[nd++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0 && nd < sizeof(digits));
	for (const char *s = head; *s; s++)
		buf[len++] = *s;
	while (nd)
		buf[len++] = digits[--nd];
	for (const char *s = tail; *s; s++)
		buf[len++] = *s;
	buf[len] = '\0';
	return buf;
}

static int child_userns(const struct probe_arg *a)
{
	return enter_userns(a) == 0 ? 0 : 1;
}

/* A bit set of the namespaces that can be created (inside a new userns unless root). */
static int child_namespaces(const struct probe_arg *a)
{
	static const struct {
		int flag, bit;
	} ns[] = {
		{CLONE_NEWPID, NS_PID}, {CLONE_NEWNET, NS_NET}, {CLONE_NEWNS, NS_MNT},
		{CLONE_NEWIPC, NS_IPC}, {CLONE_NEWUTS, NS_UTS}, {CLONE_NEWCGROUP, NS_CGROUP},
	};
	int bits = 0;

	if (!a->root && enter_userns(a) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		if (unshare(ns[i].flag) == 0)
			bits |= ns[i].bit;
	return bits;
}

/* The filter loads, and is in force (clone3 answers ENOSYS). */
static int child_seccomp(const struct probe_arg *a)
{
	if (!a->filter || nsh_seccomp_load(a->filter) < 0)
		return 1;
	return syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS ? 0 : 1;
}

static int child_mount_api(const struct probe_arg *a)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLOEXEC);

	(void)a;
	if (fd < 0)
		return 1;
	close(fd);
	/* Bad arguments on purpose: anything but ENOSYS means it exists. */
	if (syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, NULL, (size_t)0) < 0 &&
	    errno == ENOSYS)
		return 1;
	return 0;
}

/*
 * Idmap a detached bind of @a->idmap_dir with the user namespace of a
 * helper grandchild (which maps its own ids 1:1); the clone is never
 * attached anywhere and vanishes when closed. Needs root.
 */
static int child_idmap(const struct probe_arg *a)
{
	struct mount_attr attr = {0};
	int ready[2], hold[2], tree = -1, ns = -1, result = 1, st;
	char ok = 0, path[48];
	pid_t gc;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
		return 1;
	gc = fork();
	if (gc < 0)
		return 1;
	if (gc == 0) {
		char c = enter_userns(a) == 0 ? 1 : 0, x;

		close(ready[0]);
		close(hold[1]);
		if (write(ready[1], &c, 1) == 1)
			while (read(hold[0], &x, 1) < 0 && errno == EINTR)
				;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	while (read(ready[0], &ok, 1) < 0 && errno == EINTR)
		;
	if (ok != 1)
		goto out;
	ns = open(userns_path(path, gc), O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		goto out;
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, a->idmap_dir,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		goto out;
	attr.attr_set = MOUNT_ATTR_IDMAP;
	attr.userns_fd = (uint64_t)ns;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0)
		result = 0;
out:
	if (tree >= 0)
		close(tree);
	if (ns >= 0)
		close(ns);
	close(hold[1]);
	close(ready[0]);
	while (waitpid(gc, &st, 0) < 0 && errno == EINTR)
		;
	return result;
}

/*
 * Run @fn in a forked child and store its exit code (0..255) in *@ret_code,
 * or -1 when it was killed by a signal.
 */
static int run_child(probe_fn fn, const struct probe_arg *a, int *ret_code, struct nsh_err *err)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return nsh_err_sys(err, errno, "cannot fork a sandbox probe");
	if (pid == 0)
		_exit(fn(a) & 0xff);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return nsh_err_sys(err, errno, "cannot wait for a sandbox probe");
	}
	*ret_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}

/* ---- checks in the calling process (files only) ---- */

/* True when @tok is one of the @sep-separated items of @list. */
static bool has_token(struct nsh_str list, char sep, const char *tok)
{
	struct nsh_str head, tail;

	while (nsh_str_split(list, sep, &head, &tail)) {
		if (nsh_str_eq_cstr(head, tok))
			return true;
		list = tail;
	}
	return nsh_str_eq_cstr(list, tok);
}

/* The contents of a small file, trimmed, in @out; false when unreadable. */
static bool read_small(const char *path, struct nsh_buf *out)
{
	nsh_buf_reset(out);
	if (nsh_fs_read_file(path, out, SMALL_FILE_MAX, NULL) < 0)
		return false;
	nsh_buf_trim(out);
	return true;
}

/*
 * Make and remove the child cgroup "<dir>/nsh-probe-<pid>"; true when that
 * worked. *@ret_freeze and *@ret_kill (may be NULL) tell whether it had
 * cgroup.freeze and cgroup.kill (cgroup v2).
 */
static bool try_child_cgroup(const char *dir, bool *ret_freeze, bool *ret_kill)
{
	struct nsh_buf p = NSH_BUF_INIT, f = NSH_BUF_INIT;
	bool ok = false;
	int r;

	nsh_buf_addf(&p, "%s/nsh-probe-%ld", dir, (long)getpid());
	r = mkdir(p.buf, 0755);
	if (r < 0 && errno == EEXIST && rmdir(p.buf) == 0) /* left by a crashed probe */
		r = mkdir(p.buf, 0755);
	if (r < 0)
		goto out;
	ok = true;
	if (ret_freeze) {
		nsh_buf_addf(&f, "%s/cgroup.freeze", p.buf);
		*ret_freeze = access(f.buf, F_OK) == 0;
	}
	if (ret_kill) {
		nsh_buf_reset(&f);
		nsh_buf_addf(&f, "%s/cgroup.kill", p.buf);
		*ret_kill = access(f.buf, F_OK) == 0;
	}
	rmdir(p.buf);
out:
	nsh_buf_release(&p);
	nsh_buf_release(&f);
	return ok;
}

/* Append @s to @out with mountinfo's octal escapes ("\040") decoded. */
static void unescape(struct nsh_str s, struct nsh_buf *out)
{
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 3 < s.len && s.p[i + 1] >= '0' && s.p[i + 1] <= '3' &&
		    s.p[i + 2] >= '0' && s.p[i + 2] <= '7' && s.p[i + 3] >= '0' &&
		    s.p[i + 3] <= '7') {
			nsh_buf_addch(out, (char)((s.p[i + 1] - '0') * 64 + (s.p[i + 2] - '0') * 8 +
						  (s.p[i + 3] - '0')));
			i += 3;
		} else {
			nsh_buf_addch(out, s.p[i]);
		}
	}
}

/* The fields of one /proc/self/mountinfo line that the probe needs. */
struct mount_line {
	struct nsh_str root;   /* root of the mount within its file system */
	struct nsh_str point;  /* mount point, still escaped */
	struct nsh_str fstype; /* file-system type */
	struct nsh_str opts;   /* super-block options, comma-separated */
};

/* Split one mountinfo line; false when it is malformed. */
static bool parse_mount_line(struct nsh_str line, struct mount_line *m)
{
	struct nsh_str f, rest = line;
	int i = 0;

	/* id parent major:minor root point options [optional...] - fstype source opts */
	while (nsh_str_split(rest, ' ', &f, &rest)) {
		if (i == 3)
			m->root = f;
		else if (i == 4)
			m->point = f;
		else if (i >= 6 && nsh_str_eq_cstr(f, "-"))
			break;
		i++;
	}
	if (i < 6 || !nsh_str_split(rest, ' ', &m->fstype, &rest) ||
	    !nsh_str_split(rest, ' ', &f, &m->opts))
		return false;
	return true;
}

/* Copy @s into the fixed field @dst of @size bytes; false when it does not fit. */
static bool copy_field(char *dst, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len >= size)
		return false;
	memcpy(dst, s, len + 1);
	return true;
}

static void probe_cgroups(struct nsh_sandbox_caps *c)
{
	struct nsh_buf info = NSH_BUF_INIT, point = NSH_BUF_INIT, tmp = NSH_BUF_INIT,
		       ctl = NSH_BUF_INIT;
	struct nsh_str rest, line;

	if (nsh_fs_read_file("/proc/self/mountinfo", &info, MOUNTINFO_MAX, NULL) < 0)
		goto out;
	rest = nsh_str_make(info.buf, info.len);
	while (rest.len) {
		struct mount_line m;

		if (!nsh_str_split(rest, '\n', &line, &rest)) {
			line = rest;
			rest.len = 0;
		}
		if (!parse_mount_line(line, &m) || !nsh_str_eq_cstr(m.root, "/"))
			continue;
		nsh_buf_reset(&point);
		unescape(m.point, &point);
		if (nsh_str_eq_cstr(m.fstype, "cgroup2") && !c->cgroup2 &&
		    copy_field(c->cgroup2_path, sizeof(c->cgroup2_path), point.buf)) {
			c->cgroup2 = true;
			nsh_buf_reset(&tmp);
			nsh_buf_addf(&tmp, "%s/cgroup.controllers", point.buf);
			if (read_small(tmp.buf, &ctl))
				copy_field(c->cgroup2_controllers, sizeof(c->cgroup2_controllers),
					   ctl.buf);
			c->cgroup2_writable =
				try_child_cgroup(point.buf, &c->cgroup2_freeze, &c->cgroup2_kill);
		} else if (nsh_str_eq_cstr(m.fstype, "cgroup")) {
			if (!c->cgroup1_memory && has_token(m.opts, ',', "memory"))
				c->cgroup1_memory = try_child_cgroup(point.buf, NULL, NULL);
			if (!c->cgroup1_pids && has_token(m.opts, ',', "pids"))
				c->cgroup1_pids = try_child_cgroup(point.buf, NULL, NULL);
			if (!c->cgroup1_cpu && has_token(m.opts, ',', "cpu"))
				c->cgroup1_cpu = try_child_cgroup(point.buf, NULL, NULL);
			if (!c->cgroup1_freezer && has_token(m.opts, ',', "freezer"))
				c->cgroup1_freezer = try_child_cgroup(point.buf, NULL, NULL);
		}
	}
out:
	nsh_buf_release(&info);
	nsh_buf_release(&point);
	nsh_buf_release(&tmp);
	nsh_buf_release(&ctl);
}

/* A free loop device can be had from /dev/loop-control and opened. */
static bool probe_loop(void)
{
	struct nsh_buf p = NSH_BUF_INIT;
	bool ok = false;
	int ctl, n, fd;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		goto out;
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n >= 0) {
		nsh_buf_addf(&p, "/dev/loop%d", n);
		fd = open(p.buf, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			ok = true;
			close(fd);
		}
	}
	close(ctl);
out:
	nsh_buf_release(&p);
	return ok;
}

/* An executable regular file @name in PATH; empty and relative entries are skipped. */
static bool in_path(const char *name)
{
	struct nsh_buf p = NSH_BUF_INIT;
	const char *path = getenv("PATH");
	struct nsh_str rest, dir;
	struct stat st;
	bool found = false;

	rest = nsh_str_from(path ? path : DEFAULT_PATH);
	while (rest.len && !found) {
		if (!nsh_str_split(rest, ':', &dir, &rest)) {
			dir = rest;
			rest.len = 0;
		}
		if (!dir.len || dir.p[0] != '/')
			continue;
		nsh_buf_reset(&p);
		nsh_buf_addf(&p, "%.*s/%s", (int)dir.len, dir.p, name);
		found = stat(p.buf, &st) == 0 && S_ISREG(st.st_mode) && access(p.buf, X_OK) == 0;
	}
	nsh_buf_release(&p);
	return found;
}

static void probe_sysctls(struct nsh_sandbox_caps *c)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *end;
	long v;

	/* Before Linux 6.2 there is no switch and TIOCSTI always works. */
	if (read_small("/proc/sys/dev/tty/legacy_tiocsti", &b))
		c->legacy_tiocsti = !strcmp(b.buf, "1");
	else
		c->legacy_tiocsti = !nsh_fs_exists("/proc/sys/dev/tty/legacy_tiocsti");
	c->max_user_namespaces = -1;
	if (read_small("/proc/sys/user/max_user_namespaces", &b)) {
		errno = 0;
		v = strtol(b.buf, &end, 10);
		if (!errno && end != b.buf && !*end && v >= 0 && v <= INT32_MAX)
			c->max_user_namespaces = (int)v;
	}
	nsh_buf_release(&b);
}

int nsh_sandbox_probe(struct nsh_sandbox_caps *ret, struct nsh_err *err)
{
	struct nsh_sandbox_caps c = {0};
	struct probe_arg a = {0};
	struct nsh_seccomp *filter = NULL;
	char dir[] = "/tmp/nsh-probe-XXXXXX";
	bool have_dir = false;
	int r, code;

	a.root = c.root = geteuid() == 0;
	snprintf(a.uid_map, sizeof(a.uid_map), "0 %lu 1", (unsigned long)geteuid());
	snprintf(a.gid_map, sizeof(a.gid_map), "0 %lu 1", (unsigned long)getegid());
	if (nsh_seccomp_build(0, &filter, NULL) == 0)
		a.filter = filter;

	r = run_child(child_userns, &a, &code, err);
	if (r < 0)
		goto out;
	c.userns = code == 0;
	r = run_child(child_namespaces, &a, &code, err);
	if (r < 0)
		goto out;
	if (code > 0) {
		c.pidns = code & NS_PID;
		c.netns = code & NS_NET;
		c.mntns = code & NS_MNT;
		c.ipcns = code & NS_IPC;
		c.utsns = code & NS_UTS;
		c.cgroupns = code & NS_CGROUP;
	}
	r = run_child(child_seccomp, &a, &code, err);
	if (r < 0)
		goto out;
	c.seccomp = code == 0;
	r = run_child(child_mount_api, &a, &code, err);
	if (r < 0)
		goto out;
	c.new_mount_api = code == 0;
	if (c.root && c.new_mount_api && mkdtemp(dir)) {
		have_dir = true;
		a.idmap_dir = dir;
		r = run_child(child_idmap, &a, &code, err);
		if (r < 0)
			goto out;
		c.idmapped_mounts = code == 0;
	}

	c.landlock_abi = nsh_landlock_abi();
	probe_cgroups(&c);
	c.loop = probe_loop();
	c.mkfs_ext4 = in_path("mkfs.ext4");
	probe_sysctls(&c);
	*ret = c;
out:
	if (have_dir)
		rmdir(dir);
	nsh_seccomp_free(filter);
	return r;
}

/* ---- reporting ---- */

/* Set @key of @g to the formatted text. */
static void __attribute__((format(printf, 3, 4)))
put(json_t *g, const char *key, const char *fmt, ...)
{
	struct nsh_buf b = NSH_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	nsh_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	json_object_set_new(g, key, json_string(b.buf));
	nsh_buf_release(&b);
}

/* Append ", name" (or "name" first) to @b when @missing. */
static void add_missing(struct nsh_buf *b, bool missing, const char *name)
{
	if (missing)
		nsh_buf_addf(b, "%s%s", b->len ? ", " : "", name);
}

static void put_isolation(json_t *g, const struct nsh_sandbox_caps *c)
{
	struct nsh_buf miss = NSH_BUF_INIT;
	bool ns = c->pidns && c->mntns && c->ipcns && c->utsns;

	if (ns && c->userns)
		put(g, "isolation", "enforced (user, pid, mount, ipc and uts namespaces%s)",
		    c->cgroupns ? ", cgroup namespace" : "");
	else if (ns && c->root)
		put(g, "isolation",
		    "weaker (pid, mount, ipc and uts namespaces but no user namespace: tasks "
		    "must run under an unprivileged uid)");
	else {
		add_missing(&miss, !c->userns && !c->root, "user");
		add_missing(&miss, !c->pidns, "pid");
		add_missing(&miss, !c->mntns, "mount");
		add_missing(&miss, !c->ipcns, "ipc");
		add_missing(&miss, !c->utsns, "uts");
		put(g, "isolation", "unavailable (cannot create %s namespaces)", miss.buf);
	}
	nsh_buf_release(&miss);
}

static void put_filesystem(json_t *g, const struct nsh_sandbox_caps *c)
{
	const char *how = c->new_mount_api ? "open_tree + mount_setattr" : "mount(2)";

	if (c->mntns && c->landlock_abi > 0)
		put(g, "filesystem",
		    "enforced (read-only binds in a mount namespace via %s, plus landlock abi %d)",
		    how, c->landlock_abi);
	else if (c->mntns)
		put(g, "filesystem", "enforced (read-only binds in a mount namespace via %s)", how);
	else if (c->landlock_abi > 0)
		put(g, "filesystem",
		    "weaker (landlock abi %d path rules only: no mount namespace, host paths stay "
		    "visible)",
		    c->landlock_abi);
	else
		put(g, "filesystem", "unavailable (neither a mount namespace nor landlock)");
}

static void put_limits(json_t *g, const struct nsh_sandbox_caps *c)
{
	struct nsh_str ctl = nsh_str_from(c->cgroup2_controllers);
	bool v2 = c->cgroup2 && c->cgroup2_writable;

	if (v2 && has_token(ctl, ' ', "memory"))
		put(g, "memory_limit", "enforced (cgroup v2 memory.max)");
	else if (c->cgroup1_memory)
		put(g, "memory_limit", "enforced (cgroup v1 memory controller)");
	else
		put(g, "memory_limit",
		    "weaker (rlimit RLIMIT_AS: address space per process, not the task's total)");

	if (v2 && has_token(ctl, ' ', "pids"))
		put(g, "pids_limit", "enforced (cgroup v2 pids.max)");
	else if (c->cgroup1_pids)
		put(g, "pids_limit", "enforced (cgroup v1 pids controller)");
	else
		put(g, "pids_limit", "weaker (rlimit RLIMIT_NPROC: counted per uid, not per task)");

	if (v2 && has_token(ctl, ' ', "cpu"))
		put(g, "cpu_limit", "enforced (cgroup v2 cpu.max)");
	else if (c->cgroup1_cpu)
		put(g, "cpu_limit", "enforced (cgroup v1 cpu controller, cfs quota)");
	else
		put(g, "cpu_limit",
		    "weaker (rlimit RLIMIT_CPU: total cpu seconds per process, not a rate)");
}

static void put_lifecycle(json_t *g, const struct nsh_sandbox_caps *c)
{
	bool v2 = c->cgroup2 && c->cgroup2_writable;

	if (v2 && c->cgroup2_freeze)
		put(g, "pause", "enforced (cgroup v2 cgroup.freeze)");
	else if (c->cgroup1_freezer)
		put(g, "pause", "enforced (cgroup v1 freezer)");
	else
		put(g, "pause", "weaker (SIGSTOP to each process of the task, racing with fork)");

	if (v2 && c->cgroup2_kill)
		put(g, "kill", "enforced (cgroup v2 cgroup.kill)");
	else if (c->pidns)
		put(g, "kill",
		    "enforced (SIGKILL to the pid namespace's init ends all its processes)");
	else if (c->cgroup1_freezer)
		put(g, "kill", "enforced (freeze the v1 cgroup, then SIGKILL every member)");
	else
		put(g, "kill",
		    "weaker (SIGKILL to the process group: processes that leave it survive)");
}

static void put_disk_and_net(json_t *g, const struct nsh_sandbox_caps *c)
{
	struct nsh_buf miss = NSH_BUF_INIT;

	add_missing(&miss, !c->root, "root");
	add_missing(&miss, !c->loop, "a usable /dev/loop-control");
	add_missing(&miss, !c->mkfs_ext4, "mkfs.ext4 in PATH");
	if (!miss.len)
		put(g, "disk_quota", "enforced (per-task ext4 image on a loop device)");
	else if (c->mntns)
		put(g, "disk_quota",
		    "weaker (tmpfs size limits scratch space only and is charged to memory; a loop "
		    "image needs %s)",
		    miss.buf);
	else
		put(g, "disk_quota", "unavailable (a loop image needs %s)", miss.buf);
	nsh_buf_release(&miss);

	if (c->netns)
		put(g, "network_none", "enforced (empty network namespace)");
	else if (c->seccomp)
		put(g, "network_none",
		    "weaker (seccomp refuses every socket family but unix; no network namespace)");
	else if (c->landlock_abi >= 4)
		put(g, "network_none",
		    "weaker (landlock denies tcp bind and connect; udp is open)");
	else
		put(g, "network_none",
		    "unavailable (no network namespace, seccomp or landlock tcp rules)");
}

json_t *nsh_sandbox_caps_to_json(const struct nsh_sandbox_caps *c)
{
	json_t *o = json_object(), *g = json_object();

	if (!o || !g) {
		json_decref(o);
		json_decref(g);
		return NULL;
	}
	json_object_set_new(o, "root", json_boolean(c->root));
	json_object_set_new(o, "userns", json_boolean(c->userns));
	json_object_set_new(o, "pidns", json_boolean(c->pidns));
	json_object_set_new(o, "netns", json_boolean(c->netns));
	json_object_set_new(o, "mntns", json_boolean(c->mntns));
	json_object_set_new(o, "ipcns", json_boolean(c->ipcns));
	json_object_set_new(o, "utsns", json_boolean(c->utsns));
	json_object_set_new(o, "cgroupns", json_boolean(c->cgroupns));
	json_object_set_new(o, "seccomp", json_boolean(c->seccomp));
	json_object_set_new(o, "landlock_abi", json_integer(c->landlock_abi));
	json_object_set_new(o, "new_mount_api", json_boolean(c->new_mount_api));
	json_object_set_new(o, "idmapped_mounts", json_boolean(c->idmapped_mounts));
	json_object_set_new(o, "cgroup2", json_boolean(c->cgroup2));
	json_object_set_new(o, "cgroup2_path", json_string(c->cgroup2_path));
	json_object_set_new(o, "cgroup2_controllers", json_string(c->cgroup2_controllers));
	json_object_set_new(o, "cgroup2_writable", json_boolean(c->cgroup2_writable));
	json_object_set_new(o, "cgroup2_freeze", json_boolean(c->cgroup2_freeze));
	json_object_set_new(o, "cgroup2_kill", json_boolean(c->cgroup2_kill));
	json_object_set_new(o, "cgroup1_memory", json_boolean(c->cgroup1_memory));
	json_object_set_new(o, "cgroup1_pids", json_boolean(c->cgroup1_pids));
	json_object_set_new(o, "cgroup1_cpu", json_boolean(c->cgroup1_cpu));
	json_object_set_new(o, "cgroup1_freezer", json_boolean(c->cgroup1_freezer));
	json_object_set_new(o, "loop", json_boolean(c->loop));
	json_object_set_new(o, "mkfs_ext4", json_boolean(c->mkfs_ext4));
	json_object_set_new(o, "legacy_tiocsti", json_boolean(c->legacy_tiocsti));
	json_object_set_new(o, "max_user_namespaces", json_integer(c->max_user_namespaces));

	put_isolation(g, c);
	put_filesystem(g, c);
	put(g, "syscalls",
	    c->seccomp ? "enforced (seccomp bpf filter)"
		       : "unavailable (a seccomp filter cannot be loaded)");
	put_limits(g, c);
	put_lifecycle(g, c);
	put_disk_and_net(g, c);
	json_object_set_new(o, "guarantees", g);
	return o;
}

void nsh_sandbox_caps_print(const struct nsh_sandbox_caps *c, FILE *out)
{
	json_t *o = nsh_sandbox_caps_to_json(c), *g, *v;
	const char *key;

	if (!o)
		return;
	json_object_foreach(o, key, v)
	{
		switch (json_typeof(v)) {
		case JSON_TRUE:
		case JSON_FALSE:
			fprintf(out, "%-22s %s\n", key, json_is_true(v) ? "yes" : "no");
			break;
		case JSON_INTEGER:
			fprintf(out, "%-22s %lld\n", key, (long long)json_integer_value(v));
			break;
		case JSON_STRING:
			fprintf(out, "%-22s %s\n", key,
				*json_string_value(v) ? json_string_value(v) : "-");
			break;
		case JSON_OBJECT:
		case JSON_ARRAY:
		case JSON_REAL:
		case JSON_NULL:
			break;
		}
	}
	g = json_object_get(o, "guarantees");
	fprintf(out, "guarantees:\n");
	json_object_foreach(g, key, v)
	{
		fprintf(out, "  %-20s %s\n", key, json_string_value(v));
	}
	json_decref(o);
}
