/*
 * libFuzzer target for the webhook payload side (src/github/): the input
 * is an event name, a newline, then the payload bytes. The payload is
 * parsed as the endpoint parses it; then the subject is taken and the
 * trigger decision made under two configurations, and the decision's
 * promises are checked (a task, a comment or feedback always names its
 * issue or pull request and carries text). The signature check runs over
 * the raw bytes with the input's first line as the header, and what is
 * signed must verify under its secret and no other.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "github/github.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nsh_github_config cfgs[2];
static bool ready;

static void setup(void)
{
	static const char text[] = "[github]\nwebhook_secret = s\ncommand = /kiro\nlabel = kiro\n"
				   "bot_login = kiro-bot\nassociations = OWNER CONTRIBUTOR\n";
	struct nsh_config *c = NULL;

	if (nsh_github_config_load(NULL, &cfgs[0], NULL) ||
	    nsh_config_parse(text, sizeof(text) - 1, "fuzz", &c, NULL) ||
	    nsh_github_config_load(c, &cfgs[1], NULL))
		abort();
	nsh_config_free(c);
	ready = true;
}

static void check(const struct nsh_github_decision *d)
{
	switch (d->verdict) {
	case NSH_GITHUB_IGNORE:
		if (!d->reason[0])
			abort();
		break;
	case NSH_GITHUB_NEW_TASK:
		if (!d->has_ref || d->is_pr || !d->text || !*d->text)
			abort();
		break;
	case NSH_GITHUB_ISSUE_COMMENT:
		if (!d->has_ref || d->is_pr || !d->text || !d->issue_text)
			abort();
		break;
	case NSH_GITHUB_FEEDBACK:
		if (!d->has_ref || !d->is_pr || !d->text || !d->kind)
			abort();
		break;
	}
	if (d->has_ref && (d->ref.number < 1 || !nsh_forge_name_valid(d->ref.org) ||
			   !nsh_forge_name_valid(d->ref.repo)))
		abort();
	if (d->text && strlen(d->text) > NSH_GITHUB_TEXT_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	char *event;
	const char *body;
	size_t len;
	json_t *payload = NULL;
	char *subject;
	char sig[NSH_GITHUB_SIGNATURE_LEN + 1];

	if (!ready)
		setup();
	if (!nl)
		return 0;
	event = nsh_xstrndup((const char *)data, (size_t)(nl - (const char *)data));
	body = nl + 1;
	len = size - (size_t)(body - (const char *)data);
	(void)nsh_github_signature_valid("s", body, len, event);
	/* What we sign verifies; the same bytes under another secret do not. */
	nsh_github_signature("s", body, len, sig);
	if (!nsh_github_signature_valid("s", body, len, sig) ||
	    nsh_github_signature_valid("t", body, len, sig))
		abort();
	if (nsh_json_parse_limits(body, len, len, NSH_GITHUB_JSON_DEPTH, &payload, NULL))
		goto out;
	subject = nsh_github_subject(payload);
	free(subject);
	for (size_t i = 0; i < 2; i++) {
		struct nsh_github_decision d;

		if (!nsh_github_decide(event, payload, &cfgs[i], &d, NULL))
			check(&d);
		nsh_github_decision_release(&d);
	}
out:
	json_decref(payload);
	free(event);
	return 0;
}
