/*
 * The capped buffer (invariants after every operation), string views,
 * string vectors, error objects, allocation helpers, notify and logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/str.h"
#include "core/time.h"
#include "core/vec.h"
#include "test.h"

/* The buffer invariants of core/buf.h; counts one check per call. */
static void check_inv(const struct nsh_buf *b)
{
	CHECK(b->buf != NULL && b->buf[b->len] == '\0' && b->len <= b->max &&
	      (b->alloc == 0 ? b->buf == nsh_buf_empty && b->len == 0 : b->len < b->alloc));
}

static void test_buf_basic(void)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *p;
	size_t len;

	check_inv(&b);
	CHECK_STR(b.buf, "");
	CHECK_INT(nsh_buf_adds(&b, "hello"), 0);
	check_inv(&b);
	CHECK_INT(nsh_buf_addch(&b, ' '), 0);
	check_inv(&b);
	CHECK_INT(nsh_buf_addf(&b, "%s #%d", "world", 42), 0);
	check_inv(&b);
	CHECK_STR(b.buf, "hello world #42");
	CHECK_INT(nsh_buf_addstr(&b, NSH_STR_LIT("!")), 0);
	CHECK_INT(b.len, 16);
	nsh_buf_truncate(&b, 5);
	check_inv(&b);
	CHECK_STR(b.buf, "hello");
	nsh_buf_truncate(&b, 50); /* longer than len: no change */
	CHECK_INT(b.len, 5);
	nsh_buf_reset(&b);
	check_inv(&b);
	CHECK_INT(b.len, 0);
	CHECK(b.alloc > 0); /* reset keeps the allocation */

	/* Embedded NUL bytes are data. */
	CHECK_INT(nsh_buf_add(&b, "a\0b", 3), 0);
	CHECK_INT(b.len, 3);
	CHECK(memcmp(b.buf, "a\0b", 4) == 0);
	check_inv(&b);

	p = nsh_buf_detach(&b, &len);
	check_inv(&b);
	CHECK_INT(len, 3);
	CHECK_INT(b.alloc, 0);
	free(p);

	/* Detaching an empty buffer still gives the caller a string to free. */
	p = nsh_buf_detach(&b, NULL);
	CHECK_STR(p, "");
	free(p);
	nsh_buf_release(&b);
	check_inv(&b);
	nsh_buf_release(NULL);
}

static void test_buf_cap(void)
{
	struct nsh_buf b;
	char big[100];

	memset(big, 'x', sizeof(big));
	nsh_buf_init(&b, 10);
	check_inv(&b);
	CHECK_INT(nsh_buf_add(&b, big, 10), 0);
	check_inv(&b);
	/* Past the cap: refused, and the buffer is exactly as it was. */
	CHECK_INT(nsh_buf_addch(&b, 'y'), NSH_ETOOBIG);
	CHECK_INT(b.len, 10);
	CHECK(b.buf[9] == 'x' && b.buf[10] == '\0');
	check_inv(&b);
	nsh_buf_truncate(&b, 4);
	CHECK_INT(nsh_buf_addf(&b, "%s", "123456789"), NSH_ETOOBIG);
	CHECK_INT(b.len, 4);
	check_inv(&b);
	CHECK_INT(nsh_buf_addf(&b, "%d", 123456), 0);
	CHECK_INT(b.len, 10);
	check_inv(&b);
	CHECK_INT(nsh_buf_add(&b, big, 0), 0); /* empty append always fits */
	nsh_buf_release(&b);
	CHECK_INT(b.max, 10); /* the cap survives release */
	check_inv(&b);

	/* Overflowing sizes are refused without wrapping around. */
	nsh_buf_init(&b, SIZE_MAX);
	CHECK_INT(nsh_buf_adds(&b, "abc"), 0);
	CHECK_INT(nsh_buf_grow(&b, SIZE_MAX - 1), NSH_ETOOBIG);
	CHECK_INT(nsh_buf_grow(&b, SIZE_MAX), NSH_ETOOBIG);
	CHECK_STR(b.buf, "abc");
	check_inv(&b);
	nsh_buf_release(&b);

	/* Many appends grow it; contents stay right. */
	nsh_buf_init(&b, 100000);
	for (int i = 0; i < 10000; i++)
		if (nsh_buf_addf(&b, "%d,", i % 10))
			break;
	CHECK_INT(b.len, 20000);
	CHECK(b.buf[19998] == '9');
	check_inv(&b);
	nsh_buf_release(&b);
}

static void test_buf_trim(void)
{
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_buf_adds(&b, " \t hi there \n");
	nsh_buf_trim(&b);
	CHECK_STR(b.buf, "hi there");
	check_inv(&b);
	nsh_buf_reset(&b);
	nsh_buf_adds(&b, "   ");
	nsh_buf_trim(&b);
	CHECK_INT(b.len, 0);
	check_inv(&b);
	nsh_buf_release(&b);
	nsh_buf_trim(&b); /* on an empty, unallocated buffer */
	check_inv(&b);
}

static void test_str(void)
{
	struct nsh_str s = nsh_str_from("  key = value  "), k, v;
	char *d;

	CHECK(nsh_str_split(s, '=', &k, &v));
	CHECK(nsh_str_eq_cstr(nsh_str_trim(k), "key"));
	CHECK(nsh_str_eq_cstr(nsh_str_trim(v), "value"));
	CHECK(!nsh_str_split(nsh_str_from("novalue"), '=', &k, &v));
	CHECK(nsh_str_has_prefix(nsh_str_from("lodash@3"), "lodash"));
	CHECK(!nsh_str_has_prefix(nsh_str_from("lo"), "lodash"));
	CHECK(nsh_str_has_suffix(nsh_str_from("a.json"), ".json"));
	CHECK(!nsh_str_has_suffix(nsh_str_from("json"), ".json"));
	CHECK(nsh_str_eq(nsh_str_from(NULL), nsh_str_from("")));
	CHECK(!nsh_str_eq(nsh_str_from("a"), nsh_str_from("b")));
	CHECK_INT(nsh_str_trim(nsh_str_from(" \r\n")).len, 0);
	d = nsh_str_dup(nsh_str_make("abcdef", 3));
	CHECK_STR(d, "abc");
	free(d);
	CHECK(nsh_starts_with("t-123", "t-"));
	CHECK(!nsh_starts_with("j-123", "t-"));
}

static void test_strvec(void)
{
	struct nsh_strvec sv = NSH_STRVEC_INIT;
	const char *it;
	int n = 0;

	CHECK(sv.v[0] == NULL);
	nsh_strvec_push(&sv, "git");
	nsh_strvec_pushl(&sv, "-C", "/tmp", NULL);
	nsh_strvec_pushf(&sv, "--depth=%d", 1);
	CHECK_INT(sv.nr, 4);
	CHECK(sv.v[4] == NULL);
	CHECK_STR(sv.v[3], "--depth=1");
	CHECK_INT(nsh_strvec_find(&sv, "-C"), 1);
	CHECK_INT(nsh_strvec_find(&sv, "nope"), -1);
	nsh_vec_foreach(it, &sv) {
		CHECK(it != NULL);
		n++;
	}
	CHECK_INT(n, 4);
	nsh_strvec_pop(&sv);
	CHECK_INT(sv.nr, 3);
	CHECK(sv.v[3] == NULL);
	for (int i = 0; i < 1000; i++)
		nsh_strvec_pushf(&sv, "%d", i);
	CHECK_STR(sv.v[1002], "999");
	CHECK(sv.v[1003] == NULL);
	nsh_strvec_release(&sv);
	CHECK_INT(sv.nr, 0);
	CHECK(sv.v[0] == NULL);
	nsh_strvec_pop(&sv); /* on empty: no-op */
	nsh_strvec_release(NULL);
}

static void test_err(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char longval[1000];

	CHECK_INT(nsh_err_set(&err, NSH_ENOTFOUND, "no task '%s'", "t-1"), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "no task 't-1'");
	CHECK_INT(nsh_err_wrap(&err, "showing '%s'", "t-1"), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "showing 't-1': no task 't-1'");
	CHECK_INT(nsh_err_sys(&err, ENOENT, "cannot open '%s'", "/x"), NSH_ENOTFOUND);
	CHECK_STR(err.msg, "cannot open '/x': No such file or directory");
	CHECK_INT(nsh_err_sys(&err, EACCES, "x"), NSH_EDENIED);
	CHECK_INT(nsh_err_sys(&err, EIO, "x"), NSH_EIO);
	CHECK_INT(nsh_err_set(NULL, NSH_EINVAL, "ignored"), NSH_EINVAL);
	/* Long messages are cut, never overflow, and stay terminated. */
	memset(longval, 'v', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	nsh_err_set(&err, NSH_EINVAL, "bad '%s'", longval);
	CHECK_INT(strlen(err.msg), NSH_ERR_MSG_MAX - 1);
	nsh_err_wrap(&err, "context %s", longval);
	CHECK_INT(strlen(err.msg), NSH_ERR_MSG_MAX - 1);
	nsh_err_clear(&err);
	CHECK_INT(err.code, NSH_OK);
	CHECK_STR(err.msg, "");
	CHECK_INT(nsh_err_wrap(&err, "nothing set"), NSH_EFAIL);
	CHECK_STR(nsh_err_name(NSH_ENOTFOUND), "not_found");
	CHECK_STR(nsh_err_name(-999), "failed");
}

static void test_alloc(void)
{
	char *s = nsh_xstrndup("abcdef", 3), *t = nsh_xasprintf("%s-%d", "t", 7);
	int *v = NULL;
	size_t alloc = 0;

	CHECK_STR(s, "abc");
	CHECK_STR(t, "t-7");
	free(s);
	free(t);
	s = nsh_xmemdup("a\0b", 3);
	CHECK(s[3] == '\0' && s[1] == '\0' && s[2] == 'b');
	free(s);
	for (size_t i = 0; i < 100; i++) {
		NSH_ALLOC_GROW(v, i + 1, alloc);
		v[i] = (int)i;
	}
	CHECK(alloc >= 100);
	CHECK_INT(v[99], 99);
	free(v);
	v = nsh_xcalloc(4, sizeof(*v));
	CHECK(v[0] == 0 && v[3] == 0);
	free(v);
}

static void test_log(void)
{
	char path[] = "/tmp/nsh-log-XXXXXX";
	int fd = mkstemp(path), old_fd = g_nsh_log_fd, old_level = g_nsh_log_level;
	char text[4096] = {0};
	int evaluated = 0;

	CHECK(fd >= 0);
	g_nsh_log_fd = fd;
	g_nsh_log_level = NSH_LOG_INFO;
	nsh_log_info("starting '%s'", "worker");
	/* Arguments of a disabled level are not evaluated. */
	nsh_log_debug("%d", ++evaluated);
	CHECK_INT(evaluated, 0);
	nsh_log_error("%s", "boom");
	g_nsh_log_fd = old_fd;
	g_nsh_log_level = old_level;
	CHECK(pread(fd, text, sizeof(text) - 1, 0) > 0);
	CHECK(strstr(text, " info[") && strstr(text, "] starting 'worker'\n"));
	CHECK(strstr(text, " error[") && strstr(text, "] boom\n"));
	CHECK(!strstr(text, "debug"));
	CHECK_INT(nsh_log_level_parse("debug"), NSH_LOG_DEBUG);
	CHECK_INT(nsh_log_level_parse("loud"), -1);
	close(fd);
	unlink(path);
}

struct poster {
	struct nsh_notify *n; /* shared counter */
	int64_t value;	      /* what to post */
};

static void *post_later(void *arg)
{
	struct poster *p = arg;

	nsh_time_sleep_ms(50);
	nsh_notify_post(p->n, p->value);
	return NULL;
}

static void test_notify(void)
{
	struct nsh_notify *n = nsh_notify_new();
	struct poster p = {n, 7};
	pthread_t th;
	int64_t t0;

	CHECK_INT(nsh_notify_value(n), 0);
	t0 = nsh_time_mono_ms();
	CHECK_INT(nsh_notify_wait(n, 0, 30), 0); /* times out */
	CHECK(nsh_time_mono_ms() - t0 >= 30);
	pthread_create(&th, NULL, post_later, &p);
	CHECK_INT(nsh_notify_wait(n, 0, 10000), 7); /* woken, not timed out */
	pthread_join(th, NULL);
	nsh_notify_post(n, 3); /* lower values are ignored */
	CHECK_INT(nsh_notify_value(n), 7);
	CHECK_INT(nsh_notify_wait(n, 5, 0), 7); /* already past */
	nsh_notify_free(n);
	nsh_notify_free(NULL);
}

int main(void)
{
	RUN(test_buf_basic);
	RUN(test_buf_cap);
	RUN(test_buf_trim);
	RUN(test_str);
	RUN(test_strvec);
	RUN(test_err);
	RUN(test_alloc);
	RUN(test_log);
	RUN(test_notify);
	return TEST_DONE();
}
