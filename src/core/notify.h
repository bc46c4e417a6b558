/*
 * A counter that threads can wait on: writers post a new value, waiters
 * sleep until the value passes the one they have seen. The store posts the
 * id of each committed event so that in-process subscribers wake at once
 * instead of polling.
 *
 * Thread rules: an nsh_notify is shared between threads by design; all
 * calls are thread-safe. Its owner frees it after every user is gone.
 */
#ifndef NSH_CORE_NOTIFY_H
#define NSH_CORE_NOTIFY_H

#include <stdint.h>

struct nsh_notify;

/** A new counter at 0. Never NULL. */
struct nsh_notify *nsh_notify_new(void);
/** NULL ok. */
void nsh_notify_free(struct nsh_notify *n);
/** Raise the counter to @value (lower values are ignored) and wake every waiter. */
void nsh_notify_post(struct nsh_notify *n, int64_t value);
/** The current value. */
int64_t nsh_notify_value(struct nsh_notify *n);
/**
 * Wait until the counter exceeds @seen or @timeout_ms passes. Returns the
 * counter's value at return.
 */
int64_t nsh_notify_wait(struct nsh_notify *n, int64_t seen, int64_t timeout_ms);

#endif
