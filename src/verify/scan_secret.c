/*
 * Secrets by their shape: provider tokens with fixed prefixes and lengths,
 * PEM private key blocks, and literals with enough entropy assigned to a
 * name that says key, secret, token or password. (The secrets module finds
 * the values it knows, from the vault; this finds the ones it does not.)
 *
 * One pass over each line: a byte that can start a token is checked at its
 * place, an '=' or ':' is checked as an assignment. A line's matches are
 * collected first so that the excerpt can mask all of them, and so that a
 * provider token assigned to GITHUB_TOKEN is reported once.
 */
#include "verify/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define LINE_MATCHES   16  /* matches kept per line */
#define EXCERPT_WINDOW 120 /* bytes of context on each side of a match */
#define VALUE_MAX      1024

struct match {
	const char *rule;
	const char *what;
	size_t start, len; /* the value within the line */
	const char *name;  /* generic rules: the name assigned to */
	size_t name_len;
};

struct line_scan {
	const char *p;
	size_t n;
	bool unquoted_ok; /* NAME=value without quotes is a literal here */
	struct match m[LINE_MATCHES];
	int nm;
};

static bool upper_digit(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool left_edge(const struct line_scan *s, size_t i)
{
	return i == 0 || !nsh_vrf_alnum((unsigned char)s->p[i - 1]);
}

static bool right_edge(const struct line_scan *s, size_t end)
{
	return end >= s->n || !nsh_vrf_alnum((unsigned char)s->p[end]);
}

static bool overlaps(const struct line_scan *s, size_t start, size_t len)
{
	for (int k = 0; k < s->nm; k++)
		if (start < s->m[k].start + s->m[k].len && s->m[k].start < start + len)
			return true;
	return false;
}

static void add(struct line_scan *s, const char *rule, const char *what, size_t start, size_t len,
		const char *name, size_t name_len)
{
	if (s->nm >= LINE_MATCHES || overlaps(s, start, len))
		return;
	s->m[s->nm++] = (struct match){rule, what, start, len, name, name_len};
}

static size_t run_of(const struct line_scan *s, size_t i, bool (*ok)(unsigned char))
{
	size_t k = i;

	while (k < s->n && ok((unsigned char)s->p[k]))
		k++;
	return k - i;
}

static bool alnum_c(unsigned char c)
{
	return nsh_vrf_alnum(c);
}

static bool slack_c(unsigned char c)
{
	return nsh_vrf_alnum(c) || c == '-';
}

/* AKIA..., ASIA..., ABIA..., ACCA..., A3T?...: 20 upper-case letters and digits. */
static void aws(struct line_scan *s, size_t i)
{
	const char *p = s->p + i;

	if (i + 20 > s->n || !left_edge(s, i))
		return;
	if (memcmp(p, "AKIA", 4) && memcmp(p, "ASIA", 4) && memcmp(p, "ABIA", 4) &&
	    memcmp(p, "ACCA", 4) && (memcmp(p, "A3T", 3) || !upper_digit((unsigned char)p[3])))
		return;
	for (int k = 4; k < 20; k++)
		if (!upper_digit((unsigned char)p[k]))
			return;
	if (!right_edge(s, i + 20) || !memcmp(p + 13, "EXAMPLE", 7) ||
	    nsh_vrf_entropy(p + 4, 16) < 3.0)
		return;
	add(s, "aws-access-key", "AWS access key id", i, 20, NULL, 0);
}

/* ghp_/gho_/ghu_/ghs_/ghr_ + 36, and github_pat_ + 22 + '_' + 59. */
static void github(struct line_scan *s, size_t i)
{
	const char *p = s->p + i;

	if (!left_edge(s, i))
		return;
	if (i + 40 <= s->n && p[1] == 'h' && strchr("pousr", p[2]) && p[3] == '_' &&
	    run_of(s, i + 4, alnum_c) == 36 && nsh_vrf_entropy(p + 4, 36) >= 3.0) {
		add(s, "github-token", "GitHub token", i, 40, NULL, 0);
		return;
	}
	if (i + 93 <= s->n && !memcmp(p, "github_pat_", 11) && run_of(s, i + 11, alnum_c) == 22 &&
	    p[33] == '_' && run_of(s, i + 34, alnum_c) == 59 && nsh_vrf_entropy(p + 34, 59) >= 3.0)
		add(s, "github-fine-grained-token", "GitHub fine-grained token", i, 93, NULL, 0);
}

/* xoxb-, xoxp-, xoxa-, xoxo-, xoxs-, xoxr-: digit groups, then a random part. */
static void slack(struct line_scan *s, size_t i)
{
	const char *p = s->p + i;
	size_t n, k, groups = 0, digits;

	if (i + 5 > s->n || memcmp(p, "xox", 3) || !strchr("bpaosr", p[3]) || p[4] != '-' ||
	    !left_edge(s, i))
		return;
	n = run_of(s, i + 5, slack_c);
	for (k = 0; k < n && p[5 + k] >= '0' && p[5 + k] <= '9'; k++)
		;
	digits = k;
	for (k = 0; k < n; k++)
		groups += p[5 + k] == '-';
	if (digits < 8 || groups < 2 || n < 30 || nsh_vrf_entropy(p + 5, n) < 3.0)
		return;
	add(s, "slack-token", "Slack token", i, 5 + n, NULL, 0);
}

/* https://hooks.slack.com/services/T.../B.../secret */
static void slack_hook(struct line_scan *s, size_t i)
{
	static const char pre[] = "hooks.slack.com/services/T";
	const char *p = s->p + i;
	size_t k = i + sizeof(pre) - 1, a, b, c;

	if (i + sizeof(pre) - 1 > s->n || memcmp(p, pre, sizeof(pre) - 1))
		return;
	a = run_of(s, k, alnum_c);
	if (a < 6 || k + a + 2 > s->n || s->p[k + a] != '/' || s->p[k + a + 1] != 'B')
		return;
	k += a + 2;
	b = run_of(s, k, alnum_c);
	if (b < 6 || k + b + 1 > s->n || s->p[k + b] != '/')
		return;
	k += b + 1;
	c = run_of(s, k, alnum_c);
	if (c < 20 || nsh_vrf_entropy(s->p + k, c) < 3.0)
		return;
	add(s, "slack-webhook", "Slack webhook URL", i, k + c - i, NULL, 0);
}

/* sk_live_, sk_test_, rk_live_, rk_test_ + at least 24. (pk_ keys are public.) */
static void stripe(struct line_scan *s, size_t i)
{
	const char *p = s->p + i;
	size_t n;

	if (i + 8 > s->n || p[1] != 'k' || p[2] != '_' || !left_edge(s, i) ||
	    (memcmp(p + 3, "live_", 5) && memcmp(p + 3, "test_", 5)))
		return;
	n = run_of(s, i + 8, alnum_c);
	if (n < 24 || nsh_vrf_entropy(p + 8, n) < 3.0)
		return;
	add(s, "stripe-key", "Stripe secret key", i, 8 + n, NULL, 0);
}

/* -----BEGIN [WORDS ]PRIVATE KEY[ BLOCK]----- */
static void pem(struct line_scan *s, size_t i)
{
	const char *p = s->p + i, *k;
	size_t n = s->n - i;

	if (n < 27 || memcmp(p, "-----BEGIN ", 11))
		return;
	k = memmem(p + 11, n - 11 < 60 ? n - 11 : 60, "PRIVATE KEY", 11);
	if (!k)
		return;
	for (const char *q = p + 11; q < k; q++)
		if (!((*q >= 'A' && *q <= 'Z') || *q == ' '))
			return;
	k += 11;
	if ((size_t)(p + n - k) >= 6 && !memcmp(k, " BLOCK", 6))
		k += 6;
	if ((size_t)(p + n - k) < 5 || memcmp(k, "-----", 5))
		return;
	/* the header is not the secret: mask nothing, point at it */
	add(s, "private-key", "private key block", i, 0, NULL, 0);
}

/* ---- NAME = "literal" ---- */

enum name_class { NAME_NONE, NAME_SECRET, NAME_PASSWORD };

static bool ends_ci(const char *p, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	if (n < m)
		return false;
	for (size_t k = 0; k < m; k++)
		if (nsh_vrf_lower(p[n - m + k]) != suffix[k])
			return false;
	return true;
}

static enum name_class classify(const char *p, size_t n)
{
	if (!n || n > 128)
		return NAME_NONE;
	if (nsh_vrf_memcasemem(p, n, "public") || nsh_vrf_memcasemem(p, n, "publishable") ||
	    nsh_vrf_memcasemem(p, n, "page") || nsh_vrf_memcasemem(p, n, "next") ||
	    nsh_vrf_memcasemem(p, n, "cursor"))
		return NAME_NONE;
	if (ends_ci(p, n, "password") || ends_ci(p, n, "passwd") || ends_ci(p, n, "pwd") ||
	    ends_ci(p, n, "passphrase"))
		return NAME_PASSWORD;
	if (ends_ci(p, n, "secret") || ends_ci(p, n, "token"))
		return NAME_SECRET;
	if (n > 3 && ends_ci(p, n, "key")) {
		char b = p[n - 4];

		if (b == '_' || b == '-' || b == '.' ||
		    (p[n - 3] == 'K' && ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9'))))
			return NAME_SECRET;
	}
	return NAME_NONE;
}

static bool name_c(unsigned char c)
{
	return nsh_vrf_ident(c) || c == '-' || c == '.' || c == '@';
}

/* The name written just before position @i (the operator); @ret gets where it starts. */
static bool name_before(const struct line_scan *s, size_t i, size_t *ret_start, size_t *ret_len)
{
	size_t e = i, b;
	char q = 0;

	while (e > 0 && (s->p[e - 1] == ' ' || s->p[e - 1] == '\t'))
		e--;
	if (e > 0 && (s->p[e - 1] == '"' || s->p[e - 1] == '\'' || s->p[e - 1] == '`'))
		q = s->p[--e];
	b = e;
	while (b > 0 && name_c((unsigned char)s->p[b - 1]))
		b--;
	if (b == e)
		return false;
	if (q && (b == 0 || s->p[b - 1] != q))
		return false;
	/* the last segment of a dotted name: config.apiKey */
	for (size_t k = e; k > b; k--) {
		if (s->p[k - 1] == '.') {
			b = k;
			break;
		}
	}
	while (b < e && (s->p[b] == '$' || s->p[b] == '@'))
		b++;
	*ret_start = b;
	*ret_len = e - b;
	return e > b;
}

static bool placeholder(const char *v, size_t n)
{
	static const char *const words[] = {
		"example",     "changeme",   "change_me", "change-me", "placeholder", "dummy",
		"sample",      "your_",	     "your-",	  "yourkey",   "xxxx",	      "****",
		"${",	       "{{",	     "%s",	  "%(",	       "process.env", "environ",
		"getenv",      "env[",	     "redacted",  "<",	       ">",	      "fake",
		"secret_here", "token_here",
	};
	bool same = true;

	if (!n || v[0] == '$')
		return true;
	for (size_t k = 1; k < n; k++)
		if (v[k] != v[0])
			same = false;
	if (same)
		return true;
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (nsh_vrf_memcasemem(v, n, words[k]))
			return true;
	return false;
}

/* Kinds of characters in v: lower, upper, digit, and (with @symbols) anything else. */
static int char_classes(const char *v, size_t n, bool symbols)
{
	bool lo = false, up = false, dg = false, sy = false;

	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)v[k];

		if (c >= 'a' && c <= 'z')
			lo = true;
		else if (c >= 'A' && c <= 'Z')
			up = true;
		else if (c >= '0' && c <= '9')
			dg = true;
		else
			sy = true;
	}
	return lo + up + dg + (symbols && sy);
}

static void assignment(struct line_scan *s, size_t i)
{
	const char *p = s->p;
	size_t op_end = i + 1, name_start, name_len, v, ve;
	enum name_class cls;
	char q = 0;

	if (p[i] == '=') {
		if (i + 1 < s->n && (p[i + 1] == '=' || p[i + 1] == '~'))
			return;
		if (i > 0 && strchr("=!<>+-*/%&|^:", p[i - 1]))
			return;
		if (i + 1 < s->n && p[i + 1] == '>')
			op_end++;
	} else { /* ':' */
		if ((i + 1 < s->n && p[i + 1] == ':') || (i > 0 && p[i - 1] == ':'))
			return;
		if (i + 1 < s->n && p[i + 1] == '=')
			op_end++;
	}
	if (!name_before(s, i, &name_start, &name_len))
		return;
	cls = classify(p + name_start, name_len);
	if (cls == NAME_NONE && p[i] == '=') {
		/* "apiKey: string = ..." or "API_KEY: str = ...": the name before the type */
		size_t b = name_start;

		while (b > 0 && (p[b - 1] == ' ' || p[b - 1] == '\t'))
			b--;
		if (b > 0 && p[b - 1] == ':' && name_before(s, b - 1, &name_start, &name_len))
			cls = classify(p + name_start, name_len);
	}
	if (cls == NAME_NONE)
		return;
	v = op_end;
	while (v < s->n && (p[v] == ' ' || p[v] == '\t'))
		v++;
	if (v >= s->n)
		return;
	if (p[v] == '"' || p[v] == '\'' || p[v] == '`') {
		q = p[v++];
		for (ve = v; ve < s->n && p[ve] != q; ve++)
			if (p[ve] == '\\')
				ve++;
		if (ve >= s->n)
			return; /* not closed on this line */
	} else {
		if (!s->unquoted_ok)
			return;
		for (ve = v; ve < s->n && p[ve] != ' ' && p[ve] != '\t' && p[ve] != '#' &&
			     p[ve] != ';' && p[ve] != ',';
		     ve++)
			;
	}
	if (ve - v > VALUE_MAX || placeholder(p + v, ve - v))
		return;
	for (size_t k = v; k < ve; k++)
		if (p[k] == ' ' || p[k] == '\t')
			return;
	if (cls == NAME_PASSWORD) {
		if (ve - v < 8 || char_classes(p + v, ve - v, true) < 2 ||
		    nsh_vrf_entropy(p + v, ve - v) < 2.8)
			return;
		add(s, "password", "password", v, ve - v, p + name_start, name_len);
	} else {
		if (ve - v < 16 || char_classes(p + v, ve - v, false) < 2 ||
		    nsh_vrf_entropy(p + v, ve - v) < 3.5)
			return;
		add(s, "generic-secret", "high-entropy value", v, ve - v, p + name_start, name_len);
	}
}

static void scan_line(struct line_scan *s)
{
	const char *p = s->p;

	s->nm = 0;
	for (size_t i = 0; i < s->n; i++) {
		switch (p[i]) {
		case 'A':
			aws(s, i);
			break;
		case 'g':
			github(s, i);
			break;
		case 'x':
			slack(s, i);
			break;
		case 'h':
			slack_hook(s, i);
			break;
		case 's':
		case 'r':
			stripe(s, i);
			break;
		case '-':
			pem(s, i);
			break;
		default:
			break;
		}
	}
	/* assignments last, so that a provider token is reported by its own rule */
	for (size_t i = 0; i < s->n; i++)
		if (p[i] == '=' || p[i] == ':')
			assignment(s, i);
}

/* The line around match @k with every match's value replaced by "[redacted]". */
static char *masked(const struct line_scan *s, int k)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t from = 0, to = s->n;

	if (s->m[k].start > EXCERPT_WINDOW)
		from = s->m[k].start - EXCERPT_WINDOW;
	if (s->m[k].start + s->m[k].len + EXCERPT_WINDOW < s->n)
		to = s->m[k].start + s->m[k].len + EXCERPT_WINDOW;
	/* never start or end inside another match */
	for (int j = 0; j < s->nm; j++) {
		const struct match *m = &s->m[j];

		if (from > m->start && from < m->start + m->len)
			from = m->start;
		if (to > m->start && to < m->start + m->len)
			to = m->start + m->len;
	}
	while (from < to && (s->p[from] == ' ' || s->p[from] == '\t'))
		from++;
	for (size_t i = from; i < to;) {
		int hit = -1;

		for (int j = 0; j < s->nm; j++)
			if (s->m[j].len && i == s->m[j].start)
				hit = j;
		if (hit >= 0) {
			nsh_buf_adds(&b, "[redacted]");
			i += s->m[hit].len;
			continue;
		}
		nsh_buf_addch(&b, s->p[i] == '\t' ? ' ' : s->p[i]);
		i++;
	}
	return nsh_buf_detach(&b, NULL);
}

static void report(const struct line_scan *s, const char *file, int line,
		   const struct nsh_verify_allow *allow, struct nsh_verify_findings *ret)
{
	for (int k = 0; k < s->nm; k++) {
		const struct match *m = &s->m[k];
		char fp[13], *msg, *ex;

		nsh_vrf_fingerprint(m->len ? s->p + m->start : s->p, m->len ? m->len : s->n, fp);
		if (allow && nsh_verify_allowed(allow, file, m->rule, fp))
			continue;
		if (m->name)
			msg = nsh_xasprintf("%s assigned to '%.*s' (fingerprint %s)", m->what,
					    (int)m->name_len, m->name, fp);
		else
			msg = nsh_xasprintf("%s (fingerprint %s)", m->what, fp);
		ex = masked(s, k);
		nsh_verify_findings_add(ret, NSH_VERIFY_KIND_SECRET, NSH_VERIFY_ERROR, m->rule,
					file, line, msg, ex);
		free(msg);
		free(ex);
	}
}

/* Files where NAME=value without quotes is a literal (env files, YAML, INI, shell). */
static bool unquoted_literals(const char *path)
{
	static const char *const ext[] = {".env",  ".yml", ".yaml", ".ini",	   ".cfg",
					  ".conf", ".sh",  ".bash", ".properties", ".txt",
					  ".md",   ".rst", ".toml"};
	const char *base = nsh_vrf_basename(path);
	size_t n = strlen(base);

	if (!strncmp(base, ".env", 4) || !strcmp(base, "Dockerfile") ||
	    !strncmp(base, "Dockerfile.", 11))
		return true;
	for (size_t k = 0; k < sizeof(ext) / sizeof(ext[0]); k++) {
		size_t m = strlen(ext[k]);

		if (n > m && !strcmp(base + n - m, ext[k]))
			return true;
	}
	return false;
}

size_t nsh_verify_scan_secrets(const struct nsh_verify_diff *d,
			       const struct nsh_verify_allow *allow,
			       struct nsh_verify_findings *ret)
{
	struct line_scan s;
	size_t bytes = 0;

	for (size_t i = 0; i < d->nr; i++) {
		const struct nsh_verify_dfile *f = &d->file[i];
		const char *path = nsh_verify_dfile_path(f);

		s.unquoted_ok = unquoted_literals(path);
		for (size_t k = 0; k < f->nr; k++) {
			const struct nsh_verify_dline *l = &f->line[k];

			if (l->side != '+')
				continue;
			s.p = l->text;
			s.n = l->len;
			bytes += l->len + 2;
			scan_line(&s);
			if (s.nm)
				report(&s, path, l->new_line, allow, ret);
		}
	}
	return bytes;
}

size_t nsh_verify_scan_secrets_text(const char *text, size_t len, const char *label,
				    const struct nsh_verify_allow *allow,
				    struct nsh_verify_findings *ret)
{
	struct line_scan s = {.unquoted_ok = true};
	size_t i = 0;
	int line = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		line++;
		s.p = text + i;
		s.n = n;
		scan_line(&s);
		if (s.nm)
			report(&s, label, line, allow, ret);
		i += n + (nl ? 1 : 0);
	}
	return len;
}
