/*
 * Tests for the seccomp filter and the Landlock rulesets. Every check runs
 * in a forked child that installs the filter or ruleset, tries operations
 * and sends back what each returned (0 or an errno value). Each denial has
 * a positive twin in the same child, so a filter that denies everything
 * fails too. The same seccomp cases also run unfiltered ("control"): an
 * operation that would fail with the expected errno anyway proves nothing,
 * so the control must see something else.
 */
#include "sandbox/filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "test.h"

#include "core/banned.h"

#ifndef AF_VSOCK
# define AF_VSOCK 40
#endif
#define NR_OPEN_TREE_ATTR 467 /* x86_64, Linux 6.15 */
#define MAX_CASES	  64

extern char **environ;

/* What the operations in a child need, prepared by the parent before fork(). */
struct ctx {
	const struct nsh_seccomp *filter;      /* seccomp: the filter to load, NULL for none */
	const struct nsh_seccomp *filter2;     /* load_parts(): loaded after @filter */
	const struct nsh_landlock_path *paths; /* landlock: the rules */
	size_t npaths;			       /* number of rules */
	unsigned scopes;		       /* landlock: NSH_LANDLOCK_* */
	int abi;			       /* landlock: ABI to apply */
	int pty;			       /* a pseudo-terminal slave */
	const char *tmp;		       /* a directory the rules make writable */
	const char *outside;		       /* a directory they do not */
	int tcp_port;			       /* a TCP listener of the parent on 127.0.0.1 */
	const char *abstract;		       /* name of a parent's abstract unix socket */
};

/* One operation: returns 0 when it worked, else the errno it failed with. */
struct tcase {
	const char *name;
	int (*fn)(const struct ctx *x);
	int want;	/* expected result under the filter */
	bool root_ctrl; /* control (unfiltered) differs from want only as root */
};

static int err_of(long r)
{
	return r < 0 ? errno : 0;
}

/* Run @fn in a grandchild; its result, or 255 when it was killed. */
static int sub(int (*fn)(const struct ctx *), const struct ctx *x)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(fn(x) & 0xff);
	if (waitpid(pid, &st, 0) < 0)
		return errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/*
 * In a child: @setup(@x), then every case (also when setup failed); the
 * results go back over a pipe. *@ret_setup gets what setup returned.
 * False when the child died.
 */
static bool run_cases(int (*setup)(const struct ctx *), const struct ctx *x,
		      const struct tcase *cases, size_t n, int *ret_setup, int res[MAX_CASES])
{
	int fds[2], st, buf[MAX_CASES + 1];
	size_t got = 0, want = (n + 1) * sizeof(int);
	pid_t pid;

	if (n > MAX_CASES || pipe2(fds, O_CLOEXEC) < 0)
		return false;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		close(fds[0]);
		buf[0] = setup ? setup(x) : 0;
		for (size_t i = 0; i < n; i++)
			buf[i + 1] = cases[i].fn(x);
		if (write(fds[1], buf, want) != (ssize_t)want)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	while (got < want) {
		ssize_t r = read(fds[0], (char *)buf + got, want - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fds[0]);
	waitpid(pid, &st, 0);
	if (got != want || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return false;
	*ret_setup = buf[0];
	memcpy(res, buf + 1, n * sizeof(int));
	return true;
}

/* Run @cases under @setup and check every result against its want. */
static void expect(int (*setup)(const struct ctx *), const struct ctx *x, const struct tcase *cases,
		   size_t n)
{
	int res[MAX_CASES], s = -1;

	CHECK(run_cases(setup, x, cases, n, &s, res));
	CHECK_INT(s, 0);
	if (s != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (res[i] != cases[i].want)
			fprintf(stderr, "case '%s': got %d (%s), want %d (%s)\n", cases[i].name,
				res[i], strerror(res[i]), cases[i].want, strerror(cases[i].want));
		CHECK_INT(res[i], cases[i].want);
	}
}

/* The same cases without any filter: a denial must not happen there. */
static void control(const struct ctx *x, const struct tcase *cases, size_t n)
{
	int res[MAX_CASES], s = -1;
	bool root = geteuid() == 0;

	CHECK(run_cases(NULL, x, cases, n, &s, res));
	for (size_t i = 0; i < n; i++) {
		if (!cases[i].want || (cases[i].root_ctrl && !root))
			continue;
		if (res[i] == cases[i].want)
			fprintf(stderr, "control '%s': %d (%s) without the filter too\n",
				cases[i].name, res[i], strerror(res[i]));
		CHECK(res[i] != cases[i].want);
	}
}

/* ---- seccomp operations ---- */

static int load_filter(const struct ctx *x)
{
	return nsh_seccomp_load(x->filter);
}

static int op_traceme_child(const struct ctx *x)
{
	(void)x;
	return err_of(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

/*
 * Operations that change the process (tracing, namespaces) run in a
 * grandchild, so that they cannot affect the cases after them: in the
 * unfiltered control a traced child would stop on every signal, and one
 * in a new user namespace would lose its capabilities.
 */
static int op_ptrace(const struct ctx *x)
{
	return sub(op_traceme_child, x);
}

static int op_process_vm_readv(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0));
}

static int op_pidfd_getfd(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_pidfd_getfd, -1, 0, 0));
}

static int op_keyctl(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static int op_add_key(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_add_key, "user", "nsh-test", "x", 1, KEY_SPEC_PROCESS_KEYRING));
}

static int op_request_key(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_request_key, "user", "nsh-test-none", NULL, 0));
}

static int op_bpf(const struct ctx *x)
{
	char attr[128] = {0};

	(void)x;
	return err_of(syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof(attr)));
}

static int op_perf_event_open(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
}

static int op_userfaultfd(const struct ctx *x)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC);

	(void)x;
	if (fd >= 0)
		close((int)fd);
	return err_of(fd);
}

static int op_io_uring_setup(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_io_uring_setup, 0, NULL));
}

static int op_io_uring_enter(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
}

static int op_mount(const struct ctx *x)
{
	(void)x;
	return err_of(mount("none", "/nonexistent-nsh", "tmpfs", 0, NULL));
}

static int op_umount2(const struct ctx *x)
{
	(void)x;
	return err_of(umount2("/nonexistent-nsh", 0));
}

static int op_fsopen(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_fsopen, "nsh-no-such-fs", 0));
}

static int op_open_tree(const struct ctx *x)
{
	long fd = syscall(SYS_open_tree, AT_FDCWD, "/", O_CLOEXEC);

	(void)x;
	if (fd >= 0)
		close((int)fd);
	return err_of(fd);
}

static int op_open_tree_attr(const struct ctx *x)
{
	long fd = syscall(NR_OPEN_TREE_ATTR, AT_FDCWD, "/", O_CLOEXEC, NULL, 0);

	(void)x;
	if (fd >= 0)
		close((int)fd);
	return err_of(fd);
}

static int op_move_mount(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_move_mount, -1, "", -1, "", 0));
}

static int op_mount_setattr(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, NULL, 0));
}

static int op_pivot_root(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_pivot_root, "/nonexistent-nsh", "/nonexistent-nsh"));
}

static int op_setns(const struct ctx *x)
{
	(void)x;
	return err_of(setns(-1, 0));
}

static int unshare_user(const struct ctx *x)
{
	(void)x;
	return err_of(unshare(CLONE_NEWUSER));
}

static int op_unshare_user(const struct ctx *x)
{
	return sub(unshare_user, x);
}

static int unshare_mount(const struct ctx *x)
{
	(void)x;
	return err_of(unshare(CLONE_NEWNS));
}

static int op_unshare_mount(const struct ctx *x)
{
	return sub(unshare_mount, x);
}

static int unshare_net(const struct ctx *x)
{
	(void)x;
	return err_of(unshare(CLONE_NEWNET));
}

static int op_unshare_net(const struct ctx *x)
{
	return sub(unshare_net, x);
}

static int unshare_files(const struct ctx *x)
{
	(void)x;
	return err_of(unshare(CLONE_FILES | CLONE_FS));
}

static int op_unshare_files(const struct ctx *x)
{
	return sub(unshare_files, x);
}

/* Raw clone() (as fork) with @flags; the new process exits at once. */
static int clone_with(unsigned long flags)
{
	int st;
	long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return errno;
	waitpid((pid_t)pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 255;
}

static int op_clone_newuser(const struct ctx *x)
{
	(void)x;
	return clone_with(CLONE_NEWUSER);
}

static int op_clone_newpid(const struct ctx *x)
{
	(void)x;
	return clone_with(CLONE_NEWPID);
}

static int op_clone_plain(const struct ctx *x)
{
	(void)x;
	return clone_with(0);
}

static int op_clone3(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_clone3, NULL, 0));
}

static int op_tiocsti(const struct ctx *x)
{
	char c = ' ';

	return err_of(syscall(SYS_ioctl, x->pty, (unsigned long)TIOCSTI, &c));
}

static int op_tiocsti_high(const struct ctx *x)
{
	char c = ' ';

	return err_of(syscall(SYS_ioctl, x->pty, (unsigned long)TIOCSTI | (1UL << 32), &c));
}

static int op_tioclinux(const struct ctx *x)
{
	char sub_cmd = 0;

	return err_of(syscall(SYS_ioctl, x->pty, (unsigned long)TIOCLINUX, &sub_cmd));
}

static int op_tiocgwinsz(const struct ctx *x)
{
	struct winsize ws;

	return err_of(ioctl(x->pty, TIOCGWINSZ, &ws));
}

static int op_open_by_handle_at(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_open_by_handle_at, -1, NULL, 0));
}

static int op_name_to_handle_at(const struct ctx *x)
{
	int mnt;

	(void)x;
	return err_of(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, &mnt, 0));
}

static int op_kexec_file_load(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0));
}

static int op_finit_module(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_finit_module, -1, "", 0));
}

static int op_delete_module(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_delete_module, "nsh_no_such_module", O_NONBLOCK));
}

static int op_acct(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_acct, "/nonexistent-nsh/acct"));
}

static int op_swapon(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_swapon, "/nonexistent-nsh", 0));
}

static int op_syslog(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
}

static int op_personality_query(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_personality, 0xffffffffUL));
}

static int op_personality_linux(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_personality, 0UL));
}

static int op_personality_norandom(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_personality, 0x0040000UL /* ADDR_NO_RANDOMIZE */));
}

/* The kernel reads an unsigned int: this is PER_LINUX with a high bit set. */
static int op_personality_high(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_personality, 1UL << 32));
}

static int op_personality_all_but_one(const struct ctx *x)
{
	(void)x;
	return err_of(syscall(SYS_personality, 0xfffffffeUL));
}

static int socket_of(long family, int type)
{
	long fd = syscall(SYS_socket, family, type | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		close((int)fd);
	return err_of(fd);
}

static int op_socket_vsock(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_VSOCK, SOCK_STREAM);
}

static int op_socket_vsock_high(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_VSOCK | (1L << 32), SOCK_STREAM);
}

static int op_socket_unix(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_UNIX, SOCK_STREAM);
}

static int op_socketpair_unix(const struct ctx *x)
{
	int sv[2];

	(void)x;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return errno;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static int op_socket_inet(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_INET, SOCK_STREAM);
}

static int op_socket_inet6(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_INET6, SOCK_DGRAM);
}

static int op_socket_netlink(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_NETLINK, SOCK_RAW);
}

static int op_socket_packet(const struct ctx *x)
{
	(void)x;
	return socket_of(AF_PACKET, SOCK_DGRAM);
}

static int op_getpid(const struct ctx *x)
{
	(void)x;
	return getpid() > 0 ? 0 : EINVAL;
}

static int op_read_file(const struct ctx *x)
{
	char buf[64];
	int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC), r = 0;

	(void)x;
	if (fd < 0)
		return errno;
	if (read(fd, buf, sizeof(buf)) < 0)
		r = errno;
	close(fd);
	return r;
}

static int op_nothing(const struct ctx *x)
{
	(void)x;
	return 0;
}

static int op_fork(const struct ctx *x)
{
	return sub(op_nothing, x);
}

static void *thread_main(void *arg)
{
	return arg;
}

/* pthread_create goes through clone3 first and must fall back to clone. */
static int op_thread(const struct ctx *x)
{
	pthread_t t;
	void *back = NULL;
	int r;

	(void)x;
	r = pthread_create(&t, NULL, thread_main, (void *)x);
	if (r)
		return r;
	pthread_join(t, &back);
	return back == x ? 0 : EINVAL;
}

/* fork + execve(@path); the program's exit code, or execve's errno. */
static int exec_status(const char *path)
{
	char *const argv[] = {(char *)path, NULL};
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0) {
		execve(path, argv, environ);
		_exit(errno & 0xff);
	}
	if (waitpid(pid, &st, 0) < 0)
		return errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int op_exec_true(const struct ctx *x)
{
	(void)x;
	return exec_status("/bin/true");
}

/* A shell line through nsh_proc (fork, pipes, poll, execve); 0 when it exited 0. */
static int shell(const char *line)
{
	const char *argv[] = {"/bin/sh", "-c", line, NULL};
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_proc_run_argv(argv, NULL, NULL, &err) < 0) {
		fprintf(stderr, "'%s': %s\n", line, err.msg);
		return EINVAL;
	}
	return 0;
}

static int op_sh_pipeline(const struct ctx *x)
{
	(void)x;
	return shell("echo hello | tr a-z A-Z | grep -q HELLO && make -v >/dev/null");
}

static int op_git(const struct ctx *x)
{
	(void)x;
	return shell("d=$(mktemp -d) && git -C \"$d\" init -q && git -C \"$d\" status --short && "
		     "rm -rf \"$d\"");
}

static int op_cc(const struct ctx *x)
{
	(void)x;
	return shell("d=$(mktemp -d) && echo 'int main(void){return 0;}' | cc -x c - -o \"$d/a\" "
		     "&& \"$d/a\"; r=$?; rm -rf \"$d\"; exit $r");
}

static int op_python(const struct ctx *x)
{
	(void)x;
	return shell("python3 -c 'import subprocess, threading, socket; "
		     "t = threading.Thread(target=print); t.start(); t.join(); "
		     "subprocess.run([\"true\"], check=True); socket.socketpair()' >/dev/null");
}

static int op_node(const struct ctx *x)
{
	(void)x;
	return shell("node -e \"require('child_process').execSync('true'); "
		     "require('fs').readFileSync('/etc/hostname'); "
		     "require('fs').promises.readFile('/etc/hostname').then(() => {})\"");
}

/* ---- seccomp tests ---- */

/* A pseudo-terminal slave for the TIOCSTI cases; -1 on failure. */
static int open_pty(int *ret_master)
{
	char name[64];
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s;

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name))) {
		if (m >= 0)
			close(m);
		return -1;
	}
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		close(m);
		return -1;
	}
	*ret_master = m;
	return s;
}

static const struct tcase seccomp_cases[] = {
	{"ptrace(PTRACE_TRACEME)", op_ptrace, EPERM, false},
	{"process_vm_readv", op_process_vm_readv, EPERM, false},
	{"pidfd_getfd", op_pidfd_getfd, EPERM, false},
	{"keyctl", op_keyctl, EPERM, false},
	{"add_key", op_add_key, EPERM, false},
	{"request_key", op_request_key, EPERM, false},
	{"bpf", op_bpf, EPERM, true},
	{"perf_event_open", op_perf_event_open, EPERM, false},
	{"userfaultfd", op_userfaultfd, EPERM, true},
	{"io_uring_setup", op_io_uring_setup, EPERM, false},
	{"io_uring_enter", op_io_uring_enter, EPERM, false},
	{"mount", op_mount, EPERM, true},
	{"umount2", op_umount2, EPERM, true},
	{"fsopen", op_fsopen, EPERM, true},
	{"open_tree", op_open_tree, EPERM, false},
	{"open_tree_attr", op_open_tree_attr, EPERM, false},
	{"move_mount", op_move_mount, EPERM, true},
	{"mount_setattr", op_mount_setattr, EPERM, false},
	{"pivot_root", op_pivot_root, EPERM, true},
	{"setns", op_setns, EPERM, false},
	{"unshare(CLONE_NEWUSER)", op_unshare_user, EPERM, false},
	{"unshare(CLONE_NEWNS)", op_unshare_mount, EPERM, true},
	{"unshare(CLONE_NEWNET)", op_unshare_net, EPERM, true},
	{"clone(CLONE_NEWUSER)", op_clone_newuser, EPERM, false},
	{"clone(CLONE_NEWPID)", op_clone_newpid, EPERM, true},
	{"clone3", op_clone3, ENOSYS, false},
	{"ioctl(TIOCSTI)", op_tiocsti, EPERM, true},
	{"ioctl(TIOCSTI | 1 << 32)", op_tiocsti_high, EPERM, true},
	{"ioctl(TIOCLINUX)", op_tioclinux, EPERM, false},
	{"open_by_handle_at", op_open_by_handle_at, EPERM, true},
	{"name_to_handle_at", op_name_to_handle_at, EPERM, false},
	{"kexec_file_load", op_kexec_file_load, EPERM, true},
	{"finit_module", op_finit_module, EPERM, true},
	{"delete_module", op_delete_module, EPERM, true},
	{"acct", op_acct, EPERM, true},
	{"swapon", op_swapon, EPERM, true},
	{"syslog", op_syslog, EPERM, true},
	{"personality(ADDR_NO_RANDOMIZE)", op_personality_norandom, EPERM, false},
	{"personality(1 << 32)", op_personality_high, EPERM, false},
	{"personality(0xfffffffe)", op_personality_all_but_one, EPERM, false},
	{"socket(AF_VSOCK)", op_socket_vsock, EPERM, false},
	{"socket(AF_VSOCK | 1 << 32)", op_socket_vsock_high, EPERM, false},
	/* the positive twins */
	{"getpid", op_getpid, 0, false},
	{"open + read /etc/hostname", op_read_file, 0, false},
	{"fork + wait", op_fork, 0, false},
	{"clone without namespaces", op_clone_plain, 0, false},
	{"pthread_create (clone3 -> clone)", op_thread, 0, false},
	{"unshare(CLONE_FILES | CLONE_FS)", op_unshare_files, 0, false},
	{"ioctl(TIOCGWINSZ)", op_tiocgwinsz, 0, false},
	{"personality(0xffffffff)", op_personality_query, 0, false},
	{"personality(PER_LINUX)", op_personality_linux, 0, false},
	{"socket(AF_UNIX)", op_socket_unix, 0, false},
	{"socket(AF_INET)", op_socket_inet, 0, false},
	{"execve(/bin/true)", op_exec_true, 0, false},
};

static const struct tcase program_cases[] = {
	{"sh pipeline, make", op_sh_pipeline, 0, false},
	{"git init + status", op_git, 0, false},
	{"cc compile + run", op_cc, 0, false},
	{"python3 threads, subprocess, socketpair", op_python, 0, false},
	{"node child_process, fs", op_node, 0, false},
};

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

static void test_seccomp_denies(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_seccomp *f = NULL;
	struct ctx x = {0};
	int master = -1;

	CHECK_INT(nsh_seccomp_build(0, &f, &err), 0);
	CHECK(nsh_seccomp_len(f) > 10);
	x.filter = f;
	x.pty = open_pty(&master);
	CHECK(x.pty >= 0);
	expect(load_filter, &x, seccomp_cases, NCASES(seccomp_cases));
	control(&x, seccomp_cases, NCASES(seccomp_cases));
	close(x.pty);
	close(master);
	nsh_seccomp_free(f);
}

/* Real programs keep working under the filter. */
static void test_seccomp_programs(void)
{
	struct nsh_seccomp *f = NULL;
	struct ctx x = {0};

	CHECK_INT(nsh_seccomp_build(0, &f, NULL), 0);
	x.filter = f;
	expect(load_filter, &x, program_cases, NCASES(program_cases));
	nsh_seccomp_free(f);
}

static void test_seccomp_no_net(void)
{
	static const struct tcase cases[] = {
		{"socket(AF_INET)", op_socket_inet, EPERM, false},
		{"socket(AF_INET6)", op_socket_inet6, EPERM, false},
		{"socket(AF_NETLINK)", op_socket_netlink, EPERM, false},
		{"socket(AF_PACKET)", op_socket_packet, EPERM, true},
		{"socket(AF_VSOCK)", op_socket_vsock, EPERM, false},
		{"socket(AF_UNIX)", op_socket_unix, 0, false},
		{"socketpair(AF_UNIX)", op_socketpair_unix, 0, false},
		{"ptrace still denied", op_ptrace, EPERM, false},
	};
	struct nsh_seccomp *f = NULL;
	struct ctx x = {0};

	CHECK_INT(nsh_seccomp_build(NSH_SECCOMP_NO_NET, &f, NULL), 0);
	x.filter = f;
	expect(load_filter, &x, cases, NCASES(cases));
	control(&x, cases, NCASES(cases));
	nsh_seccomp_free(f);
}

static void test_seccomp_allow_ptrace(void)
{
	static const struct tcase cases[] = {
		{"ptrace(PTRACE_TRACEME)", op_ptrace, 0, false},
		{"process_vm_readv", op_process_vm_readv, EPERM, false},
		{"keyctl", op_keyctl, EPERM, false},
	};
	struct nsh_seccomp *f = NULL;
	struct ctx x = {0};

	CHECK_INT(nsh_seccomp_build(NSH_SECCOMP_ALLOW_PTRACE, &f, NULL), 0);
	x.filter = f;
	expect(load_filter, &x, cases, NCASES(cases));
	nsh_seccomp_free(f);
}

static int op_x32_getpid(const struct ctx *x)
{
	(void)x;
	syscall(0x40000000 | SYS_getpid);
	return 0;
}

static int op_i386_getpid(const struct ctx *x)
{
	int r;

	(void)x;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20 /* i386 getpid */) : "memory");
	return r > 0 ? 0 : 1;
}

/* Load the filter (unless @f is NULL), run @fn; how the process ended. */
static int foreign_abi(const struct nsh_seccomp *f, int (*fn)(const struct ctx *))
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		if (f && nsh_seccomp_load(f) < 0)
			_exit(2);
		_exit(fn(NULL));
	}
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

/* x32 and i386 system calls kill the whole process; unfiltered they run. */
static void test_seccomp_foreign_abi(void)
{
	struct nsh_seccomp *f = NULL;

	CHECK_INT(nsh_seccomp_build(0, &f, NULL), 0);
	CHECK_INT(foreign_abi(f, op_x32_getpid), -SIGSYS);
	CHECK_INT(foreign_abi(f, op_i386_getpid), -SIGSYS);
	CHECK_INT(foreign_abi(NULL, op_x32_getpid), 0);
	CHECK_INT(foreign_abi(NULL, op_i386_getpid), 0);
	nsh_seccomp_free(f);
}

static int load_parts(const struct ctx *x)
{
	int rc = nsh_seccomp_load(x->filter);

	return rc ? rc : nsh_seccomp_load(x->filter2);
}

/* Whether @c is one of the mount API's cases (NSH_SECCOMP_PART_MOUNT). */
static bool mount_case(const struct tcase *c)
{
	static const char *const names[] = {"mount",	     "umount2",	       "fsopen",
					    "open_tree",     "open_tree_attr", "move_mount",
					    "mount_setattr", "pivot_root"};

	for (size_t i = 0; i < NCASES(names); i++)
		if (!strcmp(c->name, names[i]))
			return true;
	return false;
}

/*
 * The filter's two parts: loaded both, in either order, they deny what the
 * whole filter denies; alone, the mount part denies only the mount API and
 * the base everything but (a pooled sandbox's init mounts between them).
 */
static void test_seccomp_parts(void)
{
	const size_t n = NCASES(seccomp_cases);
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_seccomp *base = NULL, *mnt = NULL, *f = NULL;
	int none[MAX_CASES], only_base[MAX_CASES], only_mnt[MAX_CASES], s = -1;
	struct ctx x = {0};
	size_t nmount = 0;
	int master = -1;

	CHECK_INT(nsh_seccomp_build(NSH_SECCOMP_PART_BASE, &base, &err), 0);
	CHECK_INT(nsh_seccomp_build(NSH_SECCOMP_PART_MOUNT, &mnt, &err), 0);
	CHECK(nsh_seccomp_len(mnt) < nsh_seccomp_len(base));
	CHECK_INT(nsh_seccomp_build(NSH_SECCOMP_PART_MOUNT | NSH_SECCOMP_NO_NET, &f, &err),
		  NSH_EINVAL);
	CHECK(f == NULL);
	x.pty = open_pty(&master);
	CHECK(x.pty >= 0);
	x.filter = base;
	x.filter2 = mnt;
	expect(load_parts, &x, seccomp_cases, n);
	x.filter = mnt;
	x.filter2 = base;
	expect(load_parts, &x, seccomp_cases, n);

	CHECK(run_cases(NULL, &x, seccomp_cases, n, &s, none));
	x.filter = base;
	CHECK(run_cases(load_filter, &x, seccomp_cases, n, &s, only_base));
	CHECK_INT(s, 0);
	x.filter = mnt;
	CHECK(run_cases(load_filter, &x, seccomp_cases, n, &s, only_mnt));
	CHECK_INT(s, 0);
	for (size_t i = 0; i < n; i++) {
		bool m = mount_case(&seccomp_cases[i]);

		nmount += m;
		if (only_base[i] != (m ? none[i] : seccomp_cases[i].want) ||
		    only_mnt[i] != (m ? seccomp_cases[i].want : none[i]))
			fprintf(stderr, "case '%s': base %d, mount %d, none %d, want %d\n",
				seccomp_cases[i].name, only_base[i], only_mnt[i], none[i],
				seccomp_cases[i].want);
		CHECK_INT(only_base[i], m ? none[i] : seccomp_cases[i].want);
		CHECK_INT(only_mnt[i], m ? seccomp_cases[i].want : none[i]);
	}
	CHECK_INT(nmount, 8);
	close(x.pty);
	close(master);
	nsh_seccomp_free(base);
	nsh_seccomp_free(mnt);
}

static void test_seccomp_args(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_seccomp *f = (struct nsh_seccomp *)&err;

	CHECK_INT(nsh_seccomp_build(1u << 7, &f, &err), NSH_EINVAL);
	CHECK(f == (struct nsh_seccomp *)&err); /* untouched on failure */
	CHECK_STR(err.msg, "unknown seccomp flags '0x80'");
	CHECK_INT(nsh_seccomp_load(NULL), -EINVAL);
	CHECK_INT(nsh_seccomp_len(NULL), 0);
	nsh_seccomp_free(NULL);
}

/* ---- Landlock operations ---- */

static int apply_rules(const struct ctx *x)
{
	return nsh_landlock_apply(x->paths, x->npaths, x->scopes, x->abi);
}

/* The same in steps, one rule added at a time, as a pooled sandbox's init does. */
static int apply_steps(const struct ctx *x)
{
	int ruleset = nsh_landlock_ruleset(x->scopes, x->abi), rc = 0;

	if (ruleset < 0)
		return ruleset;
	for (size_t i = 0; i < x->npaths && !rc; i++)
		rc = nsh_landlock_add(ruleset, &x->paths[i], 1, x->abi);
	if (rc) {
		close(ruleset);
		return rc;
	}
	return nsh_landlock_restrict(ruleset);
}

/* Create (or truncate) "@dir/@name" and write to it. */
static int write_in(const char *dir, const char *name)
{
	struct nsh_buf p = NSH_BUF_INIT;
	int fd, r = 0;

	nsh_fs_join(&p, dir, name);
	fd = open(p.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		r = errno;
	else if (write(fd, "x", 1) != 1)
		r = errno;
	if (fd >= 0)
		close(fd);
	nsh_buf_release(&p);
	return r;
}

static int op_write_tmp(const struct ctx *x)
{
	return write_in(x->tmp, "new");
}

static int op_write_outside(const struct ctx *x)
{
	return write_in(x->outside, "new");
}

/* "existing" was made by the parent before the rules applied. */
static int op_overwrite_outside(const struct ctx *x)
{
	return write_in(x->outside, "existing");
}

static int op_truncate_outside(const struct ctx *x)
{
	struct nsh_buf p = NSH_BUF_INIT;
	int r;

	nsh_fs_join(&p, x->outside, "existing");
	r = err_of(truncate(p.buf, 0));
	nsh_buf_release(&p);
	return r;
}

static int op_unlink_outside(const struct ctx *x)
{
	struct nsh_buf p = NSH_BUF_INIT;
	int r;

	nsh_fs_join(&p, x->outside, "existing");
	r = err_of(unlink(p.buf));
	nsh_buf_release(&p);
	return r;
}

static int op_read_outside(const struct ctx *x)
{
	struct nsh_buf p = NSH_BUF_INIT;
	int fd;

	nsh_fs_join(&p, x->outside, "existing");
	fd = open(p.buf, O_RDONLY | O_CLOEXEC);
	nsh_buf_release(&p);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* mkdir, symlink, fifo, rename between directories and unlink, in tmp. */
static int op_tree_ops_tmp(const struct ctx *x)
{
	struct nsh_buf a = NSH_BUF_INIT, b = NSH_BUF_INIT;
	int r = 0;

	nsh_fs_join(&a, x->tmp, "d");
	if (mkdir(a.buf, 0755) < 0)
		r = errno;
	nsh_buf_reset(&a);
	nsh_fs_join(&a, x->tmp, "link");
	if (!r && symlink("new", a.buf) < 0)
		r = errno;
	nsh_buf_reset(&a);
	nsh_fs_join(&a, x->tmp, "fifo");
	if (!r && mkfifo(a.buf, 0600) < 0)
		r = errno;
	nsh_fs_join(&b, x->tmp, "d/fifo");
	if (!r && rename(a.buf, b.buf) < 0)
		r = errno;
	if (!r && unlink(b.buf) < 0)
		r = errno;
	nsh_buf_release(&a);
	nsh_buf_release(&b);
	return r;
}

/* A character device (1,3 is /dev/null) is never allowed. */
static int op_mknod_char_tmp(const struct ctx *x)
{
	struct nsh_buf p = NSH_BUF_INIT;
	int r;

	nsh_fs_join(&p, x->tmp, "null");
	r = err_of(mknod(p.buf, S_IFCHR | 0600, makedev(1, 3)));
	if (!r)
		unlink(p.buf);
	nsh_buf_release(&p);
	return r;
}

static int op_read_passwd(const struct ctx *x)
{
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);

	(void)x;
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int op_tcp_connect(const struct ctx *x)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return errno;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)x->tcp_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = err_of(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);
	return r;
}

static int op_tcp_bind(const struct ctx *x)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	(void)x;
	if (fd < 0)
		return errno;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = err_of(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);
	return r;
}

static int op_udp_send(const struct ctx *x)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	(void)x;
	if (fd < 0)
		return errno;
	sa.sin_family = AF_INET;
	sa.sin_port = htons(9); /* discard; nobody needs to listen */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = err_of(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);
	return r;
}

static int op_kill_parent(const struct ctx *x)
{
	(void)x;
	return err_of(kill(getppid(), 0));
}

static int op_connect_abstract(const struct ctx *x)
{
	struct sockaddr_un sa = {0};
	size_t len = strlen(x->abstract);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return errno;
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, x->abstract, len);
	r = err_of(connect(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)));
	close(fd);
	return r;
}

/* ---- Landlock tests ---- */

/* Temporary directories: x->tmp (writable under the rules) and x->outside with a file. */
static void make_dirs(struct ctx *x)
{
	struct nsh_buf p = NSH_BUF_INIT;

	x->tmp = t_tmpdir();
	x->outside = t_tmpdir();
	nsh_fs_join(&p, x->outside, "existing");
	CHECK_INT(nsh_fs_write_atomic(p.buf, "old", 3, 0644, NULL), 0);
	nsh_buf_release(&p);
}

static void remove_dirs(struct ctx *x)
{
	CHECK_INT(nsh_fs_remove_tree(x->tmp, NULL), 0);
	CHECK_INT(nsh_fs_remove_tree(x->outside, NULL), 0);
	free((char *)x->tmp);
	free((char *)x->outside);
}

static void test_landlock_abi(void)
{
	/* research/sandbox.md: this host runs Landlock ABI 7 */
	CHECK(nsh_landlock_abi() >= 6);
}

static const struct tcase landlock_path_cases[] = {
	{"write a new file in tmp", op_write_tmp, 0, false},
	{"mkdir, symlink, mkfifo, rename, unlink in tmp", op_tree_ops_tmp, 0, false},
	{"read /etc/hostname", op_read_file, 0, false},
	{"read outside", op_read_outside, 0, false},
	{"execve(/bin/true)", op_exec_true, 0, false},
	{"create a file outside", op_write_outside, EACCES, false},
	{"overwrite a file outside", op_overwrite_outside, EACCES, false},
	{"truncate a file outside", op_truncate_outside, EACCES, false},
	{"unlink a file outside", op_unlink_outside, EACCES, false},
	{"mknod a char device in tmp", op_mknod_char_tmp, EACCES, false},
};

/* {"/" read-only, tmp writable}, in fresh directories; NULL @setup: no rules. */
static void landlock_paths_run(int (*setup)(const struct ctx *))
{
	struct nsh_landlock_path paths[2] = {{"/", false, true}, {NULL, true, true}};
	struct ctx x = {0};

	make_dirs(&x);
	paths[1].path = x.tmp;
	x.paths = paths;
	x.npaths = 2;
	x.abi = nsh_landlock_abi();
	if (setup) {
		expect(setup, &x, landlock_path_cases, NCASES(landlock_path_cases));
	} else {
		int res[MAX_CASES], s = -1;

		CHECK(run_cases(NULL, &x, landlock_path_cases, NCASES(landlock_path_cases), &s,
				res));
		for (size_t i = 0; i < NCASES(landlock_path_cases); i++) {
			if (res[i])
				fprintf(stderr, "control '%s': %s\n", landlock_path_cases[i].name,
					strerror(res[i]));
			CHECK_INT(res[i], 0);
		}
	}
	remove_dirs(&x);
}

static void test_landlock_paths(void)
{
	landlock_paths_run(apply_rules);
	landlock_paths_run(apply_steps);
	/* everything denied there works without the ruleset (we are root) */
	if (geteuid() == 0)
		landlock_paths_run(NULL);
}

/* Without @exec nothing runs; a rule on a file covers only that file. */
static void test_landlock_exec_and_files(void)
{
	static const struct tcase no_exec[] = {
		{"read /etc/hostname", op_read_file, 0, false},
		{"execve(/bin/true)", op_exec_true, EACCES, false},
	};
	static const struct tcase one_file[] = {
		{"read /etc/hostname", op_read_file, 0, false},
		{"read /etc/passwd", op_read_passwd, EACCES, false},
	};
	static const struct nsh_landlock_path ro_noexec[] = {{"/", false, false}};
	static const struct nsh_landlock_path hostname[] = {
		{"/nonexistent-nsh/skipped", true, true},
		{"/etc/hostname", true, true},
	};
	struct ctx x = {0};

	x.abi = nsh_landlock_abi();
	x.paths = ro_noexec;
	x.npaths = 1;
	expect(apply_rules, &x, no_exec, NCASES(no_exec));
	x.paths = hostname;
	x.npaths = 2;
	expect(apply_rules, &x, one_file, NCASES(one_file));
}

/* ABI 1 rules still confine writes. */
static void test_landlock_abi1(void)
{
	static const struct tcase cases[] = {
		{"write a new file in tmp", op_write_tmp, 0, false},
		{"create a file outside", op_write_outside, EACCES, false},
	};
	struct ctx x = {0};
	struct nsh_landlock_path paths[2] = {{"/", false, true}, {NULL, true, true}};

	make_dirs(&x);
	paths[1].path = x.tmp;
	x.paths = paths;
	x.npaths = 2;
	x.abi = 1;
	expect(apply_rules, &x, cases, NCASES(cases));
	remove_dirs(&x);
}

/* A listening socket of the parent, on 127.0.0.1 or an abstract name. */
static int listen_tcp(int *ret_port)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

static int listen_abstract(const char *name)
{
	struct sockaddr_un sa = {0};
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name, len);
	if (fd < 0 ||
	    bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0 ||
	    listen(fd, 8) < 0)
		return -1;
	return fd;
}

static void test_landlock_net_and_scopes(void)
{
	static const struct nsh_landlock_path root[] = {{"/", true, true}};
	static const struct tcase open_cases[] = {
		{"tcp connect", op_tcp_connect, 0, false},
		{"tcp bind", op_tcp_bind, 0, false},
		{"kill(getppid(), 0)", op_kill_parent, 0, false},
		{"connect to the parent's abstract socket", op_connect_abstract, 0, false},
	};
	static const struct tcase no_tcp[] = {
		{"tcp connect", op_tcp_connect, EACCES, false},
		{"tcp bind", op_tcp_bind, EACCES, false},
		{"udp sendto (not covered)", op_udp_send, 0, false},
		{"kill(getppid(), 0)", op_kill_parent, 0, false},
	};
	static const struct tcase signal_scope[] = {
		{"kill(getppid(), 0)", op_kill_parent, EPERM, false},
		{"connect to the parent's abstract socket", op_connect_abstract, 0, false},
		{"tcp connect", op_tcp_connect, 0, false},
	};
	static const struct tcase unix_scope[] = {
		{"connect to the parent's abstract socket", op_connect_abstract, EPERM, false},
		{"kill(getppid(), 0)", op_kill_parent, 0, false},
		{"socket(AF_UNIX)", op_socket_unix, 0, false},
	};
	struct nsh_buf name = NSH_BUF_INIT;
	struct ctx x = {0};
	int tcp, unx;

	nsh_buf_addf(&name, "nsh-test-landlock-%ld", (long)getpid());
	tcp = listen_tcp(&x.tcp_port);
	unx = listen_abstract(name.buf);
	CHECK(tcp >= 0);
	CHECK(unx >= 0);
	x.abstract = name.buf;
	x.paths = root;
	x.npaths = 1;
	x.abi = nsh_landlock_abi();

	expect(apply_rules, &x, open_cases, NCASES(open_cases));
	x.scopes = NSH_LANDLOCK_NO_TCP;
	expect(apply_rules, &x, no_tcp, NCASES(no_tcp));
	x.scopes = NSH_LANDLOCK_SCOPE_SIGNAL;
	expect(apply_rules, &x, signal_scope, NCASES(signal_scope));
	x.scopes = NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX;
	expect(apply_rules, &x, unix_scope, NCASES(unix_scope));

	close(tcp);
	close(unx);
	nsh_buf_release(&name);
}

/* Bad arguments fail before anything is restricted. */
static void test_landlock_args(void)
{
	static const struct tcase still_free[] = {
		{"create a file outside", op_write_outside, 0, false},
	};
	static const struct nsh_landlock_path root[] = {{"/", false, true}};
	static const struct nsh_landlock_path null_path[] = {{NULL, false, false}};
	static const struct {
		const struct nsh_landlock_path *paths;
		size_t n;
		unsigned scopes;
		int abi, want;
	} bad[] = {
		{root, 1, 1u << 7, 7, -EINVAL},
		{NULL, 1, 0, 7, -EINVAL},
		{root, 1, 0, 0, -EOPNOTSUPP},
		{root, 1, NSH_LANDLOCK_SCOPE_SIGNAL, 5, -EOPNOTSUPP},
		{root, 1, NSH_LANDLOCK_SCOPE_ABSTRACT_UNIX, 5, -EOPNOTSUPP},
		{root, 1, NSH_LANDLOCK_NO_TCP, 3, -EOPNOTSUPP},
		{null_path, 1, 0, 7, -EINVAL},
	};
	struct ctx x = {0};

	make_dirs(&x);
	for (size_t i = 0; i < NCASES(bad); i++) {
		int res[MAX_CASES], s = 0;

		x.paths = bad[i].paths;
		x.npaths = bad[i].n;
		x.scopes = bad[i].scopes;
		x.abi = bad[i].abi;
		CHECK(run_cases(apply_rules, &x, still_free, NCASES(still_free), &s, res));
		CHECK_INT(s, bad[i].want);
		/* a rejected ruleset leaves the process unrestricted */
		CHECK_INT(res[0], 0);
	}
	remove_dirs(&x);
}

int main(void)
{
	RUN(test_seccomp_args);
	RUN(test_seccomp_denies);
	RUN(test_seccomp_parts);
	RUN(test_seccomp_no_net);
	RUN(test_seccomp_allow_ptrace);
	RUN(test_seccomp_foreign_abi);
	RUN(test_seccomp_programs);
	RUN(test_landlock_abi);
	RUN(test_landlock_paths);
	RUN(test_landlock_exec_and_files);
	RUN(test_landlock_abi1);
	RUN(test_landlock_net_and_scopes);
	RUN(test_landlock_args);
	return TEST_DONE();
}
