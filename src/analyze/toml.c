/*
 * A strict reader for the subset of TOML that pyproject.toml and
 * Cargo.toml use (see analyze_int.h). There is no TOML library in Debian's
 * C world, and the manifests need only tables, keys, strings, arrays and
 * inline tables; numbers, booleans and dates are kept as their text.
 *
 * The reader is a single pass over the bytes with a line counter. Tables
 * remember how they came to exist (a [header], a dotted key, an inline
 * table, an intermediate of a header) so that the redefinitions TOML
 * forbids are refused instead of silently merged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

#define MAX_DEPTH     64
#define MAX_KEY_PARTS 64

enum {
	F_DEFINED = 1u << 0,  /* defined by a [header] */
	F_DOTTED = 1u << 1,   /* made by a dotted key */
	F_INLINE = 1u << 2,   /* inline table or array value: closed */
	F_AOT = 1u << 3,      /* array made by [[header]] */
	F_IMPLICIT = 1u << 4, /* intermediate of a header, not yet defined */
};

struct parser {
	const char *p, *end;
	int line;
	int depth;
	struct nsh_err *err;
	struct nsh_buf s; /* scratch for decoded strings */
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return nsh_err_set(ps->err, NSH_EINVAL, "line %d: %s", ps->line, msg);
}

static struct nsh_analyze_toml *node_new(enum nsh_analyze_toml_type type, const char *key, int line,
					 unsigned flags)
{
	struct nsh_analyze_toml *n = nsh_xcalloc(1, sizeof(*n));

	n->type = type;
	n->key = key ? nsh_xstrdup(key) : NULL;
	n->line = line;
	n->flags = flags;
	return n;
}

void nsh_analyze_toml_free(struct nsh_analyze_toml *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nr; i++)
		nsh_analyze_toml_free(t->kids[i]);
	free(t->kids);
	free(t->key);
	free(t->str);
	free(t);
}

static void add_kid(struct nsh_analyze_toml *parent, struct nsh_analyze_toml *kid)
{
	NSH_ALLOC_GROW(parent->kids, parent->nr + 1, parent->alloc);
	parent->kids[parent->nr++] = kid;
}

static struct nsh_analyze_toml *find_kid(const struct nsh_analyze_toml *t, const char *key)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->kids[i]->key && !strcmp(t->kids[i]->key, key))
			return t->kids[i];
	return NULL;
}

const struct nsh_analyze_toml *nsh_analyze_toml_get(const struct nsh_analyze_toml *t,
						    const char *key)
{
	if (!t || t->type != NSH_ANALYZE_TOML_TABLE)
		return NULL;
	return find_kid(t, key);
}

const struct nsh_analyze_toml *nsh_analyze_toml_path(const struct nsh_analyze_toml *t, ...)
{
	const char *key;
	va_list ap;

	va_start(ap, t);
	while (t && (key = va_arg(ap, const char *)))
		t = nsh_analyze_toml_get(t, key);
	va_end(ap);
	return t;
}

static bool at(struct parser *ps, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, lit, n);
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static void skip_comment(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '#')
		while (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r')
			ps->p++;
}

static bool at_eol(struct parser *ps)
{
	return ps->p >= ps->end || *ps->p == '\n' || at(ps, "\r\n");
}

/* Consume one newline ("\n" or "\r\n"); a lone CR is an error. */
static int eat_newline(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '\n') {
		ps->p++;
	} else if (at(ps, "\r\n")) {
		ps->p += 2;
	} else {
		return fail(ps, "expected the end of the line");
	}
	ps->line++;
	return 0;
}

/* White space, comments and newlines (inside arrays). */
static int skip_blank(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		skip_comment(ps);
		if (ps->p >= ps->end || (*ps->p != '\n' && *ps->p != '\r'))
			return 0;
		if (eat_newline(ps))
			return NSH_EINVAL;
	}
}

static bool is_bare(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Append code point @cp as UTF-8. */
static void put_utf8(struct nsh_buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	nsh_buf_add(b, u, n);
}

/* A backslash escape at ps->p (just after the backslash). */
static int parse_escape(struct parser *ps)
{
	char c;
	int digits = 0;
	unsigned long cp = 0;

	if (ps->p >= ps->end)
		return fail(ps, "unterminated string");
	c = *ps->p++;
	switch (c) {
	case 'b':
		return nsh_buf_addch(&ps->s, '\b');
	case 't':
		return nsh_buf_addch(&ps->s, '\t');
	case 'n':
		return nsh_buf_addch(&ps->s, '\n');
	case 'f':
		return nsh_buf_addch(&ps->s, '\f');
	case 'r':
		return nsh_buf_addch(&ps->s, '\r');
	case 'e':
		return nsh_buf_addch(&ps->s, '\033');
	case '"':
	case '\\':
		return nsh_buf_addch(&ps->s, c);
	case 'u':
		digits = 4;
		break;
	case 'U':
		digits = 8;
		break;
	default:
		return fail(ps, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
	}
	if (ps->end - ps->p < digits)
		return fail(ps, "short unicode escape");
	for (int i = 0; i < digits; i++) {
		c = *ps->p++;
		if (!is_hex(c))
			return fail(ps, "invalid unicode escape");
		cp = cp * 16 + (unsigned long)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(ps, "unicode escape out of range");
	put_utf8(&ps->s, cp);
	return 0;
}

/* A control character that TOML forbids in strings (tab is fine). */
static bool bad_control(char c)
{
	unsigned char u = (unsigned char)c;

	return (u < 0x20 && u != '\t') || u == 0x7f;
}

/* A string of any of the four kinds at ps->p; its value goes to ps->s. */
static int parse_string(struct parser *ps, bool allow_multi)
{
	char q = *ps->p;
	bool multi = allow_multi && (q == '"' ? at(ps, "\"\"\"") : at(ps, "'''"));

	nsh_buf_reset(&ps->s);
	ps->p += multi ? 3 : 1;
	if (multi && at_eol(ps) && ps->p < ps->end && eat_newline(ps))
		return NSH_EINVAL; /* a newline right after the opening quotes is trimmed */
	for (;;) {
		char c;

		if (ps->p >= ps->end)
			return fail(ps, "unterminated string");
		c = *ps->p;
		if (c == q) {
			if (!multi) {
				ps->p++;
				return 0;
			}
			if (at(ps, q == '"' ? "\"\"\"" : "'''")) {
				size_t run = 0;

				while (ps->p + run < ps->end && ps->p[run] == q)
					run++;
				if (run > 5)
					return fail(ps, "too many quotes closing a string");
				nsh_buf_add(&ps->s, ps->p, run - 3);
				ps->p += run;
				return 0;
			}
			nsh_buf_addch(&ps->s, c);
			ps->p++;
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (!multi)
				return fail(ps, "newline inside a string");
			if (eat_newline(ps))
				return NSH_EINVAL;
			nsh_buf_addch(&ps->s, '\n');
			continue;
		}
		if (c == '\\' && q == '"') {
			const char *t = ps->p + 1;

			if (multi) {
				/* a line-ending backslash eats the newline and leading blanks */
				while (t < ps->end && (*t == ' ' || *t == '\t'))
					t++;
				if (t < ps->end && (*t == '\n' || *t == '\r')) {
					ps->p = t;
					while (ps->p < ps->end &&
					       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
						*ps->p == '\r'))
						if (*ps->p == ' ' || *ps->p == '\t')
							ps->p++;
						else if (eat_newline(ps))
							return NSH_EINVAL;
					continue;
				}
			}
			ps->p++;
			if (parse_escape(ps))
				return NSH_EINVAL;
			continue;
		}
		if (bad_control(c))
			return fail(ps, "control character in a string");
		nsh_buf_addch(&ps->s, c);
		ps->p++;
	}
}

/* A dotted key: its parts go to @parts. */
static int parse_key(struct parser *ps, struct nsh_strvec *parts)
{
	for (;;) {
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "expected a key");
		if (*ps->p == '"' || *ps->p == '\'') {
			if (parse_string(ps, false))
				return NSH_EINVAL;
			if (memchr(ps->s.buf, '\0', ps->s.len))
				return fail(ps, "NUL in a key");
			nsh_strvec_push(parts, ps->s.buf);
		} else {
			const char *b = ps->p;
			char *k;

			while (ps->p < ps->end && is_bare(*ps->p))
				ps->p++;
			if (ps->p == b)
				return fail(ps, "expected a key");
			k = nsh_xmemdup(b, (size_t)(ps->p - b));
			nsh_strvec_push(parts, k);
			free(k);
		}
		if (parts->nr > MAX_KEY_PARTS)
			return fail(ps, "key with more than %d parts", MAX_KEY_PARTS);
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '.') {
			ps->p++;
			continue;
		}
		return 0;
	}
}

static int parse_value(struct parser *ps, struct nsh_analyze_toml **ret);

/* Put @value under the dotted key @parts inside table @t. */
static int insert(struct parser *ps, struct nsh_analyze_toml *t, const struct nsh_strvec *parts,
		  struct nsh_analyze_toml *value)
{
	for (size_t i = 0; i + 1 < parts->nr; i++) {
		struct nsh_analyze_toml *k = find_kid(t, parts->v[i]);

		if (!k) {
			k = node_new(NSH_ANALYZE_TOML_TABLE, parts->v[i], ps->line, F_DOTTED);
			add_kid(t, k);
		} else if (k->type != NSH_ANALYZE_TOML_TABLE || !(k->flags & F_DOTTED)) {
			nsh_analyze_toml_free(value);
			return fail(ps, "cannot add to '%.64s' with a dotted key", parts->v[i]);
		}
		t = k;
	}
	if (find_kid(t, parts->v[parts->nr - 1])) {
		nsh_analyze_toml_free(value);
		return fail(ps, "duplicate key '%.64s'", parts->v[parts->nr - 1]);
	}
	value->key = nsh_xstrdup(parts->v[parts->nr - 1]);
	add_kid(t, value);
	return 0;
}

/* "key = value" at ps->p, into @t. */
static int parse_keyval(struct parser *ps, struct nsh_analyze_toml *t)
{
	struct nsh_strvec parts = NSH_STRVEC_INIT;
	struct nsh_analyze_toml *v = NULL;
	int rc;

	rc = parse_key(ps, &parts);
	if (rc)
		goto out;
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != '=') {
		rc = fail(ps, "expected '=' after a key");
		goto out;
	}
	ps->p++;
	skip_ws(ps);
	rc = parse_value(ps, &v);
	if (rc)
		goto out;
	rc = insert(ps, t, &parts, v);
out:
	nsh_strvec_release(&parts);
	return rc;
}

static int parse_array(struct parser *ps, struct nsh_analyze_toml *a)
{
	ps->p++; /* '[' */
	for (;;) {
		struct nsh_analyze_toml *v = NULL;

		if (skip_blank(ps))
			return NSH_EINVAL;
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (parse_value(ps, &v))
			return NSH_EINVAL;
		add_kid(a, v);
		if (skip_blank(ps))
			return NSH_EINVAL;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		return fail(ps, "expected ',' or ']' in an array");
	}
}

static int parse_inline_table(struct parser *ps, struct nsh_analyze_toml *t)
{
	ps->p++; /* '{' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (parse_keyval(ps, t))
			return NSH_EINVAL;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return 0;
		}
		return fail(ps, "expected ',' or '}' in an inline table");
	}
}

static bool is_scalar_char(char c)
{
	return is_bare(c) || c == ':' || c == '.' || c == '+';
}

/* An integer, float, boolean or date, kept as text. */
static int parse_scalar(struct parser *ps, struct nsh_analyze_toml *v)
{
	const char *b = ps->p;
	size_t n;

	while (ps->p < ps->end && is_scalar_char(*ps->p))
		ps->p++;
	n = (size_t)(ps->p - b);
	/* a date and a time separated by one space: 1979-05-27 07:32:00 */
	if (n == 10 && b[4] == '-' && b[7] == '-' && ps->end - ps->p >= 4 && ps->p[0] == ' ' &&
	    ps->p[1] >= '0' && ps->p[1] <= '9' && ps->p[2] >= '0' && ps->p[2] <= '9' &&
	    ps->p[3] == ':') {
		ps->p++;
		while (ps->p < ps->end && is_scalar_char(*ps->p))
			ps->p++;
		n = (size_t)(ps->p - b);
	}
	if (!n)
		return fail(ps, "expected a value");
	if (!((n == 4 && !memcmp(b, "true", 4)) || (n == 5 && !memcmp(b, "false", 5)) ||
	      (b[0] >= '0' && b[0] <= '9') ||
	      ((b[0] == '+' || b[0] == '-') && n > 1 &&
	       ((b[1] >= '0' && b[1] <= '9') || b[1] == 'i' || b[1] == 'n')) ||
	      (n == 3 && (!memcmp(b, "inf", 3) || !memcmp(b, "nan", 3)))))
		return fail(ps, "invalid value '%.*s'", (int)(n > 40 ? 40 : n), b);
	v->str = nsh_xmemdup(b, n);
	return 0;
}

static int parse_value(struct parser *ps, struct nsh_analyze_toml **ret)
{
	struct nsh_analyze_toml *v;
	int rc;

	if (ps->p >= ps->end)
		return fail(ps, "expected a value");
	if (++ps->depth > MAX_DEPTH) {
		ps->depth--;
		return fail(ps, "values nested deeper than %d", MAX_DEPTH);
	}
	switch (*ps->p) {
	case '"':
	case '\'':
		v = node_new(NSH_ANALYZE_TOML_STRING, NULL, ps->line, 0);
		rc = parse_string(ps, true);
		if (!rc && memchr(ps->s.buf, '\0', ps->s.len))
			rc = fail(ps, "NUL in a string");
		if (!rc)
			v->str = nsh_xmemdup(ps->s.buf, ps->s.len);
		break;
	case '[':
		v = node_new(NSH_ANALYZE_TOML_ARRAY, NULL, ps->line, F_INLINE);
		rc = parse_array(ps, v);
		break;
	case '{':
		v = node_new(NSH_ANALYZE_TOML_TABLE, NULL, ps->line, F_INLINE);
		rc = parse_inline_table(ps, v);
		break;
	default:
		v = node_new(NSH_ANALYZE_TOML_SCALAR, NULL, ps->line, 0);
		rc = parse_scalar(ps, v);
		break;
	}
	ps->depth--;
	if (rc) {
		nsh_analyze_toml_free(v);
		return rc;
	}
	/* tables inside an inline table are closed too */
	if (v->type == NSH_ANALYZE_TOML_TABLE)
		for (size_t i = 0; i < v->nr; i++)
			v->kids[i]->flags |= F_INLINE;
	*ret = v;
	return 0;
}

/* A [table] or [[array]] header; *@cur becomes the table it names. */
static int parse_header(struct parser *ps, struct nsh_analyze_toml *root,
			struct nsh_analyze_toml **cur)
{
	bool aot = at(ps, "[[");
	struct nsh_strvec parts = NSH_STRVEC_INIT;
	struct nsh_analyze_toml *t = root, *k;
	const char *last;
	int rc;

	ps->p += aot ? 2 : 1;
	rc = parse_key(ps, &parts);
	if (rc)
		goto out;
	skip_ws(ps);
	if (!at(ps, aot ? "]]" : "]")) {
		rc = fail(ps, "expected '%s' closing a table header", aot ? "]]" : "]");
		goto out;
	}
	ps->p += aot ? 2 : 1;
	for (size_t i = 0; i + 1 < parts.nr; i++) {
		k = find_kid(t, parts.v[i]);
		if (!k) {
			k = node_new(NSH_ANALYZE_TOML_TABLE, parts.v[i], ps->line, F_IMPLICIT);
			add_kid(t, k);
		} else if (k->type == NSH_ANALYZE_TOML_ARRAY && (k->flags & F_AOT) && k->nr) {
			k = k->kids[k->nr - 1];
		} else if (k->type != NSH_ANALYZE_TOML_TABLE || (k->flags & F_INLINE)) {
			rc = fail(ps, "'%.64s' is not a table", parts.v[i]);
			goto out;
		}
		t = k;
	}
	last = parts.v[parts.nr - 1];
	k = find_kid(t, last);
	if (aot) {
		if (!k) {
			k = node_new(NSH_ANALYZE_TOML_ARRAY, last, ps->line, F_AOT);
			add_kid(t, k);
		} else if (k->type != NSH_ANALYZE_TOML_ARRAY || !(k->flags & F_AOT)) {
			rc = fail(ps, "'%.64s' is not an array of tables", last);
			goto out;
		}
		t = node_new(NSH_ANALYZE_TOML_TABLE, NULL, ps->line, F_DEFINED);
		add_kid(k, t);
	} else {
		if (!k) {
			k = node_new(NSH_ANALYZE_TOML_TABLE, last, ps->line, F_DEFINED);
			add_kid(t, k);
		} else if (k->type != NSH_ANALYZE_TOML_TABLE || !(k->flags & F_IMPLICIT)) {
			rc = fail(ps, "table '%.64s' defined twice", last);
			goto out;
		} else {
			k->flags = (k->flags & ~(unsigned)F_IMPLICIT) | F_DEFINED;
			k->line = ps->line;
		}
		t = k;
	}
	*cur = t;
out:
	nsh_strvec_release(&parts);
	return rc;
}

int nsh_analyze_toml_parse(const char *text, size_t len, struct nsh_analyze_toml **ret,
			   struct nsh_err *err)
{
	struct parser ps = {text, text + len, 1, 0, err, NSH_BUF_INIT};
	struct nsh_analyze_toml *root, *cur;
	int rc = 0;

	if (len > NSH_ANALYZE_MANIFEST_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "larger than %zu bytes",
				   NSH_ANALYZE_MANIFEST_MAX);
	root = node_new(NSH_ANALYZE_TOML_TABLE, NULL, 1, F_DEFINED);
	cur = root;
	if (at(&ps, "\xef\xbb\xbf"))
		ps.p += 3;
	while (ps.p < ps.end) {
		skip_ws(&ps);
		skip_comment(&ps);
		if (ps.p >= ps.end)
			break;
		if (*ps.p == '\n' || *ps.p == '\r') {
			rc = eat_newline(&ps);
			if (rc)
				break;
			continue;
		}
		if (*ps.p == '[')
			rc = parse_header(&ps, root, &cur);
		else
			rc = parse_keyval(&ps, cur);
		if (rc)
			break;
		skip_ws(&ps);
		skip_comment(&ps);
		if (ps.p < ps.end) {
			rc = eat_newline(&ps);
			if (rc)
				break;
		}
	}
	nsh_buf_release(&ps.s);
	if (rc) {
		nsh_analyze_toml_free(root);
		return rc;
	}
	*ret = root;
	return 0;
}
