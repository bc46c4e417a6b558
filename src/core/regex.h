/*
 * POSIX extended regular expressions from untrusted text (recipe files,
 * acceptance criteria, an agent's search tool).
 *
 * glibc's regcomp() copies a sub-expression once per repetition count, so
 * "((a{255}){255}){255}" asks for millions of tree nodes and gigabytes of
 * memory before it fails. nsh_regex_compile() estimates the expanded size
 * first and refuses what is too large; it also refuses back-references,
 * whose matching time can grow exponentially.
 */
#ifndef NSH_CORE_REGEX_H
#define NSH_CORE_REGEX_H

#include <regex.h>

#include "core/err.h"

/* The most positions a pattern may expand to. */
#define NSH_REGEX_MAX_POSITIONS 2000

/*
 * Compile @pattern with regcomp(@cflags | REG_EXTENDED). On failure @re is
 * left unallocated and @err holds the reason alone (the caller names the
 * pattern and where it came from).
 */
int nsh_regex_compile(regex_t *re, const char *pattern, int cflags, struct nsh_err *err);

/* The expanded size estimate, saturated just above the limit; for tests. */
unsigned long nsh_regex_positions(const char *pattern);

#endif
