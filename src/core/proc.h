/*
 * The subprocess runner (after git's run-command): the one place that starts
 * programs. A program is an argv vector, never a shell line built from data.
 *
 * The caller fills the inputs of a struct nsh_proc, calls nsh_proc_run() and
 * reads the results. The child:
 *   - runs argv.v[0], looked up in the PATH of the child's environment (or
 *     the caller's PATH when the child has none) unless it contains a '/';
 *   - gets its own process group, default signal dispositions and an empty
 *     signal mask (a daemon's blocked or ignored signals do not leak into it);
 *   - reads @in from a pipe (or /dev/null) and writes into two pipes that
 *     the caller drains concurrently, so large input and output never
 *     deadlock; output past the caps is read and dropped;
 *   - is killed with its whole process group on timeout.
 *
 * When the program itself has exited, whatever is left of its process group
 * (background jobs it started) is killed with SIGKILL, so that a grandchild
 * holding a pipe open can never hang the caller. Output that processes
 * outside the group (which called setsid() or setpgid()) still write is only
 * waited for NSH_PROC_DRAIN_MS after the program's exit.
 *
 * Thread rules: one struct nsh_proc belongs to one thread; different ones
 * may run concurrently. The process must not reap children it did not start
 * itself (no waitpid(-1), no SIGCHLD set to SIG_IGN), or exit statuses are
 * lost; and it must not change its own environment (setenv()) while another
 * thread starts a program, since the child's environment is copied from it.
 */
#ifndef NSH_CORE_PROC_H
#define NSH_CORE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/vec.h"

struct nsh_err;

/* Default caps on captured stdout and stderr. */
#define NSH_PROC_OUT_MAX_DEFAULT ((size_t)1 << 20)
/* How long output pipes are drained after the program has exited. */
#define NSH_PROC_DRAIN_MS 250

struct nsh_proc {
	/* inputs */
	struct nsh_strvec argv; /* program and arguments; argv.v[0] looked up in PATH */
	struct nsh_strvec env; /* "K=V" added to the environment (later wins); "K" alone unsets K */
	bool env_clear;	       /* start from an empty environment instead of the caller's */
	const char *cwd;       /* working directory (borrowed), NULL for the caller's */
	const char *in;	       /* bytes fed to stdin (borrowed); NULL or in_len 0: /dev/null */
	size_t in_len;	       /* number of bytes at @in */
	size_t out_max;	       /* cap on captured stdout; excess is dropped, out_truncated set */
	size_t err_max;	       /* cap on captured stderr; excess is dropped, err_truncated set */
	int64_t timeout_ms;    /* 0: none; on expiry the process group is SIGKILLed */

	/* results, valid after nsh_proc_run() returned 0 */
	struct nsh_buf out;    /* captured stdout, emptied at the start of each run */
	struct nsh_buf err;    /* captured stderr, emptied at the start of each run */
	bool out_truncated;    /* stdout was longer than out_max */
	bool err_truncated;    /* stderr was longer than err_max */
	bool timed_out;	       /* killed because timeout_ms expired */
	int exit_code;	       /* exit status, or -1 when killed by a signal */
	int term_signal;       /* signal that ended it, 0 if it exited */
	struct rusage ru;      /* resource usage of the program and its reaped children (wait4) */
	int64_t elapsed_ms;    /* wall time from start to exit */
	pid_t pid;	       /* process id (and process group id) the program had */
	int64_t start_mono_ms; /* internal: when nsh_proc_start() started it */
};

/**
 * Initialise caller storage: empty vectors and buffers, no timeout, caps of
 * NSH_PROC_OUT_MAX_DEFAULT, stdin from /dev/null, the caller's environment
 * and working directory.
 */
void nsh_proc_init(struct nsh_proc *p);

/** Free argv, env, out and err. The borrowed cwd and in are not touched. NULL ok. */
void nsh_proc_release(struct nsh_proc *p);

/**
 * Start the program, feed its stdin, capture its output and wait for it (and
 * for the timeout). Returns 0 when the program ran, whatever its exit code or
 * signal, also when it timed out: check exit_code, term_signal and timed_out.
 *
 * Errors, with nothing left running: NSH_EINVAL for an empty argv;
 * "cannot run 'prog': <reason>" when the program cannot be found or executed
 * (NSH_ENOTFOUND, NSH_EDENIED, NSH_EIO, from the child's errno); a cwd that
 * cannot be entered is named too; NSH_EIO for pipe, fork or poll failures,
 * and when the exit status was lost to another reaper (SIGCHLD ignored).
 *
 * Blocks the calling thread until the program is gone. SIGPIPE is blocked in
 * this thread only while writing stdin, so a program that stops reading
 * never kills the caller.
 */
int nsh_proc_run(struct nsh_proc *p, struct nsh_err *err);

/**
 * Start the prepared @p without waiting for it, for output that is
 * streamed rather than captured: the program reads stdin from @in_fd and
 * writes stderr to @err_fd (the caller's descriptors, duplicated for the
 * child and kept open; -1 for /dev/null), and its stdout is a pipe whose
 * read end (blocking, close-on-exec) goes to *@ret_out for the caller to
 * read and close. p->in, the caps, out, err and timeout_ms are not used.
 * p->pid is set. The caller must call nsh_proc_wait() once it returned 0.
 * Errors as for nsh_proc_run(), with nothing left running.
 */
int nsh_proc_start(struct nsh_proc *p, int in_fd, int err_fd, int *ret_out, struct nsh_err *err);

/**
 * Wait for the program of nsh_proc_start() to exit (SIGKILL its process
 * group first when @kill_first, e.g. when the reader gave up), kill what
 * is left of its group and fill exit_code, term_signal, ru and elapsed_ms.
 * Close the stdout pipe first or make sure the program reached its end,
 * or this can wait forever. NSH_EIO when the status was lost.
 */
int nsh_proc_wait(struct nsh_proc *p, bool kill_first, struct nsh_err *err);

/**
 * Run the prepared @p like nsh_proc_run() and turn every way it can end
 * other than exit code 0 into an error that names the program, with the
 * last line of its stderr: NSH_ETIMEOUT when it timed out, NSH_EFAIL for a
 * non-zero exit or a signal, NSH_ETOOBIG when stdout exceeded p->out_max.
 * On success stdout is appended to @out (may be NULL). @p keeps its results
 * either way; the caller releases it. Thread rules as for nsh_proc_run().
 */
int nsh_proc_run_checked(struct nsh_proc *p, struct nsh_buf *out, struct nsh_err *err);

/**
 * Convenience for short commands: run the NULL-terminated @argv in @cwd (NULL
 * for the caller's) with no stdin and no timeout, and append its stdout to
 * @out (may be NULL to discard it). Returns 0 only when the program exited
 * with code 0. Otherwise the error names the program and says how it ended,
 * with the last line of its stderr: NSH_EFAIL for a non-zero exit or a
 * signal, NSH_ETOOBIG when stdout exceeded NSH_PROC_OUT_MAX_DEFAULT (or @out's
 * cap), and the errors of nsh_proc_run(). Thread rules as for nsh_proc_run().
 */
int nsh_proc_run_argv(const char *const *argv, const char *cwd, struct nsh_buf *out,
		      struct nsh_err *err);

#endif
