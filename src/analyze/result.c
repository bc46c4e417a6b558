/*
 * Results: the risk score and its reasons, the plan order, JSON, and
 * freeing. The formula is the one docs/analyze.md shows:
 *
 *	risk = 3 x usages of silently changing APIs
 *	     + 1 x usages of APIs that throw
 *	     + 2 x source files with usages
 *	     + 10 when the repository has no test files
 *	     + 5 when its lockfile drifts
 *	     + 2 when it only reaches the dependency through another package
 *
 * Critical repositories add nothing to the score: the plan puts them last
 * whatever their score.
 */
#include "analyze/analyze.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define LIST_MAX 6 /* names listed in one reason before "and N more" */

static void dep_release(struct nsh_analyze_dep *d)
{
	free(d->manifest);
	free(d->name);
	free(d->declared);
	free(d->lockfile);
	free(d->resolved);
	nsh_strvec_release(&d->versions);
	nsh_strvec_release(&d->via);
}

static void reasons_release(struct nsh_analyze_result *r)
{
	for (size_t i = 0; i < r->nreasons; i++)
		free(r->reasons[i].text);
	free(r->reasons);
	r->reasons = NULL;
	r->nreasons = 0;
}

void nsh_analyze_result_free(struct nsh_analyze_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ndeps; i++)
		dep_release(&r->deps[i]);
	free(r->deps);
	for (size_t i = 0; i < r->nuses; i++) {
		free(r->uses[i].file);
		free(r->uses[i].text);
	}
	free(r->uses);
	for (size_t i = 0; i < r->nwarnings; i++) {
		free(r->warnings[i].file);
		free(r->warnings[i].reason);
	}
	free(r->warnings);
	reasons_release(r);
	nsh_strvec_release(&r->drift);
	nsh_strvec_release(&r->notes);
	free(r->repo);
	free(r->commit);
	free(r->unaffected);
	free(r->critical_source);
	free(r);
}

const struct nsh_analyze_dep *nsh_analyze_primary(const struct nsh_analyze_result *r)
{
	for (size_t i = 0; i < r->ndeps; i++)
		if (r->deps[i].usage == NSH_ANALYZE_DIRECT &&
		    r->deps[i].match != NSH_ANALYZE_MATCH_NO)
			return &r->deps[i];
	for (size_t i = 0; i < r->ndeps; i++)
		if (r->deps[i].match != NSH_ANALYZE_MATCH_NO)
			return &r->deps[i];
	return r->ndeps ? &r->deps[0] : NULL;
}

size_t nsh_analyze_count(const struct nsh_analyze_result *r, const char *api)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nuses; i++)
		n += !strcmp(r->uses[i].api, api);
	return n;
}

static void add_reason(struct nsh_analyze_result *r, const char *term, int points, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static void add_reason(struct nsh_analyze_result *r, const char *term, int points, const char *fmt,
		       ...)
{
	struct nsh_analyze_reason *x;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	r->reasons = nsh_xreallocarray(r->reasons, r->nreasons + 1, sizeof(*r->reasons));
	x = &r->reasons[r->nreasons++];
	x->term = term;
	x->points = points;
	x->text = text ? text : nsh_xstrdup(term);
	r->risk += points;
}

/*
 * "pluck 3, where 1" for the usages whose silent flag is @silent: each API
 * once, in the order of first use. Returns the number of usages.
 */
static size_t per_api(const struct nsh_analyze_result *r, bool silent, struct nsh_buf *b)
{
	struct nsh_strvec seen = NSH_STRVEC_INIT;
	size_t total = 0;

	for (size_t i = 0; i < r->nuses; i++) {
		const struct nsh_analyze_use *u = &r->uses[i];

		if (u->silent != silent)
			continue;
		total++;
		if (nsh_strvec_find(&seen, u->api) >= 0)
			continue;
		if (seen.nr == LIST_MAX)
			nsh_buf_adds(b, ", ...");
		else if (seen.nr < LIST_MAX)
			nsh_buf_addf(b, "%s%s %zu", seen.nr ? ", " : "", u->api,
				     nsh_analyze_count(r, u->api));
		nsh_strvec_push(&seen, u->api);
	}
	nsh_strvec_release(&seen);
	return total;
}

static int clamp_points(size_t n, int weight)
{
	return n > (size_t)(INT32_MAX / 16) / (size_t)weight ? INT32_MAX / 16 : (int)n * weight;
}

void nsh_analyze_score(struct nsh_analyze_result *r)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t n;

	reasons_release(r);
	r->risk = 0;
	n = per_api(r, true, &b);
	if (n)
		add_reason(r, "silent", clamp_points(n, NSH_ANALYZE_W_SILENT),
			   "%zu usage%s of silently changing APIs x%d (%s)", n, n == 1 ? "" : "s",
			   NSH_ANALYZE_W_SILENT, b.buf);
	nsh_buf_reset(&b);
	n = per_api(r, false, &b);
	if (n)
		add_reason(r, "throws", clamp_points(n, NSH_ANALYZE_W_THROWS),
			   "%zu usage%s of APIs that throw x%d (%s)", n, n == 1 ? "" : "s",
			   NSH_ANALYZE_W_THROWS, b.buf);
	nsh_buf_reset(&b);
	if (r->files_with_uses)
		add_reason(r, "files", clamp_points(r->files_with_uses, NSH_ANALYZE_W_FILE),
			   "%zu file%s with usages x%d", r->files_with_uses,
			   r->files_with_uses == 1 ? "" : "s", NSH_ANALYZE_W_FILE);
	if (!r->has_tests && r->files)
		add_reason(r, "no-tests", NSH_ANALYZE_W_NO_TESTS, "no test files among %zu files",
			   r->files);
	if (r->drift.nr)
		add_reason(r, "drift", NSH_ANALYZE_W_DRIFT, "lockfile drift: %s%s", r->drift.v[0],
			   r->drift.nr > 1 ? " (and more)" : "");
	if (r->usage == NSH_ANALYZE_TRANSITIVE) {
		const struct nsh_analyze_dep *d = nsh_analyze_primary(r);

		if (d && d->via.nr) {
			for (size_t i = 0; i < d->via.nr && i < LIST_MAX; i++)
				nsh_buf_addf(&b, "%s%s", i ? ", " : "", d->via.v[i]);
			if (d->via.nr > LIST_MAX)
				nsh_buf_adds(&b, ", ...");
		}
		add_reason(r, "transitive", NSH_ANALYZE_W_TRANSITIVE,
			   "only through other packages%s%s%s", b.len ? " (" : "", b.buf,
			   b.len ? ")" : "");
	}
	if (r->critical)
		add_reason(r, "critical", 0, "critical (%s): planned last",
			   r->critical_source ? r->critical_source : "marked");
	if (!r->nreasons)
		add_reason(r, "none", 0, "no usages of the named APIs, tests present, no drift");
	nsh_buf_release(&b);
}

/* --- the plan ----------------------------------------------------------- */

static int cmp_plan(const void *a, const void *b)
{
	const struct nsh_analyze_result *x = *(const struct nsh_analyze_result *const *)a;
	const struct nsh_analyze_result *y = *(const struct nsh_analyze_result *const *)b;

	if (x->critical != y->critical)
		return x->critical ? 1 : -1;
	if (x->risk != y->risk)
		return x->risk < y->risk ? -1 : 1;
	return strcmp(x->repo, y->repo);
}

static int cmp_name(const void *a, const void *b)
{
	const struct nsh_analyze_result *x = *(const struct nsh_analyze_result *const *)a;
	const struct nsh_analyze_result *y = *(const struct nsh_analyze_result *const *)b;

	return strcmp(x->repo, y->repo);
}

void nsh_analyze_plan_make(const struct nsh_analyze_result *const *v, size_t nr,
			   struct nsh_analyze_plan *out)
{
	memset(out, 0, sizeof(*out));
	out->order = nsh_xcalloc(nr ? nr : 1, sizeof(*out->order));
	out->unaffected = nsh_xcalloc(nr ? nr : 1, sizeof(*out->unaffected));
	for (size_t i = 0; i < nr; i++) {
		if (!v[i]->affected) {
			out->unaffected[out->nunaffected++] = v[i];
			continue;
		}
		out->order[out->nr++] = v[i];
		if (v[i]->usage == NSH_ANALYZE_DIRECT)
			out->direct++;
		else
			out->transitive++;
	}
	qsort(out->order, out->nr, sizeof(*out->order), cmp_plan);
	qsort(out->unaffected, out->nunaffected, sizeof(*out->unaffected), cmp_name);
}

void nsh_analyze_plan_release(struct nsh_analyze_plan *p)
{
	if (!p)
		return;
	free(p->order);
	free(p->unaffected);
	memset(p, 0, sizeof(*p));
}

/* --- JSON --------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *strvec_json(const struct nsh_strvec *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; i < sv->nr; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

static json_t *dep_json(const struct nsh_analyze_dep *d)
{
	json_t *o = json_object();

	json_object_set_new(o, "ecosystem", json_string(d->ecosystem));
	json_object_set_new(o, "manifest", json_string(d->manifest));
	json_object_set_new(o, "line", d->line ? json_integer(d->line) : json_null());
	json_object_set_new(o, "name", str_or_null(d->name));
	json_object_set_new(o, "usage", json_string(nsh_analyze_usage_name(d->usage)));
	json_object_set_new(o, "kind", str_or_null(d->kind));
	json_object_set_new(o, "declared", str_or_null(d->declared));
	json_object_set_new(o, "lockfile", str_or_null(d->lockfile));
	json_object_set_new(o, "resolved", str_or_null(d->resolved));
	json_object_set_new(o, "versions", strvec_json(&d->versions));
	json_object_set_new(o, "via", strvec_json(&d->via));
	json_object_set_new(o, "match", json_string(nsh_analyze_match_name(d->match)));
	return o;
}

json_t *nsh_analyze_result_json(const struct nsh_analyze_result *r)
{
	json_t *o = json_object(), *a, *counts;
	const struct nsh_analyze_dep *p = nsh_analyze_primary(r);

	json_object_set_new(o, "repo", json_string(r->repo));
	json_object_set_new(o, "commit", str_or_null(r->commit));
	json_object_set_new(o, "affected", json_boolean(r->affected));
	json_object_set_new(o, "unaffected_reason", str_or_null(r->unaffected));
	json_object_set_new(o, "usage", json_string(nsh_analyze_usage_name(r->usage)));
	json_object_set_new(o, "match", json_string(nsh_analyze_match_name(r->match)));
	json_object_set_new(o, "declared", str_or_null(p ? p->declared : NULL));
	json_object_set_new(o, "resolved", str_or_null(p ? p->resolved : NULL));
	a = json_array();
	for (size_t i = 0; i < r->ndeps; i++)
		json_array_append_new(a, dep_json(&r->deps[i]));
	json_object_set_new(o, "dependencies", a);
	a = json_array();
	counts = json_object();
	for (size_t i = 0; i < r->nuses; i++) {
		const struct nsh_analyze_use *u = &r->uses[i];

		json_array_append_new(
			a, json_pack("{s:s, s:s, s:b, s:s, s:i, s:i, s:s, s:s}", "api", u->api,
				     "class", u->cls, "silent", u->silent, "file", u->file, "line",
				     u->line, "column", u->column, "form",
				     nsh_analyze_form_name(u->form), "text", u->text));
		if (!json_object_get(counts, u->api))
			json_object_set_new(counts, u->api,
					    json_integer((json_int_t)nsh_analyze_count(r, u->api)));
	}
	json_object_set_new(o, "api_usages", a);
	json_object_set_new(o, "api_counts", counts);
	json_object_set_new(o, "files", json_integer((json_int_t)r->files));
	json_object_set_new(o, "files_with_usages", json_integer((json_int_t)r->files_with_uses));
	json_object_set_new(o, "test_files", json_integer((json_int_t)r->test_files));
	json_object_set_new(o, "has_tests", json_boolean(r->has_tests));
	json_object_set_new(o, "critical", json_boolean(r->critical));
	json_object_set_new(o, "critical_source", str_or_null(r->critical_source));
	json_object_set_new(o, "lockfile_drift", json_boolean(r->drift.nr > 0));
	json_object_set_new(o, "drift_reasons", strvec_json(&r->drift));
	a = json_array();
	for (size_t i = 0; i < r->nwarnings; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "file", r->warnings[i].file,
						   "reason", r->warnings[i].reason));
	json_object_set_new(o, "warnings", a);
	json_object_set_new(o, "notes", strvec_json(&r->notes));
	a = json_array();
	for (size_t i = 0; i < r->nreasons; i++)
		json_array_append_new(a, json_pack("{s:s, s:i, s:s}", "term", r->reasons[i].term,
						   "points", r->reasons[i].points, "text",
						   r->reasons[i].text));
	json_object_set_new(o, "risk", json_pack("{s:i, s:o}", "score", r->risk, "reasons", a));
	return o;
}

json_t *nsh_analyze_plan_json(const struct nsh_analyze *a, const struct nsh_analyze_plan *p)
{
	json_t *o = json_object(), *arr;

	json_object_set_new(o, "dependency", json_string(a->dep));
	json_object_set_new(o, "range", str_or_null(a->range_text));
	json_object_set_new(o, "summary",
			    json_pack("{s:I, s:I, s:I, s:I}", "repositories",
				      (json_int_t)(p->nr + p->nunaffected), "direct",
				      (json_int_t)p->direct, "transitive",
				      (json_int_t)p->transitive, "unaffected",
				      (json_int_t)p->nunaffected));
	arr = json_array();
	for (size_t i = 0; i < p->nr; i++) {
		json_t *r = nsh_analyze_result_json(p->order[i]);

		json_object_set_new(r, "position", json_integer((json_int_t)i + 1));
		json_array_append_new(arr, r);
	}
	json_object_set_new(o, "plan", arr);
	arr = json_array();
	for (size_t i = 0; i < p->nunaffected; i++)
		json_array_append_new(arr, nsh_analyze_result_json(p->unaffected[i]));
	json_object_set_new(o, "unaffected", arr);
	return o;
}
