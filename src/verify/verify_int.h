/*
 * Internals shared by the files of src/verify/; no other module includes
 * this header.
 */
#ifndef NSH_VERIFY_VERIFY_INT_H
#define NSH_VERIFY_VERIFY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "verify/verify.h"

struct nsh_buf;
struct stat;
struct nsh_err;

/* Characters of identifiers in the languages scanned. */
static inline bool nsh_vrf_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$';
}

static inline bool nsh_vrf_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static inline char nsh_vrf_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive search for @needle (lower case) in p[0..n). */
const char *nsh_vrf_memcasemem(const char *p, size_t n, const char *needle);

/* p[0..n) without leading and trailing blanks (space, tab, CR). */
const char *nsh_vrf_trim(const char *p, size_t *n);

/* Glob match: '*' any run of bytes (also '/'), '?' one byte; "dir/" matches below dir. */
bool nsh_vrf_glob(const char *pattern, const char *s);

/* Shannon entropy of p[0..n) in bits per byte. */
double nsh_vrf_entropy(const char *p, size_t n);

/* The last component of @path (borrowed). */
const char *nsh_vrf_basename(const char *path);

/*
 * @path relative to @root (a directory, no trailing slash needed) when it
 * lies below it, without a leading "./"; else a copy of @path. Caller
 * frees. NULL for NULL.
 */
char *nsh_vrf_relpath(const char *path, const char *root);

/* Append @argv to @out as a shell-quoted line for display. */
void nsh_vrf_quote_argv(struct nsh_buf *out, const char *const *argv);

/* The last @max_lines lines of p[0..n) (at most @max_bytes), as a new string. */
char *nsh_vrf_tail(const char *p, size_t n, size_t max_lines, size_t max_bytes);

/*
 * Load YAML @text (one document) as JSON: mappings become objects (keys
 * as strings), sequences arrays and every scalar a string. Limits: the
 * document's depth (64) and the number of values made, aliases included
 * (100000), so that alias bombs end in NSH_ETOOBIG. NSH_EINVAL with the
 * line for bad YAML. An empty document gives JSON null.
 */
int nsh_vrf_yaml_load(const char *text, size_t len, json_t **ret, struct nsh_err *err);

/* verify.yml's settings (config.c): read from its document @root, and released. */
int nsh_vrf_config_read(const json_t *root, struct nsh_verify_config *ret, struct nsh_err *err);
void nsh_vrf_config_release(struct nsh_verify_config *c);

/* Parse helpers of the test formats (tap.c has TAP). */
void nsh_vrf_parse_mocha_json(const char *text, size_t len, struct nsh_test_report *ret);
void nsh_vrf_parse_mocha_spec(const char *text, size_t len, struct nsh_test_report *ret);
void nsh_vrf_parse_jest_json(const char *text, size_t len, struct nsh_test_report *ret);
void nsh_vrf_parse_junit(const char *text, size_t len, struct nsh_test_report *ret);
void nsh_vrf_parse_go_json(const char *text, size_t len, const char *go_module,
			   struct nsh_test_report *ret);
void nsh_vrf_parse_cargo(const char *text, size_t len, struct nsh_test_report *ret);

/*
 * Reports in a checkout that the tools wrote (wsfile.c), read through
 * core/below.h: code run in a sandbox may have put links where reports are
 * expected. nsh_vrf_read_fresh() / _at(): the regular file's contents into
 * @out when it was modified at or after @since (seconds) and has at most
 * @max bytes; false otherwise, with @out empty.
 */
bool nsh_vrf_read_fresh_at(int dfd, const char *name, time_t since, size_t max,
			   struct nsh_buf *out);
bool nsh_vrf_read_fresh(const char *dir, const char *rel, time_t since, size_t max,
			struct nsh_buf *out);

/* Line coverage from node --test's own coverage table in TAP comments ("# all files | ..."). */
bool nsh_vrf_tap_coverage(const char *text, size_t len, double *ret_percent);

/*
 * Run "git ARGS" (NULL-terminated @args) in @dir with forge/git.h's fixed
 * environment and with the fsmonitor hook off, capturing up to @max bytes
 * of stdout into @out (may be NULL); 0 when git exited 0 (run.c).
 */
int nsh_vrf_git(const char *dir, struct nsh_buf *out, size_t max, struct nsh_err *err,
		const char *const *args);

/* A git diff over @dir for nsh_verify_run(); see run.c. */
int nsh_vrf_git_diff(const char *dir, const char *base, const char *head, bool untracked_staged,
		     struct nsh_verify_diff *ret, struct nsh_err *err);

/* Fingerprint of a secret value: 12 hex digits of BLAKE2b. */
void nsh_vrf_fingerprint(const char *p, size_t n, char out[13]);

/* Criteria: decide each one into a check of @res (run.c gives the context). */
struct nsh_vrf_crit_ctx {
	const char *dir;			/* host path of the checkout */
	const struct nsh_verify_runner *runner; /* for command checks */
	const struct nsh_verify_limits *limits; /* for command checks */
	const struct nsh_verify_result *res;	/* tests after, diff, broken */
};

int nsh_vrf_decide_criterion(const struct nsh_vrf_crit_ctx *ctx,
			     const struct nsh_verify_criterion *c, struct nsh_verify_check *ret,
			     struct nsh_err *err);

/* Run one argv through a runner with the limits; see measure.c. */
int nsh_vrf_exec(const struct nsh_verify_runner *runner, const struct nsh_strvec *argv,
		 const struct nsh_strvec *env, const char *cwd, int64_t timeout_ms, size_t out_max,
		 struct nsh_verify_exec *ret, struct nsh_err *err);

/*
 * Run the one command @c of @plan (measure.c) with @argv and @alt in place
 * of its own (NULL: its own) and append its result to @ret, as
 * nsh_verify_measure() does for each command of a plan.
 */
int nsh_vrf_measure_command(const char *dir, const struct nsh_verify_plan *plan,
			    const struct nsh_verify_runner *runner,
			    const struct nsh_verify_limits *lim, const struct nsh_verify_command *c,
			    const struct nsh_strvec *argv, const struct nsh_strvec *alt,
			    struct nsh_verify_measure *ret, struct nsh_err *err);

/*
 * The argv (and alt, empty when @c has none) of test command @c narrowed to
 * the tests @names (as its output named them), by @c->select (select.c);
 * @dir is the checkout, for pytest's module files. false, with nothing in
 * the out-parameters, when @c cannot be narrowed or a name cannot be
 * expressed: the whole command is to run again.
 */
bool nsh_vrf_narrow(const char *dir, const struct nsh_verify_command *c,
		    const struct nsh_strvec *names, struct nsh_strvec *ret_argv,
		    struct nsh_strvec *ret_alt);

/*
 * The coverage files read when a test command wrote them, most specific
 * first, NULL-terminated (coverage.c).
 */
extern const char *const nsh_vrf_cov_candidates[];

/* True when a command's result means its program is missing (127, python's "No module"). */
bool nsh_vrf_exec_missing(const struct nsh_verify_exec *e);

#endif
