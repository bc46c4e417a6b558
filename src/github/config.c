/*
 * The [github] settings of the receiving side, read once when the daemon
 * starts (docs/webhooks.md lists them).
 */
#include "github/github.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/err.h"
#include "net/net.h"

#include "core/banned.h"

#define SECTION "github"

static const char *get(const struct nsh_config *cfg, const char *key)
{
	return cfg ? nsh_config_get(cfg, SECTION, key) : NULL;
}

/* @key's value, or @def when unset; trimmed of nothing (the config did that). */
static char *get_text(const struct nsh_config *cfg, const char *key, const char *def)
{
	const char *v = get(cfg, key);

	return nsh_xstrdup(v ? v : def);
}

static bool has_space(const char *s)
{
	for (; *s; s++)
		if (isspace((unsigned char)*s))
			return true;
	return false;
}

/* Split "OWNER, MEMBER COLLABORATOR" at commas and spaces into upper-case words. */
static int parse_associations(const char *text, struct nsh_strvec *ret, struct nsh_err *err)
{
	const char *p = text;

	while (*p) {
		size_t n;
		char *w;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (!n)
			break;
		w = nsh_xstrndup(p, n);
		for (char *c = w; *c; c++) {
			if (!isalpha((unsigned char)*c) && *c != '_') {
				int rc =
					nsh_err_set(err, NSH_EINVAL,
						    "invalid value '%s' for 'github.associations': "
						    "expected names such as OWNER, MEMBER, "
						    "COLLABORATOR",
						    text);

				free(w);
				return rc;
			}
			*c = (char)toupper((unsigned char)*c);
		}
		nsh_strvec_push(ret, w);
		free(w);
		p += n;
	}
	return 0;
}

int nsh_github_config_load(const struct nsh_config *cfg, struct nsh_github_config *ret,
			   struct nsh_err *err)
{
	struct nsh_github_config c = {0};
	const char *secret = get(cfg, "webhook_secret");
	enum nsh_net_level lvl;
	int rc = 0;

	nsh_strvec_init(&c.associations);
	c.secret = secret && *secret ? nsh_xstrdup(secret) : NULL;
	c.label = get_text(cfg, "label", NSH_GITHUB_LABEL);
	c.command = get_text(cfg, "command", NSH_GITHUB_COMMAND);
	c.bot_login = get(cfg, "bot_login") && *get(cfg, "bot_login")
			      ? nsh_xstrdup(get(cfg, "bot_login"))
			      : NULL;
	c.network = get_text(cfg, "network", NSH_GITHUB_NETWORK);
	c.org_repo = get_text(cfg, "org_repo", ".github");
	c.max_body = NSH_GITHUB_MAX_BODY;
	c.debounce_ms = NSH_GITHUB_DEBOUNCE_MS;
	if (!*c.label) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "invalid value '' for 'github.label': expected "
				 "a label name");
		goto out;
	}
	if (!*c.command || has_space(c.command)) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "invalid value '%s' for 'github.command': expected one word such "
				 "as /nightshift",
				 c.command);
		goto out;
	}
	rc = parse_associations(get(cfg, "associations") ? get(cfg, "associations")
							 : NSH_GITHUB_ASSOCIATIONS,
				&c.associations, err);
	if (rc)
		goto out;
	rc = nsh_net_level_parse(c.network, &lvl, err);
	if (rc) {
		nsh_err_wrap(err, "'github.network'");
		goto out;
	}
	if (cfg) {
		rc = nsh_config_get_size(cfg, SECTION, "webhook_max_body", NSH_GITHUB_MAX_BODY,
					 &c.max_body, err);
		if (!rc && !c.max_body)
			rc = nsh_err_set(
				err, NSH_EINVAL,
				"invalid value '0' for 'github.webhook_max_body': expected "
				"a size such as 25M");
		if (!rc)
			rc = nsh_config_get_duration(cfg, SECTION, "debounce",
						     NSH_GITHUB_DEBOUNCE_MS, &c.debounce_ms, err);
		if (rc)
			goto out;
	}
out:
	if (rc)
		nsh_github_config_release(&c);
	else
		*ret = c;
	return rc;
}

void nsh_github_config_release(struct nsh_github_config *c)
{
	if (!c)
		return;
	free(c->secret);
	free(c->label);
	free(c->command);
	free(c->bot_login);
	free(c->network);
	free(c->org_repo);
	nsh_strvec_release(&c->associations);
	memset(c, 0, sizeof(*c));
}

bool nsh_github_association_allowed(const struct nsh_github_config *c, const char *assoc)
{
	const char *it;

	if (!assoc)
		return false;
	nsh_vec_foreach(it, &c->associations)
		if (!strcasecmp(it, assoc))
			return true;
	return false;
}
