/*
 * Recipe files: YAML (libyaml) into struct nsh_recipe, strictly. Every
 * mapping has a fixed set of keys; an unknown or repeated key, a value of
 * the wrong type, an anchor or alias, a template that does not compile or a
 * reference to a rule that does not exist is an error that names the file,
 * line and column ("recipes/x.yml:12:5: ...").
 */
#include "recipe/recipe.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "recipe/recipe_int.h"

#include "core/banned.h"

#define EVENTS_MAX 200000 /* YAML events in one file */
#define DEPTH_MAX  32	  /* nesting of YAML collections */

/* ---- languages ---- */

static const struct {
	const char *name;
	enum nsh_recipe_family fam;
	const char *exts; /* space separated, with the dot */
} langs[NSH_RECIPE_LANG_COUNT] = {
	[NSH_RECIPE_LANG_JAVASCRIPT] = {"javascript", NSH_RECIPE_FAM_JS, ".js .jsx .mjs .cjs"},
	[NSH_RECIPE_LANG_TYPESCRIPT] = {"typescript", NSH_RECIPE_FAM_JS, ".ts .tsx .mts .cts"},
	[NSH_RECIPE_LANG_PYTHON] = {"python", NSH_RECIPE_FAM_PYTHON, ".py .pyi"},
	[NSH_RECIPE_LANG_GO] = {"go", NSH_RECIPE_FAM_GO, ".go"},
	[NSH_RECIPE_LANG_JAVA] = {"java", NSH_RECIPE_FAM_JAVA, ".java"},
	[NSH_RECIPE_LANG_C] = {"c", NSH_RECIPE_FAM_C, ".c .h"},
	[NSH_RECIPE_LANG_CPP] = {"cpp", NSH_RECIPE_FAM_C, ".cc .cpp .cxx .hpp .hh .hxx"},
	[NSH_RECIPE_LANG_CSHARP] = {"csharp", NSH_RECIPE_FAM_C, ".cs"},
	[NSH_RECIPE_LANG_TEXT] = {"text", NSH_RECIPE_FAM_TEXT, ""},
};

const char *nsh_recipe_lang_name(enum nsh_recipe_lang lang)
{
	return lang < NSH_RECIPE_LANG_COUNT ? langs[lang].name : "?";
}

enum nsh_recipe_family nsh_recipe_lang_family(enum nsh_recipe_lang lang)
{
	return lang < NSH_RECIPE_LANG_COUNT ? langs[lang].fam : NSH_RECIPE_FAM_TEXT;
}

int nsh_recipe_lang_of_path(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t n;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || dot == base)
		return -1;
	n = strlen(dot);
	for (int l = 0; l < NSH_RECIPE_LANG_COUNT; l++) {
		const char *e = langs[l].exts;

		while (*e) {
			size_t len = strcspn(e, " ");

			if (len == n && !memcmp(e, dot, n))
				return l;
			e += len;
			e += strspn(e, " ");
		}
	}
	return -1;
}

static int lang_parse(const char *name)
{
	static const struct {
		const char *alias;
		enum nsh_recipe_lang lang;
	} aliases[] = {
		{"js", NSH_RECIPE_LANG_JAVASCRIPT}, {"ts", NSH_RECIPE_LANG_TYPESCRIPT},
		{"py", NSH_RECIPE_LANG_PYTHON},	    {"c++", NSH_RECIPE_LANG_CPP},
		{"cs", NSH_RECIPE_LANG_CSHARP},
	};

	for (int l = 0; l < NSH_RECIPE_LANG_COUNT; l++)
		if (!strcmp(name, langs[l].name))
			return l;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(name, aliases[i].alias))
			return (int)aliases[i].lang;
	return -1;
}

/* ---- the loader ---- */

struct loader {
	const char *name; /* for messages */
	yaml_document_t doc;
	struct nsh_err *err;
	struct nsh_recipe *r;
};

static int fail_at(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[NSH_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return nsh_err_set(L->err, NSH_EINVAL, "%s:%zu:%zu: %s", L->name,
			   n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, msg);
}

static yaml_node_t *node(struct loader *L, int idx)
{
	return yaml_document_get_node(&L->doc, idx);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_NO_NODE:
		break;
	}
	return "nothing";
}

static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
		!strcmp(v, "NULL"));
}

/* A string value: any scalar but null, without NUL bytes. */
static int get_str(struct loader *L, yaml_node_t *n, const char *key, char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail_at(L, n, "'%s' must be a string, not %s", key,
			       n->type == YAML_SCALAR_NODE ? "null" : kind_name(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return fail_at(L, n, "'%s' contains a NUL byte", key);
	free(*out);
	*out = nsh_xstrdup((const char *)n->data.scalar.value);
	return 0;
}

static int get_bool(struct loader *L, yaml_node_t *n, const char *key, bool *out)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(v, "true")) {
			*out = true;
			return 0;
		}
		if (!strcmp(v, "false")) {
			*out = false;
			return 0;
		}
	}
	return fail_at(L, n, "'%s' must be true or false", key);
}

/* A list of strings; a single string counts as a list of one. */
static int get_strlist(struct loader *L, yaml_node_t *n, const char *key, struct nsh_strvec *out)
{
	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		char *s = NULL;

		if (get_str(L, n, key, &s))
			return NSH_EINVAL;
		nsh_strvec_push(out, s);
		free(s);
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail_at(L, n, "'%s' must be a list of strings, not %s", key, kind_name(n));
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		char *s = NULL;

		if (get_str(L, node(L, *it), key, &s))
			return NSH_EINVAL;
		nsh_strvec_push(out, s);
		free(s);
	}
	return 0;
}

static const char *key_of(const yaml_node_t *k)
{
	return k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
}

/*
 * Check that @n is a mapping whose keys are all in @allowed (a
 * NULL-terminated list), each at most once. @what names the mapping.
 */
static int check_map(struct loader *L, yaml_node_t *n, const char *what, const char *const *allowed)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(L, n, "%s must be a mapping, not %s", what, kind_name(n));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(L, p->key);
		const char *key = key_of(k);
		bool known = false;

		if (!key)
			return fail_at(L, k, "%s: keys must be strings", what);
		for (const char *const *a = allowed; *a; a++)
			known |= !strcmp(*a, key);
		if (!known) {
			struct nsh_buf list = NSH_BUF_INIT;
			int rc;

			for (const char *const *a = allowed; *a; a++)
				nsh_buf_addf(&list, "%s%s", a == allowed ? "" : ", ", *a);
			rc = fail_at(L, k, "unknown key '%s' in %s (expected %s)", key, what,
				     list.buf);
			nsh_buf_release(&list);
			return rc;
		}
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
			if (!strcmp(key_of(node(L, q->key)), key))
				return fail_at(L, k, "duplicate key '%s' in %s", key, what);
	}
	return 0;
}

/* Collect all keys of a mapping without checking them (hole names and the like). */
static yaml_node_t *map_get(struct loader *L, yaml_node_t *n, const char *key)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (!strcmp(key_of(node(L, p->key)), key))
			return node(L, p->value);
	return NULL;
}

static int need(struct loader *L, yaml_node_t *n, const char *key, const char *what,
		yaml_node_t **ret)
{
	*ret = map_get(L, n, key);
	if (!*ret)
		return fail_at(L, n, "%s needs '%s'", what, key);
	return 0;
}

static int opt_str(struct loader *L, yaml_node_t *map, const char *key, char **out)
{
	yaml_node_t *v = map_get(L, map, key);

	return v ? get_str(L, v, key, out) : 0;
}

static int req_str(struct loader *L, yaml_node_t *map, const char *key, const char *what,
		   char **out)
{
	yaml_node_t *v;

	if (need(L, map, key, what, &v))
		return NSH_EINVAL;
	return get_str(L, v, key, out);
}

static bool id_ok(const char *s)
{
	if (!*s || !isalnum((unsigned char)*s) || strlen(s) > 100)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static bool package_ok(const char *s)
{
	if (!*s || strlen(s) > 214)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("@/._~-", *s))
			return false;
	return true;
}

static int check_id(struct loader *L, yaml_node_t *map, const char *id, const char *what)
{
	if (!id_ok(id))
		return fail_at(L, map_get(L, map, "id"),
			       "%s id '%s' must be letters, digits, '.', '_' or '-', starting with "
			       "a letter or digit",
			       what, id);
	return 0;
}

/* ---- where ---- */

static void where_release(struct nsh_recipe_where *w)
{
	free(w->hole);
	nsh_strvec_release(&w->equals);
	nsh_strvec_release(&w->not_equals);
	free(w->regex);
	free(w->not_regex);
}

static void where_copy(struct nsh_recipe_where *dst, const struct nsh_recipe_where *src)
{
	const char *s;

	memset(dst, 0, sizeof(*dst));
	dst->hole = nsh_xstrdup(src->hole);
	nsh_strvec_init(&dst->equals);
	nsh_strvec_init(&dst->not_equals);
	nsh_vec_foreach(s, &src->equals)
		nsh_strvec_push(&dst->equals, s);
	nsh_vec_foreach(s, &src->not_equals)
		nsh_strvec_push(&dst->not_equals, s);
	dst->regex = src->regex ? nsh_xstrdup(src->regex) : NULL;
	dst->not_regex = src->not_regex ? nsh_xstrdup(src->not_regex) : NULL;
	dst->is = src->is;
	dst->is_not = src->is_not;
	dst->line = src->line;
	dst->column = src->column;
}

static int get_is(struct loader *L, yaml_node_t *n, const char *key, unsigned *out)
{
	struct nsh_strvec l = NSH_STRVEC_INIT;
	const char *s;
	int rc = get_strlist(L, n, key, &l);

	nsh_vec_foreach(s, &l) {
		unsigned bits = rc ? 0 : nsh_recipe_is_parse(s);

		if (!rc && !bits)
			rc = fail_at(L, n,
				     "'%s': unknown class '%s' (expected function, identifier, "
				     "member, number, string, regex, boolean, null, object, array, "
				     "empty or literal)",
				     key, s);
		*out |= bits;
	}
	nsh_strvec_release(&l);
	return rc;
}

/* Parse "where: {hole: {equals:, regex:, is:, ...}}" into *@v / *@nv. */
static int parse_where(struct loader *L, yaml_node_t *n, struct nsh_recipe_where **v, size_t *nv)
{
	static const char *const keys[] = {"equals", "not-equals", "regex", "not-regex",
					   "is",     "is-not",	   NULL};

	if (n->type != YAML_MAPPING_NODE)
		return fail_at(L, n, "'where' must map hole names to constraints, not %s",
			       kind_name(n));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(L, p->key), *c = node(L, p->value), *x;
		const char *hole = key_of(k);
		struct nsh_recipe_where *w;

		if (!hole || !id_ok(hole) || strchr(hole, '-') || strchr(hole, '.'))
			return fail_at(L, k, "'where' keys must be hole names");
		for (size_t i = 0; i < *nv; i++)
			if (!strcmp((*v)[i].hole, hole))
				return fail_at(L, k, "duplicate key '%s' in where", hole);
		if (check_map(L, c, "a hole constraint", keys))
			return NSH_EINVAL;
		*v = nsh_xreallocarray(*v, *nv + 1, sizeof(**v));
		w = &(*v)[(*nv)++];
		memset(w, 0, sizeof(*w));
		nsh_strvec_init(&w->equals);
		nsh_strvec_init(&w->not_equals);
		w->hole = nsh_xstrdup(hole);
		w->line = (unsigned)k->start_mark.line + 1;
		w->column = (unsigned)k->start_mark.column + 1;
		if ((x = map_get(L, c, "equals")) && get_strlist(L, x, "equals", &w->equals))
			return NSH_EINVAL;
		if ((x = map_get(L, c, "not-equals")) &&
		    get_strlist(L, x, "not-equals", &w->not_equals))
			return NSH_EINVAL;
		if (opt_str(L, c, "regex", &w->regex) || opt_str(L, c, "not-regex", &w->not_regex))
			return NSH_EINVAL;
		if ((x = map_get(L, c, "is")) && get_is(L, x, "is", &w->is))
			return NSH_EINVAL;
		if ((x = map_get(L, c, "is-not")) && get_is(L, x, "is-not", &w->is_not))
			return NSH_EINVAL;
	}
	return 0;
}

/* ---- rules ---- */

static void rule_release(struct nsh_recipe_rule *ru)
{
	free(ru->id);
	nsh_strvec_release(&ru->files);
	nsh_strvec_release(&ru->exclude);
	free(ru->match);
	free(ru->rewrite);
	for (size_t i = 0; i < ru->nwhere; i++)
		where_release(&ru->where[i]);
	free(ru->where);
	free(ru->klass);
	free(ru->note);
	for (int f = 0; f < NSH_RECIPE_FAM_COUNT; f++)
		nsh_recipe_pattern_free(ru->pat[f]);
}

static int parse_rule(struct loader *L, yaml_node_t *n, struct nsh_recipe_rule *ru,
		      const struct nsh_recipe_where *rw, size_t nrw)
{
	static const char *const keys[] = {"id",     "languages", "files", "exclude", "in",
					   "match",  "rewrite",	  "where", "class",   "silent",
					   "review", "enabled",	  "note",  NULL};
	struct nsh_strvec ls = NSH_STRVEC_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	yaml_node_t *x;
	char *in = NULL;
	const char *s;
	int rc;

	ru->enabled = true;
	ru->line = (unsigned)n->start_mark.line + 1;
	nsh_strvec_init(&ru->files);
	nsh_strvec_init(&ru->exclude);
	if ((rc = check_map(L, n, "a rule", keys)) ||
	    (rc = req_str(L, n, "id", "a rule", &ru->id)) || (rc = check_id(L, n, ru->id, "rule")))
		goto out;
	if ((rc = need(L, n, "languages", "rule", &x)) ||
	    (rc = get_strlist(L, x, "languages", &ls)))
		goto out;
	if (!ls.nr) {
		rc = fail_at(L, x, "rule '%s': 'languages' is empty", ru->id);
		goto out;
	}
	nsh_vec_foreach(s, &ls) {
		int l = lang_parse(s);

		if (l < 0) {
			rc = fail_at(L, x,
				     "rule '%s': unknown language '%s' (expected javascript, "
				     "typescript, python, go, java, c, cpp, csharp or text)",
				     ru->id, s);
			goto out;
		}
		ru->langs |= 1u << l;
	}
	if (((x = map_get(L, n, "files")) && (rc = get_strlist(L, x, "files", &ru->files))) ||
	    ((x = map_get(L, n, "exclude")) && (rc = get_strlist(L, x, "exclude", &ru->exclude))))
		goto out;
	if ((ru->langs & (1u << NSH_RECIPE_LANG_TEXT)) && !ru->files.nr) {
		rc = fail_at(L, n, "rule '%s': language 'text' needs 'files' globs", ru->id);
		goto out;
	}
	if ((rc = opt_str(L, n, "in", &in)))
		goto out;
	if (!in || !strcmp(in, "code")) {
		ru->in = NSH_RECIPE_IN_CODE;
	} else if (!strcmp(in, "string")) {
		ru->in = NSH_RECIPE_IN_STRING;
	} else if (!strcmp(in, "comment")) {
		ru->in = NSH_RECIPE_IN_COMMENT;
	} else {
		rc = fail_at(L, map_get(L, n, "in"),
			     "rule '%s': 'in' must be code, string or comment, not '%s'", ru->id,
			     in);
		goto out;
	}
	if ((rc = req_str(L, n, "match", "a rule", &ru->match)) ||
	    (rc = opt_str(L, n, "rewrite", &ru->rewrite)) ||
	    (rc = opt_str(L, n, "class", &ru->klass)) || (rc = opt_str(L, n, "note", &ru->note)))
		goto out;
	if (((x = map_get(L, n, "silent")) && (rc = get_bool(L, x, "silent", &ru->silent))) ||
	    ((x = map_get(L, n, "review")) && (rc = get_bool(L, x, "review", &ru->review))) ||
	    ((x = map_get(L, n, "enabled")) && (rc = get_bool(L, x, "enabled", &ru->enabled))))
		goto out;
	if ((x = map_get(L, n, "where")) && (rc = parse_where(L, x, &ru->where, &ru->nwhere)))
		goto out;

	/* compile for every family the languages use */
	for (int l = 0; l < NSH_RECIPE_LANG_COUNT; l++) {
		enum nsh_recipe_family f = langs[l].fam;

		if (!(ru->langs & (1u << l)) || ru->pat[f])
			continue;
		if (nsh_recipe_pattern_compile(ru->match, ru->rewrite, f, ru->in, ru->where,
					       ru->nwhere, &ru->pat[f], &err)) {
			rc = fail_at(L, map_get(L, n, "match"), "rule '%s': %s", ru->id, err.msg);
			goto out;
		}
	}
	/* a constraint on a hole the template lacks is a typo */
	for (size_t i = 0; i < ru->nwhere; i++) {
		bool found = false;

		for (int f = 0; f < NSH_RECIPE_FAM_COUNT; f++)
			found |= ru->pat[f] &&
				 nsh_recipe_pattern_has_hole(ru->pat[f], ru->where[i].hole);
		if (!found) {
			rc = nsh_err_set(L->err, NSH_EINVAL,
					 "%s:%u:%u: rule '%s': 'where' names hole '%s', which the "
					 "match template does not have",
					 L->name, ru->where[i].line, ru->where[i].column, ru->id,
					 ru->where[i].hole);
			goto out;
		}
	}
	/* recipe-wide constraints on holes this rule has and does not constrain itself */
	for (size_t i = 0; i < nrw; i++) {
		bool own = false, has = false;

		for (size_t k = 0; k < ru->nwhere; k++)
			own |= !strcmp(ru->where[k].hole, rw[i].hole);
		for (int f = 0; f < NSH_RECIPE_FAM_COUNT; f++)
			has |= ru->pat[f] && nsh_recipe_pattern_has_hole(ru->pat[f], rw[i].hole);
		if (own || !has)
			continue;
		ru->where = nsh_xreallocarray(ru->where, ru->nwhere + 1, sizeof(*ru->where));
		where_copy(&ru->where[ru->nwhere++], &rw[i]);
		for (int f = 0; f < NSH_RECIPE_FAM_COUNT; f++) {
			if (!ru->pat[f])
				continue;
			nsh_recipe_pattern_free(ru->pat[f]);
			ru->pat[f] = NULL;
			if (nsh_recipe_pattern_compile(ru->match, ru->rewrite, f, ru->in, ru->where,
						       ru->nwhere, &ru->pat[f], &err)) {
				rc = nsh_err_set(L->err, NSH_EINVAL, "%s:%u:%u: rule '%s': %s",
						 L->name, rw[i].line, rw[i].column, ru->id,
						 err.msg);
				goto out;
			}
		}
	}
out:
	free(in);
	nsh_strvec_release(&ls);
	return rc;
}

/* ---- choices ---- */

static void alt_release(struct nsh_recipe_alt *a)
{
	free(a->id);
	free(a->description);
	free(a->assumption);
	nsh_strvec_release(&a->keywords);
	nsh_strvec_release(&a->enable);
	nsh_strvec_release(&a->disable);
}

static void choice_release(struct nsh_recipe_choice *c)
{
	free(c->id);
	free(c->description);
	free(c->def);
	for (size_t i = 0; i < c->nalts; i++)
		alt_release(&c->alts[i]);
	free(c->alts);
}

static int rule_ref(struct loader *L, yaml_node_t *n, const struct nsh_strvec *names,
		    const char *what)
{
	const char *s;

	nsh_vec_foreach(s, names)
		if (!nsh_recipe_rule_find(L->r, s))
			return fail_at(L, n, "%s names rule '%s', which the recipe does not have",
				       what, s);
	return 0;
}

static int parse_choice(struct loader *L, yaml_node_t *n, struct nsh_recipe_choice *c)
{
	static const char *const keys[] = {"id", "description", "default", "alternatives", NULL};
	static const char *const akeys[] = {"id",      "description", "keywords", "enable",
					    "disable", "assumption",  NULL};
	yaml_node_t *alts, *x;
	bool def_found = false;

	if (check_map(L, n, "a choice", keys) || req_str(L, n, "id", "a choice", &c->id) ||
	    check_id(L, n, c->id, "choice") ||
	    req_str(L, n, "description", "a choice", &c->description) ||
	    req_str(L, n, "default", "a choice", &c->def) ||
	    need(L, n, "alternatives", "a choice", &alts))
		return NSH_EINVAL;
	if (alts->type != YAML_SEQUENCE_NODE)
		return fail_at(L, alts, "'alternatives' must be a list, not %s", kind_name(alts));
	for (yaml_node_item_t *it = alts->data.sequence.items.start;
	     it < alts->data.sequence.items.top; it++) {
		yaml_node_t *an = node(L, *it);
		struct nsh_recipe_alt *a;

		c->alts = nsh_xreallocarray(c->alts, c->nalts + 1, sizeof(*c->alts));
		a = &c->alts[c->nalts++];
		memset(a, 0, sizeof(*a));
		nsh_strvec_init(&a->keywords);
		nsh_strvec_init(&a->enable);
		nsh_strvec_init(&a->disable);
		if (check_map(L, an, "an alternative", akeys) ||
		    req_str(L, an, "id", "an alternative", &a->id) ||
		    check_id(L, an, a->id, "alternative") ||
		    req_str(L, an, "description", "an alternative", &a->description) ||
		    opt_str(L, an, "assumption", &a->assumption))
			return NSH_EINVAL;
		if (((x = map_get(L, an, "keywords")) &&
		     get_strlist(L, x, "keywords", &a->keywords)) ||
		    ((x = map_get(L, an, "enable")) && (get_strlist(L, x, "enable", &a->enable) ||
							rule_ref(L, x, &a->enable, "'enable'"))) ||
		    ((x = map_get(L, an, "disable")) &&
		     (get_strlist(L, x, "disable", &a->disable) ||
		      rule_ref(L, x, &a->disable, "'disable'"))))
			return NSH_EINVAL;
		for (size_t k = 0; k + 1 < c->nalts; k++)
			if (!strcmp(c->alts[k].id, a->id))
				return fail_at(L, an, "choice '%s' has two alternatives '%s'",
					       c->id, a->id);
		def_found |= !strcmp(a->id, c->def);
	}
	if (c->nalts < 2)
		return fail_at(L, alts, "choice '%s' needs at least two alternatives", c->id);
	if (!def_found)
		return fail_at(L, map_get(L, n, "default"),
			       "choice '%s': default '%s' is not one of its alternatives", c->id,
			       c->def);
	return 0;
}

/* ---- manifest, post steps, binds ---- */

static void mop_release(struct nsh_recipe_mop *m)
{
	free(m->package);
	free(m->to);
	free(m->version);
	free(m->section);
}

static bool section_ok(const char *s)
{
	return !strcmp(s, "dependencies") || !strcmp(s, "devDependencies") ||
	       !strcmp(s, "optionalDependencies") || !strcmp(s, "peerDependencies");
}

static int parse_mop(struct loader *L, yaml_node_t *n, struct nsh_recipe_mop *m)
{
	static const char *const keys[] = {"bump", "rename",  "add",	 "remove",
					   "to",   "version", "section", NULL};
	static const char *const ops[] = {"bump", "rename", "add", "remove"};
	yaml_node_t *pk = NULL;
	int found = 0;

	if (check_map(L, n, "a manifest edit", keys))
		return NSH_EINVAL;
	for (int i = 0; i < 4; i++) {
		yaml_node_t *v = map_get(L, n, ops[i]);

		if (!v)
			continue;
		found++;
		m->op = (enum nsh_recipe_op)i;
		pk = v;
		if (get_str(L, v, ops[i], &m->package))
			return NSH_EINVAL;
	}
	if (found != 1)
		return fail_at(L, n,
			       "a manifest edit needs exactly one of bump, rename, add, remove");
	if (!package_ok(m->package))
		return fail_at(L, pk, "'%s' is not a package name", m->package);
	if (opt_str(L, n, "to", &m->to) || opt_str(L, n, "version", &m->version) ||
	    opt_str(L, n, "section", &m->section))
		return NSH_EINVAL;
	switch (m->op) {
	case NSH_RECIPE_OP_BUMP:
		if (!m->to)
			return fail_at(L, n, "'bump' needs 'to' (a version or range)");
		if (m->version || m->section)
			return fail_at(L, n, "'bump' takes only 'to'");
		if (!nsh_semver_range_valid(m->to))
			return fail_at(L, map_get(L, n, "to"), "'%s' is not a version or range",
				       m->to);
		break;
	case NSH_RECIPE_OP_RENAME:
		if (!m->to || !package_ok(m->to))
			return fail_at(L, n, "'rename' needs 'to' (the new package name)");
		if (m->section)
			return fail_at(L, n, "'rename' takes only 'to' and 'version'");
		break;
	case NSH_RECIPE_OP_ADD:
		if (!m->version)
			return fail_at(L, n, "'add' needs 'version'");
		if (m->to)
			return fail_at(L, n, "'add' takes only 'version' and 'section'");
		if (m->section && !section_ok(m->section))
			return fail_at(L, map_get(L, n, "section"),
				       "unknown section '%s' (expected dependencies, "
				       "devDependencies, optionalDependencies or peerDependencies)",
				       m->section);
		break;
	case NSH_RECIPE_OP_REMOVE:
		if (m->to || m->version || m->section)
			return fail_at(L, n, "'remove' takes nothing else");
		break;
	}
	if (m->version && !nsh_semver_range_valid(m->version))
		return fail_at(L, map_get(L, n, "version"), "'%s' is not a version or range",
			       m->version);
	return 0;
}

static void post_release(struct nsh_recipe_post *p)
{
	free(p->id);
	free(p->description);
	nsh_strvec_release(&p->run);
	free(p->when);
}

static int parse_post(struct loader *L, yaml_node_t *n, struct nsh_recipe_post *p)
{
	static const char *const keys[] = {"id", "description", "run", "when", "timeout", NULL};
	yaml_node_t *x;

	nsh_strvec_init(&p->run);
	p->timeout_s = 600;
	if (check_map(L, n, "a post step", keys) || req_str(L, n, "id", "a post step", &p->id) ||
	    check_id(L, n, p->id, "post step") || opt_str(L, n, "description", &p->description) ||
	    opt_str(L, n, "when", &p->when) || need(L, n, "run", "a post step", &x))
		return NSH_EINVAL;
	if (x->type != YAML_SEQUENCE_NODE || get_strlist(L, x, "run", &p->run) || !p->run.nr)
		return fail_at(L, x,
			       "'run' must be a non-empty list: the program and its arguments");
	if (p->when && (p->when[0] == '/' || strstr(p->when, "..")))
		return fail_at(L, map_get(L, n, "when"),
			       "'when' must be a path inside the repository");
	if ((x = map_get(L, n, "timeout"))) {
		char *end = NULL;
		const char *v = (const char *)x->data.scalar.value;
		unsigned long t = x->type == YAML_SCALAR_NODE ? strtoul(v, &end, 10) : 0;

		if (x->type != YAML_SCALAR_NODE || !end || *end || !*v || t < 1 || t > 3600)
			return fail_at(L, x, "'timeout' must be seconds, 1 to 3600");
		p->timeout_s = (unsigned)t;
	}
	return 0;
}

static void bind_release(struct nsh_recipe_bind *b)
{
	free(b->hole);
	nsh_strvec_release(&b->modules);
	nsh_strvec_release(&b->names);
}

static int parse_binds(struct loader *L, yaml_node_t *n)
{
	static const char *const keys[] = {"modules", "names", NULL};
	struct nsh_recipe *r = L->r;

	if (n->type != YAML_MAPPING_NODE)
		return fail_at(L, n, "'bind' must map hole names to modules, not %s", kind_name(n));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(L, p->key), *v = node(L, p->value), *x;
		const char *hole = key_of(k);
		struct nsh_recipe_bind *b;

		if (!hole || !id_ok(hole) || strchr(hole, '-') || strchr(hole, '.'))
			return fail_at(L, k, "'bind' keys must be hole names");
		for (size_t i = 0; i < r->nbinds; i++)
			if (!strcmp(r->binds[i].hole, hole))
				return fail_at(L, k, "duplicate key '%s' in bind", hole);
		if (check_map(L, v, "a binding", keys))
			return NSH_EINVAL;
		r->binds = nsh_xreallocarray(r->binds, r->nbinds + 1, sizeof(*r->binds));
		b = &r->binds[r->nbinds++];
		memset(b, 0, sizeof(*b));
		b->hole = nsh_xstrdup(hole);
		nsh_strvec_init(&b->modules);
		nsh_strvec_init(&b->names);
		if (need(L, v, "modules", "a binding", &x) ||
		    get_strlist(L, x, "modules", &b->modules))
			return NSH_EINVAL;
		if (!b->modules.nr)
			return fail_at(L, x, "'modules' is empty");
		if ((x = map_get(L, v, "names")) && get_strlist(L, x, "names", &b->names))
			return NSH_EINVAL;
	}
	return 0;
}

/* ---- the recipe ---- */

void nsh_recipe_free(struct nsh_recipe *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->title);
	free(r->description);
	free(r->path);
	free(r->origin);
	free(r->ecosystem);
	free(r->dependency);
	free(r->range);
	for (size_t i = 0; i < r->nmops; i++)
		mop_release(&r->mops[i]);
	free(r->mops);
	for (size_t i = 0; i < r->nrules; i++)
		rule_release(&r->rules[i]);
	free(r->rules);
	for (size_t i = 0; i < r->nchoices; i++)
		choice_release(&r->choices[i]);
	free(r->choices);
	for (size_t i = 0; i < r->npost; i++)
		post_release(&r->post[i]);
	free(r->post);
	for (size_t i = 0; i < r->nbinds; i++)
		bind_release(&r->binds[i]);
	free(r->binds);
	nsh_strvec_release(&r->exclude);
	free(r->pr_title);
	free(r->pr_body);
	free(r);
}

const struct nsh_recipe_rule *nsh_recipe_rule_find(const struct nsh_recipe *r, const char *id)
{
	for (size_t i = 0; i < r->nrules; i++)
		if (!strcmp(r->rules[i].id, id))
			return &r->rules[i];
	return NULL;
}

/* A list of mappings under @key, each handed to @fn with a fresh element. */
static yaml_node_t *list_of(struct loader *L, yaml_node_t *root, const char *key, int *rc)
{
	yaml_node_t *v = map_get(L, root, key);

	*rc = 0;
	if (v && v->type != YAML_SEQUENCE_NODE)
		*rc = fail_at(L, v, "'%s' must be a list, not %s", key, kind_name(v));
	return v;
}

static int parse_root(struct loader *L, yaml_node_t *root, const char *expect_id)
{
	static const char *const keys[] = {"id",      "title", "description", "applies", "manifest",
					   "exclude", "bind",  "where",	      "rules",	 "choices",
					   "post",    "pr",    NULL};
	static const char *const akeys[] = {"dependency", "range", "ecosystem", NULL};
	static const char *const pkeys[] = {"title", "body", NULL};
	struct nsh_recipe *r = L->r;
	struct nsh_recipe_where *rw = NULL;
	size_t nrw = 0;
	yaml_node_t *x;
	int rc;

	if ((rc = check_map(L, root, "the recipe", keys)) ||
	    (rc = req_str(L, root, "id", "the recipe", &r->id)) ||
	    (rc = check_id(L, root, r->id, "recipe")) ||
	    (rc = req_str(L, root, "title", "the recipe", &r->title)) ||
	    (rc = opt_str(L, root, "description", &r->description)))
		goto out;
	if (expect_id && strcmp(expect_id, r->id)) {
		rc = fail_at(L, map_get(L, root, "id"),
			     "recipe id '%s' does not match its file name '%s'", r->id, expect_id);
		goto out;
	}
	if ((x = map_get(L, root, "applies"))) {
		if ((rc = check_map(L, x, "'applies'", akeys)) ||
		    (rc = req_str(L, x, "dependency", "'applies'", &r->dependency)) ||
		    (rc = req_str(L, x, "range", "'applies'", &r->range)) ||
		    (rc = opt_str(L, x, "ecosystem", &r->ecosystem)))
			goto out;
		if (!r->ecosystem)
			r->ecosystem = nsh_xstrdup("npm");
		if (strcmp(r->ecosystem, "npm")) {
			rc = fail_at(L, map_get(L, x, "ecosystem"),
				     "ecosystem '%s' is not supported (only npm)", r->ecosystem);
			goto out;
		}
		if (!package_ok(r->dependency)) {
			rc = fail_at(L, map_get(L, x, "dependency"), "'%s' is not a package name",
				     r->dependency);
			goto out;
		}
		if (!nsh_semver_range_valid(r->range)) {
			rc = fail_at(L, map_get(L, x, "range"), "'%s' is not a version range",
				     r->range);
			goto out;
		}
		r->has_applies = true;
	}
	if ((x = map_get(L, root, "exclude")) && (rc = get_strlist(L, x, "exclude", &r->exclude)))
		goto out;
	if ((x = map_get(L, root, "bind")) && (rc = parse_binds(L, x)))
		goto out;
	if ((x = map_get(L, root, "where")) && (rc = parse_where(L, x, &rw, &nrw)))
		goto out;

	if ((x = list_of(L, root, "manifest", &rc)) || rc) {
		if (rc)
			goto out;
		for (yaml_node_item_t *it = x->data.sequence.items.start;
		     it < x->data.sequence.items.top; it++) {
			r->mops = nsh_xreallocarray(r->mops, r->nmops + 1, sizeof(*r->mops));
			memset(&r->mops[r->nmops], 0, sizeof(r->mops[0]));
			if ((rc = parse_mop(L, node(L, *it), &r->mops[r->nmops++])))
				goto out;
		}
	}
	if ((x = list_of(L, root, "rules", &rc)) || rc) {
		if (rc)
			goto out;
		for (yaml_node_item_t *it = x->data.sequence.items.start;
		     it < x->data.sequence.items.top; it++) {
			struct nsh_recipe_rule *ru;

			if (r->nrules >= NSH_RECIPE_RULES_MAX) {
				rc = fail_at(L, node(L, *it), "more than %d rules",
					     NSH_RECIPE_RULES_MAX);
				goto out;
			}
			r->rules = nsh_xreallocarray(r->rules, r->nrules + 1, sizeof(*r->rules));
			ru = &r->rules[r->nrules++];
			memset(ru, 0, sizeof(*ru));
			if ((rc = parse_rule(L, node(L, *it), ru, rw, nrw)))
				goto out;
			for (size_t k = 0; k + 1 < r->nrules; k++)
				if (!strcmp(r->rules[k].id, ru->id)) {
					rc = fail_at(L, node(L, *it), "two rules are called '%s'",
						     ru->id);
					goto out;
				}
		}
	}
	for (size_t i = 0; i < r->nbinds; i++) {
		bool used = false;

		for (size_t k = 0; k < r->nrules; k++)
			for (int f = 0; f < NSH_RECIPE_FAM_COUNT; f++)
				used |= r->rules[k].pat[f] &&
					nsh_recipe_pattern_has_hole(r->rules[k].pat[f],
								    r->binds[i].hole);
		if (!used) {
			rc = fail_at(L, map_get(L, root, "bind"),
				     "bind: no rule has a hole named '%s'", r->binds[i].hole);
			goto out;
		}
	}
	if ((x = list_of(L, root, "choices", &rc)) || rc) {
		if (rc)
			goto out;
		for (yaml_node_item_t *it = x->data.sequence.items.start;
		     it < x->data.sequence.items.top; it++) {
			struct nsh_recipe_choice *c;

			r->choices =
				nsh_xreallocarray(r->choices, r->nchoices + 1, sizeof(*r->choices));
			c = &r->choices[r->nchoices++];
			memset(c, 0, sizeof(*c));
			if ((rc = parse_choice(L, node(L, *it), c)))
				goto out;
			for (size_t k = 0; k + 1 < r->nchoices; k++)
				if (!strcmp(r->choices[k].id, c->id)) {
					rc = fail_at(L, node(L, *it), "two choices are called '%s'",
						     c->id);
					goto out;
				}
		}
	}
	if ((x = list_of(L, root, "post", &rc)) || rc) {
		if (rc)
			goto out;
		for (yaml_node_item_t *it = x->data.sequence.items.start;
		     it < x->data.sequence.items.top; it++) {
			struct nsh_recipe_post *p;

			r->post = nsh_xreallocarray(r->post, r->npost + 1, sizeof(*r->post));
			p = &r->post[r->npost++];
			memset(p, 0, sizeof(*p));
			if ((rc = parse_post(L, node(L, *it), p)))
				goto out;
			for (size_t k = 0; k + 1 < r->npost; k++)
				if (!strcmp(r->post[k].id, p->id)) {
					rc = fail_at(L, node(L, *it),
						     "two post steps are called '%s'", p->id);
					goto out;
				}
		}
	}
	if ((x = map_get(L, root, "pr")) &&
	    ((rc = check_map(L, x, "'pr'", pkeys)) || (rc = opt_str(L, x, "title", &r->pr_title)) ||
	     (rc = opt_str(L, x, "body", &r->pr_body))))
		goto out;
out:
	for (size_t i = 0; i < nrw; i++)
		where_release(&rw[i]);
	free(rw);
	return rc;
}

/* Refuse aliases and anchors, and deep or huge documents, before loading. */
static int prescan(const char *name, const char *text, size_t len, struct nsh_err *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	long events = 0;
	int depth = 0, rc = 0;

	if (!yaml_parser_initialize(&p))
		return nsh_err_set(err, NSH_EFAIL, "cannot start the YAML parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		const char *anchor = NULL;

		if (!yaml_parser_parse(&p, &ev)) {
			rc = nsh_err_set(err, NSH_EINVAL, "%s:%zu:%zu: invalid YAML: %s%s%s", name,
					 p.problem_mark.line + 1, p.problem_mark.column + 1,
					 p.problem ? p.problem : "syntax error",
					 p.context ? " " : "", p.context ? p.context : "");
			break;
		}
		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			anchor = "alias";
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor ? "anchor" : NULL;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor ? "anchor" : NULL;
			depth++;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor ? "anchor" : NULL;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (events > 2)
				rc = nsh_err_set(
					err, NSH_EINVAL,
					"%s:%zu:%zu: a recipe file holds one YAML document", name,
					ev.start_mark.line + 1, ev.start_mark.column + 1);
			break;
		case YAML_NO_EVENT:
		case YAML_STREAM_START_EVENT:
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		}
		if (!rc && anchor)
			rc = nsh_err_set(err, NSH_EINVAL,
					 "%s:%zu:%zu: YAML %ss are not supported in recipes", name,
					 ev.start_mark.line + 1, ev.start_mark.column + 1, anchor);
		if (!rc && depth > DEPTH_MAX)
			rc = nsh_err_set(
				err, NSH_EINVAL, "%s:%zu:%zu: nested deeper than %d levels", name,
				ev.start_mark.line + 1, ev.start_mark.column + 1, DEPTH_MAX);
		if (!rc && ++events > EVENTS_MAX)
			rc = nsh_err_set(err, NSH_ETOOBIG, "%s: more than %d YAML events", name,
					 EVENTS_MAX);
		if (ev.type == YAML_STREAM_END_EVENT || rc) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

int nsh_recipe_parse(const char *text, size_t len, const char *name, const char *expect_id,
		     struct nsh_recipe **ret, struct nsh_err *err)
{
	struct loader L = {.name = name ? name : "recipe", .err = err};
	yaml_parser_t p;
	yaml_node_t *root;
	bool have_doc = false;
	int rc;

	if (len > NSH_RECIPE_FILE_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "%s: larger than %u bytes", L.name,
				   NSH_RECIPE_FILE_MAX);
	if (memchr(text, '\0', len))
		return nsh_err_set(err, NSH_EINVAL, "%s: contains a NUL byte", L.name);
	rc = prescan(L.name, text, len, err);
	if (rc)
		return rc;
	if (!yaml_parser_initialize(&p))
		return nsh_err_set(err, NSH_EFAIL, "cannot start the YAML parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	L.r = nsh_xcalloc(1, sizeof(*L.r));
	nsh_strvec_init(&L.r->exclude);
	if (!yaml_parser_load(&p, &L.doc)) {
		rc = nsh_err_set(err, NSH_EINVAL, "%s:%zu:%zu: invalid YAML: %s", L.name,
				 p.problem_mark.line + 1, p.problem_mark.column + 1,
				 p.problem ? p.problem : "syntax error");
		goto out;
	}
	have_doc = true;
	root = yaml_document_get_root_node(&L.doc);
	if (!root) {
		rc = nsh_err_set(err, NSH_EINVAL, "%s: empty recipe", L.name);
		goto out;
	}
	rc = parse_root(&L, root, expect_id);
out:
	if (have_doc)
		yaml_document_delete(&L.doc);
	yaml_parser_delete(&p);
	if (rc) {
		nsh_recipe_free(L.r);
		return rc;
	}
	*ret = L.r;
	return 0;
}

int nsh_recipe_load(const char *path, const char *origin, struct nsh_recipe **ret,
		    struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	const char *base = strrchr(path, '/');
	char *id;
	size_t n;
	int rc;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".yml"))
		n -= 4;
	else if (n > 5 && !strcmp(base + n - 5, ".yaml"))
		n -= 5;
	id = nsh_xstrndup(base, n);
	rc = nsh_fs_read_file(path, &b, NSH_RECIPE_FILE_MAX, err);
	if (!rc)
		rc = nsh_recipe_parse(b.buf, b.len, path, id, ret, err);
	if (!rc) {
		(*ret)->path = nsh_xstrdup(path);
		(*ret)->origin = nsh_xstrdup(origin ? origin : "file");
	}
	free(id);
	nsh_buf_release(&b);
	return rc;
}
