/*
 * A vector of owned strings that is always NULL-terminated, so that it can
 * be passed as argv or envp directly (git's strvec).
 *
 * Invariants: v is never NULL; v[nr] == NULL.
 * Thread rules: one thread at a time.
 */
#ifndef NSH_CORE_VEC_H
#define NSH_CORE_VEC_H

#include <stdbool.h>
#include <stddef.h>

struct nsh_strvec {
	char **v;     /* nr strings followed by NULL */
	size_t nr;    /* strings in use */
	size_t alloc; /* slots allocated; 0 means v is the shared empty vector */
};

extern char *nsh_strvec_empty[];

#define NSH_STRVEC_INIT  \
 {                       \
  nsh_strvec_empty, 0, 0 \
 }

void nsh_strvec_init(struct nsh_strvec *sv);
/** Free every string and the array. NULL ok. */
void nsh_strvec_release(struct nsh_strvec *sv);
/** Append a copy of @s; returns the copy (owned by the vector). */
const char *nsh_strvec_push(struct nsh_strvec *sv, const char *s);
const char *nsh_strvec_pushf(struct nsh_strvec *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Append copies of each argument up to a NULL. */
void nsh_strvec_pushl(struct nsh_strvec *sv, ...) __attribute__((sentinel));
/** Remove and free the last string. */
void nsh_strvec_pop(struct nsh_strvec *sv);
/** Index of the first string equal to @s, or -1. */
long nsh_strvec_find(const struct nsh_strvec *sv, const char *s);

/** Iterate: for each string @it (a const char *) in @sv. */
#define nsh_vec_foreach(it, sv) \
 for (size_t it##_i_ = 0; it##_i_ < (sv)->nr && ((it) = (sv)->v[it##_i_], 1); it##_i_++)

#endif
