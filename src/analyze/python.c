/*
 * Python manifests: requirements*.txt (one PEP 508 requirement per line,
 * pip options, comments, backslash continuations) and pyproject.toml (PEP
 * 621 [project], PEP 735 [dependency-groups], [build-system] and Poetry's
 * [tool.poetry] tables). Names compare after PEP 503 normalisation, so
 * "Flask_Login" finds "flask-login".
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#include "core/banned.h"

#define REQ_MAX_LINES 100000

char *nsh_analyze_pep503(const char *name, size_t len)
{
	struct nsh_buf b = NSH_BUF_INIT;

	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '-' || c == '_' || c == '.') {
			if (!b.len || b.buf[b.len - 1] != '-')
				nsh_buf_addch(&b, '-');
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		nsh_buf_addch(&b, c);
	}
	return nsh_buf_detach(&b, NULL);
}

static bool is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/*
 * Split a PEP 508 requirement into its name and its version specifier
 * (without parentheses, extras and markers; "@ URL" for direct
 * references). False when it does not start with a name.
 */
static bool pep508(struct nsh_str s, struct nsh_str *ret_name, struct nsh_str *ret_spec)
{
	size_t i = 0, b;
	struct nsh_str spec;

	s = nsh_str_trim(s);
	while (i < s.len && is_name_char(s.p[i]))
		i++;
	if (!i)
		return false;
	*ret_name = nsh_str_make(s.p, i);
	while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t'))
		i++;
	if (i < s.len && s.p[i] == '[') {
		while (i < s.len && s.p[i] != ']')
			i++;
		if (i >= s.len)
			return false;
		i++;
	}
	b = i;
	while (i < s.len && s.p[i] != ';')
		i++;
	spec = nsh_str_trim(nsh_str_make(s.p + b, i - b));
	if (spec.len >= 2 && spec.p[0] == '(' && spec.p[spec.len - 1] == ')')
		spec = nsh_str_trim(nsh_str_make(spec.p + 1, spec.len - 2));
	if (spec.len && !strchr("<>=!~@", spec.p[0]))
		return false; /* something after the name that is no specifier */
	*ret_spec = spec;
	return true;
}

/* The version an exact specifier pins ("==1.2.3", "===1.2.3"); NULL otherwise. */
static char *pinned(struct nsh_str spec)
{
	size_t i = 0;
	struct nsh_str v;

	if (nsh_str_has_prefix(spec, "==="))
		i = 3;
	else if (nsh_str_has_prefix(spec, "=="))
		i = 2;
	else
		return NULL;
	v = nsh_str_trim(nsh_str_make(spec.p + i, spec.len - i));
	if (!v.len || memchr(v.p, ',', v.len) || memchr(v.p, '*', v.len) || memchr(v.p, ' ', v.len))
		return NULL;
	return nsh_str_dup(v);
}

/* Compare a name as written against the normalised dependency name. */
static bool same_name(struct nsh_str name, const char *norm_dep)
{
	char *n = nsh_analyze_pep503(name.p, name.len);
	bool same = !strcmp(n, norm_dep);

	free(n);
	return same;
}

/* Record one PEP 508 string when it names the dependency. */
static void take_requirement(struct nsh_str req, const char *norm_dep, const char *kind, int line,
			     struct nsh_analyze_decls *out)
{
	struct nsh_str name, spec;
	char *n, *sp, *pin;

	if (!pep508(req, &name, &spec) || !same_name(name, norm_dep))
		return;
	n = nsh_str_dup(name);
	sp = spec.len ? nsh_str_dup(spec) : NULL;
	pin = pinned(spec);
	nsh_analyze_decls_add(out, n, kind, sp, pin, line);
	free(n);
	free(sp);
	free(pin);
}

/* The argument of an option line "-r file" / "--requirement=file". */
static struct nsh_str option_arg(struct nsh_str line)
{
	size_t i = 0;

	while (i < line.len && line.p[i] != ' ' && line.p[i] != '\t' && line.p[i] != '=')
		i++;
	return nsh_str_trim(
		nsh_str_make(line.p + i + (i < line.len), line.len - i - (i < line.len)));
}

/* Handle one logical line (continuations joined, comment removed). */
static void requirement_line(struct nsh_str l, int lineno, const char *norm_dep, const char *kind,
			     struct nsh_analyze_decls *out)
{
	const char *opt;

	l = nsh_str_trim(l);
	if (!l.len)
		return;
	if (l.p[0] == '-') {
		if (nsh_str_has_prefix(l, "-r") || nsh_str_has_prefix(l, "--requirement") ||
		    nsh_str_has_prefix(l, "-c") || nsh_str_has_prefix(l, "--constraint")) {
			struct nsh_str arg = option_arg(l);

			nsh_strvec_pushf(&out->notes, "line %d: includes '%.*s' (not followed)",
					 lineno, (int)(arg.len > 200 ? 200 : arg.len), arg.p);
		}
		return; /* other pip options, editable installs */
	}
	if (l.p[0] == '.' || l.p[0] == '/')
		return; /* a local path */
	/* per-requirement options ("--hash=...") follow the requirement */
	opt = memmem(l.p, l.len, " --", 3);
	if (!opt)
		opt = memmem(l.p, l.len, "\t--", 3);
	if (opt)
		l = nsh_str_trim(nsh_str_make(l.p, (size_t)(opt - l.p)));
	{
		struct nsh_str name, spec;

		if (!pep508(l, &name, &spec)) {
			if (memmem(l.p, l.len, "://", 3))
				return; /* a URL ("git+https://..."), not a name */
			nsh_strvec_pushf(&out->warnings, "line %d: cannot read requirement '%.*s'",
					 lineno, (int)(l.len > 80 ? 80 : l.len), l.p);
			return;
		}
	}
	take_requirement(l, norm_dep, kind, lineno, out);
}

int nsh_analyze_read_requirements(const char *text, size_t len, const char *dep, bool dev,
				  struct nsh_analyze_decls *out, struct nsh_err *err)
{
	char *norm = nsh_analyze_pep503(dep, strlen(dep));
	struct nsh_buf logical = NSH_BUF_INIT;
	const char *kind = dev ? "dev" : "dependencies";
	size_t i = 0;
	int line = 0, start = 0, rc = 0;

	if (len > NSH_ANALYZE_MANIFEST_MAX) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "larger than %zu bytes",
				 NSH_ANALYZE_MANIFEST_MAX);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		rc = nsh_err_set(err, NSH_EINVAL, "NUL byte in a text file");
		goto out;
	}
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len;
		struct nsh_str l = nsh_str_make(text + i, e - i);
		const char *hash;

		if (++line > REQ_MAX_LINES) {
			rc = nsh_err_set(err, NSH_ETOOBIG, "more than %d lines", REQ_MAX_LINES);
			goto out;
		}
		i = e + 1;
		if (l.len && l.p[l.len - 1] == '\r')
			l.len--;
		/* a comment starts at '#' at the start or after white space */
		for (hash = l.p; (hash = memchr(hash, '#', l.len - (size_t)(hash - l.p))); hash++)
			if (hash == l.p || hash[-1] == ' ' || hash[-1] == '\t') {
				l.len = (size_t)(hash - l.p);
				break;
			}
		if (!logical.len)
			start = line;
		if (l.len && l.p[l.len - 1] == '\\') {
			nsh_buf_add(&logical, l.p, l.len - 1);
			continue;
		}
		nsh_buf_addstr(&logical, l);
		requirement_line(nsh_str_make(logical.buf, logical.len), start, norm, kind, out);
		nsh_buf_reset(&logical);
	}
	if (logical.len)
		requirement_line(nsh_str_make(logical.buf, logical.len), start, norm, kind, out);
out:
	nsh_buf_release(&logical);
	free(norm);
	return rc;
}

/* Every string of array @a that names the dependency. */
static void take_array(const struct nsh_analyze_toml *a, const char *what, const char *norm,
		       const char *kind, struct nsh_analyze_decls *out)
{
	if (!a)
		return;
	if (a->type != NSH_ANALYZE_TOML_ARRAY) {
		nsh_strvec_pushf(&out->warnings, "line %d: '%s' is not an array", a->line, what);
		return;
	}
	for (size_t i = 0; i < a->nr; i++)
		if (a->kids[i]->type == NSH_ANALYZE_TOML_STRING)
			take_requirement(nsh_str_from(a->kids[i]->str), norm, kind,
					 a->kids[i]->line, out);
}

/* A Poetry dependency table: name = "spec" or name = { version = "spec", ... }. */
static void take_poetry(const struct nsh_analyze_toml *t, const char *norm, const char *kind,
			struct nsh_analyze_decls *out)
{
	if (!t || t->type != NSH_ANALYZE_TOML_TABLE)
		return;
	for (size_t i = 0; i < t->nr; i++) {
		const struct nsh_analyze_toml *e = t->kids[i], *v, *opt;
		const char *k = kind, *spec = NULL;
		char *pin = NULL;

		if (!same_name(nsh_str_from(e->key), norm))
			continue;
		if (e->type == NSH_ANALYZE_TOML_STRING) {
			spec = e->str;
		} else if (e->type == NSH_ANALYZE_TOML_TABLE) {
			v = nsh_analyze_toml_get(e, "version");
			opt = nsh_analyze_toml_get(e, "optional");
			if (v && v->type == NSH_ANALYZE_TOML_STRING)
				spec = v->str;
			if (opt && opt->type == NSH_ANALYZE_TOML_SCALAR &&
			    !strcmp(opt->str, "true"))
				k = "optional";
		}
		if (spec) {
			struct nsh_analyze_version ver;

			/* in Poetry a bare version is exact */
			if (nsh_analyze_version_parse(spec, &ver) && spec[0] >= '0' &&
			    spec[0] <= '9')
				pin = nsh_xstrdup(spec);
			else
				pin = pinned(nsh_str_from(spec));
		}
		nsh_analyze_decls_add(out, e->key, k, spec, pin, e->line);
		free(pin);
	}
}

int nsh_analyze_read_pyproject(const char *text, size_t len, const char *dep,
			       struct nsh_analyze_decls *out, struct nsh_err *err)
{
	struct nsh_analyze_toml *root = NULL;
	const struct nsh_analyze_toml *t;
	char *norm;
	int rc;

	rc = nsh_analyze_toml_parse(text, len, &root, err);
	if (rc)
		return rc;
	norm = nsh_analyze_pep503(dep, strlen(dep));
	take_array(nsh_analyze_toml_path(root, "project", "dependencies", NULL),
		   "project.dependencies", norm, "dependencies", out);
	t = nsh_analyze_toml_path(root, "project", "optional-dependencies", NULL);
	if (t && t->type == NSH_ANALYZE_TOML_TABLE)
		for (size_t i = 0; i < t->nr; i++)
			take_array(t->kids[i], "project.optional-dependencies", norm, "optional",
				   out);
	t = nsh_analyze_toml_get(root, "dependency-groups");
	if (t && t->type == NSH_ANALYZE_TOML_TABLE)
		for (size_t i = 0; i < t->nr; i++)
			take_array(t->kids[i], "dependency-groups", norm, "dev", out);
	take_array(nsh_analyze_toml_path(root, "build-system", "requires", NULL),
		   "build-system.requires", norm, "build", out);
	take_poetry(nsh_analyze_toml_path(root, "tool", "poetry", "dependencies", NULL), norm,
		    "dependencies", out);
	take_poetry(nsh_analyze_toml_path(root, "tool", "poetry", "dev-dependencies", NULL), norm,
		    "dev", out);
	t = nsh_analyze_toml_path(root, "tool", "poetry", "group", NULL);
	if (t && t->type == NSH_ANALYZE_TOML_TABLE)
		for (size_t i = 0; i < t->nr; i++)
			take_poetry(nsh_analyze_toml_get(t->kids[i], "dependencies"), norm, "dev",
				    out);
	free(norm);
	nsh_analyze_toml_free(root);
	return 0;
}
