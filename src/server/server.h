/*
 * The daemon's HTTP side: the JSON API, Server-Sent Events and the web UI
 * embedded in the binary (docs/api.md, docs/web.md), served with
 * libmicrohttpd.
 *
 * Every endpoint except the health check and the static files of the UI
 * needs the bearer token of the home directory ($NIGHTSHIFT_HOME/token,
 * created with mode 0600 on the first start). The token travels in the
 * Authorization header only: there is no cookie, so another site cannot
 * make a browser act with it. The forge's repositories under /git/ (git's
 * smart HTTP protocol, git_http.c) take the same token as a Basic password
 * too, since that is what git sends.
 *
 * A running daemon announces itself in $NIGHTSHIFT_HOME/serve.json (its
 * URL and process id, mode 0600) so that clients on the host can find it;
 * the file is removed when the server stops.
 *
 * Thread rules: nsh_server_start() and nsh_server_stop() are called from
 * one thread; requests are served on libmicrohttpd's threads, each with a
 * store handle of its own taken from a pool.
 */
#ifndef NSH_SERVER_SERVER_H
#define NSH_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_err;
struct nsh_pipeline;

#define NSH_SERVER_DEFAULT_LISTEN "127.0.0.1:7700"
#define NSH_SERVER_TOKEN_FILE	  "token"
#define NSH_SERVER_INFO_FILE	  "serve.json"
#define NSH_SERVER_MAX_BODY	  (1u << 20) /* default cap on a request body, bytes */
#define NSH_SERVER_RATE		  200	     /* default requests per second per client address */

struct nsh_server_config {
	const char *home;    /* $NIGHTSHIFT_HOME (exists); token, forge and serve.json live here */
	const char *db_path; /* the store */
	const char *listen;  /* "ADDR:PORT" ("[::1]:PORT" for IPv6); NULL for the default;
				port 0 picks a free one */
	bool allow_remote;   /* accept a listen address that is not loopback */
	size_t max_body;     /* cap on request bodies; 0 for NSH_SERVER_MAX_BODY */
	int rate;	     /* requests per second per client address (burst: twice as
				many); 0 for NSH_SERVER_RATE, negative for no limit */
	const struct nsh_pipeline *pipeline; /* the scheduler's steps, to show job progress;
						may be NULL */
	bool write_info;		     /* write serve.json (the daemon; not tests) */
	bool scheduler;			     /* a scheduler runs in this process (health) */
	const struct nsh_config *config;     /* borrowed, outlives the server; may be NULL */
};

struct nsh_server;

/**
 * Start serving on the configured address (threads of its own; the call
 * returns once the socket listens). The configuration is copied. Errors:
 * NSH_EINVAL for a malformed listen address, NSH_EDENIED for one that is
 * not loopback without allow_remote, NSH_EIO when the address cannot be
 * bound (the message names it), store and token errors.
 */
int nsh_server_start(const struct nsh_server_config *cfg, struct nsh_server **ret,
		     struct nsh_err *err);

/** The port the server listens on (useful with port 0). */
uint16_t nsh_server_port(const struct nsh_server *srv);

/** "http://127.0.0.1:7700" (borrowed, lives as long as the server). */
const char *nsh_server_url(const struct nsh_server *srv);

/**
 * Stop serving: end open event streams, wait for requests in progress,
 * remove serve.json and free everything. NULL ok.
 */
void nsh_server_stop(struct nsh_server *srv);

/**
 * The API token of @home: read from @home/token, or made (32 random bytes
 * as 64 hex digits) and written with mode 0600 when the file is missing.
 * *@ret gets a copy the caller frees. NSH_EINVAL for a file that holds no
 * valid token (fewer than 32 or more than 256 characters, or others than
 * letters, digits, '-', '_' and '.').
 */
int nsh_server_token(const char *home, char **ret, struct nsh_err *err);

/* A running daemon, as read from serve.json. */
struct nsh_server_info {
	char *url;	    /* "http://127.0.0.1:7700" */
	int64_t pid;	    /* its process id */
	int64_t started_ms; /* when it started */
};

void nsh_server_info_release(struct nsh_server_info *i);

/**
 * Find the daemon serving @home: NSH_ENOTFOUND "no daemon is running" when
 * serve.json is missing or names a process that is gone; NSH_EINVAL for a
 * malformed file. Clients then read the token with nsh_server_token().
 */
int nsh_server_find(const char *home, struct nsh_server_info *ret, struct nsh_err *err);

#endif
