/* Tests for core/id: format, validity and collision handling. */
#include "core/id.h"

#include <stdbool.h>

#include "core/err.h"
#include "test.h"

#include "core/banned.h"

/* An exists() callback that says "taken" for the first @busy calls. */
struct busy_ctx {
	int busy;	       /* calls that still collide; -1 for always */
	int calls;	       /* calls so far */
	int malformed;	       /* candidates that were not valid ids */
	char last[NSH_ID_MAX]; /* the last candidate seen */
};

static bool busy_exists(const char *id, void *p)
{
	struct busy_ctx *ctx = p;

	ctx->calls++;
	if (!nsh_id_valid("task", id))
		ctx->malformed++;
	snprintf(ctx->last, sizeof(ctx->last), "%s", id);
	if (ctx->busy < 0)
		return true;
	if (ctx->busy > 0) {
		ctx->busy--;
		return true;
	}
	return false;
}

static bool all_lower_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static void test_format(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char a[NSH_ID_MAX], b[NSH_ID_MAX];

	CHECK_INT(nsh_id_new("t", NULL, NULL, a, &err), 0);
	CHECK_INT(strlen(a), 8);
	CHECK(!strncmp(a, "t-", 2));
	CHECK(all_lower_hex(a + 2));
	CHECK(nsh_id_valid("t", a));
	CHECK(nsh_id_valid(NULL, a));

	CHECK_INT(nsh_id_new("task", NULL, NULL, b, &err), 0);
	CHECK_INT(strlen(b), 11);
	CHECK(!strncmp(b, "task-", 5));
	CHECK(all_lower_hex(b + 5));
	/* two draws differ (a clash has odds of 1 in 16.7 million) */
	CHECK(strcmp(a + 2, b + 5) != 0);

	/* the longest prefix still fits at the widest width */
	CHECK_INT(nsh_id_new("abcdefghijkl", NULL, NULL, a, &err), 0);
	CHECK(nsh_id_valid("abcdefghijkl", a));
}

static void test_bad_prefix(void)
{
	static const char *bad[] = {"", "T", "a1", "a-b", "abcdefghijklm", "t "};
	char out[NSH_ID_MAX] = "unchanged";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;

		CHECK_INT(nsh_id_new(bad[i], NULL, NULL, out, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "invalid id prefix") != NULL);
	}
	CHECK_INT(nsh_id_new(NULL, NULL, NULL, out, NULL), NSH_EINVAL);
	CHECK_STR(out, "unchanged");
}

static void test_valid(void)
{
	CHECK(nsh_id_valid("t", "t-7f3a9c"));
	CHECK(nsh_id_valid("t", "t-00000000"));
	CHECK(nsh_id_valid("t", "t-0123456789abcdef"));
	CHECK(nsh_id_valid(NULL, "task-7f3a9c"));
	CHECK(nsh_id_valid(NULL, "abcdefghijkl-7f3a9c"));

	CHECK(!nsh_id_valid("t", "t-7f3a9C"));		  /* upper case */
	CHECK(!nsh_id_valid("t", "t-7f3a9"));		  /* too short */
	CHECK(!nsh_id_valid("t", "t-0123456789abcdef0")); /* too long */
	CHECK(!nsh_id_valid("t", "t-7f3a9g"));		  /* not hex */
	CHECK(!nsh_id_valid("t", "x-7f3a9c"));		  /* other prefix */
	CHECK(!nsh_id_valid("t", "tt-7f3a9c"));
	CHECK(!nsh_id_valid("tt", "t-7f3a9c"));
	CHECK(!nsh_id_valid("t", "t7f3a9c"));	   /* no dash */
	CHECK(!nsh_id_valid("t", "t-7f3a9c "));	   /* trailing junk */
	CHECK(!nsh_id_valid("t", "t-7f3a9c-abc")); /* a second dash */
	CHECK(!nsh_id_valid("t", ""));
	CHECK(!nsh_id_valid("t", NULL));
	CHECK(!nsh_id_valid(NULL, "-7f3a9c"));		    /* empty prefix */
	CHECK(!nsh_id_valid(NULL, "Ab-7f3a9c"));	    /* upper-case prefix */
	CHECK(!nsh_id_valid(NULL, "a1-7f3a9c"));	    /* digit in prefix */
	CHECK(!nsh_id_valid(NULL, "abcdefghijklm-7f3a9c")); /* prefix too long */
	CHECK(!nsh_id_valid(NULL, "../../etc"));
}

static void test_collisions(void)
{
	struct busy_ctx ctx = {20, 0, 0, ""};
	struct nsh_err err = NSH_ERR_INIT;
	char out[NSH_ID_MAX];

	CHECK_INT(nsh_id_new("task", busy_exists, &ctx, out, &err), 0);
	CHECK_INT(ctx.calls, 21);
	CHECK_INT(ctx.malformed, 0);
	CHECK_STR(out, ctx.last); /* the id returned is the one that was checked */
	CHECK(nsh_id_valid("task", out));
	/* 8 tries at 6 digits, 8 at 8, then 10 digits */
	CHECK_INT(strlen(out), 5 + 10);

	/* a single collision keeps the short form */
	ctx = (struct busy_ctx){1, 0, 0, ""};
	CHECK_INT(nsh_id_new("task", busy_exists, &ctx, out, &err), 0);
	CHECK_INT(ctx.calls, 2);
	CHECK_INT(strlen(out), 5 + 6);
}

static void test_always_taken(void)
{
	struct busy_ctx ctx = {-1, 0, 0, ""};
	struct nsh_err err = NSH_ERR_INIT;
	char out[NSH_ID_MAX] = "unchanged";

	CHECK_INT(nsh_id_new("task", busy_exists, &ctx, out, &err), NSH_EEXIST);
	CHECK_INT(err.code, NSH_EEXIST);
	CHECK_STR(err.msg, "cannot find a free id with prefix 'task'");
	CHECK_INT(ctx.malformed, 0);
	/* bounded: 8 tries at each of 6, 8, ..., 16 digits */
	CHECK_INT(ctx.calls, 48);
	CHECK_INT(strlen(ctx.last), 5 + 16);
	CHECK_STR(out, "unchanged");
}

int main(void)
{
	RUN(test_format);
	RUN(test_bad_prefix);
	RUN(test_valid);
	RUN(test_collisions);
	RUN(test_always_taken);
	return TEST_DONE();
}
