/*
 * Tests for the egress proxy and its request-head parser, on loopback only:
 * a proxy serving a listening socket made here, a tiny HTTP server and a
 * TCP echo server as upstreams, reached as "localhost" through
 * allow_private entries. What a sandbox relies on: allowed hosts work both
 * ways (CONNECT and plain HTTP), everything else gets a clear refusal that
 * names the host and the level, private addresses and IP literals never
 * get through, big transfers arrive intact, events carry byte counts, and
 * unlisten ends live connections.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "test.h"

#include "core/banned.h"

/* RUN() for a test that takes the shared proxy. */
#define RUN_PX(fn)                 \
 do {                              \
  fprintf(stderr, "-- %s\n", #fn); \
  fn(px);                          \
 } while (0)

/* ------------------------------------------------------------ sockets */

static int listen_lo(int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("listen_lo");
		abort();
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* A client socket to 127.0.0.1:@port with 5 s timeouts; -1 when refused. */
static int dial(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons((uint16_t)port);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static bool send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

/* Read until end of stream (or error/timeout) into @out. */
static void read_all(int fd, struct nsh_buf *out)
{
	char chunk[16384];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		nsh_buf_add(out, chunk, (size_t)n);
}

/* Read a response head (up to the blank line) byte by byte into @out. */
static bool read_head(int fd, struct nsh_buf *out)
{
	char c;

	while (read(fd, &c, 1) == 1) {
		nsh_buf_addch(out, c);
		if (out->len >= 4 && !memcmp(out->buf + out->len - 4, "\r\n\r\n", 4))
			return true;
	}
	return false;
}

static int status_of(const char *resp)
{
	int st = 0;

	if (sscanf(resp, "HTTP/1.%*d %d", &st) != 1)
		return -1;
	return st;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

/* Send @req to the proxy and read the whole answer. */
static char *roundtrip(int port, const char *req)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int fd = dial(port);

	if (fd < 0)
		return nsh_xstrdup("(refused)");
	send_all(fd, req, strlen(req));
	read_all(fd, &b);
	close(fd);
	return nsh_buf_detach(&b, NULL);
}

/* ------------------------------------------------------------ upstreams */

struct server {
	int fd;		     /* listening socket */
	int port;	     /* its port */
	pthread_t thread;    /* accept loop */
	atomic_int accepted; /* connections accepted */
	bool echo;	     /* echo server, else HTTP */
};

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (!send_all(fd, buf, (size_t)n))
			break;
	close(fd);
	return NULL;
}

/*
 * HTTP: read the head and a Content-Length body, answer 200 with the
 * request echoed as the body, then close.
 */
static void *http_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct nsh_buf req = NSH_BUF_INIT, resp = NSH_BUF_INIT;
	const char *cl;
	size_t want;

	if (!read_head(fd, &req))
		goto out;
	cl = strcasestr(req.buf, "\r\ncontent-length:");
	want = req.len + (cl ? strtoul(cl + 17, NULL, 10) : 0);
	while (req.len < want) {
		char c[4096];
		ssize_t n = read(fd, c, want - req.len < sizeof(c) ? want - req.len : sizeof(c));

		if (n <= 0)
			break;
		nsh_buf_add(&req, c, (size_t)n);
	}
	nsh_buf_addf(&resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		     req.len);
	nsh_buf_add(&resp, req.buf, req.len);
	send_all(fd, resp.buf, resp.len);
out:
	nsh_buf_release(&req);
	nsh_buf_release(&resp);
	close(fd);
	return NULL;
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		struct timeval tv = {10, 0};
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* shut down */
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		atomic_fetch_add(&s->accepted, 1);
		if (pthread_create(&t, NULL, s->echo ? echo_conn : http_conn, (void *)(intptr_t)fd))
			abort();
		pthread_detach(t);
	}
}

static void server_start(struct server *s, bool echo)
{
	memset(s, 0, sizeof(*s));
	s->echo = echo;
	s->fd = listen_lo(&s->port);
	if (pthread_create(&s->thread, NULL, server_main, s))
		abort();
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
	nsh_time_sleep_ms(20); /* let detached connection threads finish */
}

/* ------------------------------------------------------------ events */

struct ev {
	bool allowed, done, is_connect, private_allowed;
	char host[128], reason[160], addr[64];
	int port, status;
	enum nsh_net_level level;
	uint64_t up, down;
};

struct events {
	pthread_mutex_t mu;
	struct ev v[256];
	int n;
	struct nsh_proxy *px; /* for the re-entrancy check */
	int reentry_rc;	      /* what nsh_proxy_unlisten() said inside a callback */
};

static void on_event(void *ctx, const struct nsh_proxy_decision *d)
{
	struct events *e = ctx;
	struct ev *v;

	if (e->px)
		e->reentry_rc = nsh_proxy_unlisten(e->px, 12345, NULL);
	pthread_mutex_lock(&e->mu);
	if (e->n < (int)(sizeof(e->v) / sizeof(e->v[0]))) {
		v = &e->v[e->n++];
		v->allowed = d->allowed;
		v->done = d->done;
		v->is_connect = d->is_connect;
		v->private_allowed = d->private_allowed;
		snprintf(v->host, sizeof(v->host), "%s", d->host);
		snprintf(v->reason, sizeof(v->reason), "%s", d->reason);
		snprintf(v->addr, sizeof(v->addr), "%s", d->addr);
		v->port = d->port;
		v->status = d->status;
		v->level = d->level;
		v->up = d->bytes_up;
		v->down = d->bytes_down;
	}
	pthread_mutex_unlock(&e->mu);
}

static void events_init(struct events *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->mu, NULL);
}

static int events_count(struct events *e)
{
	int n;

	pthread_mutex_lock(&e->mu);
	n = e->n;
	pthread_mutex_unlock(&e->mu);
	return n;
}

/* Wait up to 3 s for at least @n events; returns the count. */
static int events_wait(struct events *e, int n)
{
	for (int i = 0; i < 300 && events_count(e) < n; i++)
		nsh_time_sleep_ms(10);
	return events_count(e);
}

/* ------------------------------------------------------------ fixture */

struct fix {
	struct nsh_proxy *px;
	struct events ev;
	int port;    /* proxy listener */
	uint64_t id; /* its id */
};

static void fix_start(struct fix *f, struct nsh_proxy *px, const struct nsh_net_policy *pol)
{
	struct nsh_err err = NSH_ERR_INIT;
	int fd;

	events_init(&f->ev);
	f->px = px;
	fd = listen_lo(&f->port);
	if (nsh_proxy_listen(px, fd, pol, on_event, &f->ev, &f->id, &err)) {
		fprintf(stderr, "listen: %s\n", err.msg);
		abort();
	}
}

static void fix_stop(struct fix *f)
{
	CHECK_INT(nsh_proxy_unlisten(f->px, f->id, NULL), 0);
	pthread_mutex_destroy(&f->ev.mu);
}

static struct nsh_proxy *proxy(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proxy *px = NULL;

	if (nsh_proxy_new(&px, &err)) {
		fprintf(stderr, "proxy: %s\n", err.msg);
		abort();
	}
	return px;
}

/* A custom policy allowing "localhost" and the given private ports. */
static void local_policy(struct nsh_net_policy *p, enum nsh_net_level level, int port1, int port2)
{
	char hp[64];

	nsh_net_policy_init(p, level);
	if (level == NSH_NET_CUSTOM && nsh_net_policy_add_allow(p, "localhost", NULL))
		abort();
	if (port1) {
		snprintf(hp, sizeof(hp), "localhost:%d", port1);
		nsh_net_policy_add_allow_private(p, hp, NULL);
	}
	if (port2) {
		snprintf(hp, sizeof(hp), "localhost:%d", port2);
		nsh_net_policy_add_allow_private(p, hp, NULL);
	}
}

/* Open a CONNECT tunnel to @target; returns the fd with the 200 read, or -1 with *@resp set. */
static int tunnel(int port, const char *target, const char *host_hdr, char **resp)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char req[512];
	int fd = dial(port);

	if (fd < 0)
		return -1;
	snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: t\r\n\r\n",
		 target, host_hdr ? host_hdr : target);
	send_all(fd, req, strlen(req));
	if (!read_head(fd, &b) || status_of(b.buf) != 200) {
		read_all(fd, &b);
		if (resp)
			*resp = nsh_buf_detach(&b, NULL);
		close(fd);
		nsh_buf_release(&b);
		return -1;
	}
	if (resp)
		*resp = nsh_buf_detach(&b, NULL);
	nsh_buf_release(&b);
	return fd;
}

/* ------------------------------------------------------------ parser */

static int parse(const char *s, struct nsh_http_req *req, struct nsh_err *err)
{
	size_t n = nsh_http_head_len(s, strlen(s));

	if (!n)
		return 1; /* incomplete */
	return nsh_http_parse_head(s, n, req, err);
}

static void test_http_parser(void)
{
	static struct nsh_http_req req;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_str host, auth, path;
	size_t count;
	int port;

	CHECK_INT(nsh_http_head_len("GET / HTTP/1.1\r\nHost: x\r\n", 25), 0);
	CHECK_INT(nsh_http_head_len("GET / HTTP/1.1\r\n\r\nbody", 22), 18);
	CHECK_INT(
		parse("GET http://a.example:8080/p?q=1#frag HTTP/1.1\r\nHost:  a.example:8080 \r\n"
		      "X-Empty:\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n",
		      &req, &err),
		0);
	CHECK(nsh_str_eq_cstr(req.method, "GET"));
	CHECK(nsh_str_eq_cstr(req.target, "http://a.example:8080/p?q=1#frag"));
	CHECK_INT(req.minor, 1);
	CHECK_INT(req.nhdr, 4);
	CHECK(nsh_str_eq_cstr(nsh_http_req_header(&req, "HOST", &count)->value, "a.example:8080"));
	CHECK_INT(count, 1);
	CHECK_INT(nsh_http_req_header(&req, "x-empty", NULL)->value.len, 0);
	CHECK(nsh_str_eq_cstr(nsh_http_req_header(&req, "x-dup", &count)->value, "1"));
	CHECK_INT(count, 2);
	CHECK(nsh_http_req_header(&req, "missing", &count) == NULL);
	CHECK_INT(count, 0);
	CHECK_INT(nsh_http_parse_uri(req.target, &auth, &path, &err), 0);
	CHECK(nsh_str_eq_cstr(auth, "a.example:8080"));
	CHECK(nsh_str_eq_cstr(path, "/p?q=1"));
	CHECK_INT(nsh_http_parse_authority(auth, 80, &host, &port, &err), 0);
	CHECK(nsh_str_eq_cstr(host, "a.example"));
	CHECK_INT(port, 8080);
	CHECK_INT(nsh_http_parse_uri(nsh_str_from("HTTP://b.example?x"), &auth, &path, &err), 0);
	CHECK(nsh_str_eq_cstr(auth, "b.example"));
	CHECK(nsh_str_eq_cstr(path, "?x"));
	CHECK_INT(nsh_http_parse_authority(nsh_str_from("b.example"), 80, &host, &port, &err), 0);
	CHECK_INT(port, 80);
	CHECK_INT(nsh_http_parse_authority(nsh_str_from("[::1]:443"), 0, &host, &port, &err), 0);
	CHECK(nsh_str_eq_cstr(host, "[::1]"));
	CHECK_INT(port, 443);
	CHECK_INT(parse("CONNECT h.example:443 HTTP/1.0\r\n\r\n", &req, &err), 0);
	CHECK_INT(req.minor, 0);
	CHECK_INT(req.nhdr, 0);

	static const char *const bad_heads[] = {
		"\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\n\r\n",
		"GET / HTTP/1.1\nHost: x\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",
		"GET /\x01 HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		int rc = parse(bad_heads[i], &req, &err);

		if (rc != NSH_EINVAL)
			fprintf(stderr, "bad head %zu: rc %d\n", i, rc);
		CHECK_INT(rc, NSH_EINVAL);
	}
	/* a NUL inside a value (strlen cannot carry it) */
	static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";

	CHECK_INT(nsh_http_parse_head(nul, sizeof(nul) - 1, &req, &err), NSH_EINVAL);
	/* trailing bytes after the blank line */
	CHECK_INT(nsh_http_parse_head("GET / HTTP/1.1\r\n\r\nx", 19, &req, &err), NSH_EINVAL);

	/* header count and size caps */
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_buf_adds(&b, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= NSH_HTTP_MAX_HEADERS; i++)
		nsh_buf_addf(&b, "X-%d: v\r\n", i);
	nsh_buf_adds(&b, "\r\n");
	CHECK_INT(nsh_http_parse_head(b.buf, b.len, &req, &err), NSH_ETOOBIG);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "GET / HTTP/1.1\r\nX: ");
	for (int i = 0; i < NSH_HTTP_HEAD_MAX; i++)
		nsh_buf_addch(&b, 'a');
	nsh_buf_adds(&b, "\r\n\r\n");
	CHECK_INT(nsh_http_parse_head(b.buf, b.len, &req, &err), NSH_ETOOBIG);
	nsh_buf_release(&b);

	static const char *const bad_auth[] = {"",	  ":80",   "h:",       "h:0",
					       "h:65536", "h:80x", "u@h:80",   "h/x:80",
					       "[::1",	  "[]:80", "[::g]:80", "h:123456"};
	for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++)
		CHECK_INT(
			nsh_http_parse_authority(nsh_str_from(bad_auth[i]), 80, &host, &port, &err),
			NSH_EINVAL);
	CHECK_INT(nsh_http_parse_authority(nsh_str_from("h.example"), 0, &host, &port, &err),
		  NSH_EINVAL);
	CHECK_INT(nsh_http_parse_uri(nsh_str_from("https://h/"), &auth, &path, &err), NSH_EINVAL);
	CHECK_INT(nsh_http_parse_uri(nsh_str_from("http:///x"), &auth, &path, &err), NSH_EINVAL);
	CHECK_INT(nsh_http_parse_uri(nsh_str_from("/x"), &auth, &path, &err), NSH_EINVAL);
}

/* ------------------------------------------------------------ proxy */

static void test_plain_http(struct nsh_proxy *px)
{
	struct server up;
	struct nsh_net_policy pol;
	struct fix f;
	char req[1024];
	char *resp;

	server_start(&up, false);
	local_policy(&pol, NSH_NET_CUSTOM, up.port, 0);
	fix_start(&f, px, &pol);

	snprintf(req, sizeof(req),
		 "GET http://LocalHost:%d/path?q=1 HTTP/1.1\r\nHost: localhost:%d\r\n"
		 "Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\n"
		 "Keep-Alive: 300\r\nConnection: keep-alive, X-Drop\r\nX-Drop: gone\r\n"
		 "TE: trailers\r\nX-Custom: yes\r\n\r\n",
		 up.port, up.port);
	resp = roundtrip(f.port, req);
	CHECK_INT(status_of(resp), 200);
	const char *seen = body_of(resp);
	char want[128];

	snprintf(want, sizeof(want), "GET /path?q=1 HTTP/1.1\r\n");
	CHECK(!strncmp(seen, want, strlen(want)));
	snprintf(want, sizeof(want), "\r\nHost: localhost:%d\r\n", up.port);
	CHECK(strstr(seen, want) != NULL);
	CHECK(strstr(seen, "\r\nX-Custom: yes\r\n") != NULL);
	CHECK(strstr(seen, "\r\nConnection: close\r\n\r\n") != NULL);
	CHECK(strcasestr(seen, "proxy-") == NULL);
	CHECK(strcasestr(seen, "keep-alive") == NULL);
	CHECK(strstr(seen, "X-Drop") == NULL);
	CHECK(strstr(seen, "TE:") == NULL);

	CHECK_INT(events_wait(&f.ev, 2), 2);
	CHECK(f.ev.v[0].allowed && !f.ev.v[0].done);
	CHECK_STR(f.ev.v[0].host, "LocalHost");
	CHECK_INT(f.ev.v[0].port, up.port);
	CHECK(f.ev.v[0].private_allowed);
	CHECK_STR(f.ev.v[0].addr, "127.0.0.1");
	CHECK_INT(f.ev.v[0].level, NSH_NET_CUSTOM);
	CHECK(!f.ev.v[0].is_connect);
	CHECK(f.ev.v[1].allowed && f.ev.v[1].done);
	CHECK_INT(f.ev.v[1].down, strlen(resp));
	/* what went up is exactly what the upstream echoed back */
	CHECK_INT(f.ev.v[1].up, strlen(seen));
	free(resp);

	/* a body (POST) is forwarded; an origin-form path of "" becomes "/" */
	snprintf(req, sizeof(req),
		 "POST http://localhost:%d HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world",
		 up.port);
	resp = roundtrip(f.port, req);
	CHECK_INT(status_of(resp), 200);
	CHECK(!strncmp(body_of(resp), "POST / HTTP/1.1\r\n", 17));
	snprintf(want, sizeof(want), "\r\nHost: localhost:%d\r\n", up.port); /* added */
	CHECK(strstr(body_of(resp), want) != NULL);
	CHECK(strstr(body_of(resp), "\r\n\r\nhello world") != NULL);
	free(resp);

	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&up);
}

static void test_denied_host(struct nsh_proxy *px)
{
	struct server up;
	struct nsh_net_policy pol;
	struct fix f;
	char *resp;

	server_start(&up, false);
	local_policy(&pol, NSH_NET_INTEGRATION, up.port, 0);
	fix_start(&f, px, &pol);

	resp = roundtrip(f.port,
			 "GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n");
	CHECK_INT(status_of(resp), 403);
	CHECK_STR(body_of(resp), "nightshift: 'evil.example' is not allowed at network level "
				 "'integration'\n");
	free(resp);
	resp = roundtrip(f.port,
			 "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n");
	CHECK_INT(status_of(resp), 403);
	CHECK_STR(body_of(resp), "nightshift: 'evil.example' is not allowed at network level "
				 "'integration'\n");
	free(resp);
	/* localhost is not a forge host, even with an allow_private entry */
	char req[256];

	snprintf(req, sizeof(req), "GET http://localhost:%d/ HTTP/1.1\r\n\r\n", up.port);
	resp = roundtrip(f.port, req);
	CHECK_INT(status_of(resp), 403);
	free(resp);

	CHECK_INT(events_wait(&f.ev, 3), 3);
	CHECK(!f.ev.v[0].allowed && !f.ev.v[0].done);
	CHECK_STR(f.ev.v[0].host, "evil.example");
	CHECK_STR(f.ev.v[0].reason, "not in the allowlist");
	CHECK_INT(f.ev.v[0].level, NSH_NET_INTEGRATION);
	CHECK_INT(f.ev.v[0].status, 403);
	CHECK(f.ev.v[1].is_connect);
	CHECK_INT(f.ev.v[1].port, 443);
	CHECK_INT(atomic_load(&up.accepted), 0);
	fix_stop(&f);
	nsh_net_policy_release(&pol);

	/* level none refuses everything, naming the level */
	local_policy(&pol, NSH_NET_NONE, up.port, 0);
	fix_start(&f, px, &pol);
	resp = roundtrip(f.port, "CONNECT github.com:443 HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 403);
	CHECK_STR(body_of(resp),
		  "nightshift: 'github.com' is not allowed at network level 'none'\n");
	free(resp);
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&up);
}

/* localhost resolves to 127.0.0.1: without an allow_private entry it is refused (rebinding). */
static void test_private_address(struct nsh_proxy *px)
{
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	char target[64], *resp = NULL;

	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port + 1 == 65536 ? 1 : echo.port + 1, 0);
	fix_start(&f, px, &pol);
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	CHECK_INT(tunnel(f.port, target, NULL, &resp), -1);
	CHECK_INT(status_of(resp), 403);
	CHECK_STR(body_of(resp),
		  "nightshift: 'localhost' resolves to a private address (127.0.0.1), "
		  "refused at network level 'custom'\n");
	free(resp);
	CHECK_INT(events_wait(&f.ev, 1), 1);
	CHECK(!f.ev.v[0].allowed);
	CHECK_STR(f.ev.v[0].reason, "private address");
	CHECK_STR(f.ev.v[0].addr, "127.0.0.1");
	CHECK(!f.ev.v[0].private_allowed);
	fix_stop(&f);
	nsh_net_policy_release(&pol);

	/* the same at level open */
	local_policy(&pol, NSH_NET_OPEN, 0, 0);
	fix_start(&f, px, &pol);
	CHECK_INT(tunnel(f.port, target, NULL, &resp), -1);
	CHECK_INT(status_of(resp), 403);
	CHECK(strstr(body_of(resp), "private address") != NULL);
	free(resp);
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	CHECK_INT(atomic_load(&echo.accepted), 0);

	/* and the positive twin: with the entry, open level reaches it */
	local_policy(&pol, NSH_NET_OPEN, echo.port, 0);
	fix_start(&f, px, &pol);
	int fd = tunnel(f.port, target, NULL, NULL);
	char buf[8] = {0};

	CHECK(fd >= 0);
	if (fd >= 0) {
		send_all(fd, "ping", 4);
		CHECK_INT(read(fd, buf, 4), 4);
		CHECK_STR(buf, "ping");
		close(fd);
	}
	CHECK_INT(atomic_load(&echo.accepted), 1);
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
}

static void test_ip_literal_refused(struct nsh_proxy *px)
{
	static const enum nsh_net_level levels[] = {NSH_NET_NONE, NSH_NET_INTEGRATION,
						    NSH_NET_COMMON, NSH_NET_OPEN, NSH_NET_CUSTOM};
	static const char *const forms[] = {"127.0.0.1", "2130706433", "0x7f.1",    "[::1]",
					    "127.1",	 "0177.0.0.1", "127.0.0.1."};
	struct server echo;

	server_start(&echo, true);
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		struct nsh_net_policy pol;
		struct fix f;

		local_policy(&pol, levels[l], echo.port, 0);
		fix_start(&f, px, &pol);
		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			char req[256], *resp;

			snprintf(req, sizeof(req), "CONNECT %s:%d HTTP/1.1\r\n\r\n", forms[i],
				 echo.port);
			resp = roundtrip(f.port, req);
			CHECK_INT(status_of(resp), 403);
			if (levels[l] != NSH_NET_NONE)
				CHECK(strstr(body_of(resp), "is an IP address") != NULL);
			free(resp);
			snprintf(req, sizeof(req), "GET http://%s:%d/ HTTP/1.1\r\n\r\n", forms[i],
				 echo.port);
			resp = roundtrip(f.port, req);
			CHECK_INT(status_of(resp), 403);
			free(resp);
		}
		CHECK_INT(events_wait(&f.ev, 14), 14);
		if (levels[l] == NSH_NET_OPEN)
			CHECK_STR(f.ev.v[0].reason, "ip literal");
		fix_stop(&f);
		nsh_net_policy_release(&pol);
	}
	CHECK_INT(atomic_load(&echo.accepted), 0);
	server_stop(&echo);
}

static void test_host_mismatch(struct nsh_proxy *px)
{
	struct server up, echo;
	struct nsh_net_policy pol;
	struct fix f;
	char target[64], hdr[64], req[256], *resp = NULL;
	int fd;

	server_start(&up, false);
	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, up.port, echo.port);
	fix_start(&f, px, &pol);

	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	snprintf(hdr, sizeof(hdr), "other.example:%d", echo.port);
	CHECK_INT(tunnel(f.port, target, hdr, &resp), -1);
	CHECK_INT(status_of(resp), 403);
	CHECK(strstr(body_of(resp), "does not match") != NULL);
	free(resp);
	snprintf(hdr, sizeof(hdr), "localhost:%d", echo.port + 1);
	CHECK_INT(tunnel(f.port, target, hdr, &resp), -1);
	CHECK_INT(status_of(resp), 403);
	free(resp);
	snprintf(req, sizeof(req),
		 "GET http://localhost:%d/ HTTP/1.1\r\nHost: evil.example\r\n\r\n", up.port);
	resp = roundtrip(f.port, req);
	CHECK_INT(status_of(resp), 403);
	free(resp);
	CHECK_INT(atomic_load(&up.accepted) + atomic_load(&echo.accepted), 0);
	CHECK_INT(events_wait(&f.ev, 3), 3);
	CHECK_STR(f.ev.v[0].reason, "host header mismatch");

	/* agreeing Host headers: any case, a trailing dot, no port */
	snprintf(hdr, sizeof(hdr), "LOCALHOST.:%d", echo.port);
	fd = tunnel(f.port, target, hdr, NULL);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	fd = tunnel(f.port, target, "localhost", NULL);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&up);
	server_stop(&echo);
}

struct writer {
	int fd;
	const unsigned char *p;
	size_t n;
	bool ok;
};

static void *write_main(void *arg)
{
	struct writer *w = arg;

	w->ok = send_all(w->fd, w->p, w->n);
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

static void test_big_transfer(struct nsh_proxy *px)
{
	const size_t total = 20u << 20;
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	struct writer w;
	pthread_t t;
	unsigned char *data = nsh_xmalloc(total), *got = nsh_xmalloc(total);
	char target[64];
	size_t have = 0;
	uint32_t x = 12345;
	int fd;

	for (size_t i = 0; i < total; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port, 0);
	fix_start(&f, px, &pol);
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	fd = tunnel(f.port, target, NULL, NULL);
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	w = (struct writer){fd, data, total, false};
	pthread_create(&t, NULL, write_main, &w);
	for (;;) {
		ssize_t n = read(fd, got + have, total - have < 65536 ? total - have : 65536);

		if (n <= 0)
			break;
		have += (size_t)n;
		if (have == total)
			break;
	}
	pthread_join(t, NULL);
	CHECK(w.ok);
	CHECK_INT(have, total);
	CHECK(have == total && !memcmp(data, got, total));
	char c;

	CHECK_INT(read(fd, &c, 1), 0); /* the echo server's end reaches us */
	close(fd);
	CHECK_INT(events_wait(&f.ev, 2), 2);
	CHECK(f.ev.v[1].done);
	CHECK_STR(f.ev.v[1].reason, "closed");
	CHECK_INT(f.ev.v[1].up, total);
	CHECK_INT(f.ev.v[1].down, total);
	CHECK_INT(f.ev.v[1].status, 200);
out:
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
	free(data);
	free(got);
}

/* Many tunnels at once through one listener, each with its own data. */
static void test_concurrent(struct nsh_proxy *px)
{
	enum { N = 24 };
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	char target[64];
	int fds[N];

	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port, 0);
	fix_start(&f, px, &pol);
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	for (int i = 0; i < N; i++)
		fds[i] = tunnel(f.port, target, NULL, NULL);
	for (int i = 0; i < N; i++) {
		char msg[32], buf[32] = {0};
		int n = snprintf(msg, sizeof(msg), "tunnel %d", i);

		CHECK(fds[i] >= 0);
		if (fds[i] < 0)
			continue;
		send_all(fds[i], msg, (size_t)n);
		CHECK_INT(read(fds[i], buf, (size_t)n), n);
		CHECK_STR(buf, msg);
	}
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	CHECK_INT(events_wait(&f.ev, 2 * N), 2 * N);
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
}

static void test_unlisten(struct nsh_proxy *px)
{
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	char target[64], buf[8] = {0};
	struct nsh_err err = NSH_ERR_INIT;
	int fd, n;

	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port, 0);
	fix_start(&f, px, &pol);
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	fd = tunnel(f.port, target, NULL, NULL);
	CHECK(fd >= 0);
	send_all(fd, "live", 4);
	CHECK_INT(read(fd, buf, 4), 4);
	CHECK_INT(events_wait(&f.ev, 1), 1);

	int64_t t0 = nsh_time_mono_ms();

	CHECK_INT(nsh_proxy_unlisten(px, f.id, &err), 0);
	/* the end event came before unlisten returned */
	n = events_count(&f.ev);
	CHECK_INT(n, 2);
	CHECK(f.ev.v[1].done);
	CHECK_STR(f.ev.v[1].reason, "unlisten");
	CHECK_INT(f.ev.v[1].up, 4);
	CHECK_INT(f.ev.v[1].down, 4);
	/* the live connection ends at once */
	ssize_t r = read(fd, buf, 1);

	CHECK(r <= 0);
	CHECK(nsh_time_mono_ms() - t0 < 2000);
	close(fd);
	/* nobody listens there any more */
	CHECK_INT(dial(f.port), -1);
	nsh_time_sleep_ms(100);
	CHECK_INT(events_count(&f.ev), n);
	CHECK_INT(nsh_proxy_unlisten(px, f.id, &err), NSH_ENOTFOUND);
	pthread_mutex_destroy(&f.ev.mu);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
}

/*
 * A client that closed just before the unlisten (a sandbox torn down as
 * soon as its command ended): its end is read first, and the connection
 * ended as "closed", with all its bytes. t0301 failed on the race so.
 */
static void test_unlisten_after_close(struct nsh_proxy *px)
{
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	char target[64], buf[8] = {0};
	struct nsh_err err = NSH_ERR_INIT;
	int fd;

	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port, 0);
	fix_start(&f, px, &pol);
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	fd = tunnel(f.port, target, NULL, NULL);
	CHECK(fd >= 0);
	send_all(fd, "done", 4);
	CHECK_INT(read(fd, buf, 4), 4);
	CHECK_INT(events_wait(&f.ev, 1), 1);
	close(fd);
	CHECK_INT(nsh_proxy_unlisten(px, f.id, &err), 0);
	CHECK_INT(events_count(&f.ev), 2);
	CHECK(f.ev.v[1].done);
	CHECK_STR(f.ev.v[1].reason, "closed");
	CHECK_INT(f.ev.v[1].up, 4);
	CHECK_INT(f.ev.v[1].down, 4);
	pthread_mutex_destroy(&f.ev.mu);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
}

static void test_bad_requests(struct nsh_proxy *px)
{
	struct nsh_net_policy pol;
	struct fix f;
	struct nsh_buf big = NSH_BUF_INIT;
	char *resp;

	local_policy(&pol, NSH_NET_OPEN, 0, 0);
	fix_start(&f, px, &pol);
	resp = roundtrip(f.port, "hello\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	CHECK(!strncmp(body_of(resp), "nightshift: bad request: ", 25));
	free(resp);
	resp = roundtrip(f.port, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	CHECK(strstr(body_of(resp), "not a proxy request") != NULL);
	free(resp);
	resp = roundtrip(f.port, "GET https://example.com/ HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	free(resp);
	resp = roundtrip(f.port, "CONNECT example.com HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	free(resp);
	resp = roundtrip(f.port, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
				 "Host: example.com\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	free(resp);
	resp = roundtrip(f.port, "GET http://user@example.com/ HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	free(resp);
	resp = roundtrip(f.port, "GET http://bad_host!/ HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 400);
	free(resp);

	/* a head over 16 KiB */
	nsh_buf_adds(&big, "GET http://example.com/ HTTP/1.1\r\nX-Big: ");
	while (big.len < NSH_HTTP_HEAD_MAX + 100)
		nsh_buf_addch(&big, 'a');
	nsh_buf_adds(&big, "\r\n\r\n");
	resp = roundtrip(f.port, big.buf);
	CHECK_INT(status_of(resp), 431);
	free(resp);
	nsh_buf_release(&big);

	/* a name that does not resolve */
	resp = roundtrip(f.port, "CONNECT no-such-host.invalid:443 HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 502);
	CHECK(strstr(body_of(resp), "cannot resolve 'no-such-host.invalid'") != NULL);
	free(resp);

	CHECK_INT(events_wait(&f.ev, 9), 9);
	CHECK(!f.ev.v[0].allowed);
	CHECK_STR(f.ev.v[0].host, "");
	CHECK(!strncmp(f.ev.v[0].reason, "bad request: ", 13));
	CHECK_STR(f.ev.v[8].reason, "resolution failed");
	fix_stop(&f);
	nsh_net_policy_release(&pol);
}

static void test_upstream_refused(struct nsh_proxy *px)
{
	struct nsh_net_policy pol;
	struct fix f;
	char req[128], *resp;
	int closed_port;
	int fd = listen_lo(&closed_port);

	close(fd); /* nothing listens there now */
	local_policy(&pol, NSH_NET_CUSTOM, closed_port, 0);
	fix_start(&f, px, &pol);
	snprintf(req, sizeof(req), "CONNECT localhost:%d HTTP/1.1\r\n\r\n", closed_port);
	resp = roundtrip(f.port, req);
	CHECK_INT(status_of(resp), 502);
	CHECK(strstr(body_of(resp), "cannot connect to 'localhost:") != NULL);
	free(resp);
	CHECK_INT(events_wait(&f.ev, 2), 2);
	CHECK(f.ev.v[0].allowed && !f.ev.v[0].done);
	CHECK(f.ev.v[1].allowed && f.ev.v[1].done);
	CHECK_INT(f.ev.v[1].status, 502);
	CHECK_INT(f.ev.v[1].up + f.ev.v[1].down, 0);
	fix_stop(&f);
	nsh_net_policy_release(&pol);
}

static void test_limits(void)
{
	struct nsh_proxy_limits lim = {.max_conns = 2, .idle_ms = 300, .head_ms = 1000};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proxy *px = NULL;
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	struct nsh_buf b = NSH_BUF_INIT;
	char target[64], c;
	int a1, a2, a3, fd;

	CHECK_INT(nsh_proxy_new_limits(&px, &lim, &err), 0);
	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port, 0);
	fix_start(&f, px, &pol);

	/* two silent clients fill the listener; the third is turned away */
	a1 = dial(f.port);
	a2 = dial(f.port);
	nsh_time_sleep_ms(50);
	a3 = dial(f.port);
	snprintf(target, sizeof(target), "CONNECT localhost:%d HTTP/1.1\r\n\r\n", echo.port);
	CHECK(write(a3, target, strlen(target)) == (ssize_t)strlen(target));
	read_all(a3, &b);
	CHECK_INT(status_of(b.buf), 503);
	CHECK(strstr(b.buf, "too many connections") != NULL);
	close(a3);
	/* turning it away is a decision too, naming the host and port the request asked for */
	CHECK_INT(events_wait(&f.ev, 1), 1);
	CHECK(!f.ev.v[0].allowed && !f.ev.v[0].done);
	CHECK_STR(f.ev.v[0].reason, "too many connections");
	CHECK_STR(f.ev.v[0].host, "localhost");
	CHECK_INT(f.ev.v[0].port, echo.port);
	CHECK(f.ev.v[0].is_connect);
	CHECK_INT(f.ev.v[0].status, 503);
	CHECK_INT(f.ev.v[0].level, NSH_NET_CUSTOM);
	/* one that names nothing within the head timeout gets its 503 then, with no host */
	a3 = dial(f.port);
	nsh_buf_reset(&b);
	read_all(a3, &b);
	CHECK_INT(status_of(b.buf), 503);
	close(a3);
	CHECK_INT(events_wait(&f.ev, 2), 2);
	CHECK_STR(f.ev.v[1].reason, "too many connections");
	CHECK_STR(f.ev.v[1].host, "");
	CHECK_INT(f.ev.v[1].port, 0);
	CHECK_INT(f.ev.v[1].status, 503);
	/* the silent ones are dropped after the head timeout, which frees the slots */
	int64_t t0 = nsh_time_mono_ms();

	CHECK_INT(read(a1, &c, 1), 0);
	CHECK_INT(read(a2, &c, 1), 0);
	CHECK(nsh_time_mono_ms() - t0 < 2000);
	close(a1);
	close(a2);

	/* an idle tunnel is closed after idle_ms */
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	fd = tunnel(f.port, target, NULL, NULL);
	CHECK(fd >= 0);
	t0 = nsh_time_mono_ms();
	CHECK(read(fd, &c, 1) <= 0);
	CHECK(nsh_time_mono_ms() - t0 >= 250);
	close(fd);
	CHECK_INT(events_wait(&f.ev, 4), 4);
	CHECK_STR(f.ev.v[3].reason, "idle timeout");

	fix_stop(&f);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
	nsh_buf_release(&b);
	nsh_proxy_free(px);
}

static void test_listen_errors(struct nsh_proxy *px)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_policy pol;
	uint64_t id = 0;
	int port, fd;

	nsh_net_policy_init(&pol, NSH_NET_CUSTOM);
	nsh_strvec_push(&pol.allow, "a.*.example");
	fd = listen_lo(&port);
	CHECK_INT(nsh_proxy_listen(px, fd, &pol, NULL, NULL, &id, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid allow pattern 'a.*.example'") != NULL);
	CHECK_INT(dial(port), -1); /* the fd was taken and closed */
	nsh_net_policy_release(&pol);

	nsh_net_policy_init(&pol, NSH_NET_OPEN);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_INT(nsh_proxy_listen(px, fd, &pol, NULL, NULL, &id, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "not listening") != NULL);

	/* proxy functions refuse to run from a callback */
	struct fix f;
	char *resp;

	fix_start(&f, px, &pol);
	f.ev.px = px;
	f.ev.reentry_rc = 1;
	resp = roundtrip(f.port, "CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(resp), 403);
	free(resp);
	CHECK_INT(events_wait(&f.ev, 1), 1);
	CHECK_INT(f.ev.reentry_rc, NSH_ECONFLICT);
	f.ev.px = NULL;
	fix_stop(&f);
	nsh_net_policy_release(&pol);
	nsh_proxy_free(NULL);
}

/* Freeing a proxy that still serves a listener with a live tunnel ends it quietly. */
static void test_free_live(void)
{
	struct nsh_proxy *px = proxy();
	struct server echo;
	struct nsh_net_policy pol;
	struct fix f;
	char target[64], buf[8] = {0};
	int fd, n;

	server_start(&echo, true);
	local_policy(&pol, NSH_NET_CUSTOM, echo.port, 0);
	fix_start(&f, px, &pol);
	snprintf(target, sizeof(target), "localhost:%d", echo.port);
	fd = tunnel(f.port, target, NULL, NULL);
	CHECK(fd >= 0);
	send_all(fd, "free", 4);
	CHECK_INT(read(fd, buf, 4), 4);
	n = events_wait(&f.ev, 1);
	nsh_proxy_free(px);
	CHECK(read(fd, buf, 1) <= 0);
	CHECK_INT(events_count(&f.ev), n); /* no end event after free */
	CHECK_INT(dial(f.port), -1);
	close(fd);
	pthread_mutex_destroy(&f.ev.mu);
	nsh_net_policy_release(&pol);
	server_stop(&echo);
}

int main(void)
{
	struct nsh_proxy *px;

	signal(SIGPIPE, SIG_IGN);
	RUN(test_http_parser);
	px = proxy();
	RUN_PX(test_plain_http);
	RUN_PX(test_denied_host);
	RUN_PX(test_private_address);
	RUN_PX(test_ip_literal_refused);
	RUN_PX(test_host_mismatch);
	RUN_PX(test_big_transfer);
	RUN_PX(test_concurrent);
	RUN_PX(test_unlisten);
	RUN_PX(test_unlisten_after_close);
	RUN_PX(test_bad_requests);
	RUN_PX(test_upstream_refused);
	RUN_PX(test_listen_errors);
	nsh_proxy_free(px);
	RUN(test_limits);
	RUN(test_free_live);
	return TEST_DONE();
}
