/*
 * Clocks and time formats. Wall-clock times are milliseconds since the Unix
 * epoch (UTC); durations and deadlines that must not jump use the monotonic
 * clock. All functions are thread-safe.
 */
#ifndef NSH_CORE_TIME_H
#define NSH_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

struct nsh_err;

/* "2026-11-25T12:53:17.123Z" plus NUL, with room for any year gmtime_r gives */
#define NSH_TIME_ISO_MAX 64

/** Wall clock, milliseconds since the epoch. */
int64_t nsh_time_now_ms(void);
/** Monotonic clock in milliseconds and nanoseconds (arbitrary origin). */
int64_t nsh_time_mono_ms(void);
int64_t nsh_time_mono_ns(void);

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
