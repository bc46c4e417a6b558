/*
 * Narrowing a test command to some of its tests, for the re-run that
 * tells flaky from broken: each runner's own way to name tests, built
 * from the names its output gave them.
 *
 *   node --test  one --test-name-pattern per test: "^leaf$" (node 20
 *                matches a test's own name) and "^suite leaf$" (later
 *                versions match the full name); patterns add up
 *   jest         -t "^(?:full name|...)$" (jest matches the full name,
 *                describe blocks and test joined by spaces)
 *   mocha        --grep "^(?:full title|...)$"
 *   pytest       node ids, "tests/test_a.py::TestGroup::test_x[1]", from
 *                the JUnit "classname.name" and the module file that
 *                exists in the checkout
 *   go test      -run "^TestA$/^sub$|^TestB$" (alternatives at the top,
 *                one anchored pattern per level) and the packages the
 *                tests are in, in place of "./..."
 *
 * Selection may run a little more than asked (a same-named test in
 * another suite), never less. A name the selection cannot express, or
 * more than SELECT_MAX of them, leaves the command whole.
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define SELECT_MAX	200		    /* tests named one by one */
#define SELECT_ARG_MAX	((size_t)64 << 10)  /* bytes of one selecting argument */
#define SELECT_ARGS_MAX ((size_t)512 << 10) /* bytes of every selecting argument */

/*
 * Append p[0..n) to @b as a regex that matches it, without a backslash or
 * a quote: npm, yarn and pnpm put the arguments of "run" into a shell
 * line, and pnpm doubles backslashes on the way. A character that means
 * something in a regex goes in a class ("[(]"); a backslash, a closing
 * bracket, a quote or a control character becomes '.' (matching a little
 * more, never less).
 */
static int add_quoted(struct nsh_buf *b, const char *p, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '^')
			rc = nsh_buf_adds(b, "[$^]");
		else if (c && strchr(".$|?*+()[{}", c))
			rc = nsh_buf_addf(b, "[%c]", c);
		else if (c < 0x20 || c == 0x7f || (c && strchr("\\]'\"`", c)))
			rc = nsh_buf_addch(b, '.');
		else
			rc = nsh_buf_addch(b, (char)c);
	}
	return rc;
}

/* "^(?:a|b|...)$" over @names into @b; NSH_ETOOBIG past its cap. */
static int alternation(struct nsh_buf *b, const struct nsh_strvec *names)
{
	int rc = nsh_buf_adds(b, "^(?:");

	for (size_t i = 0; i < names->nr && !rc; i++) {
		if (i)
			rc = nsh_buf_addch(b, '|');
		if (!rc)
			rc = add_quoted(b, names->v[i], strlen(names->v[i]));
	}
	return rc ? rc : nsh_buf_adds(b, ")$");
}

/* Whether a name can be put on a command line as one argument of a pattern. */
static bool plain_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			return false;
	return true;
}

static bool node_test(const struct nsh_strvec *names, struct nsh_strvec *sel)
{
	struct nsh_buf b = NSH_BUF_INIT;
	bool ok = true;

	nsh_buf_init(&b, SELECT_ARG_MAX);
	for (size_t i = 0; i < names->nr && ok; i++) {
		const char *name = names->v[i], *leaf = name;

		for (const char *p = strstr(name, " > "); p; p = strstr(p + 1, " > "))
			leaf = p + 3;
		nsh_buf_reset(&b);
		ok = !nsh_buf_adds(&b, "--test-name-pattern=^") &&
		     !add_quoted(&b, leaf, strlen(leaf)) && !nsh_buf_addch(&b, '$');
		if (ok)
			nsh_strvec_push(sel, b.buf);
		if (ok && leaf != name) {
			/* the full name as later versions of node match it: joined by spaces */
			nsh_buf_reset(&b);
			ok = !nsh_buf_adds(&b, "--test-name-pattern=^");
			for (const char *p = name; ok && *p;) {
				const char *q = strstr(p, " > ");
				size_t n = q ? (size_t)(q - p) : strlen(p);

				ok = !add_quoted(&b, p, n) && (!q || !nsh_buf_addch(&b, ' '));
				p += n + (q ? 3 : 0);
			}
			ok = ok && !nsh_buf_addch(&b, '$');
			if (ok)
				nsh_strvec_push(sel, b.buf);
		}
	}
	nsh_buf_release(&b);
	return ok;
}

static bool one_pattern(const char *flag, const struct nsh_strvec *names, struct nsh_strvec *sel)
{
	struct nsh_buf b = NSH_BUF_INIT;
	bool ok;

	nsh_buf_init(&b, SELECT_ARG_MAX);
	ok = !alternation(&b, names);
	if (ok)
		nsh_strvec_pushl(sel, flag, b.buf, NULL);
	nsh_buf_release(&b);
	return ok;
}

/* Whether @rel (relative to the command's directory) is a regular file. */
static bool is_file(const char *dir, const char *cwd, const char *rel)
{
	char *p = cwd && *cwd ? nsh_xasprintf("%s/%s/%s", dir, cwd, rel)
			      : nsh_xasprintf("%s/%s", dir, rel);
	struct stat st;
	bool ok = !stat(p, &st) && S_ISREG(st.st_mode);

	free(p);
	return ok;
}

/*
 * A pytest node id for the JUnit name "a.b.test_mod.Class.test_x[p.1]":
 * the longest dotted prefix that is a module file of the checkout, then
 * "::" between the class and test names; the parameters in brackets are
 * kept as they are. NULL when no prefix is a file.
 */
static char *pytest_id(const char *dir, const char *cwd, const char *name)
{
	const char *bracket = strchr(name, '['), *end = bracket ? bracket : name + strlen(name);
	struct nsh_buf b = NSH_BUF_INIT;
	char *mod = NULL, *id = NULL;
	const char *rest = NULL;

	for (const char *p = name; p < end; p++) {
		char *cand;

		if (*p != '.')
			continue;
		cand = nsh_xasprintf("%.*s.py", (int)(p - name), name);
		for (char *q = cand; q < cand + (p - name); q++)
			if (*q == '.')
				*q = '/';
		if (strstr(cand, "..") || cand[0] == '/' || !is_file(dir, cwd, cand)) {
			free(cand);
			continue;
		}
		free(mod);
		mod = cand;
		rest = p + 1;
	}
	if (!mod || rest >= end)
		goto out;
	nsh_buf_init(&b, SELECT_ARG_MAX);
	nsh_buf_adds(&b, mod);
	nsh_buf_adds(&b, "::");
	for (const char *p = rest; *p; p++) {
		if (p < end && *p == '.')
			nsh_buf_adds(&b, "::");
		else
			nsh_buf_addch(&b, *p);
	}
	id = nsh_buf_detach(&b, NULL);
out:
	free(mod);
	return id;
}

static bool pytest(const char *dir, const struct nsh_verify_command *c,
		   const struct nsh_strvec *names, struct nsh_strvec *sel)
{
	for (size_t i = 0; i < names->nr; i++) {
		char *id = pytest_id(dir, c->cwd, names->v[i]);

		if (!id)
			return false;
		nsh_strvec_push(sel, id);
		free(id);
	}
	return true;
}

/* go test: "-run" and its pattern, then the packages, from "pkg Test/sub" names. */
static bool go_test(const struct nsh_strvec *names, struct nsh_strvec *sel)
{
	struct nsh_strvec pkgs = NSH_STRVEC_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	bool ok = true;

	nsh_buf_init(&b, SELECT_ARG_MAX);
	for (size_t i = 0; i < names->nr && ok; i++) {
		const char *sp = strchr(names->v[i], ' '), *t;
		char *pkg;

		if (!sp || sp == names->v[i] || names->v[i][0] == '-' || !sp[1]) {
			ok = false;
			break;
		}
		pkg = nsh_xmemdup(names->v[i], (size_t)(sp - names->v[i]));
		/* an import path, nothing go test would take for something else */
		for (const char *q = pkg; *q && ok; q++)
			ok = nsh_vrf_alnum((unsigned char)*q) || strchr("._~/-", *q);
		if (!ok) {
			free(pkg);
			break;
		}
		if (nsh_strvec_find(&pkgs, pkg) < 0)
			nsh_strvec_push(&pkgs, pkg);
		free(pkg);
		if (i)
			ok = !nsh_buf_addch(&b, '|');
		/* one anchored pattern per level of "Test/sub/subsub" */
		for (t = sp + 1; ok;) {
			const char *slash = strchr(t, '/');
			size_t n = slash ? (size_t)(slash - t) : strlen(t);

			ok = n > 0 && !nsh_buf_addch(&b, '^') && !add_quoted(&b, t, n) &&
			     !nsh_buf_addch(&b, '$');
			if (!slash)
				break;
			ok = ok && !nsh_buf_addch(&b, '/');
			t = slash + 1;
		}
	}
	if (ok) {
		nsh_strvec_pushl(sel, "-run", b.buf, NULL);
		for (size_t i = 0; i < pkgs.nr; i++)
			nsh_strvec_push(sel, pkgs.v[i]);
	}
	nsh_strvec_release(&pkgs);
	nsh_buf_release(&b);
	return ok;
}

/* @argv with the selection: in place of "./..." (go), else appended. */
static bool apply(const struct nsh_verify_command *c, const struct nsh_strvec *argv,
		  const struct nsh_strvec *sel, struct nsh_strvec *ret)
{
	bool placed = false;

	nsh_strvec_init(ret);
	for (size_t i = 0; i < argv->nr; i++) {
		if (c->select == NSH_VERIFY_SELECT_GO && !placed && !strcmp(argv->v[i], "./...")) {
			for (size_t k = 0; k < sel->nr; k++)
				nsh_strvec_push(ret, sel->v[k]);
			placed = true;
			continue;
		}
		nsh_strvec_push(ret, argv->v[i]);
	}
	if (c->select != NSH_VERIFY_SELECT_GO) {
		if (c->select_sep)
			nsh_strvec_push(ret, "--");
		for (size_t k = 0; k < sel->nr; k++)
			nsh_strvec_push(ret, sel->v[k]);
		placed = true;
	}
	if (!placed)
		nsh_strvec_release(ret);
	return placed;
}

bool nsh_vrf_narrow(const char *dir, const struct nsh_verify_command *c,
		    const struct nsh_strvec *names, struct nsh_strvec *ret_argv,
		    struct nsh_strvec *ret_alt)
{
	struct nsh_strvec sel = NSH_STRVEC_INIT, argv, alt = NSH_STRVEC_INIT;
	size_t bytes = 0;
	bool ok;

	if (!names->nr || names->nr > SELECT_MAX)
		return false;
	for (size_t i = 0; i < names->nr; i++)
		if (!plain_name(names->v[i]))
			return false;
	switch (c->select) {
	case NSH_VERIFY_SELECT_NODE_TEST:
		ok = node_test(names, &sel);
		break;
	case NSH_VERIFY_SELECT_JEST:
		ok = one_pattern("-t", names, &sel);
		break;
	case NSH_VERIFY_SELECT_MOCHA:
		ok = one_pattern("--grep", names, &sel);
		break;
	case NSH_VERIFY_SELECT_PYTEST:
		ok = pytest(dir, c, names, &sel);
		break;
	case NSH_VERIFY_SELECT_GO:
		ok = go_test(names, &sel);
		break;
	case NSH_VERIFY_SELECT_NONE:
	default:
		ok = false;
		break;
	}
	for (size_t i = 0; ok && i < sel.nr; i++)
		bytes += strlen(sel.v[i]) + 1;
	ok = ok && bytes <= SELECT_ARGS_MAX && apply(c, &c->argv, &sel, &argv);
	if (ok && c->alt.nr && !apply(c, &c->alt, &sel, &alt)) {
		nsh_strvec_release(&argv);
		ok = false;
	}
	nsh_strvec_release(&sel);
	if (!ok)
		return false;
	*ret_argv = argv;
	*ret_alt = alt;
	return true;
}
