#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/time.h"

#include "core/banned.h"

int g_nsh_log_level = NSH_LOG_WARN;
int g_nsh_log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int nsh_log_level_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (!strcmp(s, level_names[i]))
			return i;
	return -1;
}

void nsh_log_write(int level, const char *fmt, ...)
{
	char line[2048];
	char stamp[NSH_TIME_ISO_MAX];
	size_t len;
	va_list ap;
	int n;

	if (level < NSH_LOG_ERROR)
		level = NSH_LOG_ERROR;
	if (level > NSH_LOG_DEBUG)
		level = NSH_LOG_DEBUG;
	nsh_time_iso8601(nsh_time_now_ms(), stamp);
	n = snprintf(line, sizeof(line), "%s %s[%d] ", stamp, level_names[level], (int)getpid());
	len = n > 0 ? (size_t)n : 0;
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	/* A record longer than the line is cut; it still ends with a newline. */
	if (n > 0)
		len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n : sizeof(line) - len - 2;
	line[len++] = '\n';
	while (write(g_nsh_log_fd, line, len) < 0 && errno == EINTR)
		;
}
