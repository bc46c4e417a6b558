/*
 * Run a command on a pseudo-terminal, as if a person ran it in a terminal
 * window, and copy everything it writes there to stdout (bytes as the
 * terminal received them: "\r\n" line ends, escape sequences):
 *
 *   nsh-test-pty [-c COLS] [-r ROWS] [-t SECONDS] CMD [ARG...]
 *
 * The window is COLS x ROWS (default 100 x 30). The command's stdin,
 * stdout and stderr are the terminal. After SECONDS (default 900) it is
 * killed. The exit status is the command's (128 + signal when killed).
 */
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/time.h"

#include "core/banned.h"

static long num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v <= 0 || v > 100000) {
		fprintf(stderr, "nsh-test-pty: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: nsh-test-pty [-c COLS] [-r ROWS] [-t SECONDS] CMD [ARG...]\n");
	exit(2);
}

/* Copy what the terminal has for us to stdout; false at its end (EIO: the command closed it). */
static bool pump(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
		return false;
	return true;
}

int main(int argc, char **argv)
{
	struct winsize ws = {.ws_col = 100, .ws_row = 30};
	long seconds = 900;
	int64_t deadline;
	int i, fd, status = 0;
	bool killed = false;
	pid_t pid;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "-c"))
			ws.ws_col = (unsigned short)num(argv[i + 1]);
		else if (!strcmp(argv[i], "-r"))
			ws.ws_row = (unsigned short)num(argv[i + 1]);
		else if (!strcmp(argv[i], "-t"))
			seconds = num(argv[i + 1]);
		else
			usage();
	}
	if (i >= argc)
		usage();
	fflush(stdout);
	pid = forkpty(&fd, NULL, NULL, &ws);
	if (pid < 0) {
		perror("nsh-test-pty: forkpty");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[i], argv + i);
		fprintf(stderr, "nsh-test-pty: %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	deadline = nsh_time_mono_ms() + seconds * 1000;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - nsh_time_mono_ms();
		int r;

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			fprintf(stderr, "nsh-test-pty: killed after %ld seconds\n", seconds);
			break;
		}
		r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && !pump(fd))
			break; /* the terminal closed: every writer has gone */
	}
	close(fd);
	fflush(stdout);
	if (waitpid(pid, &status, 0) < 0) {
		perror("nsh-test-pty: waitpid");
		return 1;
	}
	if (killed || WIFSIGNALED(status))
		return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL);
	return WEXITSTATUS(status);
}
