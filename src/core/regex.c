/*
 * A size check in front of regcomp(). The estimate walks the pattern once,
 * the way ERE parses it: an alternation adds up its branches, a branch adds
 * up its pieces, and each repetition multiplies the piece it follows by the
 * number of copies glibc makes of it ({m,n} makes n, '+' makes two). Every
 * figure saturates at LIMIT + 1, so nesting cannot overflow.
 */
#include "core/regex.h"

#include <ctype.h>
#include <stdbool.h>

#include "core/banned.h"

#define LIMIT NSH_REGEX_MAX_POSITIONS
#define OVER  ((unsigned long)LIMIT + 1)

struct walk {
	const char *p;
	bool backref;
	unsigned depth;
};

static unsigned long add(unsigned long a, unsigned long b)
{
	return a + b > OVER ? OVER : a + b;
}

static unsigned long mul(unsigned long a, unsigned long b)
{
	if (!a || !b)
		return 0;
	return a > OVER / b ? OVER : a * b;
}

static unsigned long expr(struct walk *w);

/* Skip a bracket expression; w->p is just past '['. */
static void bracket(struct walk *w)
{
	if (*w->p == '^')
		w->p++;
	if (*w->p == ']')
		w->p++;
	while (*w->p && *w->p != ']') {
		if (w->p[0] == '[' && (w->p[1] == ':' || w->p[1] == '.' || w->p[1] == '=')) {
			char end = w->p[1];

			w->p += 2;
			while (*w->p && !(w->p[0] == end && w->p[1] == ']'))
				w->p++;
			if (*w->p)
				w->p += 2;
			continue;
		}
		w->p++;
	}
	if (*w->p)
		w->p++;
}

/* A number in a bound, saturated. */
static unsigned long number(struct walk *w)
{
	unsigned long n = 0;

	while (isdigit((unsigned char)*w->p)) {
		n = add(mul(n, 10), (unsigned long)(*w->p - '0'));
		w->p++;
	}
	return n;
}

/*
 * How many copies a repetition at w->p makes, or 0 when there is none.
 * A '{' that is not a well-formed bound is left for regcomp to judge.
 */
static unsigned long repetition(struct walk *w)
{
	const char *start = w->p;
	unsigned long m, n;

	switch (*w->p) {
	case '*':
	case '?':
		w->p++;
		return 1;
	case '+':
		w->p++;
		return 2;
	case '{':
		break;
	default:
		return 0;
	}
	w->p++;
	if (!isdigit((unsigned char)*w->p) && *w->p != ',')
		goto literal;
	m = number(w);
	n = m;
	if (*w->p == ',') {
		w->p++;
		n = isdigit((unsigned char)*w->p) ? number(w) : add(m, 1);
	}
	if (*w->p != '}')
		goto literal;
	w->p++;
	return n > m ? (n ? n : 1) : (m ? m : 1);
literal:
	w->p = start;
	return 0;
}

static unsigned long atom(struct walk *w)
{
	char c = *w->p++;

	switch (c) {
	case '(': {
		unsigned long n;

		/* deep nesting makes regcomp recurse deeply too */
		if (++w->depth > 100)
			return OVER;
		n = expr(w);
		w->depth--;
		if (*w->p == ')')
			w->p++;
		return n ? n : 1;
	}
	case '[':
		bracket(w);
		return 1;
	case '\\':
		if (*w->p >= '1' && *w->p <= '9')
			w->backref = true;
		if (*w->p)
			w->p++;
		return 1;
	default:
		return 1;
	}
}

static unsigned long branch(struct walk *w)
{
	unsigned long total = 0;

	while (*w->p && *w->p != '|' && *w->p != ')') {
		unsigned long n = atom(w), k;

		while ((k = repetition(w)))
			n = add(mul(n, k), 1);
		total = add(total, n);
		if (total >= OVER)
			break;
	}
	return total;
}

static unsigned long expr(struct walk *w)
{
	unsigned long total = branch(w);

	while (*w->p == '|' && total < OVER) {
		w->p++;
		total = add(add(total, branch(w)), 1);
	}
	return total;
}

static unsigned long measure(const char *pattern, bool *backref)
{
	struct walk w = {.p = pattern};
	unsigned long total = 0;

	/* an unbalanced ')' ends expr(); go on after it so nothing escapes */
	while (*w.p && total < OVER) {
		total = add(total, expr(&w));
		if (*w.p)
			w.p++;
	}
	*backref = w.backref;
	return total;
}

unsigned long nsh_regex_positions(const char *pattern)
{
	bool backref;

	return measure(pattern, &backref);
}

int nsh_regex_compile(regex_t *re, const char *pattern, int cflags, struct nsh_err *err)
{
	bool backref;
	int rc;

	if (measure(pattern, &backref) > LIMIT)
		return nsh_err_set(err, NSH_ETOOBIG,
				   "too complex: its repetitions expand to more than %d positions",
				   LIMIT);
	if (backref)
		return nsh_err_set(err, NSH_EINVAL,
				   "back-references (\\1 to \\9) are not supported");
	rc = regcomp(re, pattern, cflags | REG_EXTENDED);
	if (rc) {
		char msg[128];

		/* a failed regcomp() has freed what it allocated */
		regerror(rc, re, msg, sizeof(msg));
		return nsh_err_set(err, NSH_EINVAL, "%s", msg);
	}
	return 0;
}
