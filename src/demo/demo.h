/*
 * The demo organisation: fifteen small Node services of the org "demo-org",
 * each a git repository with a history, a package.json on lodash 3, a
 * node:test suite and a varied use of the lodash 3 APIs that changed in
 * lodash 4. It is the input of the flagship demo ("upgrade lodash across
 * 15 services, one PR per service"); docs/demo.md says what each service
 * exercises.
 *
 * Generation is deterministic (fixed author, dates and contents, so the
 * same commit ids on every run) and needs no network: every file is
 * written from the tables in this module, every git command goes through
 * forge/git.h.
 *
 * Thread rules: the catalogue is read-only and may be read from any
 * thread; one nsh_demo_generate() call belongs to one thread, and two
 * calls must not write into the same directory.
 */
#ifndef NSH_DEMO_DEMO_H
#define NSH_DEMO_DEMO_H

#include <stdbool.h>
#include <stddef.h>

struct nsh_err;

#define NSH_DEMO_ORG	     "demo-org" /* the organisation the services belong to */
#define NSH_DEMO_SERVICES    15		/* services in the full set */
#define NSH_DEMO_COMMITS_MAX 6		/* commits in one service's history, at most */
#define NSH_DEMO_OID_MAX     64		/* hex digits of a commit id (SHA-256 at most) */

/* What the lodash 4 rewrite rules are expected to reach for a service. */
enum nsh_demo_outcome {
	NSH_DEMO_FIXED,	      /* the mechanical rules make the tests pass on lodash 4 */
	NSH_DEMO_ALTERNATIVE, /* the first rewrite fails a test; an alternative passes */
	NSH_DEMO_HUMAN,	      /* no mechanical rewrite passes: needs human review */
	NSH_DEMO_UNCHANGED,   /* nothing it uses changed: the version bump alone passes */
};

/* One service of the catalogue. */
struct nsh_demo_service {
	const char *name;	       /* repository and package name, e.g. "billing" */
	const char *version;	       /* package.json version */
	const char *summary;	       /* one line: what the service does */
	const char *owner;	       /* team in .nightshift/repo.yml; NULL: no such file */
	const char *lodash_range;      /* lodash range in package.json (of the vendored utils
					  package when transitive) */
	int lockfile_version;	       /* lockfileVersion of package-lock.json: 1, 2 or 3 */
	bool lockfile_drift;	       /* the lock resolves lodash 3.9.3, outside the range */
	bool critical;		       /* critical: true in .nightshift/repo.yml */
	bool transitive;	       /* lodash only through the vendored @demo-org/utils */
	const char *usage;	       /* "heavy", "medium" or "light" use of lodash */
	const char *apis;	       /* the lodash 3 APIs it exercises, for people */
	enum nsh_demo_outcome outcome; /* expected result of the rewrite rules */
	const char *note;	       /* the trap or the reason for the outcome; NULL: none */
	const char *commits[NSH_DEMO_COMMITS_MAX + 1]; /* messages, oldest first, NULL-ended;
							  the last one extends README.md */
};

/* What nsh_demo_generate() made of one service. */
struct nsh_demo_repo {
	const struct nsh_demo_service *svc; /* the catalogue entry (static) */
	char head[NSH_DEMO_OID_MAX + 1];    /* commit id of main */
	size_t commits;			    /* commits on main */
	size_t lodash_refs;		    /* "_." calls and lodash requires in .js files */
	size_t lodash_files;		    /* .js files with at least one of them */
};

/** Number of services in the catalogue (NSH_DEMO_SERVICES). */
size_t nsh_demo_count(void);

/** Service @i (0-based, < nsh_demo_count()) of the catalogue; static storage. */
const struct nsh_demo_service *nsh_demo_get(size_t i);

/** A short stable name for @o: "fixed", "alternative", "human" or "unchanged". */
const char *nsh_demo_outcome_name(enum nsh_demo_outcome o);

/**
 * Write the first @n services of the catalogue (1 <= @n <= NSH_DEMO_SERVICES;
 * for @n >= 5 the set still holds a critical, a transitive, a heavy, a light
 * and the not mechanically fixable service) as git repositories
 * @dir/<service>, each on branch main with its history. @dir may exist
 * but must be empty; it is created (with its parents) when missing.
 *
 * @ret (may be NULL) receives @n entries, in catalogue order.
 *
 * Errors: NSH_EINVAL for @n out of range; NSH_EEXIST when @dir is not an
 * empty directory; otherwise the file-system and git errors, naming the
 * service. On failure every repository made by this call is removed (and
 * @dir too when this call created it).
 */
int nsh_demo_generate(const char *dir, size_t n, struct nsh_demo_repo *ret, struct nsh_err *err);

#endif
