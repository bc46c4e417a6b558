/*
 * The subprocess runner. The parent prepares everything that allocates
 * (program path, argv, envp, pipes) before vfork(); the child then only makes
 * async-signal-safe calls until execve(). An exec failure travels back to the
 * parent as the child's errno over a close-on-exec "error pipe": EOF on it
 * means execve() succeeded.
 *
 * The parent runs one poll() loop over stdin (non-blocking writes), stdout,
 * stderr and a pidfd that becomes readable when the program exits. Where
 * pidfd_open() is unavailable (old kernels, seccomp filters) the loop polls
 * for the exit with waitid(WNOWAIT) every few milliseconds instead.
 */
#include "core/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "core/time.h"
#include "core/vec.h"

#include "core/banned.h"

/* Bytes moved per read() or write() on a pipe. */
#define PIPE_CHUNK ((size_t)64 * 1024)
/* Poll interval when waiting for the exit without a pidfd. */
#define NOPIDFD_TICK_MS 10
/* Used when neither the child's nor the caller's environment has a PATH. */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* What failed in the child before or at execve(), sent over the error pipe. */
enum child_stage {
	CHILD_SETUP = 1, /* signals, process group, dup2 */
	CHILD_CHDIR = 2, /* entering cwd */
	CHILD_EXEC = 3,	 /* execve() itself */
};

struct child_report {
	int stage;  /* enum child_stage */
	int errnum; /* errno in the child */
};

/* Everything the child needs, prepared before vfork(). */
struct child_setup {
	const char *path;  /* resolved program path */
	char *const *argv; /* argument vector */
	char *const *envp; /* environment */
	const char *cwd;   /* directory to enter, or NULL */
	int in_fd;	   /* becomes fd 0 */
	int out_fd;	   /* becomes fd 1 */
	int err_fd;	   /* becomes fd 2 */
	int report_fd;	   /* write end of the error pipe */
};

void nsh_proc_init(struct nsh_proc *p)
{
	memset(p, 0, sizeof(*p));
	nsh_strvec_init(&p->argv);
	nsh_strvec_init(&p->env);
	nsh_buf_init(&p->out, SIZE_MAX);
	nsh_buf_init(&p->err, SIZE_MAX);
	p->out_max = NSH_PROC_OUT_MAX_DEFAULT;
	p->err_max = NSH_PROC_OUT_MAX_DEFAULT;
	p->exit_code = -1;
	p->pid = -1;
}

void nsh_proc_release(struct nsh_proc *p)
{
	if (!p)
		return;
	nsh_strvec_release(&p->argv);
	nsh_strvec_release(&p->env);
	nsh_buf_release(&p->out);
	nsh_buf_release(&p->err);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd); /* no retry on EINTR: on Linux the fd is gone either way */
		*fd = -1;
	}
}

/*
 * Move @fd to a number above 2 (keeping O_CLOEXEC), so that the child's
 * dup2() onto 0, 1 and 2 can never overwrite a descriptor it still needs.
 * Returns the new fd, or -1 with errno set (@fd is closed then too).
 */
static int fd_above_stdio(int fd)
{
	int nfd, e;

	if (fd > STDERR_FILENO)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	e = errno;
	close(fd);
	errno = e;
	return nfd;
}

/* pipe2(O_CLOEXEC) with both ends above 2; -1 with errno on failure. */
static int make_pipe(int fds[2])
{
	int e;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	fds[0] = fd_above_stdio(fds[0]);
	e = errno;
	fds[1] = fd_above_stdio(fds[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		if (fds[0] >= 0)
			close_fd(&fds[0]);
		else
			errno = e;
		if (fds[1] >= 0)
			close_fd(&fds[1]);
		return -1;
	}
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* The length of the key of an environment entry "K=V" (or of "K"). */
static size_t env_key_len(const char *e)
{
	const char *eq = strchr(e, '=');

	return eq ? (size_t)(eq - e) : strlen(e);
}

static bool env_same_key(const char *a, const char *b)
{
	size_t n = env_key_len(a);

	return n == env_key_len(b) && !memcmp(a, b, n);
}

/* True when an entry of @mods after index @from has the key of @e. */
static bool env_overridden(const struct nsh_strvec *mods, size_t from, const char *e)
{
	for (size_t i = from; i < mods->nr; i++)
		if (env_same_key(mods->v[i], e))
			return true;
	return false;
}

/*
 * The child's environment: the caller's (unless env_clear) without the keys
 * that p->env sets or unsets, then the "K=V" entries of p->env, the last one
 * of each key winning.
 */
static void build_env(const struct nsh_proc *p, struct nsh_strvec *envp)
{
	if (!p->env_clear && environ)
		for (char **e = environ; *e; e++)
			if (!env_overridden(&p->env, 0, *e))
				nsh_strvec_push(envp, *e);
	for (size_t i = 0; i < p->env.nr; i++)
		if (strchr(p->env.v[i], '=') && !env_overridden(&p->env, i + 1, p->env.v[i]))
			nsh_strvec_push(envp, p->env.v[i]);
}

/*
 * Find @name like execvp() would, in the PATH of @envp (or the caller's PATH,
 * or DEFAULT_PATH) and store the path in @ret. A relative PATH entry is taken
 * relative to @cwd when one is set, since that is where the child runs.
 * Returns 0, or an errno value: EACCES when only non-executable candidates
 * were seen, ENOENT when there were none.
 */
static int find_in_path(const char *name, const struct nsh_strvec *envp, const char *cwd,
			struct nsh_buf *ret)
{
	const char *path = NULL, *dir, *end;
	int result = ENOENT;
	struct stat st;

	for (size_t i = 0; i < envp->nr && !path; i++)
		if (nsh_starts_with(envp->v[i], "PATH="))
			path = envp->v[i] + 5;
	if (!path)
		path = getenv("PATH");
	if (!path)
		path = DEFAULT_PATH;
	for (dir = path;; dir = end + 1) {
		size_t dlen;

		end = strchrnul(dir, ':');
		dlen = (size_t)(end - dir);
		nsh_buf_reset(ret);
		if ((!dlen || dir[0] != '/') && cwd)
			nsh_buf_addf(ret, "%s/", cwd);
		if (dlen)
			nsh_buf_addf(ret, "%.*s/%s", (int)dlen, dir, name);
		else
			nsh_buf_adds(ret, name);
		if (stat(ret->buf, &st) == 0 && !S_ISDIR(st.st_mode)) {
			if (access(ret->buf, X_OK) == 0)
				return 0;
			result = EACCES;
		}
		if (!*end)
			break;
	}
	nsh_buf_reset(ret);
	return result;
}

/* Tell the parent what failed and exit. Async-signal-safe. */
static void __attribute__((noreturn)) child_fail(int report_fd, int stage)
{
	struct child_report r = {stage, errno};
	ssize_t n;

	do
		n = write(report_fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	_exit(127);
}

/* Make @fd the descriptor @target, inheritable. Async-signal-safe. */
static int child_dup(int fd, int target)
{
	while (dup2(fd, target) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/*
 * The child between vfork() and execve(). Only async-signal-safe calls:
 * parent code in signal handlers must not run here and the caller's
 * dispositions and mask must not leak into the program.
 */
static void __attribute__((noreturn)) child_exec(const struct child_setup *cs)
{
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL); /* fails harmlessly for reserved ones */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(cs->report_fd, CHILD_SETUP);
	if (setpgid(0, 0) < 0)
		child_fail(cs->report_fd, CHILD_SETUP);
	if (child_dup(cs->in_fd, STDIN_FILENO) < 0 || child_dup(cs->out_fd, STDOUT_FILENO) < 0 ||
	    child_dup(cs->err_fd, STDERR_FILENO) < 0)
		child_fail(cs->report_fd, CHILD_SETUP);
	if (cs->cwd && chdir(cs->cwd) < 0)
		child_fail(cs->report_fd, CHILD_CHDIR);
	execve(cs->path, cs->argv, cs->envp);
	child_fail(cs->report_fd, CHILD_EXEC);
}

/*
 * Start the child with vfork(): it borrows this process's memory until its
 * execve(), and the calling thread waits for that. fork() copied the
 * daemon's page tables and left every thread copy-on-write faults to take,
 * for a child that execs at once. child_exec() touches nothing of ours but
 * its own stack frame, and the signal dispositions it resets are its own
 * copy. A function of its own, so that no variable of the caller's lives
 * across the vfork().
 */
static pid_t __attribute__((noinline)) start_child(const struct child_setup *cs)
{
	pid_t pid = vfork();

	if (pid == 0)
		child_exec(cs);
	return pid;
}

/*
 * Write the next piece of stdin. SIGPIPE is blocked in this thread for the
 * write and a SIGPIPE it raised is consumed, so a program that closed its
 * stdin gives EPIPE here instead of killing the caller. Returns what write()
 * returns, with errno.
 */
static ssize_t write_nosigpipe(int fd, const void *data, size_t len)
{
	static const struct timespec zero = {0, 0};
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	e = errno;
	if (n < 0 && e == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

/*
 * Read what @fd has into @b, keeping at most @max bytes and dropping the
 * rest (setting *@truncated). Closes @fd at EOF or on an error.
 */
static void drain_fd(int *fd, struct nsh_buf *b, size_t max, bool *truncated)
{
	char sink[4096];
	size_t room = b->len < max ? max - b->len : 0;
	ssize_t n;

	if (room) {
		size_t want = room < PIPE_CHUNK ? room : PIPE_CHUNK;

		if (nsh_buf_grow(b, want) < 0) {
			room = 0; /* the buffer's own cap: drop like past max */
		} else {
			do
				n = read(*fd, b->buf + b->len, want);
			while (n < 0 && errno == EINTR);
			if (n > 0) {
				b->len += (size_t)n;
				b->buf[b->len] = '\0';
				return;
			}
			goto end;
		}
	}
	do
		n = read(*fd, sink, sizeof(sink));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		*truncated = true;
		return;
	}
end:
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		close_fd(fd);
}

/* Milliseconds until @deadline (monotonic), at least 0. */
static int ms_until(int64_t deadline)
{
	int64_t left = deadline - nsh_time_mono_ms();

	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Without a pidfd: has @pid exited (without reaping it)? */
static bool child_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != EINTR; /* ECHILD: gone already, stop waiting */
	return si.si_pid != 0;
}

/*
 * Reap @pid and fill the exit fields of @p. Returns 0, or the errno of
 * wait4() (ECHILD when someone else reaped it, e.g. with SIGCHLD ignored).
 */
static int reap(struct nsh_proc *p, pid_t pid)
{
	int status = 0;
	pid_t r;

	do
		r = wait4(pid, &status, 0, &p->ru);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	if (WIFSIGNALED(status)) {
		p->exit_code = -1;
		p->term_signal = WTERMSIG(status);
	} else {
		p->exit_code = WEXITSTATUS(status);
		p->term_signal = 0;
	}
	return 0;
}

/* Descriptors the parent keeps while the program runs. */
enum { PFD_IN, PFD_OUT, PFD_ERR, PFD_PID, PFD_NR };

/*
 * Feed stdin, capture output and wait for the program @pid started at
 * @start_ms; fds[] are the parent's ends and are closed here. On return the
 * program has been reaped. Returns 0, or NSH_EIO when poll() failed or the
 * exit status could not be collected.
 */
static int supervise(struct nsh_proc *p, pid_t pid, int fds[PFD_NR], int64_t start_ms,
		     struct nsh_err *err)
{
	int64_t deadline = p->timeout_ms > 0 ? start_ms + p->timeout_ms : 0;
	int64_t drain_deadline = 0;
	size_t in_off = 0;
	bool exited = false;
	int ret = 0, reap_errno = 0;

	for (;;) {
		struct pollfd pfd[PFD_NR];
		int timeout = -1;
		int n;

		if (exited) {
			if (fds[PFD_OUT] < 0 && fds[PFD_ERR] < 0)
				break;
			timeout = ms_until(drain_deadline);
			if (!timeout)
				break;
		} else if (deadline && !p->timed_out) {
			timeout = ms_until(deadline);
			if (!timeout) {
				/* the program too, in case it left its group */
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				p->timed_out = true;
				continue;
			}
		}
		if (!exited && fds[PFD_PID] < 0 && (timeout < 0 || timeout > NOPIDFD_TICK_MS))
			timeout = NOPIDFD_TICK_MS;
		for (int i = 0; i < PFD_NR; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = i == PFD_IN ? POLLOUT : POLLIN;
			pfd[i].revents = 0;
		}
		n = poll(pfd, PFD_NR, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = nsh_err_sys(err, errno, "cannot wait for '%s'", p->argv.v[0]);
			kill(-pid, SIGKILL);
			if (!exited)
				reap(p, pid);
			goto out;
		}
		if (pfd[PFD_IN].revents) {
			size_t left = p->in_len - in_off;
			ssize_t w = write_nosigpipe(fds[PFD_IN], p->in + in_off,
						    left < PIPE_CHUNK ? left : PIPE_CHUNK);

			if (w > 0)
				in_off += (size_t)w;
			if (in_off == p->in_len ||
			    (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				close_fd(&fds[PFD_IN]); /* done, or the program stopped reading */
		}
		if (pfd[PFD_OUT].revents)
			drain_fd(&fds[PFD_OUT], &p->out, p->out_max, &p->out_truncated);
		if (pfd[PFD_ERR].revents)
			drain_fd(&fds[PFD_ERR], &p->err, p->err_max, &p->err_truncated);
		if (!exited && (pfd[PFD_PID].revents || (fds[PFD_PID] < 0 && child_exited(pid)))) {
			/*
			 * Kill what is left of the group before reaping: while the
			 * leader is a zombie its pid cannot be reused, so the signal
			 * cannot reach a stranger.
			 */
			kill(-pid, SIGKILL);
			reap_errno = reap(p, pid);
			exited = true;
			p->elapsed_ms = nsh_time_mono_ms() - start_ms;
			drain_deadline = nsh_time_mono_ms() + NSH_PROC_DRAIN_MS;
			close_fd(&fds[PFD_IN]);
			close_fd(&fds[PFD_PID]);
		}
	}
	if (reap_errno)
		ret = nsh_err_sys(err, reap_errno, "cannot get the exit status of '%s'",
				  p->argv.v[0]);
out:
	for (int i = 0; i < PFD_NR; i++)
		close_fd(&fds[i]);
	return ret;
}

/* The message for a failure the child reported over the error pipe. */
static int child_error(const struct nsh_proc *p, const struct child_report *r, struct nsh_err *err)
{
	const char *prog = p->argv.v[0];

	switch ((enum child_stage)r->stage) {
	case CHILD_CHDIR:
		return nsh_err_sys(err, r->errnum, "cannot run '%s' in directory '%s'", prog,
				   p->cwd);
	case CHILD_SETUP:
		return nsh_err_sys(err, r->errnum, "cannot set up the process for '%s'", prog);
	case CHILD_EXEC:
		break;
	}
	return nsh_err_sys(err, r->errnum, "cannot run '%s'", prog);
}

/*
 * Wait for the child's verdict on execve(): 1 when it reported a failure
 * into @r, 0 when the error pipe reached EOF (execve() succeeded).
 */
static int read_report(int fd, struct child_report *r)
{
	size_t got = 0;

	while (got < sizeof(*r)) {
		ssize_t n = read(fd, (char *)r + got, sizeof(*r) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (!got)
		return 0;
	if (got < sizeof(*r)) {
		r->stage = CHILD_EXEC;
		r->errnum = EIO;
	}
	return 1;
}

/*
 * Resolve the program of @p, fork and exec it with @in_fd, @out_fd and
 * @err_fd (all above 2, close-on-exec in the parent) as its stdin, stdout
 * and stderr, and wait for its verdict on execve(). On success *@ret_pid
 * is the program (its own process group leader); the caller still owns and
 * closes the descriptors it passed. On failure nothing is left running.
 */
static int spawn(struct nsh_proc *p, int in_fd, int out_fd, int err_fd, pid_t *ret_pid,
		 int64_t *ret_start_ms, struct nsh_err *err)
{
	struct nsh_buf path = NSH_BUF_INIT;
	struct nsh_strvec envp = NSH_STRVEC_INIT;
	struct child_setup cs;
	struct child_report report;
	int rep_pipe[2] = {-1, -1};
	sigset_t all, old;
	pid_t pid;
	int ret = 0, e;

	build_env(p, &envp);
	if (strchr(p->argv.v[0], '/')) {
		nsh_buf_adds(&path, p->argv.v[0]);
	} else if ((e = find_in_path(p->argv.v[0], &envp, p->cwd, &path))) {
		ret = nsh_err_sys(err, e, "cannot run '%s'", p->argv.v[0]);
		goto out;
	}
	if (make_pipe(rep_pipe) < 0) {
		ret = nsh_err_sys(err, errno, "cannot create pipes for '%s'", p->argv.v[0]);
		goto out;
	}

	cs.path = path.buf;
	cs.argv = p->argv.v;
	cs.envp = envp.v;
	cs.cwd = p->cwd;
	cs.in_fd = in_fd;
	cs.out_fd = out_fd;
	cs.err_fd = err_fd;
	cs.report_fd = rep_pipe[1];

	/* No signal handler of the caller may run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	*ret_start_ms = nsh_time_mono_ms();
	pid = start_child(&cs);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		ret = nsh_err_sys(err, e, "cannot start '%s'", p->argv.v[0]);
		goto out;
	}
	setpgid(pid, pid); /* also here, so the group exists before any kill(-pid) */

	close_fd(&rep_pipe[1]);
	if (read_report(rep_pipe[0], &report)) {
		reap(p, pid);
		ret = child_error(p, &report, err);
		goto out;
	}
	*ret_pid = pid;
out:
	close_fd(&rep_pipe[0]);
	close_fd(&rep_pipe[1]);
	nsh_strvec_release(&envp);
	nsh_buf_release(&path);
	return ret;
}

/* Reset the results of @p before a run. */
static void reset_results(struct nsh_proc *p)
{
	nsh_buf_reset(&p->out);
	nsh_buf_reset(&p->err);
	p->out_truncated = p->err_truncated = p->timed_out = false;
	p->exit_code = -1;
	p->term_signal = 0;
	p->elapsed_ms = 0;
	p->pid = -1;
	memset(&p->ru, 0, sizeof(p->ru));
}

int nsh_proc_run(struct nsh_proc *p, struct nsh_err *err)
{
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	int fds[PFD_NR] = {-1, -1, -1, -1};
	int64_t start_ms = 0;
	pid_t pid = -1;
	int ret = 0;

	reset_results(p);
	if (!p->argv.nr || !*p->argv.v[0]) {
		ret = nsh_err_set(err, NSH_EINVAL, "no program to run");
		goto out;
	}

	if (make_pipe(out_pipe) < 0 || make_pipe(err_pipe) < 0) {
		ret = nsh_err_sys(err, errno, "cannot create pipes for '%s'", p->argv.v[0]);
		goto out;
	}
	if (p->in && p->in_len) {
		if (make_pipe(in_pipe) < 0) {
			ret = nsh_err_sys(err, errno, "cannot create pipes for '%s'", p->argv.v[0]);
			goto out;
		}
	} else {
		in_pipe[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in_pipe[0] < 0 || (in_pipe[0] = fd_above_stdio(in_pipe[0])) < 0) {
			ret = nsh_err_sys(err, errno, "cannot open '/dev/null' for '%s'",
					  p->argv.v[0]);
			goto out;
		}
	}
	if ((in_pipe[1] >= 0 && set_nonblock(in_pipe[1]) < 0) || set_nonblock(out_pipe[0]) < 0 ||
	    set_nonblock(err_pipe[0]) < 0) {
		ret = nsh_err_sys(err, errno, "cannot set up pipes for '%s'", p->argv.v[0]);
		goto out;
	}

	ret = spawn(p, in_pipe[0], out_pipe[1], err_pipe[1], &pid, &start_ms, err);
	if (ret)
		goto out;
	p->pid = pid;
	close_fd(&in_pipe[0]);
	close_fd(&out_pipe[1]);
	close_fd(&err_pipe[1]);

	fds[PFD_IN] = in_pipe[1];
	fds[PFD_OUT] = out_pipe[0];
	fds[PFD_ERR] = err_pipe[0];
	fds[PFD_PID] = pidfd_open_compat(pid); /* -1: fall back to waitid() polling */
	in_pipe[1] = out_pipe[0] = err_pipe[0] = -1;
	ret = supervise(p, pid, fds, start_ms, err);
out:
	close_fd(&in_pipe[0]);
	close_fd(&in_pipe[1]);
	close_fd(&out_pipe[0]);
	close_fd(&out_pipe[1]);
	close_fd(&err_pipe[0]);
	close_fd(&err_pipe[1]);
	return ret;
}

/* A copy of @fd above 2 (close-on-exec), or of /dev/null when @fd is negative. */
static int child_fd(int fd, int flags)
{
	if (fd < 0) {
		int n = open("/dev/null", flags | O_CLOEXEC);

		return n < 0 ? -1 : fd_above_stdio(n);
	}
	return fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

int nsh_proc_start(struct nsh_proc *p, int in_fd, int err_fd, int *ret_out, struct nsh_err *err)
{
	int out_pipe[2] = {-1, -1};
	int cin = -1, cerr = -1;
	pid_t pid = -1;
	int ret = 0;

	reset_results(p);
	*ret_out = -1;
	if (!p->argv.nr || !*p->argv.v[0]) {
		ret = nsh_err_set(err, NSH_EINVAL, "no program to run");
		goto out;
	}
	cin = child_fd(in_fd, O_RDONLY);
	cerr = cin < 0 ? -1 : child_fd(err_fd, O_WRONLY);
	if (cin < 0 || cerr < 0 || make_pipe(out_pipe) < 0) {
		ret = nsh_err_sys(err, errno, "cannot set up descriptors for '%s'", p->argv.v[0]);
		goto out;
	}
	ret = spawn(p, cin, out_pipe[1], cerr, &pid, &p->start_mono_ms, err);
	if (ret)
		goto out;
	p->pid = pid;
	*ret_out = out_pipe[0];
	out_pipe[0] = -1;
out:
	close_fd(&cin);
	close_fd(&cerr);
	close_fd(&out_pipe[0]);
	close_fd(&out_pipe[1]);
	return ret;
}

int nsh_proc_wait(struct nsh_proc *p, bool kill_first, struct nsh_err *err)
{
	int e;

	if (p->pid <= 0)
		return nsh_err_set(err, NSH_EINVAL, "no program was started");
	if (kill_first) {
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
	}
	/* Wait without reaping, then end what is left of the group: see supervise(). */
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT) == 0 || errno != EINTR)
			break;
	}
	kill(-p->pid, SIGKILL);
	e = reap(p, p->pid);
	p->elapsed_ms = nsh_time_mono_ms() - p->start_mono_ms;
	if (e)
		return nsh_err_sys(err, e, "cannot get the exit status of '%s'", p->argv.v[0]);
	return 0;
}

/* The last non-empty line of @s, cut to a readable length, for messages. */
static void last_line(const struct nsh_buf *s, struct nsh_buf *line)
{
	size_t end = s->len, start;

	while (end && (s->buf[end - 1] == '\n' || s->buf[end - 1] == '\r' ||
		       s->buf[end - 1] == ' ' || s->buf[end - 1] == '\t'))
		end--;
	start = end;
	while (start && s->buf[start - 1] != '\n')
		start--;
	if (end - start > 200)
		end = start + 200;
	nsh_buf_add(line, s->buf + start, end - start);
}

int nsh_proc_run_checked(struct nsh_proc *p, struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_buf detail = NSH_BUF_INIT;
	int ret;

	ret = nsh_proc_run(p, err);
	if (ret)
		goto out;
	last_line(&p->err, &detail);
	if (p->timed_out) {
		ret = nsh_err_set(err, NSH_ETIMEOUT, "'%s' took longer than %lld ms", p->argv.v[0],
				  (long long)p->timeout_ms);
		goto out;
	}
	if (p->term_signal) {
		ret = nsh_err_set(err, NSH_EFAIL, "'%s' was killed by signal %d%s%s", p->argv.v[0],
				  p->term_signal, detail.len ? ": " : "", detail.buf);
		goto out;
	}
	if (p->exit_code) {
		ret = nsh_err_set(err, NSH_EFAIL, "'%s' failed with exit code %d%s%s", p->argv.v[0],
				  p->exit_code, detail.len ? ": " : "", detail.buf);
		goto out;
	}
	if (p->out_truncated) {
		ret = nsh_err_set(err, NSH_ETOOBIG, "output of '%s' exceeds %zu bytes",
				  p->argv.v[0], p->out_max);
		goto out;
	}
	if (out && nsh_buf_add(out, p->out.buf, p->out.len) < 0) {
		ret = nsh_err_set(err, NSH_ETOOBIG, "output of '%s' does not fit in %zu bytes",
				  p->argv.v[0], out->max);
		goto out;
	}
out:
	nsh_buf_release(&detail);
	return ret;
}

int nsh_proc_run_argv(const char *const *argv, const char *cwd, struct nsh_buf *out,
		      struct nsh_err *err)
{
	struct nsh_proc p;
	int ret;

	nsh_proc_init(&p);
	for (size_t i = 0; argv && argv[i]; i++)
		nsh_strvec_push(&p.argv, argv[i]);
	p.cwd = cwd;
	ret = nsh_proc_run_checked(&p, out, err);
	nsh_proc_release(&p);
	return ret;
}
