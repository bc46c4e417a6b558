/*
 * GitHub webhooks, receiving side: the signature (GitHub's documented test
 * vector and what must not verify), the [github] settings, the trigger
 * decision for each event kind, who may trigger, the bot's own events,
 * and the queue against a real store: a labelled issue becomes one task,
 * comments steer or answer its task, feedback on a nightshift pull request
 * waits for the quiet time and then revises the job once.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"
#include "github/github.h"
#include "pgstore.h"
#include "store/store.h"
#include "task/task.h"
#include "test.h"

/* ---- signature ---- */

static void test_signature_vector(void)
{
	/* GitHub's docs: "Validating webhook deliveries". */
	const char *secret = "It's a Secret to Everybody";
	const char *want =
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	char sig[NSH_GITHUB_SIGNATURE_LEN + 1];

	nsh_github_signature(secret, "Hello, World!", 13, sig);
	CHECK_STR(sig, want);
	CHECK(nsh_github_signature_valid(secret, "Hello, World!", 13, want));
	CHECK(nsh_github_signature_valid(
		secret, "Hello, World!", 13,
		"sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"));
}

static void test_signature_rejects(void)
{
	const char *secret = "It's a Secret to Everybody";
	const char *good =
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	char bad[NSH_GITHUB_SIGNATURE_LEN + 2];

	CHECK(!nsh_github_signature_valid(secret, "Hello, World?", 13, good));
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 12, good));
	CHECK(!nsh_github_signature_valid("It's a secret to everybody", "Hello, World!", 13, good));
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, NULL));
	CHECK(!nsh_github_signature_valid(NULL, "Hello, World!", 13, good));
	CHECK(!nsh_github_signature_valid("", "Hello, World!", 13, good));
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, good + 7));
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, "sha256="));
	CHECK(!nsh_github_signature_valid(
		secret, "Hello, World!", 13,
		"sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
	/* One digit changed, at the start and at the end. */
	memcpy(bad, good, sizeof(bad) - 1);
	bad[7] = '8';
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, bad));
	memcpy(bad, good, sizeof(bad) - 1);
	bad[NSH_GITHUB_SIGNATURE_LEN - 1] = '8';
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, bad));
	/* A digit too many, and a character that is no hex digit. */
	memcpy(bad, good, NSH_GITHUB_SIGNATURE_LEN);
	bad[NSH_GITHUB_SIGNATURE_LEN] = '7';
	bad[NSH_GITHUB_SIGNATURE_LEN + 1] = '\0';
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, bad));
	memcpy(bad, good, NSH_GITHUB_SIGNATURE_LEN + 1);
	bad[20] = 'g';
	CHECK(!nsh_github_signature_valid(secret, "Hello, World!", 13, bad));
}

/* ---- settings ---- */

static struct nsh_config *config(const char *text)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *c = NULL;

	if (nsh_config_parse(text, strlen(text), "test", &c, &err)) {
		fprintf(stderr, "config: %s\n", err.msg);
		abort();
	}
	return c;
}

static void load(const char *text, struct nsh_github_config *ret)
{
	struct nsh_config *c = config(text);
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_github_config_load(c, ret, &err)) {
		fprintf(stderr, "github config: %s\n", err.msg);
		abort();
	}
	nsh_config_free(c);
}

static int load_rc(const char *text, struct nsh_err *err)
{
	struct nsh_config *c = config(text);
	struct nsh_github_config g;
	int rc = nsh_github_config_load(c, &g, err);

	if (!rc)
		nsh_github_config_release(&g);
	nsh_config_free(c);
	return rc;
}

static void test_config(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_github_config g;

	CHECK_INT(nsh_github_config_load(NULL, &g, &err), 0);
	CHECK(g.secret == NULL);
	CHECK_STR(g.label, "nightshift");
	CHECK_STR(g.command, "/nightshift");
	CHECK_STR(g.network, "common");
	CHECK(g.bot_login == NULL);
	CHECK_INT(g.max_body, 25u << 20);
	CHECK_INT(g.debounce_ms, 2000);
	CHECK(nsh_github_association_allowed(&g, "OWNER"));
	CHECK(nsh_github_association_allowed(&g, "MEMBER"));
	CHECK(nsh_github_association_allowed(&g, "COLLABORATOR"));
	CHECK(!nsh_github_association_allowed(&g, "CONTRIBUTOR"));
	CHECK(!nsh_github_association_allowed(&g, "NONE"));
	CHECK(!nsh_github_association_allowed(&g, NULL));
	nsh_github_config_release(&g);

	load("[github]\nwebhook_secret = s\nlabel = kiro\ncommand = /kiro\nbot_login = kiro-bot\n"
	     "associations = owner,contributor\nnetwork = open\nwebhook_max_body = 1M\n"
	     "debounce = 0\n",
	     &g);
	CHECK_STR(g.secret, "s");
	CHECK_STR(g.label, "kiro");
	CHECK_STR(g.command, "/kiro");
	CHECK_STR(g.bot_login, "kiro-bot");
	CHECK_STR(g.network, "open");
	CHECK_INT(g.max_body, 1u << 20);
	CHECK_INT(g.debounce_ms, 0);
	CHECK(nsh_github_association_allowed(&g, "OWNER"));
	CHECK(nsh_github_association_allowed(&g, "CONTRIBUTOR"));
	CHECK(!nsh_github_association_allowed(&g, "MEMBER"));
	nsh_github_config_release(&g);

	/* An empty secret is no secret: webhooks stay off. */
	load("[github]\nwebhook_secret =\n", &g);
	CHECK(g.secret == NULL);
	nsh_github_config_release(&g);

	CHECK_INT(load_rc("[github]\ncommand = \"/night shift\"\n", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "github.command") != NULL);
	CHECK_INT(load_rc("[github]\nlabel = \"\"\n", &err), NSH_EINVAL);
	CHECK_INT(load_rc("[github]\ndebounce = soon\n", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "github.debounce") != NULL);
	CHECK_INT(load_rc("[github]\nwebhook_max_body = lots\n", &err), NSH_EINVAL);
	CHECK_INT(load_rc("[github]\nnetwork = lan\n", &err), NSH_EINVAL);
	CHECK_INT(load_rc("[github]\nassociations = OWNER;MEMBER\n", &err), NSH_EINVAL);
}

/* ---- payloads, shaped as GitHub's ---- */

static json_t *base(const char *action, const char *sender, const char *sender_type)
{
	return json_pack("{s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:s}}", "action", action,
			 "repository", "full_name", "acme/api", "name", "api", "owner", "login",
			 "acme", "sender", "login", sender, "type", sender_type);
}

static json_t *labeled(const char *label, const char *title, const char *body)
{
	json_t *p = base("labeled", "alice", "User");

	json_object_set_new(p, "label", json_pack("{s:s}", "name", label));
	json_object_set_new(p, "issue",
			    json_pack("{s:i, s:s, s:s?, s:s, s:s}", "number", 7, "title", title,
				      "body", body, "html_url",
				      "https://github.com/acme/api/issues/7", "author_association",
				      "NONE"));
	return p;
}

static json_t *issue_comment(int number, const char *body, const char *assoc, bool on_pr)
{
	json_t *p = base("created", "alice", "User");
	json_t *issue = json_pack("{s:i, s:s, s:s}", "number", number, "title", "Make it faster",
				  "body", "The API is slow.");

	if (on_pr)
		json_object_set_new(
			issue, "pull_request",
			json_pack("{s:s}", "url", "https://api.github.com/repos/acme/api/pulls/1"));
	json_object_set_new(p, "issue", issue);
	json_object_set_new(p, "comment",
			    json_pack("{s:i, s:s, s:s, s:s}", "id", 1001, "body", body,
				      "author_association", assoc, "html_url",
				      "https://github.com/acme/api/issues/7#issuecomment-1001"));
	return p;
}

static json_t *review(int number, const char *state, const char *body, const char *assoc)
{
	json_t *p = base("submitted", "bob", "User");

	json_object_set_new(p, "pull_request", json_pack("{s:i}", "number", number));
	json_object_set_new(p, "review",
			    json_pack("{s:i, s:s, s:s?, s:s}", "id", 555, "state", state, "body",
				      body, "author_association", assoc));
	return p;
}

static json_t *review_comment(int number, const char *body, const char *assoc, int line)
{
	json_t *p = base("created", "bob", "User");
	json_t *c = json_pack("{s:i, s:i, s:s, s:s, s:s, s:i}", "id", 2001,
			      "pull_request_review_id", 555, "body", body, "author_association",
			      assoc, "path", "src/app.js", "original_line", 4);

	json_object_set_new(c, "line", line ? json_integer(line) : json_null());
	json_object_set_new(p, "pull_request", json_pack("{s:i}", "number", number));
	json_object_set_new(p, "comment", c);
	return p;
}

/* Decide @payload (released) under @cfg into @d; the return code of the decision. */
static int decide(const char *event, json_t *payload, const struct nsh_github_config *cfg,
		  struct nsh_github_decision *d)
{
	struct nsh_err err = NSH_ERR_INIT;
	int rc = nsh_github_decide(event, payload, cfg, d, &err);

	json_decref(payload);
	return rc;
}

static void test_decide_labeled(void)
{
	struct nsh_github_config g;
	struct nsh_github_decision d;

	load("[github]\nwebhook_secret = s\n", &g);
	CHECK_INT(decide("issues", labeled("nightshift", "Upgrade lodash", "  To 4, please.\n"), &g,
			 &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_NEW_TASK);
	CHECK_STR(d.text, "Upgrade lodash\n\nTo 4, please.");
	CHECK(d.has_ref && !d.is_pr);
	CHECK_STR(d.ref.org, "acme");
	CHECK_STR(d.ref.repo, "api");
	CHECK_INT(d.ref.number, 7);
	CHECK_STR(d.sender, "alice");
	CHECK_STR(d.url, "https://github.com/acme/api/issues/7");
	nsh_github_decision_release(&d);

	/* Labels compare without case; a body may be null. */
	CHECK_INT(decide("issues", labeled("NightShift", "Upgrade lodash", NULL), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_NEW_TASK);
	CHECK_STR(d.text, "Upgrade lodash");
	nsh_github_decision_release(&d);

	/* Whatever else the payload holds, an issues event is about the issue. */
	{
		json_t *p = labeled("nightshift", "Upgrade lodash", NULL);

		json_object_set_new(p, "pull_request", json_pack("{s:i}", "number", 3));
		CHECK_INT(decide("issues", p, &g, &d), 0);
		CHECK_INT(d.verdict, NSH_GITHUB_NEW_TASK);
		CHECK(!d.is_pr);
		CHECK_INT(d.ref.number, 7);
		nsh_github_decision_release(&d);
	}

	CHECK_INT(decide("issues", labeled("bug", "Upgrade lodash", NULL), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	CHECK(strstr(d.reason, "label 'bug'") != NULL);
	CHECK(d.has_ref);
	nsh_github_decision_release(&d);

	{
		json_t *p = labeled("nightshift", "x", NULL);

		json_object_set_new(p, "action", json_string("opened"));
		CHECK_INT(decide("issues", p, &g, &d), 0);
		CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
		nsh_github_decision_release(&d);
	}
	nsh_github_config_release(&g);

	/* A team that keeps its old label. */
	load("[github]\nlabel = kiro\n", &g);
	CHECK_INT(decide("issues", labeled("kiro", "Upgrade lodash", NULL), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_NEW_TASK);
	nsh_github_decision_release(&d);
	CHECK_INT(decide("issues", labeled("nightshift", "Upgrade lodash", NULL), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	nsh_github_decision_release(&d);
	nsh_github_config_release(&g);
}

static void test_decide_comments(void)
{
	struct nsh_github_config g;
	struct nsh_github_decision d;

	load("[github]\ncommand = /kiro\n", &g);
	CHECK_INT(decide("issue_comment",
			 issue_comment(7, "  /kiro  use lodash 4 \n", "OWNER", false), &g, &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_ISSUE_COMMENT);
	CHECK(d.command);
	CHECK_STR(d.text, "use lodash 4");
	CHECK_STR(d.issue_text, "Make it faster\n\nThe API is slow.");
	CHECK_INT(d.ref.number, 7);
	nsh_github_decision_release(&d);

	/* The command alone, with other text after it, and a longer word. */
	CHECK_INT(decide("issue_comment", issue_comment(7, "/KIRO", "MEMBER", false), &g, &d), 0);
	CHECK(d.command);
	CHECK_STR(d.text, "");
	nsh_github_decision_release(&d);
	CHECK_INT(
		decide("issue_comment", issue_comment(7, "/kirox do it", "MEMBER", false), &g, &d),
		0);
	CHECK_INT(d.verdict, NSH_GITHUB_ISSUE_COMMENT);
	CHECK(!d.command);
	CHECK_STR(d.text, "/kirox do it");
	nsh_github_decision_release(&d);
	CHECK_INT(decide("issue_comment", issue_comment(7, "please /kiro", "COLLABORATOR", false),
			 &g, &d),
		  0);
	CHECK(!d.command);
	nsh_github_decision_release(&d);

	/* On a pull request a comment is review feedback. */
	CHECK_INT(
		decide("issue_comment", issue_comment(3, "Keep the v3 API", "OWNER", true), &g, &d),
		0);
	CHECK_INT(d.verdict, NSH_GITHUB_FEEDBACK);
	CHECK(d.is_pr);
	CHECK_STR(d.kind, "comment");
	CHECK_STR(d.text, "Keep the v3 API");
	CHECK_INT(d.comment_id, 1001);
	CHECK(d.can_write);
	CHECK(d.path == NULL);
	nsh_github_decision_release(&d);

	/* Edits and deletions start nothing. */
	{
		json_t *p = issue_comment(7, "/kiro go", "OWNER", false);

		json_object_set_new(p, "action", json_string("edited"));
		CHECK_INT(decide("issue_comment", p, &g, &d), 0);
		CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
		CHECK(strstr(d.reason, "edited") != NULL);
		nsh_github_decision_release(&d);
	}
	nsh_github_config_release(&g);
}

static void test_decide_reviews(void)
{
	struct nsh_github_config g;
	struct nsh_github_decision d;

	load("", &g);
	CHECK_INT(decide("pull_request_review", review(3, "changes_requested", "No.", "MEMBER"), &g,
			 &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_FEEDBACK);
	CHECK_STR(d.kind, "request_changes");
	CHECK_STR(d.text, "No.");
	CHECK_INT(d.comment_id, 555);
	CHECK_INT(d.ref.number, 3);
	CHECK_STR(d.sender, "bob");
	nsh_github_decision_release(&d);

	CHECK_INT(decide("pull_request_review", review(3, "approved", NULL, "OWNER"), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_FEEDBACK);
	CHECK_STR(d.kind, "approve");
	nsh_github_decision_release(&d);

	/* A review made of inline comments only: its own body is empty. */
	CHECK_INT(decide("pull_request_review", review(3, "commented", NULL, "OWNER"), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_FEEDBACK);
	CHECK_STR(d.kind, "comment");
	CHECK_STR(d.text, "");
	nsh_github_decision_release(&d);

	CHECK_INT(decide("pull_request_review", review(3, "dismissed", NULL, "OWNER"), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	nsh_github_decision_release(&d);

	CHECK_INT(decide("pull_request_review_comment",
			 review_comment(3, "Use _.map here", "COLLABORATOR", 12), &g, &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_FEEDBACK);
	CHECK_STR(d.kind, "comment");
	CHECK_STR(d.path, "src/app.js");
	CHECK_INT(d.line, 12);
	CHECK_INT(d.comment_id, 2001);
	CHECK(d.can_write);
	nsh_github_decision_release(&d);

	/* An outdated comment (line null) keeps its original line; a reply is a reply. */
	{
		json_t *p = review_comment(3, "Still?", "OWNER", 0);

		json_object_set_new(json_object_get(p, "comment"), "in_reply_to_id",
				    json_integer(2001));
		CHECK_INT(decide("pull_request_review_comment", p, &g, &d), 0);
		CHECK_INT(d.line, 4);
		CHECK_STR(d.kind, "reply");
		nsh_github_decision_release(&d);
	}
	nsh_github_config_release(&g);
}

static void test_decide_who(void)
{
	struct nsh_github_config g;
	struct nsh_github_decision d;

	load("[github]\nbot_login = nightshift-app\n", &g);
	/* Association: only owners, members and collaborators by default. */
	CHECK_INT(
		decide("issue_comment", issue_comment(7, "/nightshift go", "NONE", false), &g, &d),
		0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	CHECK(strstr(d.reason, "'alice' may not trigger") != NULL);
	CHECK(strstr(d.reason, "NONE") != NULL);
	CHECK(d.has_ref);
	nsh_github_decision_release(&d);
	CHECK_INT(decide("issue_comment",
			 issue_comment(7, "/nightshift go", "FIRST_TIME_CONTRIBUTOR", false), &g,
			 &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	nsh_github_decision_release(&d);
	CHECK_INT(decide("pull_request_review", review(3, "changes_requested", "x", "CONTRIBUTOR"),
			 &g, &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	CHECK(d.is_pr);
	nsh_github_decision_release(&d);
	CHECK_INT(decide("pull_request_review_comment", review_comment(3, "x", "NONE", 3), &g, &d),
		  0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	nsh_github_decision_release(&d);

	/* The bot's own events: its login, and the App form "<login>[bot]" of type Bot. */
	{
		json_t *p = issue_comment(7, "/nightshift go", "OWNER", false);

		json_object_set_new(
			p, "sender",
			json_pack("{s:s, s:s}", "login", "Nightshift-App", "type", "User"));
		CHECK_INT(decide("issue_comment", p, &g, &d), 0);
		CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
		CHECK(strstr(d.reason, "own event") != NULL);
		nsh_github_decision_release(&d);

		p = labeled("nightshift", "x", NULL);
		json_object_set_new(
			p, "sender",
			json_pack("{s:s, s:s}", "login", "nightshift-app[bot]", "type", "Bot"));
		CHECK_INT(decide("issues", p, &g, &d), 0);
		CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
		nsh_github_decision_release(&d);

		/* Another bot is not nightshift. */
		p = labeled("nightshift", "x", NULL);
		json_object_set_new(p, "sender",
				    json_pack("{s:s, s:s}", "login", "other[bot]", "type", "Bot"));
		CHECK_INT(decide("issues", p, &g, &d), 0);
		CHECK_INT(d.verdict, NSH_GITHUB_NEW_TASK);
		nsh_github_decision_release(&d);
	}
	nsh_github_config_release(&g);
}

static void test_decide_other(void)
{
	struct nsh_github_config g;
	struct nsh_github_decision d;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *p;
	char *subject;

	load("", &g);
	CHECK_INT(decide("ping", json_pack("{s:s}", "zen", "Keep it simple."), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	nsh_github_decision_release(&d);
	CHECK_INT(decide("push", base("whatever", "alice", "User"), &g, &d), 0);
	CHECK_INT(d.verdict, NSH_GITHUB_IGNORE);
	CHECK(strstr(d.reason, "'push'") != NULL);
	nsh_github_decision_release(&d);

	/* What an event must carry. */
	p = labeled("nightshift", "x", NULL);
	json_object_del(p, "repository");
	CHECK_INT(nsh_github_decide("issues", p, &g, &d, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "repository.full_name") != NULL);
	nsh_github_decision_release(&d);
	json_decref(p);
	p = issue_comment(7, "x", "OWNER", false);
	json_object_set_new(json_object_get(p, "issue"), "number", json_string("7"));
	CHECK(nsh_github_decide("issue_comment", p, &g, &d, &err) != 0);
	nsh_github_decision_release(&d);
	json_decref(p);
	p = json_array();
	CHECK_INT(nsh_github_decide("issues", p, &g, &d, &err), NSH_EINVAL);
	nsh_github_decision_release(&d);
	json_decref(p);

	p = review(3, "approved", NULL, "OWNER");
	subject = nsh_github_subject(p);
	CHECK_STR(subject, "acme/api#3");
	free(subject);
	json_decref(p);
	p = labeled("nightshift", "x", NULL);
	subject = nsh_github_subject(p);
	CHECK_STR(subject, "acme/api#7");
	free(subject);
	json_decref(p);
	p = json_pack("{s:s}", "zen", "x");
	CHECK(nsh_github_subject(p) == NULL);
	json_decref(p);
	nsh_github_config_release(&g);
}

/* ---- the queue, on a store ---- */

static char *dir;

struct fixture {
	struct nsh_store *s;
	struct nsh_github_config g;
	int seq; /* delivery ids */
};

static void fx_open(struct fixture *f, const char *name, const char *cfg_text)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *path = pgs_url ? pgs_new_db(name) : nsh_xasprintf("%s/%s.db", dir, name);

	memset(f, 0, sizeof(*f));
	if (nsh_store_open(path, &f->s, &err)) {
		fprintf(stderr, "store: %s\n", err.msg);
		abort();
	}
	free(path);
	load(cfg_text, &f->g);
}

static void fx_close(struct fixture *f)
{
	nsh_store_close(f->s);
	nsh_github_config_release(&f->g);
}

/* Record delivery @event with @payload (released) as the endpoint does; its id to @id. */
static void deliver(struct fixture *f, const char *event, json_t *payload, int64_t at_ms,
		    char id[32])
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_webhook_rec w = {0};
	char *text = nsh_json_dump(payload);
	bool added = false;

	snprintf(id, 32, "d-%d", ++f->seq);
	w.id = id;
	w.event = (char *)event;
	w.subject = nsh_github_subject(payload);
	w.payload = text;
	w.received_ms = at_ms;
	CHECK_INT(nsh_store_webhook_add(f->s, &w, &added, &err), 0);
	CHECK(added);
	free(w.subject);
	free(text);
	json_decref(payload);
}

/* One pass at @now_ms; the deliveries it handled. */
static size_t pass(struct fixture *f, int64_t now_ms, int64_t *ret_wait)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_github_pass p;

	CHECK_INT(nsh_github_process(f->s, &f->g, now_ms, &p, &err), 0);
	if (ret_wait)
		*ret_wait = p.wait_ms;
	return p.handled;
}

/* Delivery @id as stored (the newest 100 are looked at). */
static void delivery(struct fixture *f, const char *id, struct nsh_webhook_rec *ret)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_webhook_list l = {0};

	memset(ret, 0, sizeof(*ret));
	CHECK_INT(nsh_store_webhook_list(f->s, 100, &l, &err), 0);
	for (size_t i = 0; i < l.nr; i++)
		if (!strcmp(l.v[i].id, id)) {
			*ret = l.v[i];
			memset(&l.v[i], 0, sizeof(l.v[i]));
		}
	nsh_webhook_list_release(&l);
	CHECK(ret->id != NULL);
}

/* Events of @task_id of @kind; "job.state>S" counts moves of a job to S. */
static int count_events(struct fixture *f, const char *task_id, const char *kind)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_event_list l = {0};
	const char *to = strchr(kind, '>');
	size_t klen = to ? (size_t)(to - kind) : strlen(kind);
	int n = 0;

	CHECK_INT(nsh_store_events_after(f->s, 0, task_id, 0, &l, &err), 0);
	for (size_t i = 0; i < l.nr; i++) {
		char want[64];

		if (strlen(l.v[i].kind) != klen || strncmp(l.v[i].kind, kind, klen))
			continue;
		snprintf(want, sizeof(want), "\"to\":\"%s\"", to ? to + 1 : "");
		n += !to || strstr(l.v[i].data, want) != NULL;
	}
	nsh_event_list_release(&l);
	return n;
}

static void test_queue_labeled(void)
{
	struct fixture f;
	struct nsh_webhook_rec w;
	struct nsh_task_rec t = {0};
	struct nsh_err err = NSH_ERR_INIT;
	int64_t now = nsh_time_now_ms();
	char id1[32], id2[32];
	json_t *opts;

	fx_open(&f, "labeled", "[github]\nwebhook_secret = s\n");
	deliver(&f, "issues", labeled("nightshift", "Upgrade lodash", "To 4."), now, id1);
	deliver(&f, "issues", labeled("nightshift", "Upgrade lodash", "To 4."), now, id2);
	CHECK_INT(pass(&f, now, NULL), 2);
	CHECK_INT(pass(&f, now, NULL), 0);

	delivery(&f, id1, &w);
	CHECK_STR(w.status, "processed");
	CHECK(w.task_id != NULL);
	CHECK_INT(nsh_store_task_get(f.s, w.task_id ? w.task_id : "", &t, &err), 0);
	CHECK_STR(t.title, "Upgrade lodash\n\nTo 4.");
	CHECK_STR(t.org, "acme");
	CHECK_STR(t.network, "common");
	CHECK_STR(t.state, "queued");
	CHECK_INT(nsh_json_parse(t.options, strlen(t.options), &opts, &err), 0);
	CHECK_STR(json_string_value(json_object_get(json_object_get(opts, "github"), "repo")),
		  "acme/api");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(opts, "github"), "issue")), 7);
	CHECK_STR(json_string_value(json_object_get(json_object_get(opts, "github"), "delivery")),
		  id1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(opts, "repos"), 0)), "acme/api");
	json_decref(opts);
	CHECK_INT(count_events(&f, t.id, "github.trigger"), 2);

	/* One task per issue: a second label event does nothing. */
	{
		struct nsh_webhook_rec w2;

		delivery(&f, id2, &w2);
		CHECK_STR(w2.status, "ignored");
		CHECK(w2.error && strstr(w2.error, "has task") != NULL);
		CHECK_STR(w2.task_id, t.id);
		nsh_webhook_rec_release(&w2);
	}
	{
		struct nsh_task_list all = {0};

		CHECK_INT(nsh_store_task_list(f.s, NULL, 0, &all, &err), 0);
		CHECK_INT(all.nr, 1);
		nsh_task_list_release(&all);
	}
	nsh_task_rec_release(&t);
	nsh_webhook_rec_release(&w);
	fx_close(&f);
}

static void test_queue_comments(void)
{
	struct fixture f;
	struct nsh_webhook_rec w;
	struct nsh_control_list cl = {0};
	struct nsh_err err = NSH_ERR_INIT;
	int64_t now = nsh_time_now_ms();
	char id[32], task[32];

	fx_open(&f, "comments", "[github]\nwebhook_secret = s\n");
	/* No task yet: a plain comment is ignored, the command makes one. */
	deliver(&f, "issue_comment", issue_comment(7, "any news?", "OWNER", false), now, id);
	CHECK_INT(pass(&f, now, NULL), 1);
	delivery(&f, id, &w);
	CHECK_STR(w.status, "ignored");
	CHECK(w.error && strstr(w.error, "no active task") != NULL);
	nsh_webhook_rec_release(&w);

	deliver(&f, "issue_comment", issue_comment(7, "/nightshift", "OWNER", false), now, id);
	CHECK_INT(pass(&f, now, NULL), 1);
	delivery(&f, id, &w);
	CHECK_STR(w.status, "processed");
	snprintf(task, sizeof(task), "%s", w.task_id ? w.task_id : "");
	nsh_webhook_rec_release(&w);
	{
		struct nsh_task_rec t = {0};

		/* Without instructions: the issue's title and body. */
		CHECK_INT(nsh_store_task_get(f.s, task, &t, &err), 0);
		CHECK_STR(t.title, "Make it faster\n\nThe API is slow.");
		nsh_task_rec_release(&t);
	}

	/* Later comments steer the active task; a command with instructions too. */
	deliver(&f, "issue_comment", issue_comment(7, "Only the v2 endpoints.", "MEMBER", false),
		now, id);
	deliver(&f, "issue_comment",
		issue_comment(7, "/nightshift and keep the docs", "OWNER", false), now, id);
	CHECK_INT(pass(&f, now, NULL), 2);
	CHECK_INT(count_events(&f, task, "task.steer"), 2);
	CHECK_INT(nsh_store_control_pending(f.s, task, &cl, &err), 0);
	nsh_control_list_release(&cl);

	/* From someone who may not: ignored, and the task hears of it. */
	deliver(&f, "issue_comment", issue_comment(7, "/nightshift delete it all", "NONE", false),
		now, id);
	CHECK_INT(pass(&f, now, NULL), 1);
	delivery(&f, id, &w);
	CHECK_STR(w.status, "ignored");
	CHECK_STR(w.task_id, task);
	nsh_webhook_rec_release(&w);
	CHECK_INT(count_events(&f, task, "task.steer"), 2);

	/* A task that waits for input gets the comment as its answer. */
	CHECK_INT(nsh_task_transition(f.s, task, NSH_TASK_ANALYZING, NULL, NULL, &err), 0);
	CHECK_INT(nsh_task_transition(f.s, task, NSH_TASK_WAITING_INPUT, "which?", NULL, &err), 0);
	deliver(&f, "issue_comment", issue_comment(7, "The second one.", "OWNER", false), now, id);
	CHECK_INT(pass(&f, now, NULL), 1);
	delivery(&f, id, &w);
	CHECK_STR(w.status, "processed");
	CHECK(w.error && strstr(w.error, "answered") != NULL);
	nsh_webhook_rec_release(&w);
	{
		struct nsh_task_rec t = {0};

		CHECK_INT(nsh_store_task_get(f.s, task, &t, &err), 0);
		CHECK_STR(t.state, "analyzing");
		nsh_task_rec_release(&t);
	}

	/* Once the task has ended, comments start nothing; a command starts anew. */
	CHECK_INT(nsh_task_transition(f.s, task, NSH_TASK_CANCELLED, NULL, NULL, &err), 0);
	deliver(&f, "issue_comment", issue_comment(7, "thanks", "OWNER", false), now, id);
	deliver(&f, "issue_comment", issue_comment(7, "/nightshift try again", "OWNER", false), now,
		id);
	CHECK_INT(pass(&f, now, NULL), 2);
	delivery(&f, id, &w);
	CHECK_STR(w.status, "processed");
	CHECK(w.task_id && strcmp(w.task_id, task) != 0);
	nsh_webhook_rec_release(&w);
	fx_close(&f);
}

/* A nightshift pull request acme/api#1 whose job waits for review; the job id to @job. */
static void make_pr(struct fixture *f, char task[32], char job[32])
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_repo_rec r = {.name = (char *)"api", .default_branch = (char *)"main"};
	struct nsh_pr_rec p = {0};
	struct nsh_task_new n = {.title = "Upgrade lodash", .org = "acme"};
	int64_t repo_id = 0, number = 0;

	CHECK_INT(nsh_store_org_add(f->s, "acme", "local", &r.org_id, &err), 0);
	CHECK_INT(nsh_store_repo_add(f->s, &r, &repo_id, &err), 0);
	CHECK_INT(nsh_task_create(f->s, &n, task, &err), 0);
	CHECK_INT(nsh_job_create(f->s, task, "acme/api", 0, job, &err), 0);
	CHECK_INT(nsh_store_job_set_state(f->s, job, "pr_open", NULL, &err), 0);
	p.repo_id = repo_id;
	p.task_id = task;
	p.job_id = job;
	p.head = (char *)"nightshift/lodash";
	p.base = (char *)"main";
	p.title = (char *)"Upgrade lodash";
	p.body = (char *)"";
	p.state = (char *)"open";
	p.author = job;
	CHECK_INT(nsh_store_begin(f->s, &err), 0);
	CHECK_INT(nsh_store_pr_insert(f->s, &p, NULL, &number, &err), 0);
	CHECK_INT(nsh_store_commit(f->s, &err), 0);
	CHECK_INT(number, 1);
}

static void test_queue_feedback(void)
{
	struct fixture f;
	struct nsh_webhook_rec w;
	struct nsh_job_rec j = {0};
	struct nsh_feedback_list fl = {0};
	struct nsh_err err = NSH_ERR_INIT;
	int64_t now = nsh_time_now_ms(), wait = 0;
	char task[32], job[32], id[32], unknown[32];

	fx_open(&f, "feedback", "[github]\nwebhook_secret = s\ndebounce = 2s\n");
	make_pr(&f, task, job);
	/* One review with two inline comments, as GitHub delivers it. */
	deliver(&f, "pull_request_review", review(1, "commented", NULL, "OWNER"), now, id);
	deliver(&f, "pull_request_review_comment", review_comment(1, "Keep _.pluck", "OWNER", 3),
		now + 10, id);
	deliver(&f, "pull_request_review_comment", review_comment(1, "And here", "OWNER", 5),
		now + 20, id);
	deliver(&f, "pull_request_review_comment", review_comment(9, "Elsewhere", "OWNER", 5), now,
		unknown);

	/* Within the quiet time nothing is taken. */
	CHECK_INT(pass(&f, now + 500, &wait), 0);
	CHECK(wait > 0 && wait <= 2000 - 500 + 20);
	CHECK_INT(nsh_store_job_get(f.s, job, &j, &err), 0);
	CHECK_STR(j.state, "pr_open");
	nsh_job_rec_release(&j);

	/* After it, all of #1 together: one move to revising, two pieces of feedback. */
	CHECK_INT(pass(&f, now + 2100, &wait), 4);
	CHECK_INT(wait, -1);
	CHECK_INT(nsh_store_job_get(f.s, job, &j, &err), 0);
	CHECK_STR(j.state, "revising");
	nsh_job_rec_release(&j);
	CHECK_INT(count_events(&f, task, "job.state>revising"), 1);
	delivery(&f, unknown, &w);
	CHECK_STR(w.status, "ignored");
	CHECK(w.error && strstr(w.error, "not one of nightshift's") != NULL);
	nsh_webhook_rec_release(&w);
	CHECK_INT(nsh_store_feedback_list(f.s, job, -1, &fl, &err), 0);
	CHECK_INT(fl.nr, 2);
	if (fl.nr == 2) {
		CHECK_STR(fl.v[0].body, "Keep _.pluck");
		CHECK_STR(fl.v[0].path, "src/app.js");
		CHECK_INT(fl.v[0].line, 3);
		CHECK_INT(fl.v[0].comment_id, 2001);
		CHECK_STR(fl.v[0].author, "bob");
		CHECK(fl.v[0].can_write);
	}
	nsh_feedback_list_release(&fl);
	delivery(&f, id, &w);
	CHECK_STR(w.status, "processed");
	CHECK_STR(w.task_id, task);
	nsh_webhook_rec_release(&w);
	CHECK_INT(count_events(&f, task, "feedback.received"), 2);
	fx_close(&f);
}

static void test_queue_once(void)
{
	struct fixture f;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_task_list all = {0};
	int64_t now = nsh_time_now_ms();
	bool changed = true, added = true;
	char id[32];

	fx_open(&f, "once", "[github]\nwebhook_secret = s\n");
	deliver(&f, "issues", labeled("nightshift", "x", NULL), now, id);
	/* Another worker got there first: this one leaves it alone. */
	CHECK_INT(nsh_store_webhook_finish(f.s, id, "ignored", "elsewhere", NULL, &changed, &err),
		  0);
	CHECK(changed);
	CHECK_INT(nsh_store_webhook_finish(f.s, id, "processed", NULL, NULL, &changed, &err), 0);
	CHECK(!changed);
	CHECK_INT(pass(&f, now, NULL), 0);
	CHECK_INT(nsh_store_task_list(f.s, NULL, 0, &all, &err), 0);
	CHECK_INT(all.nr, 0);
	nsh_task_list_release(&all);
	/* The same delivery id again is not recorded twice. */
	{
		struct nsh_webhook_rec w = {
			.id = id, .event = (char *)"issues", .payload = (char *)"{}"};

		CHECK_INT(nsh_store_webhook_add(f.s, &w, &added, &err), 0);
		CHECK(!added);
	}
	/* What polling hands on goes the same way: queued, then carried out. */
	{
		json_t *p = labeled("nightshift", "From polling", NULL);
		struct nsh_webhook_rec w;

		CHECK_INT(nsh_github_enqueue(f.s, "issues", "poll-issues-7", p, NULL, &added, &err),
			  0);
		CHECK(added);
		CHECK_INT(nsh_github_enqueue(f.s, "issues", "poll-issues-7", p, NULL, &added, &err),
			  0);
		CHECK(!added);
		json_decref(p);
		CHECK_INT(pass(&f, now, NULL), 1);
		delivery(&f, "poll-issues-7", &w);
		CHECK_STR(w.action, "labeled");
		CHECK_STR(w.subject, "acme/api#7");
		CHECK_STR(w.status, "processed");
		CHECK(w.task_id != NULL);
		nsh_webhook_rec_release(&w);
	}
	/* A payload that cannot be decided fails with the reason. */
	deliver(&f, "issues", json_pack("{s:s}", "action", "labeled"), now, id);
	CHECK_INT(pass(&f, now, NULL), 1);
	{
		struct nsh_webhook_rec w;

		delivery(&f, id, &w);
		CHECK_STR(w.status, "failed");
		CHECK(w.error && strstr(w.error, "repository.full_name") != NULL);
		nsh_webhook_rec_release(&w);
	}
	fx_close(&f);
}

int main(void)
{
	dir = t_tmpdir();
	RUN(test_signature_vector);
	RUN(test_signature_rejects);
	RUN(test_config);
	RUN(test_decide_labeled);
	RUN(test_decide_comments);
	RUN(test_decide_reviews);
	RUN(test_decide_who);
	RUN(test_decide_other);
	RUN(test_queue_labeled);
	RUN(test_queue_comments);
	RUN(test_queue_feedback);
	RUN(test_queue_once);
	/* The queue's checks again on a PostgreSQL store. */
	CHECK(pgs_start() >= 0);
	if (pgs_url) {
		RUN(test_queue_labeled);
		RUN(test_queue_comments);
		RUN(test_queue_feedback);
		RUN(test_queue_once);
	}
	pgs_stop();
	nsh_fs_remove_tree(dir, NULL);
	free(dir);
	return TEST_DONE();
}
