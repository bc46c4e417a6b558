/*
 * Verification (DESIGN.md section 1): the deterministic verify agent that
 * both brains share. docs/verify.md has the user's view.
 *
 * The pieces, each usable on its own:
 *
 *   detect      what the checkout uses: devfile.yaml, Dockerfile,
 *               package.json, Python, Go, Cargo, Maven, a Makefile test
 *               target and overrides in .nightshift/verify.yml, as a plan
 *               of commands (build, test, lint, types) with the format of
 *               their output;
 *   measure     run a plan's commands through a runner (the job's sandbox,
 *               or a plain subprocess) and parse what they said: tests,
 *               lint and type findings with file:line, coverage;
 *   compare     the failing tests after a change against those before it
 *               (newly failing, fixed, still failing, missing); newly
 *               failing ones are run once more to tell flaky from broken;
 *   scan        a unified diff, commit messages and a PR body for secrets
 *               (never printing a value) and changed code for SQL injection;
 *   integrity   a diff that weakens the tests: deleted or skipped tests,
 *               removed assertions, changed expected values, lowered
 *               coverage thresholds, loosened lint rules;
 *   criteria    the spec's acceptance criteria, each with a deterministic
 *               check or marked for the LLM judge or a human;
 *   verdict     all of it as checks with findings, a JSON form, a Markdown
 *               checklist for the PR body and a feedback text for a retry.
 *
 * The orchestrator's use, per attempt of a job:
 *
 *   nsh_verify_detect(ws, &plan)                 before the change
 *   nsh_verify_measure(&plan, &runner, &before)  the baseline; keep it as
 *                                                nsh_verify_measure_to_json()
 *   ... the code step changes and commits ...
 *   nsh_verify_run(&opts, &result)               opts.baseline = &before,
 *                                                opts.base = the start commit,
 *                                                opts.head = "HEAD"
 *   result.verdict: PASS -> PR (nsh_verify_result_markdown() in its body);
 *   FAIL -> back to the code step with nsh_verify_result_feedback();
 *   REVIEW -> the LLM judge or a human decides what is marked for review.
 *
 * Paths in findings are relative to the checkout's root. Commit messages
 * are named "commit:<sha>" and the PR body "pr-body".
 *
 * Thread rules: no global state; every object here belongs to one thread
 * at a time. The runner is called on the caller's thread.
 */
#ifndef NSH_VERIFY_VERIFY_H
#define NSH_VERIFY_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/vec.h"

struct nsh_err;
struct nsh_redactor;
struct nsh_sandbox;
struct nsh_sandbox_cmd;

/* ==== test reports ==== */

/* Caps on what one report holds from untrusted output. */
#define NSH_VERIFY_TESTS_MAX   100000 /* test points kept */
#define NSH_VERIFY_NAME_MAX    1024   /* bytes of a test's full name */
#define NSH_VERIFY_MESSAGE_MAX 512    /* bytes of a failure message */

enum nsh_test_status {
	NSH_TEST_PASS,
	NSH_TEST_FAIL,
	NSH_TEST_SKIP, /* "# SKIP", skipped, ignored, pending */
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
	bool complete;	 /* the run's end was seen: it was not cut short */
	bool truncated;	 /* more than NSH_VERIFY_TESTS_MAX tests: the rest dropped */
};

/** Free the tests and leave @r empty (zeroed). NULL ok. */
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

/** Free the four name lists. NULL ok. */
void nsh_test_diff_release(struct nsh_test_diff *d);

/** Compare @before with @after into @ret (caller storage, zeroed or NSH_STRVEC_INIT). */
void nsh_verify_compare(const struct nsh_test_report *before, const struct nsh_test_report *after,
			struct nsh_test_diff *ret);

/** A report as JSON: counts, complete, and the failing tests with file:line. New reference. */
json_t *nsh_test_report_to_json(const struct nsh_test_report *r);

/** A diff as JSON arrays of names. New reference. */
json_t *nsh_test_diff_to_json(const struct nsh_test_diff *d);

/**
 * Every test of @r (name, status, file, line, message), for keeping a
 * report across restarts; nsh_test_report_from_json() reads it back. New
 * reference.
 */
json_t *nsh_test_report_to_json_full(const struct nsh_test_report *r);

/**
 * Read the form of nsh_test_report_to_json_full() into @ret (zeroed
 * caller storage). NSH_EINVAL naming the field when it is malformed;
 * @ret is then empty.
 */
int nsh_test_report_from_json(const json_t *j, struct nsh_test_report *ret, struct nsh_err *err);

/* Append one test to @r (copies of the strings; @file, @message may be NULL). */
void nsh_test_report_add(struct nsh_test_report *r, const char *name, enum nsh_test_status st,
			 const char *file, int line, const char *message);

/** Recount passed, failed and skipped from the tests kept. */
void nsh_test_report_count(struct nsh_test_report *r);

/**
 * Append the tests of @from to @into (moved: @from is left empty) and
 * recount. complete is true only when both were.
 */
void nsh_test_report_merge(struct nsh_test_report *into, struct nsh_test_report *from);

/* ==== output formats and their parsers ==== */

enum nsh_verify_format {
	NSH_VERIFY_FMT_AUTO,	    /* recognised from the output (see nsh_verify_sniff()) */
	NSH_VERIFY_FMT_EXIT,	    /* only the exit code counts */
	NSH_VERIFY_FMT_TAP,	    /* TAP, e.g. node --test */
	NSH_VERIFY_FMT_MOCHA_JSON,  /* mocha --reporter json */
	NSH_VERIFY_FMT_MOCHA_SPEC,  /* mocha's default spec reporter */
	NSH_VERIFY_FMT_JEST_JSON,   /* jest --json */
	NSH_VERIFY_FMT_JUNIT_XML,   /* JUnit XML: pytest --junitxml, Maven Surefire */
	NSH_VERIFY_FMT_GO_JSON,	    /* go test -json */
	NSH_VERIFY_FMT_CARGO,	    /* cargo test's text */
	NSH_VERIFY_FMT_ESLINT_JSON, /* eslint -f json */
	NSH_VERIFY_FMT_ESLINT_TEXT, /* eslint's default "stylish" text */
	NSH_VERIFY_FMT_TSC,	    /* tsc: "file(line,col): error TS1234: ..." */
	NSH_VERIFY_FMT_LINES,	    /* "file:line[:col]: message": flake8, ruff, go vet, clippy */
	NSH_VERIFY_FMT_MYPY,	    /* "file:line[:col]: error: message  [code]" */
	NSH_VERIFY_FMT_RUSTC,	    /* rustc/cargo diagnostics: "error[E..]: msg" + " --> f:l:c" */
};

/** The stable name of a format ("tap", "junit-xml", ...). */
const char *nsh_verify_format_name(enum nsh_verify_format f);

/** Parse a format name; false when unknown. */
bool nsh_verify_format_parse(const char *s, enum nsh_verify_format *ret);

/** True for the formats that hold test results (the others hold findings). */
bool nsh_verify_format_is_tests(enum nsh_verify_format f);

/**
 * The test format @text is written in, recognised by its own marks (TAP
 * lines, go test JSON events, cargo's "test result:", mocha's "N passing",
 * a mocha or jest JSON document, JUnit XML), or NSH_VERIFY_FMT_EXIT.
 */
enum nsh_verify_format nsh_verify_sniff(const char *text, size_t len);

/* Where parsed paths are relative to, for the formats that need it. */
struct nsh_verify_parse_ctx {
	const char *go_module; /* go.mod's module path, for go test's package-relative files */
};

/**
 * Parse test output of format @fmt (one of the test formats; AUTO sniffs)
 * into @ret (zeroed caller storage), like nsh_verify_parse_tap(): never
 * fails, keeps what it can read, caps as above. @ctx may be NULL.
 * Names: mocha "fullTitle", jest "fullName", JUnit "classname.name", go
 * "package TestName/subtest", cargo "module::test". Parent tests (a go test
 * with subtests, a suite) are not tests.
 */
void nsh_verify_parse_tests(enum nsh_verify_format fmt, const char *text, size_t len,
			    const struct nsh_verify_parse_ctx *ctx, struct nsh_test_report *ret);

/* ==== findings ==== */

enum nsh_verify_kind {
	NSH_VERIFY_KIND_TEST,	   /* a test (failing, flaky, missing) */
	NSH_VERIFY_KIND_BUILD,	   /* the build */
	NSH_VERIFY_KIND_LINT,	   /* a linter's message */
	NSH_VERIFY_KIND_TYPES,	   /* a type checker's message */
	NSH_VERIFY_KIND_SECRET,	   /* a secret in the diff, a commit message or the PR body */
	NSH_VERIFY_KIND_SQLI,	   /* a query built from strings */
	NSH_VERIFY_KIND_INTEGRITY, /* tests weakened */
	NSH_VERIFY_KIND_COVERAGE,  /* coverage went down */
	NSH_VERIFY_KIND_CRITERION, /* an acceptance criterion's evidence */
	NSH_VERIFY_KIND_TOOL,	   /* a tool missing, timed out or unreadable */
};

enum nsh_verify_level {
	NSH_VERIFY_NOTE,    /* for information */
	NSH_VERIFY_WARNING, /* shown, does not block */
	NSH_VERIFY_ERROR,   /* blocks a green verdict */
};

#define NSH_VERIFY_FINDINGS_MAX 5000 /* findings kept per list */
#define NSH_VERIFY_EXCERPT_MAX	2048 /* bytes of an excerpt */

struct nsh_verify_finding {
	enum nsh_verify_kind kind;
	enum nsh_verify_level level;
	char *rule;    /* stable id: "aws-access-key", "test-skipped", "no-unused-vars", ... */
	char *file;    /* relative path, "commit:<sha>", "pr-body", or NULL */
	int line;      /* 1-based line in @file, 0 when unknown */
	char *message; /* one line, never a secret value */
	char *excerpt; /* output or source lines (secrets masked), or NULL */
};

struct nsh_verify_findings {
	struct nsh_verify_finding *v;
	size_t nr;
	size_t alloc;
	bool truncated; /* more than NSH_VERIFY_FINDINGS_MAX: the rest dropped */
};

/** Free every finding and leave @f empty. NULL ok. */
void nsh_verify_findings_release(struct nsh_verify_findings *f);

/**
 * Append a finding (copies of the strings; @rule, @file and @excerpt may
 * be NULL; @excerpt is cut at NSH_VERIFY_EXCERPT_MAX). Past
 * NSH_VERIFY_FINDINGS_MAX it is dropped and @f->truncated set.
 */
void nsh_verify_findings_add(struct nsh_verify_findings *f, enum nsh_verify_kind kind,
			     enum nsh_verify_level level, const char *rule, const char *file,
			     int line, const char *message, const char *excerpt);

/** Number of findings at @level or above. */
size_t nsh_verify_findings_count(const struct nsh_verify_findings *f, enum nsh_verify_level level);

/** A finding as JSON (kind, level, rule, file, line, message, excerpt). New reference. */
json_t *nsh_verify_finding_to_json(const struct nsh_verify_finding *f);

/** The stable names of kinds and levels ("secret", "error", ...); static storage. */
const char *nsh_verify_kind_name(enum nsh_verify_kind k);
const char *nsh_verify_level_name(enum nsh_verify_level l);

/**
 * Parse lint or type-checker output of format @fmt (ESLINT_JSON,
 * ESLINT_TEXT, TSC, LINES, MYPY, RUSTC) and append one finding of @kind
 * per message with its file, line, rule and text. ESLint and mypy
 * severities map to ERROR and WARNING (notes to NOTE); LINES and RUSTC
 * take "error" / "warning" from the text and default to ERROR. Never
 * fails; malformed parts are skipped.
 */
void nsh_verify_parse_findings(enum nsh_verify_format fmt, const char *text, size_t len,
			       enum nsh_verify_kind kind, struct nsh_verify_findings *ret);

/* ==== unified diffs ==== */

enum nsh_verify_file_status {
	NSH_VERIFY_FILE_MODIFIED,
	NSH_VERIFY_FILE_ADDED,
	NSH_VERIFY_FILE_DELETED,
	NSH_VERIFY_FILE_RENAMED,
};

/* One line of a hunk; text points into the diff (no newline, not NUL-terminated). */
struct nsh_verify_dline {
	char side;	  /* '+', '-' or ' ' */
	int old_line;	  /* line in the old file ('-' and ' '), else 0 */
	int new_line;	  /* line in the new file ('+' and ' '), else 0 */
	uint32_t hunk;	  /* index of its hunk within the file */
	const char *text; /* the line without its side character */
	size_t len;	  /* bytes in text */
};

struct nsh_verify_dfile {
	char *old_path; /* without "a/"; NULL for an added file */
	char *new_path; /* without "b/"; NULL for a deleted file */
	enum nsh_verify_file_status status;
	bool binary;		       /* "Binary files differ": no lines */
	struct nsh_verify_dline *line; /* the hunks' lines in order */
	size_t nr;
	size_t alloc;
};

struct nsh_verify_diff {
	struct nsh_verify_dfile *file;
	size_t nr;
	size_t alloc;
	struct nsh_buf text; /* the diff text the lines point into */
	size_t added;	     /* '+' lines */
	size_t removed;	     /* '-' lines */
};

#define NSH_VERIFY_DIFF_MAX ((size_t)256 << 20) /* bytes of diff text read */

/** Free the files, their lines and the diff text. NULL ok. */
void nsh_verify_diff_release(struct nsh_verify_diff *d);

/**
 * Parse a unified diff as `git diff` writes it ("diff --git" headers,
 * "new file mode", "deleted file mode", "rename from/to", "---"/"+++"
 * names, C-quoted paths, "@@ -a,b +c,d @@" hunks, "\ No newline")
 * into @ret (zeroed caller storage), taking over @text (the buffer is
 * moved into @ret->text). Also reads a plain "---"/"+++" diff. Never
 * fails: what is not a diff is ignored.
 */
void nsh_verify_diff_parse(struct nsh_buf *text, struct nsh_verify_diff *ret);

/** The path a file has after the change (new path, or old path when deleted). */
const char *nsh_verify_dfile_path(const struct nsh_verify_dfile *f);

/* ==== allowlists (from .nightshift/verify.yml) ==== */

/* One entry; every field given must match. */
struct nsh_verify_allow_entry {
	char *path;	   /* glob over the relative path ('*' also crosses '/'), or NULL */
	char *rule;	   /* a rule id, or NULL */
	char *fingerprint; /* secrets: the value's fingerprint from an earlier finding, or NULL */
};

struct nsh_verify_allow {
	struct nsh_verify_allow_entry *v;
	size_t nr;
	size_t alloc;
};

/** Free the entries. NULL ok. */
void nsh_verify_allow_release(struct nsh_verify_allow *a);

/** True when @a allows a finding of @rule in @file with @fingerprint (may be NULL). */
bool nsh_verify_allowed(const struct nsh_verify_allow *a, const char *file, const char *rule,
			const char *fingerprint);

/* ==== scanners ==== */

/*
 * Secret rules: aws-access-key, github-token (ghp_, gho_, ghu_, ghs_, ghr_),
 * github-fine-grained-token (github_pat_), slack-token, slack-webhook,
 * stripe-key (sk_/rk_, live or test), private-key (PEM "PRIVATE KEY"
 * blocks), generic-secret (a high-entropy literal assigned to a name
 * ending in key, secret or token) and password (a literal assigned to a
 * name ending in password, passwd or pwd). Findings carry the rule, the
 * file and line, the name assigned to (for the generic rules), a
 * "fingerprint" (the first 12 hex digits of a BLAKE2b hash of the value,
 * for allowlisting) in the message, and the line with the value replaced
 * by "[redacted]". The value itself never appears.
 */

/**
 * Scan the added lines of @d for secrets; append ERROR findings of kind
 * SECRET to @ret, except those @allow (may be NULL) allows. Returns the
 * number of bytes scanned.
 */
size_t nsh_verify_scan_secrets(const struct nsh_verify_diff *d,
			       const struct nsh_verify_allow *allow,
			       struct nsh_verify_findings *ret);

/**
 * Scan every line of a text (a commit message, a PR body) named @label
 * (e.g. "commit:1a2b3c4", "pr-body") for secrets, as above.
 */
size_t nsh_verify_scan_secrets_text(const char *text, size_t len, const char *label,
				    const struct nsh_verify_allow *allow,
				    struct nsh_verify_findings *ret);

/**
 * Scan the changed code of @d for SQL built from strings and passed to a
 * query call: JavaScript/TypeScript (.query, .execute, knex .raw and
 * .whereRaw & co, sequelize.query, prisma $queryRawUnsafe), Python
 * (.execute, .executemany, .executescript, .raw), Go (.Query, .QueryRow,
 * .Exec, their Context forms, .Prepare, .Raw) and Java (Statement
 * .execute*, .addBatch, .prepareStatement, .prepareCall, .createQuery,
 * .createNativeQuery). A call is flagged when an argument holds a string
 * literal with SQL in it and that literal is interpolated (a template
 * literal with ${}, an f-string), formatted (%, .format, fmt.Sprintf,
 * String.format, util.format) or concatenated with something that is not
 * a constant; or when the argument is a variable that was built that way
 * earlier in the file. Tagged templates (sql`...`) and placeholders with
 * separate values are parameterised and not flagged. A call is only
 * considered when it or the building of its variable is on an added
 * line. Appends ERROR findings of kind SQLI (rules sqli-concat,
 * sqli-interpolation, sqli-format) at the call's line. Returns bytes scanned.
 */
size_t nsh_verify_scan_sqli(const struct nsh_verify_diff *d, const struct nsh_verify_allow *allow,
			    struct nsh_verify_findings *ret);

/**
 * Look for a change that weakens the tests and append ERROR findings of
 * kind INTEGRITY (WARNING where noted):
 *   test-file-deleted        a test file deleted
 *   test-removed             more test definitions removed than added in a file
 *   test-skipped             a skip/focus marker added (.skip, xit, xdescribe,
 *                            it.only, { skip: true }, @pytest.mark.skip/skipif/
 *                            xfail, @unittest.skip, pytest.skip(), t.Skip,
 *                            #[ignore], @Disabled, @Ignore)
 *   assertion-removed        more assertions removed than added in a test file
 *   expected-value-changed   an assertion's literal changed while non-test
 *                            code changed too
 *   coverage-threshold-lowered  a coverage threshold lowered or removed
 *   lint-rule-loosened       a lint or type-checker rule turned off, made
 *                            milder or removed, files ignored, or an inline
 *                            suppression added (eslint-disable, @ts-ignore,
 *                            noqa, type: ignore, nolint, #[allow], ...)
 * An honest change (new tests, new assertions, code moved) gives none.
 */
void nsh_verify_check_integrity(const struct nsh_verify_diff *d,
				const struct nsh_verify_allow *allow,
				struct nsh_verify_findings *ret);

/** True when @path looks like a test file (test dirs, *.test.js, test_*.py, *_test.go, ...). */
bool nsh_verify_is_test_path(const char *path);

/* ==== coverage ==== */

enum nsh_verify_cov_format {
	NSH_VERIFY_COV_NONE,
	NSH_VERIFY_COV_ISTANBUL, /* c8/nyc/jest coverage-summary.json */
	NSH_VERIFY_COV_LCOV,	 /* lcov.info */
	NSH_VERIFY_COV_PY_JSON,	 /* coverage.py's coverage.json */
	NSH_VERIFY_COV_GO,	 /* go test -coverprofile */
};

struct nsh_verify_coverage {
	bool present;	 /* a figure was read */
	double percent;	 /* lines (statements for Go and coverage.py) covered, 0..100 */
	int64_t covered; /* lines covered */
	int64_t total;	 /* lines measured */
	char *source;	 /* the file it came from (relative), or NULL */
	enum nsh_verify_cov_format format;
};

/** Free @c->source and zero @c. NULL ok. */
void nsh_verify_coverage_release(struct nsh_verify_coverage *c);

/**
 * Read coverage of @fmt from @text into @ret (released first). NSH_EINVAL
 * when the text holds no figure of that format.
 */
int nsh_verify_coverage_parse(enum nsh_verify_cov_format fmt, const char *text, size_t len,
			      struct nsh_verify_coverage *ret, struct nsh_err *err);

/** The format a coverage file's name suggests, or NSH_VERIFY_COV_NONE. */
enum nsh_verify_cov_format nsh_verify_cov_format_of(const char *path);

/** The stable name of a coverage format ("lcov", "go", ...); static storage. */
const char *nsh_verify_cov_format_name(enum nsh_verify_cov_format f);

/*
 * Coverage of a test run that the caller starts itself (the orchestrator
 * runs the repository's tests with its own logs): note the coverage files
 * before the run, read the one the run wrote after it. A file that is as
 * it was before the run (a report left by an earlier run) never counts.
 */

/* One coverage file as it was before the run. */
struct nsh_verify_cov_seen {
	char *path;	  /* relative to the checkout */
	bool present;	  /* a regular file was there */
	uint64_t dev;	  /* which file: device and inode */
	uint64_t ino;	  /* (a file replaced by another is new) */
	int64_t size;	  /* bytes */
	int64_t mtime_ns; /* last written */
	int64_t ctime_ns; /* last changed (no program can set it back) */
};

struct nsh_verify_cov_snap {
	struct nsh_verify_cov_seen *v; /* in the order they are tried */
	size_t nr;
	size_t alloc;
};

/** Free the entries of @s and leave it empty. NULL ok. */
void nsh_verify_cov_snap_release(struct nsh_verify_cov_snap *s);

/**
 * Note, into @ret (zeroed caller storage), the coverage files of the
 * checkout at @dir (a host path) before a test run: @first (verify.yml's
 * "coverage", relative; may be NULL), then the files nsh_verify_measure()
 * reads (coverage/coverage-summary.json, coverage/lcov.info, lcov.info,
 * coverage.json, coverage.out, cover.out). Paths are looked at below @dir
 * without following a symbolic link. Never fails.
 */
void nsh_verify_cov_snap_take(const char *dir, const char *first, struct nsh_verify_cov_snap *ret);

/**
 * After the run: read into @ret (released first) the first file of @snap
 * that the run wrote (absent before, or another file, size or time now)
 * and that holds a figure of the format its name says; @ret->source is
 * its relative path. A file as it was before, a symbolic link on the way,
 * or anything but a regular file (of at most NSH_VERIFY_REPORT_MAX bytes)
 * is not read. When no file qualifies and @tap (the run's TAP output,
 * @tap_len bytes; may be NULL) carries node --test's own coverage table,
 * its line figure is taken. false, with @ret empty, when the run left no
 * coverage.
 */
bool nsh_verify_cov_read_new(const char *dir, const struct nsh_verify_cov_snap *snap,
			     const char *tap, size_t tap_len, struct nsh_verify_coverage *ret);

/* ==== detection: the plan ==== */

enum nsh_verify_step {
	NSH_VERIFY_STEP_BUILD,
	NSH_VERIFY_STEP_TEST,
	NSH_VERIFY_STEP_LINT,
	NSH_VERIFY_STEP_TYPES,
};

/** "build", "test", "lint" or "types"; static storage. */
const char *nsh_verify_step_name(enum nsh_verify_step s);

/*
 * How a re-run of a test command names single tests, so that only the
 * newly failing ones run again (nsh_verify_run()).
 */
enum nsh_verify_select {
	NSH_VERIFY_SELECT_NONE,	     /* it cannot: the whole command runs again */
	NSH_VERIFY_SELECT_NODE_TEST, /* node --test: --test-name-pattern per test */
	NSH_VERIFY_SELECT_JEST,	     /* jest: -t with an anchored alternation */
	NSH_VERIFY_SELECT_MOCHA,     /* mocha: --grep with an anchored alternation */
	NSH_VERIFY_SELECT_PYTEST,    /* pytest: node ids (file.py::Class::test) */
	NSH_VERIFY_SELECT_GO,	     /* go test: -run per level, the packages for "./..." */
	NSH_VERIFY_SELECT_MAVEN,     /* mvn: -Dtest=Class#method,... */
};

struct nsh_verify_command {
	enum nsh_verify_step step;
	char *name;		       /* shown in reports: "npm test", "pytest", "go vet" */
	struct nsh_strvec argv;	       /* what runs */
	struct nsh_strvec alt;	       /* tried when argv's program is missing; may be empty */
	struct nsh_strvec then;	       /* run after argv (e.g. "coverage json"); may be empty */
	struct nsh_strvec env;	       /* "K=V" added */
	char *cwd;		       /* relative to the checkout, or NULL for its root */
	enum nsh_verify_format format; /* how its output (or report) is read */
	char *report;	/* file (or "dir/" of *.xml files) it writes results to, or NULL */
	char *coverage; /* coverage file it writes, or NULL */
	enum nsh_verify_cov_format cov_format;
	char *source;		       /* where it was found: "package.json", "devfile.yaml", ... */
	int64_t timeout_ms;	       /* 0: the default */
	enum nsh_verify_select select; /* how a re-run names single tests */
	bool select_sep;	       /* "--" goes before the selection (npm run without one) */
};

/* The verify.yml settings that are not commands. */
struct nsh_verify_config {
	struct nsh_verify_allow allow_secrets;	 /* allow: secrets: [...] */
	struct nsh_verify_allow allow_sql;	 /* allow: sql: [...] */
	struct nsh_verify_allow allow_integrity; /* allow: integrity: [...] */
	struct nsh_strvec skip; /* steps or checks not to run: "lint", "sql", ... */
	int64_t timeout_ms;	/* per command; 0: default */
	bool docker_build;	/* docker: build */
	char *coverage;		/* coverage: the file the tests write, or NULL */
	json_t *criteria;	/* criteria: [...] as JSON, or NULL */
	bool offline;		/* offline: true: mvn -o, gradle --offline */
	char *maven_repo;	/* maven: repository: mvn -Dmaven.repo.local=, or NULL */
};

struct nsh_verify_plan {
	struct nsh_verify_command *v; /* in the order they run: build, test, lint, types */
	size_t nr;
	size_t alloc;
	struct nsh_strvec ecosystems; /* "node", "python", "go", "rust", "java", "make", ... */
	struct nsh_strvec hints;      /* Dockerfile ENV/WORKDIR/RUN lines, devfile run commands */
	struct nsh_strvec notes;      /* problems: no container engine, unreadable files, ... */
	char *scratch;		      /* where tools write reports, relative to the checkout */
	char *go_module;	      /* go.mod's module path, or NULL */
	struct nsh_verify_config config;
};

/** Free the commands, lists and settings of @p. NULL ok. */
void nsh_verify_plan_release(struct nsh_verify_plan *p);

/**
 * Look at the checkout in @dir (a host path) and fill @ret (zeroed caller
 * storage) with the commands that build, test, lint and type-check it,
 * in this order of authority: .nightshift/verify.yml (commands, formats,
 * reports, coverage, skip, timeout, allowlists, criteria), devfile.yaml's
 * commands by group (build, test; run commands become hints), then each
 * ecosystem found at the root: package.json (npm, yarn or pnpm by
 * lockfile; scripts test, lint, typecheck, build; eslint and tsc when
 * configured without a script), requirements*.txt / pyproject.toml /
 * setup.cfg (pytest; ruff or flake8 and mypy when configured), go.mod
 * (go test -json with a cover profile, go vet), Cargo.toml (cargo test,
 * cargo clippy), pom.xml (mvn test, Surefire reports), and a Makefile
 * "test" target when nothing else tests. A Dockerfile gives hints (ENV,
 * WORKDIR, RUN) and a note on the container engine; an image is only
 * built when verify.yml says "docker: build". Reads files only; runs
 * nothing. Errors: NSH_EINVAL for a malformed verify.yml or devfile
 * (naming the file), NSH_ENOTFOUND when @dir is not a directory.
 */
int nsh_verify_detect(const char *dir, struct nsh_verify_plan *ret, struct nsh_err *err);

/** The plan as JSON (commands, ecosystems, hints, notes). New reference. */
json_t *nsh_verify_plan_to_json(const struct nsh_verify_plan *p);

/* ==== runners ==== */

/* One command for a runner. */
struct nsh_verify_cmd {
	const char *const *argv; /* program and arguments, NULL-terminated */
	const char *const *env;	 /* "K=V" to add, NULL-terminated, or NULL */
	const char *cwd;	 /* relative to the checkout's root; NULL: the root */
	int64_t timeout_ms;	 /* 0: none */
	size_t out_max;		 /* cap on each captured stream */
};

/* What a command did. */
struct nsh_verify_exec {
	int exit_code;	    /* exit status, -1 when killed by a signal */
	int term_signal;    /* the signal, 0 when it exited */
	bool timed_out;	    /* killed at its time limit */
	struct nsh_buf out; /* stdout, up to the cap */
	struct nsh_buf err; /* stderr, up to the cap */
	bool truncated;	    /* a stream passed the cap */
	int64_t elapsed_ms; /* wall time */
};

/** Initialise caller storage (empty buffers) / free the buffers (NULL ok). */
void nsh_verify_exec_init(struct nsh_verify_exec *e);
void nsh_verify_exec_release(struct nsh_verify_exec *e);

/**
 * Run @cmd in the checkout and fill @ret (initialised, emptied by the
 * runner). Returns 0 when the program ran, whatever its status;
 * NSH_ENOTFOUND when the program does not exist where commands run (the
 * tool is missing); another error when it could not be started.
 */
typedef int nsh_verify_runner_fn(void *ctx, const struct nsh_verify_cmd *cmd,
				 struct nsh_verify_exec *ret, struct nsh_err *err);

struct nsh_verify_runner {
	nsh_verify_runner_fn *run;
	void *ctx;
	const char *root; /* the checkout as commands see it ("/workspace" in a
			     sandbox), to make the paths in their output relative */
};

/**
 * A runner that starts commands as plain subprocesses (core/proc.h) in
 * the host directory @dir (borrowed; must outlive the runner), with their
 * own process group, timeouts and output caps. For `nightshift verify`
 * on a checkout the user chose; jobs use the sandbox runner.
 */
void nsh_verify_runner_proc(struct nsh_verify_runner *r, const char *dir);

/**
 * A runner that runs commands inside @sb (borrowed), whose workspace is
 * the checkout, at /workspace.
 */
void nsh_verify_runner_sandbox(struct nsh_verify_runner *r, struct nsh_sandbox *sb);

/**
 * What sandboxed command @c did, into @ret (its buffers emptied first):
 * for runners of one's own over the sandbox (the orchestrator's).
 */
void nsh_verify_exec_from_sandbox(struct nsh_verify_exec *ret, const struct nsh_sandbox_cmd *c);

/* ==== measuring: running the plan ==== */

enum nsh_verify_outcome {
	NSH_VERIFY_OUT_RAN,	   /* ran and its output was read */
	NSH_VERIFY_OUT_MISSING,	   /* its program is not installed where commands run */
	NSH_VERIFY_OUT_TIMEOUT,	   /* killed at its time limit */
	NSH_VERIFY_OUT_UNREADABLE, /* ran, but the expected output or report was not there */
	NSH_VERIFY_OUT_NOT_RUN,	   /* could not be started (not executable) */
};

/** "ran", "missing", "timeout", "unreadable" or "not-run"; static storage. */
const char *nsh_verify_outcome_name(enum nsh_verify_outcome o);

/* What one command of the plan did. */
struct nsh_verify_step_result {
	enum nsh_verify_step step;
	char *name;			 /* the command's name */
	char *command;			 /* the argv that ran, shell-quoted for display */
	enum nsh_verify_outcome outcome; /* see above */
	int exit_code;			 /* when it ran */
	int64_t elapsed_ms;		 /* wall time */
	char *excerpt;			 /* the last lines of its output (errors first), capped */
	struct nsh_test_report tests;	 /* test steps: what it said */
	struct nsh_verify_findings findings; /* lint/types/build steps: what it said */
};

/* What the plan's commands said about one tree. */
struct nsh_verify_measure {
	struct nsh_verify_step_result *v;
	size_t nr;
	size_t alloc;
	struct nsh_test_report tests;	     /* every test step's tests, merged */
	struct nsh_verify_coverage coverage; /* when a command produced coverage */
};

/** Free the step results, the merged tests and the coverage source. NULL ok. */
void nsh_verify_measure_release(struct nsh_verify_measure *m);

/** The first result of @step in @m, or NULL. */
const struct nsh_verify_step_result *nsh_verify_measure_step(const struct nsh_verify_measure *m,
							     enum nsh_verify_step step);

/* Limits of a run. */
struct nsh_verify_limits {
	int64_t timeout_ms; /* per command; 0: the plan's, else NSH_VERIFY_TIMEOUT_DEFAULT */
	size_t out_max;	    /* per stream; 0: NSH_VERIFY_OUT_MAX_DEFAULT */
	bool tests_only;    /* run only the test steps (for re-runs) */
	bool no_tests;	    /* run every step but the tests (their report comes from
			       elsewhere: nsh_verify_opts.tests) */
};

#define NSH_VERIFY_TIMEOUT_DEFAULT ((int64_t)10 * 60 * 1000)
#define NSH_VERIFY_OUT_MAX_DEFAULT ((size_t)4 << 20)
#define NSH_VERIFY_REPORT_MAX	   ((size_t)64 << 20) /* bytes of a report file */

/**
 * Run every command of @plan through @runner in the checkout at @dir
 * (host path, for the reports and coverage files the tools write) and
 * fill @ret (zeroed caller storage). A command whose program is missing
 * is tried with its alternative, then recorded as MISSING (exit 127 from
 * a shell and "No module named" from python -m count as missing too). A
 * report file is removed before its command runs, so a stale one is never
 * read; a coverage file is read only when the run wrote it. A program that
 * exists but cannot be executed (NSH_EDENIED from the runner) is recorded
 * as NOT_RUN. Commands of
 * format EXIT (or AUTO output that is not recognised) give one test named
 * after the command, passing or failing by exit code. Returns an error
 * only when the runner fails for another reason than a missing program.
 */
int nsh_verify_measure(const char *dir, const struct nsh_verify_plan *plan,
		       const struct nsh_verify_runner *runner, const struct nsh_verify_limits *lim,
		       struct nsh_verify_measure *ret, struct nsh_err *err);

/** A measure as JSON, complete enough for nsh_verify_measure_from_json(). New reference. */
json_t *nsh_verify_measure_to_json(const struct nsh_verify_measure *m);

/** Read a measure back (zeroed caller storage). NSH_EINVAL naming what is malformed. */
int nsh_verify_measure_from_json(const json_t *j, struct nsh_verify_measure *ret,
				 struct nsh_err *err);

/* ==== acceptance criteria ==== */

/*
 * A spec carries its acceptance criteria as a JSON array; each is
 *
 *   {"id": "AC1", "text": "what must be true", "check": CHECK}
 *
 * and CHECK is one of (a missing check, or "judge" / "human", is not
 * decided here: the criterion is marked for the LLM judge or a human)
 *
 *   {"kind": "no_new_failures"}
 *   {"kind": "command", "argv": ["npm", "run", "smoke"], "timeout": "2m"}
 *   {"kind": "command", "run": "npm run smoke && ./check.sh"}     (sh -c)
 *   {"kind": "tests", "pattern": "billing*"}       ('*' and '?' glob, else substring)
 *   {"kind": "no_usages", "pattern": "_.pluck(", "regex": false,
 *    "paths": ["src/"], "exclude": ["*.md"]}
 *   {"kind": "dependency", "name": "lodash", "version": "^4.17.0",
 *    "ecosystem": "npm"}                 (npm, python, go, cargo; default: any)
 *   {"kind": "judge"} / {"kind": "human"}
 *
 * Versions: "4.17.21" exact, "4" or "4.17" a prefix, "^4.17.0", "~4.17.0",
 * ">=4.0.0 <5.0.0" (comparisons joined by spaces).
 */

enum nsh_verify_crit_kind {
	NSH_VERIFY_CRIT_REVIEW, /* no deterministic check: judge or human */
	NSH_VERIFY_CRIT_NO_NEW_FAILURES,
	NSH_VERIFY_CRIT_COMMAND,
	NSH_VERIFY_CRIT_TESTS,
	NSH_VERIFY_CRIT_NO_USAGES,
	NSH_VERIFY_CRIT_DEPENDENCY,
};

struct nsh_verify_criterion {
	char *id;			/* "AC1" (given, or "AC<n>" by position) */
	char *text;			/* what must be true */
	enum nsh_verify_crit_kind kind; /* the check */
	char *reviewer;			/* REVIEW: "judge" or "human" */
	struct nsh_strvec argv;		/* COMMAND */
	int64_t timeout_ms;		/* COMMAND; 0: default */
	char *pattern;			/* TESTS, NO_USAGES */
	bool regex;			/* NO_USAGES: @pattern is a POSIX extended regex */
	struct nsh_strvec paths;	/* NO_USAGES: path prefixes searched (empty: all) */
	struct nsh_strvec exclude;	/* NO_USAGES: globs not searched */
	char *name;			/* DEPENDENCY */
	char *version;			/* DEPENDENCY: the constraint */
	char *ecosystem;		/* DEPENDENCY, or NULL */
};

struct nsh_verify_criteria {
	struct nsh_verify_criterion *v;
	size_t nr;
	size_t alloc;
};

#define NSH_VERIFY_CRITERIA_MAX 200

/** Free every criterion. NULL ok. */
void nsh_verify_criteria_release(struct nsh_verify_criteria *c);

/**
 * Validate and read criteria (a JSON array as above) into @ret (zeroed
 * caller storage). NSH_EINVAL naming the criterion and field that is
 * wrong (an unknown kind, a bad regex or version, a missing field);
 * NSH_ETOOBIG past NSH_VERIFY_CRITERIA_MAX. Nothing is kept on error.
 */
int nsh_verify_criteria_parse(const json_t *j, struct nsh_verify_criteria *ret,
			      struct nsh_err *err);

/** True when version @v satisfies the constraint @c (grammar above). */
bool nsh_verify_version_satisfies(const char *v, const char *c);

/* ==== the whole pipeline and its verdict ==== */

enum nsh_verify_status {
	NSH_VERIFY_CHECK_PASS,	  /* checked and fine */
	NSH_VERIFY_CHECK_WARN,	  /* fine, with warnings (flaky tests, coverage down) */
	NSH_VERIFY_CHECK_FAIL,	  /* checked and not fine */
	NSH_VERIFY_CHECK_ERROR,	  /* could not be checked: timed out, unreadable output */
	NSH_VERIFY_CHECK_MISSING, /* configured, but its tool is not installed */
	NSH_VERIFY_CHECK_REVIEW,  /* needs the LLM judge or a human */
	NSH_VERIFY_CHECK_SKIPPED, /* nothing to check here (not configured, no baseline) */
};

/** "pass", "warn", "fail", "error", "missing", "review" or "skipped"; static storage. */
const char *nsh_verify_status_name(enum nsh_verify_status s);

/* One item of the checklist. */
struct nsh_verify_check {
	char *id;			     /* "tests", "lint", "types", "build", "secrets",
						"sql", "integrity", "coverage", "criterion:AC1" */
	char *title;			     /* "Tests", "Lint", ..., or the criterion's text */
	enum nsh_verify_status status;	     /* see above */
	char *evidence;			     /* one line: counts, commands, figures */
	struct nsh_verify_findings findings; /* what supports it, with file:line */
};

enum nsh_verify_verdict {
	NSH_VERIFY_VERDICT_PASS,   /* every check passed (or had nothing to check) */
	NSH_VERIFY_VERDICT_FAIL,   /* a check failed or could not run: back to the code step */
	NSH_VERIFY_VERDICT_REVIEW, /* nothing failed, but something needs a judge or a human,
				      or a configured tool was missing */
};

/** "pass", "fail" or "review"; static storage. */
const char *nsh_verify_verdict_name(enum nsh_verify_verdict v);

struct nsh_verify_result {
	enum nsh_verify_verdict verdict;
	struct nsh_verify_check *v; /* checks in checklist order */
	size_t nr;
	size_t alloc;
	struct nsh_verify_plan plan;	       /* what was detected */
	struct nsh_verify_measure after;       /* what the commands said after the change */
	struct nsh_test_diff diff;	       /* against the baseline (empty without one) */
	struct nsh_strvec flaky;	       /* newly failing, passed when run again */
	struct nsh_strvec broken;	       /* newly failing, failed again */
	struct nsh_strvec reruns;	       /* the command lines of the re-runs */
	struct nsh_verify_coverage cov_before; /* from the baseline, when it had coverage */
	bool has_baseline;		       /* a baseline measure was given */
	bool tests_given;		       /* the tests came from nsh_verify_opts.tests */
	size_t scanned_bytes;		       /* diff, messages and body scanned */
};

/** Free the checks, plan, measure, diff and lists of @r. NULL ok. */
void nsh_verify_result_release(struct nsh_verify_result *r);

struct nsh_verify_opts {
	const char *dir;			/* host path of the checkout (required) */
	const struct nsh_verify_runner *runner; /* how commands run (required) */
	const char *base; /* revision the change starts from; NULL: no diff, the scans
			     cover every file and integrity is not checked */
	const char *head; /* revision of the change; NULL: the working tree, with
			     untracked files counted as added */
	const struct nsh_verify_measure *baseline; /* the commands' results before the change */
	const json_t *criteria; /* acceptance criteria (array); NULL: verify.yml's, if any */
	const char *pr_body;	/* scanned for secrets; may be NULL */
	const struct nsh_redactor *known; /* vault values to look for as well; may be NULL */
	struct nsh_verify_limits limits;  /* per command */
	bool no_rerun;			  /* do not run newly failing tests again */
	/*
	 * The tests after the change as the caller already ran them (the
	 * orchestrator runs them with its own logs), named @tests_by ("npm
	 * test"); NULL: the plan's test steps run. With it the test steps
	 * are not run again and nothing is re-run for flakiness.
	 */
	const struct nsh_test_report *tests;
	const char *tests_by;
	/*
	 * With @tests: the coverage that run left (nsh_verify_cov_read_new()),
	 * compared with the baseline's; NULL or not present: none.
	 */
	const struct nsh_verify_coverage *coverage;
	/*
	 * The caller's word, for a checkout it made itself (the orchestrator):
	 * @base is a commit and HEAD is at it (@head NULL), so no git run
	 * checks the revisions and there are no commit messages to scan.
	 */
	bool base_is_head;
	/*
	 * With @head NULL: the caller staged every untracked file that is not
	 * ignored (git add --all), so the diff has them already and no git run
	 * lists them.
	 */
	bool untracked_staged;
};

/**
 * The whole pipeline on @o->dir: detect, measure (after the change), run
 * the test commands that reported tests newly failing against the
 * baseline once more, narrowed to those tests where the runner can name
 * them (nsh_verify_command.select; the command lines go to
 * @ret->reruns) and whole otherwise (flaky: passed then; broken: failed
 * again), diff @o->base
 * against @o->head with git, scan the diff, commit messages and PR body
 * for secrets (and @o->known values), the changed code for SQL
 * injection, the diff for weakened tests, compare coverage, and decide
 * each acceptance criterion. Fills @ret (zeroed caller storage) with the
 * checks in checklist order: build, tests, lint, types, secrets, sql,
 * integrity, coverage, then one per criterion, and the verdict.
 *
 * Errors (nothing useful in @ret): the errors of nsh_verify_detect(),
 * a runner failure other than a missing program, a git failure (bad
 * revision: NSH_EINVAL naming it). Failing tests, findings and missing
 * tools are results, not errors.
 */
int nsh_verify_run(const struct nsh_verify_opts *o, struct nsh_verify_result *ret,
		   struct nsh_err *err);

/** The result as JSON: verdict, checks with findings, tests, coverage, plan. New reference. */
json_t *nsh_verify_result_to_json(const struct nsh_verify_result *r);

/**
 * Append the Markdown checklist for a PR body to @out: a heading with the
 * verdict, one "- [x]" / "- [ ]" line per check with its status and
 * evidence, and under it up to @max_findings findings per check with
 * `file:line` (0: a default of 10). Text from tools and the repository is
 * escaped so that it cannot change the Markdown around it.
 * NSH_ETOOBIG at @out's cap.
 */
int nsh_verify_result_markdown(const struct nsh_verify_result *r, size_t max_findings,
			       struct nsh_buf *out);

/**
 * Append plain text for the code step's retry to @out: every check that
 * did not pass, and each of its ERROR and WARNING findings as
 * "file:line: message" followed by its excerpt. NSH_ETOOBIG at the cap.
 */
int nsh_verify_result_feedback(const struct nsh_verify_result *r, struct nsh_buf *out);

#endif
