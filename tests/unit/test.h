/*
 * A tiny unit-test runner. Each test binary defines its cases as functions,
 * runs them with RUN() from main() and ends with "return TEST_DONE();",
 * which prints "N passed, N failed" as the last line and exits non-zero on
 * any failure. CHECK() counts one assertion; a failed one prints where.
 */
#ifndef NSH_TEST_H
#define NSH_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(c)                                                         \
 do {                                                                    \
  if (c) {                                                               \
   t_pass++;                                                             \
  } else {                                                               \
   t_fail++;                                                             \
   fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
  }                                                                      \
 } while (0)

/* String equality with both values printed on failure. */
#define CHECK_STR(a, b)                                                                           \
 do {                                                                                             \
  const char *t_a_ = (a), *t_b_ = (b);                                                            \
  if (t_a_ && t_b_ && !strcmp(t_a_, t_b_)) {                                                      \
   t_pass++;                                                                                      \
  } else {                                                                                        \
   t_fail++;                                                                                      \
   fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed: '%s' != '%s'\n", __FILE__, __LINE__, #a, #b, \
	   t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                                       \
  }                                                                                               \
 } while (0)

/* Integer equality with both values printed on failure. */
#define CHECK_INT(a, b)                                                                           \
 do {                                                                                             \
  long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                         \
  if (t_a_ == t_b_) {                                                                             \
   t_pass++;                                                                                      \
  } else {                                                                                        \
   t_fail++;                                                                                      \
   fprintf(stderr, "%s:%d: CHECK_INT(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
	   t_a_, t_b_);                                                                           \
  }                                                                                               \
 } while (0)

#define RUN(fn)                    \
 do {                              \
  fprintf(stderr, "-- %s\n", #fn); \
  fn();                            \
 } while (0)

#define TEST_DONE() (printf("%d passed, %d failed\n", t_pass, t_fail), t_fail ? 1 : 0)

/*
 * A fresh temporary directory for one test; the caller removes it with nsh_fs_remove_tree()
 * and frees the name. Aborts when none can be made, since nothing can be tested then.
 */
static inline char *t_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/nsh-test-XXXXXX", base && *base ? base : "/tmp") < 0 ||
	    !mkdtemp(dir)) {
		perror("t_tmpdir");
		abort();
	}
	return dir;
}

#endif
