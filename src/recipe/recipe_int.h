/*
 * Internals shared by the files of src/recipe/: semantic versions and
 * ranges, package.json edits, globs and result helpers. No other module
 * includes this header.
 */
#ifndef NSH_RECIPE_RECIPE_INT_H
#define NSH_RECIPE_RECIPE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct nsh_err;
struct nsh_recipe;
struct nsh_recipe_result;

/* A version: major.minor.patch, a prerelease sorting before the release. */
struct nsh_semver {
	long major, minor, patch;
	char pre[64]; /* prerelease identifiers, "" for a release */
};

/** Parse a full version "1.2.3", "v1.2.3-rc.1+build". */
bool nsh_semver_parse(const char *s, struct nsh_semver *ret);

/** Compare two versions: <0, 0, >0. */
int nsh_semver_cmp(const struct nsh_semver *a, const struct nsh_semver *b);

/** Is @range a range we understand (npm syntax: ^ ~ x-ranges, comparators, hyphens, ||)? */
bool nsh_semver_range_valid(const char *range);

/** Does @v satisfy @range? False for a range that does not parse. */
bool nsh_semver_satisfies(const struct nsh_semver *v, const char *range);

/**
 * The lowest version @range admits (its lowest lower bound over the '||'
 * alternatives). False when the range does not parse or has no lower bound
 * worth the name ("*", "x", "" or only '<' comparators).
 */
bool nsh_semver_range_min(const char *range, struct nsh_semver *ret);

/**
 * The new range for a bump to @to when the dependency's range was @old:
 * @to as is when it starts with an operator, else @to with the prefix of
 * @old kept ("^", "~", "=", or none for an exact version; "^" for
 * anything else). Caller frees.
 */
char *nsh_semver_bump(const char *old, const char *to);

/**
 * Edit @dir/package.json as the manifest operations of @r say, recording
 * each edit in @res; with @dry_run nothing is written but the new contents
 * are in @res->files all the same. With @scratch the file is replaced
 * without an fsync. Files are reached through core/below.h.
 */
int nsh_recipe_manifest_apply(const struct nsh_recipe *r, const char *dir, bool dry_run,
			      bool scratch, struct nsh_recipe_result *res, struct nsh_err *err);

/** Does @path (relative, '/'-separated) match glob @pat (see docs/recipes.md)? */
bool nsh_recipe_glob(const char *pat, const char *path);

/** Append a warning to @res (strings copied; @rule borrowed). */
void nsh_recipe_result_warn(struct nsh_recipe_result *res, const char *file, const char *rule,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** Append a changed file to @res (contents copied). */
void nsh_recipe_result_file(struct nsh_recipe_result *res, const char *path, const char *before,
			    size_t before_len, const char *after, size_t after_len,
			    unsigned changes);

#endif
