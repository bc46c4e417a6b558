/*
 * SQL injection in changed code: a query call whose SQL is built from
 * strings. Per file, the lines of the new side are walked in order; a
 * small lexer per language (string literals with their prefixes and
 * interpolation, comments, identifiers, punctuation) reads each query
 * call's arguments, across lines when the call spans them, and each
 * assignment, so that
 *
 *     sql = "SELECT * FROM users WHERE name = '" + name + "'"
 *     cursor.execute(sql)
 *
 * is found at the call with the line where the string was built. An
 * argument is tainted when it holds a literal with SQL words in it and
 * that literal is interpolated, formatted or concatenated with something
 * that is not a constant (ALL_CAPS names and literals are constants).
 */
#include "verify/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define SPAN_LINES 40	/* lines a call or an assignment may span */
#define SPAN_BYTES 8192 /* bytes of it */
#define VARS_MAX   256	/* tainted variables remembered per file */
#define NAME_BYTES 96

enum lang { L_NONE, L_JS, L_PY, L_GO, L_JAVA };

enum taint { T_NONE, T_CONCAT, T_INTERP, T_FORMAT };

static const char *const taint_rule[] = {"", "sqli-concat", "sqli-interpolation", "sqli-format"};
static const char *const taint_how[] = {"", "string concatenation", "interpolation",
					"string formatting"};

static enum lang lang_of(const char *path)
{
	const char *dot = strrchr(nsh_vrf_basename(path), '.');
	static const char *const js[] = {".js", ".mjs", ".cjs", ".jsx",
					 ".ts", ".tsx", ".mts", ".cts"};

	if (!dot)
		return L_NONE;
	for (size_t k = 0; k < sizeof(js) / sizeof(js[0]); k++)
		if (!strcmp(dot, js[k]))
			return L_JS;
	if (!strcmp(dot, ".py"))
		return L_PY;
	if (!strcmp(dot, ".go"))
		return L_GO;
	if (!strcmp(dot, ".java"))
		return L_JAVA;
	return L_NONE;
}

static const char *const calls_js[] = {
	"query",	   "execute",		"raw",	      "whereRaw",   "orWhereRaw",
	"havingRaw",	   "joinRaw",		"orderByRaw", "groupByRaw", "selectRaw",
	"$queryRawUnsafe", "$executeRawUnsafe", "unsafe",     NULL,
};
static const char *const calls_py[] = {"execute", "executemany", "executescript",
				       "raw",	  "mogrify",	 NULL};
static const char *const calls_go[] = {
	"Query",   "QueryRow",	     "Exec", "QueryContext", "QueryRowContext", "ExecContext",
	"Prepare", "PrepareContext", "Raw",  "Queryx",	     "Select",		"Get",
	NULL};
static const char *const calls_java[] = {"execute",
					 "executeQuery",
					 "executeUpdate",
					 "executeLargeUpdate",
					 "addBatch",
					 "prepareStatement",
					 "prepareCall",
					 "createQuery",
					 "createNativeQuery",
					 "createSQLQuery",
					 "queryForList",
					 "queryForObject",
					 "update",
					 NULL};

static const char *const *calls_of(enum lang l)
{
	switch (l) {
	case L_JS:
		return calls_js;
	case L_PY:
		return calls_py;
	case L_GO:
		return calls_go;
	case L_JAVA:
		return calls_java;
	case L_NONE:
		break;
	}
	return NULL;
}

/* ---- SQL words ---- */

static bool sql_words(const char *p, size_t n)
{
	static const char *const kw[] = {"select",   "insert",	 "update",   "delete", "where",
					 "values",   "into",	 "from",     "join",   "drop",
					 "create",   "alter",	 "truncate", "union",  "having",
					 "order by", "group by", NULL};

	for (int k = 0; kw[k]; k++) {
		const char *q = p;
		size_t left = n, m = strlen(kw[k]);
		const char *hit;

		while ((hit = nsh_vrf_memcasemem(q, left, kw[k]))) {
			size_t at = (size_t)(hit - p);

			if ((at == 0 || !nsh_vrf_ident((unsigned char)p[at - 1])) &&
			    (at + m >= n || !nsh_vrf_ident((unsigned char)p[at + m])))
				return true;
			left = n - (at + 1);
			q = hit + 1;
		}
	}
	return false;
}

/* ---- the lexer ---- */

enum tok_type { K_END, K_STR, K_IDENT, K_NUM, K_PUNCT };

struct tok {
	enum tok_type type;
	size_t start, end; /* in the text */
	bool interp;	   /* a string with interpolation (untagged template, f-string) */
	bool sql;	   /* a string with SQL words */
	char c;		   /* K_PUNCT: the character */
};

struct lexer {
	enum lang lang;
	const char *s;
	size_t n, i;
	bool prev_ident; /* the last token was an identifier or ')' (a template is tagged) */
};

static void skip_braces(struct lexer *lx)
{
	int depth = 1;

	while (lx->i < lx->n && depth) {
		char c = lx->s[lx->i++];

		if (c == '{')
			depth++;
		else if (c == '}')
			depth--;
		else if ((c == '"' || c == '\'') && lx->i < lx->n) {
			while (lx->i < lx->n && lx->s[lx->i] != c && lx->s[lx->i] != '\n')
				lx->i += lx->s[lx->i] == '\\' ? 2 : 1;
			lx->i++;
		}
	}
}

/* A string literal starting at lx->i (the quote); @fstr: Python f-string. */
static void lex_string(struct lexer *lx, struct tok *t, bool fstr)
{
	const char *s = lx->s;
	char q = s[lx->i];
	bool triple = lx->i + 2 < lx->n && s[lx->i + 1] == q && s[lx->i + 2] == q &&
		      (lx->lang == L_PY || (lx->lang == L_JAVA && q == '"'));
	bool raw_go = lx->lang == L_GO && q == '`';
	size_t body;

	t->type = K_STR;
	lx->i += triple ? 3 : 1;
	body = lx->i;
	while (lx->i < lx->n) {
		char c = s[lx->i];

		if (c == '\\' && !raw_go) {
			lx->i += 2;
			continue;
		}
		if (triple) {
			if (c == q && lx->i + 2 < lx->n && s[lx->i + 1] == q && s[lx->i + 2] == q)
				break;
		} else if (c == q) {
			break;
		} else if (c == '\n' && q != '`') {
			break; /* an unterminated literal ends at the line */
		}
		if (q == '`' && lx->lang == L_JS && c == '$' && lx->i + 1 < lx->n &&
		    s[lx->i + 1] == '{') {
			t->interp = true;
			lx->i += 2;
			skip_braces(lx);
			continue;
		}
		if (fstr && c == '{') {
			if (lx->i + 1 < lx->n && s[lx->i + 1] == '{') {
				lx->i += 2;
				continue;
			}
			t->interp = true;
		}
		lx->i++;
	}
	if (lx->i > lx->n)
		lx->i = lx->n;
	t->sql = sql_words(s + body, lx->i - body);
	lx->i += lx->i < lx->n ? (triple ? 3 : 1) : 0;
	if (lx->i > lx->n)
		lx->i = lx->n;
}

static bool py_prefix(const char *p, size_t n, bool *fstr)
{
	*fstr = false;
	if (n > 2)
		return false;
	for (size_t k = 0; k < n; k++) {
		char c = nsh_vrf_lower(p[k]);

		if (!strchr("rbuf", c))
			return false;
		if (c == 'f')
			*fstr = true;
	}
	return true;
}

static bool lex(struct lexer *lx, struct tok *t)
{
	const char *s = lx->s;

	memset(t, 0, sizeof(*t));
	for (;;) {
		char c;

		while (lx->i < lx->n && (s[lx->i] == ' ' || s[lx->i] == '\t' || s[lx->i] == '\n' ||
					 s[lx->i] == '\r'))
			lx->i++;
		if (lx->i >= lx->n) {
			t->type = K_END;
			return false;
		}
		c = s[lx->i];
		t->start = lx->i;
		if (lx->lang == L_PY && c == '#') {
			while (lx->i < lx->n && s[lx->i] != '\n')
				lx->i++;
			continue;
		}
		if (lx->lang != L_PY && c == '/' && lx->i + 1 < lx->n && s[lx->i + 1] == '/') {
			while (lx->i < lx->n && s[lx->i] != '\n')
				lx->i++;
			continue;
		}
		if (lx->lang != L_PY && c == '/' && lx->i + 1 < lx->n && s[lx->i + 1] == '*') {
			const char *e = memmem(s + lx->i + 2, lx->n - lx->i - 2, "*/", 2);

			lx->i = e ? (size_t)(e - s) + 2 : lx->n;
			continue;
		}
		break;
	}
	{
		char c = s[lx->i];

		if (c == '"' || c == '\'' || c == '`') {
			bool tagged = c == '`' && lx->prev_ident;

			lex_string(lx, t, false);
			if (tagged)
				t->interp = false; /* sql`...${x}`: the tag parameterises */
			lx->prev_ident = false;
		} else if (nsh_vrf_ident((unsigned char)c)) {
			bool fstr;

			while (lx->i < lx->n && nsh_vrf_ident((unsigned char)s[lx->i]))
				lx->i++;
			if (lx->lang == L_PY && lx->i < lx->n &&
			    (s[lx->i] == '"' || s[lx->i] == '\'') &&
			    py_prefix(s + t->start, lx->i - t->start, &fstr)) {
				size_t start = t->start;

				lex_string(lx, t, fstr);
				t->start = start;
				lx->prev_ident = false;
			} else {
				t->type = c >= '0' && c <= '9' ? K_NUM : K_IDENT;
				lx->prev_ident = t->type == K_IDENT;
			}
		} else {
			t->type = K_PUNCT;
			t->c = c;
			lx->i++;
			lx->prev_ident = c == ')';
		}
	}
	t->end = lx->i;
	return true;
}

/* ---- arguments ---- */

struct arg {
	enum taint taint;
	char name[NAME_BYTES]; /* the argument is only this (dotted) name, else "" */
};

static bool all_caps(const char *p, size_t n)
{
	bool letter = false;

	for (size_t k = 0; k < n; k++) {
		if (p[k] >= 'a' && p[k] <= 'z')
			return false;
		if (p[k] >= 'A' && p[k] <= 'Z')
			letter = true;
	}
	return letter;
}

static bool word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && !memcmp(p, w, n);
}

static bool constant_word(const char *p, size_t n)
{
	return all_caps(p, n) || word_is(p, n, "true") || word_is(p, n, "false") ||
	       word_is(p, n, "null") || word_is(p, n, "None") || word_is(p, n, "nil") ||
	       word_is(p, n, "True") || word_is(p, n, "False") || word_is(p, n, "undefined");
}

/*
 * Analyse one expression s[0..n): how it is tainted, or the dotted name it
 * consists of.
 */
static void analyse(enum lang lang, const char *s, size_t n, bool need_sql, struct arg *ret)
{
	struct lexer lx = {.lang = lang, .s = s, .n = n};
	struct tok t, prev = {0};
	bool sql = false, interp = false, fmt = false, plus = false, percent = false;
	bool nonconst = false, only_name = true;
	int depth = 0;
	size_t name_len = 0;

	memset(ret, 0, sizeof(*ret));
	while (lex(&lx, &t)) {
		switch (t.type) {
		case K_STR:
			sql |= t.sql;
			interp |= t.interp;
			only_name = false;
			break;
		case K_IDENT: {
			size_t save = lx.i;
			struct tok next;
			bool call;

			call = lex(&lx, &next) && next.type == K_PUNCT && next.c == '(';
			lx.i = save;
			lx.prev_ident = true;
			if (call && (word_is(s + t.start, t.end - t.start, "Sprintf") ||
				     word_is(s + t.start, t.end - t.start, "format") ||
				     word_is(s + t.start, t.end - t.start, "formatted") ||
				     word_is(s + t.start, t.end - t.start, "concat")))
				fmt = true;
			if (depth == 0 && !constant_word(s + t.start, t.end - t.start))
				nonconst = true;
			if (only_name && name_len + (t.end - t.start) + 1 < NAME_BYTES) {
				memcpy(ret->name + name_len, s + t.start, t.end - t.start);
				name_len += t.end - t.start;
				ret->name[name_len] = '\0';
			} else {
				only_name = false;
			}
			break;
		}
		case K_NUM:
			only_name = false;
			break;
		case K_PUNCT:
			if (t.c == '(' || t.c == '[' || t.c == '{')
				depth++;
			else if ((t.c == ')' || t.c == ']' || t.c == '}') && depth > 0)
				depth--;
			if (t.c == '+' && depth == 0 &&
			    !(lx.i < n && (s[lx.i] == '+' || s[lx.i] == '=')))
				plus = true;
			if (t.c == '%' && lang == L_PY && depth == 0 && prev.type == K_STR)
				percent = true;
			if (t.c == '.' && only_name && name_len && name_len + 1 < NAME_BYTES) {
				ret->name[name_len++] = '.';
				ret->name[name_len] = '\0';
			} else {
				only_name = false;
			}
			break;
		case K_END:
			break;
		}
		prev = t;
	}
	if (!only_name || !name_len || ret->name[name_len - 1] == '.')
		ret->name[0] = '\0';
	if (!sql && need_sql)
		return;
	if (interp)
		ret->taint = T_INTERP;
	else if (fmt || percent)
		ret->taint = T_FORMAT;
	else if (plus && nonconst)
		ret->taint = T_CONCAT;
}

/* ---- per file ---- */

struct var {
	char name[NAME_BYTES];
	enum taint taint;
	int line;   /* where it was built */
	bool added; /* built on an added line */
};

struct file_scan {
	enum lang lang;
	const char *path;
	const struct nsh_verify_dfile *f;
	size_t *idx; /* indices of new-side lines in f->line */
	size_t nidx;
	struct var vars[VARS_MAX];
	size_t nvars;
	struct nsh_buf span; /* the text of a call or an assignment across lines */
	const struct nsh_verify_allow *allow;
	struct nsh_verify_findings *ret;
};

static struct var *find_var(struct file_scan *fs, const char *name)
{
	for (size_t k = 0; k < fs->nvars; k++)
		if (!strcmp(fs->vars[k].name, name))
			return &fs->vars[k];
	return NULL;
}

/*
 * Gather into fs->span the text from line k's byte @from on, over the
 * following lines of the same hunk, until the brackets opened close
 * (@close: stop at the bracket that closes depth 0) or the statement
 * ends. Returns whether any gathered line is an added one.
 */
static bool gather(struct file_scan *fs, size_t k, size_t from, bool close)
{
	const struct nsh_verify_dline *first = &fs->f->line[fs->idx[k]];
	int depth = 0;
	bool added = false, in_str = false;
	char q = 0;

	nsh_buf_reset(&fs->span);
	for (size_t j = k; j < fs->nidx && j < k + SPAN_LINES; j++) {
		const struct nsh_verify_dline *l = &fs->f->line[fs->idx[j]];
		size_t start = j == k ? from : 0;
		size_t before = fs->span.len;
		bool more;

		if (l->hunk != first->hunk)
			break;
		added |= l->side == '+';
		if (j > k)
			nsh_buf_addch(&fs->span, '\n');
		if (nsh_buf_add(&fs->span, l->text + start, l->len - start) < 0)
			break;
		for (size_t i = before; i < fs->span.len; i++) {
			char c = fs->span.buf[i];

			if (in_str) {
				if (c == '\\')
					i++;
				else if (c == q)
					in_str = false;
				else if (c == '\n' && q != '`' && fs->lang != L_PY)
					in_str = false;
				continue;
			}
			if (c == '"' || c == '\'' || c == '`') {
				in_str = true;
				q = c;
			} else if (c == '(' || c == '[' || c == '{') {
				depth++;
			} else if (c == ')' || c == ']' || c == '}') {
				if (--depth < 0 && close) {
					nsh_buf_truncate(&fs->span, i);
					return added;
				}
			} else if (!close && depth == 0 && c == ';') {
				nsh_buf_truncate(&fs->span, i);
				return added;
			}
		}
		if (fs->span.len > SPAN_BYTES)
			break;
		if (close)
			continue;
		/* an assignment goes on while brackets are open or a line ends or starts with '+'
		 */
		more = depth > 0 || in_str;
		{
			size_t m = fs->span.len;

			while (m && (fs->span.buf[m - 1] == ' ' || fs->span.buf[m - 1] == '\t'))
				m--;
			if (m && (fs->span.buf[m - 1] == '+' || fs->span.buf[m - 1] == '\\' ||
				  fs->span.buf[m - 1] == '%'))
				more = true;
		}
		if (!more && j + 1 < fs->nidx) {
			const struct nsh_verify_dline *nl = &fs->f->line[fs->idx[j + 1]];
			size_t m = nl->len;
			const char *t = nsh_vrf_trim(nl->text, &m);

			if (m && (t[0] == '+' || t[0] == '.') && nl->hunk == first->hunk &&
			    !(m > 1 && t[1] == '+'))
				more = true;
		}
		if (!more)
			break;
	}
	return added;
}

static void flag(struct file_scan *fs, int line, enum taint how, const char *call,
		 const struct var *via, const struct nsh_verify_dline *l)
{
	char *msg, *ex;
	size_t n = l->len;
	const char *t = nsh_vrf_trim(l->text, &n);

	if (fs->allow && nsh_verify_allowed(fs->allow, fs->path, taint_rule[how], NULL))
		return;
	if (via)
		msg = nsh_xasprintf("%s() gets '%s', SQL built by %s at line %d", call, via->name,
				    taint_how[how], via->line);
	else
		msg = nsh_xasprintf("SQL built by %s passed to %s()", taint_how[how], call);
	ex = nsh_xmemdup(t, n > 300 ? 300 : n);
	nsh_verify_findings_add(fs->ret, NSH_VERIFY_KIND_SQLI, NSH_VERIFY_ERROR, taint_rule[how],
				fs->path, line, msg, ex);
	free(msg);
	free(ex);
}

/* The arguments of the call whose '(' is at byte @open of line k. */
static void check_call(struct file_scan *fs, size_t k, size_t open, const char *call, bool ctx)
{
	/* knex's whereRaw & co take SQL fragments, without the words of a statement */
	size_t cl = strlen(call);
	bool fragment = fs->lang == L_JS && cl > 3 && !strcmp(call + cl - 3, "Raw");
	const struct nsh_verify_dline *l = &fs->f->line[fs->idx[k]];
	bool added = gather(fs, k, open + 1, true);
	const char *s = fs->span.buf;
	size_t n = fs->span.len, a = 0;
	int depth = 0, argno = 0;
	bool in_str = false;
	char q = 0;

	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : ',';

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == q)
				in_str = false;
			continue;
		}
		if (c == '"' || c == '\'' || c == '`') {
			in_str = true;
			q = c;
		} else if (c == '(' || c == '[' || c == '{') {
			depth++;
		} else if (c == ')' || c == ']' || c == '}') {
			depth--;
		} else if (c == ',' && depth <= 0) {
			struct arg arg;

			/* the Context forms of Go take the context first */
			if (!(ctx && argno == 0)) {
				analyse(fs->lang, s + a, i - a, !fragment, &arg);
				if (arg.taint != T_NONE && added) {
					flag(fs, l->new_line, arg.taint, call, NULL, l);
					return;
				}
				if (arg.name[0]) {
					struct var *v = find_var(fs, arg.name);

					if (v && v->taint != T_NONE && (added || v->added)) {
						flag(fs, l->new_line, v->taint, call, v, l);
						return;
					}
				}
			}
			argno++;
			a = i + 1;
		}
	}
}

/* Query calls on line k: ".name(" or ".name (" with a name of the language's list. */
static void find_calls(struct file_scan *fs, size_t k)
{
	const struct nsh_verify_dline *l = &fs->f->line[fs->idx[k]];
	const char *const *calls = calls_of(fs->lang);
	const char *p = l->text;
	size_t n = l->len;

	for (const char *d = memchr(p, '.', n); d;
	     d = memchr(d + 1, '.', n - (size_t)(d + 1 - p))) {
		size_t i = (size_t)(d - p) + 1, e = i;

		while (e < n && nsh_vrf_ident((unsigned char)p[e]))
			e++;
		if (e == i)
			continue;
		for (int c = 0; calls[c]; c++) {
			size_t m = strlen(calls[c]), o = e;

			if (m != e - i || memcmp(p + i, calls[c], m))
				continue;
			while (o < n && p[o] == ' ')
				o++;
			if (o < n && p[o] == '(')
				check_call(fs, k, o, calls[c],
					   fs->lang == L_GO && strstr(calls[c], "Context"));
			break;
		}
		if (e >= n)
			break;
	}
}

/* "NAME = expr", "NAME := expr", "NAME += expr" (with declarations and type annotations). */
static void find_assignment(struct file_scan *fs, size_t k)
{
	const struct nsh_verify_dline *l = &fs->f->line[fs->idx[k]];
	const char *p = l->text;
	size_t n = l->len, op = 0, b, e;
	bool append = false, added;
	struct arg arg;
	struct var *v;
	char name[NAME_BYTES];

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '"' || c == '\'' || c == '`' || c == '(' || c == '#')
			return; /* not a plain assignment at the start of the line */
		if (c == '/' && i + 1 < n && p[i + 1] == '/')
			return;
		if (c != '=')
			continue;
		if ((i + 1 < n && (p[i + 1] == '=' || p[i + 1] == '>')) ||
		    (i > 0 && strchr("=!<>", p[i - 1])))
			return;
		op = i;
		break;
	}
	if (!op)
		return;
	e = op;
	if (p[e - 1] == '+') {
		append = true;
		e--;
	} else if (p[e - 1] == ':') {
		e--;
	}
	while (e > 0 && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	/* "sql: string =" / "sql: str =": the name is before the ':' */
	{
		const char *colon = memchr(p, ':', e);

		if (colon && fs->lang != L_GO)
			e = (size_t)(colon - p);
		while (e > 0 && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
	}
	b = e;
	while (b > 0 && (nsh_vrf_ident((unsigned char)p[b - 1]) || p[b - 1] == '.'))
		b--;
	if (b == e || e - b >= NAME_BYTES)
		return;
	if (fs->lang == L_GO && b >= 4) {
		/* "var q string = ...": the name is the word after "var" */
		size_t w = 0;

		while (w < n && (p[w] == ' ' || p[w] == '\t'))
			w++;
		if (n - w > 4 && !memcmp(p + w, "var ", 4)) {
			size_t s = w + 4, t;

			while (s < n && p[s] == ' ')
				s++;
			for (t = s; t < n && nsh_vrf_ident((unsigned char)p[t]); t++)
				;
			if (t > s && t - s < NAME_BYTES) {
				b = s;
				e = t;
			}
		}
	}
	memcpy(name, p + b, e - b);
	name[e - b] = '\0';
	added = gather(fs, k, op + 1, false);
	analyse(fs->lang, fs->span.buf, fs->span.len, true, &arg);
	v = find_var(fs, name);
	if (arg.taint == T_NONE && arg.name[0]) {
		/* sql2 = sql: the taint travels */
		struct var *from = find_var(fs, arg.name);

		if (from && from->taint != T_NONE) {
			arg.taint = from->taint;
			added |= from->added;
		}
	}
	if (arg.taint == T_NONE) {
		if (v && !append)
			v->taint = T_NONE;
		return;
	}
	if (!v) {
		if (fs->nvars >= VARS_MAX)
			return;
		v = &fs->vars[fs->nvars++];
		memcpy(v->name, name, e - b + 1);
		v->added = false;
	}
	v->taint = arg.taint;
	v->line = l->new_line;
	v->added |= added;
}

size_t nsh_verify_scan_sqli(const struct nsh_verify_diff *d, const struct nsh_verify_allow *allow,
			    struct nsh_verify_findings *ret)
{
	struct file_scan *fs = nsh_xcalloc(1, sizeof(*fs));
	size_t bytes = 0;

	nsh_buf_init(&fs->span, SPAN_BYTES + 4096);
	fs->allow = allow;
	fs->ret = ret;
	for (size_t i = 0; i < d->nr; i++) {
		const struct nsh_verify_dfile *f = &d->file[i];
		bool any_added = false;

		fs->lang = lang_of(nsh_verify_dfile_path(f));
		if (fs->lang == L_NONE || f->status == NSH_VERIFY_FILE_DELETED || f->binary)
			continue;
		fs->f = f;
		fs->path = nsh_verify_dfile_path(f);
		fs->nvars = 0;
		fs->nidx = 0;
		fs->idx = nsh_xreallocarray(fs->idx, f->nr + 1, sizeof(*fs->idx));
		for (size_t k = 0; k < f->nr; k++) {
			if (f->line[k].side == '-')
				continue;
			fs->idx[fs->nidx++] = k;
			any_added |= f->line[k].side == '+';
		}
		if (!any_added)
			continue;
		for (size_t k = 0; k < fs->nidx; k++) {
			const struct nsh_verify_dline *l = &f->line[fs->idx[k]];

			bytes += l->len + 2;
			if (!memchr(l->text, '=', l->len) && !memchr(l->text, '.', l->len))
				continue;
			find_assignment(fs, k);
			find_calls(fs, k);
		}
	}
	free(fs->idx);
	nsh_buf_release(&fs->span);
	free(fs);
	return bytes;
}
