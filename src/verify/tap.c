/*
 * TAP as `node --test --test-reporter=tap` writes it, read line by line:
 *
 *   # Subtest: billing               header of a test at this depth
 *       # Subtest: computes totals   (four spaces per level of nesting)
 *       not ok 2 - computes totals   test point: ok/not ok, number, name
 *         ---                        YAML diagnostics, two more spaces, keys
 *                                    lined up with "---"
 *         location: '/w/test/a.test.js:5:8'
 *         error: |-
 *           Expected values to be strictly equal:
 *         ...
 *       1..3                         plan of the suite
 *   not ok 1 - billing               the suite's own test point
 *   1..1                             top-level plan: the run finished
 *
 * A test point with test points nested under it (or "type: 'suite'") is a
 * suite and is not counted. Names take '\#' for '#', which otherwise starts
 * a directive (SKIP, TODO).
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define MAX_DEPTH 32

struct tap {
	struct nsh_test_report *r;
	char *header[MAX_DEPTH]; /* "# Subtest:" names by depth */
	int kids[MAX_DEPTH];	 /* test points seen under the pending test at each depth */
	long last;		 /* index in r->v of the last test point, or -1 */
	int last_depth;		 /* its depth */
	bool in_yaml;		 /* inside its diagnostics block */
	int yaml_indent;	 /* indentation of the block's keys (and of its "---") */
	bool want_error_line;	 /* "error: |-": the message is on the next line */
};

/* A copy of @p..@n with '\#' and '\\' unescaped and at most @cap bytes. */
static char *unescape(const char *p, size_t n, size_t cap)
{
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_buf_init(&b, cap);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n && (p[i + 1] == '#' || p[i + 1] == '\\'))
			i++;
		if (nsh_buf_addch(&b, p[i]) < 0)
			break;
	}
	return nsh_buf_detach(&b, NULL);
}

/* Trim spaces at both ends of p[0..*n). */
static const char *trim(const char *p, size_t *n)
{
	while (*n && (*p == ' ' || *p == '\t')) {
		p++;
		(*n)--;
	}
	while (*n && (p[*n - 1] == ' ' || p[*n - 1] == '\t' || p[*n - 1] == '\r'))
		(*n)--;
	return p;
}

/* The YAML scalar @p..@n without its quotes (single: '' is '); at most @cap bytes. */
static char *scalar(const char *p, size_t n, size_t cap)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char q = 0;

	p = trim(p, &n);
	if (n >= 2 && (p[0] == '\'' || p[0] == '"') && p[n - 1] == p[0]) {
		q = p[0];
		p++;
		n -= 2;
	}
	nsh_buf_init(&b, cap);
	for (size_t i = 0; i < n; i++) {
		if (q == '\'' && p[i] == '\'' && i + 1 < n && p[i + 1] == '\'')
			i++;
		else if (q == '"' && p[i] == '\\' && i + 1 < n)
			i++;
		if (nsh_buf_addch(&b, p[i]) < 0)
			break;
	}
	return nsh_buf_detach(&b, NULL);
}

/* "path:line:col" (or "path:line") into file and line. */
static void set_location(struct nsh_test_result *t, const char *loc)
{
	const char *c1 = strrchr(loc, ':');
	const char *c2 = NULL;
	char *end;
	long line;

	if (!c1)
		return;
	for (const char *p = c1 - 1; p > loc; p--) {
		if (*p == ':') {
			c2 = p;
			break;
		}
		if (*p < '0' || *p > '9')
			break;
	}
	if (c2) { /* path:line:col */
		line = strtol(c2 + 1, &end, 10);
		c1 = c2;
	} else {
		line = strtol(c1 + 1, &end, 10);
	}
	if (line <= 0 || line > 100000000)
		return;
	free(t->file);
	t->file = nsh_xmemdup(loc, (size_t)(c1 - loc));
	t->line = (int)line;
}

static void drop_last(struct tap *tp)
{
	struct nsh_test_result *t;

	if (tp->last < 0 || (size_t)tp->last != tp->r->nr - 1)
		return;
	t = &tp->r->v[--tp->r->nr];
	free(t->name);
	free(t->file);
	free(t->message);
	tp->last = -1;
}

static void diag_line(struct tap *tp, int indent, const char *p, size_t n)
{
	struct nsh_test_result *t = tp->last >= 0 ? &tp->r->v[tp->last] : NULL;
	const char *colon;

	if (n == 3 && !memcmp(p, "...", 3) && indent <= tp->yaml_indent) {
		tp->in_yaml = false;
		return;
	}
	if (tp->want_error_line && indent > tp->yaml_indent) {
		size_t m = n;
		const char *q = trim(p, &m);

		if (m && t && !t->message)
			t->message = scalar(q, m, NSH_VERIFY_MESSAGE_MAX);
		if (m)
			tp->want_error_line = false;
		return;
	}
	if (indent != tp->yaml_indent)
		return; /* a continuation line of a multi-line value */
	tp->want_error_line = false;
	colon = memchr(p, ':', n);
	if (!colon)
		return;
	if (colon - p == 4 && !memcmp(p, "type", 4)) {
		char *v = scalar(colon + 1, n - (size_t)(colon + 1 - p), 64);

		if (!strcmp(v, "suite"))
			drop_last(tp);
		free(v);
	} else if (t && colon - p == 8 && !memcmp(p, "location", 8)) {
		char *v = scalar(colon + 1, n - (size_t)(colon + 1 - p), 4096);

		set_location(t, v);
		free(v);
	} else if (t && colon - p == 5 && !memcmp(p, "error", 5)) {
		size_t m = n - (size_t)(colon + 1 - p);
		const char *v = trim(colon + 1, &m);

		if (m && (v[0] == '|' || v[0] == '>'))
			tp->want_error_line = true;
		else if (m && !t->message)
			t->message = scalar(v, m, NSH_VERIFY_MESSAGE_MAX);
	}
}

/* "ok 3 - name # SKIP why" at @depth. */
static void test_point(struct tap *tp, int depth, bool ok, const char *p, size_t n)
{
	struct nsh_test_report *r = tp->r;
	enum nsh_test_status status = ok ? NSH_TEST_PASS : NSH_TEST_FAIL;
	struct nsh_buf full = NSH_BUF_INIT;
	struct nsh_test_result *t;
	size_t name_end = n, i = 0;
	char *header, *name;
	bool suite;

	suite = tp->kids[depth] > 0;
	tp->kids[depth] = 0;
	/* the header names this test point only; a later one without a header uses its own name */
	header = tp->header[depth];
	tp->header[depth] = NULL;
	if (depth > 0)
		tp->kids[depth - 1]++;
	tp->in_yaml = false;
	tp->last = -1;
	tp->last_depth = depth;
	/* number, then " - " */
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	while (i < n && p[i] == ' ')
		i++;
	if (i < n && p[i] == '-') {
		i++;
		while (i < n && p[i] == ' ')
			i++;
	}
	/* an unescaped '#' starts the directive */
	for (size_t j = i; j < n; j++) {
		if (p[j] == '\\' && j + 1 < n) {
			j++;
			continue;
		}
		if (p[j] == '#') {
			size_t m = n - j - 1;
			const char *d = trim(p + j + 1, &m);

			if (m >= 4 && !strncasecmp(d, "skip", 4))
				status = NSH_TEST_SKIP;
			else if (m >= 4 && !strncasecmp(d, "todo", 4))
				status = NSH_TEST_TODO;
			name_end = j;
			break;
		}
	}
	if (suite || r->nr >= NSH_VERIFY_TESTS_MAX) {
		r->truncated |= !suite;
		free(header);
		return;
	}
	{
		size_t m = name_end - i;
		const char *q = trim(p + i, &m);

		name = header ? header : unescape(q, m, NSH_VERIFY_NAME_MAX);
	}
	nsh_buf_init(&full, NSH_VERIFY_NAME_MAX);
	for (int d = 0; d < depth; d++) {
		if (tp->header[d]) {
			nsh_buf_adds(&full, tp->header[d]);
			nsh_buf_adds(&full, " > ");
		}
	}
	nsh_buf_adds(&full, name);
	free(name);
	NSH_ALLOC_GROW(r->v, r->nr + 1, r->alloc);
	t = &r->v[r->nr];
	memset(t, 0, sizeof(*t));
	t->name = nsh_buf_detach(&full, NULL);
	t->status = status;
	tp->last = (long)r->nr++;
}

static void one_line(struct tap *tp, const char *p, size_t n)
{
	int indent = 0, depth;

	while ((size_t)indent < n && p[indent] == ' ')
		indent++;
	p += indent;
	n -= (size_t)indent;
	while (n && p[n - 1] == '\r')
		n--;
	if (tp->in_yaml) {
		diag_line(tp, indent, p, n);
		return;
	}
	depth = indent / 4;
	if (depth >= MAX_DEPTH)
		return;
	if (n >= 11 && !memcmp(p, "# Subtest: ", 11)) {
		size_t m = n - 11;
		const char *q = trim(p + 11, &m);

		free(tp->header[depth]);
		tp->header[depth] = unescape(q, m, NSH_VERIFY_NAME_MAX);
		for (int d = depth + 1; d < MAX_DEPTH; d++) {
			free(tp->header[d]);
			tp->header[d] = NULL;
			tp->kids[d] = 0;
		}
		tp->kids[depth] = 0;
	} else if (n >= 3 && !memcmp(p, "ok ", 3)) {
		test_point(tp, depth, true, p + 3, n - 3);
	} else if (n >= 7 && !memcmp(p, "not ok ", 7)) {
		test_point(tp, depth, false, p + 7, n - 7);
	} else if (n >= 3 && !memcmp(p, "---", 3) && tp->last_depth == depth) {
		tp->in_yaml = true;
		tp->yaml_indent = indent; /* the keys line up with "---" */
		tp->want_error_line = false;
	} else if (depth == 0 && n >= 3 && !memcmp(p, "1..", 3)) {
		tp->r->complete = true;
	}
}

void nsh_verify_parse_tap(const char *text, size_t len, struct nsh_test_report *ret)
{
	struct tap tp = {.r = ret, .last = -1};
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		one_line(&tp, text + i, n);
		i += n + (nl ? 1 : 0);
	}
	for (int d = 0; d < MAX_DEPTH; d++)
		free(tp.header[d]);
	ret->passed = ret->failed = ret->skipped = 0;
	for (size_t k = 0; k < ret->nr; k++) {
		switch (ret->v[k].status) {
		case NSH_TEST_PASS:
			ret->passed++;
			break;
		case NSH_TEST_FAIL:
			ret->failed++;
			break;
		case NSH_TEST_SKIP:
		case NSH_TEST_TODO:
			ret->skipped++;
			break;
		}
	}
}

void nsh_test_report_release(struct nsh_test_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nr; i++) {
		free(r->v[i].name);
		free(r->v[i].file);
		free(r->v[i].message);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

bool nsh_vrf_tap_coverage(const char *text, size_t len, double *ret_percent)
{
	/* "# all files | 81.25 | 50.00 | 75.00 |": the line column comes first */
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *p = text + i, *bar;

		i += n + (nl ? 1 : 0);
		if (n < 14 || memcmp(p, "# all files", 11))
			continue;
		bar = memchr(p, '|', n);
		if (bar && bar + 1 < p + n) {
			char num[32];
			size_t k = 0;
			const char *q = bar + 1;

			while (q < p + n && *q == ' ')
				q++;
			while (q < p + n && k < sizeof(num) - 1 &&
			       ((*q >= '0' && *q <= '9') || *q == '.'))
				num[k++] = *q++;
			num[k] = '\0';
			if (k) {
				*ret_percent = strtod(num, NULL);
				return true;
			}
		}
	}
	return false;
}
