/*
 * Analysing one bare repository: the git processes and what is made of
 * their output.
 *
 *   1. git ls-tree -r -z --full-tree HEAD      the file list
 *   2. git cat-file --batch --buffer           "HEAD" (for the commit id), then
 *                                              every manifest and repo.yml at once
 *   3. git grep -n -z -I -F -e API... -e DEP   the lines that may use an API, only
 *      COMMIT -- '*.js' ...                    when the dependency is used at all
 *   4. git cat-file --batch --buffer           only for source files whose imports
 *                                              need more than their lines
 *
 * Every problem becomes a warning in the result; nothing here stops the
 * analysis of other repositories.
 */
#include "analyze/analyze.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/proc.h"
#include "core/str.h"
#include "forge/git.h"

#include "core/banned.h"

#define TREE_MAX      ((size_t)64 << 20)  /* ls-tree output */
#define CATFILE_MAX   ((size_t)192 << 20) /* cat-file output, all manifests together */
#define GREP_MAX      ((size_t)32 << 20)  /* grep output */
#define SOURCES_MAX   ((size_t)64 << 20)  /* second cat-file, whole source files */
#define MAX_MANIFESTS 256		  /* manifests read per repository */
#define MAX_FULL      1000		  /* source files read whole per repository */
#define MAX_USES      100000		  /* usages recorded per repository */
#define GIT_TIMEOUT   ((int64_t)300 * 1000)

enum mtype { M_PKG_JSON, M_PKG_LOCK, M_REQS, M_PYPROJECT, M_GOMOD, M_CARGO, M_POM, M_REPO_YML };

struct entry {
	const char *oid;  /* hex object id, NUL-terminated in the tree buffer */
	const char *path; /* path, NUL-terminated in the tree buffer */
};

struct manifest {
	enum mtype type;
	const struct entry *e;
	const char *data; /* contents, in the cat-file buffer; NULL when not read */
	size_t len;
	bool used;   /* a lockfile paired with a package.json that names the dependency */
	bool warned; /* a lockfile whose problem was reported already */
};

struct ctx {
	const struct nsh_analyze *a;
	const struct nsh_analyze_target *t;
	struct nsh_analyze_result *r;
	struct nsh_buf tree; /* ls-tree output; entries point into it */
	struct entry *entries;
	size_t nentries, aentries;
	struct manifest *m;
	size_t nm, am;
	struct nsh_buf blobs; /* cat-file output; manifests point into it */
	size_t js_files;      /* source files git grep will look at */
	const char *rev;      /* what grep searches: the commit id, else "HEAD" */
	struct nsh_analyze_dep *deps;
	size_t adeps;
	bool unreadable; /* the file list could not be read */
};

static void warn(struct nsh_analyze_result *r, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn(struct nsh_analyze_result *r, const char *file, const char *fmt, ...)
{
	struct nsh_analyze_warning *w;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	r->warnings = nsh_xreallocarray(r->warnings, r->nwarnings + 1, sizeof(*r->warnings));
	w = &r->warnings[r->nwarnings++];
	w->file = nsh_xstrdup(file);
	w->reason = msg ? msg : nsh_xstrdup("(no memory for the message)");
}

/* --- paths -------------------------------------------------------------- */

static bool has_component(const char *path, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = path; (p = strstr(p, name)); p += n)
		if ((p == path || p[-1] == '/') && (p[n] == '/' || p[n] == '\0'))
			return true;
	return false;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !memcmp(s + n - m, suffix, m);
}

/* Vendored code and test fixtures are not the repository's own manifests or code. */
static bool vendored(const char *path)
{
	static const char *const dirs[] = {"node_modules", "bower_components", "vendor",
					   "fixtures",	   "__fixtures__",     "testdata"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (has_component(path, dirs[i]))
			return true;
	return false;
}

static int manifest_type(const char *path)
{
	const char *b = base_name(path);

	if (!strcmp(path, ".nightshift/repo.yml"))
		return M_REPO_YML;
	if (vendored(path))
		return -1;
	if (!strcmp(b, "package.json"))
		return M_PKG_JSON;
	if (!strcmp(b, "package-lock.json") || !strcmp(b, "npm-shrinkwrap.json"))
		return M_PKG_LOCK;
	if (ends_with(b, ".txt") && (!strncmp(b, "requirements", 12) ||
				     (b - path >= 13 && !strncmp(b - 13, "requirements/", 13) &&
				      (b - path == 13 || b[-14] == '/'))))
		return M_REQS;
	if (!strcmp(b, "pyproject.toml"))
		return M_PYPROJECT;
	if (!strcmp(b, "go.mod"))
		return M_GOMOD;
	if (!strcmp(b, "Cargo.toml"))
		return M_CARGO;
	if (!strcmp(b, "pom.xml"))
		return M_POM;
	return -1;
}

/* Test files: in a test directory, or named like one. */
static bool is_test(const char *path)
{
	static const char *const dirs[] = {"test", "tests", "__tests__", "__test__",
					   "spec", "specs", "e2e"};
	static const char *const mids[] = {".test.", ".spec.", "_test.", "-test.", "_spec."};
	const char *b = base_name(path);

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (has_component(path, dirs[i]) && strcmp(b, dirs[i]))
			return true;
	for (size_t i = 0; i < sizeof(mids) / sizeof(mids[0]); i++)
		if (strstr(b, mids[i]))
			return true;
	if (!strncmp(b, "test_", 5) && ends_with(b, ".py"))
		return true;
	return ends_with(b, "Test.java") || ends_with(b, "Tests.java");
}

static const char *const js_ext[] = {".js",  ".jsx", ".mjs", ".cjs", ".ts",
				     ".tsx", ".mts", ".cts", ".vue", ".svelte"};
#define NJS_EXT (sizeof(js_ext) / sizeof(js_ext[0]))

static bool is_js_source(const char *path)
{
	bool ext = false;

	for (size_t i = 0; i < NJS_EXT; i++)
		ext = ext || ends_with(path, js_ext[i]);
	if (!ext || ends_with(path, ".min.js") || ends_with(path, ".d.ts"))
		return false;
	return !has_component(path, "node_modules") && !has_component(path, "bower_components") &&
	       !has_component(path, "vendor");
}

/* --- git ---------------------------------------------------------------- */

/* The last non-empty line of a process's stderr, for warnings. */
static void last_line(const struct nsh_buf *b, struct nsh_str *ret)
{
	struct nsh_str s = nsh_str_trim(nsh_str_make(b->buf, b->len));
	const char *nl = s.len ? memrchr(s.p, '\n', s.len) : NULL;

	*ret = nl ? nsh_str_make(nl + 1, s.len - (size_t)(nl + 1 - s.p)) : s;
}

/* 1: the file list. */
static bool list_tree(struct ctx *c)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;
	bool ok = false;
	size_t i = 0;

	nsh_git_init(&p, c->t->git_dir);
	nsh_strvec_pushl(&p.argv, "ls-tree", "-r", "-z", "--full-tree", "HEAD", NULL);
	p.out_max = TREE_MAX;
	p.timeout_ms = GIT_TIMEOUT;
	if (nsh_proc_run_checked(&p, &c->tree, &err)) {
		struct nsh_str l;

		last_line(&p.err, &l);
		if (p.exit_code > 0 && (nsh_str_has_prefix(l, "fatal: Not a valid object name") ||
					nsh_str_has_prefix(l, "fatal: not a tree object")))
			warn(c->r, "", "the default branch has no commits");
		else if (p.exit_code > 0 && nsh_str_has_prefix(l, "fatal: not a git repository"))
			warn(c->r, "", "not a git repository: '%s'", c->t->git_dir);
		else
			warn(c->r, "", "cannot list files: %s", err.msg);
		goto out;
	}
	while (i < c->tree.len) {
		char *rec = c->tree.buf + i, *end = memchr(rec, '\0', c->tree.len - i);
		char *tab, *sp1, *sp2;

		if (!end)
			break;
		i = (size_t)(end - c->tree.buf) + 1;
		/* "MODE TYPE OID\tPATH" */
		tab = memchr(rec, '\t', (size_t)(end - rec));
		sp1 = memchr(rec, ' ', (size_t)(end - rec));
		sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
		if (!tab || !sp1 || !sp2 || sp2 > tab || strncmp(sp1 + 1, "blob ", 5))
			continue; /* submodules (commit) and anything unexpected */
		*tab = '\0';
		NSH_ALLOC_GROW(c->entries, c->nentries + 1, c->aentries);
		c->entries[c->nentries].oid = sp2 + 1;
		c->entries[c->nentries].path = tab + 1;
		c->nentries++;
	}
	ok = true;
out:
	nsh_proc_release(&p);
	return ok;
}

static void classify(struct ctx *c)
{
	size_t skipped = 0;

	c->r->files = c->nentries;
	for (size_t i = 0; i < c->nentries; i++) {
		const struct entry *e = &c->entries[i];
		int type = manifest_type(e->path);

		if (is_test(e->path))
			c->r->test_files++;
		if (is_js_source(e->path))
			c->js_files++;
		if (type < 0)
			continue;
		if (c->nm >= MAX_MANIFESTS) {
			skipped++;
			continue;
		}
		NSH_ALLOC_GROW(c->m, c->nm + 1, c->am);
		memset(&c->m[c->nm], 0, sizeof(c->m[0]));
		c->m[c->nm].type = (enum mtype)type;
		c->m[c->nm].e = e;
		c->nm++;
	}
	c->r->has_tests = c->r->test_files > 0;
	if (skipped)
		warn(c->r, "", "%zu manifests past the first %d not read", skipped, MAX_MANIFESTS);
}

/* One object of "cat-file --batch" output at *@pp; false at the end or when cut. */
static bool next_object(const char **pp, const char *end, const char **ret_oid,
			const char **ret_data, size_t *ret_len, bool *ret_missing)
{
	const char *p = *pp, *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
	unsigned long long size;
	char *num_end;

	if (p >= end || !nl)
		return false;
	*ret_oid = p;
	*ret_missing = false;
	sp = memchr(p, ' ', (size_t)(nl - p));
	if (!sp)
		return false;
	if ((size_t)(nl - sp) == 8 && !memcmp(sp, " missing", 8)) {
		*ret_missing = true;
		*pp = nl + 1;
		return true;
	}
	sp = memrchr(p, ' ', (size_t)(nl - p));
	size = strtoull(sp + 1, &num_end, 10);
	if (num_end != nl || size > (unsigned long long)(end - nl - 1) ||
	    (size_t)(end - nl - 1) - size < 1)
		return false; /* cut short by the output cap */
	*ret_data = nl + 1;
	*ret_len = (size_t)size;
	*pp = nl + 1 + size + 1;
	return true;
}

/* 2: the commit and every manifest's contents. */
static void read_manifests(struct ctx *c)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf in = NSH_BUF_INIT;
	struct nsh_proc p;
	const char *q, *end, *oid, *data;
	size_t len, k = 0;
	bool missing;

	nsh_buf_adds(&in, "HEAD\n");
	for (size_t i = 0; i < c->nm; i++)
		nsh_buf_addf(&in, "%s\n", c->m[i].e->oid);
	nsh_git_init(&p, c->t->git_dir);
	nsh_strvec_pushl(&p.argv, "cat-file", "--batch", "--buffer", NULL);
	p.in = in.buf;
	p.in_len = in.len;
	p.out_max = CATFILE_MAX;
	p.timeout_ms = GIT_TIMEOUT;
	if (nsh_proc_run(&p, &err) || p.exit_code != 0 || p.timed_out) {
		if (!err.code) {
			struct nsh_str l;

			last_line(&p.err, &l);
			nsh_err_set(&err, NSH_EFAIL, "git cat-file failed: %.*s", (int)l.len, l.p);
		}
		warn(c->r, "", "cannot read manifests: %s", err.msg);
		goto out;
	}
	/* keep the output: manifests point into it */
	c->blobs = p.out;
	nsh_buf_init(&p.out, SIZE_MAX);
	q = c->blobs.buf;
	end = c->blobs.buf + c->blobs.len;
	if (next_object(&q, end, &oid, &data, &len, &missing) && !missing) {
		const char *sp = memchr(oid, ' ', (size_t)(end - oid));

		if (sp)
			c->r->commit = nsh_xmemdup(oid, (size_t)(sp - oid));
	}
	for (k = 0; k < c->nm; k++) {
		if (!next_object(&q, end, &oid, &data, &len, &missing))
			break;
		if (!missing) {
			c->m[k].data = data;
			c->m[k].len = len;
		}
	}
	if (k < c->nm)
		warn(c->r, "", "manifests larger than %zu MiB together; %zu not read",
		     CATFILE_MAX >> 20, c->nm - k);
out:
	nsh_buf_release(&in);
	nsh_proc_release(&p);
}

/* --- dependencies ------------------------------------------------------- */

static struct nsh_analyze_dep *new_dep(struct ctx *c, const char *eco, const char *manifest)
{
	struct nsh_analyze_dep *d;

	NSH_ALLOC_GROW(c->deps, c->r->ndeps + 1, c->adeps);
	c->r->deps = c->deps;
	d = &c->deps[c->r->ndeps++];
	memset(d, 0, sizeof(*d));
	d->ecosystem = eco;
	d->manifest = nsh_xstrdup(manifest);
	nsh_strvec_init(&d->versions);
	nsh_strvec_init(&d->via);
	return d;
}

static char *dup_or_null(const char *s)
{
	return s ? nsh_xstrdup(s) : NULL;
}

/* Does the dependency's version fall inside the requested range? */
static enum nsh_analyze_match match_of(const struct nsh_analyze *a, const char *resolved,
				       const char *declared)
{
	struct nsh_analyze_version v;
	struct nsh_analyze_range *r = NULL;
	enum nsh_analyze_match m = NSH_ANALYZE_MATCH_UNKNOWN;

	if (!a->range)
		return NSH_ANALYZE_MATCH_YES;
	if (resolved && nsh_analyze_version_parse(resolved, &v))
		return nsh_analyze_range_match(a->range, &v) ? NSH_ANALYZE_MATCH_YES
							     : NSH_ANALYZE_MATCH_NO;
	if (!declared)
		return m;
	if (nsh_analyze_version_parse(declared, &v))
		return nsh_analyze_range_match(a->range, &v) ? NSH_ANALYZE_MATCH_YES
							     : NSH_ANALYZE_MATCH_NO;
	/* no lockfile: the lowest version the declared range allows */
	if (!nsh_analyze_range_parse(declared, &r, NULL) && nsh_analyze_range_min(r, &v))
		m = nsh_analyze_range_match(a->range, &v) ? NSH_ANALYZE_MATCH_YES
							  : NSH_ANALYZE_MATCH_NO;
	nsh_analyze_range_free(r);
	return m;
}

/* The directory part of @path ("" at the top), caller frees. */
static char *dir_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? nsh_xmemdup(path, (size_t)(s - path)) : nsh_xstrdup("");
}

/* The lockfile for a package.json in @dir: there, else in the nearest parent. */
static struct manifest *lockfile_for(struct ctx *c, const char *dir, char **ret_prefix)
{
	char *d = nsh_xstrdup(dir);

	for (;;) {
		struct manifest *best = NULL;

		for (size_t i = 0; i < c->nm; i++) {
			char *md;

			if (c->m[i].type != M_PKG_LOCK || !c->m[i].data)
				continue;
			md = dir_of(c->m[i].e->path);
			/* npm-shrinkwrap.json wins over package-lock.json, as in npm */
			if (!strcmp(md, d) &&
			    (!best || !strcmp(base_name(c->m[i].e->path), "npm-shrinkwrap.json")))
				best = &c->m[i];
			free(md);
		}
		if (best) {
			size_t dl = strlen(d);

			*ret_prefix = nsh_xstrdup(dir[dl] == '/' ? dir + dl + 1 : dir + dl);
			free(d);
			return best;
		}
		if (!*d)
			break;
		{
			char *up = dir_of(d);

			free(d);
			d = up;
		}
	}
	free(d);
	return NULL;
}

static void add_drift(struct nsh_analyze_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_drift(struct nsh_analyze_result *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s && nsh_strvec_find(&r->drift, s) < 0)
		nsh_strvec_push(&r->drift, s);
	free(s);
}

static void join(struct nsh_buf *b, const struct nsh_strvec *sv, size_t max)
{
	for (size_t i = 0; i < sv->nr && i < max; i++)
		nsh_buf_addf(b, "%s%s", i ? ", " : "", sv->v[i]);
	if (sv->nr > max)
		nsh_buf_addf(b, " and %zu more", sv->nr - max);
}

/* Fill @d from the lockfile and note drift against its declaration. */
static void apply_lock(struct ctx *c, struct nsh_analyze_dep *d, const struct manifest *lm,
		       const struct nsh_analyze_lock *l)
{
	struct nsh_analyze_version v;
	const char *lf = lm->e->path;

	d->lockfile = nsh_xstrdup(lf);
	d->resolved = dup_or_null(l->top ? l->top : l->versions.nr ? l->versions.v[0] : NULL);
	for (size_t i = 0; i < l->versions.nr; i++)
		nsh_strvec_push(&d->versions, l->versions.v[i]);
	if (d->usage != NSH_ANALYZE_DIRECT)
		goto several;
	if (!l->versions.nr) {
		add_drift(c->r, "%s has no entry for '%s' that %s declares", lf, c->a->dep,
			  d->manifest);
		return;
	}
	if (d->resolved && d->declared && nsh_analyze_version_parse(d->resolved, &v) &&
	    nsh_analyze_satisfies(d->resolved, d->declared) == 0)
		add_drift(c->r, "%s resolves '%s' to %s, outside '%s' in %s", lf, c->a->dep,
			  d->resolved, d->declared, d->manifest);
	if (l->root_declared && d->declared && strcmp(l->root_declared, d->declared))
		add_drift(c->r, "%s records '%s' for '%s' where %s says '%s'", lf, l->root_declared,
			  c->a->dep, d->manifest, d->declared);
several:
	if (l->versions.nr > 1) {
		struct nsh_buf b = NSH_BUF_INIT;

		join(&b, &l->versions, 8);
		add_drift(c->r, "%s holds %zu versions of '%s': %s", lf, l->versions.nr, c->a->dep,
			  b.buf);
		nsh_buf_release(&b);
	}
}

static void take_warnings(struct ctx *c, const char *file, const struct nsh_analyze_decls *d)
{
	for (size_t i = 0; i < d->warnings.nr; i++)
		warn(c->r, file, "%s", d->warnings.v[i]);
	for (size_t i = 0; i < d->notes.nr; i++)
		nsh_strvec_pushf(&c->r->notes, "%s: %s", file, d->notes.v[i]);
}

static void npm_package(struct ctx *c, struct manifest *m)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;
	struct nsh_analyze_lock l = {0};
	struct manifest *lm = NULL;
	char *dir = NULL, *prefix = NULL;
	bool lock_ok = false;

	nsh_analyze_decls_init(&d);
	if (nsh_analyze_read_package_json(m->data, m->len, c->a->dep, &d, &err)) {
		warn(c->r, m->e->path, "%s", err.msg);
		goto out;
	}
	take_warnings(c, m->e->path, &d);
	if (!d.nr)
		goto out;
	/* the lockfile is read once for all the declarations of this package.json */
	dir = dir_of(m->e->path);
	lm = lockfile_for(c, dir, &prefix);
	if (lm) {
		lm->used = true;
		nsh_err_clear(&err);
		lock_ok = !nsh_analyze_read_package_lock(lm->data, lm->len, c->a->dep, prefix, &l,
							 &err);
		if (!lock_ok && !lm->warned)
			warn(c->r, lm->e->path, "%s", err.msg);
		lm->warned = lm->warned || !lock_ok;
	}
	for (size_t i = 0; i < d.nr; i++) {
		struct nsh_analyze_dep *dep = new_dep(c, "npm", m->e->path);

		dep->name = nsh_xstrdup(d.v[i].name);
		dep->kind = d.v[i].kind;
		dep->usage = NSH_ANALYZE_DIRECT;
		dep->declared = dup_or_null(d.v[i].declared);
		dep->line = d.v[i].line;
		if (lm && lock_ok)
			apply_lock(c, dep, lm, &l);
		else if (lm)
			dep->lockfile = nsh_xstrdup(lm->e->path);
		dep->match = match_of(c->a, dep->resolved, dep->declared);
	}
out:
	nsh_analyze_lock_release(&l);
	free(dir);
	free(prefix);
	nsh_analyze_decls_release(&d);
}

/* A lockfile no package.json claimed: is the dependency in it, and through what? */
static void npm_lock(struct ctx *c, struct manifest *m)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_lock l = {0};
	struct nsh_analyze_dep *d;

	if (m->used)
		return; /* read with its package.json */
	if (nsh_analyze_read_package_lock(m->data, m->len, c->a->dep, "", &l, &err)) {
		warn(c->r, m->e->path, "%s", err.msg);
		goto out;
	}
	if (!l.versions.nr)
		goto out;
	d = new_dep(c, "npm", m->e->path);
	d->name = nsh_xstrdup(c->a->dep);
	d->usage = NSH_ANALYZE_TRANSITIVE;
	for (size_t i = 0; i < l.via.nr; i++)
		nsh_strvec_push(&d->via, l.via.v[i]);
	apply_lock(c, d, m, &l);
	d->match = match_of(c->a, d->resolved, NULL);
out:
	nsh_analyze_lock_release(&l);
}

static void other_manifest(struct ctx *c, struct manifest *m)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;
	const char *eco = "pypi";
	int rc = 0;

	nsh_analyze_decls_init(&d);
	switch (m->type) {
	case M_REQS: {
		const char *b = base_name(m->e->path);
		bool dev = strstr(b, "dev") || strstr(b, "test");

		rc = nsh_analyze_read_requirements(m->data, m->len, c->a->dep, dev, &d, &err);
		break;
	}
	case M_PYPROJECT:
		rc = nsh_analyze_read_pyproject(m->data, m->len, c->a->dep, &d, &err);
		break;
	case M_GOMOD:
		eco = "go";
		rc = nsh_analyze_read_gomod(m->data, m->len, c->a->dep, &d, &err);
		break;
	case M_CARGO:
		eco = "cargo";
		rc = nsh_analyze_read_cargo(m->data, m->len, c->a->dep, &d, &err);
		break;
	case M_POM:
		eco = "maven";
		rc = nsh_analyze_read_pom(m->data, m->len, c->a->dep, &d, &err);
		break;
	case M_PKG_JSON:
	case M_PKG_LOCK:
	case M_REPO_YML:
		goto out;
	}
	if (rc) {
		warn(c->r, m->e->path, "%s", err.msg);
		goto out;
	}
	take_warnings(c, m->e->path, &d);
	for (size_t i = 0; i < d.nr; i++) {
		struct nsh_analyze_dep *dep = new_dep(c, eco, m->e->path);

		dep->name = nsh_xstrdup(d.v[i].name);
		dep->usage = d.v[i].indirect ? NSH_ANALYZE_TRANSITIVE : NSH_ANALYZE_DIRECT;
		dep->kind = d.v[i].indirect ? NULL : d.v[i].kind;
		dep->declared = dup_or_null(d.v[i].declared);
		dep->resolved = dup_or_null(d.v[i].resolved);
		dep->line = d.v[i].line;
		dep->match = match_of(c->a, dep->resolved, dep->declared);
	}
out:
	nsh_analyze_decls_release(&d);
}

static void repo_yml(struct ctx *c, const struct manifest *m)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *source = NULL;
	bool critical = false;

	if (nsh_analyze_read_repo_yml(m->data, m->len, &critical, &source, &err)) {
		warn(c->r, m->e->path, "%s", err.msg);
		return;
	}
	if (critical && !c->r->critical) {
		c->r->critical = true;
		c->r->critical_source = source;
		source = NULL;
	}
	free(source);
}

static void read_deps(struct ctx *c)
{
	for (size_t i = 0; i < c->nm; i++) {
		struct manifest *m = &c->m[i];

		if (!m->data)
			continue;
		if (m->type == M_PKG_JSON)
			npm_package(c, m);
		else if (m->type == M_REPO_YML)
			repo_yml(c, m);
		else if (m->type != M_PKG_LOCK)
			other_manifest(c, m);
	}
	for (size_t i = 0; i < c->nm; i++)
		if (c->m[i].type == M_PKG_LOCK && c->m[i].data)
			npm_lock(c, &c->m[i]);
}

/* --- API usages --------------------------------------------------------- */

/* A file whose grep lines were not enough. */
struct pending {
	char *path;
	struct nsh_analyze_js_hits hits; /* what its lines showed, kept if it cannot be read */
};

static void add_uses(struct ctx *c, const char *path, const struct nsh_analyze_js_hits *h)
{
	struct nsh_analyze_result *r = c->r;

	if (!h->nr)
		return;
	if (r->nuses + h->nr > MAX_USES) {
		if (r->nuses < MAX_USES)
			warn(r, "", "more than %d usages; the rest are not recorded", MAX_USES);
		return;
	}
	r->uses = nsh_xreallocarray(r->uses, r->nuses + h->nr, sizeof(*r->uses));
	for (size_t i = 0; i < h->nr; i++) {
		struct nsh_analyze_use *u = &r->uses[r->nuses++];
		const struct nsh_analyze_api *api = &c->a->apis[h->v[i].api];

		u->api = api->name;
		u->cls = api->cls;
		u->silent = api->silent;
		u->file = nsh_xstrdup(path);
		u->line = h->v[i].line;
		u->column = h->v[i].column;
		u->form = h->v[i].form;
		u->text = nsh_xstrdup(h->v[i].text);
	}
	r->files_with_uses++;
}

static const struct entry *find_entry(const struct ctx *c, const char *path)
{
	for (size_t i = 0; i < c->nentries; i++)
		if (!strcmp(c->entries[i].path, path))
			return &c->entries[i];
	return NULL;
}

/* 4: read the pending files whole and scan them again. */
static void scan_whole(struct ctx *c, const struct nsh_analyze_js *js, struct pending *pf,
		       size_t npf)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf in = NSH_BUF_INIT;
	struct nsh_proc p;
	const struct entry **ents = nsh_xcalloc(npf ? npf : 1, sizeof(*ents));
	const char *q, *end, *oid, *data;
	size_t len;
	bool missing, ok = false;

	for (size_t i = 0; i < npf; i++) {
		ents[i] = find_entry(c, pf[i].path);
		nsh_buf_addf(&in, "%s\n", ents[i] ? ents[i]->oid : "0");
	}
	nsh_git_init(&p, c->t->git_dir);
	nsh_strvec_pushl(&p.argv, "cat-file", "--batch", "--buffer", NULL);
	p.in = in.buf;
	p.in_len = in.len;
	p.out_max = SOURCES_MAX;
	p.timeout_ms = GIT_TIMEOUT;
	ok = !nsh_proc_run(&p, &err) && p.exit_code == 0 && !p.timed_out;
	q = p.out.buf;
	end = p.out.buf + p.out.len;
	for (size_t i = 0; i < npf; i++) {
		struct nsh_analyze_js_hits full = {0};

		if (!ok || !next_object(&q, end, &oid, &data, &len, &missing) || missing) {
			warn(c->r, pf[i].path,
			     "cannot read the file whole; usages from its matching lines only");
			add_uses(c, pf[i].path, &pf[i].hits);
			ok = false;
			continue;
		}
		if (len > NSH_ANALYZE_SOURCE_MAX) {
			warn(c->r, pf[i].path,
			     "larger than %zu KiB; usages from its matching lines only",
			     NSH_ANALYZE_SOURCE_MAX >> 10);
			add_uses(c, pf[i].path, &pf[i].hits);
			continue;
		}
		nsh_analyze_js_scan_text(js, data, len, &full);
		add_uses(c, pf[i].path, &full);
		nsh_analyze_js_hits_release(&full);
	}
	free(ents);
	nsh_buf_release(&in);
	nsh_proc_release(&p);
}

/* Scan the grep lines of one file; queue it when they are not enough. */
static void scan_file(struct ctx *c, const struct nsh_analyze_js *js, const char *path,
		      const struct nsh_analyze_js_line *lines, size_t n, struct pending **pf,
		      size_t *npf, size_t *apf)
{
	struct nsh_analyze_js_hits h = {0};
	bool need_full = false;

	if (!is_js_source(path))
		return;
	nsh_analyze_js_scan_lines(js, lines, n, &h, &need_full);
	if (need_full && *npf < MAX_FULL) {
		NSH_ALLOC_GROW(*pf, *npf + 1, *apf);
		(*pf)[*npf].path = nsh_xstrdup(path);
		(*pf)[*npf].hits = h;
		(*npf)++;
		return;
	}
	add_uses(c, path, &h);
	nsh_analyze_js_hits_release(&h);
}

/* 3: one git grep for every API name and the package name. */
static void find_uses(struct ctx *c)
{
	const struct nsh_analyze *a = c->a;
	struct nsh_analyze_js js = {a->dep, a->api_names, a->napis,
				    (const char *const *)a->globals.v, a->globals.nr};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_js_line *lines = NULL;
	struct pending *pf = NULL;
	size_t nlines = 0, alines = 0, npf = 0, apf = 0, rl;
	const char *q, *end, *cur = NULL;
	struct nsh_proc p;

	nsh_git_init(&p, c->t->git_dir);
	nsh_strvec_pushl(&p.argv, "grep", "-n", "-z", "-I", "-F", "--no-color", "--no-column",
			 "--threads=1", NULL);
	for (size_t i = 0; i < a->napis; i++)
		nsh_strvec_pushl(&p.argv, "-e", a->apis[i].name, NULL);
	nsh_strvec_pushl(&p.argv, "-e", a->dep, c->rev, "--", NULL);
	for (size_t i = 0; i < NJS_EXT; i++)
		nsh_strvec_pushf(&p.argv, "*%s", js_ext[i]);
	nsh_strvec_pushl(&p.argv, ":(exclude,glob)**/node_modules/**",
			 ":(exclude,glob)**/bower_components/**", ":(exclude,glob)**/vendor/**",
			 ":(exclude)*.min.js", ":(exclude)*.d.ts", NULL);
	p.out_max = GREP_MAX;
	p.timeout_ms = GIT_TIMEOUT;
	if (nsh_proc_run(&p, &err) || p.timed_out || (p.exit_code != 0 && p.exit_code != 1)) {
		struct nsh_str l;

		last_line(&p.err, &l);
		if (!err.code)
			nsh_err_set(&err, NSH_EFAIL, "%s", p.timed_out ? "timed out" : "failed");
		warn(c->r, "", "git grep: %s%s%.*s", err.msg, l.len ? ": " : "", (int)l.len, l.p);
		goto out;
	}
	if (p.out_truncated)
		warn(c->r, "", "git grep printed more than %zu MiB; usages past that are missing",
		     GREP_MAX >> 20);
	/* "REV:PATH\0LINE\0TEXT\n", files one after the other */
	rl = strlen(c->rev);
	q = p.out.buf;
	end = p.out.buf + p.out.len;
	while (q < end) {
		const char *path, *z1, *z2, *nl;
		long ln;
		char *num_end;

		if ((size_t)(end - q) <= rl + 1 || memcmp(q, c->rev, rl) || q[rl] != ':')
			break;
		path = q + rl + 1;
		z1 = memchr(path, '\0', (size_t)(end - path));
		if (!z1)
			break;
		z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1));
		if (!z2)
			break;
		nl = memchr(z2 + 1, '\n', (size_t)(end - z2 - 1));
		if (!nl)
			break; /* the last line was cut by the cap */
		ln = strtol(z1 + 1, &num_end, 10);
		if (num_end != z2 || ln <= 0 || ln > INT32_MAX)
			break;
		if (cur && strcmp(cur, path)) {
			scan_file(c, &js, cur, lines, nlines, &pf, &npf, &apf);
			nlines = 0;
		}
		cur = path;
		NSH_ALLOC_GROW(lines, nlines + 1, alines);
		lines[nlines].line = (int)ln;
		lines[nlines].p = z2 + 1;
		lines[nlines].len = (size_t)(nl - z2 - 1);
		nlines++;
		q = nl + 1;
	}
	if (cur)
		scan_file(c, &js, cur, lines, nlines, &pf, &npf, &apf);
	if (npf)
		scan_whole(c, &js, pf, npf);
out:
	for (size_t i = 0; i < npf; i++) {
		free(pf[i].path);
		nsh_analyze_js_hits_release(&pf[i].hits);
	}
	free(pf);
	free(lines);
	nsh_proc_release(&p);
}

static int cmp_use(const void *a, const void *b)
{
	const struct nsh_analyze_use *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

/* --- the verdict -------------------------------------------------------- */

static void conclude(struct ctx *c)
{
	struct nsh_analyze_result *r = c->r;
	bool any_yes = false, any_unknown = false;
	enum nsh_analyze_usage best_in = NSH_ANALYZE_UNUSED, best_all = NSH_ANALYZE_UNUSED;

	for (size_t i = 0; i < r->ndeps; i++) {
		const struct nsh_analyze_dep *d = &r->deps[i];

		if (d->usage > best_all)
			best_all = d->usage;
		if (d->match != NSH_ANALYZE_MATCH_NO && d->usage > best_in)
			best_in = d->usage;
		any_yes = any_yes || d->match == NSH_ANALYZE_MATCH_YES;
		any_unknown = any_unknown || d->match == NSH_ANALYZE_MATCH_UNKNOWN;
	}
	r->match = any_yes	 ? NSH_ANALYZE_MATCH_YES
		   : any_unknown ? NSH_ANALYZE_MATCH_UNKNOWN
				 : NSH_ANALYZE_MATCH_NO;
	r->usage = best_in != NSH_ANALYZE_UNUSED ? best_in : best_all;
	r->affected = best_in != NSH_ANALYZE_UNUSED;
	if (!r->ndeps) {
		r->match = NSH_ANALYZE_MATCH_NO;
		r->unaffected = c->unreadable && r->nwarnings
					? nsh_xstrdup(r->warnings[0].reason)
					: nsh_xasprintf("no '%s' in any manifest", c->a->dep);
	} else if (!r->affected) {
		const struct nsh_analyze_dep *d = nsh_analyze_primary(r);
		const char *v = d->resolved ? d->resolved : d->declared ? d->declared : "?";

		r->unaffected = nsh_xasprintf("'%s' %s is outside '%s'", c->a->dep, v,
					      c->a->range_text ? c->a->range_text : "*");
	}
	if (c->t->topics && !r->critical)
		for (size_t i = 0; c->t->topics[i]; i++)
			if (!strcasecmp(c->t->topics[i], "critical")) {
				r->critical = true;
				r->critical_source = nsh_xstrdup("topic 'critical'");
				break;
			}
	if (r->nuses)
		qsort(r->uses, r->nuses, sizeof(*r->uses), cmp_use);
	nsh_analyze_score(r);
}

int nsh_analyze_repo(const struct nsh_analyze *a, const struct nsh_analyze_target *t,
		     struct nsh_analyze_result **ret, struct nsh_err *err)
{
	struct ctx c = {.a = a, .t = t};
	struct nsh_analyze_result *r;

	if (!a || !t || !t->name || !*t->name || !t->git_dir || !*t->git_dir)
		return nsh_err_set(err, NSH_EINVAL,
				   "a repository needs a name and a git directory");
	r = nsh_xcalloc(1, sizeof(*r));
	c.r = r;
	r->repo = nsh_xstrdup(t->name);
	nsh_strvec_init(&r->drift);
	nsh_strvec_init(&r->notes);
	nsh_buf_init(&c.tree, TREE_MAX);
	nsh_buf_init(&c.blobs, SIZE_MAX);
	if (!list_tree(&c)) {
		c.unreadable = true;
		goto done;
	}
	classify(&c);
	read_manifests(&c);
	read_deps(&c);
	c.rev = r->commit ? r->commit : "HEAD";
	{
		bool used = false;

		for (size_t i = 0; i < r->ndeps; i++)
			used = used || r->deps[i].match != NSH_ANALYZE_MATCH_NO;
		if (used && a->napis && c.js_files)
			find_uses(&c);
	}
done:
	conclude(&c);
	free(c.entries);
	free(c.m);
	nsh_buf_release(&c.tree);
	nsh_buf_release(&c.blobs);
	*ret = r;
	return 0;
}
