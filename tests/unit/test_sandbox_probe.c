/*
 * Tests for the host capability probe. The suite runs on the machine that
 * research/sandbox.md measured (Debian 12 userland, kernel 6.18, root,
 * hybrid cgroups with v1 memory/pids/cpu/freezer and a v2 tree at
 * /sys/fs/cgroup/unified, Landlock ABI 7, loop devices, mkfs.ext4), so
 * the probe must find exactly that. The guarantee texts are also checked
 * on made-up hosts, where each fallback is visible.
 */
#include "sandbox/probe.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "sandbox/filter.h"
#include "test.h"

#include "core/banned.h"

static const char *const guarantee_keys[] = {
	"isolation", "filesystem", "syscalls", "memory_limit", "pids_limit",
	"cpu_limit", "pause",	   "kill",     "disk_quota",   "network_none",
};
#define NKEYS (sizeof(guarantee_keys) / sizeof(guarantee_keys[0]))

/* The guarantee @key of @c, as a string the caller frees. */
static char *guarantee(const struct nsh_sandbox_caps *c, const char *key)
{
	json_t *o = nsh_sandbox_caps_to_json(c);
	const char *s = json_string_value(json_object_get(json_object_get(o, "guarantees"), key));
	char *r = nsh_xstrdup(s ? s : "(missing)");

	json_decref(o);
	return r;
}

#define CHECK_GUARANTEE(c, key, want) \
 do {                                 \
  char *g_ = guarantee((c), (key));   \
  CHECK_STR(g_, (want));              \
  free(g_);                           \
 } while (0)

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The process's identity in namespace @ns ("user", "mnt", ...): the link's inode. */
static ino_t ns_ino(const char *ns)
{
	struct nsh_buf p = NSH_BUF_INIT;
	struct stat st;
	ino_t r = 0;

	nsh_buf_addf(&p, "/proc/self/ns/%s", ns);
	if (stat(p.buf, &st) == 0)
		r = st.st_ino;
	nsh_buf_release(&p);
	return r;
}

/* nsh_sandbox_probe() with PATH set to @path for the time of the call. */
static int probe_with_path(const char *path, struct nsh_sandbox_caps *c, struct nsh_err *err)
{
	const char *old = getenv("PATH");
	char *saved = old ? nsh_xstrdup(old) : NULL;
	int r;

	setenv("PATH", path, 1);
	r = nsh_sandbox_probe(c, err);
	if (saved)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
	return r;
}

/* mkfs.ext4 lives in /usr/sbin here, which a test runner's PATH may lack. */
#define SBIN_PATH "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

static void test_probe_this_host(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_caps c;

	CHECK_INT(probe_with_path(SBIN_PATH, &c, &err), 0);
	CHECK_STR(err.msg, "");
	CHECK(c.root);
	CHECK(c.userns);
	CHECK(c.pidns);
	CHECK(c.netns);
	CHECK(c.mntns);
	CHECK(c.ipcns);
	CHECK(c.utsns);
	CHECK(c.cgroupns);
	CHECK(c.seccomp);
	CHECK(c.landlock_abi >= 6);
	CHECK_INT(c.landlock_abi, nsh_landlock_abi());
	CHECK(c.new_mount_api);
	CHECK(c.idmapped_mounts);
	CHECK(c.cgroup2);
	CHECK_STR(c.cgroup2_path, "/sys/fs/cgroup/unified");
	/* research/sandbox.md: the unified tree exposes only hugetlb, memory is bound to v1 */
	CHECK_STR(c.cgroup2_controllers, "hugetlb");
	CHECK(c.cgroup2_writable);
	CHECK(c.cgroup2_freeze);
	CHECK(c.cgroup2_kill);
	CHECK(c.cgroup1_memory);
	CHECK(c.cgroup1_pids);
	CHECK(c.cgroup1_cpu);
	CHECK(c.cgroup1_freezer);
	CHECK(c.loop);
	CHECK(c.mkfs_ext4);
	CHECK(c.legacy_tiocsti);
	CHECK(c.max_user_namespaces > 0);

	/* mkfs.ext4 is looked up in PATH, nowhere else */
	CHECK_INT(probe_with_path("/nonexistent-nsh", &c, NULL), 0);
	CHECK(!c.mkfs_ext4);
	CHECK(c.userns);
}

/* Namespaces, seccomp and no_new_privs of the caller are as before; nothing is left behind. */
static void test_probe_leaves_caller_alone(void)
{
	struct nsh_sandbox_caps c;
	ino_t user = ns_ino("user"), mnt = ns_ino("mnt"), net = ns_ino("net"), pid = ns_ino("pid");
	struct nsh_buf p = NSH_BUF_INIT;

	CHECK_INT(nsh_sandbox_probe(&c, NULL), 0);
	CHECK(user != 0);
	CHECK(ns_ino("user") == user);
	CHECK(ns_ino("mnt") == mnt);
	CHECK(ns_ino("net") == net);
	CHECK(ns_ino("pid") == pid);
	CHECK_INT(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), 0);
	CHECK_INT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
	/* the probe cgroups are gone again */
	nsh_buf_addf(&p, "%s/nsh-probe-%ld", c.cgroup2_path, (long)getpid());
	CHECK(c.cgroup2_writable);
	CHECK(!nsh_fs_exists(p.buf));
	nsh_buf_reset(&p);
	nsh_buf_addf(&p, "/sys/fs/cgroup/memory/nsh-probe-%ld", (long)getpid());
	CHECK(!nsh_fs_exists(p.buf));
	nsh_buf_release(&p);
}

static void test_json_this_host(void)
{
	static const char *const fields[] = {
		"root",
		"userns",
		"pidns",
		"netns",
		"mntns",
		"ipcns",
		"utsns",
		"cgroupns",
		"seccomp",
		"new_mount_api",
		"idmapped_mounts",
		"cgroup2",
		"cgroup2_writable",
		"cgroup2_freeze",
		"cgroup2_kill",
		"cgroup1_memory",
		"cgroup1_pids",
		"cgroup1_cpu",
		"cgroup1_freezer",
		"loop",
		"mkfs_ext4",
		"legacy_tiocsti",
	};
	struct nsh_sandbox_caps c;
	json_t *o, *g;

	CHECK_INT(probe_with_path(SBIN_PATH, &c, NULL), 0);
	o = nsh_sandbox_caps_to_json(&c);
	CHECK(o != NULL);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = json_object_get(o, fields[i]);

		if (!json_is_boolean(v))
			fprintf(stderr, "field '%s' missing or not a boolean\n", fields[i]);
		CHECK(json_is_boolean(v));
	}
	CHECK(json_is_true(json_object_get(o, "cgroup1_memory")));
	CHECK_INT(json_integer_value(json_object_get(o, "landlock_abi")), c.landlock_abi);
	CHECK_INT(json_integer_value(json_object_get(o, "max_user_namespaces")),
		  c.max_user_namespaces);
	CHECK_STR(json_string_value(json_object_get(o, "cgroup2_path")), "/sys/fs/cgroup/unified");
	CHECK(json_is_string(json_object_get(o, "cgroup2_controllers")));
	/* 22 booleans, 2 integers, 2 strings and the guarantees */
	CHECK_INT(json_object_size(o), 27);

	g = json_object_get(o, "guarantees");
	CHECK_INT(json_object_size(g), NKEYS);
	for (size_t i = 0; i < NKEYS; i++) {
		const char *s = json_string_value(json_object_get(g, guarantee_keys[i]));

		CHECK(s != NULL);
		if (!s)
			continue;
		CHECK(starts_with(s, "enforced (") || starts_with(s, "weaker (") ||
		      starts_with(s, "unavailable ("));
		CHECK(s[strlen(s) - 1] == ')');
	}
	json_decref(o);

	/* what this host gives: v1 limits, v2 freeze/kill, loop images */
	CHECK_GUARANTEE(&c, "memory_limit", "enforced (cgroup v1 memory controller)");
	CHECK_GUARANTEE(&c, "pids_limit", "enforced (cgroup v1 pids controller)");
	CHECK_GUARANTEE(&c, "cpu_limit", "enforced (cgroup v1 cpu controller, cfs quota)");
	CHECK_GUARANTEE(&c, "pause", "enforced (cgroup v2 cgroup.freeze)");
	CHECK_GUARANTEE(&c, "kill", "enforced (cgroup v2 cgroup.kill)");
	CHECK_GUARANTEE(&c, "disk_quota", "enforced (per-task ext4 image on a loop device)");
	CHECK_GUARANTEE(&c, "network_none", "enforced (empty network namespace)");
	CHECK_GUARANTEE(&c, "syscalls", "enforced (seccomp bpf filter)");
	CHECK_GUARANTEE(&c, "isolation",
			"enforced (user, pid, mount, ipc and uts namespaces, cgroup namespace)");
	{
		char *fs = guarantee(&c, "filesystem");

		CHECK(starts_with(fs, "enforced (read-only binds in a mount namespace via "
				      "open_tree + mount_setattr, plus landlock abi "));
		free(fs);
	}
}

/* A host with nothing: every guarantee falls back or is unavailable. */
static void test_guarantees_bare_host(void)
{
	struct nsh_sandbox_caps c = {0};

	c.max_user_namespaces = -1;
	CHECK_GUARANTEE(&c, "isolation",
			"unavailable (cannot create user, pid, mount, ipc, uts namespaces)");
	CHECK_GUARANTEE(&c, "filesystem", "unavailable (neither a mount namespace nor landlock)");
	CHECK_GUARANTEE(&c, "syscalls", "unavailable (a seccomp filter cannot be loaded)");
	CHECK_GUARANTEE(
		&c, "memory_limit",
		"weaker (rlimit RLIMIT_AS: address space per process, not the task's total)");
	CHECK_GUARANTEE(&c, "pids_limit",
			"weaker (rlimit RLIMIT_NPROC: counted per uid, not per task)");
	CHECK_GUARANTEE(&c, "cpu_limit",
			"weaker (rlimit RLIMIT_CPU: total cpu seconds per process, not a rate)");
	CHECK_GUARANTEE(&c, "pause",
			"weaker (SIGSTOP to each process of the task, racing with fork)");
	CHECK_GUARANTEE(&c, "kill",
			"weaker (SIGKILL to the process group: processes that leave it survive)");
	CHECK_GUARANTEE(&c, "disk_quota",
			"unavailable (a loop image needs root, a usable /dev/loop-control, "
			"mkfs.ext4 in PATH)");
	CHECK_GUARANTEE(&c, "network_none",
			"unavailable (no network namespace, seccomp or landlock tcp rules)");
}

/* Pure cgroup v2 with controllers, unprivileged with user namespaces. */
static void test_guarantees_v2_host(void)
{
	struct nsh_sandbox_caps c = {0};

	c.userns = c.pidns = c.mntns = c.ipcns = c.utsns = true;
	c.cgroup2 = c.cgroup2_writable = c.cgroup2_freeze = true;
	c.loop = c.mkfs_ext4 = true;
	c.landlock_abi = 4;
	snprintf(c.cgroup2_controllers, sizeof(c.cgroup2_controllers), "cpuset cpu io memory pids");
	CHECK_GUARANTEE(&c, "isolation", "enforced (user, pid, mount, ipc and uts namespaces)");
	CHECK_GUARANTEE(&c, "filesystem",
			"enforced (read-only binds in a mount namespace via mount(2), plus "
			"landlock abi 4)");
	CHECK_GUARANTEE(&c, "memory_limit", "enforced (cgroup v2 memory.max)");
	CHECK_GUARANTEE(&c, "pids_limit", "enforced (cgroup v2 pids.max)");
	CHECK_GUARANTEE(&c, "cpu_limit", "enforced (cgroup v2 cpu.max)");
	CHECK_GUARANTEE(&c, "pause", "enforced (cgroup v2 cgroup.freeze)");
	/* no cgroup.kill (before 5.14), but a pid namespace */
	CHECK_GUARANTEE(&c, "kill",
			"enforced (SIGKILL to the pid namespace's init ends all its processes)");
	CHECK_GUARANTEE(&c, "disk_quota",
			"weaker (tmpfs size limits scratch space only and is charged to memory; a "
			"loop image needs root)");
	CHECK_GUARANTEE(&c, "network_none",
			"weaker (landlock denies tcp bind and connect; udp is open)");
	/* "cpuset" alone does not count as "cpu" */
	snprintf(c.cgroup2_controllers, sizeof(c.cgroup2_controllers), "cpuset");
	CHECK_GUARANTEE(&c, "cpu_limit",
			"weaker (rlimit RLIMIT_CPU: total cpu seconds per process, not a rate)");
	/* a v2 tree we cannot write to gives no limits */
	snprintf(c.cgroup2_controllers, sizeof(c.cgroup2_controllers), "memory");
	c.cgroup2_writable = false;
	{
		char *g = guarantee(&c, "memory_limit");

		CHECK(starts_with(g, "weaker ("));
		free(g);
	}
}

/* Root without user namespaces; landlock only for files; seccomp for the network. */
static void test_guarantees_partial_host(void)
{
	struct nsh_sandbox_caps c = {0};

	c.root = true;
	c.pidns = c.mntns = c.ipcns = c.utsns = true;
	c.seccomp = true;
	c.cgroup1_freezer = true;
	CHECK_GUARANTEE(&c, "isolation",
			"weaker (pid, mount, ipc and uts namespaces but no user namespace: tasks "
			"must run under an unprivileged uid)");
	CHECK_GUARANTEE(&c, "pause", "enforced (cgroup v1 freezer)");
	CHECK_GUARANTEE(&c, "network_none",
			"weaker (seccomp refuses every socket family but unix; no network "
			"namespace)");
	c.mntns = false;
	c.landlock_abi = 3;
	CHECK_GUARANTEE(&c, "filesystem",
			"weaker (landlock abi 3 path rules only: no mount namespace, host paths "
			"stay visible)");
	CHECK_GUARANTEE(&c, "isolation", "unavailable (cannot create mount namespaces)");
	c.pidns = false;
	CHECK_GUARANTEE(&c, "kill", "enforced (freeze the v1 cgroup, then SIGKILL every member)");
}

static void test_print(void)
{
	struct nsh_sandbox_caps c = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	c.root = true;
	c.landlock_abi = 7;
	c.max_user_namespaces = 42;
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	nsh_sandbox_caps_print(&c, f);
	fclose(f);
	CHECK(strstr(text, "root                   yes\n") != NULL);
	CHECK(strstr(text, "userns                 no\n") != NULL);
	CHECK(strstr(text, "landlock_abi           7\n") != NULL);
	CHECK(strstr(text, "max_user_namespaces    42\n") != NULL);
	CHECK(strstr(text, "cgroup2_path           -\n") != NULL);
	CHECK(strstr(text, "\nguarantees:\n") != NULL);
	for (size_t i = 0; i < NKEYS; i++) {
		struct nsh_buf want = NSH_BUF_INIT;
		char *g = guarantee(&c, guarantee_keys[i]);

		nsh_buf_addf(&want, "\n  %-20s %s\n", guarantee_keys[i], g);
		CHECK(strstr(text, want.buf) != NULL);
		nsh_buf_release(&want);
		free(g);
	}
	free(text);
}

int main(void)
{
	RUN(test_probe_this_host);
	RUN(test_probe_leaves_caller_alone);
	RUN(test_json_this_host);
	RUN(test_guarantees_bare_host);
	RUN(test_guarantees_v2_host);
	RUN(test_guarantees_partial_host);
	RUN(test_print);
	return TEST_DONE();
}
