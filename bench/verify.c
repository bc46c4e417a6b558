/*
 * bench/verify: throughput of verify's secret and SQL injection scanners
 * over a 50 MB unified diff of generated JavaScript, Python, Go, Java and
 * YAML changes (with secrets and injections sprinkled in), parse included.
 * Printed next to baselines measured in the same run on the same bytes:
 * memchr over every line (the floor for anything that reads each line)
 * and the naive alternative, one POSIX regexec per line per rule, timed on
 * a sample and scaled. Figures are printed, never asserted. Target: at
 * least 50 MB/s for parse + secrets + SQL injection.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/time.h"
#include "verify/verify.h"

#define DIFF_BYTES   ((size_t)50 << 20)
#define SAMPLE_BYTES ((size_t)2 << 20)
#define TARGET_MBS   50.0

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static double mbs(size_t bytes, int64_t ns)
{
	return (double)bytes / (1 << 20) / ((double)ns / 1e9);
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static void token(struct nsh_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		nsh_buf_addch(b, alnum[rnd() % (sizeof(alnum) - 1)]);
}

/* One line of code in the language of @ext; added lines (@planted) sometimes with a finding. */
static void code_line(struct nsh_buf *b, const char *ext, size_t *planted)
{
	unsigned r = planted ? rnd() % 1000 : 1000;

	if (r == 0) {
		nsh_buf_adds(b, "const API_KEY = '");
		token(b, 32);
		nsh_buf_adds(b, "';");
		(*planted)++;
		return;
	}
	if (r == 1 && strcmp(ext, "yml")) {
		if (!strcmp(ext, "py"))
			nsh_buf_adds(b, "cursor.execute(\"SELECT * FROM t WHERE id = \" + x)");
		else if (!strcmp(ext, "go"))
			nsh_buf_adds(
				b,
				"\trows, err := db.Query(fmt.Sprintf(\"SELECT * FROM t WHERE a = '%s'\", a))");
		else if (!strcmp(ext, "java"))
			nsh_buf_adds(
				b, "    stmt.executeQuery(\"SELECT * FROM t WHERE id = \" + id);");
		else
			nsh_buf_adds(b, "  await db.query(`SELECT * FROM t WHERE id = ${id}`);");
		(*planted)++;
		return;
	}
	if (!strcmp(ext, "js"))
		nsh_buf_addf(b,
			     "  const v%u = items.filter((x) => x.n > %u).map((x) => x.id); // %u",
			     rnd() % 100, rnd() % 1000, rnd());
	else if (!strcmp(ext, "py"))
		nsh_buf_addf(b, "    total_%u = sum(x.amount for x in rows if x.kind == 'k%u')",
			     rnd() % 100, rnd() % 50);
	else if (!strcmp(ext, "go"))
		nsh_buf_addf(
			b, "\tif err := s.store.Put(ctx, key%u, value); err != nil { return err }",
			rnd() % 100);
	else if (!strcmp(ext, "java"))
		nsh_buf_addf(b, "    result.add(service.lookup(\"item-%u\", options.timeout(%u)));",
			     rnd() % 1000, rnd() % 60);
	else
		nsh_buf_addf(b, "  setting_%u: value-%u  # note", rnd() % 100, rnd() % 1000);
}

int main(void)
{
	static const char *const exts[] = {"js", "py", "go", "java", "yml"};
	struct nsh_buf text = NSH_BUF_INIT, copy = NSH_BUF_INIT;
	struct nsh_verify_diff d = {0};
	struct nsh_verify_findings sec = {0}, sql = {0};
	size_t planted = 0, files = 0, bytes, lines = 0;
	int64_t t, t_parse, t_sec, t_sql, t_chr, t_naive;
	double total_mbs, naive_mbs;
	regex_t re[6];
	static const char *const patterns[] = {
		"(AKIA|ASIA)[A-Z0-9]{16}",
		"gh[pousr]_[A-Za-z0-9]{36}",
		"xox[bpaosr]-[0-9]+-",
		"(sk|rk)_(live|test)_[0-9A-Za-z]{24}",
		"-----BEGIN [A-Z ]*PRIVATE KEY",
		"[A-Za-z_]*(key|KEY|secret|SECRET|token|TOKEN|password)[\"' ]*[:=] *[\"'][^\"']{16,}",
	};

	/* the diff: files of hunks, mostly added lines */
	if (nsh_buf_grow(&text, DIFF_BYTES + 65536))
		return 1;
	while (text.len < DIFF_BYTES) {
		const char *ext = exts[rnd() % 5];
		unsigned hunks = 1 + rnd() % 5, at = 1;

		nsh_buf_addf(&text, "diff --git a/src/m%zu.%s b/src/m%zu.%s\n", files, ext, files,
			     ext);
		nsh_buf_addf(&text, "--- a/src/m%zu.%s\n+++ b/src/m%zu.%s\n", files, ext, files,
			     ext);
		files++;
		for (unsigned h = 0; h < hunks; h++) {
			unsigned ctx = 3, add = 5 + rnd() % 40, del = rnd() % 4;

			at += 10 + rnd() % 50;
			nsh_buf_addf(&text, "@@ -%u,%u +%u,%u @@\n", at, ctx * 2 + del, at,
				     ctx * 2 + add);
			for (unsigned k = 0; k < ctx; k++) {
				nsh_buf_addch(&text, ' ');
				code_line(&text, ext, NULL);
				nsh_buf_addch(&text, '\n');
			}
			for (unsigned k = 0; k < del; k++) {
				nsh_buf_addch(&text, '-');
				code_line(&text, ext, NULL);
				nsh_buf_addch(&text, '\n');
			}
			for (unsigned k = 0; k < add; k++) {
				nsh_buf_addch(&text, '+');
				code_line(&text, ext, &planted);
				nsh_buf_addch(&text, '\n');
			}
			for (unsigned k = 0; k < ctx; k++) {
				nsh_buf_addch(&text, ' ');
				code_line(&text, ext, NULL);
				nsh_buf_addch(&text, '\n');
			}
		}
	}
	bytes = text.len;
	nsh_buf_add(&copy, text.buf, SAMPLE_BYTES);

	/* the floor: find every line */
	t = nsh_time_mono_ns();
	for (const char *p = text.buf, *e = text.buf + text.len;
	     (p = memchr(p, '\n', (size_t)(e - p))); p++)
		lines++;
	t_chr = nsh_time_mono_ns() - t;

	/* the naive alternative: one regexec per line per rule, on a sample */
	for (int k = 0; k < 6; k++)
		regcomp(&re[k], patterns[k], REG_EXTENDED | REG_NOSUB);
	t = nsh_time_mono_ns();
	for (char *p = copy.buf, *e = copy.buf + copy.len; p < e;) {
		char *nl = memchr(p, '\n', (size_t)(e - p));

		if (!nl)
			break;
		*nl = '\0';
		if (*p == '+')
			for (int k = 0; k < 6; k++)
				(void)regexec(&re[k], p, 0, NULL, 0);
		p = nl + 1;
	}
	t_naive = nsh_time_mono_ns() - t;
	for (int k = 0; k < 6; k++)
		regfree(&re[k]);

	/* verify's scanners */
	t = nsh_time_mono_ns();
	nsh_verify_diff_parse(&text, &d);
	t_parse = nsh_time_mono_ns() - t;
	t = nsh_time_mono_ns();
	nsh_verify_scan_secrets(&d, NULL, &sec);
	t_sec = nsh_time_mono_ns() - t;
	t = nsh_time_mono_ns();
	nsh_verify_scan_sqli(&d, NULL, &sql);
	t_sql = nsh_time_mono_ns() - t;

	total_mbs = mbs(bytes, t_parse + t_sec + t_sql);
	naive_mbs = mbs(SAMPLE_BYTES, t_naive);
	printf("diff      %.0f MB, %zu files, %zu lines (%zu added), %zu findings planted\n",
	       (double)bytes / (1 << 20), d.nr, lines, d.added, planted);
	printf("verify    parse %.0f MB/s, secrets %.0f MB/s (%zu found), SQL injection %.0f MB/s "
	       "(%zu found)\n",
	       mbs(bytes, t_parse), mbs(bytes, t_sec), sec.nr, mbs(bytes, t_sql), sql.nr);
	printf("verify    parse + secrets + SQL injection: %.0f MB/s\n", total_mbs);
	printf("baseline  memchr per line %.0f MB/s; naive regexec per added line and rule (6 rules, "
	       "%zu MB sample, scaled) %.1f MB/s; verify vs naive %.1fx\n",
	       mbs(bytes, t_chr), SAMPLE_BYTES >> 20, naive_mbs, total_mbs / naive_mbs);
	printf("verify    target >= %.0f MB/s: %s\n", TARGET_MBS,
	       total_mbs >= TARGET_MBS ? "met" : "NOT MET");
	if (sec.nr + sql.nr < planted)
		printf("verify    WARNING: %zu planted, %zu found\n", planted, sec.nr + sql.nr);
	nsh_verify_findings_release(&sec);
	nsh_verify_findings_release(&sql);
	nsh_verify_diff_release(&d);
	nsh_buf_release(&text);
	nsh_buf_release(&copy);
	return 0;
}
