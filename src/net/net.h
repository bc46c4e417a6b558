/*
 * Network levels of a sandbox (DESIGN.md section 5) and the egress proxy
 * that enforces them.
 *
 * Three parts:
 *   - the policy: which host names a level allows, and which addresses are
 *     never reached (policy.c);
 *   - the HTTP request-head parser the proxy runs on untrusted input
 *     (http.c);
 *   - the proxy: an event-loop thread that serves listening sockets handed
 *     to it (typically one inside each sandbox's network namespace), decides
 *     on the requested host name, resolves the name itself, refuses private
 *     addresses and relays bytes with splice() (proxy.c).
 *
 * docs/network.md describes the rules for users.
 *
 * Thread rules: policy and parser functions keep no state and are
 * thread-safe on distinct objects; a policy belongs to one thread at a time
 * (the proxy takes a copy). The proxy's own rules are at its functions.
 */
#ifndef NSH_NET_NET_H
#define NSH_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "core/vec.h"

struct nsh_err;
struct sockaddr;

enum nsh_net_level {
	NSH_NET_NONE,	     /* own namespace, loopback only */
	NSH_NET_INTEGRATION, /* the code host only */
	NSH_NET_COMMON,	     /* + package registries */
	NSH_NET_OPEN,	     /* any public host */
	NSH_NET_CUSTOM,	     /* an allowlist */
};

/** Parse "none", "integration", "common", "open" or "custom"; NSH_EINVAL names the text. */
int nsh_net_level_parse(const char *s, enum nsh_net_level *ret, struct nsh_err *err);
/** The name of @l ("unknown" when out of range). */
const char *nsh_net_level_name(enum nsh_net_level l);

/* ------------------------------------------------------------------ policy */

/*
 * What a sandbox may reach. Every list holds host patterns: an exact host
 * name, or "*.example.com", which matches sub.example.com and
 * a.b.example.com but not example.com itself. Names compare
 * case-insensitively after one trailing dot is stripped. IP literals are
 * never allowed, at any level.
 */
struct nsh_net_policy {
	enum nsh_net_level level;	  /* which lists apply, see nsh_net_policy_allows() */
	struct nsh_strvec forge_hosts;	  /* integration and common: the configured code hosts */
	struct nsh_strvec registry_hosts; /* common: package registries */
	struct nsh_strvec allow;	  /* custom: the allowlist */
	struct nsh_strvec allow_private;  /* "host:port" that may resolve to private addresses */
};

/**
 * Initialise caller storage for @level with the default lists: forge_hosts
 * gets GitHub's hosts (github.com, api.github.com, codeload.github.com,
 * objects.githubusercontent.com), registry_hosts the common registries
 * (npm, PyPI, Maven Central, crates.io, the Go proxy); allow and
 * allow_private start empty. Release with nsh_net_policy_release().
 */
void nsh_net_policy_init(struct nsh_net_policy *p, enum nsh_net_level level);

/** Free the lists (the level is kept). NULL ok. */
void nsh_net_policy_release(struct nsh_net_policy *p);

/** Initialise @dst as a deep copy of @src; release @dst on its own. */
void nsh_net_policy_copy(struct nsh_net_policy *dst, const struct nsh_net_policy *src);

/**
 * Check @pattern ("host.name" or "*.suffix.name") and append its normalised
 * form (lower case, no trailing dot) to @p->allow. NSH_EINVAL "invalid allow
 * pattern '...'" with the reason for anything else: IP literals, ports, a
 * '*' anywhere but a leading "*.", empty labels, bad characters.
 */
int nsh_net_policy_add_allow(struct nsh_net_policy *p, const char *pattern, struct nsh_err *err);

/**
 * Check "host:port" (a host name, not a pattern or an IP literal; a port
 * 1-65535) and append it normalised to @p->allow_private. NSH_EINVAL
 * "invalid allow_private entry '...'" otherwise. Meant for tests and local
 * development servers; the proxy reports each use in its decision.
 */
int nsh_net_policy_add_allow_private(struct nsh_net_policy *p, const char *hostport,
				     struct nsh_err *err);

/**
 * Check every entry of @p's lists (which callers may also fill directly)
 * and that the level is known. NSH_EINVAL names the first bad entry: "invalid
 * allow pattern '...'", "invalid forge host '...'", "invalid registry host
 * '...'", "invalid allow_private entry '...'".
 */
int nsh_net_policy_validate(const struct nsh_net_policy *p, struct nsh_err *err);

/**
 * The whole policy of a sandbox at @level, into @p (initialised, or
 * released and rebuilt): the --allow patterns @allow (may be NULL), for
 * "common" the host's own package registries, and the comma- or
 * space-separated host:port list @allow_private ([net] allow_private; may
 * be NULL), then validated. Errors as for the functions it calls.
 */
int nsh_net_policy_build(struct nsh_net_policy *p, enum nsh_net_level level,
			 const struct nsh_strvec *allow, const char *allow_private,
			 struct nsh_err *err);

/**
 * Add the registries that this host's own package managers are configured
 * with to @p->registry_hosts (each once): "registry=" and "@scope:registry="
 * URLs of npm's HOME/.npmrc, ROOT/etc/npmrc and ROOT/usr/etc/npmrc, and
 * "index-url" and "extra-index-url" URLs of pip's
 * HOME/.config/pip/pip.conf, HOME/.pip/pip.conf, ROOT/etc/pip.conf and
 * ROOT/etc/xdg/pip/pip.conf. @home NULL means $HOME (skipped when unset),
 * @root NULL means "/". Missing files are skipped; URLs that are not
 * http(s), name an IP literal or use ${VAR} are ignored. NSH_EDENIED,
 * NSH_EIO or NSH_ETOOBIG (over 1 MiB) name a file that exists but cannot
 * be read; @p may then hold hosts from the files read before.
 */
int nsh_net_policy_add_host_registries(struct nsh_net_policy *p, const char *home, const char *root,
				       struct nsh_err *err);

/**
 * Why @p refuses @host (a bare host name, without port or brackets), or
 * NULL when it allows it: "network level none", "ip literal", "invalid host
 * name" or "not in the allowlist". Levels: none allows nothing;
 * integration the forge hosts; common forge and registry hosts; open any
 * valid host name; custom the allow patterns. The string is static.
 */
const char *nsh_net_policy_refusal(const struct nsh_net_policy *p, const char *host);

/** True when @p allows @host: nsh_net_policy_refusal() is NULL. */
bool nsh_net_policy_allows(const struct nsh_net_policy *p, const char *host);

/** True when "@host:@port" is in @p->allow_private (host case-insensitive, one trailing dot
 * ignored). */
bool nsh_net_policy_private_ok(const struct nsh_net_policy *p, const char *host, int port);

/**
 * True when @host is an IP literal in any form a resolver or URL parser may
 * accept: dotted IPv4, IPv6 (bare or in brackets), or a name whose last
 * label is a decimal, octal or hexadecimal number ("2130706433",
 * "0x7f.1", "127.1", "017700000001"). One trailing dot is ignored.
 */
bool nsh_net_is_ip_literal(const char *host);

/**
 * The lower-case form of @host without one trailing dot, when it is a
 * valid host name (labels of letters, digits, '-' and '_', 1-63 bytes each,
 * at most 253 bytes in all) and not an IP literal; the caller frees it.
 * NSH_EINVAL names @host otherwise.
 */
int nsh_net_host_normalize(struct nsh_str host, char **ret, struct nsh_err *err);

/**
 * True when @sa must never be connected to from a sandbox: any family but
 * AF_INET and AF_INET6, and the IPv4 ranges 0.0.0.0/8, 10/8, 100.64/10
 * (CGNAT), 127/8, 169.254/16 (link-local, cloud metadata), 172.16/12,
 * 192.0.0.0/24, 192.168/16, 198.18/15 (benchmarking), 224/4 (multicast),
 * 240/4 (reserved, broadcast); IPv6 ::/96 (unspecified, loopback,
 * v4-compatible), 100::/64 (discard), 64:ff9b:1::/48, fc00::/7 (ULA),
 * fe80::/10 (link-local), fec0::/10 (site-local), ff00::/8 (multicast), and
 * IPv4 embedded in ::ffff:0:0/96 (v4-mapped), 64:ff9b::/96 (NAT64) and
 * 2002::/16 (6to4) when that IPv4 address is forbidden. NULL is forbidden.
 */
bool nsh_net_addr_forbidden(const struct sockaddr *sa);

/* ------------------------------------------------------ HTTP request head */

#define NSH_HTTP_HEAD_MAX    (16 * 1024) /* longest request head the proxy reads */
#define NSH_HTTP_MAX_HEADERS 100	 /* most header fields in one head */

struct nsh_http_header {
	struct nsh_str name;  /* field name as sent (compare case-insensitively) */
	struct nsh_str value; /* value without surrounding blanks */
};

/* A parsed request head; every view points into the parsed bytes. */
struct nsh_http_req {
	struct nsh_str method;				  /* e.g. "GET", "CONNECT" */
	struct nsh_str target;				  /* request target as sent */
	int minor;					  /* HTTP/1.minor: 0 or 1 */
	size_t nhdr;					  /* header fields in hdr */
	struct nsh_http_header hdr[NSH_HTTP_MAX_HEADERS]; /* in the order sent */
};

/**
 * Length of the request head at the start of @p (up to and including the
 * empty line that ends it: "\r\n\r\n", or a bare-LF variant that
 * nsh_http_parse_head() then refuses), or 0 when those @len bytes hold no
 * complete head yet. Thread-safe.
 */
size_t nsh_http_head_len(const char *p, size_t len);

/**
 * Parse the complete request head @p/@len (as measured by
 * nsh_http_head_len()) into @req, whose views point into @p. Strict HTTP/1.x:
 * "METHOD SP target SP HTTP/1.0|1 CRLF", then "name: value CRLF" fields
 * and an empty line; token names, no blank before the colon, no obs-fold,
 * no bare CR or LF, no NUL or other control characters except tab in
 * values, no control or non-ASCII bytes in the target. NSH_EINVAL with a
 * message naming the problem; NSH_ETOOBIG past NSH_HTTP_HEAD_MAX bytes or
 * NSH_HTTP_MAX_HEADERS fields. Thread-safe.
 */
int nsh_http_parse_head(const char *p, size_t len, struct nsh_http_req *req, struct nsh_err *err);

/**
 * The first header field named @name (case-insensitive) in @req, or NULL;
 * @ret_count (may be NULL) gets how many fields have that name.
 */
const struct nsh_http_header *nsh_http_req_header(const struct nsh_http_req *req, const char *name,
						  size_t *ret_count);

/**
 * Split an authority "host[:port]" (host may be "[v6]") into @ret_host (a
 * view into @s, brackets kept) and @ret_port. A missing port gives
 * @default_port, or NSH_EINVAL when @default_port is 0. NSH_EINVAL also for
 * an empty host, userinfo ("user@host"), a port outside 1-65535 and
 * characters that cannot be in a host.
 */
int nsh_http_parse_authority(struct nsh_str s, int default_port, struct nsh_str *ret_host,
			     int *ret_port, struct nsh_err *err);

/**
 * Split an absolute "http://authority/path?query" URI (scheme in any case)
 * into @ret_authority and @ret_path (views into @s; the path starts with '/'
 * or '?', or is empty, and stops before any '#'). NSH_EINVAL for another
 * scheme or a missing authority.
 */
int nsh_http_parse_uri(struct nsh_str s, struct nsh_str *ret_authority, struct nsh_str *ret_path,
		       struct nsh_err *err);

/* ------------------------------------------------------------------- proxy */

struct nsh_proxy;

/*
 * One decision of the proxy, or the end of an allowed connection. Strings
 * are borrowed for the duration of the callback only.
 */
struct nsh_proxy_decision {
	bool allowed;		  /* the connection goes (or went) ahead */
	bool done;		  /* false: the decision; true: an allowed connection ended */
	const char *host;	  /* requested host name as sent, "" when none could be read */
	int port;		  /* requested port, 0 when none could be read */
	enum nsh_net_level level; /* level of the listener's policy */
	const char *reason;	  /* "allowed", "not in the allowlist", "private address", ... */
	const char *addr;	  /* address connected to or refused ("" when none) */
	bool is_connect;	  /* a CONNECT tunnel, else a plain HTTP request */
	int status;		  /* the proxy's own answer (403, 502, 200...); 0: none */
	uint64_t bytes_up;	  /* done: bytes sent to the upstream */
	uint64_t bytes_down;	  /* done: bytes received from the upstream and relayed */
	bool private_allowed;	  /* a private address was allowed through allow_private */
};

/*
 * Event callback, run on the proxy thread: once per connection with the
 * decision (allowed or not), and for each allowed connection once more at
 * its end with done set and the byte counts. It must return quickly and
 * must not call nsh_proxy_* functions.
 */
typedef void nsh_proxy_event_fn(void *ctx, const struct nsh_proxy_decision *d);

/* Limits of one proxy; zero fields take the defaults named. */
struct nsh_proxy_limits {
	size_t head_max;	   /* request head bytes; default NSH_HTTP_HEAD_MAX */
	unsigned max_conns;	   /* connections per listener; default 256 */
	int64_t idle_ms;	   /* relay without traffic; default 5 minutes */
	int64_t head_ms;	   /* wait for a complete request head; default 30 s */
	int64_t connect_ms;	   /* resolve and connect upstream; default 10 s */
	unsigned resolver_threads; /* most getaddrinfo threads; default 8 */
};

/**
 * Start a proxy with default limits: its event-loop thread and, on demand,
 * resolver threads. Free it with nsh_proxy_free(). NSH_EIO when a thread or
 * descriptor cannot be made.
 */
int nsh_proxy_new(struct nsh_proxy **ret, struct nsh_err *err);

/** nsh_proxy_new() with @lim (NULL: defaults). */
int nsh_proxy_new_limits(struct nsh_proxy **ret, const struct nsh_proxy_limits *lim,
			 struct nsh_err *err);

/**
 * Serve the listening socket @listen_fd (a TCP socket already listening; it
 * may belong to another network namespace) with a copy of @pol, reporting
 * to @cb (may be NULL) with @ctx. Takes ownership of @listen_fd in every
 * case (closed on failure); it is made non-blocking. @ret_id gets the id for
 * nsh_proxy_unlisten(). NSH_EINVAL for an invalid policy (the message names
 * the entry), NSH_ECONFLICT when called on the proxy thread (from a
 * callback). Any thread but the proxy's may call it; it returns once the
 * listener is served.
 */
int nsh_proxy_listen(struct nsh_proxy *px, int listen_fd, const struct nsh_net_policy *pol,
		     nsh_proxy_event_fn *cb, void *ctx, uint64_t *ret_id, struct nsh_err *err);

/**
 * Close listener @id and every connection that came through it; the end
 * event of each allowed connection still open is delivered (reason
 * "unlisten") before this returns, and no callback for the listener runs
 * after it. NSH_ENOTFOUND for an unknown id, NSH_ECONFLICT on the proxy
 * thread. Any other thread may call it.
 */
int nsh_proxy_unlisten(struct nsh_proxy *px, uint64_t id, struct nsh_err *err);

/**
 * Stop the proxy thread, close every listener and connection without
 * further callbacks, and free @px. NULL ok. Not from the proxy thread. A
 * resolver thread stuck in getaddrinfo() finishes on its own and frees
 * what it shares.
 */
void nsh_proxy_free(struct nsh_proxy *px);

/* ----------------------------------------------------------------- journal */

/*
 * The journal turns proxy decisions into events of a job's log in the
 * store, so that every client (follow, the web UI, the API) sees them:
 *
 *   "net.blocked"  a refused request: host, port, level, reason, status,
 *                  addr, connect, and count (identical refusals that were
 *                  still waiting to be written are merged into one event);
 *   "net.allowed"  an allowed connection, written when it ends: host, port,
 *                  level, addr, connect, private_allowed, bytes_up,
 *                  bytes_down, and reason (how it ended: "closed", ...);
 *   "net.dropped"  count: decisions lost because the queue was full.
 *
 * The proxy thread only queues (a mutex and a copy, never the store); one
 * writer thread with its own store handle appends the events, a batch per
 * transaction. Host names and reasons pass the job's redactor first, since
 * a sandbox can put a secret into the name it asks for.
 */
struct nsh_net_journal;
struct nsh_net_journal_job;
struct nsh_redactor;

#define NSH_NET_JOURNAL_QUEUE_MAX 4096 /* decisions waiting to be written, all jobs */

/**
 * Open the store at @db_path (created and migrated as by nsh_store_open())
 * and start the writer thread. Free with nsh_net_journal_free(). Errors of
 * nsh_store_open(), or NSH_EIO when the thread cannot start.
 */
int nsh_net_journal_new(const char *db_path, struct nsh_net_journal **ret, struct nsh_err *err);

/**
 * A sink for the decisions of one job's sandbox: events go to task
 * @task_id and job @job_id (may be NULL: task-level events). @red (may be
 * NULL) redacts host names and reasons; it is borrowed and must outlive
 * the handle. Pass nsh_net_journal_record() and the handle as the proxy
 * callback and its context. Any thread.
 */
struct nsh_net_journal_job *nsh_net_journal_job_new(struct nsh_net_journal *j, const char *task_id,
						    const char *job_id,
						    const struct nsh_redactor *red);

/**
 * nsh_proxy_event_fn for a struct nsh_net_journal_job *@ctx: queue the
 * decision @d. A blocked decision becomes "net.blocked" (merged with a
 * queued identical one); an allowed one is recorded once, at its end
 * (done), as "net.allowed" with its byte counts. Never blocks on the store;
 * when the queue is full the decision is counted for "net.dropped". Any
 * thread.
 */
void nsh_net_journal_record(void *ctx, const struct nsh_proxy_decision *d);

/**
 * Wait until every decision queued before the call is written, and free
 * @jj. Call it once the proxy can no longer report for it (after the
 * sandbox is destroyed or its listener closed). Returns the first store
 * error met while writing this job's events (NSH_EIO and others, with the
 * message), else 0; @jj is freed in every case. NULL ok.
 */
int nsh_net_journal_job_free(struct nsh_net_journal_job *jj, struct nsh_err *err);

/**
 * Wait until every decision queued before the call is written. Returns the
 * first store error met since the previous sync, else 0. Not from the
 * writer thread (there is no way to reach it).
 */
int nsh_net_journal_sync(struct nsh_net_journal *j, struct nsh_err *err);

/**
 * Write what is queued, stop the writer and close its store handle. Every
 * job handle must be freed before. NULL ok.
 */
void nsh_net_journal_free(struct nsh_net_journal *j);

#endif
