/*
 * Memory: rules learned from review feedback, with provenance, scope,
 * kind, use statistics and governance (issue 11; docs/memory.md).
 *
 * A rule is either a recipe preference (recipe, choice, alternative: "for
 * lodash-3-to-4, contains-style = native") or free text for the LLM brain.
 * Governance:
 * - feedback from someone without write permission on the repository is
 *   never learned (NSH_EDENIED), nor feedback the poisoning guard flags
 *   (nsh_memory_guard());
 * - a rule starts at the scope of the repository where it was said (and
 *   optionally a language and a path glob); the same rule said again adds
 *   its reviewer and provenance to the existing rule; when two distinct
 *   reviewers of the organisation have given it, it is promoted to the
 *   organisation's scope (or explicitly with nsh_memory_promote());
 * - a preference that conflicts with an active one of the same recipe and
 *   choice whose scope overlaps replaces it: the newest wins, the older is
 *   superseded (kept and shown, not applied) and the conflict is recorded;
 * - a rule that is neither used nor said again for the TTL (config
 *   memory.ttl_days, default 60) expires.
 *
 * Thread rules: the functions use the store handle they are given, which
 * belongs to one thread at a time; nsh_memory_guard() is pure and
 * thread-safe.
 */
#ifndef NSH_MEMORY_MEMORY_H
#define NSH_MEMORY_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/vec.h"
#include "store/store.h"

struct nsh_err;
struct nsh_store;
struct nsh_config;

#define NSH_MEMORY_TTL_DAYS	 60 /* default of memory.ttl_days */
#define NSH_MEMORY_DAY_MS	 (24LL * 60 * 60 * 1000)
#define NSH_MEMORY_TEXT_MAX	 4096  /* bytes of a rule's text */
#define NSH_MEMORY_NAME_MAX	 200   /* bytes of a recipe, choice, alt, reviewer, language */
#define NSH_MEMORY_LIMIT	 20    /* rules nsh_memory_retrieve() returns by default */
#define NSH_MEMORY_CANDIDATES	 5000  /* rules in scope a retrieval looks at, at most */
#define NSH_MEMORY_PROMOTE_AFTER 2     /* distinct reviewers that promote a rule to its org */
#define NSH_MEMORY_COMMENT_MAX	 65536 /* bytes of a comment nsh_memory_guard() reads */

/* One piece of feedback to remember. */
struct nsh_memory_learn {
	const char *kind;     /* "preference" (recipe choice) or "text" (free text, LLM brain) */
	const char *recipe;   /* preference: recipe id, e.g. "lodash-3-to-4" */
	const char *choice;   /* preference: the choice, e.g. "contains-style" */
	const char *alt;      /* preference: the alternative chosen, e.g. "native" */
	const char *text;     /* the rule in words (both kinds): shown, and indexed for FTS */
	const char *repo;     /* "O/R" where it was said: the rule starts at repository scope */
	const char *language; /* optional narrower scope, or NULL */
	const char *path;     /* optional path glob scope, or NULL */
	const char *reviewer; /* who said it */
	bool can_write;	      /* the reviewer has write permission on the repository */
	const char *task_id;  /* provenance: the task (may be NULL), */
	const char *pr;	      /* the pull request "O/R#N" (may be NULL), */
	int64_t comment_id;   /* the comment (forge id, 0 for none), */
	int64_t now_ms;	      /* and when (injectable clock; 0: now) */
};

/* A learned rule with everything known about it. */
struct nsh_memory_rule {
	struct nsh_memory_rec r;		   /* the row: text, kind, scope, state, times */
	struct nsh_strvec reviewers;		   /* distinct reviewers, first to last */
	struct nsh_strvec repos;		   /* repositories it applies to at repo scope */
	struct nsh_memory_source_list sources;	   /* provenance, oldest first */
	struct nsh_memory_conflict_list conflicts; /* conflicts it won or lost */
	struct nsh_memory_use_list tasks;	   /* tasks that used it */
	double score;	 /* retrieval: full-text score against the task's text (0: none) */
	int specificity; /* retrieval: 1 org, 2 repository, +1 per language/path narrowing */
	char *why;	 /* why it applies: "repo demo-org/pricing", "org demo-org, ..." */
	bool created;	 /* nsh_memory_learn(): a new rule (else an existing one was renewed) */
	bool promoted;	 /* nsh_memory_learn(): this feedback promoted it to its org */
};

struct nsh_memory_rule_list {
	struct nsh_memory_rule *v; /* rules */
	size_t nr;		   /* in use */
	size_t alloc;		   /* allocated */
};

/** Free the contents of @r and zero it. NULL ok. */
void nsh_memory_rule_release(struct nsh_memory_rule *r);
/** Free every rule and the array. NULL ok. */
void nsh_memory_rule_list_release(struct nsh_memory_rule_list *l);

/**
 * Learn @in. Refused, with nothing stored: NSH_EDENIED "feedback from 'X'
 * is not learned: no write permission on 'O/R'" when !in->can_write, and
 * NSH_EDENIED "feedback from 'X' is not learned: asks to ..." when the
 * guard flags the text. NSH_EINVAL names a missing or malformed field.
 * The same rule again (same recipe/choice/alt, or the same text after
 * normalising case, spaces and final punctuation) adds the reviewer and
 * the provenance to the existing rule and makes it active again; the same
 * comment twice is recorded once. The rule as stored (with sources,
 * reviewers and conflicts) goes to @ret (may be NULL; released by the
 * caller). Runs in one transaction.
 */
int nsh_memory_learn(struct nsh_store *st, const struct nsh_memory_learn *in,
		     struct nsh_memory_rule *ret, struct nsh_err *err);

/* What nsh_memory_retrieve() looks for. */
struct nsh_memory_query {
	const char *org;	  /* "O" (required) */
	const char *repo;	  /* "O/R", or NULL for the org's rules only */
	const char *language;	  /* or NULL: rules of any language */
	const char *const *paths; /* NULL-terminated files of the change, or NULL: any path */
	const char *text;	  /* the task's text, for full-text ranking; NULL ok */
	const char *recipe;	  /* only preferences of this recipe (text rules always) */
	int64_t now_ms;		  /* expired rules are not returned (0: now) */
	int64_t ttl_ms;		  /* expiry TTL (0: NSH_MEMORY_TTL_DAYS) */
	size_t limit;		  /* 0: NSH_MEMORY_LIMIT */
};

/**
 * The active, unexpired rules whose scope matches @q: repository rules of
 * q->repo and the org rules of q->org; with q->language, only rules of that
 * language or of none; with q->paths, only rules without a path glob or
 * whose glob matches one of the paths. Ranked by scope specificity, then
 * full-text score against q->text (BM25 over the rules in scope, from
 * FTS5), then recency; each with its why and its conflicts. Expires stale
 * rules first. Appended to @ret.
 */
int nsh_memory_retrieve(struct nsh_store *st, const struct nsh_memory_query *q,
			struct nsh_memory_rule_list *ret, struct nsh_err *err);

/**
 * Count a use of rule @id by @task_id (may be NULL) at @now_ms (0: now):
 * uses, last use, the task; a use restarts the expiry clock.
 * NSH_ENOTFOUND "no memory N".
 */
int nsh_memory_used(struct nsh_store *st, int64_t id, const char *task_id, int64_t now_ms,
		    struct nsh_err *err);

/**
 * Forget rule @id (it is kept, shown, never applied again), by @by (may be
 * NULL). NSH_ENOTFOUND "no memory N"; forgetting twice is not an error.
 */
int nsh_memory_forget(struct nsh_store *st, int64_t id, const char *by, struct nsh_err *err);

/**
 * Promote rule @id to the scope of its whole organisation, by @by (may be
 * NULL). It counts as a fresh statement of the rule: conflicting
 * preferences of the org are superseded by it. NSH_ENOTFOUND "no memory
 * N"; NSH_ECONFLICT for a rule that is forgotten, or that belongs to no
 * organisation; promoting an org rule again is not an error.
 */
int nsh_memory_promote(struct nsh_store *st, int64_t id, const char *by, struct nsh_err *err);

/** Read rule @id with everything about it into @ret. NSH_ENOTFOUND "no memory N". */
int nsh_memory_get(struct nsh_store *st, int64_t id, struct nsh_memory_rule *ret,
		   struct nsh_err *err);

/* Which rules nsh_memory_list() returns. */
struct nsh_memory_list_filter {
	struct nsh_memory_filter f; /* store filter: state, scope, org, repo, kind, limit... */
	int64_t now_ms;		    /* expiry runs first at this time (0: now) */
	int64_t ttl_ms;		    /* 0: NSH_MEMORY_TTL_DAYS */
};

/**
 * The rules matching @filter (NULL: all), newest first, each with its
 * provenance. Expires stale rules first. Appended to @ret.
 */
int nsh_memory_list(struct nsh_store *st, const struct nsh_memory_list_filter *filter,
		    struct nsh_memory_rule_list *ret, struct nsh_err *err);

/**
 * Rules neither used nor said again for @ttl_ms before @now_ms become
 * expired; how many go to @ret_n (may be NULL).
 */
int nsh_memory_expire(struct nsh_store *st, int64_t now_ms, int64_t ttl_ms, size_t *ret_n,
		      struct nsh_err *err);

/**
 * The TTL from @cfg's memory.ttl_days (a whole number of days from 1 to
 * 36500; default NSH_MEMORY_TTL_DAYS; @cfg may be NULL) in milliseconds.
 * NSH_EINVAL naming the setting.
 */
int nsh_memory_ttl_ms(const struct nsh_config *cfg, int64_t *ret, struct nsh_err *err);

/**
 * @r as a JSON object (a new reference): id, kind, text, recipe, choice,
 * alt, scope, scope_value, org, repos, language, path, state, reviewers,
 * sources, conflicts, uses, tasks, times (ISO 8601), why and score when
 * set.
 */
json_t *nsh_memory_rule_to_json(const struct nsh_memory_rule *r);

/**
 * The poisoning guard: 1 when review comment @comment asks to disable,
 * skip or delete tests, weaken or turn off checks (lint, type checks, CI,
 * hooks, coverage thresholds, assertions, the sandbox's network), or to
 * ignore failures; *@ret_reason then gets a new string such as "asks to
 * disable tests" (the caller frees it; @ret_reason may be NULL). 0 when
 * the comment looks fine. Only the first NSH_MEMORY_COMMENT_MAX bytes are
 * read. Pure and thread-safe.
 */
int nsh_memory_guard(const char *comment, char **ret_reason);

#endif
