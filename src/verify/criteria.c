/*
 * Acceptance criteria (the format is in verify.h): reading them, and
 * deciding each one that has a deterministic check, with its evidence.
 * What has none is marked for the LLM judge or a human, never passed.
 */
#include "verify/verify_int.h"

#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/regex.h"
#include "core/time.h"

#include "core/banned.h"

#define USAGE_FILE_MAX	((size_t)4 << 20) /* bytes of a file searched */
#define USAGE_FILES_MAX 100000
#define USAGE_FINDINGS	50
#define MANIFEST_MAX	((size_t)32 << 20)

/* ---- versions ---- */

struct ver {
	long v[3];
	int parts; /* how many were written */
};

/* A version, or with @wild a constraint's version where x and * end it ("4.x"). */
static bool parse_ver(const char *s, bool wild, struct ver *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (*s == 'v' || *s == 'V' || *s == '=')
		s++;
	for (int k = 0; k < 3; k++) {
		char *end;

		if (*s == 'x' || *s == 'X' || *s == '*')
			return wild && k > 0;
		if (*s < '0' || *s > '9')
			return false;
		ret->v[k] = strtol(s, &end, 10);
		if (ret->v[k] < 0 || ret->v[k] > 100000000)
			return false;
		ret->parts = k + 1;
		s = end;
		if (*s != '.')
			break;
		s++;
	}
	return *s == '\0' || *s == '-' || *s == '+' || *s == '.';
}

static int cmp_ver(const struct ver *a, const struct ver *b)
{
	for (int k = 0; k < 3; k++)
		if (a->v[k] != b->v[k])
			return a->v[k] < b->v[k] ? -1 : 1;
	return 0;
}

/* One term ("^4.17.0", ">=4", "4.17", "*"); -1 when it is not a term. */
static int term(const struct ver *v, const char *t)
{
	struct ver c, hi;
	const char *op = t;
	int cmp;

	if (!strcmp(t, "*") || !strcmp(t, "x") || !*t)
		return 1;
	while (*t == '>' || *t == '<' || *t == '=' || *t == '^' || *t == '~')
		t++;
	if (!parse_ver(t, true, &c))
		return -1;
	cmp = cmp_ver(v, &c);
	if (!strncmp(op, ">=", 2))
		return cmp >= 0;
	if (!strncmp(op, "<=", 2))
		return cmp <= 0;
	if (*op == '>')
		return cmp > 0;
	if (*op == '<')
		return cmp < 0;
	if (*op == '^' || *op == '~') {
		hi = c;
		hi.v[2] = 0;
		if (*op == '~' && c.parts >= 2) {
			hi.v[1]++;
		} else if (*op == '^' && c.v[0] == 0 && c.parts >= 2) {
			hi.v[1]++;
		} else {
			hi.v[0]++;
			hi.v[1] = 0;
		}
		return cmp >= 0 && cmp_ver(v, &hi) < 0;
	}
	/* exact, or a prefix when fewer parts were written */
	for (int k = 0; k < c.parts; k++)
		if (v->v[k] != c.v[k])
			return 0;
	return 1;
}

static int satisfies(const char *v, const char *c)
{
	struct ver ver;
	char *copy, *alt;
	int any = 0;

	if (!parse_ver(v, false, &ver))
		return -1;
	copy = nsh_xstrdup(c);
	/* alternatives joined by "||", terms by spaces */
	for (alt = copy; alt && !any;) {
		char *bar = strstr(alt, "||"), *t, *s2 = NULL;
		int all = 1, terms = 0;

		if (bar)
			*bar = '\0';
		for (t = strtok_r(alt, " ", &s2); t; t = strtok_r(NULL, " ", &s2)) {
			int r = term(&ver, t);

			if (r < 0) {
				free(copy);
				return -1;
			}
			all &= r;
			terms++;
		}
		if (terms)
			any |= all;
		alt = bar ? bar + 2 : NULL;
	}
	free(copy);
	return any;
}

bool nsh_verify_version_satisfies(const char *v, const char *c)
{
	return satisfies(v, c) == 1;
}

static bool constraint_valid(const char *c)
{
	return satisfies("1.2.3", c) >= 0;
}

/* ---- reading ---- */

void nsh_verify_criteria_release(struct nsh_verify_criteria *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++) {
		struct nsh_verify_criterion *x = &c->v[i];

		free(x->id);
		free(x->text);
		free(x->reviewer);
		nsh_strvec_release(&x->argv);
		free(x->pattern);
		nsh_strvec_release(&x->paths);
		nsh_strvec_release(&x->exclude);
		free(x->name);
		free(x->version);
		free(x->ecosystem);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int str_list(const json_t *v, const char *id, const char *field, struct nsh_strvec *ret,
		    struct nsh_err *err)
{
	size_t i;
	json_t *e;

	if (!v)
		return 0;
	if (json_is_string(v)) {
		nsh_strvec_push(ret, json_string_value(v));
		return 0;
	}
	if (!json_is_array(v))
		return nsh_err_set(err, NSH_EINVAL,
				   "criterion '%s': '%s' must be a list of strings", id, field);
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return nsh_err_set(err, NSH_EINVAL,
					   "criterion '%s': '%s' must be a list of strings", id,
					   field);
		nsh_strvec_push(ret, json_string_value(e));
	}
	return 0;
}

/* A string field; YAML gives every scalar as a string, JSON may give true/false. */
static bool flag(const json_t *v)
{
	if (json_is_true(v))
		return true;
	return json_is_string(v) && (!strcasecmp(json_string_value(v), "true") ||
				     !strcasecmp(json_string_value(v), "yes"));
}

static int need(const json_t *check, const char *id, const char *field, char **ret,
		struct nsh_err *err)
{
	json_t *v = json_object_get(check, field);

	if (!json_is_string(v) || !*json_string_value(v))
		return nsh_err_set(err, NSH_EINVAL, "criterion '%s': the check needs '%s'", id,
				   field);
	*ret = nsh_xstrdup(json_string_value(v));
	return 0;
}

static int one(const json_t *j, size_t index, struct nsh_verify_criterion *x, struct nsh_err *err)
{
	const json_t *check;
	const char *kind;
	json_t *idv = json_object_get(j, "id"), *text = json_object_get(j, "text");
	int rc;

	if (json_is_string(j)) {
		/* a bare text: no check */
		x->id = nsh_xasprintf("AC%zu", index + 1);
		x->text = nsh_xstrdup(json_string_value(j));
		x->kind = NSH_VERIFY_CRIT_REVIEW;
		x->reviewer = nsh_xstrdup("judge");
		return 0;
	}
	if (!json_is_object(j))
		return nsh_err_set(err, NSH_EINVAL, "criterion %zu is not an object", index + 1);
	x->id = json_is_string(idv) && *json_string_value(idv) ? nsh_xstrdup(json_string_value(idv))
							       : nsh_xasprintf("AC%zu", index + 1);
	if (!json_is_string(text) || !*json_string_value(text))
		return nsh_err_set(err, NSH_EINVAL, "criterion '%s' has no 'text'", x->id);
	x->text = nsh_xstrdup(json_string_value(text));
	check = json_object_get(j, "check");
	if (!check || json_is_null(check)) {
		x->kind = NSH_VERIFY_CRIT_REVIEW;
		x->reviewer = nsh_xstrdup("judge");
		return 0;
	}
	if (json_is_string(check))
		kind = json_string_value(check);
	else if (!json_is_object(check) ||
		 !(kind = json_string_value(json_object_get(check, "kind"))))
		return nsh_err_set(err, NSH_EINVAL, "criterion '%s': 'check' needs a 'kind'",
				   x->id);
	if (!strcmp(kind, "judge") || !strcmp(kind, "human")) {
		x->kind = NSH_VERIFY_CRIT_REVIEW;
		x->reviewer = nsh_xstrdup(kind);
	} else if (!strcmp(kind, "no_new_failures")) {
		x->kind = NSH_VERIFY_CRIT_NO_NEW_FAILURES;
	} else if (!strcmp(kind, "command")) {
		json_t *run = json_object_get(check, "run"),
		       *to = json_object_get(check, "timeout");

		x->kind = NSH_VERIFY_CRIT_COMMAND;
		if (json_is_string(run) && *json_string_value(run))
			nsh_strvec_pushl(&x->argv, "sh", "-c", json_string_value(run), NULL);
		else if ((rc = str_list(json_object_get(check, "argv"), x->id, "argv", &x->argv,
					err)))
			return rc;
		if (!x->argv.nr)
			return nsh_err_set(err, NSH_EINVAL,
					   "criterion '%s': a command check needs 'argv' or 'run'",
					   x->id);
		if (json_is_string(to) &&
		    nsh_time_parse_duration(json_string_value(to), &x->timeout_ms, err))
			return nsh_err_wrap(err, "criterion '%s': 'timeout'", x->id);
		if (json_is_integer(to))
			x->timeout_ms = json_integer_value(to) * 1000;
	} else if (!strcmp(kind, "tests")) {
		x->kind = NSH_VERIFY_CRIT_TESTS;
		if ((rc = need(check, x->id, "pattern", &x->pattern, err)))
			return rc;
	} else if (!strcmp(kind, "no_usages")) {
		x->kind = NSH_VERIFY_CRIT_NO_USAGES;
		if ((rc = need(check, x->id, "pattern", &x->pattern, err)))
			return rc;
		x->regex = flag(json_object_get(check, "regex"));
		if ((rc = str_list(json_object_get(check, "paths"), x->id, "paths", &x->paths,
				   err)) ||
		    (rc = str_list(json_object_get(check, "exclude"), x->id, "exclude", &x->exclude,
				   err)))
			return rc;
		if (x->regex) {
			struct nsh_err why = NSH_ERR_INIT;
			regex_t re;

			if (nsh_regex_compile(&re, x->pattern, REG_NOSUB, &why))
				return nsh_err_set(
					err, NSH_EINVAL,
					"criterion '%s': invalid regular expression '%s': %s",
					x->id, x->pattern, why.msg);
			regfree(&re);
		}
	} else if (!strcmp(kind, "dependency")) {
		json_t *eco = json_object_get(check, "ecosystem");

		x->kind = NSH_VERIFY_CRIT_DEPENDENCY;
		if ((rc = need(check, x->id, "name", &x->name, err)) ||
		    (rc = need(check, x->id, "version", &x->version, err)))
			return rc;
		if (!constraint_valid(x->version))
			return nsh_err_set(err, NSH_EINVAL,
					   "criterion '%s': invalid version constraint '%s'", x->id,
					   x->version);
		if (json_is_string(eco)) {
			const char *e = json_string_value(eco);

			if (strcmp(e, "npm") && strcmp(e, "python") && strcmp(e, "go") &&
			    strcmp(e, "cargo"))
				return nsh_err_set(err, NSH_EINVAL,
						   "criterion '%s': unknown ecosystem '%s' (npm, "
						   "python, go, cargo)",
						   x->id, e);
			x->ecosystem = nsh_xstrdup(e);
		}
	} else {
		return nsh_err_set(err, NSH_EINVAL,
				   "criterion '%s': unknown check kind '%s' (no_new_failures, "
				   "command, tests, no_usages, dependency, judge, human)",
				   x->id, kind);
	}
	return 0;
}

int nsh_verify_criteria_parse(const json_t *j, struct nsh_verify_criteria *ret, struct nsh_err *err)
{
	size_t i;
	json_t *c;

	memset(ret, 0, sizeof(*ret));
	if (!json_is_array(j))
		return nsh_err_set(err, NSH_EINVAL, "acceptance criteria must be a list");
	if (json_array_size(j) > NSH_VERIFY_CRITERIA_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "more than %d acceptance criteria",
				   NSH_VERIFY_CRITERIA_MAX);
	json_array_foreach(j, i, c)
	{
		struct nsh_verify_criterion *x;
		int rc;

		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		x = &ret->v[ret->nr++];
		memset(x, 0, sizeof(*x));
		nsh_strvec_init(&x->argv);
		nsh_strvec_init(&x->paths);
		nsh_strvec_init(&x->exclude);
		if ((rc = one(c, i, x, err))) {
			nsh_verify_criteria_release(ret);
			return rc;
		}
	}
	return 0;
}

/* ---- deciding ---- */

static void set_check(struct nsh_verify_check *ret, const struct nsh_verify_criterion *c,
		      enum nsh_verify_status st, const char *evidence)
{
	ret->id = nsh_xasprintf("criterion:%s", c->id);
	ret->title = nsh_xasprintf("%s: %s", c->id, c->text);
	ret->status = st;
	ret->evidence = nsh_xstrdup(evidence);
}

static bool name_matches(const char *pattern, const char *name)
{
	if (strpbrk(pattern, "*?"))
		return nsh_vrf_glob(pattern, name);
	return strstr(name, pattern) != NULL;
}

static void decide_tests(const struct nsh_vrf_crit_ctx *ctx, const struct nsh_verify_criterion *c,
			 struct nsh_verify_check *ret)
{
	const struct nsh_test_report *r = &ctx->res->after.tests;
	size_t match = 0, failed = 0, skipped = 0;
	char *ev;

	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_test_result *t = &r->v[i];

		if (!name_matches(c->pattern, t->name))
			continue;
		match++;
		if (t->status == NSH_TEST_FAIL) {
			failed++;
			nsh_verify_findings_add(&ret->findings, NSH_VERIFY_KIND_CRITERION,
						NSH_VERIFY_ERROR, "test-failing", t->file, t->line,
						t->name, t->message);
		} else if (t->status != NSH_TEST_PASS) {
			skipped++;
			nsh_verify_findings_add(&ret->findings, NSH_VERIFY_KIND_CRITERION,
						NSH_VERIFY_ERROR, "test-not-run", t->file, t->line,
						t->name, "skipped");
		}
	}
	if (!match)
		ev = nsh_xasprintf("no test matches '%s'", c->pattern);
	else
		ev = nsh_xasprintf("%zu test%s match '%s': %zu passed, %zu failed, %zu skipped",
				   match, match == 1 ? "" : "s", c->pattern,
				   match - failed - skipped, failed, skipped);
	set_check(ret, c,
		  match && !failed && !skipped ? NSH_VERIFY_CHECK_PASS : NSH_VERIFY_CHECK_FAIL, ev);
	free(ev);
}

static void decide_no_new_failures(const struct nsh_vrf_crit_ctx *ctx,
				   const struct nsh_verify_criterion *c,
				   struct nsh_verify_check *ret)
{
	const struct nsh_verify_result *res = ctx->res;
	const struct nsh_test_report *r = &res->after.tests;
	char *ev;

	if (!res->tests_given && !nsh_verify_measure_step(&res->after, NSH_VERIFY_STEP_TEST)) {
		set_check(ret, c, NSH_VERIFY_CHECK_REVIEW, "no test command was found to run");
		return;
	}
	for (size_t i = 0; i < res->broken.nr; i++)
		nsh_verify_findings_add(&ret->findings, NSH_VERIFY_KIND_CRITERION, NSH_VERIFY_ERROR,
					res->has_baseline ? "newly-failing" : "failing", NULL, 0,
					res->broken.v[i], NULL);
	ev = nsh_xasprintf("%lld passed, %lld failed, %lld skipped; %s: %zu%s",
			   (long long)r->passed, (long long)r->failed, (long long)r->skipped,
			   res->has_baseline ? "newly failing" : "failing (no baseline)",
			   res->broken.nr, res->flaky.nr ? "; flaky tests passed on a re-run" : "");
	set_check(ret, c, res->broken.nr ? NSH_VERIFY_CHECK_FAIL : NSH_VERIFY_CHECK_PASS, ev);
	free(ev);
}

static int decide_command(const struct nsh_vrf_crit_ctx *ctx, const struct nsh_verify_criterion *c,
			  struct nsh_verify_check *ret, struct nsh_err *err)
{
	struct nsh_verify_exec e;
	struct nsh_err xerr = NSH_ERR_INIT;
	struct nsh_buf shown = NSH_BUF_INIT;
	int64_t timeout = c->timeout_ms				   ? c->timeout_ms
			  : ctx->limits && ctx->limits->timeout_ms ? ctx->limits->timeout_ms
								   : NSH_VERIFY_TIMEOUT_DEFAULT;
	char *ev = NULL, *ex;
	int rc;

	nsh_verify_exec_init(&e);
	nsh_vrf_quote_argv(&shown, (const char *const *)c->argv.v);
	rc = nsh_vrf_exec(ctx->runner, &c->argv, NULL, NULL, timeout, NSH_VERIFY_OUT_MAX_DEFAULT,
			  &e, &xerr);
	if (rc == NSH_ENOTFOUND || (!rc && nsh_vrf_exec_missing(&e))) {
		ev = nsh_xasprintf("`%s`: its program is not installed", shown.buf);
		set_check(ret, c, NSH_VERIFY_CHECK_MISSING, ev);
		rc = 0;
		goto out;
	}
	if (rc) {
		nsh_err_set(err, rc, "%s", xerr.msg);
		goto out;
	}
	ex = nsh_vrf_tail(e.err.len ? e.err.buf : e.out.buf, e.err.len ? e.err.len : e.out.len, 20,
			  NSH_VERIFY_EXCERPT_MAX);
	if (e.timed_out) {
		ev = nsh_xasprintf("`%s` was killed at its time limit", shown.buf);
		set_check(ret, c, NSH_VERIFY_CHECK_ERROR, ev);
	} else {
		ev = nsh_xasprintf("`%s` exited %d", shown.buf, e.exit_code);
		set_check(ret, c, e.exit_code == 0 ? NSH_VERIFY_CHECK_PASS : NSH_VERIFY_CHECK_FAIL,
			  ev);
	}
	if (e.exit_code != 0 || e.timed_out)
		nsh_verify_findings_add(&ret->findings, NSH_VERIFY_KIND_CRITERION, NSH_VERIFY_ERROR,
					"command-failed", NULL, 0, ev, ex);
	free(ex);
out:
	free(ev);
	nsh_buf_release(&shown);
	nsh_verify_exec_release(&e);
	return rc;
}

/* ---- no usages ---- */

struct usage_search {
	const struct nsh_verify_criterion *c;
	regex_t re;
	size_t hits, files, searched;
	struct nsh_verify_check *ret;
	struct nsh_buf file;
};

static bool wanted(const struct nsh_verify_criterion *c, const char *rel)
{
	bool in = c->paths.nr == 0;

	for (size_t k = 0; k < c->paths.nr && !in; k++) {
		const char *p = c->paths.v[k];

		in = strpbrk(p, "*?") ? nsh_vrf_glob(p, rel) : !strncmp(rel, p, strlen(p));
	}
	for (size_t k = 0; k < c->exclude.nr && in; k++) {
		const char *x = c->exclude.v[k];

		if (nsh_vrf_glob(x, rel) || nsh_vrf_glob(x, nsh_vrf_basename(rel)))
			in = false;
	}
	return in;
}

static void search_file(struct usage_search *s, const char *dir, const char *rel)
{
	bool hit_here = false;
	const char *t;
	size_t len, i = 0;
	int line = 0;

	if (!wanted(s->c, rel) || s->searched >= USAGE_FILES_MAX)
		return;
	nsh_buf_reset(&s->file);
	if (!nsh_vrf_read_fresh(dir, rel, 0, USAGE_FILE_MAX, &s->file) ||
	    memchr(s->file.buf, '\0', s->file.len < 8000 ? s->file.len : 8000))
		return; /* unreadable, a link, too big or binary */
	s->searched++;
	t = s->file.buf;
	len = s->file.len;
	while (i < len) {
		char *nl = memchr(t + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (t + i)) : len - i;
		bool hit;

		line++;
		if (s->c->regex) {
			if (nl)
				*nl = '\0';
			hit = !regexec(&s->re, t + i, 0, NULL, 0);
			if (nl)
				*nl = '\n';
		} else {
			hit = memmem(t + i, n, s->c->pattern, strlen(s->c->pattern)) != NULL;
		}
		if (hit) {
			size_t m = n;
			const char *x = nsh_vrf_trim(t + i, &m);
			char *ex = nsh_xmemdup(x, m > 200 ? 200 : m);

			s->hits++;
			hit_here = true;
			if (s->hits <= USAGE_FINDINGS)
				nsh_verify_findings_add(&s->ret->findings,
							NSH_VERIFY_KIND_CRITERION, NSH_VERIFY_ERROR,
							"usage-remains", rel, line, "usage remains",
							ex);
			free(ex);
		}
		i += n + (nl ? 1 : 0);
	}
	s->files += hit_here;
}

/* Every file of the checkout: tracked ones and untracked ones that are not ignored. */
static int list_files(const char *dir, struct nsh_buf *out, struct nsh_err *err)
{
	const char *args[] = {"ls-files", "-z", "--cached", "--others", "--exclude-standard", NULL};

	return nsh_vrf_git(dir, out, (size_t)64 << 20, err, args);
}

static int decide_no_usages(const struct nsh_vrf_crit_ctx *ctx,
			    const struct nsh_verify_criterion *c, struct nsh_verify_check *ret,
			    struct nsh_err *err)
{
	struct usage_search s = {.c = c, .ret = ret};
	struct nsh_buf list = NSH_BUF_INIT;
	struct nsh_err xerr = NSH_ERR_INIT;
	char *ev;

	nsh_buf_init(&list, (size_t)64 << 20);
	if (c->regex && nsh_regex_compile(&s.re, c->pattern, REG_NOSUB, &xerr))
		return nsh_err_set(err, NSH_EINVAL, "invalid regular expression '%s': %s",
				   c->pattern, xerr.msg);
	nsh_buf_init(&s.file, USAGE_FILE_MAX + 1);
	if (list_files(ctx->dir, &list, &xerr)) {
		ev = nsh_xasprintf("files could not be listed: %s", xerr.msg);
		set_check(ret, c, NSH_VERIFY_CHECK_ERROR, ev);
		free(ev);
		goto out;
	}
	for (size_t i = 0; i < list.len;) {
		const char *rel = list.buf + i;
		size_t n = strlen(rel);

		if (n)
			search_file(&s, ctx->dir, rel);
		i += n + 1;
	}
	if (s.hits)
		ev = nsh_xasprintf("%zu usage%s of '%s' in %zu file%s (of %zu searched)", s.hits,
				   s.hits == 1 ? "" : "s", c->pattern, s.files,
				   s.files == 1 ? "" : "s", s.searched);
	else
		ev = nsh_xasprintf("no usage of '%s' in %zu files searched", c->pattern,
				   s.searched);
	set_check(ret, c, s.hits ? NSH_VERIFY_CHECK_FAIL : NSH_VERIFY_CHECK_PASS, ev);
	free(ev);
out:
	if (c->regex)
		regfree(&s.re);
	nsh_buf_release(&s.file);
	nsh_buf_release(&list);
	return 0;
}

/* ---- dependency versions ---- */

static char *read_rel(const char *dir, const char *rel)
{
	struct nsh_buf b = NSH_BUF_INIT;

	if (!nsh_vrf_read_fresh(dir, rel, 0, MANIFEST_MAX, &b)) {
		nsh_buf_release(&b);
		return NULL;
	}
	return nsh_buf_detach(&b, NULL);
}

static char *json_version(const char *dir, const char *rel, const char *path1, const char *name,
			  const char *path2)
{
	char *text = read_rel(dir, rel);
	json_t *doc = NULL, *v;
	char *ret = NULL;

	if (!text)
		return NULL;
	if (!nsh_json_parse(text, strlen(text), &doc, NULL)) {
		v = json_object_get(doc, path1);
		if (name)
			v = json_object_get(v, name);
		if (path2)
			v = json_object_get(v, path2);
		if (json_is_string(v))
			ret = nsh_xstrdup(json_string_value(v));
	}
	json_decref(doc);
	free(text);
	return ret;
}

/* npm: installed, else package-lock.json, else yarn.lock; @where says which. */
static char *npm_version(const char *dir, const char *name, const char **where)
{
	char *rel = nsh_xasprintf("node_modules/%s/package.json", name);
	char *v = json_version(dir, rel, "version", NULL, NULL);
	char *key;

	free(rel);
	if (v) {
		*where = "node_modules";
		return v;
	}
	key = nsh_xasprintf("node_modules/%s", name);
	v = json_version(dir, "package-lock.json", "packages", key, "version");
	free(key);
	if (!v)
		v = json_version(dir, "package-lock.json", "dependencies", name, "version");
	if (v) {
		*where = "package-lock.json";
		return v;
	}
	{
		char *text = read_rel(dir, "yarn.lock");
		char *want = nsh_xasprintf("%s@", name);
		size_t wl = strlen(want);

		for (char *p = text; p && *p;) {
			char *nl = strchr(p, '\n');
			char *q = p + (*p == '"');

			if (*p != ' ' && !strncmp(q, want, wl)) {
				/* the block's "  version" line */
				for (char *l = nl ? nl + 1 : NULL; l && *l == ' ';) {
					char *e = strchr(l, '\n');
					char *t = l;

					while (*t == ' ')
						t++;
					if (!strncmp(t, "version ", 8)) {
						char *s = t + 8, *x;

						s += *s == '"';
						x = s;
						while (*x && *x != '"' && *x != '\n')
							x++;
						v = nsh_xmemdup(s, (size_t)(x - s));
						break;
					}
					l = e ? e + 1 : NULL;
				}
				if (v)
					break;
			}
			p = nl ? nl + 1 : NULL;
		}
		free(want);
		free(text);
		if (v)
			*where = "yarn.lock";
	}
	return v;
}

static bool same_py_name(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t k = 0; k < n; k++) {
		char x = nsh_vrf_lower(a[k] == '_' || a[k] == '.' ? '-' : a[k]);
		char y = nsh_vrf_lower(b[k] == '_' || b[k] == '.' ? '-' : b[k]);

		if (x != y)
			return false;
	}
	return true;
}

static char *python_version(const char *dir, const char *name, const char **where)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char *v = NULL;

	while (dh && !v && (e = readdir(dh))) {
		size_t n = strlen(e->d_name);
		char *text;

		if (strncmp(e->d_name, "requirements", 12) || n < 5 ||
		    strcmp(e->d_name + n - 4, ".txt"))
			continue;
		text = read_rel(dir, e->d_name);
		for (char *p = text; p && *p && !v;) {
			char *nl = strchr(p, '\n');
			char *eq = strstr(p, "==");
			size_t m;

			if (eq && (!nl || eq < nl)) {
				/* "name[extra] == 1.2.3": the name ends at '[', a space or "==" */
				m = strcspn(p, "[ =\t");
				if (p + m <= eq && same_py_name(p, m, name)) {
					char *s = eq + 2, *x;

					while (*s == ' ')
						s++;
					x = s;
					while (*x && *x != '\n' && *x != ' ' && *x != ';' &&
					       *x != '#' && *x != '\r')
						x++;
					v = nsh_xmemdup(s, (size_t)(x - s));
					*where = "requirements";
				}
			}
			p = nl ? nl + 1 : NULL;
		}
		free(text);
	}
	if (dh)
		closedir(dh);
	return v;
}

static char *go_version(const char *dir, const char *name, const char **where)
{
	char *text = read_rel(dir, "go.mod");
	size_t nl_ = strlen(name);
	char *v = NULL;

	for (char *p = text; p && *p && !v;) {
		char *nl = strchr(p, '\n');
		char *t = p;

		while (*t == ' ' || *t == '\t')
			t++;
		if (!strncmp(t, "require ", 8))
			t += 8;
		while (*t == ' ' || *t == '\t' || *t == '(')
			t++;
		if (!strncmp(t, name, nl_) && (t[nl_] == ' ' || t[nl_] == '\t')) {
			char *s = t + nl_, *x;

			while (*s == ' ' || *s == '\t')
				s++;
			s += *s == 'v';
			x = s;
			while (*x && *x != '\n' && *x != ' ' && *x != '\t')
				x++;
			v = nsh_xmemdup(s, (size_t)(x - s));
			*where = "go.mod";
		}
		p = nl ? nl + 1 : NULL;
	}
	free(text);
	return v;
}

static char *cargo_version(const char *dir, const char *name, const char **where)
{
	char *text = read_rel(dir, "Cargo.lock");
	char *want = nsh_xasprintf("name = \"%s\"", name);
	char *v = NULL;

	for (char *p = text ? strstr(text, want) : NULL; p && !v; p = strstr(p + 1, want)) {
		char *ver = strstr(p, "\nversion = \"");
		char *next = strstr(p + 1, "[[package]]");

		if (ver && (!next || ver < next)) {
			char *s = ver + 12, *x = strchr(s, '"');

			if (x)
				v = nsh_xmemdup(s, (size_t)(x - s));
			*where = "Cargo.lock";
		}
	}
	free(want);
	free(text);
	return v;
}

static void decide_dependency(const struct nsh_vrf_crit_ctx *ctx,
			      const struct nsh_verify_criterion *c, struct nsh_verify_check *ret)
{
	const char *where = NULL, *eco = c->ecosystem;
	char *v = NULL, *ev;

	if (!eco || !strcmp(eco, "npm"))
		v = npm_version(ctx->dir, c->name, &where);
	if (!v && (!eco || !strcmp(eco, "python")))
		v = python_version(ctx->dir, c->name, &where);
	if (!v && (!eco || !strcmp(eco, "go")))
		v = go_version(ctx->dir, c->name, &where);
	if (!v && (!eco || !strcmp(eco, "cargo")))
		v = cargo_version(ctx->dir, c->name, &where);
	if (!v) {
		char *declared =
			json_version(ctx->dir, "package.json", "dependencies", c->name, NULL);

		if (!declared)
			declared = json_version(ctx->dir, "package.json", "devDependencies",
						c->name, NULL);
		if (declared) {
			ev = nsh_xasprintf("'%s' is declared as '%s' but not resolved (no lockfile "
					   "entry, not installed)",
					   c->name, declared);
			set_check(ret, c, NSH_VERIFY_CHECK_REVIEW, ev);
			free(declared);
		} else {
			ev = nsh_xasprintf("'%s' is not a resolved dependency here", c->name);
			set_check(ret, c, NSH_VERIFY_CHECK_FAIL, ev);
		}
		free(ev);
		return;
	}
	ev = nsh_xasprintf("'%s' resolves to %s (%s); wanted '%s'", c->name, v, where, c->version);
	set_check(ret, c,
		  nsh_verify_version_satisfies(v, c->version) ? NSH_VERIFY_CHECK_PASS
							      : NSH_VERIFY_CHECK_FAIL,
		  ev);
	free(ev);
	free(v);
}

int nsh_vrf_decide_criterion(const struct nsh_vrf_crit_ctx *ctx,
			     const struct nsh_verify_criterion *c, struct nsh_verify_check *ret,
			     struct nsh_err *err)
{
	char *ev;

	switch (c->kind) {
	case NSH_VERIFY_CRIT_REVIEW:
		ev = nsh_xasprintf("no deterministic check: for %s",
				   c->reviewer && !strcmp(c->reviewer, "human") ? "a human"
										: "the LLM judge");
		set_check(ret, c, NSH_VERIFY_CHECK_REVIEW, ev);
		free(ev);
		return 0;
	case NSH_VERIFY_CRIT_NO_NEW_FAILURES:
		decide_no_new_failures(ctx, c, ret);
		return 0;
	case NSH_VERIFY_CRIT_COMMAND:
		return decide_command(ctx, c, ret, err);
	case NSH_VERIFY_CRIT_TESTS:
		decide_tests(ctx, c, ret);
		return 0;
	case NSH_VERIFY_CRIT_NO_USAGES:
		return decide_no_usages(ctx, c, ret, err);
	case NSH_VERIFY_CRIT_DEPENDENCY:
		decide_dependency(ctx, c, ret);
		return 0;
	}
	return nsh_err_set(err, NSH_EINVAL, "criterion '%s' has an unknown kind", c->id);
}
