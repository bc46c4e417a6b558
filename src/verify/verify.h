/*
 * Verification (DESIGN.md section 1): what the tests said, parsed from
 * their own output, and how a run after a change compares with the run
 * before it. The comparison is by the set of failing test names, never by
 * counts: a baseline can fail for reasons of its environment, and what
 * matters is what the change broke or fixed.
 *
 * Thread rules: reports belong to one thread at a time.
 */
#ifndef NSH_VERIFY_VERIFY_H
#define NSH_VERIFY_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/vec.h"

struct nsh_err;

/* Caps on what one report holds from untrusted output. */
#define NSH_VERIFY_TESTS_MAX   100000 /* test points kept */
#define NSH_VERIFY_NAME_MAX    1024   /* bytes of a test's full name */
#define NSH_VERIFY_MESSAGE_MAX 512    /* bytes of a failure message */

enum nsh_test_status {
	NSH_TEST_PASS,
	NSH_TEST_FAIL,
	NSH_TEST_SKIP, /* "# SKIP" */
	NSH_TEST_TODO, /* "# TODO": a failure that does not count */
};

/* One test (a leaf: suites are not tests). */
struct nsh_test_result {
	char *name;		     /* full name, "suite > test" */
	enum nsh_test_status status; /* what it did */
	char *file;		     /* where it is (from the tool), or NULL */
	int line;		     /* line in @file, 0 when unknown */
	char *message;		     /* first line of the failure, or NULL */
};

struct nsh_test_report {
	struct nsh_test_result *v; /* in the order the tool reported them */
	size_t nr;
	size_t alloc;
	int64_t passed;	 /* leaves that passed */
	int64_t failed;	 /* leaves that failed (TODO excluded) */
	int64_t skipped; /* SKIP and TODO */
	bool complete;	 /* the final plan line was seen: the run was not cut short */
	bool truncated;	 /* more than NSH_VERIFY_TESTS_MAX tests: the rest dropped */
};

void nsh_test_report_release(struct nsh_test_report *r);

/**
 * Parse TAP version 13/14 as written by `node --test --test-reporter=tap`
 * (nested subtests by four-space indentation, "# Subtest:" headers, YAML
 * diagnostic blocks with location and error) into @ret, which the caller
 * initialised to zeros. Lines that are not TAP are ignored; a test point
 * that has subtests is a suite, not a test. Never fails on bad input:
 * what cannot be read is left out, and @ret->complete says whether the
 * run reached its end.
 */
void nsh_verify_parse_tap(const char *text, size_t len, struct nsh_test_report *ret);

/* How a run after a change compares with the run before it. */
struct nsh_test_diff {
	struct nsh_strvec newly_failing; /* failing after, not failing (or absent) before */
	struct nsh_strvec fixed;	 /* failing before, passing after */
	struct nsh_strvec still_failing; /* failing in both */
	struct nsh_strvec missing;	 /* run before, absent after (deleted or not run) */
};

void nsh_test_diff_release(struct nsh_test_diff *d);

/** Compare @before with @after into @ret (caller storage, zeroed or NSH_STRVEC_INIT). */
void nsh_verify_compare(const struct nsh_test_report *before, const struct nsh_test_report *after,
			struct nsh_test_diff *ret);

/** A report as JSON: counts, complete, and the failing tests with file:line. New reference. */
json_t *nsh_test_report_to_json(const struct nsh_test_report *r);

/** A diff as JSON arrays of names. New reference. */
json_t *nsh_test_diff_to_json(const struct nsh_test_diff *d);

#endif
