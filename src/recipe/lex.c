/*
 * Lexers for the recipe matcher: one pass over a file that marks every byte
 * as code, string, comment or regular expression, records each literal as a
 * span, and pairs the brackets of the code.
 *
 * The families differ only in their literals:
 *   JS      '..' ".." `..${code}..` /regex/flags, line and block comments,
 *           a "#!" first line
 *   Python  '..' ".." '''..''' """..""" with prefixes (r, b, u, f, rb, fr...), #
 *   Go      ".." `raw` 'rune', line and block comments
 *   Java    ".." """text block""" 'c', line and block comments
 *   C-like  ".." 'c' R"d(raw)d" @"verbatim", line and block comments
 *   text    nothing: every byte is code
 * A single-line string that meets a line end stops there (the file is
 * malformed or the guess was wrong; either way the damage stays on one
 * line). A quote that cannot start a character literal ("'" in a Rust
 * lifetime, say) stays code.
 *
 * JavaScript's '/' is a regular expression where an expression may start:
 * at the start, after punctuation, after '}' and after keywords such as
 * return or typeof; after a name, a number, a literal, ')', ']', '++' or
 * '--' it divides. A '/' taken for a regex that finds no closing '/' on its
 * line divides after all.
 */
#include "recipe/match.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#include "core/banned.h"

/* How far down the bracket stack a closing bracket looks for its partner. */
#define PAIR_SEARCH 64
/* Stack entries with this bit are "${" of a template literal, not brackets. */
#define INTERP_BIT 0x80000000u

struct lexer {
	struct nsh_recipe_lex *lx;
	const unsigned char *s;
	size_t n;
	uint32_t *stack; /* open brackets (offsets), INTERP_BIT for "${" */
	size_t sp, salloc;
	size_t *tmpl; /* span indices of open template literals */
	size_t tp, talloc;
};

static bool is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

void nsh_recipe_lex_init(struct nsh_recipe_lex *lx)
{
	memset(lx, 0, sizeof(*lx));
}

void nsh_recipe_lex_release(struct nsh_recipe_lex *lx)
{
	if (!lx)
		return;
	free(lx->cls);
	free(lx->jump);
	free(lx->spans);
	nsh_recipe_lex_init(lx);
}

/* Record a span [start, end) with its body and class; returns its index. */
static size_t add_span(struct lexer *L, size_t start, size_t end, size_t body_start,
		       size_t body_end, enum nsh_recipe_cls cls)
{
	struct nsh_recipe_lex *lx = L->lx;
	struct nsh_recipe_span *sp;

	NSH_ALLOC_GROW(lx->spans, lx->nspans + 1, lx->spans_alloc);
	sp = &lx->spans[lx->nspans];
	sp->start = (uint32_t)start;
	sp->end = (uint32_t)end;
	sp->body_start = (uint32_t)body_start;
	sp->body_end = (uint32_t)(body_end < body_start ? body_start : body_end);
	sp->cls = (uint8_t)cls;
	lx->jump[start] = (uint32_t)end;
	if (end > start)
		memset(lx->cls + start, cls, end - start);
	return lx->nspans++;
}

/*
 * A quoted literal opening at @q (the quote itself; @start is where the span
 * begins, before any prefix). @close is the closing quote, @triple the
 * number of quote characters that open and close it (1 or 3), @escapes
 * whether backslash escapes, @multiline whether a line end may occur
 * inside. Returns the end of the span.
 */
static size_t quoted(struct lexer *L, size_t start, size_t q, unsigned char close, int triple,
		     bool escapes, bool multiline)
{
	const unsigned char *s = L->s;
	size_t n = L->n, i = q + (size_t)triple, body = i;

	while (i < n) {
		unsigned char c = s[i];

		if (c == '\\' && escapes) {
			i += 2;
			continue;
		}
		if (c == '\n' && !multiline)
			break;
		if (c == close) {
			if (triple == 1) {
				add_span(L, start, i + 1, body, i, NSH_RECIPE_CLS_STRING);
				return i + 1;
			}
			if (i + 2 < n && s[i + 1] == close && s[i + 2] == close) {
				add_span(L, start, i + 3, body, i, NSH_RECIPE_CLS_STRING);
				return i + 3;
			}
		}
		i++;
	}
	if (i > n)
		i = n;
	add_span(L, start, i, body, i, NSH_RECIPE_CLS_STRING);
	return i;
}

/*
 * A character literal at @q: the quote, one UTF-8 character or one escape
 * sequence (at most 12 bytes, on one line), and the closing quote. Returns
 * its end, or 0 when this quote is code (a Rust lifetime, a stray quote).
 */
static size_t char_lit(struct lexer *L, size_t q)
{
	const unsigned char *s = L->s;
	size_t n = L->n, i = q + 1;

	if (i >= n || s[i] == '\'')
		return 0;
	if (s[i] == '\\') {
		size_t limit = q + 12;

		for (i += 2; i < n && i < limit; i++) {
			if (s[i] == '\n' || s[i] == '\r')
				return 0;
			if (s[i] == '\'')
				break;
		}
	} else {
		if (s[i] == '\n' || s[i] == '\r')
			return 0;
		i++;
		while (i < n && (s[i] & 0xc0) == 0x80)
			i++;
	}
	if (i >= n || s[i] != '\'')
		return 0;
	add_span(L, q, i + 1, q + 1, i, NSH_RECIPE_CLS_STRING);
	return i + 1;
}

/* A comment from @i to the end of its line (the newline stays code). */
static size_t line_comment(struct lexer *L, size_t i, size_t opener)
{
	const unsigned char *nl = memchr(L->s + i, '\n', L->n - i);
	size_t end = nl ? (size_t)(nl - L->s) : L->n;

	add_span(L, i, end, i + opener, end, NSH_RECIPE_CLS_COMMENT);
	return end;
}

/* A block comment opening at @i, to "*" "/" or the end of the text. */
static size_t block_comment(struct lexer *L, size_t i)
{
	const unsigned char *s = L->s;
	size_t n = L->n, j = i + 2;

	while (j + 1 < n && !(s[j] == '*' && s[j + 1] == '/'))
		j++;
	if (j + 1 < n) {
		add_span(L, i, j + 2, i + 2, j, NSH_RECIPE_CLS_COMMENT);
		return j + 2;
	}
	add_span(L, i, n, i + 2, n, NSH_RECIPE_CLS_COMMENT);
	return n;
}

/* A JavaScript regex literal at @i, or 0 when none closes on this line. */
static size_t regex_lit(struct lexer *L, size_t i)
{
	const unsigned char *s = L->s;
	size_t n = L->n, j = i + 1, k;
	bool in_class = false;

	while (j < n) {
		unsigned char c = s[j];

		if (c == '\n' || c == '\r')
			return 0;
		if (c == '\\') {
			j += 2;
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = false;
		} else if (c == '[') {
			in_class = true;
		} else if (c == '/') {
			break;
		}
		j++;
	}
	if (j >= n)
		return 0;
	k = j + 1;
	while (k < n && is_ident(s[k]))
		k++;
	add_span(L, i, k, i + 1, j, NSH_RECIPE_CLS_REGEX);
	return k;
}

/* A C++ raw string R"delim( ... )delim" whose quote is at @q; 0 if malformed. */
static size_t cpp_raw(struct lexer *L, size_t start, size_t q)
{
	const unsigned char *s = L->s;
	size_t n = L->n, d = q + 1, dlen, i;

	while (d < n && s[d] != '(' && d - q <= 17) {
		if (s[d] == ' ' || s[d] == ')' || s[d] == '\\' || s[d] == '\n' || s[d] == '"')
			return 0;
		d++;
	}
	if (d >= n || s[d] != '(')
		return 0;
	dlen = d - (q + 1);
	for (i = d + 1; i < n; i++) {
		if (s[i] == ')' && i + 1 + dlen < n && !memcmp(s + i + 1, s + q + 1, dlen) &&
		    s[i + 1 + dlen] == '"') {
			add_span(L, start, i + dlen + 2, d + 1, i, NSH_RECIPE_CLS_STRING);
			return i + dlen + 2;
		}
	}
	add_span(L, start, n, d + 1, n, NSH_RECIPE_CLS_STRING);
	return n;
}

/* A C# verbatim string @"..." ("" is a quote) whose quote is at @q. */
static size_t verbatim(struct lexer *L, size_t start, size_t q)
{
	const unsigned char *s = L->s;
	size_t n = L->n, i = q + 1;

	while (i < n) {
		if (s[i] == '"') {
			if (i + 1 < n && s[i + 1] == '"') {
				i += 2;
				continue;
			}
			add_span(L, start, i + 1, q + 1, i, NSH_RECIPE_CLS_STRING);
			return i + 1;
		}
		i++;
	}
	add_span(L, start, n, q + 1, n, NSH_RECIPE_CLS_STRING);
	return n;
}

static void push(struct lexer *L, uint32_t v)
{
	NSH_ALLOC_GROW(L->stack, L->sp + 1, L->salloc);
	L->stack[L->sp++] = v;
}

/*
 * Pair a closing bracket at @i with the nearest fitting opener, if any
 * (openers above it stay without a partner). Returns true when a '}' ends
 * a template literal's "${" instead: the stack is popped down to it.
 */
static bool close_bracket(struct lexer *L, size_t i, unsigned char open)
{
	size_t k = L->sp, floor = L->sp > PAIR_SEARCH ? L->sp - PAIR_SEARCH : 0;

	while (k > floor) {
		uint32_t v = L->stack[k - 1];

		if (v & INTERP_BIT) {
			if (open != '{')
				return false;
			L->sp = k - 1;
			return true;
		}
		if (L->s[v] == open) {
			L->lx->jump[v] = (uint32_t)i;
			L->sp = k - 1;
			return false;
		}
		k--;
	}
	return false;
}

/*
 * Scan the text part of the template literal on top of the template stack
 * from @i: to its closing backquote (the template is done) or to "${" (code
 * follows, and *@interp is set). Returns where to continue, in code.
 */
static size_t template_text(struct lexer *L, size_t i, bool *interp)
{
	const unsigned char *s = L->s;
	struct nsh_recipe_lex *lx = L->lx;
	size_t n = L->n, from = i;
	struct nsh_recipe_span *sp = &lx->spans[L->tmpl[L->tp - 1]];

	while (i < n) {
		if (s[i] == '\\') {
			i += 2;
			continue;
		}
		if (s[i] == '`') {
			memset(lx->cls + from, NSH_RECIPE_CLS_STRING, i + 1 - from);
			sp->end = (uint32_t)(i + 1);
			sp->body_end = (uint32_t)i;
			lx->jump[sp->start] = sp->end;
			L->tp--;
			*interp = false;
			return i + 1;
		}
		if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
			memset(lx->cls + from, NSH_RECIPE_CLS_STRING, i + 2 - from);
			push(L, (uint32_t)(i + 1) | INTERP_BIT);
			*interp = true;
			return i + 2;
		}
		i++;
	}
	if (i > n)
		i = n;
	memset(lx->cls + from, NSH_RECIPE_CLS_STRING, i - from);
	*interp = false;
	return i;
}

static bool word_is(const unsigned char *w, size_t len, const char *kw)
{
	return strlen(kw) == len && !memcmp(w, kw, len);
}

/* After this JavaScript word, does a '/' start a regex? */
static bool js_word_allows_regex(const unsigned char *w, size_t len)
{
#define KW(s)      \
 {                 \
  s, sizeof(s) - 1 \
 }
	static const struct {
		const char *kw;
		size_t len;
	} kws[] = {KW("return"), KW("typeof"), KW("instanceof"), KW("in"),    KW("of"),
		   KW("new"),	 KW("delete"), KW("void"),	 KW("throw"), KW("case"),
		   KW("do"),	 KW("else"),   KW("yield"),	 KW("await")};
#undef KW

	if (len < 2 || len > 10 || w[0] < 'a' || w[0] > 'y')
		return false;
	for (size_t k = 0; k < sizeof(kws) / sizeof(kws[0]); k++)
		if (kws[k].len == len && !memcmp(w, kws[k].kw, len))
			return true;
	return false;
}

/* Is the word [w, w+len) a Python string prefix (r, b, u, f, rb, br, fr, rf)? */
static bool py_prefix(const unsigned char *w, size_t len)
{
	bool seen_r = false, seen_other = false;

	if (len < 1 || len > 2)
		return false;
	for (size_t k = 0; k < len; k++) {
		unsigned char c = w[k] | 0x20;

		if (c == 'r' && !seen_r)
			seen_r = true;
		else if ((c == 'b' || c == 'f' || (c == 'u' && len == 1)) && !seen_other)
			seen_other = true;
		else
			return false;
	}
	return true;
}

static int grow(struct nsh_recipe_lex *lx, size_t len)
{
	if (len + 1 > lx->cap) {
		size_t want = len + 1 < 4096 ? 4096 : len + 1 + len / 4;

		lx->cls = nsh_xrealloc(lx->cls, want);
		lx->jump = nsh_xreallocarray(lx->jump, want, sizeof(*lx->jump));
		lx->cap = want;
	}
	return 0;
}

int nsh_recipe_lex_run(struct nsh_recipe_lex *lx, enum nsh_recipe_family fam, const char *text,
		       size_t len, struct nsh_err *err)
{
	struct lexer L = {.lx = lx, .s = (const unsigned char *)text, .n = len};
	const unsigned char *s = L.s;
	bool regex_ok = true, in_code = true;
	size_t i = 0;

	if (len > NSH_RECIPE_TEXT_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "text of %zu bytes is larger than %u bytes",
				   len, NSH_RECIPE_TEXT_MAX);
	grow(lx, len);
	lx->fam = fam;
	lx->text = text;
	lx->len = len;
	lx->nspans = 0;
	memset(lx->cls, NSH_RECIPE_CLS_CODE, len);
	memset(lx->jump, 0xff, len * sizeof(*lx->jump));
	lx->crlf = false;
	{
		const char *nl = memchr(text, '\n', len);

		lx->crlf = nl && nl > text && nl[-1] == '\r';
	}

	if (fam == NSH_RECIPE_FAM_JS && len >= 2 && s[0] == '#' && s[1] == '!')
		i = line_comment(&L, 0, 2);

	while (i < len) {
		unsigned char c;
		size_t j;

		if (!in_code) {
			bool interp;

			i = template_text(&L, i, &interp);
			in_code = true;
			regex_ok = interp;
			continue;
		}
		c = s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			i++;
			continue;
		}
		if (fam == NSH_RECIPE_FAM_TEXT) {
			if (c == '(' || c == '[' || c == '{')
				push(&L, (uint32_t)i);
			else if (c == ')')
				close_bracket(&L, i, '(');
			else if (c == ']')
				close_bracket(&L, i, '[');
			else if (c == '}')
				close_bracket(&L, i, '{');
			i++;
			continue;
		}
		/* comments */
		if (fam == NSH_RECIPE_FAM_PYTHON && c == '#') {
			i = line_comment(&L, i, 1);
			continue;
		}
		if (fam != NSH_RECIPE_FAM_PYTHON && c == '/' && i + 1 < len &&
		    (s[i + 1] == '/' || s[i + 1] == '*')) {
			i = s[i + 1] == '/' ? line_comment(&L, i, 2) : block_comment(&L, i);
			continue;
		}
		/* words, with the string prefixes that hang off them */
		if (is_ident(c)) {
			size_t w = i;

			j = i;
			while (j < len && is_ident(s[j]))
				j++;
			if (j < len && fam == NSH_RECIPE_FAM_PYTHON &&
			    (s[j] == '\'' || s[j] == '"') && py_prefix(s + w, j - w)) {
				bool triple = j + 2 < len && s[j + 1] == s[j] && s[j + 2] == s[j];

				i = quoted(&L, w, j, s[j], triple ? 3 : 1, true, triple);
				continue;
			}
			if (j < len && fam == NSH_RECIPE_FAM_C && s[j] == '"' && s[j - 1] == 'R' &&
			    (j - w == 1 || word_is(s + w, j - w, "u8R") ||
			     word_is(s + w, j - w, "uR") || word_is(s + w, j - w, "UR") ||
			     word_is(s + w, j - w, "LR"))) {
				size_t e = cpp_raw(&L, w, j);

				if (e) {
					i = e;
					continue;
				}
			}
			regex_ok = fam == NSH_RECIPE_FAM_JS && js_word_allows_regex(s + w, j - w);
			i = j;
			continue;
		}
		switch (c) {
		case '"':
			if (fam == NSH_RECIPE_FAM_PYTHON || fam == NSH_RECIPE_FAM_JAVA) {
				bool triple = i + 2 < len && s[i + 1] == '"' && s[i + 2] == '"';

				i = quoted(&L, i, i, '"', triple ? 3 : 1, true, triple);
			} else {
				i = quoted(&L, i, i, '"', 1, true, false);
			}
			regex_ok = false;
			continue;
		case '\'':
			if (fam == NSH_RECIPE_FAM_PYTHON) {
				bool triple = i + 2 < len && s[i + 1] == '\'' && s[i + 2] == '\'';

				i = quoted(&L, i, i, '\'', triple ? 3 : 1, true, triple);
			} else if (fam == NSH_RECIPE_FAM_JS) {
				i = quoted(&L, i, i, '\'', 1, true, false);
			} else {
				j = char_lit(&L, i);
				i = j ? j : i + 1;
			}
			regex_ok = false;
			continue;
		case '`':
			if (fam == NSH_RECIPE_FAM_GO) {
				i = quoted(&L, i, i, '`', 1, false, true);
			} else if (fam == NSH_RECIPE_FAM_JS) {
				size_t idx =
					add_span(&L, i, i + 1, i + 1, i + 1, NSH_RECIPE_CLS_STRING);

				NSH_ALLOC_GROW(L.tmpl, L.tp + 1, L.talloc);
				L.tmpl[L.tp++] = idx;
				in_code = false;
				i++;
			} else {
				i++;
			}
			regex_ok = false;
			continue;
		case '@':
			if (fam == NSH_RECIPE_FAM_C && i + 1 < len && s[i + 1] == '"') {
				i = verbatim(&L, i, i + 1);
				regex_ok = false;
				continue;
			}
			break;
		case '/':
			if (fam == NSH_RECIPE_FAM_JS && regex_ok) {
				j = regex_lit(&L, i);
				if (j) {
					i = j;
					regex_ok = false;
					continue;
				}
			}
			break;
		case '(':
		case '[':
		case '{':
			push(&L, (uint32_t)i);
			regex_ok = true;
			i++;
			continue;
		case ')':
		case ']':
			close_bracket(&L, i, c == ')' ? '(' : '[');
			regex_ok = false;
			i++;
			continue;
		case '}':
			if (close_bracket(&L, i, '{')) {
				/* the end of a ${...}: back to the template's text */
				lx->cls[i] = NSH_RECIPE_CLS_STRING;
				in_code = false;
				i++;
				continue;
			}
			regex_ok = true;
			i++;
			continue;
		case '+':
		case '-':
			if (i + 1 < len && s[i + 1] == c) {
				regex_ok = false;
				i += 2;
				continue;
			}
			break;
		default:
			break;
		}
		regex_ok = true;
		i++;
	}
	/* templates still open at the end run to it */
	while (L.tp) {
		struct nsh_recipe_span *sp = &lx->spans[L.tmpl[--L.tp]];

		sp->end = (uint32_t)len;
		sp->body_end = (uint32_t)len;
		lx->jump[sp->start] = sp->end;
	}
	free(L.stack);
	free(L.tmpl);
	return 0;
}

const struct nsh_recipe_span *nsh_recipe_lex_span_at(const struct nsh_recipe_lex *lx, size_t pos)
{
	size_t lo = 0, hi = lx->nspans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (lx->spans[mid].start < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < lx->nspans && lx->spans[lo].start == pos ? &lx->spans[lo] : NULL;
}
