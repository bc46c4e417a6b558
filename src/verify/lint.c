/*
 * Linters' and type checkers' output as findings with file:line: eslint
 * (JSON and the default "stylish" text), tsc, the one-line format that
 * flake8, ruff (concise), go vet and clippy (short) share, mypy, and
 * rustc's multi-line diagnostics.
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#include "core/banned.h"

static void add(struct nsh_verify_findings *ret, enum nsh_verify_kind kind,
		enum nsh_verify_level level, const char *rule, size_t rule_len, const char *file,
		size_t file_len, int line, const char *msg, size_t msg_len)
{
	char *r = rule && rule_len ? nsh_xmemdup(rule, rule_len) : NULL;
	char *f = file && file_len ? nsh_xmemdup(file, file_len) : NULL;
	char *m = nsh_xmemdup(msg, msg_len > 1000 ? 1000 : msg_len);

	nsh_verify_findings_add(ret, kind, level, r, f, line, m, NULL);
	free(r);
	free(f);
	free(m);
}

/* Digits at p (at most up to e): the number, and where they end. 0 when none. */
static long digits(const char *p, const char *e, const char **ret_end)
{
	long v = 0;
	const char *q = p;

	while (q < e && *q >= '0' && *q <= '9' && v < 100000000)
		v = v * 10 + (*q++ - '0');
	*ret_end = q;
	return q == p ? 0 : v;
}

/* The next line of text[0..len) from *at on: its start and length (without the newline). */
static bool next_line(const char *text, size_t len, size_t *at, const char **ret, size_t *ret_n)
{
	const char *nl;

	if (*at >= len)
		return false;
	*ret = text + *at;
	nl = memchr(*ret, '\n', len - *at);
	*ret_n = nl ? (size_t)(nl - *ret) : len - *at;
	*at += *ret_n + 1;
	return true;
}

/* ---- eslint ---- */

static void eslint_json(const char *text, size_t len, enum nsh_verify_kind kind,
			struct nsh_verify_findings *ret)
{
	json_t *doc = NULL, *f;
	size_t i;

	if (nsh_json_parse_limits(text, len, NSH_VERIFY_REPORT_MAX, 64, &doc, NULL))
		return;
	json_array_foreach(doc, i, f)
	{
		const char *file = json_string_value(json_object_get(f, "filePath"));
		json_t *msgs = json_object_get(f, "messages"), *m;
		size_t k;

		json_array_foreach(msgs, k, m)
		{
			const char *rule = json_string_value(json_object_get(m, "ruleId"));
			const char *msg = json_string_value(json_object_get(m, "message"));
			json_int_t sev = json_integer_value(json_object_get(m, "severity"));
			json_int_t line = json_integer_value(json_object_get(m, "line"));

			if (!msg)
				continue;
			if (!rule && json_is_true(json_object_get(m, "fatal")))
				rule = "parse-error";
			add(ret, kind, sev >= 2 ? NSH_VERIFY_ERROR : NSH_VERIFY_WARNING, rule,
			    rule ? strlen(rule) : 0, file, file ? strlen(file) : 0,
			    line > 0 && line < 100000000 ? (int)line : 0, msg, strlen(msg));
		}
	}
	json_decref(doc);
}

/*
 * /abs/path/file.js
 *   1:7  error  'x' is assigned a value but never used  no-unused-vars
 */
static void eslint_text(const char *text, size_t len, enum nsh_verify_kind kind,
			struct nsh_verify_findings *ret)
{
	const char *file = NULL;
	size_t file_len = 0;

	size_t at = 0, n;
	const char *p;

	while (next_line(text, len, &at, &p, &n)) {
		const char *e = p + n, *q, *sev, *msg, *rule;
		long line;
		size_t sn;

		while (e > p && e[-1] == '\r')
			e--;
		if (e == p)
			continue;
		if (p[0] != ' ') {
			if (p[0] == '/' || p[0] == '.' || nsh_vrf_alnum((unsigned char)p[0])) {
				file = p;
				file_len = (size_t)(e - p);
			}
			continue;
		}
		if (!file)
			continue;
		q = p;
		while (q < e && *q == ' ')
			q++;
		line = digits(q, e, &q);
		if (!line || q >= e || *q != ':')
			continue;
		digits(q + 1, e, &q);
		while (q < e && *q == ' ')
			q++;
		sev = q;
		while (q < e && *q != ' ')
			q++;
		sn = (size_t)(q - sev);
		if (!((sn == 5 && !memcmp(sev, "error", 5)) ||
		      (sn == 7 && !memcmp(sev, "warning", 7))))
			continue;
		while (q < e && *q == ' ')
			q++;
		msg = q;
		/* the rule is the last field, two spaces before it */
		rule = NULL;
		for (const char *r = e; r > msg + 1; r--) {
			if (r[-1] == ' ' && r[-2] == ' ') {
				rule = r;
				break;
			}
		}
		{
			const char *me = rule ? rule : e;

			while (me > msg && me[-1] == ' ')
				me--;
			add(ret, kind, sn == 5 ? NSH_VERIFY_ERROR : NSH_VERIFY_WARNING, rule,
			    rule ? (size_t)(e - rule) : 0, file, file_len, (int)line, msg,
			    (size_t)(me - msg));
		}
	}
}

/* ---- tsc: "src/b.ts(2,3): error TS2322: ..." or "src/b.ts:2:3 - error TS2322: ..." ---- */

static void tsc(const char *text, size_t len, enum nsh_verify_kind kind,
		struct nsh_verify_findings *ret)
{
	size_t at = 0, n;
	const char *p;

	while (next_line(text, len, &at, &p, &n)) {
		const char *e = p + n, *q, *file = p, *fe = NULL, *sev, *code, *ce;
		long line = 0;

		while (e > p && e[-1] == '\r')
			e--;
		q = memmem(p, (size_t)(e - p), "error TS", 8);
		sev = q;
		if (!q) {
			q = memmem(p, (size_t)(e - p), "warning TS", 10);
			sev = q;
		}
		if (!q)
			continue;
		/* the location before it */
		for (const char *r = p; r < sev; r++) {
			if (*r == '(' && (line = digits(r + 1, sev, &fe)) && fe < sev &&
			    *fe == ',') {
				fe = r;
				break;
			}
			if (*r == ':' && r + 1 < sev && r[1] >= '0' && r[1] <= '9' &&
			    (line = digits(r + 1, sev, &fe)) && fe < sev && *fe == ':') {
				fe = r;
				break;
			}
			line = 0;
			fe = NULL;
		}
		code = memchr(sev, 'T', (size_t)(e - sev));
		if (!code)
			continue;
		ce = code;
		while (ce < e && *ce != ':')
			ce++;
		{
			const char *msg = ce < e ? ce + 1 : e;

			while (msg < e && *msg == ' ')
				msg++;
			add(ret, kind, *sev == 'e' ? NSH_VERIFY_ERROR : NSH_VERIFY_WARNING, code,
			    (size_t)(ce - code), fe ? file : NULL, fe ? (size_t)(fe - file) : 0,
			    (int)line, msg, (size_t)(e - msg));
		}
	}
}

/* ---- "file:line[:col]: message" (flake8, ruff, go vet, clippy short) and mypy ---- */

static void lines(const char *text, size_t len, enum nsh_verify_kind kind, bool mypy,
		  struct nsh_verify_findings *ret)
{
	size_t at = 0, n;
	const char *p;

	while (next_line(text, len, &at, &p, &n)) {
		const char *e = p + n, *c, *q, *msg, *rule = NULL;
		enum nsh_verify_level level = NSH_VERIFY_ERROR;
		size_t rule_len = 0;
		long line;

		while (e > p && e[-1] == '\r')
			e--;
		c = memchr(p, ':', (size_t)(e - p));
		if (!c || c == p || memchr(p, ' ', (size_t)(c - p)) || p[0] == '#')
			continue;
		line = digits(c + 1, e, &q);
		if (!line || q >= e || *q != ':')
			continue;
		if (q + 1 < e && q[1] >= '0' && q[1] <= '9') {
			digits(q + 1, e, &q);
			if (q >= e || *q != ':')
				continue;
		}
		msg = q + 1;
		while (msg < e && *msg == ' ')
			msg++;
		if ((size_t)(e - msg) > 6 && !memcmp(msg, "error:", 6)) {
			msg += 6;
		} else if ((size_t)(e - msg) > 8 && !memcmp(msg, "warning:", 8)) {
			level = NSH_VERIFY_WARNING;
			msg += 8;
		} else if ((size_t)(e - msg) > 5 &&
			   (!memcmp(msg, "note:", 5) || !memcmp(msg, "help:", 5))) {
			level = NSH_VERIFY_NOTE;
			msg += 5;
		} else if (mypy) {
			continue;
		}
		while (msg < e && *msg == ' ')
			msg++;
		if (mypy) {
			/* "message  [code]" */
			if (e - msg > 3 && e[-1] == ']') {
				const char *lb = e - 1;

				while (lb > msg && *lb != '[')
					lb--;
				if (lb > msg && lb[-1] == ' ') {
					rule = lb + 1;
					rule_len = (size_t)(e - 1 - rule);
					e = lb;
					while (e > msg && e[-1] == ' ')
						e--;
				}
			}
		} else if (e - msg > 10 && e[-1] == ']' &&
			   (memmem(msg, (size_t)(e - msg), " [Error/", 8) ||
			    memmem(msg, (size_t)(e - msg), " [Warning/", 10))) {
			/* eslint -f unix: "message [Error/rule]" */
			const char *lb = memmem(msg, (size_t)(e - msg), " [Error/", 8);

			if (!lb) {
				lb = memmem(msg, (size_t)(e - msg), " [Warning/", 10);
				level = NSH_VERIFY_WARNING;
			}
			rule = (const char *)memchr(lb, '/', (size_t)(e - lb)) + 1;
			rule_len = (size_t)(e - 1 - rule);
			e = lb;
		} else {
			/* "F401 'os' imported but unused": a code first */
			const char *r = msg;

			while (r < e && *r >= 'A' && *r <= 'Z')
				r++;
			if (r > msg && r < e && *r >= '0' && *r <= '9') {
				while (r < e && *r >= '0' && *r <= '9')
					r++;
				if (r < e && *r == ' ') {
					rule = msg;
					rule_len = (size_t)(r - msg);
					msg = r + 1;
				}
			}
		}
		add(ret, kind, level, rule, rule_len, p, (size_t)(c - p), (int)line, msg,
		    (size_t)(e - msg));
	}
}

/* ---- rustc: "error[E0308]: mismatched types" then " --> src/lib.rs:2:5" ---- */

static void rustc(const char *text, size_t len, enum nsh_verify_kind kind,
		  struct nsh_verify_findings *ret)
{
	const char *head = NULL;
	size_t head_len = 0;

	size_t at = 0, n;
	const char *p;

	while (next_line(text, len, &at, &p, &n)) {
		const char *e = p + n;

		while (e > p && e[-1] == '\r')
			e--;
		if ((e - p > 6 && !memcmp(p, "error", 5) && (p[5] == ':' || p[5] == '[')) ||
		    (e - p > 8 && !memcmp(p, "warning", 7) && (p[7] == ':' || p[7] == '['))) {
			head = p;
			head_len = (size_t)(e - p);
			continue;
		}
		if (head) {
			size_t m = (size_t)(e - p);
			const char *t = nsh_vrf_trim(p, &m), *c, *q;
			long line;

			if (m < 5 || memcmp(t, "--> ", 4))
				continue;
			t += 4;
			m -= 4;
			c = memchr(t, ':', m);
			if (c && (line = digits(c + 1, t + m, &q))) {
				bool err = head[0] == 'e';
				const char *msg = memchr(head, ':', head_len);
				const char *rule = memchr(head, '[', head_len);
				size_t rl = 0;

				if (rule && msg && rule < msg) {
					const char *rb =
						memchr(rule, ']', head_len - (size_t)(rule - head));

					rl = rb ? (size_t)(rb - rule - 1) : 0;
					rule++;
				} else {
					rule = NULL;
				}
				msg = msg ? msg + 1 : head;
				while (msg < head + head_len && *msg == ' ')
					msg++;
				add(ret, kind, err ? NSH_VERIFY_ERROR : NSH_VERIFY_WARNING, rule,
				    rl, t, (size_t)(c - t), (int)line, msg,
				    (size_t)(head + head_len - msg));
			}
			head = NULL;
		}
	}
}

void nsh_verify_parse_findings(enum nsh_verify_format fmt, const char *text, size_t len,
			       enum nsh_verify_kind kind, struct nsh_verify_findings *ret)
{
	switch (fmt) {
	case NSH_VERIFY_FMT_ESLINT_JSON:
		eslint_json(text, len, kind, ret);
		break;
	case NSH_VERIFY_FMT_ESLINT_TEXT:
		eslint_text(text, len, kind, ret);
		break;
	case NSH_VERIFY_FMT_TSC:
		tsc(text, len, kind, ret);
		break;
	case NSH_VERIFY_FMT_LINES:
		lines(text, len, kind, false, ret);
		break;
	case NSH_VERIFY_FMT_MYPY:
		lines(text, len, kind, true, ret);
		break;
	case NSH_VERIFY_FMT_RUSTC:
		rustc(text, len, kind, ret);
		break;
	case NSH_VERIFY_FMT_AUTO: {
		/* whichever recognises something */
		size_t before = ret->nr;

		tsc(text, len, kind, ret);
		if (ret->nr == before)
			eslint_text(text, len, kind, ret);
		if (ret->nr == before)
			lines(text, len, kind, false, ret);
		if (ret->nr == before)
			rustc(text, len, kind, ret);
		break;
	}
	case NSH_VERIFY_FMT_EXIT:
	case NSH_VERIFY_FMT_TAP:
	case NSH_VERIFY_FMT_MOCHA_JSON:
	case NSH_VERIFY_FMT_MOCHA_SPEC:
	case NSH_VERIFY_FMT_JEST_JSON:
	case NSH_VERIFY_FMT_JUNIT_XML:
	case NSH_VERIFY_FMT_GO_JSON:
	case NSH_VERIFY_FMT_CARGO:
		break;
	}
}
