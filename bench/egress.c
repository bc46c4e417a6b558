/*
 * bench/egress: what the egress proxy costs a sandbox. A loopback upstream
 * is reached directly (the baseline, measured in the same run) and through
 * the proxy:
 *   - latency of a whole connection: connect, request, response, close,
 *     NREQ times each way, interleaved; the proxied path includes the
 *     decision, getaddrinfo("localhost") on a resolver thread, the upstream
 *     connect and the relay;
 *   - throughput of one BULK_MB MB download, directly and through a CONNECT
 *     tunnel (splice through pipes), RUNS rounds after a warm-up round; the
 *     headline is the median of the per-round ratios. A third figure, a minimal
 *     blocking splice relay (one thread, no policy, no event loop), shows
 *     what any relay can reach here: with client, relay and server sharing
 *     the same few CPUs, the second loopback hop is the cost, not the proxy.
 * Each round downloads once per path, in an order that turns, so the
 * median of the per-round ratios is less exposed to other load on the
 * machine than the ratio of the bests. Both clients are the same code with
 * the same buffers; only the port (and the CONNECT head) differs. The CPU time of the whole process
 * per download shows what each path costs. Figures are printed with their ratios and the targets
 * (at most 0.5 ms added at p50, at least 80% of direct throughput), never asserted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "net/net.h"

#define NREQ	1000 /* connections per latency run */
#define BULK_MB 200  /* megabytes per throughput run */
#define RUNS	7    /* throughput rounds (one download per path each) */
#define CHUNK	(1 << 20)

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/egress: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static int listen_lo(int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 512) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("listen", NULL);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static int dial(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_port = htons((uint16_t)port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect", NULL);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0)
			die("send", NULL);
		c += w;
		n -= (size_t)w;
	}
}

/* Read up to the end of a head ("\r\n\r\n"), byte by byte so nothing past it is consumed. */
static void read_head(int fd)
{
	uint32_t last = 0;
	char c;

	while (last != 0x0d0a0d0a) {
		if (read(fd, &c, 1) != 1)
			die("read head", NULL);
		last = last << 8 | (uint8_t)c;
	}
}

/* Read to end of stream; returns the byte count. */
static uint64_t drain(int fd, char *buf)
{
	uint64_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, CHUNK)) > 0)
		total += (uint64_t)n;
	if (n < 0)
		die("read", NULL);
	return total;
}

/* Upstream for latency: answer each request with a two-byte body and close. */
static void *small_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		static const char resp[] =
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;

		if (fd < 0)
			return NULL;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		read_head(fd);
		send_all(fd, resp, sizeof(resp) - 1);
		close(fd);
	}
}

/* Upstream for throughput: after a request head, send BULK_MB MB and close. */
static void *bulk_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	char *buf = nsh_xcalloc(1, CHUNK);

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			break;
		read_head(fd);
		for (int i = 0; i < BULK_MB; i++)
			send_all(fd, buf, CHUNK);
		close(fd);
	}
	free(buf);
	return NULL;
}

/* Reference relay: per connection, dial the bulk server and splice its bytes back, blocking. */
static void *reference_relay(void *arg)
{
	int lfd = ((int *)arg)[0], up_port = ((int *)arg)[1];

	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), u, p[2];
		ssize_t n, m;

		if (c < 0)
			return NULL;
		u = dial(up_port);
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe", NULL);
		fcntl(p[1], F_SETPIPE_SZ, CHUNK);
		/* pass the request on (one small write), then relay the answer */
		{
			char req[256];

			n = read(c, req, sizeof(req));
			if (n > 0)
				send_all(u, req, (size_t)n);
		}
		while ((n = splice(u, NULL, p[1], NULL, CHUNK, SPLICE_F_MOVE)) > 0) {
			while (n > 0 &&
			       (m = splice(p[0], NULL, c, NULL, (size_t)n, SPLICE_F_MOVE)) > 0)
				n -= m;
			if (n > 0)
				break;
		}
		close(p[0]);
		close(p[1]);
		close(u);
		close(c);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, double p)
{
	return (double)v[(size_t)(p * (NREQ - 1) + 0.5)] / 1e6;
}

/* One connection: connect, request, read the response to the end. */
static int64_t one_request(int port, const char *req, char *buf)
{
	int64_t t0 = nsh_time_mono_ns();
	int fd = dial(port);

	send_all(fd, req, strlen(req));
	if (drain(fd, buf) == 0)
		die("empty response", NULL);
	close(fd);
	return nsh_time_mono_ns() - t0;
}

/* CPU time of the whole process (every thread: client, servers, relays), in ns. */
static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/*
 * MB/s of one download from the bulk server, directly or through a tunnel;
 * @ret_cpu gets the process's CPU time spent meanwhile, in ms.
 */
static double download(int port, const char *target, char *buf, double *ret_cpu)
{
	static const char req[] = "GET /bulk HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int64_t c0 = cpu_ns(), t0 = nsh_time_mono_ns();
	int fd = dial(port);
	uint64_t got;

	if (target) {
		char connect_req[128];

		snprintf(connect_req, sizeof(connect_req),
			 "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
		send_all(fd, connect_req, strlen(connect_req));
		read_head(fd);
	}
	send_all(fd, req, sizeof(req) - 1);
	got = drain(fd, buf);
	close(fd);
	if (got != (uint64_t)BULK_MB * CHUNK)
		die("short download", NULL);
	*ret_cpu = (double)(cpu_ns() - c0) / 1e6;
	return (double)got / (1 << 20) / ((double)(nsh_time_mono_ns() - t0) / 1e9);
}

int main(void)
{
	static int64_t direct[NREQ], proxied[NREQ];
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_policy pol;
	struct nsh_proxy *px = NULL;
	int small_port, bulk_port, px_port, small_fd, bulk_fd, px_fd, ref[2], ref_port;
	char *buf = nsh_xmalloc(CHUNK), hp[64], req_direct[128], req_proxied[160], target[64];
	double best_direct = 0, best_proxied = 0, best_ref = 0, added;
	double cpu_direct = 0, cpu_proxied = 0, cpu_ref = 0, pair[RUNS], load[3];
	pthread_t t1, t2, t3;
	uint64_t id;

	signal(SIGPIPE, SIG_IGN);
	small_fd = listen_lo(&small_port);
	bulk_fd = listen_lo(&bulk_port);
	pthread_create(&t1, NULL, small_server, (void *)(intptr_t)small_fd);
	pthread_create(&t2, NULL, bulk_server, (void *)(intptr_t)bulk_fd);
	ref[0] = listen_lo(&ref_port);
	ref[1] = bulk_port;
	pthread_create(&t3, NULL, reference_relay, ref);

	nsh_net_policy_init(&pol, NSH_NET_CUSTOM);
	if (nsh_net_policy_add_allow(&pol, "localhost", &err))
		die("policy", &err);
	snprintf(hp, sizeof(hp), "localhost:%d", small_port);
	nsh_net_policy_add_allow_private(&pol, hp, &err);
	snprintf(hp, sizeof(hp), "localhost:%d", bulk_port);
	nsh_net_policy_add_allow_private(&pol, hp, &err);
	if (nsh_proxy_new(&px, &err))
		die("proxy", &err);
	px_fd = listen_lo(&px_port);
	if (nsh_proxy_listen(px, px_fd, &pol, NULL, NULL, &id, &err))
		die("listen", &err);

	snprintf(req_direct, sizeof(req_direct), "GET / HTTP/1.1\r\nHost: localhost:%d\r\n\r\n",
		 small_port);
	snprintf(req_proxied, sizeof(req_proxied),
		 "GET http://localhost:%d/ HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", small_port,
		 small_port);
	for (int i = 0; i < 50; i++) { /* warm up both paths */
		one_request(small_port, req_direct, buf);
		one_request(px_port, req_proxied, buf);
	}
	for (int i = 0; i < NREQ; i++) {
		direct[i] = one_request(small_port, req_direct, buf);
		proxied[i] = one_request(px_port, req_proxied, buf);
	}
	qsort(direct, NREQ, sizeof(direct[0]), cmp_i64);
	qsort(proxied, NREQ, sizeof(proxied[0]), cmp_i64);
	added = pct_ms(proxied, 0.50) - pct_ms(direct, 0.50);
	printf("latency     connect+request+response+close (n=%d each, interleaved):\n", NREQ);
	printf("            direct   p50 %.3f ms, p99 %.3f ms\n", pct_ms(direct, 0.50),
	       pct_ms(direct, 0.99));
	printf("            proxied  p50 %.3f ms, p99 %.3f ms (plain HTTP, resolve + decide + "
	       "connect + relay)\n",
	       pct_ms(proxied, 0.50), pct_ms(proxied, 0.99));
	printf("            added    p50 %.3f ms, p99 %.3f ms; ratio p50 %.2fx; target <= 0.5 ms "
	       "added at p50: %s\n",
	       added, pct_ms(proxied, 0.99) - pct_ms(direct, 0.99),
	       pct_ms(proxied, 0.50) / pct_ms(direct, 0.50), added <= 0.5 ? "met" : "NOT MET");

	snprintf(target, sizeof(target), "localhost:%d", bulk_port);
	{ /* warm up every path once (page cache of the buffers, the proxy's first connection) */
		double ignored;

		download(bulk_port, NULL, buf, &ignored);
		download(px_port, target, buf, &ignored);
		download(ref_port, NULL, buf, &ignored);
	}
	for (int r = 0; r < RUNS; r++) {
		double cd = 0, cp = 0, cr = 0, d = 0, p = 0, rr = 0;

		/* the order turns each round, so no path always follows the same one */
		for (int k = 0; k < 3; k++) {
			switch ((k + r) % 3) {
			case 0:
				d = download(bulk_port, NULL, buf, &cd);
				break;
			case 1:
				p = download(px_port, target, buf, &cp);
				break;
			default:
				rr = download(ref_port, NULL, buf, &cr);
				break;
			}
		}

		if (d > best_direct)
			best_direct = d;
		if (p > best_proxied)
			best_proxied = p;
		if (rr > best_ref)
			best_ref = rr;
		pair[r] = p / d;
		if (!r || cd < cpu_direct)
			cpu_direct = cd;
		if (!r || cp < cpu_proxied)
			cpu_proxied = cp;
		if (!r || cr < cpu_ref)
			cpu_ref = cr;
	}
	qsort(pair, RUNS, sizeof(pair[0]), cmp_double);
	printf("throughput  one %d MB download, %d rounds after a warm-up, each path once a "
	       "round:\n",
	       BULK_MB, RUNS);
	printf("            direct   best %.0f MB/s\n", best_direct);
	printf("            proxied  best %.0f MB/s (CONNECT tunnel, splice), %.0f%% of the best "
	       "direct\n",
	       best_proxied, 100 * best_proxied / best_direct);
	printf("            ratio    proxied/direct of the same round, median of %d: %.0f%% "
	       "(range %.0f-%.0f%%); target >= 80%%: %s\n",
	       RUNS, 100 * pair[RUNS / 2], 100 * pair[0], 100 * pair[RUNS - 1],
	       pair[RUNS / 2] >= 0.8 ? "met" : "NOT MET");
	printf("            floor    %.0f MB/s for a minimal blocking splice relay (%.0f%% of "
	       "direct); the proxy reaches %.0f%% of it\n",
	       best_ref, 100 * best_ref / best_direct, 100 * best_proxied / best_ref);
	printf("            cpu      all threads per %d MB, least of %d: direct %.0f ms, proxied "
	       "%.0f ms (%.2fx), blocking relay %.0f ms (%.2fx); %d CPUs\n",
	       BULK_MB, RUNS, cpu_direct, cpu_proxied, cpu_proxied / cpu_direct, cpu_ref,
	       cpu_ref / cpu_direct, (int)sysconf(_SC_NPROCESSORS_ONLN));
	if (getloadavg(load, 3) == 3)
		printf("            load     average %.2f %.2f %.2f (1, 5, 15 min) at the end\n",
		       load[0], load[1], load[2]);

	if (nsh_proxy_unlisten(px, id, &err))
		die("unlisten", &err);
	nsh_proxy_free(px);
	nsh_net_policy_release(&pol);
	shutdown(small_fd, SHUT_RDWR);
	shutdown(bulk_fd, SHUT_RDWR);
	shutdown(ref[0], SHUT_RDWR);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_join(t3, NULL);
	close(ref[0]);
	close(small_fd);
	close(bulk_fd);
	free(buf);
	return 0;
}
