/*
 * Server-Sent Events. One hub thread follows the event log with a store
 * handle of its own: it wakes at once when a handle of this process commits
 * an event (the server's notify) and looks every HUB_POLL_MS for commits
 * of other processes (SQLite's data_version, which reads no table). New
 * events are formatted once, as SSE frames, into a ring in memory; every
 * stream copies the frames it wants from the ring, so a hundred open
 * streams cost no store queries. A stream that starts (or falls) behind
 * the ring catches up from the store first.
 *
 * Frames: "id: N\nevent: KIND\ndata: {event as JSON}\n\n". A stream resumes
 * after the id in Last-Event-ID (or ?after=N).
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/time.h"
#include "store/store.h"
#include "task/task.h"

#include "core/banned.h"

#define HUB_POLL_MS   10	  /* how often the hub looks for other processes' commits */
#define HUB_BATCH     500	  /* events read per query */
#define CATCHUP_BATCH 200	  /* events a stream reads from the store at once */
#define STREAM_CHUNK  (64u << 10) /* bytes a stream gathers before sending */

struct ring_ent {
	int64_t id;	       /* event id */
	char task[NSH_ID_MAX]; /* its task, "" for none */
	char *frame;	       /* the SSE frame */
	size_t len;	       /* its length */
};

struct nsh_srv_hub {
	struct nsh_srv *srv;	 /* the server */
	struct nsh_store *store; /* the hub thread's handle */
	pthread_t thread;	 /* the hub thread */
	pthread_mutex_t lock;	 /* guards everything below */
	pthread_cond_t cond;	 /* broadcast on new events and on quit */
	bool quit;		 /* streams and the hub end */
	struct ring_ent *ring;	 /* NSH_SRV_RING entries */
	size_t head;		 /* next slot to write */
	size_t count;		 /* entries in use */
	int64_t floor;		 /* every event with a greater id is in the ring */
	int64_t last;		 /* newest id in the ring, or floor */
};

/* Append the SSE frame of @e to @out. */
static int add_frame(struct nsh_buf *out, const struct nsh_event_rec *e)
{
	json_t *j = nsh_event_to_json(e);
	int rc;

	rc = nsh_buf_addf(out, "id: %lld\nevent: ", (long long)e->id);
	for (const char *k = e->kind; !rc && k && *k; k++)
		rc = nsh_buf_addch(out, (*k == '\n' || *k == '\r' || *k == ':') ? '_' : *k);
	if (!rc)
		rc = nsh_buf_adds(out, "\ndata: ");
	if (!rc)
		rc = nsh_json_buf_add(out, j);
	if (!rc)
		rc = nsh_buf_adds(out, "\n\n");
	json_decref(j);
	return rc;
}

static void ring_push(struct nsh_srv_hub *h, const struct nsh_event_rec *e, struct nsh_buf *frame)
{
	struct ring_ent *slot = &h->ring[h->head];

	if (h->count == NSH_SRV_RING) {
		h->floor = slot->id;
		free(slot->frame);
	} else {
		h->count++;
	}
	slot->id = e->id;
	snprintf(slot->task, sizeof(slot->task), "%s", e->task_id ? e->task_id : "");
	slot->frame = nsh_buf_detach(frame, &slot->len);
	h->head = (h->head + 1) % NSH_SRV_RING;
	h->last = e->id;
}

/* Read what is new into the ring; the number of events read goes to @ret_n. */
static int hub_pull(struct nsh_srv_hub *h, size_t *ret_n, struct nsh_err *err)
{
	struct nsh_event_list l = {0};
	int64_t after;
	int rc;

	pthread_mutex_lock(&h->lock);
	after = h->last;
	pthread_mutex_unlock(&h->lock);
	rc = nsh_store_events_after(h->store, after, NULL, HUB_BATCH, &l, err);
	if (rc)
		goto out;
	if (l.nr) {
		struct nsh_buf *frames = nsh_xcalloc(l.nr, sizeof(*frames));

		for (size_t i = 0; i < l.nr; i++) {
			nsh_buf_init(&frames[i], SIZE_MAX);
			add_frame(&frames[i], &l.v[i]);
		}
		pthread_mutex_lock(&h->lock);
		for (size_t i = 0; i < l.nr; i++)
			ring_push(h, &l.v[i], &frames[i]);
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < l.nr; i++)
			nsh_buf_release(&frames[i]);
		free(frames);
	}
	*ret_n = l.nr;
out:
	nsh_event_list_release(&l);
	return rc;
}

static void *hub_main(void *arg)
{
	struct nsh_srv_hub *h = arg;
	int64_t seen_notify = nsh_notify_value(h->srv->notify);
	int64_t seen_version = -1;
	int64_t fail_logged = 0;

	for (;;) {
		struct nsh_err err = NSH_ERR_INIT;
		int64_t version = 0, n;
		size_t got = 0;
		bool quit;

		pthread_mutex_lock(&h->lock);
		quit = h->quit;
		pthread_mutex_unlock(&h->lock);
		if (quit)
			break;
		n = nsh_notify_value(h->srv->notify);
		if (nsh_store_data_version(h->store, &version, &err) == 0 &&
		    (version != seen_version || n != seen_notify)) {
			seen_version = version;
			seen_notify = n;
			do {
				if (hub_pull(h, &got, &err)) {
					/* Log a store failure once a minute at most. */
					if (nsh_time_mono_ms() - fail_logged > 60000) {
						nsh_log_warn("event hub: %s", err.msg);
						fail_logged = nsh_time_mono_ms();
					}
					break;
				}
			} while (got == HUB_BATCH);
			continue;
		}
		nsh_notify_wait(h->srv->notify, seen_notify, HUB_POLL_MS);
	}
	return NULL;
}

int nsh_srv_hub_start(struct nsh_srv *srv, struct nsh_srv_hub **ret, struct nsh_err *err)
{
	struct nsh_srv_hub *h = nsh_xcalloc(1, sizeof(*h));
	int rc;

	h->srv = srv;
	h->ring = nsh_xcalloc(NSH_SRV_RING, sizeof(h->ring[0]));
	pthread_mutex_init(&h->lock, NULL);
	nsh_time_cond_init_mono(&h->cond);
	rc = nsh_store_open(srv->db_path, &h->store, err);
	if (rc)
		goto fail;
	rc = nsh_store_event_last_id(h->store, &h->floor, err);
	if (rc)
		goto fail;
	h->last = h->floor;
	rc = pthread_create(&h->thread, NULL, hub_main, h);
	if (rc) {
		rc = nsh_err_sys(err, rc, "cannot start the event hub");
		goto fail;
	}
	*ret = h;
	return 0;
fail:
	nsh_store_close(h->store);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->ring);
	free(h);
	return rc;
}

void nsh_srv_hub_quit(struct nsh_srv_hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->quit = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void nsh_srv_hub_stop(struct nsh_srv_hub *h)
{
	if (!h)
		return;
	nsh_srv_hub_quit(h);
	pthread_join(h->thread, NULL);
	for (size_t i = 0; i < NSH_SRV_RING; i++)
		free(h->ring[i].frame);
	free(h->ring);
	nsh_store_close(h->store);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int64_t nsh_srv_hub_last(struct nsh_srv_hub *h)
{
	int64_t v;

	pthread_mutex_lock(&h->lock);
	v = h->last;
	pthread_mutex_unlock(&h->lock);
	return v;
}

/* ---- streams ---- */

struct nsh_srv_stream {
	struct nsh_srv *srv;   /* the server */
	char task[NSH_ID_MAX]; /* only this task's events, "" for all */
	int64_t last;	       /* the newest event id passed on (or skipped) */
	struct nsh_buf out;    /* bytes not yet handed to the connection */
	size_t sent;	       /* of @out, already handed over */
	bool started;	       /* the opening lines went out */
};

struct nsh_srv_stream *nsh_srv_stream_new(struct nsh_srv *srv, const char *task, int64_t after)
{
	struct nsh_srv_stream *s = nsh_xcalloc(1, sizeof(*s));

	s->srv = srv;
	snprintf(s->task, sizeof(s->task), "%s", task ? task : "");
	s->last = after > 0 ? after : 0;
	nsh_buf_init(&s->out, SIZE_MAX);
	nsh_srv_metrics_stream(srv->metrics, 1);
	return s;
}

void nsh_srv_stream_free(struct nsh_srv_stream *s)
{
	if (!s)
		return;
	nsh_srv_metrics_stream(s->srv->metrics, -1);
	nsh_buf_release(&s->out);
	free(s);
}

/* Catch up from the store: events after s->last up to the ring's floor. */
static int catch_up(struct nsh_srv_stream *s, int64_t floor)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_event_list l = {0};
	struct nsh_srv_conn *c = NULL;
	int rc;

	rc = nsh_srv_pool_get(s->srv, &c, &err);
	if (rc)
		goto out;
	rc = nsh_store_events_after(c->store, s->last, s->task[0] ? s->task : NULL, CATCHUP_BATCH,
				    &l, &err);
	if (rc)
		goto out;
	for (size_t i = 0; i < l.nr; i++) {
		add_frame(&s->out, &l.v[i]);
		s->last = l.v[i].id;
	}
	/* A short batch read everything there was: nothing else is below the floor. */
	if (l.nr < CATCHUP_BATCH && s->last < floor)
		s->last = floor;
out:
	if (rc)
		nsh_log_warn("event stream: %s", err.msg);
	nsh_srv_pool_put(s->srv, c);
	nsh_event_list_release(&l);
	return rc;
}

/* Index in the ring of the oldest entry with an id above @after (h->count if none). */
static size_t ring_find(const struct nsh_srv_hub *h, int64_t after)
{
	size_t lo = 0, hi = h->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t at = (h->head + NSH_SRV_RING - h->count + mid) % NSH_SRV_RING;

		if (h->ring[at].id > after)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Copy the frames after s->last from the ring (the hub's lock is held). */
static void from_ring(struct nsh_srv_stream *s, const struct nsh_srv_hub *h)
{
	for (size_t i = ring_find(h, s->last); i < h->count && s->out.len < STREAM_CHUNK; i++) {
		const struct ring_ent *e =
			&h->ring[(h->head + NSH_SRV_RING - h->count + i) % NSH_SRV_RING];

		if (!s->task[0] || !strcmp(s->task, e->task))
			nsh_buf_add(&s->out, e->frame, e->len);
		s->last = e->id;
	}
}

static long hand_over(struct nsh_srv_stream *s, char *buf, size_t max)
{
	size_t n = s->out.len - s->sent;

	if (n > max)
		n = max;
	memcpy(buf, s->out.buf + s->sent, n);
	s->sent += n;
	if (s->sent == s->out.len) {
		nsh_buf_reset(&s->out);
		s->sent = 0;
	}
	return (long)n;
}

long nsh_srv_stream_read(struct nsh_srv_stream *s, char *buf, size_t max)
{
	struct nsh_srv_hub *h = s->srv->hub;
	int64_t until = nsh_time_mono_ms() + NSH_SRV_SSE_PING_MS;

	if (s->out.len > s->sent)
		return hand_over(s, buf, max);
	if (!s->started) {
		/* Opening lines: the reconnection delay, and headers go out at once. */
		s->started = true;
		nsh_buf_adds(&s->out, "retry: 2000\n: nightshift events\n\n");
		return hand_over(s, buf, max);
	}
	pthread_mutex_lock(&h->lock);
	for (;;) {
		int64_t floor = h->floor;

		if (h->quit)
			break;
		if (s->last < floor) {
			pthread_mutex_unlock(&h->lock);
			if (catch_up(s, floor))
				return -1;
			if (s->out.len)
				return hand_over(s, buf, max);
			pthread_mutex_lock(&h->lock);
			continue;
		}
		from_ring(s, h);
		if (s->out.len) {
			pthread_mutex_unlock(&h->lock);
			return hand_over(s, buf, max);
		}
		{
			int64_t left = until - nsh_time_mono_ms();
			struct timespec ts;

			if (left <= 0) {
				pthread_mutex_unlock(&h->lock);
				nsh_buf_adds(&s->out, ": ping\n\n");
				return hand_over(s, buf, max);
			}
			ts = nsh_time_deadline(CLOCK_MONOTONIC, left);
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return -1;
}
