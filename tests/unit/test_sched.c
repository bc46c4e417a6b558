/*
 * Tests for sched: a pipeline of fake steps driven through the real
 * scheduler and store. Steps run on job threads, so they only record what
 * happened (atomics, a mutex-guarded log); the checks run on this thread.
 */
#include "sched/sched.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/json.h"
#include "core/time.h"
#include "pgstore.h"
#include "store/store.h"
#include "task/task.h"
#include "test.h"

#include "core/banned.h"

static char *dir;

/* What the fake pipeline does and saw; reset per test. */
struct fake {
	int njobs;			/* jobs plan() creates */
	atomic_int plans;		/* plan() calls */
	atomic_int runs[4];		/* calls per step */
	atomic_int busy;		/* steps running now */
	atomic_int busy_max;		/* most at once */
	atomic_int ends;		/* job_end() calls */
	atomic_int finishes;		/* finish() calls */
	int64_t hold_ms;		/* "work" step duration */
	atomic_int fail_verify;		/* attempts of "verify" that fail (retry) */
	bool fail_work;			/* "work" returns an error */
	bool wait_input;		/* plan() asks a question until answered */
	struct nsh_sched *stop_in_work; /* stop this scheduler from inside "work" */
	pthread_mutex_t mu;
	char order[256]; /* repos in the order "work" started */
	atomic_int gate; /* "work" waits while this is 1 */
};

static struct fake fk;

static void fake_reset(void)
{
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.mu, NULL);
	fk.njobs = 3;
}

static int fake_plan(struct nsh_task_run *tr, struct nsh_err *err)
{
	const struct nsh_task_rec *t = nsh_task_run_task(tr);
	struct nsh_store *st = nsh_task_run_store(tr);
	struct nsh_job_list jobs = {0};
	int rc;

	atomic_fetch_add(&fk.plans, 1);
	if (fk.wait_input) {
		char *answer = NULL;

		if (nsh_store_step_get(st, t->id, NULL, 0, "answer", &answer, NULL))
			return NSH_SCHED_WAIT_INPUT;
		free(answer);
	}
	/* a plan that ran before a crash made its jobs already */
	rc = nsh_store_job_list(st, t->id, &jobs, err);
	for (int i = (int)jobs.nr; !rc && i < fk.njobs; i++) {
		char repo[48], id[NSH_ID_MAX];

		snprintf(repo, sizeof(repo), "org/%.8s-%d", t->title, i);
		rc = nsh_job_create(st, t->id, repo, i, id, err);
	}
	nsh_job_list_release(&jobs);
	return rc;
}

static void busy_in(void)
{
	int now = atomic_fetch_add(&fk.busy, 1) + 1;
	int max = atomic_load(&fk.busy_max);

	while (now > max && !atomic_compare_exchange_weak(&fk.busy_max, &max, now))
		;
}

static int step_prepare(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	(void)jr;
	(void)err;
	atomic_fetch_add(&fk.runs[0], 1);
	json_object_set_new(result, "summary", json_string("prepared"));
	return 0;
}

static int step_work(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	int64_t until = nsh_time_mono_ms() + fk.hold_ms;

	atomic_fetch_add(&fk.runs[1], 1);
	busy_in();
	pthread_mutex_lock(&fk.mu);
	snprintf(fk.order + strlen(fk.order), sizeof(fk.order) - strlen(fk.order), "%s ",
		 nsh_job_run_job(jr)->repo);
	pthread_mutex_unlock(&fk.mu);
	if (fk.stop_in_work)
		nsh_sched_stop(fk.stop_in_work);
	while ((nsh_time_mono_ms() < until || atomic_load(&fk.gate)) && !nsh_job_run_stopping(jr))
		nsh_time_sleep_ms(5);
	atomic_fetch_sub(&fk.busy, 1);
	if (nsh_job_run_stopping(jr))
		return nsh_err_set(err, NSH_EFAIL, "interrupted");
	if (fk.fail_work)
		return nsh_err_set(err, NSH_EFAIL, "work failed on purpose");
	json_object_set_new(result, "attempt", json_integer(nsh_job_run_attempt(jr)));
	return 0;
}

static int step_verify(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	json_t *prev = nsh_job_run_result(jr, nsh_job_run_attempt(jr), "work");

	(void)err;
	atomic_fetch_add(&fk.runs[2], 1);
	/* the result of the earlier step of this attempt is there */
	json_object_set_new(result, "saw_work", json_boolean(prev != NULL));
	json_decref(prev);
	if (atomic_load(&fk.fail_verify) > 0) {
		atomic_fetch_sub(&fk.fail_verify, 1);
		nsh_job_run_goto(jr, "work", true);
	}
	return 0;
}

static int step_publish(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	(void)result;
	(void)err;
	atomic_fetch_add(&fk.runs[3], 1);
	nsh_job_run_finish(jr, NSH_JOB_PR_OPEN, NULL);
	return 0;
}

static int fake_finish(struct nsh_task_run *tr, struct nsh_err *err)
{
	(void)tr;
	(void)err;
	atomic_fetch_add(&fk.finishes, 1);
	return 0;
}

static void fake_end(struct nsh_job_run *jr)
{
	(void)jr;
	atomic_fetch_add(&fk.ends, 1);
}

static int step_look(struct nsh_job_run *jr, json_t *result, struct nsh_err *err)
{
	(void)jr;
	(void)result;
	(void)err;
	return 0;
}

static const struct nsh_step fake_steps[] = {
	{"prepare", NSH_JOB_PROVISIONING, step_prepare},
	{"look", NSH_JOB_RESEARCHING, step_look},
	{"work", NSH_JOB_CODING, step_work},
	{"verify", NSH_JOB_VERIFYING, step_verify},
	{"publish", NSH_JOB_VERIFYING, step_publish},
};

static const struct nsh_pipeline fake_pipeline = {
	.plan = fake_plan,
	.steps = fake_steps,
	.nsteps = sizeof(fake_steps) / sizeof(fake_steps[0]),
	.finish = fake_finish,
	.job_end = fake_end,
};

/* ---- helpers ---- */

/* A new store: a SQLite file, or a PostgreSQL database during the PostgreSQL pass. */
static char *new_db(const char *name)
{
	char *path;

	if (pgs_url)
		return pgs_new_db(name);
	path = nsh_xasprintf("%s/%s", dir, name);

	unlink(path);
	return path;
}

static void new_task(struct nsh_store *st, const char *title, char id[NSH_ID_MAX])
{
	struct nsh_task_new t = {.title = title};
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_task_create(st, &t, id, &err), 0);
}

static char *task_state(struct nsh_store *st, const char *id)
{
	struct nsh_task_rec t = {0};
	char *state = NULL;

	if (!nsh_store_task_get(st, id, &t, NULL))
		state = nsh_xstrdup(t.state);
	nsh_task_rec_release(&t);
	return state ? state : nsh_xstrdup("?");
}

/* How many jobs of @task are in @state. */
static int jobs_in(struct nsh_store *st, const char *task, const char *state)
{
	struct nsh_job_list l = {0};
	int n = 0;

	nsh_store_job_list(st, task, &l, NULL);
	for (size_t i = 0; i < l.nr; i++)
		n += !strcmp(l.v[i].state, state);
	nsh_job_list_release(&l);
	return n;
}

static int events_of(struct nsh_store *st, const char *task, const char *kind)
{
	struct nsh_event_list l = {0};
	int n = 0;

	nsh_store_events_after(st, 0, task, 0, &l, NULL);
	for (size_t i = 0; i < l.nr; i++)
		n += !strcmp(l.v[i].kind, kind);
	nsh_event_list_release(&l);
	return n;
}

/* Run a scheduler in embedded mode for @task until it returns. */
static int run_embedded(const char *db, const char *task, int slots)
{
	struct nsh_sched_config cfg = {db, slots, task, &fake_pipeline, "test"};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sched *s = NULL;
	int rc;

	rc = nsh_sched_new(&cfg, &s, &err);
	if (!rc)
		rc = nsh_sched_run(s, &err);
	if (rc)
		fprintf(stderr, "sched: %s\n", err.msg);
	nsh_sched_free(s);
	return rc;
}

/* A scheduler on its own thread, for tests that act while it runs. */
struct bg {
	struct nsh_sched *s;
	pthread_t th;
	int rc;
};

static void *bg_main(void *arg)
{
	struct bg *b = arg;

	b->rc = nsh_sched_run(b->s, NULL);
	return NULL;
}

static void bg_start(struct bg *b, const struct nsh_sched_config *cfg)
{
	CHECK_INT(nsh_sched_new(cfg, &b->s, NULL), 0);
	pthread_create(&b->th, NULL, bg_main, b);
}

static void bg_join(struct bg *b)
{
	pthread_join(b->th, NULL);
	nsh_sched_free(b->s);
}

/* Wait (at most 10 s) until @cond holds. */
#define WAIT_UNTIL(cond)                         \
 do {                                            \
  int64_t until_ = nsh_time_mono_ms() + 10000;   \
  while (!(cond) && nsh_time_mono_ms() < until_) \
   nsh_time_sleep_ms(10);                        \
  CHECK(cond);                                   \
 } while (0)

/* ---- tests ---- */

/* A task runs from queued to completed: plan, every step once per job, in order. */
static void test_task_runs_to_completion(void)
{
	_nsh_cleanup_free_ char *db = new_db("complete.db");
	struct nsh_store *st = NULL;
	struct nsh_step_list steps = {0};
	char id[NSH_ID_MAX], *state;

	fake_reset();
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "upgrade", id);
	CHECK_INT(run_embedded(db, id, 2), 0);
	state = task_state(st, id);
	CHECK_STR(state, "completed");
	free(state);
	CHECK_INT(atomic_load(&fk.plans), 1);
	for (int i = 0; i < 4; i++)
		CHECK_INT(atomic_load(&fk.runs[i]), 3);
	CHECK_INT(atomic_load(&fk.ends), 3);
	CHECK_INT(atomic_load(&fk.finishes), 1);
	CHECK_INT(jobs_in(st, id, "pr_open"), 3);
	CHECK_INT(events_of(st, id, "job.step"), 15);
	/* steps are recorded with their results, the job's progress with them */
	CHECK_INT(nsh_store_step_list(st, id, NULL, &steps, NULL), 0);
	CHECK_INT(steps.nr, 15);
	for (size_t i = 0; i < steps.nr; i++)
		if (!strcmp(steps.v[i].name, "verify"))
			CHECK(strstr(steps.v[i].result, "\"saw_work\":true") != NULL);
	nsh_step_list_release(&steps);
	/* the worker let go of the task and left */
	{
		struct nsh_task_rec t = {0};

		CHECK_INT(nsh_store_task_get(st, id, &t, NULL), 0);
		CHECK(t.owner == NULL);
		nsh_task_rec_release(&t);
	}
	nsh_store_close(st);
}

/* At most max_sandboxes jobs run at once. */
static void test_sandbox_limit(void)
{
	_nsh_cleanup_free_ char *db = new_db("limit.db");
	struct nsh_store *st = NULL;
	char a[NSH_ID_MAX];

	fake_reset();
	fk.njobs = 5;
	fk.hold_ms = 50;
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "limited", a);
	CHECK_INT(run_embedded(db, a, 2), 0);
	CHECK_INT(atomic_load(&fk.busy_max), 2);
	CHECK_INT(jobs_in(st, a, "pr_open"), 5);
	nsh_store_close(st);
}

/*
 * Waiting jobs start in FIFO order: older tasks first, then plan order,
 * even when a newer task's jobs joined the queue while an older one's
 * waited. One sandbox, so the order is strict.
 */
static void test_fifo(void)
{
	_nsh_cleanup_free_ char *db = new_db("fifo.db");
	struct nsh_sched_config cfg = {db, 1, NULL, &fake_pipeline, "test"};
	struct nsh_store *st = NULL;
	char a[NSH_ID_MAX], b[NSH_ID_MAX], *sb;
	struct bg bg = {0};

	fake_reset();
	fk.njobs = 3;
	atomic_store(&fk.gate, 1);
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "first", a);
	bg_start(&bg, &cfg);
	WAIT_UNTIL(atomic_load(&fk.busy) == 1);
	new_task(st, "second", b);
	WAIT_UNTIL((sb = task_state(st, b)) && !strcmp(sb, "running") ? (free(sb), 1)
								      : (free(sb), 0));
	nsh_time_sleep_ms(3 * NSH_SCHED_TICK_MS); /* its jobs join the queue */
	atomic_store(&fk.gate, 0);
	WAIT_UNTIL(jobs_in(st, a, "pr_open") == 3 && jobs_in(st, b, "pr_open") == 3);
	nsh_sched_stop(bg.s);
	bg_join(&bg);
	CHECK_STR(fk.order, "org/first-0 org/first-1 org/first-2 org/second-0 org/second-1 "
			    "org/second-2 ");
	nsh_store_close(st);
}

/* Queue positions: jobs of running tasks, older tasks first, plan order. */
static void test_queue_positions(void)
{
	_nsh_cleanup_free_ char *db = new_db("queue.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	char t1[NSH_ID_MAX], t2[NSH_ID_MAX], j[4][NSH_ID_MAX];
	int64_t pos = -1;

	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "one", t1);
	nsh_time_sleep_ms(5);
	new_task(st, "two", t2);
	CHECK_INT(nsh_job_create(st, t1, "o/a", 0, j[0], &err), 0);
	CHECK_INT(nsh_job_create(st, t1, "o/b", 1, j[1], &err), 0);
	CHECK_INT(nsh_job_create(st, t2, "o/c", 0, j[2], &err), 0);
	CHECK_INT(nsh_job_create(st, t2, "o/d", 1, j[3], &err), 0);
	for (int i = 0; i < 2; i++) {
		const char *t = i ? t2 : t1;

		nsh_task_transition(st, t, NSH_TASK_ANALYZING, NULL, NULL, &err);
		nsh_task_transition(st, t, NSH_TASK_RUNNING, NULL, NULL, &err);
	}
	for (int i = 0; i < 4; i++) {
		CHECK_INT(nsh_store_job_queue_position(st, j[i], &pos, &err), 0);
		CHECK_INT(pos, i);
	}
	/* a job that started leaves the queue */
	nsh_job_transition(st, j[0], NSH_JOB_PROVISIONING, NULL, NULL, &err);
	CHECK_INT(nsh_store_job_queue_position(st, j[3], &pos, &err), 0);
	CHECK_INT(pos, 2);
	nsh_store_close(st);
}

/* verify sends the job back with a new attempt; every later step runs again. */
static void test_retry_with_new_attempt(void)
{
	_nsh_cleanup_free_ char *db = new_db("retry.db");
	struct nsh_store *st = NULL;
	struct nsh_job_list l = {0};
	char id[NSH_ID_MAX];

	fake_reset();
	fk.njobs = 1;
	atomic_store(&fk.fail_verify, 2);
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "retry", id);
	CHECK_INT(run_embedded(db, id, 1), 0);
	CHECK_INT(atomic_load(&fk.runs[0]), 1); /* prepare is not redone */
	CHECK_INT(atomic_load(&fk.runs[1]), 3);
	CHECK_INT(atomic_load(&fk.runs[2]), 3);
	CHECK_INT(atomic_load(&fk.runs[3]), 1);
	CHECK_INT(nsh_store_job_list(st, id, &l, NULL), 0);
	CHECK_INT(l.nr, 1);
	if (l.nr) {
		char *r = NULL;

		CHECK_INT(l.v[0].attempt, 2);
		CHECK_STR(l.v[0].state, "pr_open");
		CHECK_INT(nsh_store_step_get(st, id, l.v[0].id, 2, "work", &r, NULL), 0);
		CHECK(r && strstr(r, "\"attempt\":2"));
		free(r);
	}
	nsh_job_list_release(&l);
	CHECK(events_of(st, id, "job.state") >= 6);
	nsh_store_close(st);
}

/* A failing step fails its job with the step's message; all failed: the task fails. */
static void test_step_failure(void)
{
	_nsh_cleanup_free_ char *db = new_db("fail.db");
	struct nsh_store *st = NULL;
	struct nsh_job_list l = {0};
	char id[NSH_ID_MAX], *state;

	fake_reset();
	fk.njobs = 2;
	fk.fail_work = true;
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "doomed", id);
	CHECK_INT(run_embedded(db, id, 2), 0);
	CHECK_INT(nsh_store_job_list(st, id, &l, NULL), 0);
	for (size_t i = 0; i < l.nr; i++) {
		CHECK_STR(l.v[i].state, "failed");
		CHECK_STR(l.v[i].error ? l.v[i].error : "", "work failed on purpose");
	}
	nsh_job_list_release(&l);
	state = task_state(st, id);
	CHECK_STR(state, "failed");
	free(state);
	CHECK_INT(atomic_load(&fk.ends), 2);
	CHECK_INT(atomic_load(&fk.finishes), 0); /* nothing to finish when every job failed */
	nsh_store_close(st);
}

/* Stopped mid-step, a job resumes after its last completed step on the next run. */
static void test_resume_after_stop(void)
{
	_nsh_cleanup_free_ char *db = new_db("resume.db");
	struct nsh_sched_config cfg = {db, 1, NULL, &fake_pipeline, "test"};
	struct nsh_store *st = NULL;
	struct nsh_sched *s = NULL;
	char id[NSH_ID_MAX], *state;

	fake_reset();
	fk.njobs = 1;
	fk.hold_ms = 10000;
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "interrupted", id);
	cfg.only_task = id;
	CHECK_INT(nsh_sched_new(&cfg, &s, NULL), 0);
	fk.stop_in_work = s;
	CHECK_INT(nsh_sched_run(s, NULL), 0);
	nsh_sched_free(s);
	/* "prepare" completed, "work" did not: the job is still at work, nobody owns the task */
	CHECK_INT(atomic_load(&fk.runs[0]), 1);
	CHECK_INT(atomic_load(&fk.runs[1]), 1);
	CHECK_INT(atomic_load(&fk.runs[2]), 0);
	CHECK_INT(jobs_in(st, id, "coding"), 1);
	state = task_state(st, id);
	CHECK_STR(state, "running");
	free(state);

	fk.stop_in_work = NULL;
	fk.hold_ms = 0;
	CHECK_INT(run_embedded(db, id, 1), 0);
	CHECK_INT(atomic_load(&fk.plans), 1); /* running: no new plan */
	CHECK_INT(atomic_load(&fk.runs[0]), 1);
	CHECK_INT(atomic_load(&fk.runs[1]), 2);
	CHECK_INT(atomic_load(&fk.runs[3]), 1);
	CHECK_INT(jobs_in(st, id, "pr_open"), 1);
	state = task_state(st, id);
	CHECK_STR(state, "completed");
	free(state);
	/* every step event once, the interrupted one included once */
	CHECK_INT(events_of(st, id, "job.step"), 5);
	nsh_store_close(st);
}

/* Pause holds the jobs at the next step; resume lets them go on; cancel ends everything. */
static void test_pause_resume_cancel(void)
{
	_nsh_cleanup_free_ char *db = new_db("control.db");
	struct nsh_sched_config cfg = {db, 2, NULL, &fake_pipeline, "test"};
	struct nsh_control_result res;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	char id[NSH_ID_MAX], *state;
	struct bg bg = {0};
	int before;

	fake_reset();
	fk.njobs = 2;
	atomic_store(&fk.gate, 1);
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "controlled", id);
	cfg.only_task = id;
	bg_start(&bg, &cfg);
	WAIT_UNTIL(atomic_load(&fk.busy) == 2);
	CHECK_INT(nsh_control_request(st, id, "pause", NULL, &res, &err), 0);
	CHECK(res.done);
	/* both jobs finish their step but start no other */
	atomic_store(&fk.gate, 0);
	WAIT_UNTIL(atomic_load(&fk.busy) == 0);
	nsh_time_sleep_ms(3 * NSH_SCHED_TICK_MS);
	before = atomic_load(&fk.runs[2]);
	CHECK_INT(before, 0);
	/* a second pause is rejected, and says why */
	CHECK_INT(nsh_control_request(st, id, "pause", NULL, &res, &err), 0);
	CHECK(!res.done);
	CHECK(strstr(res.message, "already paused") != NULL);
	CHECK_INT(nsh_control_request(st, id, "resume", NULL, &res, &err), 0);
	CHECK(res.done);
	WAIT_UNTIL(jobs_in(st, id, "pr_open") == 2);
	bg_join(&bg);
	state = task_state(st, id);
	CHECK_STR(state, "completed");
	free(state);

	/* cancel while the jobs work: they stop, the task ends cancelled */
	fake_reset();
	fk.njobs = 2;
	atomic_store(&fk.gate, 1);
	new_task(st, "cancelled", id);
	cfg.only_task = id;
	bg_start(&bg, &cfg);
	WAIT_UNTIL(atomic_load(&fk.busy) == 2);
	CHECK_INT(nsh_control_request(st, id, "cancel", NULL, &res, &err), 0);
	CHECK(res.done);
	bg_join(&bg);
	CHECK_INT(jobs_in(st, id, "cancelled"), 2);
	CHECK_INT(atomic_load(&fk.runs[2]), 0);
	state = task_state(st, id);
	CHECK_STR(state, "cancelled");
	free(state);
	/* anything on an ended task is rejected */
	CHECK_INT(nsh_control_request(st, id, "resume", NULL, &res, &err), 0);
	CHECK(!res.done);
	CHECK_INT(nsh_control_request(st, id, "jump", NULL, &res, &err), NSH_EINVAL);
	CHECK_INT(nsh_control_request(st, "t-ffffff", "pause", NULL, &res, &err), NSH_ENOTFOUND);
	nsh_store_close(st);
}

/* A task whose worker stopped beating is taken over; a live owner's is not. */
static void test_takeover(void)
{
	_nsh_cleanup_free_ char *db = new_db("takeover.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	char id[NSH_ID_MAX], *state;
	bool claimed = true;

	fake_reset();
	fk.njobs = 1;
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "orphan", id);
	CHECK_INT(nsh_store_worker_beat(st, "w-dead01", "h", 1, &err), 0);
	CHECK_INT(nsh_store_task_claim(st, id, "w-dead01", 0, &claimed, &err), 0);
	CHECK(claimed);
	/* alive: another worker cannot claim */
	CHECK_INT(
		nsh_store_task_claim(st, id, "w-other1", nsh_time_now_ms() - 3000, &claimed, &err),
		0);
	CHECK(!claimed);
	/* silent for longer than the lease: the scheduler takes it over and finishes it */
	CHECK_INT(nsh_store_worker_beat(st, "w-dead01", "h", 1, &err), 0);
	{
		int64_t t0 = nsh_time_mono_ms();

		CHECK_INT(run_embedded(db, id, 1), 0);
		CHECK(nsh_time_mono_ms() - t0 >= NSH_SCHED_LEASE_MS - 500);
	}
	state = task_state(st, id);
	CHECK_STR(state, "completed");
	free(state);
	CHECK_INT(events_of(st, id, "task.claimed"), 1);
	nsh_store_close(st);
}

/* plan() can wait for the user; an answer runs it again. */
static void test_wait_for_answer(void)
{
	_nsh_cleanup_free_ char *db = new_db("answer.db");
	struct nsh_sched_config cfg = {db, 1, NULL, &fake_pipeline, "test"};
	struct nsh_control_result res;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	char id[NSH_ID_MAX], *state;
	struct bg bg = {0};

	fake_reset();
	fk.njobs = 1;
	fk.wait_input = true;
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "ambiguous", id);
	cfg.only_task = id;
	CHECK_INT(nsh_control_request(st, id, "answer", "lodash-3-to-4", &res, &err), 0);
	CHECK(!res.done); /* not waiting yet */
	bg_start(&bg, &cfg);
	WAIT_UNTIL((state = task_state(st, id)) && !strcmp(state, "waiting_input")
			   ? (free(state), 1)
			   : (free(state), 0));
	CHECK_INT(nsh_control_request(st, id, "answer", "lodash-3-to-4", &res, &err), 0);
	CHECK(res.done);
	bg_join(&bg);
	state = task_state(st, id);
	CHECK_STR(state, "completed");
	free(state);
	CHECK_INT(atomic_load(&fk.plans), 2);
	nsh_store_close(st);
}

/* The workers that claimed the runs of @task's jobs, distinct, in @out ("w-1 w-2 "). */
static int claimers(struct nsh_store *st, const char *task, char *out, size_t size)
{
	struct nsh_event_list l = {0};
	int n = 0;

	out[0] = '\0';
	nsh_store_events_after(st, 0, task, 0, &l, NULL);
	for (size_t i = 0; i < l.nr; i++) {
		json_t *d = NULL;
		const char *w;

		if (strcmp(l.v[i].kind, "job.claimed") ||
		    nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, NULL))
			continue;
		w = json_string_value(json_object_get(d, "worker"));
		if (w && !strstr(out, w)) {
			snprintf(out + strlen(out), size - strlen(out), "%s ", w);
			n++;
		}
		json_decref(d);
	}
	nsh_event_list_release(&l);
	return n;
}

/*
 * Two workers with one sandbox each share the jobs of one task: both run a
 * job at the same time, every step of every job runs once, and the task's
 * owner settles it.
 */
static void test_workers_share_jobs(void)
{
	_nsh_cleanup_free_ char *db = new_db("share.db");
	struct nsh_sched_config cfg = {db, 1, NULL, &fake_pipeline, "test"};
	struct nsh_store *st = NULL;
	struct bg a = {0}, b = {0};
	char id[NSH_ID_MAX], who[128], *state;

	fake_reset();
	fk.njobs = 4;
	atomic_store(&fk.gate, 1);
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "shared", id);
	bg_start(&a, &cfg);
	bg_start(&b, &cfg);
	/* one job thread each: two jobs at work means both workers run one */
	WAIT_UNTIL(atomic_load(&fk.busy) == 2);
	CHECK_INT(claimers(st, id, who, sizeof(who)), 2);
	atomic_store(&fk.gate, 0);
	WAIT_UNTIL(jobs_in(st, id, "pr_open") == 4);
	WAIT_UNTIL((state = task_state(st, id)) && !strcmp(state, "completed") ? (free(state), 1)
									       : (free(state), 0));
	nsh_sched_stop(a.s);
	nsh_sched_stop(b.s);
	bg_join(&a);
	bg_join(&b);
	for (int i = 0; i < 4; i++)
		CHECK_INT(atomic_load(&fk.runs[i]), 4);
	CHECK_INT(atomic_load(&fk.plans), 1);
	CHECK_INT(atomic_load(&fk.finishes), 1);
	CHECK_INT(events_of(st, id, "job.claimed"), 4);
	CHECK_INT(events_of(st, id, "job.step"), 20);
	CHECK_INT(events_of(st, id, "task.claimed"), 1);
	/* no job is left with a runner */
	{
		struct nsh_job_list l = {0};

		nsh_store_job_list(st, id, &l, NULL);
		for (size_t i = 0; i < l.nr; i++) {
			char *runner = (char *)"?";

			CHECK_INT(nsh_store_job_runner(st, l.v[i].id, &runner, NULL), 0);
			CHECK(runner == NULL);
			free(runner);
		}
		nsh_job_list_release(&l);
	}
	nsh_store_close(st);
}

/*
 * A job's run is claimed like a task: not while its runner is alive (not
 * even by that runner again), at once when its runner is silent. A worker
 * whose run was taken stops the job and records no more steps; the job
 * goes on after its last completed step once the new runner is silent too.
 */
static void test_job_runs_are_leased(void)
{
	_nsh_cleanup_free_ char *db = new_db("runs.db");
	struct nsh_sched_config cfg = {db, 1, NULL, &fake_pipeline, "test"};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	struct nsh_job_list l = {0};
	struct nsh_strvec free_ids = NSH_STRVEC_INIT;
	char id[NSH_ID_MAX], *runner = NULL;
	int64_t alive = nsh_time_now_ms() - NSH_SCHED_LEASE_MS;
	bool claimed = false;
	struct bg bg = {0};

	fake_reset();
	fk.njobs = 1;
	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "leased", id);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_ANALYZING, NULL, NULL, &err), 0);
	CHECK_INT(nsh_job_create(st, id, "org/leased", 0, (char[NSH_ID_MAX]){0}, &err), 0);
	CHECK_INT(nsh_store_job_list(st, id, &l, &err), 0);
	CHECK_INT((long)l.nr, 1);
	CHECK_INT(nsh_store_worker_beat(st, "w-one001", "h", 1, &err), 0);
	CHECK_INT(nsh_store_job_claim_run(st, l.v[0].id, "w-one001", alive, &claimed, &err), 0);
	CHECK(claimed);
	CHECK_INT(nsh_store_job_claim_run(st, l.v[0].id, "w-one001", alive, &claimed, &err), 0);
	CHECK(!claimed);
	CHECK_INT(nsh_store_job_claim_run(st, l.v[0].id, "w-two001", alive, &claimed, &err), 0);
	CHECK(!claimed);
	CHECK_INT(nsh_store_job_free(st, id, alive, &free_ids, &err), 0);
	CHECK_INT((long)free_ids.nr, 0);
	/* silent runner: free */
	CHECK_INT(nsh_store_job_free(st, id, nsh_time_now_ms() + 1000, &free_ids, &err), 0);
	CHECK_INT((long)free_ids.nr, 1);
	CHECK_INT(nsh_store_job_claim_run(st, l.v[0].id, "w-two001", nsh_time_now_ms() + 1000,
					  &claimed, &err),
		  0);
	CHECK(claimed);
	CHECK_INT(nsh_store_job_runner(st, l.v[0].id, &runner, &err), 0);
	CHECK_STR(runner, "w-two001");
	free(runner);
	/* only the runner releases */
	CHECK_INT(nsh_store_job_release_run(st, l.v[0].id, "w-one001", &err), 0);
	CHECK_INT(nsh_store_job_runner(st, l.v[0].id, &runner, &err), 0);
	CHECK(runner != NULL);
	free(runner);
	CHECK_INT(nsh_store_job_release_run(st, l.v[0].id, "w-two001", &err), 0);
	CHECK_INT(nsh_store_job_runner(st, l.v[0].id, &runner, &err), 0);
	CHECK(runner == NULL);
	CHECK_INT(nsh_store_job_runner(st, "j-ffffff", &runner, &err), NSH_ENOTFOUND);
	/* the store's list of busy states is the task module's */
	if (!pgs_url) {
		sqlite3 *db3 = NULL;

		CHECK_INT(sqlite3_open(db, &db3), SQLITE_OK);
		sqlite3_busy_timeout(db3, 5000);
		for (int k = 0; k < NSH_JOB_STATE_COUNT; k++) {
			char *sql =
				nsh_xasprintf("UPDATE jobs SET state = '%s' WHERE id = '%s'",
					      nsh_job_state_name((enum nsh_job_state)k), l.v[0].id);

			nsh_strvec_release(&free_ids);
			CHECK_INT(sqlite3_exec(db3, sql, NULL, NULL, NULL), SQLITE_OK);
			CHECK_INT(nsh_store_job_free(st, id, alive, &free_ids, &err), 0);
			CHECK_INT((long)free_ids.nr, nsh_job_state_busy((enum nsh_job_state)k));
			free(sql);
		}
		sqlite3_close(db3);
	}
	nsh_job_list_release(&l);
	nsh_strvec_release(&free_ids);

	/* a run taken from a worker that is still at it */
	fake_reset();
	fk.njobs = 1;
	atomic_store(&fk.gate, 1);
	new_task(st, "stolen", id);
	cfg.only_task = id;
	bg_start(&bg, &cfg);
	WAIT_UNTIL(atomic_load(&fk.busy) == 1);
	CHECK_INT(nsh_store_job_list(st, id, &l, &err), 0);
	CHECK_INT(nsh_store_worker_beat(st, "w-thief1", "h", 1, &err), 0);
	CHECK_INT(nsh_store_job_claim_run(st, l.v[0].id, "w-thief1", nsh_time_now_ms() + 1000,
					  &claimed, &err),
		  0);
	CHECK(claimed);
	/* the worker notices within a tick: its step ends, nothing more is recorded */
	WAIT_UNTIL(atomic_load(&fk.busy) == 0);
	atomic_store(&fk.gate, 0);
	nsh_time_sleep_ms(5 * NSH_SCHED_TICK_MS);
	CHECK_INT(atomic_load(&fk.runs[2]), 0);
	CHECK_INT(events_of(st, id, "job.step"), 2); /* prepare and look */
	/* the thief is silent: after the lease the worker runs the job again, from "work" */
	bg_join(&bg);
	CHECK_INT(jobs_in(st, id, "pr_open"), 1);
	CHECK_INT(atomic_load(&fk.runs[0]), 1);
	CHECK_INT(atomic_load(&fk.runs[1]), 2);
	CHECK_INT(events_of(st, id, "job.step"), 5);
	CHECK_INT(events_of(st, id, "job.claimed"), 2);
	nsh_job_list_release(&l);
	nsh_store_close(st);
}

/* Claim-next on @db as @worker until nothing is free; the ids go to @ids (one thread, own handle).
 */
struct claimer {
	const char *db, *task, *worker;
	struct nsh_strvec ids;
	int rc;
};

static void *claimer_main(void *arg)
{
	struct claimer *c = arg;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	char *id = NULL;

	c->rc = nsh_store_open(c->db, &st, &err);
	if (!c->rc)
		c->rc = nsh_store_worker_beat(st, c->worker, "h", 1, &err);
	while (!c->rc) {
		c->rc = nsh_store_job_claim_next(st, c->task, c->worker,
						 nsh_time_now_ms() - NSH_SCHED_LEASE_MS, &id, &err);
		if (c->rc || !id)
			break;
		nsh_strvec_push(&c->ids, id);
		free(id);
	}
	if (c->rc)
		fprintf(stderr, "claimer %s: %s\n", c->worker, err.msg);
	nsh_store_close(st);
	return NULL;
}

/*
 * Claim-next takes the first free job of a task in plan order in one
 * statement: not a job whose runner lives (nor one the claimer runs
 * already), nor a settled one; a silent runner's job once its lease is
 * over. Two handles claiming at once never get the same job.
 */
static void test_claim_next(void)
{
	_nsh_cleanup_free_ char *db = new_db("next.db");
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;
	char id[NSH_ID_MAX], job[4][NSH_ID_MAX], *got = NULL, *runner = NULL;
	int64_t alive = nsh_time_now_ms() - NSH_SCHED_LEASE_MS;
	int64_t later;
	bool claimed = false;
	struct claimer c[2] = {{0}};
	struct nsh_job_list l = {0};
	pthread_t th[2];
	int njobs = 60, total = 0;

	CHECK_INT(nsh_store_open(db, &st, NULL), 0);
	new_task(st, "next", id);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_ANALYZING, NULL, NULL, &err), 0);
	/* created out of plan order: positions 2, 0, 3, 1 */
	CHECK_INT(nsh_job_create(st, id, "org/c", 2, job[2], &err), 0);
	CHECK_INT(nsh_job_create(st, id, "org/a", 0, job[0], &err), 0);
	CHECK_INT(nsh_job_create(st, id, "org/d", 3, job[3], &err), 0);
	CHECK_INT(nsh_job_create(st, id, "org/b", 1, job[1], &err), 0);
	CHECK_INT(nsh_store_worker_beat(st, "w-one001", "h", 1, &err), 0);
	CHECK_INT(nsh_store_worker_beat(st, "w-two001", "h", 1, &err), 0);
	/* position 1 is settled, position 0 runs on a live worker */
	CHECK_INT(nsh_job_transition(st, job[1], NSH_JOB_CANCELLED, "test", NULL, &err), 0);
	CHECK_INT(nsh_store_job_claim_run(st, job[0], "w-one001", alive, &claimed, &err), 0);
	CHECK(claimed);
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-two001", alive, &got, &err), 0);
	CHECK_STR(got, job[2]);
	free(got);
	CHECK_INT(nsh_store_job_runner(st, job[2], &runner, &err), 0);
	CHECK_STR(runner, "w-two001");
	free(runner);
	/* w-one runs position 0 and does not get it again */
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-one001", alive, &got, &err), 0);
	CHECK_STR(got, job[3]);
	free(got);
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-one001", alive, &got, &err), 0);
	CHECK(got == NULL);
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-two001", alive, &got, &err), 0);
	CHECK(got == NULL);
	CHECK_INT(nsh_store_job_claim_next(st, "t-ffffff", "w-two001", alive, &got, &err), 0);
	CHECK(got == NULL);
	/*
	 * The runners fall silent: their jobs are claimable again, in plan
	 * order. Taken now, not at the start: on a loaded machine the steps
	 * above have taken over a second (make test-pg failed so).
	 */
	later = nsh_time_now_ms() + 1000; /* every heartbeat so far is stale */
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-thr001", later, &got, &err), 0);
	CHECK_STR(got, job[0]);
	free(got);
	CHECK_INT(nsh_store_job_runner(st, job[0], &runner, &err), 0);
	CHECK_STR(runner, "w-thr001");
	free(runner);
	/* w-thr001 beats: nothing is free while all three live */
	CHECK_INT(nsh_store_worker_beat(st, "w-thr001", "h", 1, &err), 0);
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-two001", alive, &got, &err), 0);
	CHECK(got == NULL);
	/* a released job is free again */
	CHECK_INT(nsh_store_job_release_run(st, job[0], "w-thr001", &err), 0);
	CHECK_INT(nsh_store_job_claim_next(st, id, "w-two001", alive, &got, &err), 0);
	CHECK_STR(got, job[0]);
	free(got);

	/* two handles claim the jobs of another task at once */
	new_task(st, "race", id);
	CHECK_INT(nsh_task_transition(st, id, NSH_TASK_ANALYZING, NULL, NULL, &err), 0);
	CHECK_INT(nsh_store_begin(st, &err), 0);
	for (int i = 0; i < njobs; i++) {
		char repo[32];

		snprintf(repo, sizeof(repo), "org/r%d", i);
		CHECK_INT(nsh_job_create(st, id, repo, i, job[0], &err), 0);
	}
	CHECK_INT(nsh_store_commit(st, &err), 0);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct claimer){db, id, i ? "w-race02" : "w-race01", NSH_STRVEC_INIT, 0};
		pthread_create(&th[i], NULL, claimer_main, &c[i]);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(c[i].rc, 0);
		total += (int)c[i].ids.nr;
	}
	CHECK_INT(total, njobs);
	/* each job once, run by the handle that got it, in plan order per handle */
	CHECK_INT(nsh_store_job_list(st, id, &l, &err), 0);
	for (int i = 0; i < 2; i++) {
		int64_t last = -1;

		for (size_t k = 0; k < c[i].ids.nr; k++) {
			int64_t pos = -1;

			for (size_t j = 0; j < l.nr; j++)
				if (!strcmp(l.v[j].id, c[i].ids.v[k]))
					pos = l.v[j].position;
			CHECK(pos > last);
			last = pos;
			CHECK(nsh_strvec_find(&c[1 - i].ids, c[i].ids.v[k]) < 0);
			CHECK_INT(nsh_strvec_find(&c[i].ids, c[i].ids.v[k]), (long)k);
			CHECK_INT(nsh_store_job_runner(st, c[i].ids.v[k], &runner, &err), 0);
			CHECK_STR(runner, c[i].worker);
			free(runner);
		}
		nsh_strvec_release(&c[i].ids);
	}
	nsh_job_list_release(&l);
	nsh_store_close(st);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	dir = t_tmpdir();
	RUN(test_task_runs_to_completion);
	RUN(test_sandbox_limit);
	RUN(test_fifo);
	RUN(test_queue_positions);
	RUN(test_retry_with_new_attempt);
	RUN(test_step_failure);
	RUN(test_resume_after_stop);
	RUN(test_pause_resume_cancel);
	RUN(test_takeover);
	RUN(test_wait_for_answer);
	RUN(test_workers_share_jobs);
	RUN(test_job_runs_are_leased);
	RUN(test_claim_next);
	/* workers sharing jobs on PostgreSQL (a store of several machines) */
	CHECK(pgs_start() >= 0);
	if (pgs_url) {
		RUN(test_task_runs_to_completion);
		RUN(test_workers_share_jobs);
		RUN(test_job_runs_are_leased);
		RUN(test_claim_next);
		RUN(test_takeover);
	}
	pgs_stop();
	nsh_fs_remove_tree(dir, &err);
	free(dir);
	return TEST_DONE();
}
