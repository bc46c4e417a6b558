/*
 * Clocks and time formats. Wall-clock times are milliseconds since the Unix
 * epoch (UTC); durations and deadlines that must not jump use the monotonic
 * clock. All functions are thread-safe.
 */
#ifndef NSH_CORE_TIME_H
#define NSH_CORE_TIME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct nsh_err;

/* "2026-11-25T12:53:17.123Z" plus NUL, with room for any year gmtime_r gives */
#define NSH_TIME_ISO_MAX 64

/**
 * Wall clock, milliseconds since the epoch.
 *
 * Test hook (never set it in production): the clock can be moved by an
 * offset in milliseconds, which every deadline, warning, retention and
 * estimate of nightshift follows. NIGHTSHIFT_CLOCK_OFFSET_MS (read once)
 * gives a fixed offset; NIGHTSHIFT_CLOCK_FILE names a file holding one
 * decimal offset ("86400000"), read again at most every 50 ms, so a test
 * can move the clock of a running daemon; a missing or unreadable file
 * counts as 0. Monotonic clocks are never moved.
 */
int64_t nsh_time_now_ms(void);

/** Test hook: replace the fixed offset of nsh_time_now_ms() (thread-safe). */
void nsh_time_set_offset_ms(int64_t offset_ms);

/** The offset nsh_time_now_ms() adds now (fixed plus the clock file's). */
int64_t nsh_time_offset_ms(void);
/** Monotonic clock in milliseconds and nanoseconds (arbitrary origin). */
int64_t nsh_time_mono_ms(void);
int64_t nsh_time_mono_ns(void);

/**
 * The time @ms milliseconds (>= 0) from now on @clock, normalised, as
 * pthread_cond_timedwait() takes it: CLOCK_REALTIME for a condition made
 * with defaults, CLOCK_MONOTONIC for one made by nsh_time_cond_init_mono().
 */
struct timespec nsh_time_deadline(clockid_t clock, int64_t ms);

/** Initialise @cond so that its timed waits take CLOCK_MONOTONIC deadlines. */
void nsh_time_cond_init_mono(pthread_cond_t *cond);

/**
 * Format @ms (epoch milliseconds) as ISO-8601 UTC with milliseconds,
 * "2026-11-25T12:53:17.123Z", into @out. Returns @out.
 */
char *nsh_time_iso8601(int64_t ms, char out[NSH_TIME_ISO_MAX]);

/**
 * Parse an ISO-8601 UTC time: "YYYY-MM-DDTHH:MM:SS" with optional ".fff"
 * fraction and a "Z" or "+00:00" suffix. NSH_EINVAL names the text.
 */
int nsh_time_parse_iso8601(const char *s, int64_t *ret_ms, struct nsh_err *err);

/**
 * Parse a duration such as "90s", "15m", "72h", "7d" or "1h30m" into
 * milliseconds. A bare number is seconds. NSH_EINVAL names the text.
 */
int nsh_time_parse_duration(const char *s, int64_t *ret_ms, struct nsh_err *err);

/** Sleep for @ms milliseconds (restarted after signals). */
void nsh_time_sleep_ms(int64_t ms);

#endif
