/*
 * The tool loop of one role: build the prompt, send turns, run the tools
 * the model calls, and keep the conversation healthy (masking, summaries,
 * steering, stuck detection, budgets, interruptions, sessions).
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_tools.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "core/vec.h"

#include "core/banned.h"

#define TOOLS_MAX	   16	       /* tools offered at once */
#define STEERING_MAX	   (64u << 10) /* bytes of a steering file */
#define SESSION_MAX	   (64u << 20) /* bytes of a saved session */
#define MASK_MIN_BYTES	   (16u << 10) /* old outputs masked only in batches this big */
#define MASK_KEEP_BYTES	   300	       /* outputs this short are never masked */
#define SUMMARY_AT	   0.6	       /* share of the context window that triggers a summary */
#define SUMMARY_KEEP_TURNS 4	       /* newest assistant turns kept after a summary */
#define NUDGES_MAX	   2	       /* text-only replies answered with a nudge */
#define IDLE_MAX	   20	       /* tool calls without progress that count as stuck */
#define EVENT_TEXT_MAX	   300	       /* bytes of model text in an event */

static const char *const role_names[] = {"research", "code", "verify"};
static const char *const outcome_names[] = {"done",   "blocked", "stuck",
					    "budget", "steps",	 "stopped"};

const char *nsh_agent_role_name(enum nsh_agent_role r)
{
	return (unsigned)r < 3 ? role_names[r] : "unknown";
}

int nsh_agent_role_parse(const char *name, enum nsh_agent_role *ret, struct nsh_err *err)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(name, role_names[i])) {
			*ret = (enum nsh_agent_role)i;
			return 0;
		}
	return nsh_err_set(err, NSH_EINVAL,
			   "unknown agent role '%s' (expected research, code or verify)", name);
}

const char *nsh_agent_outcome_name(enum nsh_agent_outcome o)
{
	return (unsigned)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o]
									      : "unknown";
}

void nsh_agent_exec_init(struct nsh_agent_exec *x)
{
	memset(x, 0, sizeof(*x));
	nsh_buf_init(&x->out, SIZE_MAX);
	nsh_buf_init(&x->err, SIZE_MAX);
}

void nsh_agent_exec_release(struct nsh_agent_exec *x)
{
	if (!x)
		return;
	nsh_buf_release(&x->out);
	nsh_buf_release(&x->err);
}

void nsh_agent_result_release(struct nsh_agent_result *r)
{
	if (!r)
		return;
	free(r->summary);
	json_decref(r->findings);
	memset(r, 0, sizeof(*r));
}

json_t *nsh_agent_result_to_json(const struct nsh_agent_result *r)
{
	json_t *o =
		json_pack("{s:s, s:o, s:i, s:i, s:o, s:f, s:I}", "outcome",
			  nsh_agent_outcome_name(r->outcome), "summary",
			  r->summary ? json_string(r->summary) : json_null(), "turns", r->turns,
			  "tool_calls", r->tool_calls, "usage", nsh_llm_usage_to_json(&r->usage),
			  "cost", r->cost, "elapsed_ms", (json_int_t)(r->total_ns / 1000000));

	json_object_set_new(o, "role", json_string(nsh_agent_role_name(r->role)));
	if (r->findings)
		json_object_set(o, "findings", r->findings);
	if (r->role == NSH_AGENT_VERIFY)
		json_object_set_new(o, "passed", json_boolean(r->passed));
	if (r->general)
		json_object_set_new(o, "general", json_true());
	return o;
}

char *nsh_agent_load_steering(const char *workspace)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int root;
	char *s = NULL;

	if (ws_open_root(workspace, &root, NULL))
		return NULL;
	if (!ws_read(root, ".nightshift/steering.md", STEERING_MAX, &b, NULL) && b.len)
		s = nsh_buf_detach(&b, NULL);
	nsh_buf_release(&b);
	close(root);
	return s;
}

char *nsh_agent_load_org_steering(const char *home, const char *org)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path, *s = NULL;

	if (!org || !*org || strchr(org, '/') || !strcmp(org, "..") || !strcmp(org, "."))
		return NULL;
	path = nsh_xasprintf("%s/orgs/%s/steering.md", home, org);
	if (!nsh_fs_read_file(path, &b, STEERING_MAX, NULL) && b.len)
		s = nsh_buf_detach(&b, NULL);
	nsh_buf_release(&b);
	free(path);
	return s;
}

/* ---- the state of one run ---- */

struct loop {
	const struct nsh_agent_run *run;
	struct tool_ctx t;
	struct nsh_llm_conv conv;
	struct nsh_llm_tool tools[TOOLS_MAX];
	size_t ntools;
	struct stuck stuck;
	bool warned;		      /* a stuck warning was given */
	struct nsh_llm_price price;   /* for costs */
	struct nsh_agent_result *res; /* being filled */
	int64_t context;	      /* the model's window, tokens */
	int keep;		      /* newest outputs never masked */
	int nudges;		      /* text-only replies in a row */
	int64_t t0;		      /* run start, monotonic ns */
};

static void emit(struct loop *l, const char *kind, json_t *data)
{
	const struct nsh_agent_host *h = l->run->host;

	json_object_set_new(data, "role", json_string(nsh_agent_role_name(l->run->role)));
	if (l->run->depth)
		json_object_set_new(data, "consultation", json_true());
	if (h->event)
		h->event(h->ctx, kind, data);
	json_decref(data);
}

static bool stopping(struct loop *l)
{
	const struct nsh_agent_host *h = l->run->host;

	return h->stopping && h->stopping(h->ctx);
}

/* At a turn boundary: wait out a pause; true when the run must stop. */
static bool checkpoint(struct loop *l)
{
	const struct nsh_agent_host *h = l->run->host;

	if (h->checkpoint)
		return h->checkpoint(h->ctx);
	return stopping(l);
}

/* The system prompt: the role, the environment and the steering notes (the stable prefix). */
static char *system_prompt(const struct nsh_agent_run *run)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *repo = NULL;

	nsh_buf_adds(&b, nsh_agent_prompt(run->role));
	nsh_buf_adds(&b, "\nThe workspace is the repository's working tree; commands see it as "
			 "/workspace. Tool outputs you already used may later be replaced by a "
			 "short note to save space: call the tool again if you need them.\n");
	if (run->role != NSH_AGENT_VERIFY) {
		repo = nsh_agent_load_steering(run->workspace);
		if (run->org_steering && *run->org_steering)
			nsh_buf_addf(&b, "\n## Steering notes of the organisation\n\n%s\n",
				     run->org_steering);
		if (repo)
			nsh_buf_addf(&b,
				     "\n## Steering notes of this repository "
				     "(.nightshift/steering.md)\n\n%s\n",
				     repo);
	}
	free(repo);
	return nsh_buf_detach(&b, NULL);
}

/* The first user message: task, spec, findings or the checks' report. */
static void first_message(struct loop *l)
{
	const struct nsh_agent_run *run = l->run;
	const struct nsh_agent_host *h = run->host;
	struct nsh_buf b = NSH_BUF_INIT;
	char *spec = NULL;

	nsh_buf_addf(&b, "# Task\n\n%s\n", run->task);
	if (!run->depth && h->spec_get && !h->spec_get(h->ctx, &spec, NULL) && spec && *spec)
		nsh_buf_addf(&b, "\n# Task spec (shared by the agents)\n\n%s\n", spec);
	if (run->role == NSH_AGENT_CODE && run->findings && *run->findings)
		nsh_buf_addf(&b, "\n# Findings of the verification, to fix now\n\n%s\n",
			     run->findings);
	if (run->role == NSH_AGENT_VERIFY) {
		if (l->t.report) {
			char *r = json_dumps(l->t.report, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

			nsh_buf_addf(&b, "\n# Report of the verification pipeline\n\n%s\n", r);
			free(r);
		} else {
			nsh_buf_adds(&b, "\n# Report of the verification pipeline\n\nNo pipeline "
					 "ran here: run the repository's tests and checks yourself "
					 "(run), then judge.\n");
		}
	}
	switch (run->role) {
	case NSH_AGENT_RESEARCH:
		nsh_buf_adds(&b, "\nResearch the code and write the plan, then call finish.\n");
		break;
	case NSH_AGENT_CODE:
		nsh_buf_adds(&b, "\nImplement the task, test it, then call finish.\n");
		break;
	case NSH_AGENT_VERIFY:
		nsh_buf_adds(&b, "\nVerify the change, then call finish with your verdict.\n");
		break;
	}
	nsh_llm_conv_add_user(&l->conv, b.buf);
	nsh_buf_release(&b);
	free(spec);
}

/* ---- sessions ---- */

static int session_load(struct loop *l, bool *ret_loaded, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	json_t *j = NULL;
	int rc;

	*ret_loaded = false;
	if (!l->run->session || !nsh_fs_exists(l->run->session))
		return 0;
	rc = nsh_fs_read_file(l->run->session, &b, SESSION_MAX, err);
	if (!rc)
		rc = nsh_json_parse_limits(b.buf, b.len, SESSION_MAX, 64, &j, err);
	if (!rc) {
		nsh_llm_conv_release(&l->conv);
		rc = nsh_llm_conv_from_json(json_object_get(j, "conv"), &l->conv, err);
	}
	if (rc) {
		/* a session lost to a crash: start afresh rather than fail the job */
		emit(l, "agent.session_lost",
		     json_pack("{s:s, s:s}", "session", l->run->session, "reason", err->msg));
		nsh_llm_conv_release(&l->conv);
		nsh_llm_conv_init(&l->conv);
		nsh_err_clear(err);
		rc = 0;
	} else {
		json_int_t turns = 0;

		nsh_json_opt_int(j, "turns", 0, &turns, NULL);
		l->res->turns = (int)turns;
		*ret_loaded = true;
	}
	json_decref(j);
	nsh_buf_release(&b);
	return rc;
}

/*
 * Save the conversation after each turn: a temporary file renamed over the
 * old one, without fsync. A session only saves the model's work after a
 * crash; one lost to a power failure is started afresh (see
 * session_load()), so paying two disk flushes per turn is not worth it.
 */
static void session_save(struct loop *l)
{
	json_t *j;
	char *s, *tmp;
	int fd;

	if (!l->run->session)
		return;
	j = json_pack("{s:o, s:i, s:s}", "conv", nsh_llm_conv_to_json(&l->conv), "turns",
		      l->res->turns, "role", nsh_agent_role_name(l->run->role));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return;
	tmp = nsh_xasprintf("%s.tmp", l->run->session);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		size_t len = strlen(s), off = 0;
		bool ok = true;

		while (ok && off < len) {
			ssize_t n = write(fd, s + off, len - off);

			if (n < 0 && errno == EINTR)
				continue;
			ok = n > 0;
			off += n > 0 ? (size_t)n : 0;
		}
		if (close(fd) < 0 || !ok || rename(tmp, l->run->session) < 0)
			unlink(tmp);
	}
	free(tmp);
	free(s);
}

/* ---- context hygiene ---- */

/* The call that tool message @i answers, searching back from it. */
static const struct nsh_llm_call *call_of(const struct nsh_llm_conv *c, size_t i)
{
	const char *id = c->v[i].call_id;

	while (i-- > 0) {
		const struct nsh_llm_msg *m = &c->v[i];

		if (m->role != NSH_LLM_ASSISTANT)
			continue;
		for (size_t k = 0; k < m->ncalls; k++)
			if (!strcmp(m->calls[k].id, id))
				return &m->calls[k];
		break;
	}
	return NULL;
}

/*
 * Replace the outputs of old tool calls by a note, keeping the newest
 * l->keep. Done only when enough bytes would go at once: every change to
 * an early message invalidates the provider's prompt cache after it.
 */
static void mask_old_outputs(struct loop *l)
{
	struct nsh_llm_conv *c = &l->conv;
	size_t seen = 0, bytes = 0;
	long cut = -1;

	for (size_t i = c->nr; i-- > 0;) {
		if (c->v[i].role != NSH_LLM_TOOL)
			continue;
		if (++seen <= (size_t)l->keep)
			continue;
		if (cut < 0)
			cut = (long)i;
		if (!c->v[i].masked && strlen(c->v[i].text) > MASK_KEEP_BYTES)
			bytes += strlen(c->v[i].text);
	}
	if (cut < 0 || bytes < MASK_MIN_BYTES)
		return;
	for (size_t i = 0; i <= (size_t)cut; i++) {
		struct nsh_llm_msg *m = &c->v[i];
		const struct nsh_llm_call *k;
		char *brief;
		size_t lines = 0;

		if (m->role != NSH_LLM_TOOL || m->masked || strlen(m->text) <= MASK_KEEP_BYTES)
			continue;
		for (const char *p = m->text; *p; p++)
			lines += *p == '\n';
		k = call_of(c, i);
		brief = k ? agent_call_brief(k->name, k->args) : nsh_xstrdup(m->name);
		free(m->text);
		m->text = nsh_xasprintf("[output of '%s' (%zu lines) removed to save context; "
					"call the tool again if you need it]",
					brief, lines);
		m->masked = true;
		free(brief);
	}
	c->last_input = 0; /* the provider's count no longer applies */
}

static int send_turn(struct loop *l, const struct nsh_llm_request *rq, struct nsh_llm_reply *r,
		     struct nsh_err *err);

/*
 * Past the threshold, have the model summarise the work so far and keep
 * only the task, the summary and the newest turns.
 */
static int summarize(struct loop *l, struct nsh_err *err)
{
	struct nsh_llm_conv *c = &l->conv;
	struct nsh_llm_request rq = {c, l->tools, l->ntools};
	struct nsh_llm_reply r = {0};
	struct nsh_llm_conv next;
	size_t turns = 0, from = 0;
	int rc;

	if (nsh_llm_conv_tokens(c) < (int64_t)((double)l->context * SUMMARY_AT) || c->nr < 8)
		return 0;
	/* where the kept tail starts: an assistant turn, so that no result loses its call */
	for (size_t i = c->nr; i-- > 1;) {
		if (c->v[i].role == NSH_LLM_ASSISTANT && ++turns == SUMMARY_KEEP_TURNS) {
			from = i;
			break;
		}
	}
	if (from <= 1)
		return 0;
	nsh_llm_conv_add_user(c, "Stop here for a moment: the conversation is getting too long. "
				 "Write a summary of the work so far for yourself: what the task "
				 "needs, what you found (files, functions, commands, errors), what "
				 "you changed, what is left to do. Do not call any tool now; reply "
				 "with the summary only.");
	rc = send_turn(l, &rq, &r, err);
	/* take the request back out */
	c->nr--;
	free(c->v[c->nr].text);
	if (rc)
		return rc;
	nsh_llm_conv_init(&next);
	next.system = c->system;
	c->system = NULL;
	nsh_llm_conv_add_user(&next, c->v[0].text);
	{
		char *s = nsh_xasprintf("Summary of the work so far (earlier messages were removed "
					"to save context):\n\n%s",
					r.text && *r.text ? r.text : "(no summary)");

		nsh_llm_conv_add_user(&next, s);
		free(s);
	}
	for (size_t i = from; i < c->nr; i++) {
		NSH_ALLOC_GROW(next.v, next.nr + 1, next.alloc);
		next.v[next.nr++] = c->v[i];
		memset(&c->v[i], 0, sizeof(c->v[i]));
	}
	nsh_llm_conv_release(c);
	*c = next;
	emit(l, "agent.summary", json_pack("{s:i}", "kept_messages", (int)c->nr));
	nsh_llm_reply_release(&r);
	return 0;
}

/* ---- turns ---- */

static int send_turn(struct loop *l, const struct nsh_llm_request *rq, struct nsh_llm_reply *r,
		     struct nsh_err *err)
{
	const struct nsh_agent_run *run = l->run;
	struct nsh_llm_stats before, after;
	int64_t t0 = nsh_time_mono_ns();
	double cost;
	int rc;

	if (run->send) {
		rc = run->send(run->send_ctx, rq, r, err);
		l->res->model_ns += nsh_time_mono_ns() - t0;
	} else {
		nsh_llm_get_stats(run->llm, &before);
		rc = nsh_llm_send(run->llm, rq, r, run->host->stopping, run->host->ctx, err);
		nsh_llm_get_stats(run->llm, &after);
		l->res->model_ns += after.http_ns - before.http_ns;
	}
	if (rc)
		return rc;
	cost = nsh_llm_usage_cost(&r->usage, &l->price);
	nsh_llm_usage_add(&l->res->usage, &r->usage);
	l->res->cost += cost;
	if (run->budget)
		nsh_agent_budget_charge(run->budget, &r->usage, cost);
	if (r->usage_known) {
		l->conv.last_input = r->usage.input + r->usage.cache_read + r->usage.cache_write;
		l->conv.last_input_msgs = l->conv.nr;
	}
	return 0;
}

static void turn_event(struct loop *l, const struct nsh_llm_reply *r)
{
	json_t *calls = json_array(), *d;

	for (size_t i = 0; i < r->ncalls; i++) {
		char *b = agent_call_brief(r->calls[i].name, r->calls[i].args);

		json_array_append_new(calls, nsh_json_string_lossy(b, strlen(b)));
		free(b);
	}
	d = json_pack("{s:i, s:o, s:f, s:o}", "turn", l->res->turns, "usage",
		      nsh_llm_usage_to_json(&r->usage), "cost",
		      nsh_llm_usage_cost(&r->usage, &l->price), "calls", calls);
	if (r->text && *r->text) {
		size_t n = strlen(r->text);

		json_object_set_new(
			d, "text",
			nsh_json_string_lossy(r->text, n > EVENT_TEXT_MAX ? EVENT_TEXT_MAX : n));
	}
	json_object_set_new(d, "run",
			    json_pack("{s:I, s:f}", "tokens",
				      (json_int_t)nsh_llm_usage_total(&l->res->usage), "cost",
				      l->res->cost));
	if (l->run->budget) {
		struct nsh_llm_usage used;
		double cost, max_cost;
		int64_t max_tokens;

		nsh_agent_budget_get(l->run->budget, &used, &cost, &max_tokens, &max_cost);
		json_object_set_new(d, "task",
				    json_pack("{s:I, s:f, s:I, s:f}", "tokens",
					      (json_int_t)nsh_llm_usage_total(&used), "cost", cost,
					      "max_tokens", (json_int_t)max_tokens, "max_cost",
					      max_cost));
	}
	emit(l, "agent.turn", d);
}

/* New steering messages as one user message; true when there were any. */
static bool take_steering(struct loop *l)
{
	const struct nsh_agent_host *h = l->run->host;
	struct nsh_strvec msgs = NSH_STRVEC_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	bool any = false;

	if (!h->steer || l->run->depth || h->steer(h->ctx, &msgs, NULL) || !msgs.nr)
		goto out;
	nsh_buf_adds(&b, "New instructions from the user (they take precedence over the plan "
			 "where they differ):\n");
	for (size_t i = 0; i < msgs.nr; i++) {
		nsh_buf_addf(&b, "\n%s\n", msgs.v[i]);
		emit(l, "agent.steered", json_pack("{s:s}", "text", msgs.v[i]));
	}
	nsh_llm_conv_add_user(&l->conv, b.buf);
	any = true;
out:
	nsh_buf_release(&b);
	nsh_strvec_release(&msgs);
	return any;
}

/* Give the calls @from.. of the newest assistant turn a result that says why they did not run. */
static void skip_calls(struct loop *l, size_t msg, size_t from, const char *why)
{
	/* the turn's calls stay valid: results only ever grow the array after them */
	for (size_t k = from; k < l->conv.v[msg].ncalls; k++) {
		char *id = nsh_xstrdup(l->conv.v[msg].calls[k].id);
		char *name = nsh_xstrdup(l->conv.v[msg].calls[k].name);

		nsh_llm_conv_add_tool(&l->conv, id, name, why, true);
		free(id);
		free(name);
	}
}

/*
 * Stop or go on when the budget is reached: ask the user (the task waits
 * for the answer), or end the run when nobody can be asked.
 */
static int check_budget(struct loop *l, bool *ret_stop, struct nsh_err *err)
{
	const struct nsh_agent_host *h = l->run->host;
	struct nsh_agent_budget *b = l->run->budget;
	char why[256], *q, *answer = NULL;
	int64_t max_tokens;
	double max_cost;
	int rc;

	*ret_stop = false;
	if (!b)
		return 0;
	rc = nsh_agent_budget_sync(b, err);
	if (rc)
		return rc;
	if (!nsh_agent_budget_exceeded(b, why, sizeof(why)))
		return 0;
	{
		struct nsh_llm_usage used;
		double cost;
		json_t *d;

		nsh_agent_budget_get(b, &used, &cost, &max_tokens, &max_cost);
		d = json_pack("{s:s, s:I, s:I, s:f, s:f}", "reached", why, "tokens",
			      (json_int_t)nsh_llm_usage_total(&used), "max_tokens",
			      (json_int_t)max_tokens, "cost", cost, "max_cost", max_cost);
		if (nsh_agent_budget_plan(b))
			json_object_set_new(d, "plan", json_string(nsh_agent_budget_plan(b)));
		q = nsh_xasprintf("💰 The task's %s: %s", why,
				  h->ask && !l->run->depth ? "it waits for an answer"
							   : "the run stops");
		json_object_set_new(d, "message", nsh_json_string_lossy(q, strlen(q)));
		free(q);
		emit(l, "agent.budget", d);
	}
	if (!h->ask || l->run->depth) {
		*ret_stop = true;
		free(l->res->summary);
		l->res->summary = nsh_xasprintf("stopped: the task's %s", why);
		return 0;
	}
	q = nsh_xasprintf("The task's %s. Answer with a new allowance (e.g. '500k' tokens or "
			  "'$5'), 'continue' to allow as much again, or 'stop'.",
			  why);
	rc = h->ask(h->ctx, q, &answer, err);
	free(q);
	if (rc)
		return rc;
	if (!nsh_agent_budget_answer(b, answer)) {
		*ret_stop = true;
		free(l->res->summary);
		l->res->summary = nsh_xasprintf("stopped at the user's word: the task's %s", why);
	} else {
		nsh_agent_budget_get(b, NULL, NULL, &max_tokens, &max_cost);
		emit(l, "agent.budget",
		     json_pack("{s:I, s:f, s:s}", "max_tokens", (json_int_t)max_tokens, "max_cost",
			       max_cost, "answer", answer ? answer : ""));
	}
	free(answer);
	return 0;
}

/* Run the calls of the newest assistant turn (message @msg). */
static void run_calls(struct loop *l, size_t msg, bool *ret_stop)
{
	size_t n = l->conv.v[msg].ncalls;

	for (size_t k = 0; k < n; k++) {
		struct tool_out o;
		int64_t t0;
		char *id, *name, *args;

		if (k && stopping(l)) {
			skip_calls(l, msg, k, "error: not run: the job was stopped first");
			*ret_stop = true;
			return;
		}
		if (l->t.finished) {
			skip_calls(l, msg, k, "error: not run: finish was called first");
			return;
		}
		/* copies: running a tool may add messages and move the array */
		id = nsh_xstrdup(l->conv.v[msg].calls[k].id);
		name = nsh_xstrdup(l->conv.v[msg].calls[k].name);
		args = nsh_xstrdup(l->conv.v[msg].calls[k].args);
		memset(&o, 0, sizeof(o));
		nsh_buf_init(&o.text, 8u << 20);
		t0 = nsh_time_mono_ns();
		agent_tool_call(&l->t, name, args, &o);
		l->res->tool_ns += nsh_time_mono_ns() - t0;
		l->res->tool_calls++;
		nsh_llm_conv_add_tool(&l->conv, id, name, o.text.buf, o.is_error);
		stuck_observe(&l->stuck, name, args, o.text.buf, o.is_error, o.progress);
		{
			char *brief = agent_call_brief(name, args);

			emit(l, "agent.tool",
			     json_pack("{s:o, s:b, s:I}", "call",
				       nsh_json_string_lossy(brief, strlen(brief)), "ok",
				       !o.is_error, "ms",
				       (json_int_t)((nsh_time_mono_ns() - t0) / 1000000)));
			free(brief);
		}
		nsh_buf_release(&o.text);
		free(id);
		free(name);
		free(args);
		/* a steering message waits for no further call of this turn */
		if (k + 1 < n && !l->t.finished && l->run->host->steer && !l->run->depth) {
			if (take_steering(l)) {
				/*
				 * The user message went after this result; the skipped
				 * results must come before it, so move it to the end.
				 */
				struct nsh_llm_msg user = l->conv.v[l->conv.nr - 1];

				l->conv.nr--;
				skip_calls(l, msg, k + 1,
					   "error: not run: the user sent new instructions (below) "
					   "before this call ran");
				NSH_ALLOC_GROW(l->conv.v, l->conv.nr + 1, l->conv.alloc);
				l->conv.v[l->conv.nr++] = user;
				return;
			}
		}
	}
}

static void finish_result(struct loop *l)
{
	struct nsh_agent_result *r = l->res;

	nsh_llm_usage_add(&r->usage, &l->t.sub_usage);
	r->cost += l->t.sub_cost;
	r->model_ns += l->t.sub_model_ns;
	r->total_ns = nsh_time_mono_ns() - l->t0;
}

int nsh_agent_run_role(const struct nsh_agent_run *run, struct nsh_agent_result *ret,
		       struct nsh_err *err)
{
	const struct nsh_llm_settings *s = run->llm ? nsh_llm_settings(run->llm) : NULL;
	struct loop l;
	int max_steps, rc;
	bool resumed = false;

	memset(ret, 0, sizeof(*ret));
	ret->role = run->role;
	memset(&l, 0, sizeof(l));
	l.t0 = nsh_time_mono_ns();
	l.run = run;
	l.res = ret;
	l.t.run = run;
	l.t.root = -1;
	nsh_llm_conv_init(&l.conv);
	stuck_init(&l.stuck, IDLE_MAX);
	if (!run->task || !run->workspace || !run->host || !run->host->exec ||
	    (!run->llm && !run->send)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "agent run without task, workspace, host or model");
		goto out;
	}
	if (run->price)
		l.price = *run->price;
	else if (s)
		l.price = s->price;
	else
		l.price.input = l.price.output = l.price.cache_read = l.price.cache_write = -1;
	l.context = run->context_tokens > 0 ? run->context_tokens : s ? s->context_tokens : 128000;
	l.keep = run->keep_outputs > 0 ? run->keep_outputs : 6;
	max_steps = run->max_steps > 0		    ? run->max_steps
		    : run->role == NSH_AGENT_CODE   ? 80
		    : run->role == NSH_AGENT_VERIFY ? 30
						    : 40;
	rc = ws_open_root(run->workspace, &l.t.root, err);
	if (rc)
		goto out;
	l.ntools = agent_tools_for(run->role, run->host, run->depth, l.tools, TOOLS_MAX);
	rc = session_load(&l, &resumed, err);
	if (rc)
		goto out;
	if (resumed) {
		size_t fixed = nsh_llm_conv_repair(&l.conv);

		nsh_llm_conv_add_user(&l.conv, "(The job was interrupted and has now resumed. "
					       "Check the state of the workspace before you go "
					       "on.)");
		emit(&l, "agent.resumed", json_pack("{s:i}", "interrupted_calls", (int)fixed));
	} else {
		l.conv.system = system_prompt(run);
		if (run->role == NSH_AGENT_VERIFY && run->host->verify && !run->depth) {
			struct nsh_err verr = NSH_ERR_INIT;

			if (run->host->verify(run->host->ctx, &l.t.report, &verr))
				l.t.report =
					json_pack("{s:b, s:s}", "passed", 0, "summary", verr.msg);
		}
		first_message(&l);
	}
	emit(&l, "agent.start", json_pack("{s:b}", "resumed", resumed));

	for (;;) {
		struct nsh_llm_request rq = {&l.conv, l.tools, l.ntools};
		struct nsh_llm_reply r = {0};
		struct nsh_llm_msg *m;
		size_t msg;
		bool stop = false;
		char *why;

		if (checkpoint(&l)) {
			ret->outcome = NSH_AGENT_STOPPED;
			ret->summary = nsh_xstrdup("stopped: the job was stopped");
			break;
		}
		if (ret->turns >= max_steps) {
			ret->outcome = NSH_AGENT_STEPS;
			ret->summary = nsh_xasprintf("stopped after %d turns without finishing",
						     ret->turns);
			break;
		}
		take_steering(&l);
		rc = check_budget(&l, &stop, err);
		if (rc)
			goto out;
		if (stop) {
			ret->outcome = NSH_AGENT_BUDGET;
			break;
		}
		mask_old_outputs(&l);
		rc = summarize(&l, err);
		if (rc)
			goto out;
		rc = send_turn(&l, &rq, &r, err);
		if (rc) {
			if (rc == NSH_ECONFLICT && stopping(&l)) {
				ret->outcome = NSH_AGENT_STOPPED;
				ret->summary = nsh_xstrdup("stopped: the job was stopped");
				rc = 0;
				break;
			}
			goto out;
		}
		ret->turns++;
		turn_event(&l, &r);
		m = nsh_llm_conv_add_assistant(&l.conv, r.text, r.calls, r.ncalls);
		msg = (size_t)(m - l.conv.v);
		if (!r.ncalls) {
			if (r.stop == NSH_LLM_STOP_MAX_TOKENS) {
				nsh_llm_conv_add_user(&l.conv,
						      "Your reply was cut off at the output limit. "
						      "Go on with shorter steps, using the tools.");
			} else if (++l.nudges > NUDGES_MAX) {
				/* it keeps talking: take its words as the summary */
				ret->outcome = run->role == NSH_AGENT_VERIFY ? NSH_AGENT_BLOCKED
									     : NSH_AGENT_DONE;
				ret->summary =
					nsh_xstrdup(r.text && *r.text ? r.text : "(no summary)");
				nsh_llm_reply_release(&r);
				break;
			} else {
				nsh_llm_conv_add_user(&l.conv, "Continue with the tools, or call "
							       "finish when you are done.");
			}
			nsh_llm_reply_release(&r);
			session_save(&l);
			continue;
		}
		l.nudges = 0;
		nsh_llm_reply_release(&r);
		run_calls(&l, msg, &stop);
		session_save(&l);
		if (l.t.finished) {
			ret->outcome = l.t.outcome;
			ret->summary = l.t.summary;
			l.t.summary = NULL;
			ret->passed = l.t.passed;
			ret->general = l.t.general;
			ret->findings = l.t.findings;
			l.t.findings = NULL;
			break;
		}
		if (stop) {
			ret->outcome = NSH_AGENT_STOPPED;
			ret->summary = nsh_xstrdup("stopped: the job was stopped");
			break;
		}
		why = stuck_check(&l.stuck);
		if (why && !l.warned) {
			char *w = nsh_xasprintf(
				"Warning: you seem to be stuck: %s. Step back: re-read the task and "
				"the last errors, try a different approach, or call finish with "
				"status 'blocked' and explain what stops you.",
				why);

			nsh_llm_conv_add_user(&l.conv, w);
			emit(&l, "agent.stuck",
			     json_pack("{s:s, s:s}", "reason", why, "action", "warned"));
			free(w);
			stuck_reset(&l.stuck);
			l.warned = true;
		} else if (why) {
			emit(&l, "agent.stuck",
			     json_pack("{s:s, s:s}", "reason", why, "action", "stopped"));
			ret->outcome = NSH_AGENT_STUCK;
			ret->summary = nsh_xasprintf("%s", why);
			free(why);
			break;
		}
		free(why);
	}
	/* a verify run that found failures in the pipeline cannot pass, whatever was said */
	if (run->role == NSH_AGENT_VERIFY && l.t.report &&
	    json_is_false(json_object_get(l.t.report, "passed")))
		ret->passed = false;
	rc = 0;
out:
	finish_result(&l);
	if (!rc)
		emit(&l, "agent.end", nsh_agent_result_to_json(ret));
	if (l.t.root >= 0)
		close(l.t.root);
	free(l.t.summary);
	json_decref(l.t.findings);
	json_decref(l.t.report);
	nsh_llm_conv_release(&l.conv);
	stuck_release(&l.stuck);
	return rc;
}
