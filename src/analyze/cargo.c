/*
 * Cargo.toml: [dependencies], [dev-dependencies], [build-dependencies],
 * the same under [target.'cfg(...)'] and [workspace.dependencies]. An
 * entry is NAME = "spec" or NAME = { version = "spec", package = "real",
 * optional = true, git = "...", path = "...", workspace = true }. Crate
 * names compare with '-' and '_' treated alike, as crates.io does.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

#include "core/banned.h"

static const struct {
	const char *key;
	const char *kind;
} sections[] = {
	{"dependencies", "dependencies"}, {"dev-dependencies", "dev"},
	{"dev_dependencies", "dev"},	  {"build-dependencies", "build"},
	{"build_dependencies", "build"},
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static bool same_crate(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return !*a && !*b;
}

static const char *str_of(const struct nsh_analyze_toml *t, const char *key)
{
	const struct nsh_analyze_toml *v = nsh_analyze_toml_get(t, key);

	return v && v->type == NSH_ANALYZE_TOML_STRING ? v->str : NULL;
}

static void take_section(const struct nsh_analyze_toml *sec, const char *kind, const char *dep,
			 struct nsh_analyze_decls *out)
{
	if (!sec)
		return;
	if (sec->type != NSH_ANALYZE_TOML_TABLE) {
		nsh_strvec_pushf(&out->warnings, "line %d: '%s' is not a table", sec->line,
				 sec->key ? sec->key : "?");
		return;
	}
	for (size_t i = 0; i < sec->nr; i++) {
		const struct nsh_analyze_toml *e = sec->kids[i], *opt, *ws;
		const char *name = e->key, *spec = NULL, *k = kind;
		char *declared = NULL, *pin = NULL;

		if (e->type == NSH_ANALYZE_TOML_STRING) {
			spec = e->str;
		} else if (e->type == NSH_ANALYZE_TOML_TABLE) {
			const char *pkg = str_of(e, "package");

			if (pkg)
				name = pkg;
			spec = str_of(e, "version");
			opt = nsh_analyze_toml_get(e, "optional");
			ws = nsh_analyze_toml_get(e, "workspace");
			if (opt && opt->type == NSH_ANALYZE_TOML_SCALAR &&
			    !strcmp(opt->str, "true"))
				k = "optional";
			if (!spec && ws && ws->type == NSH_ANALYZE_TOML_SCALAR &&
			    !strcmp(ws->str, "true"))
				declared = nsh_xstrdup("workspace");
			else if (!spec && str_of(e, "git"))
				declared = nsh_xasprintf("git %s", str_of(e, "git"));
			else if (!spec && str_of(e, "path"))
				declared = nsh_xasprintf("path %s", str_of(e, "path"));
		} else {
			nsh_strvec_pushf(
				&out->warnings,
				"line %d: dependency '%.64s' is neither a string nor a table",
				e->line, e->key);
			continue;
		}
		if (!same_crate(name, dep)) {
			free(declared);
			continue;
		}
		if (spec) {
			struct nsh_analyze_version v;

			declared = nsh_xstrdup(spec);
			/* "=1.2.3" is the only exact requirement; a bare version means ^ */
			if (spec[0] == '=' && nsh_analyze_version_parse(spec + 1, &v))
				pin = nsh_xstrdup(spec + 1);
		}
		nsh_analyze_decls_add(out, name, k, declared, pin, e->line);
		free(declared);
		free(pin);
	}
}

int nsh_analyze_read_cargo(const char *text, size_t len, const char *dep,
			   struct nsh_analyze_decls *out, struct nsh_err *err)
{
	struct nsh_analyze_toml *root = NULL;
	const struct nsh_analyze_toml *targets;
	int rc;

	rc = nsh_analyze_toml_parse(text, len, &root, err);
	if (rc)
		return rc;
	for (size_t s = 0; s < NSECTIONS; s++)
		take_section(nsh_analyze_toml_get(root, sections[s].key), sections[s].kind, dep,
			     out);
	targets = nsh_analyze_toml_get(root, "target");
	if (targets && targets->type == NSH_ANALYZE_TOML_TABLE)
		for (size_t i = 0; i < targets->nr; i++)
			for (size_t s = 0; s < NSECTIONS; s++)
				take_section(
					nsh_analyze_toml_get(targets->kids[i], sections[s].key),
					sections[s].kind, dep, out);
	take_section(nsh_analyze_toml_path(root, "workspace", "dependencies", NULL), "managed", dep,
		     out);
	nsh_analyze_toml_free(root);
	return 0;
}
