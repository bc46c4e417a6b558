#include "core/time.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

#include "core/banned.h"

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t nsh_time_now_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

int64_t nsh_time_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t nsh_time_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

char *nsh_time_iso8601(int64_t ms, char out[NSH_TIME_ISO_MAX])
{
	/* floor division without computing ms - 999, which overflows at INT64_MIN */
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		secs--;
	}

	if (!gmtime_r(&secs, &tm)) {
		snprintf(out, NSH_TIME_ISO_MAX, "invalid-time");
		return out;
	}
	snprintf(out, NSH_TIME_ISO_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return out;
}

static int days_in_month(int year, int mon)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : days[mon - 1];
}

/*
 * True when @s starts with "DDDD-DD-DDTDD:DD:DD" exactly: sscanf's %d alone
 * would also take blanks and signs ("2026-+1-01T00:00: 5Z").
 */
static bool iso_shape_ok(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return false;
	}
	return true;
}

int nsh_time_parse_iso8601(const char *s, int64_t *ret_ms, struct nsh_err *err)
{
	int y, mo, d, h, mi, sec, used = 0;
	int64_t frac = 0;
	struct tm tm;
	const char *p;
	time_t t;

	if (!iso_shape_ok(s) ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
	    used != 19)
		goto bad;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
		goto bad;
	p = s + used;
	if (*p == '.') {
		int digits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (!digits)
			goto bad;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(p, "Z") && strcmp(p, "+00:00"))
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*ret_ms = (int64_t)t * 1000 + frac;
	return 0;
bad:
	return nsh_err_set(err, NSH_EINVAL, "invalid time '%s' (expected YYYY-MM-DDTHH:MM:SSZ)", s);
}

int nsh_time_parse_duration(const char *s, int64_t *ret_ms, struct nsh_err *err)
{
	const int64_t max = INT64_MAX / 1000;
	int64_t total = 0;
	const char *p = s;

	if (!*p)
		goto bad;
	while (*p) {
		int64_t n = 0, unit;

		if (*p < '0' || *p > '9')
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (n > max / 10)
				goto bad;
			n = n * 10 + (*p - '0');
		}
		switch (*p) {
		case 's':
			unit = 1000;
			break;
		case 'm':
			unit = 60 * 1000;
			break;
		case 'h':
			unit = 3600 * 1000;
			break;
		case 'd':
			unit = 86400 * 1000;
			break;
		case '\0':
			if (p != s + strspn(s, "0123456789"))
				goto bad; /* "1h30" is ambiguous */
			unit = 1000;
			p--;
			break;
		default:
			goto bad;
		}
		p++;
		if (n > (max - total / 1000) / (unit / 1000 ? unit / 1000 : 1))
			goto bad;
		total += n * unit;
	}
	*ret_ms = total;
	return 0;
bad:
	return nsh_err_set(err, NSH_EINVAL,
			   "invalid duration '%s' (expected e.g. '90s', '15m', '72h', '7d')", s);
}

void nsh_time_sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
