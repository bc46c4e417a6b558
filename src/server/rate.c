/*
 * Per-address rate limits: a token bucket per client address in a fixed
 * table (so memory stays bounded whatever the number of clients). An
 * address whose slot is taken by another evicts it; two addresses that
 * keep colliding share a bucket, which only errs on the strict side.
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#include "core/banned.h"

#define RATE_SLOTS   4096
#define RATE_ADDRMAX 48 /* an IPv6 address in text form, with room */

struct rate_slot {
	char addr[RATE_ADDRMAX]; /* "" when free */
	double tokens;		 /* tokens left */
	int64_t at_ms;		 /* when @tokens was computed */
};

struct nsh_srv_rate {
	pthread_mutex_t lock;	/* guards the slots */
	double per_ms;		/* refill rate */
	double burst;		/* bucket size */
	struct rate_slot *slot; /* RATE_SLOTS of them */
};

struct nsh_srv_rate *nsh_srv_rate_new(int per_sec)
{
	struct nsh_srv_rate *r = nsh_xcalloc(1, sizeof(*r));

	pthread_mutex_init(&r->lock, NULL);
	r->per_ms = per_sec / 1000.0;
	r->burst = 2.0 * per_sec;
	r->slot = nsh_xcalloc(RATE_SLOTS, sizeof(r->slot[0]));
	return r;
}

void nsh_srv_rate_free(struct nsh_srv_rate *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->slot);
	free(r);
}

/* FNV-1a. */
static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

bool nsh_srv_rate_take(struct nsh_srv_rate *r, const char *addr, int64_t now_ms)
{
	struct rate_slot *s = &r->slot[hash(addr) % RATE_SLOTS];
	bool ok;

	pthread_mutex_lock(&r->lock);
	if (strncmp(s->addr, addr, RATE_ADDRMAX - 1)) {
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		s->tokens = r->burst;
		s->at_ms = now_ms;
	}
	if (now_ms > s->at_ms) {
		s->tokens += (double)(now_ms - s->at_ms) * r->per_ms;
		if (s->tokens > r->burst)
			s->tokens = r->burst;
		s->at_ms = now_ms;
	}
	ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	pthread_mutex_unlock(&r->lock);
	return ok;
}
