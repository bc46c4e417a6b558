/*
 * Per-task budgets of tokens and money. A job's budget starts from what the
 * task's events say was spent and keeps adding the other jobs' spending as
 * their events arrive; its own spending is charged directly.
 */
#include "agent/agent.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"

#include "core/banned.h"

/* Events read per sync at most; more wait for the next one. */
#define SYNC_BATCH 1000

struct nsh_agent_budget {
	int64_t max_tokens;  /* 0: no cap */
	double max_cost;     /* 0: no cap */
	int64_t orig_tokens; /* the caps as first set, for "raise by as much again" */
	double orig_cost;
	char *plan;		   /* the plan whose caps these are, or NULL */
	bool plan_tokens;	   /* @orig_tokens is @plan's figure */
	bool plan_cost;		   /* @orig_cost is @plan's figure */
	struct nsh_llm_usage used; /* spent by the task */
	double cost;		   /* in US dollars */
	struct nsh_store *st;	   /* attached: the store (borrowed) */
	char *task_id;		   /* the task whose events count */
	char *job_id;		   /* our job: its events are charged directly */
	int64_t after;		   /* newest event read */
};

struct nsh_agent_budget *nsh_agent_budget_new(int64_t max_tokens, double max_cost)
{
	struct nsh_agent_budget *b = nsh_xcalloc(1, sizeof(*b));

	b->max_tokens = b->orig_tokens = max_tokens > 0 ? max_tokens : 0;
	b->max_cost = b->orig_cost = max_cost > 0 ? max_cost : 0;
	return b;
}

void nsh_agent_budget_free(struct nsh_agent_budget *b)
{
	if (!b)
		return;
	free(b->task_id);
	free(b->job_id);
	free(b->plan);
	free(b);
}

void nsh_agent_budget_set_plan(struct nsh_agent_budget *b, const char *plan, bool tokens, bool cost)
{
	free(b->plan);
	b->plan = plan && *plan && (tokens || cost) ? nsh_xstrdup(plan) : NULL;
	b->plan_tokens = b->plan && tokens;
	b->plan_cost = b->plan && cost;
}

const char *nsh_agent_budget_plan(const struct nsh_agent_budget *b)
{
	return b->plan;
}

void nsh_agent_budget_charge(struct nsh_agent_budget *b, const struct nsh_llm_usage *u, double cost)
{
	nsh_llm_usage_add(&b->used, u);
	b->cost += cost;
}

/* Count one event of the task: a turn's usage, or raised caps. */
static void count_event(struct nsh_agent_budget *b, const struct nsh_event_rec *e, bool all_jobs)
{
	json_t *d = NULL;
	struct nsh_llm_usage u = {0};
	json_int_t v;
	double c = 0;

	if (nsh_json_parse(e->data, strlen(e->data), &d, NULL))
		return;
	if (!strcmp(e->kind, "agent.budget")) {
		double cost;

		if (!nsh_json_opt_int(d, "max_tokens", b->max_tokens, &v, NULL) &&
		    v > b->max_tokens)
			b->max_tokens = v;
		if (!nsh_json_opt_num(d, "max_cost", b->max_cost, &cost, NULL) &&
		    cost > b->max_cost)
			b->max_cost = cost;
	} else if (!strcmp(e->kind, "agent.turn") &&
		   (all_jobs || !e->job_id || !b->job_id || strcmp(e->job_id, b->job_id))) {
		if (!nsh_json_opt_int(d, "usage.input", 0, &v, NULL))
			u.input = v;
		if (!nsh_json_opt_int(d, "usage.output", 0, &v, NULL))
			u.output = v;
		if (!nsh_json_opt_int(d, "usage.cache_read", 0, &v, NULL))
			u.cache_read = v;
		if (!nsh_json_opt_int(d, "usage.cache_write", 0, &v, NULL))
			u.cache_write = v;
		nsh_json_opt_num(d, "cost", 0, &c, NULL);
		nsh_agent_budget_charge(b, &u, c > 0 ? c : 0);
	}
	json_decref(d);
}

/* Read the task's events after b->after; @all_jobs counts our own job's too. */
static int read_events(struct nsh_agent_budget *b, bool all_jobs, struct nsh_err *err)
{
	for (;;) {
		struct nsh_event_list l = {0};
		int rc = nsh_store_events_after(b->st, b->after, b->task_id, SYNC_BATCH, &l, err);

		if (rc)
			return rc;
		for (size_t i = 0; i < l.nr; i++) {
			count_event(b, &l.v[i], all_jobs);
			b->after = l.v[i].id;
		}
		rc = l.nr == SYNC_BATCH;
		nsh_event_list_release(&l);
		if (!rc)
			return 0;
	}
}

int nsh_agent_budget_attach(struct nsh_agent_budget *b, struct nsh_store *st, const char *task_id,
			    const char *job_id, struct nsh_err *err)
{
	b->st = st;
	free(b->task_id);
	free(b->job_id);
	b->task_id = nsh_xstrdup(task_id);
	b->job_id = job_id ? nsh_xstrdup(job_id) : NULL;
	b->after = 0;
	return read_events(b, true, err);
}

int nsh_agent_budget_sync(struct nsh_agent_budget *b, struct nsh_err *err)
{
	if (!b->st)
		return 0;
	return read_events(b, false, err);
}

/*
 * Where a cap of @max comes from, for a message: " (plan 'pro')" when it is
 * the plan's figure, " (raised; plan 'pro' has 1000)" after a raise, ""
 * when the plan does not set it.
 */
static void cap_origin(const struct nsh_agent_budget *b, bool of_plan, bool raised,
		       const char *orig, char *out, size_t cap)
{
	if (!of_plan)
		snprintf(out, cap, "%s", "");
	else if (!raised)
		snprintf(out, cap, " (plan '%s')", b->plan);
	else
		snprintf(out, cap, " (raised; plan '%s' has %s)", b->plan, orig);
}

bool nsh_agent_budget_exceeded(const struct nsh_agent_budget *b, char *why, size_t cap)
{
	int64_t total = nsh_llm_usage_total(&b->used);
	char orig[64], from[128];

	if (b->max_tokens && total >= b->max_tokens) {
		if (why) {
			snprintf(orig, sizeof(orig), "%lld", (long long)b->orig_tokens);
			cap_origin(b, b->plan_tokens, b->max_tokens != b->orig_tokens, orig, from,
				   sizeof(from));
			snprintf(why, cap, "token budget of %lld%s reached (%lld used)",
				 (long long)b->max_tokens, from, (long long)total);
		}
		return true;
	}
	if (b->max_cost > 0 && b->cost >= b->max_cost) {
		if (why) {
			snprintf(orig, sizeof(orig), "$%.2f", b->orig_cost);
			cap_origin(b, b->plan_cost, b->max_cost != b->orig_cost, orig, from,
				   sizeof(from));
			snprintf(why, cap, "cost budget of $%.2f%s reached ($%.4f spent)",
				 b->max_cost, from, b->cost);
		}
		return true;
	}
	return false;
}

/* "500000", "300k", "2M" as a token count; false when it is not one. */
static bool parse_tokens(const char *s, int64_t *ret)
{
	char *end;
	double v;

	if (*s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	v = strtod(s, &end);
	while (*end == ' ')
		end++;
	if (*end == 'k' || *end == 'K')
		v *= 1e3, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1e6, end++;
	while (*end == ' ')
		end++;
	if (!strncasecmp(end, "tokens", 6))
		end += 6;
	if (*end || v <= 0 || v > 1e12)
		return false;
	*ret = (int64_t)v;
	return true;
}

bool nsh_agent_budget_answer(struct nsh_agent_budget *b, const char *answer)
{
	static const char *const stops[] = {"stop", "no", "cancel", "abort", "n"};
	char *a = nsh_xstrdup(answer ? answer : "");
	char *p = a, *end;
	int64_t tokens, used = nsh_llm_usage_total(&b->used);
	bool go = true;

	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && (isspace((unsigned char)end[-1]) || end[-1] == '.'))
		*--end = '\0';
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (!strcasecmp(p, stops[i]))
			go = false;
	if (!go)
		goto out;
	if (*p == '$') {
		char *e;
		double v = strtod(p + 1, &e);

		if (e != p + 1 && !*e && v > 0 && v < 1e9) {
			b->max_cost = (b->max_cost > b->cost ? b->max_cost : b->cost) + v;
			goto out;
		}
	}
	if (parse_tokens(p, &tokens)) {
		b->max_tokens = (b->max_tokens > used ? b->max_tokens : used) + tokens;
		goto out;
	}
	/* "yes", "continue", ...: as much again as the original caps, from here */
	if (b->max_tokens)
		b->max_tokens = (b->max_tokens > used ? b->max_tokens : used) + b->orig_tokens;
	if (b->max_cost > 0)
		b->max_cost = (b->max_cost > b->cost ? b->max_cost : b->cost) + b->orig_cost;
out:
	free(a);
	return go;
}

void nsh_agent_budget_get(const struct nsh_agent_budget *b, struct nsh_llm_usage *ret_used,
			  double *ret_cost, int64_t *ret_max_tokens, double *ret_max_cost)
{
	if (ret_used)
		*ret_used = b->used;
	if (ret_cost)
		*ret_cost = b->cost;
	if (ret_max_tokens)
		*ret_max_tokens = b->max_tokens;
	if (ret_max_cost)
		*ret_max_cost = b->max_cost;
}
