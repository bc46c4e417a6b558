/*
 * The pool of ready network namespaces (see netns.h). A namespace is made
 * by unshare(CLONE_NEWNET) on one thread, which moves only that thread;
 * the thread keeps an nsfs descriptor of the new namespace, sets it up
 * from inside and goes back with setns() to where it was.
 */
#include "sandbox/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"

#include "core/banned.h"

#define POOL_MAX 64

struct nsh_netns_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* the filler: a namespace was taken, or stop */
	pthread_cond_t added;  /* waiters of nsh_netns_pool_wait_full() */
	pthread_t filler;      /* makes namespaces while fewer than @size are ready */
	int fds[POOL_MAX];     /* ready namespaces, nsfs descriptors */
	size_t nr;	       /* entries of @fds in use */
	int back[POOL_MAX];    /* given back, for the filler to check (nsh_netns_pool_give()) */
	size_t nback;	       /* entries of @back in use */
	bool checking;	       /* the filler is checking one taken from @back */
	size_t reused;	       /* given back and found unused: ready again */
	size_t size;	       /* how many to keep ready */
	unsigned holds;	       /* nsh_netns_pool_hold() count */
	struct timespec quiet; /* CLOCK_MONOTONIC time before which the filler waits */
	bool stop;	       /* nsh_netns_pool_free() was called */
	bool broken;	       /* the filler failed; it waits for the next take */
};

/* Bring loopback up in the calling thread's network namespace. */
static int loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), e = 0;

	if (s < 0)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		e = errno;
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			e = errno;
	}
	close(s);
	return e;
}

/* Any port may be bound by anyone in the namespace, as in one owned by the sandbox. */
static int low_ports(void)
{
	int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
	int e = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : errno; /* no IPv4: nothing to open up */
	if (write(fd, "0", 1) != 1)
		e = errno ? errno : EIO;
	close(fd);
	return e;
}

/*
 * Make one namespace on the calling thread and return its descriptor; the
 * thread is back in its own namespace afterwards.
 */
static int make_netns(struct nsh_err *err)
{
	int home, fd = -1, e = 0;

	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		return nsh_err_sys(err, errno, "cannot open this thread's network namespace");
	if (unshare(CLONE_NEWNET) < 0) {
		e = errno;
		close(home);
		return nsh_err_set(err, e == EPERM ? NSH_EDENIED : NSH_EIO,
				   "cannot make a network namespace: %s", strerror(e));
	}
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		e = errno;
	if (!e)
		e = loopback_up();
	if (!e)
		e = low_ports();
	if (setns(home, CLONE_NEWNET) < 0) {
		/* Going on in the wrong namespace would put this thread's sockets there. */
		nsh_log_error("cannot return to the network namespace: %s", strerror(errno));
		abort();
	}
	close(home);
	if (e) {
		if (fd >= 0)
			close(fd);
		return nsh_err_sys(err, e, "cannot set up a network namespace");
	}
	return fd;
}

/*
 * From the namespace's sockstat (see netns.h): the per-protocol tables
 * under /proc/net would walk the host-wide hash tables, milliseconds each.
 */
bool nsh_netns_unused(int fd)
{
	char buf[512];
	unsigned long used = 1, tw = 1;
	const char *at;
	ssize_t n = -1;
	int home, f;

	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		return false;
	if (setns(fd, CLONE_NEWNET) < 0) {
		close(home);
		return false;
	}
	f = open("/proc/thread-self/net/sockstat", O_RDONLY | O_CLOEXEC);
	if (f >= 0) {
		n = read(f, buf, sizeof(buf) - 1);
		close(f);
	}
	if (setns(home, CLONE_NEWNET) < 0) {
		nsh_log_error("cannot return to the network namespace: %s", strerror(errno));
		abort();
	}
	close(home);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, "sockets: used %lu", &used) != 1)
		return false;
	at = strstr(buf, "\nTCP: ");
	if (!at || !(at = strstr(at, " tw ")) || sscanf(at, " tw %lu", &tw) != 1)
		return false;
	return used == 0 && tw == 0;
}

/* Whether @a is before @b. */
static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *fill(void *arg)
{
	struct nsh_netns_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec now;
		int fd;

		if (p->nback) {
			bool ok;

			/* a check is a few reads, no namespace made: no need to wait */
			fd = p->back[--p->nback];
			p->checking = true;
			pthread_mutex_unlock(&p->lock);
			ok = nsh_netns_unused(fd);
			pthread_mutex_lock(&p->lock);
			p->checking = false;
			if (ok && !p->stop && p->nr < POOL_MAX) {
				p->fds[p->nr++] = fd;
				p->reused++;
				fd = -1;
			}
			pthread_cond_broadcast(&p->added);
			if (fd >= 0) {
				pthread_mutex_unlock(&p->lock);
				close(fd); /* its teardown is the kernel's (a kworker) */
				pthread_mutex_lock(&p->lock);
			}
			continue;
		}
		if (p->nr >= p->size || p->broken || p->holds) {
			pthread_cond_wait(&p->wake, &p->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_before(&now, &p->quiet)) {
			pthread_cond_timedwait(&p->wake, &p->lock, &p->quiet);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		fd = make_netns(NULL);
		pthread_mutex_lock(&p->lock);
		if (fd < 0) {
			p->broken = true; /* takes make their own meanwhile */
			continue;
		}
		if (p->stop || p->nr >= p->size) {
			close(fd);
			continue;
		}
		p->fds[p->nr++] = fd;
		pthread_cond_broadcast(&p->added);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int nsh_netns_pool_new(size_t size, struct nsh_netns_pool **ret, struct nsh_err *err)
{
	struct nsh_netns_pool *p;
	sigset_t all, old;
	int fd, e;

	if (size < 1 || size > POOL_MAX)
		return nsh_err_set(err, NSH_EINVAL, "invalid network namespace pool size '%zu'",
				   size);
	fd = make_netns(err);
	if (fd < 0)
		return fd;
	p = nsh_xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	nsh_time_cond_init_mono(&p->wake); /* the quiet time is monotonic */
	pthread_cond_init(&p->added, NULL);
	p->size = size;
	p->fds[p->nr++] = fd;
	/* No signal handler runs on the filler: it may be in a namespace of the pool. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&p->filler, NULL, fill, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		close(fd);
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->wake);
		pthread_cond_destroy(&p->added);
		free(p);
		return nsh_err_sys(err, e, "cannot start the network namespace pool");
	}
	*ret = p;
	return 0;
}

int nsh_netns_pool_take(struct nsh_netns_pool *p, struct nsh_err *err)
{
	int fd = -1;

	pthread_mutex_lock(&p->lock);
	if (p->nr)
		fd = p->fds[--p->nr];
	p->broken = false;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return fd >= 0 ? fd : make_netns(err);
}

void nsh_netns_pool_give(struct nsh_netns_pool *p, int fd)
{
	size_t cap = 2 * p->size < POOL_MAX ? 2 * p->size : POOL_MAX;

	pthread_mutex_lock(&p->lock);
	if (!p->stop && p->nr + p->nback < cap) {
		p->back[p->nback++] = fd;
		fd = -1;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		close(fd);
}

/*
 * The hold count under the pool's lock: @on adds a hold, else one is
 * released, and the last release sets *@quiet to CLOCK_MONOTONIC now plus
 * @quiet_ms. True when the filler should be woken (its quiet time changed).
 */
static bool hold_count(unsigned *holds, struct timespec *quiet, bool on, long quiet_ms)
{
	if (on) {
		++*holds;
		return false;
	}
	if (!*holds || --*holds)
		return false;
	*quiet = nsh_time_deadline(CLOCK_MONOTONIC, quiet_ms);
	return true;
}

void nsh_netns_pool_hold(struct nsh_netns_pool *p, bool on)
{
	pthread_mutex_lock(&p->lock);
	if (hold_count(&p->holds, &p->quiet, on, NSH_NETNS_POOL_QUIET_MS))
		pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

size_t nsh_netns_pool_reused(struct nsh_netns_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->reused;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t nsh_netns_pool_ready(struct nsh_netns_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->nr;
	pthread_mutex_unlock(&p->lock);
	return n;
}

bool nsh_netns_pool_wait_full(struct nsh_netns_pool *p, int timeout_ms)
{
	struct timespec until = nsh_time_deadline(CLOCK_REALTIME, timeout_ms);
	bool full;

	pthread_mutex_lock(&p->lock);
	while ((p->nr < p->size || p->nback || p->checking) && !p->broken && !p->stop &&
	       pthread_cond_timedwait(&p->added, &p->lock, &until) == 0)
		;
	full = p->nr >= p->size && !p->nback && !p->checking;
	pthread_mutex_unlock(&p->lock);
	return full;
}

void nsh_netns_pool_free(struct nsh_netns_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->filler, NULL);
	for (size_t i = 0; i < p->nr; i++)
		close(p->fds[i]);
	for (size_t i = 0; i < p->nback; i++)
		close(p->back[i]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->added);
	free(p);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct nsh_netns_pool *default_pool;

static void make_default(void)
{
	const char *env = getenv("NSH_SANDBOX_NETNS_POOL");

	if (env && !strcmp(env, "0"))
		return;
	if (geteuid() != 0 || nsh_netns_pool_new(NSH_NETNS_POOL_SIZE, &default_pool, NULL))
		default_pool = NULL;
}

struct nsh_netns_pool *nsh_netns_pool_default(void)
{
	pthread_once(&default_once, make_default);
	return default_pool;
}
