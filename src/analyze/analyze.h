/*
 * Organisation analysis: which repositories use a dependency, directly or
 * through another package, at which version, where the code calls the APIs
 * that are about to change, and how risky the change is for each of them.
 *
 * A repository is read straight from its bare git directory (the default
 * branch, HEAD), never cloned, with three git processes: one "ls-tree" for
 * the file list, one "cat-file --batch" for every manifest at once, and
 * one "git grep" for all API names at once (plus one more "cat-file" only
 * for source files whose imports span lines or rename an API). Manifests
 * read: npm package.json, package-lock.json and npm-shrinkwrap.json
 * (lockfile versions 1, 2 and 3), Python requirements*.txt and
 * pyproject.toml, go.mod, Cargo.toml and Maven pom.xml. API usages are
 * looked for in JavaScript and TypeScript sources. docs/analyze.md
 * describes the rules and the risk formula for users.
 *
 * Nothing about one repository stops the analysis: a malformed manifest, a
 * missing commit or an unreadable directory become warnings (file and
 * reason) in that repository's result, and the rest is analysed.
 *
 * Thread rules: an analyser (struct nsh_analyze) is read-only once made and
 * may be used by several threads at once; each result belongs to the thread
 * that holds it.
 */
#ifndef NSH_ANALYZE_ANALYZE_H
#define NSH_ANALYZE_ANALYZE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "core/vec.h"

struct nsh_err;

/* Risk weights; docs/analyze.md shows the same formula. */
#define NSH_ANALYZE_W_SILENT	 3  /* per usage of an API whose change is silent */
#define NSH_ANALYZE_W_THROWS	 1  /* per usage of an API whose change throws */
#define NSH_ANALYZE_W_FILE	 2  /* per source file with usages */
#define NSH_ANALYZE_W_NO_TESTS	 10 /* the repository has no test files */
#define NSH_ANALYZE_W_DRIFT	 5  /* lockfile drift */
#define NSH_ANALYZE_W_TRANSITIVE 2  /* only reached through another package */

#define NSH_ANALYZE_MAX_APIS 1024 /* APIs per analyser */

/* One API to look for, with what its breaking change does. */
struct nsh_analyze_api {
	const char *name; /* a JavaScript identifier, e.g. "pluck" */
	const char *cls;  /* breaking-change class, e.g. "removed" (NULL: "silent" or "throws") */
	bool silent;	  /* the change alters behaviour without an error (weighs more) */
};

/* What to look for; everything is copied by nsh_analyze_new(). */
struct nsh_analyze_opts {
	const char *dependency; /* package name as its ecosystem spells it */
	const char *range;	/* npm-style range the versions must satisfy; NULL: any */
	const struct nsh_analyze_api *apis; /* APIs to count; may be NULL when napis is 0 */
	size_t napis;			    /* entries in apis */
	const char *const *globals; /* NULL-terminated identifiers bound to the package in every
				       file; NULL: the package name (when an identifier), and "_"
				       for lodash, lodash-es and underscore */
};

/* One repository to analyse. */
struct nsh_analyze_target {
	const char *name;	   /* repository name, e.g. "billing" */
	const char *git_dir;	   /* its bare git directory */
	const char *const *topics; /* NULL-terminated topics from the code host, or NULL */
};

enum nsh_analyze_usage {
	NSH_ANALYZE_UNUSED = 0,	    /* the dependency is not there */
	NSH_ANALYZE_TRANSITIVE = 1, /* only another package requires it */
	NSH_ANALYZE_DIRECT = 2,	    /* a manifest names it */
};

enum nsh_analyze_match {
	NSH_ANALYZE_MATCH_UNKNOWN = 0, /* no version that can be compared */
	NSH_ANALYZE_MATCH_YES = 1,     /* inside the requested range (or none was requested) */
	NSH_ANALYZE_MATCH_NO = 2,      /* outside the requested range */
};

/* How the code reaches an API. */
enum nsh_analyze_form {
	NSH_ANALYZE_FORM_MEMBER = 0,   /* _.pluck, lodash.pluck, alias.pluck, require('x').pluck */
	NSH_ANALYZE_FORM_CHAIN,	       /* _(x).pluck, _.chain(x).map(f).pluck on one line */
	NSH_ANALYZE_FORM_DESTRUCTURED, /* { pluck } from an import or a require of the package */
	NSH_ANALYZE_FORM_CALL,	       /* a call of a local name bound to the API by an import */
	NSH_ANALYZE_FORM_MODULE,       /* require('lodash/pluck'), import from 'lodash/pluck' */
	NSH_ANALYZE_FORM_CATEGORY,     /* require('lodash/array/chunk') */
	NSH_ANALYZE_FORM_PACKAGE,      /* require('lodash.pluck'): a per-method package */
	NSH_ANALYZE_FORM_COUNT_,
};

/* One place where the dependency is declared or resolved. */
struct nsh_analyze_dep {
	const char *ecosystem;	      /* "npm", "pypi", "go", "cargo", "maven" (static) */
	char *manifest;		      /* path of the manifest (the lockfile for transitive ones) */
	char *name;		      /* the name as written there */
	const char *kind;	      /* "dependencies", "dev", "peer", "optional", "build",
					 "managed" (static); NULL when transitive */
	enum nsh_analyze_usage usage; /* DIRECT or TRANSITIVE */
	char *declared;		      /* range or version as written; NULL when none */
	char *lockfile;		      /* lockfile that resolves it; NULL when none */
	char *resolved;		      /* version the lockfile (or an exact pin) gives; NULL */
	struct nsh_strvec versions;   /* every version of it the lockfile holds */
	struct nsh_strvec via;	      /* transitive: the packages that require it, sorted */
	enum nsh_analyze_match match; /* against the requested range */
	int line;		      /* line in the manifest; 0 when not known */
};

/* One usage of a named API in the source. */
struct nsh_analyze_use {
	const char *api;	    /* the API name (borrowed from the analyser) */
	const char *cls;	    /* its class (borrowed from the analyser) */
	bool silent;		    /* its class is silent */
	char *file;		    /* path in the repository */
	int line;		    /* 1-based */
	int column;		    /* 1-based byte column */
	enum nsh_analyze_form form; /* how it is reached */
	char *text;		    /* what matched, e.g. "_.pluck" or "lodash/array/chunk" */
};

/* A problem with one file (or the repository): never fatal. */
struct nsh_analyze_warning {
	char *file;   /* path in the repository; "" for the repository itself */
	char *reason; /* lower case, e.g. "invalid json at line 3 column 1: ..." */
};

/* One term of the risk score. */
struct nsh_analyze_reason {
	const char *term; /* "silent", "throws", "files", "no-tests", "drift", "transitive",
			     "critical", "none" (static) */
	int points;	  /* what it adds to the score */
	char *text;	  /* human-readable, with the numbers that produced it */
};

struct nsh_analyze_result {
	char *repo;		      /* repository name */
	char *commit;		      /* commit analysed; NULL when HEAD has none */
	enum nsh_analyze_usage usage; /* the strongest over deps */
	enum nsh_analyze_match match; /* YES if any dep matches, else UNKNOWN if any, else NO */
	bool affected;		      /* used and not outside the requested range */
	char *unaffected;	      /* why not affected; NULL when affected */
	struct nsh_analyze_dep *deps; /* where the dependency was found */
	size_t ndeps;		      /* entries in deps */
	struct nsh_analyze_use *uses; /* API usages, by file then line then column */
	size_t nuses;		      /* entries in uses */
	size_t files;		      /* files in the tree */
	size_t files_with_uses;	      /* files with at least one usage */
	size_t test_files;	      /* files that look like tests */
	bool has_tests;		      /* test_files > 0 */
	bool critical;		      /* marked critical */
	char *critical_source;	      /* where that mark comes from; NULL when not critical */
	struct nsh_strvec drift;      /* lockfile drift, one reason each; empty when none */
	struct nsh_analyze_warning *warnings; /* problems met */
	size_t nwarnings;		      /* entries in warnings */
	struct nsh_strvec notes;	      /* things not followed, e.g. "-r" includes */
	int risk;			      /* the score; see docs/analyze.md */
	struct nsh_analyze_reason *reasons;   /* the terms of the score, in formula order */
	size_t nreasons;		      /* entries in reasons */
};

/* An analyser: the options, checked and compiled. */
struct nsh_analyze;

/**
 * Check and copy @opts into a new analyser, freed with nsh_analyze_free().
 * NSH_EINVAL for an empty dependency name, a range that does not parse, an
 * API name that is not an identifier (or given twice), more than
 * NSH_ANALYZE_MAX_APIS APIs; the message names the value.
 */
int nsh_analyze_new(const struct nsh_analyze_opts *opts, struct nsh_analyze **ret,
		    struct nsh_err *err);

/** Free an analyser. NULL ok. Results made with it borrow its API names. */
void nsh_analyze_free(struct nsh_analyze *a);

/**
 * Analyse one repository and store a new result in *@ret (freed with
 * nsh_analyze_result_free()). Problems with the repository itself (not a
 * git directory, no commit, a malformed manifest, output past a cap) are
 * warnings in the result, and the call still returns 0; errors are only
 * for bad arguments (NSH_EINVAL). Runs git (see forge/git.h); blocks until
 * it is done.
 */
int nsh_analyze_repo(const struct nsh_analyze *a, const struct nsh_analyze_target *t,
		     struct nsh_analyze_result **ret, struct nsh_err *err);

/** Free a result. NULL ok. */
void nsh_analyze_result_free(struct nsh_analyze_result *r);

/**
 * Compute r->risk and r->reasons from the rest of @r (replacing earlier
 * ones). nsh_analyze_repo() calls it; a caller that changes a result (say,
 * marks it critical) calls it again.
 */
void nsh_analyze_score(struct nsh_analyze_result *r);

/**
 * The dependency entry that best describes @r: the first direct one inside
 * the range, else the first transitive one inside it, else the first one.
 * NULL when there are none. Borrowed from @r.
 */
const struct nsh_analyze_dep *nsh_analyze_primary(const struct nsh_analyze_result *r);

/** Usages of API @api in @r. */
size_t nsh_analyze_count(const struct nsh_analyze_result *r, const char *api);

/* The order in which to change the affected repositories. */
struct nsh_analyze_plan {
	const struct nsh_analyze_result **order;      /* affected: low risk first, critical last */
	size_t nr;				      /* entries in order */
	const struct nsh_analyze_result **unaffected; /* the rest, by name */
	size_t nunaffected;			      /* entries in unaffected */
	size_t direct;				      /* affected and used directly */
	size_t transitive;			      /* affected and only used transitively */
};

/**
 * Order @nr results (borrowed; they must outlive the plan): unaffected ones
 * apart, then non-critical before critical, lower risk first, and the
 * repository name for ties, so that the same results always give the same
 * plan. Release with nsh_analyze_plan_release().
 */
void nsh_analyze_plan_make(const struct nsh_analyze_result *const *v, size_t nr,
			   struct nsh_analyze_plan *out);

/** Free the arrays of @p (not the results). NULL ok. */
void nsh_analyze_plan_release(struct nsh_analyze_plan *p);

/** A new JSON object with everything in @r; the caller owns the reference. */
json_t *nsh_analyze_result_json(const struct nsh_analyze_result *r);

/**
 * A new JSON object for a whole plan: "dependency", "range", "summary"
 * (repositories, direct, transitive, unaffected), "plan" (results in order,
 * each with its "position") and "unaffected" (results).
 */
json_t *nsh_analyze_plan_json(const struct nsh_analyze *a, const struct nsh_analyze_plan *p);

/** The dependency name and range (NULL: any) of @a; borrowed. */
const char *nsh_analyze_dependency(const struct nsh_analyze *a);
const char *nsh_analyze_range_text(const struct nsh_analyze *a);

/** Stable lower-case names for JSON and text output. */
const char *nsh_analyze_usage_name(enum nsh_analyze_usage u);
const char *nsh_analyze_match_name(enum nsh_analyze_match m);
const char *nsh_analyze_form_name(enum nsh_analyze_form f);

/*
 * npm semver: versions and ranges.
 *
 * A version is MAJOR.MINOR.PATCH with an optional "-prerelease" and
 * "+build" (ignored), and an optional leading "v" or "=". Ranges follow
 * npm: "||" alternatives of space-separated comparators, each one of
 * <, <=, >, >=, = or none, ^ and ~ with partial versions (1, 1.2, 1.x,
 * 1.2.*, *, x, ""), and hyphen ranges "1.2 - 2.3.4". Prerelease versions
 * are ordered as semver says (1.0.0-alpha < 1.0.0), but npm's rule that
 * hides prereleases from ranges that do not name one is not applied.
 */
struct nsh_analyze_version {
	uint64_t major, minor, patch; /* numeric parts */
	struct nsh_str pre;	      /* prerelease identifiers, borrowed from the parsed text */
};

struct nsh_analyze_range;

/** Parse a version; false when @s is not one. @ret->pre borrows from @s. */
bool nsh_analyze_version_parse(const char *s, struct nsh_analyze_version *ret);

/** <0, 0 or >0 as @a sorts before, equal to or after @b (build ignored). */
int nsh_analyze_version_cmp(const struct nsh_analyze_version *a,
			    const struct nsh_analyze_version *b);

/**
 * Parse the range @text (at most 1024 bytes) into a new range freed with
 * nsh_analyze_range_free(). NSH_EINVAL naming the range when it does not
 * parse.
 */
int nsh_analyze_range_parse(const char *text, struct nsh_analyze_range **ret, struct nsh_err *err);
void nsh_analyze_range_free(struct nsh_analyze_range *r);

/** True when @v satisfies @r. */
bool nsh_analyze_range_match(const struct nsh_analyze_range *r,
			     const struct nsh_analyze_version *v);

/**
 * The lowest version that satisfies @r, in *@ret (its pre borrowed from
 * @r); false when nothing does.
 */
bool nsh_analyze_range_min(const struct nsh_analyze_range *r, struct nsh_analyze_version *ret);

/**
 * Does version @version satisfy @range? 1 yes, 0 no, -1 when either does not
 * parse.
 */
int nsh_analyze_satisfies(const char *version, const char *range);

#endif
