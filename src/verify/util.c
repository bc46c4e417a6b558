/*
 * Small helpers of the verify module: text search, globs, entropy, paths,
 * display quoting, output tails and secret fingerprints.
 */
#include "verify/verify_int.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

const char *nsh_vrf_memcasemem(const char *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	char c0, c1;

	if (!m)
		return p;
	if (m > n)
		return NULL;
	c0 = needle[0];
	c1 = c0 >= 'a' && c0 <= 'z' ? (char)(c0 - 'a' + 'A') : c0;
	for (size_t i = 0; i + m <= n; i++) {
		size_t k;

		if (p[i] != c0 && p[i] != c1)
			continue;
		for (k = 1; k < m; k++)
			if (nsh_vrf_lower(p[i + k]) != needle[k])
				break;
		if (k == m)
			return p + i;
	}
	return NULL;
}

const char *nsh_vrf_trim(const char *p, size_t *n)
{
	while (*n && (*p == ' ' || *p == '\t' || *p == '\r')) {
		p++;
		(*n)--;
	}
	while (*n && (p[*n - 1] == ' ' || p[*n - 1] == '\t' || p[*n - 1] == '\r'))
		(*n)--;
	return p;
}

static bool glob_at(const char *p, const char *s, int depth)
{
	if (depth > 64)
		return false;
	for (; *p; p++, s++) {
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			if (!p[1])
				return true;
			for (const char *t = s; *t; t++)
				if (glob_at(p + 1, t, depth + 1))
					return true;
			return glob_at(p + 1, s + strlen(s), depth + 1);
		}
		if (!*s || (*p != '?' && *p != *s))
			return false;
	}
	return !*s;
}

bool nsh_vrf_glob(const char *pattern, const char *s)
{
	size_t n = strlen(pattern);

	if (!n)
		return false;
	if (pattern[n - 1] == '/') /* a directory: everything below it */
		return !strncmp(s, pattern, n);
	return glob_at(pattern, s, 0);
}

/*
 * log2 of x > 0 without libm: the exponent from the bits, the mantissa's
 * logarithm from the atanh series (|y| <= 1/3, so a dozen terms give far
 * more precision than an entropy threshold needs).
 */
static double log2_pos(double x)
{
	uint64_t bits;
	int e;
	double m, y, y2, term, sum = 0;

	memcpy(&bits, &x, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	memcpy(&m, &bits, sizeof(m));
	y = (m - 1) / (m + 1);
	y2 = y * y;
	term = y;
	for (int k = 1; k < 30; k += 2) {
		sum += term / k;
		term *= y2;
	}
	return e + 2 * sum / 0.69314718055994530942;
}

double nsh_vrf_entropy(const char *p, size_t n)
{
	unsigned counts[256] = {0};
	double h = 0;

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		counts[(unsigned char)p[i]]++;
	for (int c = 0; c < 256; c++) {
		double q;

		if (!counts[c])
			continue;
		q = (double)counts[c] / (double)n;
		h -= q * log2_pos(q);
	}
	return h;
}

const char *nsh_vrf_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

char *nsh_vrf_relpath(const char *path, const char *root)
{
	size_t n;

	if (!path)
		return NULL;
	if (root && *root) {
		n = strlen(root);
		while (n > 1 && root[n - 1] == '/')
			n--;
		if (!strncmp(path, root, n) && path[n] == '/')
			path += n + 1;
	}
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	return nsh_xstrdup(path);
}

void nsh_vrf_quote_argv(struct nsh_buf *out, const char *const *argv)
{
	for (size_t i = 0; argv && argv[i]; i++) {
		const char *a = argv[i];
		bool plain = *a != '\0';

		for (const char *c = a; *c; c++)
			if (!nsh_vrf_alnum((unsigned char)*c) && !strchr("-_./=:,+@%", *c))
				plain = false;
		if (i)
			nsh_buf_addch(out, ' ');
		if (plain) {
			nsh_buf_adds(out, a);
			continue;
		}
		nsh_buf_addch(out, '\'');
		for (const char *c = a; *c; c++) {
			if (*c == '\'')
				nsh_buf_adds(out, "'\\''");
			else
				nsh_buf_addch(out, *c);
		}
		nsh_buf_addch(out, '\'');
	}
}

char *nsh_vrf_tail(const char *p, size_t n, size_t max_lines, size_t max_bytes)
{
	size_t start = n, lines = 0;

	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	start = n;
	while (start > 0 && n - start < max_bytes) {
		if (p[start - 1] == '\n' && ++lines >= max_lines)
			break;
		start--;
	}
	/* do not start inside a UTF-8 sequence */
	while (start < n && ((unsigned char)p[start] & 0xc0) == 0x80)
		start++;
	return nsh_xmemdup(p + start, n - start);
}

void nsh_vrf_fingerprint(const char *p, size_t n, char out[13])
{
	unsigned char h[16];
	static const char hex[] = "0123456789abcdef";

	crypto_generichash(h, sizeof(h), (const unsigned char *)p, n, NULL, 0);
	for (int i = 0; i < 6; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[12] = '\0';
}
