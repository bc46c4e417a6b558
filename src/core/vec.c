#include "core/vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#include "core/banned.h"

/* Shared storage of every vector that owns no memory; only ever holds NULL. */
char *nsh_strvec_empty[1];

void nsh_strvec_init(struct nsh_strvec *sv)
{
	sv->v = nsh_strvec_empty;
	sv->nr = 0;
	sv->alloc = 0;
}

void nsh_strvec_release(struct nsh_strvec *sv)
{
	if (!sv)
		return;
	if (sv->alloc) {
		for (size_t i = 0; i < sv->nr; i++)
			free(sv->v[i]);
		free(sv->v);
	}
	nsh_strvec_init(sv);
}

static const char *push_owned(struct nsh_strvec *sv, char *s)
{
	if (!sv->alloc)
		sv->v = NULL;
	NSH_ALLOC_GROW(sv->v, sv->nr + 2, sv->alloc);
	sv->v[sv->nr++] = s;
	sv->v[sv->nr] = NULL;
	return s;
}

const char *nsh_strvec_push(struct nsh_strvec *sv, const char *s)
{
	return push_owned(sv, nsh_xstrdup(s));
}

const char *nsh_strvec_pushf(struct nsh_strvec *sv, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		s = nsh_xstrdup("");
	return push_owned(sv, s);
}

void nsh_strvec_pushl(struct nsh_strvec *sv, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, sv);
	while ((s = va_arg(ap, const char *)))
		nsh_strvec_push(sv, s);
	va_end(ap);
}

void nsh_strvec_pop(struct nsh_strvec *sv)
{
	if (!sv->nr)
		return;
	free(sv->v[--sv->nr]);
	sv->v[sv->nr] = NULL;
}

long nsh_strvec_find(const struct nsh_strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->nr; i++)
		if (!strcmp(sv->v[i], s))
			return (long)i;
	return -1;
}
