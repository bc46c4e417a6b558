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
#include "sandbox/sandbox.h"
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
	bool done;		   /* its thread has returned */
	pthread_t thread;
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
	void *data;		     /* the pipeline's */
	struct nsh_job_run *next_on; /* in ts->active */
};

/* ---- small helpers ---- */

static bool stopping(struct nsh_sched *s)
{
	return atomic_load(&s->stop) != 0;
}

/* Wait on the scheduler's condition for at most @ms; s->mu held. */
static void cond_wait_ms(struct nsh_sched *s, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
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

/* Queue the busy jobs of @ts in plan order; s->mu not held. */
static int enqueue_jobs(struct nsh_sched *s, struct nsh_store *st, struct task_slot *ts,
			struct nsh_err *err)
{
	struct nsh_job_list jobs = {0};
	int rc;

	rc = nsh_store_job_list(st, ts->id, &jobs, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < jobs.nr; i++) {
		struct qitem *q, **pp;
		enum nsh_job_state js;

		if (nsh_job_state_parse(jobs.v[i].state, &js, NULL) || !nsh_job_state_busy(js))
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
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	nsh_job_list_release(&jobs);
	return 0;
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

/* Drop the queued jobs of @ts (it halts); s->mu held. */
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
 * At a step boundary: wait while the task is paused; true when the job
 * must stop (task halted, taken over, scheduler stopping). The task's
 * state is read from the store here, so a request committed before the
 * boundary is obeyed even if the main thread has not seen it yet.
 */
static bool boundary(struct nsh_job_run *jr)
{
	for (;;) {
		struct nsh_task_rec t = {0};
		enum nsh_task_state state = NSH_TASK_RUNNING;
		bool ended;

		if (!nsh_store_task_get(jr->st, jr->job.task_id, &t, NULL))
			nsh_task_state_parse(t.state, &state, NULL);
		nsh_task_rec_release(&t);
		ended = nsh_task_state_final(state) && state != NSH_TASK_COMPLETED;
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
	ev = json_pack("{s:s, s:I, s:I}", "step", name, "attempt", (json_int_t)jr->attempt,
		       "elapsed_ms", (json_int_t)elapsed_ms);
	if (json_object_get(result, "summary"))
		json_object_set(ev, "summary", json_object_get(result, "summary"));
	rc = nsh_store_begin(jr->st, err);
	if (rc)
		goto out;
	rc = nsh_store_step_put(jr->st, jr->job.task_id, jr->job.id, jr->attempt, name, dump, err);
	if (!rc)
		rc = nsh_store_job_set_progress(jr->st, jr->job.id, resume_after, next_attempt,
						NULL, err);
	if (!rc)
		rc = nsh_event_append(jr->st, jr->job.task_id, jr->job.id, "job.step", ev, NULL,
				      err);
	/* the end of the job is part of its last step: a crash cannot split them */
	if (!rc && jr->finish)
		rc = nsh_job_transition(jr->st, jr->job.id, jr->final, jr->reason, NULL, err);
	if (!rc)
		rc = nsh_store_commit(jr->st, err);
	if (rc)
		nsh_store_rollback(jr->st);
out:
	json_decref(ev);
	free(dump);
	return rc;
}

static void run_steps(struct nsh_job_run *jr)
{
	const struct nsh_pipeline *p = jr->sched->cfg.pipeline;
	struct nsh_err err = NSH_ERR_INIT;
	long i = step_index(p, jr->job.step) + 1; /* after the last completed step */

	while ((size_t)i < p->nsteps) {
		const struct nsh_step *step = &p->steps[i];
		long target = -1;
		int64_t t0, next_attempt;
		json_t *result;
		int rc;

		if (boundary(jr))
			return;
		if (step->state != NSH_JOB_STATE_COUNT && !move_job(jr, step->state, NULL)) {
			/* a pipeline whose states the job machine refuses: end, do not spin */
			if (!nsh_job_run_stopping(jr))
				move_job(jr, NSH_JOB_FAILED,
					 "the job cannot enter this step's state");
			return;
		}
		result = json_object();
		t0 = nsh_time_mono_ms();
		free(jr->goto_name);
		jr->goto_name = NULL;
		jr->finish = false;
		rc = step->run(jr, result, &err);
		if (rc) {
			json_decref(result);
			if (!nsh_job_run_stopping(jr))
				move_job(jr, NSH_JOB_FAILED, err.msg);
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
		rc = record_step(jr, (size_t)i, result, nsh_time_mono_ms() - t0, target,
				 next_attempt, &err);
		json_decref(result);
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

static void run_job(struct nsh_sched *s, struct nsh_store *st, struct qitem *q)
{
	struct nsh_job_run *jr = nsh_xcalloc(1, sizeof(*jr));
	struct nsh_err err = NSH_ERR_INIT;
	enum nsh_job_state js;

	jr->sched = s;
	jr->ts = q->ts;
	jr->st = st;
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
out:
	nsh_job_rec_release(&jr->job);
	nsh_task_rec_release(&jr->task);
	free(jr->goto_name);
	free(jr->reason);
	free(jr);
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
		run_job(s, st, q);
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
		if (stopping(s) || task_halts(ts))
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
				rc = enqueue_jobs(s, st, ts, &err);
				queued = true;
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

static void *task_thread(void *arg)
{
	struct task_slot *ts = arg;
	struct nsh_sched *s = ts->sched;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *st = NULL;

	if (nsh_store_open(s->cfg.db_path, &st, &err))
		nsh_log_error("task %s: %s", ts->id, err.msg);
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

static int claim_tasks(struct nsh_sched *s, struct nsh_store *st, struct nsh_err *err)
{
	struct nsh_task_list l = {0};
	int64_t alive = nsh_time_now_ms() - NSH_SCHED_LEASE_MS;
	int rc;

	rc = nsh_store_task_claimable(st, s->worker, alive, 0, &l, err);
	for (size_t i = 0; !rc && i < l.nr; i++) {
		const struct nsh_task_rec *t = &l.v[i];
		struct task_slot *ts;
		bool mine = false, claimed = false;

		if (s->cfg.only_task && strcmp(t->id, s->cfg.only_task))
			continue;
		pthread_mutex_lock(&s->mu);
		for (ts = s->tasks; ts; ts = ts->next)
			if (!strcmp(ts->id, t->id))
				mine = true;
		pthread_mutex_unlock(&s->mu);
		if (mine)
			continue;
		rc = nsh_store_task_claim(st, t->id, s->worker, alive, &claimed, err);
		if (rc || !claimed)
			continue;
		ts = nsh_xcalloc(1, sizeof(*ts));
		snprintf(ts->id, sizeof(ts->id), "%s", t->id);
		ts->created_ms = t->created_ms;
		ts->sched = s;
		if (nsh_task_state_parse(t->state, &ts->state, NULL))
			ts->state = NSH_TASK_QUEUED;
		{
			json_t *ev = json_pack("{s:s, s:s}", "worker", s->worker, "host", s->host);

			nsh_event_append(st, t->id, NULL, "task.claimed", ev, NULL, NULL);
			json_decref(ev);
		}
		if (pthread_create(&ts->thread, NULL, task_thread, ts)) {
			nsh_store_task_release(st, t->id, s->worker, NULL);
			free(ts);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		ts->next = s->tasks;
		s->tasks = ts;
		pthread_mutex_unlock(&s->mu);
	}
	nsh_task_list_release(&l);
	return rc;
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
		lost = !t.owner || strcmp(t.owner, s->worker);
		nsh_task_rec_release(&t);
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
		if (!ts->lost)
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
	if (s->cfg.max_sandboxes <= 0)
		s->cfg.max_sandboxes = DEFAULT_SANDBOXES;
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
		if (!ts->lost)
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
		rc = claim_tasks(s, st, err);
		if (rc)
			break;
		watch_tasks(s, st);
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
	free(s);
}

/* ---- accessors ---- */

struct nsh_store *nsh_task_run_store(struct nsh_task_run *tr)
{
	return tr->st;
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

bool nsh_job_run_stopping(struct nsh_job_run *jr)
{
	bool halt;

	pthread_mutex_lock(&jr->sched->mu);
	halt = stopping(jr->sched) || task_halts(jr->ts);
	pthread_mutex_unlock(&jr->sched->mu);
	return halt;
}
