/*
 * The pool of ready network namespaces (run as root): it refills after a
 * take, never hands out one namespace twice unless given back unused,
 * each namespace it gives has loopback up and low ports open, and freeing
 * it leaves no descriptor or thread behind.
 */
#include "sandbox/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "test.h"

#include "core/banned.h"

#define TAKES 12

/* Entries of a /proc/self directory (fds or threads). */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static ino_t ns_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/*
 * In a child that joins namespace @fd: 0 when loopback is up and any port
 * may be bound, else a number naming what was wrong.
 */
static int check_inside(int fd)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		/* no allocation here: another thread (the filler) may hold a lock */
		char val[8] = "";
		struct ifreq ifr;
		int s, f;

		if (setns(fd, CLONE_NEWNET) < 0)
			_exit(2);
		s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, "lo", 3);
		if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
			_exit(3);
		f = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_RDONLY | O_CLOEXEC);
		if (f < 0 || read(f, val, sizeof(val) - 1) < 0 || strcmp(val, "0\n"))
			_exit(4);
		/* nothing else is in there: eth0 and friends are the host's */
		memcpy(ifr.ifr_name, "eth0", 5);
		if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
			_exit(5);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void test_refills(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_netns_pool *p = NULL;
	int fd;

	CHECK_INT(nsh_netns_pool_new(0, &p, &err), NSH_EINVAL);
	CHECK_INT(nsh_netns_pool_new(65, &p, &err), NSH_EINVAL);
	CHECK(p == NULL);
	CHECK_INT(nsh_netns_pool_new(3, &p, &err), 0);
	if (!p)
		return;
	CHECK(nsh_netns_pool_wait_full(p, 10000));
	CHECK_INT(nsh_netns_pool_ready(p), 3);
	for (int round = 0; round < 3; round++) {
		fd = nsh_netns_pool_take(p, &err);
		CHECK(fd >= 0);
		CHECK_INT(check_inside(fd), 0);
		if (fd >= 0)
			close(fd);
		/* the filler makes up the loss */
		CHECK(nsh_netns_pool_wait_full(p, 10000));
		CHECK_INT(nsh_netns_pool_ready(p), 3);
	}
	nsh_netns_pool_free(p);
}

/* While held, the filler makes nothing; released, it refills. */
static void test_hold(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_netns_pool *p = NULL;
	int fd;

	CHECK_INT(nsh_netns_pool_new(2, &p, &err), 0);
	if (!p)
		return;
	CHECK(nsh_netns_pool_wait_full(p, 10000));
	nsh_netns_pool_hold(p, true);
	nsh_netns_pool_hold(p, true);
	fd = nsh_netns_pool_take(p, &err);
	CHECK(fd >= 0);
	CHECK(!nsh_netns_pool_wait_full(p, 200));
	CHECK_INT(nsh_netns_pool_ready(p), 1);
	nsh_netns_pool_hold(p, false);
	CHECK(!nsh_netns_pool_wait_full(p, 200)); /* still held once */
	nsh_netns_pool_hold(p, false);
	CHECK(nsh_netns_pool_wait_full(p, 10000));
	CHECK_INT(nsh_netns_pool_ready(p), 2);
	if (fd >= 0)
		close(fd);
	nsh_netns_pool_free(p);
}

/* More takes than the pool holds, all kept open: every namespace is a new one. */
static void test_never_reused(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_netns_pool *p = NULL;
	int fds[TAKES], self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ino_t ino[TAKES], own = ns_ino(self);
	int distinct = 0, good = 0;

	CHECK_INT(nsh_netns_pool_new(2, &p, &err), 0);
	if (!p) {
		close(self);
		return;
	}
	for (int i = 0; i < TAKES; i++) {
		fds[i] = nsh_netns_pool_take(p, &err);
		ino[i] = fds[i] >= 0 ? ns_ino(fds[i]) : 0;
		good += fds[i] >= 0 && ino[i] && ino[i] != own && check_inside(fds[i]) == 0;
	}
	for (int i = 0; i < TAKES; i++) {
		bool unique = ino[i] != 0;

		for (int j = 0; j < i; j++)
			unique &= ino[j] != ino[i];
		distinct += unique;
	}
	CHECK_INT(good, TAKES);
	CHECK_INT(distinct, TAKES);
	/* the thread that took them is back in its own namespace */
	{
		int now = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

		CHECK(now >= 0 && ns_ino(now) == own);
		if (now >= 0)
			close(now);
	}
	for (int i = 0; i < TAKES; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	nsh_netns_pool_free(p);
	close(self);
}

/* Run @fn in a child that joined namespace @fd; its exit code, or -1. */
static int in_ns(int fd, int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(setns(fd, CLONE_NEWNET) < 0 ? 100 : fn());
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * A connection on loopback whose server side closes first: its socket on
 * port 7000 stays in TIME_WAIT after every descriptor is closed, and a
 * bind() of that port without SO_REUSEADDR fails while it does.
 */
static int leave_time_wait(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7000)};
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;
	char byte;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || c < 0 || bind(l, (void *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    connect(c, (void *)&a, sizeof(a)) < 0)
		return 1;
	s = accept(l, NULL, NULL);
	if (s < 0)
		return 2;
	close(s);		    /* the server's side closes first */
	if (read(c, &byte, 1) != 0) /* its FIN */
		return 3;
	close(c);
	close(l);
	return 0;
}

/* 0 when port 7000 can be bound without SO_REUSEADDR. */
static int bind_7000(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7000)};
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return l >= 0 && bind(l, (void *)&a, sizeof(a)) == 0 ? 0 : 1;
}

/* Wait until the pool has @n reused namespaces (at most 5 s); its count. */
static size_t wait_reused(struct nsh_netns_pool *p, size_t n)
{
	for (int i = 0; i < 500 && nsh_netns_pool_reused(p) < n; i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	return nsh_netns_pool_reused(p);
}

static void test_unused(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_netns_pool *p = NULL;
	int fd, home, sock = -1;

	CHECK_INT(nsh_netns_pool_new(1, &p, &err), 0);
	if (!p)
		return;
	fd = nsh_netns_pool_take(p, &err);
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	CHECK(nsh_netns_unused(fd));
	/* a socket held open in it (made by this thread, which goes back) */
	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home >= 0 && setns(fd, CLONE_NEWNET) == 0) {
		sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK_INT(setns(home, CLONE_NEWNET), 0);
	}
	if (home >= 0)
		close(home);
	CHECK(sock >= 0);
	CHECK(!nsh_netns_unused(fd));
	if (sock >= 0)
		close(sock);
	CHECK(nsh_netns_unused(fd));
	/* a connection in TIME_WAIT, with no process and no socket left */
	CHECK_INT(in_ns(fd, leave_time_wait), 0);
	CHECK(!nsh_netns_unused(fd));
	CHECK_INT(in_ns(fd, bind_7000), 1);
	CHECK(!nsh_netns_unused(-1));
	close(fd);
out:
	nsh_netns_pool_free(p);
}

static void test_given_back(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_netns_pool *p = NULL;
	int a, b, fds[4];
	ino_t ino_a, ino_b;
	bool got_a = false, got_b = false;

	CHECK_INT(nsh_netns_pool_new(2, &p, &err), 0);
	if (!p)
		return;
	CHECK(nsh_netns_pool_wait_full(p, 10000));
	a = nsh_netns_pool_take(p, &err);
	b = nsh_netns_pool_take(p, &err);
	CHECK(a >= 0 && b >= 0);
	if (a < 0 || b < 0)
		goto out;
	ino_a = ns_ino(a);
	ino_b = ns_ino(b);
	/* used, left clean: ready again, as a new one is */
	CHECK_INT(in_ns(a, bind_7000), 0);
	nsh_netns_pool_give(p, a);
	CHECK_INT(wait_reused(p, 1), 1);
	/* left with a connection in TIME_WAIT: closed, never handed out again */
	CHECK_INT(in_ns(b, leave_time_wait), 0);
	nsh_netns_pool_give(p, b);
	CHECK(nsh_netns_pool_wait_full(p, 10000));
	CHECK_INT(nsh_netns_pool_reused(p), 1);
	for (int i = 0; i < 4; i++) {
		fds[i] = nsh_netns_pool_take(p, &err);
		got_a |= fds[i] >= 0 && ns_ino(fds[i]) == ino_a;
		got_b |= fds[i] >= 0 && ns_ino(fds[i]) == ino_b;
		CHECK(fds[i] >= 0 && check_inside(fds[i]) == 0);
		CHECK(fds[i] >= 0 && in_ns(fds[i], bind_7000) == 0);
	}
	CHECK(got_a);
	CHECK(!got_b);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
out:
	nsh_netns_pool_free(p);
}

static void test_free_leaks_nothing(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_netns_pool *p = NULL;
	int fds0 = count_entries("/proc/self/fd"), threads0 = count_entries("/proc/self/task");
	int fd;

	CHECK_INT(nsh_netns_pool_new(4, &p, &err), 0);
	if (!p)
		return;
	CHECK(nsh_netns_pool_wait_full(p, 10000));
	CHECK_INT(count_entries("/proc/self/fd"), fds0 + 4);
	CHECK_INT(count_entries("/proc/self/task"), threads0 + 1);
	fd = nsh_netns_pool_take(p, &err);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	nsh_netns_pool_free(p);
	CHECK_INT(count_entries("/proc/self/fd"), fds0);
	CHECK_INT(count_entries("/proc/self/task"), threads0);
	nsh_netns_pool_free(NULL);
}

int main(void)
{
	if (geteuid() != 0) {
		/* Without CAP_SYS_ADMIN there is no pool: that is the refusal to check. */
		struct nsh_netns_pool *p = NULL;

		CHECK_INT(nsh_netns_pool_new(2, &p, NULL), NSH_EDENIED);
		return TEST_DONE();
	}
	RUN(test_refills);
	RUN(test_hold);
	RUN(test_never_reused);
	RUN(test_unused);
	RUN(test_given_back);
	RUN(test_free_leaks_nothing);
	return TEST_DONE();
}
