/*
 * GitHub webhooks, the receiving side (issue 12; docs/webhooks.md): the
 * signature check, the configuration of the triggers, the decision of what
 * a delivery asks for, and the queue that carries decisions out.
 *
 * A delivery goes through three stages:
 *
 *   1. the endpoint (src/server/webhook.c) checks the signature, records
 *      the delivery in the store (status received) and answers at once;
 *   2. nsh_github_decide() turns (event, payload, configuration) into a
 *      decision: a new task, a comment on an issue, review feedback on a
 *      pull request, or nothing with the reason. It is pure: no store, no
 *      clock, so every rule is tested directly;
 *   3. nsh_github_process() takes the deliveries still received, oldest
 *      first, carries out their decisions against the store (a task, a
 *      control request, feedback intake) and marks each processed, ignored
 *      or failed with the reason.
 *
 * Thread rules: the configuration is read-only once loaded and may be
 * shared; decisions belong to one thread; the queue functions use the
 * caller's store handle.
 */
#ifndef NSH_GITHUB_GITHUB_H
#define NSH_GITHUB_GITHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/id.h"
#include "core/vec.h"
#include "forge/forge.h"

struct nsh_err;
struct nsh_store;
struct nsh_config;

#define NSH_GITHUB_LABEL	 "nightshift"		       /* default [github] label */
#define NSH_GITHUB_COMMAND	 "/nightshift"		       /* default [github] command */
#define NSH_GITHUB_ASSOCIATIONS	 "OWNER, MEMBER, COLLABORATOR" /* who may trigger */
#define NSH_GITHUB_NETWORK	 "common"		       /* network level of the tasks made */
#define NSH_GITHUB_MAX_BODY	 (25u << 20)		       /* GitHub's own cap on a payload */
#define NSH_GITHUB_DEBOUNCE_MS	 2000	     /* quiet time before review feedback is taken */
#define NSH_GITHUB_TEXT_MAX	 (64u << 10) /* bytes of a task text or a steering text */
#define NSH_GITHUB_JSON_DEPTH	 64	     /* nesting of a payload */
#define NSH_GITHUB_DELIVERY_MAX	 100	     /* characters of a delivery id */
#define NSH_GITHUB_EVENT_MAX	 64	     /* characters of an event name */
#define NSH_GITHUB_SIGNATURE_LEN 71	     /* "sha256=" and 64 hex digits */
#define NSH_GITHUB_REASON_MAX	 256	     /* bytes of a reason, NUL included */

/* ---- signature.c ---- */

/**
 * Write "sha256=<64 lowercase hex digits>", the HMAC-SHA256 of @len bytes
 * at @body under @secret, to @out (NUL-terminated). Thread-safe.
 */
void nsh_github_signature(const char *secret, const void *body, size_t len,
			  char out[NSH_GITHUB_SIGNATURE_LEN + 1]);

/**
 * Whether @header (the X-Hub-Signature-256 value; NULL when missing) is
 * the signature of @body under @secret. The hex digits may be in either
 * case; the comparison takes the same time wherever the first difference
 * is. A NULL or empty secret never verifies. Thread-safe.
 */
bool nsh_github_signature_valid(const char *secret, const void *body, size_t len,
				const char *header);

/* ---- config.c ---- */

/* The [github] settings the receiving side uses. */
struct nsh_github_config {
	char *secret;			/* webhook_secret; NULL when webhooks are off */
	char *label;			/* label: an issue given it becomes a task */
	char *command;			/* command: a comment starting with it is one */
	char *bot_login;		/* bot_login: nightshift's own account, or NULL */
	struct nsh_strvec associations; /* associations, upper case */
	char *network;			/* network: level of the tasks made */
	uint64_t max_body;		/* webhook_max_body: bytes of a payload */
	int64_t debounce_ms;		/* debounce: quiet time before review feedback */
	char *org_repo;			/* org_repo: an issue there is about every repository
					   of its org (default ".github") */
};

/**
 * Read the [github] settings of @cfg (NULL: defaults only; the
 * environment's NIGHTSHIFT_GITHUB_* are part of @cfg). Errors: NSH_EINVAL
 * naming the setting for a value that does not parse (a size, a duration,
 * an unknown network level, an empty label or command, a command with
 * spaces). Release with nsh_github_config_release().
 */
int nsh_github_config_load(const struct nsh_config *cfg, struct nsh_github_config *ret,
			   struct nsh_err *err);
/** Free what @c holds and zero it. NULL ok. */
void nsh_github_config_release(struct nsh_github_config *c);
/** Whether author association @assoc ("MEMBER") is one that may trigger. */
bool nsh_github_association_allowed(const struct nsh_github_config *c, const char *assoc);

/* ---- trigger.c ---- */

enum nsh_github_verdict {
	NSH_GITHUB_IGNORE,	  /* nothing to do; the reason says why */
	NSH_GITHUB_NEW_TASK,	  /* an issue was given the label */
	NSH_GITHUB_ISSUE_COMMENT, /* a comment on an issue: a task, steering or an answer */
	NSH_GITHUB_FEEDBACK,	  /* review feedback on a pull request */
};

/* What a delivery asks for. Strings are owned by the decision. */
struct nsh_github_decision {
	enum nsh_github_verdict verdict;
	char reason[NSH_GITHUB_REASON_MAX]; /* IGNORE: why */
	bool has_ref;			    /* @ref names the issue or pull request */
	bool is_pr;			    /* ... and it is a pull request */
	struct nsh_forge_ref ref;	    /* org, repository and number */
	char *sender;			    /* who caused the event, or NULL */
	char *url;			    /* the issue's or comment's html_url, or NULL */
	bool command;	  /* ISSUE_COMMENT, FEEDBACK: it started with the command */
	char *text;	  /* NEW_TASK: title and body; ISSUE_COMMENT: the instructions
			     after the command, or the whole comment; FEEDBACK: what was said */
	char *issue_text; /* ISSUE_COMMENT: the issue's title and body */
	/* FEEDBACK */
	const char *kind;   /* "comment", "reply", "request_changes" or "approve" (static) */
	int64_t comment_id; /* the comment's or review's id */
	char *path;	    /* file of an inline comment, or NULL */
	int64_t line;	    /* its line, 0 when none */
	bool can_write;	    /* the author is an owner, member or collaborator */
};

void nsh_github_decision_release(struct nsh_github_decision *d);

/**
 * Decide what delivery @event with @payload asks for under @cfg:
 *   issues/labeled with the configured label           NEW_TASK
 *   issue_comment/created on an issue                  ISSUE_COMMENT
 *   issue_comment/created on a pull request,
 *   pull_request_review/submitted,
 *   pull_request_review_comment/created                FEEDBACK
 * and IGNORE with the reason for everything else: other events and
 * actions, another label, the bot's own events (sender bot_login, or
 * bot_login[bot] of type Bot), authors whose association may not trigger,
 * dismissed reviews. A label can only be added by people with triage
 * access, so a labeled event is not checked for association.
 *
 * Errors: NSH_EINVAL naming the field for a payload without what its
 * event must carry (repository.full_name, issue.number, ...). Pure and
 * thread-safe; *@ret is set in every case (release it).
 */
int nsh_github_decide(const char *event, const json_t *payload, const struct nsh_github_config *cfg,
		      struct nsh_github_decision *ret, struct nsh_err *err);

/**
 * "O/R#N": the issue or pull request a delivery is about, from
 * repository.full_name and issue.number or pull_request.number; NULL when
 * the payload names none. The caller frees it.
 */
char *nsh_github_subject(const json_t *payload);

/* ---- queue.c ---- */

/**
 * Queue delivery @delivery of @event with @payload for nsh_github_process()
 * (a row in status received, with its action and subject). @text is the
 * payload's JSON text when the raw body is at hand (the endpoint), or NULL
 * to serialise @payload (polling: hand each item found to this, and the
 * same triggers act on it). *@ret_added is false for a delivery id seen
 * before: a redelivery. Errors: store errors.
 */
int nsh_github_enqueue(struct nsh_store *s, const char *event, const char *delivery,
		       const json_t *payload, const char *text, bool *ret_added,
		       struct nsh_err *err);

/* What became of one delivery. */
struct nsh_github_outcome {
	const char *status;		    /* "processed", "ignored" or "failed" (static) */
	char reason[NSH_GITHUB_REASON_MAX]; /* why it was ignored or failed; what was done */
	char task_id[NSH_ID_MAX];	    /* the task it acted on, or "" */
};

/**
 * Carry out decision @d of delivery @delivery (event @event) on the store:
 *   NEW_TASK        a task for the issue (text, org, the repository as its
 *                   only repository, the configured network level, options
 *                   {"github": {"repo", "issue", "delivery", "url",
 *                   "sender"}}), unless the issue has one already;
 *   ISSUE_COMMENT   with an active task on the issue: "answer" when it
 *                   waits for input, else "steer"; without one, a command
 *                   makes a new task (its instructions, else the issue's
 *                   title and body) and other comments are ignored;
 *   FEEDBACK        nsh_feedback_intake() for the pull request;
 *   IGNORE          nothing.
 * The task concerned gets a "github.trigger" event (what was done, or why
 * not). Runs in the caller's transaction when one is open. Errors: store
 * errors only; everything else is an outcome.
 */
int nsh_github_apply(struct nsh_store *s, const struct nsh_github_config *cfg, const char *delivery,
		     const char *event, const struct nsh_github_decision *d,
		     struct nsh_github_outcome *ret, struct nsh_err *err);

/* The result of one pass over the queue. */
struct nsh_github_pass {
	size_t handled;	 /* deliveries marked processed, ignored or failed */
	int64_t wait_ms; /* review feedback waits for its quiet time: pass again in
			    this many ms; -1 when nothing waits */
	bool more;	 /* more deliveries wait than one pass takes */
};

/**
 * One pass over the deliveries still received, oldest first, as of
 * @now_ms (epoch ms): each is decided, carried out and marked, in one
 * transaction. Review feedback on a pull request waits until no delivery
 * about it has arrived for cfg->debounce_ms; then all of them are carried
 * out in one transaction, so the job's next run takes them together.
 * A delivery another process marked meanwhile is left alone. Errors:
 * store errors (the deliveries stay received).
 */
int nsh_github_process(struct nsh_store *s, const struct nsh_github_config *cfg, int64_t now_ms,
		       struct nsh_github_pass *ret, struct nsh_err *err);

#endif
