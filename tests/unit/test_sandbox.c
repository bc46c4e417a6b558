/*
 * The sandbox's C API: several commands over one sandbox's life, captured
 * output and stdin, errors that name the program, time limits, pause that
 * stops all CPU use (measured) and resume, and a kill and destroy that
 * leave no process, mount, cgroup or loop device behind.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "sandbox/cgroup.h"
#include "sandbox/netns.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"
#include "test.h"

static char *dir;

static void policy(struct nsh_sandbox_policy *pol, const char *name)
{
	char *ws = nsh_xasprintf("%s/%s-ws", dir, name);
	char *st = nsh_xasprintf("%s/%s-state", dir, name);

	memset(pol, 0, sizeof(*pol));
	nsh_fs_mkdir_p(ws, 0755, NULL);
	nsh_fs_mkdir_p(st, 0700, NULL);
	pol->workspace = ws;
	pol->state_dir = st;
	pol->hide = dir;
	pol->network = NSH_NET_NONE;
}

static void policy_release(struct nsh_sandbox_policy *pol)
{
	free((char *)pol->workspace);
	free((char *)pol->state_dir);
}

/* Run "sh -c @script" in @sb, capturing output. */
static int sh(struct nsh_sandbox *sb, struct nsh_sandbox_cmd *c, const char *script)
{
	struct nsh_err err = NSH_ERR_INIT;
	int rc;

	nsh_sandbox_cmd_release(c);
	nsh_sandbox_cmd_init(c);
	nsh_strvec_pushl(&c->argv, "sh", "-c", script, NULL);
	rc = nsh_sandbox_exec(sb, c, &err);
	if (rc)
		fprintf(stderr, "exec: %s\n", err.msg);
	return rc;
}

static bool mounted_under(const char *path)
{
	struct nsh_buf b = NSH_BUF_INIT;
	bool found;

	nsh_fs_read_file("/proc/self/mountinfo", &b, 1 << 22, NULL);
	found = strstr(b.buf, path) != NULL;
	nsh_buf_release(&b);
	return found;
}

/* Whether any cgroup directory named after @name exists in any hierarchy. */
static bool cgroup_left(const char *name)
{
	static const char *const roots[] = {
		"/sys/fs/cgroup/unified/nightshift", "/sys/fs/cgroup/memory/nightshift",
		"/sys/fs/cgroup/pids/nightshift",    "/sys/fs/cgroup/cpu/nightshift",
		"/sys/fs/cgroup/freezer/nightshift", "/sys/fs/cgroup/nightshift",
	};
	bool left = false;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		DIR *d = opendir(roots[i]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d)))
			if (strstr(e->d_name, name))
				left = true;
		closedir(d);
	}
	return left;
}

/* Whether a loop device is still backed by @image. */
static bool loop_backs(const char *image)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d))) {
		struct nsh_buf b = NSH_BUF_INIT;
		char *p;

		if (strncmp(e->d_name, "loop", 4))
			continue;
		p = nsh_xasprintf("/sys/block/%s/loop/backing_file", e->d_name);
		if (!nsh_fs_read_file(p, &b, 4096, NULL) && strstr(b.buf, image))
			found = true;
		nsh_buf_release(&b);
		free(p);
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * The host directories of the sandbox cgroups that process @pid is in (from
 * /proc/<pid>/cgroup, those under a "nightshift" directory), pushed to @out.
 */
static void sandbox_cgroups(pid_t pid, struct nsh_strvec *out)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("/proc/%d/cgroup", (int)pid);
	char *line, *save = NULL;

	if (nsh_fs_read_file(path, &b, 1 << 16, NULL) == 0) {
		for (line = strtok_r(b.buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *ctrl = strchr(line, ':'), *rel;
			size_t n;

			if (!ctrl || !(rel = strchr(ctrl + 1, ':')) || !strstr(rel, "/nightshift/"))
				continue;
			ctrl++;
			n = strcspn(ctrl, ",:");
			if (!strncmp(ctrl, "name=", 5))
				continue;
			if (ctrl[0] == ':')
				nsh_strvec_pushf(out, "/sys/fs/cgroup/unified%s", rel + 1);
			else
				nsh_strvec_pushf(out, "/sys/fs/cgroup/%.*s%s", (int)n, ctrl,
						 rel + 1);
		}
	}
	nsh_buf_release(&b);
	free(path);
}

/* How many of the directories in @dirs still exist. */
static int dirs_left(const struct nsh_strvec *dirs)
{
	int n = 0;

	for (size_t i = 0; i < dirs->nr; i++)
		n += nsh_fs_is_dir(dirs->v[i]);
	return n;
}

/* The names of the sandbox cgroups of owner @pid in any hierarchy, each once. */
static void owner_cgroups(pid_t pid, struct nsh_strvec *out)
{
	static const char *const roots[] = {
		"/sys/fs/cgroup/unified/nightshift", "/sys/fs/cgroup/memory/nightshift",
		"/sys/fs/cgroup/pids/nightshift",    "/sys/fs/cgroup/cpu/nightshift",
		"/sys/fs/cgroup/freezer/nightshift", "/sys/fs/cgroup/cpuacct/nightshift",
	};
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "%d.", (int)pid);
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		DIR *d = opendir(roots[i]);
		struct dirent *e;

		while (d && (e = readdir(d)))
			if (!strncmp(e->d_name, prefix, strlen(prefix)) &&
			    nsh_strvec_find(out, e->d_name) < 0)
				nsh_strvec_push(out, e->d_name);
		if (d)
			closedir(d);
	}
}

/* Whether the environment turns the pool off. */
static bool pool_off(void)
{
	const char *env = getenv("NSH_SANDBOX_POOL");

	return env && !strcmp(env, "0");
}

/* Whether process @pid is gone (a zombie still counts as there). */
/* Whether @pid is listed in the cgroup.procs of @cg. */
static bool holds_pid(const char *cg, pid_t pid)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/cgroup.procs", cg), *p;
	bool found = false;

	if (pid > 0 && nsh_fs_read_file(path, &b, 1 << 16, NULL) == 0)
		for (p = b.buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			found |= strtol(p, NULL, 10) == pid;
	nsh_buf_release(&b);
	free(path);
	return found;
}

/* The number in @cg/@file; UINT64_MAX for "max" or what cannot be read. */
static uint64_t read_u64(const char *cg, const char *file)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/%s", cg, file), *end;
	uint64_t v = UINT64_MAX;

	if (nsh_fs_read_file(path, &b, 4096, NULL) == 0) {
		v = strtoull(b.buf, &end, 10);
		if (end == b.buf)
			v = UINT64_MAX;
	}
	nsh_buf_release(&b);
	free(path);
	return v;
}

/* Whether a thread of this process runs at nice @nice (field 19 of its stat). */
static bool thread_at_nice(int nice)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d))) {
		struct nsh_buf b = NSH_BUF_INIT;
		char *path = nsh_xasprintf("/proc/self/task/%s/stat", e->d_name);
		const char *p;
		int field = 3; /* after the ") " closing the name comes field 3 */

		if (e->d_name[0] != '.' && nsh_fs_read_file(path, &b, 4096, NULL) == 0 &&
		    (p = strrchr(b.buf, ')'))) {
			for (p += 2; *p && field < 19; p++)
				field += *p == ' ';
			found |= field == 19 && strtol(p, NULL, 10) == nice;
		}
		nsh_buf_release(&b);
		free(path);
	}
	if (d)
		closedir(d);
	return found;
}

static bool gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * The pool of prepared sandboxes (as root; NSH_SANDBOX_POOL unset): a
 * pooled sandbox behaves like a fresh one (workspace at /workspace,
 * writable, limits applied, another job's workspace out of sight), the
 * pool refills, @no_pool bypasses it, and a destroy leaves nothing once
 * the reaper is done.
 */
static void test_pool(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pa, pb, pc;
	struct nsh_sandbox_pool_stats s0, s1, s2;
	struct nsh_sandbox *a = NULL, *b = NULL, *c = NULL;
	struct nsh_sandbox_usage u;
	struct nsh_sandbox_cmd cmd;
	struct nsh_strvec cgs;
	pid_t init_a = -1, init_b = -1;
	char *path;

	if (geteuid() != 0 || pool_off()) {
		/* no pool: not root, or NSH_SANDBOX_POOL=0 */
		CHECK(!nsh_sandbox_pool_stats(&s0));
		return;
	}
	nsh_strvec_init(&cgs);
	nsh_sandbox_cmd_init(&cmd);
	policy(&pa, "pool-a");
	policy(&pb, "pool-b");
	policy(&pc, "pool-c");
	pa.pids = 32;
	pa.memory = 64 << 20;
	/* warm: a first create makes the pool; then wait until it is full */
	CHECK_INT(nsh_sandbox_create(&pc, &c, &err), 0);
	nsh_sandbox_destroy(c, NULL);
	c = NULL;
	CHECK(nsh_sandbox_pool_settle(20000));
	CHECK(nsh_sandbox_pool_stats(&s0));
	CHECK(s0.size >= 1 && s0.size <= 4);
	CHECK_INT(s0.ready, s0.size);

	CHECK_INT(nsh_sandbox_create(&pa, &a, &err), 0);
	CHECK(nsh_sandbox_pool_stats(&s1));
	CHECK_INT(s1.taken, s0.taken + 1);
	if (!a) {
		fprintf(stderr, "create: %s\n", err.msg);
		goto out;
	}
	init_a = nsh_sandbox_init_pid(a);
	sandbox_cgroups(init_a, &cgs);
	CHECK(cgs.nr >= 2); /* v2 and the v1 memory and pids hierarchies here */
	/* the workspace, writable, seen from the host; /tmp, host name, ids */
	CHECK_INT(sh(a, &cmd,
		     "echo A >/workspace/a && echo t >/tmp/t && cat /tmp/t && pwd && "
		     "hostname && id -u && ls /workspace"),
		  0);
	CHECK_STR(cmd.out.buf, "t\n/workspace\nnightshift\n0\na\n");
	path = nsh_xasprintf("%s/a", pa.workspace);
	CHECK(nsh_fs_exists(path));
	free(path);
	/*
	 * Prepared by a filler thread at nice 19, yet the init and its
	 * commands run at NSH_SANDBOX_NICE like any sandbox's
	 */
	CHECK(thread_at_nice(19));
	CHECK_INT(sh(a, &cmd, "cut -d' ' -f19 /proc/self/stat /proc/1/stat"), 0);
	CHECK_STR(cmd.out.buf, NSH_SANDBOX_NICE_STR "\n" NSH_SANDBOX_NICE_STR "\n");
	/* the pids limit stops a fork bomb */
	CHECK_INT(sh(a, &cmd,
		     "for i in $(seq 100); do sleep 5 & done 2>/dev/null; "
		     "echo started"),
		  0);
	CHECK_INT(nsh_sandbox_usage(a, &u, &err), 0);
	CHECK(u.pids_max_hits > 0);
	/* the memory limit: 128 MiB in one process does not fit in 64 MiB */
	CHECK_INT(sh(a, &cmd,
		     "head -c 134217728 /dev/zero | tr '\\0' x | "
		     "(v=$(cat); echo ${#v})"),
		  0);
	CHECK(strcmp(cmd.out.buf, "134217728\n") != 0);
	CHECK_INT(nsh_sandbox_usage(a, &u, &err), 0);
	CHECK(u.oom_kills > 0);
	/* /tmp at half the memory limit: resized at FINISH from the pool's 1 GiB */
	CHECK_INT(sh(a, &cmd, "echo $(( $(stat -f -c '%b*%S' /tmp) ))"), 0);
	CHECK_STR(cmd.out.buf, "33554432\n");
	/*
	 * Landlock, its ruleset made ahead, holds: no device node in /tmp
	 * (EACCES from Landlock's mknod hook, which runs before the
	 * capability check that would say EPERM)
	 */
	CHECK_INT(sh(a, &cmd, "mknod /tmp/n c 1 3 2>&1 | grep -c 'Permission denied'"), 0);
	CHECK_STR(cmd.out.buf, "1\n");
	/*
	 * seccomp's mount part, loaded at FINISH, is there: fsopen() (no
	 * Landlock hook; root of its own user namespace may call it) is EPERM
	 */
	CHECK_INT(sh(a, &cmd,
		     "python3 -c \"import ctypes; l = ctypes.CDLL(None, use_errno=True); "
		     "print(l.syscall(430, b'tmpfs', 0), ctypes.get_errno())\""),
		  0);
	CHECK_STR(cmd.out.buf, "-1 1\n");
	/* a Landlock/seccomp-confined init: mount is refused */
	CHECK_INT(sh(a, &cmd, "mount -t tmpfs x /mnt 2>/dev/null; echo rc=$?"), 0);
	CHECK(strcmp(cmd.out.buf, "rc=0\n") != 0);

	/* job B, also from the pool, sees its own workspace only */
	CHECK_INT(nsh_sandbox_create(&pb, &b, &err), 0);
	if (b) {
		init_b = nsh_sandbox_init_pid(b);
		CHECK_INT(sh(b, &cmd,
			     "echo B >/workspace/b; ls -A /workspace; "
			     "ls /workspace/a 2>&1 >/dev/null | grep -c 'No such'"),
			  0);
		CHECK_STR(cmd.out.buf, "b\n1\n");
		/* no memory limit: /tmp keeps the pool's size */
		CHECK_INT(sh(b, &cmd, "echo $(( $(stat -f -c '%b*%S' /tmp) ))"), 0);
		CHECK_STR(cmd.out.buf, "1073741824\n");
	}
	CHECK(nsh_sandbox_pool_stats(&s2));
	CHECK(s2.taken + s2.missed >= s1.taken + 1);

	/* destroy: once the reaper is done, no process and no cgroup is left */
	CHECK_INT(nsh_sandbox_destroy(a, &err), 0);
	a = NULL;
	CHECK_INT(nsh_sandbox_destroy(b, &err), 0);
	b = NULL;
	CHECK(nsh_sandbox_pool_settle(20000));
	CHECK(gone(init_a));
	CHECK(init_b < 0 || gone(init_b));
	/*
	 * A's cgroups are gone, or serve a sandbox prepared since (reused):
	 * then its limits are undone and neither init is in them.
	 */
	CHECK(nsh_sandbox_pool_stats(&s2));
	CHECK(dirs_left(&cgs) == 0 || s2.cgroups_reused > s1.cgroups_reused);
	fprintf(stderr, "cgroups of A left (reused): %d of %zu; reused so far %llu\n",
		dirs_left(&cgs), cgs.nr, (unsigned long long)s2.cgroups_reused);
	for (size_t i = 0; i < cgs.nr; i++) {
		const char *d = cgs.v[i];

		if (!nsh_fs_is_dir(d))
			continue;
		CHECK(!holds_pid(d, init_a) && !holds_pid(d, init_b));
		if (strstr(d, "/memory/"))
			CHECK(read_u64(d, "memory.limit_in_bytes") > ((uint64_t)1 << 40));
		if (strstr(d, "/pids/"))
			CHECK_INT(read_u64(d, "pids.max"), UINT64_MAX); /* "max" */
	}

	/* refilled */
	CHECK_INT(s2.ready, s2.size);
	CHECK(s2.prepared >= s1.prepared + 1);
	CHECK_INT(s2.reaping, 0);

	/* @no_pool: the present path, the pool untouched */
	pc.no_pool = true;
	CHECK_INT(nsh_sandbox_create(&pc, &c, &err), 0);
	CHECK(nsh_sandbox_pool_stats(&s1));
	CHECK_INT(s1.taken, s2.taken);
	CHECK_INT(s1.ready, s2.ready);
	if (c) {
		CHECK_INT(sh(c, &cmd, "echo C >/workspace/c; cat /workspace/c"), 0);
		CHECK_STR(cmd.out.buf, "C\n");
		init_a = nsh_sandbox_init_pid(c);
		CHECK_INT(nsh_sandbox_destroy(c, &err), 0);
		c = NULL;
		CHECK(gone(init_a)); /* reaped on the caller's path */
	}

	/* NSH_SANDBOX_REUSE=0: a pooled sandbox's cgroups go with it */
	setenv("NSH_SANDBOX_REUSE", "0", 1);
	CHECK(nsh_sandbox_pool_stats(&s1));
	CHECK_INT(nsh_sandbox_create(&pb, &b, &err), 0);
	if (b) {
		nsh_strvec_release(&cgs);
		nsh_strvec_init(&cgs);
		init_b = nsh_sandbox_init_pid(b);
		sandbox_cgroups(init_b, &cgs);
		CHECK(cgs.nr >= 2);
		CHECK_INT(nsh_sandbox_destroy(b, &err), 0);
		b = NULL;
		CHECK(nsh_sandbox_pool_settle(20000));
		CHECK_INT(dirs_left(&cgs), 0);
		CHECK(nsh_sandbox_pool_stats(&s2));
		CHECK_INT(s2.cgroups_reused, s1.cgroups_reused);
	}
	unsetenv("NSH_SANDBOX_REUSE");
out:
	nsh_sandbox_destroy(a, NULL);
	nsh_sandbox_destroy(b, NULL);
	nsh_sandbox_destroy(c, NULL);
	nsh_strvec_release(&cgs);
	nsh_sandbox_cmd_release(&cmd);
	policy_release(&pa);
	policy_release(&pb);
	policy_release(&pc);
}

/*
 * In a process of its own: with NSH_SANDBOX_POOL=0 there is no pool; with
 * the pool on, exit() reaps the prepared sandboxes, so that nothing but the
 * cgroups of a sandbox still in use is left (for nsh_sandbox_cleanup_stale()).
 * Forked before this process has any thread.
 */
/*
 * A flush holds the filler off until its end, not only while it runs: a
 * prepare between the flush and the host's unmount would copy the mount
 * into the child, which keeps the file system and its loop device alive
 * (CI saw test_disk_cleanup's loop device still attached that way).
 */
static void test_pool_flush(void)
{
	struct nsh_sandbox_pool_stats s0, s1;

	if (geteuid() != 0 || pool_off()) {
		CHECK(!nsh_sandbox_pool_stats(&s0));
		return;
	}
	CHECK(nsh_sandbox_pool_settle(10000));
	nsh_sandbox_pool_flush(NULL);
	CHECK(nsh_sandbox_pool_stats(&s0));
	CHECK_INT(s0.ready, 0);
	nsh_time_sleep_ms(200);
	CHECK(nsh_sandbox_pool_stats(&s1));
	CHECK_INT(s1.ready, 0);
	CHECK_INT(s1.prepared, s0.prepared);
	nsh_sandbox_pool_flush_end();
	CHECK(nsh_sandbox_pool_settle(10000));
	CHECK(nsh_sandbox_pool_stats(&s1));
	CHECK_INT(s1.ready, s1.size);
	CHECK(s1.prepared > s0.prepared);
}

/*
 * A flush kills only the prepared sandboxes that hold a copy of the file
 * system being unmounted: those that cloned it with a system directory
 * (here a tmpfs under /var/tmp), not those that never saw it (one under
 * the test's directory, where workspaces are).
 */
static void test_pool_flush_keeps(void)
{
	struct nsh_sandbox_pool_stats s0, s1;
	char *held = nsh_xasprintf("/var/tmp/nsh-test-flush-%d", (int)getpid());
	char *free_mnt = nsh_xasprintf("%s/flush-mnt", dir);
	bool mounted[2] = {false, false};

	if (geteuid() != 0 || pool_off()) {
		CHECK(!nsh_sandbox_pool_stats(&s0));
		goto out;
	}
	nsh_fs_mkdir_p(held, 0700, NULL);
	nsh_fs_mkdir_p(free_mnt, 0700, NULL);
	mounted[0] = mount("tmpfs", held, "tmpfs", 0, "size=64k") == 0;
	mounted[1] = mount("tmpfs", free_mnt, "tmpfs", 0, "size=64k") == 0;
	CHECK(mounted[0] && mounted[1]);
	/* prepared anew, after the mounts: each cloned /var with the first */
	CHECK(nsh_sandbox_pool_settle(10000));
	nsh_sandbox_pool_flush(NULL);
	nsh_sandbox_pool_flush_end();
	CHECK(nsh_sandbox_pool_settle(10000));
	CHECK(nsh_sandbox_pool_stats(&s0));
	CHECK_INT(s0.ready, s0.size);

	nsh_sandbox_pool_flush(free_mnt);
	CHECK(nsh_sandbox_pool_stats(&s1));
	nsh_sandbox_pool_flush_end();
	CHECK_INT(s1.ready, s0.size);
	CHECK_INT(s1.flushed, s0.flushed);

	nsh_sandbox_pool_flush(held);
	CHECK(nsh_sandbox_pool_stats(&s1));
	CHECK_INT(umount2(held, 0), 0); /* no prepared sandbox keeps it busy */
	mounted[0] = false;
	nsh_sandbox_pool_flush_end();
	CHECK_INT(s1.ready, 0);
	CHECK_INT(s1.flushed, s0.flushed + s0.size);
	CHECK(nsh_sandbox_pool_settle(10000));
out:
	if (mounted[0])
		umount2(held, MNT_DETACH);
	if (mounted[1])
		umount2(free_mnt, MNT_DETACH);
	rmdir(held);
	rmdir(free_mnt);
	free(held);
	free(free_mnt);
}

static struct nsh_sandbox *kept; /* test_pool_exit: in use at exit */
static int exit_fd = -1;	 /* test_pool_exit: where report_left() writes */

/*
 * Registered before the pool's own exit handler, so run after it: how many
 * sandboxes of this process still have cgroups (the one in use is alive).
 */
static void report_left(void)
{
	struct nsh_strvec left;
	pid_t nr;

	nsh_strvec_init(&left);
	owner_cgroups(getpid(), &left);
	nr = (pid_t)left.nr;
	if (write(exit_fd, &nr, sizeof(nr)) < 0)
		_exit(3);
	nsh_strvec_release(&left);
}

static void test_pool_exit(void)
{
	for (int off = 0; off < 2; off++) {
		int fds[2];
		pid_t kid, inits[9];
		ssize_t n;
		int st, nr = 0;
		struct nsh_strvec left;

		if (geteuid() != 0 || pool_off() || pipe(fds) < 0)
			return;
		kid = fork();
		if (kid == 0) {
			struct nsh_sandbox_policy pol;
			struct nsh_sandbox_pool_stats s;
			struct nsh_sandbox *sb = NULL;
			pid_t ids[8] = {0};
			int k = 0, bad = 0;

			close(fds[0]);
			exit_fd = fds[1];
			atexit(report_left);
			if (off)
				setenv("NSH_SANDBOX_POOL", "0", 1);
			bad |= nsh_sandbox_pool_start(dir, NULL) != 0;
			policy(&pol, off ? "exit-off" : "exit-on");
			bad |= nsh_sandbox_create(&pol, &sb, NULL) != 0;
			nsh_sandbox_destroy(sb, NULL);
			sb = NULL;
			bad |= !nsh_sandbox_pool_settle(20000);
			bad |= nsh_sandbox_pool_stats(&s) == !!off;
			if (!off)
				bad |= s.ready < 1;
			/* one in use at exit */
			bad |= nsh_sandbox_create(&pol, &sb, NULL) != 0;
			if (sb)
				ids[k++] = nsh_sandbox_init_pid(sb);
			kept = sb; /* reachable at exit, for the leak checker */
			policy_release(&pol);
			if (!off) {
				/* the prepared ones: children of this process, named pool-* */
				DIR *d = opendir("/proc");
				struct dirent *e;

				while (d && (e = readdir(d)) && k < 8) {
					struct nsh_buf b = NSH_BUF_INIT;
					char *p = nsh_xasprintf("/proc/%s/stat", e->d_name);
					const char *rp;

					if (!nsh_fs_read_file(p, &b, 4096, NULL) &&
					    (rp = strrchr(b.buf, ')')) != NULL) {
						int ppid = 0;
						pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);

						if (sscanf(rp + 2, "%*c %d", &ppid) == 1 &&
						    ppid == getpid() && pid != ids[0])
							ids[k++] = pid;
					}
					nsh_buf_release(&b);
					free(p);
				}
				if (d)
					closedir(d);
			}
			if (write(fds[1], ids, sizeof(ids[0]) * (size_t)k) < 0)
				bad = 1;
			exit(bad);
		}
		close(fds[1]);
		n = 0;
		for (;;) {
			ssize_t got = read(fds[0], (char *)inits + n, sizeof(inits) - (size_t)n);

			if (got <= 0)
				break;
			n += got;
		}
		close(fds[0]);
		if (n > 0)
			nr = (int)(n / (ssize_t)sizeof(pid_t)) - 1; /* the last: report_left() */
		CHECK(waitpid(kid, &st, 0) == kid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(nr >= (off ? 1 : 2));
		/* every init dies with its owner: parent-death signal, closed socket */
		for (int i = 0; i < 100; i++) {
			int alive = 0;

			for (int j = 0; j < nr; j++)
				alive += !gone(inits[j]);
			if (!alive)
				break;
			nsh_time_sleep_ms(50);
		}
		for (int j = 0; j < nr; j++)
			CHECK(gone(inits[j]));
		/* after the pool's exit handler, only the one in use had cgroups */
		CHECK(nr >= 0 && inits[nr] == 1);
		/* the stale clean-up removes them once the owner is gone */
		CHECK_INT(nsh_sandbox_cleanup_stale(NULL, NULL), 0);
		nsh_strvec_release(&left);
		nsh_strvec_init(&left);
		owner_cgroups(kid, &left);
		CHECK_INT(left.nr, 0);
		nsh_strvec_release(&left);
	}
}

static void test_commands(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox_cmd c;
	struct nsh_sandbox *sb = NULL;
	char *path;

	policy(&pol, "cmds");
	nsh_sandbox_cmd_init(&c);
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (!sb) {
		fprintf(stderr, "create: %s\n", err.msg);
		policy_release(&pol);
		return;
	}
	CHECK_INT(sh(sb, &c, "echo out; echo err >&2; exit 7"), 0);
	CHECK_INT(c.exit_code, 7);
	CHECK_STR(c.out.buf, "out\n");
	CHECK_STR(c.err.buf, "err\n");

	/* /dev/stdout, /dev/stderr and /dev/stdin open the command's own pipes anew */
	nsh_sandbox_cmd_release(&c);
	nsh_sandbox_cmd_init(&c);
	nsh_strvec_pushl(&c.argv, "sh", "-c",
			 "echo o >/dev/stdout; echo e >/dev/stderr; cat /dev/stdin", NULL);
	c.in = "i\n";
	c.in_len = 2;
	CHECK_INT(nsh_sandbox_exec(sb, &c, &err), 0);
	CHECK_STR(c.out.buf, "o\ni\n");
	CHECK_STR(c.err.buf, "e\n");

	/* State persists between commands of one sandbox. */
	CHECK_INT(sh(sb, &c, "echo kept >/workspace/f; echo tmp >/tmp/t"), 0);
	CHECK_INT(sh(sb, &c, "cat /workspace/f /tmp/t; pwd; hostname; id -u"), 0);
	CHECK_STR(c.out.buf, "kept\ntmp\n/workspace\nnightshift\n0\n");
	path = nsh_xasprintf("%s/f", pol.workspace);
	CHECK(nsh_fs_exists(path));
	free(path);

	/* Environment: the base plus the command's own, which wins. */
	nsh_sandbox_cmd_release(&c);
	nsh_sandbox_cmd_init(&c);
	nsh_strvec_pushl(&c.argv, "sh", "-c", "echo $HOME $FOO; env | grep -c NIGHTSHIFT_HOME",
			 NULL);
	nsh_strvec_pushl(&c.env, "HOME=/workspace", "FOO=bar", NULL);
	CHECK_INT(nsh_sandbox_exec(sb, &c, &err), 0);
	CHECK_STR(c.out.buf, "/workspace bar\n0\n");

	/* stdin is fed, output is capped. */
	nsh_sandbox_cmd_release(&c);
	nsh_sandbox_cmd_init(&c);
	nsh_strvec_push(&c.argv, "cat");
	c.in = "piped through";
	c.in_len = strlen(c.in);
	CHECK_INT(nsh_sandbox_exec(sb, &c, &err), 0);
	CHECK_STR(c.out.buf, "piped through");
	nsh_sandbox_cmd_release(&c);
	nsh_sandbox_cmd_init(&c);
	nsh_strvec_pushl(&c.argv, "head", "-c", "100000", "/dev/zero", NULL);
	c.out_max = 1000;
	CHECK_INT(nsh_sandbox_exec(sb, &c, &err), 0);
	CHECK_INT(c.out.len, 1000);
	CHECK(c.out_truncated);

	/*
	 * The sandbox's commands yield the CPU to the orchestrator: nice 10,
	 * and so is its scheduler autogroup (its own session's, not ours)
	 * where the kernel has autogroups. Ours is empty (the kernel's default
	 * group) when no process above this one called setsid(), as under CI.
	 */
	CHECK_INT(sh(sb, &c, "nice"), 0);
	CHECK_STR(c.out.buf, "10\n");
	{
		struct nsh_buf ours = NSH_BUF_INIT, theirs = NSH_BUF_INIT;
		char *ag = nsh_xasprintf("/proc/%d/autogroup", (int)nsh_sandbox_init_pid(sb));

		if (!nsh_fs_read_file("/proc/self/autogroup", &ours, 4096, NULL) &&
		    !nsh_fs_read_file(ag, &theirs, 4096, NULL)) {
			size_t n = strcspn(theirs.buf, " ");

			CHECK(!strncmp(theirs.buf, "/autogroup-", 11));
			CHECK(strstr(theirs.buf, " nice 10") != NULL);
			if (ours.len) {
				CHECK(strncmp(ours.buf, theirs.buf, n) || ours.buf[n] != ' ');
				CHECK(strstr(ours.buf, " nice 0") != NULL);
			}
		}
		free(ag);
		nsh_buf_release(&ours);
		nsh_buf_release(&theirs);
	}

	/* A program that is not there is an error naming it. */
	nsh_sandbox_cmd_release(&c);
	nsh_sandbox_cmd_init(&c);
	nsh_strvec_push(&c.argv, "no-such-program");
	CHECK_INT(nsh_sandbox_exec(sb, &c, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "'no-such-program'") != NULL);

	/* Leftovers of a finished command do not survive it. */
	CHECK_INT(sh(sb, &c, "sleep 100 & echo started"), 0);
	CHECK_INT(sh(sb, &c, "ps -e -o comm= 2>/dev/null | grep -c sleep || true"), 0);
	CHECK_STR(c.out.buf, "0\n");

	/* A command's time limit kills it; the sandbox lives on. */
	nsh_sandbox_cmd_release(&c);
	nsh_sandbox_cmd_init(&c);
	nsh_strvec_pushl(&c.argv, "sleep", "100", NULL);
	c.timeout_ms = 200;
	CHECK_INT(nsh_sandbox_exec(sb, &c, &err), 0);
	CHECK(c.timed_out);
	CHECK_INT(c.term_signal, SIGKILL);
	CHECK(c.elapsed_ms < 5000);
	CHECK_INT(sh(sb, &c, "echo alive"), 0);
	CHECK_STR(c.out.buf, "alive\n");

	CHECK_INT(nsh_sandbox_destroy(sb, &err), 0);
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
}

struct runner {
	struct nsh_sandbox *sb;	    /* shared with the main thread */
	struct nsh_sandbox_cmd cmd; /* the busy loop */
	int rc;			    /* nsh_sandbox_exec's result */
};

static void *run_busy(void *arg)
{
	struct runner *r = arg;

	r->rc = nsh_sandbox_exec(r->sb, &r->cmd, NULL);
	return NULL;
}

static void test_pause_resume_kill(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox_usage u0, u1, u2;
	struct runner r = {0};
	struct nsh_strvec cgs;
	const char *name;
	pthread_t th;
	pid_t init;

	policy(&pol, "pause");
	nsh_strvec_init(&cgs);
	pol.pids = 64;
	name = strrchr(pol.state_dir, '/') + 1;
	CHECK_INT(nsh_sandbox_create(&pol, &r.sb, &err), 0);
	if (!r.sb) {
		fprintf(stderr, "create: %s\n", err.msg);
		policy_release(&pol);
		return;
	}
	init = nsh_sandbox_init_pid(r.sb);
	sandbox_cgroups(init, &cgs);
	CHECK(cgs.nr > 0);
	nsh_sandbox_cmd_init(&r.cmd);
	nsh_strvec_pushl(&r.cmd.argv, "sh", "-c", "while :; do :; done", NULL);
	pthread_create(&th, NULL, run_busy, &r);
	nsh_time_sleep_ms(300);

	CHECK_INT(nsh_sandbox_pause(r.sb, &err), 0);
	CHECK_INT(nsh_sandbox_usage(r.sb, &u0, &err), 0);
	nsh_time_sleep_ms(500);
	CHECK_INT(nsh_sandbox_usage(r.sb, &u1, &err), 0);
	/* Frozen: no CPU at all (a few ms of slack for the freeze itself). */
	CHECK(u1.cpu_usec - u0.cpu_usec < 5000);
	CHECK_INT(nsh_sandbox_resume(r.sb, &err), 0);
	/*
	 * Running again: it gets CPU time. On a loaded machine it may wait for
	 * a core, so wait for 100 ms of CPU for up to 30 s instead of timing it.
	 */
	for (int i = 0; i < 300; i++) {
		nsh_time_sleep_ms(100);
		CHECK_INT(nsh_sandbox_usage(r.sb, &u2, &err), 0);
		if (u2.cpu_usec - u1.cpu_usec > 100000)
			break;
	}
	CHECK(u2.cpu_usec - u1.cpu_usec > 100000);

	CHECK_INT(nsh_sandbox_kill(r.sb, &err), 0);
	pthread_join(th, NULL);
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.cmd.term_signal, SIGKILL);
	CHECK_INT(nsh_sandbox_destroy(r.sb, &err), 0);
	/* Nothing left once a pooled sandbox's reaping is done: the init, mounts, cgroups. */
	CHECK(nsh_sandbox_pool_settle(20000));
	CHECK(kill(init, 0) < 0 && errno == ESRCH);
	CHECK(!mounted_under(pol.state_dir));
	CHECK(!cgroup_left(name));
	CHECK_INT(dirs_left(&cgs), 0);
	nsh_strvec_release(&cgs);
	nsh_sandbox_cmd_release(&r.cmd);
	policy_release(&pol);
}

static void test_disk_cleanup(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox_usage u;
	struct nsh_sandbox_cmd c;
	struct nsh_sandbox *sb = NULL;
	char *image;

	policy(&pol, "disk");
	pol.disk = 16 << 20;
	nsh_sandbox_cmd_init(&c);
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (!sb) {
		fprintf(stderr, "create: %s\n", err.msg);
		policy_release(&pol);
		return;
	}
	image = nsh_xasprintf("%s/disk.img", pol.state_dir);
	CHECK(mounted_under(pol.workspace));
	CHECK_INT(sh(sb, &c, "head -c 4000000 /dev/zero >/workspace/blob; echo $?"), 0);
	CHECK_STR(c.out.buf, "0\n");
	CHECK_INT(nsh_sandbox_usage(sb, &u, &err), 0);
	CHECK(u.disk_used >= 4000000);
	CHECK_INT(nsh_sandbox_destroy(sb, &err), 0);
	CHECK(!mounted_under(pol.workspace));
	CHECK(!nsh_fs_exists(image));
	CHECK(!loop_backs(image));
	free(image);
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
}

/*
 * Without a memory hierarchy, a memory limit falls back to RLIMIT_AS for
 * every command, and the sandbox says that this is weaker; a CPU limit has
 * no fallback and is refused.
 */
static void test_rlimit_fallback(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox_cmd c;
	struct nsh_sandbox *sb = NULL;

	policy(&pol, "fallback");
	nsh_sandbox_cmd_init(&c);
	pol.memory = 64 << 20;
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (sb) {
		CHECK(strstr(nsh_sandbox_guarantees(sb), "memory: v") != NULL);
		CHECK(strstr(nsh_sandbox_guarantees(sb), "weaker") == NULL);
		nsh_sandbox_destroy(sb, &err);
		sb = NULL;
	}
	nsh_cgroup_testing_hide(NSH_CGROUP_TESTING_HIDE_V1);
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (sb) {
		CHECK(strstr(nsh_sandbox_guarantees(sb), "RLIMIT_AS") != NULL);
		CHECK(strstr(nsh_sandbox_guarantees(sb), "weaker") != NULL);
		/* A 256 MiB buffer does not fit in a 64 MiB address space. */
		CHECK_INT(
			sh(sb, &c, "dd if=/dev/zero of=/dev/null bs=256M count=1 2>&1; echo rc=$?"),
			0);
		CHECK(strstr(c.out.buf, "rc=1") != NULL);
		CHECK_INT(sh(sb, &c,
			     "dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null; echo rc=$?"),
			  0);
		CHECK_STR(c.out.buf, "rc=0\n");
		nsh_sandbox_destroy(sb, &err);
		sb = NULL;
	}
	pol.memory = 0;
	pol.cpus = 0.5;
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), NSH_EDENIED);
	CHECK(strstr(err.msg, "cpu") != NULL);
	CHECK(sb == NULL);
	nsh_cgroup_testing_hide(0);
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
}

static void *block_on(void *arg)
{
	char c;

	return read(*(int *)arg, &c, 1) < 0 ? NULL : arg;
}

/*
 * A daemon creates sandboxes while other threads run. glibc's set*id
 * wrappers in the cloned child would wait for those threads forever.
 */
static void test_create_while_threaded(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox_cmd c;
	int fds[2];
	pthread_t th[3];

	policy(&pol, "threads");
	nsh_sandbox_cmd_init(&c);
	CHECK_INT(pipe(fds), 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, block_on, &fds[0]);
	for (int i = 0; i < 8; i++) {
		struct nsh_sandbox *sb = NULL;

		CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
		if (!sb)
			break;
		CHECK_INT(sh(sb, &c, "echo up"), 0);
		CHECK_STR(c.out.buf, "up\n");
		nsh_sandbox_destroy(sb, &err);
	}
	CHECK_INT(write(fds[1], "xyz", 3), 3);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	close(fds[0]);
	close(fds[1]);
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
}

/*
 * Two sandboxes alive at once are in two network namespaces, neither the
 * host's (pooled or not), each with loopback up where a job may listen
 * even on a low port.
 */
static void test_network_namespaces(void)
{
	static const char listen_low[] =
		"import socket\n"
		"s = socket.socket(); s.bind(('127.0.0.1', 80)); s.listen(1)\n"
		"c = socket.create_connection(('127.0.0.1', 80)); a, _ = s.accept()\n"
		"c.sendall(b'hi'); print(a.recv(2).decode())\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol[2];
	struct nsh_sandbox *sb[2] = {NULL, NULL};
	struct nsh_sandbox_cmd c[2];
	char host[64] = "";
	ssize_t n = readlink("/proc/self/ns/net", host, sizeof(host) - 1);

	CHECK(n > 0);
	for (int i = 0; i < 2; i++) {
		policy(&pol[i], i ? "net-b" : "net-a");
		nsh_sandbox_cmd_init(&c[i]);
		CHECK_INT(nsh_sandbox_create(&pol[i], &sb[i], &err), 0);
	}
	if (sb[0] && sb[1]) {
		for (int i = 0; i < 2; i++) {
			CHECK_INT(sh(sb[i], &c[i], "readlink /proc/self/ns/net"), 0);
			CHECK(!strncmp(c[i].out.buf, "net:[", 5));
			CHECK(strncmp(c[i].out.buf, host, strlen(host)) != 0);
		}
		CHECK(strcmp(c[0].out.buf, c[1].out.buf) != 0);
		nsh_sandbox_cmd_release(&c[0]);
		nsh_sandbox_cmd_init(&c[0]);
		nsh_strvec_pushl(&c[0].argv, "python3", "-c", listen_low, NULL);
		CHECK_INT(nsh_sandbox_exec(sb[0], &c[0], &err), 0);
		CHECK_INT(c[0].exit_code, 0);
		CHECK_STR(c[0].out.buf, "hi\n");
	}
	for (int i = 0; i < 2; i++) {
		CHECK_INT(nsh_sandbox_destroy(sb[i], &err), 0);
		nsh_sandbox_cmd_release(&c[i]);
		policy_release(&pol[i]);
	}
}

/*
 * Run python3 -c @code in a new sandbox of network none, not from the
 * pool, and destroy it; its output (the caller frees it), or NULL when it
 * failed.
 */
static char *python_once(const char *name, const char *code)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox *sb = NULL;
	struct nsh_sandbox_cmd c;
	char *out = NULL;

	policy(&pol, name);
	pol.no_pool = true; /* its namespace from the network namespace pool, now */
	nsh_sandbox_cmd_init(&c);
	CHECK(nsh_sandbox_pool_settle(10000));
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (sb) {
		nsh_strvec_pushl(&c.argv, "python3", "-c", code, NULL);
		CHECK_INT(nsh_sandbox_exec(sb, &c, &err), 0);
		if (c.exit_code == 0)
			out = nsh_xstrdup(c.out.len ? c.out.buf : "");
		else
			fprintf(stderr, "%s: %s", name, c.err.len ? c.err.buf : "failed\n");
		CHECK_INT(nsh_sandbox_destroy(sb, &err), 0);
	}
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
	return out;
}

/*
 * A sandbox's network namespace goes back to the pool when nothing is left
 * in it, and serves the next sandbox; one left with a connection in
 * TIME_WAIT does not, so the next sandbox can bind that port afresh.
 */
static void test_network_namespace_reuse(void)
{
	static const char ns[] = "import os; print(os.readlink('/proc/self/ns/net'))";
	static const char time_wait[] =
		"import os, socket\n"
		"l = socket.socket(); l.bind(('127.0.0.1', 7000)); l.listen(1)\n"
		"c = socket.create_connection(('127.0.0.1', 7000)); a, _ = l.accept()\n"
		"a.close(); c.recv(1); c.close(); l.close()\n" /* the server's side in TIME_WAIT */
		"print(os.readlink('/proc/self/ns/net'))\n";
	static const char bind_again[] =
		"import os, socket\n"
		"s = socket.socket(); s.bind(('127.0.0.1', 7000))\n" /* no SO_REUSEADDR */
		"print(os.readlink('/proc/self/ns/net'))\n";
	struct nsh_netns_pool *np = nsh_netns_pool_default();
	char *a, *b, *c;
	size_t reused;

	if (!np) {
		printf("# no network namespace pool (not root): skipped\n");
		return;
	}
	CHECK(nsh_sandbox_pool_settle(10000)); /* earlier tests' pooled sandboxes reaped */
	CHECK(nsh_netns_pool_wait_full(np, 10000));
	reused = nsh_netns_pool_reused(np);
	a = python_once("reuse-a", ns);
	CHECK(nsh_netns_pool_wait_full(np, 10000));
	CHECK(nsh_netns_pool_reused(np) > reused);
	/* the next create takes the last namespace given back */
	b = python_once("reuse-b", time_wait);
	CHECK(a && b && !strcmp(a, b));
	CHECK(nsh_netns_pool_wait_full(np, 10000));
	/* b's namespace, reused, would refuse the bind */
	c = python_once("reuse-c", bind_again);
	CHECK(c && b && strcmp(b, c) != 0);
	free(a);
	free(b);
	free(c);

	/* NSH_SANDBOX_REUSE=0: none given back */
	setenv("NSH_SANDBOX_REUSE", "0", 1);
	CHECK(nsh_netns_pool_wait_full(np, 10000));
	reused = nsh_netns_pool_reused(np);
	a = python_once("reuse-off-a", ns);
	CHECK(nsh_netns_pool_wait_full(np, 10000));
	b = python_once("reuse-off-b", ns);
	CHECK(nsh_netns_pool_wait_full(np, 10000));
	CHECK_INT(nsh_netns_pool_reused(np), reused);
	CHECK(a && b && strcmp(a, b) != 0);
	unsetenv("NSH_SANDBOX_REUSE");
	free(a);
	free(b);
}

/* A policy with a timing record gets every phase of create, exec and destroy filled. */
static void test_timing(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox_timing t;
	struct nsh_sandbox *sb = NULL;
	struct nsh_sandbox_cmd c;
	int negative = 0, named = 0;

	policy(&pol, "timing");
	memset(&t, 0xff, sizeof(t)); /* create clears it */
	pol.timing = &t;
	nsh_sandbox_cmd_init(&c);
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (sb) {
		CHECK_INT(sh(sb, &c, "true"), 0);
		CHECK_INT(nsh_sandbox_destroy(sb, &err), 0);
	}
	for (int p = 0; p < NSH_PHASE_NR; p++) {
		negative += t.ns[p] < 0;
		named += strcmp(nsh_sandbox_phase_name(p), "unknown") != 0;
	}
	CHECK_INT(negative, 0);
	CHECK_INT(named, NSH_PHASE_NR);
	CHECK_STR(nsh_sandbox_phase_name(NSH_PHASE_NR), "unknown");
	/* one from each part: supervisor, child, exec, destroy */
	CHECK(t.ns[NSH_PHASE_CLONE] > 0);
	CHECK(t.ns[NSH_PHASE_C_SYSDIRS] > 0);
	CHECK(t.ns[NSH_PHASE_C_PIVOT] > 0);
	CHECK(t.ns[NSH_PHASE_C_SECCOMP] > 0);
	CHECK(t.ns[NSH_PHASE_EXEC_START] > 0);
	CHECK(t.ns[NSH_PHASE_EXEC_RUN] > 0);
	CHECK(t.ns[NSH_PHASE_KILL] > 0);
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
}

/*
 * /dev: the device nodes work, /dev/shm and /dev/pts are the sandbox's own.
 * With the template (the default here, as root) /dev is a clone of one
 * read-only superblock shared by every sandbox: nothing can be made in
 * it; built by the child (@tmpl false), it is a writable tmpfs of its own.
 */
static void check_dev(bool tmpl, bool pooled)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol, pol2;
	struct nsh_sandbox *a = NULL, *b = NULL;
	struct nsh_sandbox_cmd c;

	policy(&pol, "dev");
	policy(&pol2, "dev2");
	pol.no_pool = pol2.no_pool = !pooled;
	nsh_sandbox_dev_template_off(!tmpl);
	nsh_sandbox_cmd_init(&c);
	CHECK_INT(nsh_sandbox_create(&pol, &a, &err), 0);
	CHECK_INT(nsh_sandbox_create(&pol2, &b, &err), 0);
	if (a && b) {
		CHECK_INT(sh(a, &c,
			     "echo x >/dev/null && head -c 3 /dev/zero | wc -c && "
			     "head -c 4 /dev/urandom | wc -c && head -c 4 /dev/random | wc -c; "
			     "echo x 2>/dev/null >/dev/full || echo full; "
			     "ls /dev/fd/0 >/dev/null && echo fds; "
			     "test -c /dev/tty && test -e /dev/pts/ptmx && echo pts"),
			  0);
		CHECK_STR(c.out.buf, "3\n4\n4\nfull\nfds\npts\n");
		CHECK_INT(sh(a, &c, "touch /dev/made 2>&1 | grep -c 'Read-only file system'"), 0);
		CHECK_STR(c.out.buf, tmpl ? "1\n" : "0\n");
		/* the superblock's own options (after the " - " separator) */
		CHECK_INT(sh(a, &c,
			     "awk '$5 == \"/dev\" { print $(NF) }' /proc/self/mountinfo | "
			     "cut -d, -f1"),
			  0);
		CHECK_STR(c.out.buf, tmpl ? "ro\n" : "rw\n");
		CHECK_INT(sh(a, &c, "echo mine >/dev/shm/s && cat /dev/shm/s"), 0);
		CHECK_STR(c.out.buf, "mine\n");
		CHECK_INT(sh(b, &c, "ls /dev/shm /dev/pts | grep -c -e '^s$' -e made"), 0);
		CHECK_STR(c.out.buf, "0\n");
	}
	if (a)
		CHECK_INT(nsh_sandbox_destroy(a, &err), 0);
	if (b)
		CHECK_INT(nsh_sandbox_destroy(b, &err), 0);
	nsh_sandbox_dev_template_off(false);
	nsh_sandbox_cmd_release(&c);
	policy_release(&pol);
	policy_release(&pol2);
}

static void test_dev(void)
{
	CHECK(nsh_sandbox_dev_template() >= 0); /* root on a recent kernel */
	check_dev(true, false);
	check_dev(true, true);
	check_dev(false, false);
}

static void test_refusals(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol;
	struct nsh_sandbox *sb = NULL;

	policy(&pol, "refuse");
	pol.network = NSH_NET_OPEN;
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "needs an egress proxy") != NULL);
	CHECK(sb == NULL);
	pol.network = NSH_NET_NONE;
	free((char *)pol.workspace);
	pol.workspace = nsh_xasprintf("%s/does-not-exist", dir);
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "does-not-exist") != NULL);
	policy_release(&pol);
}

/*
 * The control socket: a peer that said its last word and closed with a
 * message of ours unread still has its word read (the kernel reports
 * ECONNRESET first on a SEQPACKET socket), then the end.
 */
static void test_ctl_last_word(void)
{
	struct nsh_ctl_msg m = {.type = NSH_CTL_RUN}, got;
	int sp[2], fds[1];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
	CHECK_INT(nsh_ctl_send(sp[0], &m, NULL, 0, NULL, 0), 0); /* never read */
	m.type = NSH_CTL_FAILED;
	m.errnum = EBADF;
	CHECK_INT(nsh_ctl_send(sp[1], &m, NULL, 0, NULL, 0), 0);
	close(sp[1]);
	memset(&got, 0, sizeof(got));
	CHECK_INT(nsh_ctl_recv(sp[0], &got, sizeof(got), fds, 1), (ssize_t)sizeof(got));
	CHECK_INT(got.type, NSH_CTL_FAILED);
	CHECK_INT(got.errnum, EBADF);
	CHECK_INT(nsh_ctl_recv(sp[0], &got, sizeof(got), fds, 1), 0);
	close(sp[0]);
}

int main(void)
{
	dir = t_tmpdir();
	RUN(test_pool_exit); /* first: it forks */
	RUN(test_ctl_last_word);
	if (nsh_sandbox_pool_start(dir, NULL))
		t_fail++;
	RUN(test_commands);
	RUN(test_pause_resume_kill);
	RUN(test_disk_cleanup);
	RUN(test_create_while_threaded);
	RUN(test_rlimit_fallback);
	RUN(test_network_namespaces);
	RUN(test_network_namespace_reuse);
	RUN(test_timing);
	RUN(test_refusals);
	RUN(test_dev);
	RUN(test_pool);
	RUN(test_pool_flush);
	RUN(test_pool_flush_keeps);
	nsh_fs_remove_tree(dir, NULL);
	free(dir);
	return TEST_DONE();
}
