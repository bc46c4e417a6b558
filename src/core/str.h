/*
 * Non-owning string views: a pointer and a length, not NUL-terminated.
 * A view is only valid while the storage it points into lives.
 */
#ifndef NSH_CORE_STR_H
#define NSH_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_str {
	const char *p; /* first byte; may be NULL when len == 0 */
	size_t len;    /* number of bytes */
};

/* A view of a string literal. */
#define NSH_STR_LIT(lit) ((struct nsh_str){(lit), sizeof(lit) - 1})

static inline struct nsh_str nsh_str_make(const char *p, size_t len)
{
	return (struct nsh_str){p, len};
}

/** A view of a NUL-terminated string (NULL gives the empty view). */
struct nsh_str nsh_str_from(const char *s);
bool nsh_str_eq(struct nsh_str a, struct nsh_str b);
bool nsh_str_eq_cstr(struct nsh_str a, const char *s);
bool nsh_str_has_prefix(struct nsh_str s, const char *prefix);
bool nsh_str_has_suffix(struct nsh_str s, const char *suffix);
/** Without leading and trailing ASCII white space. */
struct nsh_str nsh_str_trim(struct nsh_str s);
/**
 * Split @s at the first @sep: @ret_head gets what comes before it and
 * @ret_tail what comes after. Returns false (outputs untouched) when @sep
 * does not occur.
 */
bool nsh_str_split(struct nsh_str s, char sep, struct nsh_str *ret_head, struct nsh_str *ret_tail);
/** A NUL-terminated copy; the caller frees it. */
char *nsh_str_dup(struct nsh_str s);

/**
 * Parse a byte count: digits with an optional K, M, G or T suffix (powers
 * of 1024, either case), e.g. "512", "10K", "25M". False on anything else
 * or on overflow.
 */
bool nsh_parse_size(const char *s, uint64_t *ret);

/** True when @s starts with @prefix (both NUL-terminated). */
bool nsh_starts_with(const char *s, const char *prefix);

#endif
