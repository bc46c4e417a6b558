/*
 * Allocation that never returns NULL: on exhaustion the process logs one
 * line and aborts, so callers never check. Sizes are overflow-checked.
 * All functions are thread-safe. Memory is released with free().
 */
#ifndef NSH_CORE_ALLOC_H
#define NSH_CORE_ALLOC_H

#include <stddef.h>

void *nsh_xmalloc(size_t size);
/** Zeroed array of @n elements of @size bytes; aborts on overflow. */
void *nsh_xcalloc(size_t n, size_t size);
void *nsh_xrealloc(void *p, size_t size);
/** Resize an array of @n elements of @size bytes; aborts on overflow. */
void *nsh_xreallocarray(void *p, size_t n, size_t size);
char *nsh_xstrdup(const char *s);
/** Copy of the first @n bytes of @s (stops early at a NUL), NUL-terminated. */
char *nsh_xstrndup(const char *s, size_t n);
/** Copy of @n bytes of @p with a NUL byte appended. */
char *nsh_xmemdup(const void *p, size_t n);
/** A new string formatted like printf. */
char *nsh_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Grow the array @x (with @nr elements in use and @alloc allocated) so
 * that it holds at least @want elements, like git's ALLOC_GROW.
 */
#define NSH_ALLOC_GROW(x, want, alloc)                           \
 do {                                                            \
  if ((want) > (alloc)) {                                        \
   size_t nsh_grow_n_ = (alloc) < 8 ? 8 : (alloc) + (alloc) / 2; \
   if (nsh_grow_n_ < (want))                                     \
    nsh_grow_n_ = (want);                                        \
   (x) = nsh_xreallocarray((x), nsh_grow_n_, sizeof(*(x)));      \
   (alloc) = nsh_grow_n_;                                        \
  }                                                              \
 } while (0)

/* Free a pointer that __attribute__((cleanup)) hands over. */
void nsh_freep(void *pp);
#define _nsh_cleanup_free_ __attribute__((cleanup(nsh_freep)))

#endif
