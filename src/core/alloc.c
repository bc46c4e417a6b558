#include "core/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/banned.h"

static void __attribute__((noreturn)) die_oom(size_t size)
{
	char msg[96];
	int n = snprintf(msg, sizeof(msg),
			 "nightshift: fatal: out of memory allocating %zu bytes\n", size);

	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		abort();
	abort();
}

void *nsh_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		die_oom(size);
	return p;
}

void *nsh_xcalloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		die_oom(SIZE_MAX);
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die_oom(n * size);
	return p;
}

void *nsh_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (!q)
		die_oom(size);
	return q;
}

void *nsh_xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die_oom(SIZE_MAX);
	return nsh_xrealloc(p, n * size);
}

char *nsh_xstrdup(const char *s)
{
	return nsh_xmemdup(s, strlen(s));
}

char *nsh_xstrndup(const char *s, size_t n)
{
	return nsh_xmemdup(s, strnlen(s, n));
}

char *nsh_xmemdup(const void *p, size_t n)
{
	char *q;

	if (n == SIZE_MAX)
		die_oom(n);
	q = nsh_xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

char *nsh_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die_oom(0);
	return s;
}

void nsh_freep(void *pp)
{
	free(*(void **)pp);
}
