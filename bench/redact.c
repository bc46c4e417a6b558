/*
 * bench/redact: redaction throughput with 100 secrets (every encoded form of
 * each, about 800 patterns) over 100 MB of generated log text with secrets
 * sprinkled in, streamed in 64 KiB chunks as a log pipe would, and in one
 * buffer. Printed next to baselines measured in the same run on the same
 * bytes: memcpy (the floor for any filter that copies), memchr (a scan that
 * touches every byte), and the naive alternative, one memmem() pass per
 * pattern, timed on a smaller sample and scaled. Figures are printed, never
 * asserted. A second text, random base64 characters (a minified bundle, a
 * blob), shows the harder case where partial matches are frequent.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "secrets/secrets.h"

#define NSECRETS    100
#define TEXT_BYTES  ((size_t)100 << 20) /* the log text */
#define NAIVE_BYTES ((size_t)4 << 20)	/* sample for the naive scan */
#define CHUNK	    ((size_t)64 << 10)	/* stream chunk */
#define SPRINKLE    (64 << 10)		/* about one secret per this many bytes */
#define NOISE_BYTES ((size_t)16 << 20)	/* random base64-like text */
#define TARGET_MBS  200.0

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/redact: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static double mbs(size_t bytes, int64_t ns)
{
	return (double)bytes / (1 << 20) / ((double)ns / 1e9);
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char *const prefixes[] = {"ghp_", "sk-live-", "xoxb-", "AKIA", "npm_", "glpat-"};
static const char *const words[] = {
	"request", "handled", "worker",	 "connection", "timeout", "retry",   "cache", "miss",
	"hit",	   "user",    "session", "upstream",   "latency", "payload", "ok",    "GET",
	"POST",	   "200",     "404",	 "500",	       "queue",	  "commit",  "build", "test",
};

/* One line of log text: a timestamp, a level, words, numbers, an id, a path. */
static void log_line(struct nsh_buf *b, size_t i)
{
	static const char *const levels[] = {"INFO", "DEBUG", "WARN", "ERROR"};
	int nw = 4 + (int)(rnd() % 8);

	nsh_buf_addf(b, "2026-11-25T%02zu:%02zu:%02zu.%03uZ %s [%s-%u] ", i / 3600000 % 24,
		     i / 60000 % 60, i / 1000 % 60, rnd() % 1000, levels[rnd() % 4],
		     words[rnd() % 24], rnd() % 16);
	for (int w = 0; w < nw; w++)
		nsh_buf_addf(b, "%s ", words[rnd() % 24]);
	nsh_buf_addf(b, "id=%08x%08x path=/api/v%u/items/%u?page=%u bytes=%u\n", rnd(), rnd(),
		     rnd() % 3, rnd() % 100000, rnd() % 50, rnd());
}

/* A secret in one of its forms: raw, base64 or hex. */
static void sprinkle(struct nsh_buf *b, const char *v)
{
	size_t n = strlen(v);
	char tmp[256];

	switch (rnd() % 3) {
	case 0:
		nsh_buf_addf(b, "token=%s\n", v);
		break;
	case 1:
		sodium_bin2base64(tmp, sizeof(tmp), (const unsigned char *)v, n,
				  sodium_base64_VARIANT_ORIGINAL);
		nsh_buf_addf(b, "Authorization: Basic %s\n", tmp);
		break;
	default:
		sodium_bin2hex(tmp, sizeof(tmp), (const unsigned char *)v, n);
		nsh_buf_addf(b, "dump: %s\n", tmp);
		break;
	}
}

/* Every form the redactor registers, for the naive baseline (same definitions). */
static void forms_of(const char *v, struct nsh_buf *forms, size_t *nforms)
{
	size_t n = strlen(v);
	char tmp[512];
	int variants[] = {sodium_base64_VARIANT_ORIGINAL,
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING};

	nsh_buf_adds(forms, v);
	nsh_buf_addch(forms, '\0');
	(*nforms)++;
	for (int k = 0; k < 2; k++) {
		sodium_bin2base64(tmp, sizeof(tmp), (const unsigned char *)v, n, variants[k]);
		nsh_buf_adds(forms, tmp);
		nsh_buf_addch(forms, '\0');
		(*nforms)++;
	}
	sodium_bin2hex(tmp, sizeof(tmp), (const unsigned char *)v, n);
	nsh_buf_adds(forms, tmp);
	nsh_buf_addch(forms, '\0');
	for (char *p = tmp; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	nsh_buf_adds(forms, tmp);
	nsh_buf_addch(forms, '\0');
	*nforms += 2;
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_redact_secret s[NSECRETS];
	char values[NSECRETS][48], names[NSECRETS][24];
	struct nsh_buf text = NSH_BUF_INIT, out = NSH_BUF_INIT, forms = NSH_BUF_INIT;
	struct nsh_redactor *r = NULL;
	struct nsh_redact_stream *st;
	size_t sprinkled = 0, markers = 0, nforms = 0, found = 0, line = 0;
	int64_t t, t_stream, t_buf, t_copy, t_chr, t_naive, t_noise;
	volatile size_t sink = 0;
	char *copy;
	double stream_mbs;

	if (sodium_init() < 0)
		die("sodium_init", NULL);
	for (int i = 0; i < NSECRETS; i++) {
		const char *pre = prefixes[i % 6];
		size_t len = 28 + rnd() % 12, k = strlen(pre);

		memcpy(values[i], pre, k);
		for (; k < len; k++)
			values[i][k] = alnum[rnd() % (sizeof(alnum) - 1)];
		values[i][len] = '\0';
		snprintf(names[i], sizeof(names[i]), "SECRET_%d", i);
		s[i] = (struct nsh_redact_secret){names[i], values[i], len};
		forms_of(values[i], &forms, &nforms);
	}
	t = nsh_time_mono_ns();
	if (nsh_redactor_new(s, NSECRETS, &r, NULL, &err))
		die("redactor", &err);
	t = nsh_time_mono_ns() - t;
	printf("build     %d secrets: %.1f ms\n", NSECRETS, (double)t / 1e6);

	/* The text, with a secret about every SPRINKLE bytes. */
	if (nsh_buf_grow(&text, TEXT_BYTES + 4096))
		die("text", NULL);
	while (text.len < TEXT_BYTES) {
		log_line(&text, line++);
		if (rnd() % (SPRINKLE / 128) == 0) {
			sprinkle(&text, values[rnd() % NSECRETS]);
			sprinkled++;
		}
	}
	copy = nsh_xmalloc(text.len);
	memset(copy, 0, text.len); /* fault the pages in before timing */

	/* Baselines on the same bytes. */
	t = nsh_time_mono_ns();
	memcpy(copy, text.buf, text.len);
	t_copy = nsh_time_mono_ns() - t;
	t = nsh_time_mono_ns();
	for (const char *p = text.buf, *e = text.buf + text.len;
	     (p = memchr(p, '\n', (size_t)(e - p))); p++)
		sink = sink + 1;
	t_chr = nsh_time_mono_ns() - t;
	t = nsh_time_mono_ns();
	for (size_t off = 0, k = 0; k < nforms; k++) {
		const char *f = forms.buf + off;
		size_t flen = strlen(f);

		for (const char *p = text.buf, *e = text.buf + NAIVE_BYTES;
		     (p = memmem(p, (size_t)(e - p), f, flen)); p += flen)
			found++;
		off += flen + 1;
	}
	t_naive = nsh_time_mono_ns() - t;

	/* The redactor, streamed in chunks into a buffer that is drained after each. */
	if (nsh_buf_grow(&out, 2 * CHUNK))
		die("out", NULL);
	st = nsh_redact_stream_new(r);
	t_stream = 0;
	for (size_t at = 0; at < text.len; at += CHUNK) {
		size_t n = text.len - at < CHUNK ? text.len - at : CHUNK;

		t = nsh_time_mono_ns();
		if (nsh_redact_stream_write(st, text.buf + at, n, &out, &err))
			die("stream", &err);
		t_stream += nsh_time_mono_ns() - t;
		for (const char *p = out.buf;
		     (p = memmem(p, out.len - (size_t)(p - out.buf), "[secret:", 8)); p++)
			markers++;
		nsh_buf_reset(&out);
	}
	if (nsh_redact_stream_finish(st, &out, &err))
		die("finish", &err);
	nsh_redact_stream_free(st);

	/* And in one buffer. */
	nsh_buf_release(&out);
	if (nsh_buf_grow(&out, text.len + 4096))
		die("out", NULL);
	memset(out.buf, 0, out.alloc);
	t = nsh_time_mono_ns();
	if (nsh_redact_buf(r, text.buf, text.len, &out, &err))
		die("redact", &err);
	t_buf = nsh_time_mono_ns() - t;

	/* The harder text: random characters of the alphabet the secrets use. */
	{
		static const char b64c[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-";

		nsh_buf_reset(&out);
		for (size_t k = 0; k < NOISE_BYTES; k++)
			copy[k] = b64c[rnd() % (sizeof(b64c) - 1)];
		t = nsh_time_mono_ns();
		if (nsh_redact_buf(r, copy, NOISE_BYTES, &out, &err))
			die("redact", &err);
		t_noise = nsh_time_mono_ns() - t;
	}

	stream_mbs = mbs(text.len, t_stream);
	printf("redact    %d secrets (%zu forms), %.0f MB of log text, %zu secrets sprinkled, "
	       "%zu replaced\n",
	       NSECRETS, nforms, (double)text.len / (1 << 20), sprinkled, markers);
	printf("redact    streamed in %zu KiB chunks: %.0f MB/s; one buffer: %.0f MB/s\n",
	       CHUNK >> 10, stream_mbs, mbs(text.len, t_buf));
	printf("baseline  memcpy %.0f MB/s, memchr('\\n') %.0f MB/s; naive one memmem per form "
	       "(%zu passes over %zu MB, scaled): %.1f MB/s; redactor vs naive %.0fx, vs memcpy "
	       "%.2fx\n",
	       mbs(text.len, t_copy), mbs(text.len, t_chr), nforms, NAIVE_BYTES >> 20,
	       mbs(NAIVE_BYTES, t_naive), stream_mbs / mbs(NAIVE_BYTES, t_naive),
	       stream_mbs / mbs(text.len, t_copy));
	printf("redact    %zu MB of random base64 characters (frequent partial matches): "
	       "%.0f MB/s\n",
	       NOISE_BYTES >> 20, mbs(NOISE_BYTES, t_noise));
	printf("redact    target >= %.0f MB/s: %s\n", TARGET_MBS,
	       stream_mbs >= TARGET_MBS ? "met" : "NOT MET");
	if (markers != sprinkled)
		printf("redact    WARNING: %zu secrets sprinkled but %zu replaced\n", sprinkled,
		       markers);

	nsh_redactor_free(r);
	nsh_buf_release(&text);
	nsh_buf_release(&out);
	nsh_buf_release(&forms);
	free(copy);
	(void)sink;
	(void)found;
	return 0;
}
