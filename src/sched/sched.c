/*
 * The scheduler; see sched.h. Threads: the caller's (main: heartbeat,
 * claiming, watching task states), one per task it drives (planning, then
 * waiting for the task's jobs) and max_sandboxes job threads that take jobs
 * from one FIFO. Shared state (the task slots, the queue, registered
 * sandboxes) is guarded by one mutex; each thread has its own store handle.
 */
#include "sched/sched.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fault.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "core/vec.h"
#include "sandbox/sandbox.h"
#include "store/limits.h"
#include "store/store.h"

#include "core/banned.h"

#define DEFAULT_SANDBOXES 10
#define WAIT_SLICE_MS	  200 /* longest wait on the condition before looking again */

/* A task this worker drives. */
struct task_slot {
	char id[NSH_ID_MAX];
	int64_t created_ms;	   /* for the FIFO order */
	enum nsh_task_state state; /* as last seen by the main thread */
	bool lost;		   /* another worker took it over: hands off */
	bool helper;		   /* another worker drives it; this one runs some of its jobs */
	bool done;		   /* its thread has returned */
	pthread_t thread;
	int64_t started_ms;	    /* when its duration started (wall clock) */
	int64_t job_est_ms;	    /* estimated duration of one of its jobs */
	bool est_dirty;		    /* @job_est_ms needs a fresh look at the store */
	int queued;		    /* its jobs waiting in the queue */
	int running;		    /* its jobs on job threads */
	struct nsh_job_run *active; /* its running jobs (sandbox registry) */
	struct nsh_sched *sched;    /* back pointer for the thread */
	struct task_slot *next;	    /* in sched->tasks */
};

/* A queued job. */
struct qitem {
	char job_id[NSH_ID_MAX];
	struct task_slot *ts; /* its task */
	int64_t position;     /* plan order within the task */
	int64_t announced;    /* queue position last announced (1 first); 0 none */
	struct qitem *next;   /* FIFO: older tasks first, then plan order */
};

struct nsh_sched {
	struct nsh_sched_config cfg;
	char worker[NSH_ID_MAX];
	char host[256];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct task_slot *tasks;
	struct qitem *queue;
	pthread_t *pool;
	int npool;
	atomic_int stop;
	struct nsh_limits limits;   /* for tasks that recorded none */
	struct waiting_task *waits; /* tasks waiting for a slot, as last announced */
	size_t nwaits, waits_alloc;
};

/* A task that waits for a task slot, with the position last announced. */
struct waiting_task {
	char id[NSH_ID_MAX];
	int64_t position; /* 1: next to start */
};

struct nsh_task_run {
	struct task_slot *ts;
	struct nsh_store *st;
	struct nsh_task_rec task;
};

struct nsh_job_run {
	struct nsh_sched *sched;
	struct task_slot *ts;
	struct nsh_store *st;
	struct nsh_job_rec job;
	struct nsh_task_rec task;
	int64_t attempt;
	char *goto_name;	     /* set by nsh_job_run_goto() */
	bool goto_new_attempt;	     /* ... with a new attempt */
	bool finish;		     /* set by nsh_job_run_finish() */
	enum nsh_job_state final;    /* ... to this state */
	char *reason;		     /* ... with this reason */
	struct nsh_sandbox *sb;	     /* registered sandbox, guarded by sched->mu */
	int64_t started_ms;	     /* when it took its job thread (wall clock) */
	int64_t disk;		     /* workspace bytes at the last measure; -1 none */
	struct nsh_limits limits;    /* its task's */
	void *data;		     /* the pipeline's */
	struct nsh_job_run *next_on; /* in ts->active */
	bool lost_run;		     /* another worker claimed the job's run: hands off */
};

/* ---- small helpers ---- */

static bool stopping(struct nsh_sched *s)
{
	return atomic_load(&s->stop) != 0;
}

/* Wait on the scheduler's condition for at most @ms; s->mu held. */
static void cond_wait_ms(struct nsh_sched *s, int64_t ms)
{
	struct timespec ts = nsh_time_deadline(CLOCK_REALTIME, ms);

	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* Heartbeats older than this are of dead workers: their tasks and jobs are free. */
static int64_t alive_since(void)
{
	return nsh_time_now_ms() - NSH_SCHED_LEASE_MS;
}

/* A "task.claimed" or "job.claimed" event naming this worker and its host. */
static void claimed_event(struct nsh_sched *s, struct nsh_store *st, const char *task_id,
			  const char *job_id, const char *kind)
{
	json_t *ev = json_pack("{s:s, s:s}", "worker", s->worker, "host", s->host);

	nsh_event_append(st, task_id, job_id, kind, ev, NULL, NULL);
	json_decref(ev);
}

static bool worker_taken(const char *id, void *ctx)
{
	struct nsh_worker_rec w = {0};
	bool taken = nsh_store_worker_get(ctx, id, &w, NULL) == 0;

	nsh_worker_rec_release(&w);
	return taken;
}

/* Whether task @ts stops its jobs: ended other than completed, or no longer ours. */
static bool task_halts(const struct task_slot *ts)
{
	return ts->lost || (nsh_task_state_final(ts->state) && ts->state != NSH_TASK_COMPLETED);
}

/*
 * Whether task @ts takes no more work: it halts, or it expired (its running
 * jobs finish their step and stop at the boundary; sandboxes are not killed).
 */
static bool task_ends(const struct task_slot *ts)
{
	return task_halts(ts) || ts->state == NSH_TASK_EXPIRED;
}

/* Apply @fn to every sandbox registered by the jobs of @ts; s->mu held. */
static void each_sandbox(struct task_slot *ts, int (*fn)(struct nsh_sandbox *, struct nsh_err *))
{
	for (struct nsh_job_run *jr = ts->active; jr; jr = jr->next_on) {
		struct nsh_err err = NSH_ERR_INIT;

		if (jr->sb && fn(jr->sb, &err))
			nsh_log_warn("task %s: %s", ts->id, err.msg);
	}
}

/* ---- the queue ---- */

/*
 * Queue the busy jobs of @ts that no live worker runs, in plan order; their
 * count goes to *@ret_n. s->mu not held.
 */
static int enqueue_jobs(struct nsh_sched *s, struct nsh_store *st, struct task_slot *ts,
			size_t *ret_n, struct nsh_err *err)
{
	struct nsh_job_list jobs = {0};
	struct nsh_strvec free_ids = NSH_STRVEC_INIT;
	int rc;

	*ret_n = 0;
	rc = nsh_store_job_list(st, ts->id, &jobs, err);
	if (!rc)
		rc = nsh_store_job_free(st, ts->id, alive_since(), &free_ids, err);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < jobs.nr; i++) {
		struct qitem *q, **pp;

		/* busy, and run by no live worker (this one included) */
		if (nsh_strvec_find(&free_ids, jobs.v[i].id) < 0)
			continue;
		q = nsh_xcalloc(1, sizeof(*q));
		snprintf(q->job_id, sizeof(q->job_id), "%s", jobs.v[i].id);
		q->ts = ts;
		q->position = jobs.v[i].position;
		/* insert after every item of an older task or an earlier position */
		for (pp = &s->queue; *pp; pp = &(*pp)->next) {
			const struct qitem *o = *pp;

			if (o->ts->created_ms > ts->created_ms ||
			    (o->ts == ts && o->position > q->position))
				break;
		}
		q->next = *pp;
		*pp = q;
		ts->queued++;
		(*ret_n)++;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
out:
	nsh_job_list_release(&jobs);
	nsh_strvec_release(&free_ids);
	return rc;
}

/* Take the first job whose task is neither paused nor halting; s->mu held. */
static struct qitem *dequeue(struct nsh_sched *s)
{
	for (struct qitem **pp = &s->queue; *pp; pp = &(*pp)->next) {
		struct qitem *q = *pp;

		if (q->ts->state == NSH_TASK_PAUSED)
			continue;
		*pp = q->next;
		q->ts->queued--;
		q->ts->running++;
		return q;
	}
	return NULL;
}

/* Drop the queued jobs of @ts (it halts, or none of its jobs is free); s->mu held. */
static void drop_queued(struct nsh_sched *s, struct task_slot *ts)
{
	struct qitem **pp = &s->queue;

	while (*pp) {
		struct qitem *q = *pp;

		if (q->ts == ts) {
			*pp = q->next;
			ts->queued--;
			free(q);
		} else {
			pp = &q->next;
		}
	}
}

/* ---- running one job ---- */

/* Fault point "step.NAME.WHEN" (core/fault.h). */
static void fault_at(const char *name, const char *when)
{
	char point[96];

	snprintf(point, sizeof(point), "step.%s.%s", name, when);
	nsh_fault(point);
}

static long step_index(const struct nsh_pipeline *p, const char *name)
{
	for (size_t i = 0; name && i < p->nsteps; i++)
		if (!strcmp(p->steps[i].name, name))
			return (long)i;
	return -1;
}

/*
 * Checkpoint the job when its task asked for it at @asked_ms and the job
 * has not since: the pipeline saves the work so far. A failure is an event
 * (the work goes on; the job stays as it is) and is not tried again for
 * the same request.
 */
static void checkpoint(struct nsh_job_run *jr, int64_t asked_ms)
{
	const struct nsh_pipeline *p = jr->sched->cfg.pipeline;
	struct nsh_job_limits_rec jl = {0};
	struct nsh_err err = NSH_ERR_INIT;

	if (!p->checkpoint || !asked_ms ||
	    nsh_store_job_limits_get(jr->st, jr->job.id, &jl, NULL) ||
	    jl.checkpointed_ms >= asked_ms)
		return;
	if (p->checkpoint(jr, &err)) {
		json_t *ev = json_pack("{s:s}", "error", err.msg);

		nsh_job_run_event(jr, "job.checkpoint_failed", ev, NULL);
		json_decref(ev);
		nsh_log_warn("job %s: checkpoint: %s", jr->job.id, err.msg);
	}
	nsh_store_job_set_checkpointed(jr->st, jr->job.id, nsh_time_now_ms(), NULL);
}

/*
 * At a step boundary: checkpoint when the task asks for it (@has_work: a
 * step of the job has completed, so there is work to save), wait while the
 * task is paused; true when the job must stop (task halted or expired,
 * taken over, scheduler stopping). The task's state is read from the store
 * here, so a request committed before the boundary is obeyed even if the
 * main thread has not seen it yet.
 */
static bool boundary(struct nsh_job_run *jr, bool has_work)
{
	for (;;) {
		struct nsh_task_rec t = {0};
		struct nsh_task_limits_rec tl = {0};
		enum nsh_task_state state = NSH_TASK_RUNNING;
		bool ended;

		if (!nsh_store_task_get(jr->st, jr->job.task_id, &t, NULL))
			nsh_task_state_parse(t.state, &state, NULL);
		nsh_task_rec_release(&t);
		if (has_work && !nsh_job_run_stopping(jr) &&
		    !nsh_store_task_limits_get(jr->st, jr->job.task_id, &tl, NULL))
			checkpoint(jr, tl.checkpoint_ms);
		nsh_task_limits_rec_release(&tl);
		ended = (nsh_task_state_final(state) && state != NSH_TASK_COMPLETED) ||
			state == NSH_TASK_EXPIRED;
		if (ended || nsh_job_run_stopping(jr))
			return true;
		if (state != NSH_TASK_PAUSED)
			return false;
		nsh_time_sleep_ms(NSH_SCHED_TICK_MS);
	}
}

/* Move the job to @to unless it is there; false when it cannot (cancelled meanwhile). */
static bool move_job(struct nsh_job_run *jr, enum nsh_job_state to, const char *reason)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_job_rec cur = {0};
	enum nsh_job_state js;
	bool ok = false;

	if (nsh_store_job_get(jr->st, jr->job.id, &cur, &err) ||
	    nsh_job_state_parse(cur.state, &js, &err))
		goto out;
	ok = js == to || !nsh_job_transition(jr->st, jr->job.id, to, reason, NULL, &err);
out:
	if (!ok && !nsh_job_run_stopping(jr))
		nsh_log_warn("job %s: %s", jr->job.id, err.msg);
	nsh_job_rec_release(&cur);
	return ok;
}

/*
 * Whether this worker still holds the run of @jr's job (in the transaction
 * that records a step): a worker whose run was claimed by another one, after
 * its heartbeat lapsed, records nothing more.
 */
static int still_runner(struct nsh_job_run *jr, struct nsh_err *err)
{
	char *runner = NULL;
	int rc;

	rc = nsh_store_job_runner(jr->st, jr->job.id, &runner, err);
	if (!rc && (!runner || strcmp(runner, jr->sched->worker)))
		rc = nsh_err_set(err, NSH_ECONFLICT, "job %s is run by worker '%s' now", jr->job.id,
				 runner ? runner : "none");
	free(runner);
	return rc;
}

/*
 * Record that step @i completed with @result, and where the job goes on:
 * the step itself, or (after a goto) the step before the target, with the
 * new attempt. One transaction, so a restart resumes exactly after it.
 */
static int record_step(struct nsh_job_run *jr, size_t i, json_t *result, int64_t elapsed_ms,
		       long target, int64_t next_attempt, struct nsh_err *err)
{
	const struct nsh_pipeline *p = jr->sched->cfg.pipeline;
	const char *name = p->steps[i].name;
	const char *resume_after = name;
	char *dump = json_dumps(result, JSON_COMPACT);
	json_t *ev;
	int rc;

	if (target >= 0)
		resume_after = target > 0 ? p->steps[target - 1].name : NULL;
	/* where the job stands in the pipeline, for progress bars: step i + 1 of nsteps */
	ev = json_pack("{s:s, s:I, s:I, s:I, s:I}", "step", name, "attempt",
		       (json_int_t)jr->attempt, "elapsed_ms", (json_int_t)elapsed_ms, "index",
		       (json_int_t)i + 1, "steps", (json_int_t)p->nsteps);
	if (!jr->finish && (target >= 0 || i + 1 < p->nsteps))
		json_object_set_new(
			ev, "next",
			json_string(p->steps[target >= 0 ? (size_t)target : i + 1].name));
	if (json_object_get(result, "summary"))
		json_object_set(ev, "summary", json_object_get(result, "summary"));
	if (jr->disk >= 0)
		json_object_set_new(ev, "disk_bytes", json_integer(jr->disk));
	rc = nsh_store_begin(jr->st, err);
	if (rc)
		goto out;
	rc = still_runner(jr, err);
	if (!rc)
		rc = nsh_store_step_put(jr->st, jr->job.task_id, jr->job.id, jr->attempt, name,
					dump, err);
	if (!rc)
		rc = nsh_store_job_set_progress(jr->st, jr->job.id, resume_after, next_attempt,
						NULL, err);
	if (!rc)
		rc = nsh_event_append(jr->st, jr->job.task_id, jr->job.id, "job.step", ev, NULL,
				      err);
	/*
	 * The end of the job is part of its last step, and so is letting its
	 * run go: a crash cannot split them.
	 */
	if (!rc && jr->finish)
		rc = nsh_job_transition(jr->st, jr->job.id, jr->final, jr->reason, NULL, err);
	if (!rc && jr->finish)
		rc = nsh_store_job_release_run(jr->st, jr->job.id, jr->sched->worker, err);
	if (!rc)
		rc = nsh_store_commit(jr->st, err);
	if (rc)
		nsh_store_rollback(jr->st);
out:
	json_decref(ev);
	free(dump);
	return rc;
}

/*
 * After step @name: measure the job's storage (recorded on the job, shown
 * with the next job.step event); over the task's storage_per_job the job
 * fails with a finding that names the quota and the step, and true is
 * returned. Where the pipeline enforces the quota, measure() says
 * NSH_ETOOBIG once a command filled it, with the finding (naming the
 * command): the job fails with that.
 */
static bool over_quota(struct nsh_job_run *jr, const char *name)
{
	const struct nsh_pipeline *p = jr->sched->cfg.pipeline;
	struct nsh_err err = NSH_ERR_INIT;
	uint64_t bytes = 0, quota = jr->limits.storage_per_job;
	char q[32], used[32];
	char *finding;
	json_t *ev;
	int rc;

	if (!p->measure)
		return false;
	rc = p->measure(jr, &bytes, &err);
	if (rc == NSH_ETOOBIG) {
		/* enforced: a command of the step filled the workspace's file system */
		finding = nsh_xstrdup(err.msg);
		goto fail;
	}
	if (rc) {
		nsh_log_warn("job %s: storage: %s", jr->job.id, err.msg);
		return false;
	}
	/* a step that left the figure as it was writes nothing */
	if (jr->disk != (int64_t)bytes)
		nsh_store_job_set_disk(jr->st, jr->job.id, (int64_t)bytes, NULL);
	jr->disk = (int64_t)bytes;
	if (!quota || bytes <= quota)
		return false;
	nsh_limits_fmt_bytes(quota, q, sizeof(q));
	nsh_limits_fmt_bytes(bytes, used, sizeof(used));
	finding = nsh_xasprintf("storage quota of %s reached while running the '%s' step (the "
				"workspace holds %s)",
				q, name, used);
fail:
	ev = json_pack("{s:s, s:I, s:s, s:b}", "step", name, "quota", (json_int_t)quota, "message",
		       finding, "enforced", rc == NSH_ETOOBIG);
	if (rc != NSH_ETOOBIG)
		json_object_set_new(ev, "disk_bytes", json_integer((json_int_t)bytes));
	nsh_job_run_event(jr, "job.storage_exceeded", ev, NULL);
	json_decref(ev);
	move_job(jr, NSH_JOB_FAILED, finding);
	free(finding);
	return true;
}

/* Tell the pipeline where step @i's time went (@mark: start, run, measure, record, end). */
static void step_timed(struct nsh_job_run *jr, long i, const int64_t *mark, int nmarks)
{
	const struct nsh_pipeline *p = jr->sched->cfg.pipeline;
	int64_t d[4] = {0};
	struct nsh_step_time t;

	if (!p->step_timed)
		return;
	for (int k = 0; k + 1 < nmarks && k < 4; k++)
		d[k] = mark[k + 1] - mark[k];
	t = (struct nsh_step_time){
		.boundary_ms = d[0], .run_ms = d[1], .measure_ms = d[2], .record_ms = d[3]};
	p->step_timed(jr, p->steps[i].name, &t);
}

static void run_steps(struct nsh_job_run *jr)
{
	const struct nsh_pipeline *p = jr->sched->cfg.pipeline;
	struct nsh_err err = NSH_ERR_INIT;
	long i = step_index(p, jr->job.step) + 1; /* after the last completed step */

	while ((size_t)i < p->nsteps) {
		const struct nsh_step *step = &p->steps[i];
		long target = -1;
		int64_t mark[5], next_attempt;
		json_t *result;
		int rc;

		mark[0] = nsh_time_mono_ms();
		if (boundary(jr, i > 0))
			return;
		if (step->state != NSH_JOB_STATE_COUNT && !move_job(jr, step->state, NULL)) {
			/* a pipeline whose states the job machine refuses: end, do not spin */
			if (!nsh_job_run_stopping(jr))
				move_job(jr, NSH_JOB_FAILED,
					 "the job cannot enter this step's state");
			return;
		}
		result = json_object();
		mark[1] = nsh_time_mono_ms();
		free(jr->goto_name);
		jr->goto_name = NULL;
		jr->finish = false;
		rc = step->run(jr, result, &err);
		mark[2] = nsh_time_mono_ms();
		if (!nsh_job_run_stopping(jr) && over_quota(jr, step->name)) {
			json_decref(result);
			mark[3] = nsh_time_mono_ms();
			step_timed(jr, i, mark, 4);
			return;
		}
		mark[3] = nsh_time_mono_ms();
		if (rc) {
			json_decref(result);
			if (!nsh_job_run_stopping(jr))
				move_job(jr, NSH_JOB_FAILED, err.msg);
			step_timed(jr, i, mark, 4);
			return;
		}
		fault_at(step->name, "done");
		next_attempt = jr->attempt;
		if (jr->goto_name && !jr->finish) {
			target = step_index(p, jr->goto_name);
			if (target < 0) {
				json_decref(result);
				nsh_err_set(&err, NSH_EINVAL, "step '%s' went to unknown step '%s'",
					    step->name, jr->goto_name);
				move_job(jr, NSH_JOB_FAILED, err.msg);
				return;
			}
			if (jr->goto_new_attempt)
				next_attempt++;
		}
		rc = record_step(jr, (size_t)i, result, nsh_time_mono_ms() - mark[1], target,
				 next_attempt, &err);
		json_decref(result);
		mark[4] = nsh_time_mono_ms();
		step_timed(jr, i, mark, 5);
		if (rc) {
			if (!nsh_job_run_stopping(jr))
				nsh_log_error("job %s: %s", jr->job.id, err.msg);
			return;
		}
		fault_at(step->name, "recorded");
		if (jr->finish)
			return;
		if (target >= 0) {
			if (next_attempt != jr->attempt && !move_job(jr, NSH_JOB_RETRYING, NULL))
				return;
			jr->attempt = next_attempt;
			i = target;
		} else {
			i++;
		}
	}
	move_job(jr, NSH_JOB_FAILED, "the pipeline ended without a result");
}

/* The limits task @task_id recorded, or the scheduler's. */
static void task_limits(struct nsh_sched *s, struct nsh_store *st, const char *task_id,
			struct nsh_limits *ret)
{
	struct nsh_task_limits_rec r = {0};
	json_t *v = NULL;

	*ret = s->limits;
	if (!nsh_store_task_limits_get(st, task_id, &r, NULL) && r.limits)
		nsh_json_parse(r.limits, strlen(r.limits), &v, NULL);
	nsh_limits_from_json(v, &s->limits, ret);
	json_decref(v);
	nsh_task_limits_rec_release(&r);
}

static void run_job(struct nsh_sched *s, struct nsh_store *st, struct qitem *q)
{
	struct nsh_job_run *jr = nsh_xcalloc(1, sizeof(*jr));
	struct nsh_err err = NSH_ERR_INIT;
	enum nsh_job_state js;
	int64_t t0 = nsh_time_mono_ms();

	jr->sched = s;
	jr->ts = q->ts;
	jr->st = st;
	jr->started_ms = nsh_time_now_ms();
	jr->disk = -1;
	task_limits(s, st, q->ts->id, &jr->limits);
	if (nsh_store_job_get(st, q->job_id, &jr->job, &err) ||
	    nsh_store_task_get(st, q->ts->id, &jr->task, &err) ||
	    nsh_job_state_parse(jr->job.state, &js, &err)) {
		nsh_log_error("job %s: %s", q->job_id, err.msg);
		goto out;
	}
	if (!nsh_job_state_busy(js))
		goto out;
	jr->attempt = jr->job.attempt;
	pthread_mutex_lock(&s->mu);
	jr->next_on = q->ts->active;
	q->ts->active = jr;
	pthread_mutex_unlock(&s->mu);

	run_steps(jr);

	pthread_mutex_lock(&s->mu);
	for (struct nsh_job_run **pp = &q->ts->active; *pp; pp = &(*pp)->next_on) {
		if (*pp == jr) {
			*pp = jr->next_on;
			break;
		}
	}
	jr->sb = NULL;
	pthread_mutex_unlock(&s->mu);
	if (s->cfg.pipeline->job_end)
		s->cfg.pipeline->job_end(jr);
	/* for the estimates of the jobs that wait */
	nsh_store_job_add_run_ms(st, jr->job.id, nsh_time_mono_ms() - t0, NULL);
	pthread_mutex_lock(&s->mu);
	q->ts->est_dirty = true;
	pthread_mutex_unlock(&s->mu);
out:
	nsh_job_rec_release(&jr->job);
	nsh_task_rec_release(&jr->task);
	free(jr->goto_name);
	free(jr->reason);
	free(jr);
}

/*
 * A queued item stands for one free job of its task, not for that job in
 * particular: the job thread claims the run of the task's next free job in
 * plan order (one statement, nsh_store_job_claim_next()), which is @q's job
 * unless another worker took it since it was queued. Then @q takes the id
 * of the job claimed, and a queued item that named that job takes @q's old
 * one, so the queue's announcements stay about jobs still unclaimed here.
 * When nothing of the task is free, its other queued items are dropped:
 * they would find nothing either (its task thread looks again when idle).
 * A claim is a "job.claimed" event. s->mu not held.
 */
static bool claim_run(struct nsh_sched *s, struct nsh_store *st, struct qitem *q)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *id = NULL;
	bool claimed;

	if (nsh_store_job_claim_next(st, q->ts->id, s->worker, alive_since(), &id, &err)) {
		nsh_log_warn("task %s: %s", q->ts->id, err.msg);
		return false;
	}
	pthread_mutex_lock(&s->mu);
	if (!id) {
		drop_queued(s, q->ts);
	} else if (strcmp(id, q->job_id)) {
		for (struct qitem *o = s->queue; o; o = o->next) {
			if (o->ts == q->ts && !strcmp(o->job_id, id)) {
				snprintf(o->job_id, sizeof(o->job_id), "%s", q->job_id);
				o->announced = 0;
				break;
			}
		}
		snprintf(q->job_id, sizeof(q->job_id), "%s", id);
	}
	pthread_mutex_unlock(&s->mu);
	claimed = id != NULL;
	if (claimed)
		claimed_event(s, st, q->ts->id, id, "job.claimed");
	free(id);
	return claimed;
}

static void *job_thread(void *arg)
{
	struct nsh_sched *s = arg;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;

	if (nsh_store_open(s->cfg.db_path, &st, &err)) {
		nsh_log_error("job thread: %s", err.msg);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	while (!stopping(s)) {
		struct qitem *q = dequeue(s);

		if (!q) {
			cond_wait_ms(s, WAIT_SLICE_MS);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		if (claim_run(s, st, q)) {
			run_job(s, st, q);
			nsh_store_job_release_run(st, q->job_id, s->worker, NULL);
		}
		pthread_mutex_lock(&s->mu);
		q->ts->running--;
		free(q);
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	nsh_store_close(st);
	return NULL;
}

/* ---- driving one task ---- */

static int plan_task(struct nsh_sched *s, struct task_slot *ts, struct nsh_store *st,
		     struct nsh_err *err)
{
	struct nsh_task_run tr = {ts, st, {0}};
	int rc;

	rc = nsh_store_task_get(st, ts->id, &tr.task, err);
	if (rc)
		return rc;
	rc = s->cfg.pipeline->plan ? s->cfg.pipeline->plan(&tr, err) : 0;
	nsh_task_rec_release(&tr.task);
	return rc;
}

/* Whether every job of the task has stopped working; *@ret_ok: one did not fail. */
static int jobs_settled(struct nsh_store *st, const char *task_id, bool *ret_settled, bool *ret_ok,
			struct nsh_err *err)
{
	struct nsh_job_list jobs = {0};
	int rc;

	*ret_settled = true;
	*ret_ok = false;
	rc = nsh_store_job_list(st, task_id, &jobs, err);
	for (size_t i = 0; !rc && i < jobs.nr; i++) {
		enum nsh_job_state js;

		rc = nsh_job_state_parse(jobs.v[i].state, &js, err);
		if (rc)
			break;
		if (nsh_job_state_busy(js))
			*ret_settled = false;
		else if (js != NSH_JOB_FAILED && js != NSH_JOB_CANCELLED)
			*ret_ok = true;
	}
	if (!rc && !jobs.nr)
		*ret_ok = true;
	nsh_job_list_release(&jobs);
	return rc;
}

static void drive_task(struct nsh_sched *s, struct task_slot *ts, struct nsh_store *st)
{
	struct nsh_err err = NSH_ERR_INIT;
	bool queued = false;

	for (;;) {
		struct nsh_task_rec t = {0};
		enum nsh_task_state state;
		bool idle, settled, ok;
		int rc;

		pthread_mutex_lock(&s->mu);
		while (!stopping(s) && !ts->lost && ts->state == NSH_TASK_PAUSED)
			cond_wait_ms(s, WAIT_SLICE_MS);
		idle = !ts->queued && !ts->running;
		if (stopping(s) || task_ends(ts))
			drop_queued(s, ts);
		pthread_mutex_unlock(&s->mu);
		if (stopping(s) || ts->lost)
			return;
		rc = nsh_store_task_get(st, ts->id, &t, &err);
		if (!rc)
			rc = nsh_task_state_parse(t.state, &state, &err);
		nsh_task_rec_release(&t);
		if (rc)
			goto fail;
		if (nsh_task_state_final(state))
			return;
		switch (state) {
		case NSH_TASK_QUEUED:
			rc = nsh_task_transition(st, ts->id, NSH_TASK_ANALYZING, NULL, NULL, &err);
			break;
		case NSH_TASK_ANALYZING:
			rc = plan_task(s, ts, st, &err);
			if (rc == NSH_SCHED_WAIT_INPUT)
				rc = nsh_task_transition(st, ts->id, NSH_TASK_WAITING_INPUT, NULL,
							 NULL, &err);
			else if (!rc)
				rc = nsh_task_transition(st, ts->id, NSH_TASK_RUNNING, NULL, NULL,
							 &err);
			else if (!stopping(s))
				rc = nsh_task_transition(st, ts->id, NSH_TASK_FAILED, err.msg, NULL,
							 &err);
			break;
		case NSH_TASK_WAITING_INPUT:
		case NSH_TASK_PAUSED:
			nsh_time_sleep_ms(NSH_SCHED_TICK_MS);
			break;
		case NSH_TASK_RUNNING:
			if (!queued) {
				size_t n;

				rc = enqueue_jobs(s, st, ts, &n, &err);
				queued = true;
				/* every busy job runs on other workers: look again later */
				if (!rc && !n)
					nsh_time_sleep_ms(NSH_SCHED_TICK_MS);
				break;
			}
			if (!idle) {
				pthread_mutex_lock(&s->mu);
				cond_wait_ms(s, WAIT_SLICE_MS);
				pthread_mutex_unlock(&s->mu);
				break;
			}
			rc = jobs_settled(st, ts->id, &settled, &ok, &err);
			if (rc)
				break;
			if (!settled) {
				queued = false; /* a job came back to work: queue it again */
				break;
			}
			nsh_fault("task.settled");
			if (ok && s->cfg.pipeline->finish) {
				struct nsh_task_run tr = {ts, st, {0}};

				rc = nsh_store_task_get(st, ts->id, &tr.task, &err);
				if (!rc)
					rc = s->cfg.pipeline->finish(&tr, &err);
				nsh_task_rec_release(&tr.task);
				if (rc) {
					if (!stopping(s))
						rc = nsh_task_transition(st, ts->id,
									 NSH_TASK_FAILED, err.msg,
									 NULL, &err);
					break;
				}
			}
			rc = nsh_task_transition(st, ts->id,
						 ok ? NSH_TASK_COMPLETED : NSH_TASK_FAILED,
						 ok ? NULL : "every job failed", NULL, &err);
			if (!rc && s->cfg.pipeline->task_end)
				s->cfg.pipeline->task_end(s->cfg.pipeline->ctx, st, ts->id);
			break;
		case NSH_TASK_COMPLETED:
		case NSH_TASK_FAILED:
		case NSH_TASK_CANCELLED:
		case NSH_TASK_EXPIRED:
		case NSH_TASK_STATE_COUNT:
			return;
		}
		if (rc && rc != NSH_ECONFLICT)
			goto fail;
		/* NSH_ECONFLICT: the state moved under us (a control request); look again */
	}
fail:
	if (!stopping(s))
		nsh_log_error("task %s: %s", ts->id, err.msg);
}

/*
 * Help with task @ts, which another worker drives: queue its jobs that no
 * live worker runs, as long as it is running and has such jobs. Planning,
 * the deadline and settling the task stay with its owner.
 */
static void help_task(struct nsh_sched *s, struct task_slot *ts, struct nsh_store *st)
{
	for (;;) {
		struct nsh_err err = NSH_ERR_INIT;
		size_t n = 0;
		bool idle, over;

		pthread_mutex_lock(&s->mu);
		while (!stopping(s) && ts->state == NSH_TASK_PAUSED)
			cond_wait_ms(s, WAIT_SLICE_MS);
		idle = !ts->queued && !ts->running;
		over = stopping(s) || ts->state != NSH_TASK_RUNNING;
		if (over)
			drop_queued(s, ts);
		else if (!idle)
			cond_wait_ms(s, WAIT_SLICE_MS);
		pthread_mutex_unlock(&s->mu);
		if (over)
			return;
		if (!idle)
			continue;
		if (enqueue_jobs(s, st, ts, &n, &err)) {
			nsh_log_warn("task %s: %s", ts->id, err.msg);
			return;
		}
		if (!n)
			return; /* nothing left to help with; the main thread looks again */
	}
}

static void *task_thread(void *arg)
{
	struct task_slot *ts = arg;
	struct nsh_sched *s = ts->sched;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;

	if (nsh_store_open(s->cfg.db_path, &st, &err))
		nsh_log_error("task %s: %s", ts->id, err.msg);
	else if (ts->helper)
		help_task(s, ts, st);
	else
		drive_task(s, ts, st);
	/* wait for the task's jobs to leave the job threads */
	pthread_mutex_lock(&s->mu);
	drop_queued(s, ts);
	while (ts->running)
		cond_wait_ms(s, WAIT_SLICE_MS);
	ts->done = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	nsh_store_close(st);
	return NULL;
}

/* ---- the main thread ---- */

/*
 * Forget the workers of this host whose process is gone (killed, crashed):
 * their tasks are free at once instead of after the lease.
 */
static void reap_dead_workers(struct nsh_sched *s, struct nsh_store *st)
{
	struct nsh_worker_list l = {0};

	if (nsh_store_worker_list(st, &l, NULL))
		return;
	for (size_t i = 0; i < l.nr; i++) {
		const struct nsh_worker_rec *w = &l.v[i];

		if (strcmp(w->id, s->worker) && !strcmp(w->host, s->host) && w->pid > 0 &&
		    kill((pid_t)w->pid, 0) < 0 && errno == ESRCH)
			nsh_store_worker_remove(st, w->id, NULL);
	}
	nsh_worker_list_release(&l);
}

/* ---- limits: the start of a task's duration, its deadline, the queues ---- */

/*
 * Record the limits task @id runs under and its deadline, the first time
 * a worker starts it (a "task.started" event); returns when its duration
 * started.
 */
static int64_t start_limits(struct nsh_sched *s, struct nsh_store *st, const char *id)
{
	struct nsh_task_limits_rec r = {0};
	json_t *lj = nsh_limits_to_json(&s->limits);
	char *text = json_dumps(lj, JSON_COMPACT);
	int64_t now = nsh_time_now_ms(), started = now;
	bool first = false;

	nsh_store_task_limits_start(st, id, text, now, now + s->limits.task_duration_ms, &first,
				    NULL);
	if (!nsh_store_task_limits_get(st, id, &r, NULL)) {
		started = r.started_ms ? r.started_ms : now;
		if (first) {
			char iso[NSH_TIME_ISO_MAX];
			json_t *ev =
				json_pack("{s:s, s:O, s:I, s:s}", "plan", s->limits.plan, "limits",
					  lj, "deadline_ms", (json_int_t)r.deadline_ms, "deadline",
					  nsh_time_iso8601(r.deadline_ms, iso));

			nsh_event_append(st, id, NULL, "task.started", ev, NULL, NULL);
			json_decref(ev);
		}
	}
	nsh_task_limits_rec_release(&r);
	free(text);
	json_decref(lj);
	return started;
}

/*
 * The deadline of task @id (in @state, as the store has it now): the 80%
 * and 95% warnings once each, the checkpoint request at the checkpoint
 * mark, expiry at the deadline. True when it expired the task here.
 */
static bool check_deadline(struct nsh_sched *s, struct nsh_store *st, const char *id,
			   enum nsh_task_state state)
{
	static const int marks[] = {80, 95};
	struct nsh_task_limits_rec r = {0};
	struct nsh_limits lim;
	json_t *lj = NULL;
	int64_t now = nsh_time_now_ms(), start, span;
	char left[32], iso[NSH_TIME_ISO_MAX];
	bool expired = false;

	if (nsh_task_state_final(state) || state == NSH_TASK_EXPIRED ||
	    nsh_store_task_limits_get(st, id, &r, NULL) || !r.deadline_ms)
		goto out;
	if (r.limits)
		nsh_json_parse(r.limits, strlen(r.limits), &lj, NULL);
	nsh_limits_from_json(lj, &s->limits, &lim);
	start = r.started_ms ? r.started_ms : r.created_ms;
	span = r.deadline_ms > start ? r.deadline_ms - start : 1;
	nsh_time_iso8601(r.deadline_ms, iso);
	nsh_limits_fmt_duration(r.deadline_ms - now, left, sizeof(left));
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		json_t *ev;
		char *msg;

		if (r.warned >= marks[i] || (now - start) * 100 < span * marks[i])
			continue;
		msg = nsh_xasprintf("%d%% of the task's time is used: %s left until the deadline "
				    "(%s); unfinished work is checkpointed before it, and "
				    "'nightshift extend %s DURATION' gives more time",
				    marks[i], now < r.deadline_ms ? left : "no time", iso, id);
		ev = json_pack("{s:i, s:I, s:I, s:s, s:s}", "percent", marks[i], "left_ms",
			       (json_int_t)(r.deadline_ms > now ? r.deadline_ms - now : 0),
			       "deadline_ms", (json_int_t)r.deadline_ms, "deadline", iso, "message",
			       msg);
		nsh_event_append(st, id, NULL, "task.deadline_warning", ev, NULL, NULL);
		nsh_store_task_set_warned(st, id, marks[i], NULL);
		r.warned = marks[i];
		json_decref(ev);
		free(msg);
	}
	if (!r.checkpoint_ms && now >= nsh_limits_checkpoint_at(&lim, start, r.deadline_ms)) {
		json_t *ev = json_pack("{s:I, s:s, s:s}", "deadline_ms", (json_int_t)r.deadline_ms,
				       "deadline", iso, "message",
				       "checkpointing every unfinished job before the deadline");

		nsh_store_task_set_checkpoint(st, id, now, NULL);
		nsh_event_append(st, id, NULL, "task.checkpoint", ev, NULL, NULL);
		json_decref(ev);
	}
	if (now >= r.deadline_ms) {
		char dur[32], *reason;

		nsh_limits_fmt_duration(span, dur, sizeof(dur));
		reason = nsh_xasprintf("the deadline passed (%s after the start, plan %s); "
				       "'nightshift extend %s DURATION' continues it",
				       dur, lim.plan, id);
		if (!nsh_store_begin(st, NULL)) {
			if (!nsh_task_transition(st, id, NSH_TASK_EXPIRED, reason, NULL, NULL) &&
			    !nsh_store_task_set_expired(st, id, now, NULL) &&
			    !nsh_store_commit(st, NULL))
				expired = true;
			else
				nsh_store_rollback(st);
		}
		free(reason);
	}
out:
	json_decref(lj);
	nsh_task_limits_rec_release(&r);
	return expired;
}

/* The median of @n sorted values; @def when there are none. */
static int64_t median(const int64_t *v, size_t n, int64_t def)
{
	if (!n)
		return def;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Bring the job estimates of the tasks driven here up to date: the median
 * run time of the task's ended jobs, else of its recipe's, else the
 * configured job_estimate.
 */
static void refresh_estimates(struct nsh_sched *s, struct nsh_store *st)
{
	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next) {
		struct nsh_task_limits_rec r = {0};
		int64_t *v = NULL, est = s->limits.job_estimate_ms;
		size_t n = 0;

		if (!ts->est_dirty || ts->done)
			continue;
		ts->est_dirty = false;
		pthread_mutex_unlock(&s->mu);
		if (!nsh_store_task_limits_get(st, ts->id, &r, NULL) &&
		    !nsh_store_job_durations(st, ts->id, r.recipe, &v, &n, NULL))
			est = median(v, n, est);
		free(v);
		nsh_task_limits_rec_release(&r);
		pthread_mutex_lock(&s->mu);
		ts->job_est_ms = est;
	}
	pthread_mutex_unlock(&s->mu);
}

/* Index of the smallest of @n values. */
static size_t min_slot(const int64_t *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 1; i < n; i++)
		if (v[i] < v[k])
			k = i;
	return k;
}

/* Append a "*.queued" event with the position and the estimated start. */
static void queued_event(struct nsh_store *st, const char *task_id, const char *job_id,
			 int64_t position, int64_t start_ms, const char *what)
{
	char iso[NSH_TIME_ISO_MAX];
	json_t *ev =
		json_pack("{s:I, s:I, s:I, s:s}", "position", (json_int_t)position, "ahead",
			  (json_int_t)(position - 1), "estimated_start_ms", (json_int_t)start_ms,
			  "estimated_start", nsh_time_iso8601(start_ms, iso));
	char *msg = nsh_xasprintf("waiting for %s: position %lld, estimated start %s", what,
				  (long long)position, iso);

	json_object_set_new(ev, "message", json_string(msg));
	nsh_event_append(st, task_id, job_id, job_id ? "job.queued" : "task.queued", ev, NULL,
			 NULL);
	json_decref(ev);
	free(msg);
}

/*
 * The tasks in @waiting (oldest first) wait for one of concurrent_tasks
 * slots. When the line changed, each task whose position changed gets a
 * "task.queued" event. Estimate: a running task ends when its jobs have
 * run (the job estimate times its jobs over the sandboxes, less the time
 * since it started); a waiting task takes the first slot to free and holds
 * it for one job estimate.
 */
static void announce_tasks(struct nsh_sched *s, struct nsh_store *st,
			   const struct nsh_strvec *waiting)
{
	size_t nslots = (size_t)s->limits.concurrent_tasks, k = 0;
	int64_t *slots, now = nsh_time_now_ms();
	struct waiting_task *old = s->waits;
	size_t nold = s->nwaits;
	bool changed = waiting->nr != nold;

	for (size_t i = 0; !changed && i < waiting->nr; i++)
		changed = strcmp(old[i].id, waiting->v[i]) != 0;
	if (!changed)
		return;
	slots = nsh_xcalloc(nslots, sizeof(*slots));
	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts && k < nslots; ts = ts->next) {
		int64_t njobs = ts->queued + ts->running, rounds, left;

		if (ts->done)
			continue;
		rounds = (njobs + s->cfg.max_sandboxes - 1) / s->cfg.max_sandboxes;
		left = ts->job_est_ms * (rounds > 1 ? rounds : 1) - (now - ts->started_ms);
		slots[k++] = left > 0 ? left : 0;
	}
	pthread_mutex_unlock(&s->mu);
	s->waits = NULL;
	s->nwaits = s->waits_alloc = 0;
	for (size_t i = 0; i < waiting->nr; i++) {
		size_t m = min_slot(slots, nslots);
		int64_t start = slots[m], before = 0;
		struct waiting_task *w;

		slots[m] += s->limits.job_estimate_ms;
		for (size_t j = 0; j < nold; j++)
			if (!strcmp(old[j].id, waiting->v[i]))
				before = old[j].position;
		NSH_ALLOC_GROW(s->waits, s->nwaits + 1, s->waits_alloc);
		w = &s->waits[s->nwaits++];
		snprintf(w->id, sizeof(w->id), "%s", waiting->v[i]);
		w->position = (int64_t)i + 1;
		if (before != w->position)
			queued_event(st, w->id, NULL, w->position, now + start, "a task slot");
	}
	free(old);
	free(slots);
}

/* A job whose queue position changed, to announce outside the lock. */
struct job_ann {
	char job[NSH_ID_MAX];
	char task[NSH_ID_MAX];
	int64_t position, start_ms;
};

/*
 * Each queued job whose position in the job queue changed gets a
 * "job.queued" event. Estimate: each of max_sandboxes job threads frees
 * when its job has run for its task's job estimate; a queued job takes the
 * first to free and holds it for its task's job estimate.
 */
static void announce_jobs(struct nsh_sched *s, struct nsh_store *st)
{
	size_t nslots = (size_t)s->cfg.max_sandboxes, k = 0, nann = 0, alloc = 0;
	int64_t *slots = nsh_xcalloc(nslots, sizeof(*slots)), now = nsh_time_now_ms(), pos = 0;
	struct job_ann *ann = NULL;

	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next) {
		for (struct nsh_job_run *jr = ts->active; jr && k < nslots; jr = jr->next_on) {
			int64_t left = ts->job_est_ms - (now - jr->started_ms);

			slots[k++] = left > 0 ? left : 0;
		}
	}
	for (struct qitem *q = s->queue; q; q = q->next) {
		size_t m = min_slot(slots, nslots);
		int64_t start = slots[m];

		slots[m] += q->ts->job_est_ms;
		/* the owner announces a task's jobs; a helper's queue is its own business */
		if (q->announced == ++pos || q->ts->helper)
			continue;
		q->announced = pos;
		NSH_ALLOC_GROW(ann, nann + 1, alloc);
		snprintf(ann[nann].job, sizeof(ann[nann].job), "%s", q->job_id);
		snprintf(ann[nann].task, sizeof(ann[nann].task), "%s", q->ts->id);
		ann[nann].position = pos;
		ann[nann++].start_ms = now + start;
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < nann; i++)
		queued_event(st, ann[i].task, ann[i].job, ann[i].position, ann[i].start_ms,
			     "a sandbox");
	free(ann);
	free(slots);
}

/* Whether a slot (an owner's; or any, with @any_kind) of task @id is here. */
static bool has_slot(struct nsh_sched *s, const char *id, bool any_kind)
{
	bool here = false;

	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next)
		if ((any_kind || !ts->helper) && !strcmp(ts->id, id))
			here = true;
	pthread_mutex_unlock(&s->mu);
	return here;
}

/* Start @ts's thread and add it to the slots; false (nothing changed) when it fails. */
static bool start_slot(struct nsh_sched *s, struct task_slot *ts)
{
	if (pthread_create(&ts->thread, NULL, task_thread, ts))
		return false;
	pthread_mutex_lock(&s->mu);
	ts->next = s->tasks;
	s->tasks = ts;
	pthread_mutex_unlock(&s->mu);
	return true;
}

static int claim_tasks(struct nsh_sched *s, struct nsh_store *st, struct nsh_err *err)
{
	struct nsh_task_list l = {0};
	struct nsh_strvec waiting = NSH_STRVEC_INIT;
	int64_t alive = nsh_time_now_ms() - NSH_SCHED_LEASE_MS;
	int64_t active = 0, driven = 0;
	int rc;

	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next)
		active += !ts->done && !ts->helper;
	pthread_mutex_unlock(&s->mu);
	/*
	 * The limit holds across the workers sharing the store: the tasks live
	 * workers drive count (this one's too; its slots still ending count
	 * locally). Without the count, this worker's own tasks count.
	 */
	if (!nsh_store_task_driven(st, alive, &driven, NULL) && driven > active)
		active = driven;
	rc = nsh_store_task_claimable(st, s->worker, alive, 0, &l, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		const struct nsh_task_rec *t = &l.v[i];
		struct task_slot *ts;
		bool claimed = false;

		if (s->cfg.only_task && strcmp(t->id, s->cfg.only_task))
			continue;
		if (has_slot(s, t->id, false))
			continue;
		/* over the limit: it waits, in the order of the list (oldest first) */
		if (active >= s->limits.concurrent_tasks) {
			nsh_strvec_push(&waiting, t->id);
			continue;
		}
		rc = nsh_store_task_claim(st, t->id, s->worker, alive, &claimed, err);
		if (rc || !claimed)
			continue;
		active++;
		ts = nsh_xcalloc(1, sizeof(*ts));
		snprintf(ts->id, sizeof(ts->id), "%s", t->id);
		ts->created_ms = t->created_ms;
		ts->sched = s;
		ts->started_ms = start_limits(s, st, t->id);
		ts->job_est_ms = s->limits.job_estimate_ms; /* until refresh_estimates() */
		ts->est_dirty = true;
		if (nsh_task_state_parse(t->state, &ts->state, NULL))
			ts->state = NSH_TASK_QUEUED;
		claimed_event(s, st, t->id, NULL, "task.claimed");
		if (!start_slot(s, ts)) {
			nsh_store_task_release(st, t->id, s->worker, NULL);
			free(ts);
		}
	}
	nsh_task_list_release(&l);
	if (!rc)
		announce_tasks(s, st, &waiting);
	nsh_strvec_release(&waiting);
	return rc;
}

/*
 * Help with the running tasks of other live workers that have jobs nobody
 * runs: a helper slot per task queues them here too, so the job threads of
 * every worker share a task's jobs (each job's run is claimed first).
 */
static int help_tasks(struct nsh_sched *s, struct nsh_store *st, struct nsh_err *err)
{
	struct nsh_strvec ids = NSH_STRVEC_INIT;
	const char *id;
	int rc;

	rc = nsh_store_task_helpable(st, s->worker, alive_since(), &ids, err);
	nsh_vec_foreach(id, &ids) {
		struct nsh_task_rec t = {0};
		struct task_slot *ts;

		if (has_slot(s, id, true) || nsh_store_task_get(st, id, &t, NULL))
			continue;
		ts = nsh_xcalloc(1, sizeof(*ts));
		snprintf(ts->id, sizeof(ts->id), "%s", id);
		ts->created_ms = t.created_ms;
		ts->sched = s;
		ts->helper = true;
		ts->state = NSH_TASK_RUNNING;
		ts->job_est_ms = s->limits.job_estimate_ms;
		ts->est_dirty = true;
		nsh_task_rec_release(&t);
		if (!start_slot(s, ts))
			free(ts);
	}
	nsh_strvec_release(&ids);
	return rc;
}

/*
 * Whether another worker claimed the run of a job running here (this
 * worker's heartbeat lapsed): that job stops and its sandbox is killed.
 * Called without s->mu.
 */
static void watch_runs(struct nsh_sched *s, struct nsh_store *st)
{
	struct nsh_strvec ids = NSH_STRVEC_INIT, lost = NSH_STRVEC_INIT;
	const char *id;

	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next)
		for (struct nsh_job_run *jr = ts->active; jr; jr = jr->next_on)
			if (!jr->lost_run)
				nsh_strvec_push(&ids, jr->job.id);
	pthread_mutex_unlock(&s->mu);
	nsh_vec_foreach(id, &ids) {
		char *runner = NULL;

		if (!nsh_store_job_runner(st, id, &runner, NULL) && runner &&
		    strcmp(runner, s->worker))
			nsh_strvec_push(&lost, id);
		free(runner);
	}
	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next) {
		for (struct nsh_job_run *jr = ts->active; jr; jr = jr->next_on) {
			struct nsh_err err = NSH_ERR_INIT;

			if (jr->lost_run || nsh_strvec_find(&lost, jr->job.id) < 0)
				continue;
			jr->lost_run = true;
			nsh_log_warn("job %s: taken over by another worker", jr->job.id);
			if (jr->sb && nsh_sandbox_kill(jr->sb, &err))
				nsh_log_warn("job %s: %s", jr->job.id, err.msg);
		}
	}
	pthread_mutex_unlock(&s->mu);
	nsh_strvec_release(&ids);
	nsh_strvec_release(&lost);
}

/*
 * Look at the store's state of every task driven here and make the running
 * sandboxes follow it: freeze on pause, thaw on resume, kill when the task
 * halts (cancelled, failed, expired) or was taken over by another worker.
 */
static void watch_tasks(struct nsh_sched *s, struct nsh_store *st)
{
	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next) {
		struct nsh_task_rec t = {0};
		enum nsh_task_state now;
		bool lost, was_paused = ts->state == NSH_TASK_PAUSED;

		if (ts->done)
			continue;
		pthread_mutex_unlock(&s->mu);
		if (nsh_store_task_get(st, ts->id, &t, NULL) ||
		    nsh_task_state_parse(t.state, &now, NULL)) {
			nsh_task_rec_release(&t);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		/* a helper never owned the task; its owner keeps the deadline */
		lost = !ts->helper && (!t.owner || strcmp(t.owner, s->worker));
		nsh_task_rec_release(&t);
		if (!lost && !ts->helper && check_deadline(s, st, ts->id, now))
			now = NSH_TASK_EXPIRED;
		pthread_mutex_lock(&s->mu);
		ts->state = now;
		if (lost && !ts->lost) {
			ts->lost = true;
			nsh_log_warn("task %s: taken over by another worker", ts->id);
		}
		if (now == NSH_TASK_PAUSED && !was_paused && !ts->lost)
			each_sandbox(ts, nsh_sandbox_pause);
		else if (was_paused && now != NSH_TASK_PAUSED)
			each_sandbox(ts, nsh_sandbox_resume);
		if (task_halts(ts)) {
			drop_queued(s, ts);
			each_sandbox(ts, nsh_sandbox_kill);
		} else if (task_ends(ts)) {
			drop_queued(s, ts);
		}
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Join the threads of finished tasks and give them up; true when only_task ended. */
static bool reap_tasks(struct nsh_sched *s, struct nsh_store *st)
{
	bool ended = false;

	pthread_mutex_lock(&s->mu);
	for (struct task_slot **pp = &s->tasks; *pp;) {
		struct task_slot *ts = *pp;

		if (!ts->done) {
			pp = &ts->next;
			continue;
		}
		*pp = ts->next;
		pthread_mutex_unlock(&s->mu);
		pthread_join(ts->thread, NULL);
		if (!ts->lost && !ts->helper)
			nsh_store_task_release(st, ts->id, s->worker, NULL);
		if (s->cfg.only_task && !strcmp(ts->id, s->cfg.only_task))
			ended = true;
		free(ts);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return ended;
}

int nsh_sched_new(const struct nsh_sched_config *cfg, struct nsh_sched **ret, struct nsh_err *err)
{
	struct nsh_sched *s;

	if (!cfg->pipeline || !cfg->db_path)
		return nsh_err_set(err, NSH_EINVAL, "a scheduler needs a store and a pipeline");
	s = nsh_xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	if (cfg->limits)
		s->limits = *cfg->limits;
	else
		nsh_limits_plan("pro", &s->limits, NULL);
	if (s->limits.concurrent_tasks < 1)
		s->limits.concurrent_tasks = 1;
	if (s->cfg.max_sandboxes <= 0)
		s->cfg.max_sandboxes =
			cfg->limits ? (int)s->limits.concurrent_sandboxes : DEFAULT_SANDBOXES;
	if (s->cfg.max_sandboxes <= 0)
		s->cfg.max_sandboxes = DEFAULT_SANDBOXES;
	s->cfg.limits = NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (gethostname(s->host, sizeof(s->host) - 1) < 0)
		snprintf(s->host, sizeof(s->host), "localhost");
	*ret = s;
	return 0;
}

const char *nsh_sched_worker(const struct nsh_sched *s)
{
	return s->worker;
}

void nsh_sched_stop(struct nsh_sched *s)
{
	atomic_store(&s->stop, 1);
}

/* Stop everything: kill sandboxes so steps return, join every thread. */
static void shut_down(struct nsh_sched *s, struct nsh_store *st)
{
	atomic_store(&s->stop, 1);
	pthread_mutex_lock(&s->mu);
	for (struct task_slot *ts = s->tasks; ts; ts = ts->next) {
		drop_queued(s, ts);
		each_sandbox(ts, nsh_sandbox_kill);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->npool; i++)
		pthread_join(s->pool[i], NULL);
	s->npool = 0;
	while (s->tasks) {
		struct task_slot *ts = s->tasks;

		s->tasks = ts->next;
		pthread_join(ts->thread, NULL);
		/* unfinished tasks are free for the next worker at once */
		if (!ts->lost && !ts->helper)
			nsh_store_task_release(st, ts->id, s->worker, NULL);
		free(ts);
	}
	nsh_store_worker_remove(st, s->worker, NULL);
}

int nsh_sched_run(struct nsh_sched *s, struct nsh_err *err)
{
	struct nsh_store *st = NULL;
	int64_t last_beat = 0;
	int rc;

	rc = nsh_store_open(s->cfg.db_path, &st, err);
	if (rc)
		return rc;
	rc = nsh_id_new("w", worker_taken, st, s->worker, err);
	if (!rc)
		rc = nsh_store_worker_beat(st, s->worker, s->host, getpid(), err);
	if (rc)
		goto out;
	last_beat = nsh_time_mono_ms();
	reap_dead_workers(s, st);
	s->pool = nsh_xcalloc((size_t)s->cfg.max_sandboxes, sizeof(*s->pool));
	for (int i = 0; i < s->cfg.max_sandboxes; i++) {
		if (pthread_create(&s->pool[i], NULL, job_thread, s)) {
			rc = nsh_err_set(err, NSH_EIO, "cannot start a job thread");
			goto out;
		}
		s->npool++;
	}
	while (!stopping(s)) {
		int64_t now = nsh_time_mono_ms();

		if (now - last_beat >= NSH_SCHED_HEARTBEAT_MS) {
			rc = nsh_store_worker_beat(st, s->worker, s->host, getpid(), err);
			if (rc)
				break;
			last_beat = now;
		}
		refresh_estimates(s, st);
		rc = claim_tasks(s, st, err);
		if (!rc && !s->cfg.only_task)
			rc = help_tasks(s, st, err);
		if (rc)
			break;
		watch_tasks(s, st);
		watch_runs(s, st);
		announce_jobs(s, st);
		if (reap_tasks(s, st))
			break;
		if (s->cfg.only_task) {
			struct nsh_task_rec t = {0};
			bool gone = false;

			/* embedded: the task ended before we claimed it, or another worker drives
			 * it */
			if (!s->tasks && !nsh_store_task_get(st, s->cfg.only_task, &t, NULL)) {
				enum nsh_task_state ts;

				gone = !nsh_task_state_parse(t.state, &ts, NULL) &&
				       (nsh_task_state_final(ts) || ts == NSH_TASK_COMPLETED);
			}
			nsh_task_rec_release(&t);
			if (gone)
				break;
		}
		nsh_time_sleep_ms(NSH_SCHED_TICK_MS);
	}
out:
	shut_down(s, st);
	free(s->pool);
	s->pool = NULL;
	nsh_store_close(st);
	return rc;
}

void nsh_sched_free(struct nsh_sched *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->waits);
	free(s);
}

/* ---- accessors ---- */

struct nsh_store *nsh_task_run_store(struct nsh_task_run *tr)
{
	return tr->st;
}

void nsh_task_run_limits(struct nsh_task_run *tr, struct nsh_limits *ret)
{
	task_limits(tr->ts->sched, tr->st, tr->ts->id, ret);
}

const struct nsh_task_rec *nsh_task_run_task(struct nsh_task_run *tr)
{
	return &tr->task;
}

void *nsh_task_run_ctx(struct nsh_task_run *tr)
{
	return tr->ts->sched->cfg.pipeline->ctx;
}

struct nsh_store *nsh_job_run_store(struct nsh_job_run *jr)
{
	return jr->st;
}

const struct nsh_job_rec *nsh_job_run_job(struct nsh_job_run *jr)
{
	return &jr->job;
}

const struct nsh_task_rec *nsh_job_run_task(struct nsh_job_run *jr)
{
	return &jr->task;
}

int64_t nsh_job_run_attempt(struct nsh_job_run *jr)
{
	return jr->attempt;
}

void *nsh_job_run_ctx(struct nsh_job_run *jr)
{
	return jr->sched->cfg.pipeline->ctx;
}

void **nsh_job_run_data(struct nsh_job_run *jr)
{
	return &jr->data;
}

json_t *nsh_job_run_result(struct nsh_job_run *jr, int64_t attempt, const char *name)
{
	char *text = NULL;
	json_t *v = NULL;

	if (!nsh_store_step_get(jr->st, jr->job.task_id, jr->job.id, attempt, name, &text, NULL))
		v = json_loads(text, 0, NULL);
	free(text);
	return v;
}

void nsh_job_run_goto(struct nsh_job_run *jr, const char *name, bool new_attempt)
{
	free(jr->goto_name);
	jr->goto_name = nsh_xstrdup(name);
	jr->goto_new_attempt = new_attempt;
}

void nsh_job_run_finish(struct nsh_job_run *jr, enum nsh_job_state final, const char *reason)
{
	jr->finish = true;
	jr->final = final;
	free(jr->reason);
	jr->reason = reason ? nsh_xstrdup(reason) : NULL;
}

int nsh_job_run_event(struct nsh_job_run *jr, const char *kind, const json_t *data,
		      struct nsh_err *err)
{
	return nsh_event_append(jr->st, jr->job.task_id, jr->job.id, kind, data, NULL, err);
}

void nsh_job_run_set_sandbox(struct nsh_job_run *jr, struct nsh_sandbox *sb)
{
	pthread_mutex_lock(&jr->sched->mu);
	jr->sb = sb;
	/* a sandbox made while the task is paused starts frozen */
	if (sb && jr->ts->state == NSH_TASK_PAUSED)
		nsh_sandbox_pause(sb, NULL);
	pthread_mutex_unlock(&jr->sched->mu);
}

const struct nsh_limits *nsh_job_run_limits(struct nsh_job_run *jr)
{
	return &jr->limits;
}

bool nsh_job_run_stopping(struct nsh_job_run *jr)
{
	bool halt;

	pthread_mutex_lock(&jr->sched->mu);
	halt = stopping(jr->sched) || task_halts(jr->ts) || jr->lost_run;
	pthread_mutex_unlock(&jr->sched->mu);
	return halt;
}
