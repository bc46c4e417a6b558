/*
 * npm manifests: package.json, and package-lock.json / npm-shrinkwrap.json
 * in lockfile versions 1 (a nested "dependencies" tree whose entries list
 * what they need under "requires"), 2 and 3 (a flat "packages" map keyed
 * by install path, "node_modules/a/node_modules/b", each entry listing
 * what it needs under "dependencies" and friends; version 2 also carries
 * the version 1 tree, which is ignored then).
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

#include "core/banned.h"

/* Nesting of package-lock.json: a version 1 tree adds two levels per level of packages. */
#define LOCK_MAX_DEPTH 512

static const struct {
	const char *key;
	const char *kind;
} sections[] = {
	{"dependencies", "dependencies"},
	{"devDependencies", "dev"},
	{"peerDependencies", "peer"},
	{"optionalDependencies", "optional"},
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

void nsh_analyze_decls_init(struct nsh_analyze_decls *d)
{
	memset(d, 0, sizeof(*d));
	nsh_strvec_init(&d->warnings);
	nsh_strvec_init(&d->notes);
}

void nsh_analyze_decls_release(struct nsh_analyze_decls *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr; i++) {
		free(d->v[i].name);
		free(d->v[i].declared);
		free(d->v[i].resolved);
	}
	free(d->v);
	nsh_strvec_release(&d->warnings);
	nsh_strvec_release(&d->notes);
	nsh_analyze_decls_init(d);
}

void nsh_analyze_decls_add(struct nsh_analyze_decls *d, const char *name, const char *kind,
			   const char *declared, const char *resolved, int line)
{
	struct nsh_analyze_decl *x;

	NSH_ALLOC_GROW(d->v, d->nr + 1, d->alloc);
	x = &d->v[d->nr++];
	memset(x, 0, sizeof(*x));
	x->name = nsh_xstrdup(name);
	x->kind = kind;
	x->declared = declared ? nsh_xstrdup(declared) : NULL;
	x->resolved = resolved ? nsh_xstrdup(resolved) : NULL;
	x->line = line;
}

/*
 * The line of the first occurrence of "\"@dep\"" followed by ':' in
 * @text (a good guess at where the key is), 0 when not found.
 */
static int key_line(const char *text, size_t len, const char *dep)
{
	size_t n = strlen(dep);
	int line = 1;

	for (size_t i = 0; i + n + 2 <= len; i++) {
		if (text[i] == '\n')
			line++;
		if (text[i] == '"' && !memcmp(text + i + 1, dep, n) && text[i + n + 1] == '"') {
			size_t j = i + n + 2;

			while (j < len && (text[j] == ' ' || text[j] == '\t'))
				j++;
			if (j < len && text[j] == ':')
				return line;
		}
	}
	return 0;
}

int nsh_analyze_read_package_json(const char *text, size_t len, const char *dep,
				  struct nsh_analyze_decls *out, struct nsh_err *err)
{
	json_t *root = NULL;
	int rc;

	if (len > NSH_ANALYZE_MANIFEST_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "larger than %zu bytes",
				   NSH_ANALYZE_MANIFEST_MAX);
	rc = nsh_json_parse(text, len, &root, err);
	if (rc)
		return rc;
	if (!json_is_object(root)) {
		rc = nsh_err_set(err, NSH_EINVAL, "expected a json object at the top");
		goto out;
	}
	for (size_t i = 0; i < NSECTIONS; i++) {
		json_t *sec = json_object_get(root, sections[i].key);
		json_t *v;

		if (!sec || json_is_null(sec))
			continue;
		if (!json_is_object(sec)) {
			nsh_strvec_pushf(&out->warnings, "'%s' is not an object", sections[i].key);
			continue;
		}
		v = json_object_get(sec, dep);
		if (!v)
			continue;
		if (!json_is_string(v)) {
			nsh_strvec_pushf(&out->warnings, "'%s.%s' is not a string", sections[i].key,
					 dep);
			continue;
		}
		nsh_analyze_decls_add(out, dep, sections[i].kind, json_string_value(v), NULL,
				      key_line(text, len, dep));
	}
out:
	json_decref(root);
	return rc;
}

void nsh_analyze_lock_release(struct nsh_analyze_lock *l)
{
	if (!l)
		return;
	free(l->top);
	free(l->root_declared);
	nsh_strvec_release(&l->versions);
	nsh_strvec_release(&l->via);
	memset(l, 0, sizeof(*l));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Versions sort by semver when both parse, else by text. */
static int version_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	struct nsh_analyze_version vx, vy;

	if (nsh_analyze_version_parse(x, &vx) && nsh_analyze_version_parse(y, &vy)) {
		int c = nsh_analyze_version_cmp(&vx, &vy);

		if (c)
			return c;
	}
	return strcmp(x, y);
}

static void add_unique(struct nsh_strvec *sv, const char *s)
{
	if (nsh_strvec_find(sv, s) < 0)
		nsh_strvec_push(sv, s);
}

/* True when one of the dependency maps of @entry names @dep. */
static bool entry_needs(json_t *entry, const char *dep, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++) {
		json_t *m = json_object_get(entry, keys[i]);

		if (json_is_object(m) && json_object_get(m, dep))
			return true;
	}
	return false;
}

/* The package name at the end of an install path "node_modules/a/node_modules/@s/b". */
static struct nsh_str path_name(const char *path)
{
	const char *nm = NULL, *p = path;

	while ((p = strstr(p, "node_modules/"))) {
		if (p == path || p[-1] == '/')
			nm = p;
		p += 13;
	}
	if (!nm)
		return nsh_str_make(NULL, 0);
	nm += 13;
	return nsh_str_from(nm);
}

/* Version 2 and 3: the "packages" map. */
static void read_packages(json_t *packages, const char *dep, const char *prefix,
			  struct nsh_analyze_lock *out)
{
	static const char *const need_keys[] = {"dependencies", "optionalDependencies",
						"peerDependencies", NULL};
	const char *path;
	json_t *entry, *own;
	char *top_path, *hoisted;

	json_object_foreach(packages, path, entry)
	{
		struct nsh_str name;
		json_t *ver;

		if (!json_is_object(entry))
			continue;
		name = path_name(path);
		ver = json_object_get(entry, "version");
		if (name.len && nsh_str_eq_cstr(name, dep) && json_is_string(ver))
			add_unique(&out->versions, json_string_value(ver));
		if (!*path)
			continue; /* the root project: its needs are direct ones */
		if (!name.len)
			continue; /* a workspace member: its package.json says what it needs */
		if (entry_needs(entry, dep, need_keys)) {
			char *n = nsh_str_dup(name);

			add_unique(&out->via, n);
			free(n);
		}
	}
	/* the copy the package at @prefix gets: its own nested one, else the hoisted one */
	top_path = *prefix ? nsh_xasprintf("%s/node_modules/%s", prefix, dep)
			   : nsh_xasprintf("node_modules/%s", dep);
	hoisted = nsh_xasprintf("node_modules/%s", dep);
	entry = json_object_get(packages, top_path);
	if (!json_is_object(entry))
		entry = json_object_get(packages, hoisted);
	if (json_is_object(entry) && json_is_string(json_object_get(entry, "version")))
		out->top = nsh_xstrdup(json_string_value(json_object_get(entry, "version")));
	own = json_object_get(packages, prefix);
	if (json_is_object(own))
		for (size_t i = 0; i < NSECTIONS; i++) {
			json_t *m = json_object_get(own, sections[i].key);
			json_t *v = json_is_object(m) ? json_object_get(m, dep) : NULL;

			if (json_is_string(v)) {
				out->root_declared = nsh_xstrdup(json_string_value(v));
				out->root_kind = sections[i].kind;
				break;
			}
		}
	free(top_path);
	free(hoisted);
}

/* Version 1: the nested "dependencies" tree. */
static void read_tree(json_t *deps, const char *dep, struct nsh_analyze_lock *out, int depth)
{
	const char *name;
	json_t *entry;

	if (depth > LOCK_MAX_DEPTH)
		return;
	json_object_foreach(deps, name, entry)
	{
		json_t *req, *ver, *sub;

		if (!json_is_object(entry))
			continue;
		ver = json_object_get(entry, "version");
		if (!strcmp(name, dep) && json_is_string(ver))
			add_unique(&out->versions, json_string_value(ver));
		req = json_object_get(entry, "requires");
		if (json_is_object(req) && json_object_get(req, dep))
			add_unique(&out->via, name);
		sub = json_object_get(entry, "dependencies");
		if (json_is_object(sub))
			read_tree(sub, dep, out, depth + 1);
	}
}

int nsh_analyze_read_package_lock(const char *text, size_t len, const char *dep, const char *prefix,
				  struct nsh_analyze_lock *out, struct nsh_err *err)
{
	json_t *root = NULL, *v, *packages, *deps;
	int rc;

	memset(out, 0, sizeof(*out));
	nsh_strvec_init(&out->versions);
	nsh_strvec_init(&out->via);
	rc = nsh_json_parse_limits(text, len, NSH_ANALYZE_LOCK_MAX, LOCK_MAX_DEPTH, &root, err);
	if (rc)
		return rc;
	if (!json_is_object(root)) {
		rc = nsh_err_set(err, NSH_EINVAL, "expected a json object at the top");
		goto out;
	}
	v = json_object_get(root, "lockfileVersion");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 3) {
		rc = nsh_err_set(err, NSH_EINVAL, "'lockfileVersion' is missing or not 1, 2 or 3");
		goto out;
	}
	out->version = (int)json_integer_value(v);
	packages = json_object_get(root, "packages");
	deps = json_object_get(root, "dependencies");
	if (out->version >= 2 && json_is_object(packages)) {
		read_packages(packages, dep, prefix ? prefix : "", out);
	} else if (json_is_object(deps) && (out->version == 1 || !packages)) {
		json_t *top = json_object_get(deps, dep);

		read_tree(deps, dep, out, 0);
		if (json_is_object(top) && json_is_string(json_object_get(top, "version")))
			out->top = nsh_xstrdup(json_string_value(json_object_get(top, "version")));
	} else if (out->version >= 2 && packages) {
		rc = nsh_err_set(err, NSH_EINVAL, "'packages' is not an object");
		goto out;
	} else if (deps && !json_is_object(deps)) {
		rc = nsh_err_set(err, NSH_EINVAL, "'dependencies' is not an object");
		goto out;
	}
	qsort(out->versions.v, out->versions.nr, sizeof(char *), version_cmp);
	qsort(out->via.v, out->via.nr, sizeof(char *), str_cmp);
out:
	json_decref(root);
	return rc;
}
