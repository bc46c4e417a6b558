/*
 * go.mod: "require PATH VERSION" lines and "require ( ... )" blocks. A
 * "// indirect" comment marks a module the main module does not import
 * itself, which the analysis reports as transitive. Other directives
 * (module, go, toolchain, replace, exclude, retract, tool, godebug,
 * ignore) are recognised and skipped; anything else is an error, as it is
 * for the go command.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

#include "core/banned.h"

#define GOMOD_MAX_LINES 100000

static const char *const directives[] = {
	"module",  "go",   "toolchain", "require", "replace", "exclude",
	"retract", "tool", "godebug",	"ignore",  NULL,
};

/* Next white-space separated token of @s (quoted paths keep their quotes). */
static bool next_token(struct nsh_str *s, struct nsh_str *tok)
{
	size_t i = 0, b;

	while (i < s->len && (s->p[i] == ' ' || s->p[i] == '\t'))
		i++;
	if (i >= s->len)
		return false;
	b = i;
	if (s->p[i] == '"' || s->p[i] == '`') {
		char q = s->p[i++];

		while (i < s->len && s->p[i] != q) {
			if (q == '"' && s->p[i] == '\\' && i + 1 < s->len)
				i++;
			i++;
		}
		if (i < s->len)
			i++;
	} else {
		while (i < s->len && s->p[i] != ' ' && s->p[i] != '\t')
			i++;
	}
	*tok = nsh_str_make(s->p + b, i - b);
	*s = nsh_str_make(s->p + i, s->len - i);
	return true;
}

/* A module path token without its quotes; false for a broken quote. */
static bool unquote(struct nsh_str tok, struct nsh_str *ret)
{
	if (tok.len && (tok.p[0] == '"' || tok.p[0] == '`')) {
		if (tok.len < 2 || tok.p[tok.len - 1] != tok.p[0])
			return false;
		tok = nsh_str_make(tok.p + 1, tok.len - 2);
	}
	*ret = tok;
	return tok.len > 0;
}

/* Does module path @path name @dep, also with a major version suffix "/vN"? */
static bool same_module(struct nsh_str path, const char *dep)
{
	size_t n = strlen(dep), i;

	if (path.len < n || memcmp(path.p, dep, n))
		return false;
	if (path.len == n)
		return true;
	if (path.len < n + 3 || path.p[n] != '/' || path.p[n + 1] != 'v')
		return false;
	for (i = n + 2; i < path.len; i++)
		if (path.p[i] < '0' || path.p[i] > '9')
			return false;
	return true;
}

/* One "PATH VERSION" requirement (the "require" word already taken). */
static int require_spec(struct nsh_str rest, bool indirect, int line, const char *dep,
			struct nsh_analyze_decls *out, struct nsh_err *err)
{
	struct nsh_str tok, path, ver;
	char *p, *v;

	if (!next_token(&rest, &tok) || !unquote(tok, &path) || !next_token(&rest, &ver) ||
	    ver.p[0] != 'v' || next_token(&rest, &tok))
		return nsh_err_set(err, NSH_EINVAL, "line %d: expected 'require PATH VERSION'",
				   line);
	if (!same_module(path, dep))
		return 0;
	p = nsh_str_dup(path);
	v = nsh_str_dup(ver);
	nsh_analyze_decls_add(out, p, "dependencies", v, v, line);
	out->v[out->nr - 1].indirect = indirect;
	free(p);
	free(v);
	return 0;
}

int nsh_analyze_read_gomod(const char *text, size_t len, const char *dep,
			   struct nsh_analyze_decls *out, struct nsh_err *err)
{
	enum { TOP, REQUIRE_BLOCK, OTHER_BLOCK } state = TOP;
	size_t i = 0;
	int line = 0, block_line = 0;

	if (len > NSH_ANALYZE_MANIFEST_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "larger than %zu bytes",
				   NSH_ANALYZE_MANIFEST_MAX);
	if (memchr(text, '\0', len))
		return nsh_err_set(err, NSH_EINVAL, "NUL byte in a text file");
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len;
		struct nsh_str l = nsh_str_make(text + i, e - i), c, word;
		const char *slash;
		bool indirect = false;

		if (++line > GOMOD_MAX_LINES)
			return nsh_err_set(err, NSH_ETOOBIG, "more than %d lines", GOMOD_MAX_LINES);
		i = e + 1;
		slash = memmem(l.p, l.len, "//", 2);
		if (slash) {
			c = nsh_str_trim(
				nsh_str_make(slash + 2, l.len - (size_t)(slash + 2 - l.p)));
			indirect = nsh_str_eq_cstr(c, "indirect") ||
				   nsh_str_has_prefix(c, "indirect;");
			l.len = (size_t)(slash - l.p);
		}
		l = nsh_str_trim(l);
		if (!l.len)
			continue;
		if (state != TOP) {
			if (nsh_str_eq_cstr(l, ")")) {
				state = TOP;
				continue;
			}
			if (state == REQUIRE_BLOCK &&
			    require_spec(l, indirect, line, dep, out, err))
				return NSH_EINVAL;
			continue;
		}
		if (!next_token(&l, &word))
			continue;
		{
			bool known = false;

			for (size_t d = 0; directives[d]; d++)
				known = known || nsh_str_eq_cstr(word, directives[d]);
			if (!known)
				return nsh_err_set(err, NSH_EINVAL,
						   "line %d: unknown directive '%.*s'", line,
						   (int)(word.len > 40 ? 40 : word.len), word.p);
		}
		if (nsh_str_eq_cstr(nsh_str_trim(l), "(")) {
			state = nsh_str_eq_cstr(word, "require") ? REQUIRE_BLOCK : OTHER_BLOCK;
			block_line = line;
			continue;
		}
		if (nsh_str_eq_cstr(word, "require") &&
		    require_spec(l, indirect, line, dep, out, err))
			return NSH_EINVAL;
	}
	if (state != TOP)
		return nsh_err_set(err, NSH_EINVAL, "line %d: block not closed with ')'",
				   block_line);
	return 0;
}
