/*
 * POST /webhooks/github: GitHub's deliveries (docs/webhooks.md), and the
 * thread that works through them.
 *
 * GitHub cannot send the API token, so the route is public and a delivery
 * proves itself by its signature: the HMAC-SHA256 of the raw body under
 * [github] webhook_secret. Without a secret the endpoint is off (503);
 * without a valid signature nothing at all happens (401). A valid delivery
 * is recorded (status received) and answered 202 at once: GitHub gives up
 * after 10 seconds and never retries by itself. A redelivery keeps its
 * delivery id and is answered 200 without being recorded again. The
 * thread started here carries the recorded deliveries out in order
 * (src/github/queue.c), woken by each new one.
 */
#include "server/server_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/time.h"
#include "forge/forge.h"
#include "forge/github.h"
#include "github/github.h"
#include "store/store.h"

#include "core/banned.h"

#define IDLE_MS 1000 /* a pass at least this often (deliveries of other processes) */

struct nsh_srv_webhook {
	struct nsh_github_config cfg;	 /* [github], read at start */
	struct nsh_notify *wake;	 /* posted with a growing count per new delivery */
	int64_t posted;			 /* that count (atomic) */
	int quit;			 /* the thread should end (atomic) */
	bool running;			 /* the thread was started */
	pthread_t thread;		 /* works through the queue */
	struct nsh_store *store;	 /* the thread's own handle */
	struct nsh_github_opts gh;	 /* the client's settings, for polling */
	int64_t poll_ms;		 /* polling interval; 0: no polling */
	int64_t next_poll;		 /* monotonic time of the next round */
	const char *home;		 /* borrowed from the server */
	const struct nsh_config *config; /* borrowed from the server */
};

/* ---- the endpoint ---- */

static bool delivery_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return n && n <= NSH_GITHUB_DELIVERY_MAX;
}

static bool event_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
			return false;
	return n && n <= NSH_GITHUB_EVENT_MAX;
}

static void wake(struct nsh_srv_webhook *w)
{
	nsh_notify_post(w->wake, __atomic_add_fetch(&w->posted, 1, __ATOMIC_SEQ_CST));
}

int nsh_api_webhook_github(struct nsh_srv_req *r, struct nsh_err *err)
{
	struct nsh_srv_webhook *w = r->srv ? r->srv->webhook : NULL;
	struct nsh_webhook_rec rec = {0};
	struct nsh_store *s = NULL;
	json_t *payload = NULL, *reply;
	char *text = NULL;
	bool added = false, ping;
	int rc = 0;

	if (!w || !w->cfg.secret) {
		nsh_srv_reply_error(r, 503, "unavailable",
				    "webhooks are not configured (set [github] webhook_secret)");
		goto out;
	}
	if (!r->gh_signature) {
		nsh_srv_reply_error(r, 401, "unauthorized", "missing X-Hub-Signature-256 header");
		goto out;
	}
	if (!nsh_github_signature_valid(w->cfg.secret, r->body ? r->body : "", r->body_len,
					r->gh_signature)) {
		nsh_srv_reply_error(r, 401, "unauthorized",
				    "invalid signature (X-Hub-Signature-256 does not match the "
				    "body under the webhook secret)");
		goto out;
	}
	if (!r->gh_event || !event_valid(r->gh_event)) {
		nsh_srv_reply_error(r, 400, "invalid", "missing or invalid X-GitHub-Event header");
		goto out;
	}
	if (!r->gh_delivery || !delivery_valid(r->gh_delivery)) {
		nsh_srv_reply_error(r, 400, "invalid",
				    "missing or invalid X-GitHub-Delivery header");
		goto out;
	}
	if (nsh_json_parse_limits(r->body ? r->body : "", r->body_len, r->body_len,
				  NSH_GITHUB_JSON_DEPTH, &payload, NULL) ||
	    !json_is_object(payload)) {
		nsh_srv_reply_error(r, 400, "invalid",
				    "the payload is not a JSON object (set the webhook's content "
				    "type to application/json)");
		goto out;
	}
	ping = !strcmp(r->gh_event, "ping");
	text = nsh_xmemdup(r->body, r->body_len);
	rc = nsh_srv_store(r, &s, err);
	if (rc)
		goto out;
	if (ping) {
		/* Nothing to carry out: recorded as handled, for the list. */
		rec.id = (char *)r->gh_delivery;
		rec.event = (char *)r->gh_event;
		rec.status = (char *)"processed";
		rec.error = (char *)"ping";
		rec.handled_ms = nsh_time_now_ms();
		rec.payload = text;
		rc = nsh_store_webhook_add(s, &rec, &added, err);
	} else {
		rc = nsh_github_enqueue(s, r->gh_event, r->gh_delivery, payload, text, &added, err);
	}
	if (rc)
		goto out;
	if (ping) {
		const char *zen = NULL;
		json_int_t hook = 0;

		nsh_json_opt_str(payload, "zen", "", &zen, NULL);
		nsh_json_opt_int(payload, "hook_id", 0, &hook, NULL);
		reply = json_pack("{s:s, s:s, s:o, s:I}", "status", "pong", "delivery",
				  r->gh_delivery, "zen", nsh_json_string_lossy(zen, strlen(zen)),
				  "hook_id", (json_int_t)hook);
		nsh_srv_reply_json(r, 200, reply);
		goto out;
	}
	if (!added) {
		nsh_srv_reply_json(
			r, 200,
			json_pack("{s:s, s:s}", "status", "duplicate", "delivery", r->gh_delivery));
		goto out;
	}
	wake(w);
	nsh_srv_reply_json(r, 202,
			   json_pack("{s:s, s:s}", "status", "queued", "delivery", r->gh_delivery));
out:
	json_decref(payload);
	free(text);
	return rc;
}

/* ---- the thread ---- */

/* Polling hands each item it finds to the same queue as the endpoint. */
static int poll_deliver(void *ctx, const char *event, const char *delivery, json_t *payload,
			struct nsh_err *err)
{
	struct nsh_srv_webhook *w = ctx;
	bool added = false;

	return nsh_github_enqueue(w->store, event, delivery, payload, NULL, &added, err);
}

/* One round of polling when it is due ([github] poll_interval, for a machine GitHub cannot reach).
 */
static void poll_round(struct nsh_srv_webhook *w)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_forge *f = NULL;
	size_t n = 0;

	if (!w->poll_ms || nsh_time_mono_ms() < w->next_poll)
		return;
	w->next_poll = nsh_time_mono_ms() + w->poll_ms;
	if (nsh_forge_open_github(w->home, w->store, w->config, &f, &err) ||
	    nsh_github_poll_once(f, &w->gh, poll_deliver, w, &n, &err))
		nsh_log_warn("github polling: %s", err.msg);
	else if (n)
		nsh_log_info("github polling: %zu new items", n);
	nsh_forge_close(f);
}

static void *worker_main(void *arg)
{
	struct nsh_srv_webhook *w = arg;

	while (!__atomic_load_n(&w->quit, __ATOMIC_SEQ_CST)) {
		int64_t seen = nsh_notify_value(w->wake), wait_ms = IDLE_MS;
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_github_pass pass;

		poll_round(w);
		if (w->poll_ms && w->next_poll - nsh_time_mono_ms() < wait_ms)
			wait_ms = w->next_poll - nsh_time_mono_ms() > 0
					  ? w->next_poll - nsh_time_mono_ms()
					  : 0;

		if (nsh_github_process(w->store, &w->cfg, nsh_time_now_ms(), &pass, &err)) {
			nsh_log_warn("webhooks: %s", err.msg);
		} else {
			if (pass.handled)
				nsh_log_debug("webhooks: %zu deliveries handled", pass.handled);
			if (pass.more)
				continue;
			if (pass.wait_ms >= 0 && pass.wait_ms < wait_ms)
				wait_ms = pass.wait_ms;
		}
		nsh_notify_wait(w->wake, seen, wait_ms);
	}
	return NULL;
}

int nsh_srv_webhook_start(struct nsh_srv *srv, struct nsh_err *err)
{
	struct nsh_srv_webhook *w = nsh_xcalloc(1, sizeof(*w));
	int rc;

	rc = nsh_github_config_load(srv->config, &w->cfg, err);
	if (rc)
		goto fail;
	w->wake = nsh_notify_new();
	srv->webhook = w;
	srv->webhook_max_body = (size_t)w->cfg.max_body;
	w->home = srv->home;
	w->config = srv->config;
	if (srv->config && nsh_github_configured(srv->config)) {
		rc = nsh_github_opts_from_config(srv->config, &w->gh, err);
		if (rc)
			return rc;
		w->poll_ms = w->gh.poll_interval_s * 1000;
	}
	/* the queue's thread: for webhooks (a secret) or polling */
	if (!w->cfg.secret && !w->poll_ms)
		return 0;
	rc = nsh_store_open(srv->db_path, &w->store, err);
	if (rc)
		return rc;
	nsh_store_set_notify(w->store, srv->notify);
	if (pthread_create(&w->thread, NULL, worker_main, w))
		return nsh_err_set(err, NSH_EIO, "cannot start the webhook thread");
	w->running = true;
	return 0;
fail:
	nsh_github_config_release(&w->cfg);
	free(w);
	return rc;
}

void nsh_srv_webhook_stop(struct nsh_srv *srv)
{
	struct nsh_srv_webhook *w = srv->webhook;

	if (!w)
		return;
	if (w->running) {
		__atomic_store_n(&w->quit, 1, __ATOMIC_SEQ_CST);
		wake(w);
		pthread_join(w->thread, NULL);
	}
	nsh_store_close(w->store);
	nsh_notify_free(w->wake);
	nsh_github_config_release(&w->cfg);
	free(w);
	srv->webhook = NULL;
}
