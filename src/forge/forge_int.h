/*
 * Internals of the forge module: the operations a backend provides and the
 * handle they share. forge.c checks the arguments every backend needs and
 * dispatches; local.c and local_pr.c are the local backend. No other module
 * includes this header.
 */
#ifndef NSH_FORGE_FORGE_INT_H
#define NSH_FORGE_FORGE_INT_H

#include "forge/forge.h"

struct nsh_forge_ops {
	const char *kind; /* "local", "github" */
	void (*close)(struct nsh_forge *f);
	/* Each may be NULL when the backend does not offer it. */
	int (*org_init)(struct nsh_forge *f, const char *org, bool *ret_created,
			struct nsh_err *err);
	int (*import)(struct nsh_forge *f, const char *org, const char *path, const char *name,
		      struct nsh_forge_repo *ret, struct nsh_err *err);
	int (*repo_list)(struct nsh_forge *f, const char *org, struct nsh_forge_repo_list *ret,
			 struct nsh_err *err);
	int (*repo_get)(struct nsh_forge *f, const char *org, const char *name,
			struct nsh_forge_repo *ret, struct nsh_err *err);
	int (*repo_path)(struct nsh_forge *f, const char *org, const char *name, char **ret,
			 struct nsh_err *err);
	int (*push)(struct nsh_forge *f, const struct nsh_forge_push *p,
		    struct nsh_forge_push_result *ret, struct nsh_err *err);
	int (*pr_open)(struct nsh_forge *f, const struct nsh_forge_pr_new *n,
		       struct nsh_pr_rec *ret, bool *ret_existed, struct nsh_err *err);
	int (*pr_update)(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			 const struct nsh_forge_pr_change *c, struct nsh_err *err);
	int (*pr_get)(struct nsh_forge *f, const struct nsh_forge_ref *pr, struct nsh_pr_rec *ret,
		      struct nsh_err *err);
	int (*pr_list)(struct nsh_forge *f, const struct nsh_pr_filter *flt,
		       struct nsh_pr_list *ret, struct nsh_err *err);
	int (*pr_heads)(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			struct nsh_pr_head_list *ret, struct nsh_err *err);
	int (*pr_comment)(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			  const struct nsh_forge_comment *c, int64_t *ret_id, struct nsh_err *err);
	int (*pr_review)(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			 enum nsh_forge_verdict verdict, const char *author, const char *body,
			 int64_t *ret_id, struct nsh_err *err);
	int (*pr_comments)(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			   struct nsh_pr_comment_list *ret, struct nsh_err *err);
	int (*pr_merge)(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
			char ret_sha[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err);
	int (*pr_close)(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
			struct nsh_err *err);
	int (*pr_diff)(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *head,
		       struct nsh_buf *out, struct nsh_err *err);
	int (*read_file)(struct nsh_forge *f, const char *org, const char *name, const char *ref,
			 const char *path, struct nsh_buf *out, struct nsh_err *err);
	int (*clone)(struct nsh_forge *f, const char *org, const char *name, const char *branch,
		     const char *dir, struct nsh_err *err);
	int (*can_write)(struct nsh_forge *f, const char *org, const char *repo, const char *user,
			 bool *ret, struct nsh_err *err);
	/* NULL: clone, then read the commit and make the branch (nsh_forge_workspace()) */
	int (*workspace)(struct nsh_forge *f, const char *org, const char *name, const char *branch,
			 const char *dir, char ret_base[NSH_FORGE_SHA_MAX + 1],
			 char **ret_base_branch, struct nsh_err *err);
};

struct nsh_forge {
	const struct nsh_forge_ops *ops; /* the backend */
	struct nsh_store *store;	 /* borrowed */
	char *home;			 /* $NIGHTSHIFT_HOME */
	char *root;			 /* local: <home>/forge; over HTTP: <home>/forge-mirror */
	void *priv;			 /* the backend's own data (github: struct nsh_forge_gh) */
	char *url;   /* local forge of another node ([forge] url, "http://H:P"), or NULL */
	char *token; /* its token ([forge] token); never logged, never in an argv */
};

/** The GitHub backend's operations (github.c). */
extern const struct nsh_forge_ops nsh_forge_github_ops;

/** The local backend's operations (local.c). */
extern const struct nsh_forge_ops nsh_forge_local_ops;

/*
 * Text checks shared by the frontend and the backends: each returns 0 or
 * NSH_EINVAL naming @what and the rule broken. @max is in bytes; @one_line
 * refuses line breaks. Control characters other than tab and newline are
 * refused always.
 */
int nsh_forge_check_text(const char *what, const char *s, size_t max, bool one_line, bool required,
			 struct nsh_err *err);

/**
 * The language of file @path by its extension or name (static storage), or
 * NULL for files that are not code in a known language (text, data,
 * images).
 */
const char *nsh_forge_lang_of(const char *path);

/* ---- local backend, shared between local.c and local_pr.c ---- */

/* Longest a git command of the local forge may run (large imports and fetches). */
#define NSH_FORGE_GIT_TIMEOUT_MS (30 * 60 * 1000)

/**
 * Run "git ARGS..." (NULL-terminated) in @dir with the git.h environment,
 * NSH_FORGE_GIT_TIMEOUT_MS, stdout capped at @out_max (0: the default) and
 * appended to @out (may be NULL). With @ret_code NULL only exit code 0
 * succeeds; otherwise exit code 1 succeeds too (git's "no" for queries,
 * "conflicts" for merge-tree) and *@ret_code says which, with the output of
 * either appended. Errors as nsh_proc_run_checked().
 */
int nsh_forge_git_run(const char *dir, struct nsh_buf *out, size_t out_max, int *ret_code,
		      struct nsh_err *err, ...) __attribute__((sentinel));

/** Whether the @len bytes at @s are an object id: 40 or 64 lowercase hex digits. */
bool nsh_forge_is_sha(const char *s, size_t len);

/**
 * The object id the loose ref @ref (such as "refs/heads/main") of the git
 * directory @gitdir holds, into @out, read without git; false when there is
 * no such file, or it is a symbolic ref or anything but an object id: the
 * caller then asks git (the ref may be packed). The id may name any object.
 */
bool nsh_forge_loose_ref(const char *gitdir, const char *ref, char out[NSH_FORGE_SHA_MAX + 1]);

/**
 * Resolve @rev (a ref or object name) in the repository @dir to a commit id
 * in @out. Returns 0 and sets *@ret_found; a missing commit is not an
 * error. Errors only when git cannot run or fails otherwise.
 */
int nsh_forge_git_commit(const char *dir, const char *rev, char out[NSH_FORGE_SHA_MAX + 1],
			 bool *ret_found, struct nsh_err *err);

/**
 * nsh_forge_git_commit() of @rev1 and @rev2 in one git run when both are
 * commits (else one run each, with the same results).
 */
int nsh_forge_git_commit2(const char *dir, const char *rev1, const char *rev2,
			  char out1[NSH_FORGE_SHA_MAX + 1], char out2[NSH_FORGE_SHA_MAX + 1],
			  bool *ret_found1, bool *ret_found2, struct nsh_err *err);

/**
 * Whether commit @a is an ancestor of (or equal to) commit @b in @dir
 * ("git merge-base --is-ancestor").
 */
int nsh_forge_git_is_ancestor(const char *dir, const char *a, const char *b, bool *ret,
			      struct nsh_err *err);

/**
 * Set @ref in @dir to @sha, but only if it has the value @old ("" for
 * "must not exist"; NULL for no guard); NSH_ECONFLICT when the guard fails.
 * @why goes to the reflog.
 */
int nsh_forge_git_update_ref(const char *dir, const char *ref, const char *sha, const char *old,
			     const char *why, struct nsh_err *err);

/**
 * Whether @data (@len bytes) is a loose object as git writes it: one zlib
 * stream of "TYPE SIZE\0" (blob, tree, commit or tag) and exactly SIZE
 * bytes, whose SHA-1 (a 40-digit @name) or SHA-256 (64 digits) is @name.
 * Inflating stops as soon as the stream says more than its header.
 */
bool nsh_forge_loose_check(const unsigned char *data, size_t len, const char *name);

/**
 * The first parent of the commit whose loose object file (zlib stream) is
 * the @len bytes at @data, into @out, when the stream starts "commit SIZE\0
 * tree ID\nparent ID\n" with ids of @idlen (40 or 64) digits; false
 * otherwise (another type, a root commit, anything malformed). Inflates
 * only the start; the object's hash is not checked.
 */
bool nsh_forge_loose_parent_of(const unsigned char *data, size_t len, size_t idlen,
			       char out[NSH_FORGE_SHA_MAX + 1]);

/**
 * nsh_forge_loose_parent_of() of the commit @sha's loose file in the bare
 * repository @bare; false when it is not there as a loose file (packed,
 * say) or is not a commit with a parent.
 */
bool nsh_forge_loose_parent(const char *bare, const char *sha, char out[NSH_FORGE_SHA_MAX + 1]);

/**
 * Copy the loose objects of the repository @gitdir (a .git directory) that
 * the bare repository @bare has no loose file of into @bare, each checked
 * first (a zlib stream of a blob, tree, commit or tag whose hash is its
 * name) and written as git does (a temporary file linked to its name).
 * Packed objects of @gitdir are not looked at. Fails (-1) when there are
 * more than @max_objects to copy, they hold more than @max_bytes, or one is
 * malformed or cannot be written; objects written by then stay in @bare
 * unreferenced, as after a failed fetch. On success *@ret_copied is the
 * number copied. Makes no git process.
 */
int nsh_forge_loose_copy(const char *bare, const char *gitdir, size_t max_objects, size_t max_bytes,
			 size_t *ret_copied);

/**
 * nsh_forge_workspace() of the local forge (local_ws.c), for a forge
 * whose directory is here (not [forge] url).
 */
int nsh_forge_local_workspace(struct nsh_forge *f, const char *org, const char *name,
			      const char *branch, const char *dir,
			      char ret_base[NSH_FORGE_SHA_MAX + 1], char **ret_base_branch,
			      struct nsh_err *err);

/** The bare repository path of @org/@repo under the local forge's root; the caller frees it. */
char *nsh_forge_local_path(const struct nsh_forge *f, const char *org, const char *repo);

/**
 * The pull request of @pr with its repository row checked; for the local
 * backend's PR functions.
 */
int nsh_forge_local_pr_get(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			   struct nsh_pr_rec *ret, struct nsh_err *err);

/**
 * Record @sha as the next head of pull request @p (when it is not the newest
 * already), keep it reachable under refs/pull/N/heads/SEQ in @bare, and
 * append a pr.updated event; all in one store transaction. *@ret_seq (may
 * be NULL) gets the head's number; *@ret_recorded (may be NULL) whether it
 * is new.
 */
int nsh_forge_local_record_head(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *bare,
				const char *sha, const char *pushed_by, int64_t *ret_seq,
				bool *ret_recorded, struct nsh_err *err);

/**
 * Append event @kind about pull request @p to its task's log when it has a
 * task (else nothing): @data (consumed; NULL for {}) gets "repo" ("O/R")
 * and "number". Call inside the transaction that makes the change.
 */
int nsh_forge_local_event(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *kind,
			  json_t *data, struct nsh_err *err);

/* Local PR operations (local_pr.c). */
int nsh_forge_local_pr_open(struct nsh_forge *f, const struct nsh_forge_pr_new *n,
			    struct nsh_pr_rec *ret, bool *ret_existed, struct nsh_err *err);
int nsh_forge_local_pr_update(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			      const struct nsh_forge_pr_change *c, struct nsh_err *err);
int nsh_forge_local_pr_list(struct nsh_forge *f, const struct nsh_pr_filter *flt,
			    struct nsh_pr_list *ret, struct nsh_err *err);
int nsh_forge_local_pr_heads(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			     struct nsh_pr_head_list *ret, struct nsh_err *err);
int nsh_forge_local_pr_comment(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			       const struct nsh_forge_comment *c, int64_t *ret_id,
			       struct nsh_err *err);
int nsh_forge_local_pr_review(struct nsh_forge *f, const struct nsh_forge_ref *pr,
			      enum nsh_forge_verdict verdict, const char *author, const char *body,
			      int64_t *ret_id, struct nsh_err *err);
int nsh_forge_local_pr_comments(struct nsh_forge *f, const struct nsh_forge_ref *pr,
				struct nsh_pr_comment_list *ret, struct nsh_err *err);
int nsh_forge_local_pr_merge(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
			     char ret_sha[NSH_FORGE_SHA_MAX + 1], struct nsh_err *err);
int nsh_forge_local_pr_close(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *by,
			     struct nsh_err *err);
int nsh_forge_local_pr_diff(struct nsh_forge *f, const struct nsh_forge_ref *pr, const char *head,
			    struct nsh_buf *out, struct nsh_err *err);

/* ---- the local forge of another node, over git's smart HTTP (remote.c) ---- */

/*
 * With [forge] url set, the local backend works for a node that has no
 * bare repositories: f->url names the node that has them (its
 * /git/ORG/REPO.git), and f->root is a cache of mirrors,
 * <home>/forge-mirror/ORG/REPO.git, fetched before each read. The store
 * (shared with that node) still lists orgs, repositories and pull requests.
 * Branch moves are pushes to that node: guarded with --force-with-lease,
 * and accepted there only for the branch of a job that a worker runs
 * (src/server/git_http.c). The token reaches git through GIT_CONFIG_*
 * variables (http.extraHeader), never through an argument, a URL or a
 * message.
 */

/**
 * Read [forge] url and [forge] token from @cfg (may be NULL) into @f: with
 * no url, nothing changes. NSH_EINVAL for a url that is not http(s)://HOST
 * [:PORT][/PATH] without user, query or fragment, and for a missing or
 * malformed token (the message never shows it).
 */
int nsh_forge_remote_setup(struct nsh_forge *f, const struct nsh_config *cfg, struct nsh_err *err);

/**
 * Bring the mirror @mirror of @org/@repo up to date with the forge node
 * (created when missing): every branch, tag and refs/pull/ ref, pruned.
 * Serialised per mirror with a lock file. NSH_EDENIED when the node refuses
 * the token; NSH_ENOTFOUND when it does not have the repository.
 */
int nsh_forge_remote_refresh(struct nsh_forge *f, const char *org, const char *repo,
			     const char *mirror, struct nsh_err *err);

/**
 * Set @ref of @org/@repo on the forge node to @sha (a commit in @mirror),
 * but only if it is @old there now ("" for "must not exist"), whether a
 * fast-forward or not (the caller decides that): a push with
 * --force-with-lease. The mirror's ref follows. NSH_ECONFLICT when the
 * guard fails; NSH_EDENIED when the node refuses the update (the message
 * has its reason).
 */
int nsh_forge_remote_set_ref(struct nsh_forge *f, const char *org, const char *repo,
			     const char *mirror, const char *ref, const char *sha, const char *old,
			     struct nsh_err *err);

/**
 * Make sure the forge node has refs/pull/N/heads/SEQ for every recorded
 * head of pull request @p (rows committed already): the ones @mirror (just
 * refreshed) lacks are pushed.
 */
int nsh_forge_remote_pull_refs(struct nsh_forge *f, const struct nsh_pr_rec *p, const char *mirror,
			       struct nsh_err *err);

/** Clone @org/@name over HTTP into @dir with @branch checked out; no credentials are kept. */
int nsh_forge_remote_clone(struct nsh_forge *f, const char *org, const char *name,
			   const char *branch, const char *dir, struct nsh_err *err);

#endif
