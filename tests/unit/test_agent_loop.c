/*
 * Tests for the tool loop with a scripted model in-process: finishing,
 * steering at the next tool boundary, stuck detection (warning, then a
 * stop), budgets that ask the user, masking of old outputs, summaries past
 * the token threshold, resuming an interrupted session, nudges, and that
 * every request the loop sends is a valid conversation for both wire
 * formats (every call answered, in order, before anything else).
 */
#include "agent/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/vec.h"
#include "test.h"

#include "core/banned.h"

static char *ws;

/* One scripted model turn. */
struct turn {
	const char *text;  /* may be NULL */
	const char *calls; /* JSON array of [name, args-object] pairs, or NULL */
	int64_t in, out;   /* usage; in < 0: counted from the request */
};

struct script {
	const struct turn *turns;
	size_t n, next;
	int sends;		  /* requests seen */
	bool repeat_last;	  /* past the end, the last turn again */
	struct nsh_llm_conv last; /* copy of the newest request's conversation */
	char *last_user;	  /* the newest user message of the newest request */
	bool invalid;		  /* a request broke the pairing rules */
	int summary_requests;	  /* requests that asked for a summary */
	int masked_seen;	  /* masked outputs in the newest request */
	int fail_at;		  /* answer request number fail_at (1-based) with an error */
};

/* Every call of an assistant turn is answered right after it, before any other message. */
static bool valid_conv(const struct nsh_llm_conv *c)
{
	for (size_t i = 0; i < c->nr; i++) {
		const struct nsh_llm_msg *m = &c->v[i];

		if (m->role == NSH_LLM_TOOL) {
			if (!i)
				return false;
			continue;
		}
		if (m->role != NSH_LLM_ASSISTANT)
			continue;
		for (size_t k = 0; k < m->ncalls; k++) {
			if (i + 1 + k >= c->nr || c->v[i + 1 + k].role != NSH_LLM_TOOL ||
			    strcmp(c->v[i + 1 + k].call_id, m->calls[k].id))
				return false;
		}
	}
	return c->nr && c->v[0].role == NSH_LLM_USER;
}

static int fake_send(void *ctx, const struct nsh_llm_request *rq, struct nsh_llm_reply *ret,
		     struct nsh_err *err)
{
	struct script *s = ctx;
	const struct turn *t;
	json_t *calls = NULL, *body = NULL;
	size_t i;
	json_t *pair;

	s->sends++;
	if (!valid_conv(rq->conv))
		s->invalid = true;
	/* both encoders accept it */
	if (nsh_llm_encode(NSH_LLM_OPENAI, rq, "m", 100, false, false, &body, err))
		s->invalid = true;
	json_decref(body);
	body = NULL;
	if (nsh_llm_encode(NSH_LLM_ANTHROPIC, rq, "m", 100, false, false, &body, err))
		s->invalid = true;
	json_decref(body);
	free(s->last_user);
	s->last_user = NULL;
	s->masked_seen = 0;
	for (i = 0; i < rq->conv->nr; i++) {
		if (rq->conv->v[i].role == NSH_LLM_USER) {
			free(s->last_user);
			s->last_user = strdup(rq->conv->v[i].text);
		}
		s->masked_seen += rq->conv->v[i].masked;
	}
	nsh_llm_conv_release(&s->last);
	{
		json_t *j = nsh_llm_conv_to_json(rq->conv);

		nsh_llm_conv_from_json(j, &s->last, NULL);
		json_decref(j);
	}
	if (s->last_user && strstr(s->last_user, "Stop here for a moment")) {
		s->summary_requests++;
		ret->text = strdup("SUMMARY: found the middleware, edited app.js");
		ret->usage.input = 10;
		ret->usage_known = true;
		return 0;
	}
	if (s->fail_at && s->sends == s->fail_at)
		return nsh_err_set(err, NSH_EFAIL, "openai: HTTP 500 provider error: boom");
	if (s->next >= s->n) {
		if (!s->repeat_last || !s->n)
			return nsh_err_set(err, NSH_EFAIL, "script exhausted");
		s->next = s->n - 1;
	}
	t = &s->turns[s->next++];
	if (t->text)
		ret->text = strdup(t->text);
	if (t->calls && nsh_json_parse(t->calls, strlen(t->calls), &calls, err))
		abort();
	json_array_foreach(calls, i, pair)
	{
		char *args = json_dumps(json_array_get(pair, 1), JSON_COMPACT);

		ret->calls = realloc(ret->calls, (ret->ncalls + 1) * sizeof(*ret->calls));
		ret->calls[ret->ncalls].id = NULL;
		if (asprintf(&ret->calls[ret->ncalls].id, "call_%d_%zu", s->sends, i) < 0)
			abort();
		ret->calls[ret->ncalls].name = strdup(json_string_value(json_array_get(pair, 0)));
		ret->calls[ret->ncalls].args = args;
		ret->ncalls++;
	}
	json_decref(calls);
	ret->stop = ret->ncalls ? NSH_LLM_STOP_TOOL_USE : NSH_LLM_STOP_END;
	ret->usage.input = t->in;
	if (t->in < 0) {
		/* count as a provider would: the whole request, about four bytes a token */
		size_t bytes = strlen(rq->conv->system ? rq->conv->system : "");

		for (i = 0; i < rq->conv->nr; i++)
			bytes += rq->conv->v[i].text ? strlen(rq->conv->v[i].text) : 0;
		ret->usage.input = (int64_t)(bytes / 4);
	}
	ret->usage.output = t->out;
	ret->usage_known = true;
	return 0;
}

static void script_release(struct script *s)
{
	nsh_llm_conv_release(&s->last);
	free(s->last_user);
}

/* ---- a host ---- */

struct fake_host {
	char *spec;
	int steer_polls;	 /* calls of steer() */
	int steer_at;		 /* poll number that returns a message (0: never) */
	const char *answer;	 /* what ask() answers */
	int asks;		 /* questions asked */
	char *question;		 /* the newest */
	struct nsh_strvec kinds; /* events seen */
	bool stop;		 /* stopping() says so */
};

static int fh_exec(void *ctx, const char *const *argv, const char *cwd, int64_t timeout_ms,
		   size_t out_max, struct nsh_agent_exec *ret, struct nsh_err *err)
{
	(void)ctx;
	return nsh_agent_exec_local(ws, argv, cwd, timeout_ms, out_max, ret, err);
}

static int fh_steer(void *ctx, struct nsh_strvec *ret, struct nsh_err *err)
{
	struct fake_host *h = ctx;

	(void)err;
	if (++h->steer_polls == h->steer_at)
		nsh_strvec_push(ret, "use a sliding window, not a fixed one");
	return 0;
}

static int fh_ask(void *ctx, const char *q, char **ret, struct nsh_err *err)
{
	struct fake_host *h = ctx;

	(void)err;
	h->asks++;
	free(h->question);
	h->question = strdup(q);
	*ret = strdup(h->answer ? h->answer : "stop");
	return 0;
}

static bool fh_stopping(void *ctx)
{
	return ((struct fake_host *)ctx)->stop;
}

static void fh_event(void *ctx, const char *kind, const json_t *data)
{
	struct fake_host *h = ctx;

	(void)data;
	nsh_strvec_push(&h->kinds, kind);
}

static int fh_spec_get(void *ctx, char **ret, struct nsh_err *err)
{
	struct fake_host *h = ctx;

	if (!h->spec)
		return nsh_err_set(err, NSH_ENOTFOUND, "no spec");
	*ret = strdup(h->spec);
	return 0;
}

static int fh_spec_put(void *ctx, const char *body, struct nsh_err *err)
{
	struct fake_host *h = ctx;

	(void)err;
	free(h->spec);
	h->spec = strdup(body);
	return 0;
}

static void host_init(struct nsh_agent_host *h, struct fake_host *fh)
{
	memset(fh, 0, sizeof(*fh));
	nsh_strvec_init(&fh->kinds);
	memset(h, 0, sizeof(*h));
	h->ctx = fh;
	h->exec = fh_exec;
	h->steer = fh_steer;
	h->ask = fh_ask;
	h->stopping = fh_stopping;
	h->event = fh_event;
	h->spec_get = fh_spec_get;
	h->spec_put = fh_spec_put;
}

static void host_release(struct fake_host *fh)
{
	free(fh->spec);
	free(fh->question);
	nsh_strvec_release(&fh->kinds);
}

static int count_kind(const struct fake_host *fh, const char *kind)
{
	int n = 0;

	for (size_t i = 0; i < fh->kinds.nr; i++)
		n += !strcmp(fh->kinds.v[i], kind);
	return n;
}

static void put(const char *rel, const char *text)
{
	struct nsh_buf p = NSH_BUF_INIT;

	nsh_fs_join(&p, ws, rel);
	if (nsh_fs_write_atomic(p.buf, text, strlen(text), 0644, NULL))
		abort();
	nsh_buf_release(&p);
}

#define HAS(s, sub) ((s) && strstr((s), (sub)) != NULL)

static void test_research_finishes(void)
{
	static const struct turn turns[] = {
		{"Looking.", "[[\"read_file\",{\"path\":\"app.js\"}]]", 100, 10},
		{NULL, "[[\"update_spec\",{\"section\":\"Plan\",\"content\":\"1. limiter\"}]]", 120,
		 10},
		{NULL, "[[\"finish\",{\"summary\":\"plan written\"}]]", 130, 5},
	};
	struct script s = {turns, 3, 0, 0, false, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_llm_price price = {1, 2, 0.1, 1.25};

	host_init(&h, &fh);
	fh.spec = strdup("# Task\n");
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_RESEARCH;
	run.task = "Add rate limiting to /api/login";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	run.price = &price;
	put("app.js", "app.post('/api/login', login);\n");
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_DONE);
	CHECK_STR(r.summary, "plan written");
	CHECK_INT(r.turns, 3);
	CHECK_INT(r.tool_calls, 3);
	CHECK_INT(r.usage.input, 350);
	CHECK_INT(r.usage.output, 25);
	CHECK(r.cost > 0.000399 && r.cost < 0.000401);
	CHECK(HAS(fh.spec, "## Plan\n\n1. limiter"));
	CHECK_INT(count_kind(&fh, "agent.turn"), 3);
	CHECK_INT(count_kind(&fh, "agent.tool"), 3);
	CHECK_INT(count_kind(&fh, "agent.end"), 1);
	CHECK(!s.invalid);
	/* the first message carried the task and the spec */
	CHECK(HAS(s.last.v[0].text, "Add rate limiting") && HAS(s.last.v[0].text, "# Task"));
	CHECK(HAS(s.last.system, "research and planning agent"));
	nsh_agent_result_release(&r);
	script_release(&s);
	host_release(&fh);
}

static void test_steering_at_tool_boundary(void)
{
	static const struct turn turns[] = {
		{NULL,
		 "[[\"read_file\",{\"path\":\"app.js\"}],[\"run\",{\"command\":\"echo "
		 "should-not-run > ran.txt\"}]]",
		 10, 1},
		{NULL, "[[\"finish\",{\"summary\":\"done with the window\"}]]", 10, 1},
	};
	struct script s = {turns, 2, 0, 0, false, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_llm_conv *c = &s.last;
	struct nsh_buf p = NSH_BUF_INIT;

	host_init(&h, &fh);
	fh.steer_at = 2; /* poll 1: before the first turn; poll 2: after the first call */
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_CODE;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_DONE);
	CHECK(!s.invalid);
	/* the second request: ..., tool(read), tool(skipped run), user(steering) */
	CHECK(c->nr >= 4);
	CHECK_INT(c->v[c->nr - 3].role, NSH_LLM_TOOL);
	CHECK_INT(c->v[c->nr - 2].role, NSH_LLM_TOOL);
	CHECK(HAS(c->v[c->nr - 2].text, "not run: the user sent new instructions"));
	CHECK_INT(c->v[c->nr - 1].role, NSH_LLM_USER);
	CHECK(HAS(c->v[c->nr - 1].text, "use a sliding window"));
	nsh_fs_join(&p, ws, "ran.txt");
	CHECK(!nsh_fs_exists(p.buf)); /* the skipped command never ran */
	CHECK_INT(count_kind(&fh, "agent.steered"), 1);
	nsh_buf_release(&p);
	nsh_agent_result_release(&r);
	script_release(&s);
	host_release(&fh);
}

static void test_stuck_warns_then_stops(void)
{
	static const struct turn turns[] = {
		{NULL, "[[\"read_file\",{\"path\":\"app.js\"}]]", 10, 1},
	};
	struct script s = {turns, 1, 0, 0, true, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;

	host_init(&h, &fh);
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_CODE;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_STUCK);
	CHECK(HAS(r.summary, "same call to 'read_file'"));
	CHECK_INT(r.turns, 6); /* three to the warning, three more to the stop */
	CHECK_INT(count_kind(&fh, "agent.stuck"), 2);
	CHECK(HAS(s.last_user, "you seem to be stuck"));
	nsh_agent_result_release(&r);
	script_release(&s);
	host_release(&fh);
}

static void test_budget_asks(void)
{
	static const struct turn turns[] = {
		{NULL, "[[\"list_files\",{}]]", 60, 10},
		{NULL, "[[\"read_file\",{\"path\":\"app.js\"}]]", 60, 10},
		{NULL, "[[\"finish\",{\"summary\":\"done\"}]]", 60, 10},
	};
	struct script s = {turns, 3, 0, 0, false, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_agent_budget *b = nsh_agent_budget_new(100, 0);

	host_init(&h, &fh);
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_RESEARCH;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	run.budget = b;
	/* the user says stop: the run ends, it does not fail */
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_BUDGET);
	CHECK_INT(fh.asks, 1);
	CHECK(HAS(fh.question, "token budget of 100 reached (140 used)"));
	CHECK(HAS(r.summary, "stopped at the user's word"));
	CHECK_INT(r.turns, 2);
	nsh_agent_result_release(&r);
	nsh_agent_budget_free(b);

	/* the user allows more: the run goes on to finish */
	b = nsh_agent_budget_new(100, 0);
	run.budget = b;
	s.next = 0;
	fh.asks = 0;
	fh.answer = "continue";
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_DONE);
	CHECK_INT(fh.asks, 1);
	CHECK_INT(r.turns, 3);
	nsh_agent_result_release(&r);
	nsh_agent_budget_free(b);
	script_release(&s);
	host_release(&fh);
}

static void test_masking_and_summary(void)
{
	static const struct turn turns[] = {
		{NULL, "[[\"run\",{\"command\":\"seq 1 3000\"}]]", 10, 1},
	};
	struct script s = {turns, 1, 0, 0, true, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;

	host_init(&h, &fh);
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_CODE;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	run.max_steps = 14;
	run.keep_outputs = 2;
	run.context_tokens = 1000000;
	/* the same output over and over would look stuck: vary it */
	(void)turns;
	{
		static const struct turn vary[] = {
			{NULL, "[[\"run\",{\"command\":\"seq 1 3000; echo 1\"}]]", -1, 1},
			{NULL, "[[\"run\",{\"command\":\"seq 1 3000; echo 2\"}]]", -1, 1},
			{NULL, "[[\"run\",{\"command\":\"seq 1 3000; echo 3\"}]]", -1, 1},
			{NULL, "[[\"run\",{\"command\":\"seq 1 3000; echo 4\"}]]", -1, 1},
			{NULL, "[[\"run\",{\"command\":\"seq 1 3000; echo 5\"}]]", -1, 1},
			{NULL, "[[\"run\",{\"command\":\"seq 1 3000; echo 6\"}]]", -1, 1},
			{NULL, "[[\"finish\",{\"summary\":\"ok\"}]]", 10, 1},
		};

		s.turns = vary;
		s.n = 7;
		s.repeat_last = false;
		CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
		CHECK_INT(r.outcome, NSH_AGENT_DONE);
		/* the newest two outputs are whole, older ones replaced by a note */
		CHECK(s.masked_seen >= 3);
		for (size_t i = 0; i < s.last.nr; i++)
			if (s.last.v[i].masked)
				CHECK(HAS(s.last.v[i].text, "removed to save context") &&
				      HAS(s.last.v[i].text, "run seq 1 3000"));
		CHECK_INT(s.summary_requests, 0);
		CHECK(!s.invalid);
		nsh_agent_result_release(&r);

		/* a small window: the model is asked for a summary, the middle goes */
		s.next = 0;
		run.context_tokens = 6000;
		run.keep_outputs = 50;
		CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
		CHECK_INT(r.outcome, NSH_AGENT_DONE);
		CHECK(s.summary_requests >= 1);
		CHECK(HAS(s.last.v[1].text, "Summary of the work so far") &&
		      HAS(s.last.v[1].text, "SUMMARY: found the middleware"));
		CHECK(HAS(s.last.v[0].text, "# Task"));
		CHECK_INT(s.last.v[2].role, NSH_LLM_ASSISTANT);
		CHECK(!s.invalid);
		CHECK_INT(count_kind(&fh, "agent.summary"), s.summary_requests);
		nsh_agent_result_release(&r);
	}
	script_release(&s);
	host_release(&fh);
}

static void test_resume_interrupted(void)
{
	static const struct turn turns[] = {
		{NULL, "[[\"finish\",{\"summary\":\"resumed and done\"}]]", 10, 1},
	};
	struct script s = {turns, 1, 0, 0, false, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf path = NSH_BUF_INIT;
	static const char saved[] =
		"{\"conv\":{\"system\":\"saved system\",\"messages\":["
		"{\"role\":\"user\",\"text\":\"the task\"},"
		"{\"role\":\"assistant\",\"calls\":[{\"id\":\"c1\",\"name\":\"run\",\"args\":"
		"\"{\\\"command\\\":\\\"make\\\"}\"},{\"id\":\"c2\",\"name\":\"run\",\"args\":"
		"\"{}\"}]},"
		"{\"role\":\"tool\",\"call_id\":\"c1\",\"name\":\"run\",\"text\":\"exit code 0\"}"
		"]},\"turns\":4}";

	host_init(&h, &fh);
	nsh_fs_join(&path, ws, "session.json");
	CHECK_INT(nsh_fs_write_atomic(path.buf, saved, strlen(saved), 0600, NULL), 0);
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_CODE;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	run.session = path.buf;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_DONE);
	CHECK_INT(r.turns, 5); /* counted on from the saved session */
	CHECK(!s.invalid);
	CHECK_STR(s.last.system, "saved system");
	CHECK_STR(s.last.v[3].call_id, "c2");
	CHECK(s.last.v[3].is_error && HAS(s.last.v[3].text, "interrupted"));
	CHECK(HAS(s.last.v[4].text, "resumed"));
	CHECK_INT(count_kind(&fh, "agent.resumed"), 1);
	nsh_agent_result_release(&r);

	/* a session file broken by a crash: the role starts afresh and says so */
	CHECK_INT(nsh_fs_write_atomic(path.buf, "{", 1, 0600, NULL), 0);
	s.next = 0;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_DONE);
	CHECK_INT(r.turns, 1);
	CHECK_INT(count_kind(&fh, "agent.session_lost"), 1);
	CHECK(HAS(s.last.v[0].text, "# Task"));
	nsh_agent_result_release(&r);
	nsh_buf_release(&path);
	script_release(&s);
	host_release(&fh);
}

static void test_nudges_and_errors(void)
{
	static const struct turn talk[] = {
		{"I think it is done.", NULL, 10, 1},
		{"Really done.", NULL, 10, 1},
		{"The limiter is in place.", NULL, 10, 1},
	};
	struct script s = {talk, 3, 0, 0, false, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;

	host_init(&h, &fh);
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_CODE;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_DONE);
	CHECK_STR(r.summary, "The limiter is in place.");
	CHECK(HAS(s.last_user, "call finish when you are done"));
	nsh_agent_result_release(&r);

	/* a provider failure ends the run with its error */
	s.next = 0;
	s.sends = 0;
	s.fail_at = 1;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), NSH_EFAIL);
	CHECK(HAS(err.msg, "HTTP 500"));
	nsh_agent_result_release(&r);

	/* a stop from the host before the first turn */
	fh.stop = true;
	s.fail_at = 0;
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK_INT(r.outcome, NSH_AGENT_STOPPED);
	CHECK_INT(r.turns, 0);
	nsh_agent_result_release(&r);
	script_release(&s);
	host_release(&fh);
}

static void test_steering_file_in_prompt(void)
{
	static const struct turn turns[] = {
		{NULL, "[[\"finish\",{\"summary\":\"x\"}]]", 10, 1},
	};
	struct script s = {turns, 1, 0, 0, false, {0}, NULL, false, 0, 0, 0};
	struct nsh_agent_host h;
	struct fake_host fh;
	struct nsh_agent_run run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf dir = NSH_BUF_INIT;

	nsh_fs_join(&dir, ws, ".nightshift");
	nsh_fs_mkdir_p(dir.buf, 0755, NULL);
	put(".nightshift/steering.md", "Always use the existing middleware in lib/mw.js.\n");
	host_init(&h, &fh);
	memset(&run, 0, sizeof(run));
	run.role = NSH_AGENT_CODE;
	run.task = "t";
	run.workspace = ws;
	run.host = &h;
	run.send = fake_send;
	run.send_ctx = &s;
	run.org_steering = "Org rule: no new dependencies.";
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK(HAS(s.last.system, "Always use the existing middleware"));
	CHECK(HAS(s.last.system, "Org rule: no new dependencies."));
	nsh_agent_result_release(&r);
	/* the verify agent judges without them */
	s.next = 0;
	run.role = NSH_AGENT_VERIFY;
	s.turns = (const struct turn[]){
		{NULL, "[[\"finish\",{\"summary\":\"x\",\"passed\":true}]]", 10, 1}};
	CHECK_INT(nsh_agent_run_role(&run, &r, &err), 0);
	CHECK(!HAS(s.last.system, "Always use the existing middleware"));
	CHECK(r.passed);
	nsh_agent_result_release(&r);
	nsh_buf_release(&dir);
	script_release(&s);
	host_release(&fh);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	ws = t_tmpdir();
	RUN(test_research_finishes);
	RUN(test_steering_at_tool_boundary);
	RUN(test_stuck_warns_then_stops);
	RUN(test_budget_asks);
	RUN(test_masking_and_summary);
	RUN(test_resume_interrupted);
	RUN(test_nudges_and_errors);
	RUN(test_steering_file_in_prompt);
	nsh_fs_remove_tree(ws, &err);
	free(ws);
	return TEST_DONE();
}
