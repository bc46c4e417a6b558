/*
 * The growable byte buffer (git's strbuf invariants with curl's dynbuf cap).
 *
 * Invariants, true after every call: buf is never NULL; buf[len] == '\0';
 * len < alloc whenever alloc > 0; len <= max. A buffer with alloc == 0
 * points at a shared empty string and owns no memory.
 *
 * Appends that would take len past max fail with NSH_ETOOBIG and leave the
 * buffer exactly as it was, so a caller never sees half of an append.
 *
 * Thread rules: a buffer belongs to one thread at a time.
 */
#ifndef NSH_CORE_BUF_H
#define NSH_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct nsh_str;

struct nsh_buf {
	char *buf;    /* contents, NUL-terminated, never NULL */
	size_t len;   /* bytes in use, excluding the NUL */
	size_t alloc; /* bytes allocated; 0 means buf is the shared empty string */
	size_t max;   /* cap on len; SIZE_MAX for none */
};

extern char nsh_buf_empty[];

#define NSH_BUF_INIT            \
 {                              \
  nsh_buf_empty, 0, 0, SIZE_MAX \
 }

/** Initialise caller storage as an empty buffer capped at @max bytes. */
void nsh_buf_init(struct nsh_buf *b, size_t max);

/** Free the contents and leave an empty buffer with the same cap. NULL ok. */
void nsh_buf_release(struct nsh_buf *b);

/**
 * Hand the contents to the caller, who frees them with free(); the buffer is
 * left empty. @ret_len (may be NULL) receives the length. Never NULL.
 */
char *nsh_buf_detach(struct nsh_buf *b, size_t *ret_len);

/** Make room for @extra more bytes. NSH_ETOOBIG past the cap. */
int nsh_buf_grow(struct nsh_buf *b, size_t extra);

/** Append @n bytes. NSH_ETOOBIG (buffer unchanged) past the cap. */
int nsh_buf_add(struct nsh_buf *b, const void *p, size_t n);
int nsh_buf_adds(struct nsh_buf *b, const char *s);
int nsh_buf_addch(struct nsh_buf *b, char c);
int nsh_buf_addstr(struct nsh_buf *b, struct nsh_str s);
int nsh_buf_addf(struct nsh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nsh_buf_vaddf(struct nsh_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/** Shorten to @len bytes (must be <= b->len). */
void nsh_buf_truncate(struct nsh_buf *b, size_t len);

/** Empty the buffer, keeping its allocation. */
void nsh_buf_reset(struct nsh_buf *b);

/** Remove leading and trailing ASCII white space. */
void nsh_buf_trim(struct nsh_buf *b);

/** Cleanup helper for __attribute__((cleanup)). */
#define _nsh_cleanup_buf_ __attribute__((cleanup(nsh_buf_release)))

#endif
