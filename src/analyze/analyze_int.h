/*
 * Internals shared by the files of the analyze module: the manifest
 * readers, the TOML subset reader, the .nightshift/repo.yml reader and the
 * JavaScript usage scanner. No other module includes this header; the unit
 * tests and fuzz targets do.
 *
 * Every reader takes untrusted bytes (they come from repositories), never
 * assumes NUL termination, and fails with NSH_EINVAL and a lower-case
 * reason ("line 3: expected '=' after a key") that the caller prefixes with
 * the file name. Thread rules: no shared state; results belong to the
 * caller.
 */
#ifndef NSH_ANALYZE_ANALYZE_INT_H
#define NSH_ANALYZE_ANALYZE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "analyze/analyze.h"
#include "core/vec.h"

struct nsh_err;

#define NSH_ANALYZE_MANIFEST_MAX ((size_t)4 << 20)  /* package.json, toml, txt, go.mod, pom */
#define NSH_ANALYZE_LOCK_MAX	 ((size_t)64 << 20) /* package-lock.json */
#define NSH_ANALYZE_YML_MAX	 ((size_t)64 << 10) /* .nightshift/repo.yml */
#define NSH_ANALYZE_SOURCE_MAX	 ((size_t)1 << 20)  /* one source file read whole */

/* The analyser: options checked and copied by nsh_analyze_new(). */
struct nsh_analyze {
	char *dep;			 /* dependency name */
	char *range_text;		 /* requested range as given; NULL: any */
	struct nsh_analyze_range *range; /* compiled; NULL: any */
	struct nsh_analyze_api *apis;	 /* names and classes owned */
	size_t napis;			 /* entries in apis */
	const char **api_names;		 /* apis[i].name, for the scanner */
	struct nsh_strvec globals;	 /* identifiers bound to the package everywhere */
};

/* --- manifests ---------------------------------------------------------- */

/* One declaration of the dependency in one manifest. */
struct nsh_analyze_decl {
	char *name;	  /* as written */
	const char *kind; /* "dependencies", "dev", "peer", "optional", "build", "managed" */
	char *declared;	  /* range or version as written (NULL: none) */
	char *resolved;	  /* exact version when the manifest pins one (NULL: none) */
	bool indirect;	  /* go.mod "// indirect": only needed by other modules */
	int line;	  /* 1-based line in the manifest; 0 when not known */
};

/* What one reader found; released with nsh_analyze_decls_release(). */
struct nsh_analyze_decls {
	struct nsh_analyze_decl *v; /* declarations, in file order */
	size_t nr, alloc;
	struct nsh_strvec warnings; /* problems that did not stop the reader ("line 4: ...") */
	struct nsh_strvec notes;    /* things seen but not followed ("-r base.txt") */
};

void nsh_analyze_decls_init(struct nsh_analyze_decls *d);
void nsh_analyze_decls_release(struct nsh_analyze_decls *d);
/** Append a declaration; the strings are copied (NULL stays NULL). */
void nsh_analyze_decls_add(struct nsh_analyze_decls *d, const char *name, const char *kind,
			   const char *declared, const char *resolved, int line);

/*
 * The readers: find @dep in the @len bytes at @text and append what they
 * find to @out. A file that cannot be read at all fails with NSH_EINVAL
 * (or NSH_ETOOBIG past the size cap) and a reason; @out may then hold
 * part of the result.
 */
/** npm package.json: dependencies, devDependencies, peerDependencies, optionalDependencies. */
int nsh_analyze_read_package_json(const char *text, size_t len, const char *dep,
				  struct nsh_analyze_decls *out, struct nsh_err *err);
/** requirements*.txt: PEP 508 lines; "-r"/"-c" includes become notes. */
int nsh_analyze_read_requirements(const char *text, size_t len, const char *dep, bool dev,
				  struct nsh_analyze_decls *out, struct nsh_err *err);
/** pyproject.toml: [project], optional-dependencies, dependency-groups, poetry, build-system. */
int nsh_analyze_read_pyproject(const char *text, size_t len, const char *dep,
			       struct nsh_analyze_decls *out, struct nsh_err *err);
/** go.mod: require lines and blocks; "// indirect" marks transitive ones. */
int nsh_analyze_read_gomod(const char *text, size_t len, const char *dep,
			   struct nsh_analyze_decls *out, struct nsh_err *err);
/** Cargo.toml: [dependencies], dev-, build-, target.*, workspace. */
int nsh_analyze_read_cargo(const char *text, size_t len, const char *dep,
			   struct nsh_analyze_decls *out, struct nsh_err *err);
/** Maven pom.xml: dependencies, dependencyManagement, profiles, plugin dependencies. */
int nsh_analyze_read_pom(const char *text, size_t len, const char *dep,
			 struct nsh_analyze_decls *out, struct nsh_err *err);

/** PEP 503 normalisation: lower case, runs of "-_." become one "-". Caller frees. */
char *nsh_analyze_pep503(const char *name, size_t len);

/* What an npm lockfile says about the dependency. */
struct nsh_analyze_lock {
	int version;		    /* lockfileVersion: 1, 2 or 3 */
	char *top;		    /* version the package at @prefix gets; NULL when absent */
	char *root_declared;	    /* range the lockfile records for the package (v2, v3) */
	const char *root_kind;	    /* the section root_declared came from */
	struct nsh_strvec versions; /* distinct versions anywhere in the tree, sorted */
	struct nsh_strvec via;	    /* packages whose dependencies name it, sorted, unique */
};

void nsh_analyze_lock_release(struct nsh_analyze_lock *l);

/**
 * package-lock.json or npm-shrinkwrap.json, versions 1, 2 and 3. @prefix is
 * the directory of the package.json it belongs to, relative to the
 * lockfile's directory ("" for the same directory): the workspace whose
 * copy "top" and "root_declared" describe.
 */
int nsh_analyze_read_package_lock(const char *text, size_t len, const char *dep, const char *prefix,
				  struct nsh_analyze_lock *out, struct nsh_err *err);

/**
 * .nightshift/repo.yml: "critical: true" or a "topics" list holding
 * "critical". *@ret_critical is set; *@ret_source gets what marked it (the
 * caller frees it; NULL when not critical). NSH_EINVAL for YAML that does
 * not parse or values of the wrong type.
 */
int nsh_analyze_read_repo_yml(const char *text, size_t len, bool *ret_critical, char **ret_source,
			      struct nsh_err *err);

/* --- the TOML subset ---------------------------------------------------- */

enum nsh_analyze_toml_type {
	NSH_ANALYZE_TOML_STRING, /* str holds the decoded string */
	NSH_ANALYZE_TOML_SCALAR, /* integer, float, boolean or date: str holds the text */
	NSH_ANALYZE_TOML_ARRAY,	 /* kids are the elements (key NULL) */
	NSH_ANALYZE_TOML_TABLE,	 /* kids are the entries (key set) */
};

struct nsh_analyze_toml {
	enum nsh_analyze_toml_type type;
	char *key;			/* within the parent table; NULL in arrays and the root */
	char *str;			/* STRING and SCALAR */
	struct nsh_analyze_toml **kids; /* ARRAY and TABLE */
	size_t nr, alloc;
	int line;	/* where it was defined */
	unsigned flags; /* parser bookkeeping */
};

/**
 * Parse the TOML subset that manifests use: [table] and [[array.of.tables]]
 * headers, bare, quoted and dotted keys, basic and literal strings (also
 * multi-line), arrays (also multi-line, with comments and a trailing
 * comma), inline tables, and integers, floats, booleans and dates kept as
 * text. Strict: a duplicate key, a table defined twice, anything outside
 * the subset or nesting deeper than 64 is NSH_EINVAL with the line. Text
 * over NSH_ANALYZE_MANIFEST_MAX is NSH_ETOOBIG. *@ret is the root table,
 * freed with nsh_analyze_toml_free().
 */
int nsh_analyze_toml_parse(const char *text, size_t len, struct nsh_analyze_toml **ret,
			   struct nsh_err *err);
void nsh_analyze_toml_free(struct nsh_analyze_toml *t);
/** The entry @key of table @t; NULL when missing or @t is not a table. */
const struct nsh_analyze_toml *nsh_analyze_toml_get(const struct nsh_analyze_toml *t,
						    const char *key);
/** Follow a NULL-terminated list of keys from @t. */
const struct nsh_analyze_toml *nsh_analyze_toml_path(const struct nsh_analyze_toml *t, ...)
	__attribute__((sentinel));

/* --- JavaScript usages -------------------------------------------------- */

/* What to look for in one scan. */
struct nsh_analyze_js {
	const char *dep;	    /* package name */
	const char *const *apis;    /* API names */
	size_t napis;		    /* entries in apis */
	const char *const *globals; /* identifiers bound to the package everywhere */
	size_t nglobals;	    /* entries in globals */
};

/* One line of a file, as git grep printed it. */
struct nsh_analyze_js_line {
	int line;      /* 1-based line number */
	const char *p; /* its text (no newline), borrowed */
	size_t len;    /* bytes at p */
};

struct nsh_analyze_js_hit {
	size_t api;		    /* index into apis */
	int line;		    /* 1-based */
	int column;		    /* 1-based byte column */
	enum nsh_analyze_form form; /* how it is reached */
	char *text;		    /* what matched (owned) */
};

struct nsh_analyze_js_hits {
	struct nsh_analyze_js_hit *v; /* by line, then column */
	size_t nr, alloc;
};

void nsh_analyze_js_hits_release(struct nsh_analyze_js_hits *h);

/**
 * Scan some lines of one file (those git grep matched) and append the
 * usages to @out. Sets *@need_full when the lines cannot tell the whole
 * story (an import spans lines, or binds an API to another local name) and
 * the file must be scanned whole with nsh_analyze_js_scan_text() instead;
 * @out then holds what the lines showed.
 */
void nsh_analyze_js_scan_lines(const struct nsh_analyze_js *js,
			       const struct nsh_analyze_js_line *lines, size_t n,
			       struct nsh_analyze_js_hits *out, bool *need_full);

/** Scan a whole file of @len bytes and append the usages to @out. */
void nsh_analyze_js_scan_text(const struct nsh_analyze_js *js, const char *text, size_t len,
			      struct nsh_analyze_js_hits *out);

#endif
