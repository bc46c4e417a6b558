/*
 * Attacks on the sandbox, one per sub-command, for tests/integ/t0100.
 *
 * Each attack tries one thing a hostile job might do and prints exactly
 * one word: "ok" when the attempt succeeded, else the errno name of the
 * failure (EPERM, ENOENT, ...). The test script asserts the specific
 * denial. Built statically without sanitizers, because it runs inside the
 * sandbox, where ptrace (which LeakSanitizer needs) is denied.
 *
 *   nsh-attack NAME [ARG]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
	switch (e) {
	case 0:
		return "ok";
	case EPERM:
		return "EPERM";
	case EACCES:
		return "EACCES";
	case ENOENT:
		return "ENOENT";
	case EROFS:
		return "EROFS";
	case ENOSYS:
		return "ENOSYS";
	case ESRCH:
		return "ESRCH";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case ENETUNREACH:
		return "ENETUNREACH";
	case ENOSPC:
		return "ENOSPC";
	case EAGAIN:
		return "EAGAIN";
	case EINVAL:
		return "EINVAL";
	case EBADF:
		return "EBADF";
	case ENOTTY:
		return "ENOTTY";
	case EAFNOSUPPORT:
		return "EAFNOSUPPORT";
	case ENXIO:
		return "ENXIO";
	case ENOTDIR:
		return "ENOTDIR";
	case EEXIST:
		return "EEXIST";
	case EDQUOT:
		return "EDQUOT";
	default:
		return "EOTHER";
	}
}

/* Print the outcome of a call that returns -1 with errno on failure. */
static int report(long rc)
{
	puts(ename(rc < 0 ? errno : 0));
	return 0;
}

static int read_file(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return report(-1);
	if (read(fd, buf, sizeof(buf)) < 0)
		return report(-1);
	close(fd);
	return report(0);
}

static int write_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return report(-1);
	if (write(fd, "pwned\n", 6) != 6)
		return report(-1);
	close(fd);
	return report(0);
}

/* Open a pseudo-terminal pair and push a character into its input. */
static int tiocsti(unsigned long request)
{
	char c = 'x';
	int m = posix_openpt(O_RDWR | O_NOCTTY), s;

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return report(-1);
	s = open(ptsname(m), O_RDWR | O_NOCTTY);
	if (s < 0)
		return report(-1);
	return report(syscall(SYS_ioctl, s, request, &c));
}

static int connect_unix(const char *name, bool abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len;

	if (s < 0)
		return report(-1);
	if (abstract) {
		sa.sun_path[0] = '\0';
		memcpy(sa.sun_path + 1, name, strlen(name));
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	} else {
		memcpy(sa.sun_path, name, strlen(name) + 1);
		len = sizeof(sa);
	}
	return report(connect(s, (struct sockaddr *)&sa, len));
}

static int connect_tcp(const char *host, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return report(-1);
	inet_pton(AF_INET, host, &sa.sin_addr);
	return report(connect(s, (struct sockaddr *)&sa, sizeof(sa)));
}

/* Fork until refused; prints EAGAIN when the pids limit stopped it. */
static int fork_bomb(void)
{
	int n = 0, e = 0;

	for (; n < 100000; n++) {
		pid_t p = fork();

		if (p < 0) {
			e = errno;
			break;
		}
		if (p == 0) {
			pause();
			_exit(0);
		}
	}
	fprintf(stderr, "forked %d\n", n);
	puts(ename(e));
	/* The sandbox's init kills the paused children once we exit. */
	return 0;
}

/* Allocate and touch @mb MiB; only prints when it survives. */
static int memory_hog(long mb)
{
	for (long i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);

		if (!p)
			return report(-1);
		memset(p, 1, 1 << 20);
	}
	return report(0);
}

/* Write until the disk refuses; prints the errno that stopped it. */
static int disk_fill(const char *path)
{
	static char block[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	long total = 0;

	if (fd < 0)
		return report(-1);
	memset(block, 'z', sizeof(block));
	for (;;) {
		ssize_t n = write(fd, block, sizeof(block));

		if (n < 0) {
			fprintf(stderr, "wrote %ld MiB\n", total >> 20);
			return report(-1);
		}
		total += n;
		if (total > (4L << 30))
			return report(0);
	}
}

/* Drop to uid 1000 and exec @path, which prints its effective uid. */
static int setuid_exec(const char *path)
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 ||
		    setresuid(1000, 1000, 1000) < 0)
			_exit(3);
		execl(path, path, "whoami", (char *)NULL);
		_exit(4);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int count_pids(void)
{
	int n = 0;
	char path[64];

	for (int pid = 1; pid < 4194304 && n < 1000; pid++) {
		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (access(path, F_OK) == 0)
			n++;
		if (pid > 100000 && n < 50)
			break;
	}
	printf("%d\n", n);
	return 0;
}

static int interfaces(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;

	if (!ifs)
		return report(-1);
	for (i = ifs; i->if_index; i++)
		printf("%s\n", i->if_name);
	if_freenameindex(ifs);
	return 0;
}

int main(int argc, char **argv)
{
	const char *a = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : "";

	if (!strcmp(a, "read"))
		return read_file(arg);
	if (!strcmp(a, "write"))
		return write_file(arg);
	if (!strcmp(a, "whoami"))
		return printf("%d\n", (int)geteuid()) < 0;
	if (!strcmp(a, "kill"))
		return report(kill((pid_t)strtol(arg, NULL, 10), SIGKILL));
	if (!strcmp(a, "ptrace-traceme"))
		return report(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
	if (!strcmp(a, "ptrace-attach"))
		return report(ptrace(PTRACE_ATTACH, (pid_t)strtol(arg, NULL, 10), NULL, NULL));
	if (!strcmp(a, "tiocsti"))
		return tiocsti(TIOCSTI);
	if (!strcmp(a, "tiocsti-high"))
		return tiocsti(TIOCSTI | (1UL << 32));
	if (!strcmp(a, "tioclinux"))
		return tiocsti(TIOCLINUX);
	if (!strcmp(a, "keyctl"))
		return report(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
	if (!strcmp(a, "add-key"))
		return report(syscall(SYS_add_key, "user", "nsh", "x", 1, -3));
	if (!strcmp(a, "mount"))
		return report(mount("tmpfs", "/tmp", "tmpfs", 0, NULL));
	if (!strcmp(a, "umount"))
		return report(umount2("/workspace", MNT_DETACH));
	if (!strcmp(a, "userns"))
		return report(unshare(CLONE_NEWUSER));
	if (!strcmp(a, "setns"))
		return report(syscall(SYS_setns, open("/proc/self/ns/net", O_RDONLY), 0));
	if (!strcmp(a, "io-uring")) {
		char params[120] = {0};

		return report(syscall(SYS_io_uring_setup, 4, params));
	}
	if (!strcmp(a, "bpf")) {
		char attr[128] = {0};

		return report(syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof(attr)));
	}
	if (!strcmp(a, "perf")) {
		struct perf_event_attr pe = {.type = PERF_TYPE_SOFTWARE,
					     .size = sizeof(pe),
					     .config = PERF_COUNT_SW_CPU_CLOCK};

		return report(syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
	}
	if (!strcmp(a, "open-by-handle")) {
		char h[64] = {0};

		((unsigned int *)h)[0] = 8;
		return report(syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY));
	}
	if (!strcmp(a, "userfaultfd"))
		return report(syscall(SYS_userfaultfd, 0));
	if (!strcmp(a, "process-vm")) {
		char buf[8];
		struct iovec l = {buf, sizeof(buf)}, r = {buf, sizeof(buf)};

		return report(syscall(SYS_process_vm_readv, getppid(), &l, 1, &r, 1, 0));
	}
	if (!strcmp(a, "unix"))
		return connect_unix(arg, false);
	if (!strcmp(a, "unix-abstract"))
		return connect_unix(arg, true);
	if (!strcmp(a, "tcp"))
		return connect_tcp("127.0.0.1", (int)strtol(arg, NULL, 10));
	if (!strcmp(a, "tcp-out"))
		return connect_tcp(arg, 80);
	if (!strcmp(a, "raw"))
		return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	if (!strcmp(a, "packet"))
		return report(socket(AF_PACKET, SOCK_RAW, 0));
	if (!strcmp(a, "fork-bomb"))
		return fork_bomb();
	if (!strcmp(a, "memory"))
		return memory_hog(strtol(arg, NULL, 10));
	if (!strcmp(a, "disk-fill"))
		return disk_fill(arg);
	if (!strcmp(a, "setuid"))
		return setuid_exec(arg);
	if (!strcmp(a, "pids"))
		return count_pids();
	if (!strcmp(a, "interfaces"))
		return interfaces();
	if (!strcmp(a, "mknod"))
		return report(mknod(arg, S_IFCHR | 0666, makedev(1, 3)));
	if (!strcmp(a, "hostname"))
		return report(sethostname(arg, strlen(arg)));
	if (!strcmp(a, "clock")) {
		struct timespec ts = {1000000000, 0};

		return report(clock_settime(CLOCK_REALTIME, &ts));
	}
	if (!strcmp(a, "chroot-escape")) {
		/* the classic: chroot into a subdirectory and climb out */
		if (mkdir("/tmp/jail", 0755) < 0 && errno != EEXIST)
			return report(-1);
		if (chroot("/tmp/jail") < 0)
			return report(-1);
		for (int i = 0; i < 64; i++)
			if (chdir("..") < 0)
				break;
		if (chroot(".") < 0)
			return report(-1);
		return read_file(arg);
	}
	fprintf(stderr, "nsh-attack: unknown attack '%s'\n", a);
	return 2;
}
