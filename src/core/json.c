#include "core/json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

#define PARSE_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define DUMP_FLAGS  (JSON_COMPACT | JSON_ENCODE_ANY)

/* Longest array index a path may hold, in digits; keeps the arithmetic safe. */
#define PATH_INDEX_DIGITS 9

/*
 * True when @p holds more than @max_depth unclosed '[' or '{' at some
 * point. Brackets inside strings do not count; a backslash inside a string
 * skips the next byte, so "\"" does not end the string. jansson recurses
 * once per level, so this runs before it ever sees deep input.
 */
static bool too_deep(const char *p, size_t len, int max_depth)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return true;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return false;
}

int nsh_json_parse_limits(const char *p, size_t len, size_t max_bytes, int max_depth, json_t **ret,
			  struct nsh_err *err)
{
	json_error_t jerr;
	json_t *v;

	if (len > max_bytes)
		return nsh_err_set(err, NSH_ETOOBIG, "json text is too big (%zu bytes, limit %zu)",
				   len, max_bytes);
	if (!p)
		p = ""; /* jansson refuses a NULL buffer even with len 0 */
	if (max_depth < 0)
		max_depth = 0;
	if (too_deep(p, len, max_depth))
		return nsh_err_set(err, NSH_ETOOBIG, "json nesting is too deep (limit %d levels)",
				   max_depth);
	v = json_loadb(p, len, PARSE_FLAGS, &jerr);
	if (!v)
		return nsh_err_set(err, NSH_EINVAL, "invalid json at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
	*ret = v;
	return 0;
}

int nsh_json_parse(const char *p, size_t len, json_t **ret, struct nsh_err *err)
{
	return nsh_json_parse_limits(p, len, NSH_JSON_MAX_BYTES, NSH_JSON_MAX_DEPTH, ret, err);
}

/* One step of a path: an object key (a view into the path) or an array index. */
struct path_seg {
	bool is_index;	 /* true: index, false: key */
	const char *key; /* key bytes, not NUL-terminated */
	size_t key_len;	 /* length of key */
	size_t index;	 /* array index */
};

/*
 * Read the step of @path at *@pos and move *@pos past it. Returns 1 with
 * *@seg filled, 0 at the end of the path, NSH_EINVAL when the path is
 * malformed.
 */
static int path_next(const char *path, size_t *pos, struct path_seg *seg, struct nsh_err *err)
{
	size_t i = *pos;

	if (!path[i])
		return 0;
	if (path[i] == '[') {
		size_t n = 0;
		int digits = 0;

		for (i++; path[i] >= '0' && path[i] <= '9'; i++) {
			if (++digits > PATH_INDEX_DIGITS)
				goto bad;
			n = n * 10 + (size_t)(path[i] - '0');
		}
		if (!digits || path[i] != ']')
			goto bad;
		seg->is_index = true;
		seg->index = n;
		*pos = i + 1;
		return 1;
	}
	if (i > 0) {
		if (path[i] != '.')
			goto bad;
		i++;
	}
	seg->key = path + i;
	seg->key_len = strcspn(path + i, ".[]");
	if (!seg->key_len || path[i + seg->key_len] == ']')
		goto bad;
	seg->is_index = false;
	*pos = i + seg->key_len;
	return 1;
bad:
	return nsh_err_set(err, NSH_EINVAL, "malformed json path '%s'", path);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* "the json root" or "field 'a.b'" for the first @len bytes of @path, into @out. */
static const char *field_name(char out[NSH_ERR_MSG_MAX], const char *path, size_t len)
{
	if (!len)
		snprintf(out, NSH_ERR_MSG_MAX, "the json root");
	else
		snprintf(out, NSH_ERR_MSG_MAX, "field '%.*s'", (int)len, path);
	return out;
}

/*
 * Find @path under @root; *@ret gets the value, which may be JSON null.
 * NSH_ENOTFOUND when a key is missing, an index is past the end or a
 * container on the way is null; NSH_EINVAL when a container on the way has
 * the wrong type or the path is malformed. The whole path is checked first
 * so that a malformed one fails even when the tree is empty.
 */
static int json_lookup(const json_t *root, const char *path, json_t **ret, struct nsh_err *err)
{
	char name[NSH_ERR_MSG_MAX];
	const json_t *cur = root;
	struct path_seg seg;
	size_t pos = 0, done = 0;
	int rc;

	while ((rc = path_next(path, &pos, &seg, err)) > 0)
		;
	if (rc < 0)
		return rc;
	pos = 0;
	while ((rc = path_next(path, &pos, &seg, err)) > 0) {
		/* path[0, done) names cur; path[0, pos) names the value we want next */
		if (!cur)
			return nsh_err_set(err, NSH_ENOTFOUND, "missing field '%s'", path);
		if (json_is_null(cur))
			return nsh_err_set(err, NSH_ENOTFOUND, "missing field '%s' (%s is null)",
					   path, field_name(name, path, done));
		if (seg.is_index) {
			size_t n;

			if (!json_is_array(cur))
				return nsh_err_set(err, NSH_EINVAL, "%s is not an array (it is %s)",
						   field_name(name, path, done), type_name(cur));
			n = json_array_size(cur);
			if (seg.index >= n)
				return nsh_err_set(
					err, NSH_ENOTFOUND,
					"field '%.*s' is out of range (array has %zu %s)", (int)pos,
					path, n, n == 1 ? "element" : "elements");
			cur = json_array_get(cur, seg.index);
		} else {
			if (!json_is_object(cur))
				return nsh_err_set(err, NSH_EINVAL,
						   "%s is not an object (it is %s)",
						   field_name(name, path, done), type_name(cur));
			cur = json_object_getn(cur, seg.key, seg.key_len);
		}
		done = pos;
	}
	if (rc < 0)
		return rc;
	if (!cur)
		return nsh_err_set(err, NSH_ENOTFOUND, "missing field '%s'", path);
	*ret = (json_t *)cur;
	return 0;
}

/* What a typed getter accepts. */
enum want {
	WANT_STR,
	WANT_INT,
	WANT_NUM,
	WANT_BOOL,
	WANT_OBJ,
	WANT_ARR,
};

static bool want_ok(const json_t *v, enum want w)
{
	switch (w) {
	case WANT_STR:
		return json_is_string(v);
	case WANT_INT:
		return json_is_integer(v);
	case WANT_NUM:
		return json_is_number(v);
	case WANT_BOOL:
		return json_is_boolean(v);
	case WANT_OBJ:
		return json_is_object(v);
	case WANT_ARR:
		return json_is_array(v);
	}
	return false;
}

static const char *want_name(enum want w)
{
	switch (w) {
	case WANT_STR:
		return "a string";
	case WANT_INT:
		return "an integer";
	case WANT_NUM:
		return "a number";
	case WANT_BOOL:
		return "a boolean";
	case WANT_OBJ:
		return "an object";
	case WANT_ARR:
		return "an array";
	}
	return "a value";
}

/*
 * Look up @path and check that the value is what @w asks for. With @opt, a
 * missing or null value is not an error: *@ret gets NULL.
 */
static int find_typed(const json_t *root, const char *path, enum want w, bool opt, json_t **ret,
		      struct nsh_err *err)
{
	struct nsh_err e = NSH_ERR_INIT;
	char name[NSH_ERR_MSG_MAX];
	json_t *v = NULL;
	int rc;

	rc = json_lookup(root, path, &v, &e);
	if (rc == NSH_ENOTFOUND && opt) {
		*ret = NULL;
		return 0;
	}
	if (rc) {
		if (err)
			*err = e;
		return rc;
	}
	if (opt && json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!want_ok(v, w))
		return nsh_err_set(err, NSH_EINVAL, "%s is %s, expected %s",
				   field_name(name, path, strlen(path)), type_name(v),
				   want_name(w));
	*ret = v;
	return 0;
}

int nsh_json_get_str(const json_t *root, const char *path, const char **ret, struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_STR, false, &v, err);

	if (!rc)
		*ret = json_string_value(v);
	return rc;
}

int nsh_json_get_int(const json_t *root, const char *path, json_int_t *ret, struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_INT, false, &v, err);

	if (!rc)
		*ret = json_integer_value(v);
	return rc;
}

int nsh_json_get_num(const json_t *root, const char *path, double *ret, struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_NUM, false, &v, err);

	if (!rc)
		*ret = json_number_value(v);
	return rc;
}

int nsh_json_get_bool(const json_t *root, const char *path, bool *ret, struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_BOOL, false, &v, err);

	if (!rc)
		*ret = json_is_true(v);
	return rc;
}

int nsh_json_get_obj(const json_t *root, const char *path, json_t **ret, struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_OBJ, false, &v, err);

	if (!rc)
		*ret = v;
	return rc;
}

int nsh_json_get_arr(const json_t *root, const char *path, json_t **ret, struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_ARR, false, &v, err);

	if (!rc)
		*ret = v;
	return rc;
}

int nsh_json_opt_str(const json_t *root, const char *path, const char *def, const char **ret,
		     struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_STR, true, &v, err);

	if (!rc)
		*ret = v ? json_string_value(v) : def;
	return rc;
}

int nsh_json_opt_int(const json_t *root, const char *path, json_int_t def, json_int_t *ret,
		     struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_INT, true, &v, err);

	if (!rc)
		*ret = v ? json_integer_value(v) : def;
	return rc;
}

int nsh_json_opt_num(const json_t *root, const char *path, double def, double *ret,
		     struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_NUM, true, &v, err);

	if (!rc)
		*ret = v ? json_number_value(v) : def;
	return rc;
}

int nsh_json_opt_bool(const json_t *root, const char *path, bool def, bool *ret,
		      struct nsh_err *err)
{
	json_t *v;
	int rc = find_typed(root, path, WANT_BOOL, true, &v, err);

	if (!rc)
		*ret = v ? json_is_true(v) : def;
	return rc;
}

/* Where jansson's encoder writes: a buffer and the first error it gave. */
struct dump_ctx {
	struct nsh_buf *b; /* destination */
	int rc;		   /* 0 or the nsh_buf error that stopped the dump */
};

/*
 * Sticky: once an append failed, every later one fails too. jansson 2.14
 * ignores the callback's result while it writes an object key and carries
 * on with the rest, which would otherwise leave a tree with its key cut out.
 */
static int dump_cb(const char *p, size_t size, void *data)
{
	struct dump_ctx *ctx = data;

	if (!ctx->rc)
		ctx->rc = nsh_buf_add(ctx->b, p, size);
	return ctx->rc ? -1 : 0;
}

int nsh_json_buf_add(struct nsh_buf *b, const json_t *v)
{
	struct dump_ctx ctx = {b, 0};
	size_t len = b->len;

	if (!v)
		return NSH_EINVAL;
	if (json_dump_callback(v, dump_cb, &ctx, DUMP_FLAGS) < 0 || ctx.rc) {
		nsh_buf_truncate(b, len);
		return ctx.rc ? ctx.rc : NSH_EINVAL;
	}
	return 0;
}

char *nsh_json_dump(const json_t *v)
{
	struct nsh_buf b = NSH_BUF_INIT;

	if (nsh_json_buf_add(&b, v) < 0) {
		nsh_buf_release(&b);
		return NULL;
	}
	return nsh_buf_detach(&b, NULL);
}

void nsh_json_decrefp(json_t **pp)
{
	if (*pp) {
		json_decref(*pp);
		*pp = NULL;
	}
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t c;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

json_t *nsh_json_string_lossy(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	struct nsh_buf b = NSH_BUF_INIT;
	json_t *v;

	for (size_t i = 0; i < len;) {
		size_t n = p[i] ? utf8_len(p + i, len - i) : 0;

		if (n) {
			nsh_buf_add(&b, p + i, n);
			i += n;
		} else {
			nsh_buf_adds(&b, "\xef\xbf\xbd"); /* U+FFFD; NUL too */
			i++;
		}
	}
	v = json_stringn(b.buf, b.len);
	nsh_buf_release(&b);
	return v;
}
