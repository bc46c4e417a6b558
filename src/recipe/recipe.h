/*
 * The recipe engine: deterministic, offline code changes. A recipe (a YAML
 * file, format in docs/recipes.md) names the repositories it applies to (a
 * dependency and a version range), manifest edits, ordered structural
 * rewrite rules, choices between alternative rule sets, post steps and the
 * text of the pull request. nsh_recipe_apply() runs one on a directory and
 * reports every change and every case it could only detect.
 *
 * Recipes are found in the shipped directory and in $NIGHTSHIFT_HOME/recipes
 * (see nsh_recipe_dirs()); a recipe in the home replaces a shipped one with
 * the same id.
 *
 * Thread rules: a loaded recipe is read-only and may be shared between
 * threads; a result belongs to one thread. Results borrow strings (rule ids,
 * notes) from their recipe and must not outlive it.
 */
#ifndef NSH_RECIPE_RECIPE_H
#define NSH_RECIPE_RECIPE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/vec.h"
#include "recipe/match.h"

struct nsh_buf;
struct nsh_err;

#define NSH_RECIPE_FILE_MAX	(1u << 20)  /* largest recipe file */
#define NSH_RECIPE_RULES_MAX	2000	    /* rules in one recipe */
#define NSH_RECIPE_SOURCE_MAX	(8u << 20)  /* larger source files are skipped (a warning) */
#define NSH_RECIPE_WALK_MAX	200000	    /* files visited in one directory tree */
#define NSH_RECIPE_MANIFEST_MAX (4u << 20)  /* largest package.json */
#define NSH_RECIPE_LOCKFILE_MAX (64u << 20) /* largest package-lock.json read */

/* Languages a rule can name. */
enum nsh_recipe_lang {
	NSH_RECIPE_LANG_JAVASCRIPT, /* .js .jsx .mjs .cjs */
	NSH_RECIPE_LANG_TYPESCRIPT, /* .ts .tsx .mts .cts */
	NSH_RECIPE_LANG_PYTHON,	    /* .py .pyi */
	NSH_RECIPE_LANG_GO,	    /* .go */
	NSH_RECIPE_LANG_JAVA,	    /* .java */
	NSH_RECIPE_LANG_C,	    /* .c .h */
	NSH_RECIPE_LANG_CPP,	    /* .cc .cpp .cxx .hpp .hh .hxx */
	NSH_RECIPE_LANG_CSHARP,	    /* .cs */
	NSH_RECIPE_LANG_TEXT,	    /* no extensions: files chosen by globs */
	NSH_RECIPE_LANG_COUNT,
};

/** The name of @lang ("javascript", ...). */
const char *nsh_recipe_lang_name(enum nsh_recipe_lang lang);
/** The lexer family of @lang. */
enum nsh_recipe_family nsh_recipe_lang_family(enum nsh_recipe_lang lang);
/** The language whose extensions include @path's, or -1. */
int nsh_recipe_lang_of_path(const char *path);

/* Constraints on one hole of a rule (all given ones must hold). */
struct nsh_recipe_where {
	char *hole;		      /* hole name */
	struct nsh_strvec equals;     /* the text is one of these (none: no check) */
	struct nsh_strvec not_equals; /* the text is none of these */
	char *regex;		      /* POSIX extended regex matching the whole text, or NULL */
	char *not_regex;	      /* must not match the whole text, or NULL */
	unsigned is;		      /* NSH_RECIPE_IS_* bits, one must hold (0: no check) */
	unsigned is_not;	      /* NSH_RECIPE_IS_* bits, none may hold */
	unsigned line, column;	      /* where it was written */
};

struct nsh_recipe_rule {
	char *id;			/* unique in the recipe */
	unsigned langs;			/* bit 1 << enum nsh_recipe_lang per language */
	struct nsh_strvec files;	/* globs selecting files (none: by language) */
	struct nsh_strvec exclude;	/* globs of files to leave alone */
	enum nsh_recipe_in in;		/* where the template is matched */
	char *match;			/* match template */
	char *rewrite;			/* rewrite template, NULL: detect only */
	struct nsh_recipe_where *where; /* hole constraints (recipe-wide ones merged in) */
	size_t nwhere;
	char *klass;   /* breaking-change class, or NULL */
	bool silent;   /* the breaking change fails silently (no error) */
	bool review;   /* list matches as needs-review even when rewritten */
	bool enabled;  /* on unless a choice says otherwise */
	char *note;    /* for the PR body and needs-review items, or NULL */
	unsigned line; /* where the rule starts in the file */
	struct nsh_recipe_pattern *pat[NSH_RECIPE_FAM_COUNT]; /* per family in use, else NULL */
};

struct nsh_recipe_alt {
	char *id;		    /* alternative id, unique in its choice */
	char *description;	    /* what taking it means */
	char *assumption;	    /* what the change then assumes (for the PR body), or NULL */
	struct nsh_strvec keywords; /* words that name it in feedback */
	struct nsh_strvec enable;   /* rules that run only when this alternative is taken */
	struct nsh_strvec disable;  /* rules that do not run when it is taken */
};

struct nsh_recipe_choice {
	char *id;		     /* choice id */
	char *description;	     /* the decision */
	char *def;		     /* id of the default alternative */
	struct nsh_recipe_alt *alts; /* alternatives, at least two */
	size_t nalts;
};

enum nsh_recipe_op {
	NSH_RECIPE_OP_BUMP,   /* set a dependency's version range */
	NSH_RECIPE_OP_RENAME, /* rename a dependency (optionally a new range) */
	NSH_RECIPE_OP_ADD,    /* add a dependency when absent */
	NSH_RECIPE_OP_REMOVE, /* remove a dependency */
};

struct nsh_recipe_mop {
	enum nsh_recipe_op op;
	char *package; /* the dependency acted on */
	char *to;      /* BUMP: version or range; RENAME: new name */
	char *version; /* RENAME, ADD: version or range (RENAME: NULL keeps it) */
	char *section; /* ADD: section (default "dependencies") */
};

struct nsh_recipe_post {
	char *id;	       /* step id */
	char *description;     /* what it does */
	struct nsh_strvec run; /* argv run in the repository */
	char *when;	       /* run only when this file exists in the repository, or NULL */
	unsigned timeout_s;    /* time limit, seconds */
};

/*
 * A hole whose value is a name bound to a module in each file: the module
 * itself (X = require('m'), import X from 'm'), or with @named its members
 * imported under their own names (const { a } = require('m'), import { a }
 * from 'm').
 */
struct nsh_recipe_bind {
	char *hole;		   /* hole name */
	struct nsh_strvec modules; /* module names: require('m'), import ... from 'm' */
	struct nsh_strvec names;   /* names used when a file imports none of them */
	bool named;		   /* members imported by name, not the module */
};

struct nsh_recipe {
	char *id;		     /* equals the file name without .yml/.yaml */
	char *title;		     /* one line */
	char *description;	     /* free text, may be NULL */
	char *path;		     /* the file it was loaded from */
	char *origin;		     /* "shipped", "home" or "file" */
	bool has_applies;	     /* applies: given */
	char *ecosystem;	     /* "npm" */
	char *dependency;	     /* applies.dependency */
	char *range;		     /* applies.range (semver range) */
	struct nsh_recipe_mop *mops; /* manifest edits, in order */
	size_t nmops;
	struct nsh_recipe_rule *rules; /* rules, in order */
	size_t nrules;
	struct nsh_recipe_choice *choices;
	size_t nchoices;
	struct nsh_recipe_post *post;
	size_t npost;
	struct nsh_recipe_bind *binds;
	size_t nbinds;
	struct nsh_strvec exclude; /* globs no rule touches */
	char *pr_title;		   /* may be NULL */
	char *pr_body;		   /* may be NULL */
};

/**
 * Parse @len bytes of YAML @text as a recipe. @name is used in error
 * messages ("name:line:column: ...") and, when @expect_id is not NULL, the
 * recipe's id must equal @expect_id. Strict: unknown keys, duplicate keys,
 * wrong types, anchors and aliases, bad templates and references to
 * unknown rules are NSH_EINVAL naming the line and column. Text over
 * NSH_RECIPE_FILE_MAX is NSH_ETOOBIG. Free with nsh_recipe_free().
 */
int nsh_recipe_parse(const char *text, size_t len, const char *name, const char *expect_id,
		     struct nsh_recipe **ret, struct nsh_err *err);

/**
 * Read and parse the recipe file @path; its id must equal the file name
 * without ".yml" or ".yaml". @origin ("shipped", "home", "file") is copied
 * into the recipe.
 */
int nsh_recipe_load(const char *path, const char *origin, struct nsh_recipe **ret,
		    struct nsh_err *err);

/** Free a recipe. NULL ok. */
void nsh_recipe_free(struct nsh_recipe *r);

/** The rule with id @id, or NULL. */
const struct nsh_recipe_rule *nsh_recipe_rule_find(const struct nsh_recipe *r, const char *id);

/**
 * The recipe directories, lowest precedence first, appended to @out as
 * (origin, dir) pairs: the shipped directory ($NIGHTSHIFT_RECIPES when set,
 * else "recipes" beside the executable, one or two levels up from it, or
 * "../share/nightshift/recipes" from it; the first that exists), then
 * "@home/recipes" when @home is not NULL. Directories that do not exist are
 * left out.
 */
void nsh_recipe_dirs(const char *home, struct nsh_strvec *out);

/* One entry of a catalog: a loaded recipe or the error of a broken file. */
struct nsh_recipe_entry {
	char *id;		   /* from the file name */
	char *path;		   /* the file */
	char *origin;		   /* "shipped" or "home" */
	struct nsh_recipe *recipe; /* NULL when it failed to load */
	char *error;		   /* the load error, or NULL */
};

struct nsh_recipe_catalog {
	struct nsh_recipe_entry *v; /* sorted by id, one per id */
	size_t nr;
	size_t alloc;
};

/**
 * Load every *.yml and *.yaml file of the directories @dirs ((origin, dir)
 * pairs as nsh_recipe_dirs() gives them); a later directory's recipe
 * replaces an earlier one with the same id. A file that fails to load is
 * kept as an entry with its error. Fails only when a directory cannot be
 * read (NSH_EIO & co).
 */
int nsh_recipe_catalog_load(const struct nsh_strvec *dirs, struct nsh_recipe_catalog *out,
			    struct nsh_err *err);

/** Free a catalog's entries. NULL ok. */
void nsh_recipe_catalog_release(struct nsh_recipe_catalog *c);

/**
 * Find a recipe: @name is an id in the catalog, or (when it contains a '/'
 * or ends in .yml/.yaml) a file to load. *@ret is owned by the catalog for
 * an id and by the caller for a file (*@ret_owned tells which).
 * NSH_ENOTFOUND for an unknown id; a broken recipe gives its load error.
 */
int nsh_recipe_find(const struct nsh_recipe_catalog *c, const char *name, struct nsh_recipe **ret,
		    bool *ret_owned, struct nsh_err *err);

/** The recipe as JSON (everything "recipe show" prints). New reference. */
json_t *nsh_recipe_to_json(const struct nsh_recipe *r);

/* A choice made for one run: "CHOICE=ALT". */
struct nsh_recipe_pick {
	const char *choice; /* choice id */
	const char *alt;    /* alternative id */
};

struct nsh_recipe_options {
	const struct nsh_recipe_pick *picks; /* choices made; the rest take their default */
	size_t npicks;
	bool dry_run; /* report only; write nothing */
	bool force;   /* run the rules even when the recipe does not apply */
	/*
	 * A disposable tree (a job's workspace, made again after a crash):
	 * files are still replaced by a rename, but nothing is flushed (no
	 * fsync, no syncfs). A killed process loses nothing by it: the
	 * files are in the page cache the next process reads.
	 */
	bool scratch;
};

struct nsh_recipe_change {
	char *file;	   /* path relative to the directory */
	unsigned line;	   /* line of the match in the original file */
	unsigned new_line; /* line of its rewrite in the new file */
	const char *rule;  /* rule id (borrowed) */
	char *before;	   /* the text matched */
	char *after;	   /* what replaced it */
	bool nested;	   /* inside a hole of another match of the same rule */
};

struct nsh_recipe_review {
	char *file;	  /* path relative to the directory */
	unsigned line;	  /* line in the original file */
	const char *rule; /* rule id (borrowed) */
	const char *note; /* the rule's note (borrowed), may be NULL */
	char *text;	  /* the text matched */
	bool rewritten;	  /* the rule also rewrote it (review: true) */
};

struct nsh_recipe_filechange {
	char *path;   /* relative to the directory */
	char *before; /* old contents */
	size_t before_len;
	char *after; /* new contents */
	size_t after_len;
	unsigned changes; /* rule changes in it (0 for a manifest) */
};

struct nsh_recipe_count {
	const char *rule; /* rule id (borrowed) */
	unsigned changes; /* rewrites */
	unsigned reviews; /* needs-review items */
	unsigned files;	  /* files it matched in */
};

struct nsh_recipe_taken {
	const struct nsh_recipe_choice *choice; /* borrowed */
	const struct nsh_recipe_alt *alt;	/* borrowed */
	bool is_default;			/* not picked explicitly */
};

struct nsh_recipe_medit {
	char *file;	/* "package.json" */
	const char *op; /* "bump", "rename", "add", "remove" */
	char *package;	/* the dependency */
	char *section;	/* e.g. "dependencies" */
	char *from;	/* old range (rename: old name) or NULL */
	char *to;	/* new range (rename: new name) or NULL */
};

struct nsh_recipe_warning {
	char *file;	  /* relative path, or NULL */
	const char *rule; /* rule id (borrowed), or NULL */
	char *message;	  /* what was skipped and why */
};

struct nsh_recipe_result {
	bool applicable;		     /* the applies check passed (or there is none) */
	bool forced;			     /* rules ran although it did not apply */
	char *reason;			     /* why it applies or not */
	bool dry_run;			     /* nothing was written */
	unsigned files_scanned;		     /* files read by at least one rule */
	struct nsh_recipe_filechange *files; /* changed files, sorted by path */
	size_t nfiles, files_alloc;
	struct nsh_recipe_change *changes; /* every rewrite, by file then position */
	size_t nchanges, changes_alloc;
	struct nsh_recipe_review *reviews; /* every needs-review item */
	size_t nreviews, reviews_alloc;
	struct nsh_recipe_count *counts; /* one per rule that ran, in rule order */
	size_t ncounts;
	struct nsh_recipe_taken *taken; /* one per choice, in recipe order */
	size_t ntaken;
	struct nsh_recipe_medit *medits; /* manifest edits made */
	size_t nmedits, medits_alloc;
	const struct nsh_recipe_post **post; /* post steps to run (borrowed), in order */
	size_t npost;
	struct nsh_recipe_warning *warnings;
	size_t nwarnings, warnings_alloc;
};

/** Free everything a result holds and zero it. NULL ok. */
void nsh_recipe_result_release(struct nsh_recipe_result *res);

/**
 * Resolve the choices of one run: every choice of @r gets the alternative
 * @picks names, else its default. Unknown choice or alternative ids, and a
 * choice picked twice, are NSH_ENOTFOUND / NSH_EINVAL naming them and the
 * valid ids. On success *@ret_taken (r->nchoices entries, caller frees) and
 * @enabled (r->nrules entries, caller storage) are filled in.
 */
int nsh_recipe_resolve(const struct nsh_recipe *r, const struct nsh_recipe_pick *picks,
		       size_t npicks, struct nsh_recipe_taken **ret_taken, bool *enabled,
		       struct nsh_err *err);

/**
 * Does @r apply to the repository in @dir? Reads package.json (and, when
 * the declared range cannot be read, package-lock.json). *@ret_reason gets a
 * sentence for the user (caller frees). A recipe without "applies" always
 * applies. Fails only on unreadable or malformed manifests.
 */
int nsh_recipe_applies(const struct nsh_recipe *r, const char *dir, bool *ret, char **ret_reason,
		       struct nsh_err *err);

/**
 * Apply @r to the tree at @dir: check that it applies (unless forced), edit
 * package.json, run the enabled rules in order over every file they select
 * (".git" and "node_modules" are never entered, symbolic links never
 * followed) and, unless @opt->dry_run, write the changed files (each
 * replaced atomically by a rename; one syncfs() at the end, none with
 * @opt->scratch).
 * Post steps are not run; @res lists those to run. @res is filled in
 * (release it with nsh_recipe_result_release(), also on failure). Errors:
 * those of nsh_recipe_resolve(), unreadable directories, write failures.
 */
int nsh_recipe_apply(const struct nsh_recipe *r, const char *dir,
		     const struct nsh_recipe_options *opt, struct nsh_recipe_result *res,
		     struct nsh_err *err);

/**
 * Apply the enabled rules of @r to one text in memory, as if it were the
 * file @path (which selects the rules and the lexer); no applies check and
 * no manifest edits. *@ret_text gets the new text (caller frees, NUL
 * terminated, *@ret_len bytes). @res is filled in as by nsh_recipe_apply()
 * (release it also on failure). For tools and tests.
 */
int nsh_recipe_apply_text(const struct nsh_recipe *r, const char *path, const char *text,
			  size_t len, const struct nsh_recipe_options *opt,
			  struct nsh_recipe_result *res, char **ret_text, size_t *ret_len,
			  struct nsh_err *err);

/** The result as JSON (what "recipe apply --json" prints). New reference. */
json_t *nsh_recipe_result_to_json(const struct nsh_recipe *r, const struct nsh_recipe_result *res);

/**
 * Append the pull-request body for @res to @out (Markdown): the recipe's
 * pr.body, the changes by rule with their breaking-change classes, the
 * choices taken with their assumptions, the needs-review items, the
 * manifest edits and the post steps. NSH_ETOOBIG past @out's cap.
 */
int nsh_recipe_pr_body(const struct nsh_recipe *r, const struct nsh_recipe_result *res,
		       struct nsh_buf *out);

#endif
