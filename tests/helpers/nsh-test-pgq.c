/*
 * A test driver for the PostgreSQL job queue (store/pgqueue.h), used by
 * tests/integ/t1400-pgqueue.sh to play independent worker processes:
 *
 *   nsh-test-pgq URL enqueue QUEUE N           enqueue N jobs ("job-1" ... "job-N")
 *   nsh-test-pgq URL work QUEUE WORKER STEPS LEASE_MS [STALL]
 *        claim jobs until the queue has nothing queued or running; for each,
 *        do steps s1..sSTEPS after the last completed one, printing
 *        "did JOB STEP WORKER" as each is recorded, then complete it. While
 *        the queue is empty but a job is still leased elsewhere, sleep on
 *        LISTEN. With STALL k: after recording step k of the first job,
 *        print "stalled JOB" and keep the lease alive forever (to be killed)
 *   nsh-test-pgq URL listen QUEUE WORKER TIMEOUT_MS
 *        LISTEN, print "listening", sleep until a NOTIFY about QUEUE (no polling), then
 *        print "woken QUEUE MS" and claim and complete one job: "done JOB"
 *   nsh-test-pgq URL jobs QUEUE                "JOB STATE STEP CLAIMS WORKER" per job
 *   nsh-test-pgq URL events QUEUE              "JOB KIND DATA WORKER" per event
 *
 * Output is flushed line by line. Any error is printed on stderr and makes
 * the exit status 1.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"
#include "store/pgqueue.h"

#include "core/banned.h"

static int fail(const struct nsh_err *err)
{
	fprintf(stderr, "nsh-test-pgq: %s\n", err->msg);
	return 1;
}

static long long num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (!*s || *end || v < 0) {
		fprintf(stderr, "nsh-test-pgq: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* The number after "s" in step name @step (0 for none). */
static long long step_no(const char *step)
{
	return step && step[0] == 's' ? strtoll(step + 1, NULL, 10) : 0;
}

static int do_job(struct nsh_pgq *q, const struct nsh_pgq_job *j, const char *worker,
		  long long steps, long long lease_ms, long long stall, bool *stalled,
		  struct nsh_err *err)
{
	char name[32];
	int rc;

	for (long long s = step_no(j->step) + 1; s <= steps; s++) {
		snprintf(name, sizeof(name), "s%lld", s);
		rc = nsh_pgq_step(q, j->id, worker, name, NULL, err);
		if (rc)
			return rc;
		printf("did %lld %s %s\n", (long long)j->id, name, worker);
		fflush(stdout);
		if (stall == s && !*stalled) {
			*stalled = true;
			printf("stalled %lld\n", (long long)j->id);
			fflush(stdout);
			for (;;) {
				nsh_time_sleep_ms(lease_ms / 4);
				rc = nsh_pgq_heartbeat(q, j->id, worker, lease_ms, err);
				if (rc)
					return rc;
			}
		}
	}
	return nsh_pgq_complete(q, j->id, worker, "ok", err);
}

static int work(struct nsh_pgq *q, const char *queue, const char *worker, long long steps,
		long long lease_ms, long long stall, struct nsh_err *err)
{
	bool stalled = false;
	int rc = nsh_pgq_listen(q, NSH_PGQ_LISTEN_WORK, err);

	while (!rc) {
		struct nsh_pgq_job j = {0};
		struct nsh_pgq_counts c;
		struct nsh_pgq_note n = {0};
		bool got = false;

		rc = nsh_pgq_claim(q, queue, worker, lease_ms, &j, &got, err);
		if (rc)
			break;
		if (got) {
			rc = do_job(q, &j, worker, steps, lease_ms, stall, &stalled, err);
			nsh_pgq_job_release(&j);
			continue;
		}
		rc = nsh_pgq_counts(q, queue, &c, err);
		if (rc || c.queued + c.running == 0)
			break;
		/* Someone holds the rest: sleep until new work or their lease may have run out. */
		rc = nsh_pgq_wait(q, lease_ms / 4 + 1, &n, &got, err);
		free(n.payload);
	}
	return rc;
}

static int listen_once(struct nsh_pgq *q, const char *queue, const char *worker,
		       long long timeout_ms, struct nsh_err *err)
{
	struct nsh_pgq_note n = {0};
	struct nsh_pgq_job j = {0};
	bool got = false;
	int64_t t0;
	int rc = nsh_pgq_listen(q, NSH_PGQ_LISTEN_WORK, err);

	if (rc)
		return rc;
	printf("listening\n");
	fflush(stdout);
	t0 = nsh_time_mono_ms();
	/* Wait for a notification about this queue; others may come first. */
	for (;;) {
		int64_t left = timeout_ms - (nsh_time_mono_ms() - t0);

		rc = left > 0 ? nsh_pgq_wait(q, left, &n, &got, err) : 0;
		if (rc)
			return rc;
		if (left <= 0 || !got)
			return nsh_err_set(err, NSH_ETIMEOUT, "no notification in %lld ms",
					   timeout_ms);
		if (!strcmp(n.payload, queue))
			break;
		free(n.payload);
		n.payload = NULL;
	}
	printf("woken %s %lld\n", n.payload, (long long)(nsh_time_mono_ms() - t0));
	free(n.payload);
	rc = nsh_pgq_claim(q, queue, worker, 60000, &j, &got, err);
	if (!rc && !got)
		rc = nsh_err_set(err, NSH_ENOTFOUND, "woken, but nothing to claim in '%s'", queue);
	if (!rc)
		rc = nsh_pgq_complete(q, j.id, worker, "ok", err);
	if (!rc)
		printf("done %lld\n", (long long)j.id);
	nsh_pgq_job_release(&j);
	return rc;
}

static int list_jobs(struct nsh_pgq *q, const char *queue, struct nsh_err *err)
{
	struct nsh_pgq_job_list l = {0};
	int rc = nsh_pgq_jobs(q, queue, 0, &l, err);

	for (size_t i = 0; !rc && i < l.nr; i++)
		printf("%lld %s %s %lld %s\n", (long long)l.v[i].id, l.v[i].state,
		       l.v[i].step ? l.v[i].step : "-", (long long)l.v[i].claims,
		       l.v[i].worker ? l.v[i].worker : "-");
	nsh_pgq_job_list_release(&l);
	return rc;
}

static int list_events(struct nsh_pgq *q, const char *queue, struct nsh_err *err)
{
	struct nsh_pgq_event_list ev = {0};
	int rc = nsh_pgq_events(q, 0, 0, 0, &ev, err);

	for (size_t i = 0; !rc && i < ev.nr; i++) {
		struct nsh_pgq_job j = {0};

		rc = nsh_pgq_get(q, ev.v[i].job_id, &j, err);
		if (!rc && !strcmp(j.queue, queue))
			printf("%lld %s %s %s\n", (long long)ev.v[i].job_id, ev.v[i].kind,
			       ev.v[i].data ? ev.v[i].data : "-",
			       ev.v[i].worker ? ev.v[i].worker : "-");
		nsh_pgq_job_release(&j);
	}
	nsh_pgq_event_list_release(&ev);
	return rc;
}

int main(int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pgq *q = NULL;
	const char *cmd;
	int rc;

	if (argc < 4) {
		fprintf(stderr,
			"usage: nsh-test-pgq URL enqueue|work|listen|jobs|events QUEUE ...\n");
		return 2;
	}
	cmd = argv[2];
	if (nsh_pgq_open(argv[1], &q, &err))
		return fail(&err);
	if (!strcmp(cmd, "enqueue") && argc == 5) {
		long long n = num(argv[4]);
		char payload[32];

		rc = 0;
		for (long long i = 1; !rc && i <= n; i++) {
			snprintf(payload, sizeof(payload), "job-%lld", i);
			rc = nsh_pgq_enqueue(q, argv[3], payload, NULL, &err);
		}
	} else if (!strcmp(cmd, "work") && (argc == 7 || argc == 8)) {
		rc = work(q, argv[3], argv[4], num(argv[5]), num(argv[6]),
			  argc == 8 ? num(argv[7]) : 0, &err);
	} else if (!strcmp(cmd, "listen") && argc == 6) {
		rc = listen_once(q, argv[3], argv[4], num(argv[5]), &err);
	} else if (!strcmp(cmd, "jobs") && argc == 4) {
		rc = list_jobs(q, argv[3], &err);
	} else if (!strcmp(cmd, "events") && argc == 4) {
		rc = list_events(q, argv[3], &err);
	} else {
		fprintf(stderr, "nsh-test-pgq: bad usage of '%s'\n", cmd);
		nsh_pgq_close(q);
		return 2;
	}
	nsh_pgq_close(q);
	return rc ? fail(&err) : 0;
}
