/*
 * bench/webhook: GitHub webhook intake on a server started in this
 * process, as GitHub would send it (signed issue_comment deliveries of
 * about 7 KB, each with its own delivery id), from 4 keep-alive
 * connections: deliveries per second and the time to the 202 (p50, p99).
 * The baseline, measured in the same run with the same clients, is
 * GET /api/health: the HTTP layer alone. Every delivery is checked for its
 * signature, parsed and recorded before its 202; the queue thread decides
 * and marks each (these comments come from a user who may not trigger, so
 * they are ignored with a reason), and the time until it has handled them
 * all is reported too.
 *
 * Target on a 2-core machine: at least 2,000 deliveries per second.
 * Figures are printed, never asserted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "github/github.h"
#include "server/server.h"
#include "store/store.h"

#define CLIENTS	    4
#define PER_CLIENT  2500 /* requests per client and run */
#define SECRET	    "bench-secret-0123456789"
#define DRAIN_LIMIT 60000 /* ms to wait for the queue thread */

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/webhook: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? (double)v[i] / 1e6 : 0;
}

/* An issue_comment as GitHub shapes it, with a body long enough to be typical. */
static char *payload(void)
{
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_buf_adds(&b,
		     "{\"action\":\"created\",\"issue\":{\"url\":\"https://api.github.com/repos/"
		     "acme/api/issues/7\",\"html_url\":\"https://github.com/acme/api/issues/7\","
		     "\"id\":444500041,\"number\":7,\"title\":\"The API is slow\",\"user\":"
		     "{\"login\":\"ann\",\"id\":21031067,\"type\":\"User\"},\"labels\":[{\"id\":"
		     "1362934389,\"name\":\"bug\",\"color\":\"d73a4a\",\"default\":true}],"
		     "\"state\":\"open\",\"locked\":false,\"comments\":3,\"created_at\":"
		     "\"2026-05-15T15:20:33Z\",\"author_association\":\"OWNER\",\"body\":\"");
	for (int i = 0; i < 100; i++)
		nsh_buf_adds(&b, "Requests to /v2/orders take seconds under load; see the trace. ");
	nsh_buf_adds(&b,
		     "\"},\"comment\":{\"url\":\"https://api.github.com/repos/acme/api/issues/"
		     "comments/492700400\",\"html_url\":\"https://github.com/acme/api/issues/"
		     "7#issuecomment-492700400\",\"id\":492700400,\"user\":{\"login\":"
		     "\"passerby\",\"id\":1,\"type\":\"User\"},\"created_at\":"
		     "\"2026-05-15T15:20:21Z\",\"author_association\":\"NONE\",\"body\":"
		     "\"/nightshift make it faster\"},\"repository\":{\"id\":186853002,\"name\":"
		     "\"api\",\"full_name\":\"acme/api\",\"private\":false,\"owner\":{\"login\":"
		     "\"acme\",\"id\":21031067,\"type\":\"Organization\"},\"default_branch\":"
		     "\"main\",\"clone_url\":\"https://github.com/acme/api.git\"},\"sender\":"
		     "{\"login\":\"passerby\",\"id\":1,\"type\":\"User\"}}");
	return nsh_buf_detach(&b, NULL);
}

struct client {
	pthread_t thread;
	uint16_t port;
	int id;		       /* for delivery ids */
	int run;	       /* which run, for delivery ids */
	bool webhook;	       /* POST deliveries, else GET /api/health */
	const char *body;      /* the payload */
	const char *signature; /* its X-Hub-Signature-256 */
	int64_t lat[PER_CLIENT];
	int done;
	int wrong; /* answers other than the expected status */
};

/* Read one response from @fd into @in; its status, or -1. */
static int read_response(int fd, struct nsh_buf *in)
{
	char chunk[16384];
	char *end;
	size_t want = 0;
	long cl = 0;

	nsh_buf_reset(in);
	for (;;) {
		ssize_t n;

		end = in->len ? strstr(in->buf, "\r\n\r\n") : NULL;
		if (end && !want) {
			const char *h = strcasestr(in->buf, "\r\nContent-Length:");

			cl = h ? strtol(h + 17, NULL, 10) : 0;
			want = (size_t)(end + 4 - in->buf) + (size_t)cl;
		}
		if (want && in->len >= want)
			break;
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			return -1;
		nsh_buf_add(in, chunk, (size_t)n);
	}
	return (int)strtol(in->buf + 9, NULL, 10);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
	struct timeval tv = {.tv_sec = 10};
	struct nsh_buf in = NSH_BUF_INIT, req = NSH_BUF_INIT;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int expect = c->webhook ? 202 : 200;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		goto out;
	for (c->done = 0; c->done < PER_CLIENT; c->done++) {
		int64_t t0;
		int st;

		nsh_buf_reset(&req);
		if (c->webhook) {
			nsh_buf_addf(&req,
				     "POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				     "User-Agent: GitHub-Hookshot/bench\r\nContent-Type: "
				     "application/json\r\nX-GitHub-Event: issue_comment\r\n"
				     "X-GitHub-Delivery: %d-%d-%08d-bench\r\nX-Hub-Signature-256: "
				     "%s\r\nContent-Length: %zu\r\n\r\n",
				     c->run, c->id, c->done, c->signature, strlen(c->body));
			nsh_buf_adds(&req, c->body);
		} else {
			nsh_buf_adds(&req, "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
		}
		t0 = nsh_time_mono_ns();
		if (write(fd, req.buf, req.len) != (ssize_t)req.len)
			break;
		st = read_response(fd, &in);
		if (st < 0)
			break;
		c->lat[c->done] = nsh_time_mono_ns() - t0;
		c->wrong += st != expect;
	}
out:
	close(fd);
	nsh_buf_release(&in);
	nsh_buf_release(&req);
	return NULL;
}

struct result {
	double rps;
	double p50, p99;
	int requests;
	int wrong;
};

static void run(uint16_t port, bool webhook, int run_no, const char *body, const char *sig,
		struct result *ret)
{
	struct client *cs = nsh_xcalloc(CLIENTS, sizeof(*cs));
	int64_t *all = nsh_xcalloc((size_t)CLIENTS * PER_CLIENT, sizeof(*all));
	int64_t t0 = nsh_time_mono_ns(), t1;
	size_t n = 0;

	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < CLIENTS; i++) {
		cs[i].port = port;
		cs[i].id = i;
		cs[i].run = run_no;
		cs[i].webhook = webhook;
		cs[i].body = body;
		cs[i].signature = sig;
		pthread_create(&cs[i].thread, NULL, client_main, &cs[i]);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(cs[i].thread, NULL);
		memcpy(all + n, cs[i].lat, (size_t)cs[i].done * sizeof(int64_t));
		n += (size_t)cs[i].done;
		ret->wrong += cs[i].wrong + (PER_CLIENT - cs[i].done);
	}
	t1 = nsh_time_mono_ns();
	qsort(all, n, sizeof(all[0]), cmp_i64);
	ret->requests = (int)n;
	ret->rps = (double)n / ((double)(t1 - t0) / 1e9);
	ret->p50 = pct_ms(all, n, 0.50);
	ret->p99 = pct_ms(all, n, 0.99);
	free(all);
	free(cs);
}

/* Wait until the queue thread has handled every delivery; the ms it took from @since_ns. */
static double drain(struct nsh_store *s, int64_t since_ns, size_t *ret_left)
{
	int64_t until = nsh_time_mono_ms() + DRAIN_LIMIT;

	for (;;) {
		struct nsh_webhook_list l = {0};
		struct nsh_err err = NSH_ERR_INIT;
		size_t left;

		if (nsh_store_webhook_pending(s, 1, &l, &err))
			die("pending", &err);
		left = l.nr;
		nsh_webhook_list_release(&l);
		if (!left || nsh_time_mono_ms() > until) {
			*ret_left = left;
			return (double)(nsh_time_mono_ns() - since_ns) / 1e6;
		}
		nsh_time_sleep_ms(5);
	}
}

int main(void)
{
	static const char cfg_text[] = "[github]\nwebhook_secret = " SECRET "\ndebounce = 0\n";
	struct nsh_err err = NSH_ERR_INIT;
	char home[] = "/tmp/nsh-bench-webhook-XXXXXX";
	struct nsh_server_config cfg = {0};
	struct nsh_server *srv = NULL;
	struct nsh_store *s = NULL;
	struct nsh_config *conf = NULL;
	struct result base, hook;
	char sig[NSH_GITHUB_SIGNATURE_LEN + 1];
	char *db, *body = payload();
	int64_t t_start;
	size_t left = 0;
	double drain_ms;

	if (!mkdtemp(home))
		die("mkdtemp", NULL);
	db = nsh_xasprintf("%s/nightshift.db", home);
	if (nsh_store_open(db, &s, &err))
		die("open", &err);
	if (nsh_config_parse(cfg_text, sizeof(cfg_text) - 1, "bench", &conf, &err))
		die("config", &err);
	nsh_github_signature(SECRET, body, strlen(body), sig);
	cfg.home = home;
	cfg.db_path = db;
	cfg.listen = "127.0.0.1:0";
	cfg.rate = -1;
	cfg.config = conf;
	if (nsh_server_start(&cfg, &srv, &err))
		die("server", &err);

	printf("bench/webhook: %d clients x %d requests each, payload %zu bytes, server on %s\n",
	       CLIENTS, PER_CLIENT, strlen(body), nsh_server_url(srv));
	run(nsh_server_port(srv), false, 0, body, sig, &base);
	t_start = nsh_time_mono_ns();
	run(nsh_server_port(srv), true, 1, body, sig, &hook);

	printf("                                     req/s      p50        p99     wrong\n");
	printf("  GET /api/health (baseline)     %9.0f  %7.3f ms  %7.3f ms  %d\n", base.rps,
	       base.p50, base.p99, base.wrong);
	printf("  POST /webhooks/github (202)    %9.0f  %7.3f ms  %7.3f ms  %d\n", hook.rps,
	       hook.p50, hook.p99, hook.wrong);
	printf("  ratio deliveries/health: %.2f; p99 ratio: %.2f\n",
	       base.rps > 0 ? hook.rps / base.rps : 0, base.p99 > 0 ? hook.p99 / base.p99 : 0);
	printf("  target >= 2000 deliveries/s with every answer 202: %s\n",
	       hook.rps >= 2000 && !hook.wrong ? "met" : "NOT met");
	fflush(stdout);
	drain_ms = drain(s, t_start, &left);
	printf("  queue: %d deliveries decided and marked %.0f ms after the first was sent "
	       "(%.0f/s)%s\n",
	       hook.requests, drain_ms, drain_ms > 0 ? hook.requests / (drain_ms / 1000) : 0,
	       left ? "; NOT all handled in time" : "");

	nsh_server_stop(srv);
	nsh_store_close(s);
	nsh_config_free(conf);
	nsh_fs_remove_tree(home, NULL);
	free(body);
	free(db);
	return 0;
}
