/*
 * libFuzzer target for the egress proxy's request-head parser: arbitrary
 * bytes through nsh_http_head_len() and nsh_http_parse_head(), then the
 * target, authority and Host header through the URI, authority and
 * host-name checks the proxy runs, and the policy decision at level open.
 * Every view handed out must lie inside the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/str.h"
#include "net/net.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *g_lo, *g_hi; /* the input's bounds */

static void inside(struct nsh_str s)
{
	if (s.len && (s.p < g_lo || s.p + s.len > g_hi))
		abort();
}

static void host_checks(struct nsh_str authority, int default_port)
{
	static struct nsh_net_policy pol;
	static bool init;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_str host;
	char *norm = NULL;
	int port = 0;

	if (!init) {
		nsh_net_policy_init(&pol, NSH_NET_OPEN);
		init = true;
	}
	if (nsh_http_parse_authority(authority, default_port, &host, &port, &err))
		return;
	inside(host);
	if (!host.len || port < 1 || port > 65535)
		abort();
	if (nsh_net_host_normalize(host, &norm, &err))
		return;
	for (const char *c = norm; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			abort(); /* normalised means lower case */
	if (nsh_net_is_ip_literal(norm) || !nsh_net_policy_allows(&pol, norm))
		abort(); /* a valid name is allowed at level open */
	free(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nsh_http_req req;
	struct nsh_err err = NSH_ERR_INIT;
	const char *p = (const char *)data;
	const struct nsh_http_header *h;
	struct nsh_str auth, path;
	size_t n, count;

	n = nsh_http_head_len(p, size);
	if (n > size)
		abort();
	g_lo = p;
	g_hi = p + (n ? n : size);
	if (nsh_http_parse_head(p, n ? n : size, &req, &err))
		return 0;
	if (!n)
		abort(); /* a head the length finder did not see cannot parse */
	inside(req.method);
	inside(req.target);
	if (!req.method.len || !req.target.len || (req.minor != 0 && req.minor != 1) ||
	    req.nhdr > NSH_HTTP_MAX_HEADERS)
		abort();
	for (size_t i = 0; i < req.nhdr; i++) {
		inside(req.hdr[i].name);
		inside(req.hdr[i].value);
		if (!req.hdr[i].name.len)
			abort();
	}
	h = nsh_http_req_header(&req, "host", &count);
	if ((h == NULL) != (count == 0))
		abort();
	if (h)
		host_checks(h->value, 80);
	if (nsh_str_eq_cstr(req.method, "CONNECT")) {
		host_checks(req.target, 0);
	} else if (!nsh_http_parse_uri(req.target, &auth, &path, &err)) {
		inside(auth);
		inside(path);
		if (!auth.len)
			abort();
		host_checks(auth, 80);
	}
	return 0;
}
