#include "core/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/time.h"

#include "core/banned.h"

struct nsh_notify {
	pthread_mutex_t lock; /* guards value */
	pthread_cond_t cond;  /* signalled on every post; uses CLOCK_MONOTONIC */
	int64_t value;	      /* highest value posted */
};

struct nsh_notify *nsh_notify_new(void)
{
	struct nsh_notify *n = nsh_xcalloc(1, sizeof(*n));

	pthread_mutex_init(&n->lock, NULL);
	nsh_time_cond_init_mono(&n->cond);
	return n;
}

void nsh_notify_free(struct nsh_notify *n)
{
	if (!n)
		return;
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void nsh_notify_post(struct nsh_notify *n, int64_t value)
{
	pthread_mutex_lock(&n->lock);
	if (value > n->value) {
		n->value = value;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
}

int64_t nsh_notify_value(struct nsh_notify *n)
{
	int64_t v;

	pthread_mutex_lock(&n->lock);
	v = n->value;
	pthread_mutex_unlock(&n->lock);
	return v;
}

int64_t nsh_notify_wait(struct nsh_notify *n, int64_t seen, int64_t timeout_ms)
{
	struct timespec until = nsh_time_deadline(CLOCK_MONOTONIC, timeout_ms);
	int64_t v;

	pthread_mutex_lock(&n->lock);
	while (n->value <= seen) {
		if (pthread_cond_timedwait(&n->cond, &n->lock, &until) == ETIMEDOUT)
			break;
	}
	v = n->value;
	pthread_mutex_unlock(&n->lock);
	return v;
}
