/*
 * bench/api: the HTTP API under load, on a server started in this process.
 *
 *   1. wrk (Debian) against GET /api/tasks with 1,000 stored tasks (the
 *      default page of 50): requests per second, p99 latency and errors,
 *      next to GET /api/health in the same run as the baseline (the HTTP
 *      layer alone).
 *   2. Event latency from the store append to 100 Server-Sent Events
 *      subscribers (p50, p99): appends made through another store handle
 *      (the path of the scheduler and the CLI: the hub notices commits by
 *      polling), and appends made through the API (steer requests, which
 *      wake the hub at once). The baseline is one subscriber.
 *
 * Targets on a 2-core machine: 5,000 requests/s with no errors; event p99
 * at most 50 ms. Figures are printed, never asserted.
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

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "core/time.h"
#include "server/server.h"
#include "store/store.h"
#include "task/task.h"

#define TASKS	    1000 /* stored tasks */
#define WRK_SECONDS "8s"
#define SUBSCRIBERS 100
#define EVENTS	    100 /* events timed per latency run */
#define EVENT_GAP   20	/* ms between appends */

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/api: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? (double)v[i] / 1e6 : 0;
}

/* ---- wrk ---- */

struct wrk_result {
	double rps;    /* requests per second */
	double p99_ms; /* 99th percentile latency */
	long errors;   /* socket errors and non-2xx answers */
	long requests; /* requests completed */
};

/* "99%  12.10ms" -> milliseconds. */
static double wrk_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (!strncmp(end, "us", 2))
		return v / 1000;
	if (!strncmp(end, "ms", 2))
		return v;
	if (*end == 's')
		return v * 1000;
	return v;
}

static int run_wrk(const char *url, const char *auth, struct wrk_result *ret)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;
	const char *line;
	int rc;

	memset(ret, 0, sizeof(*ret));
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "wrk", "-t2", "-c32", "-d" WRK_SECONDS, "--latency", "-H", auth,
			 url, NULL);
	p.timeout_ms = 60000;
	rc = nsh_proc_run_checked(&p, NULL, &err);
	if (rc) {
		fprintf(stderr, "bench/api: %s\n", err.msg);
		nsh_proc_release(&p);
		return rc;
	}
	for (line = p.out.buf; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *s = line;

		while (*s == ' ')
			s++;
		if (!strncmp(s, "Requests/sec:", 13))
			ret->rps = strtod(s + 13, NULL);
		else if (!strncmp(s, "99%", 3))
			ret->p99_ms = wrk_ms(s + 3 + strspn(s + 3, " "));
		else if (!strncmp(s, "Non-2xx or 3xx responses:", 25))
			ret->errors += strtol(s + 25, NULL, 10);
		else if (!strncmp(s, "Socket errors:", 14)) {
			long a = 0, b = 0, c = 0, d = 0;

			sscanf(s, "Socket errors: connect %ld, read %ld, write %ld, timeout %ld",
			       &a, &b, &c, &d);
			ret->errors += a + b + c + d;
		} else if (strstr(s, "requests in "))
			ret->requests = strtol(s, NULL, 10);
	}
	nsh_proc_release(&p);
	return 0;
}

/* ---- subscribers ---- */

struct sub {
	pthread_t thread;
	uint16_t port;
	const char *token;
	const char *path;    /* the stream */
	int want;	     /* timed events to read */
	int got;	     /* timed events read */
	int64_t lat[EVENTS]; /* their latencies, ns */
	volatile int ready;  /* the stream's opening lines arrived */
};

/* The "t=NNN" stamp (monotonic ns) an event carries in its data, or 0. */
static int64_t stamp_of(const char *line)
{
	const char *t = strstr(line, "t=");

	return t ? strtoll(t + 2, NULL, 10) : 0;
}

static void *sub_main(void *arg)
{
	struct sub *s = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
	struct timeval tv = {.tv_sec = 5};
	struct nsh_buf in = NSH_BUF_INIT;
	char req[512], chunk[8192];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		goto out;
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
		 "Accept: text/event-stream\r\n\r\n",
		 s->path, s->token);
	if (write(fd, req, strlen(req)) < 0)
		goto out;
	while (s->got < s->want) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		int64_t now = nsh_time_mono_ns();
		char *line, *nl;

		if (n <= 0)
			break;
		nsh_buf_add(&in, chunk, (size_t)n);
		if (strstr(in.buf, "retry: "))
			s->ready = 1;
		/* Whole lines only; keep a partial one for the next read. */
		line = in.buf;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (!strncmp(line, "data: ", 6)) {
				int64_t t = stamp_of(line);

				if (t && s->got < EVENTS)
					s->lat[s->got++] = now - t;
			}
			line = nl + 1;
		}
		{
			size_t keep = in.len - (size_t)(line - in.buf);

			memmove(in.buf, line, keep);
			nsh_buf_truncate(&in, keep);
		}
	}
out:
	s->ready = 1;
	close(fd);
	nsh_buf_release(&in);
	return NULL;
}

/* POST a steer request with @text through the API (a raw socket, one request). */
static void api_steer(uint16_t port, const char *token, const char *task, const char *text)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	char body[128], req[1024], resp[2048];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
	snprintf(req, sizeof(req),
		 "POST /api/tasks/%s/steer HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
		 "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: "
		 "close\r\n\r\n%s",
		 task, token, strlen(body), body);
	if (!connect(fd, (struct sockaddr *)&a, sizeof(a)) && write(fd, req, strlen(req)) > 0)
		while (read(fd, resp, sizeof(resp)) > 0)
			;
	close(fd);
}

/*
 * Open @nsubs streams, append EVENTS timed events (through @store, or
 * through the API when @store is NULL), and report the latencies.
 */
static void latency_run(const char *label, uint16_t port, const char *token, const char *task,
			struct nsh_store *store, int nsubs)
{
	struct sub *subs = nsh_xcalloc((size_t)nsubs, sizeof(*subs));
	int64_t *all = nsh_xcalloc((size_t)nsubs * EVENTS, sizeof(*all));
	size_t n = 0;
	int lost = 0;

	for (int i = 0; i < nsubs; i++) {
		subs[i].port = port;
		subs[i].token = token;
		subs[i].path = "/api/events/stream";
		subs[i].want = EVENTS;
		pthread_create(&subs[i].thread, NULL, sub_main, &subs[i]);
	}
	for (int i = 0; i < nsubs; i++)
		while (!subs[i].ready)
			nsh_time_sleep_ms(1);
	nsh_time_sleep_ms(100);
	for (int e = 0; e < EVENTS; e++) {
		char text[64];

		snprintf(text, sizeof(text), "t=%lld", (long long)nsh_time_mono_ns());
		if (store) {
			json_t *d = json_pack("{s:s}", "text", text);

			if (nsh_event_append(store, task, NULL, "bench.tick", d, NULL, NULL))
				die("append", NULL);
			json_decref(d);
		} else {
			api_steer(port, token, task, text);
		}
		nsh_time_sleep_ms(EVENT_GAP);
	}
	for (int i = 0; i < nsubs; i++) {
		pthread_join(subs[i].thread, NULL);
		lost += EVENTS - subs[i].got;
		memcpy(all + n, subs[i].lat, (size_t)subs[i].got * sizeof(int64_t));
		n += (size_t)subs[i].got;
	}
	qsort(all, n, sizeof(all[0]), cmp_i64);
	printf("  %-44s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%zu deliveries, %d lost)\n",
	       label, pct(all, n, 0.50), pct(all, n, 0.99), n ? (double)all[n - 1] / 1e6 : 0, n,
	       lost);
	free(all);
	free(subs);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char home[] = "/tmp/nsh-bench-api-XXXXXX";
	struct nsh_server_config cfg = {0};
	struct nsh_server *srv = NULL;
	struct nsh_store *s = NULL;
	struct wrk_result base, tasks;
	char *db, *url_tasks, *url_health, *auth, *token = NULL;
	char task[32];
	bool have_wrk;

	if (!mkdtemp(home))
		die("mkdtemp", NULL);
	db = nsh_xasprintf("%s/nightshift.db", home);
	if (nsh_store_open(db, &s, &err))
		die("open", &err);
	for (int i = 0; i < TASKS; i++) {
		char title[96];
		struct nsh_task_new n = {.title = title, .org = "acme"};

		snprintf(title, sizeof(title), "Upgrade lodash 3 to 4 across the org, batch %d", i);
		if (nsh_task_create(s, &n, task, &err))
			die("create", &err);
	}
	cfg.home = home;
	cfg.db_path = db;
	cfg.listen = "127.0.0.1:0";
	cfg.rate = -1;
	if (nsh_server_start(&cfg, &srv, &err) || nsh_server_token(home, &token, &err))
		die("server", &err);
	url_tasks = nsh_xasprintf("%s/api/tasks", nsh_server_url(srv));
	url_health = nsh_xasprintf("%s/api/health", nsh_server_url(srv));
	auth = nsh_xasprintf("Authorization: Bearer %s", token);

	printf("bench/api: %d stored tasks, server on %s\n", TASKS, nsh_server_url(srv));
	have_wrk = access("/usr/bin/wrk", X_OK) == 0 || access("/usr/local/bin/wrk", X_OK) == 0;
	if (have_wrk && !run_wrk(url_health, auth, &base) && !run_wrk(url_tasks, auth, &tasks)) {
		printf("  wrk -t2 -c32 -d%s                   req/s      p99       errors\n",
		       WRK_SECONDS);
		printf("  GET /api/health (baseline)          %9.0f  %7.2f ms  %ld\n", base.rps,
		       base.p99_ms, base.errors);
		printf("  GET /api/tasks (page of 50)         %9.0f  %7.2f ms  %ld\n", tasks.rps,
		       tasks.p99_ms, tasks.errors);
		printf("  ratio tasks/health: %.2f; target >= 5000 req/s with 0 errors: %s\n",
		       base.rps > 0 ? tasks.rps / base.rps : 0,
		       tasks.rps >= 5000 && !tasks.errors ? "met" : "NOT met");
	} else {
		printf("  wrk is not installed (apt-get install wrk): request rates skipped\n");
	}

	printf("event latency, store append -> SSE subscriber (%d events, %d ms apart):\n", EVENTS,
	       EVENT_GAP);
	latency_run("1 subscriber, append via another handle", nsh_server_port(srv), token, task, s,
		    1);
	latency_run("100 subscribers, append via another handle", nsh_server_port(srv), token, task,
		    s, SUBSCRIBERS);
	latency_run("100 subscribers, append via the API (steer)", nsh_server_port(srv), token,
		    task, NULL, SUBSCRIBERS);

	nsh_server_stop(srv);
	nsh_store_close(s);
	nsh_fs_remove_tree(home, NULL);
	free(token);
	free(auth);
	free(url_health);
	free(url_tasks);
	free(db);
	return 0;
}
