/*
 * The egress proxy: one event-loop thread (epoll, level-triggered) serving
 * any number of listening sockets, each with its own policy, plus a small
 * pool of resolver threads so that getaddrinfo() never blocks the loop.
 *
 * A connection goes through these states:
 *
 *   HEAD     read the request head (at most head_max bytes, head_ms); a
 *            connection over the listener's limit ("over") is read only
 *            far enough to name its host in the 503 event
 *   RESOLVE  the policy allowed the name; a resolver thread looks it up
 *   CONNECT  non-blocking connect to the first usable address, then the
 *            next ones (connect_ms from the end of HEAD)
 *   RELAY    bytes flow both ways through two pipes with splice()
 *   REPLY    the proxy's own answer (403, 400, 502...) is being written
 *   LINGER   after the answer: read and drop what the client still sends,
 *            briefly, so that closing does not reset the answer away
 *
 * Threads: the loop thread owns every listener and connection. Other
 * threads talk to it through a command queue (mutex + eventfd) and wait for
 * the answer, so nsh_proxy_listen() and nsh_proxy_unlisten() are
 * synchronous. Resolver threads share only the job queues with it, under
 * the resolver mutex; a job's connection pointer is touched by the loop
 * only. Objects closed while an epoll batch is being handled are freed at
 * the end of the batch, so later events of the batch never see freed
 * memory.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "core/time.h"
#include "core/vec.h"

#include "core/banned.h"

#define DEFAULT_MAX_CONNS  256u
#define DEFAULT_IDLE_MS	   (5 * 60 * 1000)
#define DEFAULT_HEAD_MS	   (30 * 1000)
#define DEFAULT_CONNECT_MS (10 * 1000)
#define DEFAULT_RESOLVERS  8u
#define STOP_WAIT_MS	   200		     /* for idle resolver threads to end */
#define SWEEP_MS	   100		     /* how often deadlines are checked */
#define REPLY_MS	   5000		     /* writing our own answer */
#define LINGER_MS	   1000		     /* reading after our own answer */
#define LINGER_MAX	   ((size_t)1 << 20) /* bytes dropped while lingering */
#define PIPE_SIZE	   (1024 * 1024)     /* asked of each relay pipe */
#define SPLICE_ROUNDS	   16		     /* splices per event and direction */
#define CLIENT_SNDBUF	   (512 * 1024)	     /* SO_SNDBUF of the sandbox side, see connected() */
#define OVER_MAX	   16u		     /* turned-away connections whose head is read */
#define OVER_HEAD_MS	   2000		     /* the most such a head is waited for */
#define ACCEPTS_PER_EVENT  64
#define EVENTS_PER_WAIT	   64
#define READ_CHUNK	   4096

enum kind {
	K_WAKE = 1, /* the command eventfd */
	K_RESOLVER, /* the resolver's done eventfd */
	K_LISTENER, /* a listening socket */
	K_CLIENT,   /* a connection's client side */
	K_UPSTREAM, /* a connection's upstream side */
};

struct conn;
struct listener;

/* What epoll_event.data.ptr points at. */
struct endp {
	enum kind kind;	    /* which object and side */
	struct conn *c;	    /* K_CLIENT, K_UPSTREAM */
	struct listener *l; /* K_LISTENER */
};

/* ---------------------------------------------------------------- resolver */

struct rjob {
	struct rjob *next;   /* in the queue or the done list */
	char *host;	     /* name to look up (normalised) */
	char port[8];	     /* decimal */
	bool cancelled;	     /* the connection is gone (under the resolver mutex) */
	int gai;	     /* getaddrinfo() result */
	struct addrinfo *ai; /* its addresses when gai == 0 */
	struct conn *conn;   /* loop thread only */
};

/*
 * Shared by the loop and the resolver threads; freed by whoever drops the
 * last reference, since a thread stuck in getaddrinfo() may outlive the
 * proxy.
 */
struct resolver {
	pthread_mutex_t mu;  /* guards everything below */
	pthread_cond_t cond; /* jobs queued or stop */
	struct rjob *queue;  /* waiting jobs, oldest first */
	struct rjob **queue_tail;
	struct rjob *done; /* finished jobs for the loop */
	unsigned threads;  /* resolver threads alive */
	unsigned idle;	   /* of which waiting for a job */
	unsigned max;	   /* most threads */
	unsigned refs;	   /* the proxy plus each thread */
	bool stop;	   /* the proxy is gone */
	int efd;	   /* eventfd written when a job is done */
};

static void rjob_free(struct rjob *j)
{
	if (!j)
		return;
	if (j->ai)
		freeaddrinfo(j->ai);
	free(j->host);
	free(j);
}

static void resolver_unref_locked(struct resolver *r)
{
	bool last = --r->refs == 0;

	pthread_mutex_unlock(&r->mu);
	if (!last)
		return;
	while (r->queue) {
		struct rjob *j = r->queue;

		r->queue = j->next;
		rjob_free(j);
	}
	while (r->done) {
		struct rjob *j = r->done;

		r->done = j->next;
		rjob_free(j);
	}
	close(r->efd);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static void *resolver_main(void *arg)
{
	struct resolver *r = arg;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct addrinfo hints = {0}, *ai = NULL;
		struct rjob *j;
		int gai;

		while (!r->stop && !r->queue) {
			r->idle++;
			pthread_cond_wait(&r->cond, &r->mu);
			r->idle--;
		}
		if (r->stop)
			break;
		j = r->queue;
		r->queue = j->next;
		if (!r->queue)
			r->queue_tail = &r->queue;
		if (j->cancelled) {
			rjob_free(j);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		gai = getaddrinfo(j->host, j->port, &hints, &ai);
		pthread_mutex_lock(&r->mu);
		j->gai = gai;
		j->ai = gai ? NULL : ai;
		if (r->stop || j->cancelled) {
			rjob_free(j);
			continue;
		}
		j->next = r->done;
		r->done = j;
		uint64_t one = 1;

		if (write(r->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; the loop drains it */
		}
	}
	r->threads--;
	pthread_cond_broadcast(&r->cond); /* resolver_stop() may wait for this */
	resolver_unref_locked(r);
	return NULL;
}

/* Start a thread with every signal blocked, so the host's handlers stay on its own threads. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg, bool detach)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int rc;

	sigfillset(&all);
	pthread_attr_init(&attr);
	if (detach)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

static struct resolver *resolver_new(unsigned max, struct nsh_err *err)
{
	struct resolver *r = nsh_xcalloc(1, sizeof(*r));

	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		nsh_err_sys(err, errno, "cannot create the resolver eventfd");
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->queue_tail = &r->queue;
	r->max = max;
	r->refs = 1;
	return r;
}

/* Queue @j; starts a thread when none is idle. False when no thread can serve it. */
static bool resolver_submit(struct resolver *r, struct rjob *j)
{
	bool ok = true;

	pthread_mutex_lock(&r->mu);
	j->next = NULL;
	*r->queue_tail = j;
	r->queue_tail = &j->next;
	if (!r->idle && r->threads < r->max) {
		pthread_t t;

		if (!start_thread(&t, resolver_main, r, true)) {
			r->threads++;
			r->refs++;
		}
	}
	if (!r->threads) {
		/* take the job back: nobody will ever run it */
		struct rjob **pp = &r->queue;

		while (*pp != j)
			pp = &(*pp)->next;
		*pp = NULL;
		r->queue_tail = pp;
		ok = false;
	}
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* The loop no longer wants @j; whoever holds it frees it. */
static void resolver_cancel(struct resolver *r, struct rjob *j)
{
	pthread_mutex_lock(&r->mu);
	j->cancelled = true;
	j->conn = NULL;
	pthread_mutex_unlock(&r->mu);
}

/* Take the finished jobs (oldest first does not matter). */
static struct rjob *resolver_take(struct resolver *r)
{
	struct rjob *list;
	uint64_t n;

	if (read(r->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another wake-up already drained it */
	}
	pthread_mutex_lock(&r->mu);
	list = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->mu);
	return list;
}

/*
 * Stop the threads and drop the proxy's reference. Idle threads are waited
 * for briefly, so that a clean shutdown leaves no thread behind; one stuck
 * in getaddrinfo() frees the resolver when it returns.
 */
static void resolver_stop(struct resolver *r)
{
	struct timespec until = nsh_time_deadline(CLOCK_REALTIME, STOP_WAIT_MS);

	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	while (r->threads && pthread_cond_timedwait(&r->cond, &r->mu, &until) == 0)
		;
	resolver_unref_locked(r);
}

/* ------------------------------------------------------------------ proxy */

enum cstate {
	C_HEAD,
	C_RESOLVE,
	C_CONNECT,
	C_RELAY,
	C_REPLY,
	C_LINGER,
};

/* One direction of the relay: src -> pipe -> dst, after the bytes in pre. */
struct dir {
	int *src, *dst;	    /* the connection's fds */
	struct nsh_buf pre; /* bytes to send to dst before any piped data */
	size_t pre_off;	    /* of which already sent */
	bool count_pre;	    /* pre counts in the byte totals */
	int pipe[2];	    /* read end, write end */
	size_t inpipe;	    /* bytes in the pipe */
	bool eof;	    /* src reached end of stream */
	bool shut;	    /* dst's write side is shut */
	uint64_t bytes;	    /* bytes delivered to dst */
};

struct conn {
	struct endp ec, eu;	      /* epoll tags of the two sides */
	struct listener *l;	      /* where it came from */
	struct conn *prev, *next;     /* in l->conns */
	struct conn *dead_next;	      /* in the proxy's graveyard */
	bool dead;		      /* closed, waiting to be freed */
	int cfd, ufd;		      /* client and upstream sockets (-1: none) */
	uint32_t cev, uev;	      /* events registered (0: not registered) */
	enum cstate st;		      /* see the header comment */
	int64_t deadline;	      /* HEAD, RESOLVE, CONNECT, LINGER: monotonic ms */
	int64_t last_io;	      /* RELAY: last progress, monotonic ms */
	struct nsh_buf in;	      /* HEAD: bytes read so far */
	size_t dropped;		      /* LINGER: bytes read and dropped */
	struct dir up, down;	      /* client->upstream, upstream->client */
	char *host;		      /* requested host as sent ("" before it is known) */
	char *name;		      /* normalised host name looked up */
	int port;		      /* requested port */
	bool is_connect;	      /* CONNECT, else plain HTTP */
	struct rjob *job;	      /* RESOLVE: the pending lookup */
	struct addrinfo *ai, *ai_cur; /* CONNECT: addresses and the one being tried */
	int last_errno;		      /* CONNECT: the last failure */
	bool allowed;		      /* the allowed decision went out; an end event is due */
	bool over;		      /* over max_conns: answered 503 once the head is read */
	bool private_allowed;	      /* an allow_private entry was used */
	int status;		      /* status the proxy answered */
	char addr[INET6_ADDRSTRLEN];  /* address used or refused */
};

struct listener {
	struct endp ep;		   /* epoll tag */
	uint64_t id;		   /* for nsh_proxy_unlisten() */
	int fd;			   /* the listening socket */
	struct nsh_net_policy pol; /* our copy */
	nsh_proxy_event_fn *cb;	   /* may be NULL */
	void *ctx;		   /* for cb */
	unsigned nconns;	   /* connections open, not counting the over ones */
	unsigned nover;		   /* over connections open (at most OVER_MAX) */
	struct conn *conns;	   /* open connections */
	struct listener *next;	   /* in px->listeners or the graveyard */
	bool dead;		   /* closed, waiting to be freed */
};

enum cmd_kind {
	CMD_LISTEN,
	CMD_UNLISTEN,
};

/* A request from another thread, living on that thread's stack. */
struct cmd {
	enum cmd_kind kind; /* what to do */
	struct listener *l; /* CMD_LISTEN: the new listener */
	uint64_t id;	    /* CMD_UNLISTEN: which */
	int rc;		    /* result */
	int sys_errno;	    /* errno behind a failure */
	bool done;	    /* answered (under px->mu) */
	struct cmd *next;   /* in px->cmds */
};

struct nsh_proxy {
	pthread_t thread;	     /* the loop */
	int epfd;		     /* epoll instance */
	int wakefd;		     /* eventfd: commands or quit */
	struct endp wake_ep, res_ep; /* epoll tags */
	struct resolver *res;	     /* shared with the resolver threads */
	struct nsh_proxy_limits lim; /* with defaults filled in */
	pthread_mutex_t mu;	     /* guards cmds, quit and next_id */
	pthread_cond_t cond;	     /* a command was answered */
	struct cmd *cmds;	     /* waiting commands */
	bool quit;		     /* stop the loop */
	uint64_t next_id;	     /* listener ids */
	struct listener *listeners;  /* loop thread: live listeners */
	struct listener *dead_l;     /* loop thread: to free after the batch */
	struct conn *dead_c;	     /* loop thread: to free after the batch */
	unsigned nconns;	     /* loop thread: connections open in all */
	bool quiet;		     /* no more callbacks (shutting down) */
};

/* ----------------------------------------------------------------- events */

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "Connection established";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

static void emit(struct nsh_proxy *px, struct conn *c, bool allowed, bool done, const char *reason)
{
	struct listener *l = c->l;
	struct nsh_proxy_decision d = {
		.allowed = allowed,
		.done = done,
		.host = c->host ? c->host : "",
		.port = c->port,
		.level = l->pol.level,
		.reason = reason,
		.addr = c->addr,
		.is_connect = c->is_connect,
		.status = c->status,
		.bytes_up = c->up.bytes,
		.bytes_down = c->down.bytes,
		.private_allowed = c->private_allowed,
	};

	if (allowed && !done)
		c->allowed = true;
	if (done)
		c->allowed = false;
	if (l->cb && !px->quiet)
		l->cb(l->ctx, &d);
}

/* ------------------------------------------------------------ connections */

static void set_events(struct nsh_proxy *px, int fd, struct endp *ep, uint32_t *have, uint32_t want)
{
	struct epoll_event ev = {.events = want, .data.ptr = ep};

	if (fd < 0 || *have == want)
		return;
	if (!want)
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		epoll_ctl(px->epfd, *have ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	*have = want;
}

static bool dir_pre_left(const struct dir *d)
{
	return d->pre_off < d->pre.len;
}

/* Register what each side waits for, from the state. */
static void update_events(struct nsh_proxy *px, struct conn *c)
{
	uint32_t cw = 0, uw = 0;

	switch (c->st) {
	case C_HEAD:
	case C_LINGER:
		cw = EPOLLIN;
		break;
	case C_RESOLVE:
		break;
	case C_CONNECT:
		uw = EPOLLOUT;
		break;
	case C_REPLY:
		cw = EPOLLOUT;
		break;
	case C_RELAY:
		if (!c->up.eof && !c->up.inpipe && !dir_pre_left(&c->up))
			cw |= EPOLLIN;
		if (dir_pre_left(&c->down) || c->down.inpipe)
			cw |= EPOLLOUT;
		if (!c->down.eof && !c->down.inpipe && !dir_pre_left(&c->down))
			uw |= EPOLLIN;
		if (dir_pre_left(&c->up) || c->up.inpipe)
			uw |= EPOLLOUT;
		break;
	}
	set_events(px, c->cfd, &c->ec, &c->cev, cw);
	set_events(px, c->ufd, &c->eu, &c->uev, uw);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void dir_release(struct dir *d)
{
	nsh_buf_release(&d->pre);
	close_fd(&d->pipe[0]);
	close_fd(&d->pipe[1]);
}

/* Close @c now (emitting its end event when one is due); freed after the batch. */
static void conn_close(struct nsh_proxy *px, struct conn *c, const char *reason)
{
	struct listener *l = c->l;

	if (c->dead)
		return;
	if (c->allowed)
		emit(px, c, true, true, reason);
	c->dead = true;
	if (c->job) {
		resolver_cancel(px->res, c->job);
		c->job = NULL;
	}
	/*
	 * Out of the epoll set first: close() alone does not remove an fd
	 * whose file is still open elsewhere, and a fork in another thread
	 * (a git command, a sandbox's clone) holds copies for a moment; its
	 * events would then name this freed connection.
	 */
	set_events(px, c->cfd, &c->ec, &c->cev, 0);
	set_events(px, c->ufd, &c->eu, &c->uev, 0);
	close_fd(&c->cfd);
	close_fd(&c->ufd);
	dir_release(&c->up);
	dir_release(&c->down);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->over)
		l->nover--;
	else
		l->nconns--;
	px->nconns--;
	c->dead_next = px->dead_c;
	px->dead_c = c;
}

static void conn_free(struct conn *c)
{
	nsh_buf_release(&c->in);
	if (c->ai)
		freeaddrinfo(c->ai);
	free(c->host);
	free(c->name);
	free(c);
}

/*
 * Answer @status with a one-line text body and close after it: REPLY, then
 * LINGER. @body is complete text ending in a newline.
 */
static void reply(struct nsh_proxy *px, struct conn *c, int status, const char *body)
{
	struct dir *d = &c->down;

	c->status = status;
	nsh_buf_reset(&d->pre);
	d->pre_off = 0;
	nsh_buf_addf(&d->pre,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     status, status_text(status), strlen(body), body);
	close_fd(&c->ufd);
	c->uev = 0;
	c->st = C_REPLY;
	c->deadline = nsh_time_mono_ms() + REPLY_MS;
	update_events(px, c);
}

/* A refused request: the decision event and the answer. */
static void refuse(struct nsh_proxy *px, struct conn *c, int status, const char *reason,
		   const char *body)
{
	c->status = status;
	emit(px, c, false, false, reason);
	reply(px, c, status, body);
}

static void refuse_policy(struct nsh_proxy *px, struct conn *c, const char *reason)
{
	const char *lv = nsh_net_level_name(c->l->pol.level);
	char *body;

	if (!strcmp(reason, "ip literal"))
		body = nsh_xasprintf("nightshift: '%s' is an IP address; only host names are "
				     "allowed (network level '%s')\n",
				     c->host, lv);
	else
		body = nsh_xasprintf("nightshift: '%s' is not allowed at network level '%s'\n",
				     c->host, lv);
	refuse(px, c, 403, reason, body);
	free(body);
}

static void bad_request(struct nsh_proxy *px, struct conn *c, int status, const char *msg)
{
	char *body = nsh_xasprintf("nightshift: bad request: %s\n", msg);
	char *reason = nsh_xasprintf("bad request: %s", msg);

	refuse(px, c, status, reason, body);
	free(reason);
	free(body);
}

/* An over connection: the 503 event (with the host and port once the head named them) and answer.
 */
static void refuse_over(struct nsh_proxy *px, struct conn *c)
{
	char *body =
		nsh_xasprintf("nightshift: too many connections through this proxy (limit %u)\n",
			      px->lim.max_conns);

	refuse(px, c, 503, "too many connections", body);
	free(body);
}

/* Failure after the allowed decision: 502 and the end event. */
static void upstream_failed(struct nsh_proxy *px, struct conn *c, int status, const char *what)
{
	char *body = nsh_xasprintf("nightshift: %s\n", what);

	c->status = status;
	emit(px, c, true, true, what);
	reply(px, c, status, body);
	free(body);
}

/* ------------------------------------------------------------------ relay */

/*
 * Move what is ready in direction @d; false on a failure that ends the
 * connection. Reads from src only into an empty pipe, so that a pipe is
 * never half full with src still readable (which would spin the loop).
 */
static bool pump(struct dir *d, bool *progress)
{
	for (int round = 0; round < SPLICE_ROUNDS; round++) {
		ssize_t n;

		while (dir_pre_left(d)) {
			n = send(*d->dst, d->pre.buf + d->pre_off, d->pre.len - d->pre_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR;
			d->pre_off += (size_t)n;
			if (d->count_pre)
				d->bytes += (uint64_t)n;
			*progress = true;
		}
		while (d->inpipe) {
			n = splice(d->pipe[0], NULL, *d->dst, NULL, d->inpipe,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR;
			d->inpipe -= (size_t)n;
			d->bytes += (uint64_t)n;
			*progress = true;
		}
		if (d->eof) {
			if (!d->shut) {
				shutdown(*d->dst, SHUT_WR);
				d->shut = true;
			}
			return true;
		}
		n = splice(*d->src, NULL, d->pipe[1], NULL, PIPE_SIZE,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		*progress = true;
		if (n == 0) {
			/*
			 * The pipe is empty, so the end goes on now: left for a
			 * later round, it would be lost when this was the last
			 * round, as nothing is registered for a direction at its end.
			 */
			d->eof = d->shut = true;
			shutdown(*d->dst, SHUT_WR);
			return true;
		}
		d->inpipe += (size_t)n;
	}
	return true;
}

static bool dir_finished(const struct dir *d)
{
	return d->eof && d->shut && !d->inpipe && !dir_pre_left(d);
}

static void relay(struct nsh_proxy *px, struct conn *c, bool do_up, bool do_down)
{
	bool progress = false;

	if ((do_up && !pump(&c->up, &progress)) || (do_down && !pump(&c->down, &progress))) {
		char *why = nsh_xasprintf("relay failed: %s", strerror(errno));

		conn_close(px, c, why);
		free(why);
		return;
	}
	if (progress)
		c->last_io = nsh_time_mono_ms();
	if (dir_finished(&c->up) && dir_finished(&c->down)) {
		conn_close(px, c, "closed");
		return;
	}
	update_events(px, c);
}

static bool make_pipe(struct dir *d)
{
	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return false;
	fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE); /* a hint; the default works too */
	return true;
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * The sandbox side is a loopback connection, where a send buffer of a few
 * hundred KiB never limits the rate; left to autotuning it grows to
 * tcp_wmem's maximum (4 MiB here), and the megabytes in flight between the
 * upstream and the client then fall out of the CPU caches, which made the
 * client's and the upstream's copies markedly dearer (bench/egress: about 65%
 * of direct throughput with this limit, about 48% without). The upstream
 * side keeps autotuning: a real upstream is far away and needs the window.
 */
static void limit_sndbuf(int fd)
{
	int size = CLIENT_SNDBUF;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static void connected(struct nsh_proxy *px, struct conn *c)
{
	if (!make_pipe(&c->up) || !make_pipe(&c->down)) {
		char *what = nsh_xasprintf("cannot relay to '%s:%d': %s", c->host, c->port,
					   strerror(errno));

		upstream_failed(px, c, 502, what);
		free(what);
		return;
	}
	set_nodelay(c->ufd);
	set_nodelay(c->cfd);
	limit_sndbuf(c->cfd);
	if (c->is_connect) {
		c->status = 200;
		nsh_buf_adds(&c->down.pre, "HTTP/1.1 200 Connection established\r\n\r\n");
	}
	if (c->ai) {
		freeaddrinfo(c->ai);
		c->ai = c->ai_cur = NULL;
	}
	c->st = C_RELAY;
	c->last_io = nsh_time_mono_ms();
	relay(px, c, true, true);
}

/* ---------------------------------------------------------------- connect */

static void addr_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
	const void *a = sa->sa_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (!inet_ntop(sa->sa_family, a, out, INET6_ADDRSTRLEN))
		out[0] = '\0';
}

/* Whether @ai may be used for @c (setting private_allowed when an allow_private entry says so). */
static bool usable(struct conn *c, const struct addrinfo *ai)
{
	if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
		return false;
	if (!nsh_net_addr_forbidden(ai->ai_addr))
		return true;
	return nsh_net_policy_private_ok(&c->l->pol, c->name, c->port);
}

/* Try the remaining usable addresses from c->ai_cur on. */
static void try_connect(struct nsh_proxy *px, struct conn *c)
{
	for (; c->ai_cur; c->ai_cur = c->ai_cur->ai_next) {
		struct addrinfo *ai = c->ai_cur;
		int fd;

		if (!usable(c, ai))
			continue;
		addr_text(ai->ai_addr, c->addr);
		c->private_allowed = nsh_net_addr_forbidden(ai->ai_addr);
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			c->ufd = fd;
			connected(px, c);
			return;
		}
		if (errno == EINPROGRESS) {
			c->ufd = fd;
			c->uev = 0;
			c->st = C_CONNECT;
			update_events(px, c);
			return;
		}
		c->last_errno = errno;
		close(fd);
	}
	char *what = nsh_xasprintf("cannot connect to '%s:%d': %s", c->host, c->port,
				   strerror(c->last_errno ? c->last_errno : ECONNREFUSED));

	upstream_failed(px, c, 502, what);
	free(what);
}

static void on_connect_ready(struct nsh_proxy *px, struct conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (!e) {
		connected(px, c);
		return;
	}
	c->last_errno = e;
	set_events(px, c->ufd, &c->eu, &c->uev, 0);
	close_fd(&c->ufd);
	c->ai_cur = c->ai_cur->ai_next;
	try_connect(px, c);
}

static void on_resolved(struct nsh_proxy *px, struct conn *c, struct rjob *j)
{
	const struct addrinfo *first_ok = NULL, *first_bad = NULL;
	const char *lv = nsh_net_level_name(c->l->pol.level);

	c->job = NULL;
	if (j->gai) {
		char *body = nsh_xasprintf("nightshift: cannot resolve '%s': %s\n", c->host,
					   gai_strerror(j->gai));

		refuse(px, c, 502, "resolution failed", body);
		free(body);
		return;
	}
	c->ai = j->ai;
	j->ai = NULL;
	for (const struct addrinfo *ai = c->ai; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (nsh_net_addr_forbidden(ai->ai_addr)) {
			if (!first_bad)
				first_bad = ai;
			if (!first_ok && nsh_net_policy_private_ok(&c->l->pol, c->name, c->port))
				first_ok = ai;
		} else if (!first_ok) {
			first_ok = ai;
		}
	}
	if (!first_ok) {
		char *body;

		if (!first_bad) {
			body = nsh_xasprintf("nightshift: cannot resolve '%s': no address\n",
					     c->host);
			refuse(px, c, 502, "resolution failed", body);
			free(body);
			return;
		}
		addr_text(first_bad->ai_addr, c->addr);
		body = nsh_xasprintf("nightshift: '%s' resolves to a private address (%s), "
				     "refused at network level '%s'\n",
				     c->host, c->addr, lv);
		refuse(px, c, 403, "private address", body);
		free(body);
		return;
	}
	addr_text(first_ok->ai_addr, c->addr);
	c->private_allowed = nsh_net_addr_forbidden(first_ok->ai_addr);
	emit(px, c, true, false, c->private_allowed ? "allowed (allow_private)" : "allowed");
	c->ai_cur = c->ai;
	try_connect(px, c);
}

/* ----------------------------------------------------------------- request */

static bool name_eq(struct nsh_str a, const char *b)
{
	size_t n = strlen(b);

	return a.len == n && !strncasecmp(a.p, b, n);
}

static struct nsh_str strip_dot(struct nsh_str s)
{
	if (s.len && s.p[s.len - 1] == '.')
		s.len--;
	return s;
}

/* True when a Connection header of @req lists @name as a token. */
static bool connection_lists(const struct nsh_http_req *req, struct nsh_str name)
{
	for (size_t i = 0; i < req->nhdr; i++) {
		struct nsh_str v = req->hdr[i].value;
		size_t pos = 0;

		if (!name_eq(req->hdr[i].name, "connection"))
			continue;
		while (pos < v.len) {
			size_t end = pos;
			struct nsh_str tok;

			while (end < v.len && v.p[end] != ',')
				end++;
			tok = nsh_str_trim(nsh_str_make(v.p + pos, end - pos));
			if (tok.len == name.len && tok.len && !strncasecmp(tok.p, name.p, tok.len))
				return true;
			pos = end + 1;
		}
	}
	return false;
}

static bool hop_by_hop(const struct nsh_http_req *req, struct nsh_str name)
{
	static const char *const hop[] = {"connection", "keep-alive", "te", "trailer", "upgrade"};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (name_eq(name, hop[i]))
			return true;
	if (name.len >= 6 && !strncasecmp(name.p, "proxy-", 6))
		return true;
	return connection_lists(req, name);
}

/* The origin-form request for the upstream, into @out. */
static void rewrite(const struct nsh_http_req *req, struct nsh_str authority, struct nsh_str path,
		    struct nsh_buf *out)
{
	bool have_host = false;

	nsh_buf_addstr(out, req->method);
	nsh_buf_addch(out, ' ');
	if (!path.len || path.p[0] != '/')
		nsh_buf_addch(out, '/');
	nsh_buf_addstr(out, path);
	nsh_buf_addf(out, " HTTP/1.%d\r\n", req->minor);
	for (size_t i = 0; i < req->nhdr; i++) {
		const struct nsh_http_header *h = &req->hdr[i];

		if (hop_by_hop(req, h->name))
			continue;
		if (name_eq(h->name, "host"))
			have_host = true;
		nsh_buf_addstr(out, h->name);
		nsh_buf_adds(out, ": ");
		nsh_buf_addstr(out, h->value);
		nsh_buf_adds(out, "\r\n");
	}
	if (!have_host) {
		nsh_buf_adds(out, "Host: ");
		nsh_buf_addstr(out, authority);
		nsh_buf_adds(out, "\r\n");
	}
	nsh_buf_adds(out, "Connection: close\r\n\r\n");
}

/* The complete head is in c->in[0, head_len): decide and start resolving. */
static void on_request(struct nsh_proxy *px, struct conn *c, size_t head_len)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_http_req *req = nsh_xmalloc(sizeof(*req));
	struct nsh_str authority = {0}, path = {0}, host;
	const struct nsh_http_header *hh;
	const char *why;
	size_t nhost;
	int rc;

	rc = nsh_http_parse_head(c->in.buf, head_len, req, &err);
	if (rc) {
		bad_request(px, c, rc == NSH_ETOOBIG ? 431 : 400, err.msg);
		goto out;
	}
	c->is_connect = nsh_str_eq_cstr(req->method, "CONNECT");
	if (c->is_connect) {
		authority = req->target;
		rc = nsh_http_parse_authority(authority, 0, &host, &c->port, &err);
	} else if (req->target.len && req->target.p[0] == '/') {
		bad_request(px, c, 400,
			    "not a proxy request (use CONNECT or an absolute http:// URI)");
		goto out;
	} else {
		rc = nsh_http_parse_uri(req->target, &authority, &path, &err);
		if (!rc)
			rc = nsh_http_parse_authority(authority, 80, &host, &c->port, &err);
	}
	if (rc) {
		bad_request(px, c, 400, err.msg);
		goto out;
	}
	free(c->host);
	c->host = nsh_str_dup(host);
	if (c->over) {
		refuse_over(px, c);
		goto out;
	}

	hh = nsh_http_req_header(req, "host", &nhost);
	if (nhost > 1) {
		bad_request(px, c, 400, "more than one Host header");
		goto out;
	}
	if (hh) {
		struct nsh_str a = strip_dot(host), b;
		bool explicit_port;
		int hport = 0;

		/* a Host header without a port agrees with any port */
		explicit_port = !nsh_http_parse_authority(hh->value, 0, &b, &hport, NULL);
		if (!explicit_port &&
		    nsh_http_parse_authority(hh->value, c->port, &b, &hport, &err)) {
			bad_request(px, c, 400, err.msg);
			goto out;
		}
		b = strip_dot(b);
		if (a.len != b.len || strncasecmp(a.p, b.p, a.len) || hport != c->port) {
			char *body = nsh_xasprintf(
				"nightshift: Host header '%.*s' does not match the requested "
				"host '%s:%d'\n",
				(int)(hh->value.len > 200 ? 200 : hh->value.len), hh->value.p,
				c->host, c->port);

			refuse(px, c, 403, "host header mismatch", body);
			free(body);
			goto out;
		}
	}

	why = nsh_net_policy_refusal(&c->l->pol, c->host);
	if (why && !strcmp(why, "invalid host name")) {
		bad_request(px, c, 400, "invalid host name");
		goto out;
	}
	if (why) {
		refuse_policy(px, c, why);
		goto out;
	}
	if (nsh_net_host_normalize(host, &c->name, &err)) {
		bad_request(px, c, 400, err.msg);
		goto out;
	}

	/* what goes upstream first: the rewritten head, then anything read past it */
	if (!c->is_connect)
		rewrite(req, authority, path, &c->up.pre);
	nsh_buf_add(&c->up.pre, c->in.buf + head_len, c->in.len - head_len);
	c->up.count_pre = true;
	nsh_buf_release(&c->in);

	struct rjob *j = nsh_xcalloc(1, sizeof(*j));

	j->host = nsh_xstrdup(c->name);
	snprintf(j->port, sizeof(j->port), "%d", c->port);
	j->conn = c;
	c->st = C_RESOLVE;
	c->deadline = nsh_time_mono_ms() + px->lim.connect_ms;
	update_events(px, c);
	if (!resolver_submit(px->res, j)) {
		rjob_free(j);
		refuse(px, c, 502, "resolution failed",
		       "nightshift: cannot start a resolver thread\n");
		goto out;
	}
	c->job = j;
out:
	free(req);
}

static void on_client_head(struct nsh_proxy *px, struct conn *c)
{
	for (;;) {
		size_t room = px->lim.head_max - c->in.len, head_len, from;
		ssize_t n;

		if (!room) {
			bad_request(px, c, 431, "request head too large");
			return;
		}
		if (room > READ_CHUNK)
			room = READ_CHUNK;
		if (nsh_buf_grow(&c->in, room)) {
			bad_request(px, c, 431, "request head too large");
			return;
		}
		n = read(c->cfd, c->in.buf + c->in.len, room);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(px, c, "client error");
			return;
		}
		if (n == 0) {
			if (c->in.len)
				bad_request(px, c, 400, "incomplete request head");
			else if (c->over)
				refuse_over(px, c);
			else
				conn_close(px, c, "client closed");
			return;
		}
		from = c->in.len > 3 ? c->in.len - 3 : 0;
		c->in.len += (size_t)n;
		c->in.buf[c->in.len] = '\0';
		head_len = nsh_http_head_len(c->in.buf + from, c->in.len - from);
		if (head_len) {
			on_request(px, c, from + head_len);
			return;
		}
	}
}

/* REPLY and LINGER. */
static void on_client_answer(struct nsh_proxy *px, struct conn *c)
{
	if (c->st == C_REPLY) {
		struct dir *d = &c->down;

		while (dir_pre_left(d)) {
			ssize_t n = send(c->cfd, d->pre.buf + d->pre_off, d->pre.len - d->pre_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					conn_close(px, c, "client error");
				return;
			}
			d->pre_off += (size_t)n;
		}
		shutdown(c->cfd, SHUT_WR);
		c->st = C_LINGER;
		c->deadline = nsh_time_mono_ms() + LINGER_MS;
		update_events(px, c);
		return;
	}
	for (;;) {
		char drop[READ_CHUNK];
		ssize_t n = read(c->cfd, drop, sizeof(drop));

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || (c->dropped += (size_t)n) > LINGER_MAX) {
			conn_close(px, c, "answered");
			return;
		}
	}
}

/* ---------------------------------------------------------------- dispatch */

static void on_client(struct nsh_proxy *px, struct conn *c, uint32_t ev)
{
	switch (c->st) {
	case C_HEAD:
		on_client_head(px, c);
		break;
	case C_REPLY:
	case C_LINGER:
		on_client_answer(px, c);
		break;
	case C_RELAY:
		relay(px, c, ev & (EPOLLIN | EPOLLERR | EPOLLHUP),
		      ev & (EPOLLOUT | EPOLLERR | EPOLLHUP));
		break;
	case C_RESOLVE:
	case C_CONNECT:
		break; /* not registered then */
	}
}

static void on_upstream(struct nsh_proxy *px, struct conn *c, uint32_t ev)
{
	switch (c->st) {
	case C_CONNECT:
		on_connect_ready(px, c);
		break;
	case C_RELAY:
		relay(px, c, ev & (EPOLLOUT | EPOLLERR | EPOLLHUP),
		      ev & (EPOLLIN | EPOLLERR | EPOLLHUP));
		break;
	case C_HEAD:
	case C_RESOLVE:
	case C_REPLY:
	case C_LINGER:
		break;
	}
}

/* The decision event of a connection turned away because @l is full and has no room for it. */
static void refuse_full(struct nsh_proxy *px, struct listener *l)
{
	struct nsh_proxy_decision d = {
		.host = "",
		.level = l->pol.level,
		.reason = "too many connections",
		.addr = "",
		.status = 503,
	};

	if (l->cb && !px->quiet)
		l->cb(l->ctx, &d);
}

static void on_accept(struct nsh_proxy *px, struct listener *l)
{
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return; /* EAGAIN, or a connection that went away already */
		if (l->nconns >= px->lim.max_conns && l->nover >= OVER_MAX) {
			char msg[256];
			int n = snprintf(
				msg, sizeof(msg),
				"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
				"charset=utf-8\r\nConnection: close\r\n\r\nnightshift: too "
				"many connections through this proxy (limit %u)\n",
				px->lim.max_conns);

			if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* best effort: the client sees the connection close either way */
			}
			close(fd);
			refuse_full(px, l);
			continue;
		}
		c = nsh_xcalloc(1, sizeof(*c));
		c->ec = (struct endp){K_CLIENT, c, NULL};
		c->eu = (struct endp){K_UPSTREAM, c, NULL};
		c->l = l;
		c->cfd = fd;
		c->ufd = -1;
		c->up.src = c->down.dst = &c->cfd;
		c->up.dst = c->down.src = &c->ufd;
		c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
		nsh_buf_init(&c->up.pre, SIZE_MAX);
		nsh_buf_init(&c->down.pre, SIZE_MAX);
		nsh_buf_init(&c->in, px->lim.head_max);
		c->host = nsh_xstrdup("");
		c->st = C_HEAD;
		c->deadline = nsh_time_mono_ms() + px->lim.head_ms;
		c->over = l->nconns >= px->lim.max_conns;
		if (c->over && px->lim.head_ms > OVER_HEAD_MS)
			c->deadline = nsh_time_mono_ms() + OVER_HEAD_MS;
		c->next = l->conns;
		if (l->conns)
			l->conns->prev = c;
		l->conns = c;
		if (c->over)
			l->nover++;
		else
			l->nconns++;
		px->nconns++;
		update_events(px, c);
	}
}

static void on_resolver(struct nsh_proxy *px)
{
	struct rjob *j = resolver_take(px->res);

	while (j) {
		struct rjob *next = j->next;

		/* a job whose connection closed is marked cancelled and has no conn */
		if (j->conn && !j->cancelled && !j->conn->dead)
			on_resolved(px, j->conn, j);
		rjob_free(j);
		j = next;
	}
}

static void sweep(struct nsh_proxy *px, int64_t now)
{
	for (struct listener *l = px->listeners; l; l = l->next) {
		struct conn *c = l->conns;

		while (c) {
			struct conn *next = c->next;

			switch (c->st) {
			case C_HEAD:
				if (now >= c->deadline && c->over)
					refuse_over(px, c); /* no host: none was named in time */
				else if (now >= c->deadline)
					conn_close(px, c, "request head timed out");
				break;
			case C_RESOLVE:
				if (now >= c->deadline) {
					char *body = nsh_xasprintf(
						"nightshift: resolving '%s' timed out\n", c->host);

					resolver_cancel(px->res, c->job);
					c->job = NULL;
					refuse(px, c, 504, "resolution timed out", body);
					free(body);
				}
				break;
			case C_CONNECT:
				if (now >= c->deadline) {
					char *what =
						nsh_xasprintf("connecting to '%s:%d' timed out",
							      c->host, c->port);

					upstream_failed(px, c, 504, what);
					free(what);
				}
				break;
			case C_RELAY:
				if (now - c->last_io >= px->lim.idle_ms)
					conn_close(px, c, "idle timeout");
				break;
			case C_REPLY:
			case C_LINGER:
				if (now >= c->deadline)
					conn_close(px, c, "answered");
				break;
			}
			c = next;
		}
	}
}

/*
 * Close @l and every connection it has (end events go out unless quiet).
 * What the relays have pending is moved first: a sandbox torn down just
 * after its command ended leaves its connections' last bytes and their
 * ends unread, and a connection whose client had closed ended as
 * "closed", not cut by the unlisten.
 */
static void listener_close(struct nsh_proxy *px, struct listener *l)
{
	struct listener **pp = &px->listeners;

	for (struct conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		if (c->st == C_RELAY)
			relay(px, c, true, true); /* may close c */
	}
	while (l->conns)
		conn_close(px, l->conns,
			   l->conns->st == C_RELAY && l->conns->up.eof ? "closed" : "unlisten");
	if (l->fd >= 0)
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close_fd(&l->fd);
	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	l->dead = true;
	l->next = px->dead_l;
	px->dead_l = l;
}

static void listener_free(struct listener *l)
{
	nsh_net_policy_release(&l->pol);
	free(l);
}

static void bury(struct nsh_proxy *px)
{
	while (px->dead_c) {
		struct conn *c = px->dead_c;

		px->dead_c = c->dead_next;
		conn_free(c);
	}
	while (px->dead_l) {
		struct listener *l = px->dead_l;

		px->dead_l = l->next;
		listener_free(l);
	}
}

static void run_cmd(struct nsh_proxy *px, struct cmd *cmd)
{
	switch (cmd->kind) {
	case CMD_LISTEN: {
		struct listener *l = cmd->l;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->ep};

		if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
			cmd->rc = NSH_EIO;
			cmd->sys_errno = errno;
			return;
		}
		l->next = px->listeners;
		px->listeners = l;
		cmd->rc = 0;
		return;
	}
	case CMD_UNLISTEN:
		for (struct listener *l = px->listeners; l; l = l->next) {
			if (l->id == cmd->id) {
				listener_close(px, l);
				cmd->rc = 0;
				return;
			}
		}
		cmd->rc = NSH_ENOTFOUND;
		return;
	}
}

/* Run queued commands; true when the loop must stop. */
static bool on_wake(struct nsh_proxy *px)
{
	struct cmd *cmds;
	uint64_t n;
	bool quit;

	if (read(px->wakefd, &n, sizeof(n)) < 0) {
		/* EAGAIN: drained by an earlier wake-up */
	}
	pthread_mutex_lock(&px->mu);
	cmds = px->cmds;
	px->cmds = NULL;
	quit = px->quit;
	pthread_mutex_unlock(&px->mu);
	while (cmds) {
		struct cmd *next = cmds->next;

		run_cmd(px, cmds);
		pthread_mutex_lock(&px->mu);
		cmds->done = true; /* cmds belongs to its caller again from here */
		pthread_cond_broadcast(&px->cond);
		pthread_mutex_unlock(&px->mu);
		cmds = next;
	}
	return quit;
}

static void *loop_main(void *arg)
{
	struct nsh_proxy *px = arg;
	struct epoll_event evs[EVENTS_PER_WAIT];
	int64_t next_sweep = 0;
	bool quit = false;

	while (!quit) {
		int n = epoll_wait(px->epfd, evs, EVENTS_PER_WAIT, px->nconns ? SWEEP_MS : -1);
		int64_t now;

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct endp *ep = evs[i].data.ptr;

			switch (ep->kind) {
			case K_WAKE:
				quit = on_wake(px) || quit;
				break;
			case K_RESOLVER:
				on_resolver(px);
				break;
			case K_LISTENER:
				if (!ep->l->dead)
					on_accept(px, ep->l);
				break;
			case K_CLIENT:
				if (!ep->c->dead)
					on_client(px, ep->c, evs[i].events);
				break;
			case K_UPSTREAM:
				if (!ep->c->dead)
					on_upstream(px, ep->c, evs[i].events);
				break;
			}
		}
		now = nsh_time_mono_ms();
		if (px->nconns && now >= next_sweep) {
			sweep(px, now);
			next_sweep = now + SWEEP_MS;
		}
		bury(px);
	}
	return NULL;
}

/* ----------------------------------------------------------------- public */

int nsh_proxy_new(struct nsh_proxy **ret, struct nsh_err *err)
{
	return nsh_proxy_new_limits(ret, NULL, err);
}

int nsh_proxy_new_limits(struct nsh_proxy **ret, const struct nsh_proxy_limits *lim,
			 struct nsh_err *err)
{
	struct nsh_proxy *px = nsh_xcalloc(1, sizeof(*px));
	struct epoll_event ev = {.events = EPOLLIN};
	int rc = 0;

	if (lim)
		px->lim = *lim;
	if (!px->lim.head_max || px->lim.head_max > NSH_HTTP_HEAD_MAX)
		px->lim.head_max = NSH_HTTP_HEAD_MAX;
	if (!px->lim.max_conns)
		px->lim.max_conns = DEFAULT_MAX_CONNS;
	if (px->lim.idle_ms <= 0)
		px->lim.idle_ms = DEFAULT_IDLE_MS;
	if (px->lim.head_ms <= 0)
		px->lim.head_ms = DEFAULT_HEAD_MS;
	if (px->lim.connect_ms <= 0)
		px->lim.connect_ms = DEFAULT_CONNECT_MS;
	if (!px->lim.resolver_threads)
		px->lim.resolver_threads = DEFAULT_RESOLVERS;
	px->epfd = px->wakefd = -1;
	px->next_id = 1;
	pthread_mutex_init(&px->mu, NULL);
	pthread_cond_init(&px->cond, NULL);
	px->wake_ep.kind = K_WAKE;
	px->res_ep.kind = K_RESOLVER;

	px->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (px->epfd < 0) {
		rc = nsh_err_sys(err, errno, "cannot create the proxy's epoll instance");
		goto out;
	}
	px->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (px->wakefd < 0) {
		rc = nsh_err_sys(err, errno, "cannot create the proxy's eventfd");
		goto out;
	}
	px->res = resolver_new(px->lim.resolver_threads, err);
	if (!px->res) {
		rc = NSH_EIO;
		goto out;
	}
	ev.data.ptr = &px->wake_ep;
	if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, px->wakefd, &ev) < 0) {
		rc = nsh_err_sys(err, errno, "cannot watch the proxy's eventfd");
		goto out;
	}
	ev.data.ptr = &px->res_ep;
	if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, px->res->efd, &ev) < 0) {
		rc = nsh_err_sys(err, errno, "cannot watch the resolver's eventfd");
		goto out;
	}
	int e = start_thread(&px->thread, loop_main, px, false);

	if (e) {
		rc = nsh_err_sys(err, e, "cannot start the proxy thread");
		goto out;
	}
	*ret = px;
out:
	if (rc) {
		if (px->res)
			resolver_stop(px->res);
		close_fd(&px->epfd);
		close_fd(&px->wakefd);
		pthread_cond_destroy(&px->cond);
		pthread_mutex_destroy(&px->mu);
		free(px);
	}
	return rc;
}

/* Hand @cmd to the loop and wait for its answer. */
static void call(struct nsh_proxy *px, struct cmd *cmd)
{
	uint64_t one = 1;

	pthread_mutex_lock(&px->mu);
	cmd->done = false;
	cmd->next = px->cmds;
	px->cmds = cmd;
	pthread_mutex_unlock(&px->mu);
	if (write(px->wakefd, &one, sizeof(one)) < 0) {
		/* only fails when the counter is full, and then the loop wakes anyway */
	}
	pthread_mutex_lock(&px->mu);
	while (!cmd->done)
		pthread_cond_wait(&px->cond, &px->mu);
	pthread_mutex_unlock(&px->mu);
}

static bool on_loop_thread(const struct nsh_proxy *px)
{
	return pthread_equal(pthread_self(), px->thread);
}

int nsh_proxy_listen(struct nsh_proxy *px, int listen_fd, const struct nsh_net_policy *pol,
		     nsh_proxy_event_fn *cb, void *ctx, uint64_t *ret_id, struct nsh_err *err)
{
	struct cmd cmd = {.kind = CMD_LISTEN};
	struct listener *l = NULL;
	int accepting = 0, flags, rc = 0;
	socklen_t len = sizeof(accepting);

	if (on_loop_thread(px)) {
		rc = nsh_err_set(err, NSH_ECONFLICT,
				 "nsh_proxy_listen() called from the proxy thread");
		goto out;
	}
	rc = nsh_net_policy_validate(pol, err);
	if (rc)
		goto out;
	if (getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0) {
		rc = nsh_err_sys(err, errno, "proxy listener fd %d is not a socket", listen_fd);
		goto out;
	}
	if (!accepting) {
		rc = nsh_err_set(err, NSH_EINVAL, "proxy listener fd %d is not listening",
				 listen_fd);
		goto out;
	}
	flags = fcntl(listen_fd, F_GETFL);
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
		rc = nsh_err_sys(err, errno, "cannot set up proxy listener fd %d", listen_fd);
		goto out;
	}
	l = nsh_xcalloc(1, sizeof(*l));
	l->ep = (struct endp){K_LISTENER, NULL, l};
	l->fd = listen_fd;
	nsh_net_policy_copy(&l->pol, pol);
	l->cb = cb;
	l->ctx = ctx;
	pthread_mutex_lock(&px->mu);
	l->id = px->next_id++;
	pthread_mutex_unlock(&px->mu);
	cmd.l = l;
	call(px, &cmd);
	if (cmd.rc) {
		rc = nsh_err_sys(err, cmd.sys_errno, "cannot watch proxy listener fd %d",
				 listen_fd);
		goto out;
	}
	*ret_id = l->id;
out:
	if (rc) {
		if (l)
			listener_free(l);
		close(listen_fd);
	}
	return rc;
}

int nsh_proxy_unlisten(struct nsh_proxy *px, uint64_t id, struct nsh_err *err)
{
	struct cmd cmd = {.kind = CMD_UNLISTEN, .id = id};

	if (on_loop_thread(px))
		return nsh_err_set(err, NSH_ECONFLICT,
				   "nsh_proxy_unlisten() called from the proxy thread");
	call(px, &cmd);
	if (cmd.rc)
		return nsh_err_set(err, cmd.rc, "no proxy listener %llu", (unsigned long long)id);
	return 0;
}

void nsh_proxy_free(struct nsh_proxy *px)
{
	uint64_t one = 1;

	if (!px)
		return;
	pthread_mutex_lock(&px->mu);
	px->quit = true;
	pthread_mutex_unlock(&px->mu);
	if (write(px->wakefd, &one, sizeof(one)) < 0) {
		/* see call() */
	}
	pthread_join(px->thread, NULL);
	/* the loop is gone: this thread owns everything now */
	px->quiet = true;
	while (px->listeners)
		listener_close(px, px->listeners);
	bury(px);
	resolver_stop(px->res);
	close_fd(&px->epfd);
	close_fd(&px->wakefd);
	pthread_cond_destroy(&px->cond);
	pthread_mutex_destroy(&px->mu);
	free(px);
}
