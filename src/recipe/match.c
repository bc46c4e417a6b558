/*
 * Templates with holes: compilation, matching and rewriting.
 *
 * A code template is cut into elements: words, punctuation, whole literal
 * tokens (a string or regex written in the template) and holes. Matching
 * walks the elements over the lexed text with backtracking: before every
 * element the text may have white space; a word only matches a whole word;
 * a literal only matches code (a token element matches a literal token of
 * the same kind, exactly); a ':[x]' hole grows lazily one unit at a time,
 * where a unit is a word, a punctuation byte, a bracket group (jumped over
 * with the lexer's pairs) or a whole literal, and it cannot grow past a
 * closing bracket it did not open. So a hole never splits a string, a
 * comment, a regex or a bracket pair.
 *
 * Candidates are found by searching the first literal with memmem() (when
 * the template starts with ':[[x]]', the literal after it, backing off over
 * the word before it); every attempt has a step budget.
 *
 * String templates (in: string) match the whole body of a string literal
 * byte for byte, comment templates (in: comment) any part of a comment;
 * their holes grow one UTF-8 character at a time.
 *
 * A rewrite is the rewrite template with holes substituted. A hole's text is
 * first rewritten by the same pattern (nested matches), and a literal piece
 * of the rewrite that equals the match template's piece between the same
 * two holes is copied from the source, keeping its layout.
 */
#include "recipe/match.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/regex.h"
#include "core/vec.h"
#include "recipe/recipe.h"

#include "core/banned.h"

/* Steps one attempt at one start position may take. */
#define STEP_BUDGET 200000
/* Steps one run of a pattern over one text may take in all. */
#define RUN_BUDGET 20000000L
/* How deep matches nest inside holes before the inner text is copied as is. */
#define NEST_MAX 64

enum ekind {
	E_WORD,	 /* a word: letters, digits, _ and $ */
	E_PUNCT, /* punctuation */
	E_TOKEN, /* a whole literal token (string, regex, comment) */
	E_TEXT,	 /* bytes (string and comment templates) */
	E_HOLE,
};

enum hsort {
	H_ANY,	/* :[x] */
	H_ARG,	/* :[x:arg] */
	H_WORD, /* :[[x]] */
};

struct elem {
	enum ekind kind;
	uint32_t off, len; /* literal: bytes in the match template */
	uint8_t tcls;	   /* E_TOKEN: enum nsh_recipe_cls */
	int hole;	   /* E_HOLE: index into holes; -1 for ':[_]' */
	enum hsort sort;   /* E_HOLE */
	bool top;	   /* E_HOLE: not inside a bracket of the template */
	int occ;	   /* E_HOLE: occurrence number, 0 first */
};

struct hole {
	char *name;
	struct nsh_strvec equals, not_equals;
	regex_t re, not_re;
	bool has_re, has_not_re;
	unsigned is, is_not;
};

struct piece {
	bool is_hole;
	int hole;	   /* hole index */
	uint32_t off, len; /* literal: bytes in the rewrite template */
	int seg;	   /* literal: match segment to copy from the source, or -1 */
};

enum start_kind {
	START_LIT,    /* the template starts with a literal: memmem it */
	START_IDHOLE, /* ':[[x]]' then a literal: memmem the literal, back off */
	START_SCAN,   /* try every word start */
	START_BODY,   /* string templates: every string body */
};

struct nsh_recipe_pattern {
	enum nsh_recipe_family fam;
	enum nsh_recipe_in in;
	char *tmpl;  /* the match template */
	char *rtmpl; /* the rewrite template, or NULL */
	struct elem *e;
	size_t ne;
	struct hole *h;
	size_t nh;
	size_t nocc;	/* hole occurrences in the match template */
	int *occ_hole;	/* nocc entries: hole index (-1 anonymous) per occurrence */
	int *first_occ; /* nh entries: the first occurrence of each hole */
	uint8_t *
		occ_ws; /* nocc entries: bit 0 white space before it in the template, bit 1 after */
	struct piece *r; /* rewrite pieces */
	size_t nr;
	enum start_kind start;
	uint32_t req_off, req_len; /* the longest literal, in tmpl */
};

/* ---- character helpers ---- */

static bool is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_open(unsigned char c)
{
	return c == '(' || c == '[' || c == '{';
}

static bool is_close(unsigned char c)
{
	return c == ')' || c == ']' || c == '}';
}

/* Is the byte before @pos a word character (a leading UTF-8 BOM is not)? */
static bool ident_before(const unsigned char *s, size_t pos)
{
	if (!pos)
		return false;
	if (pos == 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
		return false;
	return is_ident(s[pos - 1]);
}

/* ---- "is" classes ---- */

static const struct {
	const char *name;
	unsigned bits;
} is_names[] = {
	{"function", NSH_RECIPE_IS_FUNCTION}, {"identifier", NSH_RECIPE_IS_IDENTIFIER},
	{"member", NSH_RECIPE_IS_MEMBER},     {"number", NSH_RECIPE_IS_NUMBER},
	{"string", NSH_RECIPE_IS_STRING},     {"regex", NSH_RECIPE_IS_REGEX},
	{"boolean", NSH_RECIPE_IS_BOOLEAN},   {"null", NSH_RECIPE_IS_NULL},
	{"object", NSH_RECIPE_IS_OBJECT},     {"array", NSH_RECIPE_IS_ARRAY},
	{"empty", NSH_RECIPE_IS_EMPTY},	      {"literal", NSH_RECIPE_IS_LITERAL},
};

unsigned nsh_recipe_is_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(is_names) / sizeof(is_names[0]); i++)
		if (!strcmp(name, is_names[i].name))
			return is_names[i].bits;
	return 0;
}

void nsh_recipe_is_names(unsigned bits, struct nsh_buf *out)
{
	bool first = true;

	for (size_t i = 0; i < sizeof(is_names) / sizeof(is_names[0]); i++) {
		if (is_names[i].bits == NSH_RECIPE_IS_LITERAL)
			continue;
		if ((bits & is_names[i].bits) == is_names[i].bits) {
			nsh_buf_addf(out, "%s%s", first ? "" : " ", is_names[i].name);
			first = false;
		}
	}
}

static bool text_is(const unsigned char *s, size_t a, size_t b, const char *w)
{
	size_t n = strlen(w);

	return b - a == n && !memcmp(s + a, w, n);
}

/* Does [a, b) start with the word @w (followed by a non-word byte)? */
static bool starts_word(const unsigned char *s, size_t a, size_t b, const char *w)
{
	size_t n = strlen(w);

	return b - a >= n && !memcmp(s + a, w, n) && (a + n == b || !is_ident(s[a + n]));
}

static size_t skip_space(const unsigned char *s, size_t a, size_t b)
{
	while (a < b && is_space(s[a]))
		a++;
	return a;
}

/* A whole word of code at [a, b)? */
static bool code_word(const struct nsh_recipe_lex *lx, size_t a, size_t b)
{
	const unsigned char *s = (const unsigned char *)lx->text;

	if (a >= b)
		return false;
	for (size_t i = a; i < b; i++)
		if (!is_ident(s[i]) || lx->cls[i] != NSH_RECIPE_CLS_CODE)
			return false;
	return true;
}

static bool is_number(const unsigned char *s, size_t a, size_t b)
{
	if (a < b && (s[a] == '-' || s[a] == '+'))
		a = skip_space(s, a + 1, b);
	if (a >= b)
		return false;
	if (!(isdigit(s[a]) || (s[a] == '.' && a + 1 < b && isdigit(s[a + 1]))))
		return false;
	for (size_t i = a; i < b; i++) {
		unsigned char c = s[i];

		if (isalnum(c) || c == '_' || c == '.')
			continue;
		if ((c == '+' || c == '-') && i > a && (s[i - 1] | 0x20) == 'e' &&
		    !(b - a > 1 && s[a] == '0' && (s[a + 1] | 0x20) == 'x'))
			continue;
		return false;
	}
	return true;
}

/* An arrow function or lambda: [async] (params) => | name => | (params) -> */
static bool is_arrow(const struct nsh_recipe_lex *lx, size_t a, size_t b)
{
	const unsigned char *s = (const unsigned char *)lx->text;

	if (starts_word(s, a, b, "async"))
		a = skip_space(s, a + 5, b);
	if (a >= b)
		return false;
	if (s[a] == '(' && lx->cls[a] == NSH_RECIPE_CLS_CODE) {
		if (lx->jump[a] == NSH_RECIPE_NONE || lx->jump[a] >= b)
			return false;
		a = lx->jump[a] + 1;
	} else if (is_ident(s[a]) && !isdigit(s[a])) {
		while (a < b && is_ident(s[a]))
			a++;
	} else {
		return false;
	}
	a = skip_space(s, a, b);
	return a + 1 < b && (s[a] == '=' || s[a] == '-') && s[a + 1] == '>' &&
	       lx->cls[a] == NSH_RECIPE_CLS_CODE;
}

unsigned nsh_recipe_classify(const struct nsh_recipe_lex *lx, size_t a, size_t b)
{
	const unsigned char *s = (const unsigned char *)lx->text;

	a = skip_space(s, a, b);
	while (b > a && is_space(s[b - 1]))
		b--;
	if (a == b)
		return NSH_RECIPE_IS_EMPTY;
	if (lx->cls[a] != NSH_RECIPE_CLS_CODE) {
		if (lx->jump[a] == b)
			return lx->cls[a] == NSH_RECIPE_CLS_STRING  ? NSH_RECIPE_IS_STRING
			       : lx->cls[a] == NSH_RECIPE_CLS_REGEX ? NSH_RECIPE_IS_REGEX
								    : 0;
		return 0;
	}
	if ((s[a] == '{' || s[a] == '[') && lx->jump[a] == b - 1)
		return s[a] == '{' ? NSH_RECIPE_IS_OBJECT : NSH_RECIPE_IS_ARRAY;
	if (code_word(lx, a, b)) {
		if (text_is(s, a, b, "true") || text_is(s, a, b, "false") ||
		    text_is(s, a, b, "True") || text_is(s, a, b, "False"))
			return NSH_RECIPE_IS_BOOLEAN;
		if (text_is(s, a, b, "null") || text_is(s, a, b, "undefined") ||
		    text_is(s, a, b, "None") || text_is(s, a, b, "nil"))
			return NSH_RECIPE_IS_NULL;
		if (isdigit(s[a]))
			return is_number(s, a, b) ? NSH_RECIPE_IS_NUMBER : 0;
		if (text_is(s, a, b, "this") || text_is(s, a, b, "self") ||
		    text_is(s, a, b, "function") || text_is(s, a, b, "new"))
			return 0;
		return NSH_RECIPE_IS_IDENTIFIER;
	}
	if (is_number(s, a, b))
		return NSH_RECIPE_IS_NUMBER;
	if (starts_word(s, a, b, "function") || starts_word(s, a, b, "lambda") ||
	    starts_word(s, a, b, "func"))
		return NSH_RECIPE_IS_FUNCTION;
	if (starts_word(s, a, b, "async") && starts_word(s, skip_space(s, a + 5, b), b, "function"))
		return NSH_RECIPE_IS_FUNCTION;
	if (is_arrow(lx, a, b))
		return NSH_RECIPE_IS_FUNCTION;
	{
		/* a member path: word(.word)+ */
		size_t i = a;
		int parts = 0;

		for (;;) {
			size_t w = i;

			while (i < b && is_ident(s[i]) && lx->cls[i] == NSH_RECIPE_CLS_CODE)
				i++;
			if (i == w || isdigit(s[w]))
				return 0;
			parts++;
			if (i == b)
				return parts > 1 ? NSH_RECIPE_IS_MEMBER : 0;
			if (s[i] != '.' || lx->cls[i] != NSH_RECIPE_CLS_CODE)
				return 0;
			i++;
		}
	}
}

/* ---- compilation ---- */

static void hole_release(struct hole *h)
{
	free(h->name);
	nsh_strvec_release(&h->equals);
	nsh_strvec_release(&h->not_equals);
	if (h->has_re)
		regfree(&h->re);
	if (h->has_not_re)
		regfree(&h->not_re);
}

void nsh_recipe_pattern_free(struct nsh_recipe_pattern *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nh; i++)
		hole_release(&p->h[i]);
	free(p->h);
	free(p->e);
	free(p->r);
	free(p->occ_hole);
	free(p->first_occ);
	free(p->occ_ws);
	free(p->tmpl);
	free(p->rtmpl);
	free(p);
}

/* A hole written in a template. */
struct rawhole {
	size_t pos, len; /* where, in the template */
	char *name;	 /* NULL for ':[_]' */
	enum hsort sort;
};

struct rawholes {
	struct rawhole *v;
	size_t nr, alloc;
};

static void rawholes_release(struct rawholes *rh)
{
	for (size_t i = 0; i < rh->nr; i++)
		free(rh->v[i].name);
	free(rh->v);
	rh->v = NULL;
	rh->nr = rh->alloc = 0;
}

static bool name_ok(const char *p, size_t n)
{
	if (!n || !(isalpha((unsigned char)p[0]) || p[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)p[i]) || p[i] == '_'))
			return false;
	return true;
}

/*
 * Find the holes of template @t: ":[[name]]", ":[name]", ":[name:arg]".
 * A ":[" that does not start a well-formed hole name is plain text; a
 * well-formed name with an unknown sort is an error.
 */
static int find_holes(const char *t, const char *what, struct rawholes *out, struct nsh_err *err)
{
	size_t n = strlen(t);

	for (size_t i = 0; i + 2 < n; i++) {
		struct rawhole h = {.pos = i};
		const char *p, *q;

		if (t[i] != ':' || t[i + 1] != '[')
			continue;
		if (t[i + 2] == '[') {
			p = t + i + 3;
			q = strstr(p, "]]");
			if (!q || !name_ok(p, (size_t)(q - p)))
				continue;
			h.sort = H_WORD;
			h.len = (size_t)(q + 2 - (t + i));
		} else {
			const char *colon;

			p = t + i + 2;
			q = strchr(p, ']');
			if (!q)
				continue;
			colon = memchr(p, ':', (size_t)(q - p));
			if (!name_ok(p, (size_t)((colon ? colon : q) - p)))
				continue;
			h.sort = H_ANY;
			if (colon) {
				size_t sl = (size_t)(q - colon - 1);

				if (sl == 3 && !memcmp(colon + 1, "arg", 3))
					h.sort = H_ARG;
				else
					return nsh_err_set(err, NSH_EINVAL,
							   "%s: unknown hole sort '%.*s' in '%.*s' "
							   "(use ':[x]', ':[x:arg]' or ':[[x]]')",
							   what, (int)sl, colon + 1,
							   (int)(q - (t + i) + 1), t + i);
				q = colon;
			}
			h.len = (size_t)(strchr(p, ']') + 1 - (t + i));
		}
		if (!(q - p == 1 && *p == '_'))
			h.name = nsh_xstrndup(p, (size_t)(q - p));
		NSH_ALLOC_GROW(out->v, out->nr + 1, out->alloc);
		out->v[out->nr++] = h;
		i += h.len - 1;
	}
	return 0;
}

static int hole_index(const struct nsh_recipe_pattern *p, const char *name)
{
	for (size_t i = 0; i < p->nh; i++)
		if (!strcmp(p->h[i].name, name))
			return (int)i;
	return -1;
}

static void add_elem(struct nsh_recipe_pattern *p, size_t *alloc, struct elem e)
{
	NSH_ALLOC_GROW(p->e, p->ne + 1, *alloc);
	p->e[p->ne++] = e;
}

/* Add hole @rh as an element of @p (new hole or a repeat). */
static void add_hole_elem(struct nsh_recipe_pattern *p, size_t *alloc, size_t *halloc,
			  const struct rawhole *rh, bool top)
{
	struct elem e = {.kind = E_HOLE, .hole = -1, .sort = rh->sort, .top = top};

	if (rh->name) {
		e.hole = hole_index(p, rh->name);
		if (e.hole < 0) {
			NSH_ALLOC_GROW(p->h, p->nh + 1, *halloc);
			memset(&p->h[p->nh], 0, sizeof(p->h[p->nh]));
			nsh_strvec_init(&p->h[p->nh].equals);
			nsh_strvec_init(&p->h[p->nh].not_equals);
			p->h[p->nh].name = nsh_xstrdup(rh->name);
			e.hole = (int)p->nh++;
		}
	}
	e.occ = (int)p->nocc;
	p->occ_hole = nsh_xreallocarray(p->occ_hole, p->nocc + 1, sizeof(int));
	p->occ_hole[p->nocc++] = e.hole;
	add_elem(p, alloc, e);
}

static bool is_single_punct(unsigned char c)
{
	return is_open(c) || is_close(c) || c == ',' || c == ';' || c == '.';
}

/* Net bracket count of code in a template lexed in @lx (each kind). */
static void bracket_balance(const struct nsh_recipe_lex *lx, long bal[3])
{
	bal[0] = bal[1] = bal[2] = 0;
	for (size_t i = 0; i < lx->len; i++) {
		unsigned char c = (unsigned char)lx->text[i];

		if (lx->cls[i] != NSH_RECIPE_CLS_CODE)
			continue;
		bal[0] += c == '(' ? 1 : c == ')' ? -1 : 0;
		bal[1] += c == '[' ? 1 : c == ']' ? -1 : 0;
		bal[2] += c == '{' ? 1 : c == '}' ? -1 : 0;
	}
}

/* @t with every hole replaced by 'x's, so that the lexer sees a word there. */
static char *placeholders(const char *t, const struct rawholes *rh)
{
	char *c = nsh_xstrdup(t);

	for (size_t i = 0; i < rh->nr; i++)
		memset(c + rh->v[i].pos, 'x', rh->v[i].len);
	return c;
}

/* Split a code template into elements. */
static int compile_code(struct nsh_recipe_pattern *p, const struct rawholes *rh,
			struct nsh_err *err)
{
	struct nsh_recipe_lex lx;
	char *ph = placeholders(p->tmpl, rh);
	size_t n = strlen(p->tmpl), alloc = 0, halloc = 0, k = 0, i = 0;
	const unsigned char *s = (const unsigned char *)p->tmpl;
	long depth = 0;
	int rc = 0;

	nsh_recipe_lex_init(&lx);
	nsh_recipe_lex_run(&lx, p->fam, ph, n, NULL);
	while (i < n) {
		if (k < rh->nr && rh->v[k].pos == i) {
			add_hole_elem(p, &alloc, &halloc, &rh->v[k], depth == 0);
			i += rh->v[k].len;
			k++;
			continue;
		}
		if (lx.cls[i] != NSH_RECIPE_CLS_CODE) {
			size_t end = lx.jump[i] == NSH_RECIPE_NONE ? i + 1 : lx.jump[i];

			if (k < rh->nr && rh->v[k].pos < end) {
				rc = nsh_err_set(
					err, NSH_EINVAL,
					"match template: hole '%.*s' is inside a %s; "
					"use 'in: %s' to match inside literals",
					(int)rh->v[k].len, p->tmpl + rh->v[k].pos,
					lx.cls[i] == NSH_RECIPE_CLS_COMMENT ? "comment"
					: lx.cls[i] == NSH_RECIPE_CLS_REGEX ? "regex literal"
									    : "string literal",
					lx.cls[i] == NSH_RECIPE_CLS_COMMENT ? "comment" : "string");
				goto out;
			}
			add_elem(p, &alloc,
				 (struct elem){.kind = E_TOKEN,
					       .off = (uint32_t)i,
					       .len = (uint32_t)(end - i),
					       .tcls = lx.cls[i]});
			i = end;
			continue;
		}
		if (is_space(s[i])) {
			i++;
			continue;
		}
		{
			size_t j = i + 1, stop = k < rh->nr ? rh->v[k].pos : n;

			if (is_ident(s[i])) {
				while (j < stop && is_ident(s[j]))
					j++;
				add_elem(p, &alloc,
					 (struct elem){.kind = E_WORD,
						       .off = (uint32_t)i,
						       .len = (uint32_t)(j - i)});
			} else {
				if (is_open(s[i]))
					depth++;
				else if (is_close(s[i]) && depth > 0)
					depth--;
				if (!is_single_punct(s[i]))
					while (j < stop && lx.cls[j] == NSH_RECIPE_CLS_CODE &&
					       !is_space(s[j]) && !is_ident(s[j]) &&
					       !is_single_punct(s[j]))
						j++;
				add_elem(p, &alloc,
					 (struct elem){.kind = E_PUNCT,
						       .off = (uint32_t)i,
						       .len = (uint32_t)(j - i)});
			}
			i = j;
		}
	}
out:
	nsh_recipe_lex_release(&lx);
	free(ph);
	return rc;
}

/* Split a string or comment template: bytes and holes. */
static void compile_text(struct nsh_recipe_pattern *p, const struct rawholes *rh)
{
	size_t n = strlen(p->tmpl), alloc = 0, halloc = 0, i = 0;

	for (size_t k = 0; k <= rh->nr; k++) {
		size_t stop = k < rh->nr ? rh->v[k].pos : n;

		if (stop > i)
			add_elem(p, &alloc,
				 (struct elem){.kind = E_TEXT,
					       .off = (uint32_t)i,
					       .len = (uint32_t)(stop - i)});
		if (k < rh->nr) {
			add_hole_elem(p, &alloc, &halloc, &rh->v[k], true);
			i = stop + rh->v[k].len;
		}
	}
}

/* Compact form of template text for comparing layouts: no white space except between words. */
static void squeeze(const char *p, size_t n, struct nsh_buf *out)
{
	bool space = false;

	nsh_buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_space(c)) {
			space = true;
			continue;
		}
		if (space && out->len && is_ident((unsigned char)out->buf[out->len - 1]) &&
		    is_ident(c))
			nsh_buf_addch(out, ' ');
		space = false;
		nsh_buf_addch(out, (char)c);
	}
}

/*
 * The match template's text of segment @k (before occurrence @k; @k == nocc
 * is after the last) as [*@ret_off, +*@ret_len) in p->tmpl.
 */
static void segment_text(const struct nsh_recipe_pattern *p, const struct rawholes *rh, size_t k,
			 size_t *ret_off, size_t *ret_len)
{
	size_t a = k == 0 ? 0 : rh->v[k - 1].pos + rh->v[k - 1].len;
	size_t b = k < rh->nr ? rh->v[k].pos : strlen(p->tmpl);

	*ret_off = a;
	*ret_len = b - a;
}

static int compile_rewrite(struct nsh_recipe_pattern *p, const struct rawholes *mh,
			   struct nsh_err *err)
{
	struct rawholes rh = {0};
	struct nsh_buf a = NSH_BUF_INIT, b = NSH_BUF_INIT;
	size_t n = strlen(p->rtmpl), alloc = 0, i = 0;
	int rc = find_holes(p->rtmpl, "rewrite template", &rh, err);

	if (rc)
		goto out;
	for (size_t k = 0; k <= rh.nr; k++) {
		size_t stop = k < rh.nr ? rh.v[k].pos : n;
		const char *prev = k ? rh.v[k - 1].name : NULL,
			   *next = k < rh.nr ? rh.v[k].name : NULL;

		if (k < rh.nr && !rh.v[k].name) {
			rc = nsh_err_set(err, NSH_EINVAL,
					 "rewrite template: ':[_]' matches anything and cannot be "
					 "written back");
			goto out;
		}
		if (k < rh.nr && hole_index(p, rh.v[k].name) < 0) {
			rc = nsh_err_set(
				err, NSH_EINVAL,
				"rewrite template: hole '%.*s' is not in the match template",
				(int)rh.v[k].len, p->rtmpl + rh.v[k].pos);
			goto out;
		}
		if (stop > i || (k == rh.nr && !rh.nr)) {
			struct piece pc = {
				.off = (uint32_t)i, .len = (uint32_t)(stop - i), .seg = -1};

			/* copy the source's layout where the rewrite repeats the match */
			if (p->in == NSH_RECIPE_IN_CODE) {
				squeeze(p->rtmpl + i, stop - i, &b);
				for (size_t s = 0; s <= mh->nr; s++) {
					const char *mp = s ? mh->v[s - 1].name : NULL;
					const char *mn = s < mh->nr ? mh->v[s].name : NULL;
					size_t off, len;

					if ((s && !mp) || (s < mh->nr && !mn))
						continue;
					if ((!mp) != (!prev) || (mp && strcmp(mp, prev)) ||
					    (!mn) != (!next) || (mn && strcmp(mn, next)))
						continue;
					segment_text(p, mh, s, &off, &len);
					squeeze(p->tmpl + off, len, &a);
					if (a.len != b.len || memcmp(a.buf, b.buf, a.len))
						continue;
					pc.seg = pc.seg == -1 ? (int)s : -2;
				}
				if (pc.seg < 0)
					pc.seg = -1;
			}
			NSH_ALLOC_GROW(p->r, p->nr + 1, alloc);
			p->r[p->nr++] = pc;
		}
		if (k < rh.nr) {
			NSH_ALLOC_GROW(p->r, p->nr + 1, alloc);
			p->r[p->nr++] = (struct piece){
				.is_hole = true, .hole = hole_index(p, rh.v[k].name), .seg = -1};
			i = stop + rh.v[k].len;
		}
	}
out:
	rawholes_release(&rh);
	nsh_buf_release(&a);
	nsh_buf_release(&b);
	return rc;
}

static int compile_regex(regex_t *re, const char *src, const char *hole, struct nsh_err *err)
{
	char *full = nsh_xasprintf("^(%s)$", src);
	struct nsh_err why = NSH_ERR_INIT;
	int rc = nsh_regex_compile(re, full, REG_NOSUB, &why);

	free(full);
	if (rc)
		return nsh_err_set(err, NSH_EINVAL, "hole '%s': bad regex '%s': %s", hole, src,
				   why.msg);
	return 0;
}

static int add_constraints(struct nsh_recipe_pattern *p, const struct nsh_recipe_where *w,
			   size_t nw, struct nsh_err *err)
{
	for (size_t i = 0; i < nw; i++) {
		int k = hole_index(p, w[i].hole);
		struct hole *h;
		const char *s;

		if (k < 0)
			continue;
		h = &p->h[k];
		nsh_vec_foreach(s, &w[i].equals)
			nsh_strvec_push(&h->equals, s);
		nsh_vec_foreach(s, &w[i].not_equals)
			nsh_strvec_push(&h->not_equals, s);
		h->is |= w[i].is;
		h->is_not |= w[i].is_not;
		if (w[i].regex) {
			if (h->has_re)
				regfree(&h->re);
			h->has_re = false;
			if (compile_regex(&h->re, w[i].regex, h->name, err))
				return NSH_EINVAL;
			h->has_re = true;
		}
		if (w[i].not_regex) {
			if (h->has_not_re)
				regfree(&h->not_re);
			h->has_not_re = false;
			if (compile_regex(&h->not_re, w[i].not_regex, h->name, err))
				return NSH_EINVAL;
			h->has_not_re = true;
		}
	}
	return 0;
}

int nsh_recipe_pattern_compile(const char *match, const char *rewrite, enum nsh_recipe_family fam,
			       enum nsh_recipe_in in, const struct nsh_recipe_where *where,
			       size_t nwhere, struct nsh_recipe_pattern **ret, struct nsh_err *err)
{
	struct nsh_recipe_pattern *p = nsh_xcalloc(1, sizeof(*p));
	struct rawholes rh = {0};
	int rc;

	p->fam = fam;
	p->in = in;
	if (strlen(match) > NSH_RECIPE_TEMPLATE_MAX ||
	    (rewrite && strlen(rewrite) > NSH_RECIPE_TEMPLATE_MAX)) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "template longer than %u bytes",
				 NSH_RECIPE_TEMPLATE_MAX);
		goto out;
	}
	p->tmpl = nsh_xstrdup(match);
	p->rtmpl = rewrite ? nsh_xstrdup(rewrite) : NULL;
	rc = find_holes(match, "match template", &rh, err);
	if (rc)
		goto out;
	if (in == NSH_RECIPE_IN_CODE)
		rc = compile_code(p, &rh, err);
	else
		compile_text(p, &rh);
	if (rc)
		goto out;
	if (!p->ne) {
		rc = nsh_err_set(err, NSH_EINVAL, "match template is empty");
		goto out;
	}

	/* how candidates are found */
	if (in == NSH_RECIPE_IN_STRING) {
		p->start = START_BODY;
	} else if (p->e[0].kind != E_HOLE) {
		p->start = START_LIT;
	} else if (p->e[0].sort == H_WORD) {
		p->start = p->ne > 1 && p->e[1].kind != E_HOLE ? START_IDHOLE : START_SCAN;
	} else {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "match template starts with hole '%.*s': a %s template must "
				 "start with text or a ':[[x]]' hole",
				 (int)rh.v[0].len, match + rh.v[0].pos,
				 in == NSH_RECIPE_IN_CODE ? "code" : "comment");
		goto out;
	}
	p->first_occ = nsh_xcalloc(p->nh ? p->nh : 1, sizeof(int));
	for (size_t i = p->nocc; i-- > 0;)
		if (p->occ_hole[i] >= 0)
			p->first_occ[p->occ_hole[i]] = (int)i;
	for (size_t i = 0; i < p->ne; i++)
		if (p->e[i].kind != E_HOLE && p->e[i].len > p->req_len) {
			p->req_off = p->e[i].off;
			p->req_len = p->e[i].len;
		}

	p->occ_ws = nsh_xcalloc(rh.nr ? rh.nr : 1, 1);
	for (size_t i = 0; i < rh.nr; i++) {
		size_t a = rh.v[i].pos, b = a + rh.v[i].len;

		p->occ_ws[i] = (uint8_t)((a > 0 && is_space((unsigned char)match[a - 1])) |
					 (is_space((unsigned char)match[b]) << 1));
	}
	if (rewrite) {
		rc = compile_rewrite(p, &rh, err);
		if (rc)
			goto out;
		if (in == NSH_RECIPE_IN_CODE) {
			struct rawholes rrh = {0};
			struct nsh_recipe_lex a, b;
			char *pa = placeholders(match, &rh), *pb;
			long ba[3], bb[3];

			find_holes(rewrite, "rewrite template", &rrh, NULL);
			pb = placeholders(rewrite, &rrh);
			nsh_recipe_lex_init(&a);
			nsh_recipe_lex_init(&b);
			nsh_recipe_lex_run(&a, fam, pa, strlen(pa), NULL);
			nsh_recipe_lex_run(&b, fam, pb, strlen(pb), NULL);
			bracket_balance(&a, ba);
			bracket_balance(&b, bb);
			if (ba[0] != bb[0] || ba[1] != bb[1] || ba[2] != bb[2])
				rc = nsh_err_set(
					err, NSH_EINVAL,
					"the rewrite template leaves brackets unbalanced "
					"differently from the match template "
					"(net () %ld vs %ld, [] %ld vs %ld, {} %ld vs %ld)",
					bb[0], ba[0], bb[1], ba[1], bb[2], ba[2]);
			nsh_recipe_lex_release(&a);
			nsh_recipe_lex_release(&b);
			free(pa);
			free(pb);
			rawholes_release(&rrh);
			if (rc)
				goto out;
		}
	}
	rc = add_constraints(p, where, nwhere, err);
out:
	rawholes_release(&rh);
	if (rc) {
		nsh_recipe_pattern_free(p);
		return rc;
	}
	*ret = p;
	return 0;
}

const char *nsh_recipe_pattern_required(const struct nsh_recipe_pattern *p, size_t *ret_len)
{
	*ret_len = p->req_len;
	return p->req_len ? p->tmpl + p->req_off : NULL;
}

bool nsh_recipe_pattern_has_hole(const struct nsh_recipe_pattern *p, const char *name)
{
	return hole_index(p, name) >= 0;
}

bool nsh_recipe_pattern_rewrites(const struct nsh_recipe_pattern *p)
{
	return p->rtmpl != NULL;
}

void nsh_recipe_hits_release(struct nsh_recipe_hits *h)
{
	if (!h)
		return;
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* ---- matching ---- */

struct run {
	const struct nsh_recipe_pattern *p;
	const struct nsh_recipe_lex *lx;
	const unsigned char *s;
	const struct nsh_strvec **allowed; /* per hole, or NULL */
	struct nsh_buf *out;		   /* NULL: detect only */
	struct nsh_recipe_hits *hits;
	struct nsh_buf scratch; /* for regexec() */
	long left;		/* steps left for the whole run */
	int rc;			/* first output error */
};

/* The state of one attempt (one per nesting depth). */
struct attempt {
	struct run *run;
	size_t hi;	   /* matches end at or before this */
	uint32_t need_end; /* string templates: the match must end exactly here */
	uint32_t *hs, *he; /* per hole: bound text, NSH_RECIPE_NONE when unbound */
	uint32_t *os, *oe; /* per occurrence: where it matched */
	long budget;
	bool gave_up;
};

#define FAIL		SIZE_MAX
#define REGEX_EAGER_MAX 256 /* longer hole texts meet their regex after the rest matched */
#define SAVED_HOLES_MAX 64  /* bindings a deferred regex check can restore */

static size_t match_code(struct attempt *a, size_t ei, size_t pos);
static size_t match_text(struct attempt *a, size_t ei, size_t pos);

static size_t next(struct attempt *a, size_t ei, size_t pos)
{
	return a->run->p->in == NSH_RECIPE_IN_CODE ? match_code(a, ei, pos)
						   : match_text(a, ei, pos);
}

/* Is [t, t+len) one of the strings of @l? */
static bool in_list(const struct nsh_strvec *l, const char *t, size_t len)
{
	for (size_t i = 0; i < l->nr; i++)
		if (strlen(l->v[i]) == len && !memcmp(l->v[i], t, len))
			return true;
	return false;
}

/* Does the text of @hole at [start, end) match its regular expressions? */
static bool regex_ok(struct attempt *a, int hole, size_t start, size_t end)
{
	struct run *r = a->run;
	const struct hole *h = &r->p->h[hole];

	if (!h->has_re && !h->has_not_re)
		return true;
	nsh_buf_reset(&r->scratch);
	nsh_buf_add(&r->scratch, (const char *)r->s + start, end - start);
	if (h->has_re && regexec(&h->re, r->scratch.buf, 0, NULL, 0))
		return false;
	if (h->has_not_re && !regexec(&h->not_re, r->scratch.buf, 0, NULL, 0))
		return false;
	return true;
}

/*
 * Do the constraints of @hole hold for [start, end)? The regular
 * expressions only when @with_regex (see bind_and_continue()).
 */
static bool constraints_ok(struct attempt *a, int hole, size_t start, size_t end, bool with_regex)
{
	struct run *r = a->run;
	const struct hole *h = &r->p->h[hole];
	size_t len = end - start;
	const char *t = (const char *)r->s + start;

	if (r->allowed && r->allowed[hole] && !in_list(r->allowed[hole], t, len))
		return false;
	if (h->equals.nr && !in_list(&h->equals, t, len))
		return false;
	if (in_list(&h->not_equals, t, len))
		return false;
	if (h->is || h->is_not) {
		unsigned cls = nsh_recipe_classify(r->lx, start, end);

		if (h->is && !(cls & h->is))
			return false;
		if (cls & h->is_not)
			return false;
	}
	return !with_regex || regex_ok(a, hole, start, end);
}

/*
 * Bind occurrence @e to [start, end) and match the rest from @end; undo the
 * binding when the rest fails.
 *
 * A hole that grows is tried at every length, and a regular expression over
 * a long text costs its length each time: over a long text (REGEX_EAGER_MAX)
 * the expression is checked only once the rest has matched, which gives the
 * same matches. The bindings the rest made are then undone with it.
 */
static size_t bind_and_continue(struct attempt *a, size_t ei, const struct elem *e, size_t start,
				size_t end, bool fresh)
{
	size_t nh = a->run->p->nh, r;
	bool later = fresh && e->hole >= 0 && end - start > REGEX_EAGER_MAX;
	uint32_t saved[2 * SAVED_HOLES_MAX];

	if (later && nh > SAVED_HOLES_MAX)
		later = false;
	if (fresh && e->hole >= 0) {
		if (!constraints_ok(a, e->hole, start, end, !later))
			return FAIL;
		a->hs[e->hole] = (uint32_t)start;
		a->he[e->hole] = (uint32_t)end;
	}
	if (later) {
		memcpy(saved, a->hs, nh * sizeof(*saved));
		memcpy(saved + nh, a->he, nh * sizeof(*saved));
	}
	a->os[e->occ] = (uint32_t)start;
	a->oe[e->occ] = (uint32_t)end;
	r = next(a, ei + 1, end);
	if (r != FAIL && later && !regex_ok(a, e->hole, start, end)) {
		memcpy(a->hs, saved, nh * sizeof(*saved));
		memcpy(a->he, saved + nh, nh * sizeof(*saved));
		r = FAIL;
	}
	if (r == FAIL && fresh && e->hole >= 0)
		a->hs[e->hole] = a->he[e->hole] = NSH_RECIPE_NONE;
	return r;
}

/* A repeat of bound hole @e at @pos: the same bytes, of the same classes. */
static size_t repeat(struct attempt *a, size_t ei, const struct elem *e, size_t pos)
{
	const struct nsh_recipe_lex *lx = a->run->lx;
	const unsigned char *s = a->run->s;
	size_t bs = a->hs[e->hole], len = a->he[e->hole] - bs;

	if (pos + len > a->hi || memcmp(s + pos, s + bs, len) ||
	    memcmp(lx->cls + pos, lx->cls + bs, len))
		return FAIL;
	if (len && is_ident(s[bs]) && ident_before(s, pos))
		return FAIL;
	if (len && is_ident(s[bs + len - 1]) && pos + len < lx->len && is_ident(s[pos + len]))
		return FAIL;
	return bind_and_continue(a, ei, e, pos, pos + len, false);
}

static size_t word_end(const struct attempt *a, size_t pos)
{
	const struct nsh_recipe_lex *lx = a->run->lx;
	const unsigned char *s = a->run->s;

	while (pos < a->hi && is_ident(s[pos]) && lx->cls[pos] == NSH_RECIPE_CLS_CODE)
		pos++;
	return pos;
}

static size_t match_code(struct attempt *a, size_t ei, size_t pos)
{
	const struct nsh_recipe_pattern *p = a->run->p;
	const struct nsh_recipe_lex *lx = a->run->lx;
	const unsigned char *s = a->run->s;
	const struct elem *e;
	size_t q, hi = a->hi;

	if (--a->budget < 0) {
		a->gave_up = true;
		return FAIL;
	}
	if (ei == p->ne)
		return pos;
	e = &p->e[ei];
	q = pos;
	while (q < hi && is_space(s[q]) && lx->cls[q] == NSH_RECIPE_CLS_CODE)
		q++;

	switch (e->kind) {
	case E_WORD:
	case E_PUNCT:
	case E_TOKEN:
	case E_TEXT:
		if (q + e->len > hi || memcmp(s + q, p->tmpl + e->off, e->len))
			return FAIL;
		if (e->kind == E_TOKEN) {
			if (lx->cls[q] != e->tcls || lx->jump[q] != q + e->len)
				return FAIL;
		} else {
			for (size_t i = 0; i < e->len; i++)
				if (lx->cls[q + i] != NSH_RECIPE_CLS_CODE)
					return FAIL;
		}
		if (e->kind == E_WORD) {
			if (ident_before(s, q) || (q + e->len < lx->len && is_ident(s[q + e->len])))
				return FAIL;
			if (ei == 0 && q > 0 && s[q - 1] == '.')
				return FAIL;
		}
		return match_code(a, ei + 1, q + e->len);
	case E_HOLE:
		break;
	}

	/* holes */
	if (e->hole >= 0 && a->hs[e->hole] != NSH_RECIPE_NONE)
		return repeat(a, ei, e, q);
	if (e->sort == H_WORD) {
		size_t end = word_end(a, q);

		if (end == q || ident_before(s, q) || (ei == 0 && q > 0 && s[q - 1] == '.'))
			return FAIL;
		return bind_and_continue(a, ei, e, q, end, true);
	}
	{
		size_t cur = q, r;

		/* an empty hole sits before the white space, which the rest takes */
		if (e->sort == H_ANY) {
			r = bind_and_continue(a, ei, e, pos, pos, true);
			if (r != FAIL)
				return r;
		}
		for (;;) {
			size_t u = cur;
			unsigned char c;

			if (--a->budget < 0) {
				a->gave_up = true;
				return FAIL;
			}
			/* white space before the next unit */
			while (u < hi && is_space(s[u]) && lx->cls[u] == NSH_RECIPE_CLS_CODE) {
				if (s[u] == '\n' && e->top) {
					size_t v = u;

					while (v < hi && is_space(s[v]))
						v++;
					if (v >= hi || s[v] != '.')
						return FAIL;
				}
				u++;
			}
			if (u >= hi)
				return FAIL;
			c = s[u];
			if (lx->cls[u] != NSH_RECIPE_CLS_CODE) {
				if (lx->jump[u] == NSH_RECIPE_NONE || lx->jump[u] > hi)
					return FAIL;
				cur = lx->jump[u];
			} else if (is_open(c)) {
				if (lx->jump[u] == NSH_RECIPE_NONE || lx->jump[u] >= hi)
					return FAIL;
				cur = lx->jump[u] + 1;
			} else if (is_close(c)) {
				return FAIL;
			} else if ((c == ',' && e->sort == H_ARG) ||
				   (c == ';' && (e->sort == H_ARG || e->top))) {
				return FAIL;
			} else if (is_ident(c)) {
				cur = word_end(a, u);
			} else {
				cur = u + 1;
			}
			r = bind_and_continue(a, ei, e, q, cur, true);
			if (r != FAIL)
				return r;
		}
	}
}

/* One UTF-8 character further. */
static size_t utf8_next(const unsigned char *s, size_t pos, size_t hi)
{
	pos++;
	while (pos < hi && (s[pos] & 0xc0) == 0x80)
		pos++;
	return pos;
}

static size_t match_text(struct attempt *a, size_t ei, size_t pos)
{
	const struct nsh_recipe_pattern *p = a->run->p;
	const unsigned char *s = a->run->s;
	const struct elem *e;
	size_t hi = a->hi;

	if (--a->budget < 0) {
		a->gave_up = true;
		return FAIL;
	}
	if (ei == p->ne)
		return a->need_end == NSH_RECIPE_NONE || pos == a->need_end ? pos : FAIL;
	e = &p->e[ei];
	if (e->kind != E_HOLE) {
		const unsigned char *lit = (const unsigned char *)p->tmpl + e->off;

		if (pos + e->len > hi || memcmp(s + pos, lit, e->len))
			return FAIL;
		/* the match starts and ends at word boundaries, as in code */
		if (ei == 0 && is_ident(lit[0]) && pos > 0 && is_ident(s[pos - 1]))
			return FAIL;
		if (ei + 1 == p->ne && is_ident(lit[e->len - 1]) &&
		    pos + e->len < a->run->lx->len && is_ident(s[pos + e->len]))
			return FAIL;
		return match_text(a, ei + 1, pos + e->len);
	}
	if (e->hole >= 0 && a->hs[e->hole] != NSH_RECIPE_NONE) {
		size_t bs = a->hs[e->hole], len = a->he[e->hole] - bs;

		if (pos + len > hi || memcmp(s + pos, s + bs, len))
			return FAIL;
		return bind_and_continue(a, ei, e, pos, pos + len, false);
	}
	if (e->sort == H_WORD) {
		size_t end = pos;

		while (end < hi && is_ident(s[end]))
			end++;
		if (end == pos || (pos > 0 && is_ident(s[pos - 1])))
			return FAIL;
		return bind_and_continue(a, ei, e, pos, end, true);
	}
	{
		size_t cur = pos, r;

		if (e->sort == H_ANY) {
			r = bind_and_continue(a, ei, e, pos, pos, true);
			if (r != FAIL)
				return r;
		}
		while (cur < hi) {
			if (e->sort == H_ARG && s[cur] == ',')
				return FAIL;
			cur = utf8_next(s, cur, hi);
			if (--a->budget < 0) {
				a->gave_up = true;
				return FAIL;
			}
			r = bind_and_continue(a, ei, e, pos, cur, true);
			if (r != FAIL)
				return r;
		}
		return FAIL;
	}
}

/* ---- finding and rewriting ---- */

static void range(struct run *r, size_t lo, size_t hi, uint32_t depth);

static void emit(struct run *r, const void *p, size_t n)
{
	if (r->out && !r->rc)
		r->rc = nsh_buf_add(r->out, p, n);
}

/* A rewrite literal, with "\r\n" line ends in a CRLF text. */
static void emit_literal(struct run *r, const char *p, size_t n)
{
	if (!r->lx->crlf) {
		emit(r, p, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			emit(r, "\r", 1);
		emit(r, p + i, 1);
	}
}

/* Source text of segment @k of a match [start, end) with occurrences at os/oe. */
static void segment_span(size_t nocc, const uint32_t *os, const uint32_t *oe, size_t k,
			 size_t start, size_t end, size_t *ret_a, size_t *ret_b)
{
	*ret_a = k == 0 ? start : oe[k - 1];
	*ret_b = k < nocc ? os[k] : end;
}

/*
 * Write rewrite piece @i (a literal that differs from the match template's
 * text there). Where neither the literal nor the match template has white
 * space next to a hole, the white space the source has on that side of the
 * hole is kept, so that a call split over lines stays split.
 */
static void literal_piece(struct run *r, size_t i, const uint32_t *os, const uint32_t *oe,
			  size_t start, size_t end)
{
	const struct nsh_recipe_pattern *p = r->p;
	const struct piece *pc = &p->r[i];
	const char *lit = p->rtmpl + pc->off;
	const unsigned char *s = r->s;

	if (p->in == NSH_RECIPE_IN_CODE && i > 0 && p->r[i - 1].is_hole &&
	    !(pc->len && is_space((unsigned char)lit[0]))) {
		size_t k = (size_t)p->first_occ[p->r[i - 1].hole], a = oe[k];
		size_t stop = k + 1 < p->nocc ? os[k + 1] : end, b = a;

		while (!(p->occ_ws[k] & 2) && b < stop && is_space(s[b]))
			b++;
		emit(r, s + a, b - a);
	}
	emit_literal(r, lit, pc->len);
	if (p->in == NSH_RECIPE_IN_CODE && pc->len && i + 1 < p->nr && p->r[i + 1].is_hole &&
	    !is_space((unsigned char)lit[pc->len - 1])) {
		size_t k = (size_t)p->first_occ[p->r[i + 1].hole], b = os[k];
		size_t stop = k > 0 ? oe[k - 1] : start, a = b;

		while (!(p->occ_ws[k] & 1) && a > stop && is_space(s[a - 1]))
			a--;
		emit(r, s + a, b - a);
	}
}

/* Record the match [start, end) and write its rewrite (its holes rewritten first). */
static void take(struct run *r, struct attempt *a, size_t start, size_t end, uint32_t depth)
{
	const struct nsh_recipe_pattern *p = r->p;
	size_t idx, nh = p->nh;
	uint32_t *hs = nsh_xmalloc((nh ? nh : 1) * 4 * sizeof(uint32_t));
	uint32_t *he = hs + nh, *done_s = hs + 2 * nh, *done_e = hs + 3 * nh;
	uint32_t *os = NULL, *oe = NULL;

	/* the attempt's arrays are reused by nested matches: keep copies */
	memcpy(hs, a->hs, nh * sizeof(uint32_t));
	memcpy(he, a->he, nh * sizeof(uint32_t));
	for (size_t i = 0; i < nh; i++)
		done_s[i] = done_e[i] = NSH_RECIPE_NONE;
	if (p->nocc) {
		os = (uint32_t *)nsh_xmemdup(a->os, p->nocc * sizeof(uint32_t));
		oe = (uint32_t *)nsh_xmemdup(a->oe, p->nocc * sizeof(uint32_t));
	}

	NSH_ALLOC_GROW(r->hits->v, r->hits->nr + 1, r->hits->alloc);
	idx = r->hits->nr++;
	r->hits->v[idx] = (struct nsh_recipe_hit){.start = (uint32_t)start,
						  .end = (uint32_t)end,
						  .out_start = r->out ? (uint32_t)r->out->len : 0,
						  .depth = depth};

	if (!r->out || !p->rtmpl) {
		/* detect only: look inside every hole */
		if (p->in == NSH_RECIPE_IN_CODE && depth < NEST_MAX)
			for (size_t i = 0; i < nh; i++)
				if (hs[i] != NSH_RECIPE_NONE)
					range(r, hs[i], he[i], depth + 1);
		goto out;
	}
	for (size_t i = 0; i < p->nr; i++) {
		const struct piece *pc = &p->r[i];
		int h = pc->hole;

		if (!pc->is_hole) {
			if (pc->seg >= 0) {
				size_t sa, sb;

				segment_span(p->nocc, os, oe, (size_t)pc->seg, start, end, &sa,
					     &sb);
				emit(r, r->s + sa, sb - sa);
			} else {
				literal_piece(r, i, os, oe, start, end);
			}
			continue;
		}
		if (done_s[h] != NSH_RECIPE_NONE) {
			/* a hole written twice: copy the first rewrite of it */
			size_t n = done_e[h] - done_s[h];

			if (!r->rc && !(r->rc = nsh_buf_grow(r->out, n)))
				nsh_buf_add(r->out, r->out->buf + done_s[h], n);
			continue;
		}
		done_s[h] = (uint32_t)r->out->len;
		if (p->in == NSH_RECIPE_IN_CODE && depth < NEST_MAX)
			range(r, hs[h], he[h], depth + 1);
		else
			emit(r, r->s + hs[h], he[h] - hs[h]);
		done_e[h] = (uint32_t)r->out->len;
	}
	r->hits->v[idx].out_end = (uint32_t)r->out->len;
out:
	free(hs);
	free(os);
	free(oe);
}

static void attempt_reset(struct attempt *a)
{
	const struct nsh_recipe_pattern *p = a->run->p;

	for (size_t i = 0; i < p->nh; i++)
		a->hs[i] = a->he[i] = NSH_RECIPE_NONE;
	a->budget = a->run->left < STEP_BUDGET ? a->run->left : STEP_BUDGET;
	a->gave_up = false;
}

/*
 * Try to match at @start; the end, or FAIL. Notes a budget overrun; once
 * the whole run's budget is spent, every attempt fails at once.
 */
static size_t try_at(struct run *r, struct attempt *a, size_t start)
{
	size_t end;
	long before;

	attempt_reset(a);
	before = a->budget;
	end = next(a, 0, start);
	r->left -= before - (a->budget > 0 ? a->budget : 0);
	if (end == FAIL && a->gave_up && !r->hits->gave_up) {
		r->hits->gave_up = true;
		r->hits->gave_up_at = (uint32_t)start;
	}
	return end;
}

/*
 * Find candidates in [lo, hi) of code (or of one comment body) for
 * START_LIT / START_IDHOLE / START_SCAN, call @take for each match, and
 * copy the text between matches to the output.
 */
static void range_code(struct run *r, struct attempt *a, size_t lo, size_t hi, size_t *copied,
		       uint32_t depth)
{
	const struct nsh_recipe_pattern *p = r->p;
	const struct nsh_recipe_lex *lx = r->lx;
	const unsigned char *s = r->s;
	uint8_t want = p->in == NSH_RECIPE_IN_CODE ? NSH_RECIPE_CLS_CODE : NSH_RECIPE_CLS_COMMENT;
	size_t pos = lo, last = lo;

	if (p->start == START_SCAN) {
		while (pos < hi) {
			size_t end;

			if (!is_ident(s[pos]) || lx->cls[pos] != want || ident_before(s, pos)) {
				pos++;
				continue;
			}
			end = try_at(r, a, pos);
			if (end == FAIL || end == pos) {
				while (pos < hi && is_ident(s[pos]))
					pos++;
				continue;
			}
			emit(r, s + *copied, pos - *copied);
			take(r, a, pos, end, depth);
			*copied = pos = last = end;
		}
		return;
	}
	{
		const struct elem *anchor = &p->e[p->start == START_IDHOLE ? 1 : 0];
		const char *lit = p->tmpl + anchor->off;
		size_t len = anchor->len;

		while (pos < hi) {
			const unsigned char *f = memmem(s + pos, hi - pos, lit, len);
			size_t q, start, end;

			if (!f)
				break;
			q = (size_t)(f - s);
			start = q;
			if (lx->cls[q] != (anchor->kind == E_TOKEN ? anchor->tcls : want)) {
				pos = q + 1;
				continue;
			}
			if (p->start == START_IDHOLE) {
				size_t b = q;

				while (b > last && is_space(s[b - 1]) && lx->cls[b - 1] == want)
					b--;
				start = b;
				while (start > last && is_ident(s[start - 1]) &&
				       lx->cls[start - 1] == want)
					start--;
				if (start == b) {
					pos = q + 1;
					continue;
				}
			}
			end = try_at(r, a, start);
			if (end == FAIL || end == start) {
				pos = q + 1;
				continue;
			}
			emit(r, s + *copied, start - *copied);
			take(r, a, start, end, depth);
			*copied = pos = last = end;
		}
	}
}

/* Rewrite (or scan) [lo, hi) of the text: everything between matches is copied. */
static void range(struct run *r, size_t lo, size_t hi, uint32_t depth)
{
	const struct nsh_recipe_pattern *p = r->p;
	const struct nsh_recipe_lex *lx = r->lx;
	size_t nh = p->nh, copied = lo;
	uint32_t *mem = nsh_xmalloc((2 * nh + 2 * p->nocc + 1) * sizeof(uint32_t));
	struct attempt a = {
		.run = r,
		.hi = hi,
		.need_end = NSH_RECIPE_NONE,
		.hs = mem,
		.he = mem + nh,
		.os = mem + 2 * nh,
		.oe = mem + 2 * nh + p->nocc,
	};

	if (p->in == NSH_RECIPE_IN_CODE) {
		range_code(r, &a, lo, hi, &copied, depth);
	} else {
		uint8_t want = p->in == NSH_RECIPE_IN_STRING ? NSH_RECIPE_CLS_STRING
							     : NSH_RECIPE_CLS_COMMENT;

		for (size_t i = 0; i < lx->nspans; i++) {
			const struct nsh_recipe_span *sp = &lx->spans[i];
			size_t end;

			if (sp->cls != want || sp->start < copied || sp->end > hi)
				continue;
			if (sp->start < lo)
				continue;
			a.hi = sp->body_end;
			if (p->start == START_BODY) {
				a.need_end = sp->body_end;
				end = try_at(r, &a, sp->body_start);
				if (end == FAIL)
					continue;
				emit(r, r->s + copied, sp->body_start - copied);
				take(r, &a, sp->body_start, end, depth);
				copied = end;
			} else {
				range_code(r, &a, sp->body_start, sp->body_end, &copied, depth);
			}
		}
	}
	emit(r, r->s + copied, hi - copied);
	free(mem);
}

int nsh_recipe_pattern_run(const struct nsh_recipe_pattern *p, const struct nsh_recipe_lex *lx,
			   const struct nsh_recipe_bound *bound, size_t nbound, struct nsh_buf *out,
			   struct nsh_recipe_hits *hits, struct nsh_err *err)
{
	struct run r = {
		.p = p,
		.lx = lx,
		.s = (const unsigned char *)lx->text,
		.out = p->rtmpl ? out : NULL,
		.hits = hits,
		.left = RUN_BUDGET,
	};
	const struct nsh_strvec **allowed = NULL;

	hits->nr = 0;
	hits->gave_up = false;
	hits->gave_up_at = 0;
	if (nbound) {
		allowed = nsh_xcalloc(p->nh ? p->nh : 1, sizeof(*allowed));
		for (size_t i = 0; i < nbound; i++) {
			int k = hole_index(p, bound[i].hole);

			if (k >= 0)
				allowed[k] = bound[i].values;
		}
		r.allowed = allowed;
	}
	if (r.out)
		nsh_buf_reset(r.out);
	nsh_buf_init(&r.scratch, SIZE_MAX);
	range(&r, 0, lx->len, 0);
	nsh_buf_release(&r.scratch);
	free(allowed);
	if (r.rc)
		return nsh_err_set(err, r.rc, "rewritten text is too large");
	return 0;
}
