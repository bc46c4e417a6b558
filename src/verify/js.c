/*
 * JavaScript test runners other than node --test: mocha's JSON and spec
 * reporters and jest's --json document. Locations come from the runner
 * (jest's --testLocationInResults) or from the first stack frame in the
 * test file (or, without one, the first frame outside the runner and
 * node_modules).
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

/* ---- stack frames ---- */

/* "at fn (path:line:col)" or "at path:line:col": the location of one frame line. */
static bool frame(const char *p, size_t n, const char **ret_path, size_t *ret_plen, int *ret_line)
{
	const char *lp, *e = p + n, *c1, *c2;
	long line = 0;

	p = nsh_vrf_trim(p, &n);
	e = p + n;
	if (n < 4 || memcmp(p, "at ", 3))
		return false;
	lp = memchr(p, '(', n);
	if (lp && e[-1] == ')') {
		p = lp + 1;
		e--;
	} else {
		p += 3;
	}
	/* path:line:col from the right */
	c2 = e;
	while (c2 > p && c2[-1] != ':')
		c2--;
	if (c2 <= p)
		return false;
	c1 = c2 - 1;
	while (c1 > p && c1[-1] != ':')
		c1--;
	if (c1 <= p)
		return false;
	for (const char *q = c1; q < c2 - 1; q++) {
		if (*q < '0' || *q > '9')
			return false;
		line = line * 10 + (*q - '0');
		if (line > 100000000)
			return false;
	}
	if (!line)
		return false;
	*ret_path = p;
	*ret_plen = (size_t)(c1 - 1 - p);
	*ret_line = (int)line;
	return true;
}

static bool runner_frame(const char *p, size_t n)
{
	return memmem(p, n, "node_modules", 12) || (n >= 5 && !memcmp(p, "node:", 5)) ||
	       memmem(p, n, "/mocha/", 7) || memmem(p, n, "internal/", 9) ||
	       memmem(p, n, "/jest-", 6);
}

/* Whether frame path f[0..n) names @file (absolute or relative forms of the same file). */
static bool same_file(const char *f, size_t n, const char *file)
{
	size_t m = strlen(file);

	if (n == m && !memcmp(f, file, n))
		return true;
	if (n < m && file[m - n - 1] == '/' && !memcmp(file + m - n, f, n))
		return true;
	return m < n && f[n - m - 1] == '/' && !memcmp(f + n - m, file, m);
}

/* The location in @stack within @file (may be NULL), else of the first frame of user code. */
static void stack_location(const char *stack, const char *file, char **ret_file, int *ret_line)
{
	const char *best = NULL;
	size_t best_len = 0;
	int best_line = 0;

	for (const char *p = stack; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *fp;
		size_t fl;
		int line;

		if (frame(p, n, &fp, &fl, &line)) {
			if (file && same_file(fp, fl, file)) {
				best = fp;
				best_len = fl;
				best_line = line;
				break;
			}
			if (!best && !runner_frame(fp, fl)) {
				best = fp;
				best_len = fl;
				best_line = line;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	if (best) {
		*ret_file = nsh_xmemdup(best, best_len);
		*ret_line = best_line;
	} else if (file) {
		*ret_file = nsh_xstrdup(file);
		*ret_line = 0;
	}
}

/* The first non-empty line of @s, trimmed; caller frees. NULL for none. */
static char *first_line(const char *s)
{
	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		const char *t = nsh_vrf_trim(s, &n);

		if (n)
			return nsh_xmemdup(t,
					   n > NSH_VERIFY_MESSAGE_MAX ? NSH_VERIFY_MESSAGE_MAX : n);
		s = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Parse the JSON document in text, skipping anything printed before its first '{'. */
static json_t *document(const char *text, size_t len, const char *key)
{
	json_t *j = NULL;
	size_t k = strlen(key);

	if (!nsh_json_parse_limits(text, len, NSH_VERIFY_REPORT_MAX, 64, &j, NULL))
		return j;
	/* console output before the document: start at the line that opens it */
	for (const char *p = text; p < text + len;) {
		const char *nl = memchr(p, '\n', (size_t)(text + len - p));

		if (*p == '{' && memmem(p, (size_t)(text + len - p), key, k)) {
			if (!nsh_json_parse_limits(p, (size_t)(text + len - p),
						   NSH_VERIFY_REPORT_MAX, 64, &j, NULL))
				return j;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return NULL;
}

/* ---- mocha --reporter json ---- */

static void mocha_list(json_t *doc, const char *key, enum nsh_test_status st,
		       struct nsh_test_report *r)
{
	json_t *list = json_object_get(doc, key), *t;
	size_t i;

	if (!json_is_array(list))
		return;
	json_array_foreach(list, i, t)
	{
		const char *name = json_string_value(json_object_get(t, "fullTitle"));
		const char *file = json_string_value(json_object_get(t, "file"));
		json_t *e = json_object_get(t, "err");
		char *loc = NULL, *msg = NULL;
		int line = 0;

		if (!name)
			continue;
		if (st == NSH_TEST_FAIL) {
			const char *stack = json_string_value(json_object_get(e, "stack"));
			const char *m = json_string_value(json_object_get(e, "message"));

			if (stack)
				stack_location(stack, file, &loc, &line);
			msg = first_line(m ? m : stack);
		}
		nsh_test_report_add(r, name, st, loc ? loc : file, line, msg);
		free(loc);
		free(msg);
	}
}

void nsh_vrf_parse_mocha_json(const char *text, size_t len, struct nsh_test_report *ret)
{
	json_t *doc = document(text, len, "\"stats\"");

	if (!doc)
		return;
	if (json_is_object(doc)) {
		mocha_list(doc, "passes", NSH_TEST_PASS, ret);
		mocha_list(doc, "failures", NSH_TEST_FAIL, ret);
		mocha_list(doc, "pending", NSH_TEST_SKIP, ret);
		ret->complete = json_is_object(json_object_get(doc, "stats"));
	}
	json_decref(doc);
	nsh_test_report_count(ret);
}

/* ---- jest --json ---- */

void nsh_vrf_parse_jest_json(const char *text, size_t len, struct nsh_test_report *ret)
{
	json_t *doc = document(text, len, "\"numTotalTests\""), *files, *f;
	size_t i;

	if (!doc)
		return;
	files = json_object_get(doc, "testResults");
	json_array_foreach(files, i, f)
	{
		const char *file = json_string_value(json_object_get(f, "name"));
		json_t *asserts = json_object_get(f, "assertionResults"), *a;
		size_t k;

		if (json_array_size(asserts) == 0) {
			/* a file that did not run (a syntax error): one failing test, its name */
			const char *st = json_string_value(json_object_get(f, "status"));
			const char *m = json_string_value(json_object_get(f, "message"));
			char *msg = first_line(m);

			if (file && st && !strcmp(st, "failed"))
				nsh_test_report_add(ret, file, NSH_TEST_FAIL, file, 0, msg);
			free(msg);
			continue;
		}
		json_array_foreach(asserts, k, a)
		{
			const char *name = json_string_value(json_object_get(a, "fullName"));
			const char *st = json_string_value(json_object_get(a, "status"));
			json_t *fm = json_array_get(json_object_get(a, "failureMessages"), 0);
			json_int_t line = json_integer_value(
				json_object_get(json_object_get(a, "location"), "line"));
			enum nsh_test_status status;
			char *loc = NULL, *msg = NULL;
			int l = 0;

			if (!name || !st)
				continue;
			if (!strcmp(st, "passed"))
				status = NSH_TEST_PASS;
			else if (!strcmp(st, "failed"))
				status = NSH_TEST_FAIL;
			else if (!strcmp(st, "todo"))
				status = NSH_TEST_TODO;
			else
				status = NSH_TEST_SKIP;
			if (status == NSH_TEST_FAIL && json_is_string(fm)) {
				stack_location(json_string_value(fm), file, &loc, &l);
				msg = first_line(json_string_value(fm));
			}
			if (line > 0 && line < 100000000) {
				l = (int)line;
				free(loc);
				loc = NULL;
			}
			nsh_test_report_add(ret, name, status, loc ? loc : file, l, msg);
			free(loc);
			free(msg);
		}
	}
	ret->complete = json_is_array(files) && json_object_get(doc, "numTotalTests");
	json_decref(doc);
	nsh_test_report_count(ret);
}

/* ---- mocha's spec reporter ---- */

#define SPEC_DEPTH 32

struct spec_fail {
	long number;
	size_t index; /* in the report */
};

static size_t indent_of(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] == ' ')
		i++;
	return i;
}

/* "N) " at p: the number, and where the text after it starts; 0 when not. */
static long numbered(const char *p, size_t n, size_t *ret_after)
{
	size_t i = 0;
	long v = 0;

	while (i < n && i < 9 && p[i] >= '0' && p[i] <= '9')
		v = v * 10 + (p[i++] - '0');
	if (!i || i + 1 >= n || p[i] != ')' || p[i + 1] != ' ')
		return 0;
	*ret_after = i + 2;
	return v;
}

/* The pass markers mocha prints; "undefined" is what a broken log-symbols module prints. */
static size_t pass_marker(const char *p, size_t n)
{
	static const char *const marks[] = {"\xe2\x9c\x93 ", "\xe2\x9c\x94 ", "\xe2\x88\x9a ",
					    "undefined ", NULL};

	for (int k = 0; marks[k]; k++) {
		size_t m = strlen(marks[k]);

		if (n > m && !memcmp(p, marks[k], m))
			return m;
	}
	return 0;
}

/* The name without a trailing " (12ms)". */
static size_t without_time(const char *p, size_t n)
{
	if (n > 4 && p[n - 1] == ')' && n >= 3 && p[n - 2] == 's' && p[n - 3] == 'm') {
		const char *lp = NULL;

		for (size_t k = n; k-- > 0;)
			if (p[k] == '(') {
				lp = p + k;
				break;
			}
		if (lp && lp > p && lp[-1] == ' ')
			return (size_t)(lp - 1 - p);
	}
	return n;
}

void nsh_vrf_parse_mocha_spec(const char *text, size_t len, struct nsh_test_report *ret)
{
	char *suite[SPEC_DEPTH] = {0};
	struct spec_fail *fails = NULL;
	size_t nfails = 0, fails_alloc = 0, i = 0;
	bool summary = false;
	long detail = 0;      /* the failure whose details are being read */
	int detail_state = 0; /* 1: title lines, 2: message, 3: stack */
	struct nsh_buf name = NSH_BUF_INIT;

	nsh_buf_init(&name, NSH_VERIFY_NAME_MAX);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *p = text + i;
		size_t ind, after, m;
		long num;

		i += n + (nl ? 1 : 0);
		while (n && p[n - 1] == '\r')
			n--;
		ind = indent_of(p, n);
		if (ind == n)
			continue;
		if (!summary) {
			size_t depth = ind / 2, k;
			enum nsh_test_status st;
			const char *t = p + ind;

			m = n - ind;
			if (m > 8 && t[0] >= '0' && t[0] <= '9' &&
			    (memmem(t, m, " passing", 8) || memmem(t, m, " failing", 8))) {
				summary = true;
				ret->complete = true;
				continue;
			}
			if (ind < 2 || ind % 2 || depth > SPEC_DEPTH)
				continue;
			depth--;
			if ((k = pass_marker(t, m))) {
				st = NSH_TEST_PASS;
			} else if ((num = numbered(t, m, &after))) {
				st = NSH_TEST_FAIL;
				k = after;
			} else if (m > 2 && t[0] == '-' && t[1] == ' ') {
				st = NSH_TEST_SKIP;
				k = 2;
			} else {
				if (depth < SPEC_DEPTH) {
					free(suite[depth]);
					suite[depth] = nsh_xmemdup(t, m);
					for (size_t d = depth + 1; d < SPEC_DEPTH; d++) {
						free(suite[d]);
						suite[d] = NULL;
					}
				}
				continue;
			}
			nsh_buf_reset(&name);
			for (size_t d = 0; d < depth && d < SPEC_DEPTH; d++) {
				if (suite[d]) {
					nsh_buf_adds(&name, suite[d]);
					nsh_buf_addch(&name, ' ');
				}
			}
			nsh_buf_add(&name, t + k, without_time(t + k, m - k));
			if (st == NSH_TEST_FAIL) {
				NSH_ALLOC_GROW(fails, nfails + 1, fails_alloc);
				fails[nfails].number = num;
				fails[nfails++].index = ret->nr;
			}
			nsh_test_report_add(ret, name.buf, st, NULL, 0, NULL);
			continue;
		}
		/* the failure details after the summary */
		if (ind == 2 && (num = numbered(p + 2, n - 2, &after))) {
			detail = num;
			detail_state = p[n - 1] == ':' ? 2 : 1;
			continue;
		}
		if (!detail)
			continue;
		for (size_t k = 0; k < nfails; k++) {
			struct nsh_test_result *t;
			const char *fp;
			size_t fl;
			int line;

			if (fails[k].number != detail || fails[k].index >= ret->nr)
				continue;
			t = &ret->v[fails[k].index];
			if (detail_state == 1) {
				if (p[n - 1] == ':')
					detail_state = 2;
			} else if (detail_state == 2) {
				size_t mm = n - ind;

				if (!t->message)
					t->message = nsh_xmemdup(p + ind,
								 mm > NSH_VERIFY_MESSAGE_MAX
									 ? NSH_VERIFY_MESSAGE_MAX
									 : mm);
				detail_state = 3;
			} else if (detail_state == 3 && !t->file && frame(p, n, &fp, &fl, &line) &&
				   !runner_frame(fp, fl)) {
				t->file = nsh_xmemdup(fp, fl);
				t->line = line;
			}
			break;
		}
	}
	for (int d = 0; d < SPEC_DEPTH; d++)
		free(suite[d]);
	free(fails);
	nsh_buf_release(&name);
	nsh_test_report_count(ret);
}
