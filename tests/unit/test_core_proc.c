/*
 * Tests for the subprocess runner: what a caller relies on when it runs git,
 * compilers or an agent's tools: exit statuses, separate capture, stdin,
 * caps, environment, cwd, errors that name the program, timeouts and that
 * nothing the program left behind survives or hangs the caller.
 */
#include "core/proc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "core/vec.h"
#include "test.h"

#include "core/banned.h"

/* Number of open descriptors of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the one opendir() holds */
}

/*
 * Wait up to about two seconds for @pid to be gone; a zombie counts as gone
 * (nobody may reap orphans in a container). Kills it when it is not, so a
 * failing test leaves nothing behind.
 */
static bool pid_gone(pid_t pid)
{
	char path[64];

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 200; i++) {
		struct nsh_buf stat = NSH_BUF_INIT;
		const char *paren;
		bool gone;

		if (nsh_fs_read_file(path, &stat, 4096, NULL) < 0)
			return true;
		paren = strrchr(stat.buf, ')');
		gone = paren && (paren[1] == ' ') && (paren[2] == 'Z' || paren[2] == 'X');
		nsh_buf_release(&stat);
		if (gone)
			return true;
		nsh_time_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	return false;
}

static pid_t parse_pid(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end != s && v > 0 && v < INT_MAX ? (pid_t)v : -1;
}

static void test_exit_codes(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "exit 3", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 3);
	CHECK_INT(p.term_signal, 0);
	CHECK(!p.timed_out);
	CHECK(p.pid > 0);
	nsh_proc_release(&p);

	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "true");
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 0);
	/* the same object can run again, with fresh results */
	nsh_strvec_pop(&p.argv);
	nsh_strvec_push(&p.argv, "false");
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 1);
	nsh_proc_release(&p);
}

static void test_separate_capture(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "echo out; echo err >&2; printf more", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_STR(p.out.buf, "out\nmore");
	CHECK_STR(p.err.buf, "err\n");
	CHECK(!p.out_truncated && !p.err_truncated);
	nsh_proc_release(&p);
}

/* 3 MiB through cat: needs stdin written while stdout is drained. */
static void test_large_stdin_stdout(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	size_t len = 3 * 1024 * 1024 + 17;
	char *data = malloc(len);
	struct nsh_proc p;

	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "cat");
	p.in = data;
	p.in_len = len;
	p.out_max = 4 * 1024 * 1024;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 0);
	CHECK_INT(p.out.len, len);
	CHECK(p.out.len == len && !memcmp(p.out.buf, data, len));
	CHECK(!p.out_truncated);
	nsh_proc_release(&p);
	free(data);
}

/* A program that does not read its stdin must not kill the caller with SIGPIPE. */
static void test_stdin_not_read(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	size_t len = 1024 * 1024;
	char *data = calloc(1, len);
	struct nsh_proc p;
	sigset_t mask;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "head", "-c", "10", NULL);
	p.in = data;
	p.in_len = len;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 0);
	CHECK_INT(p.out.len, 10);
	nsh_proc_release(&p);

	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "true");
	p.in = data;
	p.in_len = len;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 0);
	nsh_proc_release(&p);

	/* closes stdin at once and lives on: the writes certainly hit EPIPE */
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "exec 0<&-; sleep 0.1; echo alive", NULL);
	p.in = data;
	p.in_len = len;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 0);
	CHECK_STR(p.out.buf, "alive\n");
	nsh_proc_release(&p);

	/* and SIGPIPE is neither left blocked nor pending */
	sigemptyset(&mask);
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	CHECK(!sigismember(&mask, SIGPIPE));
	sigemptyset(&mask);
	sigpending(&mask);
	CHECK(!sigismember(&mask, SIGPIPE));
	free(data);
}

static void test_output_caps(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	/* excess is read and dropped: the program is not killed by SIGPIPE */
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c",
			 "head -c 100000 /dev/zero; head -c 5000 /dev/zero >&2", NULL);
	p.out_max = 1000;
	p.err_max = 4999;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.exit_code, 0);
	CHECK_INT(p.out.len, 1000);
	CHECK(p.out_truncated);
	CHECK_INT(p.err.len, 4999);
	CHECK(p.err_truncated);
	nsh_proc_release(&p);

	/* exactly at the cap is not truncated */
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "head", "-c", "100000", "/dev/zero", NULL);
	p.out_max = 100000;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.out.len, 100000);
	CHECK(!p.out_truncated);
	nsh_proc_release(&p);

	/* the default cap is 1 MiB */
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "head", "-c", "1048600", "/dev/zero", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.out.len, 1048576);
	CHECK(p.out_truncated);
	nsh_proc_release(&p);
}

static void test_env(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	setenv("NSH_TEST_INHERITED", "inherited", 1);
	setenv("NSH_TEST_UNSET", "still here", 1);
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c",
			 "printf '%s|%s|%s|%s' \"$NSH_TEST_ADDED\" \"$NSH_TEST_INHERITED\" "
			 "\"${NSH_TEST_UNSET-unset}\" \"$NSH_TEST_TWICE\"",
			 NULL);
	nsh_strvec_pushl(&p.env, "NSH_TEST_ADDED=a b", "NSH_TEST_UNSET", "NSH_TEST_TWICE=1",
			 "NSH_TEST_TWICE=2", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_STR(p.out.buf, "a b|inherited|unset|2");
	nsh_proc_release(&p);
	unsetenv("NSH_TEST_INHERITED");
	unsetenv("NSH_TEST_UNSET");

	/* env_clear: exactly the given variables; the program is still found */
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "env");
	nsh_strvec_pushl(&p.env, "A=1", "B=x=y", NULL);
	p.env_clear = true;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_STR(p.out.buf, "A=1\nB=x=y\n");
	nsh_proc_release(&p);
}

/* argv[0] is looked up in the PATH the child gets. */
static void test_child_path(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf tool = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	struct nsh_proc p;
	const char script[] = "#!/bin/sh\necho mytool ran\n";

	nsh_buf_addf(&tool, "%s/nsh-test-tool", dir);
	CHECK_INT(nsh_fs_write_atomic(tool.buf, script, strlen(script), 0755, &err), 0);
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "nsh-test-tool");
	nsh_strvec_pushf(&p.env, "PATH=/usr/bin:/bin:%s", dir);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_STR(p.out.buf, "mytool ran\n");
	nsh_proc_release(&p);

	/* not in the caller's PATH */
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "nsh-test-tool");
	CHECK_INT(nsh_proc_run(&p, &err), NSH_ENOTFOUND);
	nsh_proc_release(&p);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&tool);
	free(dir);
}

static void test_cwd(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf want = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	char *real = realpath(dir, NULL);
	struct nsh_proc p;

	nsh_buf_addf(&want, "%s\n", real);
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "pwd", "-P", NULL);
	p.cwd = dir;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_STR(p.out.buf, want.buf);
	nsh_proc_release(&p);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&want);
	free(real);
	free(dir);
}

static void test_start_errors(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf path = NSH_BUF_INIT, missing = NSH_BUF_INIT;
	char *dir = t_tmpdir();
	struct nsh_proc p;
	const char script[] = "#!/bin/sh\necho should not run\n";

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "nosuchprog", "arg", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), NSH_ENOTFOUND);
	CHECK_INT(err.code, NSH_ENOTFOUND);
	CHECK_STR(err.msg, "cannot run 'nosuchprog': No such file or directory");
	nsh_proc_release(&p);

	/* execve() fails in the child: the errno comes back over the error pipe */
	nsh_buf_addf(&path, "%s/not-executable", dir);
	CHECK_INT(nsh_fs_write_atomic(path.buf, script, strlen(script), 0644, &err), 0);
	nsh_err_clear(&err);
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, path.buf);
	CHECK_INT(nsh_proc_run(&p, &err), NSH_EDENIED);
	CHECK(strstr(err.msg, path.buf) != NULL);
	CHECK(strstr(err.msg, "Permission denied") != NULL);
	CHECK_INT(p.out.len, 0);
	nsh_proc_release(&p);

	/* a program given by a path that does not exist */
	nsh_buf_addf(&missing, "%s/missing", dir);
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, missing.buf);
	CHECK_INT(nsh_proc_run(&p, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, missing.buf) != NULL);
	nsh_proc_release(&p);

	/* a working directory that cannot be entered is named */
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "true");
	p.cwd = missing.buf;
	CHECK_INT(nsh_proc_run(&p, &err), NSH_ENOTFOUND);
	CHECK(strstr(err.msg, missing.buf) != NULL);
	CHECK(strstr(err.msg, "'true'") != NULL);
	nsh_proc_release(&p);

	nsh_proc_init(&p);
	CHECK_INT(nsh_proc_run(&p, &err), NSH_EINVAL);
	nsh_proc_release(&p);

	CHECK_INT(nsh_fs_remove_tree(dir, NULL), 0);
	nsh_buf_release(&path);
	nsh_buf_release(&missing);
	free(dir);
}

static void test_signal_death(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "echo before; kill -TERM $$; echo after", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_INT(p.term_signal, SIGTERM);
	CHECK_INT(p.exit_code, -1);
	CHECK_STR(p.out.buf, "before\n");
	CHECK(!p.timed_out);
	nsh_proc_release(&p);
}

/* On timeout the whole group dies, also the background job of the shell. */
static void test_timeout_kills_group(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;
	int64_t t0 = nsh_time_mono_ms(), took;
	pid_t grandchild;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "sleep 30 & echo $!; wait", NULL);
	p.timeout_ms = 300;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	took = nsh_time_mono_ms() - t0;
	CHECK(p.timed_out);
	CHECK_INT(p.term_signal, SIGKILL);
	CHECK_INT(p.exit_code, -1);
	CHECK(took >= 300);
	CHECK(took < 5000);
	CHECK(p.elapsed_ms >= 300 && p.elapsed_ms < 5000);
	grandchild = parse_pid(p.out.buf);
	CHECK(grandchild > 0);
	CHECK(pid_gone(grandchild));
	nsh_proc_release(&p);
}

/*
 * A finished command's background job holds stdout open; the runner must
 * not wait for it but kill it.
 */
static void test_leftover_group_killed(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;
	int64_t t0 = nsh_time_mono_ms();
	pid_t grandchild;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "sleep 30 & echo $!", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK(nsh_time_mono_ms() - t0 < 5000);
	CHECK_INT(p.exit_code, 0);
	CHECK(!p.timed_out);
	grandchild = parse_pid(p.out.buf);
	CHECK(grandchild > 0);
	CHECK(pid_gone(grandchild));
	nsh_proc_release(&p);
}

static void test_rusage_elapsed(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sleep", "0.2", NULL);
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK(p.elapsed_ms >= 200);
	CHECK(p.elapsed_ms < 5000);
	CHECK(p.ru.ru_maxrss > 0);
	nsh_proc_release(&p);
}

/* No descriptor is left open, after success or failure. */
static void test_no_fd_leak(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	int before = count_fds();
	struct nsh_proc p;

	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "cat; echo x >&2", NULL);
	p.in = "hello";
	p.in_len = 5;
	CHECK_INT(nsh_proc_run(&p, &err), 0);
	CHECK_STR(p.out.buf, "hello");
	nsh_strvec_release(&p.argv);
	nsh_strvec_push(&p.argv, "nosuchprog");
	CHECK_INT(nsh_proc_run(&p, &err), NSH_ENOTFOUND);
	nsh_strvec_release(&p.argv);
	nsh_strvec_push(&p.argv, "true");
	p.cwd = "/nonexistent-nsh-dir";
	CHECK_INT(nsh_proc_run(&p, &err), NSH_ENOTFOUND);
	nsh_proc_release(&p);
	CHECK_INT(count_fds(), before);
}

static void test_run_argv(void)
{
	static const char *const ok_argv[] = {"sh", "-c", "echo one; echo two", NULL};
	static const char *const fail_argv[] = {"sh", "-c", "echo partial; echo oops >&2; exit 2",
						NULL};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf out = NSH_BUF_INIT;

	nsh_buf_adds(&out, "pre:");
	CHECK_INT(nsh_proc_run_argv(ok_argv, NULL, &out, &err), 0);
	CHECK_STR(out.buf, "pre:one\ntwo\n");
	nsh_buf_reset(&out);
	CHECK_INT(nsh_proc_run_argv(fail_argv, NULL, &out, &err), NSH_EFAIL);
	CHECK_STR(err.msg, "'sh' failed with exit code 2: oops");
	CHECK_INT(out.len, 0);
	nsh_buf_release(&out);
}

/* A lost exit status is an error, not a made-up exit code. */
static void test_lost_status(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_proc p;

	signal(SIGCHLD, SIG_IGN); /* the kernel reaps children itself */
	nsh_proc_init(&p);
	nsh_strvec_push(&p.argv, "true");
	CHECK_INT(nsh_proc_run(&p, &err), NSH_EIO);
	CHECK_STR(err.msg, "cannot get the exit status of 'true': No child processes");
	nsh_proc_release(&p);
	signal(SIGCHLD, SIG_DFL);
}

struct thread_arg {
	int id;	 /* which thread */
	int bad; /* runs that gave the wrong result */
};

static void *thread_main(void *v)
{
	struct thread_arg *a = v;

	for (int i = 0; i < 5; i++) {
		struct nsh_proc p;
		char want[32];

		snprintf(want, sizeof(want), "t%d-%d", a->id, i);
		nsh_proc_init(&p);
		nsh_strvec_pushl(&p.argv, "sh", "-c", "printf %s \"$1\"", "sh", want, NULL);
		if (nsh_proc_run(&p, NULL) || strcmp(p.out.buf, want) || p.exit_code)
			a->bad++;
		nsh_proc_release(&p);
	}
	return NULL;
}

/* Different nsh_proc objects run concurrently without mixing results. */
static void test_threads(void)
{
	struct thread_arg args[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		args[i].id = i;
		args[i].bad = 0;
		CHECK_INT(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].bad, 0);
	}
}

/*
 * nsh_proc_start(): stdin from a file, stderr into a file, stdout streamed
 * through the pipe while the program runs; nsh_proc_wait() collects the
 * status, also of a program whose reader went away early.
 */
static void test_start_streamed(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char in_path[] = "/tmp/nsh-proc-in-XXXXXX", err_path[] = "/tmp/nsh-proc-err-XXXXXX";
	int in = mkstemp(in_path), ef = mkstemp(err_path), out = -1;
	int before;
	struct nsh_buf got = NSH_BUF_INIT;
	struct nsh_proc p;
	char chunk[4096];
	ssize_t n;

	CHECK(in >= 0 && ef >= 0);
	unlink(in_path);
	unlink(err_path);
	CHECK_INT(write(in, "abc\n", 4), 4);
	lseek(in, 0, SEEK_SET);
	before = count_fds();
	nsh_proc_init(&p);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "tr a-z A-Z; echo warn >&2; exit 3", NULL);
	CHECK_INT(nsh_proc_start(&p, in, ef, &out, &err), 0);
	CHECK(p.pid > 0);
	while ((n = read(out, chunk, sizeof(chunk))) > 0)
		nsh_buf_add(&got, chunk, (size_t)n);
	close(out);
	CHECK_INT(nsh_proc_wait(&p, false, &err), 0);
	CHECK_STR(got.buf, "ABC\n");
	CHECK_INT(p.exit_code, 3);
	lseek(ef, 0, SEEK_SET);
	n = read(ef, chunk, sizeof(chunk));
	CHECK(n == 5 && !memcmp(chunk, "warn\n", 5));

	/* a reader that gives up: closing the pipe ends a program that keeps writing */
	nsh_strvec_release(&p.argv);
	nsh_strvec_pushl(&p.argv, "sh", "-c", "while :; do echo y; done", NULL);
	CHECK_INT(nsh_proc_start(&p, -1, -1, &out, &err), 0);
	CHECK(read(out, chunk, 1) == 1);
	close(out);
	CHECK_INT(nsh_proc_wait(&p, false, &err), 0);
	CHECK(p.exit_code != 0 || p.term_signal == SIGPIPE);

	/* killed on request */
	nsh_strvec_release(&p.argv);
	nsh_strvec_pushl(&p.argv, "sleep", "60", NULL);
	CHECK_INT(nsh_proc_start(&p, -1, -1, &out, &err), 0);
	close(out);
	CHECK_INT(nsh_proc_wait(&p, true, &err), 0);
	CHECK_INT(p.term_signal, SIGKILL);

	/* a program that cannot start leaves nothing open */
	nsh_strvec_release(&p.argv);
	nsh_strvec_push(&p.argv, "nosuchprog-nsh");
	CHECK_INT(nsh_proc_start(&p, in, ef, &out, &err), NSH_ENOTFOUND);
	CHECK_INT(out, -1);
	nsh_proc_release(&p);
	CHECK_INT(count_fds(), before);
	close(in);
	close(ef);
	nsh_buf_release(&got);
}

/*
 * Starting a program leaves the caller's memory alone: no copy of its page
 * tables marked copy-on-write (fork()), whose every page written afterwards
 * costs a page fault. 8 MiB written after each of 20 runs: 40960 faults
 * with fork(), none with vfork().
 */
static void test_no_copy_on_write(void)
{
	const size_t len = (size_t)8 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
	char *mem = malloc(len);
	struct rusage before, after;
	long faults;

	memset(mem, 1, len);
	getrusage(RUSAGE_SELF, &before);
	for (int i = 0; i < 20; i++) {
		struct nsh_proc p;

		nsh_proc_init(&p);
		nsh_strvec_push(&p.argv, "true");
		CHECK_INT(nsh_proc_run(&p, NULL), 0);
		nsh_proc_release(&p);
		for (size_t off = 0; off < len; off += page)
			mem[off]++;
	}
	getrusage(RUSAGE_SELF, &after);
	faults = after.ru_minflt - before.ru_minflt;
	if (faults >= (long)(20 * (len / page) / 4))
		fprintf(stderr, "%ld page faults\n", faults);
	CHECK(faults < (long)(20 * (len / page) / 4));
	free(mem);
}

int main(void)
{
	RUN(test_exit_codes);
	RUN(test_separate_capture);
	RUN(test_large_stdin_stdout);
	RUN(test_stdin_not_read);
	RUN(test_output_caps);
	RUN(test_env);
	RUN(test_child_path);
	RUN(test_cwd);
	RUN(test_start_errors);
	RUN(test_signal_death);
	RUN(test_timeout_kills_group);
	RUN(test_leftover_group_killed);
	RUN(test_rusage_elapsed);
	RUN(test_no_fd_leak);
	RUN(test_run_argv);
	RUN(test_lost_status);
	RUN(test_threads);
	RUN(test_start_streamed);
	RUN(test_no_copy_on_write);
	return TEST_DONE();
}
