/*
 * bench/queue: job claims per second with 1, 3 and 8 worker processes on
 * the PostgreSQL job queue (store/pgqueue.h), against the same on the
 * single-node SQLite store's claim path (the one src/sched uses: list the
 * claimable tasks, claim one, then finish it), both measured in this run.
 *
 * One unit of work is "claim a job and finish it": on PostgreSQL
 * nsh_pgq_claim() and nsh_pgq_complete() (which appends a "done" event);
 * on SQLite nsh_store_task_claimable() + nsh_store_task_claim(), then one
 * transaction that sets the task completed and appends an event. Every
 * worker opens its own connection before the clock starts. Afterwards the
 * bench checks that every job was finished exactly once.
 *
 * Each figure is the median of ROUNDS runs, the three kinds interleaved,
 * so that a noisy neighbour on a shared machine hits all of them alike.
 *
 * PostgreSQL is measured twice: synchronous_commit on (the default, an
 * fsync per commit) and off (the last commits may be lost on a server
 * crash, as with the SQLite store's synchronous=NORMAL in WAL mode).
 *
 * The server is a throw-away cluster started by tests/integ/pgcluster.sh,
 * or the one $NIGHTSHIFT_DB names (its queues get "bench-" names). Without
 * PostgreSQL the bench says so and measures SQLite alone. Figures are
 * printed, never asserted.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/unit/pgcluster.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "store/pgqueue.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define JOBS	    1000  /* jobs per run */
#define ROUNDS	    3	  /* runs per figure (median3() takes three) */
#define LEASE_MS    60000 /* long enough never to run out during a run */
#define MAX_WORKERS 8

static const int worker_counts[] = {1, 3, 8};

static double median3(double a, double b, double c)
{
	if (a > b) {
		double t = a;

		a = b;
		b = t;
	}
	return c < a ? a : c > b ? b : c;
}

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/queue: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

/* One PostgreSQL worker: claim and complete until the queue is empty. */
static int pg_worker(const char *url, const char *queue, int n, bool sync, int go)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq *q;
	char worker[32], c;

	snprintf(worker, sizeof(worker), "bench-w%d", n);
	if (nsh_pgq_open(url, &q, &err) || nsh_pgq_set_sync_commit(q, sync, &err))
		die("worker open", &err);
	if (read(go, &c, 1) < 0)
		return 1;
	for (;;) {
		struct nsh_pgq_job j = {0};
		bool got = false;

		if (nsh_pgq_claim(q, queue, worker, LEASE_MS, &j, &got, &err))
			die("claim", &err);
		if (!got)
			break;
		if (nsh_pgq_complete(q, j.id, worker, NULL, &err))
			die("complete", &err);
		nsh_pgq_job_release(&j);
	}
	nsh_pgq_close(q);
	return 0;
}

/* One SQLite worker: the scheduler's claim path until nothing is claimable. */
static int sqlite_worker(const char *path, int n, int go)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st;
	char worker[32], c;
	int64_t alive;

	snprintf(worker, sizeof(worker), "w-bench%d", n);
	if (nsh_store_open(path, &st, &err) ||
	    nsh_store_worker_beat(st, worker, "bench", getpid(), &err))
		die("worker open", &err);
	alive = nsh_time_now_ms() - LEASE_MS;
	if (read(go, &c, 1) < 0)
		return 1;
	for (;;) {
		struct nsh_task_list l = {0};
		bool claimed = false;

		if (nsh_store_task_claimable(st, worker, alive, MAX_WORKERS, &l, &err))
			die("claimable", &err);
		if (l.nr == 0)
			break;
		for (size_t i = 0; i < l.nr && !claimed; i++) {
			if (nsh_store_task_claim(st, l.v[i].id, worker, alive, &claimed, &err))
				die("claim", &err);
			if (!claimed)
				continue;
			if (nsh_store_begin(st, &err) ||
			    nsh_store_task_set_state(st, l.v[i].id, "completed", NULL, NULL,
						     &err) ||
			    nsh_event_append(st, l.v[i].id, NULL, "bench.done", NULL, NULL, &err) ||
			    nsh_store_commit(st, &err))
				die("finish", &err);
		}
		nsh_task_list_release(&l);
	}
	nsh_store_close(st);
	return 0;
}

/*
 * Fork @workers processes running pg_worker() (@url set) or
 * sqlite_worker(), let them go at once, and return the seconds until the
 * last one exits.
 */
static double run_workers(int workers, const char *url, const char *queue, bool sync,
			  const char *path)
{
	pid_t pids[MAX_WORKERS];
	int go[2];
	int64_t t0;

	if (pipe(go))
		die("pipe", NULL);
	fflush(NULL);
	for (int i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", NULL);
		if (pids[i] == 0) {
			close(go[1]);
			_exit(url ? pg_worker(url, queue, i, sync, go[0])
				  : sqlite_worker(path, i, go[0]));
		}
	}
	close(go[0]);
	/* Let the workers connect first: the clock covers claiming only. */
	nsh_time_sleep_ms(300 + 50 * workers);
	t0 = nsh_time_mono_ns();
	close(go[1]);
	for (int i = 0; i < workers; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			die("a worker failed", NULL);
	}
	return (double)(nsh_time_mono_ns() - t0) / 1e9;
}

static double pg_rate(const char *url, int workers, bool sync, int round)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq_counts c;
	struct nsh_pgq *q;
	char queue[64];
	double secs;

	snprintf(queue, sizeof(queue), "bench-%d-%d-%s-%d", (int)getpid(), workers,
		 sync ? "sync" : "nosync", round);
	if (nsh_pgq_open(url, &q, &err) || nsh_pgq_set_sync_commit(q, false, &err))
		die("open", &err);
	for (int i = 0; i < JOBS; i++)
		if (nsh_pgq_enqueue(q, queue, "{}", NULL, &err))
			die("enqueue", &err);
	secs = run_workers(workers, url, queue, sync, NULL);
	if (nsh_pgq_counts(q, queue, &c, &err))
		die("counts", &err);
	if (c.done != JOBS || c.queued + c.running + c.failed != 0)
		die("not every job was done once", NULL);
	nsh_pgq_close(q);
	return JOBS / secs;
}

static double sqlite_rate(const char *dir, int workers, int round)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_list l = {0};
	struct nsh_store *st;
	char path[4096];
	double secs;

	snprintf(path, sizeof(path), "%s/bench-%d-%d.db", dir, workers, round);
	if (nsh_store_open(path, &st, &err) || nsh_store_begin(st, &err))
		die("open", &err);
	for (int i = 0; i < JOBS; i++) {
		struct nsh_task_new t = {.title = "bench"};
		char id[32];

		if (nsh_task_create(st, &t, id, &err))
			die("create", &err);
	}
	if (nsh_store_commit(st, &err))
		die("create commit", &err);
	secs = run_workers(workers, NULL, NULL, false, path);
	if (nsh_store_task_list(st, "completed", 0, &l, &err))
		die("list", &err);
	if (l.nr != JOBS)
		die("not every task was done once", NULL);
	nsh_task_list_release(&l);
	nsh_store_close(st);
	return JOBS / secs;
}

int main(void)
{
	const char *env = getenv("NIGHTSHIFT_DB");
	char *pgdir = NULL, *url = NULL, *why = NULL;
	char tmpl[] = "/tmp/nsh-bench-queue-XXXXXX";
	struct nsh_err err = NSH_ERR_INIT;
	double lite[3], on[3], off[3];
	bool have_pg = true;

	if (!mkdtemp(tmpl))
		die("mkdtemp", NULL);
	if (env && *env) {
		url = strdup(env);
	} else {
		int rc = pgc_start(&pgdir, &url, &why);

		if (rc == 1) {
			printf("postgresql: not measured (%s)\n", why);
			have_pg = false;
		} else if (rc) {
			die("starting postgresql", NULL);
		}
	}
	printf("%d jobs per run, median of %d runs; one job = claim + finish; jobs per second\n",
	       JOBS, ROUNDS);
	printf("%-8s %10s %12s %8s %12s %8s\n", "workers", "sqlite", "pg sync=on", "ratio",
	       "pg sync=off", "ratio");
	for (size_t i = 0; i < 3; i++) {
		int w = worker_counts[i];

		double r[3][ROUNDS];

		for (int k = 0; k < ROUNDS; k++) {
			r[0][k] = sqlite_rate(tmpl, w, k);
			r[1][k] = have_pg ? pg_rate(url, w, true, k) : 0;
			r[2][k] = have_pg ? pg_rate(url, w, false, k) : 0;
		}
		lite[i] = median3(r[0][0], r[0][1], r[0][2]);
		on[i] = median3(r[1][0], r[1][1], r[1][2]);
		off[i] = median3(r[2][0], r[2][1], r[2][2]);
		if (have_pg) {
			printf("%-8d %10.0f %12.0f %7.2fx %12.0f %7.2fx\n", w, lite[i], on[i],
			       on[i] / lite[i], off[i], off[i] / lite[i]);
		} else {
			printf("%-8d %10.0f %12s %8s %12s %8s\n", w, lite[i], "-", "-", "-", "-");
		}
		fflush(stdout);
	}
	if (have_pg)
		printf("scaling 1 -> 8 workers: sqlite %.2fx, pg sync=on %.2fx, pg sync=off %.2fx\n",
		       lite[2] / lite[0], on[2] / on[0], off[2] / off[0]);
	if (pgdir)
		pgc_stop(pgdir);
	if (nsh_fs_remove_tree(tmpl, &err))
		die("cleanup", &err);
	free(pgdir);
	free(url);
	free(why);
	return 0;
}
