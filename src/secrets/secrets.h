/*
 * Secrets: the encrypted vault (vault.c) and the redactor that keeps secret
 * values out of logs, events and diffs (redact.c). docs/secrets.md has the
 * user's view: format, key handling, scopes, redaction forms and limits.
 *
 * The vault keeps each value in the store's secrets table, encrypted with
 * XChaCha20-Poly1305 (libsodium) under a 32-byte master key that lives in a
 * file outside the database: $NIGHTSHIFT_HOME/master.key (mode 0600,
 * created on the first write), or the file named by
 * $NIGHTSHIFT_MASTER_KEY_FILE. The additional data of each value is
 * "NAME\0SCOPE", so a row moved to another name or scope does not decrypt.
 *
 * A secret has a NAME (an environment variable name, [A-Z_][A-Z0-9_]*, at
 * most NSH_SECRETS_NAME_MAX characters) and a SCOPE: "global", "org:O",
 * "repo:O/R" or "task:T". A job sees the secrets of the scopes that match
 * it; when several define the same NAME, the most specific wins (task >
 * repo > org > global).
 *
 * Plaintext handed out by this module sits in memory that is locked when
 * the system allows it (sodium_mlock) and is wiped when freed with the
 * matching function. No function here logs, and no error message holds a
 * value.
 *
 * Thread rules: a vault uses its store's connection, so it belongs to one
 * thread at a time, like the store handle. The results (nsh_secrets_env,
 * lists) may be handed to another thread. A built redactor is read-only
 * and may be shared by any number of threads; each redaction stream
 * belongs to one thread at a time.
 */
#ifndef NSH_SECRETS_SECRETS_H
#define NSH_SECRETS_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_buf;
struct nsh_err;
struct nsh_secret_list;
struct nsh_store;

#define NSH_SECRETS_NAME_MAX  128			   /* characters in a secret's name */
#define NSH_SECRETS_VALUE_MAX (64 * 1024)		   /* bytes in a secret's value */
#define NSH_SECRETS_KEY_BYTES 32			   /* size of the master key file */
#define NSH_SECRETS_KEY_FILE  "master.key"		   /* default key file, in the home */
#define NSH_SECRETS_KEY_ENV   "NIGHTSHIFT_MASTER_KEY_FILE" /* names another key file */

/* ---- names and scopes ---- */

/** True when @name is [A-Z_][A-Z0-9_]* with 1 to NSH_SECRETS_NAME_MAX characters. */
bool nsh_secrets_name_valid(const char *name);

/**
 * 0 when @scope is "global", "org:O", "repo:O/R" or "task:T" (O and R are
 * 1 to 100 of [A-Za-z0-9._-], not starting with '.' or '-'; T is a task id
 * such as "t-7f3a9c"); else NSH_EINVAL with a message that names the scope
 * and says what is expected.
 */
int nsh_secrets_check_scope(const char *scope, struct nsh_err *err);

/* ---- the vault ---- */

struct nsh_secrets; /* an open vault */

/**
 * Open the vault kept in @store. @key_file names the master key file; NULL
 * means $NIGHTSHIFT_MASTER_KEY_FILE when it is set and not empty (read
 * here, once), else "@home/master.key". The key is not read until it is
 * needed, so listing and removing work without it. @store is borrowed and
 * must outlive the vault; both strings are copied. Calls sodium_init().
 * Close with nsh_secrets_close().
 *
 * The key file must be a regular file of exactly NSH_SECRETS_KEY_BYTES
 * bytes, without any group or other permission bits, owned by the
 * effective user (or root); otherwise every operation that needs the key
 * fails with NSH_EDENIED (permissions, owner) or NSH_EINVAL (size, type)
 * and a message that names the file and the problem, and changes nothing.
 * Only the default key file is created when missing, by the first
 * nsh_secrets_set() on an empty vault (random key, mode 0600, written
 * atomically, never replacing a file that appears concurrently). A
 * missing key while the vault holds secrets is an error, never a new key.
 */
int nsh_secrets_open(struct nsh_store *store, const char *home, const char *key_file,
		     struct nsh_secrets **ret, struct nsh_err *err);

/** Wipe the key, free the vault. The store stays open. NULL ok. */
void nsh_secrets_close(struct nsh_secrets *v);

/** The master key file this vault uses (borrowed from @v). */
const char *nsh_secrets_key_path(const struct nsh_secrets *v);

/**
 * Encrypt the @len bytes at @value and store them as (@name, @scope),
 * replacing an earlier value (its creation time is kept). A fresh random
 * nonce is drawn for every write. Errors: NSH_EINVAL for a bad name or
 * scope, an empty value or one with a NUL byte (values become environment
 * variables); NSH_ETOOBIG past NSH_SECRETS_VALUE_MAX; key file errors (see
 * nsh_secrets_open()); store errors. @value is not kept.
 */
int nsh_secrets_set(struct nsh_secrets *v, const char *name, const char *scope, const void *value,
		    size_t len, struct nsh_err *err);

/**
 * Decrypt the value of (@name, @scope). *@ret_value gets a NUL-terminated
 * copy in locked memory, *@ret_len its length; the caller releases it with
 * nsh_secrets_value_free(). NSH_ENOTFOUND "no secret 'NAME' in scope 'S'";
 * NSH_EINVAL "secret 'NAME' (scope S) cannot be decrypted: wrong master key
 * or corrupted data" when authentication fails (nothing is changed).
 */
int nsh_secrets_get(struct nsh_secrets *v, const char *name, const char *scope, char **ret_value,
		    size_t *ret_len, struct nsh_err *err);

/** Wipe and free a value from nsh_secrets_get(). NULL ok. */
void nsh_secrets_value_free(char *value, size_t len);

/** Remove (@name, @scope); NSH_ENOTFOUND when absent. Needs no key. */
int nsh_secrets_remove(struct nsh_secrets *v, const char *name, const char *scope,
		       struct nsh_err *err);

/**
 * Append the names, scopes and times of every secret (never a value) to
 * @ret, ordered by name then scope; free with nsh_secret_list_release()
 * (store/store.h). Needs no key.
 */
int nsh_secrets_list(struct nsh_secrets *v, struct nsh_secret_list *ret, struct nsh_err *err);

/* One secret of an nsh_secrets_env. All strings point into the env's locked memory. */
struct nsh_secrets_pair {
	const char *name;  /* variable name */
	const char *scope; /* the scope the value came from */
	const char *value; /* plaintext, NUL-terminated */
	size_t value_len;  /* bytes in value */
};

/* The secrets of one job: what gets injected into its sandbox. */
struct nsh_secrets_env {
	struct nsh_secrets_pair *v; /* nr pairs, sorted by name */
	size_t nr;		    /* pairs */
	char **envp;		    /* nr "NAME=VALUE" strings, then NULL (for execve) */
	char *mem;		    /* locked storage of every string above */
	size_t mem_len;		    /* bytes in mem */
};

/**
 * The decrypted secrets a job sees: those in scope "global", "org:@org",
 * "repo:@repo" and "task:@task", one per name, the most specific scope
 * winning (task > repo > org > global). @repo is "O/R"; @org, @repo and
 * @task may each be NULL (then that scope is not consulted); when @org is
 * NULL and @repo is not, the org is @repo's owner, and a @repo whose owner
 * differs from a given @org is NSH_EINVAL. *@ret is never NULL on success
 * (nr may be 0); the caller wipes and frees it with nsh_secrets_env_free().
 * A value that does not decrypt fails the whole call with the message of
 * nsh_secrets_get(), naming that secret: a job never runs with a secret
 * silently missing. The key is only read when a secret matches.
 */
int nsh_secrets_for_scope(struct nsh_secrets *v, const char *org, const char *repo,
			  const char *task, struct nsh_secrets_env **ret, struct nsh_err *err);

/** Wipe and free @env. NULL ok. */
void nsh_secrets_env_free(struct nsh_secrets_env *env);

/* ---- the redactor ---- */

#define NSH_REDACT_MIN_VALUE	4	      /* shorter values are not registered */
#define NSH_REDACT_MAX_PATTERNS (8u << 20)    /* bytes of all encoded forms together */
#define NSH_REDACT_MARKER	"[secret:%s]" /* what replaces a value */

/* One secret to redact: borrowed by nsh_redactor_new() only during the call. */
struct nsh_redact_secret {
	const char *name;  /* shown in the marker "[secret:NAME]" */
	const void *value; /* the plaintext */
	size_t len;	   /* bytes in value */
};

struct nsh_redactor;	  /* an immutable multi-pattern matcher */
struct nsh_redact_stream; /* redaction of one stream, chunk by chunk */

/**
 * Build a redactor for @n secrets. Each value of at least
 * NSH_REDACT_MIN_VALUE bytes is registered in these forms: the raw bytes;
 * standard base64 with and without '=' padding; percent-encoding of every
 * byte outside [A-Za-z0-9-._~] with upper-case and with lower-case hex
 * digits, and the form encoding with '+' for spaces; lower-case and
 * upper-case hex. Shorter values are skipped (they would match everywhere)
 * and counted in *@ret_skipped (may be NULL). When two secrets share a
 * form, the first one's name is used. All forms are matched by one
 * Aho-Corasick automaton; overlapping matches resolve leftmost-longest.
 * NSH_ETOOBIG when the forms together exceed NSH_REDACT_MAX_PATTERNS
 * bytes. The redactor holds secret-derived data: free it with
 * nsh_redactor_free(), which wipes it.
 */
int nsh_redactor_new(const struct nsh_redact_secret *secrets, size_t n, struct nsh_redactor **ret,
		     size_t *ret_skipped, struct nsh_err *err);

/** A redactor for the pairs of @env (see nsh_redactor_new()). */
int nsh_redactor_from_env(const struct nsh_secrets_env *env, struct nsh_redactor **ret,
			  struct nsh_err *err);

/** Wipe and free @r. NULL ok. Streams made from @r must be freed first. */
void nsh_redactor_free(struct nsh_redactor *r);

/** How many secrets @r registered (values long enough). */
size_t nsh_redactor_secrets(const struct nsh_redactor *r);

/**
 * Append @len bytes of @in to @out with every registered form of every
 * value replaced by "[secret:NAME]". Text without secrets is copied
 * unchanged. NSH_ETOOBIG when @out's cap is hit; @out then holds a
 * redacted prefix of the output, never unredacted secret bytes.
 */
int nsh_redact_buf(const struct nsh_redactor *r, const void *in, size_t len, struct nsh_buf *out,
		   struct nsh_err *err);

/**
 * A stream over @r, which must outlive it. Feeding the text in chunks of
 * any sizes gives exactly the output nsh_redact_buf() gives for the whole
 * text: a value split across chunks is still found. Up to the length of
 * the longest form is held back until the next chunk or the finish.
 */
struct nsh_redact_stream *nsh_redact_stream_new(const struct nsh_redactor *r);

/**
 * Feed @len bytes and append to @out the output that is final so far.
 * After an error (NSH_ETOOBIG at @out's cap) the stream refuses further
 * input with the same error.
 */
int nsh_redact_stream_write(struct nsh_redact_stream *s, const void *in, size_t len,
			    struct nsh_buf *out, struct nsh_err *err);

/**
 * End of input: append the rest of the output to @out. The stream is then
 * ready for a new text.
 */
int nsh_redact_stream_finish(struct nsh_redact_stream *s, struct nsh_buf *out, struct nsh_err *err);

/** Wipe (it may hold part of a value) and free @s. NULL ok. */
void nsh_redact_stream_free(struct nsh_redact_stream *s);

/* Where a secret value occurs in a scanned text; never the value itself. */
struct nsh_redact_hit {
	char *name;	  /* the secret's name */
	size_t line;	  /* 1-based line of the text where the occurrence starts */
	char *file;	  /* in a unified diff: the file's path (no "a/"/"b/"), else NULL */
	size_t file_line; /* in a diff hunk: line in that file, else 0 */
	char side;	  /* in a diff hunk: '+' (new side), '-' (old side) or ' ', else 0 */
};

struct nsh_redact_hits {
	struct nsh_redact_hit *v; /* in text order */
	size_t nr;		  /* hits */
	size_t alloc;		  /* slots allocated */
};

/**
 * Find every occurrence (as nsh_redact_buf() would replace them) of a
 * registered form in @len bytes of @text and append one hit per secret
 * and line to @ret. When @text is a unified diff ("diff --git", "---",
 * "+++", "@@ -a,b +c,d @@" hunks), hits inside a hunk also get the file and
 * the line in it: the new side for '+' and context lines, the old side for
 * '-' lines. This is the check that keeps a job's diff with a secret from
 * becoming a pull request. Free with nsh_redact_hits_release().
 */
int nsh_redact_scan(const struct nsh_redactor *r, const char *text, size_t len,
		    struct nsh_redact_hits *ret, struct nsh_err *err);

/** Free the hits and the array. NULL ok. */
void nsh_redact_hits_release(struct nsh_redact_hits *h);

#endif
