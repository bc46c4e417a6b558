/*
 * Names of the network levels.
 */
#include "net/net.h"

#include <string.h>

#include "core/err.h"

#include "core/banned.h"

static const char *const level_names[] = {
	[NSH_NET_NONE] = "none", [NSH_NET_INTEGRATION] = "integration", [NSH_NET_COMMON] = "common",
	[NSH_NET_OPEN] = "open", [NSH_NET_CUSTOM] = "custom",
};

int nsh_net_level_parse(const char *s, enum nsh_net_level *ret, struct nsh_err *err)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*ret = (enum nsh_net_level)i;
			return 0;
		}
	}
	return nsh_err_set(
		err, NSH_EINVAL,
		"unknown network level '%s' (use none, integration, common, open or custom)", s);
}

const char *nsh_net_level_name(enum nsh_net_level l)
{
	return (unsigned)l < sizeof(level_names) / sizeof(level_names[0]) ? level_names[l]
									  : "unknown";
}
