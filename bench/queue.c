/*
 * bench/queue: job claims per second with 1, 3 and 8 worker processes on
 * PostgreSQL against the single-node SQLite store, both measured in this
 * run. Two tables:
 *
 * 1. The PostgreSQL job queue module (store/pgqueue.h) against the SQLite
 *    store's task-claim path (list the claimable tasks, claim one, then
 *    finish it). One unit of work is "claim a job and finish it": on
 *    PostgreSQL nsh_pgq_claim() and nsh_pgq_complete() (which appends a
 *    "done" event); on SQLite nsh_store_task_claimable() +
 *    nsh_store_task_claim(), then one transaction that sets the task
 *    completed and appends an event. PostgreSQL is measured twice:
 *    synchronous_commit on (the default, an fsync per commit) and off (the
 *    last commits may be lost on a server crash, as with the SQLite store's
 *    synchronous=NORMAL in WAL mode).
 *
 * 2. The store's job-run claim path, which is how the daemon's workers
 *    share the jobs of a task on either engine (src/store/runner.c,
 *    src/sched/sched.c), on a SQLite file and on a new PostgreSQL database
 *    per run (the server's defaults, as the daemon uses it). The parent
 *    creates one task with STORE_JOBS queued jobs; each worker process
 *    opens its own store handle and registers its own worker row. One unit
 *    of work is what a job thread does per job: nsh_store_job_free() for
 *    the candidates (walked in plan order, listed again when walked),
 *    nsh_store_job_claim_run() (a lost race moves on to the next job), a
 *    "job.claimed" event, then one transaction as record_step() ends a job:
 *    check the runner, append "job.step", nsh_job_transition() to cancelled
 *    (a settled state, with its "job.state" event) and
 *    nsh_store_job_release_run(). "lost/job" counts the claims another
 *    worker won first. That is the "walk" path, how src/sched claimed
 *    before claim-next; the "next" path is how it claims now: one
 *    nsh_store_job_claim_next() per job (the task's first free job in plan
 *    order, FOR UPDATE SKIP LOCKED on PostgreSQL), then the same event and
 *    settling transaction; its "lost/job" counts the claims that found
 *    nothing free (one per worker at the end). Both paths run in the same
 *    rounds.
 *
 * Every worker connects before the clock starts. Afterwards the bench
 * checks that every job was finished (table 1) or claimed (table 2)
 * exactly once and stops with an error otherwise.
 *
 * Each figure is the median of ROUNDS runs, the kinds interleaved, so
 * that a noisy neighbour on a shared machine hits all of them alike.
 *
 * The server is a throw-away cluster started by tests/integ/pgcluster.sh,
 * or the one $NIGHTSHIFT_DB names (its queues get "bench-" names, its
 * databases "bench_store_" names and are dropped after each run). Without
 * PostgreSQL the bench says so and measures SQLite alone. Figures are
 * printed, never asserted. "build/rel/bench/queue queue" or "... store"
 * measures one table only.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/unit/pgstore.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "core/vec.h"
#include "store/pgqueue.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define JOBS	       1000  /* jobs per run */
#define ROUNDS	       3     /* runs per figure (median3() takes three) */
#define LEASE_MS       60000 /* long enough never to run out during a run */
#define MAX_WORKERS    8
#define STORE_JOBS     1000   /* jobs of the one task of a store run */
#define STORE_LEASE_MS 600000 /* a worker's heartbeat lease: longer than any run */

static const int worker_counts[] = {1, 3, 8};

/* The throw-away cluster, stopped at exit by the process that started it. */
static char *cluster_dir;
static pid_t cluster_owner;

static void stop_cluster(void)
{
	if (cluster_dir && getpid() == cluster_owner)
		pgc_stop(cluster_dir);
	free(cluster_dir);
	cluster_dir = NULL;
}

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

/* The first table: the queue module (store/pgqueue.h) against the SQLite store's task claims. */
static void bench_queue(const char *url, const char *dir)
{
	double lite[3], on[3], off[3];
	bool have_pg = url != NULL;

	printf("%d jobs per run, median of %d runs; one job = claim + finish; jobs per second\n",
	       JOBS, ROUNDS);
	printf("%-8s %10s %12s %8s %12s %8s\n", "workers", "sqlite", "pg sync=on", "ratio",
	       "pg sync=off", "ratio");
	for (size_t i = 0; i < 3; i++) {
		int w = worker_counts[i];

		double r[3][ROUNDS];

		for (int k = 0; k < ROUNDS; k++) {
			r[0][k] = sqlite_rate(dir, w, k);
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
}

/* ---- the store's job-run claim path, as src/sched runs a job ---- */

/*
 * What one store worker sends back to the parent through a pipe: the runs
 * it claimed and the claims another worker won first. One write of less
 * than PIPE_BUF bytes, so the workers' reports do not interleave.
 */
struct store_tally {
	int64_t claimed;
	int64_t lost;
};

/* Heartbeats older than this are of dead workers: longer than any run here. */
static int64_t store_alive_since(void)
{
	return nsh_time_now_ms() - STORE_LEASE_MS;
}

/*
 * Settle job @id as the last step of a run does (record_step() in
 * src/sched/sched.c): in one transaction check that @worker still runs it,
 * append the step's event, move the job to a settled state (with its
 * "job.state" event) and let the run go.
 */
static int settle_job(struct nsh_store *st, const char *task_id, const char *id, const char *worker,
		      const json_t *step, struct nsh_err *err)
{
	char *runner = NULL;
	int rc;

	rc = nsh_store_begin(st, err);
	if (rc)
		return rc;
	rc = nsh_store_job_runner(st, id, &runner, err);
	if (!rc && (!runner || strcmp(runner, worker)))
		rc = nsh_err_set(err, NSH_ECONFLICT, "job '%s' is run by '%s' now", id,
				 runner ? runner : "nobody");
	if (!rc)
		rc = nsh_event_append(st, task_id, id, "job.step", step, NULL, err);
	if (!rc)
		rc = nsh_job_transition(st, id, NSH_JOB_CANCELLED, "bench", NULL, err);
	if (!rc)
		rc = nsh_store_job_release_run(st, id, worker, err);
	if (!rc)
		rc = nsh_store_commit(st, err);
	if (rc)
		nsh_store_rollback(st);
	free(runner);
	return rc;
}

/*
 * The "next" path of one store worker: claim the task's next free job
 * (nsh_store_job_claim_next()), append "job.claimed" and settle it, until
 * nothing is free.
 */
static void store_worker_next(struct nsh_store *st, const char *task_id, const char *worker,
			      const json_t *claimed_ev, const json_t *step_ev,
			      struct store_tally *t)
{
	struct nsh_err err = NSH_ERR_INIT;

	for (;;) {
		char *id = NULL;

		if (nsh_store_job_claim_next(st, task_id, worker, store_alive_since(), &id, &err))
			die("claiming the next run", &err);
		if (!id) {
			t->lost++;
			break;
		}
		t->claimed++;
		if (nsh_event_append(st, task_id, id, "job.claimed", claimed_ev, NULL, &err) ||
		    settle_job(st, task_id, id, worker, step_ev, &err))
			die("settling a job", &err);
		free(id);
	}
}

/*
 * One store worker process, as a scheduler's job threads work. The "walk"
 * path (@next false): list the task's jobs that no live worker runs
 * (nsh_store_job_free(), as enqueue_jobs() does), walk them in plan order
 * claiming each run (a lost race moves on to the next), append
 * "job.claimed" and settle the job; list again until nothing is free. The
 * "next" path: store_worker_next(). Says "ready" on @ready once connected
 * and registered, starts when @go closes, reports on @tally.
 */
static int store_worker(const char *target, const char *task_id, int n, bool next, int ready,
			int go, int tally)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct store_tally t = {0};
	struct nsh_store *st;
	json_t *claimed_ev, *step_ev;
	char worker[32], c = 'r';

	snprintf(worker, sizeof(worker), "w-bench-store%d", n);
	if (nsh_store_open(target, &st, &err) ||
	    nsh_store_worker_beat(st, worker, "bench", getpid(), &err))
		die("store worker open", &err);
	claimed_ev = json_pack("{s:s, s:s}", "worker", worker, "host", "bench");
	step_ev = json_pack("{s:s, s:I, s:I}", "step", "bench", "index", (json_int_t)1, "steps",
			    (json_int_t)1);
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0)
		return 1;
	if (next)
		store_worker_next(st, task_id, worker, claimed_ev, step_ev, &t);
	while (!next) {
		struct nsh_strvec ids = NSH_STRVEC_INIT;
		size_t nr;

		if (nsh_store_job_free(st, task_id, store_alive_since(), &ids, &err))
			die("free jobs", &err);
		nr = ids.nr;
		for (size_t i = 0; i < ids.nr; i++) {
			bool claimed = false;

			if (nsh_store_job_claim_run(st, ids.v[i], worker, store_alive_since(),
						    &claimed, &err))
				die("claiming a run", &err);
			if (!claimed) {
				t.lost++;
				continue;
			}
			t.claimed++;
			if (nsh_event_append(st, task_id, ids.v[i], "job.claimed", claimed_ev, NULL,
					     &err) ||
			    settle_job(st, task_id, ids.v[i], worker, step_ev, &err))
				die("settling a job", &err);
		}
		nsh_strvec_release(&ids);
		if (nr == 0)
			break;
	}
	json_decref(claimed_ev);
	json_decref(step_ev);
	nsh_store_close(st);
	return write(tally, &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1;
}

/*
 * Check that every job of @task_id was claimed exactly once (its
 * "job.claimed" events), ended cancelled and has no runner left. Prints
 * each problem (the first few) and returns how many jobs had one.
 */
static int store_check(struct nsh_store *st, const char *task_id, const char *what)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_event_list ev = {0};
	struct nsh_job_list jobs = {0};
	struct nsh_strvec ids = NSH_STRVEC_INIT;
	int *claims, bad = 0;

	if (nsh_store_job_list(st, task_id, &jobs, &err) ||
	    nsh_store_events_after(st, 0, task_id, 0, &ev, &err))
		die("reading the jobs back", &err);
	for (size_t i = 0; i < jobs.nr; i++)
		nsh_strvec_push(&ids, jobs.v[i].id);
	claims = nsh_xcalloc(jobs.nr + 1, sizeof(*claims));
	for (size_t i = 0; i < ev.nr; i++) {
		long k;

		if (strcmp(ev.v[i].kind, "job.claimed") || !ev.v[i].job_id)
			continue;
		k = nsh_strvec_find(&ids, ev.v[i].job_id);
		claims[k < 0 ? (long)jobs.nr : k]++;
	}
	if (jobs.nr != STORE_JOBS || claims[jobs.nr]) {
		fprintf(stderr,
			"bench/queue: %s: %zu jobs and %d claims of unknown jobs, not %d jobs\n",
			what, jobs.nr, claims[jobs.nr], STORE_JOBS);
		bad++;
	}
	for (size_t i = 0; i < jobs.nr; i++) {
		char *runner = NULL;

		if (nsh_store_job_runner(st, jobs.v[i].id, &runner, &err))
			die("reading a runner", &err);
		if (claims[i] != 1 || strcmp(jobs.v[i].state, "cancelled") || runner) {
			if (bad < 10)
				fprintf(stderr,
					"bench/queue: %s: job %s was claimed %d times, is %s, runner "
					"'%s' (want: once, cancelled, none)\n",
					what, jobs.v[i].id, claims[i], jobs.v[i].state,
					runner ? runner : "none");
			bad++;
		}
		free(runner);
	}
	free(claims);
	nsh_strvec_release(&ids);
	nsh_job_list_release(&jobs);
	nsh_event_list_release(&ev);
	return bad;
}

/*
 * One run on the store at @target (a SQLite file or a PostgreSQL url of an
 * empty database): one task with STORE_JOBS queued jobs, @workers worker
 * processes, then the check. The claims per second go to *@ret_rate, the
 * lost claims per job to *@ret_lost.
 */
static void store_run(const char *target, const char *what, int workers, bool next,
		      double *ret_rate, double *ret_lost)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_new tn = {.title = "bench"};
	struct store_tally sum = {0};
	struct nsh_store *st;
	pid_t pids[MAX_WORKERS];
	int ready[2], go[2], tally[2];
	char task_id[32];
	int64_t t0;
	double secs;

	if (nsh_store_open(target, &st, &err) || nsh_store_begin(st, &err) ||
	    nsh_task_create(st, &tn, task_id, &err))
		die("creating the task", &err);
	for (int i = 0; i < STORE_JOBS; i++) {
		char repo[32], id[32];

		snprintf(repo, sizeof(repo), "bench/r%d", i);
		if (nsh_job_create(st, task_id, repo, i, id, &err))
			die("creating a job", &err);
	}
	if (nsh_store_commit(st, &err))
		die("creating the jobs", &err);
	/* No handle of the parent crosses fork(): closed now, opened again for the check. */
	nsh_store_close(st);
	if (pipe(ready) || pipe(go) || pipe(tally))
		die("pipe", NULL);
	fflush(NULL);
	for (int i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", NULL);
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			close(tally[0]);
			_exit(store_worker(target, task_id, i, next, ready[1], go[0], tally[1]));
		}
	}
	close(ready[1]);
	close(go[0]);
	close(tally[1]);
	/* The clock starts once every worker is connected and registered. */
	for (int i = 0; i < workers; i++) {
		char c;

		if (read(ready[0], &c, 1) != 1)
			die("a worker did not start", NULL);
	}
	t0 = nsh_time_mono_ns();
	close(go[1]);
	for (int i = 0; i < workers; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			die("a worker failed", NULL);
	}
	secs = (double)(nsh_time_mono_ns() - t0) / 1e9;
	for (int i = 0; i < workers; i++) {
		struct store_tally t;

		if (read(tally[0], &t, sizeof(t)) != (ssize_t)sizeof(t))
			die("a worker did not report", NULL);
		sum.claimed += t.claimed;
		sum.lost += t.lost;
	}
	close(ready[0]);
	close(tally[0]);
	if (nsh_store_open(target, &st, &err))
		die("opening the store again", &err);
	if (store_check(st, task_id, what) || sum.claimed != STORE_JOBS) {
		fprintf(stderr,
			"bench/queue: %s, %d workers: not every job was claimed exactly once and "
			"settled (the workers claimed %lld runs of %d jobs)\n",
			what, workers, (long long)sum.claimed, STORE_JOBS);
		exit(1);
	}
	nsh_store_close(st);
	*ret_rate = STORE_JOBS / secs;
	*ret_lost = (double)sum.lost / STORE_JOBS;
}

/* A SQLite run in a new file under @dir. */
static void store_sqlite_run(const char *dir, int workers, bool next, int round, double *ret_rate,
			     double *ret_lost)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/store-%d-%d-%d.db", dir, workers, next, round);
	store_run(path, "sqlite store", workers, next, ret_rate, ret_lost);
}

/* A PostgreSQL run in a new database of the server at @url, dropped afterwards. */
static void store_pg_run(const char *url, int workers, bool next, int round, double *ret_rate,
			 double *ret_lost)
{
	char name[64], sql[128];
	char *db;

	snprintf(name, sizeof(name), "bench_store_%d_%d_%d_%d", (int)getpid(), workers, next,
		 round);
	pgs_url = (char *)url;
	db = pgs_new_db(name);
	pgs_url = NULL;
	store_run(db, "postgresql store", workers, next, ret_rate, ret_lost);
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", name);
	if (pgs_exec(url, sql))
		fprintf(stderr, "bench/queue: dropping database '%s' failed\n", name);
	free(db);
}

/* The second table: the store's claim paths ("walk", "next") on SQLite and PostgreSQL. */
static void bench_store(const char *url, const char *dir)
{
	static const char *const path_names[2] = {"walk", "next"};
	double lite[2][3], pg[2][3], lite_lost[2][3], pg_lost[2][3];

	printf("\nthe store's job-run claims: \"walk\" = nsh_store_job_free, nsh_store_job_claim_run "
	       "down the list;\n\"next\" = nsh_store_job_claim_next; each then \"job.claimed\" and "
	       "one transaction that settles\nthe job and releases the run. %d jobs of one task per "
	       "run, median of %d runs;\njobs per second; postgresql: %s\n",
	       STORE_JOBS, ROUNDS, url ? "a new database per run" : "not measured");
	printf("%-8s %-5s %8s %7s %9s %11s %7s %9s %10s\n", "workers", "path", "sqlite", "vs 1w",
	       "lost/job", "postgresql", "vs 1w", "lost/job", "pg/sqlite");
	for (size_t i = 0; i < 3; i++) {
		int w = worker_counts[i];
		double r[2][2][ROUNDS], l[2][2][ROUNDS];

		/* the paths and engines interleaved within each round */
		for (int k = 0; k < ROUNDS; k++) {
			for (int p = 0; p < 2; p++) {
				store_sqlite_run(dir, w, p, k, &r[p][0][k], &l[p][0][k]);
				if (url)
					store_pg_run(url, w, p, k, &r[p][1][k], &l[p][1][k]);
				else
					r[p][1][k] = l[p][1][k] = 0;
			}
		}
		for (int p = 0; p < 2; p++) {
			lite[p][i] = median3(r[p][0][0], r[p][0][1], r[p][0][2]);
			lite_lost[p][i] = median3(l[p][0][0], l[p][0][1], l[p][0][2]);
			pg[p][i] = median3(r[p][1][0], r[p][1][1], r[p][1][2]);
			pg_lost[p][i] = median3(l[p][1][0], l[p][1][1], l[p][1][2]);
			printf("%-8d %-5s %8.0f %6.2fx %9.2f", w, path_names[p], lite[p][i],
			       lite[p][i] / lite[p][0], lite_lost[p][i]);
			if (url)
				printf(" %11.0f %6.2fx %9.2f %9.2fx\n", pg[p][i],
				       pg[p][i] / pg[p][0], pg_lost[p][i], pg[p][i] / lite[p][i]);
			else
				printf(" %11s %7s %9s %10s\n", "-", "-", "-", "-");
		}
		fflush(stdout);
	}
	printf("next/walk: sqlite %.2fx %.2fx %.2fx", lite[1][0] / lite[0][0],
	       lite[1][1] / lite[0][1], lite[1][2] / lite[0][2]);
	if (url)
		printf(", postgresql %.2fx %.2fx %.2fx", pg[1][0] / pg[0][0], pg[1][1] / pg[0][1],
		       pg[1][2] / pg[0][2]);
	printf(" (1, 3, 8 workers)\n");
}

/*
 * Without arguments both tables; "queue" measures only the queue module,
 * "store" only the store's claim path.
 */
int main(int argc, char **argv)
{
	const char *env = getenv("NIGHTSHIFT_DB");
	char *url = NULL, *why = NULL;
	char tmpl[] = "/tmp/nsh-bench-queue-XXXXXX";
	struct nsh_err err = NSH_ERR_INIT;
	bool have_pg = true, queue = true, store = true;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "queue") && strcmp(argv[1], "store"))) {
		fprintf(stderr, "usage: %s [queue|store]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		queue = !strcmp(argv[1], "queue");
		store = !queue;
	}
	if (!mkdtemp(tmpl))
		die("mkdtemp", NULL);
	if (env && *env) {
		url = strdup(env);
	} else {
		int rc = pgc_start(&cluster_dir, &url, &why);

		/* also when a check fails and the bench exits early */
		cluster_owner = getpid();
		atexit(stop_cluster);
		if (rc == 1) {
			printf("postgresql: not measured (%s)\n", why);
			have_pg = false;
		} else if (rc) {
			die("starting postgresql", NULL);
		}
	}
	if (queue)
		bench_queue(have_pg ? url : NULL, tmpl);
	if (store)
		bench_store(have_pg ? url : NULL, tmpl);
	stop_cluster();
	if (nsh_fs_remove_tree(tmpl, &err))
		die("cleanup", &err);
	free(url);
	free(why);
	return 0;
}
