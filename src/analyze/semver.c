/*
 * npm semver versions and ranges; see analyze.h for what is accepted.
 *
 * A range is compiled into alternatives ("||"), each a list of primitive
 * comparators (<, <=, >, >=, =) on full versions, the way npm desugars
 * ^, ~, partial versions and hyphens. Upper bounds of the desugared forms
 * carry the prerelease "0" (npm's "<2.0.0-0"), so that 2.0.0-beta is
 * outside ^1.2.3 as it is in npm.
 */
#include "analyze/analyze.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#include "core/banned.h"

#define RANGE_MAX_BYTES 1024
#define NUM_MAX_DIGITS	15 /* keeps every part below 2^53, like JavaScript's numbers */

enum cmp_op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ };

struct comparator {
	enum cmp_op op;
	struct nsh_analyze_version v;
};

struct cset {
	struct comparator *c; /* all must hold */
	size_t nr, alloc;
	bool none; /* matches nothing (e.g. "<0.0.0-0") */
};

struct nsh_analyze_range {
	char *text; /* owned copy; prerelease views point into it */
	struct cset *sets;
	size_t nr, alloc;
};

/* A partial version: parts beyond @nparts are wildcards. */
struct partial {
	uint64_t p[3];
	int nparts; /* 0..3 numeric parts given */
	struct nsh_str pre;
};

static const char zero_pre[] = "0";

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_pre_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
	       c == '.';
}

static bool parse_num(const char **sp, uint64_t *ret)
{
	const char *s = *sp;
	uint64_t n = 0;
	int digits = 0;

	while (is_digit(*s)) {
		if (++digits > NUM_MAX_DIGITS)
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (!digits)
		return false;
	*sp = s;
	*ret = n;
	return true;
}

/* Prerelease and build after the numbers; @s points at '-' or '+' or elsewhere. */
static void parse_suffix(const char **sp, struct nsh_str *pre)
{
	const char *s = *sp;

	*pre = nsh_str_make(NULL, 0);
	if (*s == '-' && is_pre_char(s[1])) {
		const char *b = ++s;

		while (is_pre_char(*s))
			s++;
		*pre = nsh_str_make(b, (size_t)(s - b));
	}
	if (*s == '+' && is_pre_char(s[1])) {
		s++;
		while (is_pre_char(*s))
			s++;
	}
	*sp = s;
}

/*
 * A partial version at *@sp ("1", "1.2", "1.x", "1.2.*", "*", "x", "v1.2.3-rc.1");
 * stops at the first character that cannot continue it.
 */
static bool parse_partial(const char **sp, struct partial *ret)
{
	const char *s = *sp;

	memset(ret, 0, sizeof(*ret));
	if (*s == 'v' || *s == 'V' || *s == '=')
		s++;
	while (*s == ' ')
		s++;
	for (int i = 0; i < 3; i++) {
		if (*s == 'x' || *s == 'X' || *s == '*') {
			s++;
			/* everything after a wildcard is a wildcard too */
			while (*s == '.' &&
			       (s[1] == 'x' || s[1] == 'X' || s[1] == '*' || is_digit(s[1]))) {
				s++;
				while (*s == 'x' || *s == 'X' || *s == '*' || is_digit(*s))
					s++;
			}
			*sp = s;
			return true;
		}
		if (!parse_num(&s, &ret->p[i]))
			return i > 0 ? false : (*sp = s, true);
		ret->nparts = i + 1;
		if (i < 2) {
			if (*s != '.')
				break;
			s++;
		}
	}
	if (ret->nparts == 3)
		parse_suffix(&s, &ret->pre);
	*sp = s;
	return true;
}

bool nsh_analyze_version_parse(const char *s, struct nsh_analyze_version *ret)
{
	struct partial p;

	if (!s)
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!parse_partial(&s, &p) || p.nparts != 3)
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s)
		return false;
	ret->major = p.p[0];
	ret->minor = p.p[1];
	ret->patch = p.p[2];
	ret->pre = p.pre;
	return true;
}

/* Compare two dot-separated prerelease identifier lists (both non-empty). */
static int pre_cmp(struct nsh_str a, struct nsh_str b)
{
	size_t i = 0, j = 0;

	while (i < a.len && j < b.len) {
		size_t ie = i, je = j;
		bool an = true, bn = true;
		int c;

		for (; ie < a.len && a.p[ie] != '.'; ie++)
			an = an && is_digit(a.p[ie]);
		for (; je < b.len && b.p[je] != '.'; je++)
			bn = bn && is_digit(b.p[je]);
		an = an && ie > i;
		bn = bn && je > j;
		if (an && bn) {
			/* numerically: a longer digit string (without leading zeros) is larger */
			while (i < ie - 1 && a.p[i] == '0')
				i++;
			while (j < je - 1 && b.p[j] == '0')
				j++;
			if (ie - i != je - j)
				return ie - i < je - j ? -1 : 1;
			c = memcmp(a.p + i, b.p + j, ie - i);
		} else if (an != bn) {
			return an ? -1 : 1; /* numeric identifiers sort first */
		} else {
			size_t n = ie - i < je - j ? ie - i : je - j;

			c = memcmp(a.p + i, b.p + j, n);
			if (!c && ie - i != je - j)
				c = ie - i < je - j ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		i = ie + (ie < a.len);
		j = je + (je < b.len);
	}
	if (i < a.len)
		return 1;
	if (j < b.len)
		return -1;
	return 0;
}

int nsh_analyze_version_cmp(const struct nsh_analyze_version *a,
			    const struct nsh_analyze_version *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	if (!a->pre.len || !b->pre.len)
		return a->pre.len == b->pre.len ? 0 : (a->pre.len ? -1 : 1);
	return pre_cmp(a->pre, b->pre);
}

static void set_add(struct cset *s, enum cmp_op op, uint64_t ma, uint64_t mi, uint64_t pa,
		    struct nsh_str pre)
{
	NSH_ALLOC_GROW(s->c, s->nr + 1, s->alloc);
	s->c[s->nr].op = op;
	s->c[s->nr].v = (struct nsh_analyze_version){ma, mi, pa, pre};
	s->nr++;
}

static struct nsh_str zero(void)
{
	return nsh_str_make(zero_pre, 1);
}

static struct nsh_str none(void)
{
	return nsh_str_make(NULL, 0);
}

/* The exclusive upper bound "one past" a partial with @n parts, as "<X.Y.Z-0". */
static bool bump(const struct partial *p, int n, struct cset *s)
{
	if (n <= 0) {
		return false; /* "*": no bound */
	} else if (n == 1) {
		set_add(s, OP_LT, p->p[0] + 1, 0, 0, zero());
	} else if (n == 2) {
		set_add(s, OP_LT, p->p[0], p->p[1] + 1, 0, zero());
	} else {
		set_add(s, OP_LT, p->p[0], p->p[1], p->p[2] + 1, zero());
	}
	return true;
}

static void lower(const struct partial *p, struct cset *s)
{
	if (p->nparts == 0)
		return;
	set_add(s, OP_GE, p->p[0], p->nparts > 1 ? p->p[1] : 0, p->nparts > 2 ? p->p[2] : 0,
		p->nparts > 2 ? p->pre : none());
}

/* Desugar one comparator "OP PARTIAL" (op may be "", "^", "~", "<", ...). */
static void desugar(const char *op, const struct partial *p, struct cset *s)
{
	int n = p->nparts;

	if (!strcmp(op, "^")) {
		lower(p, s);
		if (n == 0)
			return;
		if (p->p[0] > 0 || n == 1)
			bump(p, 1, s);
		else if (n == 2 || p->p[1] > 0)
			bump(p, 2, s);
		else
			bump(p, 3, s);
	} else if (!strcmp(op, "~")) {
		lower(p, s);
		bump(p, n >= 2 ? 2 : n, s);
	} else if (!strcmp(op, "") || !strcmp(op, "=")) {
		if (n == 3) {
			set_add(s, OP_EQ, p->p[0], p->p[1], p->p[2], p->pre);
		} else {
			lower(p, s);
			bump(p, n, s);
		}
	} else if (!strcmp(op, ">=")) {
		lower(p, s);
	} else if (!strcmp(op, "<")) {
		if (n == 0)
			s->none = true;
		else
			set_add(s, OP_LT, p->p[0], n > 1 ? p->p[1] : 0, n > 2 ? p->p[2] : 0,
				n > 2 ? p->pre : zero());
	} else if (!strcmp(op, ">")) {
		if (n == 0)
			s->none = true;
		else if (n == 3)
			set_add(s, OP_GT, p->p[0], p->p[1], p->p[2], p->pre);
		else if (n == 2)
			set_add(s, OP_GE, p->p[0], p->p[1] + 1, 0, none());
		else
			set_add(s, OP_GE, p->p[0] + 1, 0, 0, none());
	} else if (!strcmp(op, "<=")) {
		if (n == 3)
			set_add(s, OP_LE, p->p[0], p->p[1], p->p[2], p->pre);
		else
			bump(p, n, s);
	}
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Parse one alternative from @s up to "||" or the end; *@sp moves past it. */
static bool parse_set(const char **sp, struct cset *set)
{
	const char *s = skip_ws(*sp);
	struct partial a, b;
	const char *t;

	/* hyphen range: PARTIAL - PARTIAL */
	t = s;
	if (parse_partial(&t, &a) && t != s) {
		const char *h = skip_ws(t);

		if (h != t && *h == '-' && (h[1] == ' ' || h[1] == '\t')) {
			h = skip_ws(h + 1);
			if (!parse_partial(&h, &b) || !b.nparts)
				return false;
			h = skip_ws(h);
			if (*h && strncmp(h, "||", 2))
				return false;
			lower(&a, set);
			if (b.nparts == 3)
				set_add(set, OP_LE, b.p[0], b.p[1], b.p[2], b.pre);
			else
				bump(&b, b.nparts, set);
			*sp = h;
			return true;
		}
	}
	while (*s && strncmp(s, "||", 2)) {
		char op[3] = "";
		struct partial p;
		const char *before;

		if (*s == '^' || *s == '~') {
			op[0] = *s++;
			if (*s == '>')
				s++; /* "~>" is npm's alias of "~" */
		} else if (*s == '<' || *s == '>') {
			op[0] = *s++;
			if (*s == '=')
				op[1] = *s++;
		} else if (*s == '=') {
			op[0] = *s++;
		}
		s = skip_ws(s);
		before = s;
		if (!parse_partial(&s, &p))
			return false;
		if (s == before)
			return false; /* no version: "latest", or an operator alone */
		if (*s && *s != ' ' && *s != '\t' && strncmp(s, "||", 2))
			return false;
		desugar(op, &p, set);
		s = skip_ws(s);
	}
	*sp = s;
	return true;
}

void nsh_analyze_range_free(struct nsh_analyze_range *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nr; i++)
		free(r->sets[i].c);
	free(r->sets);
	free(r->text);
	free(r);
}

int nsh_analyze_range_parse(const char *text, struct nsh_analyze_range **ret, struct nsh_err *err)
{
	struct nsh_analyze_range *r;
	const char *s;

	if (strlen(text) > RANGE_MAX_BYTES)
		return nsh_err_set(err, NSH_EINVAL, "version range longer than %d bytes",
				   RANGE_MAX_BYTES);
	r = nsh_xcalloc(1, sizeof(*r));
	r->text = nsh_xstrdup(text);
	for (char *p = r->text; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	s = r->text;
	for (;;) {
		NSH_ALLOC_GROW(r->sets, r->nr + 1, r->alloc);
		memset(&r->sets[r->nr], 0, sizeof(r->sets[0]));
		r->nr++;
		if (!parse_set(&s, &r->sets[r->nr - 1])) {
			nsh_analyze_range_free(r);
			return nsh_err_set(err, NSH_EINVAL, "invalid version range '%s'", text);
		}
		if (!*s)
			break;
		s += 2; /* "||" */
	}
	*ret = r;
	return 0;
}

static bool comp_match(const struct comparator *c, const struct nsh_analyze_version *v)
{
	int d = nsh_analyze_version_cmp(v, &c->v);

	switch (c->op) {
	case OP_LT:
		return d < 0;
	case OP_LE:
		return d <= 0;
	case OP_GT:
		return d > 0;
	case OP_GE:
		return d >= 0;
	case OP_EQ:
		return d == 0;
	}
	return false;
}

static bool set_match(const struct cset *s, const struct nsh_analyze_version *v)
{
	if (s->none)
		return false;
	for (size_t i = 0; i < s->nr; i++)
		if (!comp_match(&s->c[i], v))
			return false;
	return true;
}

bool nsh_analyze_range_match(const struct nsh_analyze_range *r, const struct nsh_analyze_version *v)
{
	for (size_t i = 0; i < r->nr; i++)
		if (set_match(&r->sets[i], v))
			return true;
	return false;
}

bool nsh_analyze_range_min(const struct nsh_analyze_range *r, struct nsh_analyze_version *ret)
{
	struct nsh_analyze_version best = {0};
	bool found = false;

	for (size_t i = 0; i < r->nr; i++) {
		const struct cset *s = &r->sets[i];
		struct nsh_analyze_version cand = {0, 0, 0, {NULL, 0}};

		for (size_t j = 0; j < s->nr; j++) {
			const struct comparator *c = &s->c[j];
			struct nsh_analyze_version v = c->v;

			if (c->op == OP_GT) {
				/* the next version after v */
				if (v.pre.len)
					v.pre = none(); /* v without its prerelease is above v */
				else
					v.patch++;
			} else if (c->op != OP_GE && c->op != OP_EQ) {
				continue;
			}
			if (nsh_analyze_version_cmp(&v, &cand) > 0)
				cand = v;
		}
		if (!set_match(s, &cand))
			continue;
		if (!found || nsh_analyze_version_cmp(&cand, &best) < 0)
			best = cand;
		found = true;
	}
	if (found)
		*ret = best;
	return found;
}

int nsh_analyze_satisfies(const char *version, const char *range)
{
	struct nsh_analyze_range *r = NULL;
	struct nsh_analyze_version v;
	int ok;

	if (!nsh_analyze_version_parse(version, &v) || nsh_analyze_range_parse(range, &r, NULL))
		return -1;
	ok = nsh_analyze_range_match(r, &v) ? 1 : 0;
	nsh_analyze_range_free(r);
	return ok;
}
