/*
 * Internals shared by the files of the sandbox module: what the child
 * needs to build the sandbox, and the control protocol between the
 * supervisor (nightshift) and the sandbox's init. No other module
 * includes this header.
 */
#ifndef NSH_SANDBOX_SANDBOX_INT_H
#define NSH_SANDBOX_SANDBOX_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct nsh_seccomp;

/* Host directories bound read-only into every sandbox (when they exist). */
#define NSH_SANDBOX_SYSDIRS                                                    \
 {                                                                             \
  "usr", "etc", "opt", "var", "bin", "sbin", "lib", "lib32", "lib64", "libx32" \
 }
#define NSH_SANDBOX_NSYSDIRS 10

/*
 * The nice value of a sandbox's processes and of its scheduler autogroup:
 * on a busy machine the orchestrator's own steps (git, the store) go
 * before the commands the sandboxes run (npm, the tests).
 */
#define NSH_SANDBOX_NICE     10
#define NSH_SANDBOX_NICE_STR "10"

/*
 * Everything the child needs, prepared by the supervisor before the clone:
 * the child runs without malloc (the supervisor may be multi-threaded).
 */
struct nsh_sandbox_setup {
	int ctl_fd;	       /* the init's end of the control socket */
	const char *hide;      /* host path to cover with an empty file system, or NULL */
	const char *hostname;  /* UTS name */
	const char *workspace; /* host workspace path (used when no tree fd is passed) */
	uint64_t tmp_size;     /* bytes of the /tmp tmpfs */
	const struct nsh_seccomp *seccomp; /* loaded last, before serving */
	/*
	 * Pooled: the filter but the mount API (NSH_SECCOMP_PART_BASE),
	 * loaded before PREPARED, so that FINISH loads only the small mount
	 * part (@seccomp) after its mounts. NULL: none.
	 */
	const struct nsh_seccomp *seccomp_early;
	int landlock_abi;    /* 0: no Landlock */
	int dev_template;    /* nsh_sandbox_dev_template(), or -1: build /dev */
	bool proxy_listener; /* open the egress proxy's listener inside the netns */
	bool net_ready;	  /* the netns is one of the pool's: loopback is up, and not ours to set */
	uint64_t rlim_as; /* RLIMIT_AS of each command when no cgroup limits memory; 0: none */
	uint64_t rlim_nproc; /* RLIMIT_NPROC likewise for pids; 0: none */
	bool timing;	     /* send the marks below with READY, and STARTED for each command */
	bool pooled; /* prepared ahead: stop before the workspace, /tmp, host name, Landlock and
			seccomp, send PREPARED and finish on FINISH (see struct nsh_ctl_finish) */
};

/*
 * Moments of the child's set-up (CLOCK_MONOTONIC, ns), sent as the extra
 * bytes of READY when the supervisor asks for timing: its start, the end
 * of the early steps (done while the supervisor writes the id maps), GO
 * received, then the end of each later phase in the order of enum
 * nsh_sandbox_phase from NSH_PHASE_C_IDS to NSH_PHASE_C_SECCOMP.
 */
enum nsh_sandbox_mark {
	NSH_MARK_BEGIN,
	NSH_MARK_SYSDIRS,
	NSH_MARK_START,
	NSH_MARK_IDS,
	NSH_MARK_ROOT,
	NSH_MARK_TMP_PROC,
	NSH_MARK_DEV,
	NSH_MARK_PIVOT,
	NSH_MARK_NET,
	NSH_MARK_HARDEN,
	NSH_MARK_LANDLOCK,
	NSH_MARK_SECCOMP,
	NSH_MARK_NR
};

/* Steps of the child's set-up, reported with errno when one fails. */
enum nsh_sandbox_stage {
	NSH_STAGE_SYNC = 1,
	NSH_STAGE_IDS,
	NSH_STAGE_MOUNT_PRIVATE,
	NSH_STAGE_ROOT_TMPFS,
	NSH_STAGE_SYSDIRS,
	NSH_STAGE_HIDE,
	NSH_STAGE_WORKSPACE,
	NSH_STAGE_GITDIR,
	NSH_STAGE_TMP,
	NSH_STAGE_PROC,
	NSH_STAGE_DEV,
	NSH_STAGE_ROOT_RO,
	NSH_STAGE_PIVOT,
	NSH_STAGE_HOSTNAME,
	NSH_STAGE_LOOPBACK,
	NSH_STAGE_PROXY,
	NSH_STAGE_SESSION,
	NSH_STAGE_LANDLOCK,
	NSH_STAGE_SECCOMP,
};

/* What a sandbox's /dev holds besides pts and shm: host device nodes, and symlinks (name, target).
 */
#define NSH_SANDBOX_DEV_NODES 6
#define NSH_SANDBOX_DEV_LINKS 5
extern const char *const nsh_sandbox_dev_nodes[NSH_SANDBOX_DEV_NODES];
extern const char *const nsh_sandbox_dev_links[NSH_SANDBOX_DEV_LINKS][2];

/**
 * A detached read-only tmpfs holding what a sandbox's /dev needs (device
 * nodes, symlinks, the pts and shm mount points), made once per process on
 * first call; each child clones it onto its /dev. -1 where it cannot be
 * made (not root, an older kernel): then the child builds /dev itself. Any
 * thread; the descriptor stays open for the life of the process.
 */
int nsh_sandbox_dev_template(void);

/* Test hook: with @off, nsh_sandbox_dev_template() says -1 (children build /dev). */
void nsh_sandbox_dev_template_off(bool off);

/** A readable name for @stage, for error messages. */
const char *nsh_sandbox_stage_name(int stage);

/* ---- control protocol (SOCK_SEQPACKET, one message per datagram) ---- */

enum nsh_ctl_type {
	NSH_CTL_GO = 1,	  /* supervisor -> child: ids are mapped; optional fd: workspace tree */
	NSH_CTL_READY,	  /* child -> supervisor: set-up done, serving */
	NSH_CTL_FAILED,	  /* child -> supervisor: set-up failed at @stage with @errnum */
	NSH_CTL_RUN,	  /* supervisor -> init: start a command; fds: stdin, stdout, stderr */
	NSH_CTL_STARTED,  /* init -> supervisor: command started as @pid (only when timing) */
	NSH_CTL_EXECFAIL, /* init -> supervisor: could not start, @errnum */
	NSH_CTL_KILL,	  /* supervisor -> init: kill the running command */
	NSH_CTL_EXITED,	  /* init -> supervisor: the command ended with @status */
	NSH_CTL_PREPARED, /* pooled child -> supervisor: root built, hardened, waiting for FINISH */
	NSH_CTL_FINISH,	  /* supervisor -> pooled child: struct nsh_ctl_finish; fd: workspace */
};

/* What a pooled sandbox learns when it is taken: the extra bytes of FINISH. */
struct nsh_ctl_finish {
	uint64_t tmp_size; /* bytes of the /tmp tmpfs */
	char hostname[65]; /* UTS name, NUL-terminated */
	uint8_t proxy;	   /* open the egress proxy's listener and send it with READY */
};

/* The fixed part of every message; a RUN carries strings after it. */
struct nsh_ctl_msg {
	uint32_t type;	  /* enum nsh_ctl_type */
	int32_t errnum;	  /* FAILED, EXECFAIL: errno */
	int32_t stage;	  /* FAILED: enum nsh_sandbox_stage */
	int32_t pid;	  /* STARTED: pid inside the sandbox */
	int32_t status;	  /* EXITED: wait status */
	uint32_t nargs;	  /* RUN: number of argv strings */
	uint32_t nenv;	  /* RUN: number of environment strings */
	uint32_t len;	  /* RUN: bytes of strings that follow: cwd, argv..., env... */
	struct rusage ru; /* EXITED: usage of the command and its children */
};

/* Largest RUN message: the command line and environment together. */
#define NSH_CTL_MAX (128 * 1024)

/**
 * Send one message with up to @nfds file descriptors; async-signal-safe.
 * Returns 0 or -errno.
 */
int nsh_ctl_send(int fd, const struct nsh_ctl_msg *m, const void *extra, size_t extra_len,
		 const int *fds, int nfds);

/**
 * Receive one message into @buf (at least sizeof(struct nsh_ctl_msg)
 * bytes, up to @cap) and up to @max_fds descriptors into @fds (-1 where
 * none came). Returns the message length, 0 at end of stream, or -errno.
 */
ssize_t nsh_ctl_recv(int fd, void *buf, size_t cap, int *fds, int max_fds);

/**
 * Before a workspace's file system is unmounted on the host (disk.c): the
 * pool's prepared sandboxes, and a sandbox being prepared, have copies of
 * host mounts (all of them until pivot_root, the system directories'
 * submounts after), and destroyed pooled sandboxes still waiting for the
 * reaper have their workspace; any of them would keep the unmounted file
 * system alive, and its loop device attached, so that opening the image
 * again would mount it twice. This holds the pool's filler off until
 * nsh_sandbox_pool_flush_end() (a prepare started before the unmount would
 * copy the mount), waits for a prepare in progress and for the reaper,
 * kills and reaps the prepared sandboxes whose mount namespace has a mount
 * of the file system at @mountpoint (all of them when @mountpoint is NULL
 * or cannot be read; the pool refills afterwards). No pool: nothing. Any
 * thread but the pool's own.
 */
void nsh_sandbox_pool_flush(const char *mountpoint);

/** After the unmount: the pool's filler may go on (one per nsh_sandbox_pool_flush()). */
void nsh_sandbox_pool_flush_end(void);

/** The child side: build the sandbox and become its init. Never returns. */
void nsh_sandbox_child(const struct nsh_sandbox_setup *s) __attribute__((noreturn));

#endif
