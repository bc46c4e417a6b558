/*
 * The redactor: every encoded form replaced, leftmost-longest overlaps,
 * matches across stream chunks at every split position, untouched text
 * without secrets, many secrets at once, long values (the sparse part of
 * the automaton), and the diff scanner's line numbers.
 *
 * The expected forms are computed here independently (libsodium's base64
 * and hex, a percent-encoder of our own), not with the redactor's code.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "secrets/secrets.h"
#include "test.h"

/* A redactor for NULL-terminated name/value string pairs. */
static struct nsh_redactor *make(const char *const *pairs)
{
	struct nsh_redact_secret s[128];
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redactor *r = NULL;
	size_t n = 0;

	for (; pairs[2 * n]; n++)
		s[n] = (struct nsh_redact_secret){pairs[2 * n], pairs[2 * n + 1],
						  strlen(pairs[2 * n + 1])};
	if (nsh_redactor_new(s, n, &r, NULL, &err)) {
		fprintf(stderr, "redactor: %s\n", err.msg);
		abort();
	}
	return r;
}

/* Redact @in (NUL-terminated) in one buffer; the caller frees the result. */
static char *redact(const struct nsh_redactor *r, const char *in)
{
	struct nsh_buf out = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_redact_buf(r, in, strlen(in), &out, &err))
		abort();
	return nsh_buf_detach(&out, NULL);
}

/* Redact @len bytes through a stream, in chunks cut at @cuts (ascending, @ncuts of them). */
static void redact_chunks(const struct nsh_redactor *r, const char *in, size_t len,
			  const size_t *cuts, size_t ncuts, struct nsh_buf *out)
{
	struct nsh_redact_stream *s = nsh_redact_stream_new(r);
	struct nsh_err err = NSH_ERR_INIT;
	size_t at = 0;

	nsh_buf_reset(out);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		if (nsh_redact_stream_write(s, in + at, to - at, out, &err))
			abort();
		at = to;
	}
	if (nsh_redact_stream_finish(s, out, &err))
		abort();
	nsh_redact_stream_free(s);
}

static void b64(struct nsh_buf *out, const char *v, bool pad)
{
	size_t n = strlen(v);
	int variant =
		pad ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	size_t cap = sodium_base64_encoded_len(n, variant);
	char *tmp = nsh_xmalloc(cap);

	sodium_bin2base64(tmp, cap, (const unsigned char *)v, n, variant);
	nsh_buf_reset(out);
	nsh_buf_adds(out, tmp);
	free(tmp);
}

static void hex(struct nsh_buf *out, const char *v, bool upper)
{
	size_t n = strlen(v);
	char *tmp = nsh_xmalloc(2 * n + 1);

	sodium_bin2hex(tmp, 2 * n + 1, (const unsigned char *)v, n);
	for (size_t i = 0; upper && tmp[i]; i++)
		tmp[i] = (char)toupper((unsigned char)tmp[i]);
	nsh_buf_reset(out);
	nsh_buf_adds(out, tmp);
	free(tmp);
}

/* Percent-encoding of all but [A-Za-z0-9-._~], with upper- or lower-case hex digits. */
static void url(struct nsh_buf *out, const char *v, bool upper, bool plus)
{
	nsh_buf_reset(out);
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (isalnum(c) || strchr("-._~", c))
			nsh_buf_addch(out, (char)c);
		else if (plus && c == ' ')
			nsh_buf_addch(out, '+');
		else if (upper)
			nsh_buf_addf(out, "%%%02X", c);
		else
			nsh_buf_addf(out, "%%%02x", c);
	}
}

static void check_form(const struct nsh_redactor *r, const char *form, const char *what)
{
	char *in = nsh_xasprintf("before %s after", form);
	char *got = redact(r, in);

	if (strcmp(got, "before [secret:WEIRD] after"))
		fprintf(stderr, "form %s ('%s') not redacted: '%s'\n", what, form, got);
	CHECK_STR(got, "before [secret:WEIRD] after");
	free(in);
	free(got);
}

static void test_every_form(void)
{
	/* Reserved characters, a space and a non-ASCII byte, so that every form differs. */
	static const char value[] = "p@ss word/+?&=\xc3\xa9!";
	static const char *const pairs[] = {"WEIRD", value, NULL};
	struct nsh_redactor *r = make(pairs);
	struct nsh_buf f = NSH_BUF_INIT;

	CHECK_INT(nsh_redactor_secrets(r), 1);
	check_form(r, value, "raw");
	b64(&f, value, true);
	CHECK(strchr(f.buf, '=') != NULL); /* the test value does need padding */
	check_form(r, f.buf, "base64");
	b64(&f, value, false);
	check_form(r, f.buf, "base64 without padding");
	url(&f, value, true, false);
	CHECK(strstr(f.buf, "%2F") != NULL);
	check_form(r, f.buf, "url upper-case");
	url(&f, value, false, false);
	CHECK(strstr(f.buf, "%2f") != NULL);
	check_form(r, f.buf, "url lower-case");
	url(&f, value, true, true);
	CHECK(strchr(f.buf, '+') != NULL);
	check_form(r, f.buf, "form encoding");
	hex(&f, value, false);
	check_form(r, f.buf, "hex");
	hex(&f, value, true);
	check_form(r, f.buf, "HEX");
	nsh_buf_release(&f);
	nsh_redactor_free(r);
}

static void test_short_values_skipped(void)
{
	struct nsh_redact_secret s[] = {{"TINY", "abc", 3}, {"OK", "abcd", 4}};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redactor *r = NULL;
	size_t skipped = 99;
	char *got;

	CHECK_INT(nsh_redactor_new(s, 2, &r, &skipped, &err), 0);
	CHECK_INT(skipped, 1);
	CHECK_INT(nsh_redactor_secrets(r), 1);
	got = redact(r, "abc ab abcd");
	CHECK_STR(got, "abc ab [secret:OK]");
	free(got);
	nsh_redactor_free(r);
}

static void test_no_secrets_no_change(void)
{
	static const char *const none[] = {NULL};
	static const char *const pairs[] = {"K1", "kappa-one-1234", "K2", "zeta9876", NULL};
	static const char text[] = "2026-11-25T12:00:00Z INFO request id=42 path=/api/v1 kappa-on\n"
				   "zeta987 kappa-one-123 almost but not quite \x01\xff\n";
	struct nsh_redactor *r = make(none), *r2 = make(pairs);
	char *got = redact(r, text), *got2 = redact(r2, text);
	struct nsh_buf out = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_STR(got, text);
	CHECK_STR(got2, text);
	/* Binary input with NUL bytes goes through byte for byte. */
	CHECK_INT(nsh_redact_buf(r2, "a\0b\0zeta98", 10, &out, &err), 0);
	CHECK(out.len == 10 && !memcmp(out.buf, "a\0b\0zeta98", 10));
	CHECK_INT(nsh_redact_buf(r2, "", 0, &out, &err), 0);
	CHECK_INT(out.len, 10);
	free(got);
	free(got2);
	nsh_buf_release(&out);
	nsh_redactor_free(r);
	nsh_redactor_free(r2);
}

static void test_overlaps(void)
{
	static const char *const prefix[] = {"SHORT", "abcdef", "LONG", "abcdefgh", NULL};
	static const char *const chain[] = {"A", "bcde", "B", "abcdefg", NULL};
	static const char *const cross[] = {"LEFT", "abcd1234", "RIGHT", "1234wxyz", NULL};
	/* C is only seen as a suffix while the automaton is deep inside the (unfinished) LONG. */
	static const char *const inner[] = {"A", "aaaa", "LONG", "aaaaXYZWmore", "C", "XYZW", NULL};
	/* Q ends where the longer P does, but only Q is clear of A's replacement. */
	static const char *const suffix[] = {"A", "aaaa1", "P", "a1bbbb", "Q", "bbbb", NULL};
	static const char *const dup[] = {"FIRST", "same-value", "SECOND", "same-value", NULL};
	struct nsh_redactor *r;
	char *got;

	r = make(prefix);
	got = redact(r, "xxabcdefghyy abcdefzz abcdefg");
	CHECK_STR(got, "xx[secret:LONG]yy [secret:SHORT]zz [secret:SHORT]g");
	free(got);
	nsh_redactor_free(r);

	r = make(chain);
	got = redact(r, "abcdefg|abcdeX|bcdefg");
	CHECK_STR(got, "[secret:B]|a[secret:A]X|[secret:A]fg");
	free(got);
	nsh_redactor_free(r);

	r = make(cross);
	got = redact(r, "abcd1234wxyz 1234wxyz abcd1234");
	CHECK_STR(got, "[secret:LEFT]wxyz [secret:RIGHT] [secret:LEFT]");
	free(got);
	nsh_redactor_free(r);

	r = make(inner);
	got = redact(r, "aaaaXYZW! aaaaXYZWmore aaaaaXYZW");
	CHECK_STR(got, "[secret:A][secret:C]! [secret:LONG] [secret:A]a[secret:C]");
	free(got);
	nsh_redactor_free(r);

	r = make(suffix);
	got = redact(r, "aaaa1bbbb a1bbbb");
	CHECK_STR(got, "[secret:A][secret:Q] [secret:P]");
	free(got);
	nsh_redactor_free(r);

	r = make(dup);
	got = redact(r, "x same-value y");
	CHECK_STR(got, "x [secret:FIRST] y");
	free(got);
	nsh_redactor_free(r);
}

/* The chunked output equals the one-buffer output for every split (and byte by byte). */
static void test_stream_boundaries(void)
{
	static const char *const pairs[] = {
		"TOKEN", "ghp_0123456789abcdef", "PASS", "hunter2!", "PREFIX", "ghp_0123",
		"B",	 "aaaaXYZWmore",	 "A",	 "aaaa",     "C",      "XYZW",
		NULL};
	struct nsh_redactor *r = make(pairs);
	struct nsh_buf text = NSH_BUF_INIT, form = NSH_BUF_INIT, out = NSH_BUF_INIT;
	char *whole;
	size_t cuts[2];
	bool all_same = true;

	nsh_buf_adds(&text, "start ghp_0123456789abcdef mid ");
	b64(&form, "hunter2!", true);
	nsh_buf_add(&text, form.buf, form.len);
	nsh_buf_adds(&text, " ghp_0123 x aaaaXYZW! ");
	hex(&form, "ghp_0123456789abcdef", false);
	nsh_buf_add(&text, form.buf, form.len);
	nsh_buf_adds(&text, " hunter2!hunter2! aaaaXYZWmore end");
	whole = redact(r, text.buf);
	CHECK(strstr(whole, "[secret:TOKEN]") && strstr(whole, "[secret:PASS]") &&
	      strstr(whole, "[secret:PREFIX]") && strstr(whole, "[secret:C]") &&
	      strstr(whole, "[secret:B]"));

	for (size_t i = 0; i <= text.len; i++) {
		cuts[0] = i;
		redact_chunks(r, text.buf, text.len, cuts, 1, &out);
		if (strcmp(out.buf, whole)) {
			fprintf(stderr, "split at %zu: '%s'\n", i, out.buf);
			all_same = false;
		}
	}
	CHECK(all_same);
	/* Two cuts at every pair of positions in the first 80 bytes, then byte by byte. */
	all_same = true;
	for (size_t i = 0; i <= 80; i++) {
		for (size_t j = i; j <= 80; j++) {
			cuts[0] = i;
			cuts[1] = j;
			redact_chunks(r, text.buf, text.len, cuts, 2, &out);
			all_same &= !strcmp(out.buf, whole);
		}
	}
	CHECK(all_same);
	{
		size_t *each = nsh_xmalloc(text.len * sizeof(*each));

		for (size_t i = 0; i < text.len; i++)
			each[i] = i;
		redact_chunks(r, text.buf, text.len, each, text.len, &out);
		CHECK_STR(out.buf, whole);
		free(each);
	}
	free(whole);
	nsh_buf_release(&text);
	nsh_buf_release(&form);
	nsh_buf_release(&out);
	nsh_redactor_free(r);
}

/* Output is released as soon as it is final; a stream is reusable after finish. */
static void test_stream_output_and_reuse(void)
{
	static const char *const pairs[] = {"K", "secret-value", NULL};
	struct nsh_redactor *r = make(pairs);
	struct nsh_redact_stream *s = nsh_redact_stream_new(r);
	struct nsh_buf out = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_redact_stream_write(s, "plain line\nsecret-val", 21, &out, &err), 0);
	/* "secret-val" might still become the value: it is held back. */
	CHECK_STR(out.buf, "plain line\n");
	CHECK_INT(nsh_redact_stream_write(s, "ue done\n", 8, &out, &err), 0);
	CHECK_INT(nsh_redact_stream_finish(s, &out, &err), 0);
	CHECK_STR(out.buf, "plain line\n[secret:K] done\n");
	nsh_buf_reset(&out);
	CHECK_INT(nsh_redact_stream_write(s, "again secret-value", 18, &out, &err), 0);
	CHECK_INT(nsh_redact_stream_finish(s, &out, &err), 0);
	CHECK_STR(out.buf, "again [secret:K]");
	nsh_redact_stream_free(s);
	nsh_buf_release(&out);
	nsh_redactor_free(r);
}

/* An output cap fails cleanly and never lets secret bytes through. */
static void test_output_cap(void)
{
	static const char *const pairs[] = {"K", "secret-value", NULL};
	struct nsh_redactor *r = make(pairs);
	struct nsh_buf out;
	struct nsh_err err = NSH_ERR_INIT;
	const char *in = "0123456789 secret-value tail";

	nsh_buf_init(&out, 16);
	CHECK_INT(nsh_redact_buf(r, in, strlen(in), &out, &err), NSH_ETOOBIG);
	CHECK(strstr(err.msg, "size limit") != NULL);
	CHECK(!strstr(out.buf, "secret-v"));
	nsh_buf_release(&out);
	nsh_redactor_free(r);
}

/* A deterministic generator, so that a failure can be replayed. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void test_hundred_secrets(void)
{
	enum { N = 100 };
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char names[N][24], values[N][40];
	struct nsh_redact_secret s[N];
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redactor *r = NULL;
	struct nsh_buf text = NSH_BUF_INIT, out = NSH_BUF_INIT, form = NSH_BUF_INIT;
	int want[N] = {0};
	bool counts_ok = true, none_left = true;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "SECRET_%02d", i);
		for (int k = 0; k < 32; k++)
			values[i][k] = alnum[rnd() % (sizeof(alnum) - 1)];
		values[i][32] = '\0';
		s[i] = (struct nsh_redact_secret){names[i], values[i], 32};
	}
	CHECK_INT(nsh_redactor_new(s, N, &r, NULL, &err), 0);
	CHECK_INT(nsh_redactor_secrets(r), N);
	for (int line = 0; line < 2000; line++) {
		nsh_buf_addf(&text, "2026-11-25T12:%02d:%02d INFO worker-%u handled request %u ",
			     line / 60 % 60, line % 60, rnd() % 8, rnd());
		if (line % 7 == 0) {
			int i = (int)(rnd() % N);

			switch (rnd() % 3) {
			case 0:
				nsh_buf_adds(&text, values[i]);
				break;
			case 1:
				b64(&form, values[i], rnd() % 2);
				nsh_buf_adds(&text, form.buf);
				break;
			default:
				hex(&form, values[i], rnd() % 2);
				nsh_buf_adds(&text, form.buf);
				break;
			}
			want[i]++;
		}
		nsh_buf_adds(&text, " ok\n");
	}
	CHECK_INT(nsh_redact_buf(r, text.buf, text.len, &out, &err), 0);
	for (int i = 0; i < N; i++) {
		char marker[32];
		int got = 0;

		snprintf(marker, sizeof(marker), "[secret:%s]", names[i]);
		for (const char *p = out.buf; (p = strstr(p, marker)); p++)
			got++;
		counts_ok &= got == want[i];
		none_left &= !strstr(out.buf, values[i]);
	}
	CHECK(counts_ok);
	CHECK(none_left);
	/* Removing the markers' lines leaves the rest of the text as it was. */
	CHECK(out.len < text.len);
	nsh_buf_release(&text);
	nsh_buf_release(&out);
	nsh_buf_release(&form);
	nsh_redactor_free(r);
}

/* Values long enough that most of the automaton has no dense rows; every byte value. */
static void test_long_and_binary_values(void)
{
	enum { LONG = 20000 };
	char *big = nsh_xmalloc(LONG + 1);
	char all[257];
	struct nsh_redact_secret s[2];
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redactor *r = NULL;
	struct nsh_buf text = NSH_BUF_INIT, out = NSH_BUF_INIT, form = NSH_BUF_INIT;
	size_t cut[1];

	for (int i = 0; i < LONG; i++)
		big[i] = (char)(1 + rnd() % 255);
	big[LONG] = '\0';
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	s[0] = (struct nsh_redact_secret){"BIG", big, LONG};
	s[1] = (struct nsh_redact_secret){"ALLBYTES", all, 256};
	CHECK_INT(nsh_redactor_new(s, 2, &r, NULL, &err), 0);

	nsh_buf_adds(&text, "<");
	nsh_buf_add(&text, big, LONG);
	nsh_buf_adds(&text, "><");
	hex(&form, big, true);
	nsh_buf_adds(&text, form.buf);
	nsh_buf_adds(&text, "><");
	nsh_buf_add(&text, all, 256);
	nsh_buf_adds(&text, "><");
	/* Almost the value: differs in its last byte. */
	nsh_buf_add(&text, big, LONG - 1);
	nsh_buf_addch(&text, big[LONG - 1] == 'x' ? 'y' : 'x');
	nsh_buf_adds(&text, ">");
	CHECK_INT(nsh_redact_buf(r, text.buf, text.len, &out, &err), 0);
	CHECK(out.len == strlen("<[secret:BIG]><[secret:BIG]><[secret:ALLBYTES]><>") + LONG);
	CHECK(!memcmp(out.buf, "<[secret:BIG]><[secret:BIG]><[secret:ALLBYTES]><", 48));
	cut[0] = text.len / 3;
	{
		struct nsh_buf chunked = NSH_BUF_INIT;

		redact_chunks(r, text.buf, text.len, cut, 1, &chunked);
		CHECK(chunked.len == out.len && !memcmp(chunked.buf, out.buf, out.len));
		nsh_buf_release(&chunked);
	}
	free(big);
	nsh_buf_release(&text);
	nsh_buf_release(&out);
	nsh_buf_release(&form);
	nsh_redactor_free(r);
}

static const char diff_text[] =
	"diff --git a/config/app.yml b/config/app.yml\n"	  /* 1 */
	"index 1111111..2222222 100644\n"			  /* 2 */
	"--- a/config/app.yml\n"				  /* 3 */
	"+++ b/config/app.yml\n"				  /* 4 */
	"@@ -10,4 +10,5 @@ defaults:\n"				  /* 5 */
	" name: app\n"						  /* 6: new 10 */
	"-token: old\n"						  /* 7: old 11 */
	"+token: ghp_live_0123456789\n"				  /* 8: new 11 */
	"+other: fine\n"					  /* 9: new 12 */
	" keep: ghp_live_0123456789\n"				  /* 10: new 13 */
	" end: yes\n"						  /* 11: new 14 */
	"diff --git a/lib/old.js b/lib/old.js\n"		  /* 12 */
	"deleted file mode 100644\n"				  /* 13 */
	"--- a/lib/old.js\n"					  /* 14 */
	"+++ /dev/null\n"					  /* 15 */
	"@@ -1,3 +0,0 @@\n"					  /* 16 */
	"-const a = 1;\n"					  /* 17: old 1 */
	"-const key = 'Z2hwX2xpdmVfMDEyMzQ1Njc4OQ==';\n"	  /* 18: old 2 */
	"--- not a header: a removed line starting with dashes\n" /* 19: old 3 */
	"diff --git a/b.txt b/b.txt\n"				  /* 20 */
	"--- a/b.txt\n"						  /* 21 */
	"+++ b/b.txt\n"						  /* 22 */
	"@@ -0,0 +1,2 @@\n"					  /* 23 */
	"+pw=hunter2hunter2 and ghp_live_0123456789\n"		  /* 24: new 1 */
	"+pw=hunter2hunter2\n";					  /* 25: new 2 */

static void test_diff_scan(void)
{
	static const char *const pairs[] = {"GH_TOKEN", "ghp_live_0123456789", "PW",
					    "hunter2hunter2", NULL};
	static const struct {
		const char *name;
		size_t line;
		const char *file;
		size_t file_line;
		char side;
	} want[] = {
		{"GH_TOKEN", 8, "config/app.yml", 11, '+'},
		{"GH_TOKEN", 10, "config/app.yml", 13, ' '},
		{"GH_TOKEN", 18, "lib/old.js", 2, '-'},
		{"PW", 24, "b.txt", 1, '+'},
		{"GH_TOKEN", 24, "b.txt", 1, '+'},
		{"PW", 25, "b.txt", 2, '+'},
	};
	struct nsh_redactor *r = make(pairs);
	struct nsh_redact_hits h = {0};
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_redact_scan(r, diff_text, strlen(diff_text), &h, &err), 0);
	CHECK_INT(h.nr, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < h.nr && i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_STR(h.v[i].name, want[i].name);
		CHECK_INT(h.v[i].line, want[i].line);
		CHECK_STR(h.v[i].file, want[i].file);
		CHECK_INT(h.v[i].file_line, want[i].file_line);
		CHECK_INT(h.v[i].side, want[i].side);
	}
	nsh_redact_hits_release(&h);

	/* Plain text: line numbers only; clean text: no hits. */
	CHECK_INT(nsh_redact_scan(r, "one\ntwo\nthe hunter2hunter2\nfour ghp_live_0123456789", 51,
				  &h, &err),
		  0);
	CHECK_INT(h.nr, 2);
	if (h.nr == 2) {
		CHECK_INT(h.v[0].line, 3);
		CHECK(h.v[0].file == NULL && h.v[0].file_line == 0 && h.v[0].side == 0);
		CHECK_INT(h.v[1].line, 4);
		CHECK_STR(h.v[1].name, "GH_TOKEN");
	}
	nsh_redact_hits_release(&h);
	CHECK_INT(nsh_redact_scan(r, "nothing to see\nhere\n", 20, &h, &err), 0);
	CHECK_INT(h.nr, 0);
	nsh_redact_hits_release(&h);
	nsh_redactor_free(r);
}

int main(void)
{
	if (sodium_init() < 0)
		abort();
	RUN(test_every_form);
	RUN(test_short_values_skipped);
	RUN(test_no_secrets_no_change);
	RUN(test_overlaps);
	RUN(test_stream_boundaries);
	RUN(test_stream_output_and_reuse);
	RUN(test_output_cap);
	RUN(test_hundred_secrets);
	RUN(test_long_and_binary_values);
	RUN(test_diff_scan);
	return TEST_DONE();
}
