/*
 * bench/events: how fast the event log takes single-event transactions,
 * and how long an event takes to reach a subscriber in another process.
 * Each figure is printed next to a baseline measured in the same run:
 * raw SQLite inserts of the same row for throughput, and a pipe between
 * the same two processes for latency. Figures are printed, never asserted.
 */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "store/store.h"
#include "task/task.h"

#define APPENDS	  5000 /* events per throughput run */
#define LAT_COUNT 1000 /* events per latency run */
#define LAT_GAP	  2    /* ms between latency samples */

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/events: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct(int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (double)v[i] / 1e6;
}

/* Raw SQLite: the same INSERT the store runs, autocommit, same settings. */
static double raw_rate(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t t0;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("raw open", NULL);
	sqlite3_busy_timeout(db, 10000);
	sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	sqlite3_prepare_v2(db,
			   "INSERT INTO events (task_id, job_id, kind, data, created_at) "
			   "VALUES (?1, NULL, 'bench', ?2, ?3)",
			   -1, &st, NULL);
	t0 = nsh_time_mono_ns();
	for (int i = 0; i < APPENDS; i++) {
		char data[64];

		snprintf(data, sizeof(data), "{\"seq\":%d}", i);
		sqlite3_bind_text(st, 1, "t-raw", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, data, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, nsh_time_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			die("raw insert", NULL);
		sqlite3_reset(st);
	}
	t0 = nsh_time_mono_ns() - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return APPENDS / ((double)t0 / 1e9);
}

static double our_rate(struct nsh_store *s)
{
	struct nsh_err err = NSH_ERR_INIT;
	int64_t t0 = nsh_time_mono_ns();

	for (int i = 0; i < APPENDS; i++) {
		json_t *d = json_pack("{s:i}", "seq", i);

		if (nsh_event_append(s, "t-bench", NULL, "bench", d, NULL, &err))
			die("append", &err);
		json_decref(d);
	}
	t0 = nsh_time_mono_ns() - t0;
	return APPENDS / ((double)t0 / 1e9);
}

/* Child: follow the log and write each event's latency (ns) to @fd. */
static void subscriber(const char *path, int64_t after, int fd)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	int seen = 0;

	if (nsh_store_open(path, &s, &err))
		die("subscriber open", &err);
	while (seen < LAT_COUNT) {
		struct nsh_event_list l = {0};

		if (nsh_event_wait(s, NULL, after, "t-lat", 10000, 0, &l, &err))
			die("wait", &err);
		if (!l.nr)
			die("subscriber timed out", NULL);
		for (size_t i = 0; i < l.nr; i++) {
			int64_t now = nsh_time_mono_ns();
			json_int_t t = 0;
			json_t *d = NULL;

			after = l.v[i].id;
			if (nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, &err) ||
			    nsh_json_get_int(d, "t", &t, &err))
				die("event data", &err);
			json_decref(d);
			int64_t d_ns = now - (int64_t)t;

			if (write(fd, &d_ns, sizeof(d_ns)) != sizeof(d_ns))
				die("pipe", NULL);
			seen++;
		}
		nsh_event_list_release(&l);
	}
	nsh_store_close(s);
	_exit(0);
}

static void read_all(int fd, int64_t *v, size_t n)
{
	size_t got = 0;

	while (got < n * sizeof(*v)) {
		ssize_t r = read(fd, (char *)v + got, n * sizeof(*v) - got);

		if (r <= 0)
			die("reading latencies", NULL);
		got += (size_t)r;
	}
}

static void latency(struct nsh_store *s, const char *path, int64_t *lat)
{
	struct nsh_err err = NSH_ERR_INIT;
	int64_t after = 0;
	int fds[2];
	pid_t pid;

	if (nsh_store_event_last_id(s, &after, &err))
		die("last id", &err);
	if (pipe(fds))
		die("pipe", NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		subscriber(path, after, fds[1]);
	}
	close(fds[1]);
	nsh_time_sleep_ms(100); /* let the subscriber open its store */
	for (int i = 0; i < LAT_COUNT; i++) {
		json_t *d = json_pack("{s:I}", "t", (json_int_t)nsh_time_mono_ns());

		if (nsh_event_append(s, "t-lat", NULL, "bench", d, NULL, &err))
			die("append", &err);
		json_decref(d);
		nsh_time_sleep_ms(LAT_GAP);
	}
	read_all(fds[0], lat, LAT_COUNT);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	qsort(lat, LAT_COUNT, sizeof(*lat), cmp_i64);
}

/* Baseline: the same cadence of timestamps sent over a pipe to a child. */
static void pipe_latency(int64_t *lat)
{
	int to[2], back[2];
	pid_t pid;

	if (pipe(to) || pipe(back))
		die("pipe", NULL);
	pid = fork();
	if (pid == 0) {
		close(to[1]);
		close(back[0]);
		for (int i = 0; i < LAT_COUNT; i++) {
			int64_t t;

			read_all(to[0], &t, 1);
			t = nsh_time_mono_ns() - t;
			if (write(back[1], &t, sizeof(t)) != sizeof(t))
				_exit(1);
		}
		_exit(0);
	}
	close(to[0]);
	close(back[1]);
	for (int i = 0; i < LAT_COUNT; i++) {
		int64_t t = nsh_time_mono_ns();

		if (write(to[1], &t, sizeof(t)) != sizeof(t))
			die("pipe write", NULL);
		nsh_time_sleep_ms(LAT_GAP);
	}
	read_all(back[0], lat, LAT_COUNT);
	close(to[1]);
	close(back[0]);
	waitpid(pid, NULL, 0);
	qsort(lat, LAT_COUNT, sizeof(*lat), cmp_i64);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	static int64_t lat[LAT_COUNT], base[LAT_COUNT];
	char dir[] = "/tmp/nsh-bench-XXXXXX";
	double ours, raw, p99;
	char *path;

	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	path = nsh_xasprintf("%s/nightshift.db", dir);
	if (nsh_store_open(path, &s, &err))
		die("open", &err);

	raw = raw_rate(path);
	ours = our_rate(s);
	printf("events/s  single-event transactions (n=%d): nightshift %.0f/s, raw SQLite %.0f/s, "
	       "ratio %.2f; target >= 5000/s: %s\n",
	       APPENDS, ours, raw, ours / raw, ours >= 5000 ? "met" : "NOT MET");

	latency(s, path, lat);
	pipe_latency(base);
	p99 = pct(lat, LAT_COUNT, 0.99);
	printf("latency   append -> subscriber in another process (n=%d): p50 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms\n",
	       LAT_COUNT, pct(lat, LAT_COUNT, 0.50), p99, (double)lat[LAT_COUNT - 1] / 1e6);
	printf("latency   baseline, a pipe between two processes: p50 %.3f ms, p99 %.3f ms; "
	       "p99 ratio %.1fx; target p99 < 20 ms: %s\n",
	       pct(base, LAT_COUNT, 0.50), pct(base, LAT_COUNT, 0.99),
	       p99 / (pct(base, LAT_COUNT, 0.99) > 0 ? pct(base, LAT_COUNT, 0.99) : 1),
	       p99 < 20 ? "met" : "NOT MET");

	nsh_store_close(s);
	nsh_fs_remove_tree(dir, &err);
	free(path);
	return 0;
}
