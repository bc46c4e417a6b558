#include "core/time.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#include "core/banned.h"

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The test hook (see time.h): a fixed offset from NIGHTSHIFT_CLOCK_OFFSET_MS
 * or nsh_time_set_offset_ms(), plus the offset written in the file named by
 * NIGHTSHIFT_CLOCK_FILE, read again at most every CLOCK_FILE_EVERY_MS.
 */
#define CLOCK_FILE_EVERY_MS 50
#define CLOCK_FILE_MAX	    32 /* bytes of a clock file: one decimal number */

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static atomic_llong clock_offset;    /* fixed offset, ms */
static atomic_llong clock_file_off;  /* the file's offset, ms */
static atomic_llong clock_file_read; /* monotonic ms of the last read; 0 never */
static const char *clock_file;	     /* NIGHTSHIFT_CLOCK_FILE, or NULL */

/* A decimal integer with an optional sign and trailing blanks; false otherwise. */
static bool parse_offset(const char *s, long long *ret)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return false;
	end += strspn(end, " \t\r\n");
	if (*end)
		return false;
	*ret = v;
	return true;
}

static void clock_init(void)
{
	const char *v = getenv("NIGHTSHIFT_CLOCK_OFFSET_MS");
	long long off;

	if (v && parse_offset(v, &off))
		atomic_store(&clock_offset, off);
	v = getenv("NIGHTSHIFT_CLOCK_FILE");
	if (v && *v)
		clock_file = v;
}

/* The clock file's offset, read again when the last read is older than 50 ms. */
static long long file_offset(void)
{
	int64_t mono = clock_ns(CLOCK_MONOTONIC) / 1000000;
	long long last = atomic_load(&clock_file_read), off = 0;
	char text[CLOCK_FILE_MAX + 1];
	ssize_t n;
	int fd;

	if (last && mono - last < CLOCK_FILE_EVERY_MS)
		return atomic_load(&clock_file_off);
	fd = open(clock_file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, CLOCK_FILE_MAX);
		close(fd);
		if (n > 0) {
			text[n] = '\0';
			if (!parse_offset(text, &off))
				off = 0;
		}
	}
	atomic_store(&clock_file_off, off);
	atomic_store(&clock_file_read, mono ? mono : 1);
	return off;
}

int64_t nsh_time_now_ms(void)
{
	int64_t ms = clock_ns(CLOCK_REALTIME) / 1000000;

	pthread_once(&clock_once, clock_init);
	ms += atomic_load(&clock_offset);
	if (clock_file)
		ms += file_offset();
	return ms;
}

void nsh_time_set_offset_ms(int64_t offset_ms)
{
	pthread_once(&clock_once, clock_init);
	atomic_store(&clock_offset, offset_ms);
}

int64_t nsh_time_offset_ms(void)
{
	pthread_once(&clock_once, clock_init);
	return atomic_load(&clock_offset) + (clock_file ? file_offset() : 0);
}

int64_t nsh_time_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t nsh_time_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

struct timespec nsh_time_deadline(clockid_t clock, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

void nsh_time_cond_init_mono(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
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
