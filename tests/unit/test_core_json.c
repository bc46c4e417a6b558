/* Tests for core/json: bounded parsing, getters by path, serialisation. */
#include "core/json.h"

#include <stdint.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

/* Parse a NUL-terminated literal with the default limits. */
static json_t *parse_ok(const char *s)
{
	struct nsh_err err = NSH_ERR_INIT;
	json_t *v = NULL;
	int rc = nsh_json_parse(s, strlen(s), &v, &err);

	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  parse '%s': %s\n", s, err.msg);
	return v;
}

/* Parse @s expecting error @code with @needle in the message. */
static void parse_fails(const char *s, size_t len, size_t max_bytes, int max_depth, int code,
			const char *needle)
{
	struct nsh_err err = NSH_ERR_INIT;
	json_t *v = NULL;
	int rc = nsh_json_parse_limits(s, len, max_bytes, max_depth, &v, &err);

	CHECK_INT(rc, code);
	CHECK_INT(err.code, code);
	CHECK(v == NULL);
	if (!strstr(err.msg, needle)) {
		CHECK(!"message lacks the expected text");
		fprintf(stderr, "  '%s' not in '%s'\n", needle, err.msg);
	}
	if (v)
		json_decref(v);
}

/* A string of @n copies of @open followed by "1" and @n copies of @close. */
static char *nested(size_t n, const char *open, const char *close)
{
	struct nsh_buf b = NSH_BUF_INIT;

	for (size_t i = 0; i < n; i++)
		nsh_buf_adds(&b, open);
	nsh_buf_adds(&b, "1");
	for (size_t i = 0; i < n; i++)
		nsh_buf_adds(&b, close);
	return nsh_buf_detach(&b, NULL);
}

static void test_parse_ok(void)
{
	_nsh_cleanup_json_ json_t *v = parse_ok("{\"a\": 1, \"b\": [true, null, \"x\"], "
						"\"c\": {\"d\": 2.5}}");
	_nsh_cleanup_json_ json_t *scalar = parse_ok(" 42 ");
	const char *s;
	json_int_t i;
	double d;

	CHECK(json_is_object(v));
	CHECK_INT(nsh_json_get_int(v, "a", &i, NULL), 0);
	CHECK_INT(i, 1);
	CHECK_INT(nsh_json_get_str(v, "b[2]", &s, NULL), 0);
	CHECK_STR(s, "x");
	CHECK_INT(nsh_json_get_num(v, "c.d", &d, NULL), 0);
	CHECK(d == 2.5);
	/* any value may be the top level */
	CHECK(json_is_integer(scalar));
	CHECK_INT(nsh_json_get_int(scalar, "", &i, NULL), 0);
	CHECK_INT(i, 42);
}

static void test_parse_errors(void)
{
	const char *multi = "{\n  \"a\": 1,\n  ]\n}";

	parse_fails("{\"a\":1,\"a\":2}", 13, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL,
		    "invalid json at line 1 column");
	parse_fails("{\"a\":1,\"a\":2}", 13, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "duplicate");
	parse_fails(multi, strlen(multi), NSH_JSON_MAX_BYTES, 64, NSH_EINVAL,
		    "invalid json at line 3 column 3: ");
	parse_fails("{} x", 4, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "invalid json");
	parse_fails("", 0, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "invalid json");
	parse_fails("[1,]", 4, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "invalid json");
	/* "\u0000" would cut every C string short: rejected */
	parse_fails("[\"a\\u0000b\"]", 12, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "invalid json");
	/* a raw NUL byte is not JSON either */
	parse_fails("[1]\0", 4, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "invalid json");
	/* invalid UTF-8 */
	parse_fails("\"\xff\"", 3, NSH_JSON_MAX_BYTES, 64, NSH_EINVAL, "invalid json");
}

static void test_size_cap(void)
{
	size_t big = (size_t)NSH_JSON_MAX_BYTES + 1;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *v = NULL;
	char *p;

	parse_fails("[1,2]", 5, 4, 64, NSH_ETOOBIG, "too big");
	v = NULL;
	CHECK_INT(nsh_json_parse_limits("[1,2]", 5, 5, 64, &v, NULL), 0);
	CHECK(json_is_array(v));
	json_decref(v);

	/* the default cap: 16 MiB of white space around a value is one byte too many */
	p = nsh_xmalloc(big);
	memset(p, ' ', big);
	p[0] = '1';
	v = NULL;
	CHECK_INT(nsh_json_parse(p, big, &v, &err), NSH_ETOOBIG);
	CHECK(v == NULL);
	CHECK(strstr(err.msg, "16777217 bytes") != NULL);
	free(p);
}

static void test_depth_cap(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *s;
	json_t *v = NULL;

	s = nested(64, "[", "]");
	CHECK_INT(nsh_json_parse(s, strlen(s), &v, &err), 0);
	CHECK(json_is_array(v));
	json_decref(v);
	v = NULL;
	free(s);

	s = nested(65, "[", "]");
	v = NULL;
	CHECK_INT(nsh_json_parse(s, strlen(s), &v, &err), NSH_ETOOBIG);
	CHECK(strstr(err.msg, "too deep") != NULL);
	CHECK(v == NULL);
	free(s);

	s = nested(64, "{\"k\":", "}");
	v = NULL;
	CHECK_INT(nsh_json_parse(s, strlen(s), &v, NULL), 0);
	json_decref(v);
	v = NULL;
	free(s);
	s = nested(65, "{\"k\":", "}");
	v = NULL;
	CHECK_INT(nsh_json_parse(s, strlen(s), &v, NULL), NSH_ETOOBIG);
	free(s);

	/* mixed: 32 objects then 33 arrays */
	{
		struct nsh_buf b = NSH_BUF_INIT;

		for (int i = 0; i < 32; i++)
			nsh_buf_adds(&b, "{\"a\":");
		for (int i = 0; i < 33; i++)
			nsh_buf_adds(&b, "[");
		v = NULL;
		CHECK_INT(nsh_json_parse(b.buf, b.len, &v, NULL), NSH_ETOOBIG);
		nsh_buf_release(&b);
	}

	/* 100000 levels: refused by the pre-scan, jansson never recurses */
	s = nested(100000, "[", "]");
	v = NULL;
	CHECK_INT(nsh_json_parse(s, strlen(s), &v, &err), NSH_ETOOBIG);
	CHECK(v == NULL);
	/* ...also unclosed, which is invalid JSON as well: the depth is reported */
	CHECK_INT(nsh_json_parse(s, 100000, &v, &err), NSH_ETOOBIG);
	free(s);

	/* closing brackets lower the depth again: siblings at the limit are fine */
	{
		static const char *siblings[] = {"[[1],[2],[3],{},[]]",
						 "{\"a\":[1],\"b\":{\"x\":1},\"c\":[]}"};

		for (size_t i = 0; i < 2; i++) {
			CHECK_INT(nsh_json_parse_limits(siblings[i], strlen(siblings[i]), 100, 2,
							&v, NULL),
				  0);
			json_decref(v);
			v = NULL;
		}
	}

	/* small explicit limits */
	CHECK_INT(nsh_json_parse_limits("[[1]]", 5, 100, 2, &v, NULL), 0);
	json_decref(v);
	v = NULL;
	parse_fails("[[[1]]]", 7, 100, 2, NSH_ETOOBIG, "limit 2 levels");
	parse_fails("[]", 2, 100, 0, NSH_ETOOBIG, "too deep");
	CHECK_INT(nsh_json_parse_limits("\"[\"", 3, 100, 0, &v, NULL), 0);
	json_decref(v);
	v = NULL;
}

static void test_depth_strings(void)
{
	/* brackets in strings do not count */
	static const char *ok[] = {
		"[\"[[[[[[[[[[\"]",
		"[\"{{{{{{{{{{\", \"x\"]",
		/* an escaped quote does not end the string */
		"[\"\\\"[[[[[[\", 1]",
		/* an escaped backslash does end it before the quote, and the next
		 * string's brackets again do not count */
		"[\"\\\\\", \"[[[[[[\"]",
		"{\"[[[[[[\": \"{{{{{{\"}",
	};
	/* closing brackets in strings do not lower the depth either */
	static const char *deep[] = {
		"[\"]]]]\",[[[1]]]]",
		"[\"\\\"]]]]\",[[[1]]]]",
		"[\"\\\\\",[[[1]]]]",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		json_t *v = NULL;
		int rc = nsh_json_parse_limits(ok[i], strlen(ok[i]), 100, 2, &v, &err);

		CHECK_INT(rc, 0);
		if (rc)
			fprintf(stderr, "  '%s': %s\n", ok[i], err.msg);
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++)
		parse_fails(deep[i], strlen(deep[i]), 100, 3, NSH_ETOOBIG, "too deep");
}

/*
 * Every getter on every type of value: the right type works, every wrong
 * one is NSH_EINVAL with the full path, the actual type and the expected
 * type in the message.
 */
static void test_getter_types(void)
{
	static const struct {
		const char *field;  /* key under x.y[1] */
		const char *actual; /* how the message names its type */
	} fields[] = {
		{"s", "is a string"},  {"i", "is an integer"}, {"r", "is a real number"},
		{"b", "is a boolean"}, {"n", "is null"},       {"o", "is an object"},
		{"a", "is an array"},
	};
	enum { G_STR, G_INT, G_NUM, G_BOOL, G_OBJ, G_ARR, G_NR };
	static const char *const expected[G_NR] = {
		"expected a string",  "expected an integer", "expected a number",
		"expected a boolean", "expected an object",  "expected an array",
	};
	/* fields each getter accepts */
	static const char *const accepts[G_NR] = {"s", "i", "ir", "b", "o", "a"};
	_nsh_cleanup_json_ json_t *v =
		parse_ok("{\"x\": {\"y\": [0, {\"s\": \"str\", \"i\": 7, \"r\": 1.5, \"b\": false, "
			 "\"n\": null, \"o\": {}, \"a\": []}]}}");

	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		for (int g = 0; g < G_NR; g++) {
			struct nsh_err err = NSH_ERR_INIT;
			char path[64], quoted[80];
			bool want_ok = strchr(accepts[g], fields[f].field[0]) != NULL;
			const char *s = NULL;
			json_int_t i = 0;
			double d = 0;
			bool b = true;
			json_t *j = NULL;
			int rc = -100;

			snprintf(path, sizeof(path), "x.y[1].%s", fields[f].field);
			snprintf(quoted, sizeof(quoted), "field '%s' ", path);
			switch (g) {
			case G_STR:
				rc = nsh_json_get_str(v, path, &s, &err);
				break;
			case G_INT:
				rc = nsh_json_get_int(v, path, &i, &err);
				break;
			case G_NUM:
				rc = nsh_json_get_num(v, path, &d, &err);
				break;
			case G_BOOL:
				rc = nsh_json_get_bool(v, path, &b, &err);
				break;
			case G_OBJ:
				rc = nsh_json_get_obj(v, path, &j, &err);
				break;
			case G_ARR:
				rc = nsh_json_get_arr(v, path, &j, &err);
				break;
			}
			if (want_ok) {
				CHECK_INT(rc, 0);
				continue;
			}
			CHECK_INT(rc, NSH_EINVAL);
			CHECK_INT(err.code, NSH_EINVAL);
			if (!strstr(err.msg, quoted) || !strstr(err.msg, fields[f].actual) ||
			    !strstr(err.msg, expected[g])) {
				CHECK(!"getter message");
				fprintf(stderr, "  %s on %s: '%s'\n", expected[g], path, err.msg);
			}
			/* outputs untouched on failure */
			CHECK(s == NULL && i == 0 && d == 0 && b && j == NULL);
		}
	}

	/* the values themselves */
	{
		const char *s;
		json_int_t i;
		double d;
		bool b = true;
		json_t *j;

		CHECK_INT(nsh_json_get_str(v, "x.y[1].s", &s, NULL), 0);
		CHECK_STR(s, "str");
		CHECK_INT(nsh_json_get_int(v, "x.y[1].i", &i, NULL), 0);
		CHECK_INT(i, 7);
		CHECK_INT(nsh_json_get_num(v, "x.y[1].i", &d, NULL), 0);
		CHECK(d == 7.0);
		CHECK_INT(nsh_json_get_num(v, "x.y[1].r", &d, NULL), 0);
		CHECK(d == 1.5);
		CHECK_INT(nsh_json_get_bool(v, "x.y[1].b", &b, NULL), 0);
		CHECK(!b);
		CHECK_INT(nsh_json_get_obj(v, "x.y[1]", &j, NULL), 0);
		CHECK_INT(json_object_size(j), 7);
		CHECK_INT(nsh_json_get_arr(v, "x.y", &j, NULL), 0);
		CHECK_INT(json_array_size(j), 2);
		CHECK_INT(nsh_json_get_obj(v, "", &j, NULL), 0);
		CHECK(j == v);
	}

	/* the optional getters reject wrong types too */
	{
		struct nsh_err err = NSH_ERR_INIT;
		const char *s;
		json_int_t i;
		double d;
		bool b;

		CHECK_INT(nsh_json_opt_str(v, "x.y[1].i", "d", &s, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "field 'x.y[1].i' is an integer, expected a string") != NULL);
		CHECK_INT(nsh_json_opt_int(v, "x.y[1].r", 3, &i, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "field 'x.y[1].r' is a real number, expected an integer") !=
		      NULL);
		CHECK_INT(nsh_json_opt_num(v, "x.y[1].s", 3, &d, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "field 'x.y[1].s' is a string, expected a number") != NULL);
		CHECK_INT(nsh_json_opt_bool(v, "x.y[1].a", true, &b, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "field 'x.y[1].a' is an array, expected a boolean") != NULL);
	}
}

static void test_missing(void)
{
	_nsh_cleanup_json_ json_t *v =
		parse_ok("{\"usage\": {\"prompt_tokens\": 12, \"n\": null}, "
			 "\"choices\": [{\"id\": \"a\"}, {\"id\": \"b\"}], \"s\": \"x\"}");
	_nsh_cleanup_json_ json_t *scalar = parse_ok("\"just a string\"");
	struct nsh_err err = NSH_ERR_INIT;
	const char *s = NULL;
	json_int_t i = -1;

	CHECK_INT(nsh_json_get_int(v, "usage.completion_tokens", &i, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "missing field 'usage.completion_tokens'");
	CHECK_INT(i, -1);
	/* a missing container on the way: the whole path is named */
	CHECK_INT(nsh_json_get_int(v, "stats.usage.total", &i, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "missing field 'stats.usage.total'");
	CHECK_INT(nsh_json_get_int(v, "usage.n.x", &i, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "missing field 'usage.n.x' (field 'usage.n' is null)");
	CHECK_INT(nsh_json_get_str(v, "choices[1].name", &s, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "missing field 'choices[1].name'");

	/* index out of range, last step or on the way */
	CHECK_INT(nsh_json_get_str(v, "choices[5].id", &s, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "field 'choices[5]' is out of range (array has 2 elements)");
	CHECK_INT(nsh_json_get_obj(v, "choices[2]", NULL, &err), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "field 'choices[2]' is out of range (array has 2 elements)");
	CHECK_INT(nsh_json_get_str(v, "choices[1].id", &s, &err), 0);
	CHECK_STR(s, "b");

	/* containers of the wrong type on the way */
	CHECK_INT(nsh_json_get_str(v, "choices.id", &s, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "field 'choices' is not an object (it is an array)");
	CHECK_INT(nsh_json_get_str(v, "usage[0]", &s, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "field 'usage' is not an array (it is an object)");
	CHECK_INT(nsh_json_get_str(v, "s.len", &s, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "field 's' is not an object (it is a string)");
	CHECK_INT(nsh_json_get_str(scalar, "a", &s, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "the json root is not an object (it is a string)");
	CHECK_INT(nsh_json_get_int(scalar, "", &i, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "the json root is a string, expected an integer");
	CHECK_INT(nsh_json_opt_int(v, "s.len", 5, &i, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "field 's' is not an object (it is a string)");

	/* a top-level array */
	{
		_nsh_cleanup_json_ json_t *arr = parse_ok("[10, [20, 30]]");

		CHECK_INT(nsh_json_get_int(arr, "[1][1]", &i, NULL), 0);
		CHECK_INT(i, 30);
		CHECK_INT(nsh_json_get_int(arr, "[1][2]", &i, &err), NSH_ENOTFOUND);
		CHECK_STR(err.msg, "field '[1][2]' is out of range (array has 2 elements)");
		CHECK_INT(nsh_json_get_int(arr, "[0][0]", &i, &err), NSH_EINVAL);
		CHECK_STR(err.msg, "field '[0]' is not an array (it is an integer)");
	}
}

static void test_malformed_paths(void)
{
	static const char *bad[] = {
		"a..b",		 ".a",	  "a.", "a[",	    "a[]", "a[x]", "a]", "a[0]b",
		"[12345678901]", "a[-1]", "[",	"a[0].[1]", ".",   "a.b]"};
	_nsh_cleanup_json_ json_t *v = parse_ok("{}");

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct nsh_err err = NSH_ERR_INIT;
		const char *s = "unchanged";
		json_int_t i = 0;

		/* malformed even though the tree is empty: not "missing" */
		CHECK_INT(nsh_json_get_str(v, bad[k], &s, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "malformed json path '") != NULL);
		CHECK(strstr(err.msg, bad[k]) != NULL);
		CHECK_INT(nsh_json_opt_int(v, bad[k], 1, &i, &err), NSH_EINVAL);
		CHECK_STR(s, "unchanged");
	}
}

static void test_opt_defaults(void)
{
	_nsh_cleanup_json_ json_t *v = parse_ok("{\"a\": {\"s\": \"x\", \"i\": 3, \"b\": true, "
						"\"n\": null, \"r\": 0.25}, \"l\": [1]}");
	struct nsh_err err = NSH_ERR_INIT;
	const char *s;
	json_int_t i;
	double d;
	bool b;

	/* present values win */
	CHECK_INT(nsh_json_opt_str(v, "a.s", "def", &s, &err), 0);
	CHECK_STR(s, "x");
	CHECK_INT(nsh_json_opt_int(v, "a.i", 9, &i, &err), 0);
	CHECK_INT(i, 3);
	CHECK_INT(nsh_json_opt_bool(v, "a.b", false, &b, &err), 0);
	CHECK(b);
	CHECK_INT(nsh_json_opt_num(v, "a.r", 9, &d, &err), 0);
	CHECK(d == 0.25);
	/* missing, null, missing container, null container, index past the end */
	CHECK_INT(nsh_json_opt_str(v, "a.zz", "def", &s, &err), 0);
	CHECK_STR(s, "def");
	CHECK_INT(nsh_json_opt_str(v, "a.n", "def2", &s, &err), 0);
	CHECK_STR(s, "def2");
	s = "x";
	CHECK_INT(nsh_json_opt_str(v, "a.n", NULL, &s, &err), 0);
	CHECK(s == NULL);
	CHECK_INT(nsh_json_opt_int(v, "q.w.e", 42, &i, &err), 0);
	CHECK_INT(i, 42);
	CHECK_INT(nsh_json_opt_int(v, "a.n.deeper", 43, &i, &err), 0);
	CHECK_INT(i, 43);
	CHECK_INT(nsh_json_opt_bool(v, "l[3]", true, &b, &err), 0);
	CHECK(b);
	CHECK_INT(nsh_json_opt_bool(v, "a.n", false, &b, &err), 0);
	CHECK(!b);
	CHECK_INT(nsh_json_opt_num(v, "a.none", -1.5, &d, &err), 0);
	CHECK(d == -1.5);
	/* a default is not an error: err stays clear */
	CHECK_INT(err.code, NSH_OK);
	CHECK_STR(err.msg, "");
	/* the required getters on the same paths do fail */
	CHECK_INT(nsh_json_get_str(v, "a.n", &s, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "field 'a.n' is null, expected a string");
	CHECK_INT(nsh_json_get_bool(v, "l[3]", &b, &err), NSH_ENOTFOUND);
}

static void test_dump(void)
{
	static const char *src = "{ \"b\" : [1, 2.5, \"x\\n\\\"y\\\"\", true, null],\n"
				 "  \"a\": {\"c\": \"\\u00e9\", \"e\": {}, \"f\": []} }";
	static const char *compact = "{\"b\":[1,2.5,\"x\\n\\\"y\\\"\",true,null],"
				     "\"a\":{\"c\":\"\xc3\xa9\",\"e\":{},\"f\":[]}}";
	_nsh_cleanup_json_ json_t *v = parse_ok(src);
	_nsh_cleanup_json_ json_t *again = NULL;
	_nsh_cleanup_json_ json_t *num = json_integer(-5);
	_nsh_cleanup_json_ json_t *str = json_string("q\"");
	char *s = nsh_json_dump(v);

	CHECK_STR(s, compact);
	CHECK_INT(nsh_json_parse(s, strlen(s), &again, NULL), 0);
	CHECK(json_equal(v, again));
	free(s);

	s = nsh_json_dump(num);
	CHECK_STR(s, "-5");
	free(s);
	s = nsh_json_dump(str);
	CHECK_STR(s, "\"q\\\"\"");
	free(s);
	CHECK(nsh_json_dump(NULL) == NULL);
}

static void test_buf_add(void)
{
	_nsh_cleanup_json_ json_t *v = parse_ok("{\"k\": [1, 2, 3], \"s\": \"long enough\"}");
	const char *compact = "{\"k\":[1,2,3],\"s\":\"long enough\"}";
	struct nsh_buf b = NSH_BUF_INIT;
	size_t n = strlen(compact);

	nsh_buf_adds(&b, "pre:");
	CHECK_INT(nsh_json_buf_add(&b, v), 0);
	CHECK_STR(b.buf, "pre:{\"k\":[1,2,3],\"s\":\"long enough\"}");
	nsh_buf_release(&b);

	/* exactly at the cap fits */
	nsh_buf_init(&b, 3 + n);
	nsh_buf_adds(&b, "abc");
	CHECK_INT(nsh_json_buf_add(&b, v), 0);
	CHECK_INT(b.len, 3 + n);
	nsh_buf_release(&b);

	/* one byte short: NSH_ETOOBIG and the buffer as it was */
	nsh_buf_init(&b, 3 + n - 1);
	nsh_buf_adds(&b, "abc");
	CHECK_INT(nsh_json_buf_add(&b, v), NSH_ETOOBIG);
	CHECK_INT(b.len, 3);
	CHECK_STR(b.buf, "abc");
	/* and still usable */
	CHECK_INT(nsh_buf_adds(&b, "def"), 0);
	CHECK_STR(b.buf, "abcdef");
	nsh_buf_release(&b);

	/*
	 * All or nothing at every cap, also when the cap falls inside an
	 * object key (jansson does not stop at a failed write there).
	 */
	{
		_nsh_cleanup_json_ json_t *keys =
			parse_ok("{\"first-long-key\": {\"second-long-key\": [\"v\", 1]}}");
		char *full = nsh_json_dump(keys);
		size_t len = strlen(full);
		int bad = 0;

		for (size_t cap = 0; cap <= len; cap++) {
			int rc;

			nsh_buf_init(&b, cap);
			rc = nsh_json_buf_add(&b, keys);
			if (cap < len ? rc != NSH_ETOOBIG || b.len != 0 || b.buf[0]
				      : rc != 0 || strcmp(b.buf, full)) {
				fprintf(stderr, "  cap %zu: rc %d, '%s'\n", cap, rc, b.buf);
				bad++;
			}
			nsh_buf_release(&b);
		}
		CHECK_INT(bad, 0);
		free(full);
	}

	/* an empty buffer with a tiny cap stays empty */
	nsh_buf_init(&b, 2);
	CHECK_INT(nsh_json_buf_add(&b, v), NSH_ETOOBIG);
	CHECK_INT(b.len, 0);
	CHECK_STR(b.buf, "");
	nsh_buf_release(&b);
}

int main(void)
{
	RUN(test_parse_ok);
	RUN(test_parse_errors);
	RUN(test_size_cap);
	RUN(test_depth_cap);
	RUN(test_depth_strings);
	RUN(test_getter_types);
	RUN(test_missing);
	RUN(test_malformed_paths);
	RUN(test_opt_defaults);
	RUN(test_dump);
	RUN(test_buf_add);
	return TEST_DONE();
}
