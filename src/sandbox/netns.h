/*
 * A pool of ready network namespaces for sandboxes.
 *
 * Making a network namespace is the dearest part of a sandbox's clone
 * (about 0.35 ms of 0.45 ms here: loopback set-up and RCU work in the
 * kernel). A pool makes them ahead of time on a thread of its own, so that
 * a spawn only joins one (setns, a few microseconds).
 *
 * Each namespace of the pool has only loopback, already up, and
 * net.ipv4.ip_unprivileged_port_start 0, so that a job may listen on any
 * port as before. It is owned by the initial user namespace, not by the
 * sandbox's: root inside the sandbox has no capability over it (it cannot
 * change addresses, routes or sysctls), which denies more than a namespace
 * made by the clone itself.
 *
 * Making a namespace stalls other tasks of the machine for a while:
 * setsid() (which the sandbox's init calls) waited up to
 * 3 ms here while another thread made namespaces (p90 0.07 -> 3 ms). So
 * the filler makes none while a sandbox is being set up, started or torn
 * down (nsh_netns_pool_hold()), nor within NSH_NETNS_POOL_QUIET_MS after.
 *
 * A namespace is handed out as the only reference the pool had (an nsfs
 * descriptor); it ends when the last process in it (and the last
 * descriptor) is gone, unless it is given back (nsh_netns_pool_give()) and
 * found unused, which spares the kernel's making and tearing down of one
 * (about a fifth of a sandbox's CPU). Making namespaces needs CAP_SYS_ADMIN in the
 * initial user namespace: without it there is no pool and sandboxes make
 * their own.
 *
 * Thread rules: every function may be called from any thread; a pool is
 * freed once, when no other call on it is running.
 */
#ifndef NSH_SANDBOX_NETNS_H
#define NSH_SANDBOX_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct nsh_err;
struct nsh_netns_pool;

/* Namespaces kept ready by the process-wide pool of nsh_netns_pool_default(). */
#define NSH_NETNS_POOL_SIZE 4
/* How long the filler waits after the last hold ended. */
#define NSH_NETNS_POOL_QUIET_MS 2

/**
 * Make a pool that keeps @size (1..64) namespaces ready, filled by a
 * thread it starts. Checks first that this process may make one (it makes
 * the first namespace itself): NSH_EDENIED when it may not, NSH_EINVAL for
 * a bad @size. The caller frees the pool with nsh_netns_pool_free().
 */
int nsh_netns_pool_new(size_t size, struct nsh_netns_pool **ret, struct nsh_err *err);

/**
 * Take a ready namespace: returns an O_CLOEXEC nsfs descriptor that the
 * caller owns (and closes once a process has joined the namespace), or a
 * negative NSH_E* code. When none is ready, one is made on the calling
 * thread (its own network namespace is back as it was on return). The
 * filler thread is woken to make up the loss.
 */
int nsh_netns_pool_take(struct nsh_netns_pool *p, struct nsh_err *err);

/**
 * Hold the filler off (@on true) or let it go again (false), around work
 * that the making of a namespace would slow down. Holds nest (a count);
 * every hold must be released. A take while the pool is empty still makes
 * one at once, on the caller's thread.
 */
void nsh_netns_pool_hold(struct nsh_netns_pool *p, bool on);

/**
 * Give back the namespace @fd (an nsfs descriptor; the pool owns it now)
 * once no process is left in it. The filler reads the namespace's socket
 * tables: with no socket left in any (no connection in TIME_WAIT either),
 * it is ready again as a new one would be: only loopback, up, and nothing
 * that root inside a sandbox could have changed. Otherwise it is closed,
 * and so is one given back while twice the pool's size are ready (the
 * filler makes none while the pool is full).
 */
void nsh_netns_pool_give(struct nsh_netns_pool *p, int fd);

/**
 * Whether the namespace @fd has no socket of any kind left; false when it
 * cannot be told. Read on the calling thread, which joins the namespace
 * for it and is back in its own on return. The namespace's sockstat
 * counts: "sockets: used" every socket a process made (of any family,
 * until freed: a unix socket kept alive by descriptors in flight, or a
 * closed connection still shutting down, counts too), and "tw" its
 * connections in TIME_WAIT.
 */
bool nsh_netns_unused(int fd);

/** How many given-back namespaces were ready again (for tests and reports). */
size_t nsh_netns_pool_reused(struct nsh_netns_pool *p);

/** How many namespaces are ready now (for tests and reports). */
size_t nsh_netns_pool_ready(struct nsh_netns_pool *p);

/**
 * Wait until the pool holds its full number of namespaces and every one
 * given back is checked, at most @timeout_ms. True when it does. For
 * tests and warm-up.
 */
bool nsh_netns_pool_wait_full(struct nsh_netns_pool *p, int timeout_ms);

/** Stop the filler thread and close every namespace still held. NULL ok. */
void nsh_netns_pool_free(struct nsh_netns_pool *p);

/**
 * The process-wide pool used by nsh_sandbox_create(), made on first use;
 * NULL when this process cannot make network namespaces (not root), or
 * when NSH_SANDBOX_NETNS_POOL=0 is in the environment (to compare). Never
 * freed: its thread and namespaces end with the process.
 */
struct nsh_netns_pool *nsh_netns_pool_default(void);

#endif
