#include "core/str.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

#include "core/banned.h"

struct nsh_str nsh_str_from(const char *s)
{
	return s ? nsh_str_make(s, strlen(s)) : nsh_str_make(NULL, 0);
}

bool nsh_str_eq(struct nsh_str a, struct nsh_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

bool nsh_str_eq_cstr(struct nsh_str a, const char *s)
{
	return nsh_str_eq(a, nsh_str_from(s));
}

bool nsh_str_has_prefix(struct nsh_str s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.len >= n && (!n || !memcmp(s.p, prefix, n));
}

bool nsh_str_has_suffix(struct nsh_str s, const char *suffix)
{
	size_t n = strlen(suffix);

	return s.len >= n && (!n || !memcmp(s.p + s.len - n, suffix, n));
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

struct nsh_str nsh_str_trim(struct nsh_str s)
{
	while (s.len && is_space(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_space(s.p[s.len - 1]))
		s.len--;
	return s;
}

bool nsh_str_split(struct nsh_str s, char sep, struct nsh_str *ret_head, struct nsh_str *ret_tail)
{
	const char *at = s.len ? memchr(s.p, sep, s.len) : NULL;

	if (!at)
		return false;
	*ret_head = nsh_str_make(s.p, (size_t)(at - s.p));
	*ret_tail = nsh_str_make(at + 1, s.len - (size_t)(at - s.p) - 1);
	return true;
}

char *nsh_str_dup(struct nsh_str s)
{
	return nsh_xmemdup(s.p, s.len);
}

bool nsh_starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

bool nsh_parse_size(const char *s, uint64_t *ret)
{
	uint64_t n = 0;
	int shift = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	if (p == s)
		return false;
	switch (*p) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		break;
	}
	if (shift)
		p++;
	if (*p || n > UINT64_MAX >> shift)
		return false;
	*ret = n << shift;
	return true;
}
