/*
 * Stuck detection over the newest tool calls: the same call with the same
 * result three times in a row, the same error three times in a row,
 * alternation between two calls (A-B-A-B-A-B), and a long run of calls
 * that neither changed anything nor showed anything new.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_tools.h"
#include "core/alloc.h"

#include "core/banned.h"

#define REPEAT	    3 /* identical calls (or errors) in a row */
#define ALTERNATION 6 /* calls of an A-B-A-B-A-B pattern */

uint64_t stuck_hash(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void stuck_init(struct stuck *s, int idle_max)
{
	memset(s, 0, sizeof(*s));
	s->idle_max = idle_max > 0 ? idle_max : 20;
}

void stuck_release(struct stuck *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->seen);
	memset(s, 0, sizeof(*s));
}

void stuck_reset(struct stuck *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	s->n = 0;
	s->idle = 0;
}

/* Whether @h was seen before; remembers it. */
static bool seen_before(struct stuck *s, uint64_t h)
{
	for (size_t i = 0; i < s->nseen; i++)
		if (s->seen[i] == h)
			return true;
	NSH_ALLOC_GROW(s->seen, s->nseen + 1, s->seen_alloc);
	s->seen[s->nseen++] = h;
	return false;
}

void stuck_observe(struct stuck *s, const char *name, const char *args, const char *result,
		   bool is_error, bool progress)
{
	uint64_t a = stuck_hash(STUCK_HASH_SEED, name, strlen(name) + 1);
	uint64_t o = stuck_hash(STUCK_HASH_SEED, result, strlen(result));
	bool novel;

	a = stuck_hash(a, args, strlen(args));
	novel = !seen_before(s, stuck_hash(a, &o, sizeof(o)));
	if (s->n == STUCK_WINDOW) {
		free(s->names[0]);
		memmove(s->act, s->act + 1, (STUCK_WINDOW - 1) * sizeof(s->act[0]));
		memmove(s->obs, s->obs + 1, (STUCK_WINDOW - 1) * sizeof(s->obs[0]));
		memmove(s->err, s->err + 1, (STUCK_WINDOW - 1) * sizeof(s->err[0]));
		memmove(s->names, s->names + 1, (STUCK_WINDOW - 1) * sizeof(s->names[0]));
		s->n--;
	}
	s->act[s->n] = a;
	s->obs[s->n] = o;
	s->err[s->n] = is_error;
	s->names[s->n] = nsh_xstrdup(name);
	s->n++;
	if (progress || (novel && !is_error))
		s->idle = 0;
	else
		s->idle++;
}

char *stuck_check(const struct stuck *s)
{
	size_t n = s->n;

	if (n >= REPEAT) {
		bool same = true, same_err = true;

		for (size_t i = n - REPEAT + 1; i < n; i++) {
			if (s->act[i] != s->act[n - 1] || s->obs[i] != s->obs[n - 1] ||
			    s->act[i - 1] != s->act[n - 1] || s->obs[i - 1] != s->obs[n - 1])
				same = false;
			if (!s->err[i] || !s->err[i - 1] || s->obs[i] != s->obs[n - 1] ||
			    s->obs[i - 1] != s->obs[n - 1])
				same_err = false;
		}
		if (same)
			return nsh_xasprintf("the same call to '%s' returned the same result %d "
					     "times in a row",
					     s->names[n - 1], REPEAT);
		if (same_err)
			return nsh_xasprintf("the same error came back %d times in a row (last "
					     "from '%s')",
					     REPEAT, s->names[n - 1]);
	}
	if (n >= ALTERNATION) {
		bool alt = s->act[n - 1] != s->act[n - 2] || s->obs[n - 1] != s->obs[n - 2];

		for (size_t i = n - ALTERNATION; alt && i + 2 < n; i++)
			if (s->act[i] != s->act[i + 2] || s->obs[i] != s->obs[i + 2])
				alt = false;
		if (alt)
			return nsh_xasprintf("alternating between '%s' and '%s' without progress",
					     s->names[n - 2], s->names[n - 1]);
	}
	if (s->idle >= s->idle_max)
		return nsh_xasprintf("%d tool calls in a row without progress (nothing changed "
				     "and nothing new was seen)",
				     s->idle);
	return NULL;
}
