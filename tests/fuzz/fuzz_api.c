/*
 * libFuzzer target for the server's request side (src/server/router.c):
 * routing with parameter validation, dispatch without a server (the token
 * check refuses everything but the public routes), query counts and the
 * JSON body parser. Input: "METHOD\nPATH\nQUERY\nBODY", QUERY as k=v&k=v.
 * Every JSON reply must parse back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "server/server_int.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Split off the text up to the next '\n' (or the end) as a new string. */
static char *take_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *stop = nl ? nl : end;
	char *s = malloc((size_t)(stop - *p) + 1);

	memcpy(s, *p, (size_t)(stop - *p));
	s[stop - *p] = '\0';
	*p = nl ? nl + 1 : end;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct nsh_srv_kv kv[NSH_SRV_MAX_QUERY];
	struct nsh_srv_match m;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_req r = {0};
	char *method = take_line(&p, end);
	char *path = take_line(&p, end);
	char *query = take_line(&p, end);
	size_t nkv = 0, n;
	json_t *body = NULL;

	/* Strings with an embedded NUL are cut there, as the HTTP layer would. */
	for (char *q = query; q && *q && nkv < NSH_SRV_MAX_QUERY;) {
		char *amp = strchr(q, '&');
		char *eq;

		if (amp)
			*amp = '\0';
		eq = strchr(q, '=');
		if (eq)
			*eq = '\0';
		kv[nkv].key = q;
		kv[nkv].value = eq ? eq + 1 : NULL;
		nkv++;
		q = amp ? amp + 1 : NULL;
	}

	nsh_srv_route(method, path, &m, &err);
	if (m.route && m.nparams > NSH_SRV_MAX_PARAMS)
		abort();

	r.method = method;
	r.path = path;
	r.query = kv;
	r.nquery = nkv;
	r.body = p;
	r.body_len = (size_t)(end - p);
	r.authorization = nkv ? kv[0].value : NULL;
	nsh_srv_dispatch(&r);
	if (r.status < 200 || r.status > 599)
		abort();
	if (r.content_type && !strcmp(r.content_type, "application/json")) {
		json_t *v = NULL;

		if (nsh_json_parse(r.out.buf, r.out.len, &v, NULL))
			abort();
		json_decref(v);
	}
	nsh_srv_query_count(&r, "limit", 50, 500, &n, &err);
	nsh_srv_query_count(&r, "after", 0, (size_t)INT64_MAX, &n, &err);
	if (nsh_srv_body_json(&r, &body, &err) == 0) {
		const char *s;

		if (!json_is_object(body))
			abort();
		nsh_srv_field_str(body, "text", NSH_SRV_TEXT_MAX, &s, &err);
		nsh_srv_field_str(body, "verdict", 32, &s, &err);
		json_decref(body);
	}
	nsh_srv_req_release(&r);
	free(method);
	free(path);
	free(query);
	return 0;
}
