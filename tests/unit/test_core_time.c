/* Tests for core/time: ISO-8601 formatting and parsing, durations, clocks. */
#include "core/time.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "test.h"

#include "core/banned.h"

static void check_iso(int64_t ms, const char *want)
{
	char out[NSH_TIME_ISO_MAX];

	CHECK_STR(nsh_time_iso8601(ms, out), want);
}

static void test_format(void)
{
	check_iso(0, "1970-01-01T00:00:00.000Z");
	check_iso(1795611197123, "2026-11-25T12:53:17.123Z");
	check_iso(1709251199999, "2024-02-29T23:59:59.999Z");
	check_iso(1000, "1970-01-01T00:00:01.000Z");
	check_iso(7, "1970-01-01T00:00:00.007Z");
	/* before the epoch the milliseconds still count forward */
	check_iso(-1, "1969-12-31T23:59:59.999Z");
	check_iso(-1000, "1969-12-31T23:59:59.000Z");
	/* extremes neither crash nor overflow */
	{
		char out[NSH_TIME_ISO_MAX];

		CHECK(nsh_time_iso8601(INT64_MIN, out) == out);
		CHECK(nsh_time_iso8601(INT64_MAX, out) == out);
	}
}

static void test_parse(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01T00:00:00.000Z", 0},
		{"2026-11-25T12:53:17.123Z", 1795611197123},
		{"2026-11-25T12:53:17.123+00:00", 1795611197123},
		{"2026-11-25T12:53:17Z", 1795611197000},
		{"2026-11-25T12:53:17.1Z", 1795611197100},
		{"2026-11-25T12:53:17.12Z", 1795611197120},
		{"2026-11-25T12:53:17.123456Z", 1795611197123},
		{"2024-02-29T23:59:59.999Z", 1709251199999},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		int64_t ms = -1;
		int rc = nsh_time_parse_iso8601(ok[i].s, &ms, &err);

		CHECK_INT(rc, 0);
		CHECK_INT(ms, ok[i].ms);
		if (rc)
			fprintf(stderr, "  '%s': %s\n", ok[i].s, err.msg);
	}
}

static void test_round_trip(void)
{
	static const int64_t instants[] = {0, 1, 999, 1795611197123, 1709251199999, 4102444800000};

	for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
		char out[NSH_TIME_ISO_MAX];
		int64_t ms = -1;

		nsh_time_iso8601(instants[i], out);
		CHECK_INT(nsh_time_parse_iso8601(out, &ms, NULL), 0);
		CHECK_INT(ms, instants[i]);
	}
}

static void test_parse_invalid(void)
{
	static const char *bad[] = {
		"",
		"2026-13-01T00:00:00Z", /* month 13 */
		"2026-00-01T00:00:00Z",
		"2026-02-30T00:00:00Z", /* Feb 30 */
		"2025-02-29T00:00:00Z", /* not a leap year */
		"2100-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z",
		"2026-01-01T00:60:00Z",
		"2026-01-01T00:00:61Z",
		"2026-01-01T00:00:00Z junk", /* trailing junk */
		"2026-01-01T00:00:00Zx",
		"2026-01-01T00:00:00",	     /* no zone */
		"2026-01-01T00:00:00+01:00", /* only UTC */
		"2026-01-01 00:00:00Z",
		"2026-01-01T00:00:00.Z",
		"2026-1-01T00:00:00Z",
		"1969-12-31T23:59:59Z",
		"abcd-ef-ghTij:kl:mnZ",
		/* signs and blanks where digits belong */
		"2026-+1-01T00:00:00Z",
		"2026-01-01T00:00:+5Z",
		"2026-01-01T00:00:-0Z",
		"2026-01- 1T00:00:00Z",
		" 2026-01-01T00:00:00Z",
		"+026-01-01T00:00:00Z",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		int64_t ms = 12345;
		int rc = nsh_time_parse_iso8601(bad[i], &ms, &err);

		CHECK_INT(rc, NSH_EINVAL);
		CHECK_INT(ms, 12345);
		if (rc != NSH_EINVAL)
			fprintf(stderr, "  accepted '%s'\n", bad[i]);
		else
			CHECK(!strncmp(err.msg, "invalid time '", 14));
	}
}

static void test_durations(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"90s", 90000},
		{"15m", 15 * 60000},
		{"72h", 72 * 3600000LL},
		{"7d", 7 * 86400000LL},
		{"1h30m", 5400000},
		{"1d2h3m4s", 93784000},
		{"45", 45000},
		{"0", 0},
		{"0s", 0},
		{"9223372036854775s", 9223372036854775000LL}, /* the largest whole-second value */
	};
	static const char *bad[] = {
		"",
		"h",
		"5x",
		"1h30",
		"1h 30m",
		" 5s",
		"5s ",
		"-5s",
		"+5s",
		"5S",
		"1.5h",
		"s5",
		"5ms",
		"1h30s5",
		"9223372036854776s",	 /* one second over the limit */
		"9223372036854775808",	 /* bare seconds, overflow */
		"99999999999999999999s", /* overflows while reading digits */
		"106751991168d",	 /* days, overflow */
		"9223372036854775s1s",	 /* the sum overflows */
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		int64_t ms = -1;
		int rc = nsh_time_parse_duration(ok[i].s, &ms, &err);

		CHECK_INT(rc, 0);
		CHECK_INT(ms, ok[i].ms);
		if (rc)
			fprintf(stderr, "  '%s': %s\n", ok[i].s, err.msg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		int64_t ms = 777;
		int rc = nsh_time_parse_duration(bad[i], &ms, &err);

		CHECK_INT(rc, NSH_EINVAL);
		CHECK_INT(ms, 777);
		if (rc != NSH_EINVAL)
			fprintf(stderr, "  accepted '%s'\n", bad[i]);
		else
			CHECK(!strncmp(err.msg, "invalid duration '", 18));
	}
}

static void test_clocks(void)
{
	int64_t prev_ns = nsh_time_mono_ns(), prev_ms = nsh_time_mono_ms(), start;
	bool mono_ok = true;

	for (int i = 0; i < 10000; i++) {
		int64_t ns = nsh_time_mono_ns(), ms = nsh_time_mono_ms();

		if (ns < prev_ns || ms < prev_ms)
			mono_ok = false;
		prev_ns = ns;
		prev_ms = ms;
	}
	CHECK(mono_ok);

	start = nsh_time_mono_ms();
	nsh_time_sleep_ms(20);
	CHECK(nsh_time_mono_ms() - start >= 20);

	/* the wall clock is in milliseconds and after this code was written */
	CHECK(nsh_time_now_ms() > 1735689600000LL);	  /* 2025-01-01 */
	CHECK(nsh_time_now_ms() < 1735689600000LL * 100); /* not micro- or nanoseconds */
}

/* Deadlines for timed waits: normalised, on the clock asked, and honoured by a monotonic condition.
 */
static void test_deadline(void)
{
	struct timespec before, d;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond;
	int64_t t0;

	for (int64_t ms = 0; ms < 3000; ms += 337) {
		clock_gettime(CLOCK_MONOTONIC, &before);
		d = nsh_time_deadline(CLOCK_MONOTONIC, ms);
		CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
		/* at least @ms after the time read just before, and not a second more */
		int64_t diff = ((int64_t)d.tv_sec - before.tv_sec) * 1000 +
			       (d.tv_nsec - before.tv_nsec) / 1000000;
		CHECK(diff >= ms && diff < ms + 1000);
	}
	clock_gettime(CLOCK_REALTIME, &before);
	d = nsh_time_deadline(CLOCK_REALTIME, 1500);
	CHECK(d.tv_sec - before.tv_sec >= 1 && d.tv_sec - before.tv_sec <= 2);

	/* a monotonic condition times out at a monotonic deadline */
	nsh_time_cond_init_mono(&cond);
	t0 = nsh_time_mono_ms();
	d = nsh_time_deadline(CLOCK_MONOTONIC, 30);
	pthread_mutex_lock(&mu);
	CHECK_INT(pthread_cond_timedwait(&cond, &mu, &d), ETIMEDOUT);
	pthread_mutex_unlock(&mu);
	CHECK(nsh_time_mono_ms() - t0 >= 29);
	pthread_cond_destroy(&cond);
}

int main(void)
{
	RUN(test_format);
	RUN(test_parse);
	RUN(test_round_trip);
	RUN(test_parse_invalid);
	RUN(test_durations);
	RUN(test_clocks);
	RUN(test_deadline);
	return TEST_DONE();
}
