/*
 * Internals shared by the GitHub files of the forge module: the client's
 * state (github_http.c, github_auth.c) and the backend's handle data
 * (github.c, github_poll.c, github_status.c). No other module includes it.
 */
#ifndef NSH_FORGE_GITHUB_INT_H
#define NSH_FORGE_GITHUB_INT_H

#include <curl/curl.h>

#include "forge/forge_int.h"
#include "forge/github.h"

struct nsh_github {
	struct nsh_github_opts o;	/* strings below are copies */
	char *api;			/* base URL without a trailing slash */
	char *token;			/* the configured token, or NULL */
	char *app_id;			/* the app, or NULL */
	char *key_path;			/* its private key file */
	char *inst_token;		/* the cached installation token, or NULL */
	int64_t inst_expires_s;		/* its expiry, epoch seconds */
	CURL *curl;			/* one easy handle, reused */
	struct nsh_github_cache *cache; /* GET answers by URL */
	int64_t limit_reset_s;		/* the primary limit is used up until then, 0: not */
	uint64_t requests;		/* requests sent */
	uint64_t cached;		/* 304s served from the cache */
};

/**
 * Mint (or take from the cache) the installation token of an app client;
 * see nsh_github_token(). github_auth.c.
 */
int nsh_github_app_token(struct nsh_github *gh, const char **ret, struct nsh_err *err);

/**
 * Send @method to @path (under the base) with the Authorization value
 * @auth (the app's JWT) and an empty JSON body for writes, outside the
 * cache and the write lock; the parsed answer goes to *@ret.
 */
int nsh_github_request_auth(struct nsh_github *gh, const char *method, const char *path,
			    const char *auth, json_t **ret, struct nsh_err *err);

/** Forget the cached installation token (after a 401). */
void nsh_github_app_token_drop(struct nsh_github *gh);

/** The forge handle's GitHub data (f->priv). */
struct nsh_forge_gh {
	struct nsh_github *gh;	      /* the client */
	const struct nsh_config *cfg; /* borrowed */
	char *askpass;		      /* the askpass script for git */
};

/** The GitHub data of @f, or NULL when @f is not a github forge. */
struct nsh_forge_gh *nsh_forge_gh_of(struct nsh_forge *f);

/**
 * Run "git ARGS..." (a NULL-terminated list) in @dir for a URL on GitHub,
 * with the token handed to git by the askpass script through the
 * environment (never in an argument or a URL). Errors as nsh_git().
 */
int nsh_forge_gh_git(struct nsh_forge *f, const char *dir, struct nsh_buf *out, struct nsh_err *err,
		     ...) __attribute__((sentinel));

/** "/repos/O/R" + @fmt..., for request paths. New string. */
char *nsh_forge_gh_path(const char *org, const char *repo, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
