/*
 * The journal: proxy decisions as events of a job's log (see net.h).
 *
 * The proxy thread calls nsh_net_journal_record(), which copies the
 * decision into a queue under the journal mutex and signals the writer;
 * it never touches the store, so a slow disk or a busy database cannot
 * stall the relay. The writer thread takes the whole queue at once and
 * appends it in one transaction (one event at a time when that fails, so
 * that one bad row does not cost the others).
 *
 * Bounds: at most NSH_NET_JOURNAL_QUEUE_MAX decisions wait at a time. A
 * refusal identical to one still waiting (same job, host, port, reason) is
 * merged into it (count + 1), so a sandbox that hammers a blocked host
 * costs one queue entry, not thousands of rows. Past the cap, decisions are
 * counted per job and written as one "net.dropped" event.
 *
 * Syncing: "noted" counts decisions queued or merged, "written" how many of
 * them the writer has finished; a sync waits for written to reach the
 * value noted had when it started.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "secrets/secrets.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define TEXT_MAX (64 * 1024) /* redacted host or reason */

enum entry_kind {
	E_BLOCKED,
	E_ALLOWED,
	E_DROPPED,
};

/* One event waiting to be written. */
struct entry {
	struct entry *next;		/* in the queue or the writer's batch */
	enum entry_kind kind;		/* which event */
	struct nsh_net_journal_job *jj; /* whose */
	char *host;			/* as requested ("" when unknown) */
	int port;			/* requested port, 0 when unknown */
	enum nsh_net_level level;	/* the listener's level */
	char *reason;			/* refusal reason, or how the connection ended */
	char addr[INET6_ADDRSTRLEN];	/* address used or refused, "" when none */
	bool is_connect;		/* CONNECT, else plain HTTP */
	int status;			/* the proxy's own answer, 0: none */
	bool private_allowed;		/* an allow_private entry was used */
	uint64_t bytes_up, bytes_down;	/* E_ALLOWED: relayed bytes */
	uint64_t count;			/* E_BLOCKED, E_DROPPED: decisions it stands for */
};

struct nsh_net_journal_job {
	struct nsh_net_journal *j;	/* owner */
	char *task_id;			/* events go to this task */
	char *job_id;			/* and job (NULL: none) */
	const struct nsh_redactor *red; /* borrowed, may be NULL */
	struct entry *drop;		/* under j->mu: the queued E_DROPPED entry, if any */
	int rc;				/* writer: first write error of this job */
	struct nsh_err err;		/* its message */
};

struct nsh_net_journal {
	pthread_mutex_t mu;	   /* guards everything below but store */
	pthread_cond_t wake;	   /* the writer has work, or must stop */
	pthread_cond_t written_cv; /* written moved */
	struct entry *queue;	   /* oldest first */
	struct entry **tail;	   /* where the next entry goes */
	size_t queued;		   /* entries in the queue, E_DROPPED ones excluded */
	uint64_t noted;		   /* decisions queued or merged so far */
	uint64_t written;	   /* of which written (or failed for good) */
	bool stop;		   /* the writer ends once the queue is empty */
	int rc;			   /* first write error since the last sync */
	struct nsh_err err;	   /* its message */
	struct nsh_store *store;   /* the writer's handle */
	pthread_t thread;	   /* the writer */
};

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->host);
	free(e->reason);
	free(e);
}

/* @s redacted for @jj's secrets, as a JSON string (invalid UTF-8 replaced). */
static json_t *text(const struct nsh_net_journal_job *jj, const char *s)
{
	struct nsh_buf out = NSH_BUF_INIT;
	json_t *v;

	if (!jj->red || !*s)
		return nsh_json_string_lossy(s, strlen(s));
	nsh_buf_init(&out, TEXT_MAX);
	if (nsh_redact_buf(jj->red, s, strlen(s), &out, NULL))
		v = json_string("[redaction failed]");
	else
		v = nsh_json_string_lossy(out.buf, out.len);
	nsh_buf_release(&out);
	return v;
}

/* The event data for @e (a new reference) and its kind. */
static json_t *entry_json(const struct entry *e, const char **ret_kind)
{
	const struct nsh_net_journal_job *jj = e->jj;
	json_t *o = json_object();

	if (e->kind == E_DROPPED) {
		*ret_kind = "net.dropped";
		json_object_set_new(o, "count", json_integer((json_int_t)e->count));
		json_object_set_new(
			o, "message",
			json_sprintf("%llu network decisions were not recorded (journal full)",
				     (unsigned long long)e->count));
		return o;
	}
	json_object_set_new(o, "host", text(jj, e->host));
	json_object_set_new(o, "port", json_integer(e->port));
	json_object_set_new(o, "level", json_string(nsh_net_level_name(e->level)));
	json_object_set_new(o, "reason", text(jj, e->reason));
	json_object_set_new(o, "addr", json_string(e->addr));
	json_object_set_new(o, "connect", json_boolean(e->is_connect));
	json_object_set_new(o, "status", json_integer(e->status));
	if (e->kind == E_BLOCKED) {
		*ret_kind = "net.blocked";
		json_object_set_new(o, "count", json_integer((json_int_t)e->count));
		return o;
	}
	*ret_kind = "net.allowed";
	json_object_set_new(o, "private_allowed", json_boolean(e->private_allowed));
	json_object_set_new(o, "bytes_up", json_integer((json_int_t)e->bytes_up));
	json_object_set_new(o, "bytes_down", json_integer((json_int_t)e->bytes_down));
	return o;
}

static int append(struct nsh_store *s, const struct entry *e, struct nsh_err *err)
{
	const char *kind = NULL;
	json_t *data = entry_json(e, &kind);
	int rc = nsh_event_append(s, e->jj->task_id, e->jj->job_id, kind, data, NULL, err);

	json_decref(data);
	return rc;
}

/* Remember the first error of a job and of the journal (writer thread; mu held for the latter). */
static void note_error(struct nsh_net_journal *j, struct nsh_net_journal_job *jj, int rc,
		       const struct nsh_err *e)
{
	if (!jj->rc) {
		jj->rc = rc;
		jj->err = *e;
	}
	pthread_mutex_lock(&j->mu);
	if (!j->rc) {
		j->rc = rc;
		j->err = *e;
	}
	pthread_mutex_unlock(&j->mu);
}

/* Append @batch: in one transaction, or entry by entry when that fails. */
static void write_batch(struct nsh_net_journal *j, struct entry *batch)
{
	struct nsh_err err = NSH_ERR_INIT;
	int rc;

	rc = nsh_store_begin(j->store, &err);
	for (struct entry *e = batch; !rc && e; e = e->next)
		rc = append(j->store, e, &err);
	if (!rc)
		rc = nsh_store_commit(j->store, &err);
	if (!rc)
		return;
	nsh_store_rollback(j->store);
	for (struct entry *e = batch; e; e = e->next) {
		nsh_err_clear(&err);
		rc = append(j->store, e, &err);
		if (rc)
			note_error(j, e->jj, rc, &err);
	}
}

static void *writer_main(void *arg)
{
	struct nsh_net_journal *j = arg;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		struct entry *batch;
		uint64_t upto;

		while (!j->queue && !j->stop)
			pthread_cond_wait(&j->wake, &j->mu);
		if (!j->queue)
			break; /* stop, and nothing left */
		batch = j->queue;
		j->queue = NULL;
		j->tail = &j->queue;
		j->queued = 0;
		upto = j->noted;
		for (struct entry *e = batch; e; e = e->next)
			if (e->kind == E_DROPPED)
				e->jj->drop = NULL;
		pthread_mutex_unlock(&j->mu);

		write_batch(j, batch);
		while (batch) {
			struct entry *next = batch->next;

			entry_free(batch);
			batch = next;
		}

		pthread_mutex_lock(&j->mu);
		j->written = upto;
		pthread_cond_broadcast(&j->written_cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int nsh_net_journal_new(const char *db_path, struct nsh_net_journal **ret, struct nsh_err *err)
{
	struct nsh_net_journal *j = nsh_xcalloc(1, sizeof(*j));
	sigset_t all, old;
	int rc, e;

	rc = nsh_store_open(db_path, &j->store, err);
	if (rc)
		goto out;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->wake, NULL);
	pthread_cond_init(&j->written_cv, NULL);
	j->tail = &j->queue;
	/* every signal blocked, so that the host's handlers stay on its own threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&j->thread, NULL, writer_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		rc = nsh_err_sys(err, e, "cannot start the network journal thread");
		pthread_cond_destroy(&j->written_cv);
		pthread_cond_destroy(&j->wake);
		pthread_mutex_destroy(&j->mu);
		nsh_store_close(j->store);
		goto out;
	}
	*ret = j;
out:
	if (rc)
		free(j);
	return rc;
}

struct nsh_net_journal_job *nsh_net_journal_job_new(struct nsh_net_journal *j, const char *task_id,
						    const char *job_id,
						    const struct nsh_redactor *red)
{
	struct nsh_net_journal_job *jj = nsh_xcalloc(1, sizeof(*jj));

	jj->j = j;
	jj->task_id = nsh_xstrdup(task_id);
	jj->job_id = job_id ? nsh_xstrdup(job_id) : NULL;
	jj->red = red;
	nsh_err_clear(&jj->err);
	return jj;
}

/* A queued refusal of @jj that @d repeats, or NULL (mu held). */
static struct entry *find_same(struct nsh_net_journal *j, const struct nsh_net_journal_job *jj,
			       const struct nsh_proxy_decision *d)
{
	for (struct entry *e = j->queue; e; e = e->next)
		if (e->kind == E_BLOCKED && e->jj == jj && e->port == d->port &&
		    e->status == d->status && !strcmp(e->host, d->host) &&
		    !strcmp(e->reason, d->reason))
			return e;
	return NULL;
}

void nsh_net_journal_record(void *ctx, const struct nsh_proxy_decision *d)
{
	struct nsh_net_journal_job *jj = ctx;
	struct nsh_net_journal *j = jj->j;
	struct entry *e;

	if (d->allowed && !d->done)
		return; /* recorded at its end, with the byte counts */
	pthread_mutex_lock(&j->mu);
	j->noted++;
	if (!d->allowed && (e = find_same(j, jj, d)) != NULL) {
		e->count++;
		goto out;
	}
	if (j->queued >= NSH_NET_JOURNAL_QUEUE_MAX) {
		if (jj->drop) {
			jj->drop->count++;
			goto out;
		}
		e = nsh_xcalloc(1, sizeof(*e));
		e->kind = E_DROPPED;
		e->count = 1;
		jj->drop = e;
	} else {
		e = nsh_xcalloc(1, sizeof(*e));
		e->kind = d->allowed ? E_ALLOWED : E_BLOCKED;
		e->host = nsh_xstrdup(d->host ? d->host : "");
		e->port = d->port;
		e->level = d->level;
		e->reason = nsh_xstrdup(d->reason ? d->reason : "");
		snprintf(e->addr, sizeof(e->addr), "%s", d->addr ? d->addr : "");
		e->is_connect = d->is_connect;
		e->status = d->status;
		e->private_allowed = d->private_allowed;
		e->bytes_up = d->bytes_up;
		e->bytes_down = d->bytes_down;
		e->count = 1;
		j->queued++;
	}
	e->jj = jj;
	*j->tail = e;
	j->tail = &e->next;
	pthread_cond_signal(&j->wake);
out:
	pthread_mutex_unlock(&j->mu);
}

/* Wait until what was noted before the call is written (mu not held). */
static void wait_written(struct nsh_net_journal *j)
{
	uint64_t target;

	pthread_mutex_lock(&j->mu);
	target = j->noted;
	while (j->written < target)
		pthread_cond_wait(&j->written_cv, &j->mu);
	pthread_mutex_unlock(&j->mu);
}

int nsh_net_journal_job_free(struct nsh_net_journal_job *jj, struct nsh_err *err)
{
	int rc;

	if (!jj)
		return 0;
	wait_written(jj->j);
	rc = jj->rc;
	if (rc)
		nsh_err_set(err, rc, "network journal: %s", jj->err.msg);
	free(jj->task_id);
	free(jj->job_id);
	free(jj);
	return rc;
}

int nsh_net_journal_sync(struct nsh_net_journal *j, struct nsh_err *err)
{
	int rc;

	wait_written(j);
	pthread_mutex_lock(&j->mu);
	rc = j->rc;
	if (rc)
		nsh_err_set(err, rc, "network journal: %s", j->err.msg);
	j->rc = 0;
	nsh_err_clear(&j->err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

void nsh_net_journal_free(struct nsh_net_journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = true;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	nsh_store_close(j->store);
	pthread_cond_destroy(&j->written_cv);
	pthread_cond_destroy(&j->wake);
	pthread_mutex_destroy(&j->mu);
	free(j);
}
