/*
 * What a delivery asks for: a pure function of the event name, the payload
 * and the configuration (no store, no clock), so that every rule of
 * docs/webhooks.md is tested on its own.
 *
 * Field names and shapes are GitHub's (research/integrations.md A3): the
 * payload's "action", "sender", "repository.full_name"; an issue comment
 * on a pull request carries "issue.pull_request"; review states are lower
 * case in webhooks.
 */
#include "github/github.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

void nsh_github_decision_release(struct nsh_github_decision *d)
{
	if (!d)
		return;
	free(d->sender);
	free(d->url);
	free(d->text);
	free(d->issue_text);
	free(d->path);
	memset(d, 0, sizeof(*d));
}

static void ignore(struct nsh_github_decision *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ignore(struct nsh_github_decision *d, const char *fmt, ...)
{
	va_list ap;

	d->verdict = NSH_GITHUB_IGNORE;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

/* A string at @path, or NULL when it is missing, null or not a string. */
static const char *str_at(const json_t *root, const char *path)
{
	const char *v = NULL;

	if (nsh_json_opt_str(root, path, NULL, &v, NULL))
		return NULL;
	return v;
}

/* A copy of at most NSH_GITHUB_TEXT_MAX bytes of @s, cut at a character boundary. */
static char *text_copy(const char *s, size_t len)
{
	if (len > NSH_GITHUB_TEXT_MAX) {
		len = NSH_GITHUB_TEXT_MAX;
		while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	return nsh_xstrndup(s, len);
}

/* @s without leading and trailing white space, as a capped copy. */
static char *trimmed(const char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return text_copy(s, n);
}

/* "TITLE\n\nBODY" (or the title alone) of the issue in @payload, capped. */
static char *issue_text(const json_t *payload)
{
	const char *title = str_at(payload, "issue.title");
	const char *body = str_at(payload, "issue.body");
	struct nsh_buf b = NSH_BUF_INIT;
	char *out, *t;

	nsh_buf_adds(&b, title ? title : "");
	nsh_buf_trim(&b);
	if (body) {
		t = trimmed(body);
		if (*t) {
			if (b.len)
				nsh_buf_adds(&b, "\n\n");
			nsh_buf_adds(&b, t);
		}
		free(t);
	}
	out = text_copy(b.buf, b.len);
	nsh_buf_release(&b);
	return out;
}

/*
 * Whether @body starts (after white space) with @command followed by white
 * space or its end; *@ret_rest then points at what follows.
 */
static bool starts_with_command(const char *body, const char *command, const char **ret_rest)
{
	size_t n = strlen(command);

	while (isspace((unsigned char)*body))
		body++;
	if (strncasecmp(body, command, n) || (body[n] && !isspace((unsigned char)body[n])))
		return false;
	*ret_rest = body + n;
	return true;
}

/* Whether the event was caused by nightshift's own account. */
static bool from_bot(const json_t *payload, const struct nsh_github_config *cfg)
{
	const char *login = str_at(payload, "sender.login");
	const char *type = str_at(payload, "sender.type");
	size_t n;

	if (!cfg->bot_login || !login)
		return false;
	if (!strcasecmp(login, cfg->bot_login))
		return true;
	/* A GitHub App acts as "<slug>[bot]", of type Bot. */
	n = strlen(cfg->bot_login);
	return type && !strcmp(type, "Bot") && !strncasecmp(login, cfg->bot_login, n) &&
	       !strcmp(login + n, "[bot]");
}

/* A payload without what its event must carry: NSH_EINVAL naming the field. */
static int malformed(struct nsh_err *err)
{
	nsh_err_wrap(err, "malformed payload");
	if (err)
		err->code = NSH_EINVAL;
	return NSH_EINVAL;
}

/* Fill d->ref from repository.full_name and the number at @number_path. */
static int read_ref(const json_t *payload, const char *number_path, struct nsh_github_decision *d,
		    struct nsh_err *err)
{
	const char *full;
	json_int_t n;
	int rc;

	rc = nsh_json_get_str(payload, "repository.full_name", &full, err);
	if (!rc)
		rc = nsh_json_get_int(payload, number_path, &n, err);
	if (!rc)
		rc = nsh_forge_ref_parse_repo(full, &d->ref, err);
	if (!rc && (n < 1 || n > INT32_MAX))
		rc = nsh_err_set(err, NSH_EINVAL, "field '%s' is out of range", number_path);
	if (rc)
		return malformed(err);
	d->ref.number = n;
	d->has_ref = true;
	return 0;
}

/* The association at @path may trigger; else IGNORE naming who and why. */
static bool allowed(const json_t *payload, const char *path, const struct nsh_github_config *cfg,
		    struct nsh_github_decision *d)
{
	const char *assoc = str_at(payload, path);

	if (nsh_github_association_allowed(cfg, assoc))
		return true;
	ignore(d, "'%.80s' may not trigger nightshift (association '%.40s')",
	       d->sender ? d->sender : "?", assoc ? assoc : "none");
	return false;
}

/* Whether an issue comment's issue is a pull request (it carries "pull_request"). */
static bool is_pr_comment(const json_t *payload)
{
	return json_is_object(json_object_get(json_object_get(payload, "issue"), "pull_request"));
}

/*
 * Fill d->ref when the payload names an issue or pull request, without
 * complaint when it does not: ignored events still note on the task.
 */
static void peek_ref(const json_t *payload, struct nsh_github_decision *d)
{
	const char *full = str_at(payload, "repository.full_name");
	json_int_t n = 0;

	if (!full || nsh_forge_ref_parse_repo(full, &d->ref, NULL))
		return;
	if (!nsh_json_opt_int(payload, "pull_request.number", 0, &n, NULL) && n > 0)
		d->is_pr = true;
	else if (nsh_json_opt_int(payload, "issue.number", 0, &n, NULL) || n <= 0)
		return;
	else
		d->is_pr = is_pr_comment(payload);
	if (n > INT32_MAX)
		return;
	d->ref.number = n;
	d->has_ref = true;
}

static bool is_writer(const char *assoc)
{
	return assoc && (!strcmp(assoc, "OWNER") || !strcmp(assoc, "MEMBER") ||
			 !strcmp(assoc, "COLLABORATOR"));
}

static int decide_issues(const char *action, const json_t *payload,
			 const struct nsh_github_config *cfg, struct nsh_github_decision *d,
			 struct nsh_err *err)
{
	const char *label;
	int rc;

	if (strcmp(action, "labeled")) {
		ignore(d, "issues action '%.40s' starts nothing", action);
		return 0;
	}
	rc = read_ref(payload, "issue.number", d, err);
	if (rc)
		return rc;
	d->is_pr = false; /* issues events are about issues, whatever else the payload holds */
	rc = nsh_json_get_str(payload, "label.name", &label, err);
	if (rc)
		return malformed(err);
	if (strcasecmp(label, cfg->label)) {
		ignore(d, "label '%.80s' is not '%.80s'", label, cfg->label);
		return 0;
	}
	d->text = issue_text(payload);
	if (!*d->text) {
		ignore(d, "the issue has neither a title nor a body");
		return 0;
	}
	d->url = str_at(payload, "issue.html_url") ? nsh_xstrdup(str_at(payload, "issue.html_url"))
						   : NULL;
	d->verdict = NSH_GITHUB_NEW_TASK;
	return 0;
}

/* The comment's text for @d: the instructions after the command, or all of it. */
static void comment_text(const char *body, const struct nsh_github_config *cfg,
			 struct nsh_github_decision *d)
{
	const char *rest;

	d->command = starts_with_command(body, cfg->command, &rest);
	d->text = trimmed(d->command ? rest : body);
}

static int decide_issue_comment(const char *action, const json_t *payload,
				const struct nsh_github_config *cfg, struct nsh_github_decision *d,
				struct nsh_err *err)
{
	const char *body, *url;
	int rc;

	rc = read_ref(payload, "issue.number", d, err);
	if (rc)
		return rc;
	d->is_pr = is_pr_comment(payload);
	if (strcmp(action, "created")) {
		ignore(d, "issue_comment action '%.40s' starts nothing", action);
		return 0;
	}
	rc = nsh_json_get_str(payload, "comment.body", &body, err);
	if (rc)
		return malformed(err);
	if (!allowed(payload, "comment.author_association", cfg, d))
		return 0;
	url = str_at(payload, "comment.html_url");
	d->url = url ? nsh_xstrdup(url) : NULL;
	comment_text(body, cfg, d);
	if (d->is_pr) {
		json_int_t id = 0;

		nsh_json_opt_int(payload, "comment.id", 0, &id, NULL);
		d->comment_id = id;
		d->kind = "comment";
		d->can_write = is_writer(str_at(payload, "comment.author_association"));
		d->verdict = NSH_GITHUB_FEEDBACK;
		return 0;
	}
	d->issue_text = issue_text(payload);
	d->verdict = NSH_GITHUB_ISSUE_COMMENT;
	return 0;
}

static int decide_review(const char *action, const json_t *payload,
			 const struct nsh_github_config *cfg, struct nsh_github_decision *d,
			 struct nsh_err *err)
{
	const char *state, *body, *url;
	json_int_t id = 0;
	int rc;

	rc = read_ref(payload, "pull_request.number", d, err);
	if (rc)
		return rc;
	d->is_pr = true;
	if (strcmp(action, "submitted")) {
		ignore(d, "pull_request_review action '%.40s' starts nothing", action);
		return 0;
	}
	rc = nsh_json_get_str(payload, "review.state", &state, err);
	if (rc)
		return malformed(err);
	if (!allowed(payload, "review.author_association", cfg, d))
		return 0;
	if (!strcasecmp(state, "approved"))
		d->kind = "approve";
	else if (!strcasecmp(state, "changes_requested"))
		d->kind = "request_changes";
	else if (!strcasecmp(state, "commented"))
		d->kind = "comment";
	else {
		ignore(d, "a review in state '%.40s' asks for nothing", state);
		return 0;
	}
	body = str_at(payload, "review.body");
	comment_text(body ? body : "", cfg, d);
	nsh_json_opt_int(payload, "review.id", 0, &id, NULL);
	d->comment_id = id;
	url = str_at(payload, "review.html_url");
	d->url = url ? nsh_xstrdup(url) : NULL;
	d->can_write = is_writer(str_at(payload, "review.author_association"));
	d->verdict = NSH_GITHUB_FEEDBACK;
	return 0;
}

static int decide_review_comment(const char *action, const json_t *payload,
				 const struct nsh_github_config *cfg, struct nsh_github_decision *d,
				 struct nsh_err *err)
{
	const char *body, *path, *url;
	json_int_t id = 0, line = 0, reply_to = 0;
	int rc;

	rc = read_ref(payload, "pull_request.number", d, err);
	if (rc)
		return rc;
	d->is_pr = true;
	if (strcmp(action, "created")) {
		ignore(d, "pull_request_review_comment action '%.40s' starts nothing", action);
		return 0;
	}
	rc = nsh_json_get_str(payload, "comment.body", &body, err);
	if (rc)
		return malformed(err);
	if (!allowed(payload, "comment.author_association", cfg, d))
		return 0;
	comment_text(body, cfg, d);
	nsh_json_opt_int(payload, "comment.id", 0, &id, NULL);
	nsh_json_opt_int(payload, "comment.in_reply_to_id", 0, &reply_to, NULL);
	/* An outdated comment has no line any more; its original one still says where. */
	if (nsh_json_opt_int(payload, "comment.line", 0, &line, NULL) || line <= 0)
		nsh_json_opt_int(payload, "comment.original_line", 0, &line, NULL);
	path = str_at(payload, "comment.path");
	if (path && *path && strlen(path) <= 4096) {
		d->path = nsh_xstrdup(path);
		d->line = line > 0 && line <= INT32_MAX ? line : 0;
	}
	d->comment_id = id;
	d->kind = reply_to > 0 ? "reply" : "comment";
	url = str_at(payload, "comment.html_url");
	d->url = url ? nsh_xstrdup(url) : NULL;
	d->can_write = is_writer(str_at(payload, "comment.author_association"));
	d->verdict = NSH_GITHUB_FEEDBACK;
	return 0;
}

int nsh_github_decide(const char *event, const json_t *payload, const struct nsh_github_config *cfg,
		      struct nsh_github_decision *ret, struct nsh_err *err)
{
	const char *action, *sender;

	memset(ret, 0, sizeof(*ret));
	ret->verdict = NSH_GITHUB_IGNORE;
	if (!json_is_object(payload))
		return nsh_err_set(err, NSH_EINVAL, "malformed payload: not a JSON object");
	if (!strcmp(event, "ping")) {
		ignore(ret, "a ping asks for nothing");
		return 0;
	}
	sender = str_at(payload, "sender.login");
	ret->sender = sender ? nsh_xstrdup(sender) : NULL;
	action = str_at(payload, "action");
	peek_ref(payload, ret);
	if (from_bot(payload, cfg)) {
		ignore(ret, "nightshift's own event (sender '%.80s')", sender);
		return 0;
	}
	if (!action) {
		ignore(ret, "event '%.64s' without an action starts nothing", event);
		return 0;
	}
	if (!strcmp(event, "issues"))
		return decide_issues(action, payload, cfg, ret, err);
	if (!strcmp(event, "issue_comment"))
		return decide_issue_comment(action, payload, cfg, ret, err);
	if (!strcmp(event, "pull_request_review"))
		return decide_review(action, payload, cfg, ret, err);
	if (!strcmp(event, "pull_request_review_comment"))
		return decide_review_comment(action, payload, cfg, ret, err);
	ignore(ret, "event '%.64s' starts nothing", event);
	return 0;
}

char *nsh_github_subject(const json_t *payload)
{
	const char *full = str_at(payload, "repository.full_name");
	json_int_t n = 0;

	if (!full || strlen(full) > 2 * NSH_FORGE_NAME_MAX + 1)
		return NULL;
	if (nsh_json_opt_int(payload, "issue.number", 0, &n, NULL) || n <= 0)
		if (nsh_json_opt_int(payload, "pull_request.number", 0, &n, NULL) || n <= 0)
			return NULL;
	return nsh_xasprintf("%s#%lld", full, (long long)n);
}
