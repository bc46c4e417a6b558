/*
 * Tests for the per-sandbox cgroups, run as root against the real cgroup
 * file systems: the limits are enforced (a memory hog is OOM-killed, a fork
 * loop hits the pids limit), freeze stops CPU use, kill and destroy leave
 * nothing behind, and leftovers of a dead owner are cleaned up.
 */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "core/vec.h"
#include "test.h"

#include "core/banned.h"

#define MIB ((uint64_t)1 << 20)

/* Contents of @dir/@file without surrounding white space; the caller frees it. */
static char *read_trim(const char *dir, const char *file)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/%s", dir, file);

	if (nsh_fs_read_file(path, &b, 1 << 20, NULL) < 0) {
		free(path);
		return nsh_xstrdup("(unreadable)");
	}
	free(path);
	nsh_buf_trim(&b);
	return nsh_buf_detach(&b, NULL);
}

/* Write @val into the cgroup file @dir/@file (cgroupfs allows no temporary files). */
static bool write_file(const char *dir, const char *file, const char *val)
{
	char *path = nsh_xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, val, strlen(val)) == (ssize_t)strlen(val);

	if (fd >= 0)
		close(fd);
	free(path);
	return ok;
}

static bool file_has_line(const char *dir, const char *file, const char *line)
{
	char *text = read_trim(dir, file);
	size_t len = strlen(line);
	bool found = false;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, len) && (p[len] == '\n' || !p[len]))
			found = true;
	free(text);
	return found;
}

/* Every directory the sandbox uses, for checking that destroy removed them. */
static void collect_dirs(const struct nsh_cgroup *cg, struct nsh_strvec *out)
{
	for (int r = 0; r < NSH_CGROUP_RES_NR; r++) {
		const char *dir = NULL;

		nsh_cgroup_via(cg, (enum nsh_cgroup_res)r, &dir);
		if (dir && nsh_strvec_find(out, dir) < 0)
			nsh_strvec_push(out, dir);
	}
}

static int count_existing(const struct nsh_strvec *dirs)
{
	const char *d;
	int n = 0;

	nsh_vec_foreach(d, dirs) {
		if (nsh_fs_exists(d))
			n++;
	}
	return n;
}

/*
 * Fork a child that waits until the parent writes to *@go_fd (after
 * attaching it) and then runs @body(@arg), which never returns.
 */
static pid_t spawn_waiting(void (*body)(int), int arg, int *go_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		char c;

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(99);
		body(arg);
		_exit(0);
	}
	close(p[0]);
	*go_fd = p[1];
	return pid;
}

static void go(int fd)
{
	if (write(fd, "g", 1) != 1)
		abort();
	close(fd);
}

static void body_hog(int mib)
{
	size_t len = (size_t)mib * MIB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(98);
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	_exit(0);
}

static void body_sleep(int unused)
{
	(void)unused;
	for (;;)
		pause();
}

static void body_busy(int unused)
{
	volatile unsigned long n = 0;

	(void)unused;
	for (;;)
		n++;
}

/* Fork @n sleeping children, then sleep. */
static void body_tree(int n)
{
	for (int i = 0; i < n; i++)
		if (fork() == 0)
			break;
	body_sleep(0);
}

/* Fork until fork fails; report "<forked> <errno>" on @fd, then sleep. */
static void body_forker(int fd)
{
	int n = 0, e = 0;
	char msg[32];

	for (; n < 64; n++) {
		pid_t pid = fork();

		if (pid == 0)
			body_sleep(0);
		if (pid < 0) {
			e = errno;
			break;
		}
	}
	snprintf(msg, sizeof(msg), "%d %d", n, e);
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(97);
	body_sleep(0);
}

/*
 * waitpid() with a deadline; returns the status, or -1 when @pid did not end
 * in time (it is then sent SIGKILL and not waited for: a task frozen by the
 * v1 freezer would never end, and the test must not hang).
 */
static int wait_for(pid_t pid, int ms)
{
	int64_t end = nsh_time_mono_ms() + ms;
	int st;

	while (nsh_time_mono_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		nsh_time_sleep_ms(2);
	}
	kill(pid, SIGKILL);
	return -1;
}

/* Reap orphans handed to us as subreaper (grandchildren of killed children). */
static void reap_orphans(void)
{
	int64_t end = nsh_time_mono_ms() + 2000;

	while (nsh_time_mono_ms() < end) {
		pid_t r = waitpid(-1, NULL, WNOHANG);

		if (r < 0)
			return; /* ECHILD: none left */
		if (r == 0)
			nsh_time_sleep_ms(2);
	}
}

static bool killed_by(int st, int sig)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static void destroy_checked(struct nsh_cgroup *cg)
{
	struct nsh_strvec dirs = NSH_STRVEC_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	collect_dirs(cg, &dirs);
	CHECK(dirs.nr >= 1);
	CHECK_INT(count_existing(&dirs), (int)dirs.nr);
	CHECK_INT(nsh_cgroup_destroy(cg, &err), 0);
	if (err.code)
		fprintf(stderr, "destroy: %s\n", err.msg);
	CHECK_INT(count_existing(&dirs), 0);
	nsh_strvec_release(&dirs);
}

/* Limits read back from the files of whichever hierarchy serves them; OOM. */
static void test_limits_and_oom(void)
{
	struct nsh_cgroup_limits lim = {64 * MIB, 16, 0.5};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	struct nsh_cgroup_usage u;
	int64_t t0 = nsh_time_mono_ns();
	const char *mdir, *pdir, *cdir;
	enum nsh_cgroup_via mv, pv, cv;
	char *s;
	int fd, st;
	pid_t pid;

	CHECK_INT(nsh_cgroup_create("t-limits", &lim, &cg, &err), 0);
	if (!cg) {
		fprintf(stderr, "create: %s\n", err.msg);
		return;
	}
	fprintf(stderr, "create with 3 limits: %.3f ms; %s\n", (nsh_time_mono_ns() - t0) / 1e6,
		nsh_cgroup_describe(cg));
	mv = nsh_cgroup_via(cg, NSH_CGROUP_RES_MEMORY, &mdir);
	pv = nsh_cgroup_via(cg, NSH_CGROUP_RES_PIDS, &pdir);
	cv = nsh_cgroup_via(cg, NSH_CGROUP_RES_CPU, &cdir);
	CHECK(mv == NSH_CGROUP_VIA_V1 || mv == NSH_CGROUP_VIA_V2);
	CHECK(pv == NSH_CGROUP_VIA_V1 || pv == NSH_CGROUP_VIA_V2);
	CHECK(cv == NSH_CGROUP_VIA_V1 || cv == NSH_CGROUP_VIA_V2);
	CHECK(strstr(nsh_cgroup_describe(cg), "memory: v") != NULL);
	if (mv == NSH_CGROUP_VIA_V2) {
		s = read_trim(mdir, "memory.max");
		CHECK_STR(s, "67108864");
		free(s);
		s = read_trim(mdir, "memory.swap.max");
		CHECK(!strcmp(s, "0") ||
		      !strcmp(s, "(unreadable)")); /* absent without swap accounting */
		free(s);
	} else if (mv == NSH_CGROUP_VIA_V1) {
		char *memsw = nsh_xasprintf("%s/memory.memsw.limit_in_bytes", mdir);

		s = read_trim(mdir, "memory.limit_in_bytes");
		CHECK_STR(s, "67108864");
		free(s);
		if (nsh_fs_exists(memsw)) {
			s = read_trim(mdir, "memory.memsw.limit_in_bytes");
			CHECK_STR(s, "67108864");
			free(s);
		}
		free(memsw);
	}
	if (pv != NSH_CGROUP_VIA_NONE) {
		s = read_trim(pdir, "pids.max");
		CHECK_STR(s, "16");
		free(s);
	}
	if (cv == NSH_CGROUP_VIA_V2) {
		s = read_trim(cdir, "cpu.max");
		CHECK_STR(s, "50000 100000");
		free(s);
	} else if (cv == NSH_CGROUP_VIA_V1) {
		s = read_trim(cdir, "cpu.cfs_quota_us");
		CHECK_STR(s, "50000");
		free(s);
		s = read_trim(cdir, "cpu.cfs_period_us");
		CHECK_STR(s, "100000");
		free(s);
	}

	/* a 200 MiB hog dies by the OOM killer; this process does not */
	pid = spawn_waiting(body_hog, 200, &fd);
	CHECK_INT(nsh_cgroup_attach(cg, pid, &err), 0);
	go(fd);
	st = wait_for(pid, 10000);
	CHECK(killed_by(st, SIGKILL));
	CHECK_INT(nsh_cgroup_usage(cg, &u, &err), 0);
	fprintf(stderr, "hog: status %#x, oom_kills %llu, memory_peak %.1f MiB\n", st,
		(unsigned long long)u.oom_kills, (double)u.memory_peak / MIB);
	CHECK(u.oom_kills >= 1);
	CHECK(u.memory_peak >= 32 * MIB);
	CHECK(u.memory_peak <= 66 * MIB);
	CHECK(nsh_cgroup_empty(cg));

	/* a process that is gone cannot be attached, and the error says so */
	CHECK_INT(nsh_cgroup_attach(cg, pid, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, "cgroup.procs") != NULL);
	destroy_checked(cg);
}

/* A fork loop in the sandbox gets EAGAIN at the pids limit. */
static void test_pids(void)
{
	struct nsh_cgroup_limits lim = {0, 16, 0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	struct nsh_cgroup_usage u;
	int rp[2], fd, n = -1, e = -1;
	char msg[64] = "";
	ssize_t got;
	pid_t pid;

	CHECK_INT(nsh_cgroup_create("t-pids", &lim, &cg, &err), 0);
	if (!cg)
		return;
	CHECK_INT(pipe2(rp, O_CLOEXEC), 0);
	pid = spawn_waiting(body_forker, rp[1], &fd);
	close(rp[1]);
	CHECK_INT(nsh_cgroup_attach(cg, pid, &err), 0);
	go(fd);
	/* bounded: the forker's children hold the write end open */
	got = poll(&(struct pollfd){rp[0], POLLIN, 0}, 1, 5000) == 1
		      ? read(rp[0], msg, sizeof(msg) - 1)
		      : -1;
	close(rp[0]);
	if (got > 0)
		msg[got] = '\0';
	CHECK_INT(sscanf(msg, "%d %d", &n, &e), 2);
	fprintf(stderr, "fork loop: %d forks, then errno %d\n", n, e);
	CHECK_INT(e, EAGAIN);
	CHECK_INT(n, 15); /* the forker itself is the 16th task */
	CHECK_INT(nsh_cgroup_usage(cg, &u, &err), 0);
	CHECK(u.pids_max_hits >= 1);
	CHECK_INT(u.pids_current, 16);

	/* kill takes the whole tree, and the forker dies by SIGKILL */
	CHECK_INT(nsh_cgroup_kill(cg, &err), 0);
	CHECK(nsh_cgroup_empty(cg));
	CHECK(killed_by(wait_for(pid, 2000), SIGKILL));
	reap_orphans();
	CHECK_INT(nsh_cgroup_usage(cg, &u, &err), 0);
	CHECK_INT(u.pids_current, 0);
	destroy_checked(cg);
}

/* Write @mib MiB to a file in the current directory and sync it: page cache charged to us. */
static void body_write(int mib)
{
	static char block[1 << 20];
	int fd = open("reuse-cache", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	memset(block, 'c', sizeof(block));
	for (int i = 0; fd >= 0 && i < mib; i++)
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			_exit(96);
	_exit(fd >= 0 && fsync(fd) == 0 ? 0 : 95);
}

/* Wait until the memory cgroup @dir is charged with at most @max bytes; false if not in @ms. */
static bool charge_below(const char *dir, uint64_t max, int ms)
{
	int64_t end = nsh_time_mono_ms() + ms;

	for (;;) {
		char *v = read_trim(dir, "memory.usage_in_bytes");
		bool ok = v && strtoull(v, NULL, 10) <= max;

		free(v);
		if (ok)
			return true;
		if (nsh_time_mono_ms() > end)
			return false;
		nsh_time_sleep_ms(10);
	}
}

/* Run @body(@arg) in @cg until it exits; its exit status. */
static int run_in(struct nsh_cgroup *cg, void (*body)(int), int arg)
{
	struct nsh_err err = NSH_ERR_INIT;
	int fd;
	pid_t pid = spawn_waiting(body, arg, &fd);

	CHECK_INT(nsh_cgroup_attach(cg, pid, &err), 0);
	go(fd);
	return wait_for(pid, 10000);
}

/*
 * A finished sandbox's cgroups made ready for the next one: the limits
 * undone, the peak and the cumulative counters started again. Refused
 * while a process is left, once frozen, and while more memory than
 * allowed is still charged (page cache).
 */
static void test_reuse(void)
{
	struct nsh_cgroup_limits lim = {64 * MIB, 16, 0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	struct nsh_cgroup_usage u;
	const char *mdir = NULL, *pdir = NULL;
	char *v, *cwd = getcwd(NULL, 0), *tmp = nsh_xstrdup("/var/tmp/nsh-reuse-XXXXXX");
	int rp[2], fd;
	pid_t pid;

	CHECK_INT(nsh_cgroup_create("t-reuse", &lim, &cg, &err), 0);
	if (!cg)
		goto out;
	if (nsh_cgroup_via(cg, NSH_CGROUP_RES_MEMORY, &mdir) == NSH_CGROUP_VIA_V2) {
		CHECK_INT(nsh_cgroup_reuse(cg, MIB, &err), NSH_EBUSY);
		CHECK(strstr(err.msg, "memory peak cannot be reset") != NULL);
		destroy_checked(cg);
		goto out;
	}
	nsh_cgroup_via(cg, NSH_CGROUP_RES_PIDS, &pdir);

	/* a fork loop hits the pids limit; while it lives, no reuse */
	CHECK_INT(pipe2(rp, O_CLOEXEC), 0);
	pid = spawn_waiting(body_forker, rp[1], &fd);
	close(rp[1]);
	CHECK_INT(nsh_cgroup_attach(cg, pid, &err), 0);
	go(fd);
	CHECK_INT(poll(&(struct pollfd){rp[0], POLLIN, 0}, 1, 5000), 1);
	close(rp[0]);
	CHECK_INT(nsh_cgroup_reuse(cg, MIB, &err), NSH_EBUSY);
	CHECK(strstr(err.msg, "still holds processes") != NULL);
	CHECK_INT(nsh_cgroup_kill(cg, &err), 0);
	wait_for(pid, 2000);
	reap_orphans();
	CHECK_INT(run_in(cg, body_hog, 16), 0);
	CHECK_INT(nsh_cgroup_usage(cg, &u, &err), 0);
	CHECK(u.pids_max_hits >= 1);
	CHECK(u.memory_peak >= 16 * MIB);

	/*
	 * reused: limits gone, counters from zero. What the forker's 16
	 * processes leave charged (kernel objects freed after RCU grace
	 * periods) reached 5 MiB under ASan on a busy machine before it
	 * drained: waited for, as the pool does not (it removes those).
	 */
	CHECK(charge_below(mdir, 4 * MIB, 5000));
	CHECK_INT(nsh_cgroup_reuse(cg, 4 * MIB, &err), 0);
	if (err.code)
		fprintf(stderr, "reuse: %s\n", err.msg);
	CHECK_INT(nsh_cgroup_usage(cg, &u, &err), 0);
	CHECK_INT(u.pids_max_hits, 0);
	CHECK_INT(u.oom_kills, 0);
	CHECK(u.memory_peak <= 4 * MIB);
	CHECK(u.cpu_usec < 1000);
	v = read_trim(mdir, "memory.limit_in_bytes");
	CHECK(v && strtoull(v, NULL, 10) > ((uint64_t)1 << 40));
	free(v);
	v = read_trim(pdir, "pids.max");
	CHECK_STR(v ? v : "", "max");
	free(v);
	/* the next one's figures are its own */
	CHECK_INT(run_in(cg, body_hog, 8), 0);
	CHECK_INT(nsh_cgroup_usage(cg, &u, &err), 0);
	CHECK(u.memory_peak >= 8 * MIB && u.memory_peak < 13 * MIB);
	CHECK_INT(u.pids_max_hits, 0);

	/* page cache it read or wrote first stays charged: too much to reuse */
	CHECK(mkdtemp(tmp) != NULL);
	CHECK_INT(chdir(tmp), 0);
	CHECK_INT(run_in(cg, body_write, 16), 0);
	CHECK_INT(chdir(cwd), 0);
	CHECK_INT(nsh_cgroup_reuse(cg, 4 * MIB, &err), NSH_EBUSY);
	CHECK(strstr(err.msg, "still charged with") != NULL);
	CHECK_INT(nsh_cgroup_reuse(cg, 64 * MIB, &err), 0);

	/* frozen once: not reused (a v1 freezer state is not worth trusting) */
	if (nsh_cgroup_freeze(cg, true, NULL) == 0) {
		CHECK_INT(nsh_cgroup_freeze(cg, false, &err), 0);
		CHECK_INT(nsh_cgroup_reuse(cg, 64 * MIB, &err), NSH_EBUSY);
		CHECK(strstr(err.msg, "was frozen") != NULL);
	}
	destroy_checked(cg);
	v = nsh_xasprintf("%s/reuse-cache", tmp);
	unlink(v);
	free(v);
	rmdir(tmp);
out:
	free(tmp);
	free(cwd);
}

/*
 * Freeze stops a busy child (no CPU time while frozen), thaw resumes it,
 * and kill works on a frozen sandbox. With @hide_v2 the v1 freezer and the
 * signal-based kill are used, as on a host without the v2 tree.
 */
static void test_freeze_and_kill(bool hide_v2)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	struct nsh_cgroup_usage u0, u1, u2, u3;
	int fd1, fd2, r;
	pid_t busy, sleeper;

	nsh_cgroup_testing_hide(hide_v2 ? NSH_CGROUP_TESTING_HIDE_V2 : 0);
	r = nsh_cgroup_create(hide_v2 ? "t-freeze-v1" : "t-freeze", NULL, &cg, &err);
	nsh_cgroup_testing_hide(0);
	CHECK_INT(r, 0);
	if (!cg) {
		fprintf(stderr, "create: %s\n", err.msg);
		return;
	}
	fprintf(stderr, "%s\n", nsh_cgroup_describe(cg));
	CHECK(nsh_cgroup_via(cg, NSH_CGROUP_RES_FREEZE, NULL) != NSH_CGROUP_VIA_NONE);
	CHECK(nsh_cgroup_via(cg, NSH_CGROUP_RES_CPU_USAGE, NULL) != NSH_CGROUP_VIA_NONE);
	if (hide_v2) {
		CHECK_INT(nsh_cgroup_via(cg, NSH_CGROUP_RES_FREEZE, NULL), NSH_CGROUP_VIA_V1);
		CHECK_INT(nsh_cgroup_via(cg, NSH_CGROUP_RES_KILL, NULL), NSH_CGROUP_VIA_SIGNALS);
		CHECK_INT(nsh_cgroup_v2_fd(cg), -1);
	}

	busy = spawn_waiting(body_busy, 0, &fd1);
	sleeper = spawn_waiting(body_tree, 4, &fd2);
	CHECK_INT(nsh_cgroup_attach(cg, busy, &err), 0);
	CHECK_INT(nsh_cgroup_attach(cg, sleeper, &err), 0);
	go(fd1);
	go(fd2);
	/* the busy loop gets the CPU: soon on a quiet machine, later on a loaded one */
	for (int i = 0; i < 100; i++) {
		nsh_time_sleep_ms(100);
		CHECK_INT(nsh_cgroup_usage(cg, &u0, &err), 0);
		if (u0.cpu_usec >= 10000)
			break;
	}
	CHECK(u0.cpu_usec >= 10000);
	CHECK_INT(nsh_cgroup_freeze(cg, true, &err), 0);
	CHECK_INT(nsh_cgroup_usage(cg, &u1, &err), 0);
	nsh_time_sleep_ms(300);
	CHECK_INT(nsh_cgroup_usage(cg, &u2, &err), 0);
	CHECK_INT(nsh_cgroup_freeze(cg, false, &err), 0);
	for (int i = 0; i < 100; i++) {
		nsh_time_sleep_ms(100);
		CHECK_INT(nsh_cgroup_usage(cg, &u3, &err), 0);
		if (u3.cpu_usec - u2.cpu_usec >= 20000)
			break;
	}
	fprintf(stderr, "cpu_usec: running %llu, frozen 300 ms +%llu, thawed +%llu\n",
		(unsigned long long)u0.cpu_usec, (unsigned long long)(u2.cpu_usec - u1.cpu_usec),
		(unsigned long long)(u3.cpu_usec - u2.cpu_usec));
	CHECK(u2.cpu_usec - u1.cpu_usec <= 1000);
	CHECK(u3.cpu_usec - u2.cpu_usec >= 20000);
	CHECK_INT(u3.pids_current, 6); /* busy, tree and its 4 sleepers */

	/* kill a frozen sandbox: v1 frozen tasks only die once thawed */
	CHECK_INT(nsh_cgroup_freeze(cg, true, &err), 0);
	CHECK(!nsh_cgroup_empty(cg));
	r = nsh_cgroup_kill(cg, &err);
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "kill: %s\n", err.msg);
	CHECK(nsh_cgroup_empty(cg));
	CHECK(killed_by(wait_for(busy, 2000), SIGKILL));
	CHECK(killed_by(wait_for(sleeper, 2000), SIGKILL));
	reap_orphans();
	destroy_checked(cg);
}

/* clone3(CLONE_INTO_CGROUP) with the v2 fd puts the child there from the start. */
static void test_clone_into_cgroup(void)
{
	struct nsh_cgroup_limits lim = {64 * MIB, 0, 0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	struct clone_args ca;
	const char *v2dir = NULL, *mdir = NULL;
	char *cgline, *want, *pidstr;
	int p[2];
	long pid;

	CHECK_INT(nsh_cgroup_create("t-clone", &lim, &cg, &err), 0);
	if (!cg)
		return;
	if (nsh_cgroup_v2_fd(cg) < 0) {
		fprintf(stderr, "no cgroup v2 tree: CLONE_INTO_CGROUP not tested\n");
		nsh_cgroup_destroy(cg, NULL);
		return;
	}
	CHECK_INT(pipe2(p, O_CLOEXEC), 0);
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_INTO_CGROUP;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = (uint64_t)nsh_cgroup_v2_fd(cg);
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		char c;

		syscall(SYS_close, p[1]);
		syscall(SYS_read, p[0], &c, 1);
		syscall(SYS_exit_group, 0);
	}
	CHECK(pid > 0);
	close(p[0]);
	if (pid <= 0)
		goto out;
	/* /proc/<pid>/cgroup "0::<path>" must end in the sandbox's v2 directory */
	nsh_cgroup_via(cg, NSH_CGROUP_RES_KILL, &v2dir);
	nsh_cgroup_via(cg, NSH_CGROUP_RES_MEMORY, &mdir);
	{
		char *procdir = nsh_xasprintf("/proc/%ld", pid);

		cgline = read_trim(procdir, "cgroup");
		free(procdir);
	}
	want = nsh_xasprintf("/nightshift/%ld.t-clone", (long)getpid());
	CHECK(strstr(cgline, want) != NULL);
	CHECK(v2dir && strstr(v2dir, want) != NULL);
	/* attach adds the v1 hierarchies; the v2 one is kept */
	CHECK_INT(nsh_cgroup_attach(cg, (pid_t)pid, &err), 0);
	pidstr = nsh_xasprintf("%ld", pid);
	if (nsh_cgroup_via(cg, NSH_CGROUP_RES_MEMORY, NULL) == NSH_CGROUP_VIA_V1)
		CHECK(file_has_line(mdir, "cgroup.procs", pidstr));
	CHECK(file_has_line(v2dir, "cgroup.procs", pidstr));
	free(pidstr);
	free(want);
	free(cgline);
	close(p[1]);
	CHECK_INT(WEXITSTATUS(wait_for((pid_t)pid, 2000)), 0);
	p[1] = -1;
out:
	if (p[1] >= 0)
		close(p[1]);
	destroy_checked(cg);
}

/* "<parent of @dir>/<name>", the caller frees it. */
/*
 * A thread that enters the sandbox's v1 cgroups starts its child there and
 * is back in its own cgroups after leaving, while the child stays.
 */
static void test_enter_leave_v1(void)
{
	struct nsh_cgroup_limits lim = {64 * MIB, 16, 0};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	const char *mdir = NULL, *pdir = NULL;
	char *before, *after, *pidstr;
	pid_t pid;
	int p[2];

	CHECK_INT(nsh_cgroup_create("t-enter", &lim, &cg, &err), 0);
	if (!cg)
		return;
	if (nsh_cgroup_via(cg, NSH_CGROUP_RES_MEMORY, &mdir) != NSH_CGROUP_VIA_V1) {
		fprintf(stderr, "no v1 memory hierarchy: enter/leave not tested\n");
		nsh_cgroup_destroy(cg, NULL);
		return;
	}
	nsh_cgroup_via(cg, NSH_CGROUP_RES_PIDS, &pdir);
	before = read_trim("/proc/thread-self", "cgroup");
	CHECK_INT(pipe2(p, O_CLOEXEC), 0);
	CHECK_INT(nsh_cgroup_enter_v1(cg, &err), 0);
	pid = fork();
	if (pid == 0) {
		char c;

		close(p[1]);
		if (read(p[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK_INT(nsh_cgroup_leave_v1(cg, &err), 0);
	close(p[0]);
	after = read_trim("/proc/thread-self", "cgroup");
	CHECK_STR(after, before);
	pidstr = nsh_xasprintf("%ld", (long)pid);
	CHECK(pid > 0 && file_has_line(mdir, "cgroup.procs", pidstr));
	if (pdir && nsh_cgroup_via(cg, NSH_CGROUP_RES_PIDS, NULL) == NSH_CGROUP_VIA_V1)
		CHECK(file_has_line(pdir, "cgroup.procs", pidstr));
	/* this process itself is not a member */
	free(pidstr);
	pidstr = nsh_xasprintf("%ld", (long)getpid());
	CHECK(!file_has_line(mdir, "cgroup.procs", pidstr));
	close(p[1]);
	if (pid > 0)
		CHECK_INT(WEXITSTATUS(wait_for(pid, 2000)), 0);
	free(pidstr);
	free(before);
	free(after);
	destroy_checked(cg);
}

static char *sibling(const char *dir, const char *name)
{
	const char *slash = strrchr(dir, '/');

	return nsh_xasprintf("%.*s/%s", (int)(slash - dir), dir, name);
}

/* Leftovers of a dead owner are killed and removed; a live owner's stay. */
static void test_cleanup_stale(void)
{
	struct nsh_cgroup_limits lim = {64 * MIB, 16, 0};
	struct nsh_strvec live_dirs = NSH_STRVEC_INIT, stale_dirs = NSH_STRVEC_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *live = NULL, *probe_v1 = NULL;
	const char *d, *fdir = NULL;
	char *stale_name, *pidstr, *freezer_stale = NULL;
	unsigned removed = 0;
	pid_t dead, victim;
	char own[64];
	int fd, r;

	/*
	 * A directory of our own: every nightshift that starts meanwhile (other
	 * tests run at the same time) cleans up the dead owners' cgroups in
	 * "nightshift", and would take the ones staged here before we look.
	 */
	snprintf(own, sizeof(own), "nightshift-t%ld", (long)getpid());
	nsh_cgroup_testing_dir(own);
	CHECK_INT(nsh_cgroup_create("t-live", &lim, &live, &err), 0);
	if (!live) {
		nsh_cgroup_testing_dir(NULL);
		return;
	}
	collect_dirs(live, &live_dirs);

	/* a pid that surely belongs to nobody now */
	dead = fork();
	if (dead == 0)
		_exit(0);
	CHECK_INT(WEXITSTATUS(wait_for(dead, 2000)), 0);
	stale_name = nsh_xasprintf("%ld.t-stale", (long)dead);
	nsh_vec_foreach(d, &live_dirs) {
		char *s = sibling(d, stale_name);

		CHECK_INT(mkdir(s, 0755), 0);
		nsh_strvec_push(&stale_dirs, s);
		free(s);
	}
	/* also a frozen v1 freezer cgroup, whose tasks ignore SIGKILL until thawed */
	nsh_cgroup_testing_hide(NSH_CGROUP_TESTING_HIDE_V2);
	r = nsh_cgroup_create("t-probe-v1", NULL, &probe_v1, NULL);
	nsh_cgroup_testing_hide(0);
	if (r == 0 && nsh_cgroup_via(probe_v1, NSH_CGROUP_RES_FREEZE, &fdir) == NSH_CGROUP_VIA_V1) {
		freezer_stale = sibling(fdir, stale_name);
		CHECK_INT(mkdir(freezer_stale, 0755), 0);
		nsh_strvec_push(&stale_dirs, freezer_stale);
	}
	nsh_cgroup_destroy(probe_v1, NULL);

	victim = spawn_waiting(body_sleep, 0, &fd);
	pidstr = nsh_xasprintf("%ld", (long)victim);
	nsh_vec_foreach(d, &stale_dirs) {
		CHECK(write_file(d, "cgroup.procs", pidstr));
	}
	go(fd);
	if (freezer_stale) {
		CHECK(write_file(freezer_stale, "freezer.state", "FROZEN"));
		nsh_time_sleep_ms(20);
	}
	nsh_vec_foreach(d, &stale_dirs) {
		CHECK(file_has_line(d, "cgroup.procs", pidstr));
	}

	r = nsh_cgroup_cleanup_stale(&removed, &err);
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "cleanup_stale: %s\n", err.msg);
	fprintf(stderr, "cleanup_stale removed %u sandbox(es)\n", removed);
	CHECK(removed >= 1);
	CHECK_INT(count_existing(&stale_dirs), 0);
	CHECK(killed_by(wait_for(victim, 2000), SIGKILL));
	CHECK_INT(count_existing(&live_dirs), (int)live_dirs.nr);

	free(freezer_stale);
	free(pidstr);
	free(stale_name);
	nsh_strvec_release(&stale_dirs);
	nsh_strvec_release(&live_dirs);
	destroy_checked(live);
	/* our directories, empty now, go with a last clean-up */
	CHECK_INT(nsh_cgroup_cleanup_stale(NULL, NULL), 0);
	nsh_cgroup_testing_dir(NULL);
}

/*
 * A limit no hierarchy can enforce is refused, naming it. Simulated by
 * hiding the v1 hierarchies; only meaningful where the v2 tree lacks the
 * controller (a hybrid host), which the test checks first.
 */
static void test_refuse_unenforceable(void)
{
	static const struct {
		struct nsh_cgroup_limits lim;
		enum nsh_cgroup_res res;
		const char *words[2];
	} cases[] = {
		{{64 * MIB, 0, 0}, NSH_CGROUP_RES_MEMORY, {"memory limit", "'67108864'"}},
		{{0, 16, 0}, NSH_CGROUP_RES_PIDS, {"pids limit", "'16'"}},
		{{0, 0, 1.5}, NSH_CGROUP_RES_CPU, {"cpu limit", "'1.5'"}},
	};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	int tested = 0;

	nsh_cgroup_testing_hide(NSH_CGROUP_TESTING_HIDE_V1);
	CHECK_INT(nsh_cgroup_create("t-v2only", NULL, &cg, &err), 0);
	if (!cg) {
		nsh_cgroup_testing_hide(0);
		fprintf(stderr, "no cgroup v2 tree: refusal not tested\n");
		return;
	}
	fprintf(stderr, "v2 only: %s\n", nsh_cgroup_describe(cg));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nsh_cgroup *bad = NULL;

		if (nsh_cgroup_via(cg, cases[i].res, NULL) == NSH_CGROUP_VIA_V2) {
			fprintf(stderr, "v2 has %s: cannot simulate its absence\n",
				cases[i].words[0]);
			continue;
		}
		tested++;
		nsh_err_clear(&err);
		CHECK_INT(nsh_cgroup_create("t-refused", &cases[i].lim, &bad, &err), NSH_EDENIED);
		CHECK(bad == NULL);
		fprintf(stderr, "refused: %s\n", err.msg);
		CHECK(strstr(err.msg, cases[i].words[0]) != NULL);
		CHECK(strstr(err.msg, cases[i].words[1]) != NULL);
		nsh_cgroup_destroy(bad, NULL);
	}
	nsh_cgroup_testing_hide(0);
	fprintf(stderr, "refusal tested for %d of 3 limits\n", tested);
	destroy_checked(cg);
}

static void test_bad_input(void)
{
	struct nsh_cgroup_limits tiny_cpu = {0, 0, 0.001};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL, *dup = NULL;

	CHECK_INT(nsh_cgroup_create("../x", NULL, &cg, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'../x'") != NULL);
	CHECK_INT(nsh_cgroup_create("", NULL, &cg, &err), NSH_EINVAL);
	CHECK_INT(nsh_cgroup_create("ok", &tiny_cpu, &cg, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'0.001'") != NULL);
	CHECK(cg == NULL);
	CHECK_INT(nsh_cgroup_create("t-dup", NULL, &cg, &err), 0);
	CHECK_INT(nsh_cgroup_create("t-dup", NULL, &dup, &err), NSH_EEXIST);
	CHECK(dup == NULL);
	CHECK_INT(nsh_cgroup_destroy(cg, &err), 0);
	CHECK_INT(nsh_cgroup_destroy(NULL, &err), 0);
}

/* Number of subdirectories (cgroups) of @dir; -1 when it does not exist. */
static int count_subdirs(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Whether a process or thread sits in the cgroup @dir (v1 "tasks", v2 "cgroup.procs"). */
static bool in_use(const char *dir)
{
	char *v1 = read_trim(dir, "tasks"), *v2 = read_trim(dir, "cgroup.procs");
	bool used = (*v1 && strcmp(v1, "(unreadable)")) || (*v2 && strcmp(v2, "(unreadable)"));

	free(v1);
	free(v2);
	return used;
}

/*
 * After the last sandbox is gone, cleanup_stale also removes the
 * "nightshift" directories, leaving the owner's own cgroups as they were
 * (one still in use by another live owner keeps its sandboxes).
 */
static void test_leaves_nothing(void)
{
	struct nsh_strvec dirs = NSH_STRVEC_INIT, parents = NSH_STRVEC_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	const char *d;

	CHECK_INT(nsh_cgroup_create("t-last", &(struct nsh_cgroup_limits){64 * MIB, 16, 0.5}, &cg,
				    &err),
		  0);
	if (!cg)
		return;
	collect_dirs(cg, &dirs);
	nsh_vec_foreach(d, &dirs) {
		char *parent = nsh_xstrndup(d, (size_t)(strrchr(d, '/') - d));

		nsh_strvec_push(&parents, parent);
		free(parent);
	}
	CHECK_INT(nsh_cgroup_destroy(cg, &err), 0);
	CHECK_INT(nsh_cgroup_cleanup_stale(NULL, &err), 0);
	nsh_vec_foreach(d, &parents) {
		int n = count_subdirs(d);

		if (n > 0)
			fprintf(stderr, "'%s' still holds %d sandbox(es) of live owners\n", d, n);
		/*
		 * Empty of sandboxes but kept: right only while a live process
		 * sits in it (another nightshift's settled thread, or a
		 * sandbox of another test run that ended meanwhile).
		 */
		if (n == 0 && in_use(d))
			n = 1;
		CHECK(n != 0);
	}
	nsh_strvec_release(&parents);
	nsh_strvec_release(&dirs);
}

/* This thread's path in the v1 hierarchy whose controllers include "cpu", or NULL. */
static char *cpu_path_of(const char *proc_dir)
{
	char *text = read_trim(proc_dir, "cgroup"), *found = NULL;

	for (char *line = text; line && *line;) {
		char *eol = strchrnul(line, '\n'), *c1 = strchr(line, ':'), *c2;

		c2 = c1 && c1 < eol ? strchr(c1 + 1, ':') : NULL;
		if (c2 && c2 < eol) {
			char *ctrls = nsh_xasprintf(",%.*s,", (int)(c2 - c1 - 1), c1 + 1);

			if (!found && strstr(ctrls, ",cpu,"))
				found = nsh_xstrndup(c2 + 1, (size_t)(eol - c2 - 1));
			free(ctrls);
		}
		line = *eol ? eol + 1 : eol;
	}
	free(text);
	return found;
}

/*
 * The steps of test_settle_thread, in a child process whose only thread
 * is its leader; returns 0 or the number of the step that failed.
 */
static int settle_steps(void)
{
	struct nsh_cgroup_limits lim = {0, 0, 0.5};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_cgroup *cg = NULL;
	const char *cdir = NULL;
	char *path, *want;
	pid_t pid;
	int st;

	if (nsh_cgroup_settle_thread(&err) < 0)
		return 1;
	path = cpu_path_of("/proc/thread-self");
	if (!path || strcmp(path, "/nightshift"))
		return 2;
	free(path);
	/* a fresh probe reads this leader's "/nightshift" as its own root place */
	nsh_cgroup_testing_hide(0);
	if (nsh_cgroup_create("t-settle", &lim, &cg, &err) < 0)
		return 3;
	if (nsh_cgroup_via(cg, NSH_CGROUP_RES_CPU, &cdir) != NSH_CGROUP_VIA_V1) {
		nsh_cgroup_destroy(cg, NULL);
		return 0; /* cpu through v2: nothing more to check here */
	}
	want = nsh_xasprintf("/nightshift/%ld.t-settle", (long)getpid());
	st = strlen(cdir) > strlen(want) && !strcmp(cdir + strlen(cdir) - strlen(want), want) &&
	     !strstr(cdir, "/nightshift/nightshift");
	free(want);
	if (!st)
		return 4;
	/* through a sandbox's own cpu cgroup and back to the settled place */
	if (nsh_cgroup_enter_v1(cg, &err) < 0)
		return 5;
	pid = fork();
	if (pid == 0) {
		char *p = cpu_path_of("/proc/self");

		_exit(p && strstr(p, ".t-settle") ? 0 : 1);
	}
	if (nsh_cgroup_leave_v1(cg, &err) < 0)
		return 6;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 7;
	path = cpu_path_of("/proc/thread-self");
	if (!path || strcmp(path, "/nightshift"))
		return 8;
	free(path);
	/* a plain child of the settled thread is born in the shared group */
	pid = fork();
	if (pid == 0) {
		char *p = cpu_path_of("/proc/self");

		_exit(p && !strcmp(p, "/nightshift") ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 9;
	if (nsh_cgroup_destroy(cg, &err) < 0)
		return 10;
	return 0;
}

/*
 * Where scheduler autogroups apply (autogroups on, this process in the
 * root cgroup of a v1 cpu hierarchy), a thread that settles lives in
 * "/nightshift" of that hierarchy, goes back there after entering a
 * sandbox's cpu cgroup, and its children are born there; elsewhere it
 * stays where it is.
 */
static void test_settle_thread(void)
{
	char *auto_on = read_trim("/proc/sys/kernel", "sched_autogroup_enabled");
	char *cpu = cpu_path_of("/proc/self");
	bool applies = !strcmp(auto_on, "1") && cpu && !strcmp(cpu, "/");
	pid_t pid = fork();
	int st = -1;

	if (pid == 0) {
		char *after;

		if (applies)
			_exit(settle_steps());
		if (nsh_cgroup_settle_thread(NULL) < 0)
			_exit(20);
		after = cpu_path_of("/proc/thread-self");
		_exit((!after && !cpu) || (after && cpu && !strcmp(after, cpu)) ? 0 : 21);
	}
	if (!applies)
		fprintf(stderr, "autogroups off or not in the root cpu cgroup: checking that "
				"nothing moves\n");
	CHECK(pid > 0);
	if (pid > 0)
		st = wait_for(pid, 10000);
	CHECK(st != -1 && WIFEXITED(st));
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st))
		fprintf(stderr, "settle: step %d failed\n", WEXITSTATUS(st));
	CHECK_INT(st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	free(auto_on);
	free(cpu);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "these tests need root (cgroup file systems)\n");
		CHECK(0);
		return TEST_DONE();
	}
	/* orphaned grandchildren come back to us to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	RUN(test_bad_input);
	RUN(test_limits_and_oom);
	RUN(test_pids);
	RUN(test_reuse);
	test_freeze_and_kill(false);
	fprintf(stderr, "-- test_freeze_and_kill (v1 freezer, signals)\n");
	test_freeze_and_kill(true);
	RUN(test_clone_into_cgroup);
	RUN(test_enter_leave_v1);
	RUN(test_cleanup_stale);
	RUN(test_refuse_unenforceable);
	RUN(test_settle_thread);
	RUN(test_leaves_nothing);
	return TEST_DONE();
}
