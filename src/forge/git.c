/*
 * The git command line with a fixed environment; see git.h.
 */
#include "forge/git.h"

#include <stdarg.h>

#include "core/err.h"
#include "core/time.h"
#include "core/vec.h"

#include "core/banned.h"

/* this thread's git runs (a job runs on one thread): see nsh_git_counters() */
static _Thread_local uint64_t git_runs;
static _Thread_local int64_t git_ns;

void nsh_git_counters(uint64_t *ret_runs, int64_t *ret_ms)
{
	if (ret_runs)
		*ret_runs = git_runs;
	if (ret_ms)
		*ret_ms = git_ns / 1000000;
}

void nsh_git_init(struct nsh_proc *p, const char *dir)
{
	git_runs++;
	nsh_proc_init(p);
	nsh_strvec_pushl(&p->argv, "git", "-c", "core.hooksPath=/dev/null", "-c",
			 "user.name=nightshift", "-c", "user.email=nightshift@localhost", "-c",
			 "gc.autoDetach=false", "-c", "maintenance.autoDetach=false", NULL);
	if (dir)
		nsh_strvec_pushl(&p->argv, "-C", dir, NULL);
	nsh_strvec_pushl(&p->env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			 "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_PAGER", "GIT_DIR",
			 "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
			 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES", NULL);
}

int nsh_git(const char *dir, struct nsh_buf *out, struct nsh_err *err, ...)
{
	struct nsh_proc p;
	const char *arg;
	va_list ap;
	int64_t t0 = nsh_time_mono_ns();
	int ret;

	nsh_git_init(&p, dir);
	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)))
		nsh_strvec_push(&p.argv, arg);
	va_end(ap);
	ret = nsh_proc_run_checked(&p, out, err);
	nsh_proc_release(&p);
	git_ns += nsh_time_mono_ns() - t0;
	return ret;
}
