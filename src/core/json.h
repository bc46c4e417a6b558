/*
 * JSON helpers over jansson: bounded parsing, typed getters by path and
 * serialisation into malloc'd strings or an nsh_buf.
 *
 * Parsing enforces a size cap and a nesting cap before jansson sees the
 * text, rejects duplicate object keys and trailing garbage, and rejects
 * "\u0000" inside strings: every string handed out is a C string, and a
 * NUL inside one would silently cut it short. Any JSON value is accepted
 * at the top level, not only objects and arrays.
 *
 * Paths name a value inside a tree: dot-separated object keys and [N]
 * array indices, e.g. "choices[2].message.content" or "[0].id"; "" is the
 * root. Keys cannot contain '.', '[' or ']'. A malformed path is a
 * programmer error and gives NSH_EINVAL.
 *
 * Getter errors name the path: a missing key or a null on the way is
 * NSH_ENOTFOUND ("missing field 'usage.prompt_tokens'"), an index past the
 * end is NSH_ENOTFOUND ("field 'choices[5]' is out of range (array has 2
 * elements)"), a value of the wrong type is NSH_EINVAL ("field 'a.b' is a
 * string, expected an integer").
 *
 * Thread rules: the functions here keep no state and are thread-safe; a
 * tree belongs to one thread at a time. Borrowed results live as long as
 * the tree (or the reference the caller holds on it).
 */
#ifndef NSH_CORE_JSON_H
#define NSH_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct nsh_buf;
struct nsh_err;

#define NSH_JSON_MAX_DEPTH 64	       /* default nesting cap of nsh_json_parse() */
#define NSH_JSON_MAX_BYTES (16u << 20) /* default size cap of nsh_json_parse() */

/**
 * Parse @len bytes at @p (need not be NUL-terminated) with the default
 * limits, NSH_JSON_MAX_BYTES and NSH_JSON_MAX_DEPTH. See
 * nsh_json_parse_limits().
 */
int nsh_json_parse(const char *p, size_t len, json_t **ret, struct nsh_err *err);

/**
 * Parse @len bytes at @p into a new tree; *@ret gets a new reference that
 * the caller releases with json_decref(). Text longer than @max_bytes or
 * with more than @max_depth levels of nested arrays and objects (a
 * pre-scan, before jansson runs) gives NSH_ETOOBIG; "[]" is one level, so
 * @max_depth 0 allows scalars only. Invalid JSON, a duplicate key or
 * "\u0000" in a string gives NSH_EINVAL with "invalid json at line L column
 * C: <jansson's text>". Thread-safe.
 */
int nsh_json_parse_limits(const char *p, size_t len, size_t max_bytes, int max_depth, json_t **ret,
			  struct nsh_err *err);

/**
 * Typed getters: look up @path under @root and store the value in *@ret.
 * Strings and containers are borrowed from the tree. JSON null counts as
 * the wrong type. nsh_json_get_num() accepts integers and reals.
 * Errors: see the header comment.
 */
int nsh_json_get_str(const json_t *root, const char *path, const char **ret, struct nsh_err *err);
int nsh_json_get_int(const json_t *root, const char *path, json_int_t *ret, struct nsh_err *err);
int nsh_json_get_num(const json_t *root, const char *path, double *ret, struct nsh_err *err);
int nsh_json_get_bool(const json_t *root, const char *path, bool *ret, struct nsh_err *err);
int nsh_json_get_obj(const json_t *root, const char *path, json_t **ret, struct nsh_err *err);
int nsh_json_get_arr(const json_t *root, const char *path, json_t **ret, struct nsh_err *err);

/**
 * Optional getters: when the value is missing, null, past the end of its
 * array, or anything on the way to it is missing or null, *@ret = @def and
 * 0. A value (or a container on the way) of the wrong type is still an
 * error, NSH_EINVAL, as is a malformed path.
 */
int nsh_json_opt_str(const json_t *root, const char *path, const char *def, const char **ret,
		     struct nsh_err *err);
int nsh_json_opt_int(const json_t *root, const char *path, json_int_t def, json_int_t *ret,
		     struct nsh_err *err);
int nsh_json_opt_num(const json_t *root, const char *path, double def, double *ret,
		     struct nsh_err *err);
int nsh_json_opt_bool(const json_t *root, const char *path, bool def, bool *ret,
		      struct nsh_err *err);

/**
 * Compact serialisation of @v (any value, scalars included) as a new
 * NUL-terminated string that the caller frees with free(). Never NULL for
 * a valid value; NULL for a NULL @v or a tree jansson refuses to encode
 * (one that contains itself). Aborts on out-of-memory like nsh_xmalloc().
 */
char *nsh_json_dump(const json_t *v);

/**
 * Append the compact serialisation of @v to @b. NSH_ETOOBIG when it would
 * take @b past its cap, NSH_EINVAL when @v cannot be encoded; on failure
 * @b holds exactly the bytes it held before.
 */
int nsh_json_buf_add(struct nsh_buf *b, const json_t *v);

/** json_decref() the value *@pp points at, if any; for _nsh_cleanup_json_. */
void nsh_json_decrefp(json_t **pp);

/**
 * A JSON string of @len bytes at @s, where every byte that is not part of
 * valid UTF-8 (and every NUL) becomes U+FFFD: for text from programs and
 * files, which jansson would otherwise refuse. New reference, never NULL.
 */
json_t *nsh_json_string_lossy(const char *s, size_t len);

/* A json_t * local that is released when it goes out of scope. */
#define _nsh_cleanup_json_ __attribute__((cleanup(nsh_json_decrefp)))

#endif
