/*
 * The forge: the code host nightshift reads repositories from and opens
 * pull requests on, behind one interface with one backend per kind of host.
 *
 *   local   bare repositories under $NIGHTSHIFT_HOME/forge/<org>/<repo>.git
 *           and pull requests in the store (tables prs, pr_heads,
 *           pr_comments); no network
 *   github  the REST API and git over HTTPS (forge/github.h), pull
 *           requests mirrored in the store's prs table
 *
 * A handle is opened for a home directory and a store handle it borrows.
 * Every function below dispatches to the backend; one a backend does not
 * offer fails with NSH_EDENIED naming the operation.
 *
 * Writes into the local forge come only from the caller of this API (the
 * daemon or the CLI on the host): nsh_forge_push() fetches a job's commits
 * from its workspace into the bare repository; a sandbox never gets write
 * access to the forge.
 *
 * Crash safety, for a caller that repeats a step after a restart:
 *   - nsh_forge_pr_open() returns the existing pull request of the same
 *     job (any state), or the open or draft one of the same repository and
 *     head branch, instead of opening a second one;
 *   - nsh_forge_push() of a commit that a branch already points at changes
 *     nothing in git and records the head of the branch's pull request only
 *     if it is not recorded yet;
 *   - nsh_forge_pr_close() of a closed pull request succeeds and changes
 *     nothing.
 *
 * Events: every change to a pull request that belongs to a task appends an
 * event to the task's log in the same transaction as the change: pr.opened,
 * pr.updated, pr.comment, pr.review, pr.merged, pr.closed, each with "repo"
 * ("O/R") and "number" in its data (docs/forge.md lists the rest).
 *
 * Names: organisations and repositories are 1 to NSH_FORGE_NAME_MAX of
 * letters, digits, '-', '_' and '.', not starting with '.' and without
 * "..". Branches are checked by nsh_forge_branch_valid().
 *
 * Thread rules: a forge handle belongs to one thread at a time, like the
 * store handle it borrows; the caller must not hold a store transaction
 * open while calling a function that changes the forge (each opens its own).
 * Different handles (one per thread) may work on the same repositories at
 * once: branch updates are compare-and-swap, so a lost race is reported as
 * NSH_ECONFLICT, never silently overwritten.
 */
#ifndef NSH_FORGE_FORGE_H
#define NSH_FORGE_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct nsh_buf;
struct nsh_config;
struct nsh_err;
struct nsh_store;
struct nsh_pr_rec;
struct nsh_pr_list;
struct nsh_pr_filter;
struct nsh_pr_head_rec;
struct nsh_pr_head_list;
struct nsh_pr_comment_rec;
struct nsh_pr_comment_list;

#define NSH_FORGE_NAME_MAX    100	  /* characters of an org or repository name */
#define NSH_FORGE_BRANCH_MAX  200	  /* characters of a branch name */
#define NSH_FORGE_SHA_MAX     64	  /* hex digits of an object id (SHA-256) */
#define NSH_FORGE_TITLE_MAX   256	  /* bytes of a pull request title */
#define NSH_FORGE_BODY_MAX    (1u << 20)  /* bytes of a pull request body */
#define NSH_FORGE_COMMENT_MAX (64u << 10) /* bytes of a comment or review */
#define NSH_FORGE_AUTHOR_MAX  100	  /* bytes of an author name */
#define NSH_FORGE_LABEL_MAX   50	  /* bytes of one label */
#define NSH_FORGE_LABELS_MAX  32	  /* labels on one pull request */
#define NSH_FORGE_PATH_MAX    4096	  /* bytes of a file path in a comment */
#define NSH_FORGE_DIFF_MAX    (64u << 20) /* bytes of a diff */
#define NSH_FORGE_FILE_MAX    (32u << 20) /* bytes of a file read with nsh_forge_read_file() */

struct nsh_forge;

/* ---- names and references ---- */

/* A repository ("O/R", number 0) or a pull request ("O/R#N"). */
struct nsh_forge_ref {
	char org[NSH_FORGE_NAME_MAX + 1];  /* organisation */
	char repo[NSH_FORGE_NAME_MAX + 1]; /* repository */
	int64_t number;			   /* pull request number, 0 for the repository */
};

/** Whether @name is a valid org or repository name (see the header comment). */
bool nsh_forge_name_valid(const char *name);

/**
 * NSH_EINVAL "invalid WHAT name 'NAME': ..." saying which rule @name
 * breaks, 0 when it is valid. @what is "org" or "repository".
 */
int nsh_forge_check_name(const char *what, const char *name, struct nsh_err *err);

/**
 * Whether @name is a branch name the forge accepts: 1 to
 * NSH_FORGE_BRANCH_MAX of letters, digits and "-_./+", components separated
 * by single '/', none starting with '.' or ending in ".lock", no "..", not
 * starting with '-' or ending with '/' or '.'. A subset of git's rules.
 */
bool nsh_forge_branch_valid(const char *name);

/** NSH_EINVAL "invalid branch name 'NAME'" unless nsh_forge_branch_valid(). */
int nsh_forge_check_branch(const char *name, struct nsh_err *err);

/** Fill @ret from @org, @repo and @number, checking the names. NSH_EINVAL names the bad one. */
int nsh_forge_ref_set(struct nsh_forge_ref *ret, const char *org, const char *repo, int64_t number,
		      struct nsh_err *err);

/**
 * Parse "ORG/REPO" into @ret (number 0). NSH_EINVAL with a message that
 * says what is wrong and what is expected. @ret is written only on success.
 */
int nsh_forge_ref_parse_repo(const char *text, struct nsh_forge_ref *ret, struct nsh_err *err);

/** Parse "ORG/REPO#N" (N from 1 to 2^31-1) into @ret; as nsh_forge_ref_parse_repo(). */
int nsh_forge_ref_parse_pr(const char *text, struct nsh_forge_ref *ret, struct nsh_err *err);

/* ---- opening ---- */

/**
 * Open the local forge of the home directory @home (its repositories live
 * under @home/forge, created when needed) with the borrowed store @store,
 * which must outlive the handle. Close with nsh_forge_close().
 */
int nsh_forge_open_local(const char *home, struct nsh_store *store, struct nsh_forge **ret,
			 struct nsh_err *err);

/**
 * Open the GitHub forge: the REST API and git over HTTPS as configured in
 * [github] of @cfg (see docs/github.md and forge/github.h), with pull
 * requests mirrored in @store's prs table (orgs.forge 'github') so that
 * events, the web UI and the orchestrator work as with the local forge.
 * @cfg is borrowed and must outlive the handle. No request is made here.
 * NSH_EINVAL for bad or missing settings (no token and no app).
 */
int nsh_forge_open_github(const char *home, struct nsh_store *store, const struct nsh_config *cfg,
			  struct nsh_forge **ret, struct nsh_err *err);

/**
 * Open the backend that organisation @org's row names: GitHub for an org
 * of forge 'github' (which needs @cfg), else the local forge (also for an
 * org the store does not know, whose operations then report it missing).
 *
 * With [forge] url (and [forge] token) in @cfg, the local forge is the one
 * of the node at that URL, reached over git's smart HTTP (docs/forge.md, "A
 * forge on another node"): clones come from there, reads from mirrors under
 * @home/forge-mirror fetched before each use, branch and pull request head
 * refs are pushed there with a lease; pull requests stay in the (shared)
 * store. Imports, new orgs and merges are NSH_EDENIED then. NSH_EINVAL for
 * a malformed url or a missing token (never shown).
 */
int nsh_forge_open_for_org(const char *home, struct nsh_store *store, const struct nsh_config *cfg,
			   const char *org, struct nsh_forge **ret, struct nsh_err *err);

/** Close the handle (not the store). NULL ok. */
void nsh_forge_close(struct nsh_forge *f);

/** "local" or "github". */
const char *nsh_forge_kind(const struct nsh_forge *f);

/* ---- organisations and repositories ---- */

/* A language of a repository: how many of its files are written in it. */
struct nsh_forge_lang {
	const char *name; /* "JavaScript" (static storage) */
	size_t files;	  /* files with one of its extensions */
};

struct nsh_forge_repo {
	char *org;		      /* organisation */
	char *name;		      /* repository name */
	char *default_branch;	      /* the source's HEAD branch at import */
	char *path;		      /* bare repository (local forge), or NULL */
	char *source;		      /* where it was imported from, or NULL */
	char *last_sha;		      /* newest commit of the default branch, or NULL */
	int64_t last_ms;	      /* its committer time, epoch milliseconds */
	char *last_subject;	      /* its subject line */
	size_t files;		      /* files in the default branch */
	struct nsh_forge_lang *langs; /* languages, most files first, then by name */
	size_t nlangs;		      /* entries in langs */
	char *error;		      /* why the details above are missing, or NULL */
	int64_t created_ms;	      /* when it was imported */
};

struct nsh_forge_repo_list {
	struct nsh_forge_repo *v; /* by name */
	size_t nr;		  /* entries in use */
	size_t alloc;		  /* entries allocated */
};

/** Free the contents of @r and zero it. NULL ok. */
void nsh_forge_repo_release(struct nsh_forge_repo *r);
void nsh_forge_repo_list_release(struct nsh_forge_repo_list *l);

/**
 * Create organisation @org (its directory and its row). An org that exists
 * already is fine: *@ret_created (may be NULL) says which happened. An org
 * of another forge kind is NSH_EEXIST.
 */
int nsh_forge_org_init(struct nsh_forge *f, const char *org, bool *ret_created,
		       struct nsh_err *err);

/**
 * Import the git repository at @path (the top of a work tree, or a bare
 * repository) into @org as @name (NULL: the directory's name without
 * ".git"), creating the org when needed: every branch and tag, with the
 * default branch set to the branch the source's HEAD names (else main,
 * master or the first branch). The result goes to @ret (may be NULL).
 *
 * Errors: NSH_EINVAL when @path is not a git repository, is inside one
 * without being its top, or has no branch (the message names @path);
 * NSH_EEXIST when @org already has @name; git's errors. Nothing is left
 * behind on failure.
 */
int nsh_forge_import(struct nsh_forge *f, const char *org, const char *path, const char *name,
		     struct nsh_forge_repo *ret, struct nsh_err *err);

/**
 * The repositories of @org with their details (last commit, languages),
 * appended to @ret by name. NSH_ENOTFOUND "no org 'ORG'". A repository
 * whose details cannot be read is listed with its error set.
 */
int nsh_forge_repo_list(struct nsh_forge *f, const char *org, struct nsh_forge_repo_list *ret,
			struct nsh_err *err);

/** One repository with its details; NSH_ENOTFOUND "no repository 'O/R'". */
int nsh_forge_repo_get(struct nsh_forge *f, const char *org, const char *name,
		       struct nsh_forge_repo *ret, struct nsh_err *err);

/**
 * The path of the bare repository of @org/@name, for read access (cloning
 * into a job's workspace); the caller frees it. NSH_ENOTFOUND for an
 * unknown repository or a missing directory. Local forge only; with
 * [forge] url (the forge of another node, see nsh_forge_open_for_org()) it
 * is the mirror, fetched over HTTP first.
 */
int nsh_forge_repo_path(struct nsh_forge *f, const char *org, const char *name, char **ret,
			struct nsh_err *err);

/**
 * Append to @out the contents of file @path (relative, no "..") of
 * @org/@name at @ref (a branch, tag or commit; NULL for the default
 * branch), without cloning: "git show REF:PATH" in the local forge, the
 * contents API on GitHub. NSH_ENOTFOUND when the file (or the ref) is not
 * there; NSH_ETOOBIG past NSH_FORGE_FILE_MAX or @out's cap.
 */
int nsh_forge_read_file(struct nsh_forge *f, const char *org, const char *name, const char *ref,
			const char *path, struct nsh_buf *out, struct nsh_err *err);

/**
 * Clone @org/@name into the new or empty directory @dir with @branch
 * (NULL: the default branch) checked out. The local forge copies the
 * objects (no hard links: a sandbox working in @dir must not reach the
 * forge's files); GitHub clones over HTTPS with the token handed to git
 * through askpass, never in the URL or an argument, and the clone keeps
 * no credentials.
 */
int nsh_forge_clone(struct nsh_forge *f, const char *org, const char *name, const char *branch,
		    const char *dir, struct nsh_err *err);

/**
 * A job's workspace: @org/@name's default branch checked out in the new or
 * empty directory @dir as the new branch @branch. @ret_base gets the
 * commit it starts from and *@ret_base_branch (the caller's) the default
 * branch's name. The local forge makes it without git clone (the commit
 * read in the bare repository, git init, the objects copied as files,
 * never hard-linked, git reset --hard: three git runs); the others clone,
 * read the commit and make the branch. Errors as nsh_forge_clone().
 */
int nsh_forge_workspace(struct nsh_forge *f, const char *org, const char *name, const char *branch,
			const char *dir, char ret_base[NSH_FORGE_SHA_MAX + 1],
			char **ret_base_branch, struct nsh_err *err);

/**
 * Whether @user may write to @org/@repo, for deciding whom to take
 * instructions and feedback from: on GitHub the collaborator permission
 * admin, maintain or write (an unknown user is false, not an error); the
 * local forge has no accounts, so everybody may write there (true).
 */
int nsh_forge_can_write(struct nsh_forge *f, const char *org, const char *repo, const char *user,
			bool *ret, struct nsh_err *err);

/* ---- writing branches ---- */

struct nsh_forge_push {
	const char *org;     /* organisation */
	const char *repo;    /* repository */
	const char *workdir; /* a git repository to take the commit from (a job's workspace) */
	const char *rev;     /* the commit in @workdir: an id, a branch, ...; NULL for HEAD */
	const char *branch;  /* the branch to set in the forge */
	bool force;	     /* allow an update that is not a fast-forward */
	const char *pusher;  /* who pushes, recorded with a pull request head; may be NULL */
};

struct nsh_forge_push_result {
	char old_sha[NSH_FORGE_SHA_MAX + 1]; /* the branch before, "" when it was new */
	char new_sha[NSH_FORGE_SHA_MAX + 1]; /* the branch now */
	bool updated;			     /* the branch moved */
	bool forced;			     /* the move was not a fast-forward */
	int64_t pr_number; /* the open or draft pull request of the branch, or 0 */
	int64_t head_seq;  /* the head number of @new_sha in its history, or 0 */
	bool recorded;	   /* this call recorded a new pull request head */
};

/**
 * Set branch p->branch of p->org/p->repo to the commit p->rev of
 * p->workdir: its objects are fetched from the workspace by git running in
 * the bare repository ("git fetch WORKDIR SHA"), then the branch is moved
 * with the old value as a guard. When the branch is the head of an open or
 * draft pull request, the new commit is recorded in its head history (with
 * forced set when it does not contain the previous head), kept reachable
 * under refs/pull/N/heads/SEQ, and a pr.updated event is appended.
 *
 * Errors: NSH_EINVAL for bad names or an unknown @rev; NSH_EDENIED for the
 * repository's default branch (it changes only by merging); NSH_ECONFLICT
 * for an update that is not a fast-forward without p->force, or when the
 * branch moved meanwhile. @ret (may be NULL) is filled on success.
 */
int nsh_forge_push(struct nsh_forge *f, const struct nsh_forge_push *p,
		   struct nsh_forge_push_result *ret, struct nsh_err *err);

/* ---- pull requests ---- */

struct nsh_forge_pr_new {
	const char *org;	   /* organisation */
	const char *repo;	   /* repository */
	const char *head;	   /* head branch, already in the forge (nsh_forge_push()) */
	const char *base;	   /* base branch; NULL for the default branch */
	const char *title;	   /* one line, required */
	const char *body;	   /* Markdown; NULL for none */
	const char *const *labels; /* NULL-terminated label names; NULL for none */
	bool draft;		   /* open as a draft */
	const char *author;	   /* NULL: the job id */
	const char *task_id;	   /* NULL: the job's task, or none */
	const char *job_id;	   /* the job that opens it, or NULL */
};

/**
 * Open a pull request from @n->head into @n->base, recording the head
 * branch's commit as head 1 of its history. Returns the existing pull
 * request instead (*@ret_existed true; may be NULL) when the job has one or
 * the branch has an open or draft one. The pull request goes to @ret (may
 * be NULL; release with nsh_pr_rec_release()).
 *
 * Errors: NSH_EINVAL for bad input (names, title, labels, unknown task or
 * job, a job of another repository); NSH_ENOTFOUND for an unknown
 * repository or branch; NSH_ECONFLICT when head and base are the same or
 * the head has no commit the base lacks.
 */
int nsh_forge_pr_open(struct nsh_forge *f, const struct nsh_forge_pr_new *n, struct nsh_pr_rec *ret,
		      bool *ret_existed, struct nsh_err *err);

/* Changes to a pull request; NULL fields stay as they are. */
struct nsh_forge_pr_change {
	const char *title;	   /* new title */
	const char *body;	   /* new body */
	bool set_labels;	   /* replace the labels with @labels */
	const char *const *labels; /* NULL-terminated; NULL with set_labels clears them */
	const char *state;	   /* "open" (ready for review) or "draft" */
	const char *by;		   /* who changes it, for the event; may be NULL */
};

/**
 * Change the title, body, labels or draft state of an open or draft pull
 * request and append a pr.updated event naming the changed fields. No
 * change at all is fine and appends nothing. NSH_ECONFLICT for a merged or
 * closed one.
 */
int nsh_forge_pr_update(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			const struct nsh_forge_pr_change *c, struct nsh_err *err);

/** Read one pull request; NSH_ENOTFOUND "no pull request 'O/R#N'". */
int nsh_forge_pr_get(struct nsh_forge *f, const struct nsh_forge_ref *pr, struct nsh_pr_rec *ret,
		     struct nsh_err *err);

/** Append the pull requests matching @flt (NULL: all) to @ret, newest first. */
int nsh_forge_pr_list(struct nsh_forge *f, const struct nsh_pr_filter *flt, struct nsh_pr_list *ret,
		      struct nsh_err *err);

/** Append the head history of a pull request to @ret, oldest first. */
int nsh_forge_pr_heads(struct nsh_forge *f, const struct nsh_forge_ref *pr,
		       struct nsh_pr_head_list *ret, struct nsh_err *err);

struct nsh_forge_comment {
	const char *author;  /* who writes it, required */
	const char *body;    /* Markdown, required */
	const char *path;    /* file of an inline comment, or NULL for a general one */
	int64_t line;	     /* its line, from 1; required with @path */
	const char *head;    /* the head it refers to: a recorded head's id or a unique
				prefix of at least 4 digits; NULL for the newest */
	int64_t in_reply_to; /* the comment it answers (kind "reply"), or 0 */
};

/**
 * Add a comment to a pull request, in any state, and a pr.comment event.
 * An inline comment must name a file of the head it refers to and a line
 * that the file has there. The comment's id goes to @ret_id (may be NULL).
 * NSH_EINVAL for bad input, with a message saying what is wrong.
 */
int nsh_forge_pr_comment(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			 const struct nsh_forge_comment *c, int64_t *ret_id, struct nsh_err *err);

enum nsh_forge_verdict {
	NSH_FORGE_APPROVE,	   /* stored as kind "approve" */
	NSH_FORGE_REQUEST_CHANGES, /* stored as kind "request_changes" */
};

/**
 * Review an open or draft pull request: approve, or request changes (which
 * needs a body), referring to its newest head; appends a pr.review event.
 * NSH_ECONFLICT for a merged or closed one. The review's id goes to @ret_id
 * (may be NULL).
 */
int nsh_forge_pr_review(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			enum nsh_forge_verdict verdict, const char *author, const char *body,
			int64_t *ret_id, struct nsh_err *err);

/** Append the comments and reviews of a pull request to @ret, oldest first. */
int nsh_forge_pr_comments(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			  struct nsh_pr_comment_list *ret, struct nsh_err *err);

/**
 * Merge an open pull request's newest head into its base branch with a merge
 * commit made without a work tree (git merge-tree, commit-tree, and
 * update-ref guarded by the base's old value), mark it merged and append a
 * pr.merged event. A head the base already contains is marked merged
 * without a new commit. The merge commit's id goes to @ret_sha (may be
 * NULL).
 *
 * Errors: NSH_ECONFLICT when it does not apply cleanly (naming the
 * conflicting files), when it is a draft, merged or closed, or when the
 * base moved meanwhile.
 */
int nsh_forge_pr_merge(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
		       char ret_sha[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err);

/**
 * Close an open or draft pull request without merging and append a
 * pr.closed event; closing a closed one does nothing. NSH_ECONFLICT for a
 * merged one.
 */
int nsh_forge_pr_close(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
		       struct nsh_err *err);

/**
 * Append to @out the diff of a pull request, "git diff BASE...HEAD": what the
 * head @head (as in struct nsh_forge_comment; NULL for the newest) changes
 * since it left the base branch (for a merged one, the base before the
 * merge). NSH_ETOOBIG past NSH_FORGE_DIFF_MAX.
 */
int nsh_forge_pr_diff(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *head,
		      struct nsh_buf *out, struct nsh_err *err);

/* ---- JSON forms, for --json output and the API ---- */

/** "O/R#N". The caller frees it. */
char *nsh_forge_pr_name(const struct nsh_pr_rec *p);

/** New references; NULL strings and times become null. */
json_t *nsh_forge_repo_to_json(const struct nsh_forge_repo *r);
json_t *nsh_forge_pr_to_json(const struct nsh_pr_rec *p);
json_t *nsh_forge_head_to_json(const struct nsh_pr_head_rec *h);
json_t *nsh_forge_comment_to_json(const struct nsh_pr_comment_rec *c);

#endif
