/*
 * Per-sandbox control groups: resource limits (memory, pids, cpu), usage
 * figures, freeze/thaw and kill, across the cgroup v2 tree and the v1
 * hierarchies of hybrid hosts.
 *
 * A sandbox named N created by process P lives at
 * "<hierarchy>/<P's own cgroup>/nightshift/P.N" in every hierarchy it uses,
 * so that its limits nest under whatever limits P itself runs with and a
 * later run can tell leftovers of a dead owner (nsh_cgroup_cleanup_stale()).
 *
 * For each resource the v2 tree is preferred when its controller is enabled
 * there (or can be enabled in P's own cgroup.subtree_control), then the v1
 * hierarchy of that controller; a limit that neither can enforce is refused,
 * never dropped. The v2 tree is always joined when it is writable, for
 * cgroup.freeze, cgroup.kill, cpu.stat and clone3(CLONE_INTO_CGROUP), even
 * when no controller is enabled in it. On pure v2 hosts the owner's own
 * cgroup must allow enabling controllers below it: a non-root cgroup that
 * holds processes cannot (the "no internal processes" rule), so a daemon
 * under systemd needs Delegate=yes and to move itself into a leaf first.
 *
 * All functions need write access to the cgroup file systems (root, or a
 * delegated subtree). Thread rules: a struct nsh_cgroup belongs to one
 * thread at a time; different sandboxes may be handled concurrently.
 */
#ifndef NSH_SANDBOX_CGROUP_H
#define NSH_SANDBOX_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct nsh_err;

/* How long freeze/thaw waits for the cgroup to reach the state. */
#define NSH_CGROUP_FREEZE_WAIT_MS 2000
/* How long kill (and destroy) waits for the cgroup to become empty. */
#define NSH_CGROUP_KILL_WAIT_MS 5000

struct nsh_cgroup_limits {
	uint64_t memory; /* bytes, 0: none; swap is disabled too where possible */
	uint64_t pids;	 /* tasks (processes and threads), 0: none */
	double cpus;	 /* CPUs as quota/period (1.5: 150 ms per 100 ms), 0: none */
};

struct nsh_cgroup_usage {
	uint64_t
		memory_peak; /* bytes: v2 memory.peak or v1 memory.max_usage_in_bytes; 0: unknown */
	uint64_t cpu_usec;   /* v2 cpu.stat usage_usec or v1 cpuacct.usage / 1000; 0: unknown */
	uint64_t pids_current;	/* tasks now (pids.current, else threads of the sandbox's cgroup) */
	uint64_t oom_kills;	/* processes killed by the OOM killer inside the sandbox */
	uint64_t pids_max_hits; /* forks refused by the pids limit; 0 without a pids controller */
};

/* The resources nsh_cgroup_via() reports on. */
enum nsh_cgroup_res {
	NSH_CGROUP_RES_MEMORY,	  /* memory limit and usage */
	NSH_CGROUP_RES_PIDS,	  /* pids limit and usage */
	NSH_CGROUP_RES_CPU,	  /* cpu bandwidth limit */
	NSH_CGROUP_RES_CPU_USAGE, /* cpu time used */
	NSH_CGROUP_RES_FREEZE,	  /* freeze and thaw */
	NSH_CGROUP_RES_KILL,	  /* kill everything */
	NSH_CGROUP_RES_NR
};

/* What serves a resource for one sandbox. */
enum nsh_cgroup_via {
	NSH_CGROUP_VIA_NONE,	/* unavailable (or not needed: no limit asked for) */
	NSH_CGROUP_VIA_V1,	/* a cgroup v1 hierarchy */
	NSH_CGROUP_VIA_V2,	/* the cgroup v2 tree */
	NSH_CGROUP_VIA_SIGNALS, /* kill only: SIGKILL to each member, repeated until empty */
};

/* One sandbox's cgroups across the v2 tree and the v1 hierarchies. */
struct nsh_cgroup;

/**
 * Create the cgroups of sandbox @name (letters, digits, '_', '-' and '.',
 * not starting with '.', at most 64 bytes) in every hierarchy it needs, set
 * the limits in @lim (NULL: none) and return the new handle in @ret, which
 * the caller releases with nsh_cgroup_destroy(). Besides the v2 tree, the
 * v1 hierarchies joined are: memory always (for usage figures) unless v2
 * has it, pids and cpu only for a limit, cpuacct when v2 has no cpu.stat,
 * freezer when v2 has no cgroup.freeze.
 *
 * Errors: NSH_EINVAL for a bad name or cpus outside 0.01 to 4096 (0: none);
 * NSH_EDENIED naming the limit when no hierarchy can enforce it;
 * NSH_EEXIST when this process already has a sandbox of that name;
 * NSH_EDENIED/NSH_EIO naming the path for file-system failures. On failure
 * nothing is left behind.
 */
int nsh_cgroup_create(const char *name, const struct nsh_cgroup_limits *lim,
		      struct nsh_cgroup **ret, struct nsh_err *err);

/**
 * As nsh_cgroup_create(), but the limits of @shape only choose the
 * hierarchies joined (as if they were asked for); none is written. For
 * cgroups made before their sandbox's limits are known (the sandbox pool):
 * nsh_cgroup_set_limits() writes them later.
 */
int nsh_cgroup_create_unset(const char *name, const struct nsh_cgroup_limits *shape,
			    struct nsh_cgroup **ret, struct nsh_err *err);

/**
 * Whether @cg was made with the host's cgroup layout as this process sees
 * it now: false once the layout was probed again since (a "nightshift"
 * directory vanished, or the test hook changed it), when a creation now
 * might choose other hierarchies. Any thread.
 */
bool nsh_cgroup_current(const struct nsh_cgroup *cg);

/**
 * Write the limits @lim into cgroups made by nsh_cgroup_create_unset().
 * NSH_EDENIED when a limit asked for has no hierarchy among those joined,
 * NSH_EINVAL for a bad CPU figure, else errors name the file. A memory limit
 * below what the members already use fails (the kernel refuses it).
 */
int nsh_cgroup_set_limits(struct nsh_cgroup *cg, const struct nsh_cgroup_limits *lim,
			  struct nsh_err *err);

/**
 * An O_DIRECTORY|O_CLOEXEC descriptor of the sandbox's v2 cgroup for
 * clone3(CLONE_INTO_CGROUP), or -1 when the v2 tree is not used. Borrowed:
 * valid until nsh_cgroup_destroy(). A process started that way still has to
 * be put into the v1 hierarchies: see nsh_cgroup_enter_v1().
 */
int nsh_cgroup_v2_fd(const struct nsh_cgroup *cg);

/**
 * Move process @pid into the sandbox: write it to cgroup.procs in every
 * hierarchy used, v2 included. Errors (NSH_ENOTFOUND when @pid is gone,
 * NSH_EIO, ...) name the file; the process may then be in some of the
 * hierarchies already, so the caller should kill it.
 */
int nsh_cgroup_attach(struct nsh_cgroup *cg, pid_t pid, struct nsh_err *err);

/**
 * Move the calling thread, and only it, into the sandbox's v1 cgroups, so
 * that a process it starts before nsh_cgroup_leave_v1() is born in them.
 * This is cheaper than nsh_cgroup_attach() after the start: the kernel moves
 * a thread that moves itself without its process-wide lock, while a pid
 * written to cgroup.procs can wait for an RCU grace period (with it, the p90
 * of bench/sandbox_spawn was 11.4 ms; without, 4.5 ms). Does nothing on a
 * pure v2 host. On failure the thread is back where it was.
 *
 * Thread rules: the thread must call nsh_cgroup_leave_v1() before anything
 * else; while inside, killing the sandbox would kill this process too.
 */
int nsh_cgroup_enter_v1(struct nsh_cgroup *cg, struct nsh_err *err);

/**
 * Settle the calling thread, for good, in "<own cgroup>/nightshift" of the
 * v1 cpu hierarchy, so that the sandboxes it starts are born there; done
 * once per thread, and only where it matters: scheduler autogroups are on
 * and this process sits in the root cgroup of a v1 cpu hierarchy.
 *
 * Why: in the root cpu cgroup every setsid() (the sandbox's init calls it)
 * puts the caller into a new autogroup, and the kernel reschedules it as a
 * newcomer; on a busy host each such move, and each later wake-up across
 * groups between the supervisor and the init, waited for a turn of the
 * other groups (bench/sandbox_spawn under two busy loops: 18.4 ms median
 * per sandbox, 4.6 ms once settled). Outside the root cpu cgroup the
 * kernel makes no autogroups. The thread and its sandboxes then share one
 * cpu group, which has no limit; a sandbox with a CPU limit still gets its
 * own cpu cgroup below it. leave_v1 brings the thread back there.
 *
 * Best effort: returns 0 when there is nothing to do; an error (a cgroup
 * directory that cannot be made or joined) leaves the thread where it was
 * and is not retried by this thread. Thread rules: about the calling
 * thread only; any thread may call it.
 */
int nsh_cgroup_settle_thread(struct nsh_err *err);

/**
 * Move the calling thread back to this process's own v1 cgroups (where the
 * sandbox's cgroups were made; for the cpu hierarchy, where
 * nsh_cgroup_settle_thread() put it). Errors name the file; the caller cannot
 * safely go on inside a sandbox's cgroup and should abort.
 */
int nsh_cgroup_leave_v1(struct nsh_cgroup *cg, struct nsh_err *err);

/**
 * Freeze (@frozen true) or thaw every process of the sandbox and wait, at
 * most NSH_CGROUP_FREEZE_WAIT_MS, until the kernel reports the new state:
 * v2 cgroup.freeze and cgroup.events "frozen", else the v1 freezer's
 * freezer.state. A freeze that does not complete in time is undone and fails
 * with NSH_ETIMEOUT. NSH_EDENIED when neither is available.
 */
int nsh_cgroup_freeze(struct nsh_cgroup *cg, bool frozen, struct nsh_err *err);

/**
 * Kill every process of the sandbox (and of cgroups below it) with SIGKILL
 * and wait until none is left, at most NSH_CGROUP_KILL_WAIT_MS (then
 * NSH_ETIMEOUT). Uses v2 cgroup.kill when available; otherwise signals each
 * member through a pidfd that is checked against cgroup.procs, so a
 * recycled pid is never hit, and repeats until the cgroups are empty. A v1
 * freezer cgroup is thawed, since frozen v1 tasks do not die until thawed.
 * Killed processes still have to be reaped by their parents.
 */
int nsh_cgroup_kill(struct nsh_cgroup *cg, struct nsh_err *err);

/** True when no live process is left in any of the sandbox's cgroups. */
bool nsh_cgroup_empty(struct nsh_cgroup *cg);

/**
 * Fill @ret with the sandbox's usage figures (fields that no hierarchy
 * provides are 0). Errors name the file that could not be read.
 */
int nsh_cgroup_usage(struct nsh_cgroup *cg, struct nsh_cgroup_usage *ret, struct nsh_err *err);

/**
 * Make the cgroups of a finished sandbox ready for another one, which is
 * cheaper than removing them and making new ones: no process may be left,
 * it was never frozen, and the memory still charged to it (page cache its
 * processes read first, which stays charged to the cgroup) is at most
 * @memory_max bytes. The limits written are undone, the memory peak starts
 * again, and the cumulative counters of nsh_cgroup_usage() (cpu time, OOM
 * kills, pids limit hits) count from now. The peak of the next sandbox may
 * include up to @memory_max of the charge left over.
 *
 * NSH_EBUSY saying why when it cannot be reused (also on hosts where the
 * memory controller is v2: resetting memory.peak needs a descriptor held
 * from before); the caller then destroys it. Errors name the file.
 */
int nsh_cgroup_reuse(struct nsh_cgroup *cg, uint64_t memory_max, struct nsh_err *err);

/**
 * Kill what is left (as nsh_cgroup_kill()), remove the sandbox's cgroup in
 * every hierarchy (sub-cgroups first) and free @cg, also on failure; the
 * error then names the cgroup left behind, which nsh_cgroup_cleanup_stale()
 * removes after this process has exited. NULL ok.
 */
int nsh_cgroup_destroy(struct nsh_cgroup *cg, struct nsh_err *err);

/**
 * Remove the leftovers of crashed runs: every "nightshift/<pid>.<name>"
 * cgroup below this process's own cgroups whose owner <pid> no longer
 * exists has its processes killed and is removed from every hierarchy.
 * Sandboxes of live owners are left alone. @ret_removed (may be NULL) gets
 * the number of sandboxes removed. The "nightshift" directories themselves
 * are removed too when no sandbox is left in them, so that the owner's own
 * cgroup can be removed by whoever made it; call this at shutdown as well
 * as at startup. Continues past failures and returns the first one. A
 * recycled owner pid keeps its leftovers until it exits too. Owners are
 * told apart by pid, so daemons sharing one cgroup must share a pid
 * namespace: a sandbox holding processes invisible from here (another pid
 * namespace) is never touched, but an empty one of such an owner would be
 * removed.
 */
int nsh_cgroup_cleanup_stale(unsigned *ret_removed, struct nsh_err *err);

/**
 * Which hierarchy serves @res for this sandbox; @ret_dir (may be NULL) gets
 * the cgroup directory used for it (borrowed, valid until destroy), or NULL.
 */
enum nsh_cgroup_via nsh_cgroup_via(const struct nsh_cgroup *cg, enum nsh_cgroup_res res,
				   const char **ret_dir);

/**
 * One line for probe and usage reports, such as "memory: v1, pids: v1,
 * cpu: v1, cpu usage: v2, freeze: v2, kill: v2". Borrowed from @cg.
 */
const char *nsh_cgroup_describe(const struct nsh_cgroup *cg);

#ifdef NSH_TESTING
/* Test hook: pretend the v1 hierarchies and/or the v2 tree are not mounted. */
# define NSH_CGROUP_TESTING_HIDE_V1 1u
# define NSH_CGROUP_TESTING_HIDE_V2 2u
void nsh_cgroup_testing_hide(unsigned what);
/*
 * Test hook: use @name (NULL: the usual "nightshift") as this process's
 * directory in each hierarchy, so that what a test stages there is out of
 * reach of the clean-ups other processes run at the same time.
 */
void nsh_cgroup_testing_dir(const char *name);
#endif

#endif
