/*
 * The analyser object: options checked once, shared by every repository's
 * analysis (and by threads, read-only).
 */
#include "analyze/analyze.h"

#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/err.h"

#include "core/banned.h"

#define DEP_NAME_MAX 214 /* npm's limit; longer than any other ecosystem's names in practice */

static bool is_identifier(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '$'))
			return false;
	return true;
}

void nsh_analyze_free(struct nsh_analyze *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->napis; i++) {
		free((char *)a->apis[i].name);
		free((char *)a->apis[i].cls);
	}
	free(a->apis);
	free(a->api_names);
	nsh_analyze_range_free(a->range);
	free(a->range_text);
	free(a->dep);
	nsh_strvec_release(&a->globals);
	free(a);
}

int nsh_analyze_new(const struct nsh_analyze_opts *opts, struct nsh_analyze **ret,
		    struct nsh_err *err)
{
	struct nsh_analyze *a;
	int rc;

	if (!opts->dependency || !*opts->dependency)
		return nsh_err_set(err, NSH_EINVAL, "missing dependency name");
	if (strlen(opts->dependency) > DEP_NAME_MAX)
		return nsh_err_set(err, NSH_EINVAL, "dependency name longer than %d characters",
				   DEP_NAME_MAX);
	for (const char *c = opts->dependency; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == '\'' || *c == '"' || *c == '\\' ||
		    (unsigned char)*c == 0x7f)
			return nsh_err_set(
				err, NSH_EINVAL,
				"invalid dependency name '%s' (quote, space or control character)",
				opts->dependency);
	if (opts->napis > NSH_ANALYZE_MAX_APIS)
		return nsh_err_set(err, NSH_EINVAL, "more than %d APIs", NSH_ANALYZE_MAX_APIS);
	for (size_t i = 0; i < opts->napis; i++) {
		if (!is_identifier(opts->apis[i].name))
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid API name '%s' (expected an identifier)",
					   opts->apis[i].name ? opts->apis[i].name : "");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(opts->apis[i].name, opts->apis[j].name))
				return nsh_err_set(err, NSH_EINVAL, "API '%s' given twice",
						   opts->apis[i].name);
	}
	a = nsh_xcalloc(1, sizeof(*a));
	nsh_strvec_init(&a->globals);
	a->dep = nsh_xstrdup(opts->dependency);
	if (opts->range && *opts->range) {
		rc = nsh_analyze_range_parse(opts->range, &a->range, err);
		if (rc) {
			nsh_analyze_free(a);
			return rc;
		}
		a->range_text = nsh_xstrdup(opts->range);
	}
	a->apis = nsh_xcalloc(opts->napis ? opts->napis : 1, sizeof(*a->apis));
	a->api_names = nsh_xcalloc(opts->napis ? opts->napis : 1, sizeof(*a->api_names));
	for (size_t i = 0; i < opts->napis; i++) {
		a->apis[i].name = nsh_xstrdup(opts->apis[i].name);
		a->apis[i].silent = opts->apis[i].silent;
		a->apis[i].cls = nsh_xstrdup(opts->apis[i].cls	    ? opts->apis[i].cls
					     : opts->apis[i].silent ? "silent"
								    : "throws");
		a->api_names[i] = a->apis[i].name;
	}
	a->napis = opts->napis;
	if (opts->globals) {
		for (size_t i = 0; opts->globals[i]; i++) {
			if (!is_identifier(opts->globals[i])) {
				nsh_err_set(err, NSH_EINVAL, "invalid identifier '%s'",
					    opts->globals[i]);
				nsh_analyze_free(a);
				return NSH_EINVAL;
			}
			nsh_strvec_push(&a->globals, opts->globals[i]);
		}
	} else {
		if (is_identifier(a->dep))
			nsh_strvec_push(&a->globals, a->dep);
		if (!strcmp(a->dep, "lodash") || !strcmp(a->dep, "lodash-es") ||
		    !strcmp(a->dep, "underscore"))
			nsh_strvec_push(&a->globals, "_");
	}
	*ret = a;
	return 0;
}

const char *nsh_analyze_dependency(const struct nsh_analyze *a)
{
	return a->dep;
}

const char *nsh_analyze_range_text(const struct nsh_analyze *a)
{
	return a->range_text;
}

const char *nsh_analyze_usage_name(enum nsh_analyze_usage u)
{
	switch (u) {
	case NSH_ANALYZE_UNUSED:
		return "none";
	case NSH_ANALYZE_TRANSITIVE:
		return "transitive";
	case NSH_ANALYZE_DIRECT:
		return "direct";
	}
	return "none";
}

const char *nsh_analyze_match_name(enum nsh_analyze_match m)
{
	switch (m) {
	case NSH_ANALYZE_MATCH_UNKNOWN:
		return "unknown";
	case NSH_ANALYZE_MATCH_YES:
		return "yes";
	case NSH_ANALYZE_MATCH_NO:
		return "no";
	}
	return "unknown";
}

const char *nsh_analyze_form_name(enum nsh_analyze_form f)
{
	switch (f) {
	case NSH_ANALYZE_FORM_MEMBER:
		return "member";
	case NSH_ANALYZE_FORM_CHAIN:
		return "chain";
	case NSH_ANALYZE_FORM_DESTRUCTURED:
		return "destructured";
	case NSH_ANALYZE_FORM_CALL:
		return "call";
	case NSH_ANALYZE_FORM_MODULE:
		return "module";
	case NSH_ANALYZE_FORM_CATEGORY:
		return "category";
	case NSH_ANALYZE_FORM_PACKAGE:
		return "package";
	case NSH_ANALYZE_FORM_COUNT_:
		break;
	}
	return "?";
}
