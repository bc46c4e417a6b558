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
 *   mvn          -Dtest=com.acme.ATest#adds,com.acme.BTest#sub* from the
 *                Surefire "classname.name", the class being the longest
 *                dotted prefix whose src/test/java/....java exists; a
 *                method name with parameters ("adds[1]", "adds()") is
 *                matched by its prefix and '*', anything else by the
 *                whole class
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
#include "core/below.h"
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
	char *p = cwd && *cwd ? nsh_xasprintf("%s/%s", cwd, rel) : nsh_xstrdup(rel);
	struct stat st;
	bool ok = !nsh_below_lstat(dir, p, &st) && S_ISREG(st.st_mode);

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

#define JAVA_TESTS "src/test/java/" /* Maven's test sources */

static bool java_ident(char ch)
{
	return nsh_vrf_alnum((unsigned char)ch) || ch == '_' || ch == '$';
}

/*
 * One Surefire pattern for the test "com.acme.ATest.adds" into @b, as
 * described at the top; false when no class file of src/test/java (below
 * the command's directory) names it.
 */
static bool maven_pattern(const char *dir, const struct nsh_verify_command *c, const char *name,
			  struct nsh_buf *b)
{
	const char *end = name + strcspn(name, "[("), *dot = NULL, *m;
	size_t n;

	for (const char *p = name; p < end; p++) {
		const char *cut;
		char *file;
		bool ok;

		if (*p != '.')
			continue;
		if (p == name || !java_ident(p[-1]))
			return false; /* "..", a leading dot, or something Surefire parses */
		/* the file of an inner class "Outer$Inner" is Outer.java */
		cut = memchr(name, '$', (size_t)(p - name));
		file = nsh_xasprintf("%s%.*s.java", JAVA_TESTS, (int)((cut ? cut : p) - name),
				     name);
		for (char *q = file + strlen(JAVA_TESTS); *q && strcmp(q, ".java"); q++)
			if (*q == '.')
				*q = '/';
		ok = is_file(dir, c->cwd, file);
		free(file);
		if (ok)
			dot = p;
	}
	if (!dot)
		return false;
	for (const char *p = name; p < dot; p++)
		if (!java_ident(*p) && *p != '.')
			return false;
	nsh_buf_reset(b);
	nsh_buf_add(b, name, (size_t)(dot - name));
	m = dot + 1;
	for (n = 0; java_ident(m[n]); n++)
		;
	if (n && (!m[n] || m[n] == '[' || m[n] == '(')) {
		nsh_buf_addch(b, '#');
		nsh_buf_add(b, m, n);
		if (m[n])
			nsh_buf_addch(b, '*');
	}
	return true;
}

/* mvn: one -Dtest with every test's pattern, and no failure where a module has none. */
static bool maven(const char *dir, const struct nsh_verify_command *c,
		  const struct nsh_strvec *names, struct nsh_strvec *sel)
{
	struct nsh_strvec pats = NSH_STRVEC_INIT;
	struct nsh_buf b = NSH_BUF_INIT, one = NSH_BUF_INIT;
	bool ok = true;

	nsh_buf_init(&b, SELECT_ARG_MAX);
	nsh_buf_adds(&b, "-Dtest=");
	for (size_t i = 0; i < names->nr && ok; i++) {
		ok = maven_pattern(dir, c, names->v[i], &one);
		if (!ok || nsh_strvec_find(&pats, one.buf) >= 0)
			continue;
		nsh_strvec_push(&pats, one.buf);
		ok = !(pats.nr > 1 && nsh_buf_addch(&b, ',')) && !nsh_buf_adds(&b, one.buf);
	}
	if (ok)
		nsh_strvec_pushl(sel, b.buf, "-Dsurefire.failIfNoSpecifiedTests=false", NULL);
	nsh_strvec_release(&pats);
	nsh_buf_release(&one);
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
	case NSH_VERIFY_SELECT_MAVEN:
		ok = maven(dir, c, names, &sel);
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
