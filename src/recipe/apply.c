/*
 * Running a recipe: choices, the applies check, the manifest, then every
 * enabled rule in order over every file it selects.
 *
 * A file is read only when some rule selects it, and lexed only when some
 * rule's required literal occurs in it; the lexed state is reused by the
 * following rules until one of them changes the text. Each rule that
 * changes a file adds a layer of edits; positions of changes and
 * needs-review items are carried through the layers, back to the original
 * file (line) and forward to the new one (new_line).
 */
#include "recipe/recipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "recipe/recipe_int.h"

#include "core/banned.h"

#define SNIPPET_MAX	2000 /* bytes of matched text kept per change */
#define DEPTH_MAX	64   /* directory levels walked */
#define ENCLOSE_MAX	4096 /* bytes looked back for an enclosing bracket */
#define NAMED_LISTS_MAX 64   /* import lists read per file */

/* ---- results ---- */

void nsh_recipe_result_release(struct nsh_recipe_result *res)
{
	if (!res)
		return;
	free(res->reason);
	for (size_t i = 0; i < res->nfiles; i++) {
		free(res->files[i].path);
		free(res->files[i].before);
		free(res->files[i].after);
	}
	free(res->files);
	for (size_t i = 0; i < res->nchanges; i++) {
		free(res->changes[i].file);
		free(res->changes[i].before);
		free(res->changes[i].after);
	}
	free(res->changes);
	for (size_t i = 0; i < res->nreviews; i++) {
		free(res->reviews[i].file);
		free(res->reviews[i].text);
	}
	free(res->reviews);
	free(res->counts);
	free(res->taken);
	for (size_t i = 0; i < res->nmedits; i++) {
		free(res->medits[i].file);
		free(res->medits[i].package);
		free(res->medits[i].section);
		free(res->medits[i].from);
		free(res->medits[i].to);
	}
	free(res->medits);
	free(res->post);
	for (size_t i = 0; i < res->nwarnings; i++) {
		free(res->warnings[i].file);
		free(res->warnings[i].message);
	}
	free(res->warnings);
	memset(res, 0, sizeof(*res));
}

void nsh_recipe_result_warn(struct nsh_recipe_result *res, const char *file, const char *rule,
			    const char *fmt, ...)
{
	struct nsh_recipe_warning *w;
	struct nsh_buf b = NSH_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	nsh_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	NSH_ALLOC_GROW(res->warnings, res->nwarnings + 1, res->warnings_alloc);
	w = &res->warnings[res->nwarnings++];
	w->file = file ? nsh_xstrdup(file) : NULL;
	w->rule = rule;
	w->message = nsh_buf_detach(&b, NULL);
}

void nsh_recipe_result_file(struct nsh_recipe_result *res, const char *path, const char *before,
			    size_t before_len, const char *after, size_t after_len,
			    unsigned changes)
{
	struct nsh_recipe_filechange *f;

	NSH_ALLOC_GROW(res->files, res->nfiles + 1, res->files_alloc);
	f = &res->files[res->nfiles++];
	f->path = nsh_xstrdup(path);
	f->before = nsh_xmemdup(before, before_len);
	f->before_len = before_len;
	f->after = nsh_xmemdup(after, after_len);
	f->after_len = after_len;
	f->changes = changes;
}

/* ---- choices ---- */

static bool listed(const struct nsh_strvec *l, const char *s)
{
	return nsh_strvec_find(l, s) >= 0;
}

static void ids_of_choices(const struct nsh_recipe *r, struct nsh_buf *out)
{
	for (size_t i = 0; i < r->nchoices; i++)
		nsh_buf_addf(out, "%s%s", i ? ", " : "", r->choices[i].id);
	if (!r->nchoices)
		nsh_buf_adds(out, "none");
}

int nsh_recipe_resolve(const struct nsh_recipe *r, const struct nsh_recipe_pick *picks,
		       size_t npicks, struct nsh_recipe_taken **ret_taken, bool *enabled,
		       struct nsh_err *err)
{
	struct nsh_recipe_taken *taken = nsh_xcalloc(r->nchoices ? r->nchoices : 1, sizeof(*taken));
	struct nsh_buf ids = NSH_BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < npicks; i++) {
		const struct nsh_recipe_choice *c = NULL;
		size_t ci = 0;

		for (; ci < r->nchoices && !c; ci++)
			if (!strcmp(r->choices[ci].id, picks[i].choice))
				c = &r->choices[ci];
		if (!c) {
			ids_of_choices(r, &ids);
			rc = nsh_err_set(err, NSH_ENOTFOUND,
					 "recipe '%s' has no choice '%s' (choices: %s)", r->id,
					 picks[i].choice, ids.buf);
			goto out;
		}
		ci--;
		if (taken[ci].alt) {
			rc = nsh_err_set(err, NSH_EINVAL, "choice '%s' is made twice", c->id);
			goto out;
		}
		for (size_t a = 0; a < c->nalts; a++)
			if (!strcmp(c->alts[a].id, picks[i].alt))
				taken[ci].alt = &c->alts[a];
		if (!taken[ci].alt) {
			for (size_t a = 0; a < c->nalts; a++)
				nsh_buf_addf(&ids, "%s%s", a ? ", " : "", c->alts[a].id);
			rc = nsh_err_set(err, NSH_ENOTFOUND,
					 "choice '%s' has no alternative '%s' (alternatives: %s)",
					 c->id, picks[i].alt, ids.buf);
			goto out;
		}
		taken[ci].choice = c;
	}
	for (size_t ci = 0; ci < r->nchoices; ci++) {
		const struct nsh_recipe_choice *c = &r->choices[ci];

		if (taken[ci].alt)
			continue;
		taken[ci].choice = c;
		taken[ci].is_default = true;
		for (size_t a = 0; a < c->nalts; a++)
			if (!strcmp(c->alts[a].id, c->def))
				taken[ci].alt = &c->alts[a];
	}
	for (size_t i = 0; i < r->nrules; i++) {
		const char *id = r->rules[i].id;

		enabled[i] = r->rules[i].enabled;
		for (size_t ci = 0; ci < r->nchoices; ci++) {
			const struct nsh_recipe_choice *c = &r->choices[ci];
			bool gated = false;

			for (size_t a = 0; a < c->nalts; a++)
				gated |= listed(&c->alts[a].enable, id);
			if (gated && !listed(&taken[ci].alt->enable, id))
				enabled[i] = false;
			if (gated && listed(&taken[ci].alt->enable, id))
				enabled[i] = true;
			if (listed(&taken[ci].alt->disable, id))
				enabled[i] = false;
		}
	}
	/* a rule gated by two choices runs only when both allow it */
	for (size_t i = 0; i < r->nrules; i++)
		for (size_t ci = 0; ci < r->nchoices; ci++) {
			const struct nsh_recipe_choice *c = &r->choices[ci];
			bool gated = false;

			for (size_t a = 0; a < c->nalts; a++)
				gated |= listed(&c->alts[a].enable, r->rules[i].id);
			if ((gated && !listed(&taken[ci].alt->enable, r->rules[i].id)) ||
			    listed(&taken[ci].alt->disable, r->rules[i].id))
				enabled[i] = false;
		}
out:
	nsh_buf_release(&ids);
	if (rc) {
		free(taken);
		return rc;
	}
	*ret_taken = taken;
	return 0;
}

/* ---- module bindings ---- */

/* The templates that bind a name to a module, and where the name is in a match. */
static const struct {
	const char *tmpl;
	const char *after; /* the name is the first word after this prefix ("" for the start) */
} bind_tmpls[] = {
	{":[[n]] = require(:[m])", ""},
	{"import :[[n]] from :[m:arg]", "import"},
	{"import * as :[[n]] from :[m:arg]", "as"},
	{"import :[[n]], :[_] from :[m:arg]", "import"},
};
#define NBIND_TMPLS (sizeof(bind_tmpls) / sizeof(bind_tmpls[0]))

/* The templates that import members by name; the list is the first {...}. */
static const char *const named_tmpls[] = {
	"{:[l]} = require(:[m])",
	"import {:[l]} from :[m:arg]",
	"import :[[n]], {:[l]} from :[m:arg]",
};
#define NNAMED_TMPLS (sizeof(named_tmpls) / sizeof(named_tmpls[0]))

struct binder {
	const struct nsh_recipe_bind *b;
	struct nsh_recipe_pattern *pat[NBIND_TMPLS];	/* bindings to the modules (JavaScript) */
	struct nsh_recipe_pattern *any[NBIND_TMPLS];	/* bindings to any module */
	struct nsh_recipe_pattern *named[NNAMED_TMPLS]; /* members imported by name */
	struct nsh_strvec names;			/* for the current file */
	unsigned version;				/* text version names is for; 0 none */
};

static int binder_init(struct binder *bd, const struct nsh_recipe_bind *b, struct nsh_err *err)
{
	struct nsh_recipe_where w = {.hole = (char *)"m"};
	struct nsh_recipe_where ws = {.hole = (char *)"m", .is = NSH_RECIPE_IS_STRING};
	const char *m;
	int rc = 0;

	memset(bd, 0, sizeof(*bd));
	bd->b = b;
	nsh_strvec_init(&bd->names);
	nsh_strvec_init(&w.equals);
	nsh_strvec_init(&w.not_equals);
	nsh_strvec_init(&ws.equals);
	nsh_strvec_init(&ws.not_equals);
	nsh_vec_foreach(m, &b->modules) {
		nsh_strvec_pushf(&w.equals, "'%s'", m);
		nsh_strvec_pushf(&w.equals, "\"%s\"", m);
	}
	for (size_t i = 0; i < NNAMED_TMPLS && !rc && b->named; i++)
		rc = nsh_recipe_pattern_compile(named_tmpls[i], NULL, NSH_RECIPE_FAM_JS,
						NSH_RECIPE_IN_CODE, &w, 1, &bd->named[i], err);
	for (size_t i = 0; i < NBIND_TMPLS && !rc && !b->named; i++) {
		rc = nsh_recipe_pattern_compile(bind_tmpls[i].tmpl, NULL, NSH_RECIPE_FAM_JS,
						NSH_RECIPE_IN_CODE, &w, 1, &bd->pat[i], err);
		if (!rc)
			rc = nsh_recipe_pattern_compile(bind_tmpls[i].tmpl, NULL, NSH_RECIPE_FAM_JS,
							NSH_RECIPE_IN_CODE, &ws, 1, &bd->any[i],
							err);
	}
	nsh_strvec_release(&w.equals);
	return rc;
}

static void binder_release(struct binder *bd)
{
	for (size_t i = 0; i < NBIND_TMPLS; i++) {
		nsh_recipe_pattern_free(bd->pat[i]);
		nsh_recipe_pattern_free(bd->any[i]);
	}
	for (size_t i = 0; i < NNAMED_TMPLS; i++)
		nsh_recipe_pattern_free(bd->named[i]);
	nsh_strvec_release(&bd->names);
}

/* Add to @out the names the templates @pats bind in the lexed file. */
static void bound_names(struct nsh_recipe_pattern *const *pats, const struct nsh_recipe_lex *lx,
			struct nsh_recipe_hits *hits, struct nsh_strvec *out)
{
	for (size_t i = 0; i < NBIND_TMPLS; i++) {
		if (nsh_recipe_pattern_run(pats[i], lx, NULL, 0, NULL, hits, NULL))
			continue;
		for (size_t h = 0; h < hits->nr; h++) {
			const char *t = lx->text + hits->v[h].start;
			size_t len = hits->v[h].end - hits->v[h].start, k = 0, w;

			if (*bind_tmpls[i].after) {
				const char *at = memmem(t, len, bind_tmpls[i].after,
							strlen(bind_tmpls[i].after));

				if (!at)
					continue;
				k = (size_t)(at - t) + strlen(bind_tmpls[i].after);
			}
			while (k < len && strchr(" \t\r\n", t[k]))
				k++;
			w = k;
			while (w < len &&
			       (t[w] == '_' || t[w] == '$' || (t[w] >= '0' && t[w] <= '9') ||
				((t[w] | 0x20) >= 'a' && (t[w] | 0x20) <= 'z') ||
				(unsigned char)t[w] >= 0x80))
				w++;
			if (w > k) {
				char *name = nsh_xstrndup(t + k, w - k);

				if (nsh_strvec_find(out, name) < 0)
					nsh_strvec_push(out, name);
				free(name);
			}
		}
	}
}

static bool word_char(char c)
{
	return c == '_' || c == '$' || (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (unsigned char)c >= 0x80;
}

/* The length of the word at @t (@n bytes), 0 when none starts there. */
static size_t word_at(const char *t, size_t n)
{
	size_t w = 0;

	while (w < n && word_char(t[w]))
		w++;
	return w && !(t[0] >= '0' && t[0] <= '9') ? w : 0;
}

/*
 * Add to @out the members one element of an import list names under their
 * own name: "a", "a = default", "a: a", "a as a". Anything else (a rename,
 * a nested pattern, a rest element, a quoted key) adds nothing.
 */
static void named_element(const char *t, size_t n, struct nsh_strvec *out)
{
	size_t k = 0, w, l;

	while (n && strchr(" \t\r\n", t[n - 1]))
		n--;
	while (k < n && strchr(" \t\r\n", t[k]))
		k++;
	w = word_at(t + k, n - k);
	if (!w)
		return;
	l = k + w;
	while (l < n && strchr(" \t\r\n", t[l]))
		l++;
	if (l < n && t[l] == '=' && (l + 1 >= n || t[l + 1] != '>')) {
		/* a default value: the local name is the member's */
	} else if (l < n && (t[l] == ':' || (n - l > 2 && !memcmp(t + l, "as", 2)))) {
		size_t m = l + (t[l] == ':' ? 1 : 2), lw;

		if (t[l] != ':' && word_char(t[l + 2]))
			return;
		while (m < n && strchr(" \t\r\n", t[m]))
			m++;
		lw = word_at(t + m, n - m);
		if (lw != w || memcmp(t + m, t + k, w))
			return;
		m += lw;
		while (m < n && strchr(" \t\r\n", t[m]))
			m++;
		if (m < n && t[m] != '=')
			return;
	} else if (l < n) {
		return;
	}
	{
		char *name = nsh_xstrndup(t + k, w);

		if (nsh_strvec_find(out, name) < 0)
			nsh_strvec_push(out, name);
		free(name);
	}
}

/* The code byte before @pos, white space and comments skipped; 0 at the start. */
static char code_before(const struct nsh_recipe_lex *lx, size_t pos)
{
	while (pos > 0) {
		char c = lx->text[--pos];

		if (lx->cls[pos] == NSH_RECIPE_CLS_CODE && !strchr(" \t\r\n", c))
			return c;
	}
	return 0;
}

/* The code byte at or after @pos, white space and comments skipped; 0 at the end. */
static char code_after(const struct nsh_recipe_lex *lx, size_t pos)
{
	for (; pos < lx->len; pos++) {
		char c = lx->text[pos];

		if (lx->cls[pos] == NSH_RECIPE_CLS_CODE && !strchr(" \t\r\n", c))
			return c;
	}
	return 0;
}

/* The bracket that encloses @pos, looking back at most ENCLOSE_MAX bytes; 0 when not found. */
static char enclosing(const struct nsh_recipe_lex *lx, size_t pos)
{
	size_t stop = pos > ENCLOSE_MAX ? pos - ENCLOSE_MAX : 0;
	long depth = 0;

	while (pos > stop) {
		char c = lx->text[--pos];

		if (lx->cls[pos] != NSH_RECIPE_CLS_CODE)
			continue;
		if (c == ')' || c == ']' || c == '}')
			depth++;
		else if ((c == '(' || c == '[' || c == '{') && depth-- == 0)
			return c;
	}
	return 0;
}

/*
 * Could renaming the word at [@s, @e) change more than a reference? True
 * for an object key ({ a: 1 }, { a = 1 }) and a shorthand property ({ a },
 * export { a }), whose name is seen from outside.
 */
static bool key_like(const struct nsh_recipe_lex *lx, size_t s, size_t e)
{
	char p = code_before(lx, s), n = code_after(lx, e);

	if (p != '{' && p != ',')
		return false;
	if (n == ':' || n == '}' || (n == '=' && e + 1 < lx->len && !strchr("=>", lx->text[e + 1])))
		return true;
	if (n != ',')
		return false;
	/* "{ a, b }" or "f(a, b)": the enclosing bracket tells (unknown: assume an object) */
	if (p == '{')
		return true;
	p = enclosing(lx, s);
	return p == '{' || p == 0;
}

/*
 * Remove from @names those that occur in the code of @lx, outside the
 * import lists @lists ([open, close] offset pairs), where a rename could
 * change more than a reference (see key_like()). Those stay as they are.
 */
static void drop_key_like(const struct nsh_recipe_lex *lx, const uint32_t *lists, size_t nlists,
			  struct nsh_strvec *names)
{
	size_t keep = 0;

	for (size_t i = 0; i < names->nr; i++) {
		const char *name = names->v[i];
		size_t n = strlen(name);
		bool bad = false;

		for (const char *at = lx->text;
		     !bad && (at = memmem(at, lx->len - (size_t)(at - lx->text), name, n));
		     at += n) {
			size_t s = (size_t)(at - lx->text), e = s + n;
			bool listed = false;

			if (lx->cls[s] != NSH_RECIPE_CLS_CODE ||
			    (s && word_char(lx->text[s - 1])) ||
			    (e < lx->len && word_char(lx->text[e])) ||
			    (s && lx->text[s - 1] == '.'))
				continue;
			for (size_t l = 0; l < nlists && !listed; l++)
				listed = s > lists[2 * l] && s < lists[2 * l + 1];
			bad = !listed && key_like(lx, s, e);
		}
		if (bad)
			free(names->v[i]);
		else
			names->v[keep++] = names->v[i];
	}
	names->nr = keep;
}

/*
 * Add to @out the members the templates of a named binding import in the
 * lexed file, less those that are also used as object keys or shorthand
 * properties (renaming those would change the object).
 */
static void named_names(struct nsh_recipe_pattern *const *pats, const struct nsh_recipe_lex *lx,
			struct nsh_recipe_hits *hits, struct nsh_strvec *out)
{
	uint32_t *lists = NULL;
	size_t nlists = 0;

	for (size_t i = 0; i < NNAMED_TMPLS; i++) {
		if (nsh_recipe_pattern_run(pats[i], lx, NULL, 0, NULL, hits, NULL))
			continue;
		for (size_t h = 0; h < hits->nr && nlists < NAMED_LISTS_MAX; h++) {
			size_t open = hits->v[h].start, close, from;

			while (open < hits->v[h].end && lx->text[open] != '{')
				open++;
			close = open < hits->v[h].end ? lx->jump[open] : NSH_RECIPE_NONE;
			if (close == NSH_RECIPE_NONE || close >= hits->v[h].end)
				continue;
			lists = nsh_xreallocarray(lists, nlists + 1, 2 * sizeof(*lists));
			lists[2 * nlists] = (uint32_t)open;
			lists[2 * nlists + 1] = (uint32_t)close;
			nlists++;
			/* split at the commas of the list's own level */
			from = open + 1;
			for (size_t k = open + 1; k <= close; k++) {
				/* jump over a bracket group to its closer, a literal to its end */
				if (k < close && lx->jump[k] != NSH_RECIPE_NONE) {
					k = lx->cls[k] == NSH_RECIPE_CLS_CODE ? lx->jump[k]
									      : lx->jump[k] - 1;
					continue;
				}
				if (k == close ||
				    (lx->text[k] == ',' && lx->cls[k] == NSH_RECIPE_CLS_CODE)) {
					named_element(lx->text + from, k - from, out);
					from = k + 1;
				}
			}
		}
	}
	drop_key_like(lx, lists, nlists, out);
	free(lists);
}

/*
 * The names @bd's modules are bound to in the lexed file; when there are
 * none, its default names, less those the file binds to other modules.
 * For a named binding: the members imported from the modules by name.
 */
static void binder_scan(struct binder *bd, const struct nsh_recipe_lex *lx, unsigned version)
{
	struct nsh_recipe_hits hits = {0};
	struct nsh_strvec other = NSH_STRVEC_INIT;
	const char *s;

	if (bd->version == version)
		return;
	nsh_strvec_release(&bd->names);
	if (bd->b->named) {
		if (lx->fam == NSH_RECIPE_FAM_JS)
			named_names(bd->named, lx, &hits, &bd->names);
	} else if (lx->fam == NSH_RECIPE_FAM_JS) {
		bound_names(bd->pat, lx, &hits, &bd->names);
	}
	if (!bd->names.nr && !bd->b->named) {
		if (lx->fam == NSH_RECIPE_FAM_JS)
			bound_names(bd->any, lx, &hits, &other);
		nsh_vec_foreach(s, &bd->b->names)
			if (nsh_strvec_find(&other, s) < 0)
				nsh_strvec_push(&bd->names, s);
	}
	nsh_strvec_release(&other);
	nsh_recipe_hits_release(&hits);
	bd->version = version;
}

/* ---- one file ---- */

struct edit {
	uint32_t os, oe; /* replaced text in the older version */
	uint32_t ns, ne; /* its replacement in the newer one */
};

struct layer {
	struct edit *v;
	size_t n;
};

/* A change or needs-review item waiting for its line numbers. */
struct item {
	bool review;	/* a needs-review item (else a change) */
	bool rewritten; /* review: also rewritten */
	bool nested;	/* inside another match */
	const struct nsh_recipe_rule *rule;
	size_t layer;  /* forward-map through layers from this one on */
	uint32_t off;  /* offset in that layer's input text */
	uint32_t orig; /* offset in the original text */
	char *before, *after;
	size_t seq; /* order of creation, for a stable sort */
};

/* State shared by all files of one run. */
struct runner {
	const struct nsh_recipe *r;
	const bool *enabled;
	struct nsh_recipe_result *res;
	struct binder *binders; /* one per recipe bind */
	struct nsh_recipe_lex lx;
	struct nsh_buf out;
	struct nsh_recipe_hits hits;
	unsigned version; /* bumped for every new text, so caches know */
};

static uint32_t map_back(const struct layer *l, uint32_t o)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].ns <= o)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return o;
	if (o < l->v[lo - 1].ne)
		return l->v[lo - 1].os;
	return o - l->v[lo - 1].ne + l->v[lo - 1].oe;
}

static uint32_t map_fwd(const struct layer *l, uint32_t o)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].os <= o)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return o;
	if (o < l->v[lo - 1].oe)
		return l->v[lo - 1].ns;
	return o - l->v[lo - 1].oe + l->v[lo - 1].ne;
}

/* @o in the text after @n layers, mapped back to the original text. */
static uint32_t map_back_all(const struct layer *layers, size_t n, uint32_t o)
{
	while (n-- > 0)
		o = map_back(&layers[n], o);
	return o;
}

/* Line numbers by offset: the offsets of every '\n'. */
struct lines {
	uint32_t *nl;
	size_t n;
};

static void lines_init(struct lines *ls, const char *t, size_t len)
{
	size_t alloc = 0;

	ls->nl = NULL;
	ls->n = 0;
	for (const char *p = t; (p = memchr(p, '\n', len - (size_t)(p - t))); p++) {
		NSH_ALLOC_GROW(ls->nl, ls->n + 1, alloc);
		ls->nl[ls->n++] = (uint32_t)(p - t);
	}
}

static unsigned line_of(const struct lines *ls, uint32_t off)
{
	size_t lo = 0, hi = ls->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ls->nl[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (unsigned)lo + 1;
}

static char *snippet(const char *p, size_t n)
{
	if (n <= SNIPPET_MAX)
		return nsh_xmemdup(p, n);
	return nsh_xasprintf("%.*s...", SNIPPET_MAX, p);
}

/* Which family does @rule lex @rel with, or -1 when it does not select it? */
static int rule_family(const struct nsh_recipe_rule *ru, const char *rel, int lang)
{
	const char *g;
	bool hit = false;

	nsh_vec_foreach(g, &ru->exclude)
		if (nsh_recipe_glob(g, rel))
			return -1;
	if (ru->files.nr) {
		nsh_vec_foreach(g, &ru->files)
			hit |= nsh_recipe_glob(g, rel);
		if (!hit)
			return -1;
		if (lang >= 0 && (ru->langs & (1u << lang)))
			return (int)nsh_recipe_lang_family((enum nsh_recipe_lang)lang);
		for (int l = 0; l < NSH_RECIPE_LANG_COUNT; l++)
			if (ru->langs & (1u << l))
				return (int)nsh_recipe_lang_family((enum nsh_recipe_lang)l);
		return -1;
	}
	if (lang >= 0 && (ru->langs & (1u << lang)))
		return (int)nsh_recipe_lang_family((enum nsh_recipe_lang)lang);
	return -1;
}

static bool file_selected(const struct runner *R, const char *rel)
{
	const char *g;
	int lang = nsh_recipe_lang_of_path(rel);

	nsh_vec_foreach(g, &R->r->exclude)
		if (nsh_recipe_glob(g, rel))
			return false;
	for (size_t i = 0; i < R->r->nrules; i++)
		if (R->enabled[i] && rule_family(&R->r->rules[i], rel, lang) >= 0)
			return true;
	return false;
}

/*
 * Is @ru a rename of a member imported by name (its match is only a named
 * binding's hole, its rewrite one name) whose new name the file already
 * uses? Renaming would then clash with that binding: the rule is skipped.
 */
static bool clashes(const struct nsh_recipe *r, const struct nsh_recipe_rule *ru,
		    const struct nsh_recipe_lex *lx)
{
	const char *m = ru->match, *w = ru->rewrite;
	size_t n = w ? strlen(w) : 0;
	bool named = false;

	if (!n || word_at(w, n) != n || strncmp(m, ":[[", 3))
		return false;
	for (size_t b = 0; b < r->nbinds && !named; b++) {
		size_t h = strlen(r->binds[b].hole);

		named = r->binds[b].named && !strncmp(m + 3, r->binds[b].hole, h) &&
			!strcmp(m + 3 + h, "]]");
	}
	if (!named)
		return false;
	for (const char *at = lx->text; (at = memmem(at, lx->len - (size_t)(at - lx->text), w, n));
	     at += n) {
		size_t s = (size_t)(at - lx->text);

		if (lx->cls[s] == NSH_RECIPE_CLS_CODE &&
		    (!s || (!word_char(lx->text[s - 1]) && lx->text[s - 1] != '.')) &&
		    (s + n >= lx->len || !word_char(lx->text[s + n])))
			return true;
	}
	return false;
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->orig != y->orig)
		return x->orig < y->orig ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Run the enabled rules over @text (@len bytes) of file @rel. *@ret_new
 * gets the new text when something changed (caller frees), else NULL;
 * *@ret_changes the number of rewrites.
 */
static int run_file(struct runner *R, const char *rel, const char *text, size_t len, char **ret_new,
		    size_t *ret_new_len, unsigned *ret_changes, struct nsh_err *err)
{
	const struct nsh_recipe *r = R->r;
	struct nsh_recipe_result *res = R->res;
	struct nsh_buf cur = NSH_BUF_INIT;
	struct layer *layers = NULL;
	struct item *items = NULL;
	size_t nlayers = 0, nitems = 0, items_alloc = 0, nchanges = 0;
	int lang = nsh_recipe_lang_of_path(rel), lexed_fam = -1, rc = 0;
	unsigned lexed_version = 0;
	const char *g;

	*ret_new = NULL;
	nsh_vec_foreach(g, &r->exclude)
		if (nsh_recipe_glob(g, rel))
			return 0;
	nsh_buf_add(&cur, text, len);
	R->version++;
	for (size_t ri = 0; ri < r->nrules; ri++) {
		const struct nsh_recipe_rule *ru = &r->rules[ri];
		struct nsh_recipe_bound bound[8];
		size_t nbound = 0, reqlen, nhits;
		const struct nsh_recipe_pattern *pat;
		struct nsh_recipe_count *cnt = NULL;
		const char *req;
		int fam;
		bool rewrites, changed = false, unbound = false;

		if (!R->enabled[ri] || (fam = rule_family(ru, rel, lang)) < 0)
			continue;
		pat = ru->pat[fam];
		if (!pat)
			continue;
		req = nsh_recipe_pattern_required(pat, &reqlen);
		if (req && !memmem(cur.buf, cur.len, req, reqlen))
			continue;
		if (lexed_fam != fam || lexed_version != R->version) {
			if ((rc = nsh_recipe_lex_run(&R->lx, (enum nsh_recipe_family)fam, cur.buf,
						     cur.len, err)))
				goto out;
			lexed_fam = fam;
			lexed_version = R->version;
		}
		for (size_t b = 0; b < r->nbinds && nbound < 8; b++) {
			if (!nsh_recipe_pattern_has_hole(pat, r->binds[b].hole))
				continue;
			binder_scan(&R->binders[b], &R->lx, R->version);
			bound[nbound].hole = r->binds[b].hole;
			bound[nbound].values = &R->binders[b].names;
			nbound++;
		}
		/* a hole that must be one of no names matches nowhere */
		for (size_t b = 0; b < nbound && !unbound; b++)
			unbound = !bound[b].values->nr;
		if (unbound || clashes(r, ru, &R->lx))
			continue;
		rewrites = nsh_recipe_pattern_rewrites(pat);
		if ((rc = nsh_recipe_pattern_run(pat, &R->lx, bound, nbound, &R->out, &R->hits,
						 err))) {
			nsh_err_wrap(err, "'%s', rule '%s'", rel, ru->id);
			goto out;
		}
		if (R->hits.gave_up) {
			struct lines ls;

			lines_init(&ls, text, len);
			nsh_recipe_result_warn(
				res, rel, ru->id,
				"matching gave up at line %u (too many ways to "
				"match); that spot is left as it is",
				line_of(&ls, map_back_all(layers, nlayers, R->hits.gave_up_at)));
			free(ls.nl);
		}
		nhits = R->hits.nr;
		if (!nhits)
			continue;
		for (size_t c = 0; c < res->ncounts; c++)
			if (res->counts[c].rule == ru->id)
				cnt = &res->counts[c];
		if (cnt)
			cnt->files++;
		for (size_t h = 0; h < nhits; h++) {
			const struct nsh_recipe_hit *hit = &R->hits.v[h];
			uint32_t orig = map_back_all(layers, nlayers, hit->start);
			for (int pass = 0; pass < 2; pass++) {
				struct item *it;
				bool review = pass == 1;

				if (review ? !(ru->review || !rewrites) : !rewrites)
					continue;
				NSH_ALLOC_GROW(items, nitems + 1, items_alloc);
				it = &items[nitems];
				memset(it, 0, sizeof(*it));
				it->seq = nitems++;
				it->review = review;
				it->rewritten = rewrites;
				it->nested = hit->depth > 0;
				it->rule = ru;
				it->orig = orig;
				it->before = snippet(cur.buf + hit->start, hit->end - hit->start);
				if (rewrites) {
					it->after = snippet(R->out.buf + hit->out_start,
							    hit->out_end - hit->out_start);
					it->layer = nlayers + 1;
					it->off = hit->out_start;
				} else {
					it->layer = nlayers;
					it->off = hit->start;
				}
				if (cnt && review)
					cnt->reviews++;
				else if (cnt)
					cnt->changes++;
				if (!review)
					nchanges++;
			}
		}
		if (rewrites) {
			struct layer *ly;

			layers = nsh_xreallocarray(layers, nlayers + 1, sizeof(*layers));
			ly = &layers[nlayers];
			ly->v = NULL;
			ly->n = 0;
			for (size_t h = 0; h < nhits; h++) {
				const struct nsh_recipe_hit *hit = &R->hits.v[h];

				if (hit->depth)
					continue;
				ly->v = nsh_xreallocarray(ly->v, ly->n + 1, sizeof(*ly->v));
				ly->v[ly->n++] = (struct edit){hit->start, hit->end, hit->out_start,
							       hit->out_end};
			}
			nlayers++;
			changed = R->out.len != cur.len || memcmp(R->out.buf, cur.buf, cur.len);
			if (changed) {
				struct nsh_buf tmp = cur;

				cur = R->out;
				R->out = tmp;
				R->version++;
			}
		}
	}
	if (nitems) {
		struct lines lo, ln;

		lines_init(&lo, text, len);
		lines_init(&ln, cur.buf, cur.len);
		qsort(items, nitems, sizeof(*items), item_cmp);
		for (size_t i = 0; i < nitems; i++) {
			struct item *it = &items[i];
			uint32_t off = it->off;

			for (size_t l = it->layer; l < nlayers; l++)
				off = map_fwd(&layers[l], off);
			if (it->review) {
				struct nsh_recipe_review *rv;

				NSH_ALLOC_GROW(res->reviews, res->nreviews + 1, res->reviews_alloc);
				rv = &res->reviews[res->nreviews++];
				rv->file = nsh_xstrdup(rel);
				rv->line = line_of(&lo, it->orig);
				rv->rule = it->rule->id;
				rv->note = it->rule->note;
				rv->text = it->before;
				rv->rewritten = it->rewritten;
				it->before = NULL;
			} else {
				struct nsh_recipe_change *ch;

				NSH_ALLOC_GROW(res->changes, res->nchanges + 1, res->changes_alloc);
				ch = &res->changes[res->nchanges++];
				ch->file = nsh_xstrdup(rel);
				ch->line = line_of(&lo, it->orig);
				ch->new_line = line_of(&ln, off);
				ch->rule = it->rule->id;
				ch->before = it->before;
				ch->after = it->after;
				ch->nested = it->nested;
				it->before = it->after = NULL;
			}
		}
		free(lo.nl);
		free(ln.nl);
	}
	if (cur.len != len || memcmp(cur.buf, text, len)) {
		*ret_new_len = cur.len;
		*ret_new = nsh_buf_detach(&cur, NULL);
	}
	*ret_changes = (unsigned)nchanges;
out:
	for (size_t i = 0; i < nitems; i++) {
		free(items[i].before);
		free(items[i].after);
	}
	free(items);
	for (size_t l = 0; l < nlayers; l++)
		free(layers[l].v);
	free(layers);
	nsh_buf_release(&cur);
	return rc;
}

/* ---- the tree ---- */

struct walk {
	struct nsh_strvec files; /* relative paths, in walk order */
	bool truncated;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Collect the regular files under @dir/@rel (sorted). Links are not
 * followed, and each directory is opened below the one before, so a link
 * swapped in meanwhile cannot lead the walk out of @dir.
 */
static int walk(const char *dir, const char *rel, int depth, struct walk *w, struct nsh_err *err)
{
	struct nsh_strvec names = NSH_STRVEC_INIT;
	int dfd = nsh_below_dir(dir, rel), rc = 0;
	struct dirent *de;
	DIR *d = NULL;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		rc = nsh_err_sys(err, errno, "cannot read directory '%s/%s'", dir, rel);
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			nsh_strvec_push(&names, de->d_name);
	qsort(names.v, names.nr, sizeof(char *), name_cmp);
	for (size_t i = 0; i < names.nr && !rc; i++) {
		const char *n = names.v[i];
		char *sub = *rel ? nsh_xasprintf("%s/%s", rel, n) : nsh_xstrdup(n);
		struct stat st;

		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISDIR(st.st_mode)) {
				if (strcmp(n, ".git") && strcmp(n, "node_modules") &&
				    depth < DEPTH_MAX)
					rc = walk(dir, sub, depth + 1, w, err);
			} else if (S_ISREG(st.st_mode)) {
				if (w->files.nr >= NSH_RECIPE_WALK_MAX)
					w->truncated = true;
				else
					nsh_strvec_push(&w->files, sub);
			}
		}
		free(sub);
	}
out:
	if (d)
		closedir(d);
	nsh_strvec_release(&names);
	return rc;
}

static int runner_init(struct runner *R, const struct nsh_recipe *r, const bool *enabled,
		       struct nsh_recipe_result *res, struct nsh_err *err)
{
	memset(R, 0, sizeof(*R));
	R->r = r;
	R->enabled = enabled;
	R->res = res;
	nsh_recipe_lex_init(&R->lx);
	nsh_buf_init(&R->out, NSH_RECIPE_TEXT_MAX);
	R->binders = nsh_xcalloc(r->nbinds ? r->nbinds : 1, sizeof(*R->binders));
	for (size_t b = 0; b < r->nbinds; b++)
		if (binder_init(&R->binders[b], &r->binds[b], err))
			return nsh_err_wrap(err, "bind '%s'", r->binds[b].hole);
	res->counts = nsh_xcalloc(r->nrules ? r->nrules : 1, sizeof(*res->counts));
	for (size_t i = 0; i < r->nrules; i++)
		if (enabled[i])
			res->counts[res->ncounts++].rule = r->rules[i].id;
	return 0;
}

static void runner_release(struct runner *R)
{
	for (size_t b = 0; R->binders && b < R->r->nbinds; b++)
		binder_release(&R->binders[b]);
	free(R->binders);
	nsh_recipe_lex_release(&R->lx);
	nsh_buf_release(&R->out);
	nsh_recipe_hits_release(&R->hits);
}

/* Is the first part of @t binary (a NUL byte)? */
static bool binary(const char *t, size_t n)
{
	return memchr(t, '\0', n < 8192 ? n : 8192) != NULL;
}

static int apply_tree(struct runner *R, const char *dir, bool dry_run, bool scratch,
		      struct nsh_err *err)
{
	struct nsh_recipe_result *res = R->res;
	struct walk w = {.files = NSH_STRVEC_INIT};
	struct nsh_buf b = NSH_BUF_INIT;
	int rc = walk(dir, "", 0, &w, err);

	if (rc)
		goto out;
	if (w.truncated)
		nsh_recipe_result_warn(res, NULL, NULL,
				       "more than %d files: only the first %d were looked at",
				       NSH_RECIPE_WALK_MAX, NSH_RECIPE_WALK_MAX);
	for (size_t i = 0; i < w.files.nr; i++) {
		const char *rel = w.files.v[i];
		char *nt = NULL;
		size_t nlen = 0;
		unsigned nch = 0;
		struct stat st;

		if (!file_selected(R, rel))
			continue;
		nsh_buf_reset(&b);
		if (nsh_below_lstat(dir, rel, &st) == 0 && S_ISREG(st.st_mode) &&
		    (size_t)st.st_size > NSH_RECIPE_SOURCE_MAX) {
			nsh_recipe_result_warn(res, rel, NULL, "skipped: larger than %u bytes",
					       NSH_RECIPE_SOURCE_MAX);
			continue;
		}
		if ((rc = nsh_below_read(dir, rel, &b, NSH_RECIPE_SOURCE_MAX, err)))
			goto out;
		if (binary(b.buf, b.len))
			continue;
		res->files_scanned++;
		rc = run_file(R, rel, b.buf, b.len, &nt, &nlen, &nch, err);
		if (!rc && nt) {
			nsh_recipe_result_file(res, rel, b.buf, b.len, nt, nlen, nch);
			/*
			 * No fsync per file: two per file made writing 2,000
			 * files ten times slower than matching them; the tree
			 * is flushed once below (none in a scratch tree).
			 */
			if (!dry_run)
				rc = nsh_below_write(dir, rel, nt, nlen, st.st_mode, 0, err);
		}
		free(nt);
		if (rc)
			goto out;
	}
	if (!dry_run && !scratch && res->nfiles) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0 && syncfs(fd) < 0)
			rc = nsh_err_sys(err, errno, "cannot flush the files written under '%s'",
					 dir);
		if (fd >= 0)
			close(fd);
	}
out:
	nsh_buf_release(&b);
	nsh_strvec_release(&w.files);
	return rc;
}

static int file_cmp(const void *a, const void *b)
{
	const struct nsh_recipe_filechange *x = a, *y = b;

	return strcmp(x->path, y->path);
}

int nsh_recipe_apply(const struct nsh_recipe *r, const char *dir,
		     const struct nsh_recipe_options *opt, struct nsh_recipe_result *res,
		     struct nsh_err *err)
{
	struct runner R;
	bool *enabled = nsh_xcalloc(r->nrules ? r->nrules : 1, sizeof(bool)), ok = false;
	int rc;

	memset(res, 0, sizeof(*res));
	res->dry_run = opt->dry_run;
	if (!nsh_fs_is_dir(dir)) {
		rc = nsh_err_set(err, NSH_ENOTFOUND, "'%s' is not a directory", dir);
		goto out;
	}
	if ((rc = nsh_recipe_resolve(r, opt->picks, opt->npicks, &res->taken, enabled, err)))
		goto out;
	res->ntaken = r->nchoices;
	if ((rc = nsh_recipe_applies(r, dir, &ok, &res->reason, err)))
		goto out;
	res->applicable = ok;
	if (!ok && !opt->force)
		goto out;
	res->forced = !ok;
	if ((rc = nsh_recipe_manifest_apply(r, dir, opt->dry_run, opt->scratch, res, err)))
		goto out;
	if ((rc = runner_init(&R, r, enabled, res, err)))
		goto done;
	if ((rc = apply_tree(&R, dir, opt->dry_run, opt->scratch, err)))
		goto done;
	if (res->nfiles)
		qsort(res->files, res->nfiles, sizeof(*res->files), file_cmp);
	res->post = nsh_xcalloc(r->npost ? r->npost : 1, sizeof(*res->post));
	for (size_t i = 0; i < r->npost; i++) {
		struct stat st;

		if (!r->post[i].when || !nsh_below_lstat(dir, r->post[i].when, &st))
			res->post[res->npost++] = &r->post[i];
	}
done:
	runner_release(&R);
out:
	free(enabled);
	return rc;
}

int nsh_recipe_apply_text(const struct nsh_recipe *r, const char *path, const char *text,
			  size_t len, const struct nsh_recipe_options *opt,
			  struct nsh_recipe_result *res, char **ret_text, size_t *ret_len,
			  struct nsh_err *err)
{
	struct runner R;
	bool *enabled = nsh_xcalloc(r->nrules ? r->nrules : 1, sizeof(bool));
	char *nt = NULL;
	size_t nlen = 0;
	unsigned nch = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = nsh_recipe_resolve(r, opt->picks, opt->npicks, &res->taken, enabled, err)))
		goto out;
	res->ntaken = r->nchoices;
	res->applicable = true;
	rc = runner_init(&R, r, enabled, res, err);
	if (!rc)
		rc = run_file(&R, path, text, len, &nt, &nlen, &nch, err);
	runner_release(&R);
	if (rc)
		goto out;
	if (nt) {
		nsh_recipe_result_file(res, path, text, len, nt, nlen, nch);
	} else {
		nt = nsh_xmemdup(text, len);
		nlen = len;
	}
	res->files_scanned++;
	*ret_text = nt;
	*ret_len = nlen;
	nt = NULL;
out:
	free(nt);
	free(enabled);
	return rc;
}
