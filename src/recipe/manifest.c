/*
 * npm manifests: semantic version ranges (enough of npm's grammar to tell
 * whether a repository's declared range falls in a recipe's "applies"
 * range), the applies check, and package.json edits.
 *
 * Edits are made on the text, so that everything the recipe does not touch
 * (key order, indentation, the final newline, escapes) stays byte for
 * byte. The same edits are made on the jansson tree of the file; the new
 * text must parse to that tree, or the tree is written out instead (with
 * the file's indentation), so a scanner mistake can never corrupt a
 * manifest.
 */
#include "recipe/recipe.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "recipe/recipe_int.h"

#include "core/banned.h"

#define CMP_MAX	  32  /* comparators in one range */
#define LOCAL_MAX 256 /* local packages (file: dependencies, workspaces) looked at */

/* ---- versions ---- */

static const char *num(const char *s, long *ret)
{
	long v = 0;
	int digits = 0;

	while (isdigit((unsigned char)*s)) {
		if (++digits > 9)
			return NULL;
		v = v * 10 + (*s++ - '0');
	}
	if (!digits)
		return NULL;
	*ret = v;
	return s;
}

/* Parse "1.2.3-pre+build" at @s; the end, or NULL. */
static const char *version_at(const char *s, struct nsh_semver *v)
{
	memset(v, 0, sizeof(*v));
	if (*s == 'v' || *s == 'V')
		s++;
	if (!(s = num(s, &v->major)) || *s++ != '.' || !(s = num(s, &v->minor)) || *s++ != '.' ||
	    !(s = num(s, &v->patch)))
		return NULL;
	if (*s == '-') {
		size_t n = strspn(s + 1, "0123456789abcdefghijklmnopqrstuvwxyz"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-");

		if (!n || n >= sizeof(v->pre))
			return NULL;
		memcpy(v->pre, s + 1, n);
		v->pre[n] = '\0';
		s += 1 + n;
	}
	if (*s == '+') {
		size_t n = strspn(s + 1, "0123456789abcdefghijklmnopqrstuvwxyz"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-");

		if (!n)
			return NULL;
		s += 1 + n;
	}
	return s;
}

bool nsh_semver_parse(const char *s, struct nsh_semver *ret)
{
	struct nsh_semver v;
	const char *e;

	while (*s == ' ' || *s == '=')
		s++;
	e = version_at(s, &v);
	if (!e)
		return false;
	while (*e == ' ')
		e++;
	if (*e)
		return false;
	*ret = v;
	return true;
}

int nsh_semver_cmp(const struct nsh_semver *a, const struct nsh_semver *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	if (!a->pre[0] || !b->pre[0])
		return a->pre[0] ? -1 : b->pre[0] ? 1 : 0;
	return strcmp(a->pre, b->pre) < 0 ? -1 : strcmp(a->pre, b->pre) > 0 ? 1 : 0;
}

/* ---- ranges ---- */

enum cmp_op { OP_GE, OP_GT, OP_LE, OP_LT, OP_EQ };

struct cmp {
	enum cmp_op op;
	struct nsh_semver v;
};

/* One '||' alternative: every comparator must hold (none: anything). */
struct cset {
	struct cmp c[CMP_MAX];
	int n;
	bool any_lower; /* has a lower bound */
};

/* A partial version: up to three numbers; missing ones and x, X or * are wild. */
struct partial {
	long n[3];
	int given; /* numbers given (0 to 3) */
	char pre[64];
};

static const char *partial_at(const char *s, struct partial *p)
{
	memset(p, 0, sizeof(*p));
	if (*s == 'v' || *s == 'V')
		s++;
	for (int i = 0; i < 3; i++) {
		if (*s == 'x' || *s == 'X' || *s == '*') {
			s++;
		} else {
			const char *e = num(s, &p->n[i]);

			if (!e)
				return i == 0 ? NULL : s;
			s = e;
			if (p->given == i)
				p->given = i + 1;
		}
		if (i < 2) {
			if (*s != '.')
				return s;
			s++;
		}
	}
	if (p->given == 3 && (*s == '-' || *s == '+')) {
		struct nsh_semver v;
		char tmp[96];
		int len = snprintf(tmp, sizeof(tmp), "0.0.0%.*s", (int)strcspn(s, " |"), s);
		const char *e;

		if (len < 0 || (size_t)len >= sizeof(tmp) || !(e = version_at(tmp, &v)) || *e)
			return NULL;
		memcpy(p->pre, v.pre, sizeof(p->pre));
		s += strcspn(s, " |");
	}
	return s;
}

static struct nsh_semver ver(long a, long b, long c)
{
	struct nsh_semver v = {a, b, c, ""};

	return v;
}

static bool add(struct cset *cs, enum cmp_op op, struct nsh_semver v)
{
	if (cs->n >= CMP_MAX)
		return false;
	cs->c[cs->n].op = op;
	cs->c[cs->n].v = v;
	cs->n++;
	if (op == OP_GE || op == OP_GT || op == OP_EQ)
		cs->any_lower = true;
	return true;
}

/* The lowest version a partial stands for. */
static struct nsh_semver low(const struct partial *p)
{
	struct nsh_semver v = ver(p->n[0], p->n[1], p->n[2]);

	memcpy(v.pre, p->pre, sizeof(v.pre));
	return v;
}

/* The first version above everything a partial stands for. */
static struct nsh_semver above(const struct partial *p)
{
	return p->given == 1 ? ver(p->n[0] + 1, 0, 0) : ver(p->n[0], p->n[1] + 1, 0);
}

static bool simple(struct cset *cs, const char *op, const struct partial *p)
{
	if (!p->given)
		return *op == '<' && strcmp(op, "<=")	? add(cs, OP_LT, ver(0, 0, 0))
		       : *op == '>' && strcmp(op, ">=") ? add(cs, OP_LT, ver(0, 0, 0))
							: true;
	if (!strcmp(op, "^")) {
		struct nsh_semver hi;

		if (p->n[0] > 0 || p->given == 1)
			hi = ver(p->n[0] + 1, 0, 0);
		else if (p->n[1] > 0 || p->given == 2)
			hi = ver(0, p->n[1] + 1, 0);
		else
			hi = ver(0, 0, p->n[2] + 1);
		return add(cs, OP_GE, low(p)) && add(cs, OP_LT, hi);
	}
	if (!strcmp(op, "~"))
		return add(cs, OP_GE, low(p)) &&
		       add(cs, OP_LT,
			   p->given == 1 ? ver(p->n[0] + 1, 0, 0) : ver(p->n[0], p->n[1] + 1, 0));
	if (!strcmp(op, ">="))
		return add(cs, OP_GE, low(p));
	if (!strcmp(op, ">"))
		return p->given == 3 ? add(cs, OP_GT, low(p)) : add(cs, OP_GE, above(p));
	if (!strcmp(op, "<"))
		return add(cs, OP_LT, low(p));
	if (!strcmp(op, "<="))
		return p->given == 3 ? add(cs, OP_LE, low(p)) : add(cs, OP_LT, above(p));
	/* "=" or nothing */
	if (p->given == 3)
		return add(cs, OP_EQ, low(p));
	return add(cs, OP_GE, low(p)) && add(cs, OP_LT, above(p));
}

/* Parse one '||' alternative [s, e) into @cs. */
static bool parse_set(const char *s, const char *e, struct cset *cs)
{
	char *t = nsh_xstrndup(s, (size_t)(e - s));
	const char *p = t;
	bool ok = true;

	memset(cs, 0, sizeof(*cs));
	/* hyphen range "A - B" */
	{
		char *h = strstr(t, " - ");

		if (h) {
			struct partial a, b;
			const char *ae, *be;

			*h = '\0';
			while (*p == ' ')
				p++;
			ae = partial_at(p, &a);
			be = partial_at(h + 3 + strspn(h + 3, " "), &b);
			ok = ae && be && !ae[strspn(ae, " ")] && !be[strspn(be, " ")];
			if (ok && a.given)
				ok = add(cs, OP_GE, low(&a));
			else if (ok)
				ok = add(cs, OP_GE, ver(0, 0, 0));
			if (ok && b.given)
				ok = b.given == 3 ? add(cs, OP_LE, low(&b))
						  : add(cs, OP_LT, above(&b));
			free(t);
			return ok;
		}
	}
	while (ok) {
		char op[3] = "";
		struct partial pa;
		const char *after;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p == '^' || *p == '~') {
			op[0] = *p++;
			if (*p == '>')
				p++; /* "~>" is "~" */
		} else if (*p == '>' || *p == '<') {
			op[0] = *p++;
			if (*p == '=')
				op[1] = *p++;
		} else if (*p == '=') {
			op[0] = *p++;
		}
		while (*p == ' ')
			p++;
		after = partial_at(p, &pa);
		if (!after || (*after && *after != ' ')) {
			ok = false;
			break;
		}
		ok = simple(cs, op, &pa);
		p = after;
	}
	free(t);
	return ok;
}

/* Call @fn for each '||' alternative; false when one does not parse. */
static bool each_set(const char *range, bool (*fn)(const struct cset *, void *), void *ctx)
{
	const char *s = range;

	if (!range || strlen(range) > 256)
		return false;
	for (;;) {
		const char *bar = strstr(s, "||"), *e = bar ? bar : s + strlen(s);
		struct cset cs;

		if (!parse_set(s, e, &cs) || !fn(&cs, ctx))
			return false;
		if (!bar)
			return true;
		s = bar + 2;
	}
}

static bool set_ok(const struct cset *cs, void *ctx)
{
	(void)cs;
	(void)ctx;
	return true;
}

bool nsh_semver_range_valid(const char *range)
{
	const char *s = range;

	if (!range)
		return false;
	while (*s == ' ')
		s++;
	if (!*s)
		return false;
	return each_set(range, set_ok, NULL);
}

static bool set_holds(const struct cset *cs, const struct nsh_semver *v)
{
	for (int i = 0; i < cs->n; i++) {
		int c = nsh_semver_cmp(v, &cs->c[i].v);
		bool ok = false;

		switch (cs->c[i].op) {
		case OP_GE:
			ok = c >= 0;
			break;
		case OP_GT:
			ok = c > 0;
			break;
		case OP_LE:
			ok = c <= 0;
			break;
		case OP_LT:
			ok = c < 0;
			break;
		case OP_EQ:
			ok = c == 0;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

struct sat_ctx {
	const struct nsh_semver *v;
	bool found;
};

static bool set_sat(const struct cset *cs, void *ctx)
{
	struct sat_ctx *s = ctx;

	s->found |= set_holds(cs, s->v);
	return true;
}

bool nsh_semver_satisfies(const struct nsh_semver *v, const char *range)
{
	struct sat_ctx s = {.v = v};

	return each_set(range, set_sat, &s) && s.found;
}

struct min_ctx {
	struct nsh_semver min;
	bool have;
	bool unbounded;
};

static bool set_min(const struct cset *cs, void *ctx)
{
	struct min_ctx *m = ctx;
	struct nsh_semver lo = ver(0, 0, 0);

	if (!cs->any_lower) {
		m->unbounded = true;
		return true;
	}
	for (int i = 0; i < cs->n; i++) {
		struct nsh_semver b = cs->c[i].v;

		if (cs->c[i].op == OP_GT)
			b = ver(b.major, b.minor, b.patch + 1);
		if ((cs->c[i].op == OP_GE || cs->c[i].op == OP_GT || cs->c[i].op == OP_EQ) &&
		    nsh_semver_cmp(&b, &lo) > 0)
			lo = b;
	}
	if (!set_holds(cs, &lo))
		return true; /* an empty set admits nothing */
	if (!m->have || nsh_semver_cmp(&lo, &m->min) < 0)
		m->min = lo;
	m->have = true;
	return true;
}

bool nsh_semver_range_min(const char *range, struct nsh_semver *ret)
{
	struct min_ctx m = {.have = false};

	if (!each_set(range, set_min, &m) || m.unbounded || !m.have)
		return false;
	*ret = m.min;
	return true;
}

char *nsh_semver_bump(const char *old, const char *to)
{
	struct nsh_semver v;

	if (!nsh_semver_parse(to, &v))
		return nsh_xstrdup(to);
	while (*old == ' ')
		old++;
	if (*old == '^' || *old == '~') {
		if (nsh_semver_parse(old + 1 + (old[1] == '>'), &v))
			return nsh_xasprintf("%c%s", *old, to);
	} else if (nsh_semver_parse(old, &v)) {
		return nsh_xstrdup(to);
	}
	return nsh_xasprintf("^%s", to);
}

/* ---- package.json text ---- */

static const char *const sections[] = {"dependencies", "devDependencies", "optionalDependencies",
				       "peerDependencies"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

struct member {
	size_t ks, ke; /* key token, quotes included */
	size_t vs, ve; /* value */
};

static size_t ws(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The end of the string token at @i (after its closing quote), or 0. */
static size_t str_end(const char *s, size_t i, size_t n)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* The end of the value at @i, or 0. */
static size_t value_end(const char *s, size_t i, size_t n)
{
	int depth = 0;

	if (i >= n)
		return 0;
	if (s[i] == '"')
		return str_end(s, i, n);
	if (s[i] != '{' && s[i] != '[') {
		while (i < n && !strchr(",}] \t\r\n", s[i]))
			i++;
		return i;
	}
	for (; i < n; i++) {
		if (s[i] == '"') {
			size_t e = str_end(s, i, n);

			if (!e)
				return 0;
			i = e - 1;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if (s[i] == '}' || s[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

/* The members of the object at @o ('{'); false when the text is not as expected. */
static bool members(const char *s, size_t n, size_t o, struct member **ret, size_t *ret_n,
		    size_t *ret_close)
{
	struct member *v = NULL;
	size_t nr = 0, alloc = 0, i = ws(s, o + 1, n);

	if (o >= n || s[o] != '{')
		return false;
	while (i < n && s[i] != '}') {
		struct member m;

		if (s[i] != '"' || !(m.ke = str_end(s, i, n)))
			goto bad;
		m.ks = i;
		i = ws(s, m.ke, n);
		if (i >= n || s[i] != ':')
			goto bad;
		m.vs = ws(s, i + 1, n);
		if (!(m.ve = value_end(s, m.vs, n)))
			goto bad;
		NSH_ALLOC_GROW(v, nr + 1, alloc);
		v[nr++] = m;
		i = ws(s, m.ve, n);
		if (i < n && s[i] == ',')
			i = ws(s, i + 1, n);
		else if (i >= n || s[i] != '}')
			goto bad;
	}
	if (i >= n)
		goto bad;
	*ret = v;
	*ret_n = nr;
	*ret_close = i;
	return true;
bad:
	free(v);
	return false;
}

/* Does the key token [ks, ke) decode to @name? */
static bool key_is(const char *s, const struct member *m, const char *name)
{
	size_t len = m->ke - m->ks - 2;
	json_t *j;
	bool eq;

	if (!memchr(s + m->ks + 1, '\\', len))
		return strlen(name) == len && !memcmp(s + m->ks + 1, name, len);
	j = json_loadb(s + m->ks, m->ke - m->ks, JSON_DECODE_ANY, NULL);
	eq = json_is_string(j) && !strcmp(json_string_value(j), name);
	json_decref(j);
	return eq;
}

static long find_member(const char *s, const struct member *v, size_t nr, const char *name)
{
	for (size_t i = 0; i < nr; i++)
		if (key_is(s, &v[i], name))
			return (long)i;
	return -1;
}

/* Replace [a, b) of @t with @with. */
static void splice(struct nsh_buf *t, size_t a, size_t b, const char *with)
{
	struct nsh_buf n = NSH_BUF_INIT;

	nsh_buf_add(&n, t->buf, a);
	nsh_buf_adds(&n, with);
	nsh_buf_add(&n, t->buf + b, t->len - b);
	nsh_buf_release(t);
	*t = n;
}

static char *json_str(const char *s)
{
	json_t *j = json_string(s);
	char *out = json_dumps(j, JSON_ENCODE_ANY);

	json_decref(j);
	return out ? out : nsh_xstrdup("\"\"");
}

/* The indentation unit of the file: the white space before its first indented key. */
static char *indent_unit(const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] != '\n')
			continue;
		size_t j = i + 1;

		while (j < n && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j > i + 1 && j < n && s[j] == '"')
			return nsh_xstrndup(s + i + 1, j - i - 1);
	}
	return nsh_xstrdup("  ");
}

/* The indentation of the line holding offset @pos. */
static char *line_indent(const char *s, size_t pos)
{
	size_t a = pos, b;

	while (a > 0 && s[a - 1] != '\n')
		a--;
	b = a;
	while (s[b] == ' ' || s[b] == '\t')
		b++;
	return nsh_xstrndup(s + a, b - a);
}

/* The text between a key and its value in this file (": " usually). */
static char *colon_style(const char *s, const struct member *m)
{
	return nsh_xstrndup(s + m->ke, m->vs - m->ke);
}

/*
 * Add "name": value (@val, JSON text) to the object at @o of @t: in key order
 * when @in_order and the keys are sorted, else at the end; laid out like its
 * siblings.
 */
static bool insert_member(struct nsh_buf *t, size_t o, const char *name, const char *val,
			  bool in_order)
{
	struct member *v = NULL;
	size_t nr, close, at;
	char *key = json_str(name), *text = NULL, *colon;
	bool sorted = in_order, ok = false;
	long before = -1;

	if (!members(t->buf, t->len, o, &v, &nr, &close))
		goto out;
	colon = nr ? colon_style(t->buf, &v[0]) : nsh_xstrdup(": ");
	if (!nr) {
		bool multi = memchr(t->buf, '\n', t->len) != NULL;
		char *unit = indent_unit(t->buf, t->len), *ind = line_indent(t->buf, o);

		if (multi)
			text = nsh_xasprintf("\n%s%s%s%s%s\n%s", ind, unit, key, colon, val, ind);
		else
			text = nsh_xasprintf("%s%s%s", key, colon, val);
		splice(t, o + 1, close, text);
		free(unit);
		free(ind);
		free(colon);
		ok = true;
		goto out;
	}
	for (size_t i = 0; i + 1 < nr; i++) {
		json_t *a = json_loadb(t->buf + v[i].ks, v[i].ke - v[i].ks, JSON_DECODE_ANY, NULL);
		json_t *b = json_loadb(t->buf + v[i + 1].ks, v[i + 1].ke - v[i + 1].ks,
				       JSON_DECODE_ANY, NULL);

		if (!a || !b || strcmp(json_string_value(a), json_string_value(b)) > 0)
			sorted = false;
		json_decref(a);
		json_decref(b);
	}
	if (sorted)
		for (size_t i = 0; i < nr && before < 0; i++) {
			json_t *a = json_loadb(t->buf + v[i].ks, v[i].ke - v[i].ks, JSON_DECODE_ANY,
					       NULL);

			if (a && strcmp(json_string_value(a), name) > 0)
				before = (long)i;
			json_decref(a);
		}
	if (before >= 0) {
		/* before member @before, with the white space that precedes it */
		size_t k = v[before].ks, w = k;

		while (w > 0 && strchr(" \t\r\n", t->buf[w - 1]))
			w--;
		{
			char *sep = nsh_xstrndup(t->buf + w, k - w);

			text = nsh_xasprintf("%s%s%s,%s", key, colon, val, sep);
			free(sep);
		}
		at = k;
	} else {
		/* after the last member, with the separator the members use */
		size_t k = v[nr - 1].ks, w = k;
		char *sep;

		while (w > 0 && strchr(" \t\r\n", t->buf[w - 1]))
			w--;
		sep = nsh_xstrndup(t->buf + w, k - w);
		text = nsh_xasprintf(",%s%s%s%s", sep, key, colon, val);
		free(sep);
		at = v[nr - 1].ve;
	}
	splice(t, at, at, text);
	free(colon);
	ok = true;
out:
	free(text);
	free(key);
	free(v);
	return ok;
}

/* Remove member @i of the object whose members are @v. */
static void remove_member(struct nsh_buf *t, const struct member *v, size_t nr, size_t i,
			  size_t open, size_t close)
{
	if (nr == 1)
		splice(t, open + 1, close, "");
	else if (i + 1 < nr)
		splice(t, v[i].ks, v[i + 1].ks, "");
	else
		splice(t, v[i - 1].ve, v[i].ve, "");
}

/* The section objects of the root: offsets of their '{', or 0. */
static bool root_sections(const struct nsh_buf *t, size_t *root, size_t sec[NSECTIONS])
{
	struct member *v = NULL;
	size_t nr, close;

	*root = ws(t->buf, 0, t->len);
	if (!members(t->buf, t->len, *root, &v, &nr, &close))
		return false;
	for (size_t k = 0; k < NSECTIONS; k++) {
		long i = find_member(t->buf, v, nr, sections[k]);

		sec[k] = i >= 0 && t->buf[v[i].vs] == '{' ? v[i].vs : 0;
	}
	free(v);
	return true;
}

static void medit(struct nsh_recipe_result *res, const char *file, const char *op, const char *pkg,
		  const char *section, const char *from, const char *to)
{
	struct nsh_recipe_medit *m;

	NSH_ALLOC_GROW(res->medits, res->nmedits + 1, res->medits_alloc);
	m = &res->medits[res->nmedits++];
	m->file = nsh_xstrdup(file);
	m->op = op;
	m->package = nsh_xstrdup(pkg);
	m->section = nsh_xstrdup(section);
	m->from = from ? nsh_xstrdup(from) : NULL;
	m->to = to ? nsh_xstrdup(to) : NULL;
}

/* Apply one operation to the text @t and the tree @tree. */
static int apply_op(const struct nsh_recipe_mop *m, const char *file, struct nsh_buf *t,
		    json_t *tree, struct nsh_recipe_result *res, struct nsh_err *err)
{
	size_t root, sec[NSECTIONS];
	bool present = false;

	if (!root_sections(t, &root, sec))
		return nsh_err_set(err, NSH_EINVAL, "cannot edit '%s': unexpected layout", file);
	for (size_t k = 0; k < NSECTIONS; k++) {
		json_t *obj = json_object_get(tree, sections[k]);
		struct member *v = NULL;
		size_t nr, close;
		long i;

		if (!sec[k] || !json_is_object(obj) || !json_object_get(obj, m->package))
			continue;
		present = true;
		if (!members(t->buf, t->len, sec[k], &v, &nr, &close))
			return nsh_err_set(err, NSH_EINVAL, "cannot edit '%s': unexpected layout",
					   file);
		i = find_member(t->buf, v, nr, m->package);
		if (i < 0) {
			free(v);
			continue;
		}
		{
			const char *old = json_string_value(json_object_get(obj, m->package));
			char *oldc = nsh_xstrdup(old ? old : "");

			switch (m->op) {
			case NSH_RECIPE_OP_BUMP: {
				char *nv = nsh_semver_bump(oldc, m->to), *js = json_str(nv);

				if (old && strcmp(old, nv)) {
					splice(t, v[i].vs, v[i].ve, js);
					json_object_set_new(obj, m->package, json_string(nv));
					medit(res, file, "bump", m->package, sections[k], oldc, nv);
				}
				free(nv);
				free(js);
				break;
			}
			case NSH_RECIPE_OP_RENAME:
				if (json_object_get(obj, m->to)) {
					remove_member(t, v, nr, (size_t)i, sec[k], close);
					json_object_del(obj, m->package);
					medit(res, file, "remove", m->package, sections[k], oldc,
					      NULL);
				} else {
					char *nk = json_str(m->to);
					json_t *val = json_incref(json_object_get(obj, m->package));

					if (m->version) {
						char *js = json_str(m->version);

						splice(t, v[i].vs, v[i].ve, js);
						free(js);
						json_decref(val);
						val = json_string(m->version);
					}
					splice(t, v[i].ks, v[i].ke, nk);
					json_object_del(obj, m->package);
					json_object_set_new(obj, m->to, val);
					medit(res, file, "rename", m->package, sections[k],
					      m->package, m->to);
					free(nk);
				}
				break;
			case NSH_RECIPE_OP_REMOVE:
				remove_member(t, v, nr, (size_t)i, sec[k], close);
				json_object_del(obj, m->package);
				medit(res, file, "remove", m->package, sections[k], oldc, NULL);
				break;
			case NSH_RECIPE_OP_ADD:
				break;
			}
			free(oldc);
		}
		free(v);
		/* offsets moved: find the sections again */
		if (!root_sections(t, &root, sec))
			return nsh_err_set(err, NSH_EINVAL, "cannot edit '%s': unexpected layout",
					   file);
	}
	if (m->op == NSH_RECIPE_OP_ADD && !present) {
		const char *section = m->section ? m->section : "dependencies";
		size_t k = 0;
		char *js = json_str(m->version);
		json_t *obj = json_object_get(tree, section);

		while (strcmp(sections[k], section))
			k++;
		if (sec[k]) {
			if (!insert_member(t, sec[k], m->package, js, true)) {
				free(js);
				return nsh_err_set(err, NSH_EINVAL,
						   "cannot edit '%s': unexpected layout", file);
			}
		} else {
			char *unit = indent_unit(t->buf, t->len), *key = json_str(m->package);
			char *val = memchr(t->buf, '\n', t->len)
					    ? nsh_xasprintf("{\n%s%s%s: %s\n%s}", unit, unit, key,
							    js, unit)
					    : nsh_xasprintf("{%s: %s}", key, js);

			insert_member(t, root, section, val, false);
			free(unit);
			free(key);
			free(val);
		}
		if (!json_is_object(obj)) {
			obj = json_object();
			json_object_set_new(tree, section, obj);
		}
		json_object_set_new(obj, m->package, json_string(m->version));
		medit(res, file, "add", m->package, section, NULL, m->version);
		free(js);
	}
	return 0;
}

/* The whole tree written out with the indentation of @orig (the fallback). */
static void dump_like(const json_t *tree, const char *orig, size_t n, struct nsh_buf *out)
{
	char *unit = indent_unit(orig, n);
	bool tabs = unit[0] == '\t', bol = true;
	size_t w = tabs ? 1 : strlen(unit);
	char *s = json_dumps(tree, JSON_INDENT(w > 31 ? 2 : w) | JSON_PRESERVE_ORDER);

	nsh_buf_reset(out);
	for (const char *p = s ? s : "{}"; *p; p++) {
		if (*p == '\n')
			bol = true;
		else if (*p != ' ')
			bol = false;
		nsh_buf_addch(out, tabs && bol && *p == ' ' ? '\t' : *p);
	}
	if (n && orig[n - 1] == '\n')
		nsh_buf_addch(out, '\n');
	free(s);
	free(unit);
}

/* ---- local packages ---- */

/* Is @rel a relative path that stays inside the repository? */
static bool inside(const char *rel)
{
	const char *p = rel;

	if (!*rel || rel[0] == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !strncmp(p, "..", 2))
			return false;
		p += n;
		p += *p == '/';
	}
	return true;
}

/* Add @rel (trailing '/' and a leading "./" dropped) when it holds a package.json. */
static void add_local(const char *dir, const char *rel, struct nsh_strvec *out)
{
	char *r = nsh_xstrdup(rel), *path;
	struct stat st;
	size_t n;

	while (!strncmp(r, "./", 2))
		memmove(r, r + 2, strlen(r + 2) + 1);
	n = strlen(r);
	while (n && r[n - 1] == '/')
		r[--n] = '\0';
	path = nsh_xasprintf("%s/package.json", r);
	if (out->nr < LOCAL_MAX && inside(r) && strcmp(r, ".") &&
	    !nsh_below_lstat(dir, path, &st) && S_ISREG(st.st_mode) && nsh_strvec_find(out, r) < 0)
		nsh_strvec_push(out, r);
	free(path);
	free(r);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The local packages of the root manifest @pkg: the directories of its
 * "file:" dependencies and of its workspaces (a directory, or every
 * directory in one when the entry ends in a star), inside
 * @dir and with a package.json of their own, sorted.
 */
static void local_packages(const char *dir, const json_t *pkg, struct nsh_strvec *out)
{
	const json_t *ws = json_object_get(pkg, "workspaces"), *v;
	size_t i;

	for (size_t k = 0; k < NSECTIONS; k++) {
		const char *name;
		json_t *val;

		json_object_foreach((json_t *)json_object_get(pkg, sections[k]), name, val)
		{
			const char *s = json_string_value(val);

			if (s && !strncmp(s, "file:", 5))
				add_local(dir, s + 5, out);
		}
	}
	if (json_is_object(ws))
		ws = json_object_get(ws, "packages");
	json_array_foreach(ws, i, v)
	{
		const char *s = json_string_value(v);
		size_t n = s ? strlen(s) : 0;

		bool glob = n > 2 && !strcmp(s + n - 2, "/*");

		/* only a directory, or a directory followed by a final star */
		if (!s || strcspn(s, "*?[{") < n - (glob ? 1 : 0))
			continue;
		if (glob) {
			char *parent = nsh_xstrndup(s, n - 2);
			struct nsh_strvec sub = NSH_STRVEC_INIT;
			struct dirent *de;
			DIR *d = NULL;
			int dfd;

			if (!inside(parent)) {
				free(parent);
				continue;
			}
			/* not through a link: it could name any directory of the host */
			dfd = nsh_below_dir(dir, parent);
			if (dfd >= 0 && !(d = fdopendir(dfd)))
				close(dfd);
			if (d) {
				while ((de = readdir(d)))
					if (de->d_name[0] != '.')
						nsh_strvec_push(&sub, de->d_name);
				closedir(d);
			}
			qsort(sub.v, sub.nr, sizeof(char *), str_cmp);
			for (size_t j = 0; j < sub.nr; j++) {
				char *rel = nsh_xasprintf("%s/%s", parent, sub.v[j]);

				add_local(dir, rel, out);
				free(rel);
			}
			nsh_strvec_release(&sub);
			free(parent);
		} else {
			add_local(dir, s, out);
		}
	}
	if (out->nr)
		qsort(out->v, out->nr, sizeof(char *), str_cmp);
}

/* Read and parse the manifest @dir/@rel into *@ret (a JSON object). */
static int read_manifest(const char *dir, const char *rel, struct nsh_buf *text, json_t **ret,
			 struct nsh_err *err)
{
	int rc;

	*ret = NULL;
	rc = nsh_below_read(dir, rel, text, NSH_RECIPE_MANIFEST_MAX, err);
	if (!rc && (rc = nsh_json_parse(text->buf, text->len, ret, err)))
		nsh_err_wrap(err, "'%s'", rel);
	if (!rc && !json_is_object(*ret))
		rc = nsh_err_set(err, NSH_EINVAL, "'%s' is not a JSON object", rel);
	if (rc) {
		json_decref(*ret);
		*ret = NULL;
	}
	return rc;
}

/* How manifest @pkg declares @dep: its section and range (borrowed); false when it does not. */
static bool declared(const json_t *pkg, const char *dep, const char **section, const char **range)
{
	for (size_t k = 0; k < NSECTIONS; k++) {
		json_t *d = json_object_get(json_object_get(pkg, sections[k]), dep);

		if (d) {
			*section = sections[k];
			*range = json_string_value(d);
			return true;
		}
	}
	return false;
}

/* Does manifest @pkg declare r->dependency with a range whose lowest version is in r->range? */
static bool declared_within(const struct nsh_recipe *r, const json_t *pkg)
{
	const char *section, *range;
	struct nsh_semver v;

	return declared(pkg, r->dependency, &section, &range) && range &&
	       nsh_semver_range_min(range, &v) && nsh_semver_satisfies(&v, r->range);
}

/* ---- edits ---- */

/* Edit the manifest @dir/@rel as @r says. */
static int edit_manifest(const struct nsh_recipe *r, const char *dir, const char *rel, bool dry_run,
			 bool scratch, struct nsh_recipe_result *res, struct nsh_err *err)
{
	struct nsh_buf orig = NSH_BUF_INIT, t = NSH_BUF_INIT;
	json_t *tree = NULL, *check = NULL;
	size_t before = res->nmedits;
	int rc;

	if ((rc = read_manifest(dir, rel, &orig, &tree, err)))
		goto out;
	nsh_buf_add(&t, orig.buf, orig.len);
	for (size_t i = 0; i < r->nmops; i++)
		if ((rc = apply_op(&r->mops[i], rel, &t, tree, res, err)))
			goto out;
	if (res->nmedits == before)
		goto out;
	if (nsh_json_parse(t.buf, t.len, &check, NULL) || !json_equal(check, tree))
		dump_like(tree, orig.buf, orig.len, &t);
	nsh_recipe_result_file(res, rel, orig.buf, orig.len, t.buf, t.len, 0);
	if (!dry_run)
		rc = nsh_below_write(dir, rel, t.buf, t.len, 0644, scratch ? 0 : NSH_BELOW_SYNC,
				     err);
out:
	json_decref(tree);
	json_decref(check);
	nsh_buf_release(&orig);
	nsh_buf_release(&t);
	return rc;
}

int nsh_recipe_manifest_apply(const struct nsh_recipe *r, const char *dir, bool dry_run,
			      bool scratch, struct nsh_recipe_result *res, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_strvec locals = NSH_STRVEC_INIT;
	json_t *pkg = NULL;
	struct stat st;
	int rc = 0;

	if (!r->nmops || nsh_below_lstat(dir, "package.json", &st))
		goto out;
	if ((rc = read_manifest(dir, "package.json", &b, &pkg, err)))
		goto out;
	if (r->has_applies)
		local_packages(dir, pkg, &locals);
	if ((rc = edit_manifest(r, dir, "package.json", dry_run, scratch, res, err)))
		goto out;
	/* local packages that declare the dependency within the recipe's range */
	for (size_t i = 0; i < locals.nr && !rc; i++) {
		char *rel = nsh_xasprintf("%s/package.json", locals.v[i]);
		json_t *lp = NULL;

		nsh_buf_reset(&b);
		if (!read_manifest(dir, rel, &b, &lp, NULL) && declared_within(r, lp))
			rc = edit_manifest(r, dir, rel, dry_run, scratch, res, err);
		json_decref(lp);
		free(rel);
	}
out:
	json_decref(pkg);
	nsh_strvec_release(&locals);
	nsh_buf_release(&b);
	return rc;
}

/* ---- applies ---- */

/* The version of @dep recorded in @dir/package-lock.json, or NULL. */
static char *locked_version(const char *dir, const char *dep)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *key, *res = NULL;
	json_t *lock = NULL;
	const char *v;

	key = nsh_xasprintf("node_modules/%s", dep);
	if (nsh_below_read(dir, "package-lock.json", &b, NSH_RECIPE_LOCKFILE_MAX, NULL) ||
	    nsh_json_parse_limits(b.buf, b.len, NSH_RECIPE_LOCKFILE_MAX, 64, &lock, NULL))
		goto out;
	v = json_string_value(json_object_get(
		json_object_get(json_object_get(lock, "packages"), key), "version"));
	if (!v)
		v = json_string_value(json_object_get(
			json_object_get(json_object_get(lock, "dependencies"), dep), "version"));
	if (v)
		res = nsh_xstrdup(v);
out:
	json_decref(lock);
	nsh_buf_release(&b);
	free(key);
	return res;
}

/*
 * When the root manifest @pkg does not make @r apply: the first local
 * package that declares the dependency within the range, as a reason, or
 * NULL.
 */
static char *local_reason(const struct nsh_recipe *r, const char *dir, const json_t *pkg)
{
	struct nsh_strvec locals = NSH_STRVEC_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	char *reason = NULL;

	local_packages(dir, pkg, &locals);
	for (size_t i = 0; i < locals.nr && !reason; i++) {
		char *rel = nsh_xasprintf("%s/package.json", locals.v[i]);
		const char *section, *range;
		json_t *lp = NULL;

		nsh_buf_reset(&b);
		if (!read_manifest(dir, rel, &b, &lp, NULL) && declared_within(r, lp) &&
		    declared(lp, r->dependency, &section, &range))
			reason = nsh_xasprintf("'%s' '%s' in the local package %s (%s) is within "
					       "'%s'",
					       r->dependency, range, rel, section, r->range);
		json_decref(lp);
		free(rel);
	}
	nsh_strvec_release(&locals);
	nsh_buf_release(&b);
	return reason;
}

int nsh_recipe_applies(const struct nsh_recipe *r, const char *dir, bool *ret, char **ret_reason,
		       struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *path = nsh_xasprintf("%s/package.json", dir), *reason = NULL, *locked = NULL;
	char *local = NULL;
	json_t *pkg = NULL;
	const char *range = NULL, *section = NULL;
	struct nsh_semver v;
	struct stat st;
	bool ok = false;
	int rc = 0;

	if (!r->has_applies) {
		ok = true;
		reason = nsh_xstrdup("the recipe names no dependency; it applies everywhere");
		goto done;
	}
	if (nsh_below_lstat(dir, "package.json", &st)) {
		reason = nsh_xasprintf("there is no package.json, so no '%s' dependency",
				       r->dependency);
		goto done;
	}
	if ((rc = nsh_below_read(dir, "package.json", &b, NSH_RECIPE_MANIFEST_MAX, err)))
		goto out;
	if ((rc = nsh_json_parse(b.buf, b.len, &pkg, err))) {
		nsh_err_wrap(err, "'%s'", path);
		goto out;
	}
	if (!declared(pkg, r->dependency, &section, &range)) {
		section = NULL;
		range = NULL;
	}
	if (!section) {
		reason = nsh_xasprintf("'%s' is not a dependency in package.json", r->dependency);
		goto done;
	}
	if (!range) {
		reason = nsh_xasprintf("'%s' in package.json %s is not a version string",
				       r->dependency, section);
		goto done;
	}
	if (nsh_semver_range_min(range, &v)) {
		ok = nsh_semver_satisfies(&v, r->range);
		reason = nsh_xasprintf("'%s' '%s' in package.json %s (from %ld.%ld.%ld) is %s '%s'",
				       r->dependency, range, section, v.major, v.minor, v.patch,
				       ok ? "within" : "outside", r->range);
		goto done;
	}
	locked = locked_version(dir, r->dependency);
	if (locked && nsh_semver_parse(locked, &v)) {
		ok = nsh_semver_satisfies(&v, r->range);
		reason = nsh_xasprintf("'%s' '%s' in package.json %s is locked at %s in "
				       "package-lock.json, %s '%s'",
				       r->dependency, range, section, locked,
				       ok ? "within" : "outside", r->range);
		goto done;
	}
	reason = nsh_xasprintf("cannot tell which version of '%s' '%s' (package.json %s) means, "
			       "and package-lock.json does not say",
			       r->dependency, range, section);
done:
	/* the root does not make it apply: a local package may */
	if (!ok && json_is_object(pkg) && (local = local_reason(r, dir, pkg))) {
		ok = true;
		free(reason);
		reason = local;
	}
	*ret = ok;
	*ret_reason = reason;
	reason = NULL;
out:
	free(reason);
	free(locked);
	json_decref(pkg);
	nsh_buf_release(&b);
	free(path);
	return rc;
}
