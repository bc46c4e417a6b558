/*
 * Short readable ids such as "t-7f3a9c": a lower-case prefix that names
 * the kind of thing, a '-', and random lower-case hex digits from
 * getrandom(2). Six digits normally; more when collisions pile up.
 *
 * Thread rules: thread-safe; the exists callback runs on the caller's
 * thread.
 */
#ifndef NSH_CORE_ID_H
#define NSH_CORE_ID_H

#include <stdbool.h>

struct nsh_err;

#define NSH_ID_MAX	  32 /* bytes for any id, NUL included */
#define NSH_ID_PREFIX_MAX 12 /* longest prefix, in characters */
#define NSH_ID_HEX_MIN	  6  /* hex digits of a fresh id */
#define NSH_ID_HEX_MAX	  16 /* hex digits after the widest retry */

/** Whether @id is already taken; @ctx is the caller's. */
typedef bool nsh_id_exists_fn(const char *id, void *ctx);

/**
 * Make a new id "<prefix>-<hex>" in @out. @prefix is 1 to
 * NSH_ID_PREFIX_MAX characters of [a-z]. When @exists (may be NULL) says a
 * candidate is taken, another is drawn; after 8 collisions in a row the hex
 * part widens by two digits, up to NSH_ID_HEX_MAX, and after 8 collisions
 * at that width the call gives up with NSH_EEXIST. A bad prefix is
 * NSH_EINVAL, a getrandom() failure NSH_EIO. @out is written only on
 * success.
 *
 * The check is only as good as @exists: two threads that draw the same id
 * at once both pass it, so the store must still enforce uniqueness.
 */
int nsh_id_new(const char *prefix, nsh_id_exists_fn *exists, void *ctx, char out[NSH_ID_MAX],
	       struct nsh_err *err);

/**
 * True when @id is "<prefix>-" followed by NSH_ID_HEX_MIN to
 * NSH_ID_HEX_MAX lower-case hex digits. With @prefix NULL any prefix of 1
 * to NSH_ID_PREFIX_MAX characters of [a-z] is accepted. NULL @id is false.
 */
bool nsh_id_valid(const char *prefix, const char *id);

#endif
