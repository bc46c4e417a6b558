/*
 * Finding API usages in JavaScript and TypeScript without a parser.
 *
 * The input is either the lines git grep matched (the fast path: every
 * line naming an API or the package) or a whole file. A first pass marks
 * each byte as code, string or comment (quotes, template literals with
 * nested ${...}, regular expression literals after an operator, line and
 * block comments) and records the quoted string literals. Then:
 *
 *   1. every literal naming the package ("lodash", "lodash/pluck",
 *      "lodash/array/chunk", "lodash.pluck") inside require(...),
 *      import(...), "from '...'" or a bare "import '...'" is looked at
 *      backwards: what it binds (an alias for the package, destructured
 *      names, or a local name for one API) and, for module paths, a usage;
 *   2. every identifier in code that is an API name after '.' is walked
 *      backwards to its root: an alias ("_.pluck", "lodash.pluck"), a
 *      call of an alias or ".chain(...)" on one ("_(x).map(f).pluck"), or
 *      require('lodash'); every call of a bound local name is a usage.
 *
 * In grep mode no walk may leave its line. When an import needs more than
 * its line (a destructuring over several lines, a binding that renames an
 * API, so that its calls do not contain the API name) the caller is told
 * to scan the whole file instead.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define WALK_BACK   ((ptrdiff_t)4096) /* how far back a walk may go (long lines too) */
#define MAX_BINDS   256		      /* bound local names followed per file */
#define MAX_ALIASES 64		      /* aliases of the package followed per file */
#define TEXT_MAX    80		      /* longest "text" of a usage */
#define TPL_DEPTH   16		      /* nested template literals followed */

enum { M_CODE = 0, M_STR = 1, M_COMMENT = 2 };

struct lit {
	ptrdiff_t b, e; /* opening and closing quote */
};

struct line_start {
	ptrdiff_t off; /* offset of the line's first byte */
	int line;      /* its number */
};

struct bind {
	char *local;	    /* local name */
	size_t api;	    /* API it stands for */
	ptrdiff_t from, to; /* the declaration, where it is not a call */
};

struct scan {
	const struct nsh_analyze_js *js;
	const char *t;
	ptrdiff_t len;
	unsigned char *mask;
	struct lit *lits;
	size_t nlits, alits;
	struct line_start *lines;
	size_t nlines;
	bool full;
	bool need_full;
	struct bind *binds;
	size_t nbinds, abinds;
	struct nsh_strvec aliases;
	size_t *order; /* API indices sorted by name */
	struct nsh_analyze_js_hits *out;
};

static bool is_id(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

static bool is_id_start(char c)
{
	return is_id(c) && !(c >= '0' && c <= '9');
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* --- where things are --------------------------------------------------- */

static size_t line_index(const struct scan *s, ptrdiff_t pos)
{
	size_t lo = 0, hi = s->nlines;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->lines[mid].off <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The lowest offset a backward walk from @pos may reach: never more than
 * WALK_BACK bytes back (a minified line must not make every walk long),
 * and in grep mode never before the line's start.
 */
static ptrdiff_t floor_of(const struct scan *s, ptrdiff_t pos)
{
	ptrdiff_t f = pos > WALK_BACK ? pos - WALK_BACK : 0;

	if (!s->full && s->lines[line_index(s, pos)].off > f)
		f = s->lines[line_index(s, pos)].off;
	return f;
}

/* --- the code / string / comment mask ----------------------------------- */

static bool regex_may_follow(char prev)
{
	return !prev || strchr("(,=:[!&|?{};+-*%<>~^", prev);
}

static void add_lit(struct scan *s, ptrdiff_t b, ptrdiff_t e)
{
	NSH_ALLOC_GROW(s->lits, s->nlits + 1, s->alits);
	s->lits[s->nlits].b = b;
	s->lits[s->nlits].e = e;
	s->nlits++;
}

/* Mark [from, to) starting in code. */
static void mask_span(struct scan *s, ptrdiff_t from, ptrdiff_t to)
{
	enum { CODE, SQ, DQ, TPL, LINE, BLOCK, REGEX } st = CODE;
	int braces[TPL_DEPTH];
	int tdepth = 0;
	bool in_class = false;
	ptrdiff_t lit = 0;
	char prev = 0;
	const char *t = s->t;

	for (ptrdiff_t i = from; i < to; i++) {
		char c = t[i], n = i + 1 < to ? t[i + 1] : '\0';

		switch (st) {
		case CODE:
			if (c == '/' && n == '/') {
				st = LINE;
				s->mask[i] = M_COMMENT;
			} else if (c == '/' && n == '*') {
				st = BLOCK;
				s->mask[i] = s->mask[i + 1] = M_COMMENT;
				i++;
			} else if (c == '\'' || c == '"') {
				st = c == '\'' ? SQ : DQ;
				lit = i;
				s->mask[i] = M_STR;
			} else if (c == '`') {
				st = TPL;
				s->mask[i] = M_STR;
			} else if (c == '/' && regex_may_follow(prev)) {
				st = REGEX;
				in_class = false;
				s->mask[i] = M_STR;
			} else if (tdepth && c == '}' && !braces[tdepth - 1]) {
				tdepth--;
				st = TPL;
				s->mask[i] = M_STR;
			} else {
				if (tdepth && c == '{')
					braces[tdepth - 1]++;
				else if (tdepth && c == '}')
					braces[tdepth - 1]--;
				s->mask[i] = M_CODE;
				if (!is_space(c))
					prev = is_id(c) || c == ')' || c == ']' ? 'a' : c;
			}
			break;
		case SQ:
		case DQ:
			s->mask[i] = M_STR;
			if (c == '\\' && i + 1 < to && n != '\n') {
				s->mask[++i] = M_STR;
			} else if (c == (st == SQ ? '\'' : '"')) {
				add_lit(s, lit, i);
				st = CODE;
				prev = 'a';
			} else if (c == '\n') {
				st = CODE; /* unterminated: give up on it */
				s->mask[i] = M_CODE;
			}
			break;
		case TPL:
			s->mask[i] = M_STR;
			if (c == '\\' && i + 1 < to) {
				s->mask[++i] = M_STR;
			} else if (c == '`') {
				st = CODE;
				prev = 'a';
			} else if (c == '$' && n == '{' && tdepth < TPL_DEPTH) {
				s->mask[++i] = M_STR;
				braces[tdepth++] = 0;
				st = CODE;
				prev = 0;
			}
			break;
		case LINE:
			if (c == '\n') {
				st = CODE;
				s->mask[i] = M_CODE;
			} else {
				s->mask[i] = M_COMMENT;
			}
			break;
		case BLOCK:
			s->mask[i] = M_COMMENT;
			if (c == '*' && n == '/') {
				s->mask[++i] = M_COMMENT;
				st = CODE;
			}
			break;
		case REGEX:
			s->mask[i] = M_STR;
			if (c == '\\' && i + 1 < to && n != '\n') {
				s->mask[++i] = M_STR;
			} else if (c == '[') {
				in_class = true;
			} else if (c == ']') {
				in_class = false;
			} else if (c == '/' && !in_class) {
				st = CODE;
				prev = 'a';
			} else if (c == '\n') {
				st = CODE; /* it was a division after all */
				s->mask[i] = M_CODE;
			}
			break;
		}
	}
}

/*
 * One grep line on its own: a line that starts with '*' is taken to be
 * inside a block comment (a JSDoc line) up to a closing star-slash.
 */
static void mask_line(struct scan *s, ptrdiff_t from, ptrdiff_t to)
{
	ptrdiff_t i = from;

	while (i < to && (s->t[i] == ' ' || s->t[i] == '\t'))
		i++;
	if (i < to && s->t[i] == '*') {
		const char *end = memmem(s->t + i, (size_t)(to - i), "*/", 2);
		ptrdiff_t code = end ? end - s->t + 2 : to;

		memset(s->mask + from, M_COMMENT, (size_t)(code - from));
		from = code;
	}
	if (from < to)
		mask_span(s, from, to);
}

/* --- walking backwards over code ---------------------------------------- */

/* The last code byte at or before @i that is not white space; < @floor when none. */
static ptrdiff_t back_ws(const struct scan *s, ptrdiff_t i, ptrdiff_t floor)
{
	while (i >= floor &&
	       (s->mask[i] == M_COMMENT || (s->mask[i] == M_CODE && is_space(s->t[i]))))
		i--;
	return i;
}

/* The first byte at or after @i that is code and not white space; @to when none. */
static ptrdiff_t fwd_ws(const struct scan *s, ptrdiff_t i, ptrdiff_t to)
{
	while (i < to && (s->mask[i] == M_COMMENT || (s->mask[i] == M_CODE && is_space(s->t[i]))))
		i++;
	return i;
}

/* The start of the identifier that ends at @i (a code byte); -1 when none. */
static ptrdiff_t ident_back(const struct scan *s, ptrdiff_t i, ptrdiff_t floor)
{
	ptrdiff_t b = i;

	if (i < floor || s->mask[i] != M_CODE || !is_id(s->t[i]))
		return -1;
	while (b - 1 >= floor && s->mask[b - 1] == M_CODE && is_id(s->t[b - 1]))
		b--;
	return is_id_start(s->t[b]) ? b : -1;
}

/* The @open matching the @close at @i, over code only; -1 when not found above @floor. */
static ptrdiff_t match_back(const struct scan *s, ptrdiff_t i, char open, char close,
			    ptrdiff_t floor)
{
	int depth = 0;

	for (ptrdiff_t j = i; j >= floor; j--) {
		if (s->mask[j] != M_CODE)
			continue;
		if (s->t[j] == close) {
			depth++;
		} else if (s->t[j] == open && --depth == 0) {
			return j;
		}
	}
	return -1;
}

static bool word_is(const struct scan *s, ptrdiff_t b, ptrdiff_t e, const char *w)
{
	size_t n = strlen(w);

	return b >= 0 && e <= s->len && (size_t)(e - b) == n && !memcmp(s->t + b, w, n);
}

/* --- names -------------------------------------------------------------- */

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct scan *s = arg;

	return strcmp(s->js->apis[*(const size_t *)a], s->js->apis[*(const size_t *)b]);
}

/* The index of API [b, e); -1 when it is none. A binary search over order. */
static long api_of(const struct scan *s, ptrdiff_t b, ptrdiff_t e)
{
	size_t lo = 0, hi = s->js->napis, n = (size_t)(e - b);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *name = s->js->apis[s->order[mid]];
		size_t nn = strlen(name);
		int c = memcmp(s->t + b, name, n < nn ? n : nn);

		if (!c)
			c = n < nn ? -1 : n > nn;
		if (!c)
			return (long)s->order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* API whose name equals [p, p+n) ignoring case (per-method packages are lower case). */
static long api_nocase(const struct scan *s, const char *p, size_t n)
{
	for (size_t i = 0; i < s->js->napis; i++)
		if (strlen(s->js->apis[i]) == n && !strncasecmp(s->js->apis[i], p, n))
			return (long)i;
	return -1;
}

static long api_exact(const struct scan *s, const char *p, size_t n)
{
	for (size_t i = 0; i < s->js->napis; i++)
		if (strlen(s->js->apis[i]) == n && !memcmp(s->js->apis[i], p, n))
			return (long)i;
	return -1;
}

static bool is_alias(const struct scan *s, ptrdiff_t b, ptrdiff_t e)
{
	for (size_t i = 0; i < s->js->nglobals; i++)
		if (word_is(s, b, e, s->js->globals[i]))
			return true;
	for (size_t i = 0; i < s->aliases.nr; i++)
		if (word_is(s, b, e, s->aliases.v[i]))
			return true;
	return false;
}

static void add_alias(struct scan *s, ptrdiff_t b, ptrdiff_t e)
{
	char *a = nsh_xmemdup(s->t + b, (size_t)(e - b));

	if (s->aliases.nr < MAX_ALIASES && nsh_strvec_find(&s->aliases, a) < 0)
		nsh_strvec_push(&s->aliases, a);
	free(a);
}

static void add_bind(struct scan *s, ptrdiff_t b, ptrdiff_t e, size_t api, ptrdiff_t from,
		     ptrdiff_t to)
{
	struct bind *x;

	if (s->nbinds >= MAX_BINDS)
		return;
	NSH_ALLOC_GROW(s->binds, s->nbinds + 1, s->abinds);
	x = &s->binds[s->nbinds++];
	x->local = nsh_xmemdup(s->t + b, (size_t)(e - b));
	x->api = api;
	x->from = from;
	x->to = to;
	/* calls of a renamed local do not contain the API name: grep missed them */
	if (strcmp(x->local, s->js->apis[api]))
		s->need_full = true;
}

/* --- usages ------------------------------------------------------------- */

/* Text of [b, e) with white space runs as one space, at most TEXT_MAX bytes. */
static char *snippet(const struct scan *s, ptrdiff_t b, ptrdiff_t e)
{
	struct nsh_buf out = NSH_BUF_INIT;
	bool space = false;

	for (ptrdiff_t i = b; i < e; i++) {
		char c = s->t[i];

		if (is_space(c)) {
			space = true;
			continue;
		}
		if (space && out.len)
			nsh_buf_addch(&out, ' ');
		space = false;
		nsh_buf_addch(&out, c);
	}
	if (out.len > TEXT_MAX) {
		/* keep the end, where the API name is */
		size_t cut = out.len - (TEXT_MAX - 3);

		memmove(out.buf + 3, out.buf + cut, out.len - cut + 1);
		memcpy(out.buf, "...", 3);
		out.len = TEXT_MAX;
	}
	return nsh_buf_detach(&out, NULL);
}

static void add_hit(struct scan *s, size_t api, ptrdiff_t pos, enum nsh_analyze_form form,
		    char *text)
{
	size_t li = line_index(s, pos);
	struct nsh_analyze_js_hit *h;

	NSH_ALLOC_GROW(s->out->v, s->out->nr + 1, s->out->alloc);
	h = &s->out->v[s->out->nr++];
	h->api = api;
	h->line = s->lines[li].line;
	h->column = (int)(pos - s->lines[li].off) + 1;
	h->form = form;
	h->text = text;
}

/* --- imports ------------------------------------------------------------ */

/*
 * The names between braces [open+1, close): "a, b as c, type d" (ES) or
 * "a, b: c, d = 1, ...e" (destructuring). Each API gets a usage and a
 * binding whose declaration spans [@open, @decl_end].
 */
static void take_names(struct scan *s, ptrdiff_t open, ptrdiff_t close, ptrdiff_t decl_end)
{
	ptrdiff_t i = open + 1;

	while (i < close) {
		ptrdiff_t nb, ne, lb = -1, le = -1, entry_end;
		long api;

		i = fwd_ws(s, i, close);
		if (i >= close)
			break;
		entry_end = i;
		while (entry_end < close &&
		       !(s->mask[entry_end] == M_CODE && s->t[entry_end] == ','))
			entry_end++;
		nb = i;
		if (word_is(s, nb, nb + 4, "type") && nb + 4 < entry_end && is_space(s->t[nb + 4]))
			nb = fwd_ws(s, nb + 4, entry_end);
		ne = nb;
		while (ne < entry_end && is_id(s->t[ne]))
			ne++;
		if (ne > nb && is_id_start(s->t[nb])) {
			ptrdiff_t k = fwd_ws(s, ne, entry_end);

			if (k < entry_end && s->t[k] == ':') {
				lb = fwd_ws(s, k + 1, entry_end);
			} else if (word_is(s, k, k + 2, "as") && k + 2 < entry_end) {
				lb = fwd_ws(s, k + 2, entry_end);
			}
			if (lb >= 0) {
				le = lb;
				while (le < entry_end && is_id(s->t[le]))
					le++;
				if (le == lb || !is_id_start(s->t[lb]))
					lb = -1; /* a nested pattern: no simple local */
			} else {
				lb = nb;
				le = ne;
			}
			api = api_exact(s, s->t + nb, (size_t)(ne - nb));
			if (api >= 0) {
				char *inner = snippet(s, i, entry_end);
				char *text = nsh_xasprintf("{ %s }", inner);

				free(inner);
				add_hit(s, (size_t)api, nb, NSH_ANALYZE_FORM_DESTRUCTURED, text);
				if (lb >= 0)
					add_bind(s, lb, le, (size_t)api, open, decl_end);
			}
		}
		i = entry_end + 1;
	}
}

/*
 * What the import/require ending at the literal @l binds: @before is the
 * last code byte before "require(" or "from". @root: the literal names the
 * package itself; else @api is the API a module path names.
 */
static void take_binding(struct scan *s, ptrdiff_t before, bool is_from, bool root, long api,
			 const struct lit *l)
{
	ptrdiff_t floor = floor_of(s, l->b);
	ptrdiff_t j = back_ws(s, before, floor), b;

	if (j < floor) {
		if (!s->full)
			s->need_full = true; /* the statement starts on an earlier line */
		return;
	}
	if (!is_from) {
		/* "X = require(...)", "{ a, b } = require(...)" */
		if (s->t[j] != '=' || (j > floor && strchr("=!<>", s->t[j - 1])))
			return;
		j = back_ws(s, j - 1, floor);
		if (j < floor) {
			if (!s->full)
				s->need_full = true;
			return;
		}
	}
	if (s->t[j] == '}') {
		ptrdiff_t open = match_back(s, j, '{', '}', floor);

		if (open < 0) {
			if (!s->full)
				s->need_full = true;
			return;
		}
		if (root)
			take_names(s, open, j, l->e);
		if (is_from) {
			/* "import X, { a } from": X is an alias */
			ptrdiff_t k = back_ws(s, open - 1, floor);

			if (k >= floor && s->t[k] == ',') {
				k = back_ws(s, k - 1, floor);
				b = ident_back(s, k, floor);
				if (b >= 0 && root)
					add_alias(s, b, k + 1);
			}
		}
		return;
	}
	b = ident_back(s, j, floor);
	if (b < 0)
		return;
	if (!is_from) {
		ptrdiff_t k = back_ws(s, b - 1, floor);

		if (k >= floor && s->t[k] == '.')
			return; /* "module.exports = require(...)" binds nothing */
	}
	/* "import * as X from", "import X from", "import X = require(...)" */
	if (root)
		add_alias(s, b, j + 1);
	else if (api >= 0)
		add_bind(s, b, j + 1, (size_t)api, b, l->e);
}

/* A string literal that may name the package or one of its modules. */
static void take_literal(struct scan *s, const struct lit *l)
{
	const char *dep = s->js->dep, *c = s->t + l->b + 1;
	size_t dn = strlen(dep), n = (size_t)(l->e - l->b - 1);
	ptrdiff_t floor = floor_of(s, l->b), j, k, b;
	enum nsh_analyze_form form = NSH_ANALYZE_FORM_MODULE;
	bool root = false, is_from = false;
	long api = -1;

	if (n < dn || memcmp(c, dep, dn))
		return;
	if (n == dn) {
		root = true;
	} else if (c[dn] == '/') {
		const char *rest = c + dn + 1, *slash;
		size_t rn = n - dn - 1;

		if (rn > 3 && !memcmp(rest + rn - 3, ".js", 3))
			rn -= 3;
		slash = memchr(rest, '/', rn);
		if (slash) {
			size_t tail = rn - (size_t)(slash + 1 - rest);

			if (memchr(slash + 1, '/', tail))
				return; /* deeper paths are no API */
			form = NSH_ANALYZE_FORM_CATEGORY;
			api = api_exact(s, slash + 1, tail);
		} else {
			api = api_exact(s, rest, rn);
		}
		if (api < 0)
			return;
	} else if (c[dn] == '.') {
		form = NSH_ANALYZE_FORM_PACKAGE;
		api = api_nocase(s, c + dn + 1, n - dn - 1);
		if (api < 0)
			return;
	} else {
		return;
	}

	/* what is the literal in? */
	j = back_ws(s, l->b - 1, floor);
	if (j < floor)
		return;
	if (s->t[j] == '(') {
		k = back_ws(s, j - 1, floor);
		b = ident_back(s, k, floor);
		if (b < 0)
			return;
		if (word_is(s, b, k + 1, "import")) {
			if (!root)
				add_hit(s, (size_t)api, l->b + 1, form, nsh_xmemdup(c, n));
			return;
		}
		if (!word_is(s, b, k + 1, "require"))
			return;
		if (!root)
			add_hit(s, (size_t)api, l->b + 1, form, nsh_xmemdup(c, n));
		take_binding(s, b - 1, false, root, api, l);
		return;
	}
	b = ident_back(s, j, floor);
	if (b < 0)
		return;
	if (word_is(s, b, j + 1, "import")) {
		if (!root)
			add_hit(s, (size_t)api, l->b + 1, form, nsh_xmemdup(c, n));
		return;
	}
	if (!word_is(s, b, j + 1, "from"))
		return;
	is_from = true;
	if (!root)
		add_hit(s, (size_t)api, l->b + 1, form, nsh_xmemdup(c, n));
	take_binding(s, b - 1, is_from, root, api, l);
}

/* --- member and chain usages -------------------------------------------- */

/* Does the argument list (open, close) hold just the literal naming the package? */
static bool args_name_package(const struct scan *s, ptrdiff_t open, ptrdiff_t close)
{
	ptrdiff_t a = fwd_ws(s, open + 1, close), z = back_ws(s, close - 1, open + 1);
	size_t dn = strlen(s->js->dep), lo = 0, hi = s->nlits;

	/* literals are recorded in text order: a binary search for one starting at a */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->lits[mid].b < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nlits && s->lits[lo].b == a && s->lits[lo].e == z &&
	       (size_t)(z - a - 1) == dn && !memcmp(s->t + a + 1, s->js->dep, dn);
}

/* The API name at [b, e) follows '.' at @dot: is it reached through the package? */
static void take_member(struct scan *s, size_t api, ptrdiff_t dot, ptrdiff_t b, ptrdiff_t e)
{
	ptrdiff_t floor = floor_of(s, dot), i = back_ws(s, dot - 1, floor), rb;
	ptrdiff_t near_b = -1, near_e = -1;
	bool called = false;
	int steps = 0;
	enum nsh_analyze_form form;

	for (;;) {
		if (i < floor)
			return;
		if (s->t[i] == ')') {
			ptrdiff_t open = match_back(s, i, '(', ')', floor), k, m;

			if (open < 0)
				return;
			k = back_ws(s, open - 1, floor);
			rb = ident_back(s, k, floor);
			if (rb < 0)
				return;
			if (word_is(s, rb, k + 1, "require")) {
				if (!args_name_package(s, open, i))
					return;
				break; /* require('lodash').pluck */
			}
			m = back_ws(s, rb - 1, floor);
			if (m >= floor && s->t[m] == '.') {
				steps++;
				near_b = rb;
				near_e = k + 1;
				if (m - 1 >= floor && s->t[m - 1] == '?')
					m--;
				i = back_ws(s, m - 1, floor);
				continue;
			}
			if (!is_alias(s, rb, k + 1))
				return;
			called = true;
			break;
		}
		rb = ident_back(s, i, floor);
		if (rb < 0)
			return;
		{
			ptrdiff_t m = back_ws(s, rb - 1, floor);

			if (m >= floor && s->t[m] == '.' &&
			    !(m - 2 >= floor && s->t[m - 1] == '.' && s->t[m - 2] == '.'))
				return; /* "a.b.pluck": not a root we know ("...a" is a spread) */
		}
		if (!is_alias(s, rb, i + 1))
			return;
		break;
	}
	if (called)
		form = NSH_ANALYZE_FORM_CHAIN;
	else if (!steps)
		form = NSH_ANALYZE_FORM_MEMBER;
	else if (word_is(s, near_b, near_e, "chain"))
		form = NSH_ANALYZE_FORM_CHAIN;
	else
		return; /* "_.map(x).pluck": a method of the result, not of the package */
	add_hit(s, api, b, form, snippet(s, rb, e));
}

static bool in_decl(const struct scan *s, ptrdiff_t pos)
{
	for (size_t i = 0; i < s->nbinds; i++)
		if (pos >= s->binds[i].from && pos <= s->binds[i].to)
			return true;
	return false;
}

/* Every identifier in code: API names after '.', calls of bound names. */
static void take_identifiers(struct scan *s)
{
	ptrdiff_t i = 0;

	while (i < s->len) {
		ptrdiff_t b, e, d;

		if (s->mask[i] != M_CODE || !is_id_start(s->t[i]) ||
		    (i > 0 && s->mask[i - 1] == M_CODE && is_id(s->t[i - 1]))) {
			i++;
			continue;
		}
		b = i;
		e = b;
		while (e < s->len && s->mask[e] == M_CODE && is_id(s->t[e]))
			e++;
		i = e;
		d = b - 1;
		if (d >= 0 && s->mask[d] == M_CODE && s->t[d] == '.') {
			long api = api_of(s, b, e);

			if (api >= 0 && !(d > 0 && s->t[d - 1] == '.')) /* not "...spread" */
				take_member(s, (size_t)api, d > 0 && s->t[d - 1] == '?' ? d - 1 : d,
					    b, e);
			continue;
		}
		for (size_t k = 0; k < s->nbinds; k++) {
			ptrdiff_t p, q, fl;

			if (!word_is(s, b, e, s->binds[k].local) || in_decl(s, b))
				continue;
			p = fwd_ws(s, e, s->len);
			if (p >= s->len || s->t[p] != '(')
				break;
			fl = floor_of(s, b);
			q = back_ws(s, b - 1, fl);
			if (q >= fl && word_is(s, ident_back(s, q, fl), q + 1, "function"))
				break; /* a local function of the same name */
			add_hit(s, s->binds[k].api, b, NSH_ANALYZE_FORM_CALL,
				nsh_xasprintf("%s(", s->binds[k].local));
			break;
		}
	}
}

/* --- driver ------------------------------------------------------------- */

static int cmp_hit(const void *a, const void *b)
{
	const struct nsh_analyze_js_hit *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

void nsh_analyze_js_hits_release(struct nsh_analyze_js_hits *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nr; i++)
		free(h->v[i].text);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static void run(struct scan *s)
{
	size_t first = s->out->nr;

	s->order = nsh_xcalloc(s->js->napis ? s->js->napis : 1, sizeof(size_t));
	for (size_t i = 0; i < s->js->napis; i++)
		s->order[i] = i;
	qsort_r(s->order, s->js->napis, sizeof(size_t), cmp_order, s);
	for (size_t i = 0; i < s->nlits; i++)
		take_literal(s, &s->lits[i]);
	take_identifiers(s);
	if (s->out->nr > first)
		qsort(s->out->v + first, s->out->nr - first, sizeof(s->out->v[0]), cmp_hit);
	for (size_t i = 0; i < s->nbinds; i++)
		free(s->binds[i].local);
	free(s->binds);
	free(s->order);
	free(s->lits);
	free(s->lines);
	free(s->mask);
	nsh_strvec_release(&s->aliases);
}

void nsh_analyze_js_scan_text(const struct nsh_analyze_js *js, const char *text, size_t len,
			      struct nsh_analyze_js_hits *out)
{
	struct scan s = {.js = js, .t = text, .len = (ptrdiff_t)len, .full = true, .out = out};
	size_t nl = 1;

	nsh_strvec_init(&s.aliases);
	for (size_t i = 0; i < len; i++)
		nl += text[i] == '\n';
	s.lines = nsh_xcalloc(nl, sizeof(*s.lines));
	s.lines[0] = (struct line_start){0, 1};
	s.nlines = 1;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n') {
			s.lines[s.nlines].off = (ptrdiff_t)i + 1;
			s.lines[s.nlines].line = (int)s.nlines + 1;
			s.nlines++;
		}
	s.mask = nsh_xcalloc(len ? len : 1, 1);
	mask_span(&s, 0, s.len);
	run(&s);
}

void nsh_analyze_js_scan_lines(const struct nsh_analyze_js *js,
			       const struct nsh_analyze_js_line *lines, size_t n,
			       struct nsh_analyze_js_hits *out, bool *need_full)
{
	struct scan s = {.js = js, .full = false, .out = out};
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_strvec_init(&s.aliases);
	s.lines = nsh_xcalloc(n ? n : 1, sizeof(*s.lines));
	for (size_t i = 0; i < n; i++) {
		s.lines[i].off = (ptrdiff_t)b.len;
		s.lines[i].line = lines[i].line;
		nsh_buf_add(&b, lines[i].p, lines[i].len);
		nsh_buf_addch(&b, '\n');
	}
	s.nlines = n ? n : 1;
	s.t = b.buf;
	s.len = (ptrdiff_t)b.len;
	s.mask = nsh_xcalloc(b.len ? b.len : 1, 1);
	for (size_t i = 0; i < n; i++)
		mask_line(&s, s.lines[i].off, s.lines[i].off + (ptrdiff_t)lines[i].len + 1);
	run(&s);
	*need_full = s.need_full;
	nsh_buf_release(&b);
}
