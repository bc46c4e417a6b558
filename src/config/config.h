/*
 * The home directory and the configuration file.
 *
 * The home directory holds everything nightshift keeps: --home DIR wins,
 * then $NIGHTSHIFT_HOME, then $HOME/.nightshift.
 *
 * The configuration is an INI file:
 *
 *	# comment (also ';'), whole lines only
 *	[llm]
 *	api = https://example.net/v1
 *	prompt = "  kept spaces, \"escapes\" \\ \n \t  "
 *
 * Section names are [a-z0-9_-]+ and keys [a-z0-9_.-]+, both
 * case-insensitive and stored lower-case. Values are trimmed; a value in
 * double quotes keeps its inner spaces and understands \" \\ \n \t. There
 * are no inline comments: "a = b # c" sets a to "b # c". A section may
 * appear more than once, a key only once per section. Errors name the file
 * and the line ("'/x/config' line 12: expected 'key = value'").
 *
 * The environment overrides the file: NIGHTSHIFT_<SECTION>_<KEY>, upper
 * case, with '-' and '.' turned into '_' (NIGHTSHIFT_LLM_API for [llm]
 * api). The NIGHTSHIFT_* variables are copied when the configuration is
 * loaded, so later changes to the environment do not show.
 *
 * Thread rules: loading reads the environment and must not race with
 * setenv(); a loaded configuration is read-only and may be shared between
 * threads.
 */
#ifndef NSH_CONFIG_CONFIG_H
#define NSH_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_err;
struct nsh_config;

#define NSH_CONFIG_MAX_BYTES (1u << 20) /* largest configuration file */

/**
 * Find the home directory: @flag_home (the --home value; NULL or "" when
 * not given), else $NIGHTSHIFT_HOME, else $HOME/.nightshift, with the
 * password database standing in for an unset $HOME. A relative path is
 * made absolute against the working directory; "." components, repeated
 * and trailing slashes are dropped. *@ret gets a new string the caller
 * frees. NSH_ENOTFOUND when no home can be found, NSH_EIO when the working
 * directory cannot be read. Reads the environment.
 */
int nsh_home_resolve(const char *flag_home, char **ret, struct nsh_err *err);

/**
 * Make sure the directory @home exists. Missing parents are created with
 * mode 0755 and @home itself with mode 0700 (exactly, whatever the umask);
 * an existing directory is left as it is. Something other than a directory
 * in the way is NSH_EEXIST; other failures are from nsh_err_sys().
 */
int nsh_home_ensure(const char *home, struct nsh_err *err);

/**
 * Read and parse the configuration file @path (see nsh_config_parse()). A
 * missing file gives an empty configuration (the environment still
 * applies). A file over NSH_CONFIG_MAX_BYTES is NSH_ETOOBIG; a read
 * failure comes from nsh_err_sys(). *@ret is freed with nsh_config_free().
 */
int nsh_config_load(const char *path, struct nsh_config **ret, struct nsh_err *err);

/**
 * Parse @len bytes of INI @text into a new configuration and take a copy
 * of the NIGHTSHIFT_* environment. @name (usually the file's path) is used
 * in error messages (NULL: "config"). Syntax errors, a NUL byte and duplicate keys are
 * NSH_EINVAL and name the first offending line; text over
 * NSH_CONFIG_MAX_BYTES is NSH_ETOOBIG.
 */
int nsh_config_parse(const char *text, size_t len, const char *name, struct nsh_config **ret,
		     struct nsh_err *err);

/** Free @cfg and everything borrowed from it. NULL ok. */
void nsh_config_free(struct nsh_config *cfg);

/**
 * The value of @key in @section: the environment override if set (even to
 * ""), else the file's value, else NULL. Borrowed from @cfg, which must not
 * be NULL. Names are matched case-insensitively. Note that the variable
 * name is ambiguous: [a_b] c and [a] b_c share NIGHTSHIFT_A_B_C.
 */
const char *nsh_config_get(const struct nsh_config *cfg, const char *section, const char *key);

/**
 * Typed getters: *@ret gets the value of @key in @section, or @def when it
 * is unset. A value that does not parse is NSH_EINVAL naming the setting
 * and where it came from: "invalid value 'abc' for 'limits.tasks' (from
 * NIGHTSHIFT_LIMITS_TASKS): expected an integer". *@ret is written only on
 * success.
 *
 * nsh_config_get_int(): a decimal integer with an optional sign.
 * nsh_config_get_bool(): true/false, yes/no, on/off, 1/0 in any case.
 * nsh_config_get_size(): a byte count with an optional K, M, G or T suffix
 * (powers of 1024, any case): "512", "10K", "25M".
 * nsh_config_get_duration(): milliseconds, from nsh_time_parse_duration()
 * syntax: "90s", "15m", "1h30m"; a bare number is seconds.
 */
int nsh_config_get_int(const struct nsh_config *cfg, const char *section, const char *key,
		       long long def, long long *ret, struct nsh_err *err);
int nsh_config_get_bool(const struct nsh_config *cfg, const char *section, const char *key,
			bool def, bool *ret, struct nsh_err *err);
int nsh_config_get_size(const struct nsh_config *cfg, const char *section, const char *key,
			uint64_t def, uint64_t *ret, struct nsh_err *err);
int nsh_config_get_duration(const struct nsh_config *cfg, const char *section, const char *key,
			    int64_t def_ms, int64_t *ret_ms, struct nsh_err *err);
/* nsh_config_get_number(): a finite decimal number such as "3", "0.25" or "1e-3". */
int nsh_config_get_number(const struct nsh_config *cfg, const char *section, const char *key,
			  double def, double *ret, struct nsh_err *err);

#endif
