/*
 * Finding recipes (the shipped directory and the home), the catalog, and
 * the JSON and Markdown forms of recipes and results.
 */
#include "recipe/recipe.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "recipe/recipe_int.h"

#include "core/banned.h"

/* ---- globs ---- */

bool nsh_recipe_glob(const char *pat, const char *path)
{
	const char *base;

	while (pat[0] == '.' && pat[1] == '/')
		pat += 2;
	if (!strchr(pat, '/')) {
		base = strrchr(path, '/');
		return fnmatch(pat, base ? base + 1 : path, 0) == 0;
	}
	if (fnmatch(pat, path, 0) == 0)
		return true;
	/* "**" + "/x" also matches x at the top */
	return pat[0] == '*' && pat[1] == '*' && pat[2] == '/' && fnmatch(pat + 3, path, 0) == 0;
}

/* ---- where recipes are ---- */

static void add_dir(struct nsh_strvec *out, const char *origin, const char *dir)
{
	nsh_strvec_push(out, origin);
	nsh_strvec_push(out, dir);
}

void nsh_recipe_dirs(const char *home, struct nsh_strvec *out)
{
	const char *env = getenv("NIGHTSHIFT_RECIPES");

	if (env && *env) {
		if (nsh_fs_is_dir(env))
			add_dir(out, "shipped", env);
	} else {
		static const char *const rel[] = {"recipes", "../recipes", "../../recipes",
						  "../share/nightshift/recipes"};
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n > 0) {
			char *slash;

			exe[n] = '\0';
			slash = strrchr(exe, '/');
			if (slash)
				*slash = '\0';
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				char *d = nsh_xasprintf("%s/%s", exe, rel[i]);
				bool found = nsh_fs_is_dir(d);

				if (found)
					add_dir(out, "shipped", d);
				free(d);
				if (found)
					break;
			}
		}
	}
	if (home) {
		char *d = nsh_xasprintf("%s/recipes", home);

		if (nsh_fs_is_dir(d))
			add_dir(out, "home", d);
		free(d);
	}
}

/* ---- the catalog ---- */

static void entry_release(struct nsh_recipe_entry *e)
{
	free(e->id);
	free(e->path);
	free(e->origin);
	nsh_recipe_free(e->recipe);
	free(e->error);
}

void nsh_recipe_catalog_release(struct nsh_recipe_catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++)
		entry_release(&c->v[i]);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nsh_recipe_entry *)a)->id,
		      ((const struct nsh_recipe_entry *)b)->id);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The id a recipe file name stands for, or NULL when it is not one. */
static char *file_id(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return NULL;
	if (n > 4 && !strcmp(name + n - 4, ".yml"))
		return nsh_xstrndup(name, n - 4);
	if (n > 5 && !strcmp(name + n - 5, ".yaml"))
		return nsh_xstrndup(name, n - 5);
	return NULL;
}

int nsh_recipe_catalog_load(const struct nsh_strvec *dirs, struct nsh_recipe_catalog *out,
			    struct nsh_err *err)
{
	memset(out, 0, sizeof(*out));
	for (size_t d = 0; d + 1 < dirs->nr; d += 2) {
		const char *origin = dirs->v[d], *dir = dirs->v[d + 1];
		struct nsh_strvec names = NSH_STRVEC_INIT;
		struct dirent *de;
		DIR *dh = opendir(dir);

		if (!dh) {
			nsh_recipe_catalog_release(out);
			return nsh_err_sys(err, errno, "cannot read recipe directory '%s'", dir);
		}
		while ((de = readdir(dh)))
			nsh_strvec_push(&names, de->d_name);
		closedir(dh);
		qsort(names.v, names.nr, sizeof(char *), name_cmp);
		for (size_t i = 0; i < names.nr; i++) {
			struct nsh_err e = NSH_ERR_INIT;
			struct nsh_recipe_entry ent = {0};
			char *id = file_id(names.v[i]);
			size_t k;

			if (!id)
				continue;
			ent.id = id;
			ent.path = nsh_xasprintf("%s/%s", dir, names.v[i]);
			ent.origin = nsh_xstrdup(origin);
			if (nsh_recipe_load(ent.path, origin, &ent.recipe, &e))
				ent.error = nsh_xstrdup(e.msg);
			for (k = 0; k < out->nr; k++)
				if (!strcmp(out->v[k].id, id))
					break;
			if (k < out->nr) {
				/* a later directory (or .yml over .yaml) replaces it */
				entry_release(&out->v[k]);
				out->v[k] = ent;
				continue;
			}
			NSH_ALLOC_GROW(out->v, out->nr + 1, out->alloc);
			out->v[out->nr++] = ent;
		}
		nsh_strvec_release(&names);
	}
	if (out->nr)
		qsort(out->v, out->nr, sizeof(*out->v), entry_cmp);
	return 0;
}

int nsh_recipe_find(const struct nsh_recipe_catalog *c, const char *name, struct nsh_recipe **ret,
		    bool *ret_owned, struct nsh_err *err)
{
	size_t n = strlen(name);
	struct nsh_buf known = NSH_BUF_INIT;
	int rc;

	if (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
	    (n > 5 && !strcmp(name + n - 5, ".yaml"))) {
		rc = nsh_recipe_load(name, "file", ret, err);
		if (!rc)
			*ret_owned = true;
		return rc;
	}
	for (size_t i = 0; i < c->nr; i++) {
		if (strcmp(c->v[i].id, name))
			continue;
		if (!c->v[i].recipe)
			return nsh_err_set(err, NSH_EINVAL, "recipe '%s' is broken: %s", name,
					   c->v[i].error);
		*ret = c->v[i].recipe;
		*ret_owned = false;
		return 0;
	}
	for (size_t i = 0; i < c->nr; i++)
		nsh_buf_addf(&known, "%s%s", i ? ", " : "", c->v[i].id);
	rc = nsh_err_set(err, NSH_ENOTFOUND, "no recipe '%s' (known: %s)", name,
			 c->nr ? known.buf : "none");
	nsh_buf_release(&known);
	return rc;
}

/* ---- JSON ---- */

static json_t *strs(const struct nsh_strvec *v)
{
	json_t *a = json_array();
	const char *s;

	nsh_vec_foreach(s, v)
		json_array_append_new(a, json_string(s));
	return a;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const char *op_name(enum nsh_recipe_op op)
{
	switch (op) {
	case NSH_RECIPE_OP_BUMP:
		return "bump";
	case NSH_RECIPE_OP_RENAME:
		return "rename";
	case NSH_RECIPE_OP_ADD:
		return "add";
	case NSH_RECIPE_OP_REMOVE:
		return "remove";
	}
	return "?";
}

static const char *in_name(enum nsh_recipe_in in)
{
	switch (in) {
	case NSH_RECIPE_IN_CODE:
		return "code";
	case NSH_RECIPE_IN_STRING:
		return "string";
	case NSH_RECIPE_IN_COMMENT:
		return "comment";
	}
	return "?";
}

static json_t *is_json(unsigned bits)
{
	struct nsh_buf b = NSH_BUF_INIT;
	json_t *a = json_array();
	const char *p;

	nsh_recipe_is_names(bits, &b);
	for (p = b.buf; *p;) {
		size_t n = strcspn(p, " ");
		char *w = nsh_xstrndup(p, n);

		json_array_append_new(a, json_string(w));
		free(w);
		p += n;
		p += strspn(p, " ");
	}
	nsh_buf_release(&b);
	return a;
}

static json_t *rule_json(const struct nsh_recipe_rule *ru)
{
	json_t *o = json_object(), *langs = json_array(), *where = json_object();

	for (int l = 0; l < NSH_RECIPE_LANG_COUNT; l++)
		if (ru->langs & (1u << l))
			json_array_append_new(
				langs, json_string(nsh_recipe_lang_name((enum nsh_recipe_lang)l)));
	for (size_t i = 0; i < ru->nwhere; i++) {
		const struct nsh_recipe_where *w = &ru->where[i];
		json_t *c = json_object();

		if (w->equals.nr)
			json_object_set_new(c, "equals", strs(&w->equals));
		if (w->not_equals.nr)
			json_object_set_new(c, "not-equals", strs(&w->not_equals));
		if (w->regex)
			json_object_set_new(c, "regex", json_string(w->regex));
		if (w->not_regex)
			json_object_set_new(c, "not-regex", json_string(w->not_regex));
		if (w->is)
			json_object_set_new(c, "is", is_json(w->is));
		if (w->is_not)
			json_object_set_new(c, "is-not", is_json(w->is_not));
		json_object_set_new(where, w->hole, c);
	}
	json_object_set_new(o, "id", json_string(ru->id));
	json_object_set_new(o, "languages", langs);
	json_object_set_new(o, "files", strs(&ru->files));
	json_object_set_new(o, "exclude", strs(&ru->exclude));
	json_object_set_new(o, "in", json_string(in_name(ru->in)));
	json_object_set_new(o, "match", json_string(ru->match));
	json_object_set_new(o, "rewrite", str_or_null(ru->rewrite));
	json_object_set_new(o, "where", where);
	json_object_set_new(o, "class", str_or_null(ru->klass));
	json_object_set_new(o, "silent", json_boolean(ru->silent));
	json_object_set_new(o, "review", json_boolean(ru->review));
	json_object_set_new(o, "enabled", json_boolean(ru->enabled));
	json_object_set_new(o, "note", str_or_null(ru->note));
	return o;
}

json_t *nsh_recipe_to_json(const struct nsh_recipe *r)
{
	json_t *o = json_object(), *a;

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "title", json_string(r->title));
	json_object_set_new(o, "description", str_or_null(r->description));
	json_object_set_new(o, "path", str_or_null(r->path));
	json_object_set_new(o, "origin", str_or_null(r->origin));
	json_object_set_new(o, "applies",
			    r->has_applies
				    ? json_pack("{s:s, s:s, s:s}", "ecosystem", r->ecosystem,
						"dependency", r->dependency, "range", r->range)
				    : json_null());
	a = json_array();
	for (size_t i = 0; i < r->nmops; i++) {
		const struct nsh_recipe_mop *m = &r->mops[i];

		json_array_append_new(
			a, json_pack("{s:s, s:s, s:o, s:o, s:o}", "op", op_name(m->op), "package",
				     m->package, "to", str_or_null(m->to), "version",
				     str_or_null(m->version), "section", str_or_null(m->section)));
	}
	json_object_set_new(o, "manifest", a);
	a = json_array();
	for (size_t i = 0; i < r->nrules; i++)
		json_array_append_new(a, rule_json(&r->rules[i]));
	json_object_set_new(o, "rules", a);
	a = json_array();
	for (size_t i = 0; i < r->nchoices; i++) {
		const struct nsh_recipe_choice *c = &r->choices[i];
		json_t *alts = json_array();

		for (size_t k = 0; k < c->nalts; k++) {
			const struct nsh_recipe_alt *al = &c->alts[k];

			json_array_append_new(
				alts, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "id", al->id,
						"description", al->description, "keywords",
						strs(&al->keywords), "enable", strs(&al->enable),
						"disable", strs(&al->disable), "assumption",
						str_or_null(al->assumption)));
		}
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "id", c->id,
						   "description", c->description, "default", c->def,
						   "alternatives", alts));
	}
	json_object_set_new(o, "choices", a);
	a = json_array();
	for (size_t i = 0; i < r->npost; i++) {
		const struct nsh_recipe_post *p = &r->post[i];

		json_array_append_new(
			a, json_pack("{s:s, s:o, s:o, s:o, s:i}", "id", p->id, "description",
				     str_or_null(p->description), "run", strs(&p->run), "when",
				     str_or_null(p->when), "timeout", (int)p->timeout_s));
	}
	json_object_set_new(o, "post", a);
	a = json_object();
	for (size_t i = 0; i < r->nbinds; i++)
		json_object_set_new(a, r->binds[i].hole,
				    json_pack("{s:o, s:o}", "modules", strs(&r->binds[i].modules),
					      "names", strs(&r->binds[i].names)));
	json_object_set_new(o, "bind", a);
	json_object_set_new(o, "exclude", strs(&r->exclude));
	json_object_set_new(o, "pr",
			    json_pack("{s:o, s:o}", "title", str_or_null(r->pr_title), "body",
				      str_or_null(r->pr_body)));
	return o;
}

json_t *nsh_recipe_result_to_json(const struct nsh_recipe *r, const struct nsh_recipe_result *res)
{
	json_t *o = json_object(), *a;
	size_t changed = 0;

	json_object_set_new(o, "recipe", json_string(r->id));
	json_object_set_new(o, "applicable", json_boolean(res->applicable));
	json_object_set_new(o, "forced", json_boolean(res->forced));
	json_object_set_new(o, "reason", str_or_null(res->reason));
	json_object_set_new(o, "dry_run", json_boolean(res->dry_run));
	a = json_array();
	for (size_t i = 0; i < res->ntaken; i++) {
		const struct nsh_recipe_taken *t = &res->taken[i];

		json_array_append_new(a,
				      json_pack("{s:s, s:s, s:b, s:s, s:o}", "choice",
						t->choice->id, "alternative", t->alt->id, "default",
						t->is_default, "description", t->alt->description,
						"assumption", str_or_null(t->alt->assumption)));
	}
	json_object_set_new(o, "choices", a);
	a = json_array();
	for (size_t i = 0; i < res->nmedits; i++) {
		const struct nsh_recipe_medit *m = &res->medits[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "file",
						   m->file, "op", m->op, "package", m->package,
						   "section", m->section, "from",
						   str_or_null(m->from), "to", str_or_null(m->to)));
	}
	json_object_set_new(o, "manifest", a);
	a = json_array();
	for (size_t i = 0; i < res->nfiles; i++) {
		json_array_append_new(a, json_pack("{s:s, s:i}", "path", res->files[i].path,
						   "changes", (int)res->files[i].changes));
		changed++;
	}
	json_object_set_new(o, "files", a);
	a = json_array();
	for (size_t i = 0; i < res->nchanges; i++) {
		const struct nsh_recipe_change *c = &res->changes[i];

		json_array_append_new(
			a, json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:b}", "file", c->file, "line",
				     (int)c->line, "new_line", (int)c->new_line, "rule", c->rule,
				     "before", c->before, "after", c->after, "nested", c->nested));
	}
	json_object_set_new(o, "changes", a);
	a = json_array();
	for (size_t i = 0; i < res->nreviews; i++) {
		const struct nsh_recipe_review *v = &res->reviews[i];

		json_array_append_new(a, json_pack("{s:s, s:i, s:s, s:o, s:s, s:b}", "file",
						   v->file, "line", (int)v->line, "rule", v->rule,
						   "note", str_or_null(v->note), "text", v->text,
						   "rewritten", v->rewritten));
	}
	json_object_set_new(o, "needs_review", a);
	a = json_array();
	for (size_t i = 0; i < res->ncounts; i++) {
		const struct nsh_recipe_count *c = &res->counts[i];

		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:i}", "rule", c->rule,
						   "changes", (int)c->changes, "needs_review",
						   (int)c->reviews, "files", (int)c->files));
	}
	json_object_set_new(o, "rules", a);
	a = json_array();
	for (size_t i = 0; i < res->npost; i++) {
		const struct nsh_recipe_post *p = res->post[i];

		json_array_append_new(a,
				      json_pack("{s:s, s:o, s:o}", "id", p->id, "description",
						str_or_null(p->description), "run", strs(&p->run)));
	}
	json_object_set_new(o, "post", a);
	a = json_array();
	for (size_t i = 0; i < res->nwarnings; i++) {
		const struct nsh_recipe_warning *w = &res->warnings[i];

		json_array_append_new(a, json_pack("{s:o, s:o, s:s}", "file", str_or_null(w->file),
						   "rule", str_or_null(w->rule), "message",
						   w->message));
	}
	json_object_set_new(o, "warnings", a);
	json_object_set_new(o, "summary",
			    json_pack("{s:i, s:i, s:i, s:i}", "files_scanned",
				      (int)res->files_scanned, "files_changed", (int)changed,
				      "changes", (int)res->nchanges, "needs_review",
				      (int)res->nreviews));
	return o;
}

/* ---- the pull-request body ---- */

/* Append @s for a Markdown table cell: '|' escaped, line ends as spaces. */
static void cell(struct nsh_buf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			nsh_buf_adds(b, "\\|");
		else if (*s == '\n' || *s == '\r')
			nsh_buf_addch(b, ' ');
		else
			nsh_buf_addch(b, *s);
	}
}

int nsh_recipe_pr_body(const struct nsh_recipe *r, const struct nsh_recipe_result *res,
		       struct nsh_buf *out)
{
	struct nsh_buf b = NSH_BUF_INIT;
	bool any = false;
	int rc;

	nsh_buf_adds(&b, r->pr_body ? r->pr_body : r->pr_title ? r->pr_title : r->title);
	while (b.len && (b.buf[b.len - 1] == '\n' || b.buf[b.len - 1] == ' '))
		nsh_buf_truncate(&b, b.len - 1);
	nsh_buf_adds(&b, "\n");
	nsh_buf_addf(&b, "\nMade by the recipe `%s` (%s).\n", r->id, r->title);

	for (size_t i = 0; i < res->ncounts; i++)
		any |= res->counts[i].changes || res->counts[i].reviews;
	if (any) {
		nsh_buf_adds(&b, "\n### Breaking changes handled\n\n"
				 "| rule | class | silent | changes | needs review |\n"
				 "|---|---|---|---|---|\n");
		for (size_t i = 0; i < res->ncounts; i++) {
			const struct nsh_recipe_count *c = &res->counts[i];
			const struct nsh_recipe_rule *ru = nsh_recipe_rule_find(r, c->rule);

			if (!c->changes && !c->reviews)
				continue;
			nsh_buf_addf(&b, "| `%s` | ", c->rule);
			cell(&b, ru->klass ? ru->klass : "-");
			nsh_buf_addf(&b, " | %s | %u | %u |\n", ru->silent ? "yes" : "no",
				     c->changes, c->reviews);
		}
		nsh_buf_adds(&b, "\n");
		for (size_t i = 0; i < res->ncounts; i++) {
			const struct nsh_recipe_rule *ru =
				nsh_recipe_rule_find(r, res->counts[i].rule);

			if ((res->counts[i].changes || res->counts[i].reviews) && ru->note)
				nsh_buf_addf(&b, "- `%s`: %s\n", ru->id, ru->note);
		}
	}
	if (res->ntaken) {
		nsh_buf_adds(&b, "\n### Choices\n\n");
		for (size_t i = 0; i < res->ntaken; i++) {
			const struct nsh_recipe_taken *t = &res->taken[i];

			nsh_buf_addf(&b, "- %s: **%s**%s: %s", t->choice->description, t->alt->id,
				     t->is_default ? " (default)" : "", t->alt->description);
			if (t->alt->assumption)
				nsh_buf_addf(&b, "; assumes that %s", t->alt->assumption);
			nsh_buf_adds(&b, "\n");
		}
	}
	if (res->nreviews) {
		nsh_buf_adds(&b, "\n### Needs review\n\n");
		for (size_t i = 0; i < res->nreviews; i++) {
			const struct nsh_recipe_review *v = &res->reviews[i];

			nsh_buf_addf(&b, "- `%s:%u` (`%s`)%s%s\n", v->file, v->line, v->rule,
				     v->note ? ": " : "", v->note ? v->note : "");
		}
	}
	if (res->nmedits) {
		nsh_buf_adds(&b, "\n### Dependencies\n\n");
		for (size_t i = 0; i < res->nmedits; i++) {
			const struct nsh_recipe_medit *m = &res->medits[i];

			if (!strcmp(m->op, "bump"))
				nsh_buf_addf(&b, "- `%s` %s: `%s` `%s` -> `%s`\n", m->file,
					     m->section, m->package, m->from, m->to);
			else if (!strcmp(m->op, "rename"))
				nsh_buf_addf(&b, "- `%s` %s: `%s` renamed to `%s`\n", m->file,
					     m->section, m->from, m->to);
			else if (!strcmp(m->op, "add"))
				nsh_buf_addf(&b, "- `%s` %s: added `%s` `%s`\n", m->file,
					     m->section, m->package, m->to);
			else
				nsh_buf_addf(&b, "- `%s` %s: removed `%s`\n", m->file, m->section,
					     m->package);
		}
	}
	if (res->npost) {
		nsh_buf_adds(&b, "\n### Post steps\n\n");
		for (size_t i = 0; i < res->npost; i++) {
			const struct nsh_recipe_post *p = res->post[i];
			const char *s;

			nsh_buf_addf(&b, "- `%s`: `", p->id);
			nsh_vec_foreach(s, &p->run)
				nsh_buf_addf(&b, "%s%s", s == p->run.v[0] ? "" : " ", s);
			nsh_buf_addf(&b, "`%s%s\n", p->description ? " " : "",
				     p->description ? p->description : "");
		}
	}
	rc = nsh_buf_add(out, b.buf, b.len);
	nsh_buf_release(&b);
	return rc;
}
