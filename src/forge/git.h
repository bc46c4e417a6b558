/*
 * Driving the git CLI: the one place that builds a git command line. Every
 * git run gets the same fixed environment, so that a user's or the
 * system's git configuration, hooks, pager, locale and terminal prompts
 * never change what nightshift sees or does:
 *
 *   git -c core.hooksPath=/dev/null -c user.name=nightshift
 *       -c user.email=nightshift@localhost -c gc.autoDetach=false
 *       -c maintenance.autoDetach=false -C DIR ARGS...
 *
 * with GIT_CONFIG_NOSYSTEM=1, GIT_CONFIG_GLOBAL=/dev/null, LC_ALL=C,
 * GIT_TERMINAL_PROMPT=0 and GIT_PAGER, GIT_DIR, GIT_WORK_TREE and
 * GIT_INDEX_FILE removed. An automatic gc (after a fetch, a commit or
 * "maintenance run --auto") runs in the foreground: detached, it was a
 * child of the git run's process group until its setsid(), and the end of
 * the run kills what is left of that group (core/proc.c), so on a busy
 * machine it was killed before it began.
 *
 * Thread rules: as for core/proc.h (one struct nsh_proc per thread).
 */
#ifndef NSH_FORGE_GIT_H
#define NSH_FORGE_GIT_H

#include <stdint.h>

#include "core/buf.h"
#include "core/proc.h"

struct nsh_err;

/**
 * Initialise @p (caller storage, released with nsh_proc_release()) to run
 * git in @dir (borrowed, NULL for the current directory) with the fixed
 * environment above. The caller pushes the git arguments onto p->argv and
 * may set stdin, caps and a timeout before nsh_proc_run_checked().
 */
void nsh_git_init(struct nsh_proc *p, const char *dir);

/**
 * Run "git ARGS..." (a NULL-terminated list) in @dir and append its stdout
 * to @out (may be NULL). Returns 0 when git exited with code 0; otherwise
 * the errors of nsh_proc_run_checked(), naming git and its last line of
 * stderr.
 */
int nsh_git(const char *dir, struct nsh_buf *out, struct nsh_err *err, ...)
	__attribute__((sentinel));

/**
 * The git processes the calling thread started so far (every
 * nsh_git_init(), so nsh_git() and the forges' own runs) and the
 * milliseconds those run through nsh_git() took, for the job's timing
 * record. Either pointer may be NULL. Thread rules: per thread, no lock.
 */
void nsh_git_counters(uint64_t *ret_runs, int64_t *ret_ms);

#endif
