/*
 * Network levels of a sandbox (DESIGN.md section 5) and the egress proxy
 * that enforces them.
 */
#ifndef NSH_NET_NET_H
#define NSH_NET_NET_H

struct nsh_err;

enum nsh_net_level {
	NSH_NET_NONE,	     /* own namespace, loopback only */
	NSH_NET_INTEGRATION, /* the code host only */
	NSH_NET_COMMON,	     /* + package registries */
	NSH_NET_OPEN,	     /* any public host */
	NSH_NET_CUSTOM,	     /* an allowlist */
};

/** Parse "none", "integration", "common", "open" or "custom"; NSH_EINVAL names the text. */
int nsh_net_level_parse(const char *s, enum nsh_net_level *ret, struct nsh_err *err);
/** The name of @l ("unknown" when out of range). */
const char *nsh_net_level_name(enum nsh_net_level l);

#endif
