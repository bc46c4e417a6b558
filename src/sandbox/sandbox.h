/*
 * The per-job sandbox (DESIGN.md section 5): an isolated little machine
 * built from kernel primitives, in which a job runs any number of commands
 * over its life.
 *
 * A sandbox is a pid-1 init process in new user, mount, pid, ipc, uts,
 * cgroup and network namespaces, over a root file system made of the host's
 * system directories read-only, the job workspace read-write at /workspace,
 * a private /tmp, a fresh /proc and a minimal /dev. Commands are started by
 * that init on request; each inherits no_new_privs, a Landlock ruleset
 * (where the kernel has Landlock) and a seccomp filter. Limits come from
 * cgroups (v2 where controllers are delegated, else v1), the workspace
 * quota from a loop-mounted ext4 image.
 *
 * Honesty rule: a policy that this host cannot enforce is refused with an
 * error naming what is missing; nothing is weakened silently.
 *
 * Thread rules: a sandbox handle belongs to one thread at a time.
 */
#ifndef NSH_SANDBOX_SANDBOX_H
#define NSH_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/vec.h"
#include "net/net.h"

struct nsh_err;

/*
 * The phases of a sandbox's life that nsh_sandbox_timing records, in the
 * order they happen, but for NSH_PHASE_C_SYSDIRS, which runs in the child
 * while the supervisor writes the id maps. The child's phases are measured
 * in the child with the monotonic clock (shared: no time namespace).
 */
enum nsh_sandbox_phase {
	NSH_PHASE_CGROUP,     /* create: the cgroups made (or taken from the pool), limits set */
	NSH_PHASE_CLONE,      /* clone3 into the namespaces, born in the cgroups */
	NSH_PHASE_IDMAP,      /* uid/gid maps written */
	NSH_PHASE_WORKSPACE,  /* the idmapped workspace mount (as root) */
	NSH_PHASE_WAKE,	      /* GO sent until the child runs */
	NSH_PHASE_C_SYSDIRS,  /* child: mounts private, host system directories cloned */
	NSH_PHASE_C_IDS,      /* child: became root of its user namespace */
	NSH_PHASE_C_ROOT,     /* child: root tmpfs, system directories, hide, /workspace */
	NSH_PHASE_C_TMP_PROC, /* child: /tmp and /proc */
	NSH_PHASE_C_DEV,      /* child: /dev */
	NSH_PHASE_C_PIVOT,    /* child: root read-only, pivot_root, old root detached */
	NSH_PHASE_C_NET,      /* child: host name, loopback, proxy listener */
	NSH_PHASE_C_HARDEN,   /* child: fds closed, non-dumpable, setsid, no_new_privs */
	NSH_PHASE_C_LANDLOCK, /* child: Landlock ruleset */
	NSH_PHASE_C_SECCOMP,  /* child: seccomp filter loaded */
	NSH_PHASE_READY,      /* READY sent until the supervisor has it */
	NSH_PHASE_EXEC_START, /* last command: RUN sent until STARTED (vfork + execve inside) */
	NSH_PHASE_EXEC_RUN,   /* last command: STARTED until its end is reported and drained */
	NSH_PHASE_KILL,	      /* destroy: init killed and reaped, namespaces gone */
	NSH_PHASE_CGROUP_RM,  /* destroy: cgroups emptied and removed */
	NSH_PHASE_NR
};

/* Nanoseconds spent in each phase; filled when a policy asks for it. */
struct nsh_sandbox_timing {
	int64_t ns[NSH_PHASE_NR]; /* indexed by enum nsh_sandbox_phase; 0: not measured */
};

/** A short name for @phase, such as "clone" or "child: /dev". Static storage. */
const char *nsh_sandbox_phase_name(int phase);

/*
 * Where a sandbox with network beyond 'none' reaches the egress proxy: a
 * listener on its own loopback, served by the supervisor.
 */
#define NSH_SANDBOX_PROXY_PORT 3128

/* Host uid/gid that root inside a sandbox maps to when nightshift runs as root. */
#define NSH_SANDBOX_ID_BASE  200000u
#define NSH_SANDBOX_ID_COUNT 65536u

struct nsh_sandbox_policy {
	const char *workspace;	    /* host directory bound read-write at /workspace (required) */
	const char *state_dir;	    /* host directory for the sandbox's own files (required) */
	const char *hide;	    /* a host path never reachable inside (e.g. $NIGHTSHIFT_HOME) */
	uint64_t memory;	    /* bytes; 0: no limit */
	uint64_t pids;		    /* processes; 0: no limit */
	double cpus;		    /* CPUs; 0: no limit */
	uint64_t disk;		    /* bytes of workspace; 0: no quota (else needs an empty one) */
	int64_t timeout_ms;	    /* wall-clock life of the sandbox; 0: none */
	enum nsh_net_level network; /* NSH_NET_NONE: loopback only; else through @proxy */
	struct nsh_proxy *proxy;    /* serves the sandbox's listener when network != none */
	const struct nsh_net_policy *net; /* what the proxy allows (copied) */
	nsh_proxy_event_fn *on_net; /* each proxy decision, on the proxy thread; may be NULL */
	void *on_net_ctx;	    /* for @on_net */
	const char *hostname;	    /* NULL: "nightshift" */
	/*
	 * When set, the durations of create, of each exec (the last one wins)
	 * and of destroy are written here. Borrowed: it must outlive the
	 * sandbox, and be read only by the thread that owns the sandbox.
	 */
	struct nsh_sandbox_timing *timing;
	bool no_pool; /* never from the pool of prepared sandboxes (see nsh_sandbox_pool_stats()) */
};

struct nsh_sandbox;

/**
 * Build a sandbox for @pol. Its init is running and takes commands when
 * this returns. NSH_EDENIED when the host cannot enforce part of the
 * policy (the message names it), NSH_EINVAL for a bad policy. The caller
 * ends it with nsh_sandbox_destroy().
 *
 * A sandbox from the pool with network none may still be finishing (its
 * workspace, /tmp, Landlock, seccomp) when this returns: its first
 * command starts only after that, and a failure to finish is the error
 * of that first nsh_sandbox_exec() ("cannot build the sandbox: ...").
 */
int nsh_sandbox_create(const struct nsh_sandbox_policy *pol, struct nsh_sandbox **ret,
		       struct nsh_err *err);

/* One command to run inside; the result fields are filled by nsh_sandbox_exec(). */
struct nsh_sandbox_cmd {
	struct nsh_strvec argv; /* program (looked up in the sandbox PATH) and arguments */
	struct nsh_strvec env;	/* "K=V" added to the sandbox's base environment */
	const char *cwd;	/* directory inside the sandbox; NULL: /workspace */
	int64_t timeout_ms;	/* 0: none; on expiry the command's processes are killed */
	/*
	 * Standard streams. With @inherit_stdio the command uses the caller's
	 * fds 0, 1 and 2; otherwise stdin gets @in and stdout/stderr are
	 * captured into @out/@err up to @out_max bytes each.
	 */
	bool inherit_stdio;
	const char *in;	    /* bytes for stdin (borrowed); NULL: empty */
	size_t in_len;	    /* length of @in */
	size_t out_max;	    /* cap per captured stream; 0: 1 MiB */
	struct nsh_buf out; /* captured stdout */
	struct nsh_buf err; /* captured stderr */
	bool out_truncated; /* stdout passed out_max */
	bool err_truncated; /* stderr passed out_max */
	/* results */
	int exit_code;	    /* exit status, or -1 when killed by a signal */
	int term_signal;    /* signal that ended it, 0 if it exited */
	bool timed_out;	    /* killed by @timeout_ms */
	struct rusage ru;   /* usage of the command and its reaped children */
	int64_t elapsed_ms; /* wall time */
};

void nsh_sandbox_cmd_init(struct nsh_sandbox_cmd *c);
void nsh_sandbox_cmd_release(struct nsh_sandbox_cmd *c);

/**
 * Run @c inside @sb and wait for it. Returns 0 when the command ran,
 * whatever its status; an error when it could not be started (the message
 * names the program) or the sandbox is gone. When the command exits, what
 * is left of its processes is killed.
 */
int nsh_sandbox_exec(struct nsh_sandbox *sb, struct nsh_sandbox_cmd *c, struct nsh_err *err);

/** Freeze every process of the sandbox / let them run again. */
int nsh_sandbox_pause(struct nsh_sandbox *sb, struct nsh_err *err);
int nsh_sandbox_resume(struct nsh_sandbox *sb, struct nsh_err *err);

/** Kill every process of the sandbox; it cannot run commands afterwards. */
int nsh_sandbox_kill(struct nsh_sandbox *sb, struct nsh_err *err);

struct nsh_sandbox_usage {
	uint64_t memory_peak;	/* bytes, from the memory cgroup; 0 when unknown */
	uint64_t cpu_usec;	/* CPU time of all its processes */
	uint64_t disk_used;	/* bytes used in the workspace */
	uint64_t oom_kills;	/* processes killed for memory */
	uint64_t pids_max_hits; /* forks refused by the pids limit */
};

int nsh_sandbox_usage(struct nsh_sandbox *sb, struct nsh_sandbox_usage *ret, struct nsh_err *err);

/**
 * How the sandbox's limits are enforced, e.g. "memory: v1, pids: v1, ...",
 * with any weaker fallback named ("memory: rlimit RLIMIT_AS ... (weaker
 * ...)"). Borrowed; valid until destroy.
 */
const char *nsh_sandbox_guarantees(const struct nsh_sandbox *sb);

/** The host pid of the sandbox's init (for tests and reports). */
pid_t nsh_sandbox_init_pid(const struct nsh_sandbox *sb);

/**
 * Kill everything, unmount, remove the cgroups, loop device and state
 * files, and free @sb. The workspace directory itself is kept (its
 * contents too, unless it lived on a quota image). NULL ok. For a sandbox
 * from the pool, every process of it has been sent SIGKILL on return, and
 * the reaping and cgroup removal finish on the pool's thread
 * (nsh_sandbox_pool_settle() waits for them).
 */
int nsh_sandbox_destroy(struct nsh_sandbox *sb, struct nsh_err *err);

/*
 * The pool of prepared sandboxes. Once started (nsh_sandbox_pool_start(),
 * by the daemon), a thread of the process keeps NSH_SANDBOX_POOL (default
 * 2, at most 4; 0 turns it off) sandboxes built
 * up to their workspace: cgroups made (no limits yet), namespaces cloned,
 * ids mapped, root file system, /dev and pivot_root done, the init
 * hardened and waiting. nsh_sandbox_create() takes one when the policy
 * allows it (network none, no disk quota, no CPU limit, no timing, the
 * @hide the pool was started for, @no_pool unset) and
 * finishes it: limits written, the workspace attached at /workspace, /tmp,
 * host name, Landlock and seccomp; else, or when none is ready, it builds
 * one as before. nsh_sandbox_destroy() of a pooled sandbox kills it and
 * leaves the reaping of its init and the removal of its cgroups to that
 * thread. At exit (atexit) the prepared and queued ones are reaped;
 * after a crash nsh_sandbox_cleanup_stale() finds their cgroups
 * ("<pid>.pool-<n>") like any other.
 */
struct nsh_sandbox_pool_stats {
	size_t size;	   /* how many it keeps prepared */
	size_t ready;	   /* prepared now */
	size_t reaping;	   /* destroyed sandboxes not yet reaped */
	uint64_t prepared; /* sandboxes prepared so far */
	uint64_t taken;	   /* creates served from the pool */
	uint64_t missed;   /* creates it could serve but found it empty */
	uint64_t flushed;  /* prepared ones killed by flushes: they held an unmounted file system */
	uint64_t cgroups_reused; /* reaped ones whose cgroups went to the next (nsh_cgroup_reuse())
				  */
};

/**
 * Start this process's pool of prepared sandboxes, for policies whose
 * @hide is @hide (copied; NULL: none). Size from NSH_SANDBOX_POOL (0 to 4,
 * default 2; 0: no pool). Without root there is no pool either (0
 * returned). Once per process: later calls do nothing. NSH_EINVAL for a bad
 * NSH_SANDBOX_POOL. Any thread. The pool lives until the process exits.
 */
int nsh_sandbox_pool_start(const char *hide, struct nsh_err *err);

/** The pool's figures; false (and zeros) when there is no pool (yet). Any thread. */
bool nsh_sandbox_pool_stats(struct nsh_sandbox_pool_stats *ret);

/**
 * Wait, at most @timeout_ms, until the pool is full and every destroyed
 * sandbox is reaped (its init gone, its cgroups removed). True when so,
 * or when there is no pool. For tests, benchmarks and a clean shutdown.
 */
bool nsh_sandbox_pool_settle(int timeout_ms);

/**
 * Remove what a crashed run left: cgroups of dead owners, mounts and loop
 * devices of images under @work_dir. Call once at start-up.
 */
int nsh_sandbox_cleanup_stale(const char *work_dir, struct nsh_err *err);

#endif
