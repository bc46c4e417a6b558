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
 * the same buffers; only the port (and the CONNECT head) differs.
 *
 * Per download the CPU time of the whole process and the client thread's
 * voluntary context switches ("sleeps": how often it found no data and
 * waited) are taken. On a 2-CPU VM each path has two modes: when the
 * client shares a CPU with the thread that feeds it, it sleeps about once
 * per burst; when it runs alone on the other CPU it catches up with its
 * feeder every 100-200 KB and is woken from across CPUs each time, which
 * costs about twice the CPU per byte (docs/network.md, Figures). A round
 * whose CPU time is over SLOW_CPU times the least of its path in the run
 * counts as slow; the summary gives the share of slow rounds per path.
 * --rounds (or NSH_BENCH_ROUNDS=1) prints every round.
 *
 * The throughput figures (and the sandbox line below) come twice, for two
 * placements of the threads; latency is measured once, placement free.
 * First the upstream alone on a CPU of its own, standing for the remote
 * server a sandbox downloads from, whose sending costs this machine
 * nothing; the client and the proxy share the other CPUs, so that every
 * cycle the proxy spends is taken from the client. The target is judged
 * there. Then everything left to the scheduler, for comparison: with three
 * busy threads on 2 CPUs, a round's figure depends on which two share a
 * CPU (docs/network.md, Figures), and the median of a run came out anywhere
 * between 50% and 140% of direct. With one CPU only the second is all.
 *
 * Each placement ends with the setting: the same client as a
 * process of its own, inside a real sandbox (network level custom, its
 * loopback listener served by this proxy) against the same process on the
 * host reached directly, RUNS rounds; skipped, saying why, where no sandbox
 * can be made. Both client processes are put on the placement's CPUs by
 * --client itself. The host process runs at the sandbox's nice value
 * (NSH_SANDBOX_NICE), so that only the path differs: at nice 0 against the
 * sandbox's 10 it won more of the CPU shared with the upstream and the
 * proxy, and the ratio's median came out at 70-117% over six runs, against
 * 89-134% over nine at equal nice (2026-11-27). Figures are printed with
 * their ratios and the targets (at most 0.5 ms added at p50, at least 80% of
 * direct throughput), never asserted.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "core/time.h"
#include "net/net.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h" /* NSH_SANDBOX_NICE_STR */

#define NREQ	1000 /* connections per latency run */
#define BULK_MB 200  /* megabytes per throughput run */
#define RUNS	21   /* throughput rounds (one download per path each) */
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

static int bulk_tid; /* the bulk server's thread, for place() */

/* Upstream for throughput: after a request head, send BULK_MB MB and close. */
static void *bulk_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	char *buf = nsh_xcalloc(1, CHUNK);

	__atomic_store_n(&bulk_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
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

/* Voluntary context switches of the calling thread: how often it slept waiting for data. */
static long thread_sleeps(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * Where the threads run. A real upstream is another machine, whose sending
 * costs this one nothing; the loopback upstream here shares the CPUs with
 * the client and the proxy, and on 2 CPUs where the scheduler puts those
 * three busy threads decides the figure (docs/network.md, Figures).
 * PLACE_REMOTE gives the upstream a CPU of its own (the last one allowed)
 * and keeps every other thread of this process, and the client processes,
 * on the rest: what the proxy costs is then taken from the client's CPU.
 * PLACE_FREE leaves everything to the scheduler.
 */
enum place { PLACE_REMOTE, PLACE_FREE };

static cpu_set_t all_cpus, local_cpus, upstream_cpus;

/* False with one CPU only: no upstream can have one of its own. */
static bool placement_init(void)
{
	int last = -1;

	if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus) < 0 || CPU_COUNT(&all_cpus) < 2)
		return false;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all_cpus))
			last = i;
	local_cpus = all_cpus;
	CPU_CLR(last, &local_cpus);
	CPU_ZERO(&upstream_cpus);
	CPU_SET(last, &upstream_cpus);
	return true;
}

/* Move every thread of this process; threads started later inherit their creator's set. */
static void place(enum place where)
{
	int up = __atomic_load_n(&bulk_tid, __ATOMIC_ACQUIRE);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d)
		die("open /proc/self/task", NULL);
	while ((e = readdir(d))) {
		int tid = (int)strtol(e->d_name, NULL, 10);
		const cpu_set_t *set = where == PLACE_FREE ? &all_cpus
				       : tid == up	   ? &upstream_cpus
							   : &local_cpus;

		if (tid > 0 && sched_setaffinity(tid, sizeof(*set), set) < 0 && errno != ESRCH)
			die("sched_setaffinity", NULL);
	}
	closedir(d);
}

/* Room for any set as a list: up to 4 digits and a comma per CPU. */
#define CPU_LIST_MAX (CPU_SETSIZE * 5 + 1)

/* @set as a list for --client, such as "0,1"; @out holds CPU_LIST_MAX bytes. */
static void cpu_list(const cpu_set_t *set, char *out)
{
	size_t off = 0, len = CPU_LIST_MAX;

	out[0] = '\0';
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, set))
			off += (size_t)snprintf(out + off, len - off, "%s%d", off ? "," : "", i);
}

/* Parse cpu_list()'s form; false on anything else. */
static bool parse_cpu_list(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s) {
		char *end;
		long cpu = strtol(s, &end, 10);

		if (end == s || cpu < 0 || cpu >= CPU_SETSIZE || (*end && *end != ','))
			return false;
		CPU_SET((int)cpu, set);
		s = *end ? end + 1 : end;
	}
	return CPU_COUNT(set) > 0;
}

/* One download: its rate, the process's CPU time meanwhile, the client thread's sleeps. */
struct dl {
	double mbs;  /* MB/s */
	double cpu;  /* ms of CPU time, every thread of the process */
	long sleeps; /* voluntary context switches of the client thread */
};

/* One download from the bulk server, directly (@target NULL) or through a CONNECT tunnel. */
static struct dl download(int port, const char *target, char *buf)
{
	static const char req[] = "GET /bulk HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int64_t c0 = cpu_ns(), t0 = nsh_time_mono_ns();
	long s0 = thread_sleeps();
	int fd = dial(port);
	struct dl r;
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
	r.mbs = (double)got / (1 << 20) / ((double)(nsh_time_mono_ns() - t0) / 1e9);
	r.cpu = (double)(cpu_ns() - c0) / 1e6;
	r.sleeps = thread_sleeps() - s0;
	return r;
}

enum path { P_DIRECT, P_PROXIED, P_REF, P_COUNT };

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Per path over the rounds: median rate, least and median CPU, rounds in the slow mode. */
struct path_sum {
	double mbs, best, cpu_least, cpu_med, sleeps;
	int slow;
	double slow_mbs, fast_mbs; /* median rate of the slow and of the other rounds (0: none) */
};

/*
 * A round is in the slow mode when its CPU time is over SLOW_CPU times the
 * least of the same path in this run: the relay (and the direct path too)
 * has two modes on a 2-CPU VM, one costing about twice the CPU of the other.
 */
#define SLOW_CPU 1.5

static struct path_sum summarise(const struct dl *v, int n)
{
	struct path_sum s = {0};
	double mbs[RUNS], cpu[RUNS], sl[RUNS], slow_mbs[RUNS], fast_mbs[RUNS];
	int nfast = 0;

	for (int i = 0; i < n; i++) {
		mbs[i] = v[i].mbs;
		cpu[i] = v[i].cpu;
		sl[i] = (double)v[i].sleeps;
		if (v[i].mbs > s.best)
			s.best = v[i].mbs;
	}
	s.mbs = median_of(mbs, n);
	s.sleeps = median_of(sl, n);
	s.cpu_med = median_of(cpu, n);
	s.cpu_least = cpu[0]; /* sorted by median_of() */
	for (int i = 0; i < n; i++) {
		if (v[i].cpu > SLOW_CPU * s.cpu_least)
			slow_mbs[s.slow++] = v[i].mbs;
		else
			fast_mbs[nfast++] = v[i].mbs;
	}
	s.slow_mbs = s.slow ? median_of(slow_mbs, s.slow) : 0;
	s.fast_mbs = nfast ? median_of(fast_mbs, nfast) : 0;
	return s;
}

static void print_path(const char *name, const struct path_sum *s, int n)
{
	printf("            %-8s median %5.0f MB/s (best %.0f); cpu per %d MB least %.0f ms, median "
	       "%.0f ms; client sleeps median %.0f; slow rounds %d/%d",
	       name, s->mbs, s->best, BULK_MB, s->cpu_least, s->cpu_med, s->sleeps, s->slow, n);
	if (s->slow)
		printf(" (%.0f MB/s, others %.0f)", s->slow_mbs, s->fast_mbs);
	printf("\n");
}

/* The target's word on a throughput ratio. */
static const char *verdict(double ratio, bool judged)
{
	if (!judged)
		return "for comparison (the target is judged with the upstream on a CPU of its own)";
	return ratio >= 0.8 ? "target >= 80%: met" : "target >= 80%: NOT MET";
}

/* Throughput: RUNS rounds, each path once a round, in an order that turns. */
static void throughput(int bulk_port, int px_port, int ref_port, char *buf, bool rounds,
		       bool judged)
{
	static const char *names[P_COUNT] = {"direct", "proxied", "relay"};
	struct dl v[P_COUNT][RUNS];
	struct path_sum sum[P_COUNT];
	double pair[RUNS];
	char target[64];

	snprintf(target, sizeof(target), "localhost:%d", bulk_port);
	/* warm up every path once (page cache of the buffers, the proxy's first connection) */
	download(bulk_port, NULL, buf);
	download(px_port, target, buf);
	download(ref_port, NULL, buf);
	for (int r = 0; r < RUNS; r++) {
		/* the order turns each round, so no path always follows the same one */
		for (int k = 0; k < P_COUNT; k++) {
			enum path p = (enum path)((k + r) % P_COUNT);

			if (p == P_DIRECT)
				v[p][r] = download(bulk_port, NULL, buf);
			else if (p == P_PROXIED)
				v[p][r] = download(px_port, target, buf);
			else
				v[p][r] = download(ref_port, NULL, buf);
		}
		pair[r] = v[P_PROXIED][r].mbs / v[P_DIRECT][r].mbs;
		if (rounds) {
			printf("round %2d", r + 1);
			for (int p = 0; p < P_COUNT; p++)
				printf("  %s %5.0f MB/s %3.0f ms %4ld sleeps", names[p],
				       v[p][r].mbs, v[p][r].cpu, v[p][r].sleeps);
			printf("  ratio %3.0f%%\n", 100 * pair[r]);
		}
	}
	for (int p = 0; p < P_COUNT; p++)
		sum[p] = summarise(v[p], RUNS);
	qsort(pair, RUNS, sizeof(pair[0]), cmp_double);
	printf("throughput  one %d MB download, %d rounds after a warm-up, each path once a "
	       "round:\n",
	       BULK_MB, RUNS);
	print_path("direct", &sum[P_DIRECT], RUNS);
	print_path("proxied", &sum[P_PROXIED], RUNS);
	print_path("relay", &sum[P_REF], RUNS);
	printf("            ratio    proxied/direct of the same round, median of %d: %.0f%% "
	       "(range %.0f-%.0f%%, quartiles %.0f-%.0f%%); %s\n",
	       RUNS, 100 * pair[RUNS / 2], 100 * pair[0], 100 * pair[RUNS - 1],
	       100 * pair[RUNS / 4], 100 * pair[(3 * RUNS) / 4], verdict(pair[RUNS / 2], judged));
	printf("            medians  proxied %.0f%% of direct; the minimal blocking splice relay "
	       "(\"relay\", one thread, no policy) %.0f%%\n",
	       100 * sum[P_PROXIED].mbs / sum[P_DIRECT].mbs,
	       100 * sum[P_REF].mbs / sum[P_DIRECT].mbs);
	printf("            cpu      least per %d MB: proxied %.2fx direct, relay %.2fx; a round "
	       "over %.1fx its path's least is slow; %d CPUs\n",
	       BULK_MB, sum[P_PROXIED].cpu_least / sum[P_DIRECT].cpu_least,
	       sum[P_REF].cpu_least / sum[P_DIRECT].cpu_least, SLOW_CPU,
	       (int)sysconf(_SC_NPROCESSORS_ONLN));
}

/*
 * --client PORT [TARGET [NICE [CPUS]]]: one download from 127.0.0.1:PORT,
 * through a CONNECT to TARGET when given ("-": none), as a process of its
 * own, at nice NICE and on the CPUs CPUS ("0,1") when given; prints "MB/s
 * CPU-ms sleeps". Run on the host (direct) and inside a sandbox, where PORT
 * is the sandbox's proxy listener.
 */
static int client_main(const char *port, const char *target, const char *nice, const char *cpus)
{
	char *buf;
	struct dl r;
	cpu_set_t set;

	if (target && !strcmp(target, "-"))
		target = NULL;
	if (nice && *nice && setpriority(PRIO_PROCESS, 0, (int)strtol(nice, NULL, 10)) < 0) {
		perror("setpriority");
		return 1;
	}
	errno = 0;
	if (cpus && (!parse_cpu_list(cpus, &set) || sched_setaffinity(0, sizeof(set), &set) < 0)) {
		fprintf(stderr, "bench/egress: cannot run on CPUs '%s': %s\n", cpus,
			errno ? strerror(errno) : "not a list such as 0,1");
		return 1;
	}
	buf = nsh_xmalloc(CHUNK);

	memset(buf, 0, CHUNK); /* fault the buffer in before the clock starts */
	r = download((int)strtol(port, NULL, 10), target, buf);
	printf("%.1f %.3f %ld\n", r.mbs, r.cpu, r.sleeps);
	free(buf);
	return 0;
}

static bool parse_dl(const char *out, struct dl *r)
{
	return sscanf(out, "%lf %lf %ld", &r->mbs, &r->cpu, &r->sleeps) == 3;
}

/*
 * The setting: the client inside a real sandbox (network level
 * custom, its loopback listener served by the proxy, as "nightshift sandbox
 * run --network" does), against the same client as a host process reached
 * directly; one download each per round, the order turning. CPU figures
 * here are the client process's only (the sandbox's is not comparable).
 * Prints why when no sandbox can be made here.
 */
static void sandbox_line(struct nsh_proxy *px, const struct nsh_net_policy *pol, int bulk_port,
			 const char *cpus, bool rounds, bool judged)
{
	char dir[] = "/tmp/nsh-bench-egress-XXXXXX", port[16], target[64], sbx_port[16];
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy sp = {.network = NSH_NET_CUSTOM, .proxy = px, .net = pol};
	struct nsh_sandbox *sb = NULL;
	struct nsh_buf exe;
	struct dl v[2][RUNS];
	double ratio[RUNS], mbs[2][RUNS], med;
	char *ws = NULL, *state = NULL, *copy = NULL;
	int n = 0;

	nsh_buf_init(&exe, SIZE_MAX);
	if (!mkdtemp(dir)) {
		printf("            sandbox  skipped: cannot make a temporary directory\n");
		return;
	}
	ws = nsh_xasprintf("%s/ws", dir);
	state = nsh_xasprintf("%s/state", dir);
	copy = nsh_xasprintf("%s/egress", ws);
	snprintf(port, sizeof(port), "%d", bulk_port);
	snprintf(target, sizeof(target), "localhost:%d", bulk_port);
	snprintf(sbx_port, sizeof(sbx_port), "%d", NSH_SANDBOX_PROXY_PORT);
	sp.workspace = ws;
	sp.state_dir = state;
	if (nsh_fs_mkdir_p(ws, 0755, &err) || nsh_fs_mkdir_p(state, 0700, &err) ||
	    nsh_fs_read_file("/proc/self/exe", &exe, (size_t)64 << 20, &err) ||
	    nsh_fs_write_atomic(copy, exe.buf, exe.len, 0755, &err) ||
	    nsh_sandbox_create(&sp, &sb, &err)) {
		printf("            sandbox  skipped: %s\n", err.msg);
		goto out;
	}
	for (int r = 0; r < RUNS; r++) {
		for (int k = 0; k < 2; k++) {
			int which = (k + r) % 2; /* 0: host, direct; 1: sandbox, proxied */
			bool ok;

			if (which == 0) {
				struct nsh_proc p;

				nsh_proc_init(&p);
				nsh_strvec_push(&p.argv, "/proc/self/exe");
				nsh_strvec_push(&p.argv, "--client");
				nsh_strvec_push(&p.argv, port);
				/* at the sandbox's priority: only the path differs */
				nsh_strvec_pushl(&p.argv, "-", NSH_SANDBOX_NICE_STR, cpus, NULL);
				ok = !nsh_proc_run(&p, &err) && !p.exit_code && p.out.len &&
				     parse_dl(p.out.buf, &v[0][n]);
				nsh_proc_release(&p);
			} else {
				struct nsh_sandbox_cmd c;

				nsh_sandbox_cmd_init(&c);
				nsh_strvec_push(&c.argv, "/workspace/egress");
				nsh_strvec_push(&c.argv, "--client");
				nsh_strvec_push(&c.argv, sbx_port);
				nsh_strvec_push(&c.argv, target);
				/* the sandbox sets its own nice value */
				nsh_strvec_pushl(&c.argv, "", cpus, NULL);
				ok = !nsh_sandbox_exec(sb, &c, &err) && !c.exit_code && c.out.len &&
				     parse_dl(c.out.buf, &v[1][n]);
				if (!ok && !err.msg[0])
					nsh_err_set(&err, NSH_EFAIL, "client exit %d: %.200s",
						    c.exit_code, c.err.buf);
				nsh_sandbox_cmd_release(&c);
			}
			if (!ok) {
				printf("            sandbox  failed: %s\n",
				       err.msg[0] ? err.msg : "no figures from the client");
				goto out;
			}
		}
		ratio[n] = v[1][n].mbs / v[0][n].mbs;
		if (rounds)
			printf("round %2d  direct %5.0f MB/s %5.1f ms %4ld sleeps  sandboxed %5.0f MB/s "
			       "%5.1f ms %4ld sleeps  ratio %3.0f%%\n",
			       n + 1, v[0][n].mbs, v[0][n].cpu, v[0][n].sleeps, v[1][n].mbs,
			       v[1][n].cpu, v[1][n].sleeps, 100 * ratio[n]);
		mbs[0][n] = v[0][n].mbs;
		mbs[1][n] = v[1][n].mbs;
		n++;
	}
	med = median_of(ratio, n); /* sorts ratio */
	printf("sandbox     the client as a process of its own, %d rounds: on the host, direct, "
	       "median %.0f MB/s;\n            in a sandbox (network custom, through its "
	       "listener and the proxy) median %.0f MB/s\n",
	       n, median_of(mbs[0], n), median_of(mbs[1], n));
	printf("            ratio    sandboxed/direct of the same round, median of %d: %.0f%% "
	       "(range %.0f-%.0f%%); %s\n",
	       n, 100 * med, 100 * ratio[0], 100 * ratio[n - 1], verdict(med, judged));
out:
	if (sb && nsh_sandbox_destroy(sb, &err))
		fprintf(stderr, "bench/egress: sandbox destroy: %s\n", err.msg);
	{
		struct nsh_err ignore = NSH_ERR_INIT;

		nsh_fs_remove_tree(dir, &ignore);
	}
	nsh_buf_release(&exe);
	free(copy);
	free(state);
	free(ws);
}

int main(int argc, char **argv)
{
	static int64_t direct[NREQ], proxied[NREQ];
	const char *env = getenv("NSH_BENCH_ROUNDS");
	bool rounds = env && !strcmp(env, "1");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_policy pol;
	struct nsh_proxy *px = NULL;
	int small_port, bulk_port, px_port, small_fd, bulk_fd, px_fd, ref[2], ref_port;
	char *buf = nsh_xmalloc(CHUNK), hp[64], req_direct[128], req_proxied[160];
	static char all_list[CPU_LIST_MAX], local_list[CPU_LIST_MAX], up_list[CPU_LIST_MAX];
	double added, load[3];
	pthread_t t1, t2, t3;
	uint64_t id;

	if (argc >= 3 && !strcmp(argv[1], "--client"))
		return client_main(argv[2], argc >= 4 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL,
				   argc >= 6 ? argv[5] : NULL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds")) {
			rounds = true;
		} else {
			fprintf(stderr,
				"usage: %s [--rounds] | --client PORT [TARGET|- [NICE|'' [CPUS]]]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	small_fd = listen_lo(&small_port);
	bulk_fd = listen_lo(&bulk_port);
	pthread_create(&t1, NULL, small_server, (void *)(intptr_t)small_fd);
	pthread_create(&t2, NULL, bulk_server, (void *)(intptr_t)bulk_fd);
	while (!__atomic_load_n(&bulk_tid, __ATOMIC_ACQUIRE))
		usleep(1000);
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

	if (placement_init()) {
		cpu_list(&all_cpus, all_list);
		cpu_list(&local_cpus, local_list);
		cpu_list(&upstream_cpus, up_list);
		place(PLACE_REMOTE);
		printf("placement   the upstream alone on CPU %s, standing for a remote server; "
		       "client and proxy on CPU %s\n",
		       up_list, local_list);
		throughput(bulk_port, px_port, ref_port, buf, rounds, true);
		sandbox_line(px, &pol, bulk_port, local_list, rounds, true);
		place(PLACE_FREE);
		printf("placement   free: the scheduler places upstream, proxy and client on CPU %s\n",
		       all_list);
		throughput(bulk_port, px_port, ref_port, buf, rounds, false);
		sandbox_line(px, &pol, bulk_port, all_list, rounds, false);
	} else {
		printf("placement   one CPU: upstream, proxy and client share it\n");
		throughput(bulk_port, px_port, ref_port, buf, rounds, true);
		sandbox_line(px, &pol, bulk_port, NULL, rounds, true);
	}
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
