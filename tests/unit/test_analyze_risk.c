/*
 * Risk score, plan order and JSON of the analyze module: each term of the
 * formula with the numbers in its reason, critical repositories last
 * whatever their score, ties by name whatever the input order, unaffected
 * ones apart, and the JSON a client reads.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

static struct nsh_analyze_result *mk(const char *name, enum nsh_analyze_usage usage, bool tests)
{
	struct nsh_analyze_result *r = nsh_xcalloc(1, sizeof(*r));

	r->repo = nsh_xstrdup(name);
	nsh_strvec_init(&r->drift);
	nsh_strvec_init(&r->notes);
	r->usage = usage;
	r->affected = usage != NSH_ANALYZE_UNUSED;
	r->match = r->affected ? NSH_ANALYZE_MATCH_YES : NSH_ANALYZE_MATCH_NO;
	if (!r->affected)
		r->unaffected = nsh_xstrdup("no 'lodash' in any manifest");
	r->files = 40;
	r->has_tests = tests;
	r->test_files = tests ? 3 : 0;
	return r;
}

static void use(struct nsh_analyze_result *r, const char *api, bool silent, const char *file,
		int line)
{
	struct nsh_analyze_use *u;

	r->uses = nsh_xreallocarray(r->uses, r->nuses + 1, sizeof(*r->uses));
	u = &r->uses[r->nuses++];
	memset(u, 0, sizeof(*u));
	u->api = api;
	u->cls = silent ? "silent" : "throws";
	u->silent = silent;
	u->file = nsh_xstrdup(file);
	u->line = line;
	u->column = 1;
	u->form = NSH_ANALYZE_FORM_MEMBER;
	u->text = nsh_xasprintf("_.%s", api);
}

static void add_dep(struct nsh_analyze_result *r, enum nsh_analyze_usage usage, const char *via)
{
	struct nsh_analyze_dep *d;

	r->deps = nsh_xreallocarray(r->deps, r->ndeps + 1, sizeof(*r->deps));
	d = &r->deps[r->ndeps++];
	memset(d, 0, sizeof(*d));
	d->ecosystem = "npm";
	d->manifest =
		nsh_xstrdup(usage == NSH_ANALYZE_DIRECT ? "package.json" : "package-lock.json");
	d->name = nsh_xstrdup("lodash");
	d->usage = usage;
	d->kind = usage == NSH_ANALYZE_DIRECT ? "dependencies" : NULL;
	d->declared = usage == NSH_ANALYZE_DIRECT ? nsh_xstrdup("^3.10.1") : NULL;
	d->resolved = nsh_xstrdup("3.10.1");
	d->match = NSH_ANALYZE_MATCH_YES;
	nsh_strvec_init(&d->versions);
	nsh_strvec_init(&d->via);
	nsh_strvec_push(&d->versions, "3.10.1");
	if (via)
		nsh_strvec_push(&d->via, via);
}

static void check_reason(const struct nsh_analyze_result *r, size_t i, const char *term, int points,
			 const char *text, int at)
{
	if (i < r->nreasons && !strcmp(r->reasons[i].term, term) &&
	    r->reasons[i].points == points && !strcmp(r->reasons[i].text, text)) {
		t_pass++;
		return;
	}
	t_fail++;
	if (i < r->nreasons)
		fprintf(stderr, "%s:%d: reason %zu is %s %d '%s'\n", __FILE__, at, i,
			r->reasons[i].term, r->reasons[i].points, r->reasons[i].text);
	else
		fprintf(stderr, "%s:%d: only %zu reasons\n", __FILE__, at, r->nreasons);
}

#define REASON(r, i, term, pts, text) check_reason(r, i, term, pts, text, __LINE__)

static void test_score_terms(void)
{
	struct nsh_analyze_result *r = mk("billing", NSH_ANALYZE_DIRECT, false);

	add_dep(r, NSH_ANALYZE_DIRECT, NULL);
	use(r, "pluck", true, "a.js", 1);
	use(r, "flatten", true, "a.js", 5);
	use(r, "pluck", true, "b.js", 2);
	use(r, "where", false, "b.js", 3);
	r->files_with_uses = 2;
	nsh_strvec_push(&r->drift,
			"package-lock.json resolves 'lodash' to 4.17.21, outside '^3.10.1'");
	nsh_strvec_push(&r->drift,
			"package-lock.json holds 2 versions of 'lodash': 3.10.1, 4.17.21");
	nsh_analyze_score(r);
	/* 3 x 3 + 1 x 1 + 2 x 2 + 10 + 5 */
	CHECK_INT(r->risk, 29);
	CHECK_INT(r->nreasons, 5);
	REASON(r, 0, "silent", 9, "3 usages of silently changing APIs x3 (pluck 2, flatten 1)");
	REASON(r, 1, "throws", 1, "1 usage of APIs that throw x1 (where 1)");
	REASON(r, 2, "files", 4, "2 files with usages x2");
	REASON(r, 3, "no-tests", 10, "no test files among 40 files");
	REASON(r, 4, "drift", 5,
	       "lockfile drift: package-lock.json resolves 'lodash' to 4.17.21, outside "
	       "'^3.10.1' (and more)");

	/* scoring again replaces, never adds up */
	nsh_analyze_score(r);
	CHECK_INT(r->risk, 29);
	CHECK_INT(r->nreasons, 5);
	nsh_analyze_result_free(r);
}

static void test_score_transitive_critical_none(void)
{
	struct nsh_analyze_result *r = mk("search", NSH_ANALYZE_TRANSITIVE, true);

	add_dep(r, NSH_ANALYZE_TRANSITIVE, "request");
	r->critical = true;
	r->critical_source = nsh_xstrdup(".nightshift/repo.yml critical: true");
	nsh_analyze_score(r);
	CHECK_INT(r->risk, 2);
	CHECK_INT(r->nreasons, 2);
	REASON(r, 0, "transitive", 2, "only through other packages (request)");
	REASON(r, 1, "critical", 0, "critical (.nightshift/repo.yml critical: true): planned last");
	nsh_analyze_result_free(r);

	r = mk("quiet", NSH_ANALYZE_DIRECT, true);
	add_dep(r, NSH_ANALYZE_DIRECT, NULL);
	nsh_analyze_score(r);
	CHECK_INT(r->risk, 0);
	CHECK_INT(r->nreasons, 1);
	REASON(r, 0, "none", 0, "no usages of the named APIs, tests present, no drift");
	CHECK(nsh_analyze_primary(r) == &r->deps[0]);
	nsh_analyze_result_free(r);
}

/* A repository with a given risk (made of throwing usages) and criticality. */
static struct nsh_analyze_result *with_risk(const char *name, int uses, bool critical)
{
	struct nsh_analyze_result *r = mk(name, NSH_ANALYZE_DIRECT, true);

	add_dep(r, NSH_ANALYZE_DIRECT, NULL);
	for (int i = 0; i < uses; i++)
		use(r, "where", false, "x.js", i + 1);
	r->files_with_uses = uses ? 1 : 0;
	r->critical = critical;
	if (critical)
		r->critical_source = nsh_xstrdup("topic 'critical'");
	nsh_analyze_score(r);
	return r;
}

static void order_names(const struct nsh_analyze_plan *p, struct nsh_buf *b)
{
	nsh_buf_reset(b);
	for (size_t i = 0; i < p->nr; i++)
		nsh_buf_addf(b, "%s%s", i ? " " : "", p->order[i]->repo);
	nsh_buf_adds(b, " |");
	for (size_t i = 0; i < p->nunaffected; i++)
		nsh_buf_addf(b, " %s", p->unaffected[i]->repo);
}

static void test_plan(void)
{
	struct nsh_analyze_result *v[7];
	const struct nsh_analyze_result *perm[7];
	struct nsh_analyze_plan p;
	struct nsh_buf b = NSH_BUF_INIT;

	v[0] = with_risk("payments", 0, true); /* lowest score, but critical */
	v[1] = with_risk("web", 3, false);     /* 3 + 2 = 5 */
	v[2] = with_risk("api", 3, false);     /* 5: tie with web, name first */
	v[3] = with_risk("batch", 10, false);  /* 12 */
	v[4] = with_risk("auth", 1, true);     /* 3, critical */
	v[5] = mk("zeta", NSH_ANALYZE_UNUSED, true);
	v[6] = mk("docs", NSH_ANALYZE_UNUSED, true);
	v[5]->risk = v[6]->risk = 0;
	v[4]->usage = NSH_ANALYZE_TRANSITIVE;
	CHECK_INT(v[1]->risk, 5);
	CHECK_INT(v[3]->risk, 12);

	nsh_analyze_plan_make((const struct nsh_analyze_result *const *)v, 7, &p);
	order_names(&p, &b);
	CHECK_STR(b.buf, "api web batch payments auth | docs zeta");
	CHECK_INT(p.direct, 4);
	CHECK_INT(p.transitive, 1);
	CHECK_INT(p.nunaffected, 2);
	nsh_analyze_plan_release(&p);

	/* the same plan whatever the order the results come in */
	for (size_t i = 0; i < 7; i++)
		perm[i] = v[(i * 3 + 2) % 7];
	nsh_analyze_plan_make(perm, 7, &p);
	order_names(&p, &b);
	CHECK_STR(b.buf, "api web batch payments auth | docs zeta");
	nsh_analyze_plan_release(&p);

	nsh_analyze_plan_make(perm, 0, &p);
	CHECK_INT(p.nr + p.nunaffected, 0);
	nsh_analyze_plan_release(&p);
	nsh_analyze_plan_release(NULL);

	for (size_t i = 0; i < 7; i++)
		nsh_analyze_result_free(v[i]);
	nsh_buf_release(&b);
}

static void test_json(void)
{
	static const struct nsh_analyze_api apis[] = {{"where", NULL, false}};
	struct nsh_analyze_opts o = {"lodash", "<4", apis, 1, NULL};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze *a = NULL;
	struct nsh_analyze_result *v[2];
	struct nsh_analyze_plan p;
	json_t *j, *r0, *u0;

	CHECK_INT(nsh_analyze_new(&o, &a, &err), 0);
	v[0] = with_risk("web", 2, false);
	v[1] = mk("docs", NSH_ANALYZE_UNUSED, true);
	nsh_analyze_plan_make((const struct nsh_analyze_result *const *)v, 2, &p);
	j = nsh_analyze_plan_json(a, &p);
	CHECK_STR(json_string_value(json_object_get(j, "dependency")), "lodash");
	CHECK_STR(json_string_value(json_object_get(j, "range")), "<4");
	CHECK_INT(
		json_integer_value(json_object_get(json_object_get(j, "summary"), "repositories")),
		2);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "summary"), "direct")), 1);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "summary"), "unaffected")),
		  1);
	r0 = json_array_get(json_object_get(j, "plan"), 0);
	CHECK_STR(json_string_value(json_object_get(r0, "repo")), "web");
	CHECK_INT(json_integer_value(json_object_get(r0, "position")), 1);
	CHECK_STR(json_string_value(json_object_get(r0, "usage")), "direct");
	CHECK_STR(json_string_value(json_object_get(r0, "resolved")), "3.10.1");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r0, "api_counts"), "where")),
		  2);
	u0 = json_array_get(json_object_get(r0, "api_usages"), 1);
	CHECK_STR(json_string_value(json_object_get(u0, "file")), "x.js");
	CHECK_INT(json_integer_value(json_object_get(u0, "line")), 2);
	CHECK_STR(json_string_value(json_object_get(u0, "form")), "member");
	CHECK_STR(json_string_value(json_object_get(u0, "class")), "throws");
	CHECK(json_is_false(json_object_get(u0, "silent")));
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r0, "risk"), "score")), 4);
	CHECK_INT(json_array_size(json_object_get(json_object_get(r0, "risk"), "reasons")), 2);
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(r0, "dependencies"), 0), "kind")),
		  "dependencies");
	CHECK(json_is_array(json_object_get(r0, "warnings")));
	CHECK(json_is_false(json_object_get(r0, "lockfile_drift")));
	CHECK_STR(
		json_string_value(json_object_get(
			json_array_get(json_object_get(j, "unaffected"), 0), "unaffected_reason")),
		"no 'lodash' in any manifest");
	json_decref(j);
	nsh_analyze_plan_release(&p);
	nsh_analyze_result_free(v[0]);
	nsh_analyze_result_free(v[1]);
	nsh_analyze_free(a);
}

static void test_options(void)
{
	struct nsh_analyze_api bad[] = {{"plu-ck", NULL, true}};
	struct nsh_analyze_api twice[] = {{"pluck", NULL, true}, {"pluck", NULL, false}};
	struct nsh_analyze_opts o = {"lodash", NULL, NULL, 0, NULL};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze *a = NULL;

	o.dependency = "";
	CHECK_INT(nsh_analyze_new(&o, &a, &err), NSH_EINVAL);
	o.dependency = "lo dash";
	CHECK_INT(nsh_analyze_new(&o, &a, &err), NSH_EINVAL);
	o.dependency = "lodash";
	o.range = "latest";
	CHECK_INT(nsh_analyze_new(&o, &a, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid version range 'latest'");
	o.range = NULL;
	o.apis = bad;
	o.napis = 1;
	CHECK_INT(nsh_analyze_new(&o, &a, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid API name 'plu-ck' (expected an identifier)");
	o.apis = twice;
	o.napis = 2;
	CHECK_INT(nsh_analyze_new(&o, &a, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "API 'pluck' given twice");
	o.napis = 1;
	CHECK_INT(nsh_analyze_new(&o, &a, &err), 0);
	CHECK_STR(nsh_analyze_dependency(a), "lodash");
	CHECK(nsh_analyze_range_text(a) == NULL);
	nsh_analyze_free(a);
	nsh_analyze_free(NULL);
	nsh_analyze_result_free(NULL);
}

int main(void)
{
	RUN(test_score_terms);
	RUN(test_score_transitive_critical_none);
	RUN(test_plan);
	RUN(test_json);
	RUN(test_options);
	return TEST_DONE();
}
