/*
 * Error objects: a caller-owned struct that carries a code and a message
 * from the place a failure is detected up to the CLI or daemon edge.
 *
 * Actions return 0 on success or a negative NSH_E* code; the same code is
 * stored in the nsh_err together with a lower-case message that names the
 * problem and puts user values in single quotes. Building an error never
 * allocates. Every function taking "struct nsh_err *err" accepts NULL.
 *
 * Thread rules: an nsh_err belongs to the thread that owns the call.
 */
#ifndef NSH_CORE_ERR_H
#define NSH_CORE_ERR_H

#include <stddef.h>

enum nsh_errcode {
	NSH_OK = 0,
	NSH_EFAIL = -1,	    /* generic failure */
	NSH_ENOTFOUND = -2, /* the named thing does not exist */
	NSH_EEXIST = -3,    /* it exists already */
	NSH_EINVAL = -4,    /* bad input (user data, file contents) */
	NSH_ETOOBIG = -5,   /* a size or count limit was hit */
	NSH_ECONFLICT = -6, /* concurrent change, or not allowed in the current state */
	NSH_EBUSY = -7,	    /* resource busy, try later */
	NSH_ETIMEOUT = -8,  /* a time limit was hit */
	NSH_EIO = -9,	    /* system call or I/O failure */
	NSH_EUSAGE = -10,   /* bad command-line usage (exit code 2) */
	NSH_EVERSION = -11, /* data written by a newer version */
	NSH_EDENIED = -12,  /* refused by policy or permissions */
};

#define NSH_ERR_MSG_MAX 512

struct nsh_err {
	int code;		   /* NSH_OK or a negative NSH_E* */
	char msg[NSH_ERR_MSG_MAX]; /* NUL-terminated, may be truncated */
};

#define NSH_ERR_INIT \
 {                   \
  NSH_OK,            \
  {                  \
   0                 \
  }                  \
 }

/**
 * Record an error and return its code, so that callers can write
 * "return nsh_err_set(err, NSH_EINVAL, "bad '%s'", x);". @err may be NULL.
 */
int nsh_err_set(struct nsh_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Like nsh_err_set(), with ": <strerror(errnum)>" appended. The code is
 * NSH_ENOTFOUND for ENOENT, NSH_EEXIST for EEXIST, NSH_EDENIED for
 * EACCES/EPERM and NSH_EIO otherwise.
 */
int nsh_err_sys(struct nsh_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Prefix the message already in @err with "<context>: ". Returns the code
 * already stored (NSH_EFAIL when none was set).
 */
int nsh_err_wrap(struct nsh_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Reset @err to NSH_OK with an empty message. */
void nsh_err_clear(struct nsh_err *err);

/** A short stable name for a code ("notfound", "invalid", ...), for JSON errors. */
const char *nsh_err_name(int code);

#endif
