/*
 * Compiled languages' test runners: `go test -json` events and cargo
 * test's text.
 *
 * go: one JSON event per line ({"Action", "Package", "Test", "Output"}).
 * A test ends with a pass, fail or skip action; its output lines
 * "    file_test.go:14: message" give the location, relative to the
 * package's directory (made relative to the module root with go.mod's
 * module path). A test with subtests is a parent, not a test. A package
 * that fails without a failing test (it did not build, it panicked in
 * init) is reported as a failing test named "<package> [package]"; plain
 * text lines "FAIL\t<package> [build failed]" likewise.
 *
 * cargo: "test NAME ... ok|FAILED|ignored", the "---- NAME stdout ----"
 * sections with "thread 'NAME' panicked at FILE:LINE:COL:" (or the older
 * "panicked at 'message', FILE:LINE:COL"), and "test result:" lines.
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#include "core/banned.h"

#define GO_PACKAGES_MAX 10000

struct go_test {
	char *pkg;
	char *name; /* NULL: the package itself */
	int status; /* -1 running, else enum nsh_test_status */
	char *file;
	int line;
	char *message;
};

struct go_state {
	struct go_test *v;
	size_t nr, alloc;
	const char *module;
};

static struct go_test *go_find(struct go_state *g, const char *pkg, const char *name)
{
	/* the last ones are the likeliest */
	for (size_t i = g->nr; i-- > 0;) {
		struct go_test *t = &g->v[i];

		if (!strcmp(t->pkg, pkg) &&
		    ((!name && !t->name) || (name && t->name && !strcmp(t->name, name))))
			return t;
	}
	if (g->nr >= NSH_VERIFY_TESTS_MAX + GO_PACKAGES_MAX)
		return NULL;
	NSH_ALLOC_GROW(g->v, g->nr + 1, g->alloc);
	memset(&g->v[g->nr], 0, sizeof(g->v[0]));
	g->v[g->nr].pkg = nsh_xstrdup(pkg);
	g->v[g->nr].name = name ? nsh_xstrdup(name) : NULL;
	g->v[g->nr].status = -1;
	return &g->v[g->nr++];
}

/* The directory of @pkg below the module root, "" for the root, NULL when unknown. */
static const char *go_dir(const char *module, const char *pkg)
{
	size_t m;

	if (!module)
		return NULL;
	m = strlen(module);
	if (!strncmp(pkg, module, m) && (pkg[m] == '/' || !pkg[m]))
		return pkg[m] ? pkg + m + 1 : "";
	return NULL;
}

/* "    calc_test.go:14: Add(1, 1) = 2, want 3" */
static void go_output(struct go_state *g, struct go_test *t, const char *out)
{
	size_t n = strlen(out);
	const char *p, *c;
	const char *dir;
	long line = 0;

	if (t->file || !t->name)
		return;
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		n--;
	p = nsh_vrf_trim(out, &n);
	c = memchr(p, ':', n);
	if (!c || c - p < 4 || memcmp(c - 3, ".go", 3) || memchr(p, ' ', (size_t)(c - p)))
		return;
	for (const char *d = c + 1; d < p + n && *d >= '0' && *d <= '9' && line < 100000000; d++)
		line = line * 10 + (*d - '0');
	if (!line)
		return;
	dir = go_dir(g->module, t->pkg);
	if (dir && *dir)
		t->file = nsh_xasprintf("%s/%.*s", dir, (int)(c - p), p);
	else
		t->file = nsh_xmemdup(p, (size_t)(c - p));
	t->line = (int)line;
	{
		const char *m = c + 1;

		while (m < p + n && *m != ':')
			m++;
		if (m < p + n) {
			size_t k = (size_t)(p + n - m - 1);
			const char *q = nsh_vrf_trim(m + 1, &k);

			if (k)
				t->message = nsh_xmemdup(
					q, k > NSH_VERIFY_MESSAGE_MAX ? NSH_VERIFY_MESSAGE_MAX : k);
		}
	}
}

static bool is_parent(const struct go_state *g, size_t i)
{
	const struct go_test *t = &g->v[i];
	size_t n = strlen(t->name);

	for (size_t k = 0; k < g->nr; k++) {
		const struct go_test *o = &g->v[k];

		if (k != i && o->name && !strcmp(o->pkg, t->pkg) && !strncmp(o->name, t->name, n) &&
		    o->name[n] == '/')
			return true;
	}
	return false;
}

void nsh_vrf_parse_go_json(const char *text, size_t len, const char *go_module,
			   struct nsh_test_report *ret)
{
	struct go_state g = {.module = go_module};
	size_t i = 0, pkgs = 0, ended = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *p = text + i;
		json_t *ev = NULL;

		i += n + (nl ? 1 : 0);
		if (n > 5 && !memcmp(p, "FAIL\t", 5) && memmem(p, n, " [", 2)) {
			/* "FAIL\tpkg [build failed]" outside the JSON */
			const char *b = memmem(p, n, " [", 2);
			char *pkg = nsh_xmemdup(p + 5, (size_t)(b - p - 5));
			struct go_test *t = go_find(&g, pkg, NULL);

			if (t) {
				const char *rb = memchr(b, ']', (size_t)(p + n - b));

				t->status = NSH_TEST_FAIL;
				free(t->message);
				t->message = nsh_xmemdup(b + 2, rb ? (size_t)(rb - b - 2) : 0);
			}
			free(pkg);
			continue;
		}
		if (!n || p[0] != '{' || nsh_json_parse_limits(p, n, 1 << 20, 8, &ev, NULL))
			continue;
		{
			const char *action = json_string_value(json_object_get(ev, "Action"));
			const char *pkg = json_string_value(json_object_get(ev, "Package"));
			const char *test = json_string_value(json_object_get(ev, "Test"));
			struct go_test *t;

			if (!action || !pkg || !(t = go_find(&g, pkg, test))) {
				json_decref(ev);
				continue;
			}
			if (!test && !strcmp(action, "start"))
				pkgs++;
			if (!strcmp(action, "output")) {
				const char *out = json_string_value(json_object_get(ev, "Output"));

				if (out)
					go_output(&g, t, out);
			} else if (!strcmp(action, "pass") || !strcmp(action, "fail") ||
				   !strcmp(action, "skip")) {
				t->status = action[0] == 'p'   ? NSH_TEST_PASS
					    : action[0] == 'f' ? NSH_TEST_FAIL
							       : NSH_TEST_SKIP;
				if (!test)
					ended++;
			}
		}
		json_decref(ev);
	}
	for (size_t k = 0; k < g.nr; k++) {
		struct go_test *t = &g.v[k];

		if (t->name) {
			char *name;

			if (t->status < 0 || is_parent(&g, k))
				continue;
			name = nsh_xasprintf("%s %s", t->pkg, t->name);
			nsh_test_report_add(ret, name, (enum nsh_test_status)t->status, t->file,
					    t->line,
					    t->status == NSH_TEST_FAIL ? t->message : NULL);
			free(name);
		} else if (t->status == NSH_TEST_FAIL) {
			/* a failing package: does it have a failing test of its own? */
			bool any = false;

			for (size_t j = 0; j < g.nr; j++)
				any |= g.v[j].name && g.v[j].status == NSH_TEST_FAIL &&
				       !strcmp(g.v[j].pkg, t->pkg);
			if (!any) {
				char *name = nsh_xasprintf("%s [package]", t->pkg);

				nsh_test_report_add(ret, name, NSH_TEST_FAIL, NULL, 0, t->message);
				free(name);
			}
		}
	}
	ret->complete = g.nr > 0 && ended >= pkgs;
	for (size_t k = 0; k < g.nr; k++) {
		free(g.v[k].pkg);
		free(g.v[k].name);
		free(g.v[k].file);
		free(g.v[k].message);
	}
	free(g.v);
	nsh_test_report_count(ret);
}

/* ---- cargo test ---- */

/* The index of the last test named p[0..n), or -1. */
static long find_test(const struct nsh_test_report *r, const char *p, size_t n)
{
	for (size_t i = r->nr; i-- > 0;)
		if (strlen(r->v[i].name) == n && !memcmp(r->v[i].name, p, n))
			return (long)i;
	return -1;
}

/* "src/lib.rs:16:9" at p: file and line. */
static bool rust_location(const char *p, size_t n, struct nsh_test_result *t)
{
	const char *c = memchr(p, ':', n);
	long line = 0;

	if (!c || c == p || memchr(p, ' ', (size_t)(c - p)))
		return false;
	for (const char *d = c + 1; d < p + n && *d >= '0' && *d <= '9' && line < 100000000; d++)
		line = line * 10 + (*d - '0');
	if (!line)
		return false;
	free(t->file);
	t->file = nsh_xmemdup(p, (size_t)(c - p));
	t->line = (int)line;
	return true;
}

void nsh_vrf_parse_cargo(const char *text, size_t len, struct nsh_test_report *ret)
{
	size_t i = 0, running = 0, results = 0;
	struct nsh_test_result *cur;
	long ci = -1; /* the test whose stdout section is being read (an index: adds move them) */
	bool want_message = false;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *p = text + i;

		i += n + (nl ? 1 : 0);
		while (n && p[n - 1] == '\r')
			n--;
		cur = ci >= 0 && (size_t)ci < ret->nr ? &ret->v[ci] : NULL;
		if (n > 8 && !memcmp(p, "running ", 8)) {
			running++;
			ci = -1;
		} else if (n > 13 && !memcmp(p, "test result: ", 13)) {
			results++;
			ci = -1;
		} else if (n > 5 && !memcmp(p, "test ", 5)) {
			const char *dots = memmem(p, n, " ... ", 5);
			const char *v;
			enum nsh_test_status st;
			size_t vn;

			/* "test ... ok": the " ... " overlaps "test " and the name would be -1
			 * bytes */
			if (!dots || dots < p + 5)
				continue;
			v = dots + 5;
			vn = (size_t)(p + n - v);
			if (vn >= 2 && !memcmp(v, "ok", 2))
				st = NSH_TEST_PASS;
			else if (vn >= 6 && !memcmp(v, "FAILED", 6))
				st = NSH_TEST_FAIL;
			else if (vn >= 7 && !memcmp(v, "ignored", 7))
				st = NSH_TEST_SKIP;
			else
				continue; /* "bench:" and the like */
			{
				char *name = nsh_xmemdup(p + 5, (size_t)(dots - p - 5));

				nsh_test_report_add(ret, name, st, NULL, 0, NULL);
				free(name);
			}
		} else if (n > 10 && !memcmp(p, "---- ", 5) && memmem(p, n, " stdout ----", 12)) {
			const char *e = memmem(p, n, " stdout ----", 12);

			ci = find_test(ret, p + 5, (size_t)(e - p - 5));
			want_message = false;
		} else if (cur && n > 7 && !memcmp(p, "thread ", 7) &&
			   memmem(p, n, "panicked at ", 12)) {
			const char *at = (const char *)memmem(p, n, "panicked at ", 12) + 12;
			size_t rest = (size_t)(p + n - at);

			if (rest && *at == '\'') {
				/* older: panicked at 'message', src/lib.rs:16:9 */
				const char *q = memmem(at, rest, "', ", 3);

				if (q) {
					if (!cur->message)
						cur->message = nsh_xmemdup(
							at + 1, (size_t)(q - at -
									 1) > NSH_VERIFY_MESSAGE_MAX
									? NSH_VERIFY_MESSAGE_MAX
									: (size_t)(q - at - 1));
					rust_location(q + 3, (size_t)(p + n - q - 3), cur);
				}
			} else {
				/* newer: panicked at src/lib.rs:16:9: then the message below */
				if (rest && at[rest - 1] == ':')
					rest--;
				rust_location(at, rest, cur);
				want_message = true;
			}
		} else if (cur && want_message && n) {
			if (!cur->message)
				cur->message = nsh_xmemdup(
					p, n > NSH_VERIFY_MESSAGE_MAX ? NSH_VERIFY_MESSAGE_MAX : n);
			want_message = false;
		}
	}
	ret->complete = running > 0 && results >= running;
	nsh_test_report_count(ret);
}
