/*
 * Logging with levels. Library modules log at debug at most and return
 * errors instead; the CLI and daemon edges log and print.
 *
 * The level and the sink are the process's only mutable globals besides
 * the parsed configuration; set them once at start-up before threads run.
 * nsh_log_write() is thread-safe: each record is one write(2).
 */
#ifndef NSH_CORE_LOG_H
#define NSH_CORE_LOG_H

#include <stdbool.h>

enum nsh_log_level {
	NSH_LOG_ERROR = 0,
	NSH_LOG_WARN = 1,
	NSH_LOG_INFO = 2,
	NSH_LOG_DEBUG = 3,
};

extern int g_nsh_log_level; /* records above this level are dropped */
extern int g_nsh_log_fd;    /* where records go; stderr by default */

/** Parse "error", "warn", "info" or "debug"; -1 when unknown. */
int nsh_log_level_parse(const char *s);

void nsh_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The arguments are only evaluated when the level is enabled. */
#define nsh_log(level, ...)             \
 do {                                   \
  if ((level) <= g_nsh_log_level)       \
   nsh_log_write((level), __VA_ARGS__); \
 } while (0)

#define nsh_log_error(...) nsh_log(NSH_LOG_ERROR, __VA_ARGS__)
#define nsh_log_warn(...)  nsh_log(NSH_LOG_WARN, __VA_ARGS__)
#define nsh_log_info(...)  nsh_log(NSH_LOG_INFO, __VA_ARGS__)
#define nsh_log_debug(...) nsh_log(NSH_LOG_DEBUG, __VA_ARGS__)

#endif
